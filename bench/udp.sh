#!/usr/bin/env bash
# udp.sh: `ports scan -sU` against `nmap -sU` (the baseline) on the same
# UDP target: a network namespace host (no default route, nothing leaves
# the machine) with echo services on 10 random ports of 1-1000 and dnsmasq
# on 53, scanned from a second namespace over a veth pair. Two settings:
#   clean:     the target's ICMP rate limits off, ports 1-1000;
#   ratelimit: the kernel's default ICMP rate limit (about one port
#              unreachable a second), ports 1-100.
# After the timings, one more run of each command reports what it found
# (open, closed, open|filtered), from -oG.
#
# Usage: bench/udp.sh [cmdbench flags]   e.g. bench/udp.sh -runs 5 -json /tmp/udp.json
# Needs root (namespaces), ip, nmap, dnsmasq.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
script_args=("$@")

need_peer nmap "Debian: apt-get install nmap"
need_peer ip "Debian: apt-get install iproute2"
dnsmasq=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
[[ -x $dnsmasq ]] || bench_die "dnsmasq is not installed (Debian: apt-get install dnsmasq-base)"
[[ $(id -u) == 0 ]] || bench_die "needs root for network namespaces"

bench_setup
(cd "$BENCH_ROOT" && go build -o "$BENCH_TMP/udpecho" ./bench/udpecho) || bench_die "building udpecho failed"

id=$RANDOM
A=pbu-$id-a B=pbu-$id-b
A4=198.18.77.1 B4=198.18.77.2
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	ip netns del "$A" 2>/dev/null || true
	ip netns del "$B" 2>/dev/null || true
	rm -rf "$BENCH_TMP"
}
trap cleanup EXIT
trap "exit 1" INT TERM
ip netns add "$A"
ip netns add "$B"
ip link add "pbu$id-a" netns "$A" type veth peer name "pbu$id-b" netns "$B"
ip -n "$A" addr add "$A4/30" dev "pbu$id-a"
ip -n "$B" addr add "$B4/30" dev "pbu$id-b"
for ns in "$A" "$B"; do
	ip -n "$ns" link set lo up
	ip -n "$ns" link set "pbu$id-${ns##*-}" up
	[[ -z $(ip -n "$ns" route show default) ]] || bench_die "namespace $ns has a default route"
done

mapfile -t open < <(shuf -i 1-1000 -n 40 | grep -vxE '53|137|138|67|68|69' | head -10 | sort -n)
ip netns exec "$B" "$BENCH_TMP/udpecho" "$B4" "${open[@]}" >/dev/null &
pids+=($!)
ip netns exec "$B" "$dnsmasq" --keep-in-foreground --no-resolv --no-hosts --conf-file=/dev/null \
	--pid-file= --user=root --port=53 --bind-interfaces --listen-address="$B4" &
pids+=($!)
sleep 1
echo "target $B4: UDP echo on ${open[*]}, dnsmasq on 53" >&2

# found LABEL CMD...: run CMD once with -oG to stdout and count states.
found() {
	local label=$1
	shift
	local out st n ign ign_n
	out=$("$@" -oG - 2>/dev/null | grep 'Ports:' || true)
	# Listed ports, plus the count of the state -oG leaves out.
	ign=$(sed -n 's/.*Ignored State: \([a-z|]*\) (\([0-9]*\)).*/\1/p' <<<"$out")
	ign_n=$(sed -n 's/.*Ignored State: \([a-z|]*\) (\([0-9]*\)).*/\2/p' <<<"$out")
	local cells=()
	for st in open closed 'open|filtered'; do
		n=$({ grep -oF "/$st/udp/" <<<"$out" || true; } | wc -l)
		[[ $st == "$ign" ]] && n=$((n + ign_n))
		cells+=("$n")
	done
	printf '| %s | %s | %s | %s |\n' "$label" "${cells[@]}"
}

# set_ratelimit MS PER_SEC BURST: the target's per-peer and global ICMP
# rate limits.
set_ratelimit() {
	ip netns exec "$B" sysctl -qw "net.ipv4.icmp_ratelimit=$1" "net.ipv4.icmp_msgs_per_sec=$2" "net.ipv4.icmp_msgs_burst=$3"
}

run_setting() {
	local name=$1 ports=$2
	args_for "$name"
	echo "## $name: ports $ports"
	cmdbench -check -timeout 10m "${run_args[@]}" -- \
		"nmap=ip netns exec $A nmap -n -Pn -sU -p $ports $B4" \
		"ports=ip netns exec $A ports scan -sU -p $ports $B4"
	echo
	echo "| command | open | closed | open\\|filtered |"
	echo "| :-- | --: | --: | --: |"
	found nmap ip netns exec "$A" nmap -n -Pn -sU -p "$ports" -v "$B4"
	found ports ip netns exec "$A" "$BENCH_TMP/ports" scan -sU -p "$ports" -v "$B4"
	echo
}

set_ratelimit 0 100000 100000
run_setting clean 1-1000
set_ratelimit 1000 1000 50 # the kernel's defaults
run_setting ratelimit 1-100
echo "open services: $((${#open[@]} + 1)) (${open[*]} and 53)"
