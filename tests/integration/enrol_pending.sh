#!/bin/sh
# enrol_pending.sh - requests the CA has not answered yet (RFC 7030 4.2.3)
# on the enrolment server, with [enrol] wait = 0s so that every new
# request is answered 202 first:
#   - curl simpleenroll with an initial credential: 202 with Retry-After
#     and the JSON pending shape; the same request again collects the
#     certificate (for the requester's key); the credential is spent then;
#   - simplereenroll: 202, then the new certificate; the old one renews no
#     more;
#   - kill -9 with a request pending, restart: the repeat collects it;
#   - the CMF REST API (CSR mode): 202, then 201 with the certificate;
#   - Capstone's own EST connector against this server: its enrollment
#     goes pending, it polls on Retry-After, and ends issued;
#   - strongSwan's pki --est polls the 202 until it gets the certificate;
#   - openssl cmp (ir with MAC, kur, p10cr) is answered "waiting" and
#     polls (pollReq/pollRep) to its certificate;
#   - an entity removed with a request never collected: what the CA issued
#     for it is revoked (the CRL lists it), also when the CA issues it only
#     after the removal;
#   - a pending request belongs to its client: another CSR of the same
#     credential meanwhile is 409, another client cannot collect it, and a
#     certificate renews one request at a time.
set -eu
. "$(dirname "$0")/../lib/env.sh"
. "$(dirname "$0")/../lib/enrol.sh"

enrol_setup 'wait = 0s' '[certs]' 'scan_interval = 1s'
for i in 0 1 2 3 4; do
	t_api POST /cmf/v1/entities "{\"id\":\"vnfc-p-$i\",\"type\":\"VNFC_INSTANCE\",\"vnfcId\":\"vnfc-p-$i\",\"fqdns\":[\"p$i.vnf.example\"],\"ca\":\"op\",\"bindingPolicy\":\"P1\",\"certTypes\":[\"VNFCI_CERT\"]}" >/dev/null
	t_eq "entity vnfc-p-$i" 201 "$T_STATUS"
done

# retry_after FILE.hdr: the Retry-After value, or "".
retry_after() {
	tr -d '\r' <"$1" | sed -n 's/^[Rr]etry-[Aa]fter: *\([0-9]*\)$/\1/p'
}

# collect PATH OUT [CURL ARGS...]: repeats the request in $W/body after
# each Retry-After (at most 20 times) until it is not 202.
collect() {
	_n=0
	while :; do
		_ra=$(retry_after "$2.hdr")
		[ -n "$_ra" ] || _ra=1
		[ "$_ra" -le 5 ] || _ra=5
		sleep "$_ra"
		est "$@"
		[ "$EST_STATUS" = 202 ] || return 0
		_n=$((_n + 1))
		[ "$_n" -lt 20 ] || return 0
	done
}

# ---- simpleenroll: 202, then the certificate ----
initcred vnfc-p-0 "$W/cred0" || t_die "no initial credential: HTTP $T_STATUS"
csr e0 p0.vnf.example DNS:p0.vnf.example
est simpleenroll "$W/e0.p7" -K "$W/cred0"
t_eq "a new simpleenroll is 202 (wait = 0s)" 202 "$EST_STATUS"
ra=$(retry_after "$W/e0.p7.hdr")
if [ -n "$ra" ] && [ "$ra" -ge 1 ]; then
	t_ok "the 202 carries Retry-After ($ra s)"
else
	t_fail "the 202 carries Retry-After" "$(t_short "$(cat "$W/e0.p7.hdr")")"
fi
t_eq "the 202 body says pending" pending "$(jq -r .status "$W/e0.p7" 2>/dev/null || true)"
collect simpleenroll "$W/e0.p7" -K "$W/cred0"
t_eq "the same request again collects the certificate (200)" 200 "$EST_STATUS"
p7 "$W/e0.p7" "$W/e0.pem" || true
if same_key "$W/e0.key" "$W/e0.pem" &&
    openssl verify -CAfile "$W/op.pem" "$W/e0.pem" >/dev/null 2>&1; then
	t_ok "it is the operator CA's certificate for the requester's key"
else
	t_fail "it is the operator CA's certificate for the requester's key" "no"
fi
est simpleenroll "$W/e0b.p7" -K "$W/cred0"
t_eq "the credential is spent once the certificate is collected (401)" 401 "$EST_STATUS"

# ---- simplereenroll: 202, then the new certificate ----
csr r0 p0.vnf.example DNS:p0.vnf.example
est simplereenroll "$W/r0.p7" --cert "$W/e0.pem" --key "$W/e0.key"
t_eq "a new simplereenroll is 202" 202 "$EST_STATUS"
collect simplereenroll "$W/r0.p7" --cert "$W/e0.pem" --key "$W/e0.key"
t_eq "the repeated simplereenroll collects the new certificate (200)" 200 "$EST_STATUS"
p7 "$W/r0.p7" "$W/r0.pem" || true
if same_key "$W/r0.key" "$W/r0.pem" &&
    [ "$(openssl x509 -in "$W/r0.pem" -noout -serial 2>/dev/null)" != \
      "$(openssl x509 -in "$W/e0.pem" -noout -serial 2>/dev/null)" ]; then
	t_ok "the renewed certificate is new and for the new key"
else
	t_fail "the renewed certificate is new and for the new key" "no"
fi
csr r0b p0.vnf.example DNS:p0.vnf.example
est simplereenroll "$W/r0b.p7" --cert "$W/e0.pem" --key "$W/e0.key"
t_eq "the renewed certificate re-enrolls no more (401)" 401 "$EST_STATUS"

# ---- a pending request belongs to its client, one at a time ----
t_api POST /cmf/v1/entities '{"id":"vnfc-p-6","type":"VNFC_INSTANCE","vnfcId":"vnfc-p-6","fqdns":["p6.vnf.example"],"ca":"op","bindingPolicy":"P1","certTypes":["VNFCI_CERT"]}' >/dev/null
t_eq "entity vnfc-p-6" 201 "$T_STATUS"
initcred vnfc-p-6 "$W/cred6" || t_die "no initial credential: HTTP $T_STATUS"
csr q1 p6.vnf.example DNS:p6.vnf.example
est simpleenroll "$W/q1.p7" -K "$W/cred6"
t_eq "a credential's request is 202" 202 "$EST_STATUS"
csr q2 p6.vnf.example DNS:p6.vnf.example
est simpleenroll "$W/q2.p7" -K "$W/cred6"
t_eq "the same credential with another CSR meanwhile is 409" 409 "$EST_STATUS"
cp "$T_BODY" "$T_TMP/keep.body" 2>/dev/null || :
cp "$W/q2.p7" "$T_BODY"
t_error_shape "that 409 has the JSON error shape" conflict
cp "$T_TMP/keep.body" "$T_BODY" 2>/dev/null || :
# an administrator through the CMF API is another client
openssl req -in "$W/q1.der" -inform DER -out "$W/q1.csr" 2>/dev/null
jq -n --rawfile csr "$W/q1.csr" \
    '{vnfcId: "vnfc-p-6", certType: "VNFCI_CERT", csr: $csr}' >"$W/q1.json"
t_api POST /cmf/v1/entities/vnfc-p-6/certificates "@$W/q1.json" >/dev/null
t_eq "another client cannot collect it (the same CSR through the API: 409)" 409 "$T_STATUS"
cp "$W/q1.b64" "$W/body"
collect simpleenroll "$W/q1.p7" -K "$W/cred6"
t_eq "its own client collects it" 200 "$EST_STATUS"
cp "$W/q2.b64" "$W/body"
est simpleenroll "$W/q2.p7" -K "$W/cred6"
t_eq "then the credential is spent (401)" 401 "$EST_STATUS"
# a certificate renews one request at a time too
p7 "$W/q1.p7" "$W/q1.pem" || true
csr q3 p6.vnf.example DNS:p6.vnf.example
est simplereenroll "$W/q3.p7" --cert "$W/q1.pem" --key "$W/q1.key"
t_eq "a renewal is 202" 202 "$EST_STATUS"
csr q4 p6.vnf.example DNS:p6.vnf.example
est simplereenroll "$W/q4.p7" --cert "$W/q1.pem" --key "$W/q1.key"
t_eq "a second renewal with another CSR meanwhile is 409" 409 "$EST_STATUS"
cp "$W/q3.b64" "$W/body"
collect simplereenroll "$W/q3.p7" --cert "$W/q1.pem" --key "$W/q1.key"
t_eq "the first renewal is collected" 200 "$EST_STATUS"
cp "$W/q4.b64" "$W/body"
est simplereenroll "$W/q4.p7" --cert "$W/q1.pem" --key "$W/q1.key"
t_eq "then the renewed certificate renews no more (401)" 401 "$EST_STATUS"
t_api GET '/v1/certs?ca=op' >/dev/null
t_eq "the CA issued one certificate per collected request, none for the refused ones" 2 \
    "$(jq '[.certs[] | select(.subject == "CN=p6.vnf.example")] | length' "$T_BODY")"

# ---- kill -9 with a request pending ----
initcred vnfc-p-1 "$W/cred1" || t_die "no initial credential: HTTP $T_STATUS"
csr e1 p1.vnf.example DNS:p1.vnf.example
est simpleenroll "$W/e1.p7" -K "$W/cred1"
t_eq "a request before the kill is 202" 202 "$EST_STATUS"
sleep 1
t_kill_daemon
t_start_daemon "$T_DIR" || t_die "capstoned did not restart"
cp "$W/e1.b64" "$W/body"
collect simpleenroll "$W/e1.p7" -K "$W/cred1"
t_eq "after kill -9 and restart the repeat collects it (200)" 200 "$EST_STATUS"
p7 "$W/e1.p7" "$W/e1.pem" || true
if same_key "$W/e1.key" "$W/e1.pem"; then
	t_ok "that certificate is for the key of the request made before the kill"
else
	t_fail "that certificate is for the key of the request made before the kill" "no"
fi

# ---- the CMF REST API, CSR mode ----
csr c2 p2.vnf.example DNS:p2.vnf.example
openssl req -in "$W/c2.der" -inform DER -out "$W/c2.csr" 2>/dev/null
jq -n --rawfile csr "$W/c2.csr" \
    '{vnfcId: "vnfc-p-2", certType: "VNFCI_CERT", csr: $csr}' >"$W/c2.json"
t_api POST /cmf/v1/entities/vnfc-p-2/certificates "@$W/c2.json" >/dev/null
t_eq "a CMF certificate request is 202 with wait = 0s" 202 "$T_STATUS"
t_eq "its body says pending" pending "$(jq -r .status "$T_BODY")"
n=0
while [ "$T_STATUS" = 202 ] && [ "$n" -lt 20 ]; do
	sleep 1
	t_api POST /cmf/v1/entities/vnfc-p-2/certificates "@$W/c2.json" >/dev/null
	n=$((n + 1))
done
t_eq "the same CMF request again collects it (201)" 201 "$T_STATUS"
jq -r '.certificate // empty' "$T_BODY" >"$W/c2.pem"
if same_key "$W/c2.key" "$W/c2.pem"; then
	t_ok "the CMF answer is the certificate for the CSR's key"
else
	t_fail "the CMF answer is the certificate for the CSR's key" "$(t_short "$(cat "$T_BODY")")"
fi
t_api GET /cmf/v1/entities/vnfc-p-2 >/dev/null
t_eq "the entity holds it" 1 "$(jq '.certificates | length' "$T_BODY")"

# ---- Capstone's EST connector polls this server ----
initcred vnfc-p-3 "$W/cred3" || t_die "no initial credential: HTTP $T_STATUS"
est_peer_ca "$W/cred3.up"
t_api POST /v1/certs '{"ca":"estpeer","subject":"CN=p3.vnf.example","sans":["DNS:p3.vnf.example"],"key":{"type":"ec-p256"}}' >/dev/null
peer_id=$(jq -r '.id // empty' "$T_BODY")
n=0
st=$(jq -r '.status // empty' "$T_BODY")
while [ "$st" = pending ] && [ "$n" -lt 40 ]; do
	sleep 0.5
	t_api GET "/v1/certs/$peer_id" >/dev/null
	st=$(jq -r '.status // empty' "$T_BODY")
	n=$((n + 1))
done
t_eq "the EST connector's enrollment ends issued after polling the 202" issued "$st"
jq -r '.certificate // empty' "$T_BODY" >"$W/peer.pem"
if openssl verify -CAfile "$W/op.pem" "$W/peer.pem" >/dev/null 2>&1; then
	t_ok "that certificate is the operator CA's"
else
	t_fail "that certificate is the operator CA's" "$(t_short "$(cat "$T_BODY")")"
fi
ref3=$(cat "$W/cred3.ref")
n202=$(jq -c "select(.identity == \"initcred:$ref3\" and .status == 202)" \
    "$T_DIR/audit.log" 2>/dev/null | wc -l)
n200=$(jq -c "select(.identity == \"initcred:$ref3\" and .status == 200)" \
    "$T_DIR/audit.log" 2>/dev/null | wc -l)
if [ "$n202" -ge 1 ] && [ "$n200" -eq 1 ]; then
	t_ok "the connector was answered 202, then 200 on its poll (audit: $n202, $n200)"
else
	t_fail "the connector was answered 202, then 200 on its poll" "202: $n202, 200: $n200"
fi

# ---- strongSwan pki --est polls ----
if pki --estca --help 2>&1 | grep -q "curl.*failed to load\|no plugin file.*curl"; then
	echo "# strongSwan pki has no curl plugin here: pki check skipped"
else
	initcred vnfc-p-4 "$W/cred4" || t_die "no initial credential: HTTP $T_STATUS"
	pki --gen --type ecdsa --size 256 --outform pem >"$W/sw.key" 2>/dev/null
	pki --req --type ecdsa --in "$W/sw.key" --dn "CN=p4.vnf.example" \
	    --san p4.vnf.example --outform der >"$W/sw.csr" 2>/dev/null
	rc=0
	timeout 60 pki --est --url "https://127.0.0.1:$EPORT/" --in "$W/sw.csr" \
	    --cacert "$T_DIR/pki/ca.crt" --userpass "$(cat "$W/cred4.up")" \
	    --interval 1 --maxpolltime 30 --outform pem \
	    >"$W/sw.crt" 2>"$W/pki-est.log" || rc=1
	openssl verify -CAfile "$W/op.pem" "$W/sw.crt" >/dev/null 2>&1 || rc=1
	t_check "pki --est polls the 202 and gets the certificate" "$rc" \
	    "$(t_short "$(tail -n 3 "$W/pki-est.log")")"
fi

# ---- CMP: waiting, pollReq/pollRep, then the certificate ----
t_api POST /cmf/v1/entities '{"id":"vnfc-p-5","type":"VNFC_INSTANCE","vnfcId":"vnfc-p-5","fqdns":["p5.vnf.example"],"ca":"op","bindingPolicy":"P1","certTypes":["VNFCI_CERT"]}' >/dev/null
t_eq "entity vnfc-p-5" 201 "$T_STATUS"
initcred vnfc-p-5 "$W/cred5" || t_die "no initial credential: HTTP $T_STATUS"
newkey k5
rc=0
ocmp ir5 -cmd ir -ref "$(cat "$W/cred5.ref")" -secret "file:$W/cred5.sec" \
    -newkey "$W/k5.key" -subject "/CN=p5.vnf.example" -sans p5.vnf.example \
    -certout "$W/c5.pem" || rc=1
same_key "$W/k5.key" "$W/c5.pem" || rc=1
t_check "openssl cmp ir (MAC) polls the waiting answer to its certificate" "$rc" \
    "$(t_short "$(tail -n 4 "$W/ir5.log")")"
if grep -qi 'pollrep\|polling\|poll' "$W/ir5.log"; then
	t_ok "the client was answered waiting and polled"
else
	t_fail "the client was answered waiting and polled" "$(t_short "$(tail -n 6 "$W/ir5.log")")"
fi
newkey k6
rc=0
ocmp kur5 -cmd kur -cert "$W/c5.pem" -key "$W/k5.key" -newkey "$W/k6.key" \
    -srvcert "$T_DIR/pki/server.crt" -certout "$W/c6.pem" || rc=1
same_key "$W/k6.key" "$W/c6.pem" || rc=1
t_check "openssl cmp kur polls to the renewed certificate" "$rc" \
    "$(t_short "$(tail -n 4 "$W/kur5.log")")"
initcred vnfc-p-5 "$W/cred7" || t_die "no initial credential: HTTP $T_STATUS"
csr c7 p5.vnf.example DNS:p5.vnf.example
openssl req -in "$W/c7.der" -inform DER -out "$W/c7.csr" 2>/dev/null
rc=0
ocmp p10 -cmd p10cr -ref "$(cat "$W/cred7.ref")" -secret "file:$W/cred7.sec" \
    -csr "$W/c7.csr" -certout "$W/c7.pem" || rc=1
same_key "$W/c7.key" "$W/c7.pem" || rc=1
t_check "openssl cmp p10cr polls to its certificate" "$rc" \
    "$(t_short "$(tail -n 4 "$W/p10.log")")"
rc=0
ocmp ir5b -cmd ir -ref "$(cat "$W/cred5.ref")" -secret "file:$W/cred5.sec" \
    -newkey "$W/k5.key" -subject "/CN=p5.vnf.example" -certout "$W/c5b.pem" || rc=1
t_eq "the initial credential is spent after a polled enrollment" 1 "$rc"

# ---- a CA that is slow to answer: 202 and pollRep again meanwhile ----
# One request every 4 s: an enrollment through the API takes the token,
# the next one waits in the CA's queue for about 4 s.
t_expect "a slow CA (one request per 4 s)" 201 POST /v1/cas \
    '{"name":"slow","protocol":"local","subject":"CN=Slow CA","key":{"type":"ec-p256"},"limits":{"rate":0.25,"burst":1,"max_in_flight":1,"queue":5}}'
t_api POST /cmf/v1/entities '{"id":"vnfc-s-0","type":"VNFC_INSTANCE","vnfcId":"vnfc-s-0","fqdns":["s0.vnf.example"],"ca":"slow","bindingPolicy":"P1","certTypes":["VNFCI_CERT"]}' >/dev/null
t_eq "entity vnfc-s-0 on the slow CA" 201 "$T_STATUS"
t_api POST /v1/certs '{"ca":"slow","subject":"CN=other","key":{"type":"ec-p256"}}' >/dev/null
t_wait_pending
t_eq "an API enrollment takes the slow CA's token" 201 "$T_STATUS"
initcred vnfc-s-0 "$W/creds" || t_die "no initial credential: HTTP $T_STATUS"
csr s0 s0.vnf.example DNS:s0.vnf.example
est simpleenroll "$W/s0.p7" -K "$W/creds"
t_eq "est on the slow CA: 202" 202 "$EST_STATUS"
est simpleenroll "$W/s0.p7" -K "$W/creds"
t_eq "repeated before the CA answered: 202 again" 202 "$EST_STATUS"
t_eq "still pending" pending "$(jq -r .status "$W/s0.p7" 2>/dev/null || true)"
collect simpleenroll "$W/s0.p7" -K "$W/creds"
t_eq "then the certificate (200)" 200 "$EST_STATUS"
p7 "$W/s0.p7" "$W/s0.pem" || true
if same_key "$W/s0.key" "$W/s0.pem"; then
	t_ok "the slow CA's certificate is for the requester's key"
else
	t_fail "the slow CA's certificate is for the requester's key" "no"
fi
t_api POST /v1/certs '{"ca":"slow","subject":"CN=other2","key":{"type":"ec-p256"}}' >/dev/null
t_wait_pending
initcred vnfc-s-0 "$W/creds2" || t_die "no initial credential: HTTP $T_STATUS"
newkey ks1
rc=0
ocmp slow -cmd ir -ref "$(cat "$W/creds2.ref")" -secret "file:$W/creds2.sec" \
    -newkey "$W/ks1.key" -subject "/CN=s0.vnf.example" -certout "$W/s1.pem" || rc=1
same_key "$W/ks1.key" "$W/s1.pem" || rc=1
t_check "openssl cmp ir on the slow CA ends with its certificate" "$rc" \
    "$(t_short "$(tail -n 4 "$W/slow.log")")"
if grep -q "POLLREP\|pollRep\|checkAfter\|check_after" "$W/slow.log"; then
	t_ok "meanwhile it was answered pollRep"
else
	t_fail "meanwhile it was answered pollRep" "$(t_short "$(grep -i poll "$W/slow.log" | head -5)")"
fi

# ---- an entity removed while its request waits at the CA ----
t_api POST /cmf/v1/entities '{"id":"vnfc-s-1","type":"VNFC_INSTANCE","vnfcId":"vnfc-s-1","fqdns":["s1.vnf.example"],"ca":"slow","bindingPolicy":"P1","certTypes":["VNFCI_CERT"]}' >/dev/null
t_eq "entity vnfc-s-1 on the slow CA" 201 "$T_STATUS"
t_api POST /v1/certs '{"ca":"slow","subject":"CN=other3","key":{"type":"ec-p256"}}' >/dev/null
t_wait_pending
initcred vnfc-s-1 "$W/credo" || t_die "no initial credential: HTTP $T_STATUS"
csr o1 s1.vnf.example DNS:s1.vnf.example
est simpleenroll "$W/o1.p7" -K "$W/credo"
t_eq "its request waits at the slow CA (202)" 202 "$EST_STATUS"
t_expect "the entity is removed meanwhile" 204 DELETE /cmf/v1/entities/vnfc-s-1
n=0
st=""
while [ "$st" != revoked ] && [ "$n" -lt 60 ]; do
	sleep 0.5
	t_api GET '/v1/certs?ca=slow' >/dev/null
	st=$(jq -r '[.certs[] | select(.subject == "CN=s1.vnf.example")][0].status // empty' "$T_BODY" 2>/dev/null || true)
	n=$((n + 1))
done
t_eq "what the CA issued it afterwards is revoked" revoked "$st"

# ---- an entity removed with a request never collected ----
t_api POST /cmf/v1/entities '{"id":"vnfc-p-9","type":"VNFC_INSTANCE","vnfcId":"vnfc-p-9","fqdns":["p9.vnf.example"],"ca":"op","bindingPolicy":"P1","certTypes":["VNFCI_CERT"]}' >/dev/null
initcred vnfc-p-9 "$W/cred9" || t_die "no initial credential: HTTP $T_STATUS"
csr e9 p9.vnf.example DNS:p9.vnf.example
est simpleenroll "$W/e9.p7" -K "$W/cred9"
t_eq "a request left uncollected is 202" 202 "$EST_STATUS"
# the CA issues in the background: wait for the inventory to show it
n=0
serial=""
while [ -z "$serial" ] && [ "$n" -lt 40 ]; do
	sleep 0.25
	t_api GET '/v1/certs?ca=op' >/dev/null
	serial=$(jq -r '[.certs[] | select(.subject == "CN=p9.vnf.example" and .status == "issued")][0].serial // empty' "$T_BODY" 2>/dev/null || true)
	n=$((n + 1))
done
[ -n "$serial" ] || t_fail "the CA issued the uncollected request" "$(t_short "$(cat "$T_BODY")")"
t_expect "the entity is removed" 204 DELETE /cmf/v1/entities/vnfc-p-9
t_api GET /v1/cas/op/crl >/dev/null
if [ -n "$serial" ] && openssl crl -inform DER -in "$T_BODY" -noout -text 2>/dev/null |
    tr -d ' :' | grep -qi "SerialNumber$(echo "$serial" | tr -d ':')"; then
	t_ok "the uncollected certificate is revoked with its entity (in the CRL)"
else
	t_fail "the uncollected certificate is revoked with its entity (in the CRL)" \
	    "serial '$serial' not listed"
fi

secrets_not_logged "$W"/cred[0-9]

t_stop_ok "capstoned stops cleanly"
t_done
