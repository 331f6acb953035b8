#!/usr/bin/env bash
# Benchmarks godwit's sinks (issue 5) and prints Markdown for
# docs/benchmarks.md:
#   (a) end-to-end latency PutItem acknowledged → Lambda handler invoked,
#       target `function` (Runtime API) running test/bench/sinkhandler (an
#       aws-lambda-go handler), open loop at RATE, for each of BATCH_SIZES
#       (MaximumBatchingWindowInSeconds 0);
#   (b) audit-log sink throughput end to end: AUDIT_ITEMS items written
#       with no consumer, then godwit restarted with an `auditlog` consumer
#       and the records/s it drains into the log measured;
#   (c) the raw audit-log figures of test/bench/auditlog (Deliver alone).
# test/bench/sinklat does (a) and (b) (see its doc.go): it starts godwit
# (fsync on, embedded NATS on a free loopback port, data under
# test/bench/.results) with a `--config` file whose consumers: section it
# writes, and stops it. Each run uses a fresh server; REPS runs each,
# medians. Run it under `flock /tmp/bench.lock`.
# Settings (environment):
#   BATCH_SIZES="1 100" CONCURRENCY=1 (handler processes) RATE=1000 DURATION=20s WARMUP=5s REPS=3 ITEM_SIZE=100 CONNS=64
#   AUDIT_ITEMS=100000 AUDIT_BATCH=100 AUDIT_SECONDS=5
#   SKIP="" (any of: latency audit raw)
#   RESULTS=test/bench/.results/sinks-<time>
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH=$ROOT/test/bench

BATCH_SIZES=${BATCH_SIZES:-1 100}
CONCURRENCY=${CONCURRENCY:-1}
RATE=${RATE:-1000}
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-5s}
REPS=${REPS:-3}
ITEM_SIZE=${ITEM_SIZE:-100}
CONNS=${CONNS:-64}
AUDIT_ITEMS=${AUDIT_ITEMS:-100000}
AUDIT_BATCH=${AUDIT_BATCH:-100}
AUDIT_SECONDS=${AUDIT_SECONDS:-5}
SKIP=${SKIP:-}
RESULTS=${RESULTS:-$BENCH/.results/sinks-$(date -u +%Y%m%dT%H%M%SZ)}

COMMAND="${GODWIT_ARGS:+GODWIT_ARGS=\"$GODWIT_ARGS\" }BATCH_SIZES=\"$BATCH_SIZES\" CONCURRENCY=$CONCURRENCY RATE=$RATE DURATION=$DURATION WARMUP=$WARMUP REPS=$REPS ITEM_SIZE=$ITEM_SIZE CONNS=$CONNS AUDIT_ITEMS=$AUDIT_ITEMS AUDIT_BATCH=$AUDIT_BATCH AUDIT_SECONDS=$AUDIT_SECONDS test/bench/sinks.sh"

BENCH_NAME=sinks-bench
# shellcheck source=lib.sh
source "$BENCH/lib.sh"
# shellcheck source=partitions.sh
source "$BENCH/partitions.sh"
skipped() { [[ " $SKIP " == *" $1 "* ]]; }

# bounded NAME LIMIT OUT CMD...: runs CMD in the background (so traps
# fire), stdout appended to OUT, killed after LIMIT seconds; a failure is
# noted.
bounded() {
	local name=$1 limit=$2 out=$3 rc=0
	shift 3
	timeout -k 15 "$limit" "$@" >>"$out" 2> >(tee -a "$RESULTS/sinklat.log" >&2) &
	CHILD_PID=$!
	wait "$CHILD_PID" || rc=$?
	CHILD_PID=""
	if ((rc != 0)); then
		FAILED=1
		NOTES+=("$name FAILED (exit $rc; see $RESULTS/sinklat.log and logs/)")
	fi
}

# keep DIR NAME: saves DIR's logs under $RESULTS/logs/NAME and deletes DIR.
keep() {
	mkdir -p "$RESULTS/logs/$2"
	cp "$1"/*.log "$1"/*.yaml "$RESULTS/logs/$2/" 2>/dev/null || true
	rm -rf "$1"
}

log "building godwit, sinklat, sinkhandler, auditlog"
mkdir -p "$BIN"
(cd "$ROOT" && go build -o "$BIN/" ./cmd/godwit ./test/bench/sinklat ./test/bench/sinkhandler ./test/bench/auditlog) \
	>"$RESULTS/build.log" 2>&1 || die "go build failed (see $RESULTS/build.log)"

LAT=$RESULTS/latency.jsonl
AUD=$RESULTS/audit.jsonl
RAW=$RESULTS/auditlog-raw.txt
: >"$LAT"
: >"$AUD"
: >"$RAW"
LAT_BOUND=$(($(seconds "$DURATION") + $(seconds "$WARMUP") + 900))
for rep in $(seq "$REPS"); do
	skipped latency && break
	for bs in $BATCH_SIZES; do
		log "latency: BatchSize $bs, run $rep of $REPS"
		d=$DATA/lat-$bs-$rep
		bounded "latency BatchSize $bs run $rep" "$LAT_BOUND" "$LAT" "$BIN/sinklat" -mode latency -godwit "$BIN/godwit" \
			-handler "$BIN/sinkhandler" -dir "$d" -batch-size "$bs" -concurrency "$CONCURRENCY" -rate "$RATE" -duration "$DURATION" -warmup "$WARMUP" \
			-item-size "$ITEM_SIZE" -conns "$CONNS"
		keep "$d" "lat-$bs-$rep"
	done
done
for rep in $(seq "$REPS"); do
	skipped audit && break
	log "audit: run $rep of $REPS"
	d=$DATA/audit-$rep
	bounded "audit run $rep" 3600 "$AUD" "$BIN/sinklat" -mode audit -godwit "$BIN/godwit" -dir "$d" \
		-items "$AUDIT_ITEMS" -batch-size "$AUDIT_BATCH" -item-size "$ITEM_SIZE" -conns "$CONNS"
	keep "$d" "audit-$rep"
done
if ! skipped raw; then
	log "auditlog raw (Deliver alone), $AUDIT_SECONDS s per batch size"
	mkdir -p "$DATA/raw"
	bounded "auditlog raw" 600 "$RAW" "$BIN/auditlog" -dir "$DATA/raw" -seconds "$AUDIT_SECONDS"
fi

# --- report -----------------------------------------------------------------------

field() { sed -n "s/.*\"$1\":\([-0-9.e+]*\).*/\1/p" <<<"$2"; }
median() { sort -g | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]; else print "n/a"}'; }
f2() { [[ $1 == n/a || -z $1 ]] && echo n/a || printf '%.2f' "$1"; }
f0() { [[ $1 == n/a || -z $1 ]] && echo n/a || printf '%.0f' "$1"; }
# medof FILE FILTER FIELD: the median of FIELD over FILE's lines matching FILTER.
medof() { grep -- "$2" "$1" | while read -r l; do field "$3" "$l"; done | median; }

cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || echo unknown)
mem=$(awk '/^MemTotal:/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo 2>/dev/null || echo unknown)
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
{
	echo "Command: \`$COMMAND\`"
	echo
	echo "Run $(date -u +%Y-%m-%dT%H:%MZ) on $cpu, $(nproc) CPUs, $mem RAM, $(uname -sr); $(go version | awk '{print $3}'), godwit $commit; load average before the report $(cut -d' ' -f1-3 /proc/loadavg)."
	echo "One \`godwit serve\` per run (fsync on, $(partitions_note), embedded NATS), data on $(df -PT "$DATA" | awk 'NR==2 {print $1 " (" $2 ")"}'), clients and handler on the same machine."
	if ! skipped latency; then
		echo
		echo "PutItem acknowledged → handler invoked (target \`function\`, Runtime API, $CONCURRENCY aws-lambda-go handler process(es) (Concurrency); MaximumBatchingWindowInSeconds 0, ParallelizationFactor 1; $RATE puts/s open loop, $DURATION measured after $WARMUP warmup; handler time taken at entry, before decoding):"
		echo
		echo "| BatchSize | run | puts/s | written | received | lost | early | invocations | mean batch | p50 ms | p99 ms | p99.9 ms | max ms | put p50 ms | put p99 ms |"
		echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
		for bs in $BATCH_SIZES; do
			n=0
			while read -r l; do
				[[ -n $l ]] || continue
				n=$((n + 1))
				echo "| $bs | $n | $(f0 "$(field achieved_puts_per_sec "$l")") | $(field written "$l") | $(field received "$l") | $(field lost "$l") | $(field early "$l") | $(f0 "$(field invocations "$l")") | $(f2 "$(field mean_batch "$l")") | $(f2 "$(field p50_ms "$l")") | $(f2 "$(field p99_ms "$l")") | $(f2 "$(field p999_ms "$l")") | $(f2 "$(field max_ms "$l")") | $(f2 "$(field put_p50_ms "$l")") | $(f2 "$(field put_p99_ms "$l")") |"
			done < <(grep "\"batch_size\":$bs," "$LAT" || true)
			f="\"batch_size\":$bs,"
			echo "| $bs | **median** | $(f0 "$(medof "$LAT" "$f" achieved_puts_per_sec)") | | | | | | $(f2 "$(medof "$LAT" "$f" mean_batch)") | **$(f2 "$(medof "$LAT" "$f" p50_ms)")** | **$(f2 "$(medof "$LAT" "$f" p99_ms)")** | $(f2 "$(medof "$LAT" "$f" p999_ms)") | $(f2 "$(medof "$LAT" "$f" max_ms)") | $(f2 "$(medof "$LAT" "$f" put_p50_ms)") | $(f2 "$(medof "$LAT" "$f" put_p99_ms)") |"
		done
	fi
	if ! skipped audit; then
		echo
		echo "Audit-log sink end to end ($AUDIT_ITEMS items of ~$ITEM_SIZE bytes written with no consumer; godwit restarted with an \`auditlog\` consumer, BatchSize $AUDIT_BATCH, TRIM_HORIZON; records/s = records appended after the first batch / time until head.json counts them all; every log checked with \`godwit audit verify\`):"
		echo
		echo "| run | load items/s | records/s drained | drain s | restart → done s | verified |"
		echo "|---|---:|---:|---:|---:|---|"
		n=0
		while read -r l; do
			[[ -n $l ]] || continue
			n=$((n + 1))
			echo "| $n | $(f0 "$(field load_items_per_sec "$l")") | $(f0 "$(field records_per_sec "$l")") | $(f2 "$(field drain_s "$l")") | $(f2 "$(field start_to_done_s "$l")") | $(sed -n 's/.*"verified":\([a-z]*\).*/\1/p' <<<"$l") |"
		done <"$AUD"
		echo "| **median** | $(f0 "$(medof "$AUD" . load_items_per_sec)") | **$(f0 "$(medof "$AUD" . records_per_sec)")** | $(f2 "$(medof "$AUD" . drain_s)") | $(f2 "$(medof "$AUD" . start_to_done_s)") | |"
	fi
	if ! skipped raw; then
		echo
		echo "test/bench/auditlog (the target's Deliver alone, no godwit; $AUDIT_SECONDS s per batch size):"
		echo
		echo '```'
		cat "$RAW"
		echo '```'
	fi
	if ((${#NOTES[@]})); then
		echo
		for n in "${NOTES[@]}"; do echo "- $n"; done
	fi
} >"$RESULTS/benchmarks.md"
cat "$RESULTS/benchmarks.md"
log "results in $RESULTS"
exit "$FAILED"
