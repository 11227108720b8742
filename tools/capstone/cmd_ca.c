/*
 * cmd_ca.c - capstone ca add|list|show|chain|crl|rm: the CA connectors
 * the daemon issues certificates through.
 *
 * `ca add` builds the settings object from an optional JSON file and
 * --set KEY=VALUE arguments (dotted keys make nested objects; a value is
 * JSON when it parses as JSON, the contents of a file with @PATH, a string
 * otherwise).  Settings never carry secrets, only vault: references, but
 * the buffers are wiped all the same.
 */
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
#include "tools/capstone/cli.h"

#define CA_SETS_MAX	64	/* --set arguments */
#define CA_KEY_DEPTH	8	/* segments of a dotted key */
#define CA_CRL_MAX	(16u * 1024 * 1024)

/* "/v1/cas/NAME[SUFFIX]" for a valid connector name. */
static int
name_path(const struct cli_cmd *cmd, const char *name, const char *suffix,
    char *path, size_t len)
{
	if (!cap_name_valid(name))
		return cli_usage_error(cmd, "a CA name is 1 to %d letters, "
		    "digits, '-', '_' or '.'", CAP_NAME_MAX);
	snprintf(path, len, "/v1/cas/%s%s", name, suffix);
	return CLI_OK;
}

static void
wipe_free(char *buf, size_t len)
{
	if (buf == NULL)
		return;
	sodium_memzero(buf, len);
	sodium_free(buf);
}

/* The value of one --set: @PATH, JSON, or the text itself. */
static json_t *
set_value(const char *val, char *err, size_t errlen)
{
	char *fbuf = NULL;
	size_t flen = 0;
	json_t *v;
	int r;

	if (val[0] == '@') {
		if ((r = cap_read_file_secure(val + 1, CLI_MAX_VALUE_FILE,
		    &fbuf, &flen)) != 0) {
			snprintf(err, errlen, "%s: %s", val + 1,
			    r == CAP_ERR_TOO_LARGE ? "file larger than 512 KiB" :
			    r == CAP_ERR_IO ? strerror(errno) : cap_strerror(r));
			return NULL;
		}
		v = json_stringn(fbuf, flen);
		wipe_free(fbuf, flen);
		if (v == NULL)
			snprintf(err, errlen, "%s is not UTF-8 text", val + 1);
		return v;
	}
	if ((v = json_loads(val, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
	    NULL)) != NULL)
		return v;
	if ((v = json_string(val)) == NULL)
		snprintf(err, errlen, "a value is not UTF-8 text");
	return v;
}

/* Applies KEY=VALUE to obj, KEY dotted for nested objects. */
static int
apply_set(json_t *obj, const char *kv, char *err, size_t errlen)
{
	const char *eq, *p, *dot;
	char seg[CAP_NAME_MAX + 1];
	json_t *cur = obj, *next, *v;
	size_t n;
	int depth = 0;

	if ((eq = strchr(kv, '=')) == NULL || eq == kv) {
		snprintf(err, errlen, "--set takes KEY=VALUE");
		return CAP_ERR_INVALID;
	}
	for (p = kv;; p = dot + 1) {
		dot = memchr(p, '.', (size_t)(eq - p));
		n = (size_t)((dot != NULL ? dot : eq) - p);
		if (n == 0 || n > CAP_NAME_MAX || ++depth > CA_KEY_DEPTH) {
			snprintf(err, errlen, "--set: empty, long or too "
			    "deeply nested key");
			return CAP_ERR_INVALID;
		}
		memcpy(seg, p, n);
		seg[n] = '\0';
		if (dot == NULL)
			break;
		next = json_object_get(cur, seg);
		if (next == NULL) {
			if ((next = json_object()) == NULL ||
			    json_object_set_new(cur, seg, next) != 0) {
				snprintf(err, errlen, "out of memory");
				return CAP_ERR_NOMEM;
			}
		} else if (!json_is_object(next)) {
			snprintf(err, errlen, "--set: %s is not an object",
			    seg);
			return CAP_ERR_INVALID;
		}
		cur = next;
	}
	if ((v = set_value(eq + 1, err, errlen)) == NULL)
		return CAP_ERR_INVALID;
	if (json_object_set_new(cur, seg, v) != 0) {
		snprintf(err, errlen, "--set: %s is not UTF-8 text", seg);
		return CAP_ERR_INVALID;
	}
	return 0;
}

/* The JSON object in FILE ("-": stdin). */
static int
json_file(const char *file, json_t **out, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	if ((r = cli_read_file(file, CLI_MAX_STDIN, "1 MiB", &buf, &len, err,
	    errlen)) != 0)
		return r;
	r = cli_json_object_parse(buf, len, out, err, errlen);
	wipe_free(buf, len);
	return r;
}

static int
ca_add(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "protocol", required_argument, NULL, 'p' },
		{ "set", required_argument, NULL, 's' },
		{ "json-file", required_argument, NULL, 'f' },
		CLI_COMMON_OPTS, { 0, 0, 0, 0 }
	};
	const char *protocol = NULL, *file = NULL;
	const char *sets[CA_SETS_MAX];
	char err[512];
	size_t nsets = 0, i;
	json_t *body = NULL, *out = NULL, *v;
	int c, rc = CLI_OK;

	while ((c = cli_getopt(cli, cmd, argc, argv, "p:s:f:h", lo,
	    &rc)) != -1) {
		if (c == CLI_GETOPT_EXIT)
			return rc;
		if (c == 'p')
			protocol = optarg;
		else if (c == 'f')
			file = optarg;
		else if (c == 's' && nsets < CA_SETS_MAX)
			sets[nsets++] = optarg;
		else
			return cli_usage_error(cmd, "unknown option or more "
			    "than %d --set", CA_SETS_MAX);
	}
	if (argc - optind != 1)
		return cli_usage_error(cmd, "expected the CA name");
	if (!cap_name_valid(argv[optind]))
		return cli_usage_error(cmd, "a CA name is 1 to %d letters, "
		    "digits, '-', '_' or '.'", CAP_NAME_MAX);
	if (file != NULL) {
		if (json_file(file, &body, err, sizeof(err)) != 0) {
			cli_err("%s", err);
			return CLI_FAIL;
		}
	} else if ((body = json_object()) == NULL) {
		cli_err("out of memory");
		return CLI_FAIL;
	}
	for (i = 0; i < nsets; i++)
		if (apply_set(body, sets[i], err, sizeof(err)) != 0) {
			rc = cli_usage_error(cmd, "%s", err);
			goto out;
		}
	if (json_object_set_new(body, "name", json_string(argv[optind])) != 0 ||
	    (protocol != NULL && json_object_set_new(body, "protocol",
	    json_string(protocol)) != 0)) {
		rc = cli_usage_error(cmd, "arguments are not UTF-8 text");
		goto out;
	}
	if (!json_is_string(json_object_get(body, "protocol"))) {
		rc = cli_usage_error(cmd, "--protocol is required");
		goto out;
	}
	if ((rc = cli_call_json(cli, "POST", "/v1/cas", body,
	    &out)) != CLI_OK)
		goto out;
	if (cli->json)
		cli_print_json(out);
	else {
		cli_print_safe(stdout, cli_get_str(out, "name", "-"));
		putchar(' ');
		cli_print_safe(stdout, cli_get_str(out, "protocol", "-"));
		v = json_object_get(out, "chain");
		printf(" (chain of %zu certificate%s)\n", json_array_size(v),
		    json_array_size(v) == 1 ? "" : "s");
	}
 out:
	json_decref(body);
	json_decref(out);
	return rc;
}

static void
print_cas(const json_t *out)
{
	const json_t *e;
	size_t i;

	json_array_foreach(json_object_get(out, "cas"), i, e) {
		cli_print_safe(stdout, cli_get_str(e, "name", "-"));
		putchar(' ');
		cli_print_safe(stdout, cli_get_str(e, "protocol", "-"));
		putchar('\n');
	}
}

static int
ca_list(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
	int rc;

	if (cli_plain(cli, cmd, argc, argv, 0, &rc))
		return rc;
	return cli_show(cli, "/v1/cas", print_cas);
}

/* One member of a description: PEM lists summarised, the rest as text. */
static void
print_member(const char *k, const json_t *v)
{
	const json_t *e;
	char *t;
	size_t i, pems = 0;

	if (json_is_array(v)) {
		json_array_foreach(v, i, e)
			if (json_is_string(e) &&
			    strchr(json_string_value(e), '\n') != NULL)
				pems++;
		if (pems > 0 && pems == json_array_size(v)) {
			printf("%-16s %zu certificate%s\n", k, pems,
			    pems == 1 ? "" : "s");
			return;
		}
	}
	if (json_is_string(v) && strchr(json_string_value(v), '\n') != NULL) {
		printf("%-16s (PEM)\n", k);
		return;
	}
	printf("%-16s ", k);
	if ((t = cli_scalar_text(v)) != NULL) {
		cli_print_safe(stdout, t);
		sodium_memzero(t, strlen(t));
		free(t);
	}
	putchar('\n');
}

static void
print_description(const json_t *out)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)out, k, v)
		print_member(k, v);
}

/* The chain of a CA, PEM, issuer first. */
static void
print_chain(const json_t *out)
{
	const json_t *v;
	size_t i;

	json_array_foreach(json_object_get(out, "chain"), i, v)
		if (json_is_string(v))
			fputs(json_string_value(v), stdout);
}

static int
ca_show(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
	char path[CAP_NAME_MAX + 32];
	int rc;

	if (cli_plain(cli, cmd, argc, argv, 1, &rc))
		return rc;
	if ((rc = name_path(cmd, argv[optind], "", path, sizeof(path))) != 0)
		return rc;
	return cli_show(cli, path, print_description);
}

static int
ca_chain(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
	char path[CAP_NAME_MAX + 32];
	int rc;

	if (cli_plain(cli, cmd, argc, argv, 1, &rc))
		return rc;
	if ((rc = name_path(cmd, argv[optind], "/chain", path,
	    sizeof(path))) != 0)
		return rc;
	return cli_show(cli, path, print_chain);
}

static int
ca_crl(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "output", required_argument, NULL, 'o' },
		CLI_COMMON_OPTS, { 0, 0, 0, 0 }
	};
	struct http_response *resp = NULL;
	const char *file = NULL;
	char path[CAP_NAME_MAX + 32];
	int c, fd = -1, rc = CLI_OK;

	while ((c = cli_getopt(cli, cmd, argc, argv, "o:h", lo, &rc)) != -1) {
		if (c == CLI_GETOPT_EXIT)
			return rc;
		if (c == 'o')
			file = optarg;
		else
			return cli_usage_error(cmd, "unknown option");
	}
	if (argc - optind != 1)
		return cli_usage_error(cmd, "expected the CA name");
	if ((rc = name_path(cmd, argv[optind], "/crl", path,
	    sizeof(path))) != 0)
		return rc;
	if ((rc = cli_request(cli, "GET", path, NULL, 0, &resp)) != CLI_OK)
		goto out;
	rc = CLI_FAIL;
	if (resp->status != 200 || resp->body_len == 0 ||
	    resp->body_len > CA_CRL_MAX) {
		cli_err("unexpected answer from the server (HTTP %d)",
		    resp->status);
		goto out;
	}
	if (file == NULL || strcmp(file, "-") == 0) {
		if (isatty(STDOUT_FILENO)) {
			cli_err("the CRL is DER: give -o FILE or redirect "
			    "the output");
			goto out;
		}
		fd = STDOUT_FILENO;
	} else if ((fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) < 0) {
		cli_err("cannot create %s: %s", file, strerror(errno));
		goto out;
	}
	if (cli_write_all(fd, resp->body, resp->body_len) != 0) {
		cli_err("cannot write the CRL: %s", strerror(errno));
		goto out;
	}
	rc = CLI_OK;
 out:
	if (fd >= 0 && fd != STDOUT_FILENO && close(fd) != 0 && rc == CLI_OK) {
		cli_err("cannot write %s: %s", file, strerror(errno));
		rc = CLI_FAIL;
	}
	http_response_free(resp);
	return rc;
}

static int
ca_rm(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
	char path[CAP_NAME_MAX + 32];
	int rc;

	if (cli_plain(cli, cmd, argc, argv, 1, &rc))
		return rc;
	if ((rc = name_path(cmd, argv[optind], "", path, sizeof(path))) != 0)
		return rc;
	return cli_call(cli, "DELETE", path, NULL, 0, NULL);
}

const struct cli_cmd cli_cmds_ca[] = {
	{ "ca", "add", ca_add,
	    "NAME --protocol P [--set KEY=VALUE]... [--json-file F]",
	    "configure a CA connector (dotted keys nest, values are JSON "
	    "when they parse, @FILE reads a file)" },
	{ "ca", "list", ca_list, "", "list the CA connectors" },
	{ "ca", "show", ca_show, "NAME", "describe a CA connector" },
	{ "ca", "chain", ca_chain, "NAME",
	    "print the CA's certificates (PEM, issuer first)" },
	{ "ca", "crl", ca_crl, "NAME [-o FILE]",
	    "fetch the CA's current CRL (DER)" },
	{ "ca", "rm", ca_rm, "NAME", "remove a CA connector" },
	{ NULL, NULL, NULL, NULL, NULL }
};
