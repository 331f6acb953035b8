// Command replat benchmarks godwit global tables (issue 4) on one machine.
// It starts real `godwit serve` processes itself (the -godwit binary, fsync
// on, embedded NATS on free loopback ports, data under -dir), each region
// peered with every other through a small TCP proxy per direction (so that
// a region can be cut off), and prints one JSON line with the result on
// stdout (a human line on stderr). test/bench/globaltables.sh builds
// godwit, runs the modes REPS times and prints the Markdown tables.
//
// Modes:
//
//   - latency: three regions; table "replat" created in the first and
//     replicated to the others (UpdateTable ReplicaUpdates Create, one at a
//     time, waiting for ACTIVE). A consumer-library reader (streams.NewConsumer
//     over JetStream, from Latest) follows the table's stream in every
//     region. Then every region writes at -rate PutItems per second, open
//     loop, all at once, for -warmup + -duration. Every item carries
//     w = "<region index>:<write id>"; its pk is the writer's own
//     (nonce-r<R>-<id>) except every -shared-every-th write, which goes to
//     one of -shared-keys keys common to all regions. Replication latency
//     of a write into another region = when that region's stream showed a
//     record whose NewImage has the write's w − when the origin's PutItem
//     answer was read (same process, same monotonic clock; a record seen
//     before the answer was read counts 0, "early"). Percentiles pool all
//     six (origin, destination) pairs and skip the warmup. A write to an
//     own key that never reaches another region is lost and fails the run;
//     a shared-key write may legitimately never appear elsewhere (a newer
//     write of the key was already there: last-writer-wins), and is counted
//     as "superseded" (each region walks the shared keys from its own
//     offset, a third of them apart). godwit's own histogram
//     godwit_replication_latency_seconds (change created in the origin →
//     applied here) is scraped from every region's /metrics before the
//     measured window and after the drain; its difference gives p50/p99
//     (interpolated within buckets, as histogram_quantile does).
//   - partition: the same setup; after -warmup of writing, the last region
//     is cut off (every proxy to and from it closes its connections and
//     refuses new ones) while all three regions keep writing for
//     -partition; then the writers stop and the cut is healed. Measured
//     from the heal: "drained" = every acknowledged write of an own key
//     has appeared in every other region's stream; "converged" = full Scans
//     of the three regions, taken after the drain and repeated every second
//     until they agree, are identical (same keys, same items, attribute by
//     attribute); the time is when the first identical set of scans ended.
//   - backfill: two regions; -items items of ~-item-size bytes are loaded
//     into a table of the first (BatchWriteItem, 25 per request), then
//     UpdateTable ReplicaUpdates Create adds the second. Measured: from the
//     call to both regions showing the new replica ACTIVE; then both
//     regions' item counts (Scan Select COUNT) must equal -items. Rate =
//     items / time and TableSizeBytes of the source / time.
//
// Exit status 1 when a run fails its checks (lost writes, scans that never
// agree, wrong counts); 2 for usage errors.
package main
