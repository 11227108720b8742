/* ca.c - the registry of CA connectors and shared helpers. */
#include <stdio.h>
#include <string.h>

#include "ca/ca.h"
#include "ca/http_client.h"
#include "common/err.h"

/*
 * The registry: one line per protocol.  A connector whose file is not yet
 * built is simply absent from this list.
 */
extern const struct ca_ops ca_cmp_ops;
extern const struct ca_ops ca_scep_ops;
extern const struct ca_ops ca_local_ops;
extern const struct ca_ops ca_est_ops;

static const struct ca_ops *const ca_registry[] = {
	&ca_cmp_ops,
	&ca_scep_ops,
	&ca_local_ops,
	&ca_est_ops,
	NULL
};

const struct ca_ops *
ca_ops_find(const char *protocol)
{
	size_t i;

	for (i = 0; ca_registry[i] != NULL; i++)
		if (strcmp(ca_registry[i]->protocol, protocol) == 0)
			return ca_registry[i];
	return NULL;
}

void
ca_result_clear(struct ca_result *res)
{
	X509_free(res->cert);
	sk_X509_pop_free(res->chain, X509_free);
	memset(res, 0, sizeof(*res));
}

int
ca_result_issue(X509_REQ *csr, STACK_OF(X509) *certs, STACK_OF(X509) *extra,
    const char *who, struct ca_result *res)
{
	STACK_OF(X509) *pool = NULL;
	EVP_PKEY *want = X509_REQ_get0_pubkey(csr);
	X509 *c, *leaf = NULL;
	int i, r = CAP_ERR_NOMEM;

	for (i = 0; i < sk_X509_num(certs); i++) {
		c = sk_X509_value(certs, i);
		if (want != NULL && EVP_PKEY_eq(X509_get0_pubkey(c), want) == 1)
			leaf = c;
	}
	if (leaf == NULL) {
		snprintf(res->reason, sizeof(res->reason), "%s: the CA "
		    "returned no certificate for the requested key", who);
		return CAP_ERR_CRYPTO;
	}
	if ((pool = sk_X509_dup(certs)) == NULL)
		goto out;
	for (i = 0; i < sk_X509_num(extra); i++)
		if (!sk_X509_push(pool, sk_X509_value(extra, i)))
			goto out;
	if ((r = ca_chain_build(leaf, pool, &res->chain)) != 0)
		goto out;
	if (!X509_up_ref(leaf)) {
		r = CAP_ERR_INTERNAL;
		goto out;
	}
	res->cert = leaf;
	res->status = CA_ISSUED;
	r = 0;
 out:
	sk_X509_free(pool);
	return r;
}

static const char *const reasons[] = {
	"unspecified", "keyCompromise", "cACompromise", "affiliationChanged",
	"superseded", "cessationOfOperation", "certificateHold", NULL,
	"removeFromCRL", "privilegeWithdrawn", "aACompromise",
};

int
ca_reason_parse(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i] != NULL && strcmp(reasons[i], name) == 0)
			return (int)i;
	return -1;
}

const char *
ca_reason_name(int code)
{
	if (code < 0 || (size_t)code >= sizeof(reasons) / sizeof(reasons[0]))
		return NULL;
	return reasons[code];
}
