package benchkit

import (
	"math"
	"testing"
)

const sample = `# HELP godwit_replication_latency_seconds Time.
# TYPE godwit_replication_latency_seconds histogram
godwit_replication_latency_seconds_bucket{source="a",table="t",le="0.001"} 10
godwit_replication_latency_seconds_bucket{source="a",table="t",le="0.002"} 50
godwit_replication_latency_seconds_bucket{source="a",table="t",le="0.004"} 100
godwit_replication_latency_seconds_bucket{source="a",table="t",le="+Inf"} 100
godwit_replication_latency_seconds_sum{source="a",table="t"} 0.2
godwit_replication_latency_seconds_count{source="a",table="t"} 100
godwit_replication_latency_seconds_bucket{source="b",table="t",le="0.001"} 0
godwit_replication_latency_seconds_bucket{source="b",table="t",le="0.002"} 0
godwit_replication_latency_seconds_bucket{source="b",table="t",le="0.004"} 0
godwit_replication_latency_seconds_bucket{source="b",table="t",le="+Inf"} 100
godwit_replication_latency_seconds_sum{source="b",table="t"} 100
godwit_replication_latency_seconds_count{source="b",table="t"} 100
godwit_replication_latency_seconds_bucket{source="a",table="other",le="+Inf"} 7
godwit_replication_pending_records{source="a",table="t"} 3
godwit_replication_pending_records{source="b",table="t"} 4
`

func TestParseHistogramSumsSeriesAndInterpolates(t *testing.T) {
	h := ParseHistogram(sample, "godwit_replication_latency_seconds", `table="t"`)
	if len(h.LE) != 4 || !math.IsInf(h.LE[3], 1) || h.Counts[3] != 200 || h.Count != 200 {
		t.Fatalf("parsed %+v", h)
	}
	// rank 50 of 200 falls in (0.001, 0.002]: 10 → 50.
	if q := h.Quantile(0.25); q != 0.002 {
		t.Fatalf("q25 = %v, want 0.002", q)
	}
	// rank 30: 0.001 + 0.001*(30-10)/(50-10) = 0.0015.
	if q := h.Quantile(0.15); math.Abs(q-0.0015) > 1e-12 {
		t.Fatalf("q15 = %v, want 0.0015", q)
	}
	// in +Inf: the highest finite bound.
	if q := h.Quantile(0.99); q != 0.004 {
		t.Fatalf("q99 = %v, want 0.004", q)
	}
	d := h.Sub(ParseHistogram(sample, "godwit_replication_latency_seconds", `source="b"`))
	if d.Count != 100 || d.Counts[3] != 100 || d.Counts[0] != 10 {
		t.Fatalf("sub %+v", d)
	}
	if g := Gauge(sample, "godwit_replication_pending_records"); g != 7 {
		t.Fatalf("gauge %v, want 7", g)
	}
	if q := (Histogram{}).Quantile(0.5); !math.IsNaN(q) {
		t.Fatalf("empty quantile %v", q)
	}
}
