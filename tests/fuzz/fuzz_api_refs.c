/*
 * fuzz_api_refs.c - libFuzzer target over the bodies of the reference
 * calls: create ({"ttl","uses","version"}), redeem ({"ref"}) and generate
 * ({"length","charset","field","ttl","uses"}).
 *
 * The first byte picks the parser; the rest is the body.  Whatever a
 * parser accepts must lie inside the documented limits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "api/request.h"
#include "api/request_refs.h"
#include "common/util.h"
#include "crypto/token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_ref_req rr;
	struct api_gen_req gr;
	char ref[API_REF_PRESENTED_SIZE];
	const char *why = NULL;
	uint8_t *body;

	api_json_alloc_init();
	if (size < 1 || size > 64 * 1024)
		return 0;
	/* A copy of exactly the body, so reads past it are caught. */
	if ((body = malloc(size - 1 > 0 ? size - 1 : 1)) == NULL)
		return 0;
	memcpy(body, data + 1, size - 1);
	switch (data[0] % 3) {
	case 0:
		if (api_req_ref_create(body, size - 1, &rr, &why) == 0 &&
		    (rr.ttl < 1 || rr.ttl > API_REF_TTL_MAX || rr.uses < 1 ||
		    rr.uses > API_REF_USES_MAX))
			abort();
		break;
	case 1:
		if (api_req_ref_redeem(body, size - 1, ref, &why) == 0) {
			if (ref[0] == '\0' ||
			    strlen(ref) > TOKEN_PRESENTED_MAX)
				abort();
			(void)token_format_valid(ref, REF_PREFIX);
		}
		sodium_memzero(ref, sizeof(ref));
		break;
	default:
		if (api_req_generate(body, size - 1, &gr, &why) == 0 &&
		    (gr.length < 1 || gr.length > GEN_SECRET_MAX ||
		    !gen_charset_valid(gr.charset) ||
		    !cap_name_valid(gr.field) || gr.ref.ttl < 1 ||
		    gr.ref.ttl > API_REF_TTL_MAX || gr.ref.uses < 1 ||
		    gr.ref.uses > API_REF_USES_MAX || gr.ref.version != 0))
			abort();
		break;
	}
	free(body);
	return 0;
}
