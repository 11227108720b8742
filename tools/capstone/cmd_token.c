/*
 * cmd_token.c - `capstone token init|status`; create|list|revoke (bearer
 * tokens) are in cmd_authtoken.c.
 *
 * `token init` is the one local operation of the CLI: it opens the token
 * named by the daemon's configuration (or by --uri) itself and creates the
 * master key there, so no daemon is needed and none may be running with a
 * half-initialised token.  `token status` asks the daemon.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "daemon/config.h"
#include "hsm/hsm.h"
#include "tools/capstone/cli.h"

static int
token_init(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "uri", required_argument, NULL, 'u' },
		{ "module", required_argument, NULL, 'm' },
		{ "pin", required_argument, NULL, 'p' },
		CLI_COMMON_OPTS,
		{ 0 }
	};
	struct cap_config *cfg = NULL;
	hsm_token_info ti;
	hsm_mk_kind kind = HSM_MK_NONE;
	hsm *h = NULL;
	const char *conf = NULL, *uri = NULL, *module = NULL, *pin = NULL;
	char err[512];
	int ch, r, rc;

	while ((ch = cli_getopt(cli, cmd, argc, argv, "c:", opts, &rc)) != -1) {
		switch (ch) {
		case CLI_GETOPT_EXIT:
			return rc;
		case 'c':
			conf = optarg;
			break;
		case 'u':
			uri = optarg;
			break;
		case 'm':
			module = optarg;
			break;
		case 'p':
			pin = optarg;
			break;
		}
	}
	if (argc - optind != 0)
		return cli_usage_error(cmd, "no operands expected");
	if ((conf == NULL) == (uri == NULL))
		return cli_usage_error(cmd, "give either -c CONF or --uri URI");
	if (conf != NULL && (module != NULL || pin != NULL))
		return cli_usage_error(cmd, "--module and --pin go with --uri; "
		    "with -c they come from the configuration");

	rc = CLI_FAIL;
	if (conf != NULL) {
		err[0] = '\0';
		if ((r = config_load(conf, &cfg, err, sizeof(err))) != 0) {
			cli_err("%s", err[0] ? err : cap_strerror(r));
			goto out;
		}
		uri = cfg->token_uri;
		module = cfg->token_module;
		pin = cfg->token_pin;
	}
	if ((r = hsm_open(uri, module, pin, 1, &h)) != 0) {
		cli_err("cannot open the token: %s", cap_strerror(r));
		goto out;
	}
	hsm_get_token_info(h, &ti);
	if ((r = hsm_mk_init(h, &kind)) != 0) {
		if (r == CAP_ERR_EXISTS)
			cli_err("the token already holds a master key; "
			    "refusing to overwrite it");
		else if (r == CAP_ERR_UNSUPPORTED)
			cli_err("the token can neither generate and wrap with "
			    "AES keys nor use RSA-OAEP: no master key made");
		else
			cli_err("cannot create the master key: %s",
			    cap_strerror(r));
		goto out;
	}
	if (cli->json) {
		json_t *o = json_pack("{s:s,s:s,s:s,s:s}",
		    "kind", kind == HSM_MK_RSA ? "rsa-3072" : "aes-256",
		    "wrapping", kind == HSM_MK_RSA ? "rsa-oaep" :
		    "aes-key-wrap-pad",
		    "label", HSM_MK_LABEL, "token", ti.label);

		if (o != NULL)
			cli_print_json(o);
		json_decref(o);
	} else if (kind == HSM_MK_RSA) {
		printf("master key created: rsa-3072 (RSA-OAEP wrapping, "
		    "label %s) in token ", HSM_MK_LABEL);
		cli_print_safe(stdout, ti.label);
		putchar('\n');
	} else {
		printf("master key created: aes-256 (label %s) in token ",
		    HSM_MK_LABEL);
		cli_print_safe(stdout, ti.label);
		putchar('\n');
	}
	rc = CLI_OK;
 out:
	hsm_free(h);
	config_free(cfg);
	return rc;
}

/* "  name:  value" with the value as human text. */
static void
field(const char *name, const json_t *v)
{
	char *t;

	if (v == NULL)
		return;
	printf("  %-14s ", name);
	if ((t = cli_scalar_text(v)) != NULL)
		cli_print_safe(stdout, t);
	putchar('\n');
	free(t);
}

static void
print_token(const json_t *t)
{
	static const char *const known[] = {
		"label", "manufacturer", "model", "serial", "module",
		"mechanisms", "master_key", NULL
	};
	const json_t *mk, *mech, *v;
	const char *k;
	size_t i;
	int first;

	printf("token ");
	cli_print_safe(stdout, cli_get_str(t, "label", "-"));
	putchar('\n');
	field("manufacturer:", json_object_get(t, "manufacturer"));
	field("model:", json_object_get(t, "model"));
	field("serial:", json_object_get(t, "serial"));
	field("module:", json_object_get(t, "module"));
	json_object_foreach((json_t *)t, k, v) {
		for (i = 0; known[i] != NULL; i++)
			if (strcmp(k, known[i]) == 0)
				break;
		if (known[i] == NULL) {
			char name[64];

			snprintf(name, sizeof(name), "%s:", k);
			field(name, v);
		}
	}

	mk = json_object_get(t, "master_key");
	if (json_is_object(mk)) {
		printf("  master key:\n");
		json_object_foreach((json_t *)mk, k, v) {
			char name[64];

			snprintf(name, sizeof(name), "  %s:", k);
			field(name, v);
		}
	} else
		printf("  master key:    none (run capstone token init)\n");

	mech = json_object_get(t, "mechanisms");
	if (json_is_object(mech)) {
		printf("  mechanisms:    ");
		first = 1;
		json_object_foreach((json_t *)mech, k, v) {
			if (json_is_false(v) || json_is_null(v))
				continue;
			printf("%s", first ? "" : " ");
			cli_print_safe(stdout, k);
			if (!json_is_true(v)) {
				char *s = cli_scalar_text(v);

				putchar('=');
				cli_print_safe(stdout, s ? s : "?");
				free(s);
			}
			first = 0;
		}
		putchar('\n');
		first = 1;
		json_object_foreach((json_t *)mech, k, v) {
			if (!json_is_false(v))
				continue;
			printf("%s", first ? "  lacking:       " : " ");
			cli_print_safe(stdout, k);
			first = 0;
		}
		if (!first)
			putchar('\n');
	} else if (json_is_array(mech)) {
		printf("  mechanisms:    ");
		json_array_foreach(mech, i, v) {
			if (json_is_string(v)) {
				printf("%s", i ? " " : "");
				cli_print_safe(stdout, json_string_value(v));
			}
		}
		putchar('\n');
	}
}

static int
token_status(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv)
{
	json_t *res = NULL, *t;
	size_t i;
	int rc;

	if (cli_plain(cli, cmd, argc, argv, -1, &rc))
		return rc;
	if (argc - optind != 0)
		return cli_usage_error(cmd, "no operands expected");
	if ((rc = cli_call(cli, "GET", "/v1/sys/tokens", NULL, 0,
	    &res)) != CLI_OK)
		return rc;
	if (cli->json)
		cli_print_json(res);
	else {
		json_array_foreach(json_object_get(res, "tokens"), i, t) {
			if (i > 0)
				putchar('\n');
			print_token(t);
		}
	}
	json_decref(res);
	return CLI_OK;
}

const struct cli_cmd cli_cmds_token[] = {
	{ "token", "init", token_init,
	    "-c CONF | --uri URI [--module PATH] [--pin SOURCE]",
	    "create the master key in the token (local, no daemon); "
	    "refuses if one exists" },
	{ "token", "status", token_status, "",
	    "token and master key facts from the daemon" },
	{ "token", "create", cli_token_create,
	    "--identity ID --policy P [--policy P]... [--ttl D] [--uses N]",
	    "create a bearer token; prints it once (accessor on stderr)" },
	{ "token", "list", cli_token_list, "",
	    "list bearer tokens by accessor (never the tokens)" },
	{ "token", "revoke", cli_token_revoke, "ACCESSOR",
	    "revoke the bearer token with this accessor" },
	{ NULL, NULL, NULL, NULL, NULL }
};
