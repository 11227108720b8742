/*
 * handlers_keys.c - /v1/keys: keys generated and used in the token.
 *
 * Every route needs admin on "*" for now: keys are not yet bound to
 * domains.  Binary data travels as standard base64; decoded inputs are
 * bounded (KEY_DATA_MAX), and plaintext handled by encrypt/decrypt sits
 * in locked memory that is wiped before release.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "api/handlers.h"
#include "api/reply.h"
#include "api/request.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "crypto/csr.h"
#include "crypto/keys.h"
#include "hsm/hsm_derive.h"

#define KEY_DATA_MAX	(64 * 1024)	/* bytes of data to sign/encrypt */
#define KEY_SIG_MAX	1024		/* bytes of a signature */

/* ---- helpers ---- */

/*
 * Decodes the base64 string field name of j into locked memory (*buf,
 * sodium_free after wiping *len bytes).  An absent field is an error
 * unless optional.  Answers the request on failure.
 */
static int
b64_field(struct api_ctx *ctx, json_t *j, const char *name, size_t max,
    int optional, uint8_t **buf, size_t *len, const char *bad)
{
	json_t *v;
	const char *s;
	size_t slen, cap;
	uint8_t *b;

	*buf = NULL;
	*len = 0;
	if ((v = json_object_get(j, name)) == NULL && optional)
		return 0;
	if (v == NULL || !json_is_string(v)) {
		api_reply_status(ctx, 400, bad);
		return -1;
	}
	s = json_string_value(v);
	slen = json_string_length(v);
	if (slen > (max + 2) / 3 * 4 + 4) {
		api_reply_status(ctx, 413, "the data is over its size limit");
		return -1;
	}
	cap = slen / 4 * 3 + 3;
	if ((b = sodium_malloc(cap)) == NULL) {
		api_reply_err(ctx, CAP_ERR_NOMEM, "base64");
		return -1;
	}
	if (sodium_base642bin(b, cap, s, slen, NULL, len, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || *len > max) {
		sodium_memzero(b, cap);
		sodium_free(b);
		*len = 0;
		api_reply_status(ctx, 400, bad);
		return -1;
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

/* A base64 JSON string of len bytes of buf, or NULL. */
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
	j = json_string(s);
	sodium_memzero(s, n);
	sodium_free(s);
	return j;
}

/* The JSON of a key: id, type, label, owner, created, uri, public_key. */
static json_t *
key_json(struct api_ctx *ctx, const struct key_info *k, hsm_obj priv,
    hsm_obj pub, int *err)
{
	char created[32], *uri = NULL, *pem = NULL;
	json_t *o = NULL;

	*err = 0;
	cap_format_time(k->created, created);
	if ((*err = keys_uri(ctx->deps->h, priv, &uri)) != 0)
		goto out;
	if (pub != 0 && (*err = keys_public_pem(ctx->deps->h, pub, &pem)) != 0)
		goto out;
	o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "id", k->id,
	    "type", hsm_key_type_name(k->type), "label", k->label,
	    "owner", store_key_owner_name(k->owner), "created", created,
	    "uri", uri);
	if (o != NULL && pem != NULL &&
	    json_object_set_new(o, "public_key", json_string(pem)) != 0) {
		json_decref(o);
		o = NULL;
	}
	if (o == NULL)
		*err = CAP_ERR_NOMEM;
 out:
	free(uri);
	free(pem);
	return o;
}

/* Looks the key of the path up; answers the request on failure. */
static int
key_load(struct api_ctx *ctx, struct key_info *k, hsm_obj *priv, hsm_obj *pub)
{
	uint8_t id[STORE_KEY_ID_LEN];
	int r;

	if (store_key_id_parse(ctx->match.name, id) != 0) {
		api_reply_status(ctx, 404, "no such key");
		return -1;
	}
	if ((r = keys_get(ctx->deps->h, ctx->deps->s, ctx->match.name, k, priv,
	    pub)) != 0) {
		if (r == CAP_ERR_NOT_FOUND)
			api_reply_status(ctx, 404, "no such key");
		else
			api_reply_err(ctx, r, "key lookup");
		return -1;
	}
	return 0;
}

static const char *
sig_alg_name(hsm_key_type t)
{
	switch (t) {
	case HSM_KEY_EC_P256:
		return "ecdsa-sha256";
	case HSM_KEY_EC_P384:
		return "ecdsa-sha384";
	case HSM_KEY_RSA_2048:
	case HSM_KEY_RSA_3072:
		return "rsa-pkcs1-sha256";
	case HSM_KEY_ED25519:
		return "ed25519";
	default:
		return NULL;
	}
}

/* ---- create, list, get, delete ---- */

void
api_h_key_create(struct api_ctx *ctx)
{
	static const char *const allowed[] = { "type", "label", NULL };
	struct key_info k;
	char idhex[STORE_KEY_ID_HEX + 1];
	hsm_key_type type;
	hsm_obj priv = 0, pub = 0;
	json_t *j = NULL, *v, *o = NULL;
	const char *label = "";
	int r;

	if (api_require(ctx, API_CAP_ADMIN, "*") != 0)
		return;
	if (api_body_object(ctx, allowed, &j) != 0)
		return;
	if ((v = json_object_get(j, "type")) == NULL || !json_is_string(v) ||
	    hsm_key_type_parse(json_string_value(v), &type) != 0) {
		api_reply_status(ctx, 400, "\"type\" must be one of ec-p256, "
		    "ec-p384, rsa-2048, rsa-3072, ed25519, aes-256");
		goto out;
	}
	if ((v = json_object_get(j, "label")) != NULL) {
		if (!json_is_string(v) ||
		    strlen(json_string_value(v)) != json_string_length(v) ||
		    !store_key_label_valid(json_string_value(v))) {
			api_reply_status(ctx, 400, "\"label\" must be a string "
			    "of at most 64 bytes without control characters");
			goto out;
		}
		label = json_string_value(v);
	}
	if ((r = keys_generate(ctx->deps->h, ctx->deps->s, type, label,
	    STORE_KEY_OWNER_USER, &k)) != 0) {
		if (r == CAP_ERR_UNSUPPORTED)
			api_reply_status(ctx, 400,
			    "the token cannot generate keys of this type");
		else
			api_reply_err(ctx, r, "key generate");
		goto out;
	}
	memcpy(idhex, k.id, sizeof(idhex));
	if ((r = keys_get(ctx->deps->h, ctx->deps->s, idhex, &k, &priv,
	    &pub)) != 0 || (o = key_json(ctx, &k, priv, pub, &r)) == NULL) {
		api_reply_err(ctx, r, "key describe");
		goto out;
	}
	api_reply_json(ctx, 201, o);
 out:
	json_decref(j);
}

void
api_h_key_list(struct api_ctx *ctx)
{
	struct key_info *v = NULL;
	size_t n = 0, i;
	char created[32];
	json_t *arr = NULL, *body = NULL;
	int r;

	if (api_require(ctx, API_CAP_ADMIN, "*") != 0)
		return;
	if ((r = keys_list(ctx->deps->s, 0, &v, &n)) != 0) {
		api_reply_err(ctx, r, "key list");
		return;
	}
	if ((arr = json_array()) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		cap_format_time(v[i].created, created);
		if (json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,"
		    "s:s}", "id", v[i].id, "type", hsm_key_type_name(v[i].type),
		    "label", v[i].label, "owner",
		    store_key_owner_name(v[i].owner), "created", created)) != 0)
			goto out;
	}
	body = json_pack("{s:o}", "keys", arr);
	arr = NULL;	/* transferred */
 out:
	json_decref(arr);
	free(v);
	api_reply_json(ctx, 200, body);
}

void
api_h_key_get(struct api_ctx *ctx)
{
	struct key_info k;
	hsm_obj priv, pub;
	json_t *o;
	int r;

	if (api_require(ctx, API_CAP_ADMIN, "*") != 0)
		return;
	if (key_load(ctx, &k, &priv, &pub) != 0)
		return;
	if ((o = key_json(ctx, &k, priv, pub, &r)) == NULL) {
		api_reply_err(ctx, r, "key describe");
		return;
	}
	api_reply_json(ctx, 200, o);
}

void
api_h_key_delete(struct api_ctx *ctx)
{
	uint8_t id[STORE_KEY_ID_LEN];
	int r;

	if (api_require(ctx, API_CAP_ADMIN, "*") != 0)
		return;
	if (store_key_id_parse(ctx->match.name, id) != 0) {
		api_reply_status(ctx, 404, "no such key");
		return;
	}
	if ((r = keys_destroy(ctx->deps->h, ctx->deps->s,
	    ctx->match.name)) != 0) {
		if (r == CAP_ERR_NOT_FOUND)
			api_reply_status(ctx, 404, "no such key");
		else
			api_reply_err(ctx, r, "key destroy");
		return;
	}
	api_reply_empty(ctx, 204);
}

/* ---- sign, verify, csr ---- */

/*
 * What sign and verify start with: an administrator, the key of the path,
 * a key type that signs (refusal answered otherwise) and the body.
 * Answers the request on failure.
 */
static int
sig_request(struct api_ctx *ctx, const char *refusal,
    const char *const *allowed, struct key_info *k, hsm_obj *priv,
    hsm_obj *pub, json_t **j)
{
	if (api_require(ctx, API_CAP_ADMIN, "*") != 0)
		return -1;
	if (key_load(ctx, k, priv, pub) != 0)
		return -1;
	if (sig_alg_name(k->type) == NULL) {
		api_reply_status(ctx, 400, refusal);
		return -1;
	}
	return api_body_object(ctx, allowed, j);
}

void
api_h_key_sign(struct api_ctx *ctx)
{
	static const char *const allowed[] = { "data", NULL };
	struct key_info k;
	hsm_obj priv, pub;
	json_t *j = NULL, *sj;
	uint8_t *data = NULL, *sig = NULL;
	size_t len = 0, siglen = 0;
	int r;

	if (sig_request(ctx, "this key type cannot sign", allowed, &k,
	    &priv, &pub, &j) != 0)
		return;
	if (b64_field(ctx, j, "data", KEY_DATA_MAX, 0, &data, &len,
	    "\"data\" must be base64 of at most 64 KiB") != 0)
		goto out;
	if ((r = hsm_sign(ctx->deps->h, priv, k.type, data, len, &sig,
	    &siglen)) != 0) {
		api_reply_err(ctx, r, "key sign");
		goto out;
	}
	if ((sj = b64_json(sig, siglen)) == NULL) {
		api_reply_err(ctx, CAP_ERR_NOMEM, "key sign");
		goto out;
	}
	api_reply_json(ctx, 200, json_pack("{s:o,s:s}", "signature", sj,
	    "algorithm", sig_alg_name(k.type)));
 out:
	free(sig);
	b64_free(data, len);
	json_decref(j);
}

void
api_h_key_verify(struct api_ctx *ctx)
{
	static const char *const allowed[] = { "data", "signature", NULL };
	struct key_info k;
	hsm_obj priv, pub;
	json_t *j = NULL;
	uint8_t *data = NULL, *sig = NULL;
	size_t len = 0, siglen = 0;
	int r;

	if (sig_request(ctx, "this key type cannot verify", allowed, &k,
	    &priv, &pub, &j) != 0)
		return;
	if (b64_field(ctx, j, "data", KEY_DATA_MAX, 0, &data, &len,
	    "\"data\" must be base64 of at most 64 KiB") != 0 ||
	    b64_field(ctx, j, "signature", KEY_SIG_MAX, 0, &sig, &siglen,
	    "\"signature\" must be base64 of at most 1 KiB") != 0)
		goto out;
	r = hsm_verify(ctx->deps->h, pub, k.type, data, len, sig, siglen);
	if (r != 0 && r != CAP_ERR_CRYPTO && r != CAP_ERR_INVALID) {
		api_reply_err(ctx, r, "key verify");
		goto out;
	}
	api_reply_json(ctx, 200, json_pack("{s:b}", "valid", r == 0));
 out:
	b64_free(sig, siglen);
	b64_free(data, len);
	json_decref(j);
}

void
api_h_key_csr(struct api_ctx *ctx)
{
	static const char *const allowed[] = { "subject", "sans", NULL };
	const char *sans[CSR_SANS_MAX];
	struct key_info k;
	hsm_obj priv, pub;
	json_t *j = NULL, *v, *e;
	uint8_t *der = NULL;
	size_t derlen = 0, nsans = 0, i;
	X509_REQ *req = NULL;
	char *pem = NULL;
	int r;

	if (api_require(ctx, API_CAP_ADMIN, "*") != 0)
		return;
	if (key_load(ctx, &k, &priv, &pub) != 0)
		return;
	if (sig_alg_name(k.type) == NULL) {
		api_reply_status(ctx, 400, "this key type cannot sign a CSR");
		return;
	}
	if (api_body_object(ctx, allowed, &j) != 0)
		return;
	if ((v = json_object_get(j, "subject")) == NULL || !json_is_string(v) ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		api_reply_status(ctx, 400, "\"subject\" must be a string");
		goto out;
	}
	if ((e = json_object_get(j, "sans")) != NULL) {
		if (!json_is_array(e) || json_array_size(e) > CSR_SANS_MAX) {
			api_reply_status(ctx, 400, "\"sans\" must be an array "
			    "of at most 100 strings");
			goto out;
		}
		for (i = 0; i < json_array_size(e); i++) {
			json_t *s = json_array_get(e, i);

			if (!json_is_string(s) || strlen(json_string_value(s))
			    != json_string_length(s)) {
				api_reply_status(ctx, 400,
				    "\"sans\" must hold strings");
				goto out;
			}
			sans[nsans++] = json_string_value(s);
		}
	}
	if ((r = keys_public_der(ctx->deps->h, pub, &der, &derlen)) != 0) {
		api_reply_err(ctx, r, "key public");
		goto out;
	}
	if ((r = csr_build(ctx->deps->h, priv, k.type, der, derlen,
	    json_string_value(v), sans, nsans, &req)) != 0) {
		if (r == CAP_ERR_INVALID || r == CAP_ERR_TOO_LARGE)
			api_reply_status(ctx, 400, "the subject or a SAN is "
			    "malformed (subject \"CN=x,O=y\"; SANs \"DNS:\", "
			    "\"IP:\", \"URI:\", \"email:\")");
		else
			api_reply_err(ctx, r, "csr build");
		goto out;
	}
	if ((r = csr_pem(req, &pem)) != 0) {
		api_reply_err(ctx, r, "csr pem");
		goto out;
	}
	api_reply_json(ctx, 200, json_pack("{s:s}", "csr", pem));
 out:
	free(pem);
	X509_REQ_free(req);
	free(der);
	json_decref(j);
}

/* ---- encrypt, decrypt ---- */

/* RSA-OAEP (SHA-1, MGF1-SHA1) with the public key, in software. */
static int
rsa_encrypt(struct api_ctx *ctx, hsm_obj pub, const uint8_t *pt, size_t ptlen,
    uint8_t **ct, size_t *ctlen)
{
	const unsigned char *p;
	uint8_t *der = NULL;
	size_t derlen = 0, n = 0;
	EVP_PKEY *pk = NULL;
	EVP_PKEY_CTX *pc = NULL;
	int r;

	*ct = NULL;
	*ctlen = 0;
	if ((r = keys_public_der(ctx->deps->h, pub, &der, &derlen)) != 0)
		return r;
	r = CAP_ERR_INTERNAL;
	p = der;
	if ((pk = d2i_PUBKEY(NULL, &p, (long)derlen)) == NULL ||
	    (pc = EVP_PKEY_CTX_new(pk, NULL)) == NULL ||
	    EVP_PKEY_encrypt_init(pc) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(pc, EVP_sha1()) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(pc, EVP_sha1()) <= 0 ||
	    EVP_PKEY_encrypt(pc, NULL, &n, pt, ptlen) <= 0)
		goto out;
	/* The plaintext must fit: modulus bytes minus 42 for SHA-1 OAEP. */
	if (ptlen + 42 > (size_t)EVP_PKEY_get_size(pk)) {
		r = CAP_ERR_TOO_LARGE;
		goto out;
	}
	if ((*ct = malloc(n)) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	if (EVP_PKEY_encrypt(pc, *ct, &n, pt, ptlen) <= 0) {
		free(*ct);
		*ct = NULL;
		goto out;
	}
	*ctlen = n;
	r = 0;
 out:
	EVP_PKEY_CTX_free(pc);
	EVP_PKEY_free(pk);
	free(der);
	return r;
}

void
api_h_key_encrypt(struct api_ctx *ctx)
{
	static const char *const allowed[] = { "plaintext", NULL };
	struct key_info k;
	hsm_obj priv, pub;
	json_t *j = NULL, *cj = NULL, *ij = NULL;
	uint8_t *pt = NULL, *ct = NULL, iv[HSM_GCM_IV_LEN];
	size_t ptlen = 0, ctlen = 0;
	int r, rsa;

	if (api_require(ctx, API_CAP_ADMIN, "*") != 0)
		return;
	if (key_load(ctx, &k, &priv, &pub) != 0)
		return;
	rsa = k.type == HSM_KEY_RSA_2048 || k.type == HSM_KEY_RSA_3072;
	if (k.type != HSM_KEY_AES_256 && !rsa) {
		api_reply_status(ctx, 400, "this key type cannot encrypt");
		return;
	}
	if (api_body_object(ctx, allowed, &j) != 0)
		return;
	if (b64_field(ctx, j, "plaintext", KEY_DATA_MAX, 0, &pt, &ptlen,
	    "\"plaintext\" must be base64 of at most 64 KiB") != 0)
		goto out;
	if (rsa) {
		if ((r = rsa_encrypt(ctx, pub, pt, ptlen, &ct, &ctlen)) != 0) {
			if (r == CAP_ERR_TOO_LARGE)
				api_reply_status(ctx, 413, "the plaintext is "
				    "too long for this RSA key");
			else
				api_reply_err(ctx, r, "rsa encrypt");
			goto out;
		}
	} else {
		ctlen = ptlen + HSM_GCM_TAG_LEN;
		if ((ct = malloc(ctlen)) == NULL) {
			api_reply_err(ctx, CAP_ERR_NOMEM, "aes encrypt");
			goto out;
		}
		if ((r = hsm_random(ctx->deps->h, iv, sizeof(iv))) != 0 ||
		    (r = hsm_gcm_encrypt(ctx->deps->h, priv, iv, NULL, 0, pt,
		    ptlen, ct)) != 0) {
			api_reply_err(ctx, r, "aes encrypt");
			goto out;
		}
		if ((ij = b64_json(iv, sizeof(iv))) == NULL) {
			api_reply_err(ctx, CAP_ERR_NOMEM, "aes encrypt");
			goto out;
		}
	}
	if ((cj = b64_json(ct, ctlen)) == NULL) {
		api_reply_err(ctx, CAP_ERR_NOMEM, "encrypt");
		goto out;
	}
	if (ij != NULL) {
		api_reply_json(ctx, 200, json_pack("{s:o,s:o,s:s}",
		    "ciphertext", cj, "iv", ij, "algorithm", "aes-256-gcm"));
		ij = NULL;
	} else
		api_reply_json(ctx, 200, json_pack("{s:o,s:s}",
		    "ciphertext", cj, "algorithm", "rsa-oaep-sha1"));
	cj = NULL;	/* transferred */
 out:
	json_decref(ij);
	json_decref(cj);
	free(ct);
	b64_free(pt, ptlen);
	json_decref(j);
}

void
api_h_key_decrypt(struct api_ctx *ctx)
{
	static const char *const allowed[] = { "ciphertext", "iv", NULL };
	struct key_info k;
	hsm_obj priv, pub;
	json_t *j = NULL, *pj;
	uint8_t *ct = NULL, *iv = NULL, *pt = NULL;
	size_t ctlen = 0, ivlen = 0, ptlen = 0, cap = 0;
	int r, rsa;

	if (api_require(ctx, API_CAP_ADMIN, "*") != 0)
		return;
	if (key_load(ctx, &k, &priv, &pub) != 0)
		return;
	rsa = k.type == HSM_KEY_RSA_2048 || k.type == HSM_KEY_RSA_3072;
	if (k.type != HSM_KEY_AES_256 && !rsa) {
		api_reply_status(ctx, 400, "this key type cannot decrypt");
		return;
	}
	if (api_body_object(ctx, allowed, &j) != 0)
		return;
	if (b64_field(ctx, j, "ciphertext", KEY_DATA_MAX + HSM_GCM_TAG_LEN, 0,
	    &ct, &ctlen, "\"ciphertext\" must be base64 of at most 64 KiB")
	    != 0 || b64_field(ctx, j, "iv", HSM_GCM_IV_LEN, rsa, &iv, &ivlen,
	    "\"iv\" must be base64 of 12 bytes") != 0)
		goto out;
	if (!rsa && (ivlen != HSM_GCM_IV_LEN || ctlen < HSM_GCM_TAG_LEN)) {
		api_reply_status(ctx, 400, !rsa && ivlen != HSM_GCM_IV_LEN ?
		    "\"iv\" must be base64 of 12 bytes" :
		    "the ciphertext is too short");
		goto out;
	}
	if (rsa && (ctlen == 0 || ctlen > HSM_OAEP_CT_MAX)) {
		api_reply_status(ctx, 400, "the ciphertext has the wrong size");
		goto out;
	}
	cap = rsa ? ctlen : ctlen - HSM_GCM_TAG_LEN;
	if ((pt = sodium_malloc(cap + 1)) == NULL) {
		api_reply_err(ctx, CAP_ERR_NOMEM, "decrypt");
		goto out;
	}
	ptlen = cap;
	if (rsa)
		r = hsm_rsa_oaep_decrypt(ctx->deps->h, priv, ct, ctlen, pt,
		    &ptlen);
	else
		r = hsm_gcm_decrypt(ctx->deps->h, priv, iv, NULL, 0, ct, ctlen,
		    pt);
	if (r != 0) {
		if (r == CAP_ERR_CRYPTO || r == CAP_ERR_INVALID)
			api_reply_status(ctx, 400,
			    "the ciphertext does not decrypt with this key");
		else
			api_reply_err(ctx, r, "decrypt");
		goto out;
	}
	if ((pj = b64_json(pt, ptlen)) == NULL) {
		api_reply_err(ctx, CAP_ERR_NOMEM, "decrypt");
		goto out;
	}
	api_reply_json(ctx, 200, json_pack("{s:o}", "plaintext", pj));
 out:
	if (pt != NULL) {
		sodium_memzero(pt, cap + 1);
		sodium_free(pt);
	}
	b64_free(iv, ivlen);
	b64_free(ct, ctlen);
	json_decref(j);
}
