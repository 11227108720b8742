/* test_store.c - the LMDB store: domains, versioned secrets, codec, growth,
 * concurrency and durability across a crash. */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lmdb.h>

#include "common/err.h"
#include "common/util.h"
#include "store/store.h"
#include "tests/unit/harness.h"

static const uint8_t wrapped1[40] = { 1, 2, 3, 4, 5, 6, 7, 8 };
static const uint8_t wrapped2[40] = { 9, 9, 9, 9 };

/* Fills a record whose bytes are a function of (seed, version). */
static void
rec_fill(struct store_secret *rec, uint8_t *ct, size_t ctlen, uint32_t seed,
    uint32_t version)
{
	size_t i;

	memset(rec, 0, sizeof(*rec));
	rec->meta.version = version;
	rec->meta.created = 1700000000ULL + version;
	rec->meta.key_version = 1;
	for (i = 0; i < STORE_NONCE_LEN; i++)
		rec->nonce[i] = (uint8_t)(seed + version + i);
	for (i = 0; i < ctlen; i++)
		ct[i] = (uint8_t)(seed * 131 + version * 31 + i * 7);
	rec->ct = ct;
	rec->ctlen = ctlen;
}

/* 1 if got is exactly what rec_fill made for (seed, version, ctlen). */
static int
rec_matches(const struct store_secret *got, size_t ctlen, uint32_t seed,
    uint32_t version)
{
	struct store_secret want;
	uint8_t *ct;
	int ok;

	if ((ct = malloc(ctlen)) == NULL)
		return 0;
	rec_fill(&want, ct, ctlen, seed, version);
	ok = got->meta.version == version &&
	    got->meta.created == want.meta.created &&
	    got->meta.key_version == 1 && got->meta.flags == 0 &&
	    memcmp(got->nonce, want.nonce, STORE_NONCE_LEN) == 0 &&
	    got->ctlen == ctlen && got->ct != NULL &&
	    memcmp(got->ct, ct, ctlen) == 0;
	free(ct);
	return ok;
}

static int
put_version(store *s, const char *d, const char *n, uint32_t seed,
    uint32_t version, size_t ctlen)
{
	struct store_secret rec;
	uint8_t *ct;
	int r;

	if ((ct = malloc(ctlen)) == NULL)
		return CAP_ERR_NOMEM;
	rec_fill(&rec, ct, ctlen, seed, version);
	r = store_secret_put(s, d, n, version - 1, &rec);
	free(ct);
	return r;
}

static int
has_name(char **names, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return 1;
	return 0;
}

static void
test_codec(void)
{
	struct store_secret rec, got, d2;
	uint8_t ct[48], *buf = NULL, *big = NULL;
	size_t len = 0, i;
	int bad = 0, r;

	rec_fill(&rec, ct, sizeof(ct), 7, 3);
	rec.meta.flags = STORE_SECRET_DELETED;
	TH_EQ_INT(store_record_encode_secret(&rec, &buf, &len), 0,
	    "codec: encode a valid record");
	if (buf == NULL)
		return;
	r = store_record_decode_secret(buf, len, &got);
	th_check(r == 0 && got.meta.version == 3 &&
	    got.meta.created == rec.meta.created &&
	    got.meta.key_version == 1 &&
	    got.meta.flags == STORE_SECRET_DELETED &&
	    memcmp(got.nonce, rec.nonce, STORE_NONCE_LEN) == 0 &&
	    got.ctlen == sizeof(ct) && memcmp(got.ct, ct, sizeof(ct)) == 0,
	    "codec: round trip keeps every field",
	    "decode returned %d or changed a field", r);
	free(got.ct);

	for (i = 0; i < len; i++) {
		if (store_record_decode_secret(buf, i, &got) != CAP_ERR_CORRUPT
		    || got.ct != NULL)
			bad++;
	}
	th_check(bad == 0, "codec: every truncation is rejected",
	    "%d of %zu truncations accepted", bad, len);

	if ((big = malloc(len + 1)) != NULL) {
		memcpy(big, buf, len);
		big[len] = 0;
		TH_EQ_INT(store_record_decode_secret(big, len + 1, &got),
		    CAP_ERR_CORRUPT, "codec: trailing byte is rejected");
		big[0] = 2;
		TH_EQ_INT(store_record_decode_secret(big, len, &got),
		    CAP_ERR_CORRUPT, "codec: unknown format is rejected");
		memcpy(big, buf, len);
		big[20] |= 0x80;	/* a flag bit nobody defined */
		TH_EQ_INT(store_record_decode_secret(big, len, &got),
		    CAP_ERR_CORRUPT, "codec: unknown flag is rejected");
		memcpy(big, buf, len);
		big[1] = big[2] = big[3] = big[4] = 0;
		TH_EQ_INT(store_record_decode_secret(big, len, &got),
		    CAP_ERR_CORRUPT, "codec: version 0 is rejected");
		memcpy(big, buf, len);
		big[33] = 0xff;		/* ciphertext length over the limit */
		TH_EQ_INT(store_record_decode_secret(big, len, &got),
		    CAP_ERR_CORRUPT, "codec: huge length is rejected");
		memcpy(big, buf, len);
		big[20] |= STORE_SECRET_DESTROYED;
		TH_EQ_INT(store_record_decode_secret(big, len, &got),
		    CAP_ERR_CORRUPT,
		    "codec: destroyed record with ciphertext is rejected");
		free(big);
	}
	TH_EQ_INT(store_record_decode_secret(NULL, 0, &got), CAP_ERR_CORRUPT,
	    "codec: empty input is rejected");
	free(buf);

	memset(&d2, 0, sizeof(d2));
	d2.meta.version = 9;
	d2.meta.flags = STORE_SECRET_DESTROYED;
	buf = NULL;
	r = store_record_encode_secret(&d2, &buf, &len);
	if (r == 0)
		r = store_record_decode_secret(buf, len, &got);
	th_check(r == 0 && got.ctlen == 0 && got.ct == NULL &&
	    got.meta.version == 9, "codec: destroyed record round trips",
	    "got %d", r);
	free(buf);
	rec.ctlen = (size_t)STORE_CT_MAX + 1;
	TH_EQ_INT(store_record_encode_secret(&rec, &buf, &len),
	    CAP_ERR_TOO_LARGE, "codec: encode refuses oversized ciphertext");
}

static void
test_domains(store *s)
{
	struct store_domain dom;
	char **names = NULL;
	uint8_t *w = NULL;
	size_t n = 0, wl = 0;
	uint32_t nv = 0;
	int mech = 0, r;

	TH_EQ_INT(store_domain_create(s, "payments", 100, wrapped1,
	    sizeof(wrapped1), 0x210A), 0, "domain: create");
	TH_EQ_INT(store_domain_create(s, "payments", 100, wrapped1,
	    sizeof(wrapped1), 0x210A), CAP_ERR_EXISTS,
	    "domain: second create is EXISTS");
	TH_EQ_INT(store_domain_create(s, "alpha", 101, wrapped1,
	    sizeof(wrapped1), 9), 0, "domain: create another");
	TH_EQ_INT(store_domain_create(s, "bad/name", 1, wrapped1,
	    sizeof(wrapped1), 9), CAP_ERR_INVALID,
	    "domain: invalid name is INVALID");
	TH_EQ_INT(store_domain_create(s, "big", 1, wrapped1,
	    STORE_WRAPPED_MAX + 1, 9), CAP_ERR_TOO_LARGE,
	    "domain: oversized wrapped key is TOO_LARGE");

	r = store_domain_get(s, "payments", &dom);
	th_check(r == 0 && strcmp(dom.name, "payments") == 0 &&
	    dom.created == 100 && dom.key_version == 1, "domain: get",
	    "r=%d created=%llu kv=%u", r, (unsigned long long)dom.created,
	    dom.key_version);
	TH_EQ_INT(store_domain_get(s, "nope", &dom), CAP_ERR_NOT_FOUND,
	    "domain: get missing is NOT_FOUND");

	r = store_domain_list(s, &names, &n);
	th_check(r == 0 && n == 2 && strcmp(names[0], "alpha") == 0 &&
	    strcmp(names[1], "payments") == 0, "domain: list is sorted",
	    "r=%d n=%zu", r, n);
	store_names_free(names, n);

	TH_EQ_INT(store_domain_add_key(s, "payments", 1, wrapped2,
	    sizeof(wrapped2), 0x210A, &nv), 0, "domain: add key");
	TH_EQ_INT(nv, 2, "domain: add key gives version 2");
	TH_EQ_INT(store_domain_add_key(s, "payments", 1, wrapped2,
	    sizeof(wrapped2), 0x210A, &nv), CAP_ERR_CONFLICT,
	    "domain: add key with stale version is CONFLICT");
	r = store_domain_get(s, "payments", &dom);
	TH_EQ_INT(dom.key_version, 2, "domain: key version is now 2");

	r = store_dkey_get(s, "payments", 1, &w, &wl, &mech);
	th_check(r == 0 && wl == sizeof(wrapped1) &&
	    memcmp(w, wrapped1, wl) == 0 && mech == 0x210A,
	    "domain: wrapped key 1 reads back", "r=%d len=%zu", r, wl);
	free(w);
	r = store_dkey_get(s, "payments", 0, &w, &wl, &mech);
	th_check(r == 0 && wl == sizeof(wrapped2) &&
	    memcmp(w, wrapped2, wl) == 0, "domain: key version 0 is current",
	    "r=%d len=%zu", r, wl);
	free(w);
	TH_EQ_INT(store_dkey_get(s, "payments", 3, &w, &wl, &mech),
	    CAP_ERR_NOT_FOUND, "domain: missing key version is NOT_FOUND");

	TH_EQ_INT(store_domain_delete(s, "alpha", 0), 0,
	    "domain: delete an empty domain");
	TH_EQ_INT(store_domain_get(s, "alpha", &dom), CAP_ERR_NOT_FOUND,
	    "domain: deleted domain is gone");
	TH_EQ_INT(store_dkey_get(s, "alpha", 1, &w, &wl, &mech),
	    CAP_ERR_NOT_FOUND, "domain: deleted domain's key is gone");
	TH_EQ_INT(store_domain_delete(s, "alpha", 0), CAP_ERR_NOT_FOUND,
	    "domain: delete missing is NOT_FOUND");
}

static void
test_secrets(store *s)
{
	struct store_secret_meta m, *vs = NULL;
	struct store_secret *got = NULL, rec;
	uint8_t ct[100];
	char **names = NULL;
	size_t n = 0, cnt = 0;
	uint32_t v, destroy_v[1];
	int ok, r;

	for (v = 1; v <= 3; v++)
		TH_EQ_INT(put_version(s, "payments", "db", 1, v, 50 + v), 0,
		    "secret: put versions 1..3");
	for (v = 1, ok = 1; v <= 3; v++) {
		if (store_secret_get(s, "payments", "db", v, &got) != 0 ||
		    !rec_matches(got, 50 + v, 1, v))
			ok = 0;
		store_secret_free(got);
		got = NULL;
	}
	th_check(ok, "secret: each version reads back byte for byte",
	    "a version differed");
	r = store_secret_get(s, "payments", "db", 0, &got);
	th_check(r == 0 && got->meta.version == 3,
	    "secret: version 0 reads the newest", "r=%d", r);
	store_secret_free(got);
	got = NULL;
	TH_EQ_INT(store_secret_get(s, "payments", "db", 4, &got),
	    CAP_ERR_NOT_FOUND, "secret: missing version is NOT_FOUND");
	TH_EQ_INT(store_secret_get(s, "payments", "zz", 0, &got),
	    CAP_ERR_NOT_FOUND, "secret: missing secret is NOT_FOUND");

	rec_fill(&rec, ct, sizeof(ct), 1, 3);
	TH_EQ_INT(store_secret_put(s, "payments", "db", 2, &rec),
	    CAP_ERR_CONFLICT, "secret: stale expected_latest is CONFLICT");
	rec_fill(&rec, ct, sizeof(ct), 1, 5);
	TH_EQ_INT(store_secret_put(s, "payments", "db", 3, &rec),
	    CAP_ERR_INVALID, "secret: version not latest+1 is INVALID");
	rec_fill(&rec, ct, sizeof(ct), 1, 1);
	TH_EQ_INT(store_secret_put(s, "nowhere", "db", 0, &rec),
	    CAP_ERR_NOT_FOUND, "secret: put into missing domain is NOT_FOUND");
	TH_EQ_INT(store_secret_put(s, "payments", "bad name", 0, &rec),
	    CAP_ERR_INVALID, "secret: invalid name is INVALID");
	TH_EQ_INT(store_secret_put(s, "payments", "db", 0, &rec),
	    CAP_ERR_CONFLICT, "secret: cas 0 on an existing secret is CONFLICT");

	TH_EQ_INT(put_version(s, "payments", "api", 2, 1, 20), 0,
	    "secret: put a second secret");
	/* "db.x" sorts right after "db": its versions must not mix in. */
	TH_EQ_INT(put_version(s, "payments", "db.x", 3, 1, 20), 0,
	    "secret: put a secret whose name extends another");
	r = store_secret_latest(s, "payments", "db", &m);
	th_check(r == 0 && m.version == 3, "secret: latest of db is 3",
	    "r=%d version=%u", r, m.version);
	r = store_secret_list(s, "payments", &names, &n);
	th_check(r == 0 && n == 3 && strcmp(names[0], "api") == 0 &&
	    strcmp(names[1], "db") == 0 && strcmp(names[2], "db.x") == 0,
	    "secret: list names in order", "r=%d n=%zu", r, n);
	store_names_free(names, n);
	TH_EQ_INT(store_secret_list(s, "nowhere", &names, &n),
	    CAP_ERR_NOT_FOUND, "secret: list of a missing domain is NOT_FOUND");

	TH_EQ_INT(store_secret_delete(s, "payments", "api"), 0,
	    "secret: delete");
	TH_EQ_INT(store_secret_delete(s, "payments", "api"), CAP_ERR_NOT_FOUND,
	    "secret: second delete is NOT_FOUND");
	TH_EQ_INT(store_secret_delete(s, "payments", "never"),
	    CAP_ERR_NOT_FOUND, "secret: delete missing is NOT_FOUND");
	r = store_secret_list(s, "payments", &names, &n);
	th_check(r == 0 && n == 2 && !has_name(names, n, "api"),
	    "secret: deleted secret is not listed", "r=%d n=%zu", r, n);
	store_names_free(names, n);
	r = store_secret_latest(s, "payments", "api", &m);
	th_check(r == 0 && (m.flags & STORE_SECRET_DELETED) != 0,
	    "secret: latest is flagged deleted", "r=%d flags=%u", r, m.flags);
	r = store_secret_get(s, "payments", "api", 1, &got);
	th_check(r == 0 && (got->meta.flags & STORE_SECRET_DELETED) &&
	    got->ctlen == 20, "secret: deleted version keeps its data",
	    "r=%d", r);
	store_secret_free(got);
	got = NULL;
	TH_EQ_INT(store_secret_count(s, "payments", &cnt), 0,
	    "secret: count");
	TH_EQ_INT(cnt, 2, "secret: count skips deleted");

	destroy_v[0] = 2;
	TH_EQ_INT(store_secret_destroy(s, "payments", "db", destroy_v, 1), 0,
	    "secret: destroy version 2");
	r = store_secret_get(s, "payments", "db", 2, &got);
	th_check(r == 0 && (got->meta.flags & STORE_SECRET_DESTROYED) &&
	    got->ct == NULL && got->ctlen == 0,
	    "secret: destroyed version has no ciphertext", "r=%d", r);
	store_secret_free(got);
	got = NULL;
	r = store_secret_get(s, "payments", "db", 3, &got);
	th_check(r == 0 && rec_matches(got, 53, 1, 3),
	    "secret: other versions survive a destroy", "r=%d", r);
	store_secret_free(got);
	got = NULL;
	TH_EQ_INT(store_secret_destroy(s, "payments", "db", NULL, 0), 0,
	    "secret: destroy all versions");
	r = store_secret_versions(s, "payments", "db", &vs, &n);
	ok = r == 0 && n == 3;
	for (v = 0; ok && v < n; v++)
		ok = vs[v].version == v + 1 &&
		    (vs[v].flags & STORE_SECRET_DESTROYED) != 0;
	th_check(ok, "secret: destroy keeps every version, flagged",
	    "r=%d n=%zu", r, n);
	free(vs);
	r = store_secret_list(s, "payments", &names, &n);
	th_check(r == 0 && n == 1 && strcmp(names[0], "db.x") == 0,
	    "secret: destroyed secret is not listed", "r=%d n=%zu", r, n);
	store_names_free(names, n);
	destroy_v[0] = 9;
	TH_EQ_INT(store_secret_destroy(s, "payments", "db", destroy_v, 1),
	    CAP_ERR_NOT_FOUND, "secret: destroy a missing version is NOT_FOUND");

	TH_EQ_INT(put_version(s, "payments", "db", 1, 3, 10), CAP_ERR_CONFLICT,
	    "secret: version numbers are not reused after destroy");
	TH_EQ_INT(put_version(s, "payments", "db", 1, 4, 10), 0,
	    "secret: next version after destroy is max+1");

	TH_EQ_INT(store_domain_delete(s, "payments", 0), CAP_ERR_CONFLICT,
	    "domain: delete with live secrets is CONFLICT");
	r = store_secret_get(s, "payments", "db", 4, &got);
	th_check(r == 0, "domain: refused delete changed nothing", "r=%d", r);
	store_secret_free(got);
	got = NULL;
}

static void
test_force_delete(store *s)
{
	struct store_secret_meta m;
	char **names = NULL;
	size_t n = 0;
	uint8_t *w = NULL;
	size_t wl;
	int mech;

	TH_EQ_INT(store_domain_create(s, "pay", 5, wrapped1, sizeof(wrapped1),
	    1), 0, "domain: create a neighbour sharing a prefix");
	TH_EQ_INT(put_version(s, "pay", "db", 9, 1, 16), 0,
	    "domain: neighbour gets a secret");
	TH_EQ_INT(store_domain_delete(s, "payments", 1), 0,
	    "domain: force delete with live secrets");
	TH_EQ_INT(store_secret_latest(s, "payments", "db", &m),
	    CAP_ERR_NOT_FOUND, "domain: force delete removed the secrets");
	TH_EQ_INT(store_secret_latest(s, "payments", "api", &m),
	    CAP_ERR_NOT_FOUND, "domain: force delete removed deleted secrets");
	TH_EQ_INT(store_dkey_get(s, "payments", 2, &w, &wl, &mech),
	    CAP_ERR_NOT_FOUND, "domain: force delete removed the keys");
	TH_EQ_INT(store_secret_latest(s, "pay", "db", &m), 0,
	    "domain: the neighbour keeps its secret");
	TH_EQ_INT(store_domain_create(s, "payments", 6, wrapped1,
	    sizeof(wrapped1), 1), 0, "domain: a deleted name can be reused");
	TH_EQ_INT(store_secret_list(s, "payments", &names, &n), 0,
	    "domain: reused domain lists");
	TH_EQ_INT(n, 0, "domain: reused domain starts empty");
	store_names_free(names, n);
}

static void
test_reopen(const char *dir)
{
	struct store_domain dom;
	struct store_secret *got = NULL;
	store *s = NULL;
	int r;

	TH_EQ_INT(store_open(dir, 0, 0, &s), 0, "reopen: open again");
	if (s == NULL)
		return;
	r = store_domain_get(s, "pay", &dom);
	th_check(r == 0 && dom.created == 5, "reopen: domain is there",
	    "r=%d", r);
	r = store_secret_get(s, "pay", "db", 1, &got);
	th_check(r == 0 && rec_matches(got, 16, 9, 1),
	    "reopen: secret is there byte for byte", "r=%d", r);
	store_secret_free(got);
	store_free(s);
}

static void
test_schema(void)
{
	const char *dir = th_tmpdir();
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	MDB_val k, d;
	uint8_t v[4] = { 0, 0, 0, STORE_SCHEMA_VERSION + 1 };
	store *s = NULL;
	int rc;

	if (dir == NULL || store_open(dir, 0, 1, &s) != 0) {
		th_check(0, "schema: set up", "could not create a store");
		return;
	}
	store_free(s);
	s = NULL;
	rc = mdb_env_create(&env);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(env, 8);
	if (rc == 0)
		rc = mdb_env_open(env, dir, 0, 0600);
	if (rc == 0)
		rc = mdb_txn_begin(env, NULL, 0, &txn);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "meta", 0, &dbi);
	if (rc == 0) {
		k.mv_data = "schema";
		k.mv_size = 6;
		d.mv_data = v;
		d.mv_size = 4;
		rc = mdb_put(txn, dbi, &k, &d, 0);
	}
	if (rc == 0)
		rc = mdb_txn_commit(txn);
	else if (txn != NULL)
		mdb_txn_abort(txn);
	mdb_env_close(env);
	TH_EQ_INT(rc, 0, "schema: bump the stored version");
	TH_EQ_INT(store_open(dir, 0, 1, &s), CAP_ERR_STORE,
	    "schema: a newer schema is refused");
	th_check(s == NULL, "schema: refused open returns no store", "got one");
	store_free(s);
}

static void
test_growth(void)
{
	const char *dir = th_tmpdir();
	struct store_secret *got = NULL;
	uint64_t map0 = 0, map1 = 0, used = 0;
	store *s = NULL;
	int i, fails = 0, bad = 0;
	char name[32];

	if (dir == NULL || store_open(dir, 64 * 1024, 1, &s) != 0) {
		th_check(0, "growth: open a 64 KiB store", "open failed");
		return;
	}
	(void)store_stat(s, &map0, &used);
	if (store_domain_create(s, "big", 1, wrapped1, sizeof(wrapped1), 1))
		fails++;
	for (i = 0; i < 2000; i++) {
		snprintf(name, sizeof(name), "s%02d", i % 40);
		if (put_version(s, "big", name, (uint32_t)i % 40,
		    (uint32_t)(i / 40 + 1), 4096) != 0)
			fails++;
	}
	TH_EQ_INT(fails, 0, "growth: 2000 puts of 4 KiB into a 64 KiB map");
	TH_EQ_INT(store_stat(s, &map1, &used), 0, "growth: stat");
	th_check(map0 <= 64 * 1024 && map1 > 2000ULL * 4096 && used <= map1,
	    "growth: the map grew", "map %llu -> %llu, used %llu",
	    (unsigned long long)map0, (unsigned long long)map1,
	    (unsigned long long)used);
	for (i = 0; i < 2000; i += 97) {
		snprintf(name, sizeof(name), "s%02d", i % 40);
		if (store_secret_get(s, "big", name, (uint32_t)(i / 40 + 1),
		    &got) != 0 || !rec_matches(got, 4096, (uint32_t)i % 40,
		    (uint32_t)(i / 40 + 1)))
			bad++;
		store_secret_free(got);
		got = NULL;
	}
	TH_EQ_INT(bad, 0, "growth: records read back after growing");
	store_free(s);
	s = NULL;
	TH_EQ_INT(store_open(dir, 64 * 1024, 1, &s), 0,
	    "growth: reopen with the small size");
	if (s != NULL) {
		(void)store_stat(s, &map0, &used);
		th_check(map0 >= map1, "growth: reopening keeps the grown map",
		    "map %llu after reopen, was %llu",
		    (unsigned long long)map0, (unsigned long long)map1);
		TH_EQ_INT(put_version(s, "big", "s00", 0, 51, 4096), 0,
		    "growth: write after reopening");
		store_free(s);
	}
}

#define T_SHARED	4
#define T_OWN		4
#define T_PUTS		40

struct worker {
	store		*s;
	int		 id;
	int		 shared;
	int		 errors;
	int		 conflicts;
};

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	struct store_secret_meta m;
	char name[32];
	uint32_t latest;
	int done = 0, r;

	if (w->shared)
		snprintf(name, sizeof(name), "shared");
	else
		snprintf(name, sizeof(name), "own%d", w->id);
	while (done < T_PUTS) {
		r = store_secret_latest(w->s, "conc", name, &m);
		if (r == CAP_ERR_NOT_FOUND)
			latest = 0;
		else if (r == 0)
			latest = m.version;
		else {
			w->errors++;
			break;
		}
		r = put_version(w->s, "conc", name, (uint32_t)w->id,
		    latest + 1, 1024);
		if (r == 0)
			done++;
		else if (r == CAP_ERR_CONFLICT)
			w->conflicts++;
		else {
			w->errors++;
			break;
		}
	}
	return NULL;
}

static void
test_threads(void)
{
	const char *dir = th_tmpdir();
	struct worker w[T_SHARED + T_OWN];
	pthread_t th[T_SHARED + T_OWN];
	struct store_secret_meta *vs = NULL;
	store *s = NULL;
	size_t n = 0, i;
	int errors = 0, ok, r;
	char name[32];

	/* A small map, so the writers also race the map growth. */
	if (dir == NULL || store_open(dir, 64 * 1024, 1, &s) != 0 ||
	    store_domain_create(s, "conc", 1, wrapped1, sizeof(wrapped1), 1)) {
		th_check(0, "threads: set up", "could not create a store");
		store_free(s);
		return;
	}
	for (i = 0; i < T_SHARED + T_OWN; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].s = s;
		w[i].id = (int)i;
		w[i].shared = i < T_SHARED;
		if (pthread_create(&th[i], NULL, worker_run, &w[i]) != 0) {
			th_check(0, "threads: start", "pthread_create failed");
			exit(1);
		}
	}
	for (i = 0; i < T_SHARED + T_OWN; i++) {
		pthread_join(th[i], NULL);
		errors += w[i].errors;
	}
	TH_EQ_INT(errors, 0, "threads: no write failed except by CONFLICT");
	r = store_secret_versions(s, "conc", "shared", &vs, &n);
	ok = r == 0 && n == T_SHARED * T_PUTS;
	for (i = 0; ok && i < n; i++)
		ok = vs[i].version == i + 1;
	th_check(ok, "threads: shared secret has every version once",
	    "r=%d expected %d versions, got %zu", r, T_SHARED * T_PUTS, n);
	free(vs);
	for (i = 0, ok = 1; i < T_OWN; i++) {
		snprintf(name, sizeof(name), "own%zu", i + T_SHARED);
		vs = NULL;
		if (store_secret_versions(s, "conc", name, &vs, &n) != 0 ||
		    n != T_PUTS)
			ok = 0;
		free(vs);
	}
	th_check(ok, "threads: each own secret has its versions",
	    "a count differed");
	store_free(s);
}

/*
 * Another process grows the map while this one has the store open: the
 * next transaction here must adopt the new size (MDB_MAP_RESIZED).
 */
static void
test_other_process_grows(void)
{
	const char *dir = th_tmpdir();
	struct store_secret *got = NULL;
	uint64_t map0 = 0, map1 = 0, used;
	store *s = NULL, *c = NULL;
	int status, r;
	uint32_t v;
	pid_t pid;

	if (dir == NULL || store_open(dir, 64 * 1024, 1, &s) != 0 ||
	    store_domain_create(s, "mp", 1, wrapped1, sizeof(wrapped1), 1)) {
		th_check(0, "resized: set up", "could not create a store");
		store_free(s);
		return;
	}
	(void)store_stat(s, &map0, &used);
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) < 0) {
		th_check(0, "resized: fork", "%s", strerror(errno));
		store_free(s);
		return;
	}
	if (pid == 0) {
		/* The parent's handle is not touched here. */
		if (store_open(dir, 64 * 1024, 1, &c) != 0)
			_exit(2);
		for (v = 1; v <= 300; v++)
			if (put_version(c, "mp", "k", 4, v, 4096) != 0)
				_exit(3);
		store_free(c);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	TH_EQ_INT(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0,
	    "resized: another process wrote 300 versions");
	r = store_secret_get(s, "mp", "k", 300, &got);
	th_check(r == 0 && rec_matches(got, 4096, 4, 300),
	    "resized: this process reads past its old map", "r=%d", r);
	store_secret_free(got);
	TH_EQ_INT(put_version(s, "mp", "k", 4, 301, 4096), 0,
	    "resized: this process writes after the resize");
	(void)store_stat(s, &map1, &used);
	th_check(map1 > map0 && used <= map1,
	    "resized: this process adopted the larger map",
	    "map %llu -> %llu", (unsigned long long)map0,
	    (unsigned long long)map1);
	store_free(s);
}

/* Reads one acknowledged version from fd; 0 on EOF, -1 on timeout. */
static int
read_ack(int fd, uint32_t *v, int timeout_ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	size_t got = 0;
	ssize_t k;

	while (got < sizeof(*v)) {
		if (poll(&p, 1, timeout_ms) <= 0)
			return -1;
		k = read(fd, (uint8_t *)v + got, sizeof(*v) - got);
		if (k == 0)
			return 0;
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)k;
	}
	return 1;
}

static void
test_crash(void)
{
	const char *dir = th_tmpdir();
	struct store_secret *got = NULL;
	struct store_secret_meta m;
	store *s = NULL;
	uint32_t v, acked = 0;
	int fds[2], status, bad = 0, r;
	pid_t pid;

	if (dir == NULL || store_open(dir, 0, 0, &s) != 0 ||
	    store_domain_create(s, "crash", 1, wrapped1, sizeof(wrapped1), 1)) {
		th_check(0, "crash: set up", "could not create a store");
		store_free(s);
		return;
	}
	store_free(s);
	s = NULL;
	if (pipe(fds) != 0) {
		th_check(0, "crash: pipe", "%s", strerror(errno));
		return;
	}
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) < 0) {
		th_check(0, "crash: fork", "%s", strerror(errno));
		return;
	}
	if (pid == 0) {
		/* Durable writes; each version is acknowledged once stored. */
		close(fds[0]);
		if (store_open(dir, 0, 0, &s) != 0)
			_exit(2);
		for (v = 1; v < 1000000; v++) {
			if (put_version(s, "crash", "k", 5, v, 200) != 0)
				_exit(3);
			if (write(fds[1], &v, sizeof(v)) != sizeof(v))
				_exit(4);
		}
		_exit(0);
	}
	close(fds[1]);
	while (acked < 40 && (r = read_ack(fds[0], &v, 20000)) == 1)
		acked = v;
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	/* Acknowledgements already in the pipe count too. */
	while (read_ack(fds[0], &v, 1000) == 1)
		acked = v;
	close(fds[0]);
	th_check(WIFSIGNALED(status) && acked >= 40,
	    "crash: child killed mid-stream", "acked %u, status %d", acked,
	    status);

	TH_EQ_INT(store_open(dir, 0, 0, &s), 0, "crash: reopen after SIGKILL");
	if (s == NULL)
		return;
	r = store_secret_latest(s, "crash", "k", &m);
	th_check(r == 0 && m.version >= acked,
	    "crash: latest is at least the last acknowledged",
	    "r=%d latest=%u acked=%u", r, m.version, acked);
	for (v = 1; v <= acked; v++) {
		if (store_secret_get(s, "crash", "k", v, &got) != 0 ||
		    !rec_matches(got, 200, 5, v))
			bad++;
		store_secret_free(got);
		got = NULL;
	}
	th_check(bad == 0, "crash: every acknowledged version is intact",
	    "%d of %u missing or damaged", bad, acked);
	TH_EQ_INT(put_version(s, "crash", "k", 5, m.version + 1, 200), 0,
	    "crash: the store takes writes after recovery");
	store_free(s);
}

int
main(void)
{
	const char *dir;
	store *s = NULL;

	test_codec();

	if ((dir = th_tmpdir()) == NULL) {
		th_check(0, "open: temp dir", "th_tmpdir failed");
		return th_done();
	}
	TH_EQ_INT(store_open(dir, 0, 1, &s), 0, "open: create a store");
	if (s != NULL) {
		test_domains(s);
		test_secrets(s);
		test_force_delete(s);
		store_free(s);
		test_reopen(dir);
	}
	store_free(NULL);
	test_schema();
	test_growth();
	test_threads();
	test_other_process_grows();
	test_crash();
	return th_done();
}
