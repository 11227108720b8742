/*
 * fuzz_cadb_record.c - libFuzzer target for the CA connector, local CA
 * state and issued-certificate record codecs.
 *
 * Every input goes to the three decoders.  Each must reject it, leaving
 * nothing allocated, or accept a record that re-encodes to exactly the
 * input: one record, one encoding.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/cadb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
same_bytes(const uint8_t *enc, size_t len, const uint8_t *data, size_t size)
{
	if (len != size || memcmp(enc, data, size) != 0)
		abort();
}

static void
check_conn(const uint8_t *data, size_t size)
{
	struct cadb_conn c;
	uint8_t *enc = NULL;
	size_t len = 0;

	if (cadb_record_decode_conn(data, size, &c) != 0) {
		if (c.settings != NULL || c.limits != NULL)
			abort();
		return;
	}
	memcpy(c.name, "x", 2);
	if (cadb_record_encode_conn(&c, &enc, &len) != 0)
		abort();
	same_bytes(enc, len, data, size);
	free(enc);
	cadb_conn_clear(&c);
}

static void
check_local(const uint8_t *data, size_t size)
{
	struct cadb_local l;
	uint8_t *enc = NULL;
	size_t len = 0;

	if (cadb_record_decode_local(data, size, &l) != 0) {
		if (l.cert != NULL)
			abort();
		return;
	}
	if (cadb_record_encode_local(&l, &enc, &len) != 0)
		abort();
	same_bytes(enc, len, data, size);
	free(enc);
	free(l.cert);
}

static void
check_issued(const uint8_t *data, size_t size)
{
	struct cadb_issued rec;
	uint8_t *enc = NULL;
	size_t len = 0;

	if (cadb_record_decode_issued(data, size, &rec) != 0)
		return;
	if (cadb_record_encode_issued(&rec, &enc, &len) != 0)
		abort();
	same_bytes(enc, len, data, size);
	free(enc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_conn(data, size);
	check_local(data, size);
	check_issued(data, size);
	return 0;
}
