/*
 * certstatus.h - revocation status of a certificate from the outside: the
 * OCSP responder named in its authorityInfoAccess, else the CRL at its
 * crlDistributionPoints, each answer checked against the issuer.
 *
 * certstatus_check is blocking: each network request is bounded by
 * CERTSTATUS_TIMEOUT_MS, so one check takes at most twice that.  Only
 * http:// URLs are fetched; OCSP responses and CRLs are signed objects,
 * so the transport needs no protection of its own.
 */
#ifndef CAP_CA_CERTSTATUS_H
#define CAP_CA_CERTSTATUS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#define CERTSTATUS_TIMEOUT_MS	5000
#define CERTSTATUS_CRL_MAX	(10 * 1024 * 1024)
#define CERTSTATUS_OCSP_MAX	(256 * 1024)
#define CERTSTATUS_SKEW_S	300
#define CERTSTATUS_URL_MAX	1024

struct certstatus_result {
	const char	*status;	/* "good", "revoked", "unknown" */
	const char	*source;	/* "ocsp", "crl", "none" */
	char		 reason[256];	/* why unknown, or what failed; "" */
	uint64_t	 revoked_at;	/* Unix seconds; 0 when not revoked */
};

/* certstatus_result_init: unknown, source "none", no reason. */
void certstatus_result_init(struct certstatus_result *res);

/*
 * certstatus_ocsp_url / certstatus_crl_url copy the first http:// or
 * https:// URL of the certificate's OCSP access method / CRL distribution
 * point (full name) into out.  CAP_ERR_NOT_FOUND when there is none (or
 * none fits in outsz or is printable ASCII).
 */
int certstatus_ocsp_url(X509 *cert, char *out, size_t outsz)
    __attribute__((warn_unused_result));
int certstatus_crl_url(X509 *cert, char *out, size_t outsz)
    __attribute__((warn_unused_result));

/*
 * certstatus_crl_parse reads a CRL in DER or PEM (at most
 * CERTSTATUS_CRL_MAX bytes).  CAP_ERR_INVALID when it is not one.
 */
int certstatus_crl_parse(const uint8_t *buf, size_t len, X509_CRL **out)
    __attribute__((warn_unused_result));

/*
 * certstatus_crl_lookup checks that crl is issued and signed by issuer and
 * current at now (CERTSTATUS_SKEW_S of slack), then looks cert's serial
 * up: *revoked 1 with *revoked_at, or 0.  CAP_ERR_CRYPTO when the
 * signature or the issuer does not match, CAP_ERR_GONE when stale or
 * not yet valid.
 */
int certstatus_crl_lookup(X509_CRL *crl, X509 *issuer, X509 *cert,
    time_t now, int *revoked, uint64_t *revoked_at)
    __attribute__((warn_unused_result));

/*
 * certstatus_check asks OCSP, then the CRL, about cert; chain is the
 * issuer chain, issuer first.  Always fills res; the status is "unknown"
 * with a reason when neither source gives an answer that verifies.
 */
void certstatus_check(X509 *cert, STACK_OF(X509) *chain,
    struct certstatus_result *res);

#endif
