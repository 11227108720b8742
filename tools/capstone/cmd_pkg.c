/*
 * cmd_pkg.c - capstone pkg sign|verify|encrypt|decrypt: VNF packages
 * (ETSI GS NFV-SOL 004, NFV-SEC 021).
 *
 * Artifacts never travel to the daemon.  `pkg sign` reads the package in
 * a stream, computes every digest and the manifest here, and asks the
 * daemon only to sign the manifest text ("content") and the finished
 * CSAR's SHA-256 ("sha256") with a certificate's key in the token.
 * `pkg verify` needs no key and runs entirely here.  encrypt and decrypt
 * live in cmd_pkg_crypt.c.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509.h>
#include <sodium.h>

#include "common/err.h"
#include "crypto/pkg.h"
#include "tools/capstone/args.h"
#include "tools/capstone/cli.h"

#define PKG_CONTENT_MAX		(1024u * 1024)	/* "content" the daemon signs */
#define PKG_PEM_FILE_MAX	(1024u * 1024)	/* --trust, --crl files */
#define PKG_EXTERNAL_MAX	1000

/* ---- signing ---- */

struct sig {
	char	*cms;	/* PEM */
	char	*certs;	/* signer certificate, then its chain, PEM */
};

static void
sig_clear(struct sig *s)
{
	free(s->cms);
	free(s->certs);
	s->cms = s->certs = NULL;
}

static char *
cat_pem(char *acc, const char *pem)
{
	size_t a = acc != NULL ? strlen(acc) : 0, b = strlen(pem);
	int nl = b > 0 && pem[b - 1] != '\n';
	char *n;

	if ((n = realloc(acc, a + b + nl + 1)) == NULL) {
		free(acc);
		return NULL;
	}
	memcpy(n + a, pem, b);
	if (nl)
		n[a + b] = '\n';
	n[a + b + nl] = '\0';
	return n;
}

/*
 * Asks the daemon for a detached CMS signature: over content (len bytes)
 * when it is small, else over its SHA-256 given in digest.
 */
static int
daemon_sign(struct cli *cli, const char *cert, const void *content,
    size_t len, const uint8_t digest[32], struct sig *s)
{
	json_t *body = NULL, *out = NULL, *ch, *v;
	const char *cms, *crt;
	char hex[65], *b64 = NULL;
	size_t n, i;
	int rc;

	memset(s, 0, sizeof(*s));
	if (content != NULL && len <= PKG_CONTENT_MAX) {
		n = sodium_base64_ENCODED_LEN(len,
		    sodium_base64_VARIANT_ORIGINAL);
		if ((b64 = malloc(n)) == NULL) {
			cli_err("out of memory");
			return CLI_FAIL;
		}
		sodium_bin2base64(b64, n, content, len,
		    sodium_base64_VARIANT_ORIGINAL);
		body = json_pack("{s:s,s:s}", "cert", cert, "content", b64);
	} else {
		sodium_bin2hex(hex, sizeof(hex), digest, 32);
		body = json_pack("{s:s,s:s}", "cert", cert, "sha256", hex);
	}
	free(b64);
	if ((rc = cli_post_json(cli, "/v1/packages/sign", body, &out)) !=
	    CLI_OK)
		goto out;
	cms = cli_get_str(out, "cms", NULL);
	crt = cli_get_str(out, "certificate", NULL);
	if (cms == NULL || crt == NULL ||
	    strncmp(cms, "-----BEGIN CMS-----", 19) != 0) {
		cli_err("the daemon's answer holds no CMS signature");
		rc = CLI_FAIL;
		goto out;
	}
	if ((s->cms = cat_pem(NULL, cms)) == NULL ||
	    (s->certs = cat_pem(NULL, crt)) == NULL)
		goto nomem;
	if (json_is_array(ch = json_object_get(out, "chain")))
		json_array_foreach(ch, i, v)
			if (json_is_string(v) && (s->certs = cat_pem(s->certs,
			    json_string_value(v))) == NULL)
				goto nomem;
	rc = CLI_OK;
	goto out;
 nomem:
	cli_err("out of memory");
	rc = CLI_FAIL;
 out:
	if (rc != CLI_OK)
		sig_clear(s);
	json_decref(out);
	return rc;
}

struct sign_opts {
	const char	*cert;
	const char	*in;
	const char	*out;
	int		 manifest_only;
	int		 sign_artifacts;
	const char	*provider, *product, *version;
	char		**externals;
	size_t		 nexternal;
};

/* An entry added to the new CSAR from memory. */
struct newent {
	char	*name;
	char	*data;
	size_t	 len;
};

struct newents {
	struct newent	*v;
	size_t		 n;
};

static int
newent_add(struct newents *ne, const char *name, const char *data,
    size_t len)
{
	struct newent *nv;

	if ((nv = reallocarray(ne->v, ne->n + 1, sizeof(*nv))) == NULL)
		return CAP_ERR_NOMEM;
	ne->v = nv;
	nv = &ne->v[ne->n];
	nv->name = strdup(name);
	nv->data = malloc(len + 1);
	if (nv->name == NULL || nv->data == NULL) {
		free(nv->name);
		free(nv->data);
		return CAP_ERR_NOMEM;
	}
	memcpy(nv->data, data, len);
	nv->data[len] = '\0';
	nv->len = len;
	ne->n++;
	return 0;
}

static void
newents_free(struct newents *ne)
{
	size_t i;

	for (i = 0; i < ne->n; i++) {
		free(ne->v[i].name);
		free(ne->v[i].data);
	}
	free(ne->v);
	ne->v = NULL;
	ne->n = 0;
}

static int
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && strcmp(s + n - m, suffix) == 0;
}

/* The package's base name: IN without directories and .csar/.zip. */
static int
base_name(const char *in, char *out, size_t len)
{
	const char *b;
	size_t n;

	n = strlen(in);
	while (n > 1 && in[n - 1] == '/')
		n--;
	for (b = in + n; b > in && b[-1] != '/'; b--)
		;
	n -= (size_t)(b - in);
	if (n > 5 && strncmp(b + n - 5, ".csar", 5) == 0)
		n -= 5;
	else if (n > 4 && strncmp(b + n - 4, ".zip", 4) == 0)
		n -= 4;
	if (n == 0 || n >= len || memchr(b, '/', n) != NULL)
		return -1;
	memcpy(out, b, n);
	out[n] = '\0';
	return pkg_path_ok(out) ? 0 : -1;
}

/*
 * The manifest's and its certificate's names: TOSCA.meta's
 * ETSI-Entry-Manifest/ETSI-Entry-Certificate, else the single .mf at the
 * root, else BASE.mf; the certificate next to the manifest.
 */
static int
manifest_names(pkg_src *src, const char *base, char *mf, char *cert,
    size_t len)
{
	struct pkg_tosca_meta tm;
	uint8_t *buf = NULL;
	size_t n, i;
	long t;
	const char *name, *found = NULL;
	int r = 0;

	memset(&tm, 0, sizeof(tm));
	if ((t = pkg_src_find(src, PKG_TOSCA_META)) >= 0 &&
	    (pkg_src_load(src, (size_t)t, PKG_SMALL_MAX, &buf, &n) != 0 ||
	    pkg_tosca_meta_parse((char *)buf, n, &tm) != 0)) {
		cli_err("cannot read %s", PKG_TOSCA_META);
		r = -1;
		goto out;
	}
	if (tm.entry_manifest != NULL)
		found = tm.entry_manifest;
	else
		for (i = 0; i < pkg_src_count(src); i++) {
			name = pkg_src_name(src, i);
			if (strchr(name, '/') == NULL && ends_with(name, ".mf")) {
				if (found != NULL) {
					cli_err("more than one .mf at the root "
					    "and no ETSI-Entry-Manifest");
					r = -1;
					goto out;
				}
				found = name;
			}
		}
	if (found != NULL)
		snprintf(mf, len, "%s", found);
	else
		snprintf(mf, len, "%s.mf", base);
	if (!ends_with(mf, ".mf")) {
		cli_err("the manifest name must end in .mf");
		r = -1;
		goto out;
	}
	if (tm.entry_certificate != NULL)
		snprintf(cert, len, "%s", tm.entry_certificate);
	else
		snprintf(cert, len, "%.*s.cert", (int)(strlen(mf) - 3), mf);
 out:
	free(buf);
	pkg_tosca_meta_clear(&tm);
	return r;
}

/* Metadata from an existing manifest, then from the flags. */
static int
manifest_meta(pkg_src *src, const char *mfname, const struct sign_opts *so,
    pkg_manifest *m)
{
	static const char *const keys[] = { "vnf_provider_id",
	    "vnf_product_name", "vnf_release_date_time",
	    "vnf_package_version", NULL };
	pkg_manifest *old = NULL;
	uint8_t *buf = NULL;
	size_t n, i;
	long x;
	char now[32], reason[256];
	const char *v;
	struct tm tmv;
	time_t t;
	int r = -1;

	if ((x = pkg_src_find(src, mfname)) >= 0) {
		if (pkg_src_load(src, (size_t)x, PKG_MANIFEST_MAX, &buf,
		    &n) != 0 ||
		    pkg_manifest_parse((char *)buf, n, &old, NULL, NULL, NULL,
		    reason, sizeof(reason)) != 0) {
			cli_err("cannot read the manifest %s", mfname);
			goto out;
		}
		for (i = 0; keys[i] != NULL; i++)
			if ((v = pkg_manifest_meta(old, keys[i])) != NULL &&
			    pkg_manifest_set_meta(m, keys[i], v) != 0)
				goto bad;
	}
	if ((so->provider != NULL && pkg_manifest_set_meta(m,
	    "vnf_provider_id", so->provider) != 0) ||
	    (so->product != NULL && pkg_manifest_set_meta(m,
	    "vnf_product_name", so->product) != 0) ||
	    (so->version != NULL && pkg_manifest_set_meta(m,
	    "vnf_package_version", so->version) != 0))
		goto bad;
	if (pkg_manifest_meta(m, "vnf_release_date_time") == NULL) {
		t = time(NULL);
		gmtime_r(&t, &tmv);
		strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tmv);
		if (pkg_manifest_set_meta(m, "vnf_release_date_time", now) != 0)
			goto bad;
	}
	for (i = 0; keys[i] != NULL; i++)
		if (pkg_manifest_meta(m, keys[i]) == NULL) {
			cli_err("the manifest needs %s: give --provider, "
			    "--product and --version", keys[i]);
			goto out;
		}
	r = 0;
	goto out;
 bad:
	cli_err("bad manifest metadata value");
 out:
	pkg_manifest_free(old);
	free(buf);
	return r;
}

/*
 * Writes the CSAR with its signed manifest to path: the entries of src
 * (less the old manifest, its certificate, and the artifact signatures
 * being replaced) plus the new entries.
 */
static int
sign_csar(struct cli *cli, const struct sign_opts *so, pkg_src *src,
    const char *base, const char *path, size_t *nart)
{
	char mfname[PKG_PATH_MAX + 1], certname[PKG_PATH_MAX + 8];
	char sub[PKG_PATH_MAX + 16], *text = NULL, *mftext = NULL;
	uint8_t dg[EVP_MAX_MD_SIZE], sha[32];
	pkg_manifest *m = NULL;
	struct newents ne = { NULL, 0 };
	struct sig s = { NULL, NULL };
	pkg_zipw *w = NULL;
	uint8_t *skip = NULL, hash[PKG_DIGEST_MAX];
	const char *name, *eq;
	size_t i, n, dlen, tlen, hl;
	char uri[PKG_PATH_MAX + 1];
	int rc = CLI_FAIL, r;

	if (manifest_names(src, base, mfname, certname, PKG_PATH_MAX + 1) != 0)
		goto out;
	if (pkg_manifest_new(&m) != 0 ||
	    (skip = calloc(pkg_src_count(src) + 1, 1)) == NULL)
		goto nomem;
	if (manifest_meta(src, mfname, so, m) != 0)
		goto out;

	/* what the new package does not carry over */
	for (i = 0; i < pkg_src_count(src); i++) {
		name = pkg_src_name(src, i);
		if (strcmp(name, mfname) == 0 || strcmp(name, certname) == 0)
			skip[i] = 1;
		else if (so->sign_artifacts && (ends_with(name, ".cms") ||
		    ends_with(name, ".cert")) &&
		    (n = strlen(name) - (ends_with(name, ".cms") ? 4 : 5),
		    snprintf(sub, sizeof(sub), "%.*s", (int)n, name),
		    pkg_src_find(src, sub) >= 0))
			skip[i] = 1;
	}

	/* per-artifact signatures: X.cms and X.cert next to X */
	for (i = 0; so->sign_artifacts && i < pkg_src_count(src); i++) {
		name = pkg_src_name(src, i);
		if (skip[i] || strncmp(name, "TOSCA-Metadata/", 15) == 0 ||
		    ends_with(name, ".cms") || ends_with(name, ".cert"))
			continue;
		if (pkg_src_digest(src, i, "SHA-256", dg, &dlen) != 0) {
			cli_err("cannot read %s", name);
			goto out;
		}
		if (daemon_sign(cli, so->cert, NULL, 0, dg, &s) != CLI_OK)
			goto out;
		snprintf(sub, sizeof(sub), "%s.cms", name);
		if (newent_add(&ne, sub, s.cms, strlen(s.cms)) != 0)
			goto nomem;
		snprintf(sub, sizeof(sub), "%s.cert", name);
		if (newent_add(&ne, sub, s.certs, strlen(s.certs)) != 0)
			goto nomem;
		sig_clear(&s);
	}

	/* the manifest: every file carried over, every new entry, URIs */
	for (i = 0; i < pkg_src_count(src); i++) {
		if (skip[i])
			continue;
		if (pkg_src_digest(src, i, "SHA-256", dg, &dlen) != 0) {
			cli_err("cannot read %s", pkg_src_name(src, i));
			goto out;
		}
		if (pkg_manifest_add(m, pkg_src_name(src, i), "SHA-256", dg,
		    dlen) != 0)
			goto nomem;
	}
	for (i = 0; i < ne.n; i++) {
		crypto_hash_sha256(sha, (const uint8_t *)ne.v[i].data,
		    ne.v[i].len);
		if (pkg_manifest_add(m, ne.v[i].name, "SHA-256", sha, 32) != 0)
			goto nomem;
	}
	for (i = 0; i < so->nexternal; i++) {
		eq = strrchr(so->externals[i], '=');
		n = (size_t)(eq - so->externals[i]);
		snprintf(uri, sizeof(uri), "%.*s", (int)n, so->externals[i]);
		if (sodium_hex2bin(hash, sizeof(hash), eq + 1, strlen(eq + 1),
		    NULL, &hl, NULL) != 0 || hl != 32 ||
		    pkg_manifest_add(m, uri, "SHA-256", hash, 32) != 0) {
			cli_err("bad --external %s: URI=SHA256HEX",
			    so->externals[i]);
			goto out;
		}
	}
	*nart = pkg_manifest_count(m);
	if ((r = pkg_manifest_text(m, &text, &tlen)) != 0) {
		cli_err("manifest: %s", cap_strerror(r));
		goto out;
	}
	crypto_hash_sha256(sha, (const uint8_t *)text, tlen);
	if (daemon_sign(cli, so->cert, text, tlen, sha, &s) != CLI_OK)
		goto out;
	if ((mftext = malloc(tlen + strlen(s.cms) + 1)) == NULL)
		goto nomem;
	memcpy(mftext, text, tlen);
	memcpy(mftext + tlen, s.cms, strlen(s.cms) + 1);

	/* the new CSAR */
	if ((r = pkg_zipw_new(path, &w)) != 0) {
		cli_err("cannot create %s: %s", path, cap_strerror(r));
		goto out;
	}
	for (i = 0; i < pkg_src_count(src); i++)
		if (!skip[i] && pkg_zipw_add_src(w, pkg_src_name(src, i), src,
		    i) != 0) {
			cli_err("cannot add %s", pkg_src_name(src, i));
			goto out;
		}
	for (i = 0; i < ne.n; i++)
		if (pkg_zipw_add_buf(w, ne.v[i].name, ne.v[i].data,
		    ne.v[i].len) != 0)
			goto nomem;
	if (pkg_zipw_add_buf(w, mfname, mftext, strlen(mftext)) != 0 ||
	    pkg_zipw_add_buf(w, certname, s.certs, strlen(s.certs)) != 0)
		goto nomem;
	if ((r = pkg_zipw_close(w)) != 0) {
		cli_err("cannot write %s: %s", path, cap_strerror(r));
		goto out;
	}
	rc = CLI_OK;
	goto out;
 nomem:
	cli_err("out of memory");
 out:
	pkg_zipw_free(w);
	sig_clear(&s);
	newents_free(&ne);
	free(mftext);
	free(text);
	free(skip);
	pkg_manifest_free(m);
	return rc;
}

static int
pkg_sign(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "cert", required_argument, NULL, 'c' },
		{ "output", required_argument, NULL, 'o' },
		{ "form", required_argument, NULL, 'f' },
		{ "sign-artifacts", no_argument, NULL, 'a' },
		{ "external", required_argument, NULL, 'e' },
		{ "provider", required_argument, NULL, 'P' },
		{ "product", required_argument, NULL, 'N' },
		{ "version", required_argument, NULL, 'V' },
		CLI_COMMON_OPTS, { 0, 0, 0, 0 }
	};
	struct sign_opts so;
	char base[PKG_PATH_MAX + 1], name[PKG_PATH_MAX + 16];
	char reason[512], *tmp = NULL, *eq;
	uint8_t sha[32];
	pkg_src *src = NULL;
	pkg_zipw *w = NULL;
	struct sig s = { NULL, NULL };
	size_t nart = 0;
	json_t *j;
	int c, rc = CLI_OK, r;

	memset(&so, 0, sizeof(so));
	while ((c = cli_getopt(cli, cmd, argc, argv, "c:o:f:ae:h", lo,
	    &rc)) != -1) {
		switch (c) {
		case CLI_GETOPT_EXIT:
			goto done;
		case 'c':
			so.cert = optarg;
			break;
		case 'o':
			so.out = optarg;
			break;
		case 'f':
			if (strcmp(optarg, "manifest") == 0)
				so.manifest_only = 1;
			else if (strcmp(optarg, "signed-csar") == 0)
				so.manifest_only = 0;
			else {
				rc = cli_usage_error(cmd, "--form is "
				    "signed-csar or manifest");
				goto done;
			}
			break;
		case 'a':
			so.sign_artifacts = 1;
			break;
		case 'e':
			if ((eq = strrchr(optarg, '=')) == NULL ||
			    eq == optarg || strlen(eq + 1) != 64 ||
			    !pkg_is_uri(optarg) ||
			    so.nexternal >= PKG_EXTERNAL_MAX) {
				rc = cli_usage_error(cmd, "--external is "
				    "URI=SHA256HEX");
				goto done;
			}
			if (so.externals == NULL && (so.externals = calloc(
			    PKG_EXTERNAL_MAX, sizeof(char *))) == NULL) {
				cli_err("out of memory");
				rc = CLI_FAIL;
				goto done;
			}
			so.externals[so.nexternal++] = optarg;
			break;
		case 'P':
			so.provider = optarg;
			break;
		case 'N':
			so.product = optarg;
			break;
		case 'V':
			so.version = optarg;
			break;
		default:
			rc = cli_usage_error(cmd, "unknown option");
			goto done;
		}
	}
	if (argc - optind != 1) {
		rc = cli_usage_error(cmd, "expected one package (IN.csar or "
		    "a directory)");
		goto done;
	}
	so.in = argv[optind];
	if (so.cert == NULL || so.out == NULL) {
		rc = cli_usage_error(cmd, "--cert and -o are required");
		goto done;
	}
	if (base_name(so.in, base, sizeof(base)) != 0) {
		rc = cli_usage_error(cmd, "cannot name the package after %s",
		    so.in);
		goto done;
	}
	reason[0] = '\0';
	if ((r = pkg_src_open(so.in, &src, reason, sizeof(reason))) != 0) {
		cli_err("%s: %s", so.in, reason[0] != '\0' ? reason :
		    cap_strerror(r));
		rc = CLI_FAIL;
		goto done;
	}
	if (so.manifest_only) {
		if ((rc = sign_csar(cli, &so, src, base, so.out, &nart)) !=
		    CLI_OK)
			goto done;
	} else {
		/* the inner CSAR next to the output, then the signed zip */
		if (asprintf(&tmp, "%s.csar.tmp", so.out) < 0) {
			tmp = NULL;
			cli_err("out of memory");
			rc = CLI_FAIL;
			goto done;
		}
		if ((rc = sign_csar(cli, &so, src, base, tmp, &nart)) !=
		    CLI_OK)
			goto done;
		if (pkg_file_sha256(tmp, sha) != 0) {
			cli_err("cannot read %s", tmp);
			rc = CLI_FAIL;
			goto done;
		}
		if ((rc = daemon_sign(cli, so.cert, NULL, 0, sha, &s)) !=
		    CLI_OK)
			goto done;
		rc = CLI_FAIL;
		if ((r = pkg_zipw_new(so.out, &w)) != 0) {
			cli_err("cannot create %s: %s", so.out,
			    cap_strerror(r));
			goto done;
		}
		snprintf(name, sizeof(name), "%s.csar", base);
		if (pkg_zipw_add_file_stored(w, name, tmp) != 0) {
			cli_err("cannot add %s", name);
			goto done;
		}
		snprintf(name, sizeof(name), "%s.cms", base);
		if (pkg_zipw_add_buf(w, name, s.cms, strlen(s.cms)) != 0)
			goto nomem;
		snprintf(name, sizeof(name), "%s.cert", base);
		if (pkg_zipw_add_buf(w, name, s.certs, strlen(s.certs)) != 0)
			goto nomem;
		if ((r = pkg_zipw_close(w)) != 0) {
			cli_err("cannot write %s: %s", so.out,
			    cap_strerror(r));
			goto done;
		}
		rc = CLI_OK;
	}
	if (cli->json) {
		j = json_pack("{s:s,s:s,s:I}", "package", so.out, "form",
		    so.manifest_only ? "manifest" : "signed-csar", "artifacts",
		    (json_int_t)nart);
		if (j != NULL)
			cli_print_json(j);
		json_decref(j);
	} else {
		printf("signed %s (%s, %zu artifacts)\n", so.out,
		    so.manifest_only ? "manifest" : "signed-csar", nart);
	}
	goto done;
 nomem:
	cli_err("out of memory");
	rc = CLI_FAIL;
 done:
	pkg_zipw_free(w);
	if (tmp != NULL) {
		unlink(tmp);
		free(tmp);
	}
	sig_clear(&s);
	pkg_src_free(src);
	free(so.externals);
	return rc;
}

/* ---- verification ---- */

static json_t *
report_json(const struct pkg_report *r)
{
	json_t *o, *errs, *e;
	size_t i;

	if ((errs = json_array()) == NULL)
		return NULL;
	for (i = 0; i < r->nissues; i++) {
		e = json_pack("{s:s}", "code", r->issues[i].code);
		if (e == NULL)
			goto fail;
		if (r->issues[i].path != NULL)
			json_object_set_new(e, "path",
			    json_string(r->issues[i].path));
		json_object_set_new(e, "message",
		    json_string(r->issues[i].message));
		if (json_array_append_new(errs, e) != 0)
			goto fail;
	}
	o = json_pack("{s:b,s:s,s:s?,s:I,s:I,s:o}", "valid", r->nissues == 0,
	    "form", pkg_form_name(r->form), "signer", r->signer, "artifacts",
	    (json_int_t)r->artifacts, "signatures", (json_int_t)r->signatures,
	    "errors", errs);
	return o;
 fail:
	json_decref(errs);
	return NULL;
}

static int
pkg_verify_cmd(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv)
{
	static const struct option lo[] = {
		{ "trust", required_argument, NULL, 't' },
		{ "crl", required_argument, NULL, 'r' },
		CLI_COMMON_OPTS, { 0, 0, 0, 0 }
	};
	struct pkg_verify_opts vo;
	struct pkg_report *rep = NULL;
	pkg_src *src = NULL;
	char reason[512], *buf = NULL;
	size_t len = 0, i;
	json_t *j;
	int c, rc = CLI_OK, r;

	memset(&vo, 0, sizeof(vo));
	while ((c = cli_getopt(cli, cmd, argc, argv, "t:r:h", lo,
	    &rc)) != -1) {
		switch (c) {
		case CLI_GETOPT_EXIT:
			goto done;
		case 't':
		case 'r':
			if (cli_load_file(optarg, PKG_PEM_FILE_MAX, "1 MiB",
			    &buf, &len) != CLI_OK) {
				rc = CLI_USAGE;
				goto done;
			}
			r = c == 't' ? pkg_pem_certs(buf, len, &vo.roots) :
			    pkg_pem_crls(buf, len, &vo.crls);
			sodium_free(buf);
			buf = NULL;
			if (r != 0) {
				rc = cli_usage_error(cmd, "%s holds no PEM %s",
				    optarg, c == 't' ? "certificate" : "CRL");
				goto done;
			}
			break;
		default:
			rc = cli_usage_error(cmd, "unknown option");
			goto done;
		}
	}
	if (argc - optind != 1) {
		rc = cli_usage_error(cmd, "expected one package");
		goto done;
	}
	if (vo.roots == NULL) {
		rc = cli_usage_error(cmd, "--trust ROOT.pem is required");
		goto done;
	}
	reason[0] = '\0';
	if ((r = pkg_src_open(argv[optind], &src, reason,
	    sizeof(reason))) != 0) {
		if (cli->json) {
			j = json_pack("{s:b,s:s,s:[{s:s,s:s}]}", "valid", 0,
			    "form", "none", "errors", "code", "format",
			    "message", reason[0] != '\0' ? reason :
			    cap_strerror(r));
			if (j != NULL)
				cli_print_json(j);
			json_decref(j);
		} else
			printf("format: %s: %s\n", argv[optind],
			    reason[0] != '\0' ? reason : cap_strerror(r));
		rc = CLI_FAIL;
		goto done;
	}
	if ((r = pkg_verify(src, &vo, &rep)) != 0) {
		cli_err("cannot verify: %s", cap_strerror(r));
		rc = CLI_FAIL;
		goto done;
	}
	if (cli->json) {
		if ((j = report_json(rep)) == NULL) {
			cli_err("out of memory");
			rc = CLI_FAIL;
			goto done;
		}
		cli_print_json(j);
		json_decref(j);
	} else if (rep->nissues == 0) {
		printf("valid %s package, %zu artifacts, %zu signatures, "
		    "signed by ", pkg_form_name(rep->form), rep->artifacts,
		    rep->signatures);
		cli_print_safe(stdout, rep->signer != NULL ? rep->signer : "-");
		putchar('\n');
	} else {
		for (i = 0; i < rep->nissues; i++) {
			printf("%s: ", rep->issues[i].code);
			if (rep->issues[i].path != NULL) {
				cli_print_safe(stdout, rep->issues[i].path);
				fputs(": ", stdout);
			}
			cli_print_safe(stdout, rep->issues[i].message);
			putchar('\n');
		}
	}
	rc = rep->nissues == 0 ? CLI_OK : CLI_FAIL;
 done:
	if (buf != NULL)
		sodium_free(buf);
	pkg_report_free(rep);
	pkg_src_free(src);
	sk_X509_pop_free(vo.roots, X509_free);
	sk_X509_CRL_pop_free(vo.crls, X509_CRL_free);
	return rc;
}

const struct cli_cmd cli_cmds_pkg[] = {
	{ "pkg", "sign", pkg_sign,
	    "--cert CERT_ID IN.csar|DIR -o OUT.zip [--form signed-csar|"
	    "manifest] [--sign-artifacts] [--external URI=SHA256HEX]... "
	    "[--provider X --product Y --version V]",
	    "sign a VNF package with a certificate's key in the token" },
	{ "pkg", "verify", pkg_verify_cmd,
	    "--trust ROOT.pem [--crl CRL]... [--json] IN.zip|IN.csar|DIR",
	    "verify a VNF package's digests, signatures and signer" },
	/* implemented in cmd_pkg_crypt.c */
	{ "pkg", "encrypt", cmd_pkg_encrypt,
	    "--to CERT.pem [--to ...] [--cipher aes-256-gcm|aes-256-cbc] IN "
	    "-o OUT.cms",
	    "encrypt an artifact in CMS to consumers' certificates" },
	{ "pkg", "decrypt", cmd_pkg_decrypt,
	    "(--key KEY_ID | --cert CERT_ID) IN.cms -o OUT",
	    "decrypt a CMS artifact with a key in the token" },
	{ NULL, NULL, NULL, NULL, NULL }
};
