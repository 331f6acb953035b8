# shellcheck shell=bash disable=SC2034 # BIN, FAILED and NOTES are for the sourcing script
# What the benchmark driver scripts share; source it after setting
# BENCH_NAME (the log prefix) and RESULTS (where results go). It makes
#   WORK  a temporary directory for binaries (BIN=$WORK/bin),
#   DATA  a directory for data dirs, next to RESULTS and not in TMPDIR
#         (maybe a tmpfs, where fsync costs nothing),
# removes both on exit, and on exit stops the program whose pid is in
# CHILD_PID: SIGTERM (it stops the servers it started), up to 15 s, then
# SIGKILL (its servers get SIGKILL too: Pdeathsig). FAILED and NOTES are
# for the script's report.

log() { printf '[%s %s] %s\n' "$BENCH_NAME" "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

mkdir -p "$RESULTS"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/godwit-$BENCH_NAME.XXXXXX")
BIN=$WORK/bin
DATA=$(mktemp -d "$RESULTS/../data.XXXXXX")
CHILD_PID=""
FAILED=0
NOTES=()

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n $CHILD_PID ]]; then
		kill -TERM "$CHILD_PID" 2>/dev/null || true
		for _ in $(seq 150); do kill -0 "$CHILD_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$CHILD_PID" 2>/dev/null || true
	fi
	rm -rf "$WORK" "$DATA"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# seconds DURATION: a Go duration (1m30s, 500ms) in whole seconds, rounded up.
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
