/*
 * cmfdb_ic.c - the initial credentials of the Certificate Management
 * Function in the store: their record codec, the credential itself
 * (cmf_ics) with the index of initial certificates (cmf_ics_cert), both
 * written in one transaction, and the atomic claim, release and delete
 * of a credential under its random claim token.  Framing as in
 * cmfdb_int.h; the record:
 *
 *          u8 format, ref[32] (lowercase hex), u8 kind (1..2), s8 entity,
 *          s8 certtype, u64 expires, u8 claimed (0/1), u64 claimed_at
 *          (0 unless claimed), u64 created, and for kind 2 hash[32];
 *          format 2 (written since claims carry a token; format 1 still
 *          read, its token zero) then claim token[16] (zero unless
 *          claimed)
 */
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>
#include <sodium.h>

#include "common/err.h"
#include "common/log.h"
#include "store/cmfdb.h"
#include "store/cmfdb_int.h"
#include "store/codec.h"
#include "store/store.h"
#include "store/store_int.h"

#define IC_FMT_TOKEN	2	/* initial credential with its claim token */
#define IC_REC_MAX	512

/* ---- initial credential codec ---- */

static int
token_zero(const uint8_t t[CMF_CLAIM_TOKEN_LEN])
{
	return sodium_is_zero(t, CMF_CLAIM_TOKEN_LEN);
}

static int
ic_valid(const struct cmfdb_initcred *c)
{
	const struct cmf_initcred *ic = &c->ic;

	return (ic->claimed || token_zero(ic->claim_token)) &&
	    strnlen(ic->ref, sizeof(ic->ref)) == CMF_INITCRED_REF_LEN &&
	    store_hex_valid(ic->ref, CMF_INITCRED_REF_LEN) &&
	    (ic->kind == CMF_IC_TOKEN || ic->kind == CMF_IC_CERT) &&
	    cmfdb_id_valid(ic->entity) && cmfdb_certtype_valid(ic->certtype) &&
	    (ic->claimed == 0 || ic->claimed == 1) &&
	    (ic->claimed || c->claimed_at == 0);
}

int
cmfdb_ic_encode(const struct cmfdb_initcred *c, uint8_t **buf, size_t *len)
{
	struct store_wr w;

	*buf = NULL;
	*len = 0;
	if (c == NULL || !ic_valid(c))
		return CAP_ERR_INVALID;
	store_wr_init(&w, 160, IC_REC_MAX);
	store_wr_u8(&w, IC_FMT_TOKEN);
	store_wr_bytes(&w, c->ic.ref, CMF_INITCRED_REF_LEN);
	store_wr_u8(&w, (uint8_t)c->ic.kind);
	store_wr_str(&w, 1, c->ic.entity);
	store_wr_str(&w, 1, c->ic.certtype);
	store_wr_u64(&w, c->ic.expires);
	store_wr_u8(&w, (uint8_t)c->ic.claimed);
	store_wr_u64(&w, c->claimed_at);
	store_wr_u64(&w, c->created);
	if (c->ic.kind == CMF_IC_CERT)
		store_wr_bytes(&w, c->cert_hash, CMFDB_HASH_LEN);
	store_wr_bytes(&w, c->ic.claim_token, CMF_CLAIM_TOKEN_LEN);
	return store_wr_finish(&w, buf, len);
}

int
cmfdb_ic_decode(const uint8_t *buf, size_t len, struct cmfdb_initcred *out)
{
	struct store_rd r;
	uint8_t v, fmt = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	store_rd_init(&r, buf, len);
	if (buf == NULL || len > IC_REC_MAX || store_rd_u8(&r, &fmt) != 0 ||
	    (fmt != CMFDB_FMT && fmt != IC_FMT_TOKEN))
		goto bad;
	store_rd_bytes(&r, out->ic.ref, CMF_INITCRED_REF_LEN);
	store_rd_u8(&r, &v);
	out->ic.kind = (enum cmf_initcred_kind)v;
	store_rd_text(&r, 1, 1, CMF_ID_MAX, out->ic.entity, NULL);
	store_rd_text(&r, 1, 1, CMF_CERTTYPE_MAX, out->ic.certtype, NULL);
	store_rd_u64(&r, &out->ic.expires);
	store_rd_u8(&r, &v);
	out->ic.claimed = v;
	store_rd_u64(&r, &out->claimed_at);
	store_rd_u64(&r, &out->created);
	if (r.err == 0 && out->ic.kind == CMF_IC_CERT)
		store_rd_bytes(&r, out->cert_hash, CMFDB_HASH_LEN);
	if (fmt == IC_FMT_TOKEN)
		store_rd_bytes(&r, out->ic.claim_token, CMF_CLAIM_TOKEN_LEN);
	if (store_rd_end(&r) != 0 || !ic_valid(out))
		goto bad;
	return 0;
 bad:
	ret = store_rd_fail(&r);
	memset(out, 0, sizeof(*out));
	return ret;
}

/* ---- initial credentials in the store ---- */

static int
ref_ok(const char *ref)
{
	return ref != NULL &&
	    strnlen(ref, CMF_INITCRED_REF_LEN + 1) == CMF_INITCRED_REF_LEN &&
	    store_hex_valid(ref, CMF_INITCRED_REF_LEN);
}

static int
ic_read(store *s, MDB_txn *txn, const char *ref, struct cmfdb_initcred *out)
{
	MDB_val d;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = store_get(txn, s->dbi_cmf_ics, ref, CMF_INITCRED_REF_LEN, &d,
	    "mdb_get cmf_ics")) != 0)
		return r;
	if ((r = cmfdb_ic_decode(d.mv_data, d.mv_size, out)) != 0)
		log_error("store: initial credential record does not parse");
	return r;
}

static int
ic_write(store *s, MDB_txn *txn, const struct cmfdb_initcred *c)
{
	uint8_t *buf = NULL;
	size_t len;
	int r;

	if ((r = cmfdb_ic_encode(c, &buf, &len)) != 0)
		return r;
	r = store_put(txn, s->dbi_cmf_ics, c->ic.ref, CMF_INITCRED_REF_LEN,
	    buf, len, 0, "mdb_put cmf_ics");
	free(buf);
	if (r == 0 && c->ic.kind == CMF_IC_CERT)
		r = store_put(txn, s->dbi_cmf_ics_cert, c->cert_hash,
		    CMFDB_HASH_LEN, c->ic.ref, CMF_INITCRED_REF_LEN, 0,
		    "mdb_put cmf_ics_cert");
	return r;
}

struct ic_put_arg {
	const struct cmfdb_initcred	*c;
	int				 excl;
};

static int
ic_put_txn(store *s, MDB_txn *txn, void *arg)
{
	struct ic_put_arg *a = arg;
	struct cmfdb_initcred old;
	int r;

	r = ic_read(s, txn, a->c->ic.ref, &old);
	if (r == 0 && a->excl)
		return CAP_ERR_EXISTS;
	if (r != 0 && r != CAP_ERR_NOT_FOUND)
		return r;
	return ic_write(s, txn, a->c);
}

int
cmfdb_ic_put(store *s, const struct cmfdb_initcred *c, int excl)
{
	struct ic_put_arg a = { c, excl };

	if (s == NULL || c == NULL || !ic_valid(c))
		return CAP_ERR_INVALID;
	return store_txn_write(s, ic_put_txn, &a);
}

struct ic_get_arg {
	const char		*ref;
	const uint8_t		*hash;
	struct cmfdb_initcred	*out;
};

static int
ic_get_txn(store *s, MDB_txn *txn, void *arg)
{
	struct ic_get_arg *a = arg;
	char ref[CMF_INITCRED_REF_LEN + 1];
	MDB_val d;
	int r;

	if (a->hash != NULL) {
		if ((r = store_get(txn, s->dbi_cmf_ics_cert, a->hash,
		    CMFDB_HASH_LEN, &d, "mdb_get cmf_ics_cert")) != 0)
			return r;
		if (d.mv_size != CMF_INITCRED_REF_LEN)
			return CAP_ERR_CORRUPT;
		memcpy(ref, d.mv_data, CMF_INITCRED_REF_LEN);
		ref[CMF_INITCRED_REF_LEN] = '\0';
		return ic_read(s, txn, ref, a->out);
	}
	return ic_read(s, txn, a->ref, a->out);
}

int
cmfdb_ic_get(store *s, const char *ref, struct cmfdb_initcred *out)
{
	struct ic_get_arg a = { ref, NULL, out };

	if (s == NULL || out == NULL || !ref_ok(ref))
		return CAP_ERR_INVALID;
	return store_txn_read(s, ic_get_txn, &a);
}

int
cmfdb_ic_find_cert(store *s, const uint8_t hash[CMFDB_HASH_LEN],
    struct cmfdb_initcred *out)
{
	struct ic_get_arg a = { NULL, hash, out };

	if (s == NULL || out == NULL || hash == NULL)
		return CAP_ERR_INVALID;
	return store_txn_read(s, ic_get_txn, &a);
}

struct ic_claim_arg {
	const char		*ref;
	uint64_t		 now, stale;
	int			 release;
	const uint8_t		*token;	/* release: the holder's */
	uint8_t			 fresh[CMF_CLAIM_TOKEN_LEN];	/* claim */
	struct cmfdb_initcred	 c;
};

/*
 * Is ref claimed with token (a zero token is nobody's)?  A claim taken
 * over has a new token: the first holder's no longer matches.
 */
static int
ic_holder(const struct cmfdb_initcred *c, const uint8_t *token)
{
	return c->ic.claimed && !token_zero(token) &&
	    sodium_memcmp(c->ic.claim_token, token, CMF_CLAIM_TOKEN_LEN) == 0;
}

/* Read, check and mark inside one write transaction: one winner. */
static int
ic_claim_txn(store *s, MDB_txn *txn, void *arg)
{
	struct ic_claim_arg *a = arg;
	int r;

	if ((r = ic_read(s, txn, a->ref, &a->c)) != 0)
		return r;
	if (a->release) {
		if (!ic_holder(&a->c, a->token)) {
			log_warn("store: initial credential %.8s... is not "
			    "held by this claim; not released", a->ref);
			return CAP_ERR_CONFLICT;
		}
		a->c.ic.claimed = 0;
		a->c.claimed_at = 0;
		memset(a->c.ic.claim_token, 0, CMF_CLAIM_TOKEN_LEN);
		return ic_write(s, txn, &a->c);
	}
	if (a->c.ic.expires <= a->now)
		return CAP_ERR_GONE;
	if (a->c.ic.claimed && a->c.claimed_at + a->stale > a->now)
		return CAP_ERR_CONFLICT;
	a->c.ic.claimed = 1;
	a->c.claimed_at = a->now;
	memcpy(a->c.ic.claim_token, a->fresh, CMF_CLAIM_TOKEN_LEN);
	return ic_write(s, txn, &a->c);
}

int
cmfdb_ic_claim(store *s, const char *ref, uint64_t now, uint64_t stale,
    struct cmfdb_initcred *out)
{
	struct ic_claim_arg a;
	int r;

	if (s == NULL || !ref_ok(ref))
		return CAP_ERR_INVALID;
	memset(&a, 0, sizeof(a));
	a.ref = ref;
	a.now = now;
	a.stale = stale;
	do
		randombytes_buf(a.fresh, sizeof(a.fresh));
	while (token_zero(a.fresh));
	if ((r = store_txn_write(s, ic_claim_txn, &a)) == 0 && out != NULL)
		*out = a.c;
	sodium_memzero(&a, sizeof(a));
	return r;
}

int
cmfdb_ic_release(store *s, const char *ref, const uint8_t *token)
{
	struct ic_claim_arg a;

	if (s == NULL || !ref_ok(ref) || token == NULL)
		return CAP_ERR_INVALID;
	memset(&a, 0, sizeof(a));
	a.ref = ref;
	a.release = 1;
	a.token = token;
	return store_txn_write(s, ic_claim_txn, &a);
}

struct ic_del_arg {
	const char	*ref;
	const uint8_t	*token;	/* NULL: whoever holds it */
};

static int
ic_del_txn(store *s, MDB_txn *txn, void *arg)
{
	struct ic_del_arg *a = arg;
	struct cmfdb_initcred old;
	int r;

	if ((r = ic_read(s, txn, a->ref, &old)) != 0)
		return r;
	if (a->token != NULL && !ic_holder(&old, a->token)) {
		log_warn("store: initial credential %.8s... is not held by "
		    "this claim; not deleted", a->ref);
		return CAP_ERR_CONFLICT;
	}
	if (old.ic.kind == CMF_IC_CERT) {
		r = store_del(txn, s->dbi_cmf_ics_cert, old.cert_hash,
		    CMFDB_HASH_LEN, "mdb_del cmf_ics_cert");
		if (r != 0 && r != CAP_ERR_NOT_FOUND)
			return r;
	}
	return store_del(txn, s->dbi_cmf_ics, a->ref, CMF_INITCRED_REF_LEN,
	    "mdb_del cmf_ics");
}

int
cmfdb_ic_delete(store *s, const char *ref)
{
	struct ic_del_arg a = { ref, NULL };

	if (s == NULL || !ref_ok(ref))
		return CAP_ERR_INVALID;
	return store_txn_write(s, ic_del_txn, &a);
}

int
cmfdb_ic_delete_claimed(store *s, const char *ref, const uint8_t *token)
{
	struct ic_del_arg a = { ref, token };

	if (s == NULL || !ref_ok(ref) || token == NULL)
		return CAP_ERR_INVALID;
	return store_txn_write(s, ic_del_txn, &a);
}

struct ic_list_arg {
	const char		*entity;
	struct cmfdb_initcred	*v;
	size_t			 n, cap;
};

static int
ic_list_one(void *arg, const MDB_val *k, const MDB_val *d)
{
	struct ic_list_arg *a = arg;
	struct cmfdb_initcred c, *nv;

	(void)k;
	if (cmfdb_ic_decode(d->mv_data, d->mv_size, &c) != 0)
		return CAP_ERR_CORRUPT;
	if (a->entity != NULL && strcmp(a->entity, c.ic.entity) != 0)
		return 0;
	if ((nv = store_vec_grow(a->v, &a->cap, a->n, sizeof(*nv))) == NULL)
		return CAP_ERR_NOMEM;
	a->v = nv;
	a->v[a->n++] = c;
	return 0;
}

static int
ic_list_txn(store *s, MDB_txn *txn, void *arg)
{
	return store_walk(txn, s->dbi_cmf_ics, NULL, 0, ic_list_one, arg);
}

int
cmfdb_ic_list(store *s, const char *id, struct cmfdb_initcred **out,
    size_t *n)
{
	struct ic_list_arg a;
	int r;

	if (out != NULL)
		*out = NULL;
	if (n != NULL)
		*n = 0;
	if (s == NULL || out == NULL || n == NULL ||
	    (id != NULL && !cmfdb_id_valid(id)))
		return CAP_ERR_INVALID;
	memset(&a, 0, sizeof(a));
	a.entity = id;
	if ((r = store_txn_read(s, ic_list_txn, &a)) != 0) {
		free(a.v);
		return r;
	}
	*out = a.v;	/* transferred */
	*n = a.n;
	return 0;
}
