/*
 * token.h - bearer tokens, single-use references, accessors and generated
 * secrets: the random strings of access control.
 *
 * A token is "cps_" and a reference "cpr_", followed by 32 random bytes in
 * unpadded base64url (43 characters): 47 characters in all.  The store
 * keeps only token_hash() of either (SHA-256 of the whole string), never
 * the string itself.  An accessor is 16 random bytes in lowercase hex: it
 * names a token to an admin without granting anything.
 *
 * Every string produced here that grants access (tokens, references,
 * generated secrets) is a secret: the caller wipes it with sodium_memzero
 * (or sodium_free for gen_secret) once it has been handed out.
 * Thread-safe.  Returns 0 or a negative CAP_ERR_*.
 */
#ifndef CAP_TOKEN_H
#define CAP_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define TOKEN_PREFIX		"cps_"
#define REF_PREFIX		"cpr_"
#define TOKEN_PREFIX_LEN	4
#define TOKEN_RAW_LEN		32	/* random bytes in a token or reference */
#define TOKEN_B64_LEN		43	/* unpadded base64url of TOKEN_RAW_LEN */
#define TOKEN_STR_LEN		(TOKEN_PREFIX_LEN + TOKEN_B64_LEN)
#define TOKEN_STR_SIZE		(TOKEN_STR_LEN + 1)
#define TOKEN_PRESENTED_MAX	128	/* longest string token_hash accepts */
#define TOKEN_HASH_LEN		32	/* SHA-256 */
#define TOKEN_ACCESSOR_LEN	32
#define TOKEN_ACCESSOR_SIZE	(TOKEN_ACCESSOR_LEN + 1)
#define GEN_SECRET_MAX		1024	/* longest gen_secret output */

/* token_new writes a fresh random "cps_..." token (NUL-terminated) into out. */
int token_new(char out[TOKEN_STR_SIZE]) __attribute__((warn_unused_result));
/* ref_new writes a fresh random "cpr_..." reference into out. */
int ref_new(char out[TOKEN_STR_SIZE]) __attribute__((warn_unused_result));

/*
 * token_format_valid: 1 if s is exactly prefix (TOKEN_PREFIX or
 * REF_PREFIX) followed by TOKEN_B64_LEN base64url characters that decode
 * to TOKEN_RAW_LEN bytes; reads at most TOKEN_PRESENTED_MAX + 1 bytes of s.
 * For turning away a malformed presented string before any lookup.
 */
int token_format_valid(const char *s, const char *prefix);

/*
 * token_hash computes the store key of a presented token or reference:
 * SHA-256 of its bytes.  CAP_ERR_INVALID if it is empty, longer than
 * TOKEN_PRESENTED_MAX (only TOKEN_PRESENTED_MAX + 1 bytes are read), or
 * holds a byte outside 0x21..0x7e.
 */
int token_hash(const char *token, uint8_t out[TOKEN_HASH_LEN])
    __attribute__((warn_unused_result));

/* token_accessor_new writes 16 random bytes as 32 lowercase hex digits. */
int token_accessor_new(char out[TOKEN_ACCESSOR_SIZE])
    __attribute__((warn_unused_result));

/*
 * gen_secret generates length (1..GEN_SECRET_MAX) characters drawn
 * uniformly and independently from the named character set:
 *   "alnum"            A-Z a-z 0-9
 *   "alpha"            A-Z a-z
 *   "numeric"          0-9
 *   "hex"              0-9 a-f
 *   "base64url"        A-Z a-z 0-9 - _
 *   "ascii-printable"  0x21..0x7e
 * *out is NUL-terminated, allocated with sodium_malloc; release it with
 * sodium_free, which wipes it.  CAP_ERR_INVALID for a bad length or an
 * unknown set, CAP_ERR_NOMEM.
 */
int gen_secret(size_t length, const char *charset_name, char **out)
    __attribute__((warn_unused_result));

/* gen_charset_valid: 1 if name is one of gen_secret's character sets. */
int gen_charset_valid(const char *name);

#endif
