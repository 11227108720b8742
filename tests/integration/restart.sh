#!/bin/sh
# restart.sh - SIGTERM stops the daemon with status 0 and a restarted
# daemon reads every secret, version and domain back.
set -eu
. "$(dirname "$0")/../lib/env.sh"

t_setup "${T_RESTART_SEAL:-}"

t_expect "create domain a" 201 POST /v1/domains '{"name":"a"}'
t_expect "create domain b" 201 POST /v1/domains '{"name":"b"}'
: >"$T_TMP/written"
for d in a b; do
	for i in 1 2 3 4 5; do
		v=$(t_rand_hex 12)
		t_api PUT "/v1/domains/$d/secrets/s$i" "{\"data\":{\"v\":\"$v\"}}" >/dev/null
		if [ "$T_STATUS" = 200 ]; then
			echo "$d s$i $v" >>"$T_TMP/written"
		else
			t_fail "put $d/s$i" "expected HTTP 200, got $T_STATUS"
		fi
	done
done
t_expect "put version 2 of a/s1" 200 PUT /v1/domains/a/secrets/s1 '{"data":{"v":"second"}}'
t_expect "rotate domain b" 200 POST /v1/domains/b/rotate
t_eq "rotation answers key_version 2" 2 "$(t_json_get "$T_BODY" .key_version)"
t_expect "put after rotation" 200 PUT /v1/domains/b/secrets/after '{"data":{"v":"rotated"}}'

t_stop_ok "first daemon stops with status 0 on SIGTERM"
t_run "daemon starts again on the same store" "see daemon.log" t_start_daemon "$T_DIR"

t_expect "domains listed after restart" 200 GET /v1/domains
t_eq "both domains survive" "a,b" "$(jq -r '.domains | sort | join(",")' "$T_BODY" 2>/dev/null || true)"
bad=0
while read -r d n v; do
	q=""
	[ "$d $n" = "a s1" ] && q="?version=1"
	t_api GET "/v1/domains/$d/secrets/$n$q" >/dev/null
	got=$(t_json_get "$T_BODY" .data.v)
	if [ "$T_STATUS" != 200 ] || [ "$got" != "$v" ]; then
		bad=$((bad + 1))
		t_fail "read back $d/$n$q after restart" "expected 200 '$v', got $T_STATUS '$got'"
	fi
done <"$T_TMP/written"
t_eq "all 10 secrets read back after restart" 0 "$bad"
t_expect "latest a/s1 after restart" 200 GET /v1/domains/a/secrets/s1
t_eq "latest a/s1 is version 2" "2 second" \
    "$(jq -r '"\(.version) \(.data.v)"' "$T_BODY" 2>/dev/null || true)"
t_expect "secret written after rotation reads back" 200 GET /v1/domains/b/secrets/after
t_eq "rotated-key secret value" rotated "$(t_json_get "$T_BODY" .data.v)"
t_expect "domain b keeps key_version 2" 200 GET /v1/domains/b
t_eq "domain b key_version" 2 "$(t_json_get "$T_BODY" .key_version)"

t_stop_ok "second daemon stops with status 0 on SIGTERM"
t_done
