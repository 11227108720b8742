/* reply.c - JSON replies and the CAP_ERR_* to HTTP mapping. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "api/reply.h"
#include "api/request.h"
#include "common/err.h"
#include "common/log.h"

/* The rows every error reply comes from, one per HTTP status. */
static const struct api_err_entry err_rows[] = {
	{ 400, "bad_request",		"the request is malformed or invalid" },
	{ 401, "unauthenticated",	"no valid identity was presented" },
	{ 403, "forbidden",		"the identity lacks permission" },
	{ 404, "not_found",		"no such object" },
	{ 405, "method_not_allowed",	"the method is not allowed on this path" },
	{ 409, "conflict",		"the request conflicts with the current state" },
	{ 410, "gone",			"the object is used up or expired" },
	{ 413, "too_large",		"the request or secret is too large" },
	{ 429, "rate_limited",		"too many requests" },
	{ 500, "internal",		"internal error" },
	{ 503, "unavailable",		"the token or store is unavailable" },
};
#define NROWS (sizeof(err_rows) / sizeof(err_rows[0]))

/* CAP_ERR_* code -> HTTP status; the one place this decision is made. */
static const struct {
	int	err;
	int	status;
} err_map[] = {
	{ CAP_ERR_INVALID,		400 },
	{ CAP_ERR_UNAUTH,		401 },
	{ CAP_ERR_DENIED,		403 },
	{ CAP_ERR_NOT_FOUND,		404 },
	{ CAP_ERR_EXISTS,		409 },
	{ CAP_ERR_CONFLICT,		409 },
	{ CAP_ERR_GONE,			410 },
	{ CAP_ERR_TOO_LARGE,		413 },
	{ CAP_ERR_RATE,			429 },
	{ CAP_ERR_TOKEN,		503 },
	{ CAP_ERR_PIN,			503 },
	{ CAP_ERR_STORE,		503 },
	{ CAP_ERR_UNAVAILABLE,		503 },
	{ CAP_ERR_NO_MASTER_KEY,	503 },
	{ CAP_ERR_PENDING,		503 },	/* handlers answer 202 */
	{ CAP_ERR_INTERNAL,		500 },
	{ CAP_ERR_NOMEM,		500 },
	{ CAP_ERR_CRYPTO,		500 },
	{ CAP_ERR_IO,			500 },
	{ CAP_ERR_CONFIG,		500 },
	{ CAP_ERR_UNSUPPORTED,		500 },
	{ CAP_ERR_CORRUPT,		500 },
};

const struct api_err_entry *
api_status_lookup(int status)
{
	size_t i;

	for (i = 0; i < NROWS; i++)
		if (err_rows[i].status == status)
			return &err_rows[i];
	return api_status_lookup(500);
}

const struct api_err_entry *
api_err_lookup(int err)
{
	size_t i;

	for (i = 0; i < sizeof(err_map) / sizeof(err_map[0]); i++)
		if (err_map[i].err == err)
			return api_status_lookup(err_map[i].status);
	return api_status_lookup(500);
}

const char *
api_reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 413: return "Payload Too Large";
	case 429: return "Too Many Requests";
	case 503: return "Service Unavailable";
	default:  return "Internal Server Error";
	}
}

json_t *
api_error_body(const char *code, const char *message)
{
	return json_pack("{s:{s:s,s:s}}", "error", "code", code,
	    "message", message);
}

/* Wipes and releases a serialised body once libevent is done with it. */
static void
body_cleanup(const void *data, size_t len, void *extra)
{
	json_free_t freefn = NULL;

	(void)extra;
	sodium_memzero((void *)(uintptr_t)data, len);
	json_get_alloc_funcs(NULL, &freefn);
	freefn((void *)(uintptr_t)data);
}

static void
add_common_headers(struct api_ctx *ctx, const char *content_type)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(ctx->req);
	char allow[96];

	if (content_type != NULL)
		evhttp_add_header(h, "Content-Type", content_type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "X-Request-Id", ctx->rid);
	if (ctx->status == 405) {
		api_method_names(ctx->match.allow, allow, sizeof(allow));
		evhttp_add_header(h, "Allow", allow);
	}
	if (ctx->closing)
		evhttp_add_header(h, "Connection", "close");
}

/*
 * The audit gate every reply passes before it is sent: the entry for this
 * request is written first.  When it cannot be written the request is
 * answered 503 instead (fail closed), without a further audit attempt.
 */
static int
audit_gate(struct api_ctx *ctx)
{
	int r;

	if ((r = api_audit_request(ctx)) == 0)
		return 0;
	log_error("api: request %s: audit log append failed (%s); "
	    "answering 503 instead of %d", ctx->rid, cap_strerror(r),
	    ctx->status);
	return -1;
}

/* The reply when the audit log refused the entry. */
static void
send_unaudited_503(struct api_ctx *ctx)
{
	const struct api_err_entry *row = api_status_lookup(503);
	struct evbuffer *out;
	json_t *body;
	char *text = NULL;

	ctx->status = 503;
	ctx->closing = 1;
	if (ctx->req == NULL)
		return;
	if ((body = api_error_body(row->code, row->message)) != NULL)
		text = json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(body);
	add_common_headers(ctx, text != NULL ? "application/json" : NULL);
	if (text != NULL) {
		out = evhttp_request_get_output_buffer(ctx->req);
		if (evbuffer_add_reference(out, text, strlen(text),
		    body_cleanup, NULL) != 0)
			body_cleanup(text, strlen(text), NULL);
	}
	evhttp_send_reply(ctx->req, 503, api_reason_phrase(503), NULL);
}

void
api_reply_json(struct api_ctx *ctx, int status, json_t *body)
{
	struct evbuffer *out;
	char *text = NULL;
	size_t len;

	if (ctx->status != 0) {
		log_error("api: request %s answered twice", ctx->rid);
		json_decref(body);
		return;
	}
	if (body == NULL ||
	    (text = json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII)) == NULL) {
		json_decref(body);
		log_error("api: request %s: reply not serialisable", ctx->rid);
		if (status == 500)
			goto send_plain;
		api_reply_status(ctx, 500, NULL);
		return;
	}
	json_decref(body);
	ctx->status = status;
	len = strlen(text);
	if (audit_gate(ctx) != 0) {
		body_cleanup(text, len, NULL);
		send_unaudited_503(ctx);
		return;
	}
	if (ctx->req == NULL) {
		body_cleanup(text, len, NULL);
		return;
	}
	add_common_headers(ctx, "application/json");
	out = evhttp_request_get_output_buffer(ctx->req);
	if (evbuffer_add_reference(out, text, len, body_cleanup, NULL) != 0) {
		body_cleanup(text, len, NULL);
		/* Already audited with its status; the client sees a 500. */
		ctx->status = 500;
		evhttp_send_reply(ctx->req, 500, api_reason_phrase(500), NULL);
		return;
	}
	evhttp_send_reply(ctx->req, status, api_reason_phrase(status), NULL);
	return;
 send_plain:
	/* Last resort when even an error body cannot be built. */
	ctx->status = 500;
	if (audit_gate(ctx) != 0) {
		send_unaudited_503(ctx);
		return;
	}
	if (ctx->req != NULL)
		evhttp_send_reply(ctx->req, 500, api_reason_phrase(500), NULL);
}

void
api_reply_empty(struct api_ctx *ctx, int status)
{
	if (ctx->status != 0) {
		log_error("api: request %s answered twice", ctx->rid);
		return;
	}
	ctx->status = status;
	if (audit_gate(ctx) != 0) {
		send_unaudited_503(ctx);
		return;
	}
	if (ctx->req == NULL)
		return;
	add_common_headers(ctx, NULL);
	evhttp_send_reply(ctx->req, status, api_reason_phrase(status), NULL);
}

static void
raw_cleanup(const void *data, size_t len, void *extra)
{
	(void)len;
	(void)extra;
	free((void *)(uintptr_t)data);
}

void
api_reply_raw(struct api_ctx *ctx, int status, const char *content_type,
    char *buf, size_t len)
{
	struct evbuffer *out;

	if (ctx->status != 0) {
		log_error("api: request %s answered twice", ctx->rid);
		free(buf);
		return;
	}
	ctx->status = status;
	if (audit_gate(ctx) != 0) {
		free(buf);
		send_unaudited_503(ctx);
		return;
	}
	if (ctx->req == NULL || len == 0) {
		free(buf);
		buf = NULL;
	}
	if (ctx->req == NULL)
		return;
	add_common_headers(ctx, content_type);
	out = evhttp_request_get_output_buffer(ctx->req);
	if (buf != NULL && evbuffer_add_reference(out, buf, len, raw_cleanup,
	    NULL) != 0) {
		free(buf);
		ctx->status = 500;
		evhttp_send_reply(ctx->req, 500, api_reason_phrase(500), NULL);
		return;
	}
	evhttp_send_reply(ctx->req, status, api_reason_phrase(status), NULL);
}

void
api_reply_status(struct api_ctx *ctx, int status, const char *message)
{
	const struct api_err_entry *row = api_status_lookup(status);

	if (row->status >= 500)
		log_warn("api: request %s: answered %d: %s", ctx->rid,
		    row->status, message != NULL ? message : row->message);
	api_reply_json(ctx, row->status, api_error_body(row->code,
	    message != NULL ? message : row->message));
}

void
api_reply_err(struct api_ctx *ctx, int err, const char *what)
{
	const struct api_err_entry *row = api_err_lookup(err);

	if (row->status >= 500)
		log_warn("api: request %s: %s: %s", ctx->rid,
		    what != NULL ? what : "request", cap_strerror(err));
	else
		log_debug("api: request %s: %s: %s", ctx->rid,
		    what != NULL ? what : "request", cap_strerror(err));
	api_reply_json(ctx, row->status, api_error_body(row->code,
	    row->message));
}

int
api_body_object(struct api_ctx *ctx, const char *const *allowed, json_t **out)
{
	const char *why = NULL;

	if (api_json_body_parse(ctx->body, ctx->body_len, allowed, out,
	    &why) != 0) {
		api_reply_status(ctx, 400, why);
		return -1;
	}
	return 0;
}

json_t *
api_json_cert_pem(X509 *x)
{
	BIO *b;
	BUF_MEM *m;
	json_t *s = NULL;

	if (x == NULL || (b = BIO_new(BIO_s_mem())) == NULL)
		return NULL;
	if (PEM_write_bio_X509(b, x) == 1) {
		BIO_get_mem_ptr(b, &m);
		s = json_stringn(m->data, m->length);
	}
	BIO_free(b);
	return s;
}

json_t *
api_json_der_cert_pem(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x;
	json_t *s;

	if (der == NULL || len == 0 || len > LONG_MAX ||
	    (x = d2i_X509(NULL, &p, (long)len)) == NULL)
		return NULL;
	s = api_json_cert_pem(x);
	X509_free(x);
	return s;
}
