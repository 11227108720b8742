/*
 * cmd_policy.c - `capstone policy put|get|list|rm`.
 *
 * A policy document is JSON, read whole from a file or standard input and
 * sent as it was parsed (the daemon validates it and answers the stored
 * form):
 *   {"identities":["CN=svc-*"],
 *    "rules":[{"domains":"payments","capabilities":["read","list"]}]}
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

#define POLICY_PATH_LEN	(32 + CAP_NAME_MAX)

/* The policy NAME at argv[optind], checked, into path (with suffix). */
static int
policy_path(const struct cli_cmd *cmd, const char *name, char *path,
    size_t pathlen)
{
	if (!cap_name_valid(name))
		return cli_usage_error(cmd, "invalid policy name (1 to %d "
		    "characters from A-Z a-z 0-9 . _ -, not starting with "
		    ". or -)", CAP_NAME_MAX);
	snprintf(path, pathlen, "/v1/policies/%s", name);
	return CLI_OK;
}

/* Reads FILE ("-": standard input) into a JSON object; message on error. */
static int
read_document(const char *file, json_t **out)
{
	char err[256], *buf = NULL;
	size_t len = 0;
	int fd = -1, r, rc = CLI_FAIL;

	*out = NULL;
	if (strcmp(file, "-") == 0) {
		if (isatty(STDIN_FILENO))
			fprintf(stderr, "capstone: reading a JSON policy from "
			    "standard input (end with Ctrl-D)\n");
		fd = STDIN_FILENO;
	} else if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0) {
		cli_err("cannot open %s: %s", file, strerror(errno));
		goto out;
	}
	r = cap_read_fd_secure(fd, CLI_MAX_STDIN, &buf, &len);
	if (r == CAP_ERR_TOO_LARGE) {
		cli_err("%s holds more than 1 MiB", fd == STDIN_FILENO ?
		    "standard input" : file);
		goto out;
	} else if (r != 0) {
		cli_err("cannot read %s", fd == STDIN_FILENO ?
		    "standard input" : file);
		goto out;
	}
	err[0] = '\0';
	if ((r = cli_json_object_parse(buf, len, out, err,
	    sizeof(err))) != 0) {
		cli_err("%s: %s", fd == STDIN_FILENO ? "standard input" : file,
		    err[0] ? err : cap_strerror(r));
		goto out;
	}
	rc = CLI_OK;
 out:
	if (buf != NULL) {
		sodium_memzero(buf, len);
		sodium_free(buf);
	}
	if (fd >= 0 && fd != STDIN_FILENO)
		close(fd);
	return rc;
}

/* Prints the strings of a JSON array joined by ", ". */
static void
print_string_list(const json_t *arr)
{
	const json_t *v;
	size_t i;
	int first = 1;

	json_array_foreach(arr, i, v) {
		if (!json_is_string(v))
			continue;
		if (!first)
			fputs(", ", stdout);
		cli_print_safe(stdout, json_string_value(v));
		first = 0;
	}
	if (first)
		fputs("-", stdout);
}

static void
print_policy(const char *name, const json_t *p)
{
	const json_t *rule;
	const char *dom;
	size_t i;

	printf("policy:      ");
	cli_print_safe(stdout, cli_get_str(p, "name", name));
	printf("\nidentities:  ");
	print_string_list(json_object_get(p, "identities"));
	printf("\nrules:\n");
	json_array_foreach(json_object_get(p, "rules"), i, rule) {
		dom = cli_get_str(rule, "domains", "-");
		printf("  ");
		cli_print_safe(stdout, dom);
		printf(": ");
		print_string_list(json_object_get(rule, "capabilities"));
		putchar('\n');
	}
}

static int
policy_put(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv)
{
	char path[POLICY_PATH_LEN], *text = NULL;
	json_t *doc = NULL, *res = NULL;
	size_t len = 0;
	int rc;

	if (cli_plain(cli, cmd, argc, argv, 2, &rc))
		return rc;
	if ((rc = policy_path(cmd, argv[optind], path, sizeof(path))) != CLI_OK)
		return rc;
	if ((rc = read_document(argv[optind + 1], &doc)) != CLI_OK)
		goto out;
	rc = CLI_FAIL;
	if (cli_json_dump(doc, JSON_COMPACT | JSON_PRESERVE_ORDER, &text,
	    &len) != 0) {
		cli_err("cannot encode the policy");
		goto out;
	}
	if ((rc = cli_call(cli, "PUT", path, text, len, &res)) != CLI_OK)
		goto out;
	if (cli->json)
		cli_print_json(res);
	else {
		printf("policy ");
		cli_print_safe(stdout, argv[optind]);
		printf(" stored\n");
	}
 out:
	if (text != NULL) {
		sodium_memzero(text, len);
		free(text);
	}
	json_decref(doc);
	json_decref(res);
	return rc;
}

static int
policy_get(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv)
{
	char path[POLICY_PATH_LEN];
	json_t *res = NULL;
	int rc;

	if (cli_plain(cli, cmd, argc, argv, 1, &rc))
		return rc;
	if ((rc = policy_path(cmd, argv[optind], path, sizeof(path))) != CLI_OK)
		return rc;
	if ((rc = cli_call(cli, "GET", path, NULL, 0, &res)) != CLI_OK)
		return rc;
	if (cli->json)
		cli_print_json(res);
	else
		print_policy(argv[optind], res);
	json_decref(res);
	return CLI_OK;
}

static int
policy_list(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv)
{
	json_t *res = NULL, *v;
	const char *name;
	size_t i;
	int rc;

	if (cli_plain(cli, cmd, argc, argv, 0, &rc))
		return rc;
	if ((rc = cli_call(cli, "GET", "/v1/policies", NULL, 0,
	    &res)) != CLI_OK)
		return rc;
	if (cli->json)
		cli_print_json(res);
	else {
		/* the entries are names, or policy objects carrying one */
		json_array_foreach(json_object_get(res, "policies"), i, v) {
			name = json_is_string(v) ? json_string_value(v) :
			    cli_get_str(v, "name", NULL);
			if (name == NULL)
				continue;
			cli_print_safe(stdout, name);
			putchar('\n');
		}
	}
	json_decref(res);
	return CLI_OK;
}

static int
policy_rm(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
	char path[POLICY_PATH_LEN];
	int rc;

	if (cli_plain(cli, cmd, argc, argv, 1, &rc))
		return rc;
	if ((rc = policy_path(cmd, argv[optind], path, sizeof(path))) != CLI_OK)
		return rc;
	if ((rc = cli_call(cli, "DELETE", path, NULL, 0, NULL)) != CLI_OK)
		return rc;
	if (!cli->json) {
		printf("policy ");
		cli_print_safe(stdout, argv[optind]);
		printf(" removed\n");
	}
	return CLI_OK;
}

const struct cli_cmd cli_cmds_policy[] = {
	{ "policy", "put", policy_put, "NAME FILE|-",
	    "store a policy document (JSON from FILE, or stdin for -)" },
	{ "policy", "get", policy_get, "NAME",
	    "show a policy: identities and rules" },
	{ "policy", "list", policy_list, "",
	    "list the policy names" },
	{ "policy", "rm", policy_rm, "NAME",
	    "remove a policy" },
	{ NULL, NULL, NULL, NULL, NULL }
};
