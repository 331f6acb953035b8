package main

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/godwit-db/godwit/test/bench/benchkit"
)

// The tailer reads lines as the handler appends them, a line split across
// two polls included, and ignores other runs' keys.
func TestTailerReadsAppendedLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "received.txt")
	clk := benchkit.NewClock()
	tl := &tailer{path: path, nonce: "S1", clk: clk, recv: benchkit.NewTimeline(10)}
	if tl.poll() {
		t.Fatal("poll of a missing file succeeded")
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	now := clk.Start.UnixNano() + 5_000_000
	write := func(s string) {
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	write("S1-probe 1\nS1-3 " + itoa(now) + "\nS2-4 " + itoa(now) + "\nS1-")
	if !tl.poll() || !tl.probe || tl.recv.Get(3) == 0 || tl.recv.Get(4) != 0 {
		t.Fatalf("first poll: probe %v, 3 at %d, 4 at %d", tl.probe, tl.recv.Get(3), tl.recv.Get(4))
	}
	write("4 " + itoa(now) + "\n")
	tl.poll()
	if got := tl.recv.Get(4); got != clk.FromUnixNano(now) {
		t.Fatalf("split line: 4 at %d, want %d", got, clk.FromUnixNano(now))
	}
	if tl.recv.N() != 2 || tl.recv.Dup() != 0 {
		t.Fatalf("%d set, %d duplicates", tl.recv.N(), tl.recv.Dup())
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
