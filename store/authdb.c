/*
 * auth.c - policies, bearer tokens and single-use references in the store.
 *
 * Record formats, every integer big-endian, each ending exactly after its
 * last field so that a record that decodes has one encoding:
 *
 * policy, format 1:
 *   u8   format (1)
 *   u8   document[1..STORE_POLICY_MAX], no NUL
 *
 * token, format 1:
 *   u8   format (1)
 *   u8   accessor[32], lowercase hex
 *   u64  created
 *   u64  expires (0 = never)
 *   u32  uses left (0 = unlimited)
 *   u32  flags (only STORE_TOKEN_* bits)
 *   u16  identity length (1..STORE_IDENTITY_MAX), identity bytes (no
 *        control characters)
 *   u8   policy count (0..STORE_TOKEN_POLICIES_MAX), then per policy
 *        u8 length (1..CAP_NAME_MAX) and a valid name
 *
 * reference, format 1:
 *   u8   format (1)
 *   u8   domain length, domain; u8 name length, name (valid names)
 *   u32  version (>= 1)
 *   u64  created
 *   u64  expires (0 = never)
 *   u32  uses left (>= 1)
 */
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "store/auth.h"
#include "store/codec.h"
#include "store/store.h"
#include "store/store_int.h"

#define POLICY_FMT		1
#define TOKEN_FMT		1
#define REF_FMT			1
#define TOKEN_FLAGS_KNOWN	STORE_TOKEN_REVOKED
#define REF_FIXED_LEN		(1 + 1 + 1 + 4 + 8 + 8 + 4)

#define EXPIRED(expires, now)	((expires) != 0 && (now) >= (expires))

/* ---- validation shared by the codec and the callers ---- */

int
store_accessor_valid(const char *s)
{
	size_t i;

	if (s == NULL)
		return 0;
	for (i = 0; i < STORE_ACCESSOR_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[i] == '\0';
}

/* An identity: 1..STORE_IDENTITY_MAX bytes, none a control character. */
static int
identity_valid(const char *s, size_t len)
{
	return len > 0 && len <= STORE_IDENTITY_MAX && store_text_valid(s, len);
}

static int
token_check(const struct store_token *t)
{
	size_t i;

	if (!store_accessor_valid(t->accessor) ||
	    !identity_valid(t->identity, strnlen(t->identity,
	    sizeof(t->identity))) ||
	    t->npolicies > STORE_TOKEN_POLICIES_MAX ||
	    (t->npolicies > 0 && t->policies == NULL) ||
	    (t->flags & ~(uint32_t)TOKEN_FLAGS_KNOWN) != 0)
		return CAP_ERR_INVALID;
	for (i = 0; i < t->npolicies; i++)
		if (!cap_name_valid(t->policies[i]))
			return CAP_ERR_INVALID;
	return 0;
}

static int
ref_check(const struct store_ref *r)
{
	if (!cap_name_valid(r->domain) || !cap_name_valid(r->name) ||
	    r->version == 0 || r->uses_left == 0)
		return CAP_ERR_INVALID;
	return 0;
}

/* ---- codec ---- */

void
store_token_free_fields(struct store_token *tok)
{
	size_t i;

	if (tok == NULL)
		return;
	if (tok->policies != NULL) {
		for (i = 0; i < tok->npolicies; i++)
			free(tok->policies[i]);
		free(tok->policies);
	}
	memset(tok, 0, sizeof(*tok));
}

void
store_token_list_free(struct store_token *v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		store_token_free_fields(&v[i]);
	free(v);
}

int
store_record_decode_token(const uint8_t *buf, size_t len,
    struct store_token *out)
{
	struct store_token t;
	struct store_rd r;
	char name[CAP_NAME_MAX + 1];
	uint8_t fmt, np;
	size_t i, il;
	int ret = CAP_ERR_CORRUPT;

	if (out == NULL)
		return CAP_ERR_INVALID;
	memset(out, 0, sizeof(*out));
	memset(&t, 0, sizeof(t));
	store_rd_init(&r, buf, len);
	if (store_rd_u8(&r, &fmt) != 0 || fmt != TOKEN_FMT ||
	    store_rd_bytes(&r, t.accessor, STORE_ACCESSOR_LEN) != 0 ||
	    !store_accessor_valid(t.accessor) ||
	    store_rd_u64(&r, &t.created) != 0 ||
	    store_rd_u64(&r, &t.expires) != 0 ||
	    store_rd_u32(&r, &t.uses_left) != 0 ||
	    store_rd_u32(&r, &t.flags) != 0 ||
	    (t.flags & ~(uint32_t)TOKEN_FLAGS_KNOWN) != 0)
		goto out;
	if (store_rd_str(&r, 2, 1, STORE_IDENTITY_MAX, t.identity, &il) != 0 ||
	    !identity_valid(t.identity, il))
		goto out;
	if (store_rd_u8(&r, &np) != 0 || np > STORE_TOKEN_POLICIES_MAX)
		goto out;
	if (np > 0 && (t.policies = calloc(np, sizeof(*t.policies))) == NULL) {
		ret = CAP_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < np; i++) {
		if (store_rd_name(&r, name) != 0)
			goto out;
		if ((t.policies[i] = strdup(name)) == NULL) {
			ret = CAP_ERR_NOMEM;
			goto out;
		}
		t.npolicies = i + 1;
	}
	if (store_rd_end(&r) != 0)
		goto out;
	*out = t;	/* policies transferred */
	memset(&t, 0, sizeof(t));
	ret = 0;
 out:
	store_token_free_fields(&t);
	return ret;
}

int
store_record_encode_token(const struct store_token *tok, uint8_t **buf,
    size_t *len)
{
	struct store_wr w;
	size_t i;
	int r;

	if (buf != NULL)
		*buf = NULL;
	if (len != NULL)
		*len = 0;
	if (tok == NULL || buf == NULL || len == NULL)
		return CAP_ERR_INVALID;
	if ((r = token_check(tok)) != 0)
		return r;
	store_wr_init(&w, 0, 0);
	store_wr_u8(&w, TOKEN_FMT);
	store_wr_bytes(&w, tok->accessor, STORE_ACCESSOR_LEN);
	store_wr_u64(&w, tok->created);
	store_wr_u64(&w, tok->expires);
	store_wr_u32(&w, tok->uses_left);
	store_wr_u32(&w, tok->flags);
	store_wr_str(&w, 2, tok->identity);
	store_wr_u8(&w, (uint8_t)tok->npolicies);
	for (i = 0; i < tok->npolicies; i++)
		store_wr_str(&w, 1, tok->policies[i]);
	return store_wr_finish(&w, buf, len);
}

int
store_record_decode_ref(const uint8_t *buf, size_t len, struct store_ref *out)
{
	struct store_ref rec;
	struct store_rd r;
	uint8_t fmt;

	if (out == NULL)
		return CAP_ERR_INVALID;
	memset(out, 0, sizeof(*out));
	memset(&rec, 0, sizeof(rec));
	store_rd_init(&r, buf, len);
	if (store_rd_u8(&r, &fmt) != 0 || fmt != REF_FMT ||
	    store_rd_name(&r, rec.domain) != 0 ||
	    store_rd_name(&r, rec.name) != 0 ||
	    store_rd_u32(&r, &rec.version) != 0 ||
	    store_rd_u64(&r, &rec.created) != 0 ||
	    store_rd_u64(&r, &rec.expires) != 0 ||
	    store_rd_u32(&r, &rec.uses_left) != 0 || store_rd_end(&r) != 0 ||
	    ref_check(&rec) != 0)
		return CAP_ERR_CORRUPT;
	*out = rec;
	return 0;
}

int
store_record_encode_ref(const struct store_ref *rec, uint8_t **buf,
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
	if ((r = ref_check(rec)) != 0)
		return r;
	store_wr_init(&w, REF_FIXED_LEN + 2 * CAP_NAME_MAX, 0);
	store_wr_u8(&w, REF_FMT);
	store_wr_str(&w, 1, rec->domain);
	store_wr_str(&w, 1, rec->name);
	store_wr_u32(&w, rec->version);
	store_wr_u64(&w, rec->created);
	store_wr_u64(&w, rec->expires);
	store_wr_u32(&w, rec->uses_left);
	return store_wr_finish(&w, buf, len);
}

static int
corrupt(const char *what)
{
	log_error("store: malformed %s", what);
	return CAP_ERR_CORRUPT;
}

/* ---- policies ---- */

struct policy_arg {
	const char	*name;
	const char	*doc;
	size_t		 len;
	char		*out;
	size_t		 outlen;
};

static int
policy_put_txn(store *s, MDB_txn *txn, void *arg)
{
	struct policy_arg *a = arg;
	MDB_val k, d;
	uint8_t *p;
	int rc;

	k.mv_data = (void *)a->name;
	k.mv_size = strlen(a->name);
	d.mv_data = NULL;
	d.mv_size = 1 + a->len;
	if ((rc = mdb_put(txn, s->dbi_policies, &k, &d, MDB_RESERVE)) != 0)
		return store_mdb_err(rc, "mdb_put policy");
	p = d.mv_data;
	p[0] = POLICY_FMT;
	memcpy(p + 1, a->doc, a->len);
	return 0;
}

int
store_policy_put(store *s, const char *name, const char *doc, size_t len)
{
	struct policy_arg a;

	if (s == NULL || !cap_name_valid(name) || doc == NULL || len == 0)
		return CAP_ERR_INVALID;
	if (len > STORE_POLICY_MAX)
		return CAP_ERR_TOO_LARGE;
	if (memchr(doc, '\0', len) != NULL)
		return CAP_ERR_INVALID;
	memset(&a, 0, sizeof(a));
	a.name = name;
	a.doc = doc;
	a.len = len;
	return store_txn_write(s, policy_put_txn, &a);
}

static int
policy_get_txn(store *s, MDB_txn *txn, void *arg)
{
	struct policy_arg *a = arg;
	const uint8_t *p;
	MDB_val d;
	size_t dl;
	int r;

	if ((r = store_get(txn, s->dbi_policies, a->name, strlen(a->name), &d,
	    "mdb_get policy")) != 0)
		return r;
	p = d.mv_data;
	if (d.mv_size < 2 || d.mv_size - 1 > STORE_POLICY_MAX ||
	    p[0] != POLICY_FMT)
		return corrupt("policy record");
	dl = d.mv_size - 1;
	if (memchr(p + 1, '\0', dl) != NULL)
		return corrupt("policy record");
	if ((a->out = malloc(dl + 1)) == NULL)
		return CAP_ERR_NOMEM;
	memcpy(a->out, p + 1, dl);
	a->out[dl] = '\0';
	a->outlen = dl;
	return 0;
}

int
store_policy_get(store *s, const char *name, char **doc, size_t *len)
{
	struct policy_arg a;
	int r;

	if (doc != NULL)
		*doc = NULL;
	if (len != NULL)
		*len = 0;
	if (s == NULL || !cap_name_valid(name) || doc == NULL || len == NULL)
		return CAP_ERR_INVALID;
	memset(&a, 0, sizeof(a));
	a.name = name;
	if ((r = store_txn_read(s, policy_get_txn, &a)) != 0) {
		free(a.out);
		return r;
	}
	*doc = a.out;	/* transferred */
	*len = a.outlen;
	return 0;
}

struct names_arg {
	char	**names;
	size_t	 n, cap;
};

static int
policy_list_txn(store *s, MDB_txn *txn, void *arg)
{
	struct names_arg *a = arg;

	return store_walk_names(txn, s->dbi_policies, NULL, 0, &a->names, &a->n,
	    &a->cap, "policy key");
}

int
store_policy_list(store *s, char ***names, size_t *n)
{
	struct names_arg a;
	int r;

	if (names != NULL)
		*names = NULL;
	if (n != NULL)
		*n = 0;
	if (s == NULL || names == NULL || n == NULL)
		return CAP_ERR_INVALID;
	memset(&a, 0, sizeof(a));
	if ((r = store_txn_read(s, policy_list_txn, &a)) != 0) {
		store_names_free(a.names, a.n);
		return r;
	}
	*names = a.names;	/* transferred */
	*n = a.n;
	return 0;
}

int
store_policy_delete(store *s, const char *name)
{
	if (s == NULL || !cap_name_valid(name))
		return CAP_ERR_INVALID;
	return store_del_one(s, s->dbi_policies, name, strlen(name),
	    "mdb_del policy");
}

/* ---- tokens ---- */

struct token_arg {
	const uint8_t		*hash;
	const char		*accessor;
	uint64_t		 now;
	int			 write;		/* use: consume in this txn */
	const uint8_t		*rec;		/* create: encoded record */
	size_t			 reclen;
	struct store_token	 tok;		/* copied out */
	struct store_token	*v;		/* list */
	size_t			 n, cap;
};

static int
token_create_txn(store *s, MDB_txn *txn, void *arg)
{
	struct token_arg *a = arg;
	int r;

	if ((r = store_put(txn, s->dbi_tokens, a->hash, STORE_AUTH_HASH_LEN,
	    a->rec, a->reclen, MDB_NOOVERWRITE, "mdb_put token")) != 0)
		return r;
	return store_put(txn, s->dbi_accessors, a->accessor, STORE_ACCESSOR_LEN,
	    a->hash, STORE_AUTH_HASH_LEN, MDB_NOOVERWRITE, "mdb_put accessor");
}

int
store_token_create(store *s, const struct store_token *tok,
    const uint8_t hash[STORE_AUTH_HASH_LEN])
{
	struct token_arg a;
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	if (s == NULL || tok == NULL || hash == NULL || tok->flags != 0)
		return CAP_ERR_INVALID;
	/* Encode (and so validate) before the transaction. */
	if ((r = store_record_encode_token(tok, &buf, &len)) != 0)
		return r;
	memset(&a, 0, sizeof(a));
	a.hash = hash;
	a.accessor = tok->accessor;
	a.rec = buf;
	a.reclen = len;
	r = store_txn_write(s, token_create_txn, &a);
	free(buf);
	return r;
}

/* Reads and decodes the token stored under hash into *tok. */
static int
token_read(store *s, MDB_txn *txn, const uint8_t *hash,
    struct store_token *tok)
{
	MDB_val d;
	int rc;

	if ((rc = store_get(txn, s->dbi_tokens, hash, STORE_AUTH_HASH_LEN, &d,
	    "mdb_get token")) != 0)
		return rc;
	rc = store_record_decode_token(d.mv_data, d.mv_size, tok);
	return rc == CAP_ERR_CORRUPT ? corrupt("token record") : rc;
}

static int
token_write(store *s, MDB_txn *txn, const uint8_t *hash,
    const struct store_token *tok)
{
	uint8_t *buf = NULL;
	size_t len;
	int r;

	if ((r = store_record_encode_token(tok, &buf, &len)) != 0)
		return r;
	r = store_put(txn, s->dbi_tokens, hash, STORE_AUTH_HASH_LEN, buf, len, 0,
	    "mdb_put token");
	free(buf);
	return r;
}

/* Removes a token and its accessor; a missing accessor is only logged. */
static int
token_remove(store *s, MDB_txn *txn, const uint8_t *hash,
    const char *accessor)
{
	int r;

	if ((r = store_del(txn, s->dbi_tokens, hash, STORE_AUTH_HASH_LEN,
	    "mdb_del token")) != 0)
		return r;
	r = store_del(txn, s->dbi_accessors, accessor, STORE_ACCESSOR_LEN,
	    "mdb_del accessor");
	if (r == CAP_ERR_NOT_FOUND) {
		log_warn("store: token without its accessor entry");
		r = 0;
	}
	return r;
}

static int
token_use_txn(store *s, MDB_txn *txn, void *arg)
{
	struct token_arg *a = arg;
	struct store_token next;
	int r;

	/* A body may run again after a map resize. */
	store_token_free_fields(&a->tok);
	r = token_read(s, txn, a->hash, &a->tok);
	if (r == CAP_ERR_NOT_FOUND)
		return CAP_ERR_UNAUTH;
	if (r != 0)
		return r;
	if ((a->tok.flags & STORE_TOKEN_REVOKED) != 0 ||
	    EXPIRED(a->tok.expires, a->now))
		return CAP_ERR_UNAUTH;
	if (!a->write || a->tok.uses_left == 0)
		return 0;
	if (a->tok.uses_left == 1)
		return token_remove(s, txn, a->hash, a->tok.accessor);
	/* A shallow copy: the policies stay a->tok's. */
	next = a->tok;
	next.uses_left--;
	return token_write(s, txn, a->hash, &next);
}

int
store_token_use(store *s, const uint8_t hash[STORE_AUTH_HASH_LEN],
    uint64_t now, struct store_token *out)
{
	struct token_arg a;
	int r;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (s == NULL || hash == NULL || out == NULL)
		return CAP_ERR_INVALID;
	memset(&a, 0, sizeof(a));
	a.hash = hash;
	a.now = now;
	/*
	 * Most tokens are unlimited: check those in a read transaction, and
	 * take the writer only for a token whose uses are counted.  The
	 * count is read again under the writer, so concurrent uses cannot
	 * both spend the same one.
	 */
	if ((r = store_txn_read(s, token_use_txn, &a)) != 0)
		goto out;
	if (a.tok.uses_left != 0) {
		a.write = 1;
		if ((r = store_txn_write(s, token_use_txn, &a)) != 0)
			goto out;
	}
	*out = a.tok;	/* transferred */
	memset(&a.tok, 0, sizeof(a.tok));
	r = 0;
 out:
	store_token_free_fields(&a.tok);
	return r;
}

/* Finds the hash an accessor names; CAP_ERR_NOT_FOUND if none. */
static int
accessor_read(store *s, MDB_txn *txn, const char *accessor,
    uint8_t hash[STORE_AUTH_HASH_LEN])
{
	MDB_val d;
	int r;

	if ((r = store_get(txn, s->dbi_accessors, accessor, STORE_ACCESSOR_LEN,
	    &d, "mdb_get accessor")) != 0)
		return r;
	if (d.mv_size != STORE_AUTH_HASH_LEN)
		return corrupt("accessor entry");
	memcpy(hash, d.mv_data, STORE_AUTH_HASH_LEN);
	return 0;
}

/* The token an accessor names, checked to carry that accessor. */
static int
token_by_accessor(store *s, MDB_txn *txn, const char *accessor,
    uint8_t hash[STORE_AUTH_HASH_LEN], struct store_token *tok)
{
	int r;

	if ((r = accessor_read(s, txn, accessor, hash)) != 0)
		return r;
	r = token_read(s, txn, hash, tok);
	if (r == CAP_ERR_NOT_FOUND)
		return corrupt("accessor entry (no token)");
	if (r != 0)
		return r;
	if (strcmp(tok->accessor, accessor) != 0) {
		store_token_free_fields(tok);
		return corrupt("accessor entry (other token)");
	}
	return 0;
}

static int
token_lookup_txn(store *s, MDB_txn *txn, void *arg)
{
	struct token_arg *a = arg;
	uint8_t hash[STORE_AUTH_HASH_LEN];

	return token_by_accessor(s, txn, a->accessor, hash, &a->tok);
}

int
store_token_lookup_accessor(store *s, const char *accessor,
    struct store_token *out)
{
	struct token_arg a;
	int r;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (s == NULL || out == NULL || !store_accessor_valid(accessor))
		return CAP_ERR_INVALID;
	memset(&a, 0, sizeof(a));
	a.accessor = accessor;
	if ((r = store_txn_read(s, token_lookup_txn, &a)) != 0) {
		store_token_free_fields(&a.tok);
		return r;
	}
	*out = a.tok;	/* transferred */
	return 0;
}

static int
token_revoke_txn(store *s, MDB_txn *txn, void *arg)
{
	struct token_arg *a = arg;
	uint8_t hash[STORE_AUTH_HASH_LEN];
	int r;

	store_token_free_fields(&a->tok);
	if ((r = token_by_accessor(s, txn, a->accessor, hash, &a->tok)) != 0)
		return r;
	if ((a->tok.flags & STORE_TOKEN_REVOKED) != 0)
		return 0;
	a->tok.flags |= STORE_TOKEN_REVOKED;
	return token_write(s, txn, hash, &a->tok);
}

int
store_token_revoke(store *s, const char *accessor)
{
	struct token_arg a;
	int r;

	if (s == NULL || !store_accessor_valid(accessor))
		return CAP_ERR_INVALID;
	memset(&a, 0, sizeof(a));
	a.accessor = accessor;
	r = store_txn_write(s, token_revoke_txn, &a);
	store_token_free_fields(&a.tok);
	return r;
}

static int
token_list_one(void *arg, const MDB_val *k, const MDB_val *d)
{
	struct token_arg *a = arg;
	struct store_token *nv;
	int r;

	if (k->mv_size != STORE_AUTH_HASH_LEN)
		return corrupt("token key");
	if ((nv = store_vec_grow(a->v, &a->cap, a->n, sizeof(*a->v))) == NULL)
		return CAP_ERR_NOMEM;
	a->v = nv;
	if ((r = store_record_decode_token(d->mv_data, d->mv_size,
	    &a->v[a->n])) != 0)
		return r == CAP_ERR_CORRUPT ? corrupt("token record") : r;
	a->n++;
	return 0;
}

static int
token_list_txn(store *s, MDB_txn *txn, void *arg)
{
	return store_walk(txn, s->dbi_tokens, NULL, 0, token_list_one, arg);
}

int
store_token_list(store *s, struct store_token **out, size_t *n)
{
	struct token_arg a;
	int r;

	if (out != NULL)
		*out = NULL;
	if (n != NULL)
		*n = 0;
	if (s == NULL || out == NULL || n == NULL)
		return CAP_ERR_INVALID;
	memset(&a, 0, sizeof(a));
	if ((r = store_txn_read(s, token_list_txn, &a)) != 0) {
		store_token_list_free(a.v, a.n);
		return r;
	}
	*out = a.v;	/* transferred */
	*n = a.n;
	return 0;
}

/*
 * Deletes, in one write transaction, every key of dbi whose record `dead`
 * says should go.  After each delete the cursor seeks afresh from a copy
 * of the deleted key rather than trust its position across the delete.
 */
typedef int (*sweep_fn)(store *s, MDB_txn *txn, const MDB_val *k,
    const MDB_val *d, uint64_t now, int *dead);

static int
sweep(store *s, MDB_txn *txn, MDB_dbi dbi, sweep_fn fn, uint64_t now,
    size_t *purged)
{
	uint8_t key[STORE_AUTH_HASH_LEN];
	MDB_cursor *cur = NULL;
	MDB_val k, d;
	int rc, r, dead;

	*purged = 0;
	if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
		return store_mdb_err(rc, "mdb_cursor_open");
	rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST);
	while (rc == 0) {
		if (k.mv_size != STORE_AUTH_HASH_LEN) {
			r = corrupt("hash key");
			goto out;
		}
		memcpy(key, k.mv_data, sizeof(key));
		if ((r = fn(s, txn, &k, &d, now, &dead)) != 0)
			goto out;
		if (!dead) {
			rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT);
			continue;
		}
		if ((rc = mdb_cursor_del(cur, 0)) != 0) {
			r = store_mdb_err(rc, "mdb_cursor_del");
			goto out;
		}
		(*purged)++;
		k.mv_data = key;
		k.mv_size = sizeof(key);
		rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
	}
	if (rc != MDB_NOTFOUND) {
		r = store_mdb_err(rc, "mdb_cursor_get");
		goto out;
	}
	r = 0;
 out:
	mdb_cursor_close(cur);
	return r;
}

static int
token_dead(store *s, MDB_txn *txn, const MDB_val *k, const MDB_val *d,
    uint64_t now, int *dead)
{
	struct store_token t;
	int r;

	(void)k;
	*dead = 0;
	if ((r = store_record_decode_token(d->mv_data, d->mv_size, &t)) != 0) {
		if (r != CAP_ERR_CORRUPT)
			return r;
		log_warn("store: skipping a malformed token record in purge");
		return 0;
	}
	if ((t.flags & STORE_TOKEN_REVOKED) != 0 || EXPIRED(t.expires, now)) {
		*dead = 1;
		r = store_del(txn, s->dbi_accessors, t.accessor,
		    STORE_ACCESSOR_LEN, "mdb_del accessor");
		if (r == CAP_ERR_NOT_FOUND)
			r = 0;
	}
	store_token_free_fields(&t);
	return r;
}

struct purge_arg {
	MDB_dbi		 dbi;
	sweep_fn	 fn;
	uint64_t	 now;
	size_t		 purged;
};

static int
purge_txn(store *s, MDB_txn *txn, void *arg)
{
	struct purge_arg *a = arg;

	return sweep(s, txn, a->dbi, a->fn, a->now, &a->purged);
}

/* One write transaction that sweeps dbi of what fn finds dead at now. */
static int
purge(store *s, MDB_dbi dbi, sweep_fn fn, uint64_t now, size_t *purged)
{
	struct purge_arg a = { dbi, fn, now, 0 };
	int r;

	if ((r = store_txn_write(s, purge_txn, &a)) != 0)
		return r;
	*purged = a.purged;
	return 0;
}

int
store_token_purge(store *s, uint64_t now, size_t *purged)
{
	if (purged != NULL)
		*purged = 0;
	if (s == NULL || purged == NULL)
		return CAP_ERR_INVALID;
	return purge(s, s->dbi_tokens, token_dead, now, purged);
}

/* ---- references ---- */

struct ref_arg {
	const uint8_t		*hash;
	uint64_t		 now;
	struct store_ref	 out;
	int			 gone;		/* redeem: deleted as expired */
};

int
store_ref_create(store *s, const uint8_t hash[STORE_AUTH_HASH_LEN],
    const struct store_ref *rec)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	if (s == NULL || hash == NULL || rec == NULL)
		return CAP_ERR_INVALID;
	if ((r = store_record_encode_ref(rec, &buf, &len)) != 0)
		return r;
	r = store_put_one(s, s->dbi_refs, hash, STORE_AUTH_HASH_LEN, buf, len,
	    MDB_NOOVERWRITE, "mdb_put ref");
	free(buf);
	return r;
}

static int
ref_redeem_txn(store *s, MDB_txn *txn, void *arg)
{
	struct ref_arg *a = arg;
	struct store_ref next;
	uint8_t *buf = NULL;
	MDB_val k, d;
	size_t len;
	int rc, r;

	a->gone = 0;
	memset(&a->out, 0, sizeof(a->out));
	k.mv_data = (void *)a->hash;
	k.mv_size = STORE_AUTH_HASH_LEN;
	rc = mdb_get(txn, s->dbi_refs, &k, &d);
	if (rc == MDB_NOTFOUND)
		return CAP_ERR_GONE;
	if (rc != 0)
		return store_mdb_err(rc, "mdb_get ref");
	if ((r = store_record_decode_ref(d.mv_data, d.mv_size, &a->out)) != 0)
		return r == CAP_ERR_CORRUPT ? corrupt("ref record") : r;
	if (EXPIRED(a->out.expires, a->now) || a->out.uses_left == 1) {
		/* Commit the delete; an expired one reports GONE after. */
		a->gone = EXPIRED(a->out.expires, a->now);
		return store_del(txn, s->dbi_refs, a->hash, STORE_AUTH_HASH_LEN,
		    "mdb_del ref");
	}
	next = a->out;
	next.uses_left--;
	if ((r = store_record_encode_ref(&next, &buf, &len)) != 0)
		return r;
	r = store_put(txn, s->dbi_refs, a->hash, STORE_AUTH_HASH_LEN, buf, len,
	    0, "mdb_put ref");
	free(buf);
	return r;
}

int
store_ref_redeem(store *s, const uint8_t hash[STORE_AUTH_HASH_LEN],
    uint64_t now, struct store_ref *out)
{
	struct ref_arg a;
	int r;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (s == NULL || hash == NULL || out == NULL)
		return CAP_ERR_INVALID;
	memset(&a, 0, sizeof(a));
	a.hash = hash;
	a.now = now;
	if ((r = store_txn_write(s, ref_redeem_txn, &a)) != 0)
		return r;
	if (a.gone)
		return CAP_ERR_GONE;
	*out = a.out;
	return 0;
}

static int
ref_dead(store *s, MDB_txn *txn, const MDB_val *k, const MDB_val *d,
    uint64_t now, int *dead)
{
	struct store_ref rec;

	(void)s;
	(void)txn;
	(void)k;
	*dead = 0;
	if (store_record_decode_ref(d->mv_data, d->mv_size, &rec) != 0) {
		log_warn("store: skipping a malformed ref record in purge");
		return 0;
	}
	*dead = EXPIRED(rec.expires, now);
	return 0;
}

int
store_ref_purge_expired(store *s, uint64_t now, size_t *purged)
{
	if (purged != NULL)
		*purged = 0;
	if (s == NULL || purged == NULL)
		return CAP_ERR_INVALID;
	return purge(s, s->dbi_refs, ref_dead, now, purged);
}
