#!/usr/bin/env bash
# discover.sh: scans of whole networks, host discovery first: `ports scan`
# and `ports scan -sn` against `nmap -n` and `nmap -n -sn` (and masscan at
# 100,000 packets a second), over (a) a /24 with 3 live hosts and (b) a
# /16 with 20, each live host with 3 random open ports of 1-1024 (every
# scanner is given -p 1-1024, so that they look for the same ports), the
# other addresses absent.
#
# The scanner and the target are network namespaces the script creates,
# joined by a veth pair, with no default route in either: the target
# namespace answers for every live address (extra addresses on its veth),
# nothing leaves the machine. Both are removed on exit.
#
# Usage: bench/discover.sh [cmdbench flags]   (needs root)
# Environment:
#   RUNS      measured runs of the /24 table (default 5; 0 leaves it out)
#   RUNS16    measured runs of the /16 table (default 3; 0 leaves it out)
#   PEER_RUNS16 runs of the other scanners on the /16 (default RUNS16)
#   CAP16     the longest a command may take on the /16, as timeout(1)
#             takes it (default 30m): nmap takes tens of minutes there;
#             a command stopped by it is reported so, and not run again
#   MASSCAN   0 leaves masscan out (it took up to 3 minutes to exit on the
#             /24, and a /16 at 100,000 packets a second is 11 minutes)
#   PORTS_BIN to benchmark a built binary
#
# (a) prints the cmdbench table (wall time, CPU, peak RSS) and a recall
# table: hosts up and open (host, port) pairs found, those wrongly
# reported, and the packets the scanner sent (TX counter of its veth),
# from one extra run of each command. (b), whose runs are minutes long,
# measures all of that in the same runs: the median wall time, CPU and
# peak RSS (/usr/bin/time), packets sent, and the recall of the last run.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
script_args=("$@")

need_peer ip "Debian: apt-get install iproute2"
need_peer nmap "Debian: apt-get install nmap"
[[ ${MASSCAN:-1} == 0 ]] || need_peer masscan "Debian: apt-get install masscan"
[[ -x /usr/bin/time ]] || bench_die "needs /usr/bin/time (Debian: apt-get install time)"
[[ $(id -u) == 0 ]] || bench_die "needs root (network namespaces, raw sockets)"

bench_setup
(cd "$BENCH_ROOT" && go build -o "$BENCH_TMP/scanhold" ./bench/scanhold) || bench_die "building ./bench/scanhold failed"

id=$(printf '%04x' $((RANDOM % 65536)))
nsA=pbd-$id-a nsB=pbd-$id-b linkA=pbd$id-a linkB=pbd$id-b
holders=()
cleanup() {
	for p in "${holders[@]}"; do kill "$p" 2>/dev/null || true; done
	ip netns delete "$nsA" 2>/dev/null || true
	ip netns delete "$nsB" 2>/dev/null || true
	rm -rf "$BENCH_TMP"
}
trap cleanup EXIT

ip netns add "$nsA"
ip netns add "$nsB"
ip link add "$linkA" netns "$nsA" type veth peer name "$linkB" netns "$nsB"
for side in A B; do
	ns=ns$side link=link$side
	ip -n "${!ns}" link set lo up
	ip -n "${!ns}" link set "${!link}" up
done
ip -n "$nsA" addr add 10.77.0.1/24 brd + dev "$linkA"
ip -n "$nsA" addr add 10.78.0.1/16 brd + dev "$linkA"
for ns in "$nsA" "$nsB"; do
	[[ -z $(ip -n "$ns" route show default) ]] || bench_die "namespace $ns has a default route"
done
macA=$(ip -n "$nsA" -br link show dev "$linkA" | awk '{print $3}')
macB=$(ip -n "$nsB" -br link show dev "$linkB" | awk '{print $3}')

# want holds "addr:port" of every open port; live the addresses.
want=() live24=() live16=()
hold() { # hold ADDR PREFIXLEN: a live address with 3 open ports
	ip -n "$nsB" addr add "$1/$2" dev "$linkB"
	local fifo=$BENCH_TMP/hold.$1 ports
	mkfifo "$fifo"
	ip netns exec "$nsB" "$BENCH_TMP/scanhold" -addr "$1" -n 3 -max 1024 <"$fifo" >"$fifo.out" &
	holders+=($!)
	exec {fd}>"$fifo" # held open until the script exits
	for _ in $(seq 100); do [[ -s $fifo.out ]] && break; sleep 0.05; done
	read -r ports <"$fifo.out" || bench_die "scanhold did not start"
	for p in ${ports//,/ }; do want+=("$1:$p"); done
}
for h in 2 119 200; do
	hold "10.77.0.$h" 24
	live24+=("10.77.0.$h")
done
for _ in $(seq 20); do
	a=10.78.$((1 + RANDOM % 254)).$((1 + RANDOM % 254))
	[[ " ${live16[*]} " == *" $a "* ]] && continue
	hold "$a" 16
	live16+=("$a")
done
sleep 1 # the veth's carrier

in_a=(ip netns exec "$nsA")
cmds_for() { # cmds_for NET: the commands for one network, in the array cmds
	local net=$1
	cmds=(
		"ports=${in_a[*]} ports scan -p 1-1024 --exclude 10.77.0.1,10.78.0.1 -oG - $net"
		"ports-sn=${in_a[*]} ports scan -sn --exclude 10.77.0.1,10.78.0.1 -oG - $net"
		"nmap=${in_a[*]} nmap -n -p 1-1024 --exclude 10.77.0.1,10.78.0.1 -oG - $net"
		"nmap-sn=${in_a[*]} nmap -n -sn --exclude 10.77.0.1,10.78.0.1 -oG - $net"
	)
	if [[ ${MASSCAN:-1} != 0 ]]; then
		local self=10.77.0.1
		[[ $net == */24 ]] || self=10.78.0.1
		cmds+=("masscan=${in_a[*]} masscan -p1-1024 --rate 100000 -oG - --exclude $self $net --adapter $linkA --adapter-ip $self --adapter-mac $macA --router-mac $macB")
	fi
}

tx_packets() {
	ip -n "$nsA" -s -j link show dev "$linkA" | sed -E 's/.*"tx":\{"bytes":[0-9]+,"packets":([0-9]+).*/\1/'
}

# count_found OUT LIVE...: the hosts up, open pairs found and wrongly
# reported in greppable output OUT, in found, pairs and wrong.
count_found() {
	local out=$1 line addr rest p liveset
	shift
	liveset=" $* "
	found=0 pairs=0 wrong=0
	declare -A seen=()
	while read -r line; do
		addr=${line#Host: }
		addr=${addr%% *}
		if [[ $line == *"Status: Up"* || $line == *"Ports:"* ]] && [[ -z ${seen[$addr]:-} ]]; then
			seen[$addr]=1
			if [[ $liveset == *" $addr "* ]]; then found=$((found + 1)); else wrong=$((wrong + 1)); fi
		fi
		[[ $line == *"Ports:"* ]] || continue
		rest=${line#*Ports: }
		for p in $(grep -oE '[0-9]+/open/tcp' <<<"$rest" | cut -d/ -f1); do
			if [[ " ${want[*]} " == *" $addr:$p "* ]]; then pairs=$((pairs + 1)); else wrong=$((wrong + 1)); fi
		done
	done < <(grep '^Host: ' <<<"$out")
}

# long_table RUNS LIVE...: run each command of cmds RUNS times (the
# peers PEER_RUNS16 times), each at most CAP16, and print one row per command: the median wall time, CPU
# (user+sys) and peak RSS, and the packets sent and recall of its last
# run. A command stopped by the cap is not run again.
long_table() {
	local runs0=$1 runs c name cmd out i tx0 tx1 rc walls cpus rsss sent w u s m
	shift
	echo "| command | runs | median wall | CPU (user+sys) | max RSS | hosts up | open pairs found | wrongly reported | packets sent |"
	echo "| :------ | ---: | ----------: | -------------: | ------: | -------: | ---------------: | ---------------: | -----------: |"
	for c in "${cmds[@]}"; do
		name=${c%%=*} cmd=${c#*=}
		runs=$runs0
		[[ $name == ports* ]] || runs=${PEER_RUNS16:-$runs0}
		walls=() cpus=() rsss=() sent=0 out=""
		for ((i = 0; i < runs; i++)); do
			tx0=$(tx_packets)
			rc=0
			# shellcheck disable=SC2086 # cmd is a plain word list
			out=$(/usr/bin/time -o "$BENCH_TMP/time" -f '%e %U %S %M' timeout "${CAP16:-30m}" $cmd 2>/dev/null) || rc=$?
			tx1=$(tx_packets)
			sent=$((tx1 - tx0))
			if ((rc == 124)); then
				walls=()
				break
			fi
			read -r w u s m <"$BENCH_TMP/time"
			walls+=("$w") cpus+=("$(echo "$u + $s" | bc)") rsss+=("$m")
		done
		if ((${#walls[@]} == 0)); then
			printf '| %s | %d | not done in %s | | | | | | %d |\n' "$name" $((i + 1)) "${CAP16:-30m}" "$sent"
			continue
		fi
		count_found "$out" "$@"
		printf '| %s | %d | %.2f s | %.2f s | %.1f MiB | %d/%d | %d | %d | %d |\n' "$name" "${#walls[@]}" \
			"$(median "${walls[@]}")" "$(median "${cpus[@]}")" "$(echo "$(median "${rsss[@]}") / 1024" | bc -l)" \
			"$found" $# "$pairs" "$wrong" "$sent"
	done
	echo
	echo "open pairs: $(($# * 3)) in all"
}

median() {
	printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'
}

# recall_table LIVE...: run each command of cmds once more; count the
# hosts up and the open (host, port) pairs its greppable output names.
recall_table() {
	local c name cmd out tx0 tx1 t0 t1
	echo
	echo "| command | hosts up | open pairs found | wrongly reported | packets sent | wall |"
	echo "| :------ | -------: | ---------------: | ---------------: | -----------: | ---: |"
	for c in "${cmds[@]}"; do
		name=${c%%=*} cmd=${c#*=}
		tx0=$(tx_packets)
		t0=$(date +%s.%N)
		# shellcheck disable=SC2086 # cmd is a plain word list
		out=$($cmd 2>/dev/null) || true
		t1=$(date +%s.%N)
		tx1=$(tx_packets)
		count_found "$out" "$@"
		printf '| %s | %d/%d | %d | %d | %d | %.2fs |\n' "$name" "$found" $# "$pairs" "$wrong" $((tx1 - tx0)) "$(echo "$t1 - $t0" | bc)"
	done
	echo
	echo "open pairs: $(( $# * 3 )) in all"
}

if [[ ${RUNS:-5} != 0 ]]; then
	echo "## (a) 10.77.0.0/24, 3 hosts up"
	echo
	cmds_for 10.77.0.0/24
	args_for net24
	cmdbench -check -runs "${RUNS:-5}" -warmup 1 -timeout 5m "${run_args[@]}" -- "${cmds[@]}"
	recall_table "${live24[@]}"
fi

[[ ${RUNS16:-3} != 0 ]] || exit 0
echo
echo "## (b) 10.78.0.0/16, 20 hosts up"
echo
cmds_for 10.78.0.0/16
long_table "${RUNS16:-3}" "${live16[@]}"
