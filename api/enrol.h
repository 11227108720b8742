/*
 * enrol.h - the enrolment server for workloads: the second listener of
 * capstoned ([enrol] listen), serving EST (/.well-known/est/...) and CMP
 * (/pkix/...) in front of the NFV CMF.
 *
 * It runs on the API's worker threads (api/server.c accepts on its socket
 * with its own TLS context and request entry), with its own route table.
 * The TLS handshake accepts any client certificate, or none: TLS proves
 * possession of the certificate's key, and the request layer decides
 * whether the certificate means anything (a certificate the CMF issued
 * and that is valid now, or an initial certificate); otherwise requests
 * authenticate with an initial credential (HTTP Basic for EST, a MAC for
 * CMP).  Requests are audited like API requests, the identity being the
 * certificate subject or "initcred:REF".
 *
 * Everything that may wait on a CA (every issuing call of the CMF blocks
 * up to CMF_ISSUE_TIMEOUT_S) runs on a thread of its own; the worker
 * defers its reply (api_defer) and sends it when the thread is done.
 */
#ifndef CAP_API_ENROL_H
#define CAP_API_ENROL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "api/api_int.h"
#include "api/router.h"
#include "daemon/config.h"

struct ssl_ctx_st;
struct cmf;
struct cmp_srv;

typedef struct api_enrol api_enrol;

/* The routes of the enrolment listener (pattern NULL ends them). */
extern const struct api_route api_enrol_routes[];

/*
 * api_enrol_tls_ctx_new builds the enrolment listener's SSL_CTX: the API's
 * certificate, key and protocol settings, client certificates optional and
 * accepted whatever their issuer, sessions kept apart from the API's.
 */
int api_enrol_tls_ctx_new(const struct cap_config *cfg,
    struct ssl_ctx_st **out) __attribute__((warn_unused_result));

/*
 * api_enrol_new prepares the enrolment state; tls is the listener's
 * context, whose certificate and key also sign CMP answers (references
 * taken).  Enrolments go to deps->cmf; without one they answer 503.
 */
int api_enrol_new(const struct cap_config *cfg, struct ssl_ctx_st *tls,
    api_enrol **out) __attribute__((warn_unused_result));
void api_enrol_free(api_enrol *e);

/* The CMP server. */
struct cmp_srv *api_enrol_cmp(const api_enrol *e);
/* The default CA of cacerts and genm ([enrol] ca), or NULL. */
const char *api_enrol_default_ca(const api_enrol *e);

/*
 * api_enrol_peer_der copies the DER of the TLS client certificate of
 * ctx's connection (*der malloc'd; NULL, 0 and 0 returned when none).
 */
int api_enrol_peer_der(const struct api_ctx *ctx, uint8_t **der,
    size_t *len) __attribute__((warn_unused_result));

/*
 * api_enrol_chain gives the certificates of CA connector name (or the
 * default CA when name is NULL or ""), issuer first; the caller frees
 * them with sk_X509_pop_free.  CAP_ERR_NOT_FOUND when there is no such
 * CA or no default.
 */
int api_enrol_chain(const struct api_deps *deps, const char *name,
    STACK_OF(X509) **out) __attribute__((warn_unused_result));

/* api_enrol_set_identity records who asked, for the logs and the audit. */
void api_enrol_set_identity(struct api_ctx *ctx, const char *ident);

/* handlers_est.c */
void api_h_est_cacerts(struct api_ctx *ctx);
void api_h_est_enroll(struct api_ctx *ctx);
void api_h_est_reenroll(struct api_ctx *ctx);
/* handlers_cmp.c */
void api_h_cmp(struct api_ctx *ctx);

#endif
