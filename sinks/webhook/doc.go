// Package webhook is the sink target that POSTs each batch's Lambda event
// (sinks.Batch.Event) to a URL, signed so the receiver can tell it comes
// from godwit and is fresh.
//
//	t, err := webhook.New(webhook.Config{URL: "https://example.com/hooks/orders", Secret: "s3cret"})
//
// Every request carries
//
//	Content-Type:       application/json
//	X-Godwit-Timestamp: <unix seconds when the request was signed>
//	X-Godwit-Signature: sha256=<lowercase hex HMAC-SHA256(secret, "<timestamp>.<body>")>
//	X-Godwit-Delivery:  <shardId>/<first sequence number>-<last sequence number>
//
// plus Config.Headers. X-Godwit-Delivery is the same for every retry of a
// batch, so a receiver can deduplicate. A retry is signed again with a new
// timestamp. A receiver verifies with Verify (see docs/sinks-targets.md):
// recompute the HMAC over the raw body, compare in constant time, and
// refuse a timestamp older than a few minutes (5 is usual) to limit
// replays.
//
// Answers: 2xx is success; its body, if it is a JSON object with
// batchItemFailures, is honoured (sinks.ParseResponse), any other body is
// plain success. 429, any 5xx, a connection error, a timeout or the
// caller's ctx ending are sinks.ErrTransient (the runtime retries with
// backoff: a webhook receiver that is down or overloaded is not the
// batch's fault). Any other status (3xx not followed, 4xx) is a function
// error (ErrStatus) with the body's first bytes.
package webhook
