// Package streams carries every committed change of godwit's tables out
// of the engine's outbox onto NATS JetStream, in per-partition order and
// exactly once, and serves it back with DynamoDB Streams semantics: the
// DynamoDBStreams_20120810 API on the same listener as DynamoDB, and a
// consumer library that godwit tail, global-table replicators and sinks share.
//
// The layout on JetStream is described in layout.go.
package streams
