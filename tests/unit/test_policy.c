/* test_policy.c - policy parsing, glob matching and the grant matrix. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/policy.h"
#include "common/err.h"
#include "tests/unit/harness.h"

static void
test_glob(void)
{
	static const struct { const char *p, *s; int want; } cases[] = {
		{ "payments", "payments", 1 }, { "payments", "payment", 0 },
		{ "pay*", "payments", 1 }, { "*", "", 1 }, { "*", "x", 1 },
		{ "team-?", "team-a", 1 }, { "team-?", "team-ab", 0 },
		{ "*a*b*c", "xxaybzc", 1 }, { "*a*b*c", "xxaybz", 0 },
		{ "CN=svc-*", "CN=svc-a", 1 }, { "CN=svc-*", "CN=admin", 0 },
		{ "a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0 },
	};
	char name[128];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(name, sizeof(name), "glob '%s' ~ '%s'", cases[i].p,
		    cases[i].s);
		TH_EQ_INT(policy_glob_match(cases[i].p, cases[i].s),
		    cases[i].want, name);
	}
}

static void
test_parse_errors(void)
{
	static const char *bad[] = {
		"", "[]", "{\"rules\":{}}", "{\"rules\":[{\"domains\":\"x\"}]}",
		"{\"rules\":[{\"domains\":\"x\",\"capabilities\":[\"fly\"]}]}",
		"{\"rules\":[{\"domains\":\"\",\"capabilities\":[\"read\"]}]}",
		"{\"rules\":[],\"extra\":1}",
		"{\"identities\":\"CN=a\",\"rules\":[]}",
		"{\"rules\":[{\"domains\":\"x\",\"capabilities\":[\"read\"],\"z\":1}]}",
	};
	char err[256], name[64];
	policy *p;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(name, sizeof(name), "policy parse rejects bad doc %zu", i);
		p = NULL;
		th_check(policy_parse("p", bad[i], strlen(bad[i]), &p, err,
		    sizeof(err)) == CAP_ERR_INVALID && p == NULL && err[0] != '\0',
		    name, "expected CAP_ERR_INVALID with a message");
		policy_free(p);
	}
	p = NULL;
	TH_EQ_INT(policy_parse("bad/name", "{\"rules\":[]}", 12, &p, err,
	    sizeof(err)), CAP_ERR_INVALID, "policy name validated");
}

static void
test_matrix(void)
{
	static const char *doc =
	    "{\"identities\":[\"CN=svc-*\",\"CN=ops\"],\"rules\":["
	    "{\"domains\":\"payments\",\"capabilities\":[\"read\",\"list\"]},"
	    "{\"domains\":\"team-*\",\"capabilities\":[\"write\",\"delete\",\"ref\"]},"
	    "{\"domains\":\"ops\",\"capabilities\":[\"admin\"]}]}";
	static const unsigned caps[] = { CAPB_READ, CAPB_WRITE, CAPB_DELETE,
	    CAPB_LIST, CAPB_REF, CAPB_ADMIN };
	static const struct { const char *domain; unsigned granted; } doms[] = {
		{ "payments", CAPB_READ | CAPB_LIST },
		{ "team-a", CAPB_WRITE | CAPB_DELETE | CAPB_REF },
		{ "ops", 0x3f },
		{ "other", 0 },
	};
	const char *ids_yes[] = { "CN=svc-a" }, *ids_no[] = { "CN=admin" };
	char err[256], name[128], *json;
	policy *p = NULL, *q = NULL;
	size_t i, j;

	if (!th_check(policy_parse("pol", doc, strlen(doc), &p, err,
	    sizeof(err)) == 0, "policy parses", "error: %s", err))
		return;
	TH_EQ_INT(policy_binds(p, ids_yes, 1), 1, "identity pattern binds");
	TH_EQ_INT(policy_binds(p, ids_no, 1), 0, "other identity not bound");
	for (i = 0; i < sizeof(doms) / sizeof(doms[0]); i++)
		for (j = 0; j < sizeof(caps) / sizeof(caps[0]); j++) {
			snprintf(name, sizeof(name), "grant %s on %s",
			    policy_cap_name(caps[j]), doms[i].domain);
			TH_EQ_INT(policy_grants(p, caps[j], doms[i].domain),
			    (doms[i].granted & caps[j]) != 0, name);
		}
	TH_EQ_INT(policy_grants(p, CAPB_READ | CAPB_WRITE, "payments"), 0,
	    "all requested bits needed");
	json = policy_to_json(p);
	th_check(json != NULL && policy_parse("pol", json, strlen(json), &q,
	    err, sizeof(err)) == 0, "policy round-trips through JSON",
	    "error: %s", err);
	if (q != NULL)
		TH_EQ_INT(policy_grants(q, CAPB_WRITE, "team-b"), 1,
		    "round-tripped policy grants the same");
	free(json);
	policy_free(q);
	policy_free(p);
}

int
main(void)
{
	test_glob();
	test_parse_errors();
	test_matrix();
	return th_done();
}
