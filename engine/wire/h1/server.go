package h1

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Server serves HTTP/1.1 on listeners. Create it with NewServer.
type Server struct {
	cfg    Config
	log    hclog.Logger
	ctx    context.Context // parent of every connection's context
	cancel context.CancelFunc

	shutting atomic.Bool // Shutdown or Close was called

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	drained   chan struct{} // closed when shutting and no connection is left
	drainOnce sync.Once
}

// NewServer returns a Server for cfg. Zero or invalid fields of cfg take
// their defaults (see Config); cfg is not modified.
func NewServer(cfg Config) *Server {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(cfg.BaseContext)
	return &Server{
		cfg:       cfg,
		log:       cfg.Logger.Named("h1"),
		ctx:       ctx,
		cancel:    cancel,
		listeners: map[net.Listener]struct{}{},
		conns:     map[*conn]struct{}{},
		drained:   make(chan struct{}),
	}
}

// Serve accepts connections on ln and serves each on its own goroutine
// until Shutdown or Close, when it returns http.ErrServerClosed; another
// accept error is returned as is. ln is closed on return.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.shutting.Load() {
		s.mu.Unlock()
		_ = ln.Close()
		return http.ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		_ = ln.Close()
	}()

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.shutting.Load() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// NB: as net/http, back off on EMFILE and the like rather
				// than spin or give up.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "error", err, "delay", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		c := s.newConn(nc)
		if c == nil {
			continue
		}
		go c.serve()
	}
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// newConn registers a connection, or closes it and returns nil when the
// server is shutting down.
func (s *Server) newConn(nc net.Conn) *conn {
	c := &conn{srv: s, nc: nc}
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	c.req.c = c
	c.rw.c = c
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutting.Load() {
		_ = nc.Close()
		c.cancel()
		return nil
	}
	s.conns[c] = struct{}{}
	return c
}

// removeConn forgets a finished connection.
func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	left := len(s.conns)
	s.mu.Unlock()
	if left == 0 && s.shutting.Load() {
		s.drainOnce.Do(func() { close(s.drained) })
	}
}

// Shutdown stops the server gracefully, as http.Server's: it closes the
// listeners and the idle connections, lets each busy connection finish its
// request (its answer says "Connection: close"), and returns once no
// connection is left, or with ctx's error when ctx ends first (the
// remaining connections are then left to finish; call Close to cut them).
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutting.Store(true)
	s.mu.Lock()
	for ln := range s.listeners {
		_ = ln.Close()
	}
	// NB: a connection marks itself idle before it checks shutting, and we
	// set shutting before we look: one of the two always sees the other.
	for c := range s.conns {
		if c.state.CompareAndSwap(stateIdle, stateClosed) {
			_ = c.nc.Close()
		}
	}
	if len(s.conns) == 0 {
		s.drainOnce.Do(func() { close(s.drained) })
	}
	s.mu.Unlock()
	select {
	case <-s.drained:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close closes the listeners and every connection at once, and cancels
// every connection's context.
func (s *Server) Close() error {
	s.shutting.Store(true)
	s.mu.Lock()
	for ln := range s.listeners {
		_ = ln.Close()
	}
	for c := range s.conns {
		c.state.Store(stateClosed)
		_ = c.nc.Close()
	}
	if len(s.conns) == 0 {
		s.drainOnce.Do(func() { close(s.drained) })
	}
	s.mu.Unlock()
	s.cancel()
	return nil
}
