#!/bin/sh
# concurrency.sh - many clients at once: each of C clients loops for S
# seconds writing a unique value to its own secret and reading it straight
# back on the same connection; no request may fail or return another
# client's (or an older) value, and every final value reads back.
set -eu
. "$(dirname "$0")/../lib/env.sh"

C=${T_CONC_CLIENTS:-64}
S=${T_CONC_SECONDS:-20}

t_setup

t_expect "create domain" 201 POST /v1/domains '{"name":"conc"}'

U=https://127.0.0.1:$T_PORT/v1/domains/conc/secrets
TLS="--cacert $T_DIR/pki/ca.crt --cert $T_DIR/pki/admin.crt --key $T_DIR/pki/admin.key"

# client I: runs until the deadline; writes "iterations errors last-value"
# to c.I.  Values are V<I>x<n>Z so that no value is a substring of another.
client() {
	d=$T_TMP/c.$1
	mkdir -p "$d"
	n=0
	errs=0
	last=""
	end=$(($(date +%s) + S))
	while [ "$(date +%s)" -lt $end ]; do
		v=V${1}x${n}Z
		printf '{"data":{"v":"%s"}}' "$v" >"$d/body"
		# shellcheck disable=SC2086
		codes=$(curl -s --max-time 120 $TLS -X PUT -H 'Expect:' \
		    -H 'Content-Type: application/json' --data-binary "@$d/body" \
		    -o "$d/put" -w '%{http_code} ' "$U/s$1" \
		    --next $TLS -o "$d/get" -w '%{http_code}' "$U/s$1") || true
		if [ "$codes" = "200 200" ] && grep -q -F "\"$v\"" "$d/get"; then
			last=$v
		else
			errs=$((errs + 1))
			[ $errs -le 3 ] &&
			    echo "# client $1 iteration $n: codes '$codes' get '$(t_short "$(cat "$d/get" 2>/dev/null)")'" >&2
			# The write may have landed without an answer: what is stored
			# is unknown until the next good round.
			last=""
		fi
		n=$((n + 1))
	done
	echo "$n $errs $last" >"$T_TMP/c.$1.result"
}

i=0
pids=""
while [ $i -lt "$C" ]; do
	client $i 2>>"$T_TMP/clients.err" &
	t_track $!
	pids="$pids $!"
	i=$((i + 1))
done
for p in $pids; do
	t_wait_exit "$p" $((S + 120))
done

total=0
errors=0
missing=0
bad=0
i=0
while [ $i -lt "$C" ]; do
	if [ ! -f "$T_TMP/c.$i.result" ]; then
		missing=$((missing + 1))
	else
		read -r n e last <"$T_TMP/c.$i.result" || true
		total=$((total + n))
		errors=$((errors + e))
		if [ -n "${last:-}" ]; then
			t_api GET "/v1/domains/conc/secrets/s$i" >/dev/null
			got=$(t_json_get "$T_BODY" .data.v)
			[ "$T_STATUS" = 200 ] && [ "$got" = "$last" ] || bad=$((bad + 1))
		else
			bad=$((bad + 1))
		fi
		last=""
	fi
	i=$((i + 1))
done
echo "# $C clients, $S s: $total put+get rounds, $errors errors"
sed -n '1,10p' "$T_TMP/clients.err"
t_eq "every client finished" 0 "$missing"
t_run "clients made progress" "only $total rounds" test "$total" -ge "$C"
t_eq "no failed or mismatched round" 0 "$errors"
t_eq "every client's final value reads back" 0 "$bad"
t_expect "daemon healthy after the load" 200 GET /v1/sys/health
t_stop_ok "daemon stops with status 0 on SIGTERM"
t_done
