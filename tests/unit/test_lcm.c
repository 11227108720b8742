/*
 * test_lcm.c - VNF lifecycle notifications.  The parser (nfv/lcm.h): a
 * full SOL 003 document, optional and unknown fields, and every refusal
 * (shape, identifiers, enumerations, limits, duplicates).  Then
 * cmf_lcm_notify over a SoftHSM token and a local CA: INSTANTIATE, SCALE
 * out and in, HEAL and TERMINATE of a VNF with a P1 and a P2 VNFC, with
 * the issued certificates and certificate keys counted after each step,
 * replays, ignored states and refusals that change nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "ca/certsvc.h"
#include "ca/conns.h"
#include "common/err.h"
#include "common/log.h"
#include "crypto/envelope.h"
#include "crypto/keys.h"
#include "crypto/vault.h"
#include "hsm/hsm.h"
#include "nfv/cmf.h"
#include "nfv/lcm.h"
#include "store/certdb.h"
#include "store/keydb.h"
#include "store/store.h"
#include "tests/unit/harness.h"
#include "tests/unit/th_nfv.h"

#define HEAD	"{\"id\":\"n-1\",\"notificationType\":" \
		"\"VnfLcmOperationOccurrenceNotification\"," \
		"\"notificationStatus\":\"RESULT\"," \
		"\"operationState\":\"COMPLETED\",\"vnfInstanceId\":\"vnf-1\"," \
		"\"operation\":\"INSTANTIATE\",\"vnfLcmOpOccId\":\"occ-1\""

static int
parse(const char *json, struct lcm_notification *n, char *err, size_t len)
{
	return lcm_notification_parse(json, strlen(json), n, err, len);
}

static void
test_full(void)
{
	const char *doc = "{\"id\":\"5f1c-0a\",\"notificationType\":"
	    "\"VnfLcmOperationOccurrenceNotification\",\"subscriptionId\":"
	    "\"sub-9\",\"timeStamp\":\"2024-05-01T10:00:00+02:00\","
	    "\"notificationStatus\":\"RESULT\",\"operationState\":"
	    "\"COMPLETED\",\"vnfInstanceId\":\"vnf-1\",\"operation\":\"SCALE\","
	    "\"isAutomaticInvocation\":false,\"vnfLcmOpOccId\":\"occ-7\","
	    "\"affectedVnfcs\":[{\"id\":\"a-0\",\"vduId\":\"vnfc-a\","
	    "\"changeType\":\"ADDED\",\"computeResource\":{\"resourceId\":"
	    "\"vm-1\"}},{\"id\":\"b-0\",\"vduId\":\"vnfc-b\",\"changeType\":"
	    "\"REMOVED\"}],\"_links\":{\"vnfInstance\":{\"href\":\"x\"}}}";
	struct lcm_notification n;
	char err[256];
	int r;

	r = parse(doc, &n, err, sizeof(err));
	TH_EQ_INT(r, 0, "full notification parses");
	if (r != 0)
		return;
	th_check(strcmp(n.id, "5f1c-0a") == 0 &&
	    strcmp(n.subscription_id, "sub-9") == 0 &&
	    strcmp(n.op_occ_id, "occ-7") == 0 &&
	    strcmp(n.vnf_instance_id, "vnf-1") == 0 &&
	    strcmp(n.timestamp, "2024-05-01T10:00:00+02:00") == 0,
	    "identifiers kept", "got id=%s sub=%s occ=%s vnf=%s ts=%s", n.id,
	    n.subscription_id, n.op_occ_id, n.vnf_instance_id, n.timestamp);
	th_check(n.status == LCM_NS_RESULT && n.state == LCM_OS_COMPLETED &&
	    n.operation == LCM_OP_SCALE &&
	    strcmp(n.operation_name, "SCALE") == 0,
	    "status, state and operation", "got %d %d %d", (int)n.status,
	    (int)n.state, (int)n.operation);
	TH_EQ_INT(n.nvnfcs, 2, "two affected VNFCs");
	if (n.nvnfcs == 2)
		th_check(strcmp(n.vnfcs[0].id, "a-0") == 0 &&
		    strcmp(n.vnfcs[0].vdu_id, "vnfc-a") == 0 &&
		    n.vnfcs[0].change == LCM_CH_ADDED &&
		    strcmp(n.vnfcs[1].id, "b-0") == 0 &&
		    n.vnfcs[1].change == LCM_CH_REMOVED,
		    "affected VNFCs in order", "got %s/%s/%s", n.vnfcs[0].id,
		    n.vnfcs[0].vdu_id, lcm_change_name(n.vnfcs[1].change));
	lcm_notification_clear(&n);
	TH_EQ_INT(n.nvnfcs, 0, "clear empties the notification");
}

static void
test_optional(void)
{
	struct lcm_notification n;
	char err[256];
	int r;

	r = parse(HEAD "}", &n, err, sizeof(err));
	TH_EQ_INT(r, 0, "no affectedVnfcs is accepted");
	th_check(n.nvnfcs == 0 && n.vnfcs == NULL && n.subscription_id[0] ==
	    '\0' && n.timestamp[0] == '\0', "absent fields are empty",
	    "got %zu vnfcs", n.nvnfcs);
	lcm_notification_clear(&n);
	r = parse(HEAD ",\"affectedVnfcs\":[]}", &n, err, sizeof(err));
	TH_EQ_INT(r, 0, "an empty affectedVnfcs is accepted");
	lcm_notification_clear(&n);
	r = parse("{\"id\":\"n-2\",\"notificationType\":"
	    "\"VnfLcmOperationOccurrenceNotification\",\"notificationStatus\":"
	    "\"START\",\"operationState\":\"STARTING\",\"vnfInstanceId\":"
	    "\"vnf-1\",\"operation\":\"SNAPSHOT_SOMETHING\",\"vnfLcmOpOccId\":"
	    "\"o\"}", &n, err, sizeof(err));
	TH_EQ_INT(r, 0, "an unknown operation name is kept");
	th_check(n.status == LCM_NS_START && n.state == LCM_OS_STARTING &&
	    n.operation == LCM_OP_OTHER &&
	    strcmp(n.operation_name, "SNAPSHOT_SOMETHING") == 0,
	    "unknown operation as OTHER with its name", "got %d %s",
	    (int)n.operation, n.operation_name);
	lcm_notification_clear(&n);
	r = parse("{\"id\":\"n-3\",\"notificationType\":"
	    "\"VnfLcmOperationOccurrenceNotification\",\"notificationStatus\":"
	    "\"RESULT\",\"operationState\":\"FAILED_TEMP\",\"vnfInstanceId\":"
	    "\"vnf-1\",\"operation\":\"HEAL\",\"vnfLcmOpOccId\":\"o\"}", &n,
	    err, sizeof(err));
	th_check(r == 0 && n.state == LCM_OS_FAILED_TEMP &&
	    n.operation == LCM_OP_HEAL, "FAILED_TEMP HEAL", "got %d %d", r,
	    (int)n.state);
	lcm_notification_clear(&n);
}

static void
refuse(const char *json, const char *name, const char *want_in_err)
{
	struct lcm_notification n;
	char err[256] = "";
	int r;

	r = parse(json, &n, err, sizeof(err));
	th_check(r == CAP_ERR_INVALID && n.vnfcs == NULL && n.nvnfcs == 0 &&
	    (want_in_err == NULL || strstr(err, want_in_err) != NULL), name,
	    "expected invalid naming '%s', got %d '%s'",
	    want_in_err ? want_in_err : "", r, err);
}

static void
test_refusals(void)
{
	char *big, *many;
	struct lcm_notification n;
	char err[256];
	size_t i, off;
	int r;

	refuse("", "empty text refused", "JSON");
	refuse("[1]", "an array refused", "JSON object");
	refuse("{\"id\":\"x\"", "truncated JSON refused", "JSON");
	refuse(HEAD ",\"id\":\"n-2\"}", "duplicate key refused", "JSON");
	refuse("{\"id\":\"n\",\"notificationType\":\"VnfIdentifierCreation"
	    "Notification\"}", "other notification type refused",
	    "notificationType");
	refuse("{\"notificationType\":\"VnfLcmOperationOccurrenceNotification\","
	    "\"notificationStatus\":\"RESULT\",\"operationState\":\"COMPLETED\","
	    "\"vnfInstanceId\":\"vnf-1\",\"operation\":\"INSTANTIATE\","
	    "\"vnfLcmOpOccId\":\"o\"}", "missing id refused", "id");
	refuse("{\"id\":\"a/b\",\"notificationType\":"
	    "\"VnfLcmOperationOccurrenceNotification\"}", "id with a slash "
	    "refused", "id");
	refuse("{\"id\":\"a:b\",\"notificationType\":"
	    "\"VnfLcmOperationOccurrenceNotification\"}", "id with a colon "
	    "refused (it is a path segment)", "id");
	refuse("{\"id\":\"n\",\"notificationType\":"
	    "\"VnfLcmOperationOccurrenceNotification\",\"vnfLcmOpOccId\":\"o\","
	    "\"vnfInstanceId\":\"vnf:1\"}", "vnfInstanceId with a colon "
	    "refused (an entity id routes as a path segment)", "vnfInstanceId");
	refuse(HEAD ",\"affectedVnfcs\":[{\"id\":\"-a\",\"vduId\":\"v\","
	    "\"changeType\":\"ADDED\"}]}", "VNFC instance id starting with "
	    "'-' refused", "id");
	refuse("{\"id\":7,\"notificationType\":"
	    "\"VnfLcmOperationOccurrenceNotification\"}", "numeric id refused",
	    "id");
	refuse("{\"id\":\"n\",\"notificationType\":"
	    "\"VnfLcmOperationOccurrenceNotification\",\"vnfLcmOpOccId\":\"o\","
	    "\"notificationStatus\":\"RESULT\",\"operationState\":\"COMPLETED\","
	    "\"operation\":\"INSTANTIATE\"}", "missing vnfInstanceId refused",
	    "vnfInstanceId");
	refuse("{\"id\":\"n\",\"notificationType\":"
	    "\"VnfLcmOperationOccurrenceNotification\",\"vnfLcmOpOccId\":\"o\","
	    "\"vnfInstanceId\":\"v\",\"notificationStatus\":\"DONE\","
	    "\"operationState\":\"COMPLETED\",\"operation\":\"INSTANTIATE\"}",
	    "unknown notificationStatus refused", "notificationStatus");
	refuse("{\"id\":\"n\",\"notificationType\":"
	    "\"VnfLcmOperationOccurrenceNotification\",\"vnfLcmOpOccId\":\"o\","
	    "\"vnfInstanceId\":\"v\",\"notificationStatus\":\"RESULT\","
	    "\"operationState\":\"completed\",\"operation\":\"INSTANTIATE\"}",
	    "lower-case operationState refused", "operationState");
	refuse("{\"id\":\"n\",\"notificationType\":"
	    "\"VnfLcmOperationOccurrenceNotification\",\"vnfLcmOpOccId\":\"o\","
	    "\"vnfInstanceId\":\"v\",\"notificationStatus\":\"RESULT\","
	    "\"operationState\":\"COMPLETED\"}", "missing operation refused",
	    "operation");
	refuse(HEAD ",\"timeStamp\":\"<script>\"}", "bad timeStamp refused",
	    "timeStamp");
	refuse(HEAD ",\"affectedVnfcs\":{}}", "affectedVnfcs object refused",
	    "affectedVnfcs");
	refuse(HEAD ",\"affectedVnfcs\":[\"a\"]}", "affectedVnfcs string "
	    "entry refused", "affectedVnfcs");
	refuse(HEAD ",\"affectedVnfcs\":[{\"id\":\"a\",\"vduId\":\"v\","
	    "\"changeType\":\"MOVED\"}]}", "unknown changeType refused",
	    "changeType");
	refuse(HEAD ",\"affectedVnfcs\":[{\"id\":\"a\",\"changeType\":"
	    "\"ADDED\"}]}", "missing vduId refused", "vduId");
	refuse(HEAD ",\"affectedVnfcs\":[{\"id\":\"a\",\"vduId\":\"v\","
	    "\"changeType\":\"ADDED\"},{\"id\":\"a\",\"vduId\":\"v\","
	    "\"changeType\":\"REMOVED\"}]}", "VNFC instance named twice refused",
	    "twice");
	refuse(HEAD ",\"affectedVnfcs\":[{\"id\":"
	    "\"a0123456789012345678901234567890123456789012345678901234567890123\","
	    "\"vduId\":\"v\",\"changeType\":\"ADDED\"}]}",
	    "65-character VNFC instance id refused", "id");
	refuse("{\"id\":\"n\\u0000x\",\"notificationType\":"
	    "\"VnfLcmOperationOccurrenceNotification\"}", "NUL in id refused",
	    NULL);

	/* LCM_VNFCS_MAX + 1 entries */
	if ((many = malloc(64 * (LCM_VNFCS_MAX + 2) + 512)) != NULL) {
		off = (size_t)sprintf(many, "%s,\"affectedVnfcs\":[", HEAD);
		for (i = 0; i <= LCM_VNFCS_MAX; i++)
			off += (size_t)sprintf(many + off, "%s{\"id\":\"i%zu\","
			    "\"vduId\":\"v\",\"changeType\":\"ADDED\"}",
			    i ? "," : "", i);
		sprintf(many + off, "]}");
		refuse(many, "too many affected VNFCs refused", "too many");
		free(many);
	}

	/* over the size limit */
	if ((big = malloc(LCM_JSON_MAX + 64)) != NULL) {
		off = (size_t)sprintf(big, "%s,\"pad\":\"", HEAD);
		memset(big + off, 'x', LCM_JSON_MAX - off + 8);
		off = LCM_JSON_MAX + 8;
		sprintf(big + off, "\"}");
		r = lcm_notification_parse(big, strlen(big), &n, err,
		    sizeof(err));
		TH_EQ_INT(r, CAP_ERR_TOO_LARGE, "notification over 256 KiB "
		    "refused as too large");
		free(big);
	}
}

/* ---- cmf_lcm_notify over a token and a local CA ---- */

static void
mk_entity(struct cmf_entity *e, const char *id, int type, const char *parent,
    const char *fqdn, int binding, const char *certtype)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->type = (enum cmf_entity_type)type;
	snprintf(e->parent, sizeof(e->parent), "%s", parent);
	snprintf(e->vnf_instance_id, sizeof(e->vnf_instance_id), "vnf-1");
	if (type == CMF_VNFC)
		snprintf(e->vnfc_id, sizeof(e->vnfc_id), "%s", id);
	snprintf(e->fqdns[0], sizeof(e->fqdns[0]), "%s", fqdn);
	e->nfqdns = 1;
	snprintf(e->types[0].name, sizeof(e->types[0].name), "%s", certtype);
	snprintf(e->types[0].ca, sizeof(e->types[0].ca), "op");
	e->ntypes = 1;
	e->binding = (enum cmf_binding)binding;
}

/* Issued certificates of op and certificate keys of the token. */
static void
counts(store *s, size_t *ncerts, size_t *nkeys)
{
	struct certdb_filter f = { "op", CERTDB_ISSUED, 0 };
	struct key_info *k = NULL;
	char **ids = NULL;
	size_t n = 0, i;

	*ncerts = *nkeys = (size_t)-1;
	if (certdb_list(s, &f, &ids, &n) == 0) {
		*ncerts = n;
		store_names_free(ids, n);
	}
	if (keys_list(s, STORE_KEY_OWNER_CERT, &k, &n) == 0) {
		*nkeys = 0;
		for (i = 0; i < n; i++)
			(*nkeys)++;
		free(k);
	}
}

static char *
doc(const char *id, const char *vnf, const char *op, const char *state,
    const char *vnfcs)
{
	char *d = NULL;

	if (asprintf(&d, "{\"id\":\"%s\",\"notificationType\":"
	    "\"VnfLcmOperationOccurrenceNotification\",\"notificationStatus\":"
	    "\"RESULT\",\"operationState\":\"%s\",\"vnfInstanceId\":\"%s\","
	    "\"operation\":\"%s\",\"vnfLcmOpOccId\":\"o-%s\","
	    "\"affectedVnfcs\":[%s]}", id, state, vnf, op, id, vnfcs) < 0)
		return NULL;
	return d;
}

/* Sends one notification; returns its result, summary in *sum. */
static int
notify(cmf *c, const char *id, const char *vnf, const char *op,
    const char *state, const char *vnfcs, int *replayed, json_t **sum,
    char *err, size_t errlen)
{
	char *d = doc(id, vnf, op, state, vnfcs), *text = NULL;
	int r;

	*sum = NULL;
	if (d == NULL)
		return CAP_ERR_NOMEM;
	r = cmf_lcm_notify(c, d, strlen(d), replayed, &text, err, errlen);
	if (r == 0 && text != NULL)
		*sum = json_loads(text, 0, NULL);
	free(text);
	free(d);
	return r;
}

#define V(i, vdu, ch) "{\"id\":\"" i "\",\"vduId\":\"" vdu "\"," \
	"\"changeType\":\"" ch "\"}"

static void
step(cmf *c, store *s, const char *name, const char *id, const char *op,
    const char *vnfcs, size_t want_certs, size_t want_keys)
{
	char err[256] = "", tn[128];
	json_t *sum = NULL;
	size_t nc, nk;
	int r, rep = -1;

	r = notify(c, id, "vnf-1", op, "COMPLETED", vnfcs, &rep, &sum, err,
	    sizeof(err));
	snprintf(tn, sizeof(tn), "lcm %s: acted", name);
	th_check(r == 0 && rep == 0 && json_is_true(json_object_get(sum,
	    "acted")), tn, "got %d replayed %d: %s", r, rep, err);
	json_decref(sum);
	counts(s, &nc, &nk);
	snprintf(tn, sizeof(tn), "lcm %s: %zu certificates, %zu keys", name,
	    want_certs, want_keys);
	th_check(nc == want_certs && nk == want_keys, tn, "got %zu and %zu",
	    nc, nk);
	r = notify(c, id, "vnf-1", op, "COMPLETED", vnfcs, &rep, &sum, err,
	    sizeof(err));
	counts(s, &nc, &nk);
	snprintf(tn, sizeof(tn), "lcm %s: a replay changes nothing", name);
	th_check(r == 0 && rep == 1 && nc == want_certs && nk == want_keys,
	    tn, "got %d replayed %d, %zu and %zu", r, rep, nc, nk);
	json_decref(sum);
}

static void
test_scenario(cmf *c, store *s)
{
	struct cmf_entity *e = calloc(1, sizeof(*e));
	char err[256], a0[CERTDB_ID_LEN + 1] = "";
	json_t *sum = NULL;
	size_t nc, nk, i;
	int r, rep;

	if (e == NULL)
		return;
	mk_entity(e, "vnf-1", CMF_VNF_INSTANCE, "", "vnf1.example", CMF_P1,
	    "VNF_OM_CERT");
	r = cmf_entity_create(c, e, err, sizeof(err));
	th_check(r == 0, "lcm: VNF instance registered", "got %d %s", r, err);
	mk_entity(e, "vnfc-a", CMF_VNFC, "vnf-1", "a.vnf1.example", CMF_P1,
	    "VNFCI_CERT");
	r = cmf_entity_create(c, e, err, sizeof(err));
	th_check(r == 0, "lcm: P1 VNFC registered", "got %d %s", r, err);
	mk_entity(e, "vnfc-b", CMF_VNFC, "vnf-1", "b.vnf1.example", CMF_P2,
	    "VNFCI_CERT");
	r = cmf_entity_create(c, e, err, sizeof(err));
	th_check(r == 0, "lcm: P2 VNFC registered", "got %d %s", r, err);

	r = notify(c, "n-s", "vnf-1", "INSTANTIATE", "STARTING",
	    V("a-0", "vnfc-a", "ADDED"), &rep, &sum, err, sizeof(err));
	counts(s, &nc, &nk);
	th_check(r == 0 && !json_is_true(json_object_get(sum, "acted")) &&
	    nc == 0 && nk == 0, "lcm: STARTING is recorded and ignored",
	    "got %d, %zu certificates", r, nc);
	json_decref(sum);
	r = notify(c, "n-x", "vnf-9", "INSTANTIATE", "COMPLETED",
	    V("a-0", "vnfc-a", "ADDED"), &rep, &sum, err, sizeof(err));
	th_check(r == CAP_ERR_NOT_FOUND && strstr(err, "vnf-9") != NULL,
	    "lcm: unknown VNF instance", "got %d %s", r, err);
	r = notify(c, "n-y", "vnf-1", "INSTANTIATE", "COMPLETED",
	    V("a-0", "vnfc-a", "ADDED") "," V("z-0", "vnfc-z", "ADDED"), &rep,
	    &sum, err, sizeof(err));
	counts(s, &nc, &nk);
	th_check(r == CAP_ERR_INVALID && strstr(err, "vnfc-z") != NULL &&
	    nc == 0 && nk == 0 && cmf_entity_get(c, "a-0", e) ==
	    CAP_ERR_NOT_FOUND, "lcm: unknown vduId refused, nothing done",
	    "got %d %s, %zu certificates", r, err, nc);
	r = notify(c, "n-y2", "vnf-1", "INSTANTIATE", "COMPLETED",
	    V("vnfc-b", "vnfc-a", "ADDED"), &rep, &sum, err, sizeof(err));
	th_check(r == CAP_ERR_INVALID, "lcm: an instance id taken by a VNFC "
	    "refused", "got %d %s", r, err);

	step(c, s, "INSTANTIATE", "n-1", "INSTANTIATE",
	    V("a-0", "vnfc-a", "ADDED") "," V("a-1", "vnfc-a", "ADDED") ","
	    V("b-0", "vnfc-b", "ADDED"), 4, 4);
	r = cmf_entity_get(c, "a-0", e);
	th_check(r == 0 && e->type == CMF_VNFC_INSTANCE &&
	    strcmp(e->parent, "vnfc-a") == 0 &&
	    strcmp(e->fqdns[0], "a-0.a.vnf1.example") == 0,
	    "lcm: a-0 is a VNFC instance under vnfc-a", "got %d %s", r,
	    e->fqdns[0]);
	for (i = 0; r == 0 && i < e->ncerts; i++)
		if (strcmp(e->certs[i].certtype, "VNFCI_CERT") == 0)
			memcpy(a0, e->certs[i].cert_id, sizeof(a0));
	step(c, s, "SCALE out (P2)", "n-2", "SCALE",
	    V("b-1", "vnfc-b", "ADDED"), 5, 4);
	step(c, s, "SCALE in (P1)", "n-3", "SCALE",
	    V("a-1", "vnfc-a", "REMOVED"), 4, 3);
	step(c, s, "SCALE in (P2, not the last)", "n-4", "SCALE",
	    V("b-0", "vnfc-b", "REMOVED"), 3, 3);
	step(c, s, "HEAL", "n-5", "HEAL", V("a-0", "vnfc-a", "MODIFIED"), 3,
	    3);
	r = cmf_entity_get(c, "a-0", e);
	for (i = 0; r == 0 && i < e->ncerts; i++)
		th_check(strcmp(e->certs[i].cert_id, a0) != 0,
		    "lcm: HEAL dropped the old certificate of a-0",
		    "still held");
	th_check(r == 0 && e->ncerts == 1, "lcm: a-0 holds one certificate "
	    "after HEAL", "got %d, %zu", r, e->ncerts);
	step(c, s, "SCALE in (P2, the last)", "n-6", "SCALE",
	    V("b-1", "vnfc-b", "REMOVED"), 2, 2);
	step(c, s, "TERMINATE", "n-7", "TERMINATE", "", 0, 0);
	th_check(cmf_entity_get(c, "vnf-1", e) == CAP_ERR_NOT_FOUND &&
	    cmf_entity_get(c, "vnfc-a", e) == CAP_ERR_NOT_FOUND,
	    "lcm: TERMINATE removed the VNF instance and its VNFCs",
	    "still there");
	free(e);
}

static void
scenario(void)
{
	struct th_nfv f;

	if (th_nfv_open(&f, "lcm", "LCM Test Root") == 0)
		test_scenario(f.c, f.s);
	th_nfv_close(&f);
}

int
main(void)
{
	log_init("test_lcm", 0, LOG_LVL_ERROR);
	if (sodium_init() < 0)
		return 1;
	test_full();
	test_optional();
	test_refusals();
	th_check(lcm_id_valid("a:b.c_d-1", LCM_ID_MAX) &&
	    !lcm_id_valid("", LCM_ID_MAX) && !lcm_id_valid("abc", 2) &&
	    !lcm_id_valid("a b", LCM_ID_MAX), "identifier character set",
	    "unexpected verdict");
	scenario();
	return th_done();
}
