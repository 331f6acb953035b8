package wire

import "context"

// Op runs one operation. body is the (decompressed) JSON request body. The
// result is marshalled as the response body: a RawJSON is sent as is, any
// other value through encoding/json. An error that is (or wraps) an
// *apierr.Error is sent as that exception; any other error as
// InternalServerError (and logged).
type Op func(ctx context.Context, body []byte) (any, error)

// RawJSON is a response body an Op has already encoded.
type RawJSON []byte
