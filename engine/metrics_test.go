package engine

import (
	"bytes"
	"fmt"
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

// TestBlockCacheKeepsBlocksBesideMemtables: Pebble charges its memtables
// to the block cache, so a cache sized like the memtables cached no block
// at all once writes had rotated a few of them. Open sizes the cache for
// both; a second read of the same keys must hit it.
func TestBlockCacheKeepsBlocksBesideMemtables(t *testing.T) {
	reg := prometheus.NewRegistry()
	db, err := Open(Config{Dir: t.TempDir(), NoSync: true, TTLSweepInterval: -1, Registerer: reg,
		CacheSize: 1 << 20, MemTableSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	key := func(i int) []byte { return fmt.Appendf(nil, "test-block-cache-%06d", i) }
	val := bytes.Repeat([]byte{'v'}, 200)
	const n = 20000 // ~4.5 MiB: several memtable rotations
	for i := range n {
		if err := db.pebble.Set(key(i), val, pebble.NoSync); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.pebble.Flush(); err != nil {
		t.Fatal(err)
	}
	// The flushes wrote sstables: the collector's write-amplification
	// counter sees them (the repeated values compress to a few percent).
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var flushed float64 = -1
	for _, mf := range mfs {
		if mf.GetName() == "godwit_pebble_flushed_bytes_total" {
			flushed = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if flushed <= 0 {
		t.Fatalf("godwit_pebble_flushed_bytes_total = %v after flushing %d values of %d bytes", flushed, n, len(val))
	}
	read := func() {
		for i := 0; i < n; i += 97 { // a few hundred keys, some per block
			v, closer, err := db.pebble.Get(key(i))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(v, val) {
				t.Fatalf("key %d: wrong value", i)
			}
			closer.Close()
		}
	}
	read()
	before := db.pebble.Metrics().BlockCache
	read()
	after := db.pebble.Metrics().BlockCache
	if after.Hits == before.Hits || after.Size == 0 {
		t.Fatalf("second read: %d block cache hits, %d misses, %d bytes cached; want hits and bytes",
			after.Hits-before.Hits, after.Misses-before.Misses, after.Size)
	}
}
