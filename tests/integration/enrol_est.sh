#!/bin/sh
# enrol_est.sh - EST (RFC 7030) on the enrolment listener in front of the
# CMF: cacerts without authentication; simpleenroll with curl and an
# initial credential over HTTP Basic, giving a certificate with the
# entity's subject and SAN; the same credential refused the second time;
# simplereenroll with the issued certificate as TLS client certificate;
# a subject the entity may not have (403), a malformed body (400), no
# credentials (401 with WWW-Authenticate); strongSwan's `pki --estca` and
# `pki --est` (initial credential, then re-enrollment with --cert/--key).
set -eu
. "$(dirname "$0")/../lib/env.sh"
. "$(dirname "$0")/../lib/enrol.sh"

enrol_setup

t_expect "a VNFC instance entity" 201 POST /cmf/v1/entities \
    '{"id":"vnfc-a-0","type":"VNFC_INSTANCE","vnfcId":"vnfc-a-0","fqdns":["a0.vnf1.example"],"ca":"op","bindingPolicy":"P1","certTypes":["VNFCI_CERT"]}'

# ---- cacerts ----
code=$(curl -s -o "$W/cacerts" -D "$W/cacerts.hdr" -w '%{http_code}' \
    --cacert "$T_DIR/pki/ca.crt" "$E/cacerts") || code=000
t_eq "est cacerts answers 200 without authentication" 200 "$code"
if grep -qi '^content-type: application/pkcs7-mime' "$W/cacerts.hdr"; then
	t_ok "est cacerts is application/pkcs7-mime"
else
	t_fail "est cacerts is application/pkcs7-mime" "$(t_short "$(cat "$W/cacerts.hdr")")"
fi
rc=1
if p7 "$W/cacerts" "$W/cacerts.pem"; then
	a=$(openssl x509 -in "$W/cacerts.pem" -noout -fingerprint -sha256 2>/dev/null || true)
	b=$(openssl x509 -in "$W/op.pem" -noout -fingerprint -sha256)
	[ -n "$a" ] && [ "$a" = "$b" ] && rc=0
fi
t_check "est cacerts holds the operator CA certificate" "$rc" "different or unreadable"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T_DIR/pki/ca.crt" \
    "$E/op/cacerts") || code=000
t_eq "est cacerts with the CA label answers 200" 200 "$code"
code=$(curl -s -o "$W/nolabel" -w '%{http_code}' --cacert "$T_DIR/pki/ca.crt" \
    "$E/nosuch/cacerts") || code=000
t_eq "est cacerts of an unknown CA label is 404" 404 "$code"

# ---- simpleenroll with an initial credential ----
initcred vnfc-a-0 "$W/cred1" || t_die "no initial credential: HTTP $T_STATUS"
csr e1 a0.vnf1.example DNS:a0.vnf1.example
est simpleenroll "$W/e1.p7"
t_eq "est simpleenroll without credentials is 401" 401 "$EST_STATUS"
if grep -qi '^www-authenticate: basic' "$W/e1.p7.hdr"; then
	t_ok "est 401 asks for Basic authentication"
else
	t_fail "est 401 asks for Basic authentication" "$(t_short "$(cat "$W/e1.p7.hdr")")"
fi
cp "$W/e1.p7" "$T_BODY"
t_error_shape "est 401 has the JSON error shape" unauthenticated

printf 'not base64 at all!' >"$W/body"
est simpleenroll "$W/bad.p7" -K "$W/cred1"
t_eq "est simpleenroll with a malformed body is 400" 400 "$EST_STATUS"

csr e1 a0.vnf1.example DNS:a0.vnf1.example
est simpleenroll "$W/e1.p7" -K "$W/cred1"
t_eq "est simpleenroll with the initial credential is 200" 200 "$EST_STATUS"
if grep -qi '^content-type: application/pkcs7-mime' "$W/e1.p7.hdr"; then
	t_ok "est simpleenroll answers application/pkcs7-mime"
else
	t_fail "est simpleenroll answers application/pkcs7-mime" "$(t_short "$(cat "$W/e1.p7.hdr")")"
fi
p7 "$W/e1.p7" "$W/e1.pem" || true
t_eq "the certificate's subject is the entity's" "CN = a0.vnf1.example" \
    "$(openssl x509 -in "$W/e1.pem" -noout -subject 2>/dev/null | sed 's/^subject=//')"
if openssl x509 -in "$W/e1.pem" -noout -ext subjectAltName 2>/dev/null |
    grep -q 'DNS:a0.vnf1.example'; then
	t_ok "the certificate's SAN is the entity's FQDN"
else
	t_fail "the certificate's SAN is the entity's FQDN" "missing"
fi
if openssl verify -CAfile "$W/op.pem" "$W/e1.pem" >/dev/null 2>&1; then
	t_ok "openssl verify accepts it under the cacerts CA"
else
	t_fail "openssl verify accepts it under the cacerts CA" "refused"
fi
pub_a=$(openssl pkey -in "$W/e1.key" -pubout 2>/dev/null)
pub_b=$(openssl x509 -in "$W/e1.pem" -noout -pubkey 2>/dev/null)
t_eq "the certificate is for the requester's key" "$pub_a" "$pub_b"

csr e1b a0.vnf1.example DNS:a0.vnf1.example
est simpleenroll "$W/e1b.p7" -K "$W/cred1"
t_eq "the same initial credential a second time is 401" 401 "$EST_STATUS"

# ---- refusals ----
initcred vnfc-a-0 "$W/cred2" || t_die "no initial credential: HTTP $T_STATUS"
csr evil evil.example DNS:evil.example
est simpleenroll "$W/evil.p7" -K "$W/cred2"
t_eq "est simpleenroll for a subject the entity may not have is 403" 403 "$EST_STATUS"
cp "$W/evil.p7" "$T_BODY"
t_error_shape "est 403 has the JSON error shape" forbidden
csr e2 a0.vnf1.example DNS:a0.vnf1.example
est simpleenroll "$W/e2.p7" -K "$W/cred2"
t_eq "a refused request gives the credential back" 200 "$EST_STATUS"

# ---- simplereenroll with the issued certificate ----
csr e3 a0.vnf1.example DNS:a0.vnf1.example
est simplereenroll "$W/e3.p7"
t_eq "est simplereenroll without a client certificate is 401" 401 "$EST_STATUS"
est simplereenroll "$W/e3.p7" --cert "$W/e1.pem" --key "$W/e1.key"
t_eq "est simplereenroll with the issued certificate is 200" 200 "$EST_STATUS"
p7 "$W/e3.p7" "$W/e3.pem" || true
s1=$(openssl x509 -in "$W/e1.pem" -noout -serial 2>/dev/null)
s3=$(openssl x509 -in "$W/e3.pem" -noout -serial 2>/dev/null || echo none)
if [ -n "$s3" ] && [ "$s3" != none ] && [ "$s1" != "$s3" ] &&
    openssl verify -CAfile "$W/op.pem" "$W/e3.pem" >/dev/null 2>&1; then
	t_ok "re-enrollment gives a new valid certificate"
else
	t_fail "re-enrollment gives a new valid certificate" "$s1 -> $s3"
fi
est simplereenroll "$W/e3b.p7" --cert "$W/e1.pem" --key "$W/e1.key"
t_eq "a certificate renewed once cannot re-enroll again (401)" 401 "$EST_STATUS"
openssl req -new -x509 -key "$W/e1.key" -subj /CN=a0.vnf1.example -days 1 \
    -out "$W/self.pem" 2>/dev/null
est simplereenroll "$W/e4.p7" --cert "$W/self.pem" --key "$W/e1.key"
t_eq "est simplereenroll with a certificate Capstone did not issue is 401" 401 "$EST_STATUS"

# ---- strongSwan pki ----
if pki --estca --help 2>&1 | grep -q "curl.*failed to load\|no plugin file.*curl"; then
	echo "# strongSwan pki has no curl plugin here (libstrongswan-extra-plugins): pki checks skipped"
else
	rc=0
	timeout 60 pki --estca --url "https://127.0.0.1:$EPORT/" \
	    --cacert "$T_DIR/pki/ca.crt" --caout "$W/pki-ca.pem" --outform pem \
	    >"$W/pki-estca.log" 2>&1 || rc=1
	t_check "pki --estca fetches the CA certificates" "$rc" \
	    "$(t_short "$(tail -n 3 "$W/pki-estca.log")")"
	initcred vnfc-a-0 "$W/cred3" || t_die "no initial credential: HTTP $T_STATUS"
	up=$(cat "$W/cred3.up")
	pki --gen --type ecdsa --size 256 --outform pem >"$W/sw.key" 2>/dev/null
	pki --req --type ecdsa --in "$W/sw.key" --dn "CN=a0.vnf1.example" \
	    --san a0.vnf1.example --outform der >"$W/sw.csr" 2>/dev/null
	rc=0
	timeout 60 pki --est --url "https://127.0.0.1:$EPORT/" --in "$W/sw.csr" \
	    --cacert "$T_DIR/pki/ca.crt" --userpass "$up" --outform pem \
	    >"$W/sw.crt" 2>"$W/pki-est.log" || rc=1
	up=""
	openssl verify -CAfile "$W/op.pem" "$W/sw.crt" >/dev/null 2>&1 || rc=1
	t_check "pki --est enrolls with the initial credential" "$rc" \
	    "$(t_short "$(tail -n 3 "$W/pki-est.log")")"
	pki --gen --type ecdsa --size 256 --outform pem >"$W/sw2.key" 2>/dev/null
	pki --req --type ecdsa --in "$W/sw2.key" --dn "CN=a0.vnf1.example" \
	    --san a0.vnf1.example --outform der >"$W/sw2.csr" 2>/dev/null
	rc=0
	timeout 60 pki --est --url "https://127.0.0.1:$EPORT/" --in "$W/sw2.csr" \
	    --cacert "$T_DIR/pki/ca.crt" --cert "$W/sw.crt" --key "$W/sw.key" \
	    --outform pem >"$W/sw2.crt" 2>"$W/pki-reest.log" || rc=1
	openssl verify -CAfile "$W/op.pem" "$W/sw2.crt" >/dev/null 2>&1 || rc=1
	t_check "pki --est re-enrolls with its certificate and key" "$rc" \
	    "$(t_short "$(tail -n 3 "$W/pki-reest.log")")"
fi

# ---- Capstone's own EST connector as this server's client ----
# The EST server is a CA peer like any other: a connector "estpeer" enrolls
# with an initial credential of a second entity (HTTP Basic), then renews
# through /simplereenroll with the certificate and its key in the token.
t_expect "a second VNFC instance entity" 201 POST /cmf/v1/entities \
    '{"id":"vnfc-a-2","type":"VNFC_INSTANCE","vnfcId":"vnfc-a-2","fqdns":["a2.vnf1.example"],"ca":"op","bindingPolicy":"P1","certTypes":["VNFCI_CERT"]}'
initcred vnfc-a-2 "$W/peer" || t_die "no initial credential: HTTP $T_STATUS"
t_eq "an initial credential for it" 201 "$T_STATUS"
est_peer_ca "$W/peer.up"
t_api POST /v1/certs '{"ca":"estpeer","subject":"CN=a2.vnf1.example","sans":["DNS:a2.vnf1.example"],"key":{"type":"ec-p256"}}' >/dev/null
t_wait_pending
if [ "$T_STATUS" = 201 ] && [ "$(jq -r .status "$T_BODY")" = issued ]; then
	t_ok "the EST connector enrolls through this EST server (key in the token)"
else
	t_fail "the EST connector enrolls through this EST server (key in the token)" \
	    "HTTP $T_STATUS $(t_short "$(cat "$T_BODY")")"
fi
peer_id=$(jq -r '.id // empty' "$T_BODY")
peer_serial=$(jq -r '.serial // empty' "$T_BODY")
jq -r '.certificate // empty' "$T_BODY" >"$W/peer-cert.pem"
if openssl verify -CAfile "$W/op.pem" "$W/peer-cert.pem" >/dev/null 2>&1; then
	t_ok "that certificate is the operator CA's"
else
	t_fail "that certificate is the operator CA's" "refused"
fi
t_api POST "/v1/certs/$peer_id/renew" '{}' >/dev/null
t_wait_pending
if [ "$T_STATUS" = 201 ] && [ "$(jq -r .status "$T_BODY")" = issued ] &&
    [ "$(jq -r .serial "$T_BODY")" != "$peer_serial" ]; then
	t_ok "the EST connector renews through /simplereenroll"
else
	t_fail "the EST connector renews through /simplereenroll" \
	    "HTTP $T_STATUS $(t_short "$(cat "$T_BODY")")"
fi

if grep -q 'initcred:' "$T_DIR/audit.log" 2>/dev/null; then
	t_ok "enrolments are audited with the initial credential's reference"
else
	t_fail "enrolments are audited with the initial credential's reference" "no initcred: identity"
fi
secrets_not_logged "$W"/cred[0-9]

t_stop_ok "capstoned stops cleanly"
t_done
