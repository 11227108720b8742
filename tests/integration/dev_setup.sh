#!/bin/sh
# dev_setup.sh - the `make run` flow: tools/dev-setup.sh builds a dev
# environment in an empty DEV_DIR, starts capstoned in the foreground and
# prints CLI lines that work as printed; a second run reuses the token,
# keys, PKI and master key.
set -eu
. "$(dirname "$0")/../lib/env.sh"

[ -x "$BUILD/capstoned" ] || t_die "$BUILD/capstoned not built"
DEV=$T_TMP/dev
T_DIR=$DEV
T_PORT=$(t_free_port)

# run_dev N: starts dev-setup.sh in the background (output in run.N.out)
# and waits for health; T_DAEMON_PID is the daemon (the script execs it).
run_dev() {
	sh "$T_ROOT/tools/dev-setup.sh" "$BUILD" "$DEV" "$T_PORT" \
	    >"$T_TMP/run.$1.out" 2>&1 &
	T_DAEMON_PID=$!
	t_track "$T_DAEMON_PID"
	n=0
	while ! t_health; do
		if t_pid_exited "$T_DAEMON_PID" || [ $n -ge $((T_START_TIMEOUT * 10 + 300)) ]; then
			echo "# dev-setup run $1 did not come up:" >&2
			sed 's/^/# /' "$T_TMP/run.$1.out" >&2
			return 1
		fi
		n=$((n + 1))
		sleep 0.1
	done
}

# objects: "label count" for every object in the dev token.
objects() {
	SOFTHSM2_CONF=$DEV/softhsm2.conf t_p11 "$DEV" --token-label capstone \
	    --list-objects 2>/dev/null | sed -n 's/^ *label: *//p' | sort | uniq -c |
	    awk '{ print $2, $1 }'
}

t_run "first run comes up healthy" "see the output above" run_dev 1
for f in softhsm2.conf pin so-pin pki/ca.crt pki/server.crt pki/admin.crt \
    pki/admin.key capstoned.conf; do
	t_run "first run created $f" "missing" test -s "$DEV/$f"
done
for f in pin so-pin pki/admin.key; do
	t_eq "$f is mode 0600" 600 "$(stat -c %a "$DEV/$f")"
done
t_run "the PINs are not in the banner" "a PIN was printed" \
    sh -c "! grep -q -F -e '$(cat "$DEV/pin")' -e '$(cat "$DEV/so-pin")' '$T_TMP/run.1.out'"
t_run "tls_key is a pkcs11: URI" "$(grep tls_key "$DEV/capstoned.conf" || true)" \
    grep -q '^tls_key = pkcs11:' "$DEV/capstoned.conf"
t_run "no private key file for the CA or server" "found one" \
    sh -c "! ls '$DEV/pki' | grep -q -e '^ca.key' -e '^server.key'"
t_run "server certificate chains to the dev CA" "openssl verify failed" \
    sh -c "openssl verify -CAfile '$DEV/pki/ca.crt' '$DEV/pki/server.crt' >/dev/null"

objects >"$T_TMP/objects.1"
t_eq "token holds one master key" "capstone-master 1" "$(grep '^capstone-master ' "$T_TMP/objects.1" || true)"
t_run "token holds the CA key pair" "$(t_short "$(cat "$T_TMP/objects.1")")" \
    grep -q '^capstone-dev-ca 2$' "$T_TMP/objects.1"
t_run "token holds the TLS key pair" "$(t_short "$(cat "$T_TMP/objects.1")")" \
    grep -q '^capstone-tls 2$' "$T_TMP/objects.1"

# The banner's lines, run as printed.
grep '^ *export CAPSTONE_ADDR=' "$T_TMP/run.1.out" | sed 's/^ *//' >"$T_TMP/lines.sh"
grep '/capstone \(domain\|secret\) ' "$T_TMP/run.1.out" | sed 's/^ *//' >>"$T_TMP/lines.sh"
t_eq "banner prints an export line and three CLI lines" 4 "$(wc -l <"$T_TMP/lines.sh")"
rc=0
env -u CAPSTONE_ADDR -u CAPSTONE_CERT -u CAPSTONE_KEY -u CAPSTONE_CACERT \
    sh -e "$T_TMP/lines.sh" >"$T_TMP/lines.out" 2>&1 || rc=$?
t_eq "the banner's lines run with exit 0" 0 "$rc"
t_run "the printed secret get shows the password" "output: $(t_short "$(cat "$T_TMP/lines.out")")" \
    grep -q s3cr3t "$T_TMP/lines.out"

t_stop_ok "dev daemon stops with status 0 on SIGTERM"
sum1=$(cat "$DEV/pki/ca.crt" "$DEV/pki/server.crt" "$DEV/pki/admin.crt" "$DEV/pin" | sha256sum)

t_run "second run comes up healthy" "see the output above" run_dev 2
sum2=$(cat "$DEV/pki/ca.crt" "$DEV/pki/server.crt" "$DEV/pki/admin.crt" "$DEV/pin" | sha256sum)
t_eq "second run reuses PIN and certificates" "$sum1" "$sum2"
objects >"$T_TMP/objects.2"
t_eq "second run makes no new token objects" "$(cat "$T_TMP/objects.1")" "$(cat "$T_TMP/objects.2")"
t_run "second run does not create a master key" "output: $(t_short "$(cat "$T_TMP/run.2.out")")" \
    sh -c "! grep -q 'creating the master key' '$T_TMP/run.2.out'"
t_expect "the secret survives the second run" 200 GET /v1/domains/payments/secrets/db
t_eq "the secret's password" s3cr3t "$(t_json_get "$T_BODY" .data.password)"
t_stop_ok "second dev daemon stops with status 0"
t_done
