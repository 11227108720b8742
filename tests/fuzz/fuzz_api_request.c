/*
 * fuzz_api_request.c - libFuzzer target over the REST API's request
 * parsing: JSON bodies (domain create, secret put, destroy), the path
 * router and the query parser.
 *
 * The first byte picks the parser; the rest is its input.  For the router
 * the input is split at the first '?' into path and query, as the server
 * does.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/request.h"
#include "api/router.h"
#include "common/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_route(const uint8_t *data, size_t size)
{
	struct api_match m;
	struct api_query q;
	char *s, *qmark;
	unsigned method;
	uint32_t v;

	if (size < 1 || size > 4 * API_PATH_MAX)
		return;
	method = 1U << (data[0] % 9);
	if ((s = malloc(size)) == NULL)
		return;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	if ((qmark = strchr(s, '?')) != NULL)
		*qmark++ = '\0';
	(void)api_route_match(api_routes, method, s, &m);
	if (api_query_parse(qmark, &q) == 0) {
		(void)api_query_get(&q, "force");
		if (api_query_get(&q, "version") != NULL)
			(void)api_parse_u32(api_query_get(&q, "version"), 1, &v);
	}
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_put_req pr;
	char name[CAP_NAME_MAX + 1];
	const char *why = NULL;
	uint32_t *versions = NULL;
	size_t n = 0;

	api_json_alloc_init();
	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 0:
		(void)api_req_domain_create(data + 1, size - 1, name, &why);
		break;
	case 1:
		if (api_req_secret_put(data + 1, size - 1, &pr, &why) == 0 &&
		    (pr.data == NULL || strlen(pr.data) != pr.len))
			abort();
		api_put_req_clear(&pr);
		break;
	case 2:
		if (api_req_destroy(data + 1, size - 1, &versions, &n,
		    &why) == 0 && n > API_DESTROY_MAX)
			abort();
		free(versions);
		break;
	default:
		fuzz_route(data + 1, size - 1);
		break;
	}
	return 0;
}
