#!/bin/sh
# lcm.sh - VNF lifecycle notifications against a real daemon, a local CA
# "op" and a SoftHSM token: a VNF "vnf-1" with a P1 VNFC "vnfc-a" and a
# P2 VNFC "vnfc-b" goes through INSTANTIATE (a-0, a-1, b-0), SCALE out
# (b-1), SCALE in (a-1, then b-0), HEAL (a-0) and TERMINATE.  After each
# step the issued certificates of CA "op" (subjects, keys) and the
# certificate keys of the token are exactly what the binding policies
# say; after TERMINATE the CRL lists every serial the VNF ever had and no
# key of it is left.  Replays, non-COMPLETED states, an unknown VNF,
# malformed JSON and an unknown vduId change nothing; the audit log has
# an entry per action; `capstone lcm notify|show` work.
set -eu
. "$(dirname "$0")/../lib/env.sh"

t_setup

t_expect "create the local CA op" 201 POST /v1/cas \
    '{"name":"op","protocol":"local","subject":"CN=Operator CA","key":{"type":"ec-p256"}}'
jq -r '.chain[0]' "$T_BODY" >"$T_TMP/op.pem"

t_expect "register VNF instance vnf-1" 201 POST /cmf/v1/entities \
    '{"id":"vnf-1","type":"VNF_INSTANCE","vnfInstanceId":"vnf-1","fqdns":["vnf1.example"],"ca":"op","certTypes":["VNF_OM_CERT"]}'
t_expect "register VNFC vnfc-a (P1)" 201 POST /cmf/v1/entities \
    '{"id":"vnfc-a","type":"VNFC","parent":"vnf-1","vnfInstanceId":"vnf-1","vnfcId":"vnfc-a","fqdns":["a.vnf1.example"],"ca":"op","bindingPolicy":"P1","certTypes":["VNFCI_CERT"]}'
t_expect "register VNFC vnfc-b (P2)" 201 POST /cmf/v1/entities \
    '{"id":"vnfc-b","type":"VNFC","parent":"vnf-1","vnfInstanceId":"vnf-1","vnfcId":"vnfc-b","fqdns":["b.vnf1.example"],"ca":"op","bindingPolicy":"P2","certTypes":["VNFCI_CERT"]}'

# notif FILE ID OPERATION STATE [VNFC...]: a notification in FILE, each
# VNFC written "INSTANCE:VDU:CHANGE".
notif() {
	_f=$1
	_id=$2
	_op=$3
	_st=$4
	shift 4
	_v=
	for x in "$@"; do
		_i=${x%%:*}
		_r=${x#*:}
		_d=${_r%%:*}
		_c=${_r#*:}
		_v="$_v${_v:+,}{\"id\":\"$_i\",\"vduId\":\"$_d\",\"changeType\":\"$_c\",\"computeResource\":{\"resourceId\":\"vm-$_i\"}}"
	done
	cat >"$_f" <<EOF
{"id":"$_id","notificationType":"VnfLcmOperationOccurrenceNotification","subscriptionId":"sub-1","timeStamp":"2024-05-01T10:00:00Z","notificationStatus":"RESULT","operationState":"$_st","vnfInstanceId":"vnf-1","operation":"$_op","vnfLcmOpOccId":"occ-$_id","isAutomaticInvocation":false,"affectedVnfcs":[$_v]}
EOF
}

# snap NAME: what is valid now, into $T_TMP/NAME.*: "subject key_id" of
# each issued certificate of op (.certs), their serials (.serials) and the
# certificate keys of the token (.keys); the serials are added to the
# file of every serial seen.
snap() {
	t_api GET '/v1/certs?ca=op&status=issued' >/dev/null
	[ "$T_STATUS" = 200 ] || t_fail "$1: list certificates" "HTTP $T_STATUS"
	jq -r '.certs[] | "\(.subject) \(.key_id)"' "$T_BODY" | sort >"$T_TMP/$1.certs"
	jq -r '.certs[].serial' "$T_BODY" | sort >"$T_TMP/$1.serials"
	cat "$T_TMP/$1.serials" >>"$T_TMP/all.serials"
	jq -r '.certs[] | "\(.subject) \(.id)"' "$T_BODY" | sort >"$T_TMP/$1.ids"
	t_api GET /v1/keys >/dev/null
	[ "$T_STATUS" = 200 ] || t_fail "$1: list keys" "HTTP $T_STATUS"
	jq -r '.keys[] | select(.owner == "cert") | .id' "$T_BODY" | sort >"$T_TMP/$1.keys"
	cat "$T_TMP/$1.keys" >>"$T_TMP/all.keys"
}

# token_privkeys: the CKA_IDs of the token's private keys, as pkcs11-tool
# sees them.
token_privkeys() {
	t_p11 "$T_DIR" --token-label capstone --list-objects --type privkey \
	    2>/dev/null | sed -n 's/^ *ID: *//p' | tr 'A-F' 'a-f' | sort
}

# expect_state NAME "SUBJECT..." NKEYS: after step NAME the issued
# certificates are exactly those subjects, they use NKEYS distinct keys,
# and the token's certificate keys are exactly those keys.
expect_state() {
	snap "$1"
	want=
	[ -z "$2" ] || want=$(printf '%s\n' $2 | sed 's/^/CN=/' | sort | tr '\n' ' ')
	got=$(cut -d' ' -f1 "$T_TMP/$1.certs" | tr '\n' ' ')
	t_eq "$1: issued certificates are exactly the policy's" "$want" "$got"
	cut -d' ' -f2 "$T_TMP/$1.certs" | sort -u >"$T_TMP/$1.certkeys"
	t_eq "$1: the certificates use $3 distinct keys" "$3" \
	    "$(wc -l <"$T_TMP/$1.certkeys" | tr -d ' ')"
	t_eq "$1: the token holds exactly the keys of valid certificates" \
	    "$(tr '\n' ' ' <"$T_TMP/$1.certkeys")" "$(tr '\n' ' ' <"$T_TMP/$1.keys")"
}

# send NAME FILE: POST the notification; 200 expected.
send() {
	t_expect "$1: answered 200" 200 POST /cmf/v1/lcm-notifications "@$2"
	cp "$T_BODY" "$T_TMP/$1.answer"
}

same_state() {
	snap "$2"
	if cmp -s "$T_TMP/$1.certs" "$T_TMP/$2.certs" &&
	    cmp -s "$T_TMP/$1.keys" "$T_TMP/$2.keys" &&
	    cmp -s "$T_TMP/$1.ids" "$T_TMP/$2.ids"; then
		t_ok "$3"
	else
		t_fail "$3" "certificates or keys changed: $(t_short "$(diff "$T_TMP/$1.ids" "$T_TMP/$2.ids"; diff "$T_TMP/$1.keys" "$T_TMP/$2.keys")")"
	fi
}

snap start
token_privkeys >"$T_TMP/p11.start"
t_eq "no certificate of op before INSTANTIATE" 0 "$(wc -l <"$T_TMP/start.certs" | tr -d ' ')"

# ---- non-COMPLETED occurrences are recorded and ignored ----
notif "$T_TMP/start.json" n-start INSTANTIATE STARTING a-0:vnfc-a:ADDED
send "INSTANTIATE STARTING" "$T_TMP/start.json"
t_jq "STARTING: acted false" '.acted == false and .replayed == false and .id == "n-start"'
notif "$T_TMP/proc.json" n-proc INSTANTIATE PROCESSING a-0:vnfc-a:ADDED
send "INSTANTIATE PROCESSING" "$T_TMP/proc.json"
notif "$T_TMP/ftemp.json" n-ftemp INSTANTIATE FAILED_TEMP a-0:vnfc-a:ADDED
send "INSTANTIATE FAILED_TEMP" "$T_TMP/ftemp.json"
t_jq "FAILED_TEMP: acted false" '.acted == false'
notif "$T_TMP/rb.json" n-rb INSTANTIATE ROLLED_BACK a-0:vnfc-a:ADDED
code=$(curl -s -o "$T_TMP/rb.out" -w '%{http_code}' --max-time 60 \
    --cacert "$T_DIR/pki/ca.crt" --cert "$T_DIR/pki/admin.crt" \
    --key "$T_DIR/pki/admin.key" -H 'Content-Type: application/json' \
    -H 'Accept: text/plain' -H 'Expect:' --data-binary "@$T_TMP/rb.json" \
    "https://127.0.0.1:$T_PORT/cmf/v1/lcm-notifications") || true
t_eq "Accept without JSON: 204 No Content (SOL 003)" 204 "$code"
t_eq "204 has no body" 0 "$(wc -c <"$T_TMP/rb.out" | tr -d ' ')"
same_state start s1 "non-COMPLETED occurrences change nothing"
t_expect "a non-COMPLETED occurrence is in the log" 200 GET /cmf/v1/lcm-notifications/n-proc
t_jq "its record names the operation and says it was ignored" \
    '.operation == "INSTANTIATE" and .vnfInstanceId == "vnf-1" and .summary.acted == false and (.summary.ignored | type == "string")'

# ---- bad notifications change nothing ----
notif "$T_TMP/bad-vnf.json" n-badvnf INSTANTIATE COMPLETED a-0:vnfc-a:ADDED
sed -i 's/"vnfInstanceId":"vnf-1"/"vnfInstanceId":"vnf-9"/' "$T_TMP/bad-vnf.json"
t_expect "unknown VNF instance is 404" 404 POST /cmf/v1/lcm-notifications "@$T_TMP/bad-vnf.json"
t_error_shape "unknown VNF instance: JSON error" not_found
t_expect "an unknown VNF's notification is not recorded" 404 GET /cmf/v1/lcm-notifications/n-badvnf
t_error_shape "unrecorded notification: JSON error" not_found
printf '{"id":"n-bad","notificationType":' >"$T_TMP/malformed.json"
t_expect "malformed JSON is 400" 400 POST /cmf/v1/lcm-notifications "@$T_TMP/malformed.json"
t_error_shape "malformed JSON: JSON error" invalid
notif "$T_TMP/bad-vdu.json" n-badvdu INSTANTIATE COMPLETED a-0:vnfc-a:ADDED z-0:vnfc-z:ADDED
t_expect "unknown vduId is 400" 400 POST /cmf/v1/lcm-notifications "@$T_TMP/bad-vdu.json"
t_error_shape "unknown vduId: JSON error" invalid
t_jq "the error names the vduId" '.error.message | contains("vnfc-z")'
notif "$T_TMP/bad-type.json" n-badtype INSTANTIATE COMPLETED a-0:vnfc-a:ADDED
sed -i 's/VnfLcmOperationOccurrenceNotification/VnfIdentifierCreationNotification/' "$T_TMP/bad-type.json"
t_expect "another notificationType is 400" 400 POST /cmf/v1/lcm-notifications "@$T_TMP/bad-type.json"
same_state start s2 "refused notifications change nothing (no half-done a-0)"
t_expect "a refused notification is not recorded" 404 GET /cmf/v1/lcm-notifications/n-badvdu

# ---- INSTANTIATE: a-0, a-1 (P1), b-0 (P2), and the VNF's OM certificate ----
notif "$T_TMP/inst.json" n-inst INSTANTIATE COMPLETED \
    a-0:vnfc-a:ADDED a-1:vnfc-a:ADDED b-0:vnfc-b:ADDED
send INSTANTIATE "$T_TMP/inst.json"
t_jq "INSTANTIATE: acted, not replayed" '.acted == true and .replayed == false'
t_jq "INSTANTIATE: summary lists 4 issued, 3 created" \
    '(.summary.issued | length) == 4 and (.summary.created | sort) == ["a-0","a-1","b-0"]'
expect_state INSTANTIATE \
    "vnf1.example a-0.a.vnf1.example a-1.a.vnf1.example b-0.b.vnf1.example" 4
t_expect "the VNFC instance a-0 is an entity under vnfc-a" 200 GET /cmf/v1/entities/a-0
t_jq "a-0: type, parent and FQDN" \
    '.type == "VNFC_INSTANCE" and .parent == "vnfc-a" and (.fqdns | index("a-0.a.vnf1.example")) != null'

# replay: nothing changes
send "INSTANTIATE replay" "$T_TMP/inst.json"
t_jq "INSTANTIATE replay: replayed, not acted" '.replayed == true and .acted == false'
same_state INSTANTIATE INSTANTIATE-replay "replaying INSTANTIATE changes nothing"

# ---- SCALE out by one: b-1 shares vnfc-b's key ----
notif "$T_TMP/out.json" n-out SCALE COMPLETED b-1:vnfc-b:ADDED
CAPSTONE_ADDR=https://127.0.0.1:$T_PORT CAPSTONE_CACERT=$T_DIR/pki/ca.crt \
    CAPSTONE_CERT=$T_DIR/pki/admin.crt CAPSTONE_KEY=$T_DIR/pki/admin.key \
    "$BUILD/capstone" lcm notify - <"$T_TMP/out.json" >"$T_TMP/cli-out.txt" 2>&1 &&
    rc=0 || rc=$?
t_eq "capstone lcm notify - (SCALE out) exits 0" 0 "$rc"
if grep -q '^acted *yes' "$T_TMP/cli-out.txt" && grep -q 'b-1' "$T_TMP/cli-out.txt"; then
	t_ok "capstone lcm notify prints what was done"
else
	t_fail "capstone lcm notify prints what was done" "$(t_short "$(cat "$T_TMP/cli-out.txt")")"
fi
expect_state SCALE-out \
    "vnf1.example a-0.a.vnf1.example a-1.a.vnf1.example b-0.b.vnf1.example b-1.b.vnf1.example" 4
kb0=$(grep '^CN=b-0' "$T_TMP/SCALE-out.certs" | cut -d' ' -f2)
kb1=$(grep '^CN=b-1' "$T_TMP/SCALE-out.certs" | cut -d' ' -f2)
t_eq "P2: b-0 and b-1 certify the same token key" "$kb0" "$kb1"
t_cli --json lcm notify "$T_TMP/out.json" >"$T_TMP/cli-replay.json" 2>&1 || true
t_jq "capstone --json lcm notify replays SCALE out" '.replayed == true' "$T_TMP/cli-replay.json"
same_state SCALE-out SCALE-out-replay "replaying SCALE out changes nothing"

# ---- SCALE in by one (P1 a-1), then the P2 instance b-0 ----
a1_key=$(grep '^CN=a-1' "$T_TMP/SCALE-out.certs" | cut -d' ' -f2)
notif "$T_TMP/in.json" n-in SCALE COMPLETED a-1:vnfc-a:REMOVED
send "SCALE in" "$T_TMP/in.json"
t_jq "SCALE in: a-1 removed, one certificate revoked, one key destroyed" \
    '.summary.removed == ["a-1"] and (.summary.revoked | length) == 1 and .summary.keysDestroyed == 1'
expect_state SCALE-in \
    "vnf1.example a-0.a.vnf1.example b-0.b.vnf1.example b-1.b.vnf1.example" 3
if grep -q -e "$a1_key" "$T_TMP/SCALE-in.keys"; then
	t_fail "P1: a-1's key is destroyed" "still in the token"
else
	t_ok "P1: a-1's key is destroyed"
fi
t_expect "a-1 is no longer an entity" 404 GET /cmf/v1/entities/a-1

notif "$T_TMP/in2.json" n-in2 SCALE COMPLETED b-0:vnfc-b:REMOVED
send "SCALE in (P2)" "$T_TMP/in2.json"
expect_state SCALE-in-P2 \
    "vnf1.example a-0.a.vnf1.example b-1.b.vnf1.example" 3
t_eq "P2: the shared key stays while b-1 is there" "$kb0" \
    "$(grep '^CN=b-1' "$T_TMP/SCALE-in-P2.certs" | cut -d' ' -f2)"
send "SCALE in replay" "$T_TMP/in.json"
t_jq "SCALE in replay: replayed" '.replayed == true and .acted == false'
same_state SCALE-in-P2 SCALE-in-replay "replaying SCALE in changes nothing"

# ---- HEAL a-0: new key and certificate, the old one superseded ----
a0_old=$(grep '^CN=a-0' "$T_TMP/SCALE-in-P2.ids" | cut -d' ' -f2)
a0_oldkey=$(grep '^CN=a-0' "$T_TMP/SCALE-in-P2.certs" | cut -d' ' -f2)
b1_id=$(grep '^CN=b-1' "$T_TMP/SCALE-in-P2.ids" | cut -d' ' -f2)
notif "$T_TMP/heal.json" n-heal HEAL COMPLETED a-0:vnfc-a:MODIFIED
send HEAL "$T_TMP/heal.json"
expect_state HEAL "vnf1.example a-0.a.vnf1.example b-1.b.vnf1.example" 3
a0_new=$(grep '^CN=a-0' "$T_TMP/HEAL.ids" | cut -d' ' -f2)
a0_newkey=$(grep '^CN=a-0' "$T_TMP/HEAL.certs" | cut -d' ' -f2)
if [ -n "$a0_new" ] && [ "$a0_new" != "$a0_old" ] && [ "$a0_newkey" != "$a0_oldkey" ]; then
	t_ok "HEAL: a-0 has a new certificate with a new key"
else
	t_fail "HEAL: a-0 has a new certificate with a new key" "old $a0_old/$a0_oldkey new $a0_new/$a0_newkey"
fi
t_expect "HEAL: the old certificate of a-0" 200 GET "/v1/certs/$a0_old"
t_jq "HEAL: the old certificate is revoked as superseded" \
    '.status == "revoked" and .revocation_reason == "superseded"'
t_eq "HEAL: the P2 certificate of b-1 is unchanged" "$b1_id" \
    "$(grep '^CN=b-1' "$T_TMP/HEAL.ids" | cut -d' ' -f2)"
send "HEAL replay" "$T_TMP/heal.json"
same_state HEAL HEAL-replay "replaying HEAL changes nothing"

# ---- TERMINATE: everything revoked, every key gone ----
notif "$T_TMP/term.json" n-term TERMINATE COMPLETED
send TERMINATE "$T_TMP/term.json"
t_jq "TERMINATE: vnf-1 removed" '.acted == true and (.summary.removed | index("vnf-1")) != null'
expect_state TERMINATE "" 0
t_eq "TERMINATE: no certificate key left in the inventory" "" "$(tr -d '\n' <"$T_TMP/TERMINATE.keys")"
sort -u "$T_TMP/all.keys" >"$T_TMP/all.keys.u"
t_eq "the VNF had 5 keys over its life" 5 "$(wc -l <"$T_TMP/all.keys.u" | tr -d ' ')"
token_privkeys >"$T_TMP/p11.end"
t_eq "TERMINATE: none of them is left in the token (pkcs11-tool)" "" \
    "$(comm -12 "$T_TMP/all.keys.u" "$T_TMP/p11.end" | tr '\n' ' ')"
t_eq "TERMINATE: the token holds as many private keys as before INSTANTIATE" \
    "$(wc -l <"$T_TMP/p11.start" | tr -d ' ')" "$(wc -l <"$T_TMP/p11.end" | tr -d ' ')"
t_expect "TERMINATE: vnf-1 is no longer an entity" 404 GET /cmf/v1/entities/vnf-1
t_expect "TERMINATE: vnfc-b is no longer an entity" 404 GET /cmf/v1/entities/vnfc-b

code=$(curl -s -o "$T_TMP/crl.der" -w '%{http_code}' \
    --cacert "$T_DIR/pki/ca.crt" --cert "$T_DIR/pki/admin.crt" \
    --key "$T_DIR/pki/admin.key" "https://127.0.0.1:$T_PORT/v1/cas/op/crl") || true
t_eq "CRL of op answers 200" 200 "$code"
openssl crl -inform DER -in "$T_TMP/crl.der" -noout -text 2>/dev/null |
    sed -n 's/^ *Serial Number: *//p' | tr 'A-F' 'a-f' | sed 's/^0*//' |
    sort -u >"$T_TMP/crl.serials"
tr 'A-F' 'a-f' <"$T_TMP/all.serials" | sed 's/^0*//' | sort -u >"$T_TMP/want.serials"
nwant=$(wc -l <"$T_TMP/want.serials" | tr -d ' ')
t_eq "the VNF had 6 certificates over its life" 6 "$nwant"
missing=$(comm -23 "$T_TMP/want.serials" "$T_TMP/crl.serials" | tr '\n' ' ')
t_eq "the CRL lists every serial the VNF ever had" "" "$missing"

send "TERMINATE replay" "$T_TMP/term.json"
t_jq "TERMINATE replay: replayed" '.replayed == true and .acted == false'
same_state TERMINATE TERMINATE-replay "replaying TERMINATE changes nothing"
notif "$T_TMP/late.json" n-late SCALE COMPLETED a-9:vnfc-a:ADDED
t_expect "a notification for the terminated VNF is 404" 404 POST /cmf/v1/lcm-notifications "@$T_TMP/late.json"

# ---- the occurrence log and the audit log ----
t_cli lcm show n-heal >"$T_TMP/show.txt" 2>&1 && rc=0 || rc=$?
t_eq "capstone lcm show exits 0" 0 "$rc"
if grep -q '^operation *HEAL' "$T_TMP/show.txt"; then
	t_ok "capstone lcm show prints the recorded HEAL"
else
	t_fail "capstone lcm show prints the recorded HEAL" "$(t_short "$(cat "$T_TMP/show.txt")")"
fi
t_api GET '/v1/audit?n=0' >"$T_TMP/audit.ndjson"
t_eq "audit log readable" 200 "$T_STATUS"
count() {
	jq -s --arg n "$1" --arg op "$2" \
	    '[.[] | select(.op == $op and .facts.notification == $n)] | length' \
	    "$T_TMP/audit.ndjson"
}
t_eq "audit: INSTANTIATE issued 4 certificates" 4 "$(count n-inst cmf.lcm.issue)"
t_eq "audit: INSTANTIATE created 3 entities" 3 "$(count n-inst cmf.lcm.entity.create)"
t_eq "audit: SCALE in revoked 1 certificate" 1 "$(count n-in cmf.lcm.revoke)"
t_eq "audit: SCALE in removed 1 entity" 1 "$(count n-in cmf.lcm.entity.delete)"
t_eq "audit: HEAL re-issued 1 certificate" 1 "$(count n-heal cmf.lcm.reissue)"
t_eq "audit: HEAL revoked 1 certificate" 1 "$(count n-heal cmf.lcm.revoke)"
t_eq "audit: HEAL destroyed 1 key" 1 "$(count n-heal cmf.lcm.key.destroy)"
t_eq "audit: TERMINATE revoked 3 certificates" 3 "$(count n-term cmf.lcm.revoke)"
t_eq "audit: a replay is recorded" 1 "$(count n-term cmf.lcm.replay)"
t_eq "audit: an ignored occurrence is recorded" 1 "$(count n-proc cmf.lcm.ignored)"
if jq -s -e '[.[] | select(.op == "cmf.lcm.issue")] | length > 0 and all(.facts.entity != null and .facts.certId != null and .facts.serial != null)' \
    "$T_TMP/audit.ndjson" >/dev/null 2>&1; then
	t_ok "audit: issue entries carry the entity, certificate id and serial"
else
	t_fail "audit: issue entries carry the entity, certificate id and serial" "missing"
fi
if grep -qi 'BEGIN .*PRIVATE\|"pin"' "$T_TMP/audit.ndjson" "$T_DIR/daemon.log"; then
	t_fail "no key material or PIN in the audit or daemon log" "found"
else
	t_ok "no key material or PIN in the audit or daemon log"
fi

t_stop_ok "the daemon stops cleanly"
t_done
