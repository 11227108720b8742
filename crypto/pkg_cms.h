/*
 * pkg_cms.h - CMS for VNF packages (ETSI GS NFV-SEC 021) with keys that
 * stay in the token: detached SignedData over content or over a digest
 * the caller computed, EnvelopedData / AuthEnvelopedData to recipient
 * certificates, and decryption with a recipient key held in the token.
 *
 * Signing builds the SignerInfo with OpenSSL in partial mode and signs
 * the DER of its signed attributes (contentType, signingTime,
 * messageDigest) in the token (hsm_sign, or hsm_ecdsa_sign_digest), so it
 * works for ECDSA P-256/P-384, RSA and Ed25519 without the libp11 engine.
 * Decryption hands OpenSSL a key object whose private operation runs in
 * the token: raw RSA for key transport (OAEP checked by OpenSSL, any OAEP
 * hash) and CKM_ECDH1_DERIVE for key agreement.
 *
 * All functions return 0 or a negative CAP_ERR_*.
 */
#ifndef CAP_CRYPTO_PKG_CMS_H
#define CAP_CRYPTO_PKG_CMS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/bio.h>
#include <openssl/pem.h>	/* before cms.h: its PEM functions */
#include <openssl/cms.h>
#include <openssl/x509.h>

#include "hsm/hsm.h"

#define PKG_CMS_INPUT_MAX	(16u * 1024 * 1024)	/* bytes of a CMS read */
#define PKG_CMS_RECIPS_MAX	32	/* recipients of one message */
#define PKG_CMS_CHAIN_MAX	8	/* chain certificates in a signature */

/* The signing key: a token key and its certificate (all borrowed). */
struct pkg_cms_signer {
	hsm		*h;
	hsm_obj		 priv;
	hsm_key_type	 type;		/* EC P-256/P-384, RSA, Ed25519 */
	X509		*cert;		/* the signer; its key is priv's */
	STACK_OF(X509)	*chain;		/* issuers to include, or NULL */
};

/*
 * pkg_cms_sign makes a detached SignedData (eContentType id-data, content
 * absent) over len bytes of content: one SignerInfo identified by issuer
 * and serial, digest SHA-256 (SHA-384 for P-384, SHA-512 for Ed25519 as
 * RFC 8419 asks), the signer certificate and chain included.  *out is the
 * caller's (CMS_ContentInfo_free).  CAP_ERR_INVALID for a key type that
 * cannot sign or a certificate that does not match the key's type,
 * CAP_ERR_TOKEN / CAP_ERR_CRYPTO from the token.
 */
int pkg_cms_sign(const struct pkg_cms_signer *sg, const uint8_t *content,
    size_t len, CMS_ContentInfo **out) __attribute__((warn_unused_result));

/*
 * pkg_cms_sign_sha256 is pkg_cms_sign over content known only by its
 * SHA-256 digest (32 bytes): the digest algorithm is SHA-256 whatever the
 * key type (for P-384 the digest of the signed attributes is signed with
 * CKM_ECDSA; Ed25519 signs the attributes as they are).
 */
int pkg_cms_sign_sha256(const struct pkg_cms_signer *sg,
    const uint8_t digest[32], CMS_ContentInfo **out)
    __attribute__((warn_unused_result));

/* Content ciphers of pkg_cms_encrypt. */
enum pkg_cms_cipher {
	PKG_CMS_AES256_GCM = 1,	/* AuthEnvelopedData (RFC 5083/5084) */
	PKG_CMS_AES256_CBC = 2,	/* EnvelopedData */
};

/* pkg_cms_cipher_parse: "aes-256-gcm" / "aes-256-cbc"; CAP_ERR_INVALID. */
int pkg_cms_cipher_parse(const char *name, enum pkg_cms_cipher *out)
    __attribute__((warn_unused_result));

/*
 * pkg_cms_encrypt_bio encrypts everything read from in to the recipients
 * (1..PKG_CMS_RECIPS_MAX certificates with RSA or EC P-256/P-384 keys)
 * and writes the message to out as PEM (pem = 1) or DER, streaming: the
 * content is never held whole.  RSA recipients get RSA-OAEP (SHA-256,
 * MGF1-SHA-256) key transport, EC recipients ECDH key agreement
 * (dhSinglePass-stdDH-sha256kdf-scheme, AES-256 key wrap).
 * CAP_ERR_INVALID for no recipient or an unusable recipient key,
 * CAP_ERR_TOO_LARGE over PKG_CMS_RECIPS_MAX, CAP_ERR_IO when a BIO fails.
 */
int pkg_cms_encrypt_bio(STACK_OF(X509) *recips, enum pkg_cms_cipher cipher,
    BIO *in, BIO *out, int pem) __attribute__((warn_unused_result));

/*
 * pkg_cms_read parses a CMS message of at most PKG_CMS_INPUT_MAX bytes:
 * PEM ("-----BEGIN CMS-----" or PKCS7) or DER.  CAP_ERR_INVALID when it
 * does not parse, CAP_ERR_TOO_LARGE.
 */
int pkg_cms_read(const uint8_t *buf, size_t len, CMS_ContentInfo **out)
    __attribute__((warn_unused_result));

/*
 * pkg_cms_decrypt decrypts an EnvelopedData or AuthEnvelopedData for the
 * token key priv (RSA or EC P-256/P-384) whose SubjectPublicKeyInfo is
 * spki (DER), writing the content to out.  cert (may be NULL) is the
 * key's certificate: with it only the recipient entry naming it is
 * tried, without it every entry of the key's kind.  Key transport must
 * be RSA-OAEP (PKCS#1 v1.5 is refused).  CAP_ERR_INVALID when the
 * message is not enveloped or names no recipient this key can be,
 * CAP_ERR_CRYPTO when the key does not open it or the content fails its
 * check, CAP_ERR_UNSUPPORTED when the key may not do it (an EC key
 * without CKA_DERIVE).  What was written to out before a failure must be
 * discarded; out should be a BIO_s_secmem.
 */
int pkg_cms_decrypt(hsm *h, hsm_obj priv, hsm_key_type type,
    const uint8_t *spki, size_t spki_len, X509 *cert, CMS_ContentInfo *cms,
    BIO *out) __attribute__((warn_unused_result));

/* pkg_cms_pem writes a message as a PEM "CMS" string (malloc'd, free()). */
int pkg_cms_pem(CMS_ContentInfo *cms, char **pem)
    __attribute__((warn_unused_result));

#endif
