/*
 * pkg_zip_layout.c - the structural check of a zip, before libzip opens it.
 *
 * libzip reads a zip through its central directory; a streaming extractor
 * (unzip -, Java's ZipInputStream, a pipe into bsdtar) reads the local
 * headers one after the other from offset 0.  Bytes that no central
 * directory entry accounts for can hold a local entry that only the
 * second kind of reader sees, and that verification never checked.  So
 * before libzip opens a zip, the layout is walked here: the end of
 * central directory record (and the zip64 locator and record) must end
 * the file, followed by nothing but the archive comment; the central
 * directory must end where they start; and the listed entries (local
 * header, name, extra field, compressed data, data descriptor) must tile
 * the bytes from offset 0 to the central directory with no gap and no
 * overlap.  Only headers are read, through a bounded window; entry data
 * is skipped by offset.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "crypto/pkg.h"
#include "crypto/pkg_zip_int.h"

#define REASON(...) do {					\
	if (reason != NULL)					\
		snprintf(reason, reasonlen, __VA_ARGS__);	\
} while (0)

#define ZL_EOCD_LEN	22
#define ZL_LOC64_LEN	20
#define ZL_EOCD64_LEN	56
#define ZL_CDH_LEN	46
#define ZL_LFH_LEN	30
#define ZL_COMMENT_MAX	65535
#define ZL_TAIL_MAX	(ZL_EOCD_LEN + ZL_COMMENT_MAX + ZL_LOC64_LEN)
#define ZL_WIN		(128 * 1024)	/* >= ZL_TAIL_MAX, >= 65535 */
#define ZL_DD_FLAG	0x0008		/* general purpose bit 3 */

struct zl_rd {
	zl_read_fn	  read;
	void		 *arg;
	uint64_t	  size;
	uint8_t		 *win;
	uint64_t	  woff;
	size_t		  wlen;
};

struct zl_ent {
	uint64_t	off;		/* of the local header */
	uint64_t	csize, usize;
	uint32_t	crc;
	uint32_t	idx;		/* place in the central directory */
};


static uint16_t
le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) |
	    ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t
le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | ((uint64_t)le32(p + 4) << 32);
}

/*
 * Points *p at the len (<= ZL_WIN) bytes at off, which the caller has
 * checked lie inside the file; valid until the next call.
 */
static int
zl_get(struct zl_rd *z, uint64_t off, size_t len, const uint8_t **p)
{
	size_t n;
	int r;

	*p = NULL;
	if (len > ZL_WIN || off > z->size || len > z->size - off)
		return CAP_ERR_INTERNAL;
	if (off >= z->woff && off - z->woff <= z->wlen &&
	    len <= z->wlen - (off - z->woff)) {
		*p = z->win + (off - z->woff);
		return 0;
	}
	n = z->size - off < ZL_WIN ? (size_t)(z->size - off) : ZL_WIN;
	z->wlen = 0;
	if ((r = z->read(z->arg, off, z->win, n)) != 0)
		return r;
	z->woff = off;
	z->wlen = n;
	*p = z->win;
	return 0;
}

static int
zl_ent_cmp(const void *a, const void *b)
{
	const struct zl_ent *x = a, *y = b;

	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/*
 * Reads the zip64 extended information of a central directory entry's
 * extra field (ex, exlen): the fields whose 32-bit value is saturated, in
 * the order of the specification.  A malformed extra field (a field
 * running past the end; trailing bytes other than fewer than four zeros,
 * which libzip also tolerates) is refused.
 */
static int
zl_zip64_extra(const uint8_t *ex, size_t exlen, uint64_t *usize,
    uint64_t *csize, uint64_t *off, uint32_t *disk)
{
	size_t j = 0, c, l;
	int seen = 0;

	while (exlen - j >= 4) {
		l = le16(ex + j + 2);
		if (l > exlen - j - 4)
			return -1;
		if (le16(ex + j) == 0x0001) {
			if (seen++)
				return -1;
			c = j + 4;
			if (*usize == UINT32_MAX) {
				if (c + 8 > j + 4 + l)
					return -1;
				*usize = le64(ex + c);
				c += 8;
			}
			if (*csize == UINT32_MAX) {
				if (c + 8 > j + 4 + l)
					return -1;
				*csize = le64(ex + c);
				c += 8;
			}
			if (*off == UINT32_MAX) {
				if (c + 8 > j + 4 + l)
					return -1;
				*off = le64(ex + c);
				c += 8;
			}
			if (*disk == UINT16_MAX) {
				if (c + 4 > j + 4 + l)
					return -1;
				*disk = le32(ex + c);
			}
		}
		j += 4 + l;
	}
	for (; j < exlen; j++)
		if (ex[j] != 0)
			return -1;
	return 0;
}

/*
 * Finds the end of central directory record whose comment ends the file
 * and reads where the central directory lies (through the zip64 records
 * when a locator precedes it).
 */
static int
zl_tail(struct zl_rd *z, uint64_t *cd_off, uint64_t *cd_end, uint64_t *n,
    struct zl_info *info, char *reason, size_t reasonlen)
{
	const uint8_t *p, *q = NULL;
	uint64_t tail, e, z64, cd_size;
	uint32_t disk, cd_disk, ndisk, cnt, size32, off32;
	size_t k;
	int r;

	if (z->size < ZL_EOCD_LEN) {
		REASON("zip layout: too short for an end of central "
		    "directory record");
		return CAP_ERR_INVALID;
	}
	tail = z->size < ZL_TAIL_MAX ? z->size : ZL_TAIL_MAX;
	if ((r = zl_get(z, z->size - tail, (size_t)tail, &p)) != 0)
		return r;
	for (k = 0; k <= ZL_COMMENT_MAX && k + ZL_EOCD_LEN <= tail; k++) {
		q = p + tail - ZL_EOCD_LEN - k;
		if (memcmp(q, "PK\5\6", 4) == 0 && le16(q + 20) == k)
			break;
		q = NULL;
	}
	if (q == NULL) {
		REASON("zip layout: no end of central directory record ends "
		    "the file (data after the archive comment?)");
		return CAP_ERR_INVALID;
	}
	/* a second record in the comment would make the end ambiguous */
	if (k >= 4 && memmem(q + ZL_EOCD_LEN, k, "PK\5\6", 4) != NULL) {
		REASON("zip layout: the archive comment holds an end of "
		    "central directory record");
		return CAP_ERR_INVALID;
	}
	info->comment_len = k;
	e = z->size - ZL_EOCD_LEN - k;
	disk = le16(q + 4);
	cd_disk = le16(q + 6);
	ndisk = le16(q + 8);
	cnt = le16(q + 10);
	size32 = le32(q + 12);
	off32 = le32(q + 16);
	if (e < ZL_LOC64_LEN ||
	    memcmp(q - ZL_LOC64_LEN, "PK\6\7", 4) != 0) {
		if (disk != 0 || cd_disk != 0 || ndisk != cnt) {
			REASON("zip layout: a multi-disk zip");
			return CAP_ERR_INVALID;
		}
		*n = cnt;
		*cd_off = off32;
		cd_size = size32;
		*cd_end = e;
	} else {
		q -= ZL_LOC64_LEN;
		z64 = le64(q + 8);
		if (le32(q + 4) != 0 || le32(q + 16) > 1) {
			REASON("zip layout: a multi-disk zip64");
			return CAP_ERR_INVALID;
		}
		/* the zip64 record, without extensible data, then the locator */
		if (e - ZL_LOC64_LEN < ZL_EOCD64_LEN ||
		    z64 != e - ZL_LOC64_LEN - ZL_EOCD64_LEN) {
			REASON("zip layout: the zip64 end of central directory "
			    "record is not just before its locator");
			return CAP_ERR_INVALID;
		}
		if ((r = zl_get(z, z64, ZL_EOCD64_LEN, &p)) != 0)
			return r;
		if (memcmp(p, "PK\6\6", 4) != 0 ||
		    le64(p + 4) != ZL_EOCD64_LEN - 12) {
			REASON("zip layout: no zip64 end of central directory "
			    "record where its locator points");
			return CAP_ERR_INVALID;
		}
		*n = le64(p + 32);
		cd_size = le64(p + 40);
		*cd_off = le64(p + 48);
		if (le32(p + 16) != 0 || le32(p + 20) != 0 ||
		    le64(p + 24) != *n ||
		    (disk != 0 && disk != UINT16_MAX) ||
		    (cd_disk != 0 && cd_disk != UINT16_MAX) ||
		    (ndisk != *n && ndisk != UINT16_MAX) ||
		    (cnt != *n && cnt != UINT16_MAX) ||
		    (size32 != cd_size && size32 != UINT32_MAX) ||
		    (off32 != *cd_off && off32 != UINT32_MAX)) {
			REASON("zip layout: the zip64 end of central directory "
			    "record disagrees with the end record or names "
			    "another disk");
			return CAP_ERR_INVALID;
		}
		*cd_end = z64;
	}
	if (*cd_off > *cd_end || cd_size != *cd_end - *cd_off) {
		REASON("zip layout: the central directory (offset %llu, %llu "
		    "bytes) does not end where the end records start (%llu)",
		    (unsigned long long)*cd_off, (unsigned long long)cd_size,
		    (unsigned long long)*cd_end);
		return CAP_ERR_INVALID;
	}
	if (*n > PKG_ENTRIES_MAX) {
		REASON("zip layout: more than %d entries", PKG_ENTRIES_MAX);
		return CAP_ERR_INVALID;
	}
	if (*n * ZL_CDH_LEN > cd_size) {
		REASON("zip layout: a central directory of %llu bytes cannot "
		    "hold %llu entries", (unsigned long long)cd_size,
		    (unsigned long long)*n);
		return CAP_ERR_INVALID;
	}
	info->entries = *n;
	return 0;
}

/* Walks the central directory into ents[n]. */
static int
zl_cdir(struct zl_rd *z, uint64_t cd_off, uint64_t cd_end, uint64_t n,
    struct zl_ent *ents, char *reason, size_t reasonlen)
{
	const uint8_t *p;
	uint64_t off = cd_off, i, total, lofs;
	uint32_t disk;
	size_t nlen, mlen, klen;
	int r;

	for (i = 0; i < n; i++) {
		if (cd_end - off < ZL_CDH_LEN) {
			REASON("zip layout: central directory entry %llu runs "
			    "past its end", (unsigned long long)i);
			return CAP_ERR_INVALID;
		}
		if ((r = zl_get(z, off, ZL_CDH_LEN, &p)) != 0)
			return r;
		if (memcmp(p, "PK\1\2", 4) != 0) {
			REASON("zip layout: no central directory entry %llu "
			    "at offset %llu", (unsigned long long)i,
			    (unsigned long long)off);
			return CAP_ERR_INVALID;
		}
		ents[i].idx = (uint32_t)i;
		ents[i].crc = le32(p + 16);
		ents[i].csize = le32(p + 20);
		ents[i].usize = le32(p + 24);
		nlen = le16(p + 28);
		mlen = le16(p + 30);
		klen = le16(p + 32);
		disk = le16(p + 34);
		lofs = le32(p + 42);
		total = ZL_CDH_LEN + (uint64_t)nlen + mlen + klen;
		if (total > cd_end - off) {
			REASON("zip layout: central directory entry %llu runs "
			    "past its end", (unsigned long long)i);
			return CAP_ERR_INVALID;
		}
		if ((r = zl_get(z, off + ZL_CDH_LEN + nlen, mlen, &p)) != 0)
			return r;
		if (zl_zip64_extra(p, mlen, &ents[i].usize, &ents[i].csize,
		    &lofs, &disk) != 0) {
			REASON("zip layout: central directory entry %llu has a "
			    "malformed extra field", (unsigned long long)i);
			return CAP_ERR_INVALID;
		}
		if (disk != 0) {
			REASON("zip layout: entry %llu is on another disk",
			    (unsigned long long)i);
			return CAP_ERR_INVALID;
		}
		ents[i].off = lofs;
		off += total;
	}
	if (off != cd_end) {
		REASON("zip layout: %llu bytes after the last central "
		    "directory entry", (unsigned long long)(cd_end - off));
		return CAP_ERR_INVALID;
	}
	return 0;
}

/*
 * Checks that the data descriptor of e fills the len bytes at off: with
 * or without its signature, with 32- or 64-bit sizes, each matching the
 * central directory.
 */
static int
zl_descriptor(struct zl_rd *z, const struct zl_ent *e, uint64_t off,
    uint64_t len, char *reason, size_t reasonlen)
{
	const uint8_t *p;
	int r, ok;

	if (len > 24) {
		REASON("zip layout: %llu unlisted bytes after the data of "
		    "entry %u (a hidden entry or junk)",
		    (unsigned long long)len, e->idx);
		return CAP_ERR_INVALID;
	}
	if (len != 12 && len != 16 && len != 20 && len != 24) {
		REASON("zip layout: entry %u has no data descriptor of a "
		    "known size after its data", e->idx);
		return CAP_ERR_INVALID;
	}
	if ((r = zl_get(z, off, (size_t)len, &p)) != 0)
		return r;
	if (len == 16 || len == 24) {
		if (memcmp(p, "PK\7\10", 4) != 0) {
			REASON("zip layout: entry %u has no data descriptor "
			    "after its data", e->idx);
			return CAP_ERR_INVALID;
		}
		p += 4;
	}
	if (len == 12 || len == 16)
		ok = le32(p) == e->crc && le32(p + 4) == e->csize &&
		    le32(p + 8) == e->usize;
	else
		ok = le32(p) == e->crc && le64(p + 4) == e->csize &&
		    le64(p + 12) == e->usize;
	if (!ok) {
		REASON("zip layout: the data descriptor of entry %u differs "
		    "from the central directory", e->idx);
		return CAP_ERR_INVALID;
	}
	return 0;
}

/* Checks that the entries, in file order, tile [0, cd_off). */
static int
zl_tile(struct zl_rd *z, struct zl_ent *ents, uint64_t n, uint64_t cd_off,
    char *reason, size_t reasonlen)
{
	const uint8_t *p;
	uint64_t pos = 0, i, next;
	uint16_t lflags;
	int r;

	qsort(ents, (size_t)n, sizeof(*ents), zl_ent_cmp);
	for (i = 0; i < n; i++) {
		if (ents[i].off > pos) {
			if (pos == 0)
				REASON("zip layout: %llu bytes before the first "
				    "local header (a self-extracting stub or "
				    "hidden data)",
				    (unsigned long long)ents[i].off);
			else
				REASON("zip layout: %llu unlisted bytes before "
				    "the local header of entry %u (a hidden "
				    "entry or junk)",
				    (unsigned long long)(ents[i].off - pos),
				    ents[i].idx);
			return CAP_ERR_INVALID;
		}
		if (ents[i].off < pos) {
			REASON("zip layout: entry %u overlaps the entry "
			    "before it", ents[i].idx);
			return CAP_ERR_INVALID;
		}
		if (cd_off - pos < ZL_LFH_LEN) {
			REASON("zip layout: the local header of entry %u runs "
			    "into the central directory", ents[i].idx);
			return CAP_ERR_INVALID;
		}
		if ((r = zl_get(z, pos, ZL_LFH_LEN, &p)) != 0)
			return r;
		if (memcmp(p, "PK\3\4", 4) != 0) {
			REASON("zip layout: no local header for entry %u at "
			    "offset %llu", ents[i].idx,
			    (unsigned long long)pos);
			return CAP_ERR_INVALID;
		}
		lflags = le16(p + 6);
		pos += ZL_LFH_LEN + (uint64_t)le16(p + 26) + le16(p + 28);
		if (pos > cd_off || ents[i].csize > cd_off - pos) {
			REASON("zip layout: entry %u runs into the central "
			    "directory", ents[i].idx);
			return CAP_ERR_INVALID;
		}
		pos += ents[i].csize;
		if (!(lflags & ZL_DD_FLAG))
			continue;
		next = i + 1 < n ? ents[i + 1].off : cd_off;
		if (next < pos) {
			REASON("zip layout: entry %u overlaps the entry "
			    "before it", ents[i + 1].idx);
			return CAP_ERR_INVALID;
		}
		if ((r = zl_descriptor(z, &ents[i], pos, next - pos, reason,
		    reasonlen)) != 0)
			return r;
		pos = next;
	}
	if (pos != cd_off) {
		REASON("zip layout: %llu unlisted bytes before the central "
		    "directory (a hidden entry or junk)",
		    (unsigned long long)(cd_off - pos));
		return CAP_ERR_INVALID;
	}
	return 0;
}

static int
zl_check(struct zl_rd *z, struct zl_info *info, char *reason,
    size_t reasonlen)
{
	struct zl_ent *ents = NULL;
	uint64_t cd_off, cd_end, n;
	int r;

	memset(info, 0, sizeof(*info));
	if ((z->win = malloc(ZL_WIN)) == NULL)
		return CAP_ERR_NOMEM;
	z->woff = 0;
	z->wlen = 0;
	if ((r = zl_tail(z, &cd_off, &cd_end, &n, info, reason,
	    reasonlen)) != 0)
		goto out;
	if ((ents = calloc(n > 0 ? (size_t)n : 1, sizeof(*ents))) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	if ((r = zl_cdir(z, cd_off, cd_end, n, ents, reason,
	    reasonlen)) != 0 ||
	    (r = zl_tile(z, ents, n, cd_off, reason, reasonlen)) != 0)
		goto out;
	r = 0;
 out:
	if (r == CAP_ERR_IO)
		REASON("zip layout: cannot read the zip");
	free(ents);
	free(z->win);
	z->win = NULL;
	return r;
}

int
zl_check_reader(zl_read_fn read, void *arg, uint64_t size,
    struct zl_info *info, char *reason, size_t reasonlen)
{
	struct zl_rd z;

	memset(&z, 0, sizeof(z));
	z.read = read;
	z.arg = arg;
	z.size = size;
	return zl_check(&z, info, reason, reasonlen);
}

static int
zl_read_mem(void *arg, uint64_t off, void *buf, size_t len)
{
	memcpy(buf, (const uint8_t *)arg + off, len);
	return 0;
}

int
pkg_zip_layout_check(const void *buf, size_t len, char *reason,
    size_t reasonlen)
{
	struct zl_info info;

	if (buf == NULL && len > 0)
		return CAP_ERR_INVALID;
	return zl_check_reader(zl_read_mem, (void *)(uintptr_t)buf, len,
	    &info, reason, reasonlen);
}

