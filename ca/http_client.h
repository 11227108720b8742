/*
 * http_client.h - a small blocking HTTP/1.1 client for the CA connectors
 * (SCEP, EST).  One request per connection ("Connection: close"), plain
 * TCP for http:// and TLS through a caller-supplied SSL_CTX for https://
 * (the server name is sent as SNI and checked against the certificate).
 *
 * The response parser is pure (no I/O) so it can be unit-tested and
 * fuzzed: it bounds the header section, the header count, chunk-size
 * lines and the body.
 */
#ifndef CAP_CA_HTTP_CLIENT_H
#define CAP_CA_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#define HTTP_BODY_MAX_DEFAULT	(1024 * 1024)

struct http_url {
	int	 tls;			/* https */
	char	 host[256];
	char	 port[6];
	char	 path[1024];		/* starts with '/', no query */
};

struct http_response {
	int	 status;
	char	 content_type[128];	/* lower-cased, parameters dropped */
	char	 cte[32];		/* Content-Transfer-Encoding, lower */
	int	 has_retry_after;
	uint32_t retry_after;		/* seconds (delta form only) */
	uint8_t	*body;			/* NUL-terminated for convenience */
	size_t	 body_len;
};

struct http_request {
	const char	*method;	/* "GET" or "POST" */
	const struct http_url *url;
	const char	*path_query;	/* overrides url->path when set */
	const char	*content_type;	/* with a body */
	const char	*extra_header;	/* one "Name: value" line or NULL */
	const uint8_t	*body;
	size_t		 body_len;
	SSL_CTX		*tls;		/* required for https */
	const char	*auth_user;	/* HTTP Basic when both are set */
	const char	*auth_pass;	/* secret: wiped from every buffer */
	size_t		 max_body;	/* 0: HTTP_BODY_MAX_DEFAULT */
	int		 timeout_ms;	/* 0: 30 s */
};

/*
 * http_tls_client_ctx makes a TLS 1.2+ client context that verifies the
 * server against the PEM certificates of pem (NULL: the system's trust
 * store).  CAP_ERR_INVALID when pem holds no certificate.
 */
int http_tls_client_ctx(const char *pem, SSL_CTX **out)
    __attribute__((warn_unused_result));

/*
 * http_url_parse splits "http[s]://host[:port]/path".  Userinfo, queries
 * and fragments are refused.  CAP_ERR_INVALID with a malformed URL.
 */
int http_url_parse(const char *url, struct http_url *out)
    __attribute__((warn_unused_result));

/*
 * http_response_parse parses a complete response held in buf (the whole
 * stream up to EOF): status line, headers, body by Content-Length,
 * chunked coding or up to EOF.  CAP_ERR_TOO_LARGE over max_body or the
 * header limits, CAP_ERR_INVALID when malformed or truncated.
 */
int http_response_parse(const uint8_t *buf, size_t len, size_t max_body,
    struct http_response **out) __attribute__((warn_unused_result));

/* http_response_free frees a response; NULL is a no-op. */
void http_response_free(struct http_response *r);

/*
 * http_request_do sends one request and reads the response.
 * CAP_ERR_UNAVAILABLE when the server cannot be reached or the connection
 * breaks, CAP_ERR_CRYPTO when the TLS handshake or the server certificate
 * check fails, CAP_ERR_TOO_LARGE, CAP_ERR_INVALID.
 */
int http_request_do(const struct http_request *req,
    struct http_response **out) __attribute__((warn_unused_result));

/*
 * http_b64_decode decodes base64 allowing line breaks and other
 * whitespace (RFC 7030 bodies are often folded).  *out is malloc'd.
 */
int http_b64_decode(const uint8_t *in, size_t len, uint8_t **out,
    size_t *outlen) __attribute__((warn_unused_result));

/* http_b64_encode encodes without line breaks; *out NUL-terminated. */
int http_b64_encode(const uint8_t *in, size_t len, char **out,
    size_t *outlen) __attribute__((warn_unused_result));

/*
 * ca_certs_only_parse reads a degenerate ("certs-only") PKCS#7 SignedData
 * in DER and returns its certificates (at least one).  Bounded to 64
 * certificates.  CAP_ERR_INVALID when it is anything else.
 */
struct stack_st_X509;
int ca_certs_only_parse(const uint8_t *der, size_t len,
    struct stack_st_X509 **out) __attribute__((warn_unused_result));

/*
 * ca_chain_build orders the issuer chain of leaf from the certificates in
 * pool: issuer first, up to a self-signed root or the last one found.
 * The leaf itself is not included; *out may be empty.
 */
int ca_chain_build(X509 *leaf, struct stack_st_X509 *pool,
    struct stack_st_X509 **out) __attribute__((warn_unused_result));

#endif
