/*
 * test_cmp_srv.c - the CMP server of the enrolment server (cmp_srv.h)
 * against OpenSSL's own CMP client in the same process: a transfer
 * callback hands each request, DER, to cmp_srv_process over a SoftHSM
 * token, a local CA and the CMF (th_nfv.h), and gives the answer back.
 *
 *   - an ir MAC-protected with a bootstrap token gets a certificate for
 *     the client's key from the CA, certConf is confirmed, and the token
 *     serves no second ir;
 *   - an empty certConf (a rejection of every certificate) is confirmed
 *     and the certificate issued is revoked;
 *   - a CMF that does not wait for its CA answers "waiting": the client
 *     polls with pollReq until it has its certificate;
 *   - a pollReq or certConf of no known transaction gets an error
 *     message, and bytes that are no CMP message are invalid.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/cmp.h>
#include <openssl/crmf.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "ca/ca.h"
#include "ca/certsvc.h"
#include "common/err.h"
#include "common/log.h"
#include "nfv/cmf.h"
#include "nfv/cmp_srv.h"
#include "store/certdb.h"
#include "tests/unit/harness.h"
#include "tests/unit/th_nfv.h"

#define CERTTYPE	"VNFCI_CERT"
/* OSSL_CMP_OPT_TOTAL_TIMEOUT of a client */
#define TOTAL_S		60

/* What the tests share. */
struct env {
	struct th_nfv	 f;	/* its CMF does not wait for the CA */
	cmf		*cw;	/* a CMF over f that waits for the CA */
	X509		*srvcert;	/* the server's signing identity */
	EVP_PKEY	*srvkey;
	STACK_OF(X509)	*chain;	/* of CA op, the CA first */
};

/* What the transfer callback hands to the server, and what it saw. */
struct link {
	cmp_srv		*srv;
	cmf		*c;
	STACK_OF(X509)	*chain;
	int		 empty_certconf;	/* send certConf emptied */
	int		 capture;	/* keep the request, no answer */
	OSSL_CMP_MSG	*captured;
	int		 last_req;	/* body types; -1: none */
	int		 last_rsp;
	int		 failed;	/* requests not answered */
	int		 polls;		/* pollReq sent */
	int		 poll_answers;	/* answered pollRep, ip */
	/* certConf emptied: how many, its certificate valid then, its id */
	int		 emptied;
	int		 valid_before;
	char		 cert_id[CERTDB_ID_LEN + 1];
};

static void
link_init(struct link *l, cmp_srv *srv, cmf *c, STACK_OF(X509) *chain)
{
	memset(l, 0, sizeof(*l));
	l->srv = srv;
	l->c = c;
	l->chain = chain;
	l->last_req = l->last_rsp = -1;
}

static EVP_PKEY *
ec_key(void)
{
	return EVP_EC_gen("P-256");
}

/* A self-signed certificate for CN=cn. */
static X509 *
self_cert(EVP_PKEY *k, const char *cn)
{
	X509 *x = NULL;
	X509_NAME *n = NULL;
	int ok;

	ok = (x = X509_new()) != NULL && (n = X509_NAME_new()) != NULL &&
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0) == 1 &&
	    X509_set_version(x, 2) == 1 &&
	    ASN1_INTEGER_set(X509_get_serialNumber(x), 1) == 1 &&
	    X509_set_subject_name(x, n) == 1 &&
	    X509_set_issuer_name(x, n) == 1 &&
	    X509_gmtime_adj(X509_getm_notBefore(x), 0) != NULL &&
	    X509_gmtime_adj(X509_getm_notAfter(x), 3600) != NULL &&
	    X509_set_pubkey(x, k) == 1 &&
	    X509_sign(x, k, EVP_sha256()) > 0;
	X509_NAME_free(n);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* The DER SEQUENCE { a, b } (content under 64 KiB); *out malloc'd. */
static int
der_seq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
    uint8_t **out, size_t *outlen)
{
	size_t len = alen + blen, hdr;
	uint8_t *d;

	*out = NULL;
	*outlen = 0;
	hdr = len < 0x80 ? 2 : len < 0x100 ? 3 : 4;
	if (len > 0xffff || (d = malloc(hdr + len)) == NULL)
		return -1;
	d[0] = 0x30;
	if (hdr == 2)
		d[1] = (uint8_t)len;
	else if (hdr == 3) {
		d[1] = 0x81;
		d[2] = (uint8_t)len;
	} else {
		d[1] = 0x82;
		d[2] = (uint8_t)(len >> 8);
		d[3] = (uint8_t)len;
	}
	memcpy(d + hdr, a, alen);
	memcpy(d + hdr + alen, b, blen);
	*out = d;
	*outlen = hdr + len;
	return 0;
}

/*
 * A PKIMessage of the header of m and body (the DER of its [n]), without
 * protection or extraCerts, then protected with the MAC of ctx by
 * OSSL_CMP_MSG_update_transactionID (a fresh transactionID) when new_tid,
 * else by OSSL_CMP_MSG_update_recipNonce (the same transaction).
 */
static OSSL_CMP_MSG *
msg_rebody(OSSL_CMP_CTX *ctx, const OSSL_CMP_MSG *m, const uint8_t *body,
    size_t bodylen, int new_tid)
{
	OSSL_CMP_MSG *out = NULL;
	unsigned char *hdr = NULL;
	const unsigned char *p;
	uint8_t *der = NULL;
	size_t len = 0;
	int n, ok;

	if ((n = i2d_OSSL_CMP_PKIHEADER(OSSL_CMP_MSG_get0_header(m),
	    &hdr)) <= 0 ||
	    der_seq(hdr, (size_t)n, body, bodylen, &der, &len) != 0)
		goto out;
	p = der;
	if ((out = d2i_OSSL_CMP_MSG(NULL, &p, (long)len)) == NULL)
		goto out;
	ok = new_tid ? OSSL_CMP_MSG_update_transactionID(ctx, out) :
	    OSSL_CMP_MSG_update_recipNonce(ctx, out);
	if (ok != 1) {
		OSSL_CMP_MSG_free(out);
		out = NULL;
	}
 out:
	OPENSSL_free(hdr);
	free(der);
	return out;
}

/* certConf [24] { CertConfirmContent: SEQUENCE OF CertStatus, empty } */
static const uint8_t body_certconf_empty[] = { 0xb8, 0x02, 0x30, 0x00 };
/* pollReq [25] { SEQUENCE OF SEQUENCE { certReqId 0 } } */
static const uint8_t body_pollreq[] = {
	0xb9, 0x07, 0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x00,
};

/* Notes whether the certificate the client is to confirm is valid. */
static void
note_new_cert(struct link *l, OSSL_CMP_CTX *ctx)
{
	char ent[CMF_ID_MAX + 1];
	unsigned char *der = NULL;
	int n;

	l->valid_before = 0;
	l->cert_id[0] = '\0';
	if ((n = i2d_X509(OSSL_CMP_CTX_get0_newCert(ctx), &der)) > 0)
		l->valid_before = cmf_cert_lookup(l->c, der, (size_t)n, ent,
		    l->cert_id, NULL) == 0;
	OPENSSL_free(der);
}

/*
 * The transfer callback of the clients: req goes to cmp_srv_process as
 * DER, the answer comes back parsed (NULL when there is none).
 */
static OSSL_CMP_MSG *
transfer(OSSL_CMP_CTX *ctx, const OSSL_CMP_MSG *req)
{
	struct link *l = OSSL_CMP_CTX_get_transfer_cb_arg(ctx);
	OSSL_CMP_MSG *mine = NULL, *rsp = NULL;
	struct cmp_peek pk;
	unsigned char *der = NULL;
	const unsigned char *p;
	uint8_t *out = NULL;
	size_t outlen = 0;
	char ident[CMP_IDENT_MAX];
	int n, body = OSSL_CMP_MSG_get_bodytype(req);

	l->last_req = body;
	l->last_rsp = -1;
	if (l->capture) {
		OSSL_CMP_MSG_free(l->captured);
		l->captured = OSSL_CMP_MSG_dup(req);
		return NULL;
	}
	if (body == CMP_BODY_CERTCONF && l->empty_certconf) {
		note_new_cert(l, ctx);
		if ((mine = msg_rebody(ctx, req, body_certconf_empty,
		    sizeof(body_certconf_empty), 0)) == NULL)
			goto fail;
		req = mine;
	}
	if ((n = i2d_OSSL_CMP_MSG(req, &der)) <= 0)
		goto fail;
	if (body == CMP_BODY_CERTCONF &&
	    cmp_req_peek(der, (size_t)n, &pk) == 0 && pk.certconf_empty &&
	    pk.prot == CMP_PROT_MAC)
		l->emptied++;
	if (cmp_srv_process(l->srv, l->c, der, (size_t)n, l->chain, &out,
	    &outlen, ident) != 0)
		goto fail;
	p = out;
	if ((rsp = d2i_OSSL_CMP_MSG(NULL, &p, (long)outlen)) == NULL)
		goto fail;
	l->last_rsp = OSSL_CMP_MSG_get_bodytype(rsp);
	if (body == CMP_BODY_POLLREQ) {
		l->polls++;
		if (l->last_rsp == CMP_BODY_POLLREP ||
		    l->last_rsp == CMP_BODY_IP)
			l->poll_answers++;
	}
	goto out;
 fail:
	l->failed++;
 out:
	free(out);
	OPENSSL_free(der);
	OSSL_CMP_MSG_free(mine);
	return rsp;
}

/*
 * A client of subject CN=cn with the new key k, MAC-protecting with the
 * bootstrap token ref/secret, talking to the server through l.
 */
static OSSL_CMP_CTX *
client(struct link *l, const struct env *ev, EVP_PKEY *k, const char *cn,
    const char *ref, const char *secret)
{
	OSSL_CMP_CTX *ctx;
	X509_NAME *n = NULL;
	int ok;

	if ((ctx = OSSL_CMP_CTX_new(NULL, NULL)) == NULL)
		return NULL;
	ok = (n = X509_NAME_new()) != NULL &&
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0) == 1 &&
	    OSSL_CMP_CTX_set_log_verbosity(ctx, OSSL_CMP_LOG_EMERG) == 1 &&
	    OSSL_CMP_CTX_set_transfer_cb(ctx, transfer) == 1 &&
	    OSSL_CMP_CTX_set_transfer_cb_arg(ctx, l) == 1 &&
	    OSSL_CMP_CTX_set1_subjectName(ctx, n) == 1 &&
	    OSSL_CMP_CTX_set1_recipient(ctx,
	    X509_get_subject_name(ev->srvcert)) == 1 &&
	    OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_TOTAL_TIMEOUT,
	    TOTAL_S) == 1 &&
	    OSSL_CMP_CTX_set1_referenceValue(ctx, (const unsigned char *)ref,
	    (int)strlen(ref)) == 1 &&
	    OSSL_CMP_CTX_set1_secretValue(ctx, (const unsigned char *)secret,
	    (int)strlen(secret)) == 1 &&
	    EVP_PKEY_up_ref(k) == 1;
	if (ok && OSSL_CMP_CTX_set0_newPkey(ctx, 1, k) != 1) {
		EVP_PKEY_free(k);
		ok = 0;
	}
	X509_NAME_free(n);
	if (!ok) {
		OSSL_CMP_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/*
 * Entity id of FQDN id.example needing CERTTYPE from CA op, and a
 * bootstrap token for it.
 */
static int
entity_with_token(cmf *c, const char *id, struct cmf_initcred *cred,
    char secret[CMF_INITCRED_SECRET_LEN + 1])
{
	struct cmf_entity *e;
	char err[256] = "", name[128];
	int r;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return -1;
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->type = CMF_VNF_INSTANCE;
	snprintf(e->fqdns[0], sizeof(e->fqdns[0]), "%s.example", id);
	e->nfqdns = 1;
	snprintf(e->types[0].name, sizeof(e->types[0].name), CERTTYPE);
	snprintf(e->types[0].ca, sizeof(e->types[0].ca), "op");
	e->types[0].binding = CMF_P1;
	e->ntypes = 1;
	e->binding = CMF_P1;
	r = cmf_entity_create(c, e, err, sizeof(err));
	free(e);
	snprintf(name, sizeof(name), "cmp %s: entity created", id);
	if (!th_check(r == 0, name, "got %d %s", r, err))
		return -1;
	r = cmf_initcred_create(c, id, CERTTYPE, 3600, NULL, 0, cred, secret,
	    NULL, err, sizeof(err));
	snprintf(name, sizeof(name), "cmp %s: bootstrap token created", id);
	return th_check(r == 0, name, "got %d %s", r, err) ? 0 : -1;
}

/* 1 when c finds cert as a valid certificate of entity id. */
static int
cmf_holds(cmf *c, X509 *cert, const char *id)
{
	char ent[CMF_ID_MAX + 1], cid[CERTDB_ID_LEN + 1];
	unsigned char *der = NULL;
	int n, found = 0;

	if ((n = i2d_X509(cert, &der)) > 0)
		found = cmf_cert_lookup(c, der, (size_t)n, ent, cid,
		    NULL) == 0 && strcmp(ent, id) == 0;
	OPENSSL_free(der);
	return found;
}

/* 1 when the bootstrap token ref still gives its secret. */
static int
token_live(cmf *c, const char *ref)
{
	struct cmf_initcred ic;
	uint8_t *secret = NULL;
	size_t len = 0;

	if (cmf_initcred_secret(c, ref, &secret, &len, &ic) != 0)
		return 0;
	sodium_memzero(secret, len);
	sodium_free(secret);
	return 1;
}

/* 1 when cert was issued by the first certificate of chain. */
static int
issued_by_ca(X509 *cert, STACK_OF(X509) *chain)
{
	X509 *ca = sk_X509_value(chain, 0);

	return ca != NULL && X509_check_issued(ca, cert) == X509_V_OK &&
	    X509_verify(cert, X509_get0_pubkey(ca)) == 1;
}

/*
 * ir with PBM: the certificate for the client's key from the CA,
 * confirmed; the token is spent and a second ir with it fails.
 */
static void
test_ir_mac(const struct env *ev)
{
	struct cmf_initcred cred;
	struct link l;
	OSSL_CMP_CTX *ctx = NULL, *again = NULL;
	STACK_OF(X509) *capubs = NULL;
	EVP_PKEY *k = NULL, *k2 = NULL;
	X509 *cert, *cert2;
	cmp_srv *srv = NULL;
	char secret[CMF_INITCRED_SECRET_LEN + 1] = "", cn[64] = "";
	int i, found;

	memset(&cred, 0, sizeof(cred));
	if (entity_with_token(ev->cw, "vnf-cmp1", &cred, secret) != 0)
		goto out;
	if (!TH_EQ_INT(cmp_srv_new(ev->srvcert, ev->srvkey, &srv), 0,
	    "cmp ir: a server is made"))
		goto out;
	link_init(&l, srv, ev->cw, ev->chain);
	if ((k = ec_key()) == NULL || (k2 = ec_key()) == NULL ||
	    (ctx = client(&l, ev, k, "vnf-cmp1.example", cred.ref,
	    secret)) == NULL) {
		th_check(0, "cmp ir: client set-up", "failed");
		goto out;
	}
	cert = OSSL_CMP_exec_IR_ses(ctx);
	if (!th_check(cert != NULL, "cmp ir: MAC-protected with a bootstrap "
	    "token, the client gets a certificate", "none: last request %d, "
	    "answer %d, %d unanswered", l.last_req, l.last_rsp, l.failed))
		goto out;
	th_check(EVP_PKEY_eq(X509_get0_pubkey(cert), k) == 1,
	    "cmp ir: the certificate is for the client's new key",
	    "another public key");
	X509_NAME_get_text_by_NID(X509_get_subject_name(cert),
	    NID_commonName, cn, sizeof(cn));
	th_check(strcmp(cn, "vnf-cmp1.example") == 0,
	    "cmp ir: its subject is the entity's FQDN", "got CN '%s'", cn);
	th_check(issued_by_ca(cert, ev->chain),
	    "cmp ir: issued by the fixture's CA", "another issuer");
	capubs = OSSL_CMP_CTX_get1_caPubs(ctx);
	for (i = 0, found = 0; i < sk_X509_num(capubs); i++)
		if (X509_cmp(sk_X509_value(capubs, i),
		    sk_X509_value(ev->chain, 0)) == 0)
			found = 1;
	th_check(found, "cmp ir: the ip carries the CA in caPubs",
	    "%d caPubs, not the CA", sk_X509_num(capubs));
	th_check(l.last_req == CMP_BODY_CERTCONF &&
	    l.last_rsp == CMP_BODY_PKICONF,
	    "cmp ir: certConf is answered with pkiConf",
	    "last request %d, answer %d", l.last_req, l.last_rsp);
	TH_EQ_INT(OSSL_CMP_CTX_get_status(ctx), OSSL_CMP_PKISTATUS_accepted,
	    "cmp ir: the request was accepted");
	th_check(cmf_holds(ev->cw, cert, "vnf-cmp1"),
	    "cmp ir: the CMF knows the certificate as the entity's",
	    "not found after certConf");
	th_check(!token_live(ev->cw, cred.ref),
	    "cmp ir: the bootstrap token is spent", "still gives its secret");
	TH_EQ_INT(l.failed, 0, "cmp ir: every request was answered");

	/* the same token again, for another key */
	if ((again = client(&l, ev, k2, "vnf-cmp1.example", cred.ref,
	    secret)) == NULL) {
		th_check(0, "cmp ir again: client set-up", "failed");
		goto out;
	}
	cert2 = OSSL_CMP_exec_IR_ses(again);
	th_check(cert2 == NULL, "cmp ir again: a spent token gets no second "
	    "certificate", "issued one");
	th_check(l.last_req == CMP_BODY_IR &&
	    l.last_rsp == CMP_BODY_ERROR,
	    "cmp ir again: the server answers an error message",
	    "last request %d, answer %d", l.last_req, l.last_rsp);
 out:
	sk_X509_pop_free(capubs, X509_free);
	OSSL_CMP_CTX_free(again);
	OSSL_CMP_CTX_free(ctx);
	EVP_PKEY_free(k2);
	EVP_PKEY_free(k);
	cmp_srv_free(srv);
	sodium_memzero(secret, sizeof(secret));
}

/*
 * certConf rewritten on its way to have no CertStatus: the server
 * confirms it and revokes the certificate of the transaction.
 */
static void
test_certconf_empty(const struct env *ev)
{
	struct cmf_initcred cred;
	struct certdb_cert *cc = NULL;
	struct link l;
	OSSL_CMP_CTX *ctx = NULL;
	ASN1_INTEGER *serial = NULL;
	EVP_PKEY *k = NULL;
	X509 *cert;
	cmp_srv *srv = NULL;
	unsigned char *der = NULL;
	char secret[CMF_INITCRED_SECRET_LEN + 1] = "";
	char ent[CMF_ID_MAX + 1], cid[CERTDB_ID_LEN + 1];
	int n, r;

	memset(&cred, 0, sizeof(cred));
	if (entity_with_token(ev->cw, "vnf-cmp2", &cred, secret) != 0)
		goto out;
	if (!TH_EQ_INT(cmp_srv_new(ev->srvcert, ev->srvkey, &srv), 0,
	    "cmp empty certConf: a server is made"))
		goto out;
	link_init(&l, srv, ev->cw, ev->chain);
	l.empty_certconf = 1;
	if ((k = ec_key()) == NULL || (ctx = client(&l, ev, k,
	    "vnf-cmp2.example", cred.ref, secret)) == NULL) {
		th_check(0, "cmp empty certConf: client set-up", "failed");
		goto out;
	}
	/*
	 * The client cannot tell its certConf was emptied: whatever it
	 * reports, the outcome is read from the server's side.
	 */
	(void)OSSL_CMP_exec_IR_ses(ctx);
	cert = OSSL_CMP_CTX_get0_newCert(ctx);
	if (!th_check(cert != NULL, "cmp empty certConf: the ir is answered "
	    "with a certificate", "none: last request %d, answer %d",
	    l.last_req, l.last_rsp))
		goto out;
	th_check(l.valid_before && l.cert_id[0] != '\0',
	    "cmp empty certConf: the certificate is valid before certConf",
	    "not found");
	TH_EQ_INT(l.emptied, 1, "cmp empty certConf: a certConf of no "
	    "CertStatus, MAC-protected, went out");
	th_check(l.last_req == CMP_BODY_CERTCONF &&
	    l.last_rsp == CMP_BODY_PKICONF,
	    "cmp empty certConf: the server answers pkiConf",
	    "last request %d, answer %d, %d unanswered", l.last_req,
	    l.last_rsp, l.failed);
	if ((n = i2d_X509(cert, &der)) <= 0) {
		th_check(0, "cmp empty certConf: encode", "failed");
		goto out;
	}
	TH_EQ_INT(cmf_cert_lookup(ev->cw, der, (size_t)n, ent, cid, NULL),
	    CAP_ERR_NOT_FOUND, "cmp empty certConf: the CMF no longer "
	    "finds the certificate");
	r = l.cert_id[0] != '\0' ? certdb_get(ev->f.s, l.cert_id, &cc) :
	    CAP_ERR_NOT_FOUND;
	th_check(r == 0 && cc->status == CERTDB_REVOKED,
	    "cmp empty certConf: its record is revoked", "got %d, status %d",
	    r, r == 0 ? (int)cc->status : -1);
	serial = ASN1_INTEGER_dup(X509_get0_serialNumber(cert));
	th_check(serial != NULL && th_nfv_on_crl(&ev->f, serial),
	    "cmp empty certConf: its serial is on the CA's CRL", "not listed");
	th_check(!token_live(ev->cw, cred.ref),
	    "cmp empty certConf: the bootstrap token stays spent",
	    "gives its secret again");
 out:
	ASN1_INTEGER_free(serial);
	certdb_cert_free(cc);
	OPENSSL_free(der);
	OSSL_CMP_CTX_free(ctx);
	EVP_PKEY_free(k);
	cmp_srv_free(srv);
	sodium_memzero(secret, sizeof(secret));
}

/*
 * The fixture's CMF does not wait for its CA: the ir is answered
 * "waiting", the client polls until it gets the certificate.
 */
static void
test_poll(const struct env *ev)
{
	struct cmf_initcred cred;
	struct link l;
	OSSL_CMP_CTX *ctx = NULL;
	EVP_PKEY *k = NULL;
	X509 *cert;
	cmp_srv *srv = NULL;
	char secret[CMF_INITCRED_SECRET_LEN + 1] = "";

	memset(&cred, 0, sizeof(cred));
	TH_EQ_INT(cmf_env_of(ev->f.c)->enrol_wait, 0,
	    "cmp poll: the fixture's CMF does not wait for its CA");
	if (entity_with_token(ev->f.c, "vnf-cmp3", &cred, secret) != 0)
		goto out;
	if (!TH_EQ_INT(cmp_srv_new(ev->srvcert, ev->srvkey, &srv), 0,
	    "cmp poll: a server is made"))
		goto out;
	link_init(&l, srv, ev->f.c, ev->chain);
	if ((k = ec_key()) == NULL || (ctx = client(&l, ev, k,
	    "vnf-cmp3.example", cred.ref, secret)) == NULL) {
		th_check(0, "cmp poll: client set-up", "failed");
		goto out;
	}
	cert = OSSL_CMP_exec_IR_ses(ctx);
	th_check(cert != NULL && EVP_PKEY_eq(X509_get0_pubkey(cert), k) == 1,
	    "cmp poll: the client ends with a certificate for its key",
	    "none: last request %d, answer %d, %d unanswered", l.last_req,
	    l.last_rsp, l.failed);
	th_check(l.polls >= 1, "cmp poll: the client sent pollReq",
	    "%d sent", l.polls);
	th_check(l.polls >= 1 && l.poll_answers == l.polls,
	    "cmp poll: each pollReq is answered by pollRep or ip",
	    "%d of %d", l.poll_answers, l.polls);
	th_check(l.last_req == CMP_BODY_CERTCONF &&
	    l.last_rsp == CMP_BODY_PKICONF,
	    "cmp poll: certConf is answered with pkiConf",
	    "last request %d, answer %d", l.last_req, l.last_rsp);
	th_check(cert != NULL && issued_by_ca(cert, ev->chain) &&
	    cmf_holds(ev->f.c, cert, "vnf-cmp3"),
	    "cmp poll: issued by the CA and held by the entity", "no");
	th_check(!token_live(ev->f.c, cred.ref),
	    "cmp poll: the bootstrap token is spent", "gives its secret");
 out:
	OSSL_CMP_CTX_free(ctx);
	EVP_PKEY_free(k);
	cmp_srv_free(srv);
	sodium_memzero(secret, sizeof(secret));
}

/* The body type of an answer (DER), -1 when it does not parse. */
static int
answer_body(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	OSSL_CMP_MSG *m;
	int body = -1;

	if (der != NULL && (m = d2i_OSSL_CMP_MSG(NULL, &p,
	    (long)len)) != NULL) {
		body = OSSL_CMP_MSG_get_bodytype(m);
		OSSL_CMP_MSG_free(m);
	}
	return body;
}

/* Sends msg as it is; its answer's body type, or -1. */
static int
send_raw(cmp_srv *srv, cmf *c, const OSSL_CMP_MSG *msg, int *result)
{
	unsigned char *der = NULL;
	uint8_t *out = NULL;
	size_t outlen = 0;
	char ident[CMP_IDENT_MAX];
	int n, body = -1;

	*result = CAP_ERR_INVALID;
	if (msg != NULL && (n = i2d_OSSL_CMP_MSG(msg, &der)) > 0 &&
	    (*result = cmp_srv_process(srv, c, der, (size_t)n, NULL, &out,
	    &outlen, ident)) == 0)
		body = answer_body(out, outlen);
	free(out);
	OPENSSL_free(der);
	return body;
}

/*
 * A pollReq and a certConf of no transaction the server keeps, each
 * MAC-protected with a live token: an error message, the token left
 * unspent.  Bytes that are no CMP message: CAP_ERR_INVALID, no answer.
 */
static void
test_unknown(const struct env *ev)
{
	struct cmf_initcred cred;
	struct link l;
	OSSL_CMP_CTX *ctx = NULL;
	OSSL_CMP_MSG *poll = NULL, *conf = NULL;
	EVP_PKEY *k = NULL;
	cmp_srv *srv = NULL;
	uint8_t *out = NULL;
	size_t outlen = 0;
	char secret[CMF_INITCRED_SECRET_LEN + 1] = "";
	char ident[CMP_IDENT_MAX];
	int r, body;

	memset(&cred, 0, sizeof(cred));
	memset(&l, 0, sizeof(l));
	if (!TH_EQ_INT(cmp_srv_new(ev->srvcert, ev->srvkey, &srv), 0,
	    "cmp unknown: a server is made"))
		goto out;
	r = cmp_srv_process(srv, ev->cw, (const uint8_t *)"junk", 4, NULL,
	    &out, &outlen, ident);
	th_check(r == CAP_ERR_INVALID && out == NULL && outlen == 0,
	    "cmp unknown: bytes that are no CMP message are invalid, "
	    "unanswered", "got %d, %zu bytes", r, outlen);
	free(out);
	if (entity_with_token(ev->cw, "vnf-cmp4", &cred, secret) != 0)
		goto out;
	/* a header of the client's, from an ir kept back */
	link_init(&l, srv, ev->cw, ev->chain);
	l.capture = 1;
	if ((k = ec_key()) == NULL || (ctx = client(&l, ev, k,
	    "vnf-cmp4.example", cred.ref, secret)) == NULL) {
		th_check(0, "cmp unknown: client set-up", "failed");
		goto out;
	}
	(void)OSSL_CMP_exec_IR_ses(ctx);
	if (!th_check(l.captured != NULL, "cmp unknown: an ir was built",
	    "none"))
		goto out;
	poll = msg_rebody(ctx, l.captured, body_pollreq, sizeof(body_pollreq),
	    1);
	body = send_raw(srv, ev->cw, poll, &r);
	th_check(poll != NULL && r == 0 && body == CMP_BODY_ERROR,
	    "cmp unknown: a pollReq of an unknown transactionID gets an "
	    "error message", "got %d, answer %d", r, body);
	conf = msg_rebody(ctx, l.captured, body_certconf_empty,
	    sizeof(body_certconf_empty), 1);
	body = send_raw(srv, ev->cw, conf, &r);
	th_check(conf != NULL && r == 0 && body == CMP_BODY_ERROR,
	    "cmp unknown: a certConf of an unknown transactionID gets an "
	    "error message", "got %d, answer %d", r, body);
	th_check(token_live(ev->cw, cred.ref),
	    "cmp unknown: the token is not spent by them", "spent");
 out:
	OSSL_CMP_MSG_free(conf);
	OSSL_CMP_MSG_free(poll);
	OSSL_CMP_MSG_free(l.captured);
	OSSL_CMP_CTX_free(ctx);
	EVP_PKEY_free(k);
	cmp_srv_free(srv);
	sodium_memzero(secret, sizeof(secret));
}

/*
 * Beside the fixture: a CMF over it that waits for the CA, the server's
 * identity and the CA chain of connector op.
 */
static int
env_open(struct env *ev)
{
	struct certsvc_ca ca;
	struct cmf_env ce;
	int r;

	ce = *cmf_env_of(ev->f.c);
	ce.enrol_wait = CMF_ISSUE_TIMEOUT_S;
	r = cmf_new(&ce, &ev->cw);
	if (!TH_EQ_INT(r, 0, "cmp: a CMF that waits for its CA"))
		return -1;
	if ((ev->srvkey = ec_key()) == NULL ||
	    (ev->srvcert = self_cert(ev->srvkey, "capstone-enrol")) == NULL) {
		th_check(0, "cmp: server identity", "failed");
		return -1;
	}
	memset(&ca, 0, sizeof(ca));
	if ((r = certsvc_conns_lookup(ev->f.cs, "op", &ca)) == 0) {
		r = ca.ops->chain(ca.state, &ev->chain);
		if (ca.release != NULL)
			ca.release(ca.ref);
	}
	return th_check(r == 0 && sk_X509_num(ev->chain) > 0,
	    "cmp: the chain of CA op", "got %d", r) ? 0 : -1;
}

static void
env_close(struct env *ev)
{
	cmf_free(ev->cw);
	ev->cw = NULL;
	sk_X509_pop_free(ev->chain, X509_free);
	ev->chain = NULL;
	X509_free(ev->srvcert);
	ev->srvcert = NULL;
	EVP_PKEY_free(ev->srvkey);
	ev->srvkey = NULL;
}

int
main(void)
{
	struct env ev;

	log_init("test_cmp_srv", 0, LOG_LVL_ERROR);
	if (sodium_init() < 0)
		return 1;
	memset(&ev, 0, sizeof(ev));
	if (th_nfv_open(&ev.f, "cmpsrv", "CMP Test Root") == 0 &&
	    env_open(&ev) == 0) {
		test_ir_mac(&ev);
		test_certconf_empty(&ev);
		test_poll(&ev);
		test_unknown(&ev);
	}
	env_close(&ev);
	th_nfv_close(&ev.f);
	return th_done();
}
