#!/usr/bin/env bash
# Benchmarks godwit global tables (issue 4) and prints Markdown for
# docs/benchmarks.md:
#   (a) replication latency, three regions on this machine, each writing
#       RATE puts/s open loop at once (own keys plus shared keys), measured
#       origin PutItem acknowledged → record in each other region's stream
#       (consumer library over JetStream), with godwit's own
#       godwit_replication_latency_seconds beside it;
#   (b) convergence after the last region is cut off for PARTITION while all
#       three keep writing: time from the heal until every write has
#       arrived everywhere and until full Scans of the three regions agree;
#   (c) backfill rate of a new replica of a table of ITEMS items.
# test/bench/replat does the work (see its doc.go); it starts every godwit
# (fsync on, embedded NATS on free loopback ports, data dirs under
# test/bench/.results) and stops them; this script also kills whatever is
# left on exit. Each mode runs REPS times on fresh regions; tables show every
# run and the medians. Run it under `flock /tmp/bench.lock`.
# Settings (environment):
#   MODES="latency partition backfill"
#   REPS=3 RATE=1000 (puts/s per region) DURATION=20s WARMUP=5s
#   SHARED_EVERY=10 SHARED_KEYS=100   every 10th write goes to one of 100 shared keys
#   PARTITION=60s  ITEMS=200000  ITEM_SIZE=100  CONNS=64
#   GODWIT_ARGS=   extra arguments for every `godwit serve`
#   RESULTS=test/bench/.results/globaltables-<time>
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH=$ROOT/test/bench

MODES=${MODES:-latency partition backfill}
REPS=${REPS:-3}
RATE=${RATE:-1000}
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-5s}
SHARED_EVERY=${SHARED_EVERY:-10}
SHARED_KEYS=${SHARED_KEYS:-100}
PARTITION=${PARTITION:-60s}
ITEMS=${ITEMS:-200000}
ITEM_SIZE=${ITEM_SIZE:-100}
CONNS=${CONNS:-64}
GODWIT_ARGS=${GODWIT_ARGS:-}
RESULTS=${RESULTS:-$BENCH/.results/globaltables-$(date -u +%Y%m%dT%H%M%SZ)}

COMMAND="${GODWIT_ARGS:+GODWIT_ARGS=\"$GODWIT_ARGS\" }MODES=\"$MODES\" REPS=$REPS RATE=$RATE DURATION=$DURATION WARMUP=$WARMUP SHARED_EVERY=$SHARED_EVERY SHARED_KEYS=$SHARED_KEYS PARTITION=$PARTITION ITEMS=$ITEMS ITEM_SIZE=$ITEM_SIZE CONNS=$CONNS test/bench/globaltables.sh"

BENCH_NAME=globaltables-bench
# shellcheck source=lib.sh
source "$BENCH/lib.sh"
# shellcheck source=partitions.sh
source "$BENCH/partitions.sh"

# run MODE REP LIMIT ARGS...: one replat run, bounded by LIMIT seconds; its
# JSON line is appended to $RESULTS/MODE.jsonl and its logs kept.
run() {
	local mode=$1 rep=$2 limit=$3 rc=0 dir
	shift 3
	dir=$DATA/$mode-$rep
	log "$mode, run $rep of $REPS"
	timeout -k 15 "$limit" "$BIN/replat" -mode "$mode" -godwit "$BIN/godwit" -dir "$dir" -godwit-args "$GODWIT_ARGS" \
		-rate "$RATE" -warmup "$WARMUP" -conns "$CONNS" -item-size "$ITEM_SIZE" "$@" \
		>>"$RESULTS/$mode.jsonl" 2> >(tee -a "$RESULTS/$mode.log" >&2) &
	CHILD_PID=$!
	wait "$CHILD_PID" || rc=$?
	CHILD_PID=""
	mkdir -p "$RESULTS/logs/$mode-$rep"
	cp "$dir"/*.log "$RESULTS/logs/$mode-$rep/" 2>/dev/null || true
	rm -rf "$dir"
	if ((rc != 0)); then
		FAILED=1
		NOTES+=("$mode run $rep FAILED (exit $rc; see $RESULTS/$mode.log and logs/$mode-$rep)")
	fi
}

log "building godwit and replat"
mkdir -p "$BIN"
(cd "$ROOT" && go build -o "$BIN/" ./cmd/godwit ./test/bench/replat) >"$RESULTS/build.log" 2>&1 ||
	die "go build failed (see $RESULTS/build.log)"

for mode in $MODES; do
	: >"$RESULTS/$mode.jsonl"
	for rep in $(seq "$REPS"); do
		case $mode in
		latency)
			run latency "$rep" $(($(seconds "$DURATION") + $(seconds "$WARMUP") + 300)) \
				-duration "$DURATION" -shared-every "$SHARED_EVERY" -shared-keys "$SHARED_KEYS"
			;;
		partition)
			run partition "$rep" $(($(seconds "$PARTITION") + $(seconds "$WARMUP") + 900)) \
				-partition "$PARTITION" -shared-every "$SHARED_EVERY" -shared-keys "$SHARED_KEYS"
			;;
		backfill)
			run backfill "$rep" 3600 -items "$ITEMS"
			;;
		*) die "unknown mode $mode" ;;
		esac
	done
done

# --- report -----------------------------------------------------------------------

field() { sed -n "s/.*\"$1\":\([-0-9.e+]*\).*/\1/p" <<<"$2"; }
median() { sort -g | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]; else print "n/a"}'; }
# col MODE FIELD: the median of FIELD over MODE's runs.
col() { while read -r l; do [[ -n $l ]] && field "$2" "$l"; done <"$RESULTS/$1.jsonl" | median; }
f2() { [[ $1 == n/a || -z $1 ]] && echo n/a || printf '%.2f' "$1"; }
f0() { [[ $1 == n/a || -z $1 ]] && echo n/a || printf '%.0f' "$1"; }

cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || echo unknown)
mem=$(awk '/^MemTotal:/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo 2>/dev/null || echo unknown)
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
{
	echo "Command: \`$COMMAND\`"
	echo
	echo "Run $(date -u +%Y-%m-%dT%H:%MZ) on $cpu, $(nproc) CPUs, $mem RAM, $(uname -sr); $(go version | awk '{print $3}'), godwit $commit; load average before the report $(cut -d' ' -f1-3 /proc/loadavg)."
	echo "Every region is its own \`godwit serve\` (fsync on, $(partitions_note), embedded NATS), all on this machine with the client, data on $(df -PT "$DATA" | awk 'NR==2 {print $1 " (" $2 ")"}'); peers reach each other's NATS through a TCP proxy per direction in the client process."
	if [[ " $MODES " == *" latency "* ]]; then
		echo
		echo "Replication latency (origin PutItem acknowledged → record in the other region's stream; $RATE puts/s per region, all three at once, open loop; $DURATION measured after $WARMUP warmup; all 6 origin→destination pairs pooled; every ${SHARED_EVERY}th write to one of $SHARED_KEYS shared keys). \"metric\" is godwit's \`godwit_replication_latency_seconds\` over the same window, all regions (change created in the origin → applied here; bucket-interpolated):"
		echo
		echo "| run | puts/s per region | expected | received | lost | superseded (shared) | p50 ms | p99 ms | p99.9 ms | max ms | metric p50 ms | metric p99 ms | put p50 ms | put p99 ms |"
		echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
		n=0
		while read -r l; do
			[[ -n $l ]] || continue
			n=$((n + 1))
			echo "| $n | $(f0 "$(field achieved_puts_per_sec_per_region "$l")") | $(field expected "$l") | $(field received "$l") | $(field lost "$l") | $(field superseded_shared "$l") | $(f2 "$(field p50_ms "$l")") | $(f2 "$(field p99_ms "$l")") | $(f2 "$(field p999_ms "$l")") | $(f2 "$(field max_ms "$l")") | $(f2 "$(field metric_p50_ms "$l")") | $(f2 "$(field metric_p99_ms "$l")") | $(f2 "$(field put_p50_ms "$l")") | $(f2 "$(field put_p99_ms "$l")") |"
		done <"$RESULTS/latency.jsonl"
		echo "| **median** | $(f0 "$(col latency achieved_puts_per_sec_per_region)") | | | | | $(f2 "$(col latency p50_ms)") | **$(f2 "$(col latency p99_ms)")** | $(f2 "$(col latency p999_ms)") | $(f2 "$(col latency max_ms)") | $(f2 "$(col latency metric_p50_ms)") | $(f2 "$(col latency metric_p99_ms)") | $(f2 "$(col latency put_p50_ms)") | $(f2 "$(col latency put_p99_ms)") |"
		p99=$(col latency p99_ms)
		[[ $p99 != n/a ]] && awk -v p="$p99" 'BEGIN {printf "\nMedian p99 %.1f ms: target ≤ 50 ms **%s**.\n", p, (p <= 50 ? "met" : "missed")}'
	fi
	if [[ " $MODES " == *" partition "* ]]; then
		echo
		echo "Convergence after a partition (eu-west-1 cut off from both peers for $PARTITION while all three write $RATE puts/s each, after $WARMUP of writing; then writing stops and the cut heals). Times from the heal: **drained** = every acknowledged own-key write has appeared in every other region's stream; **converged** = full Scans of the three regions (started after the drain, repeated each second) are identical, item by item:"
		echo
		echo "| run | writes in eu-west-1 during the cut | drained s | converged s | scan rounds | items | lost | replication p99 ms (whole run) | max ms |"
		echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
		n=0
		while read -r l; do
			[[ -n $l ]] || continue
			n=$((n + 1))
			echo "| $n | $(field victim_writes_during_cut "$l") | $(f2 "$(field drained_s "$l")") | $(f2 "$(field converged_s "$l")") | $(field scan_rounds "$l") | $(field items "$l") | $(field lost "$l") | $(f2 "$(field p99_ms "$l")") | $(f2 "$(field max_ms "$l")") |"
		done <"$RESULTS/partition.jsonl"
		echo "| **median** | | **$(f2 "$(col partition drained_s)")** | **$(f2 "$(col partition converged_s)")** | | | | | |"
	fi
	if [[ " $MODES " == *" backfill "* ]]; then
		echo
		echo "Backfill of a new replica ($ITEMS items of ~$ITEM_SIZE bytes in us-east-1, then UpdateTable ReplicaUpdates Create us-west-2; time from the call until both regions show the replica ACTIVE; counts checked after):"
		echo
		echo "| run | load items/s | TableSizeBytes | backfill s | items/s | MB/s | counts (source / replica) |"
		echo "|---|---:|---:|---:|---:|---:|---|"
		n=0
		while read -r l; do
			[[ -n $l ]] || continue
			n=$((n + 1))
			echo "| $n | $(f0 "$(field load_items_per_sec "$l")") | $(field table_size_bytes "$l") | $(f2 "$(field backfill_s "$l")") | $(f0 "$(field items_per_sec "$l")") | $(f2 "$(field mb_per_sec "$l")") | $(field source_count "$l") / $(field replica_count "$l") |"
		done <"$RESULTS/backfill.jsonl"
		echo "| **median** | $(f0 "$(col backfill load_items_per_sec)") | | $(f2 "$(col backfill backfill_s)") | **$(f0 "$(col backfill items_per_sec)")** | **$(f2 "$(col backfill mb_per_sec)")** | |"
	fi
	if ((${#NOTES[@]})); then
		echo
		for n in "${NOTES[@]}"; do echo "- $n"; done
	fi
} >"$RESULTS/benchmarks.md"
cat "$RESULTS/benchmarks.md"
log "results in $RESULTS"
exit "$FAILED"
