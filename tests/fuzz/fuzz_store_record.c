/*
 * fuzz_store_record.c - libFuzzer target for the stored secret record codec.
 *
 * Any input must either be rejected or decode to a record that re-encodes
 * to exactly the input bytes and decodes again to the same record: the
 * format is strict, so one record has one encoding.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
same(const struct store_secret *a, const struct store_secret *b)
{
	return a->meta.version == b->meta.version &&
	    a->meta.created == b->meta.created &&
	    a->meta.key_version == b->meta.key_version &&
	    a->meta.flags == b->meta.flags &&
	    memcmp(a->nonce, b->nonce, STORE_NONCE_LEN) == 0 &&
	    a->ctlen == b->ctlen && (a->ct == NULL) == (b->ct == NULL) &&
	    (a->ctlen == 0 || memcmp(a->ct, b->ct, a->ctlen) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store_secret a, b;
	uint8_t *enc = NULL;
	size_t len = 0;

	if (store_record_decode_secret(data, size, &a) != 0) {
		if (a.ct != NULL)
			abort();	/* a failed decode must leave nothing */
		return 0;
	}
	if (a.ctlen > STORE_CT_MAX || (a.ctlen > 0) != (a.ct != NULL))
		abort();
	if (store_record_encode_secret(&a, &enc, &len) != 0)
		abort();
	if (len != size || memcmp(enc, data, size) != 0)
		abort();
	if (store_record_decode_secret(enc, len, &b) != 0)
		abort();
	if (!same(&a, &b))
		abort();
	free(a.ct);
	free(b.ct);
	free(enc);
	return 0;
}
