/*
 * hsm_engine.c - an EVP_PKEY backed by a token key, through the libp11
 * engine.  The ENGINE API is deprecated in OpenSSL 3.0, and pkcs11-provider
 * is not packaged for Debian 12, so this file asks for the deprecated
 * declarations explicitly.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <stdlib.h>
#include <string.h>

#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "common/err.h"
#include "common/log.h"
#include "hsm/hsm_int.h"

static void
log_ossl(const char *what)
{
	char buf[256];
	unsigned long e;

	if ((e = ERR_get_error()) == 0) {
		log_error("hsm: %s failed", what);
		return;
	}
	ERR_error_string_n(e, buf, sizeof(buf));
	log_error("hsm: %s failed: %s", what, buf);
	ERR_clear_error();
}

int
hsm_evp_pkey_load(const char *key_uri, const char *module,
    const char *pin_source, EVP_PKEY **out)
{
	P11KitUri *u = NULL;
	ENGINE *e = NULL;
	EVP_PKEY *pk = NULL;
	char path[4096], bare[4097], *pin = NULL;
	size_t pinlen = 0;
	int r = CAP_ERR_INTERNAL, pr, inited = 0;

	*out = NULL;
	/* PINs and keys live in sodium_malloc memory; init is idempotent. */
	if (sodium_init() < 0) {
		r = CAP_ERR_INTERNAL;
		goto out;
	}
	if (key_uri == NULL || strlen(key_uri) > 4096) {
		r = CAP_ERR_INVALID;
		goto out;
	}
	if ((u = p11_kit_uri_new()) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	if ((pr = p11_kit_uri_parse(key_uri, P11_KIT_URI_FOR_ANY, u)) !=
	    P11_KIT_URI_OK) {
		log_error("hsm: bad key URI: %s", p11_kit_uri_message(pr));
		r = CAP_ERR_INVALID;
		goto out;
	}
	if ((r = hsm_uri_module(u, module, path, sizeof(path))) != 0)
		goto out;
	if (pin_source == NULL)
		pin_source = p11_kit_uri_get_pin_source(u);
	if ((r = hsm_pin_read(pin_source, p11_kit_uri_get_pin_value(u),
	    &pin, &pinlen)) != 0)
		goto out;

	r = CAP_ERR_TOKEN;
	if ((e = ENGINE_by_id("pkcs11")) == NULL) {
		log_ossl("loading the pkcs11 engine (libengine-pkcs11-openssl)");
		goto out;
	}
	if (!ENGINE_ctrl_cmd_string(e, "MODULE_PATH", path, 0)) {
		log_ossl("pkcs11 engine MODULE_PATH");
		goto out;
	}
	if (!ENGINE_init(e)) {
		log_ossl("pkcs11 engine init");
		goto out;
	}
	inited = 1;
	/* After init: the engine keeps its own copy of the PIN. */
	if (!ENGINE_ctrl_cmd_string(e, "PIN", pin, 0)) {
		log_ossl("pkcs11 engine PIN");
		goto out;
	}
	/*
	 * libp11 refuses a URI with a query part ("?module-path=..."), and
	 * prints the URI it was given when it fails: it gets only the path
	 * part; module and PIN were taken from the query above.
	 */
	memcpy(bare, key_uri, strcspn(key_uri, "?"));
	bare[strcspn(key_uri, "?")] = '\0';
	if ((pk = ENGINE_load_private_key(e, bare, NULL, NULL)) == NULL) {
		log_ossl("loading the token key through the pkcs11 engine");
		r = CAP_ERR_NOT_FOUND;
		goto out;
	}
	*out = pk;	/* transferred */
	r = 0;
 out:
	/*
	 * The key holds its own reference to the engine; dropping ours
	 * leaves the default engines untouched.
	 */
	if (inited)
		ENGINE_finish(e);
	ENGINE_free(e);
	hsm_pin_free(pin, pinlen);
	if (u != NULL)
		p11_kit_uri_free(u);
	return r;
}
