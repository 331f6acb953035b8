package engine

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/godwit-db/godwit/conflict"
	"github.com/godwit-db/godwit/engine/apierr"
	"github.com/godwit-db/godwit/engine/attr"
)

// Replication support for global tables (issue 4): tombstones, the
// last-writer-wins apply of changes made in other regions, and the applied
// positions recorded with them.
//
//	tombstone 0x14 | table id (4) | partition (2) | key(pk) | key(sk) -> format | conflict.Version | deleted-at (8, Unix ns)
//	applied   0x15 | table id (4) | source region | 0x00 | partition (2) -> position (8)
//
// A deleted item of a replicated table leaves a tombstone carrying the
// delete's version, so that an older write arriving late from another region
// cannot resurrect it: a replicated change is applied iff its version is
// greater than the stored item's or tombstone's (conflict.Version's order
// ends in the region id, so every region decides the same way).
const (
	prefixTombstone byte = 0x14
	prefixApplied   byte = 0x15

	tombstoneFormat byte = 1
)

func tombstoneKey(m *tableMeta, k *primaryKey) []byte {
	key := binary.BigEndian.AppendUint16(tablePrefix(prefixTombstone, m.ID), uint16(k.part))
	return append(key, k.enc...)
}

func appliedKey(tableID uint32, source string, part int) []byte {
	k := append(tablePrefix(prefixApplied, tableID), source...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint16(k, uint16(part))
}

func encodeTombstone(v conflict.Version, deletedAt int64) []byte {
	b := append([]byte{tombstoneFormat}, v.AppendBinary(nil)...)
	return binary.BigEndian.AppendUint64(b, uint64(deletedAt))
}

// readTombstone returns the version of the item's tombstone, if any.
func readTombstone(r pebble.Reader, key []byte) (conflict.Version, bool, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return conflict.Version{}, false, nil
	}
	if err != nil {
		return conflict.Version{}, false, err
	}
	defer closer.Close()
	if len(v) == 0 || v[0] != tombstoneFormat {
		return conflict.Version{}, false, fmt.Errorf("engine: unknown tombstone format")
	}
	ver, _, err := conflict.DecodeVersion(v[1:])
	return ver, err == nil, err
}

// storedVersion is the version an incoming write must beat: the item's, or
// for an absent item of a replicated table its tombstone's.
func (db *DB) storedVersion(b pebble.Reader, m *tableMeta, k *primaryKey, itemVer conflict.Version, exists bool) (conflict.Version, error) {
	if exists || !m.Replicated {
		return itemVer, nil
	}
	v, _, err := readTombstone(b, tombstoneKey(m, k))
	return v, err
}

// writeTombstone records (or clears, for a live item) the tombstone of a
// replicated table's item in b.
func (db *DB) writeTombstone(b *pebble.Batch, m *tableMeta, w *itemWrite) error {
	if !m.Replicated {
		return nil
	}
	key := tombstoneKey(m, &w.key)
	if w.new == nil {
		return b.Set(key, encodeTombstone(w.version, db.clock.PhysicalNow().UnixNano()), nil)
	}
	return b.Delete(key, nil)
}

// SetReplicated marks a table as replicated (a global table): its deletes
// leave tombstones and its writes are versioned against them. Replica
// management calls it; tests use it directly.
func (db *DB) SetReplicated(table string, on bool) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	t := db.tables[resolveTableName(table)]
	if t == nil {
		return apierr.TableNotFound(table)
	}
	m := t.m().clone()
	m.Replicated = on
	if err := db.saveMeta(t, m); err != nil {
		return err
	}
	// NB: a write already queued may have read the old metadata; waiting
	// for each partition to drain makes the flag hold for every later write.
	for _, p := range t.parts {
		if err := p.submit(func(*pebble.Batch, *partStats) error { return nil }); err != nil {
			return err
		}
	}
	return nil
}

// RemoteResult counts what ApplyRemote did.
type RemoteResult struct {
	Applied int // changes that won last-writer-wins and were written
	Stale   int // changes older than (or equal to) the stored version: skipped
}

// ApplyRemote applies changes made in region source to one partition of a
// table, in order, each iff its version is newer than the stored item's or
// tombstone's, and records position as the applied position of (source,
// partition) in the same Pebble batch — so a change is applied exactly once
// even across crashes. Applied changes appear in this region's stream as
// ordinary records (their origin kept; a TTL delete becomes a plain REMOVE).
// Every change must belong to the partition.
func (db *DB) ApplyRemote(table string, part int, source string, position uint64, changes []*Change) (RemoteResult, error) {
	t := db.table(resolveTableName(table))
	if t == nil {
		return RemoteResult{}, apierr.TableNotFound(table)
	}
	if part < 0 || part >= len(t.parts) {
		return RemoteResult{}, fmt.Errorf("engine: table %s has no partition %d", table, part)
	}
	var res RemoteResult
	err := t.parts[part].submit(func(b *pebble.Batch, d *partStats) error {
		m := t.m()
		res = RemoteResult{}
		for _, c := range changes {
			k, err := m.keyFromKey(c.Keys)
			if err != nil {
				return fmt.Errorf("engine: replicated change with a bad key: %w", err)
			}
			if k.part != part {
				return fmt.Errorf("engine: replicated change for partition %d applied to %d", k.part, part)
			}
			won, err := db.applyRemoteOne(b, d, m, k, c)
			if err != nil {
				return err
			}
			if won {
				res.Applied++
			} else {
				res.Stale++
			}
		}
		pos := binary.BigEndian.AppendUint64(nil, position)
		return b.Set(appliedKey(m.ID, source, part), pos, nil)
	})
	return res, err
}

func (db *DB) applyRemoteOne(b *pebble.Batch, d *partStats, m *tableMeta, k primaryKey, c *Change) (bool, error) {
	key := k.itemKey(m)
	oldVer, old, err := readItem(b, key)
	if err != nil {
		return false, err
	}
	stored, err := db.storedVersion(b, m, &k, oldVer, old != nil)
	if err != nil {
		return false, err
	}
	if !c.Version.After(stored) {
		return false, nil
	}
	// NB: a version too far ahead of this region's clock is still applied
	// (every region must decide alike), but the clock does not follow it:
	// later local writes still beat it through NextAfter.
	_ = db.clock.Update(c.Version)
	// The change's origin is its version's region, which recordChange keeps.
	w := &itemWrite{key: k, old: old, new: c.NewImage, version: c.Version, changed: true}
	if old != nil {
		w.oldSize = attr.ItemSize(old)
	}
	if w.new != nil {
		if err := m.checkItem(w.new); err != nil {
			return false, err
		}
		w.newSize = attr.ItemSize(w.new)
		if err := b.Set(key, encodeItemValue(w.version, w.new), nil); err != nil {
			return false, err
		}
		if old == nil {
			d.Items++
		}
		d.Bytes += int64(w.newSize - w.oldSize)
	} else if old != nil {
		if err := b.Delete(key, nil); err != nil {
			return false, err
		}
		d.Items--
		d.Bytes -= int64(w.oldSize)
	}
	if err := db.writeIndexes(b, m, w); err != nil {
		return false, err
	}
	if err := db.writeTombstone(b, m, w); err != nil {
		return false, err
	}
	if old == nil && w.new == nil {
		return true, nil // a newer delete of an item we never had: tombstone only
	}
	return true, db.recordChange(b, d, m, w)
}

// AppliedPosition returns the position recorded by the last ApplyRemote of
// (source, partition) for the table, 0 if none.
func (db *DB) AppliedPosition(table, source string, part int) (uint64, error) {
	t := db.table(resolveTableName(table))
	if t == nil {
		return 0, apierr.TableNotFound(table)
	}
	v, closer, err := db.pebble.Get(appliedKey(t.m().ID, source, part))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("engine: malformed applied position")
	}
	return binary.BigEndian.Uint64(v), nil
}

// ItemVersion returns the stored version of an item, or of its tombstone
// (deleted reports which); ok is false when neither exists. For
// verification and tests.
func (db *DB) ItemVersion(table string, key attr.Item) (v conflict.Version, deleted, ok bool, err error) {
	t := db.table(resolveTableName(table))
	if t == nil {
		return v, false, false, apierr.TableNotFound(table)
	}
	m := t.m()
	k, err := m.keyFromKey(key)
	if err != nil {
		return v, false, false, err
	}
	ver, item, err := readItem(db.pebble, k.itemKey(m))
	if err != nil || item != nil {
		return ver, false, item != nil, err
	}
	tv, found, err := readTombstone(db.pebble, tombstoneKey(m, &k))
	return tv, found, found, err
}
