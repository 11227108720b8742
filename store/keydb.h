/*
 * keydb.h - the inventory of keys generated in the token.
 *
 * One record per key, named by the 16-byte CKA_ID the key carries in the
 * token (32 lowercase hex characters in the API).  The record says what
 * the key is and who owns it; the key itself never leaves the token.
 * All functions return 0 or a negative CAP_ERR_*.
 */
#ifndef CAP_STORE_KEYDB_H
#define CAP_STORE_KEYDB_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define STORE_KEY_ID_LEN	16	/* bytes of a key id */
#define STORE_KEY_ID_HEX	(2 * STORE_KEY_ID_LEN)
#define STORE_KEY_LABEL_MAX	64	/* bytes of a label */
#define STORE_KEY_TOKEN_MAX	32	/* bytes of a token label */
#define STORE_KEY_TYPE_MAX	6	/* highest hsm_key_type */
#define STORE_KEYS_MAX		100000	/* most records listed at once */

/* Who owns a key. */
#define STORE_KEY_OWNER_USER	1	/* made through /v1/keys */
#define STORE_KEY_OWNER_CA	2	/* a local CA's signing key */
#define STORE_KEY_OWNER_CERT	3	/* made for a certificate request */

/* flags of a key record */
#define STORE_KEY_F_NOPUB	0x1	/* no public half (AES) */
#define STORE_KEY_FLAGS_KNOWN	STORE_KEY_F_NOPUB

struct store_key {
	uint8_t		id[STORE_KEY_ID_LEN];
	uint32_t	type;		/* hsm_key_type, 1..STORE_KEY_TYPE_MAX */
	uint64_t	created;	/* seconds since the epoch */
	uint32_t	owner;		/* STORE_KEY_OWNER_* */
	uint32_t	flags;		/* STORE_KEY_F_* */
	char		label[STORE_KEY_LABEL_MAX + 1];	/* may be empty */
	char		token[STORE_KEY_TOKEN_MAX + 1];	/* token label */
};

/* store_key_owner_name / _parse: "user", "ca", "cert". */
const char *store_key_owner_name(uint32_t owner);
int store_key_owner_parse(const char *s, uint32_t *owner);

/*
 * store_key_label_valid: 1 if s is a label a record may carry: at most
 * STORE_KEY_LABEL_MAX bytes, no control characters (empty is fine).
 */
int store_key_label_valid(const char *s);

/* store_key_id_hex / _parse convert an id to and from 32 lowercase hex. */
void store_key_id_hex(const uint8_t id[STORE_KEY_ID_LEN],
    char out[STORE_KEY_ID_HEX + 1]);
int store_key_id_parse(const char *hex, uint8_t id[STORE_KEY_ID_LEN])
    __attribute__((warn_unused_result));

/*
 * store_key_put adds rec; CAP_ERR_EXISTS if its id is taken,
 * CAP_ERR_INVALID if the encoder refuses it.
 */
int store_key_put(store *s, const struct store_key *rec)
    __attribute__((warn_unused_result));
/* store_key_get copies a record out; CAP_ERR_NOT_FOUND. */
int store_key_get(store *s, const uint8_t id[STORE_KEY_ID_LEN],
    struct store_key *out) __attribute__((warn_unused_result));
/* store_key_delete removes a record; CAP_ERR_NOT_FOUND. */
int store_key_delete(store *s, const uint8_t id[STORE_KEY_ID_LEN])
    __attribute__((warn_unused_result));
/*
 * store_key_list copies every record out in id order (*out malloc'd,
 * free()); a record that fails to decode is logged and skipped.
 */
int store_key_list(store *s, struct store_key **out, size_t *n)
    __attribute__((warn_unused_result));

/*
 * Record codec, exposed for tests and the fuzz target.  The decoder
 * returns CAP_ERR_CORRUPT on anything malformed (truncated, trailing
 * bytes, unknown format, type, owner or flags, bad label), leaving *out
 * zeroed; the id is not part of the record (it is the LMDB key) and is
 * left zero.  The encoder refuses (CAP_ERR_INVALID) what the decoder
 * would reject; *buf is malloc'd.
 */
int store_record_decode_key(const uint8_t *buf, size_t len,
    struct store_key *out) __attribute__((warn_unused_result));
int store_record_encode_key(const struct store_key *rec, uint8_t **buf,
    size_t *len) __attribute__((warn_unused_result));

#endif
