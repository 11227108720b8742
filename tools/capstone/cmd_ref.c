/*
 * cmd_ref.c - `capstone secret ref|redeem|generate`: single-use references
 * and generated secrets.
 *
 * A reference is a bearer capability and a redeemed value is a secret:
 * request bodies are wiped after sending, the JSON trees are wiped on free
 * (main.c installs wiping allocators for jansson), and nothing here repeats
 * either in a message.  `secret redeem -` reads the reference from
 * standard input, so that it need not appear in the process list.
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

#define PATH_LEN	(96 + 2 * CAP_NAME_MAX)
#define REF_MAX		128	/* longest reference accepted */
#define USES_MAX	1000
#define LENGTH_MAX	1024
#define VERSION_MAX	((uint64_t)UINT32_MAX)

/* Prints the reference on stdout and when it expires on stderr. */
static void
print_ref(struct cli *cli, const json_t *res)
{
	const char *ref = cli_get_str(res, "ref", NULL);

	if (cli->json) {
		cli_print_json(res);
		return;
	}
	if (ref != NULL)
		printf("%s\n", ref);
	fflush(stdout);
	fputs("expires ", stderr);
	cli_print_safe(stderr, cli_get_str(res, "expires", "-"));
	fputc('\n', stderr);
}

/* Checks a --ttl duration locally so that typos get a usage error. */
static int
ttl_ok(const char *s)
{
	uint64_t secs;

	return strlen(s) <= 32 && cap_parse_duration(s, &secs) == 0 &&
	    secs >= 1 && secs <= 24 * 3600;
}

static int
secret_ref(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ttl", required_argument, NULL, 't' },
		{ "uses", required_argument, NULL, 'u' },
		{ "version", required_argument, NULL, 'v' },
		CLI_COMMON_OPTS,
		{ 0 }
	};
	char dom[CAP_NAME_MAX + 1], name[CAP_NAME_MAX + 1], path[PATH_LEN];
	const char *ttl = NULL;
	uint64_t uses = 0, version = 0;
	json_t *body = NULL, *res = NULL;
	int ch, rc;

	while ((ch = cli_getopt(cli, cmd, argc, argv, "", opts, &rc)) != -1) {
		if (ch == CLI_GETOPT_EXIT)
			return rc;
		if (ch == 't') {
			if (!ttl_ok(optarg))
				return cli_usage_error(cmd, "--ttl needs a "
				    "duration from 1s to 24h (90s, 15m, 1h)");
			ttl = optarg;
		} else if (ch == 'u') {
			if (cli_parse_u64(optarg, USES_MAX, &uses) != 0 ||
			    uses == 0)
				return cli_usage_error(cmd, "--uses needs a "
				    "number from 1 to %d", USES_MAX);
		} else if (ch == 'v') {
			if (cli_parse_u64(optarg, VERSION_MAX, &version) != 0 ||
			    version == 0)
				return cli_usage_error(cmd, "--version needs a "
				    "version number from 1");
		}
	}
	if (argc - optind != 1)
		return cli_usage_error(cmd, "expected DOMAIN/NAME");
	if (cli_split_path(argv[optind], dom, name) != 0)
		return cli_usage_error(cmd, "expected DOMAIN/NAME, each a "
		    "valid name");
	rc = CLI_FAIL;
	if ((body = json_object()) == NULL ||
	    (ttl != NULL && json_object_set_new(body, "ttl",
	    json_string(ttl)) != 0) ||
	    (uses != 0 && json_object_set_new(body, "uses",
	    json_integer((json_int_t)uses)) != 0) ||
	    (version != 0 && json_object_set_new(body, "version",
	    json_integer((json_int_t)version)) != 0)) {
		cli_err("out of memory");
		goto out;
	}
	snprintf(path, sizeof(path), "/v1/domains/%s/secrets/%s/refs", dom,
	    name);
	if ((rc = cli_call_json(cli, "POST", path, body, &res)) != CLI_OK)
		goto out;
	print_ref(cli, res);
 out:
	json_decref(body);
	json_decref(res);
	return rc;
}

/* Reads one reference from standard input, without its line end. */
static int
ref_from_stdin(char *out, size_t outsz)
{
	char *in = NULL;
	size_t len = 0;
	int r;

	if ((r = cap_read_fd_secure(STDIN_FILENO, outsz + 2, &in,
	    &len)) != 0)
		return r;
	while (len > 0 && (in[len - 1] == '\n' || in[len - 1] == '\r'))
		len--;
	r = CAP_ERR_INVALID;
	if (len > 0 && len < outsz) {
		memcpy(out, in, len);
		out[len] = '\0';
		r = 0;
	}
	sodium_memzero(in, len);
	sodium_free(in);
	return r;
}

static int
secret_redeem(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv)
{
	static const struct option opts[] = {
		{ "field", required_argument, NULL, 'f' },
		CLI_COMMON_OPTS,
		{ 0 }
	};
	char ref[REF_MAX + 1];
	const char *field = NULL;
	json_t *body = NULL, *res = NULL;
	int ch, rc;

	ref[0] = '\0';
	while ((ch = cli_getopt(cli, cmd, argc, argv, "", opts, &rc)) != -1) {
		if (ch == CLI_GETOPT_EXIT)
			return rc;
		if (ch == 'f')
			field = optarg;
	}
	if (argc - optind != 1)
		return cli_usage_error(cmd, "expected REF (or - to read it "
		    "from standard input)");
	if (strcmp(argv[optind], "-") == 0) {
		if (ref_from_stdin(ref, sizeof(ref)) != 0) {
			cli_err("standard input holds no reference");
			return CLI_FAIL;
		}
	} else {
		if (strlen(argv[optind]) > REF_MAX || argv[optind][0] == '\0')
			return cli_usage_error(cmd, "REF is too long");
		memcpy(ref, argv[optind], strlen(argv[optind]) + 1);
	}
	rc = CLI_FAIL;
	if ((body = json_pack("{s:s}", "ref", ref)) == NULL) {
		cli_err("out of memory");
		goto out;
	}
	if ((rc = cli_call_json(cli, "POST", "/v1/refs/redeem", body,
	    &res)) != CLI_OK)
		goto out;
	rc = cli_print_secret(cli, res, field, "the redeemed secret");
 out:
	sodium_memzero(ref, sizeof(ref));
	json_decref(body);
	json_decref(res);
	return rc;
}

static int
secret_generate(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv)
{
	static const struct option opts[] = {
		{ "length", required_argument, NULL, 'l' },
		{ "charset", required_argument, NULL, 'c' },
		{ "field", required_argument, NULL, 'f' },
		{ "ttl", required_argument, NULL, 't' },
		{ "uses", required_argument, NULL, 'u' },
		CLI_COMMON_OPTS,
		{ 0 }
	};
	char dom[CAP_NAME_MAX + 1], name[CAP_NAME_MAX + 1], path[PATH_LEN];
	const char *charset = NULL, *field = NULL, *ttl = NULL;
	uint64_t length = 0, uses = 0;
	json_t *body = NULL, *res = NULL;
	char *ver = NULL;
	int ch, rc;

	while ((ch = cli_getopt(cli, cmd, argc, argv, "", opts, &rc)) != -1) {
		switch (ch) {
		case CLI_GETOPT_EXIT:
			return rc;
		case 'l':
			if (cli_parse_u64(optarg, LENGTH_MAX, &length) != 0 ||
			    length == 0)
				return cli_usage_error(cmd, "--length needs a "
				    "number from 1 to %d", LENGTH_MAX);
			break;
		case 'c':
			charset = optarg;
			break;
		case 'f':
			if (!cap_name_valid(optarg))
				return cli_usage_error(cmd, "--field needs a "
				    "valid name");
			field = optarg;
			break;
		case 't':
			if (!ttl_ok(optarg))
				return cli_usage_error(cmd, "--ttl needs a "
				    "duration from 1s to 24h (90s, 15m, 1h)");
			ttl = optarg;
			break;
		case 'u':
			if (cli_parse_u64(optarg, USES_MAX, &uses) != 0 ||
			    uses == 0)
				return cli_usage_error(cmd, "--uses needs a "
				    "number from 1 to %d", USES_MAX);
			break;
		default:
			break;
		}
	}
	if (argc - optind != 1)
		return cli_usage_error(cmd, "expected DOMAIN/NAME");
	if (cli_split_path(argv[optind], dom, name) != 0)
		return cli_usage_error(cmd, "expected DOMAIN/NAME, each a "
		    "valid name");
	rc = CLI_FAIL;
	if ((body = json_object()) == NULL ||
	    (length != 0 && json_object_set_new(body, "length",
	    json_integer((json_int_t)length)) != 0) ||
	    (charset != NULL && json_object_set_new(body, "charset",
	    json_string(charset)) != 0) ||
	    (field != NULL && json_object_set_new(body, "field",
	    json_string(field)) != 0) ||
	    (ttl != NULL && json_object_set_new(body, "ttl",
	    json_string(ttl)) != 0) ||
	    (uses != 0 && json_object_set_new(body, "uses",
	    json_integer((json_int_t)uses)) != 0)) {
		cli_err("out of memory (or a value that is not UTF-8)");
		goto out;
	}
	snprintf(path, sizeof(path), "/v1/domains/%s/secrets/%s/generate",
	    dom, name);
	if ((rc = cli_call_json(cli, "POST", path, body, &res)) != CLI_OK)
		goto out;
	if (!cli->json) {
		ver = cli_scalar_text(json_object_get(res, "version"));
		fprintf(stderr, "%s/%s: version %s generated\n", dom, name,
		    ver != NULL ? ver : "-");
	}
	print_ref(cli, res);
 out:
	free(ver);
	json_decref(body);
	json_decref(res);
	return rc;
}

const struct cli_cmd cli_cmds_secret_ref[] = {
	{ "secret", "ref", secret_ref,
	    "DOMAIN/NAME [--ttl D] [--uses N] [--version N]",
	    "print a single-use reference to the secret (default: 60s, "
	    "one use, newest version)" },
	{ "secret", "redeem", secret_redeem, "REF|- [--field K]",
	    "redeem a reference (- reads it from stdin): print the data "
	    "or one field's value" },
	{ "secret", "generate", secret_generate,
	    "DOMAIN/NAME [--length N] [--charset C] [--field F] [--ttl D] "
	    "[--uses N]",
	    "store a random value as a new version; print only a "
	    "reference to it" },
	{ NULL, NULL, NULL, NULL, NULL },
};
