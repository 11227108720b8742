/*
 * test_certstatus.c - the offline parts of the revocation check: the OCSP
 * and CRL URLs taken from a certificate (non-http names skipped, absent
 * extensions reported), CRLs read as DER and PEM, the serial lookup with
 * the CRL's signature, issuer and freshness checked, and the full check
 * answering "unknown" with a reason when there is nothing it can ask.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/certstatus.h"
#include "common/err.h"
#include "tests/unit/harness.h"

static EVP_PKEY *
mkkey(void)
{
	return EVP_EC_gen("P-256");
}

static int
add_ext(X509 *c, X509 *iss, int nid, const char *val)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;
	int ok;

	X509V3_set_ctx(&ctx, iss, c, NULL, NULL, 0);
	if ((e = X509V3_EXT_conf_nid(NULL, &ctx, nid, val)) == NULL)
		return 0;
	ok = X509_add_ext(c, e, -1);
	X509_EXTENSION_free(e);
	return ok;
}

/* A certificate for key, signed by ikey (iss NULL: self-signed). */
static X509 *
mkcert(const char *cn, long serial, EVP_PKEY *key, X509 *iss, EVP_PKEY *ikey,
    const char *aia, const char *cdp)
{
	X509 *c;
	X509_NAME *n;

	if ((c = X509_new()) == NULL)
		return NULL;
	X509_set_version(c, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(c), serial);
	n = X509_NAME_new();
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(c, n);
	X509_set_issuer_name(c, iss != NULL ? X509_get_subject_name(iss) : n);
	X509_NAME_free(n);
	X509_gmtime_adj(X509_getm_notBefore(c), -3600);
	X509_gmtime_adj(X509_getm_notAfter(c), 86400);
	X509_set_pubkey(c, key);
	if ((aia != NULL && !add_ext(c, iss, NID_info_access, aia)) ||
	    (cdp != NULL && !add_ext(c, iss, NID_crl_distribution_points,
	    cdp)) || X509_sign(c, ikey, EVP_sha256()) == 0) {
		X509_free(c);
		return NULL;
	}
	return c;
}

/* A CRL by iss/ikey revoking serial (0: none), valid from..until. */
static X509_CRL *
mkcrl(X509 *iss, EVP_PKEY *ikey, long serial, long from, long until)
{
	X509_CRL *crl;
	X509_REVOKED *rv;
	ASN1_TIME *t;
	ASN1_INTEGER *sn;

	if ((crl = X509_CRL_new()) == NULL)
		return NULL;
	X509_CRL_set_version(crl, 1);
	X509_CRL_set_issuer_name(crl, X509_get_subject_name(iss));
	t = X509_gmtime_adj(NULL, from);
	X509_CRL_set1_lastUpdate(crl, t);
	ASN1_TIME_free(t);
	t = X509_gmtime_adj(NULL, until);
	X509_CRL_set1_nextUpdate(crl, t);
	ASN1_TIME_free(t);
	if (serial != 0) {
		rv = X509_REVOKED_new();
		sn = ASN1_INTEGER_new();
		ASN1_INTEGER_set(sn, serial);
		X509_REVOKED_set_serialNumber(rv, sn);
		ASN1_INTEGER_free(sn);
		t = X509_gmtime_adj(NULL, -600);
		X509_REVOKED_set_revocationDate(rv, t);
		ASN1_TIME_free(t);
		X509_CRL_add0_revoked(crl, rv);
	}
	X509_CRL_sort(crl);
	if (X509_CRL_sign(crl, ikey, EVP_sha256()) == 0) {
		X509_CRL_free(crl);
		return NULL;
	}
	return crl;
}

static void
test_urls(X509 *leaf, X509 *bare)
{
	char url[CERTSTATUS_URL_MAX], tiny[16];

	TH_EQ_INT(certstatus_ocsp_url(leaf, url, sizeof(url)), 0,
	    "ocsp url: found");
	th_check(strcmp(url, "http://127.0.0.1:9/ocsp") == 0,
	    "ocsp url: the http one, after the ldap one", "got %s", url);
	TH_EQ_INT(certstatus_crl_url(leaf, url, sizeof(url)), 0,
	    "crl url: found");
	th_check(strcmp(url, "http://127.0.0.1:9/ca.crl") == 0,
	    "crl url: the http one, after the ldap one", "got %s", url);
	TH_EQ_INT(certstatus_ocsp_url(bare, url, sizeof(url)),
	    CAP_ERR_NOT_FOUND, "ocsp url: none without AIA");
	TH_EQ_INT(certstatus_crl_url(bare, url, sizeof(url)),
	    CAP_ERR_NOT_FOUND, "crl url: none without CDP");
	TH_EQ_INT(certstatus_ocsp_url(leaf, tiny, sizeof(tiny)),
	    CAP_ERR_NOT_FOUND, "ocsp url: one too long is skipped");
}

static void
test_crl(X509 *ca, EVP_PKEY *cakey, X509 *leaf, X509 *other,
    EVP_PKEY *otherkey)
{
	X509_CRL *crl = NULL, *got = NULL, *c2 = NULL;
	unsigned char *der = NULL;
	BUF_MEM *bm;
	BIO *b;
	int derlen, revoked = -1;
	uint64_t at = 0;
	time_t now = time(NULL);

	crl = mkcrl(ca, cakey, 42, -3600, 3600);
	th_check(crl != NULL, "crl: made", "no CRL");
	if (crl == NULL)
		return;
	derlen = i2d_X509_CRL(crl, &der);
	TH_EQ_INT(certstatus_crl_parse(der, (size_t)derlen, &got), 0,
	    "crl parse: DER");
	X509_CRL_free(got);
	got = NULL;
	TH_EQ_INT(certstatus_crl_parse(der, (size_t)derlen - 1, &got),
	    CAP_ERR_INVALID, "crl parse: truncated DER refused");
	TH_EQ_INT(certstatus_crl_parse((const uint8_t *)"junk", 4, &got),
	    CAP_ERR_INVALID, "crl parse: junk refused");
	b = BIO_new(BIO_s_mem());
	PEM_write_bio_X509_CRL(b, crl);
	BIO_get_mem_ptr(b, &bm);
	TH_EQ_INT(certstatus_crl_parse((const uint8_t *)bm->data, bm->length,
	    &got), 0, "crl parse: PEM");
	BIO_free(b);

	if (got != NULL) {
		TH_EQ_INT(certstatus_crl_lookup(got, ca, leaf, now, &revoked,
		    &at), 0, "crl lookup: verifies");
		TH_EQ_INT(revoked, 1, "crl lookup: the listed serial is revoked");
		th_check(at != 0 && at <= (uint64_t)now,
		    "crl lookup: the revocation date is given", "at %llu",
		    (unsigned long long)at);
	}
	X509_CRL_free(got);
	got = NULL;

	c2 = mkcrl(ca, cakey, 7, -3600, 3600);
	TH_EQ_INT(certstatus_crl_lookup(c2, ca, leaf, now, &revoked, &at), 0,
	    "crl lookup: another serial listed");
	TH_EQ_INT(revoked, 0, "crl lookup: an unlisted serial is good");
	X509_CRL_free(c2);

	c2 = mkcrl(ca, cakey, 42, -7200, -3600);
	TH_EQ_INT(certstatus_crl_lookup(c2, ca, leaf, now, &revoked, &at),
	    CAP_ERR_GONE, "crl lookup: past nextUpdate refused");
	X509_CRL_free(c2);

	c2 = mkcrl(ca, cakey, 42, 3600, 7200);
	TH_EQ_INT(certstatus_crl_lookup(c2, ca, leaf, now, &revoked, &at),
	    CAP_ERR_GONE, "crl lookup: a future lastUpdate refused");
	X509_CRL_free(c2);

	/* same issuer name, another key */
	X509_CRL_sign(crl, otherkey, EVP_sha256());
	TH_EQ_INT(certstatus_crl_lookup(crl, ca, leaf, now, &revoked, &at),
	    CAP_ERR_CRYPTO, "crl lookup: a forged signature refused");
	c2 = mkcrl(other, otherkey, 42, -3600, 3600);
	TH_EQ_INT(certstatus_crl_lookup(c2, other, leaf, now, &revoked, &at),
	    CAP_ERR_CRYPTO, "crl lookup: a CRL of another issuer refused");
	X509_CRL_free(c2);
	X509_CRL_free(crl);
	OPENSSL_free(der);
}

static void
test_check(X509 *ca, X509 *leaf, X509 *bare)
{
	struct certstatus_result res;
	STACK_OF(X509) *chain = sk_X509_new_null();

	certstatus_check(bare, chain, &res);
	th_check(strcmp(res.status, "unknown") == 0 && res.reason[0] != '\0',
	    "check: no chain gives unknown with a reason", "%s", res.status);
	sk_X509_push(chain, ca);
	certstatus_check(bare, chain, &res);
	th_check(strcmp(res.status, "unknown") == 0 &&
	    strcmp(res.source, "none") == 0 && strstr(res.reason, "no OCSP")
	    != NULL, "check: no URLs gives unknown, source none",
	    "%s/%s/%s", res.status, res.source, res.reason);
	/* port 9 (discard) on loopback: refused at once */
	certstatus_check(leaf, chain, &res);
	th_check(strcmp(res.status, "unknown") == 0 &&
	    strstr(res.reason, "OCSP:") != NULL &&
	    strstr(res.reason, "CRL:") != NULL,
	    "check: unreachable sources give unknown naming both",
	    "%s/%s", res.status, res.reason);
	sk_X509_free(chain);
}

int
main(void)
{
	EVP_PKEY *cakey = mkkey(), *key = mkkey(), *otherkey = mkkey();
	X509 *ca, *leaf, *bare, *other;

	/* the HTTP client keeps its buffers in sodium_malloc'd memory */
	if (sodium_init() < 0) {
		th_check(0, "sodium_init", "failed");
		return th_done();
	}
	ca = mkcert("Status Test CA", 1, cakey, NULL, cakey, NULL, NULL);
	other = mkcert("Other Test CA", 2, otherkey, NULL, otherkey, NULL,
	    NULL);
	leaf = mkcert("leaf", 42, key, ca, cakey,
	    "OCSP;URI:ldap://ocsp.example/x,OCSP;URI:http://127.0.0.1:9/ocsp,"
	    "caIssuers;URI:http://127.0.0.1:9/ca.crt",
	    "URI:ldap://crl.example/x,URI:http://127.0.0.1:9/ca.crl");
	bare = mkcert("bare", 43, key, ca, cakey, NULL, NULL);
	if (ca == NULL || other == NULL || leaf == NULL || bare == NULL) {
		th_check(0, "fixtures", "cannot make the certificates");
		return th_done();
	}
	test_urls(leaf, bare);
	test_crl(ca, cakey, leaf, other, otherkey);
	test_check(ca, leaf, bare);
	X509_free(ca);
	X509_free(other);
	X509_free(leaf);
	X509_free(bare);
	EVP_PKEY_free(cakey);
	EVP_PKEY_free(key);
	EVP_PKEY_free(otherkey);
	return th_done();
}
