/*
 * hsm_oaep.h - RSA-OAEP decryption with a user key held in the token.
 */
#ifndef CAP_HSM_OAEP_H
#define CAP_HSM_OAEP_H

#include <stddef.h>
#include <stdint.h>

#include "hsm/hsm.h"

#define HSM_OAEP_CT_MAX		512	/* RSA-4096 ciphertext */

/*
 * hsm_rsa_oaep_decrypt decrypts ct (RSA-OAEP with SHA-1 and MGF1-SHA1, no
 * label: what SoftHSM 2.6 offers) with the RSA private key priv.  pt has
 * room for *ptlen bytes (at least ctlen) and *ptlen is set to the
 * plaintext length; the caller wipes pt.  CAP_ERR_CRYPTO when the
 * ciphertext does not decrypt, CAP_ERR_INVALID for sizes out of range,
 * CAP_ERR_UNSUPPORTED when the token has no RSA-OAEP.
 */
int hsm_rsa_oaep_decrypt(hsm *h, hsm_obj priv, const uint8_t *ct,
    size_t ctlen, uint8_t *pt, size_t *ptlen)
    __attribute__((warn_unused_result));

#endif
