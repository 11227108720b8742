/*
 * certdb.c - the certificate inventory: record codec, indexes, listing.
 *
 * Record format 1, every integer big-endian; a record ends exactly after
 * its last field, and every field has one spelling, so a record that
 * decodes has one encoding:
 *   u8   format (1)
 *   u8   id[32], lowercase hex
 *   s8   ca (a valid name)          s8  profile (0..64)
 *   s8   key_id (empty or 32 hex)   s8  key_type (0..16)
 *   s16  subject (1..512)
 *   u8   SAN count (0..16), each s8 (1..255)
 *   s8   serial (empty or lowercase hex, 0..64)
 *   u64  created, not_before, not_after, validity
 *   u8   status (1..6)   u8 auto_renew (0/1)
 *   u32  renew_fraction (ppm, 0..1000000)   u32 alerts_sent
 *   u8   revoke_reason (0..10)   u64 revoked_at
 *   b32  certificate (0..16 KiB)
 *   u8   chain count (0..8), each b32 (1..16 KiB)
 *   u8   history count (0..32), each u64 time, u8 kind (1..6), u64 detail,
 *        s8 serial (hex), s8 key_id (empty or 32 hex)
 *   u8   pending op (0..2); unless 0: b32 csr (1..16 KiB), s8 key_id,
 *        s8 pending_id (0..127), u32 attempts, u64 next_try, and only
 *        when not zero, u8 flags (CERTDB_PENDING_*), so records written
 *        before flags existed still decode
 * where sN is an N-bit length then that many bytes (no control
 * characters) and b32 a u32 length then bytes.
 *
 * Index keys: certs_exp u64(not_after) || id, certs_ca ca \0 id; both map
 * to an empty value and are rewritten with the record in one transaction.
 */
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>
#include <sodium.h>

#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "store/certdb.h"
#include "store/codec.h"
#include "store/store.h"
#include "store/store_int.h"

#define CERT_FMT		1
#define FRACTION_PPM_MAX	1000000u
#define REASON_MAX		10
#define EXPKEY_LEN		(8 + CERTDB_ID_LEN)
#define CAKEY_MAX		(CAP_NAME_MAX + 1 + CERTDB_ID_LEN)

/* ---- small helpers ---- */

int
certdb_id_valid(const char *s)
{
	return s != NULL && strnlen(s, CERTDB_ID_LEN + 1) == CERTDB_ID_LEN &&
	    store_hex_valid(s, CERTDB_ID_LEN);
}

void
certdb_id_new(char out[CERTDB_ID_LEN + 1])
{
	uint8_t b[CERTDB_ID_LEN / 2];

	randombytes_buf(b, sizeof(b));
	sodium_bin2hex(out, CERTDB_ID_LEN + 1, b, sizeof(b));
}

static int
keyid_valid(const char *s, size_t len)
{
	return len == 0 || (len == CERTDB_ID_LEN && store_hex_valid(s, len));
}

static const char *const status_names[] = {
	NULL, "pending", "issued", "renewing", "revoked", "expired", "failed",
};
static const char *const event_names[] = {
	NULL, "issued", "superseded", "revoked", "expired", "alert", "failed",
};

const char *
certdb_status_name(int status)
{
	if (status < 1 || status > CERTDB_STATUS_LAST)
		return NULL;
	return status_names[status];
}

int
certdb_status_parse(const char *name)
{
	int i;

	for (i = 1; name != NULL && i <= CERTDB_STATUS_LAST; i++)
		if (strcmp(status_names[i], name) == 0)
			return i;
	return -1;
}

const char *
certdb_event_name(int kind)
{
	if (kind < 1 || kind > CERTDB_EV_LAST)
		return NULL;
	return event_names[kind];
}

/* ---- record lifetime ---- */

struct certdb_cert *
certdb_cert_new(void)
{
	return calloc(1, sizeof(struct certdb_cert));
}

void
certdb_chain_clear(struct certdb_cert *c)
{
	size_t i;

	for (i = 0; i < c->nchain; i++) {
		free(c->chain[i]);
		c->chain[i] = NULL;
		c->chainlen[i] = 0;
	}
	c->nchain = 0;
}

void
certdb_pending_clear(struct certdb_cert *c)
{
	free(c->pending.csr);
	memset(&c->pending, 0, sizeof(c->pending));
}

void
certdb_cert_clear(struct certdb_cert *c)
{
	if (c == NULL)
		return;
	free(c->der);
	certdb_chain_clear(c);
	certdb_pending_clear(c);
	memset(c, 0, sizeof(*c));
}

void
certdb_cert_free(struct certdb_cert *c)
{
	if (c == NULL)
		return;
	certdb_cert_clear(c);
	free(c);
}

static int
copy_blob(const uint8_t *src, size_t len, uint8_t **out)
{
	*out = NULL;
	if (len == 0 || len > CERTDB_DER_MAX)
		return CAP_ERR_TOO_LARGE;
	if ((*out = malloc(len)) == NULL)
		return CAP_ERR_NOMEM;
	memcpy(*out, src, len);
	return 0;
}

int
certdb_set_der(struct certdb_cert *c, const uint8_t *der, size_t len)
{
	uint8_t *p;
	int r;

	if ((r = copy_blob(der, len, &p)) != 0)
		return r;
	free(c->der);
	c->der = p;
	c->derlen = len;
	return 0;
}

int
certdb_chain_push(struct certdb_cert *c, const uint8_t *der, size_t len)
{
	int r;

	if (c->nchain >= CERTDB_CHAIN_MAX)
		return CAP_ERR_TOO_LARGE;
	if ((r = copy_blob(der, len, &c->chain[c->nchain])) != 0)
		return r;
	c->chainlen[c->nchain++] = len;
	return 0;
}

int
certdb_pending_set(struct certdb_cert *c, int op, const uint8_t *csr,
    size_t csrlen, const char *key_id)
{
	uint8_t *p;
	int r;

	if ((op != CERTDB_OP_ENROLL && op != CERTDB_OP_RENEW) ||
	    key_id == NULL || !keyid_valid(key_id, strlen(key_id)))
		return CAP_ERR_INVALID;
	if ((r = copy_blob(csr, csrlen, &p)) != 0)
		return r;
	certdb_pending_clear(c);
	c->pending.op = (uint8_t)op;
	c->pending.csr = p;
	c->pending.csrlen = csrlen;
	memcpy(c->pending.key_id, key_id, strlen(key_id) + 1);
	return 0;
}

static void
copy_str(char *dst, size_t dstsz, const char *src)
{
	size_t n = src != NULL ? strnlen(src, dstsz - 1) : 0;

	if (n > 0)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

void
certdb_history_add(struct certdb_cert *c, int kind, uint64_t time,
    uint64_t detail, const char *serial, const char *key_id)
{
	struct certdb_event *ev;

	if (c->nhistory == CERTDB_HISTORY_MAX) {
		memmove(&c->history[0], &c->history[1],
		    sizeof(c->history[0]) * (CERTDB_HISTORY_MAX - 1));
		c->nhistory--;
	}
	ev = &c->history[c->nhistory++];
	memset(ev, 0, sizeof(*ev));
	ev->time = time;
	ev->kind = (uint8_t)kind;
	ev->detail = detail;
	copy_str(ev->serial, sizeof(ev->serial), serial);
	copy_str(ev->key_id, sizeof(ev->key_id), key_id);
}

/* ---- codec ---- */

/* What the decoder checks, on a record in memory. */
static int
cert_valid(const struct certdb_cert *c)
{
	size_t i, n;

	if (!certdb_id_valid(c->id) || !cap_name_valid(c->ca))
		return 0;
	n = strnlen(c->profile, sizeof(c->profile));
	if (n > CERTDB_PROFILE_MAX || !store_text_valid(c->profile, n))
		return 0;
	n = strnlen(c->key_id, sizeof(c->key_id));
	if (n > CERTDB_ID_LEN || !keyid_valid(c->key_id, n))
		return 0;
	n = strnlen(c->key_type, sizeof(c->key_type));
	if (n > CERTDB_KEYTYPE_MAX || !store_text_valid(c->key_type, n))
		return 0;
	n = strnlen(c->subject, sizeof(c->subject));
	if (n == 0 || n > CERTDB_SUBJECT_MAX || !store_text_valid(c->subject, n))
		return 0;
	if (c->nsans > CERTDB_SAN_MAX)
		return 0;
	for (i = 0; i < c->nsans; i++) {
		n = strnlen(c->sans[i], sizeof(c->sans[i]));
		if (n == 0 || n > CERTDB_SAN_LEN || !store_text_valid(c->sans[i], n))
			return 0;
	}
	n = strnlen(c->serial, sizeof(c->serial));
	if (n > CERTDB_SERIAL_MAX || !store_hex_valid(c->serial, n))
		return 0;
	if (c->status < 1 || c->status > CERTDB_STATUS_LAST ||
	    c->auto_renew > 1 || c->renew_fraction > FRACTION_PPM_MAX ||
	    c->revoke_reason > REASON_MAX)
		return 0;
	if (c->derlen > CERTDB_DER_MAX || (c->derlen != 0) != (c->der != NULL))
		return 0;
	if (c->nchain > CERTDB_CHAIN_MAX || c->nhistory > CERTDB_HISTORY_MAX)
		return 0;
	for (i = 0; i < c->nchain; i++)
		if (c->chain[i] == NULL || c->chainlen[i] == 0 ||
		    c->chainlen[i] > CERTDB_DER_MAX)
			return 0;
	for (i = 0; i < c->nhistory; i++) {
		const struct certdb_event *ev = &c->history[i];

		if (ev->kind < 1 || ev->kind > CERTDB_EV_LAST)
			return 0;
		n = strnlen(ev->serial, sizeof(ev->serial));
		if (n > CERTDB_SERIAL_MAX || !store_hex_valid(ev->serial, n))
			return 0;
		n = strnlen(ev->key_id, sizeof(ev->key_id));
		if (n > CERTDB_ID_LEN || !keyid_valid(ev->key_id, n))
			return 0;
	}
	if (c->pending.op > CERTDB_OP_RENEW)
		return 0;
	if (c->pending.op != CERTDB_OP_NONE) {
		if (c->pending.csr == NULL || c->pending.csrlen == 0 ||
		    c->pending.csrlen > CERTDB_DER_MAX)
			return 0;
		n = strnlen(c->pending.key_id, sizeof(c->pending.key_id));
		if (n > CERTDB_ID_LEN || !keyid_valid(c->pending.key_id, n))
			return 0;
		n = strnlen(c->pending.pending_id, sizeof(c->pending.pending_id));
		if (n > CERTDB_PENDING_ID_MAX ||
		    !store_text_valid(c->pending.pending_id, n))
			return 0;
		if ((c->pending.flags & ~CERTDB_PENDING_FLAGS) != 0)
			return 0;
	} else if (c->pending.flags != 0)
		return 0;
	return 1;
}

int
certdb_record_encode(const struct certdb_cert *c, uint8_t **buf, size_t *len)
{
	struct store_wr w;
	size_t i;

	*buf = NULL;
	*len = 0;
	if (c == NULL || !cert_valid(c))
		return CAP_ERR_INVALID;
	store_wr_init(&w, 1024, CERTDB_RECORD_MAX);
	store_wr_u8(&w, CERT_FMT);
	store_wr_bytes(&w, c->id, CERTDB_ID_LEN);
	store_wr_str(&w, 1, c->ca);
	store_wr_str(&w, 1, c->profile);
	store_wr_str(&w, 1, c->key_id);
	store_wr_str(&w, 1, c->key_type);
	store_wr_str(&w, 2, c->subject);
	store_wr_u8(&w, (uint8_t)c->nsans);
	for (i = 0; i < c->nsans; i++)
		store_wr_str(&w, 1, c->sans[i]);
	store_wr_str(&w, 1, c->serial);
	store_wr_u64(&w, c->created);
	store_wr_u64(&w, c->not_before);
	store_wr_u64(&w, c->not_after);
	store_wr_u64(&w, c->validity);
	store_wr_u8(&w, c->status);
	store_wr_u8(&w, c->auto_renew);
	store_wr_u32(&w, c->renew_fraction);
	store_wr_u32(&w, c->alerts_sent);
	store_wr_u8(&w, c->revoke_reason);
	store_wr_u64(&w, c->revoked_at);
	store_wr_lv(&w, 4, c->der, c->derlen);
	store_wr_u8(&w, (uint8_t)c->nchain);
	for (i = 0; i < c->nchain; i++)
		store_wr_lv(&w, 4, c->chain[i], c->chainlen[i]);
	store_wr_u8(&w, (uint8_t)c->nhistory);
	for (i = 0; i < c->nhistory; i++) {
		store_wr_u64(&w, c->history[i].time);
		store_wr_u8(&w, c->history[i].kind);
		store_wr_u64(&w, c->history[i].detail);
		store_wr_str(&w, 1, c->history[i].serial);
		store_wr_str(&w, 1, c->history[i].key_id);
	}
	store_wr_u8(&w, c->pending.op);
	if (c->pending.op != CERTDB_OP_NONE) {
		store_wr_lv(&w, 4, c->pending.csr, c->pending.csrlen);
		store_wr_str(&w, 1, c->pending.key_id);
		store_wr_str(&w, 1, c->pending.pending_id);
		store_wr_u32(&w, c->pending.attempts);
		store_wr_u64(&w, c->pending.next_try);
		if (c->pending.flags != 0)
			store_wr_u8(&w, c->pending.flags);
	}
	return store_wr_finish(&w, buf, len);
}

/*
 * Fields are read in order with the reader's failure sticky, so a short
 * or bad field fails every read after it and the check at the end.
 */
int
certdb_record_decode(const uint8_t *buf, size_t len, struct certdb_cert *out)
{
	struct store_rd r;
	struct certdb_event *ev;
	uint8_t fmt, n;
	size_t i;
	int ret;

	memset(out, 0, sizeof(*out));
	store_rd_init(&r, buf, len);
	if (buf == NULL || len > CERTDB_RECORD_MAX ||
	    store_rd_u8(&r, &fmt) != 0 || fmt != CERT_FMT ||
	    store_rd_bytes(&r, out->id, CERTDB_ID_LEN) != 0)
		goto bad;
	store_rd_text(&r, 1, 0, CAP_NAME_MAX, out->ca, NULL);
	store_rd_text(&r, 1, 0, CERTDB_PROFILE_MAX, out->profile, NULL);
	store_rd_text(&r, 1, 0, CERTDB_ID_LEN, out->key_id, NULL);
	store_rd_text(&r, 1, 0, CERTDB_KEYTYPE_MAX, out->key_type, NULL);
	store_rd_text(&r, 2, 0, CERTDB_SUBJECT_MAX, out->subject, NULL);
	if (store_rd_u8(&r, &n) != 0 || n > CERTDB_SAN_MAX)
		goto bad;
	for (i = 0; i < n; i++)
		store_rd_text(&r, 1, 0, CERTDB_SAN_LEN, out->sans[i], NULL);
	out->nsans = n;
	store_rd_text(&r, 1, 0, CERTDB_SERIAL_MAX, out->serial, NULL);
	store_rd_u64(&r, &out->created);
	store_rd_u64(&r, &out->not_before);
	store_rd_u64(&r, &out->not_after);
	store_rd_u64(&r, &out->validity);
	store_rd_u8(&r, &out->status);
	store_rd_u8(&r, &out->auto_renew);
	store_rd_u32(&r, &out->renew_fraction);
	store_rd_u32(&r, &out->alerts_sent);
	store_rd_u8(&r, &out->revoke_reason);
	store_rd_u64(&r, &out->revoked_at);
	store_rd_blob(&r, 4, 0, CERTDB_DER_MAX, &out->der, &out->derlen);
	if (store_rd_u8(&r, &n) != 0 || n > CERTDB_CHAIN_MAX)
		goto bad;
	for (i = 0; i < n; i++) {
		if (store_rd_blob(&r, 4, 1, CERTDB_DER_MAX, &out->chain[i],
		    &out->chainlen[i]) != 0)
			goto bad;
		out->nchain = i + 1;
	}
	if (store_rd_u8(&r, &n) != 0 || n > CERTDB_HISTORY_MAX)
		goto bad;
	for (i = 0; i < n; i++) {
		ev = &out->history[i];
		store_rd_u64(&r, &ev->time);
		store_rd_u8(&r, &ev->kind);
		store_rd_u64(&r, &ev->detail);
		store_rd_text(&r, 1, 0, CERTDB_SERIAL_MAX, ev->serial, NULL);
		store_rd_text(&r, 1, 0, CERTDB_ID_LEN, ev->key_id, NULL);
	}
	out->nhistory = n;
	if (store_rd_u8(&r, &out->pending.op) == 0 &&
	    out->pending.op != CERTDB_OP_NONE) {
		store_rd_blob(&r, 4, 1, CERTDB_DER_MAX, &out->pending.csr,
		    &out->pending.csrlen);
		store_rd_text(&r, 1, 0, CERTDB_ID_LEN, out->pending.key_id,
		    NULL);
		store_rd_text(&r, 1, 0, CERTDB_PENDING_ID_MAX,
		    out->pending.pending_id, NULL);
		store_rd_u32(&r, &out->pending.attempts);
		store_rd_u64(&r, &out->pending.next_try);
		if (store_rd_left(&r) > 0 &&
		    (store_rd_u8(&r, &out->pending.flags) != 0 ||
		    out->pending.flags == 0))
			goto bad;
	}
	if (store_rd_end(&r) != 0 || !cert_valid(out))
		goto bad;
	return 0;
 bad:
	ret = store_rd_fail(&r);
	certdb_cert_clear(out);
	return ret;
}

/* ---- store ---- */

static void
exp_key(uint8_t out[EXPKEY_LEN], uint64_t not_after, const char *id)
{
	store_put_u64(out, not_after);
	memcpy(out + 8, id, CERTDB_ID_LEN);
}

static size_t
ca_key(uint8_t out[CAKEY_MAX], const char *ca, const char *id)
{
	size_t n = strlen(ca);

	memcpy(out, ca, n);
	out[n] = '\0';
	memcpy(out + n + 1, id, CERTDB_ID_LEN);
	return n + 1 + CERTDB_ID_LEN;
}

static int
index_del(store *s, MDB_txn *txn, const struct certdb_cert *old)
{
	uint8_t ek[EXPKEY_LEN], ck[CAKEY_MAX];
	int r;

	exp_key(ek, old->not_after, old->id);
	r = store_del(txn, s->dbi_certs_exp, ek, sizeof(ek), "mdb_del certs_exp");
	if (r != 0 && r != CAP_ERR_NOT_FOUND)
		return r;
	r = store_del(txn, s->dbi_certs_ca, ck, ca_key(ck, old->ca, old->id),
	    "mdb_del certs_ca");
	return r == CAP_ERR_NOT_FOUND ? 0 : r;
}

static int
index_put(store *s, MDB_txn *txn, const struct certdb_cert *c)
{
	uint8_t ek[EXPKEY_LEN], ck[CAKEY_MAX];
	int r;

	exp_key(ek, c->not_after, c->id);
	if ((r = store_put(txn, s->dbi_certs_exp, ek, sizeof(ek), NULL, 0, 0,
	    "mdb_put certs_exp")) != 0)
		return r;
	return store_put(txn, s->dbi_certs_ca, ck, ca_key(ck, c->ca, c->id),
	    NULL, 0, 0, "mdb_put certs_ca");
}

/* Reads the record of id inside txn into *out. */
static int
read_txn(store *s, MDB_txn *txn, const char *id, struct certdb_cert *out)
{
	MDB_val d;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = store_get(txn, s->dbi_certs, id, CERTDB_ID_LEN, &d,
	    "mdb_get certs")) != 0)
		return r;
	if ((r = certdb_record_decode(d.mv_data, d.mv_size, out)) != 0)
		log_error("store: certificate record %s does not parse", id);
	return r;
}

/* Writes c in txn, replacing old (NULL when new) and its index entries. */
static int
write_txn(store *s, MDB_txn *txn, const struct certdb_cert *old,
    const struct certdb_cert *c)
{
	uint8_t *buf = NULL;
	size_t len;
	int r;

	if ((r = certdb_record_encode(c, &buf, &len)) != 0)
		return r;
	if (old != NULL && (r = index_del(s, txn, old)) != 0)
		goto out;
	if ((r = store_put(txn, s->dbi_certs, c->id, CERTDB_ID_LEN, buf, len, 0,
	    "mdb_put certs")) != 0)
		goto out;
	r = index_put(s, txn, c);
 out:
	free(buf);
	return r;
}

struct put_arg {
	const struct certdb_cert	*c;
	int				 excl;
};

static int
put_txn(store *s, MDB_txn *txn, void *arg)
{
	struct put_arg *a = arg;
	struct certdb_cert old;
	int r;

	r = read_txn(s, txn, a->c->id, &old);
	if (r == 0 && a->excl) {
		certdb_cert_clear(&old);
		return CAP_ERR_EXISTS;
	}
	if (r != 0 && r != CAP_ERR_NOT_FOUND)
		return r;
	r = write_txn(s, txn, r == 0 ? &old : NULL, a->c);
	certdb_cert_clear(&old);
	return r;
}

int
certdb_put(store *s, const struct certdb_cert *c, int excl)
{
	struct put_arg a = { c, excl };

	if (s == NULL || c == NULL || !cert_valid(c))
		return CAP_ERR_INVALID;
	return store_txn_write(s, put_txn, &a);
}

struct get_arg {
	const char		*id;
	struct certdb_cert	*c;
};

static int
get_txn(store *s, MDB_txn *txn, void *arg)
{
	struct get_arg *a = arg;

	return read_txn(s, txn, a->id, a->c);
}

int
certdb_get(store *s, const char *id, struct certdb_cert **out)
{
	struct get_arg a;
	int r;

	if (out != NULL)
		*out = NULL;
	if (s == NULL || out == NULL || !certdb_id_valid(id))
		return CAP_ERR_INVALID;
	if ((a.c = certdb_cert_new()) == NULL)
		return CAP_ERR_NOMEM;
	a.id = id;
	if ((r = store_txn_read(s, get_txn, &a)) != 0) {
		certdb_cert_free(a.c);
		return r;
	}
	*out = a.c;	/* transferred */
	return 0;
}

struct update_arg {
	const char		*id;
	certdb_update_fn	 fn;
	void			*arg;
};

static int
update_txn(store *s, MDB_txn *txn, void *arg)
{
	struct update_arg *a = arg;
	struct certdb_cert *old = NULL, *cur = NULL;
	uint8_t *buf = NULL;
	size_t len;
	int r;

	if ((old = certdb_cert_new()) == NULL ||
	    (cur = certdb_cert_new()) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	if ((r = read_txn(s, txn, a->id, old)) != 0)
		goto out;
	/* A second, independent copy for fn to change. */
	if ((r = certdb_record_encode(old, &buf, &len)) != 0 ||
	    (r = certdb_record_decode(buf, len, cur)) != 0)
		goto out;
	if ((r = a->fn(cur, a->arg)) != 0)
		goto out;
	if (strcmp(cur->id, old->id) != 0) {
		r = CAP_ERR_INVALID;
		goto out;
	}
	r = write_txn(s, txn, old, cur);
 out:
	free(buf);
	certdb_cert_free(old);
	certdb_cert_free(cur);
	return r;
}

int
certdb_update(store *s, const char *id, certdb_update_fn fn, void *arg)
{
	struct update_arg a = { id, fn, arg };

	if (s == NULL || fn == NULL || !certdb_id_valid(id))
		return CAP_ERR_INVALID;
	return store_txn_write(s, update_txn, &a);
}

static int
delete_txn(store *s, MDB_txn *txn, void *arg)
{
	struct certdb_cert old;
	int r;

	if ((r = read_txn(s, txn, arg, &old)) != 0)
		return r;
	r = index_del(s, txn, &old);
	certdb_cert_clear(&old);
	if (r != 0)
		return r;
	return store_del(txn, s->dbi_certs, arg, CERTDB_ID_LEN, "mdb_del certs");
}

int
certdb_delete(store *s, const char *id)
{
	if (s == NULL || !certdb_id_valid(id))
		return CAP_ERR_INVALID;
	return store_txn_write(s, delete_txn, (void *)id);
}

struct list_arg {
	const struct certdb_filter	*f;
	char				**ids;
	size_t				 n, cap;
};

/* Does the record of id pass the filter's status (and CA) test? */
static int
list_match(store *s, MDB_txn *txn, struct list_arg *a, const char *id)
{
	struct certdb_cert c;
	int r, ok;

	if (a->f->status == 0 && a->f->ca == NULL)
		return 1;
	if ((r = read_txn(s, txn, id, &c)) != 0)
		return r == CAP_ERR_NOT_FOUND ? 0 : r;
	ok = (a->f->status == 0 || c.status == a->f->status) &&
	    (a->f->ca == NULL || strcmp(c.ca, a->f->ca) == 0);
	certdb_cert_clear(&c);
	return ok;
}

struct list_walk {
	store		*s;
	MDB_txn		*txn;
	struct list_arg	*a;
};

static int
list_one(void *arg, const MDB_val *k, const MDB_val *d)
{
	struct list_walk *w = arg;
	struct list_arg *a = w->a;
	char id[CERTDB_ID_LEN + 1];
	const uint8_t *kp = k->mv_data;
	uint64_t na;
	int m;

	(void)d;
	if (k->mv_size != EXPKEY_LEN)
		return CAP_ERR_CORRUPT;
	na = store_get_u64(kp);
	if (a->f->not_after_max != 0) {
		if (na > a->f->not_after_max)
			return STORE_STOP;
		if (na == 0)
			return 0;	/* pending: no expiry yet */
	}
	memcpy(id, kp + 8, CERTDB_ID_LEN);
	id[CERTDB_ID_LEN] = '\0';
	if ((m = list_match(w->s, w->txn, a, id)) <= 0)
		return m;
	return store_names_push(&a->ids, &a->n, &a->cap, id, CERTDB_ID_LEN);
}

static int
list_txn(store *s, MDB_txn *txn, void *arg)
{
	struct list_walk w = { s, txn, arg };

	return store_walk(txn, s->dbi_certs_exp, NULL, 0, list_one, &w);
}

int
certdb_list(store *s, const struct certdb_filter *f, char ***ids, size_t *n)
{
	struct certdb_filter none = { NULL, 0, 0 };
	struct list_arg a;
	int r;

	if (ids != NULL)
		*ids = NULL;
	if (n != NULL)
		*n = 0;
	if (s == NULL || ids == NULL || n == NULL)
		return CAP_ERR_INVALID;
	memset(&a, 0, sizeof(a));
	a.f = f != NULL ? f : &none;
	if (a.f->ca != NULL && !cap_name_valid(a.f->ca))
		return CAP_ERR_INVALID;
	if ((r = store_txn_read(s, list_txn, &a)) != 0) {
		store_names_free(a.ids, a.n);
		return r;
	}
	*ids = a.ids;	/* transferred */
	*n = a.n;
	return 0;
}
