/*
 * handlers_certs.c - /v1/certs: enroll, list, show, renew, revoke, status,
 * and /v1/sys/metrics.
 *
 * Enrollment and renewal run on the CA's flow threads.  The handler
 * defers its reply: when the CA answers within [certs] reply_wait (10 s
 * by default; CERTS_WAIT_S without a configuration) the client
 * gets 201 (or the error), otherwise 202 {"id","status":"pending"} and
 * polls GET /v1/certs/{id}.  The completion and the timer both run on the
 * worker's own event base (event_base_once), whichever comes first
 * answers; a small shared record counts who still holds it.
 *
 * Certificates are managed by admins (admin on "*"); metrics need any
 * authenticated identity.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "api/api_int.h"
#include "api/handlers.h"
#include "api/reply.h"
#include "api/request.h"
#include "ca/ca.h"
#include "ca/certsvc.h"
#include "ca/certstatus.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "store/certdb.h"

#define CERTS_WAIT_S	10

static void
retry_after(struct api_ctx *ctx, uint32_t secs)
{
	char v[16];

	if (ctx->req == NULL)
		return;
	snprintf(v, sizeof(v), "%u", secs < 1 ? 1 : secs);
	evhttp_add_header(evhttp_request_get_output_headers(ctx->req),
	    "Retry-After", v);
}

static void
reply_code(struct api_ctx *ctx, int status, const char *code, const char *msg)
{
	api_reply_json(ctx, status, api_error_body(code, msg));
}

/* Answers a failure of the engine, with the documented codes. */
static void
reply_fail(struct api_ctx *ctx, int r, uint32_t ra, const char *reason)
{
	switch (r) {
	case CAP_ERR_RATE:
		retry_after(ctx, ra);
		reply_code(ctx, 429, "rate_limited",
		    "too many requests for this CA; retry later");
		break;
	case CAP_ERR_UNAVAILABLE:
		retry_after(ctx, ra ? ra : 5);
		reply_code(ctx, 503, "unavailable", "the CA is unavailable");
		break;
	case CAP_ERR_CRYPTO:
		/* reason names the failed check, never a secret */
		reply_code(ctx, 502, "bad_gateway", reason != NULL &&
		    reason[0] != '\0' ? reason : "the CA's answer was refused");
		break;
	case CAP_ERR_DENIED:
		reply_code(ctx, 502, "ca_rejected", reason != NULL &&
		    reason[0] != '\0' ? reason : "the CA refused the request");
		break;
	case CAP_ERR_INVALID:
		reply_code(ctx, 400, "invalid", reason != NULL &&
		    reason[0] != '\0' ? reason : "invalid request");
		break;
	default:
		api_reply_err(ctx, r, "certs");
	}
}

static json_t *
cert_json(const struct certdb_cert *c, int full)
{
	json_t *o, *a;
	char t[32];
	size_t i;

	if ((o = json_object()) == NULL)
		return NULL;
	json_object_set_new(o, "id", json_string(c->id));
	json_object_set_new(o, "ca", json_string(c->ca));
	json_object_set_new(o, "subject", json_string(c->subject));
	json_object_set_new(o, "status",
	    json_string(certdb_status_name(c->status)));
	if (c->serial[0] != '\0')
		json_object_set_new(o, "serial", json_string(c->serial));
	if (c->not_after != 0) {
		cap_format_time(c->not_before, t);
		json_object_set_new(o, "not_before", json_string(t));
		cap_format_time(c->not_after, t);
		json_object_set_new(o, "not_after", json_string(t));
	}
	if (c->key_id[0] != '\0')
		json_object_set_new(o, "key_id", json_string(c->key_id));
	json_object_set_new(o, "auto_renew", json_boolean(c->auto_renew));
	if (!full)
		return o;
	if (c->profile[0] != '\0')
		json_object_set_new(o, "profile", json_string(c->profile));
	if (c->key_type[0] != '\0')
		json_object_set_new(o, "key_type", json_string(c->key_type));
	a = json_array();
	for (i = 0; i < c->nsans; i++)
		json_array_append_new(a, json_string(c->sans[i]));
	json_object_set_new(o, "sans", a);
	if (c->der != NULL)
		json_object_set_new(o, "certificate",
		    api_json_der_cert_pem(c->der, c->derlen));
	a = json_array();
	for (i = 0; i < c->nchain; i++)
		json_array_append_new(a, api_json_der_cert_pem(c->chain[i],
		    c->chainlen[i]));
	json_object_set_new(o, "chain", a);
	if (c->revoked_at != 0) {
		cap_format_time(c->revoked_at, t);
		json_object_set_new(o, "revoked", json_string(t));
		json_object_set_new(o, "revocation_reason",
		    json_string(ca_reason_name(c->revoke_reason)));
	}
	a = json_array();
	for (i = 0; i < c->nhistory; i++) {
		const struct certdb_event *ev = &c->history[i];
		json_t *e = json_object();

		cap_format_time(ev->time, t);
		json_object_set_new(e, "time", json_string(t));
		json_object_set_new(e, "event",
		    json_string(certdb_event_name(ev->kind)));
		if (ev->serial[0] != '\0')
			json_object_set_new(e, "serial", json_string(ev->serial));
		if (ev->key_id[0] != '\0')
			json_object_set_new(e, "key_id", json_string(ev->key_id));
		if (ev->kind == CERTDB_EV_SUPERSEDED)
			json_object_set_new(e, "status",
			    json_string("superseded"));
		json_array_append_new(a, e);
	}
	json_object_set_new(o, "history", a);
	return o;
}

static void
reply_cert(struct api_ctx *ctx, int status, const char *id)
{
	struct certdb_cert *c = NULL;
	int r;

	if ((r = certdb_get(ctx->deps->s, id, &c)) != 0) {
		api_reply_err(ctx, r, "certs get");
		return;
	}
	api_reply_json(ctx, status, cert_json(c, 1));
	certdb_cert_free(c);
}

/* ---- deferred replies ---- */

struct pend {
	pthread_mutex_t	 mtx;
	int		 refs;		/* the job's path and the timer's */
	int		 answered;
	struct api_ctx	*ctx;
	struct event	*timer;		/* the worker's; see pend_complete */
	int		 timer_fired;
	char		 id[CERTDB_ID_LEN + 1];
	int		 result;
	char		 reason[256];
};

static void
pend_unref(struct pend *p)
{
	int last;

	pthread_mutex_lock(&p->mtx);
	last = --p->refs == 0;
	pthread_mutex_unlock(&p->mtx);
	if (last) {
		if (p->timer != NULL)
			event_free(p->timer);
		pthread_mutex_destroy(&p->mtx);
		free(p);
	}
}

/* On the worker: the job ended. */
static void
pend_complete(evutil_socket_t fd, short what, void *arg)
{
	struct pend *p = arg;
	int timer_ref = 0;

	(void)fd;
	(void)what;
	/*
	 * The timer runs on this same worker: cancelled here, it never
	 * fires, so its reference is dropped here too and nothing waits
	 * for it (or leaks at shutdown).
	 */
	if (p->timer != NULL) {
		if (!p->timer_fired && event_del(p->timer) == 0)
			timer_ref = 1;
		if (p->timer_fired || timer_ref) {
			event_free(p->timer);
			p->timer = NULL;
		}
	}
	pthread_mutex_lock(&p->mtx);
	if (!p->answered) {
		p->answered = 1;
		if (p->result == 0)
			reply_cert(p->ctx, 201, p->id);
		else
			reply_fail(p->ctx, p->result, 0, p->reason);
		api_defer_finish(p->ctx);
	}
	pthread_mutex_unlock(&p->mtx);
	if (timer_ref)
		pend_unref(p);
	pend_unref(p);
}

/* On the worker: waited long enough; the client polls from here on. */
static void
pend_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct pend *p = arg;
	json_t *o;

	(void)fd;
	(void)what;
	p->timer_fired = 1;
	pthread_mutex_lock(&p->mtx);
	if (!p->answered) {
		p->answered = 1;
		o = json_pack("{s:s,s:s}", "id", p->id, "status", "pending");
		api_reply_json(p->ctx, 202, o);
		api_defer_finish(p->ctx);
	}
	pthread_mutex_unlock(&p->mtx);
	pend_unref(p);
}

/* On a flow thread. */
static void
pend_done(void *arg, const char *id, int result, const char *reason)
{
	struct pend *p = arg;
	struct timeval now = { 0, 0 };

	(void)id;
	pthread_mutex_lock(&p->mtx);
	p->result = result;
	snprintf(p->reason, sizeof(p->reason), "%s", reason ? reason : "");
	pthread_mutex_unlock(&p->mtx);
	if (event_base_once(p->ctx->base, -1, EV_TIMEOUT, pend_complete, p,
	    &now) != 0) {
		log_error("certs: cannot post a completion");
		pend_unref(p);
	}
}

static struct pend *
pend_new(struct api_ctx *ctx)
{
	struct pend *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	pthread_mutex_init(&p->mtx, NULL);
	p->refs = 2;
	p->ctx = ctx;
	return p;
}

/* After a successful submission: defer, arm the timer. */
static void
pend_start(struct api_ctx *ctx, struct pend *p, const char *id)
{
	struct timeval wait = { CERTS_WAIT_S, 0 };

	if (ctx->deps->cfg != NULL)
		wait.tv_sec = (time_t)ctx->deps->cfg->certs_reply_wait;

	pthread_mutex_lock(&p->mtx);
	snprintf(p->id, sizeof(p->id), "%s", id);
	pthread_mutex_unlock(&p->mtx);
	api_defer(ctx);
	if ((p->timer = evtimer_new(ctx->base, pend_timeout, p)) == NULL ||
	    evtimer_add(p->timer, &wait) != 0) {
		log_error("certs: cannot arm the reply timer");
		if (p->timer != NULL)
			event_free(p->timer);
		p->timer = NULL;
		pend_unref(p);
	}
}

static int
certs_ready(struct api_ctx *ctx)
{
	if (api_require(ctx, API_CAP_ADMIN, "*") != 0)
		return 0;
	if (ctx->deps->certs == NULL) {
		reply_code(ctx, 503, "unavailable",
		    "the certificate engine is not running");
		return 0;
	}
	return 1;
}

static const char *
jstr(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

void
api_h_cert_enroll(struct api_ctx *ctx)
{
	struct certsvc_enroll_req rq;
	const char *sans[CERTDB_SAN_MAX], *why = NULL, *vs;
	char id[CERTDB_ID_LEN + 1], err[256];
	json_t *body = NULL, *a, *k, *v;
	struct pend *p = NULL;
	uint32_t ra = 0;
	size_t i;
	int r;

	if (!certs_ready(ctx))
		return;
	if (api_json_object_parse(ctx->body, ctx->body_len, &body, &why) != 0) {
		api_reply_status(ctx, 400, "the body is not a JSON object");
		return;
	}
	memset(&rq, 0, sizeof(rq));
	rq.ca = jstr(body, "ca");
	rq.subject = jstr(body, "subject");
	rq.profile = jstr(body, "profile");
	rq.key_id = jstr(body, "key_id");
	if ((k = json_object_get(body, "key")) != NULL)
		rq.key_type = jstr(k, "type");
	if ((vs = jstr(body, "validity")) != NULL &&
	    cap_parse_duration(vs, &rq.validity) != 0) {
		api_reply_status(ctx, 400, "validity is a duration like 30d");
		goto out;
	}
	v = json_object_get(body, "auto_renew");
	rq.auto_renew = json_is_true(v);
	if ((a = json_object_get(body, "sans")) != NULL) {
		if (!json_is_array(a) || json_array_size(a) > CERTDB_SAN_MAX) {
			api_reply_status(ctx, 400, "sans is a list of at most "
			    "16 strings");
			goto out;
		}
		for (i = 0; i < json_array_size(a); i++) {
			if (!json_is_string(json_array_get(a, i))) {
				api_reply_status(ctx, 400, "sans are strings");
				goto out;
			}
			sans[i] = json_string_value(json_array_get(a, i));
		}
		rq.sans = sans;
		rq.nsans = json_array_size(a);
	}
	if ((p = pend_new(ctx)) == NULL) {
		api_reply_err(ctx, CAP_ERR_NOMEM, "certs");
		goto out;
	}
	if ((r = certsvc_enroll(ctx->deps->certs, &rq, pend_done, p, id, &ra,
	    err, sizeof(err))) != 0) {
		reply_fail(ctx, r, ra, err);
		pthread_mutex_destroy(&p->mtx);
		free(p);
		goto out;
	}
	pend_start(ctx, p, id);
 out:
	json_decref(body);
}

void
api_h_cert_renew(struct api_ctx *ctx)
{
	json_t *body = NULL;
	const char *why = NULL;
	struct pend *p = NULL;
	uint32_t ra = 0;
	int r, new_key = 1;

	if (!certs_ready(ctx))
		return;
	if (!certdb_id_valid(ctx->match.name)) {
		api_reply_status(ctx, 404, "no such certificate");
		return;
	}
	if (ctx->body_len > 0) {
		if (api_json_object_parse(ctx->body, ctx->body_len, &body,
		    &why) != 0) {
			api_reply_status(ctx, 400, "the body is not a JSON object");
			return;
		}
		if (json_is_false(json_object_get(body, "new_key")))
			new_key = 0;
		json_decref(body);
	}
	if ((p = pend_new(ctx)) == NULL) {
		api_reply_err(ctx, CAP_ERR_NOMEM, "certs");
		return;
	}
	if ((r = certsvc_renew(ctx->deps->certs, ctx->match.name, new_key,
	    pend_done, p, &ra)) != 0) {
		reply_fail(ctx, r, ra, NULL);
		pthread_mutex_destroy(&p->mtx);
		free(p);
		return;
	}
	pend_start(ctx, p, ctx->match.name);
}

void
api_h_cert_list(struct api_ctx *ctx)
{
	struct certdb_filter f;
	struct certdb_cert *c = NULL;
	const char *v;
	char **ids = NULL;
	uint64_t secs;
	size_t n = 0, i;
	json_t *o, *a;
	int r;

	if (api_require(ctx, API_CAP_ADMIN, "*") != 0)
		return;
	memset(&f, 0, sizeof(f));
	if ((v = api_query_get(&ctx->query, "expiring_within")) != NULL) {
		if (cap_parse_duration(v, &secs) != 0) {
			api_reply_status(ctx, 400, "expiring_within is a "
			    "duration like 7d");
			return;
		}
		f.not_after_max = cap_now() + secs;
	}
	if ((v = api_query_get(&ctx->query, "ca")) != NULL) {
		if (!cap_name_valid(v)) {
			api_reply_status(ctx, 400, "invalid CA name");
			return;
		}
		f.ca = v;
	}
	if ((v = api_query_get(&ctx->query, "status")) != NULL &&
	    (f.status = certdb_status_parse(v)) < 0) {
		api_reply_status(ctx, 400, "unknown status");
		return;
	}
	if ((r = certdb_list(ctx->deps->s, &f, &ids, &n)) != 0) {
		api_reply_err(ctx, r, "certs list");
		return;
	}
	a = json_array();
	for (i = 0; i < n; i++) {
		if (certdb_get(ctx->deps->s, ids[i], &c) != 0)
			continue;
		json_array_append_new(a, cert_json(c, 0));
		certdb_cert_free(c);
		c = NULL;
	}
	store_names_free(ids, n);
	o = json_object();
	json_object_set_new(o, "certs", a);
	api_reply_json(ctx, 200, o);
}

void
api_h_cert_get(struct api_ctx *ctx)
{
	if (api_require(ctx, API_CAP_ADMIN, "*") != 0)
		return;
	if (!certdb_id_valid(ctx->match.name)) {
		api_reply_status(ctx, 404, "no such certificate");
		return;
	}
	reply_cert(ctx, 200, ctx->match.name);
}

void
api_h_cert_revoke(struct api_ctx *ctx)
{
	json_t *body = NULL;
	const char *why = NULL, *rs;
	char err[256];
	int r, reason = 0;

	if (!certs_ready(ctx))
		return;
	if (!certdb_id_valid(ctx->match.name)) {
		api_reply_status(ctx, 404, "no such certificate");
		return;
	}
	if (ctx->body_len > 0) {
		if (api_json_object_parse(ctx->body, ctx->body_len, &body,
		    &why) != 0) {
			api_reply_status(ctx, 400, "the body is not a JSON object");
			return;
		}
		if ((rs = jstr(body, "reason")) != NULL &&
		    (reason = ca_reason_parse(rs)) < 0) {
			json_decref(body);
			api_reply_status(ctx, 400, "unknown RFC 5280 reason");
			return;
		}
		json_decref(body);
	}
	if ((r = certsvc_revoke(ctx->deps->certs, ctx->match.name, reason,
	    err, sizeof(err))) != 0) {
		reply_fail(ctx, r, 0, err);
		return;
	}
	reply_cert(ctx, 200, ctx->match.name);
}

/*
 * A certificate from a CMP, SCEP or EST CA is checked over the network
 * (OCSP, then CRL), each request bounded by CERTSTATUS_TIMEOUT_MS, so the
 * check runs off the worker (api_offload).
 */
struct status_job {
	struct api_ctx		*ctx;
	char			 id[CERTDB_ID_LEN + 1];
	int			 r;
	struct certstatus_result res;
};

static void
status_work(void *arg)
{
	struct status_job *sj = arg;

	sj->r = certsvc_status(sj->ctx->deps->certs, sj->id, &sj->res);
}

static void
status_done(void *arg)
{
	struct status_job *sj = arg;
	struct api_ctx *ctx = sj->ctx;
	json_t *o;
	char t[32];

	if (sj->r != 0)
		reply_fail(ctx, sj->r, 0, NULL);
	else {
		cap_format_time(cap_now(), t);
		o = json_pack("{s:s,s:s,s:s}", "status", sj->res.status,
		    "source", sj->res.source, "checked", t);
		if (o != NULL && sj->res.reason[0] != '\0')
			json_object_set_new(o, "reason",
			    json_string(sj->res.reason));
		if (o != NULL && sj->res.revoked_at != 0) {
			cap_format_time(sj->res.revoked_at, t);
			json_object_set_new(o, "revoked_at", json_string(t));
		}
		api_reply_json(ctx, 200, o);
	}
	api_defer_finish(ctx);
	free(sj);
}

void
api_h_cert_status(struct api_ctx *ctx)
{
	struct status_job *sj;

	if (!certs_ready(ctx))
		return;
	if (!certdb_id_valid(ctx->match.name)) {
		api_reply_status(ctx, 404, "no such certificate");
		return;
	}
	if ((sj = calloc(1, sizeof(*sj))) == NULL) {
		api_reply_err(ctx, CAP_ERR_NOMEM, "certs status");
		return;
	}
	sj->ctx = ctx;
	snprintf(sj->id, sizeof(sj->id), "%.*s", CERTDB_ID_LEN, ctx->match.name);
	if (api_offload(ctx, status_work, status_done, sj) != 0) {
		free(sj);
		api_reply_status(ctx, 503, "try again later");
	}
}

/* ---- metrics ---- */

struct mbuf {
	char	*p;
	size_t	 len, cap;
	int	 err;
};

static void
mprintf(struct mbuf *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
mprintf(struct mbuf *m, const char *fmt, ...)
{
	va_list ap;
	char *np;
	int n;

	if (m->err)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(m->p + m->len, m->cap - m->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			m->err = 1;
			return;
		}
		if ((size_t)n < m->cap - m->len) {
			m->len += (size_t)n;
			return;
		}
		if ((np = realloc(m->p, m->cap * 2 + (size_t)n + 1)) == NULL) {
			m->err = 1;
			return;
		}
		m->p = np;
		m->cap = m->cap * 2 + (size_t)n + 1;
	}
}

/* Label values: only what needs no escaping is printed as it is. */
static void
mlabel(char *out, size_t outsz, const char *in)
{
	size_t i, o = 0;

	for (i = 0; in[i] != '\0' && o + 1 < outsz; i++)
		out[o++] = (in[i] == '"' || in[i] == '\\' ||
		    (unsigned char)in[i] < 0x20) ? '_' : in[i];
	out[o] = '\0';
}

static void
metrics_flow(void *arg, const char *ca, const struct flow_stats *st)
{
	struct mbuf *m = arg;

	mprintf(m, "capstone_ca_requests_total{ca=\"%s\",outcome=\"ok\"} %llu\n",
	    ca, (unsigned long long)st->ok);
	mprintf(m, "capstone_ca_requests_total{ca=\"%s\",outcome=\"failed\"} %llu\n",
	    ca, (unsigned long long)st->failed);
	mprintf(m, "capstone_ca_requests_total{ca=\"%s\",outcome=\"unavailable\"} %llu\n",
	    ca, (unsigned long long)st->unavailable);
	mprintf(m, "capstone_ca_requests_total{ca=\"%s\",outcome=\"rate_limited\"} %llu\n",
	    ca, (unsigned long long)st->rate_limited);
	mprintf(m, "capstone_ca_queue_depth{ca=\"%s\"} %u\n", ca, st->queued);
	mprintf(m, "capstone_ca_in_flight{ca=\"%s\"} %u\n", ca, st->in_flight);
	mprintf(m, "capstone_ca_in_flight_max{ca=\"%s\"} %u\n", ca,
	    st->max_in_flight_seen);
}

void
api_h_sys_metrics(struct api_ctx *ctx)
{
	struct mbuf m = { NULL, 0, 0, 0 };
	struct certdb_cert *c = NULL;
	char **ids = NULL, subj[CERTDB_SUBJECT_MAX + 1];
	size_t n = 0, i;
	uint64_t now = cap_now();

	if (api_require(ctx, API_CAP_AUTHENTICATED, NULL) != 0)
		return;
	if ((m.p = malloc(4096)) == NULL) {
		api_reply_err(ctx, CAP_ERR_NOMEM, "metrics");
		return;
	}
	m.cap = 4096;
	m.p[0] = '\0';
	mprintf(&m, "# TYPE capstone_cert_expiry_seconds gauge\n");
	if (certdb_list(ctx->deps->s, NULL, &ids, &n) == 0) {
		for (i = 0; i < n; i++) {
			if (certdb_get(ctx->deps->s, ids[i], &c) != 0)
				continue;
			if (c->not_after != 0 && c->status != CERTDB_REVOKED) {
				mlabel(subj, sizeof(subj), c->subject);
				mprintf(&m, "capstone_cert_expiry_seconds{id=\"%s\","
				    "ca=\"%s\",subject=\"%s\"} %lld\n", c->id,
				    c->ca, subj,
				    (long long)c->not_after - (long long)now);
			}
			certdb_cert_free(c);
			c = NULL;
		}
		store_names_free(ids, n);
	}
	mprintf(&m, "# TYPE capstone_ca_requests_total counter\n"
	    "# TYPE capstone_ca_queue_depth gauge\n");
	if (ctx->deps->certs != NULL)
		certsvc_flow_each(ctx->deps->certs, metrics_flow, &m);
	if (m.err) {
		free(m.p);
		api_reply_err(ctx, CAP_ERR_NOMEM, "metrics");
		return;
	}
	api_reply_raw(ctx, 200, "text/plain; version=0.0.4", m.p, m.len);
}
