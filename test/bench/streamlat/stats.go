package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// itemKey is the pk of item id of the run with this nonce. parseItemKey
// inverts it.
func itemKey(nonce string, id int) string {
	return nonce + "-" + strconv.Itoa(id)
}

// parseItemKey returns the item number in pk when pk belongs to the run
// with this nonce (ok=false for anything else, never a panic).
func parseItemKey(pk, nonce string) (id int, ok bool) {
	rest, found := strings.CutPrefix(pk, nonce+"-")
	if !found || rest == "" || len(rest) > 12 {
		return 0, false
	}
	for _, c := range rest {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	if len(rest) > 1 && rest[0] == '0' {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil {
		return 0, false
	}
	return n, true
}

// clock is the run's monotonic clock: nanoseconds since start, always ≥ 1,
// so that 0 can mean "not yet" in a timeline.
type clock struct{ start time.Time }

func (c clock) now() int64 { return int64(time.Since(c.start)) + 1 }

// timeline holds one timestamp (clock.now) per item of a run, 0 while
// unset. It is safe for concurrent use.
type timeline struct {
	t   []int64
	dup atomic.Int64 // sets of an already set slot
	n   atomic.Int64 // slots set
	out atomic.Int64 // ids outside the run's range
}

func newTimeline(n int) *timeline { return &timeline{t: make([]int64, n)} }

// set records t for id once; a second set of the same id counts as a
// duplicate and keeps the first time.
func (tl *timeline) set(id int, t int64) {
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

// get returns id's time, 0 if unset.
func (tl *timeline) get(id int) int64 { return atomic.LoadInt64(&tl.t[id]) }

// latencySummary is what one reader saw of the items 0..issued-1 of a run.
type latencySummary struct {
	Acked      int // puts acknowledged (the records that must arrive)
	Received   int // acknowledged puts whose record arrived
	Lost       int // acknowledged puts whose record never arrived
	Unacked    int // records of puts that failed or were never acknowledged
	Duplicates int64
	Foreign    int64 // records with this run's nonce but an id never issued
	Early      int   // records that arrived before the put's acknowledgement was read
	Measured   int   // records in the percentiles (acknowledged, id ≥ skip)
	P50, P99   time.Duration
	P999, Max  time.Duration
	Mean       time.Duration
}

// summarize compares when each acknowledged put (ack) was seen by a reader
// (recv) for items 0..issued-1. Items below skip (the warmup) must arrive
// too but are left out of the percentiles. A record that arrived before its
// acknowledgement counts as latency 0 (and as Early).
func summarize(ack, recv *timeline, issued, skip int) latencySummary {
	s := latencySummary{Duplicates: recv.dup.Load(), Foreign: recv.out.Load()}
	var lat []time.Duration
	for id := range issued {
		a, r := ack.get(id), recv.get(id)
		switch {
		case a == 0 && r != 0:
			s.Unacked++
			continue
		case a == 0:
			continue
		}
		s.Acked++
		if r == 0 {
			s.Lost++
			continue
		}
		s.Received++
		d := time.Duration(r - a)
		if d < 0 {
			s.Early++
			d = 0
		}
		if id >= skip {
			lat = append(lat, d)
		}
	}
	// Records of ids beyond issued (never issued) are foreign too.
	for id := issued; id < len(recv.t); id++ {
		if recv.get(id) != 0 {
			s.Foreign++
		}
	}
	s.Measured = len(lat)
	if len(lat) == 0 {
		return s
	}
	slices.Sort(lat)
	s.P50, s.P99, s.P999 = quantile(lat, 0.50), quantile(lat, 0.99), quantile(lat, 0.999)
	s.Max = lat[len(lat)-1]
	var sum float64
	for _, d := range lat {
		sum += float64(d)
	}
	s.Mean = time.Duration(sum / float64(len(lat)))
	return s
}

// quantile is the nearest-rank q-quantile of sorted (non-empty): the
// smallest value with at least q of the sample at or below it.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

// durations returns the sorted differences b[id]-a[id] for ids in
// [from, to) where both are set (the puts' own latency: due → ack).
func durations(a, b *timeline, from, to int) []time.Duration {
	var out []time.Duration
	for id := from; id < to; id++ {
		x, y := a.get(id), b.get(id)
		if x != 0 && y != 0 {
			out = append(out, time.Duration(y-x))
		}
	}
	slices.Sort(out)
	return out
}

// failure reports why s fails the run, or nil: a lost or duplicated record.
func (s latencySummary) failure() error {
	switch {
	case s.Lost > 0:
		return fmt.Errorf("%d of %d acknowledged puts have no stream record", s.Lost, s.Acked)
	case s.Duplicates > 0:
		return fmt.Errorf("%d records arrived twice", s.Duplicates)
	}
	return nil
}

// ackRate is the rate at which puts from..to-1 were acknowledged: the
// acknowledged ones over the time from the first one's due time to the
// last acknowledgement (0 when none was).
func ackRate(due, ack *timeline, from, to int) float64 {
	if from >= to {
		return 0
	}
	first := due.get(from)
	var last int64
	n := 0
	for id := from; id < to; id++ {
		if a := ack.get(id); a != 0 {
			n++
			last = max(last, a)
		}
	}
	if n == 0 || first == 0 || last <= first {
		return 0
	}
	return float64(n) / time.Duration(last-first).Seconds()
}
