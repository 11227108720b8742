/*
 * certdb.h - the certificate inventory in the store.
 *
 * One record per certificate id (16 random bytes shown as 32 lowercase hex
 * characters): the CA and profile it came from, the token key it certifies,
 * subject and SANs, serial, validity, status, renewal settings, the DER
 * certificate and its chain (issuer first), a bounded history of events
 * (issued, renewed, revoked, expired, alerts) and, while a request waits
 * for the CA, that request (CSR, CA pending id, attempts, next try).
 *
 * A renewal keeps the id: the record then holds the new certificate, and
 * the history keeps the serial and key of the one it superseded.
 *
 * Two index databases are kept in the same transaction as the record:
 * by not_after (for expiring_within and the scheduler) and by CA.
 * Every function returns 0 or a negative CAP_ERR_*.
 */
#ifndef CAP_STORE_CERTDB_H
#define CAP_STORE_CERTDB_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "store/store.h"

#define CERTDB_ID_LEN		32	/* hex characters of an id */
#define CERTDB_PROFILE_MAX	64
#define CERTDB_SUBJECT_MAX	512
#define CERTDB_SAN_MAX		16	/* SANs per certificate */
#define CERTDB_SAN_LEN		255	/* bytes of one SAN */
#define CERTDB_SERIAL_MAX	64	/* hex characters (RFC 5280: 20 bytes) */
#define CERTDB_KEYTYPE_MAX	16
#define CERTDB_DER_MAX		(16 * 1024)	/* one certificate or CSR */
#define CERTDB_CHAIN_MAX	8
#define CERTDB_HISTORY_MAX	32	/* oldest dropped beyond */
#define CERTDB_PENDING_ID_MAX	127
#define CERTDB_RECORD_MAX	(256 * 1024)

enum certdb_status {
	CERTDB_PENDING = 1,	/* waiting for the CA */
	CERTDB_ISSUED = 2,
	CERTDB_RENEWING = 3,	/* issued; a renewal is waiting for the CA */
	CERTDB_REVOKED = 4,
	CERTDB_EXPIRED = 5,
	CERTDB_FAILED = 6,	/* the CA refused a pending request */
};
#define CERTDB_STATUS_LAST	CERTDB_FAILED

enum certdb_event_kind {
	CERTDB_EV_ISSUED = 1,
	CERTDB_EV_SUPERSEDED = 2,	/* serial/key replaced by a renewal */
	CERTDB_EV_REVOKED = 3,
	CERTDB_EV_EXPIRED = 4,
	CERTDB_EV_ALERT = 5,		/* expiry alert; detail = threshold s */
	CERTDB_EV_FAILED = 6,		/* a request the CA refused */
};
#define CERTDB_EV_LAST		CERTDB_EV_FAILED

/* Operation of a pending request. */
enum certdb_op {
	CERTDB_OP_NONE = 0,
	CERTDB_OP_ENROLL = 1,
	CERTDB_OP_RENEW = 2,
};

struct certdb_event {
	uint64_t	time;
	uint8_t		kind;		/* certdb_event_kind */
	uint64_t	detail;		/* alert threshold, revocation reason */
	char		serial[CERTDB_SERIAL_MAX + 1];	/* may be empty */
	char		key_id[CERTDB_ID_LEN + 1];	/* may be empty */
};

struct certdb_pending {
	uint8_t		op;		/* certdb_op; NONE = no request */
	uint8_t		*csr;		/* DER, malloc'd */
	size_t		csrlen;
	char		key_id[CERTDB_ID_LEN + 1];	/* the request's key */
	char		pending_id[CERTDB_PENDING_ID_MAX + 1];	/* CA's */
	uint32_t	attempts;
	uint64_t	next_try;
	uint8_t		flags;		/* CERTDB_PENDING_* */
};

/* The caller verified the request's proof of possession (an RA). */
#define CERTDB_PENDING_POP_VERIFIED	0x1
#define CERTDB_PENDING_FLAGS		CERTDB_PENDING_POP_VERIFIED

struct certdb_cert {
	char		id[CERTDB_ID_LEN + 1];
	char		ca[CAP_NAME_MAX + 1];
	char		profile[CERTDB_PROFILE_MAX + 1];	/* may be empty */
	char		key_id[CERTDB_ID_LEN + 1];	/* empty while pending */
	char		key_type[CERTDB_KEYTYPE_MAX + 1];	/* may be empty */
	char		subject[CERTDB_SUBJECT_MAX + 1];
	char		sans[CERTDB_SAN_MAX][CERTDB_SAN_LEN + 1];
	size_t		nsans;
	char		serial[CERTDB_SERIAL_MAX + 1];	/* empty while pending */
	uint64_t	created;
	uint64_t	not_before;
	uint64_t	not_after;	/* 0 while pending */
	uint64_t	validity;	/* asked for, seconds; 0 = CA's */
	uint8_t		status;		/* certdb_status */
	uint8_t		auto_renew;	/* 0 or 1 */
	uint32_t	renew_fraction;	/* parts per million; 0 = default */
	uint32_t	alerts_sent;	/* bit i: threshold i alerted */
	uint8_t		revoke_reason;
	uint64_t	revoked_at;	/* 0 = not revoked */
	uint8_t		*der;		/* certificate, malloc'd; NULL pending */
	size_t		derlen;
	uint8_t		*chain[CERTDB_CHAIN_MAX];	/* issuer first */
	size_t		chainlen[CERTDB_CHAIN_MAX];
	size_t		nchain;
	struct certdb_event history[CERTDB_HISTORY_MAX];	/* oldest first */
	size_t		nhistory;
	struct certdb_pending pending;
};

/* certdb_cert_new allocates an empty (zeroed) record. */
struct certdb_cert *certdb_cert_new(void);
/* certdb_cert_free frees the record and what it holds; NULL is a no-op. */
void certdb_cert_free(struct certdb_cert *c);
/* certdb_cert_clear frees what c holds and zeroes it. */
void certdb_cert_clear(struct certdb_cert *c);

/* certdb_id_new writes a fresh random id. */
void certdb_id_new(char out[CERTDB_ID_LEN + 1]);
/* certdb_id_valid: 1 if s is 32 lowercase hex characters. */
int certdb_id_valid(const char *s);

/* Names of statuses and events ("issued", "superseded"); NULL if unknown. */
const char *certdb_status_name(int status);
int certdb_status_parse(const char *name);	/* -1 if unknown */
const char *certdb_event_name(int kind);

/*
 * certdb_history_add appends an event, dropping the oldest when full.
 * serial and key_id may be NULL.
 */
void certdb_history_add(struct certdb_cert *c, int kind, uint64_t time,
    uint64_t detail, const char *serial, const char *key_id);

/* certdb_set_der replaces c's certificate with a copy of der. */
int certdb_set_der(struct certdb_cert *c, const uint8_t *der, size_t len)
    __attribute__((warn_unused_result));
/* certdb_chain_push appends a copy of one chain certificate. */
int certdb_chain_push(struct certdb_cert *c, const uint8_t *der, size_t len)
    __attribute__((warn_unused_result));
void certdb_chain_clear(struct certdb_cert *c);
/* certdb_pending_set keeps a copy of csr as the pending request. */
int certdb_pending_set(struct certdb_cert *c, int op, const uint8_t *csr,
    size_t csrlen, const char *key_id) __attribute__((warn_unused_result));
void certdb_pending_clear(struct certdb_cert *c);

/*
 * certdb_put writes c (keyed by c->id) and its index entries in one
 * transaction.  With excl, CAP_ERR_EXISTS if the id is taken.
 * CAP_ERR_INVALID for a record the decoder would refuse.
 */
int certdb_put(store *s, const struct certdb_cert *c, int excl)
    __attribute__((warn_unused_result));

/* certdb_get copies a record out.  CAP_ERR_NOT_FOUND, CAP_ERR_CORRUPT. */
int certdb_get(store *s, const char *id, struct certdb_cert **out)
    __attribute__((warn_unused_result));

/*
 * certdb_update reads the record of id, calls fn on it inside one write
 * transaction and writes it back when fn returns 0 (fn's non-zero result
 * aborts and is returned).  fn may run more than once (map growth), each
 * time on a fresh copy; it must not keep pointers into it.
 */
typedef int (*certdb_update_fn)(struct certdb_cert *c, void *arg);
int certdb_update(store *s, const char *id, certdb_update_fn fn, void *arg)
    __attribute__((warn_unused_result));

/* certdb_delete removes a record and its index entries. */
int certdb_delete(store *s, const char *id) __attribute__((warn_unused_result));

/*
 * A listing filter.  ca NULL: every CA; status 0: every status;
 * not_after_max 0: no bound, else only issued-or-later certificates whose
 * not_after is <= the bound (pending requests have none).
 */
struct certdb_filter {
	const char	*ca;
	int		 status;
	uint64_t	 not_after_max;
};

/*
 * certdb_list returns the ids that pass f, ordered by not_after (pending
 * ones first); free with store_names_free.
 */
int certdb_list(store *s, const struct certdb_filter *f, char ***ids,
    size_t *n) __attribute__((warn_unused_result));

/* ---- codec (exposed for tests and the fuzz target) ---- */

/*
 * certdb_record_decode parses a record of len bytes into *out (which it
 * first zeroes).  CAP_ERR_CORRUPT on anything malformed: truncated,
 * trailing bytes, unknown format, status or event, a field over its
 * limit, an invalid id, CA name or hex string; *out is then left zeroed,
 * owning nothing.  Never reads past len.
 */
int certdb_record_decode(const uint8_t *buf, size_t len,
    struct certdb_cert *out) __attribute__((warn_unused_result));
/* certdb_record_encode serialises c (malloc'd); refuses what decode would. */
int certdb_record_encode(const struct certdb_cert *c, uint8_t **buf,
    size_t *len) __attribute__((warn_unused_result));

#endif
