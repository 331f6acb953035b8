package globaltables

import (
	"errors"
	"fmt"
)

// Config configures a Replicator. Durations are in ticks: the driver
// decides how long a tick is (Tick is the core's only notion of time).
type Config struct {
	// Peer is the region whose stream the replicator reads. Only records
	// whose origin is Peer are applied; the others are skipped (no loops).
	// Required.
	Peer string
	// MaxBatch bounds how many records (applied and skipped) one Batch
	// covers. Default 128.
	MaxBatch int
	// MaxReorder bounds how many out-of-order records one partition holds
	// while waiting for a missing one; one more triggers a re-read. 0
	// (after defaults: set NoReorder) re-reads at the first gap. Default 64.
	MaxReorder int
	// NoReorder makes MaxReorder 0: every gap is re-read at once.
	NoReorder bool
	// GapTimeout is how many ticks a gap may stay open (records held,
	// the missing one not arrived) before a re-read. Default 10.
	GapTimeout int
	// ReReadTimeout is how many ticks a re-read may go without progress
	// before it is requested again. Default 50.
	ReReadTimeout int
}

// DefaultConfig returns a Config with every default filled in (Peer empty).
func DefaultConfig() Config {
	return Config{MaxBatch: 128, MaxReorder: 64, GapTimeout: 10, ReReadTimeout: 50}
}

// Validate reports every problem with c at once. Zero fields are valid
// (they take defaults).
func (c Config) Validate() error {
	var errs []error
	if c.Peer == "" {
		errs = append(errs, errors.New("globaltables: Peer region is required"))
	}
	if c.MaxBatch < 0 {
		errs = append(errs, fmt.Errorf("globaltables: MaxBatch %d is negative", c.MaxBatch))
	}
	if c.MaxReorder < 0 {
		errs = append(errs, fmt.Errorf("globaltables: MaxReorder %d is negative", c.MaxReorder))
	}
	if c.GapTimeout < 0 {
		errs = append(errs, fmt.Errorf("globaltables: GapTimeout %d is negative", c.GapTimeout))
	}
	if c.ReReadTimeout < 0 {
		errs = append(errs, fmt.Errorf("globaltables: ReReadTimeout %d is negative", c.ReReadTimeout))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MaxBatch == 0 {
		c.MaxBatch = d.MaxBatch
	}
	if c.NoReorder {
		c.MaxReorder = 0
	} else if c.MaxReorder == 0 {
		c.MaxReorder = d.MaxReorder
	}
	if c.GapTimeout == 0 {
		c.GapTimeout = d.GapTimeout
	}
	if c.ReReadTimeout == 0 {
		c.ReReadTimeout = d.ReReadTimeout
	}
	return c
}
