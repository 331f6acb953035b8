package wire

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultMaxBodyBytes is DynamoDB's request size limit, 16 MiB.
const DefaultMaxBodyBytes = 16 << 20

// Config configures a Server. The zero value of each field means its default.
type Config struct {
	// Logger receives internal errors (with the request id) and recovered
	// panics (with their stack). NewServer names it "wire". Default a null
	// logger.
	Logger hclog.Logger
	// Registerer receives the request metrics (godwit_requests_total,
	// godwit_request_duration_seconds, godwit_requests_in_flight). Default
	// none: the metrics are kept but not exported.
	Registerer prometheus.Registerer
	// Gatherer is served on GET /metrics. Default none: /metrics answers 404.
	Gatherer prometheus.Gatherer
	// MaxBodyBytes bounds a request body, both as sent and after gzip
	// decompression; a larger body is answered with 413. Default 16 MiB.
	MaxBodyBytes int64
	// Authenticator verifies each request's credentials. Default nil: every
	// request is accepted, with or without an Authorization header, and the
	// access key id is taken from the header when it parses (DynamoDB Local
	// behaviour).
	Authenticator Authenticator
}

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig() Config {
	return Config{
		Logger:       hclog.NewNullLogger(),
		MaxBodyBytes: DefaultMaxBodyBytes,
	}
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	if c.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("wire: MaxBodyBytes %d is negative", c.MaxBodyBytes))
	}
	return errors.Join(errs...)
}

// withDefaults returns a copy of c with zero (or invalid) fields defaulted;
// the caller's Config is never mutated.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = d.MaxBodyBytes
	}
	return c
}

// Authenticator decides whether a request's caller may proceed. It is the
// seam for SigV4 verification and per-key policies.
//
// The server calls Authenticate after the body has been read, found to be
// JSON and its X-Amz-Target resolved to a registered operation, and before the
// operation runs: the order AWS checks in. Implementations are called
// concurrently and must not retain r, sig or payload after returning.
type Authenticator interface {
	// Authenticate checks one request. sig is the parsed Authorization header,
	// nil when the request has none. sigErr is the error ParseSignature gave
	// for a header that is present but malformed (sig then holds what could
	// be parsed); an Authenticator that verifies signatures returns it.
	// payload is the body as sent (before gzip decompression), the bytes a
	// SigV4 payload hash covers.
	//
	// A nil result admits the request with sig.AccessKeyID (or "" when sig
	// is nil) on its context. An *apierr.Error (MissingAuthenticationToken,
	// IncompleteSignature, ...) is sent to the client as is; any other error
	// as InternalServerError.
	Authenticate(r *http.Request, sig *Signature, sigErr error, payload []byte) error
}
