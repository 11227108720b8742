/*
 * pkg_cms.c - CMS signing, encryption and decryption for packages with
 * token keys (see pkg_cms.h).
 *
 * Decryption gives OpenSSL's CMS code a key object whose private
 * operation is a callback into the token: an RSA_METHOD for key transport
 * and an EC_KEY_METHOD for key agreement.  OpenSSL 3.0 routes such
 * "foreign" keys through its legacy code, which is also how the libp11
 * engine works; pkcs11-provider is not packaged for Debian 12, so this
 * file asks for the deprecated method declarations explicitly.  The
 * method is made per call and carries the token handle, so nothing here
 * is global.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/cms.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "common/err.h"
#include "common/log.h"
#include "crypto/csr.h"
#include "crypto/pkg_cms.h"
#include "hsm/hsm_derive.h"

#define ATTRS_MAX	16	/* signed attributes of one SignerInfo */

static void
log_ossl(const char *what)
{
	char buf[256];
	unsigned long e;

	if ((e = ERR_get_error()) == 0)
		log_debug("pkg_cms: %s failed", what);
	else {
		ERR_error_string_n(e, buf, sizeof(buf));
		log_debug("pkg_cms: %s failed: %s", what, buf);
	}
	ERR_clear_error();
}

/* ---- signing ---- */

/* Does the certificate's key have the kind of the token key? */
static int
cert_matches_type(X509 *cert, hsm_key_type type)
{
	EVP_PKEY *pk = X509_get0_pubkey(cert);

	if (pk == NULL)
		return 0;
	switch (type) {
	case HSM_KEY_EC_P256:
	case HSM_KEY_EC_P384:
		return EVP_PKEY_is_a(pk, "EC") &&
		    EVP_PKEY_get_bits(pk) == (type == HSM_KEY_EC_P256 ? 256 : 384);
	case HSM_KEY_RSA_2048:
	case HSM_KEY_RSA_3072:
		return EVP_PKEY_is_a(pk, "RSA");
	case HSM_KEY_ED25519:
		return EVP_PKEY_is_a(pk, "ED25519");
	default:
		return 0;
	}
}

/* DER order of SET OF: bytes compared, a shorter prefix first. */
static int
der_cmp(const void *a, const void *b)
{
	const struct { unsigned char *p; int n; } *x = a, *y = b;
	int c = memcmp(x->p, y->p, (size_t)(x->n < y->n ? x->n : y->n));

	if (c != 0)
		return c;
	return x->n - y->n;
}

/*
 * The DER of the signed attributes as they are signed: a SET OF (tag
 * 0x31) in DER order, the order OpenSSL also writes them in.
 */
static int
signed_attrs_der(CMS_SignerInfo *si, uint8_t **out, size_t *outlen)
{
	struct { unsigned char *p; int n; } enc[ATTRS_MAX];
	size_t total = 0, hdr, off, i, n;
	uint8_t *buf = NULL;
	int cnt, r = CAP_ERR_INTERNAL;

	*out = NULL;
	memset(enc, 0, sizeof(enc));
	if ((cnt = CMS_signed_get_attr_count(si)) <= 0 || cnt > ATTRS_MAX)
		return CAP_ERR_INTERNAL;
	n = (size_t)cnt;
	for (i = 0; i < n; i++) {
		X509_ATTRIBUTE *a = CMS_signed_get_attr(si, (int)i);

		if (a == NULL || (enc[i].n = i2d_X509_ATTRIBUTE(a,
		    &enc[i].p)) <= 0)
			goto out;
		total += (size_t)enc[i].n;
	}
	qsort(enc, n, sizeof(enc[0]), der_cmp);
	hdr = total < 0x80 ? 2 : total < 0x100 ? 3 : total < 0x10000 ? 4 : 0;
	if (hdr == 0)
		goto out;
	if ((buf = malloc(hdr + total)) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	buf[0] = 0x31;
	if (hdr == 2)
		buf[1] = (uint8_t)total;
	else if (hdr == 3) {
		buf[1] = 0x81;
		buf[2] = (uint8_t)total;
	} else {
		buf[1] = 0x82;
		buf[2] = (uint8_t)(total >> 8);
		buf[3] = (uint8_t)total;
	}
	for (off = hdr, i = 0; i < n; i++) {
		memcpy(buf + off, enc[i].p, (size_t)enc[i].n);
		off += (size_t)enc[i].n;
	}
	*out = buf;
	*outlen = hdr + total;
	buf = NULL;
	r = 0;
 out:
	for (i = 0; i < ATTRS_MAX; i++)
		OPENSSL_free(enc[i].p);
	free(buf);
	return r;
}

/*
 * The algorithms of a signature: digest, signatureAlgorithm and its
 * parameter type.  digest_mode: the content is known by SHA-256 only.
 */
static int
sign_algs(hsm_key_type type, int digest_mode, const EVP_MD **md, int *sig_nid,
    int *ptype)
{
	*ptype = V_ASN1_UNDEF;
	switch (type) {
	case HSM_KEY_EC_P256:
		*md = EVP_sha256();
		*sig_nid = NID_ecdsa_with_SHA256;
		return 0;
	case HSM_KEY_EC_P384:
		*md = digest_mode ? EVP_sha256() : EVP_sha384();
		*sig_nid = digest_mode ? NID_ecdsa_with_SHA256 :
		    NID_ecdsa_with_SHA384;
		return 0;
	case HSM_KEY_RSA_2048:
	case HSM_KEY_RSA_3072:
		*md = EVP_sha256();
		*sig_nid = NID_sha256WithRSAEncryption;
		*ptype = V_ASN1_NULL;	/* RFC 4055: parameters are NULL */
		return 0;
	case HSM_KEY_ED25519:
		*md = digest_mode ? EVP_sha256() : EVP_sha512();
		*sig_nid = NID_ED25519;
		return 0;
	default:
		return CAP_ERR_INVALID;
	}
}

static int
sign_common(const struct pkg_cms_signer *sg, const EVP_MD *md, int sig_nid,
    int ptype, int digest_mode, const uint8_t *digest, size_t dlen,
    CMS_ContentInfo **out)
{
	const unsigned int flags = CMS_PARTIAL | CMS_DETACHED | CMS_BINARY |
	    CMS_NOSMIMECAP;
	CMS_ContentInfo *cms = NULL;
	CMS_SignerInfo *si;
	X509_ALGOR *psig = NULL;
	ASN1_TIME *now = NULL;
	ASN1_OCTET_STRING *sigstr;
	uint8_t *tbs = NULL, *sig = NULL, h[32];
	size_t tbslen = 0, siglen = 0;
	int i, r = CAP_ERR_INTERNAL;

	*out = NULL;
	if (!cert_matches_type(sg->cert, sg->type))
		return CAP_ERR_INVALID;
	if (sg->chain != NULL && sk_X509_num(sg->chain) > PKG_CMS_CHAIN_MAX)
		return CAP_ERR_TOO_LARGE;
	if ((cms = CMS_sign(NULL, NULL, NULL, NULL, flags)) == NULL ||
	    (si = CMS_add1_signer(cms, sg->cert, X509_get0_pubkey(sg->cert),
	    md, flags)) == NULL) {
		log_ossl("CMS signer");
		goto out;
	}
	if (CMS_set_detached(cms, 1) != 1)
		goto out;
	if ((now = X509_gmtime_adj(NULL, 0)) == NULL)
		goto out;
	if (CMS_signed_add1_attr_by_NID(si, NID_pkcs9_contentType,
	    V_ASN1_OBJECT, OBJ_nid2obj(NID_pkcs7_data), -1) != 1 ||
	    CMS_signed_add1_attr_by_NID(si, NID_pkcs9_signingTime,
	    now->type, now, -1) != 1 ||
	    CMS_signed_add1_attr_by_NID(si, NID_pkcs9_messageDigest,
	    V_ASN1_OCTET_STRING, digest, (int)dlen) != 1) {
		log_ossl("CMS attributes");
		goto out;
	}
	if ((r = signed_attrs_der(si, &tbs, &tbslen)) != 0)
		goto out;
	if (digest_mode && sg->type == HSM_KEY_EC_P384) {
		/* ecdsa-with-SHA256: the token's hash would be SHA-384 */
		crypto_hash_sha256(h, tbs, tbslen);
		r = hsm_ecdsa_sign_digest(sg->h, sg->priv, sg->type, h,
		    sizeof(h), &sig, &siglen);
	} else
		r = hsm_sign(sg->h, sg->priv, sg->type, tbs, tbslen, &sig,
		    &siglen);
	if (r != 0)
		goto out;
	r = CAP_ERR_INTERNAL;
	CMS_SignerInfo_get0_algs(si, NULL, NULL, NULL, &psig);
	if (psig == NULL || X509_ALGOR_set0(psig, OBJ_nid2obj(sig_nid), ptype,
	    NULL) != 1)
		goto out;
	if ((sigstr = CMS_SignerInfo_get0_signature(si)) == NULL ||
	    ASN1_STRING_set(sigstr, sig, (int)siglen) != 1)
		goto out;
	for (i = 0; sg->chain != NULL && i < sk_X509_num(sg->chain); i++)
		if (CMS_add1_cert(cms, sk_X509_value(sg->chain, i)) != 1) {
			log_ossl("CMS chain");
			goto out;
		}
	*out = cms;
	cms = NULL;	/* transferred */
	r = 0;
 out:
	ERR_clear_error();
	free(sig);
	free(tbs);
	ASN1_TIME_free(now);
	CMS_ContentInfo_free(cms);
	return r;
}

int
pkg_cms_sign(const struct pkg_cms_signer *sg, const uint8_t *content,
    size_t len, CMS_ContentInfo **out)
{
	uint8_t dg[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	const EVP_MD *md;
	int sig_nid, ptype, r;

	*out = NULL;
	if (sg == NULL || sg->h == NULL || sg->cert == NULL ||
	    (content == NULL && len != 0))
		return CAP_ERR_INVALID;
	if ((r = sign_algs(sg->type, 0, &md, &sig_nid, &ptype)) != 0)
		return r;
	if (EVP_Digest(content != NULL ? content : (const uint8_t *)"", len,
	    dg, &dlen, md, NULL) != 1)
		return CAP_ERR_INTERNAL;
	return sign_common(sg, md, sig_nid, ptype, 0, dg, dlen, out);
}

int
pkg_cms_sign_sha256(const struct pkg_cms_signer *sg, const uint8_t digest[32],
    CMS_ContentInfo **out)
{
	const EVP_MD *md;
	int sig_nid, ptype, r;

	*out = NULL;
	if (sg == NULL || sg->h == NULL || sg->cert == NULL || digest == NULL)
		return CAP_ERR_INVALID;
	if ((r = sign_algs(sg->type, 1, &md, &sig_nid, &ptype)) != 0)
		return r;
	return sign_common(sg, md, sig_nid, ptype, 1, digest, 32, out);
}

/* ---- encryption ---- */

int
pkg_cms_cipher_parse(const char *name, enum pkg_cms_cipher *out)
{
	if (name == NULL)
		return CAP_ERR_INVALID;
	if (strcmp(name, "aes-256-gcm") == 0)
		*out = PKG_CMS_AES256_GCM;
	else if (strcmp(name, "aes-256-cbc") == 0)
		*out = PKG_CMS_AES256_CBC;
	else
		return CAP_ERR_INVALID;
	return 0;
}

/* Adds one recipient with the key-management parameters we promise. */
static int
add_recipient(CMS_ContentInfo *cms, X509 *x)
{
	CMS_RecipientInfo *ri;
	EVP_PKEY_CTX *pctx;
	EVP_PKEY *pk = X509_get0_pubkey(x);

	if (pk == NULL)
		return CAP_ERR_INVALID;
	if (EVP_PKEY_is_a(pk, "EC")) {
		if (EVP_PKEY_get_bits(pk) != 256 && EVP_PKEY_get_bits(pk) != 384)
			return CAP_ERR_INVALID;
	} else if (!EVP_PKEY_is_a(pk, "RSA") || EVP_PKEY_get_bits(pk) < 2048)
		return CAP_ERR_INVALID;
	if ((ri = CMS_add1_recipient_cert(cms, x, CMS_KEY_PARAM)) == NULL ||
	    (pctx = CMS_RecipientInfo_get0_pkey_ctx(ri)) == NULL) {
		log_ossl("CMS recipient");
		return CAP_ERR_INVALID;
	}
	if (EVP_PKEY_is_a(pk, "RSA")) {
		if (EVP_PKEY_CTX_set_rsa_padding(pctx,
		    RSA_PKCS1_OAEP_PADDING) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_oaep_md(pctx, EVP_sha256()) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) <= 0)
			return CAP_ERR_INTERNAL;
	} else if (EVP_PKEY_CTX_set_ecdh_kdf_md(pctx, EVP_sha256()) <= 0)
		return CAP_ERR_INTERNAL;
	return 0;
}

int
pkg_cms_encrypt_bio(STACK_OF(X509) *recips, enum pkg_cms_cipher cipher,
    BIO *in, BIO *out, int pem)
{
	const unsigned int flags = CMS_BINARY | CMS_PARTIAL | CMS_STREAM;
	CMS_ContentInfo *cms = NULL;
	const EVP_CIPHER *c;
	int i, n, r;

	if (recips == NULL || in == NULL || out == NULL)
		return CAP_ERR_INVALID;
	if ((n = sk_X509_num(recips)) <= 0)
		return CAP_ERR_INVALID;
	if (n > PKG_CMS_RECIPS_MAX)
		return CAP_ERR_TOO_LARGE;
	if (cipher == PKG_CMS_AES256_GCM)
		c = EVP_aes_256_gcm();
	else if (cipher == PKG_CMS_AES256_CBC)
		c = EVP_aes_256_cbc();
	else
		return CAP_ERR_INVALID;
	r = CAP_ERR_INTERNAL;
	if ((cms = CMS_encrypt(NULL, NULL, c, flags)) == NULL) {
		log_ossl("CMS_encrypt");
		goto out;
	}
	for (i = 0; i < n; i++)
		if ((r = add_recipient(cms, sk_X509_value(recips, i))) != 0)
			goto out;
	r = CAP_ERR_IO;
	if (pem ? PEM_write_bio_CMS_stream(out, cms, in, flags) != 1 :
	    i2d_CMS_bio_stream(out, cms, in, flags) != 1) {
		log_ossl("CMS encrypt stream");
		goto out;
	}
	if (BIO_flush(out) != 1)
		goto out;
	r = 0;
 out:
	ERR_clear_error();
	CMS_ContentInfo_free(cms);
	return r;
}

/* ---- reading ---- */

int
pkg_cms_read(const uint8_t *buf, size_t len, CMS_ContentInfo **out)
{
	static const char pem_mark[] = "-----BEGIN ";
	BIO *b = NULL;
	CMS_ContentInfo *cms = NULL;
	const unsigned char *p = buf;
	size_t i;
	int r = CAP_ERR_INVALID;

	*out = NULL;
	if (buf == NULL || len == 0)
		return CAP_ERR_INVALID;
	if (len > PKG_CMS_INPUT_MAX)
		return CAP_ERR_TOO_LARGE;
	for (i = 0; i < len && (buf[i] == ' ' || buf[i] == '\t' ||
	    buf[i] == '\r' || buf[i] == '\n'); i++)
		;
	if (len - i >= sizeof(pem_mark) - 1 &&
	    memcmp(buf + i, pem_mark, sizeof(pem_mark) - 1) == 0) {
		if ((b = BIO_new_mem_buf(buf, (int)len)) == NULL) {
			r = CAP_ERR_NOMEM;
			goto out;
		}
		cms = PEM_read_bio_CMS(b, NULL, NULL, NULL);
	} else {
		cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
		if (cms != NULL && p != buf + len) {
			CMS_ContentInfo_free(cms);
			cms = NULL;
		}
	}
	if (cms == NULL)
		goto out;
	*out = cms;
	r = 0;
 out:
	ERR_clear_error();
	BIO_free(b);
	return r;
}

int
pkg_cms_pem(CMS_ContentInfo *cms, char **pem)
{
	BIO *bio = NULL;
	int r = CAP_ERR_INTERNAL;

	*pem = NULL;
	if (cms == NULL)
		return CAP_ERR_INVALID;
	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_CMS(bio, cms) != 1)
		goto out;
	r = csr_bio_text(bio, 0, pem);
 out:
	BIO_free(bio);
	return r;
}

/* ---- decryption with a token key ---- */

struct tok {
	hsm		*h;
	hsm_obj		 priv;
	int		 err;	/* the first CAP_ERR_* of a callback */
};

/* below_modulus: 1 when the big-endian number at from is less than n. */
static int
below_modulus(const unsigned char *from, int flen, const RSA *rsa)
{
	const BIGNUM *n = RSA_get0_n(rsa);
	BIGNUM *c;
	int below;

	if (n == NULL || (c = BN_bin2bn(from, flen, NULL)) == NULL)
		return 0;
	below = BN_cmp(c, n) < 0;
	BN_free(c);
	return below;
}

/*
 * OpenSSL's RSA-OAEP decryption of a foreign key asks for the raw RSA
 * result and checks the padding itself (in constant time); PKCS#1 v1.5
 * key transport is refused.
 */
static int
rsa_priv_dec(int flen, const unsigned char *from, unsigned char *to,
    RSA *rsa, int padding)
{
	struct tok *t = RSA_meth_get0_app_data(RSA_get_method(rsa));
	int modlen = RSA_size(rsa), r;

	if (t == NULL || flen <= 0 || modlen <= 0)
		return -1;
	if (padding != RSA_NO_PADDING) {
		if (t->err == 0)
			t->err = CAP_ERR_INVALID;
		return -1;
	}
	/*
	 * A ciphertext made for another key may exceed this modulus; it is
	 * not this key's (some tokens answer CKR_GENERAL_ERROR to it).
	 */
	if (!below_modulus(from, flen, rsa)) {
		if (t->err == 0)
			t->err = CAP_ERR_CRYPTO;
		return -1;
	}
	if ((r = hsm_rsa_raw_decrypt(t->h, t->priv, from, (size_t)flen, to,
	    (size_t)modlen)) != 0) {
		if (t->err == 0 || t->err == CAP_ERR_CRYPTO)
			t->err = r;
		return -1;
	}
	return modlen;
}

static int
ec_compute_key(unsigned char **psec, size_t *pseclen, const EC_POINT *pub,
    const EC_KEY *ec)
{
	struct tok *t = EC_KEY_get_ex_data(ec, 0);
	const EC_GROUP *g = EC_KEY_get0_group(ec);
	uint8_t pt[HSM_ECDH_POINT_MAX], *sec = NULL;
	size_t ptlen, flen;
	int r;

	if (t == NULL || g == NULL)
		return 0;
	flen = ((size_t)EC_GROUP_get_degree(g) + 7) / 8;
	if ((ptlen = EC_POINT_point2oct(g, pub, POINT_CONVERSION_UNCOMPRESSED,
	    pt, sizeof(pt), NULL)) == 0)
		return 0;
	if ((sec = OPENSSL_malloc(flen)) == NULL)
		return 0;
	if ((r = hsm_ecdh_derive(t->h, t->priv, pt, ptlen, sec, flen)) != 0) {
		if (t->err == 0 || t->err == CAP_ERR_CRYPTO)
			t->err = r;
		OPENSSL_clear_free(sec, flen);
		return 0;
	}
	*psec = sec;	/* OpenSSL wipes and frees it */
	*pseclen = flen;
	return 1;
}

/*
 * A key object for OpenSSL, from the token key's public half, whose
 * private operation calls into the token.  *rm / *em are the methods to
 * free after the key.
 */
static int
token_pkey(struct tok *t, hsm_key_type type, const uint8_t *spki,
    size_t spki_len, EVP_PKEY **out, RSA_METHOD **rm, EC_KEY_METHOD **em)
{
	const unsigned char *p = spki;
	EVP_PKEY *pub = NULL, *pk = NULL;
	RSA *rsa = NULL;
	EC_KEY *ec = NULL;
	int r = CAP_ERR_INVALID;

	*out = NULL;
	*rm = NULL;
	*em = NULL;
	if ((pub = d2i_PUBKEY(NULL, &p, (long)spki_len)) == NULL ||
	    p != spki + spki_len)
		goto out;
	if ((pk = EVP_PKEY_new()) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	r = CAP_ERR_INTERNAL;
	if (type == HSM_KEY_RSA_2048 || type == HSM_KEY_RSA_3072) {
		if ((rsa = EVP_PKEY_get1_RSA(pub)) == NULL ||
		    (*rm = RSA_meth_dup(RSA_get_default_method())) == NULL ||
		    RSA_meth_set_priv_dec(*rm, rsa_priv_dec) != 1 ||
		    RSA_meth_set0_app_data(*rm, t) != 1 ||
		    RSA_set_method(rsa, *rm) != 1 ||
		    EVP_PKEY_assign_RSA(pk, rsa) != 1)
			goto out;
		rsa = NULL;	/* transferred */
	} else if (type == HSM_KEY_EC_P256 || type == HSM_KEY_EC_P384) {
		if ((ec = EVP_PKEY_get1_EC_KEY(pub)) == NULL ||
		    (*em = EC_KEY_METHOD_new(EC_KEY_get_default_method()))
		    == NULL)
			goto out;
		EC_KEY_METHOD_set_compute_key(*em, ec_compute_key);
		if (EC_KEY_set_method(ec, *em) != 1 ||
		    EC_KEY_set_ex_data(ec, 0, t) != 1 ||
		    EVP_PKEY_assign_EC_KEY(pk, ec) != 1)
			goto out;
		ec = NULL;	/* transferred */
	} else {
		r = CAP_ERR_INVALID;
		goto out;
	}
	*out = pk;
	pk = NULL;
	r = 0;
 out:
	if (r != 0)
		log_ossl("token key object");
	RSA_free(rsa);
	EC_KEY_free(ec);
	EVP_PKEY_free(pk);
	EVP_PKEY_free(pub);
	return r;
}

/*
 * Whether the message has a recipient entry this key could be: key
 * transport for RSA, key agreement for EC; with cert, one that names it.
 * This is decided on the message's structure alone, so that every
 * failure after it is the same CAP_ERR_CRYPTO whichever part (encrypted
 * key, key wrap, content) did not check.
 */
static int
has_recipient(CMS_ContentInfo *cms, hsm_key_type type, X509 *cert)
{
	STACK_OF(CMS_RecipientInfo) *ris;
	STACK_OF(CMS_RecipientEncryptedKey) *reks;
	CMS_RecipientInfo *ri;
	int i, j, want, rsa;

	rsa = type == HSM_KEY_RSA_2048 || type == HSM_KEY_RSA_3072;
	want = rsa ? CMS_RECIPINFO_TRANS : CMS_RECIPINFO_AGREE;
	if ((ris = CMS_get0_RecipientInfos(cms)) == NULL)
		return 0;
	for (i = 0; i < sk_CMS_RecipientInfo_num(ris); i++) {
		ri = sk_CMS_RecipientInfo_value(ris, i);
		if (CMS_RecipientInfo_type(ri) != want)
			continue;
		if (cert == NULL)
			return 1;
		if (rsa) {
			if (CMS_RecipientInfo_ktri_cert_cmp(ri, cert) == 0)
				return 1;
			continue;
		}
		if ((reks = CMS_RecipientInfo_kari_get0_reks(ri)) == NULL)
			continue;
		for (j = 0; j < sk_CMS_RecipientEncryptedKey_num(reks); j++)
			if (CMS_RecipientEncryptedKey_cert_cmp(
			    sk_CMS_RecipientEncryptedKey_value(reks, j),
			    cert) == 0)
				return 1;
	}
	return 0;
}

int
pkg_cms_decrypt(hsm *h, hsm_obj priv, hsm_key_type type, const uint8_t *spki,
    size_t spki_len, X509 *cert, CMS_ContentInfo *cms, BIO *out)
{
	struct tok t = { h, priv, 0 };
	RSA_METHOD *rm = NULL;
	EC_KEY_METHOD *em = NULL;
	EVP_PKEY *pk = NULL;
	int nid, r;

	if (h == NULL || priv == 0 || spki == NULL || cms == NULL ||
	    out == NULL)
		return CAP_ERR_INVALID;
	nid = OBJ_obj2nid(CMS_get0_type(cms));
	if (nid != NID_pkcs7_enveloped && nid != NID_id_smime_ct_authEnvelopedData)
		return CAP_ERR_INVALID;
	if (!has_recipient(cms, type, cert)) {
		ERR_clear_error();
		return CAP_ERR_INVALID;
	}
	if ((r = token_pkey(&t, type, spki, spki_len, &pk, &rm, &em)) != 0)
		goto out;
	/*
	 * CMS_DEBUG_DECRYPT: a recipient key that does not decrypt is an
	 * error, not a random content key.  OpenSSL's default (a random
	 * key, against a padding oracle on PKCS#1 v1.5 key transport) would
	 * let a changed encrypted key pass as garbage plaintext whenever
	 * CBC padding happens to check; here key transport is RSA-OAEP
	 * only (rsa_priv_dec) and key agreement ends in an AES key wrap
	 * with its own integrity check, so saying that the key did not
	 * decrypt tells a caller nothing it could use.  Every failure is
	 * the same CAP_ERR_CRYPTO.
	 */
	if (CMS_decrypt(cms, pk, cert, NULL, out,
	    CMS_BINARY | CMS_DEBUG_DECRYPT) != 1) {
		log_ossl("CMS decrypt");
		r = t.err == CAP_ERR_UNSUPPORTED || t.err == CAP_ERR_TOKEN ?
		    t.err : CAP_ERR_CRYPTO;
		goto out;
	}
	r = 0;
 out:
	ERR_clear_error();
	EVP_PKEY_free(pk);
	RSA_meth_free(rm);
	if (em != NULL)	/* not NULL-safe in OpenSSL 3.0 */
		EC_KEY_METHOD_free(em);
	return r;
}
