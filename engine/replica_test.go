package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/godwit-db/godwit/conflict"
	"github.com/godwit-db/godwit/engine/attr"
)

// region is one region's DB in the replication tests, with its outbox read
// position per partition.
type region struct {
	name  string
	db    *DB
	clock *conflict.ManualClock
	read  map[int]uint64
}

func newRegions(t *testing.T, names ...string) []*region {
	t.Helper()
	base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	var out []*region
	for _, n := range names {
		clk := conflict.NewManualClock(base)
		db := catOpen(t, Config{Region: n, Clock: clk, MaxClockOffset: time.Hour})
		in := catSimple("glob")
		in.StreamSpecification = &StreamSpecification{StreamEnabled: bptr(true), StreamViewType: "NEW_AND_OLD_IMAGES"}
		catCreate(t, db, in)
		if err := db.SetReplicated("glob", true); err != nil {
			t.Fatal(err)
		}
		out = append(out, &region{name: n, db: db, clock: clk, read: map[int]uint64{}})
	}
	return out
}

// pending returns the changes this region originated since the last call,
// per partition (replicated changes it applied are not forwarded: no loops).
func (r *region) pending(t *testing.T) map[int][]*Change {
	t.Helper()
	info, _ := r.db.Table("glob")
	out := map[int][]*Change{}
	for p := 0; p < info.Partitions; p++ {
		cs, err := r.db.ReadOutbox(info.ID, p, r.read[p], 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			r.read[p] = c.Seq
			if c.Origin == r.name {
				out[p] = append(out[p], c)
			}
		}
	}
	return out
}

func gtKey(k string) attr.Item { return attr.Item{"pk": attr.Str(k), "sk": attr.Str("s")} }

func gtPut(t *testing.T, r *region, k, v string) {
	t.Helper()
	catPut(t, r.db, "glob", attr.Item{"pk": attr.Str(k), "sk": attr.Str("s"), "v": attr.Str(v)})
}

func gtDelete(t *testing.T, r *region, k string) {
	t.Helper()
	if err := catWrite(r.db, "glob", gtKey(k), true); err != nil {
		t.Fatal(err)
	}
}

// dump renders every item and tombstone with its version, sorted.
func dump(t *testing.T, r *region) string {
	t.Helper()
	var lines []string
	m := r.db.table("glob").m()
	for _, kv := range catScan(t, r.db, tablePrefix(prefixItem, m.ID)) {
		v, it, err := decodeItemValue(kv[1])
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, fmt.Sprintf("item %s=%s @%v", it["pk"].S, it["v"].S, v))
	}
	for _, kv := range catScan(t, r.db, tablePrefix(prefixTombstone, m.ID)) {
		v, _, err := conflict.DecodeVersion(kv[1][1:])
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, fmt.Sprintf("tomb %x @%v", kv[0][7:], v))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func ship(t *testing.T, from, to *region, changes map[int][]*Change) RemoteResult {
	t.Helper()
	var total RemoteResult
	for p, cs := range changes {
		pos, _ := to.db.AppliedPosition("glob", from.name, p)
		next := ReplicaPos{StreamSeq: pos.StreamSeq + uint64(len(cs)), ChangeSeq: pos.ChangeSeq + uint64(len(cs))}
		res, err := to.db.ApplyRemote("glob", p, from.name, pos, next, cs)
		if err != nil {
			t.Fatal(err)
		}
		total.Applied += res.Applied
		total.Stale += res.Stale
		total.Conflicts = append(total.Conflicts, res.Conflicts...)
		total.ClockAhead += res.ClockAhead
		total.MaxAhead = max(total.MaxAhead, res.MaxAhead)
	}
	return total
}

func TestApplyRemoteLastWriterWins(t *testing.T) {
	rs := newRegions(t, "r1", "r2")
	r1, r2 := rs[0], rs[1]
	// r2's clock runs 5 s ahead: its concurrent write wins everywhere.
	r2.clock.Advance(5 * time.Second)
	gtPut(t, r1, "a", "from-r1")
	gtPut(t, r2, "a", "from-r2")
	c1, c2 := r1.pending(t), r2.pending(t)
	if res := ship(t, r1, r2, c1); res.Applied != 0 || res.Stale != 1 {
		t.Fatalf("older r1 write applied at r2: %+v", res)
	}
	if res := ship(t, r2, r1, c2); res.Applied != 1 {
		t.Fatalf("newer r2 write not applied at r1: %+v", res)
	}
	if d1, d2 := dump(t, r1), dump(t, r2); d1 != d2 || !strings.Contains(d1, "a=from-r2") {
		t.Fatalf("not converged:\nr1:\n%s\nr2:\n%s", d1, d2)
	}
	// Re-delivery is harmless: the same versions are stale now.
	if res := ship(t, r2, r1, c2); res.Applied != 0 || res.Stale != 1 {
		t.Fatalf("duplicate applied: %+v", res)
	}
	// The replicated write shows in r1's own stream, with its origin.
	var fromR2 int
	info, _ := r1.db.Table("glob")
	for p := 0; p < info.Partitions; p++ {
		cs, _ := r1.db.ReadOutbox(info.ID, p, 0, 100)
		for _, c := range cs {
			if c.Origin == "r2" {
				fromR2++
				if c.EventName != EventModify || c.NewImage["v"].S != "from-r2" {
					t.Errorf("replicated record %+v", c)
				}
			}
		}
	}
	if fromR2 != 1 {
		t.Fatalf("r1's stream shows %d replicated records, want 1", fromR2)
	}
	// A later local write in r1 beats r2's future-stamped version.
	gtPut(t, r1, "a", "later-r1")
	ship(t, r1, r2, r1.pending(t))
	if d1, d2 := dump(t, r1), dump(t, r2); d1 != d2 || !strings.Contains(d1, "a=later-r1") {
		t.Fatalf("a region lost its own later write:\nr1:\n%s\nr2:\n%s", d1, d2)
	}
}

func TestTombstoneStopsLateResurrection(t *testing.T) {
	rs := newRegions(t, "r1", "r2")
	r1, r2 := rs[0], rs[1]
	gtPut(t, r1, "k", "v1")
	ship(t, r1, r2, r1.pending(t))
	r2.pending(t) // r2 forwards nothing of r1's
	// r2 updates (older clock), r1 deletes later; r2's update reaches r1
	// after the delete.
	r2.clock.Advance(time.Second)
	gtPut(t, r2, "k", "v2-old")
	r1.clock.Advance(2 * time.Second)
	gtDelete(t, r1, "k")
	ship(t, r1, r2, r1.pending(t))
	if res := ship(t, r2, r1, r2.pending(t)); res.Applied != 0 {
		t.Fatalf("an older update resurrected a deleted item: %+v", res)
	}
	if d1, d2 := dump(t, r1), dump(t, r2); d1 != d2 || strings.Contains(d1, "item") || !strings.Contains(d1, "tomb") {
		t.Fatalf("not converged on the delete:\nr1:\n%s\nr2:\n%s", d1, d2)
	}
	// A local put after the delete gets a version above the tombstone even
	// on a region whose clock is behind it.
	gtPut(t, r2, "k", "v3")
	if v, deleted, ok, err := r2.db.ItemVersion("glob", gtKey("k")); err != nil || !ok || deleted || v.Region != "r2" {
		t.Fatalf("r2's new write: %v deleted=%v ok=%v err=%v", v, deleted, ok, err)
	}
	ship(t, r2, r1, r2.pending(t))
	if d1, d2 := dump(t, r1), dump(t, r2); d1 != d2 || !strings.Contains(d1, "k=v3") {
		t.Fatalf("a write after the delete lost:\nr1:\n%s\nr2:\n%s", d1, d2)
	}
}

// TestReplicasConverge runs random puts and deletes in three regions with
// skewed clocks, ships each region's own changes to the others in random
// batches and order, and checks every replica ends identical (items,
// tombstones and versions), and that applied positions were recorded.
func TestReplicasConverge(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	rs := newRegions(t, "us-east-1", "eu-west-1", "ap-south-1")
	for _, r := range rs {
		r.clock.Advance(time.Duration(rng.Intn(10_000)-5_000) * time.Millisecond) // ±5 s skew
	}
	queued := map[[2]int][]map[int][]*Change{} // (from, to) -> batches
	for round := 0; round < 40; round++ {
		for i, r := range rs {
			for n := rng.Intn(4); n > 0; n-- {
				k := fmt.Sprintf("k%d", rng.Intn(8))
				if rng.Intn(3) == 0 {
					gtDelete(t, r, k)
				} else {
					gtPut(t, r, k, fmt.Sprintf("%s-%d", r.name, round))
				}
				r.clock.Advance(time.Duration(rng.Intn(3)) * time.Millisecond)
			}
			batch := r.pending(t)
			for j := range rs {
				if j != i {
					queued[[2]int{i, j}] = append(queued[[2]int{i, j}], batch)
				}
			}
		}
		// Deliver a random subset of the queued batches, in order per link.
		for link, batches := range queued {
			n := rng.Intn(len(batches) + 1)
			for _, b := range batches[:n] {
				ship(t, rs[link[0]], rs[link[1]], b)
			}
			queued[link] = batches[n:]
		}
	}
	for link, batches := range queued {
		for _, b := range batches {
			ship(t, rs[link[0]], rs[link[1]], b)
		}
	}
	want := dump(t, rs[0])
	for _, r := range rs[1:] {
		if got := dump(t, r); got != want {
			t.Fatalf("replica %s differs from %s:\n%s\n---\n%s", r.name, rs[0].name, got, want)
		}
	}
	info, _ := rs[0].db.Table("glob")
	var recorded uint64
	for p := 0; p < info.Partitions; p++ {
		pos, err := rs[1].db.AppliedPosition("glob", rs[0].name, p)
		if err != nil {
			t.Fatal(err)
		}
		recorded += pos.StreamSeq
	}
	if recorded == 0 {
		t.Fatal("no applied position recorded")
	}
}

// TestApplyRemotePositionGuard checks that a batch applies only at the
// stored position: a replay is refused whole with ErrPositionMismatch, and
// a batch with a change of another partition writes nothing at all.
func TestApplyRemotePositionGuard(t *testing.T) {
	rs := newRegions(t, "r1", "r2")
	r1, r2 := rs[0], rs[1]
	gtPut(t, r1, "a", "v1")
	gtPut(t, r1, "b", "v1")
	pend := r1.pending(t)
	for p, cs := range pend {
		to := ReplicaPos{StreamSeq: 10, ChangeSeq: cs[len(cs)-1].Seq}
		if _, err := r2.db.ApplyRemote("glob", p, "r1", ReplicaPos{}, to, cs); err != nil {
			t.Fatal(err)
		}
		got, err := r2.db.AppliedPosition("glob", "r1", p)
		if err != nil || got != to {
			t.Fatalf("applied position %+v, %v; want %+v", got, err, to)
		}
		// The same batch again: refused, nothing written.
		res, err := r2.db.ApplyRemote("glob", p, "r1", ReplicaPos{}, to, cs)
		if !errors.Is(err, ErrPositionMismatch) || res.Applied+res.Stale != 0 || res.Conflicts != nil {
			t.Fatalf("replayed batch: %+v, %v", res, err)
		}
		if got, _ := r2.db.AppliedPosition("glob", "r1", p); got != to {
			t.Fatalf("position moved by a refused batch: %+v", got)
		}
	}
	if d1, d2 := dump(t, r1), dump(t, r2); d1 != d2 {
		t.Fatalf("not converged:\n%s\n---\n%s", d1, d2)
	}
	// A batch whose second change is of another partition is refused
	// before its first change is written.
	m := r1.db.table("glob").m()
	var ka, kb string
	var pa int
	for i := 0; kb == ""; i++ {
		k := fmt.Sprintf("m%d", i)
		pk, err := m.keyFromKey(gtKey(k))
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case ka == "":
			ka, pa = k, pk.part
		case pk.part != pa:
			kb = k
		}
		if i > 1000 {
			t.Skip("one partition")
		}
	}
	gtPut(t, r1, ka, "v2")
	gtPut(t, r1, kb, "v2")
	pend = r1.pending(t)
	var mixed []*Change
	for p, cs := range pend {
		if p == pa {
			mixed = append(cs, mixed...)
		} else {
			mixed = append(mixed, cs...)
		}
	}
	before := dump(t, r2)
	from, _ := r2.db.AppliedPosition("glob", "r1", pa)
	if _, err := r2.db.ApplyRemote("glob", pa, "r1", from, ReplicaPos{StreamSeq: 99}, mixed); err == nil {
		t.Fatal("a batch with a change of another partition was applied")
	}
	if after := dump(t, r2); after != before {
		t.Fatalf("a refused batch wrote:\n%s\n---\n%s", after, before)
	}
	if got, _ := r2.db.AppliedPosition("glob", "r1", pa); got != from {
		t.Fatalf("a refused batch moved the position to %+v", got)
	}
}

// TestDeleteTableDropsReplicationState: a deleted global table leaves no
// tombstones or applied positions behind.
func TestDeleteTableDropsReplicationState(t *testing.T) {
	rs := newRegions(t, "r1", "r2")
	r1, r2 := rs[0], rs[1]
	gtPut(t, r1, "k", "v")
	gtDelete(t, r1, "k")
	ship(t, r1, r2, r1.pending(t))
	id := r2.db.table("glob").m().ID
	for _, p := range []byte{prefixTombstone, prefixApplied} {
		if len(catScan(t, r2.db, tablePrefix(p, id))) == 0 {
			t.Fatalf("prefix %#x empty before the delete: the test checks nothing", p)
		}
	}
	if _, err := r2.db.DeleteTable(context.Background(), &DeleteTableInput{TableName: "glob"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []byte{prefixTombstone, prefixApplied} {
		if kvs := catScan(t, r2.db, tablePrefix(p, id)); len(kvs) != 0 {
			t.Errorf("prefix %#x holds %d keys after DeleteTable", p, len(kvs))
		}
	}
}

// TestAppliedPositionFormats: positions stored before streams layout 2
// (format 1, and the first, bare format) held a JetStream stream sequence;
// they read as the position of that message's first record (seq << 10),
// and the current format round-trips.
func TestAppliedPositionFormats(t *testing.T) {
	db, err := Open(Config{InMemory: true, NoSync: true, TTLSweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v1 := binary.BigEndian.AppendUint64([]byte{appliedFormatV1}, 7)
	v1 = binary.BigEndian.AppendUint64(v1, 42)
	for name, c := range map[string]struct {
		stored []byte
		want   ReplicaPos
	}{
		"bare":    {binary.BigEndian.AppendUint64(nil, 7), ReplicaPos{StreamSeq: 7 << 10}},
		"format1": {v1, ReplicaPos{StreamSeq: 7 << 10, ChangeSeq: 42}},
		"format2": {encodeAppliedPos(ReplicaPos{StreamSeq: 7<<10 | 3, ChangeSeq: 42}), ReplicaPos{StreamSeq: 7<<10 | 3, ChangeSeq: 42}},
	} {
		key := []byte("test-applied-" + name)
		if err := db.pebble.Set(key, c.stored, pebble.NoSync); err != nil {
			t.Fatal(err)
		}
		got, err := readAppliedPos(db.pebble, key)
		if err != nil || got != c.want {
			t.Errorf("%s: %+v, %v; want %+v", name, got, err, c.want)
		}
	}
	if _, err := readAppliedPos(db.pebble, []byte("test-applied-none")); err != nil {
		t.Errorf("absent position: %v", err)
	}
}

// TestStartApplyRemotePipelines: applies started one after another without
// waiting run in order, each from its predecessor's position; once one is
// refused, the ones started after it fail too and write nothing.
func TestStartApplyRemotePipelines(t *testing.T) {
	rs := newRegions(t, "r1", "r2")
	r1, r2 := rs[0], rs[1]
	for i := 0; i < 40; i++ {
		gtPut(t, r1, fmt.Sprintf("k%d", i), "v1")
	}
	pend := r1.pending(t)
	p, cs := -1, []*Change(nil)
	for q, qs := range pend {
		if len(qs) > len(cs) {
			p, cs = q, qs
		}
	}
	if len(cs) < 3 {
		t.Fatalf("want a partition with 3 changes, the busiest has %d", len(cs))
	}
	var started []*RemoteApply
	from := ReplicaPos{}
	for i, c := range cs {
		to := ReplicaPos{StreamSeq: uint64(i + 1), ChangeSeq: c.Seq}
		a, err := r2.db.StartApplyRemote("glob", p, "r1", from, to, []*Change{c})
		if err != nil {
			t.Fatal(err)
		}
		started = append(started, a)
		from = to
	}
	for i, a := range started {
		res, err := a.Result()
		if err != nil || res.Applied != 1 {
			t.Fatalf("apply %d: %+v, %v", i, res, err)
		}
	}
	if got, _ := r2.db.AppliedPosition("glob", "r1", p); got != from {
		t.Fatalf("applied position %+v, want %+v", got, from)
	}

	// A batch from a stale position, and one chained after it: both refused.
	before := dump(t, r2)
	stale := ReplicaPos{StreamSeq: 1, ChangeSeq: cs[0].Seq}
	bad, err := r2.db.StartApplyRemote("glob", p, "r1", stale, ReplicaPos{StreamSeq: 100}, nil)
	if err != nil {
		t.Fatal(err)
	}
	next, err := r2.db.StartApplyRemote("glob", p, "r1", ReplicaPos{StreamSeq: 100}, ReplicaPos{StreamSeq: 101}, cs[:1])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Result(); !errors.Is(err, ErrPositionMismatch) {
		t.Fatalf("stale batch: %v, want ErrPositionMismatch", err)
	}
	if res, err := next.Result(); !errors.Is(err, ErrPositionMismatch) || res.Applied+res.Stale != 0 {
		t.Fatalf("batch after a refused one: %+v, %v; want ErrPositionMismatch", res, err)
	}
	if got, _ := r2.db.AppliedPosition("glob", "r1", p); got != from {
		t.Fatalf("refused batches moved the position to %+v", got)
	}
	if after := dump(t, r2); after != before {
		t.Fatalf("refused batches wrote:\n%s\n---\n%s", after, before)
	}
	if _, err := r2.db.StartApplyRemote("glob", 1<<20, "r1", from, from, nil); err == nil {
		t.Fatal("an apply to a partition that does not exist was started")
	}
}
