/*
 * config.h - capstoned's configuration: one table defines every key (name,
 * section, type, default, help); parsing, validation, the example file and
 * `capstoned -T` all come from it.
 *
 * The file is INI, read line by line with strict rules: `[section]` lines,
 * `key = value` lines, whole-line comments starting with `#` or `;`, blank
 * lines.  No inline comments, no continuation lines, no quoting: the value
 * is everything after the first `=`, trimmed.  An empty value leaves an
 * optional key unset.  Unknown sections and keys, a key set twice, a value
 * that does not parse and a missing required key are all errors.
 *
 * The PIN itself never appears in the configuration: `pin` names where it
 * is read from (file:, env:, credential:), and a `pin-value` attribute in
 * the token URI is refused.  Error messages never repeat the `pin` value.
 */
#ifndef CAP_CONFIG_H
#define CAP_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#define CONFIG_MAX_SIZE	(256 * 1024)	/* largest configuration file */

/* tls_client_auth: whether a TLS client certificate is mandatory */
#define CFG_CLIENT_AUTH_REQUIRE		0
#define CFG_CLIENT_AUTH_OPTIONAL	1	/* else a bearer token is */

struct cap_config {
	char		*file;		/* the file it was read from */
	/* [server] */
	char		*listen;	/* "host:port" */
	unsigned	 workers;
	uint64_t	 max_body;
	char		*tls_cert;
	char		*tls_key;	/* PEM file or pkcs11: URI */
	char		*tls_client_ca;
	char		*tls_client_crl;	/* NULL: no revocation check */
	char		*public_url;	/* NULL: no CRL/OCSP URLs */
	int		 tls_client_auth;	/* CFG_CLIENT_AUTH_* */
	/* [token] */
	char		*token_uri;
	char		*token_module;	/* NULL: from the URI */
	char		*token_pin;	/* NULL: from the URI */
	unsigned	 token_sessions;
	/* [store] */
	char		*store_path;
	uint64_t	 store_map_size;
	int		 store_sync;
	/* [seal] */
	int		 seal_mode;	/* seal_mode of crypto/envelope.h */
	/* [auth] */
	char		*auth_admins;	/* comma-separated patterns, NULL: none */
	/* [audit] */
	char		*audit_path;	/* NULL: audit.log in the store path */
	int		 audit_sync;
	/* [certs] */
	uint64_t	 certs_scan_interval;	/* seconds */
	uint64_t	 certs_reply_wait;	/* seconds before a 202 */
	char		*certs_renew_fraction;	/* "0.6667": daemon/scheduler.h */
	int		 certs_renew_new_key;
	char		*certs_alert_thresholds;	/* "30d,7d,1d" */
	char		*certs_webhook;		/* NULL: no webhook */
	/* [enrol] */
	char		*enrol_listen;	/* "host:port", NULL: no enrolment server */
	char		*enrol_ca;	/* default CA connector, NULL: none */
	uint64_t	 enrol_wait;	/* seconds before a 202 */
	/* [log] */
	int		 log_syslog;
	int		 log_level;	/* enum log_level */
};

/*
 * config_load reads and validates path.  On failure returns CAP_ERR_CONFIG
 * (or CAP_ERR_IO, CAP_ERR_TOO_LARGE) and writes a message naming the file,
 * line and key into err.
 */
int config_load(const char *path, struct cap_config **out, char *err,
    size_t errlen) __attribute__((warn_unused_result));

/*
 * config_parse parses text of len bytes as if read from file `name`.
 * Returns CAP_ERR_CONFIG, CAP_ERR_TOO_LARGE (over CONFIG_MAX_SIZE) or
 * CAP_ERR_NOMEM, with a message in err; *out is NULL on failure.
 */
int config_parse(const char *name, const char *text, size_t len,
    struct cap_config **out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* config_free frees every string and the struct; NULL is a no-op. */
void config_free(struct cap_config *c);

/*
 * config_print writes the effective configuration as INI (capstoned -T):
 * every key with its value, grouped by section; unset optional keys are
 * written with an empty value.  The output parses back to an equal
 * configuration.
 */
void config_print(const struct cap_config *c, FILE *f);

/*
 * config_print_example writes the commented example configuration: every
 * key with its help text and its default (or an example value for keys
 * without one).  conf/capstoned.conf is this output.
 */
void config_print_example(FILE *f);

/*
 * config_listen_split splits a validated listen value into host (without
 * the brackets of an IPv6 literal, NUL-terminated, at most hostlen - 1
 * bytes) and port.  Accepts "1.2.3.4:443", "[::1]:443" and "name:443";
 * the port must be 1..65535.  Returns CAP_ERR_INVALID otherwise.
 */
int config_listen_split(const char *listen, char *host, size_t hostlen,
    unsigned *port) __attribute__((warn_unused_result));

#endif
