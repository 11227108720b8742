/*
 * hsm_derive.c - ECDH derivation, raw RSA, RSA-OAEP and ECDSA over a given
 * digest with keys held in the token (see hsm_derive.h).
 *
 * The ECDH secret comes out of the token through a temporary, extractable
 * session object: CKM_ECDH1_DERIVE only makes objects.  It is made and
 * destroyed on the owner session under the object lock, like every other
 * object this module creates.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <sodium.h>

#include "common/err.h"
#include "common/log.h"
#include "hsm/hsm_derive.h"
#include "hsm/hsm_int.h"

_Static_assert(HSM_ECDH_SECRET_MAX <= HSM_TMP_VALUE_MAX,
    "an ECDH secret fits hsm_tmp_take");

#define ATTR(t, p, l)	{ (t), (void *)(p), (CK_ULONG)(l) }

int
hsm_ecdh_derive(hsm *h, hsm_obj priv, const uint8_t *point, size_t pointlen,
    uint8_t *secret, size_t seclen)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_BBOOL t = CK_TRUE, f = CK_FALSE;
	CK_ULONG vlen = (CK_ULONG)seclen;
	CK_ATTRIBUTE tmpl[] = {
		ATTR(CKA_CLASS, &cls, sizeof(cls)),
		ATTR(CKA_KEY_TYPE, &kt, sizeof(kt)),
		ATTR(CKA_TOKEN, &f, sizeof(f)),
		ATTR(CKA_SENSITIVE, &f, sizeof(f)),
		ATTR(CKA_EXTRACTABLE, &t, sizeof(t)),
		ATTR(CKA_VALUE_LEN, &vlen, sizeof(vlen)),
	};
	CK_ECDH1_DERIVE_PARAMS p;
	CK_MECHANISM mech = { CKM_ECDH1_DERIVE, &p, sizeof(p) };
	CK_OBJECT_HANDLE tmp = CK_INVALID_HANDLE;
	CK_RV rv;
	int r;

	if (h == NULL || priv == 0 || point == NULL || secret == NULL ||
	    pointlen == 0 || pointlen > HSM_ECDH_POINT_MAX || seclen == 0 ||
	    seclen > HSM_ECDH_SECRET_MAX)
		return CAP_ERR_INVALID;
	memset(&p, 0, sizeof(p));
	p.kdf = CKD_NULL;
	p.pPublicData = (CK_BYTE_PTR)point;
	p.ulPublicDataLen = (CK_ULONG)pointlen;
	pthread_mutex_lock(&h->obj_mtx);
	if ((rv = h->fl->C_DeriveKey(h->owner, &mech, priv, tmpl,
	    sizeof(tmpl) / sizeof(tmpl[0]), &tmp)) != CKR_OK) {
		tmp = CK_INVALID_HANDLE;
		if (rv == CKR_KEY_FUNCTION_NOT_PERMITTED ||
		    rv == CKR_MECHANISM_INVALID ||
		    rv == CKR_KEY_TYPE_INCONSISTENT) {
			log_debug("hsm: C_DeriveKey(ECDH): %s",
			    hsm_ckr_name(rv));
			r = CAP_ERR_UNSUPPORTED;
		} else if (rv == CKR_MECHANISM_PARAM_INVALID ||
		    rv == CKR_ARGUMENTS_BAD || rv == CKR_FUNCTION_FAILED ||
		    rv == CKR_DOMAIN_PARAMS_INVALID)
			r = CAP_ERR_CRYPTO;
		else
			r = hsm_ckr_err("C_DeriveKey(ECDH)", rv);
		goto out;
	}
	r = hsm_tmp_take(h, tmp, secret, seclen, CAP_ERR_TOKEN,
	    "ECDH secret");
 out:
	pthread_mutex_unlock(&h->obj_mtx);
	return r;
}

/*
 * One RSA decryption of ct in the token into buf, a locked buffer of
 * HSM_RSA_RAW_MAX bytes; *outlen is the length written.  what names the
 * mechanism in the log.
 */
static int
rsa_decrypt(hsm *h, hsm_obj priv, CK_MECHANISM *mech, const char *what,
    const uint8_t *ct, size_t ctlen, uint8_t *buf, CK_ULONG *outlen)
{
	CK_SESSION_HANDLE s;
	char fn[48];
	CK_RV rv;
	int r;

	*outlen = HSM_RSA_RAW_MAX;
	if ((r = hsm_sess_get(h, &s)) != 0)
		return r;
	if ((rv = h->fl->C_DecryptInit(s, mech, priv)) != CKR_OK) {
		/* Raw RSA is optional; OAEP was checked against caps. */
		if (mech->mechanism == CKM_RSA_X_509 &&
		    (rv == CKR_MECHANISM_INVALID ||
		    rv == CKR_KEY_FUNCTION_NOT_PERMITTED))
			r = CAP_ERR_UNSUPPORTED;
		else {
			snprintf(fn, sizeof(fn), "C_DecryptInit(%s)", what);
			r = hsm_ckr_err(fn, rv);
		}
	} else if ((rv = h->fl->C_Decrypt(s, (CK_BYTE_PTR)ct, (CK_ULONG)ctlen,
	    buf, outlen)) != CKR_OK) {
		/* A bad ciphertext is the caller's, not the token's fault. */
		if (rv == CKR_ENCRYPTED_DATA_INVALID ||
		    rv == CKR_ENCRYPTED_DATA_LEN_RANGE ||
		    rv == CKR_FUNCTION_FAILED)
			r = CAP_ERR_CRYPTO;
		else {
			snprintf(fn, sizeof(fn), "C_Decrypt(%s)", what);
			r = hsm_ckr_err(fn, rv);
		}
	}
	hsm_sess_done(h, s, rv);
	return r;
}

int
hsm_rsa_raw_decrypt(hsm *h, hsm_obj priv, const uint8_t *ct, size_t ctlen,
    uint8_t *out, size_t modlen)
{
	CK_MECHANISM mech = { CKM_RSA_X_509, NULL, 0 };
	CK_ULONG outlen;
	uint8_t *buf = NULL;
	int r;

	if (h == NULL || priv == 0 || ct == NULL || out == NULL ||
	    ctlen == 0 || ctlen > modlen || modlen > HSM_RSA_RAW_MAX)
		return CAP_ERR_INVALID;
	if ((buf = sodium_malloc(HSM_RSA_RAW_MAX)) == NULL)
		return CAP_ERR_NOMEM;
	if ((r = rsa_decrypt(h, priv, &mech, "RSA_X_509", ct, ctlen, buf,
	    &outlen)) != 0)
		goto out;
	if (outlen > modlen) {
		r = CAP_ERR_CRYPTO;
		goto out;
	}
	memset(out, 0, modlen - outlen);
	memcpy(out + (modlen - outlen), buf, outlen);
	r = 0;
 out:
	sodium_memzero(buf, HSM_RSA_RAW_MAX);
	sodium_free(buf);
	return r;
}

/*
 * The plaintext is first written into a locked buffer of the full
 * modulus size, because C_Decrypt may need that much room before it
 * knows the real length, and only then copied to the caller.
 */
int
hsm_rsa_oaep_decrypt(hsm *h, hsm_obj priv, const uint8_t *ct, size_t ctlen,
    uint8_t *pt, size_t *ptlen)
{
	CK_RSA_PKCS_OAEP_PARAMS oaep = {
		CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, NULL, 0
	};
	CK_MECHANISM mech = { CKM_RSA_PKCS_OAEP, &oaep, sizeof(oaep) };
	CK_ULONG outlen;
	uint8_t *buf = NULL;
	int r;

	if (h == NULL || priv == 0 || ct == NULL || pt == NULL ||
	    ptlen == NULL || ctlen == 0 || ctlen > HSM_OAEP_CT_MAX)
		return CAP_ERR_INVALID;
	if (!h->caps.rsa_oaep)
		return CAP_ERR_UNSUPPORTED;
	if ((buf = sodium_malloc(HSM_RSA_RAW_MAX)) == NULL)
		return CAP_ERR_NOMEM;
	if ((r = rsa_decrypt(h, priv, &mech, "OAEP", ct, ctlen, buf,
	    &outlen)) != 0)
		goto out;
	if (outlen > *ptlen) {
		r = CAP_ERR_INVALID;
		goto out;
	}
	memcpy(pt, buf, outlen);
	*ptlen = outlen;
	r = 0;
 out:
	sodium_memzero(buf, HSM_RSA_RAW_MAX);
	sodium_free(buf);
	return r;
}

int
hsm_ecdsa_raw_to_der(const uint8_t *raw, size_t rawlen, size_t flen,
    uint8_t **der, size_t *derlen)
{
	ECDSA_SIG *es = NULL;
	BIGNUM *br = NULL, *bs = NULL;
	unsigned char *buf = NULL, *p;
	int n, r = CAP_ERR_INTERNAL;

	if (rawlen != 2 * flen) {
		log_error("hsm: ECDSA signature of %zu bytes, expected %zu",
		    rawlen, 2 * flen);
		return CAP_ERR_TOKEN;
	}
	if ((es = ECDSA_SIG_new()) == NULL ||
	    (br = BN_bin2bn(raw, (int)flen, NULL)) == NULL ||
	    (bs = BN_bin2bn(raw + flen, (int)flen, NULL)) == NULL ||
	    !ECDSA_SIG_set0(es, br, bs))
		goto out;
	br = bs = NULL;	/* transferred */
	if ((n = i2d_ECDSA_SIG(es, NULL)) <= 0)
		goto out;
	if ((buf = malloc((size_t)n)) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	p = buf;
	if (i2d_ECDSA_SIG(es, &p) != n)
		goto out;
	*der = buf;	/* transferred */
	*derlen = (size_t)n;
	buf = NULL;
	r = 0;
 out:
	BN_free(br);
	BN_free(bs);
	ECDSA_SIG_free(es);
	free(buf);
	return r;
}

int
hsm_ecdsa_sign_digest(hsm *h, hsm_obj priv, hsm_key_type type,
    const uint8_t *digest, size_t dlen, uint8_t **sig, size_t *siglen)
{
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	CK_SESSION_HANDLE s;
	uint8_t raw[2 * 66];
	CK_ULONG outlen = sizeof(raw);
	size_t flen;
	CK_RV rv;
	int r;

	*sig = NULL;
	*siglen = 0;
	if (h == NULL || priv == 0 || digest == NULL || dlen == 0 || dlen > 64)
		return CAP_ERR_INVALID;
	if (type == HSM_KEY_EC_P256)
		flen = 32;
	else if (type == HSM_KEY_EC_P384)
		flen = 48;
	else
		return CAP_ERR_INVALID;
	if ((r = hsm_sess_get(h, &s)) != 0)
		return r;
	if ((rv = h->fl->C_SignInit(s, &mech, priv)) != CKR_OK)
		r = hsm_ckr_err("C_SignInit(ECDSA)", rv);
	else if ((rv = h->fl->C_Sign(s, (CK_BYTE_PTR)digest, (CK_ULONG)dlen,
	    raw, &outlen)) != CKR_OK)
		r = hsm_ckr_err("C_Sign(ECDSA)", rv);
	hsm_sess_done(h, s, rv);
	if (r != 0)
		return r;
	return hsm_ecdsa_raw_to_der(raw, outlen, flen, sig, siglen);
}
