package sinks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/godwit-db/godwit/internal/backoff"
	"github.com/godwit-db/godwit/sinks/filter"
	"github.com/godwit-db/godwit/streams"
	"github.com/hashicorp/go-hclog"
)

// Consumer states (ConsumerStatus.State).
const (
	StateDisabled = "disabled" // Enabled is false: nothing is read, the checkpoint is kept
	StateStarting = "starting"
	StateWaiting  = "waiting" // the table has no stream (or no next stream) yet
	StateRunning  = "running"
	StateFailing  = "failing" // some shard is retrying a failed batch
	StateStopped  = "stopped"
)

// Consumer runs one event source mapping: it reads its table's stream
// from the local JetStream, shard by shard in order, batches, filters and
// delivers the records to its Target with Lambda's retry, bisect,
// partial-failure, on-failure and tumbling-window rules, and checkpoints
// in a JetStream KV bucket after each delivery. See the package doc.
//
// Start, Close and Status are safe for concurrent use.
type Consumer struct {
	cfg    ConsumerConfig
	log    hclog.Logger
	m      *metrics
	filter *filter.Filter
	fail   failureSink
	arn    string // the functionArn of failure records

	cps    *checkpoints
	cancel context.CancelFunc
	done   chan struct{}

	saveMu    sync.Mutex // serializes checkpoint writes
	lastSaved []byte

	mu        sync.Mutex // guards the fields below
	cp        *Checkpoint
	state     string
	stream    streams.TableStream
	lastErr   string
	lastErrAt time.Time
	failing   map[*slot]bool
	ages      map[int]float64 // per partition: iterator age in seconds
}

// NewConsumer checks cfg and builds a Consumer; Start runs it. The
// caller's config is not modified.
func NewConsumer(cfg ConsumerConfig) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	f, err := filter.Compile(cfg.FilterPatterns)
	if err != nil {
		return nil, fmt.Errorf("sinks: consumer %q: FilterCriteria: %w", cfg.Name, err)
	}
	fail, err := newFailureSink(cfg.OnFailureDestination, cfg.JetStream)
	if err != nil {
		return nil, fmt.Errorf("sinks: consumer %q: %w", cfg.Name, err)
	}
	c := &Consumer{
		cfg:     cfg,
		log:     cfg.Logger.Named("sinks").With("consumer", cfg.Name, "table", cfg.Table),
		m:       newMetrics(cfg.Registerer, cfg.Name),
		filter:  f,
		fail:    fail,
		arn:     fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", cfg.Region, cfg.Account, cfg.Name),
		state:   StateStopped,
		failing: map[*slot]bool{},
		ages:    map[int]float64{},
	}
	if r, ok := cfg.Target.(HandlerRestartReporter); ok {
		r.SetHandlerRestartHook(c.m.restarts.Inc)
	}
	return c, nil
}

// Start starts the consumer, which runs until Close. It first opens the
// checkpoint bucket and loads its checkpoint, retrying with backoff while
// NATS does not answer (state "starting"); a disabled consumer only loads
// its checkpoint (for Status). ctx is not used after Start returns.
func (c *Consumer) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	c.mu.Lock()
	c.cancel, c.done = cancel, make(chan struct{})
	c.state = StateStarting
	c.mu.Unlock()
	go c.run(runCtx)
	return nil
}

// open opens the checkpoint bucket and loads the checkpoint, retrying
// until it succeeds or ctx is done.
func (c *Consumer) open(ctx context.Context) bool {
	bo := backoff.New(c.cfg.RetryMin, c.cfg.RetryMax)
	for {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		cps, err := openCheckpoints(actx, c.cfg.JetStream, c.cfg.Bucket)
		var cp *Checkpoint
		if err == nil {
			cp, err = cps.load(actx, c.cfg.Name)
		}
		cancel()
		if err == nil {
			c.mu.Lock()
			c.cps, c.cp = cps, cp
			c.mu.Unlock()
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		c.noteError(err)
		c.log.Warn("cannot load the checkpoint; retrying", "error", err, "backoff", bo.Delay())
		if !bo.Wait(ctx) {
			return false
		}
	}
}

// Close stops the consumer and waits for it. A batch in flight is
// abandoned (its Deliver's ctx is cancelled) and not checkpointed: the
// next start delivers it again.
func (c *Consumer) Close() error {
	c.mu.Lock()
	cancel, done := c.cancel, c.done
	c.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	<-done
	c.setState(StateStopped)
	return nil
}

// Name is the consumer's name.
func (c *Consumer) Name() string { return c.cfg.Name }

func (c *Consumer) run(ctx context.Context) {
	defer close(c.done)
	if !c.open(ctx) {
		return
	}
	if !c.cfg.Enabled {
		c.setState(StateDisabled)
		c.log.Info("consumer disabled; its checkpoint is kept")
		<-ctx.Done()
		return
	}
	bo := backoff.New(c.cfg.RetryMin, c.cfg.RetryMax)
	for ctx.Err() == nil {
		err := c.step(ctx)
		if err == nil {
			bo.Reset()
			continue
		}
		if ctx.Err() != nil {
			return
		}
		c.noteError(err)
		c.log.Warn("consumer step failed; retrying", "error", err, "backoff", bo.Delay())
		if !bo.Wait(ctx) {
			return
		}
	}
}

// step reads one table stream (the checkpoint's, or the newest when there
// is no checkpoint) to its end, then moves the checkpoint to the next
// stream of the table.
func (c *Consumer) step(ctx context.Context) error {
	c.mu.Lock()
	cp := c.cp
	c.mu.Unlock()
	var ts streams.TableStream
	if cp == nil {
		c.setState(StateWaiting)
		var err error
		ts, err = c.waitStream(ctx, func(all []streams.TableStream) (streams.TableStream, bool) {
			var best streams.TableStream
			var ok bool
			for _, s := range all {
				if !ok || streamAfter(s, best) {
					best, ok = s, true
				}
			}
			return best, ok
		})
		if err != nil {
			return err
		}
	} else {
		all, err := c.tableStreams(ctx)
		if err != nil {
			return err
		}
		found := false
		for _, s := range all {
			if s.Name == cp.Stream {
				ts, found = s, true
			}
		}
		if !found {
			// NB: the checkpointed stream is gone (deleted after its
			// retention, or by hand): what it held past the checkpoint is
			// lost. Carry on with the next stream of the table.
			c.setState(StateWaiting)
			next, err := c.waitStream(ctx, nextAfter(cp.Label, cp.TableID))
			if err != nil {
				return err
			}
			c.log.Warn("checkpointed stream no longer exists; moving to the next stream of the table",
				"stream", cp.Stream, "next", next.Name)
			c.noteError(fmt.Errorf("stream %s of the checkpoint no longer exists; records past the checkpoint may be lost", cp.Stream))
			return c.moveTo(ctx, next)
		}
	}
	if err := c.readStream(ctx, ts, cp); err != nil {
		return err
	}
	c.log.Info("stream drained; waiting for the table's next stream", "stream", ts.Name)
	c.setState(StateWaiting)
	next, err := c.waitStream(ctx, nextAfter(ts.Label, ts.TableID))
	if err != nil {
		return err
	}
	return c.moveTo(ctx, next)
}

// moveTo checkpoints the start (TRIM_HORIZON) of stream ts.
func (c *Consumer) moveTo(ctx context.Context, ts streams.TableStream) error {
	c.mu.Lock()
	c.cp = newCheckpoint(ts)
	c.mu.Unlock()
	return c.save(ctx)
}

func newCheckpoint(ts streams.TableStream) *Checkpoint {
	return &Checkpoint{
		Version: checkpointVersion, Table: ts.Table, Stream: ts.Name, Label: ts.Label, TableID: ts.TableID,
		Shards: map[string]ShardCheckpoint{},
	}
}

// streamAfter orders a table's streams: by label, then table id (a table
// deleted and re-created within the same millisecond).
func streamAfter(a, b streams.TableStream) bool {
	if a.Label != b.Label {
		return a.Label > b.Label
	}
	return a.TableID > b.TableID
}

// nextAfter picks the oldest stream after (label, id).
func nextAfter(label string, id uint32) func([]streams.TableStream) (streams.TableStream, bool) {
	ref := streams.TableStream{Label: label, TableID: id}
	return func(all []streams.TableStream) (streams.TableStream, bool) {
		var best streams.TableStream
		var ok bool
		for _, s := range all {
			if streamAfter(s, ref) && (!ok || streamAfter(best, s)) {
				best, ok = s, true
			}
		}
		return best, ok
	}
}

// tableStreams lists the local region's streams of the consumer's table.
func (c *Consumer) tableStreams(ctx context.Context) ([]streams.TableStream, error) {
	all, err := streams.ListTableStreams(ctx, c.cfg.JetStream, c.cfg.Region)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, s := range all {
		if s.Table == c.cfg.Table {
			out = append(out, s)
		}
	}
	return out, nil
}

// waitStream polls the table's streams until pick chooses one.
func (c *Consumer) waitStream(ctx context.Context, pick func([]streams.TableStream) (streams.TableStream, bool)) (streams.TableStream, error) {
	for {
		all, err := c.tableStreams(ctx)
		if err != nil {
			c.log.Warn("list table streams failed", "error", err)
		} else if s, ok := pick(all); ok {
			return s, nil
		}
		if !backoff.Sleep(ctx, c.cfg.DiscoverInterval) {
			return streams.TableStream{}, ctx.Err()
		}
	}
}

// readStream reads every shard of ts from cp (nil: from StartingPosition)
// until all of them end (nil) or ctx is done.
func (c *Consumer) readStream(ctx context.Context, ts streams.TableStream, cp *Checkpoint) error {
	src, err := streams.NewJetStreamSource(ctx, c.cfg.JetStream, ts.Name, c.cfg.Source)
	if err != nil {
		return err
	}
	shards, err := src.Shards(ctx)
	if err != nil {
		return err
	}
	var retention time.Duration
	if st, err := c.cfg.JetStream.Stream(ctx, ts.Name); err == nil {
		retention = st.CachedInfo().Config.MaxAge
	}
	from := streams.TrimHorizon
	if cp == nil && c.cfg.StartingPosition == Latest {
		from = streams.Latest
	}
	next := newCheckpoint(ts)
	if cp != nil {
		maps.Copy(next.Shards, cp.Shards)
	}
	// NB: every shard is opened, and the positions saved, before any is
	// read, so that LATEST means "after what the stream held at the first
	// start" even across a restart before the first record.
	readers := make([]streams.ShardReader, len(shards))
	closeAll := func() {
		for _, r := range readers {
			if r != nil {
				_ = r.Close()
			}
		}
	}
	for i, sh := range shards {
		after := next.shard(sh.Partition).Seq
		r, start, err := src.Open(ctx, sh, from, after)
		if errors.Is(err, streams.ErrTrimmed) {
			c.log.Error("checkpoint older than the stream's oldest record: records were lost; continuing from the oldest", "shard", sh.ID, "error", err)
			c.noteError(err)
			r, start, err = src.Open(ctx, sh, streams.TrimHorizon, 0)
		}
		if err != nil {
			closeAll()
			return err
		}
		readers[i] = r
		sc := next.shard(sh.Partition)
		sc.Seq = max(sc.Seq, start)
		next.Shards[strconv.Itoa(sh.Partition)] = sc
	}
	c.mu.Lock()
	c.cp = next
	c.stream = ts
	c.mu.Unlock()
	if err := c.save(ctx); err != nil {
		closeAll()
		return err
	}
	c.setState(StateRunning)
	c.log.Info("reading stream", "stream", ts.Name, "shards", len(shards))
	var wg sync.WaitGroup
	for i, sh := range shards {
		sr := newShardRun(c, src, ts, sh, retention, next.shard(sh.Partition))
		wg.Add(1)
		go func() {
			defer wg.Done()
			sr.run(ctx, readers[i])
		}()
	}
	wg.Wait()
	return ctx.Err()
}

// advance records that partition p is done through seq (and, when
// setWin, that its open window is now win), then saves the checkpoint.
func (c *Consumer) advance(ctx context.Context, p int, seq uint64, setWin bool, win *WindowCheckpoint) {
	c.mu.Lock()
	if c.cp == nil {
		c.mu.Unlock()
		return
	}
	key := strconv.Itoa(p)
	sc := c.cp.Shards[key]
	changed := seq > sc.Seq
	sc.Seq = max(sc.Seq, seq)
	if setWin {
		sc.Window = win
		changed = true
	}
	c.cp.Shards[key] = sc
	c.mu.Unlock()
	if !changed {
		return
	}
	if err := c.save(ctx); err != nil && ctx.Err() == nil {
		c.noteError(err)
		c.log.Warn("checkpoint not saved; the next save includes it", "error", err)
	}
}

// save writes the current checkpoint (when it changed since the last write).
func (c *Consumer) save(ctx context.Context) error {
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	c.mu.Lock()
	if c.cp == nil {
		c.mu.Unlock()
		return nil
	}
	c.cp.Version = checkpointVersion
	b, err := json.Marshal(c.cp)
	c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("sinks: encode checkpoint: %w", err)
	}
	if bytes.Equal(b, c.lastSaved) {
		return nil
	}
	// NB: a context of its own: a checkpoint for a delivery that returned
	// must not be lost to a Close racing with it.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := c.cps.put(sctx, c.cfg.Name, b); err != nil {
		return err
	}
	c.lastSaved = b
	return nil
}

func (c *Consumer) setState(s string) {
	c.mu.Lock()
	c.state = s
	c.mu.Unlock()
}

func (c *Consumer) noteError(err error) {
	c.mu.Lock()
	c.lastErr, c.lastErrAt = err.Error(), c.cfg.Clock.Now()
	c.mu.Unlock()
}

// setFailing marks slot s as retrying a failed batch (err) or, with err
// nil, as healthy again.
func (c *Consumer) setFailing(s *slot, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		delete(c.failing, s)
		return
	}
	c.failing[s] = true
	c.lastErr, c.lastErrAt = err.Error(), c.cfg.Clock.Now()
}

// setAge records partition p's iterator age and publishes the largest.
func (c *Consumer) setAge(p int, age float64) {
	c.mu.Lock()
	c.ages[p] = age
	var m float64
	for _, a := range c.ages {
		m = max(m, a)
	}
	c.mu.Unlock()
	c.m.iteratorAge.Set(m)
}

// ConsumerStatus is a consumer's state as `godwit consumers` shows it.
type ConsumerStatus struct {
	Name    string `json:"Name"`
	Table   string `json:"Table"`
	Enabled bool   `json:"Enabled"`
	// State is disabled, starting, waiting, running, failing or stopped.
	State string `json:"State"`
	// StreamARN and StreamLabel name the stream being read ("" before one).
	StreamARN   string `json:"StreamArn,omitempty"`
	StreamLabel string `json:"StreamLabel,omitempty"`
	// Shards are the checkpointed positions, by shard.
	Shards []ShardStatus `json:"Shards"`
	// IteratorAgeSeconds is AWS's IteratorAge: now minus the
	// ApproximateCreationDateTime of the last record read, when it was
	// read; 0 when every shard is caught up. The largest over the shards.
	IteratorAgeSeconds float64 `json:"IteratorAgeSeconds"`
	// LastError is the last delivery, destination or stream error ("" if none).
	LastError   string    `json:"LastError,omitempty"`
	LastErrorAt time.Time `json:"LastErrorAt,omitzero"`
}

// ShardStatus is one shard's checkpoint.
type ShardStatus struct {
	ShardID string `json:"ShardId"`
	// SequenceNumber is the checkpoint: every record up to it is done.
	SequenceNumber     string  `json:"SequenceNumber"`
	IteratorAgeSeconds float64 `json:"IteratorAgeSeconds"`
}

// Status returns the consumer's current state.
func (c *Consumer) Status() ConsumerStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := ConsumerStatus{
		Name: c.cfg.Name, Table: c.cfg.Table, Enabled: c.cfg.Enabled, State: c.state,
		LastError: c.lastErr, LastErrorAt: c.lastErrAt, Shards: []ShardStatus{},
	}
	if st.State == StateRunning && len(c.failing) > 0 {
		st.State = StateFailing
	}
	if c.cp != nil {
		ts := c.stream
		if ts.Name != c.cp.Stream {
			ts = streams.TableStream{Name: c.cp.Stream, Table: c.cp.Table, Label: c.cp.Label, Region: c.cfg.Region}
		}
		st.StreamLabel = ts.Label
		st.StreamARN = streams.StreamARN(c.cfg.Region, c.cfg.Account, c.cfg.Table, ts.Label)
		parts := make([]int, 0, len(c.cp.Shards))
		for k := range c.cp.Shards {
			p, _ := strconv.Atoi(k)
			parts = append(parts, p)
		}
		slices.Sort(parts)
		for _, p := range parts {
			ss := ShardStatus{SequenceNumber: streams.SequenceNumber(c.cp.shard(p).Seq), IteratorAgeSeconds: c.ages[p]}
			if ts.CreatedMs != 0 {
				ss.ShardID = ts.ShardID(p)
			} else {
				ss.ShardID = strconv.Itoa(p)
			}
			st.Shards = append(st.Shards, ss)
			st.IteratorAgeSeconds = max(st.IteratorAgeSeconds, c.ages[p])
		}
	}
	return st
}
