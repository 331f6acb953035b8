package engine

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/godwit-db/godwit/engine/apierr"
)

// Global-table support outside the data path: the replica set a table's
// replica-management layer persists with the table, and the definition a
// new replica of the table is created from.

// SetReplicaSet stores data (opaque to the engine: the global-tables layer's
// versioned replica set) with the table's metadata in the catalog, so that
// it survives restarts and goes when the table is deleted. nil clears it.
func (db *DB) SetReplicaSet(table string, data []byte) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	t := db.tables[resolveTableName(table)]
	if t == nil {
		return apierr.TableNotFound(table)
	}
	m := t.m().clone()
	m.ReplicaSet = append(json.RawMessage(nil), data...)
	if len(data) == 0 {
		m.ReplicaSet = nil
	}
	return db.saveMeta(t, m)
}

// ReplicaSet returns what SetReplicaSet stored for the table (nil if
// nothing); ok is false when the table does not exist.
func (db *DB) ReplicaSet(table string) (data []byte, ok bool) {
	t := db.table(resolveTableName(table))
	if t == nil {
		return nil, false
	}
	return append([]byte(nil), t.m().ReplicaSet...), true
}

// TableDefinition is what a new replica of a table is created from in
// another region: the CreateTable request that yields the same key schema,
// attribute definitions, LSIs, GSIs (all but those being deleted), billing
// mode and throughput, stream and table class; the partition count (a key
// must hash to the same partition in every region); and the TTL attribute.
// Tags, SSE, deletion protection and PITR are not part of it (AWS does not
// propagate them either).
type TableDefinition struct {
	Table        CreateTableInput `json:"table"`
	Partitions   int              `json:"partitions"`
	TTLAttribute string           `json:"ttlAttribute,omitempty"` // "" when TTL is disabled
}

// TableDefinition returns the named table's definition.
func (db *DB) TableDefinition(table string) (TableDefinition, error) {
	t := db.table(resolveTableName(table))
	if t == nil {
		return TableDefinition{}, apierr.TableNotFound(table)
	}
	m := t.m()
	in := CreateTableInput{
		TableName:            m.Name,
		AttributeDefinitions: append([]AttributeDefinition(nil), m.AttributeDefinitions...),
		KeySchema:            keySchema(m.HashKey, m.RangeKey),
		BillingMode:          m.BillingMode,
		TableClass:           m.TableClass,
	}
	if m.BillingMode == "PROVISIONED" {
		r, w := m.ReadCapacity, m.WriteCapacity
		in.ProvisionedThroughput = &ProvisionedThroughput{ReadCapacityUnits: &r, WriteCapacityUnits: &w}
	}
	used := map[string]bool{m.HashKey: true, m.RangeKey: true}
	for _, ix := range m.Indexes {
		if ix.Status == "DELETING" {
			continue
		}
		p := ix.projection()
		if ix.Local {
			in.LocalSecondaryIndexes = append(in.LocalSecondaryIndexes, LocalSecondaryIndex{
				IndexName: ix.Name, KeySchema: keySchema(ix.HashKey, ix.RangeKey), Projection: &p})
		} else {
			g := GlobalSecondaryIndex{IndexName: ix.Name, KeySchema: keySchema(ix.HashKey, ix.RangeKey), Projection: &p}
			if m.BillingMode == "PROVISIONED" {
				r, w := ix.ReadCapacity, ix.WriteCapacity
				g.ProvisionedThroughput = &ProvisionedThroughput{ReadCapacityUnits: &r, WriteCapacityUnits: &w}
			}
			in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, g)
		}
		used[ix.HashKey], used[ix.RangeKey] = true, true
	}
	// NB: a definition kept only for a DELETING index would make CreateTable
	// refuse the request (AWS rejects unused definitions).
	defs := in.AttributeDefinitions[:0]
	for _, d := range in.AttributeDefinitions {
		if used[d.AttributeName] {
			defs = append(defs, d)
		}
	}
	in.AttributeDefinitions = defs
	if m.Stream != nil && m.Stream.Enabled {
		on := true
		in.StreamSpecification = &StreamSpecification{StreamEnabled: &on, StreamViewType: m.Stream.ViewType}
	}
	def := TableDefinition{Table: in, Partitions: m.Partitions}
	if m.TTLEnabled {
		def.TTLAttribute = m.TTLAttribute
	}
	return def, nil
}

// CreateReplicaTable creates a table from a definition taken in another
// region (TableDefinition), with its partition count and TTL setting, and
// marks it replicated. Errors are CreateTable's (ResourceInUseException
// when the table exists).
func (db *DB) CreateReplicaTable(ctx context.Context, def TableDefinition, replicaSet []byte) error {
	if def.Partitions < 1 || def.Partitions > maxPartitions {
		return fmt.Errorf("engine: replica definition of %s: partition count %d out of range 1..%d",
			def.Table.TableName, def.Partitions, maxPartitions)
	}
	in := def.Table
	_, err := db.createTable(&in, func(m *tableMeta) {
		m.Partitions = def.Partitions
		if def.TTLAttribute != "" {
			m.TTLEnabled, m.TTLAttribute = true, def.TTLAttribute
		}
		m.Replicated = true
		if len(replicaSet) > 0 {
			m.ReplicaSet = append(json.RawMessage(nil), replicaSet...)
		}
	})
	return err
}
