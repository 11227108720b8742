/*
 * fuzz_lcm_notification.c - libFuzzer target for the parser of VNF
 * lifecycle notifications: every input is refused with nothing left to
 * release, or accepted as a notification whose fields keep their limits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "nfv/lcm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lcm_notification n;
	char err[256];
	size_t i;
	int r;

	r = lcm_notification_parse((const char *)data, size, &n, err,
	    sizeof(err));
	if (r != 0) {
		if (n.vnfcs != NULL || n.nvnfcs != 0 || memchr(err, '\0',
		    sizeof(err)) == NULL)
			abort();
		return 0;
	}
	if (!lcm_id_valid(n.id, LCM_ID_MAX) ||
	    !lcm_id_valid(n.vnf_instance_id, CMF_ID_MAX) ||
	    !lcm_id_valid(n.op_occ_id, LCM_ID_MAX) ||
	    n.nvnfcs > LCM_VNFCS_MAX || (n.nvnfcs > 0) != (n.vnfcs != NULL) ||
	    n.state_name[0] == '\0' || n.operation_name[0] == '\0')
		abort();
	for (i = 0; i < n.nvnfcs; i++)
		if (!lcm_id_valid(n.vnfcs[i].id, CMF_ID_MAX) ||
		    !lcm_id_valid(n.vnfcs[i].vdu_id, CMF_ID_MAX) ||
		    strcmp(lcm_change_name(n.vnfcs[i].change), "?") == 0)
			abort();
	lcm_notification_clear(&n);
	return 0;
}
