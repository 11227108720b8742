#!/bin/sh
# enrol.sh BUILD - enrolment-server throughput: EST simplereenroll on the
# [enrol] listener, authenticated by the TLS client certificate being
# renewed (issued by the CMF to an entity), against a local CA whose key is
# in the token. The workload's key is its own: the body is a base64 PKCS#10
# made once with openssl; the daemon checks it against the entity, has the
# CA sign it and records the certificate; no key is made in the token. A
# re-enrollment leaves the presented certificate valid, so one certificate
# serves many requests; as an entity keeps at most 64 certificates, each
# client moves to a fresh entity (made before the clock starts) every 50.
#
# Measured in the same run, against the same local CA, beside:
#   - POST /v1/certs {"key_id":K} on the REST API (one token key made
#     beforehand, the CSR built and signed in the token on each request),
#     the nearest REST equivalent of a re-enrollment;
#   - POST /v1/certs {"key":{"type":"ec-p256"}} (a new key in the token on
#     each request, as tests/bench/enroll.sh measures with keep-alive).
# All driven the way an EST client works: curl, one process and one TLS
# handshake per request; N requests one after the other, then the same N
# spread over BENCH_ENROL_CONC parallel clients. Requests/s over the wall
# time of the run; p50/p99 of curl's time_total. Nothing asserts a speed.
#
# Tunables (environment): BENCH_ENROL_N (requests per run, default 200),
# BENCH_ENROL_CONC (parallel clients, default 4), BENCH_KEEP=1 keeps the
# temp dir. run.sh calls this script after enroll.sh.
set -eu

BUILD=${1:?usage: sh tests/bench/enrol.sh BUILD}
BUILD=$(cd "$BUILD" && pwd)
N=${BENCH_ENROL_N:-200}
M=${BENCH_ENROL_CONC:-4}
BENCH_NAME=enrol
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"

[ -x "$DAEMON" ] || die "$DAEMON is missing (run make)"
[ -x "$CLI" ] || die "$CLI is missing (run make)"
command -v curl >/dev/null || die "curl is missing"
command -v jq >/dev/null || die "jq is missing"

bench_pki
EPORT=$(free_port)
BENCH_CONF_EXTRA=$(printf '\n[enrol]\nlisten = 127.0.0.1:%s\nca = bench' "$EPORT")
bench_token memory yes
start_daemon memory yes
EST=https://127.0.0.1:$EPORT/.well-known/est
FQDN=rest.bench.example

# api METHOD PATH BODY: fails unless the answer is 2xx; body in $T/out.
api() {
	# shellcheck disable=SC2086
	curl $CURL_TLS -f -o "$T/out" -X "$1" -H 'Content-Type: application/json' \
	    --data-binary "$3" "$CAP_URL$2" || {
		cat "$T/out" >&2 2>/dev/null || true
		die "$1 $2 failed"
	}
}

# --- the CA, the entities, their first certificates ---------------------
api POST /v1/cas '{"name":"bench","protocol":"local","subject":"CN=Capstone Bench Issuing CA","key":{"type":"ec-p256"},"validity":"30d","limits":{"rate":100000,"burst":100000,"max_in_flight":16,"queue":100000}}'

# The workload's key, the same for every entity.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$T/wl.key" 2>/dev/null || die "cannot make the workload's key"

# est PATH CSR OUT [CURL ARGS...]: POST the base64 CSR; prints the status.
est() {
	_p=$1 _c=$2 _o=$3
	shift 3
	curl -s -o "$_o" -w '%{http_code}' --max-time 60 --cacert "$CA" \
	    -H 'Content-Type: application/pkcs10' -H 'Expect:' \
	    --data-binary "@$_c" "$@" "$EST/$_p" || echo 000
}

p7pem() {
	base64 -d <"$1" >"$1.der" 2>/dev/null &&
	    openssl pkcs7 -inform DER -in "$1.der" -print_certs -out "$2" 2>/dev/null
}

# An entity lists at most CMF_CERTS_MAX (nfv/cmf.h) certificates that are
# still valid and each re-enrollment adds one, so a client moves to the next
# entity every CHUNK requests.
CHUNK=50
NENT=0

# mk_entity I: entity vnfc-bench-I (FQDN aI.bench.example), its CSR in
# $T/csr-I.b64 and its first certificate, from an initial credential over
# EST simpleenroll, in $T/wl-I.pem; then one re-enrollment to check it.
mk_entity() {
	fq=a$1.bench.example
	api POST /cmf/v1/entities "{\"id\":\"vnfc-bench-$1\",\"type\":\"VNFC_INSTANCE\",\"vnfcId\":\"vnfc-bench-$1\",\"fqdns\":[\"$fq\"],\"ca\":\"bench\",\"bindingPolicy\":\"P1\",\"certTypes\":[\"VNFCI_CERT\"]}"
	api POST "/cmf/v1/entities/vnfc-bench-$1/initial-credentials" \
	    '{"certType":"VNFCI_CERT","ttl":"1h"}'
	(umask 077 && jq -r '"user = \"" + .reference + ":" + .secret + "\""' \
	    "$T/out" >"$T/cred")
	: >"$T/out"
	openssl req -new -key "$T/wl.key" -subj "/CN=$fq" \
	    -addext "subjectAltName=DNS:$fq" -outform DER -out "$T/csr.der" \
	    2>/dev/null || die "cannot make the workload's CSR"
	base64 <"$T/csr.der" >"$T/csr-$1.b64"
	code=$(est simpleenroll "$T/csr-$1.b64" "$T/first.p7" -K "$T/cred")
	rm -f "$T/cred"
	[ "$code" = 200 ] || die "EST simpleenroll with the initial credential: HTTP $code $(head -c 300 "$T/first.p7")"
	p7pem "$T/first.p7" "$T/wl-$1.pem" || die "simpleenroll gave no certificate"
	code=$(est simplereenroll "$T/csr-$1.b64" "$T/re.p7" \
	    --cert "$T/wl-$1.pem" --key "$T/wl.key")
	[ "$code" = 200 ] || die "EST simplereenroll: HTTP $code $(head -c 300 "$T/re.p7")"
	if ! p7pem "$T/re.p7" "$T/re.pem" ||
	    ! grep -q 'BEGIN CERTIFICATE' "$T/re.pem"; then
		die "simplereenroll gave no certificate"
	fi
	# A certificate renews once: the next request presents the new one.
	mv "$T/re.pem" "$T/wl-$1.pem"
}

# entities COUNT: COUNT fresh entities; their indices start at $FIRST_ENT.
entities() {
	FIRST_ENT=$NENT
	_k=0
	while [ "$_k" -lt "$1" ]; do
		mk_entity "$NENT"
		NENT=$((NENT + 1))
		_k=$((_k + 1))
	done
}

# --- the REST bodies -----------------------------------------------------
api POST /v1/keys '{"type":"ec-p256","label":"bench-rest"}'
KID=$(jq -r .id "$T/out")
printf '{"ca":"bench","subject":"CN=%s","sans":["DNS:%s"],"key_id":"%s","validity":"30d"}' \
    "$FQDN" "$FQDN" "$KID" >"$T/rest-keyid.json"
printf '{"ca":"bench","subject":"CN=%s","sans":["DNS:%s"],"key":{"type":"ec-p256"},"validity":"30d"}' \
    "$FQDN" "$FQDN" >"$T/rest-newkey.json"
for b in keyid newkey; do
	for i in 1 2; do
		api POST /v1/certs "@$T/rest-$b.json"
		grep -q 'BEGIN CERTIFICATE' "$T/out" ||
		    die "POST /v1/certs ($b) gave no certificate: $(head -c 300 "$T/out")"
	done
done

# --- curl runs -----------------------------------------------------------
# one_client KIND COUNT OUT [ENTITY]: COUNT requests, one curl each;
# "code seconds" lines in OUT. EST moves on to the next entity every
# CHUNK requests, starting at ENTITY.
one_client() {
	_i=0
	_e=${4:-0}
	while [ "$_i" -lt "$2" ]; do
		case $1 in
		est)
			if [ "$_i" -gt 0 ] && [ $((_i % CHUNK)) -eq 0 ]; then
				_e=$((_e + 1))
			fi
			curl -s -o "$T/re-$_e.p7" \
			    -w '%{http_code} %{time_total}\n' \
			    --max-time 60 --cacert "$CA" --cert "$T/wl-$_e.pem" \
			    --key "$T/wl.key" -H 'Content-Type: application/pkcs10' \
			    -H 'Expect:' --data-binary "@$T/csr-$_e.b64" \
			    "$EST/simplereenroll" || echo "000 0"
			# as an EST client does: the new certificate replaces
			# the one presented, which cannot renew again
			p7pem "$T/re-$_e.p7" "$T/wl-$_e.new" &&
			    mv "$T/wl-$_e.new" "$T/wl-$_e.pem"
			;;
		*)
			# shellcheck disable=SC2086
			curl $CURL_TLS -o /dev/null -w '%{http_code} %{time_total}\n' \
			    --max-time 60 -H 'Content-Type: application/json' \
			    --data-binary "@$T/rest-$1.json" "$CAP_URL/v1/certs" ||
			    echo "000 0"
			;;
		esac
		_i=$((_i + 1))
	done >"$3"
}

now() { date +%s.%N; }

# row TARGET CONC RPS LATFILE: p50/p99 (ms) and errors from the
# "code seconds" lines of LATFILE, one result row.
row() {
	errs=$(awk '$1 != 200 && $1 != 201' "$4" | wc -l)
	pcts=$(awk '$1 == 200 || $1 == 201 { print $2 * 1000 }' "$4" | sort -n |
	    awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "- -"; exit }
		i50 = int(NR * 0.50 + 0.999999); i99 = int(NR * 0.99 + 0.999999)
		printf "%.1f %.1f\n", v[i50], v[i99] }')
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${pcts% *}" \
	    "${pcts#* }" "$errs" >>"$RESULTS"
}

# curl_run KIND TARGET CONC: N requests spread over CONC parallel clients.
curl_run() {
	per=$(( (N + $3 - 1) / $3 ))
	if [ "$1" = est ]; then
		# entities made before the clock starts
		entities $(( $3 * ((per + CHUNK - 1) / CHUNK) ))
	fi
	say "enrol: $2 c=$3 ($((per * $3)) requests) ..."
	t0=$(now)
	pids=""
	i=0
	while [ "$i" -lt "$3" ]; do
		one_client "$1" "$per" "$T/lat-$i" \
		    "$(( ${FIRST_ENT:-0} + i * ((per + CHUNK - 1) / CHUNK) ))" &
		pids="$pids $!"
		i=$((i + 1))
	done
	# shellcheck disable=SC2086
	wait $pids
	t1=$(now)
	cat "$T"/lat-* >"$T/lat"
	rm -f "$T"/lat-*
	rps=$(awk -v n="$(wc -l <"$T/lat")" -v a="$t0" -v b="$t1" \
	    'BEGIN { printf "%.1f", n / (b - a) }')
	row "$2" "$3" "$rps" "$T/lat"
	kill -0 "$DAEMON_PID" 2>/dev/null || {
		tail -n 20 "$T/capstoned.log" >&2
		die "capstoned exited during the $2 run"
	}
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
T_START=$(date +%s)
for c in 1 "$M"; do
	curl_run est "EST simplereenroll" "$c"
	curl_run keyid "REST /v1/certs key_id" "$c"
	curl_run newkey "REST /v1/certs new key" "$c"
done
ELAPSED=$(( $(date +%s) - T_START ))
# shellcheck disable=SC2086
STORED=$(curl $CURL_TLS -f "$CAP_URL/v1/certs?ca=bench" | jq '.certs | length' 2>/dev/null) ||
    STORED="?"
stop_pid "$DAEMON_PID"
DAEMON_PID=""

# --- report --------------------------------------------------------------
printf '\nMachine: %s CPU(s), %s\n' "$(nproc)" \
    "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
printf 'Load average before the run: %s; the runs took %s s (with EST set-up); %s certificates stored.\n' \
    "$LOAD_BEFORE" "$ELAPSED" "$STORED"
printf 'Local CA "bench" (EC P-256 key in the token), store sync=yes, workers=2.\n'
printf 'EST: POST /.well-known/est/simplereenroll on [enrol], a %s-byte base64 PKCS#10 of the\n' \
    "$(wc -c <"$T/csr-0.b64")"
printf '     workload'"'"'s EC P-256 key; TLS client certificate = the certificate being renewed.\n'
printf 'REST: POST /v1/certs on the API, admin client certificate; key_id = one EC P-256 token\n'
printf '      key made beforehand (CSR built and signed in the token), new key = a new one per request.\n'
printf 'curl: one process and one TLS handshake per request; %s requests per run over conc clients.\n\n' "$N"
awk -F '\t' '
	$1 ~ /key_id/ { ref[$2] = $3 }
	{ row[NR] = $0 }
	END {
		printf "| %-24s | %4s | %7s | %8s | %8s | %6s | %-9s |\n",
		    "target", "conc", "req/s", "p50 ms", "p99 ms", "errors",
		    "vs key_id"
		printf "|%s|%s|%s|%s|%s|%s|%s|\n", "--------------------------",
		    "------", "---------", "----------", "----------",
		    "--------", "-----------"
		for (i = 1; i <= NR; i++) {
			split(row[i], f, "\t")
			ratio = "-"
			if (f[1] !~ /key_id/ && (f[2] in ref) && ref[f[2]] + 0 > 0)
				ratio = sprintf("%.2f", f[3] / ref[f[2]])
			printf "| %-24s | %4s | %7s | %8s | %8s | %6s | %-9s |\n",
			    f[1], f[2], f[3], f[4], f[5], f[6], ratio
		}
	}' "$RESULTS"
printf '\n"vs key_id" is req/s divided by REST POST /v1/certs {"key_id"} at the same conc.\n'
printf 'p50/p99 are curl'"'"'s time_total per request (connect, TLS handshake, request, answer).\n'
exit "$STATUS"
