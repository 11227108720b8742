/*
 * handlers_est.c - EST (RFC 7030) on the enrolment listener: cacerts,
 * simpleenroll, simplereenroll, with an optional CA label segment.
 *
 * simpleenroll authenticates with the TLS client certificate (a
 * certificate the CMF issued and that is valid now, or an initial
 * certificate) or, without one that means anything, HTTP Basic with an
 * initial credential (user = reference, password = secret).
 * simplereenroll needs the TLS client certificate being renewed.
 * A request the CA has not answered within [enrol] wait is answered 202
 * with Retry-After (RFC 7030 4.2.3); the client repeats it to collect.
 * Errors keep the API's JSON shape; 401 also carries WWW-Authenticate.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "api/api_int.h"
#include "api/enrol.h"
#include "api/reply.h"
#include "common/err.h"
#include "common/log.h"
#include "nfv/cmf.h"
#include "nfv/est_srv.h"

#define EST_RETRY_S	30
#define EST_CT_CERTS	"application/pkcs7-mime; smime-type=certs-only"

struct est_job {
	struct api_ctx	*ctx;
	cmf		*c;
	int		 reenroll;
	uint8_t		*csr;
	size_t		 csrlen;
	uint8_t		*peer;		/* TLS client certificate, DER */
	size_t		 peerlen;
	int		 basic;
	char		 ref[CMF_INITCRED_REF_LEN + 1];
	char		 secret[EST_SECRET_MAX + 1];
	size_t		 secretlen;
	/* the outcome */
	int		 result;
	char		*body;		/* base64 PKCS#7 */
	size_t		 bodylen;
	char		 why[256];
	char		 ident[API_SUBJECT_MAX];
	uint32_t	 retry_after;	/* CAP_ERR_PENDING */
};

static void
job_free(struct est_job *j)
{
	if (j == NULL)
		return;
	free(j->csr);
	OPENSSL_free(j->peer);
	free(j->body);
	sodium_memzero(j, sizeof(*j));
	free(j);
}

static void
add_header(struct api_ctx *ctx, const char *k, const char *v)
{
	if (ctx->req != NULL)
		evhttp_add_header(evhttp_request_get_output_headers(ctx->req),
		    k, v);
}

static void
reply_unauth(struct api_ctx *ctx, const char *msg)
{
	add_header(ctx, "WWW-Authenticate", "Basic realm=\"capstone-est\"");
	api_reply_json(ctx, 401, api_error_body("unauthenticated", msg));
}

static void
reply_certs(struct api_ctx *ctx, char *b64, size_t len)
{
	add_header(ctx, "Content-Transfer-Encoding", "base64");
	api_reply_raw(ctx, 200, EST_CT_CERTS, b64, len);
}

static void
subject_of(const uint8_t *der, size_t len, char *out, size_t outsz)
{
	const unsigned char *p = der;
	X509 *x;
	BIO *b;
	int n;

	out[0] = '\0';
	if ((x = d2i_X509(NULL, &p, (long)len)) == NULL)
		return;
	if ((b = BIO_new(BIO_s_mem())) != NULL) {
		if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0,
		    XN_FLAG_RFC2253) >= 0 &&
		    (n = BIO_read(b, out, (int)outsz - 1)) > 0)
			out[n] = '\0';
		BIO_free(b);
	}
	X509_free(x);
}

void
api_h_est_cacerts(struct api_ctx *ctx)
{
	STACK_OF(X509) *chain = NULL;
	char *b64 = NULL;
	size_t len = 0;
	int r;

	if ((r = api_enrol_chain(ctx->deps, ctx->match.name, &chain)) != 0) {
		if (r == CAP_ERR_NOT_FOUND)
			api_reply_status(ctx, 404, "no such CA");
		else
			api_reply_err(ctx, r, "est cacerts");
		return;
	}
	if ((r = est_certs_encode(NULL, chain, &b64, &len)) != 0)
		api_reply_err(ctx, r, "est cacerts");
	else
		reply_certs(ctx, b64, len);
	sk_X509_pop_free(chain, X509_free);
}

/* Who asks: entity, certificate type and a claimed initial credential. */
static int
est_identify(struct est_job *j, char entity[CMF_ID_MAX + 1],
    char certtype[CMF_CERTTYPE_MAX + 1], struct cmf_initcred *claim)
{
	struct cmf_initcred ic;
	char cert_id[CERTDB_ID_LEN + 1];
	int r = CAP_ERR_UNAUTH;

	memset(claim, 0, sizeof(*claim));
	if (j->peer != NULL) {
		subject_of(j->peer, j->peerlen, j->ident, sizeof(j->ident));
		if (cmf_cert_lookup(j->c, j->peer, j->peerlen, entity, cert_id,
		    certtype) == 0)
			return 0;
		if (cmf_initcred_claim_cert(j->c, j->peer, j->peerlen,
		    &ic) == 0)
			goto claimed;
	}
	if (j->basic) {
		snprintf(j->ident, sizeof(j->ident), "initcred:%s", j->ref);
		if ((r = cmf_initcred_claim_secret(j->c, j->ref, j->secret,
		    j->secretlen, &ic)) == 0)
			goto claimed;
	}
	return r == 0 ? CAP_ERR_UNAUTH : r;
 claimed:
	snprintf(entity, CMF_ID_MAX + 1, "%s", ic.entity);
	snprintf(certtype, CMF_CERTTYPE_MAX + 1, "%s", ic.certtype);
	*claim = ic;	/* with its claim token */
	sodium_memzero(&ic, sizeof(ic));
	return 0;
}

/* On its own thread: the CMF may wait on the CA. */
static void
est_work(void *arg)
{
	struct est_job *j = arg;
	struct cmf_issued is;
	char entity[CMF_ID_MAX + 1], certtype[CMF_CERTTYPE_MAX + 1];
	struct cmf_initcred claim;
	int r;

	memset(&is, 0, sizeof(is));
	if (j->reenroll) {
		subject_of(j->peer, j->peerlen, j->ident, sizeof(j->ident));
		r = cmf_renew_csr(j->c, j->peer, j->peerlen, j->csr, j->csrlen,
		    CMF_MAY_PEND, &is, j->why, sizeof(j->why));
		/* A certificate the CMF does not know: no identity. */
		if (r == CAP_ERR_NOT_FOUND)
			r = CAP_ERR_UNAUTH;
	} else if ((r = est_identify(j, entity, certtype, &claim)) == 0)
		r = cmf_issue_csr_claimed(j->c, entity, certtype, j->csr,
		    j->csrlen, CMF_MAY_PEND, claim.ref[0] != '\0' ? &claim :
		    NULL, j->peer, j->peerlen, &is, j->why, sizeof(j->why));
	sodium_memzero(&claim, sizeof(claim));
	sodium_memzero(j->secret, sizeof(j->secret));
	if (r == 0)
		r = est_certs_encode(is.cert, NULL, &j->body, &j->bodylen);
	j->retry_after = is.retry_after;
	j->result = r;
	cmf_issued_clear(&is);
}

/* On the worker: the one reply. */
static void
est_done(void *arg)
{
	struct est_job *j = arg;
	struct api_ctx *ctx = j->ctx;
	char ra[16];

	api_enrol_set_identity(ctx, j->ident);
	switch (j->result) {
	case 0:
		reply_certs(ctx, j->body, j->bodylen);
		j->body = NULL;	/* transferred */
		break;
	case CAP_ERR_UNAUTH:
		reply_unauth(ctx, "no valid certificate or initial credential");
		break;
	case CAP_ERR_DENIED:
	case CAP_ERR_NOT_FOUND:
		api_reply_json(ctx, 403, api_error_body("forbidden",
		    j->why[0] != '\0' ? j->why :
		    "the request is not allowed for this identity"));
		break;
	case CAP_ERR_INVALID:
		api_reply_json(ctx, 400, api_error_body("bad_request",
		    j->why[0] != '\0' ? j->why : "the CSR was refused"));
		break;
	case CAP_ERR_CONFLICT:
		api_reply_json(ctx, 409, api_error_body("conflict",
		    j->why[0] != '\0' ? j->why : "another request is pending"));
		break;
	case CAP_ERR_GONE:
		api_reply_json(ctx, 410, api_error_body("gone",
		    j->why[0] != '\0' ? j->why : "the request is gone"));
		break;
	case CAP_ERR_PENDING:
		/* RFC 7030 4.2.3: the client repeats the same request */
		snprintf(ra, sizeof(ra), "%u", j->retry_after > 0 ?
		    j->retry_after : 1);
		add_header(ctx, "Retry-After", ra);
		api_reply_json(ctx, 202, json_pack("{s:s,s:i,s:s}", "status",
		    "pending", "retry_after", (int)j->retry_after, "message",
		    j->why));
		break;
	case CAP_ERR_UNAVAILABLE:
	case CAP_ERR_RATE:
		snprintf(ra, sizeof(ra), "%d", EST_RETRY_S);
		add_header(ctx, "Retry-After", ra);
		api_reply_err(ctx, j->result, "est enroll");
		break;
	default:
		api_reply_err(ctx, j->result, "est enroll");
		break;
	}
	api_defer_finish(ctx);
	job_free(j);
}

static void
est_start(struct api_ctx *ctx, int reenroll)
{
	struct est_job *j = NULL;
	const char *auth = NULL;
	int r;

	if (ctx->deps->cmf == NULL) {
		api_reply_status(ctx, 503, "the enrolment service is not "
		    "running");
		return;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		api_reply_err(ctx, CAP_ERR_NOMEM, "est");
		return;
	}
	j->ctx = ctx;
	j->c = ctx->deps->cmf;
	j->reenroll = reenroll;
	if ((r = api_enrol_peer_der(ctx, &j->peer, &j->peerlen)) != 0) {
		api_reply_err(ctx, r, "est peer");
		goto out;
	}
	if (ctx->req != NULL)
		auth = evhttp_find_header(evhttp_request_get_input_headers(
		    ctx->req), "Authorization");
	if (auth != NULL && !reenroll) {
		if (est_basic_parse(auth, j->ref, j->secret,
		    &j->secretlen) != 0) {
			reply_unauth(ctx, "malformed Basic credentials");
			goto out;
		}
		j->basic = 1;
	}
	if (j->peer == NULL && !j->basic) {
		reply_unauth(ctx, reenroll ? "re-enrollment needs the current "
		    "certificate as TLS client certificate" :
		    "a client certificate or an initial credential is "
		    "required");
		goto out;
	}
	if ((r = est_csr_decode(ctx->body, ctx->body_len, &j->csr,
	    &j->csrlen)) != 0) {
		if (r == CAP_ERR_TOO_LARGE)
			api_reply_status(ctx, 413, "the request is over 64 KiB");
		else
			api_reply_status(ctx, 400, "the body is not a base64 "
			    "PKCS#10 request");
		goto out;
	}
	if (api_offload(ctx, est_work, est_done, j) != 0) {
		api_reply_status(ctx, 503, NULL);
		goto out;
	}
	j = NULL;	/* transferred */
 out:
	job_free(j);
}

void
api_h_est_enroll(struct api_ctx *ctx)
{
	est_start(ctx, 0);
}

void
api_h_est_reenroll(struct api_ctx *ctx)
{
	est_start(ctx, 1);
}
