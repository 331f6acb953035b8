package benchkit

import (
	"math"
	"slices"
	"sync/atomic"
	"time"
)

// Clock is a run's monotonic clock: nanoseconds since Start, always ≥ 1,
// so that 0 can mean "not yet" in a Timeline.
type Clock struct{ Start time.Time }

// NewClock starts a clock now.
func NewClock() Clock { return Clock{Start: time.Now()} }

// Now is the time since the start, ≥ 1.
func (c Clock) Now() int64 { return int64(time.Since(c.Start)) + 1 }

// FromUnixNano converts a wall-clock time taken by another process on this
// machine (time.Now().UnixNano()) to this clock (≥ 1).
func (c Clock) FromUnixNano(ns int64) int64 { return max(ns-c.Start.UnixNano(), 0) + 1 }

// Timeline holds one timestamp (Clock.Now) per item of a run, 0 while
// unset. It is safe for concurrent use.
type Timeline struct {
	t   []int64
	dup atomic.Int64 // sets of an already set slot
	n   atomic.Int64 // slots set
	out atomic.Int64 // ids outside the run's range
}

// NewTimeline holds n items.
func NewTimeline(n int) *Timeline { return &Timeline{t: make([]int64, n)} }

// Set records t for id once; a second set of the same id counts as a
// duplicate and keeps the first time.
func (tl *Timeline) Set(id int, t int64) {
	if id < 0 || id >= len(tl.t) {
		tl.out.Add(1)
		return
	}
	if atomic.CompareAndSwapInt64(&tl.t[id], 0, t) {
		tl.n.Add(1)
		return
	}
	tl.dup.Add(1)
}

// Get returns id's time, 0 if unset (or out of range).
func (tl *Timeline) Get(id int) int64 {
	if id < 0 || id >= len(tl.t) {
		return 0
	}
	return atomic.LoadInt64(&tl.t[id])
}

// Len is the number of slots; N the number set; Dup the repeated sets;
// Out the sets of ids out of range.
func (tl *Timeline) Len() int   { return len(tl.t) }
func (tl *Timeline) N() int     { return int(tl.n.Load()) }
func (tl *Timeline) Dup() int64 { return tl.dup.Load() }
func (tl *Timeline) Out() int64 { return tl.out.Load() }

// Quantile is the nearest-rank q-quantile of sorted: the smallest value
// with at least q of the sample at or below it (0 for an empty sample).
func Quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

// Percentiles summarises a latency sample.
type Percentiles struct {
	N                   int
	P50, P99, P999, Max time.Duration
}

// Summarize sorts lat and takes its percentiles.
func Summarize(lat []time.Duration) Percentiles {
	slices.Sort(lat)
	p := Percentiles{N: len(lat)}
	if len(lat) > 0 {
		p.P50, p.P99, p.P999, p.Max = Quantile(lat, 0.5), Quantile(lat, 0.99), Quantile(lat, 0.999), lat[len(lat)-1]
	}
	return p
}

// Ms is d in milliseconds with µs precision.
func Ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Compare collects, for ids in [from, to) that are set in both a (the
// acknowledgements) and b (the arrivals), b−a; an arrival before its
// acknowledgement counts as 0 and as early. It also returns how many ids
// of [0, to) are set in a but not in b (missing).
func Compare(a, b *Timeline, from, to int) (lat []time.Duration, early, missing int) {
	for id := range to {
		x, y := a.Get(id), b.Get(id)
		if x == 0 {
			continue
		}
		if y == 0 {
			missing++
			continue
		}
		d := time.Duration(y - x)
		if d < 0 {
			early++
			d = 0
		}
		if id >= from {
			lat = append(lat, d)
		}
	}
	return lat, early, missing
}

// Durations returns b[id]−a[id] for ids in [from, to) set in both (a put's
// own latency: due → ack).
func Durations(a, b *Timeline, from, to int) []time.Duration {
	var out []time.Duration
	for id := from; id < to; id++ {
		x, y := a.Get(id), b.Get(id)
		if x != 0 && y != 0 {
			out = append(out, time.Duration(y-x))
		}
	}
	return out
}

// AckRate is the rate at which ids from..to-1 were acknowledged: the
// acknowledged ones over the time from the first one's due time to the
// last acknowledgement (0 when none was).
func AckRate(due, ack *Timeline, from, to int) float64 {
	if from >= to {
		return 0
	}
	first := due.Get(from)
	var last int64
	n := 0
	for id := from; id < to; id++ {
		if a := ack.Get(id); a != 0 {
			n++
			last = max(last, a)
		}
	}
	if n == 0 || first == 0 || last <= first {
		return 0
	}
	return float64(n) / time.Duration(last-first).Seconds()
}
