/*
 * pkg_verify.c - verification of a VNF package in its three signed forms
 * (ETSI GS NFV-SOL 004 options 1 and 2, per-artifact signatures).
 *
 * Each CMS signature is checked in two steps so that a failure names its
 * cause: CMS_verify checks the signature over the content (streamed
 * through a BIO) without the signer's path, then chain_validate walks the
 * path from the signer to one of the trusted roots with the checks of
 * GR NFV-SEC 005 clause 4.5.1 and OpenSSL's verifier over the same roots
 * (intermediates come only from the CMS and the .cert file, never as
 * anchors).  Key usage and CRLs are checked on the path that verified.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/cms.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "common/err.h"
#include "common/util.h"
#include "crypto/chain.h"
#include "crypto/pkg.h"

#define ISSUES_MAX	1000	/* a report lists at most this many */

struct vctx {
	const struct pkg_verify_opts	*o;
	struct pkg_report		*r;
	time_t				 now;
	int				 err;	/* CAP_ERR_NOMEM seen */
	size_t				 limit;	/* issues listed at most */
	size_t				 dropped;
};

const char *
pkg_form_name(enum pkg_form f)
{
	switch (f) {
	case PKG_FORM_SIGNED_CSAR:
		return "signed-csar";
	case PKG_FORM_MANIFEST:
		return "manifest";
	case PKG_FORM_ARTIFACT:
		return "artifact";
	default:
		return "none";
	}
}

void
pkg_report_free(struct pkg_report *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nissues; i++) {
		free(r->issues[i].path);
		free(r->issues[i].message);
	}
	free(r->issues);
	free(r->signer);
	free(r);
}

static void issue(struct vctx *v, const char *code, const char *path,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
issue(struct vctx *v, const char *code, const char *path, const char *fmt,
    ...)
{
	struct pkg_issue *ni, *is;
	char msg[512];
	va_list ap;

	if (v->r->nissues >= v->limit) {
		v->dropped++;
		return;
	}
	if (v->r->nissues % 16 == 0) {
		if ((ni = reallocarray(v->r->issues, v->r->nissues + 16,
		    sizeof(*ni))) == NULL) {
			v->err = CAP_ERR_NOMEM;
			return;
		}
		v->r->issues = ni;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	is = &v->r->issues[v->r->nissues];
	is->code = code;
	is->path = path != NULL ? strdup(path) : NULL;
	is->message = strdup(msg);
	if ((path != NULL && is->path == NULL) || is->message == NULL) {
		free(is->path);
		free(is->message);
		v->err = CAP_ERR_NOMEM;
		return;
	}
	v->r->nissues++;
}

/* ---- PEM helpers ---- */

int
pkg_pem_certs(const void *buf, size_t len, STACK_OF(X509) **out)
{
	BIO *b = NULL;
	X509 *x;
	int r, n = 0;

	if (buf == NULL || len > INT32_MAX)
		return CAP_ERR_INVALID;
	if (*out == NULL && (*out = sk_X509_new_null()) == NULL)
		return CAP_ERR_NOMEM;
	if ((b = BIO_new_mem_buf(buf, (int)len)) == NULL)
		return CAP_ERR_NOMEM;
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_num(*out) >= 64 || sk_X509_push(*out, x) == 0) {
			X509_free(x);
			r = CAP_ERR_TOO_LARGE;
			goto out;
		}
		n++;
	}
	r = n > 0 ? 0 : CAP_ERR_INVALID;
 out:
	ERR_clear_error();
	BIO_free(b);
	return r;
}

int
pkg_pem_crls(const void *buf, size_t len, STACK_OF(X509_CRL) **out)
{
	const unsigned char *p = buf;
	X509_CRL *c;
	BIO *b = NULL;
	int r, n = 0;

	if (buf == NULL || len > INT32_MAX)
		return CAP_ERR_INVALID;
	if (*out == NULL && (*out = sk_X509_CRL_new_null()) == NULL)
		return CAP_ERR_NOMEM;
	if ((b = BIO_new_mem_buf(buf, (int)len)) == NULL)
		return CAP_ERR_NOMEM;
	while ((c = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_CRL_num(*out) >= 64 ||
		    sk_X509_CRL_push(*out, c) == 0) {
			X509_CRL_free(c);
			r = CAP_ERR_TOO_LARGE;
			goto out;
		}
		n++;
	}
	if (n == 0 && (c = d2i_X509_CRL(NULL, &p, (long)len)) != NULL) {
		if (sk_X509_CRL_push(*out, c) == 0) {
			X509_CRL_free(c);
			r = CAP_ERR_NOMEM;
			goto out;
		}
		n++;
	}
	r = n > 0 ? 0 : CAP_ERR_INVALID;
 out:
	ERR_clear_error();
	BIO_free(b);
	return r;
}

static char *
subject_of(X509 *c)
{
	BIO *b;
	BUF_MEM *bm;
	char *s = NULL;

	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return NULL;
	if (X509_NAME_print_ex(b, X509_get_subject_name(c), 0,
	    XN_FLAG_RFC2253) >= 0) {
		BIO_get_mem_ptr(b, &bm);
		s = cap_bytes_str(bm->data, bm->length);
	}
	BIO_free(b);
	return s;
}

/* ---- one signature ---- */

static CMS_ContentInfo *
cms_read(const uint8_t *buf, size_t len)
{
	CMS_ContentInfo *cms = NULL;
	BIO *b;

	if (len > INT32_MAX || (b = BIO_new_mem_buf(buf, (int)len)) == NULL)
		return NULL;
	if ((cms = PEM_read_bio_CMS(b, NULL, NULL, NULL)) == NULL) {
		(void)BIO_reset(b);
		cms = d2i_CMS_bio(b, NULL);
	}
	BIO_free(b);
	ERR_clear_error();
	return cms;
}

/*
 * The signer's path, for the CRL check: X509_verify_cert against the
 * roots alone, at v->now.  NULL when there is none.
 */
static STACK_OF(X509) *
signer_path(struct vctx *v, X509 *signer, STACK_OF(X509) *untrusted)
{
	X509_STORE *st = NULL;
	X509_STORE_CTX *ctx = NULL;
	STACK_OF(X509) *path = NULL;
	int i;

	if ((st = X509_STORE_new()) == NULL ||
	    (ctx = X509_STORE_CTX_new()) == NULL)
		goto out;
	for (i = 0; i < sk_X509_num(v->o->roots); i++)
		if (X509_STORE_add_cert(st, sk_X509_value(v->o->roots, i)) != 1)
			goto out;
	if (X509_STORE_CTX_init(ctx, st, signer, untrusted) != 1)
		goto out;
	X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), v->now);
	X509_VERIFY_PARAM_set_depth(X509_STORE_CTX_get0_param(ctx),
	    CHAIN_DEPTH_MAX);
	if (X509_verify_cert(ctx) == 1)
		path = X509_STORE_CTX_get1_chain(ctx);
 out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	ERR_clear_error();
	return path;
}

/*
 * Revocation along the path: every certificate but the anchor, against
 * each CRL its issuer signed.  Returns 1 when one is revoked.
 */
static int
check_crls(struct vctx *v, STACK_OF(X509) *path, const char *label)
{
	X509_REVOKED *rev;
	X509_CRL *crl;
	X509 *c, *iss;
	EVP_PKEY *pk;
	char *subj;
	int i, j;

	for (i = 0; i + 1 < sk_X509_num(path); i++) {
		c = sk_X509_value(path, i);
		iss = sk_X509_value(path, i + 1);
		for (j = 0; j < sk_X509_CRL_num(v->o->crls); j++) {
			crl = sk_X509_CRL_value(v->o->crls, j);
			if (X509_NAME_cmp(X509_CRL_get_issuer(crl),
			    X509_get_subject_name(iss)) != 0)
				continue;
			if ((pk = X509_get0_pubkey(iss)) == NULL ||
			    X509_CRL_verify(crl, pk) != 1) {
				ERR_clear_error();
				continue;
			}
			rev = NULL;
			if (X509_CRL_get0_by_cert(crl, &rev, c) == 1) {
				subj = subject_of(c);
				issue(v, "revoked", label, "certificate of %s "
				    "is revoked: %s", label, subj != NULL ?
				    subj : "?");
				free(subj);
				return 1;
			}
		}
	}
	return 0;
}

/* Key usage of a signing certificate. */
static int
check_usage(struct vctx *v, X509 *signer, const char *label)
{
	uint32_t flags = X509_get_extension_flags(signer);

	if ((flags & EXFLAG_KUSAGE) != 0 &&
	    (X509_get_key_usage(signer) & KU_DIGITAL_SIGNATURE) == 0) {
		issue(v, "key_usage", label, "the signer of %s may not sign: "
		    "keyUsage lacks digitalSignature", label);
		return 1;
	}
	if ((flags & EXFLAG_XKUSAGE) != 0 &&
	    (X509_get_extended_key_usage(signer) &
	    (XKU_CODE_SIGN | XKU_ANYEKU)) == 0) {
		issue(v, "key_usage", label, "the signer of %s may not sign "
		    "code: extendedKeyUsage lacks codeSigning", label);
		return 1;
	}
	return 0;
}

/*
 * verify_cms checks one detached signature cms_text over the content read
 * from dcont; extra (may be NULL) holds the certificates of a .cert file.
 * Issues name label.  Returns 1 when everything held.
 */
static int
verify_cms(struct vctx *v, const uint8_t *cms_text, size_t cms_len,
    BIO *dcont, STACK_OF(X509) *extra, const char *label)
{
	CMS_ContentInfo *cms = NULL;
	STACK_OF(X509) *untrusted = NULL, *incms = NULL, *path = NULL;
	STACK_OF(CMS_SignerInfo) *sis;
	CMS_SignerInfo *si;
	X509 *signer;
	char reason[512], *subj;
	int i, ok = 0, bad = 0;

	if ((cms = cms_read(cms_text, cms_len)) == NULL) {
		issue(v, "format", label, "the signature of %s is not CMS",
		    label);
		goto out;
	}
	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed ||
	    !CMS_is_detached(cms)) {
		issue(v, "format", label, "the signature of %s is not a "
		    "detached CMS SignedData", label);
		goto out;
	}
	if ((untrusted = sk_X509_new_null()) == NULL) {
		v->err = CAP_ERR_NOMEM;
		goto out;
	}
	for (i = 0; extra != NULL && i < sk_X509_num(extra); i++)
		if (sk_X509_push(untrusted, sk_X509_value(extra, i)) == 0) {
			v->err = CAP_ERR_NOMEM;
			goto out;
		}
	if ((incms = CMS_get1_certs(cms)) != NULL)
		for (i = 0; i < sk_X509_num(incms); i++)
			if (sk_X509_push(untrusted,
			    sk_X509_value(incms, i)) == 0) {
				v->err = CAP_ERR_NOMEM;
				goto out;
			}
	if ((sis = CMS_get0_SignerInfos(cms)) == NULL ||
	    sk_CMS_SignerInfo_num(sis) != 1) {
		issue(v, "format", label, "the signature of %s must have "
		    "exactly one signer", label);
		goto out;
	}
	if (CMS_set1_signers_certs(cms, untrusted, 0) != 1) {
		issue(v, "untrusted", label, "the certificate of the signer "
		    "of %s is not in the package", label);
		goto out;
	}
	si = sk_CMS_SignerInfo_value(sis, 0);
	signer = NULL;
	CMS_SignerInfo_get0_algs(si, NULL, &signer, NULL, NULL);
	if (signer == NULL) {
		issue(v, "untrusted", label, "the certificate of the signer "
		    "of %s is not in the package", label);
		goto out;
	}
	if (v->r->signer == NULL && (v->r->signer = subject_of(signer)) ==
	    NULL) {
		v->err = CAP_ERR_NOMEM;
		goto out;
	}

	if (CMS_verify(cms, untrusted, NULL, dcont, NULL, CMS_BINARY |
	    CMS_NO_SIGNER_CERT_VERIFY) != 1) {
		issue(v, "signature", label, "the signature does not match "
		    "the content of %s", label);
		bad = 1;
	}

	if (chain_validate(signer, untrusted, v->o->roots, NULL, 0, v->now,
	    reason, sizeof(reason)) != 0) {
		if (strstr(reason, "expired") != NULL ||
		    strstr(reason, "not yet valid") != NULL)
			issue(v, "expired", label, "signer of %s: %s", label,
			    reason);
		else
			issue(v, "untrusted", label, "signer of %s: %s", label,
			    reason);
		bad = 1;
	} else if ((path = signer_path(v, signer, untrusted)) == NULL) {
		subj = subject_of(signer);
		issue(v, "untrusted", label, "signer of %s: no path from %s "
		    "to a trusted root", label, subj != NULL ? subj : "?");
		free(subj);
		bad = 1;
	} else if (v->o->crls != NULL && check_crls(v, path, label))
		bad = 1;
	if (check_usage(v, signer, label))
		bad = 1;
	ok = !bad;
 out:
	ERR_clear_error();
	sk_X509_pop_free(path, X509_free);
	sk_X509_pop_free(incms, X509_free);
	sk_X509_free(untrusted);
	CMS_ContentInfo_free(cms);
	return ok;
}

/* Loads entry i of s as a small file; reports a format issue. */
static int
load_small(struct vctx *v, pkg_src *s, size_t i, uint8_t **buf,
    size_t *len)
{
	int r;

	if ((r = pkg_src_load(s, i, PKG_SMALL_MAX, buf, len)) == 0)
		return 0;
	if (r == CAP_ERR_NOMEM)
		v->err = r;
	else
		issue(v, "format", pkg_src_name(s, i), "cannot read %s%s",
		    pkg_src_name(s, i), r == CAP_ERR_TOO_LARGE ?
		    ": too large" : "");
	return -1;
}

/* The certificates of entry i (-1: none) as untrusted intermediates. */
static STACK_OF(X509) *
load_certs(struct vctx *v, pkg_src *s, long i)
{
	STACK_OF(X509) *sk = NULL;
	uint8_t *buf = NULL;
	size_t len;

	if (i < 0 || load_small(v, s, (size_t)i, &buf, &len) != 0)
		return NULL;
	if (pkg_pem_certs(buf, len, &sk) != 0)
		issue(v, "format", pkg_src_name(s, (size_t)i), "%s holds no "
		    "PEM certificate", pkg_src_name(s, (size_t)i));
	free(buf);
	return sk;
}

/* Verifies the detached signature in entry sig over entry i. */
static int
verify_entry_sig(struct vctx *v, pkg_src *s, size_t i, size_t sig,
    long certs)
{
	STACK_OF(X509) *extra = NULL;
	uint8_t *cms = NULL;
	size_t len;
	BIO *b = NULL;
	int ok = 0, r;

	if (load_small(v, s, sig, &cms, &len) != 0)
		goto out;
	extra = load_certs(v, s, certs);
	if ((r = pkg_src_bio(s, i, &b)) != 0) {
		if (r == CAP_ERR_NOMEM)
			v->err = r;
		else
			issue(v, "format", pkg_src_name(s, i), "cannot read "
			    "%s", pkg_src_name(s, i));
		goto out;
	}
	ok = verify_cms(v, cms, len, b, extra, pkg_src_name(s, i));
 out:
	BIO_free(b);
	sk_X509_pop_free(extra, X509_free);
	free(cms);
	return ok;
}

static int
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && strcmp(s + n - m, suffix) == 0;
}

/* The index of NAME+suffix in s, or -1. */
static long
find_with_suffix(pkg_src *s, const char *name, const char *suffix)
{
	char buf[PKG_PATH_MAX + 16];
	int n;

	n = snprintf(buf, sizeof(buf), "%s%s", name, suffix);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -1;
	return pkg_src_find(s, buf);
}

/* name is X.cms or X.cert next to an entry X of s. */
static int
is_sig_file(pkg_src *s, const char *name)
{
	char buf[PKG_PATH_MAX + 1];
	size_t n = strlen(name), m;

	if (ends_with(name, ".cms"))
		m = 4;
	else if (ends_with(name, ".cert"))
		m = 5;
	else
		return 0;
	if (n - m >= sizeof(buf))
		return 0;
	memcpy(buf, name, n - m);
	buf[n - m] = '\0';
	return pkg_src_find(s, buf) >= 0;
}

/*
 * The manifest form and per-artifact signatures of a CSAR.  inner: the
 * CSAR of a signed package, whose manifest need not carry a signature.
 */
static void
check_csar(struct vctx *v, pkg_src *s, int inner)
{
	pkg_manifest *m = NULL;
	struct pkg_mf_entry e;
	STACK_OF(X509) *extra = NULL;
	uint8_t *text = NULL, dg[PKG_DIGEST_MAX + 64];
	char *cms = NULL, reason[256];
	uint8_t *seen = NULL;
	size_t len, signed_len = 0, cms_len = 0, i, dlen, nsig = 0;
	const char *mfname, *name;
	long mf = -1, cert = -1, x;
	BIO *b = NULL;
	int r, msig_ok = 0;

	reason[0] = '\0';
	if (pkg_locate(s, &mf, &cert, reason, sizeof(reason)) != 0) {
		issue(v, "manifest", NULL, "%s", reason);
		goto out;
	}
	if (mf < 0) {
		issue(v, "manifest", NULL, "the package has no manifest "
		    "(.mf)");
		goto out;
	}
	mfname = pkg_src_name(s, (size_t)mf);
	if ((r = pkg_src_load(s, (size_t)mf, PKG_MANIFEST_MAX, &text,
	    &len)) != 0) {
		if (r == CAP_ERR_NOMEM)
			v->err = r;
		else
			issue(v, "manifest", mfname, "cannot read the manifest "
			    "%s%s", mfname, r == CAP_ERR_TOO_LARGE ?
			    ": over the size limit" : "");
		goto out;
	}
	if ((r = pkg_manifest_parse((char *)text, len, &m, &signed_len, &cms,
	    &cms_len, reason, sizeof(reason))) != 0) {
		if (r == CAP_ERR_NOMEM)
			v->err = r;
		else
			issue(v, "manifest", mfname, "manifest %s: %s", mfname,
			    reason);
		goto out;
	}

	/* the manifest's own signature */
	if (cms != NULL) {
		extra = load_certs(v, s, cert);
		if ((b = BIO_new_mem_buf(text, (int)signed_len)) == NULL) {
			v->err = CAP_ERR_NOMEM;
			goto out;
		}
		msig_ok = verify_cms(v, (uint8_t *)cms, cms_len, b, extra,
		    mfname);
		if (v->r->form == PKG_FORM_NONE)
			v->r->form = PKG_FORM_MANIFEST;
	}

	/* every listed artifact against its digest */
	if ((seen = calloc(pkg_src_count(s) + 1, 1)) == NULL) {
		v->err = CAP_ERR_NOMEM;
		goto out;
	}
	seen[mf] = 1;
	if (cert >= 0)
		seen[cert] = 1;
	for (i = 0; i < pkg_manifest_count(m); i++) {
		pkg_manifest_entry(m, i, &e);
		v->r->artifacts++;
		if (pkg_is_uri(e.source))
			continue;
		if ((x = pkg_src_find(s, e.source)) < 0) {
			issue(v, "missing", e.source, "%s is listed in the "
			    "manifest but not in the package", e.source);
			continue;
		}
		if ((long)x == mf) {
			issue(v, "manifest", e.source, "the manifest lists "
			    "itself");
			continue;
		}
		seen[x] = 1;
		if ((r = pkg_src_digest(s, (size_t)x, e.algorithm, dg,
		    &dlen)) != 0) {
			if (r == CAP_ERR_NOMEM)
				v->err = r;
			else
				issue(v, "format", e.source, "cannot read %s",
				    e.source);
			continue;
		}
		if (dlen != e.digest_len ||
		    CRYPTO_memcmp(dg, e.digest, dlen) != 0)
			issue(v, "changed", e.source, "%s does not match its "
			    "%s digest in the manifest", e.source,
			    e.algorithm);
	}
	for (i = 0; i < pkg_src_count(s); i++)
		if (!seen[i])
			issue(v, "extra", pkg_src_name(s, i), "%s is in the "
			    "package but not in the manifest",
			    pkg_src_name(s, i));

	/* per-artifact signatures: X.cms (and X.cert) next to X */
	for (i = 0; i < pkg_src_count(s); i++) {
		name = pkg_src_name(s, i);
		if ((long)i == mf || ends_with(name, ".cms") ||
		    ends_with(name, ".cert"))
			continue;
		if ((x = find_with_suffix(s, name, ".cms")) < 0)
			continue;
		nsig++;
		if (verify_entry_sig(v, s, i, (size_t)x,
		    find_with_suffix(s, name, ".cert")))
			v->r->signatures++;
	}
	if (cms == NULL && !inner) {
		if (nsig > 0) {
			if (v->r->form == PKG_FORM_NONE)
				v->r->form = PKG_FORM_ARTIFACT;
			/*
			 * With the manifest unsigned its digests prove
			 * nothing: every file must carry its own signature.
			 */
			for (i = 0; i < pkg_src_count(s); i++) {
				name = pkg_src_name(s, i);
				if ((long)i == mf || (long)i == cert ||
				    find_with_suffix(s, name, ".cms") >= 0 ||
				    is_sig_file(s, name))
					continue;
				issue(v, "signature", name, "%s carries no "
				    "signature and the manifest %s is not "
				    "signed", name, mfname);
			}
		} else
			issue(v, "signature", mfname, "the manifest %s is not "
			    "signed", mfname);
	}
	if (msig_ok)
		v->r->signatures++;
 out:
	BIO_free(b);
	sk_X509_pop_free(extra, X509_free);
	free(seen);
	free(cms);
	free(text);
	pkg_manifest_free(m);
}

/*
 * A signed package (SOL 004 option 2): exactly one NAME.csar at the root,
 * with NAME.cms next to it.  Returns the index of the .csar, or -1.
 */
static long
find_signed_csar(pkg_src *s)
{
	size_t i;
	long found = -1;
	const char *name;

	for (i = 0; i < pkg_src_count(s); i++) {
		name = pkg_src_name(s, i);
		if (strchr(name, '/') != NULL || !ends_with(name, ".csar"))
			continue;
		if (found >= 0)
			return -1;
		found = (long)i;
	}
	return found;
}

static void
check_signed_csar(struct vctx *v, pkg_src *s, size_t csar)
{
	char base[PKG_PATH_MAX + 1], reason[256];
	const char *name = pkg_src_name(s, csar);
	pkg_src *in = NULL;
	long sig, cert;
	size_t i;
	int r;

	snprintf(base, sizeof(base), "%.*s", (int)(strlen(name) - 5), name);
	sig = find_with_suffix(s, base, ".cms");
	cert = find_with_suffix(s, base, ".cert");
	for (i = 0; i < pkg_src_count(s); i++)
		if (i != csar && (long)i != sig && (long)i != cert)
			issue(v, "extra", pkg_src_name(s, i), "%s does not "
			    "belong in a signed package", pkg_src_name(s, i));
	if (sig < 0)
		issue(v, "signature", name, "the signed package has no "
		    "%s.cms", base);
	else if (verify_entry_sig(v, s, csar, (size_t)sig, cert))
		v->r->signatures++;
	reason[0] = '\0';
	if ((r = pkg_src_open_inner(s, csar, &in, reason,
	    sizeof(reason))) != 0) {
		if (r == CAP_ERR_NOMEM)
			v->err = r;
		else
			issue(v, "format", name, "%s: %s", name, reason);
		return;
	}
	check_csar(v, in, 1);
	pkg_src_free(in);
}

int
pkg_verify(pkg_src *s, const struct pkg_verify_opts *o,
    struct pkg_report **out)
{
	struct vctx v;
	long csar;
	int r;

	*out = NULL;
	if (s == NULL || o == NULL || o->roots == NULL ||
	    sk_X509_num(o->roots) == 0)
		return CAP_ERR_INVALID;
	memset(&v, 0, sizeof(v));
	v.o = o;
	v.now = o->now != 0 ? o->now : time(NULL);
	if ((v.r = calloc(1, sizeof(*v.r))) == NULL)
		return CAP_ERR_NOMEM;
	v.limit = ISSUES_MAX;
	if (pkg_src_is_zip(s) && (csar = find_signed_csar(s)) >= 0 &&
	    pkg_src_find(s, PKG_TOSCA_META) < 0) {
		v.r->form = PKG_FORM_SIGNED_CSAR;
		check_signed_csar(&v, s, (size_t)csar);
	} else
		check_csar(&v, s, 0);
	if (v.dropped > 0) {
		v.limit++;
		issue(&v, "format", NULL, "%zu more issues not listed",
		    v.dropped);
	}
	if ((r = v.err) != 0) {
		pkg_report_free(v.r);
		return r;
	}
	*out = v.r;
	return 0;
}
