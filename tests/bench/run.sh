#!/bin/sh
# run.sh BUILD - secret read and write throughput of capstoned, measured in
# the same run next to nginx serving a static file of the same size over the
# same mutual TLS, with the same load generator (BUILD/bench/loadgen).
#
# Everything lives in one temp dir (SoftHSM token, test PKI, configuration,
# LMDB store, nginx prefix) on free loopback ports and is removed on exit.
# Nothing here asserts a speed: the figures are printed side by side.
#
# Tunables (environment): BENCH_DURATION (seconds per run, default 10),
# BENCH_WARMUP (default 1), BENCH_CONC (default "1 16 64"), BENCH_SIZE
# (hex characters in the secret value, default 64), BENCH_ONLY=nginx to
# measure the reference alone, BENCH_KEEP=1 to keep the temp dir.
set -eu

BUILD=${1:?usage: sh tests/bench/run.sh BUILD}
BUILD=$(cd "$BUILD" && pwd)
CONCS=${BENCH_CONC:-"1 16 64"}
SIZE=${BENCH_SIZE:-64}
ONLY=${BENCH_ONLY:-all}
BENCH_NAME=bench
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"

[ -x "$LOADGEN" ] || die "$LOADGEN is missing (run make)"
command -v nginx >/dev/null || die "nginx is missing (apt-get install nginx-light)"
command -v curl >/dev/null || die "curl is missing"

bench_pki

# Same cipher policy on both servers: TLS 1.2 and 1.3, capstoned's TLS 1.2
# list (api/tls.c), server order preferred; TLS 1.3 suites are the defaults.
CIPHERS="ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:\
ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:\
ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"

# measure TARGET OP CONC URL [loadgen args...]: one loadgen run, one row.
measure() {
	m_target=$1 m_op=$2 m_conc=$3 m_url=$4
	shift 4
	m_threads=$m_conc
	[ "$m_threads" -gt 2 ] && m_threads=2
	say "bench: $m_target $m_op c=$m_conc ..."
	if line=$("$LOADGEN" --url "$m_url" --cert "$CERT" --key "$KEY" \
	    --cacert "$CA" --connections "$m_conc" --threads "$m_threads" \
	    --duration "$DURATION" --warmup "$WARMUP" "$@"); then
		:
	else
		STATUS=1
	fi
	say "  $line"
	get() { printf '%s\n' "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$m_target" "$m_op" "$m_conc" \
	    "$(get rps)" "$(get p50_ms)" "$(get p99_ms)" "$(get errors)" \
	    "$(get tls)" >>"$RESULTS"
}

# --- capstoned ---------------------------------------------------------
api() {
	# api METHOD PATH [BODY]: fails unless the answer is 2xx.
	# shellcheck disable=SC2086
	curl $CURL_TLS -f -X "$1" -H 'Content-Type: application/json' \
	    ${3:+--data-binary "$3"} "$CAP_URL$2" >/dev/null ||
	    die "$1 $2 failed"
}

GET_BODY_SIZE=""

capstoned_setup() {
	[ -x "$DAEMON" ] || die "$DAEMON is missing (run make)"
	[ -x "$CLI" ] || die "$CLI is missing (run make)"
	bench_token memory yes
	start_daemon memory yes
	api POST /v1/domains '{"name":"bench"}'
	api PUT /v1/domains/bench/secrets/read \
	    "{\"data\":{\"v\":\"$(hexval "$SIZE")\"}}"
	# shellcheck disable=SC2086
	GET_BODY_SIZE=$(curl $CURL_TLS -f "$CAP_URL/v1/domains/bench/secrets/read" |
	    wc -c) || die "GET of the test secret failed"
}

capstoned_runs() {
	# capstoned_runs SEAL SYNC OPS
	start_daemon "$1" "$2"
	target="capstoned seal=$1 sync=$2"
	for op in $3; do
		for c in $CONCS; do
			if [ "$op" = GET ]; then
				measure "$target" GET "$c" \
				    "$CAP_URL/v1/domains/bench/secrets/read"
			else
				measure "$target" PUT "$c" \
				    "$CAP_URL/v1/domains/bench/secrets/w-$1-$2-%d" \
				    --method PUT --body-size "$SIZE" --unique
			fi
			kill -0 "$DAEMON_PID" 2>/dev/null || {
				tail -n 20 "$T/capstoned.log" >&2
				die "capstoned exited during the $op run (seal=$1 sync=$2)"
			}
		done
	done
}

# --- nginx: the reference ------------------------------------------------
nginx_start() {
	# nginx_start BODY_SIZE
	N=$T/nginx
	mkdir -p "$N/logs" "$N/html"
	NGINX_PORT=$(free_port)
	# A JSON body of exactly BODY_SIZE bytes, like capstoned's answer.
	pad=$(( $1 - 9 ))
	[ "$pad" -ge 0 ] || pad=0
	printf '{"v":"%s"}\n' "$(hexval "$pad")" \
	    >"$N/html/secret.json"
	user=""
	[ "$(id -u)" -eq 0 ] && user="user root;"
	cat >"$N/nginx.conf" <<EOF
$user
daemon off;
master_process on;
worker_processes 2;
pid $N/nginx.pid;
error_log $N/logs/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $N/body;
	proxy_temp_path $N/proxy;
	fastcgi_temp_path $N/fastcgi;
	uwsgi_temp_path $N/uwsgi;
	scgi_temp_path $N/scgi;
	keepalive_requests 10000000;
	keepalive_timeout 300s;
	server {
		listen 127.0.0.1:$NGINX_PORT ssl;
		ssl_certificate $T/pki/server.crt;
		ssl_certificate_key $T/pki/server.key;
		ssl_client_certificate $CA;
		ssl_verify_client on;
		ssl_protocols TLSv1.2 TLSv1.3;
		ssl_ciphers $CIPHERS;
		ssl_prefer_server_ciphers on;
		location = /secret {
			default_type application/json;
			alias $N/html/secret.json;
		}
		location = /put {
			client_body_buffer_size 1m;
			default_type application/json;
			return 200 '{"version":1}\n';
		}
		location / { return 404; }
	}
}
EOF
	nginx -p "$N/" -e "$N/logs/error.log" -c "$N/nginx.conf" \
	    >"$N/logs/stdout.log" 2>&1 &
	NGINX_PID=$!
	deadline=$(( $(date +%s) + 15 ))
	# shellcheck disable=SC2086
	until curl $CURL_TLS -f -o /dev/null \
	    "https://127.0.0.1:$NGINX_PORT/secret" 2>/dev/null; do
		kill -0 "$NGINX_PID" 2>/dev/null || {
			cat "$N/logs/error.log" "$N/logs/stdout.log" >&2
			die "nginx exited during start-up"
		}
		[ "$(date +%s)" -lt "$deadline" ] ||
		    die "nginx not answering within 15 s"
		sleep 0.2
	done
}

nginx_runs() {
	nginx_start "$1"
	for c in $CONCS; do
		measure "nginx (static file)" GET "$c" \
		    "https://127.0.0.1:$NGINX_PORT/secret"
	done
	for c in $CONCS; do
		measure "nginx (body discarded)" PUT "$c" \
		    "https://127.0.0.1:$NGINX_PORT/put" \
		    --method PUT --body-size "$SIZE"
	done
	stop_pid "$NGINX_PID"
	NGINX_PID=""
}

# --- the run -------------------------------------------------------------
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
say "bench: temp dir $T, $DURATION s per run after $WARMUP s warm-up"
if [ "$ONLY" = nginx ]; then
	# Body size of capstoned's answer estimated from its documented shape.
	GET_BODY_SIZE=$(( SIZE + 90 ))
else
	capstoned_setup
fi
say "bench: GET answer is $GET_BODY_SIZE bytes; secret value $SIZE hex characters"

if [ "$ONLY" != nginx ]; then
	capstoned_runs memory yes "GET PUT"
	capstoned_runs token yes "GET PUT"
	capstoned_runs memory no "PUT"
	stop_pid "$DAEMON_PID"
	DAEMON_PID=""
fi
nginx_runs "$GET_BODY_SIZE"

# --- report --------------------------------------------------------------
printf '\nMachine: %s CPU(s), %s\n' "$(nproc)" \
    "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
printf 'Load average before the run: %s\n' "$LOAD_BEFORE"
printf 'Each run: %s s after %s s warm-up; keep-alive mTLS (ECDSA P-256), loadgen on the same host.\n' \
    "$DURATION" "$WARMUP"
printf 'GET answer %s bytes; PUT body {"data":{"v":"<%s hex>"}}.\n\n' \
    "$GET_BODY_SIZE" "$SIZE"
awk -F '\t' '
	$1 ~ /^nginx/ { ref[$2 "/" $3] = $4 }
	{ row[NR] = $0 }
	END {
		printf "| %-30s | %-3s | %4s | %9s | %7s | %7s | %6s | %-9s | %s\n",
		    "target", "op", "conc", "req/s", "p50 ms", "p99 ms",
		    "errors", "vs nginx", "tls"
		printf "|%s|%s|%s|%s|%s|%s|%s|%s|%s\n", "--------------------------------",
		    "-----", "------", "-----------", "---------", "---------",
		    "--------", "-----------", "----"
		for (i = 1; i <= NR; i++) {
			split(row[i], f, "\t")
			k = f[2] "/" f[3]
			ratio = "-"
			if (f[1] !~ /^nginx/ && (k in ref) && ref[k] + 0 > 0 &&
			    f[4] != "")
				ratio = sprintf("%.3f", f[4] / ref[k])
			printf "| %-30s | %-3s | %4s | %9s | %7s | %7s | %6s | %-9s | %s\n",
			    f[1], f[2], f[3], f[4] == "" ? "failed" : f[4],
			    f[5], f[6], f[7], ratio, f[8]
		}
	}' "$RESULTS"
printf '\n"vs nginx" is req/s of capstoned divided by req/s of nginx at the same op and concurrency\n'
printf '(GET: static file of the same size; PUT: nginx reads and discards the body).\n\n'

printf 'openssl speed -seconds 3 -evp aes-256-gcm (one core, for context):\n'
openssl speed -seconds 3 -evp aes-256-gcm 2>/dev/null | tail -n 2

# Certificate enrollments end to end, EST re-enrollments and package
# signing, in the same run (each script has its own temp dir).
if [ "$ONLY" != nginx ]; then
	printf '\nCertificate enrollments (tests/bench/enroll.sh):\n'
	sh "$(dirname "$0")/enroll.sh" "$BUILD" || STATUS=1
	printf '\nEST re-enrollment on the enrolment listener (tests/bench/enrol.sh):\n'
	sh "$(dirname "$0")/enrol.sh" "$BUILD" || STATUS=1
	printf '\nVNF package signing and verification (tests/bench/pkg.sh):\n'
	sh "$(dirname "$0")/pkg.sh" "$BUILD" || STATUS=1
fi
exit "$STATUS"
