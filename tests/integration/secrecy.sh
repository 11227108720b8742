#!/bin/sh
# secrecy.sh - plaintext never reaches the disk or the log: distinctive
# random values are written, then searched for in the LMDB files and the
# daemon log, while running and after shutdown.
set -eu
. "$(dirname "$0")/../lib/env.sh"

t_setup

t_expect "create domain" 201 POST /v1/domains '{"name":"vault"}'

: >"$T_TMP/needles"
i=0
while [ $i -lt 8 ]; do
	v=SECRET-$(t_rand_hex 16)
	echo "$v" >>"$T_TMP/needles"
	t_api PUT "/v1/domains/vault/secrets/s$i" "{\"data\":{\"value\":\"$v\"}}" >/dev/null
	[ "$T_STATUS" = 200 ] || t_fail "put s$i" "expected HTTP 200, got $T_STATUS"
	i=$((i + 1))
done
# A large value and several versions of one secret.
big=BIG-$(t_rand_hex 32)
echo "$big" >>"$T_TMP/needles"
pad=$(printf '%04000d' 0)
t_expect "put a large value" 200 PUT /v1/domains/vault/secrets/big \
    "{\"data\":{\"value\":\"$pad$big$pad\"}}"
for n in 1 2 3; do
	v=VERSION$n-$(t_rand_hex 16)
	echo "$v" >>"$T_TMP/needles"
	t_api PUT /v1/domains/vault/secrets/multi "{\"data\":{\"v\":\"$v\"}}" >/dev/null
done
t_eq "three versions written" 3 "$(t_json_get "$T_BODY" .version)"

t_expect "read one back" 200 GET /v1/domains/vault/secrets/s0
t_eq "value reads back" "$(head -n 1 "$T_TMP/needles")" "$(t_json_get "$T_BODY" .data.value)"

# search WHEN: no needle (nor its base64) in any file under the daemon's
# directory: store, log, token files, anything else it wrote there.
search() {
	found=""
	while read -r v; do
		b=$(printf '%s' "$v" | base64 -w0)
		hits=$(grep -r -a -l -F -e "$v" -e "$b" "$T_DIR" 2>/dev/null || true)
		[ -z "$hits" ] || found="$found $hits"
	done <"$T_TMP/needles"
	if [ -z "$found" ]; then
		t_ok "no plaintext in store, log or token files ($1)"
	else
		t_fail "no plaintext in store, log or token files ($1)" "plaintext found in:$found"
	fi
}
t_run "store holds LMDB files" "no files under $T_DIR/store" \
    test -n "$(ls "$T_DIR/store")"
search "while running"

pin=$(cat "$T_DIR/pin")
t_stop_ok "daemon stops with status 0 on SIGTERM"
search "after shutdown"
if grep -a -q -F -e "$pin" "$T_DIR/daemon.log" "$T_DIR"/store/* "$T_DIR/token-init.out"; then
	t_fail "PIN absent from log and store" "the token PIN was found"
else
	t_ok "PIN absent from log and store"
fi
t_done
