#!/bin/sh
# tokens.sh - bearer tokens: a TTL ends them (401), a use count is spent
# exactly (401 after), revocation by accessor ends them (401), listing shows
# accessors and never a token, garbage gives 401, the clear token text is
# in neither the store, the daemon log nor the audit log, and with
# tls_client_auth = optional a token alone is an identity while nothing at
# all is 401.
set -eu
. "$(dirname "$0")/../lib/env.sh"

t_prepare
sed -i '/^\[server\]$/a tls_client_auth = optional' "$T_DIR/capstoned.conf"
t_start_daemon "$T_DIR" || t_die "capstoned did not start"

SECRET=/v1/domains/payments/secrets/db
# Every clear token of the run, one a line (0600), for the grep checks.
TOKENS=$T_TMP/tokens
(umask 077 && : >"$TOKENS")

admin() {
	t_api "$@" >/dev/null
	case $T_STATUS in
	2??) ;;
	*) t_die "admin $1 $2: HTTP $T_STATUS $(t_short "$(cat "$T_BODY")")" ;;
	esac
}

admin POST /v1/domains '{"name":"payments"}'
admin PUT "$SECRET" '{"data":{"password":"tokens-db-value"}}'
admin PUT /v1/policies/reader '{"rules":[{"domains":"payments","capabilities":["read"]}]}'

# new_token NAME JSON-BODY: creates a token through the API; keeps it in
# $T_TMP/NAME.hdr (an Authorization header line), its accessor in
# $T_TMP/NAME.acc.
new_token() {
	admin POST /v1/auth/tokens "$2"
	(umask 077 &&
	    jq -r '"Authorization: Bearer " + .token' "$T_BODY" >"$T_TMP/$1.hdr" &&
	    jq -r .token "$T_BODY" >>"$TOKENS")
	jq -r .accessor "$T_BODY" >"$T_TMP/$1.acc"
	: >"$T_BODY"
}

# with NAME METHOD PATH: a request with token NAME and no certificate.
with() {
	t_api_as - "$T_TMP/$1.hdr" "$2" "$3" >/dev/null
}

# cli ARGS...: the CLI as the admin, stdout and stderr to files.
cli() {
	t_cli "$@" >"$T_TMP/cli.out" 2>"$T_TMP/cli.err"
}

# ---- creation through the CLI: the token alone on stdout ----
rc=0
cli token create --identity svc-t --policy reader --ttl 1h || rc=$?
t_check "capstone token create succeeds" "$rc" "exit $rc: $(t_short "$(cat "$T_TMP/cli.err")")"
(umask 077 && cat "$T_TMP/cli.out" >>"$TOKENS" &&
    sed 's/^/Authorization: Bearer /' "$T_TMP/cli.out" >"$T_TMP/c.hdr")
t_eq "token create prints one line on stdout" 1 "$(wc -l <"$T_TMP/cli.out" | tr -d ' ')"
t_run "the token looks like a token" "it does not start with cps_ and 43 more characters" \
    grep -q -E '^cps_[A-Za-z0-9_-]{43}$' "$T_TMP/cli.out"
sed -n 's/^accessor: *//p' "$T_TMP/cli.err" >"$T_TMP/c.acc"
t_run "token create names the accessor on stderr" "stderr: $(t_short "$(cat "$T_TMP/cli.err")")" \
    grep -q -E '^[0-9a-f]{32}$' "$T_TMP/c.acc"
t_run "token create names the expiry on stderr" "stderr: $(t_short "$(cat "$T_TMP/cli.err")")" \
    grep -q '^expires: ' "$T_TMP/cli.err"

with c GET "$SECRET"
t_eq "a token without certificate reads with its policy" 200 "$T_STATUS"
t_jq "the token's read returns the data" '.data.password == "tokens-db-value"'
with c PUT "$SECRET"
t_eq "the token's policy does not grant write" 403 "$T_STATUS"

# ---- revocation by accessor ----
rc=0
cli token revoke "$(cat "$T_TMP/c.acc")" || rc=$?
t_check "capstone token revoke succeeds" "$rc" "exit $rc: $(t_short "$(cat "$T_TMP/cli.err")")"
with c GET "$SECRET"
t_eq "a revoked token gives 401" 401 "$T_STATUS"
t_error_shape "the revoked token's 401 is unauthenticated" unauthenticated

# ---- time to live ----
new_token ttl '{"identity":"svc-ttl","policies":["reader"],"ttl":"5s"}'
with ttl GET "$SECRET"
t_eq "a 5s token works at once" 200 "$T_STATUS"
# Poll for the end (deadline about 30 s): the TTL itself is the only wait.
n=0
while [ $n -lt 300 ]; do
	with ttl GET "$SECRET"
	[ "$T_STATUS" = 200 ] || break
	n=$((n + 1))
	sleep 0.1
done
t_eq "an expired token gives 401" 401 "$T_STATUS"
t_error_shape "the expired token's 401 is unauthenticated" unauthenticated

# ---- use count ----
rc=0
cli token create --identity svc-uses --policy reader --ttl 1h --uses 3 || rc=$?
t_check "token create --uses 3 succeeds" "$rc" "exit $rc: $(t_short "$(cat "$T_TMP/cli.err")")"
(umask 077 && cat "$T_TMP/cli.out" >>"$TOKENS" &&
    sed 's/^/Authorization: Bearer /' "$T_TMP/cli.out" >"$T_TMP/u.hdr")
sed -n 's/^accessor: *//p' "$T_TMP/cli.err" >"$T_TMP/u.acc"
for i in 1 2 3; do
	with u GET "$SECRET"
	t_eq "use $i of 3 succeeds" 200 "$T_STATUS"
done
with u GET "$SECRET"
t_eq "the fourth use gives 401" 401 "$T_STATUS"
with u GET "$SECRET"
t_eq "an exhausted token stays refused" 401 "$T_STATUS"

# ---- listing: accessors, never tokens ----
new_token live '{"identity":"svc-live","policies":["reader"],"ttl":"1h","uses":5}'
rc=0
t_cli --json token list >"$T_TMP/list.json" 2>"$T_TMP/cli.err" || rc=$?
t_check "capstone token list succeeds" "$rc" "exit $rc: $(t_short "$(cat "$T_TMP/cli.err")")"
acc=$(cat "$T_TMP/live.acc")
t_jq "the list shows the live token's accessor and identity" \
    "any(.tokens[]; .accessor == \"$acc\" and .identity == \"svc-live\" and .policies == [\"reader\"])" \
    "$T_TMP/list.json"
t_jq "no list entry has a token field" 'all(.tokens[]; has("token") | not)' "$T_TMP/list.json"
t_run "no clear token appears in the list" "a token was listed" \
    sh -c '! grep -q -F -f "$1" "$2"' sh "$TOKENS" "$T_TMP/list.json"
cli token list
t_run "the human list shows the accessor" "stdout: $(t_short "$(cat "$T_TMP/cli.out")")" \
    grep -q -F -e "$acc" "$T_TMP/cli.out"
t_run "the human list shows no token" "a token was listed" \
    sh -c '! grep -q -F -f "$1" "$2"' sh "$TOKENS" "$T_TMP/cli.out"
with live GET "$SECRET"
t_eq "listing does not spend or end a token" 200 "$T_STATUS"

# ---- garbage ----
garbage() {
	printf 'Authorization: %s\n' "$2" >"$T_TMP/g.hdr"
	t_api_as - "$T_TMP/g.hdr" GET "$SECRET" >/dev/null
	t_eq "$1" 401 "$T_STATUS"
}
garbage "a well-formed unknown token gives 401" "Bearer cps_$(t_rand_hex 32 | cut -c1-43)"
garbage "a garbage token gives 401" "Bearer not-a-token"
garbage "an empty bearer gives 401" "Bearer "
garbage "a Basic authorization gives 401" "Basic YWRtaW46YWRtaW4="
t_error_shape "the garbage 401 is unauthenticated" unauthenticated
t_api_as - - GET "$SECRET" >/dev/null
t_eq "neither certificate nor token gives 401" 401 "$T_STATUS"
t_error_shape "the anonymous 401 is unauthenticated" unauthenticated
t_api_as - - GET /v1/sys/health >/dev/null
t_eq "health also needs an identity" 401 "$T_STATUS"
with live GET /v1/sys/health
t_eq "health answers a token" 200 "$T_STATUS"

# ---- a token may not create tokens (tokens are never configured admins) ----
printf '%s\n' '{"identity":"svc-x","policies":["reader"],"ttl":"1h"}' >"$T_TMP/tb"
t_api_as - "$T_TMP/live.hdr" POST /v1/auth/tokens "@$T_TMP/tb" >/dev/null
t_eq "a reader token cannot create tokens" 403 "$T_STATUS"

# ---- nothing in the clear at rest or in the log ----
t_stop_ok "daemon stops with status 0 on SIGTERM"
t_eq "four tokens were issued in this run" 4 "$(grep -c . "$TOKENS")"
found=$(grep -a -l -F -f "$TOKENS" -r "$T_DIR/store" 2>/dev/null || true)
t_eq "no clear token in the store files" "" "$found"
found=$(grep -a -l -F -f "$TOKENS" "$T_DIR/daemon.log" 2>/dev/null || true)
t_eq "no clear token in the daemon log" "" "$found"
t_run "the store is not empty (the grep looked at data)" "no files under store/" \
    test -n "$(find "$T_DIR/store" -type f -size +0)"
t_run "the audit log was written" "no $T_DIR/audit.log" test -s "$T_DIR/audit.log"
found=$(grep -a -l -F -f "$TOKENS" "$T_DIR/audit.log" 2>/dev/null || true)
t_eq "no clear token in the audit log" "" "$found"

# ---- require mode: the handshake wants a certificate even with a token ----
sed -i '/^tls_client_auth = optional$/d' "$T_DIR/capstoned.conf"
t_start_daemon "$T_DIR" || t_die "capstoned did not restart"
rc=0
curl -s -o /dev/null --max-time 20 --cacert "$T_DIR/pki/ca.crt" \
    -H "@$T_TMP/live.hdr" "https://127.0.0.1:$T_PORT$SECRET" || rc=$?
case $rc in
35 | 55 | 56) t_ok "with tls_client_auth = require a token alone is refused at the handshake" ;;
*) t_fail "with tls_client_auth = require a token alone is refused at the handshake" \
    "expected curl exit 35/55/56, got $rc" ;;
esac
t_expect "the admin certificate still works in require mode" 200 GET "$SECRET"
# A certificate and a token: the token is the identity, never the
# certificate as a fallback.
t_api_as svc-a - GET "$SECRET" >/dev/null
t_eq "svc-a's certificate alone holds no policy" 403 "$T_STATUS"
t_api_as svc-a "$T_TMP/live.hdr" GET "$SECRET" >/dev/null
t_eq "with a certificate and a reader token the token decides" 200 "$T_STATUS"
printf 'Authorization: Bearer cps_%s\n' "$(t_rand_hex 32 | cut -c1-43)" >"$T_TMP/bad.hdr"
t_api_as admin "$T_TMP/bad.hdr" GET "$SECRET" >/dev/null
t_eq "the admin certificate with a bad token gives 401, no fallback" 401 "$T_STATUS"
t_api_as admin "$T_TMP/c.hdr" GET "$SECRET" >/dev/null
t_eq "the admin certificate with a revoked token gives 401" 401 "$T_STATUS"

t_stop_ok "daemon stops with status 0 after the restart"
t_done
