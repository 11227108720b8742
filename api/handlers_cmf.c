/*
 * handlers_cmf.c - /cmf/v1/entities and /cmf/v1/initial-credentials: the
 * NFV Certificate Management Function (nfv/cmf.h) over REST, in the
 * shapes of ETSI GS NFV-SOL 023.
 *
 * Issuing, revoking and removing wait for the CA, so those calls run on
 * a thread of their own (api_offload), as a job of the CMF (cmf_job_begin:
 * the CMF is not freed under it at shutdown); the reply is sent on the
 * worker once the job is done.  Everything is checked on
 * the worker first (entity, vnfcId, certType, CSR syntax), so a bad
 * request is answered at once and changes nothing.  Admins only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "api/api_int.h"
#include "api/handlers.h"
#include "api/reply.h"
#include "api/request.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "nfv/cmf.h"
#include "store/certdb.h"
#include "store/cmfdb.h"

#define CSR_PEM_MAX	(3 * CERTDB_DER_MAX)
#define DESCEND_MAX	3	/* VNF instance -> VNFC -> VNFC instance */

static const char *const type_names[] = {
	NULL, "VNF_INSTANCE", "VNFC", "VNFC_INSTANCE", "MANO",
};
static const char *const binding_names[] = { NULL, "P1", "P2", "P3" };

static int
name_index(const char *const *v, int n, const char *s)
{
	int i;

	for (i = 1; s != NULL && i < n; i++)
		if (strcmp(v[i], s) == 0)
			return i;
	return 0;
}

static const char *
jstr(const json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int
cmf_ready(struct api_ctx *ctx)
{
	if (api_require(ctx, API_CAP_ADMIN, "*") != 0)
		return 0;
	if (ctx->deps->cmf == NULL) {
		api_reply_status(ctx, 503, "the certificate management "
		    "function is not running");
		return 0;
	}
	return 1;
}

/* A CMF refusal: the status of r, with the CMF's reason when it gave one. */
static void
reply_fail(struct api_ctx *ctx, int r, const char *why)
{
	const struct api_err_entry *row = api_err_lookup(r);

	if (r == CAP_ERR_CRYPTO || r == CAP_ERR_UNSUPPORTED) {
		api_reply_status(ctx, 502, why != NULL && why[0] != '\0' ?
		    why : "the CA's answer was refused");
		return;
	}
	if (row->status >= 500 || why == NULL || why[0] == '\0') {
		api_reply_err(ctx, r, "cmf");
		return;
	}
	api_reply_status(ctx, row->status, why);
}

/* ---- JSON of entities and certificates ---- */

/* One certificate an entity holds, as its record lists it. */
static json_t *
held_json(const struct cmf_held *h)
{
	json_t *t;

	if ((t = json_object()) == NULL)
		return NULL;
	json_object_set_new(t, "certId", json_string(h->cert_id));
	json_object_set_new(t, "certType", json_string(h->certtype));
	json_object_set_new(t, "shared", json_boolean(h->shared));
	json_object_set_new(t, "delegated", json_boolean(h->delegated));
	if (h->initial)
		json_object_set_new(t, "initial", json_true());
	return t;
}

static json_t *
entity_json(const struct cmf_entity *e)
{
	json_t *o, *a, *t;
	char ts[32];
	size_t i;

	if ((o = json_object()) == NULL)
		return NULL;
	json_object_set_new(o, "id", json_string(e->id));
	json_object_set_new(o, "type", json_string(type_names[e->type]));
	if (e->parent[0] != '\0')
		json_object_set_new(o, "parent", json_string(e->parent));
	if (e->vnf_instance_id[0] != '\0')
		json_object_set_new(o, "vnfInstanceId",
		    json_string(e->vnf_instance_id));
	if (e->vnfc_id[0] != '\0')
		json_object_set_new(o, "vnfcId", json_string(e->vnfc_id));
	a = json_array();
	for (i = 0; i < e->nfqdns; i++)
		json_array_append_new(a, json_string(e->fqdns[i]));
	json_object_set_new(o, "fqdns", a);
	a = json_array();
	for (i = 0; i < e->nips; i++)
		json_array_append_new(a, json_string(e->ips[i]));
	json_object_set_new(o, "ips", a);
	json_object_set_new(o, "bindingPolicy",
	    json_string(binding_names[e->binding]));
	a = json_array();
	for (i = 0; i < e->ntypes; i++) {
		t = json_object();
		json_object_set_new(t, "type", json_string(e->types[i].name));
		json_object_set_new(t, "ca", json_string(e->types[i].ca));
		if (e->types[i].profile[0] != '\0')
			json_object_set_new(t, "profile",
			    json_string(e->types[i].profile));
		json_object_set_new(t, "bindingPolicy",
		    json_string(binding_names[e->types[i].binding]));
		json_array_append_new(a, t);
	}
	json_object_set_new(o, "certTypes", a);
	a = json_array();
	for (i = 0; i < e->ncerts; i++)
		json_array_append_new(a, held_json(&e->certs[i]));
	json_object_set_new(o, "certificates", a);
	cap_format_time(e->created, ts);
	json_object_set_new(o, "created", json_string(ts));
	return o;
}

/* Copies a string member into dst; 0, or -1 when too long or no string. */
static int
jcopy(const json_t *o, const char *k, char *dst, size_t dstsz)
{
	const json_t *v = json_object_get(o, k);

	if (v == NULL)
		return 0;
	if (!json_is_string(v) || json_string_length(v) >= dstsz)
		return -1;
	memcpy(dst, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int
strings_into(const json_t *a, char *base, size_t stride, size_t max,
    size_t *n)
{
	size_t i;

	*n = 0;
	if (a == NULL)
		return 0;
	if (!json_is_array(a) || json_array_size(a) > max)
		return -1;
	for (i = 0; i < json_array_size(a); i++) {
		const json_t *v = json_array_get(a, i);

		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) >= stride)
			return -1;
		memcpy(base + i * stride, json_string_value(v),
		    json_string_length(v) + 1);
	}
	*n = json_array_size(a);
	return 0;
}

/* The request body of POST /cmf/v1/entities; why gets the complaint. */
static int
entity_parse(const json_t *b, struct cmf_entity *e, const char **why)
{
	const json_t *a, *v;
	const char *s;
	size_t i;

	memset(e, 0, sizeof(*e));
	*why = "id, parent, vnfInstanceId and vnfcId are strings of at most "
	    "64 bytes";
	if (jcopy(b, "id", e->id, sizeof(e->id)) != 0 ||
	    jcopy(b, "parent", e->parent, sizeof(e->parent)) != 0 ||
	    jcopy(b, "vnfInstanceId", e->vnf_instance_id,
	    sizeof(e->vnf_instance_id)) != 0 ||
	    jcopy(b, "vnfcId", e->vnfc_id, sizeof(e->vnfc_id)) != 0)
		return -1;
	*why = "type is VNF_INSTANCE, VNFC, VNFC_INSTANCE or MANO";
	if ((e->type = name_index(type_names, 5, jstr(b, "type"))) == 0)
		return -1;
	*why = "bindingPolicy is P1, P2 or P3";
	s = jstr(b, "bindingPolicy");
	if (json_object_get(b, "bindingPolicy") != NULL &&
	    (e->binding = name_index(binding_names, 4, s)) == 0)
		return -1;
	*why = "fqdns is a list of at most 16 host names";
	if (strings_into(json_object_get(b, "fqdns"), e->fqdns[0],
	    sizeof(e->fqdns[0]), CMF_FQDN_MAX, &e->nfqdns) != 0)
		return -1;
	*why = "ips is a list of at most 8 addresses";
	if (strings_into(json_object_get(b, "ips"), e->ips[0],
	    sizeof(e->ips[0]), CMF_IP_MAX, &e->nips) != 0)
		return -1;
	*why = "certTypes is a list of at most 8 names or objects "
	    "{type, ca, profile, bindingPolicy}";
	a = json_object_get(b, "certTypes");
	if (a != NULL && (!json_is_array(a) ||
	    json_array_size(a) > CMF_TYPES_MAX))
		return -1;
	for (i = 0; a != NULL && i < json_array_size(a); i++) {
		struct cmf_certtype *t = &e->types[i];

		v = json_array_get(a, i);
		if (json_is_string(v))
			s = json_string_value(v);
		else if (json_is_object(v))
			s = jstr(v, "type");
		else
			return -1;
		if (s == NULL || strlen(s) >= sizeof(t->name))
			return -1;
		memcpy(t->name, s, strlen(s) + 1);
		if (jcopy(b, "ca", t->ca, sizeof(t->ca)) != 0 ||
		    jcopy(b, "profile", t->profile, sizeof(t->profile)) != 0)
			return -1;
		if (json_is_object(v)) {
			if (jcopy(v, "ca", t->ca, sizeof(t->ca)) != 0 ||
			    jcopy(v, "profile", t->profile,
			    sizeof(t->profile)) != 0)
				return -1;
			if (json_object_get(v, "bindingPolicy") != NULL) {
				*why = "the bindingPolicy of a certType is P1 "
				    "or P2";
				t->binding = name_index(binding_names, 3,
				    jstr(v, "bindingPolicy"));
				if (t->binding == 0)
					return -1;
			}
		}
		if (t->ca[0] == '\0') {
			*why = "each certType needs a CA (ca)";
			return -1;
		}
		e->ntypes = i + 1;
	}
	if (e->binding == 0 && (e->ntypes > 0 || e->parent[0] == '\0'))
		e->binding = CMF_P1;
	*why = NULL;
	return 0;
}

void
api_h_cmf_entity_create(struct api_ctx *ctx)
{
	struct cmf_entity *e = NULL;
	json_t *b = NULL;
	const char *why = NULL;
	char err[256];
	int r;

	if (!cmf_ready(ctx))
		return;
	if (api_json_object_parse(ctx->body, ctx->body_len, &b, &why) != 0) {
		api_reply_status(ctx, 400, "the body is not a JSON object");
		return;
	}
	if ((e = malloc(sizeof(*e))) == NULL) {
		api_reply_err(ctx, CAP_ERR_NOMEM, "cmf");
		goto out;
	}
	if (entity_parse(b, e, &why) != 0) {
		api_reply_status(ctx, 400, why);
		goto out;
	}
	if ((r = cmf_entity_create(ctx->deps->cmf, e, err, sizeof(err))) != 0) {
		reply_fail(ctx, r, err);
		goto out;
	}
	api_reply_json(ctx, 201, entity_json(e));
 out:
	free(e);
	json_decref(b);
}

void
api_h_cmf_entity_list(struct api_ctx *ctx)
{
	struct cmf_entity *v = NULL;
	const char *parent;
	json_t *o, *a;
	size_t n = 0, i;
	int r;

	if (!cmf_ready(ctx))
		return;
	parent = api_query_get(&ctx->query, "parent");
	if (parent != NULL && !cmfdb_id_valid(parent)) {
		api_reply_status(ctx, 400, "parent is an entity id");
		return;
	}
	if ((r = cmf_entity_list(ctx->deps->cmf, parent, &v, &n)) != 0) {
		api_reply_err(ctx, r, "cmf list");
		return;
	}
	o = json_object();
	a = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(a, entity_json(&v[i]));
	json_object_set_new(o, "entities", a);
	api_reply_json(ctx, 200, o);
	free(v);
}

/* Loads the entity of the path; answers 404 itself. */
static int
path_entity(struct api_ctx *ctx, struct cmf_entity *e)
{
	int r;

	if ((r = cmf_entity_get(ctx->deps->cmf, ctx->match.name, e)) != 0) {
		if (r == CAP_ERR_NOT_FOUND)
			api_reply_status(ctx, 404, "no such entity");
		else
			api_reply_err(ctx, r, "cmf get");
		return -1;
	}
	return 0;
}

void
api_h_cmf_entity_get(struct api_ctx *ctx)
{
	struct cmf_entity *e;

	if (!cmf_ready(ctx))
		return;
	if ((e = malloc(sizeof(*e))) == NULL) {
		api_reply_err(ctx, CAP_ERR_NOMEM, "cmf");
		return;
	}
	if (path_entity(ctx, e) == 0)
		api_reply_json(ctx, 200, entity_json(e));
	free(e);
}

void
api_h_cmf_cert_list(struct api_ctx *ctx)
{
	struct cmf_entity *e;
	struct certdb_cert *c = NULL;
	json_t *o, *a, *t;
	char ts[32];
	size_t i;

	if (!cmf_ready(ctx))
		return;
	if ((e = malloc(sizeof(*e))) == NULL) {
		api_reply_err(ctx, CAP_ERR_NOMEM, "cmf");
		return;
	}
	if (path_entity(ctx, e) != 0)
		goto out;
	o = json_object();
	a = json_array();
	for (i = 0; i < e->ncerts; i++) {
		t = held_json(&e->certs[i]);
		if (certdb_get(ctx->deps->s, e->certs[i].cert_id, &c) == 0) {
			json_object_set_new(t, "serial", json_string(c->serial));
			cap_format_time(c->not_after, ts);
			json_object_set_new(t, "notAfter", json_string(ts));
			json_object_set_new(t, "status",
			    json_string(certdb_status_name(c->status)));
			if (c->key_id[0] != '\0' && e->certs[i].delegated)
				json_object_set_new(t, "keyId",
				    json_string(c->key_id));
			certdb_cert_free(c);
			c = NULL;
		} else
			json_object_set_new(t, "status", json_string("unknown"));
		json_array_append_new(a, t);
	}
	json_object_set_new(o, "certificates", a);
	api_reply_json(ctx, 200, o);
 out:
	free(e);
}

/* ---- deferred work ---- */

enum job_op {
	JOB_ISSUE = 1,
	JOB_DELETE,
	JOB_INITCRED,
};

struct job {
	struct api_ctx		*ctx;
	cmf			*cmf;
	enum job_op		 op;
	char			 id[CMF_ID_MAX + 1];
	char			 certtype[CMF_CERTTYPE_MAX + 1];
	uint8_t			*csr;	/* DER, or NULL: delegation */
	size_t			 csrlen;
	int			 chain;
	uint64_t		 ttl;
	int			 result;
	char			 err[256];
	struct cmf_issued	 is;
	struct cmf_initcred	 cred;
	char			 secret[CMF_INITCRED_SECRET_LEN + 1];
};

static void
job_free(struct job *j)
{
	if (j == NULL)
		return;
	OPENSSL_free(j->csr);
	cmf_issued_clear(&j->is);
	sodium_memzero(j->secret, sizeof(j->secret));
	free(j);
}

static json_t *
issued_json(struct job *j)
{
	json_t *o, *a;
	int i;

	if ((o = json_object()) == NULL)
		return NULL;
	json_object_set_new(o, "certificate", api_json_cert_pem(j->is.cert));
	if (j->chain) {
		a = json_array();
		for (i = 0; j->is.chain != NULL &&
		    i < sk_X509_num(j->is.chain); i++)
			json_array_append_new(a,
			    api_json_cert_pem(sk_X509_value(j->is.chain, i)));
		json_object_set_new(o, "certificateChain", a);
	}
	if (j->is.cert_id[0] != '\0')
		json_object_set_new(o, "certId", json_string(j->is.cert_id));
	if (j->is.key_id[0] != '\0')
		json_object_set_new(o, "keyId", json_string(j->is.key_id));
	return o;
}

static json_t *
cred_json(const struct cmf_initcred *c)
{
	json_t *o = json_object();
	char ts[32];

	json_object_set_new(o, "reference", json_string(c->ref));
	json_object_set_new(o, "kind", json_string(c->kind == CMF_IC_TOKEN ?
	    "bootstrapToken" : "initialCertificate"));
	json_object_set_new(o, "entity", json_string(c->entity));
	json_object_set_new(o, "certType", json_string(c->certtype));
	cap_format_time(c->expires, ts);
	json_object_set_new(o, "expires", json_string(ts));
	json_object_set_new(o, "claimed", json_boolean(c->claimed));
	return o;
}

/* On the worker: the CMF answered. */
static void
job_done(void *arg)
{
	struct job *j = arg;
	struct api_ctx *ctx = j->ctx;
	char ra[16];
	json_t *o;

	if (j->result == CAP_ERR_PENDING) {
		/* the client repeats the same request to collect */
		snprintf(ra, sizeof(ra), "%u", j->is.retry_after > 0 ?
		    j->is.retry_after : 1);
		if (ctx->req != NULL)
			evhttp_add_header(evhttp_request_get_output_headers(
			    ctx->req), "Retry-After", ra);
		api_reply_json(ctx, 202, json_pack("{s:s,s:i,s:s}", "status",
		    "pending", "retryAfter", (int)j->is.retry_after,
		    "message", j->err));
	} else if (j->result != 0)
		reply_fail(ctx, j->result, j->err);
	else if (j->op == JOB_DELETE)
		api_reply_empty(ctx, 204);
	else if (j->op == JOB_ISSUE)
		api_reply_json(ctx, 201, issued_json(j));
	else {
		o = cred_json(&j->cred);
		if (j->cred.kind == CMF_IC_TOKEN)
			json_object_set_new(o, "secret",
			    json_string(j->secret));
		else {
			j->chain = 1;
			json_object_set_new(o, "certificate",
			    api_json_cert_pem(j->is.cert));
		}
		api_reply_json(ctx, 201, o);
	}
	api_defer_finish(ctx);
	job_free(j);
}

/* On its own thread (api_offload), a job of the CMF (cmf_job_begin). */
static void
job_run(void *arg)
{
	struct job *j = arg;

	if ((j->result = cmf_job_begin(j->cmf)) != 0)
		return;
	switch (j->op) {
	case JOB_ISSUE:
		j->result = j->csr != NULL ?
		    cmf_issue_csr(j->cmf, j->id, j->certtype, j->csr,
		    j->csrlen, CMF_MAY_PEND, NULL, &j->is, j->err,
		    sizeof(j->err)) :
		    cmf_issue_delegated(j->cmf, j->id, j->certtype, &j->is,
		    j->err, sizeof(j->err));
		break;
	case JOB_DELETE:
		j->result = cmf_entity_delete(j->cmf, j->id);
		break;
	case JOB_INITCRED:
		j->result = cmf_initcred_create(j->cmf, j->id, j->certtype,
		    j->ttl, j->csr, j->csrlen, &j->cred, j->secret,
		    &j->is, j->err, sizeof(j->err));
		break;
	}
	cmf_job_end(j->cmf);
}

static void
job_start(struct api_ctx *ctx, struct job *j)
{
	j->ctx = ctx;
	j->cmf = ctx->deps->cmf;
	if (api_offload(ctx, job_run, job_done, j) != 0) {
		api_reply_status(ctx, 503, "try again later");
		job_free(j);
	}
}

/* A PEM CSR member into DER; 400 answered on failure. */
static int
csr_der(struct api_ctx *ctx, const json_t *b, struct job *j)
{
	const json_t *v = json_object_get(b, "csr");
	X509_REQ *req = NULL;
	BIO *bio = NULL;
	int n, r = -1;

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v) || json_string_length(v) > CSR_PEM_MAX ||
	    (bio = BIO_new_mem_buf(json_string_value(v),
	    (int)json_string_length(v))) == NULL ||
	    (req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL)) == NULL ||
	    (n = i2d_X509_REQ(req, &j->csr)) <= 0) {
		api_reply_status(ctx, 400, "csr is not a PEM PKCS#10 request");
		goto out;
	}
	j->csrlen = (size_t)n;
	r = 0;
 out:
	X509_REQ_free(req);
	BIO_free(bio);
	return r;
}

/*
 * The VNFC instance below e (depth first, DESCEND_MAX deep) whose id, or
 * else whose vnfcId, is vnfc; 1 when found (into out).
 */
static int
find_vnfc(cmf *c, const char *parent, const char *vnfc, int by_id,
    int depth, struct cmf_entity *out)
{
	struct cmf_entity *v = NULL;
	size_t n = 0, i;
	int found = 0;

	if (depth > DESCEND_MAX || cmf_entity_list(c, parent, &v, &n) != 0)
		return 0;
	for (i = 0; i < n && !found; i++) {
		if (v[i].type == CMF_VNFC_INSTANCE &&
		    strcmp(by_id ? v[i].id : v[i].vnfc_id, vnfc) == 0) {
			*out = v[i];
			found = 1;
		} else
			found = find_vnfc(c, v[i].id, vnfc, by_id, depth + 1,
			    out);
	}
	free(v);
	return found;
}

void
api_h_cmf_cert_issue(struct api_ctx *ctx)
{
	struct cmf_entity *e = NULL, *t = NULL;
	struct job *j = NULL;
	const json_t *ch;
	const char *vnfc, *ct, *why = NULL;
	json_t *b = NULL;
	size_t i;
	int ok = 0;

	if (!cmf_ready(ctx))
		return;
	if (api_json_object_parse(ctx->body, ctx->body_len, &b, &why) != 0) {
		api_reply_status(ctx, 400, "the body is not a JSON object");
		return;
	}
	if ((e = malloc(sizeof(*e))) == NULL ||
	    (t = malloc(sizeof(*t))) == NULL ||
	    (j = calloc(1, sizeof(*j))) == NULL) {
		api_reply_err(ctx, CAP_ERR_NOMEM, "cmf");
		goto out;
	}
	if (path_entity(ctx, e) != 0)
		goto out;
	vnfc = jstr(b, "vnfcId");
	ct = jstr(b, "certType");
	ch = json_object_get(b, "certChainRequest");
	if (vnfc == NULL || ct == NULL ||
	    (ch != NULL && !json_is_boolean(ch))) {
		api_reply_status(ctx, 400, "vnfcId and certType are strings, "
		    "certChainRequest a boolean");
		goto out;
	}
	if (!cmfdb_id_valid(vnfc)) {
		api_reply_status(ctx, 404, "unknown vnfcId");
		goto out;
	}
	if (strcmp(vnfc, e->id) == 0 || strcmp(vnfc, e->vnfc_id) == 0)
		*t = *e;
	else if (e->type != CMF_VNF_INSTANCE ||
	    (!find_vnfc(ctx->deps->cmf, e->id, vnfc, 1, 0, t) &&
	    !find_vnfc(ctx->deps->cmf, e->id, vnfc, 0, 0, t))) {
		char msg[128];

		snprintf(msg, sizeof(msg), "unknown vnfcId '%s'", vnfc);
		api_reply_status(ctx, 404, msg);
		goto out;
	}
	for (i = 0; i < t->ntypes; i++)
		if (strcmp(t->types[i].name, ct) == 0)
			ok = 1;
	if (!ok) {
		api_reply_status(ctx, 400, cmfdb_certtype_valid(ct) ?
		    "the entity has no such certType" : "unknown certType");
		goto out;
	}
	if (csr_der(ctx, b, j) != 0)
		goto out;
	j->op = JOB_ISSUE;
	j->chain = json_is_true(ch);
	snprintf(j->id, sizeof(j->id), "%s", t->id);
	snprintf(j->certtype, sizeof(j->certtype), "%s", ct);
	job_start(ctx, j);
	j = NULL;	/* transferred */
 out:
	job_free(j);
	free(t);
	free(e);
	json_decref(b);
}

void
api_h_cmf_entity_delete(struct api_ctx *ctx)
{
	struct cmf_entity *e;
	struct job *j;

	if (!cmf_ready(ctx))
		return;
	if ((e = malloc(sizeof(*e))) == NULL) {
		api_reply_err(ctx, CAP_ERR_NOMEM, "cmf");
		return;
	}
	if (path_entity(ctx, e) != 0) {
		free(e);
		return;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		free(e);
		api_reply_err(ctx, CAP_ERR_NOMEM, "cmf");
		return;
	}
	j->op = JOB_DELETE;
	memcpy(j->id, e->id, sizeof(j->id));
	free(e);
	job_start(ctx, j);
}

/* ---- initial credentials ---- */

void
api_h_cmf_ic_create(struct api_ctx *ctx)
{
	struct cmf_entity *e = NULL;
	struct job *j = NULL;
	const char *ct, *ttl, *why = NULL;
	json_t *b = NULL;

	if (!cmf_ready(ctx))
		return;
	if (api_json_object_parse(ctx->body, ctx->body_len, &b, &why) != 0) {
		api_reply_status(ctx, 400, "the body is not a JSON object");
		return;
	}
	if ((e = malloc(sizeof(*e))) == NULL ||
	    (j = calloc(1, sizeof(*j))) == NULL) {
		api_reply_err(ctx, CAP_ERR_NOMEM, "cmf");
		goto out;
	}
	if (path_entity(ctx, e) != 0)
		goto out;
	ct = jstr(b, "certType");
	ttl = jstr(b, "ttl");
	j->ttl = 3600;
	if (ct == NULL || (json_object_get(b, "ttl") != NULL &&
	    (ttl == NULL || cap_parse_duration(ttl, &j->ttl) != 0))) {
		api_reply_status(ctx, 400, "certType is a string, ttl a "
		    "duration like 1h");
		goto out;
	}
	if (csr_der(ctx, b, j) != 0)
		goto out;
	j->op = JOB_INITCRED;
	snprintf(j->id, sizeof(j->id), "%s", e->id);
	if (strlen(ct) >= sizeof(j->certtype)) {
		api_reply_status(ctx, 400, "unknown certType");
		goto out;
	}
	snprintf(j->certtype, sizeof(j->certtype), "%s", ct);
	job_start(ctx, j);
	j = NULL;	/* transferred */
 out:
	job_free(j);
	free(e);
	json_decref(b);
}

void
api_h_cmf_ic_list(struct api_ctx *ctx)
{
	struct cmf_initcred *v = NULL;
	json_t *o, *a;
	size_t n = 0, i;
	int r;

	if (!cmf_ready(ctx))
		return;
	if ((r = cmf_initcred_list(ctx->deps->cmf, ctx->match.name, &v,
	    &n)) != 0) {
		api_reply_err(ctx, r, "cmf initcred list");
		return;
	}
	o = json_object();
	a = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(a, cred_json(&v[i]));
	json_object_set_new(o, "initialCredentials", a);
	api_reply_json(ctx, 200, o);
	free(v);
}

void
api_h_cmf_ic_delete(struct api_ctx *ctx)
{
	int r;

	if (!cmf_ready(ctx))
		return;
	if ((r = cmf_initcred_delete(ctx->deps->cmf, ctx->match.name)) != 0) {
		if (r == CAP_ERR_NOT_FOUND || r == CAP_ERR_INVALID)
			api_reply_status(ctx, 404,
			    "no such initial credential");
		else
			api_reply_err(ctx, r, "cmf initcred delete");
		return;
	}
	api_reply_empty(ctx, 204);
}
