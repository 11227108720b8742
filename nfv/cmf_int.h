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

/*
 * cmf_issue_from_csr checks csr (DER) against entity e and issues it
 * through certsvc for type t, blocking until the CA answers.  validity
 * 0: the CA's.  The certificate is recorded as held by e; formal: it is
 * also indexed (cmf_cert_lookup) and spends e's initial credentials of
 * its type, else it is an initial certificate, marked initial.
 */
int cmf_issue_from_csr(cmf *c, const struct cmf_entity *e,
    const struct cmf_certtype *t, const uint8_t *csr, size_t csrlen,
    unsigned flags, uint64_t validity, int formal, struct cmf_issued *out,
    char *err, size_t errlen);

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
