package engine

import (
	"bytes"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hashicorp/go-hclog"
)

// A write reads the item it replaces (itemcache.go). For an item its
// partition has not touched lately that is a Pebble lookup, and for an
// absent item — every new key — most of the lookup is the search of the
// memtables' skiplists: a skiplist search misses the CPU cache once per
// level, where an sstable's bloom filter answers "absent" at once. In the
// three-region benchmark's profile the lookups were 11 % of godwit's CPU,
// seven tenths of it in the memtables.
//
// memKeys lets such a lookup skip the memtables when none of them can
// hold the key. It keeps bloom filters of the item keys committed, in
// generations: a commit adds its batch's item keys to the current
// generation; after about two memtables' worth of commits a rotation
// starts a new generation and has Pebble flush everything committed
// before it (AsyncFlush); once that flush is done the older generations
// are dropped, their writes all being in sstables. A key in no live
// generation was last written before the oldest one, so it is in an
// sstable or nowhere, and an iterator over the sstables alone
// (IterOptions.OnlyReadGuaranteedDurable) reads it as a full Get would.
//
// Why that holds:
//
//   - every batch that writes item keys of a live table (a partition's
//     group, a transaction) is committed between begin and end, which hold
//     mu shared from taking the generation until the batch is applied and
//     its keys added; a rotation switches generations holding mu
//     exclusively and only then has Pebble rotate its memtable, so a write
//     of generation g is in a memtable that the flush ending g covers;
//   - a range deletion over item keys in such a batch poisons its
//     generation: lookups read the memtables until it is dropped.
//     DeleteTable's range deletions are not seen, and need not be: they
//     cover a dropped table's ids, which are never reused or read again;
//   - the memtables replayed from the WAL at Open hold keys no generation
//     knows: the first generation is poisoned, and Open starts a rotation
//     before any commit so that it goes;
//   - a lookup skips the memtables only for the group's reads that fall
//     through the item cache (groupItems), whose own uncommitted writes
//     are all in its pending map: the group's batch cannot hold the key.
type memKeys struct {
	pdb   *pebble.DB
	log   hclog.Logger
	limit int64 // committed bytes per generation before a rotation
	seed  maphash.Seed

	// mu is held shared by a commit from begin to end, exclusively by a
	// rotation.
	mu  sync.RWMutex
	cur *keyGen // under mu

	gens    atomic.Pointer[[]*keyGen] // live generations, oldest first; copy on write
	flushed atomic.Uint64             // every write of a generation up to this one is in an sstable
	bytes   atomic.Int64              // bytes committed since the last rotation

	kick chan struct{} // 1-buffered: rotate now
	stop chan struct{}
	done chan struct{}

	skips     atomic.Uint64 // lookups that read the sstables only
	rotations atomic.Uint64 // rotations whose flush completed
}

// keyGen is one generation: a blocked bloom filter (one 64-bit word per
// key, four bits in it) of the item keys its commits wrote.
type keyGen struct {
	n        uint64
	words    []uint64 // atomic
	poisoned atomic.Bool
}

// keyGenWords is a generation's filter size: 512 KiB, with 0.26 % false
// positives at 200,000 keys and 16 % at 1,000,000 (measured with random
// keys). A false positive only costs the full lookup.
const keyGenWords = 1 << 16

func newKeyGen(n uint64) *keyGen { return &keyGen{n: n, words: make([]uint64, keyGenWords)} }

func bloomBits(h uint64) uint64 {
	return 1<<(h&63) | 1<<(h>>6&63) | 1<<(h>>12&63) | 1<<(h>>18&63)
}

func (g *keyGen) add(h uint64) { atomic.OrUint64(&g.words[h>>48], bloomBits(h)) }

func (g *keyGen) has(h uint64) bool {
	m := bloomBits(h)
	return atomic.LoadUint64(&g.words[h>>48])&m == m
}

// newMemKeys starts the generations of an open Pebble whose memtables
// hold unknown keys, and a first rotation to drop them.
func newMemKeys(pdb *pebble.DB, memTableSize uint64, log hclog.Logger) *memKeys {
	m := makeMemKeys(pdb, 2*int64(memTableSize), log)
	// NB: the first rotation starts here, before any commit: Pebble holds
	// commits while it rotates its memtable behind a WAL sync in flight,
	// which would stall a partition's pipelined commits.
	ended, ch, err := m.start()
	go m.run(ended, ch, err)
	return m
}

// makeMemKeys is newMemKeys without the rotations' goroutine.
func makeMemKeys(pdb *pebble.DB, limit int64, log hclog.Logger) *memKeys {
	m := &memKeys{
		pdb:   pdb,
		log:   log,
		limit: limit,
		seed:  maphash.MakeSeed(),
		kick:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	m.cur = newKeyGen(1)
	m.cur.poisoned.Store(true) // NB: the memtables replayed at Open
	gens := []*keyGen{m.cur}
	m.gens.Store(&gens)
	return m
}

// close stops the rotations; commits and lookups still work (and keep
// reading the memtables for the live generations).
func (m *memKeys) close() {
	close(m.stop)
	<-m.done
}

// begin returns the generation of a commit about to apply; the commit
// calls end with it and its batch once applied (or failed).
func (m *memKeys) begin() *keyGen {
	m.mu.RLock()
	return m.cur
}

// end adds the item keys b writes to g and lets rotations proceed.
func (m *memKeys) end(g *keyGen, b *pebble.Batch) {
	r := b.Reader()
	for {
		kind, k, v, ok, err := r.Next()
		if err != nil {
			g.poisoned.Store(true)
			break
		}
		if !ok {
			break
		}
		switch kind {
		case pebble.InternalKeyKindSet, pebble.InternalKeyKindDelete, pebble.InternalKeyKindSingleDelete,
			pebble.InternalKeyKindSetWithDelete, pebble.InternalKeyKindDeleteSized, pebble.InternalKeyKindMerge:
			if len(k) > 0 && k[0] == prefixItem {
				g.add(maphash.Bytes(m.seed, k))
			}
		case pebble.InternalKeyKindLogData:
		default:
			// NB: a range deletion (or anything else over a span) that may
			// cover items: its keys are unknown.
			if bytes.Compare(k, []byte{prefixItem + 1}) < 0 && bytes.Compare(v, []byte{prefixItem}) > 0 {
				g.poisoned.Store(true)
			}
		}
	}
	m.mu.RUnlock()
	if m.bytes.Add(int64(len(b.Repr()))) >= m.limit {
		select {
		case m.kick <- struct{}{}:
		default:
		}
	}
}

// mayHold reports whether a memtable may hold a write of key. When it may
// not, flushed is the generation up to which the answer rests on flushes:
// an iterator over the sstables read after flushed reached it has key's
// latest version.
func (m *memKeys) mayHold(key []byte) (may bool, flushed uint64) {
	gens := *m.gens.Load()
	flushed = m.flushed.Load()
	h := maphash.Bytes(m.seed, key)
	for _, g := range gens {
		if g.n > flushed && (g.poisoned.Load() || g.has(h)) {
			return true, flushed
		}
	}
	return false, flushed
}

// run finishes the first rotation (started by newMemKeys), then rotates
// whenever a generation has seen limit bytes of commits.
func (m *memKeys) run(ended uint64, ch <-chan struct{}, err error) {
	defer close(m.done)
	first := err != nil // NB: the poisoned generation is still live: rotate whatever was written
	if first {
		m.log.Warn("flush for the memtable key filter failed; retrying", "error", err)
	} else if !m.finish(ended, ch) {
		return
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	waiting := false // a rotation found a flush pending: retry on the ticker, not on every commit's kick
	for {
		select {
		case <-m.stop:
			return
		case <-m.kick:
			if waiting {
				continue
			}
		case <-tick.C:
		}
		if !first && m.bytes.Load() < m.limit {
			continue
		}
		waiting = !m.rotate()
		if !waiting {
			first = false
		}
	}
}

// rotate ends the current generation and, once Pebble has flushed
// everything written before it, drops the older ones. It returns false
// when it did nothing: while a flush is pending (a rotation would make
// Pebble hold every commit until it is done) or when the flush could not
// start.
func (m *memKeys) rotate() bool {
	// NB: Metrics is costly: a rotation that finds a flush pending is
	// retried once a second (run), not on every commit's kick.
	if m.pdb.Metrics().MemTable.Count > 1 {
		return false
	}
	ended, ch, err := m.start()
	if err != nil {
		m.log.Warn("flush for the memtable key filter failed; retrying", "error", err)
		return false
	}
	m.finish(ended, ch)
	return true
}

// start ends the current generation and has Pebble rotate its memtable;
// ch is closed once that memtable and every older one are flushed. Once
// mu is released every commit of the ended generation has applied its
// batch, so that memtable (or an older one) holds it. mu is not held
// across AsyncFlush, which may wait for a WAL sync. On an error the ended
// generation stays live until a later rotation's flush, which covers it
// too (Pebble flushes in order).
func (m *memKeys) start() (ended uint64, ch <-chan struct{}, err error) {
	m.mu.Lock()
	ended = m.cur.n
	m.cur = newKeyGen(ended + 1)
	gens := append(slices.Clone(*m.gens.Load()), m.cur)
	m.gens.Store(&gens)
	m.bytes.Store(0)
	m.mu.Unlock()
	ch, err = m.pdb.AsyncFlush()
	return ended, ch, err
}

// finish waits for the flush of start's memtable and drops the
// generations up to ended. It returns false if close came first.
func (m *memKeys) finish(ended uint64, ch <-chan struct{}) bool {
	select {
	case <-ch:
	case <-m.stop:
		return false
	}
	m.flushed.Store(ended)
	live := slices.DeleteFunc(slices.Clone(*m.gens.Load()), func(g *keyGen) bool { return g.n <= ended })
	m.gens.Store(&live)
	m.rotations.Add(1)
	return true
}

// durableReader reads items from the sstables alone, for lookups memKeys
// cleared. It keeps one iterator while no flush completes. Owned by one
// goroutine; close it when done.
type durableReader struct {
	it      *pebble.Iterator
	flushed uint64 // memKeys.flushed when it was made
}

// get returns a copy of the value at key (nil if absent) as of a state
// that includes every flush up to generation flushed.
func (r *durableReader) get(m *memKeys, key []byte, flushed uint64) ([]byte, error) {
	if r.it != nil && r.flushed < flushed {
		r.close()
	}
	if r.it == nil {
		fl := m.flushed.Load() // NB: before the iterator, so it holds those flushes
		it, err := m.pdb.NewIter(&pebble.IterOptions{OnlyReadGuaranteedDurable: true})
		if err != nil {
			return nil, err
		}
		r.it, r.flushed = it, fl
	}
	m.skips.Add(1)
	if !r.it.SeekPrefixGE(key) || !bytes.Equal(r.it.Key(), key) {
		return nil, r.it.Error()
	}
	v, err := r.it.ValueAndErr()
	if err != nil {
		return nil, err
	}
	return bytes.Clone(v), nil
}

func (r *durableReader) close() {
	if r.it != nil {
		_ = r.it.Close()
		r.it = nil
	}
}
