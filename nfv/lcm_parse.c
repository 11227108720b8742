/*
 * lcm_parse.c - the parser of VNF lifecycle notifications (lcm.h): JSON
 * text in, a checked structure out, without store, token or CA access.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/err.h"
#include "common/util.h"
#include "nfv/lcm.h"

static const char *const state_names[] = {
	[LCM_OS_STARTING] = "STARTING",
	[LCM_OS_PROCESSING] = "PROCESSING",
	[LCM_OS_COMPLETED] = "COMPLETED",
	[LCM_OS_FAILED_TEMP] = "FAILED_TEMP",
	[LCM_OS_FAILED] = "FAILED",
	[LCM_OS_ROLLING_BACK] = "ROLLING_BACK",
	[LCM_OS_ROLLED_BACK] = "ROLLED_BACK",
};

static const char *const op_names[] = {
	[LCM_OP_INSTANTIATE] = "INSTANTIATE",
	[LCM_OP_SCALE] = "SCALE",
	[LCM_OP_SCALE_TO_LEVEL] = "SCALE_TO_LEVEL",
	[LCM_OP_CHANGE_FLAVOUR] = "CHANGE_FLAVOUR",
	[LCM_OP_TERMINATE] = "TERMINATE",
	[LCM_OP_HEAL] = "HEAL",
	[LCM_OP_OPERATE] = "OPERATE",
	[LCM_OP_CHANGE_EXT_CONN] = "CHANGE_EXT_CONN",
	[LCM_OP_MODIFY_INFO] = "MODIFY_INFO",
	[LCM_OP_CHANGE_VNFPKG] = "CHANGE_VNFPKG",
};

static const char *const change_names[] = {
	[LCM_CH_ADDED] = "ADDED",
	[LCM_CH_REMOVED] = "REMOVED",
	[LCM_CH_MODIFIED] = "MODIFIED",
	[LCM_CH_TEMPORARY] = "TEMPORARY",
};

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* Index of s in names (entries 1..), or 0. */
static int
name_index(const char *const *names, size_t n, const char *s)
{
	size_t i;

	for (i = 1; i < n; i++)
		if (names[i] != NULL && strcmp(names[i], s) == 0)
			return (int)i;
	return 0;
}

const char *
lcm_change_name(enum lcm_change c)
{
	if ((size_t)c >= NELEM(change_names) || change_names[c] == NULL)
		return "?";
	return change_names[c];
}

const char *
lcm_status_name(enum lcm_notif_status s)
{
	return s == LCM_NS_START ? "START" : s == LCM_NS_RESULT ? "RESULT" :
	    "?";
}

int
lcm_id_valid(const char *s, size_t max)
{
	size_t i;
	char c;

	for (i = 0; s[i] != '\0'; i++) {
		c = s[i];
		if (i >= max || !((c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == ':' || c == '-'))
			return 0;
	}
	return i > 0;
}

/* An enumeration name: 1..LCM_NAME_MAX of [A-Z_]. */
static int
enum_name_valid(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= LCM_NAME_MAX || !((s[i] >= 'A' && s[i] <= 'Z') ||
		    s[i] == '_'))
			return 0;
	return i > 0;
}

/* The string value of key k of o when it is a string without NUL. */
static const char *
str_field(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);

	if (!json_is_string(v) ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return NULL;
	return json_string_value(v);
}

static void set_err(char *, size_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* RFC 3339 text: digits, T, Z, and the separators : . + - */
static int
time_valid(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= LCM_TIME_MAX || !((s[i] >= '0' && s[i] <= '9') ||
		    strchr("TtZz:.+-", s[i]) != NULL))
			return 0;
	return i > 0;
}

/* Copies the identifier at key k of o (required or not) into dst. */
static int
get_id(const json_t *o, const char *k, int required, char *dst, size_t max,
    char *err, size_t errlen)
{
	const char *s;

	if (json_object_get(o, k) == NULL && !required) {
		dst[0] = '\0';
		return 0;
	}
	if ((s = str_field(o, k)) == NULL || !lcm_id_valid(s, max)) {
		set_err(err, errlen, "%s must be an identifier of "
		    "[A-Za-z0-9._:-]", k);
		return CAP_ERR_INVALID;
	}
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

/*
 * Refuses s (at key k) unless cap_name_valid takes it: the notification
 * id and the CMF entity ids are path segments of the REST API.
 */
static int
path_name_check(const char *k, const char *s, char *err, size_t errlen)
{
	if (cap_name_valid(s))
		return 0;
	set_err(err, errlen, "%s must be made of [A-Za-z0-9._-], not "
	    "starting with '.' or '-'", k);
	return CAP_ERR_INVALID;
}

/* The CMF entity id at key k of o (required) into dst. */
static int
get_entity_id(const json_t *o, const char *k, char dst[CMF_ID_MAX + 1],
    char *err, size_t errlen)
{
	int r;

	if ((r = get_id(o, k, 1, dst, CMF_ID_MAX, err, errlen)) != 0)
		return r;
	return path_name_check(k, dst, err, errlen);
}

static int
parse_vnfc(const json_t *o, struct lcm_vnfc *v, char *err, size_t errlen)
{
	const char *ch;
	int r, c;

	if (!json_is_object(o)) {
		set_err(err, errlen, "%s entries must be objects",
		    "affectedVnfcs");
		return CAP_ERR_INVALID;
	}
	if ((r = get_entity_id(o, "id", v->id, err, errlen)) != 0 ||
	    (r = get_entity_id(o, "vduId", v->vdu_id, err, errlen)) != 0)
		return r;
	if ((ch = str_field(o, "changeType")) == NULL ||
	    (c = name_index(change_names, NELEM(change_names), ch)) == 0) {
		set_err(err, errlen, "%s must be ADDED, REMOVED, MODIFIED or "
		    "TEMPORARY", "changeType");
		return CAP_ERR_INVALID;
	}
	v->change = (enum lcm_change)c;
	return 0;
}

static int
parse_vnfcs(const json_t *a, struct lcm_notification *n, char *err,
    size_t errlen)
{
	size_t i, j, cnt;
	int r;

	if (a == NULL || json_is_null(a))
		return 0;
	if (!json_is_array(a)) {
		set_err(err, errlen, "%s must be an array", "affectedVnfcs");
		return CAP_ERR_INVALID;
	}
	if ((cnt = json_array_size(a)) > LCM_VNFCS_MAX) {
		set_err(err, errlen, "%s names too many VNFC instances",
		    "affectedVnfcs");
		return CAP_ERR_INVALID;
	}
	if (cnt == 0)
		return 0;
	if ((n->vnfcs = calloc(cnt, sizeof(*n->vnfcs))) == NULL)
		return CAP_ERR_NOMEM;
	for (i = 0; i < cnt; i++) {
		if ((r = parse_vnfc(json_array_get(a, i), &n->vnfcs[i], err,
		    errlen)) != 0)
			return r;
		n->nvnfcs = i + 1;
		for (j = 0; j < i; j++)
			if (strcmp(n->vnfcs[j].id, n->vnfcs[i].id) == 0) {
				set_err(err, errlen, "affectedVnfcs names VNFC "
				    "instance %s twice", n->vnfcs[i].id);
				return CAP_ERR_INVALID;
			}
	}
	return 0;
}

int
lcm_notification_parse(const char *json, size_t len,
    struct lcm_notification *out, char *err, size_t errlen)
{
	json_t *o = NULL;
	json_error_t jerr;
	const char *s;
	int r = CAP_ERR_INVALID, i;

	memset(out, 0, sizeof(*out));
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (len > LCM_JSON_MAX) {
		set_err(err, errlen, "%s", "the notification is too large");
		r = CAP_ERR_TOO_LARGE;
		goto out;
	}
	if ((o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL || !json_is_object(o)) {
		set_err(err, errlen, "%s", "the notification is not a JSON "
		    "object");
		goto out;
	}
	if ((s = str_field(o, "notificationType")) == NULL ||
	    strcmp(s, "VnfLcmOperationOccurrenceNotification") != 0) {
		set_err(err, errlen, "%s must be "
		    "VnfLcmOperationOccurrenceNotification", "notificationType");
		goto out;
	}
	/* The id is also a path segment: /cmf/v1/lcm-notifications/{id}. */
	if ((r = get_id(o, "id", 1, out->id, LCM_ID_MAX, err, errlen)) != 0 ||
	    (r = path_name_check("id", out->id, err, errlen)) != 0)
		goto out;
	if ((r = get_id(o, "subscriptionId", 0, out->subscription_id,
	    LCM_ID_MAX, err, errlen)) != 0 ||
	    (r = get_id(o, "vnfLcmOpOccId", 1, out->op_occ_id, LCM_ID_MAX,
	    err, errlen)) != 0 ||
	    (r = get_entity_id(o, "vnfInstanceId", out->vnf_instance_id, err,
	    errlen)) != 0)
		goto out;
	r = CAP_ERR_INVALID;
	if (json_object_get(o, "timeStamp") != NULL) {
		if ((s = str_field(o, "timeStamp")) == NULL ||
		    !time_valid(s)) {
			set_err(err, errlen, "%s must be an RFC 3339 time",
			    "timeStamp");
			goto out;
		}
		memcpy(out->timestamp, s, strlen(s) + 1);
	}
	if ((s = str_field(o, "notificationStatus")) == NULL ||
	    (strcmp(s, "START") != 0 && strcmp(s, "RESULT") != 0)) {
		set_err(err, errlen, "%s must be START or RESULT",
		    "notificationStatus");
		goto out;
	}
	out->status = strcmp(s, "START") == 0 ? LCM_NS_START : LCM_NS_RESULT;
	if ((s = str_field(o, "operationState")) == NULL ||
	    !enum_name_valid(s)) {
		set_err(err, errlen, "%s must be a state name like COMPLETED",
		    "operationState");
		goto out;
	}
	memcpy(out->state_name, s, strlen(s) + 1);
	i = name_index(state_names, NELEM(state_names), s);
	out->state = (enum lcm_op_state)i;
	if ((s = str_field(o, "operation")) == NULL || !enum_name_valid(s)) {
		set_err(err, errlen, "%s must be an operation name like "
		    "INSTANTIATE", "operation");
		goto out;
	}
	memcpy(out->operation_name, s, strlen(s) + 1);
	i = name_index(op_names, NELEM(op_names), s);
	out->operation = (enum lcm_operation)i;
	if ((r = parse_vnfcs(json_object_get(o, "affectedVnfcs"), out, err,
	    errlen)) != 0)
		goto out;
	r = 0;
 out:
	json_decref(o);
	if (r != 0)
		lcm_notification_clear(out);
	return r;
}

void
lcm_notification_clear(struct lcm_notification *n)
{
	if (n == NULL)
		return;
	free(n->vnfcs);
	memset(n, 0, sizeof(*n));
}
