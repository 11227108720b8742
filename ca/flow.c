/*
 * flow.c - per-CA token bucket, in-flight limit, bounded queue and the
 * threads that run connector calls.
 *
 * One mutex guards the state; threads sleep on one condition variable
 * with a deadline (the next token, or the next retry), so no thread spins
 * and a submission wakes one of them.  The queue is FIFO except that a
 * job waiting out its backoff is passed over by the jobs behind it.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ca/flow.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"

#define FLOW_THREADS_MAX	16
#define FLOW_NAME_MAX		128

struct flow {
	char			 name[FLOW_NAME_MAX + 1];
	struct flow_limits	 lim;
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cv;
	struct flow_bucket	 bucket;
	struct flow_job		*head, *tail;
	uint32_t		 waiting_token;	/* queued without a token */
	struct flow_stats	 st;
	int			 stopping;
	pthread_t		 threads[FLOW_THREADS_MAX];
	unsigned		 nthreads;
};

/* ---- token bucket ---- */

void
flow_bucket_init(struct flow_bucket *b, double rate, double burst,
    uint64_t now_ms)
{
	b->rate = rate;
	b->burst = burst;
	b->tokens = burst;
	b->last_ms = now_ms;
}

static void
bucket_refill(struct flow_bucket *b, uint64_t now_ms)
{
	if (b->rate <= 0)
		return;
	if (now_ms > b->last_ms) {
		b->tokens += (double)(now_ms - b->last_ms) * b->rate / 1000.0;
		if (b->tokens > b->burst)
			b->tokens = b->burst;
	}
	b->last_ms = now_ms;
}

int
flow_bucket_take(struct flow_bucket *b, uint64_t now_ms)
{
	if (b->rate <= 0)
		return 1;
	bucket_refill(b, now_ms);
	/* A hair of tolerance for the float arithmetic of refills. */
	if (b->tokens < 1.0 - 1e-9)
		return 0;
	b->tokens -= 1.0;
	if (b->tokens < 0)
		b->tokens = 0;
	return 1;
}

uint64_t
flow_bucket_wait_ms(struct flow_bucket *b, uint64_t now_ms, double n)
{
	double missing, ms;
	uint64_t u;

	if (b->rate <= 0)
		return 0;
	bucket_refill(b, now_ms);
	missing = n - b->tokens;
	if (missing <= 1e-9)
		return 0;
	ms = missing * 1000.0 / b->rate;
	u = (uint64_t)ms;
	return (double)u < ms ? u + 1 : u;
}

uint64_t
flow_backoff_ms(uint32_t attempt)
{
	uint64_t d = FLOW_BACKOFF_MIN_MS;

	while (attempt-- > 1 && d < FLOW_BACKOFF_MAX_MS)
		d *= 2;
	return d > FLOW_BACKOFF_MAX_MS ? FLOW_BACKOFF_MAX_MS : d;
}

/* ---- queue ---- */

static void
q_push(flow *f, struct flow_job *j)
{
	j->next = NULL;
	if (f->tail != NULL)
		f->tail->next = j;
	else
		f->head = j;
	f->tail = j;
	f->st.queued++;
	if (!j->has_token)
		f->waiting_token++;
}

static void
q_remove(flow *f, struct flow_job *prev, struct flow_job *j)
{
	if (prev != NULL)
		prev->next = j->next;
	else
		f->head = j->next;
	if (f->tail == j)
		f->tail = prev;
	j->next = NULL;
	f->st.queued--;
	if (!j->has_token)
		f->waiting_token--;
}

/*
 * Picks the first job that may run now, giving it a token if it needs one
 * and one is there.  Otherwise sets *wait_ms to when to look again
 * (UINT64_MAX: until signalled).
 */
static struct flow_job *
pick(flow *f, uint64_t now, uint64_t *wait_ms)
{
	struct flow_job *j, *prev = NULL;
	uint64_t w;

	*wait_ms = UINT64_MAX;
	if (f->st.in_flight >= f->lim.max_in_flight)
		return NULL;
	for (j = f->head; j != NULL; prev = j, j = j->next) {
		if (j->not_before_ms > now) {
			w = j->not_before_ms - now;
			if (w < *wait_ms)
				*wait_ms = w;
			continue;
		}
		if (!j->has_token) {
			if (!flow_bucket_take(&f->bucket, now)) {
				w = flow_bucket_wait_ms(&f->bucket, now, 1.0);
				if (w < *wait_ms)
					*wait_ms = w == 0 ? 1 : w;
				/* Tokens go in queue order. */
				return NULL;
			}
			f->waiting_token--;
			j->has_token = 1;
		}
		q_remove(f, prev, j);
		return j;
	}
	return NULL;
}

static void
cond_wait_ms(flow *f, uint64_t ms)
{
	struct timespec ts;

	if (ms == UINT64_MAX) {
		pthread_cond_wait(&f->cv, &f->mtx);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	(void)pthread_cond_timedwait(&f->cv, &f->mtx, &ts);
}

static void *
flow_thread(void *arg)
{
	flow *f = arg;
	struct flow_job *j;
	uint64_t wait;
	int r;

	pthread_mutex_lock(&f->mtx);
	for (;;) {
		if (f->stopping)
			break;
		if ((j = pick(f, cap_now_ms(), &wait)) == NULL) {
			cond_wait_ms(f, wait);
			continue;
		}
		f->st.in_flight++;
		if (f->st.in_flight > f->st.max_in_flight_seen)
			f->st.max_in_flight_seen = f->st.in_flight;
		j->attempts++;
		pthread_mutex_unlock(&f->mtx);
		r = j->run(j);
		pthread_mutex_lock(&f->mtx);
		f->st.in_flight--;
		if (r == CAP_ERR_UNAVAILABLE)
			f->st.unavailable++;
		if (r == CAP_ERR_UNAVAILABLE && !f->stopping &&
		    j->attempts < f->lim.max_attempts) {
			log_warn("ca %s: unavailable; retry %u in %llu ms",
			    f->name, j->attempts,
			    (unsigned long long)flow_backoff_ms(j->attempts));
			j->has_token = 0;
			j->not_before_ms = cap_now_ms() +
			    flow_backoff_ms(j->attempts);
			q_push(f, j);
			pthread_cond_broadcast(&f->cv);
			continue;
		}
		if (r == 0)
			f->st.ok++;
		else
			f->st.failed++;
		/* A slot is free: another thread may start a job. */
		pthread_cond_signal(&f->cv);
		pthread_mutex_unlock(&f->mtx);
		j->done(j, r);
		pthread_mutex_lock(&f->mtx);
	}
	pthread_mutex_unlock(&f->mtx);
	return NULL;
}

int
flow_new(const char *name, const struct flow_limits *lim, flow **out)
{
	pthread_condattr_t ca;
	flow *f = NULL;
	unsigned i, want;
	int r = CAP_ERR_INVALID, e;

	*out = NULL;
	if (name == NULL || lim == NULL || strlen(name) > FLOW_NAME_MAX ||
	    !isfinite(lim->rate) || lim->rate > 1e6 ||
	    lim->max_in_flight > 1024 || lim->queue > 100000)
		return CAP_ERR_INVALID;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return CAP_ERR_NOMEM;
	memcpy(f->name, name, strlen(name) + 1);
	f->lim = *lim;
	if (f->lim.max_in_flight == 0)
		f->lim.max_in_flight = 4;
	if (f->lim.max_attempts == 0)
		f->lim.max_attempts = 5;
	if (f->lim.burst == 0)
		f->lim.burst = f->lim.rate >= 1 ? (uint32_t)f->lim.rate : 1;
	want = f->lim.threads != 0 ? f->lim.threads : f->lim.max_in_flight;
	if (want > FLOW_THREADS_MAX)
		want = FLOW_THREADS_MAX;
	flow_bucket_init(&f->bucket, f->lim.rate, (double)f->lim.burst,
	    cap_now_ms());
	pthread_mutex_init(&f->mtx, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->cv, &ca);
	pthread_condattr_destroy(&ca);
	for (i = 0; i < want; i++) {
		if ((e = pthread_create(&f->threads[i], NULL, flow_thread,
		    f)) != 0) {
			log_error("ca %s: cannot start a thread: %s", name,
			    strerror(e));
			r = CAP_ERR_INTERNAL;
			goto out;
		}
		f->nthreads++;
	}
	*out = f;
	f = NULL;	/* transferred */
	r = 0;
 out:
	flow_free(f);
	return r;
}

void
flow_free(flow *f)
{
	struct flow_job *j;
	unsigned i;

	if (f == NULL)
		return;
	pthread_mutex_lock(&f->mtx);
	f->stopping = 1;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mtx);
	for (i = 0; i < f->nthreads; i++)
		pthread_join(f->threads[i], NULL);
	while ((j = f->head) != NULL) {
		q_remove(f, NULL, j);
		j->done(j, CAP_ERR_UNAVAILABLE);
	}
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->mtx);
	free(f);
}

static int
submit(flow *f, struct flow_job *j, int always, uint32_t *retry_after)
{
	uint64_t now = cap_now_ms(), w;
	int r = 0;

	if (retry_after != NULL)
		*retry_after = 0;
	if (f == NULL || j == NULL || j->run == NULL || j->done == NULL)
		return CAP_ERR_INVALID;
	j->next = NULL;
	j->attempts = 0;
	j->not_before_ms = 0;
	j->has_token = 0;
	pthread_mutex_lock(&f->mtx);
	if (f->stopping) {
		r = CAP_ERR_UNAVAILABLE;
		goto out;
	}
	/* Queued requests get tokens first, in order. */
	if (f->waiting_token == 0 && flow_bucket_take(&f->bucket, now))
		j->has_token = 1;
	else if (!always && f->waiting_token >= f->lim.queue) {
		f->st.rate_limited++;
		w = flow_bucket_wait_ms(&f->bucket, now, 1.0);
		if (retry_after != NULL)
			*retry_after = (uint32_t)((w + 999) / 1000) < 1 ? 1 :
			    (uint32_t)((w + 999) / 1000);
		r = CAP_ERR_RATE;
		goto out;
	}
	q_push(f, j);
	pthread_cond_signal(&f->cv);
 out:
	pthread_mutex_unlock(&f->mtx);
	return r;
}

int
flow_submit(flow *f, struct flow_job *j, uint32_t *retry_after)
{
	return submit(f, j, 0, retry_after);
}

int
flow_submit_always(flow *f, struct flow_job *j)
{
	return submit(f, j, 1, NULL);
}

void
flow_get_stats(flow *f, struct flow_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (f == NULL)
		return;
	pthread_mutex_lock(&f->mtx);
	*out = f->st;
	pthread_mutex_unlock(&f->mtx);
}
