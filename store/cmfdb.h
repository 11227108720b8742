/*
 * cmfdb.h - what the NFV Certificate Management Function (nfv/cmf.h)
 * keeps in the store (cmfdb.c; the initial credentials in cmfdb_ic.c).
 *
 * Databases of the LMDB environment (opened by store_open):
 *   cmf_ents      entity id -> entity record (struct cmf_entity)
 *   cmf_ents_par  parent \0 id -> "" (the children of an entity)
 *   cmf_ics       reference (32 hex) -> initial credential record
 *   cmf_ics_cert  SHA-256(initial certificate DER) -> reference
 *   cmf_certs     SHA-256(certificate DER) -> entity id, cert id, certtype
 *   cmf_pend      entity id \0 request hash -> pending request
 *   cmf_pend_auth entity id \0 authenticator -> its pending request's key
 *   cmf_orphans   inventory id -> entity id (cmfdb_pend.c)
 *   cmf_shared    VNFC entity id \0 certtype -> key id (the P2 shared key)
 *   cmf_lcm       notification id -> LCM occurrence record (nfv/lcm.c)
 *
 * An entity and its parent index entry, and an initial credential and its
 * certificate index entry, are written in one transaction.  Nothing
 * returned points into LMDB's map.  Every function returns 0 or a
 * negative CAP_ERR_*: CAP_ERR_INVALID for arguments the encoder refuses,
 * CAP_ERR_NOT_FOUND, CAP_ERR_EXISTS, CAP_ERR_CORRUPT for a stored record
 * that does not decode.
 */
#ifndef CAP_STORE_CMFDB_H
#define CAP_STORE_CMFDB_H

#include <stddef.h>
#include <stdint.h>

#include "nfv/cmf.h"
#include "store/store.h"

#define CMFDB_ENTITY_MAX	(64 * 1024)	/* bytes of an entity record */
#define CMFDB_HASH_LEN		32		/* SHA-256 */
#define CMFDB_LCM_ID_MAX	128		/* bytes of a notification id */
#define CMFDB_LCM_OP_MAX	32		/* "INSTANTIATE", ... */
#define CMFDB_LCM_SUMMARY_MAX	(16 * 1024)	/* bytes of summary JSON */
#define CMFDB_LCM_MAX		(CMFDB_LCM_SUMMARY_MAX + 1024)

/* ---- entities ---- */

/* With excl, CAP_ERR_EXISTS when the id is taken. */
int cmfdb_entity_put(store *s, const struct cmf_entity *e, int excl)
    __attribute__((warn_unused_result));
int cmfdb_entity_get(store *s, const char *id, struct cmf_entity *out)
    __attribute__((warn_unused_result));
/*
 * cmfdb_entity_update reads entity id, calls fn on a copy inside one
 * write transaction and writes it back when fn returns 0 (fn's non-zero
 * result aborts and is returned).  fn may run more than once.
 */
typedef int (*cmfdb_entity_fn)(struct cmf_entity *e, void *arg);
int cmfdb_entity_update(store *s, const char *id, cmfdb_entity_fn fn,
    void *arg) __attribute__((warn_unused_result));
/* final (may be NULL) receives the record as it was when deleted. */
int cmfdb_entity_delete(store *s, const char *id, struct cmf_entity *final)
    __attribute__((warn_unused_result));
/*
 * cmfdb_entity_list gives the ids of every entity (parent NULL) or of the
 * children of parent ("" : the top-level ones), in id order; free with
 * store_names_free.
 */
int cmfdb_entity_list(store *s, const char *parent, char ***ids, size_t *n)
    __attribute__((warn_unused_result));

/* ---- initial credentials ---- */

struct cmfdb_initcred {
	struct cmf_initcred	ic;		/* ref, kind, entity, ... */
	uint64_t		created;
	uint64_t		claimed_at;	/* 0 unless ic.claimed */
	uint8_t			cert_hash[CMFDB_HASH_LEN];	/* CMF_IC_CERT */
};

/* With excl, CAP_ERR_EXISTS when the reference is taken. */
int cmfdb_ic_put(store *s, const struct cmfdb_initcred *c, int excl)
    __attribute__((warn_unused_result));
int cmfdb_ic_get(store *s, const char *ref, struct cmfdb_initcred *out)
    __attribute__((warn_unused_result));
/* cmfdb_ic_find_cert finds the credential of an initial certificate. */
int cmfdb_ic_find_cert(store *s, const uint8_t hash[CMFDB_HASH_LEN],
    struct cmfdb_initcred *out) __attribute__((warn_unused_result));
/*
 * cmfdb_ic_claim marks ref claimed at now with a fresh random claim token
 * (ic.claim_token) in one write transaction: CAP_ERR_NOT_FOUND when
 * unknown, CAP_ERR_GONE when expires <= now, CAP_ERR_CONFLICT when
 * claimed less than stale seconds ago (an older claim was abandoned and
 * is taken over, with a new token).  out (may be NULL) receives the
 * claimed record and its token.
 */
int cmfdb_ic_claim(store *s, const char *ref, uint64_t now, uint64_t stale,
    struct cmfdb_initcred *out) __attribute__((warn_unused_result));
/*
 * cmfdb_ic_release clears the claim of ref when token (CMF_CLAIM_TOKEN_LEN
 * bytes) is its current claim token; CAP_ERR_CONFLICT (nothing changed)
 * when it is not claimed or claimed with another token.
 */
int cmfdb_ic_release(store *s, const char *ref, const uint8_t *token)
    __attribute__((warn_unused_result));
/* cmfdb_ic_delete removes ref and its certificate index entry. */
int cmfdb_ic_delete(store *s, const char *ref)
    __attribute__((warn_unused_result));
/*
 * cmfdb_ic_delete_claimed is cmfdb_ic_delete in one transaction with the
 * check of cmfdb_ic_release: CAP_ERR_CONFLICT (nothing changed) unless
 * ref is claimed with token.
 */
int cmfdb_ic_delete_claimed(store *s, const char *ref, const uint8_t *token)
    __attribute__((warn_unused_result));
/*
 * cmfdb_ic_list gives the credentials of entity id (every one when id is
 * NULL) in reference order; free *out with free().
 */
int cmfdb_ic_list(store *s, const char *id, struct cmfdb_initcred **out,
    size_t *n) __attribute__((warn_unused_result));

/* ---- certificate index ---- */

struct cmfdb_certref {
	char	entity[CMF_ID_MAX + 1];
	char	cert_id[CERTDB_ID_LEN + 1];
	char	certtype[CMF_CERTTYPE_MAX + 1];
};

int cmfdb_cert_put(store *s, const uint8_t hash[CMFDB_HASH_LEN],
    const struct cmfdb_certref *ref) __attribute__((warn_unused_result));
int cmfdb_cert_get(store *s, const uint8_t hash[CMFDB_HASH_LEN],
    struct cmfdb_certref *out) __attribute__((warn_unused_result));
int cmfdb_cert_delete(store *s, const uint8_t hash[CMFDB_HASH_LEN])
    __attribute__((warn_unused_result));

/* ---- pending requests (store/cmfdb_pend.c) ---- */

/*
 * A request answered "pending", under entity \0 its hash (the CMF's).
 * auth names who made it (all zero: an administrator); cert_id is "" while
 * the request is only reserved (the CA not asked yet, or no answer).
 */
struct cmfdb_pend {
	char		entity[CMF_ID_MAX + 1];
	char		certtype[CMF_CERTTYPE_MAX + 1];
	char		cert_id[CERTDB_ID_LEN + 1];
	uint8_t		auth[CMFDB_HASH_LEN];
	uint64_t	created;
};

/*
 * cmfdb_pend_reserve writes p (its cert_id "") under hash in one write
 * transaction, unless: the entity is gone (CAP_ERR_NOT_FOUND); a record
 * is under hash already (CAP_ERR_EXISTS, *existing is it); p->auth, not
 * all zero, has another request pending for the entity
 * (CAP_ERR_CONFLICT, *existing is that one and other, if not NULL, its
 * hash, when it reads; else *existing is zeroed).
 */
int cmfdb_pend_reserve(store *s, const uint8_t hash[CMFDB_HASH_LEN],
    const struct cmfdb_pend *p, struct cmfdb_pend *existing,
    uint8_t other[CMFDB_HASH_LEN]) __attribute__((warn_unused_result));
/*
 * cmfdb_pend_fill writes p (its cert_id set) over its reservation, only
 * while that is still the reservation p made (same auth and created, no
 * cert_id) and the entity exists (CAP_ERR_CONFLICT, CAP_ERR_NOT_FOUND
 * otherwise).
 */
int cmfdb_pend_fill(store *s, const uint8_t hash[CMFDB_HASH_LEN],
    const struct cmfdb_pend *p) __attribute__((warn_unused_result));
/*
 * cmfdb_pend_put writes p back (while its entity exists, no record is
 * under hash (CAP_ERR_EXISTS) and its client has no other request
 * pending: CAP_ERR_CONFLICT).
 */
int cmfdb_pend_put(store *s, const uint8_t hash[CMFDB_HASH_LEN],
    const struct cmfdb_pend *p) __attribute__((warn_unused_result));
int cmfdb_pend_get(store *s, const char *entity,
    const uint8_t hash[CMFDB_HASH_LEN], struct cmfdb_pend *out)
    __attribute__((warn_unused_result));
/*
 * cmfdb_pend_delete removes the record (old, may be NULL, receives it)
 * and its authenticator's entry; CAP_ERR_NOT_FOUND when there is none, so
 * of two deletes one succeeds.  With match, only when the record is that
 * one (same cert_id and created; CAP_ERR_CONFLICT otherwise).
 */
int cmfdb_pend_delete(store *s, const char *entity,
    const uint8_t hash[CMFDB_HASH_LEN], const struct cmfdb_pend *match,
    struct cmfdb_pend *old) __attribute__((warn_unused_result));
/*
 * cmfdb_pend_take_all removes every pending request of entity and gives
 * them (*out malloc'd, *n of them).
 */
int cmfdb_pend_take_all(store *s, const char *entity,
    struct cmfdb_pend **out, size_t *n) __attribute__((warn_unused_result));

/*
 * cmfdb_pend_list gives every pending request (*out) and its hash
 * (*hashes), both malloc'd, *n of them.
 */
int cmfdb_pend_list(store *s, struct cmfdb_pend **out,
    uint8_t (**hashes)[CMFDB_HASH_LEN], size_t *n)
    __attribute__((warn_unused_result));

/*
 * Orphans: requests still at the CA when their entity was removed; the
 * CMF revokes what they are issued (cmf_sweep).  cmfdb_orphan_list gives
 * them all (*out malloc'd).
 */
struct cmfdb_orphan {
	char	cert_id[CERTDB_ID_LEN + 1];
	char	entity[CMF_ID_MAX + 1];
};
int cmfdb_orphan_put(store *s, const char *cert_id, const char *entity)
    __attribute__((warn_unused_result));
int cmfdb_orphan_delete(store *s, const char *cert_id)
    __attribute__((warn_unused_result));
int cmfdb_orphan_list(store *s, struct cmfdb_orphan **out, size_t *n)
    __attribute__((warn_unused_result));

/* ---- P2 shared keys ---- */

int cmfdb_shared_put(store *s, const char *vnfc, const char *certtype,
    const char key_id[CERTDB_ID_LEN + 1]) __attribute__((warn_unused_result));
int cmfdb_shared_get(store *s, const char *vnfc, const char *certtype,
    char key_id[CERTDB_ID_LEN + 1]) __attribute__((warn_unused_result));
int cmfdb_shared_delete(store *s, const char *vnfc, const char *certtype)
    __attribute__((warn_unused_result));

/* ---- LCM occurrence log ---- */

struct cmfdb_lcm {
	char		id[CMFDB_LCM_ID_MAX + 1];	/* notification id */
	uint64_t	time;
	char		vnf_instance_id[CMF_ID_MAX + 1];
	char		operation[CMFDB_LCM_OP_MAX + 1];
	char		*summary;	/* JSON text, malloc'd; may be NULL */
	size_t		summarylen;	/* 0..CMFDB_LCM_SUMMARY_MAX */
};

/*
 * cmfdb_lcm_put records one notification: CAP_ERR_EXISTS when its id is
 * already recorded (nothing changed).  The id is 1..128 bytes of text
 * without control characters; vnf_instance_id 0..64, operation 0..32.
 */
int cmfdb_lcm_put(store *s, const struct cmfdb_lcm *rec)
    __attribute__((warn_unused_result));
/* cmfdb_lcm_get copies the record of id out (release: cmfdb_lcm_clear). */
int cmfdb_lcm_get(store *s, const char *id, struct cmfdb_lcm *out)
    __attribute__((warn_unused_result));
/* cmfdb_lcm_delete removes the record of id. */
int cmfdb_lcm_delete(store *s, const char *id)
    __attribute__((warn_unused_result));
/* cmfdb_lcm_clear frees what rec holds and zeroes it. */
void cmfdb_lcm_clear(struct cmfdb_lcm *rec);

/* ---- codecs (exposed for tests and the fuzz target) ---- */

/*
 * Each decoder parses a record of len bytes into *out (zeroed first);
 * CAP_ERR_CORRUPT on anything malformed (truncated, trailing bytes,
 * unknown format or enum value, a field over its limit or with bytes its
 * rule refuses), *out then left zeroed and owning nothing.  Never reads
 * past len.  Encoders refuse (CAP_ERR_INVALID) what decoders would.
 */
int cmfdb_entity_decode(const uint8_t *buf, size_t len,
    struct cmf_entity *out) __attribute__((warn_unused_result));
int cmfdb_entity_encode(const struct cmf_entity *e, uint8_t **buf,
    size_t *len) __attribute__((warn_unused_result));
int cmfdb_ic_decode(const uint8_t *buf, size_t len,
    struct cmfdb_initcred *out) __attribute__((warn_unused_result));
int cmfdb_ic_encode(const struct cmfdb_initcred *c, uint8_t **buf,
    size_t *len) __attribute__((warn_unused_result));
int cmfdb_certref_decode(const uint8_t *buf, size_t len,
    struct cmfdb_certref *out) __attribute__((warn_unused_result));
int cmfdb_pend_decode(const uint8_t *buf, size_t len, struct cmfdb_pend *out)
    __attribute__((warn_unused_result));
int cmfdb_pend_encode(const struct cmfdb_pend *p, uint8_t **buf, size_t *len)
    __attribute__((warn_unused_result));
int cmfdb_lcm_decode(const uint8_t *buf, size_t len, struct cmfdb_lcm *out)
    __attribute__((warn_unused_result));
int cmfdb_lcm_encode(const struct cmfdb_lcm *rec, uint8_t **buf,
    size_t *len) __attribute__((warn_unused_result));

/*
 * cmfdb_id_valid: 1 if s is an entity id: a name cap_name_valid accepts
 * ([A-Za-z0-9._-], not starting with '.' or '-', so that it routes as a
 * path segment of /cmf/v1/entities/{id}) of at most CMF_ID_MAX bytes.
 */
int cmfdb_id_valid(const char *s);
/* cmfdb_certtype_valid: 1 if s is [A-Z0-9_], 1..32. */
int cmfdb_certtype_valid(const char *s);

#endif
