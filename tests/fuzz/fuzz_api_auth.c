/*
 * fuzz_api_auth.c - libFuzzer target over the bodies of the access-control
 * calls: PUT /v1/policies/{p} and POST /v1/auth/tokens.
 *
 * The first byte picks the parser; the rest is the body.  A policy that
 * parses is serialised and must parse back to the same document.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/policy.h"
#include "api/request.h"
#include "api/request_auth.h"
#include "common/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_policy_body(const uint8_t *buf, size_t len)
{
	policy *p = NULL, *q = NULL;
	char err[160], *doc = NULL, *doc2 = NULL;

	if (api_req_policy_put(buf, len, "fuzz", &p, err, sizeof(err)) != 0) {
		if (p != NULL || memchr(err, '\0', sizeof(err)) == NULL)
			abort();
		return;
	}
	if ((doc = policy_to_json(p)) == NULL)
		goto out;
	if (api_req_policy_put((const uint8_t *)doc, strlen(doc), "fuzz", &q,
	    err, sizeof(err)) != 0)
		abort();	/* what we serialise must parse back */
	if ((doc2 = policy_to_json(q)) == NULL)
		goto out;
	if (strcmp(doc, doc2) != 0)
		abort();
	(void)policy_grants(p, CAPB_READ, "payments");
 out:
	free(doc);
	free(doc2);
	policy_free(p);
	policy_free(q);
}

static void
fuzz_token_body(const uint8_t *buf, size_t len)
{
	struct api_token_req tr;
	const char *why = NULL;
	size_t i;

	if (api_req_token_create(buf, len, &tr, &why) != 0) {
		if (why == NULL || tr.identity[0] != '\0' || tr.npolicies != 0)
			abort();
		return;
	}
	if (tr.identity[0] == '\0' || tr.ttl == 0 ||
	    tr.npolicies > STORE_TOKEN_POLICIES_MAX)
		abort();
	for (i = 0; i < tr.npolicies; i++)
		if (!cap_name_valid(tr.policies[i]))
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	api_json_alloc_init();
	if (size < 1)
		return 0;
	if (data[0] % 2 == 0)
		fuzz_policy_body(data + 1, size - 1);
	else
		fuzz_token_body(data + 1, size - 1);
	return 0;
}
