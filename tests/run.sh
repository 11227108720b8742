#!/bin/sh
# run.sh BUILD ASAN_BUILD FUZZ_BUILD - every test tier of `make check`.
#
#   1. the unit test binaries BUILD/tests/test_*
#   2. every tests/integration/*.sh against BUILD
#   3. the unit tests and a subset of the integration scripts against
#      ASAN_BUILD (AddressSanitizer with leak detection, UBSan)
#   4. one integration script with the daemon under valgrind memcheck
#   5. each libFuzzer target in FUZZ_BUILD/fuzz/ for FUZZ_RUN_SECONDS (10)
#   6. any tests/tpm/*.sh
#
# Each test's output goes to BUILD/test-logs/; "ok - " and "not ok - "
# lines are counted, and a test that exits non-zero without a "not ok"
# line counts as one failure named after it.  Failures' output is printed
# at the end, then exactly one line "N passed, N failed"; the exit status
# is 1 if anything failed.
#
# Environment: TESTS_ONLY=PATTERN runs only tests whose label matches the
# shell pattern (e.g. 'integration/*'); SKIP_VALGRIND=1, SKIP_ASAN=1 and
# SKIP_FUZZ=1 skip those tiers.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

if [ $# -ne 3 ]; then
	echo "usage: tests/run.sh BUILD ASAN_BUILD FUZZ_BUILD" >&2
	exit 2
fi
abs() {
	case $1 in
	/*) printf '%s\n' "$1" ;;
	*) printf '%s\n' "$ROOT/$1" ;;
	esac
}
BUILD=$(abs "$1")
ASAN_BUILD=$(abs "$2")
FUZZ_BUILD=$(abs "$3")
: "${FUZZ_RUN_SECONDS:=10}"
: "${TESTS_ONLY:=*}"

LOG=$BUILD/test-logs
rm -rf "$LOG"
mkdir -p "$LOG"
: >"$LOG/.failed"
PASSED=0
FAILED=0

# Integration scripts repeated under the sanitizers and under valgrind
# (the concurrency and crash scripts only measure timing-bound behaviour
# there, and are left to the plain build).
ASAN_SCRIPTS="secrets errors secrecy restart tls cli config sighup seal_token master_key access tokens policy_matrix refs_audit crl keys local_ca certs cmp scep cmf lcm enrol_est enrol_cmp enrol_pending pkg_crypt"
VALGRIND_SCRIPTS="secrets seal_token cmf lcm enrol_est enrol_cmp"
# Scripts whose daemon signs with Ed25519 keys in the token, where SoftHSM
# leaks a few bytes in each C_SignInit.  tests/lsan.supp names the module,
# but the default fast unwinder stops in libcrypto (built without frame
# pointers) before it reaches the module's frames, so the leak is
# reported as ours.  Full unwinds let the suppression match; they make
# every allocation several times slower, so only these scripts take them.
ASAN_FULL_UNWIND="keys"

# run_one LABEL SECONDS CMD...: runs CMD with a time limit, output to the
# log, and counts its results.
run_one() {
	label=$1
	limit=$2
	shift 2
	# shellcheck disable=SC2254
	case $label in
	$TESTS_ONLY) ;;
	*) return 0 ;;
	esac
	log=$LOG/$(printf '%s' "$label" | tr '/ ' '__').log
	t0=$(date +%s)
	rc=0
	timeout -k 10 "$limit" "$@" </dev/null >"$log" 2>&1 || rc=$?
	secs=$(($(date +%s) - t0))
	tally "$label" "$log" "$rc" "$secs" "$limit"
}

# tally LABEL LOG RC SECS LIMIT: counts the results of one run whose
# output is in LOG and whose exit status was RC.
tally() {
	label=$1
	log=$2
	rc=$3
	secs=$4
	limit=$5
	p=$(grep -c '^ok - ' "$log" || true)
	f=$(grep -c '^not ok - ' "$log" || true)
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			echo "not ok - $label: timed out after ${limit}s" >>"$log"
		else
			echo "not ok - $label: exited with status $rc" >>"$log"
		fi
		f=1
	fi
	PASSED=$((PASSED + p))
	FAILED=$((FAILED + f))
	[ "$f" -eq 0 ] || echo "$label $log" >>"$LOG/.failed"
	printf '%-42s %4d ok %3d not ok %4ds\n' "$label" "$p" "$f" "$secs"
}

# missing LABEL WHAT: a tier that cannot run counts as one failure.
missing() {
	# shellcheck disable=SC2254
	case $1 in
	$TESTS_ONLY) ;;
	*) return 0 ;;
	esac
	log=$LOG/$(printf '%s' "$1" | tr '/ ' '__').log
	echo "not ok - $1: $2" >"$log"
	FAILED=$((FAILED + 1))
	echo "$1 $log" >>"$LOG/.failed"
	printf '%-42s %4d ok %3d not ok\n' "$1" 0 1
}

# ---- 1. unit tests ----
echo "== unit tests ($BUILD)"
n=0
for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	n=$((n + 1))
	run_one "unit/$(basename "$t")" 300 "$t"
done
[ $n -gt 0 ] || missing unit "no unit test binaries in $BUILD/tests"

# ---- 2. integration tests ----
echo "== integration tests ($BUILD)"
for s in tests/integration/*.sh; do
	[ -f "$s" ] || continue
	run_one "integration/$(basename "$s" .sh)" 300 \
	    env BUILD="$BUILD" sh "$s"
done

# ---- 3. sanitizers ----
if [ "${SKIP_ASAN:-0}" != 1 ]; then
	echo "== AddressSanitizer and UBSan ($ASAN_BUILD)"
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=1:strict_string_checks=1:allocator_may_return_null=1
	LSAN_OPTIONS=suppressions=$ROOT/tests/lsan.supp:print_suppressions=0
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	export ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS
	if [ -x "$ASAN_BUILD/capstoned" ]; then
		for t in "$ASAN_BUILD"/tests/test_*; do
			[ -x "$t" ] || continue
			run_one "asan/unit/$(basename "$t")" 300 "$t"
		done
		for s in $ASAN_SCRIPTS; do
			[ -f "tests/integration/$s.sh" ] || continue
			opts=$ASAN_OPTIONS
			case " $ASAN_FULL_UNWIND " in
			*" $s "*) opts=$opts:fast_unwind_on_malloc=0 ;;
			esac
			run_one "asan/integration/$s" 300 env ASAN_OPTIONS="$opts" \
			    BUILD="$ASAN_BUILD" sh "tests/integration/$s.sh"
		done
	else
		missing asan "$ASAN_BUILD/capstoned is not built"
	fi
	unset ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS
fi

# ---- 4. valgrind ----

# valgrind_one SCRIPT: the integration script with capstoned under
# memcheck; valgrind -q writes only errors and leak records, into files
# that are appended to the script's log and fail it when they hold any.
valgrind_one() {
	label=valgrind/integration/$1
	run_one "$label" 600 env BUILD="$BUILD" CAPSTONED_WRAPPER="valgrind -q \
--leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
--error-exitcode=99 --num-callers=30 --suppressions=$ROOT/tests/valgrind.supp \
--log-file=$LOG/valgrind-$1.%p.log" sh "tests/integration/$1.sh"
	vl=$LOG/$(printf '%s' "$label" | tr '/ ' '__').log
	[ -f "$vl" ] || return 0
	counted=0
	grep -q '^not ok - ' "$vl" && counted=1
	for v in "$LOG/valgrind-$1".*.log; do
		[ -s "$v" ] || continue
		echo "# $(basename "$v"):" >>"$vl"
		cat "$v" >>"$vl"
		if [ $counted -eq 0 ] && grep -q -e 'definitely lost' \
		    -e 'Invalid \(read\|write\|free\)' -e 'uninitialised' \
		    -e 'Mismatched free' "$v"; then
			echo "not ok - $label: memory errors or definite leaks in capstoned" >>"$vl"
			echo "$label $vl" >>"$LOG/.failed"
			FAILED=$((FAILED + 1))
			counted=1
		fi
	done
}

if [ "${SKIP_VALGRIND:-0}" != 1 ]; then
	echo "== valgrind memcheck ($BUILD)"
	if command -v valgrind >/dev/null; then
		for s in $VALGRIND_SCRIPTS; do
			[ -f "tests/integration/$s.sh" ] || continue
			valgrind_one "$s"
		done
	else
		missing valgrind "valgrind is not installed"
	fi
fi

# fuzz_bg NAME: starts target NAME in the background (see run_one);
# fuzz_wait waits for those started and counts their results.
FUZZ_RUNNING=""
fuzz_bg() {
	# shellcheck disable=SC2254
	case fuzz/$1 in
	$TESTS_ONLY) ;;
	*) return 0 ;;
	esac
	_log=$LOG/fuzz_$1.log
	(
		t0=$(date +%s)
		rc=0
		timeout -k 10 $((FUZZ_RUN_SECONDS + 120)) env FUZZ_SEED=1 \
		    sh tests/fuzz/run.sh "$FUZZ_BUILD" "$FUZZ_RUN_SECONDS" "$1" \
		    </dev/null >"$_log" 2>&1 || rc=$?
		echo "$rc $(($(date +%s) - t0))" >"$_log.status"
	) &
	FUZZ_RUNNING="$FUZZ_RUNNING $1:$!"
}
fuzz_wait() {
	for _j in $FUZZ_RUNNING; do
		wait "${_j#*:}" || true
		_log=$LOG/fuzz_${_j%%:*}.log
		read -r _rc _secs <"$_log.status" || { _rc=1; _secs=0; }
		rm -f "$_log.status"
		tally "fuzz/${_j%%:*}" "$_log" "$_rc" "$_secs" \
		    $((FUZZ_RUN_SECONDS + 120))
	done
	FUZZ_RUNNING=""
}

# ---- 5. fuzz targets ----
if [ "${SKIP_FUZZ:-0}" != 1 ]; then
	echo "== fuzz targets ($FUZZ_BUILD, ${FUZZ_RUN_SECONDS}s each)"
	for f in "$FUZZ_BUILD"/fuzz/*; do
		[ -f "$f" ] && [ -x "$f" ] || continue
		# A fixed seed: what `make check` explores is the same every
		# run (`make fuzz` explores anew).
		fuzz_bg "$(basename "$f")"
		# two at a time: each target is one process on one core
		[ "$(printf '%s' "$FUZZ_RUNNING" | wc -w)" -lt 2 ] || fuzz_wait
	done
	fuzz_wait
fi

# ---- 6. TPM tests ----
for s in tests/tpm/*.sh; do
	[ -f "$s" ] || continue
	[ -n "${tpm_banner:-}" ] || echo "== TPM tests ($BUILD)"
	tpm_banner=1
	run_one "tpm/$(basename "$s" .sh)" 300 env BUILD="$BUILD" sh "$s"
done

# ---- summary ----
if [ -s "$LOG/.failed" ]; then
	echo
	echo "== failures (logs in $LOG)"
	while read -r label log; do
		echo "--- $label"
		grep '^not ok - ' "$log" | sed 's/^/  /'
		echo "  last lines of output:"
		grep -v '^ok - ' "$log" | grep -v '^not ok - ' | tail -n 40 |
		    sed 's/^/  | /'
	done <"$LOG/.failed"
	echo
fi
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
