/*
 * auth.c - who is calling (the verified client certificate) and whether
 * they may do what they ask.
 */
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "api/api_int.h"
#include "api/reply.h"
#include "common/err.h"
#include "common/log.h"

int
api_identity_from_request(struct evhttp_request *req, struct api_identity *id)
{
	struct evhttp_connection *conn;
	struct bufferevent *bev;
	const X509 *cert;
	BIO *bio = NULL;
	SSL *ssl;
	int n, r = CAP_ERR_UNAUTH;

	memset(id, 0, sizeof(*id));
	if ((conn = evhttp_request_get_connection(req)) == NULL ||
	    (bev = evhttp_connection_get_bufferevent(conn)) == NULL ||
	    (ssl = bufferevent_openssl_get_ssl(bev)) == NULL)
		goto out;
	/* The handshake verified the chain; check again rather than trust. */
	if ((cert = SSL_get0_peer_certificate(ssl)) == NULL ||
	    SSL_get_verify_result(ssl) != X509_V_OK)
		goto out;
	if ((bio = BIO_new(BIO_s_mem())) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	if (X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0,
	    XN_FLAG_RFC2253) < 0)
		goto out;
	if (BIO_pending(bio) >= (int)sizeof(id->subject)) {
		log_warn("api: client certificate subject too long");
		goto out;
	}
	n = BIO_read(bio, id->subject, sizeof(id->subject) - 1);
	if (n <= 0)
		goto out;
	id->subject[n] = '\0';
	id->kind = API_ID_CERT;
	r = 0;
 out:
	BIO_free(bio);
	if (r != 0)
		memset(id, 0, sizeof(*id));
	return r;
}

int
api_authorize(const struct api_ctx *ctx, enum api_capability cap,
    const char *domain)
{
	(void)cap;
	(void)domain;
	if (ctx->id.kind == API_ID_NONE)
		return CAP_ERR_UNAUTH;
	return 0;
}

int
api_require(struct api_ctx *ctx, enum api_capability cap, const char *domain)
{
	int r;

	if ((r = api_authorize(ctx, cap, domain)) != 0)
		api_reply_err(ctx, r, "authorize");
	return r;
}
