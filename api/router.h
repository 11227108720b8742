/*
 * router.h - method and path matching for the REST API, percent-decoding
 * of path segments and query strings.
 *
 * Pure functions over strings (no I/O), so the unit tests and the fuzz
 * target drive them directly.  Every input is bounded: paths over
 * API_PATH_MAX bytes or API_SEGS_MAX segments, and queries over
 * API_QUERY_LEN bytes or API_QUERY_MAX pairs, are refused.
 */
#ifndef CAP_API_ROUTER_H
#define CAP_API_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

#define API_PATH_MAX	1024	/* longest raw path, bytes */
#define API_SEGS_MAX	8	/* most path segments */
#define API_QUERY_LEN	1024	/* longest raw query string, bytes */
#define API_QUERY_MAX	8	/* most query parameters */

/* Methods as a bit set (same bits as libevent's evhttp_cmd_type). */
enum api_method {
	API_M_GET	= 1 << 0,
	API_M_POST	= 1 << 1,
	API_M_HEAD	= 1 << 2,
	API_M_PUT	= 1 << 3,
	API_M_DELETE	= 1 << 4,
	API_M_OPTIONS	= 1 << 5,
	API_M_TRACE	= 1 << 6,
	API_M_CONNECT	= 1 << 7,
	API_M_PATCH	= 1 << 8,
};

struct api_ctx;
typedef void api_handler(struct api_ctx *ctx);

/*
 * A route: one method on one path pattern.  Pattern segments are literal,
 * or ":d" (a domain name) or ":n" (a secret name), both checked with
 * cap_name_valid.
 */
struct api_route {
	unsigned	 method;	/* one API_M_* bit */
	const char	*pattern;	/* "/v1/domains/:d/secrets/:n" */
	api_handler	*fn;
};

/* The outcome of matching one request. */
struct api_match {
	const struct api_route	*route;
	unsigned		 allow;		/* methods the path accepts */
	char			 domain[CAP_NAME_MAX + 1];	/* ":d", or "" */
	char			 name[CAP_NAME_MAX + 1];	/* ":n", or "" */
};

/* Results of api_route_match. */
enum api_route_result {
	API_ROUTE_OK = 0,
	API_ROUTE_NOT_FOUND,	/* no pattern has this path: 404 */
	API_ROUTE_BAD_METHOD,	/* the path exists, the method does not: 405 */
	API_ROUTE_BAD_PATH,	/* malformed encoding or over the limits: 400 */
	API_ROUTE_BAD_NAME,	/* a domain or secret name is invalid: 400 */
};

/* The table of routes, terminated by an entry with pattern NULL. */
extern const struct api_route api_routes[];

/*
 * api_route_match matches method (one API_M_* bit) and path (raw, still
 * percent-encoded, without the query) against routes, which is api_routes
 * or a test table.  Fills m (route, allowed methods, decoded parameters).
 */
enum api_route_result api_route_match(const struct api_route *routes,
    unsigned method, const char *path, struct api_match *m);

/*
 * api_method_names writes the methods of the bit set allow as an Allow
 * header value ("GET, DELETE") into out.
 */
void api_method_names(unsigned allow, char *out, size_t outsz);

/* api_method_name: "GET", "PUT", ... for one bit; "?" otherwise. */
const char *api_method_name(unsigned method);

/*
 * api_pct_decode decodes inlen bytes of in ("%2F" escapes; '+' as a space
 * when plus_space) into out, NUL-terminated.  CAP_ERR_INVALID on a bad
 * escape or a decoded NUL, CAP_ERR_TOO_LARGE when out is too small.
 */
int api_pct_decode(const char *in, size_t inlen, char *out, size_t outsz,
    int plus_space) __attribute__((warn_unused_result));

/* A parsed query string; keys and values point into buf. */
struct api_query {
	size_t		 n;
	const char	*key[API_QUERY_MAX];
	const char	*value[API_QUERY_MAX];
	char		 buf[API_QUERY_LEN + API_QUERY_MAX * 2];
};

/*
 * api_query_parse splits and decodes raw ("a=1&b=x%20y", NULL or "" for
 * none).  A key without '=' has the value "".  CAP_ERR_INVALID on bad
 * encoding, an empty or repeated key; CAP_ERR_TOO_LARGE over the limits.
 */
int api_query_parse(const char *raw, struct api_query *q)
    __attribute__((warn_unused_result));

/* api_query_get returns the value of key, or NULL when absent. */
const char *api_query_get(const struct api_query *q, const char *key);

/*
 * api_parse_u32 parses a plain decimal (no sign, no spaces, no leading
 * zeros) in [min, UINT32_MAX].  CAP_ERR_INVALID otherwise.
 */
int api_parse_u32(const char *s, uint32_t min, uint32_t *out)
    __attribute__((warn_unused_result));

#endif
