#!/bin/sh
# cmp.sh - certificates through the CMP connector end to end: a key made in
# the token through /v1/keys, its CSR signed by a test CA, `openssl cmp` as
# the mock CA answering with that certificate (it always answers with its
# fixed -rsp_cert), the connector configured by POST /v1/cas with the PBM
# secret held as a vault: reference, POST /v1/certs, revocation (rr), the
# chain (genm); a rejection injected by the mock reported with its failInfo,
# a certificate for another key refused and certConf telling the CA so.
#
# The mocks listen on all interfaces; only loopback traffic is sent to them.
# Until /v1/cas is served, the connector is covered by tests/unit/test_cmp.c
# and this script reports a skip.
set -eu
. "$(dirname "$0")/../lib/env.sh"

SECRET=$(t_rand_hex 16)
REF=capstone-it

t_prepare
t_start_daemon "$T_DIR" || t_die "capstoned did not start"

t_api GET /v1/cas >/dev/null
if [ "$T_STATUS" = 404 ] || [ "$T_STATUS" = 405 ]; then
	t_ok "cmp: # SKIP /v1/cas is not served yet (tests/unit/test_cmp.c drives the connector)"
	t_done
fi

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

# mock NAME RSP_CERT [ARGS...]: starts a mock CA, sets MOCK_PORT.
mock() {
	_name=$1
	_rsp=$2
	shift 2
	MOCK_PORT=$(t_free_port) || t_die "no free port"
	openssl cmp -config "" -port "$MOCK_PORT" -srv_ref "$REF" \
	    -srv_secret "pass:$SECRET" -srv_cert "$P/srv.crt" \
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

# enroll CA: POST /v1/certs for the token key; waits out a 202.
enroll() {
	t_api POST /v1/certs "{\"ca\":\"$1\",\"key_id\":\"$KID\"}" >/dev/null
	if [ "$T_STATUS" = 202 ]; then
		_cid=$(jq -r .id "$T_BODY")
		_deadline=$(($(date +%s) + 20))
		while [ "$(date +%s)" -lt "$_deadline" ]; do
			t_api GET "/v1/certs/$_cid" >/dev/null
			[ "$(jq -r .status "$T_BODY")" = pending ] || break
			sleep 0.1
		done
	fi
}

P=$T_TMP/cmp-pki
mkdir -p "$P"
printf 'basicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature\n' >"$P/ee.ext"
t_ca "$P" ca "CMP Test CA" >/dev/null 2>&1 || t_die "test CA"
t_cert "$P" srv "CMP Server" ca "$P/ee.ext" >/dev/null 2>&1 ||
    t_die "mock server certificate"
t_cert "$P" other "workload" ca "$P/ee.ext" >/dev/null 2>&1 ||
    t_die "certificate for another key"

# the key in the token, its CSR, and the certificate the mock will return
api POST /v1/keys '{"type":"ec-p256","label":"cmp-it"}'
KID=$(jq -r .id "$T_BODY")
jq -r .public_key "$T_BODY" >"$P/token.pub"
api POST "/v1/keys/$KID/csr" '{"subject":"CN=workload"}'
jq -r .csr "$T_BODY" >"$P/token.csr"
openssl x509 -req -in "$P/token.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" \
    -set_serial "0x$(t_rand_hex 8)" -days 30 -extfile "$P/ee.ext" \
    -out "$P/e1.crt" 2>/dev/null || t_die "minting the mock's answer"

# the PBM secret lives in the vault; the connector holds a reference
t_api POST /v1/domains '{"name":"_ca"}' >/dev/null
api PUT /v1/domains/_ca/secrets/cmp-pbm "{\"data\":{\"secret\":\"$SECRET\"}}"

mock ok "$P/e1.crt"
add_ca mock "$MOCK_PORT"
rc=0
ok2xx || rc=1
t_check "cmp: POST /v1/cas with protocol cmp" "$rc" \
    "HTTP $T_STATUS $(t_short "$(cat "$T_BODY")")"
t_api GET /v1/cas/mock >/dev/null
rc=0
! grep -qF "$SECRET" "$T_BODY" || rc=1
t_check "cmp: GET /v1/cas/mock never shows the PBM secret" "$rc" \
    "secret shown"

enroll mock
t_jq "cmp: ir with PBM protection issues the certificate" \
    '.status == "issued" and (.certificate | length > 0)'
CID=$(jq -r .id "$T_BODY")
jq -r .certificate "$T_BODY" >"$P/got.crt"
openssl x509 -in "$P/got.crt" -pubkey -noout >"$P/got.pub" 2>/dev/null || true
rc=0
cmp -s "$P/got.pub" "$P/token.pub" || rc=1
t_check "cmp: the certificate stored carries the token key" "$rc" \
    "public keys differ"
rc=0
grep -q 'received IR' "$T_TMP/mock-ok.log" &&
    grep -q 'received CERTCONF' "$T_TMP/mock-ok.log" || rc=1
t_check "cmp: the mock saw ir and certConf" "$rc" \
    "$(t_short "$(tail -5 "$T_TMP/mock-ok.log")")"

t_api GET /v1/cas/mock/chain >/dev/null
rc=0
grep -q 'received GENM' "$T_TMP/mock-ok.log" && grep -q BEGIN "$T_BODY" ||
    rc=1
t_check "cmp: the chain of the CA (genm)" "$rc" "HTTP $T_STATUS"

t_api POST "/v1/certs/$CID/revoke" '{"reason":"keyCompromise"}' >/dev/null
rc=0
ok2xx && grep -q 'received RR' "$T_TMP/mock-ok.log" || rc=1
t_check "cmp: revocation through rr" "$rc" \
    "HTTP $T_STATUS $(t_short "$(cat "$T_BODY")")"

mock reject "$P/e1.crt" -pkistatus 2 -failure 9
add_ca mock-reject "$MOCK_PORT"
enroll mock-reject
rc=0
! ok2xx && grep -q badPOP "$T_BODY" || rc=1
t_check "cmp: an injected rejection is a clear error naming badPOP" "$rc" \
    "HTTP $T_STATUS $(t_short "$(cat "$T_BODY")")"

mock other "$P/other.crt"
add_ca mock-other "$MOCK_PORT"
enroll mock-other
rc=0
if ok2xx; then
	[ "$(jq -r .status "$T_BODY")" != issued ] || rc=1
	[ "$(jq -r .status "$T_BODY")" != pending ] || rc=1
else
	[ "$T_STATUS" != 000 ] || rc=1
fi
t_check "cmp: a certificate for another key is refused" "$rc" \
    "HTTP $T_STATUS $(t_short "$(cat "$T_BODY")")"
rc=0
grep -q 'certificate rejected by client' "$T_TMP/mock-other.log" || rc=1
t_check "cmp: certConf told the CA the certificate was rejected" "$rc" \
    "$(t_short "$(tail -5 "$T_TMP/mock-other.log")")"

t_done
