/*
 * store.c - the LMDB environment: opening, the schema, transactions, map
 * growth, and the one-key, walk and list helpers the other files share.
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
#include "store/codec.h"
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
#define STORE_MAX_DBS		32
#define STORE_ID_LEN		16
/* A write that still does not fit after this many doublings fails. */
#define STORE_GROW_TRIES	40
#define STORE_MAP_CEILING	((size_t)1 << (sizeof(size_t) > 4 ? 40 : 30))


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
	if ((r = open_dbi(txn, "cmf_ents", &s->dbi_cmf_ents)) != 0 ||
	    (r = open_dbi(txn, "cmf_ents_par", &s->dbi_cmf_ents_par)) != 0 ||
	    (r = open_dbi(txn, "cmf_ics", &s->dbi_cmf_ics)) != 0 ||
	    (r = open_dbi(txn, "cmf_ics_cert", &s->dbi_cmf_ics_cert)) != 0 ||
	    (r = open_dbi(txn, "cmf_certs", &s->dbi_cmf_certs)) != 0 ||
	    (r = open_dbi(txn, "cmf_shared", &s->dbi_cmf_shared)) != 0 ||
	    (r = open_dbi(txn, "cmf_lcm", &s->dbi_cmf_lcm)) != 0 ||
	    (r = open_dbi(txn, "cmf_pend", &s->dbi_cmf_pend)) != 0 ||
	    (r = open_dbi(txn, "cmf_pend_auth", &s->dbi_cmf_pend_auth)) != 0 ||
	    (r = open_dbi(txn, "cmf_orphans", &s->dbi_cmf_orphans)) != 0)
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

void *
store_vec_grow(void *v, size_t *cap, size_t n, size_t size)
{
	void *nv;
	size_t ncap;

	if (n < *cap)
		return v;
	ncap = *cap == 0 ? 16 : *cap * 2;
	if (ncap > SIZE_MAX / size || (nv = realloc(v, ncap * size)) == NULL)
		return NULL;
	*cap = ncap;
	return nv;
}

int
store_get(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
    MDB_val *d, const char *what)
{
	MDB_val k;

	k.mv_data = (void *)(uintptr_t)key;
	k.mv_size = klen;
	return store_mdb_err(mdb_get(txn, dbi, &k, d), what);
}

int
store_put(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
    const void *data, size_t dlen, unsigned int flags, const char *what)
{
	MDB_val k, d;

	k.mv_data = (void *)(uintptr_t)key;
	k.mv_size = klen;
	d.mv_data = (void *)(uintptr_t)data;
	d.mv_size = dlen;
	return store_mdb_err(mdb_put(txn, dbi, &k, &d, flags), what);
}

int
store_del(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
    const char *what)
{
	MDB_val k;

	k.mv_data = (void *)(uintptr_t)key;
	k.mv_size = klen;
	return store_mdb_err(mdb_del(txn, dbi, &k, NULL), what);
}

struct one_arg {
	MDB_dbi		 dbi;
	const void	*key, *data;
	size_t		 klen, dlen;
	unsigned int	 flags;
	int		 del;
	const char	*what;
};

static int
one_txn(store *s, MDB_txn *txn, void *arg)
{
	struct one_arg *a = arg;

	(void)s;
	if (a->del)
		return store_del(txn, a->dbi, a->key, a->klen, a->what);
	return store_put(txn, a->dbi, a->key, a->klen, a->data, a->dlen,
	    a->flags, a->what);
}

int
store_put_one(store *s, MDB_dbi dbi, const void *key, size_t klen,
    const void *data, size_t dlen, unsigned int flags, const char *what)
{
	struct one_arg a = { dbi, key, data, klen, dlen, flags, 0, what };

	return store_txn_write(s, one_txn, &a);
}

int
store_del_one(store *s, MDB_dbi dbi, const void *key, size_t klen,
    const char *what)
{
	struct one_arg a = { dbi, key, NULL, klen, 0, 0, 1, what };

	return store_txn_write(s, one_txn, &a);
}

int
store_walk(MDB_txn *txn, MDB_dbi dbi, const void *prefix, size_t plen,
    store_kv_fn fn, void *arg)
{
	MDB_cursor *cur = NULL;
	MDB_val k, d;
	int rc, r;

	if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
		return store_mdb_err(rc, "mdb_cursor_open");
	k.mv_data = (void *)(uintptr_t)prefix;
	k.mv_size = plen;
	for (rc = mdb_cursor_get(cur, &k, &d, plen > 0 ? MDB_SET_RANGE :
	    MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
		if (plen > 0 && (k.mv_size < plen ||
		    memcmp(k.mv_data, prefix, plen) != 0))
			break;
		if ((r = fn(arg, &k, &d)) == STORE_STOP)
			break;
		if (r != 0)
			goto out;
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

struct walk_names_arg {
	size_t		  plen;
	char		***names;
	size_t		 *n, *cap;
	const char	 *what;
};

static int
walk_name(void *arg, const MDB_val *k, const MDB_val *d)
{
	struct walk_names_arg *a = arg;
	const char *p = (const char *)k->mv_data + a->plen;
	size_t len = k->mv_size - a->plen;

	(void)d;
	if (!store_name_bytes_valid(p, len)) {
		log_error("store: malformed %s", a->what);
		return CAP_ERR_CORRUPT;
	}
	return store_names_push(a->names, a->n, a->cap, p, len);
}

int
store_walk_names(MDB_txn *txn, MDB_dbi dbi, const void *prefix,
    size_t plen, char ***names, size_t *n, size_t *cap, const char *what)
{
	struct walk_names_arg a = { plen, names, n, cap, what };

	return store_walk(txn, dbi, prefix, plen, walk_name, &a);
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
