/*
 * scheduler.h - the certificate lifecycle scheduler: every scan_interval
 * a timer on the daemon's main event loop wakes a scan thread (the loop
 * itself never waits on the token, the store or a network peer) that
 * walks the inventory and
 *   - renews auto_renew certificates once renew_fraction of their
 *     lifetime has passed (a new key unless renew_new_key is off);
 *   - marks certificates past their not_after as expired;
 *   - raises an expiry alert when a certificate crosses one of the
 *     alert_thresholds: a warning in the log, an "alert" event in its
 *     history and, when a webhook is configured, a JSON POST sent by a
 *     separate thread with a short timeout;
 *   - destroys the token key of a superseded certificate once that old
 *     certificate has expired (until then a workload may still present
 *     it), and only when the key was generated for this certificate.
 *
 * The decisions are pure functions of the record and the time, declared
 * below for the unit tests.
 */
#ifndef CAP_DAEMON_SCHEDULER_H
#define CAP_DAEMON_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "ca/certsvc.h"

#define SCHED_THRESHOLDS_MAX	16	/* alert thresholds (bits of alerts_sent) */
#define SCHED_FRACTION_ONE	1000000	/* renew_fraction is in millionths */
#define SCHED_WEBHOOK_TIMEOUT_MS 5000
#define SCHED_WEBHOOK_QUEUE	256	/* alerts waiting for the webhook */

struct sched_config {
	uint64_t	 scan_interval;		/* seconds, >= 1 */
	uint32_t	 renew_fraction;	/* millionths, 1..1000000 */
	int		 renew_new_key;
	uint64_t	 thresholds[SCHED_THRESHOLDS_MAX];	/* seconds */
	size_t		 nthresholds;
	const char	*webhook;		/* http(s) URL or NULL; copied */
	/* called on the scan thread after each scan (NULL: none) */
	void		(*after_scan)(void *arg);
	void		*after_scan_arg;
};

/*
 * sched_parse_fraction parses a decimal fraction in (0, 1] ("0.6667",
 * "1", "2/3" is not accepted) into millionths.  CAP_ERR_INVALID.
 */
int sched_parse_fraction(const char *s, uint32_t *ppm)
    __attribute__((warn_unused_result));

/*
 * sched_parse_thresholds parses a comma-separated list of durations
 * ("30d,7d,1d", spaces allowed around the commas) into out, at most
 * SCHED_THRESHOLDS_MAX, each > 0, no duplicates; the order given is kept
 * (bit i of alerts_sent is threshold i).  CAP_ERR_INVALID.
 */
int sched_parse_thresholds(const char *s, uint64_t *out, size_t *n)
    __attribute__((warn_unused_result));

/*
 * sched_renew_due: 1 when now is at or past not_before + fraction of the
 * lifetime (fraction in millionths; 0 takes dflt).  0 for a certificate
 * without a validity period.
 */
int sched_renew_due(uint64_t not_before, uint64_t not_after,
    uint32_t fraction, uint32_t dflt, uint64_t now);

/*
 * sched_alerts_due decides which thresholds fire now for a certificate
 * expiring at not_after that already alerted the bits in sent.  Every
 * crossed threshold (seconds left <= threshold) not yet in sent is added
 * to the returned mask; *fire is the index of the smallest of them (the
 * one to report: a certificate that crosses 30d and 7d at once gets one
 * alert, for 7d), or -1 when nothing new fires.  Nothing fires once the
 * certificate has expired.
 */
uint32_t sched_alerts_due(uint64_t not_after, uint64_t now,
    const uint64_t *th, size_t nth, uint32_t sent, int *fire);

/* sched_webhook_body formats the JSON of one alert (api_json_free-able). */
char *sched_webhook_body(const char *id, const char *subject, const char *ca,
    const char *serial, uint64_t not_after, uint64_t threshold,
    int64_t seconds_left);

typedef struct scheduler scheduler;

/*
 * sched_new starts the scan and webhook threads and the timer on base
 * (the first scan runs at once).  svc, h and s are borrowed and must
 * outlive the scheduler; s is the store svc works on.
 * CAP_ERR_INVALID (a bad webhook URL), CAP_ERR_NOMEM, CAP_ERR_INTERNAL.
 */
int sched_new(struct event_base *base, certsvc *svc, hsm *h, store *s,
    const struct sched_config *cfg, scheduler **out)
    __attribute__((warn_unused_result));

/*
 * sched_free stops the timer and joins the threads (a scan in progress
 * finishes its current certificate; unsent alerts are dropped, their
 * record keeps them).  Call it on the loop's thread.  NULL is a no-op.
 */
void sched_free(scheduler *sc);

#endif
