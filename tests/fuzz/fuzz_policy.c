/*
 * fuzz_policy.c - libFuzzer target for the policy document parser and the
 * audit log verifier (both read operator- or attacker-supplied text).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/audit.h"
#include "api/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256], why[256], *json;
	uint64_t count, bad;
	policy *p = NULL, *q = NULL;
	FILE *f;
	const char *ids[] = { "CN=svc-a", "" };

	if (policy_parse("fuzz", (const char *)data, size, &p, err,
	    sizeof(err)) == 0) {
		(void)policy_binds(p, ids, 2);
		(void)policy_grants(p, CAPB_READ, "payments");
		(void)policy_grants(p, CAPB_ADMIN, "");
		/* What parses must serialise and parse back. */
		if ((json = policy_to_json(p)) == NULL ||
		    policy_parse("fuzz", json, strlen(json), &q, err,
		    sizeof(err)) != 0)
			abort();
		free(json);
		policy_free(q);
		policy_free(p);
	}
	if (size > 0 && (f = fmemopen((void *)(uintptr_t)data, size, "r")) != NULL) {
		(void)audit_verify(f, &count, &bad, why, sizeof(why));
		fclose(f);
	}
	return 0;
}
