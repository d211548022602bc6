#!/usr/bin/env bash
# knock.sh: the knock clients as whole processes, over loopback only.
#   1. `ports knock` against knockd's `knock` (the baseline): a 3-knock
#      sequence (TCP, UDP, TCP) to 127.0.0.1, where nothing listens.
#   2. `ports knock --spa` against fwknop (the baseline): one SPA packet
#      (Rijndael + HMAC-SHA256) to 127.0.0.1:62201, where nothing listens.
#
# Usage: bench/knock.sh [cmdbench flags]   e.g. bench/knock.sh -runs 40
# Environment: PORTS_BIN to benchmark a built binary.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_peer knock "Debian: apt-get install knockd"
need_peer fwknop "Debian: apt-get install fwknop-client"

script_args=("$@")
bench_setup
keys=$(ports knock --key-gen)
key=$(sed -n 's/^KEY_BASE64: //p' <<<"$keys")
hmac=$(sed -n 's/^HMAC_KEY_BASE64: //p' <<<"$keys")
rc="$BENCH_TMP/fwknoprc"
# fwknop writes its rc file on first use; do it before timing.
fwknop -A tcp/22 -a 127.0.0.1 -D 127.0.0.1 --key-base64-rijndael "$key" --key-base64-hmac "$hmac" \
	--no-save-args --rc-file "$rc" >/dev/null

args_for knock
cmdbench -check "${run_args[@]}" -- \
	"knock=knock -v 127.0.0.1 7000 8000:udp 9000" \
	"ports=ports knock -v 127.0.0.1 7000 8000:udp 9000"
args_for spa
# No -check: fwknop prints nothing when it has sent the packet.
cmdbench "${run_args[@]}" -- \
	"fwknop=fwknop -A tcp/22 -a 127.0.0.1 -D 127.0.0.1 --key-base64-rijndael $key --key-base64-hmac $hmac --no-save-args --rc-file $rc" \
	"ports=ports knock --spa -A tcp/22 -a 127.0.0.1 --key-base64 $key --hmac-key-base64 $hmac 127.0.0.1"
