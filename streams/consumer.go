package streams

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"sync"
	"time"

	"github.com/godwit-db/godwit/conflict"
	"github.com/godwit-db/godwit/engine"
	"github.com/godwit-db/godwit/internal/backoff"
	"github.com/godwit-db/godwit/internal/promreg"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
)

// StartFrom says where a shard without a saved position starts.
type StartFrom int

const (
	// TrimHorizon starts at the oldest record the stream still holds.
	TrimHorizon StartFrom = iota
	// Latest starts just after the newest record when the shard is opened.
	Latest
)

// ErrTrimmed reports a position older than the oldest record the stream
// still holds: records were lost to retention before they were read.
var ErrTrimmed = errors.New("streams: records trimmed before they were read")

// Shard is one shard (one table partition) of a table stream.
type Shard struct {
	ID        string
	Partition int
	// Closed is true once the stream is disabled: the shard gets no more records.
	Closed bool
}

// Source is where a Consumer reads a table stream. Implementations:
// JetStreamSource (NATS, for replicators and sinks) and HTTPSource (the
// DynamoDB Streams API of a godwit server, for godwit tail). Positions are
// record positions (Pos: a message's JetStream stream sequence and the
// record's index in it) in both; SequenceNumber and ParseSequenceNumber map
// them to the API's sequence numbers.
type Source interface {
	// Shards lists the stream's shards.
	Shards(ctx context.Context) ([]Shard, error)
	// Open starts reading shard after position after, or, with
	// after 0, from the oldest retained record or after the newest one as
	// from says. It returns the position it starts after when it knows it
	// (0 otherwise). A position whose records were trimmed is ErrTrimmed.
	Open(ctx context.Context, shard Shard, from StartFrom, after uint64) (r ShardReader, start uint64, err error)
}

// ShardReader reads one shard in order. It is used by one goroutine at a time.
type ShardReader interface {
	// Read waits (at most the source's idle wait, or until ctx is done)
	// for the shard's next records and returns them in sequence order,
	// possibly none. through is a watermark: every record of the shard
	// with a position ≤ through has been returned by now (0 when unknown);
	// it need not be a record's position (Pos(jsSeq,
	// MaxRecordsPerMessage-1) says "all of message jsSeq").
	// At the end of a closed shard Read returns io.EOF.
	Read(ctx context.Context) (recs []Record, through uint64, err error)
	// Close releases the reader.
	Close() error
}

// Record is one change read from a table stream.
type Record struct {
	ShardID   string
	Partition int
	// Seq is the record's position in its stream, Pos(the JetStream stream
	// sequence of its message, its index in the message):
	// SequenceNumber(Seq) is its DynamoDB Streams SequenceNumber. Positions
	// grow along a shard; consecutive records need not have consecutive
	// positions.
	Seq uint64
	// Event is the record as DynamoDB Streams shows it.
	Event StreamRecord
	// Change is the change as committed, with its version and full images;
	// nil when the source is the HTTP API.
	Change *engine.Change
	// Origin is the region where the change was made; "" over HTTP.
	Origin string
	// Pending is how many records of the shard followed this one when it
	// was read, when the source knows (JetStream: the rest of its message
	// plus one per later message, a lower bound); else 0.
	Pending uint64
}

// Position is how far a consumer has read one table stream: per partition,
// the record position (Pos) up to which every record has been delivered.
// Once a message's records are all delivered it is Pos(its sequence,
// MaxRecordsPerMessage-1), which stays valid after that message is trimmed;
// a position inside a message needs the message to resume. It is plain data (JSON-encodable) for the caller to store; a
// Consumer resumed from it delivers each later record exactly once.
type Position map[int]uint64

// Clone returns a copy of p.
func (p Position) Clone() Position { return maps.Clone(p) }

// ConsumerConfig configures a Consumer. Zero fields take their defaults.
type ConsumerConfig struct {
	// From is where a partition missing from Resume starts. Default TrimHorizon.
	From StartFrom
	// Resume is a Position saved earlier; nil starts every partition at From.
	Resume Position
	// Buffer is how many records (across all shards) may wait for Next
	// beyond the one each shard reader holds. Default 256.
	Buffer int
	// Name labels the consumer's metrics. Default "default".
	Name string
	// RetryMin and RetryMax bound the backoff after a transient source
	// error (a shard reader is reopened from its position). Defaults 50ms, 5s.
	RetryMin, RetryMax time.Duration
	// Clock measures lag. Default the system clock.
	Clock conflict.PhysicalClock
	// Logger is named "streams.consumer". Default a null logger.
	Logger hclog.Logger
	// Registerer receives the consumer's metrics. Default none.
	Registerer prometheus.Registerer
}

// DefaultConsumerConfig returns a ConsumerConfig with every default filled in.
func DefaultConsumerConfig() ConsumerConfig {
	return ConsumerConfig{
		From:     TrimHorizon,
		Buffer:   256,
		Name:     "default",
		RetryMin: 50 * time.Millisecond,
		RetryMax: 5 * time.Second,
		Clock:    conflict.SystemClock{},
		Logger:   hclog.NewNullLogger(),
	}
}

// Validate reports every problem with c at once.
func (c ConsumerConfig) Validate() error {
	var errs []error
	if c.From != TrimHorizon && c.From != Latest {
		errs = append(errs, fmt.Errorf("streams: consumer From %d is neither TrimHorizon nor Latest", c.From))
	}
	if c.Buffer < 0 {
		errs = append(errs, fmt.Errorf("streams: consumer Buffer %d is negative", c.Buffer))
	}
	if c.RetryMin < 0 || c.RetryMax < 0 || c.RetryMax > 0 && c.RetryMin > c.RetryMax {
		errs = append(errs, fmt.Errorf("streams: consumer RetryMin %v / RetryMax %v out of order", c.RetryMin, c.RetryMax))
	}
	return errors.Join(errs...)
}

func (c ConsumerConfig) withDefaults() ConsumerConfig {
	d := DefaultConsumerConfig()
	if c.Buffer == 0 {
		c.Buffer = d.Buffer
	}
	if c.Name == "" {
		c.Name = d.Name
	}
	if c.RetryMin == 0 {
		c.RetryMin = d.RetryMin
	}
	if c.RetryMax == 0 {
		c.RetryMax = max(d.RetryMax, c.RetryMin)
	}
	if c.Clock == nil {
		c.Clock = d.Clock
	}
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	c.Resume = c.Resume.Clone()
	return c
}

// Consumer reads every shard of one table stream concurrently and hands
// the records to its caller one at a time (Next), each shard's in order.
// It reads no faster than the caller consumes: each shard reader holds at
// most one read's records while the shared buffer (ConsumerConfig.Buffer)
// is full, and a JetStream source pulls at most its Batch ahead.
//
// Next, NextBatch and Position are for one goroutine; Close may be called
// from any.
type Consumer struct {
	cfg    ConsumerConfig
	src    Source
	log    hclog.Logger
	m      *consumerMetrics
	items  chan consumerItem
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex // guards pos
	pos     Position
	shards  int
	ended   int   // shards that reached their end
	err     error // sticky: returned by every later Next
	pending map[int]uint64
}

// consumerItem is what a shard goroutine passes to Next: a record (with,
// when mark > 0, a watermark that holds once it is taken), a watermark
// (mark > 0, no record), the shard's end, or a fatal error.
type consumerItem struct {
	part int
	rec  *Record
	mark uint64
	end  bool
	err  error
}

// NewConsumer lists src's shards, opens each (so Latest means after what
// the stream holds now) and starts reading them; it fails with ErrTrimmed
// when cfg.Resume is older than the oldest record the stream holds. The
// Consumer runs until Close.
func NewConsumer(ctx context.Context, src Source, cfg ConsumerConfig) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	shards, err := src.Shards(ctx)
	if err != nil {
		return nil, fmt.Errorf("streams: consumer: list shards: %w", err)
	}
	c := &Consumer{
		cfg:     cfg,
		src:     src,
		log:     cfg.Logger.Named("streams.consumer").With("consumer", cfg.Name),
		m:       newConsumerMetrics(cfg.Registerer, cfg.Name),
		items:   make(chan consumerItem, cfg.Buffer),
		pos:     Position{},
		shards:  len(shards),
		pending: map[int]uint64{},
	}
	for p, seq := range cfg.Resume {
		c.pos[p] = seq
	}
	// NB: every shard is opened before NewConsumer returns, so that Latest
	// means "after what the stream held when the consumer was made".
	readers := make([]ShardReader, len(shards))
	for i, sh := range shards {
		r, start, err := src.Open(ctx, sh, cfg.From, cfg.Resume[sh.Partition])
		if err != nil {
			for _, r := range readers[:i] {
				_ = r.Close()
			}
			return nil, fmt.Errorf("streams: consumer: open shard %s: %w", sh.ID, err)
		}
		readers[i] = r
		if c.pos[sh.Partition] == 0 && start > 0 {
			c.pos[sh.Partition] = start
		}
	}
	runCtx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	for i, sh := range shards {
		c.wg.Add(1)
		go c.run(runCtx, sh, readers[i], c.pos[sh.Partition])
	}
	return c, nil
}

// Next returns the next record of any shard, waiting for one until ctx is
// done. Records of one shard come in sequence order, each exactly once.
// When every shard is closed and fully read it returns io.EOF; after a
// fatal error (ErrTrimmed, a stream that vanished) it returns that error,
// now and on every later call.
func (c *Consumer) Next(ctx context.Context) (Record, error) {
	for {
		if c.err != nil {
			return Record{}, c.err
		}
		select {
		case it := <-c.items:
			if rec, ok := c.take(it); ok {
				return rec, nil
			}
		case <-ctx.Done():
			return Record{}, ctx.Err()
		}
	}
}

// NextBatch waits for one record like Next, then adds the records already
// waiting, up to max in all.
func (c *Consumer) NextBatch(ctx context.Context, max int) ([]Record, error) {
	rec, err := c.Next(ctx)
	if err != nil {
		return nil, err
	}
	out := []Record{rec}
	for len(out) < max && c.err == nil {
		select {
		case it := <-c.items:
			if rec, ok := c.take(it); ok {
				out = append(out, rec)
			}
		default:
			return out, nil
		}
	}
	return out, nil
}

// take applies one item; ok reports a record to hand out.
func (c *Consumer) take(it consumerItem) (Record, bool) {
	switch {
	case it.err != nil:
		c.err = it.err
		return Record{}, false
	case it.end:
		c.ended++
		if c.ended == c.shards {
			c.err = io.EOF
		}
		return Record{}, false
	case it.rec == nil:
		c.mu.Lock()
		if it.mark > c.pos[it.part] {
			c.pos[it.part] = it.mark
		}
		c.mu.Unlock()
		c.pending[it.part] = 0
		c.m.pending.Set(float64(c.sumPending()))
		c.m.lag.Set(0)
		return Record{}, false
	}
	rec := *it.rec
	c.mu.Lock()
	c.pos[it.part] = max(rec.Seq, it.mark)
	c.mu.Unlock()
	c.pending[it.part] = rec.Pending
	c.m.records.Inc()
	c.m.pending.Set(float64(c.sumPending()))
	created := time.Unix(rec.Event.Dynamodb.ApproximateCreationDateTime, 0)
	if rec.Change != nil {
		created = time.Unix(0, rec.Change.CreatedAt)
	}
	c.m.lag.Set(max(c.cfg.Clock.Now().Sub(created).Seconds(), 0))
	return rec, true
}

func (c *Consumer) sumPending() uint64 {
	var n uint64
	for _, v := range c.pending {
		n += v
	}
	return n
}

// Position returns how far the records handed out so far reach. Stored and
// passed back as ConsumerConfig.Resume, it resumes right after them.
func (c *Consumer) Position() Position {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pos.Clone()
}

// Close stops the shard readers and waits for them. Records not yet handed
// out are dropped (Position does not cover them).
func (c *Consumer) Close() error {
	c.cancel()
	c.wg.Wait()
	return nil
}

// run reads one shard, from reader r positioned after position after,
// until its end, a fatal error or Close; it reopens the shard after a
// transient error.
func (c *Consumer) run(ctx context.Context, sh Shard, r ShardReader, after uint64) {
	defer c.wg.Done()
	log := c.log.With("shard", sh.ID)
	bo := backoff.New(c.cfg.RetryMin, c.cfg.RetryMax)
	for ctx.Err() == nil {
		if r == nil {
			var start uint64
			var err error
			r, start, err = c.src.Open(ctx, sh, c.cfg.From, after)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				if errors.Is(err, ErrTrimmed) {
					c.send(ctx, consumerItem{part: sh.Partition, err: err})
					return
				}
				log.Warn("open shard failed; retrying", "error", err, "backoff", bo.Delay())
				if !bo.Wait(ctx) {
					return
				}
				continue
			}
			if after == 0 && start > 0 {
				after = start
				if !c.send(ctx, consumerItem{part: sh.Partition, mark: start}) {
					_ = r.Close()
					return
				}
			}
		}
		end, err := c.drain(ctx, r, sh, &after)
		_ = r.Close()
		r = nil
		switch {
		case end:
			c.send(ctx, consumerItem{part: sh.Partition, end: true})
			return
		case ctx.Err() != nil:
			return
		case errors.Is(err, ErrTrimmed):
			c.send(ctx, consumerItem{part: sh.Partition, err: err})
			return
		}
		log.Warn("shard read failed; reopening", "error", err, "after", after, "backoff", bo.Delay())
		if !bo.Wait(ctx) {
			return
		}
	}
}

// drain reads r until the shard ends (end true) or an error.
func (c *Consumer) drain(ctx context.Context, r ShardReader, sh Shard, after *uint64) (end bool, err error) {
	for {
		recs, through, err := r.Read(ctx)
		for i := range recs {
			if recs[i].Seq <= *after {
				continue // NB: a reader never repeats itself, but a reopened one may overlap
			}
			it := consumerItem{part: sh.Partition, rec: &recs[i]}
			if i == len(recs)-1 && through > recs[i].Seq {
				// NB: the watermark rides on the last record, so Position
				// says "all of its message" as soon as that record is
				// taken, not only at the next Next.
				it.mark = through
			}
			if !c.send(ctx, it) {
				return false, ctx.Err()
			}
			*after = max(recs[i].Seq, it.mark)
		}
		if through > *after {
			if !c.send(ctx, consumerItem{part: sh.Partition, mark: through}) {
				return false, ctx.Err()
			}
			*after = through
		}
		if errors.Is(err, io.EOF) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
	}
}

// send blocks until the item is taken into the buffer or ctx is done.
func (c *Consumer) send(ctx context.Context, it consumerItem) bool {
	select {
	case c.items <- it:
		return true
	case <-ctx.Done():
		return false
	}
}

type consumerMetrics struct {
	records prometheus.Counter
	lag     prometheus.Gauge
	pending prometheus.Gauge
}

func newConsumerMetrics(reg prometheus.Registerer, name string) *consumerMetrics {
	labels := prometheus.Labels{"consumer": name}
	records := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "godwit", Subsystem: "streams", Name: "consumer_records_total",
		Help: "Records handed to the consumer's caller.",
	}, []string{"consumer"})
	lag := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "godwit", Subsystem: "streams", Name: "consumer_lag_seconds",
		Help: "Age of the last record handed out when it was handed out (0 once caught up).",
	}, []string{"consumer"})
	pending := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "godwit", Subsystem: "streams", Name: "consumer_pending_records",
		Help: "Records of the stream not yet handed out, as last reported by the source (JetStream only).",
	}, []string{"consumer"})
	records = promreg.Register(reg, records)
	lag = promreg.Register(reg, lag)
	pending = promreg.Register(reg, pending)
	return &consumerMetrics{
		records: records.With(labels),
		lag:     lag.With(labels),
		pending: pending.With(labels),
	}
}

// registerVec is promreg.Register.
//
// NB: it stays only while streams/api.go, which calls it, is being changed
// on another branch; once that is merged, its calls become promreg.Register
// and this goes.
func registerVec[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	return promreg.Register(reg, c)
}
