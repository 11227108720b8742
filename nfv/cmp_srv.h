/*
 * cmp_srv.h - the CMP server of the enrolment server (RFC 4210, RFC 9480,
 * the lightweight profile of RFC 9483), built on OpenSSL's
 * OSSL_CMP_SRV_CTX: ir, cr, p10cr, kur, rr, certConf and genm.
 *
 * Authentication of a request:
 *   - MAC (PBM) protection: senderKID is the reference of an initial
 *     credential; its secret (cmf_initcred_secret) is the MAC key.  The
 *     credential is claimed once OpenSSL verified the MAC and deleted by
 *     the CMF when the certificate is issued, so it serves one enrolment.
 *   - Signature protection: the first certificate of extraCerts (RFC 9483
 *     3.3) is pinned as the signer; once OpenSSL verified the signature
 *     with it, it must be a certificate the CMF issued and that is valid
 *     now (cmf_cert_lookup), or an initial certificate
 *     (cmf_initcred_claim_cert).
 *   - Unprotected: genm only.
 * Answers are protected like the request: MAC with the same secret, or
 * signed with the server certificate and key given to cmp_srv_new (the
 * daemon's TLS server identity).
 *
 * CRMF requests (ir, cr, kur) carry no PKCS#10: OpenSSL checks their
 * proof of possession, and the template's subject, extensions and public
 * key travel to the CMF as an unsigned PKCS#10 with CMF_POP_VERIFIED.
 * p10cr passes its PKCS#10 as it is.
 *
 * A transaction that ends with certConf spans two HTTP requests: the
 * server context of an answered ir/cr/p10cr/kur is kept, keyed by its
 * transactionID, for CMP_TXN_TTL_S seconds (at most CMP_TXN_MAX).
 *
 * A request the CA has not answered within [enrol] wait (cmf.h,
 * CMF_MAY_PEND) is answered with status "waiting" (RFC 4210 5.3.22); its
 * transaction is kept with the request, pollReq gets pollRep with
 * checkAfter until the CA has answered, then the ip/cp/kup (or the
 * refusal) of the request processed again.
 */
#ifndef CAP_NFV_CMP_SRV_H
#define CAP_NFV_CMP_SRV_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/crmf.h>
#include <openssl/x509.h>

#include "nfv/cmf.h"

#define CMP_MSG_MAX	(256 * 1024)	/* largest request accepted */
#define CMP_TID_MAX	64		/* longest transactionID kept */
#define CMP_TXN_MAX	64
#define CMP_TXN_TTL_S	300
#define CMP_IDENT_MAX	512

/* PKIBody choices (RFC 4210 5.1.2). */
enum cmp_body {
	CMP_BODY_IR = 0, CMP_BODY_IP = 1, CMP_BODY_CR = 2, CMP_BODY_CP = 3,
	CMP_BODY_P10CR = 4, CMP_BODY_KUR = 7, CMP_BODY_KUP = 8,
	CMP_BODY_RR = 11, CMP_BODY_RP = 12, CMP_BODY_PKICONF = 19,
	CMP_BODY_GENM = 21, CMP_BODY_GENP = 22, CMP_BODY_ERROR = 23,
	CMP_BODY_CERTCONF = 24, CMP_BODY_POLLREQ = 25, CMP_BODY_POLLREP = 26,
};

enum cmp_prot {
	CMP_PROT_NONE = 0,
	CMP_PROT_MAC = 1,	/* id-PasswordBasedMAC */
	CMP_PROT_SIG = 2,	/* any other algorithm */
};

/* What the server reads from a request before OpenSSL parses it. */
struct cmp_peek {
	int		 body;		/* enum cmp_body */
	enum cmp_prot	 prot;
	char		 ref[CMF_INITCRED_REF_LEN + 1];	/* senderKID, or "" */
	const uint8_t	*cert;		/* first extraCert (DER), or NULL */
	size_t		 certlen;
	uint8_t		 tid[CMP_TID_MAX];
	size_t		 tidlen;
	int		 certconf_empty;	/* certConf of no CertStatus */
};

/*
 * cmp_req_peek walks the DER of a PKIMessage (at most CMP_MSG_MAX bytes)
 * and fills out; pointers in out point into der.  A senderKID that is not
 * an initial credential reference leaves ref "".  CAP_ERR_INVALID when
 * der is not the outline of a PKIMessage.
 */
int cmp_req_peek(const uint8_t *der, size_t len, struct cmp_peek *out)
    __attribute__((warn_unused_result));

/*
 * cmp_rr_reason reads the CRL reason of an rr PKIMessage (DER): the
 * reasonCode extension in the crlEntryDetails of its first RevDetails,
 * 0 (unspecified) when there is none.  The value is not checked against
 * RFC 5280 here (cmf_revoke_cert does).  CAP_ERR_INVALID when der is not
 * an rr or its details do not parse.
 */
int cmp_rr_reason(const uint8_t *der, size_t len, int *reason)
    __attribute__((warn_unused_result));

/*
 * cmp_tmpl_pubkey reads the publicKey [6] of a DER CertTemplate.
 * CAP_ERR_INVALID when it has none or it does not parse.
 */
int cmp_tmpl_pubkey(const uint8_t *der, size_t len, EVP_PKEY **out)
    __attribute__((warn_unused_result));

/*
 * cmp_crm_to_csr makes the unsigned DER PKCS#10 of a CRMF request: its
 * template's subject, extensions and public key (*der malloc'd).
 */
int cmp_crm_to_csr(const OSSL_CRMF_MSG *crm, uint8_t **der, size_t *len)
    __attribute__((warn_unused_result));

typedef struct cmp_srv cmp_srv;

/*
 * cmp_srv_new makes a server that signs its answers to signed requests
 * with cert and key (references taken).
 */
int cmp_srv_new(X509 *cert, EVP_PKEY *key, cmp_srv **out)
    __attribute__((warn_unused_result));
/* cmp_srv_free drops every kept transaction (wiping their secrets). */
void cmp_srv_free(cmp_srv *s);

/*
 * cmp_srv_process answers one DER request through the CMF c (borrowed;
 * the same one for every call on s).  chain (borrowed, may be
 * NULL) is the CA chain given in genm answers and as caPubs of an ip.
 * *resp (malloc'd DER) is the answer, a CMP error message included;
 * ident receives who asked ("initcred:REF", the signer's subject, or "").
 * CAP_ERR_INVALID when der is not a CMP message (no answer),
 * CAP_ERR_TOO_LARGE over CMP_MSG_MAX, CAP_ERR_NOMEM, CAP_ERR_INTERNAL.
 */
int cmp_srv_process(cmp_srv *s, cmf *c, const uint8_t *der, size_t len,
    STACK_OF(X509) *chain, uint8_t **resp, size_t *resplen,
    char ident[CMP_IDENT_MAX]) __attribute__((warn_unused_result));

#endif
