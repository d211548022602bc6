#!/usr/bin/env bash
# attr.sh: what naming the processes costs a live capture. Two network
# namespaces joined by a veth pair (no default route: nothing leaves the
# machine) carry a steady load from A to B: iperf3 TCP (-b $TCP_RATE) and
# UDP (-b $UDP_RATE), and short TCP connections from a python client (a
# round trip each, held $HOLD ms, $CONNS at a time). On A's end of the veth, for
# $DURATION seconds each, in turn:
#
#   tcpdump -nn -i VETH                (the baseline, its lines to /dev/null)
#   ports capture -i VETH --no-procs   (capture and decode, no attribution)
#   ports capture -i VETH              (with the processes of each packet)
#   both ports captures at once        (the same packets for both: the
#                                       ratio of their CPU per packet)
#
# Each is run $RUNS times (default 3) with the load restarted; the table
# gives medians of packets captured, packets dropped by the kernel, CPU
# (user+system) per 100,000 packets, peak RSS, and for ports with
# attribution the flow ends looked up per second (one lookup per flow
# end, never per packet) and the short connections per second carried.
#
# Usage: bench/attr.sh
# Environment: DURATION (10), RUNS (3), TCP_RATE (200M), UDP_RATE (50M),
# CONNS (4 parallel short connections), HOLD (4 ms each), PORTS_BIN,
# OLD_BIN (another ports binary, whose capture with attribution joins
# the paired runs: a before-and-after on the same packets). Needs root, ip,
# iperf3, tcpdump, bc, python3, /usr/bin/time.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

duration=${DURATION:-10}
runs=${RUNS:-3}
tcp_rate=${TCP_RATE:-200M}
udp_rate=${UDP_RATE:-50M}
conns=${CONNS:-4}
hold=${HOLD:-4}
old_bin=""
if [[ -n ${OLD_BIN:-} ]]; then
	[[ -x $OLD_BIN ]] || bench_die "OLD_BIN=$OLD_BIN is not an executable"
	old_bin=$(realpath "$OLD_BIN")
fi
need_peer ip "Debian: apt-get install iproute2"
need_peer iperf3 "Debian: apt-get install iperf3"
need_peer tcpdump "Debian: apt-get install tcpdump"
need_peer bc "Debian: apt-get install bc"
[[ -x /usr/bin/python3 ]] || bench_die "needs /usr/bin/python3 (Debian: apt-get install python3)"
[[ -x /usr/bin/time ]] || bench_die "needs /usr/bin/time (Debian: apt-get install time)"
[[ $(id -u) == 0 ]] || bench_die "needs root for network namespaces and capture"

bench_setup
script=$BENCH_ROOT/procattr/testdata/attr.py

id=$RANDOM
A=pba-$id-a B=pba-$id-b VA=pba$id-a VB=pba$id-b
A4=198.18.78.1 B4=198.18.78.2
load=()
stop_load() {
	for p in "${load[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${load[@]}"; do wait "$p" 2>/dev/null || true; done
	load=()
}
servers=()
cleanup() {
	stop_load
	for p in "${servers[@]}"; do kill "$p" 2>/dev/null || true; done
	ip netns del "$A" 2>/dev/null || true
	ip netns del "$B" 2>/dev/null || true
	rm -rf "$BENCH_TMP"
}
trap cleanup EXIT
trap "exit 1" INT TERM
ip netns add "$A"
ip netns add "$B"
ip link add "$VA" netns "$A" type veth peer name "$VB" netns "$B"
ip -n "$A" addr add "$A4/30" dev "$VA"
ip -n "$B" addr add "$B4/30" dev "$VB"
for ns in "$A" "$B"; do
	ip -n "$ns" link set lo up
	ip -n "$ns" link set "pba$id-${ns##*-}" up
	[[ -z $(ip -n "$ns" route show default) ]] || bench_die "namespace $ns has a default route"
done

sleep 1

start_load() {
	# iperf3 servers of their own: one still busy with the last client
	# would refuse the next.
	ip netns exec "$B" iperf3 -s -1 -p 5201 -B "$B4" >/dev/null 2>&1 &
	load+=($!)
	ip netns exec "$B" iperf3 -s -1 -p 5202 -B "$B4" >/dev/null 2>&1 &
	load+=($!)
	ip netns exec "$B" /usr/bin/python3 "$script" serve tcp "$B4" 7000 >/dev/null 2>&1 &
	load+=($!)
	sleep 0.5
	ip netns exec "$A" iperf3 -c "$B4" -p 5201 -b "$tcp_rate" -t $((duration + 3)) >/dev/null 2>&1 &
	load+=($!)
	ip netns exec "$A" iperf3 -c "$B4" -p 5202 -u -b "$udp_rate" -t $((duration + 3)) >/dev/null 2>&1 &
	load+=($!)
	# Short connections until stopped (a large N, killed with the rest),
	# each held $HOLD ms after its round trip: at most 1,000/s with the
	# defaults.
	ip netns exec "$A" /usr/bin/python3 "$script" many tcp "$B4" 7000 100000000 "$conns" "$hold" >/dev/null 2>&1 &
	load+=($!)
	sleep 1
}

# conns_now: connections the server's namespace has accepted so far
# (TCP passive opens).
conns_now() { ip netns exec "$B" awk '/^Tcp:/ && ++n == 2 {print $7}' /proc/net/snmp; }

# measure NAME CMD...: run CMD in A under the load for $duration s,
# interrupt it, and print "NAME captured dropped cpu_s rss_kb lookups conns".
measure() {
	local name=$1
	shift
	start_load
	local c0 c1 err="$BENCH_TMP/err"
	c0=$(conns_now)
	ip netns exec "$A" /usr/bin/time -f 'TIME %U %S %M' timeout --foreground -s INT "$duration" "$@" >/dev/null 2>"$err" || true
	c1=$(conns_now)
	stop_load
	local captured dropped user sys rss lookups
	# timeout --foreground: the signal goes to the command alone (a
	# second one to its process group would kill ports, whose first
	# SIGINT ends it cleanly and gives the second its default action).
	captured=$(sed -n 's/^\([0-9]*\) packets captured.*/\1/p' "$err" | tail -1)
	dropped=$(sed -n -e 's/^\([0-9]*\) packets dropped by kernel$/\1/p' -e 's/.*, \([0-9]*\) dropped by the kernel$/\1/p' "$err" | tail -1)
	lookups=$(sed -n 's/^\([0-9]*\) flow ends looked up.*/\1/p' "$err" | tail -1)
	read -r _ user sys rss < <(grep '^TIME' "$err")
	[[ -n $captured ]] || echo "${0##*/}: $name said: $(cat "$err")" >&2
	echo "$name ${captured:-0} ${dropped:-0} $(echo "$user + $sys" | bc) $rss ${lookups:--} $((c1 - c0))"
}

# measure_pair: both ports captures at once on the same load for
# $duration s, so that they see the same packets (each AF_PACKET socket
# gets its own copy), and with OLD_BIN a third, that binary's capture
# with attribution; prints "pair noprocs_cpu_s noprocs_captured
# procs_cpu_s procs_captured [old_cpu_s old_captured]".
measure_pair() {
	start_load
	local e1="$BENCH_TMP/err1" e2="$BENCH_TMP/err2" e3="$BENCH_TMP/err3" errs=()
	ip netns exec "$A" /usr/bin/time -f 'TIME %U %S %M' timeout --foreground -s INT "$duration" "$BENCH_TMP/ports" capture -i "$VA" --no-procs >/dev/null 2>"$e1" &
	local p1=$!
	ip netns exec "$A" /usr/bin/time -f 'TIME %U %S %M' timeout --foreground -s INT "$duration" "$BENCH_TMP/ports" capture -i "$VA" >/dev/null 2>"$e2" &
	local p2=$! p3=""
	errs=("$e1" "$e2")
	if [[ -n $old_bin ]]; then
		ip netns exec "$A" /usr/bin/time -f 'TIME %U %S %M' timeout --foreground -s INT "$duration" "$old_bin" capture -i "$VA" >/dev/null 2>"$e3" &
		p3=$!
		errs+=("$e3")
	fi
	wait "$p1" || true
	wait "$p2" || true
	[[ -z $p3 ]] || wait "$p3" || true
	stop_load
	local out="pair" e user sys captured
	for e in "${errs[@]}"; do
		captured=$(sed -n 's/^\([0-9]*\) packets captured.*/\1/p' "$e" | tail -1)
		read -r _ user sys _ < <(grep '^TIME' "$e")
		out+=" $(echo "$user + $sys" | bc) ${captured:-0}"
	done
	echo "$out"
}

results=$BENCH_TMP/results
for run in $(seq "$runs"); do
	echo "run $run of $runs" >&2
	measure tcpdump tcpdump -nn -i "$VA" >>"$results"
	measure noprocs "$BENCH_TMP/ports" capture -i "$VA" --no-procs >>"$results"
	measure procs "$BENCH_TMP/ports" capture -i "$VA" >>"$results"
	measure_pair >>"$results"
done

median() { sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
col() { awk -v n="$1" -v c="$2" '$1 == n {print $c}' "$results" | median; }

printf '| command | packets captured | dropped by the kernel | CPU s per 100k packets | peak RSS MiB | flow ends looked up/s | short connections/s |\n'
printf '|---|---|---|---|---|---|---|\n'
for n in tcpdump noprocs procs; do
	label=$n
	case $n in
	tcpdump) label="tcpdump -nn -i VETH" ;;
	noprocs) label="ports capture -i VETH --no-procs" ;;
	procs) label="ports capture -i VETH" ;;
	esac
	awk -v n="$n" '$1 == n {print ($4 * 100000 / ($2 > 0 ? $2 : 1))}' "$results" >"$BENCH_TMP/cpu"
	cpu=$(median <"$BENCH_TMP/cpu")
	lk="-"
	if [[ $n == procs ]]; then
		lk=$(echo "$(col "$n" 6) / $duration" | bc -l | xargs printf '%.0f')
	fi
	printf '| `%s` | %s | %s | %.3f | %.1f | %s | %.0f |\n' "$label" "$(col "$n" 2)" "$(col "$n" 3)" "$cpu" \
		"$(echo "$(col "$n" 5) / 1024" | bc -l)" "$lk" "$(echo "$(col "$n" 7) / $duration" | bc -l)"
done
# The paired runs: the ratio of CPU per packet within each run, and its
# median.
awk '$1 == "pair" {a = $2 / ($3 > 0 ? $3 : 1); b = $4 / ($5 > 0 ? $5 : 1); print (a > 0 ? b / a : 0)}' "$results" >"$BENCH_TMP/ratio"
printf '\nBoth captures at once on the same load (%s runs): CPU per packet with attribution over without it, median %.3f (runs: %s)\n' \
	"$(wc -l <"$BENCH_TMP/ratio")" "$(median <"$BENCH_TMP/ratio")" "$(sort -n "$BENCH_TMP/ratio" | xargs printf '%.3f ' | sed 's/ $//')"
if [[ -n $old_bin ]]; then
	awk '$1 == "pair" && NF >= 7 {a = $2 / ($3 > 0 ? $3 : 1); c = $6 / ($7 > 0 ? $7 : 1); print (a > 0 ? c / a : 0)}' "$results" >"$BENCH_TMP/ratio_old"
	printf 'The same runs, OLD_BIN'"'"'s capture with attribution over this one'"'"'s without: median %.3f (runs: %s)\n' \
		"$(median <"$BENCH_TMP/ratio_old")" "$(sort -n "$BENCH_TMP/ratio_old" | xargs printf '%.3f ' | sed 's/ $//')"
fi
echo "raw (name captured dropped cpu_s rss_kb lookups conns; pair: noprocs_cpu_s captured procs_cpu_s captured [old_cpu_s captured]), $duration s each:" >&2
cat "$results" >&2
