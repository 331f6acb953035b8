package main

import (
	"fmt"
	"time"
)

// Serve's tombstone settings (engine.Config.TombstoneGrace and
// TombstoneSweepInterval; the retention part is --stream-retention).
func init() {
	serveOptions = append(serveOptions,
		option{name: "tombstone-grace", usage: "`duration` a deleted item's tombstone outlives the stream retention before it is collected (default 24h)",
			def: func(c Config) string { return "" },
			set: func(c *Config, v string) error {
				d, err := time.ParseDuration(v)
				if err != nil {
					return fmt.Errorf("%q is not a duration (e.g. 24h)", v)
				}
				c.TombstoneGrace = d
				return nil
			}},
		option{name: "tombstone-sweep-interval", usage: "`interval` between collections of expired tombstones; negative disables them (default 1h)",
			def: func(c Config) string { return "" },
			set: func(c *Config, v string) error {
				d, err := time.ParseDuration(v)
				if err != nil {
					return fmt.Errorf("%q is not a duration (e.g. 1h)", v)
				}
				c.TombstoneSweepInterval = d
				return nil
			}})
}
