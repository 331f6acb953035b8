package engine

import (
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// TestWriteStallsAreCounted: writeStalls (whose begin and end Open hands
// to Pebble's EventListener) counts stalls and their time, and the
// engine's collector exports both.
func TestWriteStallsAreCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	db, err := Open(Config{InMemory: true, NoSync: true, TTLSweepInterval: -1, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	gather := func() (stalls, seconds float64) {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		stalls, seconds = -1, -1
		for _, mf := range mfs {
			switch mf.GetName() {
			case "godwit_pebble_write_stalls_total":
				stalls = mf.GetMetric()[0].GetCounter().GetValue()
			case "godwit_pebble_write_stall_seconds_total":
				seconds = mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		return stalls, seconds
	}
	if n, s := gather(); n != 0 || s != 0 {
		t.Fatalf("before any stall: %v stalls, %v s", n, s)
	}
	db.stalls.begin(pebble.WriteStallBeginInfo{Reason: "memtable count limit reached"})
	if n, _ := gather(); n != 1 {
		t.Fatalf("during a stall: %v stalls, want 1", n)
	}
	db.stalls.end()
	db.stalls.end() // an end without a begin adds nothing
	if n, s := gather(); n != 1 || s <= 0 {
		t.Fatalf("after a stall: %v stalls, %v s; want 1 and a positive time", n, s)
	}
}
