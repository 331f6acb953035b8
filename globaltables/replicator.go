package globaltables

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/godwit-db/godwit/engine"
)

// Record is one record read from the peer region's table stream.
type Record struct {
	// Partition is the table partition (the stream subject) it was read from.
	Partition int
	// Seq is the record's position in the stream (streams.Pos): the
	// position to resume after. It grows within a partition but is shared
	// by all partitions of the stream, so it has gaps within one partition.
	Seq uint64
	// Origin is the Godwit-Origin header: the region where the change was
	// made. "" falls back to Change.Origin.
	Origin string
	// Change is the decoded change. Change.Seq (the Godwit-Seq header) is
	// the peer's outbox sequence of the partition: 1, 2, 3, ... without
	// gaps, which is how the core tells a gap from a reordering.
	Change *engine.Change
	// FirstChangeSeq, when not 0, is the outbox sequence of the first of
	// the consecutive records this one stands for, through Change.Seq. A
	// message of another origin is read undecoded, as one record at the
	// position of its last record carrying the last record's outbox
	// sequence (streams layout 2: a message carries several records); it
	// covers all the message's records. Honoured only for records of
	// another origin (never applied): each of the peer's own changes is
	// its own record.
	FirstChangeSeq uint64
}

// firstChangeSeq is the outbox sequence of the first record rec stands for.
func (r *Replicator) firstChangeSeq(rec Record) uint64 {
	cs := rec.Change.Seq
	if rec.FirstChangeSeq != 0 && rec.FirstChangeSeq <= cs && rec.origin() != r.cfg.Peer {
		return rec.FirstChangeSeq
	}
	return cs
}

func (r Record) origin() string {
	if r.Origin != "" {
		return r.Origin
	}
	return r.Change.Origin
}

// Pos is how far one partition of the peer's stream has been applied: the
// last record covered, by record position in the peer's stream
// (streams.Pos: a message may carry several records) and by the peer's
// outbox sequence. It is engine.ReplicaPos, what the engine stores durably
// in the same Pebble batch as the applied writes (DB.ApplyRemote). The zero
// Pos is the start of the stream; a Pos with ChangeSeq 0 does not know the
// outbox sequence, so the first record delivered after it is taken as the
// next one whatever its ChangeSeq.
//
// A Pos with ChangeSeq N but StreamSeq 0 (a backfill's starting point when
// the snapshot's server could not place N in its stream) is read from the
// oldest retained record: records up to N are dropped as duplicates and
// N+1 is the next one. Whether the stream still holds N+1 is told by
// TrimmedChange (the driver looks at the oldest retained record).
type Pos = engine.ReplicaPos

// Batch is a run of consecutive records of one partition to hand to the
// engine. The engine applies Apply (each change under Decide) and stores
// Position in ONE Pebble batch; it may check that its stored position
// equals From first. A batch with no Apply still advances the position
// (its records were all skipped).
type Batch struct {
	Partition int
	// From is the position before the batch; Position the one after it.
	From, Position Pos
	// Apply are the records of the peer's own origin, in order.
	Apply []Record
	// Skipped are the records of other origins (replicated into the peer
	// from elsewhere): never applied, so no change loops between regions.
	Skipped []Record
}

// ReRead asks the driver to reopen a partition's reader after stream
// sequence After: a record went missing (a gap that did not fill within
// the reorder bound or GapTimeout ticks) or a re-read made no progress.
type ReRead struct {
	Partition int
	After     uint64
	Reason    string
}

// Resync says the peer's stream no longer holds records the replicator
// needs: the table must resynchronise from a snapshot, after which the
// driver calls Restore with the snapshot's positions.
type Resync struct {
	Partition      int
	After          uint64 // the stream sequence the partition had reached
	FirstAvailable uint64 // the oldest stream sequence the peer still holds (0: unknown)
	Reason         string
}

// Counters are cumulative counts since the Replicator was made (Restore
// keeps them), for the driver's metrics.
type Counters struct {
	Handed      uint64 // records handed for apply in batches
	Applied     uint64 // records of batches acknowledged by Applied
	SkippedLoop uint64 // records of other origins skipped (each one a record stands for)
	Duplicates  uint64 // records delivered again and dropped
	Gaps        uint64 // gaps that led to a re-read
	ReReads     uint64 // re-reads requested (gaps and retries)
	Resyncs     uint64 // resynchronisations requested
	Invalid     uint64 // malformed records refused by Deliver
}

// Ready is what the driver must do next. Hand it back to Advance once done.
type Ready struct {
	// Batches to apply, each partition's in order.
	Batches []Batch
	// ReReads to carry out, in order.
	ReReads []ReRead
	// Resync, when set, stops replication until Restore.
	Resync *Resync
	// Counters as of this Ready.
	Counters Counters

	epoch uint64
}

// PartitionStatus is one partition's state.
type PartitionStatus struct {
	Applied  Pos // acknowledged durable position
	Accepted Pos // records up to here were handed out or are staged
	Buffered int // out-of-order records waiting for a missing one
	InFlight int // batches handed out, not yet acknowledged
	ReRead   bool
	// LatestOriginWrite is the largest Change.CreatedAt (the peer's write
	// time, Unix nanoseconds) among records accepted for apply; 0 if none.
	LatestOriginWrite int64
}

// Status is a snapshot of the Replicator's state.
type Status struct {
	Peer       string
	Resyncing  bool
	Counters   Counters
	Partitions map[int]PartitionStatus
}

// ErrInvalidRecord is wrapped by Deliver for a record that cannot be
// placed: no change, a negative partition, a zero sequence, or a change of
// another partition.
var ErrInvalidRecord = errors.New("globaltables: invalid record")

// ErrUnknownPosition is wrapped by Applied and Restore for a position the
// replicator never handed out or cannot hold.
var ErrUnknownPosition = errors.New("globaltables: unknown position")

type entry struct {
	rec   Record
	apply bool
}

type inflight struct {
	pos   Pos
	apply int
}

type partition struct {
	applied  Pos
	accepted Pos
	built    Pos // end of the last batch built
	staged   []entry
	inflight []inflight
	buffer   map[uint64]Record // out of order, by ChangeSeq

	gapTicks    int
	rereading   bool
	rereadTicks int
	latest      int64
}

// Replicator decides, for one (peer region, table) pair, which records of
// the peer's stream to hand to the engine, in what batches, where each
// partition resumes, and when to re-read or resynchronise. It is a pure
// state machine: no I/O, no goroutines, no clock (time is Tick). It is not
// safe for concurrent use; its driver serialises all calls.
//
// Guarantees, given a driver that applies each Batch with its Position
// atomically: every record whose origin is the peer is handed to apply
// once, in partition order; no record of another origin is; positions
// never move back; a trim past a partition's position yields one Resync.
type Replicator struct {
	cfg       Config
	parts     map[int]*partition
	batches   []Batch
	rereads   []ReRead
	resync    *Resync
	resyncing bool
	counters  Counters
	epoch     uint64
}

// NewReplicator returns a Replicator for cfg.Peer with no positions (as
// after Restore(nil)). cfg is not modified.
func NewReplicator(cfg Config) (*Replicator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Replicator{cfg: cfg.withDefaults(), parts: map[int]*partition{}}, nil
}

// Restore resets the replicator to the durable positions the engine holds
// (at start, and after a resync from a snapshot). Everything volatile is
// dropped: staged and buffered records, unacknowledged batches, a pending
// Ready. Partitions not in positions start at the zero Pos. A Ready taken
// before Restore is ignored by Advance.
func (r *Replicator) Restore(positions map[int]Pos) error {
	for p := range positions {
		if p < 0 {
			return fmt.Errorf("%w: restore partition %d", ErrUnknownPosition, p)
		}
	}
	r.parts = make(map[int]*partition, len(positions))
	for p, pos := range positions {
		r.parts[p] = &partition{applied: pos, accepted: pos, built: pos}
	}
	r.batches, r.rereads, r.resync, r.resyncing = nil, nil, nil, false
	r.epoch++
	return nil
}

func (r *Replicator) part(p int) *partition {
	pt := r.parts[p]
	if pt == nil {
		pt = &partition{}
		r.parts[p] = pt
	}
	return pt
}

// Deliver takes one record read from the peer's stream, in any order and
// any number of times. Records already accepted are dropped (Duplicates);
// records ahead of the next expected one are held (up to MaxReorder per
// partition) until it arrives; the next expected one and any held records
// that follow it are accepted: staged for the next Ready, for apply when
// their origin is the peer, else skipped. While a resync is pending every
// record is ignored. A malformed record is refused with ErrInvalidRecord
// and changes nothing.
func (r *Replicator) Deliver(rec Record) error {
	switch {
	case rec.Change == nil:
		r.counters.Invalid++
		return fmt.Errorf("%w: partition %d seq %d has no change", ErrInvalidRecord, rec.Partition, rec.Seq)
	case rec.Partition < 0 || rec.Change.Partition != rec.Partition:
		r.counters.Invalid++
		return fmt.Errorf("%w: partition %d, change of partition %d", ErrInvalidRecord, rec.Partition, rec.Change.Partition)
	case rec.Seq == 0 || rec.Change.Seq == 0:
		r.counters.Invalid++
		return fmt.Errorf("%w: partition %d has stream seq %d, change seq %d", ErrInvalidRecord, rec.Partition, rec.Seq, rec.Change.Seq)
	}
	if r.resyncing {
		return nil
	}
	p := r.part(rec.Partition)
	cs := rec.Change.Seq
	if rec.Seq <= p.accepted.StreamSeq || p.accepted.ChangeSeq != 0 && cs <= p.accepted.ChangeSeq {
		r.counters.Duplicates++
		return nil
	}
	if p.accepted.ChangeSeq != 0 && r.firstChangeSeq(rec) > p.accepted.ChangeSeq+1 {
		if _, ok := p.buffer[cs]; ok {
			r.counters.Duplicates++
			return nil
		}
		if p.buffer == nil {
			p.buffer = map[uint64]Record{}
		}
		p.buffer[cs] = rec
		if len(p.buffer) > r.cfg.MaxReorder {
			r.counters.Gaps++
			r.reread(rec.Partition, p, fmt.Sprintf("change seq %d missing with %d records held", p.accepted.ChangeSeq+1, len(p.buffer)))
		}
		return nil
	}
	r.accept(p, rec)
	for len(p.buffer) > 0 {
		next, ok := r.nextHeld(p)
		if !ok {
			break
		}
		if next.Seq <= p.accepted.StreamSeq {
			// NB: a later change with an earlier stream sequence cannot come
			// from one JetStream stream; drop it and let the gap be re-read.
			r.counters.Invalid++
			break
		}
		r.accept(p, next)
	}
	p.gapTicks, p.rereadTicks = 0, 0
	if len(p.buffer) == 0 {
		p.rereading = false
	}
	return nil
}

// nextHeld takes from the partition's held records the one that follows
// its accepted position: the one of lowest outbox sequence whose span
// (firstChangeSeq..Change.Seq) holds accepted+1. Held records the accepted
// position already covers are dropped as duplicates.
func (r *Replicator) nextHeld(p *partition) (Record, bool) {
	var best Record
	found := false
	for cs, rec := range p.buffer {
		switch {
		case cs <= p.accepted.ChangeSeq:
			delete(p.buffer, cs)
			r.counters.Duplicates++
		case r.firstChangeSeq(rec) <= p.accepted.ChangeSeq+1 && (!found || cs < best.Change.Seq):
			best, found = rec, true
		}
	}
	if found {
		delete(p.buffer, best.Change.Seq)
	}
	return best, found
}

func (r *Replicator) accept(p *partition, rec Record) {
	apply := rec.origin() == r.cfg.Peer
	if apply {
		p.latest = max(p.latest, rec.Change.CreatedAt)
	} else {
		// NB: from the accepted position, not the record's first: a
		// record may stand for records the partition already took.
		from := max(r.firstChangeSeq(rec), p.accepted.ChangeSeq+1)
		if p.accepted.ChangeSeq == 0 {
			from = r.firstChangeSeq(rec)
		}
		r.counters.SkippedLoop += rec.Change.Seq - from + 1
	}
	p.staged = append(p.staged, entry{rec: rec, apply: apply})
	p.accepted = Pos{StreamSeq: rec.Seq, ChangeSeq: rec.Change.Seq}
}

// reread drops the partition's held records and asks for a re-read after
// the accepted position: everything up to it is staged or handed out.
func (r *Replicator) reread(id int, p *partition, reason string) {
	clear(p.buffer)
	p.gapTicks, p.rereadTicks, p.rereading = 0, 0, true
	r.counters.ReReads++
	r.rereads = append(r.rereads, ReRead{Partition: id, After: p.accepted.StreamSeq, Reason: reason})
}

// Tick advances time by one tick: a gap open for GapTimeout ticks, or a
// re-read without progress for ReReadTimeout ticks, asks for a re-read.
func (r *Replicator) Tick() {
	if r.resyncing {
		return
	}
	for _, id := range slices.Sorted(maps.Keys(r.parts)) {
		p := r.parts[id]
		switch {
		case p.rereading:
			p.rereadTicks++
			if p.rereadTicks >= r.cfg.ReReadTimeout {
				r.reread(id, p, fmt.Sprintf("re-read after %d made no progress in %d ticks", p.accepted.StreamSeq, p.rereadTicks))
			}
		case len(p.buffer) > 0:
			p.gapTicks++
			if p.gapTicks >= r.cfg.GapTimeout {
				r.counters.Gaps++
				r.reread(id, p, fmt.Sprintf("change seq %d missing for %d ticks", p.accepted.ChangeSeq+1, p.gapTicks))
			}
		}
	}
}

// Trimmed reports that the peer's stream no longer holds sequences below
// firstAvailable for partition (its reader could not resume). If that
// loses a record the partition still needs (firstAvailable is past its
// accepted position + 1), replication stops and one Resync is reported;
// later Trimmed calls add nothing until Restore. Batches already handed out
// stay valid.
func (r *Replicator) Trimmed(partition int, firstAvailable uint64) {
	if r.resyncing || partition < 0 {
		return
	}
	p := r.part(partition)
	if firstAvailable <= p.accepted.StreamSeq+1 {
		return
	}
	r.startResync(Resync{
		Partition:      partition,
		After:          p.accepted.StreamSeq,
		FirstAvailable: firstAvailable,
		Reason: fmt.Sprintf("peer %s stream trimmed: partition %d needs records after %d, oldest retained is %d",
			r.cfg.Peer, partition, p.accepted.StreamSeq, firstAvailable),
	})
}

// startResync stops replication until Restore and reports rs once.
func (r *Replicator) startResync(rs Resync) {
	r.resyncing = true
	r.counters.Resyncs++
	r.resync = &rs
	for _, pt := range r.parts {
		pt.staged, pt.buffer, pt.rereading = nil, nil, false
	}
	r.rereads = nil
}

// TrimmedChange reports that the oldest record of partition the peer's
// stream still holds has outbox sequence firstChangeSeq. When that is past
// the next record the partition needs (its accepted ChangeSeq + 1; a
// partition whose ChangeSeq is unknown needs nothing in particular),
// replication stops and one Resync is reported, as for Trimmed.
func (r *Replicator) TrimmedChange(partition int, firstChangeSeq uint64) {
	if r.resyncing || partition < 0 {
		return
	}
	p := r.part(partition)
	if p.accepted.ChangeSeq == 0 || firstChangeSeq <= p.accepted.ChangeSeq+1 {
		return
	}
	r.startResync(Resync{
		Partition: partition,
		After:     p.accepted.StreamSeq,
		Reason: fmt.Sprintf("peer %s stream trimmed: partition %d needs change seq %d, the oldest retained is %d",
			r.cfg.Peer, partition, p.accepted.ChangeSeq+1, firstChangeSeq),
	})
}

// Applied acknowledges that the batch of partition ending at stream
// sequence seq, and all before it, were applied durably. An
// acknowledgement at or below the applied position is ignored; one that is
// not the end of a handed-out batch is ErrUnknownPosition.
func (r *Replicator) Applied(partition int, seq uint64) error {
	p := r.parts[partition]
	if p == nil {
		return fmt.Errorf("%w: partition %d", ErrUnknownPosition, partition)
	}
	if seq <= p.applied.StreamSeq {
		return nil
	}
	for i, f := range p.inflight {
		if f.pos.StreamSeq == seq {
			for _, g := range p.inflight[:i+1] {
				r.counters.Applied += uint64(g.apply)
			}
			p.applied = f.pos
			p.inflight = p.inflight[i+1:]
			return nil
		}
	}
	return fmt.Errorf("%w: partition %d seq %d is not the end of a handed-out batch", ErrUnknownPosition, partition, seq)
}

// HasReady reports whether Ready has anything to do.
func (r *Replicator) HasReady() bool {
	if len(r.batches) > 0 || len(r.rereads) > 0 || r.resync != nil {
		return true
	}
	for _, p := range r.parts {
		if len(p.staged) > 0 {
			return true
		}
	}
	return false
}

// Ready returns what the driver must do: staged records cut into batches
// of at most MaxBatch records (partitions in ascending order, each in
// order), re-reads, a resync. It returns the same items again, plus any
// new ones, until Advance.
func (r *Replicator) Ready() Ready {
	for _, id := range slices.Sorted(maps.Keys(r.parts)) {
		p := r.parts[id]
		for len(p.staged) > 0 {
			n := min(len(p.staged), r.cfg.MaxBatch)
			b := Batch{Partition: id, From: p.built}
			for _, e := range p.staged[:n] {
				if e.apply {
					b.Apply = append(b.Apply, e.rec)
				} else {
					b.Skipped = append(b.Skipped, e.rec)
				}
			}
			last := p.staged[n-1].rec
			b.Position = Pos{StreamSeq: last.Seq, ChangeSeq: last.Change.Seq}
			p.built = b.Position
			p.staged = p.staged[n:]
			p.inflight = append(p.inflight, inflight{pos: b.Position, apply: len(b.Apply)})
			r.counters.Handed += uint64(len(b.Apply))
			r.batches = append(r.batches, b)
		}
		p.staged = nil
	}
	return Ready{
		Batches:  slices.Clip(r.batches),
		ReReads:  slices.Clip(r.rereads),
		Resync:   r.resync,
		Counters: r.counters,
		epoch:    r.epoch,
	}
}

// Advance tells the replicator the driver carried out rd (taken from
// Ready). Items that arrived after that Ready stay for the next one.
func (r *Replicator) Advance(rd Ready) {
	if rd.epoch != r.epoch {
		return
	}
	r.batches = r.batches[min(len(rd.Batches), len(r.batches)):]
	r.rereads = r.rereads[min(len(rd.ReReads), len(r.rereads)):]
	if rd.Resync != nil && rd.Resync == r.resync {
		r.resync = nil
	}
}

// Status returns a snapshot of the replicator's state.
func (r *Replicator) Status() Status {
	s := Status{Peer: r.cfg.Peer, Resyncing: r.resyncing, Counters: r.counters, Partitions: make(map[int]PartitionStatus, len(r.parts))}
	for id, p := range r.parts {
		s.Partitions[id] = PartitionStatus{
			Applied: p.applied, Accepted: p.accepted, Buffered: len(p.buffer),
			InFlight: len(p.inflight), ReRead: p.rereading, LatestOriginWrite: p.latest,
		}
	}
	return s
}
