/*
 * cmd_key.c - capstone key create|list|show|sign|verify|csr|rm: keys held
 * in the daemon's token.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/err.h"
#include "tools/capstone/args.h"
#include "tools/capstone/cli.h"

#define KEY_FILE_MAX	(64 * 1024)	/* what the daemon signs */
#define KEY_SANS_MAX	100

/* "/v1/keys/ID[SUFFIX]" for a well-formed key id. */
static int
id_path(const struct cli_cmd *cmd, const char *id, const char *suffix,
    char *path, size_t len)
{
	return cli_hex_id_path(cmd, "key", "/v1/keys", id, suffix, path,
	    len);
}

/* Reads FILE ("-": stdin) and returns it as base64 (malloc'd). */
static int
file_b64(const char *file, char **out)
{
	char *buf = NULL, *b64;
	size_t len = 0, n;

	*out = NULL;
	if (cli_load_file(file, KEY_FILE_MAX, "64 KiB", &buf, &len) != CLI_OK)
		return CLI_FAIL;
	n = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	if ((b64 = malloc(n)) != NULL)
		sodium_bin2base64(b64, n, (const unsigned char *)buf, len,
		    sodium_base64_VARIANT_ORIGINAL);
	sodium_memzero(buf, len);
	sodium_free(buf);
	if (b64 == NULL) {
		cli_err("out of memory");
		return CLI_FAIL;
	}
	*out = b64;
	return CLI_OK;
}

static void
print_key(const json_t *k)
{
	static const char *const f[] = { "id", "type", "label", "owner",
	    "created", "uri", NULL };
	size_t i;

	for (i = 0; f[i] != NULL; i++)
		cli_print_field(9, f[i], cli_get_str(k, f[i], "-"));
	if (json_is_string(json_object_get(k, "public_key")))
		cli_print_safe(stdout, cli_get_str(k, "public_key", ""));
}

static int
key_create(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "label", required_argument, NULL, 'l' },
		CLI_COMMON_OPTS, { 0, 0, 0, 0 }
	};
	const char *label = NULL;
	json_t *out = NULL, *body;
	int c, rc = CLI_OK;

	while ((c = cli_getopt(cli, cmd, argc, argv, "l:h", lo, &rc)) != -1) {
		if (c == CLI_GETOPT_EXIT)
			return rc;
		if (c == 'l')
			label = optarg;
		else
			return cli_usage_error(cmd, "unknown option");
	}
	if (argc - optind != 1)
		return cli_usage_error(cmd, "expected the key type");
	body = json_pack("{s:s}", "type", argv[optind]);
	if (body != NULL && label != NULL)
		json_object_set_new(body, "label", json_string(label));
	if ((rc = cli_post_json(cli, "/v1/keys", body, &out)) != CLI_OK)
		return rc;
	if (cli->json)
		cli_print_json(out);
	else
		print_key(out);
	json_decref(out);
	return CLI_OK;
}

static void
print_keys(const json_t *out)
{
	const json_t *k;
	size_t i;

	json_array_foreach(json_object_get(out, "keys"), i, k) {
		printf("%s  %-9s %-5s ", cli_get_str(k, "id", "-"),
		    cli_get_str(k, "type", "-"), cli_get_str(k, "owner", "-"));
		cli_print_safe(stdout, cli_get_str(k, "label", ""));
		putchar('\n');
	}
}

static int
key_list(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
	int rc;

	if (cli_plain(cli, cmd, argc, argv, 0, &rc))
		return rc;
	return cli_show(cli, "/v1/keys", print_keys);
}

static int
key_show(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
	char path[96];
	int rc;

	if (cli_plain(cli, cmd, argc, argv, 1, &rc))
		return rc;
	if ((rc = id_path(cmd, argv[optind], "", path, sizeof(path))) != 0)
		return rc;
	return cli_show(cli, path, print_key);
}

static int
key_rm(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
	char path[96];
	int rc;

	if (cli_plain(cli, cmd, argc, argv, 1, &rc))
		return rc;
	if ((rc = id_path(cmd, argv[optind], "", path, sizeof(path))) != 0)
		return rc;
	return cli_call(cli, "DELETE", path, NULL, 0, NULL);
}

static int
key_sign(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
	char path[96], *data = NULL;
	json_t *out = NULL;
	int rc;

	if (cli_plain(cli, cmd, argc, argv, 2, &rc))
		return rc;
	if ((rc = id_path(cmd, argv[optind], "/sign", path, sizeof(path))) != 0)
		return rc;
	if ((rc = file_b64(argv[optind + 1], &data)) != CLI_OK)
		return rc;
	rc = cli_post_json(cli, path, json_pack("{s:s}", "data", data), &out);
	free(data);
	if (rc != CLI_OK)
		return rc;
	if (cli->json)
		cli_print_json(out);
	else
		printf("%s\n", cli_get_str(out, "signature", ""));
	json_decref(out);
	return CLI_OK;
}

static int
key_verify(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
	char path[96], *data = NULL, *sig = NULL;
	json_t *out = NULL, *v;
	int rc, valid;

	if (cli_plain(cli, cmd, argc, argv, 3, &rc))
		return rc;
	if ((rc = id_path(cmd, argv[optind], "/verify", path,
	    sizeof(path))) != 0)
		return rc;
	if ((rc = file_b64(argv[optind + 1], &data)) != CLI_OK ||
	    (rc = file_b64(argv[optind + 2], &sig)) != CLI_OK)
		goto out;
	rc = cli_post_json(cli, path, json_pack("{s:s,s:s}", "data", data,
	    "signature", sig), &out);
	if (rc != CLI_OK)
		goto out;
	v = json_object_get(out, "valid");
	valid = json_is_true(v);
	if (cli->json)
		cli_print_json(out);
	else
		printf("%s\n", valid ? "valid" : "invalid");
	rc = valid ? CLI_OK : CLI_FAIL;
 out:
	json_decref(out);
	free(data);
	free(sig);
	return rc;
}

static int
key_csr(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "subject", required_argument, NULL, 's' },
		{ "san", required_argument, NULL, 'n' },
		CLI_COMMON_OPTS, { 0, 0, 0, 0 }
	};
	const char *subject = NULL;
	char path[96];
	json_t *out = NULL, *sans, *body;
	int c, rc = CLI_OK;

	if ((sans = json_array()) == NULL)
		return CLI_FAIL;
	while ((c = cli_getopt(cli, cmd, argc, argv, "s:n:h", lo, &rc)) != -1) {
		if (c == CLI_GETOPT_EXIT)
			goto done;
		if (c == 's')
			subject = optarg;
		else if (c == 'n' && json_array_size(sans) < KEY_SANS_MAX)
			json_array_append_new(sans, json_string(optarg));
		else {
			rc = cli_usage_error(cmd, "unknown option or too "
			    "many SANs");
			goto done;
		}
	}
	if (argc - optind != 1 || subject == NULL) {
		rc = cli_usage_error(cmd, "expected a key id and --subject");
		goto done;
	}
	if ((rc = id_path(cmd, argv[optind], "/csr", path, sizeof(path))) != 0)
		goto done;
	body = json_pack("{s:s,s:O}", "subject", subject, "sans", sans);
	if ((rc = cli_post_json(cli, path, body, &out)) != CLI_OK)
		goto done;
	if (cli->json)
		cli_print_json(out);
	else
		fputs(cli_get_str(out, "csr", ""), stdout);
 done:
	json_decref(out);
	json_decref(sans);
	return rc;
}

const struct cli_cmd cli_cmds_key[] = {
	{ "key", "create", key_create, "TYPE [--label L]",
	    "generate a key in the token (ec-p256, ec-p384, rsa-2048, "
	    "rsa-3072, ed25519, aes-256)" },
	{ "key", "list", key_list, "", "list the keys" },
	{ "key", "show", key_show, "ID", "show a key, its public key and URI" },
	{ "key", "sign", key_sign, "ID FILE|-",
	    "sign FILE in the token; prints the signature in base64" },
	{ "key", "verify", key_verify, "ID FILE SIGFILE",
	    "verify a signature (raw bytes in SIGFILE)" },
	{ "key", "csr", key_csr, "ID --subject S [--san X]...",
	    "print a PKCS#10 request signed in the token" },
	{ "key", "rm", key_rm, "ID", "destroy a key in the token" },
	{ NULL, NULL, NULL, NULL, NULL }
};
