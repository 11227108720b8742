# shellcheck shell=sh disable=SC2034 # the variables set here are used by the sourcing scripts
# lib.sh - the set-up the bench scripts share, sourced by each: one temp
# dir removed on exit (BENCH_KEEP=1 keeps it), process helpers, a test PKI
# for mutual TLS, a SoftHSM token initialised for capstoned, its
# configuration, and starting the daemon until it answers its health check.
#
# Before sourcing set BUILD (an absolute path) and BENCH_NAME (the prefix of
# messages and of the temp dir's name).  Sets T, DAEMON_PID, NGINX_PID,
# STATUS, RESULTS (an empty file for the result rows), and after bench_pki
# CA, CERT, KEY and CURL_TLS; after start_daemon CAP_PORT and CAP_URL.

DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-1}
LOADGEN=$BUILD/bench/loadgen
DAEMON=$BUILD/capstoned
CLI=$BUILD/capstone
SOFTHSM_MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}

T=$(mktemp -d "${TMPDIR:-/tmp}/capstone-$BENCH_NAME.XXXXXX")
DAEMON_PID=""
NGINX_PID=""
STATUS=0
CAP_PORT=""
CAP_URL=""

say() { printf '%s\n' "$*" >&2; }
die() { say "$BENCH_NAME: $*"; exit 1; }

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
		say "$BENCH_NAME: kept $T"
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

# hexval N: N random hex characters.
hexval() {
	[ "$1" -gt 0 ] || return 0
	od -An -vtx1 -N "$1" /dev/urandom | tr -d ' \n' | cut -c1-"$1"
}

RESULTS=$T/results.tsv
: >"$RESULTS"

# bench_pki: EC P-256 CA, server certificate for 127.0.0.1, admin client
# certificate, all in $T/pki.
bench_pki() {
	mkdir -p "$T/pki"
	(
		cd "$T/pki"
		openssl ecparam -name prime256v1 -genkey -noout -out ca.key \
		    2>/dev/null
		openssl req -x509 -new -key ca.key \
		    -subj "/CN=Capstone Bench CA" -days 2 -sha256 -out ca.crt \
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
			openssl x509 -req -in "$who.csr" -CA ca.crt \
			    -CAkey ca.key -CAcreateserial -days 2 -sha256 \
			    -extfile "$who.ext" -out "$who.crt" 2>/dev/null
		done
		chmod 600 ./*.key
	) || die "cannot create the test PKI"
	CA=$T/pki/ca.crt
	CERT=$T/pki/admin.crt
	KEY=$T/pki/admin.key
	CURL_TLS="--silent --show-error --cacert $CA --cert $CERT --key $KEY"
}

write_conf() {
	# write_conf SEAL SYNC: BENCH_CONF_EXTRA, when set, is appended as is
	# (further sections, e.g. [enrol]).
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
${BENCH_CONF_EXTRA:-}
EOF
}

# bench_token SEAL SYNC: a fresh SoftHSM token with a random PIN in $T/pin,
# initialised by `capstone token init` with that configuration.
bench_token() {
	mkdir -p "$T/softhsm/tokens" "$T/store"
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
	    "$T/softhsm/tokens" >"$T/softhsm/softhsm2.conf"
	SOFTHSM2_CONF=$T/softhsm/softhsm2.conf
	export SOFTHSM2_CONF
	(umask 077 && hexval 16 >"$T/pin")
	softhsm2-util --init-token --free --label bench \
	    --pin "$(cat "$T/pin")" --so-pin "$(hexval 16)" >/dev/null ||
	    die "cannot create the SoftHSM token"
	CAP_PORT=$(free_port)
	write_conf "$1" "$2"
	"$CLI" token init -c "$T/capstoned.conf" >"$T/token-init.log" 2>&1 || {
		cat "$T/token-init.log" >&2
		die "capstone token init failed"
	}
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
