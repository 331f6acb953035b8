package engine

import (
	"testing"
	"time"

	"github.com/godwit-db/godwit/conflict"
)

func gtUpdate(t *testing.T, r *region, k, v string) { gtPut(t, r, k, v) }

// ver returns the stored version of k in r (item or tombstone).
func ver(t *testing.T, r *region, k string) conflict.Version {
	t.Helper()
	v, _, ok, err := r.db.ItemVersion("glob", gtKey(k))
	if err != nil || !ok {
		t.Fatalf("%s has no version of %s: %v", r.name, k, err)
	}
	return v
}

func TestApplyRemoteSequentialWritesAreNoConflict(t *testing.T) {
	rs := newRegions(t, "r1", "r2")
	r1, r2 := rs[0], rs[1]
	gtPut(t, r1, "a", "1")
	if res := ship(t, r1, r2, r1.pending(t)); res.Applied != 1 || res.Conflicts != nil {
		t.Fatalf("insert: %+v", res)
	}
	v1 := ver(t, r2, "a")
	r2.clock.Advance(time.Millisecond)
	gtUpdate(t, r2, "a", "2")
	c2 := r2.pending(t)
	for _, cs := range c2 {
		if cs[0].PrevVersion != v1 {
			t.Fatalf("r2's update has PrevVersion %v, want the version it overwrote %v", cs[0].PrevVersion, v1)
		}
	}
	if res := ship(t, r2, r1, c2); res.Applied != 1 || res.Conflicts != nil {
		t.Fatalf("update: %+v", res)
	}
	// A delete and a re-insert over the tombstone, each seen before the next.
	gtDelete(t, r1, "a")
	if res := ship(t, r1, r2, r1.pending(t)); res.Applied != 1 || res.Conflicts != nil {
		t.Fatalf("delete: %+v", res)
	}
	tomb := ver(t, r2, "a")
	r2.clock.Advance(time.Millisecond)
	gtPut(t, r2, "a", "3")
	c2 = r2.pending(t)
	for _, cs := range c2 {
		if cs[0].PrevVersion != tomb {
			t.Fatalf("insert over a tombstone has PrevVersion %v, want the tombstone's %v", cs[0].PrevVersion, tomb)
		}
	}
	if res := ship(t, r2, r1, c2); res.Applied != 1 || res.Conflicts != nil {
		t.Fatalf("insert over tombstone: %+v", res)
	}
}

func TestApplyRemoteReportsConcurrentWritesOnBothSides(t *testing.T) {
	rs := newRegions(t, "r1", "r2")
	r1, r2 := rs[0], rs[1]
	gtPut(t, r1, "a", "base")
	ship(t, r1, r2, r1.pending(t))
	base := ver(t, r1, "a")
	// Concurrent updates of the same version; r2's clock is ahead: r2 wins.
	r1.clock.Advance(time.Millisecond)
	r2.clock.Advance(2 * time.Millisecond)
	gtUpdate(t, r1, "a", "from-r1")
	gtUpdate(t, r2, "a", "from-r2")
	v1, v2 := ver(t, r1, "a"), ver(t, r2, "a")
	c1, c2 := r1.pending(t), r2.pending(t)

	res := ship(t, r1, r2, c1) // r1's loses in r2
	if res.Stale != 1 || len(res.Conflicts) != 1 {
		t.Fatalf("in r2: %+v", res)
	}
	c := res.Conflicts[0]
	if c.Outcome != conflict.RemoteLost || c.Stored != v2 || c.Incoming != v1 || c.IncomingPrev != base ||
		c.Winner() != v2 || c.StoredDeleted || c.StoredImage["v"].S != "from-r2" || c.IncomingImage["v"].S != "from-r1" ||
		c.Keys["pk"].S != "a" {
		t.Fatalf("in r2: %+v", c)
	}
	res = ship(t, r2, r1, c2) // r2's wins in r1
	if res.Applied != 1 || len(res.Conflicts) != 1 {
		t.Fatalf("in r1: %+v", res)
	}
	c = res.Conflicts[0]
	if c.Outcome != conflict.RemoteWon || c.Stored != v1 || c.Incoming != v2 || c.Winner() != v2 ||
		c.StoredImage["v"].S != "from-r1" || c.IncomingImage["v"].S != "from-r2" {
		t.Fatalf("in r1: %+v", c)
	}
	if d1, d2 := dump(t, r1), dump(t, r2); d1 != d2 {
		t.Fatalf("not converged:\n%s\n---\n%s", d1, d2)
	}
}

func TestApplyRemoteReportsADeleteRacingAnUpdate(t *testing.T) {
	rs := newRegions(t, "r1", "r2")
	r1, r2 := rs[0], rs[1]
	gtPut(t, r1, "a", "base")
	ship(t, r1, r2, r1.pending(t))
	r1.clock.Advance(2 * time.Millisecond) // the delete is newer
	r2.clock.Advance(time.Millisecond)
	gtDelete(t, r1, "a")
	gtUpdate(t, r2, "a", "upd")
	c1, c2 := r1.pending(t), r2.pending(t)
	res := ship(t, r2, r1, c2)
	if len(res.Conflicts) != 1 || res.Conflicts[0].Outcome != conflict.RemoteLost || !res.Conflicts[0].StoredDeleted ||
		res.Conflicts[0].StoredImage != nil || res.Conflicts[0].IncomingImage["v"].S != "upd" {
		t.Fatalf("update arriving at the tombstone: %+v", res)
	}
	res = ship(t, r1, r2, c1)
	if len(res.Conflicts) != 1 || res.Conflicts[0].Outcome != conflict.RemoteWon || res.Conflicts[0].IncomingImage != nil ||
		res.Conflicts[0].StoredImage["v"].S != "upd" {
		t.Fatalf("delete arriving at the update: %+v", res)
	}
	if d1, d2 := dump(t, r1), dump(t, r2); d1 != d2 {
		t.Fatalf("not converged:\n%s\n---\n%s", d1, d2)
	}
}

// TestApplyRemoteRelayedCopyIsStale: r1 writes, r3 updates over it, and r2
// hears r3 first: r1's older change then arrives at a version made over
// it. That is not a conflict.
func TestApplyRemoteRelayedCopyIsStale(t *testing.T) {
	rs := newRegions(t, "r1", "r2", "r3")
	r1, r2, r3 := rs[0], rs[1], rs[2]
	gtPut(t, r1, "a", "1")
	c1 := r1.pending(t)
	ship(t, r1, r3, c1)
	r3.clock.Advance(time.Millisecond)
	gtUpdate(t, r3, "a", "3")
	if res := ship(t, r3, r2, r3.pending(t)); res.Applied != 1 || res.Conflicts != nil {
		t.Fatalf("r3's update in r2: %+v", res)
	}
	if res := ship(t, r1, r2, c1); res.Stale != 1 || res.Conflicts != nil {
		t.Fatalf("r1's original arriving late in r2: %+v", res)
	}
}

func TestApplyRemoteClockAheadIsAppliedButNotFollowed(t *testing.T) {
	base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	var rs []*region
	for _, n := range []string{"r1", "r2"} {
		clk := conflict.NewManualClock(base)
		db := catOpen(t, Config{Region: n, Clock: clk, MaxClockOffset: 500 * time.Millisecond})
		in := catSimple("glob")
		in.StreamSpecification = &StreamSpecification{StreamEnabled: bptr(true), StreamViewType: "NEW_AND_OLD_IMAGES"}
		catCreate(t, db, in)
		if err := db.SetReplicated("glob", true); err != nil {
			t.Fatal(err)
		}
		rs = append(rs, &region{name: n, db: db, clock: clk, read: map[int]uint64{}})
	}
	r1, r2 := rs[0], rs[1]
	r2.clock.Advance(time.Hour) // a clock an hour fast
	gtPut(t, r2, "a", "fast")
	res := ship(t, r2, r1, r2.pending(t))
	if res.Applied != 1 || res.ClockAhead != 1 || res.MaxAhead < 59*time.Minute {
		t.Fatalf("fast write in r1: %+v", res)
	}
	fast := ver(t, r1, "a")
	// r1's clock did not follow: another item's write is stamped near r1's time.
	gtPut(t, r1, "b", "x")
	if v := ver(t, r1, "b"); v.Wall != base.UnixNano() && v.Wall-base.UnixNano() > int64(time.Second) {
		t.Fatalf("r1's clock was dragged forward: %v", v)
	}
	// A later local write to the item still beats the fast stamp, so it
	// cannot win forever, and both regions converge on it.
	gtUpdate(t, r1, "a", "later")
	if v := ver(t, r1, "a"); !v.After(fast) {
		t.Fatalf("local write %v does not beat the fast stamp %v", v, fast)
	}
	// ... and that write did not drag r1's clock forward either.
	gtPut(t, r1, "c", "x")
	if v := ver(t, r1, "c"); v.Wall-base.UnixNano() > int64(time.Second) {
		t.Fatalf("r1's clock was dragged forward by a local write over the fast stamp: %v", v)
	}
	if res := ship(t, r1, r2, r1.pending(t)); res.Applied != 3 {
		t.Fatalf("r1's writes in r2: %+v", res)
	}
	if d1, d2 := dump(t, r1), dump(t, r2); d1 != d2 {
		t.Fatalf("not converged:\n%s\n---\n%s", d1, d2)
	}
	m := r2.db.table("glob").m()
	k, _ := m.keyFromKey(gtKey("a"))
	if _, it, err := readItem(r2.db.pebble, k.itemKey(m)); err != nil || it["v"].S != "later" {
		t.Fatalf("r2 holds %v, %v", it, err)
	}
}
