package region

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/godwit-db/godwit/conflict"
	"github.com/godwit-db/godwit/engine/wire"
	"github.com/godwit-db/godwit/globaltables"
	"github.com/godwit-db/godwit/sinks"
	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures one regional instance. cmd/godwit maps its flags and
// YAML file onto it; tests build it directly. Zero values of the NATS and
// stream settings mean the defaults named on each field.
type Config struct {
	// Listen is the API's TCP address (DynamoDB and Streams, /metrics).
	// Required; "127.0.0.1:0" picks a free port.
	Listen string
	// DataDir holds the Pebble store and, with the embedded NATS server,
	// its JetStream store under DataDir/nats. Required.
	DataDir string
	// Region is this instance's region name (ARNs, versions, JetStream
	// domain, control subjects). Required.
	Region string
	// Partitions is the partition count of a new table. Default
	// DefaultPartitions().
	Partitions int
	// TTLSweepInterval is how often expired items are looked for; 0
	// disables TTL deletion.
	TTLSweepInterval time.Duration
	// NoSync acknowledges writes before the WAL is fsynced.
	NoSync bool
	// ItemCacheSize bounds the engine's item caches in bytes (see
	// engine.Config.ItemCacheSize); 0 means DefaultItemCacheSize, -1 off.
	ItemCacheSize int64
	// Pprof serves Go's profiler under /debug/pprof/ on the API listener.
	Pprof bool
	// HTTPServer is the API listener's HTTP/1.1 server: wire.TransportLean
	// (engine/wire/h1, the default) or wire.TransportStd (net/http).
	HTTPServer wire.Transport

	// NATSListen is the embedded NATS server's client address (port 0
	// picks one), or "-" for in-process connections only. Ignored with
	// NATSURL. Empty means 127.0.0.1:4222, falling back to no listener,
	// with a warning, when that port is taken.
	NATSListen string
	// NATSURL, when set, is an external NATS with JetStream used instead of
	// the embedded server.
	NATSURL string
	// StreamRetention is how long stream records stay readable. Default 24h.
	StreamRetention time.Duration
	// StreamMaxBytes bounds each table stream in bytes; -1 means no bound.
	// Default 1 GiB.
	StreamMaxBytes int64
	// NATSMaxStore bounds the embedded server's JetStream storage. Default 64 GiB.
	NATSMaxStore int64
	// PublisherPollInterval is the streams publisher's PollInterval.
	// Default the publisher's (1s).
	PublisherPollInterval time.Duration

	// TombstoneGrace is how long a deleted item's tombstone outlives
	// StreamRetention before it is collected (engine.Config.TombstoneGrace).
	// Default 24h.
	TombstoneGrace time.Duration
	// TombstoneSweepInterval is how often expired tombstones are
	// collected; negative disables collection. Default 1h.
	TombstoneSweepInterval time.Duration
	// ConflictRetention and ConflictMaxBytes bound the region's conflict
	// log (globaltables.ConflictLogConfig). Defaults 7 days and 256 MiB.
	ConflictRetention time.Duration
	ConflictMaxBytes  int64

	// Peers are the other regions this one replicates with, by name.
	Peers map[string]Peer
	// Timing paces replica management and replication; zero fields take
	// globaltables.DefaultTiming's.
	Timing globaltables.Timing

	// Clock is the physical clock behind the engine's HLC and TTL. Default
	// the system clock; tests pass a skewed or manual one.
	Clock conflict.PhysicalClock
	// MaxClockOffset bounds how far ahead of this region's clock a remote
	// version may be before it stops moving the HLC. Default the engine's.
	MaxClockOffset time.Duration

	// Consumers, when set, builds the region's stream consumers (package
	// sinks: Lambda-style event source mappings and their targets) once its
	// NATS is up; cmd/godwit builds them from its consumers: section. Their
	// status is served at sinks.StatusPath on the API listener.
	Consumers func(ConsumerDeps) ([]sinks.ConsumerSpec, error)

	// Logger is the root logger ("listening" and the components' logs).
	// Default a null logger.
	Logger hclog.Logger
}

// ConsumerDeps is what a consumer's target may need from the region.
type ConsumerDeps struct {
	// NATS is a connection to the region's NATS (for nats: targets and
	// destinations).
	NATS *nats.Conn
	// Logger and Registerer are the region's.
	Logger     hclog.Logger
	Registerer prometheus.Registerer
}

// Peer says how to reach one peer region's NATS: by URL through a
// connection of its own (with optional credentials and TLS), or, with
// Domain and no URL, through the local NATS connection and the peer's
// JetStream domain (a supercluster or leaf nodes). With both, the URL's
// connection is used with the domain.
type Peer struct {
	URL      string
	Creds    string // a NATS credentials file
	User     string
	Password string
	Token    string
	TLS      TLS
	Domain   string // the peer's JetStream domain
}

// TLS is a peer connection's TLS files (PEM).
type TLS struct {
	CA, Cert, Key string
}

// Defaults of Config's NATS and streams settings.
const (
	DefaultNATSListen      = "127.0.0.1:4222"
	DefaultStreamRetention = 24 * time.Hour
	DefaultStreamMaxBytes  = 1 << 30
	DefaultNATSMaxStore    = 64 << 30
	DefaultItemCacheSize   = 32 << 20
)

// DefaultPartitions is the partition count of a new table when none is
// configured: one per core the Go scheduler uses (GOMAXPROCS), at least 2
// and at most 64.
//
// A partition is one sequencer goroutine with its own group commits, its
// own stream subject and its own replication readers. More partitions than
// cores add no parallelism on the apply path, only smaller groups, more
// fsync requests and more JetStream messages and consumers: on the 2-core
// build machine 2 partitions instead of 8 halved the median replication
// latency between three regions, cut its p99 by a third and did not lower
// closed-loop PutItem throughput (docs/benchmarks.md, Global tables Run
// 8). A table keeps the count it was created with; a replica takes its
// source's.
func DefaultPartitions() int {
	return min(max(runtime.GOMAXPROCS(0), 2), 64)
}

// MaxPartitions mirrors the engine's bound on a table's partition count.
const MaxPartitions = 1024

// namePattern keeps region names usable in ARNs, NATS subjects and
// JetStream domain names.
var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidName reports whether s can name a region.
func ValidName(s string) bool { return namePattern.MatchString(s) }

var domainPattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Validate reports every problem with c at once, each prefixed with the
// setting's kebab-case name (as cmd/godwit's flags and YAML keys).
func (c Config) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "%q is not a host:port address", c.Listen)
	}
	if c.DataDir == "" {
		bad("data-dir", "must not be empty")
	}
	if !ValidName(c.Region) {
		bad("region", "%q must be 1-63 lowercase letters, digits or hyphens", c.Region)
	}
	if c.Partitions != 0 && (c.Partitions < 1 || c.Partitions > MaxPartitions) {
		bad("partitions", "%d out of range 1..%d", c.Partitions, MaxPartitions)
	}
	if c.HTTPServer != "" {
		if _, err := wire.ParseTransport(string(c.HTTPServer)); err != nil {
			bad("http-server", "%q is not one of lean, std", c.HTTPServer)
		}
	}
	if c.MaxClockOffset < 0 {
		bad("max-clock-offset", "%s is negative", c.MaxClockOffset)
	}
	if c.TombstoneGrace < 0 {
		bad("tombstone-grace", "%s is negative", c.TombstoneGrace)
	}
	if c.ConflictRetention < 0 {
		bad("conflict-retention", "%s is negative", c.ConflictRetention)
	}
	if c.ConflictMaxBytes < -1 {
		bad("conflict-max-bytes", "%d: want a size in bytes, or -1 for no bound", c.ConflictMaxBytes)
	}
	if c.TTLSweepInterval < 0 {
		bad("ttl-sweep-interval", "%s is negative (0 disables the sweeper)", c.TTLSweepInterval)
	}
	if l := c.NATSListen; l != "" && l != "-" {
		if _, port, err := net.SplitHostPort(l); err != nil {
			bad("nats-listen", "%q is not a host:port address (or - for none)", l)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			bad("nats-listen", "%q has a bad port", l)
		}
	}
	if c.NATSURL != "" && !urlList(c.NATSURL) {
		bad("nats-url", "%q is not a comma-separated list of NATS URLs", c.NATSURL)
	}
	if r := c.StreamRetention; r != 0 && r < time.Minute {
		bad("stream-retention", "%s is below the minimum of 1m", r)
	}
	if c.ItemCacheSize < -1 {
		bad("item-cache-size", "%d: want a size in bytes, or -1 to turn the cache off", c.ItemCacheSize)
	}
	if c.StreamMaxBytes < -1 {
		bad("stream-max-bytes", "%d: want a size in bytes, or -1 for no bound", c.StreamMaxBytes)
	}
	if c.NATSMaxStore < 0 {
		bad("nats-max-store", "%d is negative", c.NATSMaxStore)
	}
	if c.PublisherPollInterval < 0 {
		bad("publisher-poll-interval", "%s is negative", c.PublisherPollInterval)
	}
	if err := ValidatePeers(c.Region, c.Peers); err != nil {
		errs = append(errs, err)
	}
	if err := c.Timing.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ValidatePeers reports every problem with a region's peers at once, each
// prefixed with its YAML path (peers.NAME...).
func ValidatePeers(local string, peers map[string]Peer) error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
	}
	names := make([]string, 0, len(peers))
	for n := range peers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := peers[n]
		key := "peers." + n
		switch {
		case !ValidName(n):
			bad("peers", "%q is not a region name (1-63 lowercase letters, digits or hyphens)", n)
		case n == local:
			bad(key, "is this region")
		}
		if p.URL == "" && p.Domain == "" {
			bad(key, "needs a url or a JetStream domain")
		}
		if p.URL != "" && !urlList(p.URL) {
			bad(key+".url", "%q is not a comma-separated list of NATS URLs", p.URL)
		}
		if p.Domain != "" && !domainPattern.MatchString(p.Domain) {
			bad(key+".domain", "%q must be letters, digits, '-' or '_'", p.Domain)
		}
		if p.URL == "" && (p.Creds != "" || p.User != "" || p.Password != "" || p.Token != "" || p.TLS != (TLS{})) {
			bad(key, "credentials and TLS apply to a peer's own connection: they need a url")
		}
		if p.Creds != "" && (p.User != "" || p.Token != "") || p.User != "" && p.Token != "" {
			bad(key, "give one of creds, user/password or token")
		}
		if (p.User == "") != (p.Password == "") {
			bad(key, "user and password go together")
		}
		if (p.TLS.Cert == "") != (p.TLS.Key == "") {
			bad(key+".tls", "cert and key go together")
		}
	}
	return errors.Join(errs...)
}

func urlList(s string) bool {
	for _, u := range strings.Split(s, ",") {
		if u = strings.TrimSpace(u); u == "" || strings.ContainsAny(u, " \t") {
			return false
		}
	}
	return true
}

func (c Config) natsListen() string {
	if c.NATSListen == "" {
		return DefaultNATSListen
	}
	return c.NATSListen
}

func (c Config) streamRetention() time.Duration {
	if c.StreamRetention == 0 {
		return DefaultStreamRetention
	}
	return c.StreamRetention
}

func orDefault(v, def int64) int64 {
	if v == 0 {
		return def
	}
	return v
}
