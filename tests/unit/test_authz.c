/*
 * test_authz.c - api_authorize, the one decision every handler makes,
 * driven as a matrix: each capability, for a certificate identity and a
 * bearer token that hold it and that hold everything but it, on a domain
 * named exactly by the rule and on one matched by a glob.  Then the
 * configured admins, identities by SAN, admin on every domain, combined
 * and alternative capabilities, cache rebuilds from the store, and the
 * identity read from a real certificate.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "api/api_int.h"
#include "api/policy.h"
#include "api/request.h"
#include "common/err.h"
#include "store/auth.h"
#include "store/store.h"
#include "tests/unit/harness.h"

static const struct {
	const char	*name;
	unsigned	 bit;
} caps[] = {
	{ "read",	API_CAP_READ },
	{ "write",	API_CAP_WRITE },
	{ "delete",	API_CAP_DELETE },
	{ "list",	API_CAP_LIST },
	{ "ref",	API_CAP_REF },
	{ "admin",	API_CAP_ADMIN },
};
#define NCAPS	(sizeof(caps) / sizeof(caps[0]))

/* Parses a policy document or fails the run. */
static policy *
mkpolicy(const char *name, const char *doc)
{
	policy *p = NULL;
	char err[160];

	if (policy_parse(name, doc, strlen(doc), &p, err, sizeof(err)) != 0) {
		fprintf(stderr, "test policy %s does not parse: %s\n", name,
		    err);
		exit(1);
	}
	return p;
}

/* "a","b",... for every capability but `skip` and admin. */
static void
caps_but(unsigned skip, char *out, size_t outsz)
{
	size_t i, used = 0;
	int n;

	out[0] = '\0';
	for (i = 0; i < NCAPS; i++) {
		if (caps[i].bit == skip || caps[i].bit == API_CAP_ADMIN)
			continue;
		n = snprintf(out + used, outsz - used, "%s\"%s\"",
		    used ? "," : "", caps[i].name);
		if (n < 0 || (size_t)n >= outsz - used)
			exit(1);
		used += (size_t)n;
	}
}

/*
 * For each capability c, four policies:
 *   has-exact-c   binds CN=has-c,       grants c on "payments"
 *   not-exact-c   binds CN=not-c,       grants all but c on "payments"
 *   has-glob-c    binds CN=globhas-c-*, grants c on "pay-*"
 *   not-glob-c    binds CN=globnot-c-*, grants all but c on "pay-*"
 * Certificates are bound by their subject, tokens by these names.
 */
static void
matrix_policies(api_authz *az)
{
	policy **v;
	char doc[1024], others[256], name[64];
	size_t i, n = 0;

	if ((v = calloc(4 * NCAPS, sizeof(*v))) == NULL)
		exit(1);
	for (i = 0; i < NCAPS; i++) {
		caps_but(caps[i].bit, others, sizeof(others));
		snprintf(name, sizeof(name), "has-exact-%s", caps[i].name);
		snprintf(doc, sizeof(doc), "{\"identities\":[\"CN=has-%s\"],"
		    "\"rules\":[{\"domains\":\"payments\",\"capabilities\":"
		    "[\"%s\"]}]}", caps[i].name, caps[i].name);
		v[n++] = mkpolicy(name, doc);
		snprintf(name, sizeof(name), "not-exact-%s", caps[i].name);
		snprintf(doc, sizeof(doc), "{\"identities\":[\"CN=not-%s\"],"
		    "\"rules\":[{\"domains\":\"payments\",\"capabilities\":"
		    "[%s]}]}", caps[i].name, others);
		v[n++] = mkpolicy(name, doc);
		snprintf(name, sizeof(name), "has-glob-%s", caps[i].name);
		snprintf(doc, sizeof(doc), "{\"identities\":"
		    "[\"CN=globhas-%s-*\"],\"rules\":[{\"domains\":\"pay-*\","
		    "\"capabilities\":[\"%s\"]}]}", caps[i].name,
		    caps[i].name);
		v[n++] = mkpolicy(name, doc);
		snprintf(name, sizeof(name), "not-glob-%s", caps[i].name);
		snprintf(doc, sizeof(doc), "{\"identities\":"
		    "[\"CN=globnot-%s-*\"],\"rules\":[{\"domains\":\"pay-*\","
		    "\"capabilities\":[%s]}]}", caps[i].name, others);
		v[n++] = mkpolicy(name, doc);
	}
	if (api_authz_set(az, v, n) != 0)
		exit(1);
}

static void
as_cert(struct api_ctx *ctx, const char *subject)
{
	memset(&ctx->id, 0, sizeof(ctx->id));
	ctx->id.kind = API_ID_CERT;
	snprintf(ctx->id.subject, sizeof(ctx->id.subject), "%s", subject);
}

/* A token identity whose identity string is deliberately misleading. */
static void
as_token(struct api_ctx *ctx, const char *identity, const char *pol)
{
	memset(&ctx->id, 0, sizeof(ctx->id));
	ctx->id.kind = API_ID_TOKEN;
	snprintf(ctx->id.token_identity, sizeof(ctx->id.token_identity), "%s",
	    identity);
	snprintf(ctx->id.subject, sizeof(ctx->id.subject), "%s", identity);
	snprintf(ctx->id.accessor, sizeof(ctx->id.accessor), "%032x", 7);
	if (pol != NULL) {
		snprintf(ctx->id.policies[0], sizeof(ctx->id.policies[0]),
		    "%s", pol);
		ctx->id.npolicies = 1;
	}
}

static void
expect(const struct api_ctx *ctx, unsigned cap, const char *domain, int want,
    const char *who, const char *capname, const char *shape)
{
	char label[256];
	int r;

	r = api_authorize(ctx, (enum api_capability)cap, domain);
	snprintf(label, sizeof(label), "matrix: %s %s %s on %s (%s) is %s",
	    who, want == 0 ? "holding" : "without", capname,
	    domain != NULL ? domain : "every domain", shape,
	    want == 0 ? "allowed" : "denied");
	th_check(r == want, label, "expected %d, got %d", want, r);
}

static void
test_matrix(api_authz *az)
{
	struct api_ctx ctx;
	struct api_deps deps;
	char id[128], pol[64];
	const char *c;
	unsigned bit;
	size_t i;

	memset(&deps, 0, sizeof(deps));
	memset(&ctx, 0, sizeof(ctx));
	deps.authz = az;
	ctx.deps = &deps;
	matrix_policies(az);
	for (i = 0; i < NCAPS; i++) {
		c = caps[i].name;
		bit = caps[i].bit;

		/* exact domain pattern */
		snprintf(id, sizeof(id), "CN=has-%s", c);
		as_cert(&ctx, id);
		expect(&ctx, bit, "payments", 0, "cert", c, "exact");
		expect(&ctx, bit, "payments2", CAP_ERR_DENIED, "cert", c,
		    "exact, other domain");
		snprintf(id, sizeof(id), "CN=not-%s", c);
		as_cert(&ctx, id);
		expect(&ctx, bit, "payments", CAP_ERR_DENIED, "cert", c,
		    "exact");
		snprintf(pol, sizeof(pol), "has-exact-%s", c);
		as_token(&ctx, "svc-token", pol);
		expect(&ctx, bit, "payments", 0, "token", c, "exact");
		expect(&ctx, bit, "billing", CAP_ERR_DENIED, "token", c,
		    "exact, other domain");
		snprintf(pol, sizeof(pol), "not-exact-%s", c);
		snprintf(id, sizeof(id), "CN=has-%s", c);
		as_token(&ctx, id, pol);
		expect(&ctx, bit, "payments", CAP_ERR_DENIED,
		    "token (named like a holder)", c, "exact");

		/* glob domain pattern, glob identity pattern */
		snprintf(id, sizeof(id), "CN=globhas-%s-7", c);
		as_cert(&ctx, id);
		expect(&ctx, bit, "pay-eu", 0, "cert", c, "glob");
		expect(&ctx, bit, "pay-us-east", 0, "cert", c, "glob");
		expect(&ctx, bit, "payments", CAP_ERR_DENIED, "cert", c,
		    "glob, unmatched domain");
		snprintf(id, sizeof(id), "CN=globnot-%s-7", c);
		as_cert(&ctx, id);
		expect(&ctx, bit, "pay-eu", CAP_ERR_DENIED, "cert", c, "glob");
		snprintf(pol, sizeof(pol), "has-glob-%s", c);
		as_token(&ctx, "svc-token", pol);
		expect(&ctx, bit, "pay-eu", 0, "token", c, "glob");
		expect(&ctx, bit, "payments", CAP_ERR_DENIED, "token", c,
		    "glob, unmatched domain");
		snprintf(pol, sizeof(pol), "not-glob-%s", c);
		as_token(&ctx, "svc-token", pol);
		expect(&ctx, bit, "pay-eu", CAP_ERR_DENIED, "token", c, "glob");
	}

	/* admin on a domain implies the rest there, and nowhere else */
	as_cert(&ctx, "CN=has-admin");
	for (i = 0; i < NCAPS; i++)
		expect(&ctx, caps[i].bit, "payments", 0, "domain admin",
		    caps[i].name, "implied by admin");
	expect(&ctx, API_CAP_ADMIN, NULL, CAP_ERR_DENIED, "domain admin",
	    "admin", "policies, tokens, audit");

	/* an identity matching no policy: default deny */
	as_cert(&ctx, "CN=stranger");
	for (i = 0; i < NCAPS; i++)
		expect(&ctx, caps[i].bit, "payments", CAP_ERR_DENIED,
		    "stranger", caps[i].name, "no policy");
	TH_EQ_INT(api_authorize(&ctx, API_CAP_AUTHENTICATED, NULL), 0,
	    "a stranger may still do what any authenticated caller may");
	as_token(&ctx, "t", "no-such-policy");
	TH_EQ_INT(api_authorize(&ctx, API_CAP_READ, "payments"),
	    CAP_ERR_DENIED, "a token naming a missing policy gets nothing");
}

static void
test_admins_and_sans(void)
{
	struct api_ctx ctx;
	struct api_deps deps;
	api_authz *az = NULL;
	policy **v;
	size_t i;

	memset(&deps, 0, sizeof(deps));
	memset(&ctx, 0, sizeof(ctx));
	ctx.deps = &deps;
	if (!th_check(api_authz_new("CN=root , CN=ops\\,O=Example,"
	    "URI:spiffe://ex/admin*", &az) == 0, "admins: list parses",
	    "expected 0"))
		return;
	deps.authz = az;
	if ((v = calloc(2, sizeof(*v))) == NULL)
		exit(1);
	v[0] = mkpolicy("sans", "{\"identities\":[\"DNS:*.svc.local\"],"
	    "\"rules\":[{\"domains\":\"orders\",\"capabilities\":[\"read\"]}]}");
	v[1] = mkpolicy("global", "{\"identities\":[\"CN=global\"],"
	    "\"rules\":[{\"domains\":\"*\",\"capabilities\":[\"admin\"]}]}");
	if (api_authz_set(az, v, 2) != 0)
		exit(1);

	as_cert(&ctx, "CN=root");
	for (i = 0; i < NCAPS; i++)
		TH_EQ_INT(api_authorize(&ctx, caps[i].bit, "anything"), 0,
		    "admins: a configured admin may do everything");
	TH_EQ_INT(api_authorize(&ctx, API_CAP_ADMIN, NULL), 0,
	    "admins: a configured admin is admin on every domain");
	as_cert(&ctx, "CN=ops,O=Example");
	TH_EQ_INT(api_authorize(&ctx, API_CAP_ADMIN, NULL), 0,
	    "admins: an escaped comma matches a multi-RDN subject");
	as_cert(&ctx, "O=Example");
	TH_EQ_INT(api_authorize(&ctx, API_CAP_READ, "x"), CAP_ERR_DENIED,
	    "admins: the escaped comma does not split the pattern");
	as_cert(&ctx, "CN=rooted");
	TH_EQ_INT(api_authorize(&ctx, API_CAP_READ, "x"), CAP_ERR_DENIED,
	    "admins: patterns match whole identities");
	as_cert(&ctx, "CN=workload");
	snprintf(ctx.id.sans[0], sizeof(ctx.id.sans[0]),
	    "URI:spiffe://ex/admin/1");
	ctx.id.nsans = 1;
	TH_EQ_INT(api_authorize(&ctx, API_CAP_ADMIN, NULL), 0,
	    "admins: a SAN matches an admin pattern");
	as_token(&ctx, "CN=root", NULL);
	TH_EQ_INT(api_authorize(&ctx, API_CAP_READ, "x"), CAP_ERR_DENIED,
	    "admins: a token is never an admin by its identity string");

	as_cert(&ctx, "CN=pod");
	snprintf(ctx.id.sans[0], sizeof(ctx.id.sans[0]), "URI:x");
	snprintf(ctx.id.sans[1], sizeof(ctx.id.sans[1]), "DNS:a.svc.local");
	ctx.id.nsans = 2;
	TH_EQ_INT(api_authorize(&ctx, API_CAP_READ, "orders"), 0,
	    "sans: a policy binds a certificate by its DNS SAN");
	TH_EQ_INT(api_authorize(&ctx, API_CAP_WRITE, "orders"),
	    CAP_ERR_DENIED, "sans: only what the policy grants");
	ctx.id.nsans = 1;
	TH_EQ_INT(api_authorize(&ctx, API_CAP_READ, "orders"), CAP_ERR_DENIED,
	    "sans: without the SAN the policy does not bind");

	as_cert(&ctx, "CN=global");
	TH_EQ_INT(api_authorize(&ctx, API_CAP_ADMIN, NULL), 0,
	    "global: admin on \"*\" covers policies, tokens and audit");
	TH_EQ_INT(api_authorize(&ctx, API_CAP_ADMIN, "*"), 0,
	    "global: asked as \"*\" too");
	as_token(&ctx, "ci", "global");
	TH_EQ_INT(api_authorize(&ctx, API_CAP_ADMIN, NULL), 0,
	    "global: a token with the policy too");
	as_cert(&ctx, "nobody");
	ctx.id.kind = API_ID_NONE;
	TH_EQ_INT(api_authorize(&ctx, API_CAP_AUTHENTICATED, NULL),
	    CAP_ERR_UNAUTH, "no identity is unauthenticated");
	TH_EQ_INT(api_authorize(&ctx, API_CAP_READ, "x"), CAP_ERR_UNAUTH,
	    "no identity is unauthenticated, not forbidden");
	deps.authz = NULL;
	as_cert(&ctx, "CN=root");
	TH_EQ_INT(api_authorize(&ctx, API_CAP_READ, "x"), CAP_ERR_DENIED,
	    "without a policy cache everything is denied");
	api_authz_free(az);

	TH_EQ_INT(api_authz_new("CN=a,,CN=b", &az), CAP_ERR_CONFIG,
	    "admins: an empty pattern is refused");
	TH_EQ_INT(api_authz_new(NULL, &az), 0, "admins: none configured");
	api_authz_free(az);
	api_authz_free(NULL);
}

static void
test_scopes(void)
{
	struct api_ctx ctx;
	struct api_deps deps;
	api_authz *az = NULL;
	policy **v;

	memset(&deps, 0, sizeof(deps));
	memset(&ctx, 0, sizeof(ctx));
	ctx.deps = &deps;
	if (api_authz_new(NULL, &az) != 0 || (v = calloc(5, sizeof(*v))) ==
	    NULL)
		exit(1);
	deps.authz = az;
	v[0] = mkpolicy("w", "{\"identities\":[\"CN=w\"],\"rules\":"
	    "[{\"domains\":\"d\",\"capabilities\":[\"write\"]}]}");
	v[1] = mkpolicy("wr", "{\"identities\":[\"CN=wr\"],\"rules\":"
	    "[{\"domains\":\"d\",\"capabilities\":[\"write\"]},"
	    "{\"domains\":\"d*\",\"capabilities\":[\"ref\"]}]}");
	v[2] = mkpolicy("q", "{\"identities\":[\"CN=q\"],\"rules\":"
	    "[{\"domains\":\"?\",\"capabilities\":[\"admin\"]}]}");
	v[3] = mkpolicy("pay", "{\"identities\":[\"CN=pay\"],\"rules\":"
	    "[{\"domains\":\"pay*\",\"capabilities\":[\"admin\"]}]}");
	v[4] = mkpolicy("stars", "{\"identities\":[\"CN=stars\"],\"rules\":"
	    "[{\"domains\":\"**\",\"capabilities\":[\"list\"]}]}");
	if (api_authz_set(az, v, 5) != 0)
		exit(1);

	as_cert(&ctx, "CN=w");
	TH_EQ_INT(api_authorize(&ctx, API_CAP_WRITE | API_CAP_REF, "d"),
	    CAP_ERR_DENIED, "generate: write alone is not enough");
	as_cert(&ctx, "CN=wr");
	TH_EQ_INT(api_authorize(&ctx, API_CAP_WRITE | API_CAP_REF, "d"), 0,
	    "generate: write and ref from two rules suffice");
	TH_EQ_INT(api_authorize(&ctx, API_CAP_WRITE | API_CAP_REF, "dx"),
	    CAP_ERR_DENIED, "generate: ref alone is not enough");
	TH_EQ_INT(api_authorize_any(&ctx, API_CAP_READ | API_CAP_LIST, "d"),
	    CAP_ERR_DENIED, "domain get: write and ref give neither read nor "
	    "list");
	TH_EQ_INT(api_authorize_any(&ctx, API_CAP_ALL, "dx"), 0,
	    "domain list: any capability shows the domain");
	TH_EQ_INT(api_authorize_any(&ctx, API_CAP_ALL, "e"), CAP_ERR_DENIED,
	    "domain list: no capability hides the domain");
	as_cert(&ctx, "CN=stars");
	TH_EQ_INT(api_authorize_any(&ctx, API_CAP_READ | API_CAP_LIST, "x"),
	    0, "domain get: list alone suffices");
	TH_EQ_INT(api_authorize(&ctx, API_CAP_LIST, NULL), 0,
	    "a rule over every domain grants on every domain");
	as_cert(&ctx, "CN=q");
	TH_EQ_INT(api_authorize(&ctx, API_CAP_ADMIN, "x"), 0,
	    "'?' admin covers one-character domains");
	TH_EQ_INT(api_authorize(&ctx, API_CAP_ADMIN, NULL), CAP_ERR_DENIED,
	    "'?' admin is not admin on every domain");
	TH_EQ_INT(api_authorize(&ctx, API_CAP_ADMIN, "*"), CAP_ERR_DENIED,
	    "'?' admin is not admin on \"*\" either");
	as_cert(&ctx, "CN=pay");
	TH_EQ_INT(api_authorize(&ctx, API_CAP_ADMIN, NULL), CAP_ERR_DENIED,
	    "a prefix admin is not admin on every domain");

	/* A rebuilt cache takes back what it no longer holds. */
	if (api_authz_set(az, NULL, 0) != 0)
		exit(1);
	as_cert(&ctx, "CN=wr");
	TH_EQ_INT(api_authorize(&ctx, API_CAP_WRITE, "d"), CAP_ERR_DENIED,
	    "an emptied cache denies what it granted");
	api_authz_free(az);
}

/* Policies through the store, as the server loads them. */
static void
test_load_from_store(void)
{
	struct api_ctx ctx;
	struct api_deps deps;
	api_authz *az = NULL;
	store *s = NULL;
	char dir[512];
	static const char good[] = "{\"identities\":[\"CN=svc-a\"],\"rules\":"
	    "[{\"domains\":\"payments\",\"capabilities\":[\"read\"]}]}";
	static const char bad[] = "{\"rules\":7}";

	snprintf(dir, sizeof(dir), "%s/authz-store", th_tmpdir());
	if (!th_check(store_open(dir, 1 << 20, 1, &s) == 0, "store: opens",
	    "cannot open %s", dir))
		return;
	memset(&deps, 0, sizeof(deps));
	memset(&ctx, 0, sizeof(ctx));
	ctx.deps = &deps;
	if (api_authz_new(NULL, &az) != 0)
		exit(1);
	deps.authz = az;
	TH_EQ_INT(api_authz_load(az, s), 0, "store: empty store loads");
	as_cert(&ctx, "CN=svc-a");
	TH_EQ_INT(api_authorize(&ctx, API_CAP_READ, "payments"),
	    CAP_ERR_DENIED, "store: nothing granted before the policy");
	TH_EQ_INT(store_policy_put(s, "pa", good, strlen(good)), 0,
	    "store: policy stored");
	TH_EQ_INT(store_policy_put(s, "broken", bad, strlen(bad)), 0,
	    "store: unparsable policy stored");
	TH_EQ_INT(api_authz_load(az, s), 0,
	    "store: loads, leaving out what does not parse");
	TH_EQ_INT(api_authorize(&ctx, API_CAP_READ, "payments"), 0,
	    "store: the loaded policy grants");
	TH_EQ_INT(api_authz_has(az, "pa"), 1, "store: cache has the policy");
	TH_EQ_INT(api_authz_has(az, "broken"), 0,
	    "store: cache has no unparsable policy");
	TH_EQ_INT(store_policy_delete(s, "pa"), 0, "store: policy deleted");
	TH_EQ_INT(api_authz_load(az, s), 0, "store: reloads");
	TH_EQ_INT(api_authorize(&ctx, API_CAP_READ, "payments"),
	    CAP_ERR_DENIED, "store: a deleted policy grants nothing");
	api_authz_free(az);
	store_free(s);
}

/* The identity of a certificate: RFC 2253 subject and typed SANs. */
static void
test_identity_from_cert(void)
{
	struct api_identity id;
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	X509_NAME *nm;
	X509_EXTENSION *ext = NULL;
	X509V3_CTX v3;
	size_t i;
	int found[5] = { 0 };
	static const char *want[] = {
		"DNS:svc-a.example", "URI:spiffe://example/svc-a",
		"IP:127.0.0.1", "IP:::1", "email:ops@example.org",
	};

	if ((k = EVP_EC_gen("P-256")) == NULL || (x = X509_new()) == NULL)
		goto out;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	nm = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(nm, "O", MBSTRING_ASC,
	    (const unsigned char *)"Example", -1, -1, 0);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
	    (const unsigned char *)"svc-a", -1, -1, 0);
	X509_set_issuer_name(x, nm);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
	    "DNS:svc-a.example,URI:spiffe://example/svc-a,IP:127.0.0.1,"
	    "IP:::1,email:ops@example.org,RID:1.2.3")) == NULL ||
	    X509_add_ext(x, ext, -1) != 1 || X509_sign(x, k, EVP_sha256()) == 0)
		goto out;
	if (!th_check(api_identity_from_cert(x, &id) == 0,
	    "cert identity: read", "expected 0"))
		goto out;
	TH_EQ_INT(id.kind, API_ID_CERT, "cert identity: kind");
	th_check(strcmp(id.subject, "CN=svc-a,O=Example") == 0,
	    "cert identity: subject in RFC 2253 order", "got %s", id.subject);
	TH_EQ_INT(id.nsans, 5, "cert identity: five usable SANs (RID left out)");
	for (i = 0; i < id.nsans; i++) {
		size_t w;

		for (w = 0; w < 5; w++)
			if (strcmp(id.sans[i], want[w]) == 0)
				found[w] = 1;
	}
	for (i = 0; i < 5; i++)
		th_check(found[i], "cert identity: SAN present", "missing %s",
		    want[i]);
	TH_EQ_INT(api_identity_from_cert(NULL, &id), CAP_ERR_UNAUTH,
	    "cert identity: no certificate is unauthenticated");
	TH_EQ_INT(id.kind, API_ID_NONE, "cert identity: cleared on failure");
 out:
	X509_EXTENSION_free(ext);
	X509_free(x);
	EVP_PKEY_free(k);
}

int
main(void)
{
	api_authz *az = NULL;

	api_json_alloc_init();
	if (api_authz_new(NULL, &az) != 0)
		return 1;
	test_matrix(az);
	api_authz_free(az);
	test_admins_and_sans();
	test_scopes();
	test_load_from_store();
	test_identity_from_cert();
	return th_done();
}
