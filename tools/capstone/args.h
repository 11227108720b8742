/*
 * args.h - the pure argument parsers of the capstone CLI: DOMAIN/NAME
 * paths, numbers, k=v pairs into a JSON object, and the request bodies
 * built from them.  No network; unit tests include args.c directly.
 *
 * Functions return 0 or a negative CAP_ERR_*; where they take err, a
 * message fit for the user (never a secret value) is written there.
 */
#ifndef CAP_CLI_ARGS_H
#define CAP_CLI_ARGS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/util.h"

#define CLI_MAX_STDIN		(1024u * 1024)	/* JSON object read from stdin */
#define CLI_MAX_VALUE_FILE	(512u * 1024)	/* k=@file contents */

/*
 * cli_split_path splits "DOMAIN/NAME" into two valid names
 * (cap_name_valid).  CAP_ERR_INVALID otherwise.
 */
int cli_split_path(const char *s, char domain[CAP_NAME_MAX + 1],
    char name[CAP_NAME_MAX + 1]) __attribute__((warn_unused_result));

/* cli_parse_u64 reads a decimal number 0..max, nothing else around it. */
int cli_parse_u64(const char *s, uint64_t max, uint64_t *out)
    __attribute__((warn_unused_result));

/*
 * cli_kv_to_json turns n arguments "key=value" into a new JSON object of
 * strings.  A value "@PATH" is replaced by the contents of that file (at
 * most CLI_MAX_VALUE_FILE bytes, UTF-8 text).  Keys must be non-empty and
 * distinct.  The caller json_decref()s *out.
 */
int cli_kv_to_json(int n, char *const *kv, json_t **out, char *err,
    size_t errlen) __attribute__((warn_unused_result));

/*
 * cli_json_object_parse parses buf (len bytes) as one JSON object, the
 * whole of it.  CAP_ERR_INVALID if it is not one, CAP_ERR_TOO_LARGE over
 * CLI_MAX_STDIN.
 */
int cli_json_object_parse(const char *buf, size_t len, json_t **out,
    char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * cli_secret_body builds {"data":DATA} or, when has_cas,
 * {"data":DATA,"cas":N}, serialised compactly into a malloc'd buffer that
 * the caller wipes (sodium_memzero over *len) and frees.
 */
int cli_secret_body(json_t *data, int has_cas, uint64_t cas,
    char **out, size_t *len) __attribute__((warn_unused_result));

/*
 * cli_json_dump serialises v into a malloc'd, NUL-terminated buffer (flags
 * as for json_dumps); the caller wipes *len bytes and frees.
 */
int cli_json_dump(const json_t *v, size_t flags, char **out, size_t *len)
    __attribute__((warn_unused_result));

/*
 * cli_read_file reads FILE ("-": standard input) of at most max bytes into
 * a sodium_malloc'd *out of *len bytes (wipe and sodium_free it).  On
 * failure *out is NULL and err holds "cannot open FILE: REASON", or
 * "cannot read FILE" ending ": over LIMIT" when it holds more than max
 * (limit names max for people, e.g. "64 KiB"); the CAP_ERR_* code returns.
 */
int cli_read_file(const char *file, size_t max, const char *limit,
    char **out, size_t *len, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
