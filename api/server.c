/*
 * server.c - the HTTPS listener and its workers.
 *
 * One listening socket is bound in api_server_new.  Each worker thread has
 * its own event_base and evhttp accepting on a dup() of that socket, so
 * the kernel spreads connections over the workers and each worker owns
 * its connections for their whole life.  Handlers call the vault
 * synchronously: a slow token operation blocks only the connections of the
 * worker it runs on, which is accepted in exchange for a simple, lock-free
 * request path.
 *
 * TLS: every new connection takes the current SSL_CTX under a mutex
 * (SSL_new holds its own reference), so api_server_reload_tls can swap in
 * a new context from the main thread while workers accept.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <openssl/ssl.h>
#include <sodium.h>

#include "api/api_int.h"
#include "api/enrol.h"
#include "api/reply.h"
#include "api/request.h"
#include "api/router.h"
#include "api/server.h"
#include "api/tls.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"

#define WORKERS_MAX	64
#define HEADERS_MAX	(16 * 1024)	/* request line plus headers, bytes */
#define IO_TIMEOUT_S	30		/* idle read/write timeout */
#define FLUSH_GRACE_MS	200		/* after draining, to flush replies */
#define LISTEN_BACKLOG	128
#define OFFLOAD_WAIT_MS	40000		/* at free, for blocking work (CA waits are 30 s) */

struct worker {
	api_server			*srv;
	struct event_base		*base;
	struct evhttp			*http;
	struct evhttp_bound_socket	*bound;
	struct evhttp			*ehttp;		/* enrolment listener */
	struct evhttp_bound_socket	*ebound;
	pthread_t			 thread;
	int				 started;
};

struct api_server {
	struct api_deps		 deps;
	int			 fd;		/* listening socket */
	size_t			 max_body;
	pthread_mutex_t		 tls_mtx;
	SSL_CTX			*tls;		/* current context */
	int			 efd;		/* enrolment socket, or -1 */
	SSL_CTX			*etls;		/* its context (tls_mtx) */
	unsigned		 nworkers;
	struct worker		*workers;
	int			 running;
	atomic_int		 inflight;	/* requests in a handler */
	atomic_int		 offloaded;	/* api_offload threads running */
	atomic_int		 stopping;
};

static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;
static int evthread_ok;

static void
evthread_setup(void)
{
	evthread_ok = evthread_use_pthreads() == 0;
}

/*
 * Splits "host:port" or "[v6addr]:port" into its parts.
 */
static int
parse_listen(const char *s, char *host, size_t hostsz, char *port,
    size_t portsz)
{
	const char *colon, *h = s, *close;
	size_t hlen;

	if (s == NULL)
		return CAP_ERR_CONFIG;
	if (s[0] == '[') {
		if ((close = strchr(s, ']')) == NULL || close[1] != ':')
			return CAP_ERR_CONFIG;
		h = s + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL ||
		    memchr(s, ':', (size_t)(colon - s)) != NULL)
			return CAP_ERR_CONFIG;
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= hostsz || strlen(colon + 1) == 0 ||
	    strlen(colon + 1) >= portsz ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return CAP_ERR_CONFIG;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	memcpy(port, colon + 1, strlen(colon + 1) + 1);
	return 0;
}

static int
bind_listen(const char *listen_addr, int *fdp)
{
	struct addrinfo hints, *res = NULL;
	char host[256], port[8];
	int fd = -1, one = 1, gai, r;

	*fdp = -1;
	if ((r = parse_listen(listen_addr, host, sizeof(host), port,
	    sizeof(port))) != 0) {
		log_error("api: invalid listen address \"%s\" "
		    "(want host:port or [v6]:port)",
		    listen_addr != NULL ? listen_addr : "");
		goto out;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((gai = getaddrinfo(host, port, &hints, &res)) != 0) {
		log_error("api: listen address %s: %s", listen_addr,
		    gai_strerror(gai));
		r = CAP_ERR_CONFIG;
		goto out;
	}
	r = CAP_ERR_IO;
	if ((fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, res->ai_protocol)) == -1) {
		log_error("api: socket: %s", strerror(errno));
		goto out;
	}
	/*
	 * TCP_NODELAY is inherited by accepted sockets: a reply leaves in
	 * more than one segment (TLS records, headers then body), and with
	 * Nagle on the second waits for the client's delayed ACK (~40 ms).
	 */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) == -1 ||
	    listen(fd, LISTEN_BACKLOG) == -1) {
		log_error("api: cannot listen on %s: %s", listen_addr,
		    strerror(errno));
		goto out;
	}
	*fdp = fd;
	fd = -1;	/* transferred */
	r = 0;
 out:
	if (res != NULL)
		freeaddrinfo(res);
	if (fd != -1)
		close(fd);
	return r;
}

/*
 * New connection on either listener: a TLS bufferevent from that
 * listener's current context.
 */
static struct bufferevent *
tls_bev_new(struct event_base *base, struct worker *w, int enrol)
{
	SSL *ssl;

	pthread_mutex_lock(&w->srv->tls_mtx);
	ssl = SSL_new(enrol ? w->srv->etls : w->srv->tls);
	pthread_mutex_unlock(&w->srv->tls_mtx);
	if (ssl == NULL) {
		/*
		 * evhttp then falls back to a plain socket; on the API
		 * listener such a connection has no identity and every
		 * request on it is refused with 401.
		 */
		log_error("%s: SSL_new failed", enrol ? "enrol" : "api");
		return NULL;
	}
	return bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

static struct bufferevent *
bev_new(struct event_base *base, void *arg)
{
	return tls_bev_new(base, arg, 0);
}

static struct bufferevent *
ebev_new(struct event_base *base, void *arg)
{
	return tls_bev_new(base, arg, 1);
}

static void
route_error(struct api_ctx *ctx, enum api_route_result rr)
{
	switch (rr) {
	case API_ROUTE_NOT_FOUND:
		api_reply_status(ctx, 404, "no such route");
		break;
	case API_ROUTE_BAD_METHOD:
		api_reply_status(ctx, 405, NULL);
		break;
	case API_ROUTE_BAD_NAME:
		api_reply_status(ctx, 400, "invalid name: 1 to 128 characters "
		    "from [A-Za-z0-9._-], not starting with '.' or '-'");
		break;
	default:
		api_reply_status(ctx, 400, "malformed path");
		break;
	}
}

/*
 * Every request of either listener: identity, body, route, query,
 * handler, access log.  The enrolment listener has no identity here (the
 * handlers find it in the request, enrol.h), routes with its own table
 * and takes "/pkix/" as "/pkix".
 */
static void
serve(struct evhttp_request *req, struct worker *w, int enrol)
{
	api_server *srv = w->srv;
	struct api_ctx *ctx = NULL;
	const struct evhttp_uri *uri;
	const char *path = NULL;
	char norm[API_PATH_MAX + 1];
	enum api_route_result rr;
	unsigned method;
	uint64_t t0 = cap_now_ms();
	uint8_t rid[8];
	size_t plen;
	int r, id_r;

	atomic_fetch_add(&srv->inflight, 1);
	if ((ctx = calloc(1, sizeof(*ctx))) == NULL) {
		evhttp_send_error(req, 500, NULL);
		goto done;
	}
	ctx->deps = &srv->deps;
	ctx->req = req;
	ctx->start_us = api_now_us();
	ctx->closing = atomic_load(&srv->stopping);
	randombytes_buf(rid, sizeof(rid));
	sodium_bin2hex(ctx->rid, sizeof(ctx->rid), rid, sizeof(rid));
	method = (unsigned)evhttp_request_get_command(req);
	if ((uri = evhttp_request_get_evhttp_uri(req)) != NULL)
		path = evhttp_uri_get_path(uri);

	id_r = enrol ? 0 : api_identity_from_request(req, &srv->deps,
	    &ctx->id);
	/* Read (and wipe libevent's copy of) the body before anything else. */
	if ((r = api_body_read(req, srv->max_body, &ctx->body,
	    &ctx->body_len)) != 0) {
		ctx->closing = 1;
		if (r == CAP_ERR_TOO_LARGE)
			api_reply_status(ctx, 413,
			    "the request body is over max_body");
		else
			api_reply_err(ctx, r, "read body");
		goto log;
	}
	if (id_r != 0) {
		api_reply_err(ctx, id_r, "identity");
		goto log;
	}
	if (enrol && path != NULL && (plen = strlen(path)) > 1 &&
	    plen <= API_PATH_MAX && path[plen - 1] == '/') {
		memcpy(norm, path, plen - 1);
		norm[plen - 1] = '\0';
		path = norm;
	}
	if ((rr = api_route_match(enrol ? api_enrol_routes : api_routes,
	    method, path, &ctx->match)) != API_ROUTE_OK) {
		route_error(ctx, rr);
		goto log;
	}
	if (api_query_parse(uri != NULL ? evhttp_uri_get_query(uri) : NULL,
	    &ctx->query) != 0) {
		api_reply_status(ctx, 400, "malformed query string");
		goto log;
	}
	ctx->base = w->base;
	ctx->server = srv;
	ctx->match.route->fn(ctx);
	if (ctx->deferred && ctx->status == 0)
		return;		/* api_defer_finish ends it */
	if (ctx->status == 0) {
		log_error("%s: request %s: handler sent no reply",
		    enrol ? "enrol" : "api", ctx->rid);
		api_reply_status(ctx, 500, NULL);
	}
 log:
	log_info("%s%s %.256s %d %llums %.256s rid=%s", enrol ? "enrol " : "",
	    api_method_name(method), path != NULL ? path : "-", ctx->status,
	    (unsigned long long)(cap_now_ms() - t0),
	    ctx->id.kind != API_ID_NONE ? ctx->id.subject : "-", ctx->rid);
	api_body_free(ctx->body, ctx->body_len);
	sodium_memzero(ctx, sizeof(*ctx));
	free(ctx);
 done:
	atomic_fetch_sub(&srv->inflight, 1);
}

static void
handle(struct evhttp_request *req, void *arg)
{
	serve(req, arg, 0);
}

static void
handle_enrol(struct evhttp_request *req, void *arg)
{
	serve(req, arg, 1);
}

static void
defer_closed(struct evhttp_connection *evcon, void *arg)
{
	struct api_ctx *ctx = arg;

	(void)evcon;
	ctx->req = NULL;
}

void
api_defer(struct api_ctx *ctx)
{
	ctx->deferred = 1;
	if (ctx->req != NULL)
		evhttp_connection_set_closecb(
		    evhttp_request_get_connection(ctx->req), defer_closed, ctx);
}

void
api_defer_finish(struct api_ctx *ctx)
{
	api_server *srv = ctx->server;

	if (ctx->req != NULL)
		evhttp_connection_set_closecb(
		    evhttp_request_get_connection(ctx->req), NULL, NULL);
	if (ctx->status == 0)
		api_reply_status(ctx, 500, NULL);
	log_info("%s %.256s %d %llums %.256s rid=%s (deferred)",
	    api_method_name(ctx->match.route->method), ctx->match.route->pattern,
	    ctx->status,
	    (unsigned long long)((api_now_us() - ctx->start_us) / 1000),
	    ctx->id.kind != API_ID_NONE ? ctx->id.subject : "-", ctx->rid);
	api_body_free(ctx->body, ctx->body_len);
	sodium_memzero(ctx, sizeof(*ctx));
	free(ctx);
	atomic_fetch_sub(&srv->inflight, 1);
}

/* ---- blocking work off the workers ---- */

struct offload {
	struct api_ctx	*ctx;
	api_server	*srv;
	void		(*work)(void *);
	void		(*done)(void *);
	void		*arg;
};

static void
offload_done(evutil_socket_t fd, short what, void *p)
{
	struct offload *o = p;

	(void)fd;
	(void)what;
	o->done(o->arg);
	free(o);
}

static void *
offload_main(void *p)
{
	struct offload *o = p;
	api_server *srv = o->srv;	/* o is the worker's once posted */
	struct timeval now = { 0, 0 };

	o->work(o->arg);
	if (event_base_once(o->ctx->base, -1, EV_TIMEOUT, offload_done, o,
	    &now) != 0)
		log_error("api: cannot hand a reply back to its worker");
	/* From here on this thread touches nothing of the server. */
	atomic_fetch_sub(&srv->offloaded, 1);
	return NULL;
}

int
api_offload(struct api_ctx *ctx, void (*work)(void *), void (*done)(void *),
    void *arg)
{
	api_server *srv = ctx->server;
	pthread_attr_t attr;
	pthread_t th;
	struct offload *o;
	int e;

	if (srv == NULL || (o = calloc(1, sizeof(*o))) == NULL)
		return CAP_ERR_INTERNAL;
	o->ctx = ctx;
	o->srv = srv;
	o->work = work;
	o->done = done;
	o->arg = arg;
	api_defer(ctx);
	atomic_fetch_add(&srv->offloaded, 1);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	e = pthread_create(&th, &attr, offload_main, o);
	pthread_attr_destroy(&attr);
	if (e != 0) {
		atomic_fetch_sub(&srv->offloaded, 1);
		log_error("api: cannot start a thread: %s", strerror(e));
		ctx->deferred = 0;
		if (ctx->req != NULL)
			evhttp_connection_set_closecb(
			    evhttp_request_get_connection(ctx->req), NULL,
			    NULL);
		free(o);
		return CAP_ERR_INTERNAL;
	}
	return 0;
}

/*
 * One listener of a worker on its event base: the limits, TLS
 * connections and the request path of the API listener or of the
 * enrolment one, accepting on a dup() of its listening socket.
 */
static int
listener_init(struct worker *w, int enrol, ev_ssize_t limit,
    struct evhttp **httpp, struct evhttp_bound_socket **boundp)
{
	const char *what = enrol ? "enrol" : "api";
	struct evhttp *http;
	int fd;

	if ((*httpp = http = evhttp_new(w->base)) == NULL)
		return CAP_ERR_NOMEM;
	evhttp_set_max_body_size(http, limit);
	evhttp_set_max_headers_size(http, HEADERS_MAX);
	evhttp_set_timeout(http, IO_TIMEOUT_S);
	/* Every method reaches the router, which answers 405 with Allow. */
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH |
	    (enrol ? 0 : EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT));
	evhttp_set_flags(http, EVHTTP_SERVER_LINGERING_CLOSE);
	evhttp_set_bevcb(http, enrol ? ebev_new : bev_new, w);
	evhttp_set_gencb(http, enrol ? handle_enrol : handle, w);
	if ((fd = dup(enrol ? w->srv->efd : w->srv->fd)) == -1) {
		log_error("%s: dup: %s", what, strerror(errno));
		return CAP_ERR_IO;
	}
	/* The bound socket owns fd from here on (closed when deleted). */
	if ((*boundp = evhttp_accept_socket_with_handle(http, fd)) == NULL) {
		close(fd);
		log_error("%s: cannot accept on the listening socket", what);
		return CAP_ERR_IO;
	}
	return 0;
}

static int
worker_init(api_server *srv, struct worker *w)
{
	ev_ssize_t limit;
	int r;

	w->srv = srv;
	if ((w->base = event_base_new()) == NULL)
		return CAP_ERR_NOMEM;
	/*
	 * libevent answers a body over its own limit with an HTML 413 and no
	 * JSON; its limit is set above max_body so that the usual oversize
	 * body reaches serve(), which answers in the API's JSON shape.
	 * Only bodies far over max_body get libevent's answer.
	 */
	limit = (ev_ssize_t)(srv->max_body +
	    (srv->max_body > 65536 ? srv->max_body : 65536));
	if ((r = listener_init(w, 0, limit, &w->http, &w->bound)) != 0)
		return r;
	/* The enrolment listener: same base, its own TLS and entry. */
	if (srv->efd != -1 &&
	    (r = listener_init(w, 1, limit, &w->ehttp, &w->ebound)) != 0)
		return r;
	return 0;
}

int
api_server_new(const struct cap_config *cfg, hsm *h, envelope *e, store *s,
    vault *v, api_server **out)
{
	api_server *srv = NULL;
	unsigned i;
	int r = CAP_ERR_INTERNAL;

	*out = NULL;
	if (sodium_init() < 0) {
		log_error("api: libsodium failed to initialise");
		goto out;
	}
	api_json_alloc_init();
	pthread_once(&evthread_once, evthread_setup);
	if (!evthread_ok) {
		log_error("api: libevent threading unavailable");
		goto out;
	}
	if ((srv = calloc(1, sizeof(*srv))) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	srv->fd = -1;
	srv->efd = -1;
	srv->deps.cfg = cfg;
	srv->deps.h = h;
	srv->deps.e = e;
	srv->deps.s = s;
	srv->deps.v = v;
	srv->max_body = cfg->max_body > 0 && cfg->max_body < (1ULL << 30) ?
	    (size_t)cfg->max_body : 1024 * 1024;
	atomic_init(&srv->inflight, 0);
	atomic_init(&srv->offloaded, 0);
	atomic_init(&srv->stopping, 0);
	pthread_mutex_init(&srv->tls_mtx, NULL);
	srv->nworkers = cfg->workers == 0 ? 1 : cfg->workers;
	if (srv->nworkers > WORKERS_MAX)
		srv->nworkers = WORKERS_MAX;

	if ((r = api_tls_ctx_new(cfg, &srv->tls)) != 0) {
		if (r != CAP_ERR_NOMEM)
			r = CAP_ERR_CONFIG;
		goto out;
	}
	if ((r = api_authz_new(cfg->auth_admins, &srv->deps.authz)) != 0 ||
	    (r = api_authz_load(srv->deps.authz, s)) != 0)
		goto out;
	if ((r = bind_listen(cfg->listen, &srv->fd)) != 0)
		goto out;
	if (cfg->enrol_listen != NULL && cfg->enrol_listen[0] != '\0') {
		if ((r = api_enrol_tls_ctx_new(cfg, &srv->etls)) != 0 ||
		    (r = api_enrol_new(cfg, srv->etls,
		    &srv->deps.enrol)) != 0 ||
		    (r = bind_listen(cfg->enrol_listen, &srv->efd)) != 0)
			goto out;
		log_info("enrol: EST and CMP listening on %s",
		    cfg->enrol_listen);
	}
	if ((srv->workers = calloc(srv->nworkers,
	    sizeof(*srv->workers))) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < srv->nworkers; i++)
		if ((r = worker_init(srv, &srv->workers[i])) != 0)
			goto out;
	log_info("api: listening on %s with %u workers", cfg->listen,
	    srv->nworkers);
	*out = srv;
	srv = NULL;	/* transferred */
	r = 0;
 out:
	api_server_free(srv);
	return r;
}

void
api_server_set_audit(api_server *srv, audit *a)
{
	if (srv != NULL && !srv->running)
		srv->deps.audit = a;
}

void
api_server_set_certs(api_server *srv, struct certsvc *cs)
{
	if (srv != NULL && !srv->running)
		srv->deps.certs = cs;
}

void
api_server_set_cas(api_server *srv, struct ca_conns *conns)
{
	if (srv != NULL && !srv->running)
		srv->deps.conns = conns;
}

void
api_server_set_cmf(api_server *srv, struct cmf *c)
{
	if (srv != NULL && !srv->running)
		srv->deps.cmf = c;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	event_base_dispatch(w->base);
	return NULL;
}

int
api_server_start(api_server *srv)
{
	unsigned i;
	int e;

	if (srv == NULL || srv->running)
		return CAP_ERR_INVALID;
	for (i = 0; i < srv->nworkers; i++) {
		if ((e = pthread_create(&srv->workers[i].thread, NULL,
		    worker_main, &srv->workers[i])) != 0) {
			log_error("api: cannot start worker: %s", strerror(e));
			srv->running = 1;
			api_server_stop(srv, 0);
			return CAP_ERR_INTERNAL;
		}
		srv->workers[i].started = 1;
	}
	srv->running = 1;
	return 0;
}

int
api_server_reload_tls(api_server *srv)
{
	SSL_CTX *fresh = NULL, *old;
	int r;

	if ((r = api_tls_ctx_new(srv->deps.cfg, &fresh)) != 0) {
		log_warn("api: TLS reload failed; keeping the current "
		    "certificate and key");
		return r;
	}
	pthread_mutex_lock(&srv->tls_mtx);
	old = srv->tls;
	srv->tls = fresh;
	pthread_mutex_unlock(&srv->tls_mtx);
	/* Connections made with the old context hold their own reference. */
	SSL_CTX_free(old);
	/*
	 * The enrolment listener follows; CMP answers keep being signed
	 * with the key loaded at start-up.
	 */
	if (srv->efd != -1 && api_enrol_tls_ctx_new(srv->deps.cfg,
	    &fresh) == 0) {
		pthread_mutex_lock(&srv->tls_mtx);
		old = srv->etls;
		srv->etls = fresh;
		pthread_mutex_unlock(&srv->tls_mtx);
		SSL_CTX_free(old);
	}
	log_info("api: TLS certificate and key reloaded");
	return 0;
}

/* Runs on the worker's own thread: stop accepting new connections. */
static void
unlisten_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	if (w->bound != NULL) {
		evhttp_del_accept_socket(w->http, w->bound);
		w->bound = NULL;
	}
	if (w->ebound != NULL) {
		evhttp_del_accept_socket(w->ehttp, w->ebound);
		w->ebound = NULL;
	}
}

void
api_server_stop(api_server *srv, unsigned drain_ms)
{
	struct timeval now = { 0, 0 };
	struct timeval grace = { 0, FLUSH_GRACE_MS * 1000 };
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	uint64_t deadline;
	unsigned i;

	if (srv == NULL || !srv->running)
		return;
	atomic_store(&srv->stopping, 1);
	for (i = 0; i < srv->nworkers; i++)
		if (srv->workers[i].started)
			event_base_once(srv->workers[i].base, -1, EV_TIMEOUT,
			    unlisten_cb, &srv->workers[i], &now);
	/* Poll, with a deadline, for the handlers running now to finish. */
	deadline = cap_now_ms() + drain_ms;
	while (atomic_load(&srv->inflight) > 0 && cap_now_ms() < deadline)
		nanosleep(&tick, NULL);
	if (atomic_load(&srv->inflight) > 0)
		log_warn("api: stopping with %d requests still in progress",
		    atomic_load(&srv->inflight));
	for (i = 0; i < srv->nworkers; i++)
		if (srv->workers[i].started)
			event_base_loopexit(srv->workers[i].base, &grace);
	for (i = 0; i < srv->nworkers; i++) {
		if (!srv->workers[i].started)
			continue;
		pthread_join(srv->workers[i].thread, NULL);
		srv->workers[i].started = 0;
	}
	srv->running = 0;
}

void
api_server_free(api_server *srv)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	uint64_t deadline;
	unsigned i;

	if (srv == NULL)
		return;
	api_server_stop(srv, 0);
	/*
	 * Offloaded work posts its reply to a worker's event base: the bases
	 * outlive every such thread, or are left allocated if one hangs.
	 */
	deadline = cap_now_ms() + OFFLOAD_WAIT_MS;
	while (atomic_load(&srv->offloaded) > 0 && cap_now_ms() < deadline)
		nanosleep(&tick, NULL);
	if (atomic_load(&srv->offloaded) > 0) {
		log_error("api: %d blocking operations still running at exit; "
		    "their worker state is left allocated",
		    atomic_load(&srv->offloaded));
		return;
	}
	for (i = 0; srv->workers != NULL && i < srv->nworkers; i++) {
		if (srv->workers[i].http != NULL)
			evhttp_free(srv->workers[i].http);
		if (srv->workers[i].ehttp != NULL)
			evhttp_free(srv->workers[i].ehttp);
		if (srv->workers[i].base != NULL)
			event_base_free(srv->workers[i].base);
	}
	free(srv->workers);
	if (srv->fd != -1)
		close(srv->fd);
	if (srv->efd != -1)
		close(srv->efd);
	SSL_CTX_free(srv->tls);
	SSL_CTX_free(srv->etls);
	api_enrol_free(srv->deps.enrol);
	api_authz_free(srv->deps.authz);
	pthread_mutex_destroy(&srv->tls_mtx);
	free(srv);
}
