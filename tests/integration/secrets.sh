#!/bin/sh
# secrets.sh - versioned secrets over the REST API: put, get (latest and by
# version, byte-exact), check-and-set, versions, list, soft delete, destroy.
set -eu
. "$(dirname "$0")/../lib/env.sh"

t_setup

S=/v1/domains/payments/secrets

t_expect "create domain payments" 201 POST /v1/domains '{"name":"payments"}'
t_eq "domain create answers the name" payments "$(t_json_get "$T_BODY" .name)"
t_eq "domain create answers key_version 1" 1 "$(t_json_get "$T_BODY" .key_version)"

# Values with JSON escapes, UTF-8 and spaces must come back byte for byte.
v1='{"data":{"user":"app","password":"p1-\"quoted\"\\back\u00e9 \t end"}}'
v2='{"data":{"user":"app","password":"second value","note":"ünïcödé ✓"}}'

t_expect "put v1" 200 PUT "$S/db" "$v1"
t_eq "put v1 answers version 1" 1 "$(t_json_get "$T_BODY" .version)"
t_expect "put v2" 200 PUT "$S/db" "$v2"
t_eq "put v2 answers version 2" 2 "$(t_json_get "$T_BODY" .version)"

t_expect "get latest" 200 GET "$S/db"
t_eq "get latest is version 2" 2 "$(t_json_get "$T_BODY" .version)"
t_eq "get latest answers the name" db "$(t_json_get "$T_BODY" .name)"
want=$(printf '%s' "$v2" | jq -cS .data)
t_eq "get latest data is byte-exact" "$want" "$(jq -cS .data "$T_BODY" 2>/dev/null || true)"
t_jq "get latest has an RFC 3339 created time" \
    '.created | type == "string" and test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T")'

t_expect "get version 1" 200 GET "$S/db?version=1"
t_eq "get ?version=1 is version 1" 1 "$(t_json_get "$T_BODY" .version)"
want=$(printf '%s' "$v1" | jq -cS .data)
t_eq "get ?version=1 data is byte-exact" "$want" "$(jq -cS .data "$T_BODY" 2>/dev/null || true)"
t_eq "get ?version=1 password string" "$(printf '%s' "$v1" | jq -r .data.password)" \
    "$(t_json_get "$T_BODY" .data.password)"

t_expect "get missing version 9 is 404" 404 GET "$S/db?version=9"
t_error_shape "missing version error shape" not_found

t_expect "cas=0 on an existing secret is 409" 409 PUT "$S/db" '{"data":{"x":"y"},"cas":0}'
t_error_shape "cas conflict error shape" conflict
t_expect "cas=1 on version 2 is 409" 409 PUT "$S/db" '{"data":{"x":"y"},"cas":1}'
t_expect "cas=2 on version 2 succeeds" 200 PUT "$S/db" '{"data":{"x":"v3"},"cas":2}'
t_eq "cas=2 answers version 3" 3 "$(t_json_get "$T_BODY" .version)"
t_expect "cas=0 on a new secret succeeds" 200 PUT "$S/api" '{"data":{"token":"t0"},"cas":0}'
t_eq "cas=0 new secret is version 1" 1 "$(t_json_get "$T_BODY" .version)"

t_expect "versions listing" 200 GET "$S/db/versions"
t_eq "versions are 1,2,3" "1,2,3" \
    "$(jq -r '[.versions[].version] | sort | map(tostring) | join(",")' "$T_BODY" 2>/dev/null || true)"
t_eq "no version deleted or destroyed yet" "false" \
    "$(jq -r '[.versions[] | (.deleted // false) or (.destroyed // false)] | any' "$T_BODY" 2>/dev/null || true)"

t_expect "list names" 200 GET "$S"
t_eq "list holds api and db" "api,db" "$(jq -r '.names | sort | join(",")' "$T_BODY" 2>/dev/null || true)"

t_expect "soft delete" 204 DELETE "$S/db"
t_expect "get after soft delete is 404" 404 GET "$S/db"
t_error_shape "soft-deleted secret error shape" not_found
t_expect "older version still readable after soft delete" 200 GET "$S/db?version=2"
t_expect "versions after soft delete" 200 GET "$S/db/versions"
t_eq "version 3 marked deleted" true \
    "$(jq -r '[.versions[] | select(.version == 3) | (.deleted // false) != false] | .[0]' "$T_BODY" 2>/dev/null || true)"

t_expect "destroy all versions" 204 POST "$S/db/destroy" '{}'
t_expect "versions after destroy" 200 GET "$S/db/versions"
t_eq "every version destroyed" true \
    "$(jq -r '[.versions[] | .destroyed == true] | (length > 0) and all' "$T_BODY" 2>/dev/null || true)"
t_expect "destroyed version 1 is gone" 404 GET "$S/db?version=1"
t_expect "destroyed version 2 is gone" 404 GET "$S/db?version=2"

t_expect "destroy one version of api" 200 PUT "$S/api" '{"data":{"token":"t1"}}'
t_expect "destroy versions [1]" 204 POST "$S/api/destroy" '{"versions":[1]}'
t_expect "destroyed api version 1 is gone" 404 GET "$S/api?version=1"
t_expect "api version 2 survives" 200 GET "$S/api?version=2"
t_eq "api version 2 data" t1 "$(t_json_get "$T_BODY" .data.token)"

t_stop_ok "daemon stops with status 0 on SIGTERM"
t_done
