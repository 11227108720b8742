/*
 * certsvc_conns.c - the certificate engine's view of the connector
 * registry (ca/conns.h).
 *
 * Every lookup takes a reference on the connector, so a connector removed
 * through DELETE /v1/cas while a request runs at it stays alive until the
 * engine releases it.  A connector's "roots" setting (PEM, one or more CA
 * certificates) names the trust anchors the certificates it returns must
 * chain to; without it, the self-signed top of the returned chain is the
 * anchor (crypto/chain.h).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ca/certsvc.h"
#include "ca/conns.h"
#include "common/err.h"
#include "common/log.h"

#define ROOTS_PEM_MAX	(256 * 1024)	/* bytes of the "roots" setting */
#define ROOTS_MAX	16		/* certificates in it */

/* What one lookup lent: the reference and the parsed roots. */
struct lent {
	ca_conn		*conn;
	STACK_OF(X509)	*roots;
};

static void
lent_release(void *ref)
{
	struct lent *l = ref;

	if (l == NULL)
		return;
	sk_X509_pop_free(l->roots, X509_free);
	ca_conn_release(l->conn);
	free(l);
}

/* roots_parse reads the PEM certificates of a "roots" setting. */
static int
roots_parse(const char *pem, size_t len, STACK_OF(X509) **out)
{
	STACK_OF(X509) *sk = NULL;
	BIO *b = NULL;
	X509 *x = NULL;
	int r = CAP_ERR_INVALID;

	*out = NULL;
	if (len == 0 || len > ROOTS_PEM_MAX)
		goto out;
	if ((b = BIO_new_mem_buf(pem, (int)len)) == NULL ||
	    (sk = sk_X509_new_null()) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_num(sk) >= ROOTS_MAX || sk_X509_push(sk, x) <= 0)
			goto out;
		x = NULL;
	}
	ERR_clear_error();	/* the end of the input */
	if (sk_X509_num(sk) == 0)
		goto out;
	*out = sk;
	sk = NULL;
	r = 0;
 out:
	X509_free(x);
	sk_X509_pop_free(sk, X509_free);
	BIO_free(b);
	return r;
}

int
certsvc_conns_lookup(void *arg, const char *name, struct certsvc_ca *out)
{
	ca_conns *cs = arg;
	const struct ca_limits *lim;
	struct lent *l = NULL;
	json_t *roots;
	int r;

	memset(out, 0, sizeof(*out));
	if (cs == NULL || name == NULL)
		return CAP_ERR_NOT_FOUND;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return CAP_ERR_NOMEM;
	if ((r = ca_conns_get(cs, name, &l->conn)) != 0)
		goto out;
	roots = json_object_get(ca_conn_settings(l->conn), "roots");
	if (roots != NULL && (!json_is_string(roots) ||
	    roots_parse(json_string_value(roots), json_string_length(roots),
	    &l->roots) != 0)) {
		log_warn("ca %s: the roots setting holds no usable PEM "
		    "certificate", name);
		r = CAP_ERR_CONFIG;
		goto out;
	}
	lim = ca_conn_limits(l->conn);
	out->ops = ca_conn_ops(l->conn);
	out->state = ca_conn_state(l->conn);
	out->roots = l->roots;
	out->limits.rate = lim->rate;
	out->limits.burst = lim->burst;
	out->limits.max_in_flight = lim->max_in_flight;
	out->limits.queue = lim->queue;
	out->release = lent_release;
	out->ref = l;
	l = NULL;
	r = 0;
 out:
	lent_release(l);
	return r;
}
