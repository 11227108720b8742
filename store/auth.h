/*
 * auth.h - access-control records in the store: policies, bearer tokens
 * and single-use references to a secret version.
 *
 * Three kinds of record live next to the secrets, in the same LMDB
 * environment (store_open opens their databases):
 *   policies   name -> the policy document (JSON text, stored as given)
 *   tokens     SHA-256(token) -> token record
 *   accessors  accessor -> SHA-256(token), so an admin can name a token
 *              without knowing it
 *   refs       SHA-256(reference) -> reference record
 * The clear text of a token or reference is never stored: only its
 * SHA-256, computed by the caller with token_hash (crypto/token.h).
 *
 * Every mutation is one LMDB write transaction, so concurrent callers see
 * each token use or reference redemption happen exactly once.  All
 * functions return 0 or a negative CAP_ERR_*; nothing returned points into
 * LMDB's map.
 */
#ifndef CAP_STORE_AUTH_H
#define CAP_STORE_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "store/store.h"

#define STORE_AUTH_HASH_LEN	32		/* SHA-256 of a token or reference */
#define STORE_ACCESSOR_LEN	32		/* lowercase hex of 16 random bytes */
#define STORE_IDENTITY_MAX	256		/* bytes of a token's identity */
#define STORE_TOKEN_POLICIES_MAX 32		/* policies bound to one token */
#define STORE_POLICY_MAX	(64 * 1024)	/* bytes of a policy document */

/* flags of a token */
#define STORE_TOKEN_REVOKED	0x1

struct store_token {
	char		 accessor[STORE_ACCESSOR_LEN + 1];
	char		 identity[STORE_IDENTITY_MAX + 1];
	char		**policies;	/* npolicies names, malloc'd */
	size_t		 npolicies;	/* 0..STORE_TOKEN_POLICIES_MAX */
	uint64_t	 created;	/* seconds since the epoch */
	uint64_t	 expires;	/* 0 = never; expired once now >= expires */
	uint32_t	 uses_left;	/* 0 = unlimited */
	uint32_t	 flags;		/* STORE_TOKEN_* */
};

struct store_ref {
	char		 domain[CAP_NAME_MAX + 1];
	char		 name[CAP_NAME_MAX + 1];
	uint32_t	 version;	/* >= 1: the secret version it hands out */
	uint64_t	 created;
	uint64_t	 expires;	/* 0 = never; expired once now >= expires */
	uint32_t	 uses_left;	/* >= 1 while it exists */
};

/* ---- policies ---- */

/*
 * store_policy_put creates or replaces policy `name` (cap_name_valid) with
 * doc[0..len): 1..STORE_POLICY_MAX bytes without NUL, kept byte for byte;
 * the store does not parse it.  CAP_ERR_INVALID, CAP_ERR_TOO_LARGE.
 */
int store_policy_put(store *s, const char *name, const char *doc, size_t len)
    __attribute__((warn_unused_result));
/*
 * store_policy_get copies the document out into *doc (malloc'd,
 * NUL-terminated; *len excludes the NUL).  CAP_ERR_NOT_FOUND.
 */
int store_policy_get(store *s, const char *name, char **doc, size_t *len)
    __attribute__((warn_unused_result));
/* store_policy_list returns the sorted names; free with store_names_free. */
int store_policy_list(store *s, char ***names, size_t *n)
    __attribute__((warn_unused_result));
/* store_policy_delete removes a policy.  CAP_ERR_NOT_FOUND. */
int store_policy_delete(store *s, const char *name)
    __attribute__((warn_unused_result));

/* ---- tokens ---- */

/*
 * store_token_create stores tok under hash (SHA-256 of the clear token)
 * and indexes it by tok->accessor.  tok must be live (flags 0), with a
 * lowercase-hex accessor, an identity of 1..STORE_IDENTITY_MAX bytes
 * without control characters and valid policy names.  CAP_ERR_EXISTS if
 * the hash or the accessor is taken (nothing is written then),
 * CAP_ERR_INVALID for a malformed record.
 */
int store_token_create(store *s, const struct store_token *tok,
    const uint8_t hash[STORE_AUTH_HASH_LEN])
    __attribute__((warn_unused_result));

/*
 * store_token_use authenticates one request with the token whose hash is
 * given: CAP_ERR_UNAUTH if there is none, or it is revoked, or now >=
 * expires.  A token with uses_left 1 is consumed by this use (removed,
 * with its accessor); one with more has it decremented; both in one write
 * transaction, so N concurrent uses of a token with N uses left all
 * succeed and the next fails.  An unlimited token is checked in a read
 * transaction.  *out receives the record as it was before this use (free
 * its fields with store_token_free_fields); zeroed on failure.
 */
int store_token_use(store *s, const uint8_t hash[STORE_AUTH_HASH_LEN],
    uint64_t now, struct store_token *out)
    __attribute__((warn_unused_result));

/*
 * store_token_lookup_accessor copies out the token with this accessor,
 * whatever its state (revoked and expired ones too).  CAP_ERR_NOT_FOUND,
 * CAP_ERR_INVALID for a malformed accessor.
 */
int store_token_lookup_accessor(store *s, const char *accessor,
    struct store_token *out) __attribute__((warn_unused_result));

/*
 * store_token_revoke marks the token revoked; every later use fails.
 * Revoking a revoked token succeeds.  CAP_ERR_NOT_FOUND.
 */
int store_token_revoke(store *s, const char *accessor)
    __attribute__((warn_unused_result));

/*
 * store_token_list copies out every token (in hash order, which says
 * nothing about the tokens); the records carry accessors, never hashes.
 * Free with store_token_list_free.
 */
int store_token_list(store *s, struct store_token **out, size_t *n)
    __attribute__((warn_unused_result));

/*
 * store_token_purge removes the tokens that can never be used again
 * (revoked, or expired at now) and their accessors; *purged counts them.
 */
int store_token_purge(store *s, uint64_t now, size_t *purged)
    __attribute__((warn_unused_result));

/* store_token_free_fields frees what a record owns and zeroes it; NULL is a no-op. */
void store_token_free_fields(struct store_token *tok);
void store_token_list_free(struct store_token *v, size_t n);

/* ---- references ---- */

/*
 * store_ref_create stores rec under hash (SHA-256 of the clear
 * reference).  rec needs valid names, version >= 1, uses_left >= 1.
 * The secret itself is not checked: redeeming a reference to a secret
 * deleted meanwhile is the caller's not-found.  CAP_ERR_EXISTS on a hash
 * collision, CAP_ERR_INVALID.
 */
int store_ref_create(store *s, const uint8_t hash[STORE_AUTH_HASH_LEN],
    const struct store_ref *rec) __attribute__((warn_unused_result));

/*
 * store_ref_redeem uses the reference once, in one write transaction:
 * CAP_ERR_GONE if it is unknown, used up or expired (an expired one is
 * deleted; the cases are not told apart), else uses_left is decremented,
 * the reference deleted at 0, and *out receives the record as it was
 * before this redemption.  Of concurrent redemptions of a reference with
 * N uses, exactly N succeed.
 */
int store_ref_redeem(store *s, const uint8_t hash[STORE_AUTH_HASH_LEN],
    uint64_t now, struct store_ref *out) __attribute__((warn_unused_result));

/*
 * store_ref_purge_expired deletes every reference expired at now, for a
 * periodic sweep; *purged counts them.  A record that does not parse is
 * logged and left in place.
 */
int store_ref_purge_expired(store *s, uint64_t now, size_t *purged)
    __attribute__((warn_unused_result));

/* ---- record codec (exposed for tests and the fuzz target) ---- */

/*
 * The decoders parse a stored record of len bytes strictly: CAP_ERR_CORRUPT
 * on anything malformed (truncated, trailing bytes, unknown format or
 * flags, bad names, lengths over their limits, zero counts where they are
 * not allowed), leaving *out zeroed with nothing allocated; they never read
 * past len.  A record that decodes re-encodes to the same bytes.  The
 * encoders return a malloc'd buffer and refuse (CAP_ERR_INVALID) what the
 * decoders would reject.
 */
int store_record_decode_token(const uint8_t *buf, size_t len,
    struct store_token *out) __attribute__((warn_unused_result));
int store_record_encode_token(const struct store_token *tok, uint8_t **buf,
    size_t *len) __attribute__((warn_unused_result));
int store_record_decode_ref(const uint8_t *buf, size_t len,
    struct store_ref *out) __attribute__((warn_unused_result));
int store_record_encode_ref(const struct store_ref *rec, uint8_t **buf,
    size_t *len) __attribute__((warn_unused_result));

/* store_accessor_valid: 1 if s is exactly STORE_ACCESSOR_LEN lowercase hex digits. */
int store_accessor_valid(const char *s);

#endif
