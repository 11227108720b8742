/*
 * cmp_int.h - what the CMP connector's two files share: the connector's
 * state, parsed from its settings by cmp_conf.c and used by the
 * transactions of cmp.c.
 */
#ifndef CAP_CA_CMP_INT_H
#define CAP_CA_CMP_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "ca/ca.h"

#define CMP_SETTING_MAX		4096	/* longest string setting */
#define CMP_PEM_MAX		(256 * 1024)
#define CMP_SECRET_MAX		1024
#define CMP_CHAIN_MAX		10	/* certificates in one built chain */
#define CMP_TIMEOUT_DEFAULT	30
#define CMP_OID_CA_CERTS	"1.3.6.1.5.5.7.4.17"	/* id-it-caCerts */

enum cmp_auth { CMP_AUTH_MAC = 1, CMP_AUTH_SIG = 2 };

struct cmp_conn {
	char		*name;
	char		*host;
	int		 port;
	char		*path;		/* may hold "{profile}" */
	SSL_CTX		*tls;		/* https: verifies the server; else NULL */
	int		 tls_wanted;	/* the URL is https */
	char		*profile;	/* default for "{profile}" */
	X509_NAME	*recipient;
	X509_NAME	*expected_sender;
	STACK_OF(X509)	*trusted;
	enum cmp_auth	 mode;
	char		*reference;
	uint8_t		*secret;	/* sodium_malloc */
	size_t		 secretlen;
	int		 owf_nid;
	int		 mac_nid;
	char		*sig_key_uri;
	X509		*sig_cert;
	int		 implicit_confirm;
	int		 unprotected_errors;
	int		 ignore_keyusage;
	int		 permit_ta_in_extracerts;
	int		 kur_fallback_cr;
	int		 enroll_type;	/* OSSL_CMP_IR, CR or P10CR */
	int		 timeout;	/* seconds, whole transaction */
	char		 dialect[16];
	struct ca_env	 env;
	pthread_mutex_t	 lock;		/* guards last_cas */
	STACK_OF(X509)	*last_cas;	/* caPubs + extraCerts of the last answer */
};

/* cmp_conf.c: the ca_ops create, destroy and describe of the connector. */
int cmp_create(const char *name, json_t *settings, const struct ca_env *env,
    void **state, char *err, size_t errlen);
void cmp_destroy(void *state);
int cmp_describe(void *state, json_t *out);

#endif
