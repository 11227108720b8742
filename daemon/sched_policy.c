/*
 * sched_policy.c - the scheduler's decisions as pure functions of a
 * record's times and the configuration, and the parsers of its settings
 * (used by the configuration checks too, so this file depends on nothing
 * but common/).
 */
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/util.h"
#include "daemon/scheduler.h"

#define FRACTION_TEXT_MAX	32
#define THRESHOLDS_TEXT_MAX	1024

int
sched_parse_fraction(const char *s, uint32_t *ppm)
{
	uint64_t whole = 0, frac = 0, scale = SCHED_FRACTION_ONE;
	size_t i = 0, digits = 0;

	*ppm = 0;
	if (s == NULL || strlen(s) > FRACTION_TEXT_MAX ||
	    s[0] < '0' || s[0] > '9')
		return CAP_ERR_INVALID;
	for (; s[i] >= '0' && s[i] <= '9'; i++) {
		whole = whole * 10 + (uint64_t)(s[i] - '0');
		if (whole > 1)
			return CAP_ERR_INVALID;
	}
	if (s[i] == '.') {
		for (i++; s[i] >= '0' && s[i] <= '9'; i++, digits++) {
			if (digits == 6)
				return CAP_ERR_INVALID;	/* finer than 1e-6 */
			scale /= 10;
			frac += (uint64_t)(s[i] - '0') * scale;
		}
		if (digits == 0)
			return CAP_ERR_INVALID;
	}
	if (s[i] != '\0')
		return CAP_ERR_INVALID;
	frac += whole * SCHED_FRACTION_ONE;
	if (frac == 0 || frac > SCHED_FRACTION_ONE)
		return CAP_ERR_INVALID;
	*ppm = (uint32_t)frac;
	return 0;
}

int
sched_parse_thresholds(const char *s, uint64_t *out, size_t *n)
{
	char buf[THRESHOLDS_TEXT_MAX + 1], *p, *next, *end;
	uint64_t v;
	size_t i, k = 0;
	int r = CAP_ERR_INVALID;

	*n = 0;
	if (s == NULL || strlen(s) > THRESHOLDS_TEXT_MAX)
		return CAP_ERR_INVALID;
	snprintf(buf, sizeof(buf), "%s", s);
	for (p = buf; p != NULL; p = next) {
		if ((next = strchr(p, ',')) != NULL)
			*next++ = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		end = p + strlen(p);
		while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (k == SCHED_THRESHOLDS_MAX ||
		    cap_parse_duration(p, &v) != 0 || v == 0)
			goto out;
		for (i = 0; i < k; i++)
			if (out[i] == v)
				goto out;
		out[k++] = v;
	}
	*n = k;
	r = 0;
 out:
	return r;
}

int
sched_renew_due(uint64_t not_before, uint64_t not_after, uint32_t fraction,
    uint32_t dflt, uint64_t now)
{
	uint64_t f = fraction != 0 ? fraction : dflt;

	if (not_after <= not_before || f == 0)
		return 0;
	if (f > SCHED_FRACTION_ONE)
		f = SCHED_FRACTION_ONE;
	/* Lifetimes are under 100 years: the product fits in 64 bits. */
	return now >= not_before +
	    (not_after - not_before) * f / SCHED_FRACTION_ONE;
}

uint32_t
sched_alerts_due(uint64_t not_after, uint64_t now, const uint64_t *th,
    size_t nth, uint32_t sent, int *fire)
{
	uint64_t left, best = 0;
	uint32_t mask = 0;
	size_t i;

	*fire = -1;
	if (not_after <= now)
		return 0;
	left = not_after - now;
	for (i = 0; i < nth && i < SCHED_THRESHOLDS_MAX; i++) {
		if (left > th[i] || (sent & (1u << i)) != 0)
			continue;
		mask |= 1u << i;
		if (*fire < 0 || th[i] < best) {
			best = th[i];
			*fire = (int)i;
		}
	}
	return mask;
}

