#!/bin/sh
# certs.sh - certificates through the daemon with local CAs, driven by the
# capstone CLI and curl: a root and an intermediate; enrollment with
# ec-p256 and rsa-2048 keys made in the token (the certificate carries
# the token key); the chain issuer first up to the root, accepted by
# `openssl verify`; the profiles' EKUs; list, show and the expiring_within
# filter; renewal with a new key and the old serial in the history;
# revocation seen by the status route, the DER CRL and OCSP; and CA
# answers that fail chain validation refused with 502, nothing stored and
# the new key destroyed, while the same CA under its real root issues.
set -eu
. "$(dirname "$0")/../lib/env.sh"

t_setup

# pubkey_of_cert PEMFILE / pubkey_of_key PEMFILE: the DER SPKI in hex.
pubkey_of_cert() {
	openssl x509 -in "$1" -pubkey -noout 2>/dev/null |
	    openssl pkey -pubin -outform DER 2>/dev/null | od -An -tx1 | tr -d ' \n'
}
pubkey_of_key() {
	openssl pkey -pubin -in "$1" -outform DER 2>/dev/null | od -An -tx1 | tr -d ' \n'
}

# ---- CAs through the CLI ----
if t_cli ca add root --protocol local --set "subject=CN=Certs Root" \
    --set key.type=ec-p256 --set validity=3650d --set path_len=1 \
    >"$T_TMP/out" 2>&1; then
	t_ok "capstone ca add makes a root"
else
	t_fail "capstone ca add makes a root" "$(t_short "$(cat "$T_TMP/out")")"
fi
t_cli ca chain root >"$T_TMP/root.pem" 2>/dev/null || true
t_eq "capstone ca chain prints the root" 1 "$(grep -c 'BEGIN CERTIFICATE' "$T_TMP/root.pem")"
if t_cli ca add inter --protocol local --set "subject=CN=Certs Inter" \
    --set key.type=ec-p256 --set parent=root --json >"$T_TMP/out" 2>&1; then
	t_ok "capstone ca add makes an intermediate"
else
	t_fail "capstone ca add makes an intermediate" "$(t_short "$(cat "$T_TMP/out")")"
fi
jq -r '.chain[0]' "$T_TMP/out" >"$T_TMP/inter.pem" 2>/dev/null || true
out=$(t_cli ca list 2>&1) || true
t_eq "capstone ca list" "inter local
root local" "$out"
out=$(t_cli ca show inter 2>&1) || true
case $out in
*parent*root*) t_ok "capstone ca show names the parent" ;;
*) t_fail "capstone ca show names the parent" "$(t_short "$out")" ;;
esac

# ---- enrollment: ec-p256 through the CLI ----
if t_cli cert enroll --ca inter --subject CN=vnf1 --san DNS:vnf1.example \
    --key-type ec-p256 --json >"$T_TMP/ec.json" 2>"$T_TMP/err"; then
	t_ok "capstone cert enroll (ec-p256)"
else
	t_fail "capstone cert enroll (ec-p256)" "$(t_short "$(cat "$T_TMP/err")")"
fi
EC=$(jq -r .id "$T_TMP/ec.json")
EC_KEY=$(jq -r .key_id "$T_TMP/ec.json")
EC_SERIAL=$(jq -r .serial "$T_TMP/ec.json")
jq -r .certificate "$T_TMP/ec.json" >"$T_TMP/ec.pem"
t_eq "issued" issued "$(jq -r .status "$T_TMP/ec.json")"
t_eq "chain has the intermediate then the root" 2 "$(jq '.chain | length' "$T_TMP/ec.json")"
t_eq "chain[0] is the issuing CA" "$(cat "$T_TMP/inter.pem")" "$(jq -r '.chain[0]' "$T_TMP/ec.json")"
t_eq "chain[1] is the root" "$(cat "$T_TMP/root.pem")" "$(jq -r '.chain[1]' "$T_TMP/ec.json")"
out=$(openssl verify -CAfile "$T_TMP/root.pem" -untrusted "$T_TMP/inter.pem" \
    "$T_TMP/ec.pem" 2>&1) || true
t_eq "openssl verify accepts the ec-p256 certificate" "$T_TMP/ec.pem: OK" "$out"
t_expect "the certificate's key" 200 GET "/v1/keys/$EC_KEY"
jq -r .public_key "$T_BODY" >"$T_TMP/ec.pub"
t_eq "ec-p256 certificate carries the key in the token" \
    "$(pubkey_of_key "$T_TMP/ec.pub")" "$(pubkey_of_cert "$T_TMP/ec.pem")"
out=$(openssl x509 -in "$T_TMP/ec.pem" -noout -ext subjectAltName 2>&1) || true
case $out in
*DNS:vnf1.example*) t_ok "the SAN is in the certificate" ;;
*) t_fail "the SAN is in the certificate" "$(t_short "$out")" ;;
esac

# ---- enrollment: rsa-2048 through curl ----
t_expect "enroll rsa-2048" 201 POST /v1/certs \
    '{"ca":"inter","subject":"CN=vnf2","sans":["DNS:vnf2.example","IP:192.0.2.7"],"key":{"type":"rsa-2048"}}'
RSA=$(jq -r .id "$T_BODY")
jq -r .certificate "$T_BODY" >"$T_TMP/rsa.pem"
t_eq "rsa-2048 key type recorded" rsa-2048 "$(jq -r .key_type "$T_BODY")"
t_api GET "/v1/keys/$(jq -r .key_id "$T_BODY")" | jq -r .public_key >"$T_TMP/rsa.pub"
t_eq "rsa-2048 certificate carries the key in the token" \
    "$(pubkey_of_key "$T_TMP/rsa.pub")" "$(pubkey_of_cert "$T_TMP/rsa.pem")"
out=$(openssl verify -CAfile "$T_TMP/root.pem" -untrusted "$T_TMP/inter.pem" \
    "$T_TMP/rsa.pem" 2>&1) || true
t_eq "openssl verify accepts the rsa-2048 certificate" "$T_TMP/rsa.pem: OK" "$out"

# ---- profiles ----
eku() {
	openssl x509 -in "$1" -noout -ext extendedKeyUsage 2>/dev/null | sed -n 2p |
	    sed 's/^ *//'
}
t_eq "default profile tls: server and client auth" \
    "TLS Web Server Authentication, TLS Web Client Authentication" "$(eku "$T_TMP/ec.pem")"
for p in tls-server:"TLS Web Server Authentication" \
    tls-client:"TLS Web Client Authentication" code-signing:"Code Signing"; do
	name=${p%%:*}
	want=${p#*:}
	if [ "$name" = code-signing ]; then
		sans=''
	else
		sans='"sans":["DNS:p.example"],'
	fi
	t_expect "enroll with profile $name" 201 POST /v1/certs \
	    "{\"ca\":\"inter\",\"subject\":\"CN=$name\",$sans\"profile\":\"$name\",\"key\":{\"type\":\"ec-p256\"}}"
	jq -r .certificate "$T_BODY" >"$T_TMP/p.pem"
	t_eq "profile $name EKU" "$want" "$(eku "$T_TMP/p.pem")"
done

# ---- list, show, expiring_within ----
t_cli cert enroll --ca inter --subject CN=short --san DNS:short.example \
    --validity 1d --json >"$T_TMP/short.json" 2>/dev/null || true
SHORT=$(jq -r .id "$T_TMP/short.json")
t_expect "list certificates" 200 GET /v1/certs
t_eq "list has the six certificates" 6 "$(jq '.certs | length' "$T_BODY")"
out=$(t_cli cert list --expiring-within 7d 2>&1) || true
t_eq "expiring within 7d lists only the 1d certificate" "$SHORT" \
    "$(printf '%s\n' "$out" | awk '{print $1}')"
t_expect "expiring_within=7d through the API" 200 GET "/v1/certs?expiring_within=7d&ca=inter"
t_eq "API filter finds the 1d certificate, not the 90d ones" "$SHORT" \
    "$(jq -r '[.certs[].id] | join(" ")' "$T_BODY")"
out=$(t_cli cert list --ca inter --status issued 2>&1 | wc -l) || true
t_eq "capstone cert list --ca --status" 6 "$out"
out=$(t_cli cert show "$EC" 2>&1) || true
case $out in
*"serial"*"$EC_SERIAL"*"san"*"DNS:vnf1.example"*) t_ok "capstone cert show" ;;
*) t_fail "capstone cert show" "$(t_short "$out")" ;;
esac
t_cli cert show "$EC" --pem >"$T_TMP/show.pem" 2>/dev/null || true
t_eq "capstone cert show --pem prints certificate and chain" 3 \
    "$(grep -c 'BEGIN CERTIFICATE' "$T_TMP/show.pem")"

# ---- renewal ----
if t_cli cert renew "$EC" --json >"$T_TMP/renew.json" 2>"$T_TMP/err"; then
	t_ok "capstone cert renew"
else
	t_fail "capstone cert renew" "$(t_short "$(cat "$T_TMP/err")")"
fi
t_expect "show the renewed certificate" 200 GET "/v1/certs/$EC"
t_check "renewal keeps the id, gives a new serial" \
    "$([ "$(jq -r .serial "$T_BODY")" != "$EC_SERIAL" ] && [ "$(jq -r .status "$T_BODY")" = issued ]; echo $?)" \
    "$(t_short "$(cat "$T_BODY")")"
t_check "renewal made a new key" \
    "$([ "$(jq -r .key_id "$T_BODY")" != "$EC_KEY" ]; echo $?)" "same key $EC_KEY"
t_jq "history keeps the old serial" \
    "[.history[] | select(.serial == \"$EC_SERIAL\")] | length >= 1"
jq -r .certificate "$T_BODY" >"$T_TMP/ec2.pem"
t_api GET "/v1/keys/$(jq -r .key_id "$T_BODY")" | jq -r .public_key >"$T_TMP/ec2.pub"
t_eq "renewed certificate carries the new token key" \
    "$(pubkey_of_key "$T_TMP/ec2.pub")" "$(pubkey_of_cert "$T_TMP/ec2.pem")"
t_cli cert renew "$RSA" --keep-key --json >"$T_TMP/renew2.json" 2>/dev/null || true
t_api GET "/v1/certs/$RSA" >/dev/null
t_eq "renew --keep-key keeps the key" "$(jq -r .key_id "$T_TMP/renew2.json")" \
    "$(jq -r .key_id "$T_BODY")"

# ---- revocation: status, CRL, OCSP ----
EC2_SERIAL=$(jq -r .serial "$T_TMP/renew.json")
out=$(t_cli cert revoke "$EC" --reason keyCompromise 2>&1) || true
case $out in
*revoked*keyCompromise*) t_ok "capstone cert revoke --reason keyCompromise" ;;
*) t_fail "capstone cert revoke --reason keyCompromise" "$(t_short "$out")" ;;
esac
t_expect "show the revoked certificate" 200 GET "/v1/certs/$EC"
t_eq "status revoked" revoked "$(jq -r .status "$T_BODY")"
t_expect "status route" 200 GET "/v1/certs/$EC/status"
t_eq "status route says revoked from the CRL" "revoked crl" \
    "$(jq -r '.status + " " + .source' "$T_BODY")"
out=$(t_cli cert status "$RSA" 2>&1) || true
case $out in
good*) t_ok "capstone cert status: another certificate is good" ;;
*) t_fail "capstone cert status: another certificate is good" "$(t_short "$out")" ;;
esac
t_cli ca crl inter -o "$T_TMP/crl.der" 2>"$T_TMP/err" || true
out=$(openssl crl -inform DER -in "$T_TMP/crl.der" -text -noout 2>&1) || true
want=$(printf '%s' "$EC2_SERIAL" | tr a-f A-F)
case $out in
*"Serial Number: $want"*"Key Compromise"*) t_ok "the CRL lists the serial with keyCompromise" ;;
*) t_fail "the CRL lists the serial with keyCompromise" "$(t_short "$out $(cat "$T_TMP/err")")" ;;
esac
jq -r .certificate "$T_BODY" >/dev/null
t_api GET "/v1/certs/$EC" | jq -r .certificate >"$T_TMP/revoked.pem"
openssl ocsp -no_nonce -issuer "$T_TMP/inter.pem" -cert "$T_TMP/revoked.pem" \
    -reqout "$T_TMP/ocsp.req" >/dev/null 2>&1 || t_fail "openssl ocsp -reqout" failed
curl -s -o "$T_TMP/ocsp.resp" --cacert "$T_DIR/pki/ca.crt" \
    --cert "$T_DIR/pki/admin.crt" --key "$T_DIR/pki/admin.key" \
    -H 'Content-Type: application/ocsp-request' --data-binary "@$T_TMP/ocsp.req" \
    "https://127.0.0.1:$T_PORT/v1/cas/inter/ocsp" || true
cat "$T_TMP/inter.pem" "$T_TMP/root.pem" >"$T_TMP/bundle.pem"
out=$(openssl ocsp -no_nonce -respin "$T_TMP/ocsp.resp" -issuer "$T_TMP/inter.pem" \
    -cert "$T_TMP/revoked.pem" -CAfile "$T_TMP/bundle.pem" 2>&1) || true
case $out in
*"revoked.pem: revoked"*) t_ok "OCSP says revoked" ;;
*) t_fail "OCSP says revoked" "$(t_short "$out")" ;;
esac

# ---- refused CA answers ----
# An imported CA whose certificate (key in the token) is signed by an
# outside root: with roots set to that root it issues; configured with a
# different root, every answer fails chain validation.
X=$T_TMP/ext
mkdir -p "$X"
t_ca "$X" ext "Outside Root" >/dev/null 2>&1 || t_die "outside root"
t_expect "a key for the imported CA" 201 POST /v1/keys '{"type":"ec-p256","label":"imported-ca"}'
IKEY=$(jq -r .id "$T_BODY")
t_expect "its CSR" 200 POST "/v1/keys/$IKEY/csr" '{"subject":"CN=Imported CA"}'
jq -r .csr "$T_BODY" >"$X/imp.csr"
printf 'basicConstraints=critical,CA:true,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' >"$X/ca.ext"
openssl x509 -req -in "$X/imp.csr" -CA "$X/ext.crt" -CAkey "$X/ext.key" \
    -set_serial "0x$(t_rand_hex 8)" -days 30 -sha256 -extfile "$X/ca.ext" \
    -out "$X/imp.crt" 2>/dev/null || t_die "signing the imported CA"
for n in good bad; do
	if [ $n = good ]; then r=$X/ext.crt; else r=$T_TMP/root.pem; fi
	jq -n --arg c "$(cat "$X/imp.crt")" --arg k "$IKEY" --arg r "$(cat "$r")" \
	    --arg n "imp-$n" '{name:$n, protocol:"local", import:{certificate:$c, key_id:$k},
	    roots:$r, default_validity:"7d"}' >"$T_TMP/imp.json"
	t_cli ca add "imp-$n" --json-file "$T_TMP/imp.json" >/dev/null 2>"$T_TMP/err" ||
	    t_fail "import CA imp-$n" "$(t_short "$(cat "$T_TMP/err")")"
done
t_expect "the imported CA under its real root issues" 201 POST /v1/certs \
    '{"ca":"imp-good","subject":"CN=ok","sans":["DNS:ok.example"]}'
ncerts=$(t_api GET /v1/certs | jq '.certs | length')
nkeys=$(t_api GET /v1/keys | jq '.keys | length')
t_expect "an answer that does not reach the configured root is 502" 502 POST /v1/certs \
    '{"ca":"imp-bad","subject":"CN=refused","sans":["DNS:refused.example"],"key":{"type":"ec-p256"}}'
t_error_shape "the refusal is bad_gateway" bad_gateway
t_jq "the refusal says why" '.error.message | test("root")'
t_eq "no certificate stored for the refused answer" "$ncerts" \
    "$(t_api GET /v1/certs | jq '.certs | length')"
t_eq "the refused request's new key was destroyed" "$nkeys" \
    "$(t_api GET /v1/keys | jq '.keys | length')"

t_cli ca rm imp-bad 2>/dev/null && t_ok "capstone ca rm" || t_fail "capstone ca rm" failed
t_expect "removed CA is gone" 404 GET /v1/cas/imp-bad

# ---- restart: the engine stops cleanly and the inventory stays ----
ncerts=$(t_api GET /v1/certs | jq '.certs | length')
t_stop_ok "the daemon stops cleanly with the certificate engine"
t_start_daemon "$T_DIR" || t_die "capstoned did not restart"
t_eq "the inventory is back after a restart" "$ncerts" \
    "$(t_api GET /v1/certs | jq '.certs | length')"
t_expect "status after a restart" 200 GET "/v1/certs/$EC/status"
t_eq "still revoked after a restart" revoked "$(jq -r .status "$T_BODY")"
t_expect "enroll after a restart" 201 POST /v1/certs \
    '{"ca":"inter","subject":"CN=after","sans":["DNS:after.example"]}'
t_stop_ok "the daemon stops cleanly again"

t_done
