package engine

import (
	"context"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// The background sweepers (TTL expiry in ttl.go, tombstone collection in
// tombstone_gc.go) share one shape: a ticker loop that runs a sweep until
// the DB closes, and a per-partition scan outside the write path that
// gathers candidate keys and hands them, a chunk at a time, to a partition
// request that re-checks each key before deleting it. This file holds that
// shape once; each sweeper supplies what a candidate is and how it is
// deleted.

// startBackground starts the DB's background loops (the TTL and tombstone
// sweepers); an interval of zero or less leaves that sweeper off.
func (db *DB) startBackground() {
	if db.cfg.TTLSweepInterval > 0 {
		db.bg.Add(1)
		go db.sweepLoop("ttl sweep", "deleted", db.cfg.TTLSweepInterval, db.SweepTTL)
	}
	if db.cfg.TombstoneSweepInterval > 0 {
		db.bg.Add(1)
		go db.sweepLoop("tombstone sweep", "collected", db.cfg.TombstoneSweepInterval, db.SweepTombstones)
	}
}

// sweepLoop calls sweep every interval until the DB stops its background
// loops (the context sweep gets is cancelled then too). A failed sweep is
// logged as a warning under msg and retried at the next tick; a sweep that
// removed something is logged at debug with its count under countKey.
func (db *DB) sweepLoop(msg, countKey string, every time.Duration, sweep func(context.Context) (int, error)) {
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
			if n, err := sweep(ctx); err != nil {
				db.log.Warn(msg, "error", err)
			} else if n > 0 {
				db.log.Debug(msg, countKey, n)
			}
		}
	}
}

// sweepTables runs sweepPart on every partition of every table that want
// accepts and returns the sum of what they removed; it stops at the first
// error, returning the count so far with it.
func (db *DB) sweepTables(ctx context.Context, want func(*table) bool,
	sweepPart func(context.Context, *table, *partition) (int, error)) (int, error) {
	removed := 0
	for _, name := range db.tableNames() {
		t := db.table(name)
		if t == nil || !want(t) {
			continue
		}
		for _, p := range t.parts {
			n, err := sweepPart(ctx, t, p)
			removed += n
			if err != nil {
				return removed, err
			}
		}
	}
	return removed, nil
}

// sweepPrefix scans the keys under prefix from a Pebble iterator (not on
// the partition's sequencer, so writes are not held up), collects those
// whose value candidate accepts, and passes them to remove at most chunk at
// a time. remove runs the partition request that re-checks and deletes; it
// returns how many it removed. sweepPrefix returns the total, and stops at
// the first error or when ctx is done.
func (db *DB) sweepPrefix(ctx context.Context, prefix []byte, chunk int,
	candidate func(value []byte) bool, remove func(keys [][]byte) (int, error)) (int, error) {
	it, err := db.pebble.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	var keys [][]byte
	removed := 0
	for it.First(); it.Valid(); it.Next() {
		if ctx.Err() != nil {
			return removed, ctx.Err()
		}
		if !candidate(it.Value()) {
			continue
		}
		keys = append(keys, append([]byte(nil), it.Key()...))
		if len(keys) >= chunk {
			n, err := remove(keys)
			removed += n
			if err != nil {
				return removed, err
			}
			keys = nil
		}
	}
	if err := it.Error(); err != nil {
		return removed, err
	}
	if len(keys) == 0 {
		return removed, nil
	}
	n, err := remove(keys)
	return removed + n, err
}
