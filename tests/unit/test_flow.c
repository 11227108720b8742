/*
 * test_flow.c - per-CA flow control: token bucket arithmetic, backoff,
 * queue bounds with Retry-After, the in-flight limit under a burst, and
 * retries of a CA that is down.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ca/flow.h"
#include "common/err.h"
#include "common/util.h"
#include "tests/unit/harness.h"

static void
test_bucket(void)
{
	struct flow_bucket b;
	int i, taken = 0;

	flow_bucket_init(&b, 5.0, 5.0, 1000);
	for (i = 0; i < 10; i++)
		taken += flow_bucket_take(&b, 1000);
	TH_EQ_INT(taken, 5, "bucket: a full bucket gives burst tokens");
	TH_EQ_INT(flow_bucket_wait_ms(&b, 1000, 1.0), 200,
	    "bucket: next token in 1/rate s");
	TH_EQ_INT(flow_bucket_take(&b, 1199), 0, "bucket: not before 200 ms");
	TH_EQ_INT(flow_bucket_take(&b, 1200), 1, "bucket: one token at 200 ms");
	TH_EQ_INT(flow_bucket_wait_ms(&b, 1300, 1.0), 100,
	    "bucket: partial refill counted");
	taken = 0;
	for (i = 0; i < 10; i++)
		taken += flow_bucket_take(&b, 100000);
	TH_EQ_INT(taken, 5, "bucket: refill capped at burst");
	flow_bucket_init(&b, 0, 0, 0);
	TH_EQ_INT(flow_bucket_take(&b, 0), 1, "bucket: rate 0 is unlimited");
	TH_EQ_INT(flow_backoff_ms(1), 1000, "backoff: first retry 1 s");
	TH_EQ_INT(flow_backoff_ms(3), 4000, "backoff: doubles");
	TH_EQ_INT(flow_backoff_ms(30), FLOW_BACKOFF_MAX_MS, "backoff: capped");
}

struct tjob {
	struct flow_job	 j;
	atomic_int	*cur, *max, *done;
	int		 fail_first;	/* CAP_ERR_UNAVAILABLE on run 1 */
	int		 result;
};

static int
tjob_run(struct flow_job *j)
{
	struct tjob *t = (struct tjob *)j;
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	int c, m;

	if (t->fail_first && j->attempts == 1)
		return CAP_ERR_UNAVAILABLE;
	c = atomic_fetch_add(t->cur, 1) + 1;
	while ((m = atomic_load(t->max)) < c &&
	    !atomic_compare_exchange_weak(t->max, &m, c))
		;
	nanosleep(&ts, NULL);
	atomic_fetch_sub(t->cur, 1);
	return 0;
}

static void
tjob_done(struct flow_job *j, int r)
{
	struct tjob *t = (struct tjob *)j;

	t->result = r;
	atomic_fetch_add(t->done, 1);
}

static void
test_burst(void)
{
	struct flow_limits lim = { 5.0, 5, 2, 5, 0, 0 };
	struct tjob jobs[50];
	struct flow_stats st;
	atomic_int cur, max, done;
	flow *f = NULL;
	uint32_t ra, ra_min = 99, ra_max = 0;
	int i, accepted = 0, refused = 0, r, extra;
	uint64_t deadline, t0;

	atomic_init(&cur, 0);
	atomic_init(&max, 0);
	atomic_init(&done, 0);
	t0 = cap_now_ms();
	if (flow_new("test", &lim, &f) != 0) {
		th_check(0, "burst: flow_new", "failed");
		return;
	}
	memset(jobs, 0, sizeof(jobs));
	for (i = 0; i < 50; i++) {
		jobs[i].j.run = tjob_run;
		jobs[i].j.done = tjob_done;
		jobs[i].cur = &cur;
		jobs[i].max = &max;
		jobs[i].done = &done;
		r = flow_submit(f, &jobs[i].j, &ra);
		if (r == 0)
			accepted++;
		else if (r == CAP_ERR_RATE) {
			refused++;
			if (ra < ra_min)
				ra_min = ra;
			if (ra > ra_max)
				ra_max = ra;
		}
	}
	/*
	 * burst + queue; a loop slower than 200 ms (a loaded machine) sees
	 * a token come back and may admit one more per 200 ms.
	 */
	extra = (int)((cap_now_ms() - t0) * 5 / 1000);
	th_check(accepted >= 10 && accepted <= 10 + extra, "burst: burst + "
	    "queue admitted", "admitted %d, expected 10 (+%d at most for "
	    "tokens refilled meanwhile)", accepted, extra);
	TH_EQ_INT(refused, 50 - accepted, "burst: the rest refused with "
	    "CAP_ERR_RATE");
	th_check(ra_min >= 1 && ra_max <= 2, "burst: Retry-After is the "
	    "wait for the next token", "min %u max %u", ra_min, ra_max);
	deadline = cap_now_ms() + 10000;
	while (atomic_load(&done) < accepted && cap_now_ms() < deadline) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	TH_EQ_INT(atomic_load(&done), accepted, "burst: all admitted complete");
	th_check(atomic_load(&max) <= 2, "burst: never more than "
	    "max_in_flight at the CA", "saw %d", atomic_load(&max));
	flow_get_stats(f, &st);
	th_check(st.max_in_flight_seen <= 2 &&
	    st.ok == (uint64_t)accepted &&
	    st.rate_limited == (uint64_t)refused && st.queued == 0,
	    "burst: statistics", "max %u ok %llu limited %llu queued %u",
	    st.max_in_flight_seen, (unsigned long long)st.ok,
	    (unsigned long long)st.rate_limited, st.queued);
	flow_free(f);
}

static void
test_retry(void)
{
	struct flow_limits lim = { 0, 0, 1, 0, 3, 1 };
	struct tjob t;
	struct flow_stats st;
	atomic_int cur, max, done;
	flow *f = NULL;
	uint64_t t0, deadline;
	uint32_t ra;

	atomic_init(&cur, 0);
	atomic_init(&max, 0);
	atomic_init(&done, 0);
	if (flow_new("down", &lim, &f) != 0) {
		th_check(0, "retry: flow_new", "failed");
		return;
	}
	memset(&t, 0, sizeof(t));
	t.j.run = tjob_run;
	t.j.done = tjob_done;
	t.cur = &cur;
	t.max = &max;
	t.done = &done;
	t.fail_first = 1;
	t.result = -100;
	t0 = cap_now_ms();
	TH_EQ_INT(flow_submit(f, &t.j, &ra), 0, "retry: admitted");
	deadline = t0 + 5000;
	while (atomic_load(&done) == 0 && cap_now_ms() < deadline) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	TH_EQ_INT(t.result, 0, "retry: succeeded on the second run");
	TH_EQ_INT(t.j.attempts, 2, "retry: two runs");
	th_check(cap_now_ms() - t0 >= FLOW_BACKOFF_MIN_MS,
	    "retry: waited out the backoff", "%llu ms",
	    (unsigned long long)(cap_now_ms() - t0));
	flow_get_stats(f, &st);
	TH_EQ_INT(st.unavailable, 1, "retry: the down CA counted");
	flow_free(f);
}

int
main(void)
{
	test_bucket();
	test_burst();
	test_retry();
	return th_done();
}
