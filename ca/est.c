/*
 * est.c - the EST connector (RFC 7030, with the RFC 8951 clarifications).
 *
 * Settings: {"url": "https://host:port/.well-known/est[/label]",
 * "trusted": "<PEM explicit trust anchors>", "username", "password"
 * (HTTP Basic, the password kept in locked memory), "client_cert" (PEM)
 * with "client_key_id" (32 hex, a key in the token) for TLS client
 * authentication on /simpleenroll}.
 *
 * /simplereenroll authenticates with the certificate being replaced, its
 * key used in the token through the engine EVP_PKEY.  Bodies are base64
 * DER both ways; answers are accepted with or without line folding and
 * whatever Content-Transfer-Encoding header comes (RFC 8951).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "ca/ca.h"
#include "ca/http_client.h"
#include "common/err.h"
#include "common/log.h"

#define EST_BODY_MAX	(1024 * 1024)

struct est {
	char		 name[64];
	struct http_url	 url;
	STACK_OF(X509)	*trusted;
	char		*user;
	char		*pass;		/* sodium_malloc */
	size_t		 passlen;
	X509		*client_cert;
	char		*client_key_uri;
	struct ca_env	 env;
};

/* ---- codecs (pure; exposed to the unit and fuzz tests) ---- */

int est_csr_body(X509_REQ *csr, char **body, size_t *len);
int est_certs_response(const struct http_response *r, STACK_OF(X509) **out);
int est_classify(const struct http_response *r, struct ca_result *res);

/*
 * est_csr_body: the /simpleenroll body, base64 of the DER PKCS#10 in lines
 * of 64 characters, each ended by CRLF.
 */
int
est_csr_body(X509_REQ *csr, char **body, size_t *len)
{
	unsigned char *der = NULL;
	char *b64 = NULL, *o = NULL;
	size_t b64len = 0, i, n = 0;
	int dl, r = CAP_ERR_INVALID;

	*body = NULL;
	*len = 0;
	if ((dl = i2d_X509_REQ(csr, &der)) <= 0)
		goto out;
	if ((r = http_b64_encode(der, (size_t)dl, &b64, &b64len)) != 0)
		goto out;
	if ((o = malloc(b64len + (b64len / 64 + 1) * 2 + 1)) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < b64len; i += 64) {
		size_t k = b64len - i < 64 ? b64len - i : 64;

		memcpy(o + n, b64 + i, k);
		n += k;
		o[n++] = '\r';
		o[n++] = '\n';
	}
	o[n] = '\0';
	*body = o;
	*len = n;
	o = NULL;
	r = 0;
 out:
	OPENSSL_free(der);
	free(b64);
	free(o);
	return r;
}

/*
 * est_certs_response: a 200 answer to /cacerts or /simpleenroll,
 * application/pkcs7-mime, base64 certs-only PKCS#7.  A body that is not
 * base64 is tried as DER, as some servers send binary despite the RFC.
 */
int
est_certs_response(const struct http_response *r, STACK_OF(X509) **out)
{
	uint8_t *der = NULL;
	size_t derlen = 0;
	int ret;

	*out = NULL;
	if (r->status != 200)
		return CAP_ERR_INVALID;
	if (strcmp(r->content_type, "application/pkcs7-mime") != 0 &&
	    strcmp(r->content_type, "application/x-pkcs7-certificates")
	    != 0)
		return CAP_ERR_INVALID;
	if (r->body_len > 0 && r->body[0] == 0x30 &&
	    strcmp(r->cte, "base64") != 0)
		return ca_certs_only_parse(r->body, r->body_len, out);
	if ((ret = http_b64_decode(r->body, r->body_len, &der, &derlen)) != 0)
		return ret;
	ret = ca_certs_only_parse(der, derlen, out);
	free(der);
	return ret;
}

static void
printable_copy(char *dst, size_t dstlen, const uint8_t *src, size_t n)
{
	size_t i, j = 0;

	for (i = 0; i < n && j + 1 < dstlen; i++)
		dst[j++] = isprint(src[i]) ? (char)src[i] : ' ';
	while (j > 0 && dst[j - 1] == ' ')
		j--;
	dst[j] = '\0';
}

/*
 * est_classify maps a non-200 answer: 202 with Retry-After is pending
 * (the request is repeated later), 401/403 and other 4xx are refusals
 * with the server's words, 5xx and anything else are unavailability.
 */
int
est_classify(const struct http_response *r, struct ca_result *res)
{
	char words[160];

	if (r->status == 202) {
		res->status = CA_PENDING;
		res->retry_after = r->has_retry_after && r->retry_after > 0 ?
		    r->retry_after : 60;
		return 0;
	}
	printable_copy(words, sizeof(words), r->body,
	    r->body_len < 512 ? r->body_len : 512);
	if (r->status >= 400 && r->status < 500 && r->status != 408 &&
	    r->status != 429) {
		res->status = CA_REJECTED;
		snprintf(res->reason, sizeof(res->reason), "the EST server "
		    "refused the request (HTTP %d%s)%s%s", r->status,
		    r->status == 401 ? ", authentication required" : "",
		    words[0] != '\0' ? ": " : "", words);
		return CAP_ERR_DENIED;
	}
	snprintf(res->reason, sizeof(res->reason), "the EST server "
	    "answered HTTP %d", r->status);
	if (r->has_retry_after)
		res->retry_after = r->retry_after;
	return CAP_ERR_UNAVAILABLE;
}

/* ---- state ---- */

static void
est_destroy(void *state)
{
	struct est *e = state;

	if (e == NULL)
		return;
	sk_X509_pop_free(e->trusted, X509_free);
	free(e->user);
	if (e->pass != NULL) {
		sodium_memzero(e->pass, e->passlen);
		sodium_free(e->pass);
	}
	X509_free(e->client_cert);
	free(e->client_key_uri);
	sodium_memzero(e, sizeof(*e));
	free(e);
}

static int
pem_certs(const char *pem, STACK_OF(X509) **out)
{
	STACK_OF(X509) *sk = NULL;
	BIO *b = NULL;
	X509 *x;
	int r = CAP_ERR_INVALID;

	*out = NULL;
	if ((sk = sk_X509_new_null()) == NULL ||
	    (b = BIO_new_mem_buf(pem, -1)) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	while (sk_X509_num(sk) < 64 &&
	    (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			goto out;
		}
	if (sk_X509_num(sk) == 0)
		goto out;
	*out = sk;
	sk = NULL;
	r = 0;
 out:
	sk_X509_pop_free(sk, X509_free);
	BIO_free(b);
	ERR_clear_error();
	return r;
}

static int
key_uri_from_id(const struct ca_env *env, const char *hex, char **uri)
{
	uint8_t id[16];
	hsm_key_type t;
	hsm_obj priv, pub;
	size_t i;

	*uri = NULL;
	if (env == NULL || env->h == NULL || hex == NULL || strlen(hex) != 32)
		return CAP_ERR_INVALID;
	for (i = 0; i < 16; i++) {
		unsigned v;

		if (!isxdigit((unsigned char)hex[2 * i]) ||
		    !isxdigit((unsigned char)hex[2 * i + 1]) ||
		    sscanf(hex + 2 * i, "%2x", &v) != 1)
			return CAP_ERR_INVALID;
		id[i] = (uint8_t)v;
	}
	if (hsm_key_find(env->h, id, sizeof(id), &t, &priv, &pub) != 0)
		return CAP_ERR_NOT_FOUND;
	return hsm_key_uri(env->h, priv, uri);
}

static int
est_create(const char *name, json_t *settings, const struct ca_env *env,
    void **state, char *err, size_t errlen)
{
	struct est *e = NULL;
	const char *url, *s;
	json_t *j;
	STACK_OF(X509) *cc = NULL;
	int r = CAP_ERR_INVALID;

	*state = NULL;
	if (sodium_init() < 0)
		return CAP_ERR_INTERNAL;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return CAP_ERR_NOMEM;
	snprintf(e->name, sizeof(e->name), "%s", name != NULL ? name : "");
	if (env != NULL)
		e->env = *env;
	if (!json_is_object(settings)) {
		snprintf(err, errlen, "est: settings must be an object");
		goto out;
	}
	if ((url = json_string_value(json_object_get(settings, "url")))
	    == NULL || http_url_parse(url, &e->url) != 0 || !e->url.tls) {
		snprintf(err, errlen, "est: \"url\" must be an https:// URL "
		    "ending in /.well-known/est or /.well-known/est/LABEL");
		goto out;
	}
	if (strncmp(e->url.path, "/.well-known/est", 16) != 0 ||
	    (e->url.path[16] != '\0' && e->url.path[16] != '/')) {
		snprintf(err, errlen, "est: the URL path must be "
		    "/.well-known/est[/label]");
		goto out;
	}
	/* Drop a trailing slash so operation paths join cleanly. */
	if (e->url.path[strlen(e->url.path) - 1] == '/')
		e->url.path[strlen(e->url.path) - 1] = '\0';
	if ((s = json_string_value(json_object_get(settings, "trusted")))
	    == NULL || pem_certs(s, &e->trusted) != 0) {
		snprintf(err, errlen, "est: \"trusted\" must hold the PEM "
		    "trust anchors of the EST server");
		goto out;
	}
	if ((j = json_object_get(settings, "username")) != NULL) {
		if ((s = json_string_value(j)) == NULL || strlen(s) == 0 ||
		    strlen(s) > 255 || strchr(s, ':') != NULL ||
		    (e->user = strdup(s)) == NULL) {
			snprintf(err, errlen, "est: \"username\" must be 1 to "
			    "255 bytes without ':'");
			goto out;
		}
		if ((s = json_string_value(json_object_get(settings,
		    "password"))) == NULL || (e->passlen = strlen(s)) > 512) {
			snprintf(err, errlen, "est: \"password\" must come "
			    "with \"username\"");
			goto out;
		}
		if ((e->pass = sodium_malloc(e->passlen + 1)) == NULL) {
			r = CAP_ERR_NOMEM;
			goto out;
		}
		memcpy(e->pass, s, e->passlen + 1);
	}
	if ((s = json_string_value(json_object_get(settings, "client_cert")))
	    != NULL) {
		if (pem_certs(s, &cc) != 0) {
			snprintf(err, errlen, "est: \"client_cert\" must be a "
			    "PEM certificate");
			goto out;
		}
		e->client_cert = sk_X509_shift(cc);
		if (key_uri_from_id(env, json_string_value(
		    json_object_get(settings, "client_key_id")),
		    &e->client_key_uri) != 0) {
			snprintf(err, errlen, "est: \"client_key_id\" must "
			    "name a key in the token");
			goto out;
		}
	}
	*state = e;
	e = NULL;
	r = 0;
 out:
	sk_X509_pop_free(cc, X509_free);
	est_destroy(e);
	return r;
}

/* A TLS context trusting only the configured anchors, with an optional
 * client certificate whose key is in the token. */
static int
tls_ctx(struct est *e, X509 *cert, const char *key_uri, SSL_CTX **out)
{
	SSL_CTX *ctx = NULL;
	EVP_PKEY *pk = NULL;
	X509_STORE *st;
	int i, r = CAP_ERR_CRYPTO;

	*out = NULL;
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	st = SSL_CTX_get_cert_store(ctx);
	for (i = 0; i < sk_X509_num(e->trusted); i++)
		if (X509_STORE_add_cert(st, sk_X509_value(e->trusted, i)) != 1)
			goto out;
	if (cert != NULL) {
		if ((r = hsm_evp_pkey_load(key_uri, e->env.token_module,
		    e->env.token_pin, &pk)) != 0)
			goto out;
		r = CAP_ERR_CRYPTO;
		if (SSL_CTX_use_certificate(ctx, cert) != 1 ||
		    SSL_CTX_use_PrivateKey(ctx, pk) != 1 ||
		    SSL_CTX_check_private_key(ctx) != 1) {
			log_warn("est %s: the client certificate does not "
			    "match its token key", e->name);
			goto out;
		}
	}
	*out = ctx;
	ctx = NULL;
	r = 0;
 out:
	EVP_PKEY_free(pk);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return r;
}

static int
est_call(struct est *e, const char *op, X509_REQ *csr, X509 *cert,
    const char *key_uri, struct http_response **resp)
{
	struct http_request q;
	SSL_CTX *ctx = NULL;
	char path[1100], *body = NULL;
	size_t bodylen = 0;
	int r;

	*resp = NULL;
	snprintf(path, sizeof(path), "%s/%s", e->url.path, op);
	if ((r = tls_ctx(e, cert, key_uri, &ctx)) != 0)
		goto out;
	memset(&q, 0, sizeof(q));
	q.url = &e->url;
	q.path_query = path;
	q.tls = ctx;
	q.max_body = EST_BODY_MAX;
	q.auth_user = e->user;
	q.auth_pass = e->pass;
	if (csr != NULL) {
		if ((r = est_csr_body(csr, &body, &bodylen)) != 0)
			goto out;
		q.method = "POST";
		q.content_type = "application/pkcs10";
		q.extra_header = "Content-Transfer-Encoding: base64";
		q.body = (const uint8_t *)body;
		q.body_len = bodylen;
	} else
		q.method = "GET";
	r = http_request_do(&q, resp);
 out:
	SSL_CTX_free(ctx);
	free(body);
	return r;
}

static int
take(struct est *e, X509_REQ *csr, STACK_OF(X509) *certs,
    struct ca_result *res)
{
	STACK_OF(X509) *cacerts = NULL;
	struct http_response *resp = NULL;
	int r;

	/* The issuer chain comes from /cacerts (RFC 7030 4.1). */
	if (est_call(e, "cacerts", NULL, NULL, NULL, &resp) != 0 ||
	    est_certs_response(resp, &cacerts) != 0) {
		sk_X509_pop_free(cacerts, X509_free);
		cacerts = NULL;
	}
	r = ca_result_issue(csr, certs, cacerts, "est", res);
	http_response_free(resp);
	sk_X509_pop_free(cacerts, X509_free);
	return r;
}

static int
enroll_op(struct est *e, const struct ca_request *req, int reenroll,
    struct ca_result *res)
{
	struct http_response *resp = NULL;
	STACK_OF(X509) *certs = NULL;
	const char *op = reenroll ? "simplereenroll" : "simpleenroll";
	X509 *cert = reenroll ? req->old_cert : e->client_cert;
	const char *key = reenroll ? req->old_key_uri : e->client_key_uri;
	int r;

	memset(res, 0, sizeof(*res));
	if (req->csr == NULL) {
		snprintf(res->reason, sizeof(res->reason), "est: no "
		    "certificate request");
		return CAP_ERR_INVALID;
	}
	if ((r = est_call(e, op, req->csr, cert, key, &resp)) != 0) {
		snprintf(res->reason, sizeof(res->reason), "est: %s failed: "
		    "%s", op, r == CAP_ERR_CRYPTO ? "TLS with the EST server "
		    "failed" : "the EST server is unreachable");
		goto out;
	}
	if (resp->status != 200) {
		if ((r = est_classify(resp, res)) == 0)
			snprintf(res->pending_id, sizeof(res->pending_id),
			    "%s", op);
		if (r == CAP_ERR_DENIED)
			log_info("est %s: %s", e->name, res->reason);
		goto out;
	}
	if ((r = est_certs_response(resp, &certs)) != 0) {
		snprintf(res->reason, sizeof(res->reason), "est: the %s "
		    "answer is not a base64 certs-only PKCS#7", op);
		r = CAP_ERR_CRYPTO;
		goto out;
	}
	r = take(e, req->csr, certs, res);
 out:
	sk_X509_pop_free(certs, X509_free);
	http_response_free(resp);
	if (r != 0 && res->cert != NULL) {
		X509_free(res->cert);
		res->cert = NULL;
	}
	return r;
}

static int
est_enroll(void *state, const struct ca_request *req, struct ca_result *res)
{
	return enroll_op(state, req, 0, res);
}

static int
est_renew(void *state, const struct ca_request *req, struct ca_result *res)
{
	if (req->old_cert == NULL || req->old_key_uri == NULL)
		return enroll_op(state, req, 0, res);
	return enroll_op(state, req, 1, res);
}

/* EST polling repeats the original request (RFC 7030 4.2.3). */
static int
est_poll(void *state, const struct ca_request *req, struct ca_result *res)
{
	int re = req->pending_id != NULL &&
	    strcmp(req->pending_id, "simplereenroll") == 0 &&
	    req->old_cert != NULL && req->old_key_uri != NULL;

	return enroll_op(state, req, re, res);
}

static int
est_chain(void *state, STACK_OF(X509) **out)
{
	struct est *e = state;
	struct http_response *resp = NULL;
	STACK_OF(X509) *certs = NULL, *rest = NULL, *sk = NULL;
	X509 *ca = NULL;
	int i, r;

	*out = NULL;
	if ((r = est_call(e, "cacerts", NULL, NULL, NULL, &resp)) != 0)
		goto out;
	if (resp->status != 200 || est_certs_response(resp, &certs) != 0) {
		log_warn("est %s: /cacerts gave no certs-only PKCS#7",
		    e->name);
		r = resp->status >= 500 ? CAP_ERR_UNAVAILABLE : CAP_ERR_CRYPTO;
		goto out;
	}
	/* Issuing CA first: a CA certificate that issued no other in the set. */
	for (i = 0; i < sk_X509_num(certs) && ca == NULL; i++) {
		X509 *c = sk_X509_value(certs, i);
		int j, issued_other = 0;

		for (j = 0; j < sk_X509_num(certs); j++)
			if (j != i && X509_check_issued(c,
			    sk_X509_value(certs, j)) == X509_V_OK)
				issued_other = 1;
		if (!issued_other)
			ca = c;
	}
	if (ca == NULL)
		ca = sk_X509_value(certs, 0);
	r = CAP_ERR_NOMEM;
	if ((sk = sk_X509_new_null()) == NULL || !X509_up_ref(ca))
		goto out;
	if (!sk_X509_push(sk, ca)) {
		X509_free(ca);
		goto out;
	}
	if (ca_chain_build(ca, certs, &rest) != 0)
		goto out;
	while (sk_X509_num(rest) > 0)
		if (!sk_X509_push(sk, sk_X509_shift(rest)))
			goto out;
	*out = sk;
	sk = NULL;
	r = 0;
 out:
	sk_X509_pop_free(rest, X509_free);
	sk_X509_pop_free(sk, X509_free);
	sk_X509_pop_free(certs, X509_free);
	http_response_free(resp);
	return r;
}

static int
est_describe(void *state, json_t *out)
{
	struct est *e = state;
	char url[1400];

	snprintf(url, sizeof(url), "https://%s:%s%s", e->url.host,
	    e->url.port, e->url.path);
	if (json_object_set_new(out, "url", json_string(url)) != 0 ||
	    json_object_set_new(out, "basic_auth",
	    json_boolean(e->user != NULL)) != 0 ||
	    json_object_set_new(out, "client_cert",
	    json_boolean(e->client_cert != NULL)) != 0)
		return CAP_ERR_NOMEM;
	if (e->user != NULL &&
	    json_object_set_new(out, "username", json_string(e->user)) != 0)
		return CAP_ERR_NOMEM;
	return 0;
}

const struct ca_ops ca_est_ops = {
	.protocol = "est",
	.create = est_create,
	.destroy = est_destroy,
	.enroll = est_enroll,
	.renew = est_renew,
	.poll = est_poll,
	.chain = est_chain,
	.describe = est_describe,
};
