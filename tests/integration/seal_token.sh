#!/bin/sh
# seal_token.sh - [seal] mode = token: every AES-GCM inside the token; the
# put/get/restart flow of restart.sh, and the health report names the mode.
set -eu
. "$(dirname "$0")/../lib/env.sh"

t_setup token

t_expect "health answers" 200 GET /v1/sys/health
t_eq "health reports seal token" token "$(t_json_get "$T_BODY" .seal)"
t_expect "create domain" 201 POST /v1/domains '{"name":"tok"}'
t_expect "put v1" 200 PUT /v1/domains/tok/secrets/s '{"data":{"k":"value one"}}'
t_expect "put v2" 200 PUT /v1/domains/tok/secrets/s '{"data":{"k":"value two"}}'
t_expect "get latest" 200 GET /v1/domains/tok/secrets/s
t_eq "latest value" "2 value two" "$(jq -r '"\(.version) \(.data.k)"' "$T_BODY" 2>/dev/null || true)"
t_expect "get version 1" 200 GET "/v1/domains/tok/secrets/s?version=1"
t_eq "version 1 value" "value one" "$(t_json_get "$T_BODY" .data.k)"
t_stop_ok "daemon stops with status 0 on SIGTERM"
t_run "daemon starts again" "see daemon.log" t_start_daemon "$T_DIR"
t_expect "get latest after restart" 200 GET /v1/domains/tok/secrets/s
t_eq "latest value after restart" "value two" "$(t_json_get "$T_BODY" .data.k)"
t_expect "get version 1 after restart" 200 GET "/v1/domains/tok/secrets/s?version=1"
t_eq "version 1 value after restart" "value one" "$(t_json_get "$T_BODY" .data.k)"

t_stop_ok "daemon stops with status 0 again"
t_done
