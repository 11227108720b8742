# env.sh - shell helpers for the integration tests; sourced, not run.
#
# A test script does:
#   . "$(dirname "$0")/../lib/env.sh"
#   t_setup            # token, PKI, configuration, master key, daemon
#   t_api GET /v1/sys/health; ...
#   t_ok NAME / t_fail NAME "expected ..., got ..."
#   t_done             # exit status: 1 if any check failed
#
# Every check prints "ok - NAME" or "not ok - NAME: MESSAGE" on stdout;
# tests/run.sh counts those lines.  Everything lives in one temporary
# directory ($T_TMP) removed at exit together with any daemon started here
# (T_KEEP=1 keeps the directory for a post-mortem).
#
# Environment:
#   BUILD              build directory holding capstoned and capstone (build)
#   CAPSTONED_WRAPPER  command prefix for the daemon, e.g. "valgrind ..."
#   T_START_TIMEOUT    seconds to wait for /v1/sys/health (30, 180 wrapped)
#   T_MAX_BODY         [server] max_body written by t_conf (64k)
#   T_SEAL             [seal] mode written by t_conf when not given (memory)

T_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
: "${BUILD:=build}"
case $BUILD in
/*) ;;
*) BUILD=$T_ROOT/$BUILD ;;
esac
T_MODULE=/usr/lib/softhsm/libsofthsm2.so
T_NAME=$(basename "$0" .sh)
: "${CAPSTONED_WRAPPER:=}"
: "${T_MAX_BODY:=64k}"
: "${T_SEAL:=memory}"
if [ -n "$CAPSTONED_WRAPPER" ]; then
	: "${T_START_TIMEOUT:=180}"
else
	: "${T_START_TIMEOUT:=30}"
fi

T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/capstone-it-$T_NAME.XXXXXX")
T_DAEMON_PID=""
T_DIR=""
T_PORT=""
T_STATUS=""
T_BODY=$T_TMP/body
T_CERT=""
T_KEY=""
: >"$T_TMP/failed"
: >"$T_TMP/pids"

# ---- results ----

t_ok() {
	printf 'ok - %s\n' "$1"
}

t_fail() {
	printf 'not ok - %s: %s\n' "$1" "$2"
	echo "$1" >>"$T_TMP/failed"
}

# t_check NAME CONDITION-STATUS MESSAGE: ok when the status is 0.
t_check() {
	if [ "$2" -eq 0 ]; then t_ok "$1"; else t_fail "$1" "$3"; fi
}

# t_run NAME MESSAGE CMD ARGS...: ok when CMD succeeds.
t_run() {
	_n=$1
	_msg=$2
	shift 2
	if "$@"; then t_ok "$_n"; else t_fail "$_n" "$_msg"; fi
}

# t_jq NAME FILTER [FILE]: ok when jq -e FILTER is true on FILE ($T_BODY).
t_jq() {
	if jq -e "$2" "${3:-$T_BODY}" >/dev/null 2>&1; then
		t_ok "$1"
	else
		t_fail "$1" "expected $2 to hold, got $(t_short "$(cat "${3:-$T_BODY}")")"
	fi
}

# t_eq NAME EXPECTED GOT
t_eq() {
	if [ "$2" = "$3" ]; then
		t_ok "$1"
	else
		t_fail "$1" "expected '$2', got '$(t_short "$3")'"
	fi
}

# t_short TEXT: the first 300 bytes of TEXT on one line, for messages.
t_short() {
	printf '%s' "$1" | tr '\n' ' ' | cut -c1-300
}

# t_done: ends the script; exit 1 when any check failed.
t_done() {
	if [ -s "$T_TMP/failed" ]; then
		exit 1
	fi
	exit 0
}

# t_die MESSAGE: a set-up step failed; record it and stop.
t_die() {
	t_fail "$T_NAME: setup" "$1"
	exit 1
}

# ---- cleanup ----

t_cleanup() {
	rc=$?
	set +e
	while read -r p; do
		[ -n "$p" ] && kill -KILL "$p" 2>/dev/null
	done <"$T_TMP/pids"
	# A failed script shows what its daemons warned about, so that a
	# failure seen only in CI can be diagnosed from the test output.
	if [ -s "$T_TMP/failed" ]; then
		find "$T_TMP" -name daemon.log 2>/dev/null | while read -r f; do
			grep -E '\[(warn|error)\]' "$f" | grep -v 'is open to group' |
			    tail -n 15 | sed "s|^|# ${f#"$T_TMP"/}: |"
		done
	fi
	if [ "${T_KEEP:-0}" = 1 ]; then
		echo "# kept $T_TMP" >&2
	else
		rm -rf "$T_TMP"
	fi
	exit $rc
}
trap t_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# t_track PID: kill PID at exit if it is still running.
t_track() {
	echo "$1" >>"$T_TMP/pids"
}

# ---- small utilities ----

# t_free_port: prints a TCP port in 20000..60000 that nothing listens on
# and that no earlier call of this script handed out (a daemon binds its
# ports only when it starts).
t_free_port() {
	python3 - "$T_TMP/ports" <<'EOF'
import random, socket, sys
path = sys.argv[1]
try:
    with open(path) as f:
        taken = {int(l) for l in f if l.strip()}
except FileNotFoundError:
    taken = set()
for _ in range(200):
    p = random.randint(20000, 60000)
    if p in taken:
        continue
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    with open(path, "a") as f:
        f.write("%d\n" % p)
    print(p)
    break
else:
    raise SystemExit("no free port")
EOF
}

# t_wait_pending: after a POST /v1/certs (or renew) answered 202, polls
# GET /v1/certs/{id} until it leaves pending (60 s at most, for a loaded
# machine or a sanitizer build); an issued record then counts as the 201
# the CA's quicker answer would have given (T_STATUS, T_BODY the record).
t_wait_pending() {
	[ "$T_STATUS" = 202 ] || return 0
	_cid=$(jq -r .id "$T_BODY")
	_deadline=$(($(date +%s) + 60))
	while [ "$(date +%s)" -lt "$_deadline" ]; do
		t_api GET "/v1/certs/$_cid" >/dev/null
		[ "$(jq -r .status "$T_BODY")" = pending ] || break
		sleep 0.1
	done
	if [ "$T_STATUS" = 200 ] && [ "$(jq -r .status "$T_BODY")" = issued ]; then
		T_STATUS=201
	fi
}

# t_rand_hex N: N random bytes as hex.
t_rand_hex() {
	openssl rand -hex "$1"
}

# t_json_get FILE JQ-FILTER: prints the filter's raw result ("" on error).
t_json_get() {
	jq -r "$2" <"$1" 2>/dev/null || true
}

# t_pid_exited PID: 0 when PID is gone or a zombie (waitable).
t_pid_exited() {
	[ -r "/proc/$1/status" ] || return 0
	st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)
	[ -z "$st" ] || [ "$st" = Z ] || [ "$st" = X ]
}

# t_wait_exit PID SECONDS: waits for the child PID to exit, SIGKILLs it at
# the deadline; sets T_EXIT to its exit status (137 after the kill).
t_wait_exit() {
	n=0
	lim=$(($2 * 10))
	while ! t_pid_exited "$1"; do
		n=$((n + 1))
		if [ "$n" -ge "$lim" ]; then
			kill -KILL "$1" 2>/dev/null || true
			break
		fi
		sleep 0.1
	done
	T_EXIT=0
	wait "$1" || T_EXIT=$?
	sed -i "/^$1\$/d" "$T_TMP/pids"
}

# ---- SoftHSM ----

# t_softhsm DIR LABEL: DIR/softhsm2.conf, DIR/tokens, a token LABEL with a
# random user PIN in DIR/pin (0600); exports SOFTHSM2_CONF.
t_softhsm() {
	mkdir -p "$1/tokens"
	printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
	    "$1" >"$1/softhsm2.conf"
	SOFTHSM2_CONF=$1/softhsm2.conf
	export SOFTHSM2_CONF
	(umask 077 && t_rand_hex 12 | tr -d '\n' >"$1/pin" &&
	    t_rand_hex 12 | tr -d '\n' >"$1/so-pin")
	softhsm2-util --init-token --free --label "$2" \
	    --so-pin "$(cat "$1/so-pin")" --pin "$(cat "$1/pin")" >/dev/null ||
	    return 1
}

# t_p11 DIR ARGS...: pkcs11-tool logged in to the token of DIR (PIN passed
# through the environment, not the command line).
t_p11() {
	_d=$1
	shift
	T_P11_PIN=$(cat "$_d/pin") pkcs11-tool --module "$T_MODULE" \
	    --login --pin env:T_P11_PIN "$@"
}

# ---- PKI (software keys; the dev PKI of tools/dev-setup.sh uses the token) ----

# t_cert DIR NAME CN ISSUER EXT: key DIR/NAME.key and certificate DIR/NAME.crt
# signed by DIR/ISSUER.{crt,key} with extensions EXT (an openssl -extfile).
t_cert() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	    -out "$1/$2.key" 2>/dev/null &&
	    openssl req -new -key "$1/$2.key" -subj "/CN=$3" -out "$1/$2.csr" &&
	    openssl x509 -req -in "$1/$2.csr" -CA "$1/$4.crt" -CAkey "$1/$4.key" \
		-set_serial "0x$(t_rand_hex 8)" -days 30 -sha256 \
		-extfile "$5" -out "$1/$2.crt" 2>/dev/null &&
	    chmod 600 "$1/$2.key"
}

# t_ca DIR NAME CN: a self-signed CA DIR/NAME.{crt,key}.
t_ca() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	    -out "$1/$2.key" 2>/dev/null &&
	    openssl req -new -x509 -key "$1/$2.key" -subj "/CN=$3" -days 30 \
		-sha256 -addext basicConstraints=critical,CA:true \
		-addext keyUsage=critical,keyCertSign,cRLSign \
		-out "$1/$2.crt" && chmod 600 "$1/$2.key"
}

# t_pki DIR: DIR/pki/ with ca, server (127.0.0.1, localhost), client certs
# admin and svc-a, and other-ca with a client cert "other" (CN=admin).
t_pki() {
	p=$1/pki
	mkdir -p "$p"
	printf 'basicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$p/server.ext"
	printf 'basicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >"$p/client.ext"
	t_ca "$p" ca "Capstone Test CA" &&
	    t_cert "$p" server localhost ca "$p/server.ext" &&
	    t_cert "$p" admin admin ca "$p/client.ext" &&
	    t_cert "$p" svc-a svc-a ca "$p/client.ext" &&
	    t_ca "$p" other-ca "Other CA" &&
	    t_cert "$p" other admin other-ca "$p/client.ext"
}

# ---- configuration ----

# t_conf DIR PORT [SEAL]: writes DIR/capstoned.conf for the token, PKI and
# store under DIR.
t_conf() {
	cat >"$1/capstoned.conf" <<EOF
# capstoned configuration for an integration test
[server]
listen = 127.0.0.1:$2
workers = 2
max_body = $T_MAX_BODY
tls_cert = $1/pki/server.crt
tls_key = $1/pki/server.key
tls_client_ca = $1/pki/ca.crt

[token]
uri = pkcs11:token=capstone?module-path=$T_MODULE
pin = file:$1/pin
sessions = 8

[store]
path = $1/store

[seal]
mode = ${3:-$T_SEAL}

[auth]
admins = CN=admin

[audit]
path = $1/audit.log

[log]
target = stderr
level = info
EOF
	# Under valgrind an enrollment through the daemon's own enrolment
	# listener can take more than the default 10 s before a 201.
	if [ -n "$CAPSTONED_WRAPPER" ]; then
		printf '\n[certs]\nreply_wait = 120s\n' >>"$1/capstoned.conf"
	fi
	mkdir -p "$1/store"
}

# t_token_init DIR: creates the master key (capstone token init).
t_token_init() {
	"$BUILD/capstone" token init -c "$1/capstoned.conf" >"$1/token-init.out" 2>&1
}

# ---- daemon ----

# t_health: 0 when /v1/sys/health answers 200 over mTLS.
t_health() {
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
	    --cacert "$T_DIR/pki/ca.crt" --cert "$T_DIR/pki/admin.crt" \
	    --key "$T_DIR/pki/admin.key" \
	    "https://127.0.0.1:$T_PORT/v1/sys/health" 2>/dev/null) || true
	[ "$code" = 200 ]
}

# t_start_daemon DIR: starts capstoned on DIR/capstoned.conf in the
# background (stderr appended to DIR/daemon.log) and waits for health.
# Returns 1 (after printing the log's tail) if it does not come up.
t_start_daemon() {
	T_DIR=$1
	T_PORT=$(sed -n 's/^listen = .*:\([0-9]*\)$/\1/p' "$1/capstoned.conf")
	echo "--- start $(date +%T)" >>"$1/daemon.log"
	# shellcheck disable=SC2086
	$CAPSTONED_WRAPPER "$BUILD/capstoned" -c "$1/capstoned.conf" \
	    </dev/null >>"$1/daemon.log" 2>&1 &
	T_DAEMON_PID=$!
	t_track "$T_DAEMON_PID"
	n=0
	lim=$((T_START_TIMEOUT * 10))
	while ! t_health; do
		if t_pid_exited "$T_DAEMON_PID"; then
			t_wait_exit "$T_DAEMON_PID" 1
			echo "# capstoned exited with $T_EXIT during start-up:" >&2
			tail -n 30 "$1/daemon.log" | sed 's/^/# /' >&2
			T_DAEMON_PID=""
			return 1
		fi
		n=$((n + 1))
		if [ "$n" -ge "$lim" ]; then
			echo "# capstoned not healthy after ${T_START_TIMEOUT}s:" >&2
			tail -n 30 "$1/daemon.log" | sed 's/^/# /' >&2
			kill -KILL "$T_DAEMON_PID" 2>/dev/null || true
			T_DAEMON_PID=""
			return 1
		fi
		sleep 0.1
	done
	return 0
}

# t_stop_daemon [SIGNAL]: signals the daemon (TERM), waits for it with a
# deadline and sets T_EXIT; returns 0 only if it exited with status 0.
t_stop_daemon() {
	T_EXIT=none
	[ -n "$T_DAEMON_PID" ] || return 1
	kill "-${1:-TERM}" "$T_DAEMON_PID" 2>/dev/null || true
	if [ -n "$CAPSTONED_WRAPPER" ]; then
		t_wait_exit "$T_DAEMON_PID" 120
	else
		t_wait_exit "$T_DAEMON_PID" 30
	fi
	T_DAEMON_PID=""
	if [ "$T_EXIT" -ne 0 ]; then
		echo "# capstoned exited with $T_EXIT; log tail:" >&2
		tail -n 40 "$T_DIR/daemon.log" | sed 's/^/# /' >&2
		return 1
	fi
	return 0
}

# t_stop_ok NAME: stops the daemon and checks it exited with status 0.
t_stop_ok() {
	if t_stop_daemon; then
		t_ok "$1"
	else
		t_fail "$1" "expected exit status 0 after SIGTERM, got $T_EXIT"
	fi
}

# t_kill_daemon: SIGKILL, no questions asked.
t_kill_daemon() {
	[ -n "$T_DAEMON_PID" ] || return 0
	kill -KILL "$T_DAEMON_PID" 2>/dev/null || true
	t_wait_exit "$T_DAEMON_PID" 10
	T_DAEMON_PID=""
}

# t_setup [SEAL]: the usual fixture in $T_TMP/d: token, PKI, configuration
# on a free port, master key, running daemon.  Stops the script on failure.
t_setup() {
	t_prepare "${1:-}"
	t_start_daemon "$T_DIR" || t_die "capstoned did not start"
}

# t_prepare [SEAL]: t_setup without starting the daemon, for a test that
# edits $T_DIR/capstoned.conf first (then t_start_daemon "$T_DIR").
t_prepare() {
	T_DIR=$T_TMP/d
	mkdir -p "$T_DIR"
	[ -x "$BUILD/capstoned" ] || t_die "$BUILD/capstoned not built"
	[ -x "$BUILD/capstone" ] || t_die "$BUILD/capstone not built"
	t_softhsm "$T_DIR" capstone || t_die "softhsm token creation failed"
	t_pki "$T_DIR" >/dev/null 2>&1 || t_die "test PKI creation failed"
	T_PORT=$(t_free_port) || t_die "no free port"
	t_conf "$T_DIR" "$T_PORT" "${1:-}"
	t_token_init "$T_DIR" ||
	    t_die "capstone token init failed: $(t_short "$(cat "$T_DIR/token-init.out")")"
}

# ---- API ----

# t_api METHOD PATH [BODY]: one request as the admin (or $T_CERT/$T_KEY).
# BODY is sent as is, or read from a file when it starts with @.  Prints
# the response body, writes it to $T_BODY and the status to
# $T_TMP/status, and sets T_STATUS (visible when not run in a subshell;
# use t_status otherwise).  Status 000 means no HTTP answer.
t_api() {
	_m=$1
	_p=$2
	_c=${T_CERT:-$T_DIR/pki/admin.crt}
	_k=${T_KEY:-$T_DIR/pki/admin.key}
	if [ $# -ge 3 ]; then
		case $3 in
		@*) _b=$3 ;;
		*) printf '%s' "$3" >"$T_TMP/req" && _b=@$T_TMP/req ;;
		esac
		T_STATUS=$(curl -s -o "$T_BODY" -w '%{http_code}' --max-time 60 \
		    --cacert "$T_DIR/pki/ca.crt" --cert "$_c" --key "$_k" \
		    -X "$_m" -H 'Content-Type: application/json' -H 'Expect:' \
		    --data-binary "$_b" "https://127.0.0.1:$T_PORT$_p") || true
	else
		T_STATUS=$(curl -s -o "$T_BODY" -w '%{http_code}' --max-time 60 \
		    --cacert "$T_DIR/pki/ca.crt" --cert "$_c" --key "$_k" \
		    -X "$_m" "https://127.0.0.1:$T_PORT$_p") || true
	fi
	[ -n "$T_STATUS" ] || T_STATUS=000
	[ -f "$T_BODY" ] || : >"$T_BODY"
	echo "$T_STATUS" >"$T_TMP/status"
	cat "$T_BODY"
}

# t_api_as CERT BEARER METHOD PATH [BODY]: t_api with the client certificate
# pki/CERT.{crt,key} ("-": none) and the header line "Authorization: Bearer
# ..." held in the file BEARER ("-": none; a file keeps the token off
# command lines).
t_api_as() {
	_ac=$1
	_ab=$2
	_m=$3
	_p=$4
	shift 4
	if [ $# -ge 1 ]; then
		case $1 in
		@*) _b=$1 ;;
		*) printf '%s' "$1" >"$T_TMP/req" && _b=@$T_TMP/req ;;
		esac
		set -- -H 'Content-Type: application/json' -H 'Expect:' \
		    --data-binary "$_b"
	fi
	if [ "$_ac" != - ]; then
		set -- "$@" --cert "$T_DIR/pki/$_ac.crt" --key "$T_DIR/pki/$_ac.key"
	fi
	if [ "$_ab" != - ]; then
		set -- "$@" -H "@$_ab"
	fi
	T_STATUS=$(curl -s -o "$T_BODY" -w '%{http_code}' --max-time 60 \
	    --cacert "$T_DIR/pki/ca.crt" -X "$_m" "$@" \
	    "https://127.0.0.1:$T_PORT$_p") || true
	[ -n "$T_STATUS" ] || T_STATUS=000
	[ -f "$T_BODY" ] || : >"$T_BODY"
	echo "$T_STATUS" >"$T_TMP/status"
	cat "$T_BODY"
}

# t_status: the status of the last t_api call (also from a subshell).
t_status() {
	cat "$T_TMP/status"
}

# t_expect NAME STATUS METHOD PATH [BODY]: one request whose status must
# be STATUS; the body stays in $T_BODY.
t_expect() {
	_n=$1
	_want=$2
	shift 2
	t_api "$@" >/dev/null
	if [ "$T_STATUS" = "$_want" ]; then
		t_ok "$_n"
	else
		t_fail "$_n" "expected HTTP $_want, got $T_STATUS $(t_short "$(cat "$T_BODY")")"
	fi
}

# t_error_shape NAME CODE: the last body is {"error":{"code":CODE,"message":string}}.
t_error_shape() {
	if jq -e --arg c "$2" '(.error.code == $c) and (.error.message | type == "string")' \
	    "$T_BODY" >/dev/null 2>&1; then
		t_ok "$1"
	else
		t_fail "$1" "expected {\"error\":{\"code\":\"$2\",\"message\":...}}, got $(t_short "$(cat "$T_BODY")")"
	fi
}

# t_cli ARGS...: the capstone CLI pointed at the test daemon as the admin.
t_cli() {
	CAPSTONE_ADDR=https://127.0.0.1:$T_PORT \
	    CAPSTONE_CACERT=$T_DIR/pki/ca.crt \
	    CAPSTONE_CERT=$T_DIR/pki/admin.crt \
	    CAPSTONE_KEY=$T_DIR/pki/admin.key \
	    "$BUILD/capstone" "$@"
}
