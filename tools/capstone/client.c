/*
 * client.c - the TLS transport of the capstone CLI; see client.h.
 *
 * One request per connection: connect with a deadline, TLS 1.2+ with the
 * server checked against the CA bundle and the URL's host name or IP
 * address, send, read until the response is complete or the server closes.
 * Sockets carry SO_RCVTIMEO/SO_SNDTIMEO so that no read or write blocks for
 * longer than the timeout.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "common/err.h"
#include "daemon/version.h"
#include "hsm/hsm.h"
#include "tools/capstone/client.h"


#define READ_INITIAL	(16u * 1024)
#define PARSE_EAGER	(64u * 1024)	/* below this, parse after every read */

struct cap_client {
	struct cap_url	 url;
	char		 where[300];	/* "HOST:PORT" for messages */
	SSL_CTX		*ctx;
	char		*token;
	size_t		 token_len;
	unsigned	 timeout_ms;
	size_t		 max_response;
};

/* The reason of the newest OpenSSL error, and the queue emptied. */
static const char *
ssl_reason(void)
{
	unsigned long e, last = 0;
	const char *s;

	while ((e = ERR_get_error()) != 0)
		last = e;
	if (last == 0)
		return NULL;
	if ((s = ERR_reason_error_string(last)) == NULL)
		return "unknown TLS error";
	return s;
}

static int
header_safe(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

void
cap_client_free(cap_client *c)
{
	if (c == NULL)
		return;
	if (c->token != NULL) {
		sodium_memzero(c->token, c->token_len);
		free(c->token);
	}
	SSL_CTX_free(c->ctx);
	free(c);
}

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Percent-decodes n bytes of s into a new string. */
static char *
pct_decode(const char *s, size_t n)
{
	char *o;
	size_t i, j = 0;

	if ((o = malloc(n + 1)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n &&
		    hexval((unsigned char)s[i + 1]) >= 0 &&
		    hexval((unsigned char)s[i + 2]) >= 0) {
			o[j++] = (char)(hexval((unsigned char)s[i + 1]) * 16 +
			    hexval((unsigned char)s[i + 2]));
			i += 2;
		} else
			o[j++] = s[i];
	}
	o[j] = '\0';
	return o;
}

/* A PIN given as pin-value reaches the token bridge through this variable. */
#define PIN_ENV		"CAPSTONE_INTERNAL_KEY_PIN"

struct p11_parts {
	char	*path;		/* the URI without its query */
	char	*module;	/* module-path, decoded, or NULL */
	char	*pin_source;	/* pin-source, decoded, or NULL */
	char	*pin_env;	/* PIN_ENV "=" pin-value, or NULL */
	size_t	 pin_env_len;
};

static void
p11_parts_clear(struct p11_parts *p)
{
	free(p->path);
	free(p->module);
	free(p->pin_source);
	if (p->pin_env != NULL) {
		sodium_memzero(p->pin_env, p->pin_env_len);
		free(p->pin_env);
	}
	memset(p, 0, sizeof(*p));
}

static int
attr_is(const char *a, const char *eq, const char *name)
{
	return (size_t)(eq - a) == strlen(name) &&
	    strncmp(a, name, strlen(name)) == 0;
}

/*
 * Splits an RFC 7512 key URI for the token bridge.  The libp11 engine
 * refuses a URI with a query and repeats the URI in its error messages, so
 * the engine gets the path only; module-path and pin-source become the
 * bridge's arguments, and a pin-value is handed over in the environment of
 * this process (the buffer is ours and wiped after use).
 */
static int
p11_uri_split(const char *uri, struct p11_parts *p)
{
	const char *q, *a, *end, *eq;
	char *v = NULL, **dst;
	size_t plen, vlen = 0;
	int r = CAP_ERR_NOMEM;

	memset(p, 0, sizeof(*p));
	q = strchr(uri, '?');
	plen = q ? (size_t)(q - uri) : strlen(uri);
	if ((p->path = strndup(uri, plen)) == NULL)
		goto out;
	for (a = q ? q + 1 : NULL; a != NULL && *a != '\0'; a = end) {
		end = a + strcspn(a, "&");
		if ((eq = memchr(a, '=', (size_t)(end - a))) != NULL) {
			if (attr_is(a, eq, "module-name")) {
				r = CAP_ERR_INVALID;
				goto out;
			}
			dst = attr_is(a, eq, "module-path") ? &p->module :
			    attr_is(a, eq, "pin-source") ? &p->pin_source :
			    attr_is(a, eq, "pin-value") ? &v : NULL;
			if (dst != NULL) {
				if (*dst != NULL) {
					r = CAP_ERR_INVALID;	/* twice */
					goto out;
				}
				if ((*dst = pct_decode(eq + 1,
				    (size_t)(end - eq - 1))) == NULL)
					goto out;
				if (dst == &v)
					vlen = strlen(v);
			}
		}
		if (*end == '&')
			end++;
	}
	if (v != NULL) {
		if (p->pin_source != NULL) {
			r = CAP_ERR_INVALID;
			goto out;
		}
		p->pin_env_len = sizeof(PIN_ENV) + vlen + 1;
		if ((p->pin_env = malloc(p->pin_env_len)) == NULL)
			goto out;
		snprintf(p->pin_env, p->pin_env_len, "%s=%s", PIN_ENV, v);
		if ((p->pin_source = strdup("env:" PIN_ENV)) == NULL)
			goto out;
	}
	r = 0;
 out:
	if (v != NULL) {
		sodium_memzero(v, vlen);
		free(v);
	}
	if (r != 0)
		p11_parts_clear(p);
	return r;
}

static int
load_key(cap_client *c, const char *key, char *err, size_t errlen)
{
	struct p11_parts parts;
	EVP_PKEY *pkey = NULL;
	const char *why;
	int r = CAP_ERR_CONFIG;

	memset(&parts, 0, sizeof(parts));
	if (strncmp(key, "pkcs11:", 7) == 0) {
		/* the URI may carry a PIN: never repeat it in a message */
		if ((r = p11_uri_split(key, &parts)) != 0) {
			snprintf(err, errlen, "the client key's pkcs11: URI "
			    "is not usable: give module-path, and at most one "
			    "of pin-source and pin-value");
			goto out;
		}
		if (parts.pin_env != NULL && putenv(parts.pin_env) != 0) {
			r = CAP_ERR_NOMEM;
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		r = hsm_evp_pkey_load(parts.path, parts.module,
		    parts.pin_source, &pkey);
		if (parts.pin_env != NULL)
			unsetenv(PIN_ENV);
		if (r != 0) {
			snprintf(err, errlen, "cannot load the client key from "
			    "the token: %s", cap_strerror(r));
			goto out;
		}
		if (SSL_CTX_use_PrivateKey(c->ctx, pkey) != 1) {
			why = ssl_reason();
			snprintf(err, errlen, "cannot use the token key for "
			    "TLS: %s", why ? why : "unknown error");
			r = CAP_ERR_CONFIG;
			goto out;
		}
	} else if (SSL_CTX_use_PrivateKey_file(c->ctx, key,
	    SSL_FILETYPE_PEM) != 1) {
		if (ERR_GET_REASON(ERR_peek_last_error()) ==
		    X509_R_KEY_VALUES_MISMATCH) {
			ERR_clear_error();
			snprintf(err, errlen, "the client key %s does not "
			    "match the client certificate", key);
		} else {
			why = ssl_reason();
			snprintf(err, errlen, "cannot load the client key %s: "
			    "%s", key, why ? why : "unknown error");
		}
		r = CAP_ERR_CONFIG;
		goto out;
	}
	if (SSL_CTX_check_private_key(c->ctx) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "the client key does not match the "
		    "client certificate");
		r = CAP_ERR_CONFIG;
		goto out;
	}
	r = 0;
 out:
	p11_parts_clear(&parts);
	EVP_PKEY_free(pkey);
	return r;
}

int
cap_client_new(const struct cap_client_opts *o, cap_client **out, char *err,
    size_t errlen)
{
	cap_client *c = NULL;
	const char *addr, *why;
	int r = CAP_ERR_CONFIG;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return CAP_ERR_NOMEM;
	addr = o->addr != NULL ? o->addr : CAP_DEFAULT_ADDR;
	if (cap_url_parse(addr, &c->url) != 0) {
		snprintf(err, errlen, "invalid address '%s': expected "
		    "https://HOST[:PORT] (an IPv6 address in brackets)", addr);
		r = CAP_ERR_INVALID;
		goto out;
	}
	snprintf(c->where, sizeof(c->where), c->url.is_ipv6 ? "[%s]:%s" :
	    "%s:%s", c->url.host, c->url.port);
	c->timeout_ms = o->timeout_ms ? o->timeout_ms : HTTP_DEFAULT_TIMEOUT_MS;
	c->max_response = o->max_response ? o->max_response : HTTP_MAX_RESPONSE;

	if (o->token != NULL && o->token[0] != '\0') {
		if (!header_safe(o->token)) {
			snprintf(err, errlen, "the bearer token holds "
			    "characters an HTTP header cannot carry");
			r = CAP_ERR_INVALID;
			goto out;
		}
		c->token_len = strlen(o->token);
		if ((c->token = strdup(o->token)) == NULL) {
			r = CAP_ERR_NOMEM;
			goto out;
		}
	}

	if ((c->ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION) != 1) {
		snprintf(err, errlen, "cannot set up TLS");
		r = CAP_ERR_INTERNAL;
		goto out;
	}
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_mode(c->ctx, SSL_MODE_AUTO_RETRY);
	/*
	 * Servers that close without close_notify are common; a truncated
	 * response is still caught by Content-Length or chunk framing.
	 */
	SSL_CTX_set_options(c->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);

	if (o->cacert != NULL) {
		if (SSL_CTX_load_verify_locations(c->ctx, o->cacert,
		    NULL) != 1) {
			why = ssl_reason();
			snprintf(err, errlen, "cannot load the CA bundle %s: %s",
			    o->cacert, why ? why : "unknown error");
			goto out;
		}
	} else if (SSL_CTX_set_default_verify_paths(c->ctx) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "cannot load the system CA bundle; "
		    "give one with --cacert");
		goto out;
	}

	if ((o->cert == NULL) != (o->key == NULL)) {
		snprintf(err, errlen, "a client certificate needs its key: "
		    "give both --cert and --key, or neither");
		r = CAP_ERR_INVALID;
		goto out;
	}
	if (o->cert != NULL) {
		if (SSL_CTX_use_certificate_chain_file(c->ctx,
		    o->cert) != 1) {
			why = ssl_reason();
			snprintf(err, errlen, "cannot load the client "
			    "certificate %s: %s", o->cert,
			    why ? why : "unknown error");
			goto out;
		}
		if ((r = load_key(c, o->key, err, errlen)) != 0)
			goto out;
	}

	*out = c;	/* transferred */
	c = NULL;
	r = 0;
 out:
	cap_client_free(c);
	return r;
}

/* Connects to the first address that answers within the timeout. */
static int
tcp_connect(const cap_client *c, int *fdp, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct pollfd pfd;
	struct timeval tv;
	socklen_t sl;
	int fd = -1, gai, soerr = 0, flags, n, r = CAP_ERR_IO;

	*fdp = -1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (c->url.is_ip ? AI_NUMERICHOST : 0);
	if ((gai = getaddrinfo(c->url.host, c->url.port, &hints, &res)) != 0) {
		snprintf(err, errlen, "cannot resolve %s: %s", c->url.host,
		    gai_strerror(gai));
		goto out;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (fd != -1)
			close(fd);
		fd = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    ai->ai_protocol);
		if (fd == -1) {
			soerr = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno != EINPROGRESS) {
			soerr = errno;
			continue;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		do {
			n = poll(&pfd, 1, (int)c->timeout_ms);
		} while (n == -1 && errno == EINTR);
		if (n == 0) {
			soerr = ETIMEDOUT;
			continue;
		}
		sl = sizeof(soerr);
		if (n == -1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr,
		    &sl) == -1) {
			soerr = errno;
			continue;
		}
		if (soerr == 0)
			break;
	}
	if (ai == NULL) {
		snprintf(err, errlen, "cannot connect to %s: %s", c->where,
		    strerror(soerr ? soerr : ECONNREFUSED));
		goto out;
	}
	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto out;
	}
	tv.tv_sec = c->timeout_ms / 1000;
	tv.tv_usec = (c->timeout_ms % 1000) * 1000;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto out;
	}
	*fdp = fd;	/* transferred */
	fd = -1;
	r = 0;
 out:
	if (fd != -1)
		close(fd);
	if (res != NULL)
		freeaddrinfo(res);
	return r;
}

/* Why an SSL call failed, in words for the user. */
static const char *
tls_failure(SSL *ssl, int ret, int *timed_out)
{
	long v;
	int e, saved = errno;
	const char *why;

	*timed_out = 0;
	if ((v = SSL_get_verify_result(ssl)) != X509_V_OK) {
		ERR_clear_error();
		return X509_verify_cert_error_string(v);
	}
	e = SSL_get_error(ssl, ret);
	why = ssl_reason();
	if (why != NULL)
		return why;
	if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_WANT_READ ||
	    e == SSL_ERROR_WANT_WRITE) {
		if (saved == EAGAIN || saved == EWOULDBLOCK) {
			*timed_out = 1;
			return "timed out";
		}
		if (saved != 0)
			return strerror(saved);
	}
	return "connection closed by the server";
}

/*
 * Why a write after the handshake failed.  With TLS 1.3 a server that
 * refuses the client certificate says so in an alert after the client's
 * handshake is done, so the write meets a closed socket: read that alert.
 */
static const char *
closed_why(SSL *ssl, int wret)
{
	static const char refused[] = "the server closed the connection (it "
	    "may have refused the client certificate)";
	const char *why;
	char scratch[256];
	size_t n;
	int ret, timed_out;

	why = tls_failure(ssl, wret, &timed_out);
	if (timed_out)
		return why;
	ERR_clear_error();
	errno = 0;
	ret = SSL_read_ex(ssl, scratch, sizeof(scratch), &n);
	if (ret != 1 && SSL_get_error(ssl, ret) == SSL_ERROR_SSL &&
	    (why = ssl_reason()) != NULL)
		return why;
	ERR_clear_error();
	return refused;
}

/* Builds the request head and body in one buffer (wiped by the caller). */
static int
build_request(const cap_client *c, const char *method, const char *path,
    const char *ctype, const void *body, size_t blen, char **out,
    size_t *outlen)
{
	char *buf = NULL;
	size_t cap;
	int n, with_len;

	*out = NULL;
	*outlen = 0;
	if (!header_safe(method) || !header_safe(path) || path[0] != '/' ||
	    (ctype != NULL && strpbrk(ctype, "\r\n") != NULL))
		return CAP_ERR_INVALID;
	with_len = body != NULL || strcmp(method, "POST") == 0 ||
	    strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0;
	cap = 1024 + strlen(method) + strlen(path) + sizeof(c->where) +
	    c->token_len + (ctype ? strlen(ctype) : 0);
	if (blen > SIZE_MAX - cap)
		return CAP_ERR_TOO_LARGE;
	cap += blen;
	if ((buf = malloc(cap)) == NULL)
		return CAP_ERR_NOMEM;
	n = snprintf(buf, cap,
	    "%s %s HTTP/1.1\r\n"
	    "Host: %s\r\n"
	    "User-Agent: capstone/" CAPSTONE_VERSION "\r\n"
	    "Accept: application/json\r\n"
	    "Connection: close\r\n"
	    "%s%s%s"
	    "%s%s%s",
	    method, path, c->where,
	    c->token ? "Authorization: Bearer " : "", c->token ? c->token : "",
	    c->token ? "\r\n" : "",
	    body && ctype ? "Content-Type: " : "", body && ctype ? ctype : "",
	    body && ctype ? "\r\n" : "");
	if (n < 0 || (size_t)n >= cap - 64 - blen) {
		sodium_memzero(buf, cap);
		free(buf);
		return CAP_ERR_INTERNAL;
	}
	if (with_len)
		n += snprintf(buf + n, cap - (size_t)n,
		    "Content-Length: %zu\r\n", body ? blen : 0);
	n += snprintf(buf + n, cap - (size_t)n, "\r\n");
	if (body != NULL && blen > 0)
		memcpy(buf + n, body, blen);
	*out = buf;
	*outlen = (size_t)n + (body ? blen : 0);
	return 0;
}

/* Moves buf into a larger buffer, wiping the old one. */
static int
grow(uint8_t **buf, size_t *cap, size_t used, size_t max)
{
	uint8_t *nb;
	size_t ncap;

	if (*cap >= max)
		return CAP_ERR_TOO_LARGE;
	ncap = *cap == 0 ? READ_INITIAL : *cap * 2;
	if (ncap > max)
		ncap = max;
	if ((nb = malloc(ncap)) == NULL)
		return CAP_ERR_NOMEM;
	if (*buf != NULL) {
		memcpy(nb, *buf, used);
		sodium_memzero(*buf, *cap);
		free(*buf);
	}
	*buf = nb;
	*cap = ncap;
	return 0;
}

int
cap_client_request(cap_client *c, const char *method, const char *path,
    const char *content_type, const void *body, size_t body_len,
    struct http_response **resp, char *err, size_t errlen)
{
	SSL *ssl = NULL;
	X509_VERIFY_PARAM *param;
	char *req = NULL;
	uint8_t *buf = NULL;
	size_t reqlen = 0, off, n, cap = 0, used = 0, last_parse = 0, max_raw;
	int fd = -1, ret, e, timed_out, eof = 0, r = CAP_ERR_IO;

	*resp = NULL;
	if ((r = build_request(c, method, path, content_type, body, body_len,
	    &req, &reqlen)) != 0) {
		snprintf(err, errlen, "cannot build the request: %s",
		    cap_strerror(r));
		goto out;
	}
	if ((r = tcp_connect(c, &fd, err, errlen)) != 0)
		goto out;

	r = CAP_ERR_IO;
	ERR_clear_error();
	if ((ssl = SSL_new(c->ctx)) == NULL || SSL_set_fd(ssl, fd) != 1) {
		snprintf(err, errlen, "cannot set up TLS");
		r = CAP_ERR_INTERNAL;
		goto out;
	}
	param = SSL_get0_param(ssl);
	X509_VERIFY_PARAM_set_hostflags(param,
	    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (c->url.is_ip) {
		if (X509_VERIFY_PARAM_set1_ip_asc(param, c->url.host) != 1) {
			snprintf(err, errlen, "cannot set up TLS for %s",
			    c->where);
			goto out;
		}
	} else if (SSL_set_tlsext_host_name(ssl, c->url.host) != 1 ||
	    X509_VERIFY_PARAM_set1_host(param, c->url.host, 0) != 1) {
		snprintf(err, errlen, "cannot set up TLS for %s", c->where);
		goto out;
	}

	errno = 0;
	if ((ret = SSL_connect(ssl)) != 1) {
		snprintf(err, errlen, "TLS handshake with %s failed: %s",
		    c->where, tls_failure(ssl, ret, &timed_out));
		goto out;
	}

	for (off = 0; off < reqlen; off += n) {
		errno = 0;
		if ((ret = SSL_write_ex(ssl, req + off, reqlen - off,
		    &n)) != 1) {
			snprintf(err, errlen, "TLS connection to %s failed: "
			    "%s", c->where, closed_why(ssl, ret));
			goto out;
		}
	}
	sodium_memzero(req, reqlen);

	/* the raw bytes may exceed the body: headers and chunk framing */
	max_raw = c->max_response * 2 + HTTP_MAX_HEADER_BYTES;
	for (;;) {
		if (used == cap &&
		    (r = grow(&buf, &cap, used, max_raw)) != 0) {
			if (r == CAP_ERR_TOO_LARGE)
				snprintf(err, errlen, "the response from %s is "
				    "too large", c->where);
			goto out;
		}
		errno = 0;
		ret = SSL_read_ex(ssl, buf + used, cap - used, &n);
		if (ret == 1)
			used += n;
		else {
			e = SSL_get_error(ssl, ret);
			if (e != SSL_ERROR_ZERO_RETURN) {
				const char *why = tls_failure(ssl, ret,
				    &timed_out);

				r = CAP_ERR_IO;
				if (timed_out)
					snprintf(err, errlen, "timed out "
					    "waiting for %s", c->where);
				else
					snprintf(err, errlen, "TLS connection "
					    "to %s failed: %s", c->where, why);
				goto out;
			}
			if (used == 0) {
				r = CAP_ERR_IO;
				snprintf(err, errlen, "%s closed the "
				    "connection without answering (it may "
				    "have refused the client certificate)",
				    c->where);
				goto out;
			}
			eof = 1;
		}
		if (!eof && used >= PARSE_EAGER && used < last_parse * 2)
			continue;
		last_parse = used;
		r = http_response_parse(buf, used, eof, c->max_response, resp);
		if (r == 0)
			break;
		if (r == HTTP_PARSE_MORE && !eof)
			continue;
		if (r == CAP_ERR_TOO_LARGE)
			snprintf(err, errlen, "the response from %s is too "
			    "large", c->where);
		else if (r == CAP_ERR_NOMEM)
			snprintf(err, errlen, "out of memory");
		else {
			r = CAP_ERR_INVALID;
			snprintf(err, errlen, "malformed or truncated HTTP "
			    "response from %s", c->where);
		}
		goto out;
	}
	r = 0;
 out:
	if (req != NULL) {
		sodium_memzero(req, reqlen);
		free(req);
	}
	if (buf != NULL) {
		sodium_memzero(buf, cap);
		free(buf);
	}
	SSL_free(ssl);
	if (fd != -1)
		close(fd);
	return r;
}
