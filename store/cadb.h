/*
 * cadb.h - CA connectors in the store, and what the local CA remembers.
 *
 * Two databases of the LMDB environment (opened by store_open):
 *   cas        'c' name -> connector record (protocol, settings, limits)
 *              'l' name -> local CA state (key id, CA certificate, CRL
 *                          number, parent)
 *   ca_issued  name \0 serial -> issued-certificate record (status,
 *              revocation time and reason), for the local CA's CRL and
 *              OCSP answers
 *
 * Secrets rule: a connector record never holds a secret.  Settings members
 * that carry one (any member whose name is or ends in "secret",
 * "password", "challenge" or "pin") must be a reference string
 * "vault:DOMAIN/NAME#KEY" to a secret stored beforehand (by convention in
 * the reserved domain "_ca"); the connector registry resolves the
 * reference when it builds the connector, and cadb refuses to store a
 * literal value (CAP_ERR_INVALID).
 *
 * All functions return 0 or a negative CAP_ERR_*; nothing returned points
 * into LMDB's map.
 */
#ifndef CAP_STORE_CADB_H
#define CAP_STORE_CADB_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "store/store.h"

#define CADB_PROTOCOL_MAX	15
#define CADB_SETTINGS_MAX	(64 * 1024)	/* bytes of settings JSON */
#define CADB_LIMITS_MAX		1024		/* bytes of limits JSON */
#define CADB_CERT_MAX		(16 * 1024)	/* bytes of a CA certificate */
#define CADB_KEY_ID_MAX		64
#define CADB_SERIAL_MAX		20		/* RFC 5280 serial octets */
#define CADB_SECRET_DOMAIN	"_ca"

struct cadb_conn {
	char		 name[CAP_NAME_MAX + 1];
	char		 protocol[CADB_PROTOCOL_MAX + 1];
	char		*settings;	/* JSON object text, NUL-terminated */
	char		*limits;	/* JSON object text or NULL */
	uint64_t	 created;
};

struct cadb_local {
	char		 key_id[CADB_KEY_ID_MAX + 1];
	uint8_t		*cert;		/* DER of the CA certificate */
	size_t		 certlen;
	uint64_t	 crl_number;	/* last CRL number issued */
	char		 parent[CAP_NAME_MAX + 1];	/* "" for a root */
};

#define CADB_GOOD	1
#define CADB_REVOKED	2

struct cadb_issued {
	uint8_t		 serial[CADB_SERIAL_MAX];
	size_t		 serial_len;	/* 1..CADB_SERIAL_MAX */
	uint8_t		 status;	/* CADB_GOOD or CADB_REVOKED */
	uint8_t		 reason;	/* CRLReason code when revoked */
	uint64_t	 issued;
	uint64_t	 not_after;
	uint64_t	 revoked_at;	/* 0 unless revoked */
};

/* ---- connectors ---- */

/*
 * cadb_conn_put stores a connector; with excl, CAP_ERR_EXISTS if the name
 * is taken.  CAP_ERR_INVALID for a bad name, protocol, non-object JSON or
 * a literal secret; CAP_ERR_TOO_LARGE over the limits above.
 */
int cadb_conn_put(store *s, const struct cadb_conn *c, int excl)
    __attribute__((warn_unused_result));
/* cadb_conn_get copies a connector out; free with cadb_conn_free. */
int cadb_conn_get(store *s, const char *name, struct cadb_conn **out)
    __attribute__((warn_unused_result));
void cadb_conn_free(struct cadb_conn *c);
/* cadb_conn_list returns the sorted names; free with store_names_free. */
int cadb_conn_list(store *s, char ***names, size_t *n)
    __attribute__((warn_unused_result));
/*
 * cadb_conn_delete removes a connector, its local CA state and its issued
 * records in one transaction.  CAP_ERR_NOT_FOUND if absent.
 */
int cadb_conn_delete(store *s, const char *name)
    __attribute__((warn_unused_result));

/*
 * cadb_settings_check: 0 if the JSON text is an object (at most 64 KiB,
 * nesting at most 8) whose secret-bearing members are all "vault:"
 * references, else CAP_ERR_INVALID / CAP_ERR_TOO_LARGE.
 */
int cadb_settings_check(const char *json, size_t len)
    __attribute__((warn_unused_result));

/* ---- local CA ---- */

int cadb_local_put(store *s, const char *name, const struct cadb_local *l)
    __attribute__((warn_unused_result));
/* cadb_local_get: free the result with cadb_local_free. */
int cadb_local_get(store *s, const char *name, struct cadb_local **out)
    __attribute__((warn_unused_result));
void cadb_local_free(struct cadb_local *l);
/*
 * cadb_crl_next increments the CRL number of a local CA and returns it,
 * in one transaction.  CAP_ERR_NOT_FOUND without a state record.
 */
int cadb_crl_next(store *s, const char *name, uint64_t *number)
    __attribute__((warn_unused_result));

/* cadb_issued_put records a new certificate; CAP_ERR_EXISTS for a reused serial. */
int cadb_issued_put(store *s, const char *name, const struct cadb_issued *rec)
    __attribute__((warn_unused_result));
int cadb_issued_get(store *s, const char *name, const uint8_t *serial,
    size_t serial_len, struct cadb_issued *out)
    __attribute__((warn_unused_result));
/*
 * cadb_issued_revoke marks a certificate revoked at `when` with a reason.
 * CAP_ERR_NOT_FOUND for a serial this CA did not issue, CAP_ERR_CONFLICT
 * if it is already revoked.
 */
int cadb_issued_revoke(store *s, const char *name, const uint8_t *serial,
    size_t serial_len, int reason, uint64_t when)
    __attribute__((warn_unused_result));
/*
 * cadb_issued_revoked returns every revoked record of a CA (*out malloc'd,
 * free()).
 */
int cadb_issued_revoked(store *s, const char *name, struct cadb_issued **out,
    size_t *n) __attribute__((warn_unused_result));

/* ---- record codecs (exposed for tests and the fuzz target) ---- */

/* Decoders return CAP_ERR_CORRUPT on anything malformed; never read past len. */
int cadb_record_decode_conn(const uint8_t *buf, size_t len,
    struct cadb_conn *out) __attribute__((warn_unused_result));
int cadb_record_encode_conn(const struct cadb_conn *c, uint8_t **buf,
    size_t *len) __attribute__((warn_unused_result));
/* Frees the fields of a decoded connector (not the struct). */
void cadb_conn_clear(struct cadb_conn *c);
int cadb_record_decode_local(const uint8_t *buf, size_t len,
    struct cadb_local *out) __attribute__((warn_unused_result));
int cadb_record_encode_local(const struct cadb_local *l, uint8_t **buf,
    size_t *len) __attribute__((warn_unused_result));
int cadb_record_decode_issued(const uint8_t *buf, size_t len,
    struct cadb_issued *out) __attribute__((warn_unused_result));
int cadb_record_encode_issued(const struct cadb_issued *rec, uint8_t **buf,
    size_t *len) __attribute__((warn_unused_result));

#endif
