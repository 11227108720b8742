/*
 * hsm.c - module loading, token selection, login, the session pool,
 * mechanism probing and the token's random generator.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "hsm/hsm_int.h"

static const struct {
	CK_RV		 rv;
	const char	*name;
} ckr_names[] = {
	{ CKR_OK,				"CKR_OK" },
	{ CKR_CANCEL,				"CKR_CANCEL" },
	{ CKR_HOST_MEMORY,			"CKR_HOST_MEMORY" },
	{ CKR_SLOT_ID_INVALID,			"CKR_SLOT_ID_INVALID" },
	{ CKR_GENERAL_ERROR,			"CKR_GENERAL_ERROR" },
	{ CKR_FUNCTION_FAILED,			"CKR_FUNCTION_FAILED" },
	{ CKR_ARGUMENTS_BAD,			"CKR_ARGUMENTS_BAD" },
	{ CKR_ATTRIBUTE_READ_ONLY,		"CKR_ATTRIBUTE_READ_ONLY" },
	{ CKR_ATTRIBUTE_SENSITIVE,		"CKR_ATTRIBUTE_SENSITIVE" },
	{ CKR_ATTRIBUTE_TYPE_INVALID,		"CKR_ATTRIBUTE_TYPE_INVALID" },
	{ CKR_ATTRIBUTE_VALUE_INVALID,		"CKR_ATTRIBUTE_VALUE_INVALID" },
	{ CKR_DATA_INVALID,			"CKR_DATA_INVALID" },
	{ CKR_DATA_LEN_RANGE,			"CKR_DATA_LEN_RANGE" },
	{ CKR_DEVICE_ERROR,			"CKR_DEVICE_ERROR" },
	{ CKR_DEVICE_MEMORY,			"CKR_DEVICE_MEMORY" },
	{ CKR_DEVICE_REMOVED,			"CKR_DEVICE_REMOVED" },
	{ CKR_ENCRYPTED_DATA_INVALID,		"CKR_ENCRYPTED_DATA_INVALID" },
	{ CKR_ENCRYPTED_DATA_LEN_RANGE,		"CKR_ENCRYPTED_DATA_LEN_RANGE" },
	{ CKR_FUNCTION_NOT_SUPPORTED,		"CKR_FUNCTION_NOT_SUPPORTED" },
	{ CKR_KEY_HANDLE_INVALID,		"CKR_KEY_HANDLE_INVALID" },
	{ CKR_KEY_SIZE_RANGE,			"CKR_KEY_SIZE_RANGE" },
	{ CKR_KEY_TYPE_INCONSISTENT,		"CKR_KEY_TYPE_INCONSISTENT" },
	{ CKR_KEY_FUNCTION_NOT_PERMITTED,	"CKR_KEY_FUNCTION_NOT_PERMITTED" },
	{ CKR_KEY_NOT_WRAPPABLE,		"CKR_KEY_NOT_WRAPPABLE" },
	{ CKR_KEY_UNEXTRACTABLE,		"CKR_KEY_UNEXTRACTABLE" },
	{ CKR_MECHANISM_INVALID,		"CKR_MECHANISM_INVALID" },
	{ CKR_MECHANISM_PARAM_INVALID,		"CKR_MECHANISM_PARAM_INVALID" },
	{ CKR_OBJECT_HANDLE_INVALID,		"CKR_OBJECT_HANDLE_INVALID" },
	{ CKR_OPERATION_ACTIVE,			"CKR_OPERATION_ACTIVE" },
	{ CKR_OPERATION_NOT_INITIALIZED,	"CKR_OPERATION_NOT_INITIALIZED" },
	{ CKR_PIN_INCORRECT,			"CKR_PIN_INCORRECT" },
	{ CKR_PIN_INVALID,			"CKR_PIN_INVALID" },
	{ CKR_PIN_LEN_RANGE,			"CKR_PIN_LEN_RANGE" },
	{ CKR_PIN_EXPIRED,			"CKR_PIN_EXPIRED" },
	{ CKR_PIN_LOCKED,			"CKR_PIN_LOCKED" },
	{ CKR_SESSION_CLOSED,			"CKR_SESSION_CLOSED" },
	{ CKR_SESSION_COUNT,			"CKR_SESSION_COUNT" },
	{ CKR_SESSION_HANDLE_INVALID,		"CKR_SESSION_HANDLE_INVALID" },
	{ CKR_SESSION_READ_ONLY,		"CKR_SESSION_READ_ONLY" },
	{ CKR_SIGNATURE_INVALID,		"CKR_SIGNATURE_INVALID" },
	{ CKR_SIGNATURE_LEN_RANGE,		"CKR_SIGNATURE_LEN_RANGE" },
	{ CKR_TEMPLATE_INCOMPLETE,		"CKR_TEMPLATE_INCOMPLETE" },
	{ CKR_TEMPLATE_INCONSISTENT,		"CKR_TEMPLATE_INCONSISTENT" },
	{ CKR_TOKEN_NOT_PRESENT,		"CKR_TOKEN_NOT_PRESENT" },
	{ CKR_TOKEN_NOT_RECOGNIZED,		"CKR_TOKEN_NOT_RECOGNIZED" },
	{ CKR_TOKEN_WRITE_PROTECTED,		"CKR_TOKEN_WRITE_PROTECTED" },
	{ CKR_UNWRAPPING_KEY_HANDLE_INVALID,	"CKR_UNWRAPPING_KEY_HANDLE_INVALID" },
	{ CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT,	"CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT" },
	{ CKR_USER_ALREADY_LOGGED_IN,		"CKR_USER_ALREADY_LOGGED_IN" },
	{ CKR_USER_NOT_LOGGED_IN,		"CKR_USER_NOT_LOGGED_IN" },
	{ CKR_USER_PIN_NOT_INITIALIZED,		"CKR_USER_PIN_NOT_INITIALIZED" },
	{ CKR_USER_TYPE_INVALID,		"CKR_USER_TYPE_INVALID" },
	{ CKR_WRAPPED_KEY_INVALID,		"CKR_WRAPPED_KEY_INVALID" },
	{ CKR_WRAPPED_KEY_LEN_RANGE,		"CKR_WRAPPED_KEY_LEN_RANGE" },
	{ CKR_WRAPPING_KEY_HANDLE_INVALID,	"CKR_WRAPPING_KEY_HANDLE_INVALID" },
	{ CKR_WRAPPING_KEY_TYPE_INCONSISTENT,	"CKR_WRAPPING_KEY_TYPE_INCONSISTENT" },
	{ CKR_RANDOM_NO_RNG,			"CKR_RANDOM_NO_RNG" },
	{ CKR_DOMAIN_PARAMS_INVALID,		"CKR_DOMAIN_PARAMS_INVALID" },
	{ CKR_BUFFER_TOO_SMALL,			"CKR_BUFFER_TOO_SMALL" },
	{ CKR_CRYPTOKI_NOT_INITIALIZED,		"CKR_CRYPTOKI_NOT_INITIALIZED" },
	{ CKR_CRYPTOKI_ALREADY_INITIALIZED,	"CKR_CRYPTOKI_ALREADY_INITIALIZED" },
};

const char *
hsm_ckr_name(CK_RV rv)
{
	size_t i;

	for (i = 0; i < sizeof(ckr_names) / sizeof(ckr_names[0]); i++)
		if (ckr_names[i].rv == rv)
			return ckr_names[i].name;
	return "CKR_(unknown)";
}

/*
 * Translate a CKR_* into the CAP_ERR_* callers see, logging the detail
 * here where it is known.
 */
int
hsm_ckr_err(const char *what, CK_RV rv)
{
	int r;

	switch (rv) {
	case CKR_OK:
		return 0;
	case CKR_HOST_MEMORY:
	case CKR_DEVICE_MEMORY:
		r = CAP_ERR_NOMEM;
		break;
	case CKR_PIN_INCORRECT:
	case CKR_PIN_INVALID:
	case CKR_PIN_LEN_RANGE:
	case CKR_PIN_EXPIRED:
	case CKR_PIN_LOCKED:
	case CKR_USER_PIN_NOT_INITIALIZED:
		r = CAP_ERR_PIN;
		break;
	case CKR_MECHANISM_INVALID:
	case CKR_MECHANISM_PARAM_INVALID:
	case CKR_FUNCTION_NOT_SUPPORTED:
		r = CAP_ERR_UNSUPPORTED;
		break;
	case CKR_ENCRYPTED_DATA_INVALID:
	case CKR_ENCRYPTED_DATA_LEN_RANGE:
	case CKR_SIGNATURE_INVALID:
	case CKR_SIGNATURE_LEN_RANGE:
	case CKR_WRAPPED_KEY_INVALID:
	case CKR_WRAPPED_KEY_LEN_RANGE:
		r = CAP_ERR_CRYPTO;
		break;
	case CKR_DATA_LEN_RANGE:
	case CKR_DATA_INVALID:
	case CKR_ARGUMENTS_BAD:
		r = CAP_ERR_INVALID;
		break;
	case CKR_OBJECT_HANDLE_INVALID:
	case CKR_KEY_HANDLE_INVALID:
		r = CAP_ERR_NOT_FOUND;
		break;
	default:
		r = CAP_ERR_TOKEN;
		break;
	}
	if (r == CAP_ERR_CRYPTO)
		log_debug("hsm: %s: %s (0x%lx)", what, hsm_ckr_name(rv),
		    (unsigned long)rv);
	else
		log_warn("hsm: %s: %s (0x%lx)", what, hsm_ckr_name(rv),
		    (unsigned long)rv);
	return r;
}

/* ---- PIN sources ---- */

void
hsm_pin_free(char *pin, size_t len)
{
	if (pin == NULL)
		return;
	sodium_memzero(pin, len);
	sodium_free(pin);
}

static int
pin_copy(const char *s, char **pin, size_t *len)
{
	size_t n = strlen(s);
	char *p;

	if (n > HSM_PIN_MAX)
		return CAP_ERR_TOO_LARGE;
	if ((p = sodium_malloc(n + 1)) == NULL)
		return CAP_ERR_NOMEM;
	memcpy(p, s, n + 1);
	*pin = p;
	*len = n;
	return 0;
}

/*
 * Read a PIN from "file:/path", "env:VAR", "credential:NAME" (systemd's
 * $CREDENTIALS_DIRECTORY/NAME), a bare absolute path (an RFC 7512
 * pin-source may be one), or failing a source the URI's pin-value.  The
 * PIN lands in sodium_malloc memory with one trailing newline stripped;
 * free it with hsm_pin_free.
 */
int
hsm_pin_read(const char *source, const char *uri_value, char **pin,
    size_t *len)
{
	char path[4096], *buf = NULL;
	const char *dir, *v;
	size_t n = 0;
	int r = CAP_ERR_INTERNAL;

	*pin = NULL;
	*len = 0;
	if (source == NULL) {
		if (uri_value == NULL) {
			log_error("hsm: no PIN source configured");
			r = CAP_ERR_PIN;
			goto out;
		}
		if ((r = pin_copy(uri_value, &buf, &n)) != 0)
			goto out;
	} else if (strncmp(source, "env:", 4) == 0) {
		if ((v = getenv(source + 4)) == NULL) {
			log_error("hsm: PIN variable %s is not set",
			    source + 4);
			r = CAP_ERR_PIN;
			goto out;
		}
		if ((r = pin_copy(v, &buf, &n)) != 0)
			goto out;
	} else {
		if (strncmp(source, "file:", 5) == 0)
			v = source + 5;
		else if (strncmp(source, "credential:", 11) == 0) {
			v = source + 11;
			dir = getenv("CREDENTIALS_DIRECTORY");
			if (dir == NULL || *v == '\0' ||
			    strchr(v, '/') != NULL) {
				log_error("hsm: credential %s unavailable "
				    "(CREDENTIALS_DIRECTORY %s)", v,
				    dir == NULL ? "unset" : "set");
				r = CAP_ERR_PIN;
				goto out;
			}
			if ((size_t)snprintf(path, sizeof(path), "%s/%s",
			    dir, v) >= sizeof(path)) {
				r = CAP_ERR_PIN;
				goto out;
			}
			v = path;
		} else if (source[0] == '/')
			v = source;
		else {
			log_error("hsm: PIN source must be file:, env: or "
			    "credential:");
			r = CAP_ERR_PIN;
			goto out;
		}
		if ((r = cap_read_file_secure(v, HSM_PIN_MAX, &buf, &n))
		    != 0) {
			log_error("hsm: cannot read PIN from %s: %s", v,
			    cap_strerror(r));
			buf = NULL;
			r = CAP_ERR_PIN;
			goto out;
		}
		/* cap_read_file_secure allocated HSM_PIN_MAX + 1 bytes */
		if (n > 0 && buf[n - 1] == '\n')
			buf[--n] = '\0';
		if (n > 0 && buf[n - 1] == '\r')
			buf[--n] = '\0';
		*pin = buf;
		*len = HSM_PIN_MAX + 1;
		buf = NULL;
		goto done;
	}
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = '\0';
	*pin = buf;	/* transferred */
	*len = n;
	buf = NULL;
 done:
	if ((*pin)[0] == '\0') {
		log_error("hsm: the PIN is empty");
		hsm_pin_free(*pin, *len);
		*pin = NULL;
		*len = 0;
		r = CAP_ERR_PIN;
		goto out;
	}
	r = 0;
 out:
	hsm_pin_free(buf, n);
	return r;
}

/* ---- module selection ---- */

/*
 * Resolve the module to load: an explicit path wins, then the URI's
 * module-path, then its module-name looked up in the usual directories.
 */
int
hsm_uri_module(P11KitUri *u, const char *module, char *out, size_t outlen)
{
	static const char *dirs[] = {
		"/usr/lib/x86_64-linux-gnu/pkcs11",
		"/usr/lib/pkcs11",
		"/usr/lib/softhsm",
		"/usr/lib/x86_64-linux-gnu/softhsm",
		"/usr/lib/x86_64-linux-gnu",
		"/usr/lib",
	};
	static const struct {
		const char *pre, *suf;
	} forms[] = { { "lib", ".so" }, { "", ".so" }, { "", "" } };
	const char *name;
	size_t i, j;

	if (module == NULL)
		module = p11_kit_uri_get_module_path(u);
	if (module != NULL) {
		if (module[0] != '/') {
			log_error("hsm: module path must be absolute: %s",
			    module);
			return CAP_ERR_INVALID;
		}
		if ((size_t)snprintf(out, outlen, "%s", module) >= outlen)
			return CAP_ERR_INVALID;
		return 0;
	}
	if ((name = p11_kit_uri_get_module_name(u)) == NULL) {
		log_error("hsm: the token URI names no module (module-path "
		    "or module-name) and none is configured");
		return CAP_ERR_INVALID;
	}
	if (name[0] == '\0' || strchr(name, '/') != NULL ||
	    strlen(name) > 128) {
		log_error("hsm: bad module-name in the token URI");
		return CAP_ERR_INVALID;
	}
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		for (j = 0; j < sizeof(forms) / sizeof(forms[0]); j++) {
			if ((size_t)snprintf(out, outlen, "%s/%s%s%s", dirs[i],
			    forms[j].pre, name, forms[j].suf) >= outlen)
				continue;
			if (access(out, R_OK) == 0)
				return 0;
		}
	}
	log_error("hsm: module %s not found", name);
	return CAP_ERR_TOKEN;
}

/* ---- session pool ---- */

int
hsm_sess_get(hsm *h, CK_SESSION_HANDLE *s)
{
	pthread_mutex_lock(&h->pool_mtx);
	while (h->nfree == 0)
		pthread_cond_wait(&h->pool_cv, &h->pool_mtx);
	*s = h->pool[--h->nfree];
	pthread_mutex_unlock(&h->pool_mtx);
	return 0;
}

void
hsm_sess_put(hsm *h, CK_SESSION_HANDLE s)
{
	pthread_mutex_lock(&h->pool_mtx);
	h->pool[h->nfree++] = s;
	pthread_cond_signal(&h->pool_cv);
	pthread_mutex_unlock(&h->pool_mtx);
}

/*
 * Return a session whose last operation failed after its *Init call.
 * PKCS#11 says the failure ended the operation, but tpm2-pkcs11 leaves it
 * active (every later call gives CKR_OPERATION_ACTIVE), so the session is
 * replaced by a fresh one; login state belongs to the application, and
 * pool sessions own no objects, so nothing is lost.
 */
void
hsm_sess_put_bad(hsm *h, CK_SESSION_HANDLE s)
{
	CK_SESSION_HANDLE n;
	CK_RV rv;

	h->fl->C_CloseSession(s);
	rv = h->fl->C_OpenSession(h->slot, CKF_SERIAL_SESSION |
	    CKF_RW_SESSION, NULL, NULL, &n);
	if (rv != CKR_OK) {
		/* Keep the pool size; the old handle fails cleanly later. */
		log_warn("hsm: reopening a session failed: %s",
		    hsm_ckr_name(rv));
		n = s;
	}
	hsm_sess_put(h, n);
}

void
hsm_sess_done(hsm *h, CK_SESSION_HANDLE s, CK_RV rv)
{
	if (rv == CKR_OK)
		hsm_sess_put(h, s);
	else
		hsm_sess_put_bad(h, s);
}

/* ---- open / close ---- */

static void
trim_copy(char *dst, size_t dstlen, const unsigned char *src, size_t srclen)
{
	size_t n = srclen < dstlen - 1 ? srclen : dstlen - 1;

	memcpy(dst, src, n);
	while (n > 0 && (dst[n - 1] == ' ' || dst[n - 1] == '\0'))
		n--;
	dst[n] = '\0';
}

static int
has_mech(const CK_MECHANISM_TYPE *m, CK_ULONG n, CK_MECHANISM_TYPE want)
{
	CK_ULONG i;

	for (i = 0; i < n; i++)
		if (m[i] == want)
			return 1;
	return 0;
}

static int
mech_flags(hsm *h, const CK_MECHANISM_TYPE *m, CK_ULONG n,
    CK_MECHANISM_TYPE want, CK_FLAGS flags)
{
	CK_MECHANISM_INFO mi;

	if (!has_mech(m, n, want))
		return 0;
	if (h->fl->C_GetMechanismInfo(h->slot, want, &mi) != CKR_OK)
		return 0;
	return (mi.flags & flags) == flags;
}

static int
probe_caps(hsm *h)
{
	CK_MECHANISM_TYPE *m = NULL;
	CK_ULONG n = 0;
	CK_RV rv;
	hsm_caps *c = &h->caps;
	int r = CAP_ERR_INTERNAL;

	if ((rv = h->fl->C_GetMechanismList(h->slot, NULL, &n)) != CKR_OK) {
		r = hsm_ckr_err("C_GetMechanismList", rv);
		goto out;
	}
	if (n > 4096) {
		r = CAP_ERR_TOKEN;
		goto out;
	}
	if ((m = calloc(n + 1, sizeof(*m))) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	if ((rv = h->fl->C_GetMechanismList(h->slot, m, &n)) != CKR_OK) {
		r = hsm_ckr_err("C_GetMechanismList", rv);
		goto out;
	}
	memset(c, 0, sizeof(*c));
	c->aes_keygen = mech_flags(h, m, n, CKM_AES_KEY_GEN, CKF_GENERATE);
	c->aes_gcm = mech_flags(h, m, n, CKM_AES_GCM,
	    CKF_ENCRYPT | CKF_DECRYPT);
	c->aes_key_wrap_pad = mech_flags(h, m, n, CKM_AES_KEY_WRAP_PAD,
	    CKF_WRAP | CKF_UNWRAP);
	c->rsa_keygen = mech_flags(h, m, n, CKM_RSA_PKCS_KEY_PAIR_GEN,
	    CKF_GENERATE_KEY_PAIR);
	c->rsa_oaep = mech_flags(h, m, n, CKM_RSA_PKCS_OAEP, CKF_DECRYPT);
	c->ec_keygen = mech_flags(h, m, n, CKM_EC_KEY_PAIR_GEN,
	    CKF_GENERATE_KEY_PAIR);
	c->ecdsa = mech_flags(h, m, n, CKM_ECDSA, CKF_SIGN);
	c->eddsa = mech_flags(h, m, n, CKM_EC_EDWARDS_KEY_PAIR_GEN,
	    CKF_GENERATE_KEY_PAIR) && mech_flags(h, m, n, CKM_EDDSA, CKF_SIGN);
	c->rsa_pss = mech_flags(h, m, n, CKM_RSA_PKCS_PSS, CKF_SIGN);
	log_debug("hsm: %lu mechanisms; aes_keygen=%d aes_gcm=%d kwp=%d "
	    "rsa_keygen=%d oaep=%d ec_keygen=%d ecdsa=%d eddsa=%d pss=%d",
	    (unsigned long)n, c->aes_keygen, c->aes_gcm, c->aes_key_wrap_pad,
	    c->rsa_keygen, c->rsa_oaep, c->ec_keygen, c->ecdsa, c->eddsa,
	    c->rsa_pss);
	r = 0;
 out:
	free(m);
	return r;
}

/* Pick the first slot whose slot and token match the URI. */
static int
select_slot(hsm *h, P11KitUri *u)
{
	CK_SLOT_ID *slots = NULL, want;
	CK_SLOT_INFO si;
	CK_ULONG n = 0, i;
	CK_RV rv;
	int r = CAP_ERR_INTERNAL;

	if ((rv = h->fl->C_GetSlotList(CK_TRUE, NULL, &n)) != CKR_OK) {
		r = hsm_ckr_err("C_GetSlotList", rv);
		goto out;
	}
	if (n > 1024) {
		r = CAP_ERR_TOKEN;
		goto out;
	}
	if ((slots = calloc(n + 1, sizeof(*slots))) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	if ((rv = h->fl->C_GetSlotList(CK_TRUE, slots, &n)) != CKR_OK) {
		r = hsm_ckr_err("C_GetSlotList", rv);
		goto out;
	}
	want = p11_kit_uri_get_slot_id(u);
	for (i = 0; i < n; i++) {
		if (want != (CK_SLOT_ID)-1 && slots[i] != want)
			continue;
		if (h->fl->C_GetSlotInfo(slots[i], &si) != CKR_OK ||
		    !p11_kit_uri_match_slot_info(u, &si))
			continue;
		if (h->fl->C_GetTokenInfo(slots[i], &h->tinfo) != CKR_OK ||
		    !p11_kit_uri_match_token_info(u, &h->tinfo))
			continue;
		if (!(h->tinfo.flags & CKF_TOKEN_INITIALIZED))
			continue;
		h->slot = slots[i];
		r = 0;
		goto out;
	}
	log_error("hsm: no initialised token matches the URI (%lu slots "
	    "with a token)", (unsigned long)n);
	r = CAP_ERR_TOKEN;
 out:
	free(slots);
	return r;
}

static int
login(hsm *h, const char *pin_source, P11KitUri *u)
{
	char *pin = NULL;
	size_t pinlen = 0;
	CK_RV rv;
	int r;

	if (pin_source == NULL)
		pin_source = p11_kit_uri_get_pin_source(u);
	if ((r = hsm_pin_read(pin_source, p11_kit_uri_get_pin_value(u),
	    &pin, &pinlen)) != 0)
		goto out;
	rv = h->fl->C_Login(h->owner, CKU_USER, (CK_UTF8CHAR_PTR)pin,
	    (CK_ULONG)strlen(pin));
	if (rv == CKR_USER_ALREADY_LOGGED_IN)
		rv = CKR_OK;
	if (rv != CKR_OK) {
		r = hsm_ckr_err("C_Login", rv);
		if (r != CAP_ERR_NOMEM)
			r = rv == CKR_PIN_INCORRECT || r == CAP_ERR_PIN ?
			    CAP_ERR_PIN : CAP_ERR_TOKEN;
		goto out;
	}
	h->logged_in = 1;
	r = 0;
 out:
	hsm_pin_free(pin, pinlen);
	return r;
}

int
hsm_open(const char *uri, const char *module, const char *pin_source,
    unsigned sessions, hsm **out)
{
	P11KitUri *u = NULL;
	char path[4096];
	hsm *h = NULL;
	CK_SESSION_HANDLE s;
	CK_FLAGS sflags = CKF_SERIAL_SESSION | CKF_RW_SESSION;
	CK_RV rv;
	int r = CAP_ERR_INTERNAL, pr;

	*out = NULL;
	/* PINs and keys live in sodium_malloc memory; init is idempotent. */
	if (sodium_init() < 0) {
		r = CAP_ERR_INTERNAL;
		goto out;
	}
	if (uri == NULL || sessions == 0 || sessions > HSM_SESS_MAX ||
	    strlen(uri) > 4096) {
		r = CAP_ERR_INVALID;
		goto out;
	}
	if ((u = p11_kit_uri_new()) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	if ((pr = p11_kit_uri_parse(uri, P11_KIT_URI_FOR_ANY, u)) !=
	    P11_KIT_URI_OK) {
		log_error("hsm: bad token URI: %s", p11_kit_uri_message(pr));
		r = CAP_ERR_INVALID;
		goto out;
	}
	if ((r = hsm_uri_module(u, module, path, sizeof(path))) != 0)
		goto out;

	if ((h = calloc(1, sizeof(*h))) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	pthread_mutex_init(&h->pool_mtx, NULL);
	pthread_mutex_init(&h->obj_mtx, NULL);
	pthread_cond_init(&h->pool_cv, NULL);
	if ((h->pool = calloc(sessions, sizeof(*h->pool))) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	if ((h->fl = p11_kit_module_load(path, 0)) == NULL) {
		log_error("hsm: cannot load module %s: %s", path,
		    p11_kit_message() ? p11_kit_message() : "unknown");
		r = CAP_ERR_TOKEN;
		goto out;
	}
	if ((rv = p11_kit_module_initialize(h->fl)) != CKR_OK) {
		log_error("hsm: module %s: C_Initialize: %s", path,
		    hsm_ckr_name(rv));
		p11_kit_module_release(h->fl);
		h->fl = NULL;
		r = CAP_ERR_TOKEN;
		goto out;
	}
	if ((r = select_slot(h, u)) != 0)
		goto out;

	if ((rv = h->fl->C_OpenSession(h->slot, sflags, NULL, NULL,
	    &h->owner)) != CKR_OK) {
		r = hsm_ckr_err("C_OpenSession", rv);
		goto out;
	}
	h->owner_open = 1;
	if ((r = login(h, pin_source, u)) != 0)
		goto out;
	while (h->npool < sessions) {
		if ((rv = h->fl->C_OpenSession(h->slot, sflags, NULL, NULL,
		    &s)) != CKR_OK) {
			r = hsm_ckr_err("C_OpenSession", rv);
			goto out;
		}
		h->pool[h->npool++] = s;
		h->nfree++;
	}
	if ((r = probe_caps(h)) != 0)
		goto out;

	trim_copy(h->info.label, sizeof(h->info.label), h->tinfo.label,
	    sizeof(h->tinfo.label));
	trim_copy(h->info.manufacturer, sizeof(h->info.manufacturer),
	    h->tinfo.manufacturerID, sizeof(h->tinfo.manufacturerID));
	trim_copy(h->info.model, sizeof(h->info.model), h->tinfo.model,
	    sizeof(h->tinfo.model));
	trim_copy(h->info.serial, sizeof(h->info.serial),
	    h->tinfo.serialNumber, sizeof(h->tinfo.serialNumber));
	if ((size_t)snprintf(h->info.module_path, sizeof(h->info.module_path),
	    "%s", path) >= sizeof(h->info.module_path))
		log_warn("hsm: module path truncated in the token info");
	log_info("hsm: token \"%s\" (%s %s) in slot %lu, %u sessions",
	    h->info.label, h->info.manufacturer, h->info.model,
	    (unsigned long)h->slot, sessions);
	*out = h;	/* transferred */
	h = NULL;
	r = 0;
 out:
	hsm_free(h);
	if (u != NULL)
		p11_kit_uri_free(u);
	return r;
}

void
hsm_free(hsm *h)
{
	unsigned i;

	if (h == NULL)
		return;
	if (h->fl != NULL) {
		for (i = 0; i < h->nfree; i++)
			h->fl->C_CloseSession(h->pool[i]);
		if (h->nfree != h->npool)
			log_warn("hsm: %u sessions still lent out at close",
			    h->npool - h->nfree);
		if (h->logged_in)
			h->fl->C_Logout(h->owner);
		/* Closing the owner session destroys its session objects. */
		if (h->owner_open)
			h->fl->C_CloseSession(h->owner);
		p11_kit_module_finalize(h->fl);
		p11_kit_module_release(h->fl);
	}
	free(h->pool);
	pthread_mutex_destroy(&h->pool_mtx);
	pthread_mutex_destroy(&h->obj_mtx);
	pthread_cond_destroy(&h->pool_cv);
	sodium_memzero(h, sizeof(*h));
	free(h);
}

const hsm_caps *
hsm_get_caps(const hsm *h)
{
	return &h->caps;
}

void
hsm_get_token_info(const hsm *h, hsm_token_info *out)
{
	*out = h->info;
}

int
hsm_random(hsm *h, uint8_t *buf, size_t len)
{
	CK_SESSION_HANDLE s;
	CK_ULONG chunk;
	CK_RV rv = CKR_OK;
	int r;

	if (len == 0)
		return 0;
	if ((r = hsm_sess_get(h, &s)) != 0)
		return r;
	while (len > 0) {
		chunk = len > 4096 ? 4096 : (CK_ULONG)len;
		if ((rv = h->fl->C_GenerateRandom(s, buf, chunk)) != CKR_OK)
			break;
		buf += chunk;
		len -= chunk;
	}
	hsm_sess_put(h, s);
	return rv == CKR_OK ? 0 : hsm_ckr_err("C_GenerateRandom", rv);
}
