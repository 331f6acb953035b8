package engine

import (
	"context"
	"testing"
	"time"

	"github.com/godwit-db/godwit/conflict"
	"github.com/godwit-db/godwit/engine/attr"
)

func TestTombstonesAreCollectedAfterRetentionAndGrace(t *testing.T) {
	rs := newRegions(t, "r1", "r2")
	r1, r2 := rs[0], rs[1]
	gtPut(t, r1, "a", "1")
	gtPut(t, r1, "b", "1")
	ship(t, r1, r2, r1.pending(t))
	r1.clock.Advance(time.Second)
	gtDelete(t, r1, "a")
	ship(t, r1, r2, r1.pending(t))
	tomb := ver(t, r2, "a")
	r2.clock.Advance(time.Hour)
	gtDelete(t, r2, "b") // an hour younger than a's tombstone

	// A write older than the delete, arriving late from a third region.
	late := &Change{Keys: gtKey("a"), NewImage: attr.Item{"pk": attr.Str("a"), "sk": attr.Str("s"), "v": attr.Str("late")},
		Version: conflict.Version{Wall: tomb.Wall - int64(time.Millisecond), Region: "r3"}}
	applyLate := func(from, to ReplicaPos) RemoteResult {
		t.Helper()
		m := r2.db.table("glob").m()
		k, _ := m.keyFromKey(gtKey("a"))
		res, err := r2.db.ApplyRemote("glob", k.part, "r3", from, to, []*Change{late})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	ctx := context.Background()
	// Retention + grace (48h by default) not yet over: the tombstone stays
	// and still blocks the late write.
	r2.clock.Advance(47*time.Hour - time.Second)
	if n, err := r2.db.SweepTombstones(ctx); err != nil || n != 0 {
		t.Fatalf("young tombstones collected: %d, %v", n, err)
	}
	if res := applyLate(ReplicaPos{}, ReplicaPos{StreamSeq: 1}); res.Applied != 0 || res.Stale != 1 {
		t.Fatalf("late write against a live tombstone: %+v", res)
	}
	if v, deleted, ok, _ := r2.db.ItemVersion("glob", gtKey("a")); !ok || !deleted || v != tomb {
		t.Fatalf("tombstone of a: %v deleted=%v ok=%v", v, deleted, ok)
	}
	// Past the limit: a's tombstone goes, b's (an hour younger) stays.
	r2.clock.Advance(2 * time.Second)
	if n, err := r2.db.SweepTombstones(ctx); err != nil || n != 1 {
		t.Fatalf("collected %d, %v; want 1", n, err)
	}
	if _, _, ok, _ := r2.db.ItemVersion("glob", gtKey("a")); ok {
		t.Fatal("a's tombstone survived its limit")
	}
	if _, deleted, ok, _ := r2.db.ItemVersion("glob", gtKey("b")); !ok || !deleted {
		t.Fatal("b's younger tombstone was collected")
	}
	r2.clock.Advance(time.Hour)
	if n, err := r2.db.SweepTombstones(ctx); err != nil || n != 1 {
		t.Fatalf("collected %d, %v; want b's", n, err)
	}
}

func TestTombstoneSweeperRespectsConfig(t *testing.T) {
	clk := conflict.NewManualClock(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	db := catOpen(t, Config{Region: "r1", Clock: clk, TombstoneRetention: time.Minute, TombstoneGrace: time.Minute})
	catCreate(t, db, catSimple("glob"))
	if err := db.SetReplicated("glob", true); err != nil {
		t.Fatal(err)
	}
	catPut(t, db, "glob", attr.Item{"pk": attr.Str("a"), "sk": attr.Str("s")})
	if err := catWrite(db, "glob", gtKey("a"), true); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2*time.Minute - time.Second)
	if n, _ := db.SweepTombstones(context.Background()); n != 0 {
		t.Fatalf("collected %d before retention+grace", n)
	}
	clk.Advance(2 * time.Second)
	if n, _ := db.SweepTombstones(context.Background()); n != 1 {
		t.Fatalf("collected %d after retention+grace", n)
	}
	if err := (Config{Dir: "x", TombstoneGrace: -1}).Validate(); err == nil {
		t.Fatal("negative grace accepted")
	}
}
