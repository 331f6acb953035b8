package engine

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/godwit-db/godwit/engine/apierr"
)

// maxGroup bounds how many writes one group commit carries.
const maxGroup = 256

// maxSyncing bounds how many groups of a partition may wait for their WAL
// sync at once before the partition stops taking new ones.
const maxSyncing = 8

// partition is one table partition's sequencer: a goroutine that owns every
// write to the partition's keys. Writers hand it a writeReq; it runs the
// requests one after another against an indexed Pebble batch (so each sees
// the ones before it) and commits the whole group as one batch: concurrent
// writers to a partition are group-committed, and Pebble further merges
// the WAL syncs of partitions committing together.
//
// Commits are pipelined: the partition makes a group's batch visible
// (DB.ApplyNoSyncWait) and goes on to form and apply the next group while
// the first one's WAL sync is in flight; a second goroutine (syncLoop)
// waits for each sync in commit order and only then answers the group's
// writers. Without it the partition sat idle through every fsync, and on
// a 2-core machine that idle time, not CPU, bounded PutItem throughput
// (docs/benchmarks.md, Run 5: +30 %).
//
// Reads do not go through the sequencer: a committed batch is visible
// atomically, and readers wait for the durability of what they saw
// (awaitDurable).
type partition struct {
	db      *DB
	tableID uint32
	id      int
	reqs    chan *writeReq
	done    chan struct{}
	syncs   chan *groupSync // groups awaiting their WAL sync, in order
	synced  chan struct{}   // closed when syncLoop returns

	// items is the current group's itemSource, over the partition's item
	// cache (itemcache.go). Owned by the partition goroutine.
	items groupItems

	// stats are the partition's stats as of its last applied group, which
	// the next group builds on. Owned by the partition goroutine (or by a
	// transaction that holds the partition through a barrier).
	stats partStats
	// statsView is the stats as of the last DURABLE group, for any
	// goroutine: DescribeTable, and OutboxHead, which bounds what the
	// publisher may read (a record must never be published before its
	// write is durable). The syncer moves it once a group's sync is done.
	statsView atomic.Pointer[partStats]

	// The durability gate. NB: Pebble makes a batch visible to readers when
	// it is applied to the memtable, before its WAL sync completes. A reader
	// that answered with such data could show a client a write that a crash
	// then takes back. So commits are counted (they are sequential per
	// partition), and a reader that read the partition waits, before it
	// answers, for the commits that had started by then: see awaitDurable.
	commitsStarted atomic.Uint64
	commitsDone    atomic.Uint64
	durMu          sync.Mutex
	durCond        *sync.Cond

	// stopMu guards stopped: enqueue holds it shared while it sends, stop
	// exclusively while it closes reqs, so a writer still holding a deleted
	// table's *table never sends on a closed channel.
	stopMu  sync.RWMutex
	stopped bool
}

// setStats records the partition's stats after a durable commit. Only the
// owner of the partition (its goroutine, or a transaction holding it)
// calls it.
func (p *partition) setStats(s partStats) {
	p.stats = s
	p.statsView.Store(&s)
}

// currentStats returns the partition's stats as of its last durable
// commit; safe from any goroutine.
func (p *partition) currentStats() partStats { return *p.statsView.Load() }

// partStats is a partition's item count and size and its last outbox
// sequence, persisted with every group.
//
// In a writeReq's apply, Items and Bytes are deltas the request adds, while
// Seq is absolute: it starts at the last sequence assigned before the
// request, and the request advances it once per change record it appends.
type partStats struct {
	Items int64
	Bytes int64
	Seq   uint64
}

// writeReq is one unit of work for a partition.
type writeReq struct {
	// apply runs on the partition goroutine. It must validate everything
	// before it writes to b: when it returns an error it has written nothing.
	// It adds its effect on the partition's size to d.
	apply func(b *pebble.Batch, d *partStats) error
	// reports is set when apply reads and reports the items it writes
	// through the partition's itemSource (p.items); a request that writes
	// items without it makes the group bypass the item cache.
	reports bool
	// barrier, when set, makes the partition stop between groups and wait
	// for the barrier's owner (a cross-partition transaction).
	barrier *barrier
	err     error
	done    chan struct{}
}

// barrier holds a partition still for a transaction: the partition closes
// held once everything before the barrier is committed, then waits for release.
type barrier struct {
	held    chan struct{}
	release chan struct{}
}

func newPartition(db *DB, tableID uint32, id int, stats partStats, cache *cacheBudget) *partition {
	p := &partition{
		db:      db,
		tableID: tableID,
		id:      id,
		reqs:    make(chan *writeReq, maxGroup),
		done:    make(chan struct{}),
		syncs:   make(chan *groupSync, maxSyncing),
		synced:  make(chan struct{}),
	}
	if cache != nil {
		p.items.cache = newItemCache(cache)
		p.items.mem = db.mem
	}
	p.durCond = sync.NewCond(&p.durMu)
	p.setStats(stats)
	go p.syncLoop()
	go p.run()
	return p
}

// submit runs apply on the partition and returns its outcome once the
// group carrying it is durable. It deliberately ignores context
// cancellation once the request is queued: the write may commit, and the
// caller must learn whether it did.
func (p *partition) submit(apply func(b *pebble.Batch, d *partStats) error) error {
	return p.submitReq(&writeReq{apply: apply, done: make(chan struct{})})
}

// submitItems is submit for an apply that reads and reports the items it
// writes through p.items, so that its group keeps the item cache.
func (p *partition) submitItems(apply func(b *pebble.Batch, d *partStats) error) error {
	return p.submitReq(&writeReq{apply: apply, reports: true, done: make(chan struct{})})
}

func (p *partition) submitReq(req *writeReq) error {
	if err := p.enqueue(req); err != nil {
		return err
	}
	<-req.done
	return req.err
}

// hold queues a barrier and waits until the partition has stopped at it.
func (p *partition) hold() (*barrier, error) {
	br := &barrier{held: make(chan struct{}), release: make(chan struct{})}
	req := &writeReq{barrier: br, done: make(chan struct{})}
	if err := p.enqueue(req); err != nil {
		return nil, err
	}
	<-br.held
	return br, nil
}

func (p *partition) enqueue(req *writeReq) error {
	p.db.closeMu.RLock()
	defer p.db.closeMu.RUnlock()
	if p.db.closed {
		return apierr.ServiceUnavailable()
	}
	p.stopMu.RLock()
	defer p.stopMu.RUnlock()
	if p.stopped {
		// The table was deleted after the caller looked it up.
		return apierr.ResourceNotFound("Requested resource not found")
	}
	p.reqs <- req
	return nil
}

// stop closes the request queue; run commits what is queued and exits.
// Later enqueues fail. Idempotent.
func (p *partition) stop() {
	p.stopMu.Lock()
	if !p.stopped {
		p.stopped = true
		close(p.reqs)
	}
	p.stopMu.Unlock()
	<-p.done
}

func (p *partition) run() {
	defer func() {
		close(p.syncs)
		<-p.synced
		if p.items.cache != nil {
			p.items.cache.close() // gives its bytes and share back to the shared budget
		}
		close(p.done)
	}()
	for {
		req, ok := <-p.reqs
		if !ok {
			return
		}
		if req.barrier != nil {
			p.waitBarrier(req)
			continue
		}
		b := p.db.pebble.NewIndexedBatch()
		p.items.begin(b)
		group := []*writeReq{req}
		delta := partStats{Seq: p.stats.Seq}
		p.runOne(b, req, &delta)
		var pending *writeReq
		closed := false
	drain:
		for len(group) < maxGroup {
			select {
			case r, ok := <-p.reqs:
				if !ok {
					closed = true
					break drain
				}
				if r.barrier != nil {
					pending = r
					break drain
				}
				group = append(group, r)
				p.runOne(b, r, &delta)
			default:
				break drain
			}
		}
		p.commit(b, group, delta)
		if pending != nil {
			p.waitBarrier(pending)
		}
		if closed {
			return
		}
	}
}

// runOne runs one request of a group; total carries the group's running
// deltas and its absolute last sequence.
func (p *partition) runOne(b *pebble.Batch, req *writeReq, total *partStats) {
	d := partStats{Seq: total.Seq}
	if !req.reports {
		p.items.bypass = true
	}
	req.err = p.safeApply(req, b, &d)
	if req.err == nil {
		total.Items += d.Items
		total.Bytes += d.Bytes
		total.Seq = d.Seq
	}
}

// safeApply turns a panic in a request into an internal error for that
// request alone. NB: a panicking apply may have written part of its effect
// to the batch, so the whole group is then failed by commit.
func (p *partition) safeApply(req *writeReq, b *pebble.Batch, d *partStats) (err error) {
	defer func() {
		if r := recover(); r != nil {
			p.db.log.Error("panic in partition write", "table-id", p.tableID, "partition", p.id, "panic", r)
			err = errPoisoned
		}
	}()
	return req.apply(b, d)
}

var errPoisoned = fmt.Errorf("engine: write panicked")

// commit makes a group's batch visible and queues the group for its WAL
// sync; the syncer answers it once the sync is done. The partition goes on
// to its next group meanwhile, so groups form while the previous one's
// fsync is in flight, and more writes share each sync.
//
// NB: every group passes through the syncer, in order, even one that wrote
// nothing: its answers (a failed condition, a read of the item) may rest on
// an earlier group's writes, which must be durable before anyone is told.
func (p *partition) commit(b *pebble.Batch, group []*writeReq, delta partStats) {
	s := &groupSync{group: group}
	poisoned := false
	for _, r := range group {
		if r.err == errPoisoned {
			poisoned = true
		}
	}
	switch {
	case poisoned:
		s.err = apierr.Internal()
		p.endGroup(false)
		b.Close()
	case b.Empty():
		p.endGroup(true)
		b.Close()
	default:
		next := p.stats.plus(delta)
		if next != p.stats {
			_ = b.Set(statsKey(p.tableID, p.id), encodeStats(next), nil)
		}
		p.beginCommit()
		s.counted = true
		var err error
		if p.db.writeOpts.Sync {
			// NB: Pebble marks ApplyNoSyncWait experimental (CockroachDB
			// pipelines its Raft log writes with it). What is relied on: the
			// batch is applied and visible when it returns, its WAL sync is
			// awaited with SyncWait, and it is not closed before that.
			start := time.Now()
			g := p.db.mem.begin()
			err = p.db.pebble.ApplyNoSyncWait(b, p.db.writeOpts)
			p.db.mem.end(g, b)
			s.wait = err == nil
			s.applied = time.Now()
			p.db.metrics.commitApply.Observe(s.applied.Sub(start).Seconds())
		} else {
			start := time.Now()
			g := p.db.mem.begin()
			err = b.Commit(p.db.writeOpts)
			p.db.mem.end(g, b)
			p.db.metrics.commitApply.Observe(time.Since(start).Seconds())
		}
		p.endGroup(err == nil)
		if err != nil {
			p.db.log.Error("commit failed", "table-id", p.tableID, "partition", p.id, "error", err)
			s.err = apierr.Internal()
			b.Close()
			break
		}
		s.b = b
		if next.Seq != p.stats.Seq {
			s.notifyFrom, s.notifySeq = p.stats.Seq, next.Seq
		}
		p.stats = next
		s.stats = &next
		p.db.metrics.groupSize.Observe(float64(len(group)))
	}
	p.syncs <- s
}

// groupSync is a committed (or failed) group on its way to the syncer.
type groupSync struct {
	group      []*writeReq
	b          *pebble.Batch // nil when nothing was applied
	wait       bool          // b's WAL sync is still to be awaited
	applied    time.Time     // when b became visible (wait only)
	counted    bool          // beginCommit was called for it
	notifySeq  uint64        // >0: the group advanced the outbox to this sequence
	notifyFrom uint64        // from this one
	stats      *partStats    // the partition's stats once the group is durable
	err        error
	// drained, when set, marks a barrier: the syncer closes it once every
	// group before it is answered.
	drained chan struct{}
}

// syncLoop answers the partition's groups in commit order, each once its
// WAL sync is done.
func (p *partition) syncLoop() {
	defer close(p.synced)
	var broken error
	for s := range p.syncs {
		if s.drained != nil {
			close(s.drained)
			continue
		}
		err := s.err
		if s.b != nil {
			if s.wait {
				serr := s.b.SyncWait()
				p.db.metrics.commitSync.Observe(time.Since(s.applied).Seconds())
				if serr != nil && broken == nil {
					// NB: the group is visible but not durable, and later
					// groups may have read it: fail them all.
					p.db.log.Error("WAL sync failed", "table-id", p.tableID, "partition", p.id, "error", serr)
					broken = apierr.Internal()
				}
			}
		}
		if s.counted {
			p.endCommit()
		}
		if broken != nil {
			err = broken
		} else {
			// NB: the entries are collected before the head moves and
			// handed over right after, and both happen before the answers:
			// a publisher rarely sees the head moved without them (it then
			// reads them back from the outbox).
			var entries []OutboxEntry
			if s.notifySeq != 0 && p.db.cfg.Listener.ChangesCommitted != nil {
				entries = committedEntries(s.b, p.tableID, p.id, s.notifyFrom, s.notifySeq)
			}
			if s.stats != nil {
				p.statsView.Store(s.stats)
			}
			if s.notifySeq != 0 {
				p.db.notifyChanges(p.tableID, p.id, s.notifySeq, entries)
			}
		}
		if s.b != nil {
			s.b.Close()
		}
		for _, r := range s.group {
			if err != nil && (r.err == nil || r.err == errPoisoned) {
				r.err = err
			}
			close(r.done)
		}
	}
}

// drain waits until every group committed so far is answered.
func (p *partition) drain() {
	ch := make(chan struct{})
	p.syncs <- &groupSync{drained: ch}
	<-ch
}

func (p *partition) waitBarrier(req *writeReq) {
	p.drain()
	close(req.barrier.held)
	<-req.barrier.release
	// The holder may have written the partition's items.
	if p.items.cache != nil {
		p.items.cache.reset()
	}
	close(req.done)
}

// plus applies a group's result: Items and Bytes of d are deltas, Seq is absolute.
func (s partStats) plus(d partStats) partStats {
	return partStats{Items: s.Items + d.Items, Bytes: s.Bytes + d.Bytes, Seq: d.Seq}
}

// encodeStats is the stored form: varint items, varint bytes, uvarint seq.
// beginCommit and endCommit bracket every Pebble commit of the partition's
// keys (by its goroutine, or by a transaction holding it).
// endGroup ends the group's batch for the item cache and the tombstone
// set: what it wrote takes effect there iff it committed.
func (p *partition) endGroup(committed bool) {
	p.items.end(committed)
	p.db.endTombstones(p.tableID, p.id, committed)
}

func (p *partition) beginCommit() { p.commitsStarted.Add(1) }

func (p *partition) endCommit() {
	p.durMu.Lock()
	p.commitsDone.Add(1)
	p.durCond.Broadcast()
	p.durMu.Unlock()
}

// awaitDurable returns once every commit of the partition that had started
// when it was called is durable. A reader calls it after reading (or after
// taking its snapshot): anything it saw was applied, hence started, before.
// It returns at once when no commit is in flight, and waits at most one WAL
// sync otherwise.
func (p *partition) awaitDurable() {
	s := p.commitsStarted.Load()
	if p.commitsDone.Load() >= s {
		return
	}
	p.durMu.Lock()
	for p.commitsDone.Load() < s {
		p.durCond.Wait()
	}
	p.durMu.Unlock()
}

// awaitDurable waits for every partition of t (see partition.awaitDurable).
func (t *table) awaitDurable() {
	for _, p := range t.parts {
		p.awaitDurable()
	}
}

func encodeStats(s partStats) []byte {
	b := make([]byte, 0, 30)
	b = binary.AppendVarint(b, s.Items)
	b = binary.AppendVarint(b, s.Bytes)
	return binary.AppendUvarint(b, s.Seq)
}

func decodeStats(b []byte) partStats {
	var s partStats
	var n int
	if s.Items, n = binary.Varint(b); n <= 0 {
		return partStats{}
	}
	b = b[n:]
	if s.Bytes, n = binary.Varint(b); n <= 0 {
		return partStats{}
	}
	b = b[n:]
	if s.Seq, n = binary.Uvarint(b); n <= 0 {
		return partStats{Items: s.Items, Bytes: s.Bytes}
	}
	return s
}
