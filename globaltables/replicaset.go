package globaltables

import (
	"encoding/json"
	"fmt"
	"maps"
	"sort"
	"strconv"
)

// Replica statuses. CREATING, ACTIVE and DELETING are AWS's ReplicaStatus
// values; DELETED is godwit's own: the member left (its entry stays so
// that an older copy of the set cannot bring it back) and is never shown.
const (
	StatusCreating = "CREATING"
	StatusActive   = "ACTIVE"
	StatusDeleting = "DELETING"
	StatusDeleted  = "DELETED"
)

// replicaSetFormat is the version of the persisted and transmitted ReplicaSet.
const replicaSetFormat = 1

// Member is one region's entry in a ReplicaSet. Entries are versioned one
// by one: of two copies of an entry the one with the greater (Version, By)
// wins, so concurrent changes to different members (B becoming ACTIVE
// while A adds C) both survive a merge, and every region resolves a
// conflict on one member the same way.
type Member struct {
	Status string `json:"status"`
	// Progress is the percentage of the backfill done while CREATING.
	Progress int `json:"progress,omitempty"`
	// Source is the region a CREATING member backfills from.
	Source string `json:"source,omitempty"`
	// Version counts the entry's changes; By is the region that made the last.
	Version uint64 `json:"version"`
	By      string `json:"by"`
}

// newer reports whether m wins over o.
func (m Member) newer(o Member) bool {
	if m.Version != o.Version {
		return m.Version > o.Version
	}
	return m.By > o.By
}

// live reports whether the member is (or is becoming, or is still being
// removed as) a replica.
func (m Member) live() bool { return m.Status != "" && m.Status != StatusDeleted }

// ReplicaSet is a global table's membership as one region knows it. It
// converges by Merge: every region that has seen the same entries holds
// the same set, whatever the order it saw them in.
type ReplicaSet struct {
	Format  int               `json:"format"`
	Table   string            `json:"table"`
	Members map[string]Member `json:"members"`
	// Settings are the table settings kept in sync after creation (TTL,
	// billing, GSIs; settings.go), by key, versioned entry by entry like
	// Members. Absent in sets written before settings were synchronised.
	Settings map[string]Setting `json:"settings,omitempty"`
	// Observed is this region's own record of its table's settings as it
	// last saw them, to tell a client's change from one not yet applied.
	// It is persisted with the set but belongs to the region that stores
	// it: Merge ignores it and a created replica starts without it.
	Observed map[string]Setting `json:"observed,omitempty"`
}

func newReplicaSet(table string) *ReplicaSet {
	return &ReplicaSet{Format: replicaSetFormat, Table: table, Members: map[string]Member{}}
}

func (s *ReplicaSet) clone() *ReplicaSet {
	c := *s
	c.Members = maps.Clone(s.Members)
	if c.Members == nil {
		c.Members = map[string]Member{}
	}
	c.Settings = maps.Clone(s.Settings)
	c.Observed = maps.Clone(s.Observed)
	return &c
}

// set writes region's entry as region by would: one version above the
// current entry.
func (s *ReplicaSet) set(region, by string, m Member) {
	m.Version = s.Members[region].Version + 1
	m.By = by
	s.Members[region] = m
}

// Merge takes every entry of o that is newer than s's and reports whether
// s changed.
func (s *ReplicaSet) Merge(o *ReplicaSet) bool {
	if o == nil {
		return false
	}
	changed := false
	for r, m := range o.Members {
		if cur, ok := s.Members[r]; !ok || m.newer(cur) {
			s.Members[r] = m
			changed = true
		}
	}
	if s.mergeSettings(o.Settings) {
		changed = true
	}
	return changed
}

// Live returns the regions whose entry is not DELETED, but except, sorted.
func (s *ReplicaSet) Live(except string) []string {
	var out []string
	for r, m := range s.Members {
		if r != except && m.live() {
			out = append(out, r)
		}
	}
	sort.Strings(out)
	return out
}

// busy returns a member being created or deleted, "" if none.
func (s *ReplicaSet) busy() string {
	for _, r := range s.Live("") {
		if st := s.Members[r].Status; st == StatusCreating || st == StatusDeleting {
			return r
		}
	}
	return ""
}

func (s *ReplicaSet) marshal() []byte {
	b, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("globaltables: marshal replica set: %v", err)) // plain data: cannot fail
	}
	return b
}

func unmarshalReplicaSet(data []byte) (*ReplicaSet, error) {
	var s ReplicaSet
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("globaltables: decode replica set: %w", err)
	}
	if s.Format != replicaSetFormat {
		return nil, fmt.Errorf("globaltables: replica set format %d, want %d", s.Format, replicaSetFormat)
	}
	if s.Members == nil {
		s.Members = map[string]Member{}
	}
	return &s, nil
}

// ReplicaDescription is one entry of TableDescription.Replicas.
type ReplicaDescription struct {
	RegionName    string `json:"RegionName"`
	ReplicaStatus string `json:"ReplicaStatus"`
	// ReplicaStatusPercentProgress is a string in AWS's model.
	ReplicaStatusPercentProgress string `json:"ReplicaStatusPercentProgress,omitempty"`
}

// describe renders the live members other than local, sorted by region;
// nil when local is the only one (a regional table). NB: AWS documents
// Replicas as "the replicas of the global table" and has been seen to list
// the local region too, but Terraform's aws_dynamodb_table (provider 5.x)
// turns every entry into a replica block and has empty plans on AWS, so
// AWS answers with the other regions; so do we (the local replica's state
// is the table's own TableStatus). See docs/global-tables.md.
func (s *ReplicaSet) describe(local string) []any {
	if len(s.Live(local)) == 0 {
		return nil
	}
	var out []any
	for _, r := range s.Live("") {
		if r == local {
			continue // NB: the other regions only, as AWS (see describe's doc)
		}
		m := s.Members[r]
		d := ReplicaDescription{RegionName: r, ReplicaStatus: m.Status}
		if m.Status == StatusCreating {
			d.ReplicaStatusPercentProgress = strconv.Itoa(m.Progress)
		}
		out = append(out, d)
	}
	return out
}

// tableStatus is the TableStatus DescribeTable reports in region local for
// an otherwise ACTIVE table, as AWS does during replica changes: CREATING
// while local's own replica is being created (backfilled), DELETING while
// it is being removed, UPDATING while another replica is being created or
// deleted; "" (ACTIVE) otherwise, and for a regional table. Terraform's
// waiters poll TableStatus until ACTIVE and each replica's ReplicaStatus.
func (s *ReplicaSet) tableStatus(local string) string {
	if len(s.Live(local)) == 0 {
		return ""
	}
	switch s.Members[local].Status {
	case StatusCreating:
		return "CREATING"
	case StatusDeleting:
		return "DELETING"
	}
	if s.busy() != "" {
		return "UPDATING"
	}
	return ""
}
