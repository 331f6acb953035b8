package engine

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/godwit-db/godwit/engine/apierr"
)

// tableArn is the ARN of the named table in this region and account.
func (db *DB) tableArn(name string) string {
	return fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", db.cfg.Region, db.cfg.AccountID, name)
}

// streamArn is the ARN of the table's stream with the given label.
func (db *DB) streamArn(table, label string) string {
	return db.tableArn(table) + "/stream/" + label
}

// StreamArn returns the ARN of the named table's latest stream ("" when
// the table never had one). For the streams package.
func (db *DB) StreamArn(table string) string {
	t := db.table(table)
	if t == nil {
		return ""
	}
	m := t.m()
	if m.LatestStreamLabel == "" {
		return ""
	}
	return db.streamArn(m.Name, m.LatestStreamLabel)
}

// epochSeconds renders t as DynamoDB's timestamps: epoch seconds with
// millisecond precision.
func epochSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

// keySchema renders a hash (and optional range) key.
func keySchema(hash, rng string) []KeySchemaElement {
	ks := []KeySchemaElement{{AttributeName: hash, KeyType: "HASH"}}
	if rng != "" {
		ks = append(ks, KeySchemaElement{AttributeName: rng, KeyType: "RANGE"})
	}
	return ks
}

func (ix *indexMeta) projection() Projection {
	pt := ix.ProjectionType
	p := Projection{ProjectionType: &pt}
	if len(ix.NonKeyAttributes) > 0 {
		p.NonKeyAttributes = append([]string(nil), ix.NonKeyAttributes...)
	}
	return p
}

// throughput renders capacity as DescribeTable does; decreases count only
// on the UTC day of the last one.
func (db *DB) throughput(read, write int64, lastInc, lastDec float64, decreases int64) *ProvisionedThroughputDescription {
	d := &ProvisionedThroughputDescription{ReadCapacityUnits: read, WriteCapacityUnits: write}
	if lastInc > 0 {
		v := lastInc
		d.LastIncreaseDateTime = &v
	}
	if lastDec > 0 {
		v := lastDec
		d.LastDecreaseDateTime = &v
		sec, frac := math.Modf(lastDec)
		last := time.Unix(int64(sec), int64(frac*1e9)).UTC()
		now := db.clock.PhysicalNow().UTC()
		if last.YearDay() == now.YearDay() && last.Year() == now.Year() {
			d.NumberOfDecreasesToday = decreases
		}
	}
	return d
}

// tableStats sums the partitions' item counts and sizes as of their last commits.
func (t *table) tableStats() partStats {
	var s partStats
	for _, p := range t.parts {
		ps := p.currentStats()
		s.Items += ps.Items
		s.Bytes += ps.Bytes
	}
	return s
}

// describe renders the table as TableDescription. Index sizes and counts
// are reported as 0: godwit keeps no per-index statistics (AWS refreshes
// them only every six hours anyway).
func (db *DB) describe(t *table, m *tableMeta) *TableDescription {
	st := t.tableStats()
	d := &TableDescription{
		AttributeDefinitions:      append([]AttributeDefinition{}, m.AttributeDefinitions...),
		TableName:                 m.Name,
		KeySchema:                 keySchema(m.HashKey, m.RangeKey),
		TableStatus:               m.Status,
		CreationDateTime:          m.CreatedAt,
		ProvisionedThroughput:     db.throughput(m.ReadCapacity, m.WriteCapacity, m.LastIncrease, m.LastDecrease, m.Decreases),
		TableSizeBytes:            st.Bytes,
		ItemCount:                 st.Items,
		TableArn:                  db.tableArn(m.Name),
		TableId:                   m.TableID,
		BillingModeSummary:        &BillingModeSummary{BillingMode: m.BillingMode},
		DeletionProtectionEnabled: m.DeletionProtectionEnabled,
	}
	if m.PayPerRequestSince > 0 {
		v := m.PayPerRequestSince
		d.BillingModeSummary.LastUpdateToPayPerRequestDateTime = &v
	}
	for _, ix := range m.Indexes {
		arn := d.TableArn + "/index/" + ix.Name
		if ix.Local {
			d.LocalSecondaryIndexes = append(d.LocalSecondaryIndexes, LocalSecondaryIndexDescription{
				IndexName:  ix.Name,
				KeySchema:  keySchema(ix.HashKey, ix.RangeKey),
				Projection: ix.projection(),
				IndexArn:   arn,
			})
			continue
		}
		g := GlobalSecondaryIndexDescription{
			IndexName:             ix.Name,
			KeySchema:             keySchema(ix.HashKey, ix.RangeKey),
			Projection:            ix.projection(),
			IndexStatus:           ix.Status,
			ProvisionedThroughput: db.throughput(ix.ReadCapacity, ix.WriteCapacity, 0, 0, 0),
			IndexArn:              arn,
		}
		if ix.Backfilling {
			b := true
			g.Backfilling = &b
		}
		d.GlobalSecondaryIndexes = append(d.GlobalSecondaryIndexes, g)
	}
	if m.Stream != nil && m.Stream.Enabled {
		on := true
		d.StreamSpecification = &StreamSpecification{StreamEnabled: &on, StreamViewType: m.Stream.ViewType}
	}
	if m.LatestStreamLabel != "" {
		d.LatestStreamLabel = m.LatestStreamLabel
		d.LatestStreamArn = db.streamArn(m.Name, m.LatestStreamLabel)
	}
	if m.SSEEnabled {
		d.SSEDescription = &SSEDescription{Status: "ENABLED", SSEType: "KMS", KMSMasterKeyArn: m.SSEKMSKeyArn}
	}
	if m.TableClass != "" {
		d.TableClassSummary = &TableClassSummary{TableClass: m.TableClass}
	}
	if h := db.cat.replicas.Load(); h != nil && h.Describe != nil {
		if reps := h.Describe(m.Name); len(reps) > 0 {
			d.Replicas = reps
			d.GlobalTableVersion = "2019.11.21"
		}
		if h.Status != nil && d.TableStatus == statusActive {
			if st := h.Status(m.Name); st != "" {
				d.TableStatus = st
			}
		}
	}
	return d
}

// sortedDefinitions returns defs sorted by name (AWS echoes them so).
func sortedDefinitions(defs []AttributeDefinition) []AttributeDefinition {
	out := append([]AttributeDefinition(nil), defs...)
	sort.Slice(out, func(i, j int) bool { return out[i].AttributeName < out[j].AttributeName })
	return out
}

// DescribeTableInput is DescribeTable's request.
type DescribeTableInput struct {
	TableName string `json:"TableName"`
}

// DescribeTable returns {Table: TableDescription}. TableName may be an ARN.
func (db *DB) DescribeTable(ctx context.Context, in *DescribeTableInput) (any, error) {
	var c constraints
	c.tableName("tableName", in.TableName)
	if err := c.err(); err != nil {
		return nil, err
	}
	name := resolveTableName(in.TableName)
	t := db.table(name)
	if t == nil {
		return nil, apierr.TableNotFound(name)
	}
	return &describeTableOutput{Table: db.describe(t, t.m())}, nil
}
