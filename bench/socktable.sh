#!/usr/bin/env bash
# socktable.sh: `ports ls -a` against ss, netstat and lsof, with many TCP
# sockets open. bench/sockhold holds $SOCKETS established sockets on
# loopback (default 50,000, in several processes), and the script runs
# cmdbench twice while they are held:
#
#   without processes: `ss -tan` (baseline), `ports ls -a --no-procs`
#                      as a table and as JSON lines;
#   with processes:    `ss -tanp` (baseline), `ports ls -a`,
#                      `netstat -tanp`, `lsof -nP -iTCP`;
#   TCP internals:     `ss -tin` (baseline), `ports ls -i -a -t --no-procs`
#                      (INFO=0 leaves this part out).
#
# Usage: bench/socktable.sh [cmdbench flags]   e.g. bench/socktable.sh -runs 20
# The defaults are -runs 10 -warmup 2 (the commands take up to a second);
# the flags given override them. -json FILE writes FILE.noprocs.json and
# FILE.procs.json, one for each run.
# Environment: SOCKETS (default 50000); SOCKHOLD_FLAGS, more flags for
# sockhold, e.g. "-6 -addrs 4" (see go doc ./bench/sockhold); PEERS_ONLY=1
# leaves ports out, to time the peers alone; PORTS_BIN to benchmark a
# built binary; PORTS_BEFORE, another built binary (an older commit's),
# timed as ports-before beside ports in every part, in the same run. Linux only. Run it as root: otherwise ss -p, netstat -p,
# lsof and ports only see your own processes' sockets.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

sockets=${SOCKETS:-50000}
[[ $sockets =~ ^[1-9][0-9]*$ ]] || bench_die "SOCKETS=$sockets is not a positive number"
read -r -a sockhold_flags <<<"${SOCKHOLD_FLAGS:-}"
peers_only=${PEERS_ONLY:-0}

[[ $(uname -s) == Linux ]] || bench_die "Linux only (sockets from /proc and netlink; sockhold's workers need the parent-death signal)"
need_peer ss "Debian: apt-get install iproute2"
need_peer netstat "Debian: apt-get install net-tools"
need_peer lsof "Debian: apt-get install lsof"
ss -tan >/dev/null || bench_die "'ss -tan' failed: it needs netlink sock_diag (a kernel with CONFIG_INET_DIAG)"
netstat -tan >/dev/null || bench_die "'netstat -tan' failed: it reads /proc/net/tcp and /proc/net/tcp6"
((EUID == 0)) || echo "${0##*/}: not root: ss -p, netstat -p, lsof and ports see only your own processes' sockets" >&2

script_args=("$@")

bench_setup
if [[ -n ${PORTS_BEFORE:-} ]]; then
	[[ -f $PORTS_BEFORE && -x $PORTS_BEFORE ]] || bench_die "PORTS_BEFORE=$PORTS_BEFORE is not an executable file"
	ln -s "$(realpath "$PORTS_BEFORE")" "$BENCH_TMP/ports-before"
fi
(cd "$BENCH_ROOT" && go build -o "$BENCH_TMP/sockhold" ./bench/sockhold) || bench_die "building ./bench/sockhold failed"

# sockhold reads its stdin, a pipe from this script, and stops when it
# closes: when stop_sockhold closes it, or when this script dies however
# it dies. stop_sockhold waits until every socket is closed.
sockhold_pid=""
stop_sockhold() {
	if [[ -n $sockhold_pid ]]; then
		exec {sockhold_in}>&- {sockhold_out}<&-
		wait "$sockhold_pid" || echo "${0##*/}: sockhold exited with status $?" >&2
		sockhold_pid=""
	fi
}
# lib.sh's EXIT trap removes $BENCH_TMP; this one must do that too.
trap 'stop_sockhold; rm -rf "$BENCH_TMP"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

before=$(ss -Htan | wc -l)
coproc SOCKHOLD { exec sockhold -sockets "$sockets" "${sockhold_flags[@]}"; }
# shellcheck disable=SC2153 # coproc sets SOCKHOLD_PID
sockhold_pid=$SOCKHOLD_PID
sockhold_out=${SOCKHOLD[0]}
sockhold_in=${SOCKHOLD[1]}
line=""
read -r -t 300 line <&"$sockhold_out" || true
[[ $line == "ready "* ]] || bench_die "sockhold did not get ready (it printed '$line'; its errors are above)"

# sockets_line: the sockets that ss -tan lists now (which is what every
# command lists), for the record.
sockets_line() {
	local all est
	all=$(ss -Htan | wc -l)
	est=$(ss -Htan state established | wc -l)
	echo "TCP sockets: $all listed by \`ss -tan\`, $est of them established; bench/sockhold holds ${line#ready } (-sockets $sockets${SOCKHOLD_FLAGS:+ $SOCKHOLD_FLAGS}); $before before it started."
}

ports_noprocs=('ports=ports ls -a --no-procs --format table' 'ports-jsonl=ports ls -a --no-procs --format jsonl')
ports_procs=('ports=ports ls -a')
if [[ -n ${PORTS_BEFORE:-} ]]; then
	ports_noprocs+=('ports-before=ports-before ls -a --no-procs --format table')
	ports_procs+=('ports-before=ports-before ls -a')
fi
if [[ $peers_only == 1 ]]; then
	ports_noprocs=()
	ports_procs=()
fi

echo "### Without processes"
echo
sockets_line
echo
args_for noprocs
cmdbench -check -runs 10 -warmup 2 "${run_args[@]}" -- \
	'ss=ss -tan' \
	"${ports_noprocs[@]}"
echo
echo "### With processes"
echo
sockets_line
echo
args_for procs
cmdbench -check -runs 10 -warmup 2 "${run_args[@]}" -- \
	'ss-p=ss -tanp' \
	"${ports_procs[@]}" \
	'netstat=netstat -tanp' \
	'lsof=lsof -nP -iTCP'
if [[ ${INFO:-1} == 1 ]]; then
	ports_info=('ports-i=ports ls -i -a -t --no-procs')
	[[ -n ${PORTS_BEFORE:-} ]] && ports_info+=('ports-i-before=ports-before ls -i -a -t --no-procs')
	[[ $peers_only == 1 ]] && ports_info=()
	echo
	echo "### TCP internals"
	echo
	sockets_line
	echo
	args_for info
	cmdbench -check -runs 10 -warmup 2 "${run_args[@]}" -- \
		'ss-i=ss -tin' \
		"${ports_info[@]}"
fi
