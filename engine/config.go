package engine

import (
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/godwit-db/godwit/conflict"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a DB. The zero value of each field means its default.
type Config struct {
	// Dir is the Pebble directory. Required.
	Dir string
	// Region is this instance's region name; it appears in ARNs and in every
	// Version this DB stamps. Default "us-east-1".
	Region string
	// AccountID appears in ARNs. Default "000000000000".
	AccountID string
	// DefaultPartitions is the partition count of a new table. Default 8.
	DefaultPartitions int
	// TTLSweepInterval is how often the TTL sweeper looks for expired items.
	// Default 30s. Negative disables the sweeper.
	TTLSweepInterval time.Duration
	// TombstoneRetention and TombstoneGrace together are how long the
	// tombstone of a replicated table's deleted item is kept (after the
	// delete, by this region's clock) before the tombstone sweeper collects
	// it: long enough that no older write of the item can still arrive from
	// another region. Retention should be the stream retention (a peer
	// outage longer than it ends in a resync, not a late write); grace
	// covers clock skew and publishing delays. Defaults 24h and 24h.
	TombstoneRetention time.Duration
	TombstoneGrace     time.Duration
	// TombstoneSweepInterval is how often the tombstone sweeper runs.
	// Default 1h. Negative disables it.
	TombstoneSweepInterval time.Duration
	// NoSync skips the WAL fsync before acknowledging a write. Default false:
	// an acknowledged write survives kill -9 and power loss.
	NoSync bool
	// CacheSize is Pebble's block cache in bytes. Default 64 MiB. The
	// memtables Pebble charges to its cache come on top (see Open).
	CacheSize int64
	// MemTableSize is Pebble's memtable size in bytes. Default 32 MiB.
	MemTableSize uint64
	// ItemCacheSize bounds, in bytes, the item caches that spare writes
	// their read of the item they replace (itemcache.go), shared by every
	// partition. Default 32 MiB; negative turns them off.
	ItemCacheSize int64
	// Clock is the physical clock behind the HLC and TTL. Default the system clock.
	Clock conflict.PhysicalClock
	// MaxClockOffset bounds remote versions (see conflict.Clock). Default 500ms.
	MaxClockOffset time.Duration
	// Logger is named "engine" by Open. Default a null logger.
	Logger hclog.Logger
	// Registerer receives the engine's metrics. Default none.
	Registerer prometheus.Registerer
	// Listener receives commit and catalog notifications (streams uses them).
	Listener EventListener
	// InMemory keeps Pebble entirely in memory (tests, ephemeral runs). Dir is ignored.
	InMemory bool
	// FS, when set, is the filesystem Pebble uses under Dir (tests wrap one
	// to hold or fail syncs). Default the operating system's; InMemory wins.
	FS vfs.FS
}

// DefaultConfig returns a Config with every default filled in but Dir.
func DefaultConfig() Config {
	return Config{
		Region:            "us-east-1",
		AccountID:         "000000000000",
		DefaultPartitions: 8,
		TTLSweepInterval:  30 * time.Second,

		TombstoneRetention:     24 * time.Hour,
		TombstoneGrace:         24 * time.Hour,
		TombstoneSweepInterval: time.Hour,
		CacheSize:              64 << 20,
		MemTableSize:           32 << 20,
		ItemCacheSize:          32 << 20,
		Clock:                  conflict.SystemClock{},
		MaxClockOffset:         500 * time.Millisecond,
	}
}

// withDefaults returns a copy of c with zero fields defaulted; the caller's
// Config is never mutated.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Region == "" {
		c.Region = d.Region
	}
	if c.AccountID == "" {
		c.AccountID = d.AccountID
	}
	if c.DefaultPartitions == 0 {
		c.DefaultPartitions = d.DefaultPartitions
	}
	if c.TTLSweepInterval == 0 {
		c.TTLSweepInterval = d.TTLSweepInterval
	}
	if c.CacheSize == 0 {
		c.CacheSize = d.CacheSize
	}
	if c.TombstoneRetention == 0 {
		c.TombstoneRetention = d.TombstoneRetention
	}
	if c.TombstoneGrace == 0 {
		c.TombstoneGrace = d.TombstoneGrace
	}
	if c.TombstoneSweepInterval == 0 {
		c.TombstoneSweepInterval = d.TombstoneSweepInterval
	}
	if c.ItemCacheSize == 0 {
		c.ItemCacheSize = d.ItemCacheSize
	}
	if c.MemTableSize == 0 {
		c.MemTableSize = d.MemTableSize
	}
	if c.Clock == nil {
		c.Clock = d.Clock
	}
	if c.MaxClockOffset == 0 {
		c.MaxClockOffset = d.MaxClockOffset
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	return c
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" && !c.InMemory {
		errs = append(errs, errors.New("engine: Dir is required"))
	}
	if c.DefaultPartitions < 0 || c.DefaultPartitions > maxPartitions {
		errs = append(errs, fmt.Errorf("engine: DefaultPartitions %d out of range 1..%d", c.DefaultPartitions, maxPartitions))
	}
	if c.CacheSize < 0 {
		errs = append(errs, fmt.Errorf("engine: CacheSize %d is negative", c.CacheSize))
	}
	if c.TombstoneRetention < 0 || c.TombstoneGrace < 0 {
		errs = append(errs, fmt.Errorf("engine: TombstoneRetention %v and TombstoneGrace %v must not be negative", c.TombstoneRetention, c.TombstoneGrace))
	}
	return errors.Join(errs...)
}

// maxPartitions bounds a table's partition count; partition ids are stored in two bytes.
const maxPartitions = 1024
