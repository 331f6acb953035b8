package main

import (
	"bytes"
	"testing"
)

func TestWriteIDRoundTripAndRejects(t *testing.T) {
	r, id, ok := parseWriteID(writeID(2, 12345))
	if !ok || r != 2 || id != 12345 {
		t.Fatalf("round trip: %d %d %v", r, id, ok)
	}
	for _, bad := range []string{"", "2", "2:", ":5", "a:5", "2:x", "2-5"} {
		if _, _, ok := parseWriteID(bad); ok {
			t.Errorf("parseWriteID(%q) accepted", bad)
		}
	}
}

func TestFlagsReportEveryProblem(t *testing.T) {
	_, err := parseFlags([]string{"-mode", "nope", "-rate", "0", "-conns", "0"}, &bytes.Buffer{})
	if err == nil {
		t.Fatal("bad flags accepted")
	}
	for _, want := range []string{"-mode", "-dir", "-rate", "-conns"} {
		if !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("error lacks %s: %v", want, err)
		}
	}
}

func TestSharedKeysSpreadOverRegions(t *testing.T) {
	w := &workload{cfg: config{sharedEvery: 10, sharedKeys: 99}, nonce: "N"}
	if w.pk(0, 3) != "N-r0-3" {
		t.Errorf("own key %q", w.pk(0, 3))
	}
	// The same write number of different regions goes to different shared keys.
	if a, b := w.pk(0, 20), w.pk(1, 20); a == b {
		t.Errorf("regions 0 and 1 write shared key %q at once", a)
	}
}
