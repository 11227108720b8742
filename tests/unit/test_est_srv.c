/*
 * test_est_srv.c - the protocol pieces of the enrolment server: EST body
 * decoding, certs-only answers and HTTP Basic credentials (est_srv.h);
 * the CMP request outline, CRMF templates turned into PKCS#10 and an
 * unprotected genm answered with the CA certificates (cmp_srv.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/cmp.h>
#include <openssl/crmf.h>
#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "common/err.h"
#include "nfv/cmp_srv.h"
#include "nfv/est_srv.h"
#include "tests/unit/harness.h"

static EVP_PKEY *
ec_key(void)
{
	return EVP_EC_gen("P-256");
}

static X509 *
self_cert(EVP_PKEY *k, const char *cn)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();

	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	X509_sign(x, k, EVP_sha256());
	X509_NAME_free(n);
	return x;
}

/* A signed PKCS#10 request for CN=cn, DER. */
static int
make_csr(EVP_PKEY *k, const char *cn, unsigned char **der)
{
	X509_REQ *r = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();
	int len;

	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_REQ_set_subject_name(r, n);
	X509_REQ_set_pubkey(r, k);
	X509_REQ_sign(r, k, EVP_sha256());
	*der = NULL;
	len = i2d_X509_REQ(r, der);
	X509_NAME_free(n);
	X509_REQ_free(r);
	return len;
}

static char *
b64_lines(const unsigned char *der, size_t len)
{
	size_t tl = sodium_base64_encoded_len(len,
	    sodium_base64_VARIANT_ORIGINAL);
	char *t = malloc(tl), *o = malloc(tl + tl / 60 + 2);
	size_t i, k = 0, n;

	sodium_bin2base64(t, tl, der, len, sodium_base64_VARIANT_ORIGINAL);
	n = strlen(t);
	for (i = 0; i < n; i++) {
		o[k++] = t[i];
		if (i % 60 == 59)
			o[k++] = '\n';
	}
	o[k] = '\0';
	free(t);
	return o;
}

static void
test_csr_decode(EVP_PKEY *k)
{
	unsigned char *der = NULL;
	uint8_t *out = NULL;
	size_t outlen = 0;
	char *b64;
	int len = make_csr(k, "a0.vnf1.example", &der);

	b64 = b64_lines(der, (size_t)len);
	TH_EQ_INT(est_csr_decode((uint8_t *)b64, strlen(b64), &out, &outlen),
	    0, "est: a base64 PKCS#10 in lines decodes");
	th_check(outlen == (size_t)len && out != NULL &&
	    memcmp(out, der, outlen) == 0, "est: the decoded request is the "
	    "DER that was sent", "got %zu bytes, want %d", outlen, len);
	free(out);
	TH_EQ_INT(est_csr_decode((const uint8_t *)"%%%%", 4, &out, &outlen),
	    CAP_ERR_INVALID, "est: bad base64 is invalid");
	TH_EQ_INT(est_csr_decode((const uint8_t *)"aGVsbG8=", 8, &out,
	    &outlen), CAP_ERR_INVALID, "est: base64 that is not a PKCS#10 "
	    "is invalid");
	TH_EQ_INT(est_csr_decode(NULL, 0, &out, &outlen), CAP_ERR_INVALID,
	    "est: an empty body is invalid");
	{
		size_t big = EST_BODY_MAX + 1;
		uint8_t *b = malloc(big);

		memset(b, 'A', big);
		TH_EQ_INT(est_csr_decode(b, big, &out, &outlen),
		    CAP_ERR_TOO_LARGE, "est: a body over EST_BODY_MAX is "
		    "too large");
		free(b);
	}
	th_check(out == NULL, "est: nothing is returned on failure", "leak");
	free(b64);
	OPENSSL_free(der);
}

static void
test_certs_encode(EVP_PKEY *k)
{
	X509 *a = self_cert(k, "leaf"), *b = self_cert(k, "ca");
	STACK_OF(X509) *chain = sk_X509_new_null();
	uint8_t bin[8192];
	const unsigned char *p = bin;
	size_t n = 0, len = 0;
	char *out = NULL;
	PKCS7 *p7 = NULL;
	int ok;

	sk_X509_push(chain, b);
	TH_EQ_INT(est_certs_encode(a, chain, &out, &len), 0,
	    "est: certs-only of a certificate and its chain");
	ok = out != NULL && strlen(out) == len &&
	    sodium_base642bin(bin, sizeof(bin), out, len, "\n", &n, NULL,
	    sodium_base64_VARIANT_ORIGINAL) == 0 &&
	    (p7 = d2i_PKCS7(NULL, &p, (long)n)) != NULL &&
	    PKCS7_type_is_signed(p7) &&
	    sk_X509_num(p7->d.sign->cert) == 2 &&
	    X509_cmp(sk_X509_value(p7->d.sign->cert, 0), a) == 0;
	th_check(ok, "est: the answer is a base64 SignedData holding the "
	    "certificate first", "did not parse back");
	th_check(out != NULL && len > 0 && strchr(out, '\n') == out + len - 1,
	    "est: base64 on one line ended by a newline", "line layout");
	free(out);
	out = NULL;
	TH_EQ_INT(est_certs_encode(NULL, NULL, &out, &len), CAP_ERR_INVALID,
	    "est: no certificate at all is invalid");
	PKCS7_free(p7);
	sk_X509_pop_free(chain, X509_free);
	X509_free(a);
}

static void
basic_of(const char *userpass, char *out, size_t outsz)
{
	char b[256];

	sodium_bin2base64(b, sizeof(b), (const unsigned char *)userpass,
	    strlen(userpass), sodium_base64_VARIANT_ORIGINAL);
	snprintf(out, outsz, "Basic %s", b);
}

static void
test_basic(void)
{
	char hdr[512], ref[CMF_INITCRED_REF_LEN + 1], sec[EST_SECRET_MAX + 1];
	char big[300];
	const char *r32 = "0123456789abcdef0123456789abcdef";
	size_t sl = 0;

	snprintf(big, sizeof(big), "%s:", r32);
	basic_of("0123456789abcdef0123456789abcdef:s3cr3t-Value_x", hdr,
	    sizeof(hdr));
	TH_EQ_INT(est_basic_parse(hdr, ref, sec, &sl), 0,
	    "est: Basic reference:secret parses");
	th_check(strcmp(ref, r32) == 0 && sl == 14 &&
	    strcmp(sec, "s3cr3t-Value_x") == 0, "est: reference and secret "
	    "come out as sent", "ref %s, %zu secret bytes", ref, sl);
	basic_of("0123456789abcdef0123456789abcdef:a:b", hdr, sizeof(hdr));
	TH_EQ_INT(est_basic_parse(hdr, ref, sec, &sl), 0,
	    "est: a colon inside the password is kept");
	TH_EQ_INT(est_basic_parse("Bearer abc", ref, sec, &sl),
	    CAP_ERR_UNAUTH, "est: another scheme is refused");
	basic_of("nothex:secret", hdr, sizeof(hdr));
	TH_EQ_INT(est_basic_parse(hdr, ref, sec, &sl), CAP_ERR_UNAUTH,
	    "est: a user that is not a reference is refused");
	basic_of(big, hdr, sizeof(hdr));
	TH_EQ_INT(est_basic_parse(hdr, ref, sec, &sl), CAP_ERR_UNAUTH,
	    "est: an empty password is refused");
	basic_of("0123456789abcdef0123456789abcdef", hdr, sizeof(hdr));
	TH_EQ_INT(est_basic_parse(hdr, ref, sec, &sl), CAP_ERR_UNAUTH,
	    "est: no colon is refused");
	TH_EQ_INT(est_basic_parse("Basic !!!!", ref, sec, &sl),
	    CAP_ERR_UNAUTH, "est: bad base64 is refused");
	th_check(sec[0] == '\0' && ref[0] == '\0', "est: nothing is left "
	    "behind on failure", "secret or reference kept");
}

/* ---- CMP ---- */

static uint8_t *captured;
static size_t captured_len;

static OSSL_CMP_MSG *
capture(OSSL_CMP_CTX *ctx, const OSSL_CMP_MSG *req)
{
	unsigned char *d = NULL;
	int n;

	(void)ctx;
	free(captured);
	captured = NULL;
	captured_len = 0;
	if ((n = i2d_OSSL_CMP_MSG(req, &d)) > 0) {
		captured = malloc((size_t)n);
		memcpy(captured, d, (size_t)n);
		captured_len = (size_t)n;
	}
	OPENSSL_free(d);
	return NULL;
}

static OSSL_CMP_CTX *
client(EVP_PKEY *newkey, const char *ref)
{
	OSSL_CMP_CTX *c = OSSL_CMP_CTX_new(NULL, NULL);
	X509_NAME *n = X509_NAME_new();

	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)"a0.vnf1.example", -1, -1, 0);
	OSSL_CMP_CTX_set_log_verbosity(c, OSSL_CMP_LOG_EMERG);
	OSSL_CMP_CTX_set_transfer_cb(c, capture);
	OSSL_CMP_CTX_set1_subjectName(c, n);
	OSSL_CMP_CTX_set1_recipient(c, n);
	if (newkey != NULL)
		OSSL_CMP_CTX_set0_newPkey(c, 1, (EVP_PKEY_up_ref(newkey), newkey));
	if (ref != NULL) {
		OSSL_CMP_CTX_set1_referenceValue(c, (const unsigned char *)ref,
		    (int)strlen(ref));
		OSSL_CMP_CTX_set1_secretValue(c,
		    (const unsigned char *)"secret", 6);
	}
	X509_NAME_free(n);
	return c;
}

static void
test_cmp_peek(EVP_PKEY *k)
{
	const char *ref = "00112233445566778899aabbccddeeff";
	struct cmp_peek pk;
	OSSL_CMP_CTX *c = client(k, ref);

	OSSL_CMP_exec_IR_ses(c);
	th_check(captured != NULL, "cmp: an ir was built", "no message");
	TH_EQ_INT(cmp_req_peek(captured, captured_len, &pk), 0,
	    "cmp: the outline of an ir is read");
	TH_EQ_INT(pk.body, CMP_BODY_IR, "cmp: the body is ir");
	TH_EQ_INT(pk.prot, CMP_PROT_MAC, "cmp: PBM protection is seen");
	th_check(strcmp(pk.ref, ref) == 0, "cmp: senderKID is the reference",
	    "got '%s'", pk.ref);
	th_check(pk.tidlen == 16, "cmp: the transactionID is read",
	    "got %zu bytes", pk.tidlen);
	TH_EQ_INT(cmp_req_peek(captured, captured_len - 1, &pk),
	    CAP_ERR_INVALID, "cmp: a truncated message is invalid");
	TH_EQ_INT(cmp_req_peek((const uint8_t *)"\x30\x00", 2, &pk),
	    CAP_ERR_INVALID, "cmp: an empty SEQUENCE is invalid");
	OSSL_CMP_CTX_free(c);
}

static void
test_crm_to_csr(EVP_PKEY *k)
{
	OSSL_CMP_CTX *c = client(k, NULL);
	OSSL_CRMF_MSG *crm = OSSL_CMP_CTX_setup_CRM(c, 0, 0);
	uint8_t *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	X509_REQ *req = NULL;
	char cn[64] = "";

	th_check(crm != NULL, "cmp: a CRMF request was built", "none");
	TH_EQ_INT(cmp_crm_to_csr(crm, &der, &len), 0,
	    "cmp: a CRMF template becomes a PKCS#10");
	p = der;
	if (der != NULL)
		req = d2i_X509_REQ(NULL, &p, (long)len);
	if (req != NULL)
		X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req),
		    NID_commonName, cn, sizeof(cn));
	th_check(req != NULL && strcmp(cn, "a0.vnf1.example") == 0,
	    "cmp: the PKCS#10 has the template's subject", "got '%s'", cn);
	th_check(req != NULL && EVP_PKEY_eq(X509_REQ_get0_pubkey(req), k) == 1,
	    "cmp: the PKCS#10 has the template's public key", "different");
	X509_REQ_free(req);
	free(der);
	OSSL_CRMF_MSG_free(crm);
	OSSL_CMP_CTX_free(c);
}

static void
test_genm(EVP_PKEY *k)
{
	X509 *srv = self_cert(k, "capstone"), *ca = self_cert(k, "Op CA");
	STACK_OF(X509) *chain = sk_X509_new_null();
	OSSL_CMP_CTX *c = client(NULL, NULL);
	OSSL_CMP_MSG *rsp = NULL;
	cmp_srv *s = NULL;
	uint8_t *out = NULL;
	size_t outlen = 0;
	const unsigned char *p;
	char ident[CMP_IDENT_MAX];

	sk_X509_push(chain, ca);
	OSSL_CMP_CTX_set_option(c, OSSL_CMP_OPT_UNPROTECTED_SEND, 1);
	OSSL_CMP_exec_GENM_ses(c);
	TH_EQ_INT(cmp_srv_new(srv, k, &s), 0, "cmp: a server is made");
	TH_EQ_INT(cmp_srv_process(s, NULL, captured, captured_len, chain,
	    &out, &outlen, ident), 0, "cmp: an unprotected genm is answered");
	p = out;
	if (out != NULL)
		rsp = d2i_OSSL_CMP_MSG(NULL, &p, (long)outlen);
	th_check(rsp != NULL && OSSL_CMP_MSG_get_bodytype(rsp) ==
	    CMP_BODY_GENP, "cmp: the answer is a genp", "got %d",
	    rsp != NULL ? OSSL_CMP_MSG_get_bodytype(rsp) : -1);
	free(out);
	out = NULL;
	TH_EQ_INT(cmp_srv_process(s, NULL, (const uint8_t *)"junk", 4, chain,
	    &out, &outlen, ident), CAP_ERR_INVALID,
	    "cmp: bytes that are not CMP are invalid");
	OSSL_CMP_MSG_free(rsp);
	free(out);
	cmp_srv_free(s);
	OSSL_CMP_CTX_free(c);
	sk_X509_pop_free(chain, X509_free);
	X509_free(srv);
}

int
main(void)
{
	EVP_PKEY *k;

	if (sodium_init() < 0 || (k = ec_key()) == NULL)
		return 1;
	test_csr_decode(k);
	test_certs_encode(k);
	test_basic();
	test_cmp_peek(k);
	test_crm_to_csr(k);
	test_genm(k);
	free(captured);
	EVP_PKEY_free(k);
	return th_done();
}
