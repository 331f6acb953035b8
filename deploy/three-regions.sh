#!/usr/bin/env bash
# Three godwit regions on one machine, each with its own data directory and
# embedded NATS server, peered with the other two over NATS.
#
#   deploy/three-regions.sh          build, start, wait for health, stay in the
#                                     foreground; Ctrl-C stops all three
#   deploy/three-regions.sh start    the same, but return once healthy
#   deploy/three-regions.sh stop     stop the regions a `start` left running
#   deploy/three-regions.sh status   which regions run, and their endpoints
#
# Region     DynamoDB API            embedded NATS
# us-east-1  http://127.0.0.1:8001   nats://127.0.0.1:4221
# us-west-2  http://127.0.0.1:8002   nats://127.0.0.1:4222
# eu-west-1  http://127.0.0.1:8003   nats://127.0.0.1:4223
#
# Environment: GODWIT_DEMO_DIR (default ./godwit-three-regions) holds the
# binary, data directories, logs and pid files; GODWIT_LOG_LEVEL (default
# info). Data survives a stop; delete the directory to start afresh.
set -euo pipefail

REGIONS=(us-east-1 us-west-2 eu-west-1)
API_PORTS=(8001 8002 8003)
NATS_PORTS=(4221 4222 4223)

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
DIR=${GODWIT_DEMO_DIR:-$PWD/godwit-three-regions}
BIN=$DIR/godwit
LOG_LEVEL=${GODWIT_LOG_LEVEL:-info}
HEALTH_TIMEOUT=60 # seconds

log() { printf '%s\n' "$*" >&2; }

pidfile() { printf '%s/%s.pid' "$DIR" "$1"; }

# running REGION: succeeds when REGION's recorded process is alive.
running() {
	local f pid
	f=$(pidfile "$1")
	[[ -f $f ]] || return 1
	pid=$(<"$f")
	kill -0 "$pid" 2>/dev/null
}

stop_all() {
	local r f pid
	for r in "${REGIONS[@]}"; do
		f=$(pidfile "$r")
		if running "$r"; then
			pid=$(<"$f")
			log "stopping $r (pid $pid)"
			kill -TERM "$pid" 2>/dev/null || true
		fi
	done
	# godwit finishes in-flight requests and drains its outbox on SIGTERM
	# (at most ~40 s); wait for every region to exit.
	for r in "${REGIONS[@]}"; do
		f=$(pidfile "$r")
		[[ -f $f ]] || continue
		pid=$(<"$f")
		while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
		rm -f "$f"
	done
}

status() {
	local i r
	for i in "${!REGIONS[@]}"; do
		r=${REGIONS[$i]}
		if running "$r"; then
			printf '%-10s running  http://127.0.0.1:%s  nats://127.0.0.1:%s  log %s/%s.log\n' \
				"$r" "${API_PORTS[$i]}" "${NATS_PORTS[$i]}" "$DIR" "$r"
		else
			printf '%-10s stopped\n' "$r"
		fi
	done
}

build() {
	mkdir -p "$DIR"
	log "building godwit into $BIN"
	(cd "$REPO" && go build -o "$BIN" ./cmd/godwit)
}

# peer_flags I: the --peer flags of region I, one per other region.
peer_flags() {
	local i=$1 j
	for j in "${!REGIONS[@]}"; do
		[[ $j == "$i" ]] && continue
		printf -- '--peer\n%s=nats://127.0.0.1:%s\n' "${REGIONS[$j]}" "${NATS_PORTS[$j]}"
	done
}

start_all() {
	local i r peers=() args
	for r in "${REGIONS[@]}"; do
		if running "$r"; then
			log "$r is already running (pid $(<"$(pidfile "$r")")); run '$0 stop' first"
			exit 1
		fi
	done
	build
	local with_peers=1
	if ! "$BIN" serve --help 2>&1 | grep -q -- '-peer'; then
		with_peers=0
		log "WARNING: this godwit build has no --peer flag: the three regions start unpeered" \
			"(replication needs the --peer support of issue 4)"
	fi
	for i in "${!REGIONS[@]}"; do
		r=${REGIONS[$i]}
		mkdir -p "$DIR/$r"
		args=(serve
			--region "$r"
			--listen "127.0.0.1:${API_PORTS[$i]}"
			--data-dir "$DIR/$r/data"
			--nats-listen "127.0.0.1:${NATS_PORTS[$i]}"
			--log-level "$LOG_LEVEL")
		if ((with_peers)); then
			mapfile -t peers < <(peer_flags "$i")
			args+=("${peers[@]}")
		fi
		log "starting $r: godwit ${args[*]}"
		"$BIN" "${args[@]}" >>"$DIR/$r.log" 2>&1 &
		echo $! >"$(pidfile "$r")"
	done
	wait_healthy
}

# wait_healthy polls GET / of every region until it answers 200, a region
# exits, or HEALTH_TIMEOUT passes.
wait_healthy() {
	local i r deadline=$((SECONDS + HEALTH_TIMEOUT))
	for i in "${!REGIONS[@]}"; do
		r=${REGIONS[$i]}
		until curl -fsS -o /dev/null "http://127.0.0.1:${API_PORTS[$i]}/"; do
			if ! running "$r"; then
				log "$r exited; the end of $DIR/$r.log:"
				tail -n 20 "$DIR/$r.log" >&2 || true
				stop_all
				exit 1
			fi
			if ((SECONDS >= deadline)); then
				log "$r not healthy after ${HEALTH_TIMEOUT}s; see $DIR/$r.log"
				stop_all
				exit 1
			fi
			sleep 0.2
		done
		log "$r is up on http://127.0.0.1:${API_PORTS[$i]}"
	done
}

usage_hint() {
	cat <<HINT

Three regions are up. Make a global table with the aws CLI:

  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=us-east-1
  EAST=--endpoint-url=http://127.0.0.1:8001 WEST=--endpoint-url=http://127.0.0.1:8002 EU=--endpoint-url=http://127.0.0.1:8003

  aws dynamodb create-table \$EAST --table-name Music \\
    --attribute-definitions AttributeName=Artist,AttributeType=S AttributeName=Song,AttributeType=S \\
    --key-schema AttributeName=Artist,KeyType=HASH AttributeName=Song,KeyType=RANGE \\
    --billing-mode PAY_PER_REQUEST
  aws dynamodb update-table \$EAST --table-name Music \\
    --replica-updates '[{"Create":{"RegionName":"us-west-2"}}]'
  aws dynamodb update-table \$EAST --table-name Music \\
    --replica-updates '[{"Create":{"RegionName":"eu-west-1"}}]'
  aws dynamodb describe-table \$EAST --table-name Music --query 'Table.Replicas'   # wait for ACTIVE

  aws dynamodb put-item \$WEST --table-name Music \\
    --item '{"Artist":{"S":"Nina Simone"},"Song":{"S":"Sinnerman"}}'
  aws dynamodb get-item \$EU --table-name Music \\
    --key '{"Artist":{"S":"Nina Simone"},"Song":{"S":"Sinnerman"}}'

(One replica update per UpdateTable call, as on AWS.) Metrics: http://127.0.0.1:8001/metrics
Data, logs and pids: $DIR
HINT
}

case ${1:-run} in
run)
	trap 'log; stop_all; exit 0' INT TERM
	start_all
	usage_hint
	log "Ctrl-C stops the three regions."
	# Stay in the foreground until a region exits or Ctrl-C.
	while running "${REGIONS[0]}" && running "${REGIONS[1]}" && running "${REGIONS[2]}"; do
		sleep 1
	done
	log "a region exited:"
	status
	stop_all
	exit 1
	;;
start)
	start_all
	usage_hint
	;;
stop) stop_all ;;
status) status ;;
*)
	log "usage: $0 [run|start|stop|status]"
	exit 2
	;;
esac
