/*
 * cli.h - what the capstone CLI's verbs share: the run context, the
 * command table entry, option parsing, the call to the daemon and output.
 *
 * A verb is one file, cmd_VERB.c, exporting a NULL-terminated table of
 * `struct cli_cmd` (one entry per subverb), and one line in the verb list
 * of main.c.  A handler returns the process exit status: CLI_OK, CLI_FAIL
 * (the operation was refused or failed; the reason is already printed) or
 * CLI_USAGE (bad usage; cli_usage_error prints the usage line).
 */
#ifndef CAP_CLI_H
#define CAP_CLI_H

#include <getopt.h>
#include <stddef.h>

#include <jansson.h>

#include "daemon/version.h"
#include "tools/capstone/client.h"


#define CLI_OK		0
#define CLI_FAIL	1
#define CLI_USAGE	2

struct cli {
	struct cap_client_opts	 opts;	/* from flags, then the environment */
	int			 json;	/* --json: print the server's JSON */
	cap_client		*client;	/* made on first call */
};

struct cli_cmd {
	const char	*verb;
	const char	*sub;
	/*
	 * argv[0] is the subverb; getopt is reset by main before the call,
	 * so a handler parses its options with cli_getopt from optind 1.
	 */
	int		(*run)(struct cli *cli, const struct cli_cmd *cmd,
			    int argc, char **argv);
	const char	*args;	/* usage after "capstone VERB SUB" */
	const char	*help;	/* one line */
};

extern const struct cli_cmd cli_cmds_token[];
extern const struct cli_cmd cli_cmds_domain[];
extern const struct cli_cmd cli_cmds_secret[];
extern const struct cli_cmd cli_cmds_policy[];
extern const struct cli_cmd cli_cmds_secret_ref[];	/* cmd_ref.c */
extern const struct cli_cmd cli_cmds_audit[];
extern const struct cli_cmd cli_cmds_key[];		/* cmd_key.c */
extern const struct cli_cmd cli_cmds_cert[];		/* cmd_cert.c */
extern const struct cli_cmd cli_cmds_ca[];		/* cmd_ca.c */
extern const struct cli_cmd cli_cmds_lcm[];		/* cmd_lcm.c */
extern const struct cli_cmd cli_cmds_entity[];		/* cmd_entity.c */
extern const struct cli_cmd cli_cmds_pkg[];		/* cmd_pkg.c */

/* cmd_pkg_crypt.c: the encrypt and decrypt subverbs of cli_cmds_pkg. */
int cmd_pkg_encrypt(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv);
int cmd_pkg_decrypt(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv);

/* cmd_authtoken.c: bearer-token subverbs, listed in cli_cmds_token. */
int cli_token_create(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv);
int cli_token_list(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv);
int cli_token_revoke(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv);

/* ---- options ---- */

#define CLI_OPT_JSON	0x100
#define CLI_GETOPT_EXIT	0x101	/* stop: return *rc */

/* Every subverb's long options end with these (then the zero entry). */
#define CLI_COMMON_OPTS \
	{ "json", no_argument, NULL, CLI_OPT_JSON }, \
	{ "help", no_argument, NULL, 'h' }

/*
 * cli_getopt is getopt_long over a subverb's arguments (options and
 * operands may be mixed; "--" ends the options).  It handles --json and
 * -h/--help itself.  It returns the next option character, -1 when the
 * options are done (operands are then argv[optind..argc-1]), or
 * CLI_GETOPT_EXIT with *rc set: CLI_OK after printing help, CLI_USAGE
 * after reporting an unknown option or a missing argument.
 * shortopts must not start with '+', '-' or ':' (added here).
 */
int cli_getopt(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv, const char *shortopts, const struct option *longopts,
    int *rc);

/*
 * cli_plain is the option parsing of a subverb without options of its
 * own: the common ones, then, when nops >= 0, exactly nops operands
 * ("expected N operand(s)" otherwise).  It returns 0 to go on, or 1 with
 * *rc the exit status (help printed, or a usage error reported).
 */
int cli_plain(struct cli *cli, const struct cli_cmd *cmd, int argc,
    char **argv, int nops, int *rc);

/*
 * cli_hex_id_path checks that id is 32 lowercase hex characters and writes
 * "PREFIX/ID[SUFFIX]" into path; otherwise it reports "a WHAT id is 32
 * lowercase hex characters" as a usage error and returns CLI_USAGE.
 */
int cli_hex_id_path(const struct cli_cmd *cmd, const char *what,
    const char *prefix, const char *id, const char *suffix, char *path,
    size_t len);

/*
 * cli_load_file is cli_read_file (args.h) that reports a failure itself,
 * "capstone: cannot open FILE: REASON" or the like, and returns CLI_FAIL.
 */
int cli_load_file(const char *file, size_t max, const char *limit,
    char **out, size_t *len) __attribute__((warn_unused_result));

/* cli_usage prints "usage: capstone VERB SUB ARGS" to f. */
void cli_usage(const struct cli_cmd *cmd, FILE *f);

/*
 * cli_usage_error prints "capstone: MESSAGE" and the usage line to stderr
 * and returns CLI_USAGE.
 */
int cli_usage_error(const struct cli_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* cli_err prints "capstone: MESSAGE" to stderr. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * cli_write_all writes len bytes to fd, again after EINTR; -1 with errno
 * set when a write fails.
 */
int cli_write_all(int fd, const void *buf, size_t len);

/* ---- calling the daemon ---- */

/*
 * cli_request sends one request (body: JSON text of body_len bytes, or
 * NULL) and returns CLI_OK with the answer in *resp (http_response_free
 * it) when its status is below 400, or CLI_FAIL with *resp NULL after
 * printing why: transport errors as they are, HTTP errors as
 * "capstone: CODE: MESSAGE" from the server's error object.
 */
int cli_request(struct cli *cli, const char *method, const char *path,
    const char *body, size_t body_len, struct http_response **resp);

/*
 * cli_call sends one request (body: JSON text of body_len bytes, or NULL)
 * and returns CLI_OK with the decoded JSON answer in *out (NULL for an
 * empty body; out may be NULL), or CLI_FAIL after printing why: transport
 * errors as they are, HTTP errors as "capstone: CODE: MESSAGE" from the
 * server's error object.
 */
int cli_call(struct cli *cli, const char *method, const char *path,
    const char *body, size_t body_len, json_t **out);

/*
 * cli_call_json is cli_call with body serialised compactly (the order of
 * its keys kept); the serialisation is wiped after the call.  body is
 * borrowed; NULL (a failed json_pack) is reported as "out of memory".
 */
int cli_call_json(struct cli *cli, const char *method, const char *path,
    const json_t *body, json_t **out);

/* cli_post_json POSTs body and consumes it (json_decref), NULL included. */
int cli_post_json(struct cli *cli, const char *path, json_t *body,
    json_t **out);

/*
 * cli_show GETs path and prints the answer: with --json as it came, else
 * through print.  Returns the exit status, as cli_call.
 */
int cli_show(struct cli *cli, const char *path,
    void (*print)(const json_t *));

/* ---- output ---- */

/*
 * cli_print_field prints one line of a description: name left-aligned in
 * width columns, a space, then value through cli_print_safe.
 */
void cli_print_field(int width, const char *name, const char *value);

/* cli_print_json prints v indented, keys in the server's order. */
void cli_print_json(const json_t *v);

/*
 * cli_print_safe writes s to f with control characters replaced by '?',
 * for text that came from the server and is not secret data.
 */
void cli_print_safe(FILE *f, const char *s);

/*
 * cli_scalar_text: a JSON value as text for human output: strings as they
 * are, true/false as yes/no, null as "-", numbers in decimal, anything else
 * as compact JSON.  Returns a malloc'd string (wipe and free) or NULL.
 */
char *cli_scalar_text(const json_t *v);

/* cli_get_str: the string member key of obj, or def when absent. */
const char *cli_get_str(const json_t *obj, const char *key, const char *def);

/*
 * cli_print_secret prints a secret answer res (its "data" object): with
 * field, that one value alone (strings exactly, anything else as compact
 * JSON), or "capstone: WHAT has no field 'FIELD'" and CLI_FAIL when it is
 * absent; else with --json the whole answer; else the data as key=value
 * lines sorted by key.  Returns the exit status.
 */
int cli_print_secret(const struct cli *cli, const json_t *res,
    const char *field, const char *what);

#endif
