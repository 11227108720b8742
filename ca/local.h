/*
 * local.h - the "local" connector (an HSM-held CA), its ops table for the
 * registry in ca/ca.c and two helpers shared with its tests.
 */
#ifndef CAP_CA_LOCAL_H
#define CAP_CA_LOCAL_H

#include <openssl/x509.h>

#include "ca/ca.h"

extern const struct ca_ops ca_local_ops;

/* local_chain_copy returns the CA's chain, itself first (new references). */
int local_chain_copy(void *state, STACK_OF(X509) **out)
    __attribute__((warn_unused_result));

/*
 * local_subject_parse adds the attributes of "CN=x,O=y" to name;
 * CAP_ERR_INVALID for a malformed string or unknown attribute.
 */
int local_subject_parse(const char *s, X509_NAME *name)
    __attribute__((warn_unused_result));

#endif
