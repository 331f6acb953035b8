package engine

import (
	"context"
	"errors"

	"github.com/godwit-db/godwit/engine/apierr"
)

// Settings that global tables keep in sync after a replica is created
// (reference §5.3): TTL, GSIs, billing mode and write capacity. The
// global-tables layer reads them with TableSettings, learns of a client's
// change through ReplicaHooks.SettingsChanged and SettingsGen, and applies
// another region's change with ApplyReplicaTTL and ApplyReplicaUpdate,
// which do not count as a client's change.

// ErrSettingsChanged is returned by ApplyReplicaTTL and ApplyReplicaUpdate
// when a client changed the table's settings since the caller read them
// (its SettingsGen moved): nothing is written; read them again.
var ErrSettingsChanged = errors.New("engine: table settings changed since they were read")

// TableSettings is the part of a table's definition global tables keep in
// sync.
type TableSettings struct {
	// Gen is the table's SettingsGen: how many client changes
	// (UpdateTable, UpdateTimeToLive) the table has had.
	Gen uint64
	// TTLAttribute is the TTL attribute, "" when TTL is disabled.
	TTLAttribute string
	// BillingMode is PROVISIONED or PAY_PER_REQUEST; the capacities are 0
	// in PAY_PER_REQUEST.
	BillingMode                 string
	ReadCapacity, WriteCapacity int64
	// GSIs are the table's global secondary indexes but those being
	// deleted, by name.
	GSIs map[string]GSISettings
}

// GSISettings is one GSI as another region's UpdateTable would create it.
type GSISettings struct {
	Index GlobalSecondaryIndex `json:"index"`
	// AttributeDefinitions types the index's key attributes.
	AttributeDefinitions []AttributeDefinition `json:"attributeDefinitions"`
}

// TableSettings returns the named table's synchronised settings.
func (db *DB) TableSettings(table string) (TableSettings, error) {
	t := db.table(resolveTableName(table))
	if t == nil {
		return TableSettings{}, apierr.TableNotFound(table)
	}
	m := t.m()
	s := TableSettings{Gen: m.SettingsGen, BillingMode: m.BillingMode, GSIs: map[string]GSISettings{}}
	if s.BillingMode == "" {
		s.BillingMode = "PROVISIONED"
	}
	if s.BillingMode == "PROVISIONED" {
		s.ReadCapacity, s.WriteCapacity = m.ReadCapacity, m.WriteCapacity
	}
	if m.TTLEnabled {
		s.TTLAttribute = m.TTLAttribute
	}
	for _, ix := range m.Indexes {
		if ix.Local || ix.Status == "DELETING" {
			continue
		}
		p := ix.projection()
		g := GSISettings{Index: GlobalSecondaryIndex{IndexName: ix.Name, KeySchema: keySchema(ix.HashKey, ix.RangeKey), Projection: &p}}
		if s.BillingMode == "PROVISIONED" {
			r, w := ix.ReadCapacity, ix.WriteCapacity
			g.Index.ProvisionedThroughput = &ProvisionedThroughput{ReadCapacityUnits: &r, WriteCapacityUnits: &w}
		}
		for _, d := range m.AttributeDefinitions {
			if d.AttributeName == ix.HashKey || d.AttributeName == ix.RangeKey {
				g.AttributeDefinitions = append(g.AttributeDefinitions, d)
			}
		}
		s.GSIs[ix.Name] = g
	}
	return s, nil
}

// ApplyReplicaTTL sets the table's TTL attribute ("" disables TTL) as
// another region's UpdateTimeToLive did: without UpdateTimeToLive's
// checks (already enabled, the one-change-an-hour limit: the origin region
// enforced them), not counted in SettingsGen, and only if SettingsGen is
// still expectGen (else ErrSettingsChanged). The change restarts the
// local one-change-an-hour window, as a client's would.
func (db *DB) ApplyReplicaTTL(table string, expectGen uint64, attribute string) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	t := db.tables[resolveTableName(table)]
	if t == nil {
		return apierr.TableNotFound(table)
	}
	m := t.m().clone()
	if m.SettingsGen != expectGen {
		return ErrSettingsChanged
	}
	if m.TTLEnabled == (attribute != "") && (attribute == "" || m.TTLAttribute == attribute) {
		return nil
	}
	m.TTLEnabled, m.TTLAttribute = attribute != "", attribute
	m.TTLChangedAt = epochSeconds(db.clock.PhysicalNow())
	return db.saveMeta(t, m)
}

// ApplyReplicaUpdate applies an UpdateTable request (billing, throughput,
// GSI creation or deletion) made for another region's change, with
// UpdateTable's validation, not counted in SettingsGen, and only if
// SettingsGen is still expectGen (else ErrSettingsChanged). ReplicaUpdates
// are refused.
func (db *DB) ApplyReplicaUpdate(ctx context.Context, expectGen uint64, in *UpdateTableInput) error {
	if len(in.ReplicaUpdates) > 0 {
		return invalid("ReplicaUpdates cannot be applied as a replica's settings")
	}
	var c constraints
	in.constraints(&c)
	if err := c.err(); err != nil {
		return err
	}
	if err := in.checkShape(); err != nil {
		return err
	}
	_, _, err := db.updateTable(resolveTableName(in.TableName), in, &expectGen)
	return err
}

// settingsChanged tells the global-tables layer that a client changed a
// replicated table's settings.
func (db *DB) settingsChanged(table string) {
	if h := db.cat.replicas.Load(); h != nil && h.SettingsChanged != nil {
		h.SettingsChanged(table)
	}
}
