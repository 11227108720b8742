/*
 * audit_key.h - the key that HMACs secret names in the audit log.
 *
 * 32 random bytes created once in the token (hsm_dk_generate), kept in the
 * store only wrapped by the master key (store_meta_put "audit-name-key"),
 * unwrapped at start into sodium_malloc'd memory that is then read-only,
 * and wiped by audit_key_free.  The same key across restarts keeps one
 * name's HMAC stable through the whole log.
 */
#ifndef CAP_AUDIT_KEY_H
#define CAP_AUDIT_KEY_H

#include <stddef.h>
#include <stdint.h>

#include "hsm/hsm.h"
#include "store/store.h"

#define AUDIT_KEY_META_NAME	"audit-name-key"

typedef struct audit_key audit_key;

/*
 * audit_key_load unwraps the stored key, creating and storing it first if
 * the store has none.  CAP_ERR_TOKEN and the like from the token,
 * CAP_ERR_CORRUPT for a malformed stored blob, CAP_ERR_NOMEM.
 */
int audit_key_load(hsm *h, store *s, audit_key **out)
    __attribute__((warn_unused_result));

/* audit_key_free wipes and releases the key; NULL is a no-op. */
void audit_key_free(audit_key *k);

/*
 * audit_key_hmac is audit.h's audit_hmac_fn over an audit_key (ctx):
 * HMAC-SHA256 of data.
 */
int audit_key_hmac(void *ctx, const uint8_t *data, size_t len,
    uint8_t mac[32]);

#endif
