/*
 * hsm_oaep.c - RSA-OAEP decryption with a user's key pair.
 *
 * The plaintext is first written into a locked buffer of the full
 * modulus size, because C_Decrypt may need that much room before it
 * knows the real length, and only then copied to the caller.
 */
#include <string.h>

#include <sodium.h>

#include "common/err.h"
#include "common/log.h"
#include "hsm/hsm_int.h"
#include "hsm/hsm_oaep.h"

int
hsm_rsa_oaep_decrypt(hsm *h, hsm_obj priv, const uint8_t *ct, size_t ctlen,
    uint8_t *pt, size_t *ptlen)
{
	CK_RSA_PKCS_OAEP_PARAMS oaep = {
		CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, NULL, 0
	};
	CK_MECHANISM mech = { CKM_RSA_PKCS_OAEP, &oaep, sizeof(oaep) };
	CK_SESSION_HANDLE s;
	CK_ULONG outlen = HSM_OAEP_CT_MAX;
	uint8_t *buf = NULL;
	CK_RV rv;
	int r;

	if (h == NULL || priv == 0 || ct == NULL || pt == NULL ||
	    ptlen == NULL || ctlen == 0 || ctlen > HSM_OAEP_CT_MAX)
		return CAP_ERR_INVALID;
	if (!h->caps.rsa_oaep)
		return CAP_ERR_UNSUPPORTED;
	if ((buf = sodium_malloc(HSM_OAEP_CT_MAX)) == NULL)
		return CAP_ERR_NOMEM;
	if ((r = hsm_sess_get(h, &s)) != 0)
		goto out;
	if ((rv = h->fl->C_DecryptInit(s, &mech, priv)) != CKR_OK)
		r = hsm_ckr_err("C_DecryptInit(OAEP)", rv);
	else if ((rv = h->fl->C_Decrypt(s, (CK_BYTE_PTR)ct, (CK_ULONG)ctlen,
	    buf, &outlen)) != CKR_OK) {
		/* A bad ciphertext is the caller's, not the token's fault. */
		if (rv == CKR_ENCRYPTED_DATA_INVALID ||
		    rv == CKR_ENCRYPTED_DATA_LEN_RANGE ||
		    rv == CKR_FUNCTION_FAILED)
			r = CAP_ERR_CRYPTO;
		else
			r = hsm_ckr_err("C_Decrypt(OAEP)", rv);
	} else if (outlen > *ptlen)
		r = CAP_ERR_INVALID;
	else {
		memcpy(pt, buf, outlen);
		*ptlen = outlen;
		r = 0;
	}
	hsm_sess_done(h, s, rv);
 out:
	sodium_memzero(buf, HSM_OAEP_CT_MAX);
	sodium_free(buf);
	return r;
}
