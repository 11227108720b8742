/*
 * envelope.c - envelope encryption of secrets under token-wrapped domain keys.
 *
 * The keyring is a sorted array of entries keyed by (domain, key version),
 * searched by bisection under a read-write lock.  Seal and open hold the
 * read lock for the whole cipher operation, so forget and free (write lock)
 * never pull a key out from under a running operation.  Unwrapping happens
 * outside the lock: token calls are slow and serialised in hsm/, and two
 * threads racing to load the same key simply keep the first one cached.
 */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "crypto/envelope.h"

#define AAD_LABEL	"capstone-secret-v1"
/* label NUL domain NUL name NUL u32be(version) */
#define AAD_MAX		(sizeof(AAD_LABEL) + 2 * (CAP_NAME_MAX + 1) + 4)

/* Largest ciphertext accepted: OpenSSL takes int lengths. */
#define ENVELOPE_CT_MAX	((size_t)INT_MAX - ENVELOPE_TAG_LEN)

struct dk_entry {
	char		domain[CAP_NAME_MAX + 1];
	uint32_t	key_version;
	uint8_t		*key;	/* SEAL_MEMORY: HSM_DK_LEN bytes, sodium_malloc'd */
	hsm_obj		obj;	/* SEAL_TOKEN: session object in the token */
};

struct envelope {
	hsm		*h;	/* borrowed */
	seal_mode	mode;
	pthread_rwlock_t lock;
	struct dk_entry	**ring;	/* sorted by (domain, key_version) */
	size_t		n, cap;
};

int
seal_mode_parse(const char *s, seal_mode *out)
{
	if (s == NULL || out == NULL)
		return CAP_ERR_INVALID;
	if (strcmp(s, "memory") == 0)
		*out = SEAL_MEMORY;
	else if (strcmp(s, "token") == 0)
		*out = SEAL_TOKEN;
	else
		return CAP_ERR_INVALID;
	return 0;
}

const char *
seal_mode_name(seal_mode m)
{
	switch (m) {
	case SEAL_MEMORY:	return "memory";
	case SEAL_TOKEN:	return "token";
	}
	return "unknown";
}

static int
domain_valid(const char *domain)
{
	return domain != NULL && domain[0] != '\0' &&
	    strnlen(domain, CAP_NAME_MAX + 1) <= CAP_NAME_MAX;
}

/* Wipes and releases one entry; the caller has removed it from the ring. */
static void
entry_free(envelope *e, struct dk_entry *d)
{
	if (d == NULL)
		return;
	if (d->key != NULL) {
		sodium_mprotect_readwrite(d->key);
		sodium_memzero(d->key, HSM_DK_LEN);
		sodium_free(d->key);
	}
	if (d->obj != 0 && hsm_obj_destroy(e->h, d->obj) != 0)
		log_warn("envelope: could not destroy the token object of "
		    "domain key %s/%u", d->domain, d->key_version);
	sodium_memzero(d, sizeof(*d));
	free(d);
}

static int
entry_cmp(const char *domain, uint32_t kv, const struct dk_entry *d)
{
	int c;

	if ((c = strcmp(domain, d->domain)) != 0)
		return c;
	if (kv != d->key_version)
		return kv < d->key_version ? -1 : 1;
	return 0;
}

/*
 * Bisection: returns 1 and the index if found, else 0 and the index where
 * the entry would be inserted.  Called with the lock held.
 */
static int
ring_find(const envelope *e, const char *domain, uint32_t kv, size_t *pos)
{
	size_t lo = 0, hi = e->n, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = entry_cmp(domain, kv, e->ring[mid]);
		if (c == 0) {
			*pos = mid;
			return 1;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*pos = lo;
	return 0;
}

int
envelope_new(hsm *h, seal_mode mode, envelope **out)
{
	envelope *e = NULL;
	const hsm_caps *caps;
	hsm_mk_info mk;
	int r;

	if (out == NULL)
		return CAP_ERR_INVALID;
	*out = NULL;
	if (h == NULL || (mode != SEAL_MEMORY && mode != SEAL_TOKEN))
		return CAP_ERR_INVALID;
	if (sodium_init() < 0) {
		log_error("envelope: libsodium failed to initialise");
		return CAP_ERR_INTERNAL;
	}
	if (mode == SEAL_TOKEN) {
		caps = hsm_get_caps(h);
		memset(&mk, 0, sizeof(mk));
		if ((r = hsm_mk_info_get(h, &mk)) != 0) {
			log_error("envelope: seal = token: cannot read the "
			    "master key: %s", cap_strerror(r));
			return r;
		}
		if (caps == NULL || !caps->aes_gcm || mk.kind != HSM_MK_AES) {
			log_error("seal = token needs AES-GCM and an AES master "
			    "key in the token; this token has %s and %s master "
			    "key; use seal = memory",
			    caps != NULL && caps->aes_gcm ?
			    "AES-GCM" : "no AES-GCM",
			    mk.kind == HSM_MK_RSA ? "an RSA" : "no AES");
			return CAP_ERR_UNSUPPORTED;
		}
	}
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return CAP_ERR_NOMEM;
	if (pthread_rwlock_init(&e->lock, NULL) != 0) {
		free(e);
		return CAP_ERR_INTERNAL;
	}
	e->h = h;
	e->mode = mode;
	*out = e;
	return 0;
}

void
envelope_free(envelope *e)
{
	size_t i;

	if (e == NULL)
		return;
	for (i = 0; i < e->n; i++)
		entry_free(e, e->ring[i]);
	free(e->ring);
	pthread_rwlock_destroy(&e->lock);
	free(e);
}

seal_mode
envelope_mode(const envelope *e)
{
	return e->mode;
}

int
envelope_dk_new(envelope *e, uint8_t **wrapped, size_t *wrapped_len,
    int *wrap_mech)
{
	if (wrapped != NULL)
		*wrapped = NULL;
	if (wrapped_len != NULL)
		*wrapped_len = 0;
	if (e == NULL || wrapped == NULL || wrapped_len == NULL ||
	    wrap_mech == NULL)
		return CAP_ERR_INVALID;
	return hsm_dk_generate(e->h, wrapped, wrapped_len, wrap_mech);
}

int
envelope_dk_cached(envelope *e, const char *domain, uint32_t key_version)
{
	size_t pos;
	int found;

	if (e == NULL || !domain_valid(domain))
		return 0;
	pthread_rwlock_rdlock(&e->lock);
	found = ring_find(e, domain, key_version, &pos);
	pthread_rwlock_unlock(&e->lock);
	return found;
}

int
envelope_dk_load(envelope *e, const char *domain, uint32_t key_version,
    const uint8_t *wrapped, size_t wrapped_len, int wrap_mech)
{
	struct dk_entry *d = NULL, **nring;
	size_t pos, ncap;
	int r, locked = 0;

	if (e == NULL || !domain_valid(domain) || key_version == 0 ||
	    wrapped == NULL || wrapped_len == 0)
		return CAP_ERR_INVALID;
	if (envelope_dk_cached(e, domain, key_version))
		return 0;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return CAP_ERR_NOMEM;
	memcpy(d->domain, domain, strlen(domain) + 1);
	d->key_version = key_version;
	if (e->mode == SEAL_MEMORY) {
		if ((d->key = sodium_malloc(HSM_DK_LEN)) == NULL) {
			r = CAP_ERR_NOMEM;
			goto out;
		}
		if ((r = hsm_dk_unwrap_raw(e->h, wrapped, wrapped_len,
		    wrap_mech, d->key)) != 0)
			goto out;
		/* Nothing writes the key again until it is wiped. */
		sodium_mprotect_readonly(d->key);
	} else {
		if ((r = hsm_dk_unwrap_obj(e->h, wrapped, wrapped_len,
		    wrap_mech, &d->obj)) != 0)
			goto out;
	}

	pthread_rwlock_wrlock(&e->lock);
	locked = 1;
	if (ring_find(e, domain, key_version, &pos)) {
		/* Another thread loaded it meanwhile; keep theirs. */
		r = 0;
		goto out;
	}
	if (e->n == e->cap) {
		ncap = e->cap == 0 ? 16 : e->cap * 2;
		if ((nring = reallocarray(e->ring, ncap,
		    sizeof(*nring))) == NULL) {
			r = CAP_ERR_NOMEM;
			goto out;
		}
		e->ring = nring;
		e->cap = ncap;
	}
	memmove(&e->ring[pos + 1], &e->ring[pos],
	    (e->n - pos) * sizeof(*e->ring));
	e->ring[pos] = d;	/* transferred */
	e->n++;
	d = NULL;
	r = 0;
 out:
	if (locked)
		pthread_rwlock_unlock(&e->lock);
	if (r != 0 && r != CAP_ERR_NOMEM)
		log_warn("envelope: domain key %s/%u did not load: %s",
		    domain, key_version, cap_strerror(r));
	entry_free(e, d);
	return r;
}

void
envelope_dk_forget(envelope *e, const char *domain)
{
	size_t lo, hi;

	if (e == NULL || !domain_valid(domain))
		return;
	pthread_rwlock_wrlock(&e->lock);
	/* Entries of one domain are contiguous; key versions start at 1. */
	ring_find(e, domain, 0, &lo);
	for (hi = lo; hi < e->n && strcmp(e->ring[hi]->domain, domain) == 0;
	    hi++)
		entry_free(e, e->ring[hi]);
	if (hi > lo) {
		memmove(&e->ring[lo], &e->ring[hi],
		    (e->n - hi) * sizeof(*e->ring));
		e->n -= hi - lo;
	}
	pthread_rwlock_unlock(&e->lock);
}

/*
 * Associated data: the label, domain and name, each NUL-terminated (names
 * cannot contain NUL, so the split is unambiguous), then the secret version
 * as four big-endian bytes.
 */
static int
aad_build(const char *domain, const char *name, uint32_t version,
    uint8_t aad[AAD_MAX], size_t *aadlen)
{
	size_t dl, nl, off = 0;

	if (!domain_valid(domain) || name == NULL || name[0] == '\0' ||
	    (nl = strnlen(name, CAP_NAME_MAX + 1)) > CAP_NAME_MAX)
		return CAP_ERR_INVALID;
	dl = strlen(domain);
	memcpy(aad + off, AAD_LABEL, sizeof(AAD_LABEL));
	off += sizeof(AAD_LABEL);
	memcpy(aad + off, domain, dl + 1);
	off += dl + 1;
	memcpy(aad + off, name, nl + 1);
	off += nl + 1;
	aad[off++] = (uint8_t)(version >> 24);
	aad[off++] = (uint8_t)(version >> 16);
	aad[off++] = (uint8_t)(version >> 8);
	aad[off++] = (uint8_t)version;
	*aadlen = off;
	return 0;
}

/* AES-256-GCM in this process; one cipher context per call. */
static int
mem_gcm(int enc, const uint8_t *key, const uint8_t nonce[ENVELOPE_NONCE_LEN],
    const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t inlen,
    uint8_t *out, uint8_t tag[ENVELOPE_TAG_LEN])
{
	EVP_CIPHER_CTX *ctx = NULL;
	int len, r = CAP_ERR_INTERNAL;

	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		return CAP_ERR_NOMEM;
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL,
	    enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN,
	    ENVELOPE_NONCE_LEN, NULL) != 1 ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc) != 1 ||
	    EVP_CipherUpdate(ctx, NULL, &len, aad, (int)aadlen) != 1)
		goto out;
	if (inlen > 0 &&
	    EVP_CipherUpdate(ctx, out, &len, in, (int)inlen) != 1)
		goto out;
	if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG,
	    ENVELOPE_TAG_LEN, tag) != 1)
		goto out;
	/* GCM writes nothing in the final step. */
	if (EVP_CipherFinal_ex(ctx, out + inlen, &len) != 1) {
		r = enc ? CAP_ERR_INTERNAL : CAP_ERR_CRYPTO;
		goto out;
	}
	if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG,
	    ENVELOPE_TAG_LEN, tag) != 1)
		goto out;
	r = 0;
 out:
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

int
envelope_seal(envelope *e, const char *domain, uint32_t key_version,
    const char *name, uint32_t version, const uint8_t *pt, size_t ptlen,
    uint8_t nonce[ENVELOPE_NONCE_LEN], uint8_t **ct, size_t *ctlen)
{
	uint8_t aad[AAD_MAX], none = 0, *buf = NULL;
	const struct dk_entry *d;
	size_t aadlen, pos, buflen = 0;
	int r, locked = 0;

	if (ct != NULL)
		*ct = NULL;
	if (ctlen != NULL)
		*ctlen = 0;
	if (e == NULL || nonce == NULL || ct == NULL || ctlen == NULL ||
	    (pt == NULL && ptlen != 0))
		return CAP_ERR_INVALID;
	if (ptlen > ENVELOPE_CT_MAX)
		return CAP_ERR_TOO_LARGE;
	if ((r = aad_build(domain, name, version, aad, &aadlen)) != 0)
		return r;
	buflen = ptlen + ENVELOPE_TAG_LEN;
	if ((buf = malloc(buflen)) == NULL)
		return CAP_ERR_NOMEM;
	/* The token's generator is slow; libsodium's is a CSPRNG too. */
	randombytes_buf(nonce, ENVELOPE_NONCE_LEN);

	pthread_rwlock_rdlock(&e->lock);
	locked = 1;
	if (!ring_find(e, domain, key_version, &pos)) {
		r = CAP_ERR_NOT_FOUND;
		goto out;
	}
	d = e->ring[pos];
	if (e->mode == SEAL_MEMORY)
		r = mem_gcm(1, d->key, nonce, aad, aadlen, pt, ptlen, buf,
		    buf + ptlen);
	else
		r = hsm_gcm_encrypt(e->h, d->obj, nonce, aad, aadlen,
		    ptlen == 0 ? &none : pt, ptlen, buf);
	if (r != 0)
		goto out;
	*ct = buf;	/* transferred */
	*ctlen = buflen;
	buf = NULL;
	r = 0;
 out:
	if (locked)
		pthread_rwlock_unlock(&e->lock);
	if (buf != NULL) {
		sodium_memzero(buf, buflen);
		free(buf);
	}
	return r;
}

int
envelope_open(envelope *e, const char *domain, uint32_t key_version,
    const char *name, uint32_t version, const uint8_t nonce[ENVELOPE_NONCE_LEN],
    const uint8_t *ct, size_t ctlen, uint8_t **pt, size_t *ptlen)
{
	uint8_t aad[AAD_MAX], tag[ENVELOPE_TAG_LEN], *buf = NULL;
	const struct dk_entry *d;
	size_t aadlen, pos, len = 0;
	int r, locked = 0;

	if (pt != NULL)
		*pt = NULL;
	if (ptlen != NULL)
		*ptlen = 0;
	if (e == NULL || nonce == NULL || ct == NULL || pt == NULL ||
	    ptlen == NULL)
		return CAP_ERR_INVALID;
	if (ctlen < ENVELOPE_TAG_LEN)
		return CAP_ERR_CRYPTO;
	if (ctlen > ENVELOPE_CT_MAX)
		return CAP_ERR_TOO_LARGE;
	if ((r = aad_build(domain, name, version, aad, &aadlen)) != 0)
		return r;
	len = ctlen - ENVELOPE_TAG_LEN;
	/*
	 * Room for the NUL that follows the plaintext.  Plaintext lives for
	 * one request: heap memory wiped by envelope_plaintext_free; guarded,
	 * locked sodium_malloc pages are kept for long-lived keys, where their
	 * per-call system calls do not matter.
	 */
	if ((buf = malloc(len + 1)) == NULL)
		return CAP_ERR_NOMEM;

	pthread_rwlock_rdlock(&e->lock);
	locked = 1;
	if (!ring_find(e, domain, key_version, &pos)) {
		r = CAP_ERR_NOT_FOUND;
		goto out;
	}
	d = e->ring[pos];
	if (e->mode == SEAL_MEMORY) {
		memcpy(tag, ct + len, ENVELOPE_TAG_LEN);
		r = mem_gcm(0, d->key, nonce, aad, aadlen, ct, len, buf, tag);
	} else
		r = hsm_gcm_decrypt(e->h, d->obj, nonce, aad, aadlen, ct,
		    ctlen, buf);
	if (r != 0)
		goto out;
	buf[len] = '\0';
	*pt = buf;	/* transferred */
	*ptlen = len;
	buf = NULL;
	r = 0;
 out:
	if (locked)
		pthread_rwlock_unlock(&e->lock);
	if (buf != NULL) {
		/* A failed open leaves no unauthenticated bytes behind. */
		sodium_memzero(buf, len + 1);
		free(buf);
	}
	return r;
}

void
envelope_plaintext_free(uint8_t *pt, size_t ptlen)
{
	if (pt == NULL)
		return;
	sodium_memzero(pt, ptlen + 1);
	free(pt);
}
