/*
 * test_envelope.c - envelope encryption in both seal modes against a fresh
 * SoftHSM token: round trips, tamper detection, binding of the ciphertext
 * to (domain, name, version, key version), nonce freshness, reloading a
 * wrapped key in a second envelope, and forgetting keys.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/err.h"
#include "common/log.h"
#include "crypto/envelope.h"
#include "hsm/hsm.h"
#include "tests/unit/harness.h"

static char tname[160];

/* Test names carry the seal mode. */
static const char *
tn(seal_mode m, const char *what)
{
	snprintf(tname, sizeof(tname), "envelope %s: %s", seal_mode_name(m),
	    what);
	return tname;
}

struct sealed {
	uint8_t nonce[ENVELOPE_NONCE_LEN];
	uint8_t *ct;
	size_t ctlen;
};

static void
sealed_clear(struct sealed *s)
{
	free(s->ct);
	memset(s, 0, sizeof(*s));
}

/* Opens and expects CAP_ERR_CRYPTO with no output left behind. */
static int
open_fails(envelope *e, const char *d, uint32_t kv, const char *n,
    uint32_t ver, const uint8_t *nonce, const uint8_t *ct, size_t ctlen,
    int want)
{
	uint8_t *pt = (uint8_t *)&pt;
	size_t ptlen = 1;
	int r;

	r = envelope_open(e, d, kv, n, ver, nonce, ct, ctlen, &pt, &ptlen);
	if (r == 0)
		envelope_plaintext_free(pt, ptlen);
	return r == want && (r == 0 || (pt == NULL && ptlen == 0));
}

static void
test_round_trip(envelope *e, seal_mode m)
{
	static const size_t sizes[] = { 0, 1, 100 * 1024 };
	struct sealed s = { { 0 }, NULL, 0 };
	uint8_t *in, *pt = NULL;
	size_t i, ptlen = 0;
	char what[64];
	int r;

	if ((in = malloc(100 * 1024)) == NULL)
		abort();
	randombytes_buf(in, 100 * 1024);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(what, sizeof(what), "seal %zu bytes", sizes[i]);
		r = envelope_seal(e, "d", 1, "n", 1, in, sizes[i], s.nonce,
		    &s.ct, &s.ctlen);
		TH_EQ_INT(r, 0, tn(m, what));
		TH_EQ_INT(s.ctlen, sizes[i] + ENVELOPE_TAG_LEN,
		    tn(m, "ciphertext is plaintext plus tag"));
		snprintf(what, sizeof(what), "open %zu bytes", sizes[i]);
		r = envelope_open(e, "d", 1, "n", 1, s.nonce, s.ct, s.ctlen,
		    &pt, &ptlen);
		TH_EQ_INT(r, 0, tn(m, what));
		snprintf(what, sizeof(what), "%zu bytes come back unchanged "
		    "and NUL-terminated", sizes[i]);
		th_check(r == 0 && ptlen == sizes[i] &&
		    memcmp(pt, in, ptlen) == 0 && pt[ptlen] == '\0',
		    tn(m, what), "got %zu bytes, want %zu", ptlen, sizes[i]);
		envelope_plaintext_free(pt, ptlen);
		pt = NULL;
		sealed_clear(&s);
	}
	free(in);
}

static void
test_tamper(envelope *e, seal_mode m)
{
	struct sealed s = { { 0 }, NULL, 0 };
	uint8_t pt[40];
	size_t i, bad = 0, bits = 0;
	int r;

	randombytes_buf(pt, sizeof(pt));
	r = envelope_seal(e, "d", 1, "n", 1, pt, sizeof(pt), s.nonce, &s.ct,
	    &s.ctlen);
	if (!TH_EQ_INT(r, 0, tn(m, "seal for tamper tests")))
		return;
	th_check(open_fails(e, "d", 1, "n", 1, s.nonce, s.ct, s.ctlen, 0),
	    tn(m, "untouched ciphertext opens"), "open failed");

	/* Every bit of ciphertext and tag. */
	for (i = 0; i < s.ctlen * 8; i++, bits++) {
		s.ct[i / 8] ^= (uint8_t)(1u << (i % 8));
		if (!open_fails(e, "d", 1, "n", 1, s.nonce, s.ct, s.ctlen,
		    CAP_ERR_CRYPTO))
			bad++;
		s.ct[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	th_check(bad == 0, tn(m, "any flipped ciphertext or tag bit fails "
	    "with CAP_ERR_CRYPTO"), "%zu of %zu flips were not refused", bad,
	    bits);

	bad = bits = 0;
	for (i = 0; i < ENVELOPE_NONCE_LEN * 8; i++, bits++) {
		s.nonce[i / 8] ^= (uint8_t)(1u << (i % 8));
		if (!open_fails(e, "d", 1, "n", 1, s.nonce, s.ct, s.ctlen,
		    CAP_ERR_CRYPTO))
			bad++;
		s.nonce[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	th_check(bad == 0, tn(m, "any flipped nonce bit fails with "
	    "CAP_ERR_CRYPTO"), "%zu of %zu flips were not refused", bad, bits);

	th_check(open_fails(e, "d", 1, "n", 1, s.nonce, s.ct,
	    ENVELOPE_TAG_LEN - 1, CAP_ERR_CRYPTO),
	    tn(m, "ciphertext shorter than a tag fails"), "accepted");
	th_check(open_fails(e, "d", 1, "n", 1, s.nonce, s.ct, s.ctlen - 1,
	    CAP_ERR_CRYPTO), tn(m, "truncated ciphertext fails"), "accepted");

	/* d2/1 holds the same key as d/1: only the associated data differs. */
	th_check(open_fails(e, "d2", 1, "n", 1, s.nonce, s.ct, s.ctlen,
	    CAP_ERR_CRYPTO), tn(m, "other domain, same key, fails"),
	    "accepted");
	th_check(open_fails(e, "d", 1, "other", 1, s.nonce, s.ct, s.ctlen,
	    CAP_ERR_CRYPTO), tn(m, "(d, n, 1) does not open as (d, other, 1)"),
	    "accepted");
	th_check(open_fails(e, "d", 1, "n", 2, s.nonce, s.ct, s.ctlen,
	    CAP_ERR_CRYPTO), tn(m, "(d, n, 1) does not open as (d, n, 2)"),
	    "accepted");
	th_check(open_fails(e, "d", 2, "n", 1, s.nonce, s.ct, s.ctlen,
	    CAP_ERR_CRYPTO), tn(m, "other key version fails"), "accepted");
	th_check(open_fails(e, "d", 1, "n", 1 + (1u << 24), s.nonce, s.ct,
	    s.ctlen, CAP_ERR_CRYPTO), tn(m, "version differing in its high "
	    "byte fails"), "accepted");
	th_check(open_fails(e, "d", 1, "n\n", 1, s.nonce, s.ct, s.ctlen,
	    CAP_ERR_CRYPTO) || open_fails(e, "d", 1, "n\n", 1, s.nonce, s.ct,
	    s.ctlen, CAP_ERR_INVALID), tn(m, "name with a trailing byte "
	    "fails"), "accepted");
	sealed_clear(&s);
}

static void
test_fresh_nonces(envelope *e, seal_mode m)
{
	struct sealed a = { { 0 }, NULL, 0 }, b = { { 0 }, NULL, 0 };
	static const uint8_t pt[] = "the same plaintext twice";
	int ra, rb;

	ra = envelope_seal(e, "d", 1, "n", 1, pt, sizeof(pt), a.nonce, &a.ct,
	    &a.ctlen);
	rb = envelope_seal(e, "d", 1, "n", 1, pt, sizeof(pt), b.nonce, &b.ct,
	    &b.ctlen);
	th_check(ra == 0 && rb == 0 &&
	    memcmp(a.nonce, b.nonce, sizeof(a.nonce)) != 0,
	    tn(m, "two seals use different nonces"), "nonces equal or seal "
	    "failed (%d, %d)", ra, rb);
	th_check(ra == 0 && rb == 0 && a.ctlen == b.ctlen &&
	    memcmp(a.ct, b.ct, a.ctlen) != 0,
	    tn(m, "two seals give different ciphertexts"), "ciphertexts equal");
	sealed_clear(&a);
	sealed_clear(&b);
}

#define NTHREADS	4
#define ROUNDS		200

struct worker {
	envelope	*e;
	int		id;
	int		failures;
};

/* Seals and opens its own records while other threads do the same. */
static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	struct sealed s;
	uint8_t in[64], *pt;
	size_t ptlen;
	char name[32];
	int i;

	for (i = 0; i < ROUNDS; i++) {
		memset(&s, 0, sizeof(s));
		pt = NULL;
		ptlen = 0;
		snprintf(name, sizeof(name), "w%d", w->id);
		randombytes_buf(in, sizeof(in));
		if (envelope_seal(w->e, "d", 1, name, (uint32_t)i + 1, in,
		    sizeof(in), s.nonce, &s.ct, &s.ctlen) != 0 ||
		    envelope_open(w->e, "d", 1, name, (uint32_t)i + 1, s.nonce,
		    s.ct, s.ctlen, &pt, &ptlen) != 0 ||
		    ptlen != sizeof(in) || memcmp(pt, in, ptlen) != 0)
			w->failures++;
		envelope_plaintext_free(pt, ptlen);
		sealed_clear(&s);
	}
	return NULL;
}

/* Threads seal and open while keys of another domain come and go. */
static void
test_threads(envelope *e, seal_mode m, const uint8_t *w, size_t wlen,
    int mech)
{
	struct worker wk[NTHREADS];
	pthread_t t[NTHREADS];
	int i, started = 0, failures = 0, loadfail = 0;

	for (i = 0; i < NTHREADS; i++) {
		memset(&wk[i], 0, sizeof(wk[i]));
		wk[i].e = e;
		wk[i].id = i;
		if (pthread_create(&t[i], NULL, worker_run, &wk[i]) != 0)
			break;
		started++;
	}
	for (i = 0; i < 50; i++) {
		if (envelope_dk_load(e, "churn", (uint32_t)i + 1, w, wlen,
		    mech) != 0)
			loadfail++;
		if (i % 10 == 9)
			envelope_dk_forget(e, "churn");
	}
	for (i = 0; i < started; i++) {
		pthread_join(t[i], NULL);
		failures += wk[i].failures;
	}
	th_check(started == NTHREADS && failures == 0 && loadfail == 0,
	    tn(m, "concurrent seal and open while other keys load and go"),
	    "%d threads, %d failed round trips, %d failed loads", started,
	    failures, loadfail);
	envelope_dk_forget(e, "churn");
}

static void
run_mode(hsm *h, seal_mode m)
{
	envelope *e = NULL, *e2 = NULL;
	struct sealed s = { { 0 }, NULL, 0 };
	uint8_t *w1 = NULL, *w2 = NULL, *pt = NULL, junk[40];
	size_t w1len = 0, w2len = 0, ptlen = 0;
	int m1 = 0, m2 = 0, r;
	static const uint8_t msg[] = "sealed by the first envelope";

	r = envelope_new(h, m, &e);
	if (!TH_EQ_INT(r, 0, tn(m, "envelope_new")))
		return;
	TH_EQ_INT(envelope_mode(e), m, tn(m, "envelope_mode"));
	envelope_dk_forget(e, "nothing-loaded-yet");
	TH_EQ_INT(envelope_dk_cached(e, "nothing-loaded-yet", 1), 0,
	    tn(m, "forget on an empty keyring"));
	r = envelope_dk_new(e, &w1, &w1len, &m1);
	TH_EQ_INT(r, 0, tn(m, "envelope_dk_new"));
	r = envelope_dk_new(e, &w2, &w2len, &m2);
	TH_EQ_INT(r, 0, tn(m, "envelope_dk_new a second key"));
	if (w1 == NULL || w2 == NULL)
		goto out;
	th_check(w1len != w2len || memcmp(w1, w2, w1len) != 0,
	    tn(m, "two new domain keys differ"), "wrapped blobs equal");

	r = envelope_seal(e, "d", 1, "n", 1, msg, sizeof(msg), s.nonce,
	    &s.ct, &s.ctlen);
	th_check(r == CAP_ERR_NOT_FOUND && s.ct == NULL,
	    tn(m, "seal with a key not loaded is CAP_ERR_NOT_FOUND"),
	    "got %d", r);

	TH_EQ_INT(envelope_dk_load(e, "d", 1, w1, w1len, m1), 0,
	    tn(m, "load d/1"));
	TH_EQ_INT(envelope_dk_load(e, "d", 1, w1, w1len, m1), 0,
	    tn(m, "loading d/1 again is a no-op"));
	TH_EQ_INT(envelope_dk_load(e, "d", 2, w2, w2len, m2), 0,
	    tn(m, "load d/2"));
	TH_EQ_INT(envelope_dk_load(e, "d2", 1, w1, w1len, m1), 0,
	    tn(m, "load d2/1"));
	TH_EQ_INT(envelope_dk_cached(e, "d", 1), 1, tn(m, "d/1 cached"));
	TH_EQ_INT(envelope_dk_cached(e, "d", 3), 0, tn(m, "d/3 not cached"));
	TH_EQ_INT(envelope_dk_cached(e, "x", 1), 0, tn(m, "x/1 not cached"));
	randombytes_buf(junk, sizeof(junk));
	r = envelope_dk_load(e, "junk", 1, junk, sizeof(junk), m1);
	th_check(r == CAP_ERR_CRYPTO, tn(m, "a blob that does not unwrap is "
	    "CAP_ERR_CRYPTO"), "got %d (%s)", r, cap_strerror(r));
	TH_EQ_INT(envelope_dk_cached(e, "junk", 1), 0,
	    tn(m, "a failed load caches nothing"));

	test_round_trip(e, m);
	test_tamper(e, m);
	test_fresh_nonces(e, m);
	test_threads(e, m, w2, w2len, m2);

	/* A second envelope on the same token reloads the wrapped key. */
	r = envelope_seal(e, "d", 1, "n", 7, msg, sizeof(msg), s.nonce,
	    &s.ct, &s.ctlen);
	TH_EQ_INT(r, 0, tn(m, "seal for the second envelope"));
	r = envelope_new(h, m, &e2);
	TH_EQ_INT(r, 0, tn(m, "second envelope_new"));
	if (e2 != NULL && s.ct != NULL) {
		TH_EQ_INT(envelope_dk_load(e2, "d", 1, w1, w1len, m1), 0,
		    tn(m, "second envelope loads the wrapped key"));
		r = envelope_open(e2, "d", 1, "n", 7, s.nonce, s.ct, s.ctlen,
		    &pt, &ptlen);
		th_check(r == 0 && ptlen == sizeof(msg) &&
		    memcmp(pt, msg, ptlen) == 0,
		    tn(m, "second envelope opens what the first sealed"),
		    "got %d (%s)", r, cap_strerror(r));
		envelope_plaintext_free(pt, ptlen);
		pt = NULL;
	}

	envelope_dk_forget(e, "d");
	TH_EQ_INT(envelope_dk_cached(e, "d", 1), 0, tn(m, "forget drops d/1"));
	TH_EQ_INT(envelope_dk_cached(e, "d", 2), 0, tn(m, "forget drops d/2"));
	TH_EQ_INT(envelope_dk_cached(e, "d2", 1), 1,
	    tn(m, "forget keeps other domains"));
	if (s.ct != NULL)
		th_check(open_fails(e, "d", 1, "n", 7, s.nonce, s.ct, s.ctlen,
		    CAP_ERR_NOT_FOUND), tn(m, "open after forget is "
		    "CAP_ERR_NOT_FOUND"), "did not fail as expected");
	envelope_dk_forget(e, "never-loaded");
 out:
	sealed_clear(&s);
	free(w1);
	free(w2);
	envelope_free(e2);
	envelope_free(e);
}

int
main(void)
{
	const char *uri = NULL, *pin = NULL;
	seal_mode m;
	hsm *h = NULL;
	hsm_mk_kind kind = HSM_MK_NONE;
	int r;

	log_init("test_envelope", 0, LOG_LVL_ERROR);
	if (sodium_init() < 0)
		return 1;
	TH_EQ_INT(seal_mode_parse("memory", &m), 0, "seal_mode_parse memory");
	TH_EQ_INT(m, SEAL_MEMORY, "memory is SEAL_MEMORY");
	TH_EQ_INT(seal_mode_parse("token", &m), 0, "seal_mode_parse token");
	TH_EQ_INT(m, SEAL_TOKEN, "token is SEAL_TOKEN");
	TH_EQ_INT(seal_mode_parse("disk", &m), CAP_ERR_INVALID,
	    "seal_mode_parse refuses unknown modes");
	envelope_free(NULL);
	envelope_plaintext_free(NULL, 0);

	if (!th_check(th_softhsm_token(&uri, &pin) == 0, "SoftHSM token",
	    "could not create a token"))
		return th_done();
	r = hsm_open(uri, NULL, pin, 4, &h);
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
