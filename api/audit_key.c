/*
 * audit_key.c - what ties the audit log to the API: the key of the secret
 * name HMAC (audit_key.h), and the entry written for every request
 * (api_audit_request, called by reply.c before any reply is sent).
 *
 * The entry never holds a secret value, a query value or a secret name in
 * clear: the path is rebuilt from the matched route's pattern with the
 * secret name replaced by its HMAC; a path that matched no route keeps
 * only segments that are literal words of the API, others are HMAC'd.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/http.h>
#include <sodium.h>

#include "api/api_int.h"
#include "api/audit_key.h"
#include "api/router.h"
#include "common/err.h"
#include "common/log.h"
#include "store/store.h"

#define KEY_BLOB_FORMAT		1
#define KEY_BLOB_HDR		5	/* u8 format, u32 wrap mechanism */
#define AUDIT_PATH_MAX		2048
#define AUDIT_ID_MAX		(API_SUBJECT_MAX + 16)

struct audit_key {
	uint8_t	*key;	/* HSM_DK_LEN bytes, sodium_malloc'd, read-only */
};

/* ---- the key ---- */

static int
blob_encode(const uint8_t *wrapped, size_t wlen, int mech, uint8_t **out,
    size_t *outlen)
{
	uint8_t *b;

	*out = NULL;
	*outlen = 0;
	if (wlen == 0 || wlen > STORE_META_MAX - KEY_BLOB_HDR || mech < 0)
		return CAP_ERR_INVALID;
	if ((b = malloc(KEY_BLOB_HDR + wlen)) == NULL)
		return CAP_ERR_NOMEM;
	b[0] = KEY_BLOB_FORMAT;
	b[1] = (uint8_t)((uint32_t)mech >> 24);
	b[2] = (uint8_t)((uint32_t)mech >> 16);
	b[3] = (uint8_t)((uint32_t)mech >> 8);
	b[4] = (uint8_t)mech;
	memcpy(b + KEY_BLOB_HDR, wrapped, wlen);
	*out = b;
	*outlen = KEY_BLOB_HDR + wlen;
	return 0;
}

static int
blob_decode(const uint8_t *b, size_t len, const uint8_t **wrapped,
    size_t *wlen, int *mech)
{
	uint32_t m;

	if (len <= KEY_BLOB_HDR || b[0] != KEY_BLOB_FORMAT)
		return CAP_ERR_CORRUPT;
	m = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 |
	    (uint32_t)b[3] << 8 | b[4];
	if (m > 255)
		return CAP_ERR_CORRUPT;
	*mech = (int)m;
	*wrapped = b + KEY_BLOB_HDR;
	*wlen = len - KEY_BLOB_HDR;
	return 0;
}

/* The wrapped key from the store, made and stored first if absent. */
static int
wrapped_get_or_create(hsm *h, store *s, uint8_t **blob, size_t *bloblen)
{
	uint8_t *wrapped = NULL, *fresh = NULL;
	size_t wlen = 0, flen = 0;
	int mech = 0, r;

	if ((r = store_meta_get(s, AUDIT_KEY_META_NAME, blob,
	    bloblen)) != CAP_ERR_NOT_FOUND)
		goto out;
	if ((r = hsm_dk_generate(h, &wrapped, &wlen, &mech)) != 0)
		goto out;
	if ((r = blob_encode(wrapped, wlen, mech, &fresh, &flen)) != 0)
		goto out;
	r = store_meta_put(s, AUDIT_KEY_META_NAME, fresh, flen, 1);
	if (r == 0) {
		log_info("audit: created the name HMAC key (wrapped by the "
		    "master key)");
		*blob = fresh;
		*bloblen = flen;
		fresh = NULL;	/* transferred */
		goto out;
	}
	/* Another start-up stored one first: use that one. */
	if (r == CAP_ERR_EXISTS)
		r = store_meta_get(s, AUDIT_KEY_META_NAME, blob, bloblen);
 out:
	free(wrapped);
	free(fresh);
	return r;
}

int
audit_key_load(hsm *h, store *s, audit_key **out)
{
	audit_key *k = NULL;
	uint8_t *blob = NULL, raw[HSM_DK_LEN];
	const uint8_t *wrapped;
	size_t bloblen = 0, wlen;
	int mech, r;

	*out = NULL;
	if ((r = wrapped_get_or_create(h, s, &blob, &bloblen)) != 0) {
		log_error("audit: cannot read or create the name HMAC key: %s",
		    cap_strerror(r));
		goto out;
	}
	if ((r = blob_decode(blob, bloblen, &wrapped, &wlen, &mech)) != 0) {
		log_error("audit: the stored name HMAC key is malformed");
		goto out;
	}
	if ((k = calloc(1, sizeof(*k))) == NULL ||
	    (k->key = sodium_malloc(HSM_DK_LEN)) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	if ((r = hsm_dk_unwrap_raw(h, wrapped, wlen, mech, raw)) != 0) {
		log_error("audit: cannot unwrap the name HMAC key: %s",
		    cap_strerror(r));
		goto out;
	}
	memcpy(k->key, raw, HSM_DK_LEN);
	if (sodium_mprotect_readonly(k->key) != 0) {
		r = CAP_ERR_INTERNAL;
		goto out;
	}
	*out = k;
	k = NULL;	/* transferred */
	r = 0;
 out:
	sodium_memzero(raw, sizeof(raw));
	free(blob);
	audit_key_free(k);
	return r;
}

void
audit_key_free(audit_key *k)
{
	if (k == NULL)
		return;
	if (k->key != NULL) {
		/* sodium_free wipes; it needs the pages writable. */
		sodium_mprotect_readwrite(k->key);
		sodium_free(k->key);
	}
	free(k);
}

int
audit_key_hmac(void *ctx, const uint8_t *data, size_t len, uint8_t mac[32])
{
	const audit_key *k = ctx;

	if (k == NULL || k->key == NULL)
		return CAP_ERR_INVALID;
	if (crypto_auth_hmacsha256(mac, data, len, k->key) != 0)
		return CAP_ERR_CRYPTO;
	return 0;
}

/* ---- the entry of a request ---- */

uint64_t
api_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Stable operation names; routes not listed get "METHOD PATTERN". */
static const struct {
	unsigned	 method;
	const char	*pattern;
	const char	*op;
} op_names[] = {
	{ API_M_POST,	"/v1/domains",				"domain.create" },
	{ API_M_GET,	"/v1/domains",				"domain.list" },
	{ API_M_GET,	"/v1/domains/:d",			"domain.get" },
	{ API_M_DELETE,	"/v1/domains/:d",			"domain.delete" },
	{ API_M_POST,	"/v1/domains/:d/rotate",		"domain.rotate" },
	{ API_M_GET,	"/v1/domains/:d/secrets",		"secret.list" },
	{ API_M_PUT,	"/v1/domains/:d/secrets/:n",		"secret.put" },
	{ API_M_GET,	"/v1/domains/:d/secrets/:n",		"secret.get" },
	{ API_M_DELETE,	"/v1/domains/:d/secrets/:n",		"secret.delete" },
	{ API_M_GET,	"/v1/domains/:d/secrets/:n/versions",	"secret.versions" },
	{ API_M_POST,	"/v1/domains/:d/secrets/:n/destroy",	"secret.destroy" },
	{ API_M_POST,	"/v1/domains/:d/secrets/:n/refs",	"refs.create" },
	{ API_M_POST,	"/v1/domains/:d/secrets/:n/generate",	"secret.generate" },
	{ API_M_POST,	"/v1/refs/redeem",			"refs.redeem" },
	{ API_M_GET,	"/v1/audit",				"audit.read" },
	{ API_M_GET,	"/v1/sys/health",			"sys.health" },
	{ API_M_GET,	"/v1/sys/tokens",			"sys.tokens" },
	{ API_M_GET,	"/v1/policies",				"policy.list" },
	{ API_M_PUT,	"/v1/policies/:n",			"policy.put" },
	{ API_M_GET,	"/v1/policies/:n",			"policy.get" },
	{ API_M_DELETE,	"/v1/policies/:n",			"policy.delete" },
	{ API_M_POST,	"/v1/auth/tokens",			"token.create" },
	{ API_M_GET,	"/v1/auth/tokens",			"token.list" },
	{ API_M_DELETE,	"/v1/auth/tokens/:n",			"token.revoke" },
};

static void
op_name(const struct api_route *rt, char *out, size_t outsz)
{
	size_t i;

	if (rt == NULL) {
		snprintf(out, outsz, "unknown");
		return;
	}
	for (i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++)
		if (op_names[i].method == rt->method &&
		    strcmp(op_names[i].pattern, rt->pattern) == 0) {
			snprintf(out, outsz, "%s", op_names[i].op);
			return;
		}
	snprintf(out, outsz, "%s %s", api_method_name(rt->method),
	    rt->pattern);
}

/* Appends s to out (used of outsz bytes), truncating; 0 or -1 when full. */
static int
put(char *out, size_t outsz, size_t *used, const char *s, size_t n)
{
	if (*used + n >= outsz)
		return -1;
	memcpy(out + *used, s, n);
	*used += n;
	out[*used] = '\0';
	return 0;
}

/* "~" and the name HMAC of s, in place of a name in a path. */
static int
put_mac(audit *a, char *out, size_t outsz, size_t *used, const char *s)
{
	char mac[33];
	int r;

	if ((r = audit_name_hmac(a, s, mac)) != 0)
		return r;
	if (put(out, outsz, used, "~", 1) != 0 ||
	    put(out, outsz, used, mac, 32) != 0)
		return CAP_ERR_TOO_LARGE;
	return 0;
}

/* 1 if seg is a literal segment of some route of the API. */
static int
literal_word(const char *seg, size_t n)
{
	const char *p, *e;
	size_t i;

	for (i = 0; api_routes[i].pattern != NULL; i++) {
		for (p = api_routes[i].pattern; *p != '\0'; p = e) {
			if (*p == '/')
				p++;
			if ((e = strchr(p, '/')) == NULL)
				e = p + strlen(p);
			if (*p != ':' && (size_t)(e - p) == n &&
			    memcmp(p, seg, n) == 0)
				return 1;
		}
	}
	return 0;
}

/*
 * The audited path of a matched route: its pattern with the domain in
 * clear, the secret name (":n" under /v1/domains/) as its HMAC and other
 * parameters (policy names, token accessors) in clear; *other_param says
 * whether one of those was seen, so that it is not taken for a secret
 * name.
 */
static int
path_from_route(audit *a, const struct api_ctx *ctx, char *out,
    size_t outsz, int *other_param)
{
	const char *p = ctx->match.route->pattern, *e;
	size_t used = 0;
	int r, secrets = strncmp(p, "/v1/domains/", 12) == 0;

	out[0] = '\0';
	*other_param = 0;
	for (; *p != '\0'; p = e) {
		if ((e = strchr(p + 1, '/')) == NULL)
			e = p + strlen(p);
		if (p[0] == '/' && p[1] == ':') {
			if (put(out, outsz, &used, "/", 1) != 0)
				return CAP_ERR_TOO_LARGE;
			if (p[2] == 'd')
				r = put(out, outsz, &used, ctx->match.domain,
				    strlen(ctx->match.domain));
			else if (p[2] == 'n' && secrets)
				r = put_mac(a, out, outsz, &used,
				    ctx->match.name);
			else {
				*other_param = 1;
				r = put(out, outsz, &used, ctx->match.name,
				    strlen(ctx->match.name));
			}
			if (r != 0)
				return CAP_ERR_TOO_LARGE;
		} else if (put(out, outsz, &used, p, (size_t)(e - p)) != 0)
			return CAP_ERR_TOO_LARGE;
	}
	return 0;
}

/* The audited form of a raw path that matched no route. */
static int
path_unmatched(audit *a, const char *raw, char *out, size_t outsz)
{
	char seg[API_PATH_MAX + 1];
	const char *p, *e;
	size_t used = 0, n;
	int r;

	out[0] = '\0';
	if (raw == NULL || raw[0] != '/')
		return put(out, outsz, &used, "-", 1) == 0 ? 0 :
		    CAP_ERR_TOO_LARGE;
	for (p = raw; *p == '/'; p = e) {
		p++;
		if ((e = strchr(p, '/')) == NULL)
			e = p + strlen(p);
		n = (size_t)(e - p);
		if (put(out, outsz, &used, "/", 1) != 0)
			return 0;	/* cut: long junk paths stay bounded */
		if (n == 0)
			continue;
		if (literal_word(p, n)) {
			if (put(out, outsz, &used, p, n) != 0)
				return 0;
			continue;
		}
		if (n > API_PATH_MAX)
			n = API_PATH_MAX;
		memcpy(seg, p, n);
		seg[n] = '\0';
		if ((r = put_mac(a, out, outsz, &used, seg)) != 0)
			return r == CAP_ERR_TOO_LARGE ? 0 : r;
	}
	return 0;
}

/* Query keys only (values may be anything); odd keys become "~". */
static void
path_query(const struct api_ctx *ctx, char *out, size_t outsz)
{
	size_t used = strlen(out), i, n;
	const char *k;

	for (i = 0; i < ctx->query.n; i++) {
		k = ctx->query.key[i];
		n = strlen(k);
		if (put(out, outsz, &used, i == 0 ? "?" : "&", 1) != 0)
			return;
		if (n == 0 || n > 32 || strspn(k,
		    "abcdefghijklmnopqrstuvwxyz_") != n)
			k = "~", n = 1;
		if (put(out, outsz, &used, k, n) != 0)
			return;
	}
}

int
api_audit_request(struct api_ctx *ctx)
{
	struct audit_event ev;
	const struct evhttp_uri *uri;
	audit *a;
	char path[AUDIT_PATH_MAX], op[160], ident[AUDIT_ID_MAX];
	const char *raw = NULL;
	unsigned method = 0;
	int other = 0, r;

	if (ctx->deps == NULL || (a = ctx->deps->audit) == NULL)
		return 0;
	memset(&ev, 0, sizeof(ev));
	if (ctx->req != NULL) {
		method = (unsigned)evhttp_request_get_command(ctx->req);
		if ((uri = evhttp_request_get_evhttp_uri(ctx->req)) != NULL)
			raw = evhttp_uri_get_path(uri);
	} else if (ctx->match.route != NULL)
		method = ctx->match.route->method;
	if (ctx->match.route != NULL)
		r = path_from_route(a, ctx, path, sizeof(path), &other);
	else
		r = path_unmatched(a, raw, path, sizeof(path));
	if (r != 0)
		return r;
	path_query(ctx, path, sizeof(path));
	op_name(ctx->match.route, op, sizeof(op));
	switch (ctx->id.kind) {
	case API_ID_CERT:
		snprintf(ident, sizeof(ident), "%s", ctx->id.subject);
		break;
	case API_ID_TOKEN:
		snprintf(ident, sizeof(ident), "token:%s", ctx->id.accessor);
		break;
	default:
		ident[0] = '\0';
		break;
	}
	ev.request_id = ctx->rid;
	ev.identity = ident;
	ev.op = op;
	ev.method = api_method_name(method);
	ev.path = path;
	ev.domain = ctx->match.domain[0] != '\0' ? ctx->match.domain : NULL;
	ev.name = ctx->match.name[0] != '\0' && !other ? ctx->match.name :
	    NULL;
	ev.status = ctx->status;
	ev.outcome = ctx->status < 400 ? "ok" :
	    (ctx->status == 401 || ctx->status == 403) ? "denied" : "error";
	ev.duration_us = ctx->start_us != 0 ? api_now_us() - ctx->start_us :
	    0;
	return audit_append(a, &ev);
}
