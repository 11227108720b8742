/* ca.c - the registry of CA connectors and shared helpers. */
#include <string.h>

#include "ca/ca.h"

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
