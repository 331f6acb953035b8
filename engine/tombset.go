package engine

import (
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// A write of an absent item to a global table must beat the item's
// tombstone, if it has one, and clear it. Most such writes are of new
// items, which have none, and a Pebble lookup of an absent key searches
// every memtable's skiplist: several µs of cache misses each, the largest
// cost of a write in the three-region benchmark. So each partition of a
// global table keeps the keys of its tombstones in memory (tombSet), and
// Pebble is read only for a key the set holds.
//
// The set must hold every tombstone Pebble holds (more is allowed: a key
// it holds in vain costs a read). So:
//   - it is loaded from Pebble (DB.pebble: everything committed or applied
//     by earlier groups) at its first use, before the first tombstone
//     write of its partition that could be missed;
//   - a key is added when its tombstone is written into a batch, before
//     the batch commits — a batch that then fails leaves a key in vain;
//   - a key is removed only once the batch that deletes its tombstone has
//     committed (end): the partition's group commit and a transaction's
//     commit end the batch, with its outcome, on the partition's one
//     writer (its goroutine, or the transaction that holds it);
//   - past tombSetLimit keys it gives up (off) and every lookup reads
//     Pebble, as before the set; it is reloaded when the DB is reopened.
//
// Every tombstone write and delete of a partition happens on its one
// writer, so the set's order is the batch's; the mutex only guards
// against a reader outside that (there is none today).

// tombSetLimit bounds the keys one partition's set holds (DB.tombLimit;
// the tests lower it).
const tombSetLimit = 1 << 16

type tombSet struct {
	db      *DB
	tableID uint32
	part    int

	mu       sync.Mutex
	loaded   bool
	off      bool
	limit    int
	keys     map[string]struct{}
	removing map[string]struct{} // deleted in the open batch, not yet committed
}

type tombSetID struct {
	table uint32
	part  int
}

// tombstoneSet returns the tombstone set of a table's partition.
func (db *DB) tombstoneSet(tableID uint32, part int) *tombSet {
	id := tombSetID{tableID, part}
	if s, ok := db.tombSets.Load(id); ok {
		return s.(*tombSet)
	}
	s, _ := db.tombSets.LoadOrStore(id, &tombSet{db: db, tableID: tableID, part: part})
	return s.(*tombSet)
}

// dropTombstoneSets forgets the sets of a deleted table.
func (db *DB) dropTombstoneSets(tableID uint32) {
	db.tombSets.Range(func(k, _ any) bool {
		if k.(tombSetID).table == tableID {
			db.tombSets.Delete(k)
		}
		return true
	})
}

// load reads the partition's tombstone keys from Pebble; called with mu
// held, once.
func (s *tombSet) load() {
	s.limit = s.db.tombLimit
	s.loaded = true
	prefix := tombstonePartPrefix(s.tableID, s.part)
	it, err := s.db.pebble.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		s.off = true
		return
	}
	defer it.Close()
	s.keys = map[string]struct{}{}
	for ok := it.First(); ok; ok = it.Next() {
		if len(s.keys) >= s.limit {
			s.giveUp()
			return
		}
		s.keys[string(it.Key())] = struct{}{}
	}
	if it.Error() != nil {
		s.giveUp()
	}
}

func (s *tombSet) giveUp() {
	s.off, s.keys, s.removing = true, nil, nil
}

// tracking loads the set if it is not yet and reports whether it keeps
// the keys (not given up); called with mu held.
func (s *tombSet) tracking() bool {
	if !s.loaded {
		s.load()
	}
	return !s.off
}

// mayHold reports whether the partition may have a tombstone at key (a
// tombstone key): false only when it certainly has none.
func (s *tombSet) mayHold(key []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.tracking() {
		return true
	}
	_, ok := s.keys[string(key)]
	return ok
}

// add notes a tombstone written at key into the open batch.
func (s *tombSet) add(key []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case !s.tracking():
	case len(s.keys) >= s.limit:
		s.giveUp()
	default:
		delete(s.removing, string(key))
		s.keys[string(key)] = struct{}{}
	}
}

// remove notes the tombstone at key deleted in the open batch; it leaves
// the set when the batch commits (end).
func (s *tombSet) remove(key []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.tracking() {
		return
	}
	if s.removing == nil {
		s.removing = map[string]struct{}{}
	}
	s.removing[string(key)] = struct{}{}
}

// end closes the open batch: its removals take effect if it committed.
func (s *tombSet) end(committed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if committed {
		for k := range s.removing {
			delete(s.keys, k)
		}
	}
	clear(s.removing)
}

// endTombstones ends the open batch of the partition's set, if it has one.
func (db *DB) endTombstones(tableID uint32, part int, committed bool) {
	if s, ok := db.tombSets.Load(tombSetID{tableID, part}); ok {
		s.(*tombSet).end(committed)
	}
}
