/*
 * codec.c - the reader and writer behind every record format of store/.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/err.h"
#include "common/util.h"
#include "store/codec.h"

/* ---- reader ---- */

void
store_rd_init(struct store_rd *r, const uint8_t *buf, size_t len)
{
	r->buf = buf;
	r->len = buf != NULL ? len : 0;
	r->pos = 0;
	r->err = 0;
}

size_t
store_rd_left(const struct store_rd *r)
{
	return r->err != 0 ? 0 : r->len - r->pos;
}

int
store_rd_take(struct store_rd *r, size_t n, const uint8_t **p)
{
	*p = NULL;
	/* Compare against what is left, so n itself can never overflow. */
	if (r->err != 0 || n > r->len - r->pos) {
		r->err = CAP_ERR_CORRUPT;
		return CAP_ERR_CORRUPT;
	}
	*p = r->buf + r->pos;
	r->pos += n;
	return 0;
}

int
store_rd_uint(struct store_rd *r, size_t width, uint64_t *v)
{
	const uint8_t *p;
	size_t i;

	*v = 0;
	if (width == 0 || width > 8)
		return r->err = CAP_ERR_CORRUPT;
	if (store_rd_take(r, width, &p) != 0)
		return CAP_ERR_CORRUPT;
	for (i = 0; i < width; i++)
		*v = (*v << 8) | p[i];
	return 0;
}

int
store_rd_u8(struct store_rd *r, uint8_t *v)
{
	uint64_t x;
	int ret = store_rd_uint(r, 1, &x);

	*v = (uint8_t)x;
	return ret;
}

int
store_rd_u16(struct store_rd *r, uint16_t *v)
{
	uint64_t x;
	int ret = store_rd_uint(r, 2, &x);

	*v = (uint16_t)x;
	return ret;
}

int
store_rd_u32(struct store_rd *r, uint32_t *v)
{
	uint64_t x;
	int ret = store_rd_uint(r, 4, &x);

	*v = (uint32_t)x;
	return ret;
}

int
store_rd_u64(struct store_rd *r, uint64_t *v)
{
	return store_rd_uint(r, 8, v);
}

int
store_rd_bytes(struct store_rd *r, void *dst, size_t n)
{
	const uint8_t *p;

	if (store_rd_take(r, n, &p) != 0)
		return CAP_ERR_CORRUPT;
	if (n > 0)
		memcpy(dst, p, n);
	return 0;
}

/* Reads a length of width bytes and checks it is min..max. */
static int
rd_len(struct store_rd *r, size_t width, size_t min, size_t max, size_t *n)
{
	uint64_t v;

	*n = 0;
	if (store_rd_uint(r, width, &v) != 0)
		return CAP_ERR_CORRUPT;
	if (v < min || v > max)
		return r->err = CAP_ERR_CORRUPT;
	*n = (size_t)v;
	return 0;
}

int
store_rd_str(struct store_rd *r, size_t width, size_t min, size_t max,
    char *dst, size_t *len)
{
	const uint8_t *p;
	size_t n;

	if (len != NULL)
		*len = 0;
	if (rd_len(r, width, min, max, &n) != 0 ||
	    store_rd_take(r, n, &p) != 0)
		return CAP_ERR_CORRUPT;
	if (n > 0 && memchr(p, '\0', n) != NULL)
		return r->err = CAP_ERR_CORRUPT;
	if (n > 0)
		memcpy(dst, p, n);
	dst[n] = '\0';
	if (len != NULL)
		*len = n;
	return 0;
}

int
store_rd_text(struct store_rd *r, size_t width, size_t min, size_t max,
    char *dst, size_t *len)
{
	size_t n;

	if (len != NULL)
		*len = 0;
	if (store_rd_str(r, width, min, max, dst, &n) != 0)
		return CAP_ERR_CORRUPT;
	if (!store_text_valid(dst, n)) {
		dst[0] = '\0';
		return r->err = CAP_ERR_CORRUPT;
	}
	if (len != NULL)
		*len = n;
	return 0;
}

int
store_rd_strdup(struct store_rd *r, size_t width, size_t min, size_t max,
    char **dst, size_t *len)
{
	const uint8_t *p;
	size_t n;

	*dst = NULL;
	if (len != NULL)
		*len = 0;
	if (rd_len(r, width, min, max, &n) != 0 ||
	    store_rd_take(r, n, &p) != 0)
		return CAP_ERR_CORRUPT;
	if (n == 0)
		return 0;
	if (memchr(p, '\0', n) != NULL)
		return r->err = CAP_ERR_CORRUPT;
	if ((*dst = malloc(n + 1)) == NULL)
		return r->err = CAP_ERR_NOMEM;
	memcpy(*dst, p, n);
	(*dst)[n] = '\0';
	if (len != NULL)
		*len = n;
	return 0;
}

int
store_rd_name(struct store_rd *r, char *dst)
{
	size_t n;

	if (store_rd_str(r, 1, 1, CAP_NAME_MAX, dst, &n) != 0)
		return CAP_ERR_CORRUPT;
	if (!cap_name_valid(dst)) {
		dst[0] = '\0';
		return r->err = CAP_ERR_CORRUPT;
	}
	return 0;
}

int
store_rd_blob(struct store_rd *r, size_t width, size_t min, size_t max,
    uint8_t **dst, size_t *dlen)
{
	const uint8_t *p;
	size_t n;

	*dst = NULL;
	*dlen = 0;
	if (rd_len(r, width, min, max, &n) != 0 ||
	    store_rd_take(r, n, &p) != 0)
		return CAP_ERR_CORRUPT;
	if (n == 0)
		return 0;
	if ((*dst = malloc(n)) == NULL)
		return r->err = CAP_ERR_NOMEM;
	memcpy(*dst, p, n);
	*dlen = n;
	return 0;
}

int
store_rd_end(const struct store_rd *r)
{
	if (r->err != 0)
		return r->err;
	return r->pos == r->len ? 0 : CAP_ERR_CORRUPT;
}

int
store_rd_fail(const struct store_rd *r)
{
	return r->err != 0 ? r->err : CAP_ERR_CORRUPT;
}

/* ---- writer ---- */

void
store_wr_init(struct store_wr *w, size_t hint, size_t max)
{
	memset(w, 0, sizeof(*w));
	w->cap = hint;
	w->max = max;
}

/*
 * Grows by hand rather than with realloc, so the old buffer can be wiped
 * before it is freed.
 */
static int
wr_reserve(struct store_wr *w, size_t n)
{
	uint8_t *nb;
	size_t ncap;

	if (w->err != 0)
		return w->err;
	if (n > SIZE_MAX - w->len || (w->max != 0 && w->len + n > w->max))
		return w->err = CAP_ERR_TOO_LARGE;
	if (w->buf != NULL && w->len + n <= w->cap)
		return 0;
	ncap = w->cap > 0 ? w->cap : 64;
	while (ncap < w->len + n)
		ncap = ncap > SIZE_MAX / 2 ? w->len + n : ncap * 2;
	if ((nb = malloc(ncap)) == NULL)
		return w->err = CAP_ERR_NOMEM;
	if (w->buf != NULL) {
		memcpy(nb, w->buf, w->len);
		sodium_memzero(w->buf, w->cap);
		free(w->buf);
	}
	w->buf = nb;
	w->cap = ncap;
	return 0;
}

void
store_wr_bytes(struct store_wr *w, const void *src, size_t n)
{
	if (n == 0 || wr_reserve(w, n) != 0)
		return;
	memcpy(w->buf + w->len, src, n);
	w->len += n;
}

void
store_wr_uint(struct store_wr *w, size_t width, uint64_t v)
{
	uint8_t b[8];
	size_t i;

	if (width == 0 || width > 8) {
		if (w->err == 0)
			w->err = CAP_ERR_INTERNAL;
		return;
	}
	for (i = 0; i < width; i++)
		b[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
	store_wr_bytes(w, b, width);
}

void
store_wr_u8(struct store_wr *w, uint8_t v)
{
	store_wr_uint(w, 1, v);
}

void
store_wr_u16(struct store_wr *w, uint16_t v)
{
	store_wr_uint(w, 2, v);
}

void
store_wr_u32(struct store_wr *w, uint32_t v)
{
	store_wr_uint(w, 4, v);
}

void
store_wr_u64(struct store_wr *w, uint64_t v)
{
	store_wr_uint(w, 8, v);
}

void
store_wr_lv(struct store_wr *w, size_t width, const void *src, size_t n)
{
	/* A length that does not fit its field would misframe the record. */
	if (width < 8 && (uint64_t)n >> (8 * width) != 0) {
		if (w->err == 0)
			w->err = CAP_ERR_TOO_LARGE;
		return;
	}
	store_wr_uint(w, width, n);
	store_wr_bytes(w, src, n);
}

void
store_wr_str(struct store_wr *w, size_t width, const char *s)
{
	store_wr_lv(w, width, s, strlen(s));
}

int
store_wr_finish(struct store_wr *w, uint8_t **buf, size_t *len)
{
	int r;

	*buf = NULL;
	*len = 0;
	if (w->err == 0)
		wr_reserve(w, 0);	/* an empty record still gets a buffer */
	if ((r = w->err) != 0) {
		store_wr_free(w);
		return r;
	}
	*buf = w->buf;	/* transferred */
	*len = w->len;
	memset(w, 0, sizeof(*w));
	return 0;
}

void
store_wr_free(struct store_wr *w)
{
	if (w == NULL)
		return;
	if (w->buf != NULL) {
		sodium_memzero(w->buf, w->cap);
		free(w->buf);
	}
	memset(w, 0, sizeof(*w));
}

/* ---- field rules shared by several formats ---- */

int
store_name_bytes_valid(const void *p, size_t len)
{
	char buf[CAP_NAME_MAX + 1];

	if (p == NULL || len == 0 || len > CAP_NAME_MAX ||
	    memchr(p, '\0', len) != NULL)
		return 0;
	memcpy(buf, p, len);
	buf[len] = '\0';
	return cap_name_valid(buf);
}

int
store_text_valid(const void *p, size_t len)
{
	const unsigned char *s = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

int
store_hex_valid(const void *p, size_t len)
{
	const char *s = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}
