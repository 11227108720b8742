#!/bin/sh
# scep.sh - certificates through the SCEP connector end to end against
# Debian's scepserver (micromdm): the connector configured by POST /v1/cas
# with the challenge held as a vault: reference, POST /v1/certs with an
# rsa-2048 key made in the token (PKCSReq signed and the answer opened
# there), the certificate for that key chaining to the SCEP CA, a renewal
# with a new key (history keeps the old one), and a connector with a wrong
# challenge refused as ca_rejected naming the CA's refusal, with no
# certificate stored.
set -eu
. "$(dirname "$0")/../lib/env.sh"

SCEPSERVER=/usr/bin/scepserver
CHALLENGE=$(t_rand_hex 12)

if [ ! -x "$SCEPSERVER" ]; then
	t_ok "scep: # SKIP scepserver is not installed (apt-get install scep)"
	t_done
fi

t_setup

# api METHOD PATH [BODY]: t_api that dies unless the answer is 2xx.
api() {
	t_api "$@" >/dev/null
	case $T_STATUS in
	2??) ;;
	*) t_die "$1 $2: HTTP $T_STATUS $(t_short "$(cat "$T_BODY")")" ;;
	esac
}

# der_pub PEMFILE OUT: the DER public key of a certificate or public key.
der_pub() {
	if grep -q 'BEGIN CERTIFICATE' "$1"; then
		openssl x509 -in "$1" -pubkey -noout 2>/dev/null |
		    openssl pkey -pubin -outform DER -out "$2" 2>/dev/null
	else
		openssl pkey -pubin -in "$1" -outform DER -out "$2" 2>/dev/null
	fi
}

# key_matches CERTFILE KEY_ID: 0 when the certificate carries that key.
key_matches() {
	t_api GET "/v1/keys/$2" >/dev/null
	jq -r .public_key "$T_BODY" >"$S/key.pub"
	der_pub "$1" "$S/a.der" && der_pub "$S/key.pub" "$S/b.der" &&
	    cmp -s "$S/a.der" "$S/b.der"
}

# ---- the SCEP CA ----
S=$T_TMP/scep
mkdir -p "$S"
"$SCEPSERVER" ca -init -depot "$S/depot" -keySize 2048 \
    >"$S/init.log" 2>&1 || t_die "scepserver ca -init: $(t_short "$(cat "$S/init.log")")"
SCEP_PORT=$(t_free_port) || t_die "no free port"
"$SCEPSERVER" -depot "$S/depot" -port "$SCEP_PORT" -challenge "$CHALLENGE" \
    -allowrenew 0 >"$S/server.log" 2>&1 &
t_track $!
_deadline=$(($(date +%s) + 10))
until curl -s -o /dev/null \
    "http://127.0.0.1:$SCEP_PORT/scep?operation=GetCACaps" 2>/dev/null; do
	[ "$(date +%s)" -lt "$_deadline" ] ||
	    t_die "scepserver did not listen within 10 s"
	sleep 0.05
done

# the challenge lives in the vault; the connector holds a reference
t_api POST /v1/domains '{"name":"_ca"}' >/dev/null
api PUT /v1/domains/_ca/secrets/scep "{\"data\":{\"challenge\":\"$CHALLENGE\"}}"
api PUT /v1/domains/_ca/secrets/scep-wrong '{"data":{"challenge":"not-the-challenge"}}'

URL=http://127.0.0.1:$SCEP_PORT/scep
FP=$(openssl x509 -in "$S/depot/ca.pem" -outform DER | sha256sum | cut -d' ' -f1)
t_expect "scep: POST /v1/cas with protocol scep, a vault: challenge, a CA pin" \
    201 POST /v1/cas "{\"name\":\"scep\",\"protocol\":\"scep\",\"url\":\"$URL\",\"challenge\":\"vault:_ca/scep#challenge\",\"ca_fingerprint\":\"$FP\"}"
t_api GET /v1/cas/scep >/dev/null
rc=0
! grep -qF -e "$CHALLENGE" "$T_BODY" || rc=1
t_check "scep: GET /v1/cas/scep never shows the challenge" "$rc" \
    "challenge shown"

# ---- enrollment with a new rsa-2048 key in the token ----
t_api POST /v1/certs '{"ca":"scep","subject":"CN=scep-workload,O=Capstone","key":{"type":"rsa-2048"}}' >/dev/null
t_wait_pending
t_eq "scep: POST /v1/certs answers 201" 201 "$T_STATUS"
t_jq "scep: the certificate is issued, with its chain" \
    '.status == "issued" and (.certificate | length > 0) and (.chain | length >= 1)'
CID=$(jq -r .id "$T_BODY")
KID1=$(jq -r .key_id "$T_BODY")
SERIAL1=$(jq -r .serial "$T_BODY")
jq -r .certificate "$T_BODY" >"$S/got.crt"
jq -r '.chain[]' "$T_BODY" >"$S/chain.pem"
rc=0
key_matches "$S/got.crt" "$KID1" || rc=1
t_check "scep: the certificate carries the key made in the token" "$rc" \
    "public keys differ"
if out=$(openssl verify -CAfile "$S/depot/ca.pem" "$S/got.crt" 2>&1); then
	t_ok "scep: the certificate chains to the SCEP CA (openssl verify)"
else
	t_fail "scep: the certificate chains to the SCEP CA (openssl verify)" \
	    "$(t_short "$out")"
fi
rc=0
openssl x509 -in "$S/depot/ca.pem" -outform DER -out "$S/ca.der" &&
    openssl x509 -in "$S/chain.pem" -outform DER -out "$S/chain0.der" &&
    cmp -s "$S/ca.der" "$S/chain0.der" || rc=1
t_check "scep: the chain starts with the SCEP CA" "$rc" \
    "chain[0] is not the CA of the depot"

# ---- renewal with a new key ----
t_api POST "/v1/certs/$CID/renew" '{}' >/dev/null
t_wait_pending
rc=0
case $T_STATUS in 2??) ;; *) rc=1 ;; esac
t_check "scep: renewal answers 2xx" "$rc" \
    "HTTP $T_STATUS $(t_short "$(cat "$T_BODY")")"
t_api GET "/v1/certs/$CID" >/dev/null
KID2=$(jq -r .key_id "$T_BODY")
t_jq "scep: renewed: issued, a new serial and a new key, the old in history" \
    ".status == \"issued\" and .serial != \"$SERIAL1\" and .key_id != \"$KID1\" and
     ([.history[] | select(.serial == \"$SERIAL1\")] | length >= 1)"
jq -r .certificate "$T_BODY" >"$S/renewed.crt"
rc=0
key_matches "$S/renewed.crt" "$KID2" &&
    openssl verify -CAfile "$S/depot/ca.pem" "$S/renewed.crt" >/dev/null 2>&1 ||
    rc=1
t_check "scep: the renewed certificate carries the new token key, same CA" \
    "$rc" "key or chain mismatch"

# ---- a wrong challenge ----
t_expect "scep: a connector with a wrong challenge is created" 201 \
    POST /v1/cas "{\"name\":\"scep-bad\",\"protocol\":\"scep\",\"url\":\"$URL\",\"challenge\":\"vault:_ca/scep-wrong#challenge\"}"
t_api POST /v1/certs '{"ca":"scep-bad","subject":"CN=scep-refused","key":{"type":"rsa-2048"}}' >/dev/null
t_wait_pending
t_eq "scep wrong challenge: refused with 502" 502 "$T_STATUS"
t_error_shape "scep wrong challenge: the error is ca_rejected" ca_rejected
t_jq "scep wrong challenge: the message names the CA's refusal (badRequest)" \
    '.error.message | test("badRequest")'
rc=0
! grep -q 'not-the-challenge' "$T_BODY" || rc=1
t_check "scep wrong challenge: the challenge is not echoed" "$rc" \
    "the challenge is in the answer"
t_api GET "/v1/certs?ca=scep-bad" >/dev/null
t_jq "scep wrong challenge: no certificate stored" \
    '[.certs[] | select(.status == "issued" or .status == "pending" or
      .serial != null)] | length == 0'

t_done
