/*
 * test_hsm.c - the hsm/ layer against a fresh SoftHSM token: opening and
 * its failures, the master key, domain-key wrapping, AES-GCM in the token,
 * every key type's signatures (checked again in software), lookup,
 * destruction, concurrency and the OpenSSL engine bridge.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "common/err.h"
#include "hsm/hsm.h"
#include "tests/unit/harness.h"

#define MODULE	"/usr/lib/softhsm/libsofthsm2.so"

static const char *uri, *pin;

/*
 * SoftHSM 2.6.1 leaks a few bytes of parsed key parameters in C_SignInit;
 * that is the module's, not ours, so LeakSanitizer is told to skip it.
 * Full unwinding on malloc lets the suppression see the module's frames
 * through libcrypto, which has no frame pointers.
 */
const char *__lsan_default_suppressions(void);
const char *__asan_default_options(void);

const char *
__lsan_default_suppressions(void)
{
	return "leak:libsofthsm2.so\n";
}

const char *
__asan_default_options(void)
{
	return "fast_unwind_on_malloc=0";
}

/* Verify sig over msg with the SubjectPublicKeyInfo in der, in software. */
static int
sw_verify(const uint8_t *der, size_t derlen, hsm_key_type t,
    const uint8_t *msg, size_t len, const uint8_t *sig, size_t siglen)
{
	const unsigned char *p = der;
	EVP_PKEY *pk;
	EVP_MD_CTX *ctx = NULL;
	const EVP_MD *md = NULL;
	int ok = 0;

	if ((pk = d2i_PUBKEY(NULL, &p, (long)derlen)) == NULL)
		return 0;
	if (t == HSM_KEY_EC_P384)
		md = EVP_sha384();
	else if (t != HSM_KEY_ED25519)
		md = EVP_sha256();
	if ((ctx = EVP_MD_CTX_new()) != NULL &&
	    EVP_DigestVerifyInit(ctx, NULL, md, NULL, pk) == 1 &&
	    EVP_DigestVerify(ctx, sig, siglen, msg, len) == 1)
		ok = 1;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pk);
	return ok;
}

/* AES-256-GCM decryption in software, to prove the token used the DK. */
static int
sw_gcm_open(const uint8_t key[32], const uint8_t *iv, const uint8_t *aad,
    size_t aadlen, const uint8_t *ct, size_t ctlen, uint8_t *pt)
{
	EVP_CIPHER_CTX *c;
	int n, ok = 0;
	size_t len = ctlen - 16;

	if ((c = EVP_CIPHER_CTX_new()) == NULL)
		return 0;
	if (EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv) == 1 &&
	    EVP_DecryptUpdate(c, NULL, &n, aad, (int)aadlen) == 1 &&
	    EVP_DecryptUpdate(c, pt, &n, ct, (int)len) == 1 &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16,
	    (void *)(ct + len)) == 1 &&
	    EVP_DecryptFinal_ex(c, pt + n, &n) == 1)
		ok = 1;
	EVP_CIPHER_CTX_free(c);
	return ok;
}

static void
test_open_errors(void)
{
	char buf[512];
	const char *d;
	FILE *f;
	hsm *h = NULL;

	TH_EQ_INT(hsm_open("not a uri", NULL, pin, 1, &h), CAP_ERR_INVALID,
	    "hsm_open rejects a string that is not a pkcs11: URI");
	TH_EQ_INT(hsm_open("pkcs11:token=test", NULL, pin, 1, &h),
	    CAP_ERR_INVALID, "hsm_open rejects a URI naming no module");
	TH_EQ_INT(hsm_open(uri, NULL, pin, 0, &h), CAP_ERR_INVALID,
	    "hsm_open rejects a pool of 0 sessions");
	snprintf(buf, sizeof(buf), "pkcs11:token=nosuch?module-path=%s",
	    MODULE);
	TH_EQ_INT(hsm_open(buf, NULL, pin, 1, &h), CAP_ERR_TOKEN,
	    "hsm_open of an unknown token gives CAP_ERR_TOKEN");
	TH_EQ_INT(hsm_open("pkcs11:token=test?module-path=/nonexistent.so",
	    NULL, pin, 1, &h), CAP_ERR_TOKEN,
	    "hsm_open of a missing module gives CAP_ERR_TOKEN");
	setenv("CAP_TEST_BAD_PIN", "9999", 1);
	TH_EQ_INT(hsm_open(uri, NULL, "env:CAP_TEST_BAD_PIN", 1, &h),
	    CAP_ERR_PIN, "hsm_open with a wrong PIN gives CAP_ERR_PIN");
	TH_EQ_INT(hsm_open(uri, NULL, "file:/nonexistent/pin", 1, &h),
	    CAP_ERR_PIN, "hsm_open with an unreadable PIN file gives "
	    "CAP_ERR_PIN");
	TH_EQ_INT(hsm_open(uri, NULL, "env:CAP_TEST_UNSET_VAR", 1, &h),
	    CAP_ERR_PIN, "hsm_open with an unset PIN variable gives "
	    "CAP_ERR_PIN");
	th_check(h == NULL, "a failed hsm_open leaves *out NULL", "got %p",
	    (void *)h);

	/* pin-value and module-name from the URI itself. */
	snprintf(buf, sizeof(buf),
	    "pkcs11:token=test?module-name=softhsm2&pin-value=1234");
	TH_EQ_INT(hsm_open(buf, NULL, NULL, 1, &h), 0,
	    "hsm_open with module-name and pin-value in the URI");
	hsm_free(h);
	h = NULL;
	setenv("CAP_TEST_GOOD_PIN", "1234\n", 1);
	TH_EQ_INT(hsm_open(uri, NULL, "env:CAP_TEST_GOOD_PIN", 1, &h), 0,
	    "hsm_open with an env: PIN source strips the newline");
	hsm_free(h);
	h = NULL;
	if ((d = th_tmpdir()) != NULL) {
		snprintf(buf, sizeof(buf), "%s/tokenpin", d);
		if ((f = fopen(buf, "w")) != NULL) {
			fprintf(f, "1234\r\n");
			fclose(f);
		}
		setenv("CREDENTIALS_DIRECTORY", d, 1);
		TH_EQ_INT(hsm_open(uri, NULL, "credential:tokenpin", 1, &h), 0,
		    "hsm_open with a systemd credential PIN (CRLF stripped)");
		hsm_free(h);
		h = NULL;
		TH_EQ_INT(hsm_open(uri, NULL, "credential:../pin", 1, &h),
		    CAP_ERR_PIN, "a credential name with a slash is refused");
		unsetenv("CREDENTIALS_DIRECTORY");
	}
	TH_EQ_INT(hsm_open(uri, NULL, "pin:1234", 1, &h), CAP_ERR_PIN,
	    "an unknown PIN source scheme is refused");
	hsm_free(NULL);
}

static void
test_master_and_domain_keys(hsm *h)
{
	hsm_mk_kind kind = HSM_MK_NONE;
	hsm_mk_info mi;
	uint8_t *w = NULL, *w2 = NULL, k1[HSM_DK_LEN], k2[HSM_DK_LEN];
	uint8_t zero[HSM_DK_LEN] = { 0 };
	uint8_t iv[HSM_GCM_IV_LEN], pt[100], ct[100 + HSM_GCM_TAG_LEN];
	uint8_t out[100], sw[100];
	const uint8_t aad[] = "payments|db|1";
	size_t wl = 0, wl2 = 0;
	int mech = 0, mech2 = 0, r;
	hsm_obj dk = 0;

	TH_EQ_INT(hsm_mk_info_get(h, &mi), CAP_ERR_NO_MASTER_KEY,
	    "hsm_mk_info_get before init gives CAP_ERR_NO_MASTER_KEY");
	TH_EQ_INT(hsm_dk_generate(h, &w, &wl, &mech), CAP_ERR_NO_MASTER_KEY,
	    "hsm_dk_generate without a master key fails");
	TH_EQ_INT(hsm_mk_init(h, &kind), 0, "hsm_mk_init creates a key");
	TH_EQ_INT(kind, HSM_MK_AES, "SoftHSM gets an AES master key");
	TH_EQ_INT(hsm_mk_init(h, &kind), CAP_ERR_EXISTS,
	    "a second hsm_mk_init gives CAP_ERR_EXISTS");
	TH_EQ_INT(hsm_mk_info_get(h, &mi), 0, "hsm_mk_info_get");
	TH_EQ_INT(mi.kind, HSM_MK_AES, "master key kind is AES");
	TH_EQ_INT(mi.sensitive, 1, "master key is sensitive");
	TH_EQ_INT(mi.extractable, 0, "master key is not extractable");
	TH_EQ_INT(mi.token, 1, "master key is a token object");
	TH_EQ_INT(mi.never_extractable, 1, "master key was never extractable");
	th_check(strcmp(mi.label, HSM_MK_LABEL) == 0,
	    "master key has the master-key label", "got \"%s\"", mi.label);

	TH_EQ_INT(hsm_dk_generate(h, &w, &wl, &mech), 0, "hsm_dk_generate");
	TH_EQ_INT(mech, HSM_WRAP_AES_KWP, "domain key wrapped with AES-KWP");
	TH_EQ_INT(wl, HSM_DK_LEN + 8, "wrapped domain key is 40 bytes");
	TH_EQ_INT(hsm_dk_generate(h, &w2, &wl2, &mech2), 0,
	    "a second hsm_dk_generate");
	th_check(wl == wl2 && memcmp(w, w2, wl) != 0,
	    "two domain keys differ", "wrapped blobs are equal");
	TH_EQ_INT(hsm_dk_unwrap_raw(h, w, wl, mech, k1), 0,
	    "hsm_dk_unwrap_raw");
	TH_EQ_INT(hsm_dk_unwrap_raw(h, w, wl, mech, k2), 0,
	    "hsm_dk_unwrap_raw again");
	th_check(sodium_memcmp(k1, k2, HSM_DK_LEN) == 0,
	    "unwrapping twice gives the same 32 bytes", "keys differ");
	th_check(sodium_memcmp(k1, zero, HSM_DK_LEN) != 0,
	    "the unwrapped key is not all zero", "all zero");
	TH_EQ_INT(hsm_dk_unwrap_raw(h, w2, wl2, mech2, k2), 0,
	    "hsm_dk_unwrap_raw of the second key");
	th_check(sodium_memcmp(k1, k2, HSM_DK_LEN) != 0,
	    "the second key unwraps to other bytes", "keys are equal");

	w2[5] ^= 0x01;
	TH_EQ_INT(hsm_dk_unwrap_raw(h, w2, wl2, mech2, k2), CAP_ERR_CRYPTO,
	    "a corrupted wrapped key gives CAP_ERR_CRYPTO");
	TH_EQ_INT(hsm_dk_unwrap_raw(h, w2, wl2 - 8, mech2, k2),
	    CAP_ERR_CRYPTO, "a truncated wrapped key gives CAP_ERR_CRYPTO");
	TH_EQ_INT(hsm_dk_unwrap_raw(h, w, wl, HSM_WRAP_RSA_OAEP, k2),
	    CAP_ERR_CRYPTO, "a mechanism that does not match the master key "
	    "gives CAP_ERR_CRYPTO");
	TH_EQ_INT(hsm_dk_unwrap_raw(h, w, wl, 99, k2), CAP_ERR_INVALID,
	    "an unknown mechanism gives CAP_ERR_INVALID");

	TH_EQ_INT(hsm_dk_unwrap_obj(h, w, wl, mech, &dk), 0,
	    "hsm_dk_unwrap_obj");
	th_check(dk != 0, "hsm_dk_unwrap_obj gives a handle", "got 0");
	r = hsm_random(h, iv, sizeof(iv));
	TH_EQ_INT(r, 0, "hsm_random");
	memset(pt, 'p', sizeof(pt));
	TH_EQ_INT(hsm_gcm_encrypt(h, dk, iv, aad, sizeof(aad) - 1, pt,
	    sizeof(pt), ct), 0, "hsm_gcm_encrypt");
	TH_EQ_INT(hsm_gcm_decrypt(h, dk, iv, aad, sizeof(aad) - 1, ct,
	    sizeof(ct), out), 0, "hsm_gcm_decrypt");
	th_check(memcmp(out, pt, sizeof(pt)) == 0,
	    "AES-GCM in the token round-trips", "plaintext differs");
	th_check(sw_gcm_open(k1, iv, aad, sizeof(aad) - 1, ct, sizeof(ct),
	    sw) && memcmp(sw, pt, sizeof(pt)) == 0,
	    "the token's ciphertext opens in software with the raw DK",
	    "software GCM failed");
	ct[sizeof(ct) - 1] ^= 0x80;
	TH_EQ_INT(hsm_gcm_decrypt(h, dk, iv, aad, sizeof(aad) - 1, ct,
	    sizeof(ct), out), CAP_ERR_CRYPTO,
	    "a tampered tag gives CAP_ERR_CRYPTO");
	ct[sizeof(ct) - 1] ^= 0x80;
	TH_EQ_INT(hsm_gcm_decrypt(h, dk, iv, aad, sizeof(aad) - 2, ct,
	    sizeof(ct), out), CAP_ERR_CRYPTO,
	    "other associated data gives CAP_ERR_CRYPTO");
	TH_EQ_INT(hsm_gcm_encrypt(h, dk, iv, NULL, 0, NULL, 0, ct), 0,
	    "AES-GCM of an empty message");
	TH_EQ_INT(hsm_gcm_decrypt(h, dk, iv, NULL, 0, ct, HSM_GCM_TAG_LEN,
	    out), 0, "AES-GCM opens an empty message");
	TH_EQ_INT(hsm_obj_destroy(h, dk), 0, "hsm_obj_destroy of the DK");

	sodium_memzero(k1, sizeof(k1));
	sodium_memzero(k2, sizeof(k2));
	free(w);
	free(w2);
}

static void
test_key_type(hsm *h, hsm_key_type t)
{
	char name[96], *kuri = NULL;
	const uint8_t msg[] = "capstone signs this";
	uint8_t id[8], *sig = NULL, *der = NULL;
	size_t siglen = 0, derlen = 0;
	hsm_obj priv = 0, pub = 0, p2 = 0, q2 = 0;
	hsm_key_type ft = 0;
	const char *tn = hsm_key_type_name(t);

	memset(id, 0, sizeof(id));
	id[0] = (uint8_t)t;
	id[7] = 0x5a;
	snprintf(name, sizeof(name), "%s: hsm_key_generate", tn);
	if (!TH_EQ_INT(hsm_key_generate(h, t, tn, id, sizeof(id), 1, &priv,
	    &pub), 0, name))
		return;
	snprintf(name, sizeof(name), "%s: hsm_sign", tn);
	TH_EQ_INT(hsm_sign(h, priv, t, msg, sizeof(msg), &sig, &siglen), 0,
	    name);
	snprintf(name, sizeof(name), "%s: hsm_verify accepts the signature",
	    tn);
	TH_EQ_INT(hsm_verify(h, pub, t, msg, sizeof(msg), sig, siglen), 0,
	    name);
	snprintf(name, sizeof(name), "%s: hsm_verify rejects another message",
	    tn);
	TH_EQ_INT(hsm_verify(h, pub, t, msg, sizeof(msg) - 1, sig, siglen),
	    CAP_ERR_CRYPTO, name);
	snprintf(name, sizeof(name), "%s: hsm_key_public_der", tn);
	TH_EQ_INT(hsm_key_public_der(h, pub, &der, &derlen), 0, name);
	snprintf(name, sizeof(name), "%s: OpenSSL verifies the token's "
	    "signature with the exported public key", tn);
	th_check(der != NULL && sig != NULL && sw_verify(der, derlen, t, msg,
	    sizeof(msg), sig, siglen), name, "EVP_DigestVerify failed");
	snprintf(name, sizeof(name), "%s: hsm_key_find by id", tn);
	TH_EQ_INT(hsm_key_find(h, id, sizeof(id), &ft, &p2, &q2), 0, name);
	snprintf(name, sizeof(name), "%s: hsm_key_find finds the same key",
	    tn);
	th_check(ft == t && p2 == priv && q2 == pub, name,
	    "type %d priv %lu pub %lu, wanted %d %lu %lu", (int)ft, p2, q2,
	    (int)t, priv, pub);
	snprintf(name, sizeof(name), "%s: hsm_key_uri", tn);
	TH_EQ_INT(hsm_key_uri(h, priv, &kuri), 0, name);
	snprintf(name, sizeof(name), "%s: the key URI names token, object "
	    "and id", tn);
	th_check(kuri != NULL && strncmp(kuri, "pkcs11:", 7) == 0 &&
	    strstr(kuri, "token=test") != NULL &&
	    strstr(kuri, "type=private") != NULL &&
	    strstr(kuri, "id=") != NULL, name, "got %s",
	    kuri ? kuri : "(null)");
	snprintf(name, sizeof(name), "%s: hsm_obj_destroy", tn);
	TH_EQ_INT(hsm_obj_destroy(h, priv) | hsm_obj_destroy(h, pub), 0,
	    name);
	snprintf(name, sizeof(name), "%s: a destroyed key is not found", tn);
	TH_EQ_INT(hsm_key_find(h, id, sizeof(id), &ft, &p2, &q2),
	    CAP_ERR_NOT_FOUND, name);
	free(kuri);
	free(sig);
	free(der);
}

struct signer {
	hsm		*h;
	hsm_obj		 priv, pub;
	int		 errors;
};

static void *
sign_loop(void *arg)
{
	struct signer *s = arg;
	uint8_t msg[32], *sig;
	size_t siglen;
	int i;

	for (i = 0; i < 100; i++) {
		memset(msg, i, sizeof(msg));
		if (hsm_sign(s->h, s->priv, HSM_KEY_EC_P256, msg, sizeof(msg),
		    &sig, &siglen) != 0) {
			s->errors++;
			continue;
		}
		if (hsm_verify(s->h, s->pub, HSM_KEY_EC_P256, msg,
		    sizeof(msg), sig, siglen) != 0)
			s->errors++;
		free(sig);
	}
	return NULL;
}

static void
test_threads(hsm *h)
{
	struct signer s[8];
	pthread_t th[8];
	hsm_obj priv, pub;
	int i, errors = 0, started = 0;

	if (!TH_EQ_INT(hsm_key_generate(h, HSM_KEY_EC_P256, "threads", NULL,
	    0, 0, &priv, &pub), 0, "session EC key for the thread test"))
		return;
	for (i = 0; i < 8; i++) {
		s[i].h = h;
		s[i].priv = priv;
		s[i].pub = pub;
		s[i].errors = 0;
		if (pthread_create(&th[i], NULL, sign_loop, &s[i]) == 0)
			started++;
		else
			break;
	}
	for (i = 0; i < started; i++) {
		pthread_join(th[i], NULL);
		errors += s[i].errors;
	}
	TH_EQ_INT(started, 8, "8 signing threads started");
	TH_EQ_INT(errors, 0, "8 threads x 100 sign+verify on a pool of 4 "
	    "sessions, no error");
	if (hsm_obj_destroy(h, priv) != 0 || hsm_obj_destroy(h, pub) != 0)
		th_check(0, "destroy the thread-test key", "failed");
}

static void
test_engine(hsm *h)
{
	const uint8_t id[] = { 0x42, 0x43 }, msg[] = "tls handshake";
	hsm_obj priv = 0, pub = 0;
	char *kuri = NULL;
	uint8_t *der = NULL, *sig = NULL, *sig2 = NULL;
	size_t derlen = 0, siglen = 0, sig2len = 0;
	EVP_PKEY *pk = NULL;
	EVP_MD_CTX *ctx = NULL;

	if (!TH_EQ_INT(hsm_key_generate(h, HSM_KEY_EC_P256, "engine-key", id,
	    sizeof(id), 1, &priv, &pub), 0, "engine: token EC key"))
		return;
	if (hsm_key_uri(h, priv, &kuri) != 0 ||
	    hsm_key_public_der(h, pub, &der, &derlen) != 0) {
		th_check(0, "engine: key URI and public key", "failed");
		goto out;
	}
	TH_EQ_INT(hsm_evp_pkey_load(kuri, MODULE, pin, &pk), 0,
	    "engine: hsm_evp_pkey_load of a token EC key");
	if (pk == NULL)
		goto out;
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pk) != 1 ||
	    EVP_DigestSign(ctx, NULL, &siglen, msg, sizeof(msg)) != 1 ||
	    (sig = malloc(siglen)) == NULL ||
	    EVP_DigestSign(ctx, sig, &siglen, msg, sizeof(msg)) != 1)
		th_check(0, "engine: EVP_DigestSign with the token key",
		    "failed");
	else
		th_check(sw_verify(der, derlen, HSM_KEY_EC_P256, msg,
		    sizeof(msg), sig, siglen), "engine: EVP_DigestSign with "
		    "the token key verifies in software", "verify failed");
	TH_EQ_INT(hsm_sign(h, priv, HSM_KEY_EC_P256, msg, sizeof(msg), &sig2,
	    &sig2len), 0, "engine: the hsm still signs after the engine "
	    "loaded the same module");
	EVP_PKEY_free(pk);
	pk = NULL;
	{
		/* A URI carrying module and PIN source in its query part. */
		char qu[1024];

		snprintf(qu, sizeof(qu), "%s?module-path=%s&pin-source=%s",
		    kuri, MODULE, pin);
		TH_EQ_INT(hsm_evp_pkey_load(qu, NULL, NULL, &pk), 0,
		    "engine: a key URI with module-path and pin-source "
		    "in its query loads");
		EVP_PKEY_free(pk);
		pk = NULL;
	}
	TH_EQ_INT(hsm_evp_pkey_load("pkcs11:token=test;object=absent",
	    MODULE, pin, &pk), CAP_ERR_NOT_FOUND,
	    "engine: a missing key gives CAP_ERR_NOT_FOUND");
	th_check(pk == NULL, "engine: no key on failure", "got a key");
 out:
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pk);
	free(kuri);
	free(der);
	free(sig);
	free(sig2);
}

int
main(void)
{
	hsm *h = NULL;
	const hsm_caps *c;
	hsm_token_info ti;
	uint8_t rnd[64], zero[64] = { 0 }, *w = NULL;
	size_t wl;
	int mech;
	hsm_key_type kt;
	hsm_obj k = 0, p = 1;
	static const hsm_key_type types[] = {
		HSM_KEY_EC_P256, HSM_KEY_EC_P384, HSM_KEY_RSA_2048,
		HSM_KEY_ED25519, HSM_KEY_RSA_3072,
	};
	size_t i;

	if (sodium_init() < 0 || th_softhsm_token(&uri, &pin) != 0) {
		th_check(0, "SoftHSM test token", "could not be created");
		return th_done();
	}
	test_open_errors();

	if (!TH_EQ_INT(hsm_open(uri, NULL, pin, 4, &h), 0, "hsm_open"))
		return th_done();
	c = hsm_get_caps(h);
	TH_EQ_INT(c->aes_gcm, 1, "SoftHSM offers AES-GCM");
	TH_EQ_INT(c->aes_key_wrap_pad, 1, "SoftHSM offers AES-KWP");
	TH_EQ_INT(c->aes_keygen, 1, "SoftHSM generates AES keys");
	TH_EQ_INT(c->ec_keygen && c->ecdsa && c->rsa_keygen && c->rsa_oaep,
	    1, "SoftHSM offers EC, ECDSA, RSA and OAEP");
	hsm_get_token_info(h, &ti);
	th_check(strcmp(ti.label, "test") == 0 &&
	    strcmp(ti.module_path, MODULE) == 0 && ti.serial[0] != '\0',
	    "token info names label, module and serial", "label \"%s\" "
	    "module \"%s\"", ti.label, ti.module_path);
	TH_EQ_INT(hsm_random(h, rnd, sizeof(rnd)), 0, "hsm_random 64 bytes");
	th_check(memcmp(rnd, zero, sizeof(rnd)) != 0,
	    "hsm_random gives non-zero bytes", "all zero");

	test_master_and_domain_keys(h);
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		test_key_type(h, types[i]);

	TH_EQ_INT(hsm_key_generate(h, HSM_KEY_AES_256, "aes", (const uint8_t *)
	    "aes1", 4, 0, &k, &p), 0, "aes-256: hsm_key_generate");
	TH_EQ_INT(p, 0, "aes-256: no public half");
	TH_EQ_INT(hsm_key_find(h, (const uint8_t *)"aes1", 4, &kt, &k, &p), 0,
	    "aes-256: hsm_key_find");
	TH_EQ_INT(kt, HSM_KEY_AES_256, "aes-256: found as aes-256");
	TH_EQ_INT(hsm_key_find(h, (const uint8_t *)"nope", 4, &kt, &k, &p),
	    CAP_ERR_NOT_FOUND, "hsm_key_find of an unknown id");
	th_check(hsm_key_type_parse("ed25519", &kt) == 0 &&
	    kt == HSM_KEY_ED25519 && hsm_key_type_parse("dsa", &kt) ==
	    CAP_ERR_INVALID && strcmp(hsm_key_type_name(HSM_KEY_RSA_3072),
	    "rsa-3072") == 0, "key type names parse and print", "mismatch");

	test_threads(h);
	test_engine(h);

	TH_EQ_INT(hsm_dk_generate(h, &w, &wl, &mech), 0,
	    "hsm_dk_generate still works at the end");
	free(w);
	hsm_free(h);
	return th_done();
}
