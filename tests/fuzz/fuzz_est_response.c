/*
 * fuzz_est_response.c - libFuzzer target for what an EST server sends
 * back: the HTTP response parser, then the certs-only PKCS#7 decoder (base64
 * or DER) and the status classification.  An accepted answer must hold
 * between 1 and 64 certificates; a pending one a retry time.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "ca/ca.h"
#include "ca/http_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int est_certs_response(const struct http_response *r, STACK_OF(X509) **out);
int est_classify(const struct http_response *r, struct ca_result *res);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_response *r = NULL;
	STACK_OF(X509) *certs = NULL;
	struct ca_result res;

	if (http_response_parse(data, size, 64 * 1024, &r) != 0)
		return 0;
	if (r->body == NULL || r->body_len > 64 * 1024 ||
	    r->body[r->body_len] != '\0')
		abort();
	if (r->status == 200) {
		if (est_certs_response(r, &certs) == 0 &&
		    (sk_X509_num(certs) < 1 || sk_X509_num(certs) > 64))
			abort();
		sk_X509_pop_free(certs, X509_free);
	} else {
		memset(&res, 0, sizeof(res));
		if (est_classify(r, &res) == 0 && (res.status != CA_PENDING ||
		    res.retry_after == 0))
			abort();
		if (memchr(res.reason, '\0', sizeof(res.reason)) == NULL)
			abort();
	}
	http_response_free(r);
	return 0;
}
