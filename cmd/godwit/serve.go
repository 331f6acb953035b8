package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/godwit-db/godwit/engine"
	"github.com/godwit-db/godwit/engine/wire"
	"github.com/hashicorp/go-hclog"
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
	if err := serve(ctx, cfg, stderr); err != nil {
		fmt.Fprintf(stderr, "godwit serve: %v\n", err)
		return exitFailure
	}
	return exitOK
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
// requests finish (up to shutdownTimeout), and closes the engine. A clean
// shutdown returns nil.
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
	})
	if err != nil {
		return fmt.Errorf("open engine in %s: %w", cfg.DataDir, err)
	}
	// NB: from here on the engine must be closed on every path.

	srv := wire.NewServer(wire.Config{Logger: log, Registerer: reg, Gatherer: reg})
	srv.Register(engine.TargetPrefix, db.Operations())

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return errors.Join(fmt.Errorf("listen on %s: %w", cfg.Listen, err), closeEngine(db))
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       5 * time.Minute,
		ErrorLog:          log.Named("http").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
	log.Info("listening", "addr", ln.Addr().String(), "region", cfg.Region, "data-dir", cfg.DataDir,
		"no-sync", cfg.NoSync)

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
	if err := closeEngine(db); err != nil {
		return errors.Join(serveErr, err)
	}
	log.Info("stopped")
	return serveErr
}

func closeEngine(db *engine.DB) error {
	if err := db.Close(); err != nil {
		return fmt.Errorf("close engine: %w", err)
	}
	return nil
}
