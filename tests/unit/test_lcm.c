/*
 * test_lcm.c - the parser of VNF lifecycle notifications (nfv/lcm.h): a
 * full SOL 003 document, optional and unknown fields, and every refusal
 * (shape, identifiers, enumerations, limits, duplicates).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "nfv/lcm.h"
#include "tests/unit/harness.h"

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

int
main(void)
{
	test_full();
	test_optional();
	test_refusals();
	th_check(lcm_id_valid("a:b.c_d-1", LCM_ID_MAX) &&
	    !lcm_id_valid("", LCM_ID_MAX) && !lcm_id_valid("abc", 2) &&
	    !lcm_id_valid("a b", LCM_ID_MAX), "identifier character set",
	    "unexpected verdict");
	return th_done();
}
