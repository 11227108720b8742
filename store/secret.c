/*
 * secret.c - versioned secrets in the store.
 *
 * A secret is the run of keys domain \0 name \0 u32(version) in the secrets
 * database.  The newest version is found by seeking just past the last
 * possible version of the name and stepping back one key, so no separate
 * "latest" pointer has to be kept consistent with the versions.
 */
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "store/store.h"
#include "store/store_int.h"

#define LIVE(m) \
	(((m)->flags & (STORE_SECRET_DELETED | STORE_SECRET_DESTROYED)) == 0)

/* Writes domain \0 name \0 into buf; returns its length. */
static size_t
skey_prefix(uint8_t *buf, const char *domain, const char *name)
{
	size_t dl = strlen(domain), nl = strlen(name);

	memcpy(buf, domain, dl);
	buf[dl] = '\0';
	memcpy(buf + dl + 1, name, nl);
	buf[dl + 1 + nl] = '\0';
	return dl + nl + 2;
}

static size_t
skey(uint8_t *buf, const char *domain, const char *name, uint32_t version)
{
	size_t plen = skey_prefix(buf, domain, name);

	store_put_u32(buf + plen, version);
	return plen + 4;
}

static int
corrupt(const char *what)
{
	log_error("store: malformed secret %s", what);
	return CAP_ERR_CORRUPT;
}

/* Decodes the metadata at a cursor and checks it against the key's version. */
static int
meta_at(const MDB_val *k, const MDB_val *d, struct store_secret_meta *m)
{
	if (k->mv_size < 4 ||
	    store_record_decode_secret_meta(d->mv_data, d->mv_size, m) != 0)
		return corrupt("record");
	if (m->version !=
	    store_get_u32((const uint8_t *)k->mv_data + k->mv_size - 4))
		return corrupt("record version");
	return 0;
}

/*
 * Positions cur on the newest version of domain/name and returns its key
 * and value there; CAP_ERR_NOT_FOUND if the secret has no version.
 */
static int
seek_newest(MDB_cursor *cur, const char *domain, const char *name,
    MDB_val *k, MDB_val *d)
{
	uint8_t key[STORE_SKEY_MAX];
	size_t plen, klen;
	int rc;

	plen = skey_prefix(key, domain, name);
	store_put_u32(key + plen, UINT32_MAX);
	klen = plen + 4;
	k->mv_data = key;
	k->mv_size = klen;
	rc = mdb_cursor_get(cur, k, d, MDB_SET_RANGE);
	if (rc == 0 && k->mv_size == klen && memcmp(k->mv_data, key, klen) == 0)
		return 0;	/* version UINT32_MAX itself */
	if (rc == MDB_NOTFOUND)
		rc = mdb_cursor_get(cur, k, d, MDB_LAST);
	else if (rc == 0)
		rc = mdb_cursor_get(cur, k, d, MDB_PREV);
	if (rc != 0)
		return store_mdb_err(rc, "mdb_cursor_get");
	if (k->mv_size != klen || memcmp(k->mv_data, key, plen) != 0)
		return CAP_ERR_NOT_FOUND;
	return 0;
}

/* The newest version's metadata; CAP_ERR_NOT_FOUND if none. */
static int
newest_meta(store *s, MDB_txn *txn, const char *domain, const char *name,
    struct store_secret_meta *m)
{
	MDB_cursor *cur = NULL;
	MDB_val k, d;
	int rc, r;

	if ((rc = mdb_cursor_open(txn, s->dbi_secrets, &cur)) != 0)
		return store_mdb_err(rc, "mdb_cursor_open");
	if ((r = seek_newest(cur, domain, name, &k, &d)) == 0)
		r = meta_at(&k, &d, m);
	mdb_cursor_close(cur);
	return r;
}

int
store_secret_walk(store *s, MDB_txn *txn, const char *domain,
    store_walk_fn fn, void *arg)
{
	uint8_t prefix[CAP_NAME_MAX + 1];
	char name[CAP_NAME_MAX + 1];
	struct store_secret_meta m;
	MDB_cursor *cur = NULL;
	size_t plen, nlen;
	const uint8_t *kp;
	MDB_val k, d;
	int rc, r;

	plen = strlen(domain);
	memcpy(prefix, domain, plen);
	prefix[plen++] = '\0';
	if ((rc = mdb_cursor_open(txn, s->dbi_secrets, &cur)) != 0)
		return store_mdb_err(rc, "mdb_cursor_open");
	k.mv_data = prefix;
	k.mv_size = plen;
	rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
	while (rc == 0) {
		kp = k.mv_data;
		if (k.mv_size < plen || memcmp(kp, prefix, plen) != 0)
			break;
		/* prefix name \0 u32 */
		if (k.mv_size < plen + 6 || kp[k.mv_size - 5] != '\0') {
			r = corrupt("key");
			goto out;
		}
		nlen = k.mv_size - plen - 5;
		if (nlen > CAP_NAME_MAX || memchr(kp + plen, '\0', nlen)) {
			r = corrupt("key");
			goto out;
		}
		memcpy(name, kp + plen, nlen);
		name[nlen] = '\0';
		if ((r = seek_newest(cur, domain, name, &k, &d)) != 0 ||
		    (r = meta_at(&k, &d, &m)) != 0)
			goto out;
		if ((r = fn(arg, name, &m)) != 0)
			goto out;
		/* From the newest version, the next key is the next name. */
		rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		r = store_mdb_err(rc, "mdb_cursor_get");
		goto out;
	}
	r = 0;
 out:
	mdb_cursor_close(cur);
	return r;
}

static int
args_valid(store *s, const char *domain, const char *name)
{
	return s != NULL && cap_name_valid(domain) &&
	    (name == NULL || cap_name_valid(name));
}

/* ---- latest ---- */

struct latest_arg {
	const char			*domain, *name;
	struct store_secret_meta	 meta;
};

static int
latest_txn(store *s, MDB_txn *txn, void *arg)
{
	struct latest_arg *a = arg;

	return newest_meta(s, txn, a->domain, a->name, &a->meta);
}

int
store_secret_latest(store *s, const char *domain, const char *name,
    struct store_secret_meta *out)
{
	struct latest_arg a;
	int r;

	memset(&a, 0, sizeof(a));
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (!args_valid(s, domain, name) || name == NULL || out == NULL)
		return CAP_ERR_INVALID;
	a.domain = domain;
	a.name = name;
	if ((r = store_txn_read(s, latest_txn, &a)) != 0)
		return r;
	*out = a.meta;
	return 0;
}

/* ---- put ---- */

struct put_arg {
	const char	*domain, *name;
	uint32_t	 expected, version;
	const uint8_t	*rec;
	size_t		 reclen;
};

static int
put_txn(store *s, MDB_txn *txn, void *arg)
{
	struct put_arg *a = arg;
	struct store_secret_meta m;
	uint8_t key[STORE_SKEY_MAX];
	uint32_t latest;
	int r;

	if ((r = store_domain_check(s, txn, a->domain)) != 0)
		return r;
	r = newest_meta(s, txn, a->domain, a->name, &m);
	if (r == CAP_ERR_NOT_FOUND)
		latest = 0;
	else if (r == 0)
		latest = m.version;
	else
		return r;
	if (latest != a->expected)
		return CAP_ERR_CONFLICT;
	if (a->expected == UINT32_MAX || a->version != a->expected + 1)
		return CAP_ERR_INVALID;
	r = store_put(txn, s->dbi_secrets, key, skey(key, a->domain, a->name,
	    a->version), a->rec, a->reclen, MDB_NOOVERWRITE, "mdb_put secret");
	return r == CAP_ERR_EXISTS ? CAP_ERR_CONFLICT : r;
}

int
store_secret_put(store *s, const char *domain, const char *name,
    uint32_t expected_latest, const struct store_secret *rec)
{
	struct put_arg a;
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	if (!args_valid(s, domain, name) || name == NULL || rec == NULL)
		return CAP_ERR_INVALID;
	if (rec->ctlen > STORE_CT_MAX)
		return CAP_ERR_TOO_LARGE;
	/* A new version is live and carries a ciphertext. */
	if (rec->meta.flags != 0 || rec->ctlen == 0 || rec->ct == NULL)
		return CAP_ERR_INVALID;
	/* Encode before the transaction to keep the writer lock short. */
	if ((r = store_record_encode_secret(rec, &buf, &len)) != 0)
		return r;
	a.domain = domain;
	a.name = name;
	a.expected = expected_latest;
	a.version = rec->meta.version;
	a.rec = buf;
	a.reclen = len;
	r = store_txn_write(s, put_txn, &a);
	free(buf);
	return r;
}

/* ---- get ---- */

struct get_arg {
	const char		*domain, *name;
	uint32_t		 version;
	struct store_secret	*rec;
};

static int
get_txn(store *s, MDB_txn *txn, void *arg)
{
	struct get_arg *a = arg;
	uint8_t key[STORE_SKEY_MAX];
	MDB_cursor *cur = NULL;
	MDB_val k, d;
	int rc, r;

	if (a->version == 0) {
		if ((rc = mdb_cursor_open(txn, s->dbi_secrets, &cur)) != 0)
			return store_mdb_err(rc, "mdb_cursor_open");
		r = seek_newest(cur, a->domain, a->name, &k, &d);
		mdb_cursor_close(cur);
		if (r != 0)
			return r;
	} else {
		k.mv_data = key;
		k.mv_size = skey(key, a->domain, a->name, a->version);
		if ((r = store_get(txn, s->dbi_secrets, k.mv_data, k.mv_size,
		    &d, "mdb_get secret")) != 0)
			return r;
	}
	/* Copy out of the map before the transaction ends. */
	if ((r = store_record_decode_secret(d.mv_data, d.mv_size, a->rec)) != 0)
		return r == CAP_ERR_CORRUPT ? corrupt("record") : r;
	if (a->rec->meta.version !=
	    store_get_u32((const uint8_t *)k.mv_data + k.mv_size - 4)) {
		free(a->rec->ct);
		memset(a->rec, 0, sizeof(*a->rec));
		return corrupt("record version");
	}
	return 0;
}

int
store_secret_get(store *s, const char *domain, const char *name,
    uint32_t version, struct store_secret **out)
{
	struct get_arg a;
	int r;

	if (out != NULL)
		*out = NULL;
	if (!args_valid(s, domain, name) || name == NULL || out == NULL)
		return CAP_ERR_INVALID;
	memset(&a, 0, sizeof(a));
	a.domain = domain;
	a.name = name;
	a.version = version;
	if ((a.rec = calloc(1, sizeof(*a.rec))) == NULL)
		return CAP_ERR_NOMEM;
	if ((r = store_txn_read(s, get_txn, &a)) != 0) {
		store_secret_free(a.rec);
		return r;
	}
	*out = a.rec;	/* transferred */
	return 0;
}

/* ---- versions ---- */

struct versions_arg {
	const char			*domain, *name;
	struct store_secret_meta	*v;
	size_t				 n, cap;
};

struct versions_walk {
	struct versions_arg	*a;
	size_t			 plen;
};

static int
versions_one(void *arg, const MDB_val *k, const MDB_val *d)
{
	struct versions_walk *w = arg;
	struct versions_arg *a = w->a;
	struct store_secret_meta *nv;
	int r;

	/* A longer key is another name that this one is a prefix of. */
	if (k->mv_size != w->plen + 4)
		return STORE_STOP;
	if ((nv = store_vec_grow(a->v, &a->cap, a->n, sizeof(*nv))) == NULL)
		return CAP_ERR_NOMEM;
	a->v = nv;
	if ((r = meta_at(k, d, &a->v[a->n])) != 0)
		return r;
	a->n++;
	return 0;
}

static int
versions_txn(store *s, MDB_txn *txn, void *arg)
{
	struct versions_walk w = { arg, 0 };
	uint8_t prefix[STORE_SKEY_MAX];
	int r;

	w.plen = skey_prefix(prefix, w.a->domain, w.a->name);
	if ((r = store_walk(txn, s->dbi_secrets, prefix, w.plen, versions_one,
	    &w)) != 0)
		return r;
	return w.a->n == 0 ? CAP_ERR_NOT_FOUND : 0;
}

int
store_secret_versions(store *s, const char *domain, const char *name,
    struct store_secret_meta **out, size_t *n)
{
	struct versions_arg a;
	int r;

	if (out != NULL)
		*out = NULL;
	if (n != NULL)
		*n = 0;
	if (!args_valid(s, domain, name) || name == NULL || out == NULL ||
	    n == NULL)
		return CAP_ERR_INVALID;
	memset(&a, 0, sizeof(a));
	a.domain = domain;
	a.name = name;
	if ((r = store_txn_read(s, versions_txn, &a)) != 0) {
		free(a.v);
		return r;
	}
	*out = a.v;	/* transferred */
	*n = a.n;
	return 0;
}

/* ---- list and count ---- */

struct list_arg {
	const char	*domain;
	int		 count_only;
	char		**names;
	size_t		 n, cap;
};

static int
list_one(void *arg, const char *name, const struct store_secret_meta *m)
{
	struct list_arg *a = arg;

	if (!LIVE(m))
		return 0;
	if (a->count_only) {
		a->n++;
		return 0;
	}
	return store_names_push(&a->names, &a->n, &a->cap, name, strlen(name));
}

static int
list_txn(store *s, MDB_txn *txn, void *arg)
{
	struct list_arg *a = arg;
	int r;

	if ((r = store_domain_check(s, txn, a->domain)) != 0)
		return r;
	return store_secret_walk(s, txn, a->domain, list_one, a);
}

int
store_secret_list(store *s, const char *domain, char ***names, size_t *n)
{
	struct list_arg a;
	int r;

	if (names != NULL)
		*names = NULL;
	if (n != NULL)
		*n = 0;
	if (!args_valid(s, domain, NULL) || names == NULL || n == NULL)
		return CAP_ERR_INVALID;
	memset(&a, 0, sizeof(a));
	a.domain = domain;
	if ((r = store_txn_read(s, list_txn, &a)) != 0) {
		store_names_free(a.names, a.n);
		return r;
	}
	*names = a.names;	/* transferred */
	*n = a.n;
	return 0;
}

int
store_secret_count(store *s, const char *domain, size_t *n)
{
	struct list_arg a;
	int r;

	if (n != NULL)
		*n = 0;
	if (!args_valid(s, domain, NULL) || n == NULL)
		return CAP_ERR_INVALID;
	memset(&a, 0, sizeof(a));
	a.domain = domain;
	a.count_only = 1;
	if ((r = store_txn_read(s, list_txn, &a)) != 0)
		return r;
	*n = a.n;
	return 0;
}

/* ---- delete and destroy ---- */

/* Rewrites one version, decoded and changed by the caller. */
static int
rewrite(store *s, MDB_txn *txn, const char *domain, const char *name,
    const struct store_secret *rec)
{
	uint8_t key[STORE_SKEY_MAX], *buf = NULL;
	size_t len;
	int r;

	if ((r = store_record_encode_secret(rec, &buf, &len)) != 0)
		return r;
	r = store_put(txn, s->dbi_secrets, key, skey(key, domain, name,
	    rec->meta.version), buf, len, 0, "mdb_put secret");
	free(buf);
	return r;
}

struct name_arg {
	const char	*domain, *name;
	const uint32_t	*versions;
	size_t		 n;
};

static int
delete_txn(store *s, MDB_txn *txn, void *arg)
{
	struct name_arg *a = arg;
	struct store_secret rec;
	MDB_cursor *cur = NULL;
	MDB_val k, d;
	int rc, r;

	memset(&rec, 0, sizeof(rec));
	if ((rc = mdb_cursor_open(txn, s->dbi_secrets, &cur)) != 0)
		return store_mdb_err(rc, "mdb_cursor_open");
	if ((r = seek_newest(cur, a->domain, a->name, &k, &d)) != 0)
		goto out;
	if ((r = store_record_decode_secret(d.mv_data, d.mv_size,
	    &rec)) != 0) {
		r = r == CAP_ERR_CORRUPT ? corrupt("record") : r;
		goto out;
	}
	if (!LIVE(&rec.meta)) {
		r = CAP_ERR_NOT_FOUND;
		goto out;
	}
	rec.meta.flags |= STORE_SECRET_DELETED;
	/* The cursor is done with: the put below may move the pages. */
	mdb_cursor_close(cur);
	cur = NULL;
	r = rewrite(s, txn, a->domain, a->name, &rec);
 out:
	mdb_cursor_close(cur);
	free(rec.ct);
	return r;
}

int
store_secret_delete(store *s, const char *domain, const char *name)
{
	struct name_arg a = { domain, name, NULL, 0 };

	if (!args_valid(s, domain, name) || name == NULL)
		return CAP_ERR_INVALID;
	return store_txn_write(s, delete_txn, &a);
}

static int
destroy_one(store *s, MDB_txn *txn, const char *domain, const char *name,
    uint32_t version)
{
	uint8_t key[STORE_SKEY_MAX];
	struct store_secret rec;
	MDB_val k, d;
	int r;

	if (version == 0)
		return CAP_ERR_INVALID;
	k.mv_data = key;
	k.mv_size = skey(key, domain, name, version);
	if ((r = store_get(txn, s->dbi_secrets, k.mv_data, k.mv_size, &d,
	    "mdb_get secret")) != 0)
		return r;
	memset(&rec, 0, sizeof(rec));
	if ((r = meta_at(&k, &d, &rec.meta)) != 0)
		return r;
	if ((rec.meta.flags & STORE_SECRET_DESTROYED) != 0)
		return 0;
	rec.meta.flags |= STORE_SECRET_DESTROYED;
	return rewrite(s, txn, domain, name, &rec);
}

static int
destroy_txn(store *s, MDB_txn *txn, void *arg)
{
	struct name_arg *a = arg;
	struct versions_arg va;
	size_t i;
	int r;

	if (a->n > 0) {
		for (i = 0; i < a->n; i++)
			if ((r = destroy_one(s, txn, a->domain, a->name,
			    a->versions[i])) != 0)
				return r;
		return 0;
	}
	/* Every version: list them first, then rewrite by key. */
	memset(&va, 0, sizeof(va));
	va.domain = a->domain;
	va.name = a->name;
	if ((r = versions_txn(s, txn, &va)) != 0)
		goto out;
	for (i = 0; i < va.n; i++)
		if ((r = destroy_one(s, txn, a->domain, a->name,
		    va.v[i].version)) != 0)
			goto out;
	r = 0;
 out:
	free(va.v);
	return r;
}

int
store_secret_destroy(store *s, const char *domain, const char *name,
    const uint32_t *versions, size_t n)
{
	struct name_arg a = { domain, name, versions, n };

	if (!args_valid(s, domain, name) || name == NULL ||
	    (n > 0 && versions == NULL))
		return CAP_ERR_INVALID;
	return store_txn_write(s, destroy_txn, &a);
}
