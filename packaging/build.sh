#!/usr/bin/env bash
# Builds the ports packages: packaging/build.sh OUTDIR writes a .deb and
# an .rpm (nfpm, from the one config below) holding usr/bin/ports, the
# systemd units, the man pages (gzipped), bash, zsh and fish completions
# and example configurations under /etc/ports (config files: an upgrade
# or removal keeps the admin's). Installing creates the system user
# "ports" that the units run as.
#
# The binary is built with -trimpath and no cgo, so two builds of one
# commit have the same sha256. PORTS_VERSION overrides the version (else
# 0.0.0~gitDATE.COMMIT); PACKAGERS=deb builds the .deb alone.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="/usr/local/go/bin:$PATH"
out=$(mkdir -p "${1:?usage: packaging/build.sh OUTDIR}" && cd "$1" && pwd)
nfpm_version=v2.48.0
stage="$out/stage"
rm -rf "$stage"
mkdir -p "$stage/man/man1" "$stage/man/man5" "$stage/completions"

version=${PORTS_VERSION:-}
if [ -z "$version" ]; then
	version="0.0.0~git$(git log -1 --format=%cd --date=format:%Y%m%d 2>/dev/null || echo 0).$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
fi
# -buildvcs=true: stamp the commit for `ports version` even where the
# go environment turns stamping off.
vcs=-buildvcs=auto
[ -d .git ] && vcs=-buildvcs=true
CGO_ENABLED=0 go build -trimpath "$vcs" -ldflags "-s -w -X github.com/portkit/ports/internal/cli.Version=$version" -o "$stage/ports" ./cmd/ports

go run ./packaging/genman "$stage/man/man1"
cp packaging/man/*.5 "$stage/man/man5/"
gzip -n -9 "$stage"/man/man1/*.1 "$stage"/man/man5/*.5
"$stage/ports" completion bash >"$stage/completions/ports.bash"
"$stage/ports" completion zsh >"$stage/completions/_ports"
"$stage/ports" completion fish >"$stage/completions/ports.fish"

cat >"$stage/postinstall.sh" <<'SH'
#!/bin/sh
set -e
if ! getent passwd ports >/dev/null; then
	useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin ports
fi
chgrp ports /etc/ports/serve.toml /etc/ports/knockd.conf 2>/dev/null || true
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
SH
cat >"$stage/preremove.sh" <<'SH'
#!/bin/sh
if [ -d /run/systemd/system ]; then
	systemctl stop ports-serve.service ports-knockd.service 2>/dev/null || true
fi
SH
cat >"$stage/postremove.sh" <<'SH'
#!/bin/sh
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
SH

{
	cat <<YAML
name: ports
arch: amd64
platform: linux
version: "$version"
version_schema: none
maintainer: "ports <ports@localhost>"
description: Everything about TCP and UDP ports, with the ports-serve and ports-knockd services.
license: see the source
homepage: https://github.com/portkit/ports
scripts:
  postinstall: $stage/postinstall.sh
  preremove: $stage/preremove.sh
  postremove: $stage/postremove.sh
contents:
  - src: $stage/ports
    dst: /usr/bin/ports
    file_info: {mode: 0755}
  - src: $PWD/packaging/systemd/ports-serve.service
    dst: /lib/systemd/system/ports-serve.service
  - src: $PWD/packaging/systemd/ports-knockd.service
    dst: /lib/systemd/system/ports-knockd.service
  - src: $PWD/packaging/examples/serve.toml
    dst: /etc/ports/serve.toml
    type: config|noreplace
    file_info: {mode: 0640}
  - src: $PWD/packaging/examples/knockd.conf
    dst: /etc/ports/knockd.conf
    type: config|noreplace
    file_info: {mode: 0640}
  - src: $stage/completions/ports.bash
    dst: /usr/share/bash-completion/completions/ports
  - src: $stage/completions/_ports
    dst: /usr/share/zsh/vendor-completions/_ports
  - src: $stage/completions/ports.fish
    dst: /usr/share/fish/vendor_completions.d/ports.fish
YAML
	for f in "$stage"/man/man*/*.gz; do
		sec=$(basename "$(dirname "$f")")
		printf '  - src: %s\n    dst: /usr/share/man/%s/%s\n' "$f" "$sec" "$(basename "$f")"
	done
} >"$stage/nfpm.yaml"

for p in ${PACKAGERS:-deb rpm}; do
	go run "github.com/goreleaser/nfpm/v2/cmd/nfpm@$nfpm_version" package --config "$stage/nfpm.yaml" --packager "$p" --target "$out/"
done
ls -1 "$out"/*.deb "$out"/*.rpm 2>/dev/null || true
