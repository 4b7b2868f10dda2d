#!/usr/bin/env bash
# The scale run of docs/PERFORMANCE.md (`make bench-scale`): a synthetic
# release at the seeds' scale, then real processes — the sidecar pinned to
# one core, the load generator (bench/loadgen) to the other — and the Go
# benchmarks at that scale, and OPA side by side (bench/opa). Not part of
# `make test`: it takes about 8 minutes and wants a quiet machine.
#
# Writes $OUT (default bench-results/): machine.txt, results.jsonl (one JSON
# object per measurement), go-bench.txt, opa-bench.txt, and summary.txt.
#
# Environment: ENTRIES (706000), RULES (61000), SEED (1), SERVER_CPU (0),
# CLIENT_CPU (1), DURATION (3s per gRPC measurement), ROUNDS (3), SKIP_GO=1
# and SKIP_OPA=1 to leave those parts out.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOWORK=off GOFLAGS=-buildvcs=false

ENTRIES=${ENTRIES:-706000}
RULES=${RULES:-61000}
SEED=${SEED:-1}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
DURATION=${DURATION:-3s}
ROUNDS=${ROUNDS:-3}
OUT=${OUT:-bench-results}
GRPC=127.0.0.1:17600
HTTP=127.0.0.1:17601
BUREAU=127.0.0.1:17700
ADMIN=127.0.0.1:17701

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
W=$(mktemp -d)
RESULTS=$OUT/results.jsonl
: >"$RESULTS"
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ -n "${KEEP:-}" ]; then echo "work directory kept: $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT

note() { echo "== $*" >&2; }
load() { echo "{\"measure\":\"load_average\",\"when\":\"$1\",\"uptime\":\"$(uptime | sed 's/.*load average: //')\"}" >>"$RESULTS"; }
server() { taskset -c "$SERVER_CPU" "$@"; }
client() { taskset -c "$CLIENT_CPU" "$@"; }
elapsed() { # elapsed NAME CMD... : wall seconds of CMD into results
	local name=$1 t0 t1
	shift
	t0=$(date +%s%N)
	"$@" >"$W/$name.out"
	t1=$(date +%s%N)
	echo "{\"measure\":\"$name\",\"seconds\":$(awk "BEGIN{print ($t1-$t0)/1e9}")}" >>"$RESULTS"
}
rss_mb() { awk '/VmRSS/{print $2/1024}' "/proc/$1/status"; }

{
	echo "date:    $(date -u +%FT%TZ)"
	echo "nproc:   $(nproc)"
	echo "cpu:     $(lscpu | sed -n 's/^Model name: *//p')"
	echo "memory:  $(free -m | awk '/Mem:/{print $2 " MiB"}')"
	echo "go:      $(go version)"
	echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo -)"
	echo "cores:   sidecar taskset -c $SERVER_CPU, load generator taskset -c $CLIENT_CPU"
	echo "uptime:  $(uptime)"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

note "build"
go build -o "$W/rxguard" ./cmd/rxguard
go build -tags benchecho -o "$W/rxguard-bench" ./cmd/rxguard
go build -o "$W/loadgen" ./bench/loadgen
PUB=$("$W/rxguard" bureau keygen -out "$W/k.key" 2>/dev/null)

note "kb synth: $ENTRIES entries, $RULES rules, seed $SEED"
load before-synth
elapsed synth server "$W/rxguard" kb synth -entries "$ENTRIES" -rules "$RULES" -seed "$SEED" -key "$W/k.key" -o "$W/synth.rxrel"
cat "$W/synth.out" >&2
elapsed synth_delta server "$W/rxguard" kb synth -delta-records 10000 -parent "$W/synth.rxrel" -seed "$SEED" -key "$W/k.key" -o "$W/delta.rxrel"
DELTA_VERSION=$(awk '/^release/{print $2}' "$W/synth_delta.out")

note "full import (kb import-release: verify, store, compile, activate)"
load before-import
elapsed full_import server "$W/rxguard" kb import-release -data "$W/data" -trusted-key "$PUB" "$W/synth.rxrel"
cat "$W/full_import.out" >&2
du -sm "$W/data/kb" | awk '{print "{\"measure\":\"store_size\",\"mb\":" $1 "}"}' >>"$RESULTS"

start_sidecar() { # start_sidecar [extra serve flags]: sets SIDECAR
	local t0
	t0=$(date +%s%N)
	# taskset execs the sidecar: $! is the sidecar's own pid (for its RSS).
	GOMEMLIMIT=${GOMEMLIMIT:-256MiB} taskset -c "$SERVER_CPU" "$W/rxguard-bench" serve -data "$W/data" -grpc "$GRPC" -http "$HTTP" "$@" 2>>"$W/sidecar.log" &
	SIDECAR=$!
	PIDS+=("$SIDECAR")
	client "$W/loadgen" ready -addr "$GRPC" -since "$t0" >>"$RESULTS"
}
stop_sidecar() {
	kill "$SIDECAR"
	wait "$SIDECAR" 2>/dev/null || true
}

note "cold start, gRPC vs echo vs empty, steady RSS"
load before-wire
start_sidecar
sleep 2
echo "{\"measure\":\"idle_rss\",\"mb\":$(rss_mb "$SIDECAR")}" >>"$RESULTS"
client "$W/loadgen" compare -addr "$GRPC" -callers 1,50 -duration "$DURATION" -rounds "$ROUNDS" -pid "$SIDECAR" >>"$RESULTS"
client "$W/loadgen" load -addr "$GRPC" -n 100000 -callers 50 -pid "$SIDECAR" >>"$RESULTS"
load after-wire
stop_sidecar

note "the same comparison with the decision log off (what the log costs on one core)"
printf 'decision_log:\n  disabled: true\n' >"$W/nolog.yaml"
start_sidecar -config "$W/nolog.yaml"
sed -i '$ s/"measure":"cold_start"/"measure":"cold_start","decision_log":false/' "$RESULTS"
client "$W/loadgen" compare -addr "$GRPC" -callers 1,50 -duration "$DURATION" -rounds "$ROUNDS" -pid "$SIDECAR" |
	sed 's/"measure":"grpc"/"measure":"grpc","decision_log":false/' >>"$RESULTS"
stop_sidecar

note "10k-record delta through the bureau: apply time, p99 during vs idle, RSS while switching"
# The bureau's admin service takes an admin token (issue 12); publish
# reads it from RXGUARD_TOKEN.
"$W/rxguard" token new -role admin -name bench-publisher 2>/dev/null >"$W/admin-token.txt"
awk '$1=="line"{print $2, $3, $4}' "$W/admin-token.txt" >"$W/admin-tokens"
RXGUARD_TOKEN=$(awk '$1=="token"{print $2}' "$W/admin-token.txt")
export RXGUARD_TOKEN
taskset -c "$CLIENT_CPU" "$W/rxguard" bureau serve -key "$W/k.key" -dir "$W/bureau" -listen "$BUREAU" -admin "$ADMIN" -admin-tokens "$W/admin-tokens" -demo=false 2>>"$W/bureau.log" &
PIDS+=("$!")
sleep 1
client "$W/rxguard" bureau publish -admin "$ADMIN" "$W/synth.rxrel" >&2
start_sidecar -bureau "$BUREAU" -trusted-key "$PUB" -poll 200ms
sleep 3
load before-delta
client "$W/loadgen" delta -addr "$GRPC" -status "http://$HTTP/status" -version "$DELTA_VERSION" -pid "$SIDECAR" -idle 10s -sidecar-log "$W/sidecar.log" -- \
	"$W/rxguard" bureau publish -admin "$ADMIN" "$W/delta.rxrel" >>"$RESULTS"
grep 'bureau release installed' "$W/sidecar.log" | tail -1 | sed 's/^/sidecar: /' >&2 || true
grep 'bureau release installed' "$W/sidecar.log" | tail -1 | sed -n 's/.*took=\([^ ]*\).*/{"measure":"delta_install_logged","took":"\1"}/p' >>"$RESULTS"
load after-delta
stop_sidecar

if [ "${SKIP_GO:-}" != 1 ]; then
	note "Go benchmarks at scale (in-process, pinned to core $SERVER_CPU)"
	load before-go
	RXGUARD_SYNTH_ENTRIES=$ENTRIES RXGUARD_SYNTH_RULES=$RULES server go test ./server -run '^$' \
		-bench 'BenchmarkScale(Check|Engine|LongStay)$' -benchmem -count 3 -benchtime 5000x -timeout 30m | tee "$OUT/go-bench.txt" >&2
	RXGUARD_SYNTH_ENTRIES=$ENTRIES RXGUARD_SYNTH_RULES=$RULES server go test ./server -run '^$' \
		-bench 'BenchmarkScaleColdLoad$' -count 1 -benchtime 1x -timeout 30m | tee -a "$OUT/go-bench.txt" >&2
	load after-go
	# Plugins: the sidecar and its plugin processes unpinned (a plugin
	# round trip pinned to the sidecar's one core cannot overlap anything:
	# see docs/PERFORMANCE.md).
	note "plugins at scale (BenchmarkPluginsAtScale, unpinned)"
	RXGUARD_SYNTH_ENTRIES=$ENTRIES RXGUARD_SYNTH_RULES=$RULES go test ./server -run '^$' \
		-bench 'BenchmarkPluginsAtScale/release=synth' -count 3 -benchtime 8x -timeout 30m | tee "$OUT/plugins-bench.txt" >&2
	load after-plugins
fi

if [ "${SKIP_OPA:-}" != 1 ]; then
	note "OPA side by side (bench/opa)"
	load before-opa
	(cd bench/opa && RXGUARD_SYNTH_ENTRIES=$ENTRIES RXGUARD_SYNTH_RULES=$RULES OPA_SERVER_CPU=$SERVER_CPU CLIENT_CPU=$CLIENT_CPU \
		go test -run '^$' -bench . -benchmem -count 1 -benchtime 2000x -timeout 30m) | tee "$OUT/opa-bench.txt" >&2
	load after-opa
fi

"$W/loadgen" summary "$RESULTS" | tee "$OUT/summary.txt"
