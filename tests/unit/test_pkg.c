/*
 * test_pkg.c - VNF packages: the manifest round trip and its parser's
 * limits, zips written and read back (and unsafe ones refused), and the
 * verification outcomes of packages signed here with a file key through
 * OpenSSL's CMS: valid manifest, signed-CSAR and per-artifact forms; a
 * changed, missing and extra artifact; a manifest edited after signing;
 * a signer from another root, an expired signer, a revoked signer, a
 * signer whose key may not sign.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <zip.h>

#include "common/err.h"
#include "common/util.h"
#include "crypto/pkg.h"
#include "tests/unit/harness.h"

#define DAY	86400L

/* ---- certificates ---- */

static int
add_ext(X509 *c, X509V3_CTX *ctx, int nid, const char *val)
{
	X509_EXTENSION *e;
	int ok;

	if (val == NULL)
		return 1;
	if ((e = X509V3_EXT_conf_nid(NULL, ctx, nid, val)) == NULL)
		return 0;
	ok = X509_add_ext(c, e, -1);
	X509_EXTENSION_free(e);
	return ok;
}

static X509 *
mkcert(const char *cn, X509 *issuer, EVP_PKEY *ikey, EVP_PKEY *key, int ca,
    const char *ku, const char *eku, long nb, long na)
{
	static long serial = 100;
	X509V3_CTX ctx;
	X509_NAME *n;
	X509 *c;

	if ((c = X509_new()) == NULL)
		return NULL;
	X509_set_version(c, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(c), serial++);
	n = X509_NAME_new();
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(c, n);
	X509_NAME_free(n);
	X509_set_issuer_name(c, X509_get_subject_name(issuer != NULL ?
	    issuer : c));
	X509_time_adj_ex(X509_getm_notBefore(c), 0, nb, NULL);
	X509_time_adj_ex(X509_getm_notAfter(c), 0, na, NULL);
	X509_set_pubkey(c, key);
	X509V3_set_ctx(&ctx, issuer != NULL ? issuer : c, c, NULL, NULL, 0);
	if (!add_ext(c, &ctx, NID_basic_constraints, ca ? "critical,CA:TRUE" :
	    "CA:FALSE") || !add_ext(c, &ctx, NID_key_usage, ku) ||
	    !add_ext(c, &ctx, NID_ext_key_usage, eku) ||
	    !add_ext(c, &ctx, NID_subject_key_identifier, "hash") ||
	    !add_ext(c, &ctx, NID_authority_key_identifier, "keyid:always") ||
	    X509_sign(c, ikey != NULL ? ikey : key, EVP_sha256()) <= 0) {
		X509_free(c);
		return NULL;
	}
	return c;
}

static EVP_PKEY *
eckey(void)
{
	return EVP_EC_gen("P-256");
}

struct pki {
	EVP_PKEY	*rkey, *okey, *skey;
	X509		*root, *other, *signer, *expired, *nosign, *revoked;
	X509_CRL	*crl;
	STACK_OF(X509)	*roots;
	STACK_OF(X509_CRL) *crls;
};

static X509_CRL *
mkcrl(X509 *issuer, EVP_PKEY *ikey, X509 *rev)
{
	X509_CRL *crl = X509_CRL_new();
	X509_REVOKED *r = X509_REVOKED_new();
	ASN1_TIME *t = ASN1_TIME_new();

	X509_CRL_set_version(crl, 1);
	X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer));
	X509_gmtime_adj(t, 0);
	X509_CRL_set1_lastUpdate(crl, t);
	X509_gmtime_adj(t, DAY);
	X509_CRL_set1_nextUpdate(crl, t);
	X509_gmtime_adj(t, -60);
	X509_REVOKED_set_serialNumber(r, X509_get_serialNumber(rev));
	X509_REVOKED_set_revocationDate(r, t);
	X509_CRL_add0_revoked(crl, r);
	X509_CRL_sort(crl);
	X509_CRL_sign(crl, ikey, EVP_sha256());
	ASN1_TIME_free(t);
	return crl;
}

static int
pki_make(struct pki *p)
{
	memset(p, 0, sizeof(*p));
	p->rkey = eckey();
	p->okey = eckey();
	p->skey = eckey();
	p->root = mkcert("Package Root", NULL, NULL, p->rkey, 1,
	    "critical,keyCertSign,cRLSign", NULL, -DAY, 30 * DAY);
	p->other = mkcert("Other Root", NULL, NULL, p->okey, 1,
	    "critical,keyCertSign,cRLSign", NULL, -DAY, 30 * DAY);
	p->signer = mkcert("Package Signer", p->root, p->rkey, p->skey, 0,
	    "critical,digitalSignature", "codeSigning", -DAY, 10 * DAY);
	p->expired = mkcert("Expired Signer", p->root, p->rkey, p->skey, 0,
	    "critical,digitalSignature", "codeSigning", -10 * DAY, -DAY);
	p->nosign = mkcert("TLS Only", p->root, p->rkey, p->skey, 0,
	    "critical,keyEncipherment", "serverAuth", -DAY, 10 * DAY);
	p->revoked = mkcert("Revoked Signer", p->root, p->rkey, p->skey, 0,
	    "critical,digitalSignature", NULL, -DAY, 10 * DAY);
	if (p->root == NULL || p->other == NULL || p->signer == NULL ||
	    p->expired == NULL || p->nosign == NULL || p->revoked == NULL)
		return -1;
	p->crl = mkcrl(p->root, p->rkey, p->revoked);
	p->roots = sk_X509_new_null();
	sk_X509_push(p->roots, p->root);
	X509_up_ref(p->root);
	p->crls = sk_X509_CRL_new_null();
	sk_X509_CRL_push(p->crls, p->crl);
	X509_CRL_up_ref(p->crl);
	return 0;
}

static void
pki_free(struct pki *p)
{
	EVP_PKEY_free(p->rkey);
	EVP_PKEY_free(p->okey);
	EVP_PKEY_free(p->skey);
	X509_free(p->root);
	X509_free(p->other);
	X509_free(p->signer);
	X509_free(p->expired);
	X509_free(p->nosign);
	X509_free(p->revoked);
	X509_CRL_free(p->crl);
	sk_X509_pop_free(p->roots, X509_free);
	sk_X509_CRL_pop_free(p->crls, X509_CRL_free);
}

/* A detached CMS signature over buf (or the file at path) as PEM. */
static char *
cms_sign(X509 *cert, EVP_PKEY *key, const void *buf, size_t len,
    const char *path)
{
	CMS_ContentInfo *cms = NULL;
	BIO *in, *out;
	BUF_MEM *bm;
	char *pem = NULL;

	in = path != NULL ? BIO_new_file(path, "rb") :
	    BIO_new_mem_buf(buf, (int)len);
	out = BIO_new(BIO_s_mem());
	if (in != NULL && out != NULL &&
	    (cms = CMS_sign(cert, key, NULL, in, CMS_BINARY |
	    CMS_DETACHED)) != NULL && PEM_write_bio_CMS(out, cms) == 1) {
		BIO_get_mem_ptr(out, &bm);
		pem = cap_bytes_str(bm->data, bm->length);
	}
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	BIO_free(out);
	return pem;
}

static char *
cert_pem(X509 *c)
{
	BIO *b = BIO_new(BIO_s_mem());
	BUF_MEM *bm;
	char *s = NULL;

	if (b != NULL && PEM_write_bio_X509(b, c) == 1) {
		BIO_get_mem_ptr(b, &bm);
		s = cap_bytes_str(bm->data, bm->length);
	}
	BIO_free(b);
	return s;
}

/* ---- files ---- */

/* One temporary directory for the whole test. */
static const char *
tmp_root(void)
{
	static const char *root;

	if (root == NULL)
		root = th_tmpdir();
	return root != NULL ? root : "/nonexistent";
}

static int
put(const char *dir, const char *rel, const void *data, size_t len)
{
	char path[4096], *s;
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	for (s = path + strlen(dir) + 1; (s = strchr(s, '/')) != NULL; s++) {
		*s = '\0';
		mkdir(path, 0700);
		*s = '/';
	}
	if ((f = fopen(path, "wb")) == NULL)
		return -1;
	ok = fwrite(data, 1, len, f) == len;
	return (fclose(f) == 0 && ok) ? 0 : -1;
}

static int
puts_file(const char *dir, const char *rel, const char *s)
{
	return put(dir, rel, s, strlen(s));
}

static const char *
mkpkgdir(const char *name)
{
	static char path[4][4096];
	static int k;
	char *p = path[k++ % 4];

	snprintf(p, 4096, "%s/%s", tmp_root(), name);
	mkdir(p, 0700);
	return p;
}

/*
 * Makes a CSAR directory with TOSCA.meta, a definition and two files,
 * and its manifest signed by cert (NULL: unsigned).
 */
static int
make_pkg(const char *dir, X509 *cert, EVP_PKEY *key)
{
	pkg_manifest *m = NULL;
	pkg_src *s = NULL;
	char *text = NULL, *sig = NULL, *full = NULL;
	uint8_t dg[64];
	size_t len, dlen, i;
	int r = -1;

	if (puts_file(dir, PKG_TOSCA_META, "TOSCA-Meta-File-Version: 1.0\n"
	    "CSAR-Version: 1.1\nCreated-By: test\n"
	    "Entry-Definitions: Definitions/main.yaml\n"
	    "ETSI-Entry-Manifest: main.mf\n") != 0 ||
	    puts_file(dir, "Definitions/main.yaml",
	    "tosca_definitions_version: tosca_simple_yaml_1_3\n") != 0 ||
	    puts_file(dir, "Files/image.bin", "not really an image\n") != 0 ||
	    puts_file(dir, "Files/scripts/install.sh", "#!/bin/sh\n") != 0)
		goto out;
	if (pkg_src_open(dir, &s, NULL, 0) != 0 || pkg_manifest_new(&m) != 0)
		goto out;
	if (pkg_manifest_set_meta(m, "vnf_provider_id", "ACME") != 0 ||
	    pkg_manifest_set_meta(m, "vnf_product_name", "vFW") != 0 ||
	    pkg_manifest_set_meta(m, "vnf_release_date_time",
	    "2024-05-01T00:00:00Z") != 0 ||
	    pkg_manifest_set_meta(m, "vnf_package_version", "1.0") != 0)
		goto out;
	for (i = 0; i < pkg_src_count(s); i++) {
		if (strcmp(pkg_src_name(s, i), "main.mf") == 0)
			continue;
		if (pkg_src_digest(s, i, "SHA-256", dg, &dlen) != 0 ||
		    pkg_manifest_add(m, pkg_src_name(s, i), "SHA-256", dg,
		    dlen) != 0)
			goto out;
	}
	if (pkg_manifest_text(m, &text, &len) != 0)
		goto out;
	if (cert != NULL && (sig = cms_sign(cert, key, text, len,
	    NULL)) == NULL)
		goto out;
	if (asprintf(&full, "%s%s", text, sig != NULL ? sig : "") < 0) {
		full = NULL;
		goto out;
	}
	r = puts_file(dir, "main.mf", full);
 out:
	free(full);
	free(sig);
	free(text);
	pkg_manifest_free(m);
	pkg_src_free(s);
	return r;
}

static struct pkg_report *
verify_path(const char *path, STACK_OF(X509) *roots,
    STACK_OF(X509_CRL) *crls)
{
	struct pkg_verify_opts o;
	struct pkg_report *rep = NULL;
	pkg_src *s = NULL;

	memset(&o, 0, sizeof(o));
	o.roots = roots;
	o.crls = crls;
	if (pkg_src_open(path, &s, NULL, 0) != 0)
		return NULL;
	if (pkg_verify(s, &o, &rep) != 0)
		rep = NULL;
	pkg_src_free(s);
	return rep;
}

/* Checks that rep holds an issue (code, path); valid when code NULL. */
static void
expect(const char *name, struct pkg_report *rep, const char *code,
    const char *path)
{
	size_t i;

	if (rep == NULL) {
		th_check(0, name, "no report");
		return;
	}
	if (code == NULL) {
		th_check(rep->nissues == 0, name, "expected valid, got %zu "
		    "issues, first %s: %s", rep->nissues, rep->nissues ?
		    rep->issues[0].code : "", rep->nissues ?
		    rep->issues[0].message : "");
	} else {
		for (i = 0; i < rep->nissues; i++)
			if (strcmp(rep->issues[i].code, code) == 0 &&
			    (path == NULL || (rep->issues[i].path != NULL &&
			    strcmp(rep->issues[i].path, path) == 0)))
				break;
		th_check(i < rep->nissues, name, "expected %s on %s, got "
		    "%zu issues, first %s: %s", code, path ? path : "-",
		    rep->nissues, rep->nissues ? rep->issues[0].code : "-",
		    rep->nissues ? rep->issues[0].message : "-");
	}
	pkg_report_free(rep);
}

/* Zips every file of dir (stored) into path. */
static int
zip_dir(const char *dir, const char *path)
{
	pkg_src *s = NULL;
	pkg_zipw *w = NULL;
	size_t i;
	int r = -1;

	if (pkg_src_open(dir, &s, NULL, 0) != 0 ||
	    pkg_zipw_new(path, &w) != 0)
		goto out;
	for (i = 0; i < pkg_src_count(s); i++)
		if (pkg_zipw_add_src(w, pkg_src_name(s, i), s, i) != 0)
			goto out;
	r = pkg_zipw_close(w);
 out:
	pkg_zipw_free(w);
	pkg_src_free(s);
	return r;
}

/* ---- tests ---- */

static void
test_manifest(void)
{
	pkg_manifest *m = NULL, *p = NULL;
	struct pkg_mf_entry e;
	char *text = NULL, *text2 = NULL, *cms = NULL, reason[256], *big;
	uint8_t dg[32];
	size_t len, len2, slen, clen, i;
	int r;

	memset(dg, 0xab, sizeof(dg));
	if (pkg_manifest_new(&m) != 0)
		return;
	TH_EQ_INT(pkg_manifest_set_meta(m, "vnf_provider_id", "ACME"), 0,
	    "manifest: metadata set");
	TH_EQ_INT(pkg_manifest_set_meta(m, "bad key", "x"), CAP_ERR_INVALID,
	    "manifest: metadata key with a space refused");
	TH_EQ_INT(pkg_manifest_set_meta(m, "k", "a\nb"), CAP_ERR_INVALID,
	    "manifest: metadata value with a line break refused");
	TH_EQ_INT(pkg_manifest_add(m, "Files/a.bin", "SHA-256", dg, 32), 0,
	    "manifest: entry added");
	TH_EQ_INT(pkg_manifest_add(m, "https://example.com/img.qcow2",
	    "SHA-256", dg, 32), 0, "manifest: external URI added");
	TH_EQ_INT(pkg_manifest_add(m, "Files/a.bin", "SHA-256", dg, 32),
	    CAP_ERR_EXISTS, "manifest: duplicate source refused");
	TH_EQ_INT(pkg_manifest_add(m, "../etc/passwd", "SHA-256", dg, 32),
	    CAP_ERR_INVALID, "manifest: '..' source refused");
	TH_EQ_INT(pkg_manifest_add(m, "Files/b", "SHA-384", dg, 32),
	    CAP_ERR_INVALID, "manifest: digest of the wrong length refused");
	if (pkg_manifest_text(m, &text, &len) != 0)
		goto out;
	r = pkg_manifest_parse(text, len, &p, &slen, &cms, &clen, reason,
	    sizeof(reason));
	TH_EQ_INT(r, 0, "manifest: own text parses");
	if (r != 0)
		goto out;
	th_check(slen == len && cms == NULL, "manifest: unsigned text has no "
	    "signature", "signed_len %zu of %zu", slen, len);
	TH_EQ_INT(pkg_manifest_count(p), 2, "manifest: two entries back");
	pkg_manifest_entry(p, 0, &e);
	th_check(strcmp(e.source, "Files/a.bin") == 0 && e.digest_len == 32 &&
	    memcmp(e.digest, dg, 32) == 0, "manifest: entry round trip",
	    "got %s", e.source);
	th_check(pkg_manifest_meta(p, "vnf_provider_id") != NULL &&
	    strcmp(pkg_manifest_meta(p, "vnf_provider_id"), "ACME") == 0,
	    "manifest: metadata round trip", "lost");
	if (pkg_manifest_text(p, &text2, &len2) == 0)
		th_check(len2 == len && memcmp(text, text2, len) == 0,
		    "manifest: serialisation is stable", "differs");
	pkg_manifest_free(p);
	p = NULL;

	/* a signature block is split off */
	free(text2);
	if (asprintf(&text2, "%s-----BEGIN CMS-----\nAAAA\n-----END CMS-----"
	    "\n", text) < 0)
		goto out;
	r = pkg_manifest_parse(text2, strlen(text2), &p, &slen, &cms, &clen,
	    NULL, 0);
	th_check(r == 0 && slen == len && cms != NULL &&
	    strncmp(cms, "-----BEGIN CMS-----", 19) == 0,
	    "manifest: signature block split off", "r %d slen %zu", r, slen);
	pkg_manifest_free(p);
	p = NULL;
	free(cms);
	cms = NULL;
	free(text2);
	if (asprintf(&text2, "%s-----BEGIN CMS-----\nAAAA\n-----END CMS-----"
	    "\nSource: x\n", text) < 0) {
		text2 = NULL;
		goto out;
	}
	TH_EQ_INT(pkg_manifest_parse(text2, strlen(text2), &p, NULL, NULL,
	    NULL, NULL, 0), CAP_ERR_INVALID,
	    "manifest: text after the signature refused");

	/* limits and malformed input */
	if ((big = malloc(PKG_MANIFEST_MAX + 2)) != NULL) {
		memset(big, '#', PKG_MANIFEST_MAX + 1);
		TH_EQ_INT(pkg_manifest_parse(big, PKG_MANIFEST_MAX + 1, &p,
		    NULL, NULL, NULL, NULL, 0), CAP_ERR_TOO_LARGE,
		    "manifest: over 4 MiB refused");
		memset(big, 'a', PKG_LINE_MAX + 1);
		TH_EQ_INT(pkg_manifest_parse(big, PKG_LINE_MAX + 1, &p,
		    NULL, NULL, NULL, reason, sizeof(reason)),
		    CAP_ERR_INVALID, "manifest: overlong line refused");
		free(big);
	}
	{
		static const struct {
			const char *text, *name;
		} bad[] = {
			{ "Source: a\nAlgorithm: SHA-256\nHash: zz\n",
			    "manifest: non-hex hash refused" },
			{ "Source: a\nAlgorithm: MD5\nHash: 00\n",
			    "manifest: unknown algorithm refused" },
			{ "Source: a\nHash: 00\n",
			    "manifest: block without Algorithm refused" },
			{ "Source: /etc/passwd\nAlgorithm: SHA-256\nHash: "
			    "0000000000000000000000000000000000000000000000"
			    "000000000000000000\n",
			    "manifest: absolute source refused" },
			{ "Bogus line\n", "manifest: line without key refused" },
			{ "-----BEGIN CMS-----\nAAAA\n",
			    "manifest: unterminated signature refused" },
		};

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			TH_EQ_INT(pkg_manifest_parse(bad[i].text,
			    strlen(bad[i].text), &p, NULL, NULL, NULL, NULL, 0),
			    CAP_ERR_INVALID, bad[i].name);
	}
 out:
	free(cms);
	free(text);
	free(text2);
	pkg_manifest_free(p);
	pkg_manifest_free(m);
}

static void
test_paths_meta(void)
{
	struct pkg_tosca_meta tm;
	const char *t = "TOSCA-Meta-File-Version: 1.0\nCSAR-Version: 1.1\n"
	    "Entry-Definitions: Definitions/a.yaml\n"
	    "ETSI-Entry-Manifest: a.mf\nETSI-Entry-Certificate: Files/a.cert\n";
	const char *evil = "ETSI-Entry-Manifest: ../a.mf\n";

	th_check(pkg_path_ok("Files/a.bin") && !pkg_path_ok("/etc/passwd") &&
	    !pkg_path_ok("a/../b") && !pkg_path_ok("..") &&
	    !pkg_path_ok("a//b") && !pkg_path_ok("a\\b") &&
	    !pkg_path_ok("./a") && !pkg_path_ok(""),
	    "paths: safe and unsafe names told apart", "mismatch");
	th_check(pkg_tosca_meta_parse(t, strlen(t), &tm) == 0 &&
	    tm.entry_manifest != NULL && strcmp(tm.entry_manifest,
	    "a.mf") == 0 && tm.entry_certificate != NULL &&
	    strcmp(tm.entry_definitions, "Definitions/a.yaml") == 0,
	    "tosca.meta: entries read", "missing");
	pkg_tosca_meta_clear(&tm);
	TH_EQ_INT(pkg_tosca_meta_parse(evil, strlen(evil), &tm),
	    CAP_ERR_INVALID, "tosca.meta: '..' manifest path refused");
}

static void
test_zip(void)
{
	const char *dir = mkpkgdir("zipsrc");
	char zpath[4096], evil[4096], big[4096];
	pkg_src *s = NULL;
	pkg_zipw *w = NULL;
	uint8_t *buf = NULL, dg[64];
	size_t len, dlen;
	zip_t *z;
	zip_source_t *zs;
	int err, r;

	snprintf(zpath, sizeof(zpath), "%s/t.zip", tmp_root());
	puts_file(dir, "on-disk.txt", "from a file\n");
	if (pkg_zipw_new(zpath, &w) != 0)
		return;
	snprintf(big, sizeof(big), "%s/on-disk.txt", dir);
	th_check(pkg_zipw_add_buf(w, "b/mem.txt", "in memory", 9) == 0 &&
	    pkg_zipw_add_file(w, "a.txt", big) == 0,
	    "zip: entries added", "failed");
	TH_EQ_INT(pkg_zipw_add_buf(w, "../x", "x", 1), CAP_ERR_INVALID,
	    "zip: writer refuses an unsafe name");
	TH_EQ_INT(pkg_zipw_close(w), 0, "zip: written");
	pkg_zipw_free(w);
	if ((r = pkg_src_open(zpath, &s, NULL, 0)) != 0) {
		th_check(0, "zip: read back", "open %d", r);
		return;
	}
	th_check(pkg_src_count(s) == 2 &&
	    strcmp(pkg_src_name(s, 0), "a.txt") == 0 &&
	    strcmp(pkg_src_name(s, 1), "b/mem.txt") == 0,
	    "zip: names read back sorted", "count %zu", pkg_src_count(s));
	th_check(pkg_src_load(s, 1, 100, &buf, &len) == 0 && len == 9 &&
	    memcmp(buf, "in memory", 9) == 0, "zip: entry content", "differs");
	free(buf);
	buf = NULL;
	TH_EQ_INT(pkg_src_load(s, 1, 4, &buf, &len), CAP_ERR_TOO_LARGE,
	    "zip: load limit applies to the bytes read");
	th_check(pkg_src_digest(s, 0, "SHA-256", dg, &dlen) == 0 &&
	    dlen == 32, "zip: entry digest", "failed");
	pkg_src_free(s);
	s = NULL;

	/* zip-slip: names written raw with libzip, refused on open */
	snprintf(evil, sizeof(evil), "%s/evil.zip", tmp_root());
	if ((z = zip_open(evil, ZIP_CREATE | ZIP_TRUNCATE, &err)) != NULL) {
		zs = zip_source_buffer(z, "x", 1, 0);
		if (zip_file_add(z, "../../etc/cron.d/x", zs, 0) < 0)
			zip_source_free(zs);
		zip_close(z);
	}
	th_check(pkg_src_open(evil, &s, NULL, 0) == CAP_ERR_INVALID,
	    "zip: '..' entry refused", "accepted");
	pkg_src_free(s);
	s = NULL;
	if ((z = zip_open(evil, ZIP_CREATE | ZIP_TRUNCATE, &err)) != NULL) {
		zs = zip_source_buffer(z, "x", 1, 0);
		if (zip_file_add(z, "/etc/passwd", zs, 0) < 0)
			zip_source_free(zs);
		zip_close(z);
	}
	th_check(pkg_src_open(evil, &s, NULL, 0) == CAP_ERR_INVALID,
	    "zip: absolute entry refused", "accepted");
	pkg_src_free(s);
	s = NULL;
	/* a directory entry carrying data that nothing would check */
	if ((z = zip_open(evil, ZIP_CREATE | ZIP_TRUNCATE, &err)) != NULL) {
		zs = zip_source_buffer(z, "hidden", 6, 0);
		if (zip_file_add(z, "dir/", zs, 0) < 0)
			zip_source_free(zs);
		zip_close(z);
	}
	th_check(pkg_src_open(evil, &s, NULL, 0) == CAP_ERR_INVALID,
	    "zip: a directory entry with data refused", "accepted");
	pkg_src_free(s);
	s = NULL;

	/*
	 * a local header whose name differs from the central directory's:
	 * a streaming extractor would write the local name
	 */
	if ((z = zip_open(evil, ZIP_CREATE | ZIP_TRUNCATE, &err)) != NULL) {
		zs = zip_source_buffer(z, "x", 1, 0);
		if (zip_file_add(z, "listed.txt", zs, 0) < 0)
			zip_source_free(zs);
		zip_close(z);
	}
	{
		uint8_t *zb = NULL;
		size_t zl = 0;
		FILE *f;
		long zn;

		if ((f = fopen(evil, "r+b")) != NULL) {
			fseek(f, 0, SEEK_END);
			zn = ftell(f);
			rewind(f);
			if (zn > 0 && (zb = malloc((size_t)zn)) != NULL &&
			    fread(zb, 1, (size_t)zn, f) == (size_t)zn)
				zl = (size_t)zn;
			/* the local header's name is at offset 30 */
			if (zl > 40 && memcmp(zb + 30, "listed.txt", 10) == 0) {
				memcpy(zb + 30, "hidden.txt", 10);
				rewind(f);
				fwrite(zb, 1, zl, f);
			}
			fclose(f);
		}
		th_check(zl > 40, "zip: local name patched", "no zip");
		free(zb);
	}
	th_check(pkg_src_open(evil, &s, NULL, 0) == CAP_ERR_INVALID,
	    "zip: local header name differing from the central directory "
	    "refused", "accepted");
	pkg_src_free(s);
	s = NULL;
	puts_file(tmp_root(), "notzip", "hello");
	snprintf(evil, sizeof(evil), "%s/notzip", tmp_root());
	th_check(pkg_src_open(evil, &s, NULL, 0) == CAP_ERR_INVALID,
	    "zip: a non-zip file refused", "accepted");
	pkg_src_free(s);
}

/* ---- zip layout ---- */

/* A zip written byte by byte, so that its layout can be bent. */
struct zb {
	uint8_t		 p[8192];
	size_t		 len;
	struct {
		char		 name[64];
		uint32_t	 crc, size;
		uint64_t	 off;
		uint16_t	 flags, mtime;
	}		 e[8];
	size_t		 n;
};

static uint32_t
zb_crc(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t c = 0xffffffffu;
	int k;

	while (len-- > 0) {
		c ^= *p++;
		for (k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
	}
	return ~c;
}

static void
zb_put(struct zb *z, const void *b, size_t n)
{
	if (n > sizeof(z->p) - z->len)
		n = sizeof(z->p) - z->len;
	if (n == 0)
		return;
	memcpy(z->p + z->len, b, n);
	z->len += n;
}

static void
zb_le(struct zb *z, uint64_t v, int bytes)
{
	while (bytes-- > 0) {
		z->p[z->len < sizeof(z->p) ? z->len++ : z->len - 1] =
		    (uint8_t)v;
		v >>= 8;
	}
}

/*
 * A stored local entry; listed ones go into the central directory.  dd:
 * 0 no data descriptor, 1 with signature and 32-bit sizes, 2 without
 * signature, 3 with signature and 64-bit sizes, 4 without, 64-bit.
 */
static void
zb_local(struct zb *z, const char *name, const char *data, int dd,
    int listed)
{
	size_t nl = strlen(name), dl = strlen(data);
	uint32_t crc = zb_crc(data, dl);

	if (listed && z->n < 8) {
		snprintf(z->e[z->n].name, sizeof(z->e[0].name), "%s", name);
		z->e[z->n].crc = crc;
		z->e[z->n].size = (uint32_t)dl;
		z->e[z->n].off = z->len;
		z->e[z->n].flags = dd ? 8 : 0;
		z->e[z->n].mtime = 0;
		z->n++;
	}
	zb_put(z, "PK\3\4", 4);
	zb_le(z, 20, 2);
	zb_le(z, dd ? 8 : 0, 2);
	zb_le(z, 0, 2);			/* stored */
	zb_le(z, 0, 4);			/* time, date */
	zb_le(z, dd ? 0 : crc, 4);
	zb_le(z, dd ? 0 : dl, 4);
	zb_le(z, dd ? 0 : dl, 4);
	zb_le(z, nl, 2);
	zb_le(z, 0, 2);
	zb_put(z, name, nl);
	zb_put(z, data, dl);
	if (dd == 1 || dd == 3)
		zb_put(z, "PK\7\10", 4);
	if (dd != 0)
		zb_le(z, crc, 4);
	if (dd == 1 || dd == 2) {
		zb_le(z, dl, 4);
		zb_le(z, dl, 4);
	} else if (dd != 0) {
		zb_le(z, dl, 8);
		zb_le(z, dl, 8);
	}
}

/*
 * The central directory, and the end records: zip64 ones when zip64
 * (with each offset in a zip64 extra field), then comment and tail.
 * ccomment is the central directory comment of the last entry.
 */
static void
zb_end(struct zb *z, int zip64, const void *ccomment, size_t cclen,
    const char *comment)
{
	uint64_t cd = z->len, z64;
	size_t i, nl;

	for (i = 0; i < z->n; i++) {
		nl = strlen(z->e[i].name);
		zb_put(z, "PK\1\2", 4);
		zb_le(z, zip64 ? 45 : 20, 2);
		zb_le(z, 20, 2);
		zb_le(z, z->e[i].flags, 2);
		zb_le(z, 0, 2);
		zb_le(z, z->e[i].mtime, 2);
		zb_le(z, 0, 2);
		zb_le(z, z->e[i].crc, 4);
		zb_le(z, z->e[i].size, 4);
		zb_le(z, z->e[i].size, 4);
		zb_le(z, nl, 2);
		zb_le(z, zip64 ? 12 : 0, 2);
		zb_le(z, i + 1 == z->n ? cclen : 0, 2);
		zb_le(z, 0, 2);
		zb_le(z, 0, 2);
		zb_le(z, 0, 4);
		zb_le(z, zip64 ? 0xffffffffu : z->e[i].off, 4);
		zb_put(z, z->e[i].name, nl);
		if (zip64) {
			zb_le(z, 1, 2);
			zb_le(z, 8, 2);
			zb_le(z, z->e[i].off, 8);
		}
		if (i + 1 == z->n)
			zb_put(z, ccomment, cclen);
	}
	z64 = z->len;
	if (zip64) {
		zb_put(z, "PK\6\6", 4);
		zb_le(z, 44, 8);
		zb_le(z, 45, 2);
		zb_le(z, 45, 2);
		zb_le(z, 0, 4);
		zb_le(z, 0, 4);
		zb_le(z, z->n, 8);
		zb_le(z, z->n, 8);
		zb_le(z, z64 - cd, 8);
		zb_le(z, cd, 8);
		zb_put(z, "PK\6\7", 4);
		zb_le(z, 0, 4);
		zb_le(z, z64, 8);
		zb_le(z, 1, 4);
	}
	zb_put(z, "PK\5\6", 4);
	zb_le(z, 0, 2);
	zb_le(z, 0, 2);
	zb_le(z, zip64 ? 0xffff : z->n, 2);
	zb_le(z, zip64 ? 0xffff : z->n, 2);
	zb_le(z, zip64 ? 0xffffffffu : z64 - cd, 4);
	zb_le(z, zip64 ? 0xffffffffu : cd, 4);
	zb_le(z, strlen(comment), 2);
	zb_put(z, comment, strlen(comment));
}

/*
 * Checks one zip three ways: the layout check alone, the daemon's
 * in-memory open and the CLI's open of a file.  want: 0 or
 * CAP_ERR_INVALID; needle: a word the refusal must name.
 */
static void
zip_case_open(const char *name, const void *buf, size_t len, int want,
    const char *needle)
{
	char reason[256], path[4096];
	pkg_src *s = NULL;
	int r;

	reason[0] = '\0';
	r = pkg_src_open_mem(buf, len, &s, reason, sizeof(reason));
	pkg_src_free(s);
	s = NULL;
	th_check(r == want && (want == 0 || strstr(reason, needle) != NULL),
	    name, "in memory: want %d naming '%s', got %d '%s'", want,
	    needle != NULL ? needle : "", r, reason);
	snprintf(path, sizeof(path), "%s/case.zip", tmp_root());
	if (put(tmp_root(), "case.zip", buf, len) != 0) {
		th_check(0, name, "cannot write %s", path);
		return;
	}
	reason[0] = '\0';
	r = pkg_src_open(path, &s, reason, sizeof(reason));
	pkg_src_free(s);
	th_check(r == want && (want == 0 || strstr(reason, needle) != NULL),
	    name, "from a file: want %d naming '%s', got %d '%s'", want,
	    needle != NULL ? needle : "", r, reason);
}

static void
zip_case(const char *name, const void *buf, size_t len, int want,
    const char *needle)
{
	char reason[256];
	int r;

	reason[0] = '\0';
	r = pkg_zip_layout_check(buf, len, reason, sizeof(reason));
	th_check(r == want && (want == 0 || strstr(reason, needle) != NULL),
	    name, "layout check: want %d naming '%s', got %d '%s'", want,
	    needle != NULL ? needle : "", r, reason);
	zip_case_open(name, buf, len, want, needle);
}

static int
slurp(const char *path, uint8_t **buf, size_t *len)
{
	FILE *f;
	long n;

	*buf = NULL;
	*len = 0;
	if ((f = fopen(path, "rb")) == NULL)
		return -1;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) <= 0 ||
	    fseek(f, 0, SEEK_SET) != 0 ||
	    (*buf = malloc((size_t)n + 64)) == NULL ||
	    fread(*buf, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(*buf);
		*buf = NULL;
		return -1;
	}
	fclose(f);
	*len = (size_t)n;
	return 0;
}

/* Runs a python3 zipfile script writing argv[1]; 0 when it did. */
static int
pyzip(const char *path, const char *script)
{
	char cmd[8192];

	snprintf(cmd, sizeof(cmd), "python3 - '%s' <<'PY'\nimport sys, "
	    "zipfile\n%s\nPY\n", path, script);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_zip_layout(void)
{
	static const char *py[][2] = {
		{ "zip layout: python3 zipfile, deflated and stored",
		    "with zipfile.ZipFile(sys.argv[1], 'w') as z:\n"
		    "    z.writestr('a.txt', 'x' * 5000, "
		    "zipfile.ZIP_DEFLATED)\n"
		    "    z.writestr('b/b.bin', b'\\0' * 70000)\n"
		    "    z.comment = b'made by python'\n" },
		{ "zip layout: python3 zipfile streamed (data descriptors)",
		    "class W:\n"
		    "    def __init__(s, f): s.f = f\n"
		    "    def write(s, b): return s.f.write(b)\n"
		    "    def flush(s): s.f.flush()\n"
		    "with open(sys.argv[1], 'wb') as f:\n"
		    "    with zipfile.ZipFile(W(f), 'w') as z:\n"
		    "        z.writestr('s.txt', 'stored' * 100)\n"
		    "        z.writestr('d.txt', 'deflated' * 100, "
		    "zipfile.ZIP_DEFLATED)\n" },
		{ "zip layout: python3 zipfile streamed, zip64 descriptors",
		    "class W:\n"
		    "    def __init__(s, f): s.f = f\n"
		    "    def write(s, b): return s.f.write(b)\n"
		    "    def flush(s): s.f.flush()\n"
		    "with open(sys.argv[1], 'wb') as f:\n"
		    "    with zipfile.ZipFile(W(f), 'w') as z:\n"
		    "        for n in ('a', 'b'):\n"
		    "            with z.open(n, 'w', force_zip64=True) as e:\n"
		    "                e.write(n.encode() * 1000)\n" },
	};
	char path[4096], reason[256];
	const char junk[] = "0123456789abcdefghij";
	struct zb *z;
	uint8_t *buf = NULL, *b2 = NULL;
	size_t len = 0, i;
	pkg_zipw *w = NULL;
	zip_t *za;
	zip_source_t *zs;
	int err;

	if ((z = calloc(2, sizeof(*z))) == NULL)
		return;

	/* zips from libzip, python3 and Capstone's writer */
	snprintf(path, sizeof(path), "%s/lz.zip", tmp_root());
	if ((za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &err)) != NULL) {
		zs = zip_source_buffer(za, "hello hello hello hello", 23, 0);
		if (zip_file_add(za, "a.txt", zs, 0) < 0)
			zip_source_free(zs);
		zs = zip_source_buffer(za, "", 0, 0);
		if (zip_file_add(za, "empty", zs, 0) < 0)
			zip_source_free(zs);
		zip_dir_add(za, "dir/", 0);
		zip_close(za);
	}
	if (slurp(path, &buf, &len) == 0)
		zip_case("zip layout: libzip's zip accepted", buf, len, 0,
		    NULL);
	else
		th_check(0, "zip layout: libzip's zip accepted", "no zip");
	/* libzip's zip behind a stub, offsets unadjusted */
	if (buf != NULL && (b2 = malloc(len + 100)) != NULL) {
		memset(b2, 'M', 100);
		memcpy(b2 + 100, buf, len);
		zip_case("zip layout: a stub before the zip refused", b2,
		    len + 100, CAP_ERR_INVALID, "layout");
	}
	free(b2);
	b2 = NULL;
	free(buf);
	buf = NULL;

	snprintf(path, sizeof(path), "%s/cw.zip", tmp_root());
	if (pkg_zipw_new(path, &w) == 0) {
		if (pkg_zipw_add_buf(w, "TOSCA-Metadata/TOSCA.meta", "x", 1) ||
		    pkg_zipw_add_buf(w, "Files/a.bin", junk, sizeof(junk)) ||
		    pkg_zipw_close(w) != 0)
			th_check(0, "zip layout: Capstone's writer", "failed");
		pkg_zipw_free(w);
		w = NULL;
	}
	if (slurp(path, &buf, &len) == 0)
		zip_case("zip layout: Capstone's writer accepted", buf, len,
		    0, NULL);
	else
		th_check(0, "zip layout: Capstone's writer accepted", "no zip");
	free(buf);
	buf = NULL;

	for (i = 0; i < sizeof(py) / sizeof(py[0]); i++) {
		snprintf(path, sizeof(path), "%s/py%zu.zip", tmp_root(), i);
		if (pyzip(path, py[i][1]) != 0 ||
		    slurp(path, &buf, &len) != 0) {
			th_check(0, py[i][0], "python3 wrote no zip");
			continue;
		}
		zip_case(py[i][0], buf, len, 0, NULL);
		free(buf);
		buf = NULL;
	}

	/* zips written here: plain, with descriptors of each form, zip64 */
	memset(z, 0, sizeof(*z));
	zb_local(z, "a.txt", "alpha", 0, 1);
	zb_local(z, "b.txt", "bravo", 0, 1);
	zb_end(z, 0, NULL, 0, "a comment");
	zip_case("zip layout: a plain zip with a comment accepted", z->p,
	    z->len, 0, NULL);
	memset(z, 0, sizeof(*z));
	zb_local(z, "a.txt", "alpha", 1, 1);
	zb_local(z, "b.txt", "bravo", 2, 1);
	zb_local(z, "c.txt", "charlie", 3, 1);
	zb_local(z, "d.txt", "delta", 4, 1);
	zb_end(z, 0, NULL, 0, "");
	zip_case("zip layout: data descriptors of all four forms accepted",
	    z->p, z->len, 0, NULL);
	memset(z, 0, sizeof(*z));
	zb_local(z, "a.txt", "alpha", 0, 1);
	zb_local(z, "b.txt", "bravo", 3, 1);
	zb_end(z, 1, NULL, 0, "zip64");
	zip_case("zip layout: a zip64 zip accepted", z->p, z->len, 0, NULL);
	memset(z, 0, sizeof(*z));
	zb_end(z, 0, NULL, 0, "");
	zip_case("zip layout: an empty zip accepted", z->p, z->len, 0, NULL);

	/* hidden local entries and junk */
	memset(z, 0, sizeof(*z));
	zb_local(z, "a.txt", "alpha", 0, 1);
	zb_local(z, "hidden.sh", "rm -rf /", 0, 0);
	zb_local(z, "b.txt", "bravo", 0, 1);
	zb_end(z, 0, NULL, 0, "");
	zip_case("zip layout: a hidden entry between entries refused", z->p,
	    z->len, CAP_ERR_INVALID, "hidden entry");
	memset(z, 0, sizeof(*z));
	zb_local(z, "hidden.sh", "rm -rf /", 0, 0);
	zb_local(z, "a.txt", "alpha", 0, 1);
	zb_end(z, 0, NULL, 0, "");
	zip_case("zip layout: a hidden entry before the first refused",
	    z->p, z->len, CAP_ERR_INVALID, "before the first local header");
	memset(z, 0, sizeof(*z));
	zb_local(z, "a.txt", "alpha", 0, 1);
	zb_local(z, "hidden.sh", "rm -rf /", 0, 0);
	zb_end(z, 0, NULL, 0, "");
	zip_case("zip layout: a hidden entry before the central directory "
	    "refused", z->p, z->len, CAP_ERR_INVALID, "before the central");
	memset(z, 0, sizeof(*z));
	zb_local(z, "a.txt", "alpha", 1, 1);
	zb_local(z, "hidden.sh", "rm -rf /", 0, 0);
	zb_local(z, "b.txt", "bravo", 0, 1);
	zb_end(z, 0, NULL, 0, "");
	zip_case("zip layout: a hidden entry after a data descriptor "
	    "refused", z->p, z->len, CAP_ERR_INVALID, "hidden entry");
	memset(z, 0, sizeof(*z));
	zb_local(z, "a.txt", "alpha", 0, 1);
	zb_put(z, junk, 7);
	zb_local(z, "b.txt", "bravo", 0, 1);
	zb_end(z, 0, NULL, 0, "");
	zip_case("zip layout: a gap of junk refused", z->p, z->len,
	    CAP_ERR_INVALID, "7 unlisted bytes");
	memset(z, 0, sizeof(*z));
	zb_put(z, junk, 20);
	zb_local(z, "a.txt", "alpha", 0, 1);
	zb_end(z, 0, NULL, 0, "");
	zip_case("zip layout: a self-extracting stub refused", z->p, z->len,
	    CAP_ERR_INVALID, "self-extracting");
	memset(z, 0, sizeof(*z));
	zb_local(z, "a.txt", "alpha", 0, 1);
	zb_end(z, 0, NULL, 0, "comment");
	zb_put(z, "JUNK", 4);
	zip_case("zip layout: junk after the archive comment refused", z->p,
	    z->len, CAP_ERR_INVALID, "end of central directory");
	memset(z, 0, sizeof(*z));
	zb_local(z, "a.txt", "alpha", 0, 1);
	zb_end(z, 0, NULL, 0, "PK\5\6");
	zip_case("zip layout: an end record in the comment refused", z->p,
	    z->len, CAP_ERR_INVALID, "comment");

	/* overlaps: the same header twice, an entry inside another's data */
	memset(z, 0, sizeof(*z));
	zb_local(z, "a.txt", "alpha", 0, 1);
	z->e[1] = z->e[0];
	z->e[1].name[0] = 'b';
	z->n = 2;
	zb_end(z, 0, NULL, 0, "");
	zip_case("zip layout: two entries on one local header refused", z->p,
	    z->len, CAP_ERR_INVALID, "overlaps");
	memset(z, 0, sizeof(*z));
	memset(&z[1], 0, sizeof(z[1]));
	zb_local(&z[1], "inner", "hidden", 0, 0);
	z[1].p[z[1].len] = '\0';
	zb_local(z, "outer", (const char *)z[1].p, 0, 1);
	z->e[1] = z->e[0];
	snprintf(z->e[1].name, sizeof(z->e[1].name), "inner");
	z->e[1].off = 30 + 5;
	z->e[1].crc = zb_crc("hidden", 6);
	z->e[1].size = 6;
	z->n = 2;
	zb_end(z, 0, NULL, 0, "");
	zip_case("zip layout: an entry inside another's data refused", z->p,
	    z->len, CAP_ERR_INVALID, "overlaps");

	/* data descriptors that do not fit */
	memset(z, 0, sizeof(*z));
	zb_local(z, "a.txt", "alpha", 1, 1);
	z->e[0].crc ^= 1;
	zb_end(z, 0, NULL, 0, "");
	zip_case("zip layout: a data descriptor differing from the central "
	    "directory refused", z->p, z->len, CAP_ERR_INVALID,
	    "data descriptor");
	memset(z, 0, sizeof(*z));
	zb_local(z, "a.txt", "alpha", 1, 1);
	zb_put(z, junk, 3);
	zb_end(z, 0, NULL, 0, "");
	zip_case("zip layout: junk after a data descriptor refused", z->p,
	    z->len, CAP_ERR_INVALID, "data descriptor");

	/* the end records */
	memset(z, 0, sizeof(*z));
	zb_local(z, "a.txt", "alpha", 0, 1);
	zb_local(z, "b.txt", "bravo", 0, 1);
	zb_end(z, 0, junk, 8, "");
	/* the last entry's comment becomes bytes after the directory */
	z->p[z->len - 22 - 8 - 46 - 5 + 32] = 0;
	zip_case("zip layout: bytes between the central directory and the "
	    "end record refused", z->p, z->len, CAP_ERR_INVALID, "after the "
	    "last central directory entry");
	memset(z, 0, sizeof(*z));
	zb_local(z, "a.txt", "alpha", 0, 1);
	zb_local(z, "b.txt", "bravo", 0, 1);
	zb_end(z, 1, NULL, 0, "");
	/* the zip64 record moved: its locator points 4 bytes early */
	z->p[z->len - 22 - 20 + 8] -= 4;
	zip_case("zip layout: a zip64 record away from its locator refused",
	    z->p, z->len, CAP_ERR_INVALID, "zip64");
	memset(z, 0, sizeof(*z));
	zb_local(z, "a.txt", "alpha", 0, 1);
	zb_end(z, 0, NULL, 0, "");
	z->p[z->len - 22 + 10] = 0xff;	/* entries: 0x??ff */
	z->p[z->len - 22 + 8] = 0xff;
	zip_case("zip layout: more entries claimed than the directory "
	    "holds refused", z->p, z->len, CAP_ERR_INVALID, "layout");
	zip_case("zip layout: a truncated zip refused", z->p, 10,
	    CAP_ERR_INVALID, "too short");

	/*
	 * Two end records: the real one, and one in the last entry's
	 * central comment over a directory of the first entry only.  The
	 * second entry's local header disagrees with its central entry (the
	 * time), so libzip's consistency check drops the real directory and
	 * takes the smaller one: the second entry would go unseen.
	 */
	memset(z, 0, sizeof(*z));
	memset(&z[1], 0, sizeof(z[1]));
	zb_local(z, "a.txt", "alpha", 0, 1);
	zb_local(z, "b.txt", "bravo", 0, 1);
	z->e[1].mtime = 1;
	z[1].e[0] = z->e[0];
	z[1].n = 1;
	{
		/* the fake directory and end record, laid out at its place */
		uint64_t cd = z->len, at;
		size_t fl;

		at = cd + (46 + 5) * 2;	/* the second entry's comment */
		z[1].len = 0;
		memset(z[1].p, 0, sizeof(z[1].p));
		z[1].len = (size_t)at;	/* offsets as in the real file */
		zb_end(&z[1], 0, NULL, 0, "");
		/* the fake end record's comment runs over the real one */
		fl = z[1].len - (size_t)at;
		z[1].p[z[1].len - 2] = 22;
		zb_end(z, 0, z[1].p + at, fl, "");
	}
	reason[0] = '\0';
	TH_EQ_INT(pkg_zip_layout_check(z->p, z->len, reason, sizeof(reason)),
	    0, "zip layout: the real directory tiles the file");
	{
		zip_error_t ze;
		zip_int64_t n = -1;

		zip_error_init(&ze);
		if ((zs = zip_source_buffer_create(z->p, z->len, 0,
		    &ze)) != NULL) {
			if ((za = zip_open_from_source(zs, ZIP_RDONLY |
			    ZIP_CHECKCONS, &ze)) != NULL) {
				n = zip_get_num_entries(za, 0);
				zip_discard(za);
			} else
				zip_source_free(zs);
		}
		zip_error_fini(&ze);
		TH_EQ_INT(n, 1, "zip layout: libzip alone takes the second "
		    "end record and lists one entry");
	}
	zip_case_open("zip layout: a second end record libzip would take "
	    "refused", z->p, z->len, CAP_ERR_INVALID, "second end of central");
	free(z);
}

/*
 * A stored zip64 entry of 5 GiB in a sparse file, so that every offset
 * past the data needs 64 bits; hidden: the entry is listed 100 bytes
 * short, and those bytes hold a local entry the directory does not list.
 */
static int
zip_big(const char *path, int hidden)
{
	const uint64_t dl = 5ull << 30, cd = 57 + dl;
	const uint64_t listed = hidden ? dl - 100 : dl;
	struct zb *z;
	int fd, ok = 0;

	if ((z = calloc(1, sizeof(*z))) == NULL)
		return -1;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0) {
		free(z);
		return -1;
	}
	zb_put(z, "PK\3\4", 4);
	zb_le(z, 45, 2);
	zb_le(z, 0, 2);
	zb_le(z, 0, 2);
	zb_le(z, 0, 4);
	zb_le(z, 0, 4);
	zb_le(z, 0xffffffffu, 4);
	zb_le(z, 0xffffffffu, 4);
	zb_le(z, 7, 2);
	zb_le(z, 20, 2);
	zb_put(z, "big.img", 7);
	zb_le(z, 1, 2);
	zb_le(z, 16, 2);
	zb_le(z, listed, 8);
	zb_le(z, listed, 8);
	ok = pwrite(fd, z->p, z->len, 0) == (ssize_t)z->len;
	if (hidden) {
		z->len = 0;
		zb_local(z, "x.sh", "hidden", 0, 0);
		ok = ok && pwrite(fd, z->p, z->len, (off_t)(cd - 100)) ==
		    (ssize_t)z->len;
	}
	z->len = 0;
	zb_put(z, "PK\1\2", 4);
	zb_le(z, 45, 2);
	zb_le(z, 45, 2);
	zb_le(z, 0, 2);
	zb_le(z, 0, 2);
	zb_le(z, 0, 4);
	zb_le(z, 0, 4);
	zb_le(z, 0xffffffffu, 4);
	zb_le(z, 0xffffffffu, 4);
	zb_le(z, 7, 2);
	zb_le(z, 20, 2);
	zb_le(z, 0, 2);
	zb_le(z, 0, 2);
	zb_le(z, 0, 2);
	zb_le(z, 0, 4);
	zb_le(z, 0, 4);
	zb_put(z, "big.img", 7);
	zb_le(z, 1, 2);
	zb_le(z, 16, 2);
	zb_le(z, listed, 8);
	zb_le(z, listed, 8);
	zb_put(z, "PK\6\6", 4);
	zb_le(z, 44, 8);
	zb_le(z, 45, 2);
	zb_le(z, 45, 2);
	zb_le(z, 0, 4);
	zb_le(z, 0, 4);
	zb_le(z, 1, 8);
	zb_le(z, 1, 8);
	zb_le(z, 73, 8);
	zb_le(z, cd, 8);
	zb_put(z, "PK\6\7", 4);
	zb_le(z, 0, 4);
	zb_le(z, cd + 73, 8);
	zb_le(z, 1, 4);
	zb_put(z, "PK\5\6", 4);
	zb_le(z, 0, 4);
	zb_le(z, 0xffffffffu, 4);
	zb_le(z, 0xffffffffu, 4);
	zb_le(z, 0xffffffffu, 4);
	zb_le(z, 0, 2);
	ok = ok && pwrite(fd, z->p, z->len, (off_t)cd) == (ssize_t)z->len;
	ok = close(fd) == 0 && ok;
	free(z);
	return ok ? 0 : -1;
}

static void
test_zip_layout_big(void)
{
	char path[4096], reason[256];
	pkg_src *s = NULL;
	int r;

	snprintf(path, sizeof(path), "%s/big.zip", tmp_root());
	if (zip_big(path, 0) != 0) {
		th_check(0, "zip layout: a 5 GiB zip64 zip written", "failed");
		return;
	}
	reason[0] = '\0';
	r = pkg_src_open(path, &s, reason, sizeof(reason));
	th_check(r == 0 && pkg_src_count(s) == 1,
	    "zip layout: a 5 GiB zip64 zip accepted", "got %d '%s'", r,
	    reason);
	pkg_src_free(s);
	s = NULL;
	if (zip_big(path, 1) != 0) {
		th_check(0, "zip layout: a 5 GiB zip64 zip written", "failed");
		unlink(path);
		return;
	}
	reason[0] = '\0';
	r = pkg_src_open(path, &s, reason, sizeof(reason));
	th_check(r == CAP_ERR_INVALID && strstr(reason, "hidden entry") !=
	    NULL, "zip layout: a hidden entry past 4 GiB refused",
	    "got %d '%s'", r, reason);
	pkg_src_free(s);
	unlink(path);
}

static void
test_verify(struct pki *p)
{
	const char *d;
	char path[4096], outer[4096], csar[4096], *sig, *pem, *two;
	pkg_zipw *w = NULL;
	STACK_OF(X509) *other;

	/* the manifest form */
	d = mkpkgdir("good");
	if (make_pkg(d, p->signer, p->skey) != 0) {
		th_check(0, "verify: package made", "failed");
		return;
	}
	expect("verify: signed manifest package (directory) is valid",
	    verify_path(d, p->roots, p->crls), NULL, NULL);
	snprintf(csar, sizeof(csar), "%s/good.csar", tmp_root());
	if (zip_dir(d, csar) == 0)
		expect("verify: signed manifest package (CSAR) is valid",
		    verify_path(csar, p->roots, NULL), NULL, NULL);

	/* the signed-CSAR form: NAME.csar, NAME.cms, NAME.cert */
	snprintf(outer, sizeof(outer), "%s/signed.zip", tmp_root());
	if ((sig = cms_sign(p->signer, p->skey, NULL, 0, csar)) != NULL &&
	    (pem = cert_pem(p->signer)) != NULL &&
	    pkg_zipw_new(outer, &w) == 0 &&
	    pkg_zipw_add_file_stored(w, "vfw.csar", csar) == 0 &&
	    pkg_zipw_add_buf(w, "vfw.cms", sig, strlen(sig)) == 0 &&
	    pkg_zipw_add_buf(w, "vfw.cert", pem, strlen(pem)) == 0 &&
	    pkg_zipw_close(w) == 0) {
		struct pkg_report *rep = verify_path(outer, p->roots, NULL);

		th_check(rep != NULL && rep->form == PKG_FORM_SIGNED_CSAR &&
		    rep->signatures == 2 && rep->artifacts == 4,
		    "verify: signed-CSAR form recognised, both signatures "
		    "checked", "form %d sigs %zu", rep ? (int)rep->form : -1,
		    rep ? rep->signatures : 0);
		expect("verify: signed CSAR is valid", rep, NULL, NULL);
		free(pem);
	}
	pkg_zipw_free(w);
	w = NULL;
	free(sig);
	/* the same signature over another CSAR */
	snprintf(outer, sizeof(outer), "%s/swapped.zip", tmp_root());
	if ((sig = cms_sign(p->signer, p->skey, "other", 5, NULL)) != NULL &&
	    pkg_zipw_new(outer, &w) == 0 &&
	    pkg_zipw_add_file_stored(w, "vfw.csar", csar) == 0 &&
	    pkg_zipw_add_buf(w, "vfw.cms", sig, strlen(sig)) == 0 &&
	    pkg_zipw_close(w) == 0)
		expect("verify: signed CSAR with a foreign signature fails",
		    verify_path(outer, p->roots, NULL), "signature",
		    "vfw.csar");
	pkg_zipw_free(w);
	w = NULL;
	free(sig);

	/* changed, missing, extra */
	d = mkpkgdir("changed");
	make_pkg(d, p->signer, p->skey);
	puts_file(d, "Files/image.bin", "tampered\n");
	expect("verify: changed artifact named", verify_path(d, p->roots,
	    NULL), "changed", "Files/image.bin");
	d = mkpkgdir("missing");
	make_pkg(d, p->signer, p->skey);
	snprintf(path, sizeof(path), "%s/Files/scripts/install.sh", d);
	unlink(path);
	expect("verify: missing artifact named", verify_path(d, p->roots,
	    NULL), "missing", "Files/scripts/install.sh");
	d = mkpkgdir("extra");
	make_pkg(d, p->signer, p->skey);
	puts_file(d, "Files/backdoor.sh", "#!/bin/sh\n");
	expect("verify: extra artifact named", verify_path(d, p->roots,
	    NULL), "extra", "Files/backdoor.sh");

	/* the manifest edited after signing */
	d = mkpkgdir("edited");
	make_pkg(d, p->signer, p->skey);
	{
		uint8_t *buf = NULL;
		size_t len;
		pkg_src *s = NULL;
		char *q;

		if (pkg_src_open(d, &s, NULL, 0) == 0 &&
		    pkg_src_load(s, (size_t)pkg_src_find(s, "main.mf"),
		    PKG_MANIFEST_MAX, &buf, &len) == 0 &&
		    (q = strstr((char *)buf, "vFW")) != NULL) {
			q[1] = 'X';
			put(d, "main.mf", buf, len);
		}
		free(buf);
		pkg_src_free(s);
	}
	expect("verify: manifest edited after signing fails", verify_path(d,
	    p->roots, NULL), "signature", "main.mf");

	/* unsigned manifest */
	d = mkpkgdir("unsigned");
	make_pkg(d, NULL, NULL);
	expect("verify: unsigned manifest fails", verify_path(d, p->roots,
	    NULL), "signature", "main.mf");

	/* signer checks */
	d = mkpkgdir("good2");
	make_pkg(d, p->signer, p->skey);
	other = sk_X509_new_null();
	sk_X509_push(other, p->other);
	expect("verify: signer from an untrusted root fails", verify_path(d,
	    other, NULL), "untrusted", "main.mf");
	sk_X509_free(other);
	d = mkpkgdir("expired");
	make_pkg(d, p->expired, p->skey);
	expect("verify: expired signer fails", verify_path(d, p->roots,
	    NULL), "expired", "main.mf");
	d = mkpkgdir("revoked");
	make_pkg(d, p->revoked, p->skey);
	expect("verify: revoked signer valid without a CRL",
	    verify_path(d, p->roots, NULL), NULL, NULL);
	expect("verify: revoked signer fails with the CRL",
	    verify_path(d, p->roots, p->crls), "revoked", "main.mf");
	d = mkpkgdir("nosign");
	make_pkg(d, p->nosign, p->skey);
	expect("verify: signer without digitalSignature fails",
	    verify_path(d, p->roots, NULL), "key_usage", "main.mf");

	/* per-artifact signature next to an artifact */
	d = mkpkgdir("artifact");
	snprintf(path, sizeof(path), "%s/Files/image.bin", d);
	puts_file(d, "Files/image.bin", "not really an image\n");
	if ((sig = cms_sign(p->signer, p->skey, NULL, 0, path)) != NULL &&
	    (pem = cert_pem(p->signer)) != NULL) {
		puts_file(d, "Files/image.bin.cms", sig);
		puts_file(d, "Files/image.bin.cert", pem);
		make_pkg(d, p->signer, p->skey);
		{
			struct pkg_report *rep = verify_path(d, p->roots,
			    NULL);

			th_check(rep != NULL && rep->signatures == 2,
			    "verify: artifact signature checked too",
			    "signatures %zu", rep ? rep->signatures : 0);
			expect("verify: package with artifact signature valid",
			    rep, NULL, NULL);
		}
		if (asprintf(&two, "%s", "changed\n") > 0) {
			puts_file(d, "Files/image.bin", two);
			free(two);
		}
		expect("verify: changed signed artifact fails its signature",
		    verify_path(d, p->roots, NULL), "signature",
		    "Files/image.bin");
		/* unsigned manifest: the artifacts without a .cms fail */
		d = mkpkgdir("artifact-only");
		puts_file(d, "Files/image.bin", "not really an image\n");
		puts_file(d, "Files/image.bin.cms", sig);
		puts_file(d, "Files/image.bin.cert", pem);
		make_pkg(d, NULL, NULL);
		puts_file(d, "Files/scripts/install.sh", "#!/bin/sh\nevil\n");
		make_pkg(d, NULL, NULL);
		expect("verify: unsigned manifest does not cover artifacts "
		    "without their own signature", verify_path(d, p->roots,
		    NULL), "signature", "Files/scripts/install.sh");
		free(pem);
	}
	free(sig);
}

int
main(void)
{
	struct pki p;

	test_manifest();
	test_paths_meta();
	test_zip();
	test_zip_layout();
	test_zip_layout_big();
	if (pki_make(&p) != 0)
		th_check(0, "pki: certificates made", "failed");
	else
		test_verify(&p);
	pki_free(&p);
	return th_done();
}
