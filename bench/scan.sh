#!/usr/bin/env bash
# scan.sh: `ports scan -sS -p-` and `ports scan -sT -p-` against nmap -sS,
# nmap -sT and masscan, scanning all 65,535 TCP ports of a target host
# with 100 random open ports, on a clean link and with 5% loss each way.
#
# The target is a network namespace the script creates, joined to a
# second namespace (the scanner's) by a veth pair, with no default route
# in either: nothing leaves the machine. Both are removed on exit.
#
# Usage: bench/scan.sh [cmdbench flags]   (needs root: namespaces, raw sockets)
# Environment:
#   RUNS       measured runs of the clean-link table (default 5)
#   LOSS_RUNS  measured runs of ports and masscan with loss (default 3)
#   NMAP_LOSS_RUNS  runs of nmap with loss (default 1; they take minutes;
#              0 leaves them out)
#   NMAP_LOSS_CAP   timeout of one nmap run with loss (default 10m)
#   PORTS_BIN  to benchmark a built binary
#   PORTS_BASE a second built binary (the commit before a change, say),
#              run as base-sS and base-sT in the clean-link table, so
#              that before and after are measured in the same run
#   MASSCAN    0 leaves masscan out (on a loaded machine it can hang
#              waiting for its receive thread)
#
# Prints, for each link, the cmdbench table (wall time, CPU, peak RSS)
# and a recall table: open ports found of 100, ports wrongly reported
# open, and packets the scanner sent (TX counter of its veth), from one
# extra run of each command.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
script_args=("$@")

need_peer ip "Debian: apt-get install iproute2"
need_peer nft "Debian: apt-get install nftables"
need_peer nmap "Debian: apt-get install nmap"
[[ ${MASSCAN:-1} == 0 ]] || need_peer masscan "Debian: apt-get install masscan"
[[ $(id -u) == 0 ]] || bench_die "needs root (network namespaces, raw sockets)"

bench_setup
(cd "$BENCH_ROOT" && go build -o "$BENCH_TMP/scanhold" ./bench/scanhold) || bench_die "building ./bench/scanhold failed"

id=$(printf '%04x' $((RANDOM % 65536)))
nsA=pbs-$id-a nsB=pbs-$id-b linkA=pbs$id-a linkB=pbs$id-b
net=$((RANDOM % 250))
ipA=198.18.$net.1 ipB=198.18.$net.2

holder_pid="" ping_pid=""
cleanup() {
	[[ -n $holder_pid ]] && kill "$holder_pid" 2>/dev/null || true
	[[ -n $ping_pid ]] && kill "$ping_pid" 2>/dev/null || true
	ip netns delete "$nsA" 2>/dev/null || true
	ip netns delete "$nsB" 2>/dev/null || true
	rm -rf "$BENCH_TMP"
}
trap cleanup EXIT

ip netns add "$nsA"
ip netns add "$nsB"
ip link add "$linkA" netns "$nsA" type veth peer name "$linkB" netns "$nsB"
for side in A B; do
	ns=ns$side link=link$side addr=ip$side
	ip -n "${!ns}" link set lo up
	ip -n "${!ns}" addr add "${!addr}/30" dev "${!link}"
	ip -n "${!ns}" link set "${!link}" up
	[[ -z $(ip -n "${!ns}" route show default) ]] || bench_die "namespace ${!ns} has a default route"
done
# The first packets wait for the veth's carrier; ping once to be sure.
for _ in $(seq 50); do
	ip netns exec "$nsA" ping -c1 -W1 "$ipB" >/dev/null 2>&1 && break
	sleep 0.1
done
# masscan only exits once its pcap receive thread wakes up, which on a
# silent link may be never: B pings A five times a second, a trickle that
# any real network has.
ip netns exec "$nsB" ping -q -i 0.2 "$ipA" >/dev/null 2>&1 &
ping_pid=$!
macA=$(ip -n "$nsA" -br link show dev "$linkA" | awk '{print $3}')
macB=$(ip -n "$nsB" -br link show dev "$linkB" | awk '{print $3}')

# The holder keeps 100 random ports open in B until its stdin closes.
coproc HOLD { ip netns exec "$nsB" "$BENCH_TMP/scanhold" -addr "$ipB" -n 100; }
holder_pid=$HOLD_PID
read -r open_ports <&"${HOLD[0]}" || bench_die "scanhold did not start"

in_a=(ip netns exec "$nsA")
cmds=(
	"ports-sS=${in_a[*]} ports scan -sS -p- $ipB"
	"ports-sT=${in_a[*]} ports scan -sT -p- $ipB"
	"nmap-sS=${in_a[*]} nmap -n -Pn -sS -T4 -p- $ipB"
	"nmap-sT=${in_a[*]} nmap -n -Pn -sT -T4 -p- $ipB"
	"masscan=${in_a[*]} masscan -p0-65535 --rate 100000 $ipB --adapter $linkA --adapter-ip $ipA --adapter-mac $macA --router-mac $macB"
)

# set_loss FRACTION: drop that fraction of packets arriving at and
# leaving B's veth.
set_loss() {
	local per_mille=$1
	ip netns exec "$nsB" nft -f - <<-EOF
		table inet bench_loss
		delete table inet bench_loss
		table inet bench_loss {
			chain input {
				type filter hook input priority 0; policy accept;
				iifname "$linkB" numgen random mod 1000 < $per_mille drop
			}
			chain output {
				type filter hook output priority 0; policy accept;
				oifname "$linkB" numgen random mod 1000 < $per_mille drop
			}
		}
	EOF
}

# recall_table: run each command once more, and count the open ports it
# reports against the holder's, and the packets it sent.
recall_table() {
	local c name cmd out found fp tx0 tx1 total
	echo
	echo "| command | open ports found | wrongly open | packets sent | wall |"
	echo "| :------ | ---------------: | -----------: | -----------: | ---: |"
	for c in "$@"; do
		name=${c%%=*} cmd=${c#*=}
		tx0=$(ip -n "$nsA" -s -j link show dev "$linkA" | sed -E 's/.*"tx":\{"bytes":[0-9]+,"packets":([0-9]+).*/\1/')
		local t0 t1
		t0=$(date +%s.%N)
		# shellcheck disable=SC2086 # cmd is a plain word list
		out=$($cmd 2>/dev/null) || true
		t1=$(date +%s.%N)
		tx1=$(ip -n "$nsA" -s -j link show dev "$linkA" | sed -E 's/.*"tx":\{"bytes":[0-9]+,"packets":([0-9]+).*/\1/')
		mapfile -t got < <(printf '%s\n' "$out" | grep -oE '^[0-9]+/tcp +open|port [0-9]+/tcp' | grep -oE '[0-9]+' | sort -un)
		found=0 fp=0
		for p in "${got[@]}"; do
			if [[ ,$open_ports, == *,$p,* ]]; then found=$((found + 1)); else fp=$((fp + 1)); fi
		done
		total=$(echo "$open_ports" | tr , '\n' | wc -l)
		printf '| %s | %d/%d | %d | %d | %.2fs |\n' "$name" "$found" "$total" "$fp" $((tx1 - tx0)) "$(echo "$t1 - $t0" | bc)"
	done
}

echo "## Clean link"
echo
clean=("${cmds[@]:0:4}")
[[ ${MASSCAN:-1} == 0 ]] || clean+=("${cmds[4]}")
if [[ -n ${PORTS_BASE:-} ]]; then
	base=$(realpath "$PORTS_BASE") || bench_die "PORTS_BASE=$PORTS_BASE not found"
	clean+=("base-sS=${in_a[*]} $base scan -sS -p- $ipB" "base-sT=${in_a[*]} $base scan -sT -p- $ipB")
fi
args_for clean
cmdbench -check -runs "${RUNS:-5}" -warmup 1 -timeout 2m "${run_args[@]}" -- "${clean[@]}"
recall_table "${clean[@]}"

[[ ${LOSS_RUNS:-3} != 0 ]] || exit 0
echo
echo "## 5% loss each way"
echo
set_loss 50
args_for loss
loss=("${cmds[0]}" "${cmds[1]}")
[[ ${MASSCAN:-1} == 0 ]] || loss+=("${cmds[4]}")
cmdbench -check -runs "${LOSS_RUNS:-3}" -warmup 0 -timeout 2m "${run_args[@]}" -- "${loss[@]}"
recall_table "${cmds[0]}" "${cmds[1]}" "${cmds[4]}"
[[ ${NMAP_LOSS_RUNS:-1} != 0 ]] || exit 0
echo
args_for loss-nmap
cmdbench -check -runs "${NMAP_LOSS_RUNS:-1}" -warmup 0 -timeout "${NMAP_LOSS_CAP:-10m}" "${run_args[@]}" -- "${cmds[2]}" "${cmds[3]}"
recall_table "${cmds[2]}" "${cmds[3]}"
