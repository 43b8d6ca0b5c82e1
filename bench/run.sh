#!/usr/bin/env bash
# run.sh builds ssehub, the sse generator and the peer servers, runs every
# server through the same scenarios with 'sse bench', and writes
# BENCHMARKS.md, bench/latency.svg and the raw bench/results.jsonl.
#
# Sizes fit a 2-core machine in about twenty minutes; override them with the
# variables below, e.g. IDLE_CONNS=10000 bench/run.sh. SERVERS picks the
# servers, TARGET_SERVERS those run at the issue's target sizes, TARGETS=0
# skips those runs.
set -euo pipefail

ROOT=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
cd "$ROOT"
# shellcheck source=bench/lib.sh
. bench/lib.sh

SERVERS=${SERVERS:-"ssehub ssehub-memory go-sse r3labs eventsource mercure mercure-local floor"}
# The servers run at the issue's target sizes too, for its relative
# targets (a quarter of the best peer's memory, 3 × its fan-out, a third
# of its p99): about six minutes more with every peer.
TARGET_SERVERS=${TARGET_SERVERS:-$SERVERS}
IDLE_CONNS=${IDLE_CONNS:-5000}
IDLE_HOLD=${IDLE_HOLD:-3s}
FANOUT_CONNS=${FANOUT_CONNS:-2000}
FANOUT_RATE=${FANOUT_RATE:-10}
TOPIC_CONNS=${TOPIC_CONNS:-2000}
DURATION=${DURATION:-10s}
PUBLISHERS=${PUBLISHERS:-64}
FLOW_PUBLISHERS=${FLOW_PUBLISHERS:-4}
# The flat-out target scenario is about fan-out, not publishing: ssehub's
# publishes are durable (an fsync each), so with few publishers the publish
# rate, not the fan-out, bounds deliveries. Enough concurrent publishers let
# the subscribers' queues coalesce, as the target says.
TARGET_PUBLISHERS=${TARGET_PUBLISHERS:-16}
TARGETS=${TARGETS:-1}
PORT=${PORT:-18181}
KEY=bench-only-key-0123456789abcdef0123

WORK=$(mktemp -d /tmp/ssehub-bench.XXXXXX)
BIN=$WORK/bin
RESULTS=$WORK/results.jsonl
COMMANDS=$WORK/commands.txt
MACHINE=$WORK/machine.txt
URL=http://127.0.0.1:$PORT/.well-known/mercure
SERVER_PID=

cleanup() {
	if [[ -n $SERVER_PID ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
	rm -rf "$WORK"
}
trap cleanup EXIT

log "building into $BIN"
mkdir -p "$BIN"
go build -o "$BIN/ssehub" ./cmd/ssehub
go build -o "$BIN/sse" ./cmd/sse
go build -o "$BIN/report" ./bench/report
(cd bench/peers && go build -o "$BIN/peers" .)

{
	describe_machine
	# What one durable commit costs: the floor under a synced publish.
	secs=$(cd "$WORK" && dd if=/dev/zero of=dsync bs=4k count=100 oflag=dsync 2>&1 | awk '/copied/ {print $(NF-3)}')
	echo "synced 4 KiB write (dd oflag=dsync, in \$WORK's file system): $(awk -v s="$secs" 'BEGIN {printf "%.2f ms", s * 10}')"
	rm -f "$WORK/dsync"
} >"$MACHINE"

# start_server NAME DATA: starts server NAME on $PORT with a fresh data
# directory and waits until it accepts connections.
start_server() {
	local name=$1 data=$WORK/data-$name-$RANDOM cmd
	case $name in
	ssehub) cmd=("$BIN/ssehub" --addr "127.0.0.1:$PORT" --data "$data" --jwt-key "$KEY" --jwt-issuer ssehub --demo=false --log-level warn) ;;
	ssehub-memory) cmd=("$BIN/ssehub" --addr "127.0.0.1:$PORT" --data "$data" --memory --jwt-key "$KEY" --jwt-issuer ssehub --demo=false --log-level warn) ;;
	*) cmd=("$BIN/peers" -server "$name" -addr "127.0.0.1:$PORT" -data "$data" -jwt-key "$KEY") ;;
	esac
	echo "${cmd[*]/#$WORK/\$WORK} &" | sed "s|$KEY|\"\$KEY\"|" >>"$COMMANDS"
	"${cmd[@]}" >"$WORK/$name.log" 2>&1 &
	SERVER_PID=$!
	if wait_port "$PORT"; then return 0; fi
	log "$name did not start:"; cat "$WORK/$name.log" >&2
	return 1
}

stop_server() {
	kill "$SERVER_PID" 2>/dev/null || true
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=
	sleep 1 # let the closed connections leave TIME_WAIT's way
}

# bench NAME SCENARIO ARGS...: runs one scenario against a fresh server.
bench() {
	local name=$1 scenario=$2 line
	shift 2
	# ssehub is loaded in Mercure 1.0, the peers in the 0.x they speak.
	[[ $name == ssehub* ]] || set -- --protocol 0 "$@"
	if ! start_server "$name"; then
		printf '{"name":"%s","scenario":"%s","failed":"server did not start"}\n' "$name" "$scenario" >>"$RESULTS"
		return
	fi
	printf 'sse bench --name %q --scenario %q %s --jwt-key "$KEY" --pid "$SERVER_PID" %s\n' "$name" "$scenario" "$*" "$URL" >>"$COMMANDS"
	log "== $name: $scenario"
	line=$("$BIN/sse" bench --name "$name" --scenario "$scenario" "$@" --jwt-key "$KEY" --pid "$SERVER_PID" "$URL" | tail -n1) || true
	if [[ $line != \{* ]]; then
		line=$(printf '{"name":"%s","scenario":"%s","failed":"sse bench printed no result"}' "$name" "$scenario")
	fi
	echo "$line" >>"$RESULTS"
	stop_server
}

for s in $SERVERS; do
	bench "$s" "idle, $IDLE_CONNS subscribers" --mode idle -c "$IDLE_CONNS" --duration "$IDLE_HOLD"
done
for s in $SERVERS; do
	bench "$s" "fanout, $FANOUT_CONNS subscribers, $FANOUT_RATE updates/s" --mode fanout -c "$FANOUT_CONNS" --rate "$FANOUT_RATE" --publishers "$FLOW_PUBLISHERS" --duration "$DURATION"
done
for s in $SERVERS; do
	bench "$s" "fanout, $FANOUT_CONNS subscribers, $FLOW_PUBLISHERS publishers flat out" --mode fanout -c "$FANOUT_CONNS" --rate 0 --publishers "$FLOW_PUBLISHERS" --duration "$DURATION"
done
for s in $SERVERS; do
	bench "$s" "fanout, $FANOUT_CONNS subscribers, 1 publisher flat out" --mode fanout -c "$FANOUT_CONNS" --rate 0 --publishers 1 --duration "$DURATION"
done
for s in $SERVERS; do
	bench "$s" "topics, $TOPIC_CONNS subscribers, $FLOW_PUBLISHERS publishers flat out" --mode topics -c "$TOPIC_CONNS" --rate 0 --publishers "$FLOW_PUBLISHERS" --duration "$DURATION"
done
for s in $SERVERS; do
	bench "$s" "publish only, $PUBLISHERS publishers" --mode fanout -c 0 --rate 0 --publishers "$PUBLISHERS" --duration 5s
done
if [[ $TARGETS == 1 ]]; then
	for s in $TARGET_SERVERS; do
		bench "$s" "target: idle, 19000 subscribers" --mode idle -c 19000 --duration "$IDLE_HOLD"
	done
	for s in $TARGET_SERVERS; do
		bench "$s" "target: fanout, 10000 subscribers, 10 updates/s" --mode fanout -c 10000 --rate 10 --publishers "$FLOW_PUBLISHERS" --duration "$DURATION"
	done
	for s in $TARGET_SERVERS; do
		bench "$s" "target: fanout, 10000 subscribers, flat out, $TARGET_PUBLISHERS publishers" --mode fanout -c 10000 --rate 0 --publishers "$TARGET_PUBLISHERS" --duration "$DURATION"
	done
fi

echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$MACHINE"
cp "$RESULTS" bench/results.jsonl
"$BIN/report" -in "$RESULTS" -machine "$MACHINE" -commands "$COMMANDS" -md BENCHMARKS.md -svg bench/latency.svg
log "wrote BENCHMARKS.md, bench/latency.svg and bench/results.jsonl"
