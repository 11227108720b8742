#!/bin/sh
# errors.sh - error answers: status codes and the JSON error shape for
# unknown domains and routes, malformed JSON, invalid names and bodies over
# max_body (64k here).
set -eu
T_MAX_BODY=64k
. "$(dirname "$0")/../lib/env.sh"

t_setup

t_expect "unknown domain is 404" 404 GET /v1/domains/nope
t_error_shape "unknown domain error shape" not_found
t_expect "secret in unknown domain is 404" 404 GET /v1/domains/nope/secrets/x
t_error_shape "secret in unknown domain error shape" not_found
t_expect "put into unknown domain is 404" 404 PUT /v1/domains/nope/secrets/x '{"data":{"a":"b"}}'
t_error_shape "put into unknown domain error shape" not_found
t_expect "unknown route is 404" 404 GET /v1/nothing/here
t_error_shape "unknown route error shape" not_found
t_expect "wrong method on a known route is 405" 405 DELETE /v1/sys/health
t_error_shape "wrong method error shape" method_not_allowed

t_expect "create domain" 201 POST /v1/domains '{"name":"d1"}'
t_expect "create the same domain again is 409" 409 POST /v1/domains '{"name":"d1"}'
t_error_shape "duplicate domain error shape" conflict
t_expect "missing secret is 404" 404 GET /v1/domains/d1/secrets/none
t_error_shape "missing secret error shape" not_found

t_expect "truncated JSON is 400" 400 POST /v1/domains '{"name":'
t_error_shape "truncated JSON error shape" bad_request
t_expect "non-JSON body is 400" 400 PUT /v1/domains/d1/secrets/s 'hello'
t_error_shape "non-JSON body error shape" bad_request
t_expect "JSON array body is 400" 400 PUT /v1/domains/d1/secrets/s '[1,2]'
t_expect "data that is not an object is 400" 400 PUT /v1/domains/d1/secrets/s '{"data":"x"}'
t_expect "missing data is 400" 400 PUT /v1/domains/d1/secrets/s '{"cas":0}'
t_expect "negative cas is 400" 400 PUT /v1/domains/d1/secrets/s '{"data":{"a":"b"},"cas":-1}'
t_expect "bad version parameter is 400" 400 GET "/v1/domains/d1/secrets/s?version=abc"

t_expect "domain name starting with a dot is 400" 400 POST /v1/domains '{"name":".hidden"}'
t_error_shape "invalid domain name error shape" bad_request
t_expect "domain name starting with a dash is 400" 400 POST /v1/domains '{"name":"-x"}'
t_expect "domain name with a slash is 400" 400 POST /v1/domains '{"name":"a/b"}'
t_expect "empty domain name is 400" 400 POST /v1/domains '{"name":""}'
long=$(printf '%0129d' 0)
t_expect "129-character domain name is 400" 400 POST /v1/domains "{\"name\":\"$long\"}"
ok128=$(printf 'a%0127d' 0)
t_expect "128-character domain name is accepted" 201 POST /v1/domains "{\"name\":\"$ok128\"}"
t_expect "secret name with a space is 400" 400 PUT "/v1/domains/d1/secrets/a%20b" '{"data":{"a":"b"}}'
t_expect "secret name starting with a dot is 400" 400 PUT /v1/domains/d1/secrets/.x '{"data":{"a":"b"}}'
t_expect "129-character secret name is 400" 400 PUT "/v1/domains/d1/secrets/$long" '{"data":{"a":"b"}}'

# A valid JSON body of exactly max_body bytes is accepted; one more byte is 413.
mk_body() {
	python3 - "$1" "$2" <<'PY'
import sys
size, path = int(sys.argv[1]), sys.argv[2]
head = b'{"data":{"k":"'
tail = b'"}}'
open(path, "wb").write(head + b"x" * (size - len(head) - len(tail)) + tail)
PY
}
mk_body 65536 "$T_TMP/exact.json"
mk_body 65537 "$T_TMP/over.json"
t_expect "body of exactly max_body bytes is accepted" 200 PUT /v1/domains/d1/secrets/big "@$T_TMP/exact.json"
t_expect "body of max_body + 1 bytes is 413" 413 PUT /v1/domains/d1/secrets/big "@$T_TMP/over.json"
t_error_shape "oversize body error shape" too_large

# The same with curl's default Expect: 100-continue handshake.
code=$(curl -s -o "$T_BODY" -w '%{http_code}' --max-time 30 \
    --cacert "$T_DIR/pki/ca.crt" --cert "$T_DIR/pki/admin.crt" \
    --key "$T_DIR/pki/admin.key" -X PUT -H 'Expect: 100-continue' \
    -H 'Content-Type: application/json' --data-binary "@$T_TMP/over.json" \
    "https://127.0.0.1:$T_PORT/v1/domains/d1/secrets/big") || true
t_eq "oversize body with Expect: 100-continue is 413" 413 "$code"
t_expect "the daemon still answers after oversize bodies" 200 GET /v1/sys/health

t_stop_ok "daemon stops with status 0 on SIGTERM"
t_done
