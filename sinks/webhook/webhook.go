package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	nethttp "net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/godwit-db/godwit/sinks"
	sinkshttp "github.com/godwit-db/godwit/sinks/http"
)

// Header names.
const (
	HeaderSignature = "X-Godwit-Signature"
	HeaderTimestamp = "X-Godwit-Timestamp"
	HeaderDelivery  = "X-Godwit-Delivery"
)

// Errors.
var (
	// ErrStatus: the receiver refused the batch (a function error).
	ErrStatus = errors.New("webhook: receiver refused the batch")
	// ErrSignature: Verify found no valid signature.
	ErrSignature = errors.New("webhook: bad signature")
	// ErrTimestamp: Verify found the timestamp missing, malformed or
	// outside the tolerance.
	ErrTimestamp = errors.New("webhook: bad timestamp")
)

// Config configures a Target.
type Config struct {
	// URL is the receiver, http or https. Required.
	URL string
	// Secret is the HMAC key. Exactly one of Secret and SecretEnv is
	// required (the command resolves SecretEnv to Secret: only cmd/godwit
	// reads the environment).
	Secret string
	// Headers are added to every request. They may not set Content-Type or
	// an X-Godwit- header.
	Headers map[string]string
	// Timeout bounds one request. Default 30s.
	Timeout time.Duration
	// MaxResponseBytes bounds the answer's body. Default 1 MiB.
	MaxResponseBytes int64
	// Client sends the requests. Default a client of its own.
	Client *nethttp.Client
	// Now is the clock that stamps requests. Default time.Now.
	Now func() time.Time
	// Logger receives the target's logs. Default a null logger.
	Logger hclog.Logger
}

// DefaultConfig returns a Config with every default filled in but URL and Secret.
func DefaultConfig() Config {
	return Config{Timeout: 30 * time.Second, MaxResponseBytes: 1 << 20}
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
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	return c
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	if err := sinkshttp.ValidateURL(c.URL); err != nil {
		errs = append(errs, fmt.Errorf("webhook: URL: %w", err))
	}
	if c.Secret == "" {
		errs = append(errs, errors.New("webhook: Secret is required"))
	}
	if err := sinkshttp.ValidateHeaders(c.Headers); err != nil {
		errs = append(errs, fmt.Errorf("webhook: Headers: %w", err))
	}
	for k := range c.Headers {
		if strings.HasPrefix(strings.ToLower(k), "x-godwit-") {
			errs = append(errs, fmt.Errorf("webhook: Headers: %q is set by the target", k))
		}
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("webhook: Timeout %s is negative", c.Timeout))
	}
	if c.MaxResponseBytes < 0 {
		errs = append(errs, fmt.Errorf("webhook: MaxResponseBytes %d is negative", c.MaxResponseBytes))
	}
	return errors.Join(errs...)
}

// Target POSTs signed events to a URL. Safe for concurrent use.
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
	return &Target{cfg: cfg, log: cfg.Logger.Named("webhook").With("url", cfg.URL)}, nil
}

// Sign returns the X-Godwit-Signature value for body sent at ts (unix seconds).
func Sign(secret string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(strconv.AppendInt(nil, ts, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a request as a receiver gets it: signature is the
// X-Godwit-Signature header, ts the X-Godwit-Timestamp header, body the raw
// request body. It returns ErrTimestamp unless ts is within tolerance of
// now (either side: clocks drift), and ErrSignature unless the signature
// is the HMAC of "<ts>.<body>" under secret (compared in constant time).
// tolerance <= 0 means 5 minutes.
func Verify(secret, signature, ts string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = 5 * time.Minute
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q is not unix seconds", ErrTimestamp, ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: %s away from now, tolerance %s", ErrTimestamp, d.Round(time.Second), tolerance)
	}
	hexSig, ok := strings.CutPrefix(signature, "sha256=")
	if !ok {
		return fmt.Errorf("%w: no sha256= prefix", ErrSignature)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return fmt.Errorf("%w: not hex", ErrSignature)
	}
	want, _ := hex.DecodeString(strings.TrimPrefix(Sign(secret, sec, body), "sha256="))
	if !hmac.Equal(got, want) {
		return ErrSignature
	}
	return nil
}

// Deliver POSTs b.Event() signed, and classifies the answer (see the package doc).
func (t *Target) Deliver(ctx context.Context, b *sinks.Batch) (sinks.Result, error) {
	ev, err := b.Event()
	if err != nil {
		return sinks.Result{}, fmt.Errorf("webhook: encode event: %w", err)
	}
	ts := t.cfg.Now().Unix()
	hdr := make(map[string]string, len(t.cfg.Headers)+3)
	for k, v := range t.cfg.Headers {
		hdr[k] = v
	}
	hdr[HeaderTimestamp] = strconv.FormatInt(ts, 10)
	hdr[HeaderSignature] = Sign(t.cfg.Secret, ts, ev)
	if n := len(b.Records); n > 0 {
		hdr[HeaderDelivery] = b.ShardID + "/" + b.Records[0].SequenceNumber + "-" + b.Records[n-1].SequenceNumber
	}
	status, _, body, err := sinkshttp.Post(ctx, t.cfg.Client, t.cfg.URL, hdr, ev, t.cfg.Timeout, t.cfg.MaxResponseBytes)
	switch {
	case errors.Is(err, sinkshttp.ErrTimeout):
		return sinks.Result{}, fmt.Errorf("%w: webhook: %w", sinks.ErrTransient, err)
	case errors.Is(err, sinkshttp.ErrResponseTooLarge):
		// NB: the receiver took the batch; its answer is just long.
		t.log.Warn("answer too large; taken as success", "error", err)
		return sinks.Result{}, nil
	case err != nil:
		return sinks.Result{}, err
	case status == nethttp.StatusTooManyRequests, status/100 == 5:
		return sinks.Result{}, fmt.Errorf("%w: webhook: %s: %d %s", sinks.ErrTransient, t.cfg.URL, status, sinkshttp.Excerpt(body))
	case status/100 != 2:
		return sinks.Result{}, fmt.Errorf("%w: %d %s", ErrStatus, status, sinkshttp.Excerpt(body))
	}
	return sinks.ParseResponse(body), nil
}

// Close releases idle connections.
func (t *Target) Close() error {
	t.cfg.Client.CloseIdleConnections()
	return nil
}
