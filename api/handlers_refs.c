/*
 * handlers_refs.c - single-use references to a secret version, generated
 * secrets, and the audit log reader (GET /v1/audit).
 *
 * A reference is a bearer capability: its clear text exists only between
 * ref_new and the reply (wiped here; the reply body is wiped once
 * written); the store keeps its SHA-256.  A generated value exists only in
 * sodium_malloc'd memory and jansson's wiping allocations until it is
 * sealed by the vault; it never reaches the caller.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "api/handlers.h"
#include "api/reply.h"
#include "api/request.h"
#include "api/request_refs.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "crypto/token.h"
#include "store/auth.h"

#define AUDIT_TAIL_DEFAULT	100
#define AUDIT_REPLY_MAX		(64u * 1024 * 1024)	/* GET /v1/audit */

/* Answers a parser failure: 400 with its message, else the error table. */
static void
reply_parse_error(struct api_ctx *ctx, int r, const char *why,
    const char *what)
{
	if (r == CAP_ERR_INVALID)
		api_reply_status(ctx, 400, why);
	else
		api_reply_err(ctx, r, what);
}

/*
 * The newest version of a secret, which must be live: a soft-deleted or
 * destroyed newest version means the secret reads as absent, as for GET.
 * With want != 0, that version must exist and be live.
 */
static int
live_version(struct api_ctx *ctx, uint32_t want, uint32_t *version)
{
	struct store_secret_meta *metas = NULL;
	size_t n = 0, i;
	int r;

	*version = 0;
	if ((r = vault_secret_versions(ctx->deps->v, ctx->match.domain,
	    ctx->match.name, &metas, &n)) != 0)
		goto out;
	r = CAP_ERR_NOT_FOUND;
	if (n == 0)
		goto out;
	if (want == 0)
		i = n - 1;
	else {
		for (i = 0; i < n; i++)
			if (metas[i].version == want)
				break;
		if (i == n)
			goto out;
	}
	if (metas[i].flags != 0)
		goto out;
	*version = metas[i].version;
	r = 0;
 out:
	free(metas);
	return r;
}

/*
 * Creates a reference to (domain, name, version) for ttl seconds and uses
 * redemptions; ref receives its clear text (the caller wipes it), *expires
 * the expiry time.
 */
static int
ref_make(struct api_ctx *ctx, const char *domain, const char *name,
    uint32_t version, uint64_t ttl, uint32_t uses, char ref[TOKEN_STR_SIZE],
    uint64_t *expires)
{
	struct store_ref rec;
	uint8_t hash[TOKEN_HASH_LEN];
	int r, tries;

	memset(&rec, 0, sizeof(rec));
	ref[0] = '\0';
	memcpy(rec.domain, domain, strlen(domain) + 1);
	memcpy(rec.name, name, strlen(name) + 1);
	rec.version = version;
	rec.created = cap_now();
	rec.expires = rec.created + ttl;
	rec.uses_left = uses;
	/* A hash collision of 256 random bits does not happen; one retry. */
	for (tries = 0; tries < 2; tries++) {
		if ((r = ref_new(ref)) != 0 ||
		    (r = token_hash(ref, hash)) != 0)
			goto out;
		if ((r = store_ref_create(ctx->deps->s, hash, &rec)) !=
		    CAP_ERR_EXISTS)
			break;
	}
	if (r != 0)
		goto out;
	*expires = rec.expires;
 out:
	sodium_memzero(hash, sizeof(hash));
	if (r != 0)
		sodium_memzero(ref, TOKEN_STR_SIZE);
	return r;
}

void
api_h_ref_create(struct api_ctx *ctx)
{
	struct api_ref_req rr;
	char ref[TOKEN_STR_SIZE], expires[32];
	const char *why = NULL;
	uint64_t exp = 0;
	uint32_t version = 0;
	int r;

	ref[0] = '\0';
	if (api_require(ctx, API_CAP_REF, ctx->match.domain) != 0)
		goto out;
	if ((r = api_req_ref_create(ctx->body, ctx->body_len, &rr,
	    &why)) != 0) {
		reply_parse_error(ctx, r, why, "ref body");
		goto out;
	}
	if ((r = live_version(ctx, rr.version, &version)) != 0) {
		api_reply_err(ctx, r, "ref version");
		goto out;
	}
	if ((r = ref_make(ctx, ctx->match.domain, ctx->match.name, version,
	    rr.ttl, rr.uses, ref, &exp)) != 0) {
		api_reply_err(ctx, r, "ref create");
		goto out;
	}
	cap_format_time(exp, expires);
	api_reply_json(ctx, 201, json_pack("{s:s,s:s}", "ref", ref,
	    "expires", expires));
 out:
	sodium_memzero(ref, sizeof(ref));
}

void
api_h_ref_redeem(struct api_ctx *ctx)
{
	struct store_ref rec;
	char ref[API_REF_PRESENTED_SIZE];
	uint8_t hash[TOKEN_HASH_LEN], *data = NULL;
	const char *why = NULL;
	json_t *obj = NULL;
	size_t len = 0;
	int r;

	memset(&rec, 0, sizeof(rec));
	memset(hash, 0, sizeof(hash));
	ref[0] = '\0';
	/* The reference is the capability: any authenticated caller. */
	if (api_require(ctx, API_CAP_AUTHENTICATED, NULL) != 0)
		goto out;
	if ((r = api_req_ref_redeem(ctx->body, ctx->body_len, ref,
	    &why)) != 0) {
		reply_parse_error(ctx, r, why, "redeem body");
		goto out;
	}
	/* A malformed reference is as unknown as a used-up one. */
	if (!token_format_valid(ref, REF_PREFIX) ||
	    (r = token_hash(ref, hash)) != 0) {
		api_reply_err(ctx, CAP_ERR_GONE, "redeem");
		goto out;
	}
	if ((r = store_ref_redeem(ctx->deps->s, hash, cap_now(),
	    &rec)) != 0) {
		api_reply_err(ctx, r, "redeem");
		goto out;
	}
	/* The audit entry names what was handed out (the name HMAC'd). */
	memcpy(ctx->match.domain, rec.domain, sizeof(ctx->match.domain));
	memcpy(ctx->match.name, rec.name, sizeof(ctx->match.name));
	if ((r = vault_secret_get(ctx->deps->v, rec.domain, rec.name,
	    rec.version, &data, &len, NULL)) != 0) {
		/* Deleted or destroyed since: the reference is worth nothing. */
		api_reply_err(ctx, r == CAP_ERR_NOT_FOUND ? CAP_ERR_GONE : r,
		    "redeem read");
		goto out;
	}
	if ((obj = json_loadb((const char *)data, len, 0, NULL)) == NULL ||
	    !json_is_object(obj)) {
		json_decref(obj);
		api_reply_err(ctx, CAP_ERR_CORRUPT, "redeem data");
		goto out;
	}
	api_reply_json(ctx, 200, json_pack("{s:s,s:s,s:I,s:o}",
	    "domain", rec.domain, "name", rec.name,
	    "version", (json_int_t)rec.version, "data", obj));
 out:
	envelope_plaintext_free(data, len);
	sodium_memzero(ref, sizeof(ref));
	sodium_memzero(hash, sizeof(hash));
}

void
api_h_secret_generate(struct api_ctx *ctx)
{
	struct api_gen_req gr;
	char ref[TOKEN_STR_SIZE], expires[32], *value = NULL, *text = NULL;
	const char *why = NULL;
	json_t *data = NULL;
	size_t tlen = 0;
	uint64_t exp = 0;
	uint32_t version = 0;
	int r;

	ref[0] = '\0';
	if (api_require(ctx, API_CAP_WRITE | API_CAP_REF,
	    ctx->match.domain) != 0)
		goto out;
	if ((r = api_req_generate(ctx->body, ctx->body_len, &gr,
	    &why)) != 0) {
		reply_parse_error(ctx, r, why, "generate body");
		goto out;
	}
	if ((r = gen_secret(gr.length, gr.charset, &value)) != 0) {
		api_reply_err(ctx, r, "generate");
		goto out;
	}
	if ((data = json_object()) == NULL ||
	    json_object_set_new(data, gr.field, json_string(value)) != 0 ||
	    (text = json_dumps(data, JSON_COMPACT)) == NULL) {
		api_reply_err(ctx, CAP_ERR_NOMEM, "generate");
		goto out;
	}
	tlen = strlen(text);
	if ((r = vault_secret_put(ctx->deps->v, ctx->match.domain,
	    ctx->match.name, (const uint8_t *)text, tlen, VAULT_CAS_NONE,
	    &version)) != 0) {
		api_reply_err(ctx, r, "generate put");
		goto out;
	}
	if ((r = ref_make(ctx, ctx->match.domain, ctx->match.name, version,
	    gr.ref.ttl, gr.ref.uses, ref, &exp)) != 0) {
		log_warn("api: request %s: version %u generated but no "
		    "reference could be made", ctx->rid, version);
		api_reply_err(ctx, r, "generate ref");
		goto out;
	}
	cap_format_time(exp, expires);
	api_reply_json(ctx, 201, json_pack("{s:I,s:s,s:s}",
	    "version", (json_int_t)version, "ref", ref, "expires", expires));
 out:
	if (text != NULL) {
		sodium_memzero(text, tlen);
		api_json_free(text);
	}
	json_decref(data);
	if (value != NULL)
		sodium_free(value);
	sodium_memzero(ref, sizeof(ref));
}

void
api_h_audit_get(struct api_ctx *ctx)
{
	const char *qv;
	char *buf = NULL, *nl;
	size_t len = 0, cut;
	uint32_t n = AUDIT_TAIL_DEFAULT;
	int r;

	if ((qv = api_query_get(&ctx->query, "n")) != NULL &&
	    api_parse_u32(qv, 0, &n) != 0) {
		api_reply_status(ctx, 400,
		    "\"n\" must be an integer from 0 (all entries)");
		return;
	}
	if (api_require(ctx, API_CAP_ADMIN, "*") != 0)
		return;
	if (ctx->deps->audit == NULL) {
		api_reply_err(ctx, CAP_ERR_UNAVAILABLE, "audit log");
		return;
	}
	if ((r = audit_tail(ctx->deps->audit,
	    n == 0 ? SIZE_MAX / AUDIT_LINE_MAX : (size_t)n, &buf,
	    &len)) != 0) {
		api_reply_err(ctx, r, "audit tail");
		return;
	}
	if (len > AUDIT_REPLY_MAX) {
		/* Keep the newest complete lines that fit. */
		cut = len - AUDIT_REPLY_MAX;
		if (buf[cut - 1] != '\n') {
			nl = memchr(buf + cut, '\n', len - cut);
			cut = nl != NULL ? (size_t)(nl - buf) + 1 : len;
		}
		memmove(buf, buf + cut, len - cut);
		len -= cut;
		log_info("api: request %s: audit reply cut to its last %zu "
		    "bytes", ctx->rid, len);
	}
	api_reply_raw(ctx, 200, "application/x-ndjson", buf, len);
}
