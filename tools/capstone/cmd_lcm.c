/*
 * cmd_lcm.c - capstone lcm notify|show: VNF lifecycle notifications (ETSI
 * SOL 003 VnfLcmOperationOccurrenceNotification) sent to the CMF, and the
 * occurrences it recorded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/util.h"
#include "tools/capstone/args.h"
#include "tools/capstone/cli.h"

#define LCM_FILE_MAX	(256 * 1024)	/* what the daemon accepts */

static void
field(const char *name, const char *value)
{
	cli_print_field(15, name, value);
}

/* One line per certificate of a summary list: ENTITY CERT-ID SERIAL. */
static void
cert_lines(const char *name, const json_t *a)
{
	const json_t *o;
	size_t i;

	if (json_is_integer(a)) {	/* a summary cut to counts */
		printf("%-15s %lld\n", name, (long long)json_integer_value(a));
		return;
	}
	if (!json_is_array(a) || json_array_size(a) == 0) {
		field(name, "-");
		return;
	}
	json_array_foreach(a, i, o) {
		printf("%-15s ", i == 0 ? name : "");
		cli_print_safe(stdout, cli_get_str(o, "entity", "-"));
		putchar(' ');
		cli_print_safe(stdout, cli_get_str(o, "certId", "-"));
		putchar(' ');
		cli_print_safe(stdout, cli_get_str(o, "serial", "-"));
		putchar('\n');
	}
}

static void
id_line(const char *name, const json_t *a)
{
	const json_t *v;
	size_t i;

	printf("%-15s ", name);
	if (!json_is_array(a) || json_array_size(a) == 0)
		fputs("-", stdout);
	json_array_foreach(a, i, v) {
		if (i > 0)
			putchar(' ');
		cli_print_safe(stdout, json_is_string(v) ?
		    json_string_value(v) : "?");
	}
	putchar('\n');
}

static void
print_summary(const json_t *s)
{
	const json_t *v;

	field("operation", cli_get_str(s, "operation", "-"));
	field("state", cli_get_str(s, "operationState", "-"));
	field("vnf instance", cli_get_str(s, "vnfInstanceId", "-"));
	if ((v = json_object_get(s, "ignored")) != NULL &&
	    json_is_string(v))
		field("ignored", json_string_value(v));
	id_line("created", json_object_get(s, "created"));
	id_line("removed", json_object_get(s, "removed"));
	cert_lines("issued", json_object_get(s, "issued"));
	cert_lines("revoked", json_object_get(s, "revoked"));
	v = json_object_get(s, "keysDestroyed");
	printf("%-15s %lld\n", "keys destroyed",
	    json_is_integer(v) ? (long long)json_integer_value(v) : 0LL);
}

static int
lcm_notify(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv)
{
	char *buf = NULL;
	size_t len = 0;
	json_t *out = NULL;
	int rc;

	if (cli_plain(cli, cmd, argc, argv, 1, &rc))
		return rc;
	if (cli_load_file(argv[optind], LCM_FILE_MAX, "256 KiB", &buf,
	    &len) != CLI_OK)
		return CLI_FAIL;
	rc = cli_call(cli, "POST", "/cmf/v1/lcm-notifications", buf, len,
	    &out);
	sodium_memzero(buf, len);
	sodium_free(buf);
	if (rc != CLI_OK)
		return rc;
	if (cli->json)
		cli_print_json(out);
	else {
		field("id", cli_get_str(out, "id", "-"));
		field("replayed", json_is_true(json_object_get(out,
		    "replayed")) ? "yes" : "no");
		field("acted", json_is_true(json_object_get(out, "acted")) ?
		    "yes" : "no");
		print_summary(json_object_get(out, "summary"));
	}
	json_decref(out);
	return CLI_OK;
}

/* What the CMF recorded for a notification. */
static void
print_occurrence(const json_t *out)
{
	field("id", cli_get_str(out, "id", "-"));
	field("time", cli_get_str(out, "time", "-"));
	print_summary(json_object_get(out, "summary"));
}

static int
lcm_show(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
	char path[64 + CAP_NAME_MAX];
	int rc;

	if (cli_plain(cli, cmd, argc, argv, 1, &rc))
		return rc;
	if (!cap_name_valid(argv[optind]))
		return cli_usage_error(cmd, "a notification id is made of "
		    "[A-Za-z0-9._-]");
	snprintf(path, sizeof(path), "/cmf/v1/lcm-notifications/%s",
	    argv[optind]);
	return cli_show(cli, path, print_occurrence);
}

const struct cli_cmd cli_cmds_lcm[] = {
	{ "lcm", "notify", lcm_notify, "FILE",
	    "send a VNF LCM operation occurrence notification (FILE, or - for "
	    "standard input) to the CMF; prints what it did" },
	{ "lcm", "show", lcm_show, "ID",
	    "show what the CMF recorded for a notification" },
	{ NULL, NULL, NULL, NULL, NULL }
};
