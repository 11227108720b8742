/*
 * certsvc.h - the certificate engine: keys in the token, CSRs signed
 * there, connectors behind per-CA flow control, answers validated before
 * anything is stored, and the inventory (store/certdb.h).
 *
 * Configured connectors are reached through a lookup function given at
 * creation, so the engine does not depend on how they are configured.
 * An enrollment is written to the store as pending before it is handed to
 * the CA's flow, and certsvc_resume hands every stored pending request to
 * its flow again after a restart.  Completion is reported through a
 * callback on a flow thread.
 */
#ifndef CAP_CA_CERTSVC_H
#define CAP_CA_CERTSVC_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "ca/ca.h"
#include "ca/flow.h"
#include "hsm/hsm.h"
#include "store/certdb.h"
#include "store/store.h"

/*
 * What the engine needs of one configured connector; borrowed until the
 * engine calls release(ref) (when set), which it does once it is done
 * with ops, state and roots.
 */
struct certsvc_ca {
	const struct ca_ops	*ops;
	void			*state;
	STACK_OF(X509)		*roots;	/* configured trust roots; NULL: see chain.h */
	struct flow_limits	 limits;
	void			(*release)(void *ref);
	void			*ref;
};

/* lookup fills out for the connector called name; CAP_ERR_NOT_FOUND. */
typedef int (*certsvc_lookup_fn)(void *arg, const char *name,
    struct certsvc_ca *out);

/*
 * certsvc_conns_lookup is a lookup over the connector registry (arg is a
 * struct ca_conns *): it takes a reference on the connector, released
 * through release when the engine is done.  roots are the PEM certificates
 * of the connector's "roots" setting, if any.
 */
struct ca_conns;
int certsvc_conns_lookup(void *arg, const char *name, struct certsvc_ca *out)
    __attribute__((warn_unused_result));

typedef struct certsvc certsvc;

int certsvc_new(hsm *h, store *s, certsvc_lookup_fn lookup, void *lookup_arg,
    certsvc **out) __attribute__((warn_unused_result));
/* certsvc_free stops the flows (queued requests stay pending in the store). */
void certsvc_free(certsvc *svc);

/* Completion: result 0 (issued) or CAP_ERR_*; reason is for the client. */
typedef void (*certsvc_done_fn)(void *arg, const char *id, int result,
    const char *reason);

struct certsvc_enroll_req {
	const char	*ca;
	const char	*subject;
	const char	*const *sans;
	size_t		 nsans;
	const char	*key_type;	/* new key; or */
	const char	*key_id;	/* an existing one */
	const char	*profile;	/* NULL: the CA's default */
	uint64_t	 validity;	/* seconds, 0: the CA's */
	int		 auto_renew;
};

/*
 * certsvc_enroll makes the key (unless key_id names one), the CSR, a
 * pending record (id written to id_out), and queues the request.
 * 0: done(arg, ...) will be called once.  CAP_ERR_RATE with
 * *retry_after (nothing kept, the new key destroyed), CAP_ERR_NOT_FOUND
 * for an unknown CA or key, CAP_ERR_INVALID with a reason in err.
 */
int certsvc_enroll(certsvc *svc, const struct certsvc_enroll_req *req,
    certsvc_done_fn done, void *arg, char id_out[CERTDB_ID_LEN + 1],
    uint32_t *retry_after, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * certsvc_enroll_csr queues an externally made PKCS#10 request (DER, at
 * most CERTDB_DER_MAX bytes): no token key, the record's key_id stays
 * empty and auto_renew off, and the issued certificate must certify the
 * request's public key.  The request's signature is checked unless flags
 * has CERTSVC_POP_VERIFIED (the caller, a registration authority, checked
 * the proof of possession itself; the flag is kept with the pending
 * request and reaches the connector as ca_request.pop_verified).  Subject
 * and DNS/IP SANs of the record come from the request.  Results as
 * certsvc_enroll.
 */
#define CERTSVC_POP_VERIFIED	0x1
int certsvc_enroll_csr(certsvc *svc, const char *ca, const char *profile,
    uint64_t validity, const uint8_t *csr, size_t csrlen, unsigned flags,
    certsvc_done_fn done, void *arg, char id_out[CERTDB_ID_LEN + 1],
    uint32_t *retry_after, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * certsvc_renew renews certificate id (new key unless new_key is 0);
 * the record keeps its id, the old serial and key go to its history.
 * Same results as certsvc_enroll, and CAP_ERR_CONFLICT when the
 * certificate is not issued.
 */
int certsvc_renew(certsvc *svc, const char *id, int new_key,
    certsvc_done_fn done, void *arg, uint32_t *retry_after)
    __attribute__((warn_unused_result));

/* certsvc_revoke revokes through the CA (blocking) and records it. */
int certsvc_revoke(certsvc *svc, const char *id, int reason, char *err,
    size_t errlen) __attribute__((warn_unused_result));

/*
 * certsvc_status checks the certificate's revocation status: against the
 * CRL of its CA when the connector publishes one (source "crl"), else
 * through the OCSP responder or the CRL the certificate names
 * (ca/certstatus.h: blocking, each request bounded to 5 s).  res is
 * always filled; "unknown" comes with a reason.
 */
struct certstatus_result;
int certsvc_status(certsvc *svc, const char *id,
    struct certstatus_result *res) __attribute__((warn_unused_result));

/* certsvc_resume queues every pending request found in the store. */
int certsvc_resume(certsvc *svc) __attribute__((warn_unused_result));

/* certsvc_flow_stats reports the flow of one CA (zeroes if none yet). */
void certsvc_flow_stats(certsvc *svc, const char *ca, struct flow_stats *out);

/* certsvc_flow_each calls fn for each CA that has a flow (under a lock). */
typedef void (*certsvc_flow_fn)(void *arg, const char *ca,
    const struct flow_stats *st);
void certsvc_flow_each(certsvc *svc, certsvc_flow_fn fn, void *arg);

#endif
