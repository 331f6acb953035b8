package region

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/godwit-db/godwit/engine"
	"github.com/godwit-db/godwit/engine/wire"
	"github.com/godwit-db/godwit/globaltables"
	"github.com/godwit-db/godwit/sinks"
	"github.com/godwit-db/godwit/streams"
	"github.com/godwit-db/godwit/streams/embedded"
	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Shutdown bounds (see Close).
const (
	// ShutdownTimeout bounds how long in-flight requests may take to
	// finish once Close is called before their connections are closed.
	ShutdownTimeout = 30 * time.Second
	// PublisherDrainTimeout bounds how long the publisher may keep
	// publishing the outbox at Close; the rest is published after the next
	// Start.
	PublisherDrainTimeout = 10 * time.Second
)

// Region is one running regional instance. Safe for concurrent use.
type Region struct {
	cfg Config
	log hclog.Logger
	reg *prometheus.Registry

	nats      *natsBackend
	peers     *peerConns
	pub       *streams.Publisher
	db        *engine.DB
	api       *streams.API
	snap      *globaltables.SnapshotServer
	digests   *globaltables.DigestServer
	conflicts *globaltables.ConflictLog
	manager   *globaltables.Manager
	sinks     *sinks.Runtime
	ln        net.Listener
	hs        wire.HTTPServer
	served    chan error // Serve's result, once
	failed    chan error // Failed's channel
	closeErr  error
	once      sync.Once
}

// Start starts a region: NATS (embedded or external), the streams
// publisher, the engine, the global-tables manager and its peers'
// connections, the snapshot server, and the HTTP API on cfg.Listen. ctx
// bounds nothing after Start returns. Once the listener is bound it logs
// "listening" with the bound address as "addr" (see cmd/godwit).
func Start(ctx context.Context, cfg Config) (_ *Region, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	r := &Region{cfg: cfg, log: log, reg: prometheus.NewRegistry(), served: make(chan error, 1), failed: make(chan error, 1)}
	// NB: on failure everything started so far is closed, in reverse.
	var undo []func() error
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				err = errors.Join(err, undo[i]())
			}
		}
	}()
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := r.reg.Register(c); err != nil {
			return nil, fmt.Errorf("register runtime metrics: %w", err)
		}
	}

	// Start order: NATS, engine (with the publisher's listener), publisher,
	// APIs, global tables, HTTP; Close runs in reverse.
	r.nats, err = startNATS(cfg, log)
	if err != nil {
		return nil, err
	}
	undo = append(undo, r.nats.close)
	r.pub, err = streams.NewPublisher(streams.PublisherConfig{
		Retention:       cfg.streamRetention(),
		MaxBytes:        orDefault(cfg.StreamMaxBytes, DefaultStreamMaxBytes),
		DuplicateWindow: min(streams.DefaultPublisherConfig().DuplicateWindow, cfg.streamRetention()),
		SyncInterval:    r.nats.syncInterval,
		PollInterval:    cfg.PublisherPollInterval,
		Logger:          log,
		Registerer:      r.reg,
	})
	if err != nil {
		return nil, fmt.Errorf("streams publisher: %w", err)
	}
	ttl := cfg.TTLSweepInterval
	if ttl == 0 {
		ttl = -1 // engine: negative disables the sweeper, zero means its default
	}
	parts := cfg.Partitions
	if parts == 0 {
		parts = DefaultPartitions()
	}
	r.db, err = engine.Open(engine.Config{
		Dir:               cfg.DataDir,
		Region:            cfg.Region,
		DefaultPartitions: parts,
		TTLSweepInterval:  ttl,
		NoSync:            cfg.NoSync,
		ItemCacheSize:     cfg.ItemCacheSize,
		Clock:             cfg.Clock,
		MaxClockOffset:    cfg.MaxClockOffset,
		// Tombstones outlive every record a peer's stream may still deliver.
		TombstoneRetention:     cfg.streamRetention(),
		TombstoneGrace:         cfg.TombstoneGrace,
		TombstoneSweepInterval: cfg.TombstoneSweepInterval,
		Logger:                 log,
		Registerer:             r.reg,
		Listener:               r.pub.Listener(),
	})
	if err != nil {
		return nil, fmt.Errorf("open engine in %s: %w", cfg.DataDir, err)
	}
	undo = append(undo, r.closeEngine)
	if err := r.pub.Start(r.db, r.nats.pub); err != nil {
		return nil, fmt.Errorf("start streams publisher: %w", err)
	}
	undo = append(undo, r.stopPublisher)

	srv := wire.NewServer(wire.Config{Logger: log, Registerer: r.reg, Gatherer: r.reg})
	srv.Register(engine.TargetPrefix, r.db.Operations())
	js, err := jetstream.New(r.nats.api)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	r.api, err = streams.NewAPI(r.db, js, streams.APIConfig{Published: r.pub, Logger: log, Registerer: r.reg})
	if err != nil {
		return nil, fmt.Errorf("streams API: %w", err)
	}
	undo = append(undo, func() error { r.api.Close(); return nil })
	srv.Register(streams.TargetPrefix, r.api.Operations())

	r.peers, err = connectPeers(cfg, r.nats.api, log)
	if err != nil {
		return nil, err
	}
	undo = append(undo, r.peers.close)
	r.snap, err = globaltables.NewSnapshotServer(globaltables.SnapshotServerConfig{Conn: r.nats.api, DB: r.db, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("snapshot server: %w", err)
	}
	undo = append(undo, r.snap.Close)
	r.digests, err = globaltables.NewDigestServer(globaltables.DigestServerConfig{Conn: r.nats.api, DB: r.db, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("digest server: %w", err)
	}
	undo = append(undo, r.digests.Close)
	r.conflicts, err = globaltables.NewConflictLog(globaltables.ConflictLogConfig{
		JetStream: js, Region: cfg.Region, Retention: cfg.ConflictRetention, MaxBytes: cfg.ConflictMaxBytes,
		Logger: log, Registerer: r.reg,
	})
	if err != nil {
		return nil, err
	}
	undo = append(undo, r.closeConflicts)
	r.manager, err = globaltables.NewManager(globaltables.ManagerConfig{
		DB: r.db, Conn: r.nats.api, Peers: r.peers.peers, Timing: cfg.Timing, Conflicts: r.conflicts,
		Logger: log, Registerer: r.reg,
	})
	if err != nil {
		return nil, fmt.Errorf("global tables: %w", err)
	}
	undo = append(undo, r.manager.Close)

	if err := r.startConsumers(js); err != nil {
		return nil, err
	}
	undo = append(undo, r.sinks.Close)

	r.ln, err = net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	mux := http.NewServeMux()
	mux.Handle(sinks.StatusPath, r.sinks)
	if cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.Handle("/", srv)
	var handler http.Handler = mux
	r.hs, err = srv.NewHTTPServer(wire.HTTPConfig{Transport: cfg.HTTPServer, Handler: handler, Logger: log})
	if err != nil {
		return nil, errors.Join(err, r.ln.Close())
	}
	log.Info("listening", "addr", r.ln.Addr().String(), "region", cfg.Region, "data-dir", cfg.DataDir,
		"no-sync", cfg.NoSync, "peers", r.peers.names(), "http-server", string(cfg.HTTPServer))
	go func() {
		err := r.hs.Serve(r.ln)
		r.served <- err
		if !errors.Is(err, http.ErrServerClosed) {
			r.failed <- fmt.Errorf("serve: %w", err)
		}
	}()
	return r, nil
}

// Addr is the API listener's bound address.
func (r *Region) Addr() net.Addr { return r.ln.Addr() }

// URL is the API's http:// URL.
func (r *Region) URL() string { return "http://" + r.ln.Addr().String() }

// NATSURL is the URL other regions reach this region's NATS at: the
// embedded server's listener, or the external NATSURL; "" for an embedded
// server without a listener.
func (r *Region) NATSURL() string {
	if r.nats.embedded != nil {
		return r.nats.embedded.ClientURL()
	}
	return r.cfg.NATSURL
}

// Name is the region's name.
func (r *Region) Name() string { return r.cfg.Region }

// DB is the region's engine.
func (r *Region) DB() *engine.DB { return r.db }

// Manager is the region's global-tables manager.
func (r *Region) Manager() *globaltables.Manager { return r.manager }

// Registry is the region's metrics registry (served on /metrics).
func (r *Region) Registry() *prometheus.Registry { return r.reg }

// Failed delivers the error that stopped the HTTP server before Close
// (a listener failure); nothing otherwise.
func (r *Region) Failed() <-chan error { return r.failed }

// Close shuts the region down gracefully: it stops accepting connections
// and lets in-flight requests finish (up to ShutdownTimeout), stops global
// tables, lets the publisher drain the outbox (up to
// PublisherDrainTimeout), closes the engine and stops NATS. Idempotent;
// a clean shutdown returns nil.
func (r *Region) Close() error {
	r.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		err := r.hs.Shutdown(ctx)
		cancel()
		if err != nil {
			r.log.Warn("in-flight requests did not finish in time; closing their connections", "error", err)
			_ = r.hs.Close()
		}
		<-r.served
		// NB: the manager stops the drivers before the conflict log
		// closes; the digest server stops before the engine closes.
		r.closeErr = errors.Join(r.sinks.Close(), r.manager.Close(), r.closeConflicts(), r.digests.Close(), r.snap.Close(), r.peers.close())
		r.api.Close()
		r.closeErr = errors.Join(r.closeErr, r.stopPublisher(), r.closeEngine(), r.nats.close())
	})
	return r.closeErr
}

// startConsumers builds and starts the configured stream consumers (none
// without cfg.Consumers: the runtime then only answers its status).
func (r *Region) startConsumers(js jetstream.JetStream) error {
	var specs []sinks.ConsumerSpec
	if r.cfg.Consumers != nil {
		var err error
		specs, err = r.cfg.Consumers(ConsumerDeps{NATS: r.nats.api, Logger: r.log, Registerer: r.reg})
		if err != nil {
			return fmt.Errorf("stream consumers: %w", err)
		}
	}
	closeTargets := func() {
		for _, s := range specs {
			_ = s.Target.Close()
		}
	}
	rt, err := sinks.NewRuntime(sinks.RuntimeConfig{
		Consumers: specs, JetStream: js, Region: r.cfg.Region, Account: r.db.AccountID(),
		Logger: r.log, Registerer: r.reg,
	})
	if err != nil {
		closeTargets()
		return fmt.Errorf("stream consumers: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rt.Start(ctx); err != nil {
		closeTargets()
		return fmt.Errorf("stream consumers: %w", err)
	}
	if n := len(specs); n > 0 {
		r.log.Info("stream consumers started", "consumers", n)
	}
	r.sinks = rt
	return nil
}

// stopPublisher stops the publisher after letting it drain the outbox for
// up to PublisherDrainTimeout. Running out of time is not an error: the
// outbox keeps what was not published.
func (r *Region) stopPublisher() error {
	ctx, cancel := context.WithTimeout(context.Background(), PublisherDrainTimeout)
	defer cancel()
	if err := r.pub.Stop(ctx); err != nil {
		r.log.Warn("streams publisher stopped before publishing everything; the rest follows the next start",
			"error", err, "backlog", r.pub.Backlog())
	}
	return nil
}

// closeConflicts publishes the conflict records still queued (for up to
// PublisherDrainTimeout) and stops the conflict log.
func (r *Region) closeConflicts() error {
	ctx, cancel := context.WithTimeout(context.Background(), PublisherDrainTimeout)
	defer cancel()
	if err := r.conflicts.Close(ctx); err != nil {
		r.log.Warn("conflict records dropped at shutdown", "error", err)
	}
	return nil
}

func (r *Region) closeEngine() error {
	if err := r.db.Close(); err != nil {
		return fmt.Errorf("close engine: %w", err)
	}
	return nil
}

// natsBackend is the NATS that streams use: the embedded server, or an
// external one.
type natsBackend struct {
	embedded     *embedded.Server // nil with NATSURL
	pub          *nats.Conn       // the publisher's own connection (no reconnect buffer)
	api          *nats.Conn       // the Streams API's and global tables' connection (ordinary reconnects)
	syncInterval time.Duration    // JetStream's fsync interval
}

// startNATS starts the embedded server (or connects to NATSURL) and opens
// the publisher's connection.
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
		api, err := nats.Connect(cfg.NATSURL, nats.Name("godwit-streams-api "+cfg.Region), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true))
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("connect to NATS %s: %w", cfg.NATSURL, err)
		}
		// NB: nats-server's default fsync interval; an external cluster
		// configured otherwise should be matched here.
		return &natsBackend{pub: nc, api: api, syncInterval: embedded.DefaultConfig().SyncInterval}, nil
	}
	ecfg := embedded.Config{
		StoreDir: filepath.Join(cfg.DataDir, "nats"),
		Domain:   cfg.Region,
		Listen:   cfg.natsListen(),
		MaxStore: orDefault(cfg.NATSMaxStore, DefaultNATSMaxStore),
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
		log.Info("embedded NATS server up", "nats-addr", a.String(), "domain", srv.Domain())
	}
	// NB: in-process, listener or not: the publisher's messages and acks
	// and the API's reads skip the loopback TCP's system calls.
	nc, err := srv.ConnectInProcess(connOpts...)
	if err != nil {
		srv.Shutdown()
		return nil, fmt.Errorf("connect to embedded NATS: %w", err)
	}
	api, err := srv.ConnectInProcess(nats.Name("godwit-streams-api "+cfg.Region), nats.MaxReconnects(-1))
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

// peerConns are the connections to the peer regions.
type peerConns struct {
	peers map[string]globaltables.Peer
	own   []*nats.Conn // connections opened here (peers with a URL)
}

// connectPeers opens a connection per peer with a URL and builds each
// peer's JetStream handle. A peer that is down is waited for in the
// background (RetryOnFailedConnect): a region starts without its peers.
func connectPeers(cfg Config, local *nats.Conn, log hclog.Logger) (*peerConns, error) {
	pc := &peerConns{peers: map[string]globaltables.Peer{}}
	names := make([]string, 0, len(cfg.Peers))
	for n := range cfg.Peers {
		names = append(names, n)
	}
	sort.Strings(names)
	plog := log.Named("peers")
	for _, name := range names {
		p := cfg.Peers[name]
		conn := local
		if p.URL != "" {
			opts := []nats.Option{
				nats.Name("godwit-peer " + cfg.Region + "->" + name),
				nats.MaxReconnects(-1),
				nats.ReconnectWait(250 * time.Millisecond),
				nats.RetryOnFailedConnect(true),
				nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
					plog.Warn("disconnected from a peer region's NATS", "peer", name, "error", err)
				}),
				nats.ReconnectHandler(func(*nats.Conn) { plog.Info("reconnected to a peer region's NATS", "peer", name) }),
			}
			switch {
			case p.Creds != "":
				opts = append(opts, nats.UserCredentials(p.Creds))
			case p.User != "":
				opts = append(opts, nats.UserInfo(p.User, p.Password))
			case p.Token != "":
				opts = append(opts, nats.Token(p.Token))
			}
			if p.TLS.CA != "" {
				opts = append(opts, nats.RootCAs(p.TLS.CA))
			}
			if p.TLS.Cert != "" {
				opts = append(opts, nats.ClientCert(p.TLS.Cert, p.TLS.Key))
			}
			nc, err := nats.Connect(p.URL, opts...)
			if err != nil {
				_ = pc.close()
				return nil, fmt.Errorf("peer %s: connect to %s: %w", name, p.URL, err)
			}
			pc.own = append(pc.own, nc)
			conn = nc
		}
		var js jetstream.JetStream
		var err error
		if p.Domain != "" {
			js, err = jetstream.NewWithDomain(conn, p.Domain)
		} else {
			js, err = jetstream.New(conn)
		}
		if err != nil {
			_ = pc.close()
			return nil, fmt.Errorf("peer %s: jetstream: %w", name, err)
		}
		pc.peers[name] = globaltables.Peer{Conn: conn, JetStream: js}
		log.Info("peer region", "peer", name, "url", p.URL, "domain", p.Domain)
	}
	return pc, nil
}

func (pc *peerConns) names() string {
	names := make([]string, 0, len(pc.peers))
	for n := range pc.peers {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

func (pc *peerConns) close() error {
	for _, nc := range pc.own {
		nc.Close()
	}
	pc.own = nil
	return nil
}
