# shellcheck shell=bash
# lib.sh: shared setup for the bench/*.sh scripts. Source it; don't run it.
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   need_peer getent "Debian: apt-get install libc-bin"
#   bench_setup
#   cmdbench "$@" -- 'peer=...' 'ports=ports ...'
#
# bench_setup builds ./cmd/ports and ./bench/cmdbench into a temporary
# directory ($BENCH_TMP, removed on exit by an EXIT trap) and puts it first
# in $PATH, so the commands name plain `ports`, and the tables show
# `ports info 443` rather than a temp path. With PORTS_BIN=path the script
# benchmarks that binary instead of building one. It sets $BENCH_ROOT to
# the module root (for testdata paths) but leaves the working directory
# alone, so relative paths in the script's arguments (-json out.json) work.

# bench_die MESSAGE...: print "SCRIPT: MESSAGE" on stderr and exit 1.
bench_die() {
	echo "${0##*/}: $*" >&2
	exit 1
}

# need_peer PROG HINT: fail unless PROG is in $PATH; HINT says how to
# install it.
need_peer() {
	command -v "$1" >/dev/null 2>&1 || bench_die "peer '$1' is not installed ($2)"
}

bench_setup() {
	command -v go >/dev/null 2>&1 || bench_die "go is not in \$PATH"
	local ports_bin=""
	if [[ -n "${PORTS_BIN:-}" ]]; then
		[[ -f "$PORTS_BIN" && -x "$PORTS_BIN" ]] || bench_die "PORTS_BIN=$PORTS_BIN is not an executable file"
		ports_bin=$(realpath "$PORTS_BIN")
	fi
	BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd) || bench_die "cannot find the module root"
	BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/ports-bench.XXXXXX")
	trap 'rm -rf "$BENCH_TMP"' EXIT
	if [[ -n "$ports_bin" ]]; then
		ln -s "$ports_bin" "$BENCH_TMP/ports"
	else
		(cd "$BENCH_ROOT" && go build -o "$BENCH_TMP/ports" ./cmd/ports) || bench_die "building ./cmd/ports failed"
	fi
	(cd "$BENCH_ROOT" && go build -o "$BENCH_TMP/cmdbench" ./bench/cmdbench) || bench_die "building ./bench/cmdbench failed"
	PATH="$BENCH_TMP:$PATH"
}

# args_for PART: the script's arguments (the array script_args), with
# -json FILE made FILE.PART.json (minus FILE's .json) and absolute, in the
# array run_args: for scripts that run cmdbench more than once, each
# table to its own file (absolute, as a script may cd elsewhere).
args_for() {
	local part=$1 a json=""
	run_args=()
	# shellcheck disable=SC2154 # script_args is set by the calling script
	set -- "${script_args[@]}"
	while (($#)); do
		a=$1
		shift
		case $a in
		-json | --json)
			(($#)) || bench_die "-json needs a FILE"
			json=$1
			shift
			;;
		-json=* | --json=*) json=${a#*=} ;;
		*) run_args+=("$a") ;;
		esac
		if [[ -n $json ]]; then
			[[ $json == /* ]] || json=$PWD/$json
			run_args+=(-json "${json%.json}.$part.json")
			json=""
		fi
	done
}
