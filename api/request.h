/*
 * request.h - reading and validating request bodies.
 *
 * Bodies are copied out of libevent into sodium_malloc'd memory (the
 * libevent buffer is wiped as it is drained), parsed with jansson under a
 * size and nesting limit, and checked against the shape of each call.
 * The parse functions are pure and are what the fuzz target drives.
 * `why`, when set, is a constant message safe to send to the client.
 */
#ifndef CAP_API_REQUEST_H
#define CAP_API_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/util.h"

#define API_JSON_DEPTH_MAX	32	/* deepest nesting of arrays/objects */
#define API_DESTROY_MAX		1024	/* most versions in one destroy */

struct evhttp_request;

/*
 * api_json_alloc_init makes jansson allocate through functions that wipe
 * every block when it is freed (jansson copies strings, including secret
 * values, into its own allocations).  Call once, before any other thread
 * or any jansson call; later calls do nothing.
 */
void api_json_alloc_init(void);

/* api_json_free releases memory jansson returned (json_dumps). */
void api_json_free(void *p);

/*
 * api_body_read moves the request body into a heap,
 * NUL-terminated buffer and wipes what libevent held.  *buf is NULL for
 * an empty body.  CAP_ERR_TOO_LARGE over max bytes (the libevent buffer is
 * wiped then too), CAP_ERR_NOMEM.  Release with api_body_free.
 */
int api_body_read(struct evhttp_request *req, size_t max, uint8_t **buf,
    size_t *len) __attribute__((warn_unused_result));
void api_body_free(uint8_t *buf, size_t len);

/*
 * api_json_depth_ok: 1 when no array/object in the len bytes of JSON text
 * nests deeper than max (strings are skipped), 0 otherwise.
 */
int api_json_depth_ok(const uint8_t *buf, size_t len, unsigned max);

/*
 * api_json_object_parse parses buf as one JSON object (no duplicate keys,
 * no NUL in strings, depth limit).  CAP_ERR_INVALID otherwise.
 */
int api_json_object_parse(const uint8_t *buf, size_t len, json_t **out,
    const char **why) __attribute__((warn_unused_result));

/*
 * The field readers shared by the body parsers of api/request*.c.
 *
 * api_json_body_parse is api_json_object_parse that also refuses a key
 * not in the NULL-terminated list allowed ("unknown field in the body",
 * CAP_ERR_INVALID).
 */
int api_json_body_parse(const uint8_t *buf, size_t len,
    const char *const *allowed, json_t **out, const char **why)
    __attribute__((warn_unused_result));

/* api_json_plain_string: v's text if v is a string without NUL, or NULL. */
const char *api_json_plain_string(const json_t *v);

/* api_json_int_in: 1, with *out set, if v is an integer from lo to hi. */
int api_json_int_in(const json_t *v, json_int_t lo, json_int_t hi,
    json_int_t *out);

/* POST /v1/domains: {"name": NAME}. */
int api_req_domain_create(const uint8_t *buf, size_t len,
    char name[CAP_NAME_MAX + 1], const char **why)
    __attribute__((warn_unused_result));

/* PUT .../secrets/{n}: {"data": {...}, "cas": N} */
struct api_put_req {
	char		*data;		/* compact JSON text, wiped on clear */
	size_t		 len;
	uint32_t	 cas;		/* VAULT_CAS_NONE when absent */
};

/*
 * api_req_secret_put checks the body and serialises "data" compactly.
 * CAP_ERR_INVALID for a bad shape, CAP_ERR_TOO_LARGE when data is over
 * VAULT_DATA_MAX.  Release with api_put_req_clear (also on failure).
 */
int api_req_secret_put(const uint8_t *buf, size_t len, struct api_put_req *pr,
    const char **why) __attribute__((warn_unused_result));
void api_put_req_clear(struct api_put_req *pr);

/*
 * POST .../destroy: {"versions":[1,2]}; an empty body, {} or a null
 * "versions" means all versions (*n = 0, *versions NULL).  *versions is
 * malloc'd.
 */
int api_req_destroy(const uint8_t *buf, size_t len, uint32_t **versions,
    size_t *n, const char **why) __attribute__((warn_unused_result));

#endif
