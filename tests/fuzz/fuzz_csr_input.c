/*
 * fuzz_csr_input.c - libFuzzer target for the CSR subject and SAN
 * parsers.  The input is split at its first NUL: the part before is a
 * subject, the rest is a list of SANs separated by newlines.  Whatever
 * parses must encode to DER.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/csr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX	8192

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *sans[CSR_SANS_MAX + 2];
	char *buf, *p, *nl;
	X509_NAME *nm = NULL;
	GENERAL_NAMES *g = NULL;
	unsigned char *der = NULL;
	size_t n = 0, slen;

	if (size > FUZZ_MAX || (buf = malloc(size + 2)) == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	buf[size + 1] = '\0';
	if (csr_subject_parse(buf, &nm) == 0) {
		if (i2d_X509_NAME(nm, &der) < 0)
			abort();
		OPENSSL_free(der);
		der = NULL;
		X509_NAME_free(nm);
	}
	slen = strlen(buf);
	p = slen < size ? buf + slen + 1 : buf + size + 1;
	while (*p != '\0' && n < CSR_SANS_MAX + 1) {
		sans[n++] = p;
		if ((nl = strchr(p, '\n')) == NULL)
			break;
		*nl = '\0';
		p = nl + 1;
	}
	if (csr_sans_parse(sans, n, &g) == 0) {
		if ((size_t)sk_GENERAL_NAME_num(g) != n ||
		    i2d_GENERAL_NAMES(g, &der) < 0)
			abort();
		OPENSSL_free(der);
		GENERAL_NAMES_free(g);
	}
	free(buf);
	return 0;
}
