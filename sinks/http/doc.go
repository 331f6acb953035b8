// Package http is the sink target that POSTs each batch's Lambda event
// (sinks.Batch.Event) to a URL: a Lambda Runtime Interface Emulator's
// /2015-03-31/functions/function/invocations, or any service that answers
// like a function. Importers alias it (sinkshttp).
//
//	t, err := sinkshttp.New(sinkshttp.Config{URL: "http://127.0.0.1:9000/2015-03-31/functions/function/invocations"})
//	res, err := t.Deliver(ctx, batch)
//
// The request has Content-Type application/json and Config.Headers. The
// answer is classified so:
//
//   - 2xx: the body is the function's response (sinks.ParseResponse:
//     batchItemFailures, tumbling-window state) — unless it reports a
//     function error: an X-Amz-Function-Error header (Lambda's Invoke API)
//     or a JSON object body with string errorType and errorMessage members
//     (what every Lambda runtime, and the emulator, send for an error).
//     Then Deliver returns a function error (ErrFunction).
//   - 429, 502, 503, 504, a connection error, or the caller's ctx ending:
//     sinks.ErrTransient (retried with backoff, no retry attempt used).
//   - any other status (3xx not followed, 4xx, 500, 501, 505...): a
//     function error (ErrStatus) carrying the status and the first bytes
//     of the body.
//   - Config.Timeout passing before the answer: a function error
//     (ErrTimeout), as Lambda counts a function timeout.
//   - a response body over MaxResponseBytes: a function error.
package http
