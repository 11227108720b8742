#!/bin/sh
# flow.sh - flow control towards a CA through the daemon.
#  1. A local CA limited to 5 requests/s (burst 5), 2 in flight and a
#     queue of 5: a burst of 50 concurrent enrollments gets 429s with
#     Retry-After, the admitted ones (201/202) all end issued, and the CA
#     never saw more than 2 requests in flight.
#  2. A CA limited to 1 request/s with a queue of 20: the daemon is killed
#     (SIGKILL) while enrollments wait in its queue; after a restart on the
#     same store every pending request completes.
set -eu
. "$(dirname "$0")/../lib/env.sh"

t_setup

CURL="curl -s --max-time 60 --cacert $T_DIR/pki/ca.crt --cert $T_DIR/pki/admin.crt --key $T_DIR/pki/admin.key -H Content-Type:application/json -H Expect:"
URL=https://127.0.0.1:$T_PORT

t_expect "create a rate-limited local CA" 201 POST /v1/cas \
    '{"name":"flow","protocol":"local","subject":"CN=Flow Root","key":{"type":"ec-p256"},"limits":{"rate":5,"burst":5,"max_in_flight":2,"queue":5}}'

# Background curl jobs are waited for by their pids: a plain `wait` would
# wait for the daemon too.
jobs_wait() {
	for p in $JOBS; do
		wait "$p" || true
	done
	JOBS=""
}

# ---- 1. a burst of 50 ----
mkdir -p "$T_TMP/burst"
JOBS=""
i=0
while [ $i -lt 50 ]; do
	$CURL -o "$T_TMP/burst/$i.body" -D "$T_TMP/burst/$i.hdr" \
	    -w '%{http_code}' -X POST \
	    --data-binary "{\"ca\":\"flow\",\"subject\":\"CN=burst-$i\",\"key\":{\"type\":\"ec-p256\"}}" \
	    "$URL/v1/certs" >"$T_TMP/burst/$i.code" 2>/dev/null &
	JOBS="$JOBS $!"
	i=$((i + 1))
done
jobs_wait

n429=0 nacc=0 nother=0 noretry=0
: >"$T_TMP/accepted"
i=0
while [ $i -lt 50 ]; do
	code=$(cat "$T_TMP/burst/$i.code")
	case $code in
	429)
		n429=$((n429 + 1))
		grep -qi '^retry-after: *[1-9][0-9]*' "$T_TMP/burst/$i.hdr" ||
		    noretry=$((noretry + 1))
		;;
	201 | 202)
		nacc=$((nacc + 1))
		t_json_get "$T_TMP/burst/$i.body" .id >>"$T_TMP/accepted"
		;;
	*)
		nother=$((nother + 1))
		echo "$i: $code $(cat "$T_TMP/burst/$i.body")" >>"$T_TMP/other"
		;;
	esac
	i=$((i + 1))
done
echo "# burst: $nacc accepted, $n429 rate limited, $nother other"
t_check "burst: some requests are refused with 429" "$([ $n429 -gt 0 ]; echo $?)" \
    "no 429 among 50"
t_eq "burst: every 429 carries Retry-After" 0 "$noretry"
t_check "burst: some requests are accepted" "$([ $nacc -gt 0 ]; echo $?)" \
    "none accepted"
t_eq "burst: every answer is 201, 202 or 429" 0 "$nother"
[ "$nother" = 0 ] || cat "$T_TMP/other" | head -n 5 | sed 's/^/# /'

# The admitted ones all end issued.
deadline=$(($(date +%s) + 20))
left=$nacc
while [ "$(date +%s)" -lt "$deadline" ]; do
	left=0
	while read -r id; do
		t_api GET "/v1/certs/$id" >/dev/null
		jq -e '.status == "issued"' "$T_BODY" >/dev/null 2>&1 ||
		    left=$((left + 1))
	done <"$T_TMP/accepted"
	[ $left = 0 ] && break
	sleep 0.5
done
t_eq "burst: every accepted request ends issued" 0 "$left"
t_api GET "/v1/certs?ca=flow" >/dev/null
t_jq "burst: the refused requests left nothing in the inventory" \
    "(.certs | length) == $nacc"

t_api GET /v1/sys/metrics >/dev/null
maxf=$(sed -n 's/^capstone_ca_in_flight_max{ca="flow"} \([0-9]*\)$/\1/p' "$T_BODY")
rl=$(sed -n 's/^capstone_ca_requests_total{ca="flow",outcome="rate_limited"} \([0-9]*\)$/\1/p' "$T_BODY")
echo "# max in flight at the CA: $maxf, rate limited: $rl"
t_check "burst: the CA never had more than 2 requests in flight" \
    "$([ -n "$maxf" ] && [ "$maxf" -ge 1 ] && [ "$maxf" -le 2 ]; echo $?)" \
    "capstone_ca_in_flight_max is '$maxf'"
t_eq "burst: metrics count the 429s" "$n429" "$rl"

# ---- 2. kill -9 with requests pending ----
t_expect "create a slow local CA (1/s, queue 20)" 201 POST /v1/cas \
    '{"name":"slow","protocol":"local","subject":"CN=Slow Root","key":{"type":"ec-p256"},"limits":{"rate":1,"burst":1,"max_in_flight":1,"queue":20}}'
mkdir -p "$T_TMP/slow"
i=0
while [ $i -lt 12 ]; do
	$CURL -o "$T_TMP/slow/$i.body" -w '%{http_code}' -X POST \
	    --data-binary "{\"ca\":\"slow\",\"subject\":\"CN=slow-$i\",\"key\":{\"type\":\"ec-p256\"}}" \
	    "$URL/v1/certs" >"$T_TMP/slow/$i.code" 2>/dev/null &
	JOBS="$JOBS $!"
	i=$((i + 1))
done

# Wait until all 12 are recorded and some still wait in the queue.
pending=0
deadline=$(($(date +%s) + 15))
while [ "$(date +%s)" -lt "$deadline" ]; do
	t_api GET "/v1/certs?ca=slow" >/dev/null
	total=$(jq '.certs | length' "$T_BODY" 2>/dev/null || echo 0)
	pending=$(jq '[.certs[] | select(.status == "pending")] | length' \
	    "$T_BODY" 2>/dev/null || echo 0)
	[ "$total" = 12 ] && [ "$pending" -ge 5 ] && break
	sleep 0.2
done
t_check "slow CA: requests are pending before the kill" \
    "$([ "$total" = 12 ] && [ "$pending" -ge 5 ]; echo $?)" \
    "$total recorded, $pending pending"
t_kill_daemon
jobs_wait
t_api GET "/v1/sys/health" >/dev/null
t_eq "the daemon is gone" 000 "$T_STATUS"

t_start_daemon "$T_DIR" || t_die "capstoned did not restart"
t_api GET "/v1/certs?ca=slow" >/dev/null
t_jq "after the restart the 12 requests are still recorded" \
    '(.certs | length) == 12'
if grep -q 'pending requests resumed' "$T_DIR/daemon.log"; then
	t_ok "the restarted daemon resumed the pending requests"
else
	t_fail "the restarted daemon resumed the pending requests" \
	    "no 'pending requests resumed' in the log"
fi

deadline=$(($(date +%s) + 30))
notdone=12
while [ "$(date +%s)" -lt "$deadline" ]; do
	t_api GET "/v1/certs?ca=slow" >/dev/null
	notdone=$(jq '[.certs[] | select(.status != "issued")] | length' \
	    "$T_BODY" 2>/dev/null || echo 12)
	[ "$notdone" = 0 ] && break
	sleep 0.5
done
t_eq "every request pending at the kill completes after the restart" 0 "$notdone"
t_jq "each completed request has a certificate" \
    '[.certs[] | select(.status == "issued" and (.serial | length > 0))] | length == 12'

t_stop_ok "the daemon stops cleanly"
t_done
