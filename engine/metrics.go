package engine

import (
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the engine's Prometheus collectors, registered on the
// Registerer passed in Config (never the global registry).
type metrics struct {
	reg                 prometheus.Registerer
	collectors          []prometheus.Collector
	itemsWritten        prometheus.Counter
	conditionalFailures prometheus.Counter
	groupSize           prometheus.Histogram
	commitApply         prometheus.Histogram
	commitSync          prometheus.Histogram
	ttlDeletes          prometheus.Counter
	tombstonesCollected prometheus.Counter
}

// commitBuckets: 50µs to ~3.3s.
var commitBuckets = prometheus.ExponentialBuckets(50e-6, 2, 17)

func newMetrics(reg prometheus.Registerer, db *DB) *metrics {
	m := &metrics{
		reg: reg,
		itemsWritten: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "godwit_engine_items_written_total",
			Help: "Item writes that changed an item (puts, updates, deletes).",
		}),
		conditionalFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "godwit_engine_conditional_check_failures_total",
			Help: "Writes refused because their condition was false.",
		}),
		groupSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "godwit_engine_group_commit_size",
			Help:    "Writes carried by one partition group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 9),
		}),
		commitApply: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "godwit_engine_commit_apply_seconds",
			Help:    "Time a partition group commit spent making its batch visible (Pebble's commit pipeline: WAL write, memtable insert, waits for memtable rotation or a write stall).",
			Buckets: commitBuckets,
		}),
		commitSync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "godwit_engine_commit_sync_seconds",
			Help:    "Time from a group commit's batch being visible to its WAL sync completing (fsync, shared with other groups).",
			Buckets: commitBuckets,
		}),
		ttlDeletes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "godwit_engine_ttl_deletes_total",
			Help: "Items deleted by the TTL sweeper.",
		}),
		tombstonesCollected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "godwit_engine_tombstones_collected_total",
			Help: "Tombstones of deleted items of replicated tables collected after TombstoneRetention+TombstoneGrace.",
		}),
	}
	m.collectors = []prometheus.Collector{m.itemsWritten, m.conditionalFailures, m.groupSize, m.commitApply, m.commitSync, m.ttlDeletes, m.tombstonesCollected,
		&pebbleCollector{db: db}}
	if reg != nil {
		for _, c := range m.collectors {
			reg.MustRegister(c)
		}
	}
	return m
}

func (m *metrics) unregister() {
	if m.reg == nil {
		return
	}
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
}

// pebbleCollector exports Pebble's health from its Metrics() at scrape time.
type pebbleCollector struct{ db *DB }

var (
	descPebbleDiskBytes   = prometheus.NewDesc("godwit_pebble_disk_space_bytes", "Disk space used by the Pebble store.", nil, nil)
	descPebbleReadAmp     = prometheus.NewDesc("godwit_pebble_read_amplification", "Pebble read amplification (sublevels in L0 plus non-empty levels).", nil, nil)
	descPebbleCompactions = prometheus.NewDesc("godwit_pebble_compactions_total", "Pebble compactions run.", nil, nil)
	descPebbleFlushes     = prometheus.NewDesc("godwit_pebble_flushes_total", "Pebble memtable flushes.", nil, nil)
	descPebbleFlushed     = prometheus.NewDesc("godwit_pebble_flushed_bytes_total", "Bytes of sstables Pebble's flushes wrote.", nil, nil)
	descPebbleCompacted   = prometheus.NewDesc("godwit_pebble_compacted_bytes_total", "Bytes of sstables Pebble's compactions wrote (with flushed bytes: its write amplification).", nil, nil)
	descPebbleCacheHits   = prometheus.NewDesc("godwit_pebble_block_cache_hits_total", "Pebble block cache hits.", nil, nil)
	descPebbleCacheMisses = prometheus.NewDesc("godwit_pebble_block_cache_misses_total", "Pebble block cache misses.", nil, nil)
	descPebbleCacheBytes  = prometheus.NewDesc("godwit_pebble_block_cache_bytes", "Bytes held by the Pebble block cache.", nil, nil)
	descPebbleMemtable    = prometheus.NewDesc("godwit_pebble_memtable_bytes", "Bytes in Pebble memtables.", nil, nil)
	descPebbleWALBytes    = prometheus.NewDesc("godwit_pebble_wal_bytes", "Bytes in Pebble's live WAL files.", nil, nil)
	descPebbleL0Files     = prometheus.NewDesc("godwit_pebble_l0_files", "Files in L0 (a backlog signal).", nil, nil)

	descWriteStalls       = prometheus.NewDesc("godwit_pebble_write_stalls_total", "Pebble write stalls: writes held back until compactions catch up.", nil, nil)
	descWriteStallSeconds = prometheus.NewDesc("godwit_pebble_write_stall_seconds_total", "Time writes spent held back by Pebble write stalls (finished stalls).", nil, nil)

	descItemCacheHits   = prometheus.NewDesc("godwit_engine_item_cache_hits_total", "Reads before a write answered by the partitions' item caches.", nil, nil)
	descItemCacheMisses = prometheus.NewDesc("godwit_engine_item_cache_misses_total", "Reads before a write that went to Pebble (not cached, or the cache bypassed).", nil, nil)
	descItemCacheBytes  = prometheus.NewDesc("godwit_engine_item_cache_bytes", "Bytes held by the partitions' item caches (approximate).", nil, nil)
	descMemtableSkips   = prometheus.NewDesc("godwit_engine_memtable_skips_total", "Reads before a write that read only Pebble's sstables: no memtable could hold the item (memkeys.go).", nil, nil)
	descKeyGenRotations = prometheus.NewDesc("godwit_engine_key_filter_rotations_total", "Generations of the memtable key filter ended by a flush.", nil, nil)
)

func (c *pebbleCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPebbleDiskBytes, descPebbleReadAmp, descPebbleCompactions, descPebbleFlushes, descPebbleFlushed, descPebbleCompacted,
		descPebbleCacheHits, descPebbleCacheMisses, descPebbleCacheBytes, descPebbleMemtable, descPebbleWALBytes, descPebbleL0Files,
		descItemCacheHits, descItemCacheMisses, descItemCacheBytes, descWriteStalls, descWriteStallSeconds,
		descMemtableSkips, descKeyGenRotations} {
		ch <- d
	}
}

func (c *pebbleCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.db.pebble.Metrics()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(descPebbleDiskBytes, float64(m.DiskSpaceUsage()))
	gauge(descPebbleReadAmp, float64(m.ReadAmp()))
	counter(descPebbleCompactions, float64(m.Compact.Count))
	counter(descPebbleFlushes, float64(m.Flush.Count))
	var flushed, compacted uint64
	for i := range m.Levels {
		flushed += m.Levels[i].TableBytesFlushed + m.Levels[i].BlobBytesFlushed
		compacted += m.Levels[i].TableBytesCompacted + m.Levels[i].BlobBytesCompacted
	}
	counter(descPebbleFlushed, float64(flushed))
	counter(descPebbleCompacted, float64(compacted))
	counter(descPebbleCacheHits, float64(m.BlockCache.Hits))
	counter(descPebbleCacheMisses, float64(m.BlockCache.Misses))
	gauge(descPebbleCacheBytes, float64(m.BlockCache.Size))
	gauge(descPebbleMemtable, float64(m.MemTable.Size))
	gauge(descPebbleWALBytes, float64(m.WAL.Size))
	gauge(descPebbleL0Files, float64(m.Levels[0].TablesCount))
	counter(descWriteStalls, float64(c.db.stalls.count.Load()))
	counter(descWriteStallSeconds, time.Duration(c.db.stalls.nanos.Load()).Seconds())
	counter(descMemtableSkips, float64(c.db.mem.skips.Load()))
	counter(descKeyGenRotations, float64(c.db.mem.rotations.Load()))
	if b := c.db.itemCache; b != nil {
		counter(descItemCacheHits, float64(b.hits.Load()))
		counter(descItemCacheMisses, float64(b.misses.Load()))
		gauge(descItemCacheBytes, float64(b.used.Load()))
	}
}

// writeStalls counts Pebble's write stalls (writes held back while
// compactions catch up) and logs each one: on a small machine they are
// what turns a burst of writes into a tail of slow answers.
type writeStalls struct {
	log   hclog.Logger
	count atomic.Uint64
	start atomic.Int64 // UnixNano of the current stall's start, 0 when none
	nanos atomic.Int64 // the finished stalls' total
}

func (w *writeStalls) begin(info pebble.WriteStallBeginInfo) {
	w.count.Add(1)
	w.start.Store(time.Now().UnixNano())
	w.log.Warn("pebble write stall: writes are held back until compactions catch up", "reason", info.Reason)
}

func (w *writeStalls) end() {
	if start := w.start.Swap(0); start != 0 {
		d := time.Duration(time.Now().UnixNano() - start)
		w.nanos.Add(int64(d))
		w.log.Info("pebble write stall ended", "duration", d)
	}
}
