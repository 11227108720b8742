/*
 * test_scheduler.c - the scheduler's pure decisions: parsing of
 * renew_fraction and alert_thresholds, when a renewal is due, which
 * expiry thresholds fire, and the webhook's JSON.
 */
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "api/request.h"
#include "common/err.h"
#include "daemon/scheduler.h"
#include "tests/unit/harness.h"

static void
test_fraction(void)
{
	static const struct {
		const char	*in;
		int		 ok;
		uint32_t	 ppm;
	} cases[] = {
		{ "0.6667", 1, 666700 },
		{ "0.5", 1, 500000 },
		{ "1", 1, 1000000 },
		{ "1.0", 1, 1000000 },
		{ "0.000001", 1, 1 },
		{ "0", 0, 0 },
		{ "0.0", 0, 0 },
		{ "1.000001", 0, 0 },
		{ "2", 0, 0 },
		{ "0.1234567", 0, 0 },
		{ ".5", 0, 0 },
		{ "0.", 0, 0 },
		{ "0.5x", 0, 0 },
		{ "-0.5", 0, 0 },
		{ "", 0, 0 },
		{ "00000000000000000000000000000000000.5", 0, 0 },
	};
	uint32_t ppm;
	size_t i;
	int r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = sched_parse_fraction(cases[i].in, &ppm);
		if (cases[i].ok)
			th_check(r == 0 && ppm == cases[i].ppm, "fraction parses",
			    "\"%s\": r %d, ppm %u, want %u", cases[i].in, r,
			    ppm, cases[i].ppm);
		else
			th_check(r == CAP_ERR_INVALID, "fraction refused",
			    "\"%s\": r %d", cases[i].in, r);
	}
}

static void
test_thresholds(void)
{
	uint64_t th[SCHED_THRESHOLDS_MAX];
	size_t n = 99;
	int r;

	r = sched_parse_thresholds("30d,7d,1d", th, &n);
	th_check(r == 0 && n == 3 && th[0] == 30 * 86400 &&
	    th[1] == 7 * 86400 && th[2] == 86400, "thresholds: default",
	    "r %d n %zu", r, n);
	r = sched_parse_thresholds(" 20s , 10s", th, &n);
	th_check(r == 0 && n == 2 && th[0] == 20 && th[1] == 10,
	    "thresholds: spaces and seconds", "r %d n %zu", r, n);
	r = sched_parse_thresholds("1h", th, &n);
	th_check(r == 0 && n == 1 && th[0] == 3600, "thresholds: one",
	    "r %d n %zu", r, n);
	th_check(sched_parse_thresholds("", th, &n) == CAP_ERR_INVALID,
	    "thresholds: empty refused", "accepted");
	th_check(sched_parse_thresholds("1d,,2d", th, &n) == CAP_ERR_INVALID,
	    "thresholds: empty item refused", "accepted");
	th_check(sched_parse_thresholds("1d,0s", th, &n) == CAP_ERR_INVALID,
	    "thresholds: zero refused", "accepted");
	th_check(sched_parse_thresholds("1d,24h", th, &n) == CAP_ERR_INVALID,
	    "thresholds: duplicate refused", "accepted");
	th_check(sched_parse_thresholds("1w", th, &n) == CAP_ERR_INVALID,
	    "thresholds: unknown unit refused", "accepted");
	th_check(sched_parse_thresholds("1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,"
	    "16", th, &n) == 0 && n == 16, "thresholds: 16 accepted",
	    "n %zu", n);
	th_check(sched_parse_thresholds("1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,"
	    "16,17", th, &n) == CAP_ERR_INVALID, "thresholds: 17 refused",
	    "accepted");
}

static void
test_renew_due(void)
{
	const uint64_t nb = 1000000, na = nb + 3000;

	TH_EQ_INT(sched_renew_due(nb, na, 0, 666700, nb), 0,
	    "renew: not at start");
	TH_EQ_INT(sched_renew_due(nb, na, 0, 666700, nb + 1999), 0,
	    "renew: not before 2/3");
	TH_EQ_INT(sched_renew_due(nb, na, 0, 666700, nb + 2000), 1,
	    "renew: due past 2/3");
	TH_EQ_INT(sched_renew_due(nb, na, 0, 500000, nb + 1499), 0,
	    "renew: half, just before");
	TH_EQ_INT(sched_renew_due(nb, na, 0, 500000, nb + 1500), 1,
	    "renew: half, at");
	TH_EQ_INT(sched_renew_due(nb, na, 100000, 666700, nb + 300), 1,
	    "renew: the record's fraction wins");
	TH_EQ_INT(sched_renew_due(nb, na, 1000000, 500000, na - 1), 0,
	    "renew: fraction 1 waits for the end");
	TH_EQ_INT(sched_renew_due(nb, na, 0, 666700, na + 10), 1,
	    "renew: expired is due");
	TH_EQ_INT(sched_renew_due(0, 0, 0, 666700, nb), 0,
	    "renew: no validity");
	TH_EQ_INT(sched_renew_due(na, nb, 0, 666700, na + 10), 0,
	    "renew: inverted validity");
	/* a century-long lifetime does not overflow */
	TH_EQ_INT(sched_renew_due(0, 3155760000ULL, 0, 1000000,
	    3155759999ULL), 0, "renew: long lifetime");
}

static void
test_alerts(void)
{
	const uint64_t th[3] = { 30 * 86400, 7 * 86400, 86400 };
	const uint64_t na = 100000000;
	uint32_t m;
	int fire;

	m = sched_alerts_due(na, na - 40 * 86400, th, 3, 0, &fire);
	th_check(m == 0 && fire == -1, "alerts: nothing 40 days out",
	    "mask %u fire %d", m, fire);
	m = sched_alerts_due(na, na - 30 * 86400, th, 3, 0, &fire);
	th_check(m == 1 && fire == 0, "alerts: 30d at exactly 30 days",
	    "mask %u fire %d", m, fire);
	m = sched_alerts_due(na, na - 20 * 86400, th, 3, 1, &fire);
	th_check(m == 0 && fire == -1, "alerts: 30d only once",
	    "mask %u fire %d", m, fire);
	m = sched_alerts_due(na, na - 6 * 86400, th, 3, 1, &fire);
	th_check(m == 2 && fire == 1, "alerts: 7d after 30d",
	    "mask %u fire %d", m, fire);
	m = sched_alerts_due(na, na - 5 * 86400, th, 3, 0, &fire);
	th_check(m == 3 && fire == 1, "alerts: 30d and 7d at once: one "
	    "alert, for 7d", "mask %u fire %d", m, fire);
	m = sched_alerts_due(na, na - 3600, th, 3, 0, &fire);
	th_check(m == 7 && fire == 2, "alerts: all at once: 1d reported",
	    "mask %u fire %d", m, fire);
	m = sched_alerts_due(na, na - 3600, th, 3, 7, &fire);
	th_check(m == 0 && fire == -1, "alerts: all sent",
	    "mask %u fire %d", m, fire);
	m = sched_alerts_due(na, na, th, 3, 0, &fire);
	th_check(m == 0 && fire == -1, "alerts: none once expired",
	    "mask %u fire %d", m, fire);
	m = sched_alerts_due(na, na + 5, th, 3, 0, &fire);
	th_check(m == 0 && fire == -1, "alerts: none after expiry",
	    "mask %u fire %d", m, fire);
	m = sched_alerts_due(na, na - 10, th, 0, 0, &fire);
	th_check(m == 0 && fire == -1, "alerts: no thresholds",
	    "mask %u fire %d", m, fire);
}

static void
test_webhook_body(void)
{
	json_t *o;
	json_error_t je;
	char *body;

	body = sched_webhook_body("0123456789abcdef0123456789abcdef",
	    "CN=a \"quoted\" name", "local", "1f", 0, 20, 15);
	if (!th_check(body != NULL, "webhook: body made", "NULL"))
		return;
	o = json_loads(body, 0, &je);
	th_check(o != NULL &&
	    strcmp(json_string_value(json_object_get(o, "event")),
	    "certificate_expiring") == 0 &&
	    strcmp(json_string_value(json_object_get(o, "subject")),
	    "CN=a \"quoted\" name") == 0 &&
	    strcmp(json_string_value(json_object_get(o, "not_after")),
	    "1970-01-01T00:00:00Z") == 0 &&
	    json_integer_value(json_object_get(o, "threshold")) == 20 &&
	    json_integer_value(json_object_get(o, "seconds_left")) == 15 &&
	    json_object_get(o, "id") != NULL && json_object_get(o, "ca") !=
	    NULL && json_object_get(o, "serial") != NULL,
	    "webhook: the JSON has every field", "%s", body);
	json_decref(o);
	api_json_free(body);
}

int
main(void)
{
	test_fraction();
	test_thresholds();
	test_renew_due();
	test_alerts();
	test_webhook_body();
	return th_done();
}
