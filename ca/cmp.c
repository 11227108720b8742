/*
 * cmp.c - the CMP (RFC 4210 / RFC 9480) connector, on OpenSSL 3.0's
 * OSSL_CMP_* client.
 *
 * Every operation builds its own OSSL_CMP_CTX from the connector's
 * settings, so operations on one connector may run on several threads at
 * once; only the CA certificates seen in the last answer are shared, under
 * a mutex.  Private keys stay in the token: the new key (proof of
 * possession), the protection key and the old key of a renewal are
 * EVP_PKEYs from hsm_evp_pkey_load whose signatures are made by the token.
 *
 * The PBM secret of MAC protection is held in sodium_malloc memory for the
 * life of the connector and wiped by destroy; it never appears in describe
 * output, logs or error text.  Where it is persisted is the business of the
 * connector store, which hands it back in the settings at start-up.
 *
 * Polling (pollReq/pollRep) happens inside OSSL_CMP under the configured
 * total timeout, so this connector never answers CA_PENDING.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/cmp.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "ca/ca.h"
#include "ca/cmp_int.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"

/* Per-operation state the certConf callback sees. */
struct cmp_op {
	EVP_PKEY	*want;		/* public key the certificate must carry */
	int		 key_mismatch;
};

/* ---- small helpers ---- */

static void
log_ossl_errors(const char *conn, const char *what)
{
	char buf[256];
	unsigned long e;

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		log_info("cmp %s: %s: %s", conn, what, buf);
	}
}

static int
cmp_log_cb(const char *func, const char *file, int line,
    OSSL_CMP_severity level, const char *msg)
{
	(void)func;
	(void)file;
	(void)line;
	if (level <= OSSL_CMP_LOG_WARNING)
		log_warn("cmp: %s", msg);
	else
		log_debug("cmp: %s", msg);
	return 1;
}

/* ---- one transaction ---- */

/* expand_path substitutes "{profile}" in the configured path. */
static int
expand_path(const struct cmp_conn *c, const char *profile, char *out,
    size_t outlen)
{
	const char *p = strstr(c->path, "{profile}");
	int n;

	if (p == NULL) {
		n = snprintf(out, outlen, "%s", c->path);
	} else {
		if (profile == NULL)
			profile = c->profile;
		if (profile == NULL || strpbrk(profile, "/?#% ") != NULL)
			return CAP_ERR_INVALID;
		n = snprintf(out, outlen, "%.*s%s%s", (int)(p - c->path),
		    c->path, profile, p + strlen("{profile}"));
	}
	return n < 0 || (size_t)n >= outlen ? CAP_ERR_INVALID : 0;
}

static int
store_from(STACK_OF(X509) *certs, X509_STORE **out)
{
	X509_STORE *st;
	int i;

	*out = NULL;
	if ((st = X509_STORE_new()) == NULL)
		return CAP_ERR_NOMEM;
	for (i = 0; i < sk_X509_num(certs); i++)
		if (!X509_STORE_add_cert(st, sk_X509_value(certs, i))) {
			X509_STORE_free(st);
			return CAP_ERR_NOMEM;
		}
	*out = st;
	return 0;
}

static int
cmp_certconf_cb(OSSL_CMP_CTX *ctx, X509 *cert, int fail_info,
    const char **text)
{
	struct cmp_op *op = OSSL_CMP_CTX_get_certConf_cb_arg(ctx);
	EVP_PKEY *got = X509_get0_pubkey(cert);

	if (op != NULL && op->want != NULL &&
	    (got == NULL || EVP_PKEY_eq(got, op->want) != 1)) {
		op->key_mismatch = 1;
		*text = "the certificate does not carry the requested public key";
		fail_info |= 1 << OSSL_CMP_PKIFAILUREINFO_incorrectData;
	}
	ERR_clear_error();
	return fail_info;
}

/*
 * The HTTP callback of an https connector: once the TCP connection is
 * up, TLS is layered over it, the server checked against the connector's
 * trust and its name (or address) against the URL's host.
 */
static BIO *
cmp_tls_cb(BIO *bio, void *arg, int connect, int detail)
{
	struct cmp_conn *c = arg;
	BIO *sbio = NULL;
	SSL *ssl = NULL;

	if (!connect || !detail)
		return bio;	/* disconnecting, or plain HTTP: nothing to do */
	if ((sbio = BIO_new_ssl(c->tls, 1)) == NULL ||
	    BIO_get_ssl(sbio, &ssl) <= 0 || ssl == NULL ||
	    SSL_set_tlsext_host_name(ssl, c->host) != 1 ||
	    SSL_set1_host(ssl, c->host) != 1) {
		BIO_free(sbio);
		return NULL;
	}
	return BIO_push(sbio, bio);
}

/*
 * ctx_new prepares a transaction.  prot_cert/prot_key_uri override the
 * configured protection (a renewal is protected by the old key); a NULL
 * prot_cert means the configured MAC or signature.
 */
static int
ctx_new(struct cmp_conn *c, const char *profile, X509 *prot_cert,
    const char *prot_key_uri, struct cmp_op *op, OSSL_CMP_CTX **out)
{
	OSSL_CMP_CTX *ctx = NULL;
	X509_STORE *st = NULL;
	EVP_PKEY *pk = NULL;
	char path[1024];
	int r = CAP_ERR_INTERNAL;

	*out = NULL;
	if ((r = expand_path(c, profile, path, sizeof(path))) != 0) {
		log_warn("cmp %s: no usable profile for the URL path", c->name);
		goto out;
	}
	r = CAP_ERR_NOMEM;
	if ((ctx = OSSL_CMP_CTX_new(NULL, NULL)) == NULL)
		goto out;
	if (!OSSL_CMP_CTX_set_log_cb(ctx, cmp_log_cb) ||
	    !OSSL_CMP_CTX_set1_server(ctx, c->host) ||
	    !OSSL_CMP_CTX_set_serverPort(ctx, c->port) ||
	    !OSSL_CMP_CTX_set1_serverPath(ctx, path) ||
	    !OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_MSG_TIMEOUT,
	    c->timeout) ||
	    !OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_TOTAL_TIMEOUT,
	    c->timeout) ||
	    !OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_IMPLICIT_CONFIRM,
	    c->implicit_confirm) ||
	    !OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_UNPROTECTED_ERRORS,
	    c->unprotected_errors) ||
	    !OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_IGNORE_KEYUSAGE,
	    c->ignore_keyusage) ||
	    !OSSL_CMP_CTX_set_option(ctx,
	    OSSL_CMP_OPT_PERMIT_TA_IN_EXTRACERTS_FOR_IR,
	    c->permit_ta_in_extracerts) ||
	    !OSSL_CMP_CTX_set_certConf_cb(ctx, cmp_certconf_cb) ||
	    !OSSL_CMP_CTX_set_certConf_cb_arg(ctx, op))
		goto out;
	if (c->tls != NULL && (!OSSL_CMP_CTX_set_http_cb(ctx, cmp_tls_cb) ||
	    !OSSL_CMP_CTX_set_http_cb_arg(ctx, c)))
		goto out;
	if (c->recipient != NULL &&
	    !OSSL_CMP_CTX_set1_recipient(ctx, c->recipient))
		goto out;
	if (c->expected_sender != NULL &&
	    !OSSL_CMP_CTX_set1_expected_sender(ctx, c->expected_sender))
		goto out;
	if (c->trusted != NULL) {
		if ((r = store_from(c->trusted, &st)) != 0)
			goto out;
		r = CAP_ERR_NOMEM;
		if (!OSSL_CMP_CTX_set0_trustedStore(ctx, st))
			goto out;
		st = NULL;	/* transferred */
		if (!OSSL_CMP_CTX_set1_untrusted(ctx, c->trusted))
			goto out;
	}
	if (prot_cert == NULL && c->mode == CMP_AUTH_MAC) {
		if (!OSSL_CMP_CTX_set1_referenceValue(ctx,
		    (const unsigned char *)c->reference, strlen(c->reference)) ||
		    !OSSL_CMP_CTX_set1_secretValue(ctx, c->secret,
		    (int)c->secretlen) ||
		    !OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_OWF_ALGNID,
		    c->owf_nid) ||
		    !OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_MAC_ALGNID,
		    c->mac_nid))
			goto out;
	} else {
		if (prot_cert == NULL) {
			prot_cert = c->sig_cert;
			prot_key_uri = c->sig_key_uri;
		}
		if ((r = hsm_evp_pkey_load(prot_key_uri, c->env.token_module,
		    c->env.token_pin, &pk)) != 0) {
			log_warn("cmp %s: protection key not loadable from the "
			    "token: %s", c->name, cap_strerror(r));
			goto out;
		}
		r = CAP_ERR_NOMEM;
		if (!OSSL_CMP_CTX_set1_cert(ctx, prot_cert) ||
		    !OSSL_CMP_CTX_set1_pkey(ctx, pk))
			goto out;
	}
	*out = ctx;	/* transferred */
	ctx = NULL;
	r = 0;
 out:
	if (r != 0)
		log_ossl_errors(c->name, "preparing the transaction");
	EVP_PKEY_free(pk);
	X509_STORE_free(st);
	OSSL_CMP_CTX_free(ctx);
	return r;
}

/* append_failinfo writes the PKIFailureInfo bit names. */
static void
append_failinfo(int bits, char *buf, size_t len)
{
	static const char *const names[] = {
		"badAlg", "badMessageCheck", "badRequest", "badTime",
		"badCertId", "badDataFormat", "wrongAuthority", "incorrectData",
		"missingTimeStamp", "badPOP", "certRevoked", "certConfirmed",
		"wrongIntegrity", "badRecipientNonce", "timeNotAvailable",
		"unacceptedPolicy", "unacceptedExtension", "addInfoNotAvailable",
		"badSenderNonce", "badCertTemplate", "signerNotTrusted",
		"transactionIdInUse", "unsupportedVersion", "notAuthorized",
		"systemUnavail", "systemFailure", "duplicateCertReq",
	};
	size_t i, n;
	int first = 1;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if ((bits & (1 << i)) == 0)
			continue;
		n = strlen(buf);
		snprintf(buf + n, len - n, "%s%s", first ? "; failInfo: " :
		    ", ", names[i]);
		first = 0;
	}
}

/* append_status_text copies the CA's statusString, printable ASCII only. */
static void
append_status_text(OSSL_CMP_CTX *ctx, char *buf, size_t len)
{
	OSSL_CMP_PKIFREETEXT *ft = OSSL_CMP_CTX_get0_statusString(ctx);
	const ASN1_UTF8STRING *s;
	size_t n, k;
	int i, j;

	for (i = 0; ft != NULL && i < sk_ASN1_UTF8STRING_num(ft); i++) {
		s = sk_ASN1_UTF8STRING_value(ft, i);
		n = strlen(buf);
		if (n + 4 >= len)
			return;
		snprintf(buf + n, len - n, "%s", i == 0 ? "; text: " : " / ");
		n = strlen(buf);
		for (j = 0, k = n; j < ASN1_STRING_length(s) && k + 1 < len;
		    j++) {
			unsigned char ch = ASN1_STRING_get0_data(s)[j];

			buf[k++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
		}
		buf[k] = '\0';
	}
}

static const char *const pkistatus_names[] = {
	"accepted", "grantedWithMods", "rejection", "waiting",
	"revocationWarning", "revocationNotification", "keyUpdateWarning",
};

/*
 * fail maps a failed transaction to a CAP_ERR_* and a reason: the
 * certificate for another key (CAP_ERR_CRYPTO), a PKIStatus rejection
 * (CAP_ERR_DENIED, the CA's words), a transport failure or timeout
 * (CAP_ERR_UNAVAILABLE), anything else that failed its checks, such as the
 * protection of the answer (CAP_ERR_CRYPTO).
 */
static int
fail(struct cmp_conn *c, OSSL_CMP_CTX *ctx, const struct cmp_op *op,
    const char *what, char *reason, size_t len)
{
	unsigned long e, first = 0, transport = 0;
	int status = OSSL_CMP_CTX_get_status(ctx), r;

	while ((e = ERR_get_error()) != 0) {
		char buf[256];

		if (first == 0)
			first = e;
		if (ERR_GET_LIB(e) == ERR_LIB_HTTP ||
		    ERR_GET_LIB(e) == ERR_LIB_BIO ||
		    ERR_GET_LIB(e) == ERR_LIB_SYS ||
		    (ERR_GET_LIB(e) == ERR_LIB_CMP &&
		    (ERR_GET_REASON(e) == CMP_R_TRANSFER_ERROR ||
		    ERR_GET_REASON(e) == CMP_R_TOTAL_TIMEOUT)))
			transport = e;
		ERR_error_string_n(e, buf, sizeof(buf));
		log_debug("cmp %s: %s: %s", c->name, what, buf);
	}
	if (op != NULL && op->key_mismatch) {
		snprintf(reason, len, "the CA returned a certificate for "
		    "another public key; it was refused in certConf");
		r = CAP_ERR_CRYPTO;
	} else if (status == OSSL_CMP_PKISTATUS_rejection) {
		snprintf(reason, len, "PKIStatus: rejection");
		append_failinfo(OSSL_CMP_CTX_get_failInfoCode(ctx), reason,
		    len);
		append_status_text(ctx, reason, len);
		r = CAP_ERR_DENIED;
	} else if (transport != 0) {
		snprintf(reason, len, "the CA could not be reached or did not "
		    "answer in time (%s)", ERR_reason_error_string(transport) ?
		    ERR_reason_error_string(transport) : "transfer error");
		r = CAP_ERR_UNAVAILABLE;
	} else {
		const char *rs = first ? ERR_reason_error_string(first) : NULL;

		if (status >= 0 && (size_t)status <
		    sizeof(pkistatus_names) / sizeof(pkistatus_names[0]) &&
		    status != OSSL_CMP_PKISTATUS_accepted &&
		    status != OSSL_CMP_PKISTATUS_grantedWithMods) {
			snprintf(reason, len, "PKIStatus: %s",
			    pkistatus_names[status]);
			append_failinfo(OSSL_CMP_CTX_get_failInfoCode(ctx),
			    reason, len);
			append_status_text(ctx, reason, len);
			r = CAP_ERR_DENIED;
		} else {
			snprintf(reason, len, "the CA's answer failed its "
			    "checks (%s)", rs != NULL ? rs : "unknown");
			r = CAP_ERR_CRYPTO;
		}
	}
	log_info("cmp %s: %s failed: %s", c->name, what, reason);
	return r;
}

/* ---- chains ---- */

static int
cert_in(STACK_OF(X509) *sk, X509 *x)
{
	int i;

	for (i = 0; i < sk_X509_num(sk); i++)
		if (X509_cmp(sk_X509_value(sk, i), x) == 0)
			return 1;
	return 0;
}

static int
pool_add(STACK_OF(X509) *pool, STACK_OF(X509) *from)
{
	int i;
	X509 *x;

	for (i = 0; i < sk_X509_num(from); i++) {
		x = sk_X509_value(from, i);
		if (cert_in(pool, x))
			continue;
		if (!X509_up_ref(x))
			return CAP_ERR_INTERNAL;
		if (!sk_X509_push(pool, x)) {
			X509_free(x);
			return CAP_ERR_NOMEM;
		}
	}
	return 0;
}

/* build_chain orders the issuers of leaf found in pool, issuer first. */
static int
build_chain(X509 *leaf, STACK_OF(X509) *pool, STACK_OF(X509) **out)
{
	STACK_OF(X509) *chain;
	X509 *cur = leaf, *x;
	int i, found;

	*out = NULL;
	if ((chain = sk_X509_new_null()) == NULL)
		return CAP_ERR_NOMEM;
	while (sk_X509_num(chain) < CMP_CHAIN_MAX &&
	    X509_check_issued(cur, cur) != X509_V_OK) {
		found = 0;
		for (i = 0; i < sk_X509_num(pool); i++) {
			x = sk_X509_value(pool, i);
			if (X509_cmp(x, cur) == 0 || cert_in(chain, x) ||
			    X509_check_issued(x, cur) != X509_V_OK)
				continue;
			if (!X509_up_ref(x) || !sk_X509_push(chain, x)) {
				sk_X509_pop_free(chain, X509_free);
				return CAP_ERR_NOMEM;
			}
			cur = x;
			found = 1;
			break;
		}
		if (!found)
			break;
	}
	*out = chain;
	return 0;
}

/* remember_cas keeps the answer's caPubs and extraCerts for chain(). */
static void
remember_cas(struct cmp_conn *c, STACK_OF(X509) *cas)
{
	STACK_OF(X509) *old;

	if (cas == NULL || sk_X509_num(cas) == 0)
		return;
	pthread_mutex_lock(&c->lock);
	old = c->last_cas;
	c->last_cas = X509_chain_up_ref(cas);
	pthread_mutex_unlock(&c->lock);
	sk_X509_pop_free(old, X509_free);
}

/* ---- operations ---- */

static int
certreq(struct cmp_conn *c, int type, const struct ca_request *req,
    X509 *old_cert, const char *old_key_uri, struct ca_result *res)
{
	OSSL_CMP_CTX *ctx = NULL;
	struct cmp_op op;
	EVP_PKEY *newkey = NULL;
	STACK_OF(X509) *capubs = NULL, *extra = NULL, *pool = NULL;
	X509 *cert;
	const char *what = type == OSSL_CMP_IR ? "ir" :
	    type == OSSL_CMP_CR ? "cr" :
	    type == OSSL_CMP_KUR ? "kur" : "p10cr";
	int r;

	memset(res, 0, sizeof(*res));
	memset(&op, 0, sizeof(op));
	if (req == NULL || req->csr == NULL ||
	    (type != OSSL_CMP_P10CR && req->key_uri == NULL))
		return CAP_ERR_INVALID;
	if ((op.want = X509_REQ_get0_pubkey(req->csr)) == NULL)
		return CAP_ERR_INVALID;
	if ((r = ctx_new(c, req->profile, old_cert, old_key_uri, &op,
	    &ctx)) != 0)
		goto out;
	r = CAP_ERR_NOMEM;
	if (!OSSL_CMP_CTX_set1_p10CSR(ctx, req->csr))
		goto out;
	if (req->validity > 0 && !OSSL_CMP_CTX_set_option(ctx,
	    OSSL_CMP_OPT_VALIDITY_DAYS, (int)((req->validity + 86399) / 86400)))
		goto out;
	if (type == OSSL_CMP_KUR &&
	    !OSSL_CMP_CTX_set1_oldCert(ctx, old_cert))
		goto out;
	if (type != OSSL_CMP_P10CR) {
		/* the proof of possession is signed in the token */
		if ((r = hsm_evp_pkey_load(req->key_uri, c->env.token_module,
		    c->env.token_pin, &newkey)) != 0) {
			log_warn("cmp %s: the new key is not loadable from the "
			    "token: %s", c->name, cap_strerror(r));
			goto out;
		}
		r = CAP_ERR_NOMEM;
		if (!OSSL_CMP_CTX_set0_newPkey(ctx, 1, newkey))
			goto out;
		newkey = NULL;	/* transferred */
	}
	if ((cert = OSSL_CMP_exec_certreq(ctx, type, NULL)) == NULL) {
		r = fail(c, ctx, &op, what, res->reason, sizeof(res->reason));
		if (r == CAP_ERR_DENIED)
			res->status = CA_REJECTED;
		goto out;
	}
	if (op.key_mismatch || EVP_PKEY_eq(X509_get0_pubkey(cert),
	    op.want) != 1) {
		/* implicit confirm: the callback did not run */
		op.key_mismatch = 1;
		r = fail(c, ctx, &op, what, res->reason, sizeof(res->reason));
		goto out;
	}
	r = CAP_ERR_NOMEM;
	capubs = OSSL_CMP_CTX_get1_caPubs(ctx);
	extra = OSSL_CMP_CTX_get1_extraCertsIn(ctx);
	if ((pool = sk_X509_new_null()) == NULL ||
	    pool_add(pool, capubs) != 0 || pool_add(pool, extra) != 0 ||
	    (c->trusted != NULL && pool_add(pool, c->trusted) != 0))
		goto out;
	if ((r = build_chain(cert, pool, &res->chain)) != 0)
		goto out;
	r = CAP_ERR_NOMEM;
	if (!X509_up_ref(cert))
		goto out;
	res->cert = cert;
	res->status = CA_ISSUED;
	/* the CA's certificates of this answer, for chain() */
	if (sk_X509_num(res->chain) > 0)
		remember_cas(c, res->chain);
	else
		remember_cas(c, capubs);
	log_info("cmp %s: %s: certificate issued", c->name, what);
	r = 0;
 out:
	if (r != 0 && res->status != CA_REJECTED) {
		sk_X509_pop_free(res->chain, X509_free);
		res->chain = NULL;
	}
	ERR_clear_error();
	EVP_PKEY_free(newkey);
	sk_X509_pop_free(capubs, X509_free);
	sk_X509_pop_free(extra, X509_free);
	sk_X509_pop_free(pool, X509_free);
	OSSL_CMP_CTX_free(ctx);
	return r;
}

static int
cmp_enroll(void *state, const struct ca_request *req, struct ca_result *res)
{
	struct cmp_conn *c = state;

	return certreq(c, c->enroll_type, req, NULL, NULL, res);
}

static int
cmp_renew(void *state, const struct ca_request *req, struct ca_result *res)
{
	struct cmp_conn *c = state;

	if (req == NULL || req->old_cert == NULL || req->old_key_uri == NULL)
		return certreq(c, c->enroll_type, req, NULL, NULL, res);
	if (X509_cmp_current_time(X509_get0_notAfter(req->old_cert)) < 0) {
		if (!c->kur_fallback_cr) {
			memset(res, 0, sizeof(*res));
			snprintf(res->reason, sizeof(res->reason), "the old "
			    "certificate has expired and kur_fallback_cr is "
			    "off");
			return CAP_ERR_INVALID;
		}
		/* an expired certificate cannot authenticate a kur */
		log_info("cmp %s: old certificate expired, renewing with cr",
		    c->name);
		return certreq(c, OSSL_CMP_CR, req, NULL, NULL, res);
	}
	return certreq(c, OSSL_CMP_KUR, req, req->old_cert,
	    req->old_key_uri, res);
}

static int
cmp_revoke(void *state, X509 *cert, int reason, char *err, size_t errlen)
{
	struct cmp_conn *c = state;
	OSSL_CMP_CTX *ctx = NULL;
	int r;

	if (cert == NULL || reason < 0 || reason > 10 || reason == 7) {
		snprintf(err, errlen, "bad certificate or reason");
		return CAP_ERR_INVALID;
	}
	if ((r = ctx_new(c, NULL, NULL, NULL, NULL, &ctx)) != 0) {
		snprintf(err, errlen, "the CMP transaction could not be "
		    "prepared");
		goto out;
	}
	r = CAP_ERR_NOMEM;
	if (!OSSL_CMP_CTX_set1_oldCert(ctx, cert) ||
	    !OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_REVOCATION_REASON,
	    reason))
		goto out;
	if (OSSL_CMP_exec_RR_ses(ctx) != 1) {
		r = fail(c, ctx, NULL, "rr", err, errlen);
		goto out;
	}
	log_info("cmp %s: rr: certificate revoked", c->name);
	r = 0;
 out:
	ERR_clear_error();
	OSSL_CMP_CTX_free(ctx);
	return r;
}

/* certs_from_itav parses an id-it-caCerts value: SEQUENCE OF Certificate. */
static int
certs_from_itav(const OSSL_CMP_ITAV *itav, STACK_OF(X509) *out)
{
	const ASN1_TYPE *v = OSSL_CMP_ITAV_get0_value(itav);
	const unsigned char *p, *end;
	long len;
	int tag, xclass;
	X509 *x;

	if (v == NULL || v->type != V_ASN1_SEQUENCE)
		return 0;
	p = v->value.sequence->data;
	end = p + v->value.sequence->length;
	if (ASN1_get_object(&p, &len, &tag, &xclass, end - p) & 0x80 ||
	    tag != V_ASN1_SEQUENCE || len > end - p)
		return CAP_ERR_CRYPTO;
	end = p + len;
	while (p < end) {
		if (sk_X509_num(out) >= 64 ||
		    (x = d2i_X509(NULL, &p, end - p)) == NULL)
			return CAP_ERR_CRYPTO;
		if (!sk_X509_push(out, x)) {
			X509_free(x);
			return CAP_ERR_NOMEM;
		}
	}
	return 0;
}

/*
 * chain asks the CA for its certificates with a genm of id-it-caCerts;
 * when the CA has none to give (or refuses the genm), the CA certificates
 * of the last answer are returned, then the configured trust anchors.
 */
static int
cmp_chain(void *state, STACK_OF(X509) **out)
{
	struct cmp_conn *c = state;
	OSSL_CMP_CTX *ctx = NULL;
	STACK_OF(OSSL_CMP_ITAV) *itavs = NULL;
	STACK_OF(X509) *certs = NULL;
	ASN1_OBJECT *oid = NULL, *want = NULL;
	OSSL_CMP_ITAV *req = NULL;
	char reason[256];
	int r, i;

	*out = NULL;
	if ((r = ctx_new(c, NULL, NULL, NULL, NULL, &ctx)) != 0)
		goto out;
	r = CAP_ERR_NOMEM;
	if ((certs = sk_X509_new_null()) == NULL ||
	    (oid = OBJ_txt2obj(CMP_OID_CA_CERTS, 1)) == NULL ||
	    (want = OBJ_txt2obj(CMP_OID_CA_CERTS, 1)) == NULL ||
	    (req = OSSL_CMP_ITAV_create(oid, NULL)) == NULL)
		goto out;
	oid = NULL;	/* transferred */
	if (!OSSL_CMP_CTX_push0_genm_ITAV(ctx, req))
		goto out;
	req = NULL;	/* transferred */
	if ((itavs = OSSL_CMP_exec_GENM_ses(ctx)) == NULL) {
		r = fail(c, ctx, NULL, "genm", reason, sizeof(reason));
		if (r == CAP_ERR_UNAVAILABLE)
			goto out;
	} else {
		for (i = 0; i < sk_OSSL_CMP_ITAV_num(itavs); i++) {
			const OSSL_CMP_ITAV *it = sk_OSSL_CMP_ITAV_value(itavs,
			    i);

			if (OBJ_cmp(OSSL_CMP_ITAV_get0_type(it), want) != 0)
				continue;
			if ((r = certs_from_itav(it, certs)) != 0)
				goto out;
		}
	}
	if (sk_X509_num(certs) == 0) {
		pthread_mutex_lock(&c->lock);
		r = c->last_cas != NULL ? pool_add(certs, c->last_cas) : 0;
		pthread_mutex_unlock(&c->lock);
		if (r != 0)
			goto out;
	}
	if (sk_X509_num(certs) == 0 && c->trusted != NULL &&
	    (r = pool_add(certs, c->trusted)) != 0)
		goto out;
	if (sk_X509_num(certs) == 0) {
		r = CAP_ERR_NOT_FOUND;
		goto out;
	}
	*out = certs;	/* transferred */
	certs = NULL;
	r = 0;
 out:
	ERR_clear_error();
	ASN1_OBJECT_free(oid);
	ASN1_OBJECT_free(want);
	OSSL_CMP_ITAV_free(req);
	sk_OSSL_CMP_ITAV_pop_free(itavs, OSSL_CMP_ITAV_free);
	sk_X509_pop_free(certs, X509_free);
	OSSL_CMP_CTX_free(ctx);
	return r;
}

const struct ca_ops ca_cmp_ops = {
	.protocol = "cmp",
	.create = cmp_create,
	.destroy = cmp_destroy,
	.enroll = cmp_enroll,
	.renew = cmp_renew,
	.poll = NULL,		/* OSSL_CMP polls inside the transaction */
	.revoke = cmp_revoke,
	.chain = cmp_chain,
	.crl = NULL,
	.ocsp = NULL,
	.describe = cmp_describe,
};
