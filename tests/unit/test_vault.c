/*
 * test_vault.c - the secret service over a real SoftHSM token and LMDB
 * store, in both seal modes: domains, versioned secrets, rotation,
 * check-and-set, delete and destroy, input limits, no plaintext at rest,
 * and concurrent writers.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "common/err.h"
#include "common/log.h"
#include "crypto/envelope.h"
#include "crypto/vault.h"
#include "hsm/hsm.h"
#include "store/store.h"
#include "tests/unit/harness.h"

#define NTHREADS	8
#define PER_THREAD	16
#define SHARED_WRITES	4

static char tname[160];
static seal_mode cur_mode;

static const char *
tn(const char *what)
{
	snprintf(tname, sizeof(tname), "vault %s: %s",
	    seal_mode_name(cur_mode), what);
	return tname;
}

/* Reads a secret and compares it with want (NUL-terminated text). */
static int
reads_as(vault *v, const char *d, const char *n, uint32_t ver,
    const char *want, struct store_secret_meta *meta)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int r, ok;

	r = vault_secret_get(v, d, n, ver, &data, &len, meta);
	ok = r == 0 && len == strlen(want) && memcmp(data, want, len) == 0;
	envelope_plaintext_free(data, len);
	return ok;
}

static int
put(vault *v, const char *d, const char *n, const char *data, uint32_t cas,
    uint32_t *ver)
{
	return vault_secret_put(v, d, n, (const uint8_t *)data, strlen(data),
	    cas, ver);
}

static int
names_has(char **names, size_t n, const char *want)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], want) == 0)
			return 1;
	return 0;
}

static void
test_domains(vault *v)
{
	struct store_domain d;
	char **names = NULL;
	size_t n = 0;
	int r;

	r = vault_domain_create(v, "payments", &d);
	TH_EQ_INT(r, 0, tn("domain create"));
	th_check(r == 0 && strcmp(d.name, "payments") == 0 &&
	    d.key_version == 1 && d.created > 0, tn("new domain has key "
	    "version 1 and a creation time"), "key_version %u created %llu",
	    d.key_version, (unsigned long long)d.created);
	TH_EQ_INT(vault_domain_create(v, "payments", &d), CAP_ERR_EXISTS,
	    tn("creating it twice is CAP_ERR_EXISTS"));
	TH_EQ_INT(vault_domain_create(v, "ops", NULL), 0,
	    tn("second domain"));
	TH_EQ_INT(vault_domain_create(v, ".hidden", &d), CAP_ERR_INVALID,
	    tn("domain name starting with a dot is CAP_ERR_INVALID"));
	TH_EQ_INT(vault_domain_create(v, "a/b", &d), CAP_ERR_INVALID,
	    tn("domain name with a slash is CAP_ERR_INVALID"));

	r = vault_domain_list(v, &names, &n);
	th_check(r == 0 && n == 2 && names_has(names, n, "payments") &&
	    names_has(names, n, "ops"), tn("list has both domains"),
	    "got %d, %zu names", r, n);
	if (r == 0)
		store_names_free(names, n);

	r = vault_domain_get(v, "payments", &d);
	th_check(r == 0 && d.key_version == 1, tn("domain get"),
	    "got %d kv %u", r, d.key_version);
	TH_EQ_INT(vault_domain_get(v, "nope", &d), CAP_ERR_NOT_FOUND,
	    tn("missing domain is CAP_ERR_NOT_FOUND"));

	r = vault_domain_rotate(v, "ops", &d);
	th_check(r == 0 && d.key_version == 2, tn("rotate gives key version 2"),
	    "got %d kv %u", r, d.key_version);
	r = vault_domain_get(v, "ops", &d);
	th_check(r == 0 && d.key_version == 2, tn("rotation is stored"),
	    "got %d kv %u", r, d.key_version);
	TH_EQ_INT(vault_domain_rotate(v, "nope", &d), CAP_ERR_NOT_FOUND,
	    tn("rotating a missing domain is CAP_ERR_NOT_FOUND"));

	TH_EQ_INT(put(v, "ops", "x", "{}", VAULT_CAS_NONE, NULL), 0,
	    tn("put into ops"));
	TH_EQ_INT(vault_domain_delete(v, "ops", 0), CAP_ERR_CONFLICT,
	    tn("deleting a domain with live secrets needs force"));
	TH_EQ_INT(vault_domain_delete(v, "ops", 1), 0,
	    tn("forced domain delete"));
	TH_EQ_INT(vault_domain_get(v, "ops", &d), CAP_ERR_NOT_FOUND,
	    tn("deleted domain is gone"));
	TH_EQ_INT(vault_domain_delete(v, "ops", 1), CAP_ERR_NOT_FOUND,
	    tn("deleting it again is CAP_ERR_NOT_FOUND"));
}

static void
test_secrets(vault *v)
{
	struct store_secret_meta meta, *vers = NULL;
	struct store_domain d;
	char **names = NULL;
	uint8_t *big, *data = NULL;
	size_t n = 0, len = 0, i;
	uint32_t ver = 0;
	int r, destroyed;

	r = put(v, "payments", "db", "{\"password\":\"one\"}", VAULT_CAS_NONE,
	    &ver);
	th_check(r == 0 && ver == 1, tn("first put is version 1"),
	    "got %d version %u", r, ver);
	r = put(v, "payments", "db", "{\"password\":\"two\"}", VAULT_CAS_NONE,
	    &ver);
	th_check(r == 0 && ver == 2, tn("second put is version 2"),
	    "got %d version %u", r, ver);
	th_check(reads_as(v, "payments", "db", 0, "{\"password\":\"two\"}",
	    &meta) && meta.version == 2 && meta.key_version == 1,
	    tn("newest version reads back"), "mismatch (version %u)",
	    meta.version);
	th_check(reads_as(v, "payments", "db", 1, "{\"password\":\"one\"}",
	    &meta) && meta.version == 1, tn("version 1 still reads"),
	    "mismatch");
	r = vault_secret_get(v, "payments", "db", 9, &data, &len, &meta);
	th_check(r == CAP_ERR_NOT_FOUND && data == NULL,
	    tn("missing version is CAP_ERR_NOT_FOUND"), "got %d", r);

	/* check-and-set */
	TH_EQ_INT(put(v, "payments", "db", "{}", 0, &ver), CAP_ERR_CONFLICT,
	    tn("cas 0 on an existing secret is CAP_ERR_CONFLICT"));
	TH_EQ_INT(put(v, "payments", "db", "{}", 1, &ver), CAP_ERR_CONFLICT,
	    tn("stale cas is CAP_ERR_CONFLICT"));
	r = put(v, "payments", "db", "{\"password\":\"three\"}", 2, &ver);
	th_check(r == 0 && ver == 3, tn("cas = current version succeeds"),
	    "got %d version %u", r, ver);
	r = put(v, "payments", "api", "{\"k\":\"v\"}", 0, &ver);
	th_check(r == 0 && ver == 1, tn("cas 0 on a new secret succeeds"),
	    "got %d version %u", r, ver);

	/* rotation: old versions keep reading, new writes use the new key */
	r = vault_domain_rotate(v, "payments", &d);
	th_check(r == 0 && d.key_version == 2, tn("rotate payments"),
	    "got %d kv %u", r, d.key_version);
	th_check(reads_as(v, "payments", "db", 3, "{\"password\":\"three\"}",
	    &meta) && meta.key_version == 1,
	    tn("secret written before rotate reads after it"), "mismatch");
	r = put(v, "payments", "db", "{\"password\":\"four\"}", VAULT_CAS_NONE,
	    &ver);
	th_check(r == 0 && ver == 4, tn("put after rotate"), "got %d", r);
	th_check(reads_as(v, "payments", "db", 4, "{\"password\":\"four\"}",
	    &meta) && meta.key_version == 2,
	    tn("write after rotate uses key version 2"), "key_version %u",
	    meta.key_version);

	r = vault_secret_list(v, "payments", &names, &n);
	th_check(r == 0 && n == 2 && names_has(names, n, "db") &&
	    names_has(names, n, "api"), tn("secret list"), "got %d, %zu", r, n);
	if (r == 0)
		store_names_free(names, n);

	/* delete hides the newest version */
	TH_EQ_INT(vault_secret_delete(v, "payments", "api"), 0,
	    tn("soft delete"));
	r = vault_secret_get(v, "payments", "api", 0, &data, &len, &meta);
	th_check(r == CAP_ERR_NOT_FOUND && data == NULL,
	    tn("deleted secret is CAP_ERR_NOT_FOUND"), "got %d", r);
	r = vault_secret_list(v, "payments", &names, &n);
	th_check(r == 0 && n == 1 && names_has(names, n, "db"),
	    tn("deleted secret leaves the list"), "got %d, %zu", r, n);
	if (r == 0)
		store_names_free(names, n);
	r = put(v, "payments", "api", "{\"k\":\"again\"}", 1, &ver);
	th_check(r == 0 && ver == 2, tn("a deleted secret takes a new "
	    "version"), "got %d version %u", r, ver);

	/* destroy erases */
	TH_EQ_INT(vault_secret_destroy(v, "payments", "db", NULL, 0), 0,
	    tn("destroy all versions"));
	for (i = 1; i <= 4; i++) {
		r = vault_secret_get(v, "payments", "db", (uint32_t)i, &data,
		    &len, &meta);
		if (r != CAP_ERR_NOT_FOUND)
			break;
	}
	th_check(i == 5, tn("destroyed versions are CAP_ERR_NOT_FOUND"),
	    "version %zu gave %d", i, r);
	r = vault_secret_versions(v, "payments", "db", &vers, &n);
	destroyed = 0;
	for (i = 0; r == 0 && i < n; i++)
		if (vers[i].flags & STORE_SECRET_DESTROYED)
			destroyed++;
	th_check(r == 0 && n == 4 && destroyed == 4, tn("versions keep the "
	    "metadata of destroyed versions"), "got %d, %zu versions, %d "
	    "destroyed", r, n, destroyed);
	free(vers);
	r = put(v, "payments", "db", "{}", VAULT_CAS_NONE, &ver);
	th_check(r == 0 && ver == 5, tn("version numbers are not reused after "
	    "destroy"), "got %d version %u", r, ver);

	/* missing domain, sizes, names */
	TH_EQ_INT(put(v, "nope", "db", "{}", VAULT_CAS_NONE, &ver),
	    CAP_ERR_NOT_FOUND, tn("put into a missing domain"));
	r = vault_secret_get(v, "nope", "db", 0, &data, &len, &meta);
	TH_EQ_INT(r, CAP_ERR_NOT_FOUND, tn("get from a missing domain"));
	TH_EQ_INT(vault_secret_get(v, "payments", "nothing", 0, &data, &len,
	    &meta), CAP_ERR_NOT_FOUND, tn("get a missing secret"));
	if ((big = calloc(1, VAULT_DATA_MAX + 1)) == NULL)
		abort();
	memset(big, 'a', VAULT_DATA_MAX + 1);
	TH_EQ_INT(vault_secret_put(v, "payments", "big", big,
	    VAULT_DATA_MAX + 1, VAULT_CAS_NONE, &ver), CAP_ERR_TOO_LARGE,
	    tn("over VAULT_DATA_MAX is CAP_ERR_TOO_LARGE"));
	r = vault_secret_put(v, "payments", "big", big, VAULT_DATA_MAX,
	    VAULT_CAS_NONE, &ver);
	TH_EQ_INT(r, 0, tn("exactly VAULT_DATA_MAX is accepted"));
	r = vault_secret_get(v, "payments", "big", 0, &data, &len, &meta);
	th_check(r == 0 && len == VAULT_DATA_MAX &&
	    memcmp(data, big, len) == 0, tn("largest secret reads back"),
	    "got %d, %zu bytes", r, len);
	envelope_plaintext_free(data, len);
	data = NULL;
	free(big);
	TH_EQ_INT(put(v, "payments", "-x", "{}", VAULT_CAS_NONE, &ver),
	    CAP_ERR_INVALID, tn("secret name starting with '-' is invalid"));
	TH_EQ_INT(put(v, "payments", "a b", "{}", VAULT_CAS_NONE, &ver),
	    CAP_ERR_INVALID, tn("secret name with a space is invalid"));
	TH_EQ_INT(put(v, "pay/ments", "db", "{}", VAULT_CAS_NONE, &ver),
	    CAP_ERR_INVALID, tn("invalid domain name on put"));
	TH_EQ_INT(vault_secret_get(v, "payments", "", 0, &data, &len, &meta),
	    CAP_ERR_INVALID, tn("empty secret name on get"));
}

/* Reads a whole file (the LMDB data file) into malloc'd memory. */
static uint8_t *
slurp(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t off = 0;
	ssize_t k;
	int fd;

	*len = 0;
	if ((fd = open(path, O_RDONLY)) < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || (buf = malloc((size_t)st.st_size + 1)) ==
	    NULL) {
		close(fd);
		return NULL;
	}
	while (off < (size_t)st.st_size &&
	    (k = read(fd, buf + off, (size_t)st.st_size - off)) > 0)
		off += (size_t)k;
	close(fd);
	*len = off;
	return buf;
}

static void
test_no_plaintext_at_rest(vault *v, store *s, const char *dir)
{
	struct store_secret *rec = NULL;
	uint8_t raw[16], *file;
	char hex[33], data[64], path[256];
	size_t flen;
	int r;

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
	snprintf(data, sizeof(data), "{\"v\":\"%s\"}", hex);
	r = put(v, "payments", "leakcheck", data, VAULT_CAS_NONE, NULL);
	TH_EQ_INT(r, 0, tn("put a distinctive value"));
	r = store_secret_get(s, "payments", "leakcheck", 0, &rec);
	TH_EQ_INT(r, 0, tn("raw record is readable from the store"));
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	file = slurp(path, &flen);
	if (!th_check(file != NULL && flen > 0, tn("read data.mdb"),
	    "could not read %s", path))
		goto out;
	th_check(memmem(file, flen, hex, strlen(hex)) == NULL,
	    tn("the plaintext never appears in data.mdb"), "found it");
	if (rec != NULL && rec->ct != NULL)
		th_check(memmem(file, flen, rec->ct, rec->ctlen) != NULL,
		    tn("the ciphertext does appear in data.mdb (the file "
		    "read is the one written)"), "ciphertext not found");
	free(file);
 out:
	store_secret_free(rec);
}

/* A cold cache: a fresh envelope reads every key version from the store. */
static void
test_cold_cache(hsm *h, store *s)
{
	envelope *e = NULL;
	vault *v = NULL;

	if (envelope_new(h, cur_mode, &e) != 0 || vault_new(e, s, &v) != 0) {
		th_check(0, tn("fresh envelope and vault"), "could not create");
		goto out;
	}
	th_check(reads_as(v, "payments", "api", 2, "{\"k\":\"again\"}", NULL),
	    tn("cold cache reads a key version 2 secret"), "mismatch");
 out:
	vault_free(v);
	envelope_free(e);
}

/*
 * A domain deleted and created again under the same name must get its new
 * key, never one cached from before: a cold vault must read what was
 * written after the re-creation.
 */
static void
test_recreate(hsm *h, vault *v, store *s)
{
	envelope *e2 = NULL;
	vault *v2 = NULL;

	TH_EQ_INT(vault_domain_create(v, "tmp", NULL), 0, tn("create tmp"));
	TH_EQ_INT(put(v, "tmp", "a", "{\"life\":1}", VAULT_CAS_NONE, NULL), 0,
	    tn("put in tmp"));
	th_check(reads_as(v, "tmp", "a", 0, "{\"life\":1}", NULL),
	    tn("read in tmp"), "mismatch");
	TH_EQ_INT(vault_domain_delete(v, "tmp", 1), 0, tn("delete tmp"));
	TH_EQ_INT(vault_domain_create(v, "tmp", NULL), 0, tn("re-create tmp"));
	TH_EQ_INT(put(v, "tmp", "a", "{\"life\":2}", VAULT_CAS_NONE, NULL), 0,
	    tn("put in re-created tmp"));
	if (envelope_new(h, cur_mode, &e2) == 0 && vault_new(e2, s, &v2) == 0)
		th_check(reads_as(v2, "tmp", "a", 0, "{\"life\":2}", NULL),
		    tn("re-created domain seals under its own new key"),
		    "a cold vault could not read it");
	vault_free(v2);
	envelope_free(e2);
}

struct worker {
	vault		*v;
	int		id;
	int		failures;
	int		shared_ok;
};

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	char name[32], data[64];
	uint32_t ver;
	int i;

	for (i = 0; i < PER_THREAD; i++) {
		snprintf(name, sizeof(name), "t%d-%d", w->id, i);
		snprintf(data, sizeof(data), "{\"thread\":%d,\"i\":%d}", w->id,
		    i);
		if (put(w->v, "payments", name, data, 0, &ver) != 0 ||
		    ver != 1)
			w->failures++;
		if (!reads_as(w->v, "payments", name, 0, data, NULL))
			w->failures++;
		if (i < SHARED_WRITES) {
			if (put(w->v, "payments", "shared", data,
			    VAULT_CAS_NONE, &ver) == 0)
				w->shared_ok++;
			else
				w->failures++;
		}
	}
	for (i = 0; i < PER_THREAD; i++) {
		snprintf(name, sizeof(name), "t%d-%d", w->id, i);
		snprintf(data, sizeof(data), "{\"thread\":%d,\"i\":%d}", w->id,
		    i);
		if (!reads_as(w->v, "payments", name, 1, data, NULL))
			w->failures++;
	}
	return NULL;
}

static void
test_threads(vault *v)
{
	struct worker w[NTHREADS];
	struct store_secret_meta *vers = NULL;
	pthread_t t[NTHREADS];
	size_t n = 0;
	int i, failures = 0, shared = 0, started = 0, r;

	for (i = 0; i < NTHREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].v = v;
		w[i].id = i;
		if (pthread_create(&t[i], NULL, worker_run, &w[i]) != 0)
			break;
		started++;
	}
	for (i = 0; i < started; i++) {
		pthread_join(t[i], NULL);
		failures += w[i].failures;
		shared += w[i].shared_ok;
	}
	th_check(started == NTHREADS && failures == 0,
	    tn("8 threads write and read their own secrets"),
	    "%d threads started, %d failures", started, failures);
	r = vault_secret_versions(v, "payments", "shared", &vers, &n);
	th_check(r == 0 && shared == NTHREADS * SHARED_WRITES &&
	    n == (size_t)shared, tn("concurrent writes to one secret each get "
	    "a version"), "%d writes succeeded, %zu versions", shared, n);
	free(vers);
}

static void
run_mode(hsm *h, seal_mode m)
{
	const char *dir;
	envelope *e = NULL;
	store *s = NULL;
	vault *v = NULL;
	int r;

	cur_mode = m;
	if (!th_check((dir = th_tmpdir()) != NULL, tn("temp dir"), "none"))
		return;
	r = store_open(dir, 0, 1, &s);
	if (!TH_EQ_INT(r, 0, tn("store_open")))
		return;
	r = envelope_new(h, m, &e);
	if (!TH_EQ_INT(r, 0, tn("envelope_new")))
		goto out;
	r = vault_new(e, s, &v);
	if (!TH_EQ_INT(r, 0, tn("vault_new")))
		goto out;

	test_domains(v);
	test_secrets(v);
	test_no_plaintext_at_rest(v, s, dir);
	test_cold_cache(h, s);
	test_recreate(h, v, s);
	test_threads(v);
 out:
	vault_free(v);
	envelope_free(e);
	store_free(s);
}

int
main(void)
{
	const char *uri = NULL, *pin = NULL;
	hsm *h = NULL;
	hsm_mk_kind kind = HSM_MK_NONE;
	int r;

	log_init("test_vault", 0, LOG_LVL_ERROR);
	if (sodium_init() < 0)
		return 1;
	vault_free(NULL);
	if (!th_check(th_softhsm_token(&uri, &pin) == 0, "SoftHSM token",
	    "could not create a token"))
		return th_done();
	r = hsm_open(uri, NULL, pin, 8, &h);
	if (!TH_EQ_INT(r, 0, "hsm_open"))
		return th_done();
	r = hsm_mk_init(h, &kind);
	if (!TH_EQ_INT(r, 0, "hsm_mk_init")) {
		hsm_free(h);
		return th_done();
	}
	run_mode(h, SEAL_MEMORY);
	run_mode(h, SEAL_TOKEN);
	hsm_free(h);
	return th_done();
}
