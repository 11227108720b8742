/* handlers_domains.c - /v1/domains: create, list, show, delete, rotate. */
#include <string.h>

#include <jansson.h>

#include "api/handlers.h"
#include "api/reply.h"
#include "api/request.h"
#include "common/err.h"
#include "common/util.h"

/* {"name","key_version","created"}, plus "secrets" when count >= 0. */
static json_t *
domain_json(const struct store_domain *d, long long count)
{
	char created[32];
	json_t *j;

	cap_format_time(d->created, created);
	j = json_pack("{s:s,s:I,s:s}", "name", d->name, "key_version",
	    (json_int_t)d->key_version, "created", created);
	if (j != NULL && count >= 0 &&
	    json_object_set_new(j, "secrets", json_integer(count)) != 0) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

void
api_h_domain_create(struct api_ctx *ctx)
{
	char name[CAP_NAME_MAX + 1];
	struct store_domain d;
	const char *why = NULL;
	int r;

	if ((r = api_req_domain_create(ctx->body, ctx->body_len, name,
	    &why)) != 0) {
		api_reply_status(ctx, r == CAP_ERR_INVALID ? 400 : 500, why);
		return;
	}
	if (api_require(ctx, API_CAP_ADMIN, name) != 0)
		return;
	if ((r = vault_domain_create(ctx->deps->v, name, &d)) != 0) {
		api_reply_err(ctx, r, "domain create");
		return;
	}
	api_reply_json(ctx, 201, domain_json(&d, -1));
}

void
api_h_domain_list(struct api_ctx *ctx)
{
	char **names = NULL;
	size_t n = 0, i;
	json_t *arr = NULL, *body = NULL;
	int r;

	if (api_require(ctx, API_CAP_AUTHENTICATED, NULL) != 0)
		return;
	if ((r = vault_domain_list(ctx->deps->v, &names, &n)) != 0) {
		api_reply_err(ctx, r, "domain list");
		return;
	}
	if ((arr = json_array()) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		/* Only the domains the caller holds some capability on. */
		if (api_authorize_any(ctx, API_CAP_ALL, names[i]) != 0)
			continue;
		if (json_array_append_new(arr, json_string(names[i])) != 0)
			goto out;
	}
	body = json_pack("{s:o}", "domains", arr);
	arr = NULL;	/* transferred (or released by json_pack) */
 out:
	json_decref(arr);
	store_names_free(names, n);
	api_reply_json(ctx, 200, body);
}

void
api_h_domain_get(struct api_ctx *ctx)
{
	struct store_domain d;
	size_t count = 0;
	int r;

	if (api_require_any(ctx, API_CAP_READ | API_CAP_LIST,
	    ctx->match.domain) != 0)
		return;
	if ((r = vault_domain_get(ctx->deps->v, ctx->match.domain, &d)) != 0) {
		api_reply_err(ctx, r, "domain get");
		return;
	}
	if ((r = store_secret_count(ctx->deps->s, d.name, &count)) != 0) {
		api_reply_err(ctx, r, "secret count");
		return;
	}
	api_reply_json(ctx, 200, domain_json(&d, (long long)count));
}

void
api_h_domain_delete(struct api_ctx *ctx)
{
	const char *v;
	int r, force = 0;

	if ((v = api_query_get(&ctx->query, "force")) != NULL &&
	    v[0] != '\0' && cap_parse_bool(v, &force) != 0) {
		api_reply_status(ctx, 400, "\"force\" must be true or false");
		return;
	}
	if (v != NULL && v[0] == '\0')
		force = 1;
	if (api_require(ctx, API_CAP_ADMIN, ctx->match.domain) != 0)
		return;
	if ((r = vault_domain_delete(ctx->deps->v, ctx->match.domain,
	    force)) != 0) {
		if (r == CAP_ERR_CONFLICT)
			api_reply_status(ctx, 409, "the domain holds secrets; "
			    "delete them or use force=true");
		else
			api_reply_err(ctx, r, "domain delete");
		return;
	}
	api_reply_empty(ctx, 204);
}

void
api_h_domain_rotate(struct api_ctx *ctx)
{
	struct store_domain d;
	int r;

	if (api_require(ctx, API_CAP_ADMIN, ctx->match.domain) != 0)
		return;
	if ((r = vault_domain_rotate(ctx->deps->v, ctx->match.domain,
	    &d)) != 0) {
		api_reply_err(ctx, r, "domain rotate");
		return;
	}
	api_reply_json(ctx, 200, domain_json(&d, -1));
}
