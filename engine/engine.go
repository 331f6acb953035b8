package engine

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/godwit-db/godwit/conflict"
	"github.com/hashicorp/go-hclog"
)

// TargetPrefix is the X-Amz-Target prefix of the DynamoDB API.
const TargetPrefix = "DynamoDB_20120810"

// DB is one region's DynamoDB-compatible store: tables split into
// partitions, each an ordered keyspace in one Pebble database with its own
// write sequencer. Safe for concurrent use.
type DB struct {
	cfg       Config
	log       hclog.Logger
	pebble    *pebble.DB
	writeOpts *pebble.WriteOptions
	// itemCache is the budget of the partitions' item caches; nil: off.
	itemCache *cacheBudget
	// stalls counts Pebble's write stalls.
	stalls *writeStalls
	// tombSets are the global tables' partitions' tombstone keys
	// (tombset.go), by tombSetID.
	tombSets  sync.Map
	tombLimit int           // keys per set, tombSetLimit
	tombReads atomic.Uint64 // tombstone lookups that read Pebble (for tests)
	clock     *conflict.Clock
	metrics   *metrics

	// mem knows which item keys Pebble's memtables may hold (memkeys.go).
	mem *memKeys

	// mu guards tables and nextID and serialises catalog changes.
	mu     sync.RWMutex
	tables map[string]*table
	nextID uint32
	// dropped are deleted tables whose outbox awaits publishing (dropped.go).
	dropped map[uint32]*droppedMeta

	// closeMu lets Close wait for writers that are enqueuing.
	closeMu sync.RWMutex
	closed  bool

	stopBG chan struct{}
	bg     sync.WaitGroup

	txns *tokenCache

	// cat is the control plane's background state (index backfills, hooks); see backfill.go.
	cat *catalogState
}

// Open opens (creating if needed) the store described by cfg. The caller's
// Config is not modified.
func Open(cfg Config) (*DB, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	log := cfg.Logger.Named("engine")

	opts := &pebble.Options{
		FormatMajorVersion: pebble.FormatNewest,
		MemTableSize:       cfg.MemTableSize,
		Logger:             pebbleLogger{log.Named("pebble")},
	}
	opts.MemTableStopWritesThreshold = 2 // Pebble's default, named for the sum below
	// NB: Pebble charges every memtable it holds to the block cache: the
	// mutable one, those waiting for their flush and one kept for reuse.
	// With a cache no larger than those, blocks get no room at all — a
	// 64 MiB cache beside 32 MiB memtables cached nothing once writes
	// rotated two of them, and every lookup missing the item cache went to
	// disk. The cache is sized for its blocks plus that charge.
	memtables := int64(opts.MemTableStopWritesThreshold+1) * int64(cfg.MemTableSize)
	opts.Cache = pebble.NewCache(cfg.CacheSize + memtables)
	defer opts.Cache.Unref()
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	switch {
	case cfg.InMemory:
		opts.FS = vfs.NewMem()
	case cfg.FS != nil:
		opts.FS = cfg.FS
	}
	dir := cfg.Dir
	if cfg.InMemory {
		dir = ""
	}
	stalls := &writeStalls{log: log}
	opts.EventListener = &pebble.EventListener{WriteStallBegin: stalls.begin, WriteStallEnd: stalls.end}
	pdb, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("engine: open pebble at %q: %w", dir, err)
	}
	db := &DB{
		stalls:    stalls,
		tombLimit: tombSetLimit,
		cfg:       cfg,
		log:       log,
		pebble:    pdb,
		writeOpts: pebble.Sync,
		clock:     conflict.NewClock(cfg.Region, cfg.Clock, cfg.MaxClockOffset),
		tables:    make(map[string]*table),
		dropped:   make(map[uint32]*droppedMeta),
		stopBG:    make(chan struct{}),
		txns:      newTokenCache(),
	}
	if cfg.NoSync {
		db.writeOpts = pebble.NoSync
	}
	if cfg.ItemCacheSize > 0 {
		db.itemCache = &cacheBudget{limit: cfg.ItemCacheSize}
	}
	db.metrics = newMetrics(cfg.Registerer, db)
	db.mem = newMemKeys(pdb, cfg.MemTableSize, log.Named("memkeys"))
	if err := db.load(); err != nil {
		db.mem.close()
		_ = pdb.Close()
		return nil, err
	}
	db.resumeBackfills()
	db.startBackground()
	log.Info("opened", "dir", dir, "tables", len(db.tables), "region", cfg.Region)
	return db, nil
}

// load reads the store format, the catalog and the partition stats, and
// starts every table's partitions.
func (db *DB) load() error {
	v, closer, err := db.pebble.Get(metaKey("format"))
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		if err := db.pebble.Set(metaKey("format"), []byte{storeFormat}, pebble.Sync); err != nil {
			return fmt.Errorf("engine: write store format: %w", err)
		}
	case err != nil:
		return fmt.Errorf("engine: read store format: %w", err)
	default:
		f := v[0]
		closer.Close()
		if f != storeFormat {
			return fmt.Errorf("engine: store format %d is not supported (want %d)", f, storeFormat)
		}
	}
	if v, closer, err := db.pebble.Get(metaKey("next-table-id")); err == nil {
		db.nextID = binary.BigEndian.Uint32(v)
		closer.Close()
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return fmt.Errorf("engine: read next table id: %w", err)
	}
	it, err := db.pebble.NewIter(&pebble.IterOptions{
		LowerBound: []byte{prefixCatalog},
		UpperBound: []byte{prefixCatalog + 1},
	})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		var m tableMeta
		if err := json.Unmarshal(it.Value(), &m); err != nil {
			return fmt.Errorf("engine: decode catalog entry %q: %w", it.Key()[1:], err)
		}
		if m.Format != metaFormat {
			return fmt.Errorf("engine: table %q has metadata format %d (want %d)", m.Name, m.Format, metaFormat)
		}
		t, err := db.openTable(&m)
		if err != nil {
			return err
		}
		db.tables[m.Name] = t
	}
	if err := it.Error(); err != nil {
		return err
	}
	return db.loadDropped()
}

// openTable builds a table's runtime and starts its partitions.
func (db *DB) openTable(m *tableMeta) (*table, error) {
	t := &table{parts: make([]*partition, m.Partitions)}
	t.meta.Store(m)
	for i := range t.parts {
		var st partStats
		v, closer, err := db.pebble.Get(statsKey(m.ID, i))
		if err == nil {
			st = decodeStats(v)
			closer.Close()
		} else if !errors.Is(err, pebble.ErrNotFound) {
			return nil, fmt.Errorf("engine: read stats of %s/%d: %w", m.Name, i, err)
		}
		t.parts[i] = newPartition(db, m.ID, i, st, db.itemCache)
	}
	return t, nil
}

// Close stops background work, lets queued writes finish, and closes Pebble.
// Requests arriving after Close get ServiceUnavailable.
func (db *DB) Close() error {
	close(db.stopBG)
	db.bg.Wait()
	db.closeMu.Lock()
	db.closed = true
	db.closeMu.Unlock()
	db.mu.Lock()
	for _, t := range db.tables {
		for _, p := range t.parts {
			p.stop()
		}
	}
	db.mu.Unlock()
	db.metrics.unregister()
	db.mem.close()
	if err := db.pebble.Close(); err != nil {
		return fmt.Errorf("engine: close pebble: %w", err)
	}
	return nil
}

// table returns the named table, or nil.
func (db *DB) table(name string) *table {
	db.mu.RLock()
	t := db.tables[name]
	db.mu.RUnlock()
	return t
}

// tableNames returns every table name, sorted.
func (db *DB) tableNames() []string {
	db.mu.RLock()
	names := make([]string, 0, len(db.tables))
	for n := range db.tables {
		names = append(names, n)
	}
	db.mu.RUnlock()
	sort.Strings(names)
	return names
}

// saveMeta persists m and publishes it as t's metadata. Caller holds db.mu.
func (db *DB) saveMeta(t *table, m *tableMeta) error {
	buf, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := db.pebble.Set(catalogKey(m.Name), buf, pebble.Sync); err != nil {
		return fmt.Errorf("engine: save metadata of %s: %w", m.Name, err)
	}
	t.meta.Store(m)
	return nil
}

// Clock is the DB's hybrid logical clock (global tables observe remote versions through it).
func (db *DB) Clock() *conflict.Clock { return db.clock }

// pebbleLogger routes Pebble's logs into hclog.
type pebbleLogger struct{ l hclog.Logger }

func (p pebbleLogger) Infof(format string, args ...any)  { p.l.Debug(fmt.Sprintf(format, args...)) }
func (p pebbleLogger) Errorf(format string, args ...any) { p.l.Error(fmt.Sprintf(format, args...)) }
func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...))
	panic(fmt.Sprintf(format, args...))
}
