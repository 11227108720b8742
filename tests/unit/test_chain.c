/*
 * test_chain.c - chain_validate on certificates made here: a good
 * root/intermediate/leaf path passes; a leaf for another key, an expired
 * leaf, a missing intermediate, a CA:FALSE issuer, an exceeded pathLen,
 * an AKI that names another key, an issuer without keyCertSign and a path
 * to an untrusted root are each refused with a reason naming the step.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/err.h"
#include "crypto/chain.h"
#include "tests/unit/harness.h"

#define DAY	86400L

struct mk {
	const char	*subject;
	X509		*issuer;	/* NULL: self-signed */
	EVP_PKEY	*issuer_key;
	X509		*aki_from;	/* AKI taken from this cert; NULL = issuer */
	EVP_PKEY	*key;
	const char	*bc;		/* basicConstraints value or NULL */
	const char	*ku;		/* keyUsage value or NULL */
	long		 nb, na;	/* offsets from now, seconds */
};

static int
add_ext(X509 *c, X509V3_CTX *ctx, int nid, const char *val)
{
	X509_EXTENSION *e;
	int ok;

	if ((e = X509V3_EXT_conf_nid(NULL, ctx, nid, val)) == NULL)
		return 0;
	ok = X509_add_ext(c, e, -1);
	X509_EXTENSION_free(e);
	return ok;
}

static X509 *
mkcert(const struct mk *m)
{
	static long serial = 1;
	X509 *c;
	X509_NAME *n;
	X509V3_CTX ctx;
	X509 *iss;

	if ((c = X509_new()) == NULL)
		return NULL;
	X509_set_version(c, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(c), serial++);
	n = X509_NAME_new();
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)m->subject, -1, -1, 0);
	X509_set_subject_name(c, n);
	X509_NAME_free(n);
	iss = m->issuer != NULL ? m->issuer : c;
	X509_set_issuer_name(c, X509_get_subject_name(iss));
	X509_time_adj_ex(X509_getm_notBefore(c), 0, m->nb, NULL);
	X509_time_adj_ex(X509_getm_notAfter(c), 0, m->na, NULL);
	X509_set_pubkey(c, m->key);
	X509V3_set_ctx(&ctx, m->aki_from != NULL ? m->aki_from : iss, c,
	    NULL, NULL, 0);
	if (m->bc != NULL)
		add_ext(c, &ctx, NID_basic_constraints, m->bc);
	if (m->ku != NULL)
		add_ext(c, &ctx, NID_key_usage, m->ku);
	add_ext(c, &ctx, NID_subject_key_identifier, "hash");
	if (m->issuer != NULL || m->aki_from != NULL)
		add_ext(c, &ctx, NID_authority_key_identifier, "keyid:always");
	if (X509_sign(c, m->issuer_key != NULL ? m->issuer_key : m->key,
	    EVP_sha256()) <= 0) {
		X509_free(c);
		return NULL;
	}
	return c;
}

static STACK_OF(X509) *
stack_of(X509 *a, X509 *b)
{
	STACK_OF(X509) *sk = sk_X509_new_null();

	if (a != NULL)
		sk_X509_push(sk, a);
	if (b != NULL)
		sk_X509_push(sk, b);
	return sk;
}

static void
expect_fail(X509 *leaf, STACK_OF(X509) *chain, STACK_OF(X509) *roots,
    X509 *keyholder, const char *want, const char *name)
{
	char reason[512];
	uint8_t *spki = NULL;
	size_t len = 0;
	int r;

	if (chain_spki_der(keyholder, &spki, &len) != 0) {
		th_check(0, name, "no SPKI");
		return;
	}
	r = chain_validate(leaf, chain, roots, spki, len, time(NULL), reason,
	    sizeof(reason));
	th_check(r == CAP_ERR_CRYPTO && strstr(reason, want) != NULL, name,
	    "expected CAP_ERR_CRYPTO with \"%s\", got %d \"%s\"", want, r,
	    reason);
	free(spki);
}

int
main(void)
{
	EVP_PKEY *kr, *ki, *kl, *kx, *kdecoy;
	X509 *root, *inter, *leaf, *other_leaf, *expired, *nca, *leaf_nca;
	X509 *inter2, *leaf2, *decoy, *leaf_aki, *noku, *leaf_noku;
	X509 *root_b, *inter_b, *leaf_b;
	STACK_OF(X509) *roots, *chain, *sk;
	char reason[512];
	uint8_t *spki = NULL;
	size_t len = 0;
	int r;

	kr = EVP_EC_gen("P-256");
	ki = EVP_EC_gen("P-256");
	kl = EVP_EC_gen("P-256");
	kx = EVP_EC_gen("P-256");
	kdecoy = EVP_EC_gen("P-256");
	if (kr == NULL || ki == NULL || kl == NULL || kx == NULL ||
	    kdecoy == NULL) {
		th_check(0, "chain: key generation", "failed");
		return th_done();
	}
	root = mkcert(&(struct mk){ "Root", NULL, NULL, NULL, kr,
	    "critical,CA:TRUE", "critical,keyCertSign,cRLSign", -DAY,
	    3650 * DAY });
	inter = mkcert(&(struct mk){ "Inter", root, kr, NULL, ki,
	    "critical,CA:TRUE,pathlen:0", "critical,keyCertSign,cRLSign", -DAY,
	    365 * DAY });
	leaf = mkcert(&(struct mk){ "leaf", inter, ki, NULL, kl,
	    "critical,CA:FALSE", "critical,digitalSignature", -DAY, 90 * DAY });
	roots = stack_of(root, NULL);
	chain = stack_of(inter, root);

	/* good chain */
	if (chain_spki_der(leaf, &spki, &len) != 0)
		th_check(0, "chain: spki", "failed");
	r = chain_validate(leaf, chain, roots, spki, len, time(NULL), reason,
	    sizeof(reason));
	th_check(r == 0, "chain: good root/intermediate/leaf passes",
	    "got %d \"%s\"", r, reason);
	r = chain_validate(leaf, chain, NULL, spki, len, time(NULL), reason,
	    sizeof(reason));
	th_check(r == 0, "chain: good chain with its own root as anchor",
	    "got %d \"%s\"", r, reason);
	r = chain_validate(leaf, chain, roots, spki, len,
	    time(NULL) + 400 * DAY, reason, sizeof(reason));
	th_check(r == CAP_ERR_CRYPTO && strstr(reason, "expired") != NULL,
	    "chain: an issuer expired at the check time is refused",
	    "got %d \"%s\"", r, reason);
	free(spki);

	/* wrong key */
	other_leaf = mkcert(&(struct mk){ "leaf", inter, ki, NULL, kx,
	    "critical,CA:FALSE", NULL, -DAY, 90 * DAY });
	expect_fail(leaf, chain, roots, other_leaf,
	    "leaf public key does not match the key in the token",
	    "chain: certificate for another key is refused");

	/* expired leaf */
	expired = mkcert(&(struct mk){ "leaf", inter, ki, NULL, kl,
	    "critical,CA:FALSE", NULL, -10 * DAY, -DAY });
	expect_fail(expired, chain, roots, expired, "certificate expired",
	    "chain: expired leaf is refused");

	/* missing intermediate */
	sk = stack_of(root, NULL);
	expect_fail(leaf, sk, roots, leaf, "chain does not reach the configured root",
	    "chain: missing intermediate is refused");
	sk_X509_free(sk);

	/* CA:FALSE issuer */
	nca = mkcert(&(struct mk){ "NotCA", root, kr, NULL, ki,
	    "critical,CA:FALSE", NULL, -DAY, 365 * DAY });
	leaf_nca = mkcert(&(struct mk){ "leaf", nca, ki, NULL, kl,
	    "critical,CA:FALSE", NULL, -DAY, 90 * DAY });
	sk = stack_of(nca, NULL);
	expect_fail(leaf_nca, sk, roots, leaf_nca, "not a CA",
	    "chain: CA:FALSE issuer is refused");
	sk_X509_free(sk);

	/* pathLen exceeded: root -> inter (pathlen 0) -> inter2 -> leaf */
	inter2 = mkcert(&(struct mk){ "Inter2", inter, ki, NULL, kx,
	    "critical,CA:TRUE", "critical,keyCertSign", -DAY, 365 * DAY });
	leaf2 = mkcert(&(struct mk){ "leaf", inter2, kx, NULL, kl,
	    "critical,CA:FALSE", NULL, -DAY, 90 * DAY });
	sk = stack_of(inter, inter2);
	expect_fail(leaf2, sk, roots, leaf2, "path length constraint exceeded",
	    "chain: pathLen exceeded is refused");
	sk_X509_free(sk);

	/* AKI naming another key than the issuer's */
	decoy = mkcert(&(struct mk){ "Inter", root, kr, NULL, kdecoy,
	    "critical,CA:TRUE", NULL, -DAY, 365 * DAY });
	leaf_aki = mkcert(&(struct mk){ "leaf", inter, ki, decoy, kl,
	    "critical,CA:FALSE", NULL, -DAY, 90 * DAY });
	expect_fail(leaf_aki, chain, roots, leaf_aki,
	    "authority key identifier",
	    "chain: AKI mismatch is refused");

	/* issuer keyUsage without keyCertSign */
	noku = mkcert(&(struct mk){ "NoKU", root, kr, NULL, ki,
	    "critical,CA:TRUE", "critical,digitalSignature", -DAY,
	    365 * DAY });
	leaf_noku = mkcert(&(struct mk){ "leaf", noku, ki, NULL, kl,
	    "critical,CA:FALSE", NULL, -DAY, 90 * DAY });
	sk = stack_of(noku, NULL);
	expect_fail(leaf_noku, sk, roots, leaf_noku, "keyCertSign",
	    "chain: issuer without keyCertSign is refused");
	sk_X509_free(sk);

	/* a path to another root */
	root_b = mkcert(&(struct mk){ "Root", NULL, NULL, NULL, kx,
	    "critical,CA:TRUE", "critical,keyCertSign,cRLSign", -DAY,
	    3650 * DAY });
	inter_b = mkcert(&(struct mk){ "Inter", root_b, kx, NULL, ki,
	    "critical,CA:TRUE,pathlen:0", "critical,keyCertSign", -DAY,
	    365 * DAY });
	leaf_b = mkcert(&(struct mk){ "leaf", inter_b, ki, NULL, kl,
	    "critical,CA:FALSE", NULL, -DAY, 90 * DAY });
	sk = stack_of(inter_b, root_b);
	expect_fail(leaf_b, sk, roots, leaf_b, "does not reach the configured root",
	    "chain: chain to an untrusted root is refused");
	sk_X509_free(sk);

	th_check(chain_validate(NULL, NULL, NULL, NULL, 0, 0, reason,
	    sizeof(reason)) == CAP_ERR_INVALID, "chain: NULL leaf is invalid",
	    "accepted");

	X509_free(root);
	X509_free(inter);
	X509_free(leaf);
	X509_free(other_leaf);
	X509_free(expired);
	X509_free(nca);
	X509_free(leaf_nca);
	X509_free(inter2);
	X509_free(leaf2);
	X509_free(decoy);
	X509_free(leaf_aki);
	X509_free(noku);
	X509_free(leaf_noku);
	X509_free(root_b);
	X509_free(inter_b);
	X509_free(leaf_b);
	sk_X509_free(roots);
	sk_X509_free(chain);
	EVP_PKEY_free(kr);
	EVP_PKEY_free(ki);
	EVP_PKEY_free(kl);
	EVP_PKEY_free(kx);
	EVP_PKEY_free(kdecoy);
	return th_done();
}
