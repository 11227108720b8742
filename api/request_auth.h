/*
 * request_auth.h - validating the bodies of the access-control calls:
 * PUT /v1/policies/{p} and POST /v1/auth/tokens.
 *
 * Pure functions over the body bytes, driven by the fuzz target
 * tests/fuzz/fuzz_api_auth.c.  `why`, when set, is a constant message
 * safe to send to the client.
 */
#ifndef CAP_API_REQUEST_AUTH_H
#define CAP_API_REQUEST_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "api/policy.h"
#include "common/util.h"
#include "store/auth.h"

#define API_TOKEN_TTL_DEFAULT	(24 * 3600)	/* seconds, when "ttl" is absent */

/*
 * api_req_policy_put parses a policy document for policy `name` (a
 * validated name): policy.h's shape, an optional "name" equal to `name`,
 * at most POLICY_DOC_MAX bytes.  On failure returns CAP_ERR_INVALID or
 * CAP_ERR_TOO_LARGE with a client-safe message in err (which names only
 * fields and indices, never values).  *out is the parsed policy on success.
 */
int api_req_policy_put(const uint8_t *buf, size_t len, const char *name,
    policy **out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* POST /v1/auth/tokens: {"identity","policies":[..],"ttl":"24h","uses":0} */
struct api_token_req {
	char		identity[STORE_IDENTITY_MAX + 1];
	char		policies[STORE_TOKEN_POLICIES_MAX][CAP_NAME_MAX + 1];
	size_t		npolicies;
	uint64_t	ttl;		/* seconds, >= 1 */
	uint32_t	uses;		/* 0 = unlimited */
};

/*
 * api_req_token_create checks the body: "identity" a string of
 * 1..STORE_IDENTITY_MAX bytes without control characters; "policies" an
 * array of at most STORE_TOKEN_POLICIES_MAX distinct policy names
 * (required, may be empty); "ttl" a duration string, 1s to 100 years
 * (default 24h); "uses" an integer 0..4294967295 (default 0, unlimited).
 * Unknown fields are refused.  CAP_ERR_INVALID with why set.
 */
int api_req_token_create(const uint8_t *buf, size_t len,
    struct api_token_req *tr, const char **why)
    __attribute__((warn_unused_result));

#endif
