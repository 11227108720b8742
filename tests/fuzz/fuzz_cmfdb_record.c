/*
 * fuzz_cmfdb_record.c - libFuzzer target for the CMF record codecs
 * (entity, initial credential, certificate reference, LCM occurrence,
 * pending request):
 * the first byte picks the decoder; every input is either refused,
 * leaving nothing allocated, or accepted as a record that re-encodes to
 * exactly the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/cmfdb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
same(int r, uint8_t *enc, size_t len, const uint8_t *data, size_t size)
{
	if (r != 0 || len != size || memcmp(enc, data, size) != 0)
		abort();
	free(enc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cmf_entity e;
	struct cmfdb_initcred ic;
	struct cmfdb_certref cr;
	struct cmfdb_lcm l;
	struct cmfdb_pend p;
	uint8_t *enc = NULL;
	size_t len = 0;
	int r;

	if (size < 1)
		return 0;
	switch (data[0] % 5) {
	case 0:
		if (cmfdb_entity_decode(data + 1, size - 1, &e) != 0)
			return 0;
		if (!cmfdb_id_valid(e.id))
			abort();
		r = cmfdb_entity_encode(&e, &enc, &len);
		same(r, enc, len, data + 1, size - 1);
		break;
	case 1:
		if (cmfdb_ic_decode(data + 1, size - 1, &ic) != 0)
			return 0;
		r = cmfdb_ic_encode(&ic, &enc, &len);
		same(r, enc, len, data + 1, size - 1);
		break;
	case 2:
		if (cmfdb_certref_decode(data + 1, size - 1, &cr) == 0 &&
		    !cmfdb_id_valid(cr.entity))
			abort();
		break;
	case 3:
		if (cmfdb_pend_decode(data + 1, size - 1, &p) != 0)
			return 0;
		if (!cmfdb_id_valid(p.entity))
			abort();
		r = cmfdb_pend_encode(&p, &enc, &len);
		same(r, enc, len, data + 1, size - 1);
		break;
	default:
		if (cmfdb_lcm_decode(data + 1, size - 1, &l) != 0) {
			if (l.summary != NULL)
				abort();
			return 0;
		}
		r = cmfdb_lcm_encode(&l, &enc, &len);
		same(r, enc, len, data + 1, size - 1);
		cmfdb_lcm_clear(&l);
		break;
	}
	return 0;
}
