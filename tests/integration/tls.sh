#!/bin/sh
# tls.sh - mutual TLS: the handshake refuses a client without a certificate
# or with one from another CA, and anything older than TLS 1.2.
set -eu
. "$(dirname "$0")/../lib/env.sh"

t_setup

P=$T_DIR/pki
URL=https://127.0.0.1:$T_PORT/v1/sys/health

# curl_code ARGS...: prints "CURL-EXIT HTTP-STATUS".
curl_code() {
	_c=0
	_h=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 \
	    --cacert "$P/ca.crt" "$@" "$URL") || _c=$?
	echo "$_c ${_h:-000}"
}

# refused NAME "CURL-EXIT HTTP-STATUS": no HTTP answer, a TLS-level failure.
refused() {
	case $2 in
	"35 000" | "55 000" | "56 000")
		t_ok "$1" ;;
	*)
		t_fail "$1" "expected a refused handshake (curl exit 35/55/56 and no HTTP status), got curl exit/status '$2'" ;;
	esac
}

got=$(curl_code --cert "$P/admin.crt" --key "$P/admin.key")
t_eq "admin certificate is accepted" "0 200" "$got"

refused "no client certificate is refused" "$(curl_code)"
refused "no client certificate over TLS 1.2 is refused" "$(curl_code --tlsv1.2 --tls-max 1.2)"
refused "client certificate from another CA is refused" \
    "$(curl_code --cert "$P/other.crt" --key "$P/other.key")"
refused "another CA over TLS 1.2 is refused" \
    "$(curl_code --tlsv1.2 --tls-max 1.2 --cert "$P/other.crt" --key "$P/other.key")"

# A self-signed client certificate that claims CN=admin.
openssl req -new -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T_TMP/self.key" -out "$T_TMP/self.crt" -subj /CN=admin \
    -days 1 2>/dev/null
refused "self-signed client certificate is refused" \
    "$(curl_code --cert "$T_TMP/self.crt" --key "$T_TMP/self.key")"

t_eq "TLS 1.3 works" "0 200" \
    "$(curl_code --tlsv1.3 --tls-max 1.3 --cert "$P/admin.crt" --key "$P/admin.key")"
t_eq "TLS 1.2 works" "0 200" \
    "$(curl_code --tlsv1.2 --tls-max 1.2 --cert "$P/admin.crt" --key "$P/admin.key")"

# s_client PROTO-FLAG: prints the negotiated protocol, "(NONE)" when the
# handshake failed (the session block's Protocol line shows the attempt).
# SECLEVEL=0 so that the client itself is willing to offer old versions.
s_client() {
	openssl s_client -connect "127.0.0.1:$T_PORT" "$1" \
	    -cipher 'DEFAULT:@SECLEVEL=0' -CAfile "$P/ca.crt" \
	    -cert "$P/admin.crt" -key "$P/admin.key" </dev/null 2>/dev/null |
	    sed -n 's/^New, \([^,]*\), Cipher is .*/\1/p' | head -n 1
}
got=$(s_client -tls1_2)
t_eq "openssl s_client TLS 1.2 control negotiates TLSv1.2" TLSv1.2 "$got"
got=$(s_client -tls1_1)
t_eq "TLS 1.1 is refused" "(NONE)" "$got"
got=$(s_client -tls1)
t_eq "TLS 1.0 is refused" "(NONE)" "$got"

# The server certificate chains to the CA and names 127.0.0.1.
got=$(openssl s_client -connect "127.0.0.1:$T_PORT" -CAfile "$P/ca.crt" \
    -verify_ip 127.0.0.1 -verify_return_error \
    -cert "$P/admin.crt" -key "$P/admin.key" </dev/null 2>/dev/null |
    sed -n 's/^ *Verify return code: *//p' | head -n 1)
t_eq "server certificate verifies for 127.0.0.1" "0 (ok)" "$got"

t_stop_ok "daemon stops with status 0 on SIGTERM"
t_done
