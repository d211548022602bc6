#!/usr/bin/env bash
# quic.sh: `ports decode` on a capture of QUIC handshakes and SIP
# (bench/mkquic: $CONNS exchanges of two client Initials with a real
# crypto/tls ClientHello, a server Initial with a coalesced Handshake
# packet and 4 short-header datagrams; a SIP INVITE and 200 OK every
# tenth), against `tcpdump -nn -r` (which prints `UDP, length N` for
# QUIC: 4.99 has no QUIC printer, and SIP's first line) and `tshark -r`
# (which decrypts the Initials too). Before the table it prints how many
# SNIs ports and tshark each find.
#
# Usage: bench/quic.sh [cmdbench flags]   e.g. bench/quic.sh -runs 3
# Environment: CONNS (default 5000); PORTS_BIN to benchmark a built
# binary. The capture (about 32 MB) is written in a temporary directory.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

conns=${CONNS:-5000}
[[ $conns =~ ^[1-9][0-9]*$ ]] || bench_die "CONNS=$conns is not a positive number"
need_peer tcpdump "Debian: apt-get install tcpdump"
need_peer tshark "Debian: apt-get install tshark"
script_args=("$@")
args_for decode
decode_args=("${run_args[@]}")

bench_setup
(cd "$BENCH_ROOT" && go build -o "$BENCH_TMP/mkquic" ./bench/mkquic) || bench_die "building ./bench/mkquic failed"
cd "$BENCH_TMP"
pcap=quic.pcap
./mkquic -conns "$conns" -o "$pcap" || bench_die "mkquic failed"
packets=$(tcpdump -nn -r "$pcap" 2>/dev/null | wc -l)
ours=$(ports decode "$pcap" | grep -c ' SNI ') || bench_die "ports decode found no SNI"
theirs=$(tshark -r "$pcap" -T fields -e tls.handshake.extensions_server_name 2>/dev/null | grep -c .) || bench_die "tshark found no SNI"
echo "Capture: \`mkquic -conns $conns\`: $packets packets, $(($(stat -c %s "$pcap") / 1000000)) MB. SNIs found: $ours by ports decode, $theirs by tshark."
echo
cmdbench -check -runs 5 -warmup 1 "${decode_args[@]}" -- \
	"tcpdump=tcpdump -nn -r $pcap" \
	"tshark=tshark -n -r $pcap" \
	"ports=ports decode $pcap"
