package benchkit

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Writer issues requests open loop: request id is due at id/Rate after the
// start, whether or not earlier ones have been answered, so a server stall
// shows up as latency instead of silently lowering the load (coordinated
// omission). Due and Ack record, per id, when it was due and when its 200
// was read (Clock).
type Writer struct {
	Client *Client
	Target string // e.g. DynamoDB_20120810.PutItem
	Body   func(id int) []byte
	Clock  Clock
	Due    *Timeline
	Ack    *Timeline
	// OnAck, when set, is called after id's acknowledgement.
	OnAck func(id int)

	Errs     atomic.Int64
	FirstErr atomic.Pointer[string]
}

// NewWriter makes a writer of total requests.
func NewWriter(c *Client, target string, clk Clock, total int, body func(id int) []byte) *Writer {
	return &Writer{Client: c, Target: target, Body: body, Clock: clk, Due: NewTimeline(total), Ack: NewTimeline(total)}
}

// Run issues ids from..to-1 at rate per second over conns connections,
// waits for their answers and returns the first id it did not issue (to,
// unless ctx ended first, or stop was closed).
func (w *Writer) Run(ctx context.Context, rate float64, from, to, conns int, stop <-chan struct{}) (next int) {
	ids := make(chan int, 4096)
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			var buf bytes.Buffer
			for id := range ids {
				w.do(ctx, id, &buf)
			}
		})
	}
	start := w.Clock.Now()
	interval := float64(time.Second) / rate
	next = from
loop:
	for next < to && ctx.Err() == nil {
		select {
		case <-stop:
			break loop
		default:
		}
		dueAt := start + int64(float64(next-from)*interval)
		if d := time.Duration(dueAt - w.Clock.Now()); d > 50*time.Microsecond {
			_ = Pause(ctx, d)
		}
		w.Due.Set(next, dueAt)
		ids <- next
		next++
	}
	close(ids)
	wg.Wait()
	return next
}

func (w *Writer) do(ctx context.Context, id int, buf *bytes.Buffer) {
	if err := w.Client.Call(ctx, w.Target, w.Body(id), nil, buf); err != nil {
		if ctx.Err() == nil {
			w.Errs.Add(1)
			s := err.Error()
			w.FirstErr.CompareAndSwap(nil, &s)
		}
		return
	}
	w.Ack.Set(id, w.Clock.Now())
	if w.OnAck != nil {
		w.OnAck(id)
	}
}

// FirstError is the first failure's text ("" when none).
func (w *Writer) FirstError() string {
	if p := w.FirstErr.Load(); p != nil {
		return *p
	}
	return ""
}
