#!/bin/sh
# cmp.sh - certificates through the CMP connector end to end: a key made in
# the token through /v1/keys, its CSR signed by a test CA, `openssl cmp` as
# the mock CA answering with that certificate (it always answers with its
# fixed -rsp_cert), connectors configured by POST /v1/cas, one under PBM
# (MAC) protection with the secret held as a vault: reference, one under
# signature protection with the protection key in the token; POST
# /v1/certs (ir), renewal with the same key (kur), revocation (rr), the
# chain (genm); a rejection injected by the mock reported as ca_rejected
# with its failInfo, a certificate for another key refused as bad_gateway
# with nothing stored and certConf telling the CA so; the status route for
# a CMP-issued certificate through the OCSP responder and the CRL its
# extensions name (`openssl ocsp` over an openssl ca index, the CRL served
# by python3 http.server).
#
# The mocks listen on all interfaces; only loopback traffic is sent to them.
set -eu
. "$(dirname "$0")/../lib/env.sh"

SECRET=$(t_rand_hex 16)
REF=capstone-it

t_setup

# api METHOD PATH [BODY]: t_api that dies unless the answer is 2xx.
api() {
	t_api "$@" >/dev/null
	case $T_STATUS in
	2??) ;;
	*) t_die "$1 $2: HTTP $T_STATUS $(t_short "$(cat "$T_BODY")")" ;;
	esac
}

# ok2xx: 0 when the last answer was 2xx.
ok2xx() {
	case $T_STATUS in
	2??) return 0 ;;
	esac
	return 1
}

# mock NAME RSP_CERT [ARGS...]: starts a mock CA answering under PBM
# (MOCK_SIG=1: signed by the server key), sets MOCK_PORT.
mock() {
	_name=$1
	_rsp=$2
	shift 2
	MOCK_PORT=$(t_free_port) || t_die "no free port"
	if [ "${MOCK_SIG:-0}" = 1 ]; then
		set -- -srv_key "$P/srv.key" "$@"
	else
		set -- -srv_ref "$REF" -srv_secret "pass:$SECRET" "$@"
	fi
	openssl cmp -config "" -port "$MOCK_PORT" -srv_cert "$P/srv.crt" \
	    -srv_trusted "$P/ca.crt" -rsp_cert "$_rsp" -rsp_capubs "$P/ca.crt" \
	    -verbosity 7 "$@" >"$T_TMP/mock-$_name.log" 2>&1 &
	t_track $!
	# the mock prints ACCEPT once it listens; a probe would stall it
	_deadline=$(($(date +%s) + 10))
	until grep -q ACCEPT "$T_TMP/mock-$_name.log" 2>/dev/null; do
		[ "$(date +%s)" -lt "$_deadline" ] ||
		    t_die "mock $_name did not start"
		sleep 0.02
	done
}

# add_ca NAME PORT: POST /v1/cas for a mock under PBM protection.
add_ca() {
	jq -n --arg name "$1" --arg url "http://127.0.0.1:$2/pkix/" \
	    --arg ref "$REF" --rawfile trusted "$P/ca.crt" '{
		name: $name, protocol: "cmp", url: $url,
		recipient: "CN=CMP Test CA", expected_sender: "CN=CMP Server",
		trusted: $trusted, timeout: "10s",
		auth: {mode: "mac", reference: $ref,
		    secret: "vault:_ca/cmp-pbm#secret", owf: "sha256",
		    mac: "hmac-sha256"}}' >"$T_TMP/ca-$1.json"
	t_api POST /v1/cas "@$T_TMP/ca-$1.json" >/dev/null
}

# add_sig_ca NAME PORT: POST /v1/cas for a mock under signature
# protection with the protection key $PKID in the token.
add_sig_ca() {
	jq -n --arg name "$1" --arg url "http://127.0.0.1:$2/pkix/" \
	    --arg kid "$PKID" --rawfile pcert "$P/prot.crt" \
	    --rawfile trusted "$P/ca.crt" '{
		name: $name, protocol: "cmp", url: $url,
		recipient: "CN=CMP Test CA", expected_sender: "CN=CMP Server",
		trusted: $trusted, timeout: "10s",
		auth: {mode: "signature", key_id: $kid, certificate: $pcert}}' \
	    >"$T_TMP/ca-$1.json"
	t_api POST /v1/cas "@$T_TMP/ca-$1.json" >/dev/null
}

# enroll CA: POST /v1/certs for the token key; waits out a 202.
enroll() {
	t_api POST /v1/certs "{\"ca\":\"$1\",\"subject\":\"CN=workload\",\"key_id\":\"$KID\"}" >/dev/null
	t_wait_pending
}

# nothing_stored NAME CA: no certificate of CA is in the inventory.
nothing_stored() {
	_st=$T_STATUS
	cp "$T_BODY" "$T_TMP/body.keep"
	t_api GET "/v1/certs?ca=$2" >/dev/null
	t_jq "$1" '.certs | length == 0'
	cp "$T_TMP/body.keep" "$T_BODY"
	T_STATUS=$_st
}

# same_key CERTFILE: 0 when CERTFILE carries the token key.
same_key() {
	openssl x509 -in "$1" -pubkey -noout 2>/dev/null |
	    openssl pkey -pubin -outform DER -out "$P/got.der" 2>/dev/null &&
	    openssl pkey -pubin -in "$P/token.pub" -outform DER \
		-out "$P/token.der" 2>/dev/null &&
	    cmp -s "$P/got.der" "$P/token.der"
}

# fingerprint CERTFILE: the SHA-256 fingerprint of a PEM certificate.
fingerprint() {
	openssl x509 -in "$1" -noout -fingerprint -sha256 2>/dev/null
}

P=$T_TMP/cmp-pki
mkdir -p "$P"
printf 'basicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' >"$P/ee.ext"
t_ca "$P" ca "CMP Test CA" >/dev/null 2>&1 || t_die "test CA"
t_cert "$P" srv "CMP Server" ca "$P/ee.ext" >/dev/null 2>&1 ||
    t_die "mock server certificate"
t_cert "$P" other "workload" ca "$P/ee.ext" >/dev/null 2>&1 ||
    t_die "certificate for another key"

# sign_csr CSR OUT: the test CA signs a CSR made in the token.
sign_csr() {
	openssl x509 -req -in "$1" -CA "$P/ca.crt" -CAkey "$P/ca.key" \
	    -set_serial "0x$(t_rand_hex 8)" -days 30 -sha256 \
	    -extfile "$P/ee.ext" -out "$2" 2>/dev/null
}

# the key in the token, its CSR, and the certificate the mocks will return
api POST /v1/keys '{"type":"ec-p256","label":"cmp-it"}'
KID=$(jq -r .id "$T_BODY")
jq -r .public_key "$T_BODY" >"$P/token.pub"
api POST "/v1/keys/$KID/csr" '{"subject":"CN=workload"}'
jq -r .csr "$T_BODY" >"$P/token.csr"
sign_csr "$P/token.csr" "$P/e1.crt" || t_die "minting the mocks' answer"

# the protection key of the signature-protected connector, in the token
api POST /v1/keys '{"type":"ec-p256","label":"cmp-prot"}'
PKID=$(jq -r .id "$T_BODY")
api POST "/v1/keys/$PKID/csr" '{"subject":"CN=capstone-ra"}'
jq -r .csr "$T_BODY" >"$P/prot.csr"
sign_csr "$P/prot.csr" "$P/prot.crt" || t_die "protection certificate"

# the PBM secret lives in the vault; the connector holds a reference
t_api POST /v1/domains '{"name":"_ca"}' >/dev/null
api PUT /v1/domains/_ca/secrets/cmp-pbm "{\"data\":{\"secret\":\"$SECRET\"}}"

# ---- MAC protection: ir, certConf, genm, rr ----
mock ok "$P/e1.crt"
add_ca mock "$MOCK_PORT"
rc=0
ok2xx || rc=1
t_check "cmp: POST /v1/cas with protocol cmp and a vault: PBM secret" "$rc" \
    "HTTP $T_STATUS $(t_short "$(cat "$T_BODY")")"
t_api GET /v1/cas/mock >/dev/null
rc=0
! grep -qF -e "$SECRET" "$T_BODY" || rc=1
t_check "cmp: GET /v1/cas/mock never shows the PBM secret" "$rc" \
    "secret shown"

enroll mock
t_eq "cmp mac: POST /v1/certs answers 201" 201 "$T_STATUS"
t_jq "cmp mac: ir with PBM protection issues the certificate" \
    '.status == "issued" and (.certificate | length > 0) and (.chain | length >= 1)'
CID=$(jq -r .id "$T_BODY")
jq -r .certificate "$T_BODY" >"$P/got.crt"
jq -r '.chain[0]' "$T_BODY" >"$P/got-chain0.crt"
rc=0
same_key "$P/got.crt" || rc=1
t_check "cmp mac: the certificate stored carries the token key" "$rc" \
    "public keys differ"
rc=0
[ "$(fingerprint "$P/got-chain0.crt")" = "$(fingerprint "$P/ca.crt")" ] ||
    rc=1
t_check "cmp mac: the chain starts with the issuing CA" "$rc" \
    "chain[0] is not the test CA"
t_api GET "/v1/certs/$CID" >/dev/null
t_jq "cmp mac: GET /v1/certs/{id} shows it issued for the token key" \
    ".status == \"issued\" and .key_id == \"$KID\" and .ca == \"mock\""
rc=0
grep -q 'received IR' "$T_TMP/mock-ok.log" &&
    grep -q 'received CERTCONF' "$T_TMP/mock-ok.log" || rc=1
t_check "cmp mac: the mock saw ir and certConf" "$rc" \
    "$(t_short "$(tail -5 "$T_TMP/mock-ok.log")")"

t_api GET /v1/cas/mock/chain >/dev/null
rc=0
grep -q 'received GENM' "$T_TMP/mock-ok.log" && grep -q BEGIN "$T_BODY" ||
    rc=1
t_check "cmp mac: the chain of the CA (genm)" "$rc" "HTTP $T_STATUS"

t_api POST "/v1/certs/$CID/revoke" '{"reason":"keyCompromise"}' >/dev/null
rc=0
[ "$T_STATUS" = 200 ] && grep -q 'received RR' "$T_TMP/mock-ok.log" || rc=1
t_check "cmp mac: revocation through rr" "$rc" \
    "HTTP $T_STATUS $(t_short "$(cat "$T_BODY")")"
t_jq "cmp mac: the record says revoked, keyCompromise" \
    '.status == "revoked" and .revocation_reason == "keyCompromise"'

# ---- signature protection (key in the token): ir, kur ----
MOCK_SIG=1 mock sig "$P/e1.crt"
add_sig_ca mock-sig "$MOCK_PORT"
rc=0
ok2xx || rc=1
t_check "cmp sig: POST /v1/cas with the protection key in the token" "$rc" \
    "HTTP $T_STATUS $(t_short "$(cat "$T_BODY")")"
enroll mock-sig
t_eq "cmp sig: POST /v1/certs answers 201" 201 "$T_STATUS"
CID2=$(jq -r .id "$T_BODY")
jq -r .certificate "$T_BODY" >"$P/got2.crt"
rc=0
same_key "$P/got2.crt" && grep -q 'received IR' "$T_TMP/mock-sig.log" || rc=1
t_check "cmp sig: ir signed in the token gives the token key's certificate" \
    "$rc" "$(t_short "$(tail -5 "$T_TMP/mock-sig.log")")"

# the mock accepts a kur only for the certificate it issues: same key
t_api POST "/v1/certs/$CID2/renew" '{"new_key":false}' >/dev/null
t_wait_pending
rc=0
ok2xx && grep -q 'received KUR' "$T_TMP/mock-sig.log" || rc=1
t_check "cmp sig: renewal with the same key is a kur" "$rc" \
    "HTTP $T_STATUS $(t_short "$(cat "$T_BODY")")"
t_api GET "/v1/certs/$CID2" >/dev/null
t_jq "cmp sig: after kur the record is issued for the same key, with history" \
    ".status == \"issued\" and .key_id == \"$KID\" and (.history | length >= 2)"

# ---- a rejection injected by the CA ----
mock reject "$P/e1.crt" -pkistatus 2 -failure 9
add_ca mock-reject "$MOCK_PORT"
enroll mock-reject
t_eq "cmp reject: a PKIStatus rejection answers 502" 502 "$T_STATUS"
t_error_shape "cmp reject: the error is ca_rejected" ca_rejected
t_jq "cmp reject: the message gives the CA's reason (badPOP)" \
    '.error.message | test("badPOP")'

# ---- a certificate for another key ----
mock other "$P/other.crt"
add_ca mock-other "$MOCK_PORT"
enroll mock-other
t_eq "cmp other key: refused with 502" 502 "$T_STATUS"
t_error_shape "cmp other key: the error is bad_gateway" bad_gateway
nothing_stored "cmp other key: nothing is stored" mock-other
rc=0
grep -q 'certificate rejected by client' "$T_TMP/mock-other.log" || rc=1
t_check "cmp other key: certConf told the CA the certificate was rejected" \
    "$rc" "$(t_short "$(tail -5 "$T_TMP/mock-other.log")")"


# ---- revocation status through OCSP and the CRL the certificate names ----
# A minimal openssl ca directory: the index the OCSP responder answers
# from and the CRL is generated from.
DB=$P/ca-db
mkdir -p "$DB/new" "$P/crl"
: >"$DB/index.txt"
echo 1000 >"$DB/crlnumber"
cat >"$P/ca.cnf" <<CNF
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
unique_subject = no
default_md = sha256
default_crl_days = 7
policy = any_policy

[ any_policy ]
commonName = supplied
CNF

# ca_op ARGS...: openssl ca on the test CA, dying with its message.
ca_op() {
	openssl ca -config "$P/ca.cnf" -batch "$@" >"$T_TMP/ca.out" \
	    2>"$T_TMP/ca.err" ||
	    t_die "openssl ca $1: $(t_short "$(cat "$T_TMP/ca.err")")"
}

# wait_log FILE TEXT WHAT: waits (10 s at most) until FILE shows TEXT.
wait_log() {
	_deadline=$(($(date +%s) + 10))
	until grep -q "$2" "$1" 2>/dev/null; do
		[ "$(date +%s)" -lt "$_deadline" ] || t_die "$3 did not start"
		sleep 0.02
	done
}

# ocsp_start / ocsp_stop: the test CA's OCSP responder on $OCSP_PORT.
ocsp_start() {
	: >"$T_TMP/ocsp.log"
	openssl ocsp -index "$DB/index.txt" -port "$OCSP_PORT" \
	    -rsigner "$P/ca.crt" -rkey "$P/ca.key" -CA "$P/ca.crt" \
	    -nrequest 50 >>"$T_TMP/ocsp.log" 2>&1 &
	OCSP_PID=$!
	t_track "$OCSP_PID"
	wait_log "$T_TMP/ocsp.log" "waiting for OCSP client" "the OCSP responder"
}
ocsp_stop() {
	kill "$OCSP_PID" 2>/dev/null || true
	t_wait_exit "$OCSP_PID" 5
}

# status_is WHAT JQ: GET /v1/certs/$CID3/status and check JQ on it.
status_is() {
	t_api GET "/v1/certs/$CID3/status" >/dev/null
	t_eq "$1: HTTP 200" 200 "$T_STATUS"
	t_jq "$1" "$2"
}

OCSP_PORT=$(t_free_port) || t_die "no free port"
CRL_PORT=$(t_free_port) || t_die "no free port"
if [ "$OCSP_PORT" = "$CRL_PORT" ]; then
	CRL_PORT=$(t_free_port) || t_die "no free port"
fi
cp "$P/ee.ext" "$P/status.ext"
printf 'authorityInfoAccess=OCSP;URI:http://127.0.0.1:%s/\ncrlDistributionPoints=URI:http://127.0.0.1:%s/ca.crl\n' \
    "$OCSP_PORT" "$CRL_PORT" >>"$P/status.ext"
openssl x509 -req -in "$P/token.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" \
    -set_serial "0x$(t_rand_hex 8)" -days 30 -sha256 \
    -extfile "$P/status.ext" -out "$P/e3.crt" 2>/dev/null ||
    t_die "minting the certificate with OCSP and CRL URLs"
ca_op -valid "$P/e3.crt"
ca_op -gencrl -out "$P/crl/ca.crl"

python3 -u -m http.server "$CRL_PORT" --bind 127.0.0.1 \
    --directory "$P/crl" >"$T_TMP/crlsrv.log" 2>&1 &
t_track $!
wait_log "$T_TMP/crlsrv.log" "Serving HTTP" "the CRL server"
ocsp_start

mock status "$P/e3.crt"
add_ca mock-status "$MOCK_PORT"
enroll mock-status
t_eq "cmp status: POST /v1/certs answers 201" 201 "$T_STATUS"
CID3=$(jq -r .id "$T_BODY")
status_is "cmp status: a valid certificate is good through OCSP" \
    '.status == "good" and .source == "ocsp" and (.checked | length > 0)'

ca_op -revoke "$P/e3.crt" -crl_reason keyCompromise
ocsp_stop
ocsp_start
status_is "cmp status: once revoked at the CA, OCSP says revoked" \
    '.status == "revoked" and .source == "ocsp" and (.revoked_at | length > 0)'

ocsp_stop
ca_op -gencrl -out "$P/crl/ca.crl.tmp"
mv "$P/crl/ca.crl.tmp" "$P/crl/ca.crl"
status_is "cmp status: without the responder, the CRL says revoked" \
    '.status == "revoked" and .source == "crl" and (.revoked_at | length > 0)'

rm -f "$P/crl/ca.crl"
status_is "cmp status: with neither source, unknown with a reason" \
    '.status == "unknown" and (.reason | length > 0)'

t_done
