/*
 * test_cli_client.c - the pure parts of the capstone CLI: the address
 * parser, the HTTP response parser (framing, chunking, limits) and the k=v
 * arguments turned into JSON request bodies.
 *
 * The CLI's sources are not in libcapstone.a, so the two files under test
 * are compiled into this program directly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/err.h"
#include "tests/unit/harness.h"
#include "tools/capstone/args.c"
#include "tools/capstone/http_parse.c"

static int
parse_str(const char *s, int eof, size_t max, struct http_response **r)
{
	return http_response_parse((const uint8_t *)s, strlen(s), eof, max, r);
}

static void
test_url(void)
{
	struct cap_url u;

	TH_EQ_INT(cap_url_parse("https://127.0.0.1:8443", &u), 0,
	    "url: IPv4 with port parses");
	th_check(strcmp(u.host, "127.0.0.1") == 0 && strcmp(u.port, "8443") ==
	    0 && u.is_ip && !u.is_ipv6, "url: IPv4 host, port and kind",
	    "got host '%s' port '%s' ip %d v6 %d", u.host, u.port, u.is_ip,
	    u.is_ipv6);

	TH_EQ_INT(cap_url_parse("https://[::1]:9443/", &u), 0,
	    "url: IPv6 literal in brackets with trailing slash parses");
	th_check(strcmp(u.host, "::1") == 0 && strcmp(u.port, "9443") == 0 &&
	    u.is_ip && u.is_ipv6, "url: IPv6 host without brackets",
	    "got host '%s' port '%s'", u.host, u.port);

	TH_EQ_INT(cap_url_parse("HTTPS://capstone.example", &u), 0,
	    "url: DNS name without port parses, scheme case-insensitive");
	th_check(strcmp(u.host, "capstone.example") == 0 &&
	    strcmp(u.port, "443") == 0 && !u.is_ip,
	    "url: no port means 443", "got host '%s' port '%s' ip %d",
	    u.host, u.port, u.is_ip);

	TH_EQ_INT(cap_url_parse("http://127.0.0.1:8443", &u), CAP_ERR_INVALID,
	    "url: plain http refused");
	TH_EQ_INT(cap_url_parse("127.0.0.1:8443", &u), CAP_ERR_INVALID,
	    "url: missing scheme refused");
	TH_EQ_INT(cap_url_parse("https://", &u), CAP_ERR_INVALID,
	    "url: empty host refused");
	TH_EQ_INT(cap_url_parse("https://host:0", &u), CAP_ERR_INVALID,
	    "url: port 0 refused");
	TH_EQ_INT(cap_url_parse("https://host:65536", &u), CAP_ERR_INVALID,
	    "url: port over 65535 refused");
	TH_EQ_INT(cap_url_parse("https://host:", &u), CAP_ERR_INVALID,
	    "url: empty port refused");
	TH_EQ_INT(cap_url_parse("https://host:84a3", &u), CAP_ERR_INVALID,
	    "url: non-numeric port refused");
	TH_EQ_INT(cap_url_parse("https://user@host", &u), CAP_ERR_INVALID,
	    "url: user info refused");
	TH_EQ_INT(cap_url_parse("https://host/v1", &u), CAP_ERR_INVALID,
	    "url: path refused");
	TH_EQ_INT(cap_url_parse("https://host?x=1", &u), CAP_ERR_INVALID,
	    "url: query refused");
	TH_EQ_INT(cap_url_parse("https://[::1", &u), CAP_ERR_INVALID,
	    "url: unclosed bracket refused");
	TH_EQ_INT(cap_url_parse("https://[zz::1]:1", &u), CAP_ERR_INVALID,
	    "url: invalid IPv6 literal refused");
	TH_EQ_INT(cap_url_parse("https://::1:8443", &u), CAP_ERR_INVALID,
	    "url: IPv6 without brackets refused");
	TH_EQ_INT(cap_url_parse("https://10.1:8443", &u), CAP_ERR_INVALID,
	    "url: abbreviated IPv4 refused");
	TH_EQ_INT(cap_url_parse("https://-host", &u), CAP_ERR_INVALID,
	    "url: host starting with '-' refused");
}

static void
test_response_basic(void)
{
	struct http_response *r = NULL;
	const char *ok = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	    "Content-Length: 11\r\nX-Pad:   spaced   \r\n\r\n{\"a\":\"bc\"}\n";
	size_t i, n = strlen(ok);
	int ret;

	TH_EQ_INT(parse_str(ok, 0, 0, &r), 0,
	    "response: Content-Length body complete");
	if (r != NULL) {
		TH_EQ_INT(r->status, 200, "response: status 200");
		th_check(r->body_len == 11 &&
		    memcmp(r->body, "{\"a\":\"bc\"}\n", 11) == 0 &&
		    r->body[11] == '\0', "response: body and NUL",
		    "got %zu bytes '%s'", r->body_len, (char *)r->body);
		th_check(http_response_header(r, "content-type") != NULL &&
		    strcmp(http_response_header(r, "content-type"),
		    "application/json") == 0,
		    "response: header lookup is case-insensitive",
		    "got '%s'", http_response_header(r, "content-type") ?
		    http_response_header(r, "content-type") : "(null)");
		th_check(strcmp(http_response_header(r, "X-Pad"), "spaced") ==
		    0, "response: header value trimmed", "got '%s'",
		    http_response_header(r, "X-Pad"));
		th_check(http_response_header(r, "Missing") == NULL,
		    "response: absent header is NULL", "got a value");
	}
	http_response_free(r);
	r = NULL;

	/* every prefix is incomplete, never an error */
	ret = 0;
	for (i = 0; i < n && ret == 0; i++) {
		if (http_response_parse((const uint8_t *)ok, i, 0, 0, &r) !=
		    HTTP_PARSE_MORE)
			ret = 1;
		http_response_free(r);
		r = NULL;
	}
	th_check(ret == 0, "response: every prefix asks for more",
	    "prefix of %zu bytes did not", i - 1);

	TH_EQ_INT(http_response_parse((const uint8_t *)ok, n - 3, 1, 0, &r),
	    CAP_ERR_INVALID, "response: truncated body at EOF is invalid");

	TH_EQ_INT(parse_str("HTTP/1.1 204 No Content\r\n\r\n", 0, 0, &r), 0,
	    "response: 204 complete without a body");
	if (r != NULL)
		TH_EQ_INT(r->body_len, 0, "response: 204 body empty");
	http_response_free(r);
	r = NULL;

	TH_EQ_INT(parse_str("HTTP/1.0 404 Not Found\nContent-Length: 2\n\n{}",
	    0, 0, &r), 0, "response: bare LF line endings accepted");
	if (r != NULL)
		TH_EQ_INT(r->status, 404, "response: status 404");
	http_response_free(r);
	r = NULL;

	TH_EQ_INT(parse_str("HTTP/1.1 200 OK\r\n\r\nto the end", 0, 0, &r),
	    HTTP_PARSE_MORE, "response: unframed body waits for EOF");
	TH_EQ_INT(parse_str("HTTP/1.1 200 OK\r\n\r\nto the end", 1, 0, &r), 0,
	    "response: unframed body complete at EOF");
	if (r != NULL)
		th_check(r->body_len == 10 && strcmp((char *)r->body,
		    "to the end") == 0, "response: body read to EOF",
		    "got '%s'", (char *)r->body);
	http_response_free(r);
	r = NULL;

	TH_EQ_INT(parse_str("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 "
	    "Created\r\nContent-Length: 0\r\n\r\n", 0, 0, &r), 0,
	    "response: interim 100 skipped");
	if (r != NULL)
		TH_EQ_INT(r->status, 201, "response: final status after 100");
	http_response_free(r);
	r = NULL;
}

static void
test_response_chunked(void)
{
	struct http_response *r = NULL;
	const char *ch = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n"
	    "0\r\nTrailer: x\r\n\r\n";
	size_t i, n = strlen(ch);
	int bad = 0;

	TH_EQ_INT(parse_str(ch, 0, 0, &r), 0, "chunked: complete body");
	if (r != NULL)
		th_check(r->body_len == 23 && memcmp(r->body,
		    "Wikipedia in\r\n\r\nchunks.", 23) == 0,
		    "chunked: decoded body", "got %zu bytes '%s'", r->body_len,
		    (char *)r->body);
	http_response_free(r);
	r = NULL;

	for (i = 0; i < n && !bad; i++) {
		if (http_response_parse((const uint8_t *)ch, i, 0, 0, &r) !=
		    HTTP_PARSE_MORE)
			bad = 1;
		http_response_free(r);
		r = NULL;
	}
	th_check(!bad, "chunked: every prefix asks for more",
	    "prefix of %zu bytes did not", i - 1);

	TH_EQ_INT(http_response_parse((const uint8_t *)ch, n - 2, 1, 0, &r),
	    CAP_ERR_INVALID, "chunked: missing final CRLF at EOF is invalid");

	TH_EQ_INT(parse_str("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	    "Content-Length: 99\r\n\r\n2\r\nok\r\n0\r\n\r\n", 0, 0, &r), 0,
	    "chunked: wins over Content-Length");
	if (r != NULL)
		th_check(r->body_len == 2 && memcmp(r->body, "ok", 2) == 0,
		    "chunked: body ignores Content-Length", "got %zu bytes",
		    r->body_len);
	http_response_free(r);
	r = NULL;

	TH_EQ_INT(parse_str("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	    "\r\nzz\r\n", 0, 0, &r), CAP_ERR_INVALID,
	    "chunked: non-hex size invalid");
	TH_EQ_INT(parse_str("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	    "\r\n2\r\nokXX0\r\n\r\n", 0, 0, &r), CAP_ERR_INVALID,
	    "chunked: data not followed by CRLF invalid");
	TH_EQ_INT(parse_str("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	    "\r\nffffffffffffffffffff\r\n", 0, 0, &r), CAP_ERR_TOO_LARGE,
	    "chunked: huge chunk size refused without overflow");
	TH_EQ_INT(parse_str("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	    "\r\n8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n", 0, 10, &r),
	    CAP_ERR_TOO_LARGE, "chunked: sum of chunks over the limit");
	TH_EQ_INT(parse_str("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, "
	    "chunked\r\n\r\n", 0, 0, &r), CAP_ERR_INVALID,
	    "chunked: other transfer codings refused");
}

static void
test_response_limits(void)
{
	struct http_response *r = NULL;
	char *big;
	size_t i, off;

	TH_EQ_INT(parse_str("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n",
	    0, 10, &r), CAP_ERR_TOO_LARGE,
	    "limits: Content-Length over the limit");
	TH_EQ_INT(parse_str("HTTP/1.1 200 OK\r\nContent-Length: "
	    "99999999999999999999999\r\n\r\n", 0, 0, &r), CAP_ERR_TOO_LARGE,
	    "limits: Content-Length overflow refused");
	TH_EQ_INT(parse_str("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
	    "Content-Length: 2\r\n\r\nab", 0, 0, &r), CAP_ERR_INVALID,
	    "limits: conflicting Content-Length refused");
	TH_EQ_INT(parse_str("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
	    0, 0, &r), CAP_ERR_INVALID, "limits: negative Content-Length");
	TH_EQ_INT(parse_str("HTTP/1.1 200 OK\r\n\r\n0123456789A", 1, 10, &r),
	    CAP_ERR_TOO_LARGE, "limits: body to EOF over the limit");

	/* a header section that never ends */
	big = malloc(HTTP_MAX_HEADER_BYTES + 200);
	if (big == NULL)
		return;
	off = (size_t)snprintf(big, 64, "HTTP/1.1 200 OK\r\nX-Long: ");
	memset(big + off, 'a', HTTP_MAX_HEADER_BYTES + 100 - off);
	big[HTTP_MAX_HEADER_BYTES + 100] = '\0';
	TH_EQ_INT(parse_str(big, 0, 0, &r), CAP_ERR_TOO_LARGE,
	    "limits: header section over 64 KiB");

	/* too many headers */
	off = (size_t)snprintf(big, 64, "HTTP/1.1 200 OK\r\n");
	for (i = 0; i <= HTTP_MAX_HEADERS; i++)
		off += (size_t)snprintf(big + off, 32, "X-%zu: v\r\n", i);
	snprintf(big + off, 8, "\r\n");
	TH_EQ_INT(parse_str(big, 0, 0, &r), CAP_ERR_TOO_LARGE,
	    "limits: more than 100 headers");
	free(big);

	TH_EQ_INT(parse_str("HTTP/1.1 20 OK\r\n\r\n", 0, 0, &r),
	    CAP_ERR_INVALID, "malformed: two-digit status");
	TH_EQ_INT(parse_str("HTTP/1.1 600 Odd\r\n\r\n", 0, 0, &r),
	    CAP_ERR_INVALID, "malformed: status over 599");
	TH_EQ_INT(parse_str("HTTP/2 200 OK\r\n\r\n", 0, 0, &r),
	    CAP_ERR_INVALID, "malformed: not HTTP/1.x");
	TH_EQ_INT(parse_str("HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n", 0, 0,
	    &r), CAP_ERR_INVALID, "malformed: space in a header name");
	TH_EQ_INT(parse_str("HTTP/1.1 200 OK\r\nA: 1\r\n folded\r\n\r\n", 0, 0,
	    &r), CAP_ERR_INVALID, "malformed: obsolete line folding");
	TH_EQ_INT(parse_str("HTTP/1.1 200 OK\r\nA: x\001y\r\n\r\n", 0, 0, &r),
	    CAP_ERR_INVALID, "malformed: control character in a value");
	TH_EQ_INT(parse_str("HTTP/1.1 101 Switching\r\n\r\n", 0, 0, &r),
	    CAP_ERR_INVALID, "malformed: 101 not expected");
	TH_EQ_INT(parse_str("HTTP/1.1 200 OK\r\n", 1, 0, &r), CAP_ERR_INVALID,
	    "malformed: EOF inside the header section");
}

static void
test_args(void)
{
	char dom[CAP_NAME_MAX + 1], name[CAP_NAME_MAX + 1], err[256];
	char *kv_ok[] = { "user=app", "password=s3=cr3t", "empty=" };
	char *kv_dup[] = { "a=1", "a=2" };
	char *kv_nokey[] = { "=v" };
	char *kv_noeq[] = { "justtext" };
	char *kv_file[2], *kv_missing[] = { "k=@/nonexistent/capstone-x" };
	char fpath[256], farg[300], *body = NULL;
	const char *dir;
	json_t *data = NULL;
	size_t blen = 0;
	uint64_t v;
	FILE *f;

	TH_EQ_INT(cli_split_path("payments/db", dom, name), 0,
	    "args: DOMAIN/NAME splits");
	th_check(strcmp(dom, "payments") == 0 && strcmp(name, "db") == 0,
	    "args: domain and name", "got '%s' '%s'", dom, name);
	TH_EQ_INT(cli_split_path("payments", dom, name), CAP_ERR_INVALID,
	    "args: missing slash refused");
	TH_EQ_INT(cli_split_path("/db", dom, name), CAP_ERR_INVALID,
	    "args: empty domain refused");
	TH_EQ_INT(cli_split_path("payments/", dom, name), CAP_ERR_INVALID,
	    "args: empty name refused");
	TH_EQ_INT(cli_split_path("a/b/c", dom, name), CAP_ERR_INVALID,
	    "args: second slash refused");
	TH_EQ_INT(cli_split_path("a/.hidden", dom, name), CAP_ERR_INVALID,
	    "args: name starting with '.' refused");
	TH_EQ_INT(cli_split_path("a/b?x=1", dom, name), CAP_ERR_INVALID,
	    "args: query characters refused");

	TH_EQ_INT(cli_parse_u64("42", 100, &v), 0, "args: number parses");
	TH_EQ_INT(v, 42, "args: number value");
	TH_EQ_INT(cli_parse_u64("101", 100, &v), CAP_ERR_INVALID,
	    "args: number over max refused");
	TH_EQ_INT(cli_parse_u64("4x", 100, &v), CAP_ERR_INVALID,
	    "args: trailing garbage refused");
	TH_EQ_INT(cli_parse_u64("-1", 100, &v), CAP_ERR_INVALID,
	    "args: negative refused");
	TH_EQ_INT(cli_parse_u64("99999999999999999999999", UINT64_MAX, &v),
	    CAP_ERR_INVALID, "args: overflow refused");

	TH_EQ_INT(cli_kv_to_json(3, kv_ok, &data, err, sizeof(err)), 0,
	    "kv: pairs parse");
	TH_EQ_INT(cli_secret_body(data, 1, 3, &body, &blen), 0,
	    "kv: body with cas builds");
	th_check(body != NULL && strcmp(body, "{\"data\":{\"user\":\"app\","
	    "\"password\":\"s3=cr3t\",\"empty\":\"\"},\"cas\":3}") == 0,
	    "kv: body text, value split at the first '='", "got %s",
	    body ? body : "(null)");
	if (body != NULL) {
		sodium_memzero(body, blen);
		free(body);
		body = NULL;
	}
	TH_EQ_INT(cli_secret_body(data, 0, 0, &body, &blen), 0,
	    "kv: body without cas builds");
	th_check(body != NULL && strstr(body, "cas") == NULL,
	    "kv: no cas member when not asked", "got %s",
	    body ? body : "(null)");
	free(body);
	body = NULL;
	json_decref(data);
	data = NULL;

	TH_EQ_INT(cli_kv_to_json(2, kv_dup, &data, err, sizeof(err)),
	    CAP_ERR_INVALID, "kv: duplicate key refused");
	TH_EQ_INT(cli_kv_to_json(1, kv_nokey, &data, err, sizeof(err)),
	    CAP_ERR_INVALID, "kv: empty key refused");
	TH_EQ_INT(cli_kv_to_json(1, kv_noeq, &data, err, sizeof(err)),
	    CAP_ERR_INVALID, "kv: argument without '=' refused");
	th_check(strstr(err, "justtext") == NULL,
	    "kv: error does not repeat the argument", "got '%s'", err);
	th_check(cli_kv_to_json(1, kv_missing, &data, err, sizeof(err)) ==
	    CAP_ERR_IO, "kv: @file that does not exist refused", "err '%s'",
	    err);

	if ((dir = th_tmpdir()) != NULL) {
		snprintf(fpath, sizeof(fpath), "%s/value", dir);
		if ((f = fopen(fpath, "w")) != NULL) {
			fputs("line1\nline2\n", f);
			fclose(f);
		}
		snprintf(farg, sizeof(farg), "pem=@%s", fpath);
		kv_file[0] = farg;
		kv_file[1] = "x=y";
		TH_EQ_INT(cli_kv_to_json(2, kv_file, &data, err, sizeof(err)),
		    0, "kv: @file value read");
		th_check(data != NULL && strcmp(json_string_value(
		    json_object_get(data, "pem")), "line1\nline2\n") == 0,
		    "kv: @file contents kept exactly", "got '%s'",
		    data ? json_string_value(json_object_get(data, "pem")) :
		    "(null)");
		json_decref(data);
		data = NULL;

		if ((f = fopen(fpath, "w")) != NULL) {
			fputs("\xff\xfe bad", f);
			fclose(f);
		}
		TH_EQ_INT(cli_kv_to_json(1, kv_file, &data, err, sizeof(err)),
		    CAP_ERR_INVALID, "kv: @file that is not UTF-8 refused");
	}

	TH_EQ_INT(cli_json_object_parse("{\"a\":\"b\",\"n\":1}", 15, &data, err,
	    sizeof(err)), 0, "stdin: JSON object parses");
	json_decref(data);
	data = NULL;
	TH_EQ_INT(cli_json_object_parse("[1,2]", 5, &data, err, sizeof(err)),
	    CAP_ERR_INVALID, "stdin: array refused");
	TH_EQ_INT(cli_json_object_parse("{\"a\":1,\"a\":2}", 13, &data, err,
	    sizeof(err)), CAP_ERR_INVALID, "stdin: duplicate keys refused");
	TH_EQ_INT(cli_json_object_parse("{\"a\":\"secret-value\"", 19, &data,
	    err, sizeof(err)), CAP_ERR_INVALID, "stdin: truncated refused");
	th_check(strstr(err, "secret-value") == NULL,
	    "stdin: error does not repeat the input", "got '%s'", err);
	TH_EQ_INT(cli_json_object_parse("{}", CLI_MAX_STDIN + 1, &data, err,
	    sizeof(err)), CAP_ERR_TOO_LARGE, "stdin: over 1 MiB refused");
}

int
main(void)
{
	if (sodium_init() < 0) {
		printf("not ok - sodium_init\n");
		return 1;
	}
	test_url();
	test_response_basic();
	test_response_chunked();
	test_response_limits();
	test_args();
	return th_done();
}
