// Package harness starts godwit servers for black-box tests: in-process on
// a loopback port (fast, restartable on the same data directory) or as a
// real subprocess (for kill -9 durability tests), and hands out
// aws-sdk-go-v2 clients pointed at them. FreeAddr and Eventually are the
// free-port finder and the poll-with-a-deadline those tests (and region's)
// share.
package harness

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/godwit-db/godwit/engine"
	"github.com/godwit-db/godwit/engine/wire"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
)

// Server is a godwit server running inside the test process.
type Server struct {
	URL string
	Dir string
	DB  *engine.DB

	cfg  engine.Config
	http wire.HTTPServer
	ln   net.Listener

	mu         sync.Mutex
	transports []*http.Transport
}

// Option adjusts the engine configuration of a Server.
type Option func(*engine.Config)

// WithConfig lets a test change any engine setting (clock, partitions, ...).
func WithConfig(f func(*engine.Config)) Option { return Option(f) }

// Start runs a server on 127.0.0.1 with a fresh temporary data directory;
// it is stopped when the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	cfg := engine.Config{
		Dir:               t.TempDir(),
		DefaultPartitions: 4,
		TTLSweepInterval:  -1,
		Logger: hclog.New(&hclog.LoggerOptions{
			Name: "godwit", Level: hclog.Warn, Output: testWriter{t},
		}),
	}
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{Dir: cfg.Dir, cfg: cfg}
	s.start(t)
	t.Cleanup(func() { s.stop(t) })
	return s
}

func (s *Server) start(t testing.TB) {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg := s.cfg
	cfg.Registerer = reg
	db, err := engine.Open(cfg)
	if err != nil {
		t.Fatalf("open engine: %v", err)
	}
	srv := wire.NewServer(wire.Config{Logger: cfg.Logger, Registerer: reg, Gatherer: reg})
	srv.Register(engine.TargetPrefix, db.Operations())
	addr := "127.0.0.1:0"
	if s.ln != nil {
		addr = s.ln.Addr().String() // restart on the same port
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s.ln = ln
	s.DB = db
	s.URL = "http://" + ln.Addr().String()
	hs, err := srv.NewHTTPServer(wire.HTTPConfig{Transport: HTTPTransport()})
	if err != nil {
		t.Fatalf("http server: %v", err)
	}
	s.http = hs
	go func() { _ = hs.Serve(ln) }()
}

// HTTPTransport is the HTTP server tests run godwit on: GODWIT_TEST_HTTP
// (lean or std) when set, else wire.DefaultTransport. StartProcess passes it
// to `godwit serve --http-server` too, so the e2e suite runs on either.
func HTTPTransport() wire.Transport {
	if v := os.Getenv("GODWIT_TEST_HTTP"); v != "" {
		return wire.Transport(v)
	}
	return wire.DefaultTransport
}

func (s *Server) stop(t testing.TB) {
	if s.DB == nil {
		return
	}
	// NB: close the clients' idle connections first: http.Server.Shutdown
	// waits up to 5 s for a connection a client dialled but never used.
	s.mu.Lock()
	for _, tr := range s.transports {
		tr.CloseIdleConnections()
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.http.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("shutdown http: %v", err)
	}
	if err := s.DB.Close(); err != nil {
		t.Errorf("close engine: %v", err)
	}
	s.DB = nil
}

// Restart closes the server cleanly and opens it again on the same data
// directory and port.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.stop(t)
	s.start(t)
}

// Client returns an aws-sdk-go-v2 DynamoDB client for the server, with
// SDK retries off so tests see every error as the server sent it. Its
// connections are closed when the server stops or restarts.
func (s *Server) Client() *dynamodb.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	s.mu.Lock()
	s.transports = append(s.transports, tr)
	s.mu.Unlock()
	return newClient(s.URL, &http.Client{Transport: tr})
}

// NewClient returns a DynamoDB client for endpoint with dummy credentials
// and SDK retries off.
func NewClient(endpoint string) *dynamodb.Client { return newClient(endpoint, nil) }

func newClient(endpoint string, hc *http.Client) *dynamodb.Client {
	opts := dynamodb.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(endpoint),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		RetryMaxAttempts: 1,
	}
	if hc != nil {
		opts.HTTPClient = hc
	}
	return dynamodb.New(opts)
}

// testWriter sends log output to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
