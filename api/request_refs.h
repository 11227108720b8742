/*
 * request_refs.h - bodies of the reference, redeem and generate calls.
 *
 * Pure parsers over the request body (no I/O), driven by the handlers of
 * handlers_refs.c, the unit tests and the fuzz target.  `why`, when set,
 * is a constant message safe to send to the client.  All return 0,
 * CAP_ERR_INVALID for a bad shape or value, or CAP_ERR_NOMEM.
 */
#ifndef CAP_API_REQUEST_REFS_H
#define CAP_API_REQUEST_REFS_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/token.h"

#define API_REF_TTL_DEFAULT	60		/* seconds */
#define API_REF_TTL_MAX		(24 * 3600)	/* seconds */
#define API_REF_USES_DEFAULT	1
#define API_REF_USES_MAX	1000
#define API_GEN_LENGTH_DEFAULT	32
#define API_GEN_CHARSET_DEFAULT	"alnum"
#define API_GEN_FIELD_DEFAULT	"value"
#define API_GEN_CHARSET_MAX	32	/* longest character set name */
#define API_GEN_FIELD_MAX	128	/* longest field name */

/* POST .../{n}/refs: {"ttl":"60s","uses":1,"version":N}, all optional. */
struct api_ref_req {
	uint64_t	ttl;		/* seconds, 1..API_REF_TTL_MAX */
	uint32_t	uses;		/* 1..API_REF_USES_MAX */
	uint32_t	version;	/* 0: the newest live version */
};

/*
 * api_req_ref_create fills rr from buf (an empty body means every
 * default).  Unknown fields are refused.
 */
int api_req_ref_create(const uint8_t *buf, size_t len, struct api_ref_req *rr,
    const char **why) __attribute__((warn_unused_result));

#define API_REF_PRESENTED_SIZE	(TOKEN_PRESENTED_MAX + 1)

/*
 * POST /v1/refs/redeem: {"ref":"cpr_..."}.  ref receives the presented
 * string (1..TOKEN_PRESENTED_MAX bytes); whether it is a well-formed
 * reference is the handler's question (token_format_valid), since a
 * malformed one is answered like an unknown one.  The caller wipes ref.
 */
int api_req_ref_redeem(const uint8_t *buf, size_t len,
    char ref[API_REF_PRESENTED_SIZE], const char **why)
    __attribute__((warn_unused_result));

/*
 * POST .../{n}/generate: {"length":32,"charset":"alnum","field":"value",
 * "ttl":"60s","uses":1}, all optional.  length is 1..GEN_SECRET_MAX,
 * charset a name gen_charset_valid accepts, field a valid name
 * (cap_name_valid).
 */
struct api_gen_req {
	size_t		length;
	char		charset[API_GEN_CHARSET_MAX + 1];
	char		field[API_GEN_FIELD_MAX + 1];
	struct api_ref_req ref;	/* ttl and uses of the reference; version 0 */
};

int api_req_generate(const uint8_t *buf, size_t len, struct api_gen_req *gr,
    const char **why) __attribute__((warn_unused_result));

#endif
