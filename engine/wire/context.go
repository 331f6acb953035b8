package wire

import (
	"context"
	"math/rand/v2"
)

// requestIDLen is the length of an x-amzn-RequestId, as AWS makes them.
const requestIDLen = 52

// requestIDAlphabet is the alphabet of AWS request ids: uppercase and digits.
const requestIDAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// newRequestID fills id with a random AWS-style request id. It needs no
// cryptographic strength: ids only correlate logs and responses.
func newRequestID(id *[requestIDLen]byte) {
	for i := 0; i < requestIDLen; {
		r := rand.Uint64()
		for j := 0; j < 8 && i < requestIDLen; j++ {
			// NB: the modulo bias (256 % 36 != 0) is harmless for an id.
			id[i] = requestIDAlphabet[byte(r)%byte(len(requestIDAlphabet))]
			r >>= 8
			i++
		}
	}
}

// reqCtx is a request's context: the parent plus what the wire layer knows
// about the request. It is one allocation where context.WithValue and a
// separate struct would be two.
type reqCtx struct {
	context.Context
	id          [requestIDLen]byte
	accessKeyID string
}

// reqCtxKey is the Value key under which a reqCtx finds itself.
type reqCtxKey struct{}

func (c *reqCtx) Value(key any) any {
	if _, ok := key.(reqCtxKey); ok {
		return c
	}
	return c.Context.Value(key)
}

func requestInfo(ctx context.Context) *reqCtx {
	if ctx == nil {
		return nil
	}
	c, _ := ctx.Value(reqCtxKey{}).(*reqCtx)
	return c
}

// AccessKeyID returns the SigV4 access key id of the request ctx belongs to,
// or "" when the request carried no parsable Authorization header or ctx is
// not a request's context.
func AccessKeyID(ctx context.Context) string {
	if c := requestInfo(ctx); c != nil {
		return c.accessKeyID
	}
	return ""
}

// RequestID returns the x-amzn-RequestId of the request ctx belongs to, or ""
// when ctx is not a request's context.
func RequestID(ctx context.Context) string {
	if c := requestInfo(ctx); c != nil {
		return string(c.id[:])
	}
	return ""
}
