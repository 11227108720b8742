/*
 * server.h - the HTTPS API server: libevent evhttp over OpenSSL (TLS 1.2
 * and 1.3 only), client certificate required and verified against the
 * configured client CA bundle, several worker threads each with its own
 * event base accepting on the shared listening socket, so a slow token call
 * stalls only the connections of its own worker.
 *
 * With [enrol] listen set, the same workers also accept on a second socket
 * with its own TLS context and routes: the enrolment server (api/enrol.h).
 */
#ifndef CAP_API_SERVER_H
#define CAP_API_SERVER_H

#include "api/audit.h"
#include "crypto/vault.h"
#include "daemon/config.h"
#include "hsm/hsm.h"
#include "store/store.h"

typedef struct api_server api_server;

/*
 * api_server_new binds the listening socket and loads TLS material; the
 * dependencies are borrowed and must outlive the server.  CAP_ERR_CONFIG
 * when the TLS files or the listen address are unusable (logged with the
 * reason), CAP_ERR_IO when the address cannot be bound.
 *
 * Process-wide effects: it calls evthread_use_pthreads() once and installs
 * jansson allocation functions that wipe every block on free (for the
 * whole process, so memory returned by json_dumps must afterwards be freed
 * with jansson's free function, never free(3)).
 *
 * Bodies over cfg->max_body get 413 in the API's JSON shape; bodies over
 * twice that (at least max_body + 64 KiB) are cut off by libevent itself,
 * which answers 413 without the JSON body.
 */
int api_server_new(const struct cap_config *cfg, hsm *h, envelope *e,
    store *s, vault *v, api_server **out) __attribute__((warn_unused_result));

/*
 * api_server_set_audit makes every request of srv go to the audit log a
 * (borrowed; it must outlive the server) before its reply is sent, with a
 * 503 instead when it cannot be written.  Call before api_server_start.
 */
void api_server_set_audit(api_server *srv, audit *a);

/*
 * api_server_set_certs gives the /v1/certs routes their engine (borrowed;
 * it must outlive the server).  Call before api_server_start; without it
 * those routes answer 503.
 */
struct certsvc;
void api_server_set_certs(api_server *srv, struct certsvc *cs);

/*
 * api_server_set_cas gives the /v1/cas routes the connector registry
 * (borrowed; it must outlive the server).  Without it they answer 503.
 */
struct ca_conns;
void api_server_set_cas(api_server *srv, struct ca_conns *conns);

/*
 * api_server_set_cmf gives the /cmf/v1 routes the NFV certificate
 * management function (borrowed; it must outlive the server).  Without
 * it they answer 503.
 */
struct cmf;
void api_server_set_cmf(api_server *srv, struct cmf *c);

/* api_server_start spawns the worker threads. */
int api_server_start(api_server *srv) __attribute__((warn_unused_result));

/*
 * api_server_reload_tls re-reads the server certificate, key and client CA
 * bundle; new connections use them, established ones keep theirs.  On
 * failure the old material stays in use.
 */
int api_server_reload_tls(api_server *srv);

/*
 * api_server_stop stops accepting, lets requests in progress finish for up
 * to drain_ms milliseconds, then stops and joins the workers.
 */
void api_server_stop(api_server *srv, unsigned drain_ms);

void api_server_free(api_server *srv);

#endif
