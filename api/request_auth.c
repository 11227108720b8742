/* request_auth.c - bodies of the policy and token calls. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "api/request.h"
#include "api/request_auth.h"
#include "common/err.h"
#include "common/util.h"

int
api_req_policy_put(const uint8_t *buf, size_t len, const char *name,
    policy **out, char *err, size_t errlen)
{
	const char *why = NULL, *s;
	json_t *j = NULL, *n;
	int r;

	*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	if (len > POLICY_DOC_MAX) {
		snprintf(err, errlen, "the policy document is over %d bytes",
		    POLICY_DOC_MAX);
		r = CAP_ERR_TOO_LARGE;
		goto out;
	}
	/* Depth, duplicate keys and the object shape, before policy_parse. */
	if ((r = api_json_object_parse(buf, len, &j, &why)) != 0) {
		snprintf(err, errlen, "%s", why);
		goto out;
	}
	r = CAP_ERR_INVALID;
	if ((n = json_object_get(j, "name")) != NULL &&
	    ((s = api_json_plain_string(n)) == NULL || strcmp(s, name) != 0)) {
		snprintf(err, errlen, "\"name\" differs from the name in the "
		    "path");
		goto out;
	}
	if (memchr(buf, '\0', len) != NULL) {
		snprintf(err, errlen, "the body holds a NUL byte");
		goto out;
	}
	r = policy_parse(name, (const char *)buf, len, out, err, errlen);
 out:
	json_decref(j);
	return r;
}

int
api_req_token_create(const uint8_t *buf, size_t len,
    struct api_token_req *tr, const char **why)
{
	static const char *const allowed[] = {
		"identity", "policies", "ttl", "uses", NULL
	};
	json_t *j = NULL, *v, *p;
	const char *s;
	json_int_t u;
	size_t i, k, slen;
	int r;

	memset(tr, 0, sizeof(*tr));
	if ((r = api_json_body_parse(buf, len, allowed, &j, why)) != 0)
		goto out;
	r = CAP_ERR_INVALID;
	if ((s = api_json_plain_string(json_object_get(j, "identity"))) == NULL ||
	    (slen = strlen(s)) == 0 || slen > STORE_IDENTITY_MAX) {
		*why = "\"identity\" must be a string of 1 to 256 bytes";
		goto out;
	}
	for (i = 0; i < slen; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			*why = "\"identity\" holds a control character";
			goto out;
		}
	memcpy(tr->identity, s, slen + 1);

	if (!json_is_array(p = json_object_get(j, "policies")) ||
	    json_array_size(p) > STORE_TOKEN_POLICIES_MAX) {
		*why = "\"policies\" must be an array of at most 32 names";
		goto out;
	}
	json_array_foreach(p, i, v) {
		if ((s = api_json_plain_string(v)) == NULL || !cap_name_valid(s)) {
			*why = "\"policies\" holds an invalid name";
			goto out;
		}
		for (k = 0; k < tr->npolicies; k++)
			if (strcmp(tr->policies[k], s) == 0) {
				*why = "\"policies\" names a policy twice";
				goto out;
			}
		memcpy(tr->policies[tr->npolicies++], s, strlen(s) + 1);
	}

	tr->ttl = API_TOKEN_TTL_DEFAULT;
	if ((v = json_object_get(j, "ttl")) != NULL &&
	    ((s = api_json_plain_string(v)) == NULL ||
	    cap_parse_duration(s, &tr->ttl) != 0 || tr->ttl == 0)) {
		*why = "\"ttl\" must be a duration such as \"90s\", \"1h\" or "
		    "\"7d\", at least 1s";
		goto out;
	}
	if ((v = json_object_get(j, "uses")) != NULL) {
		if (!api_json_int_in(v, 0, UINT32_MAX, &u)) {
			*why = "\"uses\" must be an integer from 0 (unlimited) "
			    "to 4294967295";
			goto out;
		}
		tr->uses = (uint32_t)u;
	}
	r = 0;
 out:
	json_decref(j);
	if (r != 0)
		memset(tr, 0, sizeof(*tr));
	return r;
}
