#!/bin/sh
# bench/synparse.sh [BASE]: parseReply (scan's SYN reply path, BenchmarkSYNPath/parse-*)
# at BASE (default HEAD~1) and at the work tree, in one run: instructions per
# reply under cachegrind (deterministic: N iterations less one, divided by
# N-1), and the median ns/op and CPU time (user+sys) of 5 interleaved runs.
set -eu
base=${1:-HEAD~1}
n=${N:-4000000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$(git rev-parse --show-toplevel)
mkdir "$tmp/base"
git -C "$root" archive "$base" | tar -x -C "$tmp/base"
(cd "$tmp/base" && go test -c -o "$tmp/old.test" ./scan)
(cd "$root" && go test -c -o "$tmp/new.test" ./scan)
cd "$root/scan"
refs() { valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "$@" 2>&1 | awk '/I *refs/ {gsub(",", "", $NF); print $NF}'; }
echo "benchmark version instr/op"
for b in v4-synack v4-icmp v6-synack v6-icmp; do
	for v in old new; do
		a=$(refs "$tmp/$v.test" -test.run XXX -test.bench "SYNPath/parse-$b\$" -test.benchtime "${n}x")
		z=$(refs "$tmp/$v.test" -test.run XXX -test.bench "SYNPath/parse-$b\$" -test.benchtime 1x)
		echo "$b $v $(( (a - z) / (n - 1) ))"
	done
done
echo "round benchmark version user sys wall ns/op"
for r in 1 2 3 4 5; do
	for b in v4-synack v4-icmp v6-synack v6-icmp; do
		for v in old new; do
			o=$({ /usr/bin/time -f "%U %S %e" "$tmp/$v.test" -test.run XXX -test.bench "SYNPath/parse-$b\$" -test.benchtime 10000000x |
				awk '/ns\/op/ {print $3}'; } 2>&1 | tr '\n' ' ')
			echo "$r $b $v $o"
		done
	done
done
