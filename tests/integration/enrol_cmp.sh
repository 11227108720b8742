#!/bin/sh
# enrol_cmp.sh - CMP (RFC 4210/9483 over RFC 6712 HTTP) on the enrolment
# listener in front of the CMF, with the OpenSSL `openssl cmp` client: ir
# under MAC protection with an initial credential (the certificate
# verifies under the CA of the caPubs and of EST cacerts), the same
# credential refused the second time, p10cr with a CSR, a certConf that
# rejects the certificate (it is revoked), kur signed with
# the issued certificate, rr by its holder with reason keyCompromise (the
# serial then on the CRL with that reason), genm; bytes that are not CMP
# get 400.
set -eu
. "$(dirname "$0")/../lib/env.sh"
. "$(dirname "$0")/../lib/enrol.sh"

enrol_setup
t_expect "a VNFC instance entity" 201 POST /cmf/v1/entities \
    '{"id":"vnfc-a-0","type":"VNFC_INSTANCE","vnfcId":"vnfc-a-0","fqdns":["a0.vnf1.example"],"ca":"op","bindingPolicy":"P1","certTypes":["VNFCI_CERT"]}'

# ---- ir with MAC protection ----
initcred vnfc-a-0 "$W/c1" || t_die "no initial credential: HTTP $T_STATUS"
newkey k1
rc=0
ocmp ir1 -cmd ir -ref "$(cat "$W/c1.ref")" -secret "file:$W/c1.sec" \
    -newkey "$W/k1.key" -subject "/CN=a0.vnf1.example" \
    -sans a0.vnf1.example -certout "$W/c1.pem" \
    -cacertsout "$W/capubs.pem" || rc=1
t_check "openssl cmp ir with the initial credential (MAC) enrolls" "$rc" \
    "$(t_short "$(tail -n 4 "$W/ir1.log")")"
if openssl verify -CAfile "$W/capubs.pem" "$W/c1.pem" >/dev/null 2>&1; then
	t_ok "the certificate verifies under the caPubs of the answer"
else
	t_fail "the certificate verifies under the caPubs of the answer" "refused"
fi
if openssl verify -CAfile "$W/op.pem" "$W/c1.pem" >/dev/null 2>&1; then
	t_ok "the certificate verifies under the operator CA"
else
	t_fail "the certificate verifies under the operator CA" "refused"
fi
t_eq "its subject is the entity's" "CN = a0.vnf1.example" \
    "$(openssl x509 -in "$W/c1.pem" -noout -subject 2>/dev/null | sed 's/^subject=//')"

newkey k1b
rc=0
ocmp ir2 -cmd ir -ref "$(cat "$W/c1.ref")" -secret "file:$W/c1.sec" \
    -newkey "$W/k1b.key" -subject "/CN=a0.vnf1.example" \
    -certout "$W/c1b.pem" || rc=1
t_eq "a second ir with the same initial credential is refused" 1 "$rc"

# ---- p10cr with a CSR ----
initcred vnfc-a-0 "$W/c2" || t_die "no initial credential: HTTP $T_STATUS"
newkey k2
openssl req -new -key "$W/k2.key" -subj /CN=a0.vnf1.example \
    -addext subjectAltName=DNS:a0.vnf1.example -out "$W/k2.csr" 2>/dev/null
rc=0
ocmp p10 -cmd p10cr -ref "$(cat "$W/c2.ref")" -secret "file:$W/c2.sec" \
    -csr "$W/k2.csr" -certout "$W/c2.pem" || rc=1
openssl verify -CAfile "$W/op.pem" "$W/c2.pem" >/dev/null 2>&1 || rc=1
t_check "openssl cmp p10cr with a CSR enrolls" "$rc" \
    "$(t_short "$(tail -n 4 "$W/p10.log")")"

# ---- certConf rejecting the certificate: it is revoked ----
# -out_trusted names a CA the new certificate does not chain to, so the
# client refuses it and says so in its certConf (PKIStatus rejection).
t_expect "a third VNFC instance entity" 201 POST /cmf/v1/entities \
    '{"id":"vnfc-a-2","type":"VNFC_INSTANCE","vnfcId":"vnfc-a-2","fqdns":["a2.vnf1.example"],"ca":"op","bindingPolicy":"P1","certTypes":["VNFCI_CERT"]}'
initcred vnfc-a-2 "$W/c6" || t_die "no initial credential: HTTP $T_STATUS"
newkey k6
rc=0
ocmp rej -cmd ir -ref "$(cat "$W/c6.ref")" -secret "file:$W/c6.sec" \
    -newkey "$W/k6.key" -subject "/CN=a2.vnf1.example" \
    -out_trusted "$T_DIR/pki/ca.crt" -certout "$W/c6.pem" || rc=1
t_eq "openssl cmp rejects a certificate outside -out_trusted" 1 "$rc"
t_api GET "/v1/certs?ca=op" >/dev/null
rej=$(jq -c '[.certs[] | select(.subject | test("a2\\.vnf1\\.example"))]' \
    "$T_BODY" 2>/dev/null || echo '[]')
t_eq "one certificate was issued for the rejected ir" 1 \
    "$(printf '%s' "$rej" | jq length)"
t_eq "the certificate the client rejected is revoked" revoked \
    "$(printf '%s' "$rej" | jq -r '.[0].status')"
rserial=$(printf '%s' "$rej" | jq -r '.[0].serial // empty' | tr -d ':' |
    tr 'a-f' 'A-F')
code=$(curl -s -o "$W/crl0.der" -w '%{http_code}' --cacert "$T_DIR/pki/ca.crt" \
    --cert "$T_DIR/pki/admin.crt" --key "$T_DIR/pki/admin.key" \
    "https://127.0.0.1:$T_PORT/v1/cas/op/crl") || code=000
openssl crl -inform DER -in "$W/crl0.der" -noout -text 2>/dev/null |
    sed -n 's/.*Serial Number: *//p' | tr -d ':' | tr 'a-f' 'A-F' \
    >"$W/crl0.serials" || :
if [ "$code" = 200 ] && [ -n "$rserial" ] &&
    grep -qx "0*$rserial" "$W/crl0.serials"; then
	t_ok "the rejected certificate's serial is on the CA's CRL"
else
	t_fail "the rejected certificate's serial is on the CA's CRL" \
	    "HTTP $code, serial '$rserial'"
fi
rc=0
ocmp rej2 -cmd ir -ref "$(cat "$W/c6.ref")" -secret "file:$W/c6.sec" \
    -newkey "$W/k6.key" -subject "/CN=a2.vnf1.example" \
    -certout "$W/c6b.pem" || rc=1
t_eq "the initial credential of the rejected ir stays spent" 1 "$rc"

# ---- a kur whose certificate the client rejects ----
# The renewed certificate is revoked, and the certificate it renewed can
# renew again (the kur below).
nrev() {
	t_api GET "/v1/certs?ca=op" >/dev/null
	jq '[.certs[] | select((.subject | test("a0\\.vnf1\\.example")) and .status == "revoked")] | length' "$T_BODY"
}
rev0=$(nrev)
newkey k3r
rc=0
ocmp kurrej -cmd kur -cert "$W/c1.pem" -key "$W/k1.key" -newkey "$W/k3r.key" \
    -srvcert "$T_DIR/pki/server.crt" -out_trusted "$T_DIR/pki/ca.crt" \
    -certout "$W/c3r.pem" || rc=1
t_eq "openssl cmp rejects a renewed certificate outside -out_trusted" 1 "$rc"
t_eq "the renewed certificate the client rejected is revoked" \
    $((rev0 + 1)) "$(nrev)"

# ---- kur signed with the issued certificate ----
newkey k3
rc=0
ocmp kur -cmd kur -cert "$W/c1.pem" -key "$W/k1.key" -newkey "$W/k3.key" \
    -srvcert "$T_DIR/pki/server.crt" -certout "$W/c3.pem" || rc=1
openssl verify -CAfile "$W/op.pem" "$W/c3.pem" >/dev/null 2>&1 || rc=1
t_check "openssl cmp kur with the issued certificate renews (again, after the rejected renewal)" "$rc" \
    "$(t_short "$(tail -n 4 "$W/kur.log")")"
pub_a=$(openssl pkey -in "$W/k3.key" -pubout 2>/dev/null)
pub_b=$(openssl x509 -in "$W/c3.pem" -noout -pubkey 2>/dev/null || true)
t_eq "the renewed certificate is for the new key" "$pub_a" "$pub_b"

newkey k4
openssl req -new -x509 -key "$W/k4.key" -subj /CN=a0.vnf1.example -days 1 \
    -out "$W/self.pem" 2>/dev/null
rc=0
ocmp kur2 -cmd kur -cert "$W/self.pem" -key "$W/k4.key" -newkey "$W/k4.key" \
    -srvcert "$T_DIR/pki/server.crt" -certout "$W/c4.pem" || rc=1
t_eq "kur signed by a certificate Capstone did not issue is refused" 1 "$rc"

# ---- rr by the holder, reason keyCompromise ----
rc=0
ocmp rr -cmd rr -cert "$W/c3.pem" -key "$W/k3.key" -oldcert "$W/c3.pem" \
    -revreason 1 -srvcert "$T_DIR/pki/server.crt" || rc=1
t_check "openssl cmp rr by the holder revokes" "$rc" \
    "$(t_short "$(tail -n 4 "$W/rr.log")")"
serial=$(openssl x509 -in "$W/c3.pem" -noout -serial 2>/dev/null | sed 's/^serial=//')
code=$(curl -s -o "$W/crl.der" -w '%{http_code}' --cacert "$T_DIR/pki/ca.crt" \
    --cert "$T_DIR/pki/admin.crt" --key "$T_DIR/pki/admin.key" \
    "https://127.0.0.1:$T_PORT/v1/cas/op/crl") || code=000
openssl crl -inform DER -in "$W/crl.der" -noout -text >"$W/crl.txt" 2>/dev/null || :
if [ "$code" = 200 ] && [ -n "$serial" ] &&
    grep -qi "Serial Number: *$serial" "$W/crl.txt"; then
	t_ok "the revoked serial is on the CA's CRL"
else
	t_fail "the revoked serial is on the CA's CRL" "HTTP $code, serial $serial"
fi
# The reason of the entry: the lines after its serial, up to the next one.
reason=$(awk -v s="$serial" '
	toupper($0) ~ "SERIAL NUMBER: *" toupper(s) "$" { on = 1; next }
	on && /Serial Number:/ { exit }
	on && prev ~ /CRL Reason Code/ { gsub(/^ +| +$/, ""); print; exit }
	{ prev = $0 }' "$W/crl.txt")
t_eq "the CRL entry has the reason of the rr (keyCompromise)" \
    "Key Compromise" "$reason"
rc=0
ocmp kur3 -cmd kur -cert "$W/c3.pem" -key "$W/k3.key" -newkey "$W/k3.key" \
    -srvcert "$T_DIR/pki/server.crt" -certout "$W/c5.pem" || rc=1
t_eq "a revoked certificate cannot renew" 1 "$rc"

# ---- Capstone's own CMP connector, over https, as this server's client ----
# The /pkix/ endpoint is a CA peer like any other: a connector "peer"
# enrolls through it with an initial credential of a second entity.
t_expect "a second VNFC instance entity" 201 POST /cmf/v1/entities \
    '{"id":"vnfc-a-1","type":"VNFC_INSTANCE","vnfcId":"vnfc-a-1","fqdns":["a1.vnf1.example"],"ca":"op","bindingPolicy":"P1","certTypes":["VNFCI_CERT"]}'
initcred vnfc-a-1 "$W/peer" || t_die "no initial credential: HTTP $T_STATUS"
t_eq "an initial credential for it" 201 "$T_STATUS"
(umask 077 && jq -Rn '{data: {secret: input}}' <"$W/peer.sec" \
    >"$W/peer-secret.json")
t_api POST /v1/domains '{"name":"_ca"}' >/dev/null
t_expect "the credential's secret goes to the vault" 200 \
    PUT /v1/domains/_ca/secrets/peer "@$W/peer-secret.json"
rm -f "$W/peer-secret.json"
jq -n --arg url "https://127.0.0.1:$EPORT/pkix/" --arg ref "$(cat "$W/peer.ref")" \
    --rawfile tls "$T_DIR/pki/ca.crt" '{
	name: "peer", protocol: "cmp", url: $url, tls_trusted: $tls,
	recipient: "CN=capstone", timeout: "60s",
	auth: {mode: "mac", reference: $ref, secret: "vault:_ca/peer#secret"}}' \
    >"$W/peer.json"
t_expect "a CMP connector to this server over https" 201 POST /v1/cas "@$W/peer.json"
t_api POST /v1/certs '{"ca":"peer","subject":"CN=a1.vnf1.example","sans":["DNS:a1.vnf1.example"],"key":{"type":"ec-p256"}}' >/dev/null
t_wait_pending
if [ "$T_STATUS" = 201 ] && [ "$(jq -r .status "$T_BODY")" = issued ]; then
	t_ok "the CMP connector enrolls through /pkix/ (key in the token)"
else
	t_fail "the CMP connector enrolls through /pkix/ (key in the token)" \
	    "HTTP $T_STATUS $(t_short "$(cat "$T_BODY")")"
fi
jq -r '.certificate // empty' "$T_BODY" >"$W/peer-cert.pem"
if openssl verify -CAfile "$W/op.pem" "$W/peer-cert.pem" >/dev/null 2>&1; then
	t_ok "that certificate is the operator CA's"
else
	t_fail "that certificate is the operator CA's" "refused"
fi
t_api POST /v1/certs '{"ca":"peer","subject":"CN=a1.vnf1.example","key":{"type":"ec-p256"}}' >/dev/null
t_wait_pending
t_check "the used credential cannot enroll through the connector again" \
    "$([ "$T_STATUS" != 201 ]; echo $?)" "HTTP $T_STATUS"

# ---- genm, and what is not CMP ----
rc=0
ocmp genm -cmd genm -ref x -secret pass:unused -unprotected_requests \
    -srvcert "$T_DIR/pki/server.crt" || rc=1
t_check "openssl cmp genm is answered" "$rc" "$(t_short "$(tail -n 4 "$W/genm.log")")"
code=$(curl -s -o "$T_BODY" -w '%{http_code}' --cacert "$T_DIR/pki/ca.crt" \
    -H 'Content-Type: application/pkixcmp' --data-binary 'not cmp' \
    "https://127.0.0.1:$EPORT/pkix/") || code=000
t_eq "bytes that are not CMP are 400" 400 "$code"
t_error_shape "the 400 has the JSON error shape" bad_request

if grep -q "initcred:$(cat "$W/c1.ref")" "$T_DIR/audit.log" 2>/dev/null; then
	t_ok "CMP requests are audited with the initial credential's reference"
else
	t_fail "CMP requests are audited with the initial credential's reference" "absent"
fi
if grep -qF -e "$(cat "$W/c1.sec")" "$T_DIR/daemon.log" "$T_DIR/audit.log" "$W"/*.log; then
	t_fail "no initial credential secret in logs or client output" "found"
else
	t_ok "no initial credential secret in logs or client output"
fi

t_stop_ok "capstoned stops cleanly"
t_done
