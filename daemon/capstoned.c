/*
 * capstoned.c - the Capstone daemon: reads the configuration, opens the
 * token, the store and the envelope, starts the HTTPS API and waits for
 * signals on a main event loop.
 *
 * Start-up is strictly ordered so that every failure stops the daemon with
 * one clear line before it serves anything; shutdown frees in the reverse
 * order, so key material in the envelope is wiped before the token session
 * that unwrapped it is closed.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <sodium.h>

#include "api/audit.h"
#include "api/audit_key.h"
#include "api/server.h"
#include "ca/certsvc.h"
#include "ca/conns.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "crypto/envelope.h"
#include "crypto/vault.h"
#include "daemon/config.h"
#include "daemon/scheduler.h"
#include "daemon/version.h"
#include "hsm/hsm.h"
#include "nfv/cmf.h"
#include "store/auth.h"
#include "store/store.h"

#define CAPSTONED_CONF	"/etc/capstone/capstoned.conf"
#define DRAIN_MS	5000	/* time requests in progress get at stop */
#define REF_SWEEP_S	60	/* period of the expired-reference sweep */

/* What the signal callbacks act on. */
struct daemon_ctx {
	struct event_base	*base;
	api_server		*srv;
	int			 stopped;
	store			*st;		/* for the reference sweep */
};

static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status == 0 ? stdout : stderr,
	    "usage: capstoned [-c FILE] [-n] [-T] [-E] [-d] [-h] [-V]\n"
	    "  -c FILE  configuration file (default " CAPSTONED_CONF ")\n"
	    "  -n       check the configuration and exit\n"
	    "  -T       print the effective configuration and exit\n"
	    "  -E       print a commented example configuration and exit\n"
	    "  -d       log at level debug\n"
	    "  -h       show this help\n"
	    "  -V       show the version\n");
	exit(status);
}

/*
 * harden keeps key material out of core dumps and other processes' reach:
 * no core files, not ptrace-attachable or dumpable by other users, and
 * every file created private to the daemon's user.
 */
static int
harden(void)
{
	struct rlimit rl = { 0, 0 };

	umask(077);
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1) {
		log_error("prctl(PR_SET_DUMPABLE): %s", strerror(errno));
		return -1;
	}
	if (setrlimit(RLIMIT_CORE, &rl) == -1) {
		log_error("setrlimit(RLIMIT_CORE): %s", strerror(errno));
		return -1;
	}
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		log_error("ignoring SIGPIPE: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void
on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct daemon_ctx *ctx = arg;

	(void)what;
	log_info("received %s: stopping (up to %u ms for requests in "
	    "progress)", sig == SIGINT ? "SIGINT" : "SIGTERM", DRAIN_MS);
	if (!ctx->stopped && ctx->srv != NULL) {
		api_server_stop(ctx->srv, DRAIN_MS);
		ctx->stopped = 1;
	}
	event_base_loopbreak(ctx->base);
}

static void
on_reload(evutil_socket_t sig, short what, void *arg)
{
	struct daemon_ctx *ctx = arg;
	int r;

	(void)sig;
	(void)what;
	if (ctx->srv == NULL)
		return;
	if ((r = api_server_reload_tls(ctx->srv)) != 0)
		log_error("SIGHUP: reloading the TLS certificate, key and "
		    "client CA failed (%s); the previous ones stay in use",
		    cap_strerror(r));
	else
		log_info("SIGHUP: TLS certificate, key and client CA "
		    "reloaded");
}

/* Every REF_SWEEP_S: drop references that expired unredeemed. */
static void
on_ref_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct daemon_ctx *ctx = arg;
	size_t purged = 0;
	int r;

	(void)fd;
	(void)what;
	if (ctx->st == NULL)
		return;
	if ((r = store_ref_purge_expired(ctx->st, cap_now(), &purged)) != 0)
		log_warn("sweeping expired references failed: %s",
		    cap_strerror(r));
	else if (purged > 0)
		log_debug("swept %zu expired reference%s", purged,
		    purged == 1 ? "" : "s");
}

/*
 * open_audit loads the name HMAC key (created in the token on first
 * start) and opens the audit log, by default audit.log in the store.
 */
static int
open_audit(const struct cap_config *cfg, hsm *h, store *st,
    audit_key **keyp, audit **ap)
{
	char path[4096];
	int n, r;

	if (cfg->audit_path != NULL)
		n = snprintf(path, sizeof(path), "%s", cfg->audit_path);
	else
		n = snprintf(path, sizeof(path), "%s/audit.log",
		    cfg->store_path);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		log_error("the audit log path is too long");
		return CAP_ERR_CONFIG;
	}
	if ((r = audit_key_load(h, st, keyp)) != 0)
		return r;
	if ((r = audit_open(path, cfg->audit_sync, audit_key_hmac, *keyp,
	    ap)) != 0) {
		log_error("cannot open the audit log %s: %s", path,
		    cap_strerror(r));
		return r;
	}
	log_info("audit log %s (sync = %s)", path,
	    cfg->audit_sync == AUDIT_SYNC_ALL ? "all" :
	    cfg->audit_sync == AUDIT_SYNC_CHANGES ? "changes" : "no");
	return 0;
}

/* seal_unsupported_reason explains why a token cannot seal=token. */
static const char *
seal_unsupported_reason(hsm *h, const hsm_mk_info *mk)
{
	const hsm_caps *caps = hsm_get_caps(h);

	if (mk->kind != HSM_MK_AES)
		return "seal = token needs an AES master key, and this "
		    "token's master key is RSA";
	if (caps != NULL && !caps->aes_gcm)
		return "seal = token needs CKM_AES_GCM, which this token "
		    "does not offer";
	return "the token cannot run AES-GCM on unwrapped domain keys";
}

int
main(int argc, char **argv)
{
	const char *conf_path = CAPSTONED_CONF;
	struct cap_config *cfg = NULL;
	struct daemon_ctx ctx = { NULL, NULL, 0, NULL };
	struct event *ev_term = NULL, *ev_int = NULL, *ev_hup = NULL;
	struct event *ev_sweep = NULL;
	struct timeval sweep_tv = { REF_SWEEP_S, 0 };
	audit_key *akey = NULL;
	audit *aud = NULL;
	hsm *h = NULL;
	store *st = NULL;
	envelope *env = NULL;
	vault *v = NULL;
	ca_conns *cas = NULL;
	certsvc *certs = NULL;
	cmf *cm = NULL;
	struct cmf_env cmfenv;
	scheduler *sched = NULL;
	struct sched_config schedcfg;
	struct ca_env caenv;
	api_server *srv = NULL;
	hsm_mk_info mk;
	hsm_token_info ti;
	char err[512];
	int ch, check_only = 0, print_conf = 0, debug = 0, r, status = 1;

	log_init("capstoned", 0, LOG_LVL_INFO);
	if (harden() != 0)
		goto out;

	while ((ch = getopt(argc, argv, "c:nTEdhV")) != -1) {
		switch (ch) {
		case 'c':
			conf_path = optarg;
			break;
		case 'n':
			check_only = 1;
			break;
		case 'T':
			print_conf = 1;
			break;
		case 'E':
			config_print_example(stdout);
			return fflush(stdout) == 0 ? 0 : 1;
		case 'd':
			debug = 1;
			break;
		case 'h':
			usage(0);
		case 'V':
			printf("capstoned %s\n", CAPSTONE_VERSION);
			return 0;
		default:
			usage(1);
		}
	}
	if (optind != argc)
		usage(1);

	if ((r = config_load(conf_path, &cfg, err, sizeof(err))) != 0) {
		if (check_only || print_conf)
			fprintf(stderr, "capstoned: %s\n", err);
		else
			log_error("%s", err);
		goto out;
	}
	if (debug)
		cfg->log_level = LOG_LVL_DEBUG;
	if (check_only) {
		printf("configuration OK\n");
		status = 0;
		goto out;
	}
	if (print_conf) {
		config_print(cfg, stdout);
		status = fflush(stdout) == 0 ? 0 : 1;
		goto out;
	}

	log_init("capstoned", cfg->log_syslog, (enum log_level)cfg->log_level);
	log_info("capstoned %s starting with %s", CAPSTONE_VERSION, conf_path);
	if (sodium_init() < 0) {
		log_error("libsodium could not be initialised");
		goto out;
	}

	if ((r = hsm_open(cfg->token_uri, cfg->token_module, cfg->token_pin,
	    cfg->token_sessions, &h)) != 0) {
		log_error("cannot open the token %s: %s", cfg->token_uri,
		    cap_strerror(r));
		goto out;
	}
	hsm_get_token_info(h, &ti);
	if ((r = hsm_mk_info_get(h, &mk)) != 0) {
		if (r == CAP_ERR_NO_MASTER_KEY)
			log_error("no master key in the token: run `capstone "
			    "token init -c %s`", conf_path);
		else
			log_error("cannot read the master key of token \"%s\": "
			    "%s", ti.label, cap_strerror(r));
		goto out;
	}
	log_debug("token \"%s\" (%s %s), master key %s", ti.label,
	    ti.manufacturer, ti.model, mk.kind == HSM_MK_AES ? "AES" : "RSA");

	if ((r = store_open(cfg->store_path, (size_t)cfg->store_map_size,
	    !cfg->store_sync, &st)) != 0) {
		log_error("cannot open the store %s: %s", cfg->store_path,
		    cap_strerror(r));
		goto out;
	}
	if (!cfg->store_sync)
		log_warn("store sync = no: acknowledged writes may be lost "
		    "on a crash");

	if ((r = envelope_new(h, (seal_mode)cfg->seal_mode, &env)) != 0) {
		if (r == CAP_ERR_UNSUPPORTED)
			log_error("seal mode %s is not possible: %s",
			    seal_mode_name((seal_mode)cfg->seal_mode),
			    seal_unsupported_reason(h, &mk));
		else
			log_error("cannot set up envelope encryption: %s",
			    cap_strerror(r));
		goto out;
	}
	if ((r = vault_new(env, st, &v)) != 0) {
		log_error("cannot set up the vault: %s", cap_strerror(r));
		goto out;
	}
	if (open_audit(cfg, h, st, &akey, &aud) != 0)
		goto out;

	/*
	 * The main loop and its signal events exist before any worker thread
	 * does, so a SIGTERM that arrives during start-up is queued for the
	 * loop rather than killing the process half-started.
	 */
	if (evthread_use_pthreads() != 0) {
		log_error("libevent has no pthreads support");
		goto out;
	}
	if ((ctx.base = event_base_new()) == NULL) {
		log_error("cannot create the main event loop");
		goto out;
	}
	if ((ev_term = evsignal_new(ctx.base, SIGTERM, on_stop, &ctx)) == NULL ||
	    (ev_int = evsignal_new(ctx.base, SIGINT, on_stop, &ctx)) == NULL ||
	    (ev_hup = evsignal_new(ctx.base, SIGHUP, on_reload, &ctx)) == NULL ||
	    evsignal_add(ev_term, NULL) != 0 ||
	    evsignal_add(ev_int, NULL) != 0 ||
	    evsignal_add(ev_hup, NULL) != 0) {
		log_error("cannot install the signal handlers");
		goto out;
	}
	ctx.st = st;
	if ((ev_sweep = event_new(ctx.base, -1, EV_PERSIST, on_ref_sweep,
	    &ctx)) == NULL || event_add(ev_sweep, &sweep_tv) != 0) {
		log_error("cannot schedule the reference sweep");
		goto out;
	}

	if ((r = api_server_new(cfg, h, env, st, v, &srv)) != 0) {
		log_error("cannot set up the API server on %s: %s",
		    cfg->listen, cap_strerror(r));
		goto out;
	}
	api_server_set_audit(srv, aud);
	/*
	 * After api_server_new, which installs jansson's wiping allocator:
	 * the connectors' JSON must be allocated and freed by the same one.
	 */
	memset(&caenv, 0, sizeof(caenv));
	caenv.h = h;
	/* the module named in the token URI when none is configured apart */
	caenv.token_module = cfg->token_module != NULL ? cfg->token_module :
	    ti.module_path;
	caenv.token_pin = cfg->token_pin;
	caenv.v = v;
	caenv.s = st;
	caenv.public_url = cfg->public_url;
	if ((r = ca_conns_new(&caenv, &cas)) != 0) {
		log_error("cannot start the CA connectors: %s",
		    cap_strerror(r));
		goto out;
	}
	api_server_set_cas(srv, cas);
	/*
	 * The certificate engine reaches connectors through the registry,
	 * holding a reference while a request uses one; requests left
	 * pending by the last run are queued again before anything is served.
	 */
	if ((r = certsvc_new(h, st, certsvc_conns_lookup, cas, &certs)) != 0) {
		log_error("cannot start the certificate engine: %s",
		    cap_strerror(r));
		goto out;
	}
	api_server_set_certs(srv, certs);
	/* The NFV CMF issues through the engine and the connectors. */
	memset(&cmfenv, 0, sizeof(cmfenv));
	cmfenv.h = h;
	cmfenv.s = st;
	cmfenv.v = v;
	cmfenv.certs = certs;
	cmfenv.conns = cas;
	cmfenv.audit = aud;
	cmfenv.enrol_wait = (uint32_t)cfg->enrol_wait;
	if ((r = cmf_new(&cmfenv, &cm)) != 0) {
		log_error("cannot start the certificate management function: "
		    "%s", cap_strerror(r));
		goto out;
	}
	api_server_set_cmf(srv, cm);
	if ((r = certsvc_resume(certs)) != 0) {
		log_error("cannot resume pending certificate requests: %s",
		    cap_strerror(r));
		goto out;
	}
	if ((r = api_server_start(srv)) != 0) {
		log_error("cannot start the API server: %s", cap_strerror(r));
		goto out;
	}
	/* Renewals, expiry and alerts: a timer on this loop, a scan thread. */
	memset(&schedcfg, 0, sizeof(schedcfg));
	schedcfg.scan_interval = cfg->certs_scan_interval;
	schedcfg.renew_new_key = cfg->certs_renew_new_key;
	schedcfg.webhook = cfg->certs_webhook;
	/* requests of removed entities that the CA answers later */
	schedcfg.after_scan = cmf_sweep;
	schedcfg.after_scan_arg = cm;
	if (sched_parse_fraction(cfg->certs_renew_fraction,
	    &schedcfg.renew_fraction) != 0 ||
	    sched_parse_thresholds(cfg->certs_alert_thresholds,
	    schedcfg.thresholds, &schedcfg.nthresholds) != 0 ||
	    (r = sched_new(ctx.base, certs, h, st, &schedcfg, &sched)) != 0) {
		log_error("cannot start the certificate scheduler (check "
		    "[certs] webhook)");
		goto out;
	}
	ctx.srv = srv;
	log_info("capstoned listening on %s (seal=%s, token=%s)", cfg->listen,
	    seal_mode_name(envelope_mode(env)), ti.label);

	if (event_base_dispatch(ctx.base) == -1) {
		log_error("the main event loop failed");
		goto out;
	}
	log_info("capstoned stopped");
	status = 0;
 out:
	if (srv != NULL && ctx.srv != NULL && !ctx.stopped)
		api_server_stop(srv, DRAIN_MS);
	/*
	 * After the workers stopped and before their event loops are freed:
	 * a request finishing at a CA posts its completion to one of them.
	 */
	sched_free(sched);
	cmf_free(cm);
	certsvc_free(certs);
	api_server_free(srv);
	ca_conns_free(cas);
	if (ev_sweep != NULL)
		event_free(ev_sweep);
	if (ev_hup != NULL)
		event_free(ev_hup);
	if (ev_int != NULL)
		event_free(ev_int);
	if (ev_term != NULL)
		event_free(ev_term);
	if (ctx.base != NULL)
		event_base_free(ctx.base);
	audit_free(aud);
	audit_key_free(akey);
	vault_free(v);
	envelope_free(env);
	store_free(st);
	hsm_free(h);
	config_free(cfg);
	return status;
}
