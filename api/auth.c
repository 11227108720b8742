/*
 * auth.c - who is calling (a bearer token, or the verified client
 * certificate) and whether they may do what they ask (the policy cache and
 * api_authorize, the one decision every handler goes through).
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "api/api_int.h"
#include "api/policy.h"
#include "api/reply.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "crypto/token.h"
#include "store/auth.h"

#define ADMINS_MAX	64	/* patterns in [auth] admins */

struct api_authz {
	pthread_rwlock_t	 lock;		/* guards v, n */
	pthread_mutex_t		 reload;	/* one api_authz_load at a time */
	policy			**v;
	size_t			 n;
	char			**admins;	/* immutable after _new */
	size_t			 nadmins;
};

/* ---- identities ---- */

/* 1 if s[0..len) holds no control character and no NUL. */
static int
printable(const unsigned char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/* Appends "prefix" + value as the next SAN, when it fits and is clean. */
static void
san_add(struct api_identity *id, const char *prefix, const unsigned char *v,
    size_t len)
{
	size_t plen = strlen(prefix);

	if (id->nsans == API_SAN_MAX) {
		log_debug("api: client certificate SAN left out (over %d)",
		    API_SAN_MAX);
		return;
	}
	if (len == 0 || plen + len >= API_SAN_LEN || !printable(v, len)) {
		log_debug("api: client certificate SAN left out (empty, too "
		    "long or not printable)");
		return;
	}
	memcpy(id->sans[id->nsans], prefix, plen);
	memcpy(id->sans[id->nsans] + plen, v, len);
	id->sans[id->nsans][plen + len] = '\0';
	id->nsans++;
}

static void
sans_from_cert(const X509 *cert, struct api_identity *id)
{
	GENERAL_NAMES *gens;
	const GENERAL_NAME *g;
	const ASN1_STRING *a;
	char ip[INET6_ADDRSTRLEN];
	int i;

	gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	if (gens == NULL)
		return;
	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		g = sk_GENERAL_NAME_value(gens, i);
		switch (g->type) {
		case GEN_DNS:
			a = g->d.dNSName;
			san_add(id, "DNS:", ASN1_STRING_get0_data(a),
			    (size_t)ASN1_STRING_length(a));
			break;
		case GEN_URI:
			a = g->d.uniformResourceIdentifier;
			san_add(id, "URI:", ASN1_STRING_get0_data(a),
			    (size_t)ASN1_STRING_length(a));
			break;
		case GEN_EMAIL:
			a = g->d.rfc822Name;
			san_add(id, "email:", ASN1_STRING_get0_data(a),
			    (size_t)ASN1_STRING_length(a));
			break;
		case GEN_IPADD:
			a = g->d.iPAddress;
			if (ASN1_STRING_length(a) == 4 && inet_ntop(AF_INET,
			    ASN1_STRING_get0_data(a), ip, sizeof(ip)) != NULL)
				san_add(id, "IP:", (const unsigned char *)ip,
				    strlen(ip));
			else if (ASN1_STRING_length(a) == 16 &&
			    inet_ntop(AF_INET6, ASN1_STRING_get0_data(a), ip,
			    sizeof(ip)) != NULL)
				san_add(id, "IP:", (const unsigned char *)ip,
				    strlen(ip));
			break;
		default:
			break;
		}
	}
	GENERAL_NAMES_free(gens);
}

int
api_identity_from_cert(const void *x509, struct api_identity *id)
{
	const X509 *cert = x509;
	BIO *bio = NULL;
	int n, r = CAP_ERR_UNAUTH;

	memset(id, 0, sizeof(*id));
	if (cert == NULL)
		goto out;
	if ((bio = BIO_new(BIO_s_mem())) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	if (X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0,
	    XN_FLAG_RFC2253) < 0)
		goto out;
	if (BIO_pending(bio) >= (int)sizeof(id->subject)) {
		log_warn("api: client certificate subject too long");
		goto out;
	}
	n = BIO_read(bio, id->subject, sizeof(id->subject) - 1);
	if (n < 0)
		goto out;
	id->subject[n] = '\0';
	sans_from_cert(cert, id);
	if (id->subject[0] == '\0' && id->nsans == 0)
		goto out;	/* nothing a policy could name */
	id->kind = API_ID_CERT;
	r = 0;
 out:
	BIO_free(bio);
	if (r != 0)
		memset(id, 0, sizeof(*id));
	return r;
}

/*
 * The presented bearer token, or NULL.  *bad is set when an Authorization
 * header is there but is not a usable bearer token.
 */
static char *
bearer_token(struct evhttp_request *req, int *bad)
{
	struct evkeyvalq *hdrs;
	struct evkeyval *kv;
	char *v = NULL, *p;

	*bad = 0;
	if ((hdrs = evhttp_request_get_input_headers(req)) == NULL)
		return NULL;
	TAILQ_FOREACH(kv, hdrs, next) {
		if (strcasecmp(kv->key, "Authorization") != 0)
			continue;
		if (v != NULL) {
			*bad = 1;	/* two Authorization headers */
			return NULL;
		}
		v = kv->value;
	}
	if (v == NULL)
		return NULL;
	if (strncasecmp(v, "Bearer ", 7) != 0) {
		*bad = 1;
		return NULL;
	}
	for (p = v + 7; *p == ' '; p++)
		;
	return p;
}

int
api_identity_from_request(struct evhttp_request *req,
    const struct api_deps *deps, struct api_identity *id)
{
	struct evhttp_connection *conn;
	struct bufferevent *bev;
	struct store_token tok;
	uint8_t hash[TOKEN_HASH_LEN];
	const X509 *cert = NULL;
	SSL *ssl = NULL;
	char *bearer;
	size_t i, blen;
	int bad, r = CAP_ERR_UNAUTH;

	memset(id, 0, sizeof(*id));
	memset(&tok, 0, sizeof(tok));
	if ((conn = evhttp_request_get_connection(req)) == NULL ||
	    (bev = evhttp_connection_get_bufferevent(conn)) == NULL ||
	    (ssl = bufferevent_openssl_get_ssl(bev)) == NULL)
		goto out;
	/* The handshake verified the chain; check again rather than trust. */
	if ((cert = SSL_get0_peer_certificate(ssl)) != NULL &&
	    SSL_get_verify_result(ssl) != X509_V_OK)
		goto out;

	bearer = bearer_token(req, &bad);
	if (bad) {
		log_debug("api: malformed Authorization header");
		goto out;
	}
	if (bearer == NULL) {
		r = api_identity_from_cert(cert, id);
		goto out;
	}
	/* From here on the token's text is wiped on every path. */
	blen = strlen(bearer);
	if (blen == 0 || blen > TOKEN_PRESENTED_MAX ||
	    token_hash(bearer, hash) != 0) {
		sodium_memzero(bearer, blen);
		goto out;
	}
	/* libevent's copy of the header is not needed any more. */
	sodium_memzero(bearer, blen);
	if (deps == NULL || deps->s == NULL) {
		r = CAP_ERR_INTERNAL;
		goto out;
	}
	if ((r = store_token_use(deps->s, hash, cap_now(), &tok)) != 0) {
		if (r != CAP_ERR_UNAUTH)
			log_warn("api: token lookup failed: %s",
			    cap_strerror(r));
		goto out;
	}
	r = CAP_ERR_UNAUTH;
	if (tok.npolicies > STORE_TOKEN_POLICIES_MAX)
		goto out;
	id->kind = API_ID_TOKEN;
	snprintf(id->token_identity, sizeof(id->token_identity), "%s",
	    tok.identity);
	snprintf(id->subject, sizeof(id->subject), "%s", tok.identity);
	snprintf(id->accessor, sizeof(id->accessor), "%s", tok.accessor);
	for (i = 0; i < tok.npolicies; i++) {
		if (strlen(tok.policies[i]) > CAP_NAME_MAX)
			goto out;
		memcpy(id->policies[i], tok.policies[i],
		    strlen(tok.policies[i]) + 1);
	}
	id->npolicies = tok.npolicies;
	r = 0;
 out:
	sodium_memzero(hash, sizeof(hash));
	store_token_free_fields(&tok);
	if (r != 0)
		memset(id, 0, sizeof(*id));
	return r;
}

/* ---- the policy cache ---- */

/*
 * Splits [auth] admins at unescaped commas, "\," standing for a comma
 * and "\\" for a backslash, trimming blanks around each pattern.
 */
static int
admins_parse(api_authz *az, const char *list)
{
	char buf[POLICY_PATTERN_MAX + 1];
	const char *p;
	size_t len = 0;
	int r = CAP_ERR_CONFIG;

	if (list == NULL)
		return 0;
	if ((az->admins = calloc(ADMINS_MAX, sizeof(char *))) == NULL)
		return CAP_ERR_NOMEM;
	for (p = list;; p++) {
		if (*p == '\\' && (p[1] == ',' || p[1] == '\\')) {
			p++;
		} else if (*p == ',' || *p == '\0') {
			while (len > 0 && (buf[len - 1] == ' ' ||
			    buf[len - 1] == '\t'))
				len--;
			if (len == 0 || az->nadmins == ADMINS_MAX) {
				log_error("auth: admins: an empty pattern, or "
				    "more than %d", ADMINS_MAX);
				goto out;
			}
			buf[len] = '\0';
			if ((az->admins[az->nadmins] = strdup(buf)) == NULL) {
				r = CAP_ERR_NOMEM;
				goto out;
			}
			az->nadmins++;
			len = 0;
			if (*p == '\0')
				break;
			continue;
		} else if (len == 0 && (*p == ' ' || *p == '\t'))
			continue;
		if (len == POLICY_PATTERN_MAX) {
			log_error("auth: admins: a pattern over %d bytes",
			    POLICY_PATTERN_MAX);
			goto out;
		}
		buf[len++] = *p;
	}
	r = 0;
 out:
	return r;
}

void
api_authz_free(api_authz *az)
{
	size_t i;

	if (az == NULL)
		return;
	for (i = 0; i < az->n; i++)
		policy_free(az->v[i]);
	free(az->v);
	for (i = 0; i < az->nadmins; i++)
		free(az->admins[i]);
	free(az->admins);
	pthread_rwlock_destroy(&az->lock);
	pthread_mutex_destroy(&az->reload);
	free(az);
}

int
api_authz_new(const char *admins, api_authz **out)
{
	api_authz *az = NULL;
	int r;

	*out = NULL;
	if ((az = calloc(1, sizeof(*az))) == NULL)
		return CAP_ERR_NOMEM;
	if (pthread_rwlock_init(&az->lock, NULL) != 0) {
		free(az);
		return CAP_ERR_NOMEM;
	}
	if (pthread_mutex_init(&az->reload, NULL) != 0) {
		pthread_rwlock_destroy(&az->lock);
		free(az);
		return CAP_ERR_NOMEM;
	}
	if ((r = admins_parse(az, admins)) != 0)
		goto out;
	*out = az;
	az = NULL;	/* transferred */
	r = 0;
 out:
	api_authz_free(az);
	return r;
}

int
api_authz_set(api_authz *az, policy **v, size_t n)
{
	policy **oldv;
	size_t oldn, i;

	pthread_rwlock_wrlock(&az->lock);
	oldv = az->v;
	oldn = az->n;
	az->v = v;	/* transferred */
	az->n = n;
	pthread_rwlock_unlock(&az->lock);
	for (i = 0; i < oldn; i++)
		policy_free(oldv[i]);
	free(oldv);
	return 0;
}

int
api_authz_load(api_authz *az, store *s)
{
	char **names = NULL, *doc = NULL, err[160];
	policy **v = NULL;
	size_t nnames = 0, n = 0, len, i;
	int r;

	pthread_mutex_lock(&az->reload);
	if ((r = store_policy_list(s, &names, &nnames)) != 0) {
		log_error("auth: cannot list policies: %s", cap_strerror(r));
		goto out;
	}
	if ((v = calloc(nnames + 1, sizeof(*v))) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < nnames; i++) {
		if ((r = store_policy_get(s, names[i], &doc, &len)) != 0) {
			if (r == CAP_ERR_NOT_FOUND)
				continue;	/* deleted meanwhile */
			log_error("auth: cannot read policy %s: %s", names[i],
			    cap_strerror(r));
			goto out;
		}
		if ((r = policy_parse(names[i], doc, len, &v[n], err,
		    sizeof(err))) != 0) {
			if (r == CAP_ERR_NOMEM)
				goto out;
			log_warn("auth: policy %s left out: %s", names[i], err);
		} else
			n++;
		free(doc);
		doc = NULL;
	}
	log_debug("auth: %zu policies in effect", n);
	r = api_authz_set(az, v, n);
	v = NULL;	/* transferred */
	n = 0;
 out:
	pthread_mutex_unlock(&az->reload);
	free(doc);
	for (i = 0; i < n; i++)
		policy_free(v[i]);
	free(v);
	store_names_free(names, nnames);
	return r;
}

/* Under the read lock: the cached policy of this name, or NULL. */
static const policy *
find_policy(const api_authz *az, const char *name)
{
	size_t i;

	for (i = 0; i < az->n; i++)
		if (strcmp(policy_name(az->v[i]), name) == 0)
			return az->v[i];
	return NULL;
}

int
api_authz_has(api_authz *az, const char *name)
{
	int found;

	pthread_rwlock_rdlock(&az->lock);
	found = find_policy(az, name) != NULL;
	pthread_rwlock_unlock(&az->lock);
	return found;
}

/* ---- decisions ---- */

/*
 * Does p grant cap (all bits, or any one with `any`) on domain?  NULL or
 * "*", every domain, is asked as the empty string: no domain is named ""
 * (nor "*") and only patterns made of '*' alone match "", i.e. the rules
 * over every domain.  Asking with "*" itself would let a pattern such as
 * "?" pass for one.
 */
static int
grants(const policy *p, unsigned cap, const char *domain, int any)
{
	const char *d = domain != NULL && strcmp(domain, "*") != 0 ?
	    domain : "";
	unsigned bit;

	if (!any)
		return policy_grants(p, cap, d);
	for (bit = 1; bit <= API_CAP_ALL; bit <<= 1)
		if ((cap & bit) != 0 && policy_grants(p, bit, d))
			return 1;
	return 0;
}

static int
decide(const struct api_ctx *ctx, unsigned cap, const char *domain, int any)
{
	const struct api_identity *id = &ctx->id;
	const char *ids[1 + API_SAN_MAX];
	api_authz *az;
	const policy *p;
	size_t nids = 0, i, j;
	int ok = 0;

	if (id->kind != API_ID_CERT && id->kind != API_ID_TOKEN)
		return CAP_ERR_UNAUTH;
	if (cap == 0)
		return 0;
	if (ctx->deps == NULL || (az = ctx->deps->authz) == NULL)
		return CAP_ERR_DENIED;
	if (id->kind == API_ID_CERT) {
		if (id->subject[0] != '\0')
			ids[nids++] = id->subject;
		for (i = 0; i < id->nsans && i < API_SAN_MAX; i++)
			ids[nids++] = id->sans[i];
		/* admins is immutable: no lock needed. */
		for (i = 0; i < az->nadmins && !ok; i++)
			for (j = 0; j < nids && !ok; j++)
				ok = policy_glob_match(az->admins[i], ids[j]);
		if (ok)
			return 0;
	}
	pthread_rwlock_rdlock(&az->lock);
	if (id->kind == API_ID_CERT) {
		for (i = 0; i < az->n && !ok; i++)
			ok = policy_binds(az->v[i], ids, nids) &&
			    grants(az->v[i], cap, domain, any);
	} else {
		for (i = 0; i < id->npolicies && !ok; i++)
			ok = (p = find_policy(az, id->policies[i])) != NULL &&
			    grants(p, cap, domain, any);
	}
	pthread_rwlock_unlock(&az->lock);
	return ok ? 0 : CAP_ERR_DENIED;
}

int
api_authorize(const struct api_ctx *ctx, enum api_capability cap,
    const char *domain)
{
	return decide(ctx, (unsigned)cap & API_CAP_ALL, domain, 0);
}

int
api_authorize_any(const struct api_ctx *ctx, unsigned cap, const char *domain)
{
	return decide(ctx, cap & API_CAP_ALL, domain, 1);
}

int
api_require(struct api_ctx *ctx, enum api_capability cap, const char *domain)
{
	int r;

	if ((r = api_authorize(ctx, cap, domain)) != 0)
		api_reply_err(ctx, r, "authorize");
	return r;
}

int
api_require_any(struct api_ctx *ctx, unsigned cap, const char *domain)
{
	int r;

	if ((r = api_authorize_any(ctx, cap, domain)) != 0)
		api_reply_err(ctx, r, "authorize");
	return r;
}
