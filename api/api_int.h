/*
 * api_int.h - what the files of api/ share: the per-request context handed
 * to every handler, the identity of the caller and the authorisation hook.
 * Nothing outside api/ (and its tests) includes this header.
 */
#ifndef CAP_API_INT_H
#define CAP_API_INT_H

#include <stddef.h>
#include <stdint.h>

#include "api/audit.h"
#include "api/policy.h"
#include "api/router.h"
#include "crypto/envelope.h"
#include "crypto/vault.h"
#include "daemon/config.h"
#include "hsm/hsm.h"
#include "store/auth.h"
#include "store/store.h"

struct evhttp_request;
struct certsvc;
struct ca_conns;
struct cmf;
struct api_enrol;

#define API_VERSION		"0.1.0"
#define API_SUBJECT_MAX		512	/* longest subject kept, bytes */
#define API_SAN_MAX		16	/* SANs kept from a certificate */
#define API_SAN_LEN		256	/* longest SAN kept, with its NUL */

/* The policy cache of authorisation (auth.c). */
typedef struct api_authz api_authz;

/* What the handlers reach: borrowed from the daemon, outlive the server. */
struct api_deps {
	const struct cap_config	*cfg;
	hsm			*h;
	envelope		*e;
	store			*s;
	vault			*v;
	api_authz		*authz;	/* policies and admins; NULL: deny */
	audit			*audit;	/* the audit log, or NULL (unit tests) */
	struct certsvc		*certs;	/* certificate engine, or NULL */
	struct ca_conns		*conns;	/* CA connectors, or NULL */
	struct cmf		*cmf;	/* NFV CMF (nfv/cmf.h), or NULL */
	struct api_enrol	*enrol;	/* enrolment server (enrol.h), or NULL */
};

/* How the caller proved who it is. */
enum api_identity_kind {
	API_ID_NONE = 0,	/* nothing presented */
	API_ID_CERT = 1,	/* verified TLS client certificate */
	API_ID_TOKEN = 2,	/* bearer token (its policies decide) */
};

/*
 * The caller.  A certificate identity is its subject and SANs, matched
 * against the identity patterns of policies and of [auth] admins.  A token
 * identity is decided by the policies named in the token only; subject
 * then holds the token's identity string, for logs.
 */
struct api_identity {
	enum api_identity_kind	kind;
	char			subject[API_SUBJECT_MAX];	/* "CN=...,O=..." */
	/* API_ID_CERT: "DNS:name", "URI:uri", "IP:addr", "email:x" */
	char			sans[API_SAN_MAX][API_SAN_LEN];
	size_t			nsans;
	/* API_ID_TOKEN */
	char			token_identity[STORE_IDENTITY_MAX + 1];
	char			accessor[STORE_ACCESSOR_LEN + 1];
	char			policies[STORE_TOKEN_POLICIES_MAX][CAP_NAME_MAX + 1];
	size_t			npolicies;
};

/*
 * Capabilities a request needs, as bits (the CAPB_* values of policy.h);
 * policies grant them per domain pattern.  api_authorize needs every bit
 * it is given (API_CAP_WRITE | API_CAP_REF for generate), and
 * API_CAP_AUTHENTICATED (no bit) only an identity.
 */
enum api_capability {
	API_CAP_AUTHENTICATED = 0,
	API_CAP_READ = 0x01,
	API_CAP_WRITE = 0x02,
	API_CAP_DELETE = 0x04,
	API_CAP_LIST = 0x08,
	API_CAP_REF = 0x10,
	API_CAP_ADMIN = 0x20,
};
#define API_CAP_ALL	0x3f

/*
 * One request in progress.  Handlers read the matched route, the decoded
 * path parameters, the query and the (copied) body, and answer with one
 * call to a reply function of reply.h, which records the status for the
 * access log.  req is NULL in unit tests: replies are then only recorded.
 */
struct api_ctx {
	const struct api_deps	*deps;
	struct evhttp_request	*req;
	struct api_identity	 id;
	char			 rid[17];	/* request id, hex */
	struct api_match	 match;		/* route and parameters */
	struct api_query	 query;
	uint8_t			*body;		/* sodium_malloc'd, wiped */
	size_t			 body_len;
	int			 closing;	/* add Connection: close */
	int			 status;	/* HTTP status sent, 0 = none */
	uint64_t		 start_us;	/* monotonic, for the audit */
	struct event_base	*base;		/* the worker's own event base */
	void			*server;	/* for api_defer_finish */
	int			 deferred;	/* see api_defer */
};

/*
 * api_defer lets a handler return without answering: it must later, on
 * ctx->base's thread (event_base_once), send exactly one reply and call
 * api_defer_finish, which logs and frees ctx.  If the client goes away
 * meanwhile, ctx->req becomes NULL and the reply is only recorded.
 */
void api_defer(struct api_ctx *ctx);
void api_defer_finish(struct api_ctx *ctx);

/*
 * api_offload is the way a handler runs blocking work (a CA round trip,
 * an OCSP fetch, the CMF): it defers ctx and runs work(arg) on a thread
 * of its own, then done(arg) on ctx's worker, where done sends the one
 * reply and calls api_defer_finish.  The server waits for such threads
 * before it frees its workers.  CAP_ERR_INTERNAL (nothing deferred; the
 * caller answers) when no thread can be started.
 */
int api_offload(struct api_ctx *ctx, void (*work)(void *),
    void (*done)(void *), void *arg) __attribute__((warn_unused_result));

/*
 * api_identity_from_request fills id for req: from its bearer token
 * (Authorization: Bearer, checked and counted with store_token_use on
 * deps->s) when it has one, else from the verified client certificate of
 * its TLS connection.  CAP_ERR_UNAUTH when there is neither or the token
 * is unknown, expired, used up or revoked; CAP_ERR_STORE and the like
 * when the store fails.  The token's text is wiped from the request.
 */
int api_identity_from_request(struct evhttp_request *req,
    const struct api_deps *deps, struct api_identity *id)
    __attribute__((warn_unused_result));

/*
 * api_identity_from_cert fills id's subject and SANs from a verified
 * certificate (an X509 *); the kind becomes API_ID_CERT.  SANs of other
 * types, or too long to keep, are left out.  CAP_ERR_UNAUTH when the
 * subject does not fit, CAP_ERR_NOMEM.
 */
int api_identity_from_cert(const void *x509, struct api_identity *id)
    __attribute__((warn_unused_result));

/*
 * api_authz_new makes an empty policy cache with the configured admins
 * (cfg's [auth] admins text, NULL for none).  CAP_ERR_CONFIG for a
 * malformed list, CAP_ERR_NOMEM.  Free with api_authz_free.
 */
int api_authz_new(const char *admins, api_authz **out)
    __attribute__((warn_unused_result));
void api_authz_free(api_authz *az);

/*
 * api_authz_set replaces the cached policies with v[0..n), taking over v
 * and every policy in it (also on failure).  Policies with the same name
 * are not expected.
 */
int api_authz_set(api_authz *az, policy **v, size_t n)
    __attribute__((warn_unused_result));

/*
 * api_authz_load rebuilds the cache from every policy in the store; a
 * document that no longer parses is logged and left out (denying what it
 * granted).  Reloads are serialised, so the last one to finish reflects
 * every change committed before it started.
 */
int api_authz_load(api_authz *az, store *s) __attribute__((warn_unused_result));

/* api_authz_has: 1 if the cache holds a policy of this name. */
int api_authz_has(api_authz *az, const char *name);

/*
 * api_authorize decides whether ctx's identity holds every capability bit
 * of cap on domain.  domain NULL (or "*") means every domain:
 * API_CAP_ADMIN there is what policies, tokens, the audit log and
 * /v1/sys/tokens need, granted by a rule whose domain pattern is made
 * only of '*' (or by [auth] admins).  Identities in [auth] admins may do everything; certificates
 * are bound to policies by their subject and SANs, tokens by the policy
 * names they carry.  Default deny.  0 or CAP_ERR_UNAUTH / CAP_ERR_DENIED.
 */
int api_authorize(const struct api_ctx *ctx, enum api_capability cap,
    const char *domain) __attribute__((warn_unused_result));

/*
 * api_authorize_any is api_authorize satisfied by any one bit of cap
 * (GET /v1/domains/{d}: read or list; the domain list: API_CAP_ALL).
 */
int api_authorize_any(const struct api_ctx *ctx, unsigned cap,
    const char *domain) __attribute__((warn_unused_result));

/*
 * api_require is api_authorize that also answers the request (401/403)
 * when it refuses; handlers return at once on a non-zero result.
 */
int api_require(struct api_ctx *ctx, enum api_capability cap,
    const char *domain) __attribute__((warn_unused_result));
/* api_require_any: the same over api_authorize_any. */
int api_require_any(struct api_ctx *ctx, unsigned cap, const char *domain)
    __attribute__((warn_unused_result));

/*
 * api_audit_request appends the audit entry of ctx (its status already
 * set) to deps->audit before the reply is sent: request id, identity, an
 * operation name per route, method, path with the secret name replaced
 * by its HMAC, domain, name (HMAC'd), status, outcome and duration.  0
 * when written or when there is no audit log; CAP_ERR_* when the append
 * failed, and the reply must then be refused (503).  audit_key.c.
 */
int api_audit_request(struct api_ctx *ctx) __attribute__((warn_unused_result));

/* api_now_us: a monotonic clock in microseconds (ctx->start_us). */
uint64_t api_now_us(void);

#endif
