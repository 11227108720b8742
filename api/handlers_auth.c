/*
 * handlers_auth.c - /v1/policies and /v1/auth/tokens: access policies and
 * bearer tokens, all of them admin on every domain.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "api/handlers.h"
#include "api/policy.h"
#include "api/reply.h"
#include "api/request.h"
#include "api/request_auth.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "crypto/token.h"
#include "store/auth.h"

#define TOKEN_CREATE_TRIES	3	/* fresh token/accessor on a collision */

/* The policy as JSON (its normalised document, with its name), or NULL. */
static json_t *
policy_json(const policy *p)
{
	json_error_t jerr;
	json_t *j;
	char *s;

	if ((s = policy_to_json(p)) == NULL)
		return NULL;
	j = json_loads(s, 0, &jerr);
	free(s);
	return j;
}

/* Reads and parses the stored policy `name`. */
static int
policy_load(store *s, const char *name, policy **out)
{
	char *doc = NULL, err[160];
	size_t len;
	int r;

	*out = NULL;
	if ((r = store_policy_get(s, name, &doc, &len)) != 0)
		return r;
	if ((r = policy_parse(name, doc, len, out, err, sizeof(err))) != 0) {
		log_warn("api: stored policy %s does not parse: %s", name, err);
		r = CAP_ERR_CORRUPT;
	}
	free(doc);
	return r;
}

/* After a change: rebuild the cache every request is decided with. */
static void
policies_changed(struct api_ctx *ctx)
{
	int r;

	if (ctx->deps->authz != NULL &&
	    (r = api_authz_load(ctx->deps->authz, ctx->deps->s)) != 0)
		log_error("api: policy cache not rebuilt (%s); it still holds "
		    "the previous policies", cap_strerror(r));
}

void
api_h_policy_put(struct api_ctx *ctx)
{
	const char *name = ctx->match.name;
	policy *p = NULL;
	char err[160];
	int r;

	if (api_require(ctx, API_CAP_ADMIN, NULL) != 0)
		return;
	if ((r = api_req_policy_put(ctx->body, ctx->body_len, name, &p, err,
	    sizeof(err))) != 0) {
		if (r == CAP_ERR_TOO_LARGE)
			api_reply_status(ctx, 413, err);
		else if (r == CAP_ERR_INVALID)
			api_reply_status(ctx, 400, err);
		else
			api_reply_err(ctx, r, "policy parse");
		goto out;
	}
	if ((r = store_policy_put(ctx->deps->s, name, (const char *)ctx->body,
	    ctx->body_len)) != 0) {
		api_reply_err(ctx, r, "policy put");
		goto out;
	}
	policies_changed(ctx);
	api_reply_json(ctx, 200, policy_json(p));
 out:
	policy_free(p);
}

void
api_h_policy_get(struct api_ctx *ctx)
{
	policy *p = NULL;
	int r;

	if (api_require(ctx, API_CAP_ADMIN, NULL) != 0)
		return;
	if ((r = policy_load(ctx->deps->s, ctx->match.name, &p)) != 0) {
		api_reply_err(ctx, r, "policy get");
		return;
	}
	api_reply_json(ctx, 200, policy_json(p));
	policy_free(p);
}

void
api_h_policy_list(struct api_ctx *ctx)
{
	json_t *arr = NULL, *body = NULL, *pj;
	char **names = NULL;
	size_t n = 0, i;
	policy *p;
	int r;

	if (api_require(ctx, API_CAP_ADMIN, NULL) != 0)
		return;
	if ((r = store_policy_list(ctx->deps->s, &names, &n)) != 0) {
		api_reply_err(ctx, r, "policy list");
		return;
	}
	if ((arr = json_array()) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		/* One deleted meanwhile, or unparsable (logged), is skipped. */
		if (policy_load(ctx->deps->s, names[i], &p) != 0)
			continue;
		pj = policy_json(p);
		policy_free(p);
		if (pj == NULL || json_array_append_new(arr, pj) != 0)
			goto out;
	}
	body = json_pack("{s:o}", "policies", arr);
	arr = NULL;	/* transferred (or released by json_pack) */
 out:
	json_decref(arr);
	store_names_free(names, n);
	api_reply_json(ctx, 200, body);
}

void
api_h_policy_delete(struct api_ctx *ctx)
{
	int r;

	if (api_require(ctx, API_CAP_ADMIN, NULL) != 0)
		return;
	if ((r = store_policy_delete(ctx->deps->s, ctx->match.name)) != 0) {
		api_reply_err(ctx, r, "policy delete");
		return;
	}
	policies_changed(ctx);
	api_reply_empty(ctx, 204);
}

void
api_h_token_create(struct api_ctx *ctx)
{
	struct api_token_req tr;
	struct store_token tok;
	char token[TOKEN_STR_SIZE], expires[32];
	char *pols[STORE_TOKEN_POLICIES_MAX];
	uint8_t hash[TOKEN_HASH_LEN];
	const char *why = NULL;
	json_t *body;
	size_t i;
	int r = CAP_ERR_INTERNAL, tries;

	memset(&tok, 0, sizeof(tok));
	memset(token, 0, sizeof(token));
	if (api_require(ctx, API_CAP_ADMIN, NULL) != 0)
		return;
	if (api_req_token_create(ctx->body, ctx->body_len, &tr, &why) != 0) {
		api_reply_status(ctx, 400, why);
		goto out;
	}
	for (i = 0; i < tr.npolicies; i++) {
		if (ctx->deps->authz == NULL ||
		    !api_authz_has(ctx->deps->authz, tr.policies[i])) {
			api_reply_status(ctx, 400,
			    "\"policies\" names a policy that does not exist");
			goto out;
		}
		pols[i] = tr.policies[i];
	}
	memcpy(tok.identity, tr.identity, sizeof(tok.identity));
	tok.policies = tr.npolicies > 0 ? pols : NULL;
	tok.npolicies = tr.npolicies;
	tok.created = cap_now();
	tok.expires = tok.created + tr.ttl;
	tok.uses_left = tr.uses;
	for (tries = 0; tries < TOKEN_CREATE_TRIES; tries++) {
		if ((r = token_new(token)) != 0 ||
		    (r = token_hash(token, hash)) != 0 ||
		    (r = token_accessor_new(tok.accessor)) != 0)
			break;
		if ((r = store_token_create(ctx->deps->s, &tok, hash)) !=
		    CAP_ERR_EXISTS)
			break;
	}
	if (r != 0) {
		api_reply_err(ctx, r, "token create");
		goto out;
	}
	cap_format_time(tok.expires, expires);
	/* The only time the token is shown; only its hash is kept. */
	body = json_pack("{s:s,s:s,s:s}", "token", token, "accessor",
	    tok.accessor, "expires", expires);
	api_reply_json(ctx, 201, body);
	log_info("api: token %s created for \"%.64s\"", tok.accessor,
	    tok.identity);
 out:
	sodium_memzero(token, sizeof(token));
	sodium_memzero(hash, sizeof(hash));
	sodium_memzero(&tr, sizeof(tr));
}

void
api_h_token_list(struct api_ctx *ctx)
{
	struct store_token *v = NULL;
	json_t *arr = NULL, *body = NULL, *t, *pols;
	char created[32], expires[32];
	uint64_t now = cap_now();
	size_t n = 0, i, k;
	int r;

	if (api_require(ctx, API_CAP_ADMIN, NULL) != 0)
		return;
	if ((r = store_token_list(ctx->deps->s, &v, &n)) != 0) {
		api_reply_err(ctx, r, "token list");
		return;
	}
	if ((arr = json_array()) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		/* Revoked and expired tokens can never be used: not shown. */
		if ((v[i].flags & STORE_TOKEN_REVOKED) != 0 ||
		    (v[i].expires != 0 && now >= v[i].expires))
			continue;
		if ((pols = json_array()) == NULL)
			goto out;
		for (k = 0; k < v[i].npolicies; k++)
			json_array_append_new(pols,
			    json_string(v[i].policies[k]));
		cap_format_time(v[i].created, created);
		cap_format_time(v[i].expires, expires);
		t = json_pack("{s:s,s:s,s:o,s:s,s:s,s:I}", "accessor",
		    v[i].accessor, "identity", v[i].identity, "policies", pols,
		    "created", created, "expires", expires, "uses_left",
		    (json_int_t)v[i].uses_left);
		if (t == NULL || json_array_append_new(arr, t) != 0)
			goto out;
	}
	body = json_pack("{s:o}", "tokens", arr);
	arr = NULL;	/* transferred (or released by json_pack) */
 out:
	json_decref(arr);
	store_token_list_free(v, n);
	api_reply_json(ctx, 200, body);
}

void
api_h_token_revoke(struct api_ctx *ctx)
{
	int r;

	if (api_require(ctx, API_CAP_ADMIN, NULL) != 0)
		return;
	if (!store_accessor_valid(ctx->match.name)) {
		api_reply_status(ctx, 400, "an accessor is 32 lowercase hex "
		    "digits");
		return;
	}
	if ((r = store_token_revoke(ctx->deps->s, ctx->match.name)) != 0) {
		api_reply_err(ctx, r, "token revoke");
		return;
	}
	log_info("api: token %s revoked", ctx->match.name);
	api_reply_empty(ctx, 204);
}
