/*
 * flow.h - flow control towards one CA: a token bucket (rate per second,
 * burst), a limit of requests in flight at the CA, a bounded queue of
 * admitted requests waiting for a token, and a small pool of threads that
 * run the (blocking) connector calls, never on the HTTP workers.
 *
 * Admission (flow_submit): a request that finds a token in the bucket is
 * admitted and runs as soon as fewer than max_in_flight requests are at the
 * CA; one that finds none is queued while fewer than `queue` requests wait
 * for a token; past that it is refused with CAP_ERR_RATE and the number of
 * seconds until the next token (Retry-After).  A run that returns
 * CAP_ERR_UNAVAILABLE is retried after an exponential backoff (1 s, 2 s,
 * 4 s ... up to 60 s) up to max_attempts runs, each retry taking a token.
 *
 * Jobs are intrusive: the caller embeds a struct flow_job in its own
 * request and keeps it alive until done() has been called, exactly once,
 * on a flow thread (or in flow_free, with CAP_ERR_UNAVAILABLE, for jobs
 * that never ran).
 */
#ifndef CAP_CA_FLOW_H
#define CAP_CA_FLOW_H

#include <stddef.h>
#include <stdint.h>

#define FLOW_BACKOFF_MIN_MS	1000
#define FLOW_BACKOFF_MAX_MS	60000

struct flow_limits {
	double		rate;		/* tokens per second; <= 0: unlimited */
	uint32_t	burst;		/* bucket size; 0: max(1, rate) */
	uint32_t	max_in_flight;	/* 0: 4 */
	uint32_t	queue;		/* requests waiting for a token */
	uint32_t	max_attempts;	/* runs per request; 0: 5 */
	uint32_t	threads;	/* 0: max_in_flight, at most 16 */
};

/*
 * The token bucket on its own, a pure function of time, for the tests:
 * tokens refill at rate per second up to burst.
 */
struct flow_bucket {
	double		rate;
	double		burst;
	double		tokens;
	uint64_t	last_ms;
};

void flow_bucket_init(struct flow_bucket *b, double rate, double burst,
    uint64_t now_ms);
/* flow_bucket_take takes one token: 1 if taken, 0 if the bucket is empty. */
int flow_bucket_take(struct flow_bucket *b, uint64_t now_ms);
/* flow_bucket_wait_ms: milliseconds until `n` tokens are there (0 if now). */
uint64_t flow_bucket_wait_ms(struct flow_bucket *b, uint64_t now_ms, double n);
/* flow_backoff_ms: the delay before retry number `attempt` (1 = first). */
uint64_t flow_backoff_ms(uint32_t attempt);

struct flow_job;
typedef int (*flow_run_fn)(struct flow_job *j);
typedef void (*flow_done_fn)(struct flow_job *j, int result);

struct flow_job {
	flow_run_fn	 run;	/* on a flow thread; may block */
	flow_done_fn	 done;	/* once, with run's last result */
	/* flow's own fields; zero them before flow_submit */
	struct flow_job	*next;
	uint32_t	 attempts;
	uint64_t	 not_before_ms;
	int		 has_token;
};

typedef struct flow flow;

struct flow_stats {
	uint64_t	ok;		/* runs that returned 0 */
	uint64_t	failed;		/* final runs that failed otherwise */
	uint64_t	unavailable;	/* runs that found the CA down */
	uint64_t	rate_limited;	/* submissions refused */
	uint32_t	queued;		/* admitted, not yet running */
	uint32_t	in_flight;
	uint32_t	max_in_flight_seen;
};

/*
 * flow_new starts the threads of a flow named name (for logs).
 * CAP_ERR_INVALID for nonsense limits, CAP_ERR_NOMEM, CAP_ERR_INTERNAL.
 */
int flow_new(const char *name, const struct flow_limits *lim, flow **out)
    __attribute__((warn_unused_result));

/*
 * flow_free stops the threads after the runs in progress, and calls done
 * with CAP_ERR_UNAVAILABLE for every job still queued.  NULL is a no-op.
 */
void flow_free(flow *f);

/*
 * flow_submit admits j (see above).  0: done() will be called.
 * CAP_ERR_RATE: refused, *retry_after set (seconds, >= 1), done() not
 * called.  CAP_ERR_UNAVAILABLE while stopping.
 */
int flow_submit(flow *f, struct flow_job *j, uint32_t *retry_after)
    __attribute__((warn_unused_result));

/*
 * flow_submit_always queues j whatever the limits (requests resumed from
 * the store after a restart): it still waits for a token and a slot.
 */
int flow_submit_always(flow *f, struct flow_job *j)
    __attribute__((warn_unused_result));

void flow_get_stats(flow *f, struct flow_stats *out);

#endif
