/*
 * handlers_pkg.c - /v1/packages: CMS for VNF packages (ETSI GS NFV-SEC
 * 021) with keys that stay in the token.
 *
 * Packages never travel to the daemon for signing: the client computes
 * the manifest and digests and asks here for a detached signature over
 * small content or over a SHA-256 digest.  Verification needs no private
 * key and runs the library checks of crypto/pkg.h on a package sent
 * whole (within [server] max_body).  Every route needs admin on "*",
 * like /v1/keys.  Plaintext given to /encrypt and returned by /decrypt
 * sits in locked memory that is wiped before release.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "api/api_int.h"
#include "api/handlers.h"
#include "api/reply.h"
#include "api/request.h"
#include "common/err.h"
#include "common/log.h"
#include "crypto/keys.h"
#include "crypto/pkg.h"
#include "crypto/pkg_cms.h"
#include "store/certdb.h"

#define PKG_API_CONTENT_MAX	(1024 * 1024)	/* bytes signed/encrypted */
#define PKG_API_PEM_MAX		(64 * 1024)	/* one recipient or root */
#define PKG_API_TRUST_MAX	16		/* roots in one request */
#define PKG_API_CRLS_MAX	16
#define PKG_API_CRL_MAX		(4 * 1024 * 1024)

/* ---- helpers ---- */

/*
 * Decodes base64 text s (slen bytes) into locked memory (*buf, release
 * with b64_free).  CAP_ERR_TOO_LARGE over max bytes, CAP_ERR_INVALID.
 */
static int
b64_decode(const char *s, size_t slen, size_t max, uint8_t **buf,
    size_t *len)
{
	size_t cap;
	uint8_t *b;

	*buf = NULL;
	*len = 0;
	if (slen > (max + 2) / 3 * 4 + 4)
		return CAP_ERR_TOO_LARGE;
	cap = slen / 4 * 3 + 3;
	if ((b = sodium_malloc(cap)) == NULL)
		return CAP_ERR_NOMEM;
	if (sodium_base642bin(b, cap, s, slen, " \r\n", len, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || *len > max) {
		sodium_memzero(b, cap);
		sodium_free(b);
		*len = 0;
		return CAP_ERR_INVALID;
	}
	*buf = b;
	return 0;
}

static void
b64_free(uint8_t *buf, size_t len)
{
	if (buf != NULL) {
		sodium_memzero(buf, len);
		sodium_free(buf);
	}
}

/* Reads the base64 field name; answers the request on failure. */
static int
b64_field(struct api_ctx *ctx, json_t *j, const char *name, size_t max,
    uint8_t **buf, size_t *len, const char *bad)
{
	json_t *v = json_object_get(j, name);
	int r;

	*buf = NULL;
	*len = 0;
	if (v == NULL || !json_is_string(v)) {
		api_reply_status(ctx, 400, bad);
		return -1;
	}
	if ((r = b64_decode(json_string_value(v), json_string_length(v), max,
	    buf, len)) != 0) {
		if (r == CAP_ERR_TOO_LARGE)
			api_reply_status(ctx, 413,
			    "the data is over its size limit");
		else if (r == CAP_ERR_INVALID)
			api_reply_status(ctx, 400, bad);
		else
			api_reply_err(ctx, r, "packages base64");
		return -1;
	}
	return 0;
}

/* A base64 JSON string of len bytes of buf (through locked memory). */
static json_t *
b64_json(const uint8_t *buf, size_t len)
{
	size_t n = sodium_base64_ENCODED_LEN(len,
	    sodium_base64_VARIANT_ORIGINAL);
	char *s;
	json_t *j;

	if ((s = sodium_malloc(n)) == NULL)
		return NULL;
	sodium_bin2base64(s, n, buf, len, sodium_base64_VARIANT_ORIGINAL);
	j = json_stringn(s, strlen(s));
	sodium_memzero(s, n);
	sodium_free(s);
	return j;
}

static X509 *
x509_der(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);

	if (x != NULL && p != der + len) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

/* Every certificate of a PEM string field element; NULL if none. */
static STACK_OF(X509) *
pem_certs(const char *s, size_t len, STACK_OF(X509) *sk)
{
	BIO *b;
	X509 *x;
	int n = 0;

	if (len == 0 || len > PKG_API_PEM_MAX ||
	    (b = BIO_new_mem_buf(s, (int)len)) == NULL)
		return NULL;
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_push(sk, x) <= 0) {
			X509_free(x);
			n = 0;
			break;
		}
		n++;
	}
	ERR_clear_error();
	BIO_free(b);
	return n > 0 ? sk : NULL;
}

/*
 * The inventory certificate id of field name and its token key; answers
 * the request on failure.  *c is the record (certdb_cert_free).
 */
static int
cert_key_load(struct api_ctx *ctx, const char *id, int need_valid,
    struct certdb_cert **c, struct key_info *k, hsm_obj *priv, hsm_obj *pub)
{
	int r;

	*c = NULL;
	if (!certdb_id_valid(id)) {
		api_reply_status(ctx, 404, "no such certificate");
		return -1;
	}
	if ((r = certdb_get(ctx->deps->s, id, c)) != 0) {
		if (r == CAP_ERR_NOT_FOUND)
			api_reply_status(ctx, 404, "no such certificate");
		else
			api_reply_err(ctx, r, "packages cert");
		return -1;
	}
	if ((*c)->der == NULL || (*c)->key_id[0] == '\0') {
		api_reply_status(ctx, 409, "the certificate is not issued yet");
		return -1;
	}
	if (need_valid && ((*c)->status == CERTDB_REVOKED ||
	    (*c)->revoked_at != 0)) {
		api_reply_status(ctx, 409, "the certificate is revoked");
		return -1;
	}
	if (need_valid && ((*c)->status == CERTDB_EXPIRED ||
	    (*c)->not_after < (uint64_t)time(NULL) ||
	    (*c)->not_before > (uint64_t)time(NULL))) {
		api_reply_status(ctx, 409,
		    "the certificate is expired or not yet valid");
		return -1;
	}
	if ((r = keys_get(ctx->deps->h, ctx->deps->s, (*c)->key_id, k, priv,
	    pub)) != 0) {
		if (r == CAP_ERR_NOT_FOUND)
			api_reply_status(ctx, 409,
			    "the certificate's key is no longer in the token");
		else
			api_reply_err(ctx, r, "packages key");
		return -1;
	}
	return 0;
}

static int
hex_digest(const char *s, uint8_t out[32])
{
	size_t bin = 0;

	if (s == NULL || strlen(s) != 64)
		return CAP_ERR_INVALID;
	if (sodium_hex2bin(out, 32, s, 64, NULL, &bin, NULL) != 0 || bin != 32)
		return CAP_ERR_INVALID;
	return 0;
}

/* ---- sign ---- */

void
api_h_pkg_sign(struct api_ctx *ctx)
{
	static const char *const allowed[] = { "cert", "content", "sha256",
	    NULL };
	struct pkg_cms_signer sg;
	struct certdb_cert *c = NULL;
	struct key_info k;
	CMS_ContentInfo *cms = NULL;
	hsm_obj priv, pub;
	json_t *j = NULL, *chain = NULL, *v;
	uint8_t *content = NULL, dg[32];
	size_t len = 0, i;
	char *pem = NULL;
	const char *id, *hex;
	X509 *x;
	int r;

	memset(&sg, 0, sizeof(sg));
	if (api_require(ctx, API_CAP_ADMIN, "*") != 0)
		return;
	if (api_body_object(ctx, allowed, &j) != 0)
		return;
	if ((id = api_json_plain_string(json_object_get(j, "cert"))) == NULL) {
		api_reply_status(ctx, 400, "\"cert\" must be a certificate id");
		goto out;
	}
	if ((json_object_get(j, "content") == NULL) ==
	    (json_object_get(j, "sha256") == NULL)) {
		api_reply_status(ctx, 400,
		    "give exactly one of \"content\" and \"sha256\"");
		goto out;
	}
	if (json_object_get(j, "content") != NULL) {
		if (b64_field(ctx, j, "content", PKG_API_CONTENT_MAX, &content,
		    &len, "\"content\" must be base64 of at most 1 MiB") != 0)
			goto out;
	} else {
		hex = api_json_plain_string(json_object_get(j, "sha256"));
		if (hex_digest(hex, dg) != 0) {
			api_reply_status(ctx, 400,
			    "\"sha256\" must be 64 hexadecimal characters");
			goto out;
		}
	}
	if (cert_key_load(ctx, id, 1, &c, &k, &priv, &pub) != 0)
		goto out;
	if (k.type == HSM_KEY_AES_256) {
		api_reply_status(ctx, 400, "this key type cannot sign");
		goto out;
	}
	sg.h = ctx->deps->h;
	sg.priv = priv;
	sg.type = k.type;
	if ((sg.cert = x509_der(c->der, c->derlen)) == NULL ||
	    (sg.chain = sk_X509_new_null()) == NULL) {
		api_reply_err(ctx, CAP_ERR_CORRUPT, "packages sign cert");
		goto out;
	}
	if ((X509_get_extension_flags(sg.cert) & EXFLAG_KUSAGE) != 0 &&
	    (X509_get_key_usage(sg.cert) & (KU_DIGITAL_SIGNATURE |
	    KU_NON_REPUDIATION)) == 0) {
		api_reply_status(ctx, 400,
		    "the certificate's key usage does not allow signing");
		goto out;
	}
	for (i = 0; i < c->nchain; i++) {
		if ((x = x509_der(c->chain[i], c->chainlen[i])) == NULL ||
		    sk_X509_push(sg.chain, x) <= 0) {
			X509_free(x);
			api_reply_err(ctx, CAP_ERR_CORRUPT, "packages sign chain");
			goto out;
		}
	}
	r = content != NULL ? pkg_cms_sign(&sg, content, len, &cms) :
	    pkg_cms_sign_sha256(&sg, dg, &cms);
	if (r == CAP_ERR_INVALID) {
		api_reply_status(ctx, 400,
		    "the certificate's key cannot sign packages");
		goto out;
	}
	if (r != 0 || (r = pkg_cms_pem(cms, &pem)) != 0) {
		api_reply_err(ctx, r, "packages sign");
		goto out;
	}
	if ((chain = json_array()) == NULL) {
		api_reply_err(ctx, CAP_ERR_NOMEM, "packages sign");
		goto out;
	}
	for (i = 0; i < c->nchain; i++)
		if ((v = api_json_der_cert_pem(c->chain[i],
		    c->chainlen[i])) == NULL ||
		    json_array_append_new(chain, v) != 0) {
			api_reply_err(ctx, CAP_ERR_NOMEM, "packages sign");
			goto out;
		}
	api_reply_json(ctx, 200, json_pack("{s:s,s:o,s:o}", "cms", pem,
	    "certificate", api_json_der_cert_pem(c->der, c->derlen),
	    "chain", chain));
	chain = NULL;	/* transferred */
 out:
	json_decref(chain);
	free(pem);
	CMS_ContentInfo_free(cms);
	sk_X509_pop_free(sg.chain, X509_free);
	X509_free(sg.cert);
	certdb_cert_free(c);
	b64_free(content, len);
	json_decref(j);
}

/* ---- encrypt ---- */

void
api_h_pkg_encrypt(struct api_ctx *ctx)
{
	static const char *const allowed[] = { "recipients", "content",
	    "cipher", NULL };
	enum pkg_cms_cipher cipher = PKG_CMS_AES256_GCM;
	STACK_OF(X509) *rc = NULL;
	json_t *j = NULL, *a, *e, *cj;
	uint8_t *content = NULL;
	size_t len = 0, i;
	BIO *in = NULL, *out = NULL;
	BUF_MEM *m;
	int r;

	if (api_require(ctx, API_CAP_ADMIN, "*") != 0)
		return;
	if (api_body_object(ctx, allowed, &j) != 0)
		return;
	if ((cj = json_object_get(j, "cipher")) != NULL &&
	    pkg_cms_cipher_parse(api_json_plain_string(cj), &cipher) != 0) {
		api_reply_status(ctx, 400,
		    "\"cipher\" must be aes-256-gcm or aes-256-cbc");
		goto out;
	}
	a = json_object_get(j, "recipients");
	if (!json_is_array(a) || json_array_size(a) == 0 ||
	    json_array_size(a) > PKG_CMS_RECIPS_MAX) {
		api_reply_status(ctx, 400, "\"recipients\" must list 1 to 32 "
		    "PEM certificates");
		goto out;
	}
	if ((rc = sk_X509_new_null()) == NULL) {
		api_reply_err(ctx, CAP_ERR_NOMEM, "packages encrypt");
		goto out;
	}
	json_array_foreach(a, i, e) {
		int before = sk_X509_num(rc);

		if (!json_is_string(e) || pem_certs(json_string_value(e),
		    json_string_length(e), rc) == NULL ||
		    sk_X509_num(rc) != before + 1) {
			api_reply_status(ctx, 400, "each recipient must be one "
			    "PEM certificate");
			goto out;
		}
	}
	if (b64_field(ctx, j, "content", PKG_API_CONTENT_MAX, &content, &len,
	    "\"content\" must be base64 of at most 1 MiB") != 0)
		goto out;
	if ((in = BIO_new_mem_buf(content, (int)len)) == NULL ||
	    (out = BIO_new(BIO_s_mem())) == NULL) {
		api_reply_err(ctx, CAP_ERR_NOMEM, "packages encrypt");
		goto out;
	}
	if ((r = pkg_cms_encrypt_bio(rc, cipher, in, out, 1)) != 0) {
		if (r == CAP_ERR_INVALID)
			api_reply_status(ctx, 400, "a recipient's key cannot "
			    "be used (RSA of 2048 bits or more, EC P-256 or "
			    "P-384)");
		else
			api_reply_err(ctx, r, "packages encrypt");
		goto out;
	}
	BIO_get_mem_ptr(out, &m);
	api_reply_json(ctx, 200, json_pack("{s:s%}", "cms", m->data,
	    m->length));
 out:
	BIO_free(in);
	BIO_free(out);
	b64_free(content, len);
	sk_X509_pop_free(rc, X509_free);
	json_decref(j);
}

/* ---- decrypt ---- */

/* The "cms" field: PEM text or base64 DER, parsed; answers on failure. */
static int
cms_field(struct api_ctx *ctx, json_t *j, CMS_ContentInfo **cms)
{
	json_t *v = json_object_get(j, "cms");
	const char *s;
	uint8_t *der = NULL;
	size_t slen, len = 0;
	int r;

	*cms = NULL;
	if (v == NULL || !json_is_string(v)) {
		api_reply_status(ctx, 400,
		    "\"cms\" must be a PEM or base64 DER CMS message");
		return -1;
	}
	s = json_string_value(v);
	slen = json_string_length(v);
	if (slen > 0 && s[0] == '-')
		r = pkg_cms_read((const uint8_t *)s, slen, cms);
	else if ((r = b64_decode(s, slen, PKG_CMS_INPUT_MAX, &der, &len)) == 0)
		r = pkg_cms_read(der, len, cms);
	b64_free(der, len);
	if (r == CAP_ERR_TOO_LARGE)
		api_reply_status(ctx, 413, "the data is over its size limit");
	else if (r == CAP_ERR_INVALID)
		api_reply_status(ctx, 400, "\"cms\" is not a CMS message");
	else if (r != 0)
		api_reply_err(ctx, r, "packages cms");
	return r == 0 ? 0 : -1;
}

void
api_h_pkg_decrypt(struct api_ctx *ctx)
{
	static const char *const allowed[] = { "key_id", "cert", "cms", NULL };
	struct certdb_cert *c = NULL;
	struct key_info k;
	CMS_ContentInfo *cms = NULL;
	hsm_obj priv = 0, pub = 0;
	json_t *j = NULL, *cj;
	const char *id = NULL, *kid = NULL;
	uint8_t *spki = NULL, id_bin[STORE_KEY_ID_LEN];
	size_t spki_len = 0;
	X509 *x = NULL;
	BIO *out = NULL;
	BUF_MEM *m;
	int r;

	if (api_require(ctx, API_CAP_ADMIN, "*") != 0)
		return;
	if (api_body_object(ctx, allowed, &j) != 0)
		return;
	if (json_object_get(j, "cert") != NULL)
		id = api_json_plain_string(json_object_get(j, "cert"));
	if (json_object_get(j, "key_id") != NULL)
		kid = api_json_plain_string(json_object_get(j, "key_id"));
	if ((id == NULL) == (kid == NULL) ||
	    (json_object_get(j, "cert") != NULL &&
	    json_object_get(j, "key_id") != NULL)) {
		api_reply_status(ctx, 400,
		    "give exactly one of \"key_id\" and \"cert\"");
		goto out;
	}
	if (id != NULL) {
		if (cert_key_load(ctx, id, 0, &c, &k, &priv, &pub) != 0)
			goto out;
		if ((x = x509_der(c->der, c->derlen)) == NULL) {
			api_reply_err(ctx, CAP_ERR_CORRUPT, "packages decrypt");
			goto out;
		}
	} else {
		if (store_key_id_parse(kid, id_bin) != 0 ||
		    (r = keys_get(ctx->deps->h, ctx->deps->s, kid, &k, &priv,
		    &pub)) == CAP_ERR_NOT_FOUND) {
			api_reply_status(ctx, 404, "no such key");
			goto out;
		}
		if (r != 0) {
			api_reply_err(ctx, r, "packages key");
			goto out;
		}
	}
	if (k.type != HSM_KEY_RSA_2048 && k.type != HSM_KEY_RSA_3072 &&
	    k.type != HSM_KEY_EC_P256 && k.type != HSM_KEY_EC_P384) {
		api_reply_status(ctx, 400, "this key type cannot decrypt");
		goto out;
	}
	if (cms_field(ctx, j, &cms) != 0)
		goto out;
	if ((r = keys_public_der(ctx->deps->h, pub, &spki, &spki_len)) != 0) {
		api_reply_err(ctx, r, "packages decrypt");
		goto out;
	}
	if ((out = BIO_new(BIO_s_secmem())) == NULL) {
		api_reply_err(ctx, CAP_ERR_NOMEM, "packages decrypt");
		goto out;
	}
	r = pkg_cms_decrypt(ctx->deps->h, priv, k.type, spki, spki_len, x, cms,
	    out);
	if (r == CAP_ERR_INVALID) {
		api_reply_status(ctx, 400,
		    "the message is not encrypted to this key");
		goto out;
	}
	if (r == CAP_ERR_CRYPTO) {
		api_reply_status(ctx, 400,
		    "the message does not decrypt with this key");
		goto out;
	}
	if (r == CAP_ERR_UNSUPPORTED) {
		api_reply_status(ctx, 400,
		    "this key may not be used to decrypt");
		goto out;
	}
	if (r != 0) {
		api_reply_err(ctx, r, "packages decrypt");
		goto out;
	}
	BIO_get_mem_ptr(out, &m);
	if ((cj = b64_json((const uint8_t *)m->data, m->length)) == NULL) {
		api_reply_err(ctx, CAP_ERR_NOMEM, "packages decrypt");
		goto out;
	}
	api_reply_json(ctx, 200, json_pack("{s:o}", "content", cj));
 out:
	BIO_free(out);		/* secure memory: wiped on free */
	free(spki);
	X509_free(x);
	CMS_ContentInfo_free(cms);
	certdb_cert_free(c);
	json_decref(j);
}

/* ---- verify ---- */

/* Reads a string array field of PEM texts into certs or CRLs. */
static int
pem_list(struct api_ctx *ctx, json_t *j, const char *name, int crl,
    size_t max, STACK_OF(X509) **certs, STACK_OF(X509_CRL) **crls)
{
	json_t *a = json_object_get(j, name), *e;
	uint8_t *der = NULL;
	size_t i, len = 0;
	const char *s;
	int r;

	if (a == NULL && crl)
		return 0;
	if (!json_is_array(a) || (!crl && json_array_size(a) == 0) ||
	    json_array_size(a) > max) {
		api_reply_status(ctx, 400, crl ? "\"crls\" must list PEM or "
		    "base64 DER CRLs" : "\"trust\" must list 1 to 16 PEM "
		    "certificates");
		return -1;
	}
	json_array_foreach(a, i, e) {
		if ((s = api_json_plain_string(e)) == NULL)
			goto bad;
		if (!crl) {
			r = json_string_length(e) > PKG_API_PEM_MAX ? -1 :
			    pkg_pem_certs(s, json_string_length(e), certs);
		} else if (s[0] == '-')
			r = pkg_pem_crls(s, json_string_length(e), crls);
		else {
			if (b64_decode(s, json_string_length(e),
			    PKG_API_CRL_MAX, &der, &len) != 0)
				goto bad;
			r = pkg_pem_crls(der, len, crls);
			b64_free(der, len);
			der = NULL;
		}
		if (r != 0)
			goto bad;
	}
	return 0;
 bad:
	api_reply_status(ctx, 400, crl ? "\"crls\" must list PEM or base64 "
	    "DER CRLs" : "\"trust\" must list PEM certificates");
	return -1;
}

void
api_h_pkg_verify(struct api_ctx *ctx)
{
	static const char *const allowed[] = { "package", "trust", "crls",
	    NULL };
	struct pkg_verify_opts o;
	struct pkg_report *rep = NULL;
	pkg_src *src = NULL;
	json_t *j = NULL, *errs = NULL, *e, *v;
	uint8_t *pkg = NULL;
	size_t len = 0, i;
	char reason[256];
	int r;

	memset(&o, 0, sizeof(o));
	if (api_require(ctx, API_CAP_ADMIN, "*") != 0)
		return;
	if (api_body_object(ctx, allowed, &j) != 0)
		return;
	if (pem_list(ctx, j, "trust", 0, PKG_API_TRUST_MAX, &o.roots,
	    NULL) != 0 ||
	    pem_list(ctx, j, "crls", 1, PKG_API_CRLS_MAX, NULL, &o.crls) != 0)
		goto out;
	if (b64_field(ctx, j, "package", ctx->body_len, &pkg, &len,
	    "\"package\" must be a base64 zip") != 0)
		goto out;
	reason[0] = '\0';
	if ((r = pkg_src_open_mem(pkg, len, &src, reason,
	    sizeof(reason))) != 0) {
		if (r == CAP_ERR_INVALID || r == CAP_ERR_IO ||
		    r == CAP_ERR_TOO_LARGE) {
			/* the reason names the layout problem, not content */
			char msg[320];

			snprintf(msg, sizeof(msg), "\"package\" is not a "
			    "readable zip%s%s", reason[0] != '\0' ? ": " : "",
			    reason);
			api_reply_status(ctx, 400, msg);
		} else
			api_reply_err(ctx, r, "packages verify open");
		goto out;
	}
	if ((r = pkg_verify(src, &o, &rep)) != 0) {
		api_reply_err(ctx, r, "packages verify");
		goto out;
	}
	if ((errs = json_array()) == NULL) {
		api_reply_err(ctx, CAP_ERR_NOMEM, "packages verify");
		goto out;
	}
	for (i = 0; i < rep->nissues; i++) {
		const struct pkg_issue *is = &rep->issues[i];

		if ((e = json_pack("{s:s,s:s}", "code", is->code,
		    "message", is->message != NULL ? is->message : "")) ==
		    NULL || json_array_append_new(errs, e) != 0) {
			api_reply_err(ctx, CAP_ERR_NOMEM, "packages verify");
			goto out;
		}
		if (is->path != NULL)
			json_object_set_new(e, "path", json_string(is->path));
	}
	v = json_pack("{s:b,s:s,s:s,s:I,s:o}", "valid", rep->nissues == 0,
	    "form", pkg_form_name(rep->form), "signer",
	    rep->signer != NULL ? rep->signer : "", "artifacts",
	    (json_int_t)rep->artifacts, "errors", errs);
	errs = NULL;	/* transferred */
	api_reply_json(ctx, 200, v);
 out:
	json_decref(errs);
	pkg_report_free(rep);
	pkg_src_free(src);
	b64_free(pkg, len);
	sk_X509_pop_free(o.roots, X509_free);
	sk_X509_CRL_pop_free(o.crls, X509_CRL_free);
	json_decref(j);
}
