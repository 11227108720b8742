/*
 * record.c - the binary form of a stored secret version.
 *
 * Format 1, every integer big-endian:
 *   u8   format (1)
 *   u32  version (>= 1)
 *   u64  created
 *   u32  key version
 *   u32  flags (only STORE_SECRET_* bits)
 *   u8   nonce[STORE_NONCE_LEN]
 *   u32  ciphertext length (<= STORE_CT_MAX, 0 when destroyed)
 *   u8   ciphertext[length]
 * The record ends exactly after the ciphertext.  Decoding is strict so that
 * every accepted record re-encodes to the same bytes: a record that decodes
 * has exactly one meaning, which is what the fuzz target checks.
 */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "store/codec.h"
#include "store/store.h"
#include "store/store_int.h"

#define SECRET_FMT		1
#define SECRET_HDR_LEN		(1 + 4 + 8 + 4 + 4 + STORE_NONCE_LEN + 4)
#define SECRET_FLAGS_KNOWN	(STORE_SECRET_DELETED | STORE_SECRET_DESTROYED)

/* The rules a record must meet, whether it is being written or read. */
static int
secret_check(const struct store_secret_meta *m, size_t ctlen)
{
	if (m->version == 0 || (m->flags & ~(uint32_t)SECRET_FLAGS_KNOWN) != 0)
		return CAP_ERR_INVALID;
	if ((m->flags & STORE_SECRET_DESTROYED) != 0 && ctlen != 0)
		return CAP_ERR_INVALID;
	if (ctlen > STORE_CT_MAX)
		return CAP_ERR_TOO_LARGE;
	return 0;
}

/*
 * Parses a whole record and checks it; on success the ciphertext is the
 * *ctlen bytes at *ct, inside buf.
 */
static int
secret_parse(const uint8_t *buf, size_t len, struct store_secret_meta *m,
    uint8_t nonce[STORE_NONCE_LEN], const uint8_t **ct, size_t *ctlen)
{
	struct store_rd r;
	const uint8_t *np;
	uint32_t clen;
	uint8_t fmt;

	store_rd_init(&r, buf, len);
	if (store_rd_u8(&r, &fmt) != 0 || fmt != SECRET_FMT ||
	    store_rd_u32(&r, &m->version) != 0 ||
	    store_rd_u64(&r, &m->created) != 0 ||
	    store_rd_u32(&r, &m->key_version) != 0 ||
	    store_rd_u32(&r, &m->flags) != 0 ||
	    store_rd_take(&r, STORE_NONCE_LEN, &np) != 0 ||
	    store_rd_u32(&r, &clen) != 0 ||
	    (size_t)clen != store_rd_left(&r) ||
	    store_rd_take(&r, clen, ct) != 0 || store_rd_end(&r) != 0)
		return CAP_ERR_CORRUPT;
	if (secret_check(m, clen) != 0)
		return CAP_ERR_CORRUPT;
	if (nonce != NULL)
		memcpy(nonce, np, STORE_NONCE_LEN);
	*ctlen = clen;
	return 0;
}

int
store_record_decode_secret_meta(const uint8_t *buf, size_t len,
    struct store_secret_meta *meta)
{
	struct store_secret_meta m;
	const uint8_t *ct;
	size_t ctlen;
	int r;

	if (meta == NULL)
		return CAP_ERR_INVALID;
	memset(meta, 0, sizeof(*meta));
	memset(&m, 0, sizeof(m));
	if ((r = secret_parse(buf, len, &m, NULL, &ct, &ctlen)) != 0)
		return r;
	*meta = m;
	return 0;
}

int
store_record_decode_secret(const uint8_t *buf, size_t len,
    struct store_secret *out)
{
	struct store_secret rec;
	const uint8_t *ct;
	size_t ctlen;
	int r;

	if (out == NULL)
		return CAP_ERR_INVALID;
	memset(out, 0, sizeof(*out));
	memset(&rec, 0, sizeof(rec));
	if ((r = secret_parse(buf, len, &rec.meta, rec.nonce, &ct,
	    &ctlen)) != 0)
		return r;
	if (ctlen > 0) {
		if ((rec.ct = malloc(ctlen)) == NULL)
			return CAP_ERR_NOMEM;
		memcpy(rec.ct, ct, ctlen);
	}
	rec.ctlen = ctlen;
	*out = rec;	/* ct transferred */
	return 0;
}

int
store_record_encode_secret(const struct store_secret *rec, uint8_t **buf,
    size_t *len)
{
	struct store_wr w;
	int r;

	if (buf != NULL)
		*buf = NULL;
	if (len != NULL)
		*len = 0;
	if (rec == NULL || buf == NULL || len == NULL)
		return CAP_ERR_INVALID;
	if ((r = secret_check(&rec->meta, rec->ctlen)) != 0)
		return r;
	if (rec->ctlen > 0 && rec->ct == NULL)
		return CAP_ERR_INVALID;
	store_wr_init(&w, SECRET_HDR_LEN + rec->ctlen, 0);
	store_wr_u8(&w, SECRET_FMT);
	store_wr_u32(&w, rec->meta.version);
	store_wr_u64(&w, rec->meta.created);
	store_wr_u32(&w, rec->meta.key_version);
	store_wr_u32(&w, rec->meta.flags);
	store_wr_bytes(&w, rec->nonce, STORE_NONCE_LEN);
	store_wr_lv(&w, 4, rec->ct, rec->ctlen);
	return store_wr_finish(&w, buf, len);
}

void
store_secret_free(struct store_secret *rec)
{
	if (rec == NULL)
		return;
	free(rec->ct);
	free(rec);
}
