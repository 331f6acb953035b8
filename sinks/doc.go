// Package sinks is godwit's Lambda-style stream consumer runtime: event
// source mappings (reference §6) that read a table's stream from the local
// region's JetStream and deliver batches to a Target — a Lambda function
// run through the Runtime API, an HTTP endpoint, a webhook, a NATS subject,
// an audit log (each a small package of its own). Batching, filtering,
// retries, bisection, partial batch failures, tumbling windows, the
// on-failure destination, checkpoints and metrics live here, once.
//
//	m := sinks.DefaultMapping()
//	m.Name, m.Table, m.StartingPosition = "ship-notify", "Orders", sinks.TrimHorizon
//	cfg := sinks.DefaultConsumerConfig()
//	cfg.Mapping, cfg.Target, cfg.JetStream, cfg.Region = m, target, js, "us-east-1"
//	c, err := sinks.NewConsumer(cfg)
//	err = c.Start(ctx)
//	defer c.Close()
//
// Runtime owns several consumers and serves their status over HTTP
// (GET /godwit/consumers).
//
// # Reading
//
// A consumer reads the newest stream of its table (waiting, polling every
// DiscoverInterval, while the table has none). Each shard (one per table
// partition) is read by one goroutine in sequence order. When the stream
// is disabled its shards close; each is drained to its end, and once all
// are, the consumer moves to the table's next stream (by label: a stream
// re-enabled, or a table deleted and re-created) from its TRIM_HORIZON:
// the shards of the next stream are the children of the closed ones
// (reference §4.4). StartingPosition applies only to the first start
// without a checkpoint; it is resolved and checkpointed before any record
// is read.
//
// # Batching and parallelism
//
// A shard's records go to ParallelizationFactor slots by a hash of their
// item key, so one key's records always go to one slot, in order. A slot
// delivers one batch at a time: it waits for a first record, then adds
// the records already waiting (MaximumBatchingWindowInSeconds 0) or those
// arriving within the batching window, until BatchSize records or 6 MB of
// event. Records that FilterCriteria does not match are dropped before
// batching and checkpointed past (godwit_sink_filtered_records_total).
//
// # Failures
//
//   - An error wrapping ErrTransient (throttle, unreachable target) is
//     retried with exponential backoff (RetryMin doubling to RetryMax) and
//     never uses up MaximumRetryAttempts.
//   - Any other error is a function error: with BisectBatchOnFunctionError
//     a batch of two or more records is split in halves, each retried in
//     order (splits use no attempts); a batch that cannot be split is
//     retried with backoff until MaximumRetryAttempts retries have failed
//     (-1: forever).
//   - With FunctionResponseTypes [ReportBatchItemFailures], a response with
//     batchItemFailures checkpoints just before the lowest failed sequence
//     number and retries from it (an attempt, or, with bisection on, a
//     split at that record that uses none). An itemIdentifier that is ""
//     or no record's sequence number fails the whole batch. Without the
//     setting the response's failures are ignored.
//   - Before every invocation, records older than MaximumRecordAgeInSeconds
//     (with -1: older than the stream's retention) at the front of the
//     batch are discarded (condition RecordAgeExceeded, godwit's name).
//   - A discarded batch (condition RetryAttemptsExhausted or
//     RecordAgeExceeded) is written to the OnFailure destination — nats:SUBJECT
//     (a JetStream publish when a stream captures the subject, else a plain
//     publish) or file:PATH (JSON lines, fsynced) — as AWS's OnFailure
//     record with the batch's event in "payload" (as S3 destinations carry
//     it), then checkpointed past. A destination that fails is retried;
//     records are never skipped silently.
//   - Until a failing batch succeeds or is discarded its shard slot blocks,
//     keeping order.
//
// # Tumbling windows
//
// With TumblingWindowInSeconds (and ParallelizationFactor 1), windows are
// aligned multiples of the window size in record ApproximateCreationDateTime.
// A batch holds records of one window; the event carries window, state
// ({} at the start), shardId, eventSourceARN. The function's response must
// carry state (a missing one is a function error); it is passed to the
// next invocation of the window and checkpointed with the position, so a
// restart resumes the window. A window closes with a final invocation
// (isFinalInvokeForWindow, the last records of the window if still
// pending, else none) when a record of a later window arrives, when
// WindowGrace has passed after its end with no record, or when the shard
// ends (then also isWindowTerminatedEarly). The next window starts fresh.
//
// # Checkpoints
//
// A consumer's checkpoint is one versioned JSON value under its name in
// the JetStream KV bucket GODWIT_SINKS: the stream name and label and, per
// partition, the record position (streams.Pos) through which every record
// is done (plus the open window). Format 1 checkpoints held JetStream
// sequences of one-record messages and are read as Pos(seq, 0). It is written after a Deliver returned (the target's
// durability barrier) and moves only over records every slot has finished,
// so delivery is at least once with duplicates bounded by the batches in
// flight (one per slot): a restart delivers them again, never skips.
// Enabled false reads nothing and keeps the checkpoint.
package sinks
