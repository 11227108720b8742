/*
 * conns.h - the live set of configured CA connectors, by name.
 *
 * Built at start-up from the connectors kept in the store
 * (store/cadb.h), grown and shrunk at run time through /v1/cas.  A caller
 * takes a reference with ca_conns_get and gives it back with
 * ca_conn_release; a connector removed while in use is destroyed when its
 * last reference goes, so a request in flight never sees it vanish.
 *
 * Settings members that carry a secret are "vault:DOMAIN/NAME#KEY"
 * references (see store/cadb.h); the registry resolves them from the
 * vault into the copy of the settings handed to the connector's create,
 * and wipes that copy afterwards.  The stored settings keep the reference.
 *
 * All functions return 0 or a negative CAP_ERR_*.
 */
#ifndef CAP_CA_CONNS_H
#define CAP_CA_CONNS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ca/ca.h"
#include "common/util.h"

typedef struct ca_conns ca_conns;
typedef struct ca_conn ca_conn;

/*
 * Flow-control settings of one connector ("limits" in POST /v1/cas);
 * 0 means no limit.  Applied by ca/flow.c.
 */
struct ca_limits {
	double		rate;		/* requests per second */
	uint32_t	burst;		/* token bucket size */
	uint32_t	max_in_flight;	/* requests at the CA at once */
	uint32_t	queue;		/* requests waiting for a slot */
};

#define CA_LIMITS_MAX_RATE	100000.0
#define CA_LIMITS_MAX_COUNT	1000000

/*
 * ca_limits_parse reads a "limits" object ({"rate","burst",
 * "max_in_flight","queue"}, each optional, non-negative numbers); NULL or
 * JSON null gives all zeros.  CAP_ERR_INVALID with a reason in err.
 */
int ca_limits_parse(json_t *j, struct ca_limits *out, char *err,
    size_t errlen) __attribute__((warn_unused_result));

/*
 * ca_conns_new builds the registry from every connector in env->s.  A
 * connector that fails to start is logged and left out (its record
 * stays), so one broken CA does not keep the daemon down.  env is copied;
 * what it points to must outlive the registry.  env->conns is set to the
 * new registry in the copy the connectors see.
 */
int ca_conns_new(const struct ca_env *env, ca_conns **out)
    __attribute__((warn_unused_result));
/* ca_conns_free destroys every connector; NULL is a no-op. */
void ca_conns_free(ca_conns *cs);

/*
 * ca_conns_add creates a connector from the settings (JSON object without
 * name, protocol and limits) and keeps it in the store.  CAP_ERR_EXISTS
 * for a taken name, CAP_ERR_INVALID (reason in err) for a bad name,
 * unknown protocol, bad limits, a literal secret or settings the
 * connector refuses.
 */
int ca_conns_add(ca_conns *cs, const char *name, const char *protocol,
    json_t *settings, json_t *limits, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* ca_conns_remove forgets a connector (store and registry). */
int ca_conns_remove(ca_conns *cs, const char *name)
    __attribute__((warn_unused_result));

/* ca_conns_get takes a reference; CAP_ERR_NOT_FOUND if no such name. */
int ca_conns_get(ca_conns *cs, const char *name, ca_conn **out)
    __attribute__((warn_unused_result));
/* ca_conn_release gives a reference back; NULL is a no-op. */
void ca_conn_release(ca_conn *c);

const char *ca_conn_name(const ca_conn *c);
const char *ca_conn_protocol(const ca_conn *c);
const struct ca_ops *ca_conn_ops(const ca_conn *c);
void *ca_conn_state(const ca_conn *c);
const struct ca_limits *ca_conn_limits(const ca_conn *c);
/* The stored settings (with references, never secrets); borrowed. */
json_t *ca_conn_settings(const ca_conn *c);

struct ca_conn_entry {
	char	name[CAP_NAME_MAX + 1];
	char	protocol[16];
};

/* ca_conns_list returns the connectors sorted by name (*out malloc'd). */
int ca_conns_list(ca_conns *cs, struct ca_conn_entry **out, size_t *n)
    __attribute__((warn_unused_result));

#endif
