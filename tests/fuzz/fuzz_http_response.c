/*
 * fuzz_http_response.c - libFuzzer target for the capstone CLI's HTTP
 * response parser (framing, chunked decoding, header limits).
 *
 * The input is fed as the bytes received so far, both before and at EOF,
 * and also split at a point taken from its first byte, so that the
 * "need more" paths see arbitrary prefixes.  A complete parse must yield a
 * body within the limit and a NUL after it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tools/capstone/http_parse.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const uint8_t *buf, size_t len, int eof, size_t max)
{
	struct http_response *r = NULL;
	int ret;

	ret = http_response_parse(buf, len, eof, max, &r);
	if (ret == 0) {
		if (r == NULL || r->body == NULL || r->body_len > max ||
		    r->body[r->body_len] != '\0' || r->status < 200 ||
		    r->status > 599)
			abort();
		(void)http_response_header(r, "Content-Type");
		(void)http_response_header(r, "Retry-After");
	} else if (r != NULL)
		abort();
	else if (eof && ret == HTTP_PARSE_MORE)
		abort();	/* at EOF the answer is final */
	http_response_free(r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t max = 4096, cut;

	check(data, size, 0, max);
	check(data, size, 1, max);
	check(data, size, 1, HTTP_MAX_RESPONSE);
	if (size > 1) {
		cut = data[0] % size;
		check(data, cut, 0, max);
		check(data, cut, 1, 64);
	}
	return 0;
}
