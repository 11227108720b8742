/*
 * cmfdb_pend.c - the CMF's pending requests: certificate requests that
 * were answered "pending" (the CA had not answered in time) and are
 * collected when the client repeats them.
 *
 * Databases:
 *   cmf_pend       entity \0 request hash -> pending record
 *   cmf_pend_auth  entity \0 authenticator -> entity \0 request hash
 *   cmf_orphans    inventory id -> entity: requests still at the CA whose
 *                  entity was removed; what they are issued is revoked
 *
 * A record names who made the request (the authenticator: an initial
 * credential or a certificate, hashed by the CMF; all zero for an
 * administrator); an authenticator has at most one request pending per
 * entity, so one credential cannot start several issuances.  A record is
 * reserved (cert_id "") before the CA is asked and filled in with the
 * inventory id once the request went pending.
 *
 * Record (format CMFDB_FMT): u8 format, s8 entity, s8 certtype, s8 cert_id
 * (empty or 32 hex), auth[32], u64 created.
 */
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "common/err.h"
#include "store/cmfdb.h"
#include "store/cmfdb_int.h"
#include "store/codec.h"
#include "store/store_int.h"

#define PEND_REC_MAX	256
#define PEND_KEY_MAX	(CMF_ID_MAX + 1 + CMFDB_HASH_LEN)

static int
pend_valid(const struct cmfdb_pend *p)
{
	size_t n = strnlen(p->cert_id, CERTDB_ID_LEN + 1);

	return cmfdb_id_valid(p->entity) &&
	    cmfdb_certtype_valid(p->certtype) &&
	    (n == 0 || (n == CERTDB_ID_LEN &&
	    store_hex_valid(p->cert_id, CERTDB_ID_LEN)));
}

int
cmfdb_pend_encode(const struct cmfdb_pend *p, uint8_t **buf, size_t *len)
{
	struct store_wr w;

	*buf = NULL;
	*len = 0;
	if (p == NULL || !pend_valid(p))
		return CAP_ERR_INVALID;
	store_wr_init(&w, 160, PEND_REC_MAX);
	store_wr_u8(&w, CMFDB_FMT);
	store_wr_str(&w, 1, p->entity);
	store_wr_str(&w, 1, p->certtype);
	store_wr_str(&w, 1, p->cert_id);
	store_wr_bytes(&w, p->auth, CMFDB_HASH_LEN);
	store_wr_u64(&w, p->created);
	return store_wr_finish(&w, buf, len);
}

int
cmfdb_pend_decode(const uint8_t *buf, size_t len, struct cmfdb_pend *out)
{
	struct store_rd r;
	uint8_t fmt = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	store_rd_init(&r, buf, len);
	if (buf == NULL || len > PEND_REC_MAX || store_rd_u8(&r, &fmt) != 0 ||
	    fmt != CMFDB_FMT) {
		ret = CAP_ERR_CORRUPT;
		goto bad;
	}
	store_rd_text(&r, 1, 1, CMF_ID_MAX, out->entity, NULL);
	store_rd_text(&r, 1, 1, CMF_CERTTYPE_MAX, out->certtype, NULL);
	store_rd_text(&r, 1, 0, CERTDB_ID_LEN, out->cert_id, NULL);
	store_rd_bytes(&r, out->auth, CMFDB_HASH_LEN);
	store_rd_u64(&r, &out->created);
	if (store_rd_end(&r) == 0 && pend_valid(out))
		return 0;
	ret = store_rd_fail(&r);
 bad:
	memset(out, 0, sizeof(*out));
	return ret;
}

/* entity \0 suffix (a request hash or an authenticator). */
static int
pend_key(const char *entity, const uint8_t suffix[CMFDB_HASH_LEN],
    uint8_t k[PEND_KEY_MAX], size_t *klen)
{
	size_t n;

	if (entity == NULL || suffix == NULL || !cmfdb_id_valid(entity))
		return CAP_ERR_INVALID;
	n = strlen(entity);
	memcpy(k, entity, n);
	k[n++] = '\0';
	memcpy(k + n, suffix, CMFDB_HASH_LEN);
	*klen = n + CMFDB_HASH_LEN;
	return 0;
}

static int
admin_auth(const uint8_t auth[CMFDB_HASH_LEN])
{
	static const uint8_t zero[CMFDB_HASH_LEN];

	return memcmp(auth, zero, CMFDB_HASH_LEN) == 0;
}

/* Reads the record under k into out (CAP_ERR_NOT_FOUND when none). */
static int
pend_read(store *s, MDB_txn *txn, const uint8_t *k, size_t klen,
    struct cmfdb_pend *out)
{
	MDB_val d;
	int r;

	if ((r = store_get(txn, s->dbi_cmf_pend, k, klen, &d,
	    "mdb_get cmf_pend")) != 0)
		return r;
	return cmfdb_pend_decode(d.mv_data, d.mv_size, out);
}

/* Writes p under hash, and its authenticator's entry (none for admins). */
static int
pend_write(store *s, MDB_txn *txn, const uint8_t hash[CMFDB_HASH_LEN],
    const struct cmfdb_pend *p)
{
	uint8_t k[PEND_KEY_MAX], ak[PEND_KEY_MAX], *buf = NULL;
	size_t klen, aklen, len;
	MDB_val d;
	int r;

	if ((r = pend_key(p->entity, hash, k, &klen)) != 0 ||
	    (r = pend_key(p->entity, p->auth, ak, &aklen)) != 0 ||
	    (r = cmfdb_pend_encode(p, &buf, &len)) != 0)
		return r;
	if (!admin_auth(p->auth)) {
		/* a client has one request pending: this one, or none */
		r = store_get(txn, s->dbi_cmf_pend_auth, ak, aklen, &d,
		    "mdb_get cmf_pend_auth");
		if (r == 0 && (d.mv_size != klen ||
		    memcmp(d.mv_data, k, klen) != 0))
			r = CAP_ERR_CONFLICT;
		else if (r == CAP_ERR_NOT_FOUND)
			r = store_put(txn, s->dbi_cmf_pend_auth, ak, aklen, k,
			    klen, 0, "mdb_put cmf_pend_auth");
		if (r != 0) {
			free(buf);
			return r;
		}
	}
	r = store_put(txn, s->dbi_cmf_pend, k, klen, buf, len, 0,
	    "mdb_put cmf_pend");
	free(buf);
	return r;
}

/* Deletes the record under hash and its authenticator's entry. */
static int
pend_remove(store *s, MDB_txn *txn, const char *entity,
    const uint8_t hash[CMFDB_HASH_LEN], const struct cmfdb_pend *match,
    struct cmfdb_pend *old)
{
	uint8_t k[PEND_KEY_MAX], ak[PEND_KEY_MAX];
	size_t klen, aklen;
	MDB_val d;
	int r;

	if ((r = pend_key(entity, hash, k, &klen)) != 0 ||
	    (r = pend_read(s, txn, k, klen, old)) != 0)
		return r;
	/* only the record the caller knows: another took its place */
	if (match != NULL && (strcmp(old->cert_id, match->cert_id) != 0 ||
	    old->created != match->created))
		return CAP_ERR_CONFLICT;
	if ((r = store_del(txn, s->dbi_cmf_pend, k, klen,
	    "mdb_del cmf_pend")) != 0)
		return r;
	if (admin_auth(old->auth) ||
	    (r = pend_key(entity, old->auth, ak, &aklen)) != 0)
		return r;
	/* the client's entry, if it names this request */
	if ((r = store_get(txn, s->dbi_cmf_pend_auth, ak, aklen, &d,
	    "mdb_get cmf_pend_auth")) != 0)
		return r == CAP_ERR_NOT_FOUND ? 0 : r;
	if (d.mv_size != klen || memcmp(d.mv_data, k, klen) != 0)
		return 0;
	return store_del(txn, s->dbi_cmf_pend_auth, ak, aklen,
	    "mdb_del cmf_pend_auth");
}

struct reserve_arg {
	const uint8_t		*hash;
	const struct cmfdb_pend	*p;
	struct cmfdb_pend	*existing;
	uint8_t			*other;		/* its hash, or NULL */
};

static int
reserve_txn(store *s, MDB_txn *txn, void *arg)
{
	struct reserve_arg *a = arg;
	uint8_t k[PEND_KEY_MAX], ak[PEND_KEY_MAX];
	size_t klen, aklen;
	MDB_val d;
	int r;

	if ((r = store_get(txn, s->dbi_cmf_ents, a->p->entity,
	    strlen(a->p->entity), &d, "mdb_get cmf_ents")) != 0)
		return r;
	if ((r = pend_key(a->p->entity, a->hash, k, &klen)) != 0 ||
	    (r = pend_key(a->p->entity, a->p->auth, ak, &aklen)) != 0)
		return r;
	if ((r = pend_read(s, txn, k, klen, a->existing)) == 0)
		return CAP_ERR_EXISTS;
	if (r != CAP_ERR_NOT_FOUND)
		return r;
	if (!admin_auth(a->p->auth)) {
		r = store_get(txn, s->dbi_cmf_pend_auth, ak, aklen, &d,
		    "mdb_get cmf_pend_auth");
		if (r == 0) {
			/* the other request of this authenticator */
			if (d.mv_size != aklen ||
			    memcmp(d.mv_data, ak, aklen - CMFDB_HASH_LEN) != 0 ||
			    pend_read(s, txn, d.mv_data, d.mv_size,
			    a->existing) != 0)
				memset(a->existing, 0, sizeof(*a->existing));
			else if (a->other != NULL)
				memcpy(a->other, (const uint8_t *)d.mv_data +
				    aklen - CMFDB_HASH_LEN, CMFDB_HASH_LEN);
			return CAP_ERR_CONFLICT;
		}
		if (r != CAP_ERR_NOT_FOUND)
			return r;
	}
	return pend_write(s, txn, a->hash, a->p);
}

int
cmfdb_pend_reserve(store *s, const uint8_t hash[CMFDB_HASH_LEN],
    const struct cmfdb_pend *p, struct cmfdb_pend *existing,
    uint8_t other[CMFDB_HASH_LEN])
{
	struct reserve_arg a = { hash, p, existing, other };

	memset(existing, 0, sizeof(*existing));
	if (other != NULL)
		memset(other, 0, CMFDB_HASH_LEN);
	if (s == NULL || hash == NULL || p == NULL || !pend_valid(p))
		return CAP_ERR_INVALID;
	return store_txn_write(s, reserve_txn, &a);
}

struct put_arg {
	const uint8_t		*hash;
	const struct cmfdb_pend	*p;
	int			 fill;	/* only over a reservation */
};

static int
put_txn(store *s, MDB_txn *txn, void *arg)
{
	struct put_arg *a = arg;
	struct cmfdb_pend old;
	uint8_t k[PEND_KEY_MAX];
	size_t klen;
	int r;

	MDB_val d;

	if ((r = pend_key(a->p->entity, a->hash, k, &klen)) != 0)
		return r;
	/* the entity must still be there */
	if ((r = store_get(txn, s->dbi_cmf_ents, a->p->entity,
	    strlen(a->p->entity), &d, "mdb_get cmf_ents")) != 0)
		return r;
	if (a->fill) {
		/* this caller's reservation, still unfilled */
		if ((r = pend_read(s, txn, k, klen, &old)) != 0)
			return r;
		if (old.cert_id[0] != '\0' || old.created != a->p->created ||
		    memcmp(old.auth, a->p->auth, CMFDB_HASH_LEN) != 0)
			return CAP_ERR_CONFLICT;
	} else if ((r = pend_read(s, txn, k, klen, &old)) == 0)
		return CAP_ERR_EXISTS;	/* a new request took the place */
	else if (r != CAP_ERR_NOT_FOUND)
		return r;
	return pend_write(s, txn, a->hash, a->p);
}

int
cmfdb_pend_fill(store *s, const uint8_t hash[CMFDB_HASH_LEN],
    const struct cmfdb_pend *p)
{
	struct put_arg a = { hash, p, 1 };

	if (s == NULL || hash == NULL || p == NULL || !pend_valid(p) ||
	    p->cert_id[0] == '\0')
		return CAP_ERR_INVALID;
	return store_txn_write(s, put_txn, &a);
}

int
cmfdb_pend_put(store *s, const uint8_t hash[CMFDB_HASH_LEN],
    const struct cmfdb_pend *p)
{
	struct put_arg a = { hash, p, 0 };

	if (s == NULL || hash == NULL || p == NULL || !pend_valid(p))
		return CAP_ERR_INVALID;
	return store_txn_write(s, put_txn, &a);
}

struct get_arg {
	const uint8_t		*k;
	size_t			 klen;
	struct cmfdb_pend	*out;
};

static int
get_txn(store *s, MDB_txn *txn, void *arg)
{
	struct get_arg *a = arg;

	return pend_read(s, txn, a->k, a->klen, a->out);
}

int
cmfdb_pend_get(store *s, const char *entity,
    const uint8_t hash[CMFDB_HASH_LEN], struct cmfdb_pend *out)
{
	uint8_t k[PEND_KEY_MAX];
	size_t klen;
	struct get_arg a = { k, 0, out };
	int r;

	memset(out, 0, sizeof(*out));
	if (s == NULL || (r = pend_key(entity, hash, k, &klen)) != 0)
		return CAP_ERR_INVALID;
	a.klen = klen;
	if ((r = store_txn_read(s, get_txn, &a)) == 0 &&
	    strcmp(out->entity, entity) != 0) {
		memset(out, 0, sizeof(*out));
		return CAP_ERR_CORRUPT;
	}
	return r;
}

struct del_arg {
	const char		*entity;
	const uint8_t		*hash;
	const struct cmfdb_pend	*match;
	struct cmfdb_pend	*old;
};

static int
del_txn(store *s, MDB_txn *txn, void *arg)
{
	struct del_arg *a = arg;

	return pend_remove(s, txn, a->entity, a->hash, a->match, a->old);
}

int
cmfdb_pend_delete(store *s, const char *entity,
    const uint8_t hash[CMFDB_HASH_LEN], const struct cmfdb_pend *match,
    struct cmfdb_pend *old)
{
	struct cmfdb_pend scratch;
	struct del_arg a = { entity, hash, match,
	    old != NULL ? old : &scratch };

	if (s == NULL || hash == NULL || !cmfdb_id_valid(entity))
		return CAP_ERR_INVALID;
	return store_txn_write(s, del_txn, &a);
}

/* Records and their hashes, as a walk finds them (of one entity, or all). */
struct collect_arg {
	const char		*entity;	/* NULL: every entity */
	struct cmfdb_pend	*v;
	uint8_t			(*h)[CMFDB_HASH_LEN];	/* their hashes */
	size_t			 n, cap;
};

static int
collect_one(void *arg, const MDB_val *k, const MDB_val *d)
{
	struct collect_arg *a = arg;
	struct cmfdb_pend *nv;
	uint8_t (*nh)[CMFDB_HASH_LEN];
	size_t cap, elen;
	int r;

	if (a->n == a->cap) {
		cap = a->cap == 0 ? 8 : a->cap * 2;
		if ((nv = realloc(a->v, cap * sizeof(*nv))) == NULL)
			return CAP_ERR_NOMEM;
		a->v = nv;
		if ((nh = realloc(a->h, cap * sizeof(*nh))) == NULL)
			return CAP_ERR_NOMEM;
		a->h = nh;
		a->cap = cap;
	}
	if ((r = cmfdb_pend_decode(d->mv_data, d->mv_size, &a->v[a->n])) != 0)
		return r;
	/* the key is the record's entity \0 its hash */
	elen = strlen(a->v[a->n].entity);
	if (k->mv_size != elen + 1 + CMFDB_HASH_LEN ||
	    memcmp(k->mv_data, a->v[a->n].entity, elen + 1) != 0 ||
	    (a->entity != NULL && strcmp(a->v[a->n].entity, a->entity) != 0))
		return CAP_ERR_CORRUPT;
	memcpy(a->h[a->n], (const uint8_t *)k->mv_data + elen + 1,
	    CMFDB_HASH_LEN);
	a->n++;
	return 0;
}

static int
take_txn(store *s, MDB_txn *txn, void *arg)
{
	struct collect_arg *a = arg;
	struct cmfdb_pend old;
	uint8_t pk[CMF_ID_MAX + 1];
	size_t i, plen = strlen(a->entity) + 1;
	int r;

	a->n = 0;	/* a retried transaction starts again */
	memcpy(pk, a->entity, plen);	/* with its NUL */
	if ((r = store_walk(txn, s->dbi_cmf_pend, pk, plen, collect_one,
	    a)) != 0)
		return r;
	for (i = 0; i < a->n; i++)
		if ((r = pend_remove(s, txn, a->entity, a->h[i], NULL,
		    &old)) != 0)
			return r;
	return 0;
}

int
cmfdb_pend_take_all(store *s, const char *entity, struct cmfdb_pend **out,
    size_t *n)
{
	struct collect_arg a;
	int r;

	*out = NULL;
	*n = 0;
	if (s == NULL || entity == NULL || !cmfdb_id_valid(entity))
		return CAP_ERR_INVALID;
	memset(&a, 0, sizeof(a));
	a.entity = entity;
	r = store_txn_write(s, take_txn, &a);
	free(a.h);
	if (r != 0) {
		free(a.v);
		return r;
	}
	*out = a.v;	/* transferred */
	*n = a.n;
	return 0;
}

static int
list_txn(store *s, MDB_txn *txn, void *arg)
{
	struct collect_arg *a = arg;

	a->n = 0;
	return store_walk(txn, s->dbi_cmf_pend, NULL, 0, collect_one, a);
}

int
cmfdb_pend_list(store *s, struct cmfdb_pend **out,
    uint8_t (**hashes)[CMFDB_HASH_LEN], size_t *n)
{
	struct collect_arg a;
	int r;

	*out = NULL;
	*hashes = NULL;
	*n = 0;
	if (s == NULL)
		return CAP_ERR_INVALID;
	memset(&a, 0, sizeof(a));
	if ((r = store_txn_read(s, list_txn, &a)) != 0) {
		free(a.v);
		free(a.h);
		return r;
	}
	*out = a.v;	/* transferred */
	*hashes = a.h;
	*n = a.n;
	return 0;
}

/* ---- orphans ---- */

int
cmfdb_orphan_put(store *s, const char *cert_id, const char *entity)
{
	if (s == NULL || cert_id == NULL || entity == NULL ||
	    strnlen(cert_id, CERTDB_ID_LEN + 1) != CERTDB_ID_LEN ||
	    !store_hex_valid(cert_id, CERTDB_ID_LEN) ||
	    !cmfdb_id_valid(entity))
		return CAP_ERR_INVALID;
	return store_put_one(s, s->dbi_cmf_orphans, cert_id, CERTDB_ID_LEN,
	    entity, strlen(entity), 0, "mdb_put cmf_orphans");
}

int
cmfdb_orphan_delete(store *s, const char *cert_id)
{
	if (s == NULL || cert_id == NULL ||
	    strnlen(cert_id, CERTDB_ID_LEN + 1) != CERTDB_ID_LEN)
		return CAP_ERR_INVALID;
	return store_del_one(s, s->dbi_cmf_orphans, cert_id, CERTDB_ID_LEN,
	    "mdb_del cmf_orphans");
}

struct orphan_arg {
	struct cmfdb_orphan	*v;
	size_t			 n, cap;
};

static int
orphan_one(void *arg, const MDB_val *k, const MDB_val *d)
{
	struct orphan_arg *a = arg;
	struct cmfdb_orphan *nv;
	size_t cap;

	if (k->mv_size != CERTDB_ID_LEN ||
	    !store_hex_valid(k->mv_data, CERTDB_ID_LEN) || d->mv_size == 0 ||
	    d->mv_size > CMF_ID_MAX)
		return CAP_ERR_CORRUPT;
	if (a->n == a->cap) {
		cap = a->cap == 0 ? 8 : a->cap * 2;
		if ((nv = realloc(a->v, cap * sizeof(*nv))) == NULL)
			return CAP_ERR_NOMEM;
		a->v = nv;
		a->cap = cap;
	}
	memset(&a->v[a->n], 0, sizeof(a->v[a->n]));
	memcpy(a->v[a->n].cert_id, k->mv_data, CERTDB_ID_LEN);
	memcpy(a->v[a->n].entity, d->mv_data, d->mv_size);
	if (!cmfdb_id_valid(a->v[a->n].entity))
		return CAP_ERR_CORRUPT;
	a->n++;
	return 0;
}

static int
orphan_list_txn(store *s, MDB_txn *txn, void *arg)
{
	struct orphan_arg *a = arg;

	a->n = 0;
	return store_walk(txn, s->dbi_cmf_orphans, NULL, 0, orphan_one, a);
}

int
cmfdb_orphan_list(store *s, struct cmfdb_orphan **out, size_t *n)
{
	struct orphan_arg a;
	int r;

	*out = NULL;
	*n = 0;
	if (s == NULL)
		return CAP_ERR_INVALID;
	memset(&a, 0, sizeof(a));
	if ((r = store_txn_read(s, orphan_list_txn, &a)) != 0) {
		free(a.v);
		return r;
	}
	*out = a.v;	/* transferred */
	*n = a.n;
	return 0;
}
