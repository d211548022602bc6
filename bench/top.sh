#!/usr/bin/env bash
# top.sh: the CPU cost of `ports top` left running, with many sockets
# open, against `watch -n INTERVAL ss -tanp`, the usual way to watch
# ports. bench/sockhold holds $SOCKETS established TCP sockets (default
# 10,000) on loopback; each command then runs in a tmux session of its
# own (120x40) for $DURATION seconds (default 60) after $WARMUP seconds
# (default 5: start-up and the first look-up of every socket's process),
# one after the other, and the script reads the CPU time it used
# (utime+stime from /proc/PID/stat, plus its children's for watch, which
# runs ss) over the measured window.
#
# Target: at most 5% of one core at the default refresh (2s) with
# 10,000 sockets.
#
# Usage: bench/top.sh
# Environment: SOCKETS (10000), DURATION (60), WARMUP (5), INTERVAL (2,
# seconds), ROUNDS (1: each command once; more alternate them),
# PORTS_BIN to measure a built binary. Linux only; needs tmux and ss.
# Run it as root: otherwise ss -p and ports see only your own processes'
# sockets, which is less work.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

sockets=${SOCKETS:-10000}
duration=${DURATION:-60}
warmup=${WARMUP:-5}
interval=${INTERVAL:-2}
rounds=${ROUNDS:-1}
for v in sockets duration interval rounds; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || bench_die "${v^^}=${!v} is not a positive whole number"
done
[[ $warmup =~ ^[0-9]+$ ]] || bench_die "WARMUP=$warmup is not a whole number"

[[ $(uname -s) == Linux ]] || bench_die "Linux only (CPU times from /proc/PID/stat)"
need_peer tmux "Debian: apt-get install tmux"
need_peer ss "Debian: apt-get install iproute2"
need_peer watch "Debian: apt-get install procps"
((EUID == 0)) || echo "${0##*/}: not root: ss -p and ports see only your own processes' sockets" >&2

bench_setup
(cd "$BENCH_ROOT" && go build -o "$BENCH_TMP/sockhold" ./bench/sockhold) || bench_die "building ./bench/sockhold failed"

tmux_sock="ports-bench-$$"
sockhold_pid=""
stop_all() {
	tmux -L "$tmux_sock" kill-server 2>/dev/null || true
	if [[ -n $sockhold_pid ]]; then
		exec {sockhold_in}>&- {sockhold_out}<&-
		wait "$sockhold_pid" || echo "${0##*/}: sockhold exited with status $?" >&2
		sockhold_pid=""
	fi
}
trap 'stop_all; rm -rf "$BENCH_TMP"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

before=$(ss -Htan | wc -l)
coproc SOCKHOLD { exec sockhold -sockets "$sockets"; }
# shellcheck disable=SC2153 # coproc sets SOCKHOLD_PID
sockhold_pid=$SOCKHOLD_PID
sockhold_out=${SOCKHOLD[0]}
sockhold_in=${SOCKHOLD[1]}
line=""
read -r -t 300 line <&"$sockhold_out" || true
[[ $line == "ready "* ]] || bench_die "sockhold did not get ready (it printed '$line'; its errors are above)"

clk=$(getconf CLK_TCK)
# cpu_ticks PID [children]: utime+stime of PID (fields 14 and 15 of
# /proc/PID/stat, after the parenthesised command name), plus cutime and
# cstime (its reaped children) if asked.
cpu_ticks() {
	local stat rest
	stat=$(<"/proc/$1/stat")
	rest=${stat##*) }
	read -r -a f <<<"$rest"
	# f[0] is field 3 (state): field N is f[N-3].
	if [[ ${2:-} == children ]]; then
		echo $((f[11] + f[12] + f[13] + f[14]))
	else
		echo $((f[11] + f[12]))
	fi
}

# measure NAME CHILDREN CMD...: run CMD in tmux, wait $warmup s, then
# measure $duration s; appends a result row.
results=()
measure() {
	local name=$1 children=$2 pid t0 t1 c0 c1 rss
	shift 2
	tmux -L "$tmux_sock" new-session -d -x 120 -y 40 -s "$name" "$@"
	pid=$(tmux -L "$tmux_sock" display-message -p -t "$name" '#{pane_pid}')
	sleep "$warmup"
	[[ -d /proc/$pid ]] || bench_die "$name ($*) exited during the warm-up"
	c0=$(cpu_ticks "$pid" "$children")
	t0=$(date +%s.%N)
	sleep "$duration"
	c1=$(cpu_ticks "$pid" "$children")
	t1=$(date +%s.%N)
	rss=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
	tmux -L "$tmux_sock" kill-session -t "$name"
	results+=("$(awk -v n="$name" -v c="$((c1 - c0))" -v clk="$clk" -v t0="$t0" -v t1="$t1" -v iv="$interval" -v rss="$rss" 'BEGIN {
		cpu = c / clk; wall = t1 - t0; refreshes = wall / iv
		printf "| %s | %.2fs | %.1fs | %.2f%% | %.1fms | %.1f MiB |", n, cpu, wall, 100 * cpu / wall, 1000 * cpu / refreshes, rss / 1024
	}')")
}

echo "TCP sockets: $(ss -Htan | wc -l) listed by \`ss -tan\`; bench/sockhold holds ${line#ready } (-sockets $sockets); $before before it started."
echo
for ((r = 0; r < rounds; r++)); do
	measure "ports-top" self ports top --interval "${interval}s"
	measure "watch-ss" children watch -n "$interval" ss -tanp
done

cpu_model=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
echo "Machine: $(uname -srm); ${cpu_model:-unknown CPU}; $(nproc) CPUs; $(go env GOVERSION); $(date -u +%F)"
echo
echo "| command | CPU time | wall | of one core | per refresh | max RSS |"
echo "| :------ | -------: | ---: | ----------: | ----------: | ------: |"
printf '%s\n' "${results[@]}"
echo
echo "CPU time is utime+stime over the measured ${duration}s (watch: with its children, the ss runs), after ${warmup}s of warm-up; per refresh divides it by wall/${interval}s. max RSS is the peak resident set (VmHWM; watch's own, not ss's)."
echo
echo "- ports-top: \`ports top --interval ${interval}s\`"
echo "- watch-ss: \`watch -n $interval ss -tanp\`"
