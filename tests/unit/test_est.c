/*
 * test_est.c - the EST connector's request and response handling, byte
 * for byte: the /simpleenroll body is the base64 of the DER PKCS#10 in
 * 64-character CRLF lines; a 200 answer with a base64 certs-only PKCS#7
 * (folded or not, with or without Content-Transfer-Encoding, chunked or
 * not) gives back exactly the certificates put in; 202 with Retry-After
 * is pending; 401 is a refusal that says authentication is required; 5xx
 * is unavailability.  Also the URL parser and the settings checks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "ca/ca.h"
#include "ca/http_client.h"
#include "common/err.h"
#include "tests/unit/harness.h"

extern const struct ca_ops ca_est_ops;
int est_csr_body(X509_REQ *csr, char **body, size_t *len);
int est_certs_response(const struct http_response *r, STACK_OF(X509) **out);
int est_classify(const struct http_response *r, struct ca_result *res);

static EVP_PKEY *
ed25519_fixed(void)
{
	static const unsigned char seed[32] = { 7, 0x30, 0x30 };

	return EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed,
	    sizeof(seed));
}

static X509_REQ *
fixed_csr(EVP_PKEY *pk)
{
	X509_REQ *q = X509_REQ_new();

	X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(q), "CN",
	    MBSTRING_ASC, (const unsigned char *)"est-client", -1, -1, 0);
	X509_REQ_set_pubkey(q, pk);
	X509_REQ_sign(q, pk, NULL);
	return q;
}

static X509 *
self_signed(EVP_PKEY *pk, const char *cn)
{
	X509 *x = X509_new();

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7030);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
	    MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, pk);
	X509_sign(x, pk, NULL);
	return x;
}

static void
test_request(void)
{
	EVP_PKEY *pk = ed25519_fixed();
	X509_REQ *q = fixed_csr(pk);
	unsigned char *der = NULL;
	char *body = NULL, want[4096], line[80];
	size_t len = 0, off = 0, i;
	int dl;

	dl = i2d_X509_REQ(q, &der);
	/* Independent encoding: 48 input bytes make one 64-char line. */
	for (i = 0; i < (size_t)dl; i += 48) {
		int n = EVP_EncodeBlock((unsigned char *)line, der + i,
		    (int)((size_t)dl - i < 48 ? (size_t)dl - i : 48));

		memcpy(want + off, line, (size_t)n);
		off += (size_t)n;
		memcpy(want + off, "\r\n", 2);
		off += 2;
	}
	want[off] = '\0';
	TH_EQ_INT(est_csr_body(q, &body, &len), 0, "simpleenroll body built");
	th_check(body != NULL && len == off && memcmp(body, want, off) == 0,
	    "simpleenroll body is the base64 DER PKCS#10 in 64-char CRLF "
	    "lines, byte for byte", "got %zu bytes, want %zu", len, off);
	th_check(body != NULL && strncmp(body, "MI", 2) == 0,
	    "simpleenroll body starts like a DER SEQUENCE in base64",
	    "got %.8s", body != NULL ? body : "");
	free(body);
	OPENSSL_free(der);
	X509_REQ_free(q);
	EVP_PKEY_free(pk);
}

/* A certs-only PKCS#7 as `openssl crl2pkcs7 -nocrl` makes it. */
static int
certs_only(STACK_OF(X509) *certs, unsigned char **der)
{
	PKCS7 *p7 = PKCS7_new();
	PKCS7_SIGNED *sd;
	int i, n;

	PKCS7_set_type(p7, NID_pkcs7_signed);
	sd = p7->d.sign;
	ASN1_INTEGER_set(sd->version, 1);
	sd->contents->type = OBJ_nid2obj(NID_pkcs7_data);
	sd->cert = sk_X509_new_null();
	for (i = 0; i < sk_X509_num(certs); i++) {
		X509_up_ref(sk_X509_value(certs, i));
		sk_X509_push(sd->cert, sk_X509_value(certs, i));
	}
	n = i2d_PKCS7(p7, der);
	PKCS7_free(p7);
	return n;
}

static struct http_response *
parse(const char *head, const char *body, size_t bodylen)
{
	struct http_response *r = NULL;
	size_t hl = strlen(head);
	uint8_t *raw = malloc(hl + bodylen + 1);

	memcpy(raw, head, hl);
	memcpy(raw + hl, body, bodylen);
	if (http_response_parse(raw, hl + bodylen, 0, &r) != 0)
		r = NULL;
	free(raw);
	return r;
}

static void
test_response(void)
{
	EVP_PKEY *k1 = ed25519_fixed(), *k2 = NULL;
	STACK_OF(X509) *in = sk_X509_new_null(), *out = NULL;
	struct http_response *r;
	struct ca_result res;
	unsigned char *der = NULL;
	char *b64 = NULL, folded[8192], head[512], chunked[9000];
	size_t b64len = 0, i, fl = 0;
	int dl, same, j;


	{
		EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);

		EVP_PKEY_keygen_init(c);
		EVP_PKEY_keygen(c, &k2);
		EVP_PKEY_CTX_free(c);
	}
	sk_X509_push(in, self_signed(k1, "leaf"));
	sk_X509_push(in, self_signed(k2, "ca"));
	dl = certs_only(in, &der);
	if (http_b64_encode(der, (size_t)dl, &b64, &b64len) != 0)
		return;
	/* Folded at 76 characters with LF, as RFC 7030's examples are. */
	for (i = 0; i < b64len; i += 76) {
		size_t k = b64len - i < 76 ? b64len - i : 76;

		memcpy(folded + fl, b64 + i, k);
		fl += k;
		folded[fl++] = '\n';
	}
	snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Type: "
	    "application/pkcs7-mime; smime-type=certs-only\r\n"
	    "Content-Transfer-Encoding: base64\r\nContent-Length: %zu\r\n\r\n",
	    fl);
	r = parse(head, folded, fl);
	th_check(r != NULL && r->status == 200 &&
	    strcmp(r->content_type, "application/pkcs7-mime") == 0 &&
	    strcmp(r->cte, "base64") == 0, "200 certs-only: headers parsed",
	    "content type '%s'", r != NULL ? r->content_type : "");
	TH_EQ_INT(r != NULL ? est_certs_response(r, &out) : -1, 0,
	    "200 certs-only: the PKCS#7 decodes");
	same = sk_X509_num(out) == 2;
	for (j = 0; same && j < 2; j++)
		same = X509_cmp(sk_X509_value(out, j),
		    sk_X509_value(in, j)) == 0;
	th_check(same, "200 certs-only: exactly the certificates sent, in "
	    "order", "got %d", sk_X509_num(out));
	sk_X509_pop_free(out, X509_free);
	out = NULL;
	http_response_free(r);

	/* Chunked, unfolded, no Content-Transfer-Encoding (RFC 8951). */
	i = (size_t)snprintf(chunked, sizeof(chunked), "%zx\r\n%s\r\n0\r\n"
	    "\r\n", b64len, b64);
	r = parse("HTTP/1.1 200 OK\r\nContent-Type: application/pkcs7-mime"
	    "\r\nTransfer-Encoding: chunked\r\n\r\n", chunked, i);
	TH_EQ_INT(r != NULL ? est_certs_response(r, &out) : -1, 0,
	    "chunked unfolded base64 without CTE decodes");
	TH_EQ_INT(sk_X509_num(out), 2, "chunked: both certificates");
	sk_X509_pop_free(out, X509_free);
	out = NULL;
	http_response_free(r);

	/* Not base64 and not PKCS#7: refused. */
	r = parse("HTTP/1.1 200 OK\r\nContent-Type: application/pkcs7-mime"
	    "\r\nContent-Length: 6\r\n\r\n", "!!!!!!", 6);
	th_check(r != NULL && est_certs_response(r, &out) != 0 && out == NULL,
	    "a body that is not base64 is refused", "accepted");
	http_response_free(r);
	r = parse("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	    "Content-Length: 4\r\n\r\n", "MIIB", 4);
	th_check(r != NULL && est_certs_response(r, &out) != 0,
	    "a wrong content type is refused", "accepted");
	http_response_free(r);

	memset(&res, 0, sizeof(res));
	r = parse("HTTP/1.1 202 Accepted\r\nRetry-After: 17\r\n"
	    "Content-Length: 0\r\n\r\n", "", 0);
	TH_EQ_INT(r != NULL ? est_classify(r, &res) : -1, 0,
	    "202: not an error");
	th_check(res.status == CA_PENDING && res.retry_after == 17,
	    "202 with Retry-After 17: pending, retry in 17 s",
	    "status %d retry %u", (int)res.status, res.retry_after);
	http_response_free(r);

	memset(&res, 0, sizeof(res));
	r = parse("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic "
	    "realm=\"est\"\r\nContent-Length: 9\r\n\r\n", "bad\x01creds", 9);
	TH_EQ_INT(r != NULL ? est_classify(r, &res) : -1, CAP_ERR_DENIED,
	    "401: denied");
	th_check(res.status == CA_REJECTED &&
	    strstr(res.reason, "authentication required") != NULL &&
	    strchr(res.reason, '\x01') == NULL,
	    "401: the reason says authentication is required, printable",
	    "got '%s'", res.reason);
	http_response_free(r);

	memset(&res, 0, sizeof(res));
	r = parse("HTTP/1.1 503 Busy\r\nRetry-After: 5\r\nContent-Length: 0"
	    "\r\n\r\n", "", 0);
	TH_EQ_INT(r != NULL ? est_classify(r, &res) : -1,
	    CAP_ERR_UNAVAILABLE, "503: unavailable");
	http_response_free(r);

	r = parse("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", "abc", 3);
	th_check(r == NULL, "a truncated body is refused", "accepted");
	http_response_free(r);

	free(b64);
	OPENSSL_free(der);
	sk_X509_pop_free(in, X509_free);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
}

static void
test_url(void)
{
	struct http_url u;

	TH_EQ_INT(http_url_parse("https://est.example:8443/.well-known/est/"
	    "arbitraryLabel1", &u), 0, "url: https with port and label");
	th_check(u.tls && strcmp(u.host, "est.example") == 0 &&
	    strcmp(u.port, "8443") == 0 &&
	    strcmp(u.path, "/.well-known/est/arbitraryLabel1") == 0,
	    "url: parts", "host %s port %s path %s", u.host, u.port, u.path);
	TH_EQ_INT(http_url_parse("https://[::1]/x", &u), 0, "url: IPv6");
	th_check(strcmp(u.host, "::1") == 0 && strcmp(u.port, "443") == 0,
	    "url: IPv6 host and default port", "%s %s", u.host, u.port);
	TH_EQ_INT(http_url_parse("https://u:p@h/x", &u), CAP_ERR_INVALID,
	    "url: userinfo refused");
	TH_EQ_INT(http_url_parse("https://h:99999/", &u), CAP_ERR_INVALID,
	    "url: port out of range refused");
}

static void
test_settings(void)
{
	EVP_PKEY *pk = ed25519_fixed();
	X509 *ta = self_signed(pk, "ta");
	BIO *b = BIO_new(BIO_s_mem());
	char *pem = NULL, err[256], *s;
	json_t *j, *d;
	void *st = NULL;
	long n;

	PEM_write_bio_X509(b, ta);
	n = BIO_get_mem_data(b, &s);
	/* BIO memory is not NUL-terminated: copy exactly n bytes. */
	if ((pem = malloc((size_t)n + 1)) != NULL) {
		memcpy(pem, s, (size_t)n);
		pem[n] = '\0';
	}
	j = json_pack("{s:s,s:s}", "url", "http://h/.well-known/est",
	    "trusted", pem);
	TH_EQ_INT(ca_est_ops.create("e", j, NULL, &st, err, sizeof(err)),
	    CAP_ERR_INVALID, "settings: plain http refused");
	json_decref(j);
	j = json_pack("{s:s}", "url", "https://h/.well-known/est");
	TH_EQ_INT(ca_est_ops.create("e", j, NULL, &st, err, sizeof(err)),
	    CAP_ERR_INVALID, "settings: no trust anchor refused");
	json_decref(j);
	j = json_pack("{s:s,s:s,s:s,s:s}", "url",
	    "https://h/.well-known/est/lbl", "trusted", pem, "username",
	    "alice", "password", "s3cret-pass");
	TH_EQ_INT(ca_est_ops.create("e", j, NULL, &st, err, sizeof(err)), 0,
	    "settings: https, anchor and basic auth accepted");
	json_decref(j);
	if (st != NULL) {
		d = json_object();
		ca_est_ops.describe(st, d);
		s = json_dumps(d, 0);
		th_check(s != NULL && strstr(s, "s3cret") == NULL &&
		    strstr(s, "alice") != NULL, "describe shows the user, "
		    "never the password", "got %s", s != NULL ? s : "");
		free(s);
		json_decref(d);
		ca_est_ops.destroy(st);
	}
	free(pem);
	BIO_free(b);
	X509_free(ta);
	EVP_PKEY_free(pk);
}

int
main(void)
{
	test_request();
	test_response();
	test_url();
	test_settings();
	return th_done();
}
