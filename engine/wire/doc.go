// Package wire serves AWS's JSON 1.0 protocol over HTTP: one POST / endpoint
// where X-Amz-Target selects "<prefix>.<Operation>", with DynamoDB's error
// envelope, x-amzn-RequestId, x-amz-crc32, gzip request bodies and SigV4
// access-key parsing. Operations of several target prefixes
// (DynamoDB_20120810, DynamoDBStreams_20120810) share one listener.
//
//	srv := wire.NewServer(wire.Config{Logger: log, Registerer: reg, Gatherer: reg})
//	srv.Register("DynamoDB_20120810", map[string]wire.Op{"PutItem": db.PutItemOp, ...})
//	http.ListenAndServe(":8000", srv)
//
// An Op decodes its body with Decode, which turns malformed JSON and members
// of the wrong JSON type into SerializationException as AWS words it, and
// returns either a result (a RawJSON, or any value encoding/json can encode)
// or an error (an *apierr.Error is sent as that exception, anything else as
// InternalServerError).
//
// Besides POST /, the server answers GET / and HEAD / with a health line
// ("healthy: godwit", like AWS's own endpoint) and GET /metrics with the
// configured prometheus.Gatherer.
//
// Authentication: the Authorization header is parsed as SigV4 and its access
// key id is put on the request's context (AccessKeyID). Signatures are not
// verified unless Config.Authenticator is set, and a request without an
// Authorization header is accepted (DynamoDB Local behaviour). The checks
// that precede an operation run in AWS's order: malformed JSON
// (SerializationException), then the target (UnknownOperationException),
// then authentication; Config.Authenticator is the seam where SigV4
// verification plugs in.
package wire
