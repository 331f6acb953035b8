package sinks

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/godwit-db/godwit/engine"
)

// Target is where a consumer delivers its batches: a Lambda function run
// through the Runtime API, an HTTP endpoint, a webhook, a NATS subject, an
// audit log. Each target is a small package implementing this one
// interface; batching, filtering, retries, bisection, checkpoints, the
// on-failure destination and metrics live once in the runtime.
//
// The runtime calls Deliver from one goroutine per (shard, parallel slot)
// and never calls it again for a batch's records before it returned, so a
// target sees each item key's records in order. A target must be safe for
// concurrent Deliver calls (ParallelizationFactor > 1). Deliver returns
// only once the batch is as durable as the target can make it (the
// runtime checkpoints after it, like a changefeed sink's Flush).
type Target interface {
	// Deliver hands one batch to the target.
	//
	//   - nil error, empty Result.BatchItemFailures: every record succeeded.
	//   - nil error, BatchItemFailures set: the function reported partial
	//     failure (ReportBatchItemFailures); each entry is a record's
	//     SequenceNumber, "" meaning the whole batch failed. The runtime
	//     ignores the list unless the consumer enabled
	//     ReportBatchItemFailures.
	//   - an error wrapping ErrTransient: the target could not be reached or
	//     throttled (connection refused, 429, 5xx from a proxy, a handler
	//     process that is restarting). Retried with backoff; it does not use
	//     up MaximumRetryAttempts.
	//   - any other error: a function error (the handler ran and failed).
	//     It counts against MaximumRetryAttempts and may bisect the batch.
	Deliver(ctx context.Context, b *Batch) (Result, error)
	// Close releases the target (stops a child process, flushes a file).
	Close() error
}

// ErrTransient marks a delivery failure that is not the function's fault.
var ErrTransient = errors.New("sinks: transient delivery failure")

// Batch is one invocation's worth of records, all from one shard, in
// sequence order.
type Batch struct {
	// Consumer is the consumer's name; Table the table it reads.
	Consumer, Table string
	// StreamARN is the table stream's ARN (every record's eventSourceARN).
	StreamARN string
	// ShardID is the shard the records come from.
	ShardID string
	// Records are the batch's records in sequence order.
	Records []Record
	// Window is set for consumers with TumblingWindowInSeconds.
	Window *Window
}

// Record is one stream record as the Lambda event carries it.
type Record struct {
	// SequenceNumber is the record's DynamoDB Streams sequence number.
	SequenceNumber string
	// Event is the record's JSON exactly as Lambda sends it inside
	// {"Records":[...]}: the GetRecords record plus eventSourceARN
	// (reference §6.2).
	Event json.RawMessage
	// Change is the committed change (full images, version, origin,
	// AccessKeyID of the writer where known).
	Change *engine.Change
	// Arrival is when the record was written (ApproximateCreationDateTime
	// at full precision).
	Arrival time.Time
}

// Window is the tumbling-window part of an event (reference §6.2).
type Window struct {
	Start, End time.Time
	// State is the state returned by the previous invocation of the
	// window ({} at the start of a window).
	State json.RawMessage
	// IsFinalInvokeForWindow and IsWindowTerminatedEarly as Lambda names them.
	IsFinalInvokeForWindow, IsWindowTerminatedEarly bool
}

// Result is a successful Deliver's answer.
type Result struct {
	// BatchItemFailures are the itemIdentifiers the function reported as
	// failed; see Target.Deliver.
	BatchItemFailures []string
	// State is the tumbling-window state the function returned; nil if none.
	State json.RawMessage
}
