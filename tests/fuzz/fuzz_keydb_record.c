/*
 * fuzz_keydb_record.c - libFuzzer target for the key inventory record
 * codec: every input is rejected, or decodes to a record that re-encodes
 * to exactly the input: one record, one encoding.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/keydb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store_key a, b;
	uint8_t *enc = NULL;
	size_t len = 0;

	if (store_record_decode_key(data, size, &a) != 0)
		return 0;
	if (store_record_encode_key(&a, &enc, &len) != 0)
		abort();
	if (len != size || memcmp(enc, data, size) != 0)
		abort();
	if (store_record_decode_key(enc, len, &b) != 0 ||
	    memcmp(&a, &b, sizeof(a)) != 0)
		abort();
	free(enc);
	return 0;
}
