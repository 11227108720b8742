/*
 * fuzz_pkg_zip.c - libFuzzer target for the zip layout check and the
 * opening of a package zip held in memory (the daemon's path): every
 * input is refused or opened; a refusal by the layout check is also a
 * refusal to open, and a refusal always names its reason.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "crypto/pkg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char reason[256];
	pkg_src *s = NULL;
	size_t i;
	int r, ro;

	reason[0] = '\0';
	r = pkg_zip_layout_check(data, size, reason, sizeof(reason));
	if (r != 0 && r != CAP_ERR_INVALID && r != CAP_ERR_NOMEM)
		abort();
	if (r == CAP_ERR_INVALID && reason[0] == '\0')
		abort();
	if (size == 0)
		return 0;
	ro = pkg_src_open_mem(data, size, &s, NULL, 0);
	if (ro == 0) {
		if (r != 0)
			abort();
		for (i = 0; i < pkg_src_count(s); i++)
			if (pkg_src_name(s, i) == NULL)
				abort();
	} else if (s != NULL)
		abort();
	pkg_src_free(s);
	return 0;
}
