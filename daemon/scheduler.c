/*
 * scheduler.c - auto-renewal, expiry marking, expiry alerts and the
 * retirement of superseded keys (see scheduler.h).
 *
 * Three threads take part: the main loop's timer only sets a flag and
 * wakes the scan thread; the scan thread reads the inventory and hands
 * renewals to the certificate engine (whose flows talk to the CA); the
 * webhook thread POSTs queued alerts one at a time with a short timeout.
 * Every decision that changes a record is made again inside the record's
 * write transaction (certdb_update), so a scan racing an API call never
 * undoes it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/ssl.h>

#include "api/request.h"
#include "ca/http_client.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "crypto/keys.h"
#include "daemon/scheduler.h"
#include "store/certdb.h"
#include "store/keydb.h"

#define RETRY_MIN_S		10	/* a failed renewal is retried after */
#define RETRY_MAX_S		3600	/* 10 scan intervals, within these */

struct webhook_item {
	struct webhook_item	*next;
	char			*body;	/* jansson's; api_json_free */
};

struct scheduler {
	struct event_base	*base;
	struct event		*timer;
	certsvc			*svc;
	hsm			*h;
	store			*s;
	struct sched_config	 cfg;
	char			*webhook;
	struct http_url		 url;
	SSL_CTX			*tls;

	pthread_mutex_t		 mtx;
	pthread_cond_t		 scan_cv;
	pthread_cond_t		 hook_cv;
	int			 kick;
	int			 stop;
	struct webhook_item	*head, *tail;
	size_t			 queued;
	pthread_t		 scan_thr, hook_thr;
	int			 scan_started, hook_started;
};

char *
sched_webhook_body(const char *id, const char *subject, const char *ca,
    const char *serial, uint64_t not_after, uint64_t threshold,
    int64_t seconds_left)
{
	json_t *o;
	char t[32], *body;

	cap_format_time(not_after, t);
	o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I}",
	    "event", "certificate_expiring", "id", id, "subject", subject,
	    "ca", ca, "serial", serial, "not_after", t,
	    "threshold", (json_int_t)threshold,
	    "seconds_left", (json_int_t)seconds_left);
	if (o == NULL)
		return NULL;
	body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return body;
}

/* ---- record updates (inside certdb_update's transaction) ---- */

static int
rec_expire(struct certdb_cert *c, void *arg)
{
	uint64_t now = *(const uint64_t *)arg;

	if (c->status != CERTDB_ISSUED || c->not_after == 0 ||
	    c->not_after > now)
		return CAP_ERR_CONFLICT;
	c->status = CERTDB_EXPIRED;
	certdb_history_add(c, CERTDB_EV_EXPIRED, now, 0, c->serial, c->key_id);
	return 0;
}

struct alert_arg {
	const struct sched_config *cfg;
	uint64_t	 now;
	uint64_t	 not_after;	/* of the certificate decided on */
	int		 fire;		/* out */
};

static int
rec_alert(struct certdb_cert *c, void *arg)
{
	struct alert_arg *a = arg;
	uint32_t mask;

	a->fire = -1;
	if ((c->status != CERTDB_ISSUED && c->status != CERTDB_RENEWING) ||
	    c->not_after != a->not_after)
		return CAP_ERR_CONFLICT;
	mask = sched_alerts_due(c->not_after, a->now, a->cfg->thresholds,
	    a->cfg->nthresholds, c->alerts_sent, &a->fire);
	if (mask == 0 || a->fire < 0)
		return CAP_ERR_CONFLICT;
	c->alerts_sent |= mask;
	certdb_history_add(c, CERTDB_EV_ALERT, a->now,
	    a->cfg->thresholds[a->fire], c->serial, c->key_id);
	return 0;
}

/* The superseded key key_id is gone: nothing is left to retire. */
static int
rec_key_retired(struct certdb_cert *c, void *arg)
{
	const char *key_id = arg;
	size_t i;

	for (i = 0; i < c->nhistory; i++)
		if (c->history[i].kind == CERTDB_EV_SUPERSEDED &&
		    strcmp(c->history[i].key_id, key_id) == 0)
			c->history[i].detail = 0;
	return 0;
}

/* ---- webhook ---- */

static void
webhook_enqueue(scheduler *sc, char *body)
{
	struct webhook_item *it;

	pthread_mutex_lock(&sc->mtx);
	if (sc->queued >= SCHED_WEBHOOK_QUEUE ||
	    (it = calloc(1, sizeof(*it))) == NULL) {
		pthread_mutex_unlock(&sc->mtx);
		log_warn("certs: webhook queue full, an alert is not sent "
		    "(it is in the certificate's history)");
		api_json_free(body);
		return;
	}
	it->body = body;
	if (sc->tail != NULL)
		sc->tail->next = it;
	else
		sc->head = it;
	sc->tail = it;
	sc->queued++;
	pthread_cond_signal(&sc->hook_cv);
	pthread_mutex_unlock(&sc->mtx);
}

static void
webhook_post(scheduler *sc, const char *body)
{
	struct http_request rq;
	struct http_response *resp = NULL;
	int r;

	memset(&rq, 0, sizeof(rq));
	rq.method = "POST";
	rq.url = &sc->url;
	rq.content_type = "application/json";
	rq.body = (const uint8_t *)body;
	rq.body_len = strlen(body);
	rq.tls = sc->tls;
	rq.max_body = 64 * 1024;
	rq.timeout_ms = SCHED_WEBHOOK_TIMEOUT_MS;
	if ((r = http_request_do(&rq, &resp)) != 0)
		log_warn("certs: webhook %s: %s", sc->webhook, cap_strerror(r));
	else if (resp->status < 200 || resp->status > 299)
		log_warn("certs: webhook %s answered %d", sc->webhook,
		    resp->status);
	http_response_free(resp);
}

static void *
hook_main(void *arg)
{
	scheduler *sc = arg;
	struct webhook_item *it;

	pthread_mutex_lock(&sc->mtx);
	for (;;) {
		while (sc->head == NULL && !sc->stop)
			pthread_cond_wait(&sc->hook_cv, &sc->mtx);
		if (sc->stop)
			break;
		it = sc->head;
		if ((sc->head = it->next) == NULL)
			sc->tail = NULL;
		sc->queued--;
		pthread_mutex_unlock(&sc->mtx);
		webhook_post(sc, it->body);
		api_json_free(it->body);
		free(it);
		pthread_mutex_lock(&sc->mtx);
	}
	pthread_mutex_unlock(&sc->mtx);
	return NULL;
}

/* ---- the scan ---- */

static int
stopping(scheduler *sc)
{
	int s;

	pthread_mutex_lock(&sc->mtx);
	s = sc->stop;
	pthread_mutex_unlock(&sc->mtx);
	return s;
}

static void
renew_done(void *arg, const char *id, int result, const char *reason)
{
	(void)arg;
	if (result == 0)
		log_info("certs: %s renewed", id);
	else
		log_warn("certs: automatic renewal of %s failed: %s", id,
		    reason != NULL && reason[0] != '\0' ? reason :
		    cap_strerror(result));
}

/*
 * The key of a superseded certificate, once that certificate has expired
 * (detail of the event is its not_after), is destroyed when it was made
 * for this certificate: a key someone brought (key_id at enrollment) is
 * theirs to remove.
 */
static void
retire_keys(scheduler *sc, const struct certdb_cert *c, uint64_t now)
{
	const struct certdb_event *ev;
	struct store_key rec;
	uint8_t kid[STORE_KEY_ID_LEN];
	char key_id[CERTDB_ID_LEN + 1];
	size_t i;
	int r;

	for (i = 0; i < c->nhistory; i++) {
		ev = &c->history[i];
		if (ev->kind != CERTDB_EV_SUPERSEDED || ev->detail == 0 ||
		    ev->detail > now || ev->key_id[0] == '\0' ||
		    strcmp(ev->key_id, c->key_id) == 0 ||
		    strcmp(ev->key_id, c->pending.key_id) == 0)
			continue;
		snprintf(key_id, sizeof(key_id), "%s", ev->key_id);
		if (store_key_id_parse(key_id, kid) != 0)
			continue;
		r = store_key_get(sc->s, kid, &rec);
		if (r == 0 && rec.owner == STORE_KEY_OWNER_CERT &&
		    strcmp(rec.label, c->id) == 0) {
			if ((r = keys_destroy(sc->h, sc->s, key_id)) != 0) {
				log_warn("certs: cannot destroy the superseded "
				    "key %s of %s: %s", key_id, c->id,
				    cap_strerror(r));
				continue;
			}
			log_info("certs: superseded key %s of %s destroyed "
			    "(its certificate has expired)", key_id, c->id);
		} else if (r != 0 && r != CAP_ERR_NOT_FOUND)
			continue;
		if (certdb_update(sc->s, c->id, rec_key_retired, key_id) != 0)
			log_warn("certs: cannot record the retired key of %s",
			    c->id);
	}
}

/* When the current certificate was recorded (backdated not_before aside). */
static uint64_t
issued_at(const struct certdb_cert *c)
{
	uint64_t t = c->not_before;
	size_t i;

	for (i = c->nhistory; i > 0; i--)
		if (c->history[i - 1].kind == CERTDB_EV_ISSUED &&
		    strcmp(c->history[i - 1].serial, c->serial) == 0) {
			if (c->history[i - 1].time > t)
				t = c->history[i - 1].time;
			break;
		}
	return t;
}

/* A renewal the CA refused lately is not asked for again at every scan. */
static int
recently_failed(const scheduler *sc, const struct certdb_cert *c,
    uint64_t now)
{
	const struct certdb_event *ev;
	uint64_t wait = sc->cfg.scan_interval * 10;

	if (c->nhistory == 0)
		return 0;
	ev = &c->history[c->nhistory - 1];
	if (wait < RETRY_MIN_S)
		wait = RETRY_MIN_S;
	if (wait > RETRY_MAX_S)
		wait = RETRY_MAX_S;
	return ev->kind == CERTDB_EV_FAILED && ev->time + wait > now;
}

static void
alert(scheduler *sc, const struct certdb_cert *c, uint64_t now)
{
	struct alert_arg a;
	uint64_t th;
	char *body;
	int fire;

	if (sched_alerts_due(c->not_after, now, sc->cfg.thresholds,
	    sc->cfg.nthresholds, c->alerts_sent, &fire) == 0)
		return;
	a.cfg = &sc->cfg;
	a.now = now;
	a.not_after = c->not_after;
	a.fire = -1;
	if (certdb_update(sc->s, c->id, rec_alert, &a) != 0 || a.fire < 0)
		return;
	th = sc->cfg.thresholds[a.fire];
	log_warn("certs: certificate %s (%s, ca %s, serial %s) expires in "
	    "%llu s (alert threshold %llu s)", c->id, c->subject, c->ca,
	    c->serial, (unsigned long long)(c->not_after - now),
	    (unsigned long long)th);
	if (sc->webhook == NULL)
		return;
	if ((body = sched_webhook_body(c->id, c->subject, c->ca, c->serial,
	    c->not_after, th, (int64_t)(c->not_after - now))) == NULL) {
		log_warn("certs: cannot format the webhook alert of %s", c->id);
		return;
	}
	webhook_enqueue(sc, body);
}

static void
renew(scheduler *sc, const struct certdb_cert *c)
{
	uint32_t retry_after = 0;
	int r;

	r = certsvc_renew(sc->svc, c->id, sc->cfg.renew_new_key, renew_done,
	    NULL, &retry_after);
	if (r == 0)
		log_info("certs: renewing %s (%s) at ca %s%s", c->id,
		    c->subject, c->ca, sc->cfg.renew_new_key ?
		    " with a new key" : "");
	else if (r == CAP_ERR_RATE)
		log_debug("certs: renewal of %s deferred: ca %s is busy",
		    c->id, c->ca);
	else if (r != CAP_ERR_CONFLICT)
		log_warn("certs: cannot renew %s: %s", c->id, cap_strerror(r));
}

static void
scan_one(scheduler *sc, const struct certdb_cert *c, uint64_t now)
{
	int expired;

	retire_keys(sc, c, now);
	if (c->not_after == 0)
		return;
	expired = c->not_after <= now;
	if (c->status == CERTDB_ISSUED && expired) {
		if (certdb_update(sc->s, c->id, rec_expire, &now) == 0)
			log_warn("certs: certificate %s (%s, ca %s, serial %s) "
			    "has expired", c->id, c->subject, c->ca,
			    c->serial);
	} else if (c->status == CERTDB_ISSUED || c->status == CERTDB_RENEWING)
		alert(sc, c, now);
	if (c->auto_renew && (c->status == CERTDB_ISSUED ||
	    c->status == CERTDB_EXPIRED) &&
	    sched_renew_due(issued_at(c), c->not_after, c->renew_fraction,
	    sc->cfg.renew_fraction, now) && !recently_failed(sc, c, now))
		renew(sc, c);
}

static void
scan(scheduler *sc)
{
	struct certdb_cert *c = NULL;
	char **ids = NULL;
	size_t n = 0, i;
	int r;

	if ((r = certdb_list(sc->s, NULL, &ids, &n)) != 0) {
		log_warn("certs: cannot list the inventory: %s",
		    cap_strerror(r));
		return;
	}
	for (i = 0; i < n && !stopping(sc); i++) {
		if (certdb_get(sc->s, ids[i], &c) != 0)
			continue;
		scan_one(sc, c, cap_now());
		certdb_cert_free(c);
		c = NULL;
	}
	store_names_free(ids, n);
	if (sc->cfg.after_scan != NULL && !stopping(sc))
		sc->cfg.after_scan(sc->cfg.after_scan_arg);
}

static void *
scan_main(void *arg)
{
	scheduler *sc = arg;

	pthread_mutex_lock(&sc->mtx);
	for (;;) {
		while (!sc->kick && !sc->stop)
			pthread_cond_wait(&sc->scan_cv, &sc->mtx);
		if (sc->stop)
			break;
		sc->kick = 0;
		pthread_mutex_unlock(&sc->mtx);
		scan(sc);
		pthread_mutex_lock(&sc->mtx);
	}
	pthread_mutex_unlock(&sc->mtx);
	return NULL;
}

/* The timer: a scan still running absorbs the tick. */
static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	scheduler *sc = arg;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&sc->mtx);
	sc->kick = 1;
	pthread_cond_signal(&sc->scan_cv);
	pthread_mutex_unlock(&sc->mtx);
}

int
sched_new(struct event_base *base, certsvc *svc, hsm *h, store *s,
    const struct sched_config *cfg, scheduler **out)
{
	scheduler *sc = NULL;
	struct timeval tv;
	int r = CAP_ERR_INVALID;

	*out = NULL;
	if (base == NULL || svc == NULL || h == NULL || s == NULL ||
	    cfg == NULL || cfg->scan_interval == 0 ||
	    cfg->renew_fraction == 0 ||
	    cfg->renew_fraction > SCHED_FRACTION_ONE ||
	    cfg->nthresholds > SCHED_THRESHOLDS_MAX)
		return CAP_ERR_INVALID;
	if ((sc = calloc(1, sizeof(*sc))) == NULL)
		return CAP_ERR_NOMEM;
	pthread_mutex_init(&sc->mtx, NULL);
	pthread_cond_init(&sc->scan_cv, NULL);
	pthread_cond_init(&sc->hook_cv, NULL);
	sc->base = base;
	sc->svc = svc;
	sc->h = h;
	sc->s = s;
	sc->cfg = *cfg;
	sc->cfg.webhook = NULL;
	sc->kick = 1;
	if (cfg->webhook != NULL && cfg->webhook[0] != '\0') {
		if (http_url_parse(cfg->webhook, &sc->url) != 0)
			goto out;
		if ((sc->webhook = strdup(cfg->webhook)) == NULL) {
			r = CAP_ERR_NOMEM;
			goto out;
		}
		if (sc->url.tls) {
			r = CAP_ERR_CRYPTO;
			if ((sc->tls = SSL_CTX_new(TLS_client_method())) == NULL ||
			    SSL_CTX_set_min_proto_version(sc->tls,
			    TLS1_2_VERSION) != 1 ||
			    SSL_CTX_set_default_verify_paths(sc->tls) != 1)
				goto out;
			SSL_CTX_set_verify(sc->tls, SSL_VERIFY_PEER, NULL);
		}
	}
	r = CAP_ERR_INTERNAL;
	if (pthread_create(&sc->scan_thr, NULL, scan_main, sc) != 0)
		goto out;
	sc->scan_started = 1;
	if (pthread_create(&sc->hook_thr, NULL, hook_main, sc) != 0)
		goto out;
	sc->hook_started = 1;
	tv.tv_sec = (time_t)cfg->scan_interval;
	tv.tv_usec = 0;
	if ((sc->timer = event_new(base, -1, EV_PERSIST, on_tick, sc)) == NULL ||
	    event_add(sc->timer, &tv) != 0)
		goto out;
	*out = sc;
	sc = NULL;
	r = 0;
 out:
	sched_free(sc);
	return r;
}

void
sched_free(scheduler *sc)
{
	struct webhook_item *it;

	if (sc == NULL)
		return;
	if (sc->timer != NULL)
		event_free(sc->timer);
	pthread_mutex_lock(&sc->mtx);
	sc->stop = 1;
	pthread_cond_broadcast(&sc->scan_cv);
	pthread_cond_broadcast(&sc->hook_cv);
	pthread_mutex_unlock(&sc->mtx);
	if (sc->scan_started)
		pthread_join(sc->scan_thr, NULL);
	if (sc->hook_started)
		pthread_join(sc->hook_thr, NULL);
	while ((it = sc->head) != NULL) {
		sc->head = it->next;
		api_json_free(it->body);
		free(it);
	}
	SSL_CTX_free(sc->tls);
	free(sc->webhook);
	pthread_cond_destroy(&sc->hook_cv);
	pthread_cond_destroy(&sc->scan_cv);
	pthread_mutex_destroy(&sc->mtx);
	free(sc);
}
