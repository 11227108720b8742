/*
 * hsm_asym.c - general keys in the token: generation, lookup by CKA_ID,
 * public-key export, signing and verification, object URIs.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "common/err.h"
#include "common/log.h"
#include "hsm/hsm_derive.h"
#include "hsm/hsm_int.h"

#define GEN_ATTEMPTS	4	/* tries of a generation the token failed */

#define ATTR(t, p, l)	{ (t), (void *)(p), (CK_ULONG)(l) }

#define ID_MAX		64
#define LABEL_MAX	128
#define SIGN_MAX	(64U << 20)	/* longest message signed */
#define SIG_BUF		1024

/* DER OIDs carried in CKA_EC_PARAMS. */
static const CK_BYTE oid_p256[] = {
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07
};
static const CK_BYTE oid_p384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };
static const CK_BYTE oid_ed25519[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };

/* DigestInfo prefix for SHA-256 in PKCS#1 v1.5 signatures. */
static const CK_BYTE di_sha256[] = {
	0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
	0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20
};

static const struct {
	hsm_key_type	 t;
	const char	*name;
} type_names[] = {
	{ HSM_KEY_EC_P256,	"ec-p256" },
	{ HSM_KEY_EC_P384,	"ec-p384" },
	{ HSM_KEY_RSA_2048,	"rsa-2048" },
	{ HSM_KEY_RSA_3072,	"rsa-3072" },
	{ HSM_KEY_ED25519,	"ed25519" },
	{ HSM_KEY_AES_256,	"aes-256" },
};

const char *
hsm_key_type_name(hsm_key_type t)
{
	size_t i;

	for (i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (type_names[i].t == t)
			return type_names[i].name;
	return "unknown";
}

int
hsm_key_type_parse(const char *s, hsm_key_type *t)
{
	size_t i;

	if (s == NULL)
		return CAP_ERR_INVALID;
	for (i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++) {
		if (strcmp(type_names[i].name, s) == 0) {
			*t = type_names[i].t;
			return 0;
		}
	}
	return CAP_ERR_INVALID;
}

/* ---- generation ---- */

int
hsm_key_generate(hsm *h, hsm_key_type type, const char *label,
    const uint8_t *id, size_t idlen, int token_obj, hsm_obj *priv,
    hsm_obj *pub)
{
	CK_BBOOL t = CK_TRUE, f = CK_FALSE, tok = token_obj ? CK_TRUE : CK_FALSE;
	CK_ULONG bits = 0, vlen = 32;
	CK_BYTE e[] = { 0x01, 0x00, 0x01 };
	CK_OBJECT_CLASS sec = CKO_SECRET_KEY;
	CK_KEY_TYPE aes = CKK_AES;
	CK_MECHANISM mech = { 0, NULL, 0 };
	CK_ATTRIBUTE pubt[8], privt[12];
	CK_ULONG npub = 0, npriv = 0;
	CK_OBJECT_HANDLE hpub = CK_INVALID_HANDLE, hpriv = CK_INVALID_HANDLE;
	int attempt;
	const CK_BYTE *params = NULL;
	size_t plen = 0;
	CK_RV rv;
	int r;

	*priv = 0;
	if (pub != NULL)
		*pub = 0;
	if ((id == NULL && idlen != 0) || idlen > ID_MAX ||
	    (label != NULL && strlen(label) > LABEL_MAX))
		return CAP_ERR_INVALID;

	switch (type) {
	case HSM_KEY_EC_P256:
		params = oid_p256;
		plen = sizeof(oid_p256);
		mech.mechanism = CKM_EC_KEY_PAIR_GEN;
		break;
	case HSM_KEY_EC_P384:
		params = oid_p384;
		plen = sizeof(oid_p384);
		mech.mechanism = CKM_EC_KEY_PAIR_GEN;
		break;
	case HSM_KEY_ED25519:
		params = oid_ed25519;
		plen = sizeof(oid_ed25519);
		mech.mechanism = CKM_EC_EDWARDS_KEY_PAIR_GEN;
		break;
	case HSM_KEY_RSA_2048:
		bits = 2048;
		mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
		break;
	case HSM_KEY_RSA_3072:
		bits = 3072;
		mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
		break;
	case HSM_KEY_AES_256:
		mech.mechanism = CKM_AES_KEY_GEN;
		break;
	default:
		return CAP_ERR_INVALID;
	}

	/* The attributes every private or secret key gets. */
	privt[npriv++] = (CK_ATTRIBUTE)ATTR(CKA_TOKEN, &tok, sizeof(tok));
	privt[npriv++] = (CK_ATTRIBUTE)ATTR(CKA_PRIVATE, &t, sizeof(t));
	privt[npriv++] = (CK_ATTRIBUTE)ATTR(CKA_SENSITIVE, &t, sizeof(t));
	privt[npriv++] = (CK_ATTRIBUTE)ATTR(CKA_EXTRACTABLE, &f, sizeof(f));
	pubt[npub++] = (CK_ATTRIBUTE)ATTR(CKA_TOKEN, &tok, sizeof(tok));
	if (label != NULL) {
		privt[npriv++] = (CK_ATTRIBUTE)ATTR(CKA_LABEL, label,
		    strlen(label));
		pubt[npub++] = (CK_ATTRIBUTE)ATTR(CKA_LABEL, label,
		    strlen(label));
	}
	if (idlen > 0) {
		privt[npriv++] = (CK_ATTRIBUTE)ATTR(CKA_ID, id, idlen);
		pubt[npub++] = (CK_ATTRIBUTE)ATTR(CKA_ID, id, idlen);
	}
	if (type == HSM_KEY_AES_256) {
		privt[npriv++] = (CK_ATTRIBUTE)ATTR(CKA_CLASS, &sec,
		    sizeof(sec));
		privt[npriv++] = (CK_ATTRIBUTE)ATTR(CKA_KEY_TYPE, &aes,
		    sizeof(aes));
		privt[npriv++] = (CK_ATTRIBUTE)ATTR(CKA_VALUE_LEN, &vlen,
		    sizeof(vlen));
		privt[npriv++] = (CK_ATTRIBUTE)ATTR(CKA_ENCRYPT, &t,
		    sizeof(t));
		privt[npriv++] = (CK_ATTRIBUTE)ATTR(CKA_DECRYPT, &t,
		    sizeof(t));
	} else {
		privt[npriv++] = (CK_ATTRIBUTE)ATTR(CKA_SIGN, &t, sizeof(t));
		pubt[npub++] = (CK_ATTRIBUTE)ATTR(CKA_VERIFY, &t, sizeof(t));
		if (bits != 0) {
			privt[npriv++] = (CK_ATTRIBUTE)ATTR(CKA_DECRYPT, &t,
			    sizeof(t));
			pubt[npub++] = (CK_ATTRIBUTE)ATTR(CKA_ENCRYPT, &t,
			    sizeof(t));
			pubt[npub++] = (CK_ATTRIBUTE)ATTR(CKA_MODULUS_BITS,
			    &bits, sizeof(bits));
			pubt[npub++] = (CK_ATTRIBUTE)ATTR(CKA_PUBLIC_EXPONENT,
			    e, sizeof(e));
		} else
			pubt[npub++] = (CK_ATTRIBUTE)ATTR(CKA_EC_PARAMS,
			    params, plen);
		/* ECDH for CMS key agreement recipients (crypto/pkg_cms.c) */
		if (type == HSM_KEY_EC_P256 || type == HSM_KEY_EC_P384)
			privt[npriv++] = (CK_ATTRIBUTE)ATTR(CKA_DERIVE, &t,
			    sizeof(t));
	}

	/*
	 * SoftHSM's file object store can fail a generation with
	 * CKR_GENERAL_ERROR while another session of this process (the
	 * libp11 engine signing for a CA, outside this lock) reads the token
	 * directory; the failed call leaves no object behind, and a retry a
	 * moment later succeeds.
	 */
	for (attempt = 0;; attempt++) {
		pthread_mutex_lock(&h->obj_mtx);
		if (type == HSM_KEY_AES_256)
			rv = h->fl->C_GenerateKey(h->owner, &mech, privt,
			    npriv, &hpriv);
		else
			rv = h->fl->C_GenerateKeyPair(h->owner, &mech, pubt,
			    npub, privt, npriv, &hpub, &hpriv);
		pthread_mutex_unlock(&h->obj_mtx);
		if (rv != CKR_GENERAL_ERROR || attempt == GEN_ATTEMPTS - 1)
			break;
		log_debug("hsm: key generation: CKR_GENERAL_ERROR, retrying");
		nanosleep(&(struct timespec){ 0, 2000000L << attempt }, NULL);
	}
	if (rv != CKR_OK) {
		r = hsm_ckr_err("key generation", rv);
		if (r == CAP_ERR_UNSUPPORTED || rv == CKR_TEMPLATE_INCONSISTENT
		    || rv == CKR_ATTRIBUTE_VALUE_INVALID ||
		    rv == CKR_DOMAIN_PARAMS_INVALID || rv == CKR_KEY_SIZE_RANGE)
			r = CAP_ERR_UNSUPPORTED;
		return r;
	}
	*priv = hpriv;
	if (pub != NULL)
		*pub = hpub;
	return 0;
}

/* ---- lookup ---- */

/* Read a variable-length attribute into a malloc'd buffer. */
static int
attr_get(hsm *h, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_TYPE type, CK_BYTE **val, CK_ULONG *len)
{
	CK_ATTRIBUTE a = ATTR(type, NULL, 0);
	CK_RV rv;

	*val = NULL;
	*len = 0;
	if ((rv = h->fl->C_GetAttributeValue(s, o, &a, 1)) != CKR_OK)
		return hsm_ckr_err("C_GetAttributeValue", rv);
	if (a.ulValueLen == (CK_ULONG)-1 || a.ulValueLen > 65536)
		return CAP_ERR_TOKEN;
	if ((a.pValue = malloc(a.ulValueLen + 1)) == NULL)
		return CAP_ERR_NOMEM;
	if ((rv = h->fl->C_GetAttributeValue(s, o, &a, 1)) != CKR_OK) {
		free(a.pValue);
		return hsm_ckr_err("C_GetAttributeValue", rv);
	}
	*val = a.pValue;
	*len = a.ulValueLen;
	return 0;
}

static int
attr_ulong(hsm *h, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_TYPE type, CK_ULONG *v)
{
	CK_ATTRIBUTE a = ATTR(type, v, sizeof(*v));
	CK_RV rv;

	if ((rv = h->fl->C_GetAttributeValue(s, o, &a, 1)) != CKR_OK)
		return hsm_ckr_err("C_GetAttributeValue", rv);
	return 0;
}

static int
obj_key_type(hsm *h, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    hsm_key_type *type)
{
	CK_ULONG kt;
	CK_BYTE *v = NULL;
	CK_ULONG len;
	int r;

	if ((r = attr_ulong(h, s, o, CKA_KEY_TYPE, &kt)) != 0)
		return r;
	switch (kt) {
	case CKK_AES:
		*type = HSM_KEY_AES_256;
		return 0;
	case CKK_RSA:
		if ((r = attr_get(h, s, o, CKA_MODULUS, &v, &len)) != 0)
			return r;
		free(v);
		if (len == 256)
			*type = HSM_KEY_RSA_2048;
		else if (len == 384)
			*type = HSM_KEY_RSA_3072;
		else
			return CAP_ERR_UNSUPPORTED;
		return 0;
	case CKK_EC:
	case CKK_EC_EDWARDS:
		if ((r = attr_get(h, s, o, CKA_EC_PARAMS, &v, &len)) != 0)
			return r;
		r = 0;
		if (len == sizeof(oid_p256) &&
		    memcmp(v, oid_p256, len) == 0)
			*type = HSM_KEY_EC_P256;
		else if (len == sizeof(oid_p384) &&
		    memcmp(v, oid_p384, len) == 0)
			*type = HSM_KEY_EC_P384;
		else if (kt == CKK_EC_EDWARDS)
			*type = HSM_KEY_ED25519;
		else
			r = CAP_ERR_UNSUPPORTED;
		free(v);
		return r;
	default:
		return CAP_ERR_UNSUPPORTED;
	}
}

int
hsm_key_find(hsm *h, const uint8_t *id, size_t idlen, hsm_key_type *type,
    hsm_obj *priv, hsm_obj *pub)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE t[] = {
		ATTR(CKA_CLASS, &cls, sizeof(cls)),
		ATTR(CKA_ID, id, idlen),
	};
	CK_OBJECT_HANDLE k = CK_INVALID_HANDLE, p = CK_INVALID_HANDLE;
	CK_SESSION_HANDLE s;
	hsm_key_type kt;
	int r;

	*priv = 0;
	if (pub != NULL)
		*pub = 0;
	if (id == NULL || idlen == 0 || idlen > ID_MAX)
		return CAP_ERR_INVALID;
	if ((r = hsm_sess_get(h, &s)) != 0)
		return r;
	if ((r = hsm_find_one(h, s, t, 2, &k)) == CAP_ERR_NOT_FOUND) {
		cls = CKO_SECRET_KEY;
		r = hsm_find_one(h, s, t, 2, &k);
	}
	if (r != 0)
		goto out;
	if (cls == CKO_PRIVATE_KEY) {
		cls = CKO_PUBLIC_KEY;
		if ((r = hsm_find_one(h, s, t, 2, &p)) != 0)
			goto out;
	}
	if ((r = obj_key_type(h, s, k, &kt)) != 0)
		goto out;
	if (type != NULL)
		*type = kt;
	*priv = k;
	if (pub != NULL)
		*pub = p;
	r = 0;
 out:
	hsm_sess_put(h, s);
	return r;
}

/* ---- public keys ---- */

/*
 * CKA_EC_POINT is a DER OCTET STRING by the standard; some tokens give
 * the bare point.  Return a pointer to the point inside v.
 */
static int
ec_point(const CK_BYTE *v, CK_ULONG len, const CK_BYTE **pt, size_t *ptlen)
{
	size_t hdr, n;

	if (len >= 2 && v[0] == 0x04) {
		if (v[1] < 0x80) {
			hdr = 2;
			n = v[1];
		} else if (v[1] == 0x81 && len >= 3) {
			hdr = 3;
			n = v[2];
		} else
			n = hdr = 0;
		if (hdr != 0 && hdr + n == len) {
			*pt = v + hdr;
			*ptlen = n;
			return 0;
		}
	}
	*pt = v;
	*ptlen = len;
	return 0;
}

int
hsm_pub_evp(hsm *h, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE pub,
    EVP_PKEY **out)
{
	CK_BYTE *a = NULL, *b = NULL;
	CK_ULONG alen, blen;
	const CK_BYTE *pt;
	size_t ptlen;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	BIGNUM *n = NULL, *e = NULL;
	hsm_key_type kt;
	const char *group;
	int r;

	*out = NULL;
	if (pub == 0)
		return CAP_ERR_INVALID;
	if ((r = obj_key_type(h, s, pub, &kt)) != 0)
		goto out;
	r = CAP_ERR_INTERNAL;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL)
		goto out;
	switch (kt) {
	case HSM_KEY_RSA_2048:
	case HSM_KEY_RSA_3072:
		if ((r = attr_get(h, s, pub, CKA_MODULUS, &a, &alen)) != 0 ||
		    (r = attr_get(h, s, pub, CKA_PUBLIC_EXPONENT, &b, &blen))
		    != 0)
			goto out;
		r = CAP_ERR_INTERNAL;
		if ((n = BN_bin2bn(a, (int)alen, NULL)) == NULL ||
		    (e = BN_bin2bn(b, (int)blen, NULL)) == NULL ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
			goto out;
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
		break;
	case HSM_KEY_EC_P256:
	case HSM_KEY_EC_P384:
	case HSM_KEY_ED25519:
		if ((r = attr_get(h, s, pub, CKA_EC_POINT, &a, &alen)) != 0)
			goto out;
		r = CAP_ERR_INTERNAL;
		ec_point(a, alen, &pt, &ptlen);
		if (kt == HSM_KEY_ED25519) {
			if (ptlen != 32) {
				r = CAP_ERR_TOKEN;
				goto out;
			}
			if ((*out = EVP_PKEY_new_raw_public_key(
			    EVP_PKEY_ED25519, NULL, pt, ptlen)) == NULL)
				goto out;
			r = 0;
			goto out;
		}
		group = kt == HSM_KEY_EC_P256 ? "prime256v1" : "secp384r1";
		if (!OSSL_PARAM_BLD_push_utf8_string(bld,
		    OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
		    !OSSL_PARAM_BLD_push_octet_string(bld,
		    OSSL_PKEY_PARAM_PUB_KEY, pt, ptlen))
			goto out;
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
		break;
	default:
		r = CAP_ERR_INVALID;
		goto out;
	}
	if (ctx == NULL || (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
		log_error("hsm: the token's public key does not parse");
		r = CAP_ERR_TOKEN;
		goto out;
	}
	r = 0;
 out:
	free(a);
	free(b);
	BN_free(n);
	BN_free(e);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	return r;
}

int
hsm_key_public_der(hsm *h, hsm_obj pub, uint8_t **der, size_t *len)
{
	CK_SESSION_HANDLE s;
	EVP_PKEY *pk = NULL;
	unsigned char *buf = NULL, *p;
	int r, n;

	*der = NULL;
	*len = 0;
	if ((r = hsm_sess_get(h, &s)) != 0)
		return r;
	r = hsm_pub_evp(h, s, pub, &pk);
	hsm_sess_put(h, s);
	if (r != 0)
		goto out;
	r = CAP_ERR_INTERNAL;
	if ((n = i2d_PUBKEY(pk, NULL)) <= 0)
		goto out;
	if ((buf = malloc((size_t)n)) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	p = buf;
	if (i2d_PUBKEY(pk, &p) != n)
		goto out;
	*der = buf;	/* transferred */
	*len = (size_t)n;
	buf = NULL;
	r = 0;
 out:
	free(buf);
	EVP_PKEY_free(pk);
	return r;
}

/* ---- sign / verify ---- */

/*
 * Work out the mechanism and the bytes the token signs: a digest for
 * ECDSA, DigestInfo || digest for RSA PKCS#1 v1.5, the message itself for
 * EdDSA.  *in points at data or into buf.
 */
static int
sign_input(hsm_key_type type, const uint8_t *data, size_t len,
    CK_MECHANISM_TYPE *mech, uint8_t *buf, const uint8_t **in,
    size_t *inlen, size_t *flen)
{
	const EVP_MD *md = NULL;
	unsigned int mdlen = 0;
	size_t off = 0;

	*flen = 0;
	switch (type) {
	case HSM_KEY_EC_P256:
		md = EVP_sha256();
		*mech = CKM_ECDSA;
		*flen = 32;
		break;
	case HSM_KEY_EC_P384:
		md = EVP_sha384();
		*mech = CKM_ECDSA;
		*flen = 48;
		break;
	case HSM_KEY_RSA_2048:
	case HSM_KEY_RSA_3072:
		md = EVP_sha256();
		*mech = CKM_RSA_PKCS;
		memcpy(buf, di_sha256, sizeof(di_sha256));
		off = sizeof(di_sha256);
		break;
	case HSM_KEY_ED25519:
		*mech = CKM_EDDSA;
		*in = data;
		*inlen = len;
		return 0;
	default:
		return CAP_ERR_INVALID;
	}
	if (EVP_Digest(data, len, buf + off, &mdlen, md, NULL) != 1)
		return CAP_ERR_INTERNAL;
	*in = buf;
	*inlen = off + mdlen;
	return 0;
}

/* A DER ECDSA-Sig-Value back to r||s; CAP_ERR_CRYPTO if malformed. */
static int
ecdsa_der_to_raw(const uint8_t *der, size_t derlen, size_t flen,
    uint8_t *raw)
{
	const unsigned char *p = der;
	const BIGNUM *br, *bs;
	ECDSA_SIG *es;
	int r = CAP_ERR_CRYPTO;

	if (derlen > 2 * flen + 16)
		return CAP_ERR_CRYPTO;
	if ((es = d2i_ECDSA_SIG(NULL, &p, (long)derlen)) == NULL)
		return CAP_ERR_CRYPTO;
	if (p != der + derlen)
		goto out;
	ECDSA_SIG_get0(es, &br, &bs);
	if (BN_bn2binpad(br, raw, (int)flen) < 0 ||
	    BN_bn2binpad(bs, raw + flen, (int)flen) < 0)
		goto out;
	r = 0;
 out:
	ECDSA_SIG_free(es);
	return r;
}

int
hsm_sign(hsm *h, hsm_obj priv, hsm_key_type type, const uint8_t *data,
    size_t len, uint8_t **sig, size_t *siglen)
{
	CK_MECHANISM mech = { 0, NULL, 0 };
	CK_SESSION_HANDLE s;
	uint8_t inbuf[128], *out = NULL;
	const uint8_t *in = NULL;
	size_t inlen = 0, flen;
	CK_ULONG outlen = SIG_BUF;
	CK_RV rv;
	int r;

	*sig = NULL;
	*siglen = 0;
	if (priv == 0 || (data == NULL && len != 0))
		return CAP_ERR_INVALID;
	if (len > SIGN_MAX)
		return CAP_ERR_TOO_LARGE;
	if ((r = sign_input(type, data, len, &mech.mechanism, inbuf, &in,
	    &inlen, &flen)) != 0)
		return r;
	if ((out = malloc(SIG_BUF)) == NULL)
		return CAP_ERR_NOMEM;
	if ((r = hsm_sess_get(h, &s)) != 0)
		goto out;
	if ((rv = h->fl->C_SignInit(s, &mech, priv)) != CKR_OK)
		r = hsm_ckr_err("C_SignInit", rv);
	else if ((rv = h->fl->C_Sign(s, in != NULL ? (CK_BYTE_PTR)in : inbuf,
	    (CK_ULONG)inlen, out, &outlen)) != CKR_OK)
		r = hsm_ckr_err("C_Sign", rv);
	hsm_sess_done(h, s, rv);
	if (r != 0)
		goto out;
	if (mech.mechanism == CKM_ECDSA) {
		r = hsm_ecdsa_raw_to_der(out, outlen, flen, sig, siglen);
		goto out;
	}
	*sig = out;	/* transferred */
	*siglen = outlen;
	out = NULL;
	r = 0;
 out:
	free(out);
	return r;
}

int
hsm_verify(hsm *h, hsm_obj pub, hsm_key_type type, const uint8_t *data,
    size_t len, const uint8_t *sig, size_t siglen)
{
	CK_MECHANISM mech = { 0, NULL, 0 };
	CK_SESSION_HANDLE s;
	uint8_t inbuf[128], raw[2 * 66];
	const uint8_t *in = NULL;
	size_t inlen = 0, flen;
	CK_RV rv;
	int r;

	if (pub == 0 || (data == NULL && len != 0) || sig == NULL)
		return CAP_ERR_INVALID;
	if (len > SIGN_MAX)
		return CAP_ERR_TOO_LARGE;
	if (siglen == 0 || siglen > SIG_BUF)
		return CAP_ERR_CRYPTO;
	if ((r = sign_input(type, data, len, &mech.mechanism, inbuf, &in,
	    &inlen, &flen)) != 0)
		return r;
	if (mech.mechanism == CKM_ECDSA) {
		if ((r = ecdsa_der_to_raw(sig, siglen, flen, raw)) != 0)
			return r;
		sig = raw;
		siglen = 2 * flen;
	}
	if ((r = hsm_sess_get(h, &s)) != 0)
		return r;
	if ((rv = h->fl->C_VerifyInit(s, &mech, pub)) != CKR_OK)
		r = hsm_ckr_err("C_VerifyInit", rv);
	else if ((rv = h->fl->C_Verify(s, in != NULL ? (CK_BYTE_PTR)in : inbuf,
	    (CK_ULONG)inlen, (CK_BYTE_PTR)sig, (CK_ULONG)siglen)) != CKR_OK) {
		r = hsm_ckr_err("C_Verify", rv);
		if (rv == CKR_DATA_LEN_RANGE || rv == CKR_DATA_INVALID)
			r = CAP_ERR_CRYPTO;
	}
	hsm_sess_done(h, s, rv);
	return r;
}

/* ---- URIs ---- */

int
hsm_key_uri(hsm *h, hsm_obj obj, char **uri)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_CLASS cls;
	CK_BYTE *label = NULL, *id = NULL;
	CK_ULONG llen = 0, ilen = 0;
	CK_ATTRIBUTE a;
	CK_TOKEN_INFO *ti;
	P11KitUri *u = NULL;
	char *str = NULL;
	int r;

	*uri = NULL;
	if (obj == 0)
		return CAP_ERR_INVALID;
	if ((r = hsm_sess_get(h, &s)) != 0)
		return r;
	if ((r = attr_ulong(h, s, obj, CKA_CLASS, &cls)) != 0)
		goto out;
	/* Label and id are optional on an object. */
	if (attr_get(h, s, obj, CKA_LABEL, &label, &llen) != 0)
		llen = 0;
	if (attr_get(h, s, obj, CKA_ID, &id, &ilen) != 0)
		ilen = 0;
	if ((u = p11_kit_uri_new()) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	ti = p11_kit_uri_get_token_info(u);
	memcpy(ti->label, h->tinfo.label, sizeof(ti->label));
	memcpy(ti->manufacturerID, h->tinfo.manufacturerID,
	    sizeof(ti->manufacturerID));
	memcpy(ti->model, h->tinfo.model, sizeof(ti->model));
	memcpy(ti->serialNumber, h->tinfo.serialNumber,
	    sizeof(ti->serialNumber));
	r = CAP_ERR_INTERNAL;
	a = (CK_ATTRIBUTE)ATTR(CKA_CLASS, &cls, sizeof(cls));
	if (p11_kit_uri_set_attribute(u, &a) != P11_KIT_URI_OK)
		goto out;
	if (llen > 0) {
		a = (CK_ATTRIBUTE)ATTR(CKA_LABEL, label, llen);
		if (p11_kit_uri_set_attribute(u, &a) != P11_KIT_URI_OK)
			goto out;
	}
	if (ilen > 0) {
		a = (CK_ATTRIBUTE)ATTR(CKA_ID, id, ilen);
		if (p11_kit_uri_set_attribute(u, &a) != P11_KIT_URI_OK)
			goto out;
	}
	if (p11_kit_uri_format(u, P11_KIT_URI_FOR_OBJECT_ON_TOKEN, &str) !=
	    P11_KIT_URI_OK)
		goto out;
	*uri = str;	/* transferred */
	r = 0;
 out:
	hsm_sess_put(h, s);
	if (u != NULL)
		p11_kit_uri_free(u);
	free(label);
	free(id);
	return r;
}
