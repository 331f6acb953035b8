package streams

import (
	"errors"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// publisherMetrics are the publisher's collectors, registered on the
// Registerer of its Config (none when it is nil).
type publisherMetrics struct {
	backlog    *prometheus.GaugeVec // table, partition
	latency    prometheus.Histogram
	published  *prometheus.CounterVec // table
	duplicates *prometheus.CounterVec // table
	errors     *prometheus.CounterVec // table
	trimmed    *prometheus.CounterVec // table
}

func newPublisherMetrics(reg prometheus.Registerer) (*publisherMetrics, error) {
	m := &publisherMetrics{
		backlog: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "godwit", Subsystem: "streams", Name: "outbox_backlog",
			Help: "Changes committed to a partition's outbox and not yet acknowledged by JetStream.",
		}, []string{"table", "partition"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "godwit", Subsystem: "streams", Name: "publish_latency_seconds",
			Help:    "Time from a change's commit to JetStream's acknowledgement of its record, once per message (for its oldest record).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5ms .. ~16s
		}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "godwit", Subsystem: "streams", Name: "records_published_total",
			Help: "Change records acknowledged by JetStream.",
		}, []string{"table"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "godwit", Subsystem: "streams", Name: "records_deduplicated_total",
			Help: "Messages JetStream already held (Nats-Msg-Id dedupe) when republished after a failure; each makes the partition resume from JetStream.",
		}, []string{"table"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "godwit", Subsystem: "streams", Name: "publish_errors_total",
			Help: "Failed publish attempts (each one makes the partition back off and resume from JetStream).",
		}, []string{"table"}),
		trimmed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "godwit", Subsystem: "streams", Name: "outbox_trims_total",
			Help: "Outbox trims after JetStream's sync interval had passed since the ack.",
		}, []string{"table"}),
	}
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.backlog, m.latency, m.published, m.duplicates, m.errors, m.trimmed} {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// forget drops a deleted table's series.
func (m *publisherMetrics) forget(table string, partitions int) {
	for p := 0; p < partitions; p++ {
		m.backlog.DeleteLabelValues(table, strconv.Itoa(p))
	}
	m.published.DeleteLabelValues(table)
	m.duplicates.DeleteLabelValues(table)
	m.errors.DeleteLabelValues(table)
	m.trimmed.DeleteLabelValues(table)
}
