/* policy.c - access policies: parsing, matching, evaluation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/policy.h"
#include "common/err.h"
#include "common/util.h"

struct policy_rule {
	char		*domains;	/* pattern */
	unsigned	 caps;
};

struct policy {
	char			*name;
	char			**identities;
	size_t			 nidentities;
	struct policy_rule	*rules;
	size_t			 nrules;
};

static const struct {
	const char	*name;
	unsigned	 bit;
} cap_names[] = {
	{ "read",	CAPB_READ },
	{ "write",	CAPB_WRITE },
	{ "delete",	CAPB_DELETE },
	{ "list",	CAPB_LIST },
	{ "ref",	CAPB_REF },
	{ "admin",	CAPB_ADMIN },
};
#define NCAPS (sizeof(cap_names) / sizeof(cap_names[0]))

unsigned
policy_cap_parse(const char *s)
{
	size_t i;

	for (i = 0; i < NCAPS; i++)
		if (strcmp(s, cap_names[i].name) == 0)
			return cap_names[i].bit;
	return 0;
}

const char *
policy_cap_name(unsigned bit)
{
	size_t i;

	for (i = 0; i < NCAPS; i++)
		if (cap_names[i].bit == bit)
			return cap_names[i].name;
	return NULL;
}

/*
 * Iterative glob with single-star backtracking: linear in practice and
 * O(|p|*|s|) at worst, so a hostile pattern cannot blow up.
 */
int
policy_glob_match(const char *p, const char *s)
{
	const char *star = NULL, *mark = NULL;

	while (*s != '\0') {
		if (*p == '*') {
			star = p++;
			mark = s;
		} else if (*p == '?' || *p == *s) {
			p++;
			s++;
		} else if (star != NULL) {
			p = star + 1;
			s = ++mark;
		} else
			return 0;
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

void
policy_free(policy *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nidentities; i++)
		free(p->identities[i]);
	for (i = 0; i < p->nrules; i++)
		free(p->rules[i].domains);
	free(p->identities);
	free(p->rules);
	free(p->name);
	free(p);
}

const char *
policy_name(const policy *p)
{
	return p->name;
}

static int
pattern_ok(const char *s)
{
	size_t i;

	if (s[0] == '\0' || strlen(s) > POLICY_PATTERN_MAX)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

static int
parse_identities(policy *p, json_t *arr, char *err, size_t errlen)
{
	json_t *v;
	size_t i;

	if (arr == NULL)
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) > POLICY_MAX_IDENTITIES) {
		snprintf(err, errlen, "identities must be an array of at most "
		    "%d strings", POLICY_MAX_IDENTITIES);
		return CAP_ERR_INVALID;
	}
	if ((p->identities = calloc(json_array_size(arr) + 1,
	    sizeof(char *))) == NULL)
		return CAP_ERR_NOMEM;
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v) || !pattern_ok(json_string_value(v))) {
			snprintf(err, errlen, "identities[%zu] must be a "
			    "non-empty printable string", i);
			return CAP_ERR_INVALID;
		}
		if ((p->identities[i] = strdup(json_string_value(v))) == NULL)
			return CAP_ERR_NOMEM;
		p->nidentities++;
	}
	return 0;
}

static int
parse_rule(struct policy_rule *r, size_t idx, json_t *o, char *err,
    size_t errlen)
{
	json_t *doms, *caps, *c;
	const char *k;
	json_t *v;
	unsigned bit;
	size_t i;

	if (!json_is_object(o)) {
		snprintf(err, errlen, "rules[%zu] must be an object", idx);
		return CAP_ERR_INVALID;
	}
	json_object_foreach(o, k, v) {
		if (strcmp(k, "domains") != 0 && strcmp(k, "capabilities") != 0) {
			snprintf(err, errlen, "rules[%zu]: unknown field", idx);
			return CAP_ERR_INVALID;
		}
	}
	doms = json_object_get(o, "domains");
	caps = json_object_get(o, "capabilities");
	if (!json_is_string(doms) || !pattern_ok(json_string_value(doms))) {
		snprintf(err, errlen, "rules[%zu].domains must be a pattern "
		    "string", idx);
		return CAP_ERR_INVALID;
	}
	if (!json_is_array(caps) || json_array_size(caps) == 0 ||
	    json_array_size(caps) > NCAPS) {
		snprintf(err, errlen, "rules[%zu].capabilities must list "
		    "read, write, delete, list, ref or admin", idx);
		return CAP_ERR_INVALID;
	}
	json_array_foreach(caps, i, c) {
		if (!json_is_string(c) ||
		    (bit = policy_cap_parse(json_string_value(c))) == 0) {
			snprintf(err, errlen, "rules[%zu].capabilities[%zu]: "
			    "unknown capability", idx, i);
			return CAP_ERR_INVALID;
		}
		r->caps |= bit;
	}
	if ((r->domains = strdup(json_string_value(doms))) == NULL)
		return CAP_ERR_NOMEM;
	return 0;
}

int
policy_parse(const char *name, const char *doc, size_t len, policy **out,
    char *err, size_t errlen)
{
	json_t *root = NULL, *rules, *v;
	json_error_t jerr;
	policy *p = NULL;
	const char *k;
	size_t i;
	int r = CAP_ERR_INTERNAL;

	*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	if (!cap_name_valid(name)) {
		snprintf(err, errlen, "invalid policy name");
		r = CAP_ERR_INVALID;
		goto out;
	}
	if (len > POLICY_DOC_MAX) {
		snprintf(err, errlen, "policy document over %d bytes",
		    POLICY_DOC_MAX);
		r = CAP_ERR_TOO_LARGE;
		goto out;
	}
	if ((root = json_loadb(doc, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL ||
	    !json_is_object(root)) {
		snprintf(err, errlen, "policy must be a JSON object");
		r = CAP_ERR_INVALID;
		goto out;
	}
	json_object_foreach(root, k, v) {
		if (strcmp(k, "identities") != 0 && strcmp(k, "rules") != 0 &&
		    strcmp(k, "name") != 0) {
			snprintf(err, errlen, "unknown field in policy");
			r = CAP_ERR_INVALID;
			goto out;
		}
	}
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->name = strdup(name)) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	if ((r = parse_identities(p, json_object_get(root, "identities"),
	    err, errlen)) != 0)
		goto out;
	rules = json_object_get(root, "rules");
	if (!json_is_array(rules) || json_array_size(rules) > POLICY_MAX_RULES) {
		snprintf(err, errlen, "rules must be an array of at most %d "
		    "rules", POLICY_MAX_RULES);
		r = CAP_ERR_INVALID;
		goto out;
	}
	if ((p->rules = calloc(json_array_size(rules) + 1,
	    sizeof(*p->rules))) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	json_array_foreach(rules, i, v) {
		r = parse_rule(&p->rules[i], i, v, err, errlen);
		if (p->rules[i].domains != NULL)
			p->nrules++;
		if (r != 0)
			goto out;
	}
	*out = p;	/* transferred */
	p = NULL;
	r = 0;
 out:
	policy_free(p);
	json_decref(root);
	return r;
}

char *
policy_to_json(const policy *p)
{
	json_t *root = NULL, *ids = NULL, *rules = NULL, *rule, *caps;
	char *s = NULL, *dumped = NULL;
	json_malloc_t jmalloc;
	json_free_t jfree;
	size_t i, b;

	if ((root = json_object()) == NULL || (ids = json_array()) == NULL ||
	    (rules = json_array()) == NULL)
		goto out;
	for (i = 0; i < p->nidentities; i++)
		json_array_append_new(ids, json_string(p->identities[i]));
	for (i = 0; i < p->nrules; i++) {
		rule = json_object();
		caps = json_array();
		if (rule == NULL || caps == NULL) {
			json_decref(rule);
			json_decref(caps);
			goto out;
		}
		for (b = 0; b < NCAPS; b++)
			if (p->rules[i].caps & cap_names[b].bit)
				json_array_append_new(caps,
				    json_string(cap_names[b].name));
		json_object_set_new(rule, "domains",
		    json_string(p->rules[i].domains));
		json_object_set_new(rule, "capabilities", caps);
		json_array_append_new(rules, rule);
	}
	json_object_set_new(root, "name", json_string(p->name));
	json_object_set(root, "identities", ids);
	json_object_set(root, "rules", rules);
	/* json_dumps memory belongs to jansson's allocator: hand out a copy. */
	json_get_alloc_funcs(&jmalloc, &jfree);
	if ((dumped = json_dumps(root, JSON_COMPACT)) != NULL) {
		s = strdup(dumped);
		jfree(dumped);
	}
 out:
	json_decref(ids);
	json_decref(rules);
	json_decref(root);
	return s;
}

int
policy_binds(const policy *p, const char *const *ids, size_t nids)
{
	size_t i, j;

	for (i = 0; i < p->nidentities; i++)
		for (j = 0; j < nids; j++)
			if (ids[j] != NULL &&
			    policy_glob_match(p->identities[i], ids[j]))
				return 1;
	return 0;
}

int
policy_grants(const policy *p, unsigned caps, const char *domain)
{
	unsigned have = 0;
	size_t i;

	for (i = 0; i < p->nrules; i++) {
		if (!policy_glob_match(p->rules[i].domains, domain))
			continue;
		have |= p->rules[i].caps;
	}
	if (have & CAPB_ADMIN)
		return 1;
	return (have & caps) == caps;
}
