/*
 * lcm.h - VNF lifecycle notifications (ETSI GS NFV-SOL 003
 * VnfLcmOperationOccurrenceNotification) as the CMF reads them: the parser
 * that turns the JSON text into a checked structure, with no store, token
 * or CA access (so that it can be fuzzed alone), and the names it knows.
 * (lcm_parse.c).  What the CMF does with a parsed notification is
 * cmf_lcm_notify (cmf.h, lcm.c).
 *
 * Only the fields the CMF uses are read; unknown fields are ignored.  The
 * document is at most LCM_JSON_MAX bytes and names at most LCM_VNFCS_MAX
 * affected VNFC instances.  The notification's id is a name of
 * cap_name_valid (it is a path segment of the occurrence log's URL);
 * vnfLcmOpOccId and subscriptionId are 1..LCM_ID_MAX characters of
 * [A-Za-z0-9._:-]; vnfInstanceId, affected VNFC instance ids and vduIds
 * are CMF entity ids (names of cap_name_valid, at most CMF_ID_MAX bytes).
 */
#ifndef CAP_NFV_LCM_H
#define CAP_NFV_LCM_H

#include <stddef.h>

#include "nfv/cmf.h"

#define LCM_JSON_MAX	(256 * 1024)	/* bytes of one notification */
#define LCM_ID_MAX	128		/* notification and occurrence ids */
#define LCM_VNFCS_MAX	256		/* affected VNFC instances */
#define LCM_NAME_MAX	32		/* operation and state names */
#define LCM_TIME_MAX	40		/* timeStamp text */

enum lcm_notif_status {
	LCM_NS_START = 1,
	LCM_NS_RESULT = 2,
};

/* SOL 003 LcmOperationStateType; LCM_OS_OTHER keeps an unknown name. */
enum lcm_op_state {
	LCM_OS_OTHER = 0,
	LCM_OS_STARTING,
	LCM_OS_PROCESSING,
	LCM_OS_COMPLETED,
	LCM_OS_FAILED_TEMP,
	LCM_OS_FAILED,
	LCM_OS_ROLLING_BACK,
	LCM_OS_ROLLED_BACK,
};

/* SOL 003 LcmOperationType; LCM_OP_OTHER keeps an unknown name. */
enum lcm_operation {
	LCM_OP_OTHER = 0,
	LCM_OP_INSTANTIATE,
	LCM_OP_SCALE,
	LCM_OP_SCALE_TO_LEVEL,
	LCM_OP_CHANGE_FLAVOUR,
	LCM_OP_TERMINATE,
	LCM_OP_HEAL,
	LCM_OP_OPERATE,
	LCM_OP_CHANGE_EXT_CONN,
	LCM_OP_MODIFY_INFO,
	LCM_OP_CHANGE_VNFPKG,
};

enum lcm_change {
	LCM_CH_ADDED = 1,
	LCM_CH_REMOVED = 2,
	LCM_CH_MODIFIED = 3,
	LCM_CH_TEMPORARY = 4,
};

/* One entry of affectedVnfcs. */
struct lcm_vnfc {
	char			id[CMF_ID_MAX + 1];	/* VNFC instance */
	char			vdu_id[CMF_ID_MAX + 1];	/* the VNFC entity */
	enum lcm_change		change;
};

struct lcm_notification {
	char			id[LCM_ID_MAX + 1];
	char			subscription_id[LCM_ID_MAX + 1];  /* may be "" */
	char			op_occ_id[LCM_ID_MAX + 1];
	char			timestamp[LCM_TIME_MAX + 1];	  /* may be "" */
	char			vnf_instance_id[CMF_ID_MAX + 1];
	enum lcm_notif_status	status;
	enum lcm_op_state	state;
	char			state_name[LCM_NAME_MAX + 1];
	enum lcm_operation	operation;
	char			operation_name[LCM_NAME_MAX + 1];
	struct lcm_vnfc		*vnfcs;		/* malloc'd, nvnfcs entries */
	size_t			nvnfcs;
};

/*
 * lcm_notification_parse reads len bytes of JSON text into *out (zeroed
 * first).  CAP_ERR_TOO_LARGE over LCM_JSON_MAX, CAP_ERR_INVALID with a
 * client-safe reason in err for anything malformed: not one JSON object,
 * duplicate keys, a required field missing or of the wrong type, an
 * unknown notificationType, notificationStatus or changeType, an id out
 * of its character set or length, more than LCM_VNFCS_MAX affected VNFCs,
 * or one VNFC instance named twice; CAP_ERR_NOMEM.  On failure *out holds
 * nothing to release.  Release a parsed one with lcm_notification_clear.
 */
int lcm_notification_parse(const char *json, size_t len,
    struct lcm_notification *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void lcm_notification_clear(struct lcm_notification *n);

/* lcm_id_valid: 1 if s is 1..max characters of [A-Za-z0-9._:-]. */
int lcm_id_valid(const char *s, size_t max);

/* Names of the enumerations, as SOL 003 spells them ("ADDED"). */
const char *lcm_change_name(enum lcm_change c);
const char *lcm_status_name(enum lcm_notif_status s);

#endif
