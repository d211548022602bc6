#!/usr/bin/env bash
# tls.sh: TLS termination by `ports map --tls-cert` against haproxy 2.6
# (mode tcp, bind ... ssl crt), on loopback, in one run, each to a Go
# backend in plaintext:
#   1. handshakes per second: bench/connbench tlsconns opens N TLS
#      connections (4 at a time, full handshakes, no resumption; ECDSA
#      P-256 certificate from openssl req), one 32-byte round trip each,
#      through each to an echo server, median of ROUNDS;
#   2. throughput: bench/connbench tlsput writes for SECONDS over one TLS
#      connection through each to a sink, Gbit/s of plaintext, median of
#      ROUNDS.
# `ports map` runs with --metrics on, as deployed. Prints a Markdown
# table. Usage: bench/tls.sh [ROUNDS [SECONDS [N]]]. Nothing leaves
# loopback.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

rounds=${1:-3}
secs=${2:-3}
n=${3:-2000}
for p in haproxy openssl python3; do
	need_peer "$p" "Debian: apt-get install $p"
done
bench_setup
(cd "$BENCH_ROOT" && go build -o "$BENCH_TMP/connbench" ./bench/connbench) || bench_die "building bench/connbench failed"

read -r -a P <<<"$(ports free -n 6 --range 20000-29999 --tcp --bind 127.0.0.1 | tr '\n' ' ')"
((${#P[@]} == 6)) || bench_die "no 6 free ports"
echo_port=${P[0]} sink_port=${P[1]} metrics_port=${P[2]}
names=(ports-map haproxy)
declare -A port=([ports-map]=${P[3]} [haproxy]=${P[4]})

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=bench.test \
	-addext subjectAltName=DNS:bench.test -keyout "$BENCH_TMP/key.pem" -out "$BENCH_TMP/cert.pem" 2>/dev/null ||
	bench_die "openssl req failed"
cat "$BENCH_TMP/cert.pem" "$BENCH_TMP/key.pem" >"$BENCH_TMP/haproxy.pem"

pids=()
cleanup_pids() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
}
trap 'cleanup_pids; rm -rf "$BENCH_TMP"' EXIT

wait_port() {
	local i
	for i in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.05
	done
	bench_die "nothing listens on 127.0.0.1:$1"
}

# start_terminators TARGET_PORT: both to 127.0.0.1:TARGET_PORT.
start_terminators() {
	local t=$1
	ports map "127.0.0.1:${port[ports-map]}" "127.0.0.1:$t" --tls-cert "$BENCH_TMP/cert.pem" --tls-key "$BENCH_TMP/key.pem" \
		--metrics "127.0.0.1:$metrics_port" 2>"$BENCH_TMP/map.log" &
	pids+=($!)
	cat >"$BENCH_TMP/haproxy.cfg" <<EOC
global
	maxconn 4096
defaults
	mode tcp
	timeout connect 5s
	timeout client 60s
	timeout server 60s
frontend f
	bind 127.0.0.1:${port[haproxy]} ssl crt $BENCH_TMP/haproxy.pem
	default_backend b
backend b
	server s1 127.0.0.1:$t
EOC
	haproxy -db -f "$BENCH_TMP/haproxy.cfg" >"$BENCH_TMP/haproxy.log" 2>&1 &
	pids+=($!)
	for p in "${port[@]}"; do wait_port "$p"; done
}

median() { python3 -c 'import sys,statistics; v=[float(x) for x in sys.argv[1:]]; print(statistics.median(v))' "$@"; }

declare -A hs put

connbench echo "127.0.0.1:$echo_port" &
pids+=($!)
connbench sink "127.0.0.1:$sink_port" &
pids+=($!)
wait_port "$echo_port"
wait_port "$sink_port"
# One pair of terminators per backend: the handshake test to the echo
# server, the throughput test to the sink.
start_terminators "$echo_port"
for r in $(seq "$rounds"); do
	for nm in "${names[@]}"; do
		h=$(connbench tlsconns "127.0.0.1:${port[$nm]}" "$n" 4 "$BENCH_TMP/cert.pem" bench.test)
		hs[$nm]+="$h "
		echo "round $r $nm: $h handshakes/s" >&2
	done
done
kill "${pids[@]:2}" 2>/dev/null || true
wait "${pids[@]:2}" 2>/dev/null || true
pids=("${pids[@]:0:2}")
start_terminators "$sink_port"
for r in $(seq "$rounds"); do
	for nm in "${names[@]}"; do
		g=$(connbench tlsput "127.0.0.1:${port[$nm]}" "$secs" "$BENCH_TMP/cert.pem" bench.test)
		put[$nm]+="$g "
		echo "round $r $nm: $g Gbit/s" >&2
	done
done

echo
echo "| terminator | TLS handshakes/s (median of $rounds × $n) | vs haproxy | Gbit/s through TLS (median of $rounds × ${secs}s) | vs haproxy |"
echo "|---|---:|---:|---:|---:|"
for nm in "${names[@]}"; do
	python3 - "$nm" "$(median ${hs[$nm]})" "$(median ${hs[haproxy]})" "$(median ${put[$nm]})" "$(median ${put[haproxy]})" <<'EOP'
import sys
n, h, hh, g, gh = sys.argv[1], *map(float, sys.argv[2:])
print(f"| {n} | {h:.0f} | {h/hh:.2f}× | {g:.2f} | {g/gh:.2f}× |")
EOP
done
echo
echo "raw: handshakes/s:"
for nm in "${names[@]}"; do echo "  $nm: ${hs[$nm]}"; done
echo "raw: Gbit/s:"
for nm in "${names[@]}"; do echo "  $nm: ${put[$nm]}"; done
