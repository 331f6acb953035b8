package engine

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// A deleted table whose stream may still hold unpublished changes keeps its
// outbox: DeleteTable records the table as dropped (with each partition's
// last outbox sequence), the streams publisher drains the outbox as for a
// live table, and then calls ForgetDropped. So deleting a table never loses
// a change committed before the delete, as DynamoDB keeps a deleted
// table's stream readable with every record up to the deletion.
//
//	dropped   0x02 | "dropped/" | table id (4) -> droppedMeta (JSON)

// droppedMeta is a dropped table's persisted description.
type droppedMeta struct {
	Format int       `json:"format"`
	Info   TableInfo `json:"info"`
	Heads  []uint64  `json:"heads"` // per partition: the last outbox sequence
}

func droppedKey(id uint32) []byte {
	return binary.BigEndian.AppendUint32(metaKey("dropped/"), id)
}

// loadDropped reads the dropped tables at Open.
func (db *DB) loadDropped() error {
	prefix := metaKey("dropped/")
	it, err := db.pebble.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		var d droppedMeta
		if err := json.Unmarshal(it.Value(), &d); err != nil {
			return fmt.Errorf("engine: decode dropped table %x: %w", it.Key(), err)
		}
		db.dropped[d.Info.ID] = &d
	}
	return it.Error()
}

// dropOutbox records t (already stopped) as dropped, in b, when its outbox
// may hold changes a stream has not published; it reports whether it did
// (the caller then keeps the outbox keys). Caller holds db.mu.
func (db *DB) dropOutbox(b *pebble.Batch, t *table) (bool, error) {
	m := t.m()
	if m.LatestStreamLabel == "" {
		return false, nil // never had a stream: no outbox
	}
	info, _ := db.tableInfo(t)
	info.Stream = nil
	info.Dropped = true
	d := &droppedMeta{Format: 1, Info: info, Heads: make([]uint64, len(t.parts))}
	for i, p := range t.parts {
		d.Heads[i] = p.currentStats().Seq
	}
	buf, err := json.Marshal(d)
	if err != nil {
		return false, err
	}
	if err := b.Set(droppedKey(m.ID), buf, nil); err != nil {
		return false, err
	}
	db.dropped[m.ID] = d
	return true, nil
}

// DroppedTables returns the deleted tables whose outbox is still kept for
// the streams publisher (TableInfo.Dropped is set).
func (db *DB) DroppedTables() []TableInfo {
	db.mu.RLock()
	defer db.mu.RUnlock()
	out := make([]TableInfo, 0, len(db.dropped))
	for _, d := range db.dropped {
		out = append(out, d.Info)
	}
	return out
}

// ForgetDropped deletes a dropped table's outbox and record, once its
// changes are published. Idempotent.
func (db *DB) ForgetDropped(id uint32) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if _, ok := db.dropped[id]; !ok {
		return nil
	}
	b := db.pebble.NewBatch()
	defer b.Close()
	start := tablePrefix(prefixOutbox, id)
	_ = b.DeleteRange(start, prefixEnd(start), nil)
	_ = b.Delete(droppedKey(id), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("engine: forget dropped table %d: %w", id, err)
	}
	delete(db.dropped, id)
	return nil
}

// TableByID returns the info of a live table or a dropped one by id.
func (db *DB) TableByID(id uint32) (TableInfo, bool) {
	db.mu.RLock()
	var found *table
	for _, t := range db.tables {
		if t.m().ID == id {
			found = t
			break
		}
	}
	d := db.dropped[id]
	db.mu.RUnlock()
	if found != nil {
		return db.tableInfo(found)
	}
	if d != nil {
		return d.Info, true
	}
	return TableInfo{}, false
}

// OutboxHeadByID is OutboxHead by table id; for a dropped table it is the
// partition's last sequence at the delete.
func (db *DB) OutboxHeadByID(id uint32, part int) (uint64, bool) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	for _, t := range db.tables {
		if t.m().ID == id {
			if part < 0 || part >= len(t.parts) {
				return 0, false
			}
			return t.parts[part].currentStats().Seq, true
		}
	}
	if d := db.dropped[id]; d != nil && part >= 0 && part < len(d.Heads) {
		return d.Heads[part], true
	}
	return 0, false
}
