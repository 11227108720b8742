/*
 * fuzz_pkg_manifest.c - libFuzzer target for the VNF package manifest and
 * TOSCA.meta parsers: every input is refused or parsed into a manifest
 * whose own serialisation parses back to the same text, and the signed
 * part never extends past the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/pkg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pkg_tosca_meta tm;
	pkg_manifest *m = NULL, *m2 = NULL;
	char *cms = NULL, *t1 = NULL, *t2 = NULL;
	size_t slen = 0, clen = 0, l1, l2;

	if (pkg_tosca_meta_parse((const char *)data, size, &tm) == 0)
		pkg_tosca_meta_clear(&tm);
	if (pkg_manifest_parse((const char *)data, size, &m, &slen, &cms,
	    &clen, NULL, 0) != 0) {
		if (m != NULL || cms != NULL)
			abort();
		return 0;
	}
	if (slen > size || (cms != NULL && clen == 0))
		abort();
	if (pkg_manifest_text(m, &t1, &l1) != 0)
		abort();
	if (pkg_manifest_parse(t1, l1, &m2, NULL, NULL, NULL, NULL, 0) != 0 ||
	    pkg_manifest_text(m2, &t2, &l2) != 0)
		abort();
	if (l1 != l2 || memcmp(t1, t2, l1) != 0)
		abort();
	free(t1);
	free(t2);
	free(cms);
	pkg_manifest_free(m);
	pkg_manifest_free(m2);
	return 0;
}
