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

// startBackground starts the DB's background loops (the TTL and tombstone
// sweepers).
func (db *DB) startBackground() {
	if db.cfg.TTLSweepInterval > 0 {
		db.bg.Add(1)
		go db.ttlLoop(db.cfg.TTLSweepInterval)
	}
	if db.cfg.TombstoneSweepInterval > 0 {
		db.bg.Add(1)
		go db.tombstoneLoop(db.cfg.TombstoneSweepInterval)
	}
}

func (db *DB) ttlLoop(every time.Duration) {
	defer db.bg.Done()
	tick := time.NewTicker(every)
	defer tick.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-db.stopBG
		cancel()
	}()
	for {
		select {
		case <-db.stopBG:
			return
		case <-tick.C:
			if n, err := db.SweepTTL(ctx); err != nil {
				db.log.Warn("ttl sweep", "error", err)
			} else if n > 0 {
				db.log.Debug("ttl sweep", "deleted", n)
			}
		}
	}
}

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
	deleted := 0
	for _, name := range db.tableNames() {
		t := db.table(name)
		if t == nil || !t.m().TTLEnabled {
			continue
		}
		for _, p := range t.parts {
			n, err := db.sweepPartition(ctx, t, p)
			deleted += n
			if err != nil {
				return deleted, err
			}
		}
	}
	db.metrics.ttlDeletes.Add(float64(deleted))
	return deleted, nil
}

func (db *DB) sweepPartition(ctx context.Context, t *table, p *partition) (int, error) {
	m := t.m()
	now := db.clock.PhysicalNow()
	prefix := partitionPrefix(m.ID, p.id)
	it, err := db.pebble.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	var keys [][]byte
	deleted := 0
	for it.First(); it.Valid(); it.Next() {
		if ctx.Err() != nil {
			return deleted, ctx.Err()
		}
		_, item, err := decodeItemValue(it.Value())
		if err != nil {
			continue
		}
		if expired(item, m.TTLAttribute, now) {
			keys = append(keys, append([]byte(nil), it.Key()...))
			if len(keys) >= ttlChunk {
				n, err := db.sweepKeys(t, p, keys)
				deleted += n
				if err != nil {
					return deleted, err
				}
				keys = nil
			}
		}
	}
	if err := it.Error(); err != nil {
		return deleted, err
	}
	n, err := db.sweepKeys(t, p, keys)
	return deleted + n, err
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
			if err := db.apply(b, d, cur, w); err != nil {
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
