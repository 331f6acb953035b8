package main

import (
	"context"
	"fmt"
	"io"
	"math"
)

type latencyReport struct {
	Mode      string  `json:"mode"`
	Regions   int     `json:"regions"`
	Rate      float64 `json:"rate_per_region"`
	DurationS float64 `json:"duration_s"`
	WarmupS   float64 `json:"warmup_s"`
	latStats
	MetricCount float64 `json:"metric_count"`
	MetricP50   float64 `json:"metric_p50_ms"`
	MetricP99   float64 `json:"metric_p99_ms"`
	MetricP999  float64 `json:"metric_p999_ms"`
	OK          bool    `json:"ok"`
}

func runLatency(ctx context.Context, cfg config, stderr io.Writer) (any, error) {
	log := logger(stderr)
	skip := int(cfg.rate * cfg.warmup.Seconds())
	total := skip + int(cfg.rate*cfg.duration.Seconds())
	w, err := startWorkload(ctx, cfg, total, log)
	if err != nil {
		return nil, err
	}
	defer w.stop()
	log("writing %.0f/s per region for %v (+%v warmup)", cfg.rate, cfg.duration, cfg.warmup)
	w.write(ctx, 0, skip, nil)
	before, err := w.histogram(ctx)
	if err != nil {
		return nil, err
	}
	next := w.write(ctx, skip, total, nil)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err := w.waitDrained(ctx, next, cfg.drain); err != nil {
		log("not drained: %v (%d writes missing)", err, w.missing(next))
	}
	after, err := w.histogram(ctx)
	if err != nil {
		return nil, err
	}
	h := after.Sub(before)
	rep := latencyReport{Mode: "latency", Regions: len(w.cl.regions), Rate: cfg.rate,
		DurationS: cfg.duration.Seconds(), WarmupS: cfg.warmup.Seconds(), latStats: w.stats(next, skip),
		MetricCount: h.Count, MetricP50: msf(h.Quantile(0.5)), MetricP99: msf(h.Quantile(0.99)), MetricP999: msf(h.Quantile(0.999))}
	rep.OK = rep.Lost == 0 && rep.Duplicates == 0
	log("latency: written %d, expected %d received %d lost %d superseded %d dup %d early %d | p50 %.2fms p99 %.2fms p99.9 %.2fms max %.2fms | metric p50 %.1fms p99 %.1fms | put p50 %.2fms p99 %.2fms errors %d",
		rep.Written, rep.Expected, rep.Received, rep.Lost, rep.Superseded, rep.Duplicates, rep.Early,
		rep.P50, rep.P99, rep.P999, rep.Max, rep.MetricP50, rep.MetricP99, rep.PutP50, rep.PutP99, rep.PutErrors)
	if !rep.OK {
		return rep, fmt.Errorf("%w: %d writes lost, %d duplicates", errFailed, rep.Lost, rep.Duplicates)
	}
	return rep, nil
}

// msf converts seconds to milliseconds rounded to µs (NaN as -1, for JSON).
func msf(s float64) float64 {
	if math.IsNaN(s) {
		return -1
	}
	return math.Round(s*1e6) / 1e3
}
