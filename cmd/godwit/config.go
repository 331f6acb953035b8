package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/godwit-db/godwit/engine/wire"
	"github.com/godwit-db/godwit/region"
	"gopkg.in/yaml.v3"
)

// Config is godwit serve's configuration. Every field is a flag and a key of
// the YAML file given with --config, under the same kebab-case name; a flag
// given on the command line wins over the file, which wins over the default.
//
// To add a setting: add the field with its yaml tag, its default in
// DefaultConfig, its mapping in regionConfig (serve.go) and its check in
// region.Config.Validate (or in Validate, for a setting only the command
// has) and, for a scalar, its flag in serveOptions. A section (nats:, peers:, consumers:) is a nested struct
// field; the file decoder rejects unknown keys at every level.
type Config struct {
	// Listen is the API's TCP address. Default ":8000" (DynamoDB Local's port).
	Listen string `yaml:"listen"`
	// DataDir holds the Pebble store. Default "./data".
	DataDir string `yaml:"data-dir"`
	// Region is this instance's region name (ARNs, versions, JetStream
	// domain). Default "us-east-1".
	Region string `yaml:"region"`
	// Partitions is the partition count of a new table. Default
	// region.DefaultPartitions(): one per core, 2..64.
	Partitions int `yaml:"partitions"`
	// LogLevel is trace, debug, info, warn or error. Default info.
	LogLevel string `yaml:"log-level"`
	// LogFormat is text or json. Default text.
	LogFormat string `yaml:"log-format"`
	// TTLSweepInterval is how often expired items are looked for; 0
	// disables TTL deletion. Default 30s.
	TTLSweepInterval time.Duration `yaml:"ttl-sweep-interval"`
	// NoSync acknowledges writes before the WAL is fsynced: much faster, but
	// a power loss or kernel crash can lose acknowledged writes (a process
	// crash cannot). Default false.
	NoSync bool `yaml:"no-sync"`
	// ItemCacheSize bounds, in bytes, the partitions' caches of recently
	// written items, which spare a write its read of the item it replaces.
	// 0 means the default (32 MiB); -1 turns them off.
	ItemCacheSize int64 `yaml:"item-cache-size"`
	// Pprof serves Go's profiler under /debug/pprof/ on the API listener.
	// Default false; only for diagnosis (it is unauthenticated).
	Pprof bool `yaml:"pprof"`
	// HTTPServer is the HTTP/1.1 server: "lean" (engine/wire/h1, the API's
	// requests on its lean path) or "std" (net/http). Both send the same
	// bytes. Default "lean".
	HTTPServer string `yaml:"http-server"`

	// NATS and streams. NB: their zero values mean the defaults named
	// below, so that a Config built before they existed keeps working.

	// NATSListen is the embedded NATS server's client address (host:port;
	// port 0 picks a free one), or "-" for none: in-process connections
	// only. Ignored with NATSURL. Empty means the default, 127.0.0.1:4222,
	// which falls back to no listener, with a warning, when the port is taken.
	NATSListen string `yaml:"nats-listen"`
	// NATSURL, when set, is an external NATS with JetStream (one or more
	// comma-separated URLs) used instead of the embedded server.
	NATSURL string `yaml:"nats-url"`
	// StreamRetention is how long stream records stay readable. 0 means the
	// default, 24h.
	StreamRetention time.Duration `yaml:"stream-retention"`
	// StreamMaxBytes bounds each table stream in bytes (the oldest records
	// go first); -1 means no bound. 0 means the default, 1 GiB.
	StreamMaxBytes int64 `yaml:"stream-max-bytes"`
	// NATSMaxStore bounds the embedded server's JetStream storage in bytes;
	// each table stream reserves its StreamMaxBytes in it. 0 means the
	// default, 64 GiB.
	NATSMaxStore int64 `yaml:"nats-max-store"`

	// Tombstones of replicated tables' deleted items are kept the stream
	// retention plus TombstoneGrace, then collected every
	// TombstoneSweepInterval (see tombstones.go). 0 means the defaults, 24h
	// and 1h; a negative interval disables collection.
	TombstoneGrace         time.Duration `yaml:"tombstone-grace"`
	TombstoneSweepInterval time.Duration `yaml:"tombstone-sweep-interval"`

	// Peers are the other regions of this region's global tables, by
	// region name. --peer NAME=NATS_URL (repeatable) adds or replaces one
	// with just a URL; the YAML section also takes credentials, TLS and a
	// JetStream domain. Default none.
	Peers map[string]PeerConfig `yaml:"peers"`

	// Consumers are the stream consumers (Lambda event source mappings,
	// package sinks), file only: the consumers: section, each entry with
	// AWS's PascalCase parameter names and a Target: block (see
	// consumerConfig and docs/sinks.md). Default none.
	//
	// NB: a pointer keeps Config comparable with == (its tests do so).
	Consumers *[]consumerConfig `yaml:"consumers"`
}

// consumers is the configured consumers (none when the section is absent).
func (c Config) consumers() []consumerConfig {
	if c.Consumers == nil {
		return nil
	}
	return *c.Consumers
}

// PeerConfig is one peer region under peers: in the YAML file. A peer with
// a url is reached through a NATS connection of its own; one with only a
// domain through the local NATS (a supercluster or leaf nodes whose
// JetStream domains are the region names).
type PeerConfig struct {
	// URL is the peer's NATS (comma-separated URLs).
	URL string `yaml:"url"`
	// Creds is a NATS credentials file for URL.
	Creds string `yaml:"creds"`
	// User and Password authenticate to URL.
	User     string `yaml:"user"`
	Password string `yaml:"password"`
	// Token authenticates to URL.
	Token string `yaml:"token"`
	// TLS holds PEM files for URL's connection.
	TLS PeerTLS `yaml:"tls"`
	// Domain is the peer's JetStream domain.
	Domain string `yaml:"domain"`
}

// PeerTLS is a peer connection's TLS files.
type PeerTLS struct {
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// natsListen is the effective NATSListen.
func (c Config) natsListen() string {
	if c.NATSListen == "" {
		return region.DefaultNATSListen
	}
	return c.NATSListen
}

// streamRetention is the effective StreamRetention.
func (c Config) streamRetention() time.Duration {
	if c.StreamRetention == 0 {
		return region.DefaultStreamRetention
	}
	return c.StreamRetention
}

// DefaultConfig returns the configuration of a bare `godwit serve`.
func DefaultConfig() Config {
	return Config{
		Listen:           ":8000",
		DataDir:          "./data",
		Region:           "us-east-1",
		Partitions:       region.DefaultPartitions(),
		LogLevel:         "info",
		LogFormat:        "text",
		TTLSweepInterval: 30 * time.Second,
		HTTPServer:       string(wire.DefaultTransport),
	}
}

// Validate reports every problem with c at once, each prefixed with the
// setting's name. The settings serve passes on to the region are checked by
// region.Config.Validate (one set of rules for the binary and for tests that
// start a region directly); Validate adds the ones only the command has.
func (c Config) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
	}
	// NB: the region takes 0 partitions as "its default"; the command has
	// its own default (DefaultConfig), so 0 here was given on purpose and
	// is refused. The region reports the other out-of-range values.
	if c.Partitions == 0 {
		bad("partitions", "%d out of range 1..%d", c.Partitions, region.MaxPartitions)
	}
	switch c.LogLevel {
	case "trace", "debug", "info", "warn", "error":
	default:
		bad("log-level", "%q is not one of trace, debug, info, warn, error", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		bad("log-format", "%q is not one of text, json", c.LogFormat)
	}
	// NB: as with partitions, the region takes "" as its default and the
	// command, which has its own, refuses it; the region checks the rest.
	if c.HTTPServer == "" {
		bad("http-server", "%q is not one of lean, std", c.HTTPServer)
	}
	errs = append(errs, c.regionConfig(nil).Validate())
	errs = append(errs, validateConsumers(c.consumers())...)
	return errors.Join(errs...)
}

// option is one scalar setting settable by flag.
type option struct {
	name, usage string
	isBool      bool
	def         func(Config) string // default, for the usage text
	set         func(c *Config, raw string) error
}

// serveOptions are serve's flags, in the order of the usage text.
var serveOptions = []option{
	{name: "listen", usage: "API `address` (host:port; port 0 picks a free one)",
		def: func(c Config) string { return c.Listen },
		set: func(c *Config, v string) error { c.Listen = v; return nil }},
	{name: "data-dir", usage: "`directory` of the Pebble store",
		def: func(c Config) string { return c.DataDir },
		set: func(c *Config, v string) error { c.DataDir = v; return nil }},
	{name: "region", usage: "this instance's region `name`",
		def: func(c Config) string { return c.Region },
		set: func(c *Config, v string) error { c.Region = v; return nil }},
	{name: "partitions", usage: "`count` of partitions per new table (1..1024; by default one per core, 2..64)",
		def: func(c Config) string { return strconv.Itoa(c.Partitions) },
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("%q is not an integer", v)
			}
			c.Partitions = n
			return nil
		}},
	{name: "log-level", usage: "log `level`: trace, debug, info, warn or error",
		def: func(c Config) string { return c.LogLevel },
		set: func(c *Config, v string) error { c.LogLevel = v; return nil }},
	{name: "log-format", usage: "log `format`: text or json",
		def: func(c Config) string { return c.LogFormat },
		set: func(c *Config, v string) error { c.LogFormat = v; return nil }},
	{name: "ttl-sweep-interval", usage: "`interval` between sweeps for expired (TTL) items; 0 disables TTL deletion",
		def: func(c Config) string { return c.TTLSweepInterval.String() },
		set: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("%q is not a duration (e.g. 30s, 5m)", v)
			}
			c.TTLSweepInterval = d
			return nil
		}},
	{name: "no-sync", isBool: true,
		usage: "acknowledge writes before fsync: faster, but a power loss can lose acknowledged writes",
		def:   func(Config) string { return "" }, // NB: "" keeps "(default false)" out of the usage text
		set: func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%q is not a boolean", v)
			}
			c.NoSync = b
			return nil
		}},
	{name: "item-cache-size", usage: "`bytes` of recently written items kept to spare writes a read (-1: off)",
		def: func(c Config) string {
			return strconv.FormatInt(orDefault(c.ItemCacheSize, region.DefaultItemCacheSize), 10)
		},
		set: func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("%q is not an integer", v)
			}
			c.ItemCacheSize = n
			return nil
		}},
	{name: "pprof", isBool: true,
		usage: "serve Go's profiler under /debug/pprof/ on the API listener (diagnosis only: unauthenticated)",
		def:   func(Config) string { return "" },
		set: func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%q is not a boolean", v)
			}
			c.Pprof = b
			return nil
		}},
	{name: "http-server", usage: "HTTP/1.1 `server`: lean (godwit's own, for the API) or std (net/http)",
		def: func(c Config) string { return c.HTTPServer },
		set: func(c *Config, v string) error { c.HTTPServer = v; return nil }},
	{name: "nats-listen", usage: "embedded NATS `address` for other processes (host:port; port 0 picks one; - for none)",
		def: func(c Config) string { return c.natsListen() },
		set: func(c *Config, v string) error { c.NATSListen = v; return nil }},
	{name: "nats-url", usage: "external NATS `URLs` (comma-separated) to use instead of the embedded server",
		def: func(c Config) string { return c.NATSURL },
		set: func(c *Config, v string) error { c.NATSURL = v; return nil }},
	{name: "stream-retention", usage: "`duration` stream records stay readable",
		def: func(c Config) string { return c.streamRetention().String() },
		set: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("%q is not a duration (e.g. 24h)", v)
			}
			c.StreamRetention = d
			return nil
		}},
	{name: "stream-max-bytes", usage: "`bytes` each table stream may hold before its oldest records go (-1: no bound)",
		def: func(c Config) string {
			return strconv.FormatInt(orDefault(c.StreamMaxBytes, region.DefaultStreamMaxBytes), 10)
		},
		set: func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("%q is not an integer", v)
			}
			c.StreamMaxBytes = n
			return nil
		}},
	{name: "nats-max-store", usage: "`bytes` of JetStream storage the embedded NATS server may use",
		def: func(c Config) string {
			return strconv.FormatInt(orDefault(c.NATSMaxStore, region.DefaultNATSMaxStore), 10)
		},
		set: func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("%q is not an integer", v)
			}
			c.NATSMaxStore = n
			return nil
		}},
}

func orDefault(v, def int64) int64 {
	if v == 0 {
		return def
	}
	return v
}

// rawFlag records a flag's text; conversion happens later, so that every bad
// value is reported, not only the first.
type rawFlag struct {
	val    *string
	isBool bool
}

func (f rawFlag) String() string {
	if f.val == nil {
		return ""
	}
	return *f.val
}
func (f rawFlag) Set(s string) error { *f.val = s; return nil }
func (f rawFlag) IsBoolFlag() bool   { return f.isBool }

// errUsage marks a command line that could not be parsed (already reported
// by the flag package), or a request for help (flag.ErrHelp).
var errUsage = errors.New("usage")

// loadConfig builds serve's Config from its command-line arguments and, when
// --config names one, a YAML file: defaults, then the file, then the flags
// given. Unknown YAML keys are errors. Every problem found (in the file, in
// flag values, in the resulting settings) is reported in one joined error.
// Usage problems print to usage and return an error wrapping errUsage (or
// flag.ErrHelp for -h).
func loadConfig(args []string, usage io.Writer) (Config, error) {
	fs := flag.NewFlagSet("godwit serve", flag.ContinueOnError)
	fs.SetOutput(usage)
	raw := make(map[string]*string, len(serveOptions))
	defaults := DefaultConfig()
	for _, o := range serveOptions {
		v := o.def(defaults)
		raw[o.name] = &v
		fs.Var(rawFlag{val: raw[o.name], isBool: o.isBool}, o.name, o.usage)
	}
	configPath := fs.String("config", "", "YAML `file` of settings (keys are the flag names; flags win)")
	var peerFlags []string
	fs.Func("peer", "peer region as `NAME=NATS_URL` (repeatable; the YAML peers: section also takes credentials, TLS and a JetStream domain)",
		func(v string) error { peerFlags = append(peerFlags, v); return nil })
	fs.Usage = func() {
		fmt.Fprintf(usage, "Usage: godwit serve [flags]\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, err
		}
		return Config{}, fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(usage, "unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		fs.Usage()
		return Config{}, fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}

	cfg := defaults
	var errs []error
	if *configPath != "" {
		if err := decodeConfigFile(*configPath, &cfg); err != nil {
			errs = append(errs, err)
		}
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, o := range serveOptions {
		if !given[o.name] {
			continue
		}
		if err := o.set(&cfg, *raw[o.name]); err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", o.name, err))
		}
	}
	for _, v := range peerFlags {
		name, url, ok := strings.Cut(v, "=")
		if !ok || name == "" || url == "" {
			errs = append(errs, fmt.Errorf("--peer: %q is not NAME=NATS_URL", v))
			continue
		}
		if cfg.Peers == nil {
			cfg.Peers = map[string]PeerConfig{}
		}
		// NB: the flag wins over the file's entry of the same name.
		cfg.Peers[name] = PeerConfig{URL: url}
	}
	errs = append(errs, cfg.Validate())
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// decodeConfigFile decodes the YAML file at path over cfg: keys present
// replace cfg's values, unknown keys are errors. yaml.v3 reports every
// unknown key and type mismatch of the file in one error.
func decodeConfigFile(path string, cfg *Config) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			errs := make([]error, len(te.Errors))
			for i, msg := range te.Errors {
				errs[i] = fmt.Errorf("config file %s: %s", path, msg)
			}
			return errors.Join(errs...)
		}
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}
