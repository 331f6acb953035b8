// Package benchkit is the shared kit of the global-tables and sinks
// benchmark programs (test/bench/replat, test/bench/sinklat): a raw
// DynamoDB JSON client with a fake SigV4 header (as test/bench/loadgen and
// streamlat), an open-loop writer, per-item timelines and nearest-rank
// percentiles (streamlat's stats), starting and stopping real `godwit
// serve` processes on free loopback ports, a TCP proxy that can be cut (to
// partition a region), and reading a Prometheus histogram from /metrics.
//
// It is benchmark code: nothing in godwit imports it.
package benchkit
