package sinks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/godwit-db/godwit/engine/attr"
	"github.com/godwit-db/godwit/internal/backoff"
	"github.com/godwit-db/godwit/streams"
	"github.com/hashicorp/go-hclog"
)

// shardRun reads one shard and feeds its slots.
type shardRun struct {
	c         *Consumer
	log       hclog.Logger
	src       *streams.JetStreamSource
	ts        streams.TableStream
	sh        streams.Shard
	streamARN string
	retention time.Duration // the stream's MaxAge (0: none)
	trk       *tracker
	slots     []*slot
	start     ShardCheckpoint
}

func newShardRun(c *Consumer, src *streams.JetStreamSource, ts streams.TableStream, sh streams.Shard, retention time.Duration, start ShardCheckpoint) *shardRun {
	s := &shardRun{
		c:         c,
		log:       c.log.With("shard", sh.ID),
		src:       src,
		ts:        ts,
		sh:        sh,
		streamARN: ts.ARN(c.cfg.Account),
		retention: retention,
		start:     start,
	}
	s.trk = &tracker{pos: start.Seq, advance: func(ctx context.Context, seq uint64, setWin bool, win *WindowCheckpoint) {
		c.advance(ctx, sh.Partition, seq, setWin, win)
	}}
	for range c.cfg.ParallelizationFactor {
		s.slots = append(s.slots, &slot{s: s, in: make(chan *item, c.cfg.BatchSize)})
	}
	if w := start.Window; w != nil && c.cfg.TumblingWindowInSeconds > 0 {
		size := time.Duration(c.cfg.TumblingWindowInSeconds) * time.Second
		st := time.Unix(w.Start, 0)
		s.slots[0].win = &openWindow{start: st, end: st.Add(size), state: w.State}
	}
	return s
}

// item is one record on its way to a slot.
type item struct {
	rec  Record
	seq  uint64
	size int
}

// run reads the shard from r until its end (then lets the slots finish
// and returns) or ctx is done.
func (s *shardRun) run(ctx context.Context, r streams.ShardReader) {
	var wg sync.WaitGroup
	for _, sl := range s.slots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sl.run(ctx)
		}()
	}
	defer wg.Wait()
	last := s.start.Seq
	bo := backoff.New(s.c.cfg.RetryMin, s.c.cfg.RetryMax)
	for {
		if r == nil {
			var err error
			r, _, err = s.src.Open(ctx, s.sh, streams.TrimHorizon, last)
			if errors.Is(err, streams.ErrTrimmed) {
				s.log.Error("records trimmed before they were read: they are lost; continuing from the oldest", "error", err)
				s.c.noteError(err)
				r, _, err = s.src.Open(ctx, s.sh, streams.TrimHorizon, 0)
			}
			if err != nil {
				if ctx.Err() != nil {
					s.closeSlots()
					return
				}
				s.c.noteError(err)
				s.log.Warn("open shard failed; retrying", "error", err, "backoff", bo.Delay())
				if !bo.Wait(ctx) {
					s.closeSlots()
					return
				}
				continue
			}
		}
		recs, through, err := r.Read(ctx)
		for i := range recs {
			if recs[i].Seq <= last {
				continue // NB: a reopened reader may overlap
			}
			if !s.handle(ctx, &recs[i]) {
				_ = r.Close()
				s.closeSlots()
				return
			}
			last = recs[i].Seq
			bo.Reset()
		}
		if len(recs) == 0 && err == nil {
			s.c.setAge(s.sh.Partition, 0)
		}
		if through > last {
			s.trk.mark(ctx, through)
			last = through
		}
		switch {
		case errors.Is(err, io.EOF):
			_ = r.Close()
			s.closeSlots()
			wg.Wait()
			s.log.Debug("shard ended")
			return
		case ctx.Err() != nil:
			_ = r.Close()
			s.closeSlots()
			return
		case err != nil:
			_ = r.Close()
			r = nil
			s.c.noteError(err)
			s.log.Warn("shard read failed; reopening", "error", err, "after", last, "backoff", bo.Delay())
			if !bo.Wait(ctx) {
				s.closeSlots()
				return
			}
		}
	}
}

func (s *shardRun) closeSlots() {
	for _, sl := range s.slots {
		close(sl.in)
	}
}

// handle filters one record and hands it to its slot; false when ctx
// ended first.
func (s *shardRun) handle(ctx context.Context, r *streams.Record) bool {
	c := s.c
	arrival := time.Unix(r.Event.Dynamodb.ApproximateCreationDateTime, 0)
	if r.Change != nil {
		arrival = time.Unix(0, r.Change.CreatedAt)
	}
	c.m.records.Inc()
	c.setAge(s.sh.Partition, max(c.cfg.Clock.Now().Sub(arrival).Seconds(), 0))
	ev := recordEvent(&r.Event, s.streamARN)
	s.trk.add(r.Seq)
	if c.filter != nil {
		ok, err := c.filter.Match(ev)
		if err != nil || !ok {
			c.m.filtered.Inc()
			s.trk.done(ctx, []uint64{r.Seq}, false, nil)
			return true
		}
	}
	it := &item{
		rec: Record{SequenceNumber: r.Event.Dynamodb.SequenceNumber, Event: ev, Change: r.Change, Arrival: arrival},
		seq: r.Seq, size: len(ev) + 1,
	}
	sl := s.slots[0]
	if n := len(s.slots); n > 1 {
		h := fnv.New32a()
		h.Write(attr.AppendItemJSON(nil, r.Event.Dynamodb.Keys))
		sl = s.slots[h.Sum32()%uint32(n)]
	}
	select {
	case sl.in <- it:
		return true
	case <-ctx.Done():
		return false
	}
}

// recordEvent is the Lambda event record: the GetRecords record with
// eventSourceARN after awsRegion, where AWS puts it (reference §6.2).
func recordEvent(r *streams.StreamRecord, streamARN string) json.RawMessage {
	b := r.AppendJSON(nil)
	arn, _ := json.Marshal(streamARN) // NB: marshalling a string cannot fail
	// NB: the members before "dynamodb" are ids, fixed words and the
	// region name: the first `,"dynamodb":` is the member.
	i := bytes.Index(b, []byte(`,"dynamodb":`))
	if i < 0 {
		out := append(b[:len(b)-1:len(b)-1], `,"eventSourceARN":`...)
		return append(append(out, arn...), '}')
	}
	out := make([]byte, 0, len(b)+len(arn)+20)
	out = append(out, b[:i]...)
	out = append(out, `,"eventSourceARN":`...)
	out = append(out, arn...)
	return append(out, b[i:]...)
}

// tracker is one shard's checkpoint arithmetic: the records read, in
// order, each done or not (delivered, discarded, filtered out); the
// position advances over the longest done prefix. Safe for concurrent use.
type tracker struct {
	mu      sync.Mutex
	q       []entry
	pos     uint64
	advance func(ctx context.Context, seq uint64, setWin bool, win *WindowCheckpoint)
}

type entry struct {
	seq  uint64
	done bool
}

// add appends a record read (not done yet).
func (t *tracker) add(seq uint64) {
	t.mu.Lock()
	t.q = append(t.q, entry{seq: seq})
	t.mu.Unlock()
}

// mark records a watermark: every record up to through has been read.
func (t *tracker) mark(ctx context.Context, through uint64) {
	t.mu.Lock()
	t.q = append(t.q, entry{seq: through, done: true})
	t.mu.Unlock()
	t.done(ctx, nil, false, nil)
}

// done marks seqs done and advances the position (and, with setWin,
// records the shard's open window) in the consumer's checkpoint.
func (t *tracker) done(ctx context.Context, seqs []uint64, setWin bool, win *WindowCheckpoint) {
	t.mu.Lock()
	for _, s := range seqs {
		i := sort.Search(len(t.q), func(i int) bool { return t.q[i].seq >= s })
		if i < len(t.q) && t.q[i].seq == s {
			t.q[i].done = true
		}
	}
	n := 0
	for n < len(t.q) && t.q[n].done {
		t.pos = max(t.pos, t.q[n].seq)
		n++
	}
	t.q = t.q[n:]
	if len(t.q) == 0 {
		t.q = nil // NB: lets the backing array go
	}
	pos := t.pos
	// NB: the checkpoint write happens under the tracker's lock, so that
	// two slots' writes of one shard reach the consumer in order.
	if n > 0 || setWin {
		t.advance(ctx, pos, setWin, win)
	}
	t.mu.Unlock()
}
