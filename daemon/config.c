/*
 * config.c - capstoned's configuration, driven by one table of keys.
 *
 * The reader is a small line-oriented INI parser of our own rather than
 * inih.  Debian's libinih is built without INI_HANDLER_LINENO, so its
 * handler cannot tell which line a key came from, and every error message
 * here must name the line.  inih also silently accepts things a security
 * daemon should refuse: continuation lines, inline `;` comments that cut a
 * value short, and lines truncated at INI_MAX_LINE.  The rules here are
 * strict and documented in config.h; the reader is small enough to fuzz
 * exhaustively (tests/fuzz/fuzz_config.c).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "api/audit.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "crypto/envelope.h"
#include "daemon/config.h"
#include "daemon/scheduler.h"

#define CONFIG_VALUE_MAX	4096	/* longest value, bytes */
#define CONFIG_NAME_MAX		64	/* longest section or key name */
#define CONFIG_SHOW_MAX		80	/* longest value quoted in a message */

enum key_type {
	KT_STRING,	/* free text (char *) */
	KT_PATH,	/* a file or directory path (char *) */
	KT_UINT,	/* decimal number in [min, max] (unsigned) */
	KT_SIZE,	/* "64k", "1m" in [min, max] (uint64_t) */
	KT_DURATION,	/* "90s", "1h" in [min, max] (uint64_t seconds) */
	KT_BOOL,	/* yes/no (int) */
	KT_ENUM,	/* one of a list of names (int) */
};

#define KF_REQUIRED	0x1	/* no default: the file must set it */
#define KF_OPTIONAL	0x2	/* may stay unset (NULL): empty value allowed */
#define KF_NOECHO	0x4	/* never repeat the value in a message */
#define KF_EXAMPLE	0x8	/* the example file sets it to .example */

struct config_enum {
	const char	*name;
	int		 value;
};

/* check: extra validation of a string value; fills why on failure. */
typedef int (*config_check)(const char *v, char *why, size_t whylen);

struct config_key {
	const char		*section;
	const char		*name;
	enum key_type		 type;
	size_t			 offset;	/* into struct cap_config */
	const char		*def;		/* default, NULL: none */
	uint64_t		 min, max;	/* KT_UINT, KT_SIZE, KT_DURATION */
	const struct config_enum *enums;	/* KT_ENUM, NULL-terminated */
	int			 flags;		/* KF_* */
	config_check		 check;		/* optional */
	const char		*example;	/* example value when def is NULL */
	const char		*help;		/* lines separated by '\n' */
};

static int check_listen(const char *, char *, size_t);
static int check_token_uri(const char *, char *, size_t);
static int check_pin_source(const char *, char *, size_t);
static int check_admins(const char *, char *, size_t);
static int check_fraction(const char *, char *, size_t);
static int check_thresholds(const char *, char *, size_t);
static int check_webhook(const char *, char *, size_t);

static const struct config_enum seal_modes[] = {
	{ "memory", SEAL_MEMORY },
	{ "token", SEAL_TOKEN },
	{ NULL, 0 },
};

static const struct config_enum client_auth_modes[] = {
	{ "require", CFG_CLIENT_AUTH_REQUIRE },
	{ "optional", CFG_CLIENT_AUTH_OPTIONAL },
	{ NULL, 0 },
};

static const struct config_enum audit_sync_modes[] = {
	{ "changes", AUDIT_SYNC_CHANGES },
	{ "all", AUDIT_SYNC_ALL },
	{ "yes", AUDIT_SYNC_ALL },
	{ "no", AUDIT_SYNC_NO },
	{ NULL, 0 },
};

static const struct config_enum log_targets[] = {
	{ "stderr", 0 },
	{ "syslog", 1 },
	{ NULL, 0 },
};

static const struct config_enum log_levels[] = {
	{ "error", LOG_LVL_ERROR },
	{ "warn", LOG_LVL_WARN },
	{ "info", LOG_LVL_INFO },
	{ "debug", LOG_LVL_DEBUG },
	{ NULL, 0 },
};

#define OFF(f)	offsetof(struct cap_config, f)

/* Every key capstoned knows, in the order -T and the example print them. */
static const struct config_key config_keys[] = {
	{
		.section = "server", .name = "listen", .type = KT_STRING,
		.offset = OFF(listen), .def = "127.0.0.1:8443",
		.check = check_listen,
		.help = "Address and port of the HTTPS API: an IPv4 address, an\n"
		    "IPv6 address in brackets ([::1]:8443) or a host name.",
	},
	{
		.section = "server", .name = "workers", .type = KT_UINT,
		.offset = OFF(workers), .def = "2", .min = 1, .max = 64,
		.help = "Worker threads, each with its own event loop (1-64).",
	},
	{
		.section = "server", .name = "max_body", .type = KT_SIZE,
		.offset = OFF(max_body), .def = "1m",
		.min = 1024, .max = 256ULL << 20,
		.help = "Largest request body; larger requests get 413.\n"
		    "Units k, m, g (powers of 1024); 1k to 256m.",
	},
	{
		.section = "server", .name = "tls_cert", .type = KT_PATH,
		.offset = OFF(tls_cert), .flags = KF_REQUIRED,
		.example = "/etc/capstone/server.crt",
		.help = "Server certificate chain, PEM (required).",
	},
	{
		.section = "server", .name = "tls_key", .type = KT_STRING,
		.offset = OFF(tls_key), .flags = KF_REQUIRED,
		.example = "/etc/capstone/server.key",
		.help = "Server private key (required): a PEM file, or the\n"
		    "pkcs11: URI of a key in the token so that it never\n"
		    "leaves the token, e.g.\n"
		    "  tls_key = pkcs11:token=capstone;object=capstone-tls",
	},
	{
		.section = "server", .name = "tls_client_ca", .type = KT_PATH,
		.offset = OFF(tls_client_ca), .flags = KF_REQUIRED,
		.example = "/etc/capstone/client-ca.crt",
		.help = "CA bundle, PEM, that every client certificate must\n"
		    "chain to (required).  Clients without one are refused\n"
		    "during the TLS handshake.",
	},
	{
		.section = "server", .name = "tls_client_crl", .type = KT_PATH,
		.offset = OFF(tls_client_crl), .flags = KF_OPTIONAL,
		.example = "/etc/capstone/client-ca.crl",
		.help = "CRL(s), PEM, of the client CA: a client certificate\n"
		    "listed there is refused during the TLS handshake.  Only\n"
		    "the client's own certificate is checked, so the file\n"
		    "needs the CRL of the CA that issues client certificates.\n"
		    "Re-read on SIGHUP.  Empty: no revocation check.",
	},
	{
		.section = "server", .name = "public_url", .type = KT_STRING,
		.offset = OFF(public_url), .flags = KF_OPTIONAL,
		.example = "https://capstone.example:8443",
		.help = "Base URL clients reach the API at.  When set, local CAs\n"
		    "put CRL distribution point and OCSP URLs under it into\n"
		    "the certificates they issue.  Empty: no such URLs.",
	},
	{
		.section = "server", .name = "tls_client_auth", .type = KT_ENUM,
		.offset = OFF(tls_client_auth), .def = "require",
		.enums = client_auth_modes,
		.help = "require: every client presents a certificate that\n"
		    "chains to tls_client_ca.  optional: a client without one\n"
		    "completes the handshake but must then send\n"
		    "Authorization: Bearer <token> with every request (401\n"
		    "otherwise); a certificate that is presented is still\n"
		    "verified.",
	},
	{
		.section = "token", .name = "uri", .type = KT_STRING,
		.offset = OFF(token_uri), .flags = KF_REQUIRED | KF_NOECHO,
		.check = check_token_uri,
		.example = "pkcs11:token=capstone"
		    "?module-path=/usr/lib/softhsm/libsofthsm2.so",
		.help = "RFC 7512 pkcs11: URI of the token holding the master\n"
		    "key (required).  A pin-value attribute is refused: name\n"
		    "the PIN's source with `pin` instead.",
	},
	{
		.section = "token", .name = "module", .type = KT_PATH,
		.offset = OFF(token_module), .flags = KF_OPTIONAL,
		.example = "/usr/lib/softhsm/libsofthsm2.so",
		.help = "PKCS#11 module path; overrides module-path in the URI.\n"
		    "Empty: taken from the URI.",
	},
	{
		.section = "token", .name = "pin", .type = KT_STRING,
		.offset = OFF(token_pin),
		.flags = KF_OPTIONAL | KF_NOECHO | KF_EXAMPLE,
		.check = check_pin_source,
		.example = "credential:pin",
		.help = "Where the user PIN is read from, never the PIN itself:\n"
		    "file:/etc/capstone/pin (mode 0600), env:VARIABLE, or\n"
		    "credential:NAME for a systemd LoadCredential= credential\n"
		    "(capstoned.service loads /etc/capstone/pin as \"pin\").\n"
		    "Empty or absent: the pin-source attribute of the URI.",
	},
	{
		.section = "token", .name = "sessions", .type = KT_UINT,
		.offset = OFF(token_sessions), .def = "8", .min = 1, .max = 256,
		.help = "Size of the PKCS#11 session pool (1-256).",
	},
	{
		.section = "store", .name = "path", .type = KT_PATH,
		.offset = OFF(store_path), .def = "/var/lib/capstone",
		.help = "LMDB directory; created with mode 0700 if missing.",
	},
	{
		.section = "store", .name = "map_size", .type = KT_SIZE,
		.offset = OFF(store_map_size), .def = "64m",
		.min = 1ULL << 20, .max = 1ULL << 40,
		.help = "Initial LMDB map size (1m to 1t); grown automatically\n"
		    "when full.",
	},
	{
		.section = "store", .name = "sync", .type = KT_BOOL,
		.offset = OFF(store_sync), .def = "yes",
		.help = "yes: every commit is on disk before the reply.  no skips\n"
		    "fsync (benchmarks only: an acknowledged write may be lost).",
	},
	{
		.section = "seal", .name = "mode", .type = KT_ENUM,
		.offset = OFF(seal_mode), .def = "memory", .enums = seal_modes,
		.help = "memory: domain keys are unwrapped into locked memory and\n"
		    "AES-GCM runs in this process.  token: every AES-GCM runs\n"
		    "inside the token (needs an AES master key and CKM_AES_GCM).",
	},
	{
		.section = "auth", .name = "admins", .type = KT_STRING,
		.offset = OFF(auth_admins), .flags = KF_OPTIONAL,
		.check = check_admins,
		.example = "CN=admin, CN=ops\\,O=Example, URI:spiffe://example/admin",
		.help = "Client certificates allowed to do everything, as\n"
		    "comma-separated patterns ('*' any run, '?' one character)\n"
		    "over the certificate's subject (RFC 2253 order, as in\n"
		    "CN=ops,O=Example) or one of its SANs (DNS:host, URI:uri,\n"
		    "IP:addr, email:x).  Write a comma inside a pattern as \\,\n"
		    "and a backslash as \\\\.  Bearer tokens are never admins\n"
		    "by this list: their policies decide.  Every other caller\n"
		    "needs a policy.  Empty: no configured admin.",
	},
	{
		.section = "audit", .name = "path", .type = KT_PATH,
		.offset = OFF(audit_path), .flags = KF_OPTIONAL,
		.example = "/var/lib/capstone/audit.log",
		.help = "The audit log: one hash-chained JSON entry per request,\n"
		    "written before the reply (created 0600).  Empty: audit.log\n"
		    "in the store directory.",
	},
	{
		.section = "audit", .name = "sync", .type = KT_ENUM,
		.offset = OFF(audit_sync), .def = "changes",
		.enums = audit_sync_modes,
		.help = "Every entry is written before its reply is sent, so a\n"
		    "crashed or killed daemon loses none.  Which entries are\n"
		    "also flushed to the disk (fdatasync) before the reply, for\n"
		    "a power loss: changes (requests other than GET and HEAD;\n"
		    "their store writes are flushed anyway), all (every entry,\n"
		    "reads too: several times slower under load), no.",
	},
	{
		.section = "certs", .name = "reply_wait", .type = KT_DURATION,
		.offset = OFF(certs_reply_wait), .def = "10s", .min = 0,
		.max = 300,
		.help = "How long POST /v1/certs and renew wait for the CA\n"
		    "before answering 202 {\"id\",\"status\":\"pending\"}\n"
		    "(the client then polls GET /v1/certs/{id}).",
	},
	{
		.section = "certs", .name = "scan_interval", .type = KT_DURATION,
		.offset = OFF(certs_scan_interval), .def = "60s",
		.min = 1, .max = 86400,
		.help = "How often the certificate inventory is scanned for\n"
		    "renewals, expiry and alerts (1s to 1d).",
	},
	{
		.section = "certs", .name = "renew_fraction", .type = KT_STRING,
		.offset = OFF(certs_renew_fraction), .def = "0.6667",
		.check = check_fraction,
		.help = "Share of a certificate's lifetime after which an\n"
		    "auto_renew certificate is renewed, a decimal in (0, 1]\n"
		    "with at most 6 places.  The lifetime counts from when the\n"
		    "certificate was recorded, so a CA that backdates\n"
		    "not_before does not make it due early.",
	},
	{
		.section = "certs", .name = "renew_new_key", .type = KT_BOOL,
		.offset = OFF(certs_renew_new_key), .def = "yes",
		.help = "yes: automatic renewals use a new key made in the token.\n"
		    "The superseded key is destroyed once the superseded\n"
		    "certificate has expired (when the key was made for it).",
	},
	{
		.section = "certs", .name = "alert_thresholds", .type = KT_STRING,
		.offset = OFF(certs_alert_thresholds), .def = "30d,7d,1d",
		.check = check_thresholds,
		.help = "Time left before expiry at which an alert is raised,\n"
		    "once per threshold and certificate: comma-separated\n"
		    "durations (s, m, h, d), at most 16.",
	},
	{
		.section = "certs", .name = "webhook", .type = KT_STRING,
		.offset = OFF(certs_webhook), .flags = KF_OPTIONAL,
		.check = check_webhook,
		.example = "https://alerts.example/capstone",
		.help = "http:// or https:// URL each expiry alert is POSTed to\n"
		    "as JSON (5 s timeout; https verified against the system\n"
		    "CAs).  Empty: alerts go to the log only.",
	},
	{
		.section = "enrol", .name = "listen", .type = KT_STRING,
		.offset = OFF(enrol_listen), .flags = KF_OPTIONAL,
		.check = check_listen, .example = "0.0.0.0:8444",
		.help = "host:port of the enrolment server for workloads: EST\n"
		    "(/.well-known/est/) and CMP (/pkix/) over TLS with the\n"
		    "[server] certificate; client certificates optional.\n"
		    "Empty: no enrolment server.",
	},
	{
		.section = "enrol", .name = "ca", .type = KT_STRING,
		.offset = OFF(enrol_ca), .flags = KF_OPTIONAL,
		.example = "op",
		.help = "CA connector whose chain /cacerts and CMP genm give\n"
		    "when the request names no CA (/.well-known/est/CA/...,\n"
		    "/pkix/CA).",
	},
	{
		.section = "enrol", .name = "wait", .type = KT_DURATION,
		.offset = OFF(enrol_wait), .def = "30s", .min = 0, .max = 30,
		.help = "How long an EST enrollment (and a CMF CSR request)\n"
		    "waits for the CA before it is answered 202 with\n"
		    "Retry-After; the client repeats the same request to\n"
		    "collect the certificate.  0: answer 202 at once.",
	},
	{
		.section = "log", .name = "target", .type = KT_ENUM,
		.offset = OFF(log_syslog), .def = "stderr", .enums = log_targets,
		.help = "stderr or syslog (facility daemon).",
	},
	{
		.section = "log", .name = "level", .type = KT_ENUM,
		.offset = OFF(log_level), .def = "info", .enums = log_levels,
		.help = "error, warn, info or debug.",
	},
};

#define NKEYS	(sizeof(config_keys) / sizeof(config_keys[0]))

struct parse_state {
	const char		*file;
	unsigned		 line;
	char			 section[CONFIG_NAME_MAX + 1];
	int			 in_section;	/* a known section is open */
	unsigned		 seen[NKEYS];	/* line a key was set on, 0: not */
	struct cap_config	*c;
	char			*err;
	size_t			 errlen;
};

static void __attribute__((format(printf, 3, 4)))
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static char **
field_str(struct cap_config *c, const struct config_key *k)
{
	return (char **)(void *)((char *)c + k->offset);
}

static const char *
field_str_const(const struct cap_config *c, const struct config_key *k)
{
	return *(char *const *)(const void *)((const char *)c + k->offset);
}

static void *
field(struct cap_config *c, const struct config_key *k)
{
	return (char *)c + k->offset;
}

static const void *
field_const(const struct cap_config *c, const struct config_key *k)
{
	return (const char *)c + k->offset;
}

/* ---- value checks ---- */

static int
hostname_valid(const char *h)
{
	size_t i, label = 0;

	if (h[0] == '\0' || strlen(h) > 253 || h[0] == '.' || h[0] == '-')
		return 0;
	for (i = 0; h[i] != '\0'; i++) {
		if (h[i] == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)h[i]) && h[i] != '-')
			return 0;
		if (++label > 63)
			return 0;
	}
	return 1;
}

int
config_listen_split(const char *listen, char *host, size_t hostlen,
    unsigned *port)
{
	const char *colon, *h, *p;
	char buf[256];
	size_t hl;
	unsigned long v = 0;
	struct in6_addr a6;
	struct in_addr a4;
	int r = CAP_ERR_INVALID;

	if (hostlen > 0)
		host[0] = '\0';
	*port = 0;
	if (listen == NULL)
		goto out;
	if (listen[0] == '[') {
		if ((colon = strstr(listen, "]:")) == NULL)
			goto out;
		h = listen + 1;
		hl = (size_t)(colon - h);
		p = colon + 2;
	} else {
		if ((colon = strrchr(listen, ':')) == NULL)
			goto out;
		h = listen;
		hl = (size_t)(colon - h);
		p = colon + 1;
	}
	if (hl == 0 || hl >= sizeof(buf))
		goto out;
	memcpy(buf, h, hl);
	buf[hl] = '\0';
	if (listen[0] == '[') {
		if (inet_pton(AF_INET6, buf, &a6) != 1)
			goto out;
	} else if (strchr(buf, ':') != NULL) {
		goto out;	/* a bare IPv6 literal needs brackets */
	} else if (strspn(buf, "0123456789.") == hl) {
		if (inet_pton(AF_INET, buf, &a4) != 1)
			goto out;
	} else if (!hostname_valid(buf))
		goto out;
	if (*p == '\0' || strspn(p, "0123456789") != strlen(p) ||
	    strlen(p) > 5)
		goto out;
	v = strtoul(p, NULL, 10);
	if (v < 1 || v > 65535)
		goto out;
	if (hl >= hostlen)
		goto out;
	memcpy(host, buf, hl + 1);
	*port = (unsigned)v;
	r = 0;
 out:
	return r;
}

static int
check_listen(const char *v, char *why, size_t whylen)
{
	char host[256];
	unsigned port;

	if (config_listen_split(v, host, sizeof(host), &port) != 0) {
		seterr(why, whylen, "is not HOST:PORT (an IPv4 address, "
		    "[IPv6 address] or host name, and a port 1-65535)");
		return CAP_ERR_INVALID;
	}
	return 0;
}

static int
check_token_uri(const char *v, char *why, size_t whylen)
{
	if (strncmp(v, "pkcs11:", 7) != 0) {
		seterr(why, whylen, "is not a pkcs11: URI");
		return CAP_ERR_INVALID;
	}
	if (strstr(v, "pin-value=") != NULL) {
		seterr(why, whylen, "holds a pin-value: the PIN must not be "
		    "in the configuration; set pin = file:/path, env:VAR or "
		    "credential:NAME");
		return CAP_ERR_INVALID;
	}
	return 0;
}

static int
check_pin_source(const char *v, char *why, size_t whylen)
{
	static const char *prefixes[] = { "file:", "env:", "credential:" };
	size_t i, n;

	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		n = strlen(prefixes[i]);
		if (strncmp(v, prefixes[i], n) == 0 && v[n] != '\0')
			return 0;
	}
	seterr(why, whylen, "is not a PIN source (file:/path, env:VAR or "
	    "credential:NAME); the PIN itself never goes in this file");
	return CAP_ERR_INVALID;
}

/*
 * [auth] admins: comma-separated patterns, "\\," a comma inside one.
 * Each must hold 1..256 bytes once trimmed (the policy pattern limit).
 */
static int
check_admins(const char *v, char *why, size_t whylen)
{
	size_t len = 0;
	int lead = 1;
	const char *p;

	for (p = v;; p++) {
		if (*p == '\\' && (p[1] == ',' || p[1] == '\\')) {
			p++;
			len++;
			lead = 0;
			continue;
		}
		if (*p == ',' || *p == '\0') {
			if (len == 0) {
				seterr(why, whylen, "has an empty pattern");
				return CAP_ERR_INVALID;
			}
			if (*p == '\0')
				return 0;
			len = 0;
			lead = 1;
			continue;
		}
		if (lead && (*p == ' ' || *p == '\t'))
			continue;
		lead = 0;
		if (++len > 256) {
			seterr(why, whylen, "has a pattern over 256 bytes");
			return CAP_ERR_INVALID;
		}
	}
}

static int
check_fraction(const char *v, char *why, size_t whylen)
{
	uint32_t ppm;

	if (sched_parse_fraction(v, &ppm) != 0) {
		seterr(why, whylen, "is not a decimal fraction in (0, 1] "
		    "with at most 6 places");
		return CAP_ERR_INVALID;
	}
	return 0;
}

static int
check_thresholds(const char *v, char *why, size_t whylen)
{
	uint64_t th[SCHED_THRESHOLDS_MAX];
	size_t n;

	if (sched_parse_thresholds(v, th, &n) != 0) {
		seterr(why, whylen, "is not a list of at most 16 distinct "
		    "durations above 0, comma-separated");
		return CAP_ERR_INVALID;
	}
	return 0;
}

static int
check_webhook(const char *v, char *why, size_t whylen)
{
	const char *host;
	size_t i;

	/* The full parse is at start-up (ca/http_client.h). */
	if (strncmp(v, "http://", 7) == 0)
		host = v + 7;
	else if (strncmp(v, "https://", 8) == 0)
		host = v + 8;
	else
		host = NULL;
	for (i = 0; host != NULL && v[i] != '\0'; i++)
		if ((unsigned char)v[i] <= ' ' || v[i] == '?' || v[i] == '#')
			host = NULL;
	if (host == NULL || *host == '\0' || *host == '/' ||
	    strchr(host, '@') != NULL || i > 1024) {
		seterr(why, whylen, "is not an http:// or https:// URL "
		    "without user, query or fragment");
		return CAP_ERR_INVALID;
	}
	return 0;
}

/* ---- formatting ---- */

static void
format_scaled(uint64_t v, const char *units, const uint64_t *mult, size_t n,
    char *out, size_t outlen)
{
	size_t i;

	for (i = n; i-- > 0;) {
		if (v != 0 && v % mult[i] == 0) {
			snprintf(out, outlen, "%llu%c",
			    (unsigned long long)(v / mult[i]), units[i]);
			return;
		}
	}
	snprintf(out, outlen, "%llu", (unsigned long long)v);
}

static void
format_size(uint64_t v, char *out, size_t outlen)
{
	static const uint64_t mult[] = { 1ULL << 10, 1ULL << 20, 1ULL << 30,
	    1ULL << 40 };

	format_scaled(v, "kmgt", mult, 4, out, outlen);
}

static void
format_duration(uint64_t v, char *out, size_t outlen)
{
	static const uint64_t mult[] = { 60, 3600, 86400 };

	format_scaled(v, "mhd", mult, 3, out, outlen);
}

static const char *
enum_name(const struct config_enum *e, int v)
{
	for (; e->name != NULL; e++)
		if (e->value == v)
			return e->name;
	return "?";
}

/* format_value writes k's value in c as the text that parses back to it. */
static void
format_value(const struct cap_config *c, const struct config_key *k,
    char *out, size_t outlen)
{
	const char *s;

	switch (k->type) {
	case KT_STRING:
	case KT_PATH:
		s = field_str_const(c, k);
		snprintf(out, outlen, "%s", s != NULL ? s : "");
		break;
	case KT_UINT:
		snprintf(out, outlen, "%u",
		    *(const unsigned *)field_const(c, k));
		break;
	case KT_SIZE:
		format_size(*(const uint64_t *)field_const(c, k), out, outlen);
		break;
	case KT_DURATION:
		format_duration(*(const uint64_t *)field_const(c, k), out,
		    outlen);
		break;
	case KT_BOOL:
		snprintf(out, outlen, "%s",
		    *(const int *)field_const(c, k) ? "yes" : "no");
		break;
	case KT_ENUM:
		snprintf(out, outlen, "%s",
		    enum_name(k->enums, *(const int *)field_const(c, k)));
		break;
	}
}

/* ---- setting values ---- */

/* describe_range writes "between 1 and 64" style text for messages. */
static void
describe_range(const struct config_key *k, char *out, size_t outlen)
{
	char lo[32], hi[32];

	switch (k->type) {
	case KT_SIZE:
		format_size(k->min, lo, sizeof(lo));
		format_size(k->max, hi, sizeof(hi));
		snprintf(out, outlen, "a size between %s and %s", lo, hi);
		break;
	case KT_DURATION:
		format_duration(k->min, lo, sizeof(lo));
		format_duration(k->max, hi, sizeof(hi));
		snprintf(out, outlen, "a duration between %s and %s", lo, hi);
		break;
	default:
		snprintf(out, outlen, "a number between %llu and %llu",
		    (unsigned long long)k->min, (unsigned long long)k->max);
		break;
	}
}

/*
 * set_value parses v as key k into c.  On failure writes into why the
 * reason, phrased to follow the quoted value ("is not ...").
 */
static int
set_value(struct cap_config *c, const struct config_key *k, const char *v,
    char *why, size_t whylen)
{
	const struct config_enum *e;
	char range[96], *dup = NULL, **sp;
	uint64_t u = 0;
	size_t n;
	int b = 0, r = CAP_ERR_CONFIG;

	switch (k->type) {
	case KT_STRING:
	case KT_PATH:
		if (*v == '\0' && !(k->flags & KF_OPTIONAL)) {
			seterr(why, whylen, "must not be empty");
			goto out;
		}
		if (*v != '\0' && k->check != NULL &&
		    k->check(v, why, whylen) != 0)
			goto out;
		sp = field_str(c, k);
		if (*v != '\0' && (dup = strdup(v)) == NULL) {
			seterr(why, whylen, "out of memory");
			r = CAP_ERR_NOMEM;
			goto out;
		}
		free(*sp);
		*sp = dup;	/* transferred */
		dup = NULL;
		break;
	case KT_UINT:
	case KT_SIZE:
	case KT_DURATION:
		describe_range(k, range, sizeof(range));
		if (k->type == KT_UINT) {
			n = strspn(v, "0123456789");
			if (n == 0 || v[n] != '\0' || n > 19) {
				seterr(why, whylen, "is not %s", range);
				goto out;
			}
			u = strtoull(v, NULL, 10);
		} else if ((k->type == KT_SIZE ? cap_parse_size(v, &u) :
		    cap_parse_duration(v, &u)) != 0) {
			seterr(why, whylen, "is not %s", range);
			goto out;
		}
		if (u < k->min || u > k->max) {
			seterr(why, whylen, "is not %s", range);
			goto out;
		}
		if (k->type == KT_UINT)
			*(unsigned *)field(c, k) = (unsigned)u;
		else
			*(uint64_t *)field(c, k) = u;
		break;
	case KT_BOOL:
		if (cap_parse_bool(v, &b) != 0) {
			seterr(why, whylen, "is not yes or no");
			goto out;
		}
		*(int *)field(c, k) = b;
		break;
	case KT_ENUM:
		for (e = k->enums; e->name != NULL; e++)
			if (strcmp(v, e->name) == 0)
				break;
		if (e->name == NULL) {
			n = 0;
			range[0] = '\0';
			for (e = k->enums; e->name != NULL; e++) {
				snprintf(range + n, sizeof(range) - n, "%s%s",
				    n == 0 ? "" : (e[1].name == NULL ?
				    " or " : ", "), e->name);
				n = strlen(range);
			}
			seterr(why, whylen, "is not %s", range);
			goto out;
		}
		*(int *)field(c, k) = e->value;
		break;
	}
	r = 0;
 out:
	free(dup);
	return r;
}

/* ---- the reader ---- */

static const struct config_key *
key_find(const char *section, const char *name, size_t *idx)
{
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		if (strcmp(config_keys[i].section, section) == 0 &&
		    strcmp(config_keys[i].name, name) == 0) {
			*idx = i;
			return &config_keys[i];
		}
	}
	return NULL;
}

static int
section_known(const char *s)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(config_keys[i].section, s) == 0)
			return 1;
	return 0;
}

/* A section or key name: [a-z0-9_], at most CONFIG_NAME_MAX bytes. */
static int
name_valid(const char *p, size_t n)
{
	size_t i;

	if (n == 0 || n > CONFIG_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!islower((unsigned char)p[i]) &&
		    !isdigit((unsigned char)p[i]) && p[i] != '_')
			return 0;
	return 1;
}

static void
trim(const char **p, size_t *n)
{
	while (*n > 0 && ((*p)[0] == ' ' || (*p)[0] == '\t')) {
		(*p)++;
		(*n)--;
	}
	while (*n > 0 && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t'))
		(*n)--;
}

/* Print at most CONFIG_SHOW_MAX bytes of a name or value in a message. */
#define SHOW(n)	(int)((n) > CONFIG_SHOW_MAX ? CONFIG_SHOW_MAX : (n))

static int
parse_section(struct parse_state *st, const char *p, size_t n)
{
	if (n < 2 || p[n - 1] != ']') {
		seterr(st->err, st->errlen, "%s:%u: malformed section header "
		    "(expected [name])", st->file, st->line);
		return CAP_ERR_CONFIG;
	}
	p++;
	n -= 2;
	trim(&p, &n);
	if (!name_valid(p, n)) {
		seterr(st->err, st->errlen, "%s:%u: invalid section name "
		    "\"%.*s\"", st->file, st->line, SHOW(n), p);
		return CAP_ERR_CONFIG;
	}
	memcpy(st->section, p, n);
	st->section[n] = '\0';
	if (!section_known(st->section)) {
		seterr(st->err, st->errlen, "%s:%u: unknown section [%s]",
		    st->file, st->line, st->section);
		return CAP_ERR_CONFIG;
	}
	st->in_section = 1;
	return 0;
}

static int
parse_assignment(struct parse_state *st, const char *p, size_t n)
{
	const struct config_key *k;
	const char *eq, *kp, *vp;
	char name[CONFIG_NAME_MAX + 1], value[CONFIG_VALUE_MAX + 1], why[256];
	size_t kn, vn, idx = 0;
	int r = CAP_ERR_CONFIG;

	value[0] = '\0';
	if ((eq = memchr(p, '=', n)) == NULL) {
		seterr(st->err, st->errlen, "%s:%u: expected \"key = value\" "
		    "or \"[section]\"", st->file, st->line);
		goto out;
	}
	kp = p;
	kn = (size_t)(eq - p);
	vp = eq + 1;
	vn = n - kn - 1;
	trim(&kp, &kn);
	trim(&vp, &vn);
	if (!name_valid(kp, kn)) {
		seterr(st->err, st->errlen, "%s:%u: invalid key name \"%.*s\"",
		    st->file, st->line, SHOW(kn), kp);
		goto out;
	}
	memcpy(name, kp, kn);
	name[kn] = '\0';
	if (!st->in_section) {
		seterr(st->err, st->errlen, "%s:%u: key \"%s\" outside any "
		    "section", st->file, st->line, name);
		goto out;
	}
	if ((k = key_find(st->section, name, &idx)) == NULL) {
		seterr(st->err, st->errlen, "%s:%u: [%s] unknown key \"%s\"",
		    st->file, st->line, st->section, name);
		goto out;
	}
	if (st->seen[idx] != 0) {
		seterr(st->err, st->errlen, "%s:%u: [%s] %s: duplicate key "
		    "(first set on line %u)", st->file, st->line, k->section,
		    k->name, st->seen[idx]);
		goto out;
	}
	if (vn > CONFIG_VALUE_MAX) {
		seterr(st->err, st->errlen, "%s:%u: [%s] %s: value longer "
		    "than %d bytes", st->file, st->line, k->section, k->name,
		    CONFIG_VALUE_MAX);
		goto out;
	}
	memcpy(value, vp, vn);
	value[vn] = '\0';
	if ((r = set_value(st->c, k, value, why, sizeof(why))) != 0) {
		if (k->flags & KF_NOECHO)
			seterr(st->err, st->errlen, "%s:%u: [%s] %s: the value "
			    "%s", st->file, st->line, k->section, k->name, why);
		else
			seterr(st->err, st->errlen, "%s:%u: [%s] %s: \"%.*s\" "
			    "%s", st->file, st->line, k->section, k->name,
			    SHOW(vn), value, why);
		if (r != CAP_ERR_NOMEM)
			r = CAP_ERR_CONFIG;
		goto out;
	}
	st->seen[idx] = st->line;
	r = 0;
 out:
	/* A PIN written here by mistake must not linger on the stack. */
	sodium_memzero(value, sizeof(value));
	return r;
}

static int
parse_line(struct parse_state *st, const char *p, size_t n)
{
	size_t i;

	if (n > 0 && p[n - 1] == '\r')
		n--;
	for (i = 0; i < n; i++) {
		if (((unsigned char)p[i] < 0x20 && p[i] != '\t') ||
		    p[i] == 0x7f) {
			seterr(st->err, st->errlen, "%s:%u: control character "
			    "in line", st->file, st->line);
			return CAP_ERR_CONFIG;
		}
	}
	trim(&p, &n);
	if (n == 0 || p[0] == '#' || p[0] == ';')
		return 0;
	if (p[0] == '[')
		return parse_section(st, p, n);
	return parse_assignment(st, p, n);
}

static int
apply_defaults(struct cap_config *c, char *err, size_t errlen)
{
	char why[256];
	size_t i;
	int r;

	for (i = 0; i < NKEYS; i++) {
		if (config_keys[i].def == NULL)
			continue;
		if ((r = set_value(c, &config_keys[i], config_keys[i].def,
		    why, sizeof(why))) != 0) {
			seterr(err, errlen, "default of [%s] %s %s",
			    config_keys[i].section, config_keys[i].name, why);
			return r == CAP_ERR_NOMEM ? r : CAP_ERR_INTERNAL;
		}
	}
	return 0;
}

int
config_parse(const char *name, const char *text, size_t len,
    struct cap_config **out, char *err, size_t errlen)
{
	struct parse_state st;
	struct cap_config *c = NULL;
	const char *p, *end, *nl;
	size_t i;
	int r = CAP_ERR_INTERNAL;

	*out = NULL;
	seterr(err, errlen, "no error");
	if (name == NULL)
		name = "(config)";
	if (len > CONFIG_MAX_SIZE) {
		seterr(err, errlen, "%s: larger than %d bytes", name,
		    CONFIG_MAX_SIZE);
		r = CAP_ERR_TOO_LARGE;
		goto out;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->file = strdup(name)) == NULL) {
		seterr(err, errlen, "%s: out of memory", name);
		r = CAP_ERR_NOMEM;
		goto out;
	}
	if ((r = apply_defaults(c, err, errlen)) != 0)
		goto out;

	memset(&st, 0, sizeof(st));
	st.file = name;
	st.c = c;
	st.err = err;
	st.errlen = errlen;
	p = text;
	end = text + len;
	/* A UTF-8 byte order mark some editors write is not an error. */
	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	while (p < end) {
		st.line++;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if (memchr(p, '\0', (size_t)(nl - p)) != NULL) {
			seterr(err, errlen, "%s:%u: NUL byte in line", name,
			    st.line);
			r = CAP_ERR_CONFIG;
			goto out;
		}
		if ((r = parse_line(&st, p, (size_t)(nl - p))) != 0)
			goto out;
		p = nl + (nl < end ? 1 : 0);
	}
	for (i = 0; i < NKEYS; i++) {
		if ((config_keys[i].flags & KF_REQUIRED) && st.seen[i] == 0) {
			seterr(err, errlen, "%s: [%s] %s: required key is "
			    "missing", name, config_keys[i].section,
			    config_keys[i].name);
			r = CAP_ERR_CONFIG;
			goto out;
		}
	}
	seterr(err, errlen, "configuration OK");
	*out = c;	/* transferred */
	c = NULL;
	r = 0;
 out:
	config_free(c);
	return r;
}

int
config_load(const char *path, struct cap_config **out, char *err,
    size_t errlen)
{
	struct stat sb;
	char *buf = NULL;
	size_t have = 0;
	ssize_t n;
	int fd = -1, r = CAP_ERR_INTERNAL;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		r = CAP_ERR_IO;
		goto out;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		seterr(err, errlen, "%s: not a regular file", path);
		r = CAP_ERR_IO;
		goto out;
	}
	if ((buf = malloc(CONFIG_MAX_SIZE + 1)) == NULL) {
		seterr(err, errlen, "%s: out of memory", path);
		r = CAP_ERR_NOMEM;
		goto out;
	}
	/* Read one byte past the limit to tell "exactly full" from "over". */
	while (have < CONFIG_MAX_SIZE + 1) {
		n = read(fd, buf + have, CONFIG_MAX_SIZE + 1 - have);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			seterr(err, errlen, "%s: %s", path, strerror(errno));
			r = CAP_ERR_IO;
			goto out;
		}
		if (n == 0)
			break;
		have += (size_t)n;
	}
	r = config_parse(path, buf, have, out, err, errlen);
 out:
	if (buf != NULL) {
		sodium_memzero(buf, CONFIG_MAX_SIZE + 1);
		free(buf);
	}
	if (fd != -1)
		close(fd);
	return r;
}

void
config_free(struct cap_config *c)
{
	size_t i;
	char **sp;

	if (c == NULL)
		return;
	for (i = 0; i < NKEYS; i++) {
		if (config_keys[i].type != KT_STRING &&
		    config_keys[i].type != KT_PATH)
			continue;
		sp = field_str(c, &config_keys[i]);
		if (*sp != NULL) {
			sodium_memzero(*sp, strlen(*sp));
			free(*sp);
		}
	}
	free(c->file);
	sodium_memzero(c, sizeof(*c));
	free(c);
}

void
config_print(const struct cap_config *c, FILE *f)
{
	char value[CONFIG_VALUE_MAX + 64];
	const char *section = NULL;
	size_t i;

	if (c->file != NULL)
		fprintf(f, "# effective configuration of %s\n", c->file);
	for (i = 0; i < NKEYS; i++) {
		if (section == NULL ||
		    strcmp(section, config_keys[i].section) != 0) {
			section = config_keys[i].section;
			fprintf(f, "%s[%s]\n", i == 0 ? "" : "\n", section);
		}
		format_value(c, &config_keys[i], value, sizeof(value));
		if (value[0] == '\0')
			fprintf(f, "%s =\n", config_keys[i].name);
		else
			fprintf(f, "%s = %s\n", config_keys[i].name, value);
	}
}

void
config_print_example(FILE *f)
{
	const struct config_key *k;
	const char *section = NULL, *h, *nl;
	size_t i;

	fprintf(f, "# capstoned.conf - configuration of capstoned(8).\n"
	    "#\n"
	    "# INI syntax: [section] lines and \"key = value\" lines.  Comments\n"
	    "# take a whole line starting with '#' or ';'; there are no inline\n"
	    "# comments, so everything after '=' is the value.  Unknown keys,\n"
	    "# keys set twice and invalid values stop start-up with a message\n"
	    "# naming the file, line and key.  Check a file with\n"
	    "# `capstoned -n -c FILE`; print what is in effect with\n"
	    "# `capstoned -T -c FILE`.\n"
	    "#\n"
	    "# Keys shown commented out are at their default value, or unset\n"
	    "# where their text says what unset means.\n");
	for (i = 0; i < NKEYS; i++) {
		k = &config_keys[i];
		if (section == NULL || strcmp(section, k->section) != 0) {
			section = k->section;
			fprintf(f, "\n[%s]\n", section);
		}
		fprintf(f, "\n");
		for (h = k->help; *h != '\0'; h = nl + (*nl != '\0')) {
			if ((nl = strchr(h, '\n')) == NULL)
				nl = h + strlen(h);
			fprintf(f, "# %.*s\n", (int)(nl - h), h);
		}
		if (k->flags & (KF_REQUIRED | KF_EXAMPLE))
			fprintf(f, "%s = %s\n", k->name, k->example);
		else if (k->def != NULL)
			fprintf(f, "#%s = %s\n", k->name, k->def);
		else
			fprintf(f, "#%s = %s\n", k->name,
			    k->example != NULL ? k->example : "");
	}
}
