/*
 * cmd_cert.c - capstone cert enroll|list|show|renew|revoke|status:
 * certificates whose keys the daemon holds in its token, issued through
 * a configured CA connector.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/util.h"
#include "tools/capstone/args.h"
#include "tools/capstone/cli.h"

#define CERT_SANS_MAX	16	/* what the daemon accepts */

/* "/v1/certs/ID[SUFFIX]" for a well-formed certificate id. */
static int
id_path(const struct cli_cmd *cmd, const char *id, const char *suffix,
    char *path, size_t len)
{
	return cli_hex_id_path(cmd, "certificate", "/v1/certs", id, suffix, path,
	    len);
}

static void
field(const char *name, const char *value)
{
	cli_print_field(18, name, value);
}

/*
 * The answer to an enrollment or a renewal: issued (201) with the serial
 * and expiry, or pending (202) with only the id to poll.
 */
static void
print_issue(struct cli *cli, const json_t *o)
{
	const char *st = cli_get_str(o, "status", "-");

	if (cli->json) {
		cli_print_json(o);
		return;
	}
	field("id", cli_get_str(o, "id", "-"));
	if (strcmp(st, "pending") == 0 || strcmp(st, "renewing") == 0) {
		field("status", "pending");
		return;
	}
	field("serial", cli_get_str(o, "serial", "-"));
	field("not_after", cli_get_str(o, "not_after", "-"));
}

static int
cert_enroll(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv)
{
	static const struct option lo[] = {
		{ "ca", required_argument, NULL, 'c' },
		{ "subject", required_argument, NULL, 's' },
		{ "san", required_argument, NULL, 'n' },
		{ "key-type", required_argument, NULL, 't' },
		{ "key-id", required_argument, NULL, 'k' },
		{ "profile", required_argument, NULL, 'p' },
		{ "validity", required_argument, NULL, 'v' },
		{ "auto-renew", no_argument, NULL, 'a' },
		CLI_COMMON_OPTS, { 0, 0, 0, 0 }
	};
	const char *ca = NULL, *subject = NULL, *key_type = NULL;
	const char *key_id = NULL, *profile = NULL, *validity = NULL;
	json_t *out = NULL, *sans, *body = NULL;
	int c, rc = CLI_OK, auto_renew = 0;

	if ((sans = json_array()) == NULL) {
		cli_err("out of memory");
		return CLI_FAIL;
	}
	while ((c = cli_getopt(cli, cmd, argc, argv, "c:s:n:t:k:p:v:ah", lo,
	    &rc)) != -1) {
		switch (c) {
		case CLI_GETOPT_EXIT:
			goto done;
		case 'c':
			ca = optarg;
			break;
		case 's':
			subject = optarg;
			break;
		case 'n':
			if (json_array_size(sans) >= CERT_SANS_MAX) {
				rc = cli_usage_error(cmd, "at most %d SANs",
				    CERT_SANS_MAX);
				goto done;
			}
			if (json_array_append_new(sans,
			    json_string(optarg)) != 0) {
				rc = cli_usage_error(cmd, "a SAN is not "
				    "UTF-8 text");
				goto done;
			}
			break;
		case 't':
			key_type = optarg;
			break;
		case 'k':
			key_id = optarg;
			break;
		case 'p':
			profile = optarg;
			break;
		case 'v':
			validity = optarg;
			break;
		case 'a':
			auto_renew = 1;
			break;
		default:
			rc = cli_usage_error(cmd, "unknown option");
			goto done;
		}
	}
	if (argc != optind) {
		rc = cli_usage_error(cmd, "unexpected operand");
		goto done;
	}
	if (ca == NULL || subject == NULL) {
		rc = cli_usage_error(cmd, "--ca and --subject are required");
		goto done;
	}
	if (key_type != NULL && key_id != NULL) {
		rc = cli_usage_error(cmd, "--key-type and --key-id exclude "
		    "each other");
		goto done;
	}
	if ((body = json_pack("{s:s,s:s,s:O,s:b}", "ca", ca, "subject",
	    subject, "sans", sans, "auto_renew", auto_renew)) == NULL) {
		rc = cli_usage_error(cmd, "arguments are not UTF-8 text");
		goto done;
	}
	if ((key_id != NULL && json_object_set_new(body, "key_id",
	    json_string(key_id)) != 0) ||
	    (key_type != NULL && json_object_set_new(body, "key",
	    json_pack("{s:s}", "type", key_type)) != 0) ||
	    (profile != NULL && json_object_set_new(body, "profile",
	    json_string(profile)) != 0) ||
	    (validity != NULL && json_object_set_new(body, "validity",
	    json_string(validity)) != 0)) {
		rc = cli_usage_error(cmd, "arguments are not UTF-8 text");
		goto done;
	}
	rc = cli_post_json(cli, "/v1/certs", body, &out);
	body = NULL;
	if (rc == CLI_OK)
		print_issue(cli, out);
 done:
	json_decref(body);
	json_decref(out);
	json_decref(sans);
	return rc;
}

/* Query values here are durations, CA names and status words. */
static int
query_value_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    s[i] == '-' || s[i] == '_' || s[i] == '.'))
			return 0;
	return i > 0 && i <= CAP_NAME_MAX;
}

static void
print_certs(const json_t *out)
{
	const json_t *cv;
	size_t i;

	json_array_foreach(json_object_get(out, "certs"), i, cv) {
		printf("%s  %-8s ", cli_get_str(cv, "id", "-"),
		    cli_get_str(cv, "status", "-"));
		cli_print_safe(stdout, cli_get_str(cv, "ca", "-"));
		fputs("  ", stdout);
		cli_print_safe(stdout, cli_get_str(cv, "not_after", "-"));
		fputs("  ", stdout);
		cli_print_safe(stdout, cli_get_str(cv, "subject", "-"));
		putchar('\n');
	}
}

static int
cert_list(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "expiring-within", required_argument, NULL, 'e' },
		{ "ca", required_argument, NULL, 'c' },
		{ "status", required_argument, NULL, 's' },
		CLI_COMMON_OPTS, { 0, 0, 0, 0 }
	};
	const char *exp = NULL, *ca = NULL, *status = NULL;
	char path[512];
	size_t off;
	int c, rc = CLI_OK, n;

	while ((c = cli_getopt(cli, cmd, argc, argv, "e:c:s:h", lo,
	    &rc)) != -1) {
		if (c == CLI_GETOPT_EXIT)
			return rc;
		if (c == 'e')
			exp = optarg;
		else if (c == 'c')
			ca = optarg;
		else if (c == 's')
			status = optarg;
		else
			return cli_usage_error(cmd, "unknown option");
	}
	if (argc != optind)
		return cli_usage_error(cmd, "unexpected operand");
	if ((exp != NULL && !query_value_ok(exp)) ||
	    (ca != NULL && !query_value_ok(ca)) ||
	    (status != NULL && !query_value_ok(status)))
		return cli_usage_error(cmd, "bad filter value");
	off = (size_t)snprintf(path, sizeof(path), "/v1/certs");
	if (exp != NULL) {
		n = snprintf(path + off, sizeof(path) - off,
		    "%cexpiring_within=%s", off > 9 ? '&' : '?', exp);
		off += (size_t)n;
	}
	if (ca != NULL) {
		n = snprintf(path + off, sizeof(path) - off, "%cca=%s",
		    off > 9 ? '&' : '?', ca);
		off += (size_t)n;
	}
	if (status != NULL)
		snprintf(path + off, sizeof(path) - off, "%cstatus=%s",
		    off > 9 ? '&' : '?', status);
	return cli_show(cli, path, print_certs);
}

static void
print_cert(const json_t *o)
{
	static const char *const f[] = { "id", "status", "ca", "profile",
	    "subject", "serial", "not_before", "not_after", "key_id",
	    "key_type", "revoked", "revocation_reason", NULL };
	const json_t *v, *e;
	size_t i;

	for (i = 0; f[i] != NULL; i++)
		if (json_is_string(json_object_get(o, f[i])))
			field(f[i], cli_get_str(o, f[i], "-"));
	field("auto_renew", json_is_true(json_object_get(o, "auto_renew")) ?
	    "yes" : "no");
	json_array_foreach(json_object_get(o, "sans"), i, v)
		if (json_is_string(v))
			field("san", json_string_value(v));
	json_array_foreach(json_object_get(o, "history"), i, e) {
		printf("%-18s ", "history");
		cli_print_safe(stdout, cli_get_str(e, "time", "-"));
		putchar(' ');
		cli_print_safe(stdout, cli_get_str(e, "event", "-"));
		if ((v = json_object_get(e, "serial")) != NULL &&
		    json_is_string(v)) {
			fputs(" serial ", stdout);
			cli_print_safe(stdout, json_string_value(v));
		}
		if ((v = json_object_get(e, "status")) != NULL &&
		    json_is_string(v)) {
			putchar(' ');
			cli_print_safe(stdout, json_string_value(v));
		}
		putchar('\n');
	}
}

static int
cert_show(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "pem", no_argument, NULL, 'p' },
		CLI_COMMON_OPTS, { 0, 0, 0, 0 }
	};
	char path[96];
	json_t *out = NULL, *v;
	size_t i;
	int c, rc = CLI_OK, pem = 0;

	while ((c = cli_getopt(cli, cmd, argc, argv, "ph", lo, &rc)) != -1) {
		if (c == CLI_GETOPT_EXIT)
			return rc;
		if (c == 'p')
			pem = 1;
		else
			return cli_usage_error(cmd, "unknown option");
	}
	if (argc - optind != 1)
		return cli_usage_error(cmd, "expected a certificate id");
	if ((rc = id_path(cmd, argv[optind], "", path, sizeof(path))) != 0)
		return rc;
	if ((rc = cli_call(cli, "GET", path, NULL, 0, &out)) != CLI_OK)
		return rc;
	if (cli->json)
		cli_print_json(out);
	else if (pem) {
		v = json_object_get(out, "certificate");
		if (!json_is_string(v)) {
			cli_err("no certificate issued yet (status %s)",
			    cli_get_str(out, "status", "-"));
			rc = CLI_FAIL;
		} else {
			fputs(json_string_value(v), stdout);
			json_array_foreach(json_object_get(out, "chain"), i, v)
				if (json_is_string(v))
					fputs(json_string_value(v), stdout);
		}
	} else
		print_cert(out);
	json_decref(out);
	return rc;
}

static int
cert_renew(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "keep-key", no_argument, NULL, 'k' },
		CLI_COMMON_OPTS, { 0, 0, 0, 0 }
	};
	char path[96];
	json_t *out = NULL;
	int c, rc = CLI_OK, keep = 0;

	while ((c = cli_getopt(cli, cmd, argc, argv, "kh", lo, &rc)) != -1) {
		if (c == CLI_GETOPT_EXIT)
			return rc;
		if (c == 'k')
			keep = 1;
		else
			return cli_usage_error(cmd, "unknown option");
	}
	if (argc - optind != 1)
		return cli_usage_error(cmd, "expected a certificate id");
	if ((rc = id_path(cmd, argv[optind], "/renew", path,
	    sizeof(path))) != 0)
		return rc;
	if ((rc = cli_post_json(cli, path, json_pack("{s:b}", "new_key", !keep),
	    &out)) != CLI_OK)
		return rc;
	print_issue(cli, out);
	json_decref(out);
	return CLI_OK;
}

static int
cert_revoke(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv)
{
	static const struct option lo[] = {
		{ "reason", required_argument, NULL, 'r' },
		CLI_COMMON_OPTS, { 0, 0, 0, 0 }
	};
	const char *reason = NULL;
	char path[96];
	json_t *out = NULL, *body;
	int c, rc = CLI_OK;

	while ((c = cli_getopt(cli, cmd, argc, argv, "r:h", lo, &rc)) != -1) {
		if (c == CLI_GETOPT_EXIT)
			return rc;
		if (c == 'r')
			reason = optarg;
		else
			return cli_usage_error(cmd, "unknown option");
	}
	if (argc - optind != 1)
		return cli_usage_error(cmd, "expected a certificate id");
	if ((rc = id_path(cmd, argv[optind], "/revoke", path,
	    sizeof(path))) != 0)
		return rc;
	body = reason != NULL ? json_pack("{s:s}", "reason", reason) :
	    json_object();
	if (body == NULL)
		return cli_usage_error(cmd, "the reason is not UTF-8 text");
	if ((rc = cli_post_json(cli, path, body, &out)) != CLI_OK)
		return rc;
	if (cli->json)
		cli_print_json(out);
	else {
		field("id", cli_get_str(out, "id", "-"));
		field("status", cli_get_str(out, "status", "-"));
		field("revocation_reason", cli_get_str(out,
		    "revocation_reason", "-"));
	}
	json_decref(out);
	return CLI_OK;
}

/* "STATUS (SOURCE, CHECKED)" */
static void
print_status(const json_t *out)
{
	cli_print_safe(stdout, cli_get_str(out, "status", "-"));
	fputs(" (", stdout);
	cli_print_safe(stdout, cli_get_str(out, "source", "-"));
	fputs(", ", stdout);
	cli_print_safe(stdout, cli_get_str(out, "checked", "-"));
	fputs(")\n", stdout);
}

static int
cert_status(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv)
{
	char path[96];
	int rc;

	if (cli_plain(cli, cmd, argc, argv, 1, &rc))
		return rc;
	if ((rc = id_path(cmd, argv[optind], "/status", path,
	    sizeof(path))) != 0)
		return rc;
	return cli_show(cli, path, print_status);
}

const struct cli_cmd cli_cmds_cert[] = {
	{ "cert", "enroll", cert_enroll,
	    "--ca CA --subject S [--san X]... [--key-type T | --key-id ID] "
	    "[--profile P] [--validity D] [--auto-renew]",
	    "request a certificate for a key in the token (new by default); "
	    "prints id, serial and expiry, or the id and \"pending\"" },
	{ "cert", "list", cert_list,
	    "[--expiring-within D] [--ca CA] [--status S]",
	    "list certificates" },
	{ "cert", "show", cert_show, "ID [--pem]",
	    "show a certificate and its history, or with --pem the "
	    "certificate and its chain" },
	{ "cert", "renew", cert_renew, "ID [--keep-key]",
	    "renew a certificate, with a new key unless --keep-key" },
	{ "cert", "revoke", cert_revoke, "ID [--reason R]",
	    "revoke a certificate through its CA (RFC 5280 reason name)" },
	{ "cert", "status", cert_status, "ID",
	    "check a certificate against its CA's CRL" },
	{ NULL, NULL, NULL, NULL, NULL }
};
