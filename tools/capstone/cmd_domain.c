/*
 * cmd_domain.c - `capstone domain create|list|show|rm|rotate`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "tools/capstone/args.h"
#include "tools/capstone/cli.h"

/* The single NAME operand, checked; CLI_OK or a usage error. */
static int
one_name(const struct cli_cmd *cmd, int argc, char **argv, const char **name)
{
	if (argc - optind != 1)
		return cli_usage_error(cmd, "expected one domain name");
	*name = argv[optind];
	if (!cap_name_valid(*name))
		return cli_usage_error(cmd, "invalid domain name (1 to %d "
		    "characters from A-Z a-z 0-9 . _ -, not starting with "
		    ". or -)", CAP_NAME_MAX);
	return CLI_OK;
}

static void
print_domain(const json_t *d)
{
	char *kv = cli_scalar_text(json_object_get(d, "key_version"));

	printf("name:         ");
	cli_print_safe(stdout, cli_get_str(d, "name", "-"));
	printf("\nkey version:  %s\ncreated:      ", kv ? kv : "-");
	cli_print_safe(stdout, cli_get_str(d, "created", "-"));
	putchar('\n');
	free(kv);
}

static int
domain_create(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv)
{
	json_t *body = NULL, *res = NULL;
	const char *name;
	int rc;

	if (cli_plain(cli, cmd, argc, argv, -1, &rc) ||
	    (rc = one_name(cmd, argc, argv, &name)) != CLI_OK)
		return rc;
	body = json_pack("{s:s}", "name", name);
	if ((rc = cli_call_json(cli, "POST", "/v1/domains", body,
	    &res)) != CLI_OK)
		goto out;
	if (cli->json)
		cli_print_json(res);
	else
		print_domain(res);
 out:
	json_decref(body);
	json_decref(res);
	return rc;
}

static int
domain_list(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv)
{
	json_t *res = NULL, *v;
	size_t i;
	int rc;

	if (cli_plain(cli, cmd, argc, argv, -1, &rc))
		return rc;
	if (argc - optind != 0)
		return cli_usage_error(cmd, "no operands expected");
	if ((rc = cli_call(cli, "GET", "/v1/domains", NULL, 0,
	    &res)) != CLI_OK)
		return rc;
	if (cli->json)
		cli_print_json(res);
	else {
		json_array_foreach(json_object_get(res, "domains"), i, v) {
			if (json_is_string(v)) {
				cli_print_safe(stdout, json_string_value(v));
				putchar('\n');
			}
		}
	}
	json_decref(res);
	return CLI_OK;
}

static int
domain_show(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv)
{
	json_t *res = NULL;
	char path[64 + CAP_NAME_MAX], *n;
	const char *name;
	int rc;

	if (cli_plain(cli, cmd, argc, argv, -1, &rc) ||
	    (rc = one_name(cmd, argc, argv, &name)) != CLI_OK)
		return rc;
	snprintf(path, sizeof(path), "/v1/domains/%s", name);
	if ((rc = cli_call(cli, "GET", path, NULL, 0, &res)) != CLI_OK)
		return rc;
	if (cli->json)
		cli_print_json(res);
	else {
		print_domain(res);
		n = cli_scalar_text(json_object_get(res, "secrets"));
		printf("secrets:      %s\n", n ? n : "-");
		free(n);
	}
	json_decref(res);
	return CLI_OK;
}

static int
domain_rm(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		CLI_COMMON_OPTS,
		{ 0 }
	};
	char path[64 + CAP_NAME_MAX];
	const char *name;
	int ch, rc, force = 0;

	while ((ch = cli_getopt(cli, cmd, argc, argv, "f", opts, &rc)) != -1) {
		if (ch == CLI_GETOPT_EXIT)
			return rc;
		if (ch == 'f')
			force = 1;
	}
	if ((rc = one_name(cmd, argc, argv, &name)) != CLI_OK)
		return rc;
	snprintf(path, sizeof(path), "/v1/domains/%s%s", name,
	    force ? "?force=true" : "");
	if ((rc = cli_call(cli, "DELETE", path, NULL, 0, NULL)) != CLI_OK)
		return rc;
	if (!cli->json)
		printf("domain %s removed\n", name);
	return CLI_OK;
}

static int
domain_rotate(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv)
{
	json_t *res = NULL;
	char path[64 + CAP_NAME_MAX];
	const char *name;
	int rc;

	if (cli_plain(cli, cmd, argc, argv, -1, &rc) ||
	    (rc = one_name(cmd, argc, argv, &name)) != CLI_OK)
		return rc;
	snprintf(path, sizeof(path), "/v1/domains/%s/rotate", name);
	if ((rc = cli_call(cli, "POST", path, NULL, 0, &res)) != CLI_OK)
		return rc;
	if (cli->json)
		cli_print_json(res);
	else
		print_domain(res);
	json_decref(res);
	return CLI_OK;
}

const struct cli_cmd cli_cmds_domain[] = {
	{ "domain", "create", domain_create, "NAME",
	    "create a secret domain with a fresh domain key" },
	{ "domain", "list", domain_list, "",
	    "list the domains" },
	{ "domain", "show", domain_show, "NAME",
	    "show a domain: key version, creation time, number of secrets" },
	{ "domain", "rm", domain_rm, "NAME [--force]",
	    "remove a domain; --force even when it holds live secrets" },
	{ "domain", "rotate", domain_rotate, "NAME",
	    "make a new domain key version; old versions still decrypt" },
	{ NULL, NULL, NULL, NULL, NULL }
};
