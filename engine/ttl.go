package engine

import (
	"context"
	"strconv"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/godwit-db/godwit/engine/attr"
)

// ttlMaxAge: TTL values more than five years in the past are ignored, as on AWS.
const ttlMaxAge = 5 * 365 * 24 * time.Hour

// ttlChunk bounds how many expired items one sweeper request deletes.
const ttlChunk = 128

// expired reports whether it has a TTL attribute name holding a Number of
// epoch seconds in the past (and no more than five years in the past).
func expired(it attr.Item, name string, now time.Time) bool {
	v, ok := it[name]
	if !ok || v.Type != attr.N {
		return false
	}
	secs := now.Unix()
	if attr.CompareNumbers(v.S, strconv.FormatInt(secs, 10)) >= 0 {
		return false
	}
	return attr.CompareNumbers(v.S, strconv.FormatInt(now.Add(-ttlMaxAge).Unix(), 10)) >= 0
}

// SweepTTL deletes every expired item of every table with TTL enabled,
// through the normal write path (the deletes are flagged as TTL deletes),
// and returns how many it deleted. Expiry is judged by the DB's clock. The
// background sweeper calls it every TTLSweepInterval; tests call it directly.
//
// NB: the sweep reads every item of a TTL table. A per-table expiry index
// would make it proportional to the expired items only; until then the
// interval bounds the cost.
func (db *DB) SweepTTL(ctx context.Context) (int, error) {
	ttlEnabled := func(t *table) bool { return t.m().TTLEnabled }
	deleted, err := db.sweepTables(ctx, ttlEnabled, db.sweepTTLPartition)
	if err != nil {
		return deleted, err
	}
	db.metrics.ttlDeletes.Add(float64(deleted))
	return deleted, nil
}

// sweepTTLPartition deletes the expired items of one partition of t.
func (db *DB) sweepTTLPartition(ctx context.Context, t *table, p *partition) (int, error) {
	m := t.m()
	now := db.clock.PhysicalNow()
	isExpired := func(value []byte) bool {
		_, item, err := decodeItemValue(value)
		return err == nil && expired(item, m.TTLAttribute, now)
	}
	remove := func(keys [][]byte) (int, error) { return db.sweepKeys(t, p, keys) }
	return db.sweepPrefix(ctx, partitionPrefix(m.ID, p.id), ttlChunk, isExpired, remove)
}

// sweepKeys deletes, in one partition request, those of the items at keys
// that are still expired when the request runs, and returns how many.
func (db *DB) sweepKeys(t *table, p *partition, keys [][]byte) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	now := db.clock.PhysicalNow()
	n := 0
	err := p.submit(func(b *pebble.Batch, d *partStats) error {
		cur := t.m()
		for _, k := range keys {
			_, item, err := readItem(b, k)
			if err != nil {
				return err
			}
			// NB: re-checked on the partition: a write since the scan may
			// have moved or removed the expiry.
			if item == nil || !cur.TTLEnabled || !expired(item, cur.TTLAttribute, now) {
				continue
			}
			pk, err := cur.keyFromItem(item)
			if err != nil {
				continue
			}
			w := &itemWrite{key: pk, ttl: true, compute: func(attr.Item) (attr.Item, error) { return nil, nil }}
			if err := db.apply(batchItems{b}, b, d, cur, w); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
