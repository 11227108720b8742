/*
 * hsm_derive.h - private-key primitives below the message level, for CMS:
 * ECDH derivation (key agreement recipients), raw RSA (key transport
 * recipients, the OAEP padding checked in software so that any OAEP hash
 * works while SoftHSM offers OAEP with SHA-1 only) and ECDSA over a digest
 * computed elsewhere (a signature over a SHA-256 digest sent by a client);
 * and RSA-OAEP in the token for the key decryption API.
 *
 * All functions return 0 or a negative CAP_ERR_*; CKR_* codes are logged
 * here.  Secret outputs are the caller's to wipe.
 */
#ifndef CAP_HSM_DERIVE_H
#define CAP_HSM_DERIVE_H

#include <stddef.h>
#include <stdint.h>

#include "hsm/hsm.h"

#define HSM_ECDH_POINT_MAX	133	/* uncompressed P-521 point */
#define HSM_ECDH_SECRET_MAX	66	/* P-521 field */
#define HSM_RSA_RAW_MAX		512	/* RSA-4096 */
#define HSM_OAEP_CT_MAX		512	/* RSA-4096 ciphertext */

/*
 * hsm_ecdh_derive computes the ECDH shared secret (the x coordinate, of
 * seclen bytes: the field size) of the EC private key priv and the peer's
 * uncompressed point, with CKM_ECDH1_DERIVE and no KDF.  The secret
 * passes through a temporary session object destroyed before return.
 * CAP_ERR_INVALID for bad sizes, CAP_ERR_UNSUPPORTED when the key may not
 * derive (CKA_DERIVE false) or the token lacks the mechanism,
 * CAP_ERR_CRYPTO when the token refuses the point.
 */
int hsm_ecdh_derive(hsm *h, hsm_obj priv, const uint8_t *point,
    size_t pointlen, uint8_t *secret, size_t seclen)
    __attribute__((warn_unused_result));

/*
 * hsm_rsa_raw_decrypt applies the RSA private key to ct (CKM_RSA_X_509)
 * and writes exactly modlen bytes, the value left-padded with zeros, to
 * out.  The caller checks the padding.  CAP_ERR_INVALID for sizes out of
 * range, CAP_ERR_CRYPTO when the token refuses the input,
 * CAP_ERR_UNSUPPORTED without CKM_RSA_X_509.
 */
int hsm_rsa_raw_decrypt(hsm *h, hsm_obj priv, const uint8_t *ct,
    size_t ctlen, uint8_t *out, size_t modlen)
    __attribute__((warn_unused_result));

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

/*
 * hsm_ecdsa_sign_digest signs a digest (any length up to 64 bytes) with
 * CKM_ECDSA; type is HSM_KEY_EC_P256 or HSM_KEY_EC_P384.  *sig is the
 * DER ECDSA-Sig-Value, malloc'd.
 */
int hsm_ecdsa_sign_digest(hsm *h, hsm_obj priv, hsm_key_type type,
    const uint8_t *digest, size_t dlen, uint8_t **sig, size_t *siglen)
    __attribute__((warn_unused_result));

/*
 * hsm_ecdsa_raw_to_der turns a token's ECDSA signature r||s (rawlen bytes,
 * two halves of flen) into a DER ECDSA-Sig-Value, malloc'd in *der.
 * CAP_ERR_TOKEN when rawlen is not 2 * flen.
 */
int hsm_ecdsa_raw_to_der(const uint8_t *raw, size_t rawlen, size_t flen,
    uint8_t **der, size_t *derlen)
    __attribute__((warn_unused_result));

#endif
