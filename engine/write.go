package engine

import (
	"github.com/cockroachdb/pebble/v2"
	"github.com/godwit-db/godwit/conflict"
	"github.com/godwit-db/godwit/engine/apierr"
	"github.com/godwit-db/godwit/engine/attr"
	"github.com/godwit-db/godwit/engine/expr"
)

// itemWrite is one item mutation: PutItem, UpdateItem, DeleteItem, a
// BatchWriteItem request, a transaction member or a TTL expiry.
type itemWrite struct {
	key primaryKey
	// cond, if set, must hold on the current item (nil when absent).
	cond expr.Cond
	// compute returns the new item given the current one (nil when absent);
	// a nil result deletes the item. nil compute means "check only"
	// (ConditionCheck): nothing is written.
	compute func(old attr.Item) (attr.Item, error)
	// ttl marks a delete made by the TTL sweeper (streams flag these).
	ttl bool
	// accessKey is the access key id of the request, recorded in the change.
	accessKey string

	// Results, filled in by apply.
	old, new attr.Item
	oldSize  int
	newSize  int
	changed  bool
	version  conflict.Version
	// prev is the version the write replaced (item's or tombstone's; zero
	// when none): the change record's PrevVersion.
	prev conflict.Version
	// condFailed is set when cond was false.
	condFailed bool
	// indexUnits counts index entries written per index name (for ConsumedCapacity INDEXES).
	indexUnits map[string]float64
}

// errConditionFailed is returned by apply when cond is false; callers turn
// it into ConditionalCheckFailedException or a cancellation reason.
var errConditionFailed = apierr.ConditionalCheckFailed(nil)

// apply evaluates w against the partition's batch b and, when the item
// changes, writes the item, its index entries and its version. It writes
// nothing unless it returns nil.
func (db *DB) apply(src itemSource, b *pebble.Batch, d *partStats, m *tableMeta, w *itemWrite) error {
	key := w.key.itemKey(m)
	st, old, err := src.readStamp(key)
	if err != nil {
		return err
	}
	oldVer := st.Version
	w.old = old
	if old != nil {
		w.oldSize = attr.ItemSize(old)
	}
	if w.cond != nil && !w.cond.Eval(old) {
		w.condFailed = true
		return errConditionFailed
	}
	if w.compute == nil {
		return nil
	}
	nw, err := w.compute(old)
	if err != nil {
		return err
	}
	if nw != nil {
		if err := m.checkItem(nw); err != nil {
			return err
		}
		w.newSize = attr.ItemSize(nw)
	}
	w.new = nw
	if old == nil && nw == nil {
		return nil
	}
	if old != nil && nw != nil && itemsEqual(old, nw) {
		return nil
	}
	w.changed = true
	// NB: on a replicated table an absent item may have a tombstone: the
	// new version must beat it too, or another region would keep the delete.
	prev, err := db.storedVersion(b, m, &w.key, oldVer, old != nil)
	if err != nil {
		return err
	}
	w.prev = prev
	w.version = db.clock.NextAfter(prev)
	if nw == nil {
		if err := b.Delete(key, nil); err != nil {
			return err
		}
		src.wrote(key, nil)
		d.Items--
		d.Bytes -= int64(w.oldSize)
	} else {
		v := encodeItemValuePrev(w.version, w.prev, nw)
		if err := b.Set(key, v, nil); err != nil {
			return err
		}
		src.wrote(key, v)
		if old == nil {
			d.Items++
		}
		d.Bytes += int64(w.newSize - w.oldSize)
	}
	if err := db.writeIndexes(b, m, w); err != nil {
		return err
	}
	if err := db.writeTombstone(b, m, w); err != nil {
		return err
	}
	return db.recordChange(b, d, m, w)
}

// writeIndexes moves the item's entries in every maintained index from its
// old image to its new one.
func (db *DB) writeIndexes(b *pebble.Batch, m *tableMeta, w *itemWrite) error {
	for _, ix := range m.Indexes {
		if !ix.maintained() {
			continue
		}
		var oldKey, newKey, newVal []byte
		if w.old != nil {
			oldKey, _ = m.indexEntry(ix, &w.key, w.old)
		}
		if w.new != nil {
			newKey, newVal = m.indexEntry(ix, &w.key, w.new)
		}
		if oldKey != nil && string(oldKey) != string(newKey) {
			if err := b.Delete(oldKey, nil); err != nil {
				return err
			}
		}
		if newKey != nil {
			if err := b.Set(newKey, newVal, nil); err != nil {
				return err
			}
		}
		if oldKey != nil || newKey != nil {
			if w.indexUnits == nil {
				w.indexUnits = make(map[string]float64)
			}
			w.indexUnits[ix.Name] = writeUnits(max(w.oldSize, w.newSize))
		}
	}
	return nil
}

// itemsEqual reports whether two items hold the same attributes and values.
func itemsEqual(a, b attr.Item) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		vb, ok := b[k]
		if !ok || !attr.Equal(va, vb) {
			return false
		}
	}
	return true
}

// write runs one item write on its partition and waits until it is durable.
func (db *DB) write(t *table, w *itemWrite) error {
	p := t.parts[w.key.part]
	return p.submitItems(func(b *pebble.Batch, d *partStats) error {
		// NB: the metadata is read on the partition goroutine so that index
		// backfills, which also run there, see every write before or after them.
		return db.apply(&p.items, b, d, t.m(), w)
	})
}

// writeUnits is the WCU of writing an item of size bytes (1 KB units, at least 1).
func writeUnits(size int) float64 {
	u := (size + 1023) / 1024
	if u < 1 {
		u = 1
	}
	return float64(u)
}

// readUnits is the RCU of reading size bytes (4 KB units, at least 1),
// halved for an eventually consistent read.
func readUnits(size int, consistent bool) float64 {
	u := float64((size + 4095) / 4096)
	if u < 1 {
		u = 1
	}
	if !consistent {
		u /= 2
	}
	return u
}
