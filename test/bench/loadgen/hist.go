package main

import (
	"math"
	"math/bits"
	"time"
)

// Histogram layout (HDR-style log-linear buckets over nanoseconds):
// values below 2*subCount land in their own bucket; above that, every power
// of two is split into subCount equal sub-buckets, so a bucket's width is at
// most 1/subCount of its lower bound and a reported percentile is within
// 1/subCount (0.8%) of the exact sample.
const (
	subBits  = 7
	subCount = 1 << subBits
	// maxShift caps the recorded range at about 2^(maxShift+subBits+1) ns
	// (~4.6 min); slower values are clamped into the last bucket.
	maxShift   = 31
	numBuckets = (maxShift+1)*subCount + subCount
)

// hist is a latency histogram. It is not safe for concurrent use: each worker
// owns one and they are merged after the run.
type hist struct {
	counts [numBuckets]uint64
	n      uint64
	sum    uint64 // nanoseconds
	min    uint64
	max    uint64
}

// bucketOf maps a value in nanoseconds to its bucket index.
func bucketOf(v uint64) int {
	s := bits.Len64(v) - subBits - 1
	if s < 0 {
		s = 0
	}
	if s > maxShift {
		return numBuckets - 1
	}
	return s*subCount + int(v>>uint(s))
}

// bucketRange returns the smallest and largest value that map to bucket i.
func bucketRange(i int) (lo, hi uint64) {
	s := i/subCount - 1
	if s < 0 {
		s = 0
	}
	m := uint64(i - s*subCount)
	return m << uint(s), (m+1)<<uint(s) - 1
}

// record adds one observation.
func (h *hist) record(d time.Duration) {
	v := uint64(0)
	if d > 0 {
		v = uint64(d)
	}
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += v
}

// merge adds all observations of o into h.
func (h *hist) merge(o *hist) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// quantile returns the value at quantile q (0 < q <= 1) using the
// nearest-rank definition: the smallest recorded value v such that at least
// q*n observations are <= v. The answer is the midpoint of v's bucket,
// clamped to the exact min and max; the top rank gives the exact max. It
// returns 0 for an empty histogram.
func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	if rank >= h.n {
		return time.Duration(h.max) // exact, not a bucket midpoint
	}
	var cum uint64
	for i, c := range h.counts {
		cum += c
		if cum >= rank {
			lo, hi := bucketRange(i)
			v := lo + (hi-lo)/2
			if v < h.min {
				v = h.min
			}
			if v > h.max {
				v = h.max
			}
			return time.Duration(v)
		}
	}
	return time.Duration(h.max)
}

// mean returns the arithmetic mean, or 0 for an empty histogram.
func (h *hist) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / h.n)
}
