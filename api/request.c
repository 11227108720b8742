/* request.c - request bodies: reading, wiping, parsing, validating. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>
#include <sodium.h>

#include "api/request.h"
#include "common/err.h"
#include "common/util.h"
#include "crypto/vault.h"

/*
 * Every jansson block carries its size in a header so that it can be wiped
 * on free.  The header is as large as max_align_t to keep the alignment
 * malloc promises.
 */
#define HDR	sizeof(max_align_t)

static void *
wipe_malloc(size_t n)
{
	unsigned char *p;

	if (n > SIZE_MAX - HDR || (p = malloc(n + HDR)) == NULL)
		return NULL;
	memcpy(p, &n, sizeof(n));
	return p + HDR;
}

static void
wipe_free(void *ptr)
{
	unsigned char *p;
	size_t n;

	if (ptr == NULL)
		return;
	p = (unsigned char *)ptr - HDR;
	memcpy(&n, p, sizeof(n));
	sodium_memzero(p, n + HDR);
	free(p);
}

static pthread_once_t alloc_once = PTHREAD_ONCE_INIT;

static void
alloc_setup(void)
{
	json_set_alloc_funcs(wipe_malloc, wipe_free);
}

void
api_json_alloc_init(void)
{
	pthread_once(&alloc_once, alloc_setup);
}

void
api_json_free(void *p)
{
	json_free_t freefn = NULL;

	json_get_alloc_funcs(NULL, &freefn);
	freefn(p);
}

/* Zero and drain everything buf holds. */
static void
evbuffer_wipe(struct evbuffer *buf)
{
	struct evbuffer_iovec v[8];
	size_t total;
	int n, i;

	while (evbuffer_get_length(buf) > 0) {
		n = evbuffer_peek(buf, -1, NULL, v, 8);
		total = 0;
		for (i = 0; i < n && i < 8; i++) {
			sodium_memzero(v[i].iov_base, v[i].iov_len);
			total += v[i].iov_len;
		}
		if (n <= 0 || total == 0) {
			evbuffer_drain(buf, evbuffer_get_length(buf));
			break;
		}
		evbuffer_drain(buf, total);
	}
}

int
api_body_read(struct evhttp_request *req, size_t max, uint8_t **buf,
    size_t *len)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	uint8_t *b = NULL;
	size_t n = evbuffer_get_length(in);
	int r = CAP_ERR_INTERNAL;

	*buf = NULL;
	*len = 0;
	if (n > max) {
		r = CAP_ERR_TOO_LARGE;
		goto out;
	}
	if (n == 0) {
		r = 0;
		goto out;
	}
	/*
	 * A request body lives for one request: heap memory, wiped on
	 * release (api_body_free), like the libevent and OpenSSL buffers it
	 * passed through.  Guarded, locked sodium_malloc pages are kept for
	 * long-lived keys; here they cost several system calls per request.
	 */
	if ((b = malloc(n + 1)) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	if (evbuffer_copyout(in, b, n) != (ev_ssize_t)n)
		goto out;
	b[n] = '\0';
	*buf = b;
	*len = n;
	b = NULL;	/* transferred */
	r = 0;
 out:
	evbuffer_wipe(in);
	if (b != NULL) {
		sodium_memzero(b, n + 1);
		free(b);
	}
	return r;
}

void
api_body_free(uint8_t *buf, size_t len)
{
	if (buf == NULL)
		return;
	sodium_memzero(buf, len + 1);
	free(buf);
}

int
api_json_depth_ok(const uint8_t *buf, size_t len, unsigned max)
{
	unsigned depth = 0;
	int in_str = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		if (in_str) {
			if (buf[i] == '\\')
				i++;
			else if (buf[i] == '"')
				in_str = 0;
			continue;
		}
		switch (buf[i]) {
		case '"':
			in_str = 1;
			break;
		case '[':
		case '{':
			if (++depth > max)
				return 0;
			break;
		case ']':
		case '}':
			if (depth > 0)
				depth--;
			break;
		default:
			break;
		}
	}
	return 1;
}

int
api_json_object_parse(const uint8_t *buf, size_t len, json_t **out,
    const char **why)
{
	json_error_t jerr;
	json_t *j = NULL;
	int r = CAP_ERR_INVALID;

	*out = NULL;
	if (buf == NULL || len == 0) {
		*why = "a JSON object body is required";
		goto out;
	}
	if (!api_json_depth_ok(buf, len, API_JSON_DEPTH_MAX)) {
		*why = "the JSON body nests too deeply";
		goto out;
	}
	/* jerr.text quotes the input, which may be secret: never logged. */
	if ((j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES,
	    &jerr)) == NULL) {
		*why = "the body is not valid JSON";
		goto out;
	}
	if (!json_is_object(j)) {
		*why = "the body must be a JSON object";
		goto out;
	}
	*out = j;
	j = NULL;	/* transferred */
	r = 0;
 out:
	json_decref(j);
	sodium_memzero(&jerr, sizeof(jerr));
	return r;
}

/* 1 if every key of obj is one of the NULL-terminated list allowed. */
static int
keys_allowed(json_t *obj, const char *const *allowed)
{
	const char *k;
	json_t *v;
	size_t i;

	json_object_foreach(obj, k, v) {
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(k, allowed[i]) == 0)
				break;
		if (allowed[i] == NULL)
			return 0;
	}
	return 1;
}

int
api_json_body_parse(const uint8_t *buf, size_t len,
    const char *const *allowed, json_t **out, const char **why)
{
	json_t *j = NULL;
	int r;

	*out = NULL;
	if ((r = api_json_object_parse(buf, len, &j, why)) != 0)
		return r;
	if (!keys_allowed(j, allowed)) {
		*why = "unknown field in the body";
		json_decref(j);
		return CAP_ERR_INVALID;
	}
	*out = j;
	return 0;
}

const char *
api_json_plain_string(const json_t *v)
{
	const char *s;

	if (!json_is_string(v))
		return NULL;
	s = json_string_value(v);
	return strlen(s) == json_string_length(v) ? s : NULL;
}

int
api_json_int_in(const json_t *v, json_int_t lo, json_int_t hi,
    json_int_t *out)
{
	json_int_t n;

	if (!json_is_integer(v) || (n = json_integer_value(v)) < lo || n > hi)
		return 0;
	*out = n;
	return 1;
}

int
api_req_domain_create(const uint8_t *buf, size_t len,
    char name[CAP_NAME_MAX + 1], const char **why)
{
	static const char *const allowed[] = { "name", NULL };
	json_t *j = NULL, *n;
	const char *s;
	int r;

	name[0] = '\0';
	if ((r = api_json_body_parse(buf, len, allowed, &j, why)) != 0)
		goto out;
	r = CAP_ERR_INVALID;
	if ((n = json_object_get(j, "name")) == NULL || !json_is_string(n)) {
		*why = "\"name\" must be a string";
		goto out;
	}
	if ((s = api_json_plain_string(n)) == NULL || !cap_name_valid(s)) {
		*why = "invalid name";
		goto out;
	}
	memcpy(name, s, strlen(s) + 1);
	r = 0;
 out:
	json_decref(j);
	return r;
}

void
api_put_req_clear(struct api_put_req *pr)
{
	if (pr->data != NULL) {
		sodium_memzero(pr->data, pr->len);
		api_json_free(pr->data);
	}
	pr->data = NULL;
	pr->len = 0;
	pr->cas = VAULT_CAS_NONE;
}

int
api_req_secret_put(const uint8_t *buf, size_t len, struct api_put_req *pr,
    const char **why)
{
	static const char *const allowed[] = { "data", "cas", NULL };
	json_t *j = NULL, *data, *cas;
	json_int_t c;
	int r;

	pr->data = NULL;
	pr->len = 0;
	pr->cas = VAULT_CAS_NONE;
	if ((r = api_json_body_parse(buf, len, allowed, &j, why)) != 0)
		goto out;
	r = CAP_ERR_INVALID;
	if ((data = json_object_get(j, "data")) == NULL ||
	    !json_is_object(data)) {
		*why = "\"data\" must be a JSON object";
		goto out;
	}
	if ((cas = json_object_get(j, "cas")) != NULL && !json_is_null(cas)) {
		if (!api_json_int_in(cas, 0, (json_int_t)VAULT_CAS_NONE - 1,
		    &c)) {
			*why = "\"cas\" must be an integer >= 0";
			goto out;
		}
		pr->cas = (uint32_t)c;
	}
	if ((pr->data = json_dumps(data, JSON_COMPACT)) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	pr->len = strlen(pr->data);
	if (pr->len > VAULT_DATA_MAX) {
		*why = "the secret data is over 512 KiB";
		r = CAP_ERR_TOO_LARGE;
		goto out;
	}
	r = 0;
 out:
	json_decref(j);
	if (r != 0)
		api_put_req_clear(pr);
	return r;
}

int
api_req_destroy(const uint8_t *buf, size_t len, uint32_t **versions,
    size_t *n, const char **why)
{
	static const char *const allowed[] = { "versions", NULL };
	json_t *j = NULL, *arr, *e;
	uint32_t *v = NULL;
	json_int_t x;
	size_t i, cnt;
	int r = 0;

	*versions = NULL;
	*n = 0;
	if (buf == NULL || len == 0)
		goto out;
	if ((r = api_json_body_parse(buf, len, allowed, &j, why)) != 0)
		goto out;
	r = CAP_ERR_INVALID;
	if ((arr = json_object_get(j, "versions")) == NULL ||
	    json_is_null(arr)) {
		r = 0;
		goto out;
	}
	if (!json_is_array(arr) || (cnt = json_array_size(arr)) == 0 ||
	    cnt > API_DESTROY_MAX) {
		*why = "\"versions\" must be a non-empty array of versions";
		goto out;
	}
	if ((v = calloc(cnt, sizeof(*v))) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	json_array_foreach(arr, i, e) {
		if (!api_json_int_in(e, 1, UINT32_MAX, &x)) {
			*why = "a version must be an integer from 1";
			goto out;
		}
		v[i] = (uint32_t)x;
	}
	*versions = v;
	*n = cnt;
	v = NULL;	/* transferred */
	r = 0;
 out:
	free(v);
	json_decref(j);
	return r;
}
