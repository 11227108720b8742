/*
 * handlers_lcm.c - /cmf/v1/lcm-notifications: VNF lifecycle notifications
 * (ETSI SOL 003 VnfLcmOperationOccurrenceNotification) handed to the CMF,
 * and the occurrence log.
 *
 * cmf_lcm_notify blocks while the CA issues and revokes, so it runs on a
 * thread of its own (api_offload), as a job of the CMF (cmf_job_begin: the
 * CMF is not freed under it at shutdown); the reply is sent on the worker
 * once it is done.  The CMF applies notifications one at a time.
 *
 * Answers: 200 {"id","replayed","acted","summary":{...}}; 204 without a
 * body when the caller's Accept header does not take JSON (the SOL 003
 * notification endpoint answers 204 No Content); 400 malformed, 404
 * unknown VNF instance, 413 over LCM_JSON_MAX.  Admins only (admin on
 * "*"), like the rest of the CMF.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <sodium.h>

#include "api/api_int.h"
#include "api/handlers.h"
#include "api/reply.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "nfv/cmf.h"
#include "nfv/lcm.h"
#include "store/cmfdb.h"

struct lcm_job {
	struct api_ctx	*ctx;
	cmf		*cmf;
	char		*body;		/* a copy; wiped */
	size_t		 len;
	int		 no_content;	/* answer 204 */
	int		 result;
	int		 replayed;
	char		*summary;	/* malloc'd JSON text */
	char		 err[256];
};

static void
job_free(struct lcm_job *j)
{
	if (j == NULL)
		return;
	if (j->body != NULL) {
		sodium_memzero(j->body, j->len);
		free(j->body);
	}
	free(j->summary);
	free(j);
}

static void
reply_code(struct api_ctx *ctx, int status, const char *code, const char *msg)
{
	api_reply_json(ctx, status, api_error_body(code, msg));
}

/* The CMF's refusals, with its client-safe reason where it gave one. */
static void
reply_fail(struct api_ctx *ctx, int r, const char *why)
{
	const char *m = why != NULL && why[0] != '\0' ? why : NULL;

	switch (r) {
	case CAP_ERR_INVALID:
		reply_code(ctx, 400, "invalid", m ? m :
		    "malformed notification");
		break;
	case CAP_ERR_NOT_FOUND:
		reply_code(ctx, 404, "not_found", m ? m :
		    "unknown VNF instance");
		break;
	case CAP_ERR_TOO_LARGE:
		reply_code(ctx, 413, "too_large",
		    "the notification is too large");
		break;
	case CAP_ERR_UNAVAILABLE:
		reply_code(ctx, 503, "unavailable", "the CA is unavailable");
		break;
	case CAP_ERR_DENIED:
		reply_code(ctx, 502, "ca_rejected", "the CA refused a request");
		break;
	default:
		api_reply_err(ctx, r, "lcm notify");
	}
}

/* The summary object, or an empty one when the text does not parse. */
static json_t *
summary_json(const char *text)
{
	json_t *o = NULL;

	if (text != NULL)
		o = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		o = json_object();
	}
	return o;
}

/* On the worker: the notification was handled. */
static void
job_done(void *arg)
{
	struct lcm_job *j = arg;
	struct api_ctx *ctx = j->ctx;
	json_t *s, *o, *v;

	if (j->result != 0)
		reply_fail(ctx, j->result, j->err);
	else if (j->no_content)
		api_reply_empty(ctx, 204);
	else {
		s = summary_json(j->summary);
		o = json_object();
		if (o != NULL) {
			v = json_object_get(s, "id");
			json_object_set_new(o, "id", v != NULL ?
			    json_incref(v) : json_string(""));
			json_object_set_new(o, "replayed",
			    json_boolean(j->replayed));
			/* A replay changes nothing, whatever the first did. */
			json_object_set_new(o, "acted", json_boolean(
			    !j->replayed &&
			    json_is_true(json_object_get(s, "acted"))));
			json_object_set_new(o, "summary", s);
			s = NULL;
		}
		json_decref(s);
		api_reply_json(ctx, 200, o);
	}
	api_defer_finish(ctx);
	job_free(j);
}

/* On its own thread (api_offload), a job of the CMF (cmf_job_begin). */
static void
job_run(void *arg)
{
	struct lcm_job *j = arg;

	if ((j->result = cmf_job_begin(j->cmf)) != 0)
		return;
	j->result = cmf_lcm_notify(j->cmf, j->body, j->len, &j->replayed,
	    &j->summary, j->err, sizeof(j->err));
	cmf_job_end(j->cmf);
}

/* 1 when the request's Accept header is there and takes no JSON. */
static int
wants_no_content(struct api_ctx *ctx)
{
	const char *acc;

	if (ctx->req == NULL || (acc = evhttp_find_header(
	    evhttp_request_get_input_headers(ctx->req), "Accept")) == NULL)
		return 0;
	return strstr(acc, "json") == NULL && strstr(acc, "*/*") == NULL &&
	    strstr(acc, "application/*") == NULL;
}

static int
lcm_ready(struct api_ctx *ctx)
{
	if (api_require(ctx, API_CAP_ADMIN, "*") != 0)
		return 0;
	if (ctx->deps->cmf == NULL) {
		reply_code(ctx, 503, "unavailable",
		    "the certificate management function is not running");
		return 0;
	}
	return 1;
}

void
api_h_lcm_notify(struct api_ctx *ctx)
{
	struct lcm_job *j = NULL;

	if (!lcm_ready(ctx))
		return;
	if (ctx->body_len > LCM_JSON_MAX) {
		reply_fail(ctx, CAP_ERR_TOO_LARGE, NULL);
		return;
	}
	if (ctx->body == NULL || ctx->body_len == 0) {
		reply_code(ctx, 400, "invalid", "the body is not a JSON object");
		return;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (j->body = malloc(ctx->body_len)) == NULL) {
		job_free(j);
		api_reply_err(ctx, CAP_ERR_NOMEM, "lcm notify");
		return;
	}
	memcpy(j->body, ctx->body, ctx->body_len);
	j->len = ctx->body_len;
	j->ctx = ctx;
	j->cmf = ctx->deps->cmf;
	j->no_content = wants_no_content(ctx);
	if (api_offload(ctx, job_run, job_done, j) != 0) {
		reply_code(ctx, 503, "unavailable", "try again later");
		job_free(j);
	}
}

void
api_h_lcm_get(struct api_ctx *ctx)
{
	struct cmfdb_lcm rec;
	json_t *o;
	char t[32];
	int r;

	memset(&rec, 0, sizeof(rec));
	if (!lcm_ready(ctx))
		return;
	if (!lcm_id_valid(ctx->match.name, LCM_ID_MAX)) {
		reply_code(ctx, 404, "not_found", "no such notification");
		return;
	}
	if ((r = cmfdb_lcm_get(ctx->deps->s, ctx->match.name, &rec)) != 0) {
		if (r == CAP_ERR_NOT_FOUND)
			reply_code(ctx, 404, "not_found",
			    "no such notification");
		else
			api_reply_err(ctx, r, "lcm get");
		return;
	}
	cap_format_time(rec.time, t);
	o = json_pack("{s:s,s:s,s:s,s:s,s:o}", "id", rec.id, "time", t,
	    "vnfInstanceId", rec.vnf_instance_id, "operation", rec.operation,
	    "summary", summary_json(rec.summary));
	cmfdb_lcm_clear(&rec);
	api_reply_json(ctx, 200, o);
}
