#!/bin/sh
# enroll.sh BUILD - certificate enrollments per second end to end through
# capstoned's REST API: POST /v1/certs with {"key":{"type":T}} makes the
# key in the token, builds and signs the CSR there, has the local CA
# (its key in the token too) issue the certificate, validates the chain
# and stores the record; the answer is 201 with the certificate.
#
# Measured in the same run, beside:
#   - the same work done by a shell loop of `openssl req -newkey` piped
#     into `openssl x509 -req -CA` (software keys, a process per step),
#     one loop and one loop per CPU, counted over BENCH_DURATION seconds;
#   - `openssl speed -seconds 3 ecdsap256 rsa2048` (one core).
# Nothing asserts a speed: the figures are printed side by side.
#
# Tunables (environment): BENCH_DURATION (seconds per run, default 10),
# BENCH_WARMUP (default 1), BENCH_ENROLL_CONC (default "1 4 16"),
# BENCH_ENROLL_KEYS (default "ec-p256 rsa-2048"), BENCH_SYNC (store sync,
# default yes), BENCH_PERF=1 records a perf profile of the daemon during
# the ec-p256 run at the highest concurrency and prints its top symbols,
# BENCH_KEEP=1 keeps the temp dir. run.sh calls this script at its end.
set -eu

BUILD=${1:?usage: sh tests/bench/enroll.sh BUILD}
BUILD=$(cd "$BUILD" && pwd)
CONCS=${BENCH_ENROLL_CONC:-"1 4 16"}
KEYS=${BENCH_ENROLL_KEYS:-"ec-p256 rsa-2048"}
SYNC=${BENCH_SYNC:-yes}
BENCH_NAME=enroll
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"

[ -x "$LOADGEN" ] || die "$LOADGEN is missing (run make)"
[ -x "$DAEMON" ] || die "$DAEMON is missing (run make)"
[ -x "$CLI" ] || die "$CLI is missing (run make)"

# --- test PKI for the API's mutual TLS, and the software CA of the loop ---
bench_pki
# the loop's issuing profile: what the local CA's tls profile sets
printf '%s\n' "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth,clientAuth" \
    "subjectAltName=DNS:bench.example" \
    "subjectKeyIdentifier=hash" \
    "authorityKeyIdentifier=keyid" >"$T/pki/leaf.ext"

# --- capstoned -----------------------------------------------------------
bench_token memory "$SYNC"
start_daemon memory "$SYNC"

# api METHOD PATH BODY: fails unless the answer is 2xx; body in $T/out.
api() {
	# shellcheck disable=SC2086
	curl $CURL_TLS -f -o "$T/out" -X "$1" -H 'Content-Type: application/json' \
	    --data-binary "$3" "$CAP_URL$2" || {
		cat "$T/out" >&2 2>/dev/null || true
		die "$1 $2 failed"
	}
}

# The local CA, its key in the token; limits far above what is measured
# so that flow control never answers 429 here.
api POST /v1/cas '{"name":"bench","protocol":"local","subject":"CN=Capstone Bench Issuing CA","key":{"type":"ec-p256"},"validity":"30d","limits":{"rate":100000,"burst":100000,"max_in_flight":16,"queue":100000}}'
for kt in $KEYS; do
	printf '{"ca":"bench","subject":"CN=bench","sans":["DNS:bench.example"],"key":{"type":"%s"},"validity":"30d"}' \
	    "$kt" >"$T/enroll-$kt.json"
	# one enrollment by hand first: the answer must be a certificate
	api POST /v1/certs "@$T/enroll-$kt.json"
	grep -q 'BEGIN CERTIFICATE' "$T/out" ||
	    die "POST /v1/certs ($kt) gave no certificate: $(head -c 300 "$T/out")"
done

MAXC=0
for c in $CONCS; do [ "$c" -gt "$MAXC" ] && MAXC=$c; done

# measure KEYTYPE CONC: one loadgen run of POST /v1/certs, one row.
measure() {
	m_threads=$2
	[ "$m_threads" -gt 2 ] && m_threads=2
	say "enroll: capstoned $1 c=$2 ..."
	perf_pid=""
	if [ "${BENCH_PERF:-0}" = 1 ] && [ "$1" = ec-p256 ] && [ "$2" = "$MAXC" ] &&
	    command -v perf >/dev/null; then
		( sleep "$WARMUP"; perf record -q -F 999 -g -p "$DAEMON_PID" \
		    -o "$T/perf.data" -- sleep 5 >/dev/null 2>&1 ) &
		perf_pid=$!
	fi
	if line=$("$LOADGEN" --url "$CAP_URL/v1/certs" --cert "$CERT" \
	    --key "$KEY" --cacert "$CA" --method POST \
	    --body "$T/enroll-$1.json" --connections "$2" \
	    --threads "$m_threads" --duration "$DURATION" \
	    --warmup "$WARMUP"); then
		:
	else
		STATUS=1
	fi
	[ -z "$perf_pid" ] || wait "$perf_pid" || true
	say "  $line"
	get() { printf '%s\n' "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "capstoned REST" "$1" "$2" \
	    "$(get rps)" "$(get p50_ms)" "$(get p99_ms)" "$(get errors)" \
	    >>"$RESULTS"
	kill -0 "$DAEMON_PID" 2>/dev/null || {
		tail -n 20 "$T/capstoned.log" >&2
		die "capstoned exited during the $1 run"
	}
}

for kt in $KEYS; do
	for c in $CONCS; do
		measure "$kt" "$c"
	done
done
# shellcheck disable=SC2086
STORED=$(curl $CURL_TLS -f "$CAP_URL/v1/certs?ca=bench" | jq '.certs | length' 2>/dev/null) ||
    STORED="?"
stop_pid "$DAEMON_PID"
DAEMON_PID=""

# --- the openssl loop ----------------------------------------------------
# newkey_args KEYTYPE: the -newkey arguments of openssl req.
newkey_args() {
	case $1 in
	ec-p256) echo "ec -pkeyopt ec_paramgen_curve:P-256" ;;
	ec-p384) echo "ec -pkeyopt ec_paramgen_curve:P-384" ;;
	rsa-2048) echo "rsa:2048" ;;
	rsa-3072) echo "rsa:3072" ;;
	*) echo "ed25519" ;;
	esac
}

# one_loop KEYTYPE OUTFILE END: enroll in a loop until END (epoch s);
# writes the count.
one_loop() {
	n=0
	# shellcheck disable=SC2046
	while [ "$(date +%s)" -lt "$3" ]; do
		openssl req -new -newkey $(newkey_args "$1") -nodes \
		    -keyout /dev/null -subj "/CN=bench" 2>/dev/null |
		    openssl x509 -req -CA "$T/pki/ca.crt" -CAkey "$T/pki/ca.key" \
			-set_serial "0x$(hexval 16)" -days 30 -sha256 \
			-extfile "$T/pki/leaf.ext" -out "$T/loop.crt" \
			2>/dev/null && n=$((n + 1))
	done
	echo "$n" >"$2"
}

NCPU=$(nproc)
for kt in $KEYS; do
	for par in 1 "$NCPU"; do
		say "enroll: openssl loop $kt x$par ..."
		start=$(date +%s)
		end=$((start + DURATION))
		i=0
		pids=""
		while [ $i -lt "$par" ]; do
			one_loop "$kt" "$T/loop-$i" "$end" &
			pids="$pids $!"
			i=$((i + 1))
		done
		# shellcheck disable=SC2086
		wait $pids
		secs=$(( $(date +%s) - start ))
		total=0
		i=0
		while [ $i -lt "$par" ]; do
			total=$((total + $(cat "$T/loop-$i")))
			i=$((i + 1))
		done
		rate=$(awk -v n="$total" -v s="$secs" 'BEGIN { printf "%.1f", (s > 0) ? n / s : 0 }')
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "openssl req|x509 loop" \
		    "$kt" "$par" "$rate" "-" "-" "0" >>"$RESULTS"
		[ "$par" = "$NCPU" ] && break
	done
done

# --- report --------------------------------------------------------------
printf '\nMachine: %s CPU(s), %s\n' "$NCPU" \
    "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
printf 'Enrollments: POST /v1/certs {"key":{"type":T}} to a local CA (EC P-256 key in the token),\n'
printf '%s s per run after %s s warm-up, store sync=%s; %s certificates stored in all.\n' \
    "$DURATION" "$WARMUP" "$SYNC" "$STORED"
printf 'openssl loop: conc = parallel loops of "openssl req -newkey | openssl x509 -req".\n\n'
awk -F '\t' '
	$1 ~ /^openssl/ && $3 == 1 { ref[$2] = $4 }
	{ row[NR] = $0 }
	END {
		printf "| %-22s | %-8s | %4s | %9s | %8s | %8s | %6s | %-9s |\n",
		    "target", "key", "conc", "enroll/s", "p50 ms", "p99 ms",
		    "errors", "vs loop"
		printf "|%s|%s|%s|%s|%s|%s|%s|%s|\n", "------------------------",
		    "----------", "------", "-----------", "----------",
		    "----------", "--------", "-----------"
		for (i = 1; i <= NR; i++) {
			split(row[i], f, "\t")
			ratio = "-"
			if ((f[2] in ref) && ref[f[2]] + 0 > 0 && f[4] != "")
				ratio = sprintf("%.2f", f[4] / ref[f[2]])
			printf "| %-22s | %-8s | %4s | %9s | %8s | %8s | %6s | %-9s |\n",
			    f[1], f[2], f[3], f[4] == "" ? "failed" : f[4],
			    f[5], f[6], f[7], ratio
		}
	}' "$RESULTS"
printf '\n"vs loop" is enroll/s divided by one openssl loop for the same key type.\n\n'
printf 'openssl speed -seconds 3 ecdsap256 rsa2048 (one core, software keys):\n'
openssl speed -seconds 3 ecdsap256 rsa2048 2>/dev/null |
    grep -E '^(rsa|[[:space:]]*256 bits ecdsa|[[:space:]]*sign)' || true
if [ -s "$T/perf.data" ]; then
	printf '\nperf (daemon, ec-p256 c=%s, 5 s), self time by object:\n' "$MAXC"
	perf report -i "$T/perf.data" --no-children --sort dso --stdio \
	    -g none 2>/dev/null | grep -E '^ +[0-9]' | head -n 12
	printf '\ntop symbols by self time:\n'
	perf report -i "$T/perf.data" --no-children --sort dso,symbol \
	    --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' | head -n 25
fi
exit "$STATUS"
