package benchkit

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Histogram is a Prometheus histogram summed over label sets: cumulative
// counts per upper bound (le), ascending, +Inf last.
type Histogram struct {
	LE     []float64
	Counts []float64
	Sum    float64
	Count  float64
}

// ParseHistogram sums the series of histogram name in a Prometheus text
// exposition whose labels contain every match (e.g. `table="t"`).
func ParseHistogram(text, name string, match ...string) Histogram {
	byLE := map[float64]float64{}
	var h Histogram
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"_") {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		series := line[:sp]
		ok := true
		for _, m := range match {
			ok = ok && strings.Contains(series, m)
		}
		if !ok {
			continue
		}
		switch {
		case strings.HasPrefix(series, name+"_bucket{"):
			i := strings.LastIndex(series, `le="`) // NB: not the "le=" of table="…"
			if i < 0 {
				continue
			}
			rest := series[i+4:]
			j := strings.IndexByte(rest, '"')
			if j < 0 {
				continue
			}
			le, err := strconv.ParseFloat(rest[:j], 64) // "+Inf" parses as +Inf
			if err != nil {
				continue
			}
			byLE[le] += v
		case strings.HasPrefix(series, name+"_sum"):
			h.Sum += v
		case strings.HasPrefix(series, name+"_count"):
			h.Count += v
		}
	}
	for le := range byLE {
		h.LE = append(h.LE, le)
	}
	slices.Sort(h.LE)
	for _, le := range h.LE {
		h.Counts = append(h.Counts, byLE[le])
	}
	return h
}

// Add returns h + o (the same buckets, e.g. two regions'); a histogram with
// no buckets is the identity.
func (h Histogram) Add(o Histogram) Histogram {
	if len(h.LE) == 0 {
		return o
	}
	if len(o.LE) == 0 {
		return h
	}
	out := Histogram{LE: h.LE, Counts: slices.Clone(h.Counts), Sum: h.Sum + o.Sum, Count: h.Count + o.Count}
	for i, le := range o.LE {
		if j := slices.Index(out.LE, le); j >= 0 {
			out.Counts[j] += o.Counts[i]
		}
	}
	return out
}

// Sub returns h − earlier (the observations made in between).
func (h Histogram) Sub(earlier Histogram) Histogram {
	out := Histogram{LE: h.LE, Counts: slices.Clone(h.Counts), Sum: h.Sum - earlier.Sum, Count: h.Count - earlier.Count}
	for i, le := range earlier.LE {
		if j := slices.Index(out.LE, le); j >= 0 {
			out.Counts[j] -= earlier.Counts[i]
		}
	}
	return out
}

// Quantile estimates the q-quantile as Prometheus' histogram_quantile does
// (linear within the bucket; the highest finite bound when it falls in
// +Inf). NaN without observations.
func (h Histogram) Quantile(q float64) float64 {
	if len(h.Counts) == 0 || h.Counts[len(h.Counts)-1] <= 0 {
		return math.NaN()
	}
	total := h.Counts[len(h.Counts)-1]
	rank := q * total
	prevLE, prevC := 0.0, 0.0
	for i, le := range h.LE {
		c := h.Counts[i]
		if c >= rank {
			if math.IsInf(le, 1) {
				return prevLE
			}
			if c == prevC {
				return le
			}
			return prevLE + (le-prevLE)*(rank-prevC)/(c-prevC)
		}
		prevLE, prevC = le, c
	}
	return prevLE
}

// Scrape fetches url's /metrics text.
func Scrape(ctx context.Context, base string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/metrics", nil)
	if err != nil {
		return "", err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("scrape %s: %w", base, err)
	}
	defer res.Body.Close()
	var b strings.Builder
	sc := bufio.NewReader(res.Body)
	if _, err := sc.WriteTo(&b); err != nil {
		return "", fmt.Errorf("scrape %s: %w", base, err)
	}
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("scrape %s: HTTP %d", base, res.StatusCode)
	}
	return b.String(), nil
}

// Gauge sums the values of metric name's series whose labels contain
// every match (NaN when there is none).
func Gauge(text, name string, match ...string) float64 {
	sum, found := 0.0, false
	for line := range strings.SplitSeq(text, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		ok := true
		for _, m := range match {
			ok = ok && strings.Contains(line[:sp], m)
		}
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(line[sp+1:], 64); err == nil {
			sum += v
			found = true
		}
	}
	if !found {
		return math.NaN()
	}
	return sum
}
