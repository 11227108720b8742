/* util.c - small parsers and formatters shared by every layer. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "common/err.h"
#include "common/util.h"

int
cap_name_valid(const char *s)
{
	size_t i;

	if (s == NULL || s[0] == '\0' || s[0] == '.' || s[0] == '-')
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		if (i >= CAP_NAME_MAX)
			return 0;
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != '_' && s[i] != '-')
			return 0;
	}
	return 1;
}

/* Parse a decimal number followed by an optional one-letter unit. */
static int
parse_scaled(const char *s, const char *units, const uint64_t *mult,
    uint64_t max, uint64_t *out)
{
	uint64_t v = 0, m = 1;
	const char *p = s, *u;

	if (s == NULL || !isdigit((unsigned char)*p))
		return CAP_ERR_INVALID;
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return CAP_ERR_INVALID;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (*p != '\0') {
		if (p[1] != '\0' ||
		    (u = strchr(units, tolower((unsigned char)*p))) == NULL)
			return CAP_ERR_INVALID;
		m = mult[u - units];
	}
	if (v != 0 && m > max / v)
		return CAP_ERR_INVALID;
	*out = v * m;
	return 0;
}

int
cap_parse_duration(const char *s, uint64_t *secs)
{
	static const uint64_t mult[] = { 1, 60, 3600, 86400 };

	return parse_scaled(s, "smhd", mult, 100ULL * 366 * 86400, secs);
}

int
cap_parse_size(const char *s, uint64_t *bytes)
{
	static const uint64_t mult[] = { 1ULL << 10, 1ULL << 20, 1ULL << 30,
	    1ULL << 40 };

	return parse_scaled(s, "kmgt", mult, 1ULL << 50, bytes);
}

int
cap_parse_bool(const char *s, int *out)
{
	static const char *yes[] = { "yes", "true", "on", "1" };
	static const char *no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return CAP_ERR_INVALID;
}

void
cap_format_time(uint64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

uint64_t
cap_now(void)
{
	return (uint64_t)time(NULL);
}

uint64_t
cap_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int
cap_read_fd_secure(int fd, size_t max, char **out, size_t *len)
{
	char *buf = NULL;
	size_t have = 0;
	ssize_t n;
	int r = CAP_ERR_INTERNAL;

	*out = NULL;
	*len = 0;
	if ((buf = sodium_malloc(max + 1)) == NULL)
		return CAP_ERR_NOMEM;
	for (;;) {
		if (have == max + 1) {
			r = CAP_ERR_TOO_LARGE;
			goto out;
		}
		n = read(fd, buf + have, max + 1 - have);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			r = CAP_ERR_IO;
			goto out;
		}
		if (n == 0)
			break;
		have += (size_t)n;
	}
	buf[have] = '\0';
	*out = buf;	/* transferred */
	*len = have;
	buf = NULL;
	r = 0;
 out:
	if (buf != NULL) {
		sodium_memzero(buf, max + 1);
		sodium_free(buf);
	}
	return r;
}

int
cap_read_file_secure(const char *path, size_t max, char **out, size_t *len)
{
	int fd, r, saved;

	*out = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return CAP_ERR_IO;
	r = cap_read_fd_secure(fd, max, out, len);
	saved = errno;
	close(fd);
	errno = saved;
	return r;
}

char *
cap_bytes_str(const void *p, size_t n)
{
	char *s;

	if (n == SIZE_MAX || (s = malloc(n + 1)) == NULL)
		return NULL;
	if (n > 0)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}
