/*
 * store.h - the persistent store of Capstone (LMDB).
 *
 * One LMDB environment with named databases:
 *   meta     schema version and store identity
 *   domains  one record per secret domain (created time, current key version)
 *   dkeys    wrapped domain keys, one per (domain, key version)
 *   secrets  every version of every secret: metadata plus the AES-GCM
 *            nonce and ciphertext (never plaintext)
 * Every write is one LMDB write transaction, durable on return (fsync) unless
 * the store was opened with nosync.  When the map fills, it is grown and the
 * write retried, so a store that outgrows its map keeps working.
 *
 * Safe for concurrent use from several threads.  Nothing returned points
 * into LMDB's map: records are copied out and owned by the caller.
 * All functions return 0 or a negative CAP_ERR_*; MDB_* codes are logged
 * here and never escape.
 */
#ifndef CAP_STORE_H
#define CAP_STORE_H

#include <stddef.h>
#include <stdint.h>

#define STORE_SCHEMA_VERSION	1
#define STORE_NONCE_LEN		12
#define STORE_CT_MAX		(1024 * 1024)	/* largest ciphertext kept */
#define STORE_WRAPPED_MAX	1024		/* largest wrapped key */

typedef struct store store;

struct store_domain {
	char		name[129];
	uint64_t	created;	/* seconds since the epoch */
	uint32_t	key_version;	/* newest domain key version, >= 1 */
};

/* flags of a secret version */
#define STORE_SECRET_DELETED	0x1	/* soft-deleted: not readable, data kept */
#define STORE_SECRET_DESTROYED	0x2	/* ciphertext erased for good */

struct store_secret_meta {
	uint32_t	version;	/* >= 1, increasing per secret */
	uint64_t	created;
	uint32_t	key_version;	/* domain key version that sealed it */
	uint32_t	flags;		/* STORE_SECRET_* */
};

struct store_secret {
	struct store_secret_meta meta;
	uint8_t		nonce[STORE_NONCE_LEN];
	uint8_t		*ct;		/* ciphertext || tag, malloc'd */
	size_t		ctlen;
};

/*
 * store_open opens (creating if needed) the environment in directory path
 * (created mode 0700, files 0600).  map_size is the initial map size in
 * bytes (0 for 64 MiB); a store that already grew larger keeps its size.
 * nosync = 1 trades durability for speed (tests and benchmarks only).
 * Checks or writes the schema version; CAP_ERR_STORE if the store is from a
 * newer schema, CAP_ERR_IO if the directory cannot be made or opened.
 * One store per environment per process: never open the same path twice in
 * one process, and never use a store across fork().
 */
int store_open(const char *path, size_t map_size, int nosync, store **out)
    __attribute__((warn_unused_result));
void store_free(store *s);

/* ---- domains ---- */

/*
 * store_domain_create adds a domain with key version 1 and its wrapped key
 * in one transaction.  CAP_ERR_EXISTS if it exists.
 */
int store_domain_create(store *s, const char *name, uint64_t created,
    const uint8_t *wrapped, size_t wrapped_len, int wrap_mech)
    __attribute__((warn_unused_result));
int store_domain_get(store *s, const char *name, struct store_domain *out)
    __attribute__((warn_unused_result));
/* store_domain_list returns the sorted domain names; free with store_names_free. */
int store_domain_list(store *s, char ***names, size_t *n)
    __attribute__((warn_unused_result));
/*
 * store_domain_delete removes a domain, its wrapped keys and every version
 * of its secrets in one transaction.  Without force, CAP_ERR_CONFLICT if it
 * still holds a secret that is not deleted.
 */
int store_domain_delete(store *s, const char *name, int force)
    __attribute__((warn_unused_result));
/*
 * store_domain_add_key stores a new wrapped key as version
 * expected_version + 1 and makes it current; CAP_ERR_CONFLICT if the
 * current version is no longer expected_version.
 */
int store_domain_add_key(store *s, const char *name, uint32_t expected_version,
    const uint8_t *wrapped, size_t wrapped_len, int wrap_mech,
    uint32_t *new_version) __attribute__((warn_unused_result));
/*
 * store_dkey_get copies out a wrapped key (malloc'd; it is wrapped, so a
 * plain free() releases it).  key_version 0 means the current version.
 * CAP_ERR_NOT_FOUND for a missing domain or version.
 */
int store_dkey_get(store *s, const char *name, uint32_t key_version,
    uint8_t **wrapped, size_t *wrapped_len, int *wrap_mech)
    __attribute__((warn_unused_result));

/* ---- secrets ---- */

/*
 * store_secret_latest reads the metadata of the newest version of a secret,
 * whatever its flags.  CAP_ERR_NOT_FOUND if the secret never existed.
 */
int store_secret_latest(store *s, const char *domain, const char *name,
    struct store_secret_meta *out) __attribute__((warn_unused_result));

/*
 * store_secret_put writes rec as a new version.  rec->meta.version must be
 * expected_latest + 1, where expected_latest is the version the caller saw
 * (0 = the secret must not exist); the newest version counts whatever its
 * flags, so versions are never reused after a delete or destroy.  A new
 * version is live: rec->meta.flags must be 0 and rec->ct non-empty.
 * CAP_ERR_CONFLICT if the newest version changed meanwhile,
 * CAP_ERR_NOT_FOUND if the domain does not exist, CAP_ERR_TOO_LARGE over
 * STORE_CT_MAX, CAP_ERR_INVALID for a bad name or version.
 */
int store_secret_put(store *s, const char *domain, const char *name,
    uint32_t expected_latest, const struct store_secret *rec)
    __attribute__((warn_unused_result));

/*
 * store_secret_get copies out version `version` (0 = newest) into a new
 * record the caller frees with store_secret_free.  Deleted and destroyed
 * versions are returned too (flags say so; a destroyed one has no ct).
 */
int store_secret_get(store *s, const char *domain, const char *name,
    uint32_t version, struct store_secret **out)
    __attribute__((warn_unused_result));
void store_secret_free(struct store_secret *rec);

/*
 * store_secret_versions lists the metadata of every version, oldest first
 * (*out malloc'd, free() it).  CAP_ERR_NOT_FOUND if there is none.
 */
int store_secret_versions(store *s, const char *domain, const char *name,
    struct store_secret_meta **out, size_t *n)
    __attribute__((warn_unused_result));

/*
 * store_secret_list returns, sorted, the names whose newest version is not
 * deleted/destroyed; free with store_names_free.  CAP_ERR_NOT_FOUND if the
 * domain does not exist.
 */
int store_secret_list(store *s, const char *domain, char ***names, size_t *n)
    __attribute__((warn_unused_result));

/* store_secret_delete soft-deletes the newest version. CAP_ERR_NOT_FOUND if none live. */
int store_secret_delete(store *s, const char *domain, const char *name)
    __attribute__((warn_unused_result));

/*
 * store_secret_destroy erases the ciphertext of the given versions (all
 * versions when n == 0), keeping their metadata with STORE_SECRET_DESTROYED
 * so version numbers are never reused.  Destroying a destroyed version is a
 * no-op; CAP_ERR_NOT_FOUND if a listed version does not exist (or, with
 * n == 0, the secret has none), and then nothing changes.  LMDB copies on
 * write, so the old bytes stay in free pages of the file until reused:
 * what lingers is ciphertext under a domain key, never plaintext.
 */
int store_secret_destroy(store *s, const char *domain, const char *name,
    const uint32_t *versions, size_t n) __attribute__((warn_unused_result));

/* store_secret_count counts the secrets of a domain whose newest version is live. */
int store_secret_count(store *s, const char *domain, size_t *n)
    __attribute__((warn_unused_result));

void store_names_free(char **names, size_t n);

/* ---- small named blobs (meta) ---- */

#define STORE_META_NAME_MAX	64	/* bytes of a blob's name */
#define STORE_META_MAX		4096	/* bytes of a blob */

/*
 * store_meta_put keeps len (1..STORE_META_MAX) bytes under name (1 to
 * STORE_META_NAME_MAX characters from [a-z0-9._-]), in a namespace apart
 * from the store's own records.  With excl, CAP_ERR_EXISTS if the name is
 * taken (nothing written); otherwise it replaces.  Only for data that may
 * rest on disk as it is (wrapped keys, settings), never plaintext secrets.
 */
int store_meta_put(store *s, const char *name, const uint8_t *val,
    size_t len, int excl) __attribute__((warn_unused_result));
/*
 * store_meta_get copies a blob out into *val (malloc'd; free()) and *len.
 * CAP_ERR_NOT_FOUND, CAP_ERR_INVALID for a bad name.
 */
int store_meta_get(store *s, const char *name, uint8_t **val, size_t *len)
    __attribute__((warn_unused_result));

/* store_stat reports map size and bytes in use, for health and metrics. */
int store_stat(store *s, uint64_t *map_size, uint64_t *used);

/* ---- record codec (exposed for tests and the fuzz target) ---- */

/*
 * store_record_decode_secret parses a stored secret record of len bytes
 * into *out; out->ct is malloc'd (NULL when ctlen is 0) and is the
 * caller's to free().  Returns CAP_ERR_CORRUPT on any malformed input
 * (truncated, trailing bytes, unknown format or flags, version 0, a
 * length over STORE_CT_MAX, ciphertext on a destroyed version), leaving
 * *out zeroed; never reads past len.
 */
int store_record_decode_secret(const uint8_t *buf, size_t len,
    struct store_secret *out) __attribute__((warn_unused_result));
/*
 * store_record_encode_secret serialises rec (malloc'd result); it refuses
 * (CAP_ERR_INVALID, CAP_ERR_TOO_LARGE) what the decoder would reject.
 */
int store_record_encode_secret(const struct store_secret *rec, uint8_t **buf,
    size_t *len) __attribute__((warn_unused_result));

#endif
