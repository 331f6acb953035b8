package globaltables

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// driverMetrics are one driver's series, labelled by source region and table.
type driverMetrics struct {
	latency prometheus.Observer
	applied prometheus.Counter
	stale   prometheus.Counter
	skipped prometheus.Counter
	pending prometheus.Gauge
	resync  prometheus.Gauge

	remoteWon, remoteLost prometheus.Counter
	clockAhead            prometheus.Counter
	resyncs               prometheus.Counter
}

func newDriverMetrics(reg prometheus.Registerer, source, table string) *driverMetrics {
	names := []string{"source", "table"}
	latency := registerVec(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "godwit", Subsystem: "replication", Name: "latency_seconds",
		Help:    "Time from a change's write in its origin region to its apply here (across both regions' clocks).",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
	}, names))
	records := registerVec(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "godwit", Subsystem: "replication", Name: "records_total",
		Help: "Records of the peer's stream by outcome: applied (won last-writer-wins), stale (lost or already there), skipped (another region's change, never applied back).",
	}, []string{"source", "table", "result"}))
	pending := registerVec(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "godwit", Subsystem: "replication", Name: "pending_records",
		Help: "Records of the peer's stream not yet read, as last reported by JetStream.",
	}, names))
	resync := registerVec(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "godwit", Subsystem: "replication", Name: "resync_required",
		Help: "1 while the peer's stream lacks records this region needs: the table is being resynchronised from a snapshot of the peer.",
	}, names))
	resyncs := registerVec(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "godwit", Subsystem: "replication", Name: "resyncs_total",
		Help: "Resynchronisations of the table from a snapshot of the peer that succeeded (after its stream was trimmed past what this region needed).",
	}, names))
	conflicts := registerVec(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "godwit", Subsystem: "replication", Name: "conflicts_total",
		Help: "Replicated changes last-writer-wins decided against a concurrent version: remote-won (the change overwrote it) or remote-lost (the change was discarded).",
	}, []string{"table", "source", "outcome"}))
	clockAhead := registerVec(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "godwit", Subsystem: "replication", Name: "clock_offset_exceeded_total",
		Help: "Replicated changes stamped further ahead of the local clock than the max clock offset (applied by their version; the local clock does not follow).",
	}, []string{"source"}))
	l := prometheus.Labels{"source": source, "table": table}
	return &driverMetrics{
		latency: latency.With(l),
		applied: records.With(prometheus.Labels{"source": source, "table": table, "result": "applied"}),
		stale:   records.With(prometheus.Labels{"source": source, "table": table, "result": "stale"}),
		skipped: records.With(prometheus.Labels{"source": source, "table": table, "result": "skipped"}),
		pending: pending.With(l),
		resync:  resync.With(l),

		remoteWon:  conflicts.With(prometheus.Labels{"table": table, "source": source, "outcome": "remote-won"}),
		remoteLost: conflicts.With(prometheus.Labels{"table": table, "source": source, "outcome": "remote-lost"}),
		clockAhead: clockAhead.With(prometheus.Labels{"source": source}),
		resyncs:    resyncs.With(l),
	}
}

// registerVec registers c with reg (when reg is not nil) and returns the
// collector to use: c, or the equal one already registered (several
// drivers share one registry).
func registerVec[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}
