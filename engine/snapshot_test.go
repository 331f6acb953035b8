package engine

import (
	"bytes"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/godwit-db/godwit/conflict"
	"github.com/godwit-db/godwit/engine/attr"
)

// snapState is a model of a table's stored state: hex key -> "item <version> <json>"
// or "tomb <version>".
type snapState map[string]string

func (s snapState) String() string {
	var lines []string
	for k, v := range s {
		lines = append(lines, k+" "+v)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func itemLine(v conflict.Version, it attr.Item) string {
	return fmt.Sprintf("item %v %s", v, attr.AppendItemJSON(nil, it))
}

// readSnapshot reads every entry of s in chunks of about chunk bytes.
func readSnapshot(t *testing.T, s *TableSnapshot, chunk int) (snapState, [][]SnapshotEntry) {
	t.Helper()
	m := &tableMeta{HashKey: s.info.HashKey, HashType: s.info.HashType, RangeKey: s.info.RangeKey, RangeType: s.info.RangeType, Partitions: s.info.Partitions}
	st := snapState{}
	parts := make([][]SnapshotEntry, s.info.Partitions)
	for p := 0; p < s.info.Partitions; p++ {
		var after []byte
		for {
			es, done, err := s.Read(p, after, chunk)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range es {
				if after != nil && bytes.Compare(e.Key, after) <= 0 {
					t.Fatalf("partition %d: key %x after %x", p, e.Key, after)
				}
				after = e.Key
				k, c, err := m.decodeSnapshotEntry(e)
				if err != nil {
					t.Fatal(err)
				}
				if k.part != p {
					t.Fatalf("entry of partition %d read from %d", k.part, p)
				}
				if e.Tombstone {
					st[fmt.Sprintf("%x", e.Key)] = fmt.Sprintf("tomb %v", c.Version)
				} else {
					st[fmt.Sprintf("%x", e.Key)] = itemLine(c.Version, c.NewImage)
				}
			}
			parts[p] = append(parts[p], es...)
			if done {
				break
			}
			if len(es) == 0 {
				t.Fatalf("partition %d: no entries and not done", p)
			}
		}
	}
	return st, parts
}

// TestSnapshotAtomicUnderWrites takes a snapshot while local writers and a
// replicated source write concurrently, and checks it against the final
// state: the snapshot's items plus the outbox records after its outbox
// positions reproduce the final state exactly, and every applied position
// it reports matches the replicated items it holds.
func TestSnapshotAtomicUnderWrites(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	r := newRegions(t, "r1")[0]
	db := r.db
	m := db.table("glob").m()

	var stop atomic.Bool
	var wg sync.WaitGroup
	var writes atomic.Int64
	for w := 0; w < 4; w++ {
		rng := rand.New(rand.NewSource(seed + int64(w)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load() || i < 200; i++ {
				k := fmt.Sprintf("k%03d", rng.Intn(150))
				it := attr.Item{"pk": attr.Str(k), "sk": attr.Str("s"), "v": attr.Str(fmt.Sprintf("w%d-%d", w, i))}
				if err := catWrite(db, "glob", it, rng.Intn(4) == 0); err != nil {
					t.Error(err)
					return
				}
				writes.Add(1)
			}
		}()
	}
	// The replicated source writes key rN with change seq N of its partition.
	remote := make([][]string, m.Partitions) // per partition, the keys in order
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load() || i < 200; i++ {
			key := attr.Item{"pk": attr.Str(fmt.Sprintf("r%04d", i)), "sk": attr.Str("s")}
			k, _ := m.keyFromKey(key)
			n := uint64(len(remote[k.part]))
			img := attr.Item{"pk": key["pk"], "sk": key["sk"], "v": attr.Str("remote")}
			c := &Change{Keys: key, NewImage: img, Version: conflict.Version{Wall: int64(1e18) + int64(i), Region: "src"}}
			if _, err := db.ApplyRemote("glob", k.part, "src", ReplicaPos{StreamSeq: n, ChangeSeq: n}, ReplicaPos{StreamSeq: n + 1, ChangeSeq: n + 1}, []*Change{c}); err != nil {
				t.Error(err)
				return
			}
			remote[k.part] = append(remote[k.part], fmt.Sprintf("%x", k.enc))
		}
	}()
	for writes.Load() < 300 {
		time.Sleep(time.Millisecond) // NB: a poll interval while the writers run
	}
	snap, err := db.SnapshotTable("glob")
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	stop.Store(true)
	wg.Wait()
	if t.Failed() {
		return
	}

	model, _ := readSnapshot(t, snap, 300)
	final, err := db.SnapshotTable("glob")
	if err != nil {
		t.Fatal(err)
	}
	defer final.Close()
	want, _ := readSnapshot(t, final, 1<<20)

	// Replay the outbox after the snapshot's positions onto it.
	replayed := 0
	for p := 0; p < m.Partitions; p++ {
		cs, err := db.ReadOutbox(m.ID, p, snap.OutboxPosition(p), 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) > 0 && cs[0].Seq != snap.OutboxPosition(p)+1 {
			t.Fatalf("partition %d: first record after %d is %d", p, snap.OutboxPosition(p), cs[0].Seq)
		}
		if final.OutboxPosition(p) != snap.OutboxPosition(p)+uint64(len(cs)) {
			t.Fatalf("partition %d: final position %d, snapshot %d + %d records", p, final.OutboxPosition(p), snap.OutboxPosition(p), len(cs))
		}
		for _, c := range cs {
			k, err := m.keyFromKey(c.Keys)
			if err != nil {
				t.Fatal(err)
			}
			hk := fmt.Sprintf("%x", k.enc)
			if c.NewImage != nil {
				model[hk] = itemLine(c.Version, c.NewImage)
			} else {
				model[hk] = fmt.Sprintf("tomb %v", c.Version)
			}
			replayed++
		}
	}
	if got, w := model.String(), want.String(); got != w {
		t.Fatalf("snapshot + outbox after it != final state\nsnapshot+replay:\n%s\nfinal:\n%s", got, w)
	}
	// Applied positions taken with the data: the source's first N keys of
	// each partition are in the snapshot, and no later one.
	applied := snap.Applied()["src"]
	held, _ := readSnapshot(t, snap, 1<<20)
	for p := 0; p < m.Partitions; p++ {
		n := applied[p].ChangeSeq
		for i, hk := range remote[p] {
			_, in := held[hk]
			if in != (uint64(i) < n) {
				t.Fatalf("partition %d: applied position %d, remote key %d in snapshot: %v", p, n, i+1, in)
			}
		}
	}
	items, _ := snap.Estimate()
	t.Logf("snapshot: %d entries (%d items by stats), %d records replayed", len(model), items, replayed)
	if replayed == 0 {
		t.Fatal("no write after the snapshot: the test proved nothing")
	}
}

// TestSnapshotPositionSurvivesTrim checks that the outbox position comes
// from the partition's stats, not from the outbox, which may be trimmed.
func TestSnapshotPositionSurvivesTrim(t *testing.T) {
	r := newRegions(t, "r1")[0]
	for i := 0; i < 20; i++ {
		gtPut(t, r, fmt.Sprintf("k%d", i), "x")
	}
	info, _ := r.db.Table("glob")
	heads := make([]uint64, info.Partitions)
	for p := range heads {
		heads[p], _ = r.db.OutboxHead("glob", p)
		if err := r.db.TrimOutbox(info.ID, p, heads[p]); err != nil {
			t.Fatal(err)
		}
	}
	s, err := r.db.SnapshotTable("glob")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var sum uint64
	for p := range heads {
		if s.OutboxPosition(p) != heads[p] {
			t.Fatalf("partition %d: snapshot position %d, head %d", p, s.OutboxPosition(p), heads[p])
		}
		sum += heads[p]
	}
	if sum != 20 {
		t.Fatalf("heads sum to %d, want 20", sum)
	}
}

// TestApplySnapshotChunkLWW applies one region's snapshot to another with
// older and newer local versions of the same keys.
func TestApplySnapshotChunkLWW(t *testing.T) {
	rs := newRegions(t, "r1", "r2")
	r1, r2 := rs[0], rs[1]
	r1.clock.Advance(time.Second)
	gtPut(t, r2, "old-here", "r2")  // older than r1's: replaced
	gtPut(t, r2, "del-there", "r2") // older than r1's delete: removed
	gtPut(t, r1, "old-here", "r1")
	gtPut(t, r1, "new-here", "r1")
	gtPut(t, r1, "del-there", "r1")
	gtDelete(t, r1, "del-there")
	gtPut(t, r1, "only-there", "r1")
	r2.clock.Advance(5 * time.Second)
	gtPut(t, r2, "new-here", "r2") // newer than r1's: kept
	gtPut(t, r2, "only-here", "r2")

	info, _ := r2.db.Table("glob")
	heads := make([]uint64, info.Partitions)
	for p := range heads {
		heads[p], _ = r2.db.OutboxHead("glob", p)
	}
	s, err := r1.db.SnapshotTable("glob")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, parts := readSnapshot(t, s, 1<<20)
	var total SnapshotApplyResult
	for p, es := range parts {
		res, err := r2.db.ApplySnapshotChunk("glob", p, es, SnapshotApplyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		total.Applied += res.Applied
		total.Stale += res.Stale
		// Applying again is harmless: everything is stale now.
		if res, err := r2.db.ApplySnapshotChunk("glob", p, es, SnapshotApplyOptions{}); err != nil || res.Applied != 0 {
			t.Fatalf("second apply: %+v %v", res, err)
		}
	}
	if total.Applied != 3 || total.Stale != 1 {
		t.Fatalf("applied %+v, want 3 applied (old-here, del-there, only-there), 1 stale (new-here)", total)
	}
	d := dump(t, r2)
	for _, want := range []string{"old-here=r1", "new-here=r2", "only-there=r1", "only-here=r2"} {
		if !strings.Contains(d, want) {
			t.Errorf("r2 lacks %s:\n%s", want, d)
		}
	}
	if strings.Contains(d, "del-there=") || strings.Count(d, "tomb ") != 1 {
		t.Errorf("del-there not deleted with a tombstone:\n%s", d)
	}
	// A backfill is not a change: r2's stream shows nothing of it.
	for p := range heads {
		if h, _ := r2.db.OutboxHead("glob", p); h != heads[p] {
			t.Fatalf("partition %d: outbox head moved %d -> %d", p, heads[p], h)
		}
	}
	// The copy's versions are the source's (items and tombstones alike).
	for _, k := range []string{"old-here", "del-there", "only-there"} {
		v1, d1, _, _ := r1.db.ItemVersion("glob", gtKey(k))
		v2, d2, _, _ := r2.db.ItemVersion("glob", gtKey(k))
		if v1 != v2 || d1 != d2 {
			t.Errorf("%s: r1 %v deleted=%v, r2 %v deleted=%v", k, v1, d1, v2, d2)
		}
	}
}

// TestApplySnapshotChunkRecord checks that with Record the applied entries
// appear in the local outbox with their origin.
func TestApplySnapshotChunkRecord(t *testing.T) {
	rs := newRegions(t, "r1", "r2")
	r1, r2 := rs[0], rs[1]
	for i := 0; i < 10; i++ {
		gtPut(t, r1, fmt.Sprintf("k%d", i), "x")
	}
	s, err := r1.db.SnapshotTable("glob")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, parts := readSnapshot(t, s, 1<<20)
	for p, es := range parts {
		if _, err := r2.db.ApplySnapshotChunk("glob", p, es, SnapshotApplyOptions{Record: true}); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for p := range parts {
		cs, _ := r2.db.ReadOutbox(r2.db.table("glob").m().ID, p, 0, 100)
		for _, c := range cs {
			if c.Origin != "r1" || c.EventName != EventInsert {
				t.Errorf("record %+v", c)
			}
			n++
		}
	}
	if n != 10 {
		t.Fatalf("%d records, want 10", n)
	}
}

// TestApplySnapshotChunkRejects checks that a malformed entry anywhere in
// a chunk writes nothing, and that nothing panics on garbage.
func TestApplySnapshotChunkRejects(t *testing.T) {
	rs := newRegions(t, "r1", "r2")
	r1, r2 := rs[0], rs[1]
	for i := 0; i < 50; i++ {
		gtPut(t, r1, fmt.Sprintf("k%d", i), "x")
	}
	s, err := r1.db.SnapshotTable("glob")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, parts := readSnapshot(t, s, 1<<20)
	es := parts[0]
	if len(es) < 3 {
		t.Fatalf("partition 0 has %d entries", len(es))
	}
	bad := []func([]SnapshotEntry){
		func(es []SnapshotEntry) { es[len(es)-1].Value = es[len(es)-1].Value[:5] },
		func(es []SnapshotEntry) { es[len(es)-1].Key = append(bytes.Clone(es[len(es)-1].Key), 1) },
		func(es []SnapshotEntry) { es[len(es)-1].Tombstone = true; es[len(es)-1].Value = []byte{9} },
		func(es []SnapshotEntry) { es[0], es[1] = es[1], es[0] },
		func(es []SnapshotEntry) { es[len(es)-1].Key = es[0].Key }, // another item's key
	}
	for i, f := range bad {
		c := append([]SnapshotEntry(nil), es...)
		f(c)
		if _, err := r2.db.ApplySnapshotChunk("glob", 0, c, SnapshotApplyOptions{}); err == nil {
			t.Errorf("case %d: no error", i)
		}
	}
	if _, err := r2.db.ApplySnapshotChunk("glob", 1, es, SnapshotApplyOptions{}); err == nil {
		t.Error("entries of partition 0 applied to 1")
	}
	if items := catItems(t, r2.db, "glob"); len(items) != 0 {
		t.Fatalf("a refused chunk wrote %d items", len(items))
	}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 2000; i++ {
		e := SnapshotEntry{Tombstone: rng.Intn(2) == 0, Key: make([]byte, rng.Intn(12)), Value: make([]byte, rng.Intn(40))}
		rng.Read(e.Key)
		rng.Read(e.Value)
		_, _ = r2.db.ApplySnapshotChunk("glob", 0, []SnapshotEntry{e}, SnapshotApplyOptions{})
	}
}

// TestApplySnapshotSweep checks the resync rule for local items the
// snapshot lacks: deleted iff the snapshot's region had seen their version.
func TestApplySnapshotSweep(t *testing.T) {
	rs := newRegions(t, "r1", "r2")
	r1, r2 := rs[0], rs[1]
	m := r2.db.table("glob").m()
	part := func(k string) int { pk, _ := m.keyFromKey(gtKey(k)); return pk.part }
	// Keys all in one partition, to reason about positions per partition.
	var keys []string
	for i := 0; len(keys) < 4; i++ {
		if k := fmt.Sprintf("k%d", i); part(k) == 0 {
			keys = append(keys, k)
		}
	}
	fromR1, own1, own2, kept := keys[0], keys[1], keys[2], keys[3]
	gtPut(t, r1, fromR1, "r1")
	ship(t, r1, r2, r1.pending(t)) // r2 applied r1's change seq 1 of partition 0
	gtPut(t, r2, own1, "r2")
	gtPut(t, r2, own2, "r2")
	// kept comes from a third region the snapshot's region never read.
	img := attr.Item{"pk": attr.Str(kept), "sk": attr.Str("s"), "v": attr.Str("r3")}
	if _, err := r2.db.ApplyRemote("glob", 0, "r3", ReplicaPos{}, ReplicaPos{StreamSeq: 1, ChangeSeq: 1},
		[]*Change{{Keys: gtKey(kept), NewImage: img, Version: conflict.Version{Wall: 1, Region: "r3"}}}); err != nil {
		t.Fatal(err)
	}
	head, _ := r2.db.OutboxHead("glob", 0)

	// The snapshot is empty: r1 "deleted" everything and collected the
	// tombstones. It had seen r1's first change, and r2's changes up to
	// one before r2's last: r2's own items may be writes r1 never saw.
	seen := map[string]ReplicaPos{"r1": {ChangeSeq: 1}, "r2": {ChangeSeq: head - 1}}
	res, err := r2.db.ApplySnapshotChunk("glob", 0, nil, SnapshotApplyOptions{Record: true, Sweep: &SnapshotSweep{Seen: seen}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Swept != 1 {
		t.Fatalf("swept %d, want 1", res.Swept)
	}
	d := dump(t, r2)
	for k, want := range map[string]bool{fromR1: false, own1: true, own2: true, kept: true} {
		if got := strings.Contains(d, k+"="); got != want {
			t.Errorf("%s present=%v, want %v:\n%s", k, got, want, d)
		}
	}
	// A swept item leaves a tombstone with its own version: an equal
	// version loses (a newer one would win).
	v, deleted, ok, _ := r2.db.ItemVersion("glob", gtKey(fromR1))
	if !ok || !deleted || v.Region != "r1" {
		t.Fatalf("tombstone of %s: %v deleted=%v ok=%v", fromR1, v, deleted, ok)
	}
	c := &Change{Keys: gtKey(fromR1), NewImage: attr.Item{"pk": attr.Str(fromR1), "sk": attr.Str("s"), "v": attr.Str("again")}, Version: v}
	pos, _ := r2.db.AppliedPosition("glob", "r1", 0)
	next := ReplicaPos{StreamSeq: pos.StreamSeq + 1, ChangeSeq: pos.ChangeSeq + 1}
	if res, err := r2.db.ApplyRemote("glob", 0, "r1", pos, next, []*Change{c}); err != nil || res.Applied != 0 {
		t.Fatalf("equal version after sweep: %+v %v", res, err)
	}
	// The sweep recorded a REMOVE, keeping the swept version's origin.
	cs, _ := r2.db.ReadOutbox(m.ID, 0, head, 100)
	if len(cs) != 1 || cs[0].EventName != EventRemove || cs[0].Origin != "r1" {
		t.Fatalf("records after the sweep: %+v", cs)
	}

	// Once the snapshot covers every write of r2, r2's own absent items go
	// too, but only within the range: after own1's key.
	seen["r2"] = ReplicaPos{ChangeSeq: head + 1}
	k1, _ := m.keyFromKey(gtKey(own1))
	k2, _ := m.keyFromKey(gtKey(own2))
	want := 0
	if bytes.Compare(k2.enc, k1.enc) > 0 {
		want = 1
	}
	res, err = r2.db.ApplySnapshotChunk("glob", 0, nil, SnapshotApplyOptions{Sweep: &SnapshotSweep{After: k1.enc, Seen: seen}})
	if err != nil || res.Swept != want {
		t.Fatalf("bounded sweep: %+v %v, want %d swept\n%s", res, err, want, dump(t, r2))
	}
	if d := dump(t, r2); !strings.Contains(d, own1+"=") || !strings.Contains(d, kept+"=r3") {
		t.Fatalf("bounded sweep removed a key outside its range or unseen:\n%s", d)
	}
	res, err = r2.db.ApplySnapshotChunk("glob", 0, nil, SnapshotApplyOptions{Sweep: &SnapshotSweep{Seen: seen}})
	if err != nil || res.Swept != 2-want {
		t.Fatalf("full sweep: %+v %v\n%s", res, err, dump(t, r2))
	}
	if d := dump(t, r2); strings.Contains(d, own1+"=") || strings.Contains(d, own2+"=") || !strings.Contains(d, kept+"=r3") {
		t.Fatalf("after the full sweep:\n%s", d)
	}
}

func TestRaiseAppliedPosition(t *testing.T) {
	r := newRegions(t, "r1")[0]
	for _, c := range []struct{ in, want ReplicaPos }{
		{ReplicaPos{ChangeSeq: 5}, ReplicaPos{ChangeSeq: 5}},
		{ReplicaPos{StreamSeq: 40, ChangeSeq: 5}, ReplicaPos{StreamSeq: 40, ChangeSeq: 5}},
		{ReplicaPos{ChangeSeq: 5}, ReplicaPos{StreamSeq: 40, ChangeSeq: 5}},
		{ReplicaPos{StreamSeq: 90, ChangeSeq: 4}, ReplicaPos{StreamSeq: 40, ChangeSeq: 5}},
		{ReplicaPos{ChangeSeq: 9}, ReplicaPos{ChangeSeq: 9}},
	} {
		got, err := r.db.RaiseAppliedPosition("glob", "src", 1, c.in)
		if err != nil {
			t.Fatal(err)
		}
		stored, _ := r.db.AppliedPosition("glob", "src", 1)
		if got != c.want || stored != c.want {
			t.Fatalf("raise to %+v: got %+v stored %+v, want %+v", c.in, got, stored, c.want)
		}
	}
	if _, err := r.db.RaiseAppliedPosition("glob", "r1", 0, ReplicaPos{ChangeSeq: 1}); err == nil {
		t.Fatal("the local region accepted as a source")
	}
}
