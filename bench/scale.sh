#!/usr/bin/env bash
# scale.sh runs several ssehub processes on one port (--reuse-port) sharing
# one log, Redis (--redis) and NATS JetStream (--nats, a three-server
# cluster), loaded by 'sse bench' over loopback:
#
#   1. beside one hub on its own bolt log (the baseline of the ratios),
#      NODES hubs on each shared log: publishes/s with PUBLISHERS
#      publishers, fan-out deliveries/s to FANOUT_CONNS subscribers flat
#      out, and publish-to-receipt latency at RATE updates/s;
#   2. SCALE_CONNS subscribers over SCALE_HUBS hubs on each shared log,
#      held by SCALE_PROCS generator processes, one update per second for
#      SCALE_DURATION: connected, lost, p99, hub RSS per subscriber.
#      Beside them, PROBES subscribers of the same topic, one process each
#      and at the highest priority when run as root, time the updates
#      too: the hubs write to them in no particular order (hub.fanout
#      ranges over a map), so they sample the whole fan-out as the hubs
#      did it, without the queueing of the generator processes, which
#      share the cores with the hubs; and PROBES more on an idle hub on
#      the same log time the log's own delay. Their figures go into the
#      machine notes: how much of the latency is the generator's, the
#      fan-out's and the log's.
#
# One process may hold at most its file descriptor limit (20,000 here), so
# the subscribers are spread over several hubs and several generator
# processes, and come from source addresses 127.0.0.2, .3, ... (PER_SOURCE
# each) so that no source/destination pair runs out of ephemeral ports.
# Every process it starts is stopped at exit; each 'sse bench' bounds its
# own time. It prints the figures, and with WRITE=1 (the default) writes
# them into BENCHMARKS.md's section "Several hubs on one shared log".
set -euo pipefail

ROOT=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
cd "$ROOT"
# shellcheck source=bench/lib.sh
. bench/lib.sh

# LOGS are the shared logs to run (redis, jetstream); BASELINE=0 skips
# the one-hub bolt baseline, SHARED=0 part 1, SCALE=0 part 2.
LOGS=${LOGS:-"redis jetstream"}
BASELINE=${BASELINE:-1}
SHARED=${SHARED:-1}
SCALE=${SCALE:-1}
NODES=${NODES:-3}
PUBLISHERS=${PUBLISHERS:-64}
PUBLISH_DURATION=${PUBLISH_DURATION:-5s}
FANOUT_CONNS=${FANOUT_CONNS:-10000}
FLAT_PUBLISHERS=${FLAT_PUBLISHERS:-16}
RATE=${RATE:-10}
RATE_PUBLISHERS=${RATE_PUBLISHERS:-4}
DURATION=${DURATION:-10s}
SCALE_CONNS=${SCALE_CONNS:-100000}
SCALE_HUBS=${SCALE_HUBS:-6}
SCALE_PROCS=${SCALE_PROCS:-8}
SCALE_DURATION=${SCALE_DURATION:-60s}
PER_SOURCE=${PER_SOURCE:-10000}
PROBES=${PROBES:-12}
PROBE_PORT=${PROBE_PORT:-18282}
# Redis acknowledges an append once it is in the append-only file, synced
# as this says: always is bolt's durability (an fsync per publish).
REDIS_FSYNC=${REDIS_FSYNC:-always}
PORT=${PORT:-18281}
REDIS_PORT=${REDIS_PORT:-18291}
NATS_PORT=${NATS_PORT:-18301} # and the two after it; routes at +10, monitoring at +20
WRITE=${WRITE:-1}
KEY=bench-only-key-0123456789abcdef0123
# TOPIC is sse bench's default topic, which the probes subscribe to.
TOPIC=https://ssehub.test/bench

WORK=$(mktemp -d /tmp/ssehub-scale.XXXXXX)
BIN=$WORK/bin
RESULTS=$WORK/results.jsonl
COMMANDS=$WORK/commands.txt
MACHINE=$WORK/machine.txt
URL=http://127.0.0.1:$PORT/.well-known/mercure
HUB_PIDS=()
LOG_PIDS=()
PROBE_PIDS=()

stop_pids() {
	local p
	for p in "$@"; do kill "$p" 2>/dev/null || true; done
	for p in "$@"; do wait "$p" 2>/dev/null || true; done
}

cleanup() {
	stop_pids "${HUB_PIDS[@]}" "${LOG_PIDS[@]}" "${PROBE_PIDS[@]}"
	rm -rf "$WORK"
}
trap cleanup EXIT

for p in "$PORT" "$PROBE_PORT" "$REDIS_PORT" $(for i in 0 1 2; do echo $((NATS_PORT + i)) $((NATS_PORT + 10 + i)) $((NATS_PORT + 20 + i)); done); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		log "port $p is in use: set PORT, PROBE_PORT, REDIS_PORT or NATS_PORT"
		exit 1
	fi
done

log "building into $BIN"
mkdir -p "$BIN"
go build -o "$BIN/ssehub" ./cmd/ssehub
go build -o "$BIN/sse" ./cmd/sse
go build -o "$BIN/report" ./bench/report

# The shared logs this machine can run.
RUN_LOGS=
for l in $LOGS; do
	case $l in
	redis)
		if command -v redis-server >/dev/null; then RUN_LOGS+=" redis"; else log "skipping redis: no redis-server"; fi ;;
	jetstream)
		if ! command -v nats-server >/dev/null; then
			log "skipping jetstream: no nats-server (go install github.com/nats-io/nats-server/v2@latest)"
		elif [[ $("$BIN/ssehub" -h 2>&1 || true) != *'--nats '* ]]; then
			log "skipping jetstream: this ssehub has no --nats"
		else
			RUN_LOGS+=" jetstream"
		fi ;;
	*) log "unknown log $l: want redis or jetstream"; exit 2 ;;
	esac
done

{
	describe_machine
	if [[ $RUN_LOGS == *redis* ]]; then
		echo "Redis: $(redis-server --version | grep -o 'v=[^ ]*' | cut -c3-), append-only file synced: $REDIS_FSYNC"
	fi
	if [[ $RUN_LOGS == *jetstream* ]]; then
		echo "NATS: $(nats-server --version | awk '{print $2}'), three servers in one cluster, stream replicas 3 (file storage, their default sync)"
	fi
} >"$MACHINE"

# start_log LOG: starts a fresh log server (none for bolt) and sets
# LOG_FLAGS to the hub flags that use it.
start_log() {
	local i dir routes
	LOG_FLAGS=()
	case $1 in
	bolt) ;;
	redis)
		dir=$WORK/redis-$RANDOM
		mkdir -p "$dir"
		redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$dir" --save "" --daemonize no --logfile "" \
			--appendonly yes --appendfsync "$REDIS_FSYNC" >"$dir.log" 2>&1 &
		LOG_PIDS+=($!)
		wait_port "$REDIS_PORT" || { cat "$dir.log" >&2; return 1; }
		LOG_FLAGS=(--redis "redis://127.0.0.1:$REDIS_PORT/0")
		;;
	jetstream)
		routes=
		for i in 0 1 2; do routes+="${routes:+,}nats://127.0.0.1:$((NATS_PORT + 10 + i))"; done
		for i in 0 1 2; do
			dir=$WORK/nats-$i-$RANDOM
			mkdir -p "$dir"
			nats-server -a 127.0.0.1 -p $((NATS_PORT + i)) -m $((NATS_PORT + 20 + i)) -n "n$i" -js -sd "$dir" \
				--cluster_name bench --cluster "nats://127.0.0.1:$((NATS_PORT + 10 + i))" --routes "$routes" >"$dir.log" 2>&1 &
			LOG_PIDS+=($!)
		done
		for i in 0 1 2; do
			# /healthz answers 200 once JetStream has a meta leader.
			for _ in $(seq 300); do
				if curl -fs "http://127.0.0.1:$((NATS_PORT + 20 + i))/healthz" >/dev/null 2>&1; then continue 2; fi
				sleep 0.1
			done
			log "nats-server n$i is not healthy"; cat "$WORK"/nats-"$i"-*.log >&2; return 1
		done
		LOG_FLAGS=(--nats "nats://127.0.0.1:$NATS_PORT,nats://127.0.0.1:$((NATS_PORT + 1)),nats://127.0.0.1:$((NATS_PORT + 2))")
		;;
	esac
}

# start_hubs N: starts N hubs on $PORT with LOG_FLAGS and waits until each
# listens. The first one starts alone: on a fresh JetStream cluster, hubs
# starting at once may find the stream another is creating not there yet,
# and stop.
start_hubs() {
	local n=$1 i cmd reuse=()
	((n > 1)) && reuse=(--reuse-port)
	for ((i = 0; i < n; i++)); do
		cmd=("$BIN/ssehub" --addr "127.0.0.1:$PORT" "${reuse[@]}" --data "$WORK/hub-$i-$RANDOM" "${LOG_FLAGS[@]}"
			--jwt-key "$KEY" --jwt-issuer ssehub --demo=false --log-level warn)
		echo "${cmd[*]/#$WORK/\$WORK} &" | sed "s|$KEY|\"\$KEY\"|; s|$WORK|\$WORK|g" >>"$COMMANDS"
		"${cmd[@]}" >"$WORK/hub-$i.log" 2>&1 &
		HUB_PIDS+=($!)
		if ((i == 0)) && ! wait_listeners 1; then break; fi
	done
	if wait_listeners "$n"; then return 0; fi
	log "the hubs did not all start:"; tail -n 5 "$WORK"/hub-*.log >&2
	return 1
}

# wait_listeners N waits up to twenty seconds for N sockets listening on
# $PORT: each hub has its own.
wait_listeners() {
	for _ in $(seq 200); do
		if (($(ss -Hltn "sport = :$PORT" | wc -l) >= $1)); then return 0; fi
		sleep 0.1
	done
	return 1
}

# start_probes TOPIC starts PROBES subscribers of TOPIC on the hubs under
# test (they land on any of them), and PROBES more on a hub of their own
# on the same log (PROBE_PORT), which has nobody else to write to: its
# figures are the log's delay (publish, append, follow), the others' add
# the fan-out. Each is a 'sse tail' writing the latency of every update it
# gets (microseconds from the publisher's timestamp, the data's second
# field) into $WORK/probe-GROUP-N.txt. They end when the hubs stop.
start_probes() {
	local i tok u base group cmd prio=()
	rm -f "$WORK"/probe-*.txt
	((PROBES > 0)) || return 0
	[[ $(id -u) == 0 ]] && prio=(nice -n -19)
	cmd=("$BIN/ssehub" --addr "127.0.0.1:$PROBE_PORT" --data "$WORK/probe-hub-$RANDOM" "${LOG_FLAGS[@]}"
		--jwt-key "$KEY" --jwt-issuer ssehub --demo=false --log-level warn)
	echo "${cmd[*]} &" | sed "s|$KEY|\"\$KEY\"|; s|$WORK|\$WORK|g" >>"$COMMANDS"
	"${cmd[@]}" >"$WORK/probe-hub.log" 2>&1 &
	PROBE_PIDS+=($!)
	if ! wait_port "$PROBE_PORT"; then
		log "the probes' hub did not start:"; tail -n 5 "$WORK/probe-hub.log" >&2
	fi
	u=${1//:/%3A}
	u=${u//\//%2F}
	for group in busy idle; do
		base=$URL
		[[ $group == idle ]] && base=http://127.0.0.1:$PROBE_PORT/.well-known/mercure
		# A Mercure 1.0 token, as sse bench's: the topic goes in match=.
		tok=$("$BIN/sse" token --jwt-key "$KEY" --iss ssehub --aud "$base" --subscribe "$1")
		for ((i = 0; i < PROBES; i++)); do
			# shellcheck disable=SC2016 # expanded by the probe's shell
			"${prio[@]}" bash -c '"$1" tail --data-only --no-reconnect -H "Authorization: Bearer $2" "$3" 2>/dev/null |
				while read -r _ ns; do t=${EPOCHREALTIME/./}; echo $((t - ns / 1000)); done' \
				probe "$BIN/sse" "$tok" "$base?match=$u" >"$WORK/probe-$group-$i.txt" &
			PROBE_PIDS+=($!)
		done
		printf '%s probes: sse tail --data-only --no-reconnect -H "Authorization: Bearer $(sse token --jwt-key "$KEY" --iss ssehub --aud %s --subscribe %s)" %s\n' \
			"$PROBES" "$base" "$1" "$base?match=$u" >>"$COMMANDS"
	done
}

# probe_figures NAME stops the probes and adds their latency percentiles
# to the machine notes.
probe_figures() {
	local group where
	((PROBES > 0)) || return 0
	stop_pids "${PROBE_PIDS[@]}"
	PROBE_PIDS=()
	for group in busy idle; do
		where="on the hubs under test"
		[[ $group == idle ]] && where="on an idle hub on the same log"
		cat "$WORK"/probe-"$group"-*.txt | sort -n | awk -v name="$1" -v where="$where" -v probes="$PROBES" -v prio="$([[ $(id -u) == 0 ]] && echo ", at nice -19")" '
			{ v[NR] = $1 }
			END {
				if (NR == 0) { printf "probes, %s, %s: none got an update\n", name, where; exit }
				printf "probes, %s, %d subscribers %s%s, %d deliveries: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
					name, probes, where, prio, NR, v[int(NR * 0.50) + 1] / 1000, v[int(NR * 0.99) + 1] / 1000, v[NR] / 1000
			}' >>"$MACHINE"
	done
}

stop_all() {
	stop_pids "${HUB_PIDS[@]}" "${LOG_PIDS[@]}"
	HUB_PIDS=() LOG_PIDS=()
	sleep 1
}

# bench LOG HUBS SCENARIO ARGS...: runs one scenario on a fresh log and
# fresh hubs.
bench() {
	local lg=$1 n=$2 scenario=$3 name line pids
	shift 3
	name="$lg, $n hub"
	((n > 1)) && name+=s
	if ! start_log "$lg" || ! start_hubs "$n"; then
		printf '{"name":"%s","scenario":"%s","failed":"the hubs or the log did not start"}\n' "$name" "$scenario" >>"$RESULTS"
		stop_all
		return
	fi
	[[ $scenario == *"$SCALE_CONNS subscribers, 1 update/s" ]] && start_probes "$TOPIC"
	pids=$(IFS=,; echo "${HUB_PIDS[*]}")
	printf 'sse bench --name %q --scenario %q %s --jwt-key "$KEY" --pid "$HUB_PIDS" %s\n' "$name" "$scenario" "$*" "$URL" >>"$COMMANDS"
	log "== $name: $scenario"
	line=$("$BIN/sse" bench --name "$name" --scenario "$scenario" "$@" --jwt-key "$KEY" --pid "$pids" "$URL" | tail -n1) || true
	if [[ $line != \{* ]]; then
		line=$(printf '{"name":"%s","scenario":"%s","failed":"sse bench printed no result"}' "$name" "$scenario")
	fi
	echo "$line" >>"$RESULTS"
	stop_all
	[[ $scenario == *"$SCALE_CONNS subscribers, 1 update/s" ]] && probe_figures "$name"
	return 0
}

BASE_NAME=
if [[ $SHARED == 1 ]]; then
	logs=$RUN_LOGS
	if [[ $BASELINE == 1 ]]; then logs="bolt $RUN_LOGS"; BASE_NAME="bolt, 1 hub"; fi
	for lg in $logs; do
		n=$NODES
		[[ $lg == bolt ]] && n=1
		bench "$lg" "$n" "publish only, $PUBLISHERS publishers" --mode fanout -c 0 --rate 0 --publishers "$PUBLISHERS" --duration "$PUBLISH_DURATION"
		bench "$lg" "$n" "fanout, $FANOUT_CONNS subscribers, $FLAT_PUBLISHERS publishers flat out" --mode fanout -c "$FANOUT_CONNS" \
			--rate 0 --publishers "$FLAT_PUBLISHERS" --duration "$DURATION" --per-source "$PER_SOURCE"
		bench "$lg" "$n" "fanout, $FANOUT_CONNS subscribers, $RATE updates/s" --mode fanout -c "$FANOUT_CONNS" \
			--rate "$RATE" --publishers "$RATE_PUBLISHERS" --duration "$DURATION" --per-source "$PER_SOURCE"
	done
fi
if [[ $SCALE == 1 ]]; then
	for lg in $RUN_LOGS; do
		# One publisher: every subscriber gets the updates in order, so a
		# gap is a loss, told exactly.
		bench "$lg" "$SCALE_HUBS" "$SCALE_CONNS subscribers, 1 update/s" --mode fanout -c "$SCALE_CONNS" --procs "$SCALE_PROCS" \
			--per-source "$PER_SOURCE" --rate 1 --publishers 1 --duration "$SCALE_DURATION" --connect-timeout 4m --drain 10s
	done
fi

echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$MACHINE"
"$BIN/report" -section shared-log -base "$BASE_NAME" -in "$RESULTS" -machine "$MACHINE" -commands "$COMMANDS" -md "$WORK/section.md"
cat "$WORK/section.md"
log "raw results:"
cat "$RESULTS" >&2
if [[ $WRITE == 1 ]]; then
	"$BIN/report" -section shared-log -base "$BASE_NAME" -in "$RESULTS" -machine "$MACHINE" -commands "$COMMANDS" -md BENCHMARKS.md
	cp "$RESULTS" bench/scale-results.jsonl
	log "wrote BENCHMARKS.md's shared-log section and bench/scale-results.jsonl"
fi
# A scale run that lost or missed anything fails the script.
status=0
while IFS= read -r l; do
	case $l in
	*'"scenario":"'"$SCALE_CONNS"' subscribers, 1 update/s"'*)
		if [[ $l != *'"connected":'"$SCALE_CONNS"','* || $l != *'"lost":0,'* || $l != *'"undelivered":0,'* || $l != *'"duplicated":0,'* || $l != *'"dropped":0,'* ]]; then
			log "NOT CLEAN: $(printf '%s' "$l" | grep -o '"name":"[^"]*"')"
			status=1
		fi ;;
	esac
done <"$RESULTS"
exit $status
