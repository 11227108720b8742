/*
 * cmf_pend.c - certificate requests of the CMF that go pending (cmf.h,
 * CMF_MAY_PEND): reserved before the CA is asked, recorded when it has
 * not answered in time, collected when the same client repeats them.
 *
 * A request is known by its hash: SHA-256 over the certificate type, the
 * kind (enrollment or renewal) and the CSR's bytes, under its entity.  It
 * is bound to its authenticator (an initial credential, or the
 * certificate that authenticated it; nothing for an administrator): only
 * that authenticator collects it, and an authenticator has one request
 * pending per entity at most, so one initial credential or one
 * certificate cannot start several issuances.  Every record is written
 * in a transaction that checks its entity exists.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ca/certsvc.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "nfv/cmf.h"
#include "nfv/cmf_int.h"
#include "store/certdb.h"
#include "store/cmfdb.h"

/* Retry-After of a pending request when the CA gave no time of its own. */
#define PEND_RETRY_S	2
/* At most: a CMP client must come back while its transaction is kept. */
#define PEND_RETRY_MAX	60
/* A reservation with no certificate id after this was abandoned. */
#define PEND_STALE_S	(CMF_ISSUE_TIMEOUT_S + 30)
/* An issued request not collected after this frees its client's place. */
#define PEND_COLLECT_S	(24 * 3600)
/* The RFC 5280 reason for what an abandoned request was issued. */
#define REASON_CESSATION	5

void
cmf_pend_auth(const char *initcred, const uint8_t *cert, size_t certlen,
    uint8_t out[CMFDB_HASH_LEN])
{
	crypto_hash_sha256_state st;
	uint8_t h[CMFDB_HASH_LEN];

	memset(out, 0, CMFDB_HASH_LEN);
	crypto_hash_sha256_init(&st);
	if (initcred != NULL && initcred[0] != '\0') {
		crypto_hash_sha256_update(&st, (const unsigned char *)"ic", 3);
		crypto_hash_sha256_update(&st,
		    (const unsigned char *)initcred, strlen(initcred));
	} else if (cert != NULL && certlen > 0) {
		cmf_hash(cert, certlen, h);
		crypto_hash_sha256_update(&st, (const unsigned char *)"cert",
		    5);
		crypto_hash_sha256_update(&st, h, sizeof(h));
	} else
		return;		/* an administrator: all zero */
	crypto_hash_sha256_final(&st, out);
}

/* The hash of a request (see the top of this file). */
static void
req_hash(const char *certtype, int renewal, const uint8_t *csr,
    size_t csrlen, uint8_t out[CMFDB_HASH_LEN])
{
	crypto_hash_sha256_state st;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)certtype,
	    strlen(certtype) + 1);
	crypto_hash_sha256_update(&st, (const unsigned char *)(renewal ?
	    "renew" : "enroll"), renewal ? 6 : 7);
	crypto_hash_sha256_update(&st, csr, csrlen);
	crypto_hash_sha256_final(&st, out);
}

/* When to ask again: the CA's next poll if it set one, else soon. */
static uint32_t
retry_in(const struct certdb_cert *cc)
{
	uint64_t now = cap_now();

	if (cc == NULL || cc->pending.next_try <= now)
		return PEND_RETRY_S;
	return cc->pending.next_try - now > PEND_RETRY_MAX ? PEND_RETRY_MAX :
	    (uint32_t)(cc->pending.next_try - now);
}

/* retry_in of inventory record cert_id. */
static uint32_t
retry_of(cmf *c, const char *cert_id)
{
	struct certdb_cert *cc = NULL;
	uint32_t r;

	if (certdb_get(c->env.s, cert_id, &cc) != 0)
		cc = NULL;
	r = retry_in(cc);
	certdb_cert_free(cc);
	return r;
}

static int
pending_answer(struct cmf_issued *out, uint32_t retry, char *err,
    size_t errlen)
{
	out->retry_after = retry;
	cmf_err(err, errlen, "the CA has not answered yet; repeat the request "
	    "in %u s", retry);
	return CAP_ERR_PENDING;
}

int
cmf_orphan_revoke(cmf *c, const char *entity, const char *cert_id)
{
	char why[256] = "";
	int r;

	r = certsvc_revoke(c->env.certs, cert_id, REASON_CESSATION, why,
	    sizeof(why));
	if (r == 0)
		log_info("cmf: %s: %s of a removed request revoked", entity,
		    cert_id);
	else if (r == CAP_ERR_CONFLICT)
		r = 0;		/* revoked already */
	else
		log_warn("cmf: %s: cannot revoke %s of a removed request: %s",
		    entity, cert_id, why[0] != '\0' ? why : cap_strerror(r));
	return r;
}

/* Revokes now, or notes it for cmf_sweep to try again. */
static void
revoke_or_note(cmf *c, const char *entity, const char *cert_id)
{
	int r = cmf_orphan_revoke(c, entity, cert_id);

	if (r != 0 && r != CAP_ERR_UNSUPPORTED && r != CAP_ERR_NOT_FOUND)
		cmf_orphan_add(c, entity, cert_id);
}

/*
 * Whether the other request of a client is dead, so that it no longer
 * holds the client's one place: a reservation whose request died, a
 * request the CA refused or whose certificate is no longer valid, or one
 * issued but not collected for PEND_COLLECT_S (what it was issued is
 * revoked first; 0 if that fails).
 */
static int
other_dead(cmf *c, const struct cmfdb_pend *o)
{
	struct certdb_cert *cc = NULL;
	uint64_t now = cap_now();
	int r, dead = 0;

	if (o->entity[0] == '\0')
		return 0;	/* unreadable: keep it */
	if (o->cert_id[0] == '\0')
		return o->created + PEND_STALE_S < now;
	if ((r = certdb_get(c->env.s, o->cert_id, &cc)) != 0)
		return r == CAP_ERR_NOT_FOUND;
	if (cc->status == CERTDB_FAILED || cc->status == CERTDB_REVOKED ||
	    cc->status == CERTDB_EXPIRED)
		dead = 1;
	else if (cc->status == CERTDB_ISSUED &&
	    cc->not_before + PEND_COLLECT_S < now &&
	    o->created + PEND_COLLECT_S < now)
		dead = cmf_orphan_revoke(c, o->entity, o->cert_id) == 0;
	certdb_cert_free(cc);
	return dead;
}

/*
 * The repeat of a recorded request, by its authenticator: the
 * certificate when the CA has issued it (the record is taken first, so of
 * two repeats at once one collects), CAP_ERR_PENDING while it has not,
 * the refusal when it refused.
 */
static int
collect(cmf *c, const struct cmf_entity *e, const struct cmf_pend_req *pr,
    const struct cmfdb_pend *rec, int formal, struct cmf_issued *out,
    char *err, size_t errlen)
{
	struct certdb_cert *cc = NULL;
	struct cmfdb_pend taken;
	int r, status;

	if (rec->cert_id[0] == '\0') {
		/* reserved: the first request is still on its way to the CA */
		return pending_answer(out, PEND_RETRY_S, err, errlen);
	}
	if ((r = certdb_get(c->env.s, rec->cert_id, &cc)) != 0 &&
	    r != CAP_ERR_NOT_FOUND)
		return r;
	status = r == 0 ? cc->status : 0;
	if (status == CERTDB_PENDING) {
		r = pending_answer(out, retry_in(cc), err, errlen);
		certdb_cert_free(cc);
		return r;
	}
	certdb_cert_free(cc);
	if ((r = cmfdb_pend_delete(c->env.s, e->id, pr->hash, rec,
	    &taken)) != 0) {
		if (r == CAP_ERR_NOT_FOUND || r == CAP_ERR_CONFLICT) {
			cmf_err(err, errlen, "a concurrent request collected "
			    "this one");
			r = CAP_ERR_CONFLICT;
		}
		return r;
	}
	if (status == CERTDB_FAILED) {
		cmf_err(err, errlen, "the CA refused the request");
		return CAP_ERR_DENIED;
	}
	if (status != CERTDB_ISSUED) {
		cmf_err(err, errlen, "the certificate of this request is no "
		    "longer valid; make a new request");
		return CAP_ERR_GONE;
	}
	r = cmf_finish(c, e, rec->certtype, rec->cert_id, 0, 0, formal, out,
	    err, errlen);
	if (r == 0) {
		log_info("cmf: pending request %s of %s/%s collected",
		    rec->cert_id, e->id, rec->certtype);
		return 0;
	}
	/* kept for another repeat, unless its entity went meanwhile */
	if (r == CAP_ERR_NOT_FOUND ||
	    cmfdb_pend_put(c->env.s, pr->hash, &taken) != 0) {
		revoke_or_note(c, e->id, rec->cert_id);
		cmf_err(err, errlen, "the request is gone");
		r = CAP_ERR_GONE;
	}
	return r;
}

int
cmf_pend_begin(cmf *c, const struct cmf_entity *e, const char *certtype,
    int renewal, const uint8_t *csr, size_t csrlen,
    const uint8_t auth[CMFDB_HASH_LEN], int formal, struct cmf_pend_req *pr,
    struct cmf_issued *out, char *err, size_t errlen)
{
	struct cmfdb_pend ex;
	uint8_t other[CMFDB_HASH_LEN];
	int r, tries;

	memset(pr, 0, sizeof(*pr));
	req_hash(certtype, renewal, csr, csrlen, pr->hash);
	snprintf(pr->rec.entity, sizeof(pr->rec.entity), "%s", e->id);
	snprintf(pr->rec.certtype, sizeof(pr->rec.certtype), "%s", certtype);
	memcpy(pr->rec.auth, auth, CMFDB_HASH_LEN);
	for (tries = 0; tries < 3; tries++) {
		pr->rec.created = cap_now();
		r = cmfdb_pend_reserve(c->env.s, pr->hash, &pr->rec, &ex,
		    other);
		if (r == 0) {
			pr->reserved = 1;
			return 0;
		}
		if (r == CAP_ERR_CONFLICT) {
			/* the client's place: free it if its request is dead */
			if (other_dead(c, &ex) &&
			    ((r = cmfdb_pend_delete(c->env.s, e->id, other, &ex,
			    NULL)) == 0 || r == CAP_ERR_NOT_FOUND))
				continue;
			cmf_err(err, errlen, "another request of this client "
			    "is pending for %s; repeat that one", e->id);
			return CAP_ERR_CONFLICT;
		}
		if (r != CAP_ERR_EXISTS) {
			if (r == CAP_ERR_NOT_FOUND)
				cmf_err(err, errlen, "no entity '%s'", e->id);
			return r;
		}
		if (sodium_memcmp(ex.auth, auth, CMFDB_HASH_LEN) != 0) {
			cmf_err(err, errlen, "this request is pending for "
			    "another client");
			return CAP_ERR_CONFLICT;
		}
		/* a reservation its request abandoned (it died) */
		if (ex.cert_id[0] == '\0' &&
		    ex.created + PEND_STALE_S < cap_now()) {
			if ((r = cmfdb_pend_delete(c->env.s, e->id, pr->hash,
			    &ex, NULL)) != 0 && r != CAP_ERR_NOT_FOUND &&
			    r != CAP_ERR_CONFLICT)
				return r;
			continue;
		}
		r = collect(c, e, pr, &ex, formal, out, err, errlen);
		return r == 0 ? CMF_PEND_COLLECTED : r;
	}
	cmf_err(err, errlen, "the request conflicts with another; retry");
	return CAP_ERR_CONFLICT;
}

void
cmf_pend_started(cmf *c, struct cmf_pend_req *pr, const char *cert_id)
{
	struct cmfdb_pend p;
	int r;

	if (!pr->reserved)
		return;
	p = pr->rec;
	snprintf(p.cert_id, sizeof(p.cert_id), "%s", cert_id);
	if ((r = cmfdb_pend_fill(c->env.s, pr->hash, &p)) != 0) {
		log_warn("cmf: cannot record request %s of %s: %s", cert_id,
		    pr->rec.entity, cap_strerror(r));
		if (r == CAP_ERR_NOT_FOUND || r == CAP_ERR_CONFLICT) {
			/* the entity was removed: nobody may receive it */
			cmf_orphan_add(c, pr->rec.entity, cert_id);
			pr->orphan = 1;
		} else
			pr->fill_err = r;
		return;
	}
	pr->rec = p;
	pr->filled = 1;
}

int
cmf_pend_end(cmf *c, const struct cmf_entity *e, const char *certtype,
    struct cmf_pend_req *pr, int r, const char *cert_id,
    struct cmf_issued *out, char *err, size_t errlen)
{
	int rr;

	(void)certtype;
	if (!pr->reserved)
		return r;
	pr->reserved = 0;
	if (pr->orphan) {
		if (r == 0)
			revoke_or_note(c, e->id, cert_id);
		cmf_err(err, errlen, "entity %s was removed", e->id);
		return CAP_ERR_GONE;
	}
	if (pr->fill_err != 0 && r == CAP_ERR_PENDING) {
		/* unrecorded: nobody could collect it, so it must not stay */
		cmf_orphan_add(c, e->id, cert_id);
		if (cmfdb_pend_delete(c->env.s, e->id, pr->hash, &pr->rec,
		    NULL) != 0)
			log_warn("cmf: the reservation of request %s of %s "
			    "stays until it is stale", cert_id, e->id);
		cmf_err(err, errlen, "the request cannot be kept pending");
		return pr->fill_err;
	}
	if (r == CAP_ERR_PENDING) {
		log_info("cmf: request %s of %s/%s pending", cert_id, e->id,
		    pr->rec.certtype);
		return pending_answer(out, retry_of(c, cert_id), err, errlen);
	}
	/* answered: the record goes (only ours) */
	rr = cmfdb_pend_delete(c->env.s, e->id, pr->hash, &pr->rec, NULL);
	if (rr != 0 && r == 0) {
		struct cmf_entity *now = malloc(sizeof(*now));
		int gone = now != NULL && cmfdb_entity_get(c->env.s, e->id,
		    now) == CAP_ERR_NOT_FOUND;

		free(now);
		if (gone) {
			/* taken by the entity's removal meanwhile */
			revoke_or_note(c, e->id, cert_id);
			cmf_err(err, errlen, "entity %s was removed", e->id);
			return CAP_ERR_GONE;
		}
		if (rr == CAP_ERR_NOT_FOUND || rr == CAP_ERR_CONFLICT) {
			/* a repeat of it collected the certificate first */
			cmf_err(err, errlen, "a concurrent repeat of this "
			    "request received the certificate");
			return CAP_ERR_CONFLICT;
		}
		/* the record stays for the repeat to collect */
		cmf_err(err, errlen, "repeat the request");
		return rr;
	}
	if (rr != 0 && rr != CAP_ERR_NOT_FOUND)
		log_warn("cmf: cannot drop the record of request %s of %s: %s",
		    cert_id, e->id, cap_strerror(rr));
	return r;
}

int
cmf_pend_check(cmf *c, const char *entity, const char *certtype,
    int renewal, const uint8_t *csr, size_t csrlen, uint32_t *retry_after)
{
	struct cmfdb_pend rec;
	struct certdb_cert *cc = NULL;
	uint8_t hash[CMFDB_HASH_LEN];
	int r;

	*retry_after = 0;
	if (c == NULL || entity == NULL || certtype == NULL || csr == NULL ||
	    csrlen == 0 || !cmfdb_id_valid(entity) ||
	    !cmfdb_certtype_valid(certtype))
		return CAP_ERR_NOT_FOUND;
	req_hash(certtype, renewal, csr, csrlen, hash);
	if ((r = cmfdb_pend_get(c->env.s, entity, hash, &rec)) != 0)
		return r;
	if (rec.cert_id[0] == '\0') {
		*retry_after = PEND_RETRY_S;
		return CAP_ERR_PENDING;
	}
	if ((r = certdb_get(c->env.s, rec.cert_id, &cc)) != 0)
		return r == CAP_ERR_NOT_FOUND ? 0 : r;	/* the repeat says */
	if (cc->status == CERTDB_PENDING) {
		*retry_after = retry_in(cc);
		r = CAP_ERR_PENDING;
	}
	certdb_cert_free(cc);
	return r;
}

void
cmf_orphan_add(cmf *c, const char *entity, const char *cert_id)
{
	int r;

	if ((r = cmfdb_orphan_put(c->env.s, cert_id, entity)) != 0)
		log_warn("cmf: %s: cannot note request %s for revocation: %s",
		    entity, cert_id, cap_strerror(r));
	else
		log_info("cmf: %s: request %s is still at the CA; what it is "
		    "issued will be revoked", entity, cert_id);
}

/*
 * Whether a pending record is past keeping: a reservation abandoned for
 * PEND_STALE_S, or a request older than PEND_COLLECT_S that the CA has
 * answered and nobody collected (an issued certificate is revoked first;
 * 0 while that fails).  A request the CA still works on is kept.
 */
static int
record_expired(cmf *c, const struct cmfdb_pend *p, uint64_t now)
{
	struct certdb_cert *cc = NULL;
	int r, done = 0;

	if (p->cert_id[0] == '\0')
		return p->created + PEND_STALE_S < now;
	if (p->created + PEND_COLLECT_S >= now)
		return 0;
	if ((r = certdb_get(c->env.s, p->cert_id, &cc)) != 0)
		return r == CAP_ERR_NOT_FOUND;
	if (cc->status == CERTDB_PENDING)
		done = 0;
	else if (cc->status == CERTDB_ISSUED || cc->status == CERTDB_RENEWING)
		done = cmf_orphan_revoke(c, p->entity, p->cert_id) == 0;
	else
		done = 1;
	certdb_cert_free(cc);
	return done;
}

/* Drops the pending records past keeping (see record_expired). */
static void
sweep_records(cmf *c)
{
	struct cmfdb_pend *v = NULL;
	uint8_t (*h)[CMFDB_HASH_LEN] = NULL;
	uint64_t now = cap_now();
	size_t n = 0, i;
	int r;

	if (cmfdb_pend_list(c->env.s, &v, &h, &n) != 0)
		return;
	for (i = 0; i < n; i++) {
		if (!record_expired(c, &v[i], now))
			continue;
		if ((r = cmfdb_pend_delete(c->env.s, v[i].entity, h[i], &v[i],
		    NULL)) != 0 && r != CAP_ERR_NOT_FOUND &&
		    r != CAP_ERR_CONFLICT)
			log_warn("cmf: cannot drop an old pending request of "
			    "%s: %s", v[i].entity, cap_strerror(r));
		else if (r == 0)
			log_info("cmf: old pending request %s of %s dropped",
			    v[i].cert_id[0] != '\0' ? v[i].cert_id :
			    "(reserved)", v[i].entity);
	}
	free(v);
	free(h);
}

void
cmf_sweep(void *arg)
{
	cmf *c = arg;
	struct cmfdb_orphan *v = NULL;
	struct certdb_cert *cc = NULL;
	size_t n = 0, i;
	int r, status;

	if (c == NULL)
		return;
	sweep_records(c);
	if (cmfdb_orphan_list(c->env.s, &v, &n) != 0)
		return;
	for (i = 0; i < n; i++) {
		if ((r = certdb_get(c->env.s, v[i].cert_id, &cc)) != 0 &&
		    r != CAP_ERR_NOT_FOUND)
			continue;
		status = r == 0 ? cc->status : 0;
		certdb_cert_free(cc);
		cc = NULL;
		if (status == CERTDB_PENDING)
			continue;	/* the CA has not answered yet */
		/* kept for the next sweep while the CA cannot revoke */
		if ((status == CERTDB_ISSUED || status == CERTDB_RENEWING) &&
		    (r = cmf_orphan_revoke(c, v[i].entity,
		    v[i].cert_id)) != 0 && r != CAP_ERR_UNSUPPORTED)
			continue;
		if (cmfdb_orphan_delete(c->env.s, v[i].cert_id) != 0)
			log_warn("cmf: cannot drop orphan %s", v[i].cert_id);
	}
	free(v);
}
