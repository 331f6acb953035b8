#!/usr/bin/env bash
# Benchmarks godwit against dynalite and the ceiling server with one loadgen
# binary, in one run, on loopback, and prints Markdown for docs/benchmarks.md.
# See test/bench/README.md. Settings (environment):
#   TARGETS="ceiling dynalite godwit"  which servers to measure, in this order
#   DURATION=10s WARMUP=2s             measured / unmeasured time per run
#   CONNS=64 REPS=3                    connections; runs per (op, target)
#   KEYS=100000 ITEM_SIZE=100          key space (all preloaded); item bytes
#   MIX=put=50,get=30,query=10,update=10   the mixed run
#   RATE=0                             >0: open loop at RATE ops/s
#   SKIP_RSS=1                         skip the memory check
#   RSS_ITEMS=1000000 RSS_TARGETS=godwit   memory check: items loaded, servers
#   LOAD_TIMEOUT=15m                   bound on each preload / memory load
#   GODWIT_ARGS=                       extra arguments for `godwit serve`
#   DYNALITE_UPDATE=1                  reinstall dynalite@latest from npm
#   RESULTS=test/bench/.results/<time> where results and server logs go
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH=$ROOT/test/bench

TARGETS=${TARGETS:-ceiling dynalite godwit}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNS=${CONNS:-64}
REPS=${REPS:-3}
KEYS=${KEYS:-100000}
ITEM_SIZE=${ITEM_SIZE:-100}
MIX=${MIX:-put=50,get=30,query=10,update=10}
RATE=${RATE:-0}
SKIP_RSS=${SKIP_RSS:-0}
RSS_ITEMS=${RSS_ITEMS:-1000000}
RSS_TARGETS=${RSS_TARGETS:-godwit}
LOAD_TIMEOUT=${LOAD_TIMEOUT:-15m}
GODWIT_ARGS=${GODWIT_ARGS:-}
DYNALITE_UPDATE=${DYNALITE_UPDATE:-0}
RESULTS=${RESULTS:-$BENCH/.results/$(date -u +%Y%m%dT%H%M%SZ)}

COMMAND="TARGETS=\"$TARGETS\" DURATION=$DURATION WARMUP=$WARMUP CONNS=$CONNS REPS=$REPS KEYS=$KEYS ITEM_SIZE=$ITEM_SIZE MIX=$MIX RATE=$RATE SKIP_RSS=$SKIP_RSS RSS_ITEMS=$RSS_ITEMS RSS_TARGETS=\"$RSS_TARGETS\" test/bench/run.sh"

log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

# seconds converts a Go duration of the forms 10s, 2m, 1m30s, 500ms to whole
# seconds (rounded up), for timeout bounds.
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
	[[ -z $d ]] || die "cannot parse duration '$1' (use forms like 10s, 2m, 1m30s, 500ms)"
	echo "$total"
}
RUN_BOUND=$(($(seconds "$DURATION") + $(seconds "$WARMUP") + 90))
LOAD_BOUND=$(($(seconds "$LOAD_TIMEOUT") + 120))

mkdir -p "$RESULTS"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/godwit-bench.XXXXXX")
BIN=$WORK/bin
# NB: godwit's data lives next to the results, not in TMPDIR, which may be a
# tmpfs where fsync costs nothing.
DATA_ROOT=$(mktemp -d "$RESULTS/../data.XXXXXX")
SERVER_PID=""
CHILD_PID=""
NOTES=()

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[[ -n $CHILD_PID ]] && kill "$CHILD_PID" 2>/dev/null || true
	[[ -n $SERVER_PID ]] && stop_server || true
	rm -rf "$WORK" "$DATA_ROOT"
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

# free_port prints a port nobody listens on, chosen below the kernel's
# ephemeral range so that no outgoing connection can hold it either. A race
# with another program remains; start_server retries.
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

# wait_listening PORT: waits until SERVER_PID accepts connections on PORT.
# Fails if the process exits first or after 60s.
wait_listening() {
	local port=$1 i
	for i in $(seq 600); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
		kill -0 "$SERVER_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

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

# --- build and install -------------------------------------------------------

mkdir -p "$BIN"
log "building loadgen, ceiling, report"
(cd "$ROOT" && go build -o "$BIN/" ./test/bench/loadgen ./test/bench/ceiling ./test/bench/report) || die "go build of the bench tools failed"

GODWIT_OK=0
GODWIT_NOTE=""
if [[ " $TARGETS $RSS_TARGETS " == *" godwit "* ]]; then
	log "building godwit"
	if (cd "$ROOT" && go build -o "$BIN/godwit" ./cmd/godwit) >"$RESULTS/godwit-build.log" 2>&1; then
		GODWIT_OK=1
	else
		GODWIT_NOTE="godwit skipped: go build ./cmd/godwit failed (see $RESULTS/godwit-build.log)"
		log "$GODWIT_NOTE"
	fi
fi

DYNALITE_DIR=$BENCH/.dynalite
DYNALITE_VERSION=""
if [[ " $TARGETS $RSS_TARGETS " == *" dynalite "* ]]; then
	if [[ $DYNALITE_UPDATE == 1 || ! -f $DYNALITE_DIR/node_modules/dynalite/cli.js ]]; then
		log "installing dynalite@latest into $DYNALITE_DIR"
		mkdir -p "$DYNALITE_DIR"
		[[ -f $DYNALITE_DIR/package.json ]] || echo '{"name":"godwit-bench-dynalite","private":true}' >"$DYNALITE_DIR/package.json"
		bounded 600 npm --prefix "$DYNALITE_DIR" install --no-audit --no-fund --loglevel=error dynalite@latest >&2 ||
			die "npm install dynalite@latest failed"
	fi
	DYNALITE_VERSION=$(node -p 'require(process.argv[1]).version' "$DYNALITE_DIR/node_modules/dynalite/package.json")
fi

# --- servers -----------------------------------------------------------------

# start_server TARGET LOGNAME: starts a fresh server, waits until it listens,
# and sets SERVER_PID, ENDPOINT, LOGF (and DATA_DIR for godwit). Returns 1 if
# the target cannot run.
start_server() {
	local target=$1 logf=$RESULTS/$2.log port="" attempt i
	LOGF=$logf
	DATA_DIR=""
	case $target in
	ceiling)
		"$BIN/ceiling" -listen 127.0.0.1:0 >"$logf" 2>&1 &
		SERVER_PID=$!
		for i in $(seq 100); do
			port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$logf")
			[[ -n $port ]] && break
			sleep 0.1
		done
		[[ -n $port ]] || die "ceiling did not report its address (see $logf)"
		;;
	dynalite | godwit)
		[[ $target != godwit || $GODWIT_OK == 1 ]] || return 1
		for attempt in 1 2 3; do
			port=$(free_port)
			if [[ $target == dynalite ]]; then
				# In memory: no --path. createTableMs 0 skips its artificial CREATING delay.
				node "$DYNALITE_DIR/node_modules/dynalite/cli.js" --host 127.0.0.1 --port "$port" --createTableMs 0 >"$logf" 2>&1 &
			else
				DATA_DIR=$(mktemp -d "$DATA_ROOT/godwit-data.XXXXXX")
				# shellcheck disable=SC2086 # GODWIT_ARGS is a list of words
				"$BIN/godwit" serve --listen "127.0.0.1:$port" --data-dir "$DATA_DIR" $GODWIT_ARGS >"$logf" 2>&1 &
			fi
			SERVER_PID=$!
			wait_listening "$port" && break
			log "$target did not come up on port $port (attempt $attempt); last lines of $logf:"
			tail -n 5 "$logf" >&2 || true
			stop_server
			((attempt < 3)) || {
				NOTES+=("$target: server did not start, see $logf")
				return 1
			}
		done
		;;
	*) die "unknown target '$target' (want ceiling, dynalite or godwit)" ;;
	esac
	ENDPOINT=http://127.0.0.1:$port
	log "$target: pid $SERVER_PID on $ENDPOINT, log $logf"
}

# loadgen TARGET BOUND ARGS...: runs loadgen against ENDPOINT; its JSON line
# goes to stdout. Fails if the server died.
loadgen() {
	local target=$1 bound=$2
	shift 2
	if ! bounded "$bound" "$BIN/loadgen" -endpoint "$ENDPOINT" -label "$target" -table bench \
		-conns "$CONNS" -item-size "$ITEM_SIZE" -keys "$KEYS" -ready-timeout 60s \
		-load-timeout "$LOAD_TIMEOUT" "$@"; then
		if ! kill -0 "$SERVER_PID" 2>/dev/null; then
			log "$target server died; last lines of $LOGF:"
			tail -n 20 "$LOGF" >&2 || true
		fi
		return 1
	fi
}

# --- throughput and latency --------------------------------------------------

JSONL=$RESULTS/results.jsonl
: >"$JSONL"
[[ -n $GODWIT_NOTE ]] && NOTES+=("$GODWIT_NOTE")

for target in $TARGETS; do
	if ! start_server "$target" "$target"; then
		continue
	fi
	if [[ $target != ceiling ]]; then
		log "$target: creating table and loading $KEYS items"
		if ! loadgen "$target" "$LOAD_BOUND" -create -load "$KEYS" >>"$RESULTS/load.jsonl"; then
			NOTES+=("$target: preload failed, no figures")
			stop_server
			continue
		fi
	fi
	for rep in $(seq "$REPS"); do
		for op in put get "$MIX"; do
			log "$target: $op, run $rep of $REPS"
			loadgen "$target" "$RUN_BOUND" -op "$op" -duration "$DURATION" -warmup "$WARMUP" -rate "$RATE" >>"$JSONL" ||
				NOTES+=("$target: $op run $rep failed")
		done
	done
	stop_server
done

# --- memory check -------------------------------------------------------------

RSS_JSONL=$RESULTS/rss.jsonl
: >"$RSS_JSONL"
if [[ $SKIP_RSS != 1 ]]; then
	for target in $RSS_TARGETS; do
		[[ $target != ceiling ]] || continue
		if ! start_server "$target" "$target-rss"; then
			continue
		fi
		log "$target: memory check, loading $RSS_ITEMS items of $ITEM_SIZE bytes"
		# NB: not in $(...): the loadgen must run in this shell so the traps
		# can stop it.
		if loadgen "$target" "$LOAD_BOUND" -create -load "$RSS_ITEMS" -keys "$RSS_ITEMS" >"$WORK/rss-load.json"; then
			line=$(cat "$WORK/rss-load.json")
			status=/proc/$SERVER_PID/status
			rss=$(awk '/^VmRSS:/ {print $2}' "$status")
			hwm=$(awk '/^VmHWM:/ {print $2}' "$status")
			dir=0
			[[ -n $DATA_DIR ]] && dir=$(du -sk "$DATA_DIR" | awk '{print $1}')
			note=""
			[[ $target == dynalite ]] && note="in memory"
			lops=$(sed -n 's/.*"ops_per_sec":\([-0-9.e+]*\).*/\1/p' <<<"$line")
			lerr=$(sed -n 's/.*"errors":\([0-9]*\).*/\1/p' <<<"$line")
			printf '{"kind":"rss","target":"%s","items":%d,"item_size":%d,"load_ops_per_sec":%s,"load_errors":%s,"vmrss_kb":%d,"vmhwm_kb":%d,"data_dir_kb":%d,"note":"%s"}\n' \
				"$target" "$RSS_ITEMS" "$ITEM_SIZE" "$lops" "$lerr" "$rss" "$hwm" "$dir" "$note" >>"$RSS_JSONL"
			log "$target: VmRSS ${rss} kB, VmHWM ${hwm} kB, data dir ${dir} kB"
		else
			NOTES+=("$target: memory check failed")
		fi
		stop_server
	done
fi

# --- report -------------------------------------------------------------------

cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || echo unknown)
mem=$(awk '/^MemTotal:/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo 2>/dev/null || echo unknown)
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
{
	echo "Command: \`$COMMAND\`"
	echo
	echo "Run $(date -u +%Y-%m-%dT%H:%MZ) on $cpu, $(nproc) CPUs, $mem RAM, $(uname -sr); $(go version | awk '{print $3}'), godwit $commit."
	echo "All servers and loadgen share this machine over 127.0.0.1, one server at a time."
	[[ " $TARGETS " == *" dynalite "* ]] && echo "dynalite $DYNALITE_VERSION (node $(node --version)) runs IN MEMORY (its default); it never touches disk."
	[[ " $TARGETS " == *" godwit "* ]] && echo "godwit runs with its defaults (fsync on every commit) on a fresh data dir on $(df -PT "$DATA_ROOT" | awk 'NR==2 {print $1 " (" $2 ")"}')."
	[[ " $TARGETS " == *" ceiling "* ]] && echo "ceiling answers {} to every request: the most this loadgen and HTTP stack can do here."
	echo
	"$BIN/report" -subject godwit -baselines dynalite,ceiling "$JSONL" "$RSS_JSONL"
	if ((${#NOTES[@]})); then
		echo
		for n in "${NOTES[@]}"; do echo "- $n"; done
	fi
} >"$RESULTS/benchmarks.md"
cat "$RESULTS/benchmarks.md"
log "results in $RESULTS"
