/*
 * test_keys.c - the key service, its inventory and CSRs against a fresh
 * SoftHSM token: every key type is generated, found, described, signed
 * with and destroyed; every signing type gets a CSR that verifies against
 * its public key; the inventory record codec and the subject and SAN
 * parsers accept what they should and refuse the rest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/err.h"
#include "crypto/csr.h"
#include "crypto/keys.h"
#include "hsm/hsm.h"
#include "store/keydb.h"
#include "store/store.h"
#include "tests/unit/harness.h"

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

static void
test_codec(void)
{
	struct store_key k, d;
	uint8_t *buf = NULL;
	size_t len = 0, i;
	int bad = 0;

	memset(&k, 0, sizeof(k));
	k.type = HSM_KEY_EC_P256;
	k.created = 1700000000;
	k.owner = STORE_KEY_OWNER_USER;
	strcpy(k.label, "vnf1");
	strcpy(k.token, "test");
	TH_EQ_INT(store_record_encode_key(&k, &buf, &len), 0,
	    "a key record encodes");
	TH_EQ_INT(store_record_decode_key(buf, len, &d), 0,
	    "and decodes");
	th_check(d.type == k.type && d.created == k.created &&
	    d.owner == k.owner && strcmp(d.label, "vnf1") == 0 &&
	    strcmp(d.token, "test") == 0, "the decoded record is the same",
	    "fields differ");
	for (i = 0; i < len; i++)
		if (store_record_decode_key(buf, i, &d) != CAP_ERR_CORRUPT)
			bad++;
	TH_EQ_INT(bad, 0, "every truncation of a key record is refused");
	buf[0] = 2;
	TH_EQ_INT(store_record_decode_key(buf, len, &d), CAP_ERR_CORRUPT,
	    "an unknown record format is refused");
	free(buf);
	k.owner = 9;
	TH_EQ_INT(store_record_encode_key(&k, &buf, &len), CAP_ERR_INVALID,
	    "an unknown owner is not encoded");
	k.owner = STORE_KEY_OWNER_CA;
	strcpy(k.label, "a\nb");
	TH_EQ_INT(store_record_encode_key(&k, &buf, &len), CAP_ERR_INVALID,
	    "a label with a control character is not encoded");
}

static int
name_is(X509_NAME *nm, const char *want)
{
	char buf[512];

	X509_NAME_oneline(nm, buf, sizeof(buf));
	if (strcmp(buf, want) != 0) {
		fprintf(stderr, "subject %s, wanted %s\n", buf, want);
		return 0;
	}
	return 1;
}

static void
test_parsers(void)
{
	const char *good[] = { "DNS:a.example", "IP:192.0.2.1",
	    "IP:2001:db8::1", "URI:spiffe://x/y", "email:a@b.example" };
	const char *bad1[] = { "DNS:" }, *bad2[] = { "FOO:x" },
	    *bad3[] = { "IP:300.1.1.1" }, *bad4[] = { "DNS:a b" },
	    *bad5[] = { "email:nobody" };
	GENERAL_NAMES *g = NULL;
	X509_NAME *nm = NULL;

	TH_EQ_INT(csr_subject_parse("CN=a, O=Acme\\, Inc.,C=FI", &nm), 0,
	    "a subject with an escaped comma parses");
	th_check(nm != NULL && name_is(nm, "/CN=a/O=Acme, Inc./C=FI"),
	    "its attributes are in order with the comma kept", "differs");
	X509_NAME_free(nm);
	TH_EQ_INT(csr_subject_parse("", &nm), 0, "an empty subject parses");
	th_check(nm != NULL && X509_NAME_entry_count(nm) == 0,
	    "to an empty name", "not empty");
	X509_NAME_free(nm);
	TH_EQ_INT(csr_subject_parse("CN", &nm), CAP_ERR_INVALID,
	    "an attribute without a value is refused");
	TH_EQ_INT(csr_subject_parse("CN=a,", &nm), CAP_ERR_INVALID,
	    "a trailing comma is refused");
	TH_EQ_INT(csr_subject_parse("XX=a", &nm), CAP_ERR_INVALID,
	    "an unknown attribute is refused");
	TH_EQ_INT(csr_subject_parse("CN=a\\", &nm), CAP_ERR_INVALID,
	    "a dangling backslash is refused");
	TH_EQ_INT(csr_subject_parse("C=Finland", &nm), CAP_ERR_INVALID,
	    "a country of more than two letters is refused");
	TH_EQ_INT(csr_sans_parse(good, 5, &g), 0,
	    "DNS, IPv4, IPv6, URI and email SANs parse");
	TH_EQ_INT(g != NULL ? sk_GENERAL_NAME_num(g) : -1, 5,
	    "into five general names");
	GENERAL_NAMES_free(g);
	TH_EQ_INT(csr_sans_parse(bad1, 1, &g), CAP_ERR_INVALID,
	    "an empty SAN value is refused");
	TH_EQ_INT(csr_sans_parse(bad2, 1, &g), CAP_ERR_INVALID,
	    "an unknown SAN kind is refused");
	TH_EQ_INT(csr_sans_parse(bad3, 1, &g), CAP_ERR_INVALID,
	    "a bad IP address is refused");
	TH_EQ_INT(csr_sans_parse(bad4, 1, &g), CAP_ERR_INVALID,
	    "a SAN with a space is refused");
	TH_EQ_INT(csr_sans_parse(bad5, 1, &g), CAP_ERR_INVALID,
	    "an email SAN without @ is refused");
}

/* The CSR for key k verifies against its own public key, with its SANs. */
static void
check_csr(hsm *h, const struct key_info *k, hsm_obj priv, hsm_obj pub)
{
	const char *sans[] = { "DNS:vnf1.example", "IP:192.0.2.7" };
	char name[160];
	const unsigned char *p;
	uint8_t *der = NULL;
	size_t len = 0;
	X509_REQ *req = NULL, *back = NULL;
	EVP_PKEY *pk = NULL;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	char *pem = NULL;
	BIO *bio = NULL;

	snprintf(name, sizeof(name), "%s: CSR built in the token",
	    hsm_key_type_name(k->type));
	if (!TH_EQ_INT(keys_public_der(h, pub, &der, &len), 0, name))
		return;
	TH_EQ_INT(csr_build(h, priv, k->type, der, len, "CN=vnf1,O=Example",
	    sans, 2, &req), 0, name);
	p = der;
	pk = d2i_PUBKEY(NULL, &p, (long)len);
	snprintf(name, sizeof(name), "%s: CSR signature verifies",
	    hsm_key_type_name(k->type));
	th_check(req != NULL && pk != NULL && X509_REQ_verify(req, pk) == 1,
	    name, "X509_REQ_verify did not accept it");
	snprintf(name, sizeof(name), "%s: CSR survives PEM and verifies",
	    hsm_key_type_name(k->type));
	if (req != NULL && csr_pem(req, &pem) == 0 &&
	    (bio = BIO_new_mem_buf(pem, -1)) != NULL)
		back = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
	th_check(back != NULL && X509_REQ_verify(back, pk) == 1, name,
	    "reparsed request did not verify");
	if (back != NULL)
		exts = X509_REQ_get_extensions(back);
	snprintf(name, sizeof(name), "%s: CSR asks for the SANs",
	    hsm_key_type_name(k->type));
	th_check(exts != NULL && X509v3_get_ext_by_NID(exts,
	    NID_subject_alt_name, -1) >= 0, name, "no subjectAltName");
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	BIO_free(bio);
	free(pem);
	X509_REQ_free(back);
	X509_REQ_free(req);
	EVP_PKEY_free(pk);
	free(der);
}

static void
test_type(hsm *h, store *s, hsm_key_type t)
{
	struct key_info k, g;
	hsm_obj priv = 0, pub = 0;
	uint8_t *sig = NULL;
	size_t siglen = 0;
	char *pem = NULL, *uri = NULL, name[160];
	const char *tn = hsm_key_type_name(t);
	const uint8_t msg[] = "message to sign";
	uint8_t id[STORE_KEY_ID_LEN];

	snprintf(name, sizeof(name), "%s: generated in the token", tn);
	if (!TH_EQ_INT(keys_generate(h, s, t, "unit", STORE_KEY_OWNER_USER,
	    &k), 0, name))
		return;
	snprintf(name, sizeof(name), "%s: id is 32 hex characters", tn);
	TH_EQ_INT(store_key_id_parse(k.id, id), 0, name);
	snprintf(name, sizeof(name), "%s: found again by id", tn);
	TH_EQ_INT(keys_get(h, s, k.id, &g, &priv, &pub), 0, name);
	snprintf(name, sizeof(name), "%s: record says type, label, owner",
	    tn);
	th_check(g.type == t && strcmp(g.label, "unit") == 0 &&
	    g.owner == STORE_KEY_OWNER_USER && g.created > 0 &&
	    strcmp(g.token, "test") == 0, name, "record fields differ");
	snprintf(name, sizeof(name), "%s: pkcs11 URI with id, no query", tn);
	th_check(keys_uri(h, priv, &uri) == 0 && uri != NULL &&
	    strncmp(uri, "pkcs11:", 7) == 0 && strstr(uri, "id=") != NULL &&
	    strchr(uri, '?') == NULL, name, "uri %s", uri ? uri : "(none)");
	free(uri);
	if (t == HSM_KEY_AES_256) {
		TH_EQ_INT(pub, 0, "aes-256: no public half");
		TH_EQ_INT(keys_public_pem(h, pub, &pem), CAP_ERR_INVALID,
		    "aes-256: no public key PEM");
	} else {
		snprintf(name, sizeof(name), "%s: public key PEM", tn);
		th_check(keys_public_pem(h, pub, &pem) == 0 && pem != NULL &&
		    strncmp(pem, "-----BEGIN PUBLIC KEY-----", 26) == 0,
		    name, "no PEM");
		free(pem);
		snprintf(name, sizeof(name), "%s: sign and verify", tn);
		th_check(hsm_sign(h, priv, t, msg, sizeof(msg), &sig,
		    &siglen) == 0 && hsm_verify(h, pub, t, msg, sizeof(msg),
		    sig, siglen) == 0, name, "signature did not verify");
		free(sig);
		check_csr(h, &k, priv, pub);
	}
	snprintf(name, sizeof(name), "%s: destroyed", tn);
	TH_EQ_INT(keys_destroy(h, s, k.id), 0, name);
	snprintf(name, sizeof(name), "%s: gone from the inventory", tn);
	TH_EQ_INT(keys_get(h, s, k.id, &g, NULL, NULL), CAP_ERR_NOT_FOUND,
	    name);
	snprintf(name, sizeof(name), "%s: gone from the token", tn);
	TH_EQ_INT(hsm_key_find(h, id, sizeof(id), NULL, &priv, &pub),
	    CAP_ERR_NOT_FOUND, name);
}

int
main(void)
{
	static const hsm_key_type types[] = { HSM_KEY_EC_P256,
	    HSM_KEY_EC_P384, HSM_KEY_RSA_2048, HSM_KEY_RSA_3072,
	    HSM_KEY_ED25519, HSM_KEY_AES_256 };
	const char *uri, *pin;
	char path[1024];
	struct key_info k, *list = NULL;
	size_t n = 0, i;
	hsm *h = NULL;
	store *s = NULL;

	test_codec();
	test_parsers();
	if (th_softhsm_token(&uri, &pin) != 0)
		return 1;
	snprintf(path, sizeof(path), "%s/store", th_tmpdir());
	if (!TH_EQ_INT(hsm_open(uri, NULL, pin, 2, &h), 0, "token opens") ||
	    !TH_EQ_INT(store_open(path, 0, 1, &s), 0, "store opens"))
		goto out;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		test_type(h, s, types[i]);
	TH_EQ_INT(keys_generate(h, s, HSM_KEY_EC_P256, "a\tb",
	    STORE_KEY_OWNER_USER, &k), CAP_ERR_INVALID,
	    "a label with a control character is refused");
	TH_EQ_INT(keys_get(h, s, "zz", &k, NULL, NULL), CAP_ERR_INVALID,
	    "a malformed id is refused");
	TH_EQ_INT(keys_get(h, s, "00000000000000000000000000000000", &k,
	    NULL, NULL), CAP_ERR_NOT_FOUND, "an unknown id is not found");
	TH_EQ_INT(keys_generate(h, s, HSM_KEY_EC_P256, NULL,
	    STORE_KEY_OWNER_CA, &k), 0, "a CA key is generated");
	TH_EQ_INT(keys_generate(h, s, HSM_KEY_EC_P256, "", STORE_KEY_OWNER_USER,
	    &k), 0, "a user key without label is generated");
	TH_EQ_INT(keys_list(s, 0, &list, &n), 0, "the inventory lists");
	TH_EQ_INT(n, 2, "two keys are listed");
	free(list);
	TH_EQ_INT(keys_list(s, STORE_KEY_OWNER_CA, &list, &n), 0,
	    "the inventory lists by owner");
	TH_EQ_INT(n, 1, "one CA key is listed");
	free(list);
 out:
	store_free(s);
	hsm_free(h);
	return th_done();
}
