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
 *        s8 pending_id (0..127), u32 attempts, u64 next_try
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
#include "store/store.h"
#include "store/store_int.h"

#define CERT_FMT		1
#define FRACTION_PPM_MAX	1000000u
#define REASON_MAX		10
#define EXPKEY_LEN		(8 + CERTDB_ID_LEN)
#define CAKEY_MAX		(CAP_NAME_MAX + 1 + CERTDB_ID_LEN)

/* ---- small helpers ---- */

static int
hex_valid(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

int
certdb_id_valid(const char *s)
{
	return s != NULL && strnlen(s, CERTDB_ID_LEN + 1) == CERTDB_ID_LEN &&
	    hex_valid(s, CERTDB_ID_LEN);
}

void
certdb_id_new(char out[CERTDB_ID_LEN + 1])
{
	uint8_t b[CERTDB_ID_LEN / 2];

	randombytes_buf(b, sizeof(b));
	sodium_bin2hex(out, CERTDB_ID_LEN + 1, b, sizeof(b));
}

/* Text fields: no control characters (so no NUL either). */
static int
text_valid(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
			return 0;
	return 1;
}

static int
keyid_valid(const char *s, size_t len)
{
	return len == 0 || (len == CERTDB_ID_LEN && hex_valid(s, len));
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

/* ---- encoder ---- */

struct wbuf {
	uint8_t	*p;
	size_t	 len, cap;
	int	 err;
};

static void
w_bytes(struct wbuf *w, const void *src, size_t n)
{
	uint8_t *np;
	size_t ncap;

	if (w->err != 0 || n == 0)
		return;
	if (w->len + n > CERTDB_RECORD_MAX) {
		w->err = CAP_ERR_TOO_LARGE;
		return;
	}
	if (w->len + n > w->cap) {
		ncap = w->cap ? w->cap : 1024;
		while (ncap < w->len + n)
			ncap *= 2;
		if ((np = realloc(w->p, ncap)) == NULL) {
			w->err = CAP_ERR_NOMEM;
			return;
		}
		w->p = np;
		w->cap = ncap;
	}
	memcpy(w->p + w->len, src, n);
	w->len += n;
}

static void
w_u8(struct wbuf *w, uint8_t v)
{
	w_bytes(w, &v, 1);
}

static void
w_u16(struct wbuf *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	w_bytes(w, b, 2);
}

static void
w_u32(struct wbuf *w, uint32_t v)
{
	uint8_t b[4];

	store_put_u32(b, v);
	w_bytes(w, b, 4);
}

static void
w_u64(struct wbuf *w, uint64_t v)
{
	w_u32(w, (uint32_t)(v >> 32));
	w_u32(w, (uint32_t)v);
}

static void
w_s8(struct wbuf *w, const char *s)
{
	size_t n = strlen(s);

	w_u8(w, (uint8_t)n);
	w_bytes(w, s, n);
}

static void
w_b32(struct wbuf *w, const uint8_t *b, size_t n)
{
	w_u32(w, (uint32_t)n);
	w_bytes(w, b, n);
}

/* What the decoder checks, on a record in memory. */
static int
cert_valid(const struct certdb_cert *c)
{
	size_t i, n;

	if (!certdb_id_valid(c->id) || !cap_name_valid(c->ca))
		return 0;
	n = strnlen(c->profile, sizeof(c->profile));
	if (n > CERTDB_PROFILE_MAX || !text_valid(c->profile, n))
		return 0;
	n = strnlen(c->key_id, sizeof(c->key_id));
	if (n > CERTDB_ID_LEN || !keyid_valid(c->key_id, n))
		return 0;
	n = strnlen(c->key_type, sizeof(c->key_type));
	if (n > CERTDB_KEYTYPE_MAX || !text_valid(c->key_type, n))
		return 0;
	n = strnlen(c->subject, sizeof(c->subject));
	if (n == 0 || n > CERTDB_SUBJECT_MAX || !text_valid(c->subject, n))
		return 0;
	if (c->nsans > CERTDB_SAN_MAX)
		return 0;
	for (i = 0; i < c->nsans; i++) {
		n = strnlen(c->sans[i], sizeof(c->sans[i]));
		if (n == 0 || n > CERTDB_SAN_LEN || !text_valid(c->sans[i], n))
			return 0;
	}
	n = strnlen(c->serial, sizeof(c->serial));
	if (n > CERTDB_SERIAL_MAX || !hex_valid(c->serial, n))
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
		if (n > CERTDB_SERIAL_MAX || !hex_valid(ev->serial, n))
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
		    !text_valid(c->pending.pending_id, n))
			return 0;
	}
	return 1;
}

int
certdb_record_encode(const struct certdb_cert *c, uint8_t **buf, size_t *len)
{
	struct wbuf w;
	size_t i;

	*buf = NULL;
	*len = 0;
	if (c == NULL || !cert_valid(c))
		return CAP_ERR_INVALID;
	memset(&w, 0, sizeof(w));
	w_u8(&w, CERT_FMT);
	w_bytes(&w, c->id, CERTDB_ID_LEN);
	w_s8(&w, c->ca);
	w_s8(&w, c->profile);
	w_s8(&w, c->key_id);
	w_s8(&w, c->key_type);
	w_u16(&w, (uint16_t)strlen(c->subject));
	w_bytes(&w, c->subject, strlen(c->subject));
	w_u8(&w, (uint8_t)c->nsans);
	for (i = 0; i < c->nsans; i++)
		w_s8(&w, c->sans[i]);
	w_s8(&w, c->serial);
	w_u64(&w, c->created);
	w_u64(&w, c->not_before);
	w_u64(&w, c->not_after);
	w_u64(&w, c->validity);
	w_u8(&w, c->status);
	w_u8(&w, c->auto_renew);
	w_u32(&w, c->renew_fraction);
	w_u32(&w, c->alerts_sent);
	w_u8(&w, c->revoke_reason);
	w_u64(&w, c->revoked_at);
	w_b32(&w, c->der, c->derlen);
	w_u8(&w, (uint8_t)c->nchain);
	for (i = 0; i < c->nchain; i++)
		w_b32(&w, c->chain[i], c->chainlen[i]);
	w_u8(&w, (uint8_t)c->nhistory);
	for (i = 0; i < c->nhistory; i++) {
		w_u64(&w, c->history[i].time);
		w_u8(&w, c->history[i].kind);
		w_u64(&w, c->history[i].detail);
		w_s8(&w, c->history[i].serial);
		w_s8(&w, c->history[i].key_id);
	}
	w_u8(&w, c->pending.op);
	if (c->pending.op != CERTDB_OP_NONE) {
		w_b32(&w, c->pending.csr, c->pending.csrlen);
		w_s8(&w, c->pending.key_id);
		w_s8(&w, c->pending.pending_id);
		w_u32(&w, c->pending.attempts);
		w_u64(&w, c->pending.next_try);
	}
	if (w.err != 0) {
		free(w.p);
		return w.err;
	}
	*buf = w.p;
	*len = w.len;
	return 0;
}

/* ---- decoder ---- */

struct rbuf {
	const uint8_t	*p;
	size_t		 len, off;
	int		 bad;
};

static int
r_take(struct rbuf *r, void *dst, size_t n)
{
	if (r->bad || n > r->len - r->off) {
		r->bad = 1;
		return -1;
	}
	if (n > 0)
		memcpy(dst, r->p + r->off, n);
	r->off += n;
	return 0;
}

static uint8_t
r_u8(struct rbuf *r)
{
	uint8_t v = 0;

	(void)r_take(r, &v, 1);
	return v;
}

static uint16_t
r_u16(struct rbuf *r)
{
	uint8_t b[2] = { 0, 0 };

	(void)r_take(r, b, 2);
	return (uint16_t)(b[0] << 8 | b[1]);
}

static uint32_t
r_u32(struct rbuf *r)
{
	uint8_t b[4] = { 0, 0, 0, 0 };

	(void)r_take(r, b, 4);
	return store_get_u32(b);
}

static uint64_t
r_u64(struct rbuf *r)
{
	uint64_t hi = r_u32(r);

	return hi << 32 | r_u32(r);
}

/* A string of n bytes into dst (dstsz > max), no control characters. */
static void
r_str(struct rbuf *r, size_t n, size_t max, char *dst)
{
	if (n > max) {
		r->bad = 1;
		return;
	}
	if (r_take(r, dst, n) != 0)
		return;
	dst[n] = '\0';
	if (!text_valid(dst, n))
		r->bad = 1;
}

static void
r_s8(struct rbuf *r, size_t max, char *dst)
{
	r_str(r, r_u8(r), max, dst);
}

static void
r_blob(struct rbuf *r, size_t min, uint8_t **dst, size_t *dlen)
{
	uint32_t n = r_u32(r);

	if (r->bad)
		return;
	if (n < min || n > CERTDB_DER_MAX || n > r->len - r->off) {
		r->bad = 1;
		return;
	}
	if (n == 0)
		return;
	if ((*dst = malloc(n)) == NULL) {
		r->bad = 1;
		return;
	}
	memcpy(*dst, r->p + r->off, n);
	*dlen = n;
	r->off += n;
}

int
certdb_record_decode(const uint8_t *buf, size_t len, struct certdb_cert *out)
{
	struct rbuf r = { buf, len, 0, 0 };
	size_t i, n;

	memset(out, 0, sizeof(*out));
	if (buf == NULL || len > CERTDB_RECORD_MAX)
		goto bad;
	if (r_u8(&r) != CERT_FMT)
		goto bad;
	if (r_take(&r, out->id, CERTDB_ID_LEN) != 0)
		goto bad;
	out->id[CERTDB_ID_LEN] = '\0';
	r_s8(&r, CAP_NAME_MAX, out->ca);
	r_s8(&r, CERTDB_PROFILE_MAX, out->profile);
	r_s8(&r, CERTDB_ID_LEN, out->key_id);
	r_s8(&r, CERTDB_KEYTYPE_MAX, out->key_type);
	r_str(&r, r_u16(&r), CERTDB_SUBJECT_MAX, out->subject);
	if ((n = r_u8(&r)) > CERTDB_SAN_MAX)
		goto bad;
	for (i = 0; i < n && !r.bad; i++)
		r_s8(&r, CERTDB_SAN_LEN, out->sans[i]);
	out->nsans = n;
	r_s8(&r, CERTDB_SERIAL_MAX, out->serial);
	out->created = r_u64(&r);
	out->not_before = r_u64(&r);
	out->not_after = r_u64(&r);
	out->validity = r_u64(&r);
	out->status = r_u8(&r);
	out->auto_renew = r_u8(&r);
	out->renew_fraction = r_u32(&r);
	out->alerts_sent = r_u32(&r);
	out->revoke_reason = r_u8(&r);
	out->revoked_at = r_u64(&r);
	r_blob(&r, 0, &out->der, &out->derlen);
	if ((n = r_u8(&r)) > CERTDB_CHAIN_MAX || r.bad)
		goto bad;
	for (i = 0; i < n && !r.bad; i++) {
		r_blob(&r, 1, &out->chain[i], &out->chainlen[i]);
		if (!r.bad)
			out->nchain = i + 1;
	}
	if ((n = r_u8(&r)) > CERTDB_HISTORY_MAX || r.bad)
		goto bad;
	for (i = 0; i < n && !r.bad; i++) {
		out->history[i].time = r_u64(&r);
		out->history[i].kind = r_u8(&r);
		out->history[i].detail = r_u64(&r);
		r_s8(&r, CERTDB_SERIAL_MAX, out->history[i].serial);
		r_s8(&r, CERTDB_ID_LEN, out->history[i].key_id);
	}
	out->nhistory = n;
	out->pending.op = r_u8(&r);
	if (!r.bad && out->pending.op != CERTDB_OP_NONE) {
		r_blob(&r, 1, &out->pending.csr, &out->pending.csrlen);
		r_s8(&r, CERTDB_ID_LEN, out->pending.key_id);
		r_s8(&r, CERTDB_PENDING_ID_MAX, out->pending.pending_id);
		out->pending.attempts = r_u32(&r);
		out->pending.next_try = r_u64(&r);
	}
	if (r.bad || r.off != r.len || !cert_valid(out))
		goto bad;
	return 0;
 bad:
	certdb_cert_clear(out);
	return CAP_ERR_CORRUPT;
}

/* ---- store ---- */

static void
exp_key(uint8_t out[EXPKEY_LEN], uint64_t not_after, const char *id)
{
	store_put_u32(out, (uint32_t)(not_after >> 32));
	store_put_u32(out + 4, (uint32_t)not_after);
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
	MDB_val k;
	int rc;

	exp_key(ek, old->not_after, old->id);
	k.mv_data = ek;
	k.mv_size = sizeof(ek);
	rc = mdb_del(txn, s->dbi_certs_exp, &k, NULL);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_mdb_err(rc, "mdb_del certs_exp");
	k.mv_data = ck;
	k.mv_size = ca_key(ck, old->ca, old->id);
	rc = mdb_del(txn, s->dbi_certs_ca, &k, NULL);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_mdb_err(rc, "mdb_del certs_ca");
	return 0;
}

static int
index_put(store *s, MDB_txn *txn, const struct certdb_cert *c)
{
	uint8_t ek[EXPKEY_LEN], ck[CAKEY_MAX];
	MDB_val k, d = { 0, NULL };
	int r;

	exp_key(ek, c->not_after, c->id);
	k.mv_data = ek;
	k.mv_size = sizeof(ek);
	if ((r = store_mdb_err(mdb_put(txn, s->dbi_certs_exp, &k, &d, 0),
	    "mdb_put certs_exp")) != 0)
		return r;
	k.mv_data = ck;
	k.mv_size = ca_key(ck, c->ca, c->id);
	return store_mdb_err(mdb_put(txn, s->dbi_certs_ca, &k, &d, 0),
	    "mdb_put certs_ca");
}

/* Reads the record of id inside txn into *out. */
static int
read_txn(store *s, MDB_txn *txn, const char *id, struct certdb_cert *out)
{
	MDB_val k, d;
	int r;

	memset(out, 0, sizeof(*out));
	k.mv_data = (void *)id;
	k.mv_size = CERTDB_ID_LEN;
	if ((r = store_mdb_err(mdb_get(txn, s->dbi_certs, &k, &d),
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
	MDB_val k, d;
	int r;

	if ((r = certdb_record_encode(c, &buf, &len)) != 0)
		return r;
	if (old != NULL && (r = index_del(s, txn, old)) != 0)
		goto out;
	k.mv_data = (void *)c->id;
	k.mv_size = CERTDB_ID_LEN;
	d.mv_data = buf;
	d.mv_size = len;
	if ((r = store_mdb_err(mdb_put(txn, s->dbi_certs, &k, &d, 0),
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
	MDB_val k;
	int r;

	if ((r = read_txn(s, txn, arg, &old)) != 0)
		return r;
	r = index_del(s, txn, &old);
	certdb_cert_clear(&old);
	if (r != 0)
		return r;
	k.mv_data = arg;
	k.mv_size = CERTDB_ID_LEN;
	return store_mdb_err(mdb_del(txn, s->dbi_certs, &k, NULL),
	    "mdb_del certs");
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

static int
list_txn(store *s, MDB_txn *txn, void *arg)
{
	struct list_arg *a = arg;
	MDB_cursor *cur = NULL;
	MDB_val k, d;
	uint64_t na;
	char id[CERTDB_ID_LEN + 1];
	const uint8_t *kp;
	int rc, r = 0, m;

	if ((rc = mdb_cursor_open(txn, s->dbi_certs_exp, &cur)) != 0)
		return store_mdb_err(rc, "mdb_cursor_open");
	for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
		if (k.mv_size != EXPKEY_LEN) {
			r = CAP_ERR_CORRUPT;
			goto out;
		}
		kp = k.mv_data;
		na = (uint64_t)store_get_u32(kp) << 32 | store_get_u32(kp + 4);
		if (a->f->not_after_max != 0) {
			if (na > a->f->not_after_max)
				break;
			if (na == 0)
				continue;	/* pending: no expiry yet */
		}
		memcpy(id, kp + 8, CERTDB_ID_LEN);
		id[CERTDB_ID_LEN] = '\0';
		if ((m = list_match(s, txn, a, id)) < 0) {
			r = m;
			goto out;
		}
		if (m == 0)
			continue;
		if ((r = store_names_push(&a->ids, &a->n, &a->cap, id,
		    CERTDB_ID_LEN)) != 0)
			goto out;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		r = store_mdb_err(rc, "mdb_cursor_get");
 out:
	mdb_cursor_close(cur);
	return r;
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
