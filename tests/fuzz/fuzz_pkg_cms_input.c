/*
 * fuzz_pkg_cms_input.c - libFuzzer target for what /v1/packages/decrypt
 * and `capstone pkg decrypt` read from a client: a CMS message as PEM or
 * DER (pkg_cms_read), and the same bytes taken as base64 DER the way the
 * API decodes its "cms" field.  Whatever parses must encode again, and
 * its recipients and signers must be walkable.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <sodium.h>

#include "crypto/pkg_cms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX	(256 * 1024)

static void
walk(CMS_ContentInfo *cms)
{
	STACK_OF(CMS_RecipientInfo) *ris;
	STACK_OF(CMS_SignerInfo) *sis;
	unsigned char *der = NULL;
	int i;

	if (i2d_CMS_ContentInfo(cms, &der) < 0)
		ERR_clear_error();
	OPENSSL_free(der);
	if ((ris = CMS_get0_RecipientInfos(cms)) != NULL)
		for (i = 0; i < sk_CMS_RecipientInfo_num(ris); i++)
			(void)CMS_RecipientInfo_type(
			    sk_CMS_RecipientInfo_value(ris, i));
	if ((sis = CMS_get0_SignerInfos(cms)) != NULL)
		for (i = 0; i < sk_CMS_SignerInfo_num(sis); i++)
			(void)CMS_signed_get_attr_count(
			    sk_CMS_SignerInfo_value(sis, i));
	(void)CMS_is_detached(cms);
	ERR_clear_error();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	CMS_ContentInfo *cms = NULL;
	uint8_t *bin;
	size_t binlen = 0;

	if (size > FUZZ_MAX)
		return 0;
	if (pkg_cms_read(data, size, &cms) == 0) {
		walk(cms);
		CMS_ContentInfo_free(cms);
		cms = NULL;
	}
	if ((bin = malloc(size / 4 * 3 + 3)) == NULL)
		return 0;
	if (sodium_base642bin(bin, size / 4 * 3 + 3, (const char *)data, size,
	    " \r\n", &binlen, NULL, sodium_base64_VARIANT_ORIGINAL) == 0 &&
	    pkg_cms_read(bin, binlen, &cms) == 0) {
		walk(cms);
		CMS_ContentInfo_free(cms);
	}
	free(bin);
	return 0;
}
