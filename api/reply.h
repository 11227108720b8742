/*
 * reply.h - JSON replies and the one table that maps CAP_ERR_* codes to an
 * HTTP status, an error code and a fixed message.
 *
 * Internal reasons never reach the client: a failure is logged here with
 * its CAP_ERR_* name and the operation, and the client gets only the
 * documented code and message.  Every reply carries X-Request-Id,
 * Cache-Control: no-store and (with a body) Content-Type:
 * application/json.  Reply bodies are added to the output buffer by
 * reference and wiped when libevent has written them, since a secret
 * read puts plaintext in the body.  Every reply, whatever its status, is
 * first written to the audit log (api_audit_request); when that fails the
 * client gets 503 instead.
 */
#ifndef CAP_API_REPLY_H
#define CAP_API_REPLY_H

#include <jansson.h>

#include "api/api_int.h"

/* One row of the error table. */
struct api_err_entry {
	int		 status;	/* HTTP status */
	const char	*code;		/* "not_found" */
	const char	*message;	/* fixed text for the client */
};

/*
 * api_err_lookup maps a CAP_ERR_* code to its row; unknown codes map to
 * 500 internal.
 */
const struct api_err_entry *api_err_lookup(int err);

/* api_status_lookup finds the row of an HTTP error status (500 if none). */
const struct api_err_entry *api_status_lookup(int status);

/* api_reason_phrase: "OK", "Not Found", ... for a status. */
const char *api_reason_phrase(int status);

/*
 * api_reply_json sends status with body (a JSON object; the reference is
 * taken over and released).  A body that cannot be serialised turns into
 * a 500.
 */
void api_reply_json(struct api_ctx *ctx, int status, json_t *body);

/* api_reply_empty sends a reply without body (204). */
void api_reply_empty(struct api_ctx *ctx, int status);

/*
 * api_reply_raw sends status with len bytes of buf (malloc'd, taken over
 * and freed; not wiped, so never secret) as content_type.
 */
void api_reply_raw(struct api_ctx *ctx, int status, const char *content_type,
    char *buf, size_t len);

/*
 * api_reply_err answers with the row of err.  `what` names the failed
 * operation for the server log only; server-side failures (5xx) are logged
 * at warn, client errors at debug.
 */
void api_reply_err(struct api_ctx *ctx, int err, const char *what);

/*
 * api_reply_status answers with the row of an HTTP status.  message
 * replaces the table's text: it must be a constant, client-safe string
 * (it is sent verbatim), or NULL for the table's text.
 */
void api_reply_status(struct api_ctx *ctx, int status, const char *message);

/*
 * api_error_body builds {"error":{"code":..,"message":..}} (NULL on
 * allocation failure).
 */
json_t *api_error_body(const char *code, const char *message);

/*
 * api_body_object parses ctx's body as a JSON object whose keys are all in
 * the NULL-terminated list allowed; on failure it answers 400 with the
 * reason and returns -1.
 */
int api_body_object(struct api_ctx *ctx, const char *const *allowed,
    json_t **out) __attribute__((warn_unused_result));

/*
 * api_json_cert_pem gives certificate x (or DER der/len) as a PEM JSON
 * string, or NULL (bad DER, no memory).
 */
struct x509_st;
json_t *api_json_cert_pem(struct x509_st *x);
json_t *api_json_der_cert_pem(const uint8_t *der, size_t len);

#endif
