/*
 * audit.h - the tamper-evident audit log.
 *
 * One JSON object per line, appended before the response is sent.  Each
 * entry carries its sequence number, the SHA-256 of the previous entry
 * ("prev") and its own hash ("hash" = SHA-256 over prev || the entry
 * serialised without "hash"), so an edited, removed or reordered line
 * breaks the chain at a place audit_verify names.  Secret names never
 * appear in clear: the caller passes them through audit_name_hmac, keyed
 * by a key that lives in the token.
 *
 * Thread-safe: appends are serialised.
 */
#ifndef CAP_AUDIT_H
#define CAP_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define AUDIT_LINE_MAX	(16 * 1024)	/* longest entry accepted by verify */
#define AUDIT_HASH_HEX	65

typedef struct audit audit;

/* When an entry is made durable (fdatasync) before audit_append returns. */
#define AUDIT_SYNC_NO		0	/* never: write(2) only */
#define AUDIT_SYNC_ALL		1	/* every entry */
#define AUDIT_SYNC_CHANGES	2	/* entries of requests that may change state */

/* HMAC-SHA256 provider (the token); returns 0 and 32 bytes in mac. */
typedef int (*audit_hmac_fn)(void *ctx, const uint8_t *data, size_t len,
    uint8_t mac[32]);

struct audit_event {
	const char	*request_id;
	const char	*identity;	/* "CN=admin", "token:<accessor>" */
	const char	*op;		/* "secret.put", "domain.create" ... */
	const char	*method;
	const char	*path;		/* already free of secret names */
	const char	*domain;	/* or NULL */
	const char	*name;		/* secret name in clear, HMAC'd here; or NULL */
	int		 status;	/* HTTP status sent */
	const char	*outcome;	/* "ok", "denied", "error" */
	uint64_t	 duration_us;
	/*
	 * NULL, or "key", "value", ..., NULL: what an action the daemon took
	 * on its own touched (notification, entity and certificate ids),
	 * written as the object "facts"; never a secret.
	 */
	const char *const *facts;
};

/*
 * audit_open opens (creating 0600) the log file at path, reads the last
 * entry to continue the chain, and refuses (CAP_ERR_CORRUPT) a log whose
 * last line does not parse.  hmac/ctx key the name HMAC; sync is one of
 * AUDIT_SYNC_*: every entry is written (write(2)) before audit_append
 * returns, so a killed daemon loses none; the mode says which entries are
 * also flushed to the disk, which only a power loss would need.
 */
int audit_open(const char *path, int sync, audit_hmac_fn hmac, void *ctx,
    audit **out) __attribute__((warn_unused_result));
void audit_free(audit *a);

/* audit_append writes one entry; CAP_ERR_IO if it could not be written. */
int audit_append(audit *a, const struct audit_event *ev)
    __attribute__((warn_unused_result));

/*
 * audit_name_hmac writes the hex HMAC of a secret name (first 16 bytes,
 * 32 hex characters) for paths and entries.
 */
int audit_name_hmac(audit *a, const char *name, char out[33])
    __attribute__((warn_unused_result));

/*
 * audit_verify reads a log from f and checks every line's hash, the chain
 * and the sequence.  Returns 0 when intact (*count set), or CAP_ERR_CRYPTO
 * with *bad_line the 1-based line of the first bad entry and why in reason.
 */
int audit_verify(FILE *f, uint64_t *count, uint64_t *bad_line, char *reason,
    size_t reasonlen) __attribute__((warn_unused_result));

/*
 * audit_tail copies the last n lines of the log into a malloc'd buffer
 * (for GET /v1/audit).
 */
int audit_tail(audit *a, size_t n, char **buf, size_t *len)
    __attribute__((warn_unused_result));

#endif
