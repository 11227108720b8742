/*
 * keys.c - keys in the token and their inventory records.
 *
 * The token is the truth about a key's existence and the inventory says
 * what it is for: creation writes the objects first and the record
 * second (and undoes the objects when the record fails), destruction
 * removes the objects first, so a record never names objects that were
 * never made, and no key is left in the token without a record unless
 * the undo itself failed (logged).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "crypto/csr.h"
#include "crypto/keys.h"

#define PEM_MAX	8192	/* a PEM public key: RSA-3072 is under 700 bytes */

void
keys_info_from_record(const struct store_key *rec, struct key_info *info)
{
	memset(info, 0, sizeof(*info));
	store_key_id_hex(rec->id, info->id);
	info->type = (hsm_key_type)rec->type;
	memcpy(info->label, rec->label, sizeof(info->label));
	info->owner = rec->owner;
	info->created = rec->created;
	memcpy(info->token, rec->token, sizeof(info->token));
}

int
keys_generate(hsm *h, store *s, hsm_key_type type, const char *label,
    uint32_t owner, struct key_info *out)
{
	return keys_generate_obj(h, s, type, label, owner, out, NULL, NULL);
}

int
keys_generate_obj(hsm *h, store *s, hsm_key_type type, const char *label,
    uint32_t owner, struct key_info *out, hsm_obj *priv_out, hsm_obj *pub_out)
{
	struct store_key rec;
	hsm_token_info ti;
	hsm_obj priv = 0, pub = 0;
	int r;

	memset(out, 0, sizeof(*out));
	if (priv_out != NULL)
		*priv_out = 0;
	if (pub_out != NULL)
		*pub_out = 0;
	memset(&rec, 0, sizeof(rec));
	if (label == NULL)
		label = "";
	if (h == NULL || s == NULL || (int)type < 1 ||
	    (int)type > STORE_KEY_TYPE_MAX || !store_key_label_valid(label) ||
	    owner == 0 || strcmp(store_key_owner_name(owner), "unknown") == 0)
		return CAP_ERR_INVALID;
	if ((r = hsm_random(h, rec.id, sizeof(rec.id))) != 0)
		return r;
	rec.type = (uint32_t)type;
	rec.created = cap_now();
	rec.owner = owner;
	rec.flags = type == HSM_KEY_AES_256 ? STORE_KEY_F_NOPUB : 0;
	memcpy(rec.label, label, strlen(label) + 1);
	hsm_get_token_info(h, &ti);
	memcpy(rec.token, ti.label, strnlen(ti.label, STORE_KEY_TOKEN_MAX));
	if ((r = hsm_key_generate(h, type, *label ? label : NULL, rec.id,
	    sizeof(rec.id), 1, &priv, &pub)) != 0)
		goto out;
	if ((r = store_key_put(s, &rec)) != 0) {
		log_error("keys: inventory record not written (%s); "
		    "removing the new key from the token", cap_strerror(r));
		goto out;
	}
	keys_info_from_record(&rec, out);
	if (priv_out != NULL)
		*priv_out = priv;
	if (pub_out != NULL)
		*pub_out = pub;
	r = 0;
 out:
	if (r != 0) {
		if (priv != 0 && hsm_obj_destroy(h, priv) != 0)
			log_error("keys: a private key without a record is "
			    "left in the token");
		if (pub != 0 && hsm_obj_destroy(h, pub) != 0)
			log_error("keys: a public key without a record is "
			    "left in the token");
	}
	return r;
}

int
keys_get(hsm *h, store *s, const char *id_hex, struct key_info *out,
    hsm_obj *priv, hsm_obj *pub)
{
	struct store_key rec;
	uint8_t id[STORE_KEY_ID_LEN];
	hsm_key_type kt;
	hsm_obj kpriv = 0, kpub = 0;
	int r;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (priv != NULL)
		*priv = 0;
	if (pub != NULL)
		*pub = 0;
	if (h == NULL || s == NULL)
		return CAP_ERR_INVALID;
	if ((r = store_key_id_parse(id_hex, id)) != 0)
		return r;
	if ((r = store_key_get(s, id, &rec)) != 0)
		return r;
	if ((r = hsm_key_find(h, rec.id, sizeof(rec.id), &kt, &kpriv,
	    &kpub)) != 0) {
		if (r == CAP_ERR_NOT_FOUND)
			log_warn("keys: key %s is in the inventory but not in "
			    "the token", id_hex);
		return r;
	}
	if ((uint32_t)kt != rec.type) {
		log_error("keys: key %s is a %s in the token but a %s in the "
		    "inventory", id_hex, hsm_key_type_name(kt),
		    hsm_key_type_name((hsm_key_type)rec.type));
		return CAP_ERR_CORRUPT;
	}
	if (out != NULL)
		keys_info_from_record(&rec, out);
	if (priv != NULL)
		*priv = kpriv;
	if (pub != NULL)
		*pub = kpub;
	return 0;
}

int
keys_public_der(hsm *h, hsm_obj pub, uint8_t **der, size_t *len)
{
	*der = NULL;
	*len = 0;
	if (h == NULL || pub == 0)
		return CAP_ERR_INVALID;
	return hsm_key_public_der(h, pub, der, len);
}

int
keys_public_pem(hsm *h, hsm_obj pub, char **pem)
{
	const unsigned char *p;
	uint8_t *der = NULL;
	size_t len = 0;
	EVP_PKEY *pk = NULL;
	BIO *bio = NULL;
	int r;

	*pem = NULL;
	if ((r = keys_public_der(h, pub, &der, &len)) != 0)
		return r;
	r = CAP_ERR_INTERNAL;
	p = der;
	if ((pk = d2i_PUBKEY(NULL, &p, (long)len)) == NULL) {
		log_error("keys: the token's public key does not parse");
		goto out;
	}
	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_PUBKEY(bio, pk) != 1)
		goto out;
	r = csr_bio_text(bio, PEM_MAX, pem);
 out:
	BIO_free(bio);
	EVP_PKEY_free(pk);
	free(der);
	return r;
}

int
keys_uri(hsm *h, hsm_obj priv, char **uri)
{
	char *u = NULL, *q;
	int r;

	*uri = NULL;
	if (h == NULL || priv == 0)
		return CAP_ERR_INVALID;
	if ((r = hsm_key_uri(h, priv, &u)) != 0)
		return r;
	/* hsm_key_uri carries no query today; make sure none escapes. */
	if ((q = strchr(u, '?')) != NULL)
		*q = '\0';
	*uri = u;
	return 0;
}

int
keys_destroy(hsm *h, store *s, const char *id_hex)
{
	struct store_key rec;
	uint8_t id[STORE_KEY_ID_LEN];
	hsm_obj priv = 0, pub = 0;
	int r;

	if (h == NULL || s == NULL)
		return CAP_ERR_INVALID;
	if ((r = store_key_id_parse(id_hex, id)) != 0)
		return r;
	if ((r = store_key_get(s, id, &rec)) != 0)
		return r;
	r = hsm_key_find(h, rec.id, sizeof(rec.id), NULL, &priv, &pub);
	if (r == CAP_ERR_NOT_FOUND)
		log_warn("keys: key %s had no objects left in the token",
		    id_hex);
	else if (r != 0)
		return r;
	if (priv != 0 && (r = hsm_obj_destroy(h, priv)) != 0)
		return r;
	if (pub != 0 && (r = hsm_obj_destroy(h, pub)) != 0)
		return r;
	return store_key_delete(s, rec.id);
}

int
keys_list(store *s, uint32_t owner, struct key_info **out, size_t *n)
{
	struct store_key *recs = NULL;
	struct key_info *v = NULL;
	size_t nr = 0, i, k = 0;
	int r;

	*out = NULL;
	*n = 0;
	if ((r = store_key_list(s, &recs, &nr)) != 0)
		return r;
	if (nr > 0 && (v = calloc(nr, sizeof(*v))) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < nr; i++)
		if (owner == 0 || recs[i].owner == owner)
			keys_info_from_record(&recs[i], &v[k++]);
	*out = v;	/* transferred */
	*n = k;
	v = NULL;
	r = 0;
 out:
	free(v);
	free(recs);
	return r;
}
