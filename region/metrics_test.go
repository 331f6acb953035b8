package region

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// series renders the samples of the named metric in reg as
// "label=value,...=VALUE" lines (labels sorted; histograms as their sample
// count), sorted.
func series(t *testing.T, reg prometheus.Gatherer, name string) []string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(ls)
			out = append(out, strings.Join(ls, ",")+"="+value(mf.GetType(), m))
		}
	}
	sort.Strings(out)
	return out
}

func value(typ dto.MetricType, m *dto.Metric) string {
	switch typ {
	case dto.MetricType_GAUGE:
		return fmt.Sprint(m.GetGauge().GetValue())
	case dto.MetricType_COUNTER:
		return fmt.Sprint(m.GetCounter().GetValue())
	case dto.MetricType_HISTOGRAM:
		return fmt.Sprint(m.GetHistogram().GetSampleCount())
	}
	return "?"
}

// TestReplicationMetrics checks godwit_replica_status (1 for each
// replica's current status, 0 for the others, gone when the replica goes)
// and that the replication series exist per (source, table).
func TestReplicationMetrics(t *testing.T) {
	down := "nats://" + freeAddr(t) // nobody listens there
	rs := startRegionsWith(t, func(c *Config) { c.Peers["reg-d"] = Peer{URL: down} }, "reg-a", "reg-b")
	a, b := rs["reg-a"].client, rs["reg-b"].client
	const table = "metered"
	createTable(t, a, table, newImages())
	if err := addReplica(a, table, "reg-b"); err != nil {
		t.Fatal(err)
	}
	waitReplicas(t, rs, table, "reg-a:ACTIVE,reg-b:ACTIVE", "reg-a", "reg-b")
	put(t, b, table, "k1", "from-b")
	put(t, a, table, "k2", "from-a")
	waitConverged(t, rs, table, 2, "reg-a", "reg-b")

	status := func(n string) string {
		return strings.Join(series(t, rs[n].r.Registry(), "godwit_replica_status"), " ")
	}
	want := "region=reg-a,status=ACTIVE,table=metered=1 region=reg-a,status=CREATING,table=metered=0 region=reg-a,status=DELETING,table=metered=0 " +
		"region=reg-b,status=ACTIVE,table=metered=1 region=reg-b,status=CREATING,table=metered=0 region=reg-b,status=DELETING,table=metered=0"
	for _, n := range []string{"reg-a", "reg-b"} {
		eventually(t, 10*time.Second, n+"'s replica status", func() string {
			if got := status(n); got != want {
				return got
			}
			return ""
		})
	}
	// Per (source, table): A replicates from B and B from A.
	for n, src := range map[string]string{"reg-a": "reg-b", "reg-b": "reg-a"} {
		reg := rs[n].r.Registry()
		for _, name := range []string{"godwit_replication_pending_records", "godwit_replication_latency_seconds",
			"godwit_replication_resync_required"} {
			got := series(t, reg, name)
			if len(got) != 1 || !strings.HasPrefix(got[0], "source="+src+",table="+table+"=") {
				t.Errorf("%s: %s = %v; want one series for source=%s,table=%s", n, name, got, src, table)
			}
		}
		if got := series(t, reg, "godwit_replication_latency_seconds"); len(got) == 1 && strings.HasSuffix(got[0], "=0") {
			t.Errorf("%s: no replication latency observed: %v", n, got)
		}
		got := strings.Join(series(t, reg, "godwit_replication_records_total"), " ")
		if !strings.Contains(got, "result=applied,source="+src+",table="+table+"=1") {
			t.Errorf("%s: records_total %s; want 1 applied from %s", n, got, src)
		}
	}

	// A replica in a region that is down stays CREATING.
	if err := addReplica(a, table, "reg-d"); err != nil {
		t.Fatal(err)
	}
	if got := status("reg-a"); !strings.Contains(got, "region=reg-d,status=CREATING,table=metered=1") ||
		!strings.Contains(got, "region=reg-d,status=ACTIVE,table=metered=0") {
		t.Errorf("reg-d's status: %s", got)
	}
	// A table that is no longer global has no series.
	createTable(t, a, "regional", nil)
	if got := status("reg-a"); strings.Contains(got, "table=regional") {
		t.Errorf("a regional table has replica status series: %s", got)
	}
}
