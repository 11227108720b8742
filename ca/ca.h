/*
 * ca.h - CA connectors: one file per protocol in ca/, each a const table of
 * function pointers found by name in the registry of ca/ca.c.  A connector
 * turns a PKCS#10 request (signed in the token) into a certificate and its
 * chain, renews, revokes and reports the CA's own certificates.  It never
 * sees or sends a private key: where a protocol needs a signing key (CMP
 * protection and POPO, SCEP signer, EST TLS client auth), it gets the key's
 * pkcs11: URI and loads an EVP_PKEY whose operations run in the token.
 *
 * Connectors may block (network round trips); callers run them off the
 * event loop threads, behind the per-CA flow control.
 * Functions return 0 or a negative CAP_ERR_*: CAP_ERR_UNAVAILABLE when the
 * CA cannot be reached (the request may be retried), CAP_ERR_DENIED when
 * the CA refused (reason in the result), CAP_ERR_CRYPTO when an answer
 * fails its checks.
 */
#ifndef CAP_CA_H
#define CAP_CA_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "hsm/hsm.h"

struct vault;
struct store;
struct ca_conns;

/* What connectors may use; borrowed, outlives every connector. */
struct ca_env {
	hsm		*h;
	const char	*token_module;	/* for hsm_evp_pkey_load */
	const char	*token_pin;	/* pin source, never the PIN */
	struct vault	*v;		/* connector secrets live in the vault */
	struct store	*s;		/* local CA state (store/cadb.h); may be NULL */
	struct ca_conns	*conns;		/* the registry, for a local CA's parent */
	const char	*public_url;	/* [server] public_url for CRL/OCSP URLs, or NULL */
};

enum ca_status {
	CA_ISSUED = 1,		/* cert (and chain) set */
	CA_PENDING = 2,		/* poll later with pending_id */
	CA_REJECTED = 3,	/* reason set */
};

struct ca_request {
	X509_REQ	*csr;		/* signed by the new key in the token */
	const char	*key_uri;	/* pkcs11: URI of the new private key */
	const char	*profile;	/* profile, alias or label; NULL = default */
	uint64_t	 validity;	/* wished lifetime in seconds; 0 = CA's */
	X509		*old_cert;	/* renewal: the certificate replaced */
	const char	*old_key_uri;	/* renewal: its private key */
	const char	*pending_id;	/* poll: the id a CA_PENDING gave */
	int		 pop_verified;	/* csr's proof of possession was
					   checked by the caller (an RA);
					   its signature may not verify */
};

struct ca_result {
	enum ca_status	 status;
	X509		*cert;
	STACK_OF(X509)	*chain;		/* issuer first, up to the root if known */
	char		 pending_id[128];
	uint32_t	 retry_after;	/* seconds, with CA_PENDING */
	char		 reason[256];	/* the CA's words, with CA_REJECTED */
};

/* ca_result_clear frees what a result holds and zeroes it. */
void ca_result_clear(struct ca_result *res);

/*
 * ca_result_issue takes, from the certificates a CA answered (certs), the
 * one for the public key of csr, orders its issuer chain from certs and
 * extra (the CA's own certificates, or NULL), and makes res CA_ISSUED with
 * both.  CAP_ERR_CRYPTO, with a reason naming who, when no certificate is
 * for that key; CAP_ERR_NOMEM.
 */
int ca_result_issue(X509_REQ *csr, STACK_OF(X509) *certs,
    STACK_OF(X509) *extra, const char *who, struct ca_result *res)
    __attribute__((warn_unused_result));

struct ca_ops {
	const char *protocol;		/* "local", "cmp", "est", "scep" */

	/*
	 * create parses the connector's settings (the JSON object of
	 * POST /v1/cas minus name/protocol/limits) and prepares its state.
	 * Required.  Writes a user-facing reason to err on CAP_ERR_INVALID.
	 */
	int (*create)(const char *name, json_t *settings,
	    const struct ca_env *env, void **state, char *err, size_t errlen);
	/* destroy frees the state, wiping secrets.  Required. */
	void (*destroy)(void *state);
	/* enroll asks for a new certificate.  Required. */
	int (*enroll)(void *state, const struct ca_request *req,
	    struct ca_result *res);
	/* renew replaces req->old_cert.  Optional: NULL means enroll. */
	int (*renew)(void *state, const struct ca_request *req,
	    struct ca_result *res);
	/* poll continues a CA_PENDING request.  Optional. */
	int (*poll)(void *state, const struct ca_request *req,
	    struct ca_result *res);
	/*
	 * revoke with an RFC 5280 CRLReason code.  Optional: NULL for a
	 * protocol without a revocation message (EST, SCEP); callers then
	 * answer CAP_ERR_UNSUPPORTED.
	 */
	int (*revoke)(void *state, X509 *cert, int reason, char *err,
	    size_t errlen);
	/* chain returns the CA's certificates, issuer first.  Required. */
	int (*chain)(void *state, STACK_OF(X509) **out);
	/* crl returns the current CRL, DER.  Optional. */
	int (*crl)(void *state, uint8_t **der, size_t *len);
	/* ocsp answers a DER OCSP request with a DER response.  Optional. */
	int (*ocsp)(void *state, const uint8_t *req, size_t reqlen,
	    uint8_t **resp, size_t *resplen);
	/* describe adds public, protocol-specific fields.  Optional. */
	int (*describe)(void *state, json_t *out);
};

/* ca_ops_find returns the connector for a protocol name, or NULL. */
const struct ca_ops *ca_ops_find(const char *protocol);

/* RFC 5280 CRLReason names <-> codes; -1 if unknown. */
int ca_reason_parse(const char *name);
const char *ca_reason_name(int code);

#endif
