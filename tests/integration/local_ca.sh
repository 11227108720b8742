#!/bin/sh
# local_ca.sh - the local CA through the daemon: a root and an intermediate
# made with POST /v1/cas, listed and described, their chain accepted by
# `openssl verify`, the CRL served as DER (application/pkix-crl) and
# parsed by `openssl crl`, an OCSP request made by `openssl ocsp` answered
# "good" for the intermediate, a literal secret in settings refused, and
# the connectors still there after a restart.
set -eu
. "$(dirname "$0")/../lib/env.sh"

t_setup

t_expect "create a root CA" 201 POST /v1/cas \
    '{"name":"root","protocol":"local","subject":"CN=Test Root,O=Capstone","key":{"type":"ec-p256"},"validity":"3650d"}'
t_eq "root chain has one certificate" 1 "$(jq '.chain | length' "$T_BODY")"
jq -r '.chain[0]' "$T_BODY" >"$T_TMP/root.pem"

t_expect "create an intermediate under it" 201 POST /v1/cas \
    '{"name":"inter","protocol":"local","subject":"CN=Test Inter","key":{"type":"ec-p384"},"parent":"root","limits":{"rate":5,"burst":5,"max_in_flight":2}}'
t_eq "intermediate chain lists itself then the root" 2 "$(jq '.chain | length' "$T_BODY")"
jq -r '.chain[0]' "$T_BODY" >"$T_TMP/inter.pem"

t_expect "a taken name is 409" 409 POST /v1/cas \
    '{"name":"root","protocol":"local","subject":"CN=x"}'
t_expect "an unknown protocol is 400" 400 POST /v1/cas \
    '{"name":"x","protocol":"nosuch"}'
t_expect "a literal secret in settings is 400" 400 POST /v1/cas \
    '{"name":"leaky","protocol":"local","subject":"CN=x","pbm_secret":"hunter2"}'

t_expect "list CAs" 200 GET /v1/cas
t_eq "list names both" "inter root" "$(jq -r '[.cas[].name] | join(" ")' "$T_BODY")"
t_expect "describe the intermediate" 200 GET /v1/cas/inter
t_eq "describe names the parent" root "$(t_json_get "$T_BODY" .parent)"
t_jq "describe lists the profiles" '.profiles | index("code-signing") != null'

t_expect "chain of the intermediate" 200 GET /v1/cas/inter/chain
jq -r '.chain[0]' "$T_BODY" >"$T_TMP/chain0.pem"
if openssl verify -CAfile "$T_TMP/root.pem" "$T_TMP/chain0.pem" >/dev/null 2>&1; then
	t_ok "openssl verify accepts the intermediate under the root"
else
	t_fail "openssl verify accepts the intermediate under the root" "refused"
fi

# CRL as DER
code=$(curl -s -o "$T_TMP/crl.der" -D "$T_TMP/crl.hdr" -w '%{http_code}' \
    --cacert "$T_DIR/pki/ca.crt" --cert "$T_DIR/pki/admin.crt" \
    --key "$T_DIR/pki/admin.key" "https://127.0.0.1:$T_PORT/v1/cas/inter/crl") || true
t_eq "CRL answers 200" 200 "$code"
if grep -qi '^content-type: application/pkix-crl' "$T_TMP/crl.hdr"; then
	t_ok "CRL has Content-Type application/pkix-crl"
else
	t_fail "CRL has Content-Type application/pkix-crl" "$(t_short "$(cat "$T_TMP/crl.hdr")")"
fi
if openssl crl -inform DER -in "$T_TMP/crl.der" -CAfile "$T_TMP/inter.pem" \
    -noout 2>"$T_TMP/crl.err"; then
	t_ok "openssl crl parses the DER CRL and checks its signature"
else
	t_fail "openssl crl parses the DER CRL" "$(t_short "$(cat "$T_TMP/crl.err")")"
fi

# OCSP: the root answers for the intermediate it signed
openssl ocsp -no_nonce -issuer "$T_TMP/root.pem" -cert "$T_TMP/inter.pem" \
    -reqout "$T_TMP/ocsp.req" >/dev/null 2>&1 || t_fail "openssl ocsp -reqout" "failed"
code=$(curl -s -o "$T_TMP/ocsp.resp" -w '%{http_code}' \
    --cacert "$T_DIR/pki/ca.crt" --cert "$T_DIR/pki/admin.crt" \
    --key "$T_DIR/pki/admin.key" -H 'Content-Type: application/ocsp-request' \
    --data-binary "@$T_TMP/ocsp.req" \
    "https://127.0.0.1:$T_PORT/v1/cas/root/ocsp") || true
t_eq "OCSP answers 200" 200 "$code"
out=$(openssl ocsp -no_nonce -respin "$T_TMP/ocsp.resp" \
    -issuer "$T_TMP/root.pem" -cert "$T_TMP/inter.pem" \
    -CAfile "$T_TMP/root.pem" 2>&1) || true
case $out in
*"inter.pem: good"*) t_ok "OCSP says good for the intermediate, signed by the root" ;;
*) t_fail "OCSP says good for the intermediate" "$(t_short "$out")" ;;
esac

# restart: connectors come back from the store
t_stop_daemon
t_start_daemon "$T_DIR" || t_die "capstoned did not restart"
t_expect "list CAs after a restart" 200 GET /v1/cas
t_eq "both CAs are back" "inter root" "$(jq -r '[.cas[].name] | join(" ")' "$T_BODY")"
t_expect "chain after a restart" 200 GET /v1/cas/inter/chain
t_eq "same intermediate after a restart" "$(cat "$T_TMP/inter.pem")" "$(jq -r '.chain[0]' "$T_BODY")"

t_expect "delete the intermediate" 204 DELETE /v1/cas/inter
t_expect "deleted CA is 404" 404 GET /v1/cas/inter

t_done
