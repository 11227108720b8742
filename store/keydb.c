/*
 * keydb.c - the key inventory in the "keys" database.
 *
 * Record format 1, every integer big-endian, ending exactly after its
 * last field so that a record that decodes has one encoding:
 *   u8   format (1)
 *   u8   key type (1..STORE_KEY_TYPE_MAX)
 *   u64  created
 *   u8   owner (STORE_KEY_OWNER_*)
 *   u32  flags (only STORE_KEY_F_* bits)
 *   u8   label length (0..STORE_KEY_LABEL_MAX), label (no control chars)
 *   u8   token label length (0..STORE_KEY_TOKEN_MAX), token label (same)
 * The key of a record is the 16-byte id.
 */
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "common/err.h"
#include "common/log.h"
#include "store/codec.h"
#include "store/keydb.h"
#include "store/store_int.h"

#define KEY_FMT		1
#define KEY_FIXED_LEN	(1 + 1 + 8 + 1 + 4 + 1 + 1)
#define KEY_REC_MAX	(KEY_FIXED_LEN + STORE_KEY_LABEL_MAX + \
			 STORE_KEY_TOKEN_MAX)

static const char *owner_names[] = { NULL, "user", "ca", "cert" };
#define NOWNERS	(sizeof(owner_names) / sizeof(owner_names[0]))

const char *
store_key_owner_name(uint32_t owner)
{
	if (owner == 0 || owner >= NOWNERS)
		return "unknown";
	return owner_names[owner];
}

int
store_key_owner_parse(const char *s, uint32_t *owner)
{
	size_t i;

	for (i = 1; s != NULL && i < NOWNERS; i++)
		if (strcmp(s, owner_names[i]) == 0) {
			*owner = (uint32_t)i;
			return 0;
		}
	return CAP_ERR_INVALID;
}

static int
text_valid(const char *p, size_t len, size_t max)
{
	return len <= max && store_text_valid(p, len);
}

int
store_key_label_valid(const char *s)
{
	return s != NULL && text_valid(s, strnlen(s, STORE_KEY_LABEL_MAX + 1),
	    STORE_KEY_LABEL_MAX);
}

void
store_key_id_hex(const uint8_t id[STORE_KEY_ID_LEN],
    char out[STORE_KEY_ID_HEX + 1])
{
	static const char hx[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < STORE_KEY_ID_LEN; i++) {
		out[2 * i] = hx[id[i] >> 4];
		out[2 * i + 1] = hx[id[i] & 0xf];
	}
	out[STORE_KEY_ID_HEX] = '\0';
}

static int
hexnib(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
store_key_id_parse(const char *hex, uint8_t id[STORE_KEY_ID_LEN])
{
	size_t i;
	int hi, lo;

	if (hex == NULL || strnlen(hex, STORE_KEY_ID_HEX + 1) !=
	    STORE_KEY_ID_HEX)
		return CAP_ERR_INVALID;
	for (i = 0; i < STORE_KEY_ID_LEN; i++) {
		if ((hi = hexnib(hex[2 * i])) < 0 ||
		    (lo = hexnib(hex[2 * i + 1])) < 0)
			return CAP_ERR_INVALID;
		id[i] = (uint8_t)((hi << 4) | lo);
	}
	return 0;
}

/* ---- codec ---- */

static int
rec_check(const struct store_key *k)
{
	if (k->type == 0 || k->type > STORE_KEY_TYPE_MAX ||
	    k->owner == 0 || k->owner >= NOWNERS ||
	    (k->flags & ~(uint32_t)STORE_KEY_FLAGS_KNOWN) != 0 ||
	    memchr(k->label, '\0', sizeof(k->label)) == NULL ||
	    memchr(k->token, '\0', sizeof(k->token)) == NULL ||
	    !text_valid(k->label, strlen(k->label), STORE_KEY_LABEL_MAX) ||
	    !text_valid(k->token, strlen(k->token), STORE_KEY_TOKEN_MAX))
		return CAP_ERR_INVALID;
	return 0;
}

int
store_record_encode_key(const struct store_key *rec, uint8_t **buf,
    size_t *len)
{
	struct store_wr w;

	*buf = NULL;
	*len = 0;
	if (rec_check(rec) != 0)
		return CAP_ERR_INVALID;
	store_wr_init(&w, KEY_REC_MAX, 0);
	store_wr_u8(&w, KEY_FMT);
	store_wr_u8(&w, (uint8_t)rec->type);
	store_wr_u64(&w, rec->created);
	store_wr_u8(&w, (uint8_t)rec->owner);
	store_wr_u32(&w, rec->flags);
	store_wr_str(&w, 1, rec->label);
	store_wr_str(&w, 1, rec->token);
	return store_wr_finish(&w, buf, len);
}

int
store_record_decode_key(const uint8_t *buf, size_t len, struct store_key *out)
{
	struct store_key k;
	struct store_rd r;
	uint8_t fmt, type, owner;

	memset(out, 0, sizeof(*out));
	memset(&k, 0, sizeof(k));
	store_rd_init(&r, buf, len);
	/* Text with an embedded NUL would read back shorter than stored. */
	if (store_rd_u8(&r, &fmt) != 0 || fmt != KEY_FMT ||
	    store_rd_u8(&r, &type) != 0 || store_rd_u64(&r, &k.created) != 0 ||
	    store_rd_u8(&r, &owner) != 0 || store_rd_u32(&r, &k.flags) != 0 ||
	    store_rd_str(&r, 1, 0, STORE_KEY_LABEL_MAX, k.label, NULL) != 0 ||
	    store_rd_str(&r, 1, 0, STORE_KEY_TOKEN_MAX, k.token, NULL) != 0 ||
	    store_rd_end(&r) != 0)
		return CAP_ERR_CORRUPT;
	k.type = type;
	k.owner = owner;
	if (rec_check(&k) != 0)
		return CAP_ERR_CORRUPT;
	*out = k;
	return 0;
}

/* ---- transactions ---- */

int
store_key_put(store *s, const struct store_key *rec)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	if (s == NULL || rec == NULL)
		return CAP_ERR_INVALID;
	if ((r = store_record_encode_key(rec, &buf, &len)) != 0)
		return r;
	r = store_put_one(s, s->dbi_keys, rec->id, STORE_KEY_ID_LEN, buf, len,
	    MDB_NOOVERWRITE, "mdb_put key");
	free(buf);
	return r;
}

struct get_arg {
	const uint8_t		*id;
	struct store_key	*out;
};

static int
get_txn(store *s, MDB_txn *txn, void *arg)
{
	struct get_arg *a = arg;
	MDB_val d;
	int r;

	if ((r = store_get(txn, s->dbi_keys, a->id, STORE_KEY_ID_LEN, &d,
	    "mdb_get key")) != 0)
		return r;
	if ((r = store_record_decode_key(d.mv_data, d.mv_size, a->out)) != 0) {
		log_error("store: key record does not decode");
		return r;
	}
	memcpy(a->out->id, a->id, STORE_KEY_ID_LEN);
	return 0;
}

int
store_key_get(store *s, const uint8_t id[STORE_KEY_ID_LEN],
    struct store_key *out)
{
	struct get_arg a;

	if (s == NULL || id == NULL || out == NULL)
		return CAP_ERR_INVALID;
	memset(out, 0, sizeof(*out));
	a.id = id;
	a.out = out;
	return store_txn_read(s, get_txn, &a);
}

int
store_key_delete(store *s, const uint8_t id[STORE_KEY_ID_LEN])
{
	if (s == NULL || id == NULL)
		return CAP_ERR_INVALID;
	return store_del_one(s, s->dbi_keys, id, STORE_KEY_ID_LEN,
	    "mdb_del key");
}

struct list_arg {
	struct store_key	*v;
	size_t			 n, cap;
};

static int
list_one(void *arg, const MDB_val *k, const MDB_val *d)
{
	struct list_arg *a = arg;
	struct store_key *nv;

	if (k->mv_size != STORE_KEY_ID_LEN) {
		log_error("store: key record with a %zu-byte id", k->mv_size);
		return 0;
	}
	if (a->n == a->cap && a->cap >= STORE_KEYS_MAX)
		return CAP_ERR_TOO_LARGE;
	if ((nv = store_vec_grow(a->v, &a->cap, a->n, sizeof(*nv))) == NULL)
		return CAP_ERR_NOMEM;
	a->v = nv;
	if (store_record_decode_key(d->mv_data, d->mv_size, &a->v[a->n]) != 0) {
		log_error("store: a key record does not decode; left out of "
		    "the list");
		return 0;
	}
	memcpy(a->v[a->n].id, k->mv_data, STORE_KEY_ID_LEN);
	a->n++;
	return 0;
}

static int
list_txn(store *s, MDB_txn *txn, void *arg)
{
	struct list_arg *a = arg;

	a->n = 0;
	return store_walk(txn, s->dbi_keys, NULL, 0, list_one, a);
}

int
store_key_list(store *s, struct store_key **out, size_t *n)
{
	struct list_arg a = { NULL, 0, 0 };
	int r;

	*out = NULL;
	*n = 0;
	if (s == NULL)
		return CAP_ERR_INVALID;
	if ((r = store_txn_read(s, list_txn, &a)) != 0) {
		free(a.v);
		return r;
	}
	*out = a.v;
	*n = a.n;
	return 0;
}
