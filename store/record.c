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
 * Parses the fixed header and checks the lengths; on success the
 * ciphertext is buf[SECRET_HDR_LEN .. len).
 */
static int
secret_parse(const uint8_t *buf, size_t len, struct store_secret_meta *m,
    uint8_t nonce[STORE_NONCE_LEN], size_t *ctlen)
{
	const uint8_t *p = buf;
	uint32_t clen;

	if (buf == NULL || len < SECRET_HDR_LEN || p[0] != SECRET_FMT)
		return CAP_ERR_CORRUPT;
	p++;
	m->version = store_get_u32(p);
	p += 4;
	m->created = store_get_u64(p);
	p += 8;
	m->key_version = store_get_u32(p);
	p += 4;
	m->flags = store_get_u32(p);
	p += 4;
	if (nonce != NULL)
		memcpy(nonce, p, STORE_NONCE_LEN);
	p += STORE_NONCE_LEN;
	clen = store_get_u32(p);
	/* Compare against what is left rather than adding to clen. */
	if ((size_t)clen != len - SECRET_HDR_LEN)
		return CAP_ERR_CORRUPT;
	if (secret_check(m, clen) != 0)
		return CAP_ERR_CORRUPT;
	*ctlen = clen;
	return 0;
}

int
store_record_decode_secret_meta(const uint8_t *buf, size_t len,
    struct store_secret_meta *meta)
{
	struct store_secret_meta m;
	size_t ctlen;
	int r;

	if (meta == NULL)
		return CAP_ERR_INVALID;
	memset(meta, 0, sizeof(*meta));
	memset(&m, 0, sizeof(m));
	if ((r = secret_parse(buf, len, &m, NULL, &ctlen)) != 0)
		return r;
	*meta = m;
	return 0;
}

int
store_record_decode_secret(const uint8_t *buf, size_t len,
    struct store_secret *out)
{
	struct store_secret rec;
	size_t ctlen;
	int r;

	if (out == NULL)
		return CAP_ERR_INVALID;
	memset(out, 0, sizeof(*out));
	memset(&rec, 0, sizeof(rec));
	if ((r = secret_parse(buf, len, &rec.meta, rec.nonce, &ctlen)) != 0)
		return r;
	if (ctlen > 0) {
		if ((rec.ct = malloc(ctlen)) == NULL)
			return CAP_ERR_NOMEM;
		memcpy(rec.ct, buf + SECRET_HDR_LEN, ctlen);
	}
	rec.ctlen = ctlen;
	*out = rec;	/* ct transferred */
	return 0;
}

int
store_record_encode_secret(const struct store_secret *rec, uint8_t **buf,
    size_t *len)
{
	uint8_t *b, *p;
	size_t total;
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
	total = SECRET_HDR_LEN + rec->ctlen;
	if ((b = malloc(total)) == NULL)
		return CAP_ERR_NOMEM;
	p = b;
	*p++ = SECRET_FMT;
	store_put_u32(p, rec->meta.version);
	p += 4;
	store_put_u64(p, rec->meta.created);
	p += 8;
	store_put_u32(p, rec->meta.key_version);
	p += 4;
	store_put_u32(p, rec->meta.flags);
	p += 4;
	memcpy(p, rec->nonce, STORE_NONCE_LEN);
	p += STORE_NONCE_LEN;
	store_put_u32(p, (uint32_t)rec->ctlen);
	p += 4;
	if (rec->ctlen > 0)
		memcpy(p, rec->ct, rec->ctlen);
	*buf = b;	/* transferred */
	*len = total;
	return 0;
}

void
store_secret_free(struct store_secret *rec)
{
	if (rec == NULL)
		return;
	free(rec->ct);
	free(rec);
}
