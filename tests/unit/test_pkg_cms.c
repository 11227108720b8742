/*
 * test_pkg_cms.c - CMS for packages with keys in a SoftHSM token:
 * detached signatures over content and over a SHA-256 digest for every
 * signing key type, checked by OpenSSL's CMS_verify (Ed25519, which
 * OpenSSL 3.0's CMS cannot verify, by hand against the signed attributes);
 * encryption to RSA and EC recipients and decryption in the token, with
 * both content ciphers; and the refusals.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "common/err.h"
#include "crypto/pkg_cms.h"
#include "harness.h"
#include "hsm/hsm.h"

/*
 * SoftHSM keeps a few bytes from C_SignInit; tests/lsan.supp names its
 * library, which the fast unwinder cannot reach through it.  Full unwinds
 * on malloc let the suppression match (only under AddressSanitizer).
 */
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
	return "fast_unwind_on_malloc=0";
}

static EVP_PKEY *ca_key;
static X509 *ca_cert;

/* A certificate for pub, issued by the software test CA (or self). */
static X509 *
make_cert(EVP_PKEY *pub, const char *cn, EVP_PKEY *signer, X509 *issuer)
{
	X509 *x = X509_new();
	X509_NAME *nm = X509_NAME_new();
	static long serial = 1;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, nm);
	X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) :
	    nm);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, pub);
	if (issuer == NULL) {
		X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, NULL,
		    NID_basic_constraints, "critical,CA:TRUE");
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	X509_sign(x, signer, EVP_sha256());
	X509_NAME_free(nm);
	return x;
}

/* A token key pair of type with a certificate from the test CA. */
static int
token_key(hsm *h, hsm_key_type type, hsm_obj *priv, X509 **cert,
    uint8_t **spki, size_t *spki_len)
{
	const unsigned char *p;
	EVP_PKEY *pub;
	hsm_obj pubo;

	if (hsm_key_generate(h, type, "pkgcms", NULL, 0, 0, priv, &pubo) != 0 ||
	    hsm_key_public_der(h, pubo, spki, spki_len) != 0)
		return -1;
	p = *spki;
	if ((pub = d2i_PUBKEY(NULL, &p, (long)*spki_len)) == NULL)
		return -1;
	*cert = make_cert(pub, hsm_key_type_name(type), ca_key, ca_cert);
	EVP_PKEY_free(pub);
	return *cert != NULL ? 0 : -1;
}

/* CMS_verify of a detached signature over content, against the CA. */
static int
verify_openssl(CMS_ContentInfo *cms, const uint8_t *content, size_t len)
{
	X509_STORE *st = X509_STORE_new();
	BIO *in = BIO_new_mem_buf(content, (int)len);
	int ok;

	X509_STORE_add_cert(st, ca_cert);
	ok = CMS_verify(cms, NULL, st, in, NULL, CMS_BINARY) == 1;
	ERR_clear_error();
	BIO_free(in);
	X509_STORE_free(st);
	return ok;
}

/*
 * Ed25519 by hand: the messageDigest attribute against the content and
 * the signature over the DER of the signed attributes.
 */
static int
verify_ed25519(CMS_ContentInfo *cms, X509 *cert, const uint8_t *content,
    size_t len, const EVP_MD *md)
{
	CMS_SignerInfo *si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms),
	    0);
	ASN1_OCTET_STRING *md_attr, *sig;
	uint8_t dg[64];
	unsigned int dlen;
	unsigned char *der = NULL;
	int derlen, ok = 0;
	EVP_MD_CTX *mc = EVP_MD_CTX_new();

	md_attr = CMS_signed_get0_data_by_OBJ(si,
	    OBJ_nid2obj(NID_pkcs9_messageDigest), -3, V_ASN1_OCTET_STRING);
	EVP_Digest(content, len, dg, &dlen, md, NULL);
	if (md_attr == NULL || (unsigned)ASN1_STRING_length(md_attr) != dlen ||
	    memcmp(ASN1_STRING_get0_data(md_attr), dg, dlen) != 0)
		goto out;
	/* The attributes as a DER SET, the bytes signed. */
	{
		STACK_OF(X509_ATTRIBUTE) *sk = sk_X509_ATTRIBUTE_new_null();
		int i, n = CMS_signed_get_attr_count(si);
		unsigned char *p;

		for (i = 0; i < n; i++)
			sk_X509_ATTRIBUTE_push(sk, CMS_signed_get_attr(si, i));
		{
			/* each encoded, sorted, wrapped */
			unsigned char *enc[16];
			int el[16], total = 0, j, k;

			for (i = 0; i < n; i++) {
				enc[i] = NULL;
				el[i] = i2d_X509_ATTRIBUTE(
				    sk_X509_ATTRIBUTE_value(sk, i), &enc[i]);
				total += el[i];
			}
			for (i = 0; i < n; i++)
				for (j = i + 1; j < n; j++) {
					int m = el[i] < el[j] ? el[i] : el[j];
					int c = memcmp(enc[i], enc[j], (size_t)m);

					if (c > 0 || (c == 0 && el[i] > el[j])) {
						unsigned char *tp = enc[i];
						int tl = el[i];

						enc[i] = enc[j];
						el[i] = el[j];
						enc[j] = tp;
						el[j] = tl;
					}
				}
			der = OPENSSL_malloc((size_t)total + 4);
			p = der;
			*p++ = 0x31;
			if (total < 0x80)
				*p++ = (unsigned char)total;
			else if (total < 0x100) {
				*p++ = 0x81;
				*p++ = (unsigned char)total;
			} else {
				*p++ = 0x82;
				*p++ = (unsigned char)(total >> 8);
				*p++ = (unsigned char)total;
			}
			for (k = 0; k < n; k++) {
				memcpy(p, enc[k], (size_t)el[k]);
				p += el[k];
				OPENSSL_free(enc[k]);
			}
			derlen = (int)(p - der);
		}
		sk_X509_ATTRIBUTE_free(sk);
	}
	sig = CMS_SignerInfo_get0_signature(si);
	ok = EVP_DigestVerifyInit(mc, NULL, NULL, NULL,
	    X509_get0_pubkey(cert)) == 1 &&
	    EVP_DigestVerify(mc, ASN1_STRING_get0_data(sig),
	    (size_t)ASN1_STRING_length(sig), der, (size_t)derlen) == 1;
 out:
	ERR_clear_error();
	OPENSSL_free(der);
	EVP_MD_CTX_free(mc);
	return ok;
}

static void
test_sign(hsm *h, hsm_key_type type)
{
	static const uint8_t content[] = "a VNF package manifest\n";
	struct pkg_cms_signer sg;
	CMS_ContentInfo *cms = NULL, *back = NULL;
	uint8_t *spki = NULL, dg[32];
	size_t spki_len = 0;
	X509 *cert = NULL;
	STACK_OF(X509) *certs;
	hsm_obj priv;
	char name[128], *pem = NULL;
	const char *tn = hsm_key_type_name(type);
	int ok;

	if (!th_check(token_key(h, type, &priv, &cert, &spki, &spki_len) == 0,
	    "token key", "%s key and certificate", tn))
		goto out;
	memset(&sg, 0, sizeof(sg));
	sg.h = h;
	sg.priv = priv;
	sg.type = type;
	sg.cert = cert;
	sg.chain = sk_X509_new_null();
	sk_X509_push(sg.chain, ca_cert);

	snprintf(name, sizeof(name), "%s signs content", tn);
	if (!TH_EQ_INT(pkg_cms_sign(&sg, content, sizeof(content) - 1, &cms),
	    0, name))
		goto out;
	snprintf(name, sizeof(name), "%s content signature round-trips PEM",
	    tn);
	if (!TH_EQ_INT(pkg_cms_pem(cms, &pem), 0, name) ||
	    !TH_EQ_INT(pkg_cms_read((uint8_t *)pem, strlen(pem), &back), 0,
	    name))
		goto out;
	th_check(CMS_is_detached(back) == 1, "detached", "%s: content absent",
	    tn);
	certs = CMS_get1_certs(back);
	th_check(sk_X509_num(certs) == 2, "certs",
	    "%s: signer and CA certificate included", tn);
	sk_X509_pop_free(certs, X509_free);
	ok = type == HSM_KEY_ED25519 ?
	    verify_ed25519(back, cert, content, sizeof(content) - 1,
	    EVP_sha512()) :
	    verify_openssl(back, content, sizeof(content) - 1);
	th_check(ok, "verify content", "%s content signature verifies", tn);
	ok = type == HSM_KEY_ED25519 ?
	    verify_ed25519(back, cert, (const uint8_t *)"other", 5,
	    EVP_sha512()) :
	    verify_openssl(back, (const uint8_t *)"other", 5);
	th_check(!ok, "verify other", "%s signature fails over other bytes",
	    tn);
	CMS_ContentInfo_free(cms);
	CMS_ContentInfo_free(back);
	cms = back = NULL;

	crypto_hash_sha256(dg, content, sizeof(content) - 1);
	snprintf(name, sizeof(name), "%s signs a SHA-256 digest", tn);
	if (!TH_EQ_INT(pkg_cms_sign_sha256(&sg, dg, &cms), 0, name))
		goto out;
	ok = type == HSM_KEY_ED25519 ?
	    verify_ed25519(cms, cert, content, sizeof(content) - 1,
	    EVP_sha256()) :
	    verify_openssl(cms, content, sizeof(content) - 1);
	th_check(ok, "verify digest", "%s digest signature verifies over the "
	    "content", tn);
 out:
	sk_X509_free(sg.chain);
	free(pem);
	free(spki);
	X509_free(cert);
	CMS_ContentInfo_free(cms);
	CMS_ContentInfo_free(back);
}

/*
 * Parses the message in out and decrypts it in the token with priv, by
 * its certificate or, with cert NULL, by the key alone: the content must
 * come back.
 */
static void
decrypts(hsm *h, hsm_obj priv, hsm_key_type type, const uint8_t *spki,
    size_t spki_len, X509 *cert, BIO *out, const uint8_t *content,
    size_t clen, const char *tn, const char *cn)
{
	CMS_ContentInfo *cms = NULL;
	BIO *pt = NULL;
	char name[160];
	char *buf;
	long n;

	n = BIO_get_mem_data(out, &buf);
	if (pkg_cms_read((uint8_t *)buf, (size_t)n, &cms) != 0)
		return;
	pt = BIO_new(BIO_s_secmem());
	snprintf(name, sizeof(name), "%s/%s: %s", tn, cn, cert != NULL ?
	    "decrypts in the token by cert" : "decrypts by key alone");
	if (TH_EQ_INT(pkg_cms_decrypt(h, priv, type, spki, spki_len, cert, cms,
	    pt), 0, name)) {
		n = BIO_get_mem_data(pt, &buf);
		th_check(n == (long)clen && memcmp(buf, content, clen) == 0,
		    "plaintext", "%s/%s: the content comes back", tn, cn);
	}
	BIO_free(pt);
	CMS_ContentInfo_free(cms);
}

/*
 * Decrypts the message in out with one byte changed: in the recipient's
 * encrypted key (the last OCTET STRING of klen bytes before the
 * EncryptedContentInfo, found by its id-data OID) or in the content.
 * Either way the answer must be the same, so that no caller learns which
 * part failed.
 */
static void
tampered(hsm *h, hsm_obj priv, hsm_key_type type, const uint8_t *spki,
    size_t spki_len, X509 *cert, BIO *out, const char *tn, const char *cn)
{
	static const uint8_t id_data[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
	    0xf7, 0x0d, 0x01, 0x07, 0x01 };
	const uint8_t *hdr;
	size_t hlen, klen, i, ecinfo = 0, key = 0, cpos;
	CMS_ContentInfo *cms = NULL, *bad = NULL;
	uint8_t *der = NULL;
	BIO *pt = NULL;
	char name[200], *buf;
	int n, part, r;
	long bn;

	if (type == HSM_KEY_RSA_2048) {
		hdr = (const uint8_t *)"\x04\x82\x01\x00";
		hlen = 4;
		klen = 256;
	} else {
		hdr = (const uint8_t *)"\x04\x28";
		hlen = 2;
		klen = 40;
	}
	bn = BIO_get_mem_data(out, &buf);
	if (pkg_cms_read((uint8_t *)buf, (size_t)bn, &cms) != 0 ||
	    (n = i2d_CMS_ContentInfo(cms, &der)) <= 0)
		goto out;
	for (i = 0; i + sizeof(id_data) <= (size_t)n; i++)
		if (memcmp(der + i, id_data, sizeof(id_data)) == 0) {
			ecinfo = i;
			break;
		}
	for (i = 0; i + hlen + klen <= ecinfo; i++)
		if (memcmp(der + i, hdr, hlen) == 0)
			key = i + hlen;
	if (!th_check(ecinfo > 0 && key > 0, "tamper", "%s/%s: encrypted key "
	    "found", tn, cn))
		goto out;
	/*
	 * The content: the last byte of the GCM tag; for CBC the byte of
	 * the first of its two blocks that turns the padding's last byte
	 * (3 for this 29-byte content) into 2.
	 */
	cpos = (size_t)n - (strcmp(cn, "aes-256-cbc") == 0 ? 17 : 1);
	for (part = 0; part < 4; part++) {
		const unsigned char *p = der;

		/* 0, 1: the key by cert, alone; 2, 3: the content */
		der[part < 2 ? key + klen / 2 : cpos] ^= 0x01;
		bad = d2i_CMS_ContentInfo(NULL, &p, n);
		der[part < 2 ? key + klen / 2 : cpos] ^= 0x01;
		if (bad == NULL)
			continue;
		pt = BIO_new(BIO_s_secmem());
		r = pkg_cms_decrypt(h, priv, type, spki, spki_len,
		    part % 2 == 0 ? cert : NULL, bad, pt);
		snprintf(name, sizeof(name), "%s/%s: a changed %s (%s) is "
		    "CAP_ERR_CRYPTO", tn, cn, part < 2 ? "encrypted key" :
		    "content", part % 2 == 0 ? "by cert" : "by key alone");
		TH_EQ_INT(r, CAP_ERR_CRYPTO, name);
		BIO_free(pt);
		pt = NULL;
		CMS_ContentInfo_free(bad);
		bad = NULL;
	}
	/*
	 * Every byte of the encrypted key, two ways, both lookups: a key that
	 * does not decrypt must never turn into a random content key whose
	 * CBC padding happens to check (about one in 256 would).
	 */
	if (strcmp(cn, "aes-256-cbc") == 0) {
		int sweep = 0, ok = 0, last = 0;

		for (i = 0; i < 2 * klen; i++) {
			const unsigned char *p = der;
			uint8_t flip = i < klen ? 0x01 : 0x80;

			der[key + i % klen] ^= flip;
			bad = d2i_CMS_ContentInfo(NULL, &p, n);
			der[key + i % klen] ^= flip;
			if (bad == NULL)
				continue;
			for (part = 0; part < 2; part++) {
				pt = BIO_new(BIO_s_secmem());
				r = pkg_cms_decrypt(h, priv, type, spki,
				    spki_len, part == 0 ? cert : NULL, bad, pt);
				sweep++;
				if (r == CAP_ERR_CRYPTO)
					ok++;
				else
					last = r;
				BIO_free(pt);
				pt = NULL;
			}
			CMS_ContentInfo_free(bad);
			bad = NULL;
		}
		th_check(sweep > 0 && ok == sweep, "sweep", "%s/%s: %d of %d "
		    "changed encrypted keys are CAP_ERR_CRYPTO (other: %d)",
		    tn, cn, ok, sweep, last);
	}
 out:
	OPENSSL_free(der);
	CMS_ContentInfo_free(cms);
}

static void
test_crypt(hsm *h, hsm_key_type type, enum pkg_cms_cipher cipher)
{
	static const uint8_t content[] = "a security-sensitive artifact";
	STACK_OF(X509) *rc = sk_X509_new_null();
	CMS_ContentInfo *cms = NULL;
	BIO *in = NULL, *out = NULL, *pt = NULL;
	uint8_t *spki = NULL, *spki2 = NULL;
	size_t spki_len = 0, spki2_len = 0;
	X509 *cert = NULL, *other = NULL;
	hsm_obj priv, priv2;
	char *buf;
	long n;
	char name[160];
	const char *tn = hsm_key_type_name(type), *cn = cipher ==
	    PKG_CMS_AES256_GCM ? "aes-256-gcm" : "aes-256-cbc";
	int r;

	if (!th_check(token_key(h, type, &priv, &cert, &spki, &spki_len) == 0 &&
	    token_key(h, type, &priv2, &other, &spki2, &spki2_len) == 0,
	    "token key", "%s recipient keys", tn))
		goto out;
	sk_X509_push(rc, cert);
	in = BIO_new_mem_buf(content, sizeof(content) - 1);
	out = BIO_new(BIO_s_mem());
	snprintf(name, sizeof(name), "%s/%s: encrypts", tn, cn);
	if (!TH_EQ_INT(pkg_cms_encrypt_bio(rc, cipher, in, out, 1), 0, name))
		goto out;
	n = BIO_get_mem_data(out, &buf);
	snprintf(name, sizeof(name), "%s/%s: the message parses", tn, cn);
	if (!TH_EQ_INT(pkg_cms_read((uint8_t *)buf, (size_t)n, &cms), 0, name))
		goto out;
	th_check(OBJ_obj2nid(CMS_get0_type(cms)) == (cipher ==
	    PKG_CMS_AES256_GCM ? NID_id_smime_ct_authEnvelopedData :
	    NID_pkcs7_enveloped), "type", "%s/%s: content type", tn, cn);
	CMS_ContentInfo_free(cms);
	cms = NULL;
	decrypts(h, priv, type, spki, spki_len, cert, out, content,
	    sizeof(content) - 1, tn, cn);
	decrypts(h, priv, type, spki, spki_len, NULL, out, content,
	    sizeof(content) - 1, tn, cn);
	tampered(h, priv, type, spki, spki_len, cert, out, tn, cn);
	n = BIO_get_mem_data(out, &buf);
	if (pkg_cms_read((uint8_t *)buf, (size_t)n, &cms) != 0)
		goto out;
	pt = BIO_new(BIO_s_secmem());
	r = pkg_cms_decrypt(h, priv2, type, spki2, spki2_len, other, cms, pt);
	th_check(r == CAP_ERR_INVALID || r == CAP_ERR_CRYPTO, "wrong key",
	    "%s/%s: another key is refused (got %d)", tn, cn, r);
 out:
	BIO_free(pt);
	BIO_free(in);
	BIO_free(out);
	CMS_ContentInfo_free(cms);
	sk_X509_free(rc);
	free(spki);
	free(spki2);
	X509_free(cert);
	X509_free(other);
}

static void
test_refusals(void)
{
	static const uint8_t junk[] = "-----BEGIN CMS-----\nAAAA\n-----END CMS-----\n";
	CMS_ContentInfo *cms = NULL;
	enum pkg_cms_cipher c;

	TH_EQ_INT(pkg_cms_read(junk, sizeof(junk) - 1, &cms), CAP_ERR_INVALID,
	    "a garbage PEM message is refused");
	TH_EQ_INT(pkg_cms_read((const uint8_t *)"\x30\x03\x02\x01", 4, &cms),
	    CAP_ERR_INVALID, "truncated DER is refused");
	TH_EQ_INT(pkg_cms_cipher_parse("aes-128-cbc", &c), CAP_ERR_INVALID,
	    "an unknown cipher is refused");
	TH_EQ_INT(pkg_cms_cipher_parse("aes-256-gcm", &c), 0,
	    "aes-256-gcm is known");
}

int
main(void)
{
	const char *uri, *pin;
	hsm *h = NULL;

	if (sodium_init() < 0 || th_softhsm_token(&uri, &pin) != 0)
		return 1;
	if (!TH_EQ_INT(hsm_open(uri, NULL, pin, 2, &h), 0, "token opens"))
		goto out;
	ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ca_cert = make_cert(ca_key, "Package Test CA", ca_key, NULL);
	test_sign(h, HSM_KEY_EC_P256);
	test_sign(h, HSM_KEY_EC_P384);
	test_sign(h, HSM_KEY_RSA_2048);
	test_sign(h, HSM_KEY_ED25519);
	test_crypt(h, HSM_KEY_RSA_2048, PKG_CMS_AES256_GCM);
	test_crypt(h, HSM_KEY_RSA_2048, PKG_CMS_AES256_CBC);
	test_crypt(h, HSM_KEY_EC_P256, PKG_CMS_AES256_GCM);
	test_crypt(h, HSM_KEY_EC_P384, PKG_CMS_AES256_CBC);
	test_refusals();
 out:
	X509_free(ca_cert);
	EVP_PKEY_free(ca_key);
	hsm_free(h);
	return th_done();
}
