/*
 * domain.c - domains, their wrapped keys, and small named blobs in meta.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "store/codec.h"
#include "store/store.h"
#include "store/store_int.h"

#define DOMAIN_FMT		1
#define DOMAIN_REC_LEN		(1 + 8 + 4 + 4)	/* fmt, created, kver, flags */
#define DKEY_FMT		1
#define DKEY_HDR_LEN		(1 + 4 + 4)	/* fmt, mechanism, length */

/* ---- domains ---- */

struct domain_rec {
	uint64_t	created;
	uint32_t	key_version;
	uint32_t	flags;		/* none defined yet; kept for later */
};

static void
domain_encode(const struct domain_rec *dr, uint8_t buf[DOMAIN_REC_LEN])
{
	buf[0] = DOMAIN_FMT;
	store_put_u64(buf + 1, dr->created);
	store_put_u32(buf + 9, dr->key_version);
	store_put_u32(buf + 13, dr->flags);
}

static int
domain_decode(const MDB_val *d, struct domain_rec *dr)
{
	struct store_rd r;
	uint8_t fmt;

	store_rd_init(&r, d->mv_data, d->mv_size);
	if (store_rd_u8(&r, &fmt) != 0 || fmt != DOMAIN_FMT ||
	    store_rd_u64(&r, &dr->created) != 0 ||
	    store_rd_u32(&r, &dr->key_version) != 0 ||
	    store_rd_u32(&r, &dr->flags) != 0 || store_rd_end(&r) != 0) {
		log_error("store: malformed domain record");
		return CAP_ERR_CORRUPT;
	}
	if (dr->key_version == 0) {
		log_error("store: domain record with key version 0");
		return CAP_ERR_CORRUPT;
	}
	return 0;
}

/* Reads a domain record; CAP_ERR_NOT_FOUND if absent. */
static int
domain_read(store *s, MDB_txn *txn, const char *name, struct domain_rec *dr)
{
	MDB_val d;
	int r;

	if ((r = store_get(txn, s->dbi_domains, name, strlen(name), &d,
	    "mdb_get domain")) != 0)
		return r;
	return domain_decode(&d, dr);
}

int
store_domain_check(store *s, MDB_txn *txn, const char *name)
{
	struct domain_rec dr;

	return domain_read(s, txn, name, &dr);
}

/* dkeys key: name \0 u32(version) */
static size_t
dkey_key(uint8_t *buf, const char *name, uint32_t version)
{
	size_t n = strlen(name);

	memcpy(buf, name, n);
	buf[n] = '\0';
	store_put_u32(buf + n + 1, version);
	return n + 5;
}

static int
dkey_write(store *s, MDB_txn *txn, const char *name, uint32_t version,
    const uint8_t *wrapped, size_t wrapped_len, int mech, unsigned int flags)
{
	uint8_t key[CAP_NAME_MAX + 5];
	MDB_val k, d;
	uint8_t *p;
	int rc;

	k.mv_data = key;
	k.mv_size = dkey_key(key, name, version);
	d.mv_data = NULL;
	d.mv_size = DKEY_HDR_LEN + wrapped_len;
	if ((rc = mdb_put(txn, s->dbi_dkeys, &k, &d, flags | MDB_RESERVE)) != 0)
		return store_mdb_err(rc, "mdb_put dkey");
	p = d.mv_data;
	p[0] = DKEY_FMT;
	store_put_u32(p + 1, (uint32_t)mech);
	store_put_u32(p + 5, (uint32_t)wrapped_len);
	memcpy(p + DKEY_HDR_LEN, wrapped, wrapped_len);
	return 0;
}

static int
wrapped_check(const uint8_t *wrapped, size_t wrapped_len, int mech)
{
	if (wrapped == NULL || wrapped_len == 0 || mech < 0)
		return CAP_ERR_INVALID;
	if (wrapped_len > STORE_WRAPPED_MAX)
		return CAP_ERR_TOO_LARGE;
	return 0;
}

struct domain_create_arg {
	const char	*name;
	uint64_t	 created;
	const uint8_t	*wrapped;
	size_t		 wrapped_len;
	int		 mech;
};

static int
domain_create_txn(store *s, MDB_txn *txn, void *arg)
{
	struct domain_create_arg *a = arg;
	struct domain_rec dr = { a->created, 1, 0 };
	uint8_t rec[DOMAIN_REC_LEN];
	MDB_val k, d;
	int rc;

	domain_encode(&dr, rec);
	k.mv_data = (void *)a->name;
	k.mv_size = strlen(a->name);
	d.mv_data = rec;
	d.mv_size = sizeof(rec);
	if ((rc = mdb_put(txn, s->dbi_domains, &k, &d, MDB_NOOVERWRITE)) != 0)
		return store_mdb_err(rc, "mdb_put domain");
	return dkey_write(s, txn, a->name, 1, a->wrapped, a->wrapped_len,
	    a->mech, 0);
}

int
store_domain_create(store *s, const char *name, uint64_t created,
    const uint8_t *wrapped, size_t wrapped_len, int wrap_mech)
{
	struct domain_create_arg a = { name, created, wrapped, wrapped_len,
	    wrap_mech };
	int r;

	if (s == NULL || !cap_name_valid(name))
		return CAP_ERR_INVALID;
	if ((r = wrapped_check(wrapped, wrapped_len, wrap_mech)) != 0)
		return r;
	return store_txn_write(s, domain_create_txn, &a);
}

struct domain_get_arg {
	const char		*name;
	struct store_domain	*out;
};

static int
domain_get_txn(store *s, MDB_txn *txn, void *arg)
{
	struct domain_get_arg *a = arg;
	struct domain_rec dr;
	int r;

	if ((r = domain_read(s, txn, a->name, &dr)) != 0)
		return r;
	memset(a->out, 0, sizeof(*a->out));
	strncpy(a->out->name, a->name, sizeof(a->out->name) - 1);
	a->out->created = dr.created;
	a->out->key_version = dr.key_version;
	return 0;
}

int
store_domain_get(store *s, const char *name, struct store_domain *out)
{
	struct domain_get_arg a = { name, out };

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (s == NULL || out == NULL || !cap_name_valid(name))
		return CAP_ERR_INVALID;
	return store_txn_read(s, domain_get_txn, &a);
}

struct names_arg {
	const char	*domain;
	char		**names;
	size_t		 n, cap;
};

static int
domain_list_txn(store *s, MDB_txn *txn, void *arg)
{
	struct names_arg *a = arg;

	return store_walk_names(txn, s->dbi_domains, NULL, 0, &a->names, &a->n,
	    &a->cap, "domain key");
}

int
store_domain_list(store *s, char ***names, size_t *n)
{
	struct names_arg a;
	int r;

	memset(&a, 0, sizeof(a));
	if (names != NULL)
		*names = NULL;
	if (n != NULL)
		*n = 0;
	if (s == NULL || names == NULL || n == NULL)
		return CAP_ERR_INVALID;
	if ((r = store_txn_read(s, domain_list_txn, &a)) != 0) {
		store_names_free(a.names, a.n);
		return r;
	}
	*names = a.names;	/* transferred */
	*n = a.n;
	return 0;
}

static int
live_stop(void *arg, const char *name, const struct store_secret_meta *m)
{
	(void)arg;
	(void)name;
	if ((m->flags & (STORE_SECRET_DELETED | STORE_SECRET_DESTROYED)) == 0)
		return CAP_ERR_CONFLICT;
	return 0;
}

struct domain_delete_arg {
	const char	*name;
	int		 force;
};

static int
domain_delete_txn(store *s, MDB_txn *txn, void *arg)
{
	struct domain_delete_arg *a = arg;
	uint8_t prefix[CAP_NAME_MAX + 1];
	size_t plen;
	MDB_val k;
	int rc, r;

	if ((r = store_domain_check(s, txn, a->name)) != 0)
		return r;
	if (!a->force &&
	    (r = store_secret_walk(s, txn, a->name, live_stop, NULL)) != 0)
		return r;
	k.mv_data = (void *)a->name;
	k.mv_size = strlen(a->name);
	if ((rc = mdb_del(txn, s->dbi_domains, &k, NULL)) != 0)
		return store_mdb_err(rc, "mdb_del domain");
	plen = k.mv_size + 1;
	memcpy(prefix, a->name, k.mv_size);
	prefix[k.mv_size] = '\0';
	if ((r = store_del_prefix(txn, s->dbi_dkeys, prefix, plen)) != 0)
		return r;
	return store_del_prefix(txn, s->dbi_secrets, prefix, plen);
}

int
store_domain_delete(store *s, const char *name, int force)
{
	struct domain_delete_arg a = { name, force };

	if (s == NULL || !cap_name_valid(name))
		return CAP_ERR_INVALID;
	return store_txn_write(s, domain_delete_txn, &a);
}

struct add_key_arg {
	const char	*name;
	uint32_t	 expected;
	const uint8_t	*wrapped;
	size_t		 wrapped_len;
	int		 mech;
	uint32_t	 new_version;
};

static int
add_key_txn(store *s, MDB_txn *txn, void *arg)
{
	struct add_key_arg *a = arg;
	uint8_t rec[DOMAIN_REC_LEN];
	struct domain_rec dr;
	MDB_val k, d;
	int rc, r;

	if ((r = domain_read(s, txn, a->name, &dr)) != 0)
		return r;
	if (dr.key_version != a->expected)
		return CAP_ERR_CONFLICT;
	if (dr.key_version == UINT32_MAX)
		return CAP_ERR_INVALID;
	dr.key_version++;
	r = dkey_write(s, txn, a->name, dr.key_version, a->wrapped,
	    a->wrapped_len, a->mech, MDB_NOOVERWRITE);
	if (r == CAP_ERR_EXISTS) {
		log_error("store: domain key version %u already stored",
		    dr.key_version);
		return CAP_ERR_CORRUPT;
	}
	if (r != 0)
		return r;
	domain_encode(&dr, rec);
	k.mv_data = (void *)a->name;
	k.mv_size = strlen(a->name);
	d.mv_data = rec;
	d.mv_size = sizeof(rec);
	if ((rc = mdb_put(txn, s->dbi_domains, &k, &d, 0)) != 0)
		return store_mdb_err(rc, "mdb_put domain");
	a->new_version = dr.key_version;
	return 0;
}

int
store_domain_add_key(store *s, const char *name, uint32_t expected_version,
    const uint8_t *wrapped, size_t wrapped_len, int wrap_mech,
    uint32_t *new_version)
{
	struct add_key_arg a = { name, expected_version, wrapped, wrapped_len,
	    wrap_mech, 0 };
	int r;

	if (new_version != NULL)
		*new_version = 0;
	if (s == NULL || new_version == NULL || !cap_name_valid(name))
		return CAP_ERR_INVALID;
	if ((r = wrapped_check(wrapped, wrapped_len, wrap_mech)) != 0)
		return r;
	if ((r = store_txn_write(s, add_key_txn, &a)) != 0)
		return r;
	*new_version = a.new_version;
	return 0;
}

struct dkey_get_arg {
	const char	*name;
	uint32_t	 version;
	uint8_t		*wrapped;
	size_t		 wrapped_len;
	int		 mech;
};

static int
dkey_get_txn(store *s, MDB_txn *txn, void *arg)
{
	struct dkey_get_arg *a = arg;
	uint8_t key[CAP_NAME_MAX + 5];
	struct domain_rec dr;
	struct store_rd rd;
	uint32_t version = a->version, mech;
	uint8_t fmt;
	MDB_val d;
	int r;

	if ((r = domain_read(s, txn, a->name, &dr)) != 0)
		return r;
	if (version == 0)
		version = dr.key_version;
	if ((r = store_get(txn, s->dbi_dkeys, key, dkey_key(key, a->name,
	    version), &d, "mdb_get dkey")) != 0)
		return r;
	store_rd_init(&rd, d.mv_data, d.mv_size);
	if (store_rd_u8(&rd, &fmt) != 0 || fmt != DKEY_FMT ||
	    store_rd_u32(&rd, &mech) != 0 || mech > (uint32_t)INT32_MAX ||
	    store_rd_blob(&rd, 4, 1, STORE_WRAPPED_MAX, &a->wrapped,
	    &a->wrapped_len) != 0 || store_rd_end(&rd) != 0) {
		if (store_rd_fail(&rd) == CAP_ERR_NOMEM)
			return CAP_ERR_NOMEM;
		free(a->wrapped);
		a->wrapped = NULL;
		a->wrapped_len = 0;
		log_error("store: malformed wrapped key record");
		return CAP_ERR_CORRUPT;
	}
	a->mech = (int)mech;
	return 0;
}

int
store_dkey_get(store *s, const char *name, uint32_t key_version,
    uint8_t **wrapped, size_t *wrapped_len, int *wrap_mech)
{
	struct dkey_get_arg a = { name, key_version, NULL, 0, 0 };
	int r;

	if (wrapped != NULL)
		*wrapped = NULL;
	if (wrapped_len != NULL)
		*wrapped_len = 0;
	if (wrap_mech != NULL)
		*wrap_mech = 0;
	if (s == NULL || wrapped == NULL || wrapped_len == NULL ||
	    wrap_mech == NULL || !cap_name_valid(name))
		return CAP_ERR_INVALID;
	if ((r = store_txn_read(s, dkey_get_txn, &a)) != 0) {
		free(a.wrapped);
		return r;
	}
	*wrapped = a.wrapped;	/* transferred */
	*wrapped_len = a.wrapped_len;
	*wrap_mech = a.mech;
	return 0;
}

/* ---- small named blobs ---- */

/* Blobs live in meta under "blob/" + name, apart from "schema" and "id". */
#define META_PREFIX	"blob/"
#define META_PREFIX_LEN	(sizeof(META_PREFIX) - 1)

struct meta_arg {
	char		 key[META_PREFIX_LEN + STORE_META_NAME_MAX + 1];
	const uint8_t	*in;
	size_t		 inlen;
	int		 excl;
	uint8_t		*out;
	size_t		 outlen;
};

static int
meta_key(const char *name, struct meta_arg *a)
{
	size_t n, i;

	if (name == NULL || (n = strnlen(name, STORE_META_NAME_MAX + 1)) == 0 ||
	    n > STORE_META_NAME_MAX)
		return CAP_ERR_INVALID;
	for (i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= '0' && name[i] <= '9') || name[i] == '.' ||
		    name[i] == '_' || name[i] == '-'))
			return CAP_ERR_INVALID;
	memcpy(a->key, META_PREFIX, META_PREFIX_LEN);
	memcpy(a->key + META_PREFIX_LEN, name, n + 1);
	return 0;
}

static int
meta_put_txn(store *s, MDB_txn *txn, void *arg)
{
	struct meta_arg *a = arg;
	MDB_val k, d;

	k.mv_data = a->key;
	k.mv_size = strlen(a->key);
	d.mv_data = (void *)(uintptr_t)a->in;
	d.mv_size = a->inlen;
	return store_mdb_err(mdb_put(txn, s->dbi_meta, &k, &d,
	    a->excl ? MDB_NOOVERWRITE : 0), "mdb_put meta");
}

int
store_meta_put(store *s, const char *name, const uint8_t *val, size_t len,
    int excl)
{
	struct meta_arg a;
	int r;

	memset(&a, 0, sizeof(a));
	if (s == NULL || val == NULL || len == 0)
		return CAP_ERR_INVALID;
	if (len > STORE_META_MAX)
		return CAP_ERR_TOO_LARGE;
	if ((r = meta_key(name, &a)) != 0)
		return r;
	a.in = val;
	a.inlen = len;
	a.excl = excl;
	return store_txn_write(s, meta_put_txn, &a);
}

static int
meta_get_txn(store *s, MDB_txn *txn, void *arg)
{
	struct meta_arg *a = arg;
	MDB_val k, d;
	int rc;

	k.mv_data = a->key;
	k.mv_size = strlen(a->key);
	if ((rc = mdb_get(txn, s->dbi_meta, &k, &d)) != 0)
		return store_mdb_err(rc, "mdb_get meta");
	if (d.mv_size == 0 || d.mv_size > STORE_META_MAX)
		return CAP_ERR_CORRUPT;
	/* Copied out: nothing returned points into the map. */
	if ((a->out = malloc(d.mv_size)) == NULL)
		return CAP_ERR_NOMEM;
	memcpy(a->out, d.mv_data, d.mv_size);
	a->outlen = d.mv_size;
	return 0;
}

int
store_meta_get(store *s, const char *name, uint8_t **val, size_t *len)
{
	struct meta_arg a;
	int r;

	*val = NULL;
	*len = 0;
	memset(&a, 0, sizeof(a));
	if (s == NULL)
		return CAP_ERR_INVALID;
	if ((r = meta_key(name, &a)) != 0)
		return r;
	if ((r = store_txn_read(s, meta_get_txn, &a)) != 0) {
		free(a.out);
		return r;
	}
	*val = a.out;
	*len = a.outlen;
	return 0;
}
