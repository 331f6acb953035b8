package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketRangeContainsValue(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	check := func(v uint64) {
		i := bucketOf(v)
		if i < 0 || i >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d, out of range", v, i)
		}
		lo, hi := bucketRange(i)
		if v < lo || v > hi {
			t.Fatalf("value %d in bucket %d with range [%d, %d]", v, i, lo, hi)
		}
		if w := hi - lo + 1; v >= 2*subCount && float64(w)/float64(lo) > 1.0/subCount+1e-12 {
			t.Fatalf("bucket %d [%d, %d] is wider than 1/%d of its lower bound", i, lo, hi, subCount)
		}
	}
	for v := uint64(0); v < 4*subCount; v++ {
		check(v)
	}
	for range 100000 {
		check(r.Uint64N(1 << (maxShift + subBits)))
	}
	// Adjacent buckets tile the range without gaps or overlap.
	for i := 1; i < numBuckets; i++ {
		_, prevHi := bucketRange(i - 1)
		lo, _ := bucketRange(i)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ends at %d", i, lo, prevHi)
		}
	}
	// Huge values are clamped, not out of range.
	if i := bucketOf(math.MaxUint64); i != numBuckets-1 {
		t.Fatalf("bucketOf(max) = %d, want last bucket", i)
	}
}

func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = max(rank, 1)
	return sorted[rank-1]
}

func TestQuantilesMatchExactSample(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 2))
	for trial := range 20 {
		var h hist
		n := 1 + r.IntN(20000)
		vals := make([]time.Duration, n)
		for i := range vals {
			// Log-normal-ish latencies between ~1µs and ~10s.
			vals[i] = time.Duration(math.Exp(7 + 9*r.Float64() + r.NormFloat64()))
			h.record(vals[i])
		}
		slices.Sort(vals)
		for _, q := range []float64{0.001, 0.5, 0.9, 0.99, 0.999, 1} {
			got, want := h.quantile(q), exactQuantile(vals, q)
			if diff := math.Abs(float64(got-want)) / float64(want); diff > 1.0/subCount {
				t.Errorf("trial %d n=%d q=%g: got %v, exact %v (off by %.2f%%)", trial, n, q, got, want, 100*diff)
			}
		}
		if h.quantile(1) != vals[n-1] || time.Duration(h.min) != vals[0] {
			t.Errorf("trial %d: max %v min %v, want %v %v", trial, h.quantile(1), h.min, vals[n-1], vals[0])
		}
	}
}

func TestHistMergeEqualsCombinedRecording(t *testing.T) {
	var a, b, all hist
	for i := range 1000 {
		d := time.Duration(i*i) * time.Microsecond
		if i%3 == 0 {
			a.record(d)
		} else {
			b.record(d)
		}
		all.record(d)
	}
	var m hist
	m.merge(&a)
	m.merge(&b)
	m.merge(new(hist)) // empty merges are no-ops
	if m != all {
		t.Fatalf("merged histogram differs: n=%d/%d sum=%d/%d min=%d/%d max=%d/%d",
			m.n, all.n, m.sum, all.sum, m.min, all.min, m.max, all.max)
	}
	if got, want := m.mean(), time.Duration(all.sum/all.n); got != want {
		t.Fatalf("mean %v, want %v", got, want)
	}
}

func TestEmptyHistAndNegative(t *testing.T) {
	var h hist
	if h.quantile(0.5) != 0 || h.mean() != 0 {
		t.Fatal("empty histogram should report zeros")
	}
	h.record(-time.Second) // clock went backwards: counted as 0
	if h.n != 1 || h.quantile(0.99) != 0 {
		t.Fatalf("negative duration: n=%d p99=%v", h.n, h.quantile(0.99))
	}
}
