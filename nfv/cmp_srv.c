/*
 * cmp_srv.c - the CMP server: request outline, CRMF to PKCS#10, the
 * OSSL_CMP_SRV_CTX callbacks that issue through the CMF, and the
 * transactions kept for certConf.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/cmp.h>
#include <openssl/crmf.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "nfv/cmp_srv.h"
#include "nfv/est_srv.h"

/* CRLReason cessationOfOperation (RFC 5280 5.3.1) */
#define CMP_REASON_CESSATION	5

/* id-PasswordBasedMAC, 1.2.840.113533.7.66.13, as DER content. */
static const uint8_t pbm_oid[] = {
	0x2a, 0x86, 0x48, 0x86, 0xf6, 0x7d, 0x07, 0x42, 0x0d,
};

/* ---- a minimal DER walker (single-byte tags, definite lengths) ---- */

struct tlv {
	unsigned	 tag;
	const uint8_t	*val;
	size_t		 len;
	size_t		 total;	/* header and value */
};

static int
tlv_read(const uint8_t *p, size_t avail, struct tlv *t)
{
	size_t hdr = 2, n, i, len = 0;

	if (avail < 2 || (p[0] & 0x1f) == 0x1f)
		return CAP_ERR_INVALID;
	t->tag = p[0];
	if (p[1] < 0x80)
		len = p[1];
	else {
		n = p[1] & 0x7f;
		if (n == 0 || n > 4 || avail < 2 + n)
			return CAP_ERR_INVALID;
		for (i = 0; i < n; i++)
			len = len << 8 | p[2 + i];
		hdr += n;
	}
	if (len > avail - hdr)
		return CAP_ERR_INVALID;
	t->val = p + hdr;
	t->len = len;
	t->total = hdr + len;
	return 0;
}

/*
 * The outline of a PKIMessage of exactly len bytes: its header and its
 * body, a [n] EXPLICIT.  What follows the body runs to der + len.
 */
static int
msg_outline(const uint8_t *der, size_t len, struct tlv *hdr,
    struct tlv *body)
{
	struct tlv msg;
	const uint8_t *p, *end;

	if (der == NULL || tlv_read(der, len, &msg) != 0 ||
	    msg.tag != 0x30 || msg.total != len)
		return CAP_ERR_INVALID;
	p = msg.val;
	end = msg.val + msg.len;
	if (tlv_read(p, (size_t)(end - p), hdr) != 0 || hdr->tag != 0x30)
		return CAP_ERR_INVALID;
	p += hdr->total;
	if (tlv_read(p, (size_t)(end - p), body) != 0 ||
	    (body->tag & 0xe0) != 0xa0)
		return CAP_ERR_INVALID;
	return 0;
}

int
cmp_req_peek(const uint8_t *der, size_t len, struct cmp_peek *out)
{
	struct tlv hdr, e, in;
	const uint8_t *p, *end;
	size_t i;

	memset(out, 0, sizeof(*out));
	out->body = -1;
	if (der == NULL || len > CMP_MSG_MAX ||
	    msg_outline(der, len, &hdr, &e) != 0)
		return CAP_ERR_INVALID;
	out->body = (int)(e.tag & 0x1f);
	/* certConf [24] { SEQUENCE OF CertStatus }: empty rejects all */
	if (out->body == CMP_BODY_CERTCONF && tlv_read(e.val, e.len, &in) == 0 &&
	    in.tag == 0x30 && in.len == 0)
		out->certconf_empty = 1;
	p = e.val + e.len;
	end = der + len;
	while (p < end) {
		if (tlv_read(p, (size_t)(end - p), &e) != 0)
			return CAP_ERR_INVALID;
		if (e.tag == 0xa1 && tlv_read(e.val, e.len, &in) == 0 &&
		    in.tag == 0x30 && in.len > 0 &&
		    tlv_read(in.val, in.len, &in) == 0 && in.tag == 0x30) {
			out->cert = in.val - (in.total - in.len);
			out->certlen = in.total;
		}
		p += e.total;
	}
	/* header: pvno, sender, recipient, then tagged fields. */
	p = hdr.val;
	end = hdr.val + hdr.len;
	for (i = 0; p < end; i++) {
		if (tlv_read(p, (size_t)(end - p), &e) != 0)
			return CAP_ERR_INVALID;
		p += e.total;
		if (i < 3)
			continue;
		if (e.tag == 0xa1) {
			/* protectionAlg: AlgorithmIdentifier, OID first */
			if (tlv_read(e.val, e.len, &in) != 0 || in.tag != 0x30 ||
			    tlv_read(in.val, in.len, &in) != 0 || in.tag != 0x06)
				return CAP_ERR_INVALID;
			out->prot = in.len == sizeof(pbm_oid) &&
			    memcmp(in.val, pbm_oid, in.len) == 0 ?
			    CMP_PROT_MAC : CMP_PROT_SIG;
		} else if (e.tag == 0xa2) {
			if (tlv_read(e.val, e.len, &in) != 0 || in.tag != 0x04)
				return CAP_ERR_INVALID;
			if (est_ref_valid((const char *)in.val, in.len)) {
				memcpy(out->ref, in.val, in.len);
				out->ref[in.len] = '\0';
			}
		} else if (e.tag == 0xa4) {
			if (tlv_read(e.val, e.len, &in) != 0 || in.tag != 0x04 ||
			    in.len > CMP_TID_MAX)
				return CAP_ERR_INVALID;
			memcpy(out->tid, in.val, in.len);
			out->tidlen = in.len;
		}
	}
	if (i < 3)
		return CAP_ERR_INVALID;
	return 0;
}

int
cmp_rr_reason(const uint8_t *der, size_t len, int *reason)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	ASN1_ENUMERATED *code = NULL;
	struct tlv t, e;
	const uint8_t *p, *end;
	const unsigned char *q;
	long v;
	int crit = -1, r = CAP_ERR_INVALID;

	*reason = 0;
	/* The body is [11] rr. */
	if (msg_outline(der, len, &e, &t) != 0 || t.tag != 0xab)
		return CAP_ERR_INVALID;
	/* RevReqContent: SEQUENCE OF RevDetails; the first is served. */
	if (tlv_read(t.val, t.len, &t) != 0 || t.tag != 0x30 ||
	    tlv_read(t.val, t.len, &t) != 0 || t.tag != 0x30)
		return CAP_ERR_INVALID;
	/* RevDetails: certDetails CertTemplate, crlEntryDetails OPTIONAL. */
	p = t.val;
	end = t.val + t.len;
	if (tlv_read(p, (size_t)(end - p), &e) != 0 || e.tag != 0x30)
		return CAP_ERR_INVALID;
	p += e.total;
	if (p == end)
		return 0;
	if (tlv_read(p, (size_t)(end - p), &e) != 0 || e.tag != 0x30)
		return CAP_ERR_INVALID;
	q = p;
	if ((exts = d2i_X509_EXTENSIONS(NULL, &q, (long)e.total)) == NULL ||
	    q != p + e.total)
		goto out;
	/* crit is -1 when there is no reasonCode, -2 when there are two. */
	if ((code = X509V3_get_d2i(exts, NID_crl_reason, &crit,
	    NULL)) == NULL) {
		if (crit == -1)
			r = 0;
		goto out;
	}
	/* The CMF checks the value; only a sane int goes on. */
	if ((v = ASN1_ENUMERATED_get(code)) < 0 || v > 255)
		goto out;
	*reason = (int)v;
	r = 0;
 out:
	ASN1_ENUMERATED_free(code);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	ERR_clear_error();
	return r;
}

int
cmp_tmpl_pubkey(const uint8_t *der, size_t len, EVP_PKEY **out)
{
	struct tlv t, e;
	const uint8_t *p, *end;
	const unsigned char *q;
	uint8_t *spki = NULL;
	int r = CAP_ERR_INVALID;

	*out = NULL;
	if (tlv_read(der, len, &t) != 0 || t.tag != 0x30)
		return CAP_ERR_INVALID;
	for (p = t.val, end = t.val + t.len; p < end; p += e.total) {
		if (tlv_read(p, (size_t)(end - p), &e) != 0)
			return CAP_ERR_INVALID;
		if (e.tag != 0xa6)
			continue;
		/* [6] IMPLICIT SubjectPublicKeyInfo: retag as a SEQUENCE. */
		if ((spki = malloc(e.total)) == NULL)
			return CAP_ERR_NOMEM;
		memcpy(spki, p, e.total);
		spki[0] = 0x30;
		q = spki;
		if ((*out = d2i_PUBKEY(NULL, &q, (long)e.total)) != NULL &&
		    q == spki + e.total)
			r = 0;
		else {
			EVP_PKEY_free(*out);
			*out = NULL;
		}
		break;
	}
	free(spki);
	ERR_clear_error();
	return r;
}

int
cmp_crm_to_csr(const OSSL_CRMF_MSG *crm, uint8_t **der, size_t *len)
{
	OSSL_CRMF_CERTTEMPLATE *tmpl;
	const X509_NAME *subj;
	const STACK_OF(X509_EXTENSION) *exts;
	STACK_OF(X509_EXTENSION) *ecopy = NULL;
	X509_REQ *req = NULL;
	X509_ALGOR *alg = NULL;
	ASN1_BIT_STRING *sig = NULL;
	EVP_PKEY *pub = NULL;
	unsigned char *t = NULL, *d = NULL;
	int tlen, dlen, r = CAP_ERR_INVALID;

	*der = NULL;
	*len = 0;
	if (crm == NULL || (tmpl = OSSL_CRMF_MSG_get0_tmpl(crm)) == NULL)
		goto out;
	if ((tlen = i2d_OSSL_CRMF_CERTTEMPLATE(tmpl, &t)) <= 0 ||
	    (r = cmp_tmpl_pubkey(t, (size_t)tlen, &pub)) != 0)
		goto out;
	r = CAP_ERR_NOMEM;
	if ((req = X509_REQ_new()) == NULL ||
	    X509_REQ_set_version(req, 0) != 1 ||
	    X509_REQ_set_pubkey(req, pub) != 1)
		goto out;
	if ((subj = OSSL_CRMF_CERTTEMPLATE_get0_subject(tmpl)) != NULL &&
	    X509_REQ_set_subject_name(req, subj) != 1)
		goto out;
	if ((exts = OSSL_CRMF_CERTTEMPLATE_get0_extensions(tmpl)) != NULL &&
	    sk_X509_EXTENSION_num(exts) > 0) {
		if ((ecopy = sk_X509_EXTENSION_deep_copy(exts,
		    X509_EXTENSION_dup, X509_EXTENSION_free)) == NULL ||
		    X509_REQ_add_extensions(req, ecopy) != 1)
			goto out;
	}
	/*
	 * No signature: the proof of possession was the CRMF POPO, already
	 * checked.  An empty signature keeps the structure encodable.
	 */
	if ((alg = X509_ALGOR_new()) == NULL ||
	    X509_ALGOR_set0(alg, OBJ_nid2obj(NID_ecdsa_with_SHA256),
	    V_ASN1_UNDEF, NULL) != 1 ||
	    X509_REQ_set1_signature_algo(req, alg) != 1 ||
	    (sig = ASN1_BIT_STRING_new()) == NULL)
		goto out;
	X509_REQ_set0_signature(req, sig);
	sig = NULL;	/* transferred */
	if ((dlen = i2d_X509_REQ(req, &d)) <= 0)
		goto out;
	if ((*der = malloc((size_t)dlen)) == NULL)
		goto out;
	memcpy(*der, d, (size_t)dlen);
	*len = (size_t)dlen;
	r = 0;
 out:
	OPENSSL_free(t);
	OPENSSL_free(d);
	ASN1_BIT_STRING_free(sig);
	X509_ALGOR_free(alg);
	sk_X509_EXTENSION_pop_free(ecopy, X509_EXTENSION_free);
	X509_REQ_free(req);
	EVP_PKEY_free(pub);
	ERR_clear_error();
	return r;
}

/* ---- the server ---- */

/* One transaction: the state the callbacks share. */
struct txn {
	cmp_srv			*srv;
	cmf			*c;
	OSSL_CMP_SRV_CTX	*sctx;
	STACK_OF(X509)		*chain;		/* borrowed, per request */
	char			 ref[CMF_INITCRED_REF_LEN + 1];	/* MAC */
	X509			*signer;	/* pinned extraCert */
	uint8_t			 tid[CMP_TID_MAX];
	size_t			 tidlen;
	uint64_t		 expires;
	char			 ident[CMP_IDENT_MAX];
	uint8_t			*issued;	/* DER of the answer's cert */
	size_t			 issuedlen;
	/* a request answered "waiting", for its pollReq */
	uint8_t			*pend_req;	/* the PKIMessage, DER */
	size_t			 pend_reqlen;
	uint8_t			*pend_csr;	/* as given to the CMF */
	size_t			 pend_csrlen;
	char			 pend_entity[CMF_ID_MAX + 1];
	char			 pend_certtype[CMF_CERTTYPE_MAX + 1];
	int			 pend_renewal;	/* a kur */
	/* a kur's renewed certificate (the signer): for a rejected renewal */
	char			 kur_entity[CMF_ID_MAX + 1];
	char			 kur_cert_id[CERTDB_ID_LEN + 1];
	char			 kur_certtype[CMF_CERTTYPE_MAX + 1];
};

struct cmp_srv {
	X509			*cert;
	EVP_PKEY		*key;
	pthread_mutex_t		 mtx;
	struct txn		*kept[CMP_TXN_MAX];
};

static void
txn_free(struct txn *t)
{
	if (t == NULL)
		return;
	/* OSSL_CMP_CTX_free cleanses the secret value. */
	OSSL_CMP_SRV_CTX_free(t->sctx);
	X509_free(t->signer);
	OPENSSL_free(t->issued);
	OPENSSL_free(t->pend_req);
	free(t->pend_csr);
	sodium_memzero(t, sizeof(*t));
	free(t);
}

/*
 * Keeps what a pollReq needs of a request the CA has not answered yet:
 * the request itself (OpenSSL processes it again once the answer is
 * there) and the CSR the CMF recorded it under.
 */
static int
txn_pend(struct txn *t, const OSSL_CMP_MSG *req, const char *entity,
    const char *certtype, const uint8_t *csr, size_t csrlen)
{
	unsigned char *der = NULL;
	int n;

	OPENSSL_free(t->pend_req);
	free(t->pend_csr);
	t->pend_req = NULL;
	t->pend_csr = NULL;
	if ((n = i2d_OSSL_CMP_MSG(req, &der)) <= 0)
		return CAP_ERR_NOMEM;
	if ((t->pend_csr = malloc(csrlen)) == NULL) {
		OPENSSL_free(der);
		return CAP_ERR_NOMEM;
	}
	memcpy(t->pend_csr, csr, csrlen);
	t->pend_csrlen = csrlen;
	t->pend_req = der;
	t->pend_reqlen = (size_t)n;
	snprintf(t->pend_entity, sizeof(t->pend_entity), "%s", entity);
	snprintf(t->pend_certtype, sizeof(t->pend_certtype), "%s", certtype);
	t->pend_renewal = OSSL_CMP_MSG_get_bodytype(req) == CMP_BODY_KUR;
	return 0;
}

static int
log_cb(const char *func, const char *file, int line, OSSL_CMP_severity lvl,
    const char *msg)
{
	(void)func;
	(void)file;
	(void)line;
	if (lvl <= OSSL_CMP_LOG_ERR)
		log_debug("cmp server: %s", msg);
	return 1;
}

static OSSL_CMP_PKISI *
refuse(int fail_bit, const char *why)
{
	return OSSL_CMP_STATUSINFO_new(OSSL_CMP_PKISTATUS_rejection,
	    1 << fail_bit, why);
}

static int
der_of(X509 *x, uint8_t **der, size_t *len)
{
	unsigned char *d = NULL;
	int n;

	*der = NULL;
	*len = 0;
	if ((n = i2d_X509(x, &d)) <= 0)
		return CAP_ERR_INVALID;
	*der = d;
	*len = (size_t)n;
	return 0;
}

/* Who the signer is: entity and type, or an initial certificate's. */
struct who {
	char	entity[CMF_ID_MAX + 1];
	char	certtype[CMF_CERTTYPE_MAX + 1];
	char	initcred[CMF_INITCRED_REF_LEN + 1];	/* claimed, or "" */
	struct cmf_initcred claim;	/* its claim, with the token */
	int	current;	/* a formal certificate of the CMF */
	char	cert_id[CERTDB_ID_LEN + 1];	/* current: its id */
};

static int
identify(struct txn *t, struct who *w, char *why, size_t whylen)
{
	struct cmf_initcred ic;
	uint8_t *der = NULL;
	size_t len = 0;
	int r;

	memset(w, 0, sizeof(*w));
	if (t->ref[0] != '\0') {
		if ((r = cmf_initcred_claim(t->c, t->ref, &ic)) != 0) {
			snprintf(why, whylen, "the initial credential is "
			    "unknown, used or expired");
			return r;
		}
		snprintf(w->entity, sizeof(w->entity), "%s", ic.entity);
		snprintf(w->certtype, sizeof(w->certtype), "%s", ic.certtype);
		snprintf(w->initcred, sizeof(w->initcred), "%s", t->ref);
		w->claim = ic;
		sodium_memzero(&ic, sizeof(ic));
		return 0;
	}
	if (t->signer == NULL) {
		snprintf(why, whylen, "the request is not protected");
		return CAP_ERR_UNAUTH;
	}
	if ((r = der_of(t->signer, &der, &len)) != 0)
		return r;
	if ((r = cmf_cert_lookup(t->c, der, len, w->entity, w->cert_id,
	    w->certtype)) == 0)
		w->current = 1;
	else if ((r = cmf_initcred_claim_cert(t->c, der, len,
	    &ic)) == 0) {
		snprintf(w->entity, sizeof(w->entity), "%s", ic.entity);
		snprintf(w->certtype, sizeof(w->certtype), "%s", ic.certtype);
		snprintf(w->initcred, sizeof(w->initcred), "%s", ic.ref);
		w->claim = ic;
		sodium_memzero(&ic, sizeof(ic));
	} else {
		snprintf(why, whylen, "the signer is not a valid certificate "
		    "of this CA");
		if (r == CAP_ERR_NOT_FOUND)
			r = CAP_ERR_UNAUTH;
	}
	OPENSSL_free(der);
	return r;
}

static int
fail_bit_of(int r)
{
	switch (r) {
	case CAP_ERR_UNAUTH:
	case CAP_ERR_DENIED:
		return OSSL_CMP_PKIFAILUREINFO_notAuthorized;
	case CAP_ERR_INVALID:
		return OSSL_CMP_PKIFAILUREINFO_badCertTemplate;
	case CAP_ERR_CONFLICT:	/* another request of this client pending */
	case CAP_ERR_GONE:
	case CAP_ERR_NOT_FOUND:	/* the entity, removed meanwhile */
		return OSSL_CMP_PKIFAILUREINFO_badRequest;
	case CAP_ERR_UNAVAILABLE:
	case CAP_ERR_RATE:
		return OSSL_CMP_PKIFAILUREINFO_systemUnavail;
	default:
		return OSSL_CMP_PKIFAILUREINFO_systemFailure;
	}
}

static STACK_OF(X509) *
chain_dup(STACK_OF(X509) *sk)
{
	return sk != NULL ? X509_chain_up_ref(sk) : NULL;
}

static OSSL_CMP_PKISI *
cb_cert_request(OSSL_CMP_SRV_CTX *sctx, const OSSL_CMP_MSG *req,
    int certReqId, const OSSL_CRMF_MSG *crm, const X509_REQ *p10cr,
    X509 **certOut, STACK_OF(X509) **chainOut, STACK_OF(X509) **caPubs)
{
	struct txn *t = OSSL_CMP_SRV_CTX_get0_custom_ctx(sctx);
	struct cmf_issued is;
	struct who w;
	uint8_t *csr = NULL, *cur = NULL;
	unsigned char *p10 = NULL;
	size_t csrlen = 0, curlen = 0;
	char why[256] = "";
	unsigned flags = 0;
	int body = OSSL_CMP_MSG_get_bodytype(req), n, r;
	OSSL_CMP_PKISI *si = NULL;

	(void)certReqId;
	memset(&is, 0, sizeof(is));
	if ((r = identify(t, &w, why, sizeof(why))) != 0)
		return refuse(fail_bit_of(r), why);
	if (p10cr != NULL) {
		if ((n = i2d_X509_REQ(p10cr, &p10)) <= 0) {
			r = CAP_ERR_INVALID;
			goto fail;
		}
		csr = p10;
		csrlen = (size_t)n;
	} else {
		if ((r = cmp_crm_to_csr(crm, &csr, &csrlen)) != 0)
			goto fail;
		flags = CMF_POP_VERIFIED;
	}
	flags |= CMF_MAY_PEND;
	if (body == CMP_BODY_KUR) {
		if (!w.current) {
			snprintf(why, sizeof(why), "kur needs the current "
			    "certificate as signer");
			r = CAP_ERR_UNAUTH;
			goto fail;
		}
		if ((r = der_of(t->signer, &cur, &curlen)) != 0 ||
		    (r = cmf_renew_csr(t->c, cur, curlen, csr, csrlen,
		    flags, &is, why, sizeof(why))) != 0)
			goto fail;
		snprintf(t->kur_entity, sizeof(t->kur_entity), "%s", w.entity);
		snprintf(t->kur_cert_id, sizeof(t->kur_cert_id), "%s",
		    w.cert_id);
		snprintf(t->kur_certtype, sizeof(t->kur_certtype), "%s",
		    w.certtype);
	} else if ((w.current &&
	    (r = der_of(t->signer, &cur, &curlen)) != 0) ||
	    (r = cmf_issue_csr_claimed(t->c, w.entity, w.certtype, csr,
	    csrlen, flags, w.initcred[0] != '\0' ? &w.claim : NULL, cur,
	    curlen, &is, why, sizeof(why))) != 0) {
		w.initcred[0] = '\0';	/* released by the CMF */
		goto fail;
	}
	w.initcred[0] = '\0';
	OPENSSL_free(t->pend_req);	/* answered */
	t->pend_req = NULL;
	/* kept for a certConf that rejects it */
	OPENSSL_free(t->issued);
	t->issued = NULL;
	t->issuedlen = 0;
	if (der_of(is.cert, &t->issued, &t->issuedlen) != 0)
		log_warn("cmp server: the certificate issued to %s cannot be "
		    "kept for its certConf", w.entity);
	*certOut = is.cert;
	is.cert = NULL;	/* transferred */
	*chainOut = chain_dup(is.chain);
	if (body == CMP_BODY_IR)
		*caPubs = chain_dup(is.chain != NULL ? is.chain : t->chain);
	log_info("cmp server: issued a certificate to entity %s (%s)",
	    w.entity, w.certtype);
	si = OSSL_CMP_STATUSINFO_new(OSSL_CMP_PKISTATUS_accepted, 0, NULL);
	goto out;
 fail:
	if (w.initcred[0] != '\0')
		cmf_initcred_release(t->c, w.initcred, w.claim.claim_token);
	if (r == CAP_ERR_PENDING && txn_pend(t, req, w.entity, w.certtype, csr,
	    csrlen) == 0) {
		/* RFC 4210 5.3.22: the client polls with pollReq */
		log_info("cmp server: the request of entity %s waits for the "
		    "CA", w.entity);
		si = OSSL_CMP_STATUSINFO_new(OSSL_CMP_PKISTATUS_waiting, 0,
		    NULL);
		goto out;
	}
	log_info("cmp server: refused a certificate request: %s",
	    cap_strerror(r));
	si = refuse(fail_bit_of(r), why[0] != '\0' ? why :
	    "the request was refused");
 out:
	if (csr != p10)
		free(csr);
	OPENSSL_free(p10);
	OPENSSL_free(cur);
	cmf_issued_clear(&is);
	sodium_memzero(&w, sizeof(w));
	return si;
}

static OSSL_CMP_PKISI *
cb_rr(OSSL_CMP_SRV_CTX *sctx, const OSSL_CMP_MSG *req,
    const X509_NAME *issuer, const ASN1_INTEGER *serial)
{
	struct txn *t = OSSL_CMP_SRV_CTX_get0_custom_ctx(sctx);
	struct who w;
	unsigned char *rder = NULL;
	uint8_t *der = NULL;
	size_t len = 0;
	char why[256] = "";
	int n, reason = 0, r;

	if ((r = identify(t, &w, why, sizeof(why))) != 0)
		return refuse(fail_bit_of(r), why);
	if (w.initcred[0] != '\0') {
		cmf_initcred_release(t->c, w.initcred, w.claim.claim_token);
		sodium_memzero(&w, sizeof(w));
		return refuse(OSSL_CMP_PKIFAILUREINFO_notAuthorized,
		    "revocation needs the certificate as signer");
	}
	/* Only the holder revokes: the signer is the certificate named. */
	if (!w.current || issuer == NULL || serial == NULL ||
	    X509_NAME_cmp(issuer, X509_get_issuer_name(t->signer)) != 0 ||
	    ASN1_INTEGER_cmp(serial, X509_get0_serialNumber(t->signer)) != 0)
		return refuse(OSSL_CMP_PKIFAILUREINFO_notAuthorized,
		    "only the holder of a certificate may revoke it");
	/*
	 * OpenSSL 3.0 hands this callback the certificate's issuer and
	 * serial only: the reason is read from the request's RevDetails.
	 */
	if ((n = i2d_OSSL_CMP_MSG(req, &rder)) <= 0)
		r = CAP_ERR_INVALID;
	else
		r = cmp_rr_reason(rder, (size_t)n, &reason);
	OPENSSL_free(rder);
	if (r != 0)
		return refuse(OSSL_CMP_PKIFAILUREINFO_badDataFormat,
		    "the revocation details do not parse");
	if ((r = der_of(t->signer, &der, &len)) == 0)
		r = cmf_revoke_cert(t->c, der, len, reason, why,
		    sizeof(why));
	OPENSSL_free(der);
	if (r != 0)
		return refuse(fail_bit_of(r), why[0] != '\0' ? why :
		    "the revocation failed");
	log_info("cmp server: entity %s revoked its certificate (reason %d)",
	    w.entity, reason);
	return OSSL_CMP_STATUSINFO_new(OSSL_CMP_PKISTATUS_accepted, 0, NULL);
}

/* id-it-caCerts (RFC 9480 4.3.1): SEQUENCE OF Certificate. */
static OSSL_CMP_ITAV *
itav_cacerts(STACK_OF(X509) *chain)
{
	ASN1_OBJECT *oid = NULL;
	ASN1_TYPE *v = NULL;
	ASN1_STRING *seq = NULL;
	OSSL_CMP_ITAV *itav = NULL;
	unsigned char *buf = NULL, *w, *d = NULL;
	size_t total = 0, hdr, i;
	int n;

	for (i = 0; i < (size_t)sk_X509_num(chain); i++) {
		if ((n = i2d_X509(sk_X509_value(chain, (int)i), NULL)) <= 0)
			return NULL;
		total += (size_t)n;
	}
	hdr = total < 0x80 ? 2 : total < 0x100 ? 3 : total < 0x10000 ? 4 : 5;
	if (total >= 0x1000000 || (buf = malloc(hdr + total)) == NULL)
		return NULL;
	buf[0] = 0x30;
	if (hdr == 2)
		buf[1] = (uint8_t)total;
	else {
		buf[1] = (uint8_t)(0x80 | (hdr - 2));
		for (i = 0; i < hdr - 2; i++)
			buf[2 + i] = (uint8_t)(total >> (8 * (hdr - 3 - i)));
	}
	w = buf + hdr;
	for (i = 0; i < (size_t)sk_X509_num(chain); i++) {
		d = w;
		if (i2d_X509(sk_X509_value(chain, (int)i), &d) <= 0)
			goto out;
		w = d;
	}
	if ((oid = OBJ_txt2obj("1.3.6.1.5.5.7.4.17", 1)) == NULL ||
	    (seq = ASN1_STRING_new()) == NULL ||
	    ASN1_STRING_set(seq, buf, (int)(hdr + total)) != 1 ||
	    (v = ASN1_TYPE_new()) == NULL)
		goto out;
	ASN1_TYPE_set(v, V_ASN1_SEQUENCE, seq);
	seq = NULL;	/* transferred */
	if ((itav = OSSL_CMP_ITAV_create(oid, v)) != NULL)
		oid = NULL, v = NULL;	/* transferred */
 out:
	ASN1_OBJECT_free(oid);
	ASN1_TYPE_free(v);
	ASN1_STRING_free(seq);
	free(buf);
	return itav;
}

static int
cb_genm(OSSL_CMP_SRV_CTX *sctx, const OSSL_CMP_MSG *req,
    const STACK_OF(OSSL_CMP_ITAV) *in, STACK_OF(OSSL_CMP_ITAV) **out)
{
	struct txn *t = OSSL_CMP_SRV_CTX_get0_custom_ctx(sctx);
	OSSL_CMP_ITAV *itav;
	char oid[64];
	int i, want = sk_OSSL_CMP_ITAV_num(in) <= 0;

	(void)req;
	for (i = 0; i < sk_OSSL_CMP_ITAV_num(in); i++) {
		OBJ_obj2txt(oid, sizeof(oid), OSSL_CMP_ITAV_get0_type(
		    sk_OSSL_CMP_ITAV_value(in, i)), 1);
		if (strcmp(oid, "1.3.6.1.5.5.7.4.17") == 0)
			want = 1;
	}
	if ((*out = sk_OSSL_CMP_ITAV_new_null()) == NULL)
		return 0;
	if (!want || sk_X509_num(t->chain) <= 0)
		return 1;
	if ((itav = itav_cacerts(t->chain)) == NULL ||
	    !sk_OSSL_CMP_ITAV_push(*out, itav)) {
		OSSL_CMP_ITAV_free(itav);
		sk_OSSL_CMP_ITAV_free(*out);
		*out = NULL;
		return 0;
	}
	return 1;
}

static void
cb_error(OSSL_CMP_SRV_CTX *sctx, const OSSL_CMP_MSG *req,
    const OSSL_CMP_PKISI *si, const ASN1_INTEGER *code,
    const OSSL_CMP_PKIFREETEXT *details)
{
	(void)sctx;
	(void)req;
	(void)si;
	(void)code;
	(void)details;
	log_info("cmp server: the client sent an error message");
}

/*
 * The PKIStatus of si: PKIStatusInfo is SEQUENCE { status INTEGER, ... }
 * (OpenSSL 3.0 has no getter for it); -1 when it does not parse.
 */
static int
pkisi_status(const OSSL_CMP_PKISI *si)
{
	unsigned char *der = NULL;
	struct tlv seq, st;
	int n, v = -1;

	if ((n = i2d_OSSL_CMP_PKISI(si, &der)) <= 0)
		return -1;
	if (tlv_read(der, (size_t)n, &seq) == 0 && seq.tag == 0x30 &&
	    tlv_read(seq.val, seq.len, &st) == 0 && st.tag == 0x02 &&
	    st.len == 1 && st.val[0] < 0x80)
		v = st.val[0];
	OPENSSL_free(der);
	return v;
}

/*
 * A certificate the client rejected (RFC 4210 5.3.18, RFC 9483 4.1.1) is
 * revoked: it was issued, and would otherwise stay valid with nobody
 * using it.  The initial credential stays spent; the certificate a
 * rejected kur renewed can renew again.
 */
static void
revoke_rejected(struct txn *t)
{
	char why[256] = "";
	uint8_t *old = NULL;
	size_t oldlen = 0;
	int r;

	if (t == NULL || t->issued == NULL) {
		log_warn("cmp server: no certificate of this transaction to "
		    "revoke");
		return;
	}
	if ((r = cmf_revoke_cert(t->c, t->issued, t->issuedlen,
	    CMP_REASON_CESSATION, why, sizeof(why))) != 0)
		log_warn("cmp server: cannot revoke the rejected certificate: "
		    "%s", why[0] != '\0' ? why : cap_strerror(r));
	else {
		log_info("cmp server: the rejected certificate was revoked");
		/* a rejected kur: the old certificate renews once more */
		if (t->kur_cert_id[0] != '\0' && t->signer != NULL &&
		    der_of(t->signer, &old, &oldlen) == 0 &&
		    (r = cmf_renew_undo(t->c, old, oldlen, t->issued,
		    t->issuedlen, t->kur_entity, t->kur_cert_id,
		    t->kur_certtype)) != 0)
			log_warn("cmp server: the renewed certificate %s cannot "
			    "renew again: %s", t->kur_cert_id, cap_strerror(r));
		OPENSSL_free(old);
	}
	t->kur_cert_id[0] = '\0';
	OPENSSL_free(t->issued);
	t->issued = NULL;
	t->issuedlen = 0;
}

/* certConf with a CertStatus (an empty one: cmp_srv_process). */
static int
cb_certconf(OSSL_CMP_SRV_CTX *sctx, const OSSL_CMP_MSG *req, int certReqId,
    const ASN1_OCTET_STRING *hash, const OSSL_CMP_PKISI *si)
{
	struct txn *t = OSSL_CMP_SRV_CTX_get0_custom_ctx(sctx);
	int st;

	(void)req;
	(void)certReqId;
	(void)hash;
	/* no statusInfo: accepted */
	if (si == NULL || (st = pkisi_status(si)) == OSSL_CMP_PKISTATUS_accepted)
		return 1;
	log_info("cmp server: the client rejected its certificate (status %d)",
	    st);
	revoke_rejected(t);
	return 1;
}

/*
 * pollReq of a request answered "waiting": once the CA has answered, the
 * kept request goes through cb_cert_request again (which collects the
 * certificate or the refusal from the CMF); until then, pollRep with
 * checkAfter.
 */
static int
cb_pollreq(OSSL_CMP_SRV_CTX *sctx, const OSSL_CMP_MSG *req, int certReqId,
    OSSL_CMP_MSG **certReq, int64_t *check_after)
{
	struct txn *t = OSSL_CMP_SRV_CTX_get0_custom_ctx(sctx);
	const unsigned char *p;
	uint32_t retry = 0;
	int r;

	(void)req;
	(void)certReqId;
	*certReq = NULL;
	*check_after = 0;
	if (t == NULL || t->pend_req == NULL) {
		log_info("cmp server: pollReq without a waiting request");
		return 0;
	}
	r = cmf_pend_check(t->c, t->pend_entity, t->pend_certtype,
	    t->pend_renewal, t->pend_csr, t->pend_csrlen, &retry);
	if (r == CAP_ERR_PENDING) {
		*check_after = retry;
		return 1;
	}
	if (r != 0) {
		log_info("cmp server: the waiting request of %s is gone: %s",
		    t->pend_entity, cap_strerror(r));
		return 0;
	}
	p = t->pend_req;
	if ((*certReq = d2i_OSSL_CMP_MSG(NULL, &p,
	    (long)t->pend_reqlen)) == NULL)
		return 0;
	return 1;
}

int
cmp_srv_new(X509 *cert, EVP_PKEY *key, cmp_srv **out)
{
	cmp_srv *s;

	*out = NULL;
	if (cert == NULL || key == NULL)
		return CAP_ERR_INVALID;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return CAP_ERR_NOMEM;
	X509_up_ref(cert);
	s->cert = cert;
	EVP_PKEY_up_ref(key);
	s->key = key;
	pthread_mutex_init(&s->mtx, NULL);
	*out = s;
	return 0;
}

void
cmp_srv_free(cmp_srv *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < CMP_TXN_MAX; i++)
		txn_free(s->kept[i]);
	X509_free(s->cert);
	EVP_PKEY_free(s->key);
	pthread_mutex_destroy(&s->mtx);
	free(s);
}

/* Takes the kept transaction of tid out of the table, or NULL. */
static struct txn *
txn_take(cmp_srv *s, const uint8_t *tid, size_t tidlen)
{
	struct txn *t = NULL;
	uint64_t now = cap_now();
	size_t i;

	pthread_mutex_lock(&s->mtx);
	for (i = 0; i < CMP_TXN_MAX; i++) {
		if (s->kept[i] == NULL)
			continue;
		if (s->kept[i]->expires <= now) {
			txn_free(s->kept[i]);
			s->kept[i] = NULL;
			continue;
		}
		if (t == NULL && tidlen > 0 && s->kept[i]->tidlen == tidlen &&
		    memcmp(s->kept[i]->tid, tid, tidlen) == 0) {
			t = s->kept[i];
			s->kept[i] = NULL;
		}
	}
	pthread_mutex_unlock(&s->mtx);
	return t;
}

/* Keeps t for its certConf; the oldest goes when the table is full. */
static void
txn_keep(cmp_srv *s, struct txn *t)
{
	size_t i, slot = 0;

	t->expires = cap_now() + CMP_TXN_TTL_S;
	t->chain = NULL;
	pthread_mutex_lock(&s->mtx);
	for (i = 0; i < CMP_TXN_MAX; i++) {
		if (s->kept[i] == NULL) {
			slot = i;
			break;
		}
		if (s->kept[i]->expires < s->kept[slot]->expires)
			slot = i;
	}
	txn_free(s->kept[slot]);
	s->kept[slot] = t;
	pthread_mutex_unlock(&s->mtx);
}

/* The RFC 2253 text of a name, cut to fit. */
static void
name_text(const X509_NAME *n, char *out, size_t outsz)
{
	BIO *b;
	int len;

	out[0] = '\0';
	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return;
	if (X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253) >= 0 &&
	    (len = BIO_read(b, out, (int)outsz - 1)) > 0)
		out[len] = '\0';
	BIO_free(b);
}

/* A fresh transaction for a request that opens one. */
static int
txn_new(cmp_srv *s, cmf *c, const struct cmp_peek *pk, struct txn **out)
{
	struct cmf_initcred ic;
	OSSL_CMP_CTX *ctx;
	struct txn *t = NULL;
	const unsigned char *q;
	uint8_t *secret = NULL;
	size_t seclen = 0;
	int r = CAP_ERR_NOMEM;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		goto out;
	t->srv = s;
	t->c = c;
	memcpy(t->tid, pk->tid, pk->tidlen);
	t->tidlen = pk->tidlen;
	if ((t->sctx = OSSL_CMP_SRV_CTX_new(NULL, NULL)) == NULL ||
	    OSSL_CMP_SRV_CTX_init(t->sctx, t, cb_cert_request, cb_rr,
	    cb_genm, cb_error, cb_certconf, cb_pollreq) != 1)
		goto out;
	ctx = OSSL_CMP_SRV_CTX_get0_cmp_ctx(t->sctx);
	OSSL_CMP_CTX_set_log_cb(ctx, log_cb);
	OSSL_CMP_CTX_set_log_verbosity(ctx, OSSL_CMP_LOG_ERR);
	if (OSSL_CMP_CTX_set1_cert(ctx, s->cert) != 1 ||
	    OSSL_CMP_CTX_set1_pkey(ctx, s->key) != 1 ||
	    OSSL_CMP_SRV_CTX_set_send_unprotected_errors(t->sctx, 1) != 1 ||
	    OSSL_CMP_SRV_CTX_set_grant_implicit_confirm(t->sctx, 1) != 1 ||
	    OSSL_CMP_SRV_CTX_set_accept_unprotected(t->sctx,
	    pk->body == CMP_BODY_GENM) != 1)
		goto out;
	if (pk->prot == CMP_PROT_MAC && pk->ref[0] != '\0') {
		snprintf(t->ident, sizeof(t->ident), "initcred:%s", pk->ref);
		/*
		 * An unknown, used or expired reference gives no secret:
		 * OpenSSL then refuses the MAC with an error message.
		 */
		if (cmf_initcred_secret(c, pk->ref, &secret, &seclen,
		    &ic) == 0) {
			if (OSSL_CMP_CTX_set1_secretValue(ctx, secret,
			    (int)seclen) != 1 ||
			    OSSL_CMP_CTX_set1_referenceValue(ctx,
			    (const unsigned char *)pk->ref,
			    (int)strlen(pk->ref)) != 1)
				goto out;
			snprintf(t->ref, sizeof(t->ref), "%s", pk->ref);
		}
	} else if (pk->prot == CMP_PROT_SIG && pk->cert != NULL) {
		q = pk->cert;
		if ((t->signer = d2i_X509(NULL, &q, (long)pk->certlen)) != NULL) {
			if (OSSL_CMP_CTX_set1_srvCert(ctx, t->signer) != 1)
				goto out;
			name_text(X509_get_subject_name(t->signer), t->ident,
			    sizeof(t->ident));
		}
	}
	*out = t;
	t = NULL;	/* transferred */
	r = 0;
 out:
	if (secret != NULL) {
		sodium_memzero(secret, seclen);
		sodium_free(secret);
	}
	txn_free(t);
	return r;
}

int
cmp_srv_process(cmp_srv *s, cmf *c, const uint8_t *der, size_t len,
    STACK_OF(X509) *chain, uint8_t **resp, size_t *resplen,
    char ident[CMP_IDENT_MAX])
{
	struct cmp_peek pk;
	struct txn *t = NULL;
	OSSL_CMP_MSG *req = NULL, *rsp = NULL;
	const unsigned char *q = der;
	unsigned char *out = NULL;
	int n, body, r;

	*resp = NULL;
	*resplen = 0;
	ident[0] = '\0';
	if (len > CMP_MSG_MAX)
		return CAP_ERR_TOO_LARGE;
	if ((r = cmp_req_peek(der, len, &pk)) != 0)
		return r;
	if ((req = d2i_OSSL_CMP_MSG(NULL, &q, (long)len)) == NULL ||
	    q != der + len) {
		r = CAP_ERR_INVALID;
		goto out;
	}
	if (pk.body == CMP_BODY_CERTCONF || pk.body == CMP_BODY_POLLREQ)
		t = txn_take(s, pk.tid, pk.tidlen);
	if (t == NULL && (r = txn_new(s, c, &pk, &t)) != 0)
		goto out;
	t->chain = chain;
	r = CAP_ERR_INTERNAL;
	rsp = OSSL_CMP_SRV_process_request(t->sctx, req);
	snprintf(ident, CMP_IDENT_MAX, "%s", t->ident);
	if (rsp == NULL) {
		log_warn("cmp server: no answer could be built");
		goto out;
	}
	if ((n = i2d_OSSL_CMP_MSG(rsp, &out)) <= 0)
		goto out;
	if ((*resp = malloc((size_t)n)) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	memcpy(*resp, out, (size_t)n);
	*resplen = (size_t)n;
	body = OSSL_CMP_MSG_get_bodytype(rsp);
	/*
	 * An empty certConf rejects every certificate of the transaction;
	 * OpenSSL confirms it without calling cb_certconf.
	 */
	if (pk.certconf_empty && body == CMP_BODY_PKICONF) {
		log_info("cmp server: the client rejected its certificate "
		    "(empty certConf)");
		revoke_rejected(t);
	}
	/* kept for its certConf, or its pollReq */
	if ((body == CMP_BODY_IP || body == CMP_BODY_CP ||
	    body == CMP_BODY_KUP || body == CMP_BODY_POLLREP) &&
	    pk.tidlen > 0) {
		txn_keep(s, t);
		t = NULL;	/* transferred */
	}
	r = 0;
 out:
	txn_free(t);
	OPENSSL_free(out);
	OSSL_CMP_MSG_free(rsp);
	OSSL_CMP_MSG_free(req);
	ERR_clear_error();
	return r;
}
