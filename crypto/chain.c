/*
 * chain.c - certificate path checks of ETSI GR NFV-SEC 005 clause 4.5.1.
 *
 * The path is walked by hand first, so that a failure names the step that
 * failed (X509_verify_cert reports one code for the first error it meets
 * and does not compare the leaf's key with ours); X509_verify_cert then
 * runs over the same certificates as a second, independent check.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/err.h"
#include "crypto/chain.h"

static void
say(char *reason, size_t reasonlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
say(char *reason, size_t reasonlen, const char *fmt, ...)
{
	va_list ap;

	if (reason == NULL || reasonlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, reasonlen, fmt, ap);
	va_end(ap);
}

/* subject of c as a one-line RFC 2253 string, for messages. */
static void
subject_str(X509 *c, char *out, size_t outlen)
{
	BIO *b;
	int n;

	out[0] = '\0';
	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return;
	if (X509_NAME_print_ex(b, X509_get_subject_name(c), 0,
	    XN_FLAG_RFC2253) >= 0) {
		n = BIO_read(b, out, (int)outlen - 1);
		out[n > 0 ? n : 0] = '\0';
	}
	BIO_free(b);
}

int
chain_spki_der(X509 *cert, uint8_t **der, size_t *len)
{
	unsigned char *buf = NULL;
	int n;

	*der = NULL;
	*len = 0;
	if (cert == NULL)
		return CAP_ERR_INVALID;
	if ((n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &buf)) <= 0)
		return CAP_ERR_CRYPTO;
	if ((*der = malloc((size_t)n)) == NULL) {
		OPENSSL_free(buf);
		return CAP_ERR_NOMEM;
	}
	memcpy(*der, buf, (size_t)n);
	*len = (size_t)n;
	OPENSSL_free(buf);
	return 0;
}

static int
self_signed(X509 *c)
{
	return (X509_get_extension_flags(c) & EXFLAG_SS) != 0;
}

static int
in_stack(STACK_OF(X509) *sk, X509 *c)
{
	int i;

	for (i = 0; sk != NULL && i < sk_X509_num(sk); i++)
		if (X509_cmp(sk_X509_value(sk, i), c) == 0)
			return 1;
	return 0;
}

/* 1 if child's AKI key id and issuer's SKI are both present and differ. */
static int
aki_mismatch(X509 *child, X509 *issuer)
{
	const ASN1_OCTET_STRING *aki, *ski;

	aki = X509_get0_authority_key_id(child);
	ski = X509_get0_subject_key_id(issuer);
	if (aki == NULL || ski == NULL)
		return 0;
	return ASN1_OCTET_STRING_cmp(aki, ski) != 0;
}

/*
 * find_issuer looks for child's issuer by name among chain then roots.
 * *name_only is set when a certificate has the right name but its key
 * identifier says it is another key.
 */
static X509 *
find_issuer(X509 *child, STACK_OF(X509) *chain, STACK_OF(X509) *roots,
    int *name_only)
{
	STACK_OF(X509) *sets[2];
	X509 *c;
	int i, s;

	*name_only = 0;
	sets[0] = roots;
	sets[1] = chain;
	for (s = 0; s < 2; s++) {
		for (i = 0; sets[s] != NULL && i < sk_X509_num(sets[s]); i++) {
			c = sk_X509_value(sets[s], i);
			if (X509_cmp(c, child) == 0)
				continue;
			if (X509_NAME_cmp(X509_get_issuer_name(child),
			    X509_get_subject_name(c)) != 0)
				continue;
			if (aki_mismatch(child, c)) {
				*name_only = 1;
				continue;
			}
			return c;
		}
	}
	return NULL;
}

static int
check_validity(X509 *c, time_t now, char *reason, size_t reasonlen)
{
	char subj[256];
	time_t t = now;

	if (X509_cmp_time(X509_get0_notAfter(c), &t) <= 0) {
		subject_str(c, subj, sizeof(subj));
		say(reason, reasonlen, "certificate expired: %s", subj);
		return CAP_ERR_CRYPTO;
	}
	if (X509_cmp_time(X509_get0_notBefore(c), &t) >= 0) {
		subject_str(c, subj, sizeof(subj));
		say(reason, reasonlen, "certificate not yet valid: %s", subj);
		return CAP_ERR_CRYPTO;
	}
	return 0;
}

/* The checks an issuer must pass; below = CA certificates under it. */
static int
check_issuer(X509 *issuer, int below, char *reason, size_t reasonlen)
{
	uint32_t flags = X509_get_extension_flags(issuer);
	char subj[256];
	long pathlen;

	subject_str(issuer, subj, sizeof(subj));
	if ((flags & EXFLAG_INVALID) != 0) {
		say(reason, reasonlen, "issuer has invalid extensions: %s",
		    subj);
		return CAP_ERR_CRYPTO;
	}
	if ((flags & EXFLAG_BCONS) == 0 || (flags & EXFLAG_CA) == 0) {
		say(reason, reasonlen, "issuer is not a CA (basicConstraints "
		    "CA:TRUE missing): %s", subj);
		return CAP_ERR_CRYPTO;
	}
	if ((flags & EXFLAG_KUSAGE) != 0 &&
	    (X509_get_key_usage(issuer) & KU_KEY_CERT_SIGN) == 0) {
		say(reason, reasonlen, "issuer keyUsage lacks keyCertSign: %s",
		    subj);
		return CAP_ERR_CRYPTO;
	}
	pathlen = X509_get_pathlen(issuer);
	if (pathlen >= 0 && below > pathlen) {
		say(reason, reasonlen, "path length constraint exceeded: %s "
		    "allows %ld intermediate CA(s) below it, the path has %d",
		    subj, pathlen, below);
		return CAP_ERR_CRYPTO;
	}
	return 0;
}

/* The same path through OpenSSL's verifier. */
static int
openssl_verify(X509 *leaf, STACK_OF(X509) *chain, STACK_OF(X509) *anchors,
    time_t now, char *reason, size_t reasonlen)
{
	X509_STORE *st = NULL;
	X509_STORE_CTX *ctx = NULL;
	X509_VERIFY_PARAM *vp;
	int i, r = CAP_ERR_NOMEM;

	if ((st = X509_STORE_new()) == NULL ||
	    (ctx = X509_STORE_CTX_new()) == NULL)
		goto out;
	for (i = 0; i < sk_X509_num(anchors); i++)
		if (X509_STORE_add_cert(st, sk_X509_value(anchors, i)) != 1)
			goto out;
	if (X509_STORE_CTX_init(ctx, st, leaf, chain) != 1)
		goto out;
	vp = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_time(vp, now);
	X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_X509_STRICT);
	X509_VERIFY_PARAM_set_depth(vp, CHAIN_DEPTH_MAX);
	if (X509_verify_cert(ctx) != 1) {
		say(reason, reasonlen, "chain verification failed: %s",
		    X509_verify_cert_error_string(
		    X509_STORE_CTX_get_error(ctx)));
		r = CAP_ERR_CRYPTO;
		goto out;
	}
	r = 0;
 out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	ERR_clear_error();
	return r;
}

int
chain_validate(X509 *leaf, STACK_OF(X509) *chain, STACK_OF(X509) *roots,
    const uint8_t *expected_spki, size_t spki_len, time_t now, char *reason,
    size_t reasonlen)
{
	STACK_OF(X509) *anchors = NULL;
	uint8_t *spki = NULL;
	size_t len = 0;
	X509 *cur, *iss;
	EVP_PKEY *pk;
	char subj[256];
	int depth, name_only, r;

	if (reason != NULL && reasonlen > 0)
		reason[0] = '\0';
	if (leaf == NULL || (expected_spki != NULL && spki_len == 0)) {
		say(reason, reasonlen, "no certificate to check");
		return CAP_ERR_INVALID;
	}

	/* The certificate is for our key. */
	if (expected_spki != NULL) {
		if ((r = chain_spki_der(leaf, &spki, &len)) != 0) {
			say(reason, reasonlen, "leaf public key unreadable");
			goto out;
		}
		if (len != spki_len || memcmp(spki, expected_spki, len) != 0) {
			say(reason, reasonlen, "leaf public key does not match "
			    "the key in the token");
			r = CAP_ERR_CRYPTO;
			goto out;
		}
	}
	if ((r = check_validity(leaf, now, reason, reasonlen)) != 0)
		goto out;

	/* Walk up, issuer by issuer, until a trust anchor. */
	cur = leaf;
	for (depth = 0;; depth++) {
		if (roots != NULL && in_stack(roots, cur) && cur != leaf)
			break;
		if (self_signed(cur)) {
			if (roots == NULL && cur != leaf)
				break;
			say(reason, reasonlen, "chain does not reach the "
			    "configured root");
			r = CAP_ERR_CRYPTO;
			goto out;
		}
		if (depth >= CHAIN_DEPTH_MAX) {
			say(reason, reasonlen, "chain longer than %d "
			    "certificates", CHAIN_DEPTH_MAX);
			r = CAP_ERR_CRYPTO;
			goto out;
		}
		if ((iss = find_issuer(cur, chain, roots, &name_only)) == NULL) {
			subject_str(cur, subj, sizeof(subj));
			if (name_only)
				say(reason, reasonlen, "authority key "
				    "identifier of %s does not match the "
				    "subject key identifier of its issuer",
				    subj);
			else
				say(reason, reasonlen, "chain does not reach "
				    "the configured root: no issuer "
				    "certificate for %s", subj);
			r = CAP_ERR_CRYPTO;
			goto out;
		}
		if ((pk = X509_get0_pubkey(iss)) == NULL ||
		    X509_verify(cur, pk) != 1) {
			ERR_clear_error();
			subject_str(cur, subj, sizeof(subj));
			say(reason, reasonlen, "signature of %s does not verify "
			    "under its issuer's key", subj);
			r = CAP_ERR_CRYPTO;
			goto out;
		}
		if ((r = check_validity(iss, now, reason, reasonlen)) != 0 ||
		    (r = check_issuer(iss, depth, reason, reasonlen)) != 0)
			goto out;
		if (roots == NULL && self_signed(iss)) {
			cur = iss;
			break;
		}
		cur = iss;
	}

	if (roots != NULL)
		r = openssl_verify(leaf, chain, roots, now, reason, reasonlen);
	else {
		if ((anchors = sk_X509_new_null()) == NULL ||
		    sk_X509_push(anchors, cur) <= 0) {
			r = CAP_ERR_NOMEM;
			goto out;
		}
		r = openssl_verify(leaf, chain, anchors, now, reason,
		    reasonlen);
	}
 out:
	sk_X509_free(anchors);
	free(spki);
	return r;
}
