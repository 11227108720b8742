/*
 * fuzz_cmp_request.c - libFuzzer target for the CMP server's request
 * outline (cmp_req_peek), the CertTemplate public key reader and, for
 * inputs OpenSSL parses as a PKIMessage, the CRMF to PKCS#10 conversion.
 * No CMF is involved: the server's own parsing is what is exercised.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/cmp.h>
#include <openssl/crmf.h>
#include <openssl/evp.h>

#include "nfv/cmp_srv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cmp_peek pk;
	EVP_PKEY *pub = NULL;
	OSSL_CRMF_MSG *crm;
	const unsigned char *p = data;
	uint8_t *der = NULL;
	size_t len = 0;

	if (cmp_req_peek(data, size, &pk) == 0) {
		if (pk.tidlen > CMP_TID_MAX ||
		    strlen(pk.ref) > CMF_INITCRED_REF_LEN ||
		    (pk.cert != NULL && (pk.cert < data ||
		    pk.cert + pk.certlen > data + size)))
			abort();
	}
	if (cmp_tmpl_pubkey(data, size, &pub) == 0 && pub == NULL)
		abort();
	EVP_PKEY_free(pub);
	if ((crm = d2i_OSSL_CRMF_MSG(NULL, &p, (long)size)) != NULL) {
		if (cmp_crm_to_csr(crm, &der, &len) == 0 && der == NULL)
			abort();
		free(der);
		OSSL_CRMF_MSG_free(crm);
	}
	return 0;
}
