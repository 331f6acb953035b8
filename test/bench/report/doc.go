// Command report turns loadgen JSON lines (and the memory-check lines run.sh
// writes) into the Markdown tables of docs/benchmarks.md: the median over
// repetitions of ops/s, p50, p99 and p99.9 per (op, target), and the subject's
// (godwit's) throughput and p99 ratios to each baseline.
//
//	report -subject godwit -baselines dynalite,ceiling results.jsonl
//
// With no file arguments it reads stdin.
package main
