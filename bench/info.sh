#!/usr/bin/env bash
# info.sh: `ports info PORT`, as a table and as JSON, against the peer
# `getent services PORT` (the baseline).
#
# Usage: bench/info.sh [cmdbench flags]   e.g. bench/info.sh -runs 50 -json /tmp/info.json
# Environment: PORT (default 443); PORTS_BIN to benchmark a built binary.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

port=${PORT:-443}

need_peer getent "Debian: apt-get install libc-bin"
getent services "$port" >/dev/null ||
	bench_die "'getent services $port' failed: is $port in /etc/services? (Debian: apt-get install netbase)"

bench_setup
cmdbench -check "$@" -- \
	"getent=getent services $port" \
	"ports=ports info $port" \
	"ports-json=ports info --format json $port"
