/*
 * local.c - the "local" connector: a CA whose key lives in the token.
 *
 * A root signs its own certificate; an intermediate is signed by another
 * local CA (its "parent"); an imported CA brings its certificate for a key
 * already in the token.  Every signature (certificates, CRLs, OCSP
 * responses) is made through an EVP_PKEY from hsm_evp_pkey_load, so the
 * private key never leaves the token.  What the CA has issued and revoked
 * is kept in the store (store/cadb.h), for its CRL and OCSP answers.
 *
 * Settings:
 *   "subject"      "CN=..." (root and intermediate)
 *   "key"          {"type": "ec-p256|ec-p384|rsa-2048|rsa-3072"} (new key,
 *                  label "ca:NAME") or "key_id": an existing key's id
 *   "validity"     "3650d" (CA certificate lifetime)
 *   "parent"       name of the local CA that signs this intermediate
 *   "path_len"     pathLen of the CA certificate (intermediates: 0)
 *   "import"       {"certificate": PEM, "key_id": id}
 *   "default_validity" "90d" (issued certificates)
 *   "crl_validity" "7d", "ocsp": true
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "ca/conns.h"
#include "ca/local.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "crypto/keys.h"
#include "store/cadb.h"

#define LOCAL_DEF_CA_VALIDITY	(3650ULL * 86400)
#define LOCAL_DEF_VALIDITY	(90ULL * 86400)
#define LOCAL_DEF_CRL_VALIDITY	(7ULL * 86400)
#define LOCAL_OCSP_REQ_MAX	(64 * 1024)
#define LOCAL_SUBJECT_MAX	1024

struct local_ca {
	char		 name[CAP_NAME_MAX + 1];
	struct ca_env	 env;
	char		 key_id[CADB_KEY_ID_MAX + 1];
	char		 parent[CAP_NAME_MAX + 1];
	hsm_key_type	 key_type;
	char		 module[256];	/* for hsm_evp_pkey_load */
	EVP_PKEY	*key;		/* operations run in the token */
	X509		*cert;
	STACK_OF(X509)	*chain;		/* cert first, then its issuers */
	uint64_t	 validity;	/* default for issued certificates */
	uint64_t	 crl_validity;
	int		 ocsp;
	pthread_mutex_t	 lock;		/* serialises use of key */
};

struct profile {
	const char	*name;
	const char	*eku;		/* extendedKeyUsage value */
	int		 sans;		/* SANs copied from the CSR */
};

static const struct profile profiles[] = {
	{ "tls", "serverAuth,clientAuth", 1 },
	{ "tls-server", "serverAuth", 1 },
	{ "tls-client", "clientAuth", 1 },
	{ "code-signing", "codeSigning", 0 },
	{ NULL, NULL, 0 },
};

static void
say(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
say(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static const EVP_MD *
ca_md(const struct local_ca *ca)
{
	return ca->key_type == HSM_KEY_EC_P384 ? EVP_sha384() : EVP_sha256();
}

static const struct profile *
profile_find(const char *name)
{
	size_t i;

	if (name == NULL || name[0] == '\0')
		return &profiles[0];
	for (i = 0; profiles[i].name != NULL; i++)
		if (strcmp(profiles[i].name, name) == 0)
			return &profiles[i];
	return NULL;
}

/* ---- certificate building ---- */

static int
add_ext(X509 *c, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *e;
	int ok;

	if ((e = X509V3_EXT_conf_nid(NULL, ctx, nid, value)) == NULL)
		return 0;
	ok = X509_add_ext(c, e, -1);
	X509_EXTENSION_free(e);
	return ok == 1;
}

/* A positive random serial of 128 bits. */
static int
random_serial(X509 *c)
{
	uint8_t b[16];
	BIGNUM *bn = NULL;
	int ok = 0;

	if (RAND_bytes(b, sizeof(b)) != 1)
		return 0;
	b[0] &= 0x7f;
	b[0] |= 0x40;	/* always 16 octets */
	if ((bn = BN_bin2bn(b, sizeof(b), NULL)) != NULL &&
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c)) != NULL)
		ok = 1;
	BN_free(bn);
	return ok;
}

static int
serial_bytes(const ASN1_INTEGER *ai, uint8_t *out, size_t *len)
{
	BIGNUM *bn;
	int n;

	*len = 0;
	if ((bn = ASN1_INTEGER_to_BN(ai, NULL)) == NULL)
		return CAP_ERR_INVALID;
	n = BN_num_bytes(bn);
	if (n <= 0 || n > CADB_SERIAL_MAX || BN_is_negative(bn)) {
		BN_free(bn);
		return CAP_ERR_INVALID;
	}
	BN_bn2bin(bn, out);
	*len = (size_t)n;
	BN_free(bn);
	return 0;
}

/* The notAfter of c as seconds since the epoch. */
static uint64_t
not_after(X509 *c)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(X509_get0_notAfter(c), &tm) != 1)
		return 0;
	return (uint64_t)timegm(&tm);
}

/*
 * sign_ca_cert makes a CA certificate for pub with subject, signed by
 * issuer (NULL: self-signed with key), pathlen < 0 for none.
 */
static int
sign_ca_cert(struct local_ca *issuer, EVP_PKEY *self_key,
    hsm_key_type self_type, X509_NAME *subject, EVP_PKEY *pub,
    uint64_t validity, long pathlen, X509 **out)
{
	X509 *c = NULL;
	X509V3_CTX ctx;
	char bc[64];
	uint64_t cap;
	int r = CAP_ERR_CRYPTO;

	*out = NULL;
	if ((c = X509_new()) == NULL)
		return CAP_ERR_NOMEM;
	if (issuer != NULL) {
		cap = not_after(issuer->cert);
		if (cap != 0 && cap_now() + validity > cap)
			validity = cap - cap_now();
	}
	if (X509_set_version(c, 2) != 1 || !random_serial(c) ||
	    X509_set_subject_name(c, subject) != 1 ||
	    X509_set_issuer_name(c, issuer != NULL ?
	    X509_get_subject_name(issuer->cert) : subject) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(c), -300) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(c), (int)(validity / 86400),
	    (long)(validity % 86400), NULL) == NULL ||
	    X509_set_pubkey(c, pub) != 1)
		goto out;
	X509V3_set_ctx(&ctx, issuer != NULL ? issuer->cert : c, c, NULL,
	    NULL, 0);
	if (pathlen >= 0)
		snprintf(bc, sizeof(bc), "critical,CA:TRUE,pathlen:%ld",
		    pathlen);
	else
		snprintf(bc, sizeof(bc), "critical,CA:TRUE");
	if (!add_ext(c, &ctx, NID_basic_constraints, bc) ||
	    !add_ext(c, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    !add_ext(c, &ctx, NID_subject_key_identifier, "hash") ||
	    !add_ext(c, &ctx, NID_authority_key_identifier, "keyid:always"))
		goto out;
	if (issuer != NULL) {
		pthread_mutex_lock(&issuer->lock);
		r = X509_sign(c, issuer->key, ca_md(issuer)) > 0 ? 0 :
		    CAP_ERR_TOKEN;
		pthread_mutex_unlock(&issuer->lock);
	} else
		r = X509_sign(c, self_key, self_type == HSM_KEY_EC_P384 ?
		    EVP_sha384() : EVP_sha256()) > 0 ? 0 : CAP_ERR_TOKEN;
	if (r != 0) {
		log_error("ca local: signing a CA certificate in the token "
		    "failed");
		goto out;
	}
	*out = c;	/* transferred */
	c = NULL;
 out:
	ERR_clear_error();
	X509_free(c);
	return r;
}

/* Remembers a certificate ca signed, for its CRL and OCSP answers. */
static int
record_issued(struct local_ca *ca, X509 *c)
{
	struct cadb_issued rec;
	int r;

	memset(&rec, 0, sizeof(rec));
	if ((r = serial_bytes(X509_get0_serialNumber(c), rec.serial,
	    &rec.serial_len)) != 0)
		return r;
	rec.status = CADB_GOOD;
	rec.issued = cap_now();
	rec.not_after = not_after(c);
	return cadb_issued_put(ca->env.s, ca->name, &rec);
}

/* ---- key ---- */

static int
load_key(struct local_ca *ca, EVP_PKEY **pub)
{
	struct key_info info;
	hsm_obj priv = 0, pubo = 0;
	uint8_t *der = NULL;
	const uint8_t *p;
	size_t len = 0;
	char *uri = NULL;
	int r;

	*pub = NULL;
	if ((r = keys_get(ca->env.h, ca->env.s, ca->key_id, &info, &priv,
	    &pubo)) != 0)
		goto out;
	ca->key_type = info.type;
	if (info.type != HSM_KEY_EC_P256 && info.type != HSM_KEY_EC_P384 &&
	    info.type != HSM_KEY_RSA_2048 && info.type != HSM_KEY_RSA_3072) {
		r = CAP_ERR_UNSUPPORTED;
		goto out;
	}
	if ((r = keys_public_der(ca->env.h, pubo, &der, &len)) != 0 ||
	    (r = keys_uri(ca->env.h, priv, &uri)) != 0)
		goto out;
	p = der;
	if ((*pub = d2i_PUBKEY(NULL, &p, (long)len)) == NULL) {
		r = CAP_ERR_CRYPTO;
		goto out;
	}
	if ((r = hsm_evp_pkey_load(uri, ca->module, ca->env.token_pin,
	    &ca->key)) != 0)
		goto out;
	r = 0;
 out:
	if (r != 0) {
		EVP_PKEY_free(*pub);
		*pub = NULL;
	}
	free(der);
	free(uri);
	return r;
}

static int
pubkey_equal(EVP_PKEY *a, X509 *c)
{
	return EVP_PKEY_eq(a, X509_get0_pubkey(c)) == 1;
}

/* ---- parent ---- */

static int
parent_get(struct local_ca *ca, ca_conn **conn, struct local_ca **parent)
{
	int r;

	*parent = NULL;
	if (ca->env.conns == NULL)
		return CAP_ERR_NOT_FOUND;
	if ((r = ca_conns_get(ca->env.conns, ca->parent, conn)) != 0)
		return r;
	if (ca_conn_ops(*conn) != &ca_local_ops) {
		ca_conn_release(*conn);
		*conn = NULL;
		return CAP_ERR_INVALID;
	}
	*parent = ca_conn_state(*conn);
	return 0;
}

static int
build_chain(struct local_ca *ca, struct local_ca *parent)
{
	int i;

	sk_X509_pop_free(ca->chain, X509_free);
	if ((ca->chain = sk_X509_new_null()) == NULL ||
	    X509_up_ref(ca->cert) != 1 || sk_X509_push(ca->chain, ca->cert) <= 0)
		return CAP_ERR_NOMEM;
	for (i = 0; parent != NULL && i < sk_X509_num(parent->chain); i++) {
		X509 *c = sk_X509_value(parent->chain, i);

		if (X509_up_ref(c) != 1 || sk_X509_push(ca->chain, c) <= 0)
			return CAP_ERR_NOMEM;
	}
	return 0;
}

/* ---- settings ---- */

static int
duration_setting(json_t *s, const char *k, uint64_t def, uint64_t *out,
    char *err, size_t errlen)
{
	json_t *v = json_object_get(s, k);

	*out = def;
	if (v == NULL)
		return 0;
	if (!json_is_string(v) || cap_parse_duration(json_string_value(v),
	    out) != 0 || *out == 0) {
		say(err, errlen, "%s must be a duration such as \"90d\"", k);
		return CAP_ERR_INVALID;
	}
	return 0;
}

static void
local_destroy(void *state)
{
	struct local_ca *ca = state;

	if (ca == NULL)
		return;
	EVP_PKEY_free(ca->key);
	X509_free(ca->cert);
	sk_X509_pop_free(ca->chain, X509_free);
	pthread_mutex_destroy(&ca->lock);
	free(ca);
}

static int
create_new(struct local_ca *ca, json_t *settings, char *err, size_t errlen)
{
	json_t *key, *imp, *j;
	const char *subj, *pem;
	struct key_info info;
	struct cadb_local rec;
	char label[STORE_KEY_LABEL_MAX + 1];
	struct local_ca *parent = NULL;
	ca_conn *pconn = NULL;
	X509_NAME *name = NULL;
	EVP_PKEY *pub = NULL;
	hsm_key_type type;
	uint64_t validity;
	unsigned char *der = NULL;
	BIO *b = NULL;
	long pathlen = -1;
	int n, r;

	memset(&rec, 0, sizeof(rec));
	if ((r = duration_setting(settings, "validity", LOCAL_DEF_CA_VALIDITY,
	    &validity, err, errlen)) != 0)
		goto out;
	if ((j = json_object_get(settings, "parent")) != NULL) {
		if (!json_is_string(j) || !cap_name_valid(json_string_value(j))) {
			say(err, errlen, "parent must be a CA name");
			r = CAP_ERR_INVALID;
			goto out;
		}
		snprintf(ca->parent, sizeof(ca->parent), "%s",
		    json_string_value(j));
		pathlen = 0;
	}
	if ((j = json_object_get(settings, "path_len")) != NULL) {
		if (!json_is_integer(j) || json_integer_value(j) < 0 ||
		    json_integer_value(j) > 8) {
			say(err, errlen, "path_len must be an integer 0-8");
			r = CAP_ERR_INVALID;
			goto out;
		}
		pathlen = (long)json_integer_value(j);
	}

	imp = json_object_get(settings, "import");
	key = json_object_get(settings, "key");
	j = imp != NULL ? json_object_get(imp, "key_id") :
	    json_object_get(settings, "key_id");
	if (j != NULL) {
		if (!json_is_string(j) || strlen(json_string_value(j)) >
		    CADB_KEY_ID_MAX) {
			say(err, errlen, "key_id must be a key id");
			r = CAP_ERR_INVALID;
			goto out;
		}
		snprintf(ca->key_id, sizeof(ca->key_id), "%s",
		    json_string_value(j));
	} else if (imp != NULL) {
		say(err, errlen, "import needs key_id");
		r = CAP_ERR_INVALID;
		goto out;
	} else {
		const char *t = "ec-p256";

		if (key != NULL && (!json_is_object(key) ||
		    ((j = json_object_get(key, "type")) != NULL &&
		    !json_is_string(j)))) {
			say(err, errlen, "key must be {\"type\": ...}");
			r = CAP_ERR_INVALID;
			goto out;
		}
		if (key != NULL && j != NULL)
			t = json_string_value(j);
		if (hsm_key_type_parse(t, &type) != 0 ||
		    (type != HSM_KEY_EC_P256 && type != HSM_KEY_EC_P384 &&
		    type != HSM_KEY_RSA_2048 && type != HSM_KEY_RSA_3072)) {
			say(err, errlen, "a CA key is ec-p256, ec-p384, "
			    "rsa-2048 or rsa-3072");
			r = CAP_ERR_INVALID;
			goto out;
		}
		/* The label is informative: a long name is cut short. */
		snprintf(label, sizeof(label), "ca:%.*s",
		    STORE_KEY_LABEL_MAX - 3, ca->name);
		if ((r = keys_generate(ca->env.h, ca->env.s, type, label,
		    STORE_KEY_OWNER_CA, &info)) != 0) {
			say(err, errlen, "CA key generation failed");
			goto out;
		}
		snprintf(ca->key_id, sizeof(ca->key_id), "%s", info.id);
	}
	if ((r = load_key(ca, &pub)) != 0) {
		say(err, errlen, "CA key not usable: %s", cap_strerror(r));
		if (r == CAP_ERR_NOT_FOUND || r == CAP_ERR_UNSUPPORTED)
			r = CAP_ERR_INVALID;
		goto out;
	}

	if (imp != NULL) {
		if (!json_is_object(imp) || (j = json_object_get(imp,
		    "certificate")) == NULL || !json_is_string(j) ||
		    json_string_length(j) > 3 * CADB_CERT_MAX) {
			say(err, errlen, "import needs a PEM certificate");
			r = CAP_ERR_INVALID;
			goto out;
		}
		pem = json_string_value(j);
		r = CAP_ERR_INVALID;
		if ((b = BIO_new_mem_buf(pem, (int)strlen(pem))) == NULL ||
		    (ca->cert = PEM_read_bio_X509(b, NULL, NULL, NULL)) ==
		    NULL) {
			say(err, errlen, "import certificate is not PEM");
			goto out;
		}
		if (!pubkey_equal(pub, ca->cert)) {
			say(err, errlen, "import certificate is not for the "
			    "key in the token");
			goto out;
		}
		if (X509_check_ca(ca->cert) == 0) {
			say(err, errlen, "import certificate is not a CA");
			goto out;
		}
	} else {
		if ((j = json_object_get(settings, "subject")) == NULL ||
		    !json_is_string(j) || json_string_length(j) >
		    LOCAL_SUBJECT_MAX || (subj = json_string_value(j))[0] ==
		    '\0') {
			say(err, errlen, "subject is required");
			r = CAP_ERR_INVALID;
			goto out;
		}
		if ((name = X509_NAME_new()) == NULL) {
			r = CAP_ERR_NOMEM;
			goto out;
		}
		if ((r = local_subject_parse(subj, name)) != 0) {
			say(err, errlen, "subject must look like "
			    "\"CN=name,O=org\"");
			goto out;
		}
		if (ca->parent[0] != '\0') {
			if ((r = parent_get(ca, &pconn, &parent)) != 0) {
				say(err, errlen, "parent is not a local CA");
				r = CAP_ERR_INVALID;
				goto out;
			}
			if (X509_get_pathlen(parent->cert) == 0) {
				say(err, errlen, "the parent's pathLen allows "
				    "no intermediate");
				r = CAP_ERR_INVALID;
				goto out;
			}
		}
		if ((r = sign_ca_cert(parent, ca->key, ca->key_type, name,
		    pub, validity, pathlen, &ca->cert)) != 0) {
			say(err, errlen, "signing the CA certificate failed");
			goto out;
		}
		if (parent != NULL && (r = record_issued(parent,
		    ca->cert)) != 0)
			goto out;
	}
	if ((r = build_chain(ca, parent)) != 0)
		goto out;
	if ((n = i2d_X509(ca->cert, &der)) <= 0) {
		r = CAP_ERR_CRYPTO;
		goto out;
	}
	snprintf(rec.key_id, sizeof(rec.key_id), "%s", ca->key_id);
	snprintf(rec.parent, sizeof(rec.parent), "%s", ca->parent);
	rec.cert = der;
	rec.certlen = (size_t)n;
	if (ca->env.s != NULL && (r = cadb_local_put(ca->env.s, ca->name,
	    &rec)) != 0)
		goto out;
	r = 0;
 out:
	ERR_clear_error();
	OPENSSL_free(der);
	BIO_free(b);
	X509_NAME_free(name);
	EVP_PKEY_free(pub);
	ca_conn_release(pconn);
	return r;
}

static int
load_existing(struct local_ca *ca, const struct cadb_local *rec, char *err,
    size_t errlen)
{
	struct local_ca *parent = NULL;
	ca_conn *pconn = NULL;
	EVP_PKEY *pub = NULL;
	const uint8_t *p = rec->cert;
	int r;

	snprintf(ca->key_id, sizeof(ca->key_id), "%s", rec->key_id);
	snprintf(ca->parent, sizeof(ca->parent), "%s", rec->parent);
	if ((ca->cert = d2i_X509(NULL, &p, (long)rec->certlen)) == NULL) {
		r = CAP_ERR_CORRUPT;
		goto out;
	}
	if ((r = load_key(ca, &pub)) != 0) {
		say(err, errlen, "CA key not usable: %s", cap_strerror(r));
		goto out;
	}
	if (!pubkey_equal(pub, ca->cert)) {
		say(err, errlen, "CA certificate is not for the key");
		r = CAP_ERR_CORRUPT;
		goto out;
	}
	if (ca->parent[0] != '\0' && (r = parent_get(ca, &pconn,
	    &parent)) != 0) {
		say(err, errlen, "parent CA not available");
		goto out;
	}
	r = build_chain(ca, parent);
 out:
	EVP_PKEY_free(pub);
	ca_conn_release(pconn);
	return r;
}

static int
local_create(const char *name, json_t *settings, const struct ca_env *env,
    void **state, char *err, size_t errlen)
{
	struct local_ca *ca = NULL;
	struct cadb_local *rec = NULL;
	json_t *j;
	int r;

	*state = NULL;
	if (env == NULL || env->h == NULL || env->s == NULL) {
		say(err, errlen, "the local CA needs the token and the store");
		return CAP_ERR_UNAVAILABLE;
	}
	if ((ca = calloc(1, sizeof(*ca))) == NULL)
		return CAP_ERR_NOMEM;
	pthread_mutex_init(&ca->lock, NULL);
	snprintf(ca->name, sizeof(ca->name), "%s", name);
	ca->env = *env;
	ca->ocsp = 1;
	if (env->token_module != NULL)
		snprintf(ca->module, sizeof(ca->module), "%s",
		    env->token_module);
	else {
		hsm_token_info ti;

		hsm_get_token_info(env->h, &ti);
		snprintf(ca->module, sizeof(ca->module), "%s",
		    ti.module_path);
	}
	if ((r = duration_setting(settings, "default_validity",
	    LOCAL_DEF_VALIDITY, &ca->validity, err, errlen)) != 0 ||
	    (r = duration_setting(settings, "crl_validity",
	    LOCAL_DEF_CRL_VALIDITY, &ca->crl_validity, err, errlen)) != 0)
		goto out;
	if ((j = json_object_get(settings, "ocsp")) != NULL) {
		if (!json_is_boolean(j)) {
			say(err, errlen, "ocsp must be true or false");
			r = CAP_ERR_INVALID;
			goto out;
		}
		ca->ocsp = json_is_true(j);
	}
	r = cadb_local_get(env->s, name, &rec);
	if (r == 0)
		r = load_existing(ca, rec, err, errlen);
	else if (r == CAP_ERR_NOT_FOUND)
		r = create_new(ca, settings, err, errlen);
	if (r != 0)
		goto out;
	*state = ca;	/* transferred */
	ca = NULL;
 out:
	cadb_local_free(rec);
	local_destroy(ca);
	return r;
}

/* ---- issuing ---- */

/* Checks the CSR's SANs against the profile; *ext the extension or NULL. */
static int
csr_sans(X509_REQ *csr, const struct profile *pr, X509_EXTENSION **ext,
    char *reason, size_t rlen)
{
	STACK_OF(X509_EXTENSION) *exts;
	GENERAL_NAMES *gens = NULL;
	X509_EXTENSION *e;
	int i, r = 0;

	*ext = NULL;
	if ((exts = X509_REQ_get_extensions(csr)) == NULL)
		return 0;
	/* Two subjectAltName extensions: which one a checker read is moot. */
	if ((i = X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1)) >= 0 &&
	    X509v3_get_ext_by_NID(exts, NID_subject_alt_name, i) >= 0) {
		say(reason, rlen, "more than one subjectAltName extension");
		r = CAP_ERR_DENIED;
		goto out;
	}
	for (i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
		e = sk_X509_EXTENSION_value(exts, i);
		if (OBJ_obj2nid(X509_EXTENSION_get_object(e)) !=
		    NID_subject_alt_name)
			continue;
		if (!pr->sans) {
			say(reason, rlen, "profile %s takes no SANs",
			    pr->name);
			r = CAP_ERR_DENIED;
			goto out;
		}
		if ((gens = X509V3_EXT_d2i(e)) == NULL) {
			say(reason, rlen, "malformed subjectAltName");
			r = CAP_ERR_DENIED;
			goto out;
		}
		for (int g = 0; g < sk_GENERAL_NAME_num(gens); g++) {
			int t = sk_GENERAL_NAME_value(gens, g)->type;

			if (t != GEN_DNS && t != GEN_IPADD && t != GEN_URI &&
			    t != GEN_EMAIL) {
				say(reason, rlen, "only DNS, IP, URI and email "
				    "SANs are issued");
				r = CAP_ERR_DENIED;
				goto out;
			}
		}
		if ((*ext = X509_EXTENSION_dup(e)) == NULL)
			r = CAP_ERR_NOMEM;
		goto out;
	}
 out:
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return r;
}

static int
issue(struct local_ca *ca, const struct ca_request *req, struct ca_result *res)
{
	const struct profile *pr;
	X509_EXTENSION *san = NULL;
	EVP_PKEY *pub;
	X509 *c = NULL;
	X509V3_CTX ctx;
	char ku[64], url[1024];
	uint64_t validity, cap, now = cap_now();
	int r;

	/*
	 * A registration authority that checked the proof of possession
	 * itself (a CMP server after a CRMF POPO) sends an unsigned request:
	 * only then is the self-signature not checked.
	 */
	if (req == NULL || req->csr == NULL ||
	    (pub = X509_REQ_get0_pubkey(req->csr)) == NULL ||
	    (!req->pop_verified && X509_REQ_verify(req->csr, pub) != 1)) {
		ERR_clear_error();
		res->status = CA_REJECTED;
		say(res->reason, sizeof(res->reason), "the CSR's signature "
		    "does not verify");
		return CAP_ERR_DENIED;
	}
	if ((pr = profile_find(req->profile)) == NULL) {
		res->status = CA_REJECTED;
		say(res->reason, sizeof(res->reason), "unknown profile; the "
		    "local CA offers tls, tls-server, tls-client, "
		    "code-signing");
		return CAP_ERR_DENIED;
	}
	if ((r = csr_sans(req->csr, pr, &san, res->reason,
	    sizeof(res->reason))) != 0) {
		if (r == CAP_ERR_DENIED)
			res->status = CA_REJECTED;
		return r;
	}
	validity = req->validity != 0 ? req->validity : ca->validity;
	cap = not_after(ca->cert);
	if (cap <= now + 60) {
		res->status = CA_REJECTED;
		say(res->reason, sizeof(res->reason), "the CA certificate "
		    "has expired");
		r = CAP_ERR_DENIED;
		goto out;
	}
	if (now + validity > cap)
		validity = cap - now;

	r = CAP_ERR_CRYPTO;
	if ((c = X509_new()) == NULL ||
	    X509_set_version(c, 2) != 1 || !random_serial(c) ||
	    X509_set_subject_name(c, X509_REQ_get_subject_name(req->csr)) != 1 ||
	    X509_set_issuer_name(c, X509_get_subject_name(ca->cert)) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(c), -300) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(c), (int)(validity / 86400),
	    (long)(validity % 86400), NULL) == NULL ||
	    X509_set_pubkey(c, pub) != 1)
		goto out;
	X509V3_set_ctx(&ctx, ca->cert, c, NULL, NULL, 0);
	snprintf(ku, sizeof(ku), "critical,digitalSignature%s",
	    EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA && pr->sans ?
	    ",keyEncipherment" : "");
	if (!add_ext(c, &ctx, NID_basic_constraints, "critical,CA:FALSE") ||
	    !add_ext(c, &ctx, NID_key_usage, ku) ||
	    !add_ext(c, &ctx, NID_ext_key_usage, pr->eku) ||
	    !add_ext(c, &ctx, NID_subject_key_identifier, "hash") ||
	    !add_ext(c, &ctx, NID_authority_key_identifier, "keyid:always") ||
	    (san != NULL && X509_add_ext(c, san, -1) != 1))
		goto out;
	if (ca->env.public_url != NULL && ca->env.public_url[0] != '\0') {
		snprintf(url, sizeof(url), "URI:%s/v1/cas/%s/crl",
		    ca->env.public_url, ca->name);
		if (!add_ext(c, &ctx, NID_crl_distribution_points, url))
			goto out;
		if (ca->ocsp) {
			snprintf(url, sizeof(url), "OCSP;URI:%s/v1/cas/%s/ocsp",
			    ca->env.public_url, ca->name);
			if (!add_ext(c, &ctx, NID_info_access, url))
				goto out;
		}
	}
	pthread_mutex_lock(&ca->lock);
	r = X509_sign(c, ca->key, ca_md(ca)) > 0 ? 0 : CAP_ERR_TOKEN;
	pthread_mutex_unlock(&ca->lock);
	if (r != 0) {
		log_error("ca local %s: signing in the token failed", ca->name);
		goto out;
	}
	if ((r = record_issued(ca, c)) != 0)
		goto out;
	if ((r = local_chain_copy(ca, &res->chain)) != 0)
		goto out;
	res->cert = c;	/* transferred */
	c = NULL;
	res->status = CA_ISSUED;
	r = 0;
 out:
	ERR_clear_error();
	X509_EXTENSION_free(san);
	X509_free(c);
	return r;
}

static int
local_enroll(void *state, const struct ca_request *req, struct ca_result *res)
{
	return issue(state, req, res);
}

static int
local_revoke(void *state, X509 *cert, int reason, char *err, size_t errlen)
{
	struct local_ca *ca = state;
	uint8_t serial[CADB_SERIAL_MAX];
	size_t len;
	int r;

	if (cert == NULL || ca_reason_name(reason) == NULL) {
		say(err, errlen, "invalid revocation reason");
		return CAP_ERR_INVALID;
	}
	if (X509_NAME_cmp(X509_get_issuer_name(cert),
	    X509_get_subject_name(ca->cert)) != 0 ||
	    X509_verify(cert, X509_get0_pubkey(ca->cert)) != 1) {
		ERR_clear_error();
		say(err, errlen, "certificate not issued by this CA");
		return CAP_ERR_NOT_FOUND;
	}
	if ((r = serial_bytes(X509_get0_serialNumber(cert), serial,
	    &len)) != 0)
		return r;
	r = cadb_issued_revoke(ca->env.s, ca->name, serial, len, reason,
	    cap_now());
	if (r == CAP_ERR_CONFLICT)
		say(err, errlen, "already revoked");
	else if (r == CAP_ERR_NOT_FOUND)
		say(err, errlen, "certificate not issued by this CA");
	return r;
}

int
local_chain_copy(void *state, STACK_OF(X509) **out)
{
	struct local_ca *ca = state;
	STACK_OF(X509) *sk;
	int i;

	*out = NULL;
	if ((sk = sk_X509_new_null()) == NULL)
		return CAP_ERR_NOMEM;
	for (i = 0; i < sk_X509_num(ca->chain); i++) {
		X509 *c = sk_X509_value(ca->chain, i);

		if (X509_up_ref(c) != 1 || sk_X509_push(sk, c) <= 0) {
			sk_X509_pop_free(sk, X509_free);
			return CAP_ERR_NOMEM;
		}
	}
	*out = sk;
	return 0;
}

static int
local_chain(void *state, STACK_OF(X509) **out)
{
	return local_chain_copy(state, out);
}

/* ---- CRL ---- */

static int
local_crl(void *state, uint8_t **der, size_t *len)
{
	struct local_ca *ca = state;
	struct cadb_issued *rev = NULL;
	X509_CRL *crl = NULL;
	X509_REVOKED *xr = NULL;
	ASN1_TIME *t = NULL;
	ASN1_INTEGER *num = NULL, *ser = NULL;
	ASN1_ENUMERATED *why = NULL;
	AUTHORITY_KEYID *akid = NULL;
	unsigned char *buf = NULL;
	uint64_t number;
	size_t n = 0, i;
	BIGNUM *bn = NULL;
	int dl, r;

	*der = NULL;
	*len = 0;
	if ((r = cadb_issued_revoked(ca->env.s, ca->name, &rev, &n)) != 0 ||
	    (r = cadb_crl_next(ca->env.s, ca->name, &number)) != 0)
		goto out;
	r = CAP_ERR_CRYPTO;
	if ((crl = X509_CRL_new()) == NULL || (t = ASN1_TIME_new()) == NULL ||
	    X509_CRL_set_version(crl, 1) != 1 ||
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->cert)) != 1 ||
	    X509_gmtime_adj(t, 0) == NULL ||
	    X509_CRL_set1_lastUpdate(crl, t) != 1 ||
	    X509_time_adj_ex(t, (int)(ca->crl_validity / 86400),
	    (long)(ca->crl_validity % 86400), NULL) == NULL ||
	    X509_CRL_set1_nextUpdate(crl, t) != 1)
		goto out;
	for (i = 0; i < n; i++) {
		if ((xr = X509_REVOKED_new()) == NULL ||
		    (bn = BN_bin2bn(rev[i].serial, (int)rev[i].serial_len,
		    NULL)) == NULL ||
		    (ser = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
		    X509_REVOKED_set_serialNumber(xr, ser) != 1 ||
		    X509_time_adj_ex(t, 0, 0, (time_t *)&(time_t){
		    (time_t)rev[i].revoked_at }) == NULL ||
		    X509_REVOKED_set_revocationDate(xr, t) != 1 ||
		    (why = ASN1_ENUMERATED_new()) == NULL ||
		    ASN1_ENUMERATED_set(why, rev[i].reason) != 1 ||
		    X509_REVOKED_add1_ext_i2d(xr, NID_crl_reason, why, 0, 0) != 1 ||
		    X509_CRL_add0_revoked(crl, xr) != 1)
			goto out;
		xr = NULL;
		BN_free(bn);
		bn = NULL;
		ASN1_INTEGER_free(ser);
		ser = NULL;
		ASN1_ENUMERATED_free(why);
		why = NULL;
	}
	if ((num = ASN1_INTEGER_new()) == NULL ||
	    ASN1_INTEGER_set_uint64(num, number) != 1 ||
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) != 1)
		goto out;
	if ((akid = AUTHORITY_KEYID_new()) == NULL ||
	    X509_get0_subject_key_id(ca->cert) == NULL ||
	    (akid->keyid = ASN1_OCTET_STRING_dup(
	    X509_get0_subject_key_id(ca->cert))) == NULL ||
	    X509_CRL_add1_ext_i2d(crl, NID_authority_key_identifier, akid, 0,
	    0) != 1)
		goto out;
	X509_CRL_sort(crl);
	pthread_mutex_lock(&ca->lock);
	r = X509_CRL_sign(crl, ca->key, ca_md(ca)) > 0 ? 0 : CAP_ERR_TOKEN;
	pthread_mutex_unlock(&ca->lock);
	if (r != 0)
		goto out;
	r = CAP_ERR_CRYPTO;
	if ((dl = i2d_X509_CRL(crl, &buf)) <= 0)
		goto out;
	if ((*der = malloc((size_t)dl)) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	memcpy(*der, buf, (size_t)dl);
	*len = (size_t)dl;
	r = 0;
 out:
	ERR_clear_error();
	OPENSSL_free(buf);
	AUTHORITY_KEYID_free(akid);
	ASN1_INTEGER_free(num);
	ASN1_INTEGER_free(ser);
	ASN1_ENUMERATED_free(why);
	BN_free(bn);
	X509_REVOKED_free(xr);
	ASN1_TIME_free(t);
	X509_CRL_free(crl);
	free(rev);
	return r;
}

/* ---- OCSP ---- */

static int
ocsp_status(struct local_ca *ca, OCSP_BASICRESP *bs, OCSP_CERTID *cid)
{
	ASN1_OBJECT *md_obj = NULL;
	ASN1_INTEGER *serial = NULL;
	OCSP_CERTID *ours = NULL;
	struct cadb_issued rec;
	ASN1_TIME *thisupd = NULL, *nextupd = NULL, *revt = NULL;
	uint8_t sb[CADB_SERIAL_MAX];
	const EVP_MD *md;
	size_t sl;
	int status = V_OCSP_CERTSTATUS_UNKNOWN, reason = -1, r;

	if (OCSP_id_get0_info(NULL, &md_obj, NULL, &serial, cid) != 1 ||
	    (md = EVP_get_digestbyobj(md_obj)) == NULL)
		return CAP_ERR_INVALID;
	ours = OCSP_cert_id_new(md, X509_get_subject_name(ca->cert),
	    X509_get0_pubkey_bitstr(ca->cert), serial);
	thisupd = X509_gmtime_adj(NULL, 0);
	nextupd = X509_gmtime_adj(NULL, (long)ca->crl_validity);
	if (ours == NULL || thisupd == NULL || nextupd == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	if (OCSP_id_issuer_cmp(ours, cid) == 0 &&
	    serial_bytes(serial, sb, &sl) == 0 &&
	    cadb_issued_get(ca->env.s, ca->name, sb, sl, &rec) == 0) {
		if (rec.status == CADB_REVOKED) {
			status = V_OCSP_CERTSTATUS_REVOKED;
			reason = rec.reason;
			revt = X509_time_adj_ex(NULL, 0, 0,
			    &(time_t){ (time_t)rec.revoked_at });
		} else
			status = V_OCSP_CERTSTATUS_GOOD;
	}
	r = OCSP_basic_add1_status(bs, cid, status, reason, revt, thisupd,
	    nextupd) != NULL ? 0 : CAP_ERR_CRYPTO;
 out:
	OCSP_CERTID_free(ours);
	ASN1_TIME_free(thisupd);
	ASN1_TIME_free(nextupd);
	ASN1_TIME_free(revt);
	return r;
}

static int
local_ocsp(void *state, const uint8_t *req, size_t reqlen, uint8_t **resp,
    size_t *resplen)
{
	struct local_ca *ca = state;
	OCSP_REQUEST *oreq = NULL;
	OCSP_BASICRESP *bs = NULL;
	OCSP_RESPONSE *ors = NULL;
	unsigned char *buf = NULL;
	const uint8_t *p = req;
	int i, n, dl, r, st = OCSP_RESPONSE_STATUS_SUCCESSFUL;

	*resp = NULL;
	*resplen = 0;
	if (!ca->ocsp)
		return CAP_ERR_UNSUPPORTED;
	if (req == NULL || reqlen == 0 || reqlen > LOCAL_OCSP_REQ_MAX)
		return CAP_ERR_INVALID;
	if ((oreq = d2i_OCSP_REQUEST(NULL, &p, (long)reqlen)) == NULL ||
	    p != req + reqlen || (n = OCSP_request_onereq_count(oreq)) <= 0 ||
	    n > 32) {
		st = OCSP_RESPONSE_STATUS_MALFORMEDREQUEST;
		goto respond;
	}
	if ((bs = OCSP_BASICRESP_new()) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((r = ocsp_status(ca, bs,
		    OCSP_onereq_get0_id(OCSP_request_onereq_get0(oreq, i)))) !=
		    0) {
			st = OCSP_RESPONSE_STATUS_MALFORMEDREQUEST;
			goto respond;
		}
	}
	OCSP_copy_nonce(bs, oreq);
	pthread_mutex_lock(&ca->lock);
	r = OCSP_basic_sign(bs, ca->cert, ca->key, ca_md(ca), NULL, 0);
	pthread_mutex_unlock(&ca->lock);
	if (r != 1) {
		log_error("ca local %s: OCSP signing in the token failed",
		    ca->name);
		st = OCSP_RESPONSE_STATUS_INTERNALERROR;
	}
 respond:
	if ((ors = OCSP_response_create(st,
	    st == OCSP_RESPONSE_STATUS_SUCCESSFUL ? bs : NULL)) == NULL ||
	    (dl = i2d_OCSP_RESPONSE(ors, &buf)) <= 0) {
		r = CAP_ERR_CRYPTO;
		goto out;
	}
	if ((*resp = malloc((size_t)dl)) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	memcpy(*resp, buf, (size_t)dl);
	*resplen = (size_t)dl;
	r = 0;
 out:
	ERR_clear_error();
	OPENSSL_free(buf);
	OCSP_RESPONSE_free(ors);
	OCSP_BASICRESP_free(bs);
	OCSP_REQUEST_free(oreq);
	return r;
}

/* ---- describe ---- */

static int
local_describe(void *state, json_t *out)
{
	struct local_ca *ca = state;
	json_t *pr;
	char subj[512], t[32];
	BIO *b;
	int n, i;

	subj[0] = '\0';
	if ((b = BIO_new(BIO_s_mem())) != NULL) {
		X509_NAME_print_ex(b, X509_get_subject_name(ca->cert), 0,
		    XN_FLAG_RFC2253);
		n = BIO_read(b, subj, sizeof(subj) - 1);
		subj[n > 0 ? n : 0] = '\0';
		BIO_free(b);
	}
	cap_format_time(not_after(ca->cert), t);
	if ((pr = json_array()) == NULL)
		return CAP_ERR_NOMEM;
	for (i = 0; profiles[i].name != NULL; i++)
		json_array_append_new(pr, json_string(profiles[i].name));
	if (json_object_set_new(out, "subject", json_string(subj)) != 0 ||
	    json_object_set_new(out, "not_after", json_string(t)) != 0 ||
	    json_object_set_new(out, "key_id", json_string(ca->key_id)) != 0 ||
	    json_object_set_new(out, "parent", ca->parent[0] ?
	    json_string(ca->parent) : json_null()) != 0 ||
	    json_object_set_new(out, "ocsp", json_boolean(ca->ocsp)) != 0 ||
	    json_object_set_new(out, "profiles", pr) != 0)
		return CAP_ERR_NOMEM;
	return 0;
}

/*
 * local_subject_parse reads "CN=x,O=y" (comma-separated attribute=value,
 * a backslash escapes the next character) into name.
 */
int
local_subject_parse(const char *s, X509_NAME *name)
{
	char buf[LOCAL_SUBJECT_MAX + 1], *attr, *val, *w;
	const char *p = s;
	int r = CAP_ERR_INVALID;

	if (strlen(s) > LOCAL_SUBJECT_MAX)
		return CAP_ERR_TOO_LARGE;
	while (*p != '\0') {
		w = buf;
		while (*p == ' ')
			p++;
		while (*p != '\0' && *p != ',') {
			if (*p == '\\' && p[1] != '\0')
				p++;
			*w++ = *p++;
		}
		*w = '\0';
		if (*p == ',')
			p++;
		attr = buf;
		if ((val = strchr(buf, '=')) == NULL || val == buf ||
		    val[1] == '\0')
			goto out;
		*val++ = '\0';
		if (X509_NAME_add_entry_by_txt(name, attr, MBSTRING_UTF8,
		    (const unsigned char *)val, -1, -1, 0) != 1)
			goto out;
	}
	r = X509_NAME_entry_count(name) > 0 ? 0 : CAP_ERR_INVALID;
 out:
	ERR_clear_error();
	return r;
}

const struct ca_ops ca_local_ops = {
	.protocol = "local",
	.create = local_create,
	.destroy = local_destroy,
	.enroll = local_enroll,
	.renew = NULL,
	.poll = NULL,
	.revoke = local_revoke,
	.chain = local_chain,
	.crl = local_crl,
	.ocsp = local_ocsp,
	.describe = local_describe,
};
