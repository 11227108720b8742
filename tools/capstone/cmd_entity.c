/*
 * cmd_entity.c - capstone entity create|list|show|rm|certs|issue|initcred:
 * the NFV entities of the certificate management function (/cmf/v1) and
 * their certificates and initial credentials.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/util.h"
#include "tools/capstone/args.h"
#include "tools/capstone/cli.h"

#define ENTITY_ID_MAX	64
#define LIST_MAX	16	/* --fqdn, --ip, --cert-type each */
#define CSR_FILE_MAX	(64u * 1024)

/* Entity ids the REST paths take: [A-Za-z0-9._-], 1..64. */
static int
id_ok(const char *s)
{
	size_t i;

	if (s == NULL || s[0] == '\0' || strlen(s) > ENTITY_ID_MAX)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

static int
entity_path(const struct cli_cmd *cmd, const char *id, const char *suffix,
    char *path, size_t len)
{
	if (!id_ok(id))
		return cli_usage_error(cmd, "an entity id is 1..64 of "
		    "[A-Za-z0-9._-]");
	snprintf(path, len, "/cmf/v1/entities/%s%s", id, suffix);
	return CLI_OK;
}

static void
field(const char *name, const char *value)
{
	cli_print_field(16, name, value);
}

static void
field_list(const char *name, const json_t *a, const char *member)
{
	size_t i;
	json_t *v;

	printf("%-16s ", name);
	json_array_foreach(a, i, v) {
		if (i > 0)
			putchar(' ');
		cli_print_safe(stdout, member != NULL ?
		    cli_get_str(v, member, "-") :
		    json_is_string(v) ? json_string_value(v) : "-");
	}
	putchar('\n');
}

static void
print_entity(const json_t *o)
{
	field("id", cli_get_str(o, "id", "-"));
	field("type", cli_get_str(o, "type", "-"));
	field("parent", cli_get_str(o, "parent", "-"));
	field("vnfInstanceId", cli_get_str(o, "vnfInstanceId", "-"));
	field("vnfcId", cli_get_str(o, "vnfcId", "-"));
	field_list("fqdns", json_object_get(o, "fqdns"), NULL);
	field_list("ips", json_object_get(o, "ips"), NULL);
	field("bindingPolicy", cli_get_str(o, "bindingPolicy", "-"));
	field_list("certTypes", json_object_get(o, "certTypes"), "type");
	field_list("certificates", json_object_get(o, "certificates"),
	    "certId");
	field("created", cli_get_str(o, "created", "-"));
}

/* The options of entity create that set one string member of the body. */
static const struct {
	int		 opt;
	const char	*member;
} create_members[] = {
	{ 'i', "id" },
	{ 'P', "parent" },
	{ 'V', "vnfInstanceId" },
	{ 'v', "vnfcId" },
	{ 'p', "profile" },
	{ 'b', "bindingPolicy" },
	{ 0, NULL }
};

static int
entity_create(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv)
{
	static const struct option lo[] = {
		{ "type", required_argument, NULL, 't' },
		{ "id", required_argument, NULL, 'i' },
		{ "parent", required_argument, NULL, 'P' },
		{ "vnf-instance", required_argument, NULL, 'V' },
		{ "vnfc", required_argument, NULL, 'v' },
		{ "fqdn", required_argument, NULL, 'f' },
		{ "ip", required_argument, NULL, 'a' },
		{ "ca", required_argument, NULL, 'c' },
		{ "profile", required_argument, NULL, 'p' },
		{ "binding", required_argument, NULL, 'b' },
		{ "cert-type", required_argument, NULL, 'T' },
		CLI_COMMON_OPTS, { 0, 0, 0, 0 }
	};
	json_t *body = NULL, *fqdns = json_array(), *ips = json_array();
	json_t *types = json_array(), *out = NULL, *t;
	const char *type = NULL, *ca = NULL;
	char name[64], *colon;
	size_t m;
	int c, rc = CLI_OK;

	if ((body = json_object()) == NULL || fqdns == NULL || ips == NULL ||
	    types == NULL) {
		cli_err("out of memory");
		rc = CLI_FAIL;
		goto done;
	}
	while ((c = cli_getopt(cli, cmd, argc, argv, "t:i:P:V:v:f:a:c:p:b:T:h",
	    lo, &rc)) != -1) {
		switch (c) {
		case CLI_GETOPT_EXIT:
			goto done;
		case 't':
			type = optarg;
			break;
		case 'f':
		case 'a':
			if (json_array_size(c == 'f' ? fqdns : ips) >= LIST_MAX) {
				rc = cli_usage_error(cmd, "too many values");
				goto done;
			}
			json_array_append_new(c == 'f' ? fqdns : ips,
			    json_string(optarg));
			break;
		case 'c':
			ca = optarg;
			break;
		case 'T':
			if (json_array_size(types) >= LIST_MAX ||
			    strlen(optarg) >= sizeof(name)) {
				rc = cli_usage_error(cmd, "bad --cert-type");
				goto done;
			}
			snprintf(name, sizeof(name), "%s", optarg);
			if ((colon = strchr(name, ':')) != NULL) {
				*colon++ = '\0';
				t = json_pack("{s:s,s:s}", "type", name,
				    "bindingPolicy", colon);
			} else
				t = json_string(name);
			if (t == NULL) {
				rc = cli_usage_error(cmd, "bad --cert-type");
				goto done;
			}
			json_array_append_new(types, t);
			break;
		default:
			for (m = 0; create_members[m].opt != 0 &&
			    create_members[m].opt != c; m++)
				;
			if (create_members[m].opt == 0) {
				rc = cli_usage_error(cmd, "unknown option");
				goto done;
			}
			json_object_set_new(body, create_members[m].member,
			    json_string(optarg));
			break;
		}
	}
	if (argc != optind) {
		rc = cli_usage_error(cmd, "unexpected operand");
		goto done;
	}
	if (type == NULL || ca == NULL || json_array_size(types) == 0) {
		rc = cli_usage_error(cmd, "--type, --ca and --cert-type are "
		    "required");
		goto done;
	}
	json_object_set_new(body, "type", json_string(type));
	json_object_set_new(body, "ca", json_string(ca));
	json_object_set(body, "fqdns", fqdns);
	json_object_set(body, "ips", ips);
	json_object_set(body, "certTypes", types);
	rc = cli_post_json(cli, "/cmf/v1/entities", body, &out);
	body = NULL;	/* consumed */
	if (rc != CLI_OK)
		goto done;
	if (cli->json)
		cli_print_json(out);
	else
		print_entity(out);
 done:
	json_decref(out);
	json_decref(body);
	json_decref(fqdns);
	json_decref(ips);
	json_decref(types);
	return rc;
}

static void
print_entities(const json_t *out)
{
	const json_t *v;
	size_t i;

	printf("%-24s %-14s %-24s %s\n", "ID", "TYPE", "PARENT", "POLICY");
	json_array_foreach(json_object_get(out, "entities"), i, v) {
		cli_print_safe(stdout, cli_get_str(v, "id", "-"));
		printf(" %s ", cli_get_str(v, "type", "-"));
		cli_print_safe(stdout, cli_get_str(v, "parent", "-"));
		printf(" %s\n", cli_get_str(v, "bindingPolicy", "-"));
	}
}

static int
entity_list(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv)
{
	static const struct option lo[] = {
		{ "parent", required_argument, NULL, 'P' },
		CLI_COMMON_OPTS, { 0, 0, 0, 0 }
	};
	const char *parent = NULL;
	char path[128];
	int c, rc = CLI_OK;

	while ((c = cli_getopt(cli, cmd, argc, argv, "P:h", lo, &rc)) != -1) {
		if (c == CLI_GETOPT_EXIT)
			return rc;
		if (c == 'P')
			parent = optarg;
		else
			return cli_usage_error(cmd, "unknown option");
	}
	if (argc != optind)
		return cli_usage_error(cmd, "unexpected operand");
	if (parent != NULL && !id_ok(parent))
		return cli_usage_error(cmd, "--parent is an entity id");
	if (parent != NULL)
		snprintf(path, sizeof(path), "/cmf/v1/entities?parent=%s",
		    parent);
	else
		snprintf(path, sizeof(path), "/cmf/v1/entities");
	return cli_show(cli, path, print_entities);
}

static int
entity_show(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv)
{
	char path[128];
	int rc;

	if (cli_plain(cli, cmd, argc, argv, 1, &rc) != 0)
		return rc;
	if ((rc = entity_path(cmd, argv[optind], "", path, sizeof(path))) != 0)
		return rc;
	return cli_show(cli, path, print_entity);
}

static int
entity_rm(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
	char path[128];
	int rc;

	if (cli_plain(cli, cmd, argc, argv, 1, &rc) != 0)
		return rc;
	if ((rc = entity_path(cmd, argv[optind], "", path, sizeof(path))) != 0)
		return rc;
	if ((rc = cli_call(cli, "DELETE", path, NULL, 0, NULL)) != CLI_OK)
		return rc;
	if (!cli->json)
		printf("removed %s; its certificates revoked and its keys "
		    "destroyed\n", argv[optind]);
	return rc;
}

static void
print_entity_certs(const json_t *out)
{
	const json_t *v;
	size_t i;

	printf("%-32s %-14s %-9s %-20s %s\n", "CERT", "TYPE", "STATUS",
	    "NOT_AFTER", "SERIAL");
	json_array_foreach(json_object_get(out, "certificates"), i, v)
		printf("%-32s %-14s %-9s %-20s %s\n",
		    cli_get_str(v, "certId", "-"),
		    cli_get_str(v, "certType", "-"),
		    cli_get_str(v, "status", "-"),
		    cli_get_str(v, "notAfter", "-"),
		    cli_get_str(v, "serial", "-"));
}

static int
entity_certs(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv)
{
	char path[160];
	int rc;

	if (cli_plain(cli, cmd, argc, argv, 1, &rc) != 0)
		return rc;
	if ((rc = entity_path(cmd, argv[optind], "/certificates", path,
	    sizeof(path))) != 0)
		return rc;
	return cli_show(cli, path, print_entity_certs);
}

/* Writes the certificate (and chain) of an answer to file or stdout. */
static int
write_pem(const json_t *out, const char *file)
{
	FILE *f = stdout;
	const json_t *v;
	size_t i;
	int rc = CLI_OK;

	if (file != NULL && (f = fopen(file, "w")) == NULL) {
		cli_err("cannot write %s", file);
		return CLI_FAIL;
	}
	v = json_object_get(out, "certificate");
	if (json_is_string(v))
		fputs(json_string_value(v), f);
	json_array_foreach(json_object_get(out, "certificateChain"), i, v)
		if (json_is_string(v))
			fputs(json_string_value(v), f);
	if (file != NULL && fclose(f) != 0) {
		cli_err("cannot write %s", file);
		rc = CLI_FAIL;
	}
	return rc;
}

/*
 * POSTs body (consumed) to path, with the contents of the CSR file csr,
 * when given, as its "csr" member.  A NULL body (a failed json_pack) is a
 * usage error.
 */
static int
post_with_csr(struct cli *cli, const struct cli_cmd *cmd, const char *path,
    json_t *body, const char *csr, json_t **out)
{
	char *buf = NULL;
	size_t len = 0;
	int rc = CLI_OK;

	*out = NULL;
	if (body == NULL)
		return cli_usage_error(cmd, "arguments are not UTF-8 text");
	if (csr != NULL) {
		if (cli_load_file(csr, CSR_FILE_MAX, "64 KiB", &buf,
		    &len) != CLI_OK)
			rc = CLI_FAIL;
		else if (json_object_set_new(body, "csr",
		    json_stringn(buf, len)) != 0)
			rc = cli_usage_error(cmd, "the CSR file is not text");
		if (buf != NULL)
			sodium_free(buf);
	}
	if (rc != CLI_OK) {
		json_decref(body);
		return rc;
	}
	return cli_post_json(cli, path, body, out);
}

static int
entity_issue(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv)
{
	static const struct option lo[] = {
		{ "cert-type", required_argument, NULL, 'T' },
		{ "vnfc", required_argument, NULL, 'v' },
		{ "csr", required_argument, NULL, 'r' },
		{ "chain", no_argument, NULL, 'C' },
		{ "out", required_argument, NULL, 'o' },
		CLI_COMMON_OPTS, { 0, 0, 0, 0 }
	};
	const char *type = NULL, *vnfc = NULL, *csr = NULL, *file = NULL;
	char path[160];
	json_t *body = NULL, *out = NULL;
	int c, rc = CLI_OK, chain = 0;

	while ((c = cli_getopt(cli, cmd, argc, argv, "T:v:r:Co:h", lo,
	    &rc)) != -1) {
		switch (c) {
		case CLI_GETOPT_EXIT:
			return rc;
		case 'T':
			type = optarg;
			break;
		case 'v':
			vnfc = optarg;
			break;
		case 'r':
			csr = optarg;
			break;
		case 'C':
			chain = 1;
			break;
		case 'o':
			file = optarg;
			break;
		default:
			return cli_usage_error(cmd, "unknown option");
		}
	}
	if (argc - optind != 1 || type == NULL)
		return cli_usage_error(cmd, "expected an entity id and "
		    "--cert-type");
	if ((rc = entity_path(cmd, argv[optind], "/certificates", path,
	    sizeof(path))) != 0)
		return rc;
	body = json_pack("{s:s,s:s,s:b}", "vnfcId",
	    vnfc != NULL ? vnfc : argv[optind], "certType", type,
	    "certChainRequest", chain);
	if ((rc = post_with_csr(cli, cmd, path, body, csr, &out)) != CLI_OK)
		return rc;
	if (cli->json)
		cli_print_json(out);
	else if (strcmp(cli_get_str(out, "status", ""), "pending") == 0) {
		/* 202: the same command again collects the certificate */
		field("status", "pending");
		field("message", cli_get_str(out, "message", "-"));
	} else {
		if ((rc = write_pem(out, file)) != CLI_OK)
			goto done;
		if (file != NULL) {
			field("certId", cli_get_str(out, "certId", "-"));
			field("keyId", cli_get_str(out, "keyId", "-"));
		}
	}
 done:
	json_decref(out);
	return rc;
}

static int
entity_initcred(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv)
{
	static const struct option lo[] = {
		{ "cert-type", required_argument, NULL, 'T' },
		{ "ttl", required_argument, NULL, 't' },
		{ "csr", required_argument, NULL, 'r' },
		CLI_COMMON_OPTS, { 0, 0, 0, 0 }
	};
	const char *type = NULL, *ttl = "1h", *csr = NULL;
	char path[160];
	json_t *body = NULL, *out = NULL;
	int c, rc = CLI_OK;

	while ((c = cli_getopt(cli, cmd, argc, argv, "T:t:r:h", lo,
	    &rc)) != -1) {
		if (c == CLI_GETOPT_EXIT)
			return rc;
		if (c == 'T')
			type = optarg;
		else if (c == 't')
			ttl = optarg;
		else if (c == 'r')
			csr = optarg;
		else
			return cli_usage_error(cmd, "unknown option");
	}
	if (argc - optind != 1 || type == NULL)
		return cli_usage_error(cmd, "expected an entity id and "
		    "--cert-type");
	if ((rc = entity_path(cmd, argv[optind], "/initial-credentials", path,
	    sizeof(path))) != 0)
		return rc;
	body = json_pack("{s:s,s:s}", "certType", type, "ttl", ttl);
	if ((rc = post_with_csr(cli, cmd, path, body, csr, &out)) != CLI_OK)
		return rc;
	if (cli->json)
		cli_print_json(out);
	else {
		field("reference", cli_get_str(out, "reference", "-"));
		field("expires", cli_get_str(out, "expires", "-"));
		if (json_object_get(out, "secret") != NULL)
			field("secret", cli_get_str(out, "secret", "-"));
		else
			fputs(cli_get_str(out, "certificate", ""), stdout);
	}
	json_decref(out);
	return rc;
}

const struct cli_cmd cli_cmds_entity[] = {
	{ "entity", "create", entity_create,
	    "--type T [--id ID] [--parent P] [--vnf-instance ID] [--vnfc ID] "
	    "[--fqdn F]... [--ip A]... --ca CA [--profile P] "
	    "[--binding P1|P2|P3] --cert-type T[:P1|P2]...",
	    "register a VNF instance, VNFC, VNFC instance or MANO block" },
	{ "entity", "list", entity_list, "[--parent P]",
	    "list entities, or the children of one" },
	{ "entity", "show", entity_show, "ID", "show an entity" },
	{ "entity", "rm", entity_rm, "ID",
	    "remove an entity and its descendants: revoke their "
	    "certificates, destroy their keys" },
	{ "entity", "certs", entity_certs, "ID",
	    "list the certificates an entity holds" },
	{ "entity", "issue", entity_issue,
	    "ID --cert-type T [--vnfc ID] [--csr FILE] [--chain] [-o FILE]",
	    "issue a certificate from a CSR, or with a key made in the token" },
	{ "entity", "initcred", entity_initcred,
	    "ID --cert-type T [--ttl D] [--csr FILE]",
	    "make a one-time initial credential: a bootstrap token (its "
	    "secret shown once) or, with --csr, an initial certificate" },
	{ NULL, NULL, NULL, NULL, NULL }
};
