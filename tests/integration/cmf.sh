#!/bin/sh
# cmf.sh - the NFV Certificate Management Function through the daemon and
# a local CA "op": a VNF instance with a P1 VNFC and a P2 VNFC and their
# instances; CSR mode with openssl-made requests (subject, SANs, EKU and
# chain order of the answer); delegation mode (the key stays in the
# token, P2 instances share one key); the bad requests of the issue
# answered with the documented JSON error and changing nothing; initial
# credentials; removal revoking every serial (the CA's CRL) and leaving
# no key in the token; the `capstone entity` verbs.
set -eu
. "$(dirname "$0")/../lib/env.sh"

t_setup

t_expect "create the local CA op" 201 POST /v1/cas \
    '{"name":"op","protocol":"local","subject":"CN=Operator CA,O=Capstone","key":{"type":"ec-p256"},"validity":"3650d"}'
jq -r '.chain[0]' "$T_BODY" >"$T_TMP/op.pem"

certs_count() {
	t_api GET /v1/certs >/dev/null
	jq '.certs | length' "$T_BODY"
}
keys_count() {
	t_api GET /v1/keys >/dev/null
	jq '.keys | length' "$T_BODY"
}

# ---- entities ----
t_expect "create a VNF instance" 201 POST /cmf/v1/entities \
    '{"id":"vnf1","type":"VNF_INSTANCE","fqdns":["vnf1.example.net"],"ca":"op","bindingPolicy":"P1","certTypes":["VNF_OM_CERT"]}'
t_eq "the entity answers its type" VNF_INSTANCE "$(jq -r .type "$T_BODY")"
t_jq "created is RFC 3339" '.created | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T")'
t_expect "create a P1 VNFC" 201 POST /cmf/v1/entities \
    '{"id":"vnfc-a","type":"VNFC","parent":"vnf1","vnfcId":"vdu-a","fqdns":["a.vnf1.example.net"],"ips":["192.0.2.10"],"ca":"op","profile":"tls","bindingPolicy":"P1","certTypes":["VNFCI_CERT"]}'
t_eq "the VNFC inherits its VNF instance id" vnf1 "$(jq -r .vnfInstanceId "$T_BODY")"
t_expect "create a P2 VNFC" 201 POST /cmf/v1/entities \
    '{"id":"vnfc-b","type":"VNFC","parent":"vnf1","vnfcId":"vdu-b","fqdns":["b.vnf1.example.net"],"ca":"op","bindingPolicy":"P3","certTypes":[{"type":"VNFCI_CERT","bindingPolicy":"P2"},{"type":"VNF_OM_CERT","bindingPolicy":"P1"}]}'
t_eq "P3 keeps a policy per type" "P2 P1" "$(jq -r '[.certTypes[].bindingPolicy] | join(" ")' "$T_BODY")"
for i in a-0 b-0 b-1; do
	p=vnfc-${i%-*}
	t_expect "create VNFC instance vnfci-$i" 201 POST /cmf/v1/entities \
	    "{\"id\":\"vnfci-$i\",\"type\":\"VNFC_INSTANCE\",\"parent\":\"$p\",\"fqdns\":[\"$i.vnf1.example.net\"]}"
done
t_eq "an instance inherits the types of its VNFC" VNFCI_CERT \
    "$(jq -r '[.certTypes[].type] | first' "$T_BODY")"
t_expect "list the children of vnf1" 200 GET '/cmf/v1/entities?parent=vnf1'
t_eq "vnf1 has two VNFCs" "vnfc-a vnfc-b" "$(jq -r '[.entities[].id] | join(" ")' "$T_BODY")"
t_expect "a taken id is 409" 409 POST /cmf/v1/entities \
    '{"id":"vnf1","type":"VNF_INSTANCE","ca":"op","certTypes":["X"]}'
t_error_shape "a taken id answers the JSON error" conflict
t_expect "an unknown parent is 404" 404 POST /cmf/v1/entities \
    '{"type":"VNFC","parent":"nobody","ca":"op","certTypes":["VNFCI_CERT"]}'
t_expect "an unknown CA is 404" 404 POST /cmf/v1/entities \
    '{"type":"MANO","ca":"nosuch","certTypes":["MANO_CERT"]}'
t_expect "a bad binding policy is 400" 400 POST /cmf/v1/entities \
    '{"type":"MANO","ca":"op","bindingPolicy":"P9","certTypes":["MANO_CERT"]}'

# ---- CSR mode ----
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T_TMP/a0.key" -subj "/CN=a-0.vnf1.example.net" \
    -addext "subjectAltName=DNS:a-0.vnf1.example.net" \
    -out "$T_TMP/a0.csr" 2>/dev/null
jq -n --rawfile c "$T_TMP/a0.csr" \
    '{"vnfcId":"vnfci-a-0","certType":"VNFCI_CERT","certChainRequest":true,"csr":$c}' \
    >"$T_TMP/a0.json"
t_expect "CSR mode through the VNF instance: 201" 201 POST \
    /cmf/v1/entities/vnf1/certificates "@$T_TMP/a0.json"
jq -r .certificate "$T_BODY" >"$T_TMP/a0.pem"
t_eq "the chain has the issuing CA" 1 "$(jq '.certificateChain | length' "$T_BODY")"
jq -r '.certificateChain[0]' "$T_BODY" >"$T_TMP/a0chain.pem"
t_jq "no keyId for a CSR" '.keyId == null'
A0_ID=$(jq -r .certId "$T_BODY")
txt=$(openssl x509 -in "$T_TMP/a0.pem" -noout -text 2>&1)
case $txt in
*"CN = a-0.vnf1.example.net"*) t_ok "the certificate has the CSR's subject" ;;
*) t_fail "the certificate has the CSR's subject" "$(t_short "$txt")" ;;
esac
case $txt in
*"DNS:a-0.vnf1.example.net"*) t_ok "the certificate has the CSR's SAN" ;;
*) t_fail "the certificate has the CSR's SAN" "$(t_short "$txt")" ;;
esac
case $txt in
*"TLS Web Server Authentication"*) t_ok "the tls profile gives the serverAuth EKU" ;;
*) t_fail "the tls profile gives the serverAuth EKU" "$(t_short "$txt")" ;;
esac
if cmp -s "$T_TMP/a0chain.pem" "$T_TMP/op.pem" &&
    openssl verify -CAfile "$T_TMP/op.pem" "$T_TMP/a0.pem" >/dev/null 2>&1; then
	t_ok "the chain is the issuer and verifies the certificate"
else
	t_fail "the chain is the issuer and verifies the certificate" "no"
fi
p1=$(openssl x509 -in "$T_TMP/a0.pem" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum)
p2=$(openssl pkey -in "$T_TMP/a0.key" -pubout -outform DER | sha256sum)
t_eq "the certificate certifies the CSR's key" "$p2" "$p1"
t_expect "the instance lists the certificate" 200 GET /cmf/v1/entities/vnfci-a-0/certificates
t_eq "listed with status issued" "$A0_ID issued" \
    "$(jq -r '.certificates[0] | "\(.certId) \(.status)"' "$T_BODY")"
t_jq "listed with serial and notAfter" '.certificates[0] | (.serial | length > 0) and (.notAfter | length > 0)'

# ---- bad requests change nothing ----
before_certs=$(certs_count)
before_keys=$(keys_count)
t_expect "an unknown vnfcId is 404" 404 POST /cmf/v1/entities/vnf1/certificates \
    '{"vnfcId":"vdu-zz","certType":"VNFCI_CERT"}'
t_error_shape "an unknown vnfcId answers the JSON error" not_found
t_jq "the message names the vnfcId" '.error.message | contains("vdu-zz")'
t_expect "an unknown certType is 400" 400 POST /cmf/v1/entities/vnfci-a-0/certificates \
    '{"vnfcId":"vnfci-a-0","certType":"NOPE_CERT"}'
t_error_shape "an unknown certType answers the JSON error" bad_request
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T_TMP/evil.key" -subj "/CN=a-0.vnf1.example.net" \
    -addext "subjectAltName=DNS:evil.example.org" \
    -out "$T_TMP/evil.csr" 2>/dev/null
jq -n --rawfile c "$T_TMP/evil.csr" \
    '{"vnfcId":"vnfci-a-0","certType":"VNFCI_CERT","csr":$c}' >"$T_TMP/evil.json"
t_expect "a forbidden subject is 403" 403 POST \
    /cmf/v1/entities/vnfci-a-0/certificates "@$T_TMP/evil.json"
t_error_shape "a forbidden subject answers the JSON error" forbidden
t_jq "the message names the forbidden name" '.error.message | contains("evil.example.org")'
t_expect "a malformed CSR is 400" 400 POST /cmf/v1/entities/vnfci-a-0/certificates \
    '{"vnfcId":"vnfci-a-0","certType":"VNFCI_CERT","csr":"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"}'
t_error_shape "a malformed CSR answers the JSON error" bad_request
t_expect "an unknown entity is 404" 404 POST /cmf/v1/entities/nobody/certificates \
    '{"vnfcId":"x","certType":"VNFCI_CERT"}'
t_error_shape "an unknown entity answers the JSON error" not_found
t_eq "no certificate was stored by the bad requests" "$before_certs" "$(certs_count)"
t_eq "no key was made by the bad requests" "$before_keys" "$(keys_count)"

# ---- delegation mode ----
t_expect "delegation P1 for vnfci-a-0" 201 POST /cmf/v1/entities/vnfci-a-0/certificates \
    '{"vnfcId":"vnfci-a-0","certType":"VNFCI_CERT"}'
KA=$(jq -r .keyId "$T_BODY")
t_jq "no chain unless asked" '.certificateChain == null'
t_expect "the delegated key is in the token" 200 GET "/v1/keys/$KA"
if grep -q "PRIVATE KEY" "$T_BODY"; then
	t_fail "no private key leaves the token" "the key answer holds one"
else
	t_ok "no private key leaves the token"
fi
t_expect "delegation P2 for vnfci-b-0" 201 POST /cmf/v1/entities/vnfci-b-0/certificates \
    '{"vnfcId":"vnfci-b-0","certType":"VNFCI_CERT","certChainRequest":true}'
KB0=$(jq -r .keyId "$T_BODY")
t_expect "delegation P2 for vnfci-b-1 through the VNF instance" 201 POST \
    /cmf/v1/entities/vnf1/certificates '{"vnfcId":"vnfci-b-1","certType":"VNFCI_CERT"}'
KB1=$(jq -r .keyId "$T_BODY")
t_eq "P2 instances share one key id" "$KB0" "$KB1"
t_expect "P1 under P3 for vnfci-b-1's OM certificate" 201 POST \
    /cmf/v1/entities/vnfci-b-1/certificates '{"vnfcId":"vnfci-b-1","certType":"VNF_OM_CERT"}'
KOM=$(jq -r .keyId "$T_BODY")
if [ "$KOM" != "$KB1" ]; then
	t_ok "the P1 type of a P3 entity has its own key"
else
	t_fail "the P1 type of a P3 entity has its own key" "same as the shared one"
fi
t_expect "vnfci-b-1 lists its certificates" 200 GET /cmf/v1/entities/vnfci-b-1
t_eq "shared flags" "true false" "$(jq -r '[.certificates[].shared] | map(tostring) | join(" ")' "$T_BODY")"

# ---- initial credentials ----
t_expect "a bootstrap token for vnfci-a-0" 201 POST \
    /cmf/v1/entities/vnfci-a-0/initial-credentials '{"certType":"VNFCI_CERT","ttl":"1h"}'
REF=$(jq -r .reference "$T_BODY")
t_jq "the secret is shown once, 43 characters" '.secret | length == 43'
t_expect "initial credentials listed" 200 GET /cmf/v1/entities/vnfci-a-0/initial-credentials
t_eq "the listing has the reference" "$REF" "$(jq -r '.initialCredentials[0].reference' "$T_BODY")"
t_jq "the listing holds no secret" '[.initialCredentials[] | has("secret")] | any | not'
t_expect "delete the bootstrap token" 204 DELETE "/cmf/v1/initial-credentials/$REF"
t_expect "deleting it again is 404" 404 DELETE "/cmf/v1/initial-credentials/$REF"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T_TMP/ic.key" -subj "/CN=b-0.vnf1.example.net" \
    -out "$T_TMP/ic.csr" 2>/dev/null
jq -n --rawfile c "$T_TMP/ic.csr" '{"certType":"VNFCI_CERT","ttl":"2h","csr":$c}' \
    >"$T_TMP/ic.json"
t_expect "an initial certificate for vnfci-b-0" 201 POST \
    /cmf/v1/entities/vnfci-b-0/initial-credentials "@$T_TMP/ic.json"
jq -r .certificate "$T_BODY" >"$T_TMP/ic.pem"
end=$(openssl x509 -in "$T_TMP/ic.pem" -noout -enddate | cut -d= -f2)
left=$(( $(date -d "$end" +%s) - $(date +%s) ))
if [ "$left" -le 7300 ] && [ "$left" -gt 0 ]; then
	t_ok "the initial certificate lives no longer than its ttl"
else
	t_fail "the initial certificate lives no longer than its ttl" "$left s left"
fi

# ---- the CLI ----
out=$(t_cli entity list --parent vnfc-b 2>&1) && rc=0 || rc=$?
case $rc:$out in
0:*vnfci-b-0*vnfci-b-1*) t_ok "capstone entity list --parent" ;;
*) t_fail "capstone entity list --parent" "exit $rc: $(t_short "$out")" ;;
esac
out=$(t_cli --json entity show vnfc-a 2>&1) && rc=0 || rc=$?
t_eq "capstone --json entity show" "0 vdu-a" "$rc $(printf '%s' "$out" | jq -r .vnfcId 2>/dev/null)"
out=$(t_cli entity create --type MANO --id nfvo1 --fqdn nfvo.example.net \
    --ca op --cert-type MANO_CERT 2>&1) && rc=0 || rc=$?
t_eq "capstone entity create" 0 "$rc"
out=$(t_cli entity issue nfvo1 --cert-type MANO_CERT --chain -o "$T_TMP/nfvo.pem" 2>&1) && rc=0 || rc=$?
if [ "$rc" = 0 ] && openssl verify -CAfile "$T_TMP/op.pem" "$T_TMP/nfvo.pem" >/dev/null 2>&1; then
	t_ok "capstone entity issue writes a certificate that verifies"
else
	t_fail "capstone entity issue" "exit $rc: $(t_short "$out")"
fi
out=$(t_cli entity issue nfvo1 --cert-type MANO_CERT --csr "$T_TMP/evil.csr" 2>&1) && rc=0 || rc=$?
t_eq "capstone entity issue with a forbidden CSR exits 1" 1 "$rc"
out=$(t_cli entity certs nfvo1 2>&1) && rc=0 || rc=$?
case $rc:$out in
0:*MANO_CERT*issued*) t_ok "capstone entity certs" ;;
*) t_fail "capstone entity certs" "exit $rc: $(t_short "$out")" ;;
esac
out=$(t_cli entity initcred nfvo1 --cert-type MANO_CERT --ttl 10m 2>&1) && rc=0 || rc=$?
t_eq "capstone entity initcred" 0 "$rc"
out=$(t_cli entity frobnicate 2>&1) && rc=0 || rc=$?
t_eq "an unknown entity verb exits 2" 2 "$rc"
out=$(t_cli entity rm nfvo1 2>&1) && rc=0 || rc=$?
t_eq "capstone entity rm" 0 "$rc"

# ---- removal: every serial revoked, no key left ----
serials=""
for e in vnfci-a-0 vnfci-b-0 vnfci-b-1; do
	t_api GET "/cmf/v1/entities/$e/certificates" >/dev/null
	serials="$serials $(jq -r '[.certificates[].serial] | join(" ")' "$T_BODY")"
done
t_expect "remove the VNF instance" 204 DELETE /cmf/v1/entities/vnf1
t_expect "the VNF instance is gone" 404 GET /cmf/v1/entities/vnf1
t_expect "its instances are gone" 404 GET /cmf/v1/entities/vnfci-b-1
code=$(curl -s -o "$T_TMP/crl.der" -w '%{http_code}' \
    --cacert "$T_DIR/pki/ca.crt" --cert "$T_DIR/pki/admin.crt" \
    --key "$T_DIR/pki/admin.key" "https://127.0.0.1:$T_PORT/v1/cas/op/crl") || true
t_eq "CRL answers 200" 200 "$code"
crl=$(openssl crl -inform DER -in "$T_TMP/crl.der" -noout -text 2>&1 | tr 'A-F' 'a-f')
missing=""
n=0
for s in $serials; do
	n=$((n + 1))
	S=$(printf '%s' "$s" | tr 'A-F' 'a-f')
	case $crl in
	*"Serial Number: $S"*|*"Serial Number: 0$S"*) ;;
	*) missing="$missing $s" ;;
	esac
done
if [ -z "$missing" ] && [ "$n" -ge 5 ]; then
	t_ok "the CRL lists every serial of the VNF ($n)"
else
	t_fail "the CRL lists every serial of the VNF" "$n serials, missing:$missing"
fi
for k in "$KA" "$KB0" "$KOM"; do
	t_expect "key ${k%"${k#????????}"}... is gone from the token" 404 GET "/v1/keys/$k"
done
t_done
