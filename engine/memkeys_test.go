package engine

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hashicorp/go-hclog"
)

// TestMemKeysAgreeWithPebble runs one random sequence of writes of large
// items over a few hundred keys — puts, updates and deletes with their old
// images, conditional puts, transactions, batch writes, writes that bypass
// the item cache, reopens — against a DB without item caches (every lookup
// a full Pebble Get) and two DBs with 256 KiB memtables, whose lookups
// that miss the cache skip the memtables when the memtable key filter
// allows: one whose cache holds almost nothing, one with the default
// budget. Every answer and the final contents must agree, and the filter
// must have rotated and spared lookups.
func TestMemKeysAgreeWithPebble(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 2))

	sizes := []int64{-1, 400, 0}
	cfgs := make([]Config, len(sizes))
	dbs := make([]*DB, len(sizes))
	for i, size := range sizes {
		cfgs[i] = Config{Dir: t.TempDir(), NoSync: true, TTLSweepInterval: -1, ItemCacheSize: size,
			MemTableSize: 256 << 10, DefaultPartitions: 2}
		dbs[i] = catOpen(t, cfgs[i])
		catCreate(t, dbs[i], &CreateTableInput{TableName: "Tbl", AttributeDefinitions: catDefs("pk", "S"),
			KeySchema: catKS("pk", ""), BillingMode: "PAY_PER_REQUEST"})
	}
	t.Cleanup(func() {
		for _, db := range dbs {
			catClose(db)
		}
	})

	pad := strings.Repeat("p", 2000) // NB: ~250 writes per filter generation
	for step := range 4000 {
		if step%700 == 699 {
			// NB: the memtables replayed from the WAL hold keys no filter knows.
			for i := range dbs {
				catClose(dbs[i])
				dbs[i] = catOpen(t, cfgs[i])
			}
		}
		op, k, run := randomWrite(t, rng, 300, pad)
		agree(t, dbs, func(i int) string {
			return fmt.Sprintf("seed %d step %d %s %s: cache budget %d", seed, step, op, k, sizes[i])
		}, run)
	}
	want := catJSON(t, rtScan(t, dbs[0], &ScanInput{TableName: "Tbl"}).Items)
	for i, db := range dbs[1:] {
		if got := catJSON(t, rtScan(t, db, &ScanInput{TableName: "Tbl"}).Items); got != want {
			t.Fatalf("seed %d: cache budget %d: items differ from the DB with full lookups", seed, sizes[i+1])
		}
		if got, want := catDescribe(t, db, "Tbl").ItemCount, catDescribe(t, dbs[0], "Tbl").ItemCount; got != want {
			t.Fatalf("seed %d: cache budget %d: ItemCount %d, with full lookups %d", seed, sizes[i+1], got, want)
		}
	}
	// NB: counted since the last reopen.
	t.Logf("since the last reopen: %d lookups skipped the memtables, %d rotations", dbs[1].mem.skips.Load(), dbs[1].mem.rotations.Load())
	if db := dbs[1]; db.mem.skips.Load() == 0 {
		t.Fatalf("seed %d: no lookup skipped the memtables (%d rotations)", seed, db.mem.rotations.Load())
	}
}

// TestMemKeysRotate drives the filter by hand: a committed key may be in
// the memtables until a rotation's flush, after which only keys committed
// since may be; a batch's range deletion over items poisons its
// generation, and the first generation (the memtables replayed at Open)
// starts poisoned.
func TestMemKeysRotate(t *testing.T) {
	pdb, err := pebble.Open(t.TempDir(), &pebble.Options{Logger: pebbleLogger{hclog.NewNullLogger()}})
	if err != nil {
		t.Fatal(err)
	}
	defer pdb.Close()
	m := makeMemKeys(pdb, 1<<40, hclog.NewNullLogger())
	item := func(s string) []byte { return append([]byte{prefixItem}, s...) }
	commit := func(f func(b *pebble.Batch)) {
		b := pdb.NewBatch()
		defer b.Close()
		f(b)
		g := m.begin()
		if err := b.Commit(pebble.NoSync); err != nil {
			t.Fatal(err)
		}
		m.end(g, b)
	}
	may := func(k string) bool { ok, _ := m.mayHold(item(k)); return ok }

	if !may("never") {
		t.Fatal("before the first rotation every key may be in the memtables")
	}
	commit(func(b *pebble.Batch) { _ = b.Set(item("a"), []byte("1"), nil) })
	if !m.rotate() {
		t.Fatal("the first rotation did nothing")
	}
	if may("a") || may("never") {
		t.Fatal("after a rotation's flush, keys committed before it are in the memtables")
	}
	commit(func(b *pebble.Batch) {
		_ = b.Set(item("b"), []byte("1"), nil)
		_ = b.Delete(item("c"), nil)
		_ = b.Set([]byte{prefixItem + 1, 'x'}, []byte("not an item"), nil)
	})
	if !may("b") || !may("c") || may("a") {
		t.Fatalf("after writes of b and c: may b %v, c %v, a %v", may("b"), may("c"), may("a"))
	}
	var r durableReader
	defer r.close()
	_, fl := m.mayHold(item("a"))
	if v, err := r.get(m, item("a"), fl); err != nil || string(v) != "1" {
		t.Fatalf("durable read of a: %q, %v", v, err)
	}
	if v, err := r.get(m, item("zz"), fl); err != nil || v != nil {
		t.Fatalf("durable read of an absent key: %q, %v", v, err)
	}
	if !m.rotate() {
		t.Fatal("rotation did nothing")
	}
	if may("b") || may("c") {
		t.Fatal("b and c still in the filter after their flush")
	}
	_, fl = m.mayHold(item("b"))
	if v, err := r.get(m, item("b"), fl); err != nil || string(v) != "1" {
		t.Fatalf("durable read of b after its flush, with an older iterator at hand: %q, %v", v, err)
	}
	commit(func(b *pebble.Batch) { _ = b.DeleteRange([]byte{prefixItem, 0}, []byte{prefixItem, 0xff}, nil) })
	if !may("never") {
		t.Fatal("a range deletion over items did not poison its generation")
	}
	if !m.rotate() || may("never") {
		t.Fatal("the poisoned generation outlived its flush")
	}
	if n := m.skips.Load(); n != 3 {
		t.Fatalf("%d durable reads counted, want 3", n)
	}
}
