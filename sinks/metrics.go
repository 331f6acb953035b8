package sinks

import (
	"github.com/godwit-db/godwit/internal/promreg"
	"github.com/prometheus/client_golang/prometheus"
)

// Invocation outcomes (label outcome of godwit_sink_invocations_total).
const (
	outcomeOK            = "ok"
	outcomeFunctionError = "function_error"
	outcomePartial       = "partial"
	outcomeTransient     = "transient"
)

type metrics struct {
	iteratorAge  prometheus.Gauge
	batches      prometheus.Counter
	records      prometheus.Counter
	invocations  *prometheus.CounterVec // curried with consumer; label outcome
	retries      prometheus.Counter
	bisects      prometheus.Counter
	deadLettered prometheus.Counter
	filtered     prometheus.Counter
	restarts     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, consumer string) *metrics {
	l := prometheus.Labels{"consumer": consumer}
	counter := func(name, help string) prometheus.Counter {
		v := promreg.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "godwit", Subsystem: "sink", Name: name, Help: help,
		}, []string{"consumer"}))
		return v.With(l)
	}
	age := promreg.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "godwit", Subsystem: "sink", Name: "iterator_age_seconds",
		Help: "AWS's IteratorAge: now minus the ApproximateCreationDateTime of the last record read, when it was read (0 when caught up).",
	}, []string{"consumer"}))
	inv := promreg.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "godwit", Subsystem: "sink", Name: "invocations_total",
		Help: "Target invocations by outcome: ok, function_error, partial (batchItemFailures reported), transient.",
	}, []string{"consumer", "outcome"}))
	m := &metrics{
		iteratorAge:  age.With(l),
		batches:      counter("batches_total", "Batches formed from the stream (before bisection)."),
		records:      counter("records_total", "Records read from the table's stream."),
		invocations:  inv.MustCurryWith(l),
		retries:      counter("retries_total", "Invocations retried after a function error, partial failure or transient error."),
		bisects:      counter("bisects_total", "Failing batches split in two (BisectBatchOnFunctionError)."),
		deadLettered: counter("dead_lettered_records_total", "Records discarded after retries or record age ran out (sent to the OnFailure destination when there is one)."),
		filtered:     counter("filtered_records_total", "Records dropped by FilterCriteria (checkpointed past)."),
		restarts:     HandlerRestarts(reg, consumer),
	}
	for _, o := range []string{outcomeOK, outcomeFunctionError, outcomePartial, outcomeTransient} {
		m.invocations.WithLabelValues(o)
	}
	return m
}

// HandlerRestarts returns the godwit_sink_handler_restarts_total counter of
// consumer, registered on reg (or the one already registered there). The
// runtime registers it for every consumer; a target that runs a handler
// process increments it each time it restarts one — through this function,
// or through the hook the runtime hands it (HandlerRestartReporter).
func HandlerRestarts(reg prometheus.Registerer, consumer string) prometheus.Counter {
	v := promreg.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "godwit", Subsystem: "sink", Name: "handler_restarts_total",
		Help: "Handler processes restarted by the consumer's target (function target).",
	}, []string{"consumer"}))
	return v.WithLabelValues(consumer)
}

// HandlerRestartReporter is implemented by targets that run a handler
// process. A Consumer calls SetHandlerRestartHook once, before its first
// Deliver, with a func the target calls after each restart of the handler
// (it increments godwit_sink_handler_restarts_total{consumer}).
type HandlerRestartReporter interface {
	SetHandlerRestartHook(restarted func())
}
