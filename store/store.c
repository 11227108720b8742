/*
 * store.c - the LMDB environment: opening, the schema, transactions, map
 * growth, domains and their wrapped keys.
 */
#include <sys/stat.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lmdb.h>
#include <sodium.h>

#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "store/store.h"
#include "store/store_int.h"

#define STORE_DEFAULT_MAP	((size_t)64 * 1024 * 1024)
/*
 * Reader slots.  The environment is opened without MDB_NOTLS: every
 * transaction here begins and ends inside one store_* call, on the thread
 * that called it, and never overlaps another transaction on that thread, so
 * LMDB may bind one reader slot to each thread and reuse it without a
 * search.  A slot stays with its thread until the thread exits, so the
 * table is sized for every thread that may ever touch the store (workers,
 * scheduler, admin) with room to spare.
 */
#define STORE_MAX_READERS	256
#define STORE_MAX_DBS		16
#define STORE_ID_LEN		16
/* A write that still does not fit after this many doublings fails. */
#define STORE_GROW_TRIES	40
#define STORE_MAP_CEILING	((size_t)1 << (sizeof(size_t) > 4 ? 40 : 30))

#define DOMAIN_FMT		1
#define DOMAIN_REC_LEN		(1 + 8 + 4 + 4)	/* fmt, created, kver, flags */
#define DKEY_FMT		1
#define DKEY_HDR_LEN		(1 + 4 + 4)	/* fmt, mechanism, length */

int
store_mdb_err(int rc, const char *what)
{
	switch (rc) {
	case 0:
		return 0;
	case MDB_NOTFOUND:
		return CAP_ERR_NOT_FOUND;
	case MDB_KEYEXIST:
		return CAP_ERR_EXISTS;
	case MDB_MAP_FULL:
		return STORE_GROW;
	case ENOMEM:
		log_error("store: %s: %s", what, mdb_strerror(rc));
		return CAP_ERR_NOMEM;
	default:
		log_error("store: %s: %s", what, mdb_strerror(rc));
		return CAP_ERR_STORE;
	}
}

/* Refreshes s->map_size from LMDB; called with the lock held. */
static void
map_size_refresh(store *s)
{
	MDB_envinfo info;

	if (mdb_env_info(s->env, &info) == 0)
		s->map_size = info.me_mapsize;
}

/* Adopts the map size another process has set (MDB_MAP_RESIZED). */
static int
map_adopt(store *s)
{
	int rc, r;

	if (pthread_rwlock_wrlock(&s->lock) != 0) {
		log_error("store: cannot take the resize lock");
		return CAP_ERR_INTERNAL;
	}
	rc = mdb_env_set_mapsize(s->env, 0);
	r = store_mdb_err(rc, "mdb_env_set_mapsize");
	map_size_refresh(s);
	if (r == 0)
		log_info("store: map resized elsewhere, now %zu bytes",
		    s->map_size);
	pthread_rwlock_unlock(&s->lock);
	return r;
}

/*
 * Doubles the map, unless another thread already grew it since `seen`
 * was read: several writers that fill the map at once grow it once.
 */
static int
map_grow(store *s, size_t seen)
{
	size_t want;
	int rc, r = 0;

	if (pthread_rwlock_wrlock(&s->lock) != 0) {
		log_error("store: cannot take the resize lock");
		return CAP_ERR_INTERNAL;
	}
	if (s->map_size != seen)
		goto out;
	if (seen >= STORE_MAP_CEILING) {
		log_error("store: map full at its ceiling of %zu bytes", seen);
		r = CAP_ERR_STORE;
		goto out;
	}
	want = seen * 2;
	if ((rc = mdb_env_set_mapsize(s->env, want)) != 0) {
		r = store_mdb_err(rc, "mdb_env_set_mapsize");
		goto out;
	}
	map_size_refresh(s);
	log_info("store: map grown from %zu to %zu bytes", seen, s->map_size);
 out:
	pthread_rwlock_unlock(&s->lock);
	return r;
}

/*
 * Begins a transaction holding the lock shared; on success the caller
 * ends the transaction and then releases the lock.
 */
static int
txn_begin(store *s, unsigned int flags, MDB_txn **txn, size_t *seen)
{
	int rc, r, tries;

	*txn = NULL;
	for (tries = 0;; tries++) {
		if (pthread_rwlock_rdlock(&s->lock) != 0) {
			log_error("store: cannot take the store lock");
			return CAP_ERR_INTERNAL;
		}
		if ((rc = mdb_txn_begin(s->env, NULL, flags, txn)) == 0) {
			*seen = s->map_size;
			return 0;
		}
		*txn = NULL;
		pthread_rwlock_unlock(&s->lock);
		if (rc != MDB_MAP_RESIZED || tries >= 8)
			return store_mdb_err(rc, "mdb_txn_begin");
		if ((r = map_adopt(s)) != 0)
			return r;
	}
}

int
store_txn_read(store *s, store_txn_fn fn, void *arg)
{
	MDB_txn *txn;
	size_t seen;
	int r;

	if ((r = txn_begin(s, MDB_RDONLY, &txn, &seen)) != 0)
		return r;
	r = fn(s, txn, arg);
	mdb_txn_abort(txn);
	pthread_rwlock_unlock(&s->lock);
	return r == STORE_GROW ? CAP_ERR_STORE : r;
}

int
store_txn_write(store *s, store_txn_fn fn, void *arg)
{
	MDB_txn *txn;
	size_t seen;
	int r, rc, tries;

	for (tries = 0;; tries++) {
		if ((r = txn_begin(s, 0, &txn, &seen)) != 0)
			return r;
		if ((r = fn(s, txn, arg)) == 0) {
			/* Commit frees the transaction whatever it returns. */
			rc = mdb_txn_commit(txn);
			r = store_mdb_err(rc, "mdb_txn_commit");
		} else
			mdb_txn_abort(txn);
		pthread_rwlock_unlock(&s->lock);
		if (r != STORE_GROW)
			return r;
		if (tries >= STORE_GROW_TRIES) {
			log_error("store: write does not fit after growing "
			    "the map %d times", tries);
			return CAP_ERR_STORE;
		}
		if ((r = map_grow(s, seen)) != 0)
			return r;
	}
}

/* ---- opening ---- */

static int
open_dbi(MDB_txn *txn, const char *name, MDB_dbi *dbi)
{
	return store_mdb_err(mdb_dbi_open(txn, name, MDB_CREATE, dbi),
	    "mdb_dbi_open");
}

/* Opens the databases and checks (or, on a new store, writes) the schema. */
static int
schema_txn(store *s, MDB_txn *txn, void *arg)
{
	uint8_t ver[4], id[STORE_ID_LEN];
	MDB_val k, d;
	uint32_t v;
	int rc, r;

	(void)arg;
	if ((r = open_dbi(txn, "meta", &s->dbi_meta)) != 0 ||
	    (r = open_dbi(txn, "domains", &s->dbi_domains)) != 0 ||
	    (r = open_dbi(txn, "dkeys", &s->dbi_dkeys)) != 0 ||
	    (r = open_dbi(txn, "secrets", &s->dbi_secrets)) != 0)
		return r;
	/*
	 * Databases added after schema 1 appear empty in an older store;
	 * new databases are not a schema change.
	 */
	if ((r = open_dbi(txn, "policies", &s->dbi_policies)) != 0 ||
	    (r = open_dbi(txn, "tokens", &s->dbi_tokens)) != 0 ||
	    (r = open_dbi(txn, "accessors", &s->dbi_accessors)) != 0 ||
	    (r = open_dbi(txn, "refs", &s->dbi_refs)) != 0)
		return r;
	if ((r = open_dbi(txn, "keys", &s->dbi_keys)) != 0)
		return r;
	if ((r = open_dbi(txn, "certs", &s->dbi_certs)) != 0 ||
	    (r = open_dbi(txn, "certs_exp", &s->dbi_certs_exp)) != 0 ||
	    (r = open_dbi(txn, "certs_ca", &s->dbi_certs_ca)) != 0)
		return r;
	if ((r = open_dbi(txn, "cas", &s->dbi_cas)) != 0 ||
	    (r = open_dbi(txn, "ca_issued", &s->dbi_ca_issued)) != 0)
		return r;
	k.mv_data = "schema";
	k.mv_size = 6;
	rc = mdb_get(txn, s->dbi_meta, &k, &d);
	if (rc == 0) {
		if (d.mv_size != 4) {
			log_error("store: schema version record is %zu bytes",
			    d.mv_size);
			return CAP_ERR_CORRUPT;
		}
		v = store_get_u32(d.mv_data);
		if (v == 0) {
			log_error("store: schema version 0 is invalid");
			return CAP_ERR_CORRUPT;
		}
		if (v > STORE_SCHEMA_VERSION) {
			log_error("store: schema version %u is newer than the "
			    "%u this build knows; refusing to open it", v,
			    (unsigned)STORE_SCHEMA_VERSION);
			return CAP_ERR_STORE;
		}
		/* Migrations from older schemas will run here. */
		return 0;
	}
	if (rc != MDB_NOTFOUND)
		return store_mdb_err(rc, "mdb_get schema");
	store_put_u32(ver, STORE_SCHEMA_VERSION);
	d.mv_data = ver;
	d.mv_size = sizeof(ver);
	if ((rc = mdb_put(txn, s->dbi_meta, &k, &d, 0)) != 0)
		return store_mdb_err(rc, "mdb_put schema");
	randombytes_buf(id, sizeof(id));
	k.mv_data = "id";
	k.mv_size = 2;
	d.mv_data = id;
	d.mv_size = sizeof(id);
	if ((rc = mdb_put(txn, s->dbi_meta, &k, &d, 0)) != 0)
		return store_mdb_err(rc, "mdb_put id");
	return 0;
}

int
store_open(const char *path, size_t map_size, int nosync, store **out)
{
	pthread_rwlockattr_t attr;
	char datafile[4096];
	struct stat st;
	store *s = NULL;
	unsigned int flags;
	long pg;
	int rc, r;

	if (out != NULL)
		*out = NULL;
	if (path == NULL || *path == '\0' || out == NULL)
		return CAP_ERR_INVALID;
	if (sodium_init() < 0) {
		log_error("store: sodium_init failed");
		return CAP_ERR_INTERNAL;
	}
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		log_error("store: mkdir %s: %s", path, strerror(errno));
		return CAP_ERR_IO;
	}
	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
		log_error("store: %s is not a directory", path);
		return CAP_ERR_IO;
	}
	if ((st.st_mode & 077) != 0)
		log_warn("store: %s is open to group or others (mode %03o)",
		    path, (unsigned)(st.st_mode & 0777));

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return CAP_ERR_NOMEM;
	/*
	 * Prefer the resizer: otherwise a steady stream of transactions
	 * could keep a full map from ever growing.  No thread takes the
	 * lock twice, so writer preference cannot deadlock.
	 */
	if (pthread_rwlockattr_init(&attr) != 0) {
		r = CAP_ERR_INTERNAL;
		goto out;
	}
	pthread_rwlockattr_setkind_np(&attr,
	    PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	rc = pthread_rwlock_init(&s->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (rc != 0) {
		r = CAP_ERR_INTERNAL;
		goto out;
	}
	s->lock_ready = 1;

	if (map_size == 0)
		map_size = STORE_DEFAULT_MAP;
	if ((pg = sysconf(_SC_PAGESIZE)) <= 0)
		pg = 4096;
	if (map_size > STORE_MAP_CEILING) {
		log_error("store: map size %zu over the ceiling %zu", map_size,
		    STORE_MAP_CEILING);
		r = CAP_ERR_INVALID;
		goto out;
	}
	map_size = (map_size + (size_t)pg - 1) / (size_t)pg * (size_t)pg;

	if ((rc = mdb_env_create(&s->env)) != 0) {
		s->env = NULL;
		r = store_mdb_err(rc, "mdb_env_create");
		goto out;
	}
	if ((rc = mdb_env_set_maxreaders(s->env, STORE_MAX_READERS)) != 0 ||
	    (rc = mdb_env_set_maxdbs(s->env, STORE_MAX_DBS)) != 0) {
		r = store_mdb_err(rc, "mdb_env_set");
		goto out;
	}
	/*
	 * A size set before opening overrides the one recorded in the
	 * store, so set it only for a new store: one that grew earlier
	 * keeps its size and is only ever grown further below.
	 */
	if (snprintf(datafile, sizeof(datafile), "%s/data.mdb", path) >=
	    (int)sizeof(datafile)) {
		log_error("store: path too long");
		r = CAP_ERR_INVALID;
		goto out;
	}
	if (stat(datafile, &st) != 0 &&
	    (rc = mdb_env_set_mapsize(s->env, map_size)) != 0) {
		r = store_mdb_err(rc, "mdb_env_set_mapsize");
		goto out;
	}
	/*
	 * Durable by default: each commit is fsync'd before it returns.
	 * nosync leaves flushing to the kernel (a crash may lose the
	 * latest commits but not corrupt the store).
	 */
	flags = nosync ? (MDB_NOSYNC | MDB_NOMETASYNC) : 0;
	if ((rc = mdb_env_open(s->env, path, flags, 0600)) != 0) {
		log_error("store: open %s: %s", path, mdb_strerror(rc));
		r = rc == EACCES || rc == ENOENT || rc == EAGAIN ?
		    CAP_ERR_IO : CAP_ERR_STORE;
		goto out;
	}
	map_size_refresh(s);
	if (s->map_size < map_size) {
		/* No transaction exists yet, so resizing needs no lock. */
		if ((rc = mdb_env_set_mapsize(s->env, map_size)) != 0) {
			r = store_mdb_err(rc, "mdb_env_set_mapsize");
			goto out;
		}
		map_size_refresh(s);
	}
	if ((r = store_txn_write(s, schema_txn, NULL)) != 0) {
		if (r != CAP_ERR_STORE)
			log_error("store: cannot open %s: %s", path,
			    cap_strerror(r));
		goto out;
	}
	*out = s;	/* transferred */
	s = NULL;
	r = 0;
 out:
	store_free(s);
	return r;
}

void
store_free(store *s)
{
	if (s == NULL)
		return;
	if (s->env != NULL)
		mdb_env_close(s->env);
	if (s->lock_ready)
		pthread_rwlock_destroy(&s->lock);
	free(s);
}

int
store_stat(store *s, uint64_t *map_size, uint64_t *used)
{
	MDB_envinfo info;
	MDB_stat st;
	int rc;

	if (s == NULL || map_size == NULL || used == NULL)
		return CAP_ERR_INVALID;
	*map_size = *used = 0;
	if (pthread_rwlock_rdlock(&s->lock) != 0)
		return CAP_ERR_INTERNAL;
	if ((rc = mdb_env_info(s->env, &info)) == 0 &&
	    (rc = mdb_env_stat(s->env, &st)) == 0) {
		*map_size = info.me_mapsize;
		*used = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
	}
	pthread_rwlock_unlock(&s->lock);
	return store_mdb_err(rc, "mdb_env_info");
}

/* ---- shared helpers ---- */

int
store_names_push(char ***names, size_t *n, size_t *cap, const char *name,
    size_t len)
{
	char **nv, *c;
	size_t ncap;

	if (*n == *cap) {
		ncap = *cap == 0 ? 16 : *cap * 2;
		if (ncap > SIZE_MAX / sizeof(**names) ||
		    (nv = realloc(*names, ncap * sizeof(**names))) == NULL)
			return CAP_ERR_NOMEM;
		*names = nv;
		*cap = ncap;
	}
	if ((c = malloc(len + 1)) == NULL)
		return CAP_ERR_NOMEM;
	memcpy(c, name, len);
	c[len] = '\0';
	(*names)[(*n)++] = c;
	return 0;
}

void
store_names_free(char **names, size_t n)
{
	size_t i;

	if (names == NULL)
		return;
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int
store_del_prefix(MDB_txn *txn, MDB_dbi dbi, const uint8_t *prefix,
    size_t plen)
{
	MDB_cursor *cur = NULL;
	MDB_val k, d;
	int rc, r;

	if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
		return store_mdb_err(rc, "mdb_cursor_open");
	for (;;) {
		/* Seek afresh after each delete rather than trust the
		 * cursor's position across it. */
		k.mv_data = (void *)prefix;
		k.mv_size = plen;
		rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
		if (rc == MDB_NOTFOUND)
			break;
		if (rc != 0) {
			r = store_mdb_err(rc, "mdb_cursor_get");
			goto out;
		}
		if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
			break;
		if ((rc = mdb_cursor_del(cur, 0)) != 0) {
			r = store_mdb_err(rc, "mdb_cursor_del");
			goto out;
		}
	}
	r = 0;
 out:
	mdb_cursor_close(cur);
	return r;
}

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
	const uint8_t *p = d->mv_data;

	if (d->mv_size != DOMAIN_REC_LEN || p[0] != DOMAIN_FMT) {
		log_error("store: malformed domain record");
		return CAP_ERR_CORRUPT;
	}
	dr->created = store_get_u64(p + 1);
	dr->key_version = store_get_u32(p + 9);
	dr->flags = store_get_u32(p + 13);
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
	MDB_val k, d;
	int rc;

	k.mv_data = (void *)name;
	k.mv_size = strlen(name);
	if ((rc = mdb_get(txn, s->dbi_domains, &k, &d)) != 0)
		return store_mdb_err(rc, "mdb_get domain");
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
	MDB_cursor *cur = NULL;
	MDB_val k, d;
	int rc, r;

	if ((rc = mdb_cursor_open(txn, s->dbi_domains, &cur)) != 0)
		return store_mdb_err(rc, "mdb_cursor_open");
	for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
		if (k.mv_size == 0 || k.mv_size > CAP_NAME_MAX ||
		    memchr(k.mv_data, '\0', k.mv_size) != NULL) {
			log_error("store: malformed domain key");
			r = CAP_ERR_CORRUPT;
			goto out;
		}
		if ((r = store_names_push(&a->names, &a->n, &a->cap,
		    k.mv_data, k.mv_size)) != 0)
			goto out;
	}
	if (rc != MDB_NOTFOUND) {
		r = store_mdb_err(rc, "mdb_cursor_get");
		goto out;
	}
	r = 0;
 out:
	mdb_cursor_close(cur);
	return r;
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
	const uint8_t *p;
	uint32_t version = a->version, len;
	MDB_val k, d;
	int rc, r;

	if ((r = domain_read(s, txn, a->name, &dr)) != 0)
		return r;
	if (version == 0)
		version = dr.key_version;
	k.mv_data = key;
	k.mv_size = dkey_key(key, a->name, version);
	if ((rc = mdb_get(txn, s->dbi_dkeys, &k, &d)) != 0)
		return store_mdb_err(rc, "mdb_get dkey");
	p = d.mv_data;
	if (d.mv_size < DKEY_HDR_LEN || p[0] != DKEY_FMT)
		goto corrupt;
	len = store_get_u32(p + 5);
	if (len == 0 || len > STORE_WRAPPED_MAX ||
	    (size_t)len != d.mv_size - DKEY_HDR_LEN ||
	    store_get_u32(p + 1) > (uint32_t)INT32_MAX)
		goto corrupt;
	if ((a->wrapped = malloc(len)) == NULL)
		return CAP_ERR_NOMEM;
	memcpy(a->wrapped, p + DKEY_HDR_LEN, len);
	a->wrapped_len = len;
	a->mech = (int)store_get_u32(p + 1);
	return 0;
 corrupt:
	log_error("store: malformed wrapped key record");
	return CAP_ERR_CORRUPT;
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
