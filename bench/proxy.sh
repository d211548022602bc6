#!/usr/bin/env bash
# proxy.sh: `ports map` against haproxy 2.6 (TCP mode, option
# splice-auto), rinetd, socat and a bare Go io.Copy forwarder
# (bench/gofwd), all on loopback, in one run:
#   1. throughput: iperf3 -t SECONDS, single stream, through each (and
#      direct), ROUNDS interleaved rounds, median;
#   2. short connections per second: bench/connbench opens N connections
#      (4 at a time) through each to a Go echo server, one 32-byte round
#      trip each, median of ROUNDS;
#   3. latency: median 32-byte round trip on one connection, direct and
#      through each, median of ROUNDS.
# `ports map` runs with --metrics and an --allow list on, as deployed.
# Prints a Markdown table. Usage: bench/proxy.sh [ROUNDS [SECONDS]]
# Nothing leaves loopback.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

rounds=${1:-3}
secs=${2:-5}
for p in iperf3 haproxy rinetd socat python3; do
	need_peer "$p" "Debian: apt-get install $p"
done
bench_setup
(cd "$BENCH_ROOT" && go build -o "$BENCH_TMP/gofwd" ./bench/gofwd && go build -o "$BENCH_TMP/connbench" ./bench/connbench) ||
	bench_die "building bench/gofwd and bench/connbench failed"

read -r -a P <<<"$(ports free -n 12 --range 20000-29999 --tcp --bind 127.0.0.1 | tr '\n' ' ')"
((${#P[@]} == 12)) || bench_die "no 12 free ports"
iperf_port=${P[0]} echo_port=${P[1]} metrics_port=${P[2]}
names=(direct ports-map haproxy rinetd socat gofwd)
declare -A port=([ports-map]=${P[3]} [haproxy]=${P[4]} [rinetd]=${P[5]} [socat]=${P[6]} [gofwd]=${P[7]})

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

# start_forwarders TARGET_PORT: every forwarder to 127.0.0.1:TARGET_PORT.
start_forwarders() {
	local t=$1
	ports map "127.0.0.1:${port[ports-map]}" "127.0.0.1:$t" --allow 127.0.0.0/8 --allow ::1 \
		--metrics "127.0.0.1:$metrics_port" 2>"$BENCH_TMP/map.log" &
	pids+=($!)
	cat >"$BENCH_TMP/haproxy.cfg" <<EOF
global
	maxconn 4096
defaults
	mode tcp
	timeout connect 5s
	timeout client 60s
	timeout server 60s
	option splice-auto
frontend f
	bind 127.0.0.1:${port[haproxy]}
	default_backend b
backend b
	server s1 127.0.0.1:$t
EOF
	haproxy -db -f "$BENCH_TMP/haproxy.cfg" >"$BENCH_TMP/haproxy.log" 2>&1 &
	pids+=($!)
	echo "127.0.0.1 ${port[rinetd]} 127.0.0.1 $t" >"$BENCH_TMP/rinetd.conf"
	rinetd -f -c "$BENCH_TMP/rinetd.conf" &
	pids+=($!)
	socat "TCP-LISTEN:${port[socat]},bind=127.0.0.1,fork,reuseaddr" "TCP:127.0.0.1:$t" &
	pids+=($!)
	gofwd "127.0.0.1:${port[gofwd]}" "127.0.0.1:$t" &
	pids+=($!)
	local n
	for n in ports-map haproxy rinetd socat gofwd; do wait_port "${port[$n]}"; done
}

portof() { if [[ $1 == direct ]]; then echo "$2"; else echo "${port[$1]}"; fi; }

median() { python3 -c 'import sys,statistics; v=[float(x) for x in sys.argv[1:]]; print(statistics.median(v))' "$@"; }

declare -A gbps cps rtt

# 1. throughput
iperf3 -s -B 127.0.0.1 -p "$iperf_port" >/dev/null 2>&1 &
iperf_pid=$!
wait_port "$iperf_port"
start_forwarders "$iperf_port"
for r in $(seq "$rounds"); do
	for n in "${names[@]}"; do
		bps=$(iperf3 -c 127.0.0.1 -p "$(portof "$n" "$iperf_port")" -t "$secs" -J |
			python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["end"]["sum_received"]["bits_per_second"]/1e9)')
		gbps[$n]+="$bps "
		echo "round $r $n: $bps Gbit/s" >&2
	done
done
# Read whole before grep: grep -q stops at the first match, and curl's
# SIGPIPE would fail the pipeline (pipefail).
metrics_text=$(curl -s "http://127.0.0.1:$metrics_port/metrics")
if ! grep -q 'ports_map_bytes_total{direction="up",rule="map"}' <<<"$metrics_text"; then
	bench_die "ports map served no byte counters on --metrics"
fi
cleanup_pids
kill "$iperf_pid"
wait "$iperf_pid" 2>/dev/null || true

# 2 and 3. short connections and latency, to a Go echo server
connbench echo "127.0.0.1:$echo_port" &
echo_pid=$!
wait_port "$echo_port"
start_forwarders "$echo_port"
for r in $(seq "$rounds"); do
	for n in "${names[@]}"; do
		p=$(portof "$n" "$echo_port")
		c=$(connbench conns "127.0.0.1:$p" 3000 4)
		l=$(connbench rtt "127.0.0.1:$p" 5000)
		cps[$n]+="$c "
		rtt[$n]+="$l "
		echo "round $r $n: $c conns/s, rtt $l us" >&2
	done
done
cleanup_pids
kill "$echo_pid"
wait "$echo_pid" 2>/dev/null || true

declare -A mg mc mr
for n in "${names[@]}"; do
	# shellcheck disable=SC2086
	mg[$n]=$(median ${gbps[$n]})
	# shellcheck disable=SC2086
	mc[$n]=$(median ${cps[$n]})
	# shellcheck disable=SC2086
	mr[$n]=$(median ${rtt[$n]})
done
echo
echo "| path | Gbit/s (median of $rounds × ${secs}s) | vs haproxy | vs gofwd | conns/s (median) | vs haproxy | RTT µs (median) | added µs |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for n in "${names[@]}"; do
	python3 - "$n" "${mg[$n]}" "${mg[haproxy]}" "${mg[gofwd]}" "${mc[$n]}" "${mc[haproxy]}" "${mr[$n]}" "${mr[direct]}" <<'EOF'
import sys
n, g, gh, gg, c, ch, r, rd = sys.argv[1], *map(float, sys.argv[2:])
print(f"| {n} | {g:.1f} | {g/gh:.2f}× | {g/gg:.0%} | {c:.0f} | {c/ch:.2f}× | {r:.1f} | {r-rd:+.1f} |")
EOF
done
echo
echo "raw: throughput runs (Gbit/s):"
for n in "${names[@]}"; do echo "  $n: ${gbps[$n]}"; done
