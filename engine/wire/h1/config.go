package h1

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Config configures a Server. The zero value of each field means its
// default.
type Config struct {
	// Lean serves the requests it accepts without net/http's types. Default
	// none: every request goes to Handler.
	Lean LeanHandler
	// Handler serves every request Lean does not take. Default
	// http.NotFoundHandler().
	Handler http.Handler
	// Logger receives connection-level problems (a panicking handler, an
	// accept error) at debug/warn level. Default a null logger.
	Logger hclog.Logger
	// MaxHeaderBytes bounds the request line plus header fields; a larger
	// header block is answered with 431. Default 1 MiB (net/http's).
	MaxHeaderBytes int
	// ReadHeaderTimeout bounds reading a request's header block, from its
	// first byte. Default 30s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included, from its
	// first byte. Default 5m; negative means none.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing each answer. Default 5m; negative means
	// none.
	WriteTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a keep-alive
	// connection (and for the first one). Default 5m.
	IdleTimeout time.Duration
	// BaseContext is the parent of every connection's context. Default
	// context.Background().
	BaseContext context.Context
}

// LeanHandler serves requests without net/http's per-request objects.
//
// Accept is called once a request's header block is parsed, before any of
// its body is read: true means ServeLean answers it, false hands it to
// Config.Handler. ServeLean must answer with exactly one
// ResponseWriter.Send (a handler that sends nothing gets a 500). Both are
// called concurrently, one request at a time per connection, and must not
// keep r, w or the slices r returns after returning.
type LeanHandler interface {
	Accept(r *Request) bool
	ServeLean(w *ResponseWriter, r *Request)
}

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig() Config {
	return Config{
		Handler:           http.NotFoundHandler(),
		Logger:            hclog.NewNullLogger(),
		MaxHeaderBytes:    1 << 20,
		ReadHeaderTimeout: 30 * time.Second,
		ReadTimeout:       5 * time.Minute,
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       5 * time.Minute,
		BaseContext:       context.Background(),
	}
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	if c.MaxHeaderBytes < 0 {
		errs = append(errs, fmt.Errorf("h1: MaxHeaderBytes %d is negative", c.MaxHeaderBytes))
	}
	if c.ReadHeaderTimeout < 0 {
		errs = append(errs, fmt.Errorf("h1: ReadHeaderTimeout %s is negative", c.ReadHeaderTimeout))
	}
	if c.IdleTimeout < 0 {
		errs = append(errs, fmt.Errorf("h1: IdleTimeout %s is negative", c.IdleTimeout))
	}
	return errors.Join(errs...)
}

// withDefaults returns a copy of c with zero (or invalid) fields defaulted.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Handler == nil {
		c.Handler = d.Handler
	}
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = d.ReadHeaderTimeout
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = d.ReadTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = d.IdleTimeout
	}
	if c.BaseContext == nil {
		c.BaseContext = d.BaseContext
	}
	return c
}
