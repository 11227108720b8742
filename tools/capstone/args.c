/*
 * args.c - the pure argument parsers of the capstone CLI; see args.h.
 *
 * Secret values pass through here: every buffer that held one is wiped
 * before it is released, and no message names a value.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "common/err.h"
#include "common/util.h"
#include "tools/capstone/args.h"

int
cli_split_path(const char *s, char domain[CAP_NAME_MAX + 1],
    char name[CAP_NAME_MAX + 1])
{
	const char *slash;
	size_t dn;

	if (s == NULL || (slash = strchr(s, '/')) == NULL)
		return CAP_ERR_INVALID;
	dn = (size_t)(slash - s);
	if (dn == 0 || dn > CAP_NAME_MAX)
		return CAP_ERR_INVALID;
	memcpy(domain, s, dn);
	domain[dn] = '\0';
	if (!cap_name_valid(domain) || !cap_name_valid(slash + 1))
		return CAP_ERR_INVALID;
	/* cap_name_valid bounds the length, so this always fits */
	snprintf(name, CAP_NAME_MAX + 1, "%s", slash + 1);
	return 0;
}

int
cli_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0, d;

	if (s == NULL || *s == '\0')
		return CAP_ERR_INVALID;
	for (; *s != '\0'; s++) {
		if (!isdigit((unsigned char)*s))
			return CAP_ERR_INVALID;
		d = (uint64_t)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return CAP_ERR_INVALID;
		v = v * 10 + d;
	}
	if (v > max)
		return CAP_ERR_INVALID;
	*out = v;
	return 0;
}

int
cli_kv_to_json(int n, char *const *kv, json_t **out, char *err,
    size_t errlen)
{
	json_t *obj = NULL, *str;
	char *key = NULL, *fbuf = NULL;
	const char *eq, *val;
	size_t klen, vlen = 0;
	int i, r = CAP_ERR_INTERNAL;

	*out = NULL;
	if ((obj = json_object()) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((eq = strchr(kv[i], '=')) == NULL || eq == kv[i]) {
			snprintf(err, errlen, "expected key=value, got an "
			    "argument without a key or '=' (argument %d)",
			    i + 1);
			r = CAP_ERR_INVALID;
			goto out;
		}
		klen = (size_t)(eq - kv[i]);
		if ((key = strndup(kv[i], klen)) == NULL) {
			r = CAP_ERR_NOMEM;
			goto out;
		}
		if (json_object_get(obj, key) != NULL) {
			snprintf(err, errlen, "key '%s' given twice", key);
			r = CAP_ERR_INVALID;
			goto out;
		}
		val = eq + 1;
		vlen = strlen(val);
		if (val[0] == '@') {
			r = cap_read_file_secure(val + 1, CLI_MAX_VALUE_FILE,
			    &fbuf, &vlen);
			if (r != 0) {
				snprintf(err, errlen, "%s: %s", val + 1,
				    r == CAP_ERR_TOO_LARGE ?
				    "file larger than 512 KiB" :
				    r == CAP_ERR_IO ? strerror(errno) :
				    cap_strerror(r));
				goto out;
			}
			val = fbuf;
		}
		if ((str = json_stringn(val, vlen)) == NULL) {
			snprintf(err, errlen, "the value of '%s' is not "
			    "UTF-8 text", key);
			r = CAP_ERR_INVALID;
			goto out;
		}
		if (json_object_set_new(obj, key, str) != 0) {
			r = CAP_ERR_NOMEM;
			goto out;
		}
		if (fbuf != NULL) {
			sodium_memzero(fbuf, vlen);
			sodium_free(fbuf);
			fbuf = NULL;
		}
		free(key);
		key = NULL;
	}
	*out = obj;	/* transferred */
	obj = NULL;
	r = 0;
 out:
	if (fbuf != NULL) {
		sodium_memzero(fbuf, vlen);
		sodium_free(fbuf);
	}
	free(key);
	json_decref(obj);
	return r;
}

int
cli_json_object_parse(const char *buf, size_t len, json_t **out, char *err,
    size_t errlen)
{
	json_error_t jerr;
	json_t *v;

	*out = NULL;
	if (len > CLI_MAX_STDIN) {
		snprintf(err, errlen, "JSON input larger than 1 MiB");
		return CAP_ERR_TOO_LARGE;
	}
	if ((v = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		/* jansson's text names the position, never the content */
		snprintf(err, errlen, "invalid JSON on line %d, column %d",
		    jerr.line, jerr.column);
		return CAP_ERR_INVALID;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		snprintf(err, errlen, "expected a JSON object");
		return CAP_ERR_INVALID;
	}
	*out = v;
	return 0;
}

int
cli_json_dump(const json_t *v, size_t flags, char **out, size_t *len)
{
	char *buf;
	size_t need, got;

	*out = NULL;
	*len = 0;
	if ((need = json_dumpb(v, NULL, 0, flags)) == 0)
		return CAP_ERR_INVALID;
	if ((buf = malloc(need + 1)) == NULL)
		return CAP_ERR_NOMEM;
	if ((got = json_dumpb(v, buf, need, flags)) != need) {
		sodium_memzero(buf, need + 1);
		free(buf);
		return CAP_ERR_INTERNAL;
	}
	buf[need] = '\0';
	*out = buf;
	*len = need;
	return 0;
}

int
cli_secret_body(json_t *data, int has_cas, uint64_t cas, char **out,
    size_t *len)
{
	json_t *body = NULL;
	int r = CAP_ERR_NOMEM;

	*out = NULL;
	*len = 0;
	if (!json_is_object(data))
		return CAP_ERR_INVALID;
	if (has_cas && cas > (uint64_t)INT64_MAX)
		return CAP_ERR_INVALID;
	if ((body = json_object()) == NULL)
		goto out;
	if (json_object_set(body, "data", data) != 0)
		goto out;
	if (has_cas && json_object_set_new(body, "cas",
	    json_integer((json_int_t)cas)) != 0)
		goto out;
	r = cli_json_dump(body, JSON_COMPACT | JSON_PRESERVE_ORDER, out, len);
 out:
	json_decref(body);
	return r;
}

int
cli_read_file(const char *file, size_t max, const char *limit, char **out,
    size_t *len, char *err, size_t errlen)
{
	int fd, r;

	*out = NULL;
	*len = 0;
	if (strcmp(file, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "cannot open %s: %s", file,
		    strerror(errno));
		return CAP_ERR_IO;
	}
	r = cap_read_fd_secure(fd, max, out, len);
	if (fd != STDIN_FILENO)
		close(fd);
	if (r != 0) {
		*out = NULL;
		*len = 0;
		snprintf(err, errlen, "cannot read %s%s%s", file,
		    r == CAP_ERR_TOO_LARGE ? ": over " : "",
		    r == CAP_ERR_TOO_LARGE ? limit : "");
	}
	return r;
}
