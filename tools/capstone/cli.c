/*
 * cli.c - option parsing, the call to the daemon and output helpers shared
 * by the capstone CLI's verbs; see cli.h.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "common/err.h"
#include "tools/capstone/args.h"
#include "tools/capstone/cli.h"

void
cli_err(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("capstone: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
cli_load_file(const char *file, size_t max, const char *limit, char **out,
    size_t *len)
{
	char err[512];

	if (cli_read_file(file, max, limit, out, len, err, sizeof(err)) != 0) {
		cli_err("%s", err);
		return CLI_FAIL;
	}
	return CLI_OK;
}

int
cli_write_all(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, p, len)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void
cli_usage(const struct cli_cmd *cmd, FILE *f)
{
	fprintf(f, "usage: capstone [global options] %s %s%s%s\n", cmd->verb,
	    cmd->sub, cmd->args[0] ? " " : "", cmd->args);
}

int
cli_usage_error(const struct cli_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("capstone: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cli_usage(cmd, stderr);
	return CLI_USAGE;
}

int
cli_getopt(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv,
    const char *shortopts, const struct option *longopts, int *rc)
{
	char so[64];
	int ch;

	/* ':' first: a missing argument is reported as ':' */
	snprintf(so, sizeof(so), ":h%s", shortopts);
	opterr = 0;
	for (;;) {
		ch = getopt_long(argc, argv, so, longopts, NULL);
		switch (ch) {
		case CLI_OPT_JSON:
			cli->json = 1;
			continue;
		case 'h':
			cli_usage(cmd, stdout);
			printf("%s\n", cmd->help);
			*rc = CLI_OK;
			return CLI_GETOPT_EXIT;
		case ':':
			*rc = cli_usage_error(cmd, "option %s needs a value",
			    argv[optind - 1]);
			return CLI_GETOPT_EXIT;
		case '?':
			if (optopt != 0)
				*rc = cli_usage_error(cmd, "unknown option -%c",
				    optopt);
			else
				*rc = cli_usage_error(cmd, "unknown option %s",
				    argv[optind - 1]);
			return CLI_GETOPT_EXIT;
		default:
			return ch;
		}
	}
}

int
cli_plain(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv,
    int nops, int *rc)
{
	static const struct option common_only[] = {
		CLI_COMMON_OPTS, { 0, 0, 0, 0 }
	};
	int ch;

	while ((ch = cli_getopt(cli, cmd, argc, argv, "", common_only,
	    rc)) != -1)
		if (ch == CLI_GETOPT_EXIT)
			return 1;
	if (nops >= 0 && argc - optind != nops) {
		*rc = cli_usage_error(cmd, "expected %d operand%s", nops,
		    nops == 1 ? "" : "s");
		return 1;
	}
	return 0;
}

int
cli_hex_id_path(const struct cli_cmd *cmd, const char *what,
    const char *prefix, const char *id, const char *suffix, char *path,
    size_t len)
{
	size_t i;

	for (i = 0; id[i] != '\0'; i++)
		if (!((id[i] >= '0' && id[i] <= '9') ||
		    (id[i] >= 'a' && id[i] <= 'f')))
			break;
	if (i != 32 || id[i] != '\0')
		return cli_usage_error(cmd, "a %s id is 32 lowercase hex "
		    "characters", what);
	snprintf(path, len, "%s/%s%s", prefix, id, suffix);
	return CLI_OK;
}

void
cli_print_safe(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		fputc(ch < 0x20 || ch == 0x7f ? '?' : ch, f);
	}
}

void
cli_print_field(int width, const char *name, const char *value)
{
	printf("%-*s ", width, name);
	cli_print_safe(stdout, value);
	putchar('\n');
}

void
cli_print_json(const json_t *v)
{
	if (json_dumpf(v, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0)
		fputc('\n', stdout);
}

char *
cli_scalar_text(const json_t *v)
{
	char *s = NULL;
	size_t len;

	switch (json_typeof(v)) {
	case JSON_STRING:
		if ((s = malloc(json_string_length(v) + 1)) != NULL) {
			memcpy(s, json_string_value(v),
			    json_string_length(v) + 1);
		}
		return s;
	case JSON_TRUE:
		return strdup("yes");
	case JSON_FALSE:
		return strdup("no");
	case JSON_NULL:
		return strdup("-");
	default:
		if (cli_json_dump(v, JSON_COMPACT | JSON_ENCODE_ANY |
		    JSON_PRESERVE_ORDER, &s, &len) != 0)
			return NULL;
		return s;
	}
}

const char *
cli_get_str(const json_t *obj, const char *key, const char *def)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s != NULL ? s : def;
}

static int
cmp_key(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* One secret value: a string exactly, anything else as compact JSON. */
static void
print_secret_value(const json_t *v)
{
	char *t;

	if (json_is_string(v)) {
		fwrite(json_string_value(v), 1, json_string_length(v), stdout);
		return;
	}
	if ((t = cli_scalar_text(v)) != NULL) {
		fputs(t, stdout);
		sodium_memzero(t, strlen(t));
		free(t);
	}
}

/* The data object as key=value lines, sorted by key. */
static int
print_secret_data(const json_t *data)
{
	const char **keys = NULL;
	const char *k;
	json_t *v;
	size_t n = 0, i;

	if (!json_is_object(data) || json_object_size(data) == 0)
		return CLI_OK;
	if ((keys = calloc(json_object_size(data), sizeof(*keys))) == NULL) {
		cli_err("out of memory");
		return CLI_FAIL;
	}
	json_object_foreach((json_t *)data, k, v)
		keys[n++] = k;
	qsort(keys, n, sizeof(*keys), cmp_key);
	for (i = 0; i < n; i++) {
		cli_print_safe(stdout, keys[i]);
		putchar('=');
		print_secret_value(json_object_get(data, keys[i]));
		putchar('\n');
	}
	free(keys);
	return CLI_OK;
}

int
cli_print_secret(const struct cli *cli, const json_t *res, const char *field,
    const char *what)
{
	const json_t *v;

	if (field != NULL) {
		if ((v = json_object_get(json_object_get(res, "data"),
		    field)) == NULL) {
			cli_err("%s has no field '%s'", what, field);
			return CLI_FAIL;
		}
		print_secret_value(v);
		putchar('\n');
		return CLI_OK;
	}
	if (cli->json) {
		cli_print_json(res);
		return CLI_OK;
	}
	return print_secret_data(json_object_get(res, "data"));
}

/* Prints the server's error object, or what is known without one. */
static void
print_http_error(const struct http_response *resp)
{
	json_t *root = NULL, *e;
	const char *code = NULL, *msg = NULL, *retry;

	root = json_loadb((const char *)resp->body, resp->body_len, 0, NULL);
	if ((e = json_object_get(root, "error")) != NULL) {
		code = json_string_value(json_object_get(e, "code"));
		msg = json_string_value(json_object_get(e, "message"));
	}
	fflush(stdout);
	fputs("capstone: ", stderr);
	if (code != NULL) {
		cli_print_safe(stderr, code);
		if (msg != NULL) {
			fputs(": ", stderr);
			cli_print_safe(stderr, msg);
		}
	} else
		fprintf(stderr, "the server answered HTTP %d", resp->status);
	if (resp->status == 429 &&
	    (retry = http_response_header(resp, "Retry-After")) != NULL) {
		fputs(" (retry after ", stderr);
		cli_print_safe(stderr, retry);
		fputs(" s)", stderr);
	}
	fputc('\n', stderr);
	json_decref(root);
}

int
cli_request(struct cli *cli, const char *method, const char *path,
    const char *body, size_t body_len, struct http_response **resp)
{
	char err[512];

	*resp = NULL;
	if (cli->client == NULL &&
	    cap_client_new(&cli->opts, &cli->client, err, sizeof(err)) != 0) {
		cli_err("%s", err);
		return CLI_FAIL;
	}
	if (cap_client_request(cli->client, method, path,
	    body != NULL ? "application/json" : NULL, body, body_len, resp,
	    err, sizeof(err)) != 0) {
		cli_err("%s", err);
		goto fail;
	}
	if ((*resp)->status >= 400) {
		print_http_error(*resp);
		goto fail;
	}
	return CLI_OK;
 fail:
	http_response_free(*resp);
	*resp = NULL;
	return CLI_FAIL;
}

int
cli_call(struct cli *cli, const char *method, const char *path,
    const char *body, size_t body_len, json_t **out)
{
	struct http_response *resp = NULL;
	json_error_t jerr;
	json_t *root = NULL;
	int rc;

	if (out != NULL)
		*out = NULL;
	if ((rc = cli_request(cli, method, path, body, body_len,
	    &resp)) != CLI_OK)
		goto out;
	rc = CLI_FAIL;
	if (resp->status < 200 || resp->status >= 300) {
		cli_err("unexpected HTTP %d from the server", resp->status);
		goto out;
	}
	if (resp->body_len > 0) {
		root = json_loadb((const char *)resp->body, resp->body_len, 0,
		    &jerr);
		if (root == NULL) {
			cli_err("the server's answer is not valid JSON");
			goto out;
		}
	}
	if (out != NULL) {
		*out = root;	/* transferred */
		root = NULL;
	}
	rc = CLI_OK;
 out:
	json_decref(root);
	http_response_free(resp);
	return rc;
}

int
cli_show(struct cli *cli, const char *path, void (*print)(const json_t *))
{
	json_t *out = NULL;
	int rc;

	if ((rc = cli_call(cli, "GET", path, NULL, 0, &out)) != CLI_OK)
		return rc;
	if (cli->json)
		cli_print_json(out);
	else
		print(out);
	json_decref(out);
	return CLI_OK;
}

int
cli_call_json(struct cli *cli, const char *method, const char *path,
    const json_t *body, json_t **out)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (body == NULL || cli_json_dump(body, JSON_COMPACT |
	    JSON_PRESERVE_ORDER, &text, &len) != 0) {
		cli_err("out of memory");
		return CLI_FAIL;
	}
	rc = cli_call(cli, method, path, text, len, out);
	sodium_memzero(text, len);
	free(text);
	return rc;
}

int
cli_post_json(struct cli *cli, const char *path, json_t *body, json_t **out)
{
	int rc = cli_call_json(cli, "POST", path, body, out);

	json_decref(body);
	return rc;
}
