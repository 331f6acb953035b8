package globaltables

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"
)

// replicaStatuses are the statuses godwit_replica_status reports, each a
// series per live replica (1 for the current status, 0 for the others, so
// that a change shows as a flip rather than a series appearing).
var replicaStatuses = []string{StatusCreating, StatusActive, StatusDeleting}

// statusCollector exports the Manager's replica sets at scrape time as
// godwit_replica_status{table,region,status}: a replica that leaves (or a
// table that becomes regional) has no series any more.
type statusCollector struct {
	m    *Manager
	desc *prometheus.Desc
}

var _ prometheus.Collector = (*statusCollector)(nil)

func newStatusCollector(m *Manager) *statusCollector {
	return &statusCollector{m: m, desc: prometheus.NewDesc("godwit_replica_status",
		"Status of each replica of each global table as this region knows it: 1 for the replica's current status "+
			"(CREATING, ACTIVE, DELETING), 0 for the others. region is the replica's region (the local one included).",
		[]string{"table", "region", "status"}, nil)}
}

func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	sets := make(map[string]*ReplicaSet, len(c.m.sets))
	for t, s := range c.m.sets {
		sets[t] = s // NB: sets are replaced, never modified
	}
	c.m.mu.Unlock()
	tables := make([]string, 0, len(sets))
	for t := range sets {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	for _, t := range tables {
		s := sets[t]
		if len(s.Live(c.m.local)) == 0 {
			continue // regional: no replicas to report
		}
		for _, r := range s.Live("") {
			cur := s.Members[r].Status
			for _, st := range replicaStatuses {
				v := 0.0
				if st == cur {
					v = 1
				}
				ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, t, r, st)
			}
		}
	}
}
