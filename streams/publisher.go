package streams

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/godwit-db/godwit/engine"
	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// PublisherConfig configures a Publisher. The zero value of each field means its
// default.
type PublisherConfig struct {
	// Retention is the MaxAge of every table stream's JetStream stream: how
	// long records stay readable. Default 24h (DynamoDB Streams' retention).
	Retention time.Duration
	// MaxBytes bounds each table stream's JetStream stream; the oldest
	// records are dropped beyond it. -1 means no bound (JetStream's store
	// limit still applies). Default 1 GiB.
	MaxBytes int64
	// DuplicateWindow is JetStream's Nats-Msg-Id dedupe window. Records
	// republished after a failure within it are dropped by JetStream.
	// Republishes follow their failure within PublishTimeout plus a backoff,
	// and the server keeps one entry per message for the whole window, so a
	// long window costs memory (window × rate entries), not safety. At most
	// Retention. Default 2m.
	DuplicateWindow time.Duration
	// Replicas is the replica count of new JetStream streams (3 on a NATS
	// cluster). Default 1.
	Replicas int
	// SyncInterval is JetStream's fsync interval (embedded.Config's). An
	// outbox entry is trimmed only once its record was acknowledged at least
	// this long ago, so an OS crash that loses JetStream's unsynced tail
	// loses nothing: the restart republishes it. Default 2m.
	SyncInterval time.Duration
	// MaxInFlight bounds a partition's published but unacknowledged
	// messages. Default 512.
	MaxInFlight int
	// BatchSize is how many outbox entries a partition reads at a time,
	// and so the most records one message carries. Default 256.
	BatchSize int
	// PublishTimeout is how long an acknowledgement may take before the
	// publish counts as failed. Default 10s.
	PublishTimeout time.Duration
	// RequestTimeout bounds each JetStream API call (stream create, update,
	// info, last message). Default 10s.
	RequestTimeout time.Duration
	// PollInterval is how often every partition looks at its outbox and the
	// table list is rescanned even without a notification (it also paces
	// outbox trimming). Default 1s.
	PollInterval time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failure (doubling).
	// Defaults 50ms and 5s.
	MinBackoff, MaxBackoff time.Duration
	// TailCacheRecords and TailCacheBytes bound each partition's tail cache:
	// the records JetStream last acknowledged, kept in memory so that the
	// Streams API of the same process answers GetRecords at a shard's end
	// without reading JetStream (see tailcache.go). The oldest are dropped
	// beyond either bound (TailCacheBytes counts record bodies). Defaults
	// 512 and 1 MiB; TailCacheRecords -1 turns the cache off.
	TailCacheRecords, TailCacheBytes int
	// Now is the clock for ack times, trimming and disable stamps. Default
	// time.Now.
	Now func() time.Time
	// Logger is named "streams.publisher". Default a null logger.
	Logger hclog.Logger
	// Registerer receives the publisher's metrics. Default none.
	Registerer prometheus.Registerer
}

// DefaultPublisherConfig returns a PublisherConfig with every default filled in.
func DefaultPublisherConfig() PublisherConfig {
	return PublisherConfig{
		Retention:        24 * time.Hour,
		MaxBytes:         1 << 30,
		DuplicateWindow:  2 * time.Minute,
		Replicas:         1,
		SyncInterval:     2 * time.Minute,
		MaxInFlight:      512,
		BatchSize:        256,
		PublishTimeout:   10 * time.Second,
		RequestTimeout:   10 * time.Second,
		PollInterval:     time.Second,
		MinBackoff:       50 * time.Millisecond,
		MaxBackoff:       5 * time.Second,
		TailCacheRecords: 512,
		TailCacheBytes:   1 << 20,
		Now:              time.Now,
	}
}

// withDefaults returns a copy of c with zero fields defaulted.
func (c PublisherConfig) withDefaults() PublisherConfig {
	d := DefaultPublisherConfig()
	def := func(v *time.Duration, dv time.Duration) {
		if *v == 0 {
			*v = dv
		}
	}
	def(&c.Retention, d.Retention)
	def(&c.DuplicateWindow, d.DuplicateWindow)
	def(&c.SyncInterval, d.SyncInterval)
	def(&c.PublishTimeout, d.PublishTimeout)
	def(&c.RequestTimeout, d.RequestTimeout)
	def(&c.PollInterval, d.PollInterval)
	def(&c.MinBackoff, d.MinBackoff)
	def(&c.MaxBackoff, d.MaxBackoff)
	if c.MaxBytes == 0 {
		c.MaxBytes = d.MaxBytes
	}
	if c.Replicas == 0 {
		c.Replicas = d.Replicas
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = d.MaxInFlight
	}
	if c.BatchSize == 0 {
		c.BatchSize = d.BatchSize
	}
	if c.TailCacheRecords == 0 {
		c.TailCacheRecords = d.TailCacheRecords
	}
	if c.TailCacheBytes == 0 {
		c.TailCacheBytes = d.TailCacheBytes
	}
	if c.Now == nil {
		c.Now = d.Now
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	return c
}

// Validate reports every problem with c at once (after defaults).
func (c PublisherConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("streams: "+format, args...)) }
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"Retention", c.Retention}, {"DuplicateWindow", c.DuplicateWindow}, {"SyncInterval", c.SyncInterval},
		{"PublishTimeout", c.PublishTimeout}, {"RequestTimeout", c.RequestTimeout}, {"PollInterval", c.PollInterval},
		{"MinBackoff", c.MinBackoff}, {"MaxBackoff", c.MaxBackoff}} {
		if d.v < 0 {
			bad("%s %s is negative", d.name, d.v)
		}
	}
	if c.DuplicateWindow > c.Retention {
		bad("DuplicateWindow %s exceeds Retention %s", c.DuplicateWindow, c.Retention)
	}
	if c.MinBackoff > c.MaxBackoff {
		bad("MinBackoff %s exceeds MaxBackoff %s", c.MinBackoff, c.MaxBackoff)
	}
	if c.MaxBytes < -1 {
		bad("MaxBytes %d: want -1 (no bound) or a positive size", c.MaxBytes)
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		bad("Replicas %d out of range 1..5", c.Replicas)
	}
	if c.MaxInFlight < 1 {
		bad("MaxInFlight %d must be positive", c.MaxInFlight)
	}
	if c.BatchSize < 1 {
		bad("BatchSize %d must be positive", c.BatchSize)
	}
	if c.TailCacheRecords < -1 {
		bad("TailCacheRecords %d: want -1 (no cache) or a positive count", c.TailCacheRecords)
	}
	if c.TailCacheBytes < 0 {
		bad("TailCacheBytes %d is negative", c.TailCacheBytes)
	}
	return errors.Join(errs...)
}

// Publisher carries committed changes from the engine's outbox onto
// JetStream: one stream per table stream (label), one subject per
// partition, each partition's records in outbox order, each exactly once.
//
// Lifecycle: NewPublisher; put Listener() into engine.Config.Listener and
// open the engine; Start with the DB and a NATS connection; Stop before
// closing the engine.
//
// Delivery. Each partition has one goroutine. On (re)start, and after any
// publish failure, it reads the last record JetStream holds on the
// partition's subject and takes its Godwit-Seq (its last entry's) as the
// resume point, then publishes the outbox entries after it, consecutive
// ones together in a message (cut; PublishMsg with a reply subject of the
// worker's own, see pubAcks; no client-side retry), up to MaxInFlight
// unacknowledged messages, stopping at the first failure: an error or
// duplicate ack, no ack within PublishTimeout, or a loss of the connection
// while messages were in flight. NB: messages
// are not acknowledged one by one before the next is sent; order rests on
// NATS delivering one connection's messages in order and JetStream storing
// one stream's inbound messages in arrival order, together with (a) no
// reconnect buffering (Start requires nats.ReconnectBufSize(-1), so no
// message written before a disconnect can be overtaken by one buffered
// after it), (b) no client-side no-responders retries, and (c) a barrier
// (all acknowledged) before the first record of a different label. So if
// JetStream holds entry N of a partition it holds every entry before it,
// and resuming after the last one skips nothing; Nats-Msg-Id dedupe (keyed
// by a message's first entry, with unknown messages republished with the
// same cut) drops what a resume republishes.
//
// Trimming. An entry is deleted from the outbox only once its record was
// acknowledged SyncInterval ago (JetStream's lazy fsync); entries found in
// JetStream at a resume count as acknowledged at the resume.
//
// Labels. Streams are created when the engine reports a table change (or
// at the next poll), and before publishing a record whose stream is
// missing. When a table's stream is disabled, replaced by a new label or
// its table deleted, the old label's outbox entries are published first;
// then its JetStream stream is marked disabled (metadata MetaDisabled) and
// left to MaxAge.
type Publisher struct {
	cfg PublisherConfig
	log hclog.Logger
	m   *publisherMetrics

	rescan   chan struct{} // 1-buffered: the table list may have changed
	stopping chan struct{} // closed by Stop

	mu      sync.RWMutex
	workers map[pubKey]*pubWorker
	// incarnations is, per JetStream stream name, the creation time of
	// the stream last seen by ensureStream. A partition that sees it change
	// resyncs before its next record: the stream it published to was lost,
	// and the new one must get the partition's untrimmed outbox from the
	// start, in order.
	incarnations map[string]time.Time
	// shards hold, per partition, the signal that wakes the Streams API's
	// waiting GetRecords calls (PublishSignal) and the tail cache they read.
	shards pubShards

	// Set by Start.
	started atomic.Bool
	db      *engine.DB
	nc      *nats.Conn
	// lost counts the connection's losses (reconnecting or closed): a
	// record published before one may never be acknowledged, and counts
	// as failed at once, as nats.go's futures do.
	lost    atomic.Uint64
	js      jetstream.JetStream
	region  string
	ctx     context.Context // cancelled when Stop gives up or returns
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	stopped chan struct{} // closed when every goroutine has returned
}

type pubKey struct {
	tableID uint32
	part    int
}

// NewPublisher returns a publisher that does nothing until Start. The
// caller's PublisherConfig is not modified.
func NewPublisher(cfg PublisherConfig) (*Publisher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	m, err := newPublisherMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("streams: register metrics: %w", err)
	}
	p := &Publisher{
		cfg:          cfg,
		log:          cfg.Logger.Named("streams.publisher"),
		m:            m,
		rescan:       make(chan struct{}, 1),
		stopping:     make(chan struct{}),
		workers:      map[pubKey]*pubWorker{},
		incarnations: map[string]time.Time{},
		stopped:      make(chan struct{}),
	}
	p.shards.newTail = func(t *tailCache) {
		t.maxRecords, t.maxBytes, t.lost = max(cfg.TailCacheRecords, 0), cfg.TailCacheBytes, &p.lost
	}
	return p, nil
}

// Listener is the engine hook to put in engine.Config.Listener. Its
// callbacks never block: they only wake the publisher's goroutines.
func (p *Publisher) Listener() engine.EventListener {
	return engine.EventListener{
		ChangesCommitted: p.changesCommitted,
		TableChanged:     func(string) { poke(p.rescan) },
	}
}

func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (p *Publisher) changesCommitted(tableID uint32, part int, _ uint64, entries []engine.OutboxEntry) {
	p.mu.RLock()
	w := p.workers[pubKey{tableID, part}]
	p.mu.RUnlock()
	if w != nil {
		w.handed.add(entries)
		poke(w.wake)
		return
	}
	poke(p.rescan) // a table the publisher has not seen yet
}

// Start begins publishing db's changes over nc, which must have been
// created with nats.ReconnectBufSize(-1) and should be used by this
// publisher alone. Start returns at once; streams are created and
// partitions drained in the background, retrying while NATS is away.
func (p *Publisher) Start(db *engine.DB, nc *nats.Conn) error {
	if nc.Opts.ReconnectBufSize >= 0 {
		return errors.New("streams: the publisher's NATS connection must be created with nats.ReconnectBufSize(-1)")
	}
	if !p.started.CompareAndSwap(false, true) {
		return errors.New("streams: publisher already started")
	}
	// NB: js only manages streams and reads positions; records are
	// published on nc directly, each partition bounding its own in-flight
	// records (MaxInFlight).
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("streams: jetstream: %w", err)
	}
	if max := nc.MaxPayload(); max > 0 && max < 1<<20 {
		p.log.Warn("NATS max_payload is below 1 MiB: changes of large items cannot be published", "max-payload", max)
	}
	p.db, p.nc, p.js, p.region = db, nc, js, db.Region()
	p.ctx, p.cancel = context.WithCancel(context.Background())
	status := nc.StatusChanged(nats.RECONNECTING, nats.CLOSED)
	go p.watchConn(nc, status)
	p.wg.Add(1)
	go p.manage()
	go func() {
		p.wg.Wait()
		close(p.stopped)
	}()
	p.log.Info("publisher started", "region", p.region, "retention", p.cfg.Retention,
		"sync-interval", p.cfg.SyncInterval, "max-in-flight", p.cfg.MaxInFlight)
	return nil
}

// watchConn counts the connection's losses and wakes every worker waiting
// for acks, until the publisher has stopped.
func (p *Publisher) watchConn(nc *nats.Conn, status chan nats.Status) {
	for {
		select {
		case _, ok := <-status:
			if !ok {
				return
			}
			p.lost.Add(1)
			p.mu.RLock()
			for _, w := range p.workers {
				poke(w.acks.wake)
			}
			p.mu.RUnlock()
		case <-p.stopped:
			nc.RemoveStatusListener(status)
			return
		}
	}
}

// Stop stops the publisher: every partition first publishes what its
// outbox holds, until ctx is done; then Stop cancels what remains and
// waits for every goroutine. Call it before closing the engine (and after
// the API stopped taking writes). Unpublished entries stay in the outbox
// for the next Start. Idempotent; a publisher that never started returns
// nil.
func (p *Publisher) Stop(ctx context.Context) error {
	if !p.started.Load() {
		return nil
	}
	select {
	case <-p.stopping:
	default:
		close(p.stopping)
	}
	var err error
	select {
	case <-p.stopped:
	case <-ctx.Done():
		err = fmt.Errorf("streams: publisher drain: %w", ctx.Err())
		p.cancel()
		<-p.stopped
	}
	p.cancel()
	return err
}

// Backlog is the number of committed changes not yet known to be in
// JetStream, over every partition of every table with a stream (or a past
// one). A partition the publisher has not (re)synced yet counts its whole
// outbox head, so Backlog is 0 only once everything committed before the
// call is known to be published.
func (p *Publisher) Backlog() uint64 {
	if !p.started.Load() {
		return 0
	}
	var n uint64
	for _, info := range append(p.db.Tables(), p.db.DroppedTables()...) {
		if info.Stream == nil && info.LatestStreamLabel == "" {
			continue
		}
		for part := 0; part < info.Partitions; part++ {
			head, _ := p.db.OutboxHeadByID(info.ID, part)
			p.mu.RLock()
			w := p.workers[pubKey{info.ID, part}]
			p.mu.RUnlock()
			var done uint64
			if w != nil {
				w.head.Store(max(w.head.Load(), head))
				done = w.done.Load()
			}
			if head > done {
				n += head - done
			}
		}
	}
	return n
}

// ensureStream is ensureStream that records the stream's incarnation,
// which it returns.
func (p *Publisher) ensureStream(ctx context.Context, spec pubStreamSpec, fixLimits bool) (time.Time, error) {
	rctx, cancel := p.requestCtx(ctx)
	defer cancel()
	_, created, err := ensureStream(rctx, p.js, spec, p.cfg, fixLimits)
	if err != nil {
		return time.Time{}, err
	}
	name := StreamName(spec.table.ID, spec.label)
	p.mu.Lock()
	defer p.mu.Unlock()
	if prev, ok := p.incarnations[name]; !ok || !prev.Equal(created) {
		p.incarnations[name] = created
		if ok {
			p.log.Warn("stream was recreated; its partitions resync", "stream", name, "table", spec.table.Name)
		}
	}
	return created, nil
}

func (p *Publisher) incarnation(name string) time.Time {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.incarnations[name]
}

// requestCtx bounds one JetStream API call.
func (p *Publisher) requestCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, p.cfg.RequestTimeout)
}

// ---- one partition (a worker goroutine) ----

// pubWorker drains one partition's outbox. Its fields below the line are
// owned by its goroutine.
type pubWorker struct {
	p         *Publisher
	tableID   uint32
	table     string
	part      int
	partLabel string
	wake      chan struct{} // 1-buffered: changes were committed
	quit      chan struct{} // closed when the table is deleted
	handed    handedEntries // what the engine handed over with its notifications

	// done: every outbox entry up to it is in JetStream (or gone).
	done atomic.Uint64
	head atomic.Uint64 // outbox head at the last look

	synced   bool
	last     map[string]uint64    // label -> last Godwit-Seq JetStream holds on this partition's subject
	ensured  map[string]time.Time // label -> incarnation of its stream, known to exist
	sent     uint64               // highest entry handed to NATS (or skipped)
	inflight []pubPending
	// recut holds, in order, the spans of messages whose fate a failure
	// left unknown, to be republished with the same cuts (see cut).
	recut []pubPending
	// inflightBuf is the largest array inflight has used: inflight restarts
	// at its front whenever it empties, so draining does not regrow it.
	inflightBuf []pubPending
	prevLabel   string
	marks       []pubAckMark
	trimmed     uint64
	backoff     time.Duration
	housekept   time.Time            // wall time of the last housekeep
	batch       []engine.OutboxEntry // reused by drain
	names       map[string]*labelNames
	msg         *nats.Msg // reused by publish (PublishMsg copies it out)
	acks        pubAcks
	tail        *tailCache // nil when the cache is off
	tailRetry   time.Time  // wall time before which the tail cache is not primed again
}

// labelNames are a label's JetStream names on the worker's partition.
type labelNames struct {
	stream, subject string
	msgIDPrefix     string // MsgID without the sequence
}

// namesFor returns (and caches) label's names.
func (w *pubWorker) namesFor(label string) *labelNames {
	if n, ok := w.names[label]; ok {
		return n
	}
	if w.names == nil {
		w.names = map[string]*labelNames{}
	}
	id := MsgID(w.tableID, label, w.part, 0)
	n := &labelNames{
		stream:      StreamName(w.tableID, label),
		subject:     Subject(w.p.region, w.tableID, label, w.part),
		msgIDPrefix: id[:len(id)-1],
	}
	w.names[label] = n
	return n
}

// pubPending is a record published and not yet settled; deadline is zero
// for an entry JetStream already held (nothing to wait for), else the time
// by which its acknowledgement must have arrived.
type pubPending struct {
	first    uint64 // the message's first entry; 0 for an entry not published
	seq      uint64 // the message's last entry
	label    string
	created  int64
	deadline time.Time
	lost     uint64 // Publisher.lost when published
}

// pubAckMark: entries up to seq were acknowledged by at (the last ack
// merged into the mark); start is when the mark was opened.
type pubAckMark struct {
	seq       uint64
	start, at time.Time
}

func (w *pubWorker) backlog() uint64 {
	h, d := w.head.Load(), w.done.Load()
	if h > d {
		return h - d
	}
	return 0
}

func (w *pubWorker) logger() hclog.Logger {
	return w.p.log.With("table", w.table, "partition", w.part)
}

func (w *pubWorker) run() {
	defer w.p.wg.Done()
	defer w.acks.close()
	defer w.unsync()
	p := w.p
	tick := time.NewTicker(p.cfg.PollInterval)
	defer tick.Stop()
	for {
		err := w.drain(p.ctx)
		w.housekeep()
		if p.ctx.Err() != nil {
			return
		}
		if err != nil {
			p.m.errors.WithLabelValues(w.table).Inc()
			w.backoff = min(max(2*w.backoff, p.cfg.MinBackoff), p.cfg.MaxBackoff)
			w.logger().Warn("publish failed; resuming from JetStream after a pause", "error", err, "backoff", w.backoff)
			w.unsync()
			t := time.NewTimer(w.backoff)
			select {
			case <-p.ctx.Done():
				t.Stop()
				return
			case <-w.quit:
				t.Stop()
				return
			case <-p.stopping:
				t.Stop()
				w.finalDrain()
				return
			case <-t.C:
				continue
			}
		}
		w.backoff = 0
		select {
		case <-p.ctx.Done():
			return
		case <-w.quit:
			return
		case <-p.stopping:
			w.finalDrain()
			return
		case <-w.wake:
		case <-tick.C:
		}
	}
}

// finalDrain publishes what the outbox holds at Stop, bounded by Stop's
// context (which cancels p.ctx).
func (w *pubWorker) finalDrain() {
	if err := w.drain(w.p.ctx); err != nil && w.p.ctx.Err() == nil {
		w.logger().Warn("final drain failed; the outbox keeps the rest", "error", err)
	}
	w.housekeep()
}

// drain publishes the outbox's entries until it has none left, or fails.
// On success nothing is in flight.
func (w *pubWorker) drain(ctx context.Context) error {
	db := w.p.db
	if !w.synced {
		if err := w.resync(ctx); err != nil {
			return err
		}
	}
	for {
		if !w.live() {
			return w.settleAll(ctx) // the table is gone; the manager stops us
		}
		head, _ := db.OutboxHeadByID(w.tableID, w.part)
		w.head.Store(head)
		// NB: Pebble makes a batch readable before its WAL sync completes,
		// so the outbox can show entries that a crash would still undo (and
		// whose sequence numbers the restarted engine would then reuse for
		// other changes, which JetStream would drop as duplicates). Only
		// entries up to OutboxHead, which the engine advances after the
		// commit returned, are durable and may be published.
		// NB: what the engine handed over when it committed (the usual
		// case when keeping up), else read back from the outbox.
		batch := w.handed.take(w.sent, head, w.p.cfg.BatchSize, w.batch[:0])
		var err error
		if len(batch) == 0 {
			batch, err = db.ReadOutboxRaw(w.tableID, w.part, w.sent, head, w.p.cfg.BatchSize, batch)
		}
		w.batch = batch[:0]
		if err != nil {
			return fmt.Errorf("read outbox: %w", err)
		}
		if len(batch) == 0 {
			if err := w.settleAll(ctx); err != nil {
				return err
			}
			// Nothing after sent existed when head was read.
			w.advanceDone(max(w.sent, head))
			return nil
		}
		for i := 0; i < len(batch); {
			n, err := w.publish(ctx, batch[i:])
			clear(batch[i : i+n]) // NB: the reused slice must not pin the data
			if err != nil || n == 0 {
				clear(batch[i:])
				if err != nil {
					return err
				}
				break // the next read starts at w.sent+1
			}
			i += n
		}
		// NB: under a steady stream of writes drain does not return;
		// trimming and the backlog gauge must not wait for a quiet moment.
		if now := time.Now(); now.Sub(w.housekept) >= w.p.cfg.PollInterval {
			w.housekeep()
		}
	}
}

// handedEntries queues the outbox entries the engine hands over with its
// notifications (engine.EventListener), so that a worker keeping up
// publishes them without reading them back from Pebble. It holds the
// latest maxHanded entries and maxHandedBytes of them at most: a worker
// that fell behind (NATS away) reads the outbox.
type handedEntries struct {
	mu      sync.Mutex
	entries []engine.OutboxEntry
	bytes   int    // of the entries' Data
	taken   uint64 // how many were taken, for tests
}

// maxHanded and maxHandedBytes bound a worker's handed entries.
const (
	maxHanded      = 8192
	maxHandedBytes = 1 << 20
)

// add queues entries (consecutive, each notification's after the last
// one's). A gap or an overflow drops what was queued before; entries that
// alone exceed the bounds are not queued.
func (h *handedEntries) add(entries []engine.OutboxEntry) {
	if len(entries) == 0 {
		return
	}
	size := 0
	for i := range entries {
		size += len(entries[i].Data)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	n := len(h.entries)
	if n > 0 && (h.entries[n-1].Seq+1 != entries[0].Seq || n+len(entries) > maxHanded || h.bytes+size > maxHandedBytes) {
		h.clear()
	}
	if len(entries) > maxHanded || size > maxHandedBytes {
		return
	}
	h.entries = append(h.entries, entries...)
	h.bytes += size
}

// clear drops every queued entry. Called with mu held.
func (h *handedEntries) clear() {
	clear(h.entries)
	h.entries, h.bytes = h.entries[:0], 0
	if cap(h.entries) > maxHanded {
		h.entries = nil // NB: do not keep a large array for ever
	}
}

// take appends to dst the queued entries after+1, after+2, ... up to upto
// and at most max of them, and drops them and those before from the
// queue. It appends nothing unless the queue holds after+1.
func (h *handedEntries) take(after, upto uint64, max int, dst []engine.OutboxEntry) []engine.OutboxEntry {
	h.mu.Lock()
	defer h.mu.Unlock()
	q := h.entries
	i := 0
	for i < len(q) && q[i].Seq <= after {
		i++
	}
	j := i
	for j < len(q) && j-i < max && q[j].Seq <= upto && q[j].Seq == after+uint64(j-i)+1 {
		j++
	}
	dst = append(dst, q[i:j]...)
	h.taken += uint64(j - i)
	for k := range j {
		h.bytes -= len(q[k].Data)
	}
	// NB: the taken entries are the caller's now; the queue keeps no
	// reference to them.
	n := copy(q, q[j:])
	clear(q[n:])
	h.entries = q[:n]
	return dst
}

// live reports whether the worker's table still exists, or was deleted
// with an outbox still to publish (engine.DroppedTables).
func (w *pubWorker) live() bool {
	_, ok := w.p.db.TableByID(w.tableID)
	return ok
}

// outboxHead is the partition's outbox head, false once the table is gone.
func (w *pubWorker) outboxHead() (uint64, bool) {
	return w.p.db.OutboxHeadByID(w.tableID, w.part)
}

func (w *pubWorker) advanceDone(v uint64) {
	if v > w.done.Load() {
		w.done.Store(v)
	}
}

// resync establishes the resume point from JetStream: the highest
// Godwit-Seq on this partition's subjects of the table's current and
// latest labels. By the ordering argument of Publisher, every entry up to
// it is in JetStream. Entries of other labels are checked one by one as
// they are met (lastFor).
func (w *pubWorker) resync(ctx context.Context) error {
	w.unsync()
	w.last = map[string]uint64{}
	w.ensured = map[string]time.Time{}
	info, ok := w.p.db.TableByID(w.tableID)
	if !ok {
		return nil // deleted and published; drain sees it
	}
	var from uint64
	for _, label := range []string{streamLabelOf(info), info.LatestStreamLabel} {
		if label == "" {
			continue
		}
		n, err := w.lastFor(ctx, label)
		if err != nil {
			return err
		}
		from = max(from, n)
	}
	if head, _ := w.p.db.OutboxHeadByID(w.tableID, w.part); from > head {
		// NB: the records beyond the head are not this outbox's (a data
		// directory replaced under a kept NATS store?); the partition's
		// next changes will be taken for published ones until it passes them.
		w.logger().Error("JetStream holds records beyond the outbox head", "jetstream-seq", from, "outbox-head", head)
	}
	w.sent = from
	w.prevLabel = ""
	w.acked(from)
	w.synced = true
	return nil
}

func streamLabelOf(info engine.TableInfo) string {
	if info.Stream == nil {
		return ""
	}
	return info.Stream.Label
}

// unsync forgets the in-memory position after waiting (bounded by the
// publish timeout) for every record in flight to settle, so that none of
// them can be stored after the next resync has read JetStream's position.
func (w *pubWorker) unsync() {
	for _, e := range w.inflight {
		if !e.deadline.IsZero() {
			if ack, err := w.acks.wait(w.p.ctx, e.seq, e.deadline, e.lost); err != nil || ack.duplicate {
				w.remember(e)
			}
		}
	}
	w.inflight = nil
	w.acks.newEpoch() // NB: acks still on their way are dropped
	w.synced = false
	if w.tail != nil {
		w.tail.invalidate()
		w.tailRetry = time.Time{}
	}
}

// lastFor is the last Godwit-Seq JetStream holds for label on this
// partition's subject, read once per resync.
func (w *pubWorker) lastFor(ctx context.Context, label string) (uint64, error) {
	if n, ok := w.last[label]; ok {
		return n, nil
	}
	rctx, cancel := w.p.requestCtx(ctx)
	defer cancel()
	n, err := lastPublished(rctx, w.p.js, StreamName(w.tableID, label), Subject(w.p.region, w.tableID, label, w.part))
	if err != nil {
		return 0, err
	}
	w.last[label] = n
	return n, nil
}

// publish hands the first of entries to NATS, together with as many of
// the following ones as one message may carry (cut), or skips it if
// JetStream holds it. It returns how many entries it consumed (at least
// one unless it fails).
func (w *pubWorker) publish(ctx context.Context, entries []engine.OutboxEntry) (int, error) {
	c := &entries[0]
	label := c.StreamLabel
	if label == "" {
		w.logger().Warn("outbox entry without a stream label; skipped", "seq", c.Seq)
		w.sent = c.Seq
		w.addInflight(pubPending{seq: c.Seq})
		return 1, nil
	}
	last, err := w.lastFor(ctx, label)
	if err != nil {
		return 0, err
	}
	if c.Seq <= last {
		w.sent = c.Seq
		if len(w.inflight) == 0 {
			w.acked(c.Seq)
		} else {
			w.addInflight(pubPending{seq: c.Seq, label: label})
		}
		return 1, nil
	}
	if label != w.prevLabel {
		// Barrier: the previous label's records are all acknowledged
		// before the first of this one is sent.
		if err := w.settleAll(ctx); err != nil {
			return 0, err
		}
		w.prevLabel = label
		w.tailRetry = time.Time{} // NB: a new label's tail cache is primed at once
	}
	if err := w.ensure(ctx, label); err != nil {
		return 0, err
	}
	for len(w.inflight) >= w.p.cfg.MaxInFlight {
		if err := w.settleOne(ctx); err != nil {
			return 0, err
		}
	}
	if err := w.acks.subscribe(w.p.nc); err != nil {
		return 0, err
	}
	n := w.cut(entries)
	if n == 0 {
		return 0, nil
	}
	first, lastSeq := c.Seq, entries[n-1].Seq
	names := w.namesFor(label)
	seq := strconv.FormatUint(lastSeq, 10)
	// NB: the body is the outbox entries' stored bytes, which are the
	// Changes' AppendBinary encodings, framed when there are several
	// (layout.go). The message is published with a plain PublishMsg,
	// never retried by the client (a delayed retry could land after later
	// records), and its ack comes back on the worker's own reply subject
	// (pubAcks), keyed by its last record's sequence.
	msg := w.msg
	if msg == nil {
		msg = &nats.Msg{Header: nats.Header{
			HeaderMsgID:                    {""},
			HeaderOrigin:                   {""},
			HeaderSeq:                      {""},
			HeaderLayout:                   {layoutVersion},
			jetstream.ExpectedStreamHeader: {""},
		}}
		w.msg = msg
	}
	msg.Subject, msg.Reply = names.subject, w.acks.reply(lastSeq)
	if n == 1 {
		msg.Data = c.Data
		delete(msg.Header, HeaderCount)
	} else {
		size := 0
		for i := range n {
			size += binary.MaxVarintLen32 + len(entries[i].Data)
		}
		// NB: a fresh body per message: the tail cache keeps it.
		body := make([]byte, 0, size)
		for i := range n {
			body = AppendRecord(body, entries[i].Data)
		}
		msg.Data = body
		msg.Header[HeaderCount] = []string{strconv.Itoa(n)}
	}
	msg.Header[HeaderMsgID][0] = names.msgIDPrefix + strconv.FormatUint(first, 10)
	msg.Header[HeaderOrigin][0] = c.Origin
	msg.Header[HeaderSeq][0] = seq
	msg.Header[jetstream.ExpectedStreamHeader][0] = names.stream
	pending := pubPending{first: first, seq: lastSeq, label: label, created: c.CreatedAt}
	if w.tail != nil {
		if err := w.track(ctx, names, lastSeq, msg); err != nil {
			msg.Data = nil
			return 0, err
		}
	}
	lost := w.p.lost.Load() // NB: before the publish, so a loss during it counts
	err = w.p.nc.PublishMsg(msg)
	msg.Data = nil // NB: PublishMsg copied it; do not pin it
	if err != nil {
		if w.tail != nil {
			w.tail.invalidate()
		}
		w.remember(pending) // NB: it may have left, in part or whole
		return 0, fmt.Errorf("publish seq %d-%d: %w", first, lastSeq, err)
	}
	w.sent = lastSeq
	pending.deadline, pending.lost = time.Now().Add(w.p.cfg.PublishTimeout), lost
	w.addInflight(pending)
	return n, nil
}

// maxMessageBytes bounds the body of a message of several records (a
// record larger than it travels alone); NATS's default max_payload is 1 MiB.
const maxMessageBytes = 256 << 10

// cut is how many of entries (the first to be published, the rest
// following it in the outbox) go into one message: consecutive entries of
// the first's label and origin, at most MaxRecordsPerMessage and
// BatchSize of them and maxMessageBytes of body.
//
// After a failure, messages whose fate was unknown are republished with
// the same cuts (recut), so that JetStream's dedupe, keyed by a message's
// first record, recognises each of them if its first copy was stored
// after all: a message never starts inside, or runs across the start of,
// a remembered one.
func (w *pubWorker) cut(entries []engine.OutboxEntry) int {
	c := &entries[0]
	for len(w.recut) > 0 && w.recut[0].seq < c.Seq {
		w.recut = w.recut[1:]
	}
	limit := min(len(entries), MaxRecordsPerMessage, w.p.cfg.BatchSize)
	if len(w.recut) > 0 && w.recut[0].first == c.Seq {
		r := w.recut[0]
		n := int(r.seq - r.first + 1)
		if n <= len(entries) && entries[n-1].Seq == r.seq {
			w.recut = w.recut[1:]
			return n
		}
		if n <= w.p.cfg.BatchSize && len(entries) < n {
			return 0 // NB: the span runs past this read; the next one starts with it
		}
		// NB: cannot happen (the span's entries are durable, untrimmed and
		// fit one read); publishing another cut is still exactly-once, as
		// a duplicate ack makes the worker resync.
		w.recut = w.recut[1:]
	}
	size := len(c.Data)
	n := 1
	for ; n < limit; n++ {
		e := &entries[n]
		if e.StreamLabel != c.StreamLabel || e.Origin != c.Origin || e.Seq != c.Seq+uint64(n) {
			break
		}
		if len(w.recut) > 0 && w.recut[0].first == e.Seq {
			break
		}
		if size += len(e.Data) + binary.MaxVarintLen32; size > maxMessageBytes {
			break
		}
	}
	return n
}

// remember keeps the span of a message whose fate is unknown (see cut).
func (w *pubWorker) remember(e pubPending) {
	if e.first == 0 {
		return
	}
	i := sort.Search(len(w.recut), func(i int) bool { return w.recut[i].first >= e.first })
	if i < len(w.recut) && w.recut[i].first == e.first {
		return
	}
	w.recut = slices.Insert(w.recut, i, e)
}

var errRecreated = errors.New("streams: the stream was recreated; resyncing")

// errDuplicate: JetStream acknowledged a message as a duplicate.
var errDuplicate = errors.New("streams: JetStream already held a message starting there; resyncing")

// ensure makes sure label's JetStream stream exists, once per resync, and
// fails with errRecreated when the publisher has seen another incarnation
// of it since.
func (w *pubWorker) ensure(ctx context.Context, label string) error {
	if inc, ok := w.ensured[label]; ok {
		if !w.p.incarnation(w.namesFor(label).stream).Equal(inc) {
			return errRecreated
		}
		return nil
	}
	info, ok := w.p.db.TableByID(w.tableID)
	if !ok {
		return fmt.Errorf("table %s was deleted", w.table)
	}
	spec := pubStreamSpec{region: w.p.region, table: info, label: label}
	switch {
	case info.Stream != nil && info.Stream.Label == label:
		spec.viewType = info.Stream.ViewType
	case info.LatestStreamLabel == label:
		spec.viewType = info.LatestStreamViewType
	}
	inc, err := w.p.ensureStream(ctx, spec, false)
	if err != nil {
		return err
	}
	w.ensured[label] = inc
	return nil
}

// addInflight appends e to the records in flight.
func (w *pubWorker) addInflight(e pubPending) {
	w.inflight = append(w.inflight, e)
	if cap(w.inflight) > cap(w.inflightBuf) {
		w.inflightBuf = w.inflight[:0:cap(w.inflight)]
	}
}

// settleOne waits for the oldest record in flight.
func (w *pubWorker) settleOne(ctx context.Context) error {
	e := w.inflight[0]
	var ack pubAck
	if !e.deadline.IsZero() {
		var err error
		if ack, err = w.acks.wait(ctx, e.seq, e.deadline, e.lost); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// NB: settled (answered or timed out): drop it, or unsync
			// would wait for it again.
			w.inflight = w.inflight[1:]
			w.remember(e)
			return fmt.Errorf("publish seq %d-%d: %w", e.first, e.seq, err)
		}
	}
	w.inflight = w.inflight[1:]
	if len(w.inflight) == 0 {
		w.inflight = w.inflightBuf[:0]
	}
	if ack.duplicate {
		// NB: JetStream holds a message that starts at the same entry, but
		// not necessarily one that ends at the same entry (one cut by an
		// earlier incarnation of this worker): only a resync knows what
		// it holds.
		w.p.m.duplicates.WithLabelValues(w.table).Inc()
		return fmt.Errorf("publish seq %d-%d: %w", e.first, e.seq, errDuplicate)
	}
	if e.label != "" {
		w.last[e.label] = e.seq
	}
	w.acked(e.seq)
	if !e.deadline.IsZero() {
		now := w.p.cfg.Now()
		w.p.m.published.WithLabelValues(w.table).Add(float64(e.seq - e.first + 1))
		w.p.m.latency.Observe(now.Sub(time.Unix(0, e.created)).Seconds())
	}
	return nil
}

func (w *pubWorker) settleAll(ctx context.Context) error {
	for len(w.inflight) > 0 {
		if err := w.settleOne(ctx); err != nil {
			return err
		}
	}
	return nil
}

// acked records that entries up to seq are in JetStream as of now.
func (w *pubWorker) acked(seq uint64) {
	w.advanceDone(seq)
	now := w.p.cfg.Now()
	// NB: marks are coalesced (SyncInterval/16 wide) to bound memory at
	// high rates; a mark's time is its latest ack, so trimming is never early.
	if n := len(w.marks); n > 0 && now.Sub(w.marks[n-1].start) < w.p.cfg.SyncInterval/16 {
		w.marks[n-1].seq, w.marks[n-1].at = max(w.marks[n-1].seq, seq), now
		return
	}
	w.marks = append(w.marks, pubAckMark{seq: seq, start: now, at: now})
}

// housekeep trims the outbox of entries acknowledged SyncInterval ago and
// refreshes the backlog gauge.
func (w *pubWorker) housekeep() {
	p := w.p
	w.housekept = time.Now()
	cutoff := p.cfg.Now().Add(-p.cfg.SyncInterval)
	var upto uint64
	i := 0
	for ; i < len(w.marks) && !w.marks[i].at.After(cutoff); i++ {
		upto = max(upto, w.marks[i].seq)
	}
	w.marks = w.marks[i:]
	if upto > w.trimmed {
		if err := p.db.TrimOutbox(w.tableID, w.part, upto); err != nil {
			w.logger().Warn("outbox trim failed; will retry", "upto", upto, "error", err)
			w.marks = append([]pubAckMark{{seq: upto, start: cutoff, at: cutoff}}, w.marks...)
		} else {
			w.trimmed = upto
			p.m.trimmed.WithLabelValues(w.table).Inc()
		}
	}
	if h, ok := w.outboxHead(); ok {
		w.head.Store(h)
		p.m.backlog.WithLabelValues(w.table, w.partLabel).Set(float64(w.backlog()))
	}
}
