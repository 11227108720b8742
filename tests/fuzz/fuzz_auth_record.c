/*
 * fuzz_auth_record.c - libFuzzer target for the stored token and reference
 * record codecs.
 *
 * Every input goes to both decoders.  Each must either reject it, leaving
 * nothing allocated, or accept a record that re-encodes to exactly the
 * input and decodes again to the same record: one record, one encoding.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "store/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
same_token(const struct store_token *a, const struct store_token *b)
{
	size_t i;

	if (strcmp(a->accessor, b->accessor) != 0 ||
	    strcmp(a->identity, b->identity) != 0 ||
	    a->npolicies != b->npolicies || a->created != b->created ||
	    a->expires != b->expires || a->uses_left != b->uses_left ||
	    a->flags != b->flags)
		return 0;
	for (i = 0; i < a->npolicies; i++)
		if (strcmp(a->policies[i], b->policies[i]) != 0)
			return 0;
	return 1;
}

static void
check_token(const uint8_t *data, size_t size)
{
	struct store_token a, b;
	uint8_t *enc = NULL;
	size_t len = 0, i;

	if (store_record_decode_token(data, size, &a) != 0) {
		if (a.policies != NULL || a.npolicies != 0)
			abort();	/* a failed decode must leave nothing */
		return;
	}
	if (!store_accessor_valid(a.accessor) || a.identity[0] == '\0' ||
	    a.npolicies > STORE_TOKEN_POLICIES_MAX ||
	    (a.flags & ~(uint32_t)STORE_TOKEN_REVOKED) != 0)
		abort();
	for (i = 0; i < a.npolicies; i++)
		if (!cap_name_valid(a.policies[i]))
			abort();
	if (store_record_encode_token(&a, &enc, &len) != 0)
		abort();
	if (len != size || memcmp(enc, data, size) != 0)
		abort();
	if (store_record_decode_token(enc, len, &b) != 0)
		abort();
	if (!same_token(&a, &b))
		abort();
	store_token_free_fields(&a);
	store_token_free_fields(&b);
	free(enc);
}

static void
check_ref(const uint8_t *data, size_t size)
{
	struct store_ref a, b;
	uint8_t *enc = NULL;
	size_t len = 0;

	if (store_record_decode_ref(data, size, &a) != 0)
		return;
	if (!cap_name_valid(a.domain) || !cap_name_valid(a.name) ||
	    a.version == 0 || a.uses_left == 0)
		abort();
	if (store_record_encode_ref(&a, &enc, &len) != 0)
		abort();
	if (len != size || memcmp(enc, data, size) != 0)
		abort();
	if (store_record_decode_ref(enc, len, &b) != 0)
		abort();
	if (strcmp(a.domain, b.domain) != 0 || strcmp(a.name, b.name) != 0 ||
	    a.version != b.version || a.created != b.created ||
	    a.expires != b.expires || a.uses_left != b.uses_left)
		abort();
	free(enc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_token(data, size);
	check_ref(data, size);
	return 0;
}
