/*
 * envelope.h - envelope encryption of secrets under token-wrapped domain keys.
 *
 * An `envelope` holds the unwrapped domain keys (DKs) of the domains in use,
 * per (domain, key version), in one of two seal modes:
 *   SEAL_MEMORY  DKs unwrapped into sodium_malloc'd memory (locked, guard
 *                pages, excluded from core dumps), AES-256-GCM done by
 *                OpenSSL in this process; keys wiped on forget and free.
 *   SEAL_TOKEN   DKs unwrapped as sensitive session objects in the token and
 *                every AES-GCM done there; no symmetric key in this process.
 * Each seal uses a fresh random 96-bit nonce (libsodium's CSPRNG) and binds
 * the ciphertext to the associated data
 *   "capstone-secret-v1" NUL domain NUL name NUL u32be(version)
 * (names never contain NUL, so no two triples share it), so a ciphertext
 * moved to another record fails to open.  The key version is not in the
 * associated data: it selects the key, and another key fails the tag.
 *
 * Thread-safe.  Returns 0 or a negative CAP_ERR_*.
 */
#ifndef CAP_ENVELOPE_H
#define CAP_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "hsm/hsm.h"

#define ENVELOPE_NONCE_LEN	12
#define ENVELOPE_TAG_LEN	16

typedef struct envelope envelope;

typedef enum { SEAL_MEMORY = 0, SEAL_TOKEN = 1 } seal_mode;

/* seal_mode_parse maps "memory" and "token". */
int seal_mode_parse(const char *s, seal_mode *out);
const char *seal_mode_name(seal_mode m);

/*
 * envelope_new binds to an open token (borrowed: it must outlive the
 * envelope).  SEAL_TOKEN on a token without AES-GCM or without an AES
 * master key gives CAP_ERR_UNSUPPORTED (logged with what the token lacks);
 * SEAL_TOKEN on a token without a master key gives CAP_ERR_NO_MASTER_KEY.
 */
int envelope_new(hsm *h, seal_mode mode, envelope **out)
    __attribute__((warn_unused_result));
/* envelope_free wipes every cached key; NULL is a no-op. */
void envelope_free(envelope *e);
seal_mode envelope_mode(const envelope *e);

/*
 * envelope_dk_new creates a fresh DK in the token and returns it wrapped
 * under the master key (malloc'd) with its wrap mechanism, for the store.
 */
int envelope_dk_new(envelope *e, uint8_t **wrapped, size_t *wrapped_len,
    int *wrap_mech) __attribute__((warn_unused_result));

/*
 * envelope_dk_load unwraps and caches DK (domain, key_version) unless it is
 * cached already (the blob is then not looked at).  CAP_ERR_CRYPTO if it
 * does not unwrap, CAP_ERR_INVALID for an empty blob, a domain over
 * CAP_NAME_MAX or key version 0.
 */
int envelope_dk_load(envelope *e, const char *domain, uint32_t key_version,
    const uint8_t *wrapped, size_t wrapped_len, int wrap_mech)
    __attribute__((warn_unused_result));
/* envelope_dk_cached: 1 if (domain, key_version) is loaded. */
int envelope_dk_cached(envelope *e, const char *domain, uint32_t key_version);
/* envelope_dk_forget wipes (or destroys in the token) every DK of a domain. */
void envelope_dk_forget(envelope *e, const char *domain);

/*
 * envelope_seal encrypts pt under DK (domain, key_version), which must be
 * loaded (CAP_ERR_NOT_FOUND otherwise).  Writes a fresh nonce and returns
 * ct = ciphertext || tag (ptlen + ENVELOPE_TAG_LEN bytes, malloc'd; the
 * caller frees it).  CAP_ERR_INVALID for an empty or over-long domain or
 * name.
 */
int envelope_seal(envelope *e, const char *domain, uint32_t key_version,
    const char *name, uint32_t version, const uint8_t *pt, size_t ptlen,
    uint8_t nonce[ENVELOPE_NONCE_LEN], uint8_t **ct, size_t *ctlen)
    __attribute__((warn_unused_result));

/*
 * envelope_open decrypts and authenticates.  *pt is heap memory with a
 * NUL after the ptlen bytes; release it with envelope_plaintext_free, which
 * wipes it.  CAP_ERR_CRYPTO if anything (ciphertext, nonce, tag, domain,
 * name, version) does not match; CAP_ERR_NOT_FOUND if the DK is not
 * loaded.  On failure *pt is NULL and no decrypted byte is left anywhere.
 */
int envelope_open(envelope *e, const char *domain, uint32_t key_version,
    const char *name, uint32_t version, const uint8_t nonce[ENVELOPE_NONCE_LEN],
    const uint8_t *ct, size_t ctlen, uint8_t **pt, size_t *ptlen)
    __attribute__((warn_unused_result));
void envelope_plaintext_free(uint8_t *pt, size_t ptlen);

#endif
