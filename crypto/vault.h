/*
 * vault.h - the secret service: domains and versioned secrets, encrypted by
 * envelope.h and kept by store.h.
 *
 * This is what the REST API and the unit tests drive.  Secret data is a
 * JSON object serialised compactly; it is sealed under the domain's newest
 * key version and opened with whichever version sealed it.  Writes are
 * optimistic: the version is read, the data sealed for version + 1, and the
 * store refuses the write if another writer got there first (the vault
 * retries unless the caller asked for check-and-set).  Domain keys are
 * loaded into the envelope on first use of each (domain, key version).
 * Names are checked with cap_name_valid: CAP_ERR_INVALID otherwise.
 *
 * Thread-safe.  Returns 0 or a negative CAP_ERR_*.
 */
#ifndef CAP_VAULT_H
#define CAP_VAULT_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/envelope.h"
#include "store/store.h"

#define VAULT_DATA_MAX	(512 * 1024)	/* largest plaintext of one secret */
#define VAULT_CAS_NONE	UINT32_MAX	/* no check-and-set */

typedef struct vault vault;

/* vault_new borrows e and s, which must outlive the vault. */
int vault_new(envelope *e, store *s, vault **out)
    __attribute__((warn_unused_result));
void vault_free(vault *v);

int vault_domain_create(vault *v, const char *name, struct store_domain *out)
    __attribute__((warn_unused_result));
int vault_domain_get(vault *v, const char *name, struct store_domain *out)
    __attribute__((warn_unused_result));
int vault_domain_list(vault *v, char ***names, size_t *n)
    __attribute__((warn_unused_result));
/*
 * vault_domain_delete drops the domain, its keys and every secret, and
 * forgets its cached keys.  Without force, CAP_ERR_CONFLICT while it holds
 * a live secret.
 */
int vault_domain_delete(vault *v, const char *name, int force)
    __attribute__((warn_unused_result));
/*
 * vault_domain_rotate adds a new DK version; new writes use it, older
 * secrets keep opening with the version that sealed them.
 */
int vault_domain_rotate(vault *v, const char *name, struct store_domain *out)
    __attribute__((warn_unused_result));

/*
 * vault_secret_put stores data (len bytes of JSON object text) as a new
 * version.  cas: VAULT_CAS_NONE, or the version that must be current
 * (0 = the secret must not exist; a deleted or destroyed newest version
 * still counts as current); CAP_ERR_CONFLICT on mismatch.  Without cas,
 * writes racing other writers are retried a bounded number of times.
 * CAP_ERR_TOO_LARGE over VAULT_DATA_MAX, CAP_ERR_NOT_FOUND for a missing
 * domain.  *version (may be NULL) receives the version written.
 */
int vault_secret_put(vault *v, const char *domain, const char *name,
    const uint8_t *data, size_t len, uint32_t cas, uint32_t *version)
    __attribute__((warn_unused_result));

/*
 * vault_secret_get opens version `version` (0 = newest).  CAP_ERR_NOT_FOUND
 * for a missing domain, secret or version, and for a deleted or destroyed
 * version.  *data is sodium_malloc'd, NUL-terminated after len bytes, and
 * released with envelope_plaintext_free; meta may be NULL.
 * CAP_ERR_CRYPTO if the stored ciphertext does not authenticate.
 */
int vault_secret_get(vault *v, const char *domain, const char *name,
    uint32_t version, uint8_t **data, size_t *len,
    struct store_secret_meta *meta) __attribute__((warn_unused_result));

int vault_secret_list(vault *v, const char *domain, char ***names, size_t *n)
    __attribute__((warn_unused_result));
int vault_secret_versions(vault *v, const char *domain, const char *name,
    struct store_secret_meta **out, size_t *n)
    __attribute__((warn_unused_result));
int vault_secret_delete(vault *v, const char *domain, const char *name)
    __attribute__((warn_unused_result));
int vault_secret_destroy(vault *v, const char *domain, const char *name,
    const uint32_t *versions, size_t n) __attribute__((warn_unused_result));

#endif
