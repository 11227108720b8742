/*
 * tls.h - the server's TLS context: TLS 1.2 and 1.3 only, ECDHE with
 * AEAD ciphers for 1.2, a client certificate required (or, with
 * tls_client_auth = optional, verified when presented) against the
 * configured CA bundle and optional CRL, the server key from a PEM file or
 * from the token (a pkcs11: URI, used through hsm_evp_pkey_load).
 */
#ifndef CAP_API_TLS_H
#define CAP_API_TLS_H

#include "daemon/config.h"

struct ssl_ctx_st;

/*
 * api_tls_ctx_new builds a server SSL_CTX from cfg's tls_cert, tls_key,
 * tls_client_ca, tls_client_auth and tls_client_crl (read afresh on every
 * call, which is how SIGHUP picks up a new CRL).  CAP_ERR_CONFIG when a file is missing or unusable or the
 * key does not match the certificate (logged with the reason),
 * CAP_ERR_TOKEN / CAP_ERR_PIN when a token key cannot be loaded,
 * CAP_ERR_NOMEM.  The caller releases it with SSL_CTX_free.
 */
int api_tls_ctx_new(const struct cap_config *cfg, struct ssl_ctx_st **out)
    __attribute__((warn_unused_result));

#endif
