/*
 * lcm.c - VNF lifecycle notifications: cmf_lcm_notify of cmf.h, acting on
 * what lcm_parse.c read.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/audit.h"
#include "ca/ca.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "crypto/keys.h"
#include "nfv/cmf.h"
#include "nfv/cmf_int.h"
#include "nfv/lcm.h"
#include "store/certdb.h"
#include "store/cmfdb.h"

#define REASON_SUPERSEDED	4	/* RFC 5280 CRLReason */
#define REASON_CESSATION	5

/*
 * Notifications are applied one at a time: that serialises the ones of
 * one VNF instance (and a replay against its original), and token key
 * generation is serialised by the token layer anyway.
 */
static pthread_mutex_t lcm_lock = PTHREAD_MUTEX_INITIALIZER;

/* What one notification did, as it goes; becomes the summary. */
struct lcm_run {
	cmf			*c;
	const struct cmf_env	*env;
	const struct lcm_notification *n;
	json_t			*issued;	/* [{entity,certId,certType,serial}] */
	json_t			*revoked;	/* [{entity,certId,serial,reason}] */
	json_t			*created;	/* entity ids */
	json_t			*removed;	/* entity ids */
	json_t			*skipped;	/* [{id,why}] */
	json_int_t		 keys_destroyed;
	char			*err;
	size_t			 errlen;
};

/*
 * One audit entry per action, with the notification, the entity and the
 * certificate it touched.  A log that cannot be written stops the
 * notification (it is then not recorded, and a retry finishes it).
 */
static int
lcm_audit(struct lcm_run *run, const char *op, const char *entity,
    const char *cert_id, const char *serial, const char *outcome)
{
	const char *facts[16];
	char path[64 + LCM_ID_MAX];
	struct audit_event ev;
	size_t i = 0;
	int r;

	if (run->env->audit == NULL)
		return 0;
	facts[i++] = "notification";
	facts[i++] = run->n->id;
	facts[i++] = "vnfInstanceId";
	facts[i++] = run->n->vnf_instance_id;
	facts[i++] = "operation";
	facts[i++] = run->n->operation_name;
	if (entity != NULL) {
		facts[i++] = "entity";
		facts[i++] = entity;
	}
	if (cert_id != NULL) {
		facts[i++] = "certId";
		facts[i++] = cert_id;
	}
	if (serial != NULL && serial[0] != '\0') {
		facts[i++] = "serial";
		facts[i++] = serial;
	}
	facts[i] = NULL;
	snprintf(path, sizeof(path), "/cmf/v1/lcm-notifications/%s",
	    run->n->id);
	memset(&ev, 0, sizeof(ev));
	ev.request_id = run->n->id;
	ev.identity = "cmf";
	ev.op = op;
	ev.method = "LCM";
	ev.path = path;
	ev.status = 0;
	ev.outcome = outcome;
	ev.facts = facts;
	if ((r = audit_append(run->env->audit, &ev)) != 0) {
		log_error("lcm: cannot write the audit entry of %s: %s", op,
		    cap_strerror(r));
		snprintf(run->err, run->errlen, "the audit log cannot be "
		    "written");
	}
	return r;
}

/* 1 when cert_id is an issued (or renewing) certificate; serial out. */
static int
cert_valid(struct lcm_run *run, const char *cert_id,
    char serial[CERTDB_SERIAL_MAX + 1], char key_id[CERTDB_ID_LEN + 1])
{
	struct certdb_cert *cc = NULL;
	int ok;

	if (certdb_get(run->env->s, cert_id, &cc) != 0)
		return 0;
	ok = cc->status == CERTDB_ISSUED || cc->status == CERTDB_RENEWING;
	if (serial != NULL)
		snprintf(serial, CERTDB_SERIAL_MAX + 1, "%s", cc->serial);
	if (key_id != NULL)
		snprintf(key_id, CERTDB_ID_LEN + 1, "%s", cc->key_id);
	certdb_cert_free(cc);
	return ok;
}

static void
note_cert(json_t *a, const char *entity, const char *cert_id,
    const char *certtype, const char *serial, const char *reason)
{
	json_t *o = json_object();

	if (o == NULL)
		return;
	json_object_set_new(o, "entity", json_string(entity));
	json_object_set_new(o, "certId", json_string(cert_id));
	if (certtype != NULL)
		json_object_set_new(o, "certType", json_string(certtype));
	if (serial != NULL && serial[0] != '\0')
		json_object_set_new(o, "serial", json_string(serial));
	if (reason != NULL)
		json_object_set_new(o, "reason", json_string(reason));
	json_array_append_new(a, o);
}

static void
note_skip(struct lcm_run *run, const char *id, const char *why)
{
	json_array_append_new(run->skipped, json_pack("{s:s,s:s}", "id", id,
	    "why", why));
}

/* 1 if e holds a valid (not initial) certificate of certtype. */
static int
holds_type(struct lcm_run *run, const struct cmf_entity *e,
    const char *certtype)
{
	size_t i;

	for (i = 0; i < e->ncerts; i++)
		if (!e->certs[i].initial &&
		    strcmp(e->certs[i].certtype, certtype) == 0 &&
		    cert_valid(run, e->certs[i].cert_id, NULL, NULL))
			return 1;
	return 0;
}

/* Issues every certificate type of entity id it does not hold yet. */
static int
issue_missing(struct lcm_run *run, const char *id)
{
	struct cmf_entity *e = NULL;
	struct cmf_issued is;
	char serial[CERTDB_SERIAL_MAX + 1];
	size_t i;
	int r;

	memset(&is, 0, sizeof(is));
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return CAP_ERR_NOMEM;
	if ((r = cmf_entity_get(run->c, id, e)) != 0)
		goto out;
	for (i = 0; i < e->ntypes; i++) {
		if (holds_type(run, e, e->types[i].name))
			continue;
		if ((r = cmf_issue_delegated(run->c, id, e->types[i].name, &is,
		    run->err, run->errlen)) != 0) {
			log_warn("lcm: notification %s: issuing %s to %s "
			    "failed: %s", run->n->id, e->types[i].name, id,
			    cap_strerror(r));
			goto out;
		}
		serial[0] = '\0';
		(void)cert_valid(run, is.cert_id, serial, NULL);
		note_cert(run->issued, id, is.cert_id, e->types[i].name,
		    serial, NULL);
		if ((r = lcm_audit(run, "cmf.lcm.issue", id, is.cert_id,
		    serial, "ok")) != 0)
			goto out;
		cmf_issued_clear(&is);
	}
	r = 0;
 out:
	cmf_issued_clear(&is);
	free(e);
	return r;
}

/*
 * The FQDNs of a new VNFC instance: "<instance id>.<fqdn>" for each FQDN
 * of its VNFC when the id is a DNS name (letters, digits, '-' and '.',
 * and the result fits), else the VNFC's FQDNs unchanged.
 */
static void
instance_fqdns(const struct cmf_entity *vnfc, struct cmf_entity *inst)
{
	const char *p;
	int dns = 1, n;
	size_t i;

	for (p = inst->id; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
			dns = 0;
	if (inst->id[0] == '-' || inst->id[0] == '.' ||
	    inst->id[strlen(inst->id) - 1] == '.')
		dns = 0;
	for (i = 0; i < vnfc->nfqdns; i++) {
		n = snprintf(inst->fqdns[i], sizeof(inst->fqdns[i]), "%s.%s",
		    inst->id, vnfc->fqdns[i]);
		if (n < 0 || (size_t)n >= 254)
			dns = 0;
	}
	for (i = 0; i < vnfc->nfqdns; i++)
		if (!dns)
			memcpy(inst->fqdns[i], vnfc->fqdns[i],
			    sizeof(inst->fqdns[i]));
	inst->nfqdns = vnfc->nfqdns;
}

/* ADDED: the instance entity under its VNFC, then its certificates. */
static int
add_instance(struct lcm_run *run, const struct cmf_entity *vnfc,
    const char *id)
{
	struct cmf_entity *e = NULL;
	int r;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return CAP_ERR_NOMEM;
	if ((r = cmf_entity_get(run->c, id, e)) == 0)
		goto issue;	/* a retry after a partial run */
	if (r != CAP_ERR_NOT_FOUND)
		goto out;
	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->type = CMF_VNFC_INSTANCE;
	snprintf(e->parent, sizeof(e->parent), "%s", vnfc->id);
	snprintf(e->vnf_instance_id, sizeof(e->vnf_instance_id), "%s",
	    run->n->vnf_instance_id);
	snprintf(e->vnfc_id, sizeof(e->vnfc_id), "%s",
	    vnfc->vnfc_id[0] != '\0' ? vnfc->vnfc_id : vnfc->id);
	instance_fqdns(vnfc, e);
	memcpy(e->ips, vnfc->ips, sizeof(e->ips));
	e->nips = vnfc->nips;
	memcpy(e->types, vnfc->types, sizeof(e->types));
	e->ntypes = vnfc->ntypes;
	e->binding = vnfc->binding;
	if ((r = cmf_entity_create(run->c, e, run->err, run->errlen)) != 0) {
		log_warn("lcm: notification %s: cannot create VNFC instance "
		    "%s: %s", run->n->id, id, cap_strerror(r));
		goto out;
	}
	json_array_append_new(run->created, json_string(id));
	if ((r = lcm_audit(run, "cmf.lcm.entity.create", id, NULL, NULL,
	    "ok")) != 0)
		goto out;
 issue:
	r = issue_missing(run, id);
 out:
	free(e);
	return r;
}

/*
 * The P2 shared keys that removing entities may end: each VNFC and
 * certificate type met, and whether its key was there before.
 */
struct shared_set {
	struct {
		char	vnfc[CMF_ID_MAX + 1];
		char	certtype[CMF_CERTTYPE_MAX + 1];
		char	key_id[CERTDB_ID_LEN + 1];
	}	v[CMF_CERTS_MAX];
	size_t	n;
};

static void
shared_add(struct lcm_run *run, struct shared_set *ss, const char *vnfc,
    const char *certtype)
{
	size_t i;

	for (i = 0; i < ss->n; i++)
		if (strcmp(ss->v[i].vnfc, vnfc) == 0 &&
		    strcmp(ss->v[i].certtype, certtype) == 0)
			return;
	if (ss->n == CMF_CERTS_MAX ||
	    cmfdb_shared_get(run->env->s, vnfc, certtype,
	    ss->v[i].key_id) != 0)
		return;
	snprintf(ss->v[i].vnfc, sizeof(ss->v[i].vnfc), "%s", vnfc);
	snprintf(ss->v[i].certtype, sizeof(ss->v[i].certtype), "%s",
	    certtype);
	ss->n++;
}

/*
 * Revokes one certificate if it is still valid and drops it from the
 * CMF's certificate index; with note, it goes into the summary and the
 * audit log.
 */
static int
revoke_one(struct lcm_run *run, const char *entity, const char *cert_id,
    int reason, int note)
{
	struct certdb_cert *cc = NULL;
	char serial[CERTDB_SERIAL_MAX + 1];
	uint8_t hash[CMFDB_HASH_LEN];
	int r;

	if ((r = certdb_get(run->env->s, cert_id, &cc)) != 0)
		return r == CAP_ERR_NOT_FOUND ? 0 : r;
	if (cc->status != CERTDB_ISSUED && cc->status != CERTDB_RENEWING) {
		r = 0;
		goto out;
	}
	snprintf(serial, sizeof(serial), "%s", cc->serial);
	if ((r = cmf_revoke_cert(run->c, cc->der, cc->derlen, reason,
	    run->err, run->errlen)) != 0) {
		log_warn("lcm: notification %s: revoking %s of %s failed: %s",
		    run->n->id, cert_id, entity, cap_strerror(r));
		goto out;
	}
	cmf_hash(cc->der, cc->derlen, hash);
	if ((r = cmfdb_cert_delete(run->env->s, hash)) != 0 &&
	    r != CAP_ERR_NOT_FOUND)
		goto out;
	r = 0;
	if (note) {
		note_cert(run->revoked, entity, cert_id, NULL, serial,
		    ca_reason_name(reason));
		r = lcm_audit(run, "cmf.lcm.revoke", entity, cert_id, serial,
		    "ok");
	}
 out:
	certdb_cert_free(cc);
	return r;
}

/* Destroys a key of the token if it is still there. */
static int
destroy_key(struct lcm_run *run, const char *entity, const char *key_id,
    int note)
{
	int r;

	if (key_id[0] == '\0')
		return 0;
	r = keys_destroy(run->env->h, run->env->s, key_id);
	if (r == CAP_ERR_NOT_FOUND)
		return 0;
	if (r != 0) {
		log_warn("lcm: notification %s: destroying a key of %s "
		    "failed: %s", run->n->id, entity, cap_strerror(r));
		return r;
	}
	if (!note)
		return 0;
	run->keys_destroyed++;
	return lcm_audit(run, "cmf.lcm.key.destroy", entity, NULL, NULL, "ok");
}

/*
 * Notes what deleting entity e (already read) revokes and destroys (the
 * delete itself does both): its valid certificates, shared (P2) ones
 * included, and the keys of its own delegated ones.  The shared keys its
 * P2 types use go to ss.
 */
static int
note_entity_removal(struct lcm_run *run, const struct cmf_entity *e,
    struct shared_set *ss)
{
	char serial[CERTDB_SERIAL_MAX + 1], key[CERTDB_ID_LEN + 1];
	const char *scope;
	size_t i;
	int r;

	scope = cmf_shared_scope(e);
	for (i = 0; i < e->ntypes; i++)
		if (e->types[i].binding == CMF_P2)
			shared_add(run, ss, scope, e->types[i].name);
	for (i = 0; i < e->ncerts; i++) {
		const struct cmf_held *h = &e->certs[i];

		key[0] = '\0';
		if (!cert_valid(run, h->cert_id, serial, key))
			continue;
		note_cert(run->revoked, e->id, h->cert_id, h->certtype,
		    serial, "cessationOfOperation");
		if (h->delegated && !h->shared && key[0] != '\0')
			run->keys_destroyed++;
		if ((r = lcm_audit(run, "cmf.lcm.revoke", e->id, h->cert_id,
		    serial, "ok")) != 0)
			return r;
	}
	return 0;
}

/*
 * After a removal: a shared key is gone once no instance of its VNFC
 * holds a certificate for it (cmf_entity_delete collects it); count and
 * audit the ones that went.
 */
static int
note_shared_gone(struct lcm_run *run, const struct shared_set *ss)
{
	char key[CERTDB_ID_LEN + 1];
	size_t i;
	int r;

	for (i = 0; i < ss->n; i++) {
		if (cmfdb_shared_get(run->env->s, ss->v[i].vnfc,
		    ss->v[i].certtype, key) == 0)
			continue;
		run->keys_destroyed++;
		if ((r = lcm_audit(run, "cmf.lcm.key.destroy", ss->v[i].vnfc,
		    NULL, NULL, "ok")) != 0)
			return r;
	}
	return 0;
}

/*
 * REMOVED: the instance and what it holds go (cmf_entity_delete revokes
 * with cessationOfOperation and destroys its own keys); a shared (P2)
 * credential ends with the last instance of its VNFC.
 */
static int
remove_instance(struct lcm_run *run, const char *id)
{
	struct cmf_entity *e = NULL;
	struct shared_set *ss = NULL;
	int r;

	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (ss = calloc(1, sizeof(*ss))) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	if ((r = cmf_entity_get(run->c, id, e)) != 0) {
		if (r == CAP_ERR_NOT_FOUND) {
			note_skip(run, id, "no such VNFC instance");
			r = 0;
		}
		goto out;
	}
	if ((r = note_entity_removal(run, e, ss)) != 0)
		goto out;
	if ((r = cmf_entity_delete(run->c, id)) != 0) {
		log_warn("lcm: notification %s: removing VNFC instance %s "
		    "failed: %s", run->n->id, id, cap_strerror(r));
		snprintf(run->err, run->errlen, "removing VNFC instance %s "
		    "failed", id);
		goto out;
	}
	json_array_append_new(run->removed, json_string(id));
	if ((r = lcm_audit(run, "cmf.lcm.entity.delete", id, NULL, NULL,
	    "ok")) != 0)
		goto out;
	r = note_shared_gone(run, ss);
 out:
	free(ss);
	free(e);
	return r;
}

static int
drop_held(struct cmf_entity *e, void *arg)
{
	const char *cert_id = arg;
	size_t i;

	for (i = 0; i < e->ncerts; i++)
		if (strcmp(e->certs[i].cert_id, cert_id) == 0) {
			memmove(&e->certs[i], &e->certs[i + 1],
			    (e->ncerts - i - 1) * sizeof(e->certs[0]));
			e->ncerts--;
			memset(&e->certs[e->ncerts], 0, sizeof(e->certs[0]));
			return 0;
		}
	return 0;
}

/*
 * HEAL (MODIFIED): every valid certificate with a key of the instance's
 * own (P1) is re-issued with a new key; the old one is revoked as
 * superseded, its key destroyed and it leaves the entity's list.  Shared
 * (P2) credentials stay: the key is the VNFC's, not the healed host's.
 */
static int
heal_instance(struct lcm_run *run, const char *id)
{
	struct cmf_entity *e = NULL;
	struct cmf_issued is;
	char serial[CERTDB_SERIAL_MAX + 1], key[CERTDB_ID_LEN + 1];
	size_t i;
	int r;

	memset(&is, 0, sizeof(is));
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return CAP_ERR_NOMEM;
	if ((r = cmf_entity_get(run->c, id, e)) != 0) {
		if (r == CAP_ERR_NOT_FOUND) {
			note_skip(run, id, "no such VNFC instance");
			r = 0;
		}
		goto out;
	}
	for (i = 0; i < e->ncerts; i++) {
		const struct cmf_held *h = &e->certs[i];

		key[0] = '\0';
		if (h->shared || !h->delegated ||
		    !cert_valid(run, h->cert_id, NULL, key))
			continue;
		if ((r = cmf_issue_delegated(run->c, id, h->certtype, &is,
		    run->err, run->errlen)) != 0) {
			log_warn("lcm: notification %s: re-issuing %s to %s "
			    "failed: %s", run->n->id, h->certtype, id,
			    cap_strerror(r));
			goto out;
		}
		serial[0] = '\0';
		(void)cert_valid(run, is.cert_id, serial, NULL);
		note_cert(run->issued, id, is.cert_id, h->certtype, serial,
		    NULL);
		if ((r = lcm_audit(run, "cmf.lcm.reissue", id, is.cert_id,
		    serial, "ok")) != 0)
			goto out;
		cmf_issued_clear(&is);
		if ((r = revoke_one(run, id, h->cert_id,
		    REASON_SUPERSEDED, 1)) != 0 ||
		    (r = destroy_key(run, id, key, 1)) != 0)
			goto out;
		if ((r = cmfdb_entity_update(run->env->s, id, drop_held,
		    (void *)(uintptr_t)h->cert_id)) != 0)
			goto out;
	}
	r = 0;
 out:
	cmf_issued_clear(&is);
	free(e);
	return r;
}

/*
 * TERMINATE: the VNF instance and its subtree go; every valid certificate
 * they hold is revoked and every key of theirs destroyed
 * (cmf_entity_delete), shared ones included.
 */
static int
terminate(struct lcm_run *run, const char *vnf)
{
	struct cmf_entity *all = NULL;
	struct shared_set *ss = NULL;
	size_t n = 0, i, j, k;
	const char *p, *up;
	int r;

	if ((ss = calloc(1, sizeof(*ss))) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	if ((r = cmf_entity_list(run->c, NULL, &all, &n)) != 0)
		goto out;
	/* The subtree: entities whose chain of parents reaches vnf. */
	for (i = 0; i < n; i++) {
		p = all[i].id;
		for (k = 0; k < 8 && p != NULL && strcmp(p, vnf) != 0; k++) {
			up = NULL;
			for (j = 0; j < n; j++)
				if (strcmp(all[j].id, p) == 0) {
					up = all[j].parent[0] != '\0' ?
					    all[j].parent : NULL;
					break;
				}
			p = up;
		}
		if (p == NULL || strcmp(p, vnf) != 0)
			continue;
		if ((r = note_entity_removal(run, &all[i], ss)) != 0)
			goto out;
	}
	if ((r = cmf_entity_delete(run->c, vnf)) != 0) {
		log_warn("lcm: notification %s: removing VNF instance %s "
		    "failed: %s", run->n->id, vnf, cap_strerror(r));
		snprintf(run->err, run->errlen, "removing VNF instance %s "
		    "failed", vnf);
		goto out;
	}
	json_array_append_new(run->removed, json_string(vnf));
	if ((r = lcm_audit(run, "cmf.lcm.entity.delete", vnf, NULL, NULL,
	    "ok")) != 0)
		goto out;
	r = note_shared_gone(run, ss);
 out:
	free(all);
	free(ss);
	return r;
}

/*
 * Every affected VNFC must name a VNFC of this VNF instance, and an
 * existing instance id must be a VNFC instance of that VNFC; nothing is
 * done unless all of them are.
 */
static int
validate(struct lcm_run *run, const struct cmf_entity *vnf)
{
	struct cmf_entity *e = NULL;
	const struct lcm_vnfc *v;
	size_t i;
	int r;

	if (run->n->operation == LCM_OP_TERMINATE)
		return 0;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return CAP_ERR_NOMEM;
	for (i = 0; i < run->n->nvnfcs; i++) {
		v = &run->n->vnfcs[i];
		r = cmf_entity_get(run->c, v->vdu_id, e);
		if (r != 0 && r != CAP_ERR_NOT_FOUND)
			goto out;
		if (r != 0 || e->type != CMF_VNFC ||
		    strcmp(e->parent, vnf->id) != 0) {
			snprintf(run->err, run->errlen, "vduId %s is not a "
			    "VNFC of VNF instance %s", v->vdu_id, vnf->id);
			r = CAP_ERR_INVALID;
			goto out;
		}
		r = cmf_entity_get(run->c, v->id, e);
		if (r == CAP_ERR_NOT_FOUND)
			continue;
		if (r != 0)
			goto out;
		if (e->type != CMF_VNFC_INSTANCE ||
		    strcmp(e->parent, v->vdu_id) != 0) {
			snprintf(run->err, run->errlen, "%s is not a VNFC "
			    "instance of %s", v->id, v->vdu_id);
			r = CAP_ERR_INVALID;
			goto out;
		}
	}
	r = 0;
 out:
	free(e);
	return r;
}

static int
act(struct lcm_run *run, const struct cmf_entity *vnf)
{
	struct cmf_entity *vnfc = NULL;
	const struct lcm_vnfc *v;
	size_t i;
	int r;

	if (run->n->operation == LCM_OP_TERMINATE)
		return terminate(run, vnf->id);
	if ((vnfc = calloc(1, sizeof(*vnfc))) == NULL)
		return CAP_ERR_NOMEM;
	/* The VNF instance's own types (VNF_OM_CERT) come with INSTANTIATE. */
	if (run->n->operation == LCM_OP_INSTANTIATE &&
	    (r = issue_missing(run, vnf->id)) != 0)
		goto out;
	for (i = 0; i < run->n->nvnfcs; i++) {
		v = &run->n->vnfcs[i];
		if ((r = cmf_entity_get(run->c, v->vdu_id, vnfc)) != 0)
			goto out;
		switch (v->change) {
		case LCM_CH_ADDED:
			r = add_instance(run, vnfc, v->id);
			break;
		case LCM_CH_REMOVED:
			r = remove_instance(run, v->id);
			break;
		case LCM_CH_MODIFIED:
			if (run->n->operation == LCM_OP_HEAL)
				r = heal_instance(run, v->id);
			else
				note_skip(run, v->id, "modified outside HEAL: "
				    "certificates unchanged");
			break;
		default:
			note_skip(run, v->id, "temporary: certificates "
			    "unchanged");
			break;
		}
		if (r != 0)
			goto out;
	}
	r = 0;
 out:
	free(vnfc);
	return r;
}

/* The summary JSON text (malloc'd), cut to counts when over the limit. */
static char *
summary_text(struct lcm_run *run, int acted, const char *why)
{
	json_t *o;
	char *s = NULL, *out = NULL;
	json_malloc_t jm;
	json_free_t jf;

	o = json_pack("{s:s,s:s,s:s,s:s,s:b,s:O,s:O,s:I,s:O,s:O,s:O}",
	    "id", run->n->id, "vnfInstanceId", run->n->vnf_instance_id,
	    "operation", run->n->operation_name,
	    "operationState", run->n->state_name, "acted", acted,
	    "issued", run->issued, "revoked", run->revoked,
	    "keysDestroyed", run->keys_destroyed, "created", run->created,
	    "removed", run->removed, "skipped", run->skipped);
	if (o == NULL)
		return NULL;
	if (why != NULL)
		json_object_set_new(o, "ignored", json_string(why));
	s = json_dumps(o, JSON_COMPACT);
	if (s != NULL && strlen(s) > CMFDB_LCM_SUMMARY_MAX) {
		json_get_alloc_funcs(&jm, &jf);
		jf(s);
		json_object_set_new(o, "issued", json_integer(
		    (json_int_t)json_array_size(run->issued)));
		json_object_set_new(o, "revoked", json_integer(
		    (json_int_t)json_array_size(run->revoked)));
		json_object_set_new(o, "created", json_integer(
		    (json_int_t)json_array_size(run->created)));
		json_object_set_new(o, "removed", json_integer(
		    (json_int_t)json_array_size(run->removed)));
		json_object_del(o, "skipped");
		json_object_set_new(o, "truncated", json_true());
		s = json_dumps(o, JSON_COMPACT);
	}
	if (s != NULL) {
		out = strdup(s);
		json_get_alloc_funcs(&jm, &jf);
		jf(s);
	}
	json_decref(o);
	return out;
}

const struct cmf_env *
cmf_env_of(const cmf *c)
{
	return &c->env;
}

int
cmf_lcm_notify(cmf *c, const char *json, size_t len, int *replayed,
    char **summary_out, char *err, size_t errlen)
{
	struct lcm_notification n;
	struct lcm_run run;
	struct cmf_entity *vnf = NULL;
	struct cmfdb_lcm rec, old;
	char *summary = NULL, dummy[8];
	int r, locked = 0, acted = 0;

	*replayed = 0;
	if (summary_out != NULL)
		*summary_out = NULL;
	if (err == NULL || errlen == 0) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';
	memset(&run, 0, sizeof(run));
	memset(&rec, 0, sizeof(rec));
	memset(&old, 0, sizeof(old));
	if ((r = lcm_notification_parse(json, len, &n, err, errlen)) != 0)
		return r;
	run.c = c;
	run.env = cmf_env_of(c);
	run.n = &n;
	run.err = err;
	run.errlen = errlen;
	if ((run.issued = json_array()) == NULL ||
	    (run.revoked = json_array()) == NULL ||
	    (run.created = json_array()) == NULL ||
	    (run.removed = json_array()) == NULL ||
	    (run.skipped = json_array()) == NULL ||
	    (vnf = calloc(1, sizeof(*vnf))) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	pthread_mutex_lock(&lcm_lock);
	locked = 1;
	r = cmfdb_lcm_get(run.env->s, n.id, &old);
	if (r == 0) {
		*replayed = 1;
		if (summary_out != NULL && old.summary != NULL &&
		    (*summary_out = cap_bytes_str(old.summary,
		    old.summarylen)) == NULL) {
			r = CAP_ERR_NOMEM;
			goto out;
		}
		r = lcm_audit(&run, "cmf.lcm.replay", NULL, NULL, NULL, "ok");
		goto out;
	}
	if (r != CAP_ERR_NOT_FOUND)
		goto out;
	if ((r = cmf_entity_get(c, n.vnf_instance_id, vnf)) != 0 ||
	    vnf->type != CMF_VNF_INSTANCE) {
		if (r == 0 || r == CAP_ERR_NOT_FOUND) {
			snprintf(err, errlen, "unknown VNF instance %s",
			    n.vnf_instance_id);
			r = CAP_ERR_NOT_FOUND;
		}
		goto out;
	}
	if (n.state == LCM_OS_COMPLETED) {
		if ((r = validate(&run, vnf)) != 0)
			goto out;
		if ((r = act(&run, vnf)) != 0) {
			(void)lcm_audit(&run, "cmf.lcm.notification", NULL,
			    NULL, NULL, "error");
			goto out;
		}
		acted = 1;
	}
	if ((summary = summary_text(&run, acted, acted ? NULL :
	    "only COMPLETED occurrences act")) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	snprintf(rec.id, sizeof(rec.id), "%s", n.id);
	rec.time = cap_now();
	snprintf(rec.vnf_instance_id, sizeof(rec.vnf_instance_id), "%s",
	    n.vnf_instance_id);
	snprintf(rec.operation, sizeof(rec.operation), "%s",
	    n.operation_name);
	rec.summary = summary;
	rec.summarylen = strlen(summary);
	if ((r = cmfdb_lcm_put(run.env->s, &rec)) != 0) {
		log_warn("lcm: cannot record notification %s: %s", n.id,
		    cap_strerror(r));
		goto out;
	}
	if ((r = lcm_audit(&run, acted ? "cmf.lcm.notification" :
	    "cmf.lcm.ignored", NULL, NULL, NULL, "ok")) != 0)
		goto out;
	if (summary_out != NULL) {
		*summary_out = summary;	/* transferred */
		summary = NULL;
	}
	r = 0;
 out:
	if (locked)
		pthread_mutex_unlock(&lcm_lock);
	cmfdb_lcm_clear(&old);
	free(summary);
	free(vnf);
	json_decref(run.issued);
	json_decref(run.revoked);
	json_decref(run.created);
	json_decref(run.removed);
	json_decref(run.skipped);
	lcm_notification_clear(&n);
	return r;
}
