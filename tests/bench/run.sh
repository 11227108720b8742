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
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-1}
CONCS=${BENCH_CONC:-"1 16 64"}
SIZE=${BENCH_SIZE:-64}
ONLY=${BENCH_ONLY:-all}
LOADGEN=$BUILD/bench/loadgen
DAEMON=$BUILD/capstoned
CLI=$BUILD/capstone
SOFTHSM_MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}

T=$(mktemp -d "${TMPDIR:-/tmp}/capstone-bench.XXXXXX")
DAEMON_PID=""
NGINX_PID=""
STATUS=0

say() { printf '%s\n' "$*" >&2; }
die() { say "bench: $*"; exit 1; }

stop_pid() {
	# stop_pid PID: SIGTERM, wait up to 10 s, then SIGKILL.
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null || return 0
	i=0
	while kill -0 "$1" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
	stop_pid "$DAEMON_PID"
	stop_pid "$NGINX_PID"
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		say "bench: kept $T"
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A loopback TCP port nobody listens on.
free_port() {
	while :; do
		p=$(( $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 30000 + 20000 ))
		if ! ss -Htln "sport = :$p" | grep -q .; then
			echo "$p"
			return
		fi
	done
}

[ -x "$LOADGEN" ] || die "$LOADGEN is missing (run make)"
command -v nginx >/dev/null || die "nginx is missing (apt-get install nginx-light)"
command -v curl >/dev/null || die "curl is missing"

# --- test PKI: EC P-256 CA, server certificate for 127.0.0.1, client ---
mkdir -p "$T/pki"
(
	cd "$T/pki"
	openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
	openssl req -x509 -new -key ca.key -subj "/CN=Capstone Bench CA" \
	    -days 2 -sha256 -out ca.crt \
	    -addext "basicConstraints=critical,CA:TRUE" \
	    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
	for who in server admin; do
		openssl ecparam -name prime256v1 -genkey -noout \
		    -out "$who.key" 2>/dev/null
		openssl req -new -key "$who.key" -subj "/CN=$who" \
		    -out "$who.csr" 2>/dev/null
	done
	printf '%s\n' "basicConstraints=CA:FALSE" \
	    "keyUsage=critical,digitalSignature" \
	    "extendedKeyUsage=serverAuth" \
	    "subjectAltName=IP:127.0.0.1,DNS:localhost" >server.ext
	printf '%s\n' "basicConstraints=CA:FALSE" \
	    "keyUsage=critical,digitalSignature" \
	    "extendedKeyUsage=clientAuth" >admin.ext
	for who in server admin; do
		openssl x509 -req -in "$who.csr" -CA ca.crt -CAkey ca.key \
		    -CAcreateserial -days 2 -sha256 -extfile "$who.ext" \
		    -out "$who.crt" 2>/dev/null
	done
	chmod 600 ./*.key
) || die "cannot create the test PKI"
CA=$T/pki/ca.crt
CERT=$T/pki/admin.crt
KEY=$T/pki/admin.key

# Same cipher policy on both servers: TLS 1.2 and 1.3, capstoned's TLS 1.2
# list (api/tls.c), server order preferred; TLS 1.3 suites are the defaults.
CIPHERS="ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:\
ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:\
ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"

RESULTS=$T/results.tsv
: >"$RESULTS"

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
CAP_PORT=""
CAP_URL=""
CURL_TLS="--silent --show-error --cacert $CA --cert $CERT --key $KEY"

write_conf() {
	# write_conf SEAL SYNC
	cat >"$T/capstoned.conf" <<EOF
[server]
listen = 127.0.0.1:$CAP_PORT
workers = 2
tls_cert = $T/pki/server.crt
tls_key = $T/pki/server.key
tls_client_ca = $CA

[token]
uri = pkcs11:token=bench?module-path=$SOFTHSM_MODULE
pin = file:$T/pin

[store]
path = $T/store
sync = $2

[seal]
mode = $1

[auth]
admins = CN=admin

[log]
level = warn
EOF
}

start_daemon() {
	# start_daemon SEAL SYNC: (re)start capstoned and wait for health.
	stop_pid "$DAEMON_PID"
	DAEMON_PID=""
	CAP_PORT=$(free_port)
	CAP_URL=https://127.0.0.1:$CAP_PORT
	write_conf "$1" "$2"
	"$DAEMON" -c "$T/capstoned.conf" >>"$T/capstoned.log" 2>&1 &
	DAEMON_PID=$!
	deadline=$(( $(date +%s) + 30 ))
	while :; do
		if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
			tail -n 20 "$T/capstoned.log" >&2
			die "capstoned exited during start-up (seal=$1 sync=$2)"
		fi
		# shellcheck disable=SC2086
		if curl $CURL_TLS -o /dev/null -f "$CAP_URL/v1/sys/health" \
		    2>/dev/null; then
			break
		fi
		[ "$(date +%s)" -lt "$deadline" ] ||
		    die "capstoned not healthy within 30 s (seal=$1 sync=$2)"
		sleep 0.2
	done
}

api() {
	# api METHOD PATH [BODY]: fails unless the answer is 2xx.
	# shellcheck disable=SC2086
	curl $CURL_TLS -f -X "$1" -H 'Content-Type: application/json' \
	    ${3:+--data-binary "$3"} "$CAP_URL$2" >/dev/null ||
	    die "$1 $2 failed"
}

# hexval N: N random hex characters.
hexval() {
	[ "$1" -gt 0 ] || return 0
	od -An -vtx1 -N "$1" /dev/urandom | tr -d ' \n' | cut -c1-"$1"
}

GET_BODY_SIZE=""

capstoned_setup() {
	[ -x "$DAEMON" ] || die "$DAEMON is missing (run make)"
	[ -x "$CLI" ] || die "$CLI is missing (run make)"
	mkdir -p "$T/softhsm/tokens" "$T/store"
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
	    "$T/softhsm/tokens" >"$T/softhsm/softhsm2.conf"
	SOFTHSM2_CONF=$T/softhsm/softhsm2.conf
	export SOFTHSM2_CONF
	umask 077
	hexval 16 >"$T/pin"
	umask 022
	softhsm2-util --init-token --free --label bench \
	    --pin "$(cat "$T/pin")" --so-pin "$(hexval 16)" >/dev/null ||
	    die "cannot create the SoftHSM token"
	CAP_PORT=$(free_port)
	write_conf memory yes
	"$CLI" token init -c "$T/capstoned.conf" >"$T/token-init.log" 2>&1 || {
		cat "$T/token-init.log" >&2
		die "capstone token init failed"
	}
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

# Certificate enrollments end to end, in the same run (own temp dir).
if [ "$ONLY" != nginx ]; then
	printf '\nCertificate enrollments (tests/bench/enroll.sh):\n'
	sh "$(dirname "$0")/enroll.sh" "$BUILD" || STATUS=1
fi
exit "$STATUS"
