/*
 * chain.h - validation of a certificate a CA hands back, before anything
 * is stored: the steps of ETSI GR NFV-SEC 005 clause 4.5.1.
 *
 * From the leaf upwards, each certificate must name its issuer's subject,
 * carry an authority key identifier equal to the issuer's subject key
 * identifier where both are present, verify under the issuer's public key
 * and be inside its validity period at `now`; each issuer must be a CA
 * (basicConstraints CA:TRUE), allow keyCertSign where it has a keyUsage
 * extension, and allow the number of intermediates below it (pathLen).
 * The path must end at one of the trust roots, and the leaf's public key
 * must be the key the request was made for (the key in the token).
 * OpenSSL's X509_verify_cert then checks the same path once more with
 * X509_V_FLAG_X509_STRICT and the check time set to `now`.
 */
#ifndef CAP_CRYPTO_CHAIN_H
#define CAP_CRYPTO_CHAIN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#define CHAIN_DEPTH_MAX	8	/* certificates above the leaf */

/*
 * chain_validate checks leaf against the untrusted certificates in chain
 * (any order; may be NULL) and the trust anchors in roots.  roots NULL
 * means the connector has no configured root: the self-signed certificate
 * the path ends at, which must then be in chain, is taken as the anchor
 * (the caller vouches for it, e.g. because it is the local CA's own root).
 * expected_spki is the DER SubjectPublicKeyInfo of the key in the token;
 * NULL skips that step (only for checking a CA's own chain).
 * On failure reason (may be NULL) says which step failed, for example
 * "leaf public key does not match the key in the token",
 * "certificate expired: CN=...", "chain does not reach the configured
 * root"; it holds no secret.
 * Returns 0, CAP_ERR_CRYPTO when a check fails, CAP_ERR_INVALID for bad
 * arguments, CAP_ERR_NOMEM.
 */
int chain_validate(X509 *leaf, STACK_OF(X509) *chain, STACK_OF(X509) *roots,
    const uint8_t *expected_spki, size_t spki_len, time_t now, char *reason,
    size_t reasonlen) __attribute__((warn_unused_result));

/*
 * chain_spki_der returns the DER SubjectPublicKeyInfo of a certificate
 * (malloc'd; free()).
 */
int chain_spki_der(X509 *cert, uint8_t **der, size_t *len)
    __attribute__((warn_unused_result));

#endif
