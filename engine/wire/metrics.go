package wire

import (
	"errors"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
)

// outcomeOK is the outcome label of a request answered with 200.
const outcomeOK = "ok"

// unknownLabel labels requests whose target names no registered operation,
// so a client cannot grow the label space.
const unknownLabel = "unknown"

// metrics are the server's collectors.
type metrics struct {
	requests *prometheus.CounterVec   // {prefix, operation, outcome}
	duration *prometheus.HistogramVec // {operation}
	inFlight prometheus.Gauge
}

// durationBuckets span 100µs to 10s: most operations take well under a
// millisecond, so prometheus.DefBuckets (from 5ms) would hide them.
var durationBuckets = []float64{
	.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10,
}

func newMetrics(reg prometheus.Registerer, log hclog.Logger) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "godwit_requests_total",
			Help: "API requests by target prefix, operation and outcome (\"ok\" or the exception name).",
		}, []string{"prefix", "operation", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "godwit_request_duration_seconds",
			Help:    "API request latency, from the request's headers to the response's last byte handed to the connection.",
			Buckets: durationBuckets,
		}, []string{"operation"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "godwit_requests_in_flight",
			Help: "API requests being served.",
		}),
	}
	if reg == nil {
		return m
	}
	m.requests = register(reg, log, m.requests)
	m.duration = register(reg, log, m.duration)
	m.inFlight = register(reg, log, m.inFlight)
	return m
}

// register registers c with reg. When an identical collector is already
// registered (a second Server on the same registry) it returns that one, so
// both servers count into the same series; any other registration problem is
// logged and c is used unexported.
func register[C prometheus.Collector](reg prometheus.Registerer, log hclog.Logger, c C) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	log.Warn("metric not registered", "error", err)
	return c
}

// opMetrics are one operation's pre-resolved series, so that the success
// path does no label lookup.
type opMetrics struct {
	prefix, operation string
	ok                prometheus.Counter
	duration          prometheus.Observer
}

func (m *metrics) forOp(prefix, operation string) *opMetrics {
	return &opMetrics{
		prefix:    prefix,
		operation: operation,
		ok:        m.requests.WithLabelValues(prefix, operation, outcomeOK),
		duration:  m.duration.WithLabelValues(operation),
	}
}

// countError counts one failed request of om with the exception code.
func (m *metrics) countError(om *opMetrics, code string) {
	m.requests.WithLabelValues(om.prefix, om.operation, code).Inc()
}
