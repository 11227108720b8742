/*
 * util.h - small parsers and formatters shared by every layer.
 */
#ifndef CAP_UTIL_H
#define CAP_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define CAP_NAME_MAX 128	/* longest domain or secret name, bytes */

/*
 * cap_name_valid: 1 if s is a valid domain or secret name: 1..CAP_NAME_MAX
 * characters from [A-Za-z0-9._-], not starting with '.' or '-'.
 */
int cap_name_valid(const char *s);

/*
 * cap_parse_duration parses "90s", "15m", "1h", "7d" (or a bare number of
 * seconds) into seconds.  Returns CAP_ERR_INVALID on anything else,
 * including overflow and values over 100 years.
 */
int cap_parse_duration(const char *s, uint64_t *secs);

/*
 * cap_parse_size parses "512", "64k", "1m", "2g" (powers of 1024) into
 * bytes.  Returns CAP_ERR_INVALID on anything else or on overflow.
 */
int cap_parse_size(const char *s, uint64_t *bytes);

/* cap_parse_bool accepts yes/no, true/false, on/off, 1/0. */
int cap_parse_bool(const char *s, int *out);

/* cap_format_time writes t (seconds since the epoch, UTC) as RFC 3339. */
void cap_format_time(uint64_t t, char out[32]);

/*
 * cap_bytes_str returns a malloc'd NUL-terminated copy of n bytes that
 * need not be terminated themselves (a BIO's buffer, a record field, a
 * header inside a receive buffer), where strndup could read past n looking
 * for a NUL.  NULL when out of memory.
 */
char *cap_bytes_str(const void *p, size_t n);

/* cap_now returns the wall-clock time in seconds since the epoch. */
uint64_t cap_now(void);

/* cap_now_ms returns a monotonic clock in milliseconds. */
uint64_t cap_now_ms(void);

/*
 * cap_read_file reads at most max bytes of path into a NUL-terminated
 * buffer allocated with sodium_malloc (the caller wipes and frees it with
 * sodium_free).  Returns CAP_ERR_IO, CAP_ERR_TOO_LARGE or CAP_ERR_NOMEM.
 */
int cap_read_file_secure(const char *path, size_t max, char **out, size_t *len);

/*
 * cap_read_fd_secure is cap_read_file_secure on an open descriptor, read
 * to its end (and not closed).
 */
int cap_read_fd_secure(int fd, size_t max, char **out, size_t *len);

#endif
