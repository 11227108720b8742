/*
 * csr.h - PKCS#10 certificate requests for keys held in the token.
 *
 * The request is assembled with OpenSSL and its CertificationRequestInfo
 * is signed in the token (hsm_sign), so the private key is never loaded
 * into the process; this also covers Ed25519, which the libp11 engine
 * cannot use.  All functions return 0 or a negative CAP_ERR_*.
 */
#ifndef CAP_CRYPTO_CSR_H
#define CAP_CRYPTO_CSR_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "hsm/hsm.h"

#define CSR_SUBJECT_MAX		1024	/* bytes of a subject string */
#define CSR_SUBJECT_RDNS_MAX	32	/* attributes in a subject */
#define CSR_SANS_MAX		100	/* SANs in one request */
#define CSR_SAN_MAX		1024	/* bytes of one SAN string */

/*
 * csr_subject_parse turns "CN=a,O=b" into an X509_NAME (caller frees),
 * attributes in the order written.  Attribute names are OpenSSL short or
 * long names (CN, O, OU, C, L, ST, emailAddress, ...) or dotted OIDs;
 * values are UTF-8, a backslash takes the next character literally
 * ("O=Acme\, Inc."), leading and trailing spaces around names and values
 * are dropped.  An empty string gives an empty name.  CAP_ERR_INVALID
 * for a malformed subject, an unknown attribute or a value OpenSSL
 * refuses (C= must have two letters), CAP_ERR_TOO_LARGE over the limits.
 */
int csr_subject_parse(const char *s, X509_NAME **out)
    __attribute__((warn_unused_result));

/*
 * csr_sans_parse turns strings "DNS:name", "IP:1.2.3.4", "IP:2001:db8::1",
 * "URI:https://x", "email:a@b" into GENERAL_NAMES (caller frees with
 * GENERAL_NAMES_free).  Values are non-empty printable ASCII without
 * spaces.  CAP_ERR_INVALID or CAP_ERR_TOO_LARGE (over CSR_SANS_MAX or
 * CSR_SAN_MAX).
 */
int csr_sans_parse(const char *const *sans, size_t nsans,
    GENERAL_NAMES **out) __attribute__((warn_unused_result));

/*
 * csr_build makes a request for the key whose private half is priv (of
 * type, not AES) and whose SubjectPublicKeyInfo is spki (DER), with the
 * subject and, when nsans > 0, a subjectAltName extension request.  The
 * signature is ECDSA with SHA-256 (P-256) or SHA-384 (P-384), RSA PKCS#1
 * v1.5 with SHA-256, or pure Ed25519.  *out is the caller's
 * (X509_REQ_free).  CAP_ERR_INVALID for bad input, the parsers' errors,
 * CAP_ERR_TOKEN / CAP_ERR_CRYPTO from signing.
 */
int csr_build(hsm *h, hsm_obj priv, hsm_key_type type, const uint8_t *spki,
    size_t spki_len, const char *subject, const char *const *sans,
    size_t nsans, X509_REQ **out) __attribute__((warn_unused_result));

/* csr_pem writes a request as a PEM string (malloc'd, free()). */
int csr_pem(X509_REQ *req, char **pem) __attribute__((warn_unused_result));

/*
 * csr_bio_text copies what a memory BIO holds (PEM text written to it)
 * into a malloc'd NUL-terminated string *out: the tail of csr_pem, also
 * of the other PEM writers in crypto/.  max bounds the length (0: no
 * bound).  CAP_ERR_INTERNAL when the BIO is empty or over max,
 * CAP_ERR_NOMEM.
 */
int csr_bio_text(BIO *bio, size_t max, char **out)
    __attribute__((warn_unused_result));

#endif
