// Package backoff waits between retries: Sleep is a context-aware sleep,
// and Backoff is the exponential delay the stream consumers (streams and
// sinks) use between attempts at something that failed.
//
//	bo := backoff.New(cfg.RetryMin, cfg.RetryMax)
//	for {
//		if err := try(ctx); err == nil {
//			bo.Reset()
//			continue
//		}
//		log.Warn("failed; retrying", "error", err, "backoff", bo.Delay())
//		if !bo.Wait(ctx) {
//			return // ctx is done
//		}
//	}
package backoff

import (
	"context"
	"time"
)

// Sleep waits d and reports true, or reports false as soon as ctx is done.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Backoff is a delay that starts at a minimum and doubles, up to a maximum,
// with each Wait. A Backoff is not safe for concurrent use: each retry loop
// has its own.
type Backoff struct {
	min, max, delay time.Duration
}

// New returns a Backoff whose first delay is first and whose delay never
// exceeds limit.
func New(first, limit time.Duration) *Backoff {
	return &Backoff{min: first, max: limit, delay: first}
}

// Delay is how long the next Wait waits (for logs).
func (b *Backoff) Delay() time.Duration { return b.delay }

// Wait sleeps the current delay, then doubles it up to the maximum. It
// reports false, without doubling, as soon as ctx is done.
func (b *Backoff) Wait(ctx context.Context) bool {
	if !Sleep(ctx, b.delay) {
		return false
	}
	b.delay = min(2*b.delay, b.max)
	return true
}

// Reset brings the delay back to the minimum (after a success).
func (b *Backoff) Reset() { b.delay = b.min }
