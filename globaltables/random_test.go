package globaltables

import (
	"fmt"
	"math/rand"
	"slices"
	"testing"
	"time"

	"github.com/godwit-db/godwit/engine"
)

// sim is a deterministic model of the replicator's world: the peer's
// stream, a lossy network between the stream and the core, the engine's
// durable state (positions stored atomically with the applied changes),
// and a driver that crashes and restarts.
type sim struct {
	t     *testing.T
	rng   *rand.Rand
	peer  string
	r     *Replicator
	cfg   Config
	subj  map[int][]Record // each partition's records, in stream order
	first uint64           // oldest stream sequence retained (trims)

	reader    map[int]int      // index into subj of the next record to read
	net       []Record         // read, not yet delivered
	durable   map[int]Pos      // the engine's stored positions
	applied   map[int][]uint64 // change seqs applied by the engine, in order
	resyncs   int              // resync signals since the last Restore
	snapshots int
	trims     bool // the peer's stream is trimmed now and then
}

func newSim(t *testing.T, seed int64, parts, n int) *sim {
	rng := rand.New(rand.NewSource(seed))
	s := &sim{t: t, rng: rng, peer: "b", subj: map[int][]Record{}, reader: map[int]int{},
		durable: map[int]Pos{}, applied: map[int][]uint64{}, first: 1}
	cs := map[int]uint64{}
	for p := range parts {
		cs[p] = uint64(1 + rng.Intn(5)) // the stream may start past change seq 1
		s.durable[p] = Pos{ChangeSeq: cs[p]}
		cs[p]++
	}
	origins := []string{"a", "b", "b", "c"}
	for i := 1; i <= n; i++ {
		p := rng.Intn(parts)
		o := origins[rng.Intn(len(origins))]
		rec := Record{Partition: p, Seq: uint64(i), Origin: o,
			Change: &engine.Change{Partition: p, Seq: cs[p], Origin: o, CreatedAt: int64(i)}}
		cs[p]++
		s.subj[p] = append(s.subj[p], rec)
	}
	// NB: the first record of partition p has change seq durable[p].ChangeSeq+1,
	// as a backfill snapshot taken before it would record.
	s.cfg = Config{Peer: s.peer, MaxBatch: 1 + rng.Intn(5), MaxReorder: rng.Intn(4), NoReorder: rng.Intn(4) == 0,
		GapTimeout: 1 + rng.Intn(4), ReReadTimeout: 2 + rng.Intn(6)}
	s.restart(false)
	return s
}

func (s *sim) restart(keepNet bool) {
	r, err := NewReplicator(s.cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := r.Restore(s.durable); err != nil {
		s.t.Fatal(err)
	}
	s.r, s.resyncs = r, 0
	for p := range s.subj {
		s.rewind(p, s.durable[p].StreamSeq)
	}
	if !keepNet {
		s.net = nil
	}
}

// rewind reopens partition p's reader after stream sequence after; a
// position whose next record was trimmed is reported to the core.
func (s *sim) rewind(p int, after uint64) {
	recs := s.subj[p]
	s.reader[p] = len(recs)
	for i, rec := range recs {
		if rec.Seq > after {
			s.reader[p] = i
			break
		}
	}
	if after+1 < s.first {
		s.r.Trimmed(p, s.first)
	}
}

func (s *sim) read(p int, lossy bool) {
	i := s.reader[p]
	if i >= len(s.subj[p]) {
		return
	}
	rec := s.subj[p][i]
	s.reader[p]++
	if rec.Seq < s.first {
		s.r.Trimmed(p, s.first)
		return
	}
	last := i == len(s.subj[p])-1
	switch {
	case lossy && !last && s.rng.Intn(10) == 0: // lost (never the tail: nothing would reveal it)
	case lossy && s.rng.Intn(10) == 0:
		s.net = append(s.net, rec, rec)
	default:
		s.net = append(s.net, rec)
	}
}

func (s *sim) deliver(window int) {
	if len(s.net) == 0 {
		return
	}
	i := s.rng.Intn(min(window, len(s.net)))
	rec := s.net[i]
	s.net = slices.Delete(s.net, i, i+1)
	if err := s.r.Deliver(rec); err != nil {
		s.t.Fatalf("deliver %+v: %v", rec, err)
	}
}

// ready carries out a Ready like a driver would; crash stops it midway.
func (s *sim) ready(crash bool) bool {
	if !s.r.HasReady() {
		return false
	}
	rd := s.r.Ready()
	for bi, b := range rd.Batches {
		if crash && s.rng.Intn(len(rd.Batches)) == bi {
			s.restart(s.rng.Intn(2) == 0)
			return true
		}
		s.apply(b)
		if s.rng.Intn(5) > 0 {
			if err := s.r.Applied(b.Partition, b.Position.StreamSeq); err != nil {
				s.t.Fatalf("applied: %v", err)
			}
		}
	}
	for _, rr := range rd.ReReads {
		if s.rng.Intn(2) == 0 { // drop what was in flight for it, or leave it stale
			s.net = slices.DeleteFunc(s.net, func(r Record) bool { return r.Partition == rr.Partition })
		}
		s.rewind(rr.Partition, rr.After)
	}
	s.r.Advance(rd)
	if rs := rd.Resync; rs != nil {
		s.resyncs++
		if s.resyncs > 1 {
			s.t.Fatalf("second resync signal before Restore: %+v", rs)
		}
		// NB: like JetStream's Open, the model calls a position trimmed when
		// any record after it is gone, of this partition or another.
		if rs.After+1 >= rs.FirstAvailable || rs.FirstAvailable > s.first {
			s.t.Fatalf("resync %+v but nothing it needed was trimmed (first %d)", rs, s.first)
		}
		s.snapshot()
	}
	return true
}

// snapshot resynchronises the engine from a snapshot of the peer taken
// now (it holds every change so far), then restarts from its positions.
func (s *sim) snapshot() {
	s.snapshots++
	for p, recs := range s.subj {
		s.applied[p] = nil
		for _, r := range recs {
			if r.Origin == s.peer {
				s.applied[p] = append(s.applied[p], r.Change.Seq)
			}
		}
		if len(recs) > 0 {
			last := recs[len(recs)-1]
			s.durable[p] = Pos{StreamSeq: last.Seq, ChangeSeq: last.Change.Seq}
		}
	}
	s.restart(false)
}

// trim drops the peer's stream records below first.
func (s *sim) trim(first uint64) {
	s.first = max(s.first, first)
}

// apply is the engine: the batch must continue exactly from the stored
// position (exactly once, in order) and hold only the peer's own changes.
func (s *sim) apply(b Batch) {
	p := b.Partition
	if b.From != s.durable[p] {
		s.t.Fatalf("batch of partition %d from %v, engine holds %v", p, b.From, s.durable[p])
	}
	if b.Position.StreamSeq <= b.From.StreamSeq || b.Position.ChangeSeq <= b.From.ChangeSeq {
		s.t.Fatalf("position does not move forward: %v..%v", b.From, b.Position)
	}
	var seqs []uint64
	for _, r := range b.Apply {
		if r.Origin != s.peer {
			s.t.Fatalf("record of origin %s handed to apply (loop)", r.Origin)
		}
		seqs = append(seqs, r.Change.Seq)
		s.applied[p] = append(s.applied[p], r.Change.Seq)
	}
	for _, r := range b.Skipped {
		if r.Origin == s.peer {
			s.t.Fatalf("peer's own record %v skipped", r.Change.Seq)
		}
		seqs = append(seqs, r.Change.Seq)
	}
	slices.Sort(seqs)
	for i, cs := range seqs {
		if cs != b.From.ChangeSeq+1+uint64(i) {
			s.t.Fatalf("batch %v..%v covers change seqs %v", b.From, b.Position, seqs)
		}
	}
	if !slices.IsSorted(s.applied[p]) {
		s.t.Fatalf("partition %d applied out of order: %v", p, s.applied[p])
	}
	s.durable[p] = b.Position
}

// check compares the engine's state with the model once everything is read.
func (s *sim) check() {
	for p, recs := range s.subj {
		var want []uint64
		for _, r := range recs {
			if r.Origin == s.peer {
				want = append(want, r.Change.Seq)
			}
		}
		if !slices.Equal(s.applied[p], want) {
			s.t.Fatalf("partition %d applied %v, want %v", p, s.applied[p], want)
		}
	}
}

func (s *sim) done() bool {
	for p, recs := range s.subj {
		if len(recs) > 0 && s.durable[p].StreamSeq != recs[len(recs)-1].Seq {
			return false
		}
	}
	return true
}

func (s *sim) step(lossy bool) {
	switch x := s.rng.Intn(100); {
	case x < 40:
		s.read(s.rng.Intn(len(s.subj)), lossy)
	case x < 75:
		w := 1
		if lossy {
			w = 4
		}
		s.deliver(w)
	case x < 85:
		s.r.Tick()
	case x < 98:
		s.ready(lossy && s.rng.Intn(10) == 0)
	case x < 99:
		if lossy {
			s.restart(s.rng.Intn(2) == 0)
		}
	default:
		if lossy && s.trims {
			s.trim(s.first + uint64(s.rng.Intn(20)))
		}
	}
}

// drain runs without faults until the engine holds everything.
func (s *sim) drain() {
	for i := 0; !s.done(); i++ {
		if i > 200000 {
			st := s.r.Status()
			s.t.Fatalf("no convergence: durable %v, status %+v", s.durable, st)
		}
		s.step(false)
	}
}

func TestRandomHistories(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	for run := range 200 {
		runSeed := seed + int64(run)
		s := newSim(t, runSeed, 1+run%4, 50+run%150)
		t.Run(fmt.Sprint(runSeed), func(t *testing.T) {
			s.t = t
			for range 2000 {
				s.step(true)
			}
			s.drain()
			s.check()
		})
	}
}

// TestRandomHistoriesWithTrims also trims the peer's stream under the
// replicator: each trim past a needed record must end in exactly one
// resync (checked in ready), after which the replica converges from the
// snapshot.
func TestRandomHistoriesWithTrims(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	snapshots := 0
	for run := range 200 {
		runSeed := seed + int64(run)
		s := newSim(t, runSeed, 1+run%4, 50+run%150)
		s.trims = true
		t.Run(fmt.Sprint(runSeed), func(t *testing.T) {
			s.t = t
			for range 2000 {
				s.step(true)
			}
			s.drain()
			s.check()
		})
		snapshots += s.snapshots
	}
	if snapshots == 0 {
		t.Fatal("no run resynchronised: the trims test nothing")
	}
	t.Logf("%d resyncs", snapshots)
}
