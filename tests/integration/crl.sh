#!/bin/sh
# crl.sh - client certificate revocation: with [server] tls_client_crl set,
# a client certificate revoked by the CA (openssl ca -revoke, -gencrl) is
# refused at the handshake once SIGHUP reloads the CRL, other client
# certificates keep working, a broken CRL file on reload keeps the last good
# one, and a restart starts with the revocation in force.
set -eu
. "$(dirname "$0")/../lib/env.sh"

t_prepare
P=$T_DIR/pki
CRL=$P/client.crl

# A minimal openssl ca directory for the test CA.
DB=$P/ca-db
mkdir -p "$DB/new"
: >"$DB/index.txt"
echo 1000 >"$DB/crlnumber"
cat >"$P/ca.cnf" <<EOF
[ ca ]
default_ca = test_ca

[ test_ca ]
dir = $DB
database = \$dir/index.txt
new_certs_dir = \$dir/new
certificate = $P/ca.crt
private_key = $P/ca.key
serial = \$dir/serial
crlnumber = \$dir/crlnumber
default_md = sha256
default_crl_days = 7
policy = any_policy

[ any_policy ]
commonName = supplied
EOF

# gencrl FILE: the CA's current CRL, PEM, written to FILE atomically.
gencrl() {
	openssl ca -config "$P/ca.cnf" -gencrl -out "$1.tmp" 2>"$T_TMP/ca.err" &&
	    mv "$1.tmp" "$1"
}

t_cert "$P" svc-b svc-b ca "$P/client.ext" >/dev/null 2>&1 ||
    t_die "minting svc-b failed"
gencrl "$CRL" || t_die "openssl ca -gencrl failed: $(t_short "$(cat "$T_TMP/ca.err")")"
sed -i "/^tls_client_ca = /a tls_client_crl = $CRL" "$T_DIR/capstoned.conf"
t_start_daemon "$T_DIR" || t_die "capstoned did not start"

URL=https://127.0.0.1:$T_PORT/v1/sys/health

# attempt CERT [CURL-ARGS...]: prints "CURL-EXIT HTTP-STATUS" for health
# as pki/CERT.
attempt() {
	_ce=$1
	shift
	_c=0
	_h=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 "$@" \
	    --cacert "$P/ca.crt" --cert "$P/$_ce.crt" --key "$P/$_ce.key" "$URL") || _c=$?
	echo "$_c ${_h:-000}"
}

# refused NAME "CURL-EXIT HTTP-STATUS": a TLS-level failure, no HTTP answer.
refused() {
	case $2 in
	"35 000" | "55 000" | "56 000") t_ok "$1" ;;
	*) t_fail "$1" "expected a refused handshake (curl exit 35/55/56, no HTTP status), got '$2'" ;;
	esac
}

# wait_refused CERT: polls for up to 20 s until CERT is refused; prints
# the last attempt.
wait_refused() {
	n=0
	while :; do
		a=$(attempt "$1")
		case $a in
		"35 000" | "55 000" | "56 000") break ;;
		esac
		[ $n -ge 200 ] && break
		n=$((n + 1))
		sleep 0.1
	done
	echo "$a"
}

t_eq "svc-a is accepted under an empty CRL" "0 200" "$(attempt svc-a)"
t_eq "svc-b is accepted under an empty CRL" "0 200" "$(attempt svc-b)"

rc=0
openssl ca -config "$P/ca.cnf" -revoke "$P/svc-a.crt" \
    -crl_reason keyCompromise >/dev/null 2>"$T_TMP/ca.err" || rc=$?
t_check "openssl ca revokes svc-a" "$rc" "$(t_short "$(cat "$T_TMP/ca.err")")"
gencrl "$CRL" || t_die "openssl ca -gencrl failed: $(t_short "$(cat "$T_TMP/ca.err")")"
serial=$(openssl x509 -noout -serial -in "$P/svc-a.crt" | sed 's/^serial=//')
t_run "the new CRL lists svc-a's serial" "serial $serial not in the CRL" \
    sh -c 'openssl crl -noout -text -in "$1" | grep -q -i "Serial Number: *$2"' sh "$CRL" "$serial"

kill -HUP "$T_DAEMON_PID"
refused "after SIGHUP the revoked svc-a is refused at the handshake" "$(wait_refused svc-a)"
t_eq "svc-b still works" "0 200" "$(attempt svc-b)"
t_eq "admin still works" "0 200" "$(attempt admin)"
refused "the revoked svc-a is refused over TLS 1.2 too" \
    "$(attempt svc-a --tlsv1.2 --tls-max 1.2)"
t_eq "svc-b works over TLS 1.2" "0 200" "$(attempt svc-b --tlsv1.2 --tls-max 1.2)"

# The CLI reports the refusal and exits 1.
rc=0
CAPSTONE_ADDR=https://127.0.0.1:$T_PORT CAPSTONE_CACERT=$P/ca.crt \
    CAPSTONE_CERT=$P/svc-a.crt CAPSTONE_KEY=$P/svc-a.key \
    "$BUILD/capstone" domain list >/dev/null 2>"$T_TMP/cli.err" || rc=$?
t_eq "the CLI with the revoked certificate exits 1" 1 "$rc"
t_run "the CLI names the refusal" "stderr: $(t_short "$(cat "$T_TMP/cli.err")")" \
    grep -q -i -e revoked -e alert -e handshake "$T_TMP/cli.err"

# A broken CRL on reload: logged, the last good CRL stays in force.
cp "$CRL" "$CRL.good"
echo "not a CRL" >"$CRL"
size=$(wc -c <"$T_DIR/daemon.log")
kill -HUP "$T_DAEMON_PID"
n=0
while [ "$(wc -c <"$T_DIR/daemon.log")" -le "$size" ] && [ $n -lt 100 ]; do
	n=$((n + 1))
	sleep 0.1
done
t_run "a failed CRL reload is logged" "daemon.log did not grow" \
    test "$(wc -c <"$T_DIR/daemon.log")" -gt "$size"
refused "after a failed reload svc-a is still refused" "$(attempt svc-a)"
t_eq "after a failed reload svc-b still works" "0 200" "$(attempt svc-b)"
mv "$CRL.good" "$CRL"

# A restart reads the CRL at start-up.
t_stop_ok "daemon stops with status 0 on SIGTERM"
t_start_daemon "$T_DIR" || t_die "capstoned did not restart"
refused "after a restart svc-a is refused" "$(attempt svc-a)"
t_eq "after a restart svc-b works" "0 200" "$(attempt svc-b)"

t_stop_ok "daemon stops with status 0 after the restart"
t_done
