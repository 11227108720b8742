/*
 * cmd_secret.c - `capstone secret put|get|list|rm|destroy|versions`.
 *
 * Secret values cross this file: request bodies are wiped after sending,
 * the JSON trees are wiped on free (main.c installs wiping allocators for
 * jansson), and no message ever repeats a value.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "common/err.h"
#include "common/util.h"
#include "tools/capstone/args.h"
#include "tools/capstone/cli.h"

#define PATH_MAX_LEN	(96 + 2 * CAP_NAME_MAX)
#define MAX_DESTROY	1024	/* --version options to destroy at once */
#define VERSION_MAX	((uint64_t)1 << 53)

/* The DOMAIN/NAME operand at argv[optind]; a usage error otherwise. */
static int
secret_path(const struct cli_cmd *cmd, char **argv, char dom[CAP_NAME_MAX + 1],
    char name[CAP_NAME_MAX + 1])
{
	if (cli_split_path(argv[optind], dom, name) != 0)
		return cli_usage_error(cmd, "expected DOMAIN/NAME, each 1 to "
		    "%d characters from A-Z a-z 0-9 . _ - (not starting "
		    "with . or -)", CAP_NAME_MAX);
	return CLI_OK;
}

static int
secret_put(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv)
{
	static const struct option opts[] = {
		{ "cas", required_argument, NULL, 'c' },
		CLI_COMMON_OPTS,
		{ 0 }
	};
	char dom[CAP_NAME_MAX + 1], name[CAP_NAME_MAX + 1];
	char path[PATH_MAX_LEN], err[256];
	char *in = NULL, *body = NULL, *ver = NULL;
	size_t inlen = 0, blen = 0;
	json_t *data = NULL, *res = NULL;
	uint64_t cas = 0;
	int ch, rc, r, has_cas = 0;

	while ((ch = cli_getopt(cli, cmd, argc, argv, "", opts, &rc)) != -1) {
		if (ch == CLI_GETOPT_EXIT)
			return rc;
		if (ch == 'c') {
			if (cli_parse_u64(optarg, VERSION_MAX, &cas) != 0)
				return cli_usage_error(cmd, "--cas needs a "
				    "version number (0: only if absent)");
			has_cas = 1;
		}
	}
	if (argc - optind < 1)
		return cli_usage_error(cmd, "expected DOMAIN/NAME");
	if ((rc = secret_path(cmd, argv, dom, name)) != CLI_OK)
		return rc;
	optind++;

	err[0] = '\0';
	if (argc - optind > 0) {
		r = cli_kv_to_json(argc - optind, argv + optind, &data, err,
		    sizeof(err));
		if (r == CAP_ERR_INVALID)
			return cli_usage_error(cmd, "%s", err);
	} else {
		if (isatty(STDIN_FILENO))
			fprintf(stderr, "capstone: reading a JSON object "
			    "from standard input (end with Ctrl-D)\n");
		r = cap_read_fd_secure(STDIN_FILENO, CLI_MAX_STDIN, &in,
		    &inlen);
		if (r == CAP_ERR_TOO_LARGE)
			snprintf(err, sizeof(err), "standard input holds more "
			    "than 1 MiB");
		else if (r != 0)
			snprintf(err, sizeof(err), "cannot read standard "
			    "input");
		else
			r = cli_json_object_parse(in, inlen, &data, err,
			    sizeof(err));
	}
	rc = CLI_FAIL;
	if (r != 0) {
		cli_err("%s", err[0] ? err : cap_strerror(r));
		goto out;
	}
	if (cli_secret_body(data, has_cas, cas, &body, &blen) != 0) {
		cli_err("cannot encode the secret");
		goto out;
	}
	snprintf(path, sizeof(path), "/v1/domains/%s/secrets/%s", dom, name);
	if ((rc = cli_call(cli, "PUT", path, body, blen, &res)) != CLI_OK)
		goto out;
	if (cli->json)
		cli_print_json(res);
	else {
		ver = cli_scalar_text(json_object_get(res, "version"));
		printf("%s/%s: version %s\n", dom, name, ver ? ver : "-");
	}
 out:
	if (in != NULL) {
		sodium_memzero(in, inlen);
		sodium_free(in);
	}
	if (body != NULL) {
		sodium_memzero(body, blen);
		free(body);
	}
	free(ver);
	json_decref(data);
	json_decref(res);
	return rc;
}

static int
secret_get(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv)
{
	static const struct option opts[] = {
		{ "version", required_argument, NULL, 'v' },
		{ "field", required_argument, NULL, 'f' },
		CLI_COMMON_OPTS,
		{ 0 }
	};
	char dom[CAP_NAME_MAX + 1], name[CAP_NAME_MAX + 1];
	char path[PATH_MAX_LEN], q[32] = "";
	char what[sizeof("the secret /") + 2 * CAP_NAME_MAX];
	const char *field = NULL;
	json_t *res = NULL;
	uint64_t version = 0;
	int ch, rc;

	while ((ch = cli_getopt(cli, cmd, argc, argv, "", opts, &rc)) != -1) {
		if (ch == CLI_GETOPT_EXIT)
			return rc;
		if (ch == 'v') {
			if (cli_parse_u64(optarg, VERSION_MAX, &version) != 0 ||
			    version == 0)
				return cli_usage_error(cmd, "--version needs a "
				    "version number (1 or more)");
			snprintf(q, sizeof(q), "?version=%llu",
			    (unsigned long long)version);
		} else if (ch == 'f')
			field = optarg;
	}
	if (argc - optind != 1)
		return cli_usage_error(cmd, "expected DOMAIN/NAME");
	if ((rc = secret_path(cmd, argv, dom, name)) != CLI_OK)
		return rc;
	snprintf(path, sizeof(path), "/v1/domains/%s/secrets/%s%s", dom, name,
	    q);
	if ((rc = cli_call(cli, "GET", path, NULL, 0, &res)) != CLI_OK)
		return rc;
	snprintf(what, sizeof(what), "the secret %s/%s", dom, name);
	rc = cli_print_secret(cli, res, field, what);
	json_decref(res);
	return rc;
}

static int
print_names(const json_t *arr)
{
	json_t *v;
	size_t i;

	json_array_foreach(arr, i, v) {
		if (json_is_string(v)) {
			cli_print_safe(stdout, json_string_value(v));
			putchar('\n');
		}
	}
	return CLI_OK;
}

static int
secret_list(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv)
{
	char path[PATH_MAX_LEN];
	json_t *res = NULL;
	int rc;

	if (cli_plain(cli, cmd, argc, argv, 1, &rc))
		return rc;
	if (!cap_name_valid(argv[optind]))
		return cli_usage_error(cmd, "invalid domain name");
	snprintf(path, sizeof(path), "/v1/domains/%s/secrets", argv[optind]);
	if ((rc = cli_call(cli, "GET", path, NULL, 0, &res)) != CLI_OK)
		return rc;
	if (cli->json)
		cli_print_json(res);
	else
		print_names(json_object_get(res, "names"));
	json_decref(res);
	return CLI_OK;
}

static int
secret_rm(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
	char dom[CAP_NAME_MAX + 1], name[CAP_NAME_MAX + 1];
	char path[PATH_MAX_LEN];
	int rc;

	if (cli_plain(cli, cmd, argc, argv, 1, &rc))
		return rc;
	if ((rc = secret_path(cmd, argv, dom, name)) != CLI_OK)
		return rc;
	snprintf(path, sizeof(path), "/v1/domains/%s/secrets/%s", dom, name);
	if ((rc = cli_call(cli, "DELETE", path, NULL, 0, NULL)) != CLI_OK)
		return rc;
	if (!cli->json)
		printf("%s/%s: newest version deleted\n", dom, name);
	return CLI_OK;
}

static int
secret_destroy(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv)
{
	static const struct option opts[] = {
		{ "version", required_argument, NULL, 'v' },
		CLI_COMMON_OPTS,
		{ 0 }
	};
	char dom[CAP_NAME_MAX + 1], name[CAP_NAME_MAX + 1];
	char path[PATH_MAX_LEN];
	json_t *body = NULL, *vers = NULL;
	uint64_t v;
	size_t i;
	int ch, rc;

	if ((body = json_object()) == NULL || (vers = json_array()) == NULL) {
		cli_err("out of memory");
		rc = CLI_FAIL;
		goto out;
	}
	while ((ch = cli_getopt(cli, cmd, argc, argv, "", opts, &rc)) != -1) {
		if (ch == CLI_GETOPT_EXIT)
			goto out;
		if (ch != 'v')
			continue;
		if (cli_parse_u64(optarg, VERSION_MAX, &v) != 0 || v == 0) {
			rc = cli_usage_error(cmd, "--version needs a version "
			    "number (1 or more)");
			goto out;
		}
		if (json_array_size(vers) >= MAX_DESTROY) {
			rc = cli_usage_error(cmd, "at most %d --version "
			    "options", MAX_DESTROY);
			goto out;
		}
		if (json_array_append_new(vers, json_integer((json_int_t)v))) {
			cli_err("out of memory");
			rc = CLI_FAIL;
			goto out;
		}
	}
	if (argc - optind != 1) {
		rc = cli_usage_error(cmd, "expected DOMAIN/NAME");
		goto out;
	}
	if ((rc = secret_path(cmd, argv, dom, name)) != CLI_OK)
		goto out;
	rc = CLI_FAIL;
	if (json_array_size(vers) > 0 &&
	    json_object_set(body, "versions", vers) != 0) {
		cli_err("out of memory");
		goto out;
	}
	snprintf(path, sizeof(path), "/v1/domains/%s/secrets/%s/destroy", dom,
	    name);
	if ((rc = cli_call_json(cli, "POST", path, body, NULL)) != CLI_OK)
		goto out;
	if (!cli->json) {
		printf("%s/%s: ", dom, name);
		if (json_array_size(vers) == 0)
			printf("all versions destroyed\n");
		else {
			printf("destroyed version%s",
			    json_array_size(vers) > 1 ? "s" : "");
			for (i = 0; i < json_array_size(vers); i++)
				printf("%s %lld", i ? "," : "", (long long)
				    json_integer_value(json_array_get(vers, i)));
			putchar('\n');
		}
	}
 out:
	json_decref(vers);
	json_decref(body);
	return rc;
}

/* "deleted"/"destroyed" may be a flag or a time; either means set. */
static int
flag_set(const json_t *v)
{
	return json_is_true(v) || (json_is_string(v) &&
	    json_string_length(v) > 0) || (json_is_integer(v) &&
	    json_integer_value(v) != 0);
}

static int
secret_versions(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv)
{
	char dom[CAP_NAME_MAX + 1], name[CAP_NAME_MAX + 1];
	char path[PATH_MAX_LEN], created[64], *ver;
	json_t *res = NULL, *e;
	size_t i, j;
	int rc;

	if (cli_plain(cli, cmd, argc, argv, 1, &rc))
		return rc;
	if ((rc = secret_path(cmd, argv, dom, name)) != CLI_OK)
		return rc;
	snprintf(path, sizeof(path), "/v1/domains/%s/secrets/%s/versions",
	    dom, name);
	if ((rc = cli_call(cli, "GET", path, NULL, 0, &res)) != CLI_OK)
		return rc;
	if (cli->json) {
		cli_print_json(res);
		goto out;
	}
	printf("%-8s %-25s %s\n", "VERSION", "CREATED", "STATE");
	json_array_foreach(json_object_get(res, "versions"), i, e) {
		ver = cli_scalar_text(json_object_get(e, "version"));
		snprintf(created, sizeof(created), "%s",
		    cli_get_str(e, "created", "-"));
		for (j = 0; created[j] != '\0'; j++)
			if ((unsigned char)created[j] < 0x20 ||
			    created[j] == 0x7f)
				created[j] = '?';
		printf("%-8s %-25s %s\n", ver ? ver : "-", created,
		    flag_set(json_object_get(e, "destroyed")) ? "destroyed" :
		    flag_set(json_object_get(e, "deleted")) ? "deleted" :
		    "live");
		free(ver);
	}
 out:
	json_decref(res);
	return CLI_OK;
}

const struct cli_cmd cli_cmds_secret[] = {
	{ "secret", "put", secret_put, "DOMAIN/NAME [k=v|k=@FILE]... [--cas N]",
	    "store a new version; with no k=v, a JSON object from stdin" },
	{ "secret", "get", secret_get,
	    "DOMAIN/NAME [--version N] [--field K]",
	    "print the data as key=value lines, or one field's value" },
	{ "secret", "list", secret_list, "DOMAIN",
	    "list the secret names of a domain" },
	{ "secret", "rm", secret_rm, "DOMAIN/NAME",
	    "delete the newest version (soft; destroy erases)" },
	{ "secret", "destroy", secret_destroy, "DOMAIN/NAME [--version N]...",
	    "erase the ciphertext of versions for good (none given: all)" },
	{ "secret", "versions", secret_versions, "DOMAIN/NAME",
	    "list the versions with their state" },
	{ NULL, NULL, NULL, NULL, NULL }
};
