package engine

import (
	"context"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Tombstone collection. A replicated table's delete leaves a tombstone
// (replica.go) so that an older write arriving late from another region
// cannot resurrect the item. A late write can arrive only while the
// record that carries it is still in its region's stream (retention);
// after that, a replica that missed it resynchronises from a snapshot
// instead. So a tombstone is kept TombstoneRetention + TombstoneGrace
// after the delete (by this region's physical clock, recorded in the
// tombstone), then collected by a sweeper that runs like the TTL sweeper:
// a scan outside the write path, then small batches of deletes on the
// partition's sequencer, each re-checked there.

// tombstoneChunk bounds how many tombstones one sweeper request deletes.
const tombstoneChunk = 256

func (db *DB) tombstoneLoop(every time.Duration) {
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
			if n, err := db.SweepTombstones(ctx); err != nil {
				db.log.Warn("tombstone sweep", "error", err)
			} else if n > 0 {
				db.log.Debug("tombstone sweep", "collected", n)
			}
		}
	}
}

// tombstoneExpired reports whether a tombstone made at deletedAt (Unix ns)
// may be collected at now.
func (db *DB) tombstoneExpired(deletedAt int64, now time.Time) bool {
	keep := db.cfg.TombstoneRetention + db.cfg.TombstoneGrace
	return now.Sub(time.Unix(0, deletedAt)) > keep
}

// SweepTombstones collects every tombstone, of every table, older than
// TombstoneRetention + TombstoneGrace by the DB's clock, and returns how
// many it collected. The background sweeper calls it every
// TombstoneSweepInterval; tests call it directly.
func (db *DB) SweepTombstones(ctx context.Context) (int, error) {
	collected := 0
	for _, name := range db.tableNames() {
		t := db.table(name)
		if t == nil {
			continue
		}
		for _, p := range t.parts {
			n, err := db.sweepTombstonePartition(ctx, t, p)
			collected += n
			if err != nil {
				db.metrics.tombstonesCollected.Add(float64(collected))
				return collected, err
			}
		}
	}
	db.metrics.tombstonesCollected.Add(float64(collected))
	return collected, nil
}

func (db *DB) sweepTombstonePartition(ctx context.Context, t *table, p *partition) (int, error) {
	m := t.m()
	now := db.clock.PhysicalNow()
	prefix := tombstonePartPrefix(m.ID, p.id)
	it, err := db.pebble.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	var keys [][]byte
	collected := 0
	for it.First(); it.Valid(); it.Next() {
		if ctx.Err() != nil {
			return collected, ctx.Err()
		}
		ts, err := decodeTombstone(it.Value())
		if err != nil || !db.tombstoneExpired(ts.deletedAt, now) {
			continue
		}
		keys = append(keys, append([]byte(nil), it.Key()...))
		if len(keys) >= tombstoneChunk {
			n, err := db.collectTombstones(p, keys, now)
			collected += n
			if err != nil {
				return collected, err
			}
			keys = keys[:0]
		}
	}
	if err := it.Error(); err != nil {
		return collected, err
	}
	n, err := db.collectTombstones(p, keys, now)
	return collected + n, err
}

// collectTombstones deletes, in one partition request, those of the
// tombstones at keys that are still expired when the request runs (a
// write or a newer delete since the scan replaced or removed them).
func (db *DB) collectTombstones(p *partition, keys [][]byte, now time.Time) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	n := 0
	err := p.submit(func(b *pebble.Batch, _ *partStats) error {
		n = 0
		for _, k := range keys {
			ts, found, err := readTombstone(b, k)
			if err != nil {
				return err
			}
			if !found || !db.tombstoneExpired(ts.deletedAt, now) {
				continue
			}
			if err := b.Delete(k, nil); err != nil {
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
