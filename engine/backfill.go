package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
)

// backfillChunk is how many items one backfill request carries through a
// partition's sequencer: small enough not to delay the partition's writers
// noticeably, large enough to amortise the group commit.
const backfillChunk = 256

// catalogState is the control plane's runtime state: the worker that
// finishes index creations (backfill) and deletions in the background, and
// the hooks of packages above engine.
type catalogState struct {
	// kick wakes the index worker to look for CREATING/DELETING indexes.
	kick chan struct{}

	mu      sync.Mutex
	running map[indexJob]bool

	// replicas is the global-tables seam (nil until one is installed).
	replicas atomic.Pointer[ReplicaHooks]

	// afterChunk, when set (tests only), runs after each backfill chunk commits.
	afterChunk func(tableID uint32, indexID uint16)
}

// indexJob names one index being created or deleted in the background.
type indexJob struct {
	tableID uint32
	indexID uint16
}

// ReplicaHooks is the seam through which the global-tables layer (which
// engine must not import) serves the replica part of the control plane.
// Update and Deleted are called with no engine lock held.
type ReplicaHooks struct {
	// Describe returns the table's Replicas for its TableDescription (nil: none).
	Describe func(table string) []any
	// Status, when it returns a status, replaces an ACTIVE table's
	// TableStatus in its TableDescription (UPDATING while a replica is
	// being created or deleted); "" keeps it. Called like Describe.
	Status func(table string) string
	// Update serves UpdateTable's ReplicaUpdates (the raw JSON of each
	// ReplicationGroupUpdate); its error is returned to the client as is.
	Update func(ctx context.Context, table string, updates []json.RawMessage) error
	// Deleted is told that DeleteTable removed a replicated table (its
	// replica set, stored with its metadata, is gone with it), so that the
	// other regions learn this region left the global table.
	Deleted func(table string)
	// SettingsChanged is told that a client changed a replicated table's
	// settings (UpdateTable, UpdateTimeToLive), so that the other regions
	// learn it (TableSettings). It may be called with the engine's lock
	// held: it must not call back into the engine.
	SettingsChanged func(table string)
}

// SetReplicaHooks installs the global-tables seam; until it is called,
// UpdateTable rejects ReplicaUpdates and TableDescription has no Replicas.
func (db *DB) SetReplicaHooks(h ReplicaHooks) { db.cat.replicas.Store(&h) }

// resumeBackfills starts the index worker. Called once by Open after load:
// any index persisted as CREATING (a backfill interrupted by a restart) or
// DELETING is picked up at once.
func (db *DB) resumeBackfills() {
	db.cat = &catalogState{kick: make(chan struct{}, 1), running: make(map[indexJob]bool)}
	db.bg.Add(1)
	go db.indexWorker()
	db.kickIndexWorker()
}

// kickIndexWorker asks the worker to look for index work; it never blocks.
func (db *DB) kickIndexWorker() {
	select {
	case db.cat.kick <- struct{}{}:
	default:
	}
}

// indexWorker starts one goroutine per index job it finds and, on
// shutdown, waits for them (they stop between chunks).
func (db *DB) indexWorker() {
	defer db.bg.Done()
	var jobs sync.WaitGroup
	for {
		select {
		case <-db.stopBG:
			jobs.Wait()
			return
		case <-db.cat.kick:
		}
		for _, t := range db.allTables() {
			m := t.m()
			for _, ix := range m.Indexes {
				if ix.Status != "CREATING" && ix.Status != "DELETING" {
					continue
				}
				job := indexJob{tableID: m.ID, indexID: ix.ID}
				db.cat.mu.Lock()
				busy := db.cat.running[job]
				db.cat.running[job] = true
				db.cat.mu.Unlock()
				if busy {
					continue
				}
				jobs.Add(1)
				go func() {
					defer jobs.Done()
					err := db.runIndexJob(t, job)
					db.cat.mu.Lock()
					delete(db.cat.running, job)
					db.cat.mu.Unlock()
					if err == nil {
						// The index may have moved on meanwhile (CREATING to
						// DELETING): look again. After an error, wait for the
						// next kick or Open rather than spin.
						db.kickIndexWorker()
					}
				}()
			}
		}
	}
}

// allTables returns the current tables (any order).
func (db *DB) allTables() []*table {
	db.mu.RLock()
	defer db.mu.RUnlock()
	out := make([]*table, 0, len(db.tables))
	for _, t := range db.tables {
		out = append(out, t)
	}
	return out
}

// runIndexJob creates or deletes one index, whichever its status says.
func (db *DB) runIndexJob(t *table, job indexJob) error {
	ix := t.m().indexByID(job.indexID)
	if ix == nil {
		return nil
	}
	var err error
	switch ix.Status {
	case "CREATING":
		err = db.backfill(t, job.indexID)
	case "DELETING":
		err = db.finishIndexDelete(t, job.indexID)
	}
	if err != nil {
		// NB: a stopped DB or a deleted table ends the job too; an
		// interrupted job is resumed by the next Open.
		db.log.Debug("index job stopped", "table", t.m().Name, "index-id", job.indexID, "error", err)
	}
	return err
}

func (m *tableMeta) indexByID(id uint16) *indexMeta {
	for _, ix := range m.Indexes {
		if ix.ID == id {
			return ix
		}
	}
	return nil
}

// errStopping ends background index work when the DB shuts down.
var errStopping = fmt.Errorf("engine: stopping")

func (db *DB) stopping() bool {
	select {
	case <-db.stopBG:
		return true
	default:
		return false
	}
}

// fence waits until every partition of t has committed everything queued
// before it. Metadata changes publish first and fence second, so that after
// the fence no write applied under the previous metadata is still in flight.
func (db *DB) fence(t *table) error {
	for _, p := range t.parts {
		if err := p.submit(func(*pebble.Batch, *partStats) error { return nil }); err != nil {
			return err
		}
	}
	return nil
}

// backfill writes the entry of every existing item into a CREATING index,
// then marks it ACTIVE. Concurrent writes maintain the index themselves
// (indexMeta.maintained), so the backfill only has to cover the items that
// existed before the index was published. Each chunk of keys is re-read and
// indexed inside one partition request, serialized with the partition's
// writes: whatever the item is at that point is what gets indexed, and
// rewriting an entry a write already made is harmless (idempotent).
func (db *DB) backfill(t *table, indexID uint16) error {
	if err := db.fence(t); err != nil {
		return err
	}
	tableID := t.m().ID
	for part, p := range t.parts {
		prefix := partitionPrefix(tableID, part)
		lower, upper := prefix, prefixEnd(prefix)
		for {
			if db.stopping() {
				return errStopping
			}
			if ix := t.m().indexByID(indexID); ix == nil || ix.Status != "CREATING" {
				return nil // deleted meanwhile
			}
			keys, err := db.collectKeys(lower, upper, backfillChunk)
			if err != nil {
				return err
			}
			if len(keys) == 0 {
				break
			}
			err = p.submit(func(b *pebble.Batch, _ *partStats) error {
				return db.backfillChunk(b, t.m(), indexID, len(prefix), keys)
			})
			if err != nil {
				return err
			}
			if h := db.cat.afterChunk; h != nil {
				h(tableID, indexID)
			}
			lower = append(keys[len(keys)-1], 0) // the next key after the last one
		}
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.tables[t.m().Name] != t {
		return nil // table deleted
	}
	m := t.m().clone()
	ix := m.indexByID(indexID)
	if ix == nil || ix.Status != "CREATING" {
		return nil
	}
	ix.Status = "ACTIVE"
	ix.Backfilling = false
	if err := db.saveMeta(t, m); err != nil {
		return err
	}
	db.log.Info("index backfilled", "table", m.Name, "index", ix.Name)
	return nil
}

// backfillChunk runs on the partition goroutine: it indexes the items at
// keys as they are now (in b, which holds the group's earlier writes).
// It reads everything before it writes, so an error leaves b untouched.
func (db *DB) backfillChunk(b *pebble.Batch, m *tableMeta, indexID uint16, prefixLen int, keys [][]byte) error {
	ix := m.indexByID(indexID)
	if ix == nil || ix.Status != "CREATING" {
		return nil
	}
	var entries [][2][]byte
	for _, k := range keys {
		_, item, err := readItem(b, k)
		if err != nil {
			return fmt.Errorf("engine: backfill %s/%s: read item: %w", m.Name, ix.Name, err)
		}
		if item == nil {
			continue // deleted since the keys were collected
		}
		pk := primaryKey{enc: k[prefixLen:]}
		if ek, ev := m.indexEntry(ix, &pk, item); ek != nil {
			entries = append(entries, [2][]byte{ek, ev})
		}
	}
	for _, e := range entries {
		if err := b.Set(e[0], e[1], nil); err != nil {
			return err
		}
	}
	return nil
}

// collectKeys returns up to n item keys in [lower, upper), copied.
func (db *DB) collectKeys(lower, upper []byte, n int) ([][]byte, error) {
	it, err := db.pebble.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, err
	}
	var keys [][]byte
	for it.First(); it.Valid() && len(keys) < n; it.Next() {
		keys = append(keys, append([]byte(nil), it.Key()...))
	}
	if err := it.Error(); err != nil {
		it.Close()
		return nil, err
	}
	return keys, it.Close()
}

// finishIndexDelete removes a DELETING index: once no write can still be
// adding entries under older metadata (fence), it drops the index's
// keyspace and then its metadata.
func (db *DB) finishIndexDelete(t *table, indexID uint16) error {
	if err := db.fence(t); err != nil {
		return err
	}
	p := indexPrefix(t.m().ID, indexID)
	if err := db.pebble.DeleteRange(p, prefixEnd(p), pebble.Sync); err != nil {
		return fmt.Errorf("engine: drop index keyspace: %w", err)
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.tables[t.m().Name] != t {
		return nil
	}
	m := t.m().clone()
	kept := m.Indexes[:0]
	for _, ix := range m.Indexes {
		if ix.ID != indexID {
			kept = append(kept, ix)
		}
	}
	m.Indexes = kept
	m.AttributeDefinitions = m.usedDefinitions(m.AttributeDefinitions)
	return db.saveMeta(t, m)
}

// usedDefinitions keeps the definitions of attributes that a key of the
// table or of one of its indexes uses (AWS prunes the others when a GSI goes).
func (m *tableMeta) usedDefinitions(defs []AttributeDefinition) []AttributeDefinition {
	used := map[string]bool{m.HashKey: true}
	if m.RangeKey != "" {
		used[m.RangeKey] = true
	}
	for _, ix := range m.Indexes {
		used[ix.HashKey] = true
		if ix.RangeKey != "" {
			used[ix.RangeKey] = true
		}
	}
	var out []AttributeDefinition
	for _, d := range defs {
		if used[d.AttributeName] {
			out = append(out, d)
		}
	}
	return out
}
