/* handlers_sys.c - /v1/sys: health and token facts. */
#include <string.h>

#include <jansson.h>

#include "api/handlers.h"
#include "api/reply.h"
#include "common/err.h"

static const char *
mk_kind_name(hsm_mk_kind k)
{
	switch (k) {
	case HSM_MK_AES:	return "aes-256";
	case HSM_MK_RSA:	return "rsa-3072";
	default:		return "none";
	}
}

/*
 * GET /v1/sys/health: 200 when the token answers (its master key is
 * readable) and the store reports its size; 503 with the same shape
 * otherwise, so that a probe needs only the status.
 */
void
api_h_sys_health(struct api_ctx *ctx)
{
	hsm_mk_info mk;
	uint64_t map_size = 0, used = 0;
	int tok_ok, store_ok;

	if (api_require(ctx, API_CAP_AUTHENTICATED, NULL) != 0)
		return;
	tok_ok = hsm_mk_info_get(ctx->deps->h, &mk) == 0;
	store_ok = store_stat(ctx->deps->s, &map_size, &used) == 0;
	api_reply_json(ctx, tok_ok && store_ok ? 200 : 503,
	    json_pack("{s:s,s:s,s:s,s:{s:I,s:I,s:s},s:s}",
	    "status", tok_ok && store_ok ? "ok" : "unavailable",
	    "seal", seal_mode_name(envelope_mode(ctx->deps->e)),
	    "token", tok_ok ? "ok" : "unavailable",
	    "store", "map_size", (json_int_t)map_size,
	    "used", (json_int_t)used, "status", store_ok ? "ok" : "unavailable",
	    "version", API_VERSION));
}

static json_t *
mechanisms_json(const hsm_caps *c)
{
	return json_pack("{s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b}",
	    "aes_keygen", c->aes_keygen != 0,
	    "aes_gcm", c->aes_gcm != 0,
	    "aes_key_wrap_pad", c->aes_key_wrap_pad != 0,
	    "rsa_keygen", c->rsa_keygen != 0,
	    "rsa_oaep", c->rsa_oaep != 0,
	    "ec_keygen", c->ec_keygen != 0,
	    "ecdsa", c->ecdsa != 0,
	    "eddsa", c->eddsa != 0,
	    "rsa_pss", c->rsa_pss != 0);
}

/* GET /v1/sys/tokens: the token, its mechanisms and master key. */
void
api_h_sys_tokens(struct api_ctx *ctx)
{
	hsm_token_info ti;
	hsm_mk_info mk;
	json_t *mkj, *tok;
	int r;

	if (api_require(ctx, API_CAP_ADMIN, NULL) != 0)
		return;
	memset(&ti, 0, sizeof(ti));
	hsm_get_token_info(ctx->deps->h, &ti);
	memset(&mk, 0, sizeof(mk));
	if ((r = hsm_mk_info_get(ctx->deps->h, &mk)) == 0)
		mkj = json_pack("{s:s,s:s,s:b,s:b,s:b,s:b,s:b}",
		    "kind", mk_kind_name(mk.kind), "label", mk.label,
		    "token", mk.token != 0, "sensitive", mk.sensitive != 0,
		    "extractable", mk.extractable != 0,
		    "always_sensitive", mk.always_sensitive != 0,
		    "never_extractable", mk.never_extractable != 0);
	else if (r == CAP_ERR_NO_MASTER_KEY)
		mkj = json_null();
	else {
		api_reply_err(ctx, r, "master key info");
		return;
	}
	tok = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:o}",
	    "label", ti.label, "manufacturer", ti.manufacturer,
	    "model", ti.model, "serial", ti.serial, "module", ti.module_path,
	    "mechanisms", mechanisms_json(hsm_get_caps(ctx->deps->h)),
	    "master_key", mkj);
	api_reply_json(ctx, 200, json_pack("{s:[o]}", "tokens", tok));
}
