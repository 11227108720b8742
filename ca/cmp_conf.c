/*
 * cmp_conf.c - the CMP connector's settings: parsed and checked into a
 * struct cmp_conn, described without the PBM secret, destroyed with the
 * secret wiped.  The secret is kept in sodium_malloc memory.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/cmp.h>
#include <openssl/err.h>
#include <openssl/http.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "ca/cmp_int.h"
#include "ca/http_client.h"
#include "common/err.h"
#include "common/util.h"

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

void
cmp_destroy(void *state)
{
	struct cmp_conn *c = state;

	if (c == NULL)
		return;
	free(c->name);
	free(c->host);
	free(c->path);
	SSL_CTX_free(c->tls);
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
	/*
	 * CMP messages carry their own protection; https adds a server
	 * checked against "tls_trusted" (cmp_create makes the context).
	 */
	c->tls_wanted = ssl;
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

/*
 * tls_setup makes the TLS context of an https URL: the server is verified
 * against the PEM bundle "tls_trusted", or the system's trust store.
 */
static int
tls_setup(struct cmp_conn *c, json_t *settings, char *err, size_t errlen)
{
	json_t *t = json_object_get(settings, "tls_trusted");
	const char *pem = NULL;

	if (t != NULL && !json_is_null(t)) {
		if (!json_is_string(t) || json_string_length(t) > CMP_PEM_MAX) {
			snprintf(err, errlen, "\"tls_trusted\" is a PEM bundle");
			return CAP_ERR_INVALID;
		}
		pem = json_string_value(t);
	}
	if (!c->tls_wanted) {
		if (pem != NULL) {
			snprintf(err, errlen, "\"tls_trusted\" needs an https "
			    "URL");
			return CAP_ERR_INVALID;
		}
		return 0;
	}
	if (http_tls_client_ctx(pem, &c->tls) != 0) {
		snprintf(err, errlen, "\"tls_trusted\" holds no usable "
		    "certificate");
		return CAP_ERR_INVALID;
	}
	return 0;
}

int
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
	if ((r = tls_setup(c, settings, err, errlen)) != 0)
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

int
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
	    json_object_set_new(out, "tls", json_boolean(c->tls != NULL)) != 0 ||
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
