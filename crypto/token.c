/*
 * token.c - random strings for access control: tokens, references,
 * accessors and generated secrets.
 *
 * Presented tokens are looked up by their SHA-256, never compared: the
 * lookup key is the hash of a 256-bit random secret, so the time a B-tree
 * search takes can tell an attacker at most something about hashes of
 * guesses, which says nothing usable about any stored token's preimage.
 * No constant-time comparison is needed for that reason.
 */
#include <string.h>

#include <sodium.h>

#include "common/err.h"
#include "crypto/token.h"

_Static_assert(TOKEN_B64_LEN + 1 == sodium_base64_ENCODED_LEN(TOKEN_RAW_LEN,
    sodium_base64_VARIANT_URLSAFE_NO_PADDING), "token length");
_Static_assert(TOKEN_HASH_LEN == crypto_hash_sha256_BYTES, "hash length");

struct charset {
	const char	*name;
	const char	*chars;
};

static const struct charset charsets[] = {
	{ "alnum", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789" },
	{ "alpha", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" },
	{ "numeric", "0123456789" },
	{ "hex", "0123456789abcdef" },
	{ "base64url", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_" },
	{ "ascii-printable", "!\"#$%&'()*+,-./0123456789:;<=>?@"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~" },
	{ NULL, NULL }
};

static int
sodium_ready(void)
{
	return sodium_init() < 0 ? CAP_ERR_INTERNAL : 0;
}

static int
random_string(const char *prefix, char out[TOKEN_STR_SIZE])
{
	uint8_t raw[TOKEN_RAW_LEN];
	int r;

	memset(out, 0, TOKEN_STR_SIZE);
	if ((r = sodium_ready()) != 0)
		return r;
	randombytes_buf(raw, sizeof(raw));
	memcpy(out, prefix, TOKEN_PREFIX_LEN);
	sodium_bin2base64(out + TOKEN_PREFIX_LEN, TOKEN_B64_LEN + 1, raw,
	    sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
	return 0;
}

int
token_new(char out[TOKEN_STR_SIZE])
{
	if (out == NULL)
		return CAP_ERR_INVALID;
	return random_string(TOKEN_PREFIX, out);
}

int
ref_new(char out[TOKEN_STR_SIZE])
{
	if (out == NULL)
		return CAP_ERR_INVALID;
	return random_string(REF_PREFIX, out);
}

int
token_format_valid(const char *s, const char *prefix)
{
	uint8_t raw[TOKEN_RAW_LEN];
	char again[TOKEN_B64_LEN + 1];
	size_t rawlen = 0;
	const char *end = NULL;
	int ok = 0;

	if (s == NULL || prefix == NULL ||
	    strlen(prefix) != TOKEN_PREFIX_LEN ||
	    strnlen(s, TOKEN_PRESENTED_MAX + 1) != TOKEN_STR_LEN ||
	    memcmp(s, prefix, TOKEN_PREFIX_LEN) != 0 || sodium_ready() != 0)
		return 0;
	/*
	 * Decoding alone would accept a last character with stray low bits
	 * set on some libsodium versions; re-encoding and comparing keeps
	 * one spelling per token.
	 */
	if (sodium_base642bin(raw, sizeof(raw), s + TOKEN_PREFIX_LEN,
	    TOKEN_B64_LEN, NULL, &rawlen, &end,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    rawlen != TOKEN_RAW_LEN || end != s + TOKEN_STR_LEN)
		goto out;
	sodium_bin2base64(again, sizeof(again), raw, sizeof(raw),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	ok = memcmp(again, s + TOKEN_PREFIX_LEN, TOKEN_B64_LEN) == 0;
 out:
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(again, sizeof(again));
	return ok;
}

int
token_hash(const char *token, uint8_t out[TOKEN_HASH_LEN])
{
	size_t len, i;
	int r;

	if (out != NULL)
		memset(out, 0, TOKEN_HASH_LEN);
	if (token == NULL || out == NULL)
		return CAP_ERR_INVALID;
	/* Never read more of a presented string than the limit needs. */
	len = strnlen(token, TOKEN_PRESENTED_MAX + 1);
	if (len == 0 || len > TOKEN_PRESENTED_MAX)
		return CAP_ERR_INVALID;
	for (i = 0; i < len; i++)
		if ((unsigned char)token[i] < 0x21 ||
		    (unsigned char)token[i] > 0x7e)
			return CAP_ERR_INVALID;
	if ((r = sodium_ready()) != 0)
		return r;
	if (crypto_hash_sha256(out, (const unsigned char *)token, len) != 0)
		return CAP_ERR_INTERNAL;
	return 0;
}

int
token_accessor_new(char out[TOKEN_ACCESSOR_SIZE])
{
	uint8_t raw[TOKEN_ACCESSOR_LEN / 2];
	int r;

	if (out == NULL)
		return CAP_ERR_INVALID;
	memset(out, 0, TOKEN_ACCESSOR_SIZE);
	if ((r = sodium_ready()) != 0)
		return r;
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(out, TOKEN_ACCESSOR_SIZE, raw, sizeof(raw));
	return 0;
}

static const struct charset *
charset_find(const char *name)
{
	size_t i;

	if (name == NULL)
		return NULL;
	for (i = 0; charsets[i].name != NULL; i++)
		if (strcmp(charsets[i].name, name) == 0)
			return &charsets[i];
	return NULL;
}

int
gen_charset_valid(const char *name)
{
	return charset_find(name) != NULL;
}

int
gen_secret(size_t length, const char *charset_name, char **out)
{
	const struct charset *cs;
	uint32_t n;
	size_t i;
	char *buf;
	int r;

	if (out != NULL)
		*out = NULL;
	if (out == NULL || length == 0 || length > GEN_SECRET_MAX ||
	    (cs = charset_find(charset_name)) == NULL)
		return CAP_ERR_INVALID;
	if ((r = sodium_ready()) != 0)
		return r;
	if ((buf = sodium_malloc(length + 1)) == NULL)
		return CAP_ERR_NOMEM;
	n = (uint32_t)strlen(cs->chars);
	/* randombytes_uniform rejects the biased tail: no modulo bias. */
	for (i = 0; i < length; i++)
		buf[i] = cs->chars[randombytes_uniform(n)];
	buf[length] = '\0';
	*out = buf;	/* transferred */
	return 0;
}
