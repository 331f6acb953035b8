package globaltables

import (
	"context"
	"errors"
	"maps"
	"sort"
	"strings"

	"github.com/godwit-db/godwit/engine"
)

// Settings synchronisation (reference §5.3): TTL, GSIs created or deleted
// later, billing mode and write capacity, changed in any region, reach
// every replica through the replica set. Tags, read capacity (per replica,
// as AWS's ProvisionedThroughputOverride), GSI throughput changes, stream,
// SSE, table class and deletion protection are not synchronised.
//
// Each setting is one entry of ReplicaSet.Settings, versioned like a
// member: "ttl", "billing", and "gsi/<name>" per GSI (a deleted GSI keeps
// an entry with GSI nil, so an older copy cannot bring it back). At every
// reconciliation a region
//
//  1. compares its table's settings with ReplicaSet.Observed (what it saw
//     last time): what differs was changed by a client here, and becomes a
//     new version of that entry;
//  2. applies every entry that differs from its table (ApplyReplicaTTL,
//     ApplyReplicaUpdate), compare-and-set on the table's SettingsGen so a
//     client's change made meanwhile is never overwritten: it is picked up
//     by step 1 next time;
//  3. pushes the set to the other replicas (Manager.push), which merge it.
//
// An entry that cannot be applied yet (a GSI while another index is being
// built, a table busy) is tried again at the next reconciliation, and a
// region that was down gets the entries when it is back, so changes
// converge; concurrent changes to one entry resolve as members do (the
// greater version, then region name), changes to different entries all
// survive.

// Setting is one synchronised setting's value and version. Which fields
// matter depends on the entry's key.
type Setting struct {
	// "ttl": the TTL attribute, "" for disabled.
	TTLAttribute string `json:"ttl,omitempty"`
	// "billing": PROVISIONED or PAY_PER_REQUEST; capacities when
	// PROVISIONED (ReadCapacity and GSICapacity are only used when a
	// replica switches to PROVISIONED: read capacity is per replica).
	BillingMode   string              `json:"billingMode,omitempty"`
	ReadCapacity  int64               `json:"read,omitempty"`
	WriteCapacity int64               `json:"write,omitempty"`
	GSICapacity   map[string]Capacity `json:"gsiCapacity,omitempty"`
	// "gsi/<name>": the index; nil when it was deleted.
	GSI *engine.GSISettings `json:"gsi,omitempty"`

	Version uint64 `json:"version"`
	By      string `json:"by"`
}

// Capacity is a provisioned read and write capacity.
type Capacity struct {
	Read  int64 `json:"read"`
	Write int64 `json:"write"`
}

const (
	settingTTL     = "ttl"
	settingBilling = "billing"
	settingGSI     = "gsi/"
)

func (s Setting) newer(o Setting) bool {
	if s.Version != o.Version {
		return s.Version > o.Version
	}
	return s.By > o.By
}

// same reports whether two values of entry key are the same setting
// (versions aside).
func sameSetting(key string, a, b Setting) bool {
	switch {
	case key == settingTTL:
		return a.TTLAttribute == b.TTLAttribute
	case key == settingBilling:
		return a.BillingMode == b.BillingMode && (a.BillingMode != "PROVISIONED" || a.WriteCapacity == b.WriteCapacity)
	default:
		return (a.GSI == nil) == (b.GSI == nil)
	}
}

// setSetting writes entry key as region by would: one version above the
// current entry.
func (s *ReplicaSet) setSetting(key, by string, v Setting) {
	if s.Settings == nil {
		s.Settings = map[string]Setting{}
	}
	v.Version = s.Settings[key].Version + 1
	v.By = by
	s.Settings[key] = v
}

// mergeSettings takes every entry of o that is newer than s's.
func (s *ReplicaSet) mergeSettings(o map[string]Setting) bool {
	changed := false
	for k, v := range o {
		if cur, ok := s.Settings[k]; !ok || v.newer(cur) {
			if s.Settings == nil {
				s.Settings = map[string]Setting{}
			}
			s.Settings[k] = v
			changed = true
		}
	}
	return changed
}

// settingsOf renders a table's settings as entries (unversioned).
func settingsOf(ts engine.TableSettings) map[string]Setting {
	out := map[string]Setting{
		settingTTL:     {TTLAttribute: ts.TTLAttribute},
		settingBilling: {BillingMode: ts.BillingMode, ReadCapacity: ts.ReadCapacity, WriteCapacity: ts.WriteCapacity},
	}
	b := out[settingBilling]
	for name, g := range ts.GSIs {
		g := g
		out[settingGSI+name] = Setting{GSI: &g}
		if pt := g.Index.ProvisionedThroughput; pt != nil && pt.ReadCapacityUnits != nil && pt.WriteCapacityUnits != nil {
			if b.GSICapacity == nil {
				b.GSICapacity = map[string]Capacity{}
			}
			b.GSICapacity[name] = Capacity{Read: *pt.ReadCapacityUnits, Write: *pt.WriteCapacityUnits}
		}
	}
	out[settingBilling] = b
	return out
}

// initSettings records the table's current settings in a set that has none
// (a table becoming global here), as this region's. Caller holds opMu.
func (m *Manager) initSettings(table string, s *ReplicaSet) error {
	if s.Settings != nil {
		return nil
	}
	ts, err := m.db.TableSettings(table)
	if err != nil {
		return err
	}
	actual := settingsOf(ts)
	for k, v := range actual {
		s.setSetting(k, m.local, v)
	}
	s.Observed = actual
	return nil
}

// syncSettings records a client's settings changes made here in the
// table's replica set and applies the set's settings to the table (see
// the top of this file).
func (m *Manager) syncSettings(ctx context.Context, table string) {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	cur := m.currentSet(table)
	if cur == nil {
		return
	}
	ts, err := m.db.TableSettings(table)
	if err != nil {
		return // deleted meanwhile
	}
	actual := settingsOf(ts)
	next := cur.clone()
	changed := false
	switch {
	case next.Observed == nil && next.Settings == nil:
		// A set from before settings were synchronised: this region's
		// settings are the baseline (equal everywhere but for changes made
		// since; the greater region name wins a tie).
		for k, v := range actual {
			next.setSetting(k, m.local, v)
		}
		next.Observed, changed = actual, true
	case next.Observed == nil:
		// A new replica: its table was created from the definition.
		next.Observed, changed = actual, true
	default:
		var local []string
		for _, k := range unionKeys(actual, next.Observed) {
			if !sameSetting(k, actual[k], next.Observed[k]) {
				next.setSetting(k, m.local, actual[k])
				local = append(local, k)
			}
		}
		if len(local) > 0 || !maps.EqualFunc(actual, next.Observed, func(a, b Setting) bool { return sameDetail(a, b) }) {
			next.Observed, changed = actual, true
		}
		if len(local) > 0 {
			m.log.Info("table settings changed here; synchronising them", "table", table, "settings", local)
		}
	}
	applied := m.applySettings(ctx, table, ts, next)
	if len(applied) > 0 {
		changed = true
		m.log.Info("table settings changed in another region applied", "table", table, "settings", applied)
	}
	if !changed {
		return
	}
	if err := m.commit(table, next); err != nil {
		m.log.Error("store the replica set", "table", table, "error", err)
	}
}

// sameDetail compares two observed values fully (versions aside), so that
// Observed follows changes that are not synchronised (read capacity).
func sameDetail(a, b Setting) bool {
	if a.TTLAttribute != b.TTLAttribute || a.BillingMode != b.BillingMode || a.ReadCapacity != b.ReadCapacity ||
		a.WriteCapacity != b.WriteCapacity || !maps.Equal(a.GSICapacity, b.GSICapacity) || (a.GSI == nil) != (b.GSI == nil) {
		return false
	}
	return true
}

func unionKeys(a, b map[string]Setting) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range []map[string]Setting{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}

// applySettings applies to the table every entry of s.Settings that
// differs from it (billing first, then GSI deletions, creations, TTL),
// recording each applied value in s.Observed, and returns their keys. It
// stops at the first failure: the rest is tried at the next
// reconciliation. Caller holds opMu.
func (m *Manager) applySettings(ctx context.Context, table string, ts engine.TableSettings, s *ReplicaSet) []string {
	actual := settingsOf(ts)
	var keys []string
	for k, want := range s.Settings {
		if !sameSetting(k, want, actual[k]) {
			keys = append(keys, k)
		}
	}
	rank := func(k string) int {
		switch {
		case k == settingBilling:
			return 0
		case strings.HasPrefix(k, settingGSI) && s.Settings[k].GSI == nil:
			return 1
		case strings.HasPrefix(k, settingGSI):
			return 2
		}
		return 3
	}
	sort.Slice(keys, func(i, j int) bool {
		if ri, rj := rank(keys[i]), rank(keys[j]); ri != rj {
			return ri < rj
		}
		return keys[i] < keys[j]
	})
	var applied []string
	for _, k := range keys {
		want := s.Settings[k]
		var err error
		switch {
		case k == settingTTL:
			err = m.db.ApplyReplicaTTL(table, ts.Gen, want.TTLAttribute)
		case k == settingBilling:
			err = m.db.ApplyReplicaUpdate(ctx, ts.Gen, billingUpdate(table, ts, want))
			if err == nil {
				ts.BillingMode = want.BillingMode
			}
		case want.GSI == nil:
			name := strings.TrimPrefix(k, settingGSI)
			err = m.db.ApplyReplicaUpdate(ctx, ts.Gen, &engine.UpdateTableInput{TableName: table,
				GlobalSecondaryIndexUpdates: []engine.GlobalSecondaryIndexUpdate{{Delete: &engine.DeleteGlobalSecondaryIndexAction{IndexName: name}}}})
		default:
			err = m.db.ApplyReplicaUpdate(ctx, ts.Gen, gsiCreate(table, ts, want.GSI))
		}
		if err != nil {
			if errors.Is(err, engine.ErrSettingsChanged) {
				m.Kick() // a client's change first; then the rest
			} else {
				m.log.Debug("a synchronised table setting cannot be applied yet", "table", table, "setting", k, "error", err)
			}
			break
		}
		if s.Observed == nil {
			s.Observed = map[string]Setting{}
		}
		obs := want
		obs.Version, obs.By = 0, ""
		if want.GSI == nil && strings.HasPrefix(k, settingGSI) {
			delete(s.Observed, k)
		} else {
			s.Observed[k] = obs
		}
		applied = append(applied, k)
	}
	return applied
}

// billingUpdate is the UpdateTable request that gives the table want's
// billing mode and write capacity. Read capacity is per replica: a
// provisioned table keeps its own; one switching to PROVISIONED takes
// want's, and its GSIs take want's GSI capacities (or the table's).
func billingUpdate(table string, ts engine.TableSettings, want Setting) *engine.UpdateTableInput {
	in := &engine.UpdateTableInput{TableName: table, BillingMode: want.BillingMode}
	if want.BillingMode != "PROVISIONED" {
		return in
	}
	r, w := want.ReadCapacity, want.WriteCapacity
	if ts.BillingMode == "PROVISIONED" && ts.ReadCapacity > 0 {
		r = ts.ReadCapacity
	}
	in.ProvisionedThroughput = &engine.ProvisionedThroughput{ReadCapacityUnits: &r, WriteCapacityUnits: &w}
	if ts.BillingMode == "PROVISIONED" {
		return in
	}
	names := make([]string, 0, len(ts.GSIs))
	for n := range ts.GSIs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c, ok := want.GSICapacity[n]
		if !ok {
			c = Capacity{Read: r, Write: w}
		}
		in.GlobalSecondaryIndexUpdates = append(in.GlobalSecondaryIndexUpdates, engine.GlobalSecondaryIndexUpdate{
			Update: &engine.UpdateGlobalSecondaryIndexAction{IndexName: n,
				ProvisionedThroughput: &engine.ProvisionedThroughput{ReadCapacityUnits: &c.Read, WriteCapacityUnits: &c.Write}}})
	}
	return in
}

// gsiCreate is the UpdateTable request that creates g here, with
// throughput when (and only when) the table is PROVISIONED.
func gsiCreate(table string, ts engine.TableSettings, g *engine.GSISettings) *engine.UpdateTableInput {
	ix := g.Index
	switch {
	case ts.BillingMode != "PROVISIONED":
		ix.ProvisionedThroughput = nil
	case ix.ProvisionedThroughput == nil:
		r, w := ts.ReadCapacity, ts.WriteCapacity
		ix.ProvisionedThroughput = &engine.ProvisionedThroughput{ReadCapacityUnits: &r, WriteCapacityUnits: &w}
	}
	return &engine.UpdateTableInput{TableName: table, AttributeDefinitions: g.AttributeDefinitions,
		GlobalSecondaryIndexUpdates: []engine.GlobalSecondaryIndexUpdate{{Create: &ix}}}
}
