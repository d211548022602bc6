#!/usr/bin/env bash
# Installs a .deb built by packaging/build.sh as an admin would, checks
# it from the installed paths, and removes it: dpkg -i, `ports version`
# naming the commit, `man -w ports`, every man page rendered by
# `man --warnings` without a warning, the service user, then dpkg -r
# keeping the configs. Usage: packaging/test-deb.sh PKGDIR (as root).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
deb=$(ls "${1:?usage: test-deb.sh PKGDIR}"/ports_*.deb | head -1)
fail() { echo "test-deb: $*" >&2; exit 1; }
dpkg-deb -c "$deb" >/tmp/ports-deb-contents.$$
for p in ./usr/bin/ports ./lib/systemd/system/ports-serve.service ./lib/systemd/system/ports-knockd.service \
	./usr/share/man/man1/ports.1.gz ./usr/share/man/man1/ports-scan.1.gz ./usr/share/man/man5/ports-serve.toml.5.gz \
	./usr/share/man/man5/ports-knockd.conf.5.gz ./usr/share/bash-completion/completions/ports \
	./usr/share/zsh/vendor-completions/_ports ./usr/share/fish/vendor_completions.d/ports.fish \
	./etc/ports/serve.toml ./etc/ports/knockd.conf; do
	grep -q " $p\$" /tmp/ports-deb-contents.$$ || fail "$deb lacks $p"
done
rm -f /tmp/ports-deb-contents.$$
dpkg -i "$deb" >/dev/null
trap 'dpkg -r ports >/dev/null 2>&1 || true' EXIT
v=$(/usr/bin/ports version)
echo "$v"
if head=$(git rev-parse HEAD 2>/dev/null) && [ -d .git ]; then
	grep -q "^commit:   $head " <<<"$v" || fail "ports version does not name commit $head"
fi
page=$(man -w ports) || fail "man -w ports found no page"
echo "man -w ports: $page"
for f in /usr/share/man/man1/ports*.1.gz /usr/share/man/man5/ports*.5.gz; do
	w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$f" 2>&1 >/dev/null) || fail "man -l $f failed"
	[ -z "$w" ] || fail "man --warnings -l $f: $w"
done
getent passwd ports >/dev/null || fail "installing created no user ports"
dpkg -r ports >/dev/null
trap - EXIT
[ ! -e /usr/bin/ports ] || fail "dpkg -r left /usr/bin/ports"
[ -e /etc/ports/serve.toml ] || fail "dpkg -r removed the config /etc/ports/serve.toml"
dpkg --purge ports >/dev/null
echo "deb: installed, checked and removed"
