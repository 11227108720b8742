/*
 * pkg.h - VNF packages (ETSI GS NFV-SOL 004, NFV-SEC 021): the manifest,
 * the CSAR zip read and written in a stream, and the verification of the
 * three signed forms.
 *
 * Nothing here needs a private key: signing is done elsewhere (the token,
 * through the daemon) over the bytes this module produces.  Artifacts are
 * never loaded whole: digests are computed while reading, a zip is written
 * from files on disk, and a signed CSAR's inner .csar is read through the
 * outer zip without being extracted.
 *
 * Manifest text (what pkg_manifest_text writes and pkg_manifest_parse
 * reads):
 *
 *   metadata:
 *   vnf_provider_id: ACME
 *   ...
 *
 *   Source: Definitions/main.yaml
 *   Algorithm: SHA-256
 *   Hash: <hex>
 *
 *   -----BEGIN CMS-----            (optional: the signature, detached,
 *   ...                             over every byte before this line)
 *   -----END CMS-----
 */
#ifndef CAP_CRYPTO_PKG_H
#define CAP_CRYPTO_PKG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#define PKG_MANIFEST_MAX	(4u * 1024 * 1024)	/* bytes of a .mf */
#define PKG_LINE_MAX		4096	/* bytes of one manifest line */
#define PKG_ENTRIES_MAX		100000	/* zip entries, manifest blocks */
#define PKG_PATH_MAX		1024	/* bytes of one entry name */
#define PKG_SMALL_MAX		(1024u * 1024)	/* TOSCA.meta, .cms, .cert */
#define PKG_DIGEST_MAX		64	/* SHA-512 */

/* ---- manifest ---- */

typedef struct pkg_manifest pkg_manifest;

struct pkg_mf_entry {
	const char	*source;	/* path in the package, or a URI */
	const char	*algorithm;	/* "SHA-256", "SHA-384", "SHA-512" */
	const uint8_t	*digest;
	size_t		 digest_len;
};

int pkg_manifest_new(pkg_manifest **out) __attribute__((warn_unused_result));
void pkg_manifest_free(pkg_manifest *m);

/*
 * pkg_manifest_set_meta sets (or replaces) one metadata key, e.g.
 * "vnf_provider_id".  Keys are [A-Za-z0-9_-]; values printable text
 * without line breaks.  Returns 0, CAP_ERR_INVALID, CAP_ERR_TOO_LARGE,
 * CAP_ERR_NOMEM.
 */
int pkg_manifest_set_meta(pkg_manifest *m, const char *key,
    const char *value) __attribute__((warn_unused_result));
/* pkg_manifest_meta: the value of key, or NULL. */
const char *pkg_manifest_meta(const pkg_manifest *m, const char *key);

/*
 * pkg_manifest_add adds a Source block.  source is a package path
 * (relative, no "..") or a URI ("scheme://..."); algorithm is
 * "SHA-256"/"SHA-384"/"SHA-512" with a digest of its length.  A source
 * already present is CAP_ERR_EXISTS.
 */
int pkg_manifest_add(pkg_manifest *m, const char *source,
    const char *algorithm, const uint8_t *digest, size_t digest_len)
    __attribute__((warn_unused_result));

size_t pkg_manifest_count(const pkg_manifest *m);
/* pkg_manifest_entry fills e (borrowed pointers) for i < count. */
void pkg_manifest_entry(const pkg_manifest *m, size_t i,
    struct pkg_mf_entry *e);
/* pkg_manifest_find: the index of source, or -1. */
long pkg_manifest_find(const pkg_manifest *m, const char *source);

/*
 * pkg_manifest_text serialises the manifest (without signature) into a
 * malloc'd NUL-terminated text; these are the bytes to sign.
 */
int pkg_manifest_text(const pkg_manifest *m, char **text, size_t *len)
    __attribute__((warn_unused_result));

/*
 * pkg_manifest_parse reads a manifest of at most PKG_MANIFEST_MAX bytes
 * (lines of at most PKG_LINE_MAX, at most PKG_ENTRIES_MAX blocks).
 * *signed_len is the length of the text before a "-----BEGIN CMS-----"
 * line (len when there is none) and *cms, *cms_len (may be NULL) the
 * signature block as PEM text (malloc'd), NULL when the manifest is
 * unsigned.  Returns 0, CAP_ERR_TOO_LARGE, CAP_ERR_INVALID (reason, if
 * not NULL, says which line and why), CAP_ERR_NOMEM.
 */
int pkg_manifest_parse(const char *text, size_t len, pkg_manifest **out,
    size_t *signed_len, char **cms, size_t *cms_len, char *reason,
    size_t reasonlen) __attribute__((warn_unused_result));

/* pkg_is_uri: source names an external artifact ("scheme://..."). */
int pkg_is_uri(const char *source);

/*
 * pkg_path_ok: name is a safe relative path inside a package: not empty,
 * at most PKG_PATH_MAX bytes, no leading '/', no backslash, no control
 * character, no "." or ".." component, no empty component.
 */
int pkg_path_ok(const char *name);

/* ---- TOSCA.meta ---- */

#define PKG_TOSCA_META	"TOSCA-Metadata/TOSCA.meta"

struct pkg_tosca_meta {
	char	*entry_definitions;	/* Entry-Definitions */
	char	*entry_manifest;	/* ETSI-Entry-Manifest */
	char	*entry_certificate;	/* ETSI-Entry-Certificate */
};

/*
 * pkg_tosca_meta_parse reads the block-0 keys of a TOSCA.meta (at most
 * PKG_SMALL_MAX bytes) into tm (members malloc'd or NULL; clear with
 * pkg_tosca_meta_clear).  Paths must pass pkg_path_ok.
 */
int pkg_tosca_meta_parse(const char *text, size_t len,
    struct pkg_tosca_meta *tm) __attribute__((warn_unused_result));
void pkg_tosca_meta_clear(struct pkg_tosca_meta *tm);

/* ---- package contents: a zip or a directory ---- */

typedef struct pkg_src pkg_src;

/*
 * pkg_src_open opens path: a directory (regular files below it, walked
 * without following symbolic links; anything else is refused) or a zip
 * file.  pkg_src_open_mem opens a zip held in memory (borrowed; must
 * outlive the source).  A zip's layout is checked first (see
 * pkg_zip_layout_check); entry names are checked with pkg_path_ok, must be
 * unique, at most PKG_ENTRIES_MAX; directory entries are skipped.
 * reason (may be NULL) says what was refused.  Returns 0, CAP_ERR_IO,
 * CAP_ERR_INVALID, CAP_ERR_TOO_LARGE, CAP_ERR_NOMEM.
 */
int pkg_src_open(const char *path, pkg_src **out, char *reason,
    size_t reasonlen) __attribute__((warn_unused_result));
int pkg_src_open_mem(const void *buf, size_t len, pkg_src **out,
    char *reason, size_t reasonlen) __attribute__((warn_unused_result));
/*
 * pkg_src_open_inner opens the zip stored in entry i of a zip source
 * (the .csar inside a signed package) without extracting it; the entry
 * must be stored, not deflated.  outer must outlive the result.
 */
int pkg_src_open_inner(pkg_src *outer, size_t i, pkg_src **out,
    char *reason, size_t reasonlen) __attribute__((warn_unused_result));

/*
 * pkg_zip_layout_check checks the layout of a zip held in memory, as
 * every pkg_src_open* does before libzip reads it: the end of central
 * directory record (and the zip64 locator and record when present) end
 * the file, followed only by the archive comment; the central directory
 * ends where they start; its entries' local headers, names, extra
 * fields, data and data descriptors cover the bytes from offset 0 to the
 * central directory exactly (no prefix, gap, hidden entry or overlap).
 * Entry data is not read.  Returns 0, CAP_ERR_INVALID (reason, if not
 * NULL, names the problem), CAP_ERR_NOMEM.
 */
int pkg_zip_layout_check(const void *buf, size_t len, char *reason,
    size_t reasonlen) __attribute__((warn_unused_result));
void pkg_src_free(pkg_src *s);

/* 1 for a zip, 0 for a directory. */
int pkg_src_is_zip(const pkg_src *s);
size_t pkg_src_count(const pkg_src *s);
/* Entry names are in sorted order. */
const char *pkg_src_name(const pkg_src *s, size_t i);
/* pkg_src_find: the index of name, or -1. */
long pkg_src_find(const pkg_src *s, const char *name);

/*
 * pkg_src_read calls cb on the bytes of entry i in chunks; cb returns 0
 * to go on, anything else stops the read and is returned.  Returns 0,
 * CAP_ERR_IO (also for a corrupt entry), or cb's value.
 */
typedef int (*pkg_chunk_cb)(void *arg, const uint8_t *buf, size_t len);
int pkg_src_read(pkg_src *s, size_t i, pkg_chunk_cb cb, void *arg)
    __attribute__((warn_unused_result));

/*
 * pkg_src_load reads a small entry into a malloc'd, NUL-terminated
 * buffer; an entry longer than max is CAP_ERR_TOO_LARGE (checked on the
 * bytes read, not on the size the zip claims).
 */
int pkg_src_load(pkg_src *s, size_t i, size_t max, uint8_t **buf,
    size_t *len) __attribute__((warn_unused_result));

/* pkg_src_digest hashes entry i with md into out (EVP_MAX_MD_SIZE). */
int pkg_src_digest(pkg_src *s, size_t i, const char *algorithm,
    uint8_t *out, size_t *outlen) __attribute__((warn_unused_result));

/*
 * pkg_src_bio: a read-only BIO over entry i (for CMS_verify's detached
 * content), streaming; BIO_free it before the source is freed.
 */
int pkg_src_bio(pkg_src *s, size_t i, BIO **out)
    __attribute__((warn_unused_result));

/* pkg_file_sha256 hashes a file on disk in a stream. */
int pkg_file_sha256(const char *path, uint8_t out[32])
    __attribute__((warn_unused_result));

/* ---- writing a zip ---- */

typedef struct pkg_zipw pkg_zipw;

/*
 * pkg_zipw_new starts a zip written to path at pkg_zipw_close (through a
 * temporary file renamed into place).  Entries are added by reference:
 * nothing is read before close.  Entries over PKG_SMALL_MAX are stored,
 * smaller ones deflated.
 */
int pkg_zipw_new(const char *path, pkg_zipw **out)
    __attribute__((warn_unused_result));
/* pkg_zipw_add_file adds the file at fspath under name. */
int pkg_zipw_add_file(pkg_zipw *w, const char *name, const char *fspath)
    __attribute__((warn_unused_result));
/*
 * pkg_zipw_add_file_stored: the same, never compressed (the .csar of a
 * signed package, so that it can be read through the outer zip).
 */
int pkg_zipw_add_file_stored(pkg_zipw *w, const char *name,
    const char *fspath) __attribute__((warn_unused_result));
/* pkg_zipw_add_src adds entry i of s (which must outlive the close). */
int pkg_zipw_add_src(pkg_zipw *w, const char *name, pkg_src *s, size_t i)
    __attribute__((warn_unused_result));
/* pkg_zipw_add_buf adds a copy of buf. */
int pkg_zipw_add_buf(pkg_zipw *w, const char *name, const void *buf,
    size_t len) __attribute__((warn_unused_result));
/* pkg_zipw_close writes the archive; pkg_zipw_free(NULL-safe) discards. */
int pkg_zipw_close(pkg_zipw *w) __attribute__((warn_unused_result));
void pkg_zipw_free(pkg_zipw *w);

/* ---- which files a manifest covers ---- */

/*
 * pkg_locate finds the manifest of a CSAR: ETSI-Entry-Manifest of
 * TOSCA.meta, else the single *.mf at the root.  *mf is its index (-1
 * when there is none), *cert the index of the manifest's certificate
 * (ETSI-Entry-Certificate, else the .cert next to the manifest; -1).
 */
int pkg_locate(pkg_src *s, long *mf, long *cert, char *reason,
    size_t reasonlen) __attribute__((warn_unused_result));

/* ---- verification ---- */

enum pkg_form {
	PKG_FORM_NONE = 0,
	PKG_FORM_SIGNED_CSAR,	/* zip of NAME.csar, NAME.cms, NAME.cert */
	PKG_FORM_MANIFEST,	/* CSAR with a signed manifest */
	PKG_FORM_ARTIFACT,	/* CSAR whose artifacts carry .cms/.cert */
};

struct pkg_issue {
	const char	*code;	/* static: changed missing extra manifest
				   signature untrusted expired revoked
				   key_usage format */
	char		*path;	/* NULL when the issue is not about a file */
	char		*message;
};

struct pkg_report {
	enum pkg_form	 form;
	char		*signer;	/* subject of the package signer */
	size_t		 artifacts;	/* manifest entries checked */
	size_t		 signatures;	/* CMS signatures that verified */
	struct pkg_issue *issues;
	size_t		 nissues;
};

struct pkg_verify_opts {
	STACK_OF(X509)		*roots;	/* trust anchors; required */
	STACK_OF(X509_CRL)	*crls;	/* may be NULL */
	time_t			 now;	/* 0: time(NULL) */
};

/*
 * pkg_verify checks a package (signed-CSAR zip, CSAR or directory) and
 * fills a report; the package is valid when the report holds no issue.
 * A package that cannot be checked at all still yields a report (with a
 * "format" issue).  Returns 0 (whether valid or not), CAP_ERR_INVALID for
 * bad arguments, CAP_ERR_NOMEM.
 */
int pkg_verify(pkg_src *s, const struct pkg_verify_opts *o,
    struct pkg_report **out) __attribute__((warn_unused_result));
void pkg_report_free(struct pkg_report *r);
const char *pkg_form_name(enum pkg_form f);

/*
 * pkg_pem_certs / pkg_pem_crls read every certificate / CRL of a PEM
 * text (CRLs also as one DER), appending to *out (made when NULL).
 */
int pkg_pem_certs(const void *buf, size_t len, STACK_OF(X509) **out)
    __attribute__((warn_unused_result));
int pkg_pem_crls(const void *buf, size_t len, STACK_OF(X509_CRL) **out)
    __attribute__((warn_unused_result));

#endif
