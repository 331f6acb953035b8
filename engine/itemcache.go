package engine

import (
	"errors"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/godwit-db/godwit/conflict"
	"github.com/godwit-db/godwit/engine/attr"
)

// Every write reads the item it replaces first: for its condition, its
// old image, the version it must beat, the table's size and whether
// anything changed. That point lookup (Pebble's memtable skiplist, then
// its sstables) was a fifth of a PutItem's CPU. The item cache keeps, per
// partition, the stored values of items the partition recently read or
// wrote, so that a write of a recently touched item skips Pebble.
//
// It is correct because the partition's goroutine is the only writer of
// the partition's items, with three exceptions that all pass through it:
//
//   - a transaction holds the partition at a barrier and writes in its own
//     batch: the cache is emptied when the barrier is released;
//   - a request that does not report its item writes to the cache (TTL
//     expiry, snapshot chunks, index backfill, tombstone collection): from
//     the moment one runs, the rest of its group reads Pebble, and the cache
//     is emptied when the group is committed;
//   - a group whose commit fails: the cache is emptied.
//
// Values read from Pebble enter the cache at once (they are the
// partition's committed state, which only the partition changes); values a
// group writes are kept aside and enter the cache only when the group is
// applied, so a group that fails leaves nothing behind. Absent items are
// cached too (nil): the partition would be the one to create them.
//
// Readers that do not write (GetItem, Query, Scan) do not use it: they
// read Pebble from any goroutine, and the cache has no lock.

// itemSource is where a write reads the item it replaces and reports what
// it wrote over it.
type itemSource interface {
	// readStamp reads the item at key (nil if absent) with its stamp.
	readStamp(key []byte) (conflict.Stamp, attr.Item, error)
	// wrote records that the write stored value at key (nil: deleted it).
	// value must not be modified afterwards.
	wrote(key, value []byte)
}

// batchItems reads a batch directly (a transaction's) and caches nothing.
type batchItems struct{ b pebble.Reader }

func (s batchItems) readStamp(key []byte) (conflict.Stamp, attr.Item, error) {
	return readItemStamp(s.b, key)
}

func (batchItems) wrote([]byte, []byte) {}

// cacheBudget is the byte budget every partition's item cache shares.
//
// A partition evicts only its own entries (its cache has no lock), so a
// shared budget alone would let the first busy table keep all of it and a
// table that becomes busy later get nothing. Each cache therefore has a
// share, limit / caches: a cache below its share admits entries even when
// the budget is spent, and a cache at or above its share evicts its own
// entries while the budget is exceeded. Busy partitions above their share
// give bytes back on their next writes; idle ones keep theirs, so the
// total can exceed the limit by at most the shares of caches still
// growing into them (never more than the limit again).
type cacheBudget struct {
	limit        int64
	used         atomic.Int64
	caches       atomic.Int64 // open item caches
	hits, misses atomic.Uint64
}

// share is the bytes a cache may hold however full the budget is.
func (b *cacheBudget) share() int64 {
	n := b.caches.Load()
	if n < 1 {
		n = 1
	}
	return b.limit / n
}

// cacheEntryOverhead approximates an entry's map and header cost in bytes.
const cacheEntryOverhead = 64

// itemCache is one partition's cache: item key → stored value (nil: no
// item). Owned by the partition goroutine.
type itemCache struct {
	budget *cacheBudget
	m      map[string][]byte
	bytes  int64
}

func newItemCache(b *cacheBudget) *itemCache {
	b.caches.Add(1)
	return &itemCache{budget: b, m: make(map[string][]byte)}
}

func entrySize(key string, v []byte) int64 {
	return int64(len(key) + cap(v) + cacheEntryOverhead)
}

func (c *itemCache) get(key []byte) (v []byte, ok bool) {
	v, ok = c.m[string(key)]
	return v, ok
}

// put stores v at key. While the shared budget is exceeded, a cache at or
// above its share evicts its own entries; one below it admits the entry
// (see cacheBudget). An entry larger than the share is not kept.
func (c *itemCache) put(key string, v []byte) {
	if old, ok := c.m[key]; ok {
		c.release(entrySize(key, old))
		delete(c.m, key)
	}
	n := entrySize(key, v)
	share := c.budget.share()
	if n > share {
		return
	}
	for c.budget.used.Load()+n > c.budget.limit && c.bytes+n > share {
		// NB: Go starts every map iteration at a random place, so this
		// evicts a random entry.
		for k, old := range c.m {
			c.release(entrySize(k, old))
			delete(c.m, k)
			break
		}
	}
	c.m[key] = v
	c.bytes += n
	c.budget.used.Add(n)
}

func (c *itemCache) release(n int64) {
	c.bytes -= n
	c.budget.used.Add(-n)
}

// close empties the cache and leaves the budget's shares to the others.
func (c *itemCache) close() {
	c.reset()
	c.budget.caches.Add(-1)
}

// reset empties the cache.
func (c *itemCache) reset() {
	if len(c.m) == 0 {
		return
	}
	c.budget.used.Add(-c.bytes)
	c.bytes = 0
	clear(c.m)
}

// groupItems is the itemSource of the partition's current group: the
// group's own writes, then the cache, then the group's batch (which falls
// through to Pebble). Owned by the partition goroutine.
type groupItems struct {
	cache *itemCache // nil: caching is off
	b     *pebble.Batch
	// pending holds the group's writes until the group is applied.
	pending map[string][]byte
	// bypass is set once a request that does not report its writes has
	// run in the group: from then on everything reads the batch.
	bypass bool
	// mem and dur let a lookup that misses the cache skip Pebble's
	// memtables when they cannot hold the key (memkeys.go): the group's
	// own writes are all in pending, so the batch cannot hold it either.
	mem *memKeys
	dur durableReader
}

func (g *groupItems) readStamp(key []byte) (conflict.Stamp, attr.Item, error) {
	if g.cache == nil {
		return readItemStamp(g.b, key)
	}
	if g.bypass {
		g.cache.budget.misses.Add(1)
		return readItemStamp(g.b, key)
	}
	v, ok := g.pending[string(key)]
	if !ok {
		v, ok = g.cache.get(key)
	}
	if ok {
		g.cache.budget.hits.Add(1)
	} else {
		g.cache.budget.misses.Add(1)
		var err error
		if v, err = g.stored(key); err != nil {
			return conflict.Stamp{}, nil, err
		}
		g.cache.put(string(key), v)
	}
	if v == nil {
		return conflict.Stamp{}, nil, nil
	}
	return decodeItemStamp(v)
}

func (g *groupItems) wrote(key, value []byte) {
	if g.cache == nil || g.bypass {
		return
	}
	if g.pending == nil {
		g.pending = make(map[string][]byte)
	}
	g.pending[string(key)] = value
}

// begin starts a group on batch b.
func (g *groupItems) begin(b *pebble.Batch) { g.b = b }

// end finishes the group: applied tells whether its batch was applied.
func (g *groupItems) end(applied bool) {
	if g.cache != nil {
		switch {
		case !applied || g.bypass:
			g.cache.reset()
		default:
			for k, v := range g.pending {
				g.cache.put(k, v)
			}
		}
		clear(g.pending)
	}
	g.dur.close()
	g.b, g.bypass = nil, false
}

// stored reads the stored value at key for a lookup that missed the group
// and the cache: from the sstables alone when no memtable can hold it.
func (g *groupItems) stored(key []byte) ([]byte, error) {
	if g.mem != nil {
		if may, flushed := g.mem.mayHold(key); !may {
			return g.dur.get(g.mem, key, flushed)
		}
	}
	return storedValue(g.b, key)
}

// storedValue returns a copy of the stored value at key, nil if absent.
func storedValue(r pebble.Reader, key []byte) ([]byte, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(v))
	copy(out, v)
	return out, closer.Close()
}
