/*
 * hsm.h - the only door to PKCS#11.
 *
 * An `hsm` is one token in one module: the module is loaded through p11-kit
 * (only the module the URI names), the token is selected by an RFC 7512
 * `pkcs11:` URI, the user is logged in with a PIN taken from a file, an
 * environment variable or a systemd credential, and a pool of sessions is
 * kept so that several threads can sign and encrypt at once.  Nothing
 * outside hsm/ includes pkcs11.h: objects are named by the opaque
 * `hsm_obj` handle.
 *
 * Token quirks are handled here: calls that create or destroy objects are
 * serialised (SoftHSM 2.6 is not safe doing those from several threads),
 * ECDSA is done as hash-then-CKM_ECDSA, RSA-OAEP uses SHA-1/MGF1-SHA1 when
 * the token offers nothing better, and the mechanisms a token has are
 * probed once at open and exposed in `hsm_caps`.
 *
 * All functions return 0 or a negative CAP_ERR_* (common/err.h); CKR_*
 * codes are logged here and never escape.
 */
#ifndef CAP_HSM_H
#define CAP_HSM_H

#include <stddef.h>
#include <stdint.h>

typedef struct hsm hsm;
typedef unsigned long hsm_obj;	/* a PKCS#11 object handle; 0 = none */

typedef enum {
	HSM_KEY_EC_P256 = 1,
	HSM_KEY_EC_P384,
	HSM_KEY_RSA_2048,
	HSM_KEY_RSA_3072,
	HSM_KEY_ED25519,
	HSM_KEY_AES_256,
} hsm_key_type;

/* What the token can do, probed once at hsm_open. */
typedef struct hsm_caps {
	int aes_keygen;		/* CKM_AES_KEY_GEN */
	int aes_gcm;		/* CKM_AES_GCM encrypt/decrypt */
	int aes_key_wrap_pad;	/* CKM_AES_KEY_WRAP_PAD wrap and unwrap */
	int rsa_keygen;		/* CKM_RSA_PKCS_KEY_PAIR_GEN */
	int rsa_oaep;		/* CKM_RSA_PKCS_OAEP decrypt */
	int ec_keygen;		/* CKM_EC_KEY_PAIR_GEN */
	int ecdsa;		/* CKM_ECDSA */
	int eddsa;		/* CKM_EC_EDWARDS_KEY_PAIR_GEN and CKM_EDDSA */
	int rsa_pss;		/* CKM_RSA_PKCS_PSS */
} hsm_caps;

/* Token identity, strings NUL-terminated and right-trimmed. */
typedef struct hsm_token_info {
	char label[33];
	char manufacturer[33];
	char model[17];
	char serial[17];
	char module_path[256];
} hsm_token_info;

/* Master-key kinds. */
typedef enum {
	HSM_MK_NONE = 0,
	HSM_MK_AES = 1,		/* AES-256, wraps with CKM_AES_KEY_WRAP_PAD */
	HSM_MK_RSA = 2,		/* RSA-3072 pair, wraps with RSA-OAEP */
} hsm_mk_kind;

/* Attributes of the master key as the token reports them. */
typedef struct hsm_mk_info {
	hsm_mk_kind kind;
	char label[65];
	int token;		/* CKA_TOKEN */
	int sensitive;		/* CKA_SENSITIVE (private/secret key) */
	int extractable;	/* CKA_EXTRACTABLE */
	int always_sensitive;	/* CKA_ALWAYS_SENSITIVE */
	int never_extractable;	/* CKA_NEVER_EXTRACTABLE */
} hsm_mk_info;

/* Wrapping mechanism recorded beside every wrapped domain key. */
#define HSM_WRAP_AES_KWP	1	/* CKM_AES_KEY_WRAP_PAD under an AES MK */
#define HSM_WRAP_RSA_OAEP	2	/* RSA-OAEP(SHA-1) under an RSA MK */

#define HSM_DK_LEN		32	/* domain keys are AES-256 */
#define HSM_GCM_IV_LEN		12
#define HSM_GCM_TAG_LEN		16
#define HSM_MK_LABEL		"capstone-master"

/*
 * hsm_open loads the module and logs in.
 *   uri:        RFC 7512 token URI, e.g.
 *               "pkcs11:token=capstone?module-path=/usr/lib/softhsm/libsofthsm2.so"
 *   module:     module path overriding the URI's module-path/module-name,
 *               or NULL
 *   pin_source: "file:/path", "env:VAR", "credential:NAME" (read from
 *               $CREDENTIALS_DIRECTORY/NAME) or NULL to use the URI's
 *               pin-source / pin-value
 *   sessions:   size of the session pool (>= 1)
 * The PIN is read into locked memory, used for C_Login and wiped.
 * Returns CAP_ERR_TOKEN (module or token missing), CAP_ERR_PIN,
 * CAP_ERR_INVALID (bad URI) or CAP_ERR_NOMEM.
 */
int hsm_open(const char *uri, const char *module, const char *pin_source,
    unsigned sessions, hsm **out) __attribute__((warn_unused_result));

/*
 * hsm_free logs out, closes sessions (destroying the session objects made
 * through this hsm, such as unwrapped domain keys) and finalises the
 * module.  NULL is a no-op.
 */
void hsm_free(hsm *h);

const hsm_caps *hsm_get_caps(const hsm *h);
void hsm_get_token_info(const hsm *h, hsm_token_info *out);

/*
 * hsm_random fills buf from the token's random generator (C_GenerateRandom).
 *
 * Every call below borrows a session from the pool and blocks while all
 * are lent out; a session whose operation failed is replaced, because
 * tpm2-pkcs11 leaves a failed operation active.
 */
int hsm_random(hsm *h, uint8_t *buf, size_t len)
    __attribute__((warn_unused_result));

/* ---- master key ---- */

/*
 * hsm_mk_init creates the master key: an AES-256 token object (CKA_TOKEN,
 * CKA_SENSITIVE, not CKA_EXTRACTABLE, wrap/unwrap only) where the token can
 * generate AES keys and wrap with CKM_AES_KEY_WRAP_PAD, otherwise an
 * RSA-3072 key pair used with RSA-OAEP.  Label HSM_MK_LABEL.
 * Returns CAP_ERR_EXISTS if a master key is already there (it is never
 * overwritten), CAP_ERR_UNSUPPORTED if the token can do neither.
 */
int hsm_mk_init(hsm *h, hsm_mk_kind *kind_out)
    __attribute__((warn_unused_result));

/*
 * hsm_mk_info reads the master key's attributes.  CAP_ERR_NO_MASTER_KEY if
 * the token has none.  Called by hsm_open's users once at start-up.
 */
int hsm_mk_info_get(hsm *h, hsm_mk_info *out)
    __attribute__((warn_unused_result));

/* ---- domain keys ---- */

/*
 * hsm_dk_generate creates a new 256-bit domain key and returns it wrapped
 * under the master key (malloc'd, caller frees) with the mechanism used
 * (HSM_WRAP_*).  With an AES MK the key is generated in the token
 * (C_GenerateKey, session object) and wrapped with CKM_AES_KEY_WRAP_PAD;
 * with an RSA MK it comes from C_GenerateRandom and is encrypted with
 * RSA-OAEP under the MK's public key.  No plaintext copy survives the call.
 */
int hsm_dk_generate(hsm *h, uint8_t **wrapped, size_t *wrapped_len,
    int *mech) __attribute__((warn_unused_result));

/*
 * hsm_dk_unwrap_raw unwraps a domain key into `key` (HSM_DK_LEN bytes,
 * which the caller keeps in locked memory and wipes).  With an AES MK the
 * key passes through a temporary extractable session object that is
 * destroyed before the call returns; with an RSA MK it is C_Decrypt'ed.
 * Returns CAP_ERR_CRYPTO if the wrapped blob does not unwrap or `mech`
 * does not match the master key, CAP_ERR_INVALID for an unknown `mech`,
 * CAP_ERR_TOO_LARGE over 1 KiB, CAP_ERR_NO_MASTER_KEY.
 */
int hsm_dk_unwrap_raw(hsm *h, const uint8_t *wrapped, size_t wrapped_len,
    int mech, uint8_t key[HSM_DK_LEN]) __attribute__((warn_unused_result));

/*
 * hsm_dk_unwrap_obj unwraps a domain key as a sensitive, non-extractable
 * session object usable for CKM_AES_GCM (seal = token).  The object lives
 * until hsm_obj_destroy or hsm_free.  Needs an AES MK and aes_gcm;
 * CAP_ERR_UNSUPPORTED otherwise.
 */
int hsm_dk_unwrap_obj(hsm *h, const uint8_t *wrapped, size_t wrapped_len,
    int mech, hsm_obj *out) __attribute__((warn_unused_result));

/*
 * AES-256-GCM inside the token with a 12-byte IV and 16-byte tag.
 * hsm_gcm_encrypt writes ptlen + HSM_GCM_TAG_LEN bytes to ct.
 * hsm_gcm_decrypt writes ctlen - HSM_GCM_TAG_LEN bytes to pt and returns
 * CAP_ERR_CRYPTO when the tag does not verify.
 */
int hsm_gcm_encrypt(hsm *h, hsm_obj key, const uint8_t iv[HSM_GCM_IV_LEN],
    const uint8_t *aad, size_t aadlen, const uint8_t *pt, size_t ptlen,
    uint8_t *ct) __attribute__((warn_unused_result));
int hsm_gcm_decrypt(hsm *h, hsm_obj key, const uint8_t iv[HSM_GCM_IV_LEN],
    const uint8_t *aad, size_t aadlen, const uint8_t *ct, size_t ctlen,
    uint8_t *pt) __attribute__((warn_unused_result));

/* ---- general keys ---- */

/*
 * hsm_key_generate creates a key in the token.  Asymmetric keys produce a
 * pair (priv, pub); AES keys only *priv (pub is set to 0).  token_obj = 1
 * makes persistent token objects, 0 session objects.  label and id may be
 * NULL; id (up to 64 bytes) sets CKA_ID on both halves.  Private and secret
 * keys are CKA_SENSITIVE and not CKA_EXTRACTABLE.  CAP_ERR_UNSUPPORTED
 * when the token lacks the mechanism or refuses the template (tpm2-pkcs11
 * makes token objects only, and has no Ed25519 or C_GenerateKey).
 */
int hsm_key_generate(hsm *h, hsm_key_type type, const char *label,
    const uint8_t *id, size_t idlen, int token_obj, hsm_obj *priv,
    hsm_obj *pub) __attribute__((warn_unused_result));

/*
 * hsm_key_find looks up a private (or, for AES, secret) key and its public
 * half by CKA_ID.  *pub is 0 for AES.  CAP_ERR_NOT_FOUND if absent.
 */
int hsm_key_find(hsm *h, const uint8_t *id, size_t idlen, hsm_key_type *type,
    hsm_obj *priv, hsm_obj *pub) __attribute__((warn_unused_result));

/* hsm_key_public_der returns the SubjectPublicKeyInfo DER (malloc'd). */
int hsm_key_public_der(hsm *h, hsm_obj pub, uint8_t **der, size_t *len)
    __attribute__((warn_unused_result));

/*
 * hsm_sign signs data (the message, not a digest) with the private key:
 * ECDSA with SHA-256 (P-256) or SHA-384 (P-384), the digest computed here
 * and CKM_ECDSA in the token, the signature returned DER-encoded
 * (ECDSA-Sig-Value); RSA PKCS#1 v1.5 with SHA-256; Ed25519 pure EdDSA.
 * *sig is malloc'd.
 */
int hsm_sign(hsm *h, hsm_obj priv, hsm_key_type type, const uint8_t *data,
    size_t len, uint8_t **sig, size_t *siglen)
    __attribute__((warn_unused_result));

/* hsm_verify checks a signature made by hsm_sign; CAP_ERR_CRYPTO if bad. */
int hsm_verify(hsm *h, hsm_obj pub, hsm_key_type type, const uint8_t *data,
    size_t len, const uint8_t *sig, size_t siglen)
    __attribute__((warn_unused_result));

/* hsm_obj_destroy removes an object (serialised). */
int hsm_obj_destroy(hsm *h, hsm_obj obj);

/*
 * hsm_key_uri returns the RFC 7512 URI of an object (token attributes plus
 * object label/id/type), malloc'd (release with free()).  It carries no
 * module-path: pass the module to hsm_evp_pkey_load separately.
 */
int hsm_key_uri(hsm *h, hsm_obj obj, char **uri)
    __attribute__((warn_unused_result));

/* ---- OpenSSL bridge ---- */

struct evp_pkey_st;

/*
 * hsm_evp_pkey_load returns an EVP_PKEY whose private operations run in the
 * token, for use as a TLS or CMS signing key.  key_uri names the private
 * key (RFC 7512, object= or id=); module and pin_source as for hsm_open
 * (NULL: the URI's module-path/module-name and pin-source/pin-value).
 * CAP_ERR_NOT_FOUND if the engine finds no such key, CAP_ERR_TOKEN if the
 * engine or module does not load, CAP_ERR_PIN.
 * Uses the libp11 engine ("pkcs11"), never made the default engine so that
 * software keys keep working.  Call after hsm_open on the same module.
 */
int hsm_evp_pkey_load(const char *key_uri, const char *module,
    const char *pin_source, struct evp_pkey_st **out)
    __attribute__((warn_unused_result));

/* hsm_key_type_name / hsm_key_type_parse: "ec-p256", "rsa-2048", ... */
const char *hsm_key_type_name(hsm_key_type t);
int hsm_key_type_parse(const char *s, hsm_key_type *t);

#endif
