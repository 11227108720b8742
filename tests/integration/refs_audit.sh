#!/bin/sh
# refs_audit.sh - single-use references (second redeem 410, 20 concurrent
# redeems of a one-use reference: exactly one 200, expiry), generated
# secrets, and the audit log: every request of the run in it, no secret
# value or secret name in it, and `capstone audit verify` naming the first
# edited, deleted or swapped line.
set -eu
. "$(dirname "$0")/../lib/env.sh"

t_setup

RIDS=$T_TMP/rids
: >"$RIDS"
HDRS=$T_TMP/headers

# req METHOD PATH [BODY]: one request as the admin; status in T_STATUS,
# body in $T_BODY, the X-Request-Id of the answer appended to $RIDS.
req() {
	_m=$1
	_p=$2
	set -- --cacert "$T_DIR/pki/ca.crt" --cert "$T_DIR/pki/admin.crt" \
	    --key "$T_DIR/pki/admin.key" -s -o "$T_BODY" -D "$HDRS" \
	    -w '%{http_code}' --max-time 60 -X "$_m" \
	    "https://127.0.0.1:$T_PORT$_p" ${3+-H} ${3+Content-Type:application/json} \
	    ${3+--data-binary} ${3+"$3"}
	T_STATUS=$(curl "$@") || T_STATUS=000
	tr -d '\r' <"$HDRS" | sed -n 's/^[Xx]-[Rr]equest-[Ii]d: *//p' >>"$RIDS"
}

# expect NAME STATUS METHOD PATH [BODY]
expect() {
	_n=$1
	_w=$2
	shift 2
	req "$@"
	if [ "$T_STATUS" = "$_w" ]; then
		t_ok "$_n"
	else
		t_fail "$_n" "expected HTTP $_w, got $T_STATUS $(t_short "$(cat "$T_BODY")")"
	fi
}

DOM=refs$(t_rand_hex 3)
NAME=db-$(t_rand_hex 8)
GEN=gen-$(t_rand_hex 8)
PW=pw-$(t_rand_hex 12)
PW2=pw2-$(t_rand_hex 12)
S=/v1/domains/$DOM/secrets

expect "create the domain" 201 POST /v1/domains "{\"name\":\"$DOM\"}"
expect "put a secret" 200 PUT "$S/$NAME" "{\"data\":{\"password\":\"$PW\"}}"

# ---- redeemed twice ----
expect "create a reference" 201 POST "$S/$NAME/refs" '{}'
ref=$(t_json_get "$T_BODY" .ref)
t_jq "the reference is cpr_ and 47 characters" '.ref | test("^cpr_[A-Za-z0-9_-]{43}$")'
t_jq "the reference answer has an RFC 3339 expiry" '.expires | test("^[0-9]{4}-")'
expect "first redeem" 200 POST /v1/refs/redeem "{\"ref\":\"$ref\"}"
t_eq "first redeem hands out the data" "$DOM $NAME 1 $PW" \
    "$(jq -r '"\(.domain) \(.name) \(.version) \(.data.password)"' "$T_BODY" 2>/dev/null || true)"
expect "second redeem is gone" 410 POST /v1/refs/redeem "{\"ref\":\"$ref\"}"
t_error_shape "second redeem error shape" gone
expect "an unknown reference is gone" 410 POST /v1/refs/redeem \
    '{"ref":"cpr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}'
expect "a redeem without ref is a bad request" 400 POST /v1/refs/redeem '{}'

# ---- a reference to a version, and to a deleted version ----
expect "put version 2" 200 PUT "$S/$NAME" "{\"data\":{\"password\":\"$PW2\"}}"
expect "reference to version 1" 201 POST "$S/$NAME/refs" '{"version":1,"uses":2}'
ref1=$(t_json_get "$T_BODY" .ref)
expect "redeem version 1" 200 POST /v1/refs/redeem "{\"ref\":\"$ref1\"}"
t_eq "the reference keeps its version" "1 $PW" \
    "$(jq -r '"\(.version) \(.data.password)"' "$T_BODY" 2>/dev/null || true)"
expect "a two-use reference redeems twice" 200 POST /v1/refs/redeem "{\"ref\":\"$ref1\"}"
expect "then it is gone" 410 POST /v1/refs/redeem "{\"ref\":\"$ref1\"}"
expect "reference to a missing version" 404 POST "$S/$NAME/refs" '{"version":9}'
expect "reference to a missing secret" 404 POST "$S/nope-$(t_rand_hex 4)/refs" '{}'
expect "reference with uses 0" 400 POST "$S/$NAME/refs" '{"uses":0}'
expect "reference with ttl over 24h" 400 POST "$S/$NAME/refs" '{"ttl":"25h"}'
expect "reference to version 2" 201 POST "$S/$NAME/refs" '{}'
ref2=$(t_json_get "$T_BODY" .ref)
expect "destroy version 2" 204 POST "$S/$NAME/destroy" '{"versions":[2]}'
expect "a reference to a destroyed version is gone" 410 POST /v1/refs/redeem "{\"ref\":\"$ref2\"}"

# ---- 20 concurrent redeems of a one-use reference ----
expect "reference for the race" 201 POST "$S/$NAME/refs" '{"version":1}'
race=$(t_json_get "$T_BODY" .ref)
printf '{"ref":"%s"}' "$race" >"$T_TMP/race.json"
pids=""
i=0
while [ $i -lt 20 ]; do
	(curl -s -o /dev/null -D "$T_TMP/race.h$i" -w '%{http_code}' \
	    --max-time 60 --cacert "$T_DIR/pki/ca.crt" \
	    --cert "$T_DIR/pki/admin.crt" --key "$T_DIR/pki/admin.key" \
	    -X POST -H 'Content-Type: application/json' \
	    --data-binary "@$T_TMP/race.json" \
	    "https://127.0.0.1:$T_PORT/v1/refs/redeem" >"$T_TMP/race.$i" ||
	    true) &
	pids="$pids $!"
	i=$((i + 1))
done
# Only these jobs: a bare `wait` would also wait for the daemon.
for p in $pids; do
	wait "$p" || true
done
ok200=0
gone=0
i=0
while [ $i -lt 20 ]; do
	case $(cat "$T_TMP/race.$i") in
	200) ok200=$((ok200 + 1)) ;;
	410) gone=$((gone + 1)) ;;
	esac
	tr -d '\r' <"$T_TMP/race.h$i" | sed -n 's/^[Xx]-[Rr]equest-[Ii]d: *//p' >>"$RIDS"
	i=$((i + 1))
done
t_eq "20 concurrent redeems: exactly one 200" 1 "$ok200"
t_eq "20 concurrent redeems: the other 19 are 410" 19 "$gone"

# ---- expiry ----
expect "a reference for one second" 201 POST "$S/$NAME/refs" '{"ttl":"1s","version":1}'
short=$(t_json_get "$T_BODY" .ref)
sleep 2	# let the clock pass the expiry; not a synchronisation
expect "an expired reference is gone" 410 POST /v1/refs/redeem "{\"ref\":\"$short\"}"

# ---- generated secrets ----
expect "generate 40 hex characters" 201 POST "$S/$GEN/generate" \
    '{"length":40,"charset":"hex","field":"token"}'
t_jq "generate answers only version, ref and expires" \
    '(keys | sort) == ["expires","ref","version"] and .version == 1'
gref=$(t_json_get "$T_BODY" .ref)
expect "redeem the generated secret" 200 POST /v1/refs/redeem "{\"ref\":\"$gref\"}"
GENVAL=$(t_json_get "$T_BODY" .data.token)
t_run "the generated value is 40 hex characters" "got ${#GENVAL} characters" \
    sh -c 'printf "%s" "$1" | grep -Eqx "[0-9a-f]{40}"' sh "$GENVAL"
t_jq "the generated secret has only its field" '(.data | keys) == ["token"]'
expect "generate with defaults" 201 POST "$S/$GEN/generate" ''
gref=$(t_json_get "$T_BODY" .ref)
t_eq "the second generation is version 2" 2 "$(t_json_get "$T_BODY" .version)"
expect "redeem the default generation" 200 POST /v1/refs/redeem "{\"ref\":\"$gref\"}"
GENVAL2=$(t_json_get "$T_BODY" .data.value)
t_run "the default is 32 alphanumerics" "got ${#GENVAL2} characters" \
    sh -c 'printf "%s" "$1" | grep -Eqx "[A-Za-z0-9]{32}"' sh "$GENVAL2"
expect "generate refuses an unknown charset" 400 POST "$S/$GEN/generate" '{"charset":"emoji"}'

# ---- the CLI ----
cref=$(t_cli secret ref "$DOM/$NAME" --version 1 --ttl 5m 2>/dev/null || true)
t_run "capstone secret ref prints a reference" "got '$(t_short "$cref")'" \
    sh -c 'printf "%s" "$1" | grep -Eqx "cpr_[A-Za-z0-9_-]{43}"' sh "$cref"
got=$(printf '%s\n' "$cref" | t_cli secret redeem - --field password 2>/dev/null || true)
t_eq "capstone secret redeem - --field prints the value" "$PW" "$got"
rc=0
printf '%s\n' "$cref" | t_cli secret redeem - >/dev/null 2>&1 || rc=$?
t_eq "capstone secret redeem of a used reference exits 1" 1 "$rc"
cref=$(t_cli secret generate "$DOM/cli-$GEN" --length 12 --charset numeric 2>/dev/null || true)
got=$(t_cli secret redeem "$cref" --field value 2>/dev/null || true)
t_run "capstone secret generate, then redeem: 12 digits" "got ${#got} characters" \
    sh -c 'printf "%s" "$1" | grep -Eqx "[0-9]{12}"' sh "$got"
CLIVAL=$got
tail5=$(t_cli audit tail -n 5 2>/dev/null | wc -l)
t_eq "capstone audit tail -n 5 prints 5 entries" 5 "$tail5"

# ---- the audit log ----
# The read's own entry is written after the log was copied out for it.
cp "$RIDS" "$T_TMP/rids.before"
expect "read the whole audit log" 200 GET '/v1/audit?n=0'
LOG=$T_TMP/audit.log
cp "$T_BODY" "$LOG"
t_eq "the audit log is served as ndjson" "application/x-ndjson" \
    "$(tr -d '\r' <"$HDRS" | sed -n 's/^[Cc]ontent-[Tt]ype: *//p')"
missing=0
nrids=0
while read -r rid; do
	[ -n "$rid" ] || continue
	nrids=$((nrids + 1))
	grep -q "\"request_id\":\"$rid\"" "$LOG" || missing=$((missing + 1))
done <"$T_TMP/rids.before"
t_run "request ids were collected" "only $nrids" test "$nrids" -ge 40
t_eq "every request of the run is in the audit log ($nrids ids)" 0 "$missing"
found=0
for v in "$PW" "$PW2" "$GENVAL" "$GENVAL2" "$CLIVAL" "$ref" "$race" "$gref"; do
	[ -n "$v" ] && grep -qF -- "$v" "$LOG" && found=$((found + 1))
done
t_eq "no secret value or reference in the audit log" 0 "$found"
found=0
for n in "$NAME" "$GEN"; do
	grep -qF -- "$n" "$LOG" && found=$((found + 1))
done
t_eq "no secret name in the audit log" 0 "$found"
t_run "the audit log names the admin and the operations" "missing fields" \
    sh -c 'grep -q "\"identity\":\"CN=admin\"" "$1" &&
        grep -q "\"op\":\"refs.redeem\"" "$1" &&
        grep -q "\"op\":\"secret.generate\"" "$1" &&
        grep -q "\"outcome\":\"error\"" "$1" &&
        grep -q "\"name_hmac\":\"[0-9a-f]\{32\}\"" "$1"' sh "$LOG"
t_run "a refused request is audited as error with its status" "no 410 entry" \
    grep -q '"status":410' "$LOG"

out=$("$BUILD/capstone" audit verify "$LOG" 2>&1) && rc=0 || rc=$?
t_eq "audit verify of the intact copy exits 0" 0 "$rc"
t_run "audit verify says intact" "got '$(t_short "$out")'" \
    sh -c 'printf "%s" "$1" | grep -q "^audit log intact: [0-9]* entries"' sh "$out"
out=$(t_cli audit verify 2>&1) && rc=0 || rc=$?
t_check "audit verify of the daemon's log exits 0" "$rc" \
    "expected exit 0, got $rc: $(t_short "$out")"

# verify_bad NAME FILE LINE: exit 1 and the first bad line named.
verify_bad() {
	out=$("$BUILD/capstone" audit verify "$2" 2>&1) && rc=0 || rc=$?
	t_eq "$1: exit 1" 1 "$rc"
	t_run "$1: names line $3" "got '$(t_short "$out")'" \
	    sh -c 'printf "%s" "$1" | grep -q "^audit log broken at line $2: "' sh "$out" "$3"
}
sed '5s/"status":[0-9]*/"status":299/' "$LOG" >"$T_TMP/edited.log"
t_run "the edit changed line 5" "no change" sh -c '! cmp -s "$1" "$2"' sh "$LOG" "$T_TMP/edited.log"
verify_bad "edited line 5" "$T_TMP/edited.log" 5
sed '7d' "$LOG" >"$T_TMP/deleted.log"
verify_bad "deleted line 7" "$T_TMP/deleted.log" 7
sed -n '1,2p' "$LOG" >"$T_TMP/swapped.log"
sed -n '4p' "$LOG" >>"$T_TMP/swapped.log"
sed -n '3p' "$LOG" >>"$T_TMP/swapped.log"
sed -n '5,$p' "$LOG" >>"$T_TMP/swapped.log"
verify_bad "swapped lines 3 and 4" "$T_TMP/swapped.log" 3

t_stop_ok "daemon stops with status 0 on SIGTERM"
ondisk=$(sed -n '/^\[audit\]/,/^\[/s|^path = ||p' "$T_DIR/capstoned.conf")
[ -n "$ondisk" ] || ondisk=$T_DIR/store/audit.log
out=$("$BUILD/capstone" audit verify "$ondisk" 2>&1) && rc=0 || rc=$?
t_eq "the log on disk verifies after shutdown ($(t_short "$out"))" 0 "$rc"

# ---- fail closed: an audit log that cannot be written ----
if grep -q '^\[audit\]' "$T_DIR/capstoned.conf"; then
	sed -i '/^\[audit\]/,/^\[/s|^path = .*|path = /dev/full|' "$T_DIR/capstoned.conf"
else
	printf '\n[audit]\npath = /dev/full\n' >>"$T_DIR/capstoned.conf"
fi
"$BUILD/capstoned" -c "$T_DIR/capstoned.conf" </dev/null >>"$T_DIR/daemon.log" 2>&1 &
T_DAEMON_PID=$!
t_track "$T_DAEMON_PID"
code=000
n=0
while [ "$code" = 000 ] && [ $n -lt 300 ] && ! t_pid_exited "$T_DAEMON_PID"; do
	code=$(curl -s -o "$T_BODY" -w '%{http_code}' --max-time 5 \
	    --cacert "$T_DIR/pki/ca.crt" --cert "$T_DIR/pki/admin.crt" \
	    --key "$T_DIR/pki/admin.key" \
	    "https://127.0.0.1:$T_PORT/v1/domains/$DOM/secrets/$NAME" 2>/dev/null) || code=000
	[ "$code" = 000 ] && sleep 0.1
	n=$((n + 1))
done
t_eq "a request that cannot be audited is refused with 503" 503 "$code"
t_error_shape "the refusal has the unavailable shape" unavailable
t_run "the refused answer carries no secret" "found the value" \
    sh -c '! grep -qF -- "$1" "$2"' sh "$PW" "$T_BODY"
t_run "the daemon logs the failed append" "no log line" \
    grep -q "audit log append failed" "$T_DIR/daemon.log"
t_stop_ok "the daemon with a failing audit log stops with status 0"
t_done
