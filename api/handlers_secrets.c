/*
 * handlers_secrets.c - /v1/domains/{d}/secrets: put, get, list, versions,
 * delete, destroy.
 *
 * Plaintext passes through here twice: the PUT body (a copy wiped by the
 * server loop) and its compact serialisation (wiped by api_put_req_clear),
 * and the GET result (wiped by envelope_plaintext_free, the reply body
 * wiped once written).  jansson's own copies are wiped by the allocator of
 * request.c.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/handlers.h"
#include "api/reply.h"
#include "api/request.h"
#include "common/err.h"
#include "common/util.h"

void
api_h_secret_put(struct api_ctx *ctx)
{
	struct api_put_req pr = { NULL, 0, VAULT_CAS_NONE };
	const char *why = NULL;
	uint32_t version = 0;
	int r;

	/* Authorised first: a caller without write learns nothing more. */
	if (api_require(ctx, API_CAP_WRITE, ctx->match.domain) != 0)
		return;
	if ((r = api_req_secret_put(ctx->body, ctx->body_len, &pr,
	    &why)) != 0) {
		if (r == CAP_ERR_INVALID || r == CAP_ERR_TOO_LARGE)
			api_reply_status(ctx, r == CAP_ERR_INVALID ? 400 : 413,
			    why);
		else
			api_reply_err(ctx, r, "secret body");
		goto out;
	}
	if ((r = vault_secret_put(ctx->deps->v, ctx->match.domain,
	    ctx->match.name, (const uint8_t *)pr.data, pr.len, pr.cas,
	    &version)) != 0) {
		if (r == CAP_ERR_CONFLICT)
			api_reply_status(ctx, 409, "check-and-set mismatch: "
			    "the current version differs from \"cas\"");
		else
			api_reply_err(ctx, r, "secret put");
		goto out;
	}
	api_reply_json(ctx, 200, json_pack("{s:I}", "version",
	    (json_int_t)version));
 out:
	api_put_req_clear(&pr);
}

void
api_h_secret_get(struct api_ctx *ctx)
{
	struct store_secret_meta meta;
	const char *qv;
	uint8_t *data = NULL;
	size_t len = 0;
	uint32_t version = 0;
	char created[32];
	json_t *obj = NULL;
	int r;

	if ((qv = api_query_get(&ctx->query, "version")) != NULL &&
	    api_parse_u32(qv, 1, &version) != 0) {
		api_reply_status(ctx, 400,
		    "\"version\" must be an integer from 1 to 4294967295");
		return;
	}
	if (api_require(ctx, API_CAP_READ, ctx->match.domain) != 0)
		return;
	memset(&meta, 0, sizeof(meta));
	if ((r = vault_secret_get(ctx->deps->v, ctx->match.domain,
	    ctx->match.name, version, &data, &len, &meta)) != 0) {
		api_reply_err(ctx, r, "secret get");
		return;
	}
	if ((obj = json_loadb((const char *)data, len, 0, NULL)) == NULL ||
	    !json_is_object(obj)) {
		json_decref(obj);
		api_reply_err(ctx, CAP_ERR_CORRUPT, "secret data");
		goto out;
	}
	cap_format_time(meta.created, created);
	api_reply_json(ctx, 200, json_pack("{s:s,s:I,s:o,s:s}",
	    "name", ctx->match.name, "version", (json_int_t)meta.version,
	    "data", obj, "created", created));
 out:
	envelope_plaintext_free(data, len);
}

void
api_h_secret_versions(struct api_ctx *ctx)
{
	struct store_secret_meta *metas = NULL;
	json_t *arr = NULL, *body = NULL;
	char created[32];
	size_t n = 0, i;
	int r;

	if (api_require(ctx, API_CAP_READ, ctx->match.domain) != 0)
		return;
	if ((r = vault_secret_versions(ctx->deps->v, ctx->match.domain,
	    ctx->match.name, &metas, &n)) != 0) {
		api_reply_err(ctx, r, "secret versions");
		return;
	}
	if ((arr = json_array()) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		cap_format_time(metas[i].created, created);
		if (json_array_append_new(arr, json_pack("{s:I,s:s,s:b,s:b}",
		    "version", (json_int_t)metas[i].version,
		    "created", created,
		    "deleted", (metas[i].flags & STORE_SECRET_DELETED) != 0,
		    "destroyed",
		    (metas[i].flags & STORE_SECRET_DESTROYED) != 0)) != 0)
			goto out;
	}
	body = json_pack("{s:o}", "versions", arr);
	arr = NULL;	/* transferred */
 out:
	json_decref(arr);
	free(metas);
	api_reply_json(ctx, 200, body);
}

void
api_h_secret_list(struct api_ctx *ctx)
{
	char **names = NULL;
	size_t n = 0, i;
	json_t *arr = NULL, *body = NULL;
	int r;

	if (api_require(ctx, API_CAP_LIST, ctx->match.domain) != 0)
		return;
	if ((r = vault_secret_list(ctx->deps->v, ctx->match.domain, &names,
	    &n)) != 0) {
		api_reply_err(ctx, r, "secret list");
		return;
	}
	if ((arr = json_array()) == NULL)
		goto out;
	for (i = 0; i < n; i++)
		if (json_array_append_new(arr, json_string(names[i])) != 0)
			goto out;
	body = json_pack("{s:o}", "names", arr);
	arr = NULL;	/* transferred */
 out:
	json_decref(arr);
	store_names_free(names, n);
	api_reply_json(ctx, 200, body);
}

void
api_h_secret_delete(struct api_ctx *ctx)
{
	int r;

	if (api_require(ctx, API_CAP_DELETE, ctx->match.domain) != 0)
		return;
	if ((r = vault_secret_delete(ctx->deps->v, ctx->match.domain,
	    ctx->match.name)) != 0) {
		api_reply_err(ctx, r, "secret delete");
		return;
	}
	api_reply_empty(ctx, 204);
}

void
api_h_secret_destroy(struct api_ctx *ctx)
{
	uint32_t *versions = NULL;
	const char *why = NULL;
	size_t n = 0;
	int r;

	if ((r = api_req_destroy(ctx->body, ctx->body_len, &versions, &n,
	    &why)) != 0) {
		if (r == CAP_ERR_INVALID)
			api_reply_status(ctx, 400, why);
		else
			api_reply_err(ctx, r, "destroy body");
		return;
	}
	if (api_require(ctx, API_CAP_DELETE, ctx->match.domain) != 0)
		goto out;
	if ((r = vault_secret_destroy(ctx->deps->v, ctx->match.domain,
	    ctx->match.name, versions, n)) != 0) {
		api_reply_err(ctx, r, "secret destroy");
		goto out;
	}
	api_reply_empty(ctx, 204);
 out:
	free(versions);
}
