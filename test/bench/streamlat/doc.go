// Command streamlat measures DynamoDB Streams visibility latency on a running
// godwit server: how long after a PutItem is acknowledged its stream record
// reaches a reader. It starts no server; test/bench/streams.sh starts godwit
// (with --nats-listen) and runs it.
//
// One run creates the table (pk S HASH, sk S RANGE, PAY_PER_REQUEST, stream
// NEW_AND_OLD_IMAGES) if it is missing, opens the readers at the stream's
// end (LATEST), then an open-loop writer issues PutItem at -rate for
// -duration. Each item's pk carries a run nonce and the item's number, so
// records of other runs (or other writers) are ignored and each record is
// matched to its put. The readers are:
//
//   - consumer: streams.NewConsumer over streams.NewJetStreamSource, a
//     JetStream connection to -nats (the server's embedded NATS);
//   - api: the DynamoDB Streams HTTP API of -endpoint, raw HTTP, one
//     goroutine per shard calling GetRecords on its iterator in a tight
//     loop: at once again when records came back, after -poll-wait (1ms)
//     when none did.
//
// Latency of a record = when the reader had it − when that PutItem's
// response was read, both on this process's monotonic clock. A record that
// arrives before the writer has read the acknowledgement counts as 0 and is
// counted as "early". After the writer stops, the readers get -drain to
// receive every record; a record never received is lost and fails the run
// (exit status 1), as does a duplicate.
//
// Output: one human line per reader on stderr, one JSON line per reader on
// stdout. With -create-only it only creates the table (-stream=false: with
// no stream) and exits, for throughput runs with test/bench/loadgen.
package main
