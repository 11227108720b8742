/*
 * cmfdb.c - records of the Certificate Management Function other than the
 * initial credentials (cmfdb_ic.c): entities and their parent index, the
 * certificate index and pending requests, P2 shared keys and the LCM log,
 * with their codecs and the id and certtype checks the two files share.
 * Framing as in cmfdb_int.h; the records:
 *
 * entity:  u8 format, s8 id, u8 type (1..4), s8 parent (empty or an id),
 *          s8 vnfInstanceId (0..64), s8 vnfcId (0..64),
 *          u8 count (0..16) of s8 FQDN (1..255),
 *          u8 count (0..8) of s8 IP (1..45),
 *          u8 count (0..8) of { s8 certtype, s8 ca (a valid name),
 *                               s8 profile (0..64), u8 binding (1..2) },
 *          u8 binding (1..3),
 *          u8 count (0..64) of { s8 cert id (32 hex), s8 certtype,
 *                                u8 shared (0/1), u8 flags (bit 0
 *                                delegated, bit 1 initial; no other) },
 *          u64 created
 * certificate reference:
 *          u8 format, s8 entity, s8 cert id (32 hex), s8 certtype
 * LCM occurrence:
 *          u8 format, s8 id (1..128), u64 time, s8 vnfInstanceId (0..64),
 *          s8 operation (0..32), s16 summary (0..16 KiB, any bytes but NUL)
 * P2 shared key: the key id's 32 hex characters.
 */
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "store/cmfdb.h"
#include "store/cmfdb_int.h"
#include "store/codec.h"
#include "store/store.h"
#include "store/store_int.h"

#define CREF_REC_MAX	256
#define PARKEY_MAX	(2 * CMF_ID_MAX + 1)
#define SHKEY_MAX	(CMF_ID_MAX + 1 + CMF_CERTTYPE_MAX)
#define IP_TEXT_MAX	45

/* ---- validity ---- */

int
cmfdb_id_valid(const char *s)
{
	return cap_name_valid(s) && strnlen(s, CMF_ID_MAX + 1) <= CMF_ID_MAX;
}

int
cmfdb_certtype_valid(const char *s)
{
	size_t i;

	if (s == NULL || s[0] == '\0')
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		if (i >= CMF_CERTTYPE_MAX)
			return 0;
		if (!((s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	}
	return 1;
}

static int
text_ok(const char *s, size_t max, int allow_empty)
{
	size_t n = strnlen(s, max + 1);

	if (n > max || (n == 0 && !allow_empty))
		return 0;
	return store_text_valid(s, n);
}

static int
cert_id_ok(const char *s)
{
	return strnlen(s, CERTDB_ID_LEN + 1) == CERTDB_ID_LEN &&
	    store_hex_valid(s, CERTDB_ID_LEN);
}

static int
entity_valid(const struct cmf_entity *e)
{
	size_t i;

	if (!cmfdb_id_valid(e->id) || e->type < CMF_VNF_INSTANCE ||
	    e->type > CMF_MANO)
		return 0;
	if (e->parent[0] != '\0' && !cmfdb_id_valid(e->parent))
		return 0;
	if (!text_ok(e->vnf_instance_id, CMF_ID_MAX, 1) ||
	    !text_ok(e->vnfc_id, CMF_ID_MAX, 1))
		return 0;
	if (e->nfqdns > CMF_FQDN_MAX || e->nips > CMF_IP_MAX ||
	    e->ntypes > CMF_TYPES_MAX || e->ncerts > CMF_CERTS_MAX)
		return 0;
	for (i = 0; i < e->nfqdns; i++)
		if (!text_ok(e->fqdns[i], sizeof(e->fqdns[i]) - 1, 0))
			return 0;
	for (i = 0; i < e->nips; i++)
		if (!text_ok(e->ips[i], IP_TEXT_MAX, 0))
			return 0;
	for (i = 0; i < e->ntypes; i++) {
		const struct cmf_certtype *t = &e->types[i];

		if (!cmfdb_certtype_valid(t->name) || !cap_name_valid(t->ca) ||
		    !text_ok(t->profile, CERTDB_PROFILE_MAX, 1) ||
		    (t->binding != CMF_P1 && t->binding != CMF_P2))
			return 0;
	}
	if (e->binding < CMF_P1 || e->binding > CMF_P3)
		return 0;
	for (i = 0; i < e->ncerts; i++) {
		const struct cmf_held *h = &e->certs[i];

		if (!cert_id_ok(h->cert_id) ||
		    !cmfdb_certtype_valid(h->certtype) ||
		    (h->shared != 0 && h->shared != 1) ||
		    (h->delegated != 0 && h->delegated != 1) ||
		    (h->initial != 0 && h->initial != 1))
			return 0;
	}
	return 1;
}

/* ---- record framing ---- */

/*
 * Starts the record of an encoder: *buf and *len cleared, then
 * CAP_ERR_INVALID unless ok (what the decoder would accept), else the
 * writer set up with the format byte written.
 */
static int
wr_open(struct store_wr *w, int ok, size_t hint, size_t max, uint8_t **buf,
    size_t *len)
{
	*buf = NULL;
	*len = 0;
	if (!ok)
		return CAP_ERR_INVALID;
	store_wr_init(w, hint, max);
	store_wr_u8(w, CMFDB_FMT);
	return 0;
}

/* Starts reading a record of at most max bytes: 0 when its format is ours. */
static int
rd_open(struct store_rd *r, const uint8_t *buf, size_t len, size_t max)
{
	uint8_t fmt;

	store_rd_init(r, buf, len);
	if (buf == NULL || len > max || store_rd_u8(r, &fmt) != 0 ||
	    fmt != CMFDB_FMT)
		return CAP_ERR_CORRUPT;
	return 0;
}

/* ---- entity codec ---- */

int
cmfdb_entity_encode(const struct cmf_entity *e, uint8_t **buf, size_t *len)
{
	struct store_wr w;
	size_t i;
	int r;

	if ((r = wr_open(&w, e != NULL && entity_valid(e), 512,
	    CMFDB_ENTITY_MAX, buf, len)) != 0)
		return r;
	store_wr_str(&w, 1, e->id);
	store_wr_u8(&w, (uint8_t)e->type);
	store_wr_str(&w, 1, e->parent);
	store_wr_str(&w, 1, e->vnf_instance_id);
	store_wr_str(&w, 1, e->vnfc_id);
	store_wr_u8(&w, (uint8_t)e->nfqdns);
	for (i = 0; i < e->nfqdns; i++)
		store_wr_str(&w, 1, e->fqdns[i]);
	store_wr_u8(&w, (uint8_t)e->nips);
	for (i = 0; i < e->nips; i++)
		store_wr_str(&w, 1, e->ips[i]);
	store_wr_u8(&w, (uint8_t)e->ntypes);
	for (i = 0; i < e->ntypes; i++) {
		store_wr_str(&w, 1, e->types[i].name);
		store_wr_str(&w, 1, e->types[i].ca);
		store_wr_str(&w, 1, e->types[i].profile);
		store_wr_u8(&w, (uint8_t)e->types[i].binding);
	}
	store_wr_u8(&w, (uint8_t)e->binding);
	store_wr_u8(&w, (uint8_t)e->ncerts);
	for (i = 0; i < e->ncerts; i++) {
		store_wr_str(&w, 1, e->certs[i].cert_id);
		store_wr_str(&w, 1, e->certs[i].certtype);
		store_wr_u8(&w, (uint8_t)e->certs[i].shared);
		store_wr_u8(&w, (uint8_t)(e->certs[i].delegated |
		    e->certs[i].initial << 1));
	}
	store_wr_u64(&w, e->created);
	return store_wr_finish(&w, buf, len);
}

int
cmfdb_entity_decode(const uint8_t *buf, size_t len, struct cmf_entity *out)
{
	struct store_rd r;
	uint8_t n, v;
	size_t i;
	int ret;

	memset(out, 0, sizeof(*out));
	if (rd_open(&r, buf, len, CMFDB_ENTITY_MAX) != 0)
		goto bad;
	store_rd_text(&r, 1, 1, CMF_ID_MAX, out->id, NULL);
	store_rd_u8(&r, &v);
	out->type = (enum cmf_entity_type)v;
	store_rd_text(&r, 1, 0, CMF_ID_MAX, out->parent, NULL);
	store_rd_text(&r, 1, 0, CMF_ID_MAX, out->vnf_instance_id, NULL);
	store_rd_text(&r, 1, 0, CMF_ID_MAX, out->vnfc_id, NULL);
	if (store_rd_u8(&r, &n) != 0 || n > CMF_FQDN_MAX)
		goto bad;
	for (i = 0; i < n; i++)
		store_rd_text(&r, 1, 1, sizeof(out->fqdns[i]) - 1,
		    out->fqdns[i], NULL);
	out->nfqdns = n;
	if (store_rd_u8(&r, &n) != 0 || n > CMF_IP_MAX)
		goto bad;
	for (i = 0; i < n; i++)
		store_rd_text(&r, 1, 1, IP_TEXT_MAX, out->ips[i], NULL);
	out->nips = n;
	if (store_rd_u8(&r, &n) != 0 || n > CMF_TYPES_MAX)
		goto bad;
	for (i = 0; i < n; i++) {
		store_rd_text(&r, 1, 1, CMF_CERTTYPE_MAX, out->types[i].name,
		    NULL);
		store_rd_text(&r, 1, 1, CAP_NAME_MAX, out->types[i].ca, NULL);
		store_rd_text(&r, 1, 0, CERTDB_PROFILE_MAX,
		    out->types[i].profile, NULL);
		store_rd_u8(&r, &v);
		out->types[i].binding = (enum cmf_binding)v;
	}
	out->ntypes = n;
	store_rd_u8(&r, &v);
	out->binding = (enum cmf_binding)v;
	if (store_rd_u8(&r, &n) != 0 || n > CMF_CERTS_MAX)
		goto bad;
	for (i = 0; i < n; i++) {
		store_rd_text(&r, 1, CERTDB_ID_LEN, CERTDB_ID_LEN,
		    out->certs[i].cert_id, NULL);
		store_rd_text(&r, 1, 1, CMF_CERTTYPE_MAX,
		    out->certs[i].certtype, NULL);
		store_rd_u8(&r, &v);
		out->certs[i].shared = v;
		if (store_rd_u8(&r, &v) == 0 && (v & ~3) != 0)
			goto bad;
		out->certs[i].delegated = v & 1;
		out->certs[i].initial = v >> 1 & 1;
	}
	out->ncerts = n;
	store_rd_u64(&r, &out->created);
	if (store_rd_end(&r) != 0 || !entity_valid(out))
		goto bad;
	return 0;
 bad:
	ret = store_rd_fail(&r);
	memset(out, 0, sizeof(*out));
	return ret;
}

/* ---- certificate reference codec ---- */

static int
certref_valid(const struct cmfdb_certref *c)
{
	return cmfdb_id_valid(c->entity) && cert_id_ok(c->cert_id) &&
	    cmfdb_certtype_valid(c->certtype);
}

static int
certref_encode(const struct cmfdb_certref *c, uint8_t **buf, size_t *len)
{
	struct store_wr w;
	int r;

	if ((r = wr_open(&w, certref_valid(c), 128, CREF_REC_MAX, buf,
	    len)) != 0)
		return r;
	store_wr_str(&w, 1, c->entity);
	store_wr_str(&w, 1, c->cert_id);
	store_wr_str(&w, 1, c->certtype);
	return store_wr_finish(&w, buf, len);
}

int
cmfdb_certref_decode(const uint8_t *buf, size_t len, struct cmfdb_certref *out)
{
	struct store_rd r;
	int ret;

	memset(out, 0, sizeof(*out));
	if (rd_open(&r, buf, len, CREF_REC_MAX) != 0)
		goto bad;
	store_rd_text(&r, 1, 1, CMF_ID_MAX, out->entity, NULL);
	store_rd_text(&r, 1, CERTDB_ID_LEN, CERTDB_ID_LEN, out->cert_id, NULL);
	store_rd_text(&r, 1, 1, CMF_CERTTYPE_MAX, out->certtype, NULL);
	if (store_rd_end(&r) != 0 || !certref_valid(out))
		goto bad;
	return 0;
 bad:
	ret = store_rd_fail(&r);
	memset(out, 0, sizeof(*out));
	return ret;
}

/* ---- LCM occurrence codec ---- */

void
cmfdb_lcm_clear(struct cmfdb_lcm *rec)
{
	if (rec == NULL)
		return;
	free(rec->summary);
	memset(rec, 0, sizeof(*rec));
}

static int
lcm_valid(const struct cmfdb_lcm *c)
{
	return text_ok(c->id, CMFDB_LCM_ID_MAX, 0) &&
	    text_ok(c->vnf_instance_id, CMF_ID_MAX, 1) &&
	    text_ok(c->operation, CMFDB_LCM_OP_MAX, 1) &&
	    c->summarylen <= CMFDB_LCM_SUMMARY_MAX &&
	    (c->summarylen == 0 || (c->summary != NULL &&
	    memchr(c->summary, '\0', c->summarylen) == NULL));
}

int
cmfdb_lcm_encode(const struct cmfdb_lcm *c, uint8_t **buf, size_t *len)
{
	struct store_wr w;
	int r;

	if ((r = wr_open(&w, c != NULL && lcm_valid(c),
	    c != NULL ? 256 + c->summarylen : 0, CMFDB_LCM_MAX, buf,
	    len)) != 0)
		return r;
	store_wr_str(&w, 1, c->id);
	store_wr_u64(&w, c->time);
	store_wr_str(&w, 1, c->vnf_instance_id);
	store_wr_str(&w, 1, c->operation);
	store_wr_lv(&w, 2, c->summary, c->summarylen);
	return store_wr_finish(&w, buf, len);
}

int
cmfdb_lcm_decode(const uint8_t *buf, size_t len, struct cmfdb_lcm *out)
{
	struct store_rd r;
	int ret;

	memset(out, 0, sizeof(*out));
	if (rd_open(&r, buf, len, CMFDB_LCM_MAX) != 0)
		goto bad;
	store_rd_text(&r, 1, 1, CMFDB_LCM_ID_MAX, out->id, NULL);
	store_rd_u64(&r, &out->time);
	store_rd_text(&r, 1, 0, CMF_ID_MAX, out->vnf_instance_id, NULL);
	store_rd_text(&r, 1, 0, CMFDB_LCM_OP_MAX, out->operation, NULL);
	if (r.err == 0 && store_rd_strdup(&r, 2, 0, CMFDB_LCM_SUMMARY_MAX,
	    &out->summary, &out->summarylen) != 0)
		goto bad;
	if (store_rd_end(&r) != 0 || !lcm_valid(out))
		goto bad;
	return 0;
 bad:
	ret = store_rd_fail(&r);
	cmfdb_lcm_clear(out);
	return ret;
}

/* ---- entities in the store ---- */

static size_t
par_key(uint8_t out[PARKEY_MAX], const char *parent, const char *id)
{
	size_t p = strlen(parent), n = strlen(id);

	memcpy(out, parent, p);
	out[p] = '\0';
	memcpy(out + p + 1, id, n);
	return p + 1 + n;
}

static int
ent_read(store *s, MDB_txn *txn, const char *id, struct cmf_entity *out)
{
	MDB_val d;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = store_get(txn, s->dbi_cmf_ents, id, strlen(id), &d,
	    "mdb_get cmf_ents")) != 0)
		return r;
	if ((r = cmfdb_entity_decode(d.mv_data, d.mv_size, out)) != 0)
		log_error("store: entity record %s does not parse", id);
	return r;
}

static int
ent_write(store *s, MDB_txn *txn, const struct cmf_entity *old,
    const struct cmf_entity *e)
{
	uint8_t pk[PARKEY_MAX], *buf = NULL;
	size_t len;
	int r;

	if ((r = cmfdb_entity_encode(e, &buf, &len)) != 0)
		return r;
	if (old != NULL && strcmp(old->parent, e->parent) != 0) {
		r = store_del(txn, s->dbi_cmf_ents_par, pk,
		    par_key(pk, old->parent, old->id), "mdb_del cmf_ents_par");
		if (r != 0 && r != CAP_ERR_NOT_FOUND)
			goto out;
	}
	if ((r = store_put(txn, s->dbi_cmf_ents, e->id, strlen(e->id), buf,
	    len, 0, "mdb_put cmf_ents")) != 0)
		goto out;
	r = store_put(txn, s->dbi_cmf_ents_par, pk,
	    par_key(pk, e->parent, e->id), NULL, 0, 0, "mdb_put cmf_ents_par");
 out:
	free(buf);
	return r;
}

struct ent_put_arg {
	const struct cmf_entity	*e;
	int			 excl;
};

static int
ent_put_txn(store *s, MDB_txn *txn, void *arg)
{
	struct ent_put_arg *a = arg;
	struct cmf_entity *old;
	int r;

	if ((old = malloc(sizeof(*old))) == NULL)
		return CAP_ERR_NOMEM;
	r = ent_read(s, txn, a->e->id, old);
	if (r == 0 && a->excl)
		r = CAP_ERR_EXISTS;
	else if (r == 0 || r == CAP_ERR_NOT_FOUND)
		r = ent_write(s, txn, r == 0 ? old : NULL, a->e);
	free(old);
	return r;
}

int
cmfdb_entity_put(store *s, const struct cmf_entity *e, int excl)
{
	struct ent_put_arg a = { e, excl };

	if (s == NULL || e == NULL || !entity_valid(e))
		return CAP_ERR_INVALID;
	return store_txn_write(s, ent_put_txn, &a);
}

struct ent_get_arg {
	const char		*id;
	struct cmf_entity	*e;
};

static int
ent_get_txn(store *s, MDB_txn *txn, void *arg)
{
	struct ent_get_arg *a = arg;

	return ent_read(s, txn, a->id, a->e);
}

int
cmfdb_entity_get(store *s, const char *id, struct cmf_entity *out)
{
	struct ent_get_arg a = { id, out };

	if (s == NULL || out == NULL || !cmfdb_id_valid(id))
		return CAP_ERR_INVALID;
	return store_txn_read(s, ent_get_txn, &a);
}

struct ent_upd_arg {
	const char		*id;
	cmfdb_entity_fn		 fn;
	void			*arg;
};

static int
ent_upd_txn(store *s, MDB_txn *txn, void *arg)
{
	struct ent_upd_arg *a = arg;
	struct cmf_entity *old = NULL, *cur = NULL;
	int r;

	if ((old = malloc(sizeof(*old))) == NULL ||
	    (cur = malloc(sizeof(*cur))) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	if ((r = ent_read(s, txn, a->id, old)) != 0)
		goto out;
	memcpy(cur, old, sizeof(*cur));
	if ((r = a->fn(cur, a->arg)) != 0)
		goto out;
	if (strcmp(cur->id, old->id) != 0) {
		r = CAP_ERR_INVALID;
		goto out;
	}
	r = ent_write(s, txn, old, cur);
 out:
	free(old);
	free(cur);
	return r;
}

int
cmfdb_entity_update(store *s, const char *id, cmfdb_entity_fn fn, void *arg)
{
	struct ent_upd_arg a = { id, fn, arg };

	if (s == NULL || fn == NULL || !cmfdb_id_valid(id))
		return CAP_ERR_INVALID;
	return store_txn_write(s, ent_upd_txn, &a);
}

struct ent_del_arg {
	const char		*id;
	struct cmf_entity	*final;		/* or NULL */
};

static int
ent_del_txn(store *s, MDB_txn *txn, void *arg)
{
	struct ent_del_arg *a = arg;
	const char *id = a->id;
	struct cmf_entity *old;
	uint8_t pk[PARKEY_MAX];
	int r;

	if ((old = malloc(sizeof(*old))) == NULL)
		return CAP_ERR_NOMEM;
	if ((r = ent_read(s, txn, id, old)) != 0)
		goto out;
	if (a->final != NULL)
		*a->final = *old;
	r = store_del(txn, s->dbi_cmf_ents_par, pk,
	    par_key(pk, old->parent, old->id), "mdb_del cmf_ents_par");
	if (r != 0 && r != CAP_ERR_NOT_FOUND)
		goto out;
	r = store_del(txn, s->dbi_cmf_ents, id, strlen(id), "mdb_del cmf_ents");
 out:
	free(old);
	return r;
}

int
cmfdb_entity_delete(store *s, const char *id, struct cmf_entity *final)
{
	struct ent_del_arg a = { id, final };

	if (s == NULL || !cmfdb_id_valid(id))
		return CAP_ERR_INVALID;
	return store_txn_write(s, ent_del_txn, &a);
}

struct ids_arg {
	size_t		 skip;	/* bytes of key prefix before the id */
	char		**ids;
	size_t		 n, cap;
};

static int
ids_one(void *arg, const MDB_val *k, const MDB_val *d)
{
	struct ids_arg *a = arg;
	char id[CMF_ID_MAX + 1];
	size_t n;

	(void)d;
	if (k->mv_size <= a->skip || k->mv_size - a->skip > CMF_ID_MAX)
		return CAP_ERR_CORRUPT;
	n = k->mv_size - a->skip;
	memcpy(id, (const uint8_t *)k->mv_data + a->skip, n);
	id[n] = '\0';
	if (!cmfdb_id_valid(id))
		return CAP_ERR_CORRUPT;
	return store_names_push(&a->ids, &a->n, &a->cap, id, n);
}

struct list_arg {
	const char	*parent;
	struct ids_arg	 ia;
};

static int
ent_list_txn(store *s, MDB_txn *txn, void *arg)
{
	struct list_arg *a = arg;
	uint8_t pk[PARKEY_MAX];
	size_t plen;

	if (a->parent == NULL) {
		a->ia.skip = 0;
		return store_walk(txn, s->dbi_cmf_ents, NULL, 0, ids_one,
		    &a->ia);
	}
	plen = strlen(a->parent);
	memcpy(pk, a->parent, plen);
	pk[plen++] = '\0';
	a->ia.skip = plen;
	return store_walk(txn, s->dbi_cmf_ents_par, pk, plen, ids_one, &a->ia);
}

int
cmfdb_entity_list(store *s, const char *parent, char ***ids, size_t *n)
{
	struct list_arg a;
	int r;

	if (ids != NULL)
		*ids = NULL;
	if (n != NULL)
		*n = 0;
	if (s == NULL || ids == NULL || n == NULL ||
	    (parent != NULL && parent[0] != '\0' && !cmfdb_id_valid(parent)))
		return CAP_ERR_INVALID;
	memset(&a, 0, sizeof(a));
	a.parent = parent;
	if ((r = store_txn_read(s, ent_list_txn, &a)) != 0) {
		store_names_free(a.ia.ids, a.ia.n);
		return r;
	}
	*ids = a.ia.ids;	/* transferred */
	*n = a.ia.n;
	return 0;
}

/* ---- certificate index ---- */

/* Both hold certificate references: put, get and delete under a key. */
static int
cref_put(store *s, MDB_dbi dbi, const void *k, size_t klen,
    const struct cmfdb_certref *ref, const char *what)
{
	uint8_t *buf = NULL;
	size_t len;
	int r;

	if ((r = certref_encode(ref, &buf, &len)) != 0)
		return r;
	r = store_put_one(s, dbi, k, klen, buf, len, 0, what);
	free(buf);
	return r;
}

struct cref_get_arg {
	MDB_dbi			 dbi;
	const void		*k;
	size_t			 klen;
	struct cmfdb_certref	*out;
};

static int
cref_get_txn(store *s, MDB_txn *txn, void *arg)
{
	struct cref_get_arg *a = arg;
	MDB_val d;
	int r;

	(void)s;
	if ((r = store_get(txn, a->dbi, a->k, a->klen, &d,
	    "mdb_get cmf certificate reference")) != 0)
		return r;
	return cmfdb_certref_decode(d.mv_data, d.mv_size, a->out);
}

static int
cref_get(store *s, MDB_dbi dbi, const void *k, size_t klen,
    struct cmfdb_certref *out)
{
	struct cref_get_arg a = { dbi, k, klen, out };

	return store_txn_read(s, cref_get_txn, &a);
}

int
cmfdb_cert_put(store *s, const uint8_t hash[CMFDB_HASH_LEN],
    const struct cmfdb_certref *ref)
{
	if (s == NULL || hash == NULL || ref == NULL)
		return CAP_ERR_INVALID;
	return cref_put(s, s->dbi_cmf_certs, hash, CMFDB_HASH_LEN, ref,
	    "mdb_put cmf_certs");
}

int
cmfdb_cert_get(store *s, const uint8_t hash[CMFDB_HASH_LEN],
    struct cmfdb_certref *out)
{
	if (s == NULL || hash == NULL || out == NULL)
		return CAP_ERR_INVALID;
	return cref_get(s, s->dbi_cmf_certs, hash, CMFDB_HASH_LEN, out);
}

int
cmfdb_cert_delete(store *s, const uint8_t hash[CMFDB_HASH_LEN])
{
	if (s == NULL || hash == NULL)
		return CAP_ERR_INVALID;
	return store_del_one(s, s->dbi_cmf_certs, hash, CMFDB_HASH_LEN,
	    "mdb_del cmf_certs");
}

/* ---- P2 shared keys ---- */

static int
sh_key(uint8_t out[SHKEY_MAX], const char *vnfc, const char *certtype,
    size_t *len)
{
	size_t a, b;

	if (!cmfdb_id_valid(vnfc) || !cmfdb_certtype_valid(certtype))
		return CAP_ERR_INVALID;
	a = strlen(vnfc);
	b = strlen(certtype);
	memcpy(out, vnfc, a);
	out[a] = '\0';
	memcpy(out + a + 1, certtype, b);
	*len = a + 1 + b;
	return 0;
}

int
cmfdb_shared_put(store *s, const char *vnfc, const char *certtype,
    const char key_id[CERTDB_ID_LEN + 1])
{
	uint8_t k[SHKEY_MAX];
	size_t klen;
	int r;

	if (s == NULL || key_id == NULL || !cert_id_ok(key_id))
		return CAP_ERR_INVALID;
	if ((r = sh_key(k, vnfc, certtype, &klen)) != 0)
		return r;
	return store_put_one(s, s->dbi_cmf_shared, k, klen, key_id,
	    CERTDB_ID_LEN, MDB_NOOVERWRITE, "mdb_put cmf_shared");
}

struct sh_get_arg {
	const uint8_t	*k;
	size_t		 klen;
	char		*out;
};

static int
sh_get_txn(store *s, MDB_txn *txn, void *arg)
{
	struct sh_get_arg *a = arg;
	MDB_val d;
	int r;

	if ((r = store_get(txn, s->dbi_cmf_shared, a->k, a->klen, &d,
	    "mdb_get cmf_shared")) != 0)
		return r;
	if (d.mv_size != CERTDB_ID_LEN ||
	    !store_hex_valid(d.mv_data, CERTDB_ID_LEN))
		return CAP_ERR_CORRUPT;
	memcpy(a->out, d.mv_data, CERTDB_ID_LEN);
	a->out[CERTDB_ID_LEN] = '\0';
	return 0;
}

int
cmfdb_shared_get(store *s, const char *vnfc, const char *certtype,
    char key_id[CERTDB_ID_LEN + 1])
{
	uint8_t k[SHKEY_MAX];
	struct sh_get_arg a;
	int r;

	if (s == NULL || key_id == NULL)
		return CAP_ERR_INVALID;
	key_id[0] = '\0';
	if ((r = sh_key(k, vnfc, certtype, &a.klen)) != 0)
		return r;
	a.k = k;
	a.out = key_id;
	return store_txn_read(s, sh_get_txn, &a);
}

int
cmfdb_shared_delete(store *s, const char *vnfc, const char *certtype)
{
	uint8_t k[SHKEY_MAX];
	size_t klen;
	int r;

	if (s == NULL)
		return CAP_ERR_INVALID;
	if ((r = sh_key(k, vnfc, certtype, &klen)) != 0)
		return r;
	return store_del_one(s, s->dbi_cmf_shared, k, klen,
	    "mdb_del cmf_shared");
}

/* ---- LCM occurrence log ---- */

int
cmfdb_lcm_put(store *s, const struct cmfdb_lcm *rec)
{
	uint8_t *buf = NULL;
	size_t len;
	int r;

	if (s == NULL || rec == NULL)
		return CAP_ERR_INVALID;
	if ((r = cmfdb_lcm_encode(rec, &buf, &len)) != 0)
		return r;
	r = store_put_one(s, s->dbi_cmf_lcm, rec->id, strlen(rec->id), buf,
	    len, MDB_NOOVERWRITE, "mdb_put cmf_lcm");
	free(buf);
	return r;
}

struct lcm_get_arg {
	const char		*id;
	struct cmfdb_lcm	*out;
};

static int
lcm_get_txn(store *s, MDB_txn *txn, void *arg)
{
	struct lcm_get_arg *a = arg;
	MDB_val d;
	int r;

	if ((r = store_get(txn, s->dbi_cmf_lcm, a->id, strlen(a->id), &d,
	    "mdb_get cmf_lcm")) != 0)
		return r;
	return cmfdb_lcm_decode(d.mv_data, d.mv_size, a->out);
}

int
cmfdb_lcm_get(store *s, const char *id, struct cmfdb_lcm *out)
{
	struct lcm_get_arg a = { id, out };

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (s == NULL || out == NULL || id == NULL ||
	    !text_ok(id, CMFDB_LCM_ID_MAX, 0))
		return CAP_ERR_INVALID;
	return store_txn_read(s, lcm_get_txn, &a);
}

int
cmfdb_lcm_delete(store *s, const char *id)
{
	if (s == NULL || id == NULL || !text_ok(id, CMFDB_LCM_ID_MAX, 0))
		return CAP_ERR_INVALID;
	return store_del_one(s, s->dbi_cmf_lcm, id, strlen(id),
	    "mdb_del cmf_lcm");
}
