/*
 * codec.h - the bounds-checked big-endian reader and writer that every
 * record format of store/ is built from; private to store/.
 *
 * Reader: every get either consumes exactly what it asks for or fails with
 * CAP_ERR_CORRUPT and leaves the reader failed, so a decoder may chain gets
 * and check once.  A decoder ends with store_rd_end, which also refuses
 * trailing bytes: together with the field checks that keeps the rule that
 * a record which decodes has one encoding.
 *
 * Writer: a growing buffer with an optional ceiling; the first failure
 * (CAP_ERR_NOMEM, CAP_ERR_TOO_LARGE) sticks and later puts do nothing, so
 * an encoder may put every field and check once in store_wr_finish.  Every
 * buffer the writer drops (grown out of, or freed on failure) is wiped
 * first, since records may carry wrapped keys or ciphertext.
 */
#ifndef CAP_STORE_CODEC_H
#define CAP_STORE_CODEC_H

#include <stddef.h>
#include <stdint.h>

struct store_rd {
	const uint8_t	*buf;
	size_t		 len;
	size_t		 pos;
	int		 err;	/* 0 or CAP_ERR_CORRUPT, sticky */
};

void	store_rd_init(struct store_rd *r, const uint8_t *buf, size_t len);
/* store_rd_left: bytes not yet read (0 once the reader has failed). */
size_t	store_rd_left(const struct store_rd *r);
/* *p points at the next n bytes of the buffer, which are consumed. */
int	store_rd_take(struct store_rd *r, size_t n, const uint8_t **p);
int	store_rd_u8(struct store_rd *r, uint8_t *v);
int	store_rd_u16(struct store_rd *r, uint16_t *v);
int	store_rd_u32(struct store_rd *r, uint32_t *v);
int	store_rd_u64(struct store_rd *r, uint64_t *v);
/* An unsigned integer of width 1, 2, 4 or 8 bytes. */
int	store_rd_uint(struct store_rd *r, size_t width, uint64_t *v);
/* Copies the next n bytes into dst. */
int	store_rd_bytes(struct store_rd *r, void *dst, size_t n);
/*
 * store_rd_str reads a length of `width` bytes (1, 2 or 4), then that many
 * bytes into dst (room for max + 1) as a NUL-terminated string; the length
 * must be min..max and the bytes hold no NUL.  *len gets the length when
 * len is not NULL.  What the bytes may otherwise hold is the caller's rule.
 */
int	store_rd_str(struct store_rd *r, size_t width, size_t min, size_t max,
	    char *dst, size_t *len);
/* store_rd_text is store_rd_str that also refuses control characters. */
int	store_rd_text(struct store_rd *r, size_t width, size_t min, size_t max,
	    char *dst, size_t *len);
/*
 * store_rd_strdup is store_rd_str into a new malloc'd string, *dst (left
 * NULL for an empty one); CAP_ERR_NOMEM if that fails.
 */
int	store_rd_strdup(struct store_rd *r, size_t width, size_t min,
	    size_t max, char **dst, size_t *len);
/* store_rd_name: u8 length then a name cap_name_valid accepts. */
int	store_rd_name(struct store_rd *r, char dst[]);
/*
 * store_rd_blob reads a length of `width` bytes, then that many bytes
 * (min..max) into a new malloc'd buffer, *dst (left NULL for an empty
 * blob); CAP_ERR_NOMEM if that fails.
 */
int	store_rd_blob(struct store_rd *r, size_t width, size_t min, size_t max,
	    uint8_t **dst, size_t *dlen);
/* store_rd_end: 0 if nothing failed and every byte was read. */
int	store_rd_end(const struct store_rd *r);
/*
 * store_rd_fail: what a decoder that gave up returns, the reader's own
 * failure (CAP_ERR_NOMEM) when it had one, else CAP_ERR_CORRUPT.
 */
int	store_rd_fail(const struct store_rd *r);

struct store_wr {
	uint8_t		*buf;
	size_t		 len;
	size_t		 cap;
	size_t		 max;	/* 0 = no ceiling */
	int		 err;	/* 0 or a CAP_ERR_*, sticky */
};

/* hint: the expected size (the first allocation); max: 0 or a ceiling. */
void	store_wr_init(struct store_wr *w, size_t hint, size_t max);
void	store_wr_bytes(struct store_wr *w, const void *src, size_t n);
void	store_wr_u8(struct store_wr *w, uint8_t v);
void	store_wr_u16(struct store_wr *w, uint16_t v);
void	store_wr_u32(struct store_wr *w, uint32_t v);
void	store_wr_u64(struct store_wr *w, uint64_t v);
void	store_wr_uint(struct store_wr *w, size_t width, uint64_t v);
/* A length of `width` bytes, then n bytes of src. */
void	store_wr_lv(struct store_wr *w, size_t width, const void *src,
	    size_t n);
/* A length of `width` bytes, then the string s without its NUL. */
void	store_wr_str(struct store_wr *w, size_t width, const char *s);
/*
 * store_wr_finish hands the buffer over as *buf (malloc'd, the caller
 * frees it) and *len, or on an earlier failure wipes and frees it and
 * returns that failure with *buf NULL.
 */
int	store_wr_finish(struct store_wr *w, uint8_t **buf, size_t *len)
	    __attribute__((warn_unused_result));
/* store_wr_free wipes and frees what the writer holds. */
void	store_wr_free(struct store_wr *w);

/* A name held as len bytes (no NUL needed) that cap_name_valid accepts. */
int	store_name_bytes_valid(const void *p, size_t len);
/* len bytes of text with no control character (so no NUL either). */
int	store_text_valid(const void *p, size_t len);
/* len bytes of lowercase hex. */
int	store_hex_valid(const void *p, size_t len);

#endif
