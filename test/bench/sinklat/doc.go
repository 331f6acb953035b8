// Command sinklat benchmarks godwit's sinks (issue 5). It starts a real
// `godwit serve` itself (the -godwit binary, fsync on, embedded NATS on a
// free loopback port, data under -dir) with a `--config` file whose
// `consumers:` section it writes, and prints one JSON line on stdout (a
// human line on stderr). test/bench/sinks.sh builds everything, runs it and
// prints the Markdown tables.
//
// Modes:
//
//   - latency: one consumer "bench" on table "sinklat" (stream
//     NEW_AND_OLD_IMAGES), StartingPosition TRIM_HORIZON, BatchSize
//     -batch-size, MaximumBatchingWindowInSeconds 0 (a batch takes the
//     records already waiting, up to BatchSize, and never waits for more),
//     ParallelizationFactor 1, target `function` running -handler (the
//     aws-lambda-go handler test/bench/sinkhandler, Concurrency -concurrency, default 1) through
//     the Runtime API. A first probe item is written and awaited so that
//     the handler process is up and the consumer is reading. Then an
//     open-loop writer puts -rate items per second for -warmup + -duration
//     (pk = run nonce + item number). Latency of an item = when the handler
//     was invoked with its record (the handler's wall clock at entry,
//     written to a file this program tails) − when the PutItem's answer was
//     read here (converted to the same wall clock; a record handled before
//     the answer was read counts 0, "early"). Percentiles skip the warmup.
//     Every acknowledged put must reach the handler, or the run fails.
//   - audit: first godwit runs without consumers while -items items (~
//     -item-size bytes) are loaded with BatchWriteItem into a table with a
//     stream; it is stopped and started again on the same data with one
//     consumer, target `auditlog` (Dir under -dir), StartingPosition
//     TRIM_HORIZON, BatchSize -batch-size. The program polls the log's
//     head.json (rewritten after each fsynced batch) and reports records/s
//     drained: (items − entries at the first poll that saw any) / (time
//     that poll → head.json counting every item). The log is then checked
//     with `godwit audit verify`.
package main
