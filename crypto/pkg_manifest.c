/*
 * pkg_manifest.c - the SOL 004 manifest (.mf) and TOSCA.meta: build,
 * serialise, parse with size and line limits.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "crypto/pkg.h"

#define META_MAX	64	/* metadata keys */
#define META_LEN_MAX	512	/* bytes of a metadata key or value */
#define CMS_BEGIN	"-----BEGIN CMS-----"
#define CMS_END		"-----END CMS-----"

struct mf_meta {
	char	*key;
	char	*value;
};

struct mf_ent {
	char	*source;
	const char *algorithm;	/* static */
	uint8_t	 digest[PKG_DIGEST_MAX];
	size_t	 digest_len;
};

struct pkg_manifest {
	struct mf_meta	 meta[META_MAX];
	size_t		 nmeta;
	struct mf_ent	*ents;
	size_t		 nents, cap;
};

static const struct {
	const char	*name;
	size_t		 len;
} algs[] = {
	{ "SHA-256", 32 },
	{ "SHA-384", 48 },
	{ "SHA-512", 64 },
};

/* The static name of a supported algorithm (case-insensitive), or NULL. */
static const char *
alg_lookup(const char *name, size_t *len)
{
	size_t i;

	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (strcasecmp(name, algs[i].name) == 0) {
			*len = algs[i].len;
			return algs[i].name;
		}
	return NULL;
}

int
pkg_manifest_new(pkg_manifest **out)
{
	*out = calloc(1, sizeof(**out));
	return *out == NULL ? CAP_ERR_NOMEM : 0;
}

void
pkg_manifest_free(pkg_manifest *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nmeta; i++) {
		free(m->meta[i].key);
		free(m->meta[i].value);
	}
	for (i = 0; i < m->nents; i++)
		free(m->ents[i].source);
	free(m->ents);
	free(m);
}

static int
meta_key_ok(const char *k)
{
	size_t i;

	for (i = 0; k[i] != '\0'; i++)
		if (!isalnum((unsigned char)k[i]) && k[i] != '_' &&
		    k[i] != '-')
			return 0;
	return i > 0 && i <= META_LEN_MAX;
}

static int
value_ok(const char *v)
{
	size_t i;

	for (i = 0; v[i] != '\0'; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return 0;
	return 1;
}

int
pkg_manifest_set_meta(pkg_manifest *m, const char *key, const char *value)
{
	char *k = NULL, *v = NULL;
	size_t i;

	if (m == NULL || key == NULL || value == NULL || !meta_key_ok(key) ||
	    !value_ok(value))
		return CAP_ERR_INVALID;
	if (strlen(value) > META_LEN_MAX)
		return CAP_ERR_TOO_LARGE;
	if ((v = strdup(value)) == NULL)
		return CAP_ERR_NOMEM;
	for (i = 0; i < m->nmeta; i++)
		if (strcmp(m->meta[i].key, key) == 0) {
			free(m->meta[i].value);
			m->meta[i].value = v;
			return 0;
		}
	if (m->nmeta >= META_MAX) {
		free(v);
		return CAP_ERR_TOO_LARGE;
	}
	if ((k = strdup(key)) == NULL) {
		free(v);
		return CAP_ERR_NOMEM;
	}
	m->meta[m->nmeta].key = k;
	m->meta[m->nmeta].value = v;
	m->nmeta++;
	return 0;
}

const char *
pkg_manifest_meta(const pkg_manifest *m, const char *key)
{
	size_t i;

	for (i = 0; i < m->nmeta; i++)
		if (strcmp(m->meta[i].key, key) == 0)
			return m->meta[i].value;
	return NULL;
}

int
pkg_is_uri(const char *s)
{
	size_t i;

	for (i = 0; isalpha((unsigned char)s[i]) || s[i] == '+' ||
	    s[i] == '-' || s[i] == '.'; i++)
		;
	return i > 0 && strncmp(s + i, "://", 3) == 0;
}

int
pkg_path_ok(const char *name)
{
	const char *p, *c;
	size_t n, i;

	if (name == NULL || (n = strlen(name)) == 0 || n > PKG_PATH_MAX ||
	    name[0] == '/')
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f ||
		    name[i] == '\\')
			return 0;
	for (p = name; ; p = c + 1) {
		c = strchr(p, '/');
		n = c != NULL ? (size_t)(c - p) : strlen(p);
		if (n == 0 || (n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		if (c == NULL)
			return 1;
	}
}

static int
source_ok(const char *s)
{
	if (pkg_is_uri(s))
		return strlen(s) <= PKG_PATH_MAX && value_ok(s) &&
		    strchr(s, ' ') == NULL;
	return pkg_path_ok(s);
}

long
pkg_manifest_find(const pkg_manifest *m, const char *source)
{
	size_t i;

	for (i = 0; i < m->nents; i++)
		if (strcmp(m->ents[i].source, source) == 0)
			return (long)i;
	return -1;
}

int
pkg_manifest_add(pkg_manifest *m, const char *source, const char *algorithm,
    const uint8_t *digest, size_t digest_len)
{
	struct mf_ent *e;
	const char *alg;
	size_t want, ncap;

	if (m == NULL || source == NULL || algorithm == NULL ||
	    digest == NULL || !source_ok(source) ||
	    (alg = alg_lookup(algorithm, &want)) == NULL ||
	    digest_len != want)
		return CAP_ERR_INVALID;
	if (pkg_manifest_find(m, source) >= 0)
		return CAP_ERR_EXISTS;
	if (m->nents >= PKG_ENTRIES_MAX)
		return CAP_ERR_TOO_LARGE;
	if (m->nents == m->cap) {
		ncap = m->cap == 0 ? 16 : m->cap * 2;
		if ((e = reallocarray(m->ents, ncap, sizeof(*e))) == NULL)
			return CAP_ERR_NOMEM;
		m->ents = e;
		m->cap = ncap;
	}
	e = &m->ents[m->nents];
	memset(e, 0, sizeof(*e));
	if ((e->source = strdup(source)) == NULL)
		return CAP_ERR_NOMEM;
	e->algorithm = alg;
	memcpy(e->digest, digest, digest_len);
	e->digest_len = digest_len;
	m->nents++;
	return 0;
}

size_t
pkg_manifest_count(const pkg_manifest *m)
{
	return m->nents;
}

void
pkg_manifest_entry(const pkg_manifest *m, size_t i, struct pkg_mf_entry *e)
{
	e->source = m->ents[i].source;
	e->algorithm = m->ents[i].algorithm;
	e->digest = m->ents[i].digest;
	e->digest_len = m->ents[i].digest_len;
}

/* ---- serialising ---- */

struct sbuf {
	char	*p;
	size_t	 len, cap;
	int	 err;
};

static void
sb_add(struct sbuf *b, const char *s, size_t n)
{
	size_t ncap;
	char *np;

	if (b->err != 0)
		return;
	if (n > PKG_MANIFEST_MAX || b->len + n + 1 > PKG_MANIFEST_MAX) {
		b->err = CAP_ERR_TOO_LARGE;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		for (ncap = b->cap == 0 ? 4096 : b->cap;
		    ncap < b->len + n + 1; ncap *= 2)
			;
		if ((np = realloc(b->p, ncap)) == NULL) {
			b->err = CAP_ERR_NOMEM;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

int
pkg_manifest_text(const pkg_manifest *m, char **text, size_t *len)
{
	struct sbuf b;
	char hex[2 * PKG_DIGEST_MAX + 1];
	size_t i, j;
	int r;

	*text = NULL;
	*len = 0;
	memset(&b, 0, sizeof(b));
	sb_str(&b, "metadata:\n");
	for (i = 0; i < m->nmeta; i++) {
		sb_str(&b, m->meta[i].key);
		sb_str(&b, ": ");
		sb_str(&b, m->meta[i].value);
		sb_str(&b, "\n");
	}
	for (i = 0; i < m->nents; i++) {
		for (j = 0; j < m->ents[i].digest_len; j++)
			snprintf(hex + 2 * j, 3, "%02x", m->ents[i].digest[j]);
		sb_str(&b, "\nSource: ");
		sb_str(&b, m->ents[i].source);
		sb_str(&b, "\nAlgorithm: ");
		sb_str(&b, m->ents[i].algorithm);
		sb_str(&b, "\nHash: ");
		sb_str(&b, hex);
		sb_str(&b, "\n");
	}
	if ((r = b.err) != 0) {
		free(b.p);
		return r;
	}
	*text = b.p;
	*len = b.len;
	return 0;
}

/* ---- parsing ---- */

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
parse_hex(const char *s, uint8_t *out, size_t max, size_t *len)
{
	size_t n = strlen(s), i;
	int hi, lo;

	if (n == 0 || n % 2 != 0 || n / 2 > max)
		return -1;
	for (i = 0; i < n / 2; i++) {
		if ((hi = hexval(s[2 * i])) < 0 ||
		    (lo = hexval(s[2 * i + 1])) < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	*len = n / 2;
	return 0;
}

/* Splits "Key: value" in place; NULL when there is no colon. */
static char *
split_kv(char *line, char **key)
{
	char *c, *v, *e;

	if ((c = strchr(line, ':')) == NULL)
		return NULL;
	*c = '\0';
	for (e = c; e > line && (e[-1] == ' ' || e[-1] == '\t'); e--)
		e[-1] = '\0';
	for (v = c + 1; *v == ' ' || *v == '\t'; v++)
		;
	for (e = v + strlen(v); e > v && (e[-1] == ' ' || e[-1] == '\t');
	    e--)
		e[-1] = '\0';
	*key = line;
	return v;
}

struct block {
	char	source[PKG_PATH_MAX + 1];
	char	alg[16];
	uint8_t	digest[PKG_DIGEST_MAX];
	size_t	digest_len;
	int	have_src, have_alg, have_hash;
};

#define FAIL(...) do {						\
	if (reason != NULL)					\
		snprintf(reason, reasonlen, __VA_ARGS__);	\
	r = CAP_ERR_INVALID;					\
	goto out;						\
} while (0)

static int
block_flush(pkg_manifest *m, struct block *b, size_t lineno, char *reason,
    size_t reasonlen)
{
	size_t want;
	int r = 0;

	if (!b->have_src && !b->have_alg && !b->have_hash)
		return 0;
	if (!b->have_src || !b->have_alg || !b->have_hash)
		FAIL("line %zu: a block needs Source, Algorithm and Hash",
		    lineno);
	if (alg_lookup(b->alg, &want) == NULL)
		FAIL("line %zu: unsupported algorithm", lineno);
	if (want != b->digest_len)
		FAIL("line %zu: hash length does not fit the algorithm",
		    lineno);
	if ((r = pkg_manifest_add(m, b->source, b->alg, b->digest,
	    b->digest_len)) == CAP_ERR_EXISTS)
		FAIL("line %zu: source listed twice", lineno);
	else if (r == CAP_ERR_INVALID)
		FAIL("line %zu: unsafe source path", lineno);
	else if (r == CAP_ERR_TOO_LARGE && reason != NULL)
		snprintf(reason, reasonlen, "more than %d sources",
		    PKG_ENTRIES_MAX);
 out:
	memset(b, 0, sizeof(*b));
	return r;
}

int
pkg_manifest_parse(const char *text, size_t len, pkg_manifest **out,
    size_t *signed_len, char **cms, size_t *cms_len, char *reason,
    size_t reasonlen)
{
	pkg_manifest *m = NULL;
	struct block b;
	char line[PKG_LINE_MAX + 1], *key, *val, *c = NULL;
	const char *p, *eol, *end = text + len, *sig = NULL;
	size_t n, lineno = 0, cn;
	int r, in_meta = 0, seen_meta = 0;

	*out = NULL;
	if (signed_len != NULL)
		*signed_len = 0;
	if (cms != NULL)
		*cms = NULL;
	if (cms_len != NULL)
		*cms_len = 0;
	if (reason != NULL && reasonlen > 0)
		reason[0] = '\0';
	memset(&b, 0, sizeof(b));
	if (text == NULL && len != 0)
		return CAP_ERR_INVALID;
	if (len > PKG_MANIFEST_MAX) {
		if (reason != NULL)
			snprintf(reason, reasonlen, "manifest over %u bytes",
			    PKG_MANIFEST_MAX);
		return CAP_ERR_TOO_LARGE;
	}
	if ((r = pkg_manifest_new(&m)) != 0)
		return r;
	for (p = text; p < end; p = eol < end ? eol + 1 : end) {
		lineno++;
		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
			eol = end;
		n = (size_t)(eol - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n > PKG_LINE_MAX)
			FAIL("line %zu: longer than %d bytes", lineno,
			    PKG_LINE_MAX);
		if (memchr(p, '\0', n) != NULL)
			FAIL("line %zu: NUL byte", lineno);
		memcpy(line, p, n);
		line[n] = '\0';
		if (strcmp(line, CMS_BEGIN) == 0) {
			sig = p;
			break;
		}
		if (n == 0) {
			in_meta = 0;
			if ((r = block_flush(m, &b, lineno, reason,
			    reasonlen)) != 0)
				goto out;
			continue;
		}
		if (line[0] == '#')
			continue;
		if ((val = split_kv(line, &key)) == NULL)
			FAIL("line %zu: expected 'Key: value'", lineno);
		if (strcmp(key, "metadata") == 0 && *val == '\0') {
			if (seen_meta || m->nents > 0 || b.have_src)
				FAIL("line %zu: misplaced metadata block",
				    lineno);
			seen_meta = in_meta = 1;
			continue;
		}
		if (in_meta) {
			if ((r = pkg_manifest_set_meta(m, key, val)) != 0) {
				if (r == CAP_ERR_NOMEM)
					goto out;
				FAIL("line %zu: bad metadata entry", lineno);
			}
			continue;
		}
		if (strcmp(key, "Source") == 0) {
			if (b.have_src)
				if ((r = block_flush(m, &b, lineno, reason,
				    reasonlen)) != 0)
					goto out;
			if (strlen(val) > PKG_PATH_MAX)
				FAIL("line %zu: source too long", lineno);
			snprintf(b.source, sizeof(b.source), "%s", val);
			b.have_src = 1;
		} else if (strcmp(key, "Algorithm") == 0) {
			if (!b.have_src || b.have_alg ||
			    strlen(val) >= sizeof(b.alg))
				FAIL("line %zu: misplaced or bad Algorithm",
				    lineno);
			snprintf(b.alg, sizeof(b.alg), "%s", val);
			b.have_alg = 1;
		} else if (strcmp(key, "Hash") == 0) {
			if (!b.have_src || b.have_hash ||
			    parse_hex(val, b.digest, sizeof(b.digest),
			    &b.digest_len) != 0)
				FAIL("line %zu: misplaced or bad Hash", lineno);
			b.have_hash = 1;
		} else
			FAIL("line %zu: unknown key", lineno);
	}
	if ((r = block_flush(m, &b, lineno, reason, reasonlen)) != 0)
		goto out;
	if (sig != NULL) {
		/* nothing but blank lines may follow the END line */
		const char *q = sig, *e2;

		for (e2 = NULL; q < end; q = e2 + 1) {
			if ((e2 = memchr(q, '\n', (size_t)(end - q))) == NULL)
				e2 = end;
			n = (size_t)(e2 - q);
			if (n > 0 && q[n - 1] == '\r')
				n--;
			if (n == strlen(CMS_END) &&
			    memcmp(q, CMS_END, n) == 0)
				break;
			if (e2 == end) {
				q = end;
				break;
			}
		}
		if (q >= end)
			FAIL("signature block without '%s'", CMS_END);
		for (p = e2 + (e2 < end); p < end; p++)
			if (*p != '\n' && *p != '\r' && *p != ' ')
				FAIL("text after the signature block");
		cn = (size_t)(e2 - sig);
		if (cms != NULL) {
			if ((c = malloc(cn + 2)) == NULL) {
				r = CAP_ERR_NOMEM;
				goto out;
			}
			memcpy(c, sig, cn);
			c[cn] = '\n';
			c[cn + 1] = '\0';
			*cms = c;
			c = NULL;
			if (cms_len != NULL)
				*cms_len = cn + 1;
		}
		if (signed_len != NULL)
			*signed_len = (size_t)(sig - text);
	} else if (signed_len != NULL)
		*signed_len = len;
	*out = m;
	m = NULL;
	r = 0;
 out:
	free(c);
	pkg_manifest_free(m);
	return r;
}

/* ---- TOSCA.meta ---- */

void
pkg_tosca_meta_clear(struct pkg_tosca_meta *tm)
{
	if (tm == NULL)
		return;
	free(tm->entry_definitions);
	free(tm->entry_manifest);
	free(tm->entry_certificate);
	memset(tm, 0, sizeof(*tm));
}

int
pkg_tosca_meta_parse(const char *text, size_t len, struct pkg_tosca_meta *tm)
{
	char line[PKG_LINE_MAX + 1], *key, *val, **dst;
	const char *p, *eol, *end = text + len;
	size_t n;
	int r;

	memset(tm, 0, sizeof(*tm));
	if (text == NULL || len > PKG_SMALL_MAX)
		return text == NULL ? CAP_ERR_INVALID : CAP_ERR_TOO_LARGE;
	for (p = text; p < end; p = eol < end ? eol + 1 : end) {
		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
			eol = end;
		n = (size_t)(eol - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n > PKG_LINE_MAX || memchr(p, '\0', n) != NULL) {
			r = CAP_ERR_INVALID;
			goto out;
		}
		memcpy(line, p, n);
		line[n] = '\0';
		/* block 0 ends at the first blank line */
		if (n == 0)
			break;
		if ((val = split_kv(line, &key)) == NULL)
			continue;
		if (strcmp(key, "Entry-Definitions") == 0)
			dst = &tm->entry_definitions;
		else if (strcmp(key, "ETSI-Entry-Manifest") == 0)
			dst = &tm->entry_manifest;
		else if (strcmp(key, "ETSI-Entry-Certificate") == 0)
			dst = &tm->entry_certificate;
		else
			continue;
		if (*dst != NULL || !pkg_path_ok(val)) {
			r = CAP_ERR_INVALID;
			goto out;
		}
		if ((*dst = strdup(val)) == NULL) {
			r = CAP_ERR_NOMEM;
			goto out;
		}
	}
	return 0;
 out:
	pkg_tosca_meta_clear(tm);
	return r;
}
