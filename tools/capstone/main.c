/*
 * main.c - capstone, the command-line client of capstoned.
 *
 *   capstone [--addr URL] [--cert F] [--key F|pkcs11:URI] [--cacert F]
 *            [--token T] [--json] VERB SUBVERB [ARGS...]
 *
 * Global options fall back to CAPSTONE_ADDR, CAPSTONE_CERT, CAPSTONE_KEY,
 * CAPSTONE_CACERT and CAPSTONE_TOKEN.  The verbs live one per file
 * (cmd_*.c), each a table of subverbs; a new verb is a new file and one
 * line in `verbs` below.
 */
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>
#include <sodium.h>

#include "common/log.h"
#include "tools/capstone/cli.h"

static const struct cli_cmd *const verbs[] = {
	cli_cmds_token,
	cli_cmds_domain,
	cli_cmds_secret,
	cli_cmds_policy,
	cli_cmds_secret_ref,
	cli_cmds_audit,
	cli_cmds_key,
	cli_cmds_cert,
	cli_cmds_ca,
	cli_cmds_entity,
	cli_cmds_lcm,
	cli_cmds_pkg,
	NULL,
};

/*
 * jansson's allocations carry their size so that freeing wipes them: the
 * JSON trees of this program hold secret values and bearer tokens.
 */
#define JSON_HDR 16	/* keeps max_align_t alignment */

static void *
json_wiping_malloc(size_t n)
{
	unsigned char *p;

	if (n > SIZE_MAX - JSON_HDR || (p = malloc(n + JSON_HDR)) == NULL)
		return NULL;
	memcpy(p, &n, sizeof(n));
	return p + JSON_HDR;
}

static void
json_wiping_free(void *q)
{
	unsigned char *p;
	size_t n;

	if (q == NULL)
		return;
	p = (unsigned char *)q - JSON_HDR;
	memcpy(&n, p, sizeof(n));
	sodium_memzero(q, n);
	free(p);
}

static void
usage(FILE *f)
{
	const struct cli_cmd *const *v;
	const struct cli_cmd *c;

	fprintf(f,
	    "usage: capstone [--addr URL] [--cert FILE] "
	    "[--key FILE|pkcs11:URI] [--cacert FILE]\n"
	    "                [--token TOKEN] [--json] VERB SUBVERB [ARGS...]\n"
	    "       capstone --version\n\ncommands:\n");
	for (v = verbs; *v != NULL; v++)
		for (c = *v; c->verb != NULL; c++)
			fprintf(f, "  %s %s%s%s\n      %s\n", c->verb, c->sub,
			    c->args[0] ? " " : "", c->args, c->help);
	fprintf(f, "\nSee capstone(1).\n");
}

/* The verb's table, or NULL. */
static const struct cli_cmd *
find_verb(const char *verb)
{
	const struct cli_cmd *const *v;

	for (v = verbs; *v != NULL; v++)
		if (strcmp((*v)->verb, verb) == 0)
			return *v;
	return NULL;
}

/* The usage of every subverb of t's verb, over all tables of that verb. */
static void
verb_usage(const struct cli_cmd *t, FILE *f)
{
	const struct cli_cmd *const *v;
	const struct cli_cmd *c;

	for (v = verbs; *v != NULL; v++)
		if (strcmp((*v)->verb, t->verb) == 0)
			for (c = *v; c->verb != NULL; c++)
				cli_usage(c, f);
}

/*
 * The subverb sub of verb, looked up in every table of that verb (a verb
 * may be spread over several files); NULL if there is none.
 */
static const struct cli_cmd *
find_sub(const char *verb, const char *sub)
{
	const struct cli_cmd *const *v;
	const struct cli_cmd *c;

	for (v = verbs; *v != NULL; v++) {
		if (strcmp((*v)->verb, verb) != 0)
			continue;
		for (c = *v; c->verb != NULL; c++)
			if (strcmp(c->sub, sub) == 0)
				return c;
	}
	return NULL;
}

static const char *
env_or(const char *flag, const char *var)
{
	const char *s;

	if (flag != NULL)
		return flag;
	if ((s = getenv(var)) != NULL && s[0] != '\0')
		return s;
	return NULL;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "addr", required_argument, NULL, 'a' },
		{ "cert", required_argument, NULL, 'C' },
		{ "key", required_argument, NULL, 'K' },
		{ "cacert", required_argument, NULL, 'A' },
		{ "token", required_argument, NULL, 'T' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct cli cli;
	const struct cli_cmd *table, *cmd;
	const char *addr = NULL, *cert = NULL, *key = NULL, *cacert = NULL;
	const char *token = NULL;
	int ch, rc;

	memset(&cli, 0, sizeof(cli));
	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0) {
		fprintf(stderr, "capstone: cannot initialise libsodium\n");
		return CLI_FAIL;
	}
	json_set_alloc_funcs(json_wiping_malloc, json_wiping_free);
	/* library modules (hsm/) log through log_*: warnings and errors only */
	log_init("capstone", 0, LOG_LVL_WARN);

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			addr = optarg;
			break;
		case 'C':
			cert = optarg;
			break;
		case 'K':
			key = optarg;
			break;
		case 'A':
			cacert = optarg;
			break;
		case 'T':
			token = optarg;
			break;
		case 'j':
			cli.json = 1;
			break;
		case 'h':
			usage(stdout);
			return CLI_OK;
		case 'V':
			printf("capstone %s (%s)\n", CAPSTONE_VERSION,
			    OpenSSL_version(OPENSSL_VERSION));
			return CLI_OK;
		case ':':
			fprintf(stderr, "capstone: option %s needs a value\n",
			    argv[optind - 1]);
			usage(stderr);
			return CLI_USAGE;
		default:
			if (optopt != 0)
				fprintf(stderr, "capstone: unknown option "
				    "-%c\n", optopt);
			else
				fprintf(stderr, "capstone: unknown option "
				    "%s\n", argv[optind - 1]);
			usage(stderr);
			return CLI_USAGE;
		}
	}
	argc -= optind;
	argv += optind;

	if (argc < 1) {
		usage(stderr);
		return CLI_USAGE;
	}
	if ((table = find_verb(argv[0])) == NULL) {
		fprintf(stderr, "capstone: unknown command '%s'\n", argv[0]);
		usage(stderr);
		return CLI_USAGE;
	}
	if (argc < 2) {
		verb_usage(table, stderr);
		return CLI_USAGE;
	}
	if ((cmd = find_sub(argv[0], argv[1])) == NULL) {
		if (strcmp(argv[1], "-h") == 0 ||
		    strcmp(argv[1], "--help") == 0) {
			verb_usage(table, stdout);
			return CLI_OK;
		}
		fprintf(stderr, "capstone: unknown command '%s %s'\n", argv[0],
		    argv[1]);
		verb_usage(table, stderr);
		return CLI_USAGE;
	}

	cli.opts.addr = env_or(addr, "CAPSTONE_ADDR");
	cli.opts.cert = env_or(cert, "CAPSTONE_CERT");
	cli.opts.key = env_or(key, "CAPSTONE_KEY");
	cli.opts.cacert = env_or(cacert, "CAPSTONE_CACERT");
	cli.opts.token = env_or(token, "CAPSTONE_TOKEN");

	optind = 0;	/* full re-initialisation of getopt for the subverb */
	rc = cmd->run(&cli, cmd, argc - 1, argv + 1);
	cap_client_free(cli.client);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "capstone: cannot write the output\n");
		rc = CLI_FAIL;
	}
	return rc;
}
