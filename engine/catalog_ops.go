package engine

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/godwit-db/godwit/engine/apierr"
)

// Table status. NB: godwit creates, updates and deletes synchronously, so
// a stored table is always ACTIVE (DynamoDB Local does the same). Responses
// still carry the transitional status AWS returns (CREATING, UPDATING,
// DELETING), which SDK waiters and Terraform expect and handle; the next
// DescribeTable says ACTIVE (or ResourceNotFound after a delete).
const (
	statusActive   = "ACTIVE"
	statusCreating = "CREATING"
	statusUpdating = "UPDATING"
	statusDeleting = "DELETING"
)

// CreateTableInput is CreateTable's request. OnDemandThroughput,
// WarmThroughput and ResourcePolicy are accepted and ignored.
type CreateTableInput struct {
	AttributeDefinitions      []AttributeDefinition  `json:"AttributeDefinitions"`
	TableName                 string                 `json:"TableName"`
	KeySchema                 []KeySchemaElement     `json:"KeySchema"`
	LocalSecondaryIndexes     []LocalSecondaryIndex  `json:"LocalSecondaryIndexes"`
	GlobalSecondaryIndexes    []GlobalSecondaryIndex `json:"GlobalSecondaryIndexes"`
	BillingMode               string                 `json:"BillingMode"`
	ProvisionedThroughput     *ProvisionedThroughput `json:"ProvisionedThroughput"`
	StreamSpecification       *StreamSpecification   `json:"StreamSpecification"`
	SSESpecification          *SSESpecification      `json:"SSESpecification"`
	Tags                      []Tag                  `json:"Tags"`
	TableClass                string                 `json:"TableClass"`
	DeletionProtectionEnabled *bool                  `json:"DeletionProtectionEnabled"`
}

// CreateTable creates a table with DefaultPartitions partitions. The table
// is stored ACTIVE and usable at once; the response says CREATING as AWS's
// does. Errors: ValidationException, ResourceInUseException ("Table already
// exists: X"), LimitExceededException (2500 tables).
func (db *DB) CreateTable(ctx context.Context, in *CreateTableInput) (any, error) {
	return db.createTable(in, nil)
}

// createTable serves CreateTable; adjust, when set, changes the new table's
// metadata before it is stored (replica creation: partition count, TTL).
func (db *DB) createTable(in *CreateTableInput, adjust func(m *tableMeta)) (any, error) {
	var c constraints
	in.constraints(&c)
	if err := c.err(); err != nil {
		return nil, err
	}
	if err := in.check(db); err != nil {
		return nil, err
	}
	m, err := db.newTableMeta(in)
	if err != nil {
		return nil, err
	}
	if adjust != nil {
		adjust(m)
	}

	db.mu.Lock()
	defer db.mu.Unlock()
	if db.tables[m.Name] != nil {
		return nil, apierr.ResourceInUse("Table already exists: %s", m.Name)
	}
	if len(db.tables) >= maxTables {
		return nil, apierr.LimitExceeded("Subscriber limit exceeded: Number of tables exceeds the per-region limit of %d", maxTables)
	}
	if db.nextID == 0 {
		db.nextID = 1 // table id 0 is never used
	}
	m.ID = db.nextID
	buf, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	b := db.pebble.NewBatch()
	defer b.Close()
	_ = b.Set(catalogKey(m.Name), buf, nil)
	_ = b.Set(metaKey("next-table-id"), binary.BigEndian.AppendUint32(nil, m.ID+1), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return nil, fmt.Errorf("engine: create table %s: %w", m.Name, err)
	}
	db.nextID = m.ID + 1
	t, err := db.openTable(m)
	if err != nil {
		return nil, err
	}
	db.tables[m.Name] = t
	db.log.Info("table created", "table", m.Name, "table-id", m.ID)
	db.notifyTable(m.Name)

	d := db.describe(t, m)
	d.TableStatus = statusCreating
	for i := range d.GlobalSecondaryIndexes {
		d.GlobalSecondaryIndexes[i].IndexStatus = statusCreating
	}
	return &tableDescriptionOutput{TableDescription: d}, nil
}

// newTableMeta builds the metadata of a validated CreateTable request (all
// but the table id, which is assigned under db.mu).
func (db *DB) newTableMeta(in *CreateTableInput) (*tableMeta, error) {
	now := db.clock.PhysicalNow()
	defs := sortedDefinitions(in.AttributeDefinitions)
	m := &tableMeta{
		Format:      metaFormat,
		Name:        resolveTableName(in.TableName),
		TableID:     newUUID(),
		Partitions:  db.cfg.DefaultPartitions,
		Status:      statusActive,
		CreatedAt:   epochSeconds(now),
		HashKey:     in.KeySchema[0].AttributeName,
		BillingMode: in.BillingMode,
		NextIndexID: 1,
		TableClass:  in.TableClass,
	}
	m.AttributeDefinitions = defs
	m.HashType, _ = defType(defs, m.HashKey)
	if len(in.KeySchema) == 2 {
		m.RangeKey = in.KeySchema[1].AttributeName
		m.RangeType, _ = defType(defs, m.RangeKey)
	}
	if m.BillingMode == "" {
		m.BillingMode = "PROVISIONED"
	}
	if m.BillingMode == "PROVISIONED" {
		m.ReadCapacity = *in.ProvisionedThroughput.ReadCapacityUnits
		m.WriteCapacity = *in.ProvisionedThroughput.WriteCapacityUnits
	} else {
		m.PayPerRequestSince = m.CreatedAt
	}
	for _, l := range in.LocalSecondaryIndexes {
		m.Indexes = append(m.Indexes, newIndexMeta(m.NextIndexID, l.IndexName, true, l.KeySchema, l.Projection, defs))
		m.NextIndexID++
	}
	for _, g := range in.GlobalSecondaryIndexes {
		ix := newIndexMeta(m.NextIndexID, g.IndexName, false, g.KeySchema, g.Projection, defs)
		if g.ProvisionedThroughput != nil {
			ix.ReadCapacity = *g.ProvisionedThroughput.ReadCapacityUnits
			ix.WriteCapacity = *g.ProvisionedThroughput.WriteCapacityUnits
		}
		m.Indexes = append(m.Indexes, ix)
		m.NextIndexID++
	}
	if s := in.StreamSpecification; s != nil && *s.StreamEnabled {
		label := streamLabel(now, "")
		m.Stream = &streamMeta{Enabled: true, ViewType: s.StreamViewType, Label: label}
		m.LatestStreamLabel = label
	}
	on, key, err := db.checkSSE(in.SSESpecification)
	if err != nil {
		return nil, err
	}
	m.SSEEnabled, m.SSEKMSKeyArn = on, key
	if in.DeletionProtectionEnabled != nil {
		m.DeletionProtectionEnabled = *in.DeletionProtectionEnabled
	}
	if len(in.Tags) > 0 {
		m.Tags = append([]Tag(nil), in.Tags...)
	}
	return m, nil
}

// streamLabel is a new stream's label: the time as "2006-01-02T15:04:05.000"
// UTC, made later than prev (the table's previous label) so that every
// stream of a table has its own ARN.
func streamLabel(now time.Time, prev string) string {
	const layout = "2006-01-02T15:04:05.000"
	now = now.UTC()
	label := now.Format(layout)
	if prev != "" && label <= prev {
		if p, err := time.Parse(layout, prev); err == nil {
			label = p.Add(time.Millisecond).Format(layout)
		}
	}
	return label
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// DeleteTableInput is DeleteTable's request.
type DeleteTableInput struct {
	TableName string `json:"TableName"`
}

// DeleteTable removes a table and all its data: its catalog entry, items,
// index entries and statistics. Its stream outbox stays until the streams
// publisher has published it (see dropped.go). The response
// describes the table as it was, with TableStatus DELETING. Writers still
// holding the table get ResourceNotFoundException from then on.
func (db *DB) DeleteTable(ctx context.Context, in *DeleteTableInput) (any, error) {
	var c constraints
	c.tableName("tableName", in.TableName)
	if err := c.err(); err != nil {
		return nil, err
	}
	name := resolveTableName(in.TableName)
	out, replicated, err := db.deleteTable(name)
	if err != nil {
		return nil, err
	}
	// NB: outside db.mu, as ReplicaHooks promises.
	if h := db.cat.replicas.Load(); replicated && h != nil && h.Deleted != nil {
		h.Deleted(name)
	}
	return out, nil
}

// deleteTable serves DeleteTable under db.mu; replicated reports whether
// the table was a global table's replica.
func (db *DB) deleteTable(name string) (_ any, replicated bool, _ error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	t := db.tables[name]
	if t == nil {
		return nil, false, apierr.TableNotFound(name)
	}
	m := t.m()
	if m.DeletionProtectionEnabled {
		return nil, false, apierr.Validation("Resource cannot be deleted as it is currently protected against deletion. Disable deletion protection first.")
	}
	d := db.describe(t, m)
	d.TableStatus = statusDeleting

	// Stop the sequencers first (their queued writes commit), so that the
	// range deletions below are the last word on the table's keys.
	delete(db.tables, name)
	for _, p := range t.parts {
		p.stop()
	}
	b := db.pebble.NewBatch()
	defer b.Close()
	_ = b.Delete(catalogKey(name), nil)
	prefixes := []byte{prefixItem, prefixIndex, prefixStats, prefixTombstone, prefixApplied}
	// NB: a table that had a stream keeps its outbox until the streams
	// publisher has published it (dropped.go).
	if kept, err := db.dropOutbox(b, t); err != nil {
		return nil, false, err
	} else if !kept {
		prefixes = append(prefixes, prefixOutbox)
	}
	for _, prefix := range prefixes {
		start := tablePrefix(prefix, m.ID)
		_ = b.DeleteRange(start, prefixEnd(start), nil)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		// NB: the table is gone from memory but not from disk; it comes
		// back (with its data) at the next Open.
		return nil, false, fmt.Errorf("engine: delete table %s: %w", name, err)
	}
	db.dropTombstoneSets(m.ID)
	db.log.Info("table deleted", "table", name, "table-id", m.ID)
	db.notifyTable(name)
	return &tableDescriptionOutput{TableDescription: d}, m.Replicated, nil
}

// ListTablesInput is ListTables' request.
type ListTablesInput struct {
	ExclusiveStartTableName *string `json:"ExclusiveStartTableName"`
	Limit                   *int64  `json:"Limit"`
}

type listTablesOutput struct {
	TableNames             []string `json:"TableNames"`
	LastEvaluatedTableName string   `json:"LastEvaluatedTableName,omitempty"`
}

// ListTables returns up to Limit (default and maximum 100) table names in
// sorted order after ExclusiveStartTableName; LastEvaluatedTableName is set
// only when more names follow.
func (db *DB) ListTables(ctx context.Context, in *ListTablesInput) (any, error) {
	var c constraints
	if in.ExclusiveStartTableName != nil {
		c.name("exclusiveStartTableName", *in.ExclusiveStartTableName)
	}
	c.intRange("limit", in.Limit, 1, 100)
	if err := c.err(); err != nil {
		return nil, err
	}
	limit := 100
	if in.Limit != nil {
		limit = int(*in.Limit)
	}
	names := db.tableNames()
	if in.ExclusiveStartTableName != nil {
		start := *in.ExclusiveStartTableName
		names = names[sort.Search(len(names), func(i int) bool { return names[i] > start }):]
	}
	out := &listTablesOutput{TableNames: []string{}}
	if len(names) > limit {
		names = names[:limit]
		out.LastEvaluatedTableName = names[limit-1]
	}
	out.TableNames = append(out.TableNames, names...)
	return out, nil
}
