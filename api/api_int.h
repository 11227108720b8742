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
#include "api/router.h"
#include "crypto/envelope.h"
#include "crypto/vault.h"
#include "daemon/config.h"
#include "hsm/hsm.h"
#include "store/store.h"

struct evhttp_request;

#define API_VERSION		"0.1.0"
#define API_SUBJECT_MAX		512	/* longest subject kept, bytes */

/* What the handlers reach: borrowed from the daemon, outlive the server. */
struct api_deps {
	const struct cap_config	*cfg;
	hsm			*h;
	envelope		*e;
	store			*s;
	vault			*v;
	audit			*audit;	/* the audit log, or NULL (unit tests) */
};

/* How the caller proved who it is. */
enum api_identity_kind {
	API_ID_NONE = 0,	/* nothing presented */
	API_ID_CERT = 1,	/* verified TLS client certificate */
};

struct api_identity {
	enum api_identity_kind	kind;
	char			subject[API_SUBJECT_MAX];	/* "CN=...,O=..." */
};

/* Capabilities a request needs; policies grant them per domain pattern. */
enum api_capability {
	API_CAP_READ = 1,
	API_CAP_WRITE,
	API_CAP_DELETE,
	API_CAP_LIST,
	API_CAP_ADMIN,
	API_CAP_REF,
};

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
};

/*
 * api_identity_from_request fills id from the verified client certificate
 * of req's TLS connection.  CAP_ERR_UNAUTH when there is none.
 */
int api_identity_from_request(struct evhttp_request *req,
    struct api_identity *id) __attribute__((warn_unused_result));

/*
 * api_authorize decides whether ctx's identity holds capability cap on
 * domain (NULL for calls outside any domain).  0 or CAP_ERR_UNAUTH /
 * CAP_ERR_DENIED.  Every authenticated identity is allowed until
 * policies exist.
 */
int api_authorize(const struct api_ctx *ctx, enum api_capability cap,
    const char *domain) __attribute__((warn_unused_result));

/*
 * api_require is api_authorize that also answers the request (401/403)
 * when it refuses; handlers return at once on a non-zero result.
 */
int api_require(struct api_ctx *ctx, enum api_capability cap,
    const char *domain) __attribute__((warn_unused_result));

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
