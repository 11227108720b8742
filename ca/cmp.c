/*
 * cmp.c - the CMP (RFC 4210 / RFC 9480) connector, on OpenSSL 3.0's
 * OSSL_CMP_* client.
 *
 * Every operation builds its own OSSL_CMP_CTX from the connector's
 * settings, so operations on one connector may run on several threads at
 * once; only the CA certificates seen in the last answer are shared, under
 * a mutex.  Private keys stay in the token: the new key (proof of
 * possession), the protection key and the old key of a renewal are
 * EVP_PKEYs from hsm_evp_pkey_load whose signatures are made by the token.
 *
 * The PBM secret of MAC protection is held in sodium_malloc memory for the
 * life of the connector and wiped by destroy; it never appears in describe
 * output, logs or error text.  Where it is persisted is the business of the
 * connector store, which hands it back in the settings at start-up.
 *
 * Polling (pollReq/pollRep) happens inside OSSL_CMP under the configured
 * total timeout, so this connector never answers CA_PENDING.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/cmp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/http.h>
#include <openssl/objects.h>
#include <openssl/opensslv.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "ca/ca.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"

#define CMP_SETTING_MAX		4096	/* longest string setting */
#define CMP_PEM_MAX		(256 * 1024)
#define CMP_SECRET_MAX		1024
#define CMP_CHAIN_MAX		10	/* certificates in one built chain */
#define CMP_TIMEOUT_DEFAULT	30
#define CMP_OID_CA_CERTS	"1.3.6.1.5.5.7.4.17"	/* id-it-caCerts */

enum cmp_auth { CMP_AUTH_MAC = 1, CMP_AUTH_SIG = 2 };

struct cmp_conn {
	char		*name;
	char		*host;
	int		 port;
	char		*path;		/* may hold "{profile}" */
	char		*profile;	/* default for "{profile}" */
	X509_NAME	*recipient;
	X509_NAME	*expected_sender;
	STACK_OF(X509)	*trusted;
	enum cmp_auth	 mode;
	char		*reference;
	uint8_t		*secret;	/* sodium_malloc */
	size_t		 secretlen;
	int		 owf_nid;
	int		 mac_nid;
	char		*sig_key_uri;
	X509		*sig_cert;
	int		 implicit_confirm;
	int		 unprotected_errors;
	int		 ignore_keyusage;
	int		 permit_ta_in_extracerts;
	int		 kur_fallback_cr;
	int		 enroll_type;	/* OSSL_CMP_IR, CR or P10CR */
	int		 timeout;	/* seconds, whole transaction */
	char		 dialect[16];
	struct ca_env	 env;
	pthread_mutex_t	 lock;		/* guards last_cas */
	STACK_OF(X509)	*last_cas;	/* caPubs + extraCerts of the last answer */
};

/* Per-operation state the certConf callback sees. */
struct cmp_op {
	EVP_PKEY	*want;		/* public key the certificate must carry */
	int		 key_mismatch;
};

/* ---- small helpers ---- */

static void
log_ossl_errors(const char *conn, const char *what)
{
	char buf[256];
	unsigned long e;

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		log_info("cmp %s: %s: %s", conn, what, buf);
	}
}

static int
cmp_log_cb(const char *func, const char *file, int line,
    OSSL_CMP_severity level, const char *msg)
{
	(void)func;
	(void)file;
	(void)line;
	if (level <= OSSL_CMP_LOG_WARNING)
		log_warn("cmp: %s", msg);
	else
		log_debug("cmp: %s", msg);
	return 1;
}

/* get_str reads an optional bounded string member; *out NULL if absent. */
static int
get_str(json_t *o, const char *key, const char **out, char *err, size_t errlen)
{
	json_t *v;

	*out = NULL;
	if ((v = json_object_get(o, key)) == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > CMP_SETTING_MAX ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		snprintf(err, errlen, "\"%s\" must be a non-empty string of at "
		    "most %d bytes", key, CMP_SETTING_MAX);
		return CAP_ERR_INVALID;
	}
	*out = json_string_value(v);
	return 0;
}

/* get_bool reads an optional boolean; *out is left alone if absent. */
static int
get_bool(json_t *o, const char *key, int *out, char *err, size_t errlen)
{
	json_t *v;

	if ((v = json_object_get(o, key)) == NULL || json_is_null(v))
		return 0;
	if (!json_is_boolean(v)) {
		snprintf(err, errlen, "\"%s\" must be true or false", key);
		return CAP_ERR_INVALID;
	}
	*out = json_is_true(v);
	return 0;
}

/*
 * parse_dn reads "CN=a,O=b" (a backslash escapes the next character) or
 * OpenSSL's "/CN=a/O=b"; the RDNs are kept in the order written, as with
 * `openssl req -subj`.
 */
static int
parse_dn(const char *s, X509_NAME **out)
{
	X509_NAME *n = NULL;
	char buf[CMP_SETTING_MAX + 1], *eq;
	char sep = ',';
	size_t j;
	int r = CAP_ERR_INVALID;

	*out = NULL;
	if (*s == '/') {
		sep = '/';
		s++;
	}
	if ((n = X509_NAME_new()) == NULL)
		return CAP_ERR_NOMEM;
	while (*s != '\0') {
		for (j = 0; *s != '\0' && *s != sep; s++) {
			if (*s == '\\' && s[1] != '\0')
				s++;
			if (j >= sizeof(buf) - 1)
				goto out;
			buf[j++] = *s;
		}
		buf[j] = '\0';
		if (*s == sep)
			s++;
		while (*s == ' ')
			s++;
		if ((eq = strchr(buf, '=')) == NULL || eq == buf ||
		    eq[1] == '\0')
			goto out;
		*eq = '\0';
		if (!X509_NAME_add_entry_by_txt(n, buf, MBSTRING_UTF8,
		    (const unsigned char *)eq + 1, -1, -1, 0)) {
			ERR_clear_error();
			goto out;
		}
	}
	if (X509_NAME_entry_count(n) == 0)
		goto out;
	*out = n;	/* transferred */
	n = NULL;
	r = 0;
 out:
	X509_NAME_free(n);
	return r;
}

static int
parse_pem_certs(const char *pem, STACK_OF(X509) **out)
{
	BIO *b = NULL;
	X509 *x = NULL;
	STACK_OF(X509) *sk = NULL;
	int r = CAP_ERR_INVALID;

	*out = NULL;
	if ((b = BIO_new_mem_buf(pem, -1)) == NULL ||
	    (sk = sk_X509_new_null()) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_num(sk) >= 64 || !sk_X509_push(sk, x)) {
			X509_free(x);
			goto out;
		}
	}
	ERR_clear_error();
	if (sk_X509_num(sk) == 0)
		goto out;
	*out = sk;	/* transferred */
	sk = NULL;
	r = 0;
 out:
	sk_X509_pop_free(sk, X509_free);
	BIO_free(b);
	return r;
}

static int
key_uri_from_id(const struct ca_env *env, const char *hex, char **uri)
{
	uint8_t id[64];
	size_t idlen = 0;
	hsm_key_type type;
	hsm_obj priv = 0, pub = 0;

	*uri = NULL;
	if (env->h == NULL || sodium_hex2bin(id, sizeof(id), hex, strlen(hex),
	    NULL, &idlen, NULL) != 0 || idlen == 0)
		return CAP_ERR_INVALID;
	if (hsm_key_find(env->h, id, idlen, &type, &priv, &pub) != 0)
		return CAP_ERR_NOT_FOUND;
	return hsm_key_uri(env->h, priv, uri);
}

/* ---- settings ---- */

static void
cmp_destroy(void *state)
{
	struct cmp_conn *c = state;

	if (c == NULL)
		return;
	free(c->name);
	free(c->host);
	free(c->path);
	free(c->profile);
	X509_NAME_free(c->recipient);
	X509_NAME_free(c->expected_sender);
	sk_X509_pop_free(c->trusted, X509_free);
	free(c->reference);
	if (c->secret != NULL)
		sodium_free(c->secret);	/* wipes */
	free(c->sig_key_uri);
	X509_free(c->sig_cert);
	sk_X509_pop_free(c->last_cas, X509_free);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/*
 * Dialects set defaults for the quirks of known CAs; explicit settings win.
 *   ejbca:  unprotected_errors (negative answers come unprotected),
 *           permit the trust anchor in extraCerts of an ip
 *   insta:  unprotected_errors, ignore_keyusage (its CMP signer lacks
 *           digitalSignature)
 *   xipki:  implicit_confirm, permit the trust anchor in extraCerts
 */
static int
apply_dialect(struct cmp_conn *c, const char *d)
{
	if (d == NULL || strcmp(d, "generic") == 0)
		d = "generic";
	else if (strcmp(d, "ejbca") == 0) {
		c->unprotected_errors = 1;
		c->permit_ta_in_extracerts = 1;
	} else if (strcmp(d, "insta") == 0) {
		c->unprotected_errors = 1;
		c->ignore_keyusage = 1;
	} else if (strcmp(d, "xipki") == 0) {
		c->implicit_confirm = 1;
		c->permit_ta_in_extracerts = 1;
	} else
		return CAP_ERR_INVALID;
	snprintf(c->dialect, sizeof(c->dialect), "%s", d);
	return 0;
}

static int
parse_url(struct cmp_conn *c, const char *url, char *err, size_t errlen)
{
	char *host = NULL, *port = NULL, *path = NULL;
	int ssl = 0, portnum = 0, r = CAP_ERR_INVALID;

	if (!OSSL_HTTP_parse_url(url, &ssl, NULL, &host, &port, &portnum,
	    &path, NULL, NULL)) {
		ERR_clear_error();
		snprintf(err, errlen, "\"url\" is not an http URL");
		goto out;
	}
	if (ssl) {
		/* CMP messages carry their own protection. */
		snprintf(err, errlen, "\"url\": only http:// is supported");
		goto out;
	}
	if ((c->host = strdup(host)) == NULL ||
	    (c->path = strdup(path)) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	c->port = portnum;
	r = 0;
 out:
	OPENSSL_free(host);
	OPENSSL_free(port);
	OPENSSL_free(path);
	return r;
}

static int
parse_auth(struct cmp_conn *c, json_t *a, char *err, size_t errlen)
{
	const char *mode, *ref, *secret, *owf, *mac, *kid, *kuri, *pem;
	STACK_OF(X509) *sk = NULL;
	int r;

	if (!json_is_object(a)) {
		snprintf(err, errlen, "\"auth\" must be an object");
		return CAP_ERR_INVALID;
	}
	if ((r = get_str(a, "mode", &mode, err, errlen)) != 0)
		return r;
	if (mode == NULL || strcmp(mode, "mac") == 0) {
		c->mode = CMP_AUTH_MAC;
		if ((r = get_str(a, "reference", &ref, err, errlen)) != 0 ||
		    (r = get_str(a, "secret", &secret, err, errlen)) != 0 ||
		    (r = get_str(a, "owf", &owf, err, errlen)) != 0 ||
		    (r = get_str(a, "mac", &mac, err, errlen)) != 0)
			return r;
		if (ref == NULL || secret == NULL) {
			snprintf(err, errlen, "MAC protection needs \"auth\": "
			    "{\"reference\", \"secret\"}");
			return CAP_ERR_INVALID;
		}
		if (strlen(secret) > CMP_SECRET_MAX) {
			snprintf(err, errlen, "\"secret\" is too long");
			return CAP_ERR_INVALID;
		}
		if ((c->reference = strdup(ref)) == NULL)
			return CAP_ERR_NOMEM;
		c->secretlen = strlen(secret);
		if ((c->secret = sodium_malloc(c->secretlen + 1)) == NULL)
			return CAP_ERR_NOMEM;
		memcpy(c->secret, secret, c->secretlen);
		c->owf_nid = NID_sha256;
		if (owf != NULL && (c->owf_nid = OBJ_txt2nid(owf)) == NID_undef) {
			snprintf(err, errlen, "\"owf\": unknown digest");
			return CAP_ERR_INVALID;
		}
		c->mac_nid = NID_hmac_sha1;
		if (mac == NULL || strcmp(mac, "hmac-sha1") == 0)
			c->mac_nid = NID_hmac_sha1;
		else if (strcmp(mac, "hmac-sha256") == 0)
			c->mac_nid = NID_hmacWithSHA256;
		else if (strcmp(mac, "hmac-sha384") == 0)
			c->mac_nid = NID_hmacWithSHA384;
		else if (strcmp(mac, "hmac-sha512") == 0)
			c->mac_nid = NID_hmacWithSHA512;
		else {
			snprintf(err, errlen, "\"mac\": hmac-sha1, hmac-sha256, "
			    "hmac-sha384 or hmac-sha512");
			return CAP_ERR_INVALID;
		}
		return 0;
	}
	if (strcmp(mode, "signature") != 0) {
		snprintf(err, errlen, "\"auth\".\"mode\": mac or signature");
		return CAP_ERR_INVALID;
	}
	c->mode = CMP_AUTH_SIG;
	if ((r = get_str(a, "key_id", &kid, err, errlen)) != 0 ||
	    (r = get_str(a, "key_uri", &kuri, err, errlen)) != 0 ||
	    (r = get_str(a, "certificate", &pem, err, errlen)) != 0)
		return r;
	if ((kid == NULL && kuri == NULL) || pem == NULL) {
		snprintf(err, errlen, "signature protection needs \"auth\": "
		    "{\"key_id\", \"certificate\"}");
		return CAP_ERR_INVALID;
	}
	if (kuri != NULL) {
		if (strncmp(kuri, "pkcs11:", 7) != 0) {
			snprintf(err, errlen, "\"key_uri\" must be a pkcs11: "
			    "URI");
			return CAP_ERR_INVALID;
		}
		if ((c->sig_key_uri = strdup(kuri)) == NULL)
			return CAP_ERR_NOMEM;
	} else if ((r = key_uri_from_id(&c->env, kid, &c->sig_key_uri)) != 0) {
		snprintf(err, errlen, "\"key_id\": no such key in the token");
		return CAP_ERR_INVALID;
	}
	if (parse_pem_certs(pem, &sk) != 0) {
		snprintf(err, errlen, "\"certificate\" is not a PEM "
		    "certificate");
		return CAP_ERR_INVALID;
	}
	c->sig_cert = sk_X509_shift(sk);	/* transferred */
	sk_X509_pop_free(sk, X509_free);
	return 0;
}

static int
cmp_create(const char *name, json_t *settings, const struct ca_env *env,
    void **state, char *err, size_t errlen)
{
	struct cmp_conn *c = NULL;
	const char *url, *rcpt, *sender, *trusted, *dialect, *cmd, *timeout,
	    *profile;
	json_t *auth;
	uint64_t secs;
	int r = CAP_ERR_INVALID;

	*state = NULL;
	if (sodium_init() < 0)
		return CAP_ERR_INTERNAL;
	if (!json_is_object(settings)) {
		snprintf(err, errlen, "settings must be an object");
		return CAP_ERR_INVALID;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return CAP_ERR_NOMEM;
	if (pthread_mutex_init(&c->lock, NULL) != 0) {
		free(c);
		return CAP_ERR_INTERNAL;
	}
	c->env = *env;
	c->timeout = CMP_TIMEOUT_DEFAULT;
	c->enroll_type = OSSL_CMP_IR;
	if ((c->name = strdup(name)) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	if ((r = get_str(settings, "url", &url, err, errlen)) != 0 ||
	    (r = get_str(settings, "recipient", &rcpt, err, errlen)) != 0 ||
	    (r = get_str(settings, "expected_sender", &sender, err,
	    errlen)) != 0 ||
	    (r = get_str(settings, "dialect", &dialect, err, errlen)) != 0 ||
	    (r = get_str(settings, "enroll_command", &cmd, err, errlen)) != 0 ||
	    (r = get_str(settings, "timeout", &timeout, err, errlen)) != 0 ||
	    (r = get_str(settings, "profile", &profile, err, errlen)) != 0)
		goto out;
	if ((r = get_str(settings, "trusted", &trusted, err, errlen)) != 0) {
		/* a CA bundle may exceed the short-string limit */
		json_t *t = json_object_get(settings, "trusted");

		if (!json_is_string(t) ||
		    json_string_length(t) > CMP_PEM_MAX)
			goto out;
		trusted = json_string_value(t);
		r = 0;
	}
	r = CAP_ERR_INVALID;
	if (url == NULL) {
		snprintf(err, errlen, "\"url\" is required");
		goto out;
	}
	if ((r = parse_url(c, url, err, errlen)) != 0)
		goto out;
	r = CAP_ERR_INVALID;
	if (apply_dialect(c, dialect) != 0) {
		snprintf(err, errlen, "\"dialect\": generic, ejbca, insta or "
		    "xipki");
		goto out;
	}
	if ((r = get_bool(settings, "implicit_confirm", &c->implicit_confirm,
	    err, errlen)) != 0 ||
	    (r = get_bool(settings, "unprotected_errors",
	    &c->unprotected_errors, err, errlen)) != 0 ||
	    (r = get_bool(settings, "ignore_keyusage", &c->ignore_keyusage,
	    err, errlen)) != 0 ||
	    (r = get_bool(settings, "kur_fallback_cr", &c->kur_fallback_cr,
	    err, errlen)) != 0)
		goto out;
	r = CAP_ERR_INVALID;
	if (rcpt != NULL && parse_dn(rcpt, &c->recipient) != 0) {
		snprintf(err, errlen, "\"recipient\" is not a DN");
		goto out;
	}
	if (sender != NULL && parse_dn(sender, &c->expected_sender) != 0) {
		snprintf(err, errlen, "\"expected_sender\" is not a DN");
		goto out;
	}
	if (trusted != NULL && parse_pem_certs(trusted, &c->trusted) != 0) {
		snprintf(err, errlen, "\"trusted\" holds no PEM certificate");
		goto out;
	}
	if (cmd == NULL || strcmp(cmd, "ir") == 0)
		c->enroll_type = OSSL_CMP_IR;
	else if (strcmp(cmd, "cr") == 0)
		c->enroll_type = OSSL_CMP_CR;
	else if (strcmp(cmd, "p10cr") == 0)
		c->enroll_type = OSSL_CMP_P10CR;
	else {
		snprintf(err, errlen, "\"enroll_command\": ir, cr or p10cr");
		goto out;
	}
	if (timeout != NULL) {
		if (cap_parse_duration(timeout, &secs) != 0 || secs == 0 ||
		    secs > 3600) {
			snprintf(err, errlen, "\"timeout\": a duration from 1s "
			    "to 1h");
			goto out;
		}
		c->timeout = (int)secs;
	}
	if (profile != NULL && (c->profile = strdup(profile)) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	if ((auth = json_object_get(settings, "auth")) == NULL) {
		snprintf(err, errlen, "\"auth\" is required");
		goto out;
	}
	if ((r = parse_auth(c, auth, err, errlen)) != 0)
		goto out;
	if (c->mode == CMP_AUTH_SIG && c->trusted == NULL) {
		r = CAP_ERR_INVALID;
		snprintf(err, errlen, "signature protection needs \"trusted\" "
		    "to verify the CA's answers");
		goto out;
	}
	*state = c;	/* transferred */
	c = NULL;
	r = 0;
 out:
	cmp_destroy(c);
	return r;
}

/* ---- one transaction ---- */

/* expand_path substitutes "{profile}" in the configured path. */
static int
expand_path(const struct cmp_conn *c, const char *profile, char *out,
    size_t outlen)
{
	const char *p = strstr(c->path, "{profile}");
	int n;

	if (p == NULL) {
		n = snprintf(out, outlen, "%s", c->path);
	} else {
		if (profile == NULL)
			profile = c->profile;
		if (profile == NULL || strpbrk(profile, "/?#% ") != NULL)
			return CAP_ERR_INVALID;
		n = snprintf(out, outlen, "%.*s%s%s", (int)(p - c->path),
		    c->path, profile, p + strlen("{profile}"));
	}
	return n < 0 || (size_t)n >= outlen ? CAP_ERR_INVALID : 0;
}

static int
store_from(STACK_OF(X509) *certs, X509_STORE **out)
{
	X509_STORE *st;
	int i;

	*out = NULL;
	if ((st = X509_STORE_new()) == NULL)
		return CAP_ERR_NOMEM;
	for (i = 0; i < sk_X509_num(certs); i++)
		if (!X509_STORE_add_cert(st, sk_X509_value(certs, i))) {
			X509_STORE_free(st);
			return CAP_ERR_NOMEM;
		}
	*out = st;
	return 0;
}

static int
cmp_certconf_cb(OSSL_CMP_CTX *ctx, X509 *cert, int fail_info,
    const char **text)
{
	struct cmp_op *op = OSSL_CMP_CTX_get_certConf_cb_arg(ctx);
	EVP_PKEY *got = X509_get0_pubkey(cert);

	if (op != NULL && op->want != NULL &&
	    (got == NULL || EVP_PKEY_eq(got, op->want) != 1)) {
		op->key_mismatch = 1;
		*text = "the certificate does not carry the requested public key";
		fail_info |= 1 << OSSL_CMP_PKIFAILUREINFO_incorrectData;
	}
	ERR_clear_error();
	return fail_info;
}

/*
 * ctx_new prepares a transaction.  prot_cert/prot_key_uri override the
 * configured protection (a renewal is protected by the old key); a NULL
 * prot_cert means the configured MAC or signature.
 */
static int
ctx_new(struct cmp_conn *c, const char *profile, X509 *prot_cert,
    const char *prot_key_uri, struct cmp_op *op, OSSL_CMP_CTX **out)
{
	OSSL_CMP_CTX *ctx = NULL;
	X509_STORE *st = NULL;
	EVP_PKEY *pk = NULL;
	char path[1024];
	int r = CAP_ERR_INTERNAL;

	*out = NULL;
	if ((r = expand_path(c, profile, path, sizeof(path))) != 0) {
		log_warn("cmp %s: no usable profile for the URL path", c->name);
		goto out;
	}
	r = CAP_ERR_NOMEM;
	if ((ctx = OSSL_CMP_CTX_new(NULL, NULL)) == NULL)
		goto out;
	if (!OSSL_CMP_CTX_set_log_cb(ctx, cmp_log_cb) ||
	    !OSSL_CMP_CTX_set1_server(ctx, c->host) ||
	    !OSSL_CMP_CTX_set_serverPort(ctx, c->port) ||
	    !OSSL_CMP_CTX_set1_serverPath(ctx, path) ||
	    !OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_MSG_TIMEOUT,
	    c->timeout) ||
	    !OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_TOTAL_TIMEOUT,
	    c->timeout) ||
	    !OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_IMPLICIT_CONFIRM,
	    c->implicit_confirm) ||
	    !OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_UNPROTECTED_ERRORS,
	    c->unprotected_errors) ||
	    !OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_IGNORE_KEYUSAGE,
	    c->ignore_keyusage) ||
	    !OSSL_CMP_CTX_set_option(ctx,
	    OSSL_CMP_OPT_PERMIT_TA_IN_EXTRACERTS_FOR_IR,
	    c->permit_ta_in_extracerts) ||
	    !OSSL_CMP_CTX_set_certConf_cb(ctx, cmp_certconf_cb) ||
	    !OSSL_CMP_CTX_set_certConf_cb_arg(ctx, op))
		goto out;
	if (c->recipient != NULL &&
	    !OSSL_CMP_CTX_set1_recipient(ctx, c->recipient))
		goto out;
	if (c->expected_sender != NULL &&
	    !OSSL_CMP_CTX_set1_expected_sender(ctx, c->expected_sender))
		goto out;
	if (c->trusted != NULL) {
		if ((r = store_from(c->trusted, &st)) != 0)
			goto out;
		r = CAP_ERR_NOMEM;
		if (!OSSL_CMP_CTX_set0_trustedStore(ctx, st))
			goto out;
		st = NULL;	/* transferred */
		if (!OSSL_CMP_CTX_set1_untrusted(ctx, c->trusted))
			goto out;
	}
	if (prot_cert == NULL && c->mode == CMP_AUTH_MAC) {
		if (!OSSL_CMP_CTX_set1_referenceValue(ctx,
		    (const unsigned char *)c->reference, strlen(c->reference)) ||
		    !OSSL_CMP_CTX_set1_secretValue(ctx, c->secret,
		    (int)c->secretlen) ||
		    !OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_OWF_ALGNID,
		    c->owf_nid) ||
		    !OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_MAC_ALGNID,
		    c->mac_nid))
			goto out;
	} else {
		if (prot_cert == NULL) {
			prot_cert = c->sig_cert;
			prot_key_uri = c->sig_key_uri;
		}
		if ((r = hsm_evp_pkey_load(prot_key_uri, c->env.token_module,
		    c->env.token_pin, &pk)) != 0) {
			log_warn("cmp %s: protection key not loadable from the "
			    "token: %s", c->name, cap_strerror(r));
			goto out;
		}
		r = CAP_ERR_NOMEM;
		if (!OSSL_CMP_CTX_set1_cert(ctx, prot_cert) ||
		    !OSSL_CMP_CTX_set1_pkey(ctx, pk))
			goto out;
	}
	*out = ctx;	/* transferred */
	ctx = NULL;
	r = 0;
 out:
	if (r != 0)
		log_ossl_errors(c->name, "preparing the transaction");
	EVP_PKEY_free(pk);
	X509_STORE_free(st);
	OSSL_CMP_CTX_free(ctx);
	return r;
}

/* append_failinfo writes the PKIFailureInfo bit names. */
static void
append_failinfo(int bits, char *buf, size_t len)
{
	static const char *const names[] = {
		"badAlg", "badMessageCheck", "badRequest", "badTime",
		"badCertId", "badDataFormat", "wrongAuthority", "incorrectData",
		"missingTimeStamp", "badPOP", "certRevoked", "certConfirmed",
		"wrongIntegrity", "badRecipientNonce", "timeNotAvailable",
		"unacceptedPolicy", "unacceptedExtension", "addInfoNotAvailable",
		"badSenderNonce", "badCertTemplate", "signerNotTrusted",
		"transactionIdInUse", "unsupportedVersion", "notAuthorized",
		"systemUnavail", "systemFailure", "duplicateCertReq",
	};
	size_t i, n;
	int first = 1;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if ((bits & (1 << i)) == 0)
			continue;
		n = strlen(buf);
		snprintf(buf + n, len - n, "%s%s", first ? "; failInfo: " :
		    ", ", names[i]);
		first = 0;
	}
}

/* append_status_text copies the CA's statusString, printable ASCII only. */
static void
append_status_text(OSSL_CMP_CTX *ctx, char *buf, size_t len)
{
	OSSL_CMP_PKIFREETEXT *ft = OSSL_CMP_CTX_get0_statusString(ctx);
	const ASN1_UTF8STRING *s;
	size_t n, k;
	int i, j;

	for (i = 0; ft != NULL && i < sk_ASN1_UTF8STRING_num(ft); i++) {
		s = sk_ASN1_UTF8STRING_value(ft, i);
		n = strlen(buf);
		if (n + 4 >= len)
			return;
		snprintf(buf + n, len - n, "%s", i == 0 ? "; text: " : " / ");
		n = strlen(buf);
		for (j = 0, k = n; j < ASN1_STRING_length(s) && k + 1 < len;
		    j++) {
			unsigned char ch = ASN1_STRING_get0_data(s)[j];

			buf[k++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
		}
		buf[k] = '\0';
	}
}

static const char *const pkistatus_names[] = {
	"accepted", "grantedWithMods", "rejection", "waiting",
	"revocationWarning", "revocationNotification", "keyUpdateWarning",
};

/*
 * fail maps a failed transaction to a CAP_ERR_* and a reason: the
 * certificate for another key (CAP_ERR_CRYPTO), a PKIStatus rejection
 * (CAP_ERR_DENIED, the CA's words), a transport failure or timeout
 * (CAP_ERR_UNAVAILABLE), anything else that failed its checks, such as the
 * protection of the answer (CAP_ERR_CRYPTO).
 */
static int
fail(struct cmp_conn *c, OSSL_CMP_CTX *ctx, const struct cmp_op *op,
    const char *what, char *reason, size_t len)
{
	unsigned long e, first = 0, transport = 0;
	int status = OSSL_CMP_CTX_get_status(ctx), r;

	while ((e = ERR_get_error()) != 0) {
		char buf[256];

		if (first == 0)
			first = e;
		if (ERR_GET_LIB(e) == ERR_LIB_HTTP ||
		    ERR_GET_LIB(e) == ERR_LIB_BIO ||
		    ERR_GET_LIB(e) == ERR_LIB_SYS ||
		    (ERR_GET_LIB(e) == ERR_LIB_CMP &&
		    (ERR_GET_REASON(e) == CMP_R_TRANSFER_ERROR ||
		    ERR_GET_REASON(e) == CMP_R_TOTAL_TIMEOUT)))
			transport = e;
		ERR_error_string_n(e, buf, sizeof(buf));
		log_debug("cmp %s: %s: %s", c->name, what, buf);
	}
	if (op != NULL && op->key_mismatch) {
		snprintf(reason, len, "the CA returned a certificate for "
		    "another public key; it was refused in certConf");
		r = CAP_ERR_CRYPTO;
	} else if (status == OSSL_CMP_PKISTATUS_rejection) {
		snprintf(reason, len, "PKIStatus: rejection");
		append_failinfo(OSSL_CMP_CTX_get_failInfoCode(ctx), reason,
		    len);
		append_status_text(ctx, reason, len);
		r = CAP_ERR_DENIED;
	} else if (transport != 0) {
		snprintf(reason, len, "the CA could not be reached or did not "
		    "answer in time (%s)", ERR_reason_error_string(transport) ?
		    ERR_reason_error_string(transport) : "transfer error");
		r = CAP_ERR_UNAVAILABLE;
	} else {
		const char *rs = first ? ERR_reason_error_string(first) : NULL;

		if (status >= 0 && (size_t)status <
		    sizeof(pkistatus_names) / sizeof(pkistatus_names[0]) &&
		    status != OSSL_CMP_PKISTATUS_accepted &&
		    status != OSSL_CMP_PKISTATUS_grantedWithMods) {
			snprintf(reason, len, "PKIStatus: %s",
			    pkistatus_names[status]);
			append_failinfo(OSSL_CMP_CTX_get_failInfoCode(ctx),
			    reason, len);
			append_status_text(ctx, reason, len);
			r = CAP_ERR_DENIED;
		} else {
			snprintf(reason, len, "the CA's answer failed its "
			    "checks (%s)", rs != NULL ? rs : "unknown");
			r = CAP_ERR_CRYPTO;
		}
	}
	log_info("cmp %s: %s failed: %s", c->name, what, reason);
	return r;
}

/* ---- chains ---- */

static int
cert_in(STACK_OF(X509) *sk, X509 *x)
{
	int i;

	for (i = 0; i < sk_X509_num(sk); i++)
		if (X509_cmp(sk_X509_value(sk, i), x) == 0)
			return 1;
	return 0;
}

static int
pool_add(STACK_OF(X509) *pool, STACK_OF(X509) *from)
{
	int i;
	X509 *x;

	for (i = 0; i < sk_X509_num(from); i++) {
		x = sk_X509_value(from, i);
		if (cert_in(pool, x))
			continue;
		if (!X509_up_ref(x))
			return CAP_ERR_INTERNAL;
		if (!sk_X509_push(pool, x)) {
			X509_free(x);
			return CAP_ERR_NOMEM;
		}
	}
	return 0;
}

/* build_chain orders the issuers of leaf found in pool, issuer first. */
static int
build_chain(X509 *leaf, STACK_OF(X509) *pool, STACK_OF(X509) **out)
{
	STACK_OF(X509) *chain;
	X509 *cur = leaf, *x;
	int i, found;

	*out = NULL;
	if ((chain = sk_X509_new_null()) == NULL)
		return CAP_ERR_NOMEM;
	while (sk_X509_num(chain) < CMP_CHAIN_MAX &&
	    X509_check_issued(cur, cur) != X509_V_OK) {
		found = 0;
		for (i = 0; i < sk_X509_num(pool); i++) {
			x = sk_X509_value(pool, i);
			if (X509_cmp(x, cur) == 0 || cert_in(chain, x) ||
			    X509_check_issued(x, cur) != X509_V_OK)
				continue;
			if (!X509_up_ref(x) || !sk_X509_push(chain, x)) {
				sk_X509_pop_free(chain, X509_free);
				return CAP_ERR_NOMEM;
			}
			cur = x;
			found = 1;
			break;
		}
		if (!found)
			break;
	}
	*out = chain;
	return 0;
}

/* remember_cas keeps the answer's caPubs and extraCerts for chain(). */
static void
remember_cas(struct cmp_conn *c, STACK_OF(X509) *cas)
{
	STACK_OF(X509) *old;

	if (cas == NULL || sk_X509_num(cas) == 0)
		return;
	pthread_mutex_lock(&c->lock);
	old = c->last_cas;
	c->last_cas = X509_chain_up_ref(cas);
	pthread_mutex_unlock(&c->lock);
	sk_X509_pop_free(old, X509_free);
}

/* ---- operations ---- */

static int
certreq(struct cmp_conn *c, int type, const struct ca_request *req,
    X509 *old_cert, const char *old_key_uri, struct ca_result *res)
{
	OSSL_CMP_CTX *ctx = NULL;
	struct cmp_op op;
	EVP_PKEY *newkey = NULL;
	STACK_OF(X509) *capubs = NULL, *extra = NULL, *pool = NULL;
	X509 *cert;
	const char *what = type == OSSL_CMP_IR ? "ir" :
	    type == OSSL_CMP_CR ? "cr" :
	    type == OSSL_CMP_KUR ? "kur" : "p10cr";
	int r;

	memset(res, 0, sizeof(*res));
	memset(&op, 0, sizeof(op));
	if (req == NULL || req->csr == NULL ||
	    (type != OSSL_CMP_P10CR && req->key_uri == NULL))
		return CAP_ERR_INVALID;
	if ((op.want = X509_REQ_get0_pubkey(req->csr)) == NULL)
		return CAP_ERR_INVALID;
	if ((r = ctx_new(c, req->profile, old_cert, old_key_uri, &op,
	    &ctx)) != 0)
		goto out;
	r = CAP_ERR_NOMEM;
	if (!OSSL_CMP_CTX_set1_p10CSR(ctx, req->csr))
		goto out;
	if (req->validity > 0 && !OSSL_CMP_CTX_set_option(ctx,
	    OSSL_CMP_OPT_VALIDITY_DAYS, (int)((req->validity + 86399) / 86400)))
		goto out;
	if (type == OSSL_CMP_KUR &&
	    !OSSL_CMP_CTX_set1_oldCert(ctx, old_cert))
		goto out;
	if (type != OSSL_CMP_P10CR) {
		/* the proof of possession is signed in the token */
		if ((r = hsm_evp_pkey_load(req->key_uri, c->env.token_module,
		    c->env.token_pin, &newkey)) != 0) {
			log_warn("cmp %s: the new key is not loadable from the "
			    "token: %s", c->name, cap_strerror(r));
			goto out;
		}
		r = CAP_ERR_NOMEM;
		if (!OSSL_CMP_CTX_set0_newPkey(ctx, 1, newkey))
			goto out;
		newkey = NULL;	/* transferred */
	}
	if ((cert = OSSL_CMP_exec_certreq(ctx, type, NULL)) == NULL) {
		r = fail(c, ctx, &op, what, res->reason, sizeof(res->reason));
		if (r == CAP_ERR_DENIED)
			res->status = CA_REJECTED;
		goto out;
	}
	if (op.key_mismatch || EVP_PKEY_eq(X509_get0_pubkey(cert),
	    op.want) != 1) {
		/* implicit confirm: the callback did not run */
		op.key_mismatch = 1;
		r = fail(c, ctx, &op, what, res->reason, sizeof(res->reason));
		goto out;
	}
	r = CAP_ERR_NOMEM;
	capubs = OSSL_CMP_CTX_get1_caPubs(ctx);
	extra = OSSL_CMP_CTX_get1_extraCertsIn(ctx);
	if ((pool = sk_X509_new_null()) == NULL ||
	    pool_add(pool, capubs) != 0 || pool_add(pool, extra) != 0 ||
	    (c->trusted != NULL && pool_add(pool, c->trusted) != 0))
		goto out;
	if ((r = build_chain(cert, pool, &res->chain)) != 0)
		goto out;
	r = CAP_ERR_NOMEM;
	if (!X509_up_ref(cert))
		goto out;
	res->cert = cert;
	res->status = CA_ISSUED;
	/* the CA's certificates of this answer, for chain() */
	if (sk_X509_num(res->chain) > 0)
		remember_cas(c, res->chain);
	else
		remember_cas(c, capubs);
	log_info("cmp %s: %s: certificate issued", c->name, what);
	r = 0;
 out:
	if (r != 0 && res->status != CA_REJECTED) {
		sk_X509_pop_free(res->chain, X509_free);
		res->chain = NULL;
	}
	ERR_clear_error();
	EVP_PKEY_free(newkey);
	sk_X509_pop_free(capubs, X509_free);
	sk_X509_pop_free(extra, X509_free);
	sk_X509_pop_free(pool, X509_free);
	OSSL_CMP_CTX_free(ctx);
	return r;
}

static int
cmp_enroll(void *state, const struct ca_request *req, struct ca_result *res)
{
	struct cmp_conn *c = state;

	return certreq(c, c->enroll_type, req, NULL, NULL, res);
}

static int
cmp_renew(void *state, const struct ca_request *req, struct ca_result *res)
{
	struct cmp_conn *c = state;

	if (req == NULL || req->old_cert == NULL || req->old_key_uri == NULL)
		return certreq(c, c->enroll_type, req, NULL, NULL, res);
	if (X509_cmp_current_time(X509_get0_notAfter(req->old_cert)) < 0) {
		if (!c->kur_fallback_cr) {
			memset(res, 0, sizeof(*res));
			snprintf(res->reason, sizeof(res->reason), "the old "
			    "certificate has expired and kur_fallback_cr is "
			    "off");
			return CAP_ERR_INVALID;
		}
		/* an expired certificate cannot authenticate a kur */
		log_info("cmp %s: old certificate expired, renewing with cr",
		    c->name);
		return certreq(c, OSSL_CMP_CR, req, NULL, NULL, res);
	}
	return certreq(c, OSSL_CMP_KUR, req, req->old_cert,
	    req->old_key_uri, res);
}

static int
cmp_revoke(void *state, X509 *cert, int reason, char *err, size_t errlen)
{
	struct cmp_conn *c = state;
	OSSL_CMP_CTX *ctx = NULL;
	int r;

	if (cert == NULL || reason < 0 || reason > 10 || reason == 7) {
		snprintf(err, errlen, "bad certificate or reason");
		return CAP_ERR_INVALID;
	}
	if ((r = ctx_new(c, NULL, NULL, NULL, NULL, &ctx)) != 0) {
		snprintf(err, errlen, "the CMP transaction could not be "
		    "prepared");
		goto out;
	}
	r = CAP_ERR_NOMEM;
	if (!OSSL_CMP_CTX_set1_oldCert(ctx, cert) ||
	    !OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_REVOCATION_REASON,
	    reason))
		goto out;
	if (OSSL_CMP_exec_RR_ses(ctx) != 1) {
		r = fail(c, ctx, NULL, "rr", err, errlen);
		goto out;
	}
	log_info("cmp %s: rr: certificate revoked", c->name);
	r = 0;
 out:
	ERR_clear_error();
	OSSL_CMP_CTX_free(ctx);
	return r;
}

/* certs_from_itav parses an id-it-caCerts value: SEQUENCE OF Certificate. */
static int
certs_from_itav(const OSSL_CMP_ITAV *itav, STACK_OF(X509) *out)
{
	const ASN1_TYPE *v = OSSL_CMP_ITAV_get0_value(itav);
	const unsigned char *p, *end;
	long len;
	int tag, xclass;
	X509 *x;

	if (v == NULL || v->type != V_ASN1_SEQUENCE)
		return 0;
	p = v->value.sequence->data;
	end = p + v->value.sequence->length;
	if (ASN1_get_object(&p, &len, &tag, &xclass, end - p) & 0x80 ||
	    tag != V_ASN1_SEQUENCE || len > end - p)
		return CAP_ERR_CRYPTO;
	end = p + len;
	while (p < end) {
		if (sk_X509_num(out) >= 64 ||
		    (x = d2i_X509(NULL, &p, end - p)) == NULL)
			return CAP_ERR_CRYPTO;
		if (!sk_X509_push(out, x)) {
			X509_free(x);
			return CAP_ERR_NOMEM;
		}
	}
	return 0;
}

/*
 * chain asks the CA for its certificates with a genm of id-it-caCerts;
 * when the CA has none to give (or refuses the genm), the CA certificates
 * of the last answer are returned, then the configured trust anchors.
 */
static int
cmp_chain(void *state, STACK_OF(X509) **out)
{
	struct cmp_conn *c = state;
	OSSL_CMP_CTX *ctx = NULL;
	STACK_OF(OSSL_CMP_ITAV) *itavs = NULL;
	STACK_OF(X509) *certs = NULL;
	ASN1_OBJECT *oid = NULL, *want = NULL;
	OSSL_CMP_ITAV *req = NULL;
	char reason[256];
	int r, i;

	*out = NULL;
	if ((r = ctx_new(c, NULL, NULL, NULL, NULL, &ctx)) != 0)
		goto out;
	r = CAP_ERR_NOMEM;
	if ((certs = sk_X509_new_null()) == NULL ||
	    (oid = OBJ_txt2obj(CMP_OID_CA_CERTS, 1)) == NULL ||
	    (want = OBJ_txt2obj(CMP_OID_CA_CERTS, 1)) == NULL ||
	    (req = OSSL_CMP_ITAV_create(oid, NULL)) == NULL)
		goto out;
	oid = NULL;	/* transferred */
	if (!OSSL_CMP_CTX_push0_genm_ITAV(ctx, req))
		goto out;
	req = NULL;	/* transferred */
	if ((itavs = OSSL_CMP_exec_GENM_ses(ctx)) == NULL) {
		r = fail(c, ctx, NULL, "genm", reason, sizeof(reason));
		if (r == CAP_ERR_UNAVAILABLE)
			goto out;
	} else {
		for (i = 0; i < sk_OSSL_CMP_ITAV_num(itavs); i++) {
			const OSSL_CMP_ITAV *it = sk_OSSL_CMP_ITAV_value(itavs,
			    i);

			if (OBJ_cmp(OSSL_CMP_ITAV_get0_type(it), want) != 0)
				continue;
			if ((r = certs_from_itav(it, certs)) != 0)
				goto out;
		}
	}
	if (sk_X509_num(certs) == 0) {
		pthread_mutex_lock(&c->lock);
		r = c->last_cas != NULL ? pool_add(certs, c->last_cas) : 0;
		pthread_mutex_unlock(&c->lock);
		if (r != 0)
			goto out;
	}
	if (sk_X509_num(certs) == 0 && c->trusted != NULL &&
	    (r = pool_add(certs, c->trusted)) != 0)
		goto out;
	if (sk_X509_num(certs) == 0) {
		r = CAP_ERR_NOT_FOUND;
		goto out;
	}
	*out = certs;	/* transferred */
	certs = NULL;
	r = 0;
 out:
	ERR_clear_error();
	ASN1_OBJECT_free(oid);
	ASN1_OBJECT_free(want);
	OSSL_CMP_ITAV_free(req);
	sk_OSSL_CMP_ITAV_pop_free(itavs, OSSL_CMP_ITAV_free);
	sk_X509_pop_free(certs, X509_free);
	OSSL_CMP_CTX_free(ctx);
	return r;
}

static int
cmp_describe(void *state, json_t *out)
{
	struct cmp_conn *c = state;
	char rcpt[512] = "", sender[512] = "";
	json_t *auth;

	if (c->recipient != NULL)
		X509_NAME_oneline(c->recipient, rcpt, sizeof(rcpt));
	if (c->expected_sender != NULL)
		X509_NAME_oneline(c->expected_sender, sender, sizeof(sender));
	if (c->mode == CMP_AUTH_MAC)
		auth = json_pack("{s:s,s:s,s:s,s:s}", "mode", "mac",
		    "reference", c->reference, "owf", OBJ_nid2sn(c->owf_nid),
		    "mac", c->mac_nid == NID_hmac_sha1 ? "hmac-sha1" :
		    c->mac_nid == NID_hmacWithSHA256 ? "hmac-sha256" :
		    c->mac_nid == NID_hmacWithSHA384 ? "hmac-sha384" :
		    "hmac-sha512");
	else
		auth = json_pack("{s:s,s:s}", "mode", "signature", "key_uri",
		    c->sig_key_uri);
	if (auth == NULL)
		return CAP_ERR_NOMEM;
	if (json_object_set_new(out, "auth", auth) != 0 ||
	    json_object_set_new(out, "server", json_sprintf("%s:%d",
	    c->host, c->port)) != 0 ||
	    json_object_set_new(out, "path", json_string(c->path)) != 0 ||
	    json_object_set_new(out, "dialect", json_string(c->dialect)) != 0 ||
	    json_object_set_new(out, "recipient", json_string(rcpt)) != 0 ||
	    json_object_set_new(out, "expected_sender",
	    json_string(sender)) != 0 ||
	    json_object_set_new(out, "enroll_command", json_string(
	    c->enroll_type == OSSL_CMP_IR ? "ir" :
	    c->enroll_type == OSSL_CMP_CR ? "cr" : "p10cr")) != 0 ||
	    json_object_set_new(out, "implicit_confirm",
	    json_boolean(c->implicit_confirm)) != 0 ||
	    json_object_set_new(out, "unprotected_errors",
	    json_boolean(c->unprotected_errors)) != 0 ||
	    json_object_set_new(out, "kur_fallback_cr",
	    json_boolean(c->kur_fallback_cr)) != 0 ||
	    json_object_set_new(out, "timeout", json_integer(c->timeout)) != 0)
		return CAP_ERR_NOMEM;
	return 0;
}

const struct ca_ops ca_cmp_ops = {
	.protocol = "cmp",
	.create = cmp_create,
	.destroy = cmp_destroy,
	.enroll = cmp_enroll,
	.renew = cmp_renew,
	.poll = NULL,		/* OSSL_CMP polls inside the transaction */
	.revoke = cmp_revoke,
	.chain = cmp_chain,
	.crl = NULL,
	.ocsp = NULL,
	.describe = cmp_describe,
};
