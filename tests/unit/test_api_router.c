/*
 * test_api_router.c - the REST API without a network: routing, path and
 * query decoding, the CAP_ERR_* to HTTP mapping and request body checks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/api_int.h"
#include "api/handlers.h"
#include "api/reply.h"
#include "api/request.h"
#include "api/request_auth.h"
#include "api/router.h"
#include "common/err.h"
#include "crypto/vault.h"
#include "tests/unit/harness.h"

static void
check_route(unsigned method, const char *path, api_handler *want,
    const char *domain, const char *name)
{
	struct api_match m;
	enum api_route_result rr;
	char label[256];

	snprintf(label, sizeof(label), "route %s %s", api_method_name(method),
	    path);
	rr = api_route_match(api_routes, method, path, &m);
	if (!th_check(rr == API_ROUTE_OK && m.route != NULL &&
	    m.route->fn == want, label, "expected a match, got result %d",
	    (int)rr))
		return;
	th_check(strcmp(m.domain, domain) == 0 && strcmp(m.name, name) == 0,
	    label, "expected params (%s, %s), got (%s, %s)", domain, name,
	    m.domain, m.name);
}

static void
check_route_fails(unsigned method, const char *path,
    enum api_route_result want, const char *label)
{
	struct api_match m;

	TH_EQ_INT(api_route_match(api_routes, method, path, &m), want, label);
}

static void
test_routes(void)
{
	struct api_match m;
	char allow[96], longpath[API_PATH_MAX + 16];

	check_route(API_M_POST, "/v1/domains", api_h_domain_create, "", "");
	check_route(API_M_GET, "/v1/domains", api_h_domain_list, "", "");
	check_route(API_M_GET, "/v1/domains/payments", api_h_domain_get,
	    "payments", "");
	check_route(API_M_DELETE, "/v1/domains/payments",
	    api_h_domain_delete, "payments", "");
	check_route(API_M_POST, "/v1/domains/payments/rotate",
	    api_h_domain_rotate, "payments", "");
	check_route(API_M_GET, "/v1/domains/payments/secrets",
	    api_h_secret_list, "payments", "");
	check_route(API_M_PUT, "/v1/domains/payments/secrets/db",
	    api_h_secret_put, "payments", "db");
	check_route(API_M_GET, "/v1/domains/payments/secrets/db",
	    api_h_secret_get, "payments", "db");
	check_route(API_M_DELETE, "/v1/domains/payments/secrets/db",
	    api_h_secret_delete, "payments", "db");
	check_route(API_M_GET, "/v1/domains/payments/secrets/db/versions",
	    api_h_secret_versions, "payments", "db");
	check_route(API_M_POST, "/v1/domains/payments/secrets/db/destroy",
	    api_h_secret_destroy, "payments", "db");
	check_route(API_M_GET, "/v1/sys/health", api_h_sys_health, "", "");
	check_route(API_M_GET, "/v1/sys/tokens", api_h_sys_tokens, "", "");
	/* A domain may be called like a literal segment. */
	check_route(API_M_GET, "/v1/domains/secrets", api_h_domain_get,
	    "secrets", "");
	/* Segments are percent-decoded before matching and validation. */
	check_route(API_M_GET, "/v1/domains/pay%2Dments/secrets/d%62",
	    api_h_secret_get, "pay-ments", "db");
	check_route(API_M_GET, "/v1/%64omains", api_h_domain_list, "", "");

	check_route_fails(API_M_GET, "/v1/nothing", API_ROUTE_NOT_FOUND,
	    "unknown path is 404");
	check_route_fails(API_M_GET, "/", API_ROUTE_NOT_FOUND, "root is 404");
	check_route_fails(API_M_GET, "/v1/domains/", API_ROUTE_NOT_FOUND,
	    "trailing slash is 404");
	check_route_fails(API_M_GET, "/v1//domains", API_ROUTE_NOT_FOUND,
	    "empty segment is 404");
	check_route_fails(API_M_GET, "/v1/domains/a/b/c/d/e/f/g/h/i/j",
	    API_ROUTE_NOT_FOUND, "too many segments is 404");
	check_route_fails(API_M_GET, "v1/domains", API_ROUTE_BAD_PATH,
	    "relative path is refused");
	check_route_fails(API_M_GET, NULL, API_ROUTE_BAD_PATH,
	    "missing path is refused");
	check_route_fails(API_M_GET, "/v1/domains/a%2", API_ROUTE_BAD_PATH,
	    "truncated escape is refused");
	check_route_fails(API_M_GET, "/v1/domains/a%zz", API_ROUTE_BAD_PATH,
	    "non-hex escape is refused");
	check_route_fails(API_M_GET, "/v1/domains/a%00b", API_ROUTE_BAD_PATH,
	    "decoded NUL is refused");
	check_route_fails(API_M_GET, "/v1/domains/a%2Fb", API_ROUTE_BAD_NAME,
	    "decoded slash in a name is an invalid name");
	check_route_fails(API_M_GET, "/v1/domains/.hidden", API_ROUTE_BAD_NAME,
	    "name starting with a dot is invalid");
	check_route_fails(API_M_GET, "/v1/domains/-x/secrets",
	    API_ROUTE_BAD_NAME, "name starting with a dash is invalid");
	check_route_fails(API_M_PUT, "/v1/domains/ok/secrets/sp%20ace",
	    API_ROUTE_BAD_NAME, "secret name with a space is invalid");
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	check_route_fails(API_M_GET, longpath, API_ROUTE_BAD_PATH,
	    "overlong path is refused");

	TH_EQ_INT(api_route_match(api_routes, API_M_PATCH, "/v1/domains", &m),
	    API_ROUTE_BAD_METHOD, "PATCH /v1/domains is 405");
	TH_EQ_INT(m.allow, API_M_GET | API_M_POST, "405 allow set of /v1/domains");
	api_method_names(m.allow, allow, sizeof(allow));
	th_check(strcmp(allow, "GET, POST") == 0, "Allow header text",
	    "expected \"GET, POST\", got \"%s\"", allow);
	TH_EQ_INT(api_route_match(api_routes, API_M_POST,
	    "/v1/domains/x/secrets/y", &m), API_ROUTE_BAD_METHOD,
	    "POST on a secret is 405");
	TH_EQ_INT(m.allow, API_M_GET | API_M_PUT | API_M_DELETE,
	    "allow set of a secret");
	TH_EQ_INT(api_route_match(api_routes, API_M_DELETE, "/v1/sys/health",
	    &m), API_ROUTE_BAD_METHOD, "DELETE health is 405");
	/* 405 wins over an invalid name: the method is checked first. */
	TH_EQ_INT(api_route_match(api_routes, API_M_POST, "/v1/domains/.x",
	    &m), API_ROUTE_BAD_METHOD, "POST on an invalid domain is 405");
}

static void
test_decode(void)
{
	char out[8];

	TH_EQ_INT(api_pct_decode("a%41b", 5, out, sizeof(out), 0), 0,
	    "decode escape");
	th_check(strcmp(out, "aAb") == 0, "decoded text",
	    "expected aAb, got %s", out);
	TH_EQ_INT(api_pct_decode("a+b", 3, out, sizeof(out), 1), 0,
	    "decode plus");
	th_check(strcmp(out, "a b") == 0, "plus is a space in queries",
	    "expected \"a b\", got \"%s\"", out);
	TH_EQ_INT(api_pct_decode("a+b", 3, out, sizeof(out), 0), 0,
	    "decode plus in a path");
	th_check(strcmp(out, "a+b") == 0, "plus stays in paths",
	    "expected a+b, got %s", out);
	TH_EQ_INT(api_pct_decode("12345678", 8, out, sizeof(out), 0),
	    CAP_ERR_TOO_LARGE, "decode over the buffer");
	TH_EQ_INT(api_pct_decode("%", 1, out, sizeof(out), 0),
	    CAP_ERR_INVALID, "lone percent");
}

static void
test_query(void)
{
	struct api_query q;
	char big[API_QUERY_LEN + 8];
	uint32_t v = 0;

	TH_EQ_INT(api_query_parse(NULL, &q), 0, "no query");
	TH_EQ_INT(q.n, 0, "no query has no pairs");
	TH_EQ_INT(api_query_parse("version=3&force=true", &q), 0,
	    "two parameters");
	th_check(api_query_get(&q, "version") != NULL &&
	    strcmp(api_query_get(&q, "version"), "3") == 0, "version value",
	    "expected 3");
	th_check(api_query_get(&q, "other") == NULL, "absent key", "got one");
	TH_EQ_INT(api_query_parse("force", &q), 0, "key without value");
	th_check(api_query_get(&q, "force") != NULL &&
	    api_query_get(&q, "force")[0] == '\0', "key without value is \"\"",
	    "expected empty value");
	TH_EQ_INT(api_query_parse("a=1&&b=2&", &q), 0, "empty pairs skipped");
	TH_EQ_INT(q.n, 2, "empty pairs not counted");
	TH_EQ_INT(api_query_parse("a=1&a=2", &q), CAP_ERR_INVALID,
	    "repeated key refused");
	TH_EQ_INT(api_query_parse("=1", &q), CAP_ERR_INVALID,
	    "empty key refused");
	TH_EQ_INT(api_query_parse("a=%zz", &q), CAP_ERR_INVALID,
	    "bad escape refused");
	TH_EQ_INT(api_query_parse("a=1&b=1&c=1&d=1&e=1&f=1&g=1&h=1&i=1", &q),
	    CAP_ERR_TOO_LARGE, "too many pairs refused");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	TH_EQ_INT(api_query_parse(big, &q), CAP_ERR_TOO_LARGE,
	    "overlong query refused");

	TH_EQ_INT(api_parse_u32("1", 1, &v), 0, "version 1");
	TH_EQ_INT(api_parse_u32("4294967295", 1, &v), 0, "version max");
	TH_EQ_INT(v, 4294967295U, "version max value");
	TH_EQ_INT(api_parse_u32("4294967296", 1, &v), CAP_ERR_INVALID,
	    "version over 32 bits");
	TH_EQ_INT(api_parse_u32("99999999999", 1, &v), CAP_ERR_INVALID,
	    "version of 11 digits");
	TH_EQ_INT(api_parse_u32("0", 1, &v), CAP_ERR_INVALID, "version 0");
	TH_EQ_INT(api_parse_u32("01", 1, &v), CAP_ERR_INVALID, "leading zero");
	TH_EQ_INT(api_parse_u32("-1", 1, &v), CAP_ERR_INVALID, "negative");
	TH_EQ_INT(api_parse_u32("+1", 1, &v), CAP_ERR_INVALID, "plus sign");
	TH_EQ_INT(api_parse_u32("1x", 1, &v), CAP_ERR_INVALID, "trailing junk");
	TH_EQ_INT(api_parse_u32("", 1, &v), CAP_ERR_INVALID, "empty");
}

static void
check_map(int err, int status, const char *code)
{
	const struct api_err_entry *e = api_err_lookup(err);
	char label[96];

	snprintf(label, sizeof(label), "%s maps to %d %s", cap_strerror(err),
	    status, code);
	th_check(e->status == status && strcmp(e->code, code) == 0, label,
	    "got %d %s", e->status, e->code);
}

static void
test_mapping(void)
{
	struct api_ctx ctx;

	check_map(CAP_ERR_INVALID, 400, "bad_request");
	check_map(CAP_ERR_UNAUTH, 401, "unauthenticated");
	check_map(CAP_ERR_DENIED, 403, "forbidden");
	check_map(CAP_ERR_NOT_FOUND, 404, "not_found");
	check_map(CAP_ERR_EXISTS, 409, "conflict");
	check_map(CAP_ERR_CONFLICT, 409, "conflict");
	check_map(CAP_ERR_TOO_LARGE, 413, "too_large");
	check_map(CAP_ERR_TOKEN, 503, "unavailable");
	check_map(CAP_ERR_STORE, 503, "unavailable");
	check_map(CAP_ERR_PIN, 503, "unavailable");
	check_map(CAP_ERR_UNAVAILABLE, 503, "unavailable");
	check_map(CAP_ERR_INTERNAL, 500, "internal");
	check_map(CAP_ERR_CRYPTO, 500, "internal");
	check_map(CAP_ERR_CORRUPT, 500, "internal");
	check_map(-9999, 500, "internal");
	TH_EQ_INT(api_status_lookup(405)->status, 405, "405 row exists");
	th_check(strcmp(api_status_lookup(405)->code, "method_not_allowed") ==
	    0, "405 code", "got %s", api_status_lookup(405)->code);
	TH_EQ_INT(api_status_lookup(418)->status, 500,
	    "unknown status row is 500");

	/* Without a connection, replies are only recorded. */
	memset(&ctx, 0, sizeof(ctx));
	api_reply_err(&ctx, CAP_ERR_EXISTS, "test");
	TH_EQ_INT(ctx.status, 409, "reply records the mapped status");
	memset(&ctx, 0, sizeof(ctx));
	api_reply_json(&ctx, 200, NULL);
	TH_EQ_INT(ctx.status, 500, "an unbuildable body becomes 500");
	memset(&ctx, 0, sizeof(ctx));
	api_reply_empty(&ctx, 204);
	TH_EQ_INT(ctx.status, 204, "empty reply status");
	ctx.id.kind = API_ID_NONE;
	TH_EQ_INT(api_authorize(&ctx, API_CAP_READ, "x"), CAP_ERR_UNAUTH,
	    "no identity is refused");
	ctx.id.kind = API_ID_CERT;
	TH_EQ_INT(api_authorize(&ctx, API_CAP_AUTHENTICATED, NULL), 0,
	    "an authenticated identity passes an identity-only check");
	TH_EQ_INT(api_authorize(&ctx, API_CAP_ADMIN, NULL), CAP_ERR_DENIED,
	    "without policies an identity is denied (default deny)");
}

#define B(s) (const uint8_t *)(s), strlen(s)

static void
test_bodies(void)
{
	struct api_put_req pr;
	char name[CAP_NAME_MAX + 1], *big;
	const char *why = NULL;
	uint32_t *v = NULL;
	size_t n = 0, i;
	json_t *j = NULL;

	TH_EQ_INT(api_req_domain_create(B("{\"name\":\"payments\"}"), name,
	    &why), 0, "domain create body");
	th_check(strcmp(name, "payments") == 0, "domain name parsed",
	    "got %s", name);
	TH_EQ_INT(api_req_domain_create(B("{\"name\":\"-x\"}"), name, &why),
	    CAP_ERR_INVALID, "invalid domain name refused");
	TH_EQ_INT(api_req_domain_create(B("{\"name\":\"a\\u0000b\"}"), name,
	    &why), CAP_ERR_INVALID, "NUL in name refused");
	TH_EQ_INT(api_req_domain_create(B("{\"name\":7}"), name, &why),
	    CAP_ERR_INVALID, "numeric name refused");
	TH_EQ_INT(api_req_domain_create(B("{\"name\":\"a\",\"x\":1}"), name,
	    &why), CAP_ERR_INVALID, "unknown field refused");
	TH_EQ_INT(api_req_domain_create(B("[\"a\"]"), name, &why),
	    CAP_ERR_INVALID, "array body refused");
	TH_EQ_INT(api_req_domain_create(B("\"a\""), name, &why),
	    CAP_ERR_INVALID, "string body refused");
	TH_EQ_INT(api_req_domain_create(NULL, 0, name, &why),
	    CAP_ERR_INVALID, "empty body refused");
	TH_EQ_INT(api_req_domain_create(B("{\"name\":\"a\"} x"), name, &why),
	    CAP_ERR_INVALID, "trailing garbage refused");
	TH_EQ_INT(api_req_domain_create(B("{\"name\":\"a\",\"name\":\"b\"}"),
	    name, &why), CAP_ERR_INVALID, "duplicate key refused");

	TH_EQ_INT(api_req_secret_put(B("{\"data\":{\"user\":\"app\","
	    "\"password\":\"s3cr3t\"},\"cas\":0}"), &pr, &why), 0,
	    "secret put body");
	th_check(pr.data != NULL &&
	    strcmp(pr.data, "{\"user\":\"app\",\"password\":\"s3cr3t\"}") == 0,
	    "data serialised compactly in order", "got %s",
	    pr.data != NULL ? pr.data : "(null)");
	TH_EQ_INT(pr.cas, 0, "cas 0 parsed");
	api_put_req_clear(&pr);
	th_check(pr.data == NULL && pr.len == 0, "put request cleared",
	    "data still set");
	TH_EQ_INT(api_req_secret_put(B("{\"data\":{}}"), &pr, &why), 0,
	    "put without cas");
	TH_EQ_INT(pr.cas, VAULT_CAS_NONE, "absent cas is none");
	api_put_req_clear(&pr);
	TH_EQ_INT(api_req_secret_put(B("{\"data\":{},\"cas\":null}"), &pr,
	    &why), 0, "null cas");
	TH_EQ_INT(pr.cas, VAULT_CAS_NONE, "null cas is none");
	api_put_req_clear(&pr);
	TH_EQ_INT(api_req_secret_put(B("{\"data\":{},\"cas\":4294967294}"),
	    &pr, &why), 0, "largest cas");
	api_put_req_clear(&pr);
	TH_EQ_INT(api_req_secret_put(B("{\"data\":{},\"cas\":4294967295}"),
	    &pr, &why), CAP_ERR_INVALID, "cas over range refused");
	TH_EQ_INT(api_req_secret_put(B("{\"data\":{},\"cas\":-1}"), &pr, &why),
	    CAP_ERR_INVALID, "negative cas refused");
	TH_EQ_INT(api_req_secret_put(B("{\"data\":{},\"cas\":1.5}"), &pr,
	    &why), CAP_ERR_INVALID, "real cas refused");
	TH_EQ_INT(api_req_secret_put(B("{\"data\":{},\"cas\":\"1\"}"), &pr,
	    &why), CAP_ERR_INVALID, "string cas refused");
	TH_EQ_INT(api_req_secret_put(B("{\"data\":\"x\"}"), &pr, &why),
	    CAP_ERR_INVALID, "string data refused");
	TH_EQ_INT(api_req_secret_put(B("{\"data\":[1]}"), &pr, &why),
	    CAP_ERR_INVALID, "array data refused");
	TH_EQ_INT(api_req_secret_put(B("{\"cas\":1}"), &pr, &why),
	    CAP_ERR_INVALID, "missing data refused");
	TH_EQ_INT(api_req_secret_put(B("{\"data\":{},\"extra\":1}"), &pr,
	    &why), CAP_ERR_INVALID, "unknown put field refused");
	TH_EQ_INT(api_req_secret_put(B("{\"data\":{\"a\":[[[[[[[[[[[[[[[[[[["
	    "[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}"), &pr,
	    &why), CAP_ERR_INVALID, "nesting over the limit refused");
	TH_EQ_INT(api_req_secret_put(B("{\"data\":{\"a\":\"[[[[[[[[[[[[[[[["
	    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}}"), &pr, &why), 0,
	    "brackets inside strings do not count");
	api_put_req_clear(&pr);

	/* Data over VAULT_DATA_MAX is 413, not 400. */
	big = malloc(VAULT_DATA_MAX + 64);
	if (big != NULL) {
		strcpy(big, "{\"data\":{\"k\":\"");
		i = strlen(big);
		memset(big + i, 'x', VAULT_DATA_MAX);
		strcpy(big + i + VAULT_DATA_MAX, "\"}}");
		TH_EQ_INT(api_req_secret_put(B(big), &pr, &why),
		    CAP_ERR_TOO_LARGE, "data over 512 KiB is too large");
		th_check(pr.data == NULL, "too-large put leaves nothing",
		    "data still set");
		free(big);
	}

	TH_EQ_INT(api_req_destroy(NULL, 0, &v, &n, &why), 0,
	    "destroy without body");
	TH_EQ_INT(n, 0, "no body destroys all");
	TH_EQ_INT(api_req_destroy(B("{}"), &v, &n, &why), 0, "destroy {}");
	TH_EQ_INT(n, 0, "{} destroys all");
	TH_EQ_INT(api_req_destroy(B("{\"versions\":[1,2,7]}"), &v, &n, &why),
	    0, "destroy list");
	th_check(n == 3 && v != NULL && v[0] == 1 && v[1] == 2 && v[2] == 7,
	    "destroy versions parsed", "got %zu versions", n);
	free(v);
	v = NULL;
	TH_EQ_INT(api_req_destroy(B("{\"versions\":[]}"), &v, &n, &why),
	    CAP_ERR_INVALID, "empty versions list refused");
	TH_EQ_INT(api_req_destroy(B("{\"versions\":[0]}"), &v, &n, &why),
	    CAP_ERR_INVALID, "version 0 refused");
	TH_EQ_INT(api_req_destroy(B("{\"versions\":[4294967296]}"), &v, &n,
	    &why), CAP_ERR_INVALID, "version over 32 bits refused");
	TH_EQ_INT(api_req_destroy(B("{\"versions\":\"1\"}"), &v, &n, &why),
	    CAP_ERR_INVALID, "versions not an array refused");
	TH_EQ_INT(api_req_destroy(B("[1]"), &v, &n, &why), CAP_ERR_INVALID,
	    "array body refused for destroy");
	th_check(v == NULL, "failed destroy parse leaves nothing", "got %p",
	    (void *)v);

	TH_EQ_INT(api_json_object_parse(B("{\"a\":{\"b\":{}}}"), &j, &why), 0,
	    "object parses");
	json_decref(j);
	TH_EQ_INT(api_json_depth_ok(B("[[[]]]"), 3), 1, "depth 3 within 3");
	TH_EQ_INT(api_json_depth_ok(B("[[[[]]]]"), 3), 0, "depth 4 over 3");
	TH_EQ_INT(api_json_depth_ok(B("[\"\\\"[[[[\"]"), 1), 1,
	    "escaped quote keeps the string open");
}

static void
test_auth_routes(void)
{
	struct api_match m;

	check_route(API_M_GET, "/v1/policies", api_h_policy_list, "", "");
	check_route(API_M_PUT, "/v1/policies/payments-read", api_h_policy_put,
	    "", "payments-read");
	check_route(API_M_GET, "/v1/policies/payments-read", api_h_policy_get,
	    "", "payments-read");
	check_route(API_M_DELETE, "/v1/policies/payments-read",
	    api_h_policy_delete, "", "payments-read");
	check_route(API_M_POST, "/v1/auth/tokens", api_h_token_create, "", "");
	check_route(API_M_GET, "/v1/auth/tokens", api_h_token_list, "", "");
	check_route(API_M_DELETE,
	    "/v1/auth/tokens/0123456789abcdef0123456789abcdef",
	    api_h_token_revoke, "", "0123456789abcdef0123456789abcdef");
	check_route_fails(API_M_PUT, "/v1/policies/a%2Fb", API_ROUTE_BAD_NAME,
	    "policy name with a slash is 400");
	check_route_fails(API_M_DELETE, "/v1/auth/tokens", API_ROUTE_BAD_METHOD,
	    "DELETE /v1/auth/tokens without accessor is 405");
	TH_EQ_INT(api_route_match(api_routes, API_M_POST, "/v1/policies/x",
	    &m), API_ROUTE_BAD_METHOD, "POST on a policy is 405");
	TH_EQ_INT(m.allow, API_M_GET | API_M_PUT | API_M_DELETE,
	    "405 allow set of /v1/policies/{p}");
}

static void
test_policy_body(void)
{
	policy *p = NULL;
	char err[160], *big;
	size_t n;

	TH_EQ_INT(api_req_policy_put(B("{\"identities\":[\"CN=svc-*\"],"
	    "\"rules\":[{\"domains\":\"payments\",\"capabilities\":"
	    "[\"read\",\"list\"]}]}"), "pr", &p, err, sizeof(err)), 0,
	    "policy body parses");
	th_check(p != NULL && strcmp(policy_name(p), "pr") == 0,
	    "policy takes the name of the path", "got %s",
	    p != NULL ? policy_name(p) : "nothing");
	policy_free(p);
	p = NULL;
	TH_EQ_INT(api_req_policy_put(B("{\"name\":\"pr\",\"rules\":[]}"),
	    "pr", &p, err, sizeof(err)), 0, "matching name field accepted");
	policy_free(p);
	p = NULL;
	TH_EQ_INT(api_req_policy_put(B("{\"name\":\"other\",\"rules\":[]}"),
	    "pr", &p, err, sizeof(err)), CAP_ERR_INVALID,
	    "name field differing from the path refused");
	th_check(p == NULL && strstr(err, "name") != NULL,
	    "refusal explains the name", "got '%s'", err);
	TH_EQ_INT(api_req_policy_put(B("{\"rules\":[{\"domains\":\"a\","
	    "\"capabilities\":[\"fly\"]}]}"), "pr", &p, err, sizeof(err)),
	    CAP_ERR_INVALID, "unknown capability refused");
	TH_EQ_INT(api_req_policy_put(B("{\"rules\":[],\"rules\":[]}"), "pr",
	    &p, err, sizeof(err)), CAP_ERR_INVALID, "duplicate key refused");
	TH_EQ_INT(api_req_policy_put(B("[]"), "pr", &p, err, sizeof(err)),
	    CAP_ERR_INVALID, "array body refused");
	TH_EQ_INT(api_req_policy_put(NULL, 0, "pr", &p, err, sizeof(err)),
	    CAP_ERR_INVALID, "empty policy body refused");
	TH_EQ_INT(api_req_policy_put(B("{\"rules\":[[[[[[[[[[[[[[[[[[[[[[[["
	    "[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"),
	    "pr", &p, err, sizeof(err)), CAP_ERR_INVALID,
	    "deep nesting refused");
	n = POLICY_DOC_MAX + 16;
	if ((big = malloc(n)) != NULL) {
		memset(big, ' ', n);
		big[0] = '{';
		big[n - 1] = '}';
		TH_EQ_INT(api_req_policy_put((const uint8_t *)big, n, "pr", &p,
		    err, sizeof(err)), CAP_ERR_TOO_LARGE,
		    "policy over the size limit refused");
		free(big);
	}
	th_check(p == NULL, "failed policy parse leaves nothing", "got %p",
	    (void *)p);
}

static void
test_token_body(void)
{
	struct api_token_req tr;
	const char *why = NULL;

	TH_EQ_INT(api_req_token_create(B("{\"identity\":\"svc-a\","
	    "\"policies\":[\"payments-read\",\"x\"],\"ttl\":\"1h\","
	    "\"uses\":3}"), &tr, &why), 0, "token body parses");
	th_check(strcmp(tr.identity, "svc-a") == 0 && tr.npolicies == 2 &&
	    strcmp(tr.policies[0], "payments-read") == 0 &&
	    strcmp(tr.policies[1], "x") == 0 && tr.ttl == 3600 &&
	    tr.uses == 3, "token body fields", "got %s %zu %llu %u",
	    tr.identity, tr.npolicies, (unsigned long long)tr.ttl, tr.uses);
	TH_EQ_INT(api_req_token_create(B("{\"identity\":\"svc-a\","
	    "\"policies\":[]}"), &tr, &why), 0, "token defaults");
	th_check(tr.ttl == 24 * 3600 && tr.uses == 0 && tr.npolicies == 0,
	    "token defaults are 24h and unlimited uses", "got %llu %u",
	    (unsigned long long)tr.ttl, tr.uses);
	TH_EQ_INT(api_req_token_create(B("{\"identity\":\"a\",\"policies\":[],"
	    "\"uses\":4294967295}"), &tr, &why), 0, "uses at its maximum");
	TH_EQ_INT(api_req_token_create(B("{\"identity\":\"a\",\"policies\":[],"
	    "\"uses\":4294967296}"), &tr, &why), CAP_ERR_INVALID,
	    "uses over 32 bits refused");
	TH_EQ_INT(api_req_token_create(B("{\"identity\":\"a\",\"policies\":[],"
	    "\"uses\":-1}"), &tr, &why), CAP_ERR_INVALID,
	    "negative uses refused");
	TH_EQ_INT(api_req_token_create(B("{\"identity\":\"a\",\"policies\":[],"
	    "\"uses\":\"1\"}"), &tr, &why), CAP_ERR_INVALID,
	    "uses as a string refused");
	TH_EQ_INT(api_req_token_create(B("{\"identity\":\"a\",\"policies\":[],"
	    "\"ttl\":\"0s\"}"), &tr, &why), CAP_ERR_INVALID,
	    "zero ttl refused");
	TH_EQ_INT(api_req_token_create(B("{\"identity\":\"a\",\"policies\":[],"
	    "\"ttl\":\"soon\"}"), &tr, &why), CAP_ERR_INVALID,
	    "bad ttl refused");
	TH_EQ_INT(api_req_token_create(B("{\"identity\":\"a\",\"policies\":[],"
	    "\"ttl\":60}"), &tr, &why), CAP_ERR_INVALID,
	    "numeric ttl refused");
	TH_EQ_INT(api_req_token_create(B("{\"identity\":\"\",\"policies\":[]}"),
	    &tr, &why), CAP_ERR_INVALID, "empty identity refused");
	TH_EQ_INT(api_req_token_create(B("{\"identity\":\"a\\nb\","
	    "\"policies\":[]}"), &tr, &why), CAP_ERR_INVALID,
	    "control character in identity refused");
	TH_EQ_INT(api_req_token_create(B("{\"identity\":\"a\\u0000b\","
	    "\"policies\":[]}"), &tr, &why), CAP_ERR_INVALID,
	    "NUL in identity refused");
	TH_EQ_INT(api_req_token_create(B("{\"policies\":[]}"), &tr, &why),
	    CAP_ERR_INVALID, "missing identity refused");
	TH_EQ_INT(api_req_token_create(B("{\"identity\":\"a\"}"), &tr, &why),
	    CAP_ERR_INVALID, "missing policies refused");
	TH_EQ_INT(api_req_token_create(B("{\"identity\":\"a\","
	    "\"policies\":[\"x\",\"x\"]}"), &tr, &why), CAP_ERR_INVALID,
	    "duplicate policy refused");
	TH_EQ_INT(api_req_token_create(B("{\"identity\":\"a\","
	    "\"policies\":[\"../x\"]}"), &tr, &why), CAP_ERR_INVALID,
	    "invalid policy name refused");
	TH_EQ_INT(api_req_token_create(B("{\"identity\":\"a\","
	    "\"policies\":[],\"admin\":true}"), &tr, &why), CAP_ERR_INVALID,
	    "unknown field refused");
	th_check(why != NULL && tr.identity[0] == '\0',
	    "a refusal says why and leaves nothing", "why %s",
	    why != NULL ? why : "unset");
}

int
main(void)
{
	api_json_alloc_init();
	test_routes();
	test_decode();
	test_query();
	test_mapping();
	test_bodies();
	test_auth_routes();
	test_policy_body();
	test_token_body();
	return th_done();
}
