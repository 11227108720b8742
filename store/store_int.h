/*
 * store_int.h - what the files of store/ share; not part of the contract.
 *
 * Key layout (every integer big-endian, so LMDB's bytewise order is the
 * numeric order):
 *   meta     "schema" -> u32 schema version, "id" -> 16 random bytes
 *   domains  name -> domain record
 *   dkeys    name \0 u32(key version) -> wrapped key record
 *   secrets  domain \0 name \0 u32(version) -> secret record
 *   policies  name -> u8 format, policy document
 *   tokens    SHA-256(token) -> token record
 *   accessors accessor (32 hex chars) -> SHA-256(token)
 *   refs      SHA-256(reference) -> reference record
 *   keys      key id (16 bytes) -> key inventory record (keydb.c)
 *   certs     cert id (32 hex chars) -> certificate record (certdb.c)
 *   certs_exp u64(not_after) id -> "" (certificates by expiry)
 *   certs_ca  ca \0 id -> "" (certificates by CA)
 * Names never contain \0 (cap_name_valid), and \0 sorts before every name
 * byte, so the versions of one secret are contiguous and ascending, and the
 * secrets of one domain are contiguous under the prefix domain \0.
 */
#ifndef CAP_STORE_INT_H
#define CAP_STORE_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "common/util.h"
#include "store/store.h"

struct store {
	MDB_env		*env;
	MDB_dbi		 dbi_meta;
	MDB_dbi		 dbi_domains;
	MDB_dbi		 dbi_dkeys;
	MDB_dbi		 dbi_secrets;
	MDB_dbi		 dbi_policies;	/* store/auth.c */
	MDB_dbi		 dbi_tokens;
	MDB_dbi		 dbi_accessors;
	MDB_dbi		 dbi_refs;
	MDB_dbi		 dbi_keys;	/* store/keydb.c */
	MDB_dbi		 dbi_certs;	/* store/certdb.c */
	MDB_dbi		 dbi_certs_exp;
	MDB_dbi		 dbi_certs_ca;
	MDB_dbi		 dbi_cas;	/* store/cadb.c */
	MDB_dbi		 dbi_ca_issued;
	MDB_dbi		 dbi_cmf_ents;	/* store/cmfdb.c */
	MDB_dbi		 dbi_cmf_ents_par;
	MDB_dbi		 dbi_cmf_ics;	/* store/cmfdb_ic.c */
	MDB_dbi		 dbi_cmf_ics_cert;
	MDB_dbi		 dbi_cmf_certs;
	MDB_dbi		 dbi_cmf_shared;
	MDB_dbi		 dbi_cmf_lcm;
	MDB_dbi		 dbi_cmf_pend;	/* store/cmfdb_pend.c */
	MDB_dbi		 dbi_cmf_pend_auth;
	MDB_dbi		 dbi_cmf_orphans;
	/*
	 * Held shared by every transaction, exclusively by a map resize:
	 * mdb_env_set_mapsize needs no transaction active in the process.
	 */
	pthread_rwlock_t lock;
	int		 lock_ready;
	size_t		 map_size;	/* under lock */
};

/*
 * Internal result of a transaction body: the map is full, abort, grow it
 * and run the body again.  Positive, so it never looks like a CAP_ERR_*;
 * store_txn_write consumes it and it never leaves store/.
 */
#define STORE_GROW	1

/* domain \0 name \0 u32: the longest secret key */
#define STORE_SKEY_MAX	(CAP_NAME_MAX + 1 + CAP_NAME_MAX + 1 + 4)

/*
 * A transaction body: returns 0 to commit, a CAP_ERR_* (or STORE_GROW) to
 * abort.  A write body may run more than once (after a map resize), so it
 * must not depend on side effects of an earlier run.
 */
typedef int (*store_txn_fn)(store *s, MDB_txn *txn, void *arg);

int store_txn_read(store *s, store_txn_fn fn, void *arg);
int store_txn_write(store *s, store_txn_fn fn, void *arg);

/*
 * store_mdb_err translates an MDB_* (or errno) code into CAP_ERR_*, logging
 * the unexpected ones with what was being done.  MDB_MAP_FULL becomes
 * STORE_GROW, MDB_NOTFOUND CAP_ERR_NOT_FOUND, MDB_KEYEXIST CAP_ERR_EXISTS,
 * none of them logged.
 */
int store_mdb_err(int rc, const char *what);

/* store_domain_check: 0 if the domain exists in txn, else CAP_ERR_NOT_FOUND. */
int store_domain_check(store *s, MDB_txn *txn, const char *name);

/* store_del_prefix deletes every key of dbi that starts with prefix. */
int store_del_prefix(MDB_txn *txn, MDB_dbi dbi, const uint8_t *prefix,
    size_t plen);

/*
 * store_secret_walk calls fn once per secret name of domain, in name order,
 * with the metadata of its newest version; a non-zero return from fn stops
 * the walk and is returned.
 */
typedef int (*store_walk_fn)(void *arg, const char *name,
    const struct store_secret_meta *newest);
int store_secret_walk(store *s, MDB_txn *txn, const char *domain,
    store_walk_fn fn, void *arg);

/*
 * One-key operations inside a transaction; what names the operation in
 * the log when LMDB fails unexpectedly.  Results as store_mdb_err.
 */
int store_get(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
    MDB_val *d, const char *what);
int store_put(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
    const void *data, size_t dlen, unsigned int flags, const char *what);
int store_del(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
    const char *what);

/*
 * store_put_one and store_del_one run one write transaction (grown and
 * retried as store_txn_write does) that puts or deletes a single key.
 */
int store_put_one(store *s, MDB_dbi dbi, const void *key, size_t klen,
    const void *data, size_t dlen, unsigned int flags, const char *what);
int store_del_one(store *s, MDB_dbi dbi, const void *key, size_t klen,
    const char *what);

/*
 * store_walk calls fn, in key order, for every key of dbi that starts
 * with prefix (every key when plen is 0).  fn returns 0 to go on,
 * STORE_STOP to end the walk with success, or a CAP_ERR_* that ends it
 * and is returned.  fn must not write to dbi.
 */
#define STORE_STOP	2
typedef int (*store_kv_fn)(void *arg, const MDB_val *k, const MDB_val *d);
int store_walk(MDB_txn *txn, MDB_dbi dbi, const void *prefix, size_t plen,
    store_kv_fn fn, void *arg);

/*
 * store_walk_names appends to *names a copy of the rest of each key under
 * prefix, which must be a valid name (else CAP_ERR_CORRUPT, logged with
 * what).
 */
int store_walk_names(MDB_txn *txn, MDB_dbi dbi, const void *prefix,
    size_t plen, char ***names, size_t *n, size_t *cap, const char *what);

/*
 * store_vec_grow makes room for one more element of size in the array v
 * of n elements and *cap slots, doubling from 16.  It returns the array,
 * perhaps moved, or NULL when out of memory (v is then left as it was).
 */
void *store_vec_grow(void *v, size_t *cap, size_t n, size_t size);

/* store_names_push appends a copy of name to a growing array. */
int store_names_push(char ***names, size_t *n, size_t *cap, const char *name,
    size_t len);

/*
 * store_record_decode_secret_meta checks a whole secret record exactly as
 * store_record_decode_secret does, but copies out only its metadata.
 */
int store_record_decode_secret_meta(const uint8_t *buf, size_t len,
    struct store_secret_meta *meta) __attribute__((warn_unused_result));

static inline void
store_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint32_t
store_get_u32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	    ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static inline void
store_put_u64(uint8_t *p, uint64_t v)
{
	store_put_u32(p, (uint32_t)(v >> 32));
	store_put_u32(p + 4, (uint32_t)v);
}

static inline uint64_t
store_get_u64(const uint8_t *p)
{
	return ((uint64_t)store_get_u32(p) << 32) | store_get_u32(p + 4);
}

#endif
