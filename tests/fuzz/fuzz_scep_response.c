/*
 * fuzz_scep_response.c - libFuzzer target for the SCEP CertRep parser:
 * arbitrary bytes as a pkiMessage, checked against a fixed CA
 * certificate, transaction id and nonce.  Nothing may be accepted as
 * SUCCESS without an envelope, and the reason is always a C string.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int scep_certrep_parse(const uint8_t *der, size_t len,
    STACK_OF(X509) *ca_certs, const char *tid, const uint8_t nonce[16],
    int *status, char *reason, size_t reasonlen, uint8_t **env,
    size_t *envlen);

static STACK_OF(X509) *cas;

static void
setup(void)
{
	static const unsigned char seed[32] = { 1 };
	EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL,
	    seed, sizeof(seed));
	X509 *x = X509_new();

	X509_set_version(x, 2);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
	    MBSTRING_ASC, (const unsigned char *)"fuzz-ca", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, pk);
	X509_sign(x, pk, NULL);
	EVP_PKEY_free(pk);
	cas = sk_X509_new_null();
	sk_X509_push(cas, x);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t nonce[16] = { 0 };
	char reason[256];
	uint8_t *env = NULL;
	size_t envlen = 0;
	int status;

	if (cas == NULL)
		setup();
	if (scep_certrep_parse(data, size, cas, "FUZZ", nonce, &status,
	    reason, sizeof(reason), &env, &envlen) == 0 && status == 0 &&
	    (env == NULL || envlen == 0))
		abort();
	if (memchr(reason, '\0', sizeof(reason)) == NULL)
		abort();
	free(env);
	return 0;
}
