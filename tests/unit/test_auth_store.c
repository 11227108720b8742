/*
 * test_auth_store.c - policies, bearer tokens and single-use references in
 * the store: lifetimes, use counts, revocation, concurrency, purging and
 * durability across reopen.
 */
#include <sys/stat.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/err.h"
#include "common/util.h"
#include "crypto/token.h"
#include "store/auth.h"
#include "store/store.h"
#include "tests/unit/harness.h"

#define NOW		1700000000ULL
#define N_THREADS	20

/* A token made for a test: the clear string and what the store keys on. */
struct tk {
	char	clear[TOKEN_STR_SIZE];
	uint8_t	hash[STORE_AUTH_HASH_LEN];
	char	accessor[TOKEN_ACCESSOR_SIZE];
};

static char *pol_a[] = { "payments-read", "ops" };

static int
tk_new(struct tk *t, int ref)
{
	memset(t, 0, sizeof(*t));
	if ((ref ? ref_new(t->clear) : token_new(t->clear)) != 0 ||
	    token_hash(t->clear, t->hash) != 0 ||
	    token_accessor_new(t->accessor) != 0)
		return -1;
	return 0;
}

static void
tok_fill(struct store_token *rec, const struct tk *t, const char *identity,
    uint64_t expires, uint32_t uses)
{
	memset(rec, 0, sizeof(*rec));
	memcpy(rec->accessor, t->accessor, sizeof(rec->accessor));
	snprintf(rec->identity, sizeof(rec->identity), "%s", identity);
	rec->policies = pol_a;
	rec->npolicies = 2;
	rec->created = NOW;
	rec->expires = expires;
	rec->uses_left = uses;
}

static int
create_token(store *s, struct tk *t, const char *identity, uint64_t expires,
    uint32_t uses)
{
	struct store_token rec;

	if (tk_new(t, 0) != 0)
		return CAP_ERR_INTERNAL;
	tok_fill(&rec, t, identity, expires, uses);
	return store_token_create(s, &rec, t->hash);
}

static void
ref_fill(struct store_ref *rec, const char *name, uint64_t expires,
    uint32_t uses)
{
	memset(rec, 0, sizeof(*rec));
	snprintf(rec->domain, sizeof(rec->domain), "payments");
	snprintf(rec->name, sizeof(rec->name), "%s", name);
	rec->version = 3;
	rec->created = NOW;
	rec->expires = expires;
	rec->uses_left = uses;
}

static int
create_ref(store *s, struct tk *t, const char *name, uint64_t expires,
    uint32_t uses)
{
	struct store_ref rec;

	if (tk_new(t, 1) != 0)
		return CAP_ERR_INTERNAL;
	ref_fill(&rec, name, expires, uses);
	return store_ref_create(s, t->hash, &rec);
}

/* ---- policies ---- */

static void
test_policies(store *s)
{
	static const char doc1[] = "{\"identities\":[\"CN=svc-a\"],\"rules\":"
	    "[{\"domains\":\"payments\",\"capabilities\":[\"read\"]}]}";
	static const char doc2[] = "{\"rules\":[]}";
	char **names = NULL, *doc = NULL, *big;
	size_t n = 0, len = 0;
	int r;

	TH_EQ_INT(store_policy_put(s, "payments-read", doc1, strlen(doc1)), 0,
	    "policy: put");
	TH_EQ_INT(store_policy_put(s, "admin", doc2, strlen(doc2)), 0,
	    "policy: put another");
	r = store_policy_get(s, "payments-read", &doc, &len);
	th_check(r == 0 && len == strlen(doc1) && strcmp(doc, doc1) == 0,
	    "policy: get returns the document as given",
	    "r=%d len=%zu", r, len);
	free(doc);
	doc = NULL;
	TH_EQ_INT(store_policy_put(s, "payments-read", doc2, strlen(doc2)), 0,
	    "policy: put replaces");
	r = store_policy_get(s, "payments-read", &doc, &len);
	th_check(r == 0 && strcmp(doc, doc2) == 0, "policy: get the new one",
	    "r=%d", r);
	free(doc);
	doc = NULL;
	r = store_policy_list(s, &names, &n);
	th_check(r == 0 && n == 2 && strcmp(names[0], "admin") == 0 &&
	    strcmp(names[1], "payments-read") == 0, "policy: list sorted",
	    "r=%d n=%zu", r, n);
	store_names_free(names, n);
	TH_EQ_INT(store_policy_delete(s, "admin"), 0, "policy: delete");
	TH_EQ_INT(store_policy_delete(s, "admin"), CAP_ERR_NOT_FOUND,
	    "policy: delete twice is NOT_FOUND");
	TH_EQ_INT(store_policy_get(s, "admin", &doc, &len), CAP_ERR_NOT_FOUND,
	    "policy: get deleted is NOT_FOUND");
	th_check(doc == NULL && len == 0, "policy: failed get returns nothing",
	    "output set");
	TH_EQ_INT(store_policy_put(s, "bad/name", doc2, strlen(doc2)),
	    CAP_ERR_INVALID, "policy: bad name rejected");
	TH_EQ_INT(store_policy_put(s, "p", doc2, 0), CAP_ERR_INVALID,
	    "policy: empty document rejected");
	TH_EQ_INT(store_policy_put(s, "p", "a\0b", 3), CAP_ERR_INVALID,
	    "policy: document with NUL rejected");
	if ((big = malloc(STORE_POLICY_MAX + 1)) == NULL)
		return;
	memset(big, ' ', STORE_POLICY_MAX + 1);
	TH_EQ_INT(store_policy_put(s, "big", big, STORE_POLICY_MAX + 1),
	    CAP_ERR_TOO_LARGE, "policy: 64 KiB + 1 is TOO_LARGE");
	TH_EQ_INT(store_policy_put(s, "big", big, STORE_POLICY_MAX), 0,
	    "policy: exactly 64 KiB accepted");
	r = store_policy_get(s, "big", &doc, &len);
	th_check(r == 0 && len == STORE_POLICY_MAX &&
	    memcmp(doc, big, len) == 0, "policy: 64 KiB read back",
	    "r=%d len=%zu", r, len);
	free(doc);
	free(big);
}

/* ---- tokens ---- */

static void
test_token_basic(store *s, struct tk *keep)
{
	struct store_token rec, out;
	struct tk t2;
	int r;

	TH_EQ_INT(create_token(s, keep, "CN=svc-a,O=Example", 0, 0), 0,
	    "token: create unlimited");
	r = store_token_use(s, keep->hash, NOW, &out);
	th_check(r == 0 && strcmp(out.identity, "CN=svc-a,O=Example") == 0 &&
	    strcmp(out.accessor, keep->accessor) == 0 && out.npolicies == 2 &&
	    strcmp(out.policies[0], "payments-read") == 0 &&
	    strcmp(out.policies[1], "ops") == 0 && out.uses_left == 0 &&
	    out.created == NOW && out.flags == 0,
	    "token: use returns the record", "r=%d", r);
	store_token_free_fields(&out);
	r = store_token_use(s, keep->hash, NOW + 1000000, &out);
	TH_EQ_INT(r, 0, "token: unlimited token keeps working");
	store_token_free_fields(&out);

	/* Same hash, or same accessor: refused, nothing half-written. */
	tok_fill(&rec, keep, "x", 0, 0);
	if (tk_new(&t2, 0) == 0)
		memcpy(rec.accessor, t2.accessor, sizeof(rec.accessor));
	TH_EQ_INT(store_token_create(s, &rec, keep->hash), CAP_ERR_EXISTS,
	    "token: hash collision is EXISTS");
	TH_EQ_INT(store_token_lookup_accessor(s, t2.accessor, &out),
	    CAP_ERR_NOT_FOUND, "token: a refused create leaves no accessor");
	tok_fill(&rec, keep, "x", 0, 0);
	TH_EQ_INT(store_token_create(s, &rec, t2.hash), CAP_ERR_EXISTS,
	    "token: accessor collision is EXISTS");
	TH_EQ_INT(store_token_use(s, t2.hash, NOW, &out), CAP_ERR_UNAUTH,
	    "token: a refused create leaves no token");

	TH_EQ_INT(store_token_use(s, t2.hash, NOW, &out), CAP_ERR_UNAUTH,
	    "token: unknown hash is UNAUTH");
	th_check(out.policies == NULL && out.identity[0] == '\0',
	    "token: failed use returns nothing", "output set");

	/* Malformed records are refused before the store sees them. */
	tk_new(&t2, 0);
	tok_fill(&rec, &t2, "svc", 0, 0);
	rec.accessor[0] = 'G';
	TH_EQ_INT(store_token_create(s, &rec, t2.hash), CAP_ERR_INVALID,
	    "token: non-hex accessor rejected");
	tok_fill(&rec, &t2, "", 0, 0);
	TH_EQ_INT(store_token_create(s, &rec, t2.hash), CAP_ERR_INVALID,
	    "token: empty identity rejected");
	tok_fill(&rec, &t2, "svc\nx", 0, 0);
	TH_EQ_INT(store_token_create(s, &rec, t2.hash), CAP_ERR_INVALID,
	    "token: control character in identity rejected");
	tok_fill(&rec, &t2, "svc", 0, 0);
	rec.npolicies = STORE_TOKEN_POLICIES_MAX + 1;
	TH_EQ_INT(store_token_create(s, &rec, t2.hash), CAP_ERR_INVALID,
	    "token: 33 policies rejected");
	tok_fill(&rec, &t2, "svc", 0, 0);
	rec.flags = STORE_TOKEN_REVOKED;
	TH_EQ_INT(store_token_create(s, &rec, t2.hash), CAP_ERR_INVALID,
	    "token: a new token must not be revoked");
	{
		char *badp[] = { "ok", "no way" };

		tok_fill(&rec, &t2, "svc", 0, 0);
		rec.policies = badp;
		TH_EQ_INT(store_token_create(s, &rec, t2.hash),
		    CAP_ERR_INVALID, "token: bad policy name rejected");
	}
	sodium_memzero(&t2, sizeof(t2));
}

static void
test_token_ttl_uses(store *s, struct tk *three)
{
	struct store_token out;
	struct tk t;
	int r, i, ok;

	TH_EQ_INT(create_token(s, &t, "ttl", NOW + 60, 0), 0,
	    "ttl: create a 60 s token");
	r = store_token_use(s, t.hash, NOW + 59, &out);
	TH_EQ_INT(r, 0, "ttl: usable before expiry");
	store_token_free_fields(&out);
	TH_EQ_INT(store_token_use(s, t.hash, NOW + 60, &out), CAP_ERR_UNAUTH,
	    "ttl: expired at its expiry time is UNAUTH");
	TH_EQ_INT(store_token_use(s, t.hash, NOW + 3600, &out), CAP_ERR_UNAUTH,
	    "ttl: expired later is UNAUTH");

	TH_EQ_INT(create_token(s, three, "three", NOW + 3600, 3), 0,
	    "uses: create a 3-use token");
	for (i = 0, ok = 1; i < 3; i++) {
		r = store_token_use(s, three->hash, NOW, &out);
		if (r != 0 || out.uses_left != (uint32_t)(3 - i))
			ok = 0;
		store_token_free_fields(&out);
	}
	th_check(ok, "uses: works 3 times, counting down",
	    "a use failed or reported the wrong count");
	TH_EQ_INT(store_token_use(s, three->hash, NOW, &out), CAP_ERR_UNAUTH,
	    "uses: the 4th use is UNAUTH");
	TH_EQ_INT(store_token_lookup_accessor(s, three->accessor, &out),
	    CAP_ERR_NOT_FOUND, "uses: a used-up token is gone with its accessor");

	/* 3 uses left and expired: the expiry wins and nothing is spent. */
	TH_EQ_INT(create_token(s, &t, "ttl-uses", NOW + 10, 3), 0,
	    "uses: create an expiring counted token");
	TH_EQ_INT(store_token_use(s, t.hash, NOW + 10, &out), CAP_ERR_UNAUTH,
	    "uses: expired counted token is UNAUTH");
	r = store_token_lookup_accessor(s, t.accessor, &out);
	th_check(r == 0 && out.uses_left == 3,
	    "uses: a refused use spends nothing", "r=%d uses_left=%u", r,
	    out.uses_left);
	store_token_free_fields(&out);
	sodium_memzero(&t, sizeof(t));
}

static void
test_token_revoke(store *s, struct tk *revoked)
{
	struct store_token out;
	int r;

	TH_EQ_INT(create_token(s, revoked, "to-revoke", 0, 0), 0,
	    "revoke: create");
	r = store_token_use(s, revoked->hash, NOW, &out);
	TH_EQ_INT(r, 0, "revoke: usable before");
	store_token_free_fields(&out);
	TH_EQ_INT(store_token_revoke(s, revoked->accessor), 0,
	    "revoke: by accessor");
	TH_EQ_INT(store_token_use(s, revoked->hash, NOW, &out), CAP_ERR_UNAUTH,
	    "revoke: a revoked token is UNAUTH");
	r = store_token_lookup_accessor(s, revoked->accessor, &out);
	th_check(r == 0 && (out.flags & STORE_TOKEN_REVOKED) != 0 &&
	    strcmp(out.identity, "to-revoke") == 0,
	    "revoke: lookup shows it revoked", "r=%d flags=%u", r, out.flags);
	store_token_free_fields(&out);
	TH_EQ_INT(store_token_revoke(s, revoked->accessor), 0,
	    "revoke: revoking twice succeeds");
	TH_EQ_INT(store_token_revoke(s, "00000000000000000000000000000000"),
	    CAP_ERR_NOT_FOUND, "revoke: unknown accessor is NOT_FOUND");
	TH_EQ_INT(store_token_revoke(s, "ABC"), CAP_ERR_INVALID,
	    "revoke: malformed accessor is INVALID");
	TH_EQ_INT(store_token_lookup_accessor(s,
	    "0000000000000000000000000000000G", &out), CAP_ERR_INVALID,
	    "lookup: malformed accessor is INVALID");
}

static void
test_token_list(store *s, const struct tk *known, size_t nknown)
{
	struct store_token *v = NULL;
	size_t n = 0, i, j, found = 0, leaks = 0, bad = 0;
	int r;

	r = store_token_list(s, &v, &n);
	TH_EQ_INT(r, 0, "list: tokens");
	for (i = 0; i < n; i++) {
		if (!store_accessor_valid(v[i].accessor))
			bad++;
		for (j = 0; j < nknown; j++) {
			if (strcmp(v[i].accessor, known[j].accessor) == 0)
				found++;
			if (memmem(&v[i], sizeof(v[i]), known[j].hash,
			    STORE_AUTH_HASH_LEN) != NULL ||
			    memmem(&v[i], sizeof(v[i]), known[j].clear,
			    TOKEN_STR_LEN) != NULL)
				leaks++;
		}
	}
	TH_EQ_INT(bad, 0, "list: every entry has a valid accessor");
	TH_EQ_INT(found, nknown, "list: shows the accessors of live tokens");
	TH_EQ_INT(leaks, 0, "list: no entry carries a hash or a token");
	store_token_list_free(v, n);
}

/* Tokens and references with uses, used from many threads at once. */
struct racer {
	store			*s;
	const uint8_t		*hash;
	int			 ref;
	pthread_barrier_t	*start;
	int			 ok, refused, errors;
};

static void *
racer_run(void *arg)
{
	struct racer *w = arg;
	struct store_token tok;
	struct store_ref rec;
	int r;

	pthread_barrier_wait(w->start);
	if (w->ref) {
		r = store_ref_redeem(w->s, w->hash, NOW, &rec);
		if (r == 0)
			w->ok++;
		else if (r == CAP_ERR_GONE)
			w->refused++;
		else
			w->errors++;
	} else {
		r = store_token_use(w->s, w->hash, NOW, &tok);
		if (r == 0)
			w->ok++;
		else if (r == CAP_ERR_UNAUTH)
			w->refused++;
		else
			w->errors++;
		store_token_free_fields(&tok);
	}
	return NULL;
}

/* Runs N_THREADS racers on hash; returns how many succeeded. */
static int
race(store *s, const uint8_t *hash, int ref, int *refused, int *errors)
{
	struct racer w[N_THREADS];
	pthread_t th[N_THREADS];
	pthread_barrier_t start;
	int i, ok = 0;

	*refused = *errors = 0;
	pthread_barrier_init(&start, NULL, N_THREADS);
	for (i = 0; i < N_THREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].s = s;
		w[i].hash = hash;
		w[i].ref = ref;
		w[i].start = &start;
		if (pthread_create(&th[i], NULL, racer_run, &w[i]) != 0) {
			th_check(0, "race: start", "pthread_create failed");
			exit(1);
		}
	}
	for (i = 0; i < N_THREADS; i++) {
		pthread_join(th[i], NULL);
		ok += w[i].ok;
		*refused += w[i].refused;
		*errors += w[i].errors;
	}
	pthread_barrier_destroy(&start);
	return ok;
}

static void
test_races(store *s)
{
	struct tk t;
	int ok, refused, errors;

	if (create_ref(s, &t, "db", NOW + 60, 1) != 0) {
		th_check(0, "race: create ref", "failed");
		return;
	}
	ok = race(s, t.hash, 1, &refused, &errors);
	th_check(ok == 1 && refused == N_THREADS - 1 && errors == 0,
	    "race: 20 threads redeem a one-use ref, exactly one succeeds",
	    "%d succeeded, %d GONE, %d other errors", ok, refused, errors);

	if (create_ref(s, &t, "db", NOW + 60, 5) != 0) {
		th_check(0, "race: create ref", "failed");
		return;
	}
	ok = race(s, t.hash, 1, &refused, &errors);
	th_check(ok == 5 && refused == N_THREADS - 5 && errors == 0,
	    "race: 20 threads redeem a 5-use ref, exactly five succeed",
	    "%d succeeded, %d GONE, %d other errors", ok, refused, errors);

	if (create_token(s, &t, "racer", 0, 5) != 0) {
		th_check(0, "race: create token", "failed");
		return;
	}
	ok = race(s, t.hash, 0, &refused, &errors);
	th_check(ok == 5 && refused == N_THREADS - 5 && errors == 0,
	    "race: 20 threads use a 5-use token, exactly five succeed",
	    "%d succeeded, %d UNAUTH, %d other errors", ok, refused, errors);
	sodium_memzero(&t, sizeof(t));
}

/* ---- references ---- */

static void
test_refs(store *s, struct tk *keep)
{
	struct store_ref rec, out;
	struct tk t;
	int r;

	TH_EQ_INT(create_ref(s, &t, "db", NOW + 60, 1), 0, "ref: create");
	r = store_ref_redeem(s, t.hash, NOW, &out);
	th_check(r == 0 && strcmp(out.domain, "payments") == 0 &&
	    strcmp(out.name, "db") == 0 && out.version == 3 &&
	    out.created == NOW && out.expires == NOW + 60 &&
	    out.uses_left == 1, "ref: redeem returns the record", "r=%d", r);
	TH_EQ_INT(store_ref_redeem(s, t.hash, NOW, &out), CAP_ERR_GONE,
	    "ref: a second redeem is GONE");

	TH_EQ_INT(create_ref(s, &t, "db", NOW + 60, 2), 0,
	    "ref: create with 2 uses");
	r = store_ref_redeem(s, t.hash, NOW, &out);
	th_check(r == 0 && out.uses_left == 2, "ref: first of two",
	    "r=%d uses_left=%u", r, out.uses_left);
	r = store_ref_redeem(s, t.hash, NOW, &out);
	th_check(r == 0 && out.uses_left == 1, "ref: second of two",
	    "r=%d uses_left=%u", r, out.uses_left);
	TH_EQ_INT(store_ref_redeem(s, t.hash, NOW, &out), CAP_ERR_GONE,
	    "ref: a third redeem is GONE");

	TH_EQ_INT(create_ref(s, &t, "db", NOW + 60, 5), 0,
	    "ref: create an expiring one");
	TH_EQ_INT(store_ref_redeem(s, t.hash, NOW + 60, &out), CAP_ERR_GONE,
	    "ref: expired is GONE");
	th_check(out.domain[0] == '\0' && out.version == 0,
	    "ref: a GONE redeem returns nothing", "output set");
	TH_EQ_INT(store_ref_redeem(s, t.hash, NOW, &out), CAP_ERR_GONE,
	    "ref: an expired ref was deleted, GONE even before its expiry");

	if (tk_new(&t, 1) == 0)
		TH_EQ_INT(store_ref_redeem(s, t.hash, NOW, &out),
		    CAP_ERR_GONE, "ref: unknown is GONE");

	TH_EQ_INT(create_ref(s, keep, "kept", 0, 1), 0,
	    "ref: create one without expiry");
	ref_fill(&rec, "other", 0, 1);
	TH_EQ_INT(store_ref_create(s, keep->hash, &rec), CAP_ERR_EXISTS,
	    "ref: hash collision is EXISTS");
	ref_fill(&rec, "x", 0, 0);
	TH_EQ_INT(store_ref_create(s, t.hash, &rec), CAP_ERR_INVALID,
	    "ref: zero uses rejected");
	ref_fill(&rec, "x", 0, 1);
	rec.version = 0;
	TH_EQ_INT(store_ref_create(s, t.hash, &rec), CAP_ERR_INVALID,
	    "ref: version 0 rejected");
	ref_fill(&rec, "../x", 0, 1);
	TH_EQ_INT(store_ref_create(s, t.hash, &rec), CAP_ERR_INVALID,
	    "ref: bad name rejected");
	sodium_memzero(&t, sizeof(t));
}

static void
test_purge(store *s)
{
	struct store_token out;
	struct store_ref rec;
	struct tk e[3], live, tdead, tlive, trev;
	size_t purged = 99;
	int i, ok = 1;

	for (i = 0; i < 3; i++)
		if (create_ref(s, &e[i], "old", NOW + 10 + (uint64_t)i, 1))
			ok = 0;
	if (create_ref(s, &live, "new", NOW + 1000, 1) != 0)
		ok = 0;
	th_check(ok, "purge: set up refs", "create failed");
	TH_EQ_INT(store_ref_purge_expired(s, NOW + 500, &purged), 0,
	    "purge: refs");
	th_check(purged >= 3, "purge: counts the expired refs",
	    "purged %zu, want at least 3", purged);
	for (i = 0, ok = 1; i < 3; i++)
		if (store_ref_redeem(s, e[i].hash, NOW, &rec) != CAP_ERR_GONE)
			ok = 0;
	th_check(ok, "purge: expired refs are gone", "one survived");
	TH_EQ_INT(store_ref_redeem(s, live.hash, NOW, &rec), 0,
	    "purge: a live ref survives");
	TH_EQ_INT(store_ref_purge_expired(s, NOW + 500, &purged), 0,
	    "purge: refs again");
	TH_EQ_INT(purged, 0, "purge: nothing left to purge");

	ok = create_token(s, &tdead, "dead", NOW + 10, 0) == 0 &&
	    create_token(s, &tlive, "live", NOW + 1000, 0) == 0 &&
	    create_token(s, &trev, "rev", 0, 0) == 0 &&
	    store_token_revoke(s, trev.accessor) == 0;
	th_check(ok, "purge: set up tokens", "create failed");
	TH_EQ_INT(store_token_purge(s, NOW + 500, &purged), 0,
	    "purge: tokens");
	th_check(purged >= 2, "purge: counts expired and revoked tokens",
	    "purged %zu, want at least 2", purged);
	TH_EQ_INT(store_token_lookup_accessor(s, tdead.accessor, &out),
	    CAP_ERR_NOT_FOUND, "purge: expired token and accessor gone");
	TH_EQ_INT(store_token_lookup_accessor(s, trev.accessor, &out),
	    CAP_ERR_NOT_FOUND, "purge: revoked token and accessor gone");
	TH_EQ_INT(store_token_use(s, tlive.hash, NOW, &out), 0,
	    "purge: a live token survives");
	store_token_free_fields(&out);
}

/* 1 if needle occurs in the file at path; -1 if it cannot be read. */
static int
file_contains(const char *path, const void *needle, size_t nlen)
{
	FILE *f;
	char *buf;
	struct stat st;
	int found;

	if (stat(path, &st) != 0 || (f = fopen(path, "rb")) == NULL)
		return -1;
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL ||
	    fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	found = memmem(buf, (size_t)st.st_size, needle, nlen) != NULL;
	free(buf);
	return found;
}

static void
test_reopen(const char *dir, const struct tk *tok, const struct tk *three,
    const struct tk *revoked, const struct tk *ref)
{
	struct store_token out;
	struct store_ref rec;
	char path[512], *doc = NULL;
	size_t len;
	store *s = NULL;
	int r;

	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	TH_EQ_INT(file_contains(path, tok->clear, TOKEN_STR_LEN), 0,
	    "at rest: a token's clear text is not in data.mdb");
	TH_EQ_INT(file_contains(path, tok->clear + TOKEN_PREFIX_LEN,
	    TOKEN_B64_LEN), 0, "at rest: nor its random part");
	TH_EQ_INT(file_contains(path, ref->clear, TOKEN_STR_LEN), 0,
	    "at rest: a reference's clear text is not in data.mdb");
	TH_EQ_INT(file_contains(path, tok->accessor, STORE_ACCESSOR_LEN), 1,
	    "at rest: the search finds what is stored (the accessor)");

	if (store_open(dir, 0, 1, &s) != 0) {
		th_check(0, "reopen: open", "store_open failed");
		return;
	}
	r = store_policy_get(s, "payments-read", &doc, &len);
	th_check(r == 0 && strcmp(doc, "{\"rules\":[]}") == 0,
	    "reopen: policy survives", "r=%d", r);
	free(doc);
	r = store_token_use(s, tok->hash, NOW, &out);
	th_check(r == 0 && strcmp(out.accessor, tok->accessor) == 0 &&
	    out.npolicies == 2, "reopen: token survives", "r=%d", r);
	store_token_free_fields(&out);
	TH_EQ_INT(store_token_use(s, three->hash, NOW, &out), CAP_ERR_UNAUTH,
	    "reopen: a used-up token stays used up");
	TH_EQ_INT(store_token_use(s, revoked->hash, NOW, &out),
	    CAP_ERR_UNAUTH, "reopen: a revoked token stays revoked");
	r = store_ref_redeem(s, ref->hash, NOW, &rec);
	th_check(r == 0 && strcmp(rec.name, "kept") == 0,
	    "reopen: reference survives and redeems", "r=%d", r);
	TH_EQ_INT(store_ref_redeem(s, ref->hash, NOW, &rec), CAP_ERR_GONE,
	    "reopen: then it is gone");
	store_free(s);
}

/* Many tokens in a tiny map: every write body runs again after growth. */
static void
test_growth(void)
{
	const char *dir = th_tmpdir();
	struct store_token *v = NULL, out;
	struct tk t, first;
	store *s = NULL;
	size_t n = 0;
	int i, bad = 0, r;

	if (dir == NULL || store_open(dir, 64 * 1024, 1, &s) != 0) {
		th_check(0, "growth: open", "failed");
		return;
	}
	for (i = 0; i < 3000; i++) {
		if (create_token(s, &t, "grow", 0, 2) != 0)
			bad++;
		if (i == 0)
			first = t;
	}
	TH_EQ_INT(bad, 0, "growth: 3000 tokens created while the map grows");
	r = store_token_list(s, &v, &n);
	th_check(r == 0 && n == 3000, "growth: all listed", "r=%d n=%zu", r, n);
	store_token_list_free(v, n);
	r = store_token_use(s, first.hash, NOW, &out);
	th_check(r == 0 && out.uses_left == 2, "growth: first token usable",
	    "r=%d", r);
	store_token_free_fields(&out);
	store_free(s);
}

int
main(void)
{
	struct tk tok, three, revoked, ref;
	const char *dir;
	store *s = NULL;

	if (sodium_init() < 0 || (dir = th_tmpdir()) == NULL) {
		th_check(0, "set up", "sodium_init or th_tmpdir failed");
		return th_done();
	}
	TH_EQ_INT(store_open(dir, 0, 1, &s), 0, "open: create a store");
	if (s == NULL)
		return th_done();
	test_policies(s);
	test_token_basic(s, &tok);
	test_token_ttl_uses(s, &three);
	test_token_revoke(s, &revoked);
	test_token_list(s, &tok, 1);
	test_refs(s, &ref);
	test_races(s);
	test_purge(s);
	store_free(s);
	test_reopen(dir, &tok, &three, &revoked, &ref);
	test_growth();
	sodium_memzero(&tok, sizeof(tok));
	sodium_memzero(&ref, sizeof(ref));
	return th_done();
}
