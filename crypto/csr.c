/*
 * csr.c - PKCS#10 requests signed in the token.
 *
 * The request is built in software without a private key, its
 * CertificationRequestInfo is encoded with i2d_re_X509_REQ_tbs, signed by
 * hsm_sign (which picks the hash per key type) and the signature and its
 * AlgorithmIdentifier are set on the request.  The info is not touched
 * after it was encoded, so the DER written out is the DER signed.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include "common/err.h"
#include "common/log.h"
#include "crypto/csr.h"

/* ---- subject ---- */

static int
attr_name_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '-';
}

/* Adds one attribute; name and value are NUL-terminated, value non-empty. */
static int
subject_add(X509_NAME *nm, const char *name, const char *value, size_t vlen)
{
	const char *p;
	int nid;

	if (*name == '\0' || vlen == 0)
		return CAP_ERR_INVALID;
	for (p = name; *p != '\0'; p++)
		if (!attr_name_char(*p))
			return CAP_ERR_INVALID;
	if ((nid = OBJ_txt2nid(name)) == NID_undef)
		return CAP_ERR_INVALID;
	if (X509_NAME_entry_count(nm) >= CSR_SUBJECT_RDNS_MAX)
		return CAP_ERR_TOO_LARGE;
	if (X509_NAME_add_entry_by_NID(nm, nid, MBSTRING_UTF8,
	    (const unsigned char *)value, (int)vlen, -1, 0) != 1)
		return CAP_ERR_INVALID;
	return 0;
}

int
csr_subject_parse(const char *s, X509_NAME **out)
{
	char name[CSR_SUBJECT_MAX + 1], value[CSR_SUBJECT_MAX + 1];
	size_t len, i, nlen = 0, vlen = 0, keep = 0;
	X509_NAME *nm = NULL;
	int in_value = 0, r;
	char c;

	*out = NULL;
	if (s == NULL)
		return CAP_ERR_INVALID;
	if ((len = strnlen(s, CSR_SUBJECT_MAX + 1)) > CSR_SUBJECT_MAX)
		return CAP_ERR_TOO_LARGE;
	if ((nm = X509_NAME_new()) == NULL)
		return CAP_ERR_NOMEM;
	r = CAP_ERR_INVALID;
	for (i = 0; i <= len; i++) {
		c = s[i];
		if (c != '\0' && (unsigned char)c < 0x20)
			goto out;
		if (!in_value) {
			if (c == '=') {
				while (nlen > 0 && name[nlen - 1] == ' ')
					nlen--;
				name[nlen] = '\0';
				in_value = 1;
				vlen = keep = 0;
			} else if (c == '\0' && nlen == 0 &&
			    X509_NAME_entry_count(nm) == 0) {
				break;	/* the empty subject */
			} else if (c == '\0' || c == ',' || c == '\\') {
				goto out;
			} else if (c != ' ' || nlen > 0)
				name[nlen++] = c;
			continue;
		}
		if (c == '\\') {
			if (++i >= len || (unsigned char)s[i] < 0x20)
				goto out;
			value[vlen++] = s[i];
			keep = vlen;	/* an escaped char is never trimmed */
		} else if (c == ',' || c == '\0') {
			while (vlen > keep && value[vlen - 1] == ' ')
				vlen--;
			value[vlen] = '\0';
			if ((r = subject_add(nm, name, value, vlen)) != 0)
				goto out;
			r = CAP_ERR_INVALID;
			in_value = 0;
			nlen = 0;
			if (c == ',' && s[i + 1] == '\0')
				goto out;	/* trailing comma */
		} else if (c != ' ' || vlen > 0)
			value[vlen++] = c;
	}
	*out = nm;
	nm = NULL;	/* transferred */
	r = 0;
 out:
	X509_NAME_free(nm);
	return r;
}

/* ---- subjectAltName ---- */

static int
san_value_valid(const char *v)
{
	const char *p;

	if (*v == '\0')
		return 0;
	for (p = v; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return 0;
	return 1;
}

static int
san_one(const char *s, GENERAL_NAME **out)
{
	static const struct { const char *pfx; int type; } kinds[] = {
		{ "DNS:", GEN_DNS }, { "IP:", GEN_IPADD },
		{ "URI:", GEN_URI }, { "email:", GEN_EMAIL },
	};
	uint8_t ip[16];
	const char *v = NULL;
	GENERAL_NAME *gn = NULL;
	ASN1_STRING *str = NULL;
	size_t i, iplen = 0;
	int type = 0, r;

	*out = NULL;
	if (strnlen(s, CSR_SAN_MAX + 1) > CSR_SAN_MAX)
		return CAP_ERR_TOO_LARGE;
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strncasecmp(s, kinds[i].pfx, strlen(kinds[i].pfx)) == 0) {
			v = s + strlen(kinds[i].pfx);
			type = kinds[i].type;
			break;
		}
	if (v == NULL || !san_value_valid(v))
		return CAP_ERR_INVALID;
	if (type == GEN_IPADD) {
		if (inet_pton(AF_INET, v, ip) == 1)
			iplen = 4;
		else if (inet_pton(AF_INET6, v, ip) == 1)
			iplen = 16;
		else
			return CAP_ERR_INVALID;
	} else if (type == GEN_EMAIL && strchr(v, '@') == NULL)
		return CAP_ERR_INVALID;
	r = CAP_ERR_NOMEM;
	if ((gn = GENERAL_NAME_new()) == NULL)
		goto out;
	str = type == GEN_IPADD ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new();
	if (str == NULL)
		goto out;
	if ((type == GEN_IPADD && ASN1_STRING_set(str, ip, (int)iplen) != 1) ||
	    (type != GEN_IPADD && ASN1_STRING_set(str, v, -1) != 1))
		goto out;
	GENERAL_NAME_set0_value(gn, type, str);
	str = NULL;	/* transferred */
	*out = gn;
	gn = NULL;
	r = 0;
 out:
	ASN1_STRING_free(str);
	GENERAL_NAME_free(gn);
	return r;
}

int
csr_sans_parse(const char *const *sans, size_t nsans, GENERAL_NAMES **out)
{
	GENERAL_NAMES *gens = NULL;
	GENERAL_NAME *gn = NULL;
	size_t i;
	int r;

	*out = NULL;
	if (nsans > CSR_SANS_MAX)
		return CAP_ERR_TOO_LARGE;
	if (nsans > 0 && sans == NULL)
		return CAP_ERR_INVALID;
	if ((gens = sk_GENERAL_NAME_new_null()) == NULL)
		return CAP_ERR_NOMEM;
	for (i = 0; i < nsans; i++) {
		if (sans[i] == NULL) {
			r = CAP_ERR_INVALID;
			goto out;
		}
		if ((r = san_one(sans[i], &gn)) != 0)
			goto out;
		if (sk_GENERAL_NAME_push(gens, gn) <= 0) {
			GENERAL_NAME_free(gn);
			r = CAP_ERR_NOMEM;
			goto out;
		}
	}
	*out = gens;
	gens = NULL;	/* transferred */
	r = 0;
 out:
	GENERAL_NAMES_free(gens);
	return r;
}

/* ---- the request ---- */

static int
sig_alg(hsm_key_type type, int *nid, int *ptype)
{
	*ptype = V_ASN1_UNDEF;
	switch (type) {
	case HSM_KEY_EC_P256:
		*nid = NID_ecdsa_with_SHA256;
		return 0;
	case HSM_KEY_EC_P384:
		*nid = NID_ecdsa_with_SHA384;
		return 0;
	case HSM_KEY_RSA_2048:
	case HSM_KEY_RSA_3072:
		*nid = NID_sha256WithRSAEncryption;
		*ptype = V_ASN1_NULL;	/* RFC 4055: parameters are NULL */
		return 0;
	case HSM_KEY_ED25519:
		*nid = NID_ED25519;
		return 0;
	default:
		return CAP_ERR_INVALID;
	}
}

static int
add_sans(X509_REQ *req, const char *const *sans, size_t nsans)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_EXTENSION *ext = NULL;
	GENERAL_NAMES *gens = NULL;
	int r;

	if ((r = csr_sans_parse(sans, nsans, &gens)) != 0)
		return r;
	r = CAP_ERR_NOMEM;
	if ((exts = sk_X509_EXTENSION_new_null()) == NULL ||
	    (ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens)) == NULL)
		goto out;
	if (sk_X509_EXTENSION_push(exts, ext) <= 0)
		goto out;
	ext = NULL;	/* transferred */
	if (X509_REQ_add_extensions(req, exts) != 1)
		goto out;
	r = 0;
 out:
	X509_EXTENSION_free(ext);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	GENERAL_NAMES_free(gens);
	return r;
}

int
csr_build(hsm *h, hsm_obj priv, hsm_key_type type, const uint8_t *spki,
    size_t spki_len, const char *subject, const char *const *sans,
    size_t nsans, X509_REQ **out)
{
	const unsigned char *p;
	X509_REQ *req = NULL;
	X509_NAME *nm = NULL;
	EVP_PKEY *pk = NULL;
	X509_ALGOR *alg = NULL;
	ASN1_BIT_STRING *bits = NULL;
	unsigned char *tbs = NULL;
	uint8_t *sig = NULL;
	size_t siglen = 0;
	int nid, ptype, tbslen, r;

	*out = NULL;
	if (h == NULL || priv == 0 || spki == NULL || spki_len == 0 ||
	    spki_len > 4096 || subject == NULL)
		return CAP_ERR_INVALID;
	if ((r = sig_alg(type, &nid, &ptype)) != 0)
		return r;
	if ((r = csr_subject_parse(subject, &nm)) != 0)
		return r;
	r = CAP_ERR_INVALID;
	p = spki;
	if ((pk = d2i_PUBKEY(NULL, &p, (long)spki_len)) == NULL ||
	    p != spki + spki_len)
		goto out;
	r = CAP_ERR_NOMEM;
	if ((req = X509_REQ_new()) == NULL ||
	    X509_REQ_set_version(req, 0) != 1 ||
	    X509_REQ_set_subject_name(req, nm) != 1 ||
	    X509_REQ_set_pubkey(req, pk) != 1)
		goto out;
	if (nsans > 0 && (r = add_sans(req, sans, nsans)) != 0)
		goto out;
	r = CAP_ERR_INTERNAL;
	if ((tbslen = i2d_re_X509_REQ_tbs(req, &tbs)) <= 0)
		goto out;
	if ((r = hsm_sign(h, priv, type, tbs, (size_t)tbslen, &sig,
	    &siglen)) != 0)
		goto out;
	r = CAP_ERR_NOMEM;
	if ((alg = X509_ALGOR_new()) == NULL ||
	    X509_ALGOR_set0(alg, OBJ_nid2obj(nid), ptype, NULL) != 1 ||
	    X509_REQ_set1_signature_algo(req, alg) != 1)
		goto out;
	if ((bits = ASN1_BIT_STRING_new()) == NULL ||
	    ASN1_BIT_STRING_set(bits, sig, (int)siglen) != 1)
		goto out;
	/* A signature is whole bytes: say "0 unused bits" explicitly. */
	bits->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
	bits->flags |= ASN1_STRING_FLAG_BITS_LEFT;
	X509_REQ_set0_signature(req, bits);
	bits = NULL;	/* transferred */
	*out = req;
	req = NULL;
	r = 0;
 out:
	ASN1_BIT_STRING_free(bits);
	X509_ALGOR_free(alg);
	free(sig);
	OPENSSL_free(tbs);
	X509_REQ_free(req);
	EVP_PKEY_free(pk);
	X509_NAME_free(nm);
	return r;
}

int
csr_bio_text(BIO *bio, size_t max, char **out)
{
	char *mem, *res;
	long n;

	*out = NULL;
	if ((n = BIO_get_mem_data(bio, &mem)) <= 0 ||
	    (max != 0 && (size_t)n > max))
		return CAP_ERR_INTERNAL;
	if ((res = malloc((size_t)n + 1)) == NULL)
		return CAP_ERR_NOMEM;
	memcpy(res, mem, (size_t)n);
	res[n] = '\0';
	*out = res;	/* transferred */
	return 0;
}

int
csr_pem(X509_REQ *req, char **pem)
{
	BIO *bio = NULL;
	int r = CAP_ERR_INTERNAL;

	*pem = NULL;
	if (req == NULL)
		return CAP_ERR_INVALID;
	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_X509_REQ(bio, req) != 1)
		goto out;
	r = csr_bio_text(bio, 0, pem);
 out:
	BIO_free(bio);
	return r;
}
