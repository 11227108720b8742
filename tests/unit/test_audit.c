/* test_audit.c - the audit chain: append, reopen, verify, tamper detection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/hmac.h>

#include "api/audit.h"
#include "common/err.h"
#include "tests/unit/harness.h"

static int
soft_hmac(void *ctx, const uint8_t *data, size_t len, uint8_t mac[32])
{
	unsigned maclen = 32;

	(void)ctx;
	return HMAC(EVP_sha256(), "k", 1, data, len, mac, &maclen) ? 0 : -1;
}

static int
append_n(const char *path, int from, int n)
{
	struct audit_event ev = { .request_id = "r", .identity = "CN=admin",
	    .op = "secret.put", .method = "PUT", .path = "/v1/x",
	    .domain = "payments", .name = "db-password", .status = 200,
	    .outcome = "ok", .duration_us = 5 };
	audit *a = NULL;
	char rid[16];
	int i, r;

	if ((r = audit_open(path, 0, soft_hmac, NULL, &a)) != 0)
		return r;
	for (i = 0; i < n && r == 0; i++) {
		snprintf(rid, sizeof(rid), "req-%d", from + i);
		ev.request_id = rid;
		r = audit_append(a, &ev);
	}
	audit_free(a);
	return r;
}

static int
verify_file(const char *path, uint64_t *count, uint64_t *bad, char *why,
    size_t whylen)
{
	FILE *f = fopen(path, "r");
	int r;

	if (f == NULL)
		return CAP_ERR_IO;
	r = audit_verify(f, count, bad, why, whylen);
	fclose(f);
	return r;
}

/* Rewrite the file with line `a` (1-based) changed by op. */
static void
mutate(const char *src, const char *dst, int op, int a)
{
	char lines[64][4096];
	int n = 0, i;
	FILE *f = fopen(src, "r"), *g = fopen(dst, "w");

	while (n < 64 && fgets(lines[n], sizeof(lines[n]), f) != NULL)
		n++;
	for (i = 0; i < n; i++) {
		if (op == 0 && i == a - 1) {		/* edit */
			char *p = strstr(lines[i], "\"status\":200");
			if (p != NULL)
				p[10] = '3';
		} else if (op == 1 && i == a - 1) {	/* delete */
			continue;
		} else if (op == 2 && i == a - 1) {	/* swap with next */
			fputs(lines[i + 1], g);
			fputs(lines[i], g);
			i++;
			continue;
		}
		fputs(lines[i], g);
	}
	fclose(f);
	fclose(g);
}

int
main(void)
{
	const char *d = th_tmpdir();
	char path[256], bad_path[256], why[256], *tail = NULL;
	uint64_t count = 0, bad = 0;
	audit *a = NULL;
	size_t len = 0;
	FILE *f;
	char buf[8192];
	size_t n;

	snprintf(path, sizeof(path), "%s/audit.log", d);
	snprintf(bad_path, sizeof(bad_path), "%s/bad.log", d);
	TH_EQ_INT(append_n(path, 0, 5), 0, "append 5 entries");
	TH_EQ_INT(append_n(path, 5, 5), 0, "reopen continues the chain");
	th_check(verify_file(path, &count, &bad, why, sizeof(why)) == 0 &&
	    count == 10, "intact log verifies", "count %llu, %s",
	    (unsigned long long)count, why);

	f = fopen(path, "r");
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	th_check(strstr(buf, "db-password") == NULL, "secret name not in clear",
	    "found the name in the log");
	th_check(strstr(buf, "\"name_hmac\":\"") != NULL, "name HMAC logged",
	    "no name_hmac field");

	mutate(path, bad_path, 0, 4);
	th_check(verify_file(bad_path, &count, &bad, why, sizeof(why)) ==
	    CAP_ERR_CRYPTO && bad == 4, "edited line found", "bad=%llu %s",
	    (unsigned long long)bad, why);
	mutate(path, bad_path, 1, 6);
	th_check(verify_file(bad_path, &count, &bad, why, sizeof(why)) ==
	    CAP_ERR_CRYPTO && bad == 6, "deleted line found", "bad=%llu %s",
	    (unsigned long long)bad, why);
	mutate(path, bad_path, 2, 2);
	th_check(verify_file(bad_path, &count, &bad, why, sizeof(why)) ==
	    CAP_ERR_CRYPTO && bad == 2, "swapped lines found", "bad=%llu %s",
	    (unsigned long long)bad, why);
	mutate(path, bad_path, 0, 10);
	TH_EQ_INT(audit_open(bad_path, 0, soft_hmac, NULL, &a),
	    CAP_ERR_CORRUPT, "open refuses a log whose last entry was edited");

	if (audit_open(path, 0, soft_hmac, NULL, &a) == 0) {
		th_check(audit_tail(a, 3, &tail, &len) == 0 && tail != NULL &&
		    strstr(tail, "req-9") != NULL && strstr(tail, "req-6") == NULL &&
		    strstr(tail, "req-7") != NULL, "tail returns the last 3",
		    "got %s", tail ? tail : "(null)");
		free(tail);
		audit_free(a);
	}
	return th_done();
}
