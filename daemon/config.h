/*
 * config.h - capstoned's configuration: one table defines every key (name,
 * section, type, default, help); parsing, validation, the example file and
 * `capstoned -T` all come from it.
 */
#ifndef CAP_CONFIG_H
#define CAP_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#define CONFIG_MAX_SIZE	(256 * 1024)	/* largest configuration file */

struct cap_config {
	char		*file;		/* the file it was read from */
	/* [server] */
	char		*listen;	/* "host:port" */
	unsigned	 workers;
	uint64_t	 max_body;
	char		*tls_cert;
	char		*tls_key;	/* PEM file or pkcs11: URI */
	char		*tls_client_ca;
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

/* config_parse parses text of len bytes as if read from file `name`. */
int config_parse(const char *name, const char *text, size_t len,
    struct cap_config **out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

void config_free(struct cap_config *c);

/* config_print writes the effective configuration as INI (capstoned -T). */
void config_print(const struct cap_config *c, FILE *f);

#endif
