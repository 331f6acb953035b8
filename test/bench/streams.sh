#!/usr/bin/env bash
# Benchmarks godwit's streams (issue 3) and prints Markdown for
# docs/benchmarks.md:
#   (a) stream visibility latency: PutItem acknowledged → record received,
#       through the consumer library (JetStream) and through the DynamoDB
#       Streams API (GetRecords over HTTP), open loop at each of RATES;
#   (b) PutItem throughput (test/bench/loadgen, closed loop) against a table
#       with a stream and one without, on the same server, alternating runs,
#       medians of REPS.
# It starts one godwit (fsync on, fresh data dir under test/bench/.results,
# embedded NATS on a free loopback port) and kills everything it started on
# exit. Run it under `flock /tmp/bench.lock` when others benchmark too.
# Settings (environment):
#   RATES="1000 5000"      open-loop put rates for (a)
#   READERS="consumer api" readers for (a), one run each (not concurrently)
#   LAT_DURATION=10s LAT_WARMUP=2s   measured / unmeasured writing per (a) run
#   POLL_WAIT=1ms          api reader: pause after an empty GetRecords
#   TP_DURATION=10s TP_WARMUP=2s CONNS=64 REPS=3 KEYS=100000 ITEM_SIZE=100   (b)
#   PROFILE=0              1: CPU profile of godwit (--pprof) during the last (a) run
#                          and during the last (b) run of each table
#   GODWIT_ARGS=           extra arguments for `godwit serve`
#   RESULTS=test/bench/.results/streams-<time>
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH=$ROOT/test/bench
# shellcheck source=partitions.sh
source "$BENCH/partitions.sh"

RATES=${RATES:-1000 5000}
READERS=${READERS:-consumer api}
LAT_DURATION=${LAT_DURATION:-10s}
LAT_WARMUP=${LAT_WARMUP:-2s}
POLL_WAIT=${POLL_WAIT:-1ms}
TP_DURATION=${TP_DURATION:-10s}
TP_WARMUP=${TP_WARMUP:-2s}
CONNS=${CONNS:-64}
REPS=${REPS:-3}
KEYS=${KEYS:-100000}
ITEM_SIZE=${ITEM_SIZE:-100}
PROFILE=${PROFILE:-0}
GODWIT_ARGS=${GODWIT_ARGS:-}
RESULTS=${RESULTS:-$BENCH/.results/streams-$(date -u +%Y%m%dT%H%M%SZ)}

COMMAND="${GODWIT_ARGS:+GODWIT_ARGS=\"$GODWIT_ARGS\" }RATES=\"$RATES\" READERS=\"$READERS\" LAT_DURATION=$LAT_DURATION LAT_WARMUP=$LAT_WARMUP POLL_WAIT=$POLL_WAIT TP_DURATION=$TP_DURATION TP_WARMUP=$TP_WARMUP CONNS=$CONNS REPS=$REPS KEYS=$KEYS ITEM_SIZE=$ITEM_SIZE test/bench/streams.sh"

log() { printf '[streams-bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

mkdir -p "$RESULTS"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/godwit-streams-bench.XXXXXX")
BIN=$WORK/bin
# NB: the data dir is next to the results, not in TMPDIR (maybe a tmpfs,
# where fsync costs nothing).
DATA_DIR=$(mktemp -d "$RESULTS/../data.XXXXXX")
SERVER_PID=""
CHILD_PID=""
PROF_PID=""
FAILED=0
NOTES=()

stop_server() {
	local pid=$SERVER_PID i
	SERVER_PID=""
	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[[ -n $CHILD_PID ]] && kill "$CHILD_PID" 2>/dev/null || true
	[[ -n $PROF_PID ]] && kill "$PROF_PID" 2>/dev/null || true
	stop_server || true
	rm -rf "$WORK" "$DATA_DIR"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# bounded SECONDS CMD...: runs CMD in the background (so traps fire) and
# kills it after SECONDS.
bounded() {
	local limit=$1 rc=0
	shift
	timeout -k 10 "$limit" "$@" &
	CHILD_PID=$!
	wait "$CHILD_PID" || rc=$?
	CHILD_PID=""
	return "$rc"
}

# seconds converts a Go duration (10s, 2m, 1m30s, 500ms) to whole seconds, rounded up.
seconds() {
	local d=$1 total=0 n unit
	while [[ $d =~ ^([0-9]+)(ms|h|m|s)(.*)$ ]]; do
		n=${BASH_REMATCH[1]} unit=${BASH_REMATCH[2]} d=${BASH_REMATCH[3]}
		case $unit in
		h) total=$((total + n * 3600)) ;;
		m) total=$((total + n * 60)) ;;
		s) total=$((total + n)) ;;
		ms) total=$((total + (n + 999) / 1000)) ;;
		esac
	done
	[[ -z $d ]] || die "cannot parse duration '$1'"
	echo "$total"
}
LAT_BOUND=$(($(seconds "$LAT_DURATION") + $(seconds "$LAT_WARMUP") + 120))
TP_BOUND=$(($(seconds "$TP_DURATION") + $(seconds "$TP_WARMUP") + 90))

# free_port prints a loopback port nobody listens on, below the ephemeral range.
free_port() {
	local lo=32768 p i
	[[ -r /proc/sys/net/ipv4/ip_local_port_range ]] && read -r lo _ </proc/sys/net/ipv4/ip_local_port_range
	for i in $(seq 200); do
		if ((lo > 11000)); then
			p=$((10000 + RANDOM % (lo - 10000)))
		else
			p=$((20000 + RANDOM % 40000))
		fi
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	die "no free port found"
}

wait_listening() {
	local port=$1 i
	for i in $(seq 600); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
		kill -0 "$SERVER_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# --- build and start ------------------------------------------------------------

mkdir -p "$BIN"
log "building godwit, streamlat, loadgen"
(cd "$ROOT" && go build -o "$BIN/" ./cmd/godwit ./test/bench/streamlat ./test/bench/loadgen) >"$RESULTS/build.log" 2>&1 ||
	die "go build failed (see $RESULTS/build.log)"

LOGF=$RESULTS/godwit.log
for attempt in 1 2 3; do
	API_PORT=$(free_port)
	NATS_PORT=$(free_port)
	[[ $NATS_PORT != "$API_PORT" ]] || continue
	# shellcheck disable=SC2086 # GODWIT_ARGS is a list of words
	"$BIN/godwit" serve --listen "127.0.0.1:$API_PORT" --data-dir "$DATA_DIR/godwit" \
		--nats-listen "127.0.0.1:$NATS_PORT" --pprof $GODWIT_ARGS >"$LOGF" 2>&1 &
	SERVER_PID=$!
	wait_listening "$API_PORT" && wait_listening "$NATS_PORT" && break
	log "godwit did not come up (attempt $attempt); last lines of $LOGF:"
	tail -n 5 "$LOGF" >&2 || true
	stop_server
	((attempt < 3)) || die "godwit did not start"
done
ENDPOINT=http://127.0.0.1:$API_PORT
NATS=nats://127.0.0.1:$NATS_PORT
log "godwit pid $SERVER_PID on $ENDPOINT, NATS $NATS, log $LOGF"

# --- (a) visibility latency -------------------------------------------------------

LAT_JSONL=$RESULTS/latency.jsonl
: >"$LAT_JSONL"
set -- $RATES
LAST_RATE=${!#}
set -- $READERS
LAST_READER=${!#}
for rate in $RATES; do
	for reader in $READERS; do
		if [[ $PROFILE == 1 && $rate == "$LAST_RATE" && $reader == "$LAST_READER" ]]; then
			psec=$(($(seconds "$LAT_DURATION")))
			# NB: starts after the warmup, ends before the writer does.
			(sleep "$(seconds "$LAT_WARMUP")" && curl -sS -o "$RESULTS/cpu-$reader-$rate.pprof" \
				"$ENDPOINT/debug/pprof/profile?seconds=$psec") &
			PROF_PID=$!
		fi
		log "latency: $reader reader at $rate puts/s"
		if ! bounded "$LAT_BOUND" "$BIN/streamlat" -endpoint "$ENDPOINT" -nats "$NATS" -table streamlat \
			-readers "$reader" -rate "$rate" -duration "$LAT_DURATION" -warmup "$LAT_WARMUP" \
			-poll-wait "$POLL_WAIT" -item-size "$ITEM_SIZE" >>"$LAT_JSONL"; then
			FAILED=1
			NOTES+=("latency run $reader at $rate/s FAILED (lost or duplicated records, or an error; see stderr)")
			kill -0 "$SERVER_PID" 2>/dev/null || die "godwit died; see $LOGF"
		fi
		if [[ -n $PROF_PID ]]; then
			wait "$PROF_PID" || NOTES+=("CPU profile failed")
			PROF_PID=""
			NOTES+=("CPU profile of godwit during the $reader run at $rate/s: $RESULTS/cpu-$reader-$rate.pprof")
		fi
	done
done

# --- (b) throughput with and without a stream --------------------------------------

TP_JSONL=$RESULTS/throughput.jsonl
: >"$TP_JSONL"
bounded 120 "$BIN/streamlat" -endpoint "$ENDPOINT" -create-only -table plain -stream=false || die "create table plain failed"
bounded 120 "$BIN/streamlat" -endpoint "$ENDPOINT" -create-only -table streamed -stream=true || die "create table streamed failed"
for rep in $(seq "$REPS"); do
	for table in plain streamed; do
		log "throughput: put into $table, run $rep of $REPS"
		if [[ $PROFILE == 1 && $rep == "$REPS" ]]; then
			psec=$(($(seconds "$TP_DURATION")))
			(sleep "$(seconds "$TP_WARMUP")" && curl -sS -o "$RESULTS/cpu-tp-$table.pprof" \
				"$ENDPOINT/debug/pprof/profile?seconds=$psec") &
			PROF_PID=$!
		fi
		bounded "$TP_BOUND" "$BIN/loadgen" -endpoint "$ENDPOINT" -label "$table" -table "$table" -op put \
			-conns "$CONNS" -item-size "$ITEM_SIZE" -keys "$KEYS" -duration "$TP_DURATION" -warmup "$TP_WARMUP" \
			>>"$TP_JSONL" || NOTES+=("throughput run $rep on $table failed")
		if [[ -n $PROF_PID ]]; then
			wait "$PROF_PID" || NOTES+=("CPU profile failed")
			PROF_PID=""
			NOTES+=("CPU profile of godwit during the last throughput run on $table: $RESULTS/cpu-tp-$table.pprof")
		fi
	done
done

# --- report -----------------------------------------------------------------------

# field NAME LINE: a numeric field of a JSON line.
field() { sed -n "s/.*\"$1\":\([-0-9.e+]*\).*/\1/p" <<<"$2"; }
# median: the median of the numbers on stdin (the lower middle for an even count).
median() { sort -g | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]; else print "n/a"}'; }

cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || echo unknown)
mem=$(awk '/^MemTotal:/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo 2>/dev/null || echo unknown)
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
{
	echo "Command: \`$COMMAND\`"
	echo
	echo "Run $(date -u +%Y-%m-%dT%H:%MZ) on $cpu, $(nproc) CPUs, $mem RAM, $(uname -sr); $(go version | awk '{print $3}'), godwit $commit."
	echo "One godwit (defaults: fsync on every commit, $(partitions_note), embedded NATS) on a fresh data dir on $(df -PT "$DATA_DIR" | awk 'NR==2 {print $1 " (" $2 ")"}'); the clients share the machine over 127.0.0.1."
	echo
	echo "Visibility latency (PutItem acknowledged → record received; open loop, $LAT_DURATION measured after $LAT_WARMUP warmup; api polls each shard with no pause after records and $POLL_WAIT after an empty answer):"
	echo
	echo "| reader | puts/s offered | achieved | written | received | lost | p50 ms | p99 ms | p99.9 ms | max ms | early | put p50 ms | put p99 ms |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	while read -r l; do
		[[ -n $l ]] || continue
		r=$(sed -n 's/.*"reader":"\([a-z]*\)".*/\1/p' <<<"$l")
		printf '| %s | %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$r" "$(field rate "$l")" "$(field achieved_puts_per_sec "$l")" \
			"$(field written "$l")" "$(field received "$l")" "$(field lost "$l")" "$(field p50_ms "$l")" "$(field p99_ms "$l")" \
			"$(field p999_ms "$l")" "$(field max_ms "$l")" "$(field early "$l")" "$(field put_p50_ms "$l")" "$(field put_p99_ms "$l")"
	done <"$LAT_JSONL"
	echo
	echo "PutItem throughput, closed loop, $CONNS connections, $TP_DURATION measured per run, $KEYS keys, $ITEM_SIZE-byte items; runs alternate plain/streamed; medians of $REPS:"
	echo
	echo "| table | ops/s (median) | ops/s (runs) | p50 ms | p99 ms | errors |"
	echo "|---|---:|---:|---:|---:|---:|"
	declare -A med
	for table in plain streamed; do
		lines=$(grep "\"target\":\"$table\"" "$TP_JSONL" || true)
		runs=$(while read -r l; do [[ -n $l ]] && printf '%.0f ' "$(field ops_per_sec "$l")"; done <<<"$lines")
		med[$table]=$(while read -r l; do [[ -n $l ]] && field ops_per_sec "$l"; done <<<"$lines" | median)
		p50=$(while read -r l; do [[ -n $l ]] && field p50_ms "$l"; done <<<"$lines" | median)
		p99=$(while read -r l; do [[ -n $l ]] && field p99_ms "$l"; done <<<"$lines" | median)
		errs=$(while read -r l; do [[ -n $l ]] && field errors "$l"; done <<<"$lines" | awk '{s+=$1} END {print s+0}')
		printf '| %s | %.0f | %s | %s | %s | %s |\n' "$table" "${med[$table]}" "${runs% }" "$p50" "$p99" "$errs"
	done
	if [[ ${med[plain]} != n/a && ${med[streamed]} != n/a ]]; then
		echo
		awk -v s="${med[streamed]}" -v p="${med[plain]}" 'BEGIN {printf "Streamed/plain: **%.0f %%** (target ≥ 80 %%)\n", 100*s/p}'
	fi
	if ((${#NOTES[@]})); then
		echo
		for n in "${NOTES[@]}"; do echo "- $n"; done
	fi
} >"$RESULTS/benchmarks.md"
cat "$RESULTS/benchmarks.md"
log "results in $RESULTS"
exit "$FAILED"
