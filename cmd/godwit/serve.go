package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/godwit-db/godwit/engine/wire"
	"github.com/godwit-db/godwit/region"
	"github.com/hashicorp/go-hclog"
)

// runServe is `godwit serve`: it parses the configuration, serves until ctx
// is done, and returns the exit status. Logs and usage go to stderr.
func runServe(ctx context.Context, args []string, stderr io.Writer) int {
	cfg, err := loadConfig(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage):
		return exitUsage
	case err != nil:
		fmt.Fprintf(stderr, "godwit serve: invalid configuration:\n%v\n", err)
		return exitUsage
	}
	setGCPercent()
	if err := serve(ctx, cfg, stderr); err != nil {
		fmt.Fprintf(stderr, "godwit serve: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// serveGCPercent is the GOGC godwit serve runs with unless the environment
// sets GOGC.
//
// NB: godwit's Go heap is small (about 2 MB live under load: Pebble's block
// cache and memtables are allocated outside it), so with Go's default of 100
// the heap goal stays at the 4-6 MB minimum and, under load, the collector
// ran about 40 times a second (GODEBUG=gctrace=1: 5 % of the CPU). At 400
// the goal is 16 MB or more: a few MB more memory, a quarter of the cycles.
const serveGCPercent = 400

func setGCPercent() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
}

// newLogger builds the root logger of cfg's level and format.
func newLogger(cfg Config, out io.Writer) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       "godwit",
		Level:      hclog.LevelFromString(cfg.LogLevel),
		JSONFormat: cfg.LogFormat == "json",
		Output:     out,
	})
}

// serve runs godwit with cfg (which must be valid) until ctx is done, then
// shuts down gracefully (region.Close): it stops accepting connections,
// lets in-flight requests finish (up to region.ShutdownTimeout), stops
// global tables, lets the streams publisher drain the outbox (up to
// region.PublisherDrainTimeout), closes the engine and stops NATS. A clean
// shutdown returns nil.
//
// With the embedded NATS server and a listener, it also logs "embedded NATS
// server up" with the bound NATS address as "nats-addr".
//
// Once the listener is bound it logs, at info level, the message "listening"
// with the bound address as "addr" (so ":0" reveals its port). In the text
// format the line reads
//
//	2026-01-02T15:04:05.000Z [INFO]  godwit: listening: addr=127.0.0.1:8000
//
// and in the JSON format {"@level":"info","@message":"listening",
// "@module":"godwit","addr":"127.0.0.1:8000",...}. Scripts and tests find the
// address with the pattern `listening: addr=(\S+)` (text) or the "addr"
// member of the "listening" message (json); this form is a stable interface.
func serve(ctx context.Context, cfg Config, logOut io.Writer) error {
	log := newLogger(cfg, logOut)
	r, err := region.Start(ctx, cfg.regionConfig(log))
	if err != nil {
		return err
	}
	var serveErr error
	select {
	case serveErr = <-r.Failed():
	case <-ctx.Done():
		log.Info("shutting down", "timeout", region.ShutdownTimeout)
	}
	if err := r.Close(); err != nil {
		return errors.Join(serveErr, err)
	}
	log.Info("stopped")
	return serveErr
}

// regionConfig maps cfg onto the region's configuration.
func (c Config) regionConfig(log hclog.Logger) region.Config {
	rc := region.Config{
		Listen:           c.Listen,
		DataDir:          c.DataDir,
		Region:           c.Region,
		Partitions:       c.Partitions,
		TTLSweepInterval: c.TTLSweepInterval,
		NoSync:           c.NoSync,
		ItemCacheSize:    c.ItemCacheSize,
		Pprof:            c.Pprof,
		HTTPServer:       wire.Transport(c.HTTPServer),
		NATSListen:       c.NATSListen,
		NATSURL:          c.NATSURL,
		StreamRetention:  c.StreamRetention,
		StreamMaxBytes:   c.StreamMaxBytes,
		NATSMaxStore:     c.NATSMaxStore,
		// NB: without this the consumers: section was validated and then
		// ignored: serve ran no consumer (TestRegionConfigCarriesConsumers).
		Consumers: consumerSpecs(c),
		Logger:    log,

		TombstoneGrace:         c.TombstoneGrace,
		TombstoneSweepInterval: c.TombstoneSweepInterval,
	}
	if len(c.Peers) > 0 {
		rc.Peers = make(map[string]region.Peer, len(c.Peers))
		for name, p := range c.Peers {
			rc.Peers[name] = region.Peer{URL: p.URL, Creds: p.Creds, User: p.User, Password: p.Password,
				Token: p.Token, Domain: p.Domain, TLS: region.TLS{CA: p.TLS.CA, Cert: p.TLS.Cert, Key: p.TLS.Key}}
		}
	}
	return rc
}
