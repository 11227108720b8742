/*
 * certstatus.c - OCSP and CRL checks of a certificate against its issuer.
 *
 * The URLs come from the certificate itself; the issuer (chain[0]) comes
 * from the inventory, where it was validated at enrollment.  An answer
 * counts only when its signature verifies against that issuer (OCSP: the
 * issuer or a responder it delegated to), it is current within
 * CERTSTATUS_SKEW_S, and, for OCSP, it echoes the request's nonce.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/certstatus.h"
#include "ca/http_client.h"
#include "common/err.h"

void
certstatus_result_init(struct certstatus_result *res)
{
	memset(res, 0, sizeof(*res));
	res->status = "unknown";
	res->source = "none";
}

/* 1 when s is an http(s) URL of printable ASCII that fits in outsz. */
static int
url_usable(const unsigned char *s, int len, size_t outsz)
{
	int i;

	if (len <= 0 || (size_t)len >= outsz)
		return 0;
	for (i = 0; i < len; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return 0;
	return (len > 7 && strncmp((const char *)s, "http://", 7) == 0) ||
	    (len > 8 && strncmp((const char *)s, "https://", 8) == 0);
}

static int
uri_take(const GENERAL_NAME *gn, char *out, size_t outsz)
{
	const ASN1_IA5STRING *u;

	if (gn == NULL || gn->type != GEN_URI)
		return 0;
	u = gn->d.uniformResourceIdentifier;
	if (!url_usable(ASN1_STRING_get0_data(u), ASN1_STRING_length(u),
	    outsz))
		return 0;
	memcpy(out, ASN1_STRING_get0_data(u), (size_t)ASN1_STRING_length(u));
	out[ASN1_STRING_length(u)] = '\0';
	return 1;
}

int
certstatus_ocsp_url(X509 *cert, char *out, size_t outsz)
{
	AUTHORITY_INFO_ACCESS *aia;
	ACCESS_DESCRIPTION *ad;
	int i, r = CAP_ERR_NOT_FOUND;

	if (outsz > 0)
		out[0] = '\0';
	aia = X509_get_ext_d2i(cert, NID_info_access, NULL, NULL);
	if (aia == NULL)
		return CAP_ERR_NOT_FOUND;
	for (i = 0; i < sk_ACCESS_DESCRIPTION_num(aia); i++) {
		ad = sk_ACCESS_DESCRIPTION_value(aia, i);
		if (OBJ_obj2nid(ad->method) != NID_ad_OCSP)
			continue;
		if (uri_take(ad->location, out, outsz)) {
			r = 0;
			break;
		}
	}
	AUTHORITY_INFO_ACCESS_free(aia);
	return r;
}

int
certstatus_crl_url(X509 *cert, char *out, size_t outsz)
{
	STACK_OF(DIST_POINT) *dps;
	DIST_POINT *dp;
	int i, j, r = CAP_ERR_NOT_FOUND;

	if (outsz > 0)
		out[0] = '\0';
	dps = X509_get_ext_d2i(cert, NID_crl_distribution_points, NULL, NULL);
	if (dps == NULL)
		return CAP_ERR_NOT_FOUND;
	for (i = 0; r != 0 && i < sk_DIST_POINT_num(dps); i++) {
		dp = sk_DIST_POINT_value(dps, i);
		/* a partitioned CRL (reasons, cRLIssuer) is not the full one */
		if (dp->distpoint == NULL || dp->distpoint->type != 0 ||
		    dp->reasons != NULL || dp->CRLissuer != NULL)
			continue;
		for (j = 0; j < sk_GENERAL_NAME_num(dp->distpoint->name.fullname);
		    j++) {
			if (uri_take(sk_GENERAL_NAME_value(
			    dp->distpoint->name.fullname, j), out, outsz)) {
				r = 0;
				break;
			}
		}
	}
	sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
	return r;
}

int
certstatus_crl_parse(const uint8_t *buf, size_t len, X509_CRL **out)
{
	const unsigned char *p = buf;
	X509_CRL *crl = NULL;
	BIO *b = NULL;
	static const char pem[] = "-----BEGIN";
	size_t i = 0;

	*out = NULL;
	if (len == 0)
		return CAP_ERR_INVALID;
	if (len > CERTSTATUS_CRL_MAX)
		return CAP_ERR_TOO_LARGE;
	while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' ||
	    buf[i] == '\n'))
		i++;
	if (len - i >= sizeof(pem) - 1 &&
	    memcmp(buf + i, pem, sizeof(pem) - 1) == 0) {
		if ((b = BIO_new_mem_buf(buf, (int)len)) == NULL)
			return CAP_ERR_NOMEM;
		crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL);
		BIO_free(b);
	} else {
		crl = d2i_X509_CRL(NULL, &p, (long)len);
		if (crl != NULL && p != buf + len) {
			X509_CRL_free(crl);
			crl = NULL;
		}
	}
	if (crl == NULL)
		return CAP_ERR_INVALID;
	*out = crl;
	return 0;
}

static int
time_secs(const ASN1_TIME *t, uint64_t *out)
{
	struct tm tm;
	time_t s;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return CAP_ERR_INVALID;
	if ((s = timegm(&tm)) < 0)
		return CAP_ERR_INVALID;
	*out = (uint64_t)s;
	return 0;
}

int
certstatus_crl_lookup(X509_CRL *crl, X509 *issuer, X509 *cert, time_t now,
    int *revoked, uint64_t *revoked_at)
{
	const ASN1_TIME *next, *last;
	X509_REVOKED *rev = NULL;
	EVP_PKEY *pk;
	time_t early = now - CERTSTATUS_SKEW_S, late = now + CERTSTATUS_SKEW_S;

	*revoked = 0;
	*revoked_at = 0;
	if (X509_NAME_cmp(X509_CRL_get_issuer(crl),
	    X509_get_subject_name(issuer)) != 0 ||
	    X509_NAME_cmp(X509_CRL_get_issuer(crl),
	    X509_get_issuer_name(cert)) != 0)
		return CAP_ERR_CRYPTO;
	if ((pk = X509_get0_pubkey(issuer)) == NULL ||
	    X509_CRL_verify(crl, pk) != 1)
		return CAP_ERR_CRYPTO;
	last = X509_CRL_get0_lastUpdate(crl);
	next = X509_CRL_get0_nextUpdate(crl);
	if (last == NULL || X509_cmp_time(last, &late) > 0)
		return CAP_ERR_GONE;
	if (next != NULL && X509_cmp_time(next, &early) < 0)
		return CAP_ERR_GONE;
	if (X509_CRL_get0_by_serial(crl, &rev,
	    X509_get0_serialNumber(cert)) == 1) {
		*revoked = 1;
		if (time_secs(X509_REVOKED_get0_revocationDate(rev),
		    revoked_at) != 0)
			*revoked_at = 0;
	}
	return 0;
}

static int
fetch(const char *method, const char *url, const char *ctype,
    const uint8_t *body, size_t bodylen, size_t max,
    struct http_response **out, char *why, size_t whylen)
{
	struct http_url u;
	struct http_request rq;
	struct http_response *resp = NULL;
	int r;

	*out = NULL;
	if (http_url_parse(url, &u) != 0) {
		snprintf(why, whylen, "malformed URL");
		return CAP_ERR_INVALID;
	}
	if (u.tls) {
		snprintf(why, whylen, "https URLs are not fetched");
		return CAP_ERR_UNSUPPORTED;
	}
	memset(&rq, 0, sizeof(rq));
	rq.method = method;
	rq.url = &u;
	rq.content_type = ctype;
	rq.body = body;
	rq.body_len = bodylen;
	rq.max_body = max;
	rq.timeout_ms = CERTSTATUS_TIMEOUT_MS;
	if ((r = http_request_do(&rq, &resp)) != 0) {
		snprintf(why, whylen, "%s", cap_strerror(r));
		return r;
	}
	if (resp->status != 200) {
		snprintf(why, whylen, "HTTP %d", resp->status);
		http_response_free(resp);
		return CAP_ERR_UNAVAILABLE;
	}
	*out = resp;
	return 0;
}

/* A store trusting the inventory's chain (any element may anchor). */
static X509_STORE *
chain_store(STACK_OF(X509) *chain)
{
	X509_STORE *st;
	int i;

	if ((st = X509_STORE_new()) == NULL)
		return NULL;
	for (i = 0; i < sk_X509_num(chain); i++) {
		if (X509_STORE_add_cert(st, sk_X509_value(chain, i)) != 1) {
			X509_STORE_free(st);
			return NULL;
		}
	}
	X509_STORE_set_flags(st, X509_V_FLAG_PARTIAL_CHAIN);
	return st;
}

static int
ocsp_check(X509 *cert, STACK_OF(X509) *chain, const char *url,
    struct certstatus_result *res, char *why, size_t whylen)
{
	X509 *issuer = sk_X509_value(chain, 0);
	OCSP_REQUEST *req = NULL;
	OCSP_CERTID *id = NULL, *qid = NULL;
	OCSP_RESPONSE *resp = NULL;
	OCSP_BASICRESP *bs = NULL;
	X509_STORE *st = NULL;
	ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL, *nextupd = NULL;
	struct http_response *hr = NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	int r = CAP_ERR_CRYPTO, len, cs = -1, reason = -1;

	if ((req = OCSP_REQUEST_new()) == NULL ||
	    (id = OCSP_cert_to_id(EVP_sha1(), cert, issuer)) == NULL ||
	    (qid = OCSP_cert_to_id(EVP_sha1(), cert, issuer)) == NULL) {
		snprintf(why, whylen, "cannot build the request");
		r = CAP_ERR_NOMEM;
		goto out;
	}
	if (OCSP_request_add0_id(req, qid) == NULL) {
		snprintf(why, whylen, "cannot build the request");
		r = CAP_ERR_INTERNAL;
		goto out;
	}
	qid = NULL;
	if (OCSP_request_add1_nonce(req, NULL, -1) != 1 ||
	    (len = i2d_OCSP_REQUEST(req, &der)) <= 0) {
		snprintf(why, whylen, "cannot build the request");
		r = CAP_ERR_INTERNAL;
		goto out;
	}
	if ((r = fetch("POST", url, "application/ocsp-request", der,
	    (size_t)len, CERTSTATUS_OCSP_MAX, &hr, why, whylen)) != 0)
		goto out;
	r = CAP_ERR_CRYPTO;
	p = hr->body;
	if ((resp = d2i_OCSP_RESPONSE(NULL, &p, (long)hr->body_len)) == NULL) {
		snprintf(why, whylen, "not an OCSP response");
		goto out;
	}
	if (OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		snprintf(why, whylen, "responder status %s",
		    OCSP_response_status_str(OCSP_response_status(resp)));
		r = CAP_ERR_UNAVAILABLE;
		goto out;
	}
	if ((bs = OCSP_response_get1_basic(resp)) == NULL) {
		snprintf(why, whylen, "no basic response");
		goto out;
	}
	if ((st = chain_store(chain)) == NULL) {
		snprintf(why, whylen, "cannot build the trust store");
		r = CAP_ERR_NOMEM;
		goto out;
	}
	if (OCSP_basic_verify(bs, chain, st, 0) != 1) {
		snprintf(why, whylen, "response signature does not verify");
		goto out;
	}
	if (OCSP_check_nonce(req, bs) != 1) {
		snprintf(why, whylen, "nonce missing or different");
		goto out;
	}
	if (OCSP_resp_find_status(bs, id, &cs, &reason, &rev, &thisupd,
	    &nextupd) != 1) {
		snprintf(why, whylen, "no answer for this certificate");
		goto out;
	}
	if (OCSP_check_validity(thisupd, nextupd, CERTSTATUS_SKEW_S, -1) != 1) {
		snprintf(why, whylen, "response is not current");
		r = CAP_ERR_GONE;
		goto out;
	}
	res->source = "ocsp";
	switch (cs) {
	case V_OCSP_CERTSTATUS_GOOD:
		res->status = "good";
		break;
	case V_OCSP_CERTSTATUS_REVOKED:
		res->status = "revoked";
		if (time_secs(rev, &res->revoked_at) != 0)
			res->revoked_at = 0;
		break;
	default:
		res->status = "unknown";
		snprintf(res->reason, sizeof(res->reason),
		    "the OCSP responder does not know the certificate");
		break;
	}
	r = 0;
 out:
	X509_STORE_free(st);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	http_response_free(hr);
	OPENSSL_free(der);
	OCSP_CERTID_free(qid);
	OCSP_CERTID_free(id);
	OCSP_REQUEST_free(req);
	return r;
}

static int
crl_check(X509 *cert, X509 *issuer, const char *url,
    struct certstatus_result *res, char *why, size_t whylen)
{
	struct http_response *hr = NULL;
	X509_CRL *crl = NULL;
	int r, revoked;
	uint64_t at;

	if ((r = fetch("GET", url, NULL, NULL, 0, CERTSTATUS_CRL_MAX, &hr,
	    why, whylen)) != 0)
		goto out;
	if ((r = certstatus_crl_parse(hr->body, hr->body_len, &crl)) != 0) {
		snprintf(why, whylen, "not a CRL");
		goto out;
	}
	r = certstatus_crl_lookup(crl, issuer, cert, time(NULL), &revoked, &at);
	if (r == CAP_ERR_GONE) {
		snprintf(why, whylen, "the CRL is not current");
		goto out;
	} else if (r != 0) {
		snprintf(why, whylen, "the CRL does not verify");
		goto out;
	}
	res->source = "crl";
	res->status = revoked ? "revoked" : "good";
	res->revoked_at = revoked ? at : 0;
 out:
	X509_CRL_free(crl);
	http_response_free(hr);
	return r;
}

void
certstatus_check(X509 *cert, STACK_OF(X509) *chain,
    struct certstatus_result *res)
{
	char url[CERTSTATUS_URL_MAX], ocsp_why[96] = "", crl_why[96] = "";
	int have_ocsp, have_crl;
	X509 *issuer;

	certstatus_result_init(res);
	if (sk_X509_num(chain) < 1) {
		snprintf(res->reason, sizeof(res->reason),
		    "the issuing CA's certificate is not in the inventory");
		return;
	}
	issuer = sk_X509_value(chain, 0);
	have_ocsp = certstatus_ocsp_url(cert, url, sizeof(url)) == 0;
	if (have_ocsp && ocsp_check(cert, chain, url, res, ocsp_why,
	    sizeof(ocsp_why)) == 0)
		return;
	certstatus_result_init(res);
	have_crl = certstatus_crl_url(cert, url, sizeof(url)) == 0;
	if (have_crl && crl_check(cert, issuer, url, res, crl_why,
	    sizeof(crl_why)) == 0)
		return;
	certstatus_result_init(res);
	if (!have_ocsp && !have_crl)
		snprintf(res->reason, sizeof(res->reason),
		    "the certificate names no OCSP responder and no CRL");
	else if (!have_crl)
		snprintf(res->reason, sizeof(res->reason),
		    "OCSP: %s; the certificate names no CRL", ocsp_why);
	else if (!have_ocsp)
		snprintf(res->reason, sizeof(res->reason),
		    "no OCSP responder; CRL: %s", crl_why);
	else
		snprintf(res->reason, sizeof(res->reason),
		    "OCSP: %s; CRL: %s", ocsp_why, crl_why);
}
