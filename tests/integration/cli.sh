#!/bin/sh
# cli.sh - the capstone CLI against a real daemon: the README's lines with
# the CAPSTONE_* variables, exit statuses 0/1/2, --field, --json, and
# token init refusing to replace a master key.
set -eu
. "$(dirname "$0")/../lib/env.sh"

t_setup

CLI=$BUILD/capstone
export CAPSTONE_ADDR=https://127.0.0.1:$T_PORT
export CAPSTONE_CACERT=$T_DIR/pki/ca.crt
export CAPSTONE_CERT=$T_DIR/pki/admin.crt
export CAPSTONE_KEY=$T_DIR/pki/admin.key

# rc EXPECTED NAME CMD...: runs CMD (output in $T_TMP/out, err) and checks
# its exit status.
rc() {
	_want=$1
	_n=$2
	shift 2
	_rc=0
	"$@" >"$T_TMP/out" 2>"$T_TMP/err" || _rc=$?
	if [ "$_rc" = "$_want" ]; then
		t_ok "$_n"
	else
		t_fail "$_n" "expected exit $_want, got $_rc; stdout '$(t_short "$(cat "$T_TMP/out")")' stderr '$(t_short "$(cat "$T_TMP/err")")'"
	fi
}

rc 0 "domain create payments" "$CLI" domain create payments
rc 0 "secret put payments/db user=app password=s3cr3t" \
    "$CLI" secret put payments/db user=app password=s3cr3t
rc 0 "secret get payments/db" "$CLI" secret get payments/db
t_run "secret get prints the password" "stdout: $(t_short "$(cat "$T_TMP/out")")" \
    grep -q s3cr3t "$T_TMP/out"
t_run "secret get prints the user" "stdout: $(t_short "$(cat "$T_TMP/out")")" \
    grep -q app "$T_TMP/out"

rc 0 "secret get --field password" "$CLI" secret get payments/db --field password
printf 's3cr3t' >"$T_TMP/want1"
printf 's3cr3t\n' >"$T_TMP/want2"
if cmp -s "$T_TMP/out" "$T_TMP/want1" || cmp -s "$T_TMP/out" "$T_TMP/want2"; then
	t_ok "--field prints exactly the value"
else
	t_fail "--field prints exactly the value" "expected 's3cr3t', got bytes $(od -c "$T_TMP/out" | head -n 2 | tr '\n' ' ')"
fi

rc 0 "secret get --json" "$CLI" --json secret get payments/db
t_jq "--json get parses and holds the data" \
    '.data.password == "s3cr3t" and .data.user == "app" and .version == 1' "$T_TMP/out"
rc 0 "secret put --cas 1" "$CLI" secret put payments/db password=two --cas 1
rc 1 "secret put --cas 1 again is refused" "$CLI" secret put payments/db password=three --cas 1
rc 0 "secret get --version 1" "$CLI" secret get payments/db --version 1 --field password
t_eq "--version 1 value" s3cr3t "$(cat "$T_TMP/out")"
printf '{"user":"svc","password":"from stdin"}' >"$T_TMP/in.json"
rc 0 "secret put reads JSON from stdin" sh -c "'$CLI' secret put payments/stdin <'$T_TMP/in.json'"
rc 0 "secret get of the stdin secret" "$CLI" secret get payments/stdin --field password
t_eq "stdin secret value" "from stdin" "$(cat "$T_TMP/out")"
rc 0 "secret list --json" "$CLI" --json secret list payments
t_jq "--json list parses" '.names | sort == ["db","stdin"]' "$T_TMP/out"
rc 0 "secret versions --json" "$CLI" --json secret versions payments/db
t_jq "--json versions parses" '[.versions[].version] | sort == [1,2]' "$T_TMP/out"
rc 0 "domain list --json" "$CLI" --json domain list
t_jq "--json domain list parses" '.domains | index("payments") != null' "$T_TMP/out"
rc 0 "token status --json" "$CLI" --json token status
t_jq "--json token status parses" '.tokens[0].master_key.extractable == false' "$T_TMP/out"

rc 1 "missing secret exits 1" "$CLI" secret get payments/nope
rc 1 "missing domain exits 1" "$CLI" secret get nodomain/x
rc 1 "existing domain create exits 1" "$CLI" domain create payments
rc 2 "unknown verb exits 2" "$CLI" frobnicate
rc 2 "unknown secret verb exits 2" "$CLI" secret frobnicate payments/db
rc 2 "secret get without operand exits 2" "$CLI" secret get
rc 2 "secret get with a malformed name exits 2" "$CLI" secret get no-slash
rc 2 "unknown option exits 2" "$CLI" --bogus-option secret get payments/db
rc 0 "secret rm" "$CLI" secret rm payments/stdin
rc 1 "secret get after rm exits 1" "$CLI" secret get payments/stdin

# Flags override the environment.
rc 0 "--addr/--cert/--key/--cacert flags work" env -u CAPSTONE_ADDR -u CAPSTONE_CERT \
    -u CAPSTONE_KEY -u CAPSTONE_CACERT "$CLI" --addr "$CAPSTONE_ADDR" \
    --cert "$CAPSTONE_CERT" --key "$CAPSTONE_KEY" --cacert "$CAPSTONE_CACERT" \
    secret get payments/db --field password
rc 1 "a client certificate from another CA exits 1" "$CLI" \
    --cert "$T_DIR/pki/other.crt" --key "$T_DIR/pki/other.key" secret get payments/db
rc 1 "an unreachable daemon exits 1" "$CLI" --addr "https://127.0.0.1:$(t_free_port)" \
    secret get payments/db

rc 1 "token init a second time exits 1" "$CLI" token init -c "$T_DIR/capstoned.conf"
t_run "token init names the existing master key" "stderr: $(t_short "$(cat "$T_TMP/err")")" \
    grep -q -i 'already holds a master key' "$T_TMP/err"
t_run "the PIN is not echoed by token init" "the PIN appeared" \
    sh -c "! grep -q -F '$(cat "$T_DIR/pin")' '$T_TMP/err' '$T_TMP/out'"

t_stop_ok "daemon stops with status 0 on SIGTERM"
t_done
