/*
 * scep.c - the SCEP connector (RFC 8894).
 *
 * Settings: {"url": "http[s]://host:port/path", "challenge": "...",
 * "ca_fingerprint": "<SHA-256 hex of the CA certificate>" (optional pin),
 * "trusted": "<PEM bundle for https>" (optional)}.
 *
 * A pkiMessage is a CMS SignedData whose content is a CMS EnvelopedData.
 * The envelope (the PKCS#10 request, or IssuerAndSubject for CertPoll) is
 * encrypted in software to the CA or RA certificate; the signer is the
 * request key in the token, with a transient self-signed certificate for
 * the first request, or the old certificate and key for a renewal.  The
 * CA encrypts its answer to that signer certificate, so the answer is
 * opened with the same token key through the engine EVP_PKEY, which is
 * why SCEP needs RSA keys.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "ca/ca.h"
#include "ca/http_client.h"
#include "common/err.h"
#include "common/log.h"

#define SCEP_MSG_MAX		(256 * 1024)
#define SCEP_NONCE_LEN		16

/* messageType values */
#define MT_CERTREP	"3"
#define MT_RENEWAL	"17"
#define MT_PKCSREQ	"19"
#define MT_CERTPOLL	"20"

/* pkiStatus values */
#define PS_SUCCESS	0
#define PS_FAILURE	2
#define PS_PENDING	3

struct scep_caps {
	int renewal, sha256, aes, des3, post;
};

struct scep {
	char		 name[64];
	struct http_url	 url;
	char		*challenge;		/* sodium_malloc, or NULL */
	size_t		 challenge_len;
	uint8_t		 pin[32];
	int		 has_pin;
	SSL_CTX		*tls;
	struct ca_env	 env;

	pthread_mutex_t	 mtx;			/* guards the cache below */
	int		 have_ca;
	STACK_OF(X509)	*ca_certs;		/* everything GetCACert gave */
	X509		*recipient;		/* RA or CA: envelopes go here */
	struct scep_caps caps;
};

/* One request/answer exchange. */
struct scep_tx {
	char		 tid[65];		/* transactionID, hex */
	uint8_t		 nonce[SCEP_NONCE_LEN];	/* our senderNonce */
	EVP_PKEY	*signer_key;		/* token key, engine */
	X509		*signer_cert;
};

static int oids_done;
static pthread_once_t oids_once = PTHREAD_ONCE_INIT;
static int nid_msgtype, nid_status, nid_failinfo, nid_snonce, nid_rnonce,
    nid_tid;

static void
oids_init(void)
{
	nid_msgtype = OBJ_create("2.16.840.1.113733.1.9.2",
	    "scepMessageType", "SCEP messageType");
	nid_status = OBJ_create("2.16.840.1.113733.1.9.3",
	    "scepPkiStatus", "SCEP pkiStatus");
	nid_failinfo = OBJ_create("2.16.840.1.113733.1.9.4",
	    "scepFailInfo", "SCEP failInfo");
	nid_snonce = OBJ_create("2.16.840.1.113733.1.9.5",
	    "scepSenderNonce", "SCEP senderNonce");
	nid_rnonce = OBJ_create("2.16.840.1.113733.1.9.6",
	    "scepRecipientNonce", "SCEP recipientNonce");
	nid_tid = OBJ_create("2.16.840.1.113733.1.9.7",
	    "scepTransactionID", "SCEP transactionID");
	/* OBJ_create fails when another module registered them first. */
	if (nid_msgtype == NID_undef)
		nid_msgtype = OBJ_txt2nid("2.16.840.1.113733.1.9.2");
	if (nid_status == NID_undef)
		nid_status = OBJ_txt2nid("2.16.840.1.113733.1.9.3");
	if (nid_failinfo == NID_undef)
		nid_failinfo = OBJ_txt2nid("2.16.840.1.113733.1.9.4");
	if (nid_snonce == NID_undef)
		nid_snonce = OBJ_txt2nid("2.16.840.1.113733.1.9.5");
	if (nid_rnonce == NID_undef)
		nid_rnonce = OBJ_txt2nid("2.16.840.1.113733.1.9.6");
	if (nid_tid == NID_undef)
		nid_tid = OBJ_txt2nid("2.16.840.1.113733.1.9.7");
	oids_done = nid_msgtype != NID_undef && nid_status != NID_undef &&
	    nid_failinfo != NID_undef && nid_snonce != NID_undef &&
	    nid_rnonce != NID_undef && nid_tid != NID_undef;
	ERR_clear_error();
}

static int
oids(void)
{
	pthread_once(&oids_once, oids_init);
	return oids_done ? 0 : CAP_ERR_INTERNAL;
}

static void
log_ossl(const char *what)
{
	char buf[256];
	unsigned long e;

	if ((e = ERR_peek_last_error()) == 0)
		log_warn("scep: %s failed", what);
	else {
		ERR_error_string_n(e, buf, sizeof(buf));
		log_warn("scep: %s failed: %s", what, buf);
	}
	ERR_clear_error();
}

static void
set_reason(struct ca_result *res, const char *msg)
{
	if (res != NULL)
		snprintf(res->reason, sizeof(res->reason), "%s", msg);
}

/* ---- settings ---- */

static int
hex_pin(const char *s, uint8_t out[32])
{
	size_t n = 0;
	int hi = -1, v;

	for (; *s != '\0'; s++) {
		if (*s == ':' || *s == ' ')
			continue;
		if (!isxdigit((unsigned char)*s))
			return CAP_ERR_INVALID;
		v = isdigit((unsigned char)*s) ? *s - '0' :
		    tolower((unsigned char)*s) - 'a' + 10;
		if (hi < 0)
			hi = v;
		else {
			if (n >= 32)
				return CAP_ERR_INVALID;
			out[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	return n == 32 && hi < 0 ? 0 : CAP_ERR_INVALID;
}

static void
scep_destroy(void *state)
{
	struct scep *s = state;

	if (s == NULL)
		return;
	if (s->challenge != NULL) {
		sodium_memzero(s->challenge, s->challenge_len);
		sodium_free(s->challenge);
	}
	SSL_CTX_free(s->tls);
	sk_X509_pop_free(s->ca_certs, X509_free);
	X509_free(s->recipient);
	pthread_mutex_destroy(&s->mtx);
	sodium_memzero(s, sizeof(*s));
	free(s);
}

static int
scep_create(const char *name, json_t *settings, const struct ca_env *env,
    void **state, char *err, size_t errlen)
{
	struct scep *s = NULL;
	const char *url, *chal, *fp, *trusted;
	json_t *j;
	int r = CAP_ERR_INVALID;

	*state = NULL;
	if (sodium_init() < 0 || (r = oids()) != 0)
		return CAP_ERR_INTERNAL;
	r = CAP_ERR_INVALID;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return CAP_ERR_NOMEM;
	pthread_mutex_init(&s->mtx, NULL);
	snprintf(s->name, sizeof(s->name), "%s", name != NULL ? name : "");
	if (env != NULL)
		s->env = *env;
	if (!json_is_object(settings)) {
		snprintf(err, errlen, "scep: settings must be an object");
		goto out;
	}
	if ((url = json_string_value(json_object_get(settings, "url")))
	    == NULL || http_url_parse(url, &s->url) != 0) {
		snprintf(err, errlen, "scep: \"url\" must be an http:// or "
		    "https:// URL without query");
		goto out;
	}
	if ((j = json_object_get(settings, "challenge")) != NULL) {
		if ((chal = json_string_value(j)) == NULL ||
		    (s->challenge_len = strlen(chal)) == 0 ||
		    s->challenge_len > 255) {
			snprintf(err, errlen, "scep: \"challenge\" must be "
			    "a string of 1 to 255 bytes");
			goto out;
		}
		if ((s->challenge = sodium_malloc(s->challenge_len + 1))
		    == NULL) {
			r = CAP_ERR_NOMEM;
			goto out;
		}
		memcpy(s->challenge, chal, s->challenge_len + 1);
	}
	if ((j = json_object_get(settings, "ca_fingerprint")) != NULL) {
		if ((fp = json_string_value(j)) == NULL ||
		    hex_pin(fp, s->pin) != 0) {
			snprintf(err, errlen, "scep: \"ca_fingerprint\" must "
			    "be the SHA-256 of the CA certificate in hex");
			goto out;
		}
		s->has_pin = 1;
	}
	trusted = json_string_value(json_object_get(settings, "trusted"));
	if (s->url.tls && http_tls_client_ctx(trusted, &s->tls) != 0) {
		snprintf(err, errlen, "scep: \"trusted\" must hold PEM "
		    "certificates for the https server");
		goto out;
	}
	*state = s;
	s = NULL;
	r = 0;
 out:
	scep_destroy(s);
	return r;
}

/* ---- HTTP ---- */

static int
scep_get(struct scep *s, const char *op, const char *msg,
    struct http_response **out)
{
	char pq[2048];
	struct http_request q;
	int n, r;

	*out = NULL;
	n = snprintf(pq, sizeof(pq), "%s?operation=%s%s%s", s->url.path, op,
	    msg != NULL ? "&message=" : "", msg != NULL ? msg : "");
	if (n < 0 || (size_t)n >= sizeof(pq))
		return CAP_ERR_TOO_LARGE;
	memset(&q, 0, sizeof(q));
	q.method = "GET";
	q.url = &s->url;
	q.path_query = pq;
	q.tls = s->tls;
	q.max_body = SCEP_MSG_MAX;
	if ((r = http_request_do(&q, out)) != 0)
		return r;
	if ((*out)->status != 200) {
		log_warn("scep %s: %s answered HTTP %d", s->name, op,
		    (*out)->status);
		http_response_free(*out);
		*out = NULL;
		return CAP_ERR_UNAVAILABLE;
	}
	return 0;
}

static void
caps_parse(const uint8_t *b, size_t len, struct scep_caps *c)
{
	char line[64];
	size_t i = 0, n;

	memset(c, 0, sizeof(*c));
	while (i < len) {
		for (n = 0; i < len && b[i] != '\n' && b[i] != '\r'; i++)
			if (n < sizeof(line) - 1)
				line[n++] = (char)b[i];
		line[n] = '\0';
		while (i < len && (b[i] == '\n' || b[i] == '\r'))
			i++;
		if (strcasecmp(line, "Renewal") == 0)
			c->renewal = 1;
		else if (strcasecmp(line, "SHA-256") == 0)
			c->sha256 = 1;
		else if (strcasecmp(line, "AES") == 0)
			c->aes = 1;
		else if (strcasecmp(line, "DES3") == 0)
			c->des3 = 1;
		else if (strcasecmp(line, "POSTPKIOperation") == 0)
			c->post = 1;
		else if (strcasecmp(line, "SCEPStandard") == 0)
			c->sha256 = c->aes = c->post = 1;
	}
}

static int
is_ca(X509 *x)
{
	return X509_check_ca(x) > 0;
}

/* Fetches capabilities and CA/RA certificates once; called locked. */
static int
ca_load(struct scep *s)
{
	struct http_response *resp = NULL;
	STACK_OF(X509) *certs = NULL;
	const unsigned char *p;
	uint8_t md[32];
	unsigned mdlen;
	X509 *x = NULL, *recip = NULL, *c;
	int i, pinned = 0, r;

	if (s->have_ca)
		return 0;
	if ((r = scep_get(s, "GetCACaps", NULL, &resp)) != 0)
		goto out;
	caps_parse(resp->body, resp->body_len, &s->caps);
	http_response_free(resp);
	resp = NULL;
	if ((r = scep_get(s, "GetCACert", "capstone", &resp)) != 0)
		goto out;
	r = CAP_ERR_CRYPTO;
	if (strcmp(resp->content_type, "application/x-x509-ca-cert") == 0) {
		p = resp->body;
		if ((x = d2i_X509(NULL, &p, (long)resp->body_len)) == NULL ||
		    p != resp->body + resp->body_len ||
		    (certs = sk_X509_new_null()) == NULL ||
		    !sk_X509_push(certs, x)) {
			log_warn("scep %s: GetCACert: not a DER certificate",
			    s->name);
			X509_free(x);
			goto out;
		}
	} else if (strcmp(resp->content_type,
	    "application/x-x509-ca-ra-cert") == 0) {
		if (ca_certs_only_parse(resp->body, resp->body_len,
		    &certs) != 0) {
			log_warn("scep %s: GetCACert: not a certs-only "
			    "PKCS#7", s->name);
			goto out;
		}
	} else {
		log_warn("scep %s: GetCACert: unexpected content type '%s'",
		    s->name, resp->content_type);
		goto out;
	}
	/* The envelope goes to an RA that can take keys, else to the CA. */
	for (i = 0; i < sk_X509_num(certs); i++) {
		c = sk_X509_value(certs, i);
		if (s->has_pin && X509_digest(c, EVP_sha256(), md, &mdlen) &&
		    mdlen == 32 && sodium_memcmp(md, s->pin, 32) == 0)
			pinned = 1;
		if (!is_ca(c) && (X509_get_key_usage(c) &
		    KU_KEY_ENCIPHERMENT) != 0 && recip == NULL)
			recip = c;
	}
	for (i = 0; recip == NULL && i < sk_X509_num(certs); i++)
		if (!is_ca(sk_X509_value(certs, i)))
			recip = sk_X509_value(certs, i);
	if (recip == NULL)
		recip = sk_X509_value(certs, 0);
	if (s->has_pin && !pinned) {
		log_error("scep %s: no certificate from GetCACert matches "
		    "ca_fingerprint", s->name);
		goto out;
	}
	if (!s->has_pin && !s->url.tls)
		log_warn("scep %s: CA certificate taken from plain HTTP "
		    "without a ca_fingerprint pin", s->name);
	if (!X509_up_ref(recip))
		goto out;
	s->recipient = recip;
	s->ca_certs = certs;
	certs = NULL;
	s->have_ca = 1;
	r = 0;
 out:
	sk_X509_pop_free(certs, X509_free);
	http_response_free(resp);
	ERR_clear_error();
	return r;
}

static int
ca_ready(struct scep *s)
{
	int r;

	pthread_mutex_lock(&s->mtx);
	r = ca_load(s);
	pthread_mutex_unlock(&s->mtx);
	return r;
}

/* ---- request side ---- */

static int
load_key(struct scep *s, const char *uri, EVP_PKEY **out,
    struct ca_result *res)
{
	int r;

	*out = NULL;
	if (uri == NULL) {
		set_reason(res, "scep: no key URI for the request key");
		return CAP_ERR_INVALID;
	}
	if ((r = hsm_evp_pkey_load(uri, s->env.token_module,
	    s->env.token_pin, out)) != 0) {
		set_reason(res, "scep: the request key cannot be "
		    "loaded from the token");
		return r;
	}
	if (EVP_PKEY_get_base_id(*out) != EVP_PKEY_RSA) {
		EVP_PKEY_free(*out);
		*out = NULL;
		set_reason(res, "scep: SCEP needs an RSA key (the CA "
		    "encrypts its answer to the request key)");
		return CAP_ERR_INVALID;
	}
	return 0;
}

/* transactionID: hex SHA-256 of the request's SubjectPublicKeyInfo. */
static int
make_tid(X509_REQ *csr, char out[65])
{
	unsigned char *der = NULL;
	uint8_t md[32];
	EVP_PKEY *pk;
	int len, i;

	if ((pk = X509_REQ_get0_pubkey(csr)) == NULL ||
	    (len = i2d_PUBKEY(pk, &der)) <= 0)
		return CAP_ERR_INVALID;
	SHA256(der, (size_t)len, md);
	OPENSSL_free(der);
	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02X", md[i]);
	return 0;
}

/* A transient self-signed certificate for the request key. */
static int
signer_selfsigned(X509_REQ *csr, EVP_PKEY *pk, X509 **out)
{
	X509 *x = NULL;
	ASN1_INTEGER *sn = NULL;
	BIGNUM *bn = NULL;
	X509_NAME *nm;
	int r = CAP_ERR_CRYPTO;

	*out = NULL;
	if ((x = X509_new()) == NULL || (bn = BN_new()) == NULL ||
	    !BN_rand(bn, 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
	    (sn = BN_to_ASN1_INTEGER(bn, NULL)) == NULL)
		goto out;
	nm = X509_REQ_get_subject_name(csr);
	if (!X509_set_version(x, 2) || !X509_set_serialNumber(x, sn) ||
	    !X509_set_subject_name(x, nm) || !X509_set_issuer_name(x, nm) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 86400) == NULL ||
	    !X509_set_pubkey(x, pk) || X509_sign(x, pk, EVP_sha256()) <= 0) {
		log_ossl("making the transient signer certificate");
		goto out;
	}
	*out = x;
	x = NULL;
	r = 0;
 out:
	X509_free(x);
	ASN1_INTEGER_free(sn);
	BN_free(bn);
	return r;
}

/* The request with the challenge password added, re-signed in the token. */
static int
csr_with_challenge(struct scep *s, X509_REQ *csr, EVP_PKEY *newkey,
    uint8_t **der, int *derlen)
{
	X509_REQ *dup = NULL;
	const unsigned char *p;
	int r = CAP_ERR_CRYPTO;

	*der = NULL;
	*derlen = 0;
	if (s->challenge == NULL ||
	    X509_REQ_get_attr_by_NID(csr, NID_pkcs9_challengePassword,
	    -1) >= 0) {
		if ((*derlen = i2d_X509_REQ(csr, der)) <= 0)
			goto out;
		r = 0;
		goto out;
	}
	/* X509_REQ_dup fails on OpenSSL 3.0 (NULL propq); go through DER. */
	if (newkey == NULL || (*derlen = i2d_X509_REQ(csr, der)) <= 0)
		goto out;
	p = *der;
	dup = d2i_X509_REQ(NULL, &p, *derlen);
	OPENSSL_free(*der);
	*der = NULL;
	*derlen = 0;
	if (dup == NULL)
		goto out;
	if (!X509_REQ_add1_attr_by_NID(dup, NID_pkcs9_challengePassword,
	    MBSTRING_UTF8, (const unsigned char *)s->challenge,
	    (int)s->challenge_len) ||
	    X509_REQ_sign(dup, newkey, EVP_sha256()) <= 0) {
		log_ossl("adding the challenge password to the request");
		goto out;
	}
	if ((*derlen = i2d_X509_REQ(dup, der)) <= 0)
		goto out;
	r = 0;
 out:
	X509_REQ_free(dup);
	return r;
}

static int
add_str_attr(CMS_SignerInfo *si, int nid, int type, const void *p, int len)
{
	return CMS_signed_add1_attr_by_NID(si, nid, type, p, len) == 1;
}

/* Builds the pkiMessage for a message type around inner (the plaintext). */
static int
pki_message(struct scep *s, struct scep_tx *tx, const char *mtype,
    const uint8_t *inner, size_t innerlen, uint8_t **out, size_t *outlen)
{
	STACK_OF(X509) *rcpt = NULL;
	CMS_ContentInfo *env = NULL, *sd = NULL;
	CMS_SignerInfo *si;
	BIO *in = NULL, *envbio = NULL, *outbio = NULL;
	const EVP_CIPHER *cipher;
	unsigned char *envder = NULL;
	int envlen, r = CAP_ERR_CRYPTO;
	BUF_MEM *bm;

	*out = NULL;
	*outlen = 0;
	cipher = s->caps.aes ? EVP_aes_128_cbc() : EVP_des_ede3_cbc();
	if ((rcpt = sk_X509_new_null()) == NULL ||
	    !sk_X509_push(rcpt, s->recipient) ||
	    (in = BIO_new_mem_buf(inner, (int)innerlen)) == NULL)
		goto out;
	if ((env = CMS_encrypt(rcpt, in, cipher, CMS_BINARY)) == NULL ||
	    (envlen = i2d_CMS_ContentInfo(env, &envder)) <= 0) {
		log_ossl("enveloping the request");
		goto out;
	}
	if ((envbio = BIO_new_mem_buf(envder, envlen)) == NULL ||
	    (sd = CMS_sign(NULL, NULL, NULL, NULL, CMS_BINARY |
	    CMS_PARTIAL)) == NULL ||
	    (si = CMS_add1_signer(sd, tx->signer_cert, tx->signer_key,
	    s->caps.sha256 ? EVP_sha256() : EVP_sha1(), CMS_BINARY |
	    CMS_NOSMIMECAP | CMS_PARTIAL)) == NULL)
		goto out;
	if (!add_str_attr(si, nid_msgtype, V_ASN1_PRINTABLESTRING, mtype,
	    (int)strlen(mtype)) ||
	    !add_str_attr(si, nid_tid, V_ASN1_PRINTABLESTRING, tx->tid,
	    (int)strlen(tx->tid)) ||
	    !add_str_attr(si, nid_snonce, V_ASN1_OCTET_STRING, tx->nonce,
	    SCEP_NONCE_LEN))
		goto out;
	if (CMS_final(sd, envbio, NULL, CMS_BINARY) != 1) {
		log_ossl("signing the pkiMessage in the token");
		goto out;
	}
	if ((outbio = BIO_new(BIO_s_mem())) == NULL ||
	    i2d_CMS_bio(outbio, sd) != 1)
		goto out;
	BIO_get_mem_ptr(outbio, &bm);
	if ((*out = malloc(bm->length)) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	memcpy(*out, bm->data, bm->length);
	*outlen = bm->length;
	r = 0;
 out:
	if (r != 0)
		log_ossl("building the pkiMessage");
	sk_X509_free(rcpt);
	CMS_ContentInfo_free(env);
	CMS_ContentInfo_free(sd);
	BIO_free(in);
	BIO_free(envbio);
	BIO_free(outbio);
	OPENSSL_free(envder);
	return r;
}

static int
url_escape_b64(const char *b64, char **out)
{
	size_t i, n = strlen(b64);
	char *o, *p;

	if ((o = malloc(n * 3 + 1)) == NULL)
		return CAP_ERR_NOMEM;
	for (p = o, i = 0; i < n; i++) {
		if (b64[i] == '+' || b64[i] == '/' || b64[i] == '=')
			p += sprintf(p, "%%%02X", (unsigned char)b64[i]);
		else
			*p++ = b64[i];
	}
	*p = '\0';
	*out = o;
	return 0;
}

static int
pki_operation(struct scep *s, const uint8_t *msg, size_t len,
    struct http_response **out)
{
	struct http_request q;
	char pq[1200], *b64 = NULL, *esc = NULL;
	size_t b64len;
	int r;

	*out = NULL;
	if (!s->caps.post) {
		/* GET with the base64 message in the query. */
		if ((r = http_b64_encode(msg, len, &b64, &b64len)) != 0 ||
		    (r = url_escape_b64(b64, &esc)) != 0)
			goto out;
		r = scep_get(s, "PKIOperation", esc, out);
		goto check;
	}
	snprintf(pq, sizeof(pq), "%s?operation=PKIOperation", s->url.path);
	memset(&q, 0, sizeof(q));
	q.method = "POST";
	q.url = &s->url;
	q.path_query = pq;
	q.content_type = "application/x-pki-message";
	q.body = msg;
	q.body_len = len;
	q.tls = s->tls;
	q.max_body = SCEP_MSG_MAX;
	if ((r = http_request_do(&q, out)) != 0)
		goto out;
	if ((*out)->status != 200) {
		log_warn("scep %s: PKIOperation answered HTTP %d", s->name,
		    (*out)->status);
		r = (*out)->status >= 500 ? CAP_ERR_UNAVAILABLE :
		    CAP_ERR_CRYPTO;
		goto out;
	}
 check:
	if (r == 0 && strcmp((*out)->content_type,
	    "application/x-pki-message") != 0) {
		log_warn("scep %s: PKIOperation: unexpected content type "
		    "'%s'", s->name, (*out)->content_type);
		r = CAP_ERR_CRYPTO;
	}
 out:
	if (r != 0) {
		http_response_free(*out);
		*out = NULL;
	}
	free(b64);
	free(esc);
	return r;
}

/* ---- response side ---- */

static int
attr_string(CMS_SignerInfo *si, int nid, int type, char *buf, size_t len,
    size_t *outlen)
{
	X509_ATTRIBUTE *a;
	ASN1_TYPE *t;
	const ASN1_STRING *str;
	int idx;

	if ((idx = CMS_signed_get_attr_by_NID(si, nid, -1)) < 0 ||
	    (a = CMS_signed_get_attr(si, idx)) == NULL ||
	    X509_ATTRIBUTE_count(a) != 1 ||
	    (t = X509_ATTRIBUTE_get0_type(a, 0)) == NULL ||
	    ASN1_TYPE_get(t) != type)
		return CAP_ERR_NOT_FOUND;
	str = t->value.asn1_string;
	if (str == NULL || (size_t)ASN1_STRING_length(str) >= len)
		return CAP_ERR_INVALID;
	memcpy(buf, ASN1_STRING_get0_data(str),
	    (size_t)ASN1_STRING_length(str));
	buf[ASN1_STRING_length(str)] = '\0';
	if (outlen != NULL)
		*outlen = (size_t)ASN1_STRING_length(str);
	return 0;
}

static const char *
failinfo_text(const char *fi)
{
	if (strcmp(fi, "0") == 0)
		return "badAlg: unrecognized or unsupported algorithm";
	if (strcmp(fi, "1") == 0)
		return "badMessageCheck: integrity check failed";
	if (strcmp(fi, "2") == 0)
		return "badRequest: transaction not permitted or supported "
		    "(for example a wrong challenge password)";
	if (strcmp(fi, "3") == 0)
		return "badTime: signing time too far from the CA's time";
	if (strcmp(fi, "4") == 0)
		return "badCertId: no certificate matches the criteria";
	return "unknown failInfo";
}

/*
 * scep_certrep_parse checks a CertRep against the CA/RA certificates and
 * the transaction, and returns its status and, on SUCCESS, the inner
 * EnvelopedData (DER) still to be decrypted.  Exposed for the unit and
 * fuzz tests.
 */
int scep_certrep_parse(const uint8_t *der, size_t len,
    STACK_OF(X509) *ca_certs, const char *tid,
    const uint8_t nonce[SCEP_NONCE_LEN], int *status, char *reason,
    size_t reasonlen, uint8_t **env, size_t *envlen);

int
scep_certrep_parse(const uint8_t *der, size_t len, STACK_OF(X509) *ca_certs,
    const char *tid, const uint8_t nonce[SCEP_NONCE_LEN], int *status,
    char *reason, size_t reasonlen, uint8_t **env, size_t *envlen)
{
	const unsigned char *p = der;
	CMS_ContentInfo *cms = NULL;
	STACK_OF(CMS_SignerInfo) *sis;
	CMS_SignerInfo *si;
	ASN1_OCTET_STRING **pos;
	BIO *dcont = NULL, *out = NULL;
	BUF_MEM *bm;
	char buf[128], mt[8], ps[8];
	size_t blen;
	int i, found = 0, r = CAP_ERR_CRYPTO;

	*status = -1;
	*env = NULL;
	*envlen = 0;
	if (reasonlen > 0)
		reason[0] = '\0';
	if (oids() != 0)
		return CAP_ERR_INTERNAL;
	if (len == 0 || len > SCEP_MSG_MAX)
		return CAP_ERR_TOO_LARGE;
	if ((cms = d2i_CMS_ContentInfo(NULL, &p, (long)len)) == NULL ||
	    p != der + len ||
	    OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed ||
	    (sis = CMS_get0_SignerInfos(cms)) == NULL ||
	    sk_CMS_SignerInfo_num(sis) != 1) {
		snprintf(reason, reasonlen, "CertRep is not a SignedData "
		    "with one signer");
		goto out;
	}
	si = sk_CMS_SignerInfo_value(sis, 0);
	/* The signer must be one of the CA/RA certificates we hold. */
	for (i = 0; i < sk_X509_num(ca_certs); i++)
		if (CMS_SignerInfo_cert_cmp(si, sk_X509_value(ca_certs, i))
		    == 0)
			found = 1;
	if (!found) {
		snprintf(reason, reasonlen, "CertRep not signed by the CA "
		    "or its RA");
		goto out;
	}
	pos = CMS_get0_content(cms);
	if (pos == NULL || *pos == NULL) {
		if ((dcont = BIO_new_mem_buf("", 0)) == NULL)
			goto out;
	}
	if ((out = BIO_new(BIO_s_mem())) == NULL)
		goto out;
	if (CMS_verify(cms, ca_certs, NULL, dcont, out, CMS_BINARY |
	    CMS_NOINTERN | CMS_NO_SIGNER_CERT_VERIFY) != 1) {
		snprintf(reason, reasonlen, "CertRep signature does not "
		    "verify against the CA/RA certificate");
		goto out;
	}
	if (attr_string(si, nid_msgtype, V_ASN1_PRINTABLESTRING, mt,
	    sizeof(mt), NULL) != 0 || strcmp(mt, MT_CERTREP) != 0) {
		snprintf(reason, reasonlen, "answer is not a CertRep");
		goto out;
	}
	if (attr_string(si, nid_tid, V_ASN1_PRINTABLESTRING, buf,
	    sizeof(buf), NULL) != 0 || strcmp(buf, tid) != 0) {
		snprintf(reason, reasonlen, "CertRep transactionID does not "
		    "match the request");
		goto out;
	}
	if (attr_string(si, nid_rnonce, V_ASN1_OCTET_STRING, buf,
	    sizeof(buf), &blen) != 0 || blen != SCEP_NONCE_LEN ||
	    sodium_memcmp(buf, nonce, SCEP_NONCE_LEN) != 0) {
		snprintf(reason, reasonlen, "CertRep recipientNonce does not "
		    "match our senderNonce");
		goto out;
	}
	if (attr_string(si, nid_status, V_ASN1_PRINTABLESTRING, ps,
	    sizeof(ps), NULL) != 0) {
		snprintf(reason, reasonlen, "CertRep without pkiStatus");
		goto out;
	}
	if (strcmp(ps, "0") == 0) {
		*status = PS_SUCCESS;
		BIO_get_mem_ptr(out, &bm);
		if (bm->length == 0) {
			snprintf(reason, reasonlen, "CertRep SUCCESS without "
			    "content");
			goto out;
		}
		if ((*env = malloc(bm->length)) == NULL) {
			r = CAP_ERR_NOMEM;
			goto out;
		}
		memcpy(*env, bm->data, bm->length);
		*envlen = bm->length;
	} else if (strcmp(ps, "2") == 0) {
		*status = PS_FAILURE;
		if (attr_string(si, nid_failinfo, V_ASN1_PRINTABLESTRING,
		    buf, sizeof(buf), NULL) != 0)
			snprintf(buf, sizeof(buf), "?");
		snprintf(reason, reasonlen, "the SCEP CA refused the "
		    "request: %s", failinfo_text(buf));
	} else if (strcmp(ps, "3") == 0)
		*status = PS_PENDING;
	else {
		snprintf(reason, reasonlen, "CertRep with unknown pkiStatus");
		goto out;
	}
	r = 0;
 out:
	CMS_ContentInfo_free(cms);
	BIO_free(dcont);
	BIO_free(out);
	ERR_clear_error();
	return r;
}

/*
 * Deployed SCEP servers (micromdm's among them) still encrypt CertReps
 * with single DES, which OpenSSL 3 keeps in the legacy provider.  A
 * private library context holding the default and legacy providers opens
 * those envelopes without enabling legacy algorithms process-wide; what
 * we send is always AES or 3DES.
 */
static OSSL_LIB_CTX *legacy_ctx;
static pthread_once_t legacy_once = PTHREAD_ONCE_INIT;

static void
legacy_init(void)
{
	OSSL_LIB_CTX *ctx;

	if ((ctx = OSSL_LIB_CTX_new()) == NULL)
		return;
	if (OSSL_PROVIDER_load(ctx, "default") == NULL) {
		OSSL_LIB_CTX_free(ctx);
		ERR_clear_error();
		return;
	}
	if (OSSL_PROVIDER_load(ctx, "legacy") == NULL)
		log_warn("scep: OpenSSL legacy provider unavailable; "
		    "DES-encrypted CertReps cannot be opened");
	ERR_clear_error();
	legacy_ctx = ctx;
}

/* Opens the EnvelopedData with the signer key (in the token). */
static int
open_envelope(struct scep_tx *tx, const uint8_t *env, size_t envlen,
    uint8_t **out, size_t *outlen)
{
	const unsigned char *p = env;
	CMS_ContentInfo *cms = NULL;
	BIO *ob = NULL;
	BUF_MEM *bm;
	int r = CAP_ERR_CRYPTO;

	*out = NULL;
	*outlen = 0;
	pthread_once(&legacy_once, legacy_init);
	if (legacy_ctx != NULL &&
	    (cms = CMS_ContentInfo_new_ex(legacy_ctx, NULL)) == NULL)
		goto out;
	if (d2i_CMS_ContentInfo(&cms, &p, (long)envlen) == NULL ||
	    OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_enveloped ||
	    (ob = BIO_new(BIO_s_mem())) == NULL)
		goto out;
	if (CMS_decrypt(cms, tx->signer_key, tx->signer_cert, NULL, ob,
	    CMS_BINARY) != 1) {
		log_ossl("decrypting the CertRep with the token key");
		goto out;
	}
	BIO_get_mem_ptr(ob, &bm);
	if (bm->length == 0 || (*out = malloc(bm->length)) == NULL)
		goto out;
	memcpy(*out, bm->data, bm->length);
	*outlen = bm->length;
	r = 0;
 out:
	CMS_ContentInfo_free(cms);
	BIO_free(ob);
	ERR_clear_error();
	return r;
}

static int
take_cert(struct scep *s, X509_REQ *csr, const uint8_t *der, size_t len,
    struct ca_result *res)
{
	STACK_OF(X509) *certs = NULL;
	int r;

	if (ca_certs_only_parse(der, len, &certs) != 0) {
		set_reason(res, "scep: the CertRep does not hold a "
		    "certs-only PKCS#7");
		return CAP_ERR_CRYPTO;
	}
	r = ca_result_issue(csr, certs, s->ca_certs, "scep", res);
	sk_X509_pop_free(certs, X509_free);
	return r;
}

/* IssuerAndSubject ::= SEQUENCE { issuer Name, subject Name } */
static int
issuer_and_subject(X509_NAME *iss, X509_NAME *sub, uint8_t **out,
    size_t *outlen)
{
	unsigned char *a = NULL, *b = NULL;
	uint8_t *o;
	int al, bl;
	size_t n, h = 0;
	int r = CAP_ERR_INVALID;

	*out = NULL;
	*outlen = 0;
	if ((al = i2d_X509_NAME(iss, &a)) <= 0 ||
	    (bl = i2d_X509_NAME(sub, &b)) <= 0)
		goto out;
	n = (size_t)al + (size_t)bl;
	if (n > 0xffff)
		goto out;
	if ((o = malloc(n + 4)) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	o[h++] = 0x30;
	if (n < 0x80)
		o[h++] = (uint8_t)n;
	else if (n < 0x100) {
		o[h++] = 0x81;
		o[h++] = (uint8_t)n;
	} else {
		o[h++] = 0x82;
		o[h++] = (uint8_t)(n >> 8);
		o[h++] = (uint8_t)n;
	}
	memcpy(o + h, a, (size_t)al);
	memcpy(o + h + (size_t)al, b, (size_t)bl);
	*out = o;
	*outlen = h + n;
	r = 0;
 out:
	OPENSSL_free(a);
	OPENSSL_free(b);
	return r;
}

static X509 *
issuing_ca(struct scep *s)
{
	int i;

	for (i = 0; i < sk_X509_num(s->ca_certs); i++)
		if (is_ca(sk_X509_value(s->ca_certs, i)))
			return sk_X509_value(s->ca_certs, i);
	return sk_X509_value(s->ca_certs, 0);
}

/*
 * One transaction: kind is MT_PKCSREQ, MT_RENEWAL or MT_CERTPOLL.  For a
 * renewal the signer is the old certificate with its key, otherwise a
 * transient certificate for the request key.
 */
static int
transact(struct scep *s, const struct ca_request *req, const char *kind,
    int renewal, struct ca_result *res)
{
	struct scep_tx tx;
	struct http_response *resp = NULL;
	EVP_PKEY *newkey = NULL;
	uint8_t *inner = NULL, *msg = NULL, *env = NULL, *certs = NULL;
	size_t innerlen = 0, msglen = 0, envlen = 0, certslen = 0;
	int derlen = 0, status, r;

	memset(&tx, 0, sizeof(tx));
	memset(res, 0, sizeof(*res));
	if (req == NULL || req->csr == NULL) {
		set_reason(res, "scep: no certificate request");
		r = CAP_ERR_INVALID;
		goto out;
	}
	if ((r = ca_ready(s)) != 0) {
		set_reason(res, r == CAP_ERR_CRYPTO ?
		    "scep: the CA certificate could not be obtained or does "
		    "not match ca_fingerprint" : "scep: the CA is unreachable");
		goto out;
	}
	if ((r = make_tid(req->csr, tx.tid)) != 0)
		goto out;
	if (strcmp(kind, MT_CERTPOLL) == 0 && req->pending_id != NULL &&
	    strcmp(req->pending_id, tx.tid) != 0) {
		set_reason(res, "scep: the pending id does not belong "
		    "to this request");
		r = CAP_ERR_INVALID;
		goto out;
	}
	if (renewal) {
		if ((r = load_key(s, req->old_key_uri, &tx.signer_key,
		    res)) != 0)
			goto out;
		if (!X509_up_ref(req->old_cert)) {
			r = CAP_ERR_INTERNAL;
			goto out;
		}
		tx.signer_cert = req->old_cert;
	} else {
		if ((r = load_key(s, req->key_uri, &tx.signer_key, res)) != 0)
			goto out;
		if ((r = signer_selfsigned(req->csr, tx.signer_key,
		    &tx.signer_cert)) != 0)
			goto out;
	}
	randombytes_buf(tx.nonce, sizeof(tx.nonce));

	if (strcmp(kind, MT_CERTPOLL) == 0)
		r = issuer_and_subject(X509_get_subject_name(issuing_ca(s)),
		    X509_REQ_get_subject_name(req->csr), &inner, &innerlen);
	else {
		if (s->challenge != NULL && renewal &&
		    (r = hsm_evp_pkey_load(req->key_uri,
		    s->env.token_module, s->env.token_pin, &newkey)) != 0) {
			set_reason(res, "scep: the new key cannot be "
			    "loaded from the token");
			goto out;
		}
		r = csr_with_challenge(s, req->csr, renewal ? newkey :
		    tx.signer_key, &inner, &derlen);
		innerlen = (size_t)derlen;
	}
	if (r != 0)
		goto out;
	if ((r = pki_message(s, &tx, kind, inner, innerlen, &msg,
	    &msglen)) != 0)
		goto out;
	if ((r = pki_operation(s, msg, msglen, &resp)) != 0) {
		set_reason(res, r == CAP_ERR_UNAVAILABLE ?
		    "scep: the CA is unreachable" :
		    "scep: the CA gave no pkiMessage");
		goto out;
	}
	if ((r = scep_certrep_parse(resp->body, resp->body_len, s->ca_certs,
	    tx.tid, tx.nonce, &status, res->reason, sizeof(res->reason),
	    &env, &envlen)) != 0) {
		log_warn("scep %s: %s", s->name, res->reason);
		goto out;
	}
	if (status == PS_FAILURE) {
		log_info("scep %s: %s", s->name, res->reason);
		res->status = CA_REJECTED;
		r = CAP_ERR_DENIED;
		goto out;
	}
	if (status == PS_PENDING) {
		res->status = CA_PENDING;
		snprintf(res->pending_id, sizeof(res->pending_id), "%s",
		    tx.tid);
		res->retry_after = 60;
		r = 0;
		goto out;
	}
	if ((r = open_envelope(&tx, env, envlen, &certs, &certslen)) != 0) {
		set_reason(res, "scep: the CertRep envelope does not "
		    "open with the request key");
		goto out;
	}
	r = take_cert(s, req->csr, certs, certslen, res);
 out:
	EVP_PKEY_free(tx.signer_key);
	EVP_PKEY_free(newkey);
	X509_free(tx.signer_cert);
	http_response_free(resp);
	free(inner);
	free(msg);
	free(env);
	free(certs);
	sodium_memzero(&tx, sizeof(tx));
	if (r != 0 && res->status != CA_REJECTED) {
		X509_free(res->cert);
		res->cert = NULL;
		sk_X509_pop_free(res->chain, X509_free);
		res->chain = NULL;
	}
	return r;
}

static int
scep_enroll(void *state, const struct ca_request *req, struct ca_result *res)
{
	return transact(state, req, MT_PKCSREQ, 0, res);
}

static int
scep_renew(void *state, const struct ca_request *req, struct ca_result *res)
{
	struct scep *s = state;
	int r;

	if (req == NULL || req->old_cert == NULL || req->old_key_uri == NULL)
		return scep_enroll(state, req, res);
	if ((r = ca_ready(s)) != 0) {
		memset(res, 0, sizeof(*res));
		set_reason(res, "scep: the CA is unreachable");
		return r;
	}
	/* RenewalReq where advertised, else a PKCSReq signed by the old pair. */
	return transact(s, req, s->caps.renewal ? MT_RENEWAL : MT_PKCSREQ, 1,
	    res);
}

static int
scep_poll(void *state, const struct ca_request *req, struct ca_result *res)
{
	return transact(state, req, MT_CERTPOLL,
	    req != NULL && req->old_cert != NULL && req->old_key_uri != NULL,
	    res);
}

static int
scep_chain(void *state, STACK_OF(X509) **out)
{
	struct scep *s = state;
	STACK_OF(X509) *sk = NULL, *rest = NULL;
	X509 *ca;
	int i, r;

	*out = NULL;
	if ((r = ca_ready(s)) != 0)
		return r;
	/* The issuing CA, then its issuers; RA certificates are left out. */
	ca = issuing_ca(s);
	if ((sk = sk_X509_new_null()) == NULL || !X509_up_ref(ca))
		goto nomem;
	if (!sk_X509_push(sk, ca)) {
		X509_free(ca);
		goto nomem;
	}
	if (ca_chain_build(ca, s->ca_certs, &rest) != 0)
		goto nomem;
	for (i = 0; i < sk_X509_num(rest); i++)
		if (!sk_X509_push(sk, sk_X509_value(rest, i)))
			goto nomem;
		else if (!X509_up_ref(sk_X509_value(rest, i)))
			goto nomem;
	sk_X509_pop_free(rest, X509_free);
	*out = sk;
	return 0;
 nomem:
	sk_X509_pop_free(rest, X509_free);
	sk_X509_pop_free(sk, X509_free);
	return CAP_ERR_NOMEM;
}

static int
scep_describe(void *state, json_t *out)
{
	struct scep *s = state;
	char url[1400];

	snprintf(url, sizeof(url), "%s://%s:%s%s", s->url.tls ? "https" :
	    "http", s->url.host, s->url.port, s->url.path);
	if (json_object_set_new(out, "url", json_string(url)) != 0 ||
	    json_object_set_new(out, "challenge_set",
	    json_boolean(s->challenge != NULL)) != 0 ||
	    json_object_set_new(out, "ca_pinned",
	    json_boolean(s->has_pin)) != 0)
		return CAP_ERR_NOMEM;
	pthread_mutex_lock(&s->mtx);
	if (s->have_ca && (json_object_set_new(out, "renewal",
	    json_boolean(s->caps.renewal)) != 0 ||
	    json_object_set_new(out, "post", json_boolean(s->caps.post)) != 0)) {
		pthread_mutex_unlock(&s->mtx);
		return CAP_ERR_NOMEM;
	}
	pthread_mutex_unlock(&s->mtx);
	return 0;
}

const struct ca_ops ca_scep_ops = {
	.protocol = "scep",
	.create = scep_create,
	.destroy = scep_destroy,
	.enroll = scep_enroll,
	.renew = scep_renew,
	.poll = scep_poll,
	.chain = scep_chain,
	.describe = scep_describe,
};
