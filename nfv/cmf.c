/*
 * cmf.c - the Certificate Management Function: entities, their removal
 * and the P2 shared keys they leave.  Issuing is in cmf_issue.c, initial
 * credentials in cmf_initcred.c, lifecycle notifications in lcm.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
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

#define TREE_DEPTH_MAX	8
#define REASON_CESSATION 5	/* RFC 5280 cessationOfOperation */
#define DRAIN_S		(CMF_ISSUE_TIMEOUT_S + 5)	/* cmf_free's wait */

void
cmf_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* A name from a request, made safe to quote in a reason. */
void
cmf_quote_name(char *dst, size_t dstsz, const unsigned char *p, size_t n)
{
	size_t i, o = 0;

	for (i = 0; i < n && o + 1 < dstsz && o < 128; i++)
		dst[o++] = p[i] > 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
	dst[o] = '\0';
}

void
cmf_hash(const uint8_t *der, size_t len, uint8_t out[CMFDB_HASH_LEN])
{
	unsigned int n = CMFDB_HASH_LEN;

	if (EVP_Digest(der, len, out, &n, EVP_sha256(), NULL) != 1)
		memset(out, 0, CMFDB_HASH_LEN);
}

const struct cmf_certtype *
cmf_type_find(const struct cmf_entity *e, const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < e->ntypes; i++)
		if (strcmp(e->types[i].name, name) == 0)
			return &e->types[i];
	return NULL;
}

/* ---- lifetime ---- */

int
cmf_new(const struct cmf_env *env, cmf **out)
{
	pthread_condattr_t ca;
	cmf *c;

	*out = NULL;
	if (env == NULL || env->h == NULL || env->s == NULL ||
	    env->certs == NULL)
		return CAP_ERR_INVALID;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return CAP_ERR_NOMEM;
	c->env = *env;
	pthread_mutex_init(&c->mtx, NULL);
	pthread_mutex_init(&c->jobs_mtx, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->jobs_cv, &ca);
	pthread_condattr_destroy(&ca);
	*out = c;
	return 0;
}

/* Waits until no job is in flight, DRAIN_S at most; what is left. */
static int
jobs_drain(cmf *c)
{
	struct timespec dl;
	int r = 0, left;

	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += DRAIN_S;
	pthread_mutex_lock(&c->jobs_mtx);
	c->draining = 1;
	while (c->jobs > 0 && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&c->jobs_cv, &c->jobs_mtx, &dl);
	left = c->jobs;
	pthread_mutex_unlock(&c->jobs_mtx);
	return left;
}

void
cmf_free(cmf *c)
{
	int left;

	if (c == NULL)
		return;
	if ((left = jobs_drain(c)) > 0) {
		log_error("cmf: %d request(s) still running after %d s; the "
		    "CMF is not freed", left, DRAIN_S);
		return;
	}
	pthread_cond_destroy(&c->jobs_cv);
	pthread_mutex_destroy(&c->jobs_mtx);
	pthread_mutex_destroy(&c->mtx);
	free(c);
}

int
cmf_job_begin(cmf *c)
{
	int r = 0;

	if (c == NULL)
		return CAP_ERR_INVALID;
	pthread_mutex_lock(&c->jobs_mtx);
	if (c->draining)
		r = CAP_ERR_UNAVAILABLE;
	else
		c->jobs++;
	pthread_mutex_unlock(&c->jobs_mtx);
	return r;
}

void
cmf_job_end(cmf *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->jobs_mtx);
	if (--c->jobs == 0)
		pthread_cond_broadcast(&c->jobs_cv);
	pthread_mutex_unlock(&c->jobs_mtx);
}

struct job {
	cmf	*c;
	void	(*fn)(void *);
	void	*arg;
};

static void *
job_main(void *p)
{
	struct job j = *(struct job *)p;

	free(p);
	j.fn(j.arg);
	cmf_job_end(j.c);
	return NULL;
}

int
cmf_job_spawn(cmf *c, void (*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	pthread_t t;
	struct job *j;
	int r;

	if (fn == NULL)
		return CAP_ERR_INVALID;
	if ((r = cmf_job_begin(c)) != 0)
		return r;
	if ((j = malloc(sizeof(*j))) == NULL) {
		cmf_job_end(c);
		return CAP_ERR_NOMEM;
	}
	j->c = c;
	j->fn = fn;
	j->arg = arg;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = pthread_create(&t, &attr, job_main, j);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		log_error("cmf: cannot start a thread: %s", strerror(r));
		free(j);
		cmf_job_end(c);
		return CAP_ERR_UNAVAILABLE;
	}
	return 0;
}

void
cmf_issued_clear(struct cmf_issued *is)
{
	if (is == NULL)
		return;
	X509_free(is->cert);
	sk_X509_pop_free(is->chain, X509_free);
	memset(is, 0, sizeof(*is));
}

/* ---- entities ---- */

static int
fqdn_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 253 || s[0] == '.' || s[0] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '.' || s[i] == '-' || s[i] == '*'))
			return 0;
	return 1;
}

/* Parses an IPv4 or IPv6 address into bin (4 or 16 bytes). */
int
cmf_ip_parse(const char *s, uint8_t bin[16], size_t *len)
{
	if (inet_pton(AF_INET, s, bin) == 1) {
		*len = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, s, bin) == 1) {
		*len = 16;
		return 0;
	}
	return CAP_ERR_INVALID;
}

static int
ca_known(cmf *c, const char *name)
{
	struct certsvc_ca ca;

	memset(&ca, 0, sizeof(ca));
	if (c->env.conns == NULL)
		return 1;	/* nothing to check against (unit tests) */
	if (certsvc_conns_lookup(c->env.conns, name, &ca) != 0)
		return 0;
	if (ca.release != NULL)
		ca.release(ca.ref);
	return 1;
}

/* Fills what e leaves out from its parent p. */
static void
inherit(struct cmf_entity *e, const struct cmf_entity *p)
{
	if (e->vnf_instance_id[0] == '\0')
		snprintf(e->vnf_instance_id, sizeof(e->vnf_instance_id), "%s",
		    p->type == CMF_VNF_INSTANCE ? p->id : p->vnf_instance_id);
	if (e->vnfc_id[0] == '\0' && p->type == CMF_VNFC)
		snprintf(e->vnfc_id, sizeof(e->vnfc_id), "%s", p->vnfc_id);
	if (e->ntypes == 0 && e->type == CMF_VNFC_INSTANCE) {
		memcpy(e->types, p->types, sizeof(e->types));
		e->ntypes = p->ntypes;
		if (e->binding == 0)
			e->binding = p->binding;
	}
}

static int
entity_check(cmf *c, struct cmf_entity *e, char *err, size_t errlen)
{
	uint8_t bin[16];
	char canon[INET6_ADDRSTRLEN];
	size_t i, k, blen;

	if (e->type < CMF_VNF_INSTANCE || e->type > CMF_MANO) {
		cmf_err(err, errlen, "type is VNF_INSTANCE, VNFC, "
		    "VNFC_INSTANCE or MANO");
		return CAP_ERR_INVALID;
	}
	if (e->binding < CMF_P1 || e->binding > CMF_P3) {
		cmf_err(err, errlen, "bindingPolicy is P1, P2 or P3");
		return CAP_ERR_INVALID;
	}
	if ((e->vnf_instance_id[0] != '\0' &&
	    !cmfdb_id_valid(e->vnf_instance_id)) ||
	    (e->vnfc_id[0] != '\0' && !cmfdb_id_valid(e->vnfc_id))) {
		cmf_err(err, errlen, "vnfInstanceId and vnfcId are %s",
		    CMF_ID_RULE);
		return CAP_ERR_INVALID;
	}
	if (e->nfqdns > CMF_FQDN_MAX || e->nips > CMF_IP_MAX ||
	    e->ntypes > CMF_TYPES_MAX) {
		cmf_err(err, errlen, "at most %d fqdns, %d ips and %d "
		    "certTypes", CMF_FQDN_MAX, CMF_IP_MAX, CMF_TYPES_MAX);
		return CAP_ERR_INVALID;
	}
	for (i = 0; i < e->nfqdns; i++)
		if (!fqdn_valid(e->fqdns[i])) {
			cmf_err(err, errlen, "fqdns[%zu] is not a host name", i);
			return CAP_ERR_INVALID;
		}
	for (i = 0; i < e->nips; i++) {
		if (cmf_ip_parse(e->ips[i], bin, &blen) != 0 ||
		    inet_ntop(blen == 4 ? AF_INET : AF_INET6, bin, canon,
		    sizeof(canon)) == NULL) {
			cmf_err(err, errlen, "ips[%zu] is not an IP address", i);
			return CAP_ERR_INVALID;
		}
		snprintf(e->ips[i], sizeof(e->ips[i]), "%s", canon);
	}
	for (i = 0; i < e->ntypes; i++) {
		struct cmf_certtype *t = &e->types[i];

		if (!cmfdb_certtype_valid(t->name)) {
			cmf_err(err, errlen, "certTypes[%zu] is 1..32 of "
			    "[A-Z0-9_]", i);
			return CAP_ERR_INVALID;
		}
		for (k = 0; k < i; k++)
			if (strcmp(e->types[k].name, t->name) == 0) {
				cmf_err(err, errlen, "certType %s is listed "
				    "twice", t->name);
				return CAP_ERR_INVALID;
			}
		if (t->binding == 0) {
			if (e->binding == CMF_P3) {
				cmf_err(err, errlen, "under P3, certType %s "
				    "needs its own bindingPolicy", t->name);
				return CAP_ERR_INVALID;
			}
			t->binding = e->binding;
		}
		if (t->binding != CMF_P1 && t->binding != CMF_P2) {
			cmf_err(err, errlen, "the bindingPolicy of certType "
			    "%s is P1 or P2", t->name);
			return CAP_ERR_INVALID;
		}
		if (e->binding != CMF_P3 && t->binding != e->binding) {
			cmf_err(err, errlen, "certType %s differs from the "
			    "entity's bindingPolicy (use P3)", t->name);
			return CAP_ERR_INVALID;
		}
		if (!cap_name_valid(t->ca) ||
		    strlen(t->profile) > CERTDB_PROFILE_MAX) {
			cmf_err(err, errlen, "certType %s needs a CA name and "
			    "a profile of at most 64 bytes", t->name);
			return CAP_ERR_INVALID;
		}
		if (!ca_known(c, t->ca)) {
			cmf_err(err, errlen, "no CA '%s'", t->ca);
			return CAP_ERR_NOT_FOUND;
		}
	}
	return 0;
}

int
cmf_entity_create(cmf *c, struct cmf_entity *e, char *err, size_t errlen)
{
	struct cmf_entity *p = NULL;
	uint8_t rnd[8];
	int r;

	cmf_err(err, errlen, "%s", "");
	if (c == NULL || e == NULL)
		return CAP_ERR_INVALID;
	if (e->id[0] == '\0') {
		randombytes_buf(rnd, sizeof(rnd));
		memcpy(e->id, "ent-", 4);
		sodium_bin2hex(e->id + 4, sizeof(e->id) - 4, rnd, sizeof(rnd));
	}
	if (!cmfdb_id_valid(e->id) ||
	    (e->parent[0] != '\0' && !cmfdb_id_valid(e->parent))) {
		cmf_err(err, errlen, "id and parent are %s", CMF_ID_RULE);
		return CAP_ERR_INVALID;
	}
	if (e->parent[0] != '\0') {
		if ((p = malloc(sizeof(*p))) == NULL)
			return CAP_ERR_NOMEM;
		if ((r = cmfdb_entity_get(c->env.s, e->parent, p)) != 0) {
			if (r == CAP_ERR_NOT_FOUND)
				cmf_err(err, errlen, "no parent entity '%s'",
				    e->parent);
			goto out;
		}
		if (strcmp(p->id, e->id) == 0) {
			r = CAP_ERR_INVALID;
			goto out;
		}
		inherit(e, p);
	}
	if ((r = entity_check(c, e, err, errlen)) != 0)
		goto out;
	memset(e->certs, 0, sizeof(e->certs));
	e->ncerts = 0;
	e->created = cap_now();
	if ((r = cmfdb_entity_put(c->env.s, e, 1)) == CAP_ERR_EXISTS)
		cmf_err(err, errlen, "entity '%s' exists", e->id);
 out:
	free(p);
	return r;
}

int
cmf_entity_get(cmf *c, const char *id, struct cmf_entity *out)
{
	if (c == NULL || out == NULL || !cmfdb_id_valid(id))
		return CAP_ERR_NOT_FOUND;
	return cmfdb_entity_get(c->env.s, id, out);
}

int
cmf_entity_list(cmf *c, const char *parent, struct cmf_entity **out,
    size_t *n)
{
	char **ids = NULL;
	size_t nids = 0, i, k = 0;
	struct cmf_entity *v = NULL;
	int r;

	*out = NULL;
	*n = 0;
	if (c == NULL)
		return CAP_ERR_INVALID;
	if ((r = cmfdb_entity_list(c->env.s, parent, &ids, &nids)) != 0)
		return r;
	if (nids > 0 && (v = calloc(nids, sizeof(*v))) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < nids; i++) {
		if ((r = cmfdb_entity_get(c->env.s, ids[i], &v[k])) == 0)
			k++;
		else if (r != CAP_ERR_NOT_FOUND)
			goto out;
	}
	*out = v;
	*n = k;
	v = NULL;
	r = 0;
 out:
	free(v);
	store_names_free(ids, nids);
	return r;
}

/* Revokes, unindexes and (unless shared) destroys the key of one held. */
static void
held_retire(cmf *c, const struct cmf_entity *e, const struct cmf_held *h)
{
	struct certdb_cert *cc = NULL;
	uint8_t hash[CMFDB_HASH_LEN];
	char err[256];
	int r;

	if (certdb_get(c->env.s, h->cert_id, &cc) != 0)
		return;
	if (cc->status == CERTDB_ISSUED || cc->status == CERTDB_RENEWING ||
	    cc->status == CERTDB_EXPIRED) {
		if ((r = certsvc_revoke(c->env.certs, cc->id, REASON_CESSATION,
		    err, sizeof(err))) != 0) {
			log_warn("cmf: %s: cannot revoke %s: %s", e->id, cc->id,
			    err[0] != '\0' ? err : cap_strerror(r));
			/* the sweep tries again */
			if (r != CAP_ERR_CONFLICT && r != CAP_ERR_UNSUPPORTED)
				cmf_orphan_add(c, e->id, cc->id);
		}
	}
	if (cc->der != NULL) {
		cmf_hash(cc->der, cc->derlen, hash);
		if ((r = cmfdb_cert_delete(c->env.s, hash)) != 0 &&
		    r != CAP_ERR_NOT_FOUND)
			log_warn("cmf: %s: cannot unindex %s", e->id, cc->id);
	}
	if (h->delegated && !h->shared && cc->key_id[0] != '\0' &&
	    (r = keys_destroy(c->env.h, c->env.s, cc->key_id)) != 0 &&
	    r != CAP_ERR_NOT_FOUND)
		log_warn("cmf: %s: cannot destroy key %s", e->id, cc->key_id);
	certdb_cert_free(cc);
}

/*
 * Drops the pending requests of e: what they were issued is revoked like
 * a held certificate; one the CA still has not answered becomes an orphan
 * (cmf_sweep revokes what it brings).
 */
static int
pend_retire(cmf *c, const struct cmf_entity *e)
{
	struct cmfdb_pend *v = NULL;
	struct certdb_cert *cc = NULL;
	struct cmf_held h;
	size_t n = 0, i;
	int r;

	if ((r = cmfdb_pend_take_all(c->env.s, e->id, &v, &n)) != 0) {
		log_warn("cmf: %s: cannot read its pending requests", e->id);
		return r;
	}
	for (i = 0; i < n; i++) {
		if (v[i].cert_id[0] == '\0')
			continue;	/* reserved: its request sees it gone */
		if (certdb_get(c->env.s, v[i].cert_id, &cc) == 0 &&
		    cc->status == CERTDB_PENDING) {
			cmf_orphan_add(c, e->id, v[i].cert_id);
			certdb_cert_free(cc);
			cc = NULL;
			continue;
		}
		certdb_cert_free(cc);
		cc = NULL;
		memset(&h, 0, sizeof(h));
		snprintf(h.cert_id, sizeof(h.cert_id), "%s", v[i].cert_id);
		snprintf(h.certtype, sizeof(h.certtype), "%s", v[i].certtype);
		held_retire(c, e, &h);
	}
	free(v);
	return 0;
}

/* The scope of a P2 shared key: the VNFC an instance belongs to. */
const char *
cmf_shared_scope(const struct cmf_entity *e)
{
	return e->type == CMF_VNFC_INSTANCE && e->parent[0] != '\0' ?
	    e->parent : e->id;
}

static int
holds_shared(const struct cmf_entity *e, const char *certtype)
{
	size_t i;

	for (i = 0; i < e->ncerts; i++)
		if (e->certs[i].shared &&
		    strcmp(e->certs[i].certtype, certtype) == 0)
			return 1;
	return 0;
}

/*
 * Destroys the shared key of scope/certtype when no entity of the scope
 * holds a certificate for it any more.  Called with c->mtx held.
 */
void
cmf_shared_gc(cmf *c, const char *scope, const char *certtype)
{
	struct cmf_entity *v = NULL, *s = NULL;
	char key_id[CERTDB_ID_LEN + 1];
	size_t n = 0, i;
	int held = 0, r;

	if (cmfdb_shared_get(c->env.s, scope, certtype, key_id) != 0)
		return;
	if ((s = malloc(sizeof(*s))) == NULL)
		return;
	if (cmfdb_entity_get(c->env.s, scope, s) == 0 &&
	    holds_shared(s, certtype))
		held = 1;
	if (!held && cmf_entity_list(c, scope, &v, &n) != 0)
		held = 1;	/* cannot tell: keep the key */
	for (i = 0; !held && i < n; i++)
		held = holds_shared(&v[i], certtype);
	if (!held) {
		if ((r = keys_destroy(c->env.h, c->env.s, key_id)) != 0 &&
		    r != CAP_ERR_NOT_FOUND)
			log_warn("cmf: cannot destroy shared key %s", key_id);
		else if (cmfdb_shared_delete(c->env.s, scope, certtype) != 0)
			log_warn("cmf: cannot forget shared key %s", key_id);
		else
			log_info("cmf: shared key of %s/%s destroyed", scope,
			    certtype);
	}
	free(v);
	free(s);
}

/* Whether e lists certificate cert_id. */
static int
held_in(const struct cmf_entity *e, const char *cert_id)
{
	size_t i;

	for (i = 0; i < e->ncerts; i++)
		if (strcmp(e->certs[i].cert_id, cert_id) == 0)
			return 1;
	return 0;
}

static int
delete_tree(cmf *c, const char *id, int depth)
{
	struct cmf_entity *e = NULL, *fin = NULL;
	struct cmfdb_initcred *ics = NULL;
	char **kids = NULL;
	size_t nkids = 0, nics = 0, i;
	int r;

	if (depth > TREE_DEPTH_MAX)
		return CAP_ERR_TOO_LARGE;
	if ((e = malloc(sizeof(*e))) == NULL)
		return CAP_ERR_NOMEM;
	if ((r = cmfdb_entity_get(c->env.s, id, e)) != 0)
		goto out;
	if ((r = cmfdb_entity_list(c->env.s, id, &kids, &nkids)) != 0)
		goto out;
	for (i = 0; i < nkids; i++)
		if ((r = delete_tree(c, kids[i], depth + 1)) != 0 &&
		    r != CAP_ERR_NOT_FOUND)
			goto out;
	for (i = 0; i < e->ncerts; i++)
		held_retire(c, e, &e->certs[i]);
	if ((r = pend_retire(c, e)) != 0)
		goto out;
	if (cmfdb_ic_list(c->env.s, e->id, &ics, &nics) == 0)
		for (i = 0; i < nics; i++)
			(void)cmf_initcred_drop(c, ics[i].ic.ref);
	if ((fin = malloc(sizeof(*fin))) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	if ((r = cmfdb_entity_delete(c->env.s, e->id, fin)) != 0)
		goto out;
	/*
	 * What was issued to it, or went pending for it, while it was being
	 * removed: no request can add to it now that it is gone.
	 */
	for (i = 0; i < fin->ncerts; i++)
		if (!held_in(e, fin->certs[i].cert_id))
			held_retire(c, fin, &fin->certs[i]);
	if (pend_retire(c, fin) != 0)
		log_warn("cmf: %s: its last pending requests stay", fin->id);
	pthread_mutex_lock(&c->mtx);
	for (i = 0; i < fin->ntypes; i++)
		if (fin->types[i].binding == CMF_P2) {
			cmf_shared_gc(c, cmf_shared_scope(fin),
			    fin->types[i].name);
			cmf_shared_gc(c, fin->id, fin->types[i].name);
		}
	pthread_mutex_unlock(&c->mtx);
	log_info("cmf: entity %s removed", e->id);
	r = 0;
 out:
	free(ics);
	store_names_free(kids, nkids);
	free(fin);
	free(e);
	return r;
}

int
cmf_entity_delete(cmf *c, const char *id)
{
	if (c == NULL || !cmfdb_id_valid(id))
		return CAP_ERR_NOT_FOUND;
	return delete_tree(c, id, 0);
}
