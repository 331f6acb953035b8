package promreg

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func newVec() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "things_total", Help: "Things."}, []string{"kind"})
}

func TestRegisterSharesTheRegisteredCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	first := Register(reg, newVec())
	second := Register(reg, newVec())
	if first != second {
		t.Fatal("second registration of an equal collector did not return the first")
	}
	second.WithLabelValues("a").Inc()
	if got := testutil.ToFloat64(first.WithLabelValues("a")); got != 1 {
		t.Fatalf("shared counter = %v, want 1", got)
	}
	if n, err := testutil.GatherAndCount(reg, "things_total"); err != nil || n != 1 {
		t.Fatalf("gathered %d series (err %v), want 1", n, err)
	}
}

func TestRegisterWithoutRegistry(t *testing.T) {
	c := newVec()
	if got := Register(nil, c); got != c {
		t.Fatal("Register(nil, c) did not return c")
	}
}

func TestRegisterClashReturnsOwnCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	Register(reg, newVec())
	// Same name, different labels: the registry refuses it as a clash, not
	// as already registered.
	other := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "things_total", Help: "Things."}, []string{"colour"})
	if got := Register(reg, other); got != other {
		t.Fatal("a clashing collector was not returned as is")
	}
}
