/*
 * cadb.c - connector records, local CA state and issued-certificate
 * records (see cadb.h for the layout and the secrets rule).
 *
 * Record formats (integers big-endian):
 *   connector  u8 1 | u8 plen | protocol | u32 slen | settings |
 *              u16 llen | limits | u64 created
 *   local      u8 1 | u8 klen | key id | u16 clen | cert DER |
 *              u64 crl number | u8 plen | parent
 *   issued     u8 1 | u8 serial len | serial | u8 status | u8 reason |
 *              u64 issued | u64 not after | u64 revoked at
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <lmdb.h>

#include "common/err.h"
#include "common/log.h"
#include "store/cadb.h"
#include "store/codec.h"
#include "store/store_int.h"

#define CADB_FMT	1
#define CADB_JSON_DEPTH	8

static int
protocol_valid(const char *p, size_t n)
{
	size_t i;

	if (n == 0 || n > CADB_PROTOCOL_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' &&
		    p[i] <= '9') || p[i] == '-'))
			return 0;
	return 1;
}

static int
key_id_valid(const char *p, size_t n)
{
	size_t i;

	if (n == 0 || n > CADB_KEY_ID_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((p[i] >= 'a' && p[i] <= 'f') || (p[i] >= '0' &&
		    p[i] <= '9')))
			return 0;
	return 1;
}

/* ---- the secrets rule ---- */

static int
secret_member(const char *key)
{
	static const char *const sfx[] = { "secret", "password", "challenge",
	    "pin" };
	size_t i, kl = strlen(key), sl;

	for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		sl = strlen(sfx[i]);
		if (kl >= sl && strcmp(key + kl - sl, sfx[i]) == 0)
			return 1;
	}
	return 0;
}

static int
json_check(json_t *j, int depth)
{
	const char *k;
	json_t *v;
	size_t i;
	int r;

	if (depth > CADB_JSON_DEPTH)
		return CAP_ERR_INVALID;
	if (json_is_object(j)) {
		json_object_foreach(j, k, v) {
			if (secret_member(k) && !json_is_null(v) &&
			    !(json_is_string(v) && strncmp(json_string_value(v),
			    "vault:", 6) == 0))
				return CAP_ERR_INVALID;
			if ((r = json_check(v, depth + 1)) != 0)
				return r;
		}
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			if ((r = json_check(v, depth + 1)) != 0)
				return r;
	}
	return 0;
}

int
cadb_settings_check(const char *json, size_t len)
{
	json_t *j;
	int r;

	if (json == NULL)
		return CAP_ERR_INVALID;
	if (len > CADB_SETTINGS_MAX)
		return CAP_ERR_TOO_LARGE;
	/* Parse errors are not echoed: the text may hold a literal secret. */
	if ((j = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL)) == NULL)
		return CAP_ERR_INVALID;
	r = json_is_object(j) ? json_check(j, 0) : CAP_ERR_INVALID;
	json_decref(j);
	return r;
}

/* ---- codecs ---- */

void
cadb_conn_clear(struct cadb_conn *c)
{
	if (c == NULL)
		return;
	free(c->settings);
	free(c->limits);
	memset(c, 0, sizeof(*c));
}

void
cadb_conn_free(struct cadb_conn *c)
{
	cadb_conn_clear(c);
	free(c);
}

int
cadb_record_encode_conn(const struct cadb_conn *c, uint8_t **buf, size_t *len)
{
	struct store_wr w;
	size_t pl, sl, ll;
	int r;

	*buf = NULL;
	*len = 0;
	if (c == NULL || c->settings == NULL)
		return CAP_ERR_INVALID;
	pl = strlen(c->protocol);
	sl = strlen(c->settings);
	ll = c->limits != NULL ? strlen(c->limits) : 0;
	if (!protocol_valid(c->protocol, pl) || !cap_name_valid(c->name))
		return CAP_ERR_INVALID;
	if (ll > CADB_LIMITS_MAX)
		return CAP_ERR_TOO_LARGE;
	if ((r = cadb_settings_check(c->settings, sl)) != 0)
		return r;
	store_wr_init(&w, 1 + 1 + pl + 4 + sl + 2 + ll + 8, 0);
	store_wr_u8(&w, CADB_FMT);
	store_wr_lv(&w, 1, c->protocol, pl);
	store_wr_lv(&w, 4, c->settings, sl);
	store_wr_lv(&w, 2, c->limits, ll);
	store_wr_u64(&w, c->created);
	return store_wr_finish(&w, buf, len);
}

int
cadb_record_decode_conn(const uint8_t *buf, size_t len, struct cadb_conn *out)
{
	struct store_rd rd;
	uint8_t fmt;
	size_t n;
	int r;

	memset(out, 0, sizeof(*out));
	store_rd_init(&rd, buf, len);
	if (store_rd_u8(&rd, &fmt) != 0 || fmt != CADB_FMT ||
	    store_rd_str(&rd, 1, 1, CADB_PROTOCOL_MAX, out->protocol, &n) != 0 ||
	    !protocol_valid(out->protocol, n) ||
	    store_rd_strdup(&rd, 4, 1, CADB_SETTINGS_MAX, &out->settings,
	    &n) != 0 || cadb_settings_check(out->settings, n) != 0 ||
	    store_rd_strdup(&rd, 2, 0, CADB_LIMITS_MAX, &out->limits,
	    NULL) != 0 || store_rd_u64(&rd, &out->created) != 0 ||
	    store_rd_end(&rd) != 0) {
		r = store_rd_fail(&rd);
		cadb_conn_clear(out);
		return r;
	}
	return 0;
}

void
cadb_local_free(struct cadb_local *l)
{
	if (l == NULL)
		return;
	free(l->cert);
	free(l);
}

int
cadb_record_encode_local(const struct cadb_local *l, uint8_t **buf,
    size_t *len)
{
	struct store_wr w;
	size_t kl, pl;

	*buf = NULL;
	*len = 0;
	if (l == NULL || l->cert == NULL || l->certlen == 0)
		return CAP_ERR_INVALID;
	kl = strlen(l->key_id);
	pl = strlen(l->parent);
	if (!key_id_valid(l->key_id, kl) || (pl > 0 &&
	    !cap_name_valid(l->parent)))
		return CAP_ERR_INVALID;
	if (l->certlen > CADB_CERT_MAX)
		return CAP_ERR_TOO_LARGE;
	store_wr_init(&w, 1 + 1 + kl + 2 + l->certlen + 8 + 1 + pl, 0);
	store_wr_u8(&w, CADB_FMT);
	store_wr_lv(&w, 1, l->key_id, kl);
	store_wr_lv(&w, 2, l->cert, l->certlen);
	store_wr_u64(&w, l->crl_number);
	store_wr_lv(&w, 1, l->parent, pl);
	return store_wr_finish(&w, buf, len);
}

int
cadb_record_decode_local(const uint8_t *buf, size_t len,
    struct cadb_local *out)
{
	struct store_rd rd;
	uint8_t fmt;
	size_t n;
	int r;

	memset(out, 0, sizeof(*out));
	store_rd_init(&rd, buf, len);
	if (store_rd_u8(&rd, &fmt) != 0 || fmt != CADB_FMT ||
	    store_rd_str(&rd, 1, 1, CADB_KEY_ID_MAX, out->key_id, &n) != 0 ||
	    !key_id_valid(out->key_id, n) ||
	    store_rd_blob(&rd, 2, 1, CADB_CERT_MAX, &out->cert,
	    &out->certlen) != 0 ||
	    store_rd_u64(&rd, &out->crl_number) != 0 ||
	    store_rd_str(&rd, 1, 0, CAP_NAME_MAX, out->parent, &n) != 0 ||
	    (n > 0 && !cap_name_valid(out->parent)) ||
	    store_rd_end(&rd) != 0) {
		r = store_rd_fail(&rd);
		free(out->cert);
		memset(out, 0, sizeof(*out));
		return r;
	}
	return 0;
}

static int
issued_valid(const struct cadb_issued *rec)
{
	if (rec->serial_len == 0 || rec->serial_len > CADB_SERIAL_MAX)
		return 0;
	if (rec->status == CADB_GOOD)
		return rec->revoked_at == 0 && rec->reason == 0;
	if (rec->status == CADB_REVOKED)
		return rec->reason <= 10 && rec->reason != 7;
	return 0;
}

int
cadb_record_encode_issued(const struct cadb_issued *rec, uint8_t **buf,
    size_t *len)
{
	struct store_wr w;

	*buf = NULL;
	*len = 0;
	if (rec == NULL || !issued_valid(rec))
		return CAP_ERR_INVALID;
	store_wr_init(&w, 1 + 1 + rec->serial_len + 1 + 1 + 8 + 8 + 8, 0);
	store_wr_u8(&w, CADB_FMT);
	store_wr_lv(&w, 1, rec->serial, rec->serial_len);
	store_wr_u8(&w, rec->status);
	store_wr_u8(&w, rec->reason);
	store_wr_u64(&w, rec->issued);
	store_wr_u64(&w, rec->not_after);
	store_wr_u64(&w, rec->revoked_at);
	return store_wr_finish(&w, buf, len);
}

int
cadb_record_decode_issued(const uint8_t *buf, size_t len,
    struct cadb_issued *out)
{
	struct store_rd rd;
	uint64_t sl;
	uint8_t fmt;

	memset(out, 0, sizeof(*out));
	store_rd_init(&rd, buf, len);
	if (store_rd_u8(&rd, &fmt) != 0 || fmt != CADB_FMT ||
	    store_rd_uint(&rd, 1, &sl) != 0 || sl == 0 ||
	    sl > CADB_SERIAL_MAX || store_rd_bytes(&rd, out->serial, sl) != 0)
		goto bad;
	out->serial_len = sl;
	if (store_rd_u8(&rd, &out->status) != 0 ||
	    store_rd_u8(&rd, &out->reason) != 0 ||
	    store_rd_u64(&rd, &out->issued) != 0 ||
	    store_rd_u64(&rd, &out->not_after) != 0 ||
	    store_rd_u64(&rd, &out->revoked_at) != 0 ||
	    store_rd_end(&rd) != 0 || !issued_valid(out))
		goto bad;
	return 0;
 bad:
	memset(out, 0, sizeof(*out));
	return CAP_ERR_CORRUPT;
}

/* ---- keys ---- */

/* kind byte then name: 'c' connector, 'l' local state. */
static size_t
cas_key(uint8_t *k, char kind, const char *name)
{
	size_t n = strlen(name);

	k[0] = (uint8_t)kind;
	memcpy(k + 1, name, n);
	return n + 1;
}

/* name \0 serial */
static size_t
issued_key(uint8_t *k, const char *name, const uint8_t *serial, size_t sl)
{
	size_t n = strlen(name);

	memcpy(k, name, n);
	k[n] = '\0';
	memcpy(k + n + 1, serial, sl);
	return n + 1 + sl;
}

/* ---- connectors ---- */

struct conn_arg {
	const char		*name;
	const uint8_t		*rec;
	size_t			 reclen;
	int			 excl;
	struct cadb_conn	*out;
	struct cadb_local	*lout;
	struct cadb_issued	*iout;
	const struct cadb_issued *iin;
	size_t			 n, cap;
	char			**names;
	const uint8_t		*serial;
	size_t			 serial_len;
	int			 reason;
	uint64_t		 when;
	uint64_t		 number;
};

int
cadb_conn_put(store *s, const struct cadb_conn *c, int excl)
{
	uint8_t key[1 + CAP_NAME_MAX], *rec = NULL;
	size_t len;
	int r;

	if (s == NULL || c == NULL)
		return CAP_ERR_INVALID;
	if ((r = cadb_record_encode_conn(c, &rec, &len)) != 0)
		return r;
	r = store_put_one(s, s->dbi_cas, key, cas_key(key, 'c', c->name), rec,
	    len, excl ? MDB_NOOVERWRITE : 0, "mdb_put ca");
	free(rec);
	return r;
}

static int
conn_get_txn(store *s, MDB_txn *txn, void *arg)
{
	struct conn_arg *a = arg;
	uint8_t key[1 + CAP_NAME_MAX];
	MDB_val d;
	int r;

	if ((r = store_get(txn, s->dbi_cas, key, cas_key(key, 'c', a->name),
	    &d, "mdb_get ca")) != 0)
		return r;
	if ((r = cadb_record_decode_conn(d.mv_data, d.mv_size, a->out)) != 0) {
		if (r == CAP_ERR_CORRUPT)
			log_error("store: malformed CA connector record");
		return r;
	}
	snprintf(a->out->name, sizeof(a->out->name), "%s", a->name);
	return 0;
}

int
cadb_conn_get(store *s, const char *name, struct cadb_conn **out)
{
	struct conn_arg a;
	int r;

	*out = NULL;
	if (s == NULL || !cap_name_valid(name))
		return CAP_ERR_INVALID;
	memset(&a, 0, sizeof(a));
	a.name = name;
	if ((a.out = calloc(1, sizeof(*a.out))) == NULL)
		return CAP_ERR_NOMEM;
	if ((r = store_txn_read(s, conn_get_txn, &a)) != 0) {
		free(a.out);
		return r;
	}
	*out = a.out;	/* transferred */
	return 0;
}

static int
conn_list_txn(store *s, MDB_txn *txn, void *arg)
{
	struct conn_arg *a = arg;

	return store_walk_names(txn, s->dbi_cas, "c", 1, &a->names, &a->n,
	    &a->cap, "CA connector key");
}

int
cadb_conn_list(store *s, char ***names, size_t *n)
{
	struct conn_arg a;
	int r;

	*names = NULL;
	*n = 0;
	if (s == NULL)
		return CAP_ERR_INVALID;
	memset(&a, 0, sizeof(a));
	if ((r = store_txn_read(s, conn_list_txn, &a)) != 0) {
		store_names_free(a.names, a.n);
		return r;
	}
	*names = a.names;	/* transferred */
	*n = a.n;
	return 0;
}

static int
conn_delete_txn(store *s, MDB_txn *txn, void *arg)
{
	struct conn_arg *a = arg;
	uint8_t key[1 + CAP_NAME_MAX + 1];
	size_t n;
	int r;

	if ((r = store_del(txn, s->dbi_cas, key, cas_key(key, 'c', a->name),
	    "mdb_del ca")) != 0)
		return r;
	r = store_del(txn, s->dbi_cas, key, cas_key(key, 'l', a->name),
	    "mdb_del ca state");
	if (r != 0 && r != CAP_ERR_NOT_FOUND)
		return r;
	n = strlen(a->name);
	memcpy(key, a->name, n);
	key[n] = '\0';
	if ((r = store_del_prefix(txn, s->dbi_ca_issued, key, n + 1)) != 0)
		return r;
	return 0;
}

int
cadb_conn_delete(store *s, const char *name)
{
	struct conn_arg a;

	if (s == NULL || !cap_name_valid(name))
		return CAP_ERR_INVALID;
	memset(&a, 0, sizeof(a));
	a.name = name;
	return store_txn_write(s, conn_delete_txn, &a);
}

/* ---- local CA state ---- */

int
cadb_local_put(store *s, const char *name, const struct cadb_local *l)
{
	uint8_t key[1 + CAP_NAME_MAX], *rec = NULL;
	size_t len;
	int r;

	if (s == NULL || !cap_name_valid(name))
		return CAP_ERR_INVALID;
	if ((r = cadb_record_encode_local(l, &rec, &len)) != 0)
		return r;
	r = store_put_one(s, s->dbi_cas, key, cas_key(key, 'l', name), rec, len,
	    0, "mdb_put ca state");
	free(rec);
	return r;
}

static int
local_read(store *s, MDB_txn *txn, const char *name, struct cadb_local *out)
{
	uint8_t key[1 + CAP_NAME_MAX];
	MDB_val d;
	int r;

	if ((r = store_get(txn, s->dbi_cas, key, cas_key(key, 'l', name), &d,
	    "mdb_get ca state")) != 0)
		return r;
	if ((r = cadb_record_decode_local(d.mv_data, d.mv_size, out)) != 0 &&
	    r == CAP_ERR_CORRUPT)
		log_error("store: malformed local CA record");
	return r;
}

static int
local_get_txn(store *s, MDB_txn *txn, void *arg)
{
	struct conn_arg *a = arg;

	return local_read(s, txn, a->name, a->lout);
}

int
cadb_local_get(store *s, const char *name, struct cadb_local **out)
{
	struct conn_arg a;
	int r;

	*out = NULL;
	if (s == NULL || !cap_name_valid(name))
		return CAP_ERR_INVALID;
	memset(&a, 0, sizeof(a));
	a.name = name;
	if ((a.lout = calloc(1, sizeof(*a.lout))) == NULL)
		return CAP_ERR_NOMEM;
	if ((r = store_txn_read(s, local_get_txn, &a)) != 0) {
		free(a.lout);
		return r;
	}
	*out = a.lout;	/* transferred */
	return 0;
}

static int
crl_next_txn(store *s, MDB_txn *txn, void *arg)
{
	struct conn_arg *a = arg;
	struct cadb_local l;
	uint8_t key[1 + CAP_NAME_MAX];
	uint8_t *rec = NULL;
	size_t len;
	int r;

	if ((r = local_read(s, txn, a->name, &l)) != 0)
		return r;
	l.crl_number++;
	a->number = l.crl_number;
	r = cadb_record_encode_local(&l, &rec, &len);
	free(l.cert);
	if (r != 0)
		return r;
	r = store_put(txn, s->dbi_cas, key, cas_key(key, 'l', a->name), rec,
	    len, 0, "mdb_put ca state");
	free(rec);
	return r;
}

int
cadb_crl_next(store *s, const char *name, uint64_t *number)
{
	struct conn_arg a;
	int r;

	*number = 0;
	if (s == NULL || !cap_name_valid(name))
		return CAP_ERR_INVALID;
	memset(&a, 0, sizeof(a));
	a.name = name;
	if ((r = store_txn_write(s, crl_next_txn, &a)) == 0)
		*number = a.number;
	return r;
}

/* ---- issued certificates ---- */

static int
issued_put_txn(store *s, MDB_txn *txn, void *arg)
{
	struct conn_arg *a = arg;
	uint8_t key[CAP_NAME_MAX + 1 + CADB_SERIAL_MAX];

	return store_put(txn, s->dbi_ca_issued, key, issued_key(key, a->name,
	    a->iin->serial, a->iin->serial_len), a->rec, a->reclen,
	    a->excl ? MDB_NOOVERWRITE : 0, "mdb_put ca issued");
}

int
cadb_issued_put(store *s, const char *name, const struct cadb_issued *rec)
{
	struct conn_arg a;
	uint8_t *buf = NULL;
	size_t len;
	int r;

	if (s == NULL || !cap_name_valid(name))
		return CAP_ERR_INVALID;
	if ((r = cadb_record_encode_issued(rec, &buf, &len)) != 0)
		return r;
	memset(&a, 0, sizeof(a));
	a.name = name;
	a.iin = rec;
	a.rec = buf;
	a.reclen = len;
	a.excl = 1;
	r = store_txn_write(s, issued_put_txn, &a);
	free(buf);
	return r;
}

static int
issued_read(store *s, MDB_txn *txn, struct conn_arg *a, struct cadb_issued *o)
{
	uint8_t key[CAP_NAME_MAX + 1 + CADB_SERIAL_MAX];
	MDB_val d;
	int r;

	if ((r = store_get(txn, s->dbi_ca_issued, key, issued_key(key, a->name,
	    a->serial, a->serial_len), &d, "mdb_get ca issued")) != 0)
		return r;
	if (cadb_record_decode_issued(d.mv_data, d.mv_size, o) != 0) {
		log_error("store: malformed issued-certificate record");
		return CAP_ERR_CORRUPT;
	}
	return 0;
}

static int
issued_get_txn(store *s, MDB_txn *txn, void *arg)
{
	struct conn_arg *a = arg;

	return issued_read(s, txn, a, a->iout);
}

int
cadb_issued_get(store *s, const char *name, const uint8_t *serial,
    size_t serial_len, struct cadb_issued *out)
{
	struct conn_arg a;

	memset(out, 0, sizeof(*out));
	if (s == NULL || !cap_name_valid(name) || serial == NULL ||
	    serial_len == 0 || serial_len > CADB_SERIAL_MAX)
		return CAP_ERR_INVALID;
	memset(&a, 0, sizeof(a));
	a.name = name;
	a.serial = serial;
	a.serial_len = serial_len;
	a.iout = out;
	return store_txn_read(s, issued_get_txn, &a);
}

static int
issued_revoke_txn(store *s, MDB_txn *txn, void *arg)
{
	struct conn_arg *a = arg;
	struct cadb_issued rec;
	uint8_t *buf = NULL;
	int r;

	if ((r = issued_read(s, txn, a, &rec)) != 0)
		return r;
	if (rec.status == CADB_REVOKED)
		return CAP_ERR_CONFLICT;
	rec.status = CADB_REVOKED;
	rec.reason = (uint8_t)a->reason;
	rec.revoked_at = a->when;
	if ((r = cadb_record_encode_issued(&rec, &buf, &a->reclen)) != 0)
		return r;
	a->rec = buf;
	a->iin = &rec;
	a->excl = 0;
	r = issued_put_txn(s, txn, a);
	free(buf);
	a->rec = NULL;
	a->iin = NULL;
	return r;
}

int
cadb_issued_revoke(store *s, const char *name, const uint8_t *serial,
    size_t serial_len, int reason, uint64_t when)
{
	struct conn_arg a;

	if (s == NULL || !cap_name_valid(name) || serial == NULL ||
	    serial_len == 0 || serial_len > CADB_SERIAL_MAX || reason < 0 ||
	    reason > 10 || reason == 7 || when == 0)
		return CAP_ERR_INVALID;
	memset(&a, 0, sizeof(a));
	a.name = name;
	a.serial = serial;
	a.serial_len = serial_len;
	a.reason = reason;
	a.when = when;
	return store_txn_write(s, issued_revoke_txn, &a);
}

static int
revoked_one(void *arg, const MDB_val *k, const MDB_val *d)
{
	struct conn_arg *a = arg;
	struct cadb_issued rec, *nv;

	(void)k;
	if (cadb_record_decode_issued(d->mv_data, d->mv_size, &rec) != 0) {
		log_error("store: malformed issued-certificate record");
		return CAP_ERR_CORRUPT;
	}
	if (rec.status != CADB_REVOKED)
		return 0;
	if ((nv = store_vec_grow(a->iout, &a->cap, a->n, sizeof(*nv))) == NULL)
		return CAP_ERR_NOMEM;
	a->iout = nv;
	a->iout[a->n++] = rec;
	return 0;
}

static int
revoked_txn(store *s, MDB_txn *txn, void *arg)
{
	struct conn_arg *a = arg;
	uint8_t prefix[CAP_NAME_MAX + 1];
	size_t pl;

	a->n = a->cap = 0;
	free(a->iout);
	a->iout = NULL;
	pl = strlen(a->name);
	memcpy(prefix, a->name, pl);
	prefix[pl++] = '\0';
	return store_walk(txn, s->dbi_ca_issued, prefix, pl, revoked_one, a);
}

int
cadb_issued_revoked(store *s, const char *name, struct cadb_issued **out,
    size_t *n)
{
	struct conn_arg a;
	int r;

	*out = NULL;
	*n = 0;
	if (s == NULL || !cap_name_valid(name))
		return CAP_ERR_INVALID;
	memset(&a, 0, sizeof(a));
	a.name = name;
	if ((r = store_txn_read(s, revoked_txn, &a)) != 0) {
		free(a.iout);
		return r;
	}
	*out = a.iout;	/* transferred */
	*n = a.n;
	return 0;
}
