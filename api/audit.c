/* audit.c - the hash-chained audit log; see audit.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "api/audit.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"

#define HASH_FIELD	",\"hash\":\""
#define HASH_FIELD_LEN	(sizeof(HASH_FIELD) - 1)
#define GENESIS		"0000000000000000000000000000000000000000000000000000000000000000"

struct audit {
	pthread_mutex_t	 lock;
	int		 fd;
	int		 sync;
	uint64_t	 seq;			/* of the last entry written */
	char		 last[AUDIT_HASH_HEX];	/* hash of the last entry */
	audit_hmac_fn	 hmac;
	void		*hmac_ctx;
};

static void
hex_encode(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

static int
sha256_hex(const char *data, size_t len, char out[AUDIT_HASH_HEX])
{
	uint8_t md[32];
	unsigned mdlen = 0;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != 32)
		return CAP_ERR_INTERNAL;
	hex_encode(md, 32, out);
	return 0;
}

/*
 * A line is BODY-without-closing-brace + ,"hash":"HEX"} where HEX hashes
 * BODY (the entry with its closing brace and without the hash field).
 * split_line finds the hash and rebuilds BODY in body (len + 1 bytes).
 */
static int
split_line(const char *line, size_t len, char *body, size_t *bodylen,
    char hash[AUDIT_HASH_HEX])
{
	size_t tail = HASH_FIELD_LEN + 64 + 2;	/* ,"hash":"<64>"} */

	if (len < tail + 2 || line[len - 1] != '}' || line[len - 2] != '"' ||
	    memcmp(line + len - tail, HASH_FIELD, HASH_FIELD_LEN) != 0)
		return CAP_ERR_CORRUPT;
	memcpy(hash, line + len - 66, 64);
	hash[64] = '\0';
	memcpy(body, line, len - tail);
	body[len - tail] = '}';
	*bodylen = len - tail + 1;
	return 0;
}

/* check_line verifies one line; fills seq, prev and its own hash. */
static int
check_line(const char *line, size_t len, uint64_t *seq, char prev[AUDIT_HASH_HEX],
    char hash[AUDIT_HASH_HEX], const char **why)
{
	char *body = NULL, calc[AUDIT_HASH_HEX];
	json_t *o = NULL, *jseq, *jprev;
	json_error_t jerr;
	size_t bodylen;
	int r = CAP_ERR_CORRUPT;

	*why = "malformed entry";
	if (len > AUDIT_LINE_MAX || (body = malloc(len + 1)) == NULL)
		goto out;
	if (split_line(line, len, body, &bodylen, hash) != 0)
		goto out;
	if (sha256_hex(body, bodylen, calc) != 0)
		goto out;
	if (strcmp(calc, hash) != 0) {
		*why = "entry hash does not match its contents (edited)";
		r = CAP_ERR_CRYPTO;
		goto out;
	}
	if ((o = json_loadb(body, bodylen, JSON_REJECT_DUPLICATES, &jerr)) == NULL)
		goto out;
	jseq = json_object_get(o, "seq");
	jprev = json_object_get(o, "prev");
	if (!json_is_integer(jseq) || json_integer_value(jseq) < 1 ||
	    !json_is_string(jprev) || strlen(json_string_value(jprev)) != 64)
		goto out;
	*seq = (uint64_t)json_integer_value(jseq);
	memcpy(prev, json_string_value(jprev), AUDIT_HASH_HEX);
	r = 0;
 out:
	json_decref(o);
	free(body);
	return r;
}

int
audit_verify(FILE *f, uint64_t *count, uint64_t *bad_line, char *reason,
    size_t reasonlen)
{
	char *line = NULL, prev[AUDIT_HASH_HEX], hash[AUDIT_HASH_HEX];
	char expect[AUDIT_HASH_HEX] = GENESIS;
	size_t cap = 0;
	ssize_t n;
	uint64_t lineno = 0, seq, want = 1;
	const char *why = NULL;
	int r;

	*count = 0;
	*bad_line = 0;
	if (reasonlen > 0)
		reason[0] = '\0';
	while ((n = getline(&line, &cap, f)) != -1) {
		lineno++;
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		r = check_line(line, (size_t)n, &seq, prev, hash, &why);
		if (r == 0 && seq != want) {
			why = seq > want ? "entries missing before this one" :
			    "entry out of order or repeated";
			r = CAP_ERR_CRYPTO;
		} else if (r == 0 && strcmp(prev, expect) != 0) {
			why = "chain broken: previous entry removed, "
			    "reordered or edited";
			r = CAP_ERR_CRYPTO;
		}
		if (r != 0) {
			*bad_line = lineno;
			snprintf(reason, reasonlen, "line %" PRIu64 ": %s",
			    lineno, why);
			free(line);
			return CAP_ERR_CRYPTO;
		}
		memcpy(expect, hash, sizeof(expect));
		want = seq + 1;
		(*count)++;
	}
	free(line);
	return 0;
}

/* Read the last line of the file to continue the chain. */
static int
load_tail(audit *a)
{
	char buf[AUDIT_LINE_MAX + 2], prev[AUDIT_HASH_HEX];
	const char *why, *start;
	struct stat st;
	size_t want, len;
	ssize_t n;
	off_t off;

	if (fstat(a->fd, &st) == -1)
		return CAP_ERR_IO;
	if (st.st_size == 0) {
		a->seq = 0;
		memcpy(a->last, GENESIS, sizeof(a->last));
		return 0;
	}
	want = (size_t)st.st_size < sizeof(buf) ? (size_t)st.st_size :
	    sizeof(buf);
	off = st.st_size - (off_t)want;
	if ((n = pread(a->fd, buf, want, off)) != (ssize_t)want)
		return CAP_ERR_IO;
	if (buf[want - 1] != '\n')
		return CAP_ERR_CORRUPT;	/* torn last write */
	len = want - 1;
	start = buf;
	{
		size_t i = len;

		while (i > 0 && buf[i - 1] != '\n')
			i--;
		start = buf + i;
		len -= i;
	}
	if (check_line(start, len, &a->seq, prev, a->last, &why) != 0) {
		log_error("audit: last entry of the log does not verify: %s",
		    why);
		return CAP_ERR_CORRUPT;
	}
	return 0;
}

int
audit_open(const char *path, int sync, audit_hmac_fn hmac, void *ctx,
    audit **out)
{
	audit *a = NULL;
	int r = CAP_ERR_INTERNAL;

	*out = NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return CAP_ERR_NOMEM;
	a->fd = -1;
	pthread_mutex_init(&a->lock, NULL);
	a->sync = sync;
	a->hmac = hmac;
	a->hmac_ctx = ctx;
	if ((a->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC,
	    0600)) == -1) {
		log_error("audit: open %s: %s", path, strerror(errno));
		r = CAP_ERR_IO;
		goto out;
	}
	if ((r = load_tail(a)) != 0)
		goto out;
	*out = a;	/* transferred */
	a = NULL;
	r = 0;
 out:
	audit_free(a);
	return r;
}

void
audit_free(audit *a)
{
	if (a == NULL)
		return;
	if (a->fd != -1)
		close(a->fd);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

int
audit_name_hmac(audit *a, const char *name, char out[33])
{
	uint8_t mac[32];
	int r;

	if ((r = a->hmac(a->hmac_ctx, (const uint8_t *)name, strlen(name),
	    mac)) != 0)
		return r;
	hex_encode(mac, 16, out);
	return 0;
}

static int
write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return CAP_ERR_IO;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads (GET, HEAD) change nothing; everything else may. */
static int
audit_wants_sync(int mode, const char *method)
{
	if (mode == AUDIT_SYNC_ALL)
		return 1;
	if (mode != AUDIT_SYNC_CHANGES)
		return 0;
	return method == NULL || (strcmp(method, "GET") != 0 &&
	    strcmp(method, "HEAD") != 0);
}

int
audit_append(audit *a, const struct audit_event *ev)
{
	json_t *o = NULL;
	char *body = NULL, *line = NULL, ts[32], hash[AUDIT_HASH_HEX];
	char name_mac[33];
	json_malloc_t jmalloc;
	json_free_t jfree;
	size_t blen, llen;
	int r = CAP_ERR_INTERNAL, locked = 0;

	if (ev->name != NULL && (r = audit_name_hmac(a, ev->name,
	    name_mac)) != 0)
		goto out;
	cap_format_time(cap_now(), ts);
	if ((o = json_object()) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	pthread_mutex_lock(&a->lock);
	locked = 1;
	json_object_set_new(o, "seq", json_integer((json_int_t)(a->seq + 1)));
	json_object_set_new(o, "time", json_string(ts));
	json_object_set_new(o, "request_id", json_string(ev->request_id ?
	    ev->request_id : ""));
	json_object_set_new(o, "identity", json_string(ev->identity ?
	    ev->identity : ""));
	json_object_set_new(o, "op", json_string(ev->op ? ev->op : ""));
	json_object_set_new(o, "method", json_string(ev->method ?
	    ev->method : ""));
	json_object_set_new(o, "path", json_string(ev->path ? ev->path : ""));
	if (ev->domain != NULL)
		json_object_set_new(o, "domain", json_string(ev->domain));
	if (ev->name != NULL)
		json_object_set_new(o, "name_hmac", json_string(name_mac));
	json_object_set_new(o, "status", json_integer(ev->status));
	json_object_set_new(o, "outcome", json_string(ev->outcome ?
	    ev->outcome : ""));
	json_object_set_new(o, "duration_us",
	    json_integer((json_int_t)ev->duration_us));
	if (ev->facts != NULL) {
		json_t *f = json_object();
		size_t i;

		for (i = 0; f != NULL && ev->facts[i] != NULL &&
		    ev->facts[i + 1] != NULL; i += 2)
			json_object_set_new(f, ev->facts[i],
			    json_string(ev->facts[i + 1]));
		json_object_set_new(o, "facts", f);
	}
	json_object_set_new(o, "prev", json_string(a->last));
	if ((body = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	blen = strlen(body);
	if ((r = sha256_hex(body, blen, hash)) != 0)
		goto out;
	llen = blen - 1 + HASH_FIELD_LEN + 64 + 3;
	if (llen > AUDIT_LINE_MAX || (line = malloc(llen + 1)) == NULL) {
		r = llen > AUDIT_LINE_MAX ? CAP_ERR_TOO_LARGE : CAP_ERR_NOMEM;
		goto out;
	}
	snprintf(line, llen + 1, "%.*s%s%s\"}\n", (int)(blen - 1), body,
	    HASH_FIELD, hash);
	if ((r = write_all(a->fd, line, llen)) != 0 ||
	    (audit_wants_sync(a->sync, ev->method) &&
	    fdatasync(a->fd) == -1)) {
		log_error("audit: append failed: %s", strerror(errno));
		r = CAP_ERR_IO;
		goto out;
	}
	a->seq++;
	memcpy(a->last, hash, sizeof(a->last));
	r = 0;
 out:
	if (locked)
		pthread_mutex_unlock(&a->lock);
	free(line);
	if (body != NULL) {
		/* json_dumps memory belongs to jansson's allocator. */
		json_get_alloc_funcs(&jmalloc, &jfree);
		jfree(body);
	}
	json_decref(o);
	return r;
}

int
audit_tail(audit *a, size_t n, char **buf, size_t *len)
{
	struct stat st;
	char *b = NULL;
	size_t want, i, lines = 0, start;
	off_t off;
	int r = CAP_ERR_IO;

	*buf = NULL;
	*len = 0;
	pthread_mutex_lock(&a->lock);
	if (fstat(a->fd, &st) == -1)
		goto out;
	want = (size_t)st.st_size;
	if (want > n * (size_t)AUDIT_LINE_MAX)
		want = n * (size_t)AUDIT_LINE_MAX;
	off = st.st_size - (off_t)want;
	if ((b = malloc(want + 1)) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	if (pread(a->fd, b, want, off) != (ssize_t)want)
		goto out;
	/* Keep the last n complete lines. */
	start = 0;
	for (i = want; i > 0; i--) {
		if (b[i - 1] == '\n' && i != want && ++lines == n) {
			start = i;
			break;
		}
	}
	if (i == 0 && off > 0) {
		/* The window began mid-line: drop the partial first line. */
		char *nl = memchr(b, '\n', want);

		start = nl != NULL ? (size_t)(nl - b) + 1 : want;
	}
	memmove(b, b + start, want - start);
	b[want - start] = '\0';
	*len = want - start;
	*buf = b;	/* transferred */
	b = NULL;
	r = 0;
 out:
	pthread_mutex_unlock(&a->lock);
	free(b);
	return r;
}
