/*
 * test_api_refs.c - the body parsers of the reference, redeem and generate
 * calls: defaults, limits, refused shapes.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "api/request.h"
#include "api/request_refs.h"
#include "common/err.h"
#include "crypto/token.h"
#include "tests/unit/harness.h"

static int
ref_create(const char *body, struct api_ref_req *rr)
{
	const char *why = NULL;

	return api_req_ref_create((const uint8_t *)body,
	    body != NULL ? strlen(body) : 0, rr, &why);
}

static int
generate(const char *body, struct api_gen_req *gr)
{
	const char *why = NULL;

	return api_req_generate((const uint8_t *)body,
	    body != NULL ? strlen(body) : 0, gr, &why);
}

static void
test_ref_create(void)
{
	static const char *bad[] = {
		"[]", "{\"ttl\":\"0s\"}", "{\"ttl\":\"25h\"}", "{\"ttl\":0}",
		"{\"ttl\":\"soon\"}", "{\"ttl\":true}", "{\"uses\":0}",
		"{\"uses\":1001}", "{\"uses\":\"1\"}", "{\"uses\":1.5}",
		"{\"version\":0}", "{\"version\":-1}",
		"{\"version\":4294967296}", "{\"other\":1}",
		"{\"ttl\":\"60s\",\"ttl\":\"60s\"}", "{", "null",
		"{\"ttl\":\"6\\u00000s\"}",
	};
	struct api_ref_req rr;
	char label[128];
	size_t i;
	int r;

	r = ref_create(NULL, &rr);
	TH_EQ_INT(r, 0, "refs: empty body accepted");
	TH_EQ_INT(rr.ttl, 60, "refs: default ttl 60s");
	TH_EQ_INT(rr.uses, 1, "refs: default one use");
	TH_EQ_INT(rr.version, 0, "refs: default newest version");

	r = ref_create("{}", &rr);
	TH_EQ_INT(r, 0, "refs: {} accepted");
	TH_EQ_INT(rr.ttl, 60, "refs: {} keeps the default ttl");

	r = ref_create("{\"ttl\":\"15m\",\"uses\":5,\"version\":3}", &rr);
	TH_EQ_INT(r, 0, "refs: every field");
	TH_EQ_INT(rr.ttl, 900, "refs: ttl 15m");
	TH_EQ_INT(rr.uses, 5, "refs: uses 5");
	TH_EQ_INT(rr.version, 3, "refs: version 3");

	r = ref_create("{\"ttl\":\"24h\",\"uses\":1000}", &rr);
	TH_EQ_INT(r, 0, "refs: the maxima");
	TH_EQ_INT(rr.ttl, 86400, "refs: ttl 24h");
	TH_EQ_INT(rr.uses, 1000, "refs: uses 1000");

	r = ref_create("{\"ttl\":30,\"uses\":null,\"version\":null}", &rr);
	TH_EQ_INT(r, 0, "refs: ttl in seconds, nulls as absent");
	TH_EQ_INT(rr.ttl, 30, "refs: ttl 30");
	TH_EQ_INT(rr.uses, 1, "refs: null uses is the default");

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = ref_create(bad[i], &rr);
		snprintf(label, sizeof(label), "refs: refused %s", bad[i]);
		TH_EQ_INT(r, CAP_ERR_INVALID, label);
	}
}

static void
test_redeem(void)
{
	char ref[API_REF_PRESENTED_SIZE], body[512], label[160];
	const char *why = NULL;
	static const char *bad[] = {
		"{}", "{\"ref\":1}", "{\"ref\":\"\"}",
		"{\"ref\":null}", "{\"ref\":\"cpr\\u0000x\"}",
		"[\"cpr_\"]", "",
	};
	size_t i;
	int r;

	if (ref_new(ref) != 0) {
		th_check(0, "redeem: a reference to parse", "ref_new failed");
		return;
	}
	snprintf(body, sizeof(body), "{\"ref\":\"%s\"}", ref);
	sodium_memzero(ref, sizeof(ref));
	r = api_req_ref_redeem((const uint8_t *)body, strlen(body), ref, &why);
	TH_EQ_INT(r, 0, "redeem: a fresh reference parses");
	th_check(strncmp(ref, REF_PREFIX, 4) == 0 &&
	    strlen(ref) == TOKEN_STR_LEN && strstr(body, ref) != NULL,
	    "redeem: the reference is copied out", "got another string");

	snprintf(body, sizeof(body), "{\"ref\":\"%s\",\"x\":1}", ref);
	r = api_req_ref_redeem((const uint8_t *)body, strlen(body), ref, &why);
	TH_EQ_INT(r, CAP_ERR_INVALID, "redeem: unknown field refused");
	TH_EQ_INT(ref[0], '\0', "redeem: nothing copied on failure");

	r = api_req_ref_redeem((const uint8_t *)"{\"ref\":\"not-a-ref\"}",
	    19, ref, &why);
	TH_EQ_INT(r, 0, "redeem: a malformed string is the handler's to judge");
	TH_EQ_INT(token_format_valid(ref, REF_PREFIX), 0,
	    "redeem: ...which token_format_valid refuses");
	memset(body, 0, sizeof(body));
	memcpy(body, "{\"ref\":\"", 8);
	memset(body + 8, 'A', TOKEN_PRESENTED_MAX + 1);
	memcpy(body + 8 + TOKEN_PRESENTED_MAX + 1, "\"}", 3);
	r = api_req_ref_redeem((const uint8_t *)body, strlen(body), ref, &why);
	TH_EQ_INT(r, CAP_ERR_INVALID, "redeem: an over-long string refused");

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = api_req_ref_redeem((const uint8_t *)bad[i], strlen(bad[i]),
		    ref, &why);
		snprintf(label, sizeof(label), "redeem: refused %s", bad[i]);
		TH_EQ_INT(r, CAP_ERR_INVALID, label);
	}
	sodium_memzero(body, sizeof(body));
}

static void
test_generate(void)
{
	static const char *bad[] = {
		"{\"length\":0}", "{\"length\":1025}", "{\"length\":\"32\"}",
		"{\"charset\":\"emoji\"}", "{\"charset\":7}",
		"{\"field\":\"\"}", "{\"field\":\".hidden\"}",
		"{\"field\":\"a b\"}", "{\"ttl\":\"2d\"}", "{\"uses\":0}",
		"{\"version\":1}", "[]",
	};
	struct api_gen_req gr;
	char label[128];
	size_t i;
	int r;

	r = generate(NULL, &gr);
	TH_EQ_INT(r, 0, "generate: empty body accepted");
	TH_EQ_INT(gr.length, 32, "generate: default length 32");
	th_check(strcmp(gr.charset, "alnum") == 0,
	    "generate: default charset alnum", "got %s", gr.charset);
	th_check(strcmp(gr.field, "value") == 0,
	    "generate: default field value", "got %s", gr.field);
	TH_EQ_INT(gr.ref.ttl, 60, "generate: default ttl");
	TH_EQ_INT(gr.ref.uses, 1, "generate: default uses");
	TH_EQ_INT(gr.ref.version, 0, "generate: no version");

	r = generate("{\"length\":1024,\"charset\":\"ascii-printable\","
	    "\"field\":\"db_password\",\"ttl\":\"1h\",\"uses\":3}", &gr);
	TH_EQ_INT(r, 0, "generate: every field");
	TH_EQ_INT(gr.length, 1024, "generate: length 1024");
	th_check(strcmp(gr.charset, "ascii-printable") == 0,
	    "generate: charset kept", "got %s", gr.charset);
	th_check(strcmp(gr.field, "db_password") == 0,
	    "generate: field kept", "got %s", gr.field);
	TH_EQ_INT(gr.ref.ttl, 3600, "generate: ttl 1h");
	TH_EQ_INT(gr.ref.uses, 3, "generate: uses 3");

	r = generate("{\"length\":1,\"charset\":\"hex\"}", &gr);
	TH_EQ_INT(r, 0, "generate: length 1 hex");

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = generate(bad[i], &gr);
		snprintf(label, sizeof(label), "generate: refused %s", bad[i]);
		TH_EQ_INT(r, CAP_ERR_INVALID, label);
	}
}

int
main(void)
{
	if (sodium_init() < 0)
		return 1;
	api_json_alloc_init();
	test_ref_create();
	test_redeem();
	test_generate();
	return th_done();
}
