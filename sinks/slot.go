package sinks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/godwit-db/godwit/internal/backoff"
)

// errMissingState is the failure of a tumbling-window invocation whose
// response has no state (reference §6.3).
var errMissingState = errors.New("sinks: the function's response has no state (required with TumblingWindowInSeconds)")

// slot is one of a shard's ParallelizationFactor delivery lanes: it
// batches the records its shard routes to it (all records of an item key
// go to the same slot) and delivers one batch at a time, in order.
type slot struct {
	s     *shardRun
	in    chan *item // closed when the shard ends (or the consumer stops)
	carry *item      // read but left for the next batch
	ended bool       // in is closed and drained
	win   *openWindow
}

// openWindow is the tumbling window a slot is in.
type openWindow struct {
	start, end time.Time
	state      json.RawMessage
}

// plan is one batch to deliver.
type plan struct {
	recs  []*item
	final bool // the window's final invocation
	early bool // the window ends before its time (the shard ended)
}

func (sl *slot) run(ctx context.Context) {
	for ctx.Err() == nil {
		p, ok := sl.gather(ctx)
		if !ok {
			return
		}
		if len(p.recs) == 0 && !p.final {
			continue
		}
		sl.s.c.m.batches.Inc()
		if !sl.process(ctx, p) {
			return
		}
	}
}

// windowed says whether the consumer uses tumbling windows.
func (sl *slot) windowed() bool { return sl.s.c.cfg.TumblingWindowInSeconds > 0 }

func (sl *slot) windowOf(it *item) (start, end time.Time) {
	size := int64(sl.s.c.cfg.TumblingWindowInSeconds)
	sec := it.rec.Arrival.Unix()
	st := sec - ((sec%size)+size)%size
	return time.Unix(st, 0), time.Unix(st+size, 0)
}

// gather waits for the next batch. ok is false once the slot has nothing
// more to do (its input ended and every window is closed) or ctx is done.
func (sl *slot) gather(ctx context.Context) (p plan, ok bool) {
	cfg := &sl.s.c.cfg
	// The first record.
	first := sl.carry
	sl.carry = nil
	for first == nil {
		if sl.ended {
			if sl.win != nil {
				// The shard ended: the window closes, early if its time
				// is not over.
				return plan{final: true, early: cfg.Clock.Now().Before(sl.win.end)}, true
			}
			return plan{}, false
		}
		var idle <-chan time.Time
		stop := func() bool { return false }
		if sl.win != nil {
			wait := sl.win.end.Add(cfg.WindowGrace).Sub(cfg.Clock.Now())
			if wait <= 0 {
				return plan{final: true}, true
			}
			// NB: re-check at least every 100ms: the clock may be a
			// manual one that moves without a timer.
			t := time.NewTimer(min(wait, 100*time.Millisecond))
			idle, stop = t.C, t.Stop
		}
		select {
		case it, open := <-sl.in:
			stop()
			if !open {
				sl.ended = true
				continue
			}
			first = it
		case <-idle:
		case <-ctx.Done():
			stop()
			return plan{}, false
		}
	}
	if sl.windowed() {
		st, end := sl.windowOf(first)
		if sl.win != nil && !sl.win.start.Equal(st) {
			sl.carry = first
			return plan{final: true}, true
		}
		if sl.win == nil {
			sl.win = &openWindow{start: st, end: end, state: json.RawMessage("{}")}
		}
	}
	p.recs = []*item{first}
	size := first.size
	var deadline <-chan time.Time
	if w := cfg.MaximumBatchingWindowInSeconds; w > 0 {
		t := time.NewTimer(time.Duration(w) * time.Second)
		defer t.Stop()
		deadline = t.C
	}
	for len(p.recs) < cfg.BatchSize {
		var it *item
		var open bool
		if deadline == nil {
			select {
			case it, open = <-sl.in:
			case <-ctx.Done():
				return plan{}, false
			default:
				return p, true
			}
		} else {
			select {
			case it, open = <-sl.in:
			case <-deadline:
				return p, true
			case <-ctx.Done():
				return plan{}, false
			}
		}
		if !open {
			sl.ended = true
			return p, true
		}
		if size+it.size > MaxPayloadBytes-len(`{"Records":[]}`) {
			sl.carry = it
			return p, true
		}
		if sl.windowed() {
			if st, _ := sl.windowOf(it); !sl.win.start.Equal(st) {
				sl.carry = it
				p.final = true
				return p, true
			}
		}
		p.recs = append(p.recs, it)
		size += it.size
	}
	return p, true
}

// part is a piece of a plan being delivered (a bisected half, or what is
// left after a partial failure).
type part struct {
	recs     []*item
	attempts int // function errors counted against MaximumRetryAttempts
	invokes  int
	lastErr  error
}

// process delivers p with the retry, bisect, partial-failure, record-age
// and on-failure rules, and checkpoints what is done. false when ctx
// ended first (what was not done is left for the next start).
func (sl *slot) process(ctx context.Context, p plan) bool {
	c := sl.s.c
	cfg := &c.cfg
	maxAge := time.Duration(cfg.MaximumRecordAgeInSeconds) * time.Second
	if cfg.MaximumRecordAgeInSeconds < 0 {
		maxAge = sl.s.retention
	}
	work := []*part{{recs: p.recs}}
	bo := backoff.New(cfg.RetryMin, cfg.RetryMax)
	for len(work) > 0 {
		pt := work[0]
		last := len(work) == 1
		if maxAge > 0 {
			cutoff := cfg.Clock.Now().Add(-maxAge)
			n := 0
			for n < len(pt.recs) && pt.recs[n].rec.Arrival.Before(cutoff) {
				n++
			}
			if n > 0 {
				if !sl.discard(ctx, pt.recs[:n], ConditionRecordAgeExceeded, pt) {
					return false
				}
				pt.recs = pt.recs[n:]
			}
		}
		final := p.final && last
		if len(pt.recs) == 0 && !final {
			work = work[1:]
			continue
		}
		b := sl.batch(pt.recs, final, p.early && last)
		res, err := cfg.Target.Deliver(ctx, b)
		if ctx.Err() != nil {
			return false
		}
		failAt := -1
		switch {
		case errors.Is(err, ErrTransient):
			c.m.invocations.WithLabelValues(outcomeTransient).Inc()
			c.m.retries.Inc()
			pt.lastErr = err
			c.setFailing(sl, err)
			sl.s.log.Debug("transient delivery failure; retrying", "error", err, "backoff", bo.Delay())
			if !bo.Wait(ctx) {
				return false
			}
			continue
		case err != nil:
			failAt = 0
			c.m.invocations.WithLabelValues(outcomeFunctionError).Inc()
		case sl.windowed() && res.State == nil:
			failAt, err = 0, errMissingState
			c.m.invocations.WithLabelValues(outcomeFunctionError).Inc()
		case cfg.reportsItemFailures() && len(res.BatchItemFailures) > 0:
			failAt = lowestFailure(pt.recs, res.BatchItemFailures)
			err = fmt.Errorf("sinks: the function reported %d failed records, the first at %d of %d", len(res.BatchItemFailures), failAt, len(pt.recs))
			c.m.invocations.WithLabelValues(outcomePartial).Inc()
		default:
			c.m.invocations.WithLabelValues(outcomeOK).Inc()
		}
		pt.invokes++
		if failAt < 0 {
			sl.complete(ctx, pt.recs, res.State, final)
			work = work[1:]
			bo.Reset()
			c.setFailing(sl, nil)
			continue
		}
		pt.lastErr = err
		c.setFailing(sl, err)
		if failAt > 0 {
			// Checkpoint just before the lowest failed record and retry
			// from it (reference §6.3).
			sl.complete(ctx, pt.recs[:failAt], res.State, false)
			pt.recs = pt.recs[failAt:]
		}
		if cfg.BisectBatchOnFunctionError && len(pt.recs) > 1 {
			c.m.retries.Inc()
			if failAt > 0 {
				// NB: with bisection on, a partial failure splits the batch
				// at the failed record: the split, not a retry, so no
				// attempt is used.
				continue
			}
			c.m.bisects.Inc()
			h := len(pt.recs) / 2
			a := &part{recs: pt.recs[:h], attempts: pt.attempts, invokes: pt.invokes, lastErr: err}
			z := &part{recs: pt.recs[h:], attempts: pt.attempts, invokes: pt.invokes, lastErr: err}
			work = append([]*part{a, z}, work[1:]...)
			sl.s.log.Debug("function error; bisecting", "error", err, "records", len(pt.recs))
			continue
		}
		pt.attempts++
		if cfg.MaximumRetryAttempts >= 0 && pt.attempts > cfg.MaximumRetryAttempts {
			if !sl.discard(ctx, pt.recs, ConditionRetryAttemptsExhausted, pt) {
				return false
			}
			work = work[1:]
			if final {
				// NB: the window's final invocation was given up: the
				// window is closed without it.
				sl.complete(ctx, nil, nil, true)
			}
			c.setFailing(sl, nil)
			continue
		}
		c.m.retries.Inc()
		sl.s.log.Debug("function error; retrying", "error", err, "attempt", pt.attempts, "backoff", bo.Delay())
		if !bo.Wait(ctx) {
			return false
		}
	}
	return true
}

// lowestFailure is the index in recs of the lowest reported failure; 0
// (the whole batch) for "" or an identifier that is no record's.
func lowestFailure(recs []*item, ids []string) int {
	low := len(recs)
	for _, id := range ids {
		idx := -1
		for i, r := range recs {
			if r.rec.SequenceNumber == id {
				idx = i
				break
			}
		}
		if idx < 0 {
			return 0
		}
		low = min(low, idx)
	}
	return low
}

// batch builds the Batch of recs.
func (sl *slot) batch(recs []*item, final, early bool) *Batch {
	s := sl.s
	b := &Batch{
		Consumer: s.c.cfg.Name, Table: s.c.cfg.Table, StreamARN: s.streamARN, ShardID: s.sh.ID,
		Records: make([]Record, len(recs)),
	}
	for i, it := range recs {
		b.Records[i] = it.rec
	}
	if sl.windowed() && sl.win != nil {
		b.Window = &Window{
			Start: sl.win.start, End: sl.win.end, State: sl.win.state,
			IsFinalInvokeForWindow: final, IsWindowTerminatedEarly: final && early,
		}
	}
	return b
}

// complete checkpoints recs as done; with tumbling windows it also keeps
// the returned state (closing the window after its final invocation).
func (sl *slot) complete(ctx context.Context, recs []*item, state json.RawMessage, final bool) {
	seqs := make([]uint64, len(recs))
	for i, it := range recs {
		seqs[i] = it.seq
	}
	if !sl.windowed() || sl.win == nil {
		sl.s.trk.done(ctx, seqs, false, nil)
		return
	}
	if final {
		sl.win = nil
		sl.s.trk.done(ctx, seqs, true, nil)
		return
	}
	if state != nil {
		sl.win.state = state
	}
	sl.s.trk.done(ctx, seqs, true, &WindowCheckpoint{Start: sl.win.start.Unix(), State: sl.win.state})
}

// discard gives up recs: sends the failure record to the OnFailure
// destination (retrying until it is written) and checkpoints past them.
// false when ctx ended first.
func (sl *slot) discard(ctx context.Context, recs []*item, condition string, pt *part) bool {
	c := sl.s.c
	if len(recs) == 0 {
		return true
	}
	b := sl.batch(recs, false, false)
	sl.s.log.Warn("discarding records", "condition", condition, "records", len(recs),
		"first", recs[0].rec.SequenceNumber, "last", recs[len(recs)-1].rec.SequenceNumber, "error", pt.lastErr)
	if c.fail != nil {
		rec, err := newFailureRecord(b, c.arn, condition, pt.invokes, pt.lastErr, c.cfg.Clock.Now())
		if err != nil {
			sl.s.log.Error("cannot encode the failure record; records discarded without it", "error", err)
		} else {
			bo := backoff.New(c.cfg.RetryMin, c.cfg.RetryMax)
			for {
				err := c.fail.write(ctx, rec)
				if err == nil {
					break
				}
				if ctx.Err() != nil {
					return false
				}
				c.setFailing(sl, err)
				sl.s.log.Warn("on-failure destination write failed; retrying", "error", err, "backoff", bo.Delay())
				if !bo.Wait(ctx) {
					return false
				}
			}
		}
	}
	c.m.deadLettered.Add(float64(len(recs)))
	sl.complete(ctx, recs, nil, false)
	return true
}
