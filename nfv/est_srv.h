/*
 * est_srv.h - the protocol pieces of the EST server (RFC 7030): decoding
 * a base64 PKCS#10 request body, encoding a certs-only PKCS#7 answer in
 * base64, and reading the HTTP Basic credentials of an initial credential
 * (user = reference, password = secret).
 *
 * Pure functions over bytes, no I/O, driven directly by the unit tests
 * and the fuzz target.  Every input is bounded by EST_BODY_MAX or
 * EST_AUTH_MAX.  All functions return 0 or a negative CAP_ERR_*.
 */
#ifndef CAP_NFV_EST_SRV_H
#define CAP_NFV_EST_SRV_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "nfv/cmf.h"

#define EST_BODY_MAX	(64 * 1024)	/* longest simpleenroll body */
#define EST_AUTH_MAX	512		/* longest Authorization value */
#define EST_SECRET_MAX	128		/* longest Basic password kept */

/*
 * est_csr_decode decodes the base64 body of a simpleenroll or
 * simplereenroll (line breaks and blanks allowed) into a DER PKCS#10
 * request that parses (*der malloc'd, freed by the caller).
 * CAP_ERR_INVALID for bad base64 or anything not a PKCS#10 request,
 * CAP_ERR_TOO_LARGE over EST_BODY_MAX, CAP_ERR_NOMEM.
 */
int est_csr_decode(const uint8_t *body, size_t len, uint8_t **der,
    size_t *derlen) __attribute__((warn_unused_result));

/*
 * est_certs_encode writes cert (may be NULL) followed by chain (may be
 * NULL) as a degenerate PKCS#7 SignedData (certs-only), base64 on one
 * line ended by a newline.  *out is malloc'd and NUL-terminated; *outlen is
 * its length.  CAP_ERR_INVALID when there is no certificate at all.
 */
int est_certs_encode(X509 *cert, STACK_OF(X509) *chain, char **out,
    size_t *outlen) __attribute__((warn_unused_result));

/*
 * est_basic_parse reads an Authorization header value "Basic
 * base64(user:password)".  The user must be an initial credential
 * reference (CMF_INITCRED_REF_LEN lowercase hex digits); the password,
 * at most EST_SECRET_MAX bytes, goes to secret (NUL-terminated,
 * *secretlen bytes; the caller wipes it).  Every intermediate copy is
 * wiped.  CAP_ERR_UNAUTH for anything else (no header is the caller's
 * business).
 */
int est_basic_parse(const char *value, char ref[CMF_INITCRED_REF_LEN + 1],
    char secret[EST_SECRET_MAX + 1], size_t *secretlen)
    __attribute__((warn_unused_result));

/* est_ref_valid: 1 if s is CMF_INITCRED_REF_LEN lowercase hex digits. */
int est_ref_valid(const char *s, size_t len);

#endif
