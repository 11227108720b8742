#!/bin/sh
# vault_tpm.sh - the vault core on a TPM 2.0 token: tpm2-pkcs11 on a swtpm
# started here.  The master key is an RSA-3072 pair (the module has neither
# AES key generation nor key wrap), domain keys come from the TPM's RNG and
# are wrapped with RSA-OAEP; put, get, restart and get again.
#
# tpm2-pkcs11 without a resource manager never flushes the objects it loads,
# so swtpm is restarted (TPM2_Startup(CLEAR) on the same state) between the
# processes that use it, as a host reboot would.
set -eu
. "$(dirname "$0")/../lib/env.sh"

TPM_MODULE=/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so
if ! command -v swtpm >/dev/null 2>&1 || [ ! -f "$TPM_MODULE" ]; then
	t_fail "tpm prerequisites" "swtpm or $TPM_MODULE missing (tools/deps.sh installs them)"
	t_done
fi

T_DIR=$T_TMP/d
mkdir -p "$T_DIR/tpmstate" "$T_DIR/tpm2store" "$T_DIR/store"
TPM_PORT=$(t_free_port)
while ! python3 - "$((TPM_PORT + 1))" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.close()
PY
do
	TPM_PORT=$(t_free_port)
done
export TPM2_PKCS11_TCTI="swtpm:host=127.0.0.1,port=$TPM_PORT"
export TPM2_PKCS11_STORE="$T_DIR/tpm2store"
export TSS2_LOG="all+NONE"
TPM_PID=""

# tpm_start: swtpm on loopback with the state in $T_DIR/tpmstate; waits for
# its port with a deadline.
tpm_start() {
	swtpm socket --tpm2 --tpmstate "dir=$T_DIR/tpmstate" \
	    --server "type=tcp,port=$TPM_PORT,bindaddr=127.0.0.1" \
	    --ctrl "type=tcp,port=$((TPM_PORT + 1)),bindaddr=127.0.0.1" \
	    --flags not-need-init,startup-clear >>"$T_DIR/swtpm.log" 2>&1 &
	TPM_PID=$!
	t_track "$TPM_PID"
	python3 - "$TPM_PORT" <<'PY'
import socket, sys, time
deadline = time.time() + 10
while time.time() < deadline:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.5).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
PY
}

# An orderly TPM2_Shutdown first: a TPM stopped without one counts the
# restart as a dictionary-attack failure and soon locks out the user PIN.
tpm_restart() {
	tpm2_shutdown -T "$TPM2_PKCS11_TCTI" >>"$T_DIR/swtpm.log" 2>&1 || true
	kill "$TPM_PID" 2>/dev/null || true
	t_wait_exit "$TPM_PID" 10
	tpm_start
}

tpm_start || t_die "swtpm did not start"
t_ok "swtpm started"

# The token: C_InitToken and C_InitPIN through the module.
SO_PIN=$(t_rand_hex 8)
t_rand_hex 8 >"$T_DIR/pin"
chmod 600 "$T_DIR/pin"
# PINs go through the environment, never the command line.
if T_SO=$SO_PIN pkcs11-tool --module "$TPM_MODULE" --init-token \
    --label capstone --so-pin env:T_SO >"$T_DIR/init.log" 2>&1; then
	t_ok "tpm token initialised"
else
	t_die "pkcs11-tool --init-token failed: $(t_short "$(cat "$T_DIR/init.log")")"
fi
tpm_restart || t_die "swtpm restart failed"
T_SO=$SO_PIN T_PIN=$(cat "$T_DIR/pin") pkcs11-tool --module "$TPM_MODULE" \
    --token-label capstone --login --login-type so --so-pin env:T_SO \
    --init-pin --pin env:T_PIN >>"$T_DIR/init.log" 2>&1 || t_die "init-pin failed: $(t_short "$(cat "$T_DIR/init.log")")"
tpm_restart || t_die "swtpm restart failed"

t_pki "$T_DIR" >/dev/null 2>&1 || t_die "test PKI creation failed"
T_PORT=$(t_free_port)
T_MODULE=$TPM_MODULE
t_conf "$T_DIR" "$T_PORT" memory
sed -i 's/^sessions = .*/sessions = 1/' "$T_DIR/capstoned.conf"

if "$BUILD/capstone" token init -c "$T_DIR/capstoned.conf" >"$T_DIR/token-init.out" 2>&1; then
	t_ok "token init on the TPM"
else
	t_die "capstone token init failed: $(t_short "$(cat "$T_DIR/token-init.out")")"
fi
if grep -q "rsa-3072" "$T_DIR/token-init.out"; then
	t_ok "master key is the RSA-3072 OAEP fallback"
else
	t_fail "master key is the RSA-3072 OAEP fallback" "got: $(t_short "$(cat "$T_DIR/token-init.out")")"
fi
tpm_restart || t_die "swtpm restart failed"

# seal = token needs AES-GCM in the token: refused with a clear message.
sed 's/^mode = .*/mode = token/' "$T_DIR/capstoned.conf" >"$T_DIR/token-seal.conf"
if "$BUILD/capstoned" -c "$T_DIR/token-seal.conf" >"$T_DIR/seal-token.log" 2>&1; then
	t_fail "seal = token refused on the TPM" "capstoned started"
elif grep -qi "seal = token" "$T_DIR/seal-token.log" &&
    grep -qi "aes" "$T_DIR/seal-token.log"; then
	t_ok "seal = token refused on the TPM with the reason"
else
	t_fail "seal = token refused on the TPM with the reason" "log: $(t_short "$(cat "$T_DIR/seal-token.log")")"
fi
tpm_restart || t_die "swtpm restart failed"

T_START_TIMEOUT=60
t_run "capstoned starts on the TPM token" "see daemon.log" t_start_daemon "$T_DIR"
t_expect "create domain on TPM" 201 POST /v1/domains '{"name":"tpm"}'
V1=$(t_rand_hex 16)
V2=$(t_rand_hex 16)
t_expect "put v1" 200 PUT /v1/domains/tpm/secrets/db "{\"data\":{\"password\":\"$V1\"}}"
t_expect "put v2" 200 PUT /v1/domains/tpm/secrets/db "{\"data\":{\"password\":\"$V2\"}}"
t_expect "get latest" 200 GET /v1/domains/tpm/secrets/db
t_eq "latest reads back" "$V2" "$(t_json_get "$T_BODY" .data.password)"
t_expect "get version 1" 200 GET '/v1/domains/tpm/secrets/db?version=1'
t_eq "version 1 reads back" "$V1" "$(t_json_get "$T_BODY" .data.password)"
t_expect "tokens report" 200 GET /v1/sys/tokens
t_eq "master key kind reported" "rsa-3072" "$(t_json_get "$T_BODY" '.tokens[0].master_key.kind')"
t_eq "master key not extractable" "false" "$(t_json_get "$T_BODY" '.tokens[0].master_key.extractable')"
t_eq "master key sensitive" "true" "$(t_json_get "$T_BODY" '.tokens[0].master_key.sensitive')"
t_stop_ok "daemon stops cleanly"

tpm_restart || t_die "swtpm restart failed"
t_run "capstoned restarts on the TPM token" "see daemon.log" t_start_daemon "$T_DIR"
t_expect "get after restart" 200 GET /v1/domains/tpm/secrets/db
t_eq "latest survives restart" "$V2" "$(t_json_get "$T_BODY" .data.password)"
t_expect "get v1 after restart" 200 GET '/v1/domains/tpm/secrets/db?version=1'
t_eq "version 1 survives restart" "$V1" "$(t_json_get "$T_BODY" .data.password)"
t_stop_ok "daemon stops cleanly after restart"

for f in "$T_DIR"/store/* "$T_DIR/daemon.log" "$T_DIR/audit.log"; do
	[ -f "$f" ] || continue
	if grep -aq -e "$V1" -e "$V2" "$f"; then
		t_fail "plaintext absent from $(basename "$f")" "found a written value"
	else
		t_ok "plaintext absent from $(basename "$f")"
	fi
done
t_done
