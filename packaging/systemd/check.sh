#!/usr/bin/env bash
# Checks the units as an admin's systemd would see them:
# `systemd-analyze verify` must pass and `systemd-analyze security
# --offline=true` must score ports-serve.service at most 2.0 and
# ports-knockd.service at most 2.5 (lower is safer).
# Usage: packaging/systemd/check.sh PORTS_BINARY
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=$(realpath "${1:?usage: check.sh PORTS_BINARY}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# verify wants every program the unit runs to exist: point ExecStart at
# the binary just built. The man pages are checked on their own
# (--man=no: they need not be installed here).
for u in ports-serve.service ports-knockd.service; do
	sed "s|/usr/bin/ports|$bin|g" "$here/$u" >"$tmp/$u"
done
fail=0
for u in ports-serve.service:2.0 ports-knockd.service:2.5; do
	unit=${u%%:*} max=${u##*:}
	if ! out=$(systemd-analyze verify --man=no "$tmp/$unit" 2>&1) || [ -n "$out" ]; then
		printf '%s: systemd-analyze verify:\n%s\n' "$unit" "$out" >&2
		fail=1
	fi
	score=$(systemd-analyze security --offline=true "$tmp/$unit" 2>&1 | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
	if [ -z "$score" ]; then
		echo "$unit: systemd-analyze security gave no score" >&2
		systemd-analyze security --offline=true "$tmp/$unit" >&2 || true
		fail=1
		continue
	fi
	echo "$unit: exposure $score (at most $max)"
	if awk -v s="$score" -v m="$max" 'BEGIN { exit !(s > m) }'; then
		echo "$unit: exposure $score is over $max" >&2
		systemd-analyze security --offline=true "$tmp/$unit" | grep '✗' >&2 || true
		fail=1
	fi
done
exit $fail
