#!/bin/sh
# lifecycle.sh - the certificate scheduler through the daemon with a local
# CA ([certs] scan_interval = 1s, renew_fraction = 0.5, thresholds 20s and
# 10s, a webhook served by a small python3 HTTP server): a 30 s auto_renew
# certificate is renewed with a new key (new serial, the old serial and key
# in its history, its expiry in /v1/sys/metrics), the webhook receives an
# expiry alert, the superseded key is destroyed once the old certificate
# has expired, and an 8 s certificate without auto_renew becomes expired.
set -eu
. "$(dirname "$0")/../lib/env.sh"

t_prepare

# The webhook: every POST body is appended as one line to hooks.jsonl.
HOOK_PORT=$(t_free_port) || t_die "no free port"
HOOKS=$T_TMP/hooks.jsonl
: >"$HOOKS"
cat >"$T_TMP/hook.py" <<'EOF'
import http.server, sys
out = sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(min(n, 65536)).decode("utf-8", "replace")
        with open(out, "a") as f:
            f.write(body.replace("\n", " ") + "\n")
        self.send_response(204)
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
python3 "$T_TMP/hook.py" "$HOOK_PORT" "$HOOKS" 2>"$T_TMP/hook.log" &
t_track $!

cat >>"$T_DIR/capstoned.conf" <<EOF

[certs]
scan_interval = 1s
renew_fraction = 0.5
renew_new_key = yes
alert_thresholds = 20s,10s
webhook = http://127.0.0.1:$HOOK_PORT/hook
EOF
t_start_daemon "$T_DIR" || t_die "capstoned did not start"

t_expect "create a local CA" 201 POST /v1/cas \
    '{"name":"life","protocol":"local","subject":"CN=Lifecycle Root","key":{"type":"ec-p256"}}'

t_expect "enroll a 30 s auto_renew certificate" 201 POST /v1/certs \
    '{"ca":"life","subject":"CN=renew-me","sans":["DNS:renew.example"],"validity":"30s","auto_renew":true,"key":{"type":"ec-p256"}}'
A=$(t_json_get "$T_BODY" .id)
A_SERIAL=$(t_json_get "$T_BODY" .serial)
A_KEY=$(t_json_get "$T_BODY" .key_id)
t_jq "the auto_renew certificate is issued" \
    '.status == "issued" and .auto_renew == true and (.serial | length > 0)'

t_expect "enroll an 8 s certificate without auto_renew" 201 POST /v1/certs \
    '{"ca":"life","subject":"CN=let-me-expire","validity":"8s","key":{"type":"ec-p256"}}'
B=$(t_json_get "$T_BODY" .id)
B_SERIAL=$(t_json_get "$T_BODY" .serial)

t_api GET "/v1/keys/$A_KEY" >/dev/null
t_eq "the first key is in the inventory" 200 "$T_STATUS"

# Poll (no fixed sleeps): renewal is due 15 s after issue, B expires after
# 8 s, the 20 s alert of A fires after 10 s.
renewed=0 expired=0 hooked=0
deadline=$(($(date +%s) + 60))
while [ "$(date +%s)" -lt "$deadline" ]; do
	if [ $renewed = 0 ]; then
		t_api GET "/v1/certs/$A" >/dev/null
		if jq -e --arg s "$A_SERIAL" \
		    '.status == "issued" and .serial != $s' "$T_BODY" \
		    >/dev/null 2>&1; then
			renewed=1
			cp "$T_BODY" "$T_TMP/renewed.json"
		fi
	fi
	if [ $expired = 0 ]; then
		t_api GET "/v1/certs/$B" >/dev/null
		jq -e '.status == "expired"' "$T_BODY" >/dev/null 2>&1 &&
		    expired=1
	fi
	if [ $hooked = 0 ] && jq -e --arg id "$A" \
	    'select(.event == "certificate_expiring" and .id == $id)' \
	    "$HOOKS" >/dev/null 2>&1; then
		hooked=1
	fi
	[ $renewed = 1 ] && [ $expired = 1 ] && [ $hooked = 1 ] && break
	sleep 0.5
done

t_eq "the scheduler renewed the auto_renew certificate" 1 "$renewed"
if [ $renewed = 1 ]; then
	t_jq "renewed: a new serial and a new key" \
	    "(.serial != \"$A_SERIAL\") and (.key_id != \"$A_KEY\") and (.key_id | length == 32)" \
	    "$T_TMP/renewed.json"
	t_jq "renewed: the old serial and key are in the history as superseded" \
	    "[.history[] | select(.event == \"superseded\" and .serial == \"$A_SERIAL\" and .key_id == \"$A_KEY\")] | length == 1" \
	    "$T_TMP/renewed.json"
	NEW_KEY=$(t_json_get "$T_TMP/renewed.json" .key_id)
	t_api GET "/v1/keys/$NEW_KEY" >/dev/null
	t_eq "renewed: the new key is in the token's inventory" 200 "$T_STATUS"
fi
t_eq "the 8 s certificate without auto_renew is marked expired" 1 "$expired"
t_api GET "/v1/certs/$B" >/dev/null
t_jq "expired: the serial is unchanged and the history says expired" \
    "(.serial == \"$B_SERIAL\") and ([.history[] | select(.event == \"expired\")] | length == 1)"

t_eq "the webhook received an expiry alert for the certificate" 1 "$hooked"
if [ $hooked = 1 ]; then
	jq -c --arg id "$A" 'select(.id == $id)' "$HOOKS" | head -n 1 \
	    >"$T_TMP/hook1.json"
	t_jq "the webhook alert has every field" \
	    '(.event == "certificate_expiring") and (.subject == "CN=renew-me") and (.ca == "life") and (.serial | length > 0) and (.not_after | test("Z$")) and (.threshold == 20 or .threshold == 10) and (.seconds_left > 0) and (.seconds_left <= .threshold)' \
	    "$T_TMP/hook1.json"
fi
t_api GET "/v1/certs/$A" >/dev/null
t_jq "the alert is in the certificate's history" \
    '[.history[] | select(.event == "alert")] | length >= 1'
if grep -q 'expires in' "$T_DIR/daemon.log"; then
	t_ok "the alert is logged"
else
	t_fail "the alert is logged" "no 'expires in' line in the daemon log"
fi

t_api GET /v1/sys/metrics >/dev/null
t_eq "metrics answer" 200 "$T_STATUS"
if grep -q "^capstone_cert_expiry_seconds{id=\"$A\"" "$T_BODY"; then
	t_ok "metrics: capstone_cert_expiry_seconds for the renewed certificate"
else
	t_fail "metrics: capstone_cert_expiry_seconds for the renewed certificate" \
	    "$(t_short "$(grep capstone_cert_expiry "$T_BODY")")"
fi

# The superseded key goes once the certificate it served has expired
# (30 s after its issue).
gone=0
deadline=$(($(date +%s) + 60))
while [ "$(date +%s)" -lt "$deadline" ]; do
	t_api GET "/v1/keys/$A_KEY" >/dev/null
	if [ "$T_STATUS" = 404 ]; then
		gone=1
		break
	fi
	sleep 0.5
done
t_eq "the superseded key is destroyed once its certificate has expired" 1 "$gone"

if grep -qF -e "$(cat "$T_DIR/pin")" "$T_DIR/daemon.log"; then
	t_fail "no PIN in the daemon log" "the PIN appears"
else
	t_ok "no PIN in the daemon log"
fi

t_stop_ok "the daemon stops cleanly with the scheduler running"
t_done
