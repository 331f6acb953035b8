// Package wire serves AWS's JSON 1.0 protocol over HTTP: one POST / endpoint
// where X-Amz-Target selects "<prefix>.<Operation>", with DynamoDB's error
// envelope, x-amzn-RequestId, x-amz-crc32, gzip request bodies and SigV4
// access-key parsing. Operations of several target prefixes
// (DynamoDB_20120810, DynamoDBStreams_20120810) share one listener.
//
//	srv := wire.NewServer(wire.Config{Logger: log, Registerer: reg, Gatherer: reg})
//	srv.Register("DynamoDB_20120810", map[string]wire.Op{"PutItem": db.PutItemOp, ...})
//	hs, _ := srv.NewHTTPServer(wire.HTTPConfig{Transport: wire.TransportLean, Handler: mux})
//	hs.Serve(ln)
//
// Transports. A Server is an http.Handler and can be served by any
// net/http server (TransportStd). NewHTTPServer also offers
// TransportLean, the default: the engine/wire/h1 server, which hands POST /
// requests without an Origin header straight to the Server's dispatch with
// a lean request view (target, content type and encoding, authorization,
// request time, body bytes) and writes the answer itself, and serves every
// other request (health, /metrics, pprof, CORS, whatever Handler routes)
// through net/http's Handler interface. Both transports run the same
// dispatch and send the same bytes (TestTransportsAnswerAlike): status
// line, Content-Length, Content-Type, X-Amz-Crc32, X-Amzn-Requestid, Date,
// in net/http's order. Differences: on the lean path a request's context is
// cancelled only when the server closes the connection, not when the client
// goes away mid-request; and while a Config.Authenticator is set the lean
// path takes no request (the Authenticator is given the *http.Request).
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
