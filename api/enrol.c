/*
 * enrol.c - the enrolment listener's TLS context, routes, state and the
 * thread hand-off of its blocking requests.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "api/enrol.h"
#include "api/tls.h"
#include "ca/conns.h"
#include "common/err.h"
#include "common/log.h"
#include "nfv/cmf.h"
#include "nfv/cmp_srv.h"

#define ENROL_SESSION_ID_CTX	"capstoned-enrol"

const struct api_route api_enrol_routes[] = {
	{ API_M_GET,	"/.well-known/est/cacerts",		api_h_est_cacerts },
	{ API_M_GET,	"/.well-known/est/:n/cacerts",		api_h_est_cacerts },
	{ API_M_POST,	"/.well-known/est/simpleenroll",	api_h_est_enroll },
	{ API_M_POST,	"/.well-known/est/:n/simpleenroll",	api_h_est_enroll },
	{ API_M_POST,	"/.well-known/est/simplereenroll",	api_h_est_reenroll },
	{ API_M_POST,	"/.well-known/est/:n/simplereenroll",	api_h_est_reenroll },
	{ API_M_POST,	"/pkix",				api_h_cmp },
	{ API_M_POST,	"/pkix/:n",				api_h_cmp },
	{ 0, NULL, NULL },
};

struct api_enrol {
	X509		*cert;
	EVP_PKEY	*key;
	char		*default_ca;
	cmp_srv		*cmp;
};

/*
 * Any certificate is accepted at the handshake: TLS still proves that
 * the client holds its key, and the request layer looks the certificate
 * up in the CMF before it means anything.
 */
static int
accept_any(int ok, X509_STORE_CTX *xs)
{
	(void)ok;
	(void)xs;
	return 1;
}

int
api_enrol_tls_ctx_new(const struct cap_config *cfg, SSL_CTX **out)
{
	STACK_OF(X509_NAME) *none = NULL;
	SSL_CTX *ctx = NULL;
	int r;

	*out = NULL;
	if ((r = api_tls_ctx_new(cfg, &ctx)) != 0)
		return r;
	r = CAP_ERR_NOMEM;
	/* No CA names: a client may present a certificate from any CA. */
	if ((none = sk_X509_NAME_new_null()) == NULL)
		goto out;
	SSL_CTX_set_client_CA_list(ctx, none);	/* transferred */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any);
	if (SSL_CTX_set_session_id_context(ctx,
	    (const unsigned char *)ENROL_SESSION_ID_CTX,
	    sizeof(ENROL_SESSION_ID_CTX) - 1) != 1) {
		r = CAP_ERR_CONFIG;
		goto out;
	}
	*out = ctx;
	ctx = NULL;	/* transferred */
	r = 0;
 out:
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return r;
}

int
api_enrol_new(const struct cap_config *cfg, SSL_CTX *tls, api_enrol **out)
{
	api_enrol *e;
	X509 *cert;
	EVP_PKEY *key;
	int r;

	*out = NULL;
	if ((cert = SSL_CTX_get0_certificate(tls)) == NULL ||
	    (key = SSL_CTX_get0_privatekey(tls)) == NULL)
		return CAP_ERR_CONFIG;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return CAP_ERR_NOMEM;
	if (cfg->enrol_ca != NULL && cfg->enrol_ca[0] != '\0' &&
	    (e->default_ca = strdup(cfg->enrol_ca)) == NULL) {
		free(e);
		return CAP_ERR_NOMEM;
	}
	X509_up_ref(cert);
	e->cert = cert;
	EVP_PKEY_up_ref(key);
	e->key = key;
	if ((r = cmp_srv_new(cert, key, &e->cmp)) != 0) {
		api_enrol_free(e);
		return r;
	}
	*out = e;
	return 0;
}

void
api_enrol_free(api_enrol *e)
{
	if (e == NULL)
		return;
	cmp_srv_free(e->cmp);
	X509_free(e->cert);
	EVP_PKEY_free(e->key);
	free(e->default_ca);
	free(e);
}

struct cmp_srv *
api_enrol_cmp(const api_enrol *e)
{
	return e != NULL ? e->cmp : NULL;
}

const char *
api_enrol_default_ca(const api_enrol *e)
{
	return e != NULL ? e->default_ca : NULL;
}

int
api_enrol_peer_der(const struct api_ctx *ctx, uint8_t **der, size_t *len)
{
	struct evhttp_connection *conn;
	struct bufferevent *bev;
	const X509 *cert;
	unsigned char *d = NULL;
	SSL *ssl;
	int n;

	*der = NULL;
	*len = 0;
	if (ctx->req == NULL ||
	    (conn = evhttp_request_get_connection(ctx->req)) == NULL ||
	    (bev = evhttp_connection_get_bufferevent(conn)) == NULL ||
	    (ssl = bufferevent_openssl_get_ssl(bev)) == NULL ||
	    (cert = SSL_get0_peer_certificate(ssl)) == NULL)
		return 0;
	if ((n = i2d_X509(cert, &d)) <= 0)
		return CAP_ERR_INVALID;
	*der = d;
	*len = (size_t)n;
	return 0;
}

int
api_enrol_chain(const struct api_deps *deps, const char *name,
    STACK_OF(X509) **out)
{
	ca_conn *cc = NULL;
	const struct ca_ops *ops;
	int r;

	*out = NULL;
	if (name == NULL || name[0] == '\0')
		name = api_enrol_default_ca(deps->enrol);
	if (name == NULL || deps->conns == NULL)
		return CAP_ERR_NOT_FOUND;
	if ((r = ca_conns_get(deps->conns, name, &cc)) != 0)
		return r;
	ops = ca_conn_ops(cc);
	r = ops->chain(ca_conn_state(cc), out);
	ca_conn_release(cc);
	return r;
}

void
api_enrol_set_identity(struct api_ctx *ctx, const char *ident)
{
	if (ident == NULL || ident[0] == '\0')
		return;
	/*
	 * Audited as a certificate identity would be: the subject, or
	 * "initcred:REF".  Nothing on this listener consults policies.
	 */
	ctx->id.kind = API_ID_CERT;
	snprintf(ctx->id.subject, sizeof(ctx->id.subject), "%s", ident);
}

