/*
 * cmf_initcred.c - initial credentials (GR NFV-SEC 005 clause 8.1.2):
 * bootstrap tokens and initial certificates, one use each.
 *
 * A bootstrap token's secret is kept by the vault in CMF_VAULT_DOMAIN
 * (a password-based MAC needs it back, so a hash would not do), under the
 * name "ic.<reference>"; the record in cmfdb holds no secret.  The claim
 * is one LMDB write transaction (cmfdb_ic_claim), so of two concurrent
 * uses one wins.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "crypto/envelope.h"
#include "crypto/vault.h"
#include "nfv/cmf.h"
#include "nfv/cmf_int.h"
#include "store/certdb.h"
#include "store/cmfdb.h"

#define TTL_MAX		(30 * 86400)
#define SECRET_NAME_LEN	(3 + CMF_INITCRED_REF_LEN)
#define SECRET_JSON_MAX	(16 + CMF_INITCRED_SECRET_LEN)

static void
secret_name(char out[SECRET_NAME_LEN + 1], const char *ref)
{
	snprintf(out, SECRET_NAME_LEN + 1, "ic.%s", ref);
}

/* The vault domain, made on first use. */
static int
domain_ready(cmf *c)
{
	struct store_domain d;
	int r = 0;

	if (c->env.v == NULL)
		return CAP_ERR_UNAVAILABLE;
	pthread_mutex_lock(&c->mtx);
	if (!c->domain_ready) {
		r = vault_domain_get(c->env.v, CMF_VAULT_DOMAIN, &d);
		if (r == CAP_ERR_NOT_FOUND) {
			r = vault_domain_create(c->env.v, CMF_VAULT_DOMAIN, &d);
			if (r == CAP_ERR_EXISTS)
				r = 0;
		}
		if (r == 0)
			c->domain_ready = 1;
	}
	pthread_mutex_unlock(&c->mtx);
	return r;
}

static int
drop(cmf *c, const char *ref, const uint8_t *token)
{
	char name[SECRET_NAME_LEN + 1];
	struct cmfdb_initcred ic;
	int r;

	if ((r = cmfdb_ic_get(c->env.s, ref, &ic)) != 0)
		return r;
	sodium_memzero(ic.ic.claim_token, sizeof(ic.ic.claim_token));
	if ((r = token != NULL ? cmfdb_ic_delete_claimed(c->env.s, ref, token) :
	    cmfdb_ic_delete(c->env.s, ref)) != 0)
		return r;
	if (ic.ic.kind == CMF_IC_TOKEN && c->env.v != NULL) {
		secret_name(name, ref);
		if (vault_secret_destroy(c->env.v, CMF_VAULT_DOMAIN, name,
		    NULL, 0) != 0)
			log_warn("cmf: cannot destroy the secret of initial "
			    "credential %.8s...", ref);
	}
	return 0;
}

int
cmf_initcred_drop(cmf *c, const char *ref)
{
	return drop(c, ref, NULL);
}

int
cmf_initcred_drop_claimed(cmf *c, const char *ref, const uint8_t *token)
{
	if (token == NULL)
		return CAP_ERR_CONFLICT;
	return drop(c, ref, token);
}

void
cmf_initcred_spent(cmf *c, const char *entity, const char *certtype)
{
	struct cmfdb_initcred *v = NULL;
	size_t n = 0, i;

	if (cmfdb_ic_list(c->env.s, entity, &v, &n) != 0)
		return;
	for (i = 0; i < n; i++)
		if (strcmp(v[i].ic.certtype, certtype) == 0 &&
		    cmf_initcred_drop(c, v[i].ic.ref) == 0)
			log_info("cmf: initial credential of %s/%s spent",
			    entity, certtype);
	free(v);
}

/* Stores the secret text of a new bootstrap token in the vault. */
static int
secret_put(cmf *c, const char *ref, const char *secret)
{
	char name[SECRET_NAME_LEN + 1], json[SECRET_JSON_MAX + 1];
	int n, r;

	if ((r = domain_ready(c)) != 0)
		return r;
	secret_name(name, ref);
	n = snprintf(json, sizeof(json), "{\"s\":\"%s\"}", secret);
	if (n < 0 || (size_t)n >= sizeof(json))
		r = CAP_ERR_INTERNAL;
	else
		r = vault_secret_put(c->env.v, CMF_VAULT_DOMAIN, name,
		    (const uint8_t *)json, (size_t)n, 0, NULL);
	sodium_memzero(json, sizeof(json));
	return r;
}

/*
 * The secret text of ref, copied into sodium_malloc'd memory.  The vault
 * gives {"s":"<43 characters>"}; the text is cut out of it in place so
 * no copy is left behind in a JSON library's buffers.
 */
static int
secret_get(cmf *c, const char *ref, uint8_t **out, size_t *outlen)
{
	char name[SECRET_NAME_LEN + 1];
	uint8_t *data = NULL, *s = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	*outlen = 0;
	if (c->env.v == NULL)
		return CAP_ERR_UNAVAILABLE;
	secret_name(name, ref);
	if ((r = vault_secret_get(c->env.v, CMF_VAULT_DOMAIN, name, 0, &data,
	    &len, NULL)) != 0)
		return r;
	if (len != 8 + CMF_INITCRED_SECRET_LEN ||
	    memcmp(data, "{\"s\":\"", 6) != 0 || data[len - 2] != '"' ||
	    data[len - 1] != '}') {
		r = CAP_ERR_CORRUPT;
		goto out;
	}
	if ((s = sodium_malloc(CMF_INITCRED_SECRET_LEN + 1)) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	memcpy(s, data + 6, CMF_INITCRED_SECRET_LEN);
	s[CMF_INITCRED_SECRET_LEN] = '\0';
	*out = s;	/* transferred */
	*outlen = CMF_INITCRED_SECRET_LEN;
	r = 0;
 out:
	envelope_plaintext_free(data, len);
	return r;
}

int
cmf_initcred_create(cmf *c, const char *id, const char *certtype,
    uint64_t ttl, const uint8_t *csr, size_t csrlen,
    struct cmf_initcred *cred_out,
    char secret_out[CMF_INITCRED_SECRET_LEN + 1], struct cmf_issued *out,
    char *err, size_t errlen)
{
	struct cmf_entity *e = NULL;
	const struct cmf_certtype *t;
	struct cmfdb_initcred rec;
	uint8_t rnd[32], refb[CMF_INITCRED_REF_LEN / 2];
	int r, secret_kept = 0;

	cmf_err(err, errlen, "%s", "");
	memset(cred_out, 0, sizeof(*cred_out));
	if (secret_out != NULL)
		secret_out[0] = '\0';
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	memset(&rec, 0, sizeof(rec));
	if (c == NULL)
		return CAP_ERR_INVALID;
	if (ttl == 0 || ttl > TTL_MAX) {
		cmf_err(err, errlen, "ttl is 1 s to 30 d");
		return CAP_ERR_INVALID;
	}
	if ((csr == NULL && secret_out == NULL) || (csr != NULL && out == NULL))
		return CAP_ERR_INVALID;
	if ((e = malloc(sizeof(*e))) == NULL)
		return CAP_ERR_NOMEM;
	if (!cmfdb_id_valid(id) ||
	    (r = cmfdb_entity_get(c->env.s, id, e)) == CAP_ERR_NOT_FOUND) {
		cmf_err(err, errlen, "no such entity");
		r = CAP_ERR_NOT_FOUND;
		goto out;
	}
	if (r != 0)
		goto out;
	if ((t = cmf_type_find(e, certtype)) == NULL) {
		cmf_err(err, errlen, "entity %s has no certificate type '%s'",
		    e->id, cmfdb_certtype_valid(certtype) ? certtype : "?");
		r = CAP_ERR_INVALID;
		goto out;
	}
	randombytes_buf(refb, sizeof(refb));
	sodium_bin2hex(rec.ic.ref, sizeof(rec.ic.ref), refb, sizeof(refb));
	snprintf(rec.ic.entity, sizeof(rec.ic.entity), "%s", e->id);
	snprintf(rec.ic.certtype, sizeof(rec.ic.certtype), "%s", t->name);
	rec.created = cap_now();
	rec.ic.expires = rec.created + ttl;
	if (csr == NULL) {
		rec.ic.kind = CMF_IC_TOKEN;
		randombytes_buf(rnd, sizeof(rnd));
		sodium_bin2base64(secret_out, CMF_INITCRED_SECRET_LEN + 1, rnd,
		    sizeof(rnd), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
		sodium_memzero(rnd, sizeof(rnd));
		if ((r = secret_put(c, rec.ic.ref, secret_out)) != 0) {
			cmf_err(err, errlen, "cannot keep the secret");
			goto out;
		}
		secret_kept = 1;
	} else {
		rec.ic.kind = CMF_IC_CERT;
		if ((r = cmf_issue_from_csr(c, e, t, csr, csrlen, 0, NULL, ttl, 0,
		    out, err, errlen)) != 0)
			goto out;
		{
			uint8_t *der = NULL;
			int n;

			if ((n = i2d_X509(out->cert, &der)) <= 0) {
				r = CAP_ERR_CRYPTO;
				goto out;
			}
			cmf_hash(der, (size_t)n, rec.cert_hash);
			OPENSSL_free(der);
		}
	}
	if ((r = cmfdb_ic_put(c->env.s, &rec, 1)) != 0)
		goto out;
	*cred_out = rec.ic;
	log_info("cmf: initial credential %.8s... for %s/%s", rec.ic.ref,
	    e->id, t->name);
	r = 0;
 out:
	if (r != 0) {
		if (secret_kept) {
			char name[SECRET_NAME_LEN + 1];

			secret_name(name, rec.ic.ref);
			if (vault_secret_destroy(c->env.v, CMF_VAULT_DOMAIN,
			    name, NULL, 0) != 0)
				log_warn("cmf: cannot destroy an unused "
				    "bootstrap secret");
		}
		if (secret_out != NULL)
			sodium_memzero(secret_out, CMF_INITCRED_SECRET_LEN + 1);
		if (out != NULL)
			cmf_issued_clear(out);
	}
	free(e);
	return r;
}

/* Is the record usable now (unclaimed, unexpired, of kind)? */
static int
usable(const struct cmfdb_initcred *ic, int kind)
{
	return ic->ic.kind == (enum cmf_initcred_kind)kind &&
	    ic->ic.expires > cap_now() &&
	    (!ic->ic.claimed || ic->claimed_at + CMF_CLAIM_STALE_S <= cap_now());
}

static int
ref_ok(const char *ref)
{
	size_t i;

	if (ref == NULL ||
	    strnlen(ref, CMF_INITCRED_REF_LEN + 1) != CMF_INITCRED_REF_LEN)
		return 0;
	for (i = 0; i < CMF_INITCRED_REF_LEN; i++)
		if (!((ref[i] >= '0' && ref[i] <= '9') ||
		    (ref[i] >= 'a' && ref[i] <= 'f')))
			return 0;
	return 1;
}

/* Claims ref; every refusal is CAP_ERR_UNAUTH. */
static int
claim(cmf *c, const char *ref, struct cmf_initcred *out)
{
	struct cmfdb_initcred rec;
	int r;

	if ((r = cmfdb_ic_claim(c->env.s, ref, cap_now(), CMF_CLAIM_STALE_S,
	    &rec)) != 0)
		return r == CAP_ERR_NOMEM || r == CAP_ERR_STORE ? r :
		    CAP_ERR_UNAUTH;
	if (out != NULL)
		*out = rec.ic;	/* with the claim token: the holder's */
	sodium_memzero(&rec, sizeof(rec));
	return 0;
}

int
cmf_initcred_claim_secret(cmf *c, const char *ref, const char *secret,
    size_t len, struct cmf_initcred *out)
{
	struct cmfdb_initcred rec;
	uint8_t *s = NULL, dummy[CMF_INITCRED_SECRET_LEN];
	size_t slen = 0;
	int r = CAP_ERR_UNAUTH, ok;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (c == NULL || secret == NULL || !ref_ok(ref))
		return CAP_ERR_UNAUTH;
	if (cmfdb_ic_get(c->env.s, ref, &rec) != 0 ||
	    !usable(&rec, CMF_IC_TOKEN) ||
	    secret_get(c, ref, &s, &slen) != 0) {
		/* the same comparison as for a known one */
		randombytes_buf(dummy, sizeof(dummy));
		if (len == sizeof(dummy) &&
		    sodium_memcmp(dummy, secret, sizeof(dummy)) == 0)
			r = CAP_ERR_UNAUTH;
		goto out;
	}
	ok = len == slen && sodium_memcmp(s, secret, slen) == 0;
	if (!ok)
		goto out;
	r = claim(c, ref, out);
 out:
	if (s != NULL)
		sodium_free(s);
	return r;
}

int
cmf_initcred_secret(cmf *c, const char *ref, uint8_t **secret, size_t *len,
    struct cmf_initcred *out)
{
	struct cmfdb_initcred rec;
	int r;

	*secret = NULL;
	*len = 0;
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (c == NULL || !ref_ok(ref))
		return CAP_ERR_UNAUTH;
	if (cmfdb_ic_get(c->env.s, ref, &rec) != 0 ||
	    !usable(&rec, CMF_IC_TOKEN))
		return CAP_ERR_UNAUTH;
	if ((r = secret_get(c, ref, secret, len)) != 0)
		return r == CAP_ERR_NOT_FOUND ? CAP_ERR_UNAUTH : r;
	/* a stale claim's token stays its holder's */
	sodium_memzero(rec.ic.claim_token, sizeof(rec.ic.claim_token));
	if (out != NULL)
		*out = rec.ic;
	return 0;
}

int
cmf_initcred_claim(cmf *c, const char *ref, struct cmf_initcred *out)
{
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (c == NULL || !ref_ok(ref))
		return CAP_ERR_UNAUTH;
	return claim(c, ref, out);
}

/*
 * Is der, the initial certificate of rec, still issued and unexpired?  A
 * revoked one (the operator's /v1/certs revoke) leaves its credential
 * record behind: the credential must not outlive its certificate.
 */
static int
initial_cert_valid(cmf *c, const struct cmfdb_initcred *rec,
    const uint8_t *der, size_t len)
{
	struct cmf_entity *e = NULL;
	struct certdb_cert *cc;
	size_t i;
	int ok = 0;

	if ((e = malloc(sizeof(*e))) == NULL ||
	    cmfdb_entity_get(c->env.s, rec->ic.entity, e) != 0)
		goto out;
	for (i = 0; !ok && i < e->ncerts; i++) {
		if (!e->certs[i].initial)
			continue;
		cc = NULL;
		if (certdb_get(c->env.s, e->certs[i].cert_id, &cc) == 0 &&
		    cc->der != NULL && cc->derlen == len &&
		    memcmp(cc->der, der, len) == 0)
			ok = (cc->status == CERTDB_ISSUED ||
			    cc->status == CERTDB_RENEWING) &&
			    cc->not_after > cap_now() ? 1 : -1;
		certdb_cert_free(cc);
	}
 out:
	free(e);
	return ok == 1;
}

int
cmf_initcred_claim_cert(cmf *c, const uint8_t *der, size_t len,
    struct cmf_initcred *out)
{
	struct cmfdb_initcred rec;
	uint8_t hash[CMFDB_HASH_LEN];

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (c == NULL || der == NULL || len == 0)
		return CAP_ERR_UNAUTH;
	cmf_hash(der, len, hash);
	if (cmfdb_ic_find_cert(c->env.s, hash, &rec) != 0 ||
	    rec.ic.kind != CMF_IC_CERT ||
	    sodium_memcmp(hash, rec.cert_hash, sizeof(hash)) != 0 ||
	    !initial_cert_valid(c, &rec, der, len))
		return CAP_ERR_UNAUTH;
	return claim(c, rec.ic.ref, out);
}

void
cmf_initcred_release(cmf *c, const char *ref, const uint8_t *claim_token)
{
	if (c == NULL || !ref_ok(ref) || claim_token == NULL)
		return;
	if (cmfdb_ic_release(c->env.s, ref, claim_token) != 0)
		log_warn("cmf: initial credential %.8s... not released: not "
		    "held by this claim, or the store failed", ref);
}

int
cmf_initcred_list(cmf *c, const char *id, struct cmf_initcred **out,
    size_t *n)
{
	struct cmfdb_initcred *v = NULL;
	struct cmf_initcred *o = NULL;
	size_t nv = 0, i, k = 0;
	uint64_t now = cap_now();
	int r;

	*out = NULL;
	*n = 0;
	if (c == NULL || !cmfdb_id_valid(id))
		return CAP_ERR_INVALID;
	if ((r = cmfdb_ic_list(c->env.s, id, &v, &nv)) != 0)
		return r;
	if (nv > 0 && (o = calloc(nv, sizeof(*o))) == NULL) {
		free(v);
		return CAP_ERR_NOMEM;
	}
	for (i = 0; i < nv; i++)
		if (v[i].ic.expires > now) {
			o[k] = v[i].ic;
			memset(o[k++].claim_token, 0, CMF_CLAIM_TOKEN_LEN);
		}
	sodium_memzero(v, nv * sizeof(*v));
	free(v);
	*out = o;
	*n = k;
	return 0;
}

int
cmf_initcred_delete(cmf *c, const char *ref)
{
	if (c == NULL || !ref_ok(ref))
		return CAP_ERR_NOT_FOUND;
	return cmf_initcred_drop(c, ref);
}
