package engine

import (
	"encoding/json"
	"sync/atomic"

	"github.com/godwit-db/godwit/engine/attr"
)

// metaFormat is the version of the persisted tableMeta JSON.
const metaFormat = 1

// tableMeta is a table's definition as stored in the catalog. It is
// immutable once published: changes build a copy and publish it with
// table.setMeta, so a reader holding a *tableMeta sees one consistent version.
type tableMeta struct {
	Format     int     `json:"format"`
	ID         uint32  `json:"id"`
	Name       string  `json:"name"`
	TableID    string  `json:"tableId"` // the UUID clients see as TableId
	Partitions int     `json:"partitions"`
	Status     string  `json:"status"`
	CreatedAt  float64 `json:"createdAt"` // epoch seconds

	HashKey   string    `json:"hashKey"`
	HashType  attr.Type `json:"hashType"`
	RangeKey  string    `json:"rangeKey,omitempty"`
	RangeType attr.Type `json:"rangeType,omitempty"`

	AttributeDefinitions []AttributeDefinition `json:"attributeDefinitions"`
	BillingMode          string                `json:"billingMode"`
	ReadCapacity         int64                 `json:"readCapacity"`
	WriteCapacity        int64                 `json:"writeCapacity"`
	LastIncrease         float64               `json:"lastIncrease,omitempty"`
	LastDecrease         float64               `json:"lastDecrease,omitempty"`
	Decreases            int64                 `json:"decreases,omitempty"`

	Indexes     []*indexMeta `json:"indexes,omitempty"`
	NextIndexID uint16       `json:"nextIndexId"`

	Stream *streamMeta `json:"stream,omitempty"`
	// LatestStreamLabel/Arn survive disabling the stream (AWS keeps LatestStreamArn).
	LatestStreamLabel string `json:"latestStreamLabel,omitempty"`

	TTLAttribute string  `json:"ttlAttribute,omitempty"`
	TTLEnabled   bool    `json:"ttlEnabled,omitempty"`
	TTLChangedAt float64 `json:"ttlChangedAt,omitempty"`

	Tags                      []Tag  `json:"tags,omitempty"`
	DeletionProtectionEnabled bool   `json:"deletionProtection,omitempty"`
	TableClass                string `json:"tableClass,omitempty"`
	SSEEnabled                bool   `json:"sseEnabled,omitempty"`
	SSEKMSKeyArn              string `json:"sseKmsKeyArn,omitempty"`
	// PayPerRequestSince is when BillingMode last became PAY_PER_REQUEST (epoch seconds).
	PayPerRequestSince float64 `json:"payPerRequestSince,omitempty"`
	PITREnabled        bool    `json:"pitrEnabled,omitempty"`
	// Replicated marks a global table: deletes leave tombstones (replica.go).
	Replicated bool `json:"replicated,omitempty"`
	// ReplicaSet is the global-tables layer's replica set (opaque here; replicaset.go).
	ReplicaSet json.RawMessage `json:"replicaSet,omitempty"`
	// SettingsGen counts the changes clients made to the settings global
	// tables keep in sync (UpdateTable, UpdateTimeToLive); changes applied
	// for another region do not count (replicasettings.go).
	SettingsGen uint64 `json:"settingsGen,omitempty"`
}

// streamMeta is the table's current stream, if one is enabled.
type streamMeta struct {
	Enabled  bool   `json:"enabled"`
	ViewType string `json:"viewType"`
	Label    string `json:"label"`
}

// indexMeta is one GSI or LSI.
type indexMeta struct {
	ID               uint16    `json:"id"`
	Name             string    `json:"name"`
	Local            bool      `json:"local"`
	HashKey          string    `json:"hashKey"`
	HashType         attr.Type `json:"hashType"`
	RangeKey         string    `json:"rangeKey,omitempty"`
	RangeType        attr.Type `json:"rangeType,omitempty"`
	ProjectionType   string    `json:"projectionType"` // ALL | KEYS_ONLY | INCLUDE
	NonKeyAttributes []string  `json:"nonKeyAttributes,omitempty"`
	Status           string    `json:"status"` // CREATING | ACTIVE | DELETING
	Backfilling      bool      `json:"backfilling,omitempty"`
	ReadCapacity     int64     `json:"readCapacity,omitempty"`
	WriteCapacity    int64     `json:"writeCapacity,omitempty"`
}

// maintained reports whether writes must keep this index's entries up to date.
func (ix *indexMeta) maintained() bool { return ix.Status == "CREATING" || ix.Status == "ACTIVE" }

// readable reports whether Query/Scan may read the index.
func (ix *indexMeta) readable() bool { return ix.Status == "ACTIVE" }

func (m *tableMeta) clone() *tableMeta {
	c := *m
	c.AttributeDefinitions = append([]AttributeDefinition(nil), m.AttributeDefinitions...)
	c.Indexes = make([]*indexMeta, len(m.Indexes))
	for i, ix := range m.Indexes {
		cp := *ix
		cp.NonKeyAttributes = append([]string(nil), ix.NonKeyAttributes...)
		c.Indexes[i] = &cp
	}
	if m.Stream != nil {
		s := *m.Stream
		c.Stream = &s
	}
	c.Tags = append([]Tag(nil), m.Tags...)
	c.ReplicaSet = append(json.RawMessage(nil), m.ReplicaSet...)
	if m.ReplicaSet == nil {
		c.ReplicaSet = nil
	}
	return &c
}

func (m *tableMeta) index(name string) *indexMeta {
	for _, ix := range m.Indexes {
		if ix.Name == name {
			return ix
		}
	}
	return nil
}

// keyNames returns the table's key attribute names (hash, then range if any).
func (m *tableMeta) keyNames() []string {
	if m.RangeKey == "" {
		return []string{m.HashKey}
	}
	return []string{m.HashKey, m.RangeKey}
}

// isKey reports whether name is one of the table's primary key attributes.
func (m *tableMeta) isKey(name string) bool {
	return name == m.HashKey || (m.RangeKey != "" && name == m.RangeKey)
}

// table is a table's runtime state: its current metadata and its partitions.
type table struct {
	meta  atomic.Pointer[tableMeta]
	parts []*partition
}

func (t *table) m() *tableMeta { return t.meta.Load() }
