/*
 * certsvc.c - enrollment, renewal, revocation and status of certificates.
 *
 * The key and the CSR are made on the caller's thread (the token is fast
 * for that); the CA round trip runs on a flow thread of the CA.  A job
 * owns copies of everything it needs, so it survives its caller.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/certsvc.h"
#include "ca/certstatus.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "crypto/chain.h"
#include "crypto/csr.h"
#include "crypto/keys.h"
#include "store/keydb.h"

#define FLOWS_MAX	64

struct flow_slot {
	char	 name[CAP_NAME_MAX + 1];
	flow	*f;
};

struct certsvc {
	hsm			*h;
	store			*s;
	certsvc_lookup_fn	 lookup;
	void			*lookup_arg;
	pthread_mutex_t		 mtx;
	struct flow_slot	 flows[FLOWS_MAX];
	size_t			 nflows;
	int			 stopping;
};

struct job {
	struct flow_job	 fj;		/* first: the flow hands it back */
	certsvc		*svc;
	char		 id[CERTDB_ID_LEN + 1];
	char		 ca[CAP_NAME_MAX + 1];
	int		 op;		/* CERTDB_OP_* */
	X509_REQ	*csr;
	char		*key_uri;
	uint8_t		*spki;
	size_t		 spkilen;
	char		 key_id[CERTDB_ID_LEN + 1];
	int		 key_generated;	/* destroy the key on failure */
	int		 pop_verified;	/* see certsvc_enroll_csr */
	X509		*old_cert;
	char		*old_key_uri;
	char		 profile[CERTDB_PROFILE_MAX + 1];
	uint64_t	 validity;
	char		 pending_id[CERTDB_PENDING_ID_MAX + 1];
	certsvc_done_fn	 done;
	void		*arg;
	char		 reason[256];
};

static void
job_free(struct job *j)
{
	if (j == NULL)
		return;
	X509_REQ_free(j->csr);
	X509_free(j->old_cert);
	free(j->key_uri);
	free(j->old_key_uri);
	free(j->spki);
	free(j);
}

static void
copy_str(char *dst, size_t dstsz, const char *src)
{
	snprintf(dst, dstsz, "%s", src != NULL ? src : "");
}

/* ca_put gives back what a lookup lent; a zeroed ca is a no-op. */
static void
ca_put(struct certsvc_ca *ca)
{
	if (ca->release != NULL)
		ca->release(ca->ref);
	memset(ca, 0, sizeof(*ca));
}

int
certsvc_new(hsm *h, store *s, certsvc_lookup_fn lookup, void *lookup_arg,
    certsvc **out)
{
	certsvc *svc;

	*out = NULL;
	if (h == NULL || s == NULL || lookup == NULL)
		return CAP_ERR_INVALID;
	if ((svc = calloc(1, sizeof(*svc))) == NULL)
		return CAP_ERR_NOMEM;
	svc->h = h;
	svc->s = s;
	svc->lookup = lookup;
	svc->lookup_arg = lookup_arg;
	pthread_mutex_init(&svc->mtx, NULL);
	*out = svc;
	return 0;
}

void
certsvc_free(certsvc *svc)
{
	size_t i;

	if (svc == NULL)
		return;
	pthread_mutex_lock(&svc->mtx);
	svc->stopping = 1;
	pthread_mutex_unlock(&svc->mtx);
	for (i = 0; i < svc->nflows; i++)
		flow_free(svc->flows[i].f);
	pthread_mutex_destroy(&svc->mtx);
	free(svc);
}

/* The flow of a CA, made at its first use with the connector's limits. */
static int
flow_get(certsvc *svc, const char *name, const struct flow_limits *lim,
    flow **out)
{
	size_t i;
	int r = 0;

	*out = NULL;
	pthread_mutex_lock(&svc->mtx);
	for (i = 0; i < svc->nflows; i++)
		if (strcmp(svc->flows[i].name, name) == 0) {
			*out = svc->flows[i].f;
			goto out;
		}
	if (svc->stopping || svc->nflows == FLOWS_MAX) {
		r = CAP_ERR_UNAVAILABLE;
		goto out;
	}
	if ((r = flow_new(name, lim, &svc->flows[svc->nflows].f)) != 0)
		goto out;
	copy_str(svc->flows[svc->nflows].name, sizeof(svc->flows[0].name),
	    name);
	*out = svc->flows[svc->nflows++].f;
 out:
	pthread_mutex_unlock(&svc->mtx);
	return r;
}

void
certsvc_flow_stats(certsvc *svc, const char *ca, struct flow_stats *out)
{
	flow *f = NULL;
	size_t i;

	pthread_mutex_lock(&svc->mtx);
	for (i = 0; i < svc->nflows; i++)
		if (strcmp(svc->flows[i].name, ca) == 0)
			f = svc->flows[i].f;
	pthread_mutex_unlock(&svc->mtx);
	flow_get_stats(f, out);
}

void
certsvc_flow_each(certsvc *svc, certsvc_flow_fn fn, void *arg)
{
	struct flow_stats st;
	size_t i;

	pthread_mutex_lock(&svc->mtx);
	for (i = 0; i < svc->nflows; i++) {
		flow_get_stats(svc->flows[i].f, &st);
		fn(arg, svc->flows[i].name, &st);
	}
	pthread_mutex_unlock(&svc->mtx);
}

/* ---- certificate facts ---- */

static int
serial_hex(X509 *x, char *out, size_t outsz)
{
	BIGNUM *bn = NULL;
	char *hex = NULL;
	size_t i;
	int r = CAP_ERR_CRYPTO;

	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL)) == NULL ||
	    (hex = BN_bn2hex(bn)) == NULL)
		goto out;
	if (strlen(hex) >= outsz || strlen(hex) > CERTDB_SERIAL_MAX ||
	    hex[0] == '-')
		goto out;
	for (i = 0; hex[i] != '\0'; i++)
		out[i] = (char)(hex[i] >= 'A' && hex[i] <= 'F' ?
		    hex[i] - 'A' + 'a' : hex[i]);
	out[i] = '\0';
	r = 0;
 out:
	OPENSSL_free(hex);
	BN_free(bn);
	return r;
}

static int
asn1_time_secs(const ASN1_TIME *t, uint64_t *out)
{
	struct tm tm;
	time_t v;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1 ||
	    (v = timegm(&tm)) < 0)
		return CAP_ERR_CRYPTO;
	*out = (uint64_t)v;
	return 0;
}

static int
der_of(X509 *x, uint8_t **der, size_t *len)
{
	int n;

	*der = NULL;
	if ((n = i2d_X509(x, der)) <= 0)
		return CAP_ERR_CRYPTO;
	*len = (size_t)n;
	return 0;
}

/* ---- the job ---- */

struct issued_arg {
	struct job	*j;
	X509		*cert;
	STACK_OF(X509)	*chain;
};

static int
record_issued(struct certdb_cert *c, void *arg)
{
	struct issued_arg *a = arg;
	uint8_t *der = NULL;
	size_t len, i;
	char serial[CERTDB_SERIAL_MAX + 1];
	uint64_t nb, na, now = cap_now();
	int r;

	if ((r = serial_hex(a->cert, serial, sizeof(serial))) != 0 ||
	    (r = asn1_time_secs(X509_get0_notBefore(a->cert), &nb)) != 0 ||
	    (r = asn1_time_secs(X509_get0_notAfter(a->cert), &na)) != 0)
		return r;
	/* detail: the superseded certificate's not_after (key retirement) */
	if (a->j->op == CERTDB_OP_RENEW && c->serial[0] != '\0')
		certdb_history_add(c, CERTDB_EV_SUPERSEDED, now, c->not_after,
		    c->serial, c->key_id);
	if ((r = der_of(a->cert, &der, &len)) != 0)
		return r;
	r = certdb_set_der(c, der, len);
	OPENSSL_free(der);
	if (r != 0)
		return r;
	certdb_chain_clear(c);
	for (i = 0; a->chain != NULL &&
	    i < (size_t)sk_X509_num(a->chain) && i < CERTDB_CHAIN_MAX; i++) {
		if ((r = der_of(sk_X509_value(a->chain, (int)i), &der,
		    &len)) != 0)
			return r;
		r = certdb_chain_push(c, der, len);
		OPENSSL_free(der);
		if (r != 0)
			return r;
	}
	copy_str(c->serial, sizeof(c->serial), serial);
	copy_str(c->key_id, sizeof(c->key_id), a->j->key_id);
	c->not_before = nb;
	c->not_after = na;
	c->status = CERTDB_ISSUED;
	c->alerts_sent = 0;
	certdb_pending_clear(c);
	certdb_history_add(c, CERTDB_EV_ISSUED, now, 0, serial, a->j->key_id);
	return 0;
}

static int
record_pending_id(struct certdb_cert *c, void *arg)
{
	struct job *j = arg;

	copy_str(c->pending.pending_id, sizeof(c->pending.pending_id),
	    j->pending_id);
	c->pending.attempts = j->fj.attempts;
	return 0;
}

static int
job_run(struct flow_job *fj)
{
	struct job *j = (struct job *)fj;
	struct certsvc_ca ca;
	struct ca_request req;
	struct ca_result res;
	struct issued_arg ia;
	int r;

	memset(&res, 0, sizeof(res));
	memset(&ca, 0, sizeof(ca));
	if ((r = j->svc->lookup(j->svc->lookup_arg, j->ca, &ca)) != 0) {
		copy_str(j->reason, sizeof(j->reason), "the CA is not configured");
		return r;
	}
	memset(&req, 0, sizeof(req));
	req.csr = j->csr;
	req.key_uri = j->key_uri;
	req.profile = j->profile[0] != '\0' ? j->profile : NULL;
	req.validity = j->validity;
	req.old_cert = j->old_cert;
	req.old_key_uri = j->old_key_uri;
	req.pending_id = j->pending_id[0] != '\0' ? j->pending_id : NULL;
	req.pop_verified = j->pop_verified;
	if (req.pending_id != NULL && ca.ops->poll != NULL)
		r = ca.ops->poll(ca.state, &req, &res);
	else if (j->op == CERTDB_OP_RENEW && ca.ops->renew != NULL)
		r = ca.ops->renew(ca.state, &req, &res);
	else
		r = ca.ops->enroll(ca.state, &req, &res);
	if (r != 0) {
		copy_str(j->reason, sizeof(j->reason), res.reason[0] != '\0' ?
		    res.reason : cap_strerror(r));
		goto out;
	}
	switch (res.status) {
	case CA_PENDING:
		copy_str(j->pending_id, sizeof(j->pending_id), res.pending_id);
		if (certdb_update(j->svc->s, j->id, record_pending_id, j) != 0)
			log_warn("certs: cannot record the pending id of %s",
			    j->id);
		r = CAP_ERR_UNAVAILABLE;	/* polled after the backoff */
		goto out;
	case CA_REJECTED:
		copy_str(j->reason, sizeof(j->reason), res.reason);
		r = CAP_ERR_DENIED;
		goto out;
	case CA_ISSUED:
		break;
	default:
		r = CAP_ERR_CRYPTO;
		goto out;
	}
	if (res.cert == NULL) {
		copy_str(j->reason, sizeof(j->reason), "the CA sent no certificate");
		r = CAP_ERR_CRYPTO;
		goto out;
	}
	if ((r = chain_validate(res.cert, res.chain, ca.roots, j->spki,
	    j->spkilen, time(NULL), j->reason, sizeof(j->reason))) != 0) {
		log_warn("ca %s: answer for %s refused: %s", j->ca, j->id,
		    j->reason);
		r = CAP_ERR_CRYPTO;
		goto out;
	}
	ia.j = j;
	ia.cert = res.cert;
	ia.chain = res.chain;
	if ((r = certdb_update(j->svc->s, j->id, record_issued, &ia)) != 0)
		copy_str(j->reason, sizeof(j->reason), "cannot store the certificate");
 out:
	ca_result_clear(&res);
	ca_put(&ca);
	return r;
}

struct failed_arg {
	struct job	*j;
	int		 result;
};

/* A request the CA refused or never answered: keep it, marked. */
static int
record_failed(struct certdb_cert *c, void *arg)
{
	struct failed_arg *a = arg;

	certdb_history_add(c, CERTDB_EV_FAILED, cap_now(),
	    (uint64_t)(-a->result), NULL, a->j->key_id);
	certdb_pending_clear(c);
	if (a->j->op != CERTDB_OP_RENEW)
		c->status = CERTDB_FAILED;
	else	/* the current certificate is still there, maybe expired */
		c->status = c->not_after != 0 && c->not_after <= cap_now() ?
		    CERTDB_EXPIRED : CERTDB_ISSUED;
	return 0;
}

static void
job_done(struct flow_job *fj, int result)
{
	struct job *j = (struct job *)fj;
	struct failed_arg fa = { j, result };
	int stopping;

	pthread_mutex_lock(&j->svc->mtx);
	stopping = j->svc->stopping;
	pthread_mutex_unlock(&j->svc->mtx);
	if (stopping && result == CAP_ERR_UNAVAILABLE) {
		/* Shutting down: the request stays pending in the store. */
		job_free(j);
		return;
	}
	if (result != 0) {
		if (result == CAP_ERR_CRYPTO && j->op == CERTDB_OP_ENROLL) {
			/* A bad answer: nothing of this request is kept. */
			if (certdb_delete(j->svc->s, j->id) != 0)
				log_warn("certs: cannot remove %s", j->id);
		} else if (certdb_update(j->svc->s, j->id, record_failed,
		    &fa) != 0)
			log_warn("certs: cannot record the failure of %s", j->id);
		if (j->key_generated &&
		    keys_destroy(j->svc->h, j->svc->s, j->key_id) != 0)
			log_warn("certs: cannot destroy key %s", j->key_id);
		log_warn("certs: request %s to ca %s failed: %s", j->id, j->ca,
		    j->reason[0] != '\0' ? j->reason : cap_strerror(result));
	} else
		log_info("certs: %s issued by ca %s", j->id, j->ca);
	if (j->done != NULL)
		j->done(j->arg, j->id, result, j->reason);
	job_free(j);
}

/* Loads the URI and SPKI of the key objects priv/pub into j. */
static int
job_key_objs(certsvc *svc, struct job *j, hsm_obj priv, hsm_obj pub)
{
	int r;

	if ((r = keys_uri(svc->h, priv, &j->key_uri)) != 0 ||
	    (r = keys_public_der(svc->h, pub, &j->spki, &j->spkilen)) != 0)
		return r;
	return 0;
}

/* Loads key_id's URI and SPKI into j. */
static int
job_key(certsvc *svc, struct job *j, hsm_obj *priv, hsm_key_type *type)
{
	struct key_info ki;
	hsm_obj pub = 0;
	int r;

	if ((r = keys_get(svc->h, svc->s, j->key_id, &ki, priv, &pub)) != 0)
		return r;
	if (ki.type == HSM_KEY_AES_256)
		return CAP_ERR_INVALID;
	if ((r = job_key_objs(svc, j, *priv, pub)) != 0)
		return r;
	*type = ki.type;
	return 0;
}

static int
job_submit(certsvc *svc, struct job *j, const struct certsvc_ca *ca,
    int always, uint32_t *retry_after)
{
	flow *f;
	int r;

	if ((r = flow_get(svc, j->ca, &ca->limits, &f)) != 0)
		return r;
	j->fj.run = job_run;
	j->fj.done = job_done;
	return always ? flow_submit_always(f, &j->fj) :
	    flow_submit(f, &j->fj, retry_after);
}

static int
csr_der(X509_REQ *req, uint8_t **der, size_t *len)
{
	int n;

	*der = NULL;
	if ((n = i2d_X509_REQ(req, der)) <= 0)
		return CAP_ERR_CRYPTO;
	*len = (size_t)n;
	return 0;
}

/*
 * enroll_queue stores the pending record c (durable before the request is
 * acknowledged or queued) and hands j to the CA's flow; a refused request
 * leaves no record.  0: j belongs to the flow.
 */
static int
enroll_queue(certsvc *svc, struct job *j, const struct certdb_cert *c,
    const struct certsvc_ca *ca, char id_out[CERTDB_ID_LEN + 1],
    uint32_t *retry_after)
{
	int r;

	if ((r = certdb_put(svc->s, c, 1)) != 0)
		return r;
	copy_str(id_out, CERTDB_ID_LEN + 1, j->id);
	if ((r = job_submit(svc, j, ca, 0, retry_after)) != 0 &&
	    certdb_delete(svc->s, c->id) != 0)
		log_warn("certs: cannot remove refused request %s", c->id);
	return r;
}

int
certsvc_enroll(certsvc *svc, const struct certsvc_enroll_req *rq,
    certsvc_done_fn done, void *arg, char id_out[CERTDB_ID_LEN + 1],
    uint32_t *retry_after, char *err, size_t errlen)
{
	struct certsvc_ca ca;
	struct certdb_cert *c = NULL;
	struct job *j = NULL;
	struct key_info ki;
	hsm_key_type type;
	hsm_obj priv = 0, pub = 0;
	uint8_t *der = NULL;
	size_t derlen = 0, i;
	int r;

	id_out[0] = '\0';
	*retry_after = 0;
	memset(&ca, 0, sizeof(ca));
	copy_str(err, errlen, "");
	if (rq->ca == NULL || !cap_name_valid(rq->ca) || rq->subject == NULL ||
	    rq->subject[0] == '\0' ||
	    strlen(rq->subject) > CERTDB_SUBJECT_MAX ||
	    rq->nsans > CERTDB_SAN_MAX ||
	    (rq->profile != NULL && strlen(rq->profile) > CERTDB_PROFILE_MAX)) {
		copy_str(err, errlen, "ca, subject (at most 512 bytes), at "
		    "most 16 sans and a profile of at most 64 bytes");
		return CAP_ERR_INVALID;
	}
	for (i = 0; i < rq->nsans; i++)
		if (rq->sans[i] == NULL || rq->sans[i][0] == '\0' ||
		    strlen(rq->sans[i]) > CERTDB_SAN_LEN) {
			copy_str(err, errlen, "a SAN is empty or too long");
			return CAP_ERR_INVALID;
		}
	if ((r = svc->lookup(svc->lookup_arg, rq->ca, &ca)) != 0) {
		copy_str(err, errlen, "no such CA");
		return r;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (c = certdb_cert_new()) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	j->svc = svc;
	j->op = CERTDB_OP_ENROLL;
	j->done = done;
	j->arg = arg;
	j->validity = rq->validity;
	copy_str(j->ca, sizeof(j->ca), rq->ca);
	copy_str(j->profile, sizeof(j->profile), rq->profile);
	certdb_id_new(j->id);
	if (rq->key_id != NULL) {
		if (!certdb_id_valid(rq->key_id)) {
			copy_str(err, errlen, "key_id is 32 hex characters");
			r = CAP_ERR_INVALID;
			goto out;
		}
		copy_str(j->key_id, sizeof(j->key_id), rq->key_id);
	} else {
		if (hsm_key_type_parse(rq->key_type != NULL ? rq->key_type :
		    "ec-p256", &type) != 0 || type == HSM_KEY_AES_256) {
			copy_str(err, errlen, "unknown or unusable key type");
			r = CAP_ERR_INVALID;
			goto out;
		}
		/* the new handles spare a lookup that scans the token */
		if ((r = keys_generate_obj(svc->h, svc->s, type, j->id,
		    STORE_KEY_OWNER_CERT, &ki, &priv, &pub)) != 0)
			goto out;
		j->key_generated = 1;
		copy_str(j->key_id, sizeof(j->key_id), ki.id);
	}
	if ((r = j->key_generated ? job_key_objs(svc, j, priv, pub) :
	    job_key(svc, j, &priv, &type)) != 0) {
		copy_str(err, errlen, r == CAP_ERR_NOT_FOUND ? "no such key" :
		    "the key cannot sign requests");
		goto out;
	}
	if ((r = csr_build(svc->h, priv, type, j->spki, j->spkilen,
	    rq->subject, rq->sans, rq->nsans, &j->csr)) != 0) {
		copy_str(err, errlen, "subject or SANs not understood");
		goto out;
	}
	if ((r = csr_der(j->csr, &der, &derlen)) != 0)
		goto out;
	copy_str(c->id, sizeof(c->id), j->id);
	copy_str(c->ca, sizeof(c->ca), rq->ca);
	copy_str(c->profile, sizeof(c->profile), rq->profile);
	copy_str(c->key_type, sizeof(c->key_type), hsm_key_type_name(type));
	copy_str(c->subject, sizeof(c->subject), rq->subject);
	for (i = 0; i < rq->nsans; i++)
		copy_str(c->sans[i], sizeof(c->sans[i]), rq->sans[i]);
	c->nsans = rq->nsans;
	c->created = cap_now();
	c->validity = rq->validity;
	c->status = CERTDB_PENDING;
	c->auto_renew = rq->auto_renew ? 1 : 0;
	if ((r = certdb_pending_set(c, CERTDB_OP_ENROLL, der, derlen,
	    j->key_id)) != 0)
		goto out;
	if ((r = enroll_queue(svc, j, c, &ca, id_out, retry_after)) != 0)
		goto out;
	j = NULL;	/* transferred to the flow */
	r = 0;
 out:
	if (r != 0 && j != NULL && j->key_generated &&
	    keys_destroy(svc->h, svc->s, j->key_id) != 0)
		log_warn("certs: cannot destroy key %s", j->key_id);
	if (r != 0)
		id_out[0] = '\0';
	OPENSSL_free(der);
	certdb_cert_free(c);
	job_free(j);
	ca_put(&ca);
	return r;
}

/* The DER SubjectPublicKeyInfo of a request. */
static int
csr_spki(X509_REQ *req, uint8_t **der, size_t *len)
{
	X509_PUBKEY *pk;
	int n;

	*der = NULL;
	*len = 0;
	if ((pk = X509_REQ_get_X509_PUBKEY(req)) == NULL ||
	    (n = i2d_X509_PUBKEY(pk, der)) <= 0)
		return CAP_ERR_CRYPTO;
	*len = (size_t)n;
	return 0;
}

/* The record's subject text: RFC 2253 order reversed to "CN=a,O=b". */
static int
csr_subject_text(X509_REQ *req, char *out, size_t outsz)
{
	X509_NAME *name = X509_REQ_get_subject_name(req);
	BIO *b = NULL;
	int n, r = CAP_ERR_INVALID;

	out[0] = '\0';
	if (name == NULL || X509_NAME_entry_count(name) == 0)
		return CAP_ERR_INVALID;
	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return CAP_ERR_NOMEM;
	if (X509_NAME_print_ex(b, name, 0,
	    (XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) | XN_FLAG_DN_REV) < 0)
		goto out;
	if ((n = BIO_read(b, out, (int)outsz - 1)) <= 0 ||
	    (size_t)n > CERTDB_SUBJECT_MAX || BIO_pending(b) > 0)
		goto out;
	out[n] = '\0';
	r = 0;
 out:
	if (r != 0)
		out[0] = '\0';
	BIO_free(b);
	return r;
}

/* The DNS and IP SANs of a request, as "DNS:x" / "IP:y" strings. */
static int
csr_sans_text(X509_REQ *req, struct certdb_cert *c)
{
	STACK_OF(X509_EXTENSION) *exts;
	GENERAL_NAMES *gens = NULL;
	const GENERAL_NAME *g;
	char ip[64];
	int i, crit = -1, r = 0;

	c->nsans = 0;
	if ((exts = X509_REQ_get_extensions(req)) == NULL)
		return 0;
	/* crit -1: none; -2: several; otherwise one that does not parse */
	if ((gens = X509V3_get_d2i(exts, NID_subject_alt_name, &crit,
	    NULL)) == NULL && crit != -1)
		r = CAP_ERR_INVALID;
	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		g = sk_GENERAL_NAME_value(gens, i);
		if (c->nsans == CERTDB_SAN_MAX) {
			r = CAP_ERR_TOO_LARGE;
			break;
		}
		if (g->type == GEN_DNS) {
			const ASN1_IA5STRING *d = g->d.dNSName;

			if (d->length <= 0 || d->length > CERTDB_SAN_LEN - 4 ||
			    memchr(d->data, '\0', (size_t)d->length) != NULL) {
				r = CAP_ERR_INVALID;
				break;
			}
			snprintf(c->sans[c->nsans++], CERTDB_SAN_LEN + 1,
			    "DNS:%.*s", d->length, (const char *)d->data);
		} else if (g->type == GEN_IPADD) {
			const ASN1_OCTET_STRING *o = g->d.iPAddress;
			int af = o->length == 4 ? AF_INET :
			    o->length == 16 ? AF_INET6 : -1;

			if (af < 0 || inet_ntop(af, o->data, ip,
			    sizeof(ip)) == NULL) {
				r = CAP_ERR_INVALID;
				break;
			}
			snprintf(c->sans[c->nsans++], CERTDB_SAN_LEN + 1,
			    "IP:%s", ip);
		}
	}
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	for (i = 0; r == 0 && i < (int)c->nsans; i++) {
		const char *q;

		for (q = c->sans[i]; *q != '\0'; q++)
			if (*q <= 0x20 || *q >= 0x7f) {
				r = CAP_ERR_INVALID;
				break;
			}
	}
	return r;
}

int
certsvc_enroll_csr(certsvc *svc, const char *caname, const char *profile,
    uint64_t validity, const uint8_t *csr, size_t csrlen, unsigned flags,
    certsvc_done_fn done, void *arg, char id_out[CERTDB_ID_LEN + 1],
    uint32_t *retry_after, char *err, size_t errlen)
{
	struct certsvc_ca ca;
	struct certdb_cert *c = NULL;
	struct job *j = NULL;
	const unsigned char *p;
	EVP_PKEY *pub;
	int r;

	id_out[0] = '\0';
	*retry_after = 0;
	memset(&ca, 0, sizeof(ca));
	copy_str(err, errlen, "");
	if (caname == NULL || !cap_name_valid(caname) || csr == NULL ||
	    csrlen == 0 || csrlen > CERTDB_DER_MAX ||
	    (profile != NULL && strlen(profile) > CERTDB_PROFILE_MAX) ||
	    (flags & ~(unsigned)CERTSVC_POP_VERIFIED) != 0) {
		copy_str(err, errlen, "ca, a request of at most 16 KiB and a "
		    "profile of at most 64 bytes");
		return CAP_ERR_INVALID;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (c = certdb_cert_new()) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	p = csr;
	if ((j->csr = d2i_X509_REQ(NULL, &p, (long)csrlen)) == NULL ||
	    p != csr + csrlen) {
		copy_str(err, errlen, "the request is not a PKCS#10 structure");
		r = CAP_ERR_INVALID;
		goto out;
	}
	if ((flags & CERTSVC_POP_VERIFIED) == 0 &&
	    ((pub = X509_REQ_get0_pubkey(j->csr)) == NULL ||
	    X509_REQ_verify(j->csr, pub) != 1)) {
		copy_str(err, errlen, "the request's signature does not verify");
		r = CAP_ERR_INVALID;
		goto out;
	}
	if ((r = csr_spki(j->csr, &j->spki, &j->spkilen)) != 0) {
		copy_str(err, errlen, "the request has no usable public key");
		r = CAP_ERR_INVALID;
		goto out;
	}
	if (csr_subject_text(j->csr, c->subject, sizeof(c->subject)) != 0 ||
	    csr_sans_text(j->csr, c) != 0) {
		copy_str(err, errlen, "the request's subject (1..512 bytes) or "
		    "subjectAltName (at most 16) is not usable");
		r = CAP_ERR_INVALID;
		goto out;
	}
	if ((r = svc->lookup(svc->lookup_arg, caname, &ca)) != 0) {
		copy_str(err, errlen, "no such CA");
		goto out;
	}
	j->svc = svc;
	j->op = CERTDB_OP_ENROLL;
	j->done = done;
	j->arg = arg;
	j->validity = validity;
	j->pop_verified = (flags & CERTSVC_POP_VERIFIED) != 0;
	copy_str(j->ca, sizeof(j->ca), caname);
	copy_str(j->profile, sizeof(j->profile), profile);
	certdb_id_new(j->id);
	copy_str(c->id, sizeof(c->id), j->id);
	copy_str(c->ca, sizeof(c->ca), caname);
	copy_str(c->profile, sizeof(c->profile), profile);
	c->created = cap_now();
	c->validity = validity;
	c->status = CERTDB_PENDING;
	c->auto_renew = 0;
	if ((r = certdb_pending_set(c, CERTDB_OP_ENROLL, csr, csrlen, "")) != 0)
		goto out;
	if (j->pop_verified)
		c->pending.flags = CERTDB_PENDING_POP_VERIFIED;
	if ((r = enroll_queue(svc, j, c, &ca, id_out, retry_after)) != 0)
		goto out;
	j = NULL;	/* transferred to the flow */
	r = 0;
 out:
	if (r != 0)
		id_out[0] = '\0';
	certdb_cert_free(c);
	job_free(j);
	ca_put(&ca);
	return r;
}

struct renew_arg {
	struct job	*j;
	const uint8_t	*csr;
	size_t		 csrlen;
};

static int
record_renewing(struct certdb_cert *c, void *arg)
{
	struct renew_arg *a = arg;
	int r;

	if (c->status != CERTDB_ISSUED && c->status != CERTDB_EXPIRED)
		return CAP_ERR_CONFLICT;
	if ((r = certdb_pending_set(c, CERTDB_OP_RENEW, a->csr, a->csrlen,
	    a->j->key_id)) != 0)
		return r;
	c->status = CERTDB_RENEWING;
	return 0;
}

static int
record_unrenewing(struct certdb_cert *c, void *arg)
{
	(void)arg;
	certdb_pending_clear(c);
	c->status = c->not_after != 0 && c->not_after <= cap_now() ?
	    CERTDB_EXPIRED : CERTDB_ISSUED;
	return 0;
}

/* Fills j for the renewal of c; the new key is made when new_key. */
static int
renew_prepare(certsvc *svc, struct job *j, const struct certdb_cert *c,
    int new_key)
{
	struct key_info ki;
	const unsigned char *p;
	hsm_key_type type;
	hsm_obj priv = 0, pub = 0, opriv = 0;
	const char *const *sans;
	const char *sanv[CERTDB_SAN_MAX];
	size_t i;
	int r;

	p = c->der;
	if (c->der == NULL ||
	    (j->old_cert = d2i_X509(NULL, &p, (long)c->derlen)) == NULL)
		return CAP_ERR_CONFLICT;
	if (keys_get(svc->h, svc->s, c->key_id, &ki, &opriv, NULL) == 0 &&
	    keys_uri(svc->h, opriv, &j->old_key_uri) != 0)
		return CAP_ERR_TOKEN;
	if (new_key) {
		if (hsm_key_type_parse(c->key_type[0] != '\0' ? c->key_type :
		    "ec-p256", &type) != 0)
			return CAP_ERR_INVALID;
		if ((r = keys_generate_obj(svc->h, svc->s, type, c->id,
		    STORE_KEY_OWNER_CERT, &ki, &priv, &pub)) != 0)
			return r;
		j->key_generated = 1;
		copy_str(j->key_id, sizeof(j->key_id), ki.id);
		if ((r = job_key_objs(svc, j, priv, pub)) != 0)
			return r;
	} else {
		copy_str(j->key_id, sizeof(j->key_id), c->key_id);
		if ((r = job_key(svc, j, &priv, &type)) != 0)
			return r;
	}
	for (i = 0; i < c->nsans; i++)
		sanv[i] = c->sans[i];
	sans = sanv;
	return csr_build(svc->h, priv, type, j->spki, j->spkilen, c->subject,
	    sans, c->nsans, &j->csr);
}

int
certsvc_renew(certsvc *svc, const char *id, int new_key,
    certsvc_done_fn done, void *arg, uint32_t *retry_after)
{
	struct certsvc_ca ca;
	struct certdb_cert *c = NULL;
	struct renew_arg ra;
	struct job *j = NULL;
	uint8_t *der = NULL;
	size_t derlen = 0;
	int r, marked = 0;

	*retry_after = 0;
	memset(&ca, 0, sizeof(ca));
	if ((r = certdb_get(svc->s, id, &c)) != 0)
		goto out;
	/* a certificate of an external request has no key here to renew */
	if ((c->status != CERTDB_ISSUED && c->status != CERTDB_EXPIRED) ||
	    c->key_id[0] == '\0') {
		r = CAP_ERR_CONFLICT;
		goto out;
	}
	if ((r = svc->lookup(svc->lookup_arg, c->ca, &ca)) != 0)
		goto out;
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	j->svc = svc;
	j->op = CERTDB_OP_RENEW;
	j->done = done;
	j->arg = arg;
	j->validity = c->validity;
	copy_str(j->id, sizeof(j->id), c->id);
	copy_str(j->ca, sizeof(j->ca), c->ca);
	copy_str(j->profile, sizeof(j->profile), c->profile);
	if ((r = renew_prepare(svc, j, c, new_key)) != 0 ||
	    (r = csr_der(j->csr, &der, &derlen)) != 0)
		goto out;
	ra.j = j;
	ra.csr = der;
	ra.csrlen = derlen;
	if ((r = certdb_update(svc->s, id, record_renewing, &ra)) != 0)
		goto out;
	marked = 1;
	if ((r = job_submit(svc, j, &ca, 0, retry_after)) != 0)
		goto out;
	j = NULL;	/* transferred */
	r = 0;
 out:
	if (r != 0 && marked &&
	    certdb_update(svc->s, id, record_unrenewing, NULL) != 0)
		log_warn("certs: cannot reset %s after a refused renewal", id);
	if (r != 0 && j != NULL && j->key_generated &&
	    keys_destroy(svc->h, svc->s, j->key_id) != 0)
		log_warn("certs: cannot destroy key %s", j->key_id);
	OPENSSL_free(der);
	certdb_cert_free(c);
	job_free(j);
	ca_put(&ca);
	return r;
}

static int
record_revoked(struct certdb_cert *c, void *arg)
{
	int reason = *(int *)arg;

	c->status = CERTDB_REVOKED;
	c->revoke_reason = (uint8_t)reason;
	c->revoked_at = cap_now();
	c->auto_renew = 0;
	certdb_history_add(c, CERTDB_EV_REVOKED, c->revoked_at,
	    (uint64_t)reason, c->serial, c->key_id);
	return 0;
}

int
certsvc_revoke(certsvc *svc, const char *id, int reason, char *err,
    size_t errlen)
{
	struct certsvc_ca ca;
	struct certdb_cert *c = NULL;
	const unsigned char *p;
	X509 *x = NULL;
	int r;

	copy_str(err, errlen, "");
	memset(&ca, 0, sizeof(ca));
	if ((r = certdb_get(svc->s, id, &c)) != 0)
		goto out;
	if (c->der == NULL || c->status == CERTDB_REVOKED) {
		r = CAP_ERR_CONFLICT;
		goto out;
	}
	if ((r = svc->lookup(svc->lookup_arg, c->ca, &ca)) != 0)
		goto out;
	p = c->der;
	if ((x = d2i_X509(NULL, &p, (long)c->derlen)) == NULL) {
		r = CAP_ERR_CORRUPT;
		goto out;
	}
	if (ca.ops->revoke == NULL) {
		snprintf(err, errlen, "CA '%s': %s has no revocation operation; "
		    "revoke at the CA", c->ca, ca.ops->protocol);
		r = CAP_ERR_UNSUPPORTED;
		goto out;
	}
	if ((r = ca.ops->revoke(ca.state, x, reason, err, errlen)) != 0)
		goto out;
	r = certdb_update(svc->s, id, record_revoked, &reason);
 out:
	X509_free(x);
	certdb_cert_free(c);
	ca_put(&ca);
	return r;
}

/* The inventory's chain of c, issuer first. */
static int
chain_of(const struct certdb_cert *c, STACK_OF(X509) **out)
{
	STACK_OF(X509) *sk;
	const unsigned char *p;
	X509 *x;
	size_t i;

	if ((sk = sk_X509_new_null()) == NULL)
		return CAP_ERR_NOMEM;
	for (i = 0; i < c->nchain; i++) {
		p = c->chain[i];
		if ((x = d2i_X509(NULL, &p, (long)c->chainlen[i])) == NULL) {
			sk_X509_pop_free(sk, X509_free);
			return CAP_ERR_CORRUPT;
		}
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			sk_X509_pop_free(sk, X509_free);
			return CAP_ERR_NOMEM;
		}
	}
	*out = sk;
	return 0;
}

/*
 * A connector that publishes its CRL (the local CA) is asked directly;
 * any other certificate is checked over the network by certstatus_check,
 * through the OCSP responder or the CRL the certificate names.
 */
int
certsvc_status(certsvc *svc, const char *id, struct certstatus_result *res)
{
	struct certsvc_ca ca;
	struct certdb_cert *c = NULL;
	const unsigned char *p;
	STACK_OF(X509) *chain = NULL;
	X509 *x = NULL;
	X509_CRL *crl = NULL;
	X509_REVOKED *rev = NULL;
	uint8_t *der = NULL;
	size_t len = 0;
	int r;

	certstatus_result_init(res);
	memset(&ca, 0, sizeof(ca));
	if ((r = certdb_get(svc->s, id, &c)) != 0)
		goto out;
	if (c->der == NULL) {
		r = CAP_ERR_CONFLICT;
		goto out;
	}
	p = c->der;
	if ((x = d2i_X509(NULL, &p, (long)c->derlen)) == NULL) {
		r = CAP_ERR_CORRUPT;
		goto out;
	}
	if ((r = svc->lookup(svc->lookup_arg, c->ca, &ca)) != 0 &&
	    r != CAP_ERR_NOT_FOUND)
		goto out;
	if (r == 0 && ca.ops->crl != NULL) {
		if ((r = ca.ops->crl(ca.state, &der, &len)) != 0)
			goto out;
		p = der;
		if ((crl = d2i_X509_CRL(NULL, &p, (long)len)) == NULL) {
			r = CAP_ERR_CRYPTO;
			goto out;
		}
		res->source = "crl";
		if (X509_CRL_get0_by_serial(crl, &rev,
		    X509_get0_serialNumber(x)) == 1) {
			res->status = "revoked";
			if (asn1_time_secs(X509_REVOKED_get0_revocationDate(rev),
			    &res->revoked_at) != 0)
				res->revoked_at = 0;
		} else
			res->status = "good";
		r = 0;
		goto out;
	}
	/* the connector may be gone; the certificate still names its sources */
	if ((r = chain_of(c, &chain)) != 0)
		goto out;
	certstatus_check(x, chain, res);
	r = 0;
 out:
	sk_X509_pop_free(chain, X509_free);
	X509_CRL_free(crl);
	X509_free(x);
	free(der);
	certdb_cert_free(c);
	ca_put(&ca);
	return r;
}

/* Rebuilds the job of a stored pending request. */
static int
resume_one(certsvc *svc, const struct certdb_cert *c)
{
	struct certsvc_ca ca;
	struct key_info ki;
	struct job *j = NULL;
	const unsigned char *p;
	hsm_key_type type;
	hsm_obj priv = 0, opriv = 0;
	int r;

	if ((r = svc->lookup(svc->lookup_arg, c->ca, &ca)) != 0)
		return r;
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	j->svc = svc;
	j->op = c->pending.op;
	j->validity = c->validity;
	j->key_generated = 0;	/* a resumed request keeps its key */
	copy_str(j->id, sizeof(j->id), c->id);
	copy_str(j->ca, sizeof(j->ca), c->ca);
	copy_str(j->profile, sizeof(j->profile), c->profile);
	copy_str(j->key_id, sizeof(j->key_id), c->pending.key_id);
	copy_str(j->pending_id, sizeof(j->pending_id), c->pending.pending_id);
	p = c->pending.csr;
	if ((j->csr = d2i_X509_REQ(NULL, &p, (long)c->pending.csrlen)) == NULL) {
		r = CAP_ERR_CORRUPT;
		goto out;
	}
	j->pop_verified = (c->pending.flags & CERTDB_PENDING_POP_VERIFIED) != 0;
	if (j->key_id[0] == '\0')
		r = csr_spki(j->csr, &j->spki, &j->spkilen);
	else
		r = job_key(svc, j, &priv, &type);
	if (r != 0)
		goto out;
	if (j->op == CERTDB_OP_RENEW && c->der != NULL) {
		p = c->der;
		j->old_cert = d2i_X509(NULL, &p, (long)c->derlen);
		if (keys_get(svc->h, svc->s, c->key_id, &ki, &opriv, NULL) == 0 &&
		    (r = keys_uri(svc->h, opriv, &j->old_key_uri)) != 0)
			goto out;
	}
	if ((r = job_submit(svc, j, &ca, 1, NULL)) != 0)
		goto out;
	j = NULL;	/* transferred */
 out:
	job_free(j);
	ca_put(&ca);
	return r;
}

int
certsvc_resume(certsvc *svc)
{
	struct certdb_filter f;
	struct certdb_cert *c = NULL;
	char **ids = NULL;
	size_t n = 0, i, resumed = 0;
	int r, st;

	for (st = CERTDB_PENDING; st <= CERTDB_RENEWING; st++) {
		if (st == CERTDB_ISSUED)
			continue;
		memset(&f, 0, sizeof(f));
		f.status = st;
		if ((r = certdb_list(svc->s, &f, &ids, &n)) != 0)
			return r;
		for (i = 0; i < n; i++) {
			if (certdb_get(svc->s, ids[i], &c) != 0)
				continue;
			if (c->pending.op != CERTDB_OP_NONE) {
				if ((r = resume_one(svc, c)) != 0)
					log_warn("certs: cannot resume %s: %s",
					    c->id, cap_strerror(r));
				else
					resumed++;
			}
			certdb_cert_free(c);
			c = NULL;
		}
		store_names_free(ids, n);
	}
	if (resumed > 0)
		log_info("certs: %zu pending requests resumed", resumed);
	return 0;
}
