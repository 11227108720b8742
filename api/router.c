/* router.c - method and path matching, percent-decoding, query parsing. */
#include <stdio.h>
#include <string.h>

#include "api/handlers.h"
#include "api/router.h"
#include "common/err.h"
#include "common/util.h"

const struct api_route api_routes[] = {
	{ API_M_POST,	"/v1/domains",				api_h_domain_create },
	{ API_M_GET,	"/v1/domains",				api_h_domain_list },
	{ API_M_GET,	"/v1/domains/:d",			api_h_domain_get },
	{ API_M_DELETE,	"/v1/domains/:d",			api_h_domain_delete },
	{ API_M_POST,	"/v1/domains/:d/rotate",		api_h_domain_rotate },
	{ API_M_GET,	"/v1/domains/:d/secrets",		api_h_secret_list },
	{ API_M_PUT,	"/v1/domains/:d/secrets/:n",		api_h_secret_put },
	{ API_M_GET,	"/v1/domains/:d/secrets/:n",		api_h_secret_get },
	{ API_M_DELETE,	"/v1/domains/:d/secrets/:n",		api_h_secret_delete },
	{ API_M_GET,	"/v1/domains/:d/secrets/:n/versions",	api_h_secret_versions },
	{ API_M_POST,	"/v1/domains/:d/secrets/:n/destroy",	api_h_secret_destroy },
	{ API_M_POST,	"/v1/domains/:d/secrets/:n/refs",	api_h_ref_create },
	{ API_M_POST,	"/v1/domains/:d/secrets/:n/generate",	api_h_secret_generate },
	{ API_M_POST,	"/v1/refs/redeem",			api_h_ref_redeem },
	{ API_M_GET,	"/v1/audit",				api_h_audit_get },
	{ API_M_GET,	"/v1/policies",				api_h_policy_list },
	{ API_M_PUT,	"/v1/policies/:n",			api_h_policy_put },
	{ API_M_GET,	"/v1/policies/:n",			api_h_policy_get },
	{ API_M_DELETE,	"/v1/policies/:n",			api_h_policy_delete },
	{ API_M_POST,	"/v1/auth/tokens",			api_h_token_create },
	{ API_M_GET,	"/v1/auth/tokens",			api_h_token_list },
	{ API_M_DELETE,	"/v1/auth/tokens/:n",			api_h_token_revoke },
	{ API_M_POST,	"/v1/keys",				api_h_key_create },
	{ API_M_GET,	"/v1/keys",				api_h_key_list },
	{ API_M_GET,	"/v1/keys/:n",				api_h_key_get },
	{ API_M_DELETE,	"/v1/keys/:n",				api_h_key_delete },
	{ API_M_POST,	"/v1/keys/:n/sign",			api_h_key_sign },
	{ API_M_POST,	"/v1/keys/:n/verify",			api_h_key_verify },
	{ API_M_POST,	"/v1/keys/:n/csr",			api_h_key_csr },
	{ API_M_POST,	"/v1/keys/:n/encrypt",			api_h_key_encrypt },
	{ API_M_POST,	"/v1/keys/:n/decrypt",			api_h_key_decrypt },
	{ API_M_GET,	"/v1/sys/health",			api_h_sys_health },
	{ API_M_GET,	"/v1/sys/tokens",			api_h_sys_tokens },
	{ API_M_POST,	"/v1/cas",				api_h_ca_create },
	{ API_M_GET,	"/v1/cas",				api_h_ca_list },
	{ API_M_GET,	"/v1/cas/:n",				api_h_ca_get },
	{ API_M_DELETE,	"/v1/cas/:n",				api_h_ca_delete },
	{ API_M_GET,	"/v1/cas/:n/chain",			api_h_ca_chain },
	{ API_M_GET,	"/v1/cas/:n/crl",			api_h_ca_crl },
	{ API_M_POST,	"/v1/cas/:n/ocsp",			api_h_ca_ocsp },
	{ API_M_POST,	"/v1/certs",				api_h_cert_enroll },
	{ API_M_GET,	"/v1/certs",				api_h_cert_list },
	{ API_M_GET,	"/v1/certs/:n",				api_h_cert_get },
	{ API_M_POST,	"/v1/certs/:n/renew",			api_h_cert_renew },
	{ API_M_POST,	"/v1/certs/:n/revoke",			api_h_cert_revoke },
	{ API_M_GET,	"/v1/certs/:n/status",			api_h_cert_status },
	{ API_M_GET,	"/v1/sys/metrics",			api_h_sys_metrics },
	{ API_M_POST,	"/v1/packages/sign",			api_h_pkg_sign },
	{ API_M_POST,	"/v1/packages/verify",			api_h_pkg_verify },
	{ API_M_POST,	"/v1/packages/encrypt",			api_h_pkg_encrypt },
	{ API_M_POST,	"/v1/packages/decrypt",			api_h_pkg_decrypt },
	{ API_M_POST,	"/cmf/v1/entities",			api_h_cmf_entity_create },
	{ API_M_GET,	"/cmf/v1/entities",			api_h_cmf_entity_list },
	{ API_M_GET,	"/cmf/v1/entities/:n",			api_h_cmf_entity_get },
	{ API_M_DELETE,	"/cmf/v1/entities/:n",			api_h_cmf_entity_delete },
	{ API_M_POST,	"/cmf/v1/entities/:n/certificates",	api_h_cmf_cert_issue },
	{ API_M_GET,	"/cmf/v1/entities/:n/certificates",	api_h_cmf_cert_list },
	{ API_M_POST,	"/cmf/v1/entities/:n/initial-credentials", api_h_cmf_ic_create },
	{ API_M_GET,	"/cmf/v1/entities/:n/initial-credentials", api_h_cmf_ic_list },
	{ API_M_DELETE,	"/cmf/v1/initial-credentials/:n",	api_h_cmf_ic_delete },
	{ API_M_POST,	"/cmf/v1/lcm-notifications",		api_h_lcm_notify },
	{ API_M_GET,	"/cmf/v1/lcm-notifications/:n",		api_h_lcm_get },
	{ 0, NULL, NULL },
};

static const char *method_names[] = {
	"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE", "CONNECT",
	"PATCH",
};
#define NMETHODS (sizeof(method_names) / sizeof(method_names[0]))

const char *
api_method_name(unsigned method)
{
	size_t i;

	for (i = 0; i < NMETHODS; i++)
		if (method == (1U << i))
			return method_names[i];
	return "?";
}

void
api_method_names(unsigned allow, char *out, size_t outsz)
{
	size_t i, used = 0;
	int n;

	if (outsz == 0)
		return;
	out[0] = '\0';
	for (i = 0; i < NMETHODS; i++) {
		if ((allow & (1U << i)) == 0)
			continue;
		n = snprintf(out + used, outsz - used, "%s%s",
		    used ? ", " : "", method_names[i]);
		if (n < 0 || (size_t)n >= outsz - used)
			return;
		used += (size_t)n;
	}
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
api_pct_decode(const char *in, size_t inlen, char *out, size_t outsz,
    int plus_space)
{
	size_t i, o = 0;
	int hi, lo;
	char c;

	if (outsz == 0)
		return CAP_ERR_TOO_LARGE;
	for (i = 0; i < inlen; i++) {
		c = in[i];
		if (c == '%') {
			if (inlen - i < 3 || (hi = hexval(in[i + 1])) < 0 ||
			    (lo = hexval(in[i + 2])) < 0)
				return CAP_ERR_INVALID;
			c = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+' && plus_space)
			c = ' ';
		if (c == '\0')
			return CAP_ERR_INVALID;
		if (o + 1 >= outsz)
			return CAP_ERR_TOO_LARGE;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

/* A path split into decoded segments, all inside one buffer. */
struct segs {
	size_t		 n;
	const char	*s[API_SEGS_MAX];
	char		 buf[API_PATH_MAX + API_SEGS_MAX];
};

static enum api_route_result
split_path(const char *path, struct segs *sg)
{
	const char *p, *slash;
	size_t len, used = 0;

	sg->n = 0;
	if (path == NULL || path[0] != '/')
		return API_ROUTE_BAD_PATH;
	if (strnlen(path, API_PATH_MAX + 1) > API_PATH_MAX)
		return API_ROUTE_BAD_PATH;
	for (p = path + 1;; p = slash + 1) {
		if ((slash = strchr(p, '/')) == NULL)
			slash = p + strlen(p);
		len = (size_t)(slash - p);
		if (sg->n == API_SEGS_MAX)
			return API_ROUTE_NOT_FOUND;
		if (api_pct_decode(p, len, sg->buf + used,
		    sizeof(sg->buf) - used, 0) != 0)
			return API_ROUTE_BAD_PATH;
		sg->s[sg->n++] = sg->buf + used;
		used += strlen(sg->buf + used) + 1;
		if (*slash == '\0')
			break;
	}
	return API_ROUTE_OK;
}

/*
 * Does pattern match the segments?  Parameters are copied (unvalidated)
 * into m; *bad_name is set when one is not a valid name.
 */
static int
pattern_match(const char *pattern, const struct segs *sg, struct api_match *m,
    int *bad_name)
{
	char pat[128], *save = NULL, *tok;
	size_t i = 0;
	const char *v;

	*bad_name = 0;
	m->domain[0] = m->name[0] = '\0';
	if (strlen(pattern) >= sizeof(pat))
		return 0;
	memcpy(pat, pattern, strlen(pattern) + 1);
	for (tok = strtok_r(pat, "/", &save); tok != NULL;
	    tok = strtok_r(NULL, "/", &save), i++) {
		if (i >= sg->n)
			return 0;
		v = sg->s[i];
		if (tok[0] == ':') {
			if (v[0] == '\0')
				return 0;	/* "/v1/domains/" is no route */
			if (!cap_name_valid(v))
				*bad_name = 1;
			else if (tok[1] == 'd')
				memcpy(m->domain, v, strlen(v) + 1);
			else
				memcpy(m->name, v, strlen(v) + 1);
		} else if (strcmp(tok, v) != 0)
			return 0;
	}
	return i == sg->n;
}

enum api_route_result
api_route_match(const struct api_route *routes, unsigned method,
    const char *path, struct api_match *m)
{
	struct segs sg;
	struct api_match tmp;
	enum api_route_result r;
	size_t i;
	int bad, any_bad = 0;

	memset(m, 0, sizeof(*m));
	if ((r = split_path(path, &sg)) != API_ROUTE_OK)
		return r;
	for (i = 0; routes[i].pattern != NULL; i++) {
		if (!pattern_match(routes[i].pattern, &sg, &tmp, &bad))
			continue;
		m->allow |= routes[i].method;
		if (routes[i].method != method || m->route != NULL)
			continue;
		if (bad) {
			any_bad = 1;
			continue;
		}
		memcpy(m->domain, tmp.domain, sizeof(m->domain));
		memcpy(m->name, tmp.name, sizeof(m->name));
		m->route = &routes[i];
	}
	if (m->route != NULL)
		return API_ROUTE_OK;
	if (any_bad)
		return API_ROUTE_BAD_NAME;
	if (m->allow == 0)
		return API_ROUTE_NOT_FOUND;
	return API_ROUTE_BAD_METHOD;
}

int
api_query_parse(const char *raw, struct api_query *q)
{
	const char *p, *amp, *eq;
	size_t used = 0, klen, vlen, i;
	char *k, *v;

	memset(q, 0, sizeof(*q));
	if (raw == NULL || raw[0] == '\0')
		return 0;
	if (strnlen(raw, API_QUERY_LEN + 1) > API_QUERY_LEN)
		return CAP_ERR_TOO_LARGE;
	for (p = raw;; p = amp + 1) {
		if ((amp = strchr(p, '&')) == NULL)
			amp = p + strlen(p);
		if (amp == p) {
			/* Tolerate "a=1&&b=2" and a trailing '&'. */
			if (*amp == '\0')
				break;
			continue;
		}
		if (q->n == API_QUERY_MAX)
			return CAP_ERR_TOO_LARGE;
		eq = memchr(p, '=', (size_t)(amp - p));
		klen = (size_t)((eq != NULL ? eq : amp) - p);
		vlen = eq != NULL ? (size_t)(amp - eq - 1) : 0;
		if (klen == 0)
			return CAP_ERR_INVALID;
		k = q->buf + used;
		if (api_pct_decode(p, klen, k, sizeof(q->buf) - used, 1) != 0)
			return CAP_ERR_INVALID;
		used += strlen(k) + 1;
		v = q->buf + used;
		if (api_pct_decode(eq != NULL ? eq + 1 : amp, vlen, v,
		    sizeof(q->buf) - used, 1) != 0)
			return CAP_ERR_INVALID;
		used += strlen(v) + 1;
		for (i = 0; i < q->n; i++)
			if (strcmp(q->key[i], k) == 0)
				return CAP_ERR_INVALID;
		q->key[q->n] = k;
		q->value[q->n] = v;
		q->n++;
		if (*amp == '\0')
			break;
	}
	return 0;
}

const char *
api_query_get(const struct api_query *q, const char *key)
{
	size_t i;

	for (i = 0; i < q->n; i++)
		if (strcmp(q->key[i], key) == 0)
			return q->value[i];
	return NULL;
}

int
api_parse_u32(const char *s, uint32_t min, uint32_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (s == NULL || s[0] < '0' || s[0] > '9' ||
	    (s[0] == '0' && s[1] != '\0'))
		return CAP_ERR_INVALID;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 10)
			return CAP_ERR_INVALID;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > UINT32_MAX || v < min)
		return CAP_ERR_INVALID;
	*out = (uint32_t)v;
	return 0;
}
