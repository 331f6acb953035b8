package engine

import (
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/godwit-db/godwit/conflict"
)

// TestTombstoneSetSparesReads: writes of new items to a global table read
// no tombstone from Pebble; a write of a deleted item still finds its
// tombstone, and a reopened DB knows its tombstones again.
func TestTombstoneSetSparesReads(t *testing.T) {
	dir := t.TempDir()
	clk := conflict.NewManualClock(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	cfg := Config{Dir: dir, Region: "r1", Clock: clk, MaxClockOffset: time.Hour}
	db := catOpen(t, cfg)
	catCreate(t, db, catSimple("glob"))
	if err := db.SetReplicated("glob", true); err != nil {
		t.Fatal(err)
	}
	r := &region{name: "r1", db: db, clock: clk, read: map[int]uint64{}}
	for i := 0; i < 50; i++ {
		gtPut(t, r, fmt.Sprintf("k%d", i), "v1")
	}
	if n := db.tombReads.Load(); n != 0 {
		t.Fatalf("writes of new items read %d tombstones", n)
	}
	gtDelete(t, r, "k7")
	clk.Advance(time.Second)
	gtPut(t, r, "k7", "v2")
	if n := db.tombReads.Load(); n != 1 {
		t.Fatalf("the write of a deleted item read %d tombstones, want 1", n)
	}
	gtDelete(t, r, "k8")
	catClose(db)
	db = catOpen(t, cfg)
	r.db = db
	gtPut(t, r, "k8", "v2")
	gtPut(t, r, "new", "v1")
	if n := db.tombReads.Load(); n != 1 {
		t.Fatalf("after a reopen, writes of a deleted and a new item read %d tombstones, want 1", n)
	}
	if v, deleted, ok, err := db.ItemVersion("glob", gtKey("k8")); err != nil || !ok || deleted || v.Region != "r1" {
		t.Fatalf("k8 after its delete and rewrite: %v deleted=%v ok=%v err=%v", v, deleted, ok, err)
	}
}

// TestTombstoneSetModel runs one random history of two regions — puts,
// deletes, transactions that commit or are cancelled, replication with
// skewed clocks, tombstone collection, reopens — in two worlds: one with
// the tombstone sets, one whose sets give up at once (every lookup reads
// Pebble, as without them). Every region must hold the same items and
// tombstones, with the same versions, in both worlds after every step.
func TestTombstoneSetModel(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	type world struct {
		cfgs []Config
		rs   []*region
	}
	var worlds []*world
	for _, limit := range []int{tombSetLimit, 1} {
		w := &world{}
		for _, n := range []string{"r1", "r2"} {
			clk := conflict.NewManualClock(base)
			cfg := Config{Dir: t.TempDir(), Region: n, Clock: clk, MaxClockOffset: time.Hour,
				TombstoneRetention: time.Hour, TombstoneGrace: time.Minute, TombstoneSweepInterval: -1}
			db := catOpen(t, cfg)
			db.tombLimit = limit
			catCreate(t, db, catSimple("glob"))
			if err := db.SetReplicated("glob", true); err != nil {
				t.Fatal(err)
			}
			w.cfgs = append(w.cfgs, cfg)
			w.rs = append(w.rs, &region{name: n, db: db, clock: clk, read: map[int]uint64{}})
		}
		worlds = append(worlds, w)
	}
	keys := []string{"a", "b", "c", "d", "e", "f"}
	for step := 0; step < 1500; step++ {
		i, k, k2 := rng.Intn(2), keys[rng.Intn(len(keys))], keys[rng.Intn(len(keys))]
		op, d := rng.Intn(10), time.Duration(rng.Intn(3000))*time.Millisecond
		for wi, w := range worlds {
			r := w.rs[i]
			switch op {
			case 0, 1:
				gtPut(t, r, k, fmt.Sprint("v", step))
			case 2, 3:
				gtDelete(t, r, k)
			case 4, 5:
				ship(t, r, w.rs[1-i], r.pending(t))
			case 6:
				r.clock.Advance(d)
			case 7:
				// Rewrites k (clearing a tombstone it may have) under a
				// condition on k2 that may fail and cancel it all.
				js := fmt.Sprintf(`{"TransactItems":[{"Put":{"TableName":"glob","Item":{"pk":{"S":%q},"sk":{"S":"s"},"v":{"S":"t%d"}}}},`+
					`{"ConditionCheck":{"TableName":"glob","Key":{"pk":{"S":%q},"sk":{"S":"s"}},"ConditionExpression":"attribute_exists(pk)"}}]}`, k, step, k2)
				var in TransactWriteItemsInput
				rtDecode(t, js, &in)
				_, _ = r.db.TransactWriteItems(t.Context(), &in)
			case 8:
				for _, rr := range w.rs {
					rr.clock.Advance(time.Hour + 2*time.Minute)
				}
				if _, err := r.db.SweepTombstones(t.Context()); err != nil {
					t.Fatal(err)
				}
			case 9:
				catClose(r.db)
				r.db = catOpen(t, w.cfgs[i])
				r.db.tombLimit = []int{tombSetLimit, 1}[wi]
			}
		}
		for i := range worlds[0].rs {
			if a, b := dump(t, worlds[0].rs[i]), dump(t, worlds[1].rs[i]); a != b {
				t.Fatalf("seed %d step %d (op %d): %s differs with and without tombstone sets:\n%s\n---\n%s", seed, step, op, worlds[0].rs[i].name, a, b)
			}
		}
	}
}
