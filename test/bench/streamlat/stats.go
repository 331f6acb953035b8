package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/godwit-db/godwit/test/bench/benchkit"
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
func summarize(ack, recv *benchkit.Timeline, issued, skip int) latencySummary {
	s := latencySummary{Duplicates: recv.Dup(), Foreign: recv.Out()}
	var lat []time.Duration
	for id := range issued {
		a, r := ack.Get(id), recv.Get(id)
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
	for id := issued; id < recv.Len(); id++ {
		if recv.Get(id) != 0 {
			s.Foreign++
		}
	}
	s.Measured = len(lat)
	if len(lat) == 0 {
		return s
	}
	slices.Sort(lat)
	s.P50, s.P99, s.P999 = benchkit.Quantile(lat, 0.50), benchkit.Quantile(lat, 0.99), benchkit.Quantile(lat, 0.999)
	s.Max = lat[len(lat)-1]
	var sum float64
	for _, d := range lat {
		sum += float64(d)
	}
	s.Mean = time.Duration(sum / float64(len(lat)))
	return s
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
