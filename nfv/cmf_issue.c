/*
 * cmf_issue.c - certificates of the CMF: issued from CSRs (subject rules)
 * or with keys made in the token under the binding policy, looked up,
 * renewed and revoked.
 *
 * certsvc answers on a flow thread; the issuing calls here wait for that
 * answer on a condition variable, bounded by CMF_ISSUE_TIMEOUT_S, so the
 * enrolment server and the REST handlers (from a deferred job) get a
 * plain blocking call.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "ca/certsvc.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "crypto/keys.h"
#include "nfv/cmf.h"
#include "nfv/cmf_int.h"
#include "store/certdb.h"
#include "store/cmfdb.h"

/* ---- waiting for certsvc ---- */

struct waiter {
	pthread_mutex_t	 m;
	pthread_cond_t	 cv;
	int		 refs;
	int		 done;
	int		 result;
	char		 reason[256];
};

static struct waiter *
waiter_new(void)
{
	struct waiter *w;
	pthread_condattr_t ca;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	pthread_mutex_init(&w->m, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	w->refs = 2;	/* the caller and the completion */
	return w;
}

static void
waiter_put(struct waiter *w)
{
	int last;

	pthread_mutex_lock(&w->m);
	last = --w->refs == 0;
	pthread_mutex_unlock(&w->m);
	if (!last)
		return;
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->m);
	free(w);
}

static void
waiter_done(void *arg, const char *id, int result, const char *reason)
{
	struct waiter *w = arg;

	(void)id;
	pthread_mutex_lock(&w->m);
	w->done = 1;
	w->result = result;
	snprintf(w->reason, sizeof(w->reason), "%s",
	    reason != NULL ? reason : "");
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->m);
	waiter_put(w);
}

/*
 * Waits secs for the answer (0: takes none, even one already there).
 * Then CAP_ERR_PENDING when may_pend, else CAP_ERR_UNAVAILABLE.
 */
static int
waiter_wait(struct waiter *w, uint32_t secs, int may_pend, char *err,
    size_t errlen)
{
	struct timespec dl;
	int r = 0;

	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += secs;
	pthread_mutex_lock(&w->m);
	while (secs > 0 && !w->done && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&w->cv, &w->m, &dl);
	if (secs == 0 || !w->done) {
		if (may_pend)
			r = CAP_ERR_PENDING;
		else {
			cmf_err(err, errlen, "the CA did not answer within "
			    "%u s", secs);
			r = CAP_ERR_UNAVAILABLE;
		}
	} else {
		r = w->result;
		if (r != 0)
			cmf_err(err, errlen, "%s", w->reason[0] != '\0' ?
			    w->reason : cap_strerror(r));
	}
	pthread_mutex_unlock(&w->m);
	return r;
}

/*
 * Follows a certsvc_enroll* call that returned r: waits for its answer
 * (as waiter_wait), or, when it refused (no completion will come), leaves
 * w to the caller alone and returns r with a reason.
 */
static int
waiter_started(struct waiter *w, int r, uint32_t retry, uint32_t secs,
    int may_pend, char *err, size_t errlen)
{
	if (r == 0)
		return waiter_wait(w, secs, may_pend, err, errlen);
	w->refs = 1;
	if (r == CAP_ERR_RATE)
		cmf_err(err, errlen, "the CA is busy; retry in %u s", retry);
	return r;
}

/* ---- issuing ---- */

struct held_arg {
	struct cmf_held	h;
	/* held certificates no longer valid, dropped to make room */
	char		(*gone)[CERTDB_ID_LEN + 1];
	size_t		ngone;
};

static int
held_add(struct cmf_entity *e, void *arg)
{
	struct held_arg *a = arg;
	size_t i, j, k;

	for (i = 0, k = 0; i < e->ncerts; i++) {
		for (j = 0; j < a->ngone; j++)
			if (strcmp(e->certs[i].cert_id, a->gone[j]) == 0)
				break;
		if (j == a->ngone)
			e->certs[k++] = e->certs[i];
	}
	e->ncerts = k;
	if (e->ncerts >= CMF_CERTS_MAX)
		return CAP_ERR_TOO_LARGE;
	e->certs[e->ncerts++] = a->h;
	return 0;
}

/*
 * held_prune lists, when e's list of held certificates is full, those
 * that are no longer valid (revoked, expired, failed or gone from the
 * inventory): nothing is left to revoke for them.  Valid ones stay, so
 * that removing the entity still revokes every one of them.
 */
static int
held_prune(cmf *c, const struct cmf_entity *e, struct held_arg *a)
{
	struct certdb_cert *cc;
	size_t i;
	int r;

	a->gone = NULL;
	a->ngone = 0;
	if (e->ncerts < CMF_CERTS_MAX)
		return 0;
	if ((a->gone = calloc(e->ncerts, sizeof(*a->gone))) == NULL)
		return CAP_ERR_NOMEM;
	for (i = 0; i < e->ncerts; i++) {
		cc = NULL;
		r = certdb_get(c->env.s, e->certs[i].cert_id, &cc);
		if (r == CAP_ERR_NOT_FOUND || (r == 0 &&
		    (cc->status == CERTDB_REVOKED ||
		    cc->status == CERTDB_EXPIRED ||
		    cc->status == CERTDB_FAILED)))
			snprintf(a->gone[a->ngone++], CERTDB_ID_LEN + 1, "%s",
			    e->certs[i].cert_id);
		certdb_cert_free(cc);
		if (r != 0 && r != CAP_ERR_NOT_FOUND)
			return r;
	}
	return 0;
}

/*
 * Loads the issued certificate and chain and records it as held by e;
 * formal: also indexes it, else marks it an initial certificate.
 */
int
cmf_finish(cmf *c, const struct cmf_entity *e, const char *certtype,
    const char *cert_id, int shared, int delegated, int formal,
    struct cmf_issued *out, char *err, size_t errlen)
{
	struct certdb_cert *cc = NULL;
	struct held_arg ha;
	struct cmfdb_certref ref;
	uint8_t hash[CMFDB_HASH_LEN];
	const unsigned char *p;
	X509 *x;
	size_t i;
	int r;

	memset(out, 0, sizeof(*out));
	memset(&ha, 0, sizeof(ha));
	if ((r = certdb_get(c->env.s, cert_id, &cc)) != 0)
		goto out;
	if (cc->status != CERTDB_ISSUED || cc->der == NULL) {
		cmf_err(err, errlen, "the certificate is not issued");
		r = CAP_ERR_CONFLICT;
		goto out;
	}
	p = cc->der;
	if ((out->cert = d2i_X509(NULL, &p, (long)cc->derlen)) == NULL ||
	    (out->chain = sk_X509_new_null()) == NULL) {
		r = CAP_ERR_CORRUPT;
		goto out;
	}
	for (i = 0; i < cc->nchain; i++) {
		p = cc->chain[i];
		if ((x = d2i_X509(NULL, &p, (long)cc->chainlen[i])) == NULL) {
			r = CAP_ERR_CORRUPT;
			goto out;
		}
		if (!sk_X509_push(out->chain, x)) {
			X509_free(x);
			r = CAP_ERR_NOMEM;
			goto out;
		}
	}
	snprintf(out->cert_id, sizeof(out->cert_id), "%s", cc->id);
	if (delegated)
		snprintf(out->key_id, sizeof(out->key_id), "%s", cc->key_id);
	/* held, initial ones too: removing the entity revokes them all */
	memset(&ha, 0, sizeof(ha));
	snprintf(ha.h.cert_id, sizeof(ha.h.cert_id), "%s", cc->id);
	snprintf(ha.h.certtype, sizeof(ha.h.certtype), "%s", certtype);
	ha.h.shared = shared;
	ha.h.delegated = delegated;
	ha.h.initial = !formal;
	if ((r = held_prune(c, e, &ha)) != 0 ||
	    (r = cmfdb_entity_update(c->env.s, e->id, held_add, &ha)) != 0) {
		cmf_err(err, errlen, "cannot record the certificate with "
		    "entity %s", e->id);
		goto out;
	}
	if (formal) {
		memset(&ref, 0, sizeof(ref));
		snprintf(ref.entity, sizeof(ref.entity), "%s", e->id);
		snprintf(ref.cert_id, sizeof(ref.cert_id), "%s", cc->id);
		snprintf(ref.certtype, sizeof(ref.certtype), "%s", certtype);
		cmf_hash(cc->der, cc->derlen, hash);
		if ((r = cmfdb_cert_put(c->env.s, hash, &ref)) != 0)
			goto out;
		cmf_initcred_spent(c, e->id, certtype);
	}
	r = 0;
 out:
	if (r != 0)
		cmf_issued_clear(out);
	free(ha.gone);
	certdb_cert_free(cc);
	return r;
}

/* Is the name (len bytes) one of e's FQDNs or its id? */
static int
dns_allowed(const struct cmf_entity *e, const unsigned char *p, size_t len)
{
	size_t i;

	if (len == strlen(e->id) && memcmp(p, e->id, len) == 0)
		return 1;
	for (i = 0; i < e->nfqdns; i++)
		if (len == strlen(e->fqdns[i]) &&
		    strncasecmp((const char *)p, e->fqdns[i], len) == 0)
			return 1;
	return 0;
}

static int
ip_allowed(const struct cmf_entity *e, const unsigned char *p, size_t len)
{
	uint8_t bin[16];
	size_t i, blen;

	for (i = 0; i < e->nips; i++)
		if (cmf_ip_parse(e->ips[i], bin, &blen) == 0 && blen == len &&
		    memcmp(bin, p, len) == 0)
			return 1;
	return 0;
}

/* The subject rules of a CSR (see cmf_issue_csr). */
static int
names_check(const struct cmf_entity *e, X509_REQ *req, char *err,
    size_t errlen)
{
	X509_NAME *name = X509_REQ_get_subject_name(req);
	STACK_OF(X509_EXTENSION) *exts = NULL;
	GENERAL_NAMES *gens = NULL;
	const GENERAL_NAME *g;
	const ASN1_STRING *v;
	char q[160], ip[INET6_ADDRSTRLEN];
	int i, nid, crit = -1, r = CAP_ERR_DENIED;

	for (i = 0; name != NULL && i < X509_NAME_entry_count(name); i++) {
		X509_NAME_ENTRY *ne = X509_NAME_get_entry(name, i);

		nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(ne));
		v = X509_NAME_ENTRY_get_data(ne);
		if (nid == NID_pkcs9_emailAddress) {
			cmf_err(err, errlen, "the entity may not have an "
			    "emailAddress in its subject");
			goto out;
		}
		if (nid != NID_commonName)
			continue;
		/*
		 * The bytes are compared as text: only types whose bytes
		 * are the characters.  A BMPString (or UniversalString,
		 * T61String) whose bytes spell an allowed name means other
		 * text, which a relying party would read.
		 */
		if (ASN1_STRING_type(v) != V_ASN1_UTF8STRING &&
		    ASN1_STRING_type(v) != V_ASN1_PRINTABLESTRING &&
		    ASN1_STRING_type(v) != V_ASN1_IA5STRING) {
			cmf_err(err, errlen, "the subject CN is a %s; it must "
			    "be a UTF8String, PrintableString or IA5String",
			    ASN1_tag2str(ASN1_STRING_type(v)));
			goto out;
		}
		if (memchr(ASN1_STRING_get0_data(v), '\0',
		    (size_t)ASN1_STRING_length(v)) != NULL ||
		    !dns_allowed(e, ASN1_STRING_get0_data(v),
		    (size_t)ASN1_STRING_length(v))) {
			cmf_quote_name(q, sizeof(q), ASN1_STRING_get0_data(v),
			    (size_t)ASN1_STRING_length(v));
			cmf_err(err, errlen, "entity %s may not have the name "
			    "CN=%s", e->id, q);
			goto out;
		}
	}
	exts = X509_REQ_get_extensions(req);
	/*
	 * crit is -1 without a subjectAltName, -2 with two or more (a CA
	 * may issue the first one), and NULL with crit >= 0 means it does
	 * not parse: both refused, or no name in them would be checked.
	 */
	if (exts != NULL && (gens = X509V3_get_d2i(exts, NID_subject_alt_name,
	    &crit, NULL)) == NULL && crit != -1) {
		cmf_err(err, errlen, "the CSR needs at most one subjectAltName "
		    "extension, and one that parses");
		goto out;
	}
	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		g = sk_GENERAL_NAME_value(gens, i);
		if (g->type == GEN_DNS) {
			v = g->d.dNSName;
			if (!dns_allowed(e, ASN1_STRING_get0_data(v),
			    (size_t)ASN1_STRING_length(v))) {
				cmf_quote_name(q, sizeof(q),
				    ASN1_STRING_get0_data(v),
				    (size_t)ASN1_STRING_length(v));
				cmf_err(err, errlen, "entity %s may not have "
				    "the name DNS:%s", e->id, q);
				goto out;
			}
		} else if (g->type == GEN_IPADD) {
			v = g->d.iPAddress;
			if (!ip_allowed(e, ASN1_STRING_get0_data(v),
			    (size_t)ASN1_STRING_length(v))) {
				/* inet_ntop reads 4 or 16 bytes: other sizes
				 * are not addresses */
				if ((ASN1_STRING_length(v) != 4 &&
				    ASN1_STRING_length(v) != 16) ||
				    inet_ntop(ASN1_STRING_length(v) == 4 ?
				    AF_INET : AF_INET6,
				    ASN1_STRING_get0_data(v), ip,
				    sizeof(ip)) == NULL)
					snprintf(ip, sizeof(ip), "?");
				cmf_err(err, errlen, "entity %s may not have "
				    "the name IP:%s", e->id, ip);
				goto out;
			}
		} else {
			cmf_err(err, errlen, "entity %s may have DNS and IP "
			    "names only in subjectAltName", e->id);
			goto out;
		}
	}
	r = 0;
 out:
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return r;
}

/* Parses a DER request, all of it; checks its signature unless flagged. */
static int
csr_parse(const uint8_t *csr, size_t len, unsigned flags, X509_REQ **out,
    char *err, size_t errlen)
{
	const unsigned char *p = csr;
	EVP_PKEY *pub;

	*out = NULL;
	if (csr == NULL || len == 0 || len > CERTDB_DER_MAX ||
	    (*out = d2i_X509_REQ(NULL, &p, (long)len)) == NULL ||
	    p != csr + len) {
		X509_REQ_free(*out);
		*out = NULL;
		cmf_err(err, errlen, "the CSR is not a PKCS#10 request of at "
		    "most 16 KiB");
		return CAP_ERR_INVALID;
	}
	if ((flags & CMF_POP_VERIFIED) == 0 &&
	    ((pub = X509_REQ_get0_pubkey(*out)) == NULL ||
	    X509_REQ_verify(*out, pub) != 1)) {
		X509_REQ_free(*out);
		*out = NULL;
		cmf_err(err, errlen, "the CSR's signature does not verify");
		return CAP_ERR_INVALID;
	}
	return 0;
}

int
cmf_issue_from_csr(cmf *c, const struct cmf_entity *e,
    const struct cmf_certtype *t, const uint8_t *csr, size_t csrlen,
    unsigned flags, const uint8_t *auth, uint64_t validity, int formal,
    struct cmf_issued *out, char *err, size_t errlen)
{
	static const uint8_t admin[CMFDB_HASH_LEN];
	struct cmf_pend_req pr;
	struct waiter *w = NULL;
	X509_REQ *req = NULL;
	char cert_id[CERTDB_ID_LEN + 1] = "";
	uint32_t retry = 0;
	int r, may_pend = (flags & CMF_MAY_PEND) != 0, asked = 0;

	memset(out, 0, sizeof(*out));
	memset(&pr, 0, sizeof(pr));
	if ((r = csr_parse(csr, csrlen, flags, &req, err, errlen)) != 0 ||
	    (r = names_check(e, req, err, errlen)) != 0)
		goto out;
	if ((w = waiter_new()) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	if (may_pend) {
		r = cmf_pend_begin(c, e, t->name, (flags & CMF_RENEWAL) != 0,
		    csr, csrlen, auth != NULL ? auth : admin, formal, &pr, out,
		    err, errlen);
		if (r == CMF_PEND_COLLECTED)
			r = 0;
		if (r != 0 || !pr.reserved)
			goto out;
	}
	r = certsvc_enroll_csr(c->env.certs, t->ca,
	    t->profile[0] != '\0' ? t->profile : NULL, validity, csr, csrlen,
	    (flags & CMF_POP_VERIFIED) ? CERTSVC_POP_VERIFIED : 0,
	    waiter_done, w, cert_id, &retry, err, errlen);
	asked = 1;
	if (r == 0)
		cmf_pend_started(c, &pr, cert_id);
	r = waiter_started(w, r, retry, may_pend ? c->env.enrol_wait :
	    CMF_ISSUE_TIMEOUT_S, may_pend, err, errlen);
	/* the reservation becomes the pending record, or goes */
	r = cmf_pend_end(c, e, t->name, &pr, r, cert_id, out, err, errlen);
	if (r != 0)
		goto out;
	r = cmf_finish(c, e, t->name, cert_id, 0, 0, formal, out, err, errlen);
	/* the entity was removed while the CA issued: nobody holds it */
	if (r == CAP_ERR_NOT_FOUND && cmf_orphan_revoke(c, e->id, cert_id) != 0)
		cmf_orphan_add(c, e->id, cert_id);
 out:
	if (w != NULL && !asked)
		w->refs = 1;	/* no completion will come */
	if (w != NULL)
		waiter_put(w);
	X509_REQ_free(req);
	return r;
}

/*
 * Loads entity id into *e (malloc'd, the caller frees it whatever the
 * result) and finds its certificate type certtype.
 */
static int
entity_type_load(cmf *c, const char *id, const char *certtype,
    struct cmf_entity **ep, const struct cmf_certtype **t, char *err,
    size_t errlen)
{
	struct cmf_entity *e;
	int r;

	if ((e = *ep = malloc(sizeof(*e))) == NULL)
		return CAP_ERR_NOMEM;
	if (!cmfdb_id_valid(id)) {
		cmf_err(err, errlen, "no entity '%s'", "?");
		return CAP_ERR_NOT_FOUND;
	}
	if ((r = cmfdb_entity_get(c->env.s, id, e)) != 0) {
		if (r == CAP_ERR_NOT_FOUND)
			cmf_err(err, errlen, "no entity '%s'", id);
		return r;
	}
	if (certtype == NULL || (*t = cmf_type_find(e, certtype)) == NULL) {
		cmf_err(err, errlen, "entity %s has no certificate type '%s'",
		    id, certtype != NULL && cmfdb_certtype_valid(certtype) ?
		    certtype : "?");
		return CAP_ERR_INVALID;
	}
	return 0;
}

int
cmf_issue_csr(cmf *c, const char *id, const char *certtype,
    const uint8_t *csr, size_t csrlen, unsigned flags, const char *initcred,
    struct cmf_issued *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	cmf_err(err, errlen, "%s", "");
	/* a reference alone does not show who holds its claim */
	if (initcred != NULL) {
		cmf_err(err, errlen, "the initial credential is not valid for "
		    "this request");
		return CAP_ERR_UNAUTH;
	}
	return cmf_issue_csr_claimed(c, id, certtype, csr, csrlen, flags,
	    NULL, NULL, 0, out, err, errlen);
}

int
cmf_issue_csr_claimed(cmf *c, const char *id, const char *certtype,
    const uint8_t *csr, size_t csrlen, unsigned flags,
    const struct cmf_initcred *claim, const uint8_t *peer, size_t peerlen,
    struct cmf_issued *out, char *err, size_t errlen)
{
	struct cmf_entity *e = NULL;
	const struct cmf_certtype *t = NULL;
	struct cmfdb_initcred ic;
	const char *initcred = claim != NULL ? claim->ref : NULL;
	uint8_t auth[CMFDB_HASH_LEN];
	int r;

	memset(out, 0, sizeof(*out));
	cmf_err(err, errlen, "%s", "");
	if (c == NULL)
		return CAP_ERR_INVALID;
	if ((r = entity_type_load(c, id, certtype, &e, &t, err, errlen)) != 0)
		goto out;
	if (initcred != NULL) {
		/* still claimed, and by this caller (not taken over) */
		if (cmfdb_ic_get(c->env.s, initcred, &ic) != 0 ||
		    !ic.ic.claimed ||
		    sodium_is_zero(claim->claim_token,
		    CMF_CLAIM_TOKEN_LEN) ||
		    sodium_memcmp(ic.ic.claim_token, claim->claim_token,
		    CMF_CLAIM_TOKEN_LEN) != 0 ||
		    strcmp(ic.ic.entity, e->id) != 0 ||
		    strcmp(ic.ic.certtype, t->name) != 0) {
			sodium_memzero(&ic, sizeof(ic));
			cmf_err(err, errlen, "the initial credential is not "
			    "valid for this request");
			r = CAP_ERR_UNAUTH;
			goto out;
		}
	}
	sodium_memzero(&ic, sizeof(ic));
	cmf_pend_auth(initcred, peer, peerlen, auth);
	r = cmf_issue_from_csr(c, e, t, csr, csrlen, flags, auth, 0, 1, out,
	    err, errlen);
 out:
	if (initcred != NULL) {
		if (r == 0)
			(void)cmf_initcred_drop_claimed(c, initcred,
			    claim->claim_token);
		else
			cmf_initcred_release(c, initcred, claim->claim_token);
	}
	free(e);
	return r;
}

/* The P2 key of scope/certtype, made on first use.  With c->mtx held. */
static int
shared_key(cmf *c, const char *scope, const char *certtype,
    char key_id[CERTDB_ID_LEN + 1])
{
	struct key_info ki;
	hsm_key_type type;
	char label[CMF_ID_MAX + CMF_CERTTYPE_MAX + 8];
	int r;

	if ((r = cmfdb_shared_get(c->env.s, scope, certtype, key_id)) !=
	    CAP_ERR_NOT_FOUND)
		return r;
	if (hsm_key_type_parse("ec-p256", &type) != 0)
		return CAP_ERR_INTERNAL;
	snprintf(label, sizeof(label), "cmf-%s-%s", scope, certtype);
	if ((r = keys_generate(c->env.h, c->env.s, type, label,
	    STORE_KEY_OWNER_CERT, &ki)) != 0)
		return r;
	if ((r = cmfdb_shared_put(c->env.s, scope, certtype, ki.id)) != 0) {
		if (keys_destroy(c->env.h, c->env.s, ki.id) != 0)
			log_warn("cmf: cannot destroy key %s", ki.id);
		return r;
	}
	snprintf(key_id, CERTDB_ID_LEN + 1, "%s", ki.id);
	log_info("cmf: shared key %s made for %s/%s", ki.id, scope, certtype);
	return 0;
}

int
cmf_issue_delegated(cmf *c, const char *id, const char *certtype,
    struct cmf_issued *out, char *err, size_t errlen)
{
	struct cmf_entity *e = NULL;
	const struct cmf_certtype *t = NULL;
	struct certsvc_enroll_req rq;
	struct waiter *w = NULL;
	char subject[300], key_id[CERTDB_ID_LEN + 1];
	char sanbuf[CMF_FQDN_MAX + CMF_IP_MAX][264];
	const char *sans[CMF_FQDN_MAX + CMF_IP_MAX];
	char cert_id[CERTDB_ID_LEN + 1];
	uint32_t retry = 0;
	size_t i, n = 0;
	int r, shared = 0, locked = 0;

	memset(out, 0, sizeof(*out));
	cmf_err(err, errlen, "%s", "");
	if (c == NULL)
		return CAP_ERR_INVALID;
	if ((r = entity_type_load(c, id, certtype, &e, &t, err, errlen)) != 0)
		goto out;
	snprintf(subject, sizeof(subject), "CN=%s",
	    e->nfqdns > 0 ? e->fqdns[0] : e->id);
	for (i = 0; i < e->nfqdns; i++, n++) {
		snprintf(sanbuf[n], sizeof(sanbuf[n]), "DNS:%s", e->fqdns[i]);
		sans[n] = sanbuf[n];
	}
	for (i = 0; i < e->nips; i++, n++) {
		snprintf(sanbuf[n], sizeof(sanbuf[n]), "IP:%s", e->ips[i]);
		sans[n] = sanbuf[n];
	}
	memset(&rq, 0, sizeof(rq));
	rq.ca = t->ca;
	rq.subject = subject;
	rq.sans = sans;
	rq.nsans = n;
	rq.profile = t->profile[0] != '\0' ? t->profile : NULL;
	if (t->binding == CMF_P2) {
		/* held across the issuance: the key must not be collected */
		pthread_mutex_lock(&c->mtx);
		locked = 1;
		if ((r = shared_key(c, cmf_shared_scope(e), t->name, key_id)) != 0) {
			cmf_err(err, errlen, "cannot make the shared key");
			goto out;
		}
		rq.key_id = key_id;
		shared = 1;
	} else
		rq.key_type = "ec-p256";
	if ((w = waiter_new()) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	r = certsvc_enroll(c->env.certs, &rq, waiter_done, w, cert_id, &retry,
	    err, errlen);
	if ((r = waiter_started(w, r, retry, CMF_ISSUE_TIMEOUT_S, 0, err,
	    errlen)) != 0)
		goto out;
	r = cmf_finish(c, e, t->name, cert_id, shared, 1, 1, out, err, errlen);
 out:
	if (r != 0 && shared)
		cmf_shared_gc(c, cmf_shared_scope(e), t->name);
	if (locked)
		pthread_mutex_unlock(&c->mtx);
	if (w != NULL)
		waiter_put(w);
	free(e);
	return r;
}

/* ---- certificates the CMF issued ---- */

int
cmf_cert_lookup(cmf *c, const uint8_t *der, size_t len,
    char entity_out[CMF_ID_MAX + 1], char cert_id_out[CERTDB_ID_LEN + 1],
    char certtype_out[CMF_CERTTYPE_MAX + 1])
{
	struct cmfdb_certref ref;
	struct certdb_cert *cc = NULL;
	uint8_t hash[CMFDB_HASH_LEN];
	int r = CAP_ERR_NOT_FOUND;

	entity_out[0] = '\0';
	cert_id_out[0] = '\0';
	if (certtype_out != NULL)
		certtype_out[0] = '\0';
	if (c == NULL || der == NULL || len == 0 || len > CERTDB_DER_MAX)
		return CAP_ERR_NOT_FOUND;
	cmf_hash(der, len, hash);
	if (cmfdb_cert_get(c->env.s, hash, &ref) != 0 ||
	    certdb_get(c->env.s, ref.cert_id, &cc) != 0)
		goto out;
	if ((cc->status != CERTDB_ISSUED && cc->status != CERTDB_RENEWING) ||
	    cc->not_after <= cap_now() || cc->der == NULL ||
	    cc->derlen != len || memcmp(cc->der, der, len) != 0)
		goto out;
	snprintf(entity_out, CMF_ID_MAX + 1, "%s", ref.entity);
	snprintf(cert_id_out, CERTDB_ID_LEN + 1, "%s", ref.cert_id);
	if (certtype_out != NULL)
		snprintf(certtype_out, CMF_CERTTYPE_MAX + 1, "%s",
		    ref.certtype);
	r = 0;
 out:
	certdb_cert_free(cc);
	return r;
}

/* Indexes certificate cert_id (DER hash) again: it renews once more. */
static int
reindex(cmf *c, const uint8_t hash[CMFDB_HASH_LEN], const char *entity,
    const char *cert_id, const char *certtype)
{
	struct cmfdb_certref ref;

	memset(&ref, 0, sizeof(ref));
	snprintf(ref.entity, sizeof(ref.entity), "%s", entity);
	snprintf(ref.cert_id, sizeof(ref.cert_id), "%s", cert_id);
	snprintf(ref.certtype, sizeof(ref.certtype), "%s", certtype);
	return cmfdb_cert_put(c->env.s, hash, &ref);
}

int
cmf_renew_csr(cmf *c, const uint8_t *cur, size_t curlen,
    const uint8_t *csr, size_t csrlen, unsigned flags,
    struct cmf_issued *out, char *err, size_t errlen)
{
	char ent[CMF_ID_MAX + 1], cid[CERTDB_ID_LEN + 1];
	char ct[CMF_CERTTYPE_MAX + 1];
	struct cmf_entity *e = NULL;
	const struct cmf_certtype *t = NULL;
	uint8_t hash[CMFDB_HASH_LEN];
	uint8_t auth[CMFDB_HASH_LEN];
	const unsigned char *p;
	X509 *x = NULL;
	X509_REQ *req = NULL;
	int r, unindexed = 0;

	memset(out, 0, sizeof(*out));
	cmf_err(err, errlen, "%s", "");
	if (c == NULL)
		return CAP_ERR_INVALID;
	if ((r = cmf_cert_lookup(c, cur, curlen, ent, cid, ct)) != 0) {
		cmf_err(err, errlen, "the current certificate is not one the "
		    "CMF issued, or no longer valid");
		return r;
	}
	if ((r = entity_type_load(c, ent, ct, &e, &t, err, errlen)) != 0)
		goto out;
	p = cur;
	if ((x = d2i_X509(NULL, &p, (long)curlen)) == NULL) {
		r = CAP_ERR_INVALID;
		goto out;
	}
	if ((r = csr_parse(csr, csrlen, flags, &req, err, errlen)) != 0)
		goto out;
	/* RFC 7030 4.2.2: the subject stays the same */
	if (X509_NAME_cmp(X509_get_subject_name(x),
	    X509_REQ_get_subject_name(req)) != 0) {
		cmf_err(err, errlen, "a renewal keeps the subject of the "
		    "current certificate");
		r = CAP_ERR_DENIED;
		goto out;
	}
	/*
	 * The current certificate is superseded: it leaves the index
	 * before the CA is asked, so that it renews (or authenticates) once
	 * and, of two renewals with it at once, one goes on; it comes back
	 * when this renewal fails.  It stays valid until it expires.
	 */
	cmf_hash(cur, curlen, hash);
	if ((r = cmfdb_cert_delete(c->env.s, hash)) != 0) {
		cmf_err(err, errlen, "the current certificate was renewed "
		    "already");
		if (r == CAP_ERR_NOT_FOUND)
			r = CAP_ERR_CONFLICT;	/* by a concurrent renewal */
		goto out;
	}
	unindexed = 1;
	/* the renewal's client is the holder of the current certificate */
	cmf_pend_auth(NULL, cur, curlen, auth);
	r = cmf_issue_from_csr(c, e, t, csr, csrlen, flags | CMF_RENEWAL,
	    auth, 0, 1, out, err, errlen);
 out:
	if (r != 0 && unindexed && reindex(c, hash, ent, cid, ct) != 0)
		log_warn("cmf: cannot index certificate %s again after a "
		    "failed renewal", cid);
	X509_REQ_free(req);
	X509_free(x);
	free(e);
	return r;
}

int
cmf_renew_undo(cmf *c, const uint8_t *cur, size_t curlen,
    const uint8_t *renewed, size_t renewedlen, const char *entity,
    const char *cert_id, const char *certtype)
{
	struct certdb_cert *old = NULL;
	uint8_t hash[CMFDB_HASH_LEN];
	char ent[CMF_ID_MAX + 1], cid[CERTDB_ID_LEN + 1];
	int r;

	if (c == NULL || cur == NULL || renewed == NULL ||
	    !cmfdb_id_valid(entity) || !certdb_id_valid(cert_id) ||
	    !cmfdb_certtype_valid(certtype))
		return CAP_ERR_INVALID;
	/* the renewal must be out of use: not found as a valid certificate */
	if (cmf_cert_lookup(c, renewed, renewedlen, ent, cid, NULL) == 0)
		return CAP_ERR_CONFLICT;
	if ((r = certdb_get(c->env.s, cert_id, &old)) != 0)
		return r;
	if (old->status != CERTDB_ISSUED || old->not_after <= cap_now() ||
	    old->der == NULL || old->derlen != curlen ||
	    memcmp(old->der, cur, curlen) != 0) {
		r = CAP_ERR_CONFLICT;
		goto out;
	}
	cmf_hash(cur, curlen, hash);
	if ((r = reindex(c, hash, entity, cert_id, certtype)) == 0)
		log_info("cmf: certificate %s of %s renews again (its renewal "
		    "was rejected)", cert_id, entity);
 out:
	certdb_cert_free(old);
	return r;
}

int
cmf_revoke_cert(cmf *c, const uint8_t *der, size_t len, int reason,
    char *err, size_t errlen)
{
	char ent[CMF_ID_MAX + 1], cid[CERTDB_ID_LEN + 1];
	int r;

	cmf_err(err, errlen, "%s", "");
	if (c == NULL)
		return CAP_ERR_INVALID;
	if (reason < 0 || reason > 10 || reason == 7) {
		cmf_err(err, errlen, "not an RFC 5280 revocation reason");
		return CAP_ERR_INVALID;
	}
	if ((r = cmf_cert_lookup(c, der, len, ent, cid, NULL)) != 0) {
		cmf_err(err, errlen, "not a valid certificate the CMF issued");
		return r;
	}
	if ((r = certsvc_revoke(c->env.certs, cid, reason, err, errlen)) == 0)
		log_info("cmf: certificate %s of %s revoked", cid, ent);
	return r;
}
