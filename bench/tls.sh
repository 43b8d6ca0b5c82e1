#!/usr/bin/env bash
# tls.sh measures ssehub over HTTPS beside plain HTTP/1.1, in one run, on
# loopback: idle memory per subscriber (plain HTTP/1.1, TLS HTTP/1.1, TLS
# HTTP/2) beside the reference Mercure hub (the dunglas/mercure library
# behind net/http's HTTPS, HTTP/1.1 and HTTP/2, and the same library as a
# handler inside Caddy, as it ships: peers -server mercure-caddy), and
# the fan-out at 10,000 subscribers over TLS HTTP/1.1 and HTTP/2 beside
# plain HTTP/1.1. Beside the idle figures, the floor (bench/peers -server
# floor: connections taken over from net/http and kept, nothing else),
# plain and over TLS: what crypto/tls itself keeps per connection; and
# over HTTP/2, where it writes the head and a comment, flushes and waits,
# what any hub on net/http's HTTP/2 server pays per stream. It
# prints the JSON lines of 'sse bench' and the ratios BENCHMARKS.md
# quotes. Sizes: IDLE_CONNS, FANOUT_CONNS (0: idle only), DURATION.
set -euo pipefail

ROOT=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
cd "$ROOT"
# shellcheck source=bench/lib.sh
. bench/lib.sh

IDLE_CONNS=${IDLE_CONNS:-10000}
IDLE_HOLD=${IDLE_HOLD:-3s}
FANOUT_CONNS=${FANOUT_CONNS:-10000}
DURATION=${DURATION:-10s}
PUBLISHERS=${PUBLISHERS:-16}
# Ten thousand TLS handshakes take a minute or more on a loaded machine.
CONNECT_TIMEOUT=${CONNECT_TIMEOUT:-240s}
PORT=${PORT:-18443}
KEY=bench-only-key-0123456789abcdef0123

WORK=$(mktemp -d /tmp/ssehub-tls-bench.XXXXXX)
BIN=$WORK/bin
RESULTS=$WORK/results.jsonl
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
(cd bench/peers && go build -o "$BIN/peers" .)
describe_machine >&2

# One certificate for every server: the one --tls-self-signed makes.
CERTS=$WORK/certs
"$BIN/ssehub" --addr 127.0.0.1:0 --data "$CERTS" --tls-self-signed --jwt-key "$KEY" --log-level error >/dev/null 2>&1 &
pid=$!
for _ in $(seq 50); do [[ -s $CERTS/tls-localhost.crt ]] && break; sleep 0.1; done
kill "$pid"; wait "$pid" 2>/dev/null || true

# start NAME: starts a server on $PORT; names ending in -tls serve HTTPS.
start() {
	local data=$WORK/data-$RANDOM cmd
	case $1 in
	ssehub) cmd=("$BIN/ssehub" --addr "127.0.0.1:$PORT" --data "$data" --memory --jwt-key "$KEY" --jwt-issuer ssehub --demo=false --log-level warn) ;;
	ssehub-tls)
		mkdir -p "$data" && cp "$CERTS"/tls-localhost.* "$data"/
		cmd=("$BIN/ssehub" --addr "127.0.0.1:$PORT" --data "$data" --memory --tls-self-signed --jwt-key "$KEY" --jwt-issuer ssehub --demo=false --log-level warn) ;;
	floor) cmd=("$BIN/peers" -server floor -addr "127.0.0.1:$PORT") ;;
	floor-tls) cmd=("$BIN/peers" -server floor -addr "127.0.0.1:$PORT" -tls-cert "$CERTS/tls-localhost.crt" -tls-key "$CERTS/tls-localhost.key") ;;
	mercure-tls) cmd=("$BIN/peers" -server mercure-local -addr "127.0.0.1:$PORT" -data "$data" -jwt-key "$KEY" -tls-cert "$CERTS/tls-localhost.crt" -tls-key "$CERTS/tls-localhost.key") ;;
	mercure-caddy-tls) cmd=("$BIN/peers" -server mercure-caddy -addr "127.0.0.1:$PORT" -data "$data" -jwt-key "$KEY" -tls-cert "$CERTS/tls-localhost.crt" -tls-key "$CERTS/tls-localhost.key") ;;
	esac
	"${cmd[@]}" >"$WORK/server.log" 2>&1 &
	SERVER_PID=$!
	wait_port "$PORT" || { cat "$WORK/server.log" >&2; return 1; }
}

stop() {
	kill "$SERVER_PID" 2>/dev/null || true
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=
	sleep 1
}

# run NAME SCENARIO SCHEME ARGS...: one scenario against a fresh server.
run() {
	local name=$1 scenario=$2 scheme=$3
	shift 3
	# ssehub is loaded in Mercure 1.0 (sse bench's default), the reference
	# hub in the 0.x dialect it speaks.
	[[ $name == ssehub* ]] || set -- --protocol 0 "$@"
	set -- --connect-timeout "$CONNECT_TIMEOUT" "$@"
	start "$name"
	log "== $name: $scenario"
	echo "sse bench --name $name --scenario '$scenario' $* --jwt-key \"\$KEY\" --pid \$PID $scheme://127.0.0.1:$PORT/.well-known/mercure" >&2
	"$BIN/sse" bench --name "$name" --scenario "$scenario" "$@" --jwt-key "$KEY" --pid "$SERVER_PID" "$scheme://127.0.0.1:$PORT/.well-known/mercure" | tail -n1 | tee -a "$RESULTS"
	stop
}

run ssehub "idle, http/1.1" http --mode idle -c "$IDLE_CONNS" --duration "$IDLE_HOLD"
run ssehub-tls "idle, tls http/1.1" https --mode idle -c "$IDLE_CONNS" --duration "$IDLE_HOLD"
run floor "idle, http/1.1" http --mode idle -c "$IDLE_CONNS" --duration "$IDLE_HOLD"
run floor-tls "idle, tls http/1.1" https --mode idle -c "$IDLE_CONNS" --duration "$IDLE_HOLD"
run ssehub-tls "idle, tls h2" https --http2 --mode idle -c "$IDLE_CONNS" --duration "$IDLE_HOLD"
run floor-tls "idle, tls h2" https --http2 --mode idle -c "$IDLE_CONNS" --duration "$IDLE_HOLD"
run mercure-tls "idle, tls h2" https --http2 --mode idle -c "$IDLE_CONNS" --duration "$IDLE_HOLD"
run mercure-tls "idle, tls http/1.1" https --mode idle -c "$IDLE_CONNS" --duration "$IDLE_HOLD"
run mercure-caddy-tls "idle, tls h2" https --http2 --mode idle -c "$IDLE_CONNS" --duration "$IDLE_HOLD"
run mercure-caddy-tls "idle, tls http/1.1" https --mode idle -c "$IDLE_CONNS" --duration "$IDLE_HOLD"
if ((FANOUT_CONNS > 0)); then
	run ssehub "fanout, http/1.1" http --mode fanout -c "$FANOUT_CONNS" --rate 0 --publishers "$PUBLISHERS" --duration "$DURATION"
	run ssehub-tls "fanout, tls http/1.1" https --mode fanout -c "$FANOUT_CONNS" --rate 0 --publishers "$PUBLISHERS" --duration "$DURATION"
	run ssehub-tls "fanout, tls h2" https --http2 --mode fanout -c "$FANOUT_CONNS" --rate 0 --publishers "$PUBLISHERS" --duration "$DURATION"
fi

# The ratios, from the JSON lines.
jq -rs '
	def get(n; s): map(select(.name == n and .scenario == s))[0];
	def kib(r): (r.server.rss_per_conn_bytes / 1024 * 10 | round / 10);
	def ratio(a; b): (a.server.rss_per_conn_bytes / b.server.rss_per_conn_bytes * 100 | round / 100);
	get("ssehub"; "idle, http/1.1") as $p | get("ssehub-tls"; "idle, tls http/1.1") as $t1 |
	get("ssehub-tls"; "idle, tls h2") as $t2 | get("mercure-tls"; "idle, tls h2") as $m2 |
	get("mercure-tls"; "idle, tls http/1.1") as $m1 |
	get("floor-tls"; "idle, tls h2") as $fl2 |
	get("mercure-caddy-tls"; "idle, tls h2") as $c2 | get("mercure-caddy-tls"; "idle, tls http/1.1") as $c1 |
	get("floor"; "idle, http/1.1") as $fl | get("floor-tls"; "idle, tls http/1.1") as $flt |
	get("ssehub"; "fanout, http/1.1") as $fp | get("ssehub-tls"; "fanout, tls http/1.1") as $f1 |
	get("ssehub-tls"; "fanout, tls h2") as $f2 |
	"idle KiB per subscriber: plain h1 \(kib($p)), tls h1 \(kib($t1)), tls h2 \(kib($t2)); mercure tls h2 \(kib($m2)), tls h1 \(kib($m1)); mercure in caddy tls h2 \(kib($c2)), tls h1 \(kib($c1))",
	"idle KiB per connection, floor: plain h1 \(kib($fl)), tls h1 \(kib($flt)); what tls h1 adds: to the floor (crypto/tls) \(kib($flt) - kib($fl) | . * 10 | round / 10), to ssehub \(kib($t1) - kib($p) | . * 10 | round / 10)",
	"ssehub tls h2 / mercure tls h2 per stream: \(ratio($t2; $m2)); net/http h2 floor \(kib($fl2)) KiB, ssehub / floor \(ratio($t2; $fl2)), floor / mercure in caddy \(ratio($fl2; $c2))",
	"ssehub / mercure in caddy per subscriber: tls h2 \(ratio($t2; $c2)), tls h1 \(ratio($t1; $c1))",
	if $fp == null then empty else "fan-out deliveries/s: plain h1 \($fp.deliveries_per_sec | round), tls h1 \($f1.deliveries_per_sec | round) (×\($f1.deliveries_per_sec / $fp.deliveries_per_sec * 100 | round / 100)), tls h2 \($f2.deliveries_per_sec | round) (×\($f2.deliveries_per_sec / $fp.deliveries_per_sec * 100 | round / 100)); lost \($fp.lost)/\($f1.lost)/\($f2.lost)" end
' "$RESULTS"
