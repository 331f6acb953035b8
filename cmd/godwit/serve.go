package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/godwit-db/godwit/engine"
	"github.com/godwit-db/godwit/engine/wire"
	"github.com/godwit-db/godwit/streams"
	"github.com/godwit-db/godwit/streams/embedded"
	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// shutdownTimeout bounds how long in-flight requests may take to finish
// after SIGINT/SIGTERM before their connections are closed.
const shutdownTimeout = 30 * time.Second

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
// shuts down gracefully: it stops accepting connections, lets in-flight
// requests finish (up to shutdownTimeout), lets the streams publisher drain
// the outbox (up to publisherDrainTimeout), closes the engine and stops
// NATS. A clean shutdown returns nil.
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

	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register runtime metrics: %w", err)
		}
	}

	// Start order: NATS, engine (with the publisher's listener), publisher,
	// HTTP; shutdown runs in reverse.
	nb, err := startNATS(cfg, log)
	if err != nil {
		return err
	}
	pub, err := streams.NewPublisher(streams.PublisherConfig{
		Retention:       cfg.streamRetention(),
		MaxBytes:        orDefault(cfg.StreamMaxBytes, defaultStreamMaxBytes),
		DuplicateWindow: min(10*time.Minute, cfg.streamRetention()),
		SyncInterval:    nb.syncInterval,
		Logger:          log,
		Registerer:      reg,
	})
	if err != nil {
		return errors.Join(fmt.Errorf("streams publisher: %w", err), nb.close())
	}

	ttl := cfg.TTLSweepInterval
	if ttl == 0 {
		ttl = -1 // engine: negative disables the sweeper, zero means its default
	}
	db, err := engine.Open(engine.Config{
		Dir:               cfg.DataDir,
		Region:            cfg.Region,
		DefaultPartitions: cfg.Partitions,
		TTLSweepInterval:  ttl,
		NoSync:            cfg.NoSync,
		Logger:            log,
		Registerer:        reg,
		Listener:          pub.Listener(),
	})
	if err != nil {
		return errors.Join(fmt.Errorf("open engine in %s: %w", cfg.DataDir, err), nb.close())
	}
	// NB: from here on the engine must be closed on every path.
	if err := pub.Start(db, nb.pub); err != nil {
		return errors.Join(fmt.Errorf("start streams publisher: %w", err), closeEngine(db), nb.close())
	}

	srv := wire.NewServer(wire.Config{Logger: log, Registerer: reg, Gatherer: reg})
	srv.Register(engine.TargetPrefix, db.Operations())
	js, err := jetstream.New(nb.api)
	if err != nil {
		return errors.Join(fmt.Errorf("jetstream: %w", err), stopPublisher(pub, log), closeEngine(db), nb.close())
	}
	api, err := streams.NewAPI(db, js, streams.APIConfig{Logger: log, Registerer: reg})
	if err != nil {
		return errors.Join(fmt.Errorf("streams API: %w", err), stopPublisher(pub, log), closeEngine(db), nb.close())
	}
	defer api.Close()
	srv.Register(streams.TargetPrefix, api.Operations())

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return errors.Join(fmt.Errorf("listen on %s: %w", cfg.Listen, err),
			stopPublisher(pub, log), closeEngine(db), nb.close())
	}
	var handler http.Handler = srv
	if cfg.Pprof {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		mux.Handle("/", srv)
		handler = mux
	}
	hs, err := srv.NewHTTPServer(wire.HTTPConfig{Transport: wire.Transport(cfg.HTTPServer), Handler: handler, Logger: log})
	if err != nil { // NB: Validate rules this out
		return errors.Join(err, ln.Close(), stopPublisher(pub, log), closeEngine(db), nb.close())
	}
	log.Info("listening", "addr", ln.Addr().String(), "region", cfg.Region, "data-dir", cfg.DataDir,
		"no-sync", cfg.NoSync, "http-server", cfg.HTTPServer)

	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	var serveErr error
	select {
	case err := <-served:
		serveErr = fmt.Errorf("serve: %w", err) // Serve only returns early on a listener failure
	case <-ctx.Done():
		log.Info("shutting down", "timeout", shutdownTimeout)
		shCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		err := hs.Shutdown(shCtx)
		cancel()
		if err != nil {
			log.Warn("in-flight requests did not finish in time; closing their connections", "error", err)
			_ = hs.Close()
		}
		<-served
	}
	if err := errors.Join(stopPublisher(pub, log), closeEngine(db), nb.close()); err != nil {
		return errors.Join(serveErr, err)
	}
	log.Info("stopped")
	return serveErr
}

// publisherDrainTimeout bounds how long the publisher may keep publishing
// the outbox at shutdown; what remains is published after the next start.
const publisherDrainTimeout = 10 * time.Second

// stopPublisher stops pub after letting it drain the outbox for up to
// publisherDrainTimeout. Running out of time is not an error: the outbox
// keeps what was not published.
func stopPublisher(pub *streams.Publisher, log hclog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), publisherDrainTimeout)
	defer cancel()
	if err := pub.Stop(ctx); err != nil {
		log.Warn("streams publisher stopped before publishing everything; the rest follows the next start",
			"error", err, "backlog", pub.Backlog())
	}
	return nil
}

// natsBackend is the NATS that streams use: the embedded server, or an
// external one.
type natsBackend struct {
	embedded     *embedded.Server // nil with --nats-url
	pub          *nats.Conn       // the publisher's own connection (no reconnect buffer)
	api          *nats.Conn       // the Streams API's connection (ordinary reconnects)
	syncInterval time.Duration    // JetStream's fsync interval
}

// startNATS starts the embedded server (or connects to --nats-url) and
// opens the publisher's connection.
func startNATS(cfg Config, log hclog.Logger) (*natsBackend, error) {
	nlog := log.Named("nats")
	connOpts := []nats.Option{
		nats.Name("godwit-publisher " + cfg.Region),
		// NB: the publisher's ordering argument needs publishes made while
		// disconnected to fail, not to be buffered (see streams.Publisher).
		nats.ReconnectBufSize(-1),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { nlog.Warn("disconnected from NATS", "error", err) }),
		nats.ReconnectHandler(func(nc *nats.Conn) { nlog.Info("reconnected to NATS", "url", nc.ConnectedUrlRedacted()) }),
	}
	if cfg.NATSURL != "" {
		// NB: an external NATS that is down at start is waited for: writes
		// go on and the outbox holds their changes until it is back.
		nc, err := nats.Connect(cfg.NATSURL, append(connOpts, nats.RetryOnFailedConnect(true))...)
		if err != nil {
			return nil, fmt.Errorf("connect to NATS %s: %w", cfg.NATSURL, err)
		}
		log.Info("using external NATS", "url", cfg.NATSURL, "connected", nc.IsConnected())
		// NB: nats-server's default fsync interval; an external cluster
		// configured otherwise should be matched here.
		api, err := nats.Connect(cfg.NATSURL, nats.Name("godwit-streams-api "+cfg.Region), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true))
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("connect to NATS %s: %w", cfg.NATSURL, err)
		}
		return &natsBackend{pub: nc, api: api, syncInterval: embedded.DefaultConfig().SyncInterval}, nil
	}
	ecfg := embedded.Config{
		StoreDir: filepath.Join(cfg.DataDir, "nats"),
		Domain:   cfg.Region,
		Listen:   cfg.natsListen(),
		MaxStore: orDefault(cfg.NATSMaxStore, defaultNATSMaxStore),
		Logger:   log,
	}
	srv, err := embedded.Start(ecfg)
	if err != nil && cfg.NATSListen == "" && errors.Is(err, syscall.EADDRINUSE) {
		log.Warn("the default NATS port is taken; the embedded NATS server takes in-process connections only "+
			"(set --nats-listen to expose it)", "addr", ecfg.Listen)
		ecfg.Listen = embedded.NoListener
		srv, err = embedded.Start(ecfg)
	}
	if err != nil {
		return nil, fmt.Errorf("start embedded NATS: %w", err)
	}
	if a := srv.Addr(); a != nil {
		log.Info("embedded NATS server up", "nats-addr", a.String())
	}
	nc, err := srv.Connect(connOpts...)
	if err != nil {
		srv.Shutdown()
		return nil, fmt.Errorf("connect to embedded NATS: %w", err)
	}
	api, err := srv.Connect(nats.Name("godwit-streams-api "+cfg.Region), nats.MaxReconnects(-1))
	if err != nil {
		nc.Close()
		srv.Shutdown()
		return nil, fmt.Errorf("connect to embedded NATS: %w", err)
	}
	return &natsBackend{embedded: srv, pub: nc, api: api, syncInterval: srv.SyncInterval()}, nil
}

// close closes the connections, then stops the embedded server.
func (b *natsBackend) close() error {
	b.pub.Close()
	b.api.Close()
	if b.embedded != nil {
		b.embedded.Shutdown()
	}
	return nil
}

func closeEngine(db *engine.DB) error {
	if err := db.Close(); err != nil {
		return fmt.Errorf("close engine: %w", err)
	}
	return nil
}
