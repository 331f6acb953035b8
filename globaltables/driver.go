package globaltables

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/godwit-db/godwit/conflict"
	"github.com/godwit-db/godwit/engine"
	"github.com/godwit-db/godwit/streams"
	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// DriverConfig configures a Driver: one table replicated from one peer
// region into the local engine. Zero fields take their defaults.
type DriverConfig struct {
	// Peer is the region whose table stream is read. Required.
	Peer string
	// Table is the table's name, the same in both regions. Required.
	Table string
	// PeerJetStream is a JetStream handle on the peer region's NATS. Required.
	PeerJetStream jetstream.JetStream
	// PeerConn reaches the peer's SnapshotServer, for a resync (see
	// resync.go). Default PeerJetStream.Conn().
	PeerConn *nats.Conn
	// DB is the local engine. Required.
	DB *engine.DB
	// TickInterval is the length of one Replicator tick (real time: the
	// driver is the only place that reads the clock). Default 100ms.
	TickInterval time.Duration
	// RetryInterval is how long the driver waits before it reloads its
	// positions and reopens the peer's stream after a failure. Default 1s.
	RetryInterval time.Duration
	// Replicator tunes the core; its Peer is set from Peer.
	Replicator Config
	// Source tunes the JetStream reader of the peer's stream.
	Source streams.JetStreamSourceConfig
	// Conflicts, if set, receives a record of every conflict the driver's
	// applies meet (see ConflictLog); they are counted either way.
	Conflicts *ConflictLog
	// ClockWarnInterval is the least time between two warnings about peer
	// versions beyond the local max clock offset (each is counted in
	// godwit_replication_clock_offset_exceeded_total). Default 1m.
	ClockWarnInterval time.Duration
	// Logger is named "globaltables.driver". Default a null logger.
	Logger hclog.Logger
	// Registerer receives the driver's metrics. Default none.
	Registerer prometheus.Registerer
}

// DefaultDriverConfig returns a DriverConfig with every default filled in
// (Peer, Table, PeerJetStream and DB empty).
func DefaultDriverConfig() DriverConfig {
	return DriverConfig{
		TickInterval:      100 * time.Millisecond,
		RetryInterval:     time.Second,
		ClockWarnInterval: time.Minute,
		Replicator:        DefaultConfig(),
		Logger:            hclog.NewNullLogger(),
	}
}

// Validate reports every problem with c at once.
func (c DriverConfig) Validate() error {
	var errs []error
	if c.Peer == "" {
		errs = append(errs, errors.New("globaltables: driver Peer region is required"))
	}
	if c.Table == "" {
		errs = append(errs, errors.New("globaltables: driver Table is required"))
	}
	if c.PeerJetStream == nil {
		errs = append(errs, errors.New("globaltables: driver PeerJetStream is required"))
	}
	if c.DB == nil {
		errs = append(errs, errors.New("globaltables: driver DB is required"))
	} else if c.Peer != "" && c.Peer == c.DB.Region() {
		errs = append(errs, fmt.Errorf("globaltables: driver Peer %s is the local region", c.Peer))
	}
	if c.TickInterval < 0 {
		errs = append(errs, fmt.Errorf("globaltables: driver TickInterval %v is negative", c.TickInterval))
	}
	if c.RetryInterval < 0 {
		errs = append(errs, fmt.Errorf("globaltables: driver RetryInterval %v is negative", c.RetryInterval))
	}
	if c.ClockWarnInterval < 0 {
		errs = append(errs, fmt.Errorf("globaltables: driver ClockWarnInterval %v is negative", c.ClockWarnInterval))
	}
	rc := c.Replicator
	rc.Peer = c.Peer
	if c.Peer != "" {
		if err := rc.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c DriverConfig) withDefaults() DriverConfig {
	d := DefaultDriverConfig()
	if c.TickInterval == 0 {
		c.TickInterval = d.TickInterval
	}
	if c.RetryInterval == 0 {
		c.RetryInterval = d.RetryInterval
	}
	if c.ClockWarnInterval == 0 {
		c.ClockWarnInterval = d.ClockWarnInterval
	}
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	c.Replicator.Peer = c.Peer
	if c.PeerConn == nil {
		c.PeerConn = c.PeerJetStream.Conn()
	}
	return c
}

// ErrNoPeerStream is wrapped by Start when the peer region has no stream
// for the table (yet): its publisher creates it with the table's stream.
var ErrNoPeerStream = errors.New("globaltables: the peer region has no stream for the table")

// ErrPartitionMismatch is wrapped by Start when the peer's table has
// another partition count than the local one: replicas are created with
// the same count, so that a key hashes to the same partition everywhere.
var ErrPartitionMismatch = errors.New("globaltables: the peer's table has another partition count")

// DriverStatus is a snapshot of a Driver.
type DriverStatus struct {
	Peer, Table string
	// Stream is the peer's JetStream stream being read.
	Stream string
	// Running is true between Start and Stop.
	Running bool
	// Resync is set while the peer's stream lacks records this region
	// still needs: the driver is resynchronising the table from a snapshot
	// of the peer (Backfill with Resync), and retries after RetryInterval
	// when that fails. It is cleared once a resync succeeded.
	Resync *Resync
	// Resyncs counts the resyncs that succeeded; LastResync is the last one's.
	Resyncs    uint64
	LastResync *BackfillStats
	// LastError is the last failure (apply or read), "" if none.
	LastError string
	// Applied and Stale count changes handed to the engine that won
	// last-writer-wins and that lost (or were already there).
	Applied, Stale uint64
	// RemoteWon and RemoteLost count the conflicts among them (see
	// conflict.Classify); ClockAhead the changes stamped further ahead of
	// the local clock than the max clock offset.
	RemoteWon, RemoteLost, ClockAhead uint64
	// Restores counts reloads of the durable positions after a failure.
	Restores uint64
	// Replicator is the core's state.
	Replicator Status
}

// Driver replicates one table from one peer region into the local engine:
// it reads the peer's table stream through a streams.Consumer, feeds the
// records to a Replicator, and carries out what it returns (ApplyRemote of
// each batch, re-reads). Every call to the core is made from the driver's
// one goroutine. Safe for concurrent use.
type Driver struct {
	cfg DriverConfig
	log hclog.Logger
	m   *driverMetrics

	mu      sync.Mutex // guards status, running, cancel
	status  DriverStatus
	running bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// NewDriver returns a Driver for cfg, not started.
func NewDriver(cfg DriverConfig) (*Driver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Driver{
		cfg:    cfg,
		log:    cfg.Logger.Named("globaltables.driver").With("peer", cfg.Peer, "table", cfg.Table),
		m:      newDriverMetrics(cfg.Registerer, cfg.Peer, cfg.Table),
		status: DriverStatus{Peer: cfg.Peer, Table: cfg.Table},
	}, nil
}

// driverRun is the state of one Start..Stop run, owned by its goroutine.
type driverRun struct {
	d       *Driver
	core    *Replicator
	src     *streams.JetStreamSource
	parts   int
	reader  *peerReader
	broken  bool // positions must be reloaded and the reader reopened
	retryAt time.Time
	// resyncedAt is when the last resync succeeded.
	resyncedAt time.Time
	pending    map[int]uint64
	// applying are the batches handed to the engine, in the order they
	// were started (each partition's in its order).
	applying []applying
	// clock offset warnings: when the last was logged, and what has been
	// seen since.
	clockWarnAt  time.Time
	clockAheadN  int
	clockMaxLead time.Duration
}

// Start finds the peer's stream of the table, checks that both tables have
// the same partition count, restores the core from the engine's applied
// positions and starts replicating until Stop. ctx bounds only the start.
func (d *Driver) Start(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.running {
		return errors.New("globaltables: driver already started")
	}
	info, ok := d.cfg.DB.Table(d.cfg.Table)
	if !ok {
		return fmt.Errorf("globaltables: no local table %s", d.cfg.Table)
	}
	ts, ok, err := streams.LatestTableStream(ctx, d.cfg.PeerJetStream, d.cfg.Peer, d.cfg.Table)
	if err != nil {
		return fmt.Errorf("globaltables: find %s's stream of %s: %w", d.cfg.Peer, d.cfg.Table, err)
	}
	if !ok {
		return fmt.Errorf("%w: %s in %s", ErrNoPeerStream, d.cfg.Table, d.cfg.Peer)
	}
	if ts.Partitions != info.Partitions {
		return fmt.Errorf("%w: %s has %d partitions in %s, %d here", ErrPartitionMismatch,
			d.cfg.Table, ts.Partitions, d.cfg.Peer, info.Partitions)
	}
	// The driver applies only the peer's own changes and never uses the
	// Streams API event: the records replicated into the peer from
	// elsewhere (two thirds of a peer's stream with three regions writing
	// alike) are counted past by their headers, undecoded.
	sc := d.cfg.Source
	sc.ChangesOnly = true
	sc.SkipOrigin = func(origin string) bool { return origin != d.cfg.Peer }
	src, err := streams.NewJetStreamSource(ctx, d.cfg.PeerJetStream, ts.Name, sc)
	if err != nil {
		return fmt.Errorf("globaltables: %w", err)
	}
	core, err := NewReplicator(d.cfg.Replicator)
	if err != nil {
		return err
	}
	r := &driverRun{d: d, core: core, src: src, parts: info.Partitions, pending: map[int]uint64{}}
	if err := r.restore(ctx); err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	d.running, d.cancel, d.done = true, cancel, make(chan struct{})
	d.status.Running, d.status.Stream = true, ts.Name
	d.log.Info("replication started", "stream", ts.Name, "partitions", info.Partitions)
	go r.loop(runCtx, d.done)
	return nil
}

// Stop stops replicating and waits for the driver's goroutine. What was
// applied is durable; a later Start resumes after it. Idempotent.
func (d *Driver) Stop() error {
	d.mu.Lock()
	if !d.running {
		d.mu.Unlock()
		return nil
	}
	cancel, done := d.cancel, d.done
	d.mu.Unlock()
	cancel()
	<-done
	d.mu.Lock()
	d.running, d.status.Running = false, false
	d.mu.Unlock()
	return nil
}

// Status returns a snapshot of the driver's state.
func (d *Driver) Status() DriverStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.status
	s.Replicator.Partitions = maps.Clone(s.Replicator.Partitions)
	return s
}

func (d *Driver) update(f func(s *DriverStatus)) {
	d.mu.Lock()
	f(&d.status)
	d.mu.Unlock()
}

// restore reloads every partition's durable position into the core and
// reopens the reader after them.
func (r *driverRun) restore(ctx context.Context) error {
	r.settle()
	positions := make(map[int]Pos, r.parts)
	for p := 0; p < r.parts; p++ {
		pos, err := r.d.cfg.DB.AppliedPosition(r.d.cfg.Table, r.d.cfg.Peer, p)
		if err != nil {
			return fmt.Errorf("globaltables: applied position of partition %d: %w", p, err)
		}
		positions[p] = pos
	}
	lost := r.placePositions(ctx, positions)
	if err := r.core.Restore(positions); err != nil {
		return err
	}
	for p, first := range lost {
		r.core.TrimmedChange(p, first)
	}
	resume := streams.Position{}
	for p, pos := range positions {
		if pos.StreamSeq > 0 {
			resume[p] = pos.StreamSeq
		}
	}
	if err := r.open(ctx, resume); err != nil {
		return err
	}
	r.broken = false
	return nil
}

// reopen restarts the reader after the core's accepted positions, with the
// re-read partitions after their re-read point.
func (r *driverRun) reopen(ctx context.Context, rereads []ReRead) error {
	resume := streams.Position{}
	for p, ps := range r.core.Status().Partitions {
		if ps.Accepted.StreamSeq > 0 {
			resume[p] = ps.Accepted.StreamSeq
		}
	}
	for _, rr := range rereads {
		if rr.After > 0 {
			resume[rr.Partition] = rr.After
		} else {
			delete(resume, rr.Partition)
			if pos := r.core.Status().Partitions[rr.Partition].Accepted; pos.StreamSeq == 0 && pos.ChangeSeq > 0 {
				r.checkLost(ctx, rr.Partition, pos.ChangeSeq)
			}
		}
	}
	return r.open(ctx, resume)
}

func (r *driverRun) open(ctx context.Context, resume streams.Position) error {
	c, err := r.newConsumer(ctx, resume)
	if errors.Is(err, streams.ErrTrimmed) {
		r.trimmed(ctx)
		return nil
	}
	if err != nil {
		return err
	}
	r.reader = startPeerReader(c)
	return nil
}

func (r *driverRun) newConsumer(ctx context.Context, resume streams.Position) (*streams.Consumer, error) {
	r.closeReader()
	c, err := streams.NewConsumer(ctx, r.src, streams.ConsumerConfig{
		From:       streams.TrimHorizon,
		Resume:     resume,
		Name:       "replica-" + r.d.cfg.Peer + "-" + r.d.cfg.Table,
		Logger:     r.d.cfg.Logger,
		Registerer: r.d.cfg.Registerer,
	})
	if err != nil && !errors.Is(err, streams.ErrTrimmed) {
		err = fmt.Errorf("globaltables: read %s's stream: %w", r.d.cfg.Peer, err)
	}
	return c, err
}

func (r *driverRun) closeReader() {
	if r.reader != nil {
		r.reader.close()
		r.reader = nil
	}
}

// trimmed tells the core the peer's stream starts past where some
// partition needs it to. JetStream trims whole messages, and a message may
// carry several records (streams layout 2): a partition accepted up to
// position Pos(j, k) lost records when the oldest retained message is past
// j+1 (the core's Trimmed, given Pos(first, 0)); when it is j+1, message j
// is gone and only its records after k could be lost, which the outbox
// sequence of the partition's oldest retained record tells (checkLost). If
// nothing any partition needs was lost, the reader reopens at the oldest
// retained message.
func (r *driverRun) trimmed(ctx context.Context) {
	first := uint64(0)
	if s, err := r.d.cfg.PeerJetStream.Stream(ctx, r.src.TableStream().Name); err == nil {
		if info, err := s.Info(ctx); err == nil {
			first = info.State.FirstSeq
		}
	}
	if first == 0 {
		r.fail(errors.New("the peer's stream was trimmed but its first sequence is unknown"))
		return
	}
	for p := 0; p < r.parts; p++ {
		pos := r.core.Status().Partitions[p].Accepted
		if pos.StreamSeq == 0 && pos.ChangeSeq > 0 {
			// NB: its stream position is unknown; only its oldest
			// retained record tells whether it lost anything.
			r.checkLost(ctx, p, pos.ChangeSeq)
			continue
		}
		switch msg, _ := streams.SplitPos(pos.StreamSeq); {
		case first > msg+1:
			r.core.Trimmed(p, streams.Pos(first, 0))
		case first == msg+1 && pos.ChangeSeq > 0:
			r.checkLost(ctx, p, pos.ChangeSeq)
		}
	}
	st := r.core.Status()
	if st.Resyncing {
		return
	}
	resume := streams.Position{}
	for p, ps := range st.Partitions {
		if ps.Accepted.StreamSeq == 0 {
			continue
		}
		resume[p] = ps.Accepted.StreamSeq
		if msg, _ := streams.SplitPos(ps.Accepted.StreamSeq); msg < first {
			resume[p] = streams.Pos(first, 0) - 1 // after every record of message first-1
		}
	}
	c, err := r.newConsumer(ctx, resume)
	if err != nil {
		// NB: not open: a reader that keeps finding the stream trimmed
		// must not loop here; the restore after RetryInterval looks again.
		r.fail(fmt.Errorf("reopen %s's stream after a trim that lost nothing needed: %w", r.d.cfg.Peer, err))
		return
	}
	r.reader = startPeerReader(c)
}

// fail records err and schedules a reload of the durable positions.
func (r *driverRun) fail(err error) {
	r.d.log.Warn("replication failed; reloading positions", "error", err, "retry-in", r.d.cfg.RetryInterval)
	r.closeReader()
	r.broken = true
	r.retryAt = time.Now().Add(r.d.cfg.RetryInterval)
	r.d.update(func(s *DriverStatus) { s.LastError = err.Error() })
}

func (r *driverRun) loop(ctx context.Context, done chan struct{}) {
	defer close(done)
	defer r.settle()
	defer r.closeReader()
	tick := time.NewTicker(r.d.cfg.TickInterval)
	defer tick.Stop()
	r.publish()
	for {
		var recs <-chan readerItem
		if r.reader != nil {
			recs = r.reader.items
		}
		var applied <-chan struct{}
		if len(r.applying) > 0 {
			applied = r.applying[0].a.Done()
		}
		select {
		case <-ctx.Done():
			return
		case it := <-recs:
			r.deliver(ctx, it)
		case <-applied:
			r.finishApplies()
		case <-tick.C:
			if r.broken {
				if time.Now().After(r.retryAt) {
					r.d.update(func(s *DriverStatus) { s.Restores++ })
					if err := r.restore(ctx); err != nil && ctx.Err() == nil {
						r.fail(err)
					}
				}
				continue
			}
			r.core.Tick()
		}
		if ctx.Err() != nil {
			return
		}
		r.process(ctx)
		r.publish()
	}
}

func (r *driverRun) deliver(ctx context.Context, it readerItem) {
	if it.err != nil {
		if errors.Is(it.err, streams.ErrTrimmed) {
			r.closeReader()
			r.trimmed(ctx)
			return
		}
		if ctx.Err() == nil {
			r.fail(fmt.Errorf("read %s's stream: %w", r.d.cfg.Peer, it.err))
		}
		return
	}
	for _, rec := range it.recs {
		r.pending[rec.Partition] = rec.Pending
		err := r.core.Deliver(Record{Partition: rec.Partition, Seq: rec.Seq, Origin: rec.Origin, Change: rec.Change,
			FirstChangeSeq: r.firstChangeSeq(rec)})
		if err != nil {
			r.d.log.Error("malformed record in the peer's stream; skipped", "partition", rec.Partition, "seq", rec.Seq, "error", err)
		}
	}
	var n uint64
	for _, v := range r.pending {
		n += v
	}
	r.d.m.pending.Set(float64(n))
}

// firstChangeSeq is Record.FirstChangeSeq for a record of the peer's
// stream: the outbox sequence of its message's first record when its
// origin is not the peer. The source reads such a message undecoded, as
// one record at the position of its last record with the last record's
// outbox sequence (streams.JetStreamSourceConfig.SkipOrigin); a message's
// records have consecutive outbox sequences (streams layout 2), so the
// record at index i of its message covers outbox sequences Change.Seq-i
// through Change.Seq, all of that one origin. 0 for the peer's own records.
func (r *driverRun) firstChangeSeq(rec streams.Record) uint64 {
	if rec.Change == nil || rec.Origin == r.d.cfg.Peer || rec.Origin == "" && rec.Change.Origin == r.d.cfg.Peer {
		return 0
	}
	_, idx := streams.SplitPos(rec.Seq)
	if uint64(idx) >= rec.Change.Seq {
		return 0
	}
	return rec.Change.Seq - uint64(idx)
}

// maxApplying bounds the batches handed to the engine and not yet
// accounted for; past it the core keeps staging what arrives.
const maxApplying = 64

// applying is a batch handed to the engine (DB.StartApplyRemote) that the
// driver has not yet accounted for.
type applying struct {
	b Batch
	a *engine.RemoteApply
}

// process hands the core's Ready to the engine until it has nothing more
// (or maxApplying batches are under way). The applies are not waited for:
// each partition's batches queue on it in order, and the next Ready's join
// the group commits while the earlier ones' WAL syncs are under way, so a
// record waits for its own sync and not for the previous batch's too. Their
// completions come back through the loop (finishApplies).
func (r *driverRun) process(ctx context.Context) {
	for !r.broken && len(r.applying) < maxApplying && r.core.HasReady() {
		rd := r.core.Ready()
		for _, b := range rd.Batches {
			changes := make([]*engine.Change, len(b.Apply))
			for j, rec := range b.Apply {
				changes[j] = rec.Change
			}
			a, err := r.d.cfg.DB.StartApplyRemote(r.d.cfg.Table, b.Partition, r.d.cfg.Peer, b.From, b.Position, changes)
			if err != nil {
				// NB: the batches started before this one are accounted
				// for as they complete; restore waits for them.
				r.fail(fmt.Errorf("apply partition %d %+v..%+v: %w", b.Partition, b.From, b.Position, err))
				return
			}
			r.applying = append(r.applying, applying{b: b, a: a})
		}
		if len(rd.ReReads) > 0 && rd.Resync == nil {
			for _, rr := range rd.ReReads {
				r.d.log.Info("re-reading a partition of the peer's stream", "partition", rr.Partition, "after", rr.After, "reason", rr.Reason)
			}
			if err := r.reopen(ctx, rd.ReReads); err != nil {
				r.fail(err)
				return
			}
		}
		r.core.Advance(rd)
		if rd.Resync != nil {
			r.resync(ctx, *rd.Resync)
		}
	}
}

// finishApplies accounts for the applies at the head of the queue that
// are done, in the order they were started. A failed one fails the run;
// those that did apply are accounted for even then, broken or not — they
// are durable, and the restore that follows reloads their positions, so
// nothing would hand them again. (The later batches of a failed one's
// partition fail too, with engine.ErrPositionMismatch, and write nothing.)
func (r *driverRun) finishApplies() {
	now := time.Now()
	for len(r.applying) > 0 {
		ap := r.applying[0]
		select {
		case <-ap.a.Done():
		default:
			return
		}
		r.applying[0] = applying{}
		r.applying = r.applying[1:]
		res, err := ap.a.Result()
		if err == nil {
			err = r.applied(ap.b, res, now)
		} else {
			err = fmt.Errorf("apply partition %d %+v..%+v: %w", ap.b.Partition, ap.b.From, ap.b.Position, err)
		}
		if err != nil && !r.broken {
			r.fail(err)
		}
	}
}

// settle waits for every apply under way and accounts for it: before the
// core's positions are reloaded or replaced, and when the run ends.
func (r *driverRun) settle() {
	for len(r.applying) > 0 {
		<-r.applying[0].a.Done()
		r.finishApplies()
	}
}

// applied accounts for one batch the engine applied (metrics, conflicts,
// status) and acknowledges it to the core. Called from the loop, in the
// Ready's order.
func (r *driverRun) applied(b Batch, res engine.RemoteResult, now time.Time) error {
	for _, rec := range b.Apply {
		r.d.m.latency.Observe(max(now.Sub(time.Unix(0, rec.Change.CreatedAt)).Seconds(), 0))
	}
	r.d.m.applied.Add(float64(res.Applied))
	r.d.m.stale.Add(float64(res.Stale))
	var skipped uint64
	for i, rec := range b.Skipped {
		// NB: a skipped record may stand for several (Record.FirstChangeSeq);
		// count from the batch's start, which a first record may straddle.
		from := rec.FirstChangeSeq
		if i == 0 && b.From.ChangeSeq != 0 {
			from = max(from, b.From.ChangeSeq+1)
		}
		if from == 0 || from > rec.Change.Seq {
			from = rec.Change.Seq
		}
		skipped += rec.Change.Seq - from + 1
	}
	r.d.m.skipped.Add(float64(skipped))
	var won, lost uint64
	for i := range res.Conflicts {
		c := &res.Conflicts[i]
		if c.Outcome == conflict.RemoteWon {
			won++
			r.d.m.remoteWon.Inc()
		} else {
			lost++
			r.d.m.remoteLost.Inc()
		}
		if r.d.cfg.Conflicts != nil {
			r.d.cfg.Conflicts.Append(NewConflictRecord(r.d.cfg.Table, r.d.cfg.DB.Region(), r.d.cfg.Peer, c, now))
		}
	}
	if res.ClockAhead > 0 {
		r.noteClockAhead(res.ClockAhead, res.MaxAhead, now)
	}
	r.d.update(func(s *DriverStatus) {
		s.Applied += uint64(res.Applied)
		s.Stale += uint64(res.Stale)
		s.RemoteWon += won
		s.RemoteLost += lost
		s.ClockAhead += uint64(res.ClockAhead)
	})
	if err := r.core.Applied(b.Partition, b.Position.StreamSeq); err != nil {
		return err
	}
	return nil
}

// noteClockAhead counts n changes stamped beyond the local max clock offset
// (by up to lead) and warns at most once per ClockWarnInterval.
func (r *driverRun) noteClockAhead(n int, lead time.Duration, now time.Time) {
	r.d.m.clockAhead.Add(float64(n))
	r.clockAheadN += n
	r.clockMaxLead = max(r.clockMaxLead, lead)
	if !r.clockWarnAt.IsZero() && now.Sub(r.clockWarnAt) < r.d.cfg.ClockWarnInterval {
		return
	}
	r.d.log.Warn("the peer's versions are ahead of this region's clock by more than the max clock offset; "+
		"applied by their version, the local clock does not follow them (check both regions' clocks)",
		"changes", r.clockAheadN, "max-lead", r.clockMaxLead)
	r.clockWarnAt, r.clockAheadN, r.clockMaxLead = now, 0, 0
}

// publish copies the core's status into the driver's.
func (r *driverRun) publish() {
	st := r.core.Status()
	r.d.update(func(s *DriverStatus) { s.Replicator = st })
}

// peerReader pumps a Consumer's records into a channel the driver's loop
// selects on, so that ticks go on while the peer is idle.
type peerReader struct {
	c      *streams.Consumer
	items  chan readerItem
	cancel context.CancelFunc
	done   chan struct{}
}

type readerItem struct {
	recs []streams.Record
	err  error
}

func startPeerReader(c *streams.Consumer) *peerReader {
	ctx, cancel := context.WithCancel(context.Background())
	pr := &peerReader{c: c, items: make(chan readerItem), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(pr.done)
		for {
			recs, err := c.NextBatch(ctx, 256)
			if ctx.Err() != nil {
				return
			}
			select {
			case pr.items <- readerItem{recs: recs, err: err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return pr
}

// close stops the reader and its consumer; records not taken are dropped
// (the core re-reads after what it accepted).
func (pr *peerReader) close() {
	pr.cancel()
	<-pr.done
	_ = pr.c.Close()
}
