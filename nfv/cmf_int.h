/*
 * cmf_int.h - what the files of the CMF (nfv/cmf*.c) share; not part of
 * the contract.
 */
#ifndef CAP_NFV_CMF_INT_H
#define CAP_NFV_CMF_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "nfv/cmf.h"
#include "store/cmfdb.h"

/* The vault domain of bootstrap token secrets, made on first use. */
#define CMF_VAULT_DOMAIN	"_cmf"
/* The rule of cmfdb_id_valid, for a reason given to a client. */
#define CMF_ID_RULE \
	"1..64 of [A-Za-z0-9._-], not starting with '.' or '-'"
/* A claim older than this was abandoned (its enrollment died). */
#define CMF_CLAIM_STALE_S	(2 * CMF_ISSUE_TIMEOUT_S)

struct cmf {
	struct cmf_env	 env;
	pthread_mutex_t	 mtx;	/* P2 shared keys, the vault domain */
	int		 domain_ready;
	pthread_mutex_t	 jobs_mtx;	/* the next three */
	pthread_cond_t	 jobs_cv;	/* jobs reached 0 */
	int		 jobs;		/* in flight (cmf_job_begin) */
	int		 draining;	/* cmf_free started: no new jobs */
};

void cmf_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The certificate type name of entity e, or NULL. */
const struct cmf_certtype *cmf_type_find(const struct cmf_entity *e,
    const char *name);

/* SHA-256 of a DER certificate. */
void cmf_hash(const uint8_t *der, size_t len, uint8_t out[CMFDB_HASH_LEN]);

/* Internal flag of cmf_issue_from_csr: the request renews a certificate. */
#define CMF_RENEWAL	0x100

/*
 * cmf_issue_from_csr checks csr (DER) against entity e and issues it
 * through certsvc for type t, blocking until the CA answers (with
 * CMF_MAY_PEND: see cmf.h; auth is who asks, cmf_pend_auth, NULL for an
 * administrator).  validity 0: the CA's.  The certificate is recorded as
 * held by e; formal: it is also indexed (cmf_cert_lookup) and spends e's
 * initial credentials of its type, else it is an initial certificate,
 * marked initial.
 */
int cmf_issue_from_csr(cmf *c, const struct cmf_entity *e,
    const struct cmf_certtype *t, const uint8_t *csr, size_t csrlen,
    unsigned flags, const uint8_t *auth, uint64_t validity, int formal,
    struct cmf_issued *out, char *err, size_t errlen);

/*
 * cmf_finish hands over certificate cert_id (issued) as out and records
 * it with entity e (see cmf_issue_from_csr for formal).
 */
int cmf_finish(cmf *c, const struct cmf_entity *e, const char *certtype,
    const char *cert_id, int shared, int delegated, int formal,
    struct cmf_issued *out, char *err, size_t errlen);

/*
 * cmf_orphan_revoke revokes certificate cert_id, issued for a request of
 * entity that nobody can receive any more (the entity was removed); 0
 * also when it was revoked already.
 */
int cmf_orphan_revoke(cmf *c, const char *entity, const char *cert_id);
/*
 * cmf_orphan_add notes request cert_id of removed entity, still at the CA:
 * cmf_sweep revokes what it is issued.
 */
void cmf_orphan_add(cmf *c, const char *entity, const char *cert_id);

/* ---- pending requests (cmf_pend.c) ---- */

/* A request that may go pending, between cmf_pend_begin and _end. */
struct cmf_pend_req {
	uint8_t		hash[CMFDB_HASH_LEN];
	struct cmfdb_pend rec;		/* the reservation as written */
	int		reserved;	/* the caller asks the CA, then _end */
	int		filled;		/* cmf_pend_started recorded it */
	int		orphan;		/* ... or found its entity gone */
	int		fill_err;	/* ... or failed so (CAP_ERR_*) */
};
#define CMF_PEND_COLLECTED	1

/*
 * cmf_pend_auth names an authenticator: the initial credential initcred
 * (its reference), else the certificate cert (DER), else all zero (an
 * administrator, whose requests are not limited).
 */
void cmf_pend_auth(const char *initcred, const uint8_t *cert, size_t certlen,
    uint8_t out[CMFDB_HASH_LEN]);
/*
 * cmf_pend_begin looks the request up: CMF_PEND_COLLECTED with out filled
 * when it was pending and the CA issued it; CAP_ERR_PENDING (with
 * out->retry_after) while it is still pending; CAP_ERR_CONFLICT when it is
 * another client's, or auth has another request pending for e; the CA's
 * refusal; or 0 with pr->reserved: a new request, reserved, to be sent to
 * the CA and then handed to cmf_pend_end.
 */
int cmf_pend_begin(cmf *c, const struct cmf_entity *e, const char *certtype,
    int renewal, const uint8_t *csr, size_t csrlen,
    const uint8_t auth[CMFDB_HASH_LEN], int formal, struct cmf_pend_req *pr,
    struct cmf_issued *out, char *err, size_t errlen);
/*
 * cmf_pend_started records the inventory id of a reserved request once
 * certsvc took it, before waiting for the CA, so that a restart finds
 * it; when the entity was removed meanwhile, the request becomes an
 * orphan.
 */
void cmf_pend_started(cmf *c, struct cmf_pend_req *pr, const char *cert_id);
/*
 * cmf_pend_end follows the CA's answer r (cert_id its inventory id), for
 * every reserved request: CAP_ERR_PENDING keeps the record (and is
 * returned with out->retry_after); anything else drops it and is returned
 * as it is, except that a certificate whose record its entity's removal
 * took meanwhile is revoked (CAP_ERR_GONE).
 */
int cmf_pend_end(cmf *c, const struct cmf_entity *e, const char *certtype,
    struct cmf_pend_req *pr, int r, const char *cert_id,
    struct cmf_issued *out, char *err, size_t errlen);

/* A name from a request (n bytes), made safe to quote in a reason. */
void cmf_quote_name(char *dst, size_t dstsz, const unsigned char *p,
    size_t n);
/* Parses an IPv4 or IPv6 address into bin (*len 4 or 16). */
int cmf_ip_parse(const char *s, uint8_t bin[16], size_t *len);
/* The scope of a P2 shared key: the VNFC an instance belongs to. */
const char *cmf_shared_scope(const struct cmf_entity *e);
/*
 * cmf_shared_gc destroys the shared key of scope/certtype when no entity
 * of the scope holds a certificate for it any more; c->mtx held.
 */
void cmf_shared_gc(cmf *c, const char *scope, const char *certtype);

/* cmf_initcred_drop removes a credential and its secret. */
int cmf_initcred_drop(cmf *c, const char *ref);
/*
 * cmf_initcred_drop_claimed is cmf_initcred_drop only while ref is
 * claimed with token (CAP_ERR_CONFLICT, nothing removed, otherwise).
 */
int cmf_initcred_drop_claimed(cmf *c, const char *ref, const uint8_t *token);
/* cmf_initcred_spent drops the credentials of e for certtype. */
void cmf_initcred_spent(cmf *c, const char *entity, const char *certtype);

#endif
