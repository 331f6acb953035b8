// Package streams carries every committed change of godwit's tables out
// of the engine's outbox onto NATS JetStream, in per-partition order and
// exactly once, and serves it back with DynamoDB Streams semantics: the
// DynamoDBStreams_20120810 API on the same listener as DynamoDB, and a
// consumer library that godwit tail, global-table replicators and sinks share.
//
// The layout on JetStream is described in layout.go. A message carries one
// or more records; every reader (the API, the consumer library, the tail
// cache) works by record, at positions Pos(message sequence, index), which
// are what sequence numbers, iterators, Record.Seq and Positions hold.
//
// GetRecords at a shard's end is answered from the publisher's tail cache
// (tailcache.go) when the Publisher of the same process is the API's
// APIConfig.Published: each partition keeps the records JetStream just
// acknowledged, and a read is served from memory only when the cache can
// prove the answer is exactly what JetStream would return (it knows the
// subject's message before its run and saw every later one acknowledged);
// otherwise, and with PublisherConfig.TailCacheRecords -1 or
// APIConfig.NoTailCache, JetStream is read.
package streams
