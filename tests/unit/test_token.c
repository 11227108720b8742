/* test_token.c - tokens, references, accessors, hashing and generated secrets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/err.h"
#include "crypto/token.h"
#include "tests/unit/harness.h"

#define N_UNIQUE	1000

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int
cmp_str(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

/* 1 if every byte of s[0..n) is in set. */
static int
all_in(const char *s, size_t n, const char *set)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] == '\0' || strchr(set, s[i]) == NULL)
			return 0;
	return 1;
}

static void
test_format(void)
{
	char t[TOKEN_STR_SIZE], r[TOKEN_STR_SIZE], bad[TOKEN_STR_SIZE + 8];
	int ok;

	TH_EQ_INT(token_new(t), 0, "token: token_new succeeds");
	ok = strlen(t) == TOKEN_STR_LEN && strncmp(t, "cps_", 4) == 0 &&
	    all_in(t + 4, TOKEN_B64_LEN, b64url);
	th_check(ok, "token: cps_ then 43 base64url characters",
	    "length %zu, prefix or alphabet wrong", strlen(t));
	th_check(token_format_valid(t, TOKEN_PREFIX),
	    "token: a new token is well-formed", "rejected");
	th_check(!token_format_valid(t, REF_PREFIX),
	    "token: a token is not a reference", "accepted as cpr_");

	TH_EQ_INT(ref_new(r), 0, "ref: ref_new succeeds");
	ok = strlen(r) == TOKEN_STR_LEN && strncmp(r, "cpr_", 4) == 0 &&
	    all_in(r + 4, TOKEN_B64_LEN, b64url);
	th_check(ok, "ref: cpr_ then 43 base64url characters",
	    "length %zu, prefix or alphabet wrong", strlen(r));
	th_check(token_format_valid(r, REF_PREFIX) &&
	    !token_format_valid(r, TOKEN_PREFIX),
	    "ref: well-formed as a reference only", "format check wrong");

	/* Malformed presented strings. */
	memcpy(bad, t, sizeof(t));
	bad[TOKEN_STR_LEN - 1] = '\0';
	th_check(!token_format_valid(bad, TOKEN_PREFIX),
	    "format: one character short is rejected", "accepted");
	memcpy(bad, t, sizeof(t));
	bad[TOKEN_STR_LEN] = 'A';
	bad[TOKEN_STR_LEN + 1] = '\0';
	th_check(!token_format_valid(bad, TOKEN_PREFIX),
	    "format: one character long is rejected", "accepted");
	memcpy(bad, t, sizeof(t));
	bad[10] = '+';
	th_check(!token_format_valid(bad, TOKEN_PREFIX),
	    "format: a standard-base64 character is rejected", "accepted");
	/* 43 characters carry 258 bits: the last one's low 2 bits are unused. */
	memcpy(bad, t, sizeof(t));
	bad[TOKEN_STR_LEN - 1] = 'B';	/* value 1: a stray low bit */
	th_check(!token_format_valid(bad, TOKEN_PREFIX),
	    "format: stray bits in the last character are rejected",
	    "accepted");
	memcpy(bad, t, sizeof(t));
	bad[0] = 'C';
	th_check(!token_format_valid(bad, TOKEN_PREFIX),
	    "format: wrong prefix is rejected", "accepted");
	th_check(!token_format_valid(NULL, TOKEN_PREFIX) &&
	    !token_format_valid("", TOKEN_PREFIX),
	    "format: NULL and empty are rejected", "accepted");
	sodium_memzero(t, sizeof(t));
	sodium_memzero(r, sizeof(r));
	sodium_memzero(bad, sizeof(bad));
}

static void
test_unique(void)
{
	char (*v)[TOKEN_STR_SIZE];
	char (*a)[TOKEN_ACCESSOR_SIZE];
	size_t i, dup = 0, bad = 0;

	v = calloc(N_UNIQUE, sizeof(*v));
	a = calloc(N_UNIQUE, sizeof(*a));
	if (v == NULL || a == NULL) {
		th_check(0, "unique: allocate", "calloc failed");
		free(v);
		free(a);
		return;
	}
	for (i = 0; i < N_UNIQUE; i++) {
		if (token_new(v[i]) != 0 || token_accessor_new(a[i]) != 0)
			bad++;
		if (strlen(a[i]) != TOKEN_ACCESSOR_LEN ||
		    !all_in(a[i], TOKEN_ACCESSOR_LEN, "0123456789abcdef"))
			bad++;
	}
	TH_EQ_INT(bad, 0, "unique: 1000 tokens and accessors well-formed");
	qsort(v, N_UNIQUE, sizeof(*v), cmp_str);
	qsort(a, N_UNIQUE, sizeof(*a), cmp_str);
	for (i = 1; i < N_UNIQUE; i++) {
		if (strcmp(v[i - 1], v[i]) == 0)
			dup++;
		if (strcmp(a[i - 1], a[i]) == 0)
			dup++;
	}
	TH_EQ_INT(dup, 0, "unique: no repeat among 1000 tokens and accessors");
	sodium_memzero(v, N_UNIQUE * sizeof(*v));
	free(v);
	free(a);
}

static void
test_hash(void)
{
	/* SHA-256("abc"), FIPS 180-2 appendix B.1 */
	static const uint8_t abc[TOKEN_HASH_LEN] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
		0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
		0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
		0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad };
	uint8_t h1[TOKEN_HASH_LEN], h2[TOKEN_HASH_LEN], h3[TOKEN_HASH_LEN];
	char t[TOKEN_STR_SIZE], u[TOKEN_STR_SIZE];
	char longs[TOKEN_PRESENTED_MAX + 2];
	char *huge;

	TH_EQ_INT(token_hash("abc", h1), 0, "hash: hashes a short string");
	th_check(memcmp(h1, abc, sizeof(abc)) == 0,
	    "hash: SHA-256 known answer", "digest differs from FIPS 180-2");
	if (token_new(t) != 0 || token_new(u) != 0) {
		th_check(0, "hash: make tokens", "token_new failed");
		return;
	}
	TH_EQ_INT(token_hash(t, h1), 0, "hash: hashes a token");
	TH_EQ_INT(token_hash(t, h2), 0, "hash: hashes it again");
	th_check(memcmp(h1, h2, sizeof(h1)) == 0, "hash: stable",
	    "two hashes of one token differ");
	TH_EQ_INT(token_hash(u, h3), 0, "hash: hashes another token");
	th_check(memcmp(h1, h3, sizeof(h1)) != 0, "hash: tokens differ",
	    "two tokens hashed the same");

	memset(longs, 'x', sizeof(longs));
	longs[TOKEN_PRESENTED_MAX] = '\0';
	TH_EQ_INT(token_hash(longs, h1), 0, "hash: 128 characters accepted");
	longs[TOKEN_PRESENTED_MAX] = 'x';
	longs[TOKEN_PRESENTED_MAX + 1] = '\0';
	TH_EQ_INT(token_hash(longs, h1), CAP_ERR_INVALID,
	    "hash: 129 characters rejected");
	th_check(!token_format_valid(longs, TOKEN_PREFIX),
	    "format: 129 characters rejected", "accepted");
	if ((huge = malloc(1 << 20)) != NULL) {
		memset(huge, 'y', 1 << 20);
		huge[(1 << 20) - 1] = '\0';
		TH_EQ_INT(token_hash(huge, h1), CAP_ERR_INVALID,
		    "hash: a 1 MiB string rejected");
		free(huge);
	}
	TH_EQ_INT(token_hash("", h1), CAP_ERR_INVALID, "hash: empty rejected");
	TH_EQ_INT(token_hash("cps_a b", h1), CAP_ERR_INVALID,
	    "hash: a space rejected");
	TH_EQ_INT(token_hash("cps_a\n", h1), CAP_ERR_INVALID,
	    "hash: a newline rejected");
	TH_EQ_INT(token_hash(NULL, h1), CAP_ERR_INVALID, "hash: NULL rejected");
	sodium_memzero(t, sizeof(t));
	sodium_memzero(u, sizeof(u));
}

struct cs_case {
	const char	*name;
	const char	*chars;
	double		 chi_max;	/* upper tail 1e-10 of chi-square(df) */
};

static const struct cs_case cases[] = {
	{ "alnum", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789", 159.3 },
	{ "alpha", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
	    143.5 },
	{ "numeric", "0123456789", 65.8 },
	{ "hex", "0123456789abcdef", 79.1 },
	{ "base64url", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_", 162.5 },
	{ "ascii-printable", "!\"#$%&'()*+,-./0123456789:;<=>?@"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~",
	    207.6 },
};

#define GEN_ROUNDS	200

static void
test_gen(void)
{
	unsigned long counts[256];
	char name[96], *s = NULL;
	size_t c, i, k, nchars, total;
	double chi, expect;
	int bad, r;

	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		memset(counts, 0, sizeof(counts));
		nchars = strlen(cases[c].chars);
		bad = 0;
		total = 0;
		for (k = 0; k < GEN_ROUNDS; k++) {
			if ((r = gen_secret(GEN_SECRET_MAX, cases[c].name,
			    &s)) != 0 || strlen(s) != GEN_SECRET_MAX) {
				bad++;
				sodium_free(s);
				s = NULL;
				continue;
			}
			if (!all_in(s, GEN_SECRET_MAX, cases[c].chars))
				bad++;
			for (i = 0; i < GEN_SECRET_MAX; i++)
				counts[(unsigned char)s[i]]++;
			total += GEN_SECRET_MAX;
			sodium_free(s);
			s = NULL;
		}
		snprintf(name, sizeof(name),
		    "gen %s: 1024-character secrets, all in the set",
		    cases[c].name);
		TH_EQ_INT(bad, 0, name);
		expect = (double)total / (double)nchars;
		chi = 0;
		for (i = 0; i < nchars; i++) {
			double d = (double)counts[(unsigned char)
			    cases[c].chars[i]] - expect;
			chi += d * d / expect;
		}
		snprintf(name, sizeof(name),
		    "gen %s: characters roughly uniform", cases[c].name);
		th_check(chi < cases[c].chi_max, name,
		    "chi-square %.1f over %zu draws, expected under %.1f",
		    chi, total, cases[c].chi_max);
		th_check(gen_charset_valid(cases[c].name), "gen: set known",
		    "%s unknown", cases[c].name);
	}

	TH_EQ_INT(gen_secret(1, "hex", &s), 0, "gen: length 1 accepted");
	th_check(s != NULL && strlen(s) == 1, "gen: length 1 gives 1",
	    "got %zu", s == NULL ? 0 : strlen(s));
	sodium_free(s);
	s = NULL;
	TH_EQ_INT(gen_secret(0, "hex", &s), CAP_ERR_INVALID,
	    "gen: length 0 rejected");
	th_check(s == NULL, "gen: nothing returned on failure", "non-NULL");
	TH_EQ_INT(gen_secret(GEN_SECRET_MAX + 1, "hex", &s), CAP_ERR_INVALID,
	    "gen: length 1025 rejected");
	TH_EQ_INT(gen_secret(16, "emoji", &s), CAP_ERR_INVALID,
	    "gen: unknown set rejected");
	TH_EQ_INT(gen_secret(16, NULL, &s), CAP_ERR_INVALID,
	    "gen: NULL set rejected");
	TH_EQ_INT(gen_secret(16, "hex", NULL), CAP_ERR_INVALID,
	    "gen: NULL out rejected");
	th_check(!gen_charset_valid("ALNUM") && !gen_charset_valid(""),
	    "gen: set names are exact", "accepted a variant");
}

int
main(void)
{
	if (sodium_init() < 0) {
		th_check(0, "sodium_init", "failed");
		return th_done();
	}
	test_format();
	test_unique();
	test_hash();
	test_gen();
	return th_done();
}
