package embedded

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// NoListener as Config.Listen starts the server without a TCP listener:
// clients connect in-process only (Server.Connect).
const NoListener = "-"

// Config configures an embedded server. The zero value of each field but
// StoreDir means its default.
type Config struct {
	// StoreDir is the JetStream store directory (godwit uses <data-dir>/nats).
	// Required.
	StoreDir string
	// Domain is the JetStream domain, the region's name. Default "us-east-1".
	Domain string
	// Listen is the client listener's host:port; port 0 picks a free one.
	// NoListener ("-") means no listener. Default "127.0.0.1:4222".
	Listen string
	// MaxStore bounds JetStream file storage in bytes. Streams reserve their
	// MaxBytes against it when created. Default 64 GiB.
	MaxStore int64
	// MaxMemory bounds JetStream memory storage in bytes. Default 256 MiB.
	MaxMemory int64
	// MaxPayload is the largest message in bytes. A change record carries
	// up to two 400 KB images. Default 4 MiB.
	MaxPayload int32
	// SyncInterval is how often JetStream fsyncs its files. A message
	// acknowledged less than SyncInterval ago can be lost by an OS crash
	// (not by a process crash); the publisher keeps its outbox entries that
	// long. Default 2m (nats-server's default).
	SyncInterval time.Duration
	// ServerName names the server in NATS. Default "godwit-<Domain>".
	ServerName string
	// ReadyTimeout bounds how long Start waits for the server. Default 10s.
	ReadyTimeout time.Duration
	// Logger receives the server's logs, named "nats". Default a null logger.
	Logger hclog.Logger
}

// DefaultConfig returns a Config with every default filled in but StoreDir.
func DefaultConfig() Config {
	return Config{
		Domain:       "us-east-1",
		Listen:       "127.0.0.1:4222",
		MaxStore:     64 << 30,
		MaxMemory:    256 << 20,
		MaxPayload:   4 << 20,
		SyncInterval: 2 * time.Minute,
		ReadyTimeout: 10 * time.Second,
	}
}

// withDefaults returns a copy of c with its zero fields defaulted.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Domain == "" {
		c.Domain = d.Domain
	}
	if c.Listen == "" {
		c.Listen = d.Listen
	}
	if c.MaxStore == 0 {
		c.MaxStore = d.MaxStore
	}
	if c.MaxMemory == 0 {
		c.MaxMemory = d.MaxMemory
	}
	if c.MaxPayload == 0 {
		c.MaxPayload = d.MaxPayload
	}
	if c.SyncInterval == 0 {
		c.SyncInterval = d.SyncInterval
	}
	if c.ServerName == "" {
		c.ServerName = "godwit-" + c.Domain
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = d.ReadyTimeout
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	return c
}

// domainPattern is what JetStream accepts as a domain (no dots, spaces or wildcards).
var domainPattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Validate reports every problem with c at once (after defaults).
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.StoreDir == "" {
		errs = append(errs, errors.New("embedded: StoreDir is required"))
	}
	if !domainPattern.MatchString(c.Domain) {
		errs = append(errs, fmt.Errorf("embedded: Domain %q must be letters, digits, '-' or '_'", c.Domain))
	}
	if c.Listen != NoListener {
		if _, _, err := splitListen(c.Listen); err != nil {
			errs = append(errs, fmt.Errorf("embedded: Listen: %w", err))
		}
	}
	if c.MaxStore < 0 {
		errs = append(errs, fmt.Errorf("embedded: MaxStore %d is negative", c.MaxStore))
	}
	if c.MaxMemory < 0 {
		errs = append(errs, fmt.Errorf("embedded: MaxMemory %d is negative", c.MaxMemory))
	}
	if c.MaxPayload < 0 {
		errs = append(errs, fmt.Errorf("embedded: MaxPayload %d is negative", c.MaxPayload))
	}
	if c.SyncInterval < 0 {
		errs = append(errs, fmt.Errorf("embedded: SyncInterval %s is negative", c.SyncInterval))
	}
	if c.ReadyTimeout < 0 {
		errs = append(errs, fmt.Errorf("embedded: ReadyTimeout %s is negative", c.ReadyTimeout))
	}
	return errors.Join(errs...)
}

// splitListen parses a host:port listen address. Port 0 becomes
// server.RANDOM_PORT (nats-server reads 0 as its default port 4222).
func splitListen(addr string) (string, int, error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%q: bad port %q", addr, ps)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	return host, port, nil
}

// Server is a running embedded NATS server. Safe for concurrent use.
type Server struct {
	cfg  Config
	ns   *server.Server
	addr net.Addr // the bound listener, nil without one
	url  string   // nats:// URL of addr, "" without one
}

// Start starts a server and waits until it accepts connections with
// JetStream enabled. The caller's Config is not modified.
func Start(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	opts := &server.Options{
		ServerName:         cfg.ServerName,
		JetStream:          true,
		JetStreamDomain:    cfg.Domain,
		StoreDir:           cfg.StoreDir,
		JetStreamMaxStore:  cfg.MaxStore,
		JetStreamMaxMemory: cfg.MaxMemory,
		SyncInterval:       cfg.SyncInterval,
		MaxPayload:         cfg.MaxPayload,
		// NB: godwit owns the process's signals; the server must not
		// install handlers of its own.
		NoSigs: true,
	}
	if cfg.Listen == NoListener {
		opts.DontListen = true
	} else {
		opts.Host, opts.Port, _ = splitListen(cfg.Listen) // validated above
		if opts.Port != server.RANDOM_PORT {
			// NB: nats-server only reports a busy port by never becoming
			// ready; probing first fails fast, with an error that
			// errors.Is(err, syscall.EADDRINUSE) recognises.
			ln, err := net.Listen("tcp", cfg.Listen)
			if err != nil {
				return nil, fmt.Errorf("embedded: listen on %s: %w", cfg.Listen, err)
			}
			_ = ln.Close()
		}
	}
	// NB: a MaxPayload above 1 MiB makes nats-server warn, and it refuses
	// one above MaxPending (64 MiB): raise MaxPending along with it.
	if int64(cfg.MaxPayload) > server.MAX_PENDING_SIZE {
		opts.MaxPending = int64(cfg.MaxPayload)
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded: new nats server: %w", err)
	}
	log := cfg.Logger.Named("nats")
	ns.SetLoggerV2(&logger{log}, log.IsDebug(), log.IsTrace(), false)
	ns.Start()
	if !ns.ReadyForConnections(cfg.ReadyTimeout) {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("embedded: nats server not ready after %s", cfg.ReadyTimeout)
	}
	if !ns.JetStreamEnabled() {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("embedded: jetstream did not start (store %s); see the nats log", cfg.StoreDir)
	}
	s := &Server{cfg: cfg, ns: ns}
	if !opts.DontListen {
		s.addr = ns.Addr()
		s.url = ns.ClientURL()
	}
	log.Info("nats server started", "listen", s.ClientURL(), "domain", cfg.Domain, "store-dir", cfg.StoreDir,
		"max-store", cfg.MaxStore, "sync-interval", cfg.SyncInterval)
	return s, nil
}

// ClientURL is the nats:// URL of the listener, "" without one. It stays
// valid after Shutdown (to restart a server on the same address).
func (s *Server) ClientURL() string { return s.url }

// Addr is the listener's bound address, nil without one. It stays valid
// after Shutdown.
func (s *Server) Addr() net.Addr { return s.addr }

// SyncInterval is the server's JetStream fsync interval (the publisher
// keeps outbox entries at least that long after their ack).
func (s *Server) SyncInterval() time.Duration { return s.cfg.SyncInterval }

// Domain is the server's JetStream domain.
func (s *Server) Domain() string { return s.cfg.Domain }

// ConnectInProcess opens a client connection in-process (a net.Pipe into
// the server, no sockets), whether or not there is a listener: for the
// clients of the process that runs the server, which save the loopback
// TCP's system calls on every message. The connection reconnects only to
// this server, so it suits a server that lives as long as the process
// (a test that restarts the server uses Connect).
func (s *Server) ConnectInProcess(opts ...nats.Option) (*nats.Conn, error) {
	return s.connect(true, opts)
}

// Connect opens a client connection: through the listener when there is
// one, else in-process. It reconnects forever by default; opts are applied
// after those defaults.
func (s *Server) Connect(opts ...nats.Option) (*nats.Conn, error) {
	return s.connect(s.ClientURL() == "", opts)
}

func (s *Server) connect(inProcess bool, opts []nats.Option) (*nats.Conn, error) {
	all := []nats.Option{
		nats.Name("godwit"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
	}
	url := s.ClientURL()
	if inProcess {
		url = nats.DefaultURL // unused: the in-process connection wins
		all = append(all, nats.InProcessServer(s.ns))
	}
	nc, err := nats.Connect(url, append(all, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("embedded: connect: %w", err)
	}
	return nc, nil
}

// Shutdown stops the server and waits until it has stopped: client
// connections are closed and JetStream's files are flushed and closed.
// Idempotent.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// NATS is the underlying nats-server (tests, monitoring).
func (s *Server) NATS() *server.Server { return s.ns }

// logger adapts hclog to nats-server's Logger.
type logger struct{ l hclog.Logger }

func (l *logger) Noticef(format string, v ...any) { l.l.Info(fmt.Sprintf(format, v...)) }
func (l *logger) Warnf(format string, v ...any)   { l.l.Warn(fmt.Sprintf(format, v...)) }

// Fatalf logs at error level. NB: nats-server's own logger exits the
// process here; embedded, the failure surfaces through Start instead.
func (l *logger) Fatalf(format string, v ...any) { l.l.Error(fmt.Sprintf(format, v...)) }
func (l *logger) Errorf(format string, v ...any) { l.l.Error(fmt.Sprintf(format, v...)) }
func (l *logger) Debugf(format string, v ...any) { l.l.Debug(fmt.Sprintf(format, v...)) }
func (l *logger) Tracef(format string, v ...any) { l.l.Trace(fmt.Sprintf(format, v...)) }
