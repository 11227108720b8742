/*
 * client.h - the capstone CLI's HTTPS/1.1 client.
 *
 * Two halves: the pure parsers (address URL, HTTP response) live in
 * http_parse.c and do no I/O, so unit tests and the fuzzer include that file
 * directly; the TLS transport lives in client.c.  One request is one
 * connection (`Connection: close`), mutual TLS 1.2 or newer, the server
 * checked against the CA bundle and the host name or IP address of the URL.
 *
 * All functions return 0 or a negative CAP_ERR_* (common/err.h) unless
 * stated otherwise.
 */
#ifndef CAP_CLI_CLIENT_H
#define CAP_CLI_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#define CAP_DEFAULT_ADDR	"https://127.0.0.1:8443"
#define HTTP_MAX_RESPONSE	(16u * 1024 * 1024)	/* body, after dechunking */
#define HTTP_MAX_HEADER_BYTES	(64u * 1024)		/* status line + headers */
#define HTTP_MAX_HEADERS	100
#define HTTP_DEFAULT_TIMEOUT_MS	30000

/* ---- address ---- */

struct cap_url {
	char	host[256];	/* DNS name or IP literal, without brackets */
	char	port[6];	/* decimal, "443" when the URL names none */
	int	is_ip;		/* host is an IPv4 or IPv6 literal */
	int	is_ipv6;	/* host was given in brackets */
};

/*
 * cap_url_parse reads "https://HOST[:PORT][/]" where HOST is a DNS name,
 * an IPv4 address or an IPv6 address in brackets.  No user info, path,
 * query or fragment; only the https scheme.  CAP_ERR_INVALID otherwise.
 */
int cap_url_parse(const char *s, struct cap_url *u)
    __attribute__((warn_unused_result));

/* ---- response ---- */

struct http_header {
	char	*name;
	char	*value;		/* leading and trailing blanks removed */
};

struct http_response {
	int		 status;		/* 100..599 */
	struct http_header *headers;
	size_t		 nheaders;
	uint8_t		*body;		/* NUL-terminated, never NULL */
	size_t		 body_len;
};

#define HTTP_PARSE_MORE	1	/* complete response not yet in the buffer */

/*
 * http_response_parse parses the bytes received so far.  eof says the peer
 * closed the connection (a body without Content-Length or chunking runs to
 * EOF).  Interim 1xx responses are skipped.  Bodies are framed by
 * Transfer-Encoding: chunked, Content-Length, or EOF, and 1xx, 204 and 304
 * have none.  Returns 0 and a new response in *out (caller frees with
 * http_response_free), HTTP_PARSE_MORE when more bytes are needed,
 * CAP_ERR_INVALID on a malformed or truncated response, CAP_ERR_TOO_LARGE
 * when the header section passes HTTP_MAX_HEADER_BYTES or
 * HTTP_MAX_HEADERS, or the body passes max_body, CAP_ERR_NOMEM.
 */
int http_response_parse(const uint8_t *buf, size_t len, int eof,
    size_t max_body, struct http_response **out)
    __attribute__((warn_unused_result));

/* http_response_header: the first header named name (case-insensitive). */
const char *http_response_header(const struct http_response *r,
    const char *name);

/* http_response_free wipes the body and frees; NULL is a no-op. */
void http_response_free(struct http_response *r);

/* ---- transport ---- */

typedef struct cap_client cap_client;

struct cap_client_opts {
	const char	*addr;		/* NULL: CAP_DEFAULT_ADDR */
	const char	*cacert;	/* NULL: the system's trust store */
	const char	*cert;		/* client certificate chain, PEM, or NULL */
	const char	*key;		/* PEM file or pkcs11: URI, or NULL */
	const char	*token;		/* bearer token, or NULL */
	unsigned	 timeout_ms;	/* connect and each read; 0: default */
	size_t		 max_response;	/* 0: HTTP_MAX_RESPONSE */
};

/*
 * cap_client_new checks the address and loads the TLS material: CA bundle,
 * client certificate and key (a `pkcs11:` key is loaded through
 * hsm_evp_pkey_load and stays in the token).  The strings in opts are
 * copied.  On failure a message fit for the user is written to err.
 */
int cap_client_new(const struct cap_client_opts *opts, cap_client **out,
    char *err, size_t errlen) __attribute__((warn_unused_result));

/* cap_client_free wipes the bearer token and frees; NULL is a no-op. */
void cap_client_free(cap_client *c);

/*
 * cap_client_request connects, sends one request and reads the whole
 * response.  body may be NULL (sent as Content-Length: 0 for POST, PUT,
 * PATCH); content_type is used when body is not NULL.  The request buffer
 * is wiped after sending.  Returns CAP_ERR_IO (connect, TLS, timeout),
 * CAP_ERR_INVALID (malformed response), CAP_ERR_TOO_LARGE,
 * CAP_ERR_NOMEM, with a message in err.
 */
int cap_client_request(cap_client *c, const char *method, const char *path,
    const char *content_type, const void *body, size_t body_len,
    struct http_response **resp, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
