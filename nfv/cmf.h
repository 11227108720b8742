/*
 * cmf.h - the Certificate Management Function of ETSI GS NFV-IFA 033 /
 * SOL 023 and the operator certificate enrolment server's view of it
 * (ETSI GR NFV-SEC 005).
 *
 * The CMF knows the NFV entities that need certificates: VNF instances,
 * VNFCs (a VDU of the VNFD: what every instance of one ID has in common),
 * VNFC instances and MANO functional blocks, linked by their parent.  Each
 * entity lists the certificate types it needs (VNFCI_CERT, VNF_OM_CERT,
 * MANO_CERT, ...), each mapped to a configured CA connector and profile,
 * and a binding policy (GR NFV-SEC 005 clause 9.2.1.1):
 *
 *   P1  one credential per VNFC instance (a key of its own in the token
 *       and a certificate for it);
 *   P2  one credential shared by every instance of a VNFC ID: the key is
 *       generated once, held in the token, never copied; it exists while
 *       at least one instance does;
 *   P3  per certificate type, each type saying P1 or P2.
 *
 * Certificates come from certsvc (ca/certsvc.h): the entity's CSR
 * (certsvc_enroll_csr), or a key the CMF generates in the token for the
 * entity (delegation).  Every certificate an entity holds is listed in its
 * record, so revoking an entity finds them all.
 *
 * A CMP server that verified the proof of possession of a CRMF request
 * itself passes the request as a PKCS#10 structure carrying the requested
 * subject, extensions and public key with CMF_POP_VERIFIED: its signature
 * is then not checked (it cannot be: the server has no private key), and
 * only a CA connector that can honour a registration authority's check
 * (the local CA; CMP with raVerified) accepts it; the others refuse with
 * CAP_ERR_UNSUPPORTED and a reason.
 *
 * Initial credentials (GR NFV-SEC 005 clause 8.1.2) are one-time
 * enrollment credentials bound to an entity and a certificate type: a
 * bootstrap token (a reference and a secret: 43 base64url characters of
 * 256 random bits, whose text is the HTTP basic password and the CMP MAC
 * secret; kept encrypted by the vault, since a password-based MAC needs it
 * back) or
 * an initial certificate issued from a CSR.  A credential is claimed
 * atomically when an enrollment starts (a concurrent second use fails),
 * released when the enrollment fails, and deleted when the first formal
 * certificate is issued.
 *
 * Every function returns 0 or a negative CAP_ERR_*; err, where given,
 * receives a reason fit for the client (never a secret).  All functions
 * are thread-safe; the issuing ones block their caller until the CA
 * answers or CMF_ISSUE_TIMEOUT_S passes (CAP_ERR_UNAVAILABLE).
 *
 * Pending requests (EST 202, RFC 7030 4.2.3): a CSR request made with
 * CMF_MAY_PEND waits env->enrol_wait seconds only (0: not at all); when
 * the CA has not answered by then, the request is recorded as pending
 * (nfv/cmf_pend.c: entity, certificate type, kind and the CSR's bytes,
 * bound to who made it) and the call returns CAP_ERR_PENDING with
 * out->retry_after.  The same request made again by the same client
 * (authenticated anew with the same initial credential or certificate)
 * collects the certificate once the CA has issued it, gets
 * CAP_ERR_PENDING again while it has not, and the CA's refusal when it
 * refused; a client has one request pending per entity at most
 * (CAP_ERR_CONFLICT for another).  Removing the entity drops its pending
 * requests and revokes what they had been issued.
 */
#ifndef CAP_NFV_CMF_H
#define CAP_NFV_CMF_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "common/util.h"
#include "store/certdb.h"

struct certsvc;
struct ca_conns;
struct vault;
struct audit;
typedef struct hsm hsm;
typedef struct store store;

#define CMF_ID_MAX		64	/* entity ids: cap_name_valid, 1..64 */
#define CMF_CERTTYPE_MAX	32	/* "VNFCI_CERT" ... */
#define CMF_TYPES_MAX		8	/* certificate types per entity */
#define CMF_FQDN_MAX		16	/* FQDNs per entity */
#define CMF_IP_MAX		8	/* IP addresses per entity */
#define CMF_CERTS_MAX		200	/* certificates listed per entity (<= 255) */
#define CMF_INITCRED_REF_LEN	32	/* hex characters of a reference */
#define CMF_INITCRED_SECRET_LEN	43	/* base64url text of 256 random bits */
#define CMF_ISSUE_TIMEOUT_S	30

enum cmf_entity_type {
	CMF_VNF_INSTANCE = 1,
	CMF_VNFC = 2,
	CMF_VNFC_INSTANCE = 3,
	CMF_MANO = 4,
};

enum cmf_binding {
	CMF_P1 = 1,
	CMF_P2 = 2,
	CMF_P3 = 3,
};

/* One certificate type an entity needs. */
struct cmf_certtype {
	char		name[CMF_CERTTYPE_MAX + 1];
	char		ca[CAP_NAME_MAX + 1];
	char		profile[CERTDB_PROFILE_MAX + 1];	/* "": CA default */
	enum cmf_binding binding;	/* P1 or P2; resolved for P3 entities */
};

/* A certificate the entity holds (an inventory record of certdb.h). */
struct cmf_held {
	char		cert_id[CERTDB_ID_LEN + 1];
	char		certtype[CMF_CERTTYPE_MAX + 1];
	int		shared;		/* P2: the VNFC's shared credential */
	int		delegated;	/* the key is in the token */
	int		initial;	/* an initial certificate (initcred) */
};

struct cmf_entity {
	char		id[CMF_ID_MAX + 1];
	enum cmf_entity_type type;
	char		parent[CMF_ID_MAX + 1];		/* "" at the top */
	char		vnf_instance_id[CMF_ID_MAX + 1];
	char		vnfc_id[CMF_ID_MAX + 1];	/* VDU id */
	char		fqdns[CMF_FQDN_MAX][256];
	size_t		nfqdns;
	char		ips[CMF_IP_MAX][46];
	size_t		nips;
	struct cmf_certtype types[CMF_TYPES_MAX];
	size_t		ntypes;
	enum cmf_binding binding;
	struct cmf_held	certs[CMF_CERTS_MAX];
	size_t		ncerts;
	uint64_t	created;	/* unix seconds */
};

typedef struct cmf cmf;

/*
 * The CMF borrows everything it is given; each must outlive it.  audit
 * may be NULL (unit tests); otherwise every action the CMF takes on its
 * own (lifecycle notifications) is appended to it.
 */
struct cmf_env {
	hsm		*h;
	store		*s;
	struct vault	*v;
	struct certsvc	*certs;
	struct ca_conns	*conns;
	struct audit	*audit;
	uint32_t	 enrol_wait;	/* seconds, CMF_MAY_PEND requests */
};

int cmf_new(const struct cmf_env *env, cmf **out)
    __attribute__((warn_unused_result));
/*
 * cmf_free first waits for the work in flight (cmf_job_*) to end, at most
 * CMF_ISSUE_TIMEOUT_S + 5 s; when some is still running then, it logs
 * that and leaves c allocated rather than free it under a thread.
 */
void cmf_free(cmf *c);

/*
 * Work in flight: a thread that calls the CMF on its own (a REST request
 * that waits for a CA) holds a job from before it starts until it has
 * handed its result on.  cmf_job_begin fails with CAP_ERR_UNAVAILABLE once
 * cmf_free has started.  cmf_job_spawn begins a job and runs fn(arg) on a
 * detached thread of its own, ending the job when fn returns;
 * CAP_ERR_UNAVAILABLE too when no thread can start (fn then never runs).
 */
int cmf_job_begin(cmf *c) __attribute__((warn_unused_result));
void cmf_job_end(cmf *c);
int cmf_job_spawn(cmf *c, void (*fn)(void *), void *arg)
    __attribute__((warn_unused_result));

/*
 * cmf_sweep (arg: the cmf) revokes what the CA issued, since the last
 * sweep, for requests whose entity was removed while they waited at the
 * CA, and drops pending requests past keeping: reservations abandoned for
 * a minute, and requests a day old that the CA answered and nobody
 * collected (what they were issued is revoked).  The daemon's certificate
 * scheduler calls it after each scan.
 */
void cmf_sweep(void *arg);

/* ---- entities ---- */

/*
 * cmf_entity_create stores e (id generated when e->id is ""; the id is
 * written back).  CAP_ERR_EXISTS, CAP_ERR_NOT_FOUND for an unknown parent
 * or CA, CAP_ERR_INVALID with err for anything malformed.
 */
int cmf_entity_create(cmf *c, struct cmf_entity *e, char *err, size_t errlen)
    __attribute__((warn_unused_result));
int cmf_entity_get(cmf *c, const char *id, struct cmf_entity *out)
    __attribute__((warn_unused_result));
/* cmf_entity_list gives the entities (all, or the children of parent). */
int cmf_entity_list(cmf *c, const char *parent, struct cmf_entity **out,
    size_t *n) __attribute__((warn_unused_result));
/*
 * cmf_entity_delete revokes every certificate the entity and its
 * descendants hold (reason cessationOfOperation), destroys their
 * delegated keys and removes the records.
 */
int cmf_entity_delete(cmf *c, const char *id)
    __attribute__((warn_unused_result));

/* ---- certificates ---- */

/* What an issuing call returns; release with cmf_issued_clear. */
struct cmf_issued {
	char		cert_id[CERTDB_ID_LEN + 1];
	char		key_id[CERTDB_ID_LEN + 1];	/* "" unless delegated */
	X509		*cert;
	STACK_OF(X509)	*chain;		/* issuing CA first, to the root */
	uint32_t	 retry_after;	/* CAP_ERR_PENDING: seconds */
};
void cmf_issued_clear(struct cmf_issued *is);

struct cmf_initcred;

/*
 * cmf_issue_csr issues a certificate of certtype to entity id from a DER
 * PKCS#10 request, after checking that its subject and SANs are the
 * entity's (the CN and DNS SANs among its FQDNs or its id, IP SANs among
 * its IPs) and its self-signature.  initcred, when not NULL, is the
 * reference of the initial credential that authenticated the caller: it
 * must be claimed by this caller (cmf_initcred_*), and is deleted once
 * the certificate is issued, released otherwise.
 */
#define CMF_POP_VERIFIED	0x1	/* see the top of this header */
#define CMF_MAY_PEND		0x2	/* see the top of this header */
int cmf_issue_csr(cmf *c, const char *id, const char *certtype,
    const uint8_t *csr, size_t csrlen, unsigned flags, const char *initcred,
    struct cmf_issued *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/*
 * cmf_issue_csr_claimed is cmf_issue_csr for a caller authenticated by an
 * initial credential: claim is what the cmf_initcred_claim* call gave.
 * The credential must still be claimed with claim->claim_token
 * (CAP_ERR_UNAUTH otherwise); it is deleted once the certificate is
 * issued, released otherwise, each only for that claim.  cmf_issue_csr
 * with a non-NULL initcred has no token and is refused (CAP_ERR_UNAUTH).
 * Without a claim, peer (DER, may be NULL) is the certificate the caller
 * authenticated with: with CMF_MAY_PEND, the credential or certificate is
 * who may collect a pending request, and has one pending at most.
 */
int cmf_issue_csr_claimed(cmf *c, const char *id, const char *certtype,
    const uint8_t *csr, size_t csrlen, unsigned flags,
    const struct cmf_initcred *claim, const uint8_t *peer, size_t peerlen,
    struct cmf_issued *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * cmf_issue_delegated issues a certificate of certtype to entity id with
 * a key generated in the token (or, under P2, the VNFC's shared one).
 */
int cmf_issue_delegated(cmf *c, const char *id, const char *certtype,
    struct cmf_issued *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * cmf_pend_check says whether the pending request of entity/certtype for
 * csr (DER, as given to the call that went pending; renewal: it was
 * cmf_renew_csr) has an answer from
 * the CA yet, without collecting it: 0 when it has (issued or refused;
 * the repeated request gets it), CAP_ERR_PENDING with *retry_after while
 * it has not, CAP_ERR_NOT_FOUND when there is no such pending request.
 */
int cmf_pend_check(cmf *c, const char *entity, const char *certtype,
    int renewal, const uint8_t *csr, size_t csrlen, uint32_t *retry_after)
    __attribute__((warn_unused_result));

/*
 * cmf_cert_lookup finds the entity and inventory record of a certificate
 * the CMF issued (DER), if it is issued and not revoked or expired:
 * CAP_ERR_NOT_FOUND otherwise.  certtype_out may be NULL.
 */
int cmf_cert_lookup(cmf *c, const uint8_t *der, size_t len,
    char entity_out[CMF_ID_MAX + 1], char cert_id_out[CERTDB_ID_LEN + 1],
    char certtype_out[CMF_CERTTYPE_MAX + 1])
    __attribute__((warn_unused_result));

/*
 * cmf_renew_csr re-enrolls the holder of certificate cur (DER, found with
 * cmf_cert_lookup) from a new CSR: same subject required (RFC 7030
 * 4.2.2), new certificate under the same entity and type; the old one is
 * kept valid until it expires, but is superseded: cmf_cert_lookup no
 * longer finds it, so it renews, enrolls or revokes through the CMF no
 * more (CAP_ERR_NOT_FOUND for a second renewal, concurrent ones too).
 */
int cmf_renew_csr(cmf *c, const uint8_t *cur, size_t curlen,
    const uint8_t *csr, size_t csrlen, unsigned flags,
    struct cmf_issued *out, char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * cmf_renew_undo gives certificate cur (DER; inventory id cert_id, held by
 * entity as certtype) its renewal back once the certificate of that
 * renewal (renewed, DER) was rejected by the client and revoked: cur is
 * found by cmf_cert_lookup again, so it renews once more.  Only while cur
 * is issued and unexpired and renewed is no valid certificate of the CMF
 * (CAP_ERR_CONFLICT otherwise).
 */
int cmf_renew_undo(cmf *c, const uint8_t *cur, size_t curlen,
    const uint8_t *renewed, size_t renewedlen, const char *entity,
    const char *cert_id, const char *certtype)
    __attribute__((warn_unused_result));

/* cmf_revoke_cert revokes a certificate the CMF issued (RFC 5280 reason). */
int cmf_revoke_cert(cmf *c, const uint8_t *der, size_t len, int reason,
    char *err, size_t errlen) __attribute__((warn_unused_result));

/* ---- initial credentials ---- */

enum cmf_initcred_kind {
	CMF_IC_TOKEN = 1,	/* reference + secret */
	CMF_IC_CERT = 2,	/* an initial certificate */
};

#define CMF_CLAIM_TOKEN_LEN	16	/* bytes of a claim's holder token */

struct cmf_initcred {
	char		ref[CMF_INITCRED_REF_LEN + 1];
	enum cmf_initcred_kind kind;
	char		entity[CMF_ID_MAX + 1];
	char		certtype[CMF_CERTTYPE_MAX + 1];
	uint64_t	expires;	/* unix seconds */
	int		claimed;
	/*
	 * Random, made by each claim and given only to its caller (zero
	 * elsewhere): releasing the claim and the final delete act only
	 * for the holder of the current claim.
	 */
	uint8_t		claim_token[CMF_CLAIM_TOKEN_LEN];
};

/*
 * cmf_initcred_create makes an initial credential for entity id and
 * certtype valid for ttl seconds.  Without csr: a bootstrap token, its
 * secret written to secret_out (CMF_INITCRED_SECRET_LEN bytes, shown to
 * the caller once; the caller wipes it).  With csr: an initial
 * certificate, issued from it with the CA's validity capped to ttl, in
 * out.  secret_out is NUL-terminated.
 */
int cmf_initcred_create(cmf *c, const char *id, const char *certtype,
    uint64_t ttl, const uint8_t *csr, size_t csrlen,
    struct cmf_initcred *cred_out,
    char secret_out[CMF_INITCRED_SECRET_LEN + 1], struct cmf_issued *out,
    char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * cmf_initcred_claim_secret checks a bootstrap token in constant time and
 * claims it.  CAP_ERR_UNAUTH for an unknown, expired, claimed or wrong
 * one (one answer for all four).
 */
int cmf_initcred_claim_secret(cmf *c, const char *ref,
    const char *secret, size_t len, struct cmf_initcred *out)
    __attribute__((warn_unused_result));

/*
 * cmf_initcred_secret gives the secret of an unclaimed, unexpired
 * bootstrap token (for a password-based MAC check) in sodium_malloc'd
 * memory the caller frees with sodium_free; it does not claim it.
 */
int cmf_initcred_secret(cmf *c, const char *ref, uint8_t **secret,
    size_t *len, struct cmf_initcred *out)
    __attribute__((warn_unused_result));

/* cmf_initcred_claim claims ref after the caller verified it otherwise. */
int cmf_initcred_claim(cmf *c, const char *ref, struct cmf_initcred *out)
    __attribute__((warn_unused_result));

/* cmf_initcred_claim_cert claims the initial certificate cert (DER). */
int cmf_initcred_claim_cert(cmf *c, const uint8_t *der, size_t len,
    struct cmf_initcred *out) __attribute__((warn_unused_result));

/*
 * cmf_initcred_release gives back the claim of ref when the enrollment
 * failed, only while claim_token (CMF_CLAIM_TOKEN_LEN bytes, from the
 * claim) is the current claim's; otherwise nothing changes (logged).
 */
void cmf_initcred_release(cmf *c, const char *ref,
    const uint8_t *claim_token);

/* cmf_initcred_list lists the live credentials of entity id (no secret). */
int cmf_initcred_list(cmf *c, const char *id, struct cmf_initcred **out,
    size_t *n) __attribute__((warn_unused_result));
int cmf_initcred_delete(cmf *c, const char *ref)
    __attribute__((warn_unused_result));

/* ---- lifecycle notifications (nfv/lcm.c) ---- */

/*
 * cmf_env_of gives the environment c was made with (borrowed; valid while
 * c lives), for nfv/lcm.c: the store of the occurrence log and of the
 * certificate records, the token and store to destroy the key of one
 * healed certificate, and the audit log.  Implemented in nfv/lcm.c.
 */
const struct cmf_env *cmf_env_of(const cmf *c);

/*
 * cmf_lcm_notify acts on one VnfLcmOperationOccurrenceNotification (a
 * JSON document of ETSI SOL 003 shape, len bytes).  Only COMPLETED
 * occurrences act; others are recorded and ignored.  Idempotent on the
 * notification's "id": a replay returns 0 with *replayed set and changes
 * nothing.  summary_out, when not NULL, receives a malloc'd JSON text of
 * what was done ({"issued":[...],"revoked":[...],"keysDestroyed":N}).
 * CAP_ERR_NOT_FOUND with err for an unknown VNF instance,
 * CAP_ERR_INVALID with err for a malformed notification.
 */
int cmf_lcm_notify(cmf *c, const char *json, size_t len, int *replayed,
    char **summary_out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
