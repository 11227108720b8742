/* tls.c - building the server's SSL_CTX. */
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "api/router.h"
#include "api/tls.h"
#include "common/err.h"
#include "common/log.h"
#include "hsm/hsm.h"

/* TLS 1.2 suites: forward secrecy and AEAD only. */
#define TLS12_CIPHERS \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:" \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"

#define SESSION_ID_CTX	"capstoned"

/* Logs what OpenSSL says went wrong, emptying its error queue. */
static void
log_ssl(const char *what, const char *file)
{
	char buf[256];
	unsigned long e;
	int any = 0;

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		log_error("tls: %s %s: %s", what, file != NULL ? file : "", buf);
		any = 1;
	}
	if (!any)
		log_error("tls: %s %s failed", what, file != NULL ? file : "");
}

/* Never prompt on a terminal for the passphrase of an encrypted key. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;
}

/*
 * The module for a token key: the key URI's own module-path/module-name
 * (NULL here lets hsm read it), else [token] module, else the module-path
 * of the token URI, percent-decoded into buf.
 */
static const char *
key_module(const struct cap_config *cfg, char *buf, size_t bufsz)
{
	const char *p;
	size_t len;

	if (strstr(cfg->tls_key, "module-path=") != NULL ||
	    strstr(cfg->tls_key, "module-name=") != NULL)
		return NULL;
	if (cfg->token_module != NULL)
		return cfg->token_module;
	if (cfg->token_uri == NULL ||
	    (p = strstr(cfg->token_uri, "module-path=")) == NULL)
		return NULL;
	p += strlen("module-path=");
	len = strcspn(p, ";&");
	if (api_pct_decode(p, len, buf, bufsz, 0) != 0)
		return NULL;
	return buf;
}

static int
load_key(SSL_CTX *ctx, const struct cap_config *cfg)
{
	EVP_PKEY *pkey = NULL;
	char modbuf[512];
	int r;

	if (strncmp(cfg->tls_key, "pkcs11:", 7) != 0) {
		if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key,
		    SSL_FILETYPE_PEM) != 1) {
			log_ssl("cannot load key", cfg->tls_key);
			return CAP_ERR_CONFIG;
		}
		return 0;
	}
	if ((r = hsm_evp_pkey_load(cfg->tls_key,
	    key_module(cfg, modbuf, sizeof(modbuf)), cfg->token_pin,
	    &pkey)) != 0) {
		log_error("tls: cannot load the token key: %s",
		    cap_strerror(r));
		return r;
	}
	r = 0;
	if (SSL_CTX_use_PrivateKey(ctx, pkey) != 1) {
		log_ssl("cannot use the token key", NULL);
		r = CAP_ERR_CONFIG;
	}
	EVP_PKEY_free(pkey);
	return r;
}

/*
 * Adds the PEM CRL(s) of path to ctx's verify store and turns on
 * revocation checking of the client's own certificate (X509_V_FLAG_
 * CRL_CHECK).  Intermediate CAs are not checked (no CRL_CHECK_ALL): that
 * would need a current CRL from every CA of every client chain, and a
 * missing one refuses every client under it.  With CRL_CHECK, a client
 * whose issuer has no CRL in the file, or whose CRL is past its
 * nextUpdate, is refused: revocation checking fails closed.
 */
static int
load_client_crl(SSL_CTX *ctx, const char *path)
{
	X509_STORE *st;
	X509_LOOKUP *lu;
	int n;

	if ((st = SSL_CTX_get_cert_store(ctx)) == NULL ||
	    (lu = X509_STORE_add_lookup(st, X509_LOOKUP_file())) == NULL) {
		log_ssl("cannot set up CRL checking", NULL);
		return CAP_ERR_NOMEM;
	}
	if ((n = X509_load_crl_file(lu, path, X509_FILETYPE_PEM)) <= 0) {
		log_ssl("cannot load client CRL file", path);
		return CAP_ERR_CONFIG;
	}
	if (X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK) != 1) {
		log_ssl("cannot enable CRL checking", NULL);
		return CAP_ERR_CONFIG;
	}
	log_info("tls: %d client CRL(s) loaded from %s", n, path);
	return 0;
}

int
api_tls_ctx_new(const struct cap_config *cfg, SSL_CTX **out)
{
	STACK_OF(X509_NAME) *cas = NULL;
	SSL_CTX *ctx = NULL;
	int r = CAP_ERR_CONFIG;

	*out = NULL;
	if (cfg->tls_cert == NULL || cfg->tls_key == NULL ||
	    cfg->tls_client_ca == NULL) {
		log_error("tls: tls_cert, tls_key and tls_client_ca are "
		    "required");
		goto out;
	}
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		log_ssl("SSL_CTX_new", NULL);
		r = CAP_ERR_NOMEM;
		goto out;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1) {
		log_ssl("cannot set protocol versions or ciphers", NULL);
		goto out;
	}
	/*
	 * No renegotiation, no compression; the server's cipher order wins;
	 * decrypted application data is cleansed from OpenSSL's buffers.
	 */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
	    SSL_OP_CLEANSE_PLAINTEXT);
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);

	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
		log_ssl("cannot load certificate chain", cfg->tls_cert);
		goto out;
	}
	if ((r = load_key(ctx, cfg)) != 0)
		goto out;
	r = CAP_ERR_CONFIG;
	if (SSL_CTX_check_private_key(ctx) != 1) {
		log_ssl("the key does not match the certificate", cfg->tls_cert);
		goto out;
	}

	if (SSL_CTX_load_verify_locations(ctx, cfg->tls_client_ca,
	    NULL) != 1) {
		log_ssl("cannot load client CA bundle", cfg->tls_client_ca);
		goto out;
	}
	if ((cas = SSL_load_client_CA_file(cfg->tls_client_ca)) == NULL) {
		log_ssl("no CA names in", cfg->tls_client_ca);
		goto out;
	}
	SSL_CTX_set_client_CA_list(ctx, cas);	/* transferred */
	if (cfg->tls_client_crl != NULL &&
	    (r = load_client_crl(ctx, cfg->tls_client_crl)) != 0)
		goto out;
	r = CAP_ERR_CONFIG;
	/*
	 * optional: a client may come without a certificate and then needs a
	 * bearer token; one that presents a certificate is verified all the
	 * same.
	 */
	SSL_CTX_set_verify(ctx, cfg->tls_client_auth ==
	    CFG_CLIENT_AUTH_OPTIONAL ? SSL_VERIFY_PEER :
	    SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_verify_depth(ctx, 8);

	/* Resumption: server cache and tickets, bound to this service. */
	if (SSL_CTX_set_session_id_context(ctx,
	    (const unsigned char *)SESSION_ID_CTX,
	    sizeof(SESSION_ID_CTX) - 1) != 1) {
		log_ssl("cannot set the session id context", NULL);
		goto out;
	}
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_timeout(ctx, 3600);

	*out = ctx;
	ctx = NULL;	/* transferred */
	r = 0;
 out:
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return r;
}
