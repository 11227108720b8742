/*
 * hsm_keys.c - the master key, domain-key wrapping and AES-GCM in the
 * token.
 *
 * Objects are created and destroyed on the owner session under obj_mtx:
 * SoftHSM 2.6 is not safe creating objects from several threads, and
 * session objects die with the session that made them, so the one that
 * lives as long as the hsm makes them.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <sodium.h>

#include "common/err.h"
#include "common/log.h"
#include "hsm/hsm_int.h"

#define DK_WRAPPED_MAX	1024	/* longest wrapped domain key accepted */
#define GCM_MAX		(1U << 30)

#define ATTR(t, p, l)	{ (t), (void *)(p), (CK_ULONG)(l) }

int
hsm_find_one(hsm *h, CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl, CK_ULONG n,
    CK_OBJECT_HANDLE *obj)
{
	CK_OBJECT_HANDLE found[2];
	CK_ULONG nfound = 0;
	CK_RV rv;

	*obj = CK_INVALID_HANDLE;
	if ((rv = h->fl->C_FindObjectsInit(s, tmpl, n)) != CKR_OK)
		return hsm_ckr_err("C_FindObjectsInit", rv);
	rv = h->fl->C_FindObjects(s, found, 2, &nfound);
	h->fl->C_FindObjectsFinal(s);
	if (rv != CKR_OK)
		return hsm_ckr_err("C_FindObjects", rv);
	if (nfound == 0)
		return CAP_ERR_NOT_FOUND;
	if (nfound > 1)
		log_warn("hsm: %lu objects match where one was expected; "
		    "using the first", (unsigned long)nfound);
	*obj = found[0];
	return 0;
}

/* ---- master key ---- */

/*
 * Find the master key: an AES secret key, or an RSA private key with its
 * public half, labelled HSM_MK_LABEL.
 */
static int
mk_find(hsm *h, CK_SESSION_HANDLE s, hsm_mk_kind *kind,
    CK_OBJECT_HANDLE *key, CK_OBJECT_HANDLE *pub)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[] = {
		ATTR(CKA_CLASS, &cls, sizeof(cls)),
		ATTR(CKA_LABEL, HSM_MK_LABEL, strlen(HSM_MK_LABEL)),
	};
	int r;

	*kind = HSM_MK_NONE;
	*key = *pub = CK_INVALID_HANDLE;
	if ((r = hsm_find_one(h, s, t, 2, key)) == 0) {
		*kind = HSM_MK_AES;
		return 0;
	}
	if (r != CAP_ERR_NOT_FOUND)
		return r;
	cls = CKO_PRIVATE_KEY;
	if ((r = hsm_find_one(h, s, t, 2, key)) != 0)
		return r == CAP_ERR_NOT_FOUND ? CAP_ERR_NO_MASTER_KEY : r;
	cls = CKO_PUBLIC_KEY;
	if ((r = hsm_find_one(h, s, t, 2, pub)) != 0) {
		log_error("hsm: the RSA master key has no public half");
		return r == CAP_ERR_NOT_FOUND ? CAP_ERR_NO_MASTER_KEY : r;
	}
	*kind = HSM_MK_RSA;
	return 0;
}

static int
mk_gen_aes(hsm *h)
{
	CK_MECHANISM mech = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_ULONG vlen = 32;
	CK_BBOOL t = CK_TRUE, f = CK_FALSE;
	CK_ATTRIBUTE tmpl[] = {
		ATTR(CKA_CLASS, &cls, sizeof(cls)),
		ATTR(CKA_KEY_TYPE, &kt, sizeof(kt)),
		ATTR(CKA_VALUE_LEN, &vlen, sizeof(vlen)),
		ATTR(CKA_TOKEN, &t, sizeof(t)),
		ATTR(CKA_PRIVATE, &t, sizeof(t)),
		ATTR(CKA_SENSITIVE, &t, sizeof(t)),
		ATTR(CKA_EXTRACTABLE, &f, sizeof(f)),
		ATTR(CKA_WRAP, &t, sizeof(t)),
		ATTR(CKA_UNWRAP, &t, sizeof(t)),
		ATTR(CKA_ENCRYPT, &f, sizeof(f)),
		ATTR(CKA_DECRYPT, &f, sizeof(f)),
		ATTR(CKA_SIGN, &f, sizeof(f)),
		ATTR(CKA_VERIFY, &f, sizeof(f)),
		ATTR(CKA_DERIVE, &f, sizeof(f)),
		ATTR(CKA_LABEL, HSM_MK_LABEL, strlen(HSM_MK_LABEL)),
	};
	CK_OBJECT_HANDLE key;
	CK_RV rv;

	rv = h->fl->C_GenerateKey(h->owner, &mech, tmpl,
	    sizeof(tmpl) / sizeof(tmpl[0]), &key);
	return rv == CKR_OK ? 0 : hsm_ckr_err("C_GenerateKey(master)", rv);
}

static int
mk_gen_rsa(hsm *h)
{
	CK_MECHANISM mech = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	CK_ULONG bits = 3072;
	CK_BYTE e[] = { 0x01, 0x00, 0x01 };
	CK_BBOOL t = CK_TRUE, f = CK_FALSE;
	CK_ATTRIBUTE pubt[] = {
		ATTR(CKA_TOKEN, &t, sizeof(t)),
		ATTR(CKA_ENCRYPT, &t, sizeof(t)),
		ATTR(CKA_MODULUS_BITS, &bits, sizeof(bits)),
		ATTR(CKA_PUBLIC_EXPONENT, e, sizeof(e)),
		ATTR(CKA_LABEL, HSM_MK_LABEL, strlen(HSM_MK_LABEL)),
	};
	CK_ATTRIBUTE privt[] = {
		ATTR(CKA_TOKEN, &t, sizeof(t)),
		ATTR(CKA_PRIVATE, &t, sizeof(t)),
		ATTR(CKA_SENSITIVE, &t, sizeof(t)),
		ATTR(CKA_EXTRACTABLE, &f, sizeof(f)),
		ATTR(CKA_DECRYPT, &t, sizeof(t)),
		ATTR(CKA_LABEL, HSM_MK_LABEL, strlen(HSM_MK_LABEL)),
	};
	CK_OBJECT_HANDLE pub, priv;
	CK_RV rv;

	rv = h->fl->C_GenerateKeyPair(h->owner, &mech, pubt,
	    sizeof(pubt) / sizeof(pubt[0]), privt,
	    sizeof(privt) / sizeof(privt[0]), &pub, &priv);
	return rv == CKR_OK ? 0 :
	    hsm_ckr_err("C_GenerateKeyPair(master)", rv);
}

/* Does any object (an RSA pair has two) carry the master-key label? */
static int
mk_label_exists(hsm *h, CK_SESSION_HANDLE s)
{
	CK_ATTRIBUTE t[] = {
		ATTR(CKA_LABEL, HSM_MK_LABEL, strlen(HSM_MK_LABEL)),
	};
	CK_OBJECT_HANDLE o;
	CK_ULONG n = 0;
	CK_RV rv;

	if ((rv = h->fl->C_FindObjectsInit(s, t, 1)) != CKR_OK)
		return hsm_ckr_err("C_FindObjectsInit", rv);
	rv = h->fl->C_FindObjects(s, &o, 1, &n);
	h->fl->C_FindObjectsFinal(s);
	if (rv != CKR_OK)
		return hsm_ckr_err("C_FindObjects", rv);
	return n > 0 ? 0 : CAP_ERR_NOT_FOUND;
}

int
hsm_mk_init(hsm *h, hsm_mk_kind *kind_out)
{
	hsm_mk_kind kind = HSM_MK_NONE;
	int r;

	if (kind_out != NULL)
		*kind_out = HSM_MK_NONE;
	pthread_mutex_lock(&h->obj_mtx);
	if ((r = mk_label_exists(h, h->owner)) == 0) {
		log_error("hsm: an object labelled %s already exists; the "
		    "master key is never overwritten", HSM_MK_LABEL);
		r = CAP_ERR_EXISTS;
		goto out;
	}
	if (r != CAP_ERR_NOT_FOUND)
		goto out;
	if (h->caps.aes_keygen && h->caps.aes_key_wrap_pad) {
		kind = HSM_MK_AES;
		r = mk_gen_aes(h);
	} else if (h->caps.rsa_keygen && h->caps.rsa_oaep) {
		kind = HSM_MK_RSA;
		r = mk_gen_rsa(h);
	} else {
		log_error("hsm: the token can neither wrap with AES nor "
		    "decrypt RSA-OAEP; no master key possible");
		r = CAP_ERR_UNSUPPORTED;
	}
	if (r != 0)
		goto out;
	log_info("hsm: master key created (%s)",
	    kind == HSM_MK_AES ? "AES-256" : "RSA-3072");
	if (kind_out != NULL)
		*kind_out = kind;
	r = 0;
 out:
	pthread_mutex_unlock(&h->obj_mtx);
	return r;
}

int
hsm_mk_info_get(hsm *h, hsm_mk_info *out)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key, pub;
	CK_BBOOL tok = 0, sens = 0, ext = 0, asens = 0, next = 0;
	char label[65];
	CK_ATTRIBUTE a[] = {
		ATTR(CKA_TOKEN, &tok, sizeof(tok)),
		ATTR(CKA_SENSITIVE, &sens, sizeof(sens)),
		ATTR(CKA_EXTRACTABLE, &ext, sizeof(ext)),
		ATTR(CKA_ALWAYS_SENSITIVE, &asens, sizeof(asens)),
		ATTR(CKA_NEVER_EXTRACTABLE, &next, sizeof(next)),
		ATTR(CKA_LABEL, label, sizeof(label) - 1),
	};
	hsm_mk_kind kind;
	CK_RV rv;
	size_t i;
	int r;

	memset(out, 0, sizeof(*out));
	memset(label, 0, sizeof(label));
	if ((r = hsm_sess_get(h, &s)) != 0)
		return r;
	if ((r = mk_find(h, s, &kind, &key, &pub)) != 0)
		goto out;
	/*
	 * A token may not know some of these attributes; it then marks
	 * them unavailable and reports the others.
	 */
	rv = h->fl->C_GetAttributeValue(s, key, a, sizeof(a) / sizeof(a[0]));
	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID &&
	    rv != CKR_ATTRIBUTE_SENSITIVE) {
		r = hsm_ckr_err("C_GetAttributeValue(master)", rv);
		goto out;
	}
	for (i = 0; i < 5; i++)
		if (a[i].ulValueLen != sizeof(CK_BBOOL))
			*(CK_BBOOL *)a[i].pValue = 0;
	if (a[5].ulValueLen < sizeof(label))
		label[a[5].ulValueLen] = '\0';
	else
		label[0] = '\0';
	out->kind = kind;
	memcpy(out->label, label, sizeof(out->label));
	out->token = tok == CK_TRUE;
	out->sensitive = sens == CK_TRUE;
	out->extractable = ext == CK_TRUE;
	out->always_sensitive = asens == CK_TRUE;
	out->never_extractable = next == CK_TRUE;
	r = 0;
 out:
	hsm_sess_put(h, s);
	return r;
}

/* ---- domain keys ---- */

static int
mk_lookup(hsm *h, hsm_mk_kind *kind, CK_OBJECT_HANDLE *key,
    CK_OBJECT_HANDLE *pub)
{
	CK_SESSION_HANDLE s;
	int r;

	if ((r = hsm_sess_get(h, &s)) != 0)
		return r;
	r = mk_find(h, s, kind, key, pub);
	hsm_sess_put(h, s);
	return r;
}

/* Wrap with an AES master key: a temporary extractable key, wrapped. */
static int
dk_generate_aes(hsm *h, CK_OBJECT_HANDLE mk, uint8_t **wrapped,
    size_t *wrapped_len)
{
	CK_MECHANISM gen = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_MECHANISM wrap = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_ULONG vlen = HSM_DK_LEN, outlen;
	CK_BBOOL t = CK_TRUE, f = CK_FALSE;
	CK_ATTRIBUTE tmpl[] = {
		ATTR(CKA_CLASS, &cls, sizeof(cls)),
		ATTR(CKA_KEY_TYPE, &kt, sizeof(kt)),
		ATTR(CKA_VALUE_LEN, &vlen, sizeof(vlen)),
		ATTR(CKA_TOKEN, &f, sizeof(f)),
		ATTR(CKA_SENSITIVE, &f, sizeof(f)),
		ATTR(CKA_EXTRACTABLE, &t, sizeof(t)),
	};
	CK_OBJECT_HANDLE tmp = CK_INVALID_HANDLE;
	uint8_t *buf = NULL;
	CK_RV rv;
	int r;

	*wrapped = NULL;
	*wrapped_len = 0;
	pthread_mutex_lock(&h->obj_mtx);
	if ((rv = h->fl->C_GenerateKey(h->owner, &gen, tmpl,
	    sizeof(tmpl) / sizeof(tmpl[0]), &tmp)) != CKR_OK) {
		r = hsm_ckr_err("C_GenerateKey(domain)", rv);
		goto out;
	}
	outlen = 128;
	if ((buf = malloc(outlen)) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	if ((rv = h->fl->C_WrapKey(h->owner, &wrap, mk, tmp, buf, &outlen))
	    != CKR_OK) {
		r = hsm_ckr_err("C_WrapKey(domain)", rv);
		goto out;
	}
	*wrapped = buf;	/* transferred */
	*wrapped_len = outlen;
	buf = NULL;
	r = 0;
 out:
	if (tmp != CK_INVALID_HANDLE &&
	    (rv = h->fl->C_DestroyObject(h->owner, tmp)) != CKR_OK)
		log_warn("hsm: temporary domain key not destroyed: %s",
		    hsm_ckr_name(rv));
	pthread_mutex_unlock(&h->obj_mtx);
	free(buf);
	return r;
}

/* RSA-OAEP(SHA-1, MGF1-SHA-1, no label) with the public half in software. */
static int
dk_generate_rsa(hsm *h, CK_OBJECT_HANDLE pub, uint8_t **wrapped,
    size_t *wrapped_len)
{
	EVP_PKEY *pk = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	CK_SESSION_HANDLE s;
	uint8_t *dk = NULL, *buf = NULL;
	size_t outlen = 0;
	int r, have_s = 0;

	*wrapped = NULL;
	*wrapped_len = 0;
	if ((dk = sodium_malloc(HSM_DK_LEN)) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	if ((r = hsm_random(h, dk, HSM_DK_LEN)) != 0)
		goto out;
	if ((r = hsm_sess_get(h, &s)) != 0)
		goto out;
	have_s = 1;
	if ((r = hsm_pub_evp(h, s, pub, &pk)) != 0)
		goto out;
	r = CAP_ERR_INTERNAL;
	if ((ctx = EVP_PKEY_CTX_new(pk, NULL)) == NULL ||
	    EVP_PKEY_encrypt_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha1()) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha1()) <= 0 ||
	    EVP_PKEY_encrypt(ctx, NULL, &outlen, dk, HSM_DK_LEN) <= 0) {
		log_error("hsm: RSA-OAEP setup under the master key failed");
		goto out;
	}
	if ((buf = malloc(outlen)) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	if (EVP_PKEY_encrypt(ctx, buf, &outlen, dk, HSM_DK_LEN) <= 0) {
		log_error("hsm: RSA-OAEP encryption under the master key "
		    "failed");
		goto out;
	}
	*wrapped = buf;	/* transferred */
	*wrapped_len = outlen;
	buf = NULL;
	r = 0;
 out:
	if (have_s)
		hsm_sess_put(h, s);
	if (dk != NULL) {
		sodium_memzero(dk, HSM_DK_LEN);
		sodium_free(dk);
	}
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pk);
	free(buf);
	return r;
}

int
hsm_dk_generate(hsm *h, uint8_t **wrapped, size_t *wrapped_len, int *mech)
{
	CK_OBJECT_HANDLE key, pub;
	hsm_mk_kind kind;
	int r;

	*wrapped = NULL;
	*wrapped_len = 0;
	*mech = 0;
	if ((r = mk_lookup(h, &kind, &key, &pub)) != 0)
		return r;
	if (kind == HSM_MK_AES) {
		if ((r = dk_generate_aes(h, key, wrapped, wrapped_len)) == 0)
			*mech = HSM_WRAP_AES_KWP;
	} else {
		if ((r = dk_generate_rsa(h, pub, wrapped, wrapped_len)) == 0)
			*mech = HSM_WRAP_RSA_OAEP;
	}
	return r;
}

/*
 * Check the blob's mechanism against the master key; a mismatch means the
 * blob was not made under this key.
 */
static int
dk_check(hsm *h, const uint8_t *wrapped, size_t wrapped_len, int mech,
    hsm_mk_kind *kind, CK_OBJECT_HANDLE *key)
{
	CK_OBJECT_HANDLE pub;
	int r;

	if (wrapped == NULL || wrapped_len == 0)
		return CAP_ERR_INVALID;
	if (wrapped_len > DK_WRAPPED_MAX)
		return CAP_ERR_TOO_LARGE;
	if (mech != HSM_WRAP_AES_KWP && mech != HSM_WRAP_RSA_OAEP)
		return CAP_ERR_INVALID;
	if ((r = mk_lookup(h, kind, key, &pub)) != 0)
		return r;
	if ((*kind == HSM_MK_AES) != (mech == HSM_WRAP_AES_KWP)) {
		log_error("hsm: domain key wrapped with mechanism %d does not "
		    "match the master key", mech);
		return CAP_ERR_CRYPTO;
	}
	return 0;
}

/*
 * Unwrap failures caused by the blob itself are CAP_ERR_CRYPTO; tokens
 * differ in which CKR_* they report for a failed integrity check.
 */
static int
unwrap_err(const char *what, CK_RV rv)
{
	switch (rv) {
	case CKR_GENERAL_ERROR:
	case CKR_FUNCTION_FAILED:
	case CKR_DATA_INVALID:
	case CKR_DATA_LEN_RANGE:
	case CKR_ENCRYPTED_DATA_INVALID:
	case CKR_ENCRYPTED_DATA_LEN_RANGE:
	case CKR_WRAPPED_KEY_INVALID:
	case CKR_WRAPPED_KEY_LEN_RANGE:
		log_debug("hsm: %s: %s (0x%lx), taken as a failed integrity "
		    "check", what, hsm_ckr_name(rv), (unsigned long)rv);
		return CAP_ERR_CRYPTO;
	default:
		return hsm_ckr_err(what, rv);
	}
}

static int
dk_unwrap_rsa(hsm *h, CK_OBJECT_HANDLE key, const uint8_t *wrapped,
    size_t wrapped_len, uint8_t out[HSM_DK_LEN])
{
	CK_RSA_PKCS_OAEP_PARAMS oaep = {
		CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, NULL, 0
	};
	CK_MECHANISM mech = { CKM_RSA_PKCS_OAEP, &oaep, sizeof(oaep) };
	CK_SESSION_HANDLE s;
	CK_ULONG outlen = 512;
	uint8_t *buf = NULL;
	CK_RV rv;
	int r;

	if ((buf = sodium_malloc(outlen)) == NULL)
		return CAP_ERR_NOMEM;
	if ((r = hsm_sess_get(h, &s)) != 0)
		goto out;
	if ((rv = h->fl->C_DecryptInit(s, &mech, key)) != CKR_OK)
		r = hsm_ckr_err("C_DecryptInit(OAEP)", rv);
	else if ((rv = h->fl->C_Decrypt(s, (CK_BYTE_PTR)wrapped,
	    (CK_ULONG)wrapped_len, buf, &outlen)) != CKR_OK)
		r = unwrap_err("C_Decrypt(OAEP)", rv);
	else if (outlen != HSM_DK_LEN) {
		log_error("hsm: unwrapped domain key has %lu bytes",
		    (unsigned long)outlen);
		r = CAP_ERR_CRYPTO;
	} else {
		memcpy(out, buf, HSM_DK_LEN);
		r = 0;
	}
	hsm_sess_done(h, s, rv);
 out:
	sodium_memzero(buf, 512);
	sodium_free(buf);
	return r;
}

/*
 * Unwrap under an AES master key into a session object made from tmpl on
 * the owner session.  Call with obj_mtx held.
 */
static int
dk_unwrap_aes(hsm *h, CK_OBJECT_HANDLE mk, const uint8_t *wrapped,
    size_t wrapped_len, CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE *obj)
{
	CK_MECHANISM mech = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_RV rv;

	rv = h->fl->C_UnwrapKey(h->owner, &mech, mk, (CK_BYTE_PTR)wrapped,
	    (CK_ULONG)wrapped_len, tmpl, n, obj);
	if (rv != CKR_OK) {
		*obj = CK_INVALID_HANDLE;
		return unwrap_err("C_UnwrapKey(domain)", rv);
	}
	return 0;
}

/*
 * hsm_tmp_take copies the CKA_VALUE of the session object tmp, which must
 * be exactly len bytes (else bad_len), into out through locked memory,
 * and destroys tmp whatever happens.  Called with obj_mtx held; what
 * names the object in the log.
 */
int
hsm_tmp_take(hsm *h, CK_OBJECT_HANDLE tmp, uint8_t *out, size_t len,
    int bad_len, const char *what)
{
	CK_ATTRIBUTE val = ATTR(CKA_VALUE, NULL, 0);
	uint8_t *buf = NULL;
	char fn[64];
	CK_RV rv;
	int r;

	if (len == 0 || len > HSM_TMP_VALUE_MAX) {
		r = CAP_ERR_INVALID;
		goto out;
	}
	if ((buf = sodium_malloc(HSM_TMP_VALUE_MAX)) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	val.pValue = buf;
	val.ulValueLen = HSM_TMP_VALUE_MAX;
	if ((rv = h->fl->C_GetAttributeValue(h->owner, tmp, &val, 1))
	    != CKR_OK) {
		snprintf(fn, sizeof(fn), "C_GetAttributeValue(%s)", what);
		r = hsm_ckr_err(fn, rv);
		goto out;
	}
	if (val.ulValueLen != len) {
		log_error("hsm: %s of %lu bytes, expected %zu", what,
		    (unsigned long)val.ulValueLen, len);
		r = bad_len;
		goto out;
	}
	memcpy(out, buf, len);
	r = 0;
 out:
	if ((rv = h->fl->C_DestroyObject(h->owner, tmp)) != CKR_OK)
		log_warn("hsm: temporary %s not destroyed: %s", what,
		    hsm_ckr_name(rv));
	if (buf != NULL) {
		sodium_memzero(buf, HSM_TMP_VALUE_MAX);
		sodium_free(buf);
	}
	return r;
}

int
hsm_dk_unwrap_raw(hsm *h, const uint8_t *wrapped, size_t wrapped_len,
    int mech, uint8_t key[HSM_DK_LEN])
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_BBOOL t = CK_TRUE, f = CK_FALSE;
	CK_ATTRIBUTE tmpl[] = {
		ATTR(CKA_CLASS, &cls, sizeof(cls)),
		ATTR(CKA_KEY_TYPE, &kt, sizeof(kt)),
		ATTR(CKA_TOKEN, &f, sizeof(f)),
		ATTR(CKA_SENSITIVE, &f, sizeof(f)),
		ATTR(CKA_EXTRACTABLE, &t, sizeof(t)),
	};
	CK_OBJECT_HANDLE mk, tmp = CK_INVALID_HANDLE;
	hsm_mk_kind kind;
	int r;

	if ((r = dk_check(h, wrapped, wrapped_len, mech, &kind, &mk)) != 0)
		return r;
	if (kind == HSM_MK_RSA)
		return dk_unwrap_rsa(h, mk, wrapped, wrapped_len, key);

	pthread_mutex_lock(&h->obj_mtx);
	if ((r = dk_unwrap_aes(h, mk, wrapped, wrapped_len, tmpl,
	    sizeof(tmpl) / sizeof(tmpl[0]), &tmp)) == 0)
		r = hsm_tmp_take(h, tmp, key, HSM_DK_LEN, CAP_ERR_CRYPTO,
		    "unwrapped domain key");
	pthread_mutex_unlock(&h->obj_mtx);
	return r;
}

int
hsm_dk_unwrap_obj(hsm *h, const uint8_t *wrapped, size_t wrapped_len,
    int mech, hsm_obj *out)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_BBOOL t = CK_TRUE, f = CK_FALSE;
	CK_ATTRIBUTE tmpl[] = {
		ATTR(CKA_CLASS, &cls, sizeof(cls)),
		ATTR(CKA_KEY_TYPE, &kt, sizeof(kt)),
		ATTR(CKA_TOKEN, &f, sizeof(f)),
		ATTR(CKA_PRIVATE, &t, sizeof(t)),
		ATTR(CKA_SENSITIVE, &t, sizeof(t)),
		ATTR(CKA_EXTRACTABLE, &f, sizeof(f)),
		ATTR(CKA_ENCRYPT, &t, sizeof(t)),
		ATTR(CKA_DECRYPT, &t, sizeof(t)),
	};
	CK_OBJECT_HANDLE mk, obj = CK_INVALID_HANDLE;
	hsm_mk_kind kind;
	int r;

	*out = 0;
	if ((r = dk_check(h, wrapped, wrapped_len, mech, &kind, &mk)) != 0)
		return r;
	if (kind != HSM_MK_AES || !h->caps.aes_gcm) {
		log_error("hsm: seal = token needs an AES master key and "
		    "AES-GCM in the token");
		return CAP_ERR_UNSUPPORTED;
	}
	pthread_mutex_lock(&h->obj_mtx);
	r = dk_unwrap_aes(h, mk, wrapped, wrapped_len, tmpl,
	    sizeof(tmpl) / sizeof(tmpl[0]), &obj);
	pthread_mutex_unlock(&h->obj_mtx);
	if (r == 0)
		*out = obj;
	return r;
}

/* ---- AES-GCM ---- */

static int
gcm(hsm *h, int enc, hsm_obj key, const uint8_t iv[HSM_GCM_IV_LEN],
    const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t inlen,
    uint8_t *out, size_t want)
{
	CK_GCM_PARAMS p;
	CK_MECHANISM mech = { CKM_AES_GCM, &p, sizeof(p) };
	CK_SESSION_HANDLE s;
	CK_ULONG outlen;
	uint8_t *buf = NULL, dummy = 0;
	size_t buflen = inlen + 2 * HSM_GCM_TAG_LEN;
	CK_RV rv;
	int r;

	if (inlen > GCM_MAX || aadlen > GCM_MAX)
		return CAP_ERR_TOO_LARGE;
	if (key == 0 || (aad == NULL && aadlen != 0) ||
	    (in == NULL && inlen != 0))
		return CAP_ERR_INVALID;
	memset(&p, 0, sizeof(p));
	p.pIv = (CK_BYTE_PTR)iv;
	p.ulIvLen = HSM_GCM_IV_LEN;
	p.ulIvBits = HSM_GCM_IV_LEN * 8;
	p.pAAD = (CK_BYTE_PTR)aad;
	p.ulAADLen = (CK_ULONG)aadlen;
	p.ulTagBits = HSM_GCM_TAG_LEN * 8;
	/*
	 * Tokens size-check the output against the input rather than the
	 * exact result, so go through a roomy buffer.  It may hold
	 * plaintext: locked memory, wiped.
	 */
	if ((buf = sodium_malloc(buflen)) == NULL)
		return CAP_ERR_NOMEM;
	if ((r = hsm_sess_get(h, &s)) != 0)
		goto out;
	outlen = (CK_ULONG)buflen;
	if (enc) {
		if ((rv = h->fl->C_EncryptInit(s, &mech, key)) != CKR_OK)
			r = hsm_ckr_err("C_EncryptInit(GCM)", rv);
		else if ((rv = h->fl->C_Encrypt(s,
		    in != NULL ? (CK_BYTE_PTR)in : &dummy, (CK_ULONG)inlen,
		    buf, &outlen)) != CKR_OK)
			r = hsm_ckr_err("C_Encrypt(GCM)", rv);
	} else {
		if ((rv = h->fl->C_DecryptInit(s, &mech, key)) != CKR_OK)
			r = hsm_ckr_err("C_DecryptInit(GCM)", rv);
		else if ((rv = h->fl->C_Decrypt(s, (CK_BYTE_PTR)in,
		    (CK_ULONG)inlen, buf, &outlen)) != CKR_OK)
			r = unwrap_err("C_Decrypt(GCM)", rv);
	}
	hsm_sess_done(h, s, rv);
	if (r != 0)
		goto out;
	if (outlen != want) {
		log_error("hsm: AES-GCM produced %lu bytes, expected %zu",
		    (unsigned long)outlen, want);
		r = CAP_ERR_TOKEN;
		goto out;
	}
	if (want > 0)
		memcpy(out, buf, want);
	r = 0;
 out:
	sodium_memzero(buf, buflen);
	sodium_free(buf);
	return r;
}

int
hsm_gcm_encrypt(hsm *h, hsm_obj key, const uint8_t iv[HSM_GCM_IV_LEN],
    const uint8_t *aad, size_t aadlen, const uint8_t *pt, size_t ptlen,
    uint8_t *ct)
{
	return gcm(h, 1, key, iv, aad, aadlen, pt, ptlen, ct,
	    ptlen + HSM_GCM_TAG_LEN);
}

int
hsm_gcm_decrypt(hsm *h, hsm_obj key, const uint8_t iv[HSM_GCM_IV_LEN],
    const uint8_t *aad, size_t aadlen, const uint8_t *ct, size_t ctlen,
    uint8_t *pt)
{
	if (ctlen < HSM_GCM_TAG_LEN)
		return CAP_ERR_CRYPTO;
	return gcm(h, 0, key, iv, aad, aadlen, ct, ctlen, pt,
	    ctlen - HSM_GCM_TAG_LEN);
}

int
hsm_obj_destroy(hsm *h, hsm_obj obj)
{
	CK_RV rv;

	if (obj == 0)
		return CAP_ERR_INVALID;
	pthread_mutex_lock(&h->obj_mtx);
	rv = h->fl->C_DestroyObject(h->owner, obj);
	pthread_mutex_unlock(&h->obj_mtx);
	return rv == CKR_OK ? 0 : hsm_ckr_err("C_DestroyObject", rv);
}
