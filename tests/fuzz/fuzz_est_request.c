/*
 * fuzz_est_request.c - libFuzzer target for what an EST client sends: the
 * base64 PKCS#10 body and the HTTP Basic Authorization value.  Every input
 * is refused or decoded into a request that parses; nothing leaks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "nfv/est_srv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char ref[CMF_INITCRED_REF_LEN + 1], sec[EST_SECRET_MAX + 1], *hdr;
	const unsigned char *p;
	uint8_t *der = NULL;
	size_t len = 0, sl = 0;
	X509_REQ *req;

	if (est_csr_decode(data, size, &der, &len) == 0) {
		p = der;
		if ((req = d2i_X509_REQ(NULL, &p, (long)len)) == NULL)
			abort();
		X509_REQ_free(req);
		free(der);
	} else if (der != NULL)
		abort();
	if ((hdr = malloc(size + 1)) == NULL)
		return 0;
	memcpy(hdr, data, size);
	hdr[size] = '\0';
	if (est_basic_parse(hdr, ref, sec, &sl) == 0) {
		if (!est_ref_valid(ref, strlen(ref)) || sl == 0 ||
		    sl > EST_SECRET_MAX || strlen(sec) != sl)
			abort();
	} else if (ref[0] != '\0' || sec[0] != '\0')
		abort();
	free(hdr);
	return 0;
}
