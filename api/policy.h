/*
 * policy.h - access policies: named sets of rules {domain pattern,
 * capabilities} bound to identities.  Default deny: a request is allowed
 * only when some rule of some policy that applies to the caller grants the
 * capability on the domain.  Pure functions, no I/O; thread-safe for
 * concurrent readers of an immutable policy.
 */
#ifndef CAP_POLICY_H
#define CAP_POLICY_H

#include <stddef.h>

#define POLICY_DOC_MAX		(64 * 1024)	/* largest policy document */
#define POLICY_MAX_RULES	64
#define POLICY_MAX_IDENTITIES	64
#define POLICY_PATTERN_MAX	256

/* capabilities, a bit set */
#define CAPB_READ	0x01u
#define CAPB_WRITE	0x02u
#define CAPB_DELETE	0x04u
#define CAPB_LIST	0x08u
#define CAPB_REF	0x10u
#define CAPB_ADMIN	0x20u	/* implies every other capability */

typedef struct policy policy;

/*
 * policy_parse reads a policy document:
 *   {"identities":["CN=svc-a","CN=svc-*"],
 *    "rules":[{"domains":"payments","capabilities":["read","list"]}]}
 * Patterns use '*' (any run) and '?' (one character).  On error returns
 * CAP_ERR_INVALID (or CAP_ERR_TOO_LARGE) and a message in err.
 */
int policy_parse(const char *name, const char *doc, size_t len, policy **out,
    char *err, size_t errlen) __attribute__((warn_unused_result));
void policy_free(policy *p);
const char *policy_name(const policy *p);

/* policy_to_json serialises the policy as its document (malloc'd). */
char *policy_to_json(const policy *p);

/* policy_binds: 1 if one of the identity patterns matches one of ids. */
int policy_binds(const policy *p, const char *const *ids, size_t nids);

/* policy_grants: 1 if a rule grants every capability bit of `caps` on domain. */
int policy_grants(const policy *p, unsigned caps, const char *domain);

/* capability names <-> bits; policy_cap_parse returns 0 if unknown. */
unsigned policy_cap_parse(const char *s);
const char *policy_cap_name(unsigned bit);

/* policy_glob_match: shell-style '*' and '?' matching, no backtracking blow-up. */
int policy_glob_match(const char *pattern, const char *s);

#endif
