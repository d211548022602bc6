#!/usr/bin/env bash
# wire.sh: `ports decode` and `ports flows` on a large capture, against
# tcpdump and tshark. bench/mkpcap writes a capture of $PACKETS TCP
# packets (default 1,700,000: 20,000 connections over 10 minutes, cut to
# 128 bytes each), and the script runs cmdbench twice on it:
#
#   decode: `tcpdump -nn -r FILE` (baseline), `ports decode FILE`;
#   flows:  `tshark -r FILE -q -z conv,tcp` (baseline), `ports flows FILE`
#           and `ports flows --format jsonl FILE`;
#   filter: for each filter in $FILTERS, `tcpdump -nn -r FILE EXPR`
#           (baseline) and `ports decode FILE EXPR`, which print the same
#           packets (the script checks that they print as many lines).
#
# Before the tables it prints the capture (packets, connections, size)
# and how many connections tshark and ports each list in it.
#
# Usage: bench/wire.sh [cmdbench flags]   e.g. bench/wire.sh -runs 10
# The defaults are -runs 5 -warmup 1 (tshark takes about 10 s a run); the
# flags given override them. -json FILE writes FILE.decode.json and
# FILE.flows.json, one for each run.
# Environment: PACKETS (default 1700000); SECTIONS, the tables to make
# (default "decode flows filter"); FILTERS, filters for the filter
# table, separated by ";" (default: a port, TCP flags, and a network
# with a port); MKPCAP_FLAGS, more flags for
# mkpcap, e.g. "-flows 5000 -seed 2" (see go doc ./bench/mkpcap);
# PORTS_BIN to benchmark a built binary. The capture (about 210 MB) is
# written in a temporary directory, removed on exit.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

packets=${PACKETS:-1700000}
[[ $packets =~ ^[1-9][0-9]*$ ]] || bench_die "PACKETS=$packets is not a positive number"
read -r -a mkpcap_flags <<<"${MKPCAP_FLAGS:-}"
sections=" ${SECTIONS:-decode flows filter} "
IFS=';' read -r -a filters <<<"${FILTERS:-tcp port 80;tcp[tcpflags] & (tcp-syn|tcp-fin) != 0;dst net 172.16.0.0/16 and dst port 443}"

need_peer tcpdump "Debian: apt-get install tcpdump"
need_peer tshark "Debian: apt-get install tshark"

script_args=("$@")
args_for decode
decode_args=("${run_args[@]}")
args_for flows
flows_args=("${run_args[@]}")
args_for filter
filter_args=("${run_args[@]}")

bench_setup
(cd "$BENCH_ROOT" && go build -o "$BENCH_TMP/mkpcap" ./bench/mkpcap) || bench_die "building ./bench/mkpcap failed"
cd "$BENCH_TMP"

pcap=capture.pcap
made=$(mkpcap -packets "$packets" "${mkpcap_flags[@]}" -o "$pcap" 2>&1) || bench_die "mkpcap failed: $made"
made=${made#mkpcap: }
made=${made%; written in *}
bytes=$(stat -c %s "$pcap")

# How many connections each lists, to show they do the same work.
ports_flows=$(ports flows --format jsonl "$pcap" | wc -l) || bench_die "'ports flows --format jsonl $pcap' failed"
tshark_convs=$(tshark -r "$pcap" -q -z conv,tcp 2>/dev/null | grep -c ' <-> ') || bench_die "'tshark -r $pcap -q -z conv,tcp' failed or listed no conversations"

echo "Capture: \`mkpcap -packets $packets${MKPCAP_FLAGS:+ $MKPCAP_FLAGS}\`: $made; $((bytes / 1000000)) MB ($bytes bytes)."
echo "Connections listed: $tshark_convs by \`tshark -z conv,tcp\`, $ports_flows by \`ports flows\`."
echo
if [[ $sections == *" decode "* ]]; then
	echo "### decode"
	echo
	cmdbench -check -runs 5 -warmup 1 "${decode_args[@]}" -- \
		"tcpdump=tcpdump -nn -r $pcap" \
		"ports=ports decode $pcap"
	echo
fi
if [[ $sections == *" flows "* ]]; then
	echo "### flows"
	echo
	cmdbench -check -runs 5 -warmup 1 "${flows_args[@]}" -- \
		"tshark=tshark -r $pcap -q -z conv,tcp" \
		"ports=ports flows $pcap" \
		"ports-jsonl=ports flows --format jsonl $pcap"
	echo
fi
if [[ $sections == *" filter "* ]]; then
	echo "### decode with a filter"
	echo
	for f in "${filters[@]}"; do
		# The same packets: as many lines from each.
		want=$(tcpdump -nn -r "$pcap" "$f" 2>/dev/null | wc -l) || bench_die "tcpdump refused the filter '$f'"
		got=$(ports decode "$pcap" "$f" | wc -l) || bench_die "'ports decode $pcap $f' failed"
		[[ $want == "$got" ]] || bench_die "filter '$f': tcpdump printed $want lines, ports decode $got"
		echo "Filter \`$f\`: $want packets printed by each."
		echo
		# cmdbench splits a command as sh would: the filter in single quotes.
		cmdbench -check -runs 5 -warmup 1 "${filter_args[@]}" -- \
			"tcpdump=tcpdump -nn -r $pcap '$f'" \
			"ports=ports decode $pcap '$f'"
		echo
	done
fi
