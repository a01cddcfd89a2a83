#!/usr/bin/env bash
# Runs the test suite (or the packages and go test flags given) N times
# with -race -count=1 -json and prints, for every test that failed at
# least once, how many of the N runs it failed in. A test that fails in
# some runs and passes in others fails by chance: fix it at its cause.
#
#   scripts/flakes.sh [-n N] [-o DIR] [go test arguments...]
#
#   scripts/flakes.sh -n 10                         # the whole suite, 10 times
#   scripts/flakes.sh -n 20 ./node -run TestWebUI   # one package, some tests
#
# The JSON of each run is kept in DIR (a new temporary directory unless
# -o is given) as run-K.json; the failing tests' output is in
# run-K.failures.txt next to it. The exit status is 1 when any run failed.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=5
out=""
while getopts "n:o:h" opt; do
	case $opt in
	n) runs=$OPTARG ;;
	o) out=$OPTARG ;;
	*)
		sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
		exit 2
		;;
	esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || set -- ./...
command -v jq >/dev/null || { echo "flakes.sh needs jq (scripts/install-deps.sh installs it)" >&2; exit 2; }
[ -n "$out" ] || out=$(mktemp -d -t clubnode-flakes.XXXXXX)
mkdir -p "$out"

# The failing tests of one run, one "package Test/sub" a line. A package
# that failed with no failing test of its own (a panic, the -timeout, a
# build error) is "package (package)".
names='map(select(.Action == "fail"))
	| (map(select(.Test)) | map(.Package) | unique) as $withtests
	| .[] | select(.Test or (.Package as $p | $withtests | index($p) | not))
	| "\(.Package) \(.Test // "(package)")"'

failed=0
for k in $(seq 1 "$runs"); do
	start=$(date +%s)
	status=0
	go test -race -count=1 -json "$@" >"$out/run-$k.json" 2>"$out/run-$k.stderr" || status=$?
	n=$(jq -r --slurp "$names" "$out/run-$k.json" | sort -u | wc -l)
	echo "run $k/$runs: exit $status, $n failing, $(($(date +%s) - start)) s" >&2
	if [ "$status" -ne 0 ]; then
		failed=1
		# The output of each failing test (and package), for reading later.
		jq -r --slurp '
			(map(select(.Action == "fail") | [.Package, .Test]) | unique) as $bad
			| .[] | select(.Action == "output" and ([.Package, .Test] as $t | $bad | index([$t])))
			| "\(.Package) \(.Test // "(package)"): \(.Output | rtrimstr("\n"))"' \
			"$out/run-$k.json" >"$out/run-$k.failures.txt"
		cat "$out/run-$k.stderr" >>"$out/run-$k.failures.txt"
	fi
done

echo "failures in $runs runs of: go test -race -count=1 $*"
for k in $(seq 1 "$runs"); do jq -r --slurp "$names" "$out/run-$k.json" | sort -u; done |
	sort | uniq -c | sort -rn | awk -v n="$runs" '{ printf "%3d/%d  %s  %s\n", $1, n, $2, $3 }'
[ "$failed" -eq 1 ] || echo "(none)"
echo "runs kept in $out"
exit "$failed"
