/*
 * conns.c - the registry of live CA connectors.
 *
 * A sorted array of entries under a rwlock; each entry carries its own
 * reference count, protected by the registry's mutex, so lookups run in
 * parallel and removal waits for nobody: the last reference destroys.
 * Additions are serialised by add_lock, so a name is checked, created and
 * stored by one caller at a time (a local CA writes its state while
 * being created, and must never overwrite another's).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ca/conns.h"
#include "common/err.h"
#include "common/log.h"
#include "crypto/envelope.h"
#include "crypto/vault.h"
#include "store/cadb.h"

struct ca_conn {
	char			 name[CAP_NAME_MAX + 1];
	const struct ca_ops	*ops;
	void			*state;
	json_t			*settings;
	struct ca_limits	 limits;
	unsigned		 refs;		/* under cs->ref_lock */
	pthread_mutex_t		*ref_lock;
};

struct ca_conns {
	struct ca_env		 env;
	pthread_rwlock_t	 lock;
	pthread_mutex_t		 ref_lock;
	pthread_mutex_t		 add_lock;
	ca_conn			**v;		/* sorted by name */
	size_t			 n, cap;
};

static void
say(char *err, size_t errlen, const char *msg)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", msg);
}

int
ca_limits_parse(json_t *j, struct ca_limits *out, char *err, size_t errlen)
{
	static const char *const names[] = { "rate", "burst",
	    "max_in_flight", "queue" };
	const char *k;
	json_t *v;
	double d;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (j == NULL || json_is_null(j))
		return 0;
	if (!json_is_object(j)) {
		say(err, errlen, "limits must be an object");
		return CAP_ERR_INVALID;
	}
	json_object_foreach(j, k, v) {
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strcmp(k, names[i]) == 0)
				break;
		if (i == sizeof(names) / sizeof(names[0])) {
			say(err, errlen, "unknown member in limits");
			return CAP_ERR_INVALID;
		}
		if (!json_is_number(v) || (d = json_number_value(v)) < 0 ||
		    (i == 0 && d > CA_LIMITS_MAX_RATE) ||
		    (i > 0 && (d > CA_LIMITS_MAX_COUNT || d != (uint32_t)d))) {
			say(err, errlen, "limits values must be non-negative "
			    "numbers in range (counts whole)");
			return CAP_ERR_INVALID;
		}
		switch (i) {
		case 0: out->rate = d; break;
		case 1: out->burst = (uint32_t)d; break;
		case 2: out->max_in_flight = (uint32_t)d; break;
		default: out->queue = (uint32_t)d; break;
		}
	}
	return 0;
}

/* json_dumps output belongs to jansson's allocator, which may wipe. */
static void
json_text_free(char *p)
{
	json_malloc_t m;
	json_free_t f;

	if (p == NULL)
		return;
	json_get_alloc_funcs(&m, &f);
	f(p);
}

/* ---- vault references ---- */

/* Replaces one "vault:D/N#K" string with the secret's member K. */
static int
resolve_one(const struct ca_env *env, const char *ref, json_t **out)
{
	char dom[CAP_NAME_MAX + 1], name[CAP_NAME_MAX + 1], key[256];
	const char *slash, *hash;
	uint8_t *data = NULL;
	size_t len = 0;
	json_t *doc = NULL, *m;
	int r;

	*out = NULL;
	ref += 6;
	if ((slash = strchr(ref, '/')) == NULL ||
	    (hash = strchr(slash, '#')) == NULL ||
	    (size_t)(slash - ref) > CAP_NAME_MAX ||
	    (size_t)(hash - slash - 1) > CAP_NAME_MAX ||
	    strlen(hash + 1) >= sizeof(key))
		return CAP_ERR_INVALID;
	memcpy(dom, ref, (size_t)(slash - ref));
	dom[slash - ref] = '\0';
	memcpy(name, slash + 1, (size_t)(hash - slash - 1));
	name[hash - slash - 1] = '\0';
	snprintf(key, sizeof(key), "%s", hash + 1);
	if (env->v == NULL)
		return CAP_ERR_UNAVAILABLE;
	if ((r = vault_secret_get(env->v, dom, name, 0, &data, &len,
	    NULL)) != 0)
		return r;
	r = CAP_ERR_INVALID;
	if ((doc = json_loadb((const char *)data, len, 0, NULL)) == NULL ||
	    (m = json_object_get(doc, key)) == NULL || !json_is_string(m))
		goto out;
	if ((*out = json_stringn(json_string_value(m),
	    json_string_length(m))) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	r = 0;
 out:
	json_decref(doc);
	envelope_plaintext_free(data, len);
	return r;
}

static int
resolve_refs(const struct ca_env *env, json_t *j, int depth)
{
	const char *k;
	json_t *v, *sec;
	size_t i;
	int r;

	if (depth > 8)
		return CAP_ERR_INVALID;
	if (json_is_object(j)) {
		json_object_foreach(j, k, v) {
			if (json_is_string(v) &&
			    strncmp(json_string_value(v), "vault:", 6) == 0) {
				if ((r = resolve_one(env, json_string_value(v),
				    &sec)) != 0)
					return r;
				if (json_object_set_new(j, k, sec) != 0)
					return CAP_ERR_NOMEM;
			} else if ((r = resolve_refs(env, v, depth + 1)) != 0)
				return r;
		}
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			if ((r = resolve_refs(env, v, depth + 1)) != 0)
				return r;
	}
	return 0;
}

/* Wipes every string of a settings copy before it is released. */
static void
wipe_strings(json_t *j, int depth)
{
	const char *k;
	json_t *v;
	size_t i;

	if (j == NULL || depth > 9)
		return;
	if (json_is_string(j))
		sodium_memzero((char *)json_string_value(j),
		    json_string_length(j));
	else if (json_is_object(j)) {
		json_object_foreach(j, k, v)
			wipe_strings(v, depth + 1);
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			wipe_strings(v, depth + 1);
	}
}

/* ---- entries ---- */

static void
conn_destroy(ca_conn *c)
{
	if (c == NULL)
		return;
	if (c->ops != NULL && c->state != NULL)
		c->ops->destroy(c->state);
	json_decref(c->settings);
	free(c);
}

void
ca_conn_release(ca_conn *c)
{
	unsigned left;

	if (c == NULL)
		return;
	pthread_mutex_lock(c->ref_lock);
	left = --c->refs;
	pthread_mutex_unlock(c->ref_lock);
	if (left == 0)
		conn_destroy(c);
}

const char *ca_conn_name(const ca_conn *c) { return c->name; }
const char *ca_conn_protocol(const ca_conn *c) { return c->ops->protocol; }
const struct ca_ops *ca_conn_ops(const ca_conn *c) { return c->ops; }
void *ca_conn_state(const ca_conn *c) { return c->state; }
const struct ca_limits *ca_conn_limits(const ca_conn *c) { return &c->limits; }
json_t *ca_conn_settings(const ca_conn *c) { return c->settings; }

/* index of name, or -(insertion point) - 1 */
static long
find(const ca_conns *cs, const char *name)
{
	size_t lo = 0, hi = cs->n, mid;
	int c;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if ((c = strcmp(cs->v[mid]->name, name)) == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(long)lo - 1;
}

static int
insert(ca_conns *cs, ca_conn *c)
{
	ca_conn **nv;
	long at;
	size_t pos;

	pthread_rwlock_wrlock(&cs->lock);
	if ((at = find(cs, c->name)) >= 0) {
		pthread_rwlock_unlock(&cs->lock);
		return CAP_ERR_EXISTS;
	}
	if (cs->n == cs->cap) {
		if ((nv = reallocarray(cs->v, cs->cap ? cs->cap * 2 : 8,
		    sizeof(*nv))) == NULL) {
			pthread_rwlock_unlock(&cs->lock);
			return CAP_ERR_NOMEM;
		}
		cs->v = nv;
		cs->cap = cs->cap ? cs->cap * 2 : 8;
	}
	pos = (size_t)(-at - 1);
	memmove(cs->v + pos + 1, cs->v + pos, (cs->n - pos) * sizeof(*cs->v));
	cs->v[pos] = c;
	cs->n++;
	c->refs = 1;	/* the registry's own reference */
	pthread_rwlock_unlock(&cs->lock);
	return 0;
}

/* Builds a live connector; settings is borrowed. */
static int
conn_start(ca_conns *cs, const char *name, const char *protocol,
    json_t *settings, json_t *limits, ca_conn **out, char *err,
    size_t errlen)
{
	ca_conn *c = NULL;
	json_t *resolved = NULL;
	int r;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return CAP_ERR_NOMEM;
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->ref_lock = &cs->ref_lock;
	if ((c->ops = ca_ops_find(protocol)) == NULL) {
		say(err, errlen, "unknown protocol");
		r = CAP_ERR_INVALID;
		goto out;
	}
	if ((r = ca_limits_parse(limits, &c->limits, err, errlen)) != 0)
		goto out;
	if ((c->settings = json_deep_copy(settings)) == NULL ||
	    (resolved = json_deep_copy(settings)) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	if ((r = resolve_refs(&cs->env, resolved, 0)) != 0) {
		say(err, errlen, "a vault: reference in the settings does not "
		    "resolve to a string member of an existing secret");
		if (r != CAP_ERR_NOMEM)
			r = CAP_ERR_INVALID;
		goto out;
	}
	if ((r = c->ops->create(name, resolved, &cs->env, &c->state, err,
	    errlen)) != 0)
		goto out;
	*out = c;	/* transferred */
	c = NULL;
	r = 0;
 out:
	wipe_strings(resolved, 0);
	json_decref(resolved);
	conn_destroy(c);
	return r;
}

static int
load_one(ca_conns *cs, const char *name, int quiet)
{
	struct cadb_conn *rec = NULL;
	json_t *settings = NULL, *limits = NULL;
	ca_conn *c = NULL;
	char err[256] = "";
	int r;

	if ((r = cadb_conn_get(cs->env.s, name, &rec)) != 0)
		goto out;
	r = CAP_ERR_CORRUPT;
	if ((settings = json_loads(rec->settings, 0, NULL)) == NULL)
		goto out;
	if (rec->limits != NULL &&
	    (limits = json_loads(rec->limits, 0, NULL)) == NULL)
		goto out;
	if ((r = conn_start(cs, name, rec->protocol, settings, limits, &c,
	    err, sizeof(err))) != 0)
		goto out;
	if ((r = insert(cs, c)) != 0)
		goto out;
	c = NULL;
	r = 0;
 out:
	if (r != 0 && !quiet)
		log_error("ca: connector %s not started: %s%s%s", name,
		    cap_strerror(r), err[0] ? ": " : "", err);
	conn_destroy(c);
	json_decref(settings);
	json_decref(limits);
	cadb_conn_free(rec);
	return r;
}

int
ca_conns_new(const struct ca_env *env, ca_conns **out)
{
	ca_conns *cs = NULL;
	char **names = NULL;
	size_t n = 0, i;
	int r;

	*out = NULL;
	if (env == NULL)
		return CAP_ERR_INVALID;
	if ((cs = calloc(1, sizeof(*cs))) == NULL)
		return CAP_ERR_NOMEM;
	cs->env = *env;
	cs->env.conns = cs;
	if (pthread_rwlock_init(&cs->lock, NULL) != 0) {
		free(cs);
		return CAP_ERR_INTERNAL;
	}
	pthread_mutex_init(&cs->ref_lock, NULL);
	pthread_mutex_init(&cs->add_lock, NULL);
	if (cs->env.s != NULL) {
		if ((r = cadb_conn_list(cs->env.s, &names, &n)) != 0)
			goto out;
		/* Parents first: a local intermediate looks its parent up. */
		for (i = 0; i < n; i++)
			(void)load_one(cs, names[i], 1);
		for (i = 0; i < n; i++)
			if (find(cs, names[i]) < 0)
				(void)load_one(cs, names[i], 0);
	}
	*out = cs;	/* transferred */
	cs = NULL;
	r = 0;
 out:
	store_names_free(names, n);
	ca_conns_free(cs);
	return r;
}

void
ca_conns_free(ca_conns *cs)
{
	size_t i;

	if (cs == NULL)
		return;
	for (i = 0; i < cs->n; i++)
		ca_conn_release(cs->v[i]);
	free(cs->v);
	pthread_rwlock_destroy(&cs->lock);
	pthread_mutex_destroy(&cs->ref_lock);
	pthread_mutex_destroy(&cs->add_lock);
	free(cs);
}

int
ca_conns_add(ca_conns *cs, const char *name, const char *protocol,
    json_t *settings, json_t *limits, char *err, size_t errlen)
{
	struct cadb_conn rec;
	struct cadb_conn *old = NULL;
	ca_conn *c = NULL;
	char *stext = NULL, *ltext = NULL;
	long at;
	int r;

	if (cs == NULL || name == NULL || protocol == NULL ||
	    !json_is_object(settings)) {
		say(err, errlen, "name, protocol and settings are required");
		return CAP_ERR_INVALID;
	}
	if (!cap_name_valid(name)) {
		say(err, errlen, "invalid connector name");
		return CAP_ERR_INVALID;
	}
	memset(&rec, 0, sizeof(rec));
	pthread_mutex_lock(&cs->add_lock);
	pthread_rwlock_rdlock(&cs->lock);
	at = find(cs, name);
	pthread_rwlock_unlock(&cs->lock);
	if (at >= 0) {
		r = CAP_ERR_EXISTS;
		goto out;
	}
	if (cs->env.s != NULL) {
		r = cadb_conn_get(cs->env.s, name, &old);
		cadb_conn_free(old);
		if (r == 0) {
			r = CAP_ERR_EXISTS;
			goto out;
		}
		if (r != CAP_ERR_NOT_FOUND)
			goto out;
	}
	if ((stext = json_dumps(settings, JSON_COMPACT | JSON_SORT_KEYS)) ==
	    NULL || (limits != NULL && !json_is_null(limits) &&
	    (ltext = json_dumps(limits, JSON_COMPACT | JSON_SORT_KEYS)) ==
	    NULL)) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	if ((r = cadb_settings_check(stext, strlen(stext))) != 0) {
		say(err, errlen, "settings must not hold a literal secret: "
		    "give members named *secret, *password, *challenge or "
		    "*pin as \"vault:DOMAIN/NAME#KEY\" references");
		goto out;
	}
	if ((r = conn_start(cs, name, protocol, settings, limits, &c, err,
	    errlen)) != 0)
		goto out;
	if (cs->env.s != NULL) {
		snprintf(rec.name, sizeof(rec.name), "%s", name);
		snprintf(rec.protocol, sizeof(rec.protocol), "%s", protocol);
		rec.settings = stext;
		rec.limits = ltext;
		rec.created = cap_now();
		if ((r = cadb_conn_put(cs->env.s, &rec, 1)) != 0)
			goto out;
	}
	if ((r = insert(cs, c)) != 0)
		goto out;
	c = NULL;
	r = 0;
 out:
	pthread_mutex_unlock(&cs->add_lock);
	conn_destroy(c);
	json_text_free(stext);
	json_text_free(ltext);
	return r;
}

int
ca_conns_remove(ca_conns *cs, const char *name)
{
	ca_conn *c = NULL;
	long at;
	int r;

	if (cs == NULL || name == NULL)
		return CAP_ERR_INVALID;
	pthread_mutex_lock(&cs->add_lock);
	pthread_rwlock_wrlock(&cs->lock);
	if ((at = find(cs, name)) >= 0) {
		c = cs->v[at];
		memmove(cs->v + at, cs->v + at + 1,
		    (cs->n - (size_t)at - 1) * sizeof(*cs->v));
		cs->n--;
	}
	pthread_rwlock_unlock(&cs->lock);
	r = c != NULL ? 0 : CAP_ERR_NOT_FOUND;
	if (cs->env.s != NULL) {
		r = cadb_conn_delete(cs->env.s, name);
		if (r == CAP_ERR_NOT_FOUND && c != NULL)
			r = 0;
	}
	pthread_mutex_unlock(&cs->add_lock);
	ca_conn_release(c);
	return r;
}

int
ca_conns_get(ca_conns *cs, const char *name, ca_conn **out)
{
	long at;

	*out = NULL;
	if (cs == NULL || name == NULL)
		return CAP_ERR_INVALID;
	pthread_rwlock_rdlock(&cs->lock);
	if ((at = find(cs, name)) >= 0) {
		*out = cs->v[at];
		pthread_mutex_lock(&cs->ref_lock);
		(*out)->refs++;
		pthread_mutex_unlock(&cs->ref_lock);
	}
	pthread_rwlock_unlock(&cs->lock);
	return *out != NULL ? 0 : CAP_ERR_NOT_FOUND;
}

int
ca_conns_list(ca_conns *cs, struct ca_conn_entry **out, size_t *n)
{
	struct ca_conn_entry *v = NULL;
	size_t i;

	*out = NULL;
	*n = 0;
	if (cs == NULL)
		return CAP_ERR_INVALID;
	pthread_rwlock_rdlock(&cs->lock);
	if (cs->n > 0 && (v = calloc(cs->n, sizeof(*v))) == NULL) {
		pthread_rwlock_unlock(&cs->lock);
		return CAP_ERR_NOMEM;
	}
	for (i = 0; i < cs->n; i++) {
		snprintf(v[i].name, sizeof(v[i].name), "%s", cs->v[i]->name);
		snprintf(v[i].protocol, sizeof(v[i].protocol), "%s",
		    cs->v[i]->ops->protocol);
	}
	*n = cs->n;
	pthread_rwlock_unlock(&cs->lock);
	*out = v;
	return 0;
}
