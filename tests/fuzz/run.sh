#!/bin/sh
# run.sh BUILD SECONDS [TARGET] - runs each libFuzzer target in BUILD/fuzz/
# (or only TARGET) for SECONDS on a corpus kept in BUILD/corpus/NAME,
# seeded from tests/fuzz/corpus/NAME when that exists.  Crash inputs are
# written to BUILD/artifacts/.  Prints "ok - " / "not ok - " per target and
# exits 1 if any target crashed.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
	echo "usage: tests/fuzz/run.sh BUILD SECONDS [TARGET]" >&2
	exit 2
fi
case $1 in
/*) BUILD=$1 ;;
*) BUILD=$ROOT/$1 ;;
esac
SECS=$2
ONLY=${3:-}

mkdir -p "$BUILD/artifacts"
n=0
bad=0
for f in "$BUILD"/fuzz/*; do
	[ -f "$f" ] && [ -x "$f" ] || continue
	name=$(basename "$f")
	[ -z "$ONLY" ] || [ "$ONLY" = "$name" ] || continue
	n=$((n + 1))
	corpus=$BUILD/corpus/$name
	mkdir -p "$corpus"
	seeds=""
	[ -d "$ROOT/tests/fuzz/corpus/$name" ] && seeds=$ROOT/tests/fuzz/corpus/$name
	echo "# $name: ${SECS}s, corpus $corpus"
	# shellcheck disable=SC2086
	if "$f" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
	    ${FUZZ_SEED:+-seed="$FUZZ_SEED"} \
	    -print_final_stats=1 -artifact_prefix="$BUILD/artifacts/$name-" \
	    "$corpus" $seeds 2>&1; then
		echo "ok - fuzz: $name ran ${SECS}s without a crash"
	else
		echo "not ok - fuzz: $name failed (inputs in $BUILD/artifacts/)"
		bad=$((bad + 1))
	fi
done
if [ $n -eq 0 ]; then
	echo "# no fuzz targets in $BUILD/fuzz${ONLY:+ named $ONLY}"
	[ -z "$ONLY" ] || exit 1
fi
[ $bad -eq 0 ]
