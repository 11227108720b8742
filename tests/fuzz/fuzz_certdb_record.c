/*
 * fuzz_certdb_record.c - libFuzzer target for the certificate inventory
 * record codec: every input is either refused, leaving nothing allocated,
 * or accepted as a record that re-encodes to exactly the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/certdb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct certdb_cert c;
	uint8_t *enc = NULL;
	size_t len = 0;

	if (certdb_record_decode(data, size, &c) != 0) {
		if (c.der != NULL || c.nchain != 0 || c.pending.csr != NULL)
			abort();
		return 0;
	}
	if (!certdb_id_valid(c.id) || certdb_status_name(c.status) == NULL)
		abort();
	if (certdb_record_encode(&c, &enc, &len) != 0)
		abort();
	if (len != size || memcmp(enc, data, size) != 0)
		abort();
	free(enc);
	certdb_cert_clear(&c);
	return 0;
}
