/*
 * handlers_cmp.c - CMP over HTTP (RFC 6712) on the enrolment listener:
 * POST /pkix/ and /pkix/<ca> with application/pkixcmp.  The protocol is
 * nfv/cmp_srv.c's; CMP-level refusals travel as CMP error messages with
 * 200, as RFC 6712 3.3 asks; only what is not CMP at all gets an HTTP
 * error.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/x509.h>

#include "api/api_int.h"
#include "api/enrol.h"
#include "api/reply.h"
#include "common/err.h"
#include "common/log.h"
#include "nfv/cmf.h"
#include "nfv/cmp_srv.h"

struct cmp_job {
	struct api_ctx	*ctx;
	const struct api_deps *deps;
	char		 ca[CAP_NAME_MAX + 1];
	const uint8_t	*req;		/* ctx's body, kept until done */
	size_t		 reqlen;
	int		 result;
	uint8_t		*resp;
	size_t		 resplen;
	char		 ident[CMP_IDENT_MAX];
};

static void
cmp_work(void *arg)
{
	struct cmp_job *j = arg;
	STACK_OF(X509) *chain = NULL;

	/* Without a chain, genm answers empty and an ip has no caPubs. */
	if (api_enrol_chain(j->deps, j->ca, &chain) != 0)
		chain = NULL;
	j->result = cmp_srv_process(api_enrol_cmp(j->deps->enrol),
	    j->deps->cmf, j->req, j->reqlen, chain, &j->resp, &j->resplen,
	    j->ident);
	sk_X509_pop_free(chain, X509_free);
}

static void
cmp_done(void *arg)
{
	struct cmp_job *j = arg;
	struct api_ctx *ctx = j->ctx;

	api_enrol_set_identity(ctx, j->ident);
	if (j->result == 0) {
		api_reply_raw(ctx, 200, "application/pkixcmp", (char *)j->resp,
		    j->resplen);
		j->resp = NULL;	/* transferred */
	} else if (j->result == CAP_ERR_INVALID)
		api_reply_status(ctx, 400, "the body is not a CMP message");
	else if (j->result == CAP_ERR_TOO_LARGE)
		api_reply_status(ctx, 413, "the CMP message is too large");
	else
		api_reply_err(ctx, j->result, "cmp");
	api_defer_finish(ctx);
	free(j->resp);
	free(j);
}

void
api_h_cmp(struct api_ctx *ctx)
{
	struct cmp_job *j;
	const char *ct = NULL;

	if (ctx->deps->cmf == NULL || ctx->deps->enrol == NULL) {
		api_reply_status(ctx, 503, "the enrolment service is not "
		    "running");
		return;
	}
	if (ctx->req != NULL)
		ct = evhttp_find_header(evhttp_request_get_input_headers(
		    ctx->req), "Content-Type");
	if (ct == NULL || strncasecmp(ct, "application/pkixcmp", 19) != 0) {
		api_reply_status(ctx, 400, "the content type must be "
		    "application/pkixcmp");
		return;
	}
	if (ctx->body == NULL || ctx->body_len == 0) {
		api_reply_status(ctx, 400, "the body is not a CMP message");
		return;
	}
	if (ctx->body_len > CMP_MSG_MAX) {
		api_reply_status(ctx, 413, "the CMP message is too large");
		return;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		api_reply_err(ctx, CAP_ERR_NOMEM, "cmp");
		return;
	}
	j->ctx = ctx;
	j->deps = ctx->deps;
	memcpy(j->ca, ctx->match.name, sizeof(j->ca));
	j->req = ctx->body;
	j->reqlen = ctx->body_len;
	if (api_offload(ctx, cmp_work, cmp_done, j) != 0) {
		free(j);
		api_reply_status(ctx, 503, NULL);
	}
}
