// Package promreg registers Prometheus collectors with a Registerer passed
// in (godwit keeps no global registry), sharing a collector that is already
// registered, so that several components of one kind (consumers, drivers,
// two regions in one test process) can count into one registry.
//
//	records = promreg.Register(reg, prometheus.NewCounterVec(opts, labels))
package promreg

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c with reg and returns the collector to use: c, or the
// equal collector already registered under the same description. With a nil
// reg, or when reg refuses c for another reason (a description that clashes
// with a different collector's), c is returned unregistered: the caller
// still counts, unexported.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
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
