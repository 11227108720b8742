#!/bin/sh
# access.sh - authorisation: default-deny for identities that are not
# admins, policies granting capabilities per domain, single-use references
# and generated secrets whose value the caller never sees.
set -eu
. "$(dirname "$0")/../lib/env.sh"

t_setup

# as_svc METHOD PATH [BODY]: t_api as CN=svc-a.
as_svc() {
	T_CERT=$T_DIR/pki/svc-a.crt T_KEY=$T_DIR/pki/svc-a.key t_api "$@" >/dev/null
}
# svc_expect NAME STATUS METHOD PATH [BODY]
svc_expect() {
	_n=$1
	_w=$2
	shift 2
	as_svc "$@"
	if [ "$T_STATUS" = "$_w" ]; then
		t_ok "$_n"
	else
		t_fail "$_n" "expected HTTP $_w, got $T_STATUS $(t_short "$(cat "$T_BODY")")"
	fi
}

t_expect "admin creates payments" 201 POST /v1/domains '{"name":"payments"}'
t_expect "admin creates other" 201 POST /v1/domains '{"name":"other"}'
t_expect "admin puts payments/db" 200 PUT /v1/domains/payments/secrets/db '{"data":{"password":"pw-1"}}'
t_expect "admin puts other/x" 200 PUT /v1/domains/other/secrets/x '{"data":{"k":"v"}}'

svc_expect "svc-a without a policy cannot read" 403 GET /v1/domains/payments/secrets/db
t_error_shape "forbidden error shape" forbidden
svc_expect "svc-a without a policy cannot create a domain" 403 POST /v1/domains '{"name":"mine"}'
svc_expect "svc-a cannot read token facts" 403 GET /v1/sys/tokens
svc_expect "svc-a may still check health" 200 GET /v1/sys/health

t_expect "admin writes a policy" 200 PUT /v1/policies/payments-read \
    '{"identities":["CN=svc-a"],"rules":[{"domains":"payments","capabilities":["read","list"]}]}'
t_expect "admin reads the policy back" 200 GET /v1/policies/payments-read
t_jq "policy names its identity" '.identities == ["CN=svc-a"]'

svc_expect "svc-a reads payments/db with read" 200 GET /v1/domains/payments/secrets/db
t_eq "svc-a sees the value" pw-1 "$(t_json_get "$T_BODY" .data.password)"
svc_expect "svc-a lists payments with list" 200 GET /v1/domains/payments/secrets
svc_expect "svc-a cannot write with read only" 403 PUT /v1/domains/payments/secrets/db '{"data":{"password":"evil"}}'
svc_expect "svc-a cannot delete" 403 DELETE /v1/domains/payments/secrets/db
svc_expect "svc-a cannot read another domain" 403 GET /v1/domains/other/secrets/x
svc_expect "svc-a domain listing" 200 GET /v1/domains
t_jq "svc-a sees only payments in the domain list" '.domains == ["payments"]'
svc_expect "svc-a cannot write policies" 403 PUT /v1/policies/mine \
    '{"identities":["CN=svc-a"],"rules":[{"domains":"*","capabilities":["admin"]}]}'
t_expect "the value was not changed by the refused write" 200 GET /v1/domains/payments/secrets/db
t_eq "value unchanged" pw-1 "$(t_json_get "$T_BODY" .data.password)"

# Single-use references: any authenticated caller may redeem, once.
t_expect "admin creates a reference" 201 POST /v1/domains/payments/secrets/db/refs '{"ttl":"60s","uses":1}'
ref=$(t_json_get "$T_BODY" .ref)
t_run "the reference is a non-empty string" "got '$ref'" test -n "$ref"
t_run "the reference does not contain the value" "it does" \
    sh -c "! grep -q pw-1 '$T_BODY'"
svc_expect "svc-a redeems the reference" 200 POST /v1/refs/redeem "{\"ref\":\"$ref\"}"
t_eq "redeemed data" "payments db pw-1" \
    "$(jq -r '"\(.domain) \(.name) \(.data.password)"' "$T_BODY" 2>/dev/null || true)"
svc_expect "a used reference is gone" 410 POST /v1/refs/redeem "{\"ref\":\"$ref\"}"
t_error_shape "used reference error shape" gone
svc_expect "an unknown reference is refused" 410 POST /v1/refs/redeem '{"ref":"not-a-reference"}'

# Generated secrets: the caller gets a reference, never the value.
t_expect "generate a secret" 201 POST /v1/domains/payments/secrets/gen/generate \
    '{"length":32,"charset":"alnum","field":"value","ttl":"60s","uses":1}'
t_jq "generate answers version and ref only" '(.version | type == "number") and (.ref | type == "string") and (has("data") | not)'
gref=$(t_json_get "$T_BODY" .ref)
t_expect "redeem the generated secret" 200 POST /v1/refs/redeem "{\"ref\":\"$gref\"}"
t_jq "generated value is 32 alphanumerics" '.data.value | test("^[A-Za-z0-9]{32}$")'
gen=$(t_json_get "$T_BODY" .data.value)
t_expect "admin reads the generated secret" 200 GET /v1/domains/payments/secrets/gen
t_eq "stored value is the redeemed one" "$gen" "$(t_json_get "$T_BODY" .data.value)"

t_expect "audit log" 200 GET /v1/audit
t_run "audit log has entries" "empty" test -s "$T_BODY"
t_run "audit log holds no secret value" "found a value" \
    sh -c "! grep -q -F -e pw-1 -e '$gen' '$T_BODY'"
svc_expect "svc-a cannot read the audit log" 403 GET /v1/audit

t_expect "admin deletes the policy" 204 DELETE /v1/policies/payments-read
svc_expect "svc-a loses access with the policy" 403 GET /v1/domains/payments/secrets/db

t_stop_ok "daemon stops with status 0 on SIGTERM"
t_done
