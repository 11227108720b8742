/*
 * pkg_zip.c - package contents read in a stream (a zip through libzip, or
 * a directory tree) and zips written by reference.
 *
 * Zips are opened with ZIP_CHECKCONS: every local header must agree with
 * its central directory entry (name, method, sizes), since a streaming
 * extractor reads the local headers and would otherwise write files under
 * names that were never checked.  Before that, the layout is checked
 * here (the entries cover the file from offset 0 to the central
 * directory, nothing but the end records and comment after it), so that
 * no local entry hides where the central directory does not look.
 *
 * Sizes a zip's central directory claims are never used to size a
 * buffer: entries are read in fixed chunks, and the few that are loaded
 * whole (TOSCA.meta, a manifest, a .cms) are bounded by the bytes
 * actually read.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <zip.h>

#include "common/err.h"
#include "crypto/pkg.h"
#include "crypto/pkg_zip_int.h"

#define CHUNK		(64 * 1024)
#define DIR_DEPTH_MAX	32

struct pkg_src {
	zip_t		 *zip;		/* NULL: a directory */
	zip_source_t	 *zsrc;		/* memory or inner-zip source */
	char		 *root;		/* directory path */
	char		**names;	/* sorted */
	zip_uint64_t	 *index;	/* zip index of names[i] */
	size_t		  n, cap;
};

#define REASON(...) do {					\
	if (reason != NULL)					\
		snprintf(reason, reasonlen, __VA_ARGS__);	\
} while (0)

void
pkg_src_free(pkg_src *s)
{
	size_t i;

	if (s == NULL)
		return;
	if (s->zip != NULL)
		zip_discard(s->zip);
	for (i = 0; i < s->n; i++)
		free(s->names[i]);
	free(s->names);
	free(s->index);
	free(s->root);
	free(s);
}

static int
src_push(pkg_src *s, const char *name, zip_uint64_t idx)
{
	size_t ncap;
	char **nn;
	zip_uint64_t *ni;

	if (s->n >= PKG_ENTRIES_MAX)
		return CAP_ERR_TOO_LARGE;
	if (s->n == s->cap) {
		ncap = s->cap == 0 ? 64 : s->cap * 2;
		if ((nn = reallocarray(s->names, ncap, sizeof(*nn))) == NULL)
			return CAP_ERR_NOMEM;
		s->names = nn;
		if ((ni = reallocarray(s->index, ncap, sizeof(*ni))) == NULL)
			return CAP_ERR_NOMEM;
		s->index = ni;
		s->cap = ncap;
	}
	if ((s->names[s->n] = strdup(name)) == NULL)
		return CAP_ERR_NOMEM;
	s->index[s->n] = idx;
	s->n++;
	return 0;
}

struct pair {
	char		*name;
	zip_uint64_t	 idx;
};

static int
pair_cmp(const void *a, const void *b)
{
	return strcmp(((const struct pair *)a)->name,
	    ((const struct pair *)b)->name);
}

/* Sorts names (and their zip indices) and refuses duplicates. */
static int
src_sort(pkg_src *s, char *reason, size_t reasonlen)
{
	struct pair *pp;
	size_t i;

	if (s->n == 0)
		return 0;
	if ((pp = calloc(s->n, sizeof(*pp))) == NULL)
		return CAP_ERR_NOMEM;
	for (i = 0; i < s->n; i++) {
		pp[i].name = s->names[i];
		pp[i].idx = s->index[i];
	}
	qsort(pp, s->n, sizeof(*pp), pair_cmp);
	for (i = 0; i < s->n; i++) {
		s->names[i] = pp[i].name;
		s->index[i] = pp[i].idx;
	}
	free(pp);
	for (i = 1; i < s->n; i++)
		if (strcmp(s->names[i - 1], s->names[i]) == 0) {
			REASON("entry '%s' appears twice", s->names[i]);
			return CAP_ERR_INVALID;
		}
	return 0;
}

/* ---- the layout check over libzip's sources (pkg_zip_layout.c) ---- */

static int
zl_read_source(void *arg, uint64_t off, void *buf, size_t len)
{
	zip_source_t *zs = arg;
	zip_int64_t n;
	size_t got = 0;

	if (off > (uint64_t)ZIP_INT64_MAX ||
	    zip_source_seek(zs, (zip_int64_t)off, SEEK_SET) != 0)
		return CAP_ERR_IO;
	while (got < len) {
		if ((n = zip_source_read(zs, (uint8_t *)buf + got,
		    len - got)) <= 0)
			return CAP_ERR_IO;
		got += (size_t)n;
	}
	return 0;
}

/* The layout check over a seekable source (opened and closed here). */
static int
zl_check_source(zip_source_t *zs, struct zl_info *info, char *reason,
    size_t reasonlen)
{
	zip_stat_t st;
	int r;

	zip_stat_init(&st);
	if (zip_source_stat(zs, &st) != 0 || !(st.valid & ZIP_STAT_SIZE)) {
		REASON("zip layout: cannot tell the size of the zip");
		return CAP_ERR_IO;
	}
	if (zip_source_open(zs) != 0) {
		REASON("zip layout: cannot read the zip");
		return CAP_ERR_IO;
	}
	r = zl_check_reader(zl_read_source, zs, st.size, info, reason,
	    reasonlen);
	zip_source_close(zs);
	return r;
}

/*
 * libzip picks among the end records it finds the one whose directory
 * spans the most data; the one checked above is the one whose comment
 * ends the file.  The same comment length and entry count mean libzip
 * reads the same central directory.
 */
static int
zl_same(zip_t *za, const struct zl_info *info, char *reason,
    size_t reasonlen)
{
	int clen = 0;

	if (zip_get_archive_comment(za, &clen, ZIP_FL_ENC_RAW) == NULL)
		clen = 0;
	if (clen < 0 || (uint64_t)clen != info->comment_len ||
	    zip_get_num_entries(za, 0) < 0 ||
	    (uint64_t)zip_get_num_entries(za, 0) != info->entries) {
		REASON("zip layout: the zip holds a second end of central "
		    "directory record");
		return CAP_ERR_INVALID;
	}
	return 0;
}

/* ---- opening ---- */

/* Lists the entries of s->zip, checking every name. */
static int
src_list_zip(pkg_src *s, char *reason, size_t reasonlen)
{
	zip_int64_t n, i;
	zip_stat_t st;
	const char *name;
	size_t len;
	char *dir;
	int r;

	if ((n = zip_get_num_entries(s->zip, 0)) < 0) {
		REASON("cannot read the zip directory");
		return CAP_ERR_INVALID;
	}
	if (n > PKG_ENTRIES_MAX) {
		REASON("more than %d zip entries", PKG_ENTRIES_MAX);
		return CAP_ERR_TOO_LARGE;
	}
	for (i = 0; i < n; i++) {
		if ((name = zip_get_name(s->zip, (zip_uint64_t)i,
		    ZIP_FL_ENC_GUESS)) == NULL) {
			REASON("zip entry %lld has no name", (long long)i);
			return CAP_ERR_INVALID;
		}
		len = strlen(name);
		if (len > 0 && len <= PKG_PATH_MAX && name[len - 1] == '/') {
			/*
			 * a directory entry: check the path, list nothing;
			 * it may carry no data, which nothing would check
			 */
			zip_stat_init(&st);
			if (zip_stat_index(s->zip, (zip_uint64_t)i, 0,
			    &st) != 0 || !(st.valid & ZIP_STAT_SIZE) ||
			    !(st.valid & ZIP_STAT_COMP_SIZE) ||
			    st.size != 0 || st.comp_size > 2) {
				REASON("directory entry %s holds data", name);
				return CAP_ERR_INVALID;
			}
			if ((dir = strndup(name, len - 1)) == NULL)
				return CAP_ERR_NOMEM;
			r = pkg_path_ok(dir);
			free(dir);
			if (!r) {
				REASON("unsafe zip entry name");
				return CAP_ERR_INVALID;
			}
			continue;
		}
		if (!pkg_path_ok(name)) {
			REASON("unsafe zip entry name (absolute, '..', "
			    "or control characters)");
			return CAP_ERR_INVALID;
		}
		if ((r = src_push(s, name, (zip_uint64_t)i)) != 0) {
			if (r == CAP_ERR_TOO_LARGE)
				REASON("more than %d entries",
				    PKG_ENTRIES_MAX);
			return r;
		}
	}
	return src_sort(s, reason, reasonlen);
}

static int
src_walk(pkg_src *s, const char *rel, int depth, char *reason,
    size_t reasonlen)
{
	DIR *d = NULL;
	struct dirent *de;
	struct stat st;
	char path[PATH_MAX], sub[PKG_PATH_MAX + 2];
	int r, n;

	if (depth > DIR_DEPTH_MAX) {
		REASON("directories nested deeper than %d", DIR_DEPTH_MAX);
		return CAP_ERR_TOO_LARGE;
	}
	n = snprintf(path, sizeof(path), "%s%s%s", s->root,
	    rel[0] != '\0' ? "/" : "", rel);
	if (n < 0 || (size_t)n >= sizeof(path))
		return CAP_ERR_TOO_LARGE;
	if ((d = opendir(path)) == NULL) {
		REASON("cannot open directory %s: %s", path, strerror(errno));
		return CAP_ERR_IO;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		n = snprintf(sub, sizeof(sub), "%s%s%s", rel,
		    rel[0] != '\0' ? "/" : "", de->d_name);
		if (n < 0 || (size_t)n > PKG_PATH_MAX || !pkg_path_ok(sub)) {
			REASON("unsafe or too long file name under %s", path);
			r = CAP_ERR_INVALID;
			goto out;
		}
		n = snprintf(path, sizeof(path), "%s/%s", s->root, sub);
		if (n < 0 || (size_t)n >= sizeof(path)) {
			r = CAP_ERR_TOO_LARGE;
			goto out;
		}
		if (lstat(path, &st) != 0) {
			REASON("cannot stat %s: %s", sub, strerror(errno));
			r = CAP_ERR_IO;
			goto out;
		}
		if (S_ISDIR(st.st_mode))
			r = src_walk(s, sub, depth + 1, reason, reasonlen);
		else if (S_ISREG(st.st_mode))
			r = src_push(s, sub, 0);
		else {
			REASON("%s is not a regular file or a directory",
			    sub);
			r = CAP_ERR_INVALID;
		}
		if (r != 0) {
			if (r == CAP_ERR_TOO_LARGE)
				REASON("more than %d files", PKG_ENTRIES_MAX);
			goto out;
		}
	}
	r = 0;
 out:
	closedir(d);
	return r;
}

/*
 * Opens the zip file at path into s->zip: one descriptor serves both the
 * layout check and libzip, so both read the same file.
 */
static int
src_open_file(pkg_src *s, const char *path, char *reason, size_t reasonlen)
{
	struct zl_info info;
	zip_source_t *zs = NULL;
	zip_error_t ze;
	FILE *fp = NULL;
	int fd, r;

	zip_error_init(&ze);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 ||
	    (fp = fdopen(fd, "rb")) == NULL) {
		REASON("cannot open %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		r = CAP_ERR_IO;
		goto out;
	}
	if ((zs = zip_source_filep_create(fp, 0, -1, &ze)) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	fp = NULL;	/* transferred */
	if ((r = zl_check_source(zs, &info, reason, reasonlen)) != 0)
		goto out;
	if ((s->zip = zip_open_from_source(zs, ZIP_RDONLY | ZIP_CHECKCONS,
	    &ze)) == NULL) {
		REASON("%s is not a readable zip file", path);
		r = CAP_ERR_INVALID;
		goto out;
	}
	zs = NULL;	/* transferred */
	if ((r = zl_same(s->zip, &info, reason, reasonlen)) != 0)
		goto out;
	r = 0;
 out:
	zip_source_free(zs);
	if (fp != NULL)
		fclose(fp);
	zip_error_fini(&ze);
	return r;
}

int
pkg_src_open(const char *path, pkg_src **out, char *reason,
    size_t reasonlen)
{
	pkg_src *s = NULL;
	struct stat st;
	int r;

	*out = NULL;
	if (path == NULL)
		return CAP_ERR_INVALID;
	if (stat(path, &st) != 0) {
		REASON("cannot open %s: %s", path, strerror(errno));
		return CAP_ERR_IO;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return CAP_ERR_NOMEM;
	if (S_ISDIR(st.st_mode)) {
		if ((s->root = strdup(path)) == NULL) {
			r = CAP_ERR_NOMEM;
			goto out;
		}
		if ((r = src_walk(s, "", 0, reason, reasonlen)) != 0 ||
		    (r = src_sort(s, reason, reasonlen)) != 0)
			goto out;
	} else {
		if ((r = src_open_file(s, path, reason, reasonlen)) != 0 ||
		    (r = src_list_zip(s, reason, reasonlen)) != 0)
			goto out;
	}
	*out = s;
	s = NULL;
	r = 0;
 out:
	pkg_src_free(s);
	return r;
}

/* Opens a zip on zs (consumed, also on failure). */
static int
src_open_source(zip_source_t *zs, pkg_src **out, char *reason,
    size_t reasonlen)
{
	struct zl_info info;
	pkg_src *s = NULL;
	zip_error_t ze;
	int r;

	zip_error_init(&ze);
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		zip_source_free(zs);
		r = CAP_ERR_NOMEM;
		goto out;
	}
	if ((r = zl_check_source(zs, &info, reason, reasonlen)) != 0) {
		zip_source_free(zs);
		goto out;
	}
	if ((s->zip = zip_open_from_source(zs, ZIP_RDONLY | ZIP_CHECKCONS,
	    &ze)) == NULL) {
		zip_source_free(zs);
		REASON("not a readable zip (%s)", zip_error_strerror(&ze));
		r = CAP_ERR_INVALID;
		goto out;
	}
	if ((r = zl_same(s->zip, &info, reason, reasonlen)) != 0 ||
	    (r = src_list_zip(s, reason, reasonlen)) != 0)
		goto out;
	*out = s;
	s = NULL;
	r = 0;
 out:
	zip_error_fini(&ze);
	pkg_src_free(s);
	return r;
}

int
pkg_src_open_mem(const void *buf, size_t len, pkg_src **out, char *reason,
    size_t reasonlen)
{
	zip_source_t *zs;
	zip_error_t ze;

	*out = NULL;
	if (buf == NULL || len == 0)
		return CAP_ERR_INVALID;
	zip_error_init(&ze);
	zs = zip_source_buffer_create(buf, len, 0, &ze);
	zip_error_fini(&ze);
	if (zs == NULL)
		return CAP_ERR_NOMEM;
	return src_open_source(zs, out, reason, reasonlen);
}

int
pkg_src_open_inner(pkg_src *outer, size_t i, pkg_src **out, char *reason,
    size_t reasonlen)
{
	zip_source_t *zs;
	zip_stat_t st;

	*out = NULL;
	if (outer == NULL || outer->zip == NULL || i >= outer->n)
		return CAP_ERR_INVALID;
	zip_stat_init(&st);
	if (zip_stat_index(outer->zip, outer->index[i], 0, &st) != 0) {
		REASON("cannot read entry %s", outer->names[i]);
		return CAP_ERR_INVALID;
	}
	/*
	 * Only a stored entry can be read at random offsets through the
	 * outer zip; a deflated one would have to be extracted first.
	 */
	if (!(st.valid & ZIP_STAT_COMP_METHOD) ||
	    st.comp_method != ZIP_CM_STORE ||
	    ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) &&
	    st.encryption_method != ZIP_EM_NONE)) {
		REASON("%s must be stored in the zip, not compressed",
		    outer->names[i]);
		return CAP_ERR_INVALID;
	}
	if ((zs = zip_source_zip(outer->zip, outer->zip, outer->index[i], 0,
	    0, -1)) == NULL) {
		REASON("cannot open %s", outer->names[i]);
		return CAP_ERR_INVALID;
	}
	return src_open_source(zs, out, reason, reasonlen);
}

int
pkg_src_is_zip(const pkg_src *s)
{
	return s->zip != NULL;
}

size_t
pkg_src_count(const pkg_src *s)
{
	return s->n;
}

const char *
pkg_src_name(const pkg_src *s, size_t i)
{
	return i < s->n ? s->names[i] : NULL;
}

long
pkg_src_find(const pkg_src *s, const char *name)
{
	size_t lo = 0, hi = s->n, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((c = strcmp(s->names[mid], name)) == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* ---- reading ---- */

/* An open entry: a zip file or a file descriptor. */
struct ent {
	zip_file_t	*zf;
	int		 fd;
};

static int
ent_open(pkg_src *s, size_t i, struct ent *e)
{
	char path[PATH_MAX];
	int n;

	e->zf = NULL;
	e->fd = -1;
	if (i >= s->n)
		return CAP_ERR_INVALID;
	if (s->zip != NULL) {
		if ((e->zf = zip_fopen_index(s->zip, s->index[i], 0)) == NULL)
			return CAP_ERR_IO;
		return 0;
	}
	n = snprintf(path, sizeof(path), "%s/%s", s->root, s->names[i]);
	if (n < 0 || (size_t)n >= sizeof(path))
		return CAP_ERR_TOO_LARGE;
	if ((e->fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return CAP_ERR_IO;
	return 0;
}

/* Reads up to len bytes: > 0 bytes read, 0 at the end, -1 on error. */
static ssize_t
ent_read(struct ent *e, void *buf, size_t len)
{
	ssize_t n;

	if (e->zf != NULL)
		return (ssize_t)zip_fread(e->zf, buf, len);
	do
		n = read(e->fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n;
}

static void
ent_close(struct ent *e)
{
	if (e->zf != NULL)
		zip_fclose(e->zf);
	if (e->fd >= 0)
		close(e->fd);
	e->zf = NULL;
	e->fd = -1;
}

int
pkg_src_read(pkg_src *s, size_t i, pkg_chunk_cb cb, void *arg)
{
	struct ent e;
	uint8_t *buf = NULL;
	ssize_t n;
	int r;

	if ((r = ent_open(s, i, &e)) != 0)
		return r;
	if ((buf = malloc(CHUNK)) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	while ((n = ent_read(&e, buf, CHUNK)) > 0)
		if ((r = cb(arg, buf, (size_t)n)) != 0)
			goto out;
	r = n < 0 ? CAP_ERR_IO : 0;
 out:
	free(buf);
	ent_close(&e);
	return r;
}

struct load {
	uint8_t	*p;
	size_t	 len, cap, max;
};

static int
load_cb(void *arg, const uint8_t *buf, size_t len)
{
	struct load *l = arg;
	size_t ncap;
	uint8_t *np;

	if (len > l->max - l->len)
		return CAP_ERR_TOO_LARGE;
	if (l->len + len + 1 > l->cap) {
		for (ncap = l->cap == 0 ? 4096 : l->cap;
		    ncap < l->len + len + 1; ncap *= 2)
			;
		if ((np = realloc(l->p, ncap)) == NULL)
			return CAP_ERR_NOMEM;
		l->p = np;
		l->cap = ncap;
	}
	memcpy(l->p + l->len, buf, len);
	l->len += len;
	l->p[l->len] = '\0';
	return 0;
}

int
pkg_src_load(pkg_src *s, size_t i, size_t max, uint8_t **buf, size_t *len)
{
	struct load l;
	int r;

	*buf = NULL;
	*len = 0;
	memset(&l, 0, sizeof(l));
	l.max = max;
	if ((r = pkg_src_read(s, i, load_cb, &l)) != 0)
		goto out;
	if (l.p == NULL && (l.p = calloc(1, 1)) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	*buf = l.p;
	*len = l.len;
	l.p = NULL;
	r = 0;
 out:
	free(l.p);
	return r;
}

static int
digest_cb(void *arg, const uint8_t *buf, size_t len)
{
	return EVP_DigestUpdate(arg, buf, len) == 1 ? 0 : CAP_ERR_INTERNAL;
}

/* The OpenSSL digest of a manifest algorithm name, or NULL. */
static const EVP_MD *
md_of(const char *algorithm)
{
	if (strcasecmp(algorithm, "SHA-256") == 0)
		return EVP_sha256();
	if (strcasecmp(algorithm, "SHA-384") == 0)
		return EVP_sha384();
	if (strcasecmp(algorithm, "SHA-512") == 0)
		return EVP_sha512();
	return NULL;
}

int
pkg_src_digest(pkg_src *s, size_t i, const char *algorithm, uint8_t *out,
    size_t *outlen)
{
	EVP_MD_CTX *ctx = NULL;
	const EVP_MD *md;
	unsigned int n = 0;
	int r;

	*outlen = 0;
	if ((md = md_of(algorithm)) == NULL)
		return CAP_ERR_INVALID;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return CAP_ERR_NOMEM;
	if (EVP_DigestInit_ex(ctx, md, NULL) != 1) {
		r = CAP_ERR_INTERNAL;
		goto out;
	}
	if ((r = pkg_src_read(s, i, digest_cb, ctx)) != 0)
		goto out;
	if (EVP_DigestFinal_ex(ctx, out, &n) != 1) {
		r = CAP_ERR_INTERNAL;
		goto out;
	}
	*outlen = n;
	r = 0;
 out:
	EVP_MD_CTX_free(ctx);
	return r;
}

int
pkg_file_sha256(const char *path, uint8_t out[32])
{
	EVP_MD_CTX *ctx = NULL;
	uint8_t *buf = NULL;
	unsigned int n = 0;
	ssize_t got;
	int fd = -1, r;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return CAP_ERR_IO;
	if ((buf = malloc(CHUNK)) == NULL || (ctx = EVP_MD_CTX_new()) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		r = CAP_ERR_INTERNAL;
		goto out;
	}
	for (;;) {
		if ((got = read(fd, buf, CHUNK)) < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = CAP_ERR_IO;
			goto out;
		}
		if (got == 0)
			break;
		if (EVP_DigestUpdate(ctx, buf, (size_t)got) != 1) {
			r = CAP_ERR_INTERNAL;
			goto out;
		}
	}
	if (EVP_DigestFinal_ex(ctx, out, &n) != 1 || n != 32) {
		r = CAP_ERR_INTERNAL;
		goto out;
	}
	r = 0;
 out:
	EVP_MD_CTX_free(ctx);
	free(buf);
	close(fd);
	return r;
}

/* ---- a BIO over an entry ---- */

static BIO_METHOD *ent_bio_method;
static pthread_once_t ent_bio_once = PTHREAD_ONCE_INIT;

static int
ent_bio_read(BIO *b, char *buf, int len)
{
	struct ent *e = BIO_get_data(b);
	ssize_t n;

	if (e == NULL || len <= 0)
		return 0;
	if ((n = ent_read(e, buf, (size_t)len)) < 0)
		return -1;
	return (int)n;
}

static long
ent_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int
ent_bio_destroy(BIO *b)
{
	struct ent *e = BIO_get_data(b);

	if (e != NULL) {
		ent_close(e);
		free(e);
	}
	BIO_set_data(b, NULL);
	return 1;
}

static void
ent_bio_init(void)
{
	BIO_METHOD *m;

	if ((m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
	    "package entry")) == NULL)
		return;
	if (BIO_meth_set_read(m, ent_bio_read) != 1 ||
	    BIO_meth_set_ctrl(m, ent_bio_ctrl) != 1 ||
	    BIO_meth_set_destroy(m, ent_bio_destroy) != 1) {
		BIO_meth_free(m);
		return;
	}
	ent_bio_method = m;
}

int
pkg_src_bio(pkg_src *s, size_t i, BIO **out)
{
	struct ent *e = NULL;
	BIO *b = NULL;
	int r;

	*out = NULL;
	if (pthread_once(&ent_bio_once, ent_bio_init) != 0 ||
	    ent_bio_method == NULL)
		return CAP_ERR_INTERNAL;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return CAP_ERR_NOMEM;
	if ((r = ent_open(s, i, e)) != 0) {
		free(e);
		return r;
	}
	if ((b = BIO_new(ent_bio_method)) == NULL) {
		ent_close(e);
		free(e);
		return CAP_ERR_NOMEM;
	}
	BIO_set_data(b, e);
	BIO_set_init(b, 1);
	*out = b;
	return 0;
}

/* ---- writing ---- */

struct pkg_zipw {
	zip_t	*zip;
};

int
pkg_zipw_new(const char *path, pkg_zipw **out)
{
	pkg_zipw *w;
	int zerr = 0;

	*out = NULL;
	if (path == NULL)
		return CAP_ERR_INVALID;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return CAP_ERR_NOMEM;
	if ((w->zip = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE,
	    &zerr)) == NULL) {
		free(w);
		return CAP_ERR_IO;
	}
	*out = w;
	return 0;
}

void
pkg_zipw_free(pkg_zipw *w)
{
	if (w == NULL)
		return;
	if (w->zip != NULL)
		zip_discard(w->zip);
	free(w);
}

/* Adds zs (consumed) under name, stored when size is large. */
static int
zipw_add(pkg_zipw *w, const char *name, zip_source_t *zs, uint64_t size)
{
	zip_int64_t idx;

	if (!pkg_path_ok(name)) {
		zip_source_free(zs);
		return CAP_ERR_INVALID;
	}
	if ((idx = zip_file_add(w->zip, name, zs, ZIP_FL_ENC_UTF_8)) < 0) {
		zip_source_free(zs);
		return zip_error_code_zip(zip_get_error(w->zip)) == ZIP_ER_EXISTS ?
		    CAP_ERR_EXISTS : CAP_ERR_IO;
	}
	if (zip_set_file_compression(w->zip, (zip_uint64_t)idx,
	    size > PKG_SMALL_MAX ? ZIP_CM_STORE : ZIP_CM_DEFLATE, 0) != 0)
		return CAP_ERR_IO;
	return 0;
}

int
pkg_zipw_add_file(pkg_zipw *w, const char *name, const char *fspath)
{
	zip_source_t *zs;
	struct stat st;

	if (stat(fspath, &st) != 0 || !S_ISREG(st.st_mode))
		return CAP_ERR_IO;
	if ((zs = zip_source_file(w->zip, fspath, 0, -1)) == NULL)
		return CAP_ERR_IO;
	return zipw_add(w, name, zs, (uint64_t)st.st_size);
}

int
pkg_zipw_add_file_stored(pkg_zipw *w, const char *name, const char *fspath)
{
	zip_source_t *zs;
	struct stat st;

	if (stat(fspath, &st) != 0 || !S_ISREG(st.st_mode))
		return CAP_ERR_IO;
	if ((zs = zip_source_file(w->zip, fspath, 0, -1)) == NULL)
		return CAP_ERR_IO;
	return zipw_add(w, name, zs, UINT64_MAX);
}

int
pkg_zipw_add_src(pkg_zipw *w, const char *name, pkg_src *s, size_t i)
{
	zip_source_t *zs;
	zip_stat_t st;
	char path[PATH_MAX];
	int n;

	if (i >= s->n)
		return CAP_ERR_INVALID;
	if (s->zip == NULL) {
		n = snprintf(path, sizeof(path), "%s/%s", s->root,
		    s->names[i]);
		if (n < 0 || (size_t)n >= sizeof(path))
			return CAP_ERR_TOO_LARGE;
		return pkg_zipw_add_file(w, name, path);
	}
	zip_stat_init(&st);
	if (zip_stat_index(s->zip, s->index[i], 0, &st) != 0 ||
	    (zs = zip_source_zip(w->zip, s->zip, s->index[i], 0, 0,
	    -1)) == NULL)
		return CAP_ERR_IO;
	return zipw_add(w, name, zs, (st.valid & ZIP_STAT_SIZE) ? st.size :
	    UINT64_MAX);
}

int
pkg_zipw_add_buf(pkg_zipw *w, const char *name, const void *buf, size_t len)
{
	zip_source_t *zs;
	void *copy;

	if ((copy = malloc(len > 0 ? len : 1)) == NULL)
		return CAP_ERR_NOMEM;
	memcpy(copy, buf, len);
	if ((zs = zip_source_buffer(w->zip, copy, len, 1)) == NULL) {
		free(copy);
		return CAP_ERR_NOMEM;
	}
	return zipw_add(w, name, zs, len);
}

int
pkg_zipw_close(pkg_zipw *w)
{
	if (w == NULL || w->zip == NULL)
		return CAP_ERR_INVALID;
	if (zip_close(w->zip) != 0)
		return CAP_ERR_IO;
	w->zip = NULL;
	return 0;
}

/* ---- locating the manifest ---- */

int
pkg_locate(pkg_src *s, long *mf, long *cert, char *reason, size_t reasonlen)
{
	struct pkg_tosca_meta tm;
	uint8_t *buf = NULL;
	size_t len, i, n;
	long t, found = -1;
	char *c = NULL;
	const char *name;
	int r;

	*mf = -1;
	*cert = -1;
	memset(&tm, 0, sizeof(tm));
	if ((t = pkg_src_find(s, PKG_TOSCA_META)) >= 0) {
		if ((r = pkg_src_load(s, (size_t)t, PKG_SMALL_MAX, &buf,
		    &len)) != 0 ||
		    (r = pkg_tosca_meta_parse((char *)buf, len, &tm)) != 0) {
			REASON("cannot read %s", PKG_TOSCA_META);
			goto out;
		}
	}
	if (tm.entry_manifest != NULL) {
		if ((found = pkg_src_find(s, tm.entry_manifest)) < 0) {
			REASON("the manifest %s named by TOSCA.meta is "
			    "missing", tm.entry_manifest);
			r = CAP_ERR_NOT_FOUND;
			goto out;
		}
	} else {
		for (i = 0; i < s->n; i++) {
			name = s->names[i];
			n = strlen(name);
			if (strchr(name, '/') != NULL || n < 4 ||
			    strcmp(name + n - 3, ".mf") != 0)
				continue;
			if (found >= 0) {
				REASON("more than one .mf at the root and no "
				    "ETSI-Entry-Manifest");
				r = CAP_ERR_INVALID;
				goto out;
			}
			found = (long)i;
		}
	}
	*mf = found;
	if (tm.entry_certificate != NULL)
		*cert = pkg_src_find(s, tm.entry_certificate);
	else if (found >= 0) {
		name = s->names[found];
		n = strlen(name);
		if ((c = malloc(n + 3)) == NULL) {
			r = CAP_ERR_NOMEM;
			goto out;
		}
		memcpy(c, name, n - 3);
		memcpy(c + n - 3, ".cert", 6);
		*cert = pkg_src_find(s, c);
	}
	r = 0;
 out:
	free(c);
	free(buf);
	pkg_tosca_meta_clear(&tm);
	return r;
}
