/*
 * cmd_audit.c - `capstone audit tail|verify`: read the daemon's audit log
 * and check its hash chain.
 *
 * verify runs audit_verify (api/audit.c) over a local copy of the log, or
 * over the whole log fetched from GET /v1/audit?n=0.  The log holds no
 * secret values, so its lines are printed as they are.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/audit.h"
#include "common/err.h"
#include "tools/capstone/args.h"
#include "tools/capstone/cli.h"

#define AUDIT_FETCH_MAX	(64u * 1024 * 1024 + 4096)	/* server caps at 64 MiB */
#define TAIL_MAX	((uint64_t)UINT32_MAX)

/*
 * GET path and return the raw body of a 2xx answer in *resp; errors are
 * printed like cli_call's.
 */
static int
fetch_raw(struct cli *cli, const char *path, struct http_response **resp)
{
	json_t *root = NULL, *e;
	const char *code = NULL, *msg = NULL;
	char err[512];
	int rc = CLI_FAIL;

	*resp = NULL;
	if (cli->client == NULL) {
		cli->opts.max_response = AUDIT_FETCH_MAX;
		if (cap_client_new(&cli->opts, &cli->client, err,
		    sizeof(err)) != 0) {
			cli_err("%s", err);
			goto out;
		}
	}
	if (cap_client_request(cli->client, "GET", path, NULL, NULL, 0, resp,
	    err, sizeof(err)) != 0) {
		cli_err("%s", err);
		goto out;
	}
	if ((*resp)->status >= 200 && (*resp)->status < 300) {
		rc = CLI_OK;
		goto out;
	}
	root = json_loadb((const char *)(*resp)->body, (*resp)->body_len, 0,
	    NULL);
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
		fprintf(stderr, "the server answered HTTP %d",
		    (*resp)->status);
	fputc('\n', stderr);
 out:
	json_decref(root);
	if (rc != CLI_OK) {
		http_response_free(*resp);
		*resp = NULL;
	}
	return rc;
}

static int
audit_tail_cmd(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv)
{
	static const struct option opts[] = {
		{ "lines", required_argument, NULL, 'n' },
		CLI_COMMON_OPTS,
		{ 0 }
	};
	struct http_response *resp = NULL;
	char path[64];
	uint64_t n = 100;
	int ch, rc;

	while ((ch = cli_getopt(cli, cmd, argc, argv, "n:", opts,
	    &rc)) != -1) {
		if (ch == CLI_GETOPT_EXIT)
			return rc;
		if (ch == 'n' && cli_parse_u64(optarg, TAIL_MAX, &n) != 0)
			return cli_usage_error(cmd, "-n needs a number of "
			    "entries (0: all)");
	}
	if (argc - optind != 0)
		return cli_usage_error(cmd, "expected no operand");
	snprintf(path, sizeof(path), "/v1/audit?n=%" PRIu64, n);
	if ((rc = fetch_raw(cli, path, &resp)) != CLI_OK)
		return rc;
	if (resp->body_len > 0 &&
	    fwrite(resp->body, 1, resp->body_len, stdout) != resp->body_len)
		rc = CLI_FAIL;
	http_response_free(resp);
	return rc;
}

/* Runs audit_verify over f and reports as the CLI does. */
static int
verify_stream(FILE *f)
{
	char reason[256];
	const char *why;
	uint64_t count = 0, bad = 0;

	if (audit_verify(f, &count, &bad, reason, sizeof(reason)) == 0) {
		printf("audit log intact: %" PRIu64 " entr%s\n", count,
		    count == 1 ? "y" : "ies");
		return CLI_OK;
	}
	/* reason reads "line L: why"; name the line once. */
	why = strstr(reason, ": ");
	why = why != NULL ? why + 2 : reason;
	printf("audit log broken at line %" PRIu64 ": %s\n", bad, why);
	return CLI_FAIL;
}

static int
audit_verify_cmd(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv)
{
	static const struct option opts[] = { CLI_COMMON_OPTS, { 0 } };
	struct http_response *resp = NULL;
	FILE *f = NULL;
	int ch, rc;

	while ((ch = cli_getopt(cli, cmd, argc, argv, "", opts, &rc)) != -1)
		if (ch == CLI_GETOPT_EXIT)
			return rc;
	if (argc - optind > 1)
		return cli_usage_error(cmd, "expected at most one FILE");
	if (argc - optind == 1) {
		if ((f = fopen(argv[optind], "r")) == NULL) {
			cli_err("cannot open %s: %s", argv[optind],
			    strerror(errno));
			return CLI_FAIL;
		}
		rc = verify_stream(f);
		fclose(f);
		return rc;
	}
	if ((rc = fetch_raw(cli, "/v1/audit?n=0", &resp)) != CLI_OK)
		return rc;
	if (resp->body_len == 0) {
		printf("audit log intact: 0 entries\n");
		rc = CLI_OK;
	} else if ((f = fmemopen(resp->body, resp->body_len, "r")) == NULL) {
		cli_err("out of memory");
		rc = CLI_FAIL;
	} else
		rc = verify_stream(f);
	if (f != NULL)
		fclose(f);
	http_response_free(resp);
	return rc;
}

const struct cli_cmd cli_cmds_audit[] = {
	{ "audit", "tail", audit_tail_cmd, "[-n N]",
	    "print the last N audit entries (default 100, 0: all)" },
	{ "audit", "verify", audit_verify_cmd, "[FILE]",
	    "check the hash chain of a log file, or of the daemon's whole "
	    "log; exit 1 naming the first bad entry" },
	{ NULL, NULL, NULL, NULL, NULL },
};
