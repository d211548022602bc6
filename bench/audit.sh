#!/usr/bin/env bash
# audit.sh: `ports audit` against what an admin runs for the same answer
# by hand, `ss -tulpn` and `nft list ruleset` (the baseline: both, one
# after the other, in one sh), on a machine with a real-sized ruleset.
#
# The machine is a network namespace of the script's own: lo and a veth
# pair with both ends inside it (nothing leaves the namespace), one end
# holding the default route, so that it is external; $PORTS listeners (bench/scanhold) on its address; a ruleset
# of $RULES port rules, a named set of $ELEMS IPv4 addresses with
# intervals, a vmap and a rule the evaluator does not understand.
#
# Usage: bench/audit.sh [cmdbench flags]   e.g. bench/audit.sh -runs 20
# Environment: PORTS (default 200), RULES (default 200), ELEMS (default
# 10000); PORTS_BIN to benchmark a built binary. Linux, as root.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

nports=${PORTS:-200} nrules=${RULES:-200} nelems=${ELEMS:-10000}
for v in "$nports" "$nrules" "$nelems"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || bench_die "PORTS, RULES and ELEMS must be positive numbers, not $v"
done
[[ $(uname -s) == Linux ]] || bench_die "Linux only (nftables)"
((EUID == 0)) || bench_die "needs root (network namespaces, nftables)"
need_peer ss "Debian: apt-get install iproute2"
need_peer nft "Debian: apt-get install nftables"

bench_setup
(cd "$BENCH_ROOT" && go build -o "$BENCH_TMP/scanhold" ./bench/scanhold) || bench_die "building ./bench/scanhold failed"

ns=pbaud-$(printf '%04x' $((RANDOM % 65536)))-$$
addr=198.18.$((RANDOM % 250)).1
holder_pid=""
cleanup() {
	[[ -n $holder_pid ]] && kill "$holder_pid" 2>/dev/null || true
	ip netns delete "$ns" 2>/dev/null || true
	rm -rf "$BENCH_TMP"
}
trap cleanup EXIT

ip netns add "$ns"
ip -n "$ns" link set lo up
ip link add b0 netns "$ns" type veth peer name b1 netns "$ns"
ip -n "$ns" addr add "$addr/24" dev b0
ip -n "$ns" link set b0 up
ip -n "$ns" link set b1 up
ip -n "$ns" route add default dev b0

{
	echo "table inet bench {"
	echo "	set allow { type ipv4_addr; flags interval; elements = {"
	for ((i = 0; i < nelems; i++)); do
		printf '\t\t10.%d.%d.0/24,\n' $((i / 256 % 256)) $((i % 256))
	done
	echo "	} }"
	echo "	chain input {"
	echo "		type filter hook input priority 0; policy drop;"
	echo "		ct state established,related accept"
	echo "		iifname lo accept"
	echo "		ip saddr @allow tcp dport 22 accept"
	for ((i = 0; i < nrules; i++)); do
		printf '\t\ttcp dport %d counter accept\n' $((30000 + i))
	done
	echo "		tcp dport vmap { 80 : accept, 443 : accept, 8080 : drop }"
	echo "		tcp dport 9999 limit rate 10/second accept"
	echo "	}"
	echo "}"
} | ip netns exec "$ns" nft -f -

coproc HOLD { ip netns exec "$ns" "$BENCH_TMP/scanhold" -addr 0.0.0.0 -n "$nports"; }
holder_pid=$HOLD_PID
read -r _ <&"${HOLD[0]}" || bench_die "scanhold did not start"

in_ns="ip netns exec $ns"
cmdbench -check -runs 20 -warmup 3 "$@" -- \
	"ss+nft=$in_ns sh -c 'ss -tulpn; nft list ruleset'" \
	"ports=$in_ns ports audit --from 192.0.2.1" \
	"ports-json=$in_ns ports audit --from 192.0.2.1 --format json"
