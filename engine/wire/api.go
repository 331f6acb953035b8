// Package wire serves AWS's JSON 1.0 protocol over HTTP: one POST / endpoint
// where X-Amz-Target selects "<prefix>.<Operation>", with DynamoDB's error
// envelope, x-amzn-RequestId, x-amz-crc32, gzip request bodies and SigV4
// access-key parsing. Operations of several target prefixes
// (DynamoDB_20120810, DynamoDBStreams_20120810) share one listener.
//
//	srv := wire.NewServer(wire.Config{Logger: log, Registerer: reg})
//	srv.Register("DynamoDB_20120810", map[string]wire.Op{"PutItem": db.PutItemOp, ...})
//	http.ListenAndServe(":8000", srv)
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
