/*
 * vault.c - the secret service over envelope.h and store.h.
 *
 * Domain creation and deletion hold the vault's lock for writing; every
 * other call holds it for reading.  That keeps a domain deleted and
 * created again under the same name from ever being served by a key of
 * its previous life still cached in the envelope: no read of an old
 * wrapped key can be in flight while the cache for that name is dropped.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "crypto/vault.h"

#define PUT_RETRIES	16	/* optimistic write attempts without CAS */
#define ROTATE_RETRIES	4	/* rotations racing another rotation */

struct vault {
	envelope	*e;	/* borrowed */
	store		*s;	/* borrowed */
	pthread_rwlock_t lock;
};

int
vault_new(envelope *e, store *s, vault **out)
{
	pthread_rwlockattr_t attr;
	vault *v;
	int r;

	if (out == NULL)
		return CAP_ERR_INVALID;
	*out = NULL;
	if (e == NULL || s == NULL)
		return CAP_ERR_INVALID;
	if ((v = calloc(1, sizeof(*v))) == NULL)
		return CAP_ERR_NOMEM;
	/*
	 * Readers never take the lock twice, so writers may go first: a
	 * steady stream of reads must not starve domain creation.
	 */
	if (pthread_rwlockattr_init(&attr) != 0) {
		free(v);
		return CAP_ERR_INTERNAL;
	}
	pthread_rwlockattr_setkind_np(&attr,
	    PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	r = pthread_rwlock_init(&v->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (r != 0) {
		free(v);
		return CAP_ERR_INTERNAL;
	}
	v->e = e;
	v->s = s;
	*out = v;
	return 0;
}

void
vault_free(vault *v)
{
	if (v == NULL)
		return;
	pthread_rwlock_destroy(&v->lock);
	free(v);
}

static void
wrapped_free(uint8_t *w, size_t len)
{
	if (w == NULL)
		return;
	sodium_memzero(w, len);
	free(w);
}

/* Makes sure DK (domain, kv) is in the envelope's cache. */
static int
dk_ensure(vault *v, const char *domain, uint32_t kv)
{
	uint8_t *w = NULL;
	size_t wlen = 0;
	int mech = 0, r;

	if (envelope_dk_cached(v->e, domain, kv))
		return 0;
	if ((r = store_dkey_get(v->s, domain, kv, &w, &wlen, &mech)) != 0)
		goto out;
	r = envelope_dk_load(v->e, domain, kv, w, wlen, mech);
 out:
	wrapped_free(w, wlen);
	return r;
}

int
vault_domain_create(vault *v, const char *name, struct store_domain *out)
{
	uint8_t *w = NULL;
	size_t wlen = 0;
	uint64_t created;
	int mech = 0, r;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (v == NULL || !cap_name_valid(name))
		return CAP_ERR_INVALID;
	if ((r = envelope_dk_new(v->e, &w, &wlen, &mech)) != 0)
		return r;
	created = cap_now();
	pthread_rwlock_wrlock(&v->lock);
	r = store_domain_create(v->s, name, created, w, wlen, mech);
	if (r == 0)
		envelope_dk_forget(v->e, name);
	pthread_rwlock_unlock(&v->lock);
	if (r != 0)
		goto out;
	if (out != NULL) {
		memcpy(out->name, name, strlen(name) + 1);
		out->created = created;
		out->key_version = 1;
	}
	log_info("vault: domain %s created", name);
 out:
	wrapped_free(w, wlen);
	return r;
}

int
vault_domain_get(vault *v, const char *name, struct store_domain *out)
{
	if (v == NULL || out == NULL || !cap_name_valid(name))
		return CAP_ERR_INVALID;
	return store_domain_get(v->s, name, out);
}

int
vault_domain_list(vault *v, char ***names, size_t *n)
{
	if (v == NULL || names == NULL || n == NULL)
		return CAP_ERR_INVALID;
	return store_domain_list(v->s, names, n);
}

int
vault_domain_delete(vault *v, const char *name, int force)
{
	int r;

	if (v == NULL || !cap_name_valid(name))
		return CAP_ERR_INVALID;
	pthread_rwlock_wrlock(&v->lock);
	if ((r = store_domain_delete(v->s, name, force)) == 0)
		envelope_dk_forget(v->e, name);
	pthread_rwlock_unlock(&v->lock);
	if (r == 0)
		log_info("vault: domain %s deleted", name);
	return r;
}

int
vault_domain_rotate(vault *v, const char *name, struct store_domain *out)
{
	struct store_domain d;
	uint8_t *w = NULL;
	size_t wlen = 0;
	uint32_t nv = 0;
	int mech = 0, r = CAP_ERR_CONFLICT, attempt;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (v == NULL || !cap_name_valid(name))
		return CAP_ERR_INVALID;
	pthread_rwlock_rdlock(&v->lock);
	if ((r = store_domain_get(v->s, name, &d)) != 0)
		goto out;
	if ((r = envelope_dk_new(v->e, &w, &wlen, &mech)) != 0)
		goto out;
	for (attempt = 0; attempt < ROTATE_RETRIES; attempt++) {
		if (attempt > 0 &&
		    (r = store_domain_get(v->s, name, &d)) != 0)
			goto out;
		r = store_domain_add_key(v->s, name, d.key_version, w, wlen,
		    mech, &nv);
		if (r != CAP_ERR_CONFLICT)
			break;
	}
	if (r != 0)
		goto out;
	d.key_version = nv;
	if (out != NULL)
		*out = d;
	log_info("vault: domain %s rotated to key version %u", name, nv);
	r = 0;
 out:
	pthread_rwlock_unlock(&v->lock);
	wrapped_free(w, wlen);
	return r;
}

int
vault_secret_put(vault *v, const char *domain, const char *name,
    const uint8_t *data, size_t len, uint32_t cas, uint32_t *version)
{
	struct store_domain d;
	struct store_secret_meta latest;
	struct store_secret rec;
	uint32_t cur;
	int r, attempt;

	if (version != NULL)
		*version = 0;
	memset(&rec, 0, sizeof(rec));
	if (v == NULL || !cap_name_valid(domain) || !cap_name_valid(name) ||
	    (data == NULL && len != 0))
		return CAP_ERR_INVALID;
	if (len > VAULT_DATA_MAX)
		return CAP_ERR_TOO_LARGE;

	pthread_rwlock_rdlock(&v->lock);
	for (attempt = 0; attempt < PUT_RETRIES; attempt++) {
		if ((r = store_domain_get(v->s, domain, &d)) != 0)
			goto out;
		if ((r = dk_ensure(v, domain, d.key_version)) != 0)
			goto out;
		r = store_secret_latest(v->s, domain, name, &latest);
		if (r == CAP_ERR_NOT_FOUND)
			cur = 0;
		else if (r == 0)
			cur = latest.version;
		else
			goto out;
		if (cas != VAULT_CAS_NONE && cas != cur) {
			r = CAP_ERR_CONFLICT;
			goto out;
		}
		/* The next version must stay distinct from VAULT_CAS_NONE. */
		if (cur >= VAULT_CAS_NONE - 1) {
			r = CAP_ERR_INVALID;
			goto out;
		}
		memset(&rec, 0, sizeof(rec));
		rec.meta.version = cur + 1;
		rec.meta.created = cap_now();
		rec.meta.key_version = d.key_version;
		rec.meta.flags = 0;
		if ((r = envelope_seal(v->e, domain, d.key_version, name,
		    rec.meta.version, data, len, rec.nonce, &rec.ct,
		    &rec.ctlen)) != 0)
			goto out;
		r = store_secret_put(v->s, domain, name, cur, &rec);
		free(rec.ct);
		rec.ct = NULL;
		if (r == 0) {
			if (version != NULL)
				*version = rec.meta.version;
			goto out;
		}
		if (r != CAP_ERR_CONFLICT || cas != VAULT_CAS_NONE)
			goto out;
	}
	log_warn("vault: %s/%s: gave up after %d conflicting writes",
	    domain, name, PUT_RETRIES);
	r = CAP_ERR_CONFLICT;
 out:
	pthread_rwlock_unlock(&v->lock);
	return r;
}

int
vault_secret_get(vault *v, const char *domain, const char *name,
    uint32_t version, uint8_t **data, size_t *len,
    struct store_secret_meta *meta)
{
	struct store_secret *rec = NULL;
	int r;

	if (data != NULL)
		*data = NULL;
	if (len != NULL)
		*len = 0;
	if (meta != NULL)
		memset(meta, 0, sizeof(*meta));
	if (v == NULL || data == NULL || len == NULL ||
	    !cap_name_valid(domain) || !cap_name_valid(name))
		return CAP_ERR_INVALID;

	pthread_rwlock_rdlock(&v->lock);
	if ((r = store_secret_get(v->s, domain, name, version, &rec)) != 0)
		goto out;
	if ((rec->meta.flags &
	    (STORE_SECRET_DELETED | STORE_SECRET_DESTROYED)) != 0 ||
	    rec->ct == NULL) {
		r = CAP_ERR_NOT_FOUND;
		goto out;
	}
	if ((r = dk_ensure(v, domain, rec->meta.key_version)) != 0)
		goto out;
	if ((r = envelope_open(v->e, domain, rec->meta.key_version, name,
	    rec->meta.version, rec->nonce, rec->ct, rec->ctlen, data,
	    len)) != 0) {
		if (r == CAP_ERR_CRYPTO)
			log_error("vault: %s/%s version %u failed to "
			    "authenticate", domain, name, rec->meta.version);
		goto out;
	}
	if (meta != NULL)
		*meta = rec->meta;
	r = 0;
 out:
	pthread_rwlock_unlock(&v->lock);
	store_secret_free(rec);
	return r;
}

int
vault_secret_list(vault *v, const char *domain, char ***names, size_t *n)
{
	if (v == NULL || names == NULL || n == NULL || !cap_name_valid(domain))
		return CAP_ERR_INVALID;
	return store_secret_list(v->s, domain, names, n);
}

int
vault_secret_versions(vault *v, const char *domain, const char *name,
    struct store_secret_meta **out, size_t *n)
{
	if (v == NULL || out == NULL || n == NULL ||
	    !cap_name_valid(domain) || !cap_name_valid(name))
		return CAP_ERR_INVALID;
	return store_secret_versions(v->s, domain, name, out, n);
}

int
vault_secret_delete(vault *v, const char *domain, const char *name)
{
	if (v == NULL || !cap_name_valid(domain) || !cap_name_valid(name))
		return CAP_ERR_INVALID;
	return store_secret_delete(v->s, domain, name);
}

int
vault_secret_destroy(vault *v, const char *domain, const char *name,
    const uint32_t *versions, size_t n)
{
	if (v == NULL || !cap_name_valid(domain) || !cap_name_valid(name) ||
	    (versions == NULL && n != 0))
		return CAP_ERR_INVALID;
	return store_secret_destroy(v->s, domain, name, versions, n);
}
