/*
 * request_refs.c - bodies of the reference, redeem and generate calls.
 *
 * The redeem body carries a bearer capability (the reference): the parsed
 * JSON lives in jansson's wiping allocator, and the copy handed back is
 * the caller's to wipe.
 */
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "api/request.h"
#include "api/request_refs.h"
#include "common/err.h"
#include "common/util.h"
#include "crypto/token.h"

/* "ttl": a duration string ("90s", "15m") or a number of seconds. */
static int
parse_ttl(json_t *v, uint64_t *ttl, const char **why)
{
	const char *s;
	json_int_t n;

	*why = "\"ttl\" must be a duration from 1s to 24h";
	if (json_is_integer(v)) {
		n = json_integer_value(v);
		if (n < 1 || n > API_REF_TTL_MAX)
			return CAP_ERR_INVALID;
		*ttl = (uint64_t)n;
		return 0;
	}
	if ((s = api_json_plain_string(v)) == NULL || strlen(s) > 32 ||
	    cap_parse_duration(s, ttl) != 0 || *ttl < 1 ||
	    *ttl > API_REF_TTL_MAX)
		return CAP_ERR_INVALID;
	return 0;
}

/* The "ttl" and "uses" members of obj, defaults when absent or null. */
static int
parse_ttl_uses(json_t *obj, struct api_ref_req *rr, const char **why)
{
	json_t *v;
	json_int_t n;
	int r;

	rr->ttl = API_REF_TTL_DEFAULT;
	rr->uses = API_REF_USES_DEFAULT;
	if ((v = json_object_get(obj, "ttl")) != NULL && !json_is_null(v) &&
	    (r = parse_ttl(v, &rr->ttl, why)) != 0)
		return r;
	if ((v = json_object_get(obj, "uses")) != NULL && !json_is_null(v)) {
		if (!api_json_int_in(v, 1, API_REF_USES_MAX, &n)) {
			*why = "\"uses\" must be an integer from 1 to 1000";
			return CAP_ERR_INVALID;
		}
		rr->uses = (uint32_t)n;
	}
	return 0;
}

int
api_req_ref_create(const uint8_t *buf, size_t len, struct api_ref_req *rr,
    const char **why)
{
	static const char *const allowed[] = { "ttl", "uses", "version",
	    NULL };
	json_t *j = NULL, *v;
	json_int_t n;
	int r = 0;

	rr->ttl = API_REF_TTL_DEFAULT;
	rr->uses = API_REF_USES_DEFAULT;
	rr->version = 0;
	if (buf == NULL || len == 0)
		goto out;
	if ((r = api_json_body_parse(buf, len, allowed, &j, why)) != 0)
		goto out;
	r = CAP_ERR_INVALID;
	if ((r = parse_ttl_uses(j, rr, why)) != 0)
		goto out;
	r = CAP_ERR_INVALID;
	if ((v = json_object_get(j, "version")) != NULL && !json_is_null(v)) {
		if (!api_json_int_in(v, 1, UINT32_MAX, &n)) {
			*why = "\"version\" must be an integer from 1";
			goto out;
		}
		rr->version = (uint32_t)n;
	}
	r = 0;
 out:
	json_decref(j);
	if (r != 0) {
		rr->ttl = API_REF_TTL_DEFAULT;
		rr->uses = API_REF_USES_DEFAULT;
		rr->version = 0;
	}
	return r;
}

int
api_req_ref_redeem(const uint8_t *buf, size_t len,
    char ref[API_REF_PRESENTED_SIZE], const char **why)
{
	static const char *const allowed[] = { "ref", NULL };
	json_t *j = NULL;
	const char *s;
	int r;

	ref[0] = '\0';
	if ((r = api_json_body_parse(buf, len, allowed, &j, why)) != 0)
		goto out;
	r = CAP_ERR_INVALID;
	if ((s = api_json_plain_string(json_object_get(j, "ref"))) == NULL ||
	    s[0] == '\0' || strlen(s) > TOKEN_PRESENTED_MAX) {
		*why = "\"ref\" must be a reference (cpr_...)";
		goto out;
	}
	memcpy(ref, s, strlen(s) + 1);
	r = 0;
 out:
	json_decref(j);
	return r;
}

int
api_req_generate(const uint8_t *buf, size_t len, struct api_gen_req *gr,
    const char **why)
{
	static const char *const allowed[] = { "length", "charset", "field",
	    "ttl", "uses", NULL };
	json_t *j = NULL, *v;
	json_int_t n;
	const char *s;
	int r = 0;

	memset(gr, 0, sizeof(*gr));
	gr->length = API_GEN_LENGTH_DEFAULT;
	memcpy(gr->charset, API_GEN_CHARSET_DEFAULT,
	    sizeof(API_GEN_CHARSET_DEFAULT));
	memcpy(gr->field, API_GEN_FIELD_DEFAULT, sizeof(API_GEN_FIELD_DEFAULT));
	gr->ref.ttl = API_REF_TTL_DEFAULT;
	gr->ref.uses = API_REF_USES_DEFAULT;
	if (buf == NULL || len == 0)
		goto out;
	if ((r = api_json_body_parse(buf, len, allowed, &j, why)) != 0)
		goto out;
	r = CAP_ERR_INVALID;
	if ((v = json_object_get(j, "length")) != NULL && !json_is_null(v)) {
		if (!api_json_int_in(v, 1, GEN_SECRET_MAX, &n)) {
			*why = "\"length\" must be an integer from 1 to 1024";
			goto out;
		}
		gr->length = (size_t)n;
	}
	if ((v = json_object_get(j, "charset")) != NULL && !json_is_null(v)) {
		if ((s = api_json_plain_string(v)) == NULL ||
		    strlen(s) > API_GEN_CHARSET_MAX || !gen_charset_valid(s)) {
			*why = "\"charset\" must be one of alnum, alpha, "
			    "numeric, hex, base64url, ascii-printable";
			goto out;
		}
		memcpy(gr->charset, s, strlen(s) + 1);
	}
	if ((v = json_object_get(j, "field")) != NULL && !json_is_null(v)) {
		if ((s = api_json_plain_string(v)) == NULL ||
		    strlen(s) > API_GEN_FIELD_MAX || !cap_name_valid(s)) {
			*why = "\"field\" must be 1 to 128 characters from "
			    "[A-Za-z0-9._-], not starting with '.' or '-'";
			goto out;
		}
		memcpy(gr->field, s, strlen(s) + 1);
	}
	if ((r = parse_ttl_uses(j, &gr->ref, why)) != 0)
		goto out;
	r = 0;
 out:
	json_decref(j);
	return r;
}
