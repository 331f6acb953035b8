package wire

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/godwit-db/godwit/engine/wire/h1"
	"github.com/hashicorp/go-hclog"
)

// Transport names the HTTP/1.1 server that carries the API.
type Transport string

const (
	// TransportLean is engine/wire/h1: the API (POST / without Origin) on
	// its lean path, everything else through net/http's Handler interface.
	// The default.
	TransportLean Transport = "lean"
	// TransportStd is net/http's http.Server.
	TransportStd Transport = "std"
)

// DefaultTransport is the transport of a zero HTTPConfig.
const DefaultTransport = TransportLean

// ParseTransport parses "lean" or "std" ("" is DefaultTransport).
func ParseTransport(s string) (Transport, error) {
	switch t := Transport(s); t {
	case "":
		return DefaultTransport, nil
	case TransportLean, TransportStd:
		return t, nil
	}
	return "", fmt.Errorf("wire: unknown HTTP server %q (want lean or std)", s)
}

// HTTPServer serves on listeners: an *http.Server or an *h1.Server. Serve
// returns http.ErrServerClosed after Shutdown or Close; Shutdown stops
// accepting, closes idle connections and waits for in-flight requests (or
// ctx); Close cuts every connection.
type HTTPServer interface {
	Serve(ln net.Listener) error
	Shutdown(ctx context.Context) error
	Close() error
}

var (
	_ HTTPServer = (*http.Server)(nil)
	_ HTTPServer = (*h1.Server)(nil)
)

// HTTPConfig configures NewHTTPServer. The zero value of each field means
// its default.
type HTTPConfig struct {
	// Transport picks the server. Default DefaultTransport.
	Transport Transport
	// Handler serves every request: the Server itself, or a mux in front of
	// it (pprof, admin endpoints). With TransportLean, POST / requests
	// without Origin bypass it and go to the Server directly, so a Handler
	// must route POST / to the Server unchanged. Default the Server.
	Handler http.Handler
	// ReadHeaderTimeout bounds reading a request's header block. Default
	// 30s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a keep-alive
	// connection. Default 5m.
	IdleTimeout time.Duration
	// Logger receives the HTTP server's own errors, named "http". Default
	// the Server's logger.
	Logger hclog.Logger
}

// NewHTTPServer returns the HTTP server of cfg.Transport serving s (and
// cfg.Handler), not yet serving: call Serve.
func (s *Server) NewHTTPServer(cfg HTTPConfig) (HTTPServer, error) {
	t, err := ParseTransport(string(cfg.Transport))
	if err != nil {
		return nil, err
	}
	if cfg.Handler == nil {
		cfg.Handler = s
	}
	if cfg.ReadHeaderTimeout <= 0 {
		cfg.ReadHeaderTimeout = 30 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 5 * time.Minute
	}
	log := cfg.Logger
	if log == nil {
		log = s.cfg.Logger
	}
	log = log.Named("http")
	if t == TransportStd {
		return &http.Server{
			Handler:           cfg.Handler,
			ReadHeaderTimeout: cfg.ReadHeaderTimeout,
			IdleTimeout:       cfg.IdleTimeout,
			ErrorLog:          log.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
		}, nil
	}
	return h1.NewServer(h1.Config{
		Lean:              leanHandler{s},
		Handler:           cfg.Handler,
		Logger:            log,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
	}), nil
}
