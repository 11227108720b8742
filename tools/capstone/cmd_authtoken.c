/*
 * cmd_authtoken.c - `capstone token create|list|revoke`: bearer tokens.
 *
 * These are subverbs of `token`, next to `token init|status` in
 * cmd_token.c's table, which points at the handlers here.
 *
 * A token is shown once, by `create`: in human mode alone on standard
 * output (so that `T=$(capstone token create ...)` captures exactly it),
 * with the accessor and expiry on standard error.  The response tree is
 * wiped on free (main.c's jansson allocators); the token is never copied
 * elsewhere nor repeated in a message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/err.h"
#include "tools/capstone/args.h"
#include "tools/capstone/cli.h"

#define TTL_MAX_LEN		32	/* "90d", "3600s", ... */
#define ACCESSOR_MAX_LEN	128
#define IDENTITY_MAX_LEN	256
#define MAX_POLICIES		32
#define USES_MAX		((uint64_t)UINT32_MAX)

/* 1 if s is 1..max bytes of printable ASCII. */
static int
printable(const char *s, size_t max)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++)
		if ((unsigned char)s[n] < 0x20 || (unsigned char)s[n] > 0x7e)
			return 0;
	return n > 0 && n <= max;
}

/* 1 if s is an accessor: 1..ACCESSOR_MAX_LEN of [A-Za-z0-9_-]. */
static int
accessor_valid(const char *s)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++) {
		unsigned char c = (unsigned char)s[n];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || c == '_' || c == '-'))
			return 0;
	}
	return n > 0 && n <= ACCESSOR_MAX_LEN;
}

int
cli_token_create(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv)
{
	static const struct option opts[] = {
		{ "identity", required_argument, NULL, 'i' },
		{ "policy", required_argument, NULL, 'p' },
		{ "ttl", required_argument, NULL, 't' },
		{ "uses", required_argument, NULL, 'u' },
		CLI_COMMON_OPTS,
		{ 0 }
	};
	json_t *body = NULL, *pols = NULL, *res = NULL;
	const char *identity = NULL, *ttl = NULL, *tok;
	char *exp = NULL;
	uint64_t uses = 0, secs;
	int ch, rc, has_uses = 0;

	if ((pols = json_array()) == NULL) {
		cli_err("out of memory");
		return CLI_FAIL;
	}
	while ((ch = cli_getopt(cli, cmd, argc, argv, "", opts, &rc)) != -1) {
		switch (ch) {
		case CLI_GETOPT_EXIT:
			goto out;
		case 'i':
			identity = optarg;
			break;
		case 'p':
			if (!cap_name_valid(optarg)) {
				rc = cli_usage_error(cmd, "invalid policy "
				    "name '%s'", optarg);
				goto out;
			}
			if (json_array_size(pols) >= MAX_POLICIES) {
				rc = cli_usage_error(cmd, "at most %d "
				    "--policy options", MAX_POLICIES);
				goto out;
			}
			if (json_array_append_new(pols,
			    json_string(optarg)) != 0) {
				cli_err("out of memory");
				rc = CLI_FAIL;
				goto out;
			}
			break;
		case 't':
			ttl = optarg;
			break;
		case 'u':
			if (cli_parse_u64(optarg, USES_MAX, &uses) != 0) {
				rc = cli_usage_error(cmd, "--uses needs a "
				    "number (0: unlimited)");
				goto out;
			}
			has_uses = 1;
			break;
		}
	}
	if (argc - optind != 0) {
		rc = cli_usage_error(cmd, "no operands expected");
		goto out;
	}
	if (identity == NULL || !printable(identity, IDENTITY_MAX_LEN)) {
		rc = cli_usage_error(cmd, "--identity needs 1 to %d printable "
		    "characters", IDENTITY_MAX_LEN);
		goto out;
	}
	if (json_array_size(pols) == 0) {
		rc = cli_usage_error(cmd, "give at least one --policy");
		goto out;
	}
	if (ttl != NULL && (strlen(ttl) > TTL_MAX_LEN ||
	    cap_parse_duration(ttl, &secs) != 0 || secs == 0)) {
		rc = cli_usage_error(cmd, "--ttl needs a duration such as "
		    "60s, 15m, 1h or 7d");
		goto out;
	}

	rc = CLI_FAIL;
	if ((body = json_pack("{s:s,s:O}", "identity", identity,
	    "policies", pols)) == NULL ||
	    (ttl != NULL && json_object_set_new(body, "ttl",
	    json_string(ttl)) != 0) ||
	    (has_uses && json_object_set_new(body, "uses",
	    json_integer((json_int_t)uses)) != 0)) {
		cli_err("out of memory");
		goto out;
	}
	if ((rc = cli_call_json(cli, "POST", "/v1/auth/tokens", body,
	    &res)) != CLI_OK)
		goto out;
	if (cli->json) {
		cli_print_json(res);
		goto out;
	}
	if ((tok = json_string_value(json_object_get(res, "token"))) == NULL) {
		cli_err("the server's answer holds no token");
		rc = CLI_FAIL;
		goto out;
	}
	cli_print_safe(stdout, tok);
	putchar('\n');
	fflush(stdout);
	exp = cli_scalar_text(json_object_get(res, "expires"));
	fputs("accessor: ", stderr);
	cli_print_safe(stderr, cli_get_str(res, "accessor", "-"));
	fputs("\nexpires:  ", stderr);
	cli_print_safe(stderr, exp != NULL ? exp : "-");
	fputc('\n', stderr);
 out:
	free(exp);
	json_decref(pols);
	json_decref(body);
	json_decref(res);
	return rc;
}

/* Prints v as human text into a column of width w (at least one space). */
static void
column(const json_t *v, int w)
{
	char *t = cli_scalar_text(v);
	const char *s = v == NULL ? "-" : t != NULL ? t : "?";
	int n;

	cli_print_safe(stdout, s);
	n = (int)strlen(s);
	printf("%*s", n < w ? w - n : 1, "");
	free(t);
}

static void
print_policies(const json_t *arr)
{
	const json_t *v;
	size_t i;
	int first = 1;

	json_array_foreach(arr, i, v) {
		if (!json_is_string(v))
			continue;
		if (!first)
			putchar(',');
		cli_print_safe(stdout, json_string_value(v));
		first = 0;
	}
	if (first)
		putchar('-');
}

int
cli_token_list(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv)
{
	json_t *res = NULL, *t;
	size_t i;
	int rc;

	if (cli_plain(cli, cmd, argc, argv, -1, &rc))
		return rc;
	if (argc - optind != 0)
		return cli_usage_error(cmd, "no operands expected");
	if ((rc = cli_call(cli, "GET", "/v1/auth/tokens", NULL, 0,
	    &res)) != CLI_OK)
		return rc;
	if (cli->json) {
		cli_print_json(res);
		goto out;
	}
	printf("%-33s %-16s %-25s %-9s %s\n", "ACCESSOR", "IDENTITY",
	    "EXPIRES", "USES-LEFT", "POLICIES");
	json_array_foreach(json_object_get(res, "tokens"), i, t) {
		column(json_object_get(t, "accessor"), 34);
		column(json_object_get(t, "identity"), 17);
		column(json_object_get(t, "expires"), 26);
		column(json_object_get(t, "uses_left"), 10);
		print_policies(json_object_get(t, "policies"));
		putchar('\n');
	}
 out:
	json_decref(res);
	return CLI_OK;
}

int
cli_token_revoke(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv)
{
	static const struct option opts[] = { CLI_COMMON_OPTS, { 0 } };
	char path[32 + ACCESSOR_MAX_LEN];
	int ch, rc;

	while ((ch = cli_getopt(cli, cmd, argc, argv, "", opts, &rc)) != -1)
		if (ch == CLI_GETOPT_EXIT)
			return rc;
	if (argc - optind != 1)
		return cli_usage_error(cmd, "expected one accessor");
	if (!accessor_valid(argv[optind]))
		return cli_usage_error(cmd, "invalid accessor (the hex string "
		    "that token create and token list show; not the token)");
	snprintf(path, sizeof(path), "/v1/auth/tokens/%s", argv[optind]);
	if ((rc = cli_call(cli, "DELETE", path, NULL, 0, NULL)) != CLI_OK)
		return rc;
	if (!cli->json)
		printf("token %s revoked\n", argv[optind]);
	return CLI_OK;
}
