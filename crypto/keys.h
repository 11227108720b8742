/*
 * keys.h - the key service: keys generated in the token and kept in the
 * inventory (store/keydb.h), for the /v1/keys API and for the certificate
 * engine.
 *
 * A key is a pair of token objects (one secret-key object for AES) that
 * share a random 16-byte CKA_ID, shown as 32 lowercase hex characters.
 * Private and secret halves are CKA_SENSITIVE and not CKA_EXTRACTABLE:
 * only public keys, signatures and CSRs come out.  All functions return 0
 * or a negative CAP_ERR_*.
 */
#ifndef CAP_CRYPTO_KEYS_H
#define CAP_CRYPTO_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "hsm/hsm.h"
#include "store/keydb.h"
#include "store/store.h"

struct key_info {
	char		id[STORE_KEY_ID_HEX + 1];	/* 32 hex chars */
	hsm_key_type	type;
	char		label[STORE_KEY_LABEL_MAX + 1];
	uint32_t	owner;		/* STORE_KEY_OWNER_* */
	uint64_t	created;	/* seconds since the epoch */
	char		token[STORE_KEY_TOKEN_MAX + 1];	/* token label */
};

/*
 * keys_generate makes a key of type in the token as persistent objects
 * with a fresh random CKA_ID and the given label (NULL or "" for none; at
 * most STORE_KEY_LABEL_MAX bytes, no control characters), and records it
 * in the inventory with owner (STORE_KEY_OWNER_*).  If the record cannot
 * be written, the objects just created are destroyed again.
 * CAP_ERR_INVALID (bad type, label or owner), CAP_ERR_UNSUPPORTED (the
 * token cannot make that type), CAP_ERR_TOKEN, CAP_ERR_STORE.
 */
int keys_generate(hsm *h, store *s, hsm_key_type type, const char *label,
    uint32_t owner, struct key_info *out) __attribute__((warn_unused_result));
/*
 * keys_generate_obj is keys_generate that also hands back the new object
 * handles (either pointer may be NULL), sparing a lookup by CKA_ID, which
 * costs a scan of every object on tokens such as SoftHSM's file store.
 */
int keys_generate_obj(hsm *h, store *s, hsm_key_type type, const char *label,
    uint32_t owner, struct key_info *out, hsm_obj *priv, hsm_obj *pub)
    __attribute__((warn_unused_result));

/*
 * keys_get looks id_hex up in the inventory and the token; priv and pub
 * (either may be NULL) receive the object handles (pub is 0 for AES).
 * CAP_ERR_INVALID for a malformed id, CAP_ERR_NOT_FOUND when the
 * inventory has no such key or the token lost its objects,
 * CAP_ERR_CORRUPT when the token's key type differs from the record's.
 */
int keys_get(hsm *h, store *s, const char *id_hex, struct key_info *out,
    hsm_obj *priv, hsm_obj *pub) __attribute__((warn_unused_result));

/*
 * keys_public_der / keys_public_pem return the SubjectPublicKeyInfo of a
 * public object as DER or as a PEM "PUBLIC KEY" string (NUL-terminated),
 * malloc'd (free()).  CAP_ERR_INVALID for pub == 0 (AES keys have none).
 */
int keys_public_der(hsm *h, hsm_obj pub, uint8_t **der, size_t *len)
    __attribute__((warn_unused_result));
int keys_public_pem(hsm *h, hsm_obj pub, char **pem)
    __attribute__((warn_unused_result));

/*
 * keys_uri returns the RFC 7512 URI of the private (or secret) object:
 * token attributes, object label, id and type, without any query (no
 * module-path, no pin): callers add what they need.  malloc'd (free()).
 */
int keys_uri(hsm *h, hsm_obj priv, char **uri)
    __attribute__((warn_unused_result));

/*
 * keys_destroy removes the key's token objects and then its record.  A
 * record whose objects are already gone is still removed.
 * CAP_ERR_NOT_FOUND when the inventory has no such key.
 */
int keys_destroy(hsm *h, store *s, const char *id_hex)
    __attribute__((warn_unused_result));

/*
 * keys_list returns the inventory, filtered by owner unless owner is 0
 * (*out malloc'd, free()).
 */
int keys_list(store *s, uint32_t owner, struct key_info **out, size_t *n)
    __attribute__((warn_unused_result));

/* keys_info_from_record fills info from an inventory record. */
void keys_info_from_record(const struct store_key *rec, struct key_info *info);

#endif
