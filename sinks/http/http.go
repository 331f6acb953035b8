package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	nethttp "net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/godwit-db/godwit/sinks"
)

// Errors Deliver wraps (function errors; transient ones wrap sinks.ErrTransient).
var (
	// ErrStatus: the endpoint answered a status that is a function error.
	ErrStatus = errors.New("http: endpoint answered an error status")
	// ErrFunction: the endpoint answered 2xx but reported a function error.
	ErrFunction = errors.New("http: function error")
	// ErrTimeout: no answer within Config.Timeout.
	ErrTimeout = errors.New("http: function timed out")
	// ErrResponseTooLarge: the answer is over Config.MaxResponseBytes.
	ErrResponseTooLarge = errors.New("http: response too large")
)

// Config configures a Target.
type Config struct {
	// URL is the endpoint, http or https. Required.
	URL string
	// Headers are added to every request (e.g. Authorization). Content-Type
	// is always application/json.
	Headers map[string]string
	// Timeout bounds one request, answer included. Default 30s.
	Timeout time.Duration
	// MaxResponseBytes bounds the answer's body. Default 6 MiB (Lambda's
	// synchronous response limit).
	MaxResponseBytes int64
	// Client sends the requests. Default a client of its own (no global
	// state), following redirects like net/http's default.
	Client *nethttp.Client
	// Logger receives the target's logs. Default a null logger.
	Logger hclog.Logger
}

// DefaultConfig returns a Config with every default filled in but URL.
func DefaultConfig() Config {
	return Config{Timeout: 30 * time.Second, MaxResponseBytes: 6 << 20}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = d.MaxResponseBytes
	}
	if c.Client == nil {
		c.Client = &nethttp.Client{Transport: nethttp.DefaultTransport.(*nethttp.Transport).Clone()}
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	return c
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	if err := ValidateURL(c.URL); err != nil {
		errs = append(errs, fmt.Errorf("http: URL: %w", err))
	}
	if err := ValidateHeaders(c.Headers); err != nil {
		errs = append(errs, fmt.Errorf("http: Headers: %w", err))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("http: Timeout %s is negative", c.Timeout))
	}
	if c.MaxResponseBytes < 0 {
		errs = append(errs, fmt.Errorf("http: MaxResponseBytes %d is negative", c.MaxResponseBytes))
	}
	return errors.Join(errs...)
}

// ValidateURL checks that u is an absolute http or https URL (shared with
// the webhook target).
func ValidateURL(u string) error {
	if u == "" {
		return errors.New("required")
	}
	p, err := url.Parse(u)
	if err != nil {
		return err
	}
	if p.Scheme != "http" && p.Scheme != "https" {
		return fmt.Errorf("%q: scheme must be http or https", u)
	}
	if p.Host == "" {
		return fmt.Errorf("%q: no host", u)
	}
	return nil
}

// ValidateHeaders checks header names and values (shared with the webhook
// target). Content-Type may not be set.
func ValidateHeaders(h map[string]string) error {
	var errs []error
	for k, v := range h {
		if k == "" || strings.ContainsAny(k, " \t\r\n:") {
			errs = append(errs, fmt.Errorf("%q is not a header name", k))
		}
		if strings.ContainsAny(v, "\r\n") {
			errs = append(errs, fmt.Errorf("header %q: value has a line break", k))
		}
		if strings.EqualFold(k, "Content-Type") {
			errs = append(errs, errors.New("Content-Type is always application/json"))
		}
	}
	return errors.Join(errs...)
}

// Target POSTs events to a URL. Safe for concurrent use.
type Target struct {
	cfg Config
	log hclog.Logger
}

var _ sinks.Target = (*Target)(nil)

// New returns a Target. The caller's Config is not modified.
func New(cfg Config) (*Target, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Target{cfg: cfg, log: cfg.Logger.Named("http").With("url", cfg.URL)}, nil
}

// Deliver POSTs b.Event() and classifies the answer (see the package doc).
func (t *Target) Deliver(ctx context.Context, b *sinks.Batch) (sinks.Result, error) {
	ev, err := b.Event()
	if err != nil {
		return sinks.Result{}, fmt.Errorf("http: encode event: %w", err)
	}
	status, hdr, body, err := Post(ctx, t.cfg.Client, t.cfg.URL, t.cfg.Headers, ev, t.cfg.Timeout, t.cfg.MaxResponseBytes)
	switch {
	case err != nil: // transient, or a timeout or an oversized answer (function errors)
		return sinks.Result{}, err
	case status == nethttp.StatusTooManyRequests, status == nethttp.StatusBadGateway,
		status == nethttp.StatusServiceUnavailable, status == nethttp.StatusGatewayTimeout:
		return sinks.Result{}, fmt.Errorf("%w: http: %s: %d %s", sinks.ErrTransient, t.cfg.URL, status, Excerpt(body))
	case status/100 != 2:
		return sinks.Result{}, fmt.Errorf("%w: %d %s", ErrStatus, status, Excerpt(body))
	}
	if fe := hdr.Get("X-Amz-Function-Error"); fe != "" {
		return sinks.Result{}, fmt.Errorf("%w (%s): %s", ErrFunction, fe, Excerpt(body))
	}
	if typ, msg, ok := ErrorShaped(body); ok {
		return sinks.Result{}, fmt.Errorf("%w: %s: %s", ErrFunction, typ, msg)
	}
	return sinks.ParseResponse(body), nil
}

// Close releases idle connections.
func (t *Target) Close() error {
	t.cfg.Client.CloseIdleConnections()
	return nil
}

// Post sends body to u with headers and returns the answer. A connection
// error or the end of ctx wraps sinks.ErrTransient; timeout passing wraps
// ErrTimeout (the caller decides what a timeout is); a body over max wraps
// ErrResponseTooLarge. Shared with the webhook target.
func Post(ctx context.Context, c *nethttp.Client, u string, headers map[string]string, body []byte,
	timeout time.Duration, max int64) (int, nethttp.Header, []byte, error) {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := nethttp.NewRequestWithContext(rctx, nethttp.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%w: http: new request: %w", sinks.ErrTransient, err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err == nil {
		defer resp.Body.Close()
		var data []byte
		data, err = io.ReadAll(io.LimitReader(resp.Body, max+1))
		if err == nil {
			if int64(len(data)) > max {
				return resp.StatusCode, resp.Header, nil, fmt.Errorf("%w: over %d bytes", ErrResponseTooLarge, max)
			}
			return resp.StatusCode, resp.Header, data, nil
		}
	}
	if ctx.Err() == nil && errors.Is(rctx.Err(), context.DeadlineExceeded) {
		return 0, nil, nil, fmt.Errorf("%w after %s: %w", ErrTimeout, timeout, err)
	}
	return 0, nil, nil, fmt.Errorf("%w: http: post %s: %w", sinks.ErrTransient, u, err)
}

// Excerpt is the start of an error answer's body, for error messages.
func Excerpt(body []byte) string {
	const n = 256
	s := strings.TrimSpace(string(body))
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}

// ErrorShaped reports whether body is a Lambda runtime's error object:
// a JSON object with string errorType and errorMessage members.
func ErrorShaped(body []byte) (typ, msg string, ok bool) {
	var e struct {
		ErrorType    *string `json:"errorType"`
		ErrorMessage *string `json:"errorMessage"`
	}
	if json.Unmarshal(body, &e) != nil || e.ErrorType == nil || e.ErrorMessage == nil {
		return "", "", false
	}
	return *e.ErrorType, *e.ErrorMessage, true
}
