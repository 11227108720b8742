#!/bin/sh
# sighup.sh - SIGHUP reloads the TLS material: a replaced server
# certificate (same key, new serial) is what new connections see, the
# daemon keeps serving, and a broken file leaves the old material in use.
set -eu
. "$(dirname "$0")/../lib/env.sh"

t_setup
P=$T_DIR/pki

# served_serial: the serial of the certificate a new connection sees.
served_serial() {
	openssl s_client -connect "127.0.0.1:$T_PORT" -CAfile "$P/ca.crt" \
	    -cert "$P/admin.crt" -key "$P/admin.key" </dev/null 2>/dev/null |
	    openssl x509 -noout -serial 2>/dev/null | sed 's/^serial=//'
}
file_serial() {
	openssl x509 -noout -serial -in "$1" | sed 's/^serial=//'
}

# wait_serial WANT: polls new connections for up to 20 s; prints the last.
wait_serial() {
	n=0
	while :; do
		s=$(served_serial)
		if [ "$s" = "$1" ] || [ $n -ge 200 ]; then
			echo "$s"
			return 0
		fi
		n=$((n + 1))
		sleep 0.1
	done
}

old=$(file_serial "$P/server.crt")
t_eq "the served certificate is server.crt" "$old" "$(served_serial)"

# A new certificate for the same key, written atomically over the old one.
openssl x509 -req -in "$P/server.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" \
    -set_serial "0x$(t_rand_hex 8)" -days 30 -sha256 -extfile "$P/server.ext" \
    -out "$P/server.crt.new" 2>/dev/null
new=$(file_serial "$P/server.crt.new")
mv "$P/server.crt.new" "$P/server.crt"
t_run "the new certificate has a new serial" "old $old new $new" test "$old" != "$new"
t_eq "without SIGHUP the old certificate is still served" "$old" "$(served_serial)"

kill -HUP "$T_DAEMON_PID"
t_eq "after SIGHUP a new connection sees the new serial" "$new" "$(wait_serial "$new")"
t_expect "the API still answers after the reload" 200 GET /v1/sys/health

# A broken certificate file: the reload fails and the old material stays.
cp "$P/server.crt" "$P/server.crt.good"
echo "not a certificate" >"$P/server.crt"
size=$(wc -c <"$T_DIR/daemon.log")
kill -HUP "$T_DAEMON_PID"
# The failed reload is logged; wait (up to 10 s) for the log to grow.
n=0
while [ "$(wc -c <"$T_DIR/daemon.log")" -le "$size" ] && [ $n -lt 100 ]; do
	n=$((n + 1))
	sleep 0.1
done
t_run "a failed reload is logged" "daemon.log did not grow" \
    test "$(wc -c <"$T_DIR/daemon.log")" -gt "$size"
t_expect "a failed reload keeps the daemon serving" 200 GET /v1/sys/health
t_eq "a failed reload keeps the previous certificate" "$new" "$(served_serial)"
mv "$P/server.crt.good" "$P/server.crt"

t_run "the daemon is still running" "it exited" kill -0 "$T_DAEMON_PID"
t_stop_ok "daemon stops with status 0 on SIGTERM"
t_done
