/*
 * test_config.c - capstoned's configuration: defaults, every key, every
 * class of error (each naming file, line and key), the listen address
 * parser, and config_print output parsing back to an equal configuration.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "crypto/envelope.h"
#include "api/audit.h"
#include "daemon/config.h"
#include "tests/unit/harness.h"

/* Lines 1-6: the required keys.  Extra text starts on line 7. */
#define BASE \
	"[server]\n" \
	"tls_cert = /etc/capstone/server.crt\n" \
	"tls_key = /etc/capstone/server.key\n" \
	"tls_client_ca = /etc/capstone/ca.crt\n" \
	"[token]\n" \
	"uri = pkcs11:token=capstone\n"

static const char full_conf[] =
    "# every key set to something other than its default\n"
    "[server]\n"
    "listen = [::1]:9443\n"
    "workers = 16\n"
    "max_body = 4m\n"
    "tls_cert = /srv/pki/server chain.pem\n"
    "tls_key = pkcs11:token=capstone;object=tls\n"
    "tls_client_ca = /srv/pki/clients.pem\n"
    "tls_client_crl = /srv/pki/clients.crl\n"
    "tls_client_auth = optional\n"
    "\n"
    "[token]\n"
    "uri = pkcs11:token=capstone?module-path=/usr/lib/softhsm/libsofthsm2.so\n"
    "module = /usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so\n"
    "pin = credential:pin\n"
    "sessions = 32\n"
    "; a comment in the other style\n"
    "[store]\n"
    "path = /tmp/capstone store\n"
    "map_size = 1g\n"
    "sync = no\n"
    "[seal]\n"
    "mode = token\n"
    "[auth]\n"
    "admins = CN=admin, CN=ops\\,O=Example\n"
    "[audit]\n"
    "path = /srv/audit/capstone.log\n"
    "sync = no\n"
    "[certs]\n"
    "scan_interval = 5m\n"
    "renew_fraction = 0.5\n"
    "renew_new_key = no\n"
    "alert_thresholds = 20s, 10s\n"
    "webhook = http://127.0.0.1:9/hook\n"
    "[log]\n"
    "target = syslog\n"
    "level = debug\n";

static int
streq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static int
config_equal(const struct cap_config *a, const struct cap_config *b)
{
	return streq(a->listen, b->listen) && a->workers == b->workers &&
	    a->max_body == b->max_body && streq(a->tls_cert, b->tls_cert) &&
	    streq(a->tls_key, b->tls_key) &&
	    streq(a->tls_client_ca, b->tls_client_ca) &&
	    streq(a->tls_client_crl, b->tls_client_crl) &&
	    a->tls_client_auth == b->tls_client_auth &&
	    streq(a->auth_admins, b->auth_admins) &&
	    streq(a->token_uri, b->token_uri) &&
	    streq(a->token_module, b->token_module) &&
	    streq(a->token_pin, b->token_pin) &&
	    a->token_sessions == b->token_sessions &&
	    streq(a->store_path, b->store_path) &&
	    a->store_map_size == b->store_map_size &&
	    a->store_sync == b->store_sync && a->seal_mode == b->seal_mode &&
	    streq(a->audit_path, b->audit_path) &&
	    a->audit_sync == b->audit_sync &&
	    a->certs_scan_interval == b->certs_scan_interval &&
	    streq(a->certs_renew_fraction, b->certs_renew_fraction) &&
	    a->certs_renew_new_key == b->certs_renew_new_key &&
	    streq(a->certs_alert_thresholds, b->certs_alert_thresholds) &&
	    streq(a->certs_webhook, b->certs_webhook) &&
	    a->log_syslog == b->log_syslog && a->log_level == b->log_level;
}

static int
parse(const char *text, struct cap_config **c, char *err, size_t errlen)
{
	return config_parse("t.conf", text, strlen(text), c, err, errlen);
}

static void
test_defaults(void)
{
	struct cap_config *c = NULL;
	char err[512];
	int r;

	r = parse(BASE, &c, err, sizeof(err));
	if (!th_check(r == 0 && c != NULL, "defaults: minimal file parses",
	    "expected 0, got %d (%s)", r, err))
		return;
	th_check(streq(c->listen, "127.0.0.1:8443"), "defaults: listen",
	    "expected 127.0.0.1:8443, got %s", c->listen);
	TH_EQ_INT(c->workers, 2, "defaults: workers");
	TH_EQ_INT(c->max_body, 1024 * 1024, "defaults: max_body");
	th_check(c->token_module == NULL, "defaults: module unset",
	    "expected NULL, got %s", c->token_module);
	th_check(c->token_pin == NULL, "defaults: pin unset",
	    "expected NULL, got a value");
	TH_EQ_INT(c->token_sessions, 8, "defaults: sessions");
	th_check(streq(c->store_path, "/var/lib/capstone"),
	    "defaults: store path", "expected /var/lib/capstone, got %s",
	    c->store_path);
	TH_EQ_INT(c->store_map_size, 64 * 1024 * 1024, "defaults: map_size");
	TH_EQ_INT(c->store_sync, 1, "defaults: sync");
	TH_EQ_INT(c->seal_mode, SEAL_MEMORY, "defaults: seal mode");
	TH_EQ_INT(c->log_syslog, 0, "defaults: log target");
	TH_EQ_INT(c->log_level, LOG_LVL_INFO, "defaults: log level");
	th_check(c->tls_client_crl == NULL, "defaults: no client CRL",
	    "expected NULL, got %s", c->tls_client_crl);
	TH_EQ_INT(c->tls_client_auth, CFG_CLIENT_AUTH_REQUIRE,
	    "defaults: client certificate required");
	th_check(c->auth_admins == NULL, "defaults: no configured admin",
	    "expected NULL, got %s", c->auth_admins);
	th_check(c->audit_path == NULL, "defaults: audit log in the store",
	    "expected NULL, got %s", c->audit_path);
	TH_EQ_INT(c->audit_sync, AUDIT_SYNC_CHANGES, "defaults: audit sync");
	TH_EQ_INT(c->certs_scan_interval, 60, "defaults: certs scan_interval");
	th_check(streq(c->certs_renew_fraction, "0.6667"),
	    "defaults: certs renew_fraction", "got %s",
	    c->certs_renew_fraction);
	TH_EQ_INT(c->certs_renew_new_key, 1, "defaults: certs renew_new_key");
	th_check(streq(c->certs_alert_thresholds, "30d,7d,1d"),
	    "defaults: certs alert_thresholds", "got %s",
	    c->certs_alert_thresholds);
	th_check(c->certs_webhook == NULL, "defaults: no webhook",
	    "got %s", c->certs_webhook);
	th_check(streq(c->file, "t.conf"), "defaults: file name kept",
	    "expected t.conf, got %s", c->file);
	config_free(c);
}

static void
test_every_key(void)
{
	struct cap_config *c = NULL;
	char err[512];
	int r;

	r = parse(full_conf, &c, err, sizeof(err));
	if (!th_check(r == 0 && c != NULL, "every key: parses",
	    "expected 0, got %d (%s)", r, err))
		return;
	th_check(streq(c->listen, "[::1]:9443"), "every key: listen",
	    "got %s", c->listen);
	TH_EQ_INT(c->workers, 16, "every key: workers");
	TH_EQ_INT(c->max_body, 4 * 1024 * 1024, "every key: max_body");
	th_check(streq(c->tls_cert, "/srv/pki/server chain.pem"),
	    "every key: tls_cert keeps inner spaces", "got %s", c->tls_cert);
	th_check(streq(c->tls_key, "pkcs11:token=capstone;object=tls"),
	    "every key: tls_key keeps ';'", "got %s", c->tls_key);
	th_check(streq(c->tls_client_ca, "/srv/pki/clients.pem"),
	    "every key: tls_client_ca", "got %s", c->tls_client_ca);
	th_check(streq(c->token_uri, "pkcs11:token=capstone?module-path="
	    "/usr/lib/softhsm/libsofthsm2.so"), "every key: uri", "got %s",
	    c->token_uri);
	th_check(streq(c->token_module,
	    "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so"),
	    "every key: module", "got %s", c->token_module);
	th_check(streq(c->token_pin, "credential:pin"), "every key: pin",
	    "got another value");
	TH_EQ_INT(c->token_sessions, 32, "every key: sessions");
	th_check(streq(c->store_path, "/tmp/capstone store"),
	    "every key: store path", "got %s", c->store_path);
	TH_EQ_INT(c->store_map_size, 1024ULL * 1024 * 1024,
	    "every key: map_size");
	TH_EQ_INT(c->store_sync, 0, "every key: sync");
	TH_EQ_INT(c->seal_mode, SEAL_TOKEN, "every key: seal mode");
	TH_EQ_INT(c->log_syslog, 1, "every key: log target");
	TH_EQ_INT(c->log_level, LOG_LVL_DEBUG, "every key: log level");
	th_check(streq(c->tls_client_crl, "/srv/pki/clients.crl"),
	    "every key: tls_client_crl", "got %s", c->tls_client_crl);
	TH_EQ_INT(c->tls_client_auth, CFG_CLIENT_AUTH_OPTIONAL,
	    "every key: tls_client_auth");
	th_check(streq(c->auth_admins, "CN=admin, CN=ops\\,O=Example"),
	    "every key: admins kept as written", "got %s", c->auth_admins);
	th_check(streq(c->audit_path, "/srv/audit/capstone.log"),
	    "every key: audit path", "got %s", c->audit_path);
	TH_EQ_INT(c->audit_sync, 0, "every key: audit sync");
	TH_EQ_INT(c->certs_scan_interval, 300, "every key: scan_interval");
	th_check(streq(c->certs_renew_fraction, "0.5"),
	    "every key: renew_fraction", "got %s", c->certs_renew_fraction);
	TH_EQ_INT(c->certs_renew_new_key, 0, "every key: renew_new_key");
	th_check(streq(c->certs_alert_thresholds, "20s, 10s"),
	    "every key: alert_thresholds", "got %s",
	    c->certs_alert_thresholds);
	th_check(streq(c->certs_webhook, "http://127.0.0.1:9/hook"),
	    "every key: webhook", "got %s", c->certs_webhook);
	config_free(c);
}

/*
 * expect_error parses text and checks that it fails with code want_r and
 * that the message contains want (and, if given, not forbidden).
 */
static void
expect_error(const char *name, const char *text, size_t len, int want_r,
    const char *want, const char *forbidden)
{
	struct cap_config *c = NULL;
	char err[512], label[160];
	int r;

	r = config_parse("t.conf", text, len, &c, err, sizeof(err));
	snprintf(label, sizeof(label), "error %s: fails", name);
	th_check(r == want_r && c == NULL, label,
	    "expected %d and no config, got %d", want_r, r);
	snprintf(label, sizeof(label), "error %s: message", name);
	th_check(strstr(err, want) != NULL, label,
	    "expected a message containing '%s', got '%s'", want, err);
	if (forbidden != NULL) {
		snprintf(label, sizeof(label), "error %s: value not echoed",
		    name);
		th_check(strstr(err, forbidden) == NULL, label,
		    "message repeats the value: '%s'", err);
	}
	config_free(c);
}

#define EXPECT(name, extra, want) \
	expect_error(name, BASE extra, strlen(BASE extra), CAP_ERR_CONFIG, \
	    want, NULL)

static void
test_errors(void)
{
	char *big;
	static const char nul[] = BASE "[log]\nlevel = info\0debug\n";

	EXPECT("empty admin pattern", "[auth]\nadmins = CN=a,,CN=b\n",
	    "t.conf:8: [auth] admins: ");
	EXPECT("bad client auth mode", "[server]\ntls_client_auth = maybe\n",
	    "t.conf:8: [server] tls_client_auth: ");
	EXPECT("bad number", "[server]\nworkers = abc\n",
	    "t.conf:8: [server] workers: \"abc\" is not a number between 1 "
	    "and 64");
	EXPECT("number too large", "[server]\nworkers = 65\n",
	    "t.conf:8: [server] workers: \"65\" is not a number between 1 "
	    "and 64");
	EXPECT("number too small", "[token]\nsessions = 0\n",
	    "t.conf:8: [token] sessions: \"0\" is not a number between 1 "
	    "and 256");
	EXPECT("negative number", "[server]\nworkers = -1\n",
	    "t.conf:8: [server] workers:");
	EXPECT("huge number", "[server]\nworkers = 99999999999999999999999\n",
	    "t.conf:8: [server] workers:");
	EXPECT("bad size", "\n[server]\nmax_body = 1x\n",
	    "t.conf:9: [server] max_body: \"1x\" is not a size between 1k "
	    "and 256m");
	EXPECT("size out of range", "[store]\nmap_size = 2t\n",
	    "t.conf:8: [store] map_size: \"2t\" is not a size between 1m "
	    "and 1t");
	EXPECT("bad bool", "[store]\nsync = maybe\n",
	    "t.conf:8: [store] sync: \"maybe\" is not yes or no");
	EXPECT("bad renew_fraction", "[certs]\nrenew_fraction = 1.5\n",
	    "t.conf:8: [certs] renew_fraction: \"1.5\" is not a decimal");
	EXPECT("bad alert_thresholds", "[certs]\nalert_thresholds = 1d,1w\n",
	    "t.conf:8: [certs] alert_thresholds: \"1d,1w\" is not a list");
	EXPECT("bad webhook", "[certs]\nwebhook = ftp://x/\n",
	    "t.conf:8: [certs] webhook: \"ftp://x/\" is not an http://");
	EXPECT("bad enum seal", "[seal]\nmode = hsm\n",
	    "t.conf:8: [seal] mode: \"hsm\" is not memory or token");
	EXPECT("bad enum level", "[log]\nlevel = verbose\n",
	    "t.conf:8: [log] level: \"verbose\" is not error, warn, info or "
	    "debug");
	EXPECT("bad enum target", "[log]\ntarget = file\n",
	    "t.conf:8: [log] target: \"file\" is not stderr or syslog");
	EXPECT("unknown key", "[server]\nport = 8443\n",
	    "t.conf:8: [server] unknown key \"port\"");
	EXPECT("key in wrong section", "[log]\nworkers = 2\n",
	    "t.conf:8: [log] unknown key \"workers\"");
	EXPECT("unknown section", "# c\n[bogus]\nx = 1\n",
	    "t.conf:8: unknown section [bogus]");
	EXPECT("duplicate key", "[server]\nworkers = 4\nworkers = 4\n",
	    "t.conf:9: [server] workers: duplicate key (first set on line 8)");
	EXPECT("duplicate required key", "[server]\ntls_cert = /x\n",
	    "t.conf:8: [server] tls_cert: duplicate key (first set on line 2)");
	EXPECT("empty required", "[store]\npath =\n",
	    "t.conf:8: [store] path: \"\" must not be empty");
	EXPECT("bad listen", "[server]\nlisten = 127.0.0.1\n",
	    "t.conf:8: [server] listen: \"127.0.0.1\" is not HOST:PORT");
	EXPECT("listen port 0", "[server]\nlisten = 127.0.0.1:0\n",
	    "t.conf:8: [server] listen: \"127.0.0.1:0\" is not HOST:PORT");
	EXPECT("syntax", "[server]\nworkers 4\n",
	    "t.conf:8: expected \"key = value\"");
	EXPECT("malformed section", "[server\n",
	    "t.conf:7: malformed section header");
	expect_error("key outside section at top",
	    "workers = 2\n" BASE, strlen("workers = 2\n" BASE),
	    CAP_ERR_CONFIG, "t.conf:1: key \"workers\" outside any section",
	    NULL);
	EXPECT("inline comment is part of the value",
	    "[server]\nworkers = 4 ; four\n",
	    "t.conf:8: [server] workers: \"4 ; four\" is not a number");
	EXPECT("control character", "[server]\nworkers = 4\x01\n",
	    "t.conf:8: control character");
	expect_error("NUL byte", nul, sizeof(nul) - 1, CAP_ERR_CONFIG,
	    "t.conf:8: NUL byte", NULL);

	expect_error("missing required key",
	    "[server]\ntls_cert = /a\ntls_key = /b\n[token]\nuri = pkcs11:\n",
	    strlen("[server]\ntls_cert = /a\ntls_key = /b\n[token]\n"
	    "uri = pkcs11:\n"), CAP_ERR_CONFIG,
	    "t.conf: [server] tls_client_ca: required key is missing", NULL);
	expect_error("missing token uri", "[server]\ntls_cert = /a\n"
	    "tls_key = /b\ntls_client_ca = /c\n", strlen("[server]\n"
	    "tls_cert = /a\ntls_key = /b\ntls_client_ca = /c\n"),
	    CAP_ERR_CONFIG, "t.conf: [token] uri: required key is missing",
	    NULL);
	expect_error("empty file", "", 0, CAP_ERR_CONFIG,
	    "required key is missing", NULL);

	/* The PIN itself must never be repeated back. */
	expect_error("pin given as a value", BASE "pin = 987654\n",
	    strlen(BASE "pin = 987654\n"), CAP_ERR_CONFIG,
	    "t.conf:7: [token] pin: the value is not a PIN source", "987654");
	expect_error("pin-value in the uri",
	    "[token]\nuri = pkcs11:token=x?pin-value=s3cr3t\n",
	    strlen("[token]\nuri = pkcs11:token=x?pin-value=s3cr3t\n"),
	    CAP_ERR_CONFIG, "t.conf:2: [token] uri: the value holds a pin-value",
	    "s3cr3t");
	expect_error("uri not pkcs11", "[token]\nmodule = /m.so\n\n"
	    "uri = http://x\n", strlen("[token]\nmodule = /m.so\n\n"
	    "uri = http://x\n"), CAP_ERR_CONFIG,
	    "t.conf:4: [token] uri: the value is not a pkcs11: URI", NULL);

	/* Oversize: rejected before any parsing. */
	if ((big = malloc(CONFIG_MAX_SIZE + 2)) == NULL) {
		th_check(0, "error oversize: allocation", "malloc failed");
		return;
	}
	memset(big, '#', CONFIG_MAX_SIZE + 1);
	big[CONFIG_MAX_SIZE + 1] = '\0';
	expect_error("oversize", big, CONFIG_MAX_SIZE + 1, CAP_ERR_TOO_LARGE,
	    "t.conf: larger than 262144 bytes", NULL);
	free(big);
}

static void
test_listen(void)
{
	static const char *good[][3] = {
		{ "127.0.0.1:8443", "127.0.0.1", "8443" },
		{ "0.0.0.0:65535", "0.0.0.0", "65535" },
		{ "[::1]:443", "::1", "443" },
		{ "[fe80::1:2]:1", "fe80::1:2", "1" },
		{ "localhost:8443", "localhost", "8443" },
		{ "api.example-1.net:80", "api.example-1.net", "80" },
	};
	static const char *bad[] = {
		"127.0.0.1", "127.0.0.1:", ":8443", "127.0.0.1:0",
		"127.0.0.1:65536", "127.0.0.1:99999999", "127.0.0.1:8x",
		"300.1.1.1:80", "::1:8443", "[::1]8443", "[::1]:", "[zz]:1",
		"[]:80", "host_name:80", "-host:80", "a..b:80", "a b:80",
		"127.0.0.1:+80", "[127.0.0.1]:80",
	};
	char host[256], label[128];
	unsigned port;
	size_t i;
	int r;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		r = config_listen_split(good[i][0], host, sizeof(host), &port);
		snprintf(label, sizeof(label), "listen %s accepted",
		    good[i][0]);
		th_check(r == 0 && strcmp(host, good[i][1]) == 0 &&
		    port == (unsigned)atoi(good[i][2]), label,
		    "expected %s and %s, got %d, '%s', %u", good[i][1],
		    good[i][2], r, host, port);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = config_listen_split(bad[i], host, sizeof(host), &port);
		snprintf(label, sizeof(label), "listen '%s' refused", bad[i]);
		th_check(r == CAP_ERR_INVALID, label,
		    "expected CAP_ERR_INVALID, got %d", r);
	}
	r = config_listen_split("[::1]:443", host, 3, &port);
	th_check(r == CAP_ERR_INVALID, "listen host too long for buffer",
	    "expected CAP_ERR_INVALID, got %d", r);
}

/* print_parse prints c and parses the output back. */
static int
print_parse(const struct cap_config *c, struct cap_config **back, char *err,
    size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int r;

	*back = NULL;
	if ((f = open_memstream(&buf, &len)) == NULL)
		return -1;
	config_print(c, f);
	fclose(f);
	r = config_parse("printed", buf, len, back, err, errlen);
	free(buf);
	return r;
}

static void
test_print_roundtrip(void)
{
	static const char *texts[] = { BASE, full_conf };
	struct cap_config *c = NULL, *back = NULL;
	char err[512], label[64];
	size_t i;
	int r;

	for (i = 0; i < 2; i++) {
		if ((r = parse(texts[i], &c, err, sizeof(err))) != 0) {
			th_check(0, "print: input parses", "got %d (%s)", r,
			    err);
			continue;
		}
		r = print_parse(c, &back, err, sizeof(err));
		snprintf(label, sizeof(label), "print %zu: output re-parses",
		    i);
		th_check(r == 0, label, "expected 0, got %d (%s)", r, err);
		snprintf(label, sizeof(label), "print %zu: equal config", i);
		th_check(back != NULL && config_equal(c, back), label,
		    "the printed configuration parses to different values");
		config_free(back);
		config_free(c);
		back = c = NULL;
	}
}

static void
test_example(void)
{
	struct cap_config *c = NULL, *dflt = NULL;
	char *buf = NULL, err[512], *file = NULL;
	size_t len = 0, flen = 0;
	FILE *f;
	int r;

	if ((f = open_memstream(&buf, &len)) == NULL) {
		th_check(0, "example: memstream", "open_memstream failed");
		return;
	}
	config_print_example(f);
	fclose(f);
	r = config_parse("example", buf, len, &c, err, sizeof(err));
	th_check(r == 0, "example: parses", "expected 0, got %d (%s)", r, err);
	if (r == 0 && parse(BASE, &dflt, err, sizeof(err)) == 0) {
		/* The example sets only required keys, plus defaults. */
		th_check(c->workers == dflt->workers &&
		    c->max_body == dflt->max_body &&
		    streq(c->listen, dflt->listen) &&
		    streq(c->store_path, dflt->store_path) &&
		    c->seal_mode == dflt->seal_mode,
		    "example: shows the defaults", "example differs from the "
		    "built-in defaults");
	}
	/* The shipped example is the generated one, when run from the tree. */
	if ((f = fopen("conf/capstoned.conf", "r")) != NULL) {
		file = malloc(CONFIG_MAX_SIZE + 1);
		if (file != NULL)
			flen = fread(file, 1, CONFIG_MAX_SIZE, f);
		fclose(f);
		th_check(file != NULL && flen == len &&
		    memcmp(file, buf, len) == 0,
		    "example: conf/capstoned.conf is `capstoned -E` output",
		    "conf/capstoned.conf differs (%zu bytes vs %zu); "
		    "regenerate it with capstoned -E", flen, len);
		free(file);
	}
	config_free(c);
	config_free(dflt);
	free(buf);
}

static void
test_load(void)
{
	struct cap_config *c = NULL;
	const char *d;
	char path[256], err[512];
	FILE *f;
	size_t i;
	int r;

	if ((d = th_tmpdir()) == NULL) {
		th_check(0, "load: tmpdir", "th_tmpdir failed");
		return;
	}
	snprintf(path, sizeof(path), "%s/capstoned.conf", d);
	if ((f = fopen(path, "w")) == NULL) {
		th_check(0, "load: write file", "fopen failed");
		return;
	}
	fputs(BASE "[server]\r\nworkers = x\r\n", f);
	fclose(f);
	r = config_load(path, &c, err, sizeof(err));
	th_check(r == CAP_ERR_CONFIG && strstr(err, path) != NULL &&
	    strstr(err, ":8: [server] workers: \"x\"") != NULL,
	    "load: error names the path, line and key (CRLF file)",
	    "got %d '%s'", r, err);
	config_free(c);

	if ((f = fopen(path, "w")) == NULL)
		return;
	fputs("\xef\xbb\xbf" BASE, f);
	fclose(f);
	r = config_load(path, &c, err, sizeof(err));
	th_check(r == 0 && c != NULL && streq(c->file, path),
	    "load: valid file with BOM", "got %d '%s'", r, err);
	config_free(c);
	c = NULL;

	if ((f = fopen(path, "w")) == NULL)
		return;
	for (i = 0; i <= CONFIG_MAX_SIZE / 16; i++)
		fputs("# padding......\n", f);
	fclose(f);
	r = config_load(path, &c, err, sizeof(err));
	th_check(r == CAP_ERR_TOO_LARGE && c == NULL &&
	    strstr(err, "larger than") != NULL, "load: oversize file",
	    "expected %d, got %d '%s'", CAP_ERR_TOO_LARGE, r, err);

	snprintf(path, sizeof(path), "%s/absent.conf", d);
	r = config_load(path, &c, err, sizeof(err));
	th_check(r == CAP_ERR_IO && strstr(err, "absent.conf") != NULL,
	    "load: missing file", "expected %d, got %d '%s'", CAP_ERR_IO, r,
	    err);
	r = config_load(d, &c, err, sizeof(err));
	th_check(r == CAP_ERR_IO, "load: directory refused",
	    "expected %d, got %d '%s'", CAP_ERR_IO, r, err);
	config_free(NULL);
}

int
main(void)
{
	test_defaults();
	test_every_key();
	test_errors();
	test_listen();
	test_print_roundtrip();
	test_example();
	test_load();
	return th_done();
}
