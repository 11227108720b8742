#!/bin/sh
# policy_matrix.sh - default-deny authorisation as a matrix: for each
# capability (read, write, delete, list, ref, admin) an identity that holds
# it succeeds and one that holds every other capability (but admin, which
# implies them all) gets 403 with the JSON error shape, on an exact domain
# pattern ("payments") and a glob
# ("team-*"), for three kinds of identity: a certificate subject (driven
# through the capstone CLI), a certificate SAN (URI and DNS) and a bearer
# token (both driven with curl).  Then the edges: no policy at all, a
# domain outside the patterns, the domain list filter, admin on "*".
set -eu
. "$(dirname "$0")/../lib/env.sh"

t_prepare
P=$T_DIR/pki
# Bearer tokens without a client certificate need the optional mode.
sed -i '/^\[server\]$/a tls_client_auth = optional' "$T_DIR/capstoned.conf"

# Client certificates: subjects svc-a (holder) and svc-b (lacker); SAN
# identities whose subject no policy names: a SPIFFE URI (holder) and a DNS
# name (lacker); svc-e is bound to no policy; ops gets admin on "*".
san_ext() {
	printf 'basicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nsubjectAltName=%s\n' "$1" >"$P/$2.ext"
}
san_ext URI:spiffe://capstone/svc-c svc-c
san_ext DNS:svc-d.capstone.test svc-d
{
	t_cert "$P" svc-b svc-b ca "$P/client.ext" &&
	    t_cert "$P" svc-c workload-c ca "$P/svc-c.ext" &&
	    t_cert "$P" svc-d workload-d ca "$P/svc-d.ext" &&
	    t_cert "$P" svc-e svc-e ca "$P/client.ext" &&
	    t_cert "$P" ops ops ca "$P/client.ext"
} >/dev/null 2>&1 || t_die "minting the extra client certificates failed"

t_start_daemon "$T_DIR" || t_die "capstoned did not start"

# admin METHOD PATH [BODY]: a set-up request as the configured admin that
# must succeed (2xx); stops the script otherwise.
admin() {
	t_api "$@" >/dev/null
	case $T_STATUS in
	2??) ;;
	*) t_die "admin $1 $2: HTTP $T_STATUS $(t_short "$(cat "$T_BODY")")" ;;
	esac
}

# cli_as CERT ARGS...: the CLI as pki/CERT; stdout and stderr to files.
cli_as() {
	_cc=$1
	shift
	CAPSTONE_ADDR=https://127.0.0.1:$T_PORT CAPSTONE_CACERT=$P/ca.crt \
	    CAPSTONE_CERT=$P/$_cc.crt CAPSTONE_KEY=$P/$_cc.key \
	    "$BUILD/capstone" "$@" >"$T_TMP/cli.out" 2>"$T_TMP/cli.err"
}

# forbidden_shape: the last body is a 403 error object.
forbidden_shape() {
	jq -e '(.error.code == "forbidden") and (.error.message | type == "string")' \
	    "$T_BODY" >/dev/null 2>&1
}

for d in payments team-red other; do
	admin POST /v1/domains "{\"name\":\"$d\"}"
	admin PUT "/v1/domains/$d/secrets/db" '{"data":{"password":"matrix-db-value"}}'
done

CAPS="read write delete list ref admin"

# others CAP: the JSON array of every capability but CAP and admin (which
# implies all of them).
others() {
	_o=""
	for _x in $CAPS; do
		[ "$_x" = "$1" ] || [ "$_x" = admin ] && continue
		_o="$_o${_o:+,}\"$_x\""
	done
	printf '[%s]' "$_o"
}

# rules CAPS-ARRAY: the two rules (exact and glob) granting CAPS-ARRAY.
rules() {
	printf '[{"domains":"payments","capabilities":%s},{"domains":"team-*","capabilities":%s}]' "$1" "$1"
}

# token POLICY FILE: creates a token with POLICY (as the admin) and
# writes its Authorization header line to FILE (0600).
token() {
	admin POST /v1/auth/tokens "{\"identity\":\"matrix-$1\",\"policies\":[\"$1\"],\"ttl\":\"1h\"}"
	(umask 077 && jq -r '"Authorization: Bearer " + .token' "$T_BODY" >"$2")
	: >"$T_BODY"
	grep -q '^Authorization: Bearer ..' "$2" || t_die "token for $1: no token in the answer"
}

# request CAP DOMAIN: the request that needs CAP on DOMAIN, into
# OP_M OP_P OP_B and the success status OP_WANT.
request() {
	OP_B=""
	case $1 in
	read) OP_M=GET OP_P=/v1/domains/$2/secrets/db OP_WANT=200 ;;
	write)
		OP_M=PUT OP_P=/v1/domains/$2/secrets/db OP_WANT=200
		OP_B='{"data":{"password":"matrix-written"}}'
		;;
	delete) OP_M=DELETE OP_P=/v1/domains/$2/secrets/victim OP_WANT=204 ;;
	list) OP_M=GET OP_P=/v1/domains/$2/secrets OP_WANT=200 ;;
	ref)
		OP_M=POST OP_P=/v1/domains/$2/secrets/db/refs OP_WANT=201
		OP_B='{"ttl":"60s"}'
		;;
	admin) OP_M=POST OP_P=/v1/domains/$2/rotate OP_WANT=200 ;;
	esac
}

# prepare CAP DOMAIN: what an attempt at CAP needs in place beforehand.
prepare() {
	if [ "$1" = delete ]; then
		admin PUT "/v1/domains/$2/secrets/victim" '{"data":{"v":"x"}}'
	fi
}

# by_curl NAME CAP DOMAIN CERT BEARER HOLDS: one attempt with curl.
by_curl() {
	prepare "$2" "$3"
	request "$2" "$3"
	if [ -n "$OP_B" ]; then
		t_api_as "$4" "$5" "$OP_M" "$OP_P" "$OP_B" >/dev/null
	else
		t_api_as "$4" "$5" "$OP_M" "$OP_P" >/dev/null
	fi
	if [ "$6" = 1 ]; then
		if [ "$T_STATUS" = "$OP_WANT" ]; then
			t_ok "$1"
		else
			t_fail "$1" "expected HTTP $OP_WANT for $OP_M $OP_P, got $T_STATUS $(t_short "$(cat "$T_BODY")")"
		fi
	elif [ "$T_STATUS" = 403 ] && forbidden_shape; then
		t_ok "$1"
	else
		t_fail "$1" "expected 403 {\"error\":{\"code\":\"forbidden\",...}} for $OP_M $OP_P, got $T_STATUS $(t_short "$(cat "$T_BODY")")"
	fi
}

# by_cli NAME CAP DOMAIN CERT HOLDS: one attempt with the capstone CLI
# (exit 0, or exit 1 naming "forbidden").
by_cli() {
	prepare "$2" "$3"
	_rc=0
	case $2 in
	read) cli_as "$4" secret get "$3/db" || _rc=$? ;;
	write) cli_as "$4" secret put "$3/db" password=matrix-cli || _rc=$? ;;
	delete) cli_as "$4" secret rm "$3/victim" || _rc=$? ;;
	list) cli_as "$4" secret list "$3" || _rc=$? ;;
	ref) cli_as "$4" secret ref "$3/db" || _rc=$? ;;
	admin) cli_as "$4" domain rotate "$3" || _rc=$? ;;
	esac
	if [ "$5" = 1 ]; then
		t_check "$1" "$_rc" "expected exit 0, got $_rc: $(t_short "$(cat "$T_TMP/cli.err")")"
	elif [ "$_rc" = 1 ] && grep -q 'forbidden' "$T_TMP/cli.err"; then
		t_ok "$1"
	else
		t_fail "$1" "expected exit 1 and 'forbidden', got $_rc: $(t_short "$(cat "$T_TMP/cli.err")")"
	fi
}

for cap in $CAPS; do
	# Certificates: the holders' and the lackers' policies, replaced for
	# every capability (a PUT over an existing policy takes effect at once).
	admin PUT /v1/policies/cert-has \
	    "{\"identities\":[\"CN=svc-a\",\"URI:spiffe://capstone/svc-c\"],\"rules\":$(rules "[\"$cap\"]")}"
	admin PUT /v1/policies/cert-lacks \
	    "{\"identities\":[\"CN=svc-b\",\"DNS:svc-d.capstone.test\"],\"rules\":$(rules "$(others "$cap")")}"
	# Tokens: policies bound to no identity, carried by the token alone.
	admin PUT "/v1/policies/tok-has-$cap" "{\"rules\":$(rules "[\"$cap\"]")}"
	admin PUT "/v1/policies/tok-lacks-$cap" "{\"rules\":$(rules "$(others "$cap")")}"
	token "tok-has-$cap" "$T_TMP/has.hdr"
	token "tok-lacks-$cap" "$T_TMP/lacks.hdr"

	for d in payments team-red; do
		case $d in
		payments) pat=exact ;;
		*) pat=glob ;;
		esac
		by_cli "$cap/$pat: subject CN=svc-a holding $cap succeeds (CLI)" "$cap" "$d" svc-a 1
		by_cli "$cap/$pat: subject CN=svc-b without $cap is refused (CLI)" "$cap" "$d" svc-b 0
		by_curl "$cap/$pat: SAN URI holding $cap succeeds" "$cap" "$d" svc-c - 1
		by_curl "$cap/$pat: SAN DNS without $cap gets 403" "$cap" "$d" svc-d - 0
		by_curl "$cap/$pat: token holding $cap succeeds" "$cap" "$d" - "$T_TMP/has.hdr" 1
		by_curl "$cap/$pat: token without $cap gets 403" "$cap" "$d" - "$T_TMP/lacks.hdr" 0
	done
done

# admin on a glob covers creating a domain that matches it, not one that
# does not.  (cert-has still grants admin after the last round.)
t_api_as svc-a - POST /v1/domains '{"name":"team-new"}' >/dev/null
t_eq "admin on team-* creates team-new" 201 "$T_STATUS"
t_api_as svc-a - POST /v1/domains '{"name":"teamless"}' >/dev/null
t_eq "admin on team-* cannot create teamless" 403 "$T_STATUS"
t_api_as svc-a - DELETE /v1/domains/team-new >/dev/null
t_eq "admin on team-* deletes team-new" 204 "$T_STATUS"

# Outside the patterns: nothing, even for the holder of admin.
t_api_as svc-a - GET /v1/domains/other/secrets/db >/dev/null
t_eq "admin on payments and team-* is refused on domain other" 403 "$T_STATUS"
t_api_as svc-a - GET /v1/domains/teams/secrets >/dev/null
t_eq "the glob team-* does not match teams" 403 "$T_STATUS"

# Admin on a domain is not admin of the service.
t_api_as svc-a - GET /v1/policies >/dev/null
t_eq "admin on domains only cannot read policies" 403 "$T_STATUS"
t_api_as svc-a - POST /v1/auth/tokens '{"identity":"x","policies":["cert-has"],"ttl":"1m"}' >/dev/null
t_eq "admin on domains only cannot create tokens" 403 "$T_STATUS"
t_api_as svc-a - GET /v1/sys/tokens >/dev/null
t_eq "admin on domains only cannot read /v1/sys/tokens" 403 "$T_STATUS"
t_api_as svc-a - GET /v1/audit >/dev/null
t_eq "admin on domains only cannot read the audit log" 403 "$T_STATUS"

# The policy verbs of the CLI: put from a file, get, list.
printf '%s\n' '{"identities":["CN=ops"],"rules":[{"domains":"*","capabilities":["admin"]}]}' >"$T_TMP/ops.json"
rc=0
cli_as admin policy put ops "$T_TMP/ops.json" || rc=$?
t_check "capstone policy put NAME FILE stores a policy" "$rc" "exit $rc: $(t_short "$(cat "$T_TMP/cli.err")")"
rc=0
cli_as admin --json policy get ops || rc=$?
t_check "capstone policy get succeeds" "$rc" "exit $rc: $(t_short "$(cat "$T_TMP/cli.err")")"
t_jq "policy get shows the stored document" \
    '.identities == ["CN=ops"] and .rules[0].domains == "*" and .rules[0].capabilities == ["admin"]' "$T_TMP/cli.out"
rc=0
cli_as admin policy list || rc=$?
t_check "capstone policy list succeeds" "$rc" "exit $rc: $(t_short "$(cat "$T_TMP/cli.err")")"
t_run "policy list names ops and cert-has" "got $(t_short "$(cat "$T_TMP/cli.out")")" \
    sh -c 'grep -qx ops "$1" && grep -qx cert-has "$1"' sh "$T_TMP/cli.out"
rc=0
cli_as svc-a policy list || rc=$?
t_eq "policy list without admin on * exits 1" 1 "$rc"
t_api_as ops - GET /v1/policies >/dev/null
t_eq "admin on * reads policies" 200 "$T_STATUS"
t_api_as ops - GET /v1/sys/tokens >/dev/null
t_eq "admin on * reads /v1/sys/tokens" 200 "$T_STATUS"
t_api_as ops - GET /v1/domains/other/secrets/db >/dev/null
t_eq "admin on * reads any secret" 200 "$T_STATUS"

# Default deny: a verified certificate that no policy names.
t_api_as svc-e - GET /v1/sys/health >/dev/null
t_eq "an identity without policy may read health" 200 "$T_STATUS"
t_api_as svc-e - GET /v1/domains/payments/secrets/db >/dev/null
if [ "$T_STATUS" = 403 ] && forbidden_shape; then
	t_ok "an identity without policy is refused a secret (403 forbidden)"
else
	t_fail "an identity without policy is refused a secret (403 forbidden)" \
	    "got $T_STATUS $(t_short "$(cat "$T_BODY")")"
fi
t_api_as svc-e - GET /v1/domains >/dev/null
t_jq "an identity without policy sees no domains" '.domains == []'
t_api_as svc-e - PUT /v1/domains/payments/secrets/db '{"data":{"x":"y"}}' >/dev/null
t_eq "an identity without policy cannot write" 403 "$T_STATUS"

# The domain list shows where the caller holds something.  (The policy
# comes from standard input through the CLI.)
rc=0
printf '%s' '{"identities":["CN=svc-a"],"rules":[{"domains":"payments","capabilities":["list"]}]}' |
    cli_as admin policy put cert-has - || rc=$?
t_check "capstone policy put NAME - reads standard input" "$rc" "exit $rc: $(t_short "$(cat "$T_TMP/cli.err")")"
t_api_as svc-a - GET /v1/domains >/dev/null
t_jq "the domain list of a list holder on payments is [payments]" '.domains == ["payments"]'
t_api GET /v1/domains >/dev/null
t_jq "the configured admin sees every domain" \
    '(.domains | index("payments")) and (.domains | index("team-red")) and (.domains | index("other"))'

# A removed policy stops granting at once.
rc=0
cli_as admin policy rm cert-has || rc=$?
t_check "capstone policy rm succeeds" "$rc" "exit $rc: $(t_short "$(cat "$T_TMP/cli.err")")"
t_api_as svc-a - GET /v1/domains/payments/secrets >/dev/null
t_eq "after policy rm the former holder is refused" 403 "$T_STATUS"
rc=0
cli_as admin policy get cert-has || rc=$?
t_eq "policy get of a removed policy exits 1" 1 "$rc"
t_run "policy get of a removed policy says not_found" "stderr: $(t_short "$(cat "$T_TMP/cli.err")")" \
    grep -q not_found "$T_TMP/cli.err"
printf '%s' '{"identities":["CN=x"],"rules":[{"domains":"a","capabilities":["fly"]}]}' >"$T_TMP/bad.json"
rc=0
cli_as admin policy put bad "$T_TMP/bad.json" || rc=$?
t_eq "policy put of an unknown capability exits 1" 1 "$rc"
t_run "the refusal says bad_request" "stderr: $(t_short "$(cat "$T_TMP/cli.err")")" \
    grep -q bad_request "$T_TMP/cli.err"

# Neither certificate nor token: 401.
t_api_as - - GET /v1/domains >/dev/null
t_eq "no certificate and no token gives 401" 401 "$T_STATUS"
t_error_shape "the 401 has the JSON error shape" unauthenticated

t_stop_ok "daemon stops with status 0 on SIGTERM"
t_done
