/* est_srv.c - EST (RFC 7030) request and answer encodings. */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "common/err.h"
#include "nfv/est_srv.h"

#define B64_IGNORE	" \t\r\n"

/* base64 text (either padding) into a fresh buffer. */
static int
b64_decode(const char *in, size_t len, uint8_t **out, size_t *outlen)
{
	uint8_t *b = NULL;
	size_t cap = len / 4 * 3 + 3, n = 0;
	int r = CAP_ERR_INVALID;

	*out = NULL;
	*outlen = 0;
	if ((b = malloc(cap)) == NULL)
		return CAP_ERR_NOMEM;
	if (sodium_base642bin(b, cap, in, len, B64_IGNORE, &n, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0 &&
	    sodium_base642bin(b, cap, in, len, B64_IGNORE, &n, NULL,
	    sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0)
		goto out;
	if (n == 0)
		goto out;
	*out = b;
	*outlen = n;
	b = NULL;	/* transferred */
	r = 0;
 out:
	if (b != NULL) {
		sodium_memzero(b, cap);
		free(b);
	}
	return r;
}

int
est_csr_decode(const uint8_t *body, size_t len, uint8_t **der, size_t *derlen)
{
	const unsigned char *p;
	X509_REQ *req = NULL;
	uint8_t *b = NULL;
	size_t n = 0;
	int r;

	*der = NULL;
	*derlen = 0;
	if (body == NULL || len == 0)
		return CAP_ERR_INVALID;
	if (len > EST_BODY_MAX)
		return CAP_ERR_TOO_LARGE;
	if ((r = b64_decode((const char *)body, len, &b, &n)) != 0)
		goto out;
	r = CAP_ERR_INVALID;
	p = b;
	/* The whole buffer must be exactly one request. */
	if ((req = d2i_X509_REQ(NULL, &p, (long)n)) == NULL ||
	    p != b + n)
		goto out;
	*der = b;
	*derlen = n;
	b = NULL;	/* transferred */
	r = 0;
 out:
	X509_REQ_free(req);
	free(b);
	ERR_clear_error();
	return r;
}

int
est_certs_encode(X509 *cert, STACK_OF(X509) *chain, char **out,
    size_t *outlen)
{
	PKCS7 *p7 = NULL;
	STACK_OF(X509) *certs = NULL;
	unsigned char *der = NULL;
	char *txt = NULL, *o = NULL;
	size_t tlen, olen, i, k;
	int dlen, r = CAP_ERR_NOMEM;

	*out = NULL;
	*outlen = 0;
	if (cert == NULL && sk_X509_num(chain) <= 0)
		return CAP_ERR_INVALID;
	/*
	 * certs-only (RFC 7030 4.1.3): a SignedData of type data with no
	 * eContent, no signers, the certificates and nothing else.  Some
	 * clients (strongSwan) refuse an empty eContent.
	 */
	if ((p7 = PKCS7_new()) == NULL ||
	    PKCS7_set_type(p7, NID_pkcs7_signed) != 1 ||
	    PKCS7_content_new(p7, NID_pkcs7_data) != 1)
		goto out;
	ASN1_OCTET_STRING_free(p7->d.sign->contents->d.data);
	p7->d.sign->contents->d.data = NULL;
	if ((certs = sk_X509_new_null()) == NULL)
		goto out;
	p7->d.sign->cert = certs;
	certs = NULL;	/* transferred */
	if (cert != NULL && PKCS7_add_certificate(p7, cert) != 1)
		goto out;
	for (i = 0; chain != NULL && i < (size_t)sk_X509_num(chain); i++)
		if (PKCS7_add_certificate(p7, sk_X509_value(chain,
		    (int)i)) != 1)
			goto out;
	if ((dlen = i2d_PKCS7(p7, &der)) <= 0)
		goto out;
	tlen = sodium_base64_encoded_len((size_t)dlen,
	    sodium_base64_VARIANT_ORIGINAL);
	if ((txt = malloc(tlen)) == NULL)
		goto out;
	sodium_bin2base64(txt, tlen, der, (size_t)dlen,
	    sodium_base64_VARIANT_ORIGINAL);
	tlen = strlen(txt);
	/*
	 * One line, newline-terminated: strongSwan's EST client decodes the
	 * body as one base64 run and stops at a line break.
	 */
	olen = tlen + 2;
	if ((o = malloc(olen)) == NULL)
		goto out;
	memcpy(o, txt, tlen);
	k = tlen;
	o[k++] = '\n';
	o[k] = '\0';
	*out = o;
	*outlen = k;
	o = NULL;	/* transferred */
	r = 0;
 out:
	free(o);
	free(txt);
	OPENSSL_free(der);
	PKCS7_free(p7);
	sk_X509_pop_free(certs, X509_free);
	ERR_clear_error();
	return r;
}

int
est_ref_valid(const char *s, size_t len)
{
	size_t i;

	if (len != CMF_INITCRED_REF_LEN)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f') ||
		    (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return 1;
}

int
est_basic_parse(const char *value, char ref[CMF_INITCRED_REF_LEN + 1],
    char secret[EST_SECRET_MAX + 1], size_t *secretlen)
{
	uint8_t buf[EST_AUTH_MAX];
	const char *p;
	uint8_t *colon;
	size_t vlen, n = 0, plen;
	int r = CAP_ERR_UNAUTH;

	ref[0] = '\0';
	secret[0] = '\0';
	*secretlen = 0;
	if (value == NULL || (vlen = strnlen(value, EST_AUTH_MAX + 1)) >
	    EST_AUTH_MAX || vlen < 6 || strncasecmp(value, "Basic ", 6) != 0)
		return CAP_ERR_UNAUTH;
	for (p = value + 6; *p == ' '; p++)
		;
	if (sodium_base642bin(buf, sizeof(buf), p, strlen(p), NULL, &n,
	    NULL, sodium_base64_VARIANT_ORIGINAL) != 0 || n == 0)
		goto out;
	if ((colon = memchr(buf, ':', n)) == NULL ||
	    !est_ref_valid((const char *)buf, (size_t)(colon - buf)))
		goto out;
	plen = n - (size_t)(colon - buf) - 1;
	if (plen == 0 || plen > EST_SECRET_MAX ||
	    memchr(colon + 1, '\0', plen) != NULL)
		goto out;
	memcpy(ref, buf, CMF_INITCRED_REF_LEN);
	ref[CMF_INITCRED_REF_LEN] = '\0';
	memcpy(secret, colon + 1, plen);
	secret[plen] = '\0';
	*secretlen = plen;
	r = 0;
 out:
	sodium_memzero(buf, sizeof(buf));
	return r;
}
