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
	every := func(*table) bool { return true }
	collected, err := db.sweepTables(ctx, every, db.sweepTombstonePartition)
	db.metrics.tombstonesCollected.Add(float64(collected))
	return collected, err
}

// sweepTombstonePartition collects the expired tombstones of one partition
// of t.
func (db *DB) sweepTombstonePartition(ctx context.Context, t *table, p *partition) (int, error) {
	now := db.clock.PhysicalNow()
	isExpired := func(value []byte) bool {
		ts, err := decodeTombstone(value)
		return err == nil && db.tombstoneExpired(ts.deletedAt, now)
	}
	remove := func(keys [][]byte) (int, error) { return db.collectTombstones(p, keys, now) }
	return db.sweepPrefix(ctx, tombstonePartPrefix(t.m().ID, p.id), tombstoneChunk, isExpired, remove)
}

// collectTombstones deletes, in one partition request, those of the
// tombstones at keys that are still expired when the request runs (a
// write or a newer delete since the scan replaced or removed them).
func (db *DB) collectTombstones(p *partition, keys [][]byte, now time.Time) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	n := 0
	set := db.tombstoneSet(p.tableID, p.id)
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
			set.remove(k)
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
