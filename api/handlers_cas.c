/*
 * handlers_cas.c - /v1/cas: CA connectors (admin on "*"), and each CA's
 * chain, CRL and OCSP responder (any authenticated caller).
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "api/api_int.h"
#include "api/handlers.h"
#include "api/reply.h"
#include "api/request.h"
#include "ca/ca.h"
#include "ca/conns.h"
#include "common/err.h"

/* Takes a reference on the connector named in the path; answers on failure. */
static int
conn_of(struct api_ctx *ctx, ca_conn **c)
{
	int r;

	*c = NULL;
	if (ctx->deps->conns == NULL) {
		api_reply_status(ctx, 503, "CA connectors are not available");
		return -1;
	}
	if ((r = ca_conns_get(ctx->deps->conns, ctx->match.name, c)) != 0) {
		api_reply_err(ctx, r, "ca lookup");
		return -1;
	}
	return 0;
}

/* The connector's chain as a JSON array of PEM strings, issuer first. */
static json_t *
chain_json(ca_conn *c, int *err)
{
	STACK_OF(X509) *sk = NULL;
	json_t *arr = NULL;
	BIO *b = NULL;
	char *p;
	long n;
	int i;

	if ((*err = ca_conn_ops(c)->chain(ca_conn_state(c), &sk)) != 0)
		return NULL;
	*err = CAP_ERR_NOMEM;
	if ((arr = json_array()) == NULL)
		goto out;
	for (i = 0; i < sk_X509_num(sk); i++) {
		if ((b = BIO_new(BIO_s_mem())) == NULL ||
		    PEM_write_bio_X509(b, sk_X509_value(sk, i)) != 1 ||
		    (n = BIO_get_mem_data(b, &p)) <= 0 ||
		    json_array_append_new(arr, json_stringn(p, (size_t)n)) != 0) {
			json_decref(arr);
			arr = NULL;
			goto out;
		}
		BIO_free(b);
		b = NULL;
	}
	*err = 0;
 out:
	BIO_free(b);
	sk_X509_pop_free(sk, X509_free);
	return arr;
}

void
api_h_ca_create(struct api_ctx *ctx)
{
	json_t *j = NULL, *settings = NULL, *limits, *v, *chain, *body;
	const char *why = NULL, *name, *proto;
	char err[256] = "";
	ca_conn *c = NULL;
	int r;

	if (api_require(ctx, API_CAP_ADMIN, "*") != 0)
		return;
	if (ctx->deps->conns == NULL) {
		api_reply_status(ctx, 503, "CA connectors are not available");
		return;
	}
	if (api_json_object_parse(ctx->body, ctx->body_len, &j, &why) != 0) {
		api_reply_status(ctx, 400, why);
		return;
	}
	if ((v = json_object_get(j, "name")) == NULL || !json_is_string(v) ||
	    !cap_name_valid(name = json_string_value(v))) {
		api_reply_status(ctx, 400, "\"name\" must be a valid name");
		goto out;
	}
	if ((v = json_object_get(j, "protocol")) == NULL || !json_is_string(v) ||
	    ca_ops_find(proto = json_string_value(v)) == NULL) {
		api_reply_status(ctx, 400, "\"protocol\" must be one of local, "
		    "cmp, est, scep");
		goto out;
	}
	if ((settings = json_deep_copy(j)) == NULL) {
		api_reply_err(ctx, CAP_ERR_NOMEM, "ca create");
		goto out;
	}
	json_object_del(settings, "name");
	json_object_del(settings, "protocol");
	json_object_del(settings, "limits");
	limits = json_object_get(j, "limits");
	if ((r = ca_conns_add(ctx->deps->conns, name, proto, settings, limits,
	    err, sizeof(err))) != 0) {
		if (r == CAP_ERR_INVALID) {
			body = api_error_body("invalid", err[0] ? err :
			    "invalid connector settings");
			api_reply_json(ctx, 400, body);
		} else if (r == CAP_ERR_EXISTS)
			api_reply_status(ctx, 409, "a CA with this name exists");
		else
			api_reply_err(ctx, r, "ca create");
		goto out;
	}
	if ((r = ca_conns_get(ctx->deps->conns, name, &c)) != 0 ||
	    (chain = chain_json(c, &r)) == NULL) {
		api_reply_err(ctx, r, "ca chain");
		goto out;
	}
	api_reply_json(ctx, 201, json_pack("{s:s,s:s,s:o}", "name", name,
	    "protocol", proto, "chain", chain));
 out:
	ca_conn_release(c);
	json_decref(settings);
	json_decref(j);
}

void
api_h_ca_list(struct api_ctx *ctx)
{
	struct ca_conn_entry *v = NULL;
	json_t *arr = NULL;
	size_t n = 0, i;
	int r;

	if (api_require(ctx, API_CAP_ADMIN, "*") != 0)
		return;
	if (ctx->deps->conns == NULL) {
		api_reply_status(ctx, 503, "CA connectors are not available");
		return;
	}
	if ((r = ca_conns_list(ctx->deps->conns, &v, &n)) != 0) {
		api_reply_err(ctx, r, "ca list");
		return;
	}
	if ((arr = json_array()) != NULL)
		for (i = 0; i < n; i++)
			if (json_array_append_new(arr, json_pack("{s:s,s:s}",
			    "name", v[i].name, "protocol", v[i].protocol)) != 0) {
				json_decref(arr);
				arr = NULL;
				break;
			}
	free(v);
	api_reply_json(ctx, 200, arr ? json_pack("{s:o}", "cas", arr) : NULL);
}

void
api_h_ca_get(struct api_ctx *ctx)
{
	json_t *o = NULL, *chain;
	ca_conn *c = NULL;
	int r = CAP_ERR_NOMEM;

	if (api_require(ctx, API_CAP_ADMIN, "*") != 0 || conn_of(ctx, &c) != 0)
		return;
	if ((chain = chain_json(c, &r)) == NULL ||
	    (o = json_pack("{s:s,s:s,s:o,s:O}", "name", ca_conn_name(c),
	    "protocol", ca_conn_protocol(c), "chain", chain, "settings",
	    ca_conn_settings(c))) == NULL)
		goto fail;
	if (ca_conn_ops(c)->describe != NULL &&
	    (r = ca_conn_ops(c)->describe(ca_conn_state(c), o)) != 0)
		goto fail;
	ca_conn_release(c);
	api_reply_json(ctx, 200, o);
	return;
 fail:
	json_decref(o);
	ca_conn_release(c);
	api_reply_err(ctx, r, "ca describe");
}

void
api_h_ca_delete(struct api_ctx *ctx)
{
	int r;

	if (api_require(ctx, API_CAP_ADMIN, "*") != 0)
		return;
	if (ctx->deps->conns == NULL) {
		api_reply_status(ctx, 503, "CA connectors are not available");
		return;
	}
	if ((r = ca_conns_remove(ctx->deps->conns, ctx->match.name)) != 0) {
		api_reply_err(ctx, r, "ca delete");
		return;
	}
	api_reply_empty(ctx, 204);
}

void
api_h_ca_chain(struct api_ctx *ctx)
{
	ca_conn *c = NULL;
	json_t *chain;
	int r;

	if (api_require(ctx, API_CAP_AUTHENTICATED, "*") != 0 ||
	    conn_of(ctx, &c) != 0)
		return;
	chain = chain_json(c, &r);
	ca_conn_release(c);
	if (chain == NULL) {
		api_reply_err(ctx, r, "ca chain");
		return;
	}
	api_reply_json(ctx, 200, json_pack("{s:o}", "chain", chain));
}

void
api_h_ca_crl(struct api_ctx *ctx)
{
	ca_conn *c = NULL;
	uint8_t *der = NULL;
	size_t len = 0;
	int r;

	if (api_require(ctx, API_CAP_AUTHENTICATED, "*") != 0 ||
	    conn_of(ctx, &c) != 0)
		return;
	if (ca_conn_ops(c)->crl == NULL) {
		ca_conn_release(c);
		api_reply_status(ctx, 404, "this CA publishes no CRL here");
		return;
	}
	r = ca_conn_ops(c)->crl(ca_conn_state(c), &der, &len);
	ca_conn_release(c);
	if (r != 0) {
		api_reply_err(ctx, r, "ca crl");
		return;
	}
	api_reply_raw(ctx, 200, "application/pkix-crl", (char *)der, len);
}

void
api_h_ca_ocsp(struct api_ctx *ctx)
{
	ca_conn *c = NULL;
	uint8_t *resp = NULL;
	size_t len = 0;
	int r;

	if (api_require(ctx, API_CAP_AUTHENTICATED, "*") != 0 ||
	    conn_of(ctx, &c) != 0)
		return;
	if (ca_conn_ops(c)->ocsp == NULL) {
		ca_conn_release(c);
		api_reply_status(ctx, 404, "this CA answers no OCSP here");
		return;
	}
	r = ca_conn_ops(c)->ocsp(ca_conn_state(c), ctx->body, ctx->body_len,
	    &resp, &len);
	ca_conn_release(c);
	if (r != 0) {
		if (r == CAP_ERR_INVALID)
			api_reply_status(ctx, 400, "not an OCSP request");
		else
			api_reply_err(ctx, r, "ca ocsp");
		return;
	}
	api_reply_raw(ctx, 200, "application/ocsp-response", (char *)resp, len);
}
