#!/usr/bin/env bash
# Handshake and request rates of the socks and httpproxy packages against
# their C peers, in the same run: microsocks (SOCKS5) and tinyproxy (HTTP
# proxy), plus the direct connection as the baseline. Runs the Go
# benchmarks BenchmarkConnect (socks) and BenchmarkForward (httpproxy)
# ROUNDS times, alternating packages round by round, and prints the
# median rate of each case and its ratio to the peer (higher is faster).
# Needs microsocks and tinyproxy (Debian packages of the same names).
# Usage: bash bench/proxylib.sh [ROUNDS]
# This runs package benchmarks (not the ports command, as the other
# scripts do) because the packages are the product here: the commands
# that use them are measured by bench/proxy.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_peer microsocks "apt-get install microsocks"
need_peer tinyproxy "apt-get install tinyproxy"
need_peer python3 "apt-get install python3"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds=${1:-6}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/socks.test" ./socks
go test -c -o "$tmp/httpproxy.test" ./httpproxy
for _ in $(seq "$rounds"); do
	(cd socks && "$tmp/socks.test" -test.run '^$' -test.bench '^BenchmarkConnect$' -test.benchtime 3000x) >>"$tmp/out"
	(cd httpproxy && "$tmp/httpproxy.test" -test.run '^$' -test.bench '^BenchmarkForward$' -test.benchtime 3000x) >>"$tmp/out"
done
python3 - "$tmp/out" "$rounds" <<'PY'
import re, statistics, sys
rates, allocs = {}, {}
for line in open(sys.argv[1]):
    m = re.match(r'Benchmark(\S+)-\d+\s+\d+\s+[\d.]+ ns/op\s+([\d.]+) (conns/s|req/s)\s+(\d+) B/op\s+(\d+) allocs/op', line)
    if m:
        rates.setdefault(m[1], []).append(float(m[2]))
        allocs[m[1]] = (m[4], m[5], m[3])
peer = {"Connect": "microsocks", "Forward/keepalive": "tinyproxy", "Forward/newconn": "tinyproxy"}
print("| case | median | min | max | runs | vs peer | B/op, allocs/op (client and server) |")
print("| :--- | ---: | ---: | ---: | ---: | ---: | ---: |")
for name, v in rates.items():
    group, _, who = name.rpartition("/")
    p = rates.get(group + "/" + peer[group])
    ratio = statistics.median(v) / statistics.median(p) if p else float("nan")
    b, a, unit = allocs[name]
    print(f"| {name} | {statistics.median(v):,.0f} {unit} | {min(v):,.0f} | {max(v):,.0f} | {len(v)} | {ratio:.2f}x | {b}, {a} |")
PY
