/*
 * http_client.c - blocking HTTP/1.1 requests for the CA connectors.
 *
 * Connectors run off the event loop threads, so a plain blocking socket
 * with send/receive timeouts is the simplest correct transport.  Each
 * request opens its own connection and reads the response to EOF; the
 * whole stream is then handed to the pure parser below.
 */
#include <sys/socket.h>
#include <sys/time.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "ca/http_client.h"
#include "common/err.h"
#include "common/log.h"

#define HDR_MAX		(16 * 1024)	/* status line plus headers */
#define HDR_COUNT_MAX	64
#define CHUNK_LINE_MAX	1024
#define REQ_HDR_MAX	4096

/* ---- URL ---- */

int
http_tls_client_ctx(const char *pem, SSL_CTX **out)
{
	SSL_CTX *ctx = NULL;
	BIO *b = NULL;
	X509 *x;
	X509_STORE *st;
	int n = 0, r = CAP_ERR_INVALID;

	*out = NULL;
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (pem == NULL) {
		if (SSL_CTX_set_default_verify_paths(ctx) != 1)
			goto out;
	} else {
		st = SSL_CTX_get_cert_store(ctx);
		if ((b = BIO_new_mem_buf(pem, -1)) == NULL)
			goto out;
		while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
			if (X509_STORE_add_cert(st, x) != 1) {
				X509_free(x);
				goto out;
			}
			X509_free(x);
			n++;
		}
		if (n == 0)
			goto out;
	}
	*out = ctx;
	ctx = NULL;
	r = 0;
 out:
	BIO_free(b);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return r;
}

int
http_url_parse(const char *url, struct http_url *out)
{
	const char *p, *host, *hend, *slash;
	size_t n, i;

	memset(out, 0, sizeof(*out));
	if (url == NULL || strlen(url) > 2048)
		return CAP_ERR_INVALID;
	if (strncasecmp(url, "https://", 8) == 0) {
		out->tls = 1;
		p = url + 8;
		strcpy(out->port, "443");
	} else if (strncasecmp(url, "http://", 7) == 0) {
		p = url + 7;
		strcpy(out->port, "80");
	} else
		return CAP_ERR_INVALID;
	if (strpbrk(p, "?#@ \t\r\n") != NULL)
		return CAP_ERR_INVALID;
	host = p;
	slash = strchr(p, '/');
	hend = slash != NULL ? slash : p + strlen(p);
	if (*host == '[') {
		const char *rb = memchr(host, ']', (size_t)(hend - host));

		if (rb == NULL)
			return CAP_ERR_INVALID;
		n = (size_t)(rb - host - 1);
		if (n == 0 || n >= sizeof(out->host))
			return CAP_ERR_INVALID;
		memcpy(out->host, host + 1, n);
		p = rb + 1;
	} else {
		const char *colon = memchr(host, ':', (size_t)(hend - host));

		p = colon != NULL ? colon : hend;
		n = (size_t)(p - host);
		if (n == 0 || n >= sizeof(out->host))
			return CAP_ERR_INVALID;
		memcpy(out->host, host, n);
	}
	if (p < hend) {
		if (*p != ':')
			return CAP_ERR_INVALID;
		p++;
		n = (size_t)(hend - p);
		if (n == 0 || n > 5)
			return CAP_ERR_INVALID;
		for (i = 0; i < n; i++)
			if (!isdigit((unsigned char)p[i]))
				return CAP_ERR_INVALID;
		memcpy(out->port, p, n);
		out->port[n] = '\0';
		if (atoi(out->port) < 1 || atoi(out->port) > 65535)
			return CAP_ERR_INVALID;
	}
	if (slash == NULL)
		strcpy(out->path, "/");
	else {
		if (strlen(slash) >= sizeof(out->path))
			return CAP_ERR_INVALID;
		strcpy(out->path, slash);
	}
	return 0;
}

/* ---- base64 ---- */

int
http_b64_decode(const uint8_t *in, size_t len, uint8_t **out, size_t *outlen)
{
	uint8_t *clean = NULL, *dec = NULL;
	size_t i, n = 0;
	int r = CAP_ERR_INVALID, dl;

	*out = NULL;
	*outlen = 0;
	if (len > 64 * 1024 * 1024)
		return CAP_ERR_TOO_LARGE;
	if ((clean = malloc(len + 1)) == NULL)
		return CAP_ERR_NOMEM;
	for (i = 0; i < len; i++) {
		if (isspace(in[i]))
			continue;
		if (!isalnum(in[i]) && in[i] != '+' && in[i] != '/' &&
		    in[i] != '=')
			goto out;
		clean[n++] = in[i];
	}
	if (n == 0 || n % 4 != 0)
		goto out;
	if ((dec = malloc(n / 4 * 3 + 1)) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	if ((dl = EVP_DecodeBlock(dec, clean, (int)n)) < 0)
		goto out;
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	if (clean[n - 1] == '=')
		dl--;
	if (clean[n - 2] == '=')
		dl--;
	if (dl <= 0)
		goto out;
	*out = dec;
	*outlen = (size_t)dl;
	dec = NULL;
	r = 0;
 out:
	free(clean);
	free(dec);
	return r;
}

int
http_b64_encode(const uint8_t *in, size_t len, char **out, size_t *outlen)
{
	char *enc;
	int n;

	*out = NULL;
	*outlen = 0;
	if (len > 48 * 1024 * 1024)
		return CAP_ERR_TOO_LARGE;
	if ((enc = malloc((len + 2) / 3 * 4 + 1)) == NULL)
		return CAP_ERR_NOMEM;
	n = EVP_EncodeBlock((unsigned char *)enc, in, (int)len);
	*out = enc;
	*outlen = (size_t)n;
	return 0;
}

/* ---- response parser ---- */

void
http_response_free(struct http_response *r)
{
	if (r == NULL)
		return;
	free(r->body);
	free(r);
}

static const uint8_t *
find_crlf(const uint8_t *p, const uint8_t *end)
{
	for (; p + 1 < end; p++)
		if (p[0] == '\r' && p[1] == '\n')
			return p;
	return NULL;
}

static void
copy_lower(char *dst, size_t dstlen, const uint8_t *v, size_t n)
{
	size_t i;

	if (n >= dstlen)
		n = dstlen - 1;
	for (i = 0; i < n; i++)
		dst[i] = (char)tolower(v[i]);
	dst[n] = '\0';
}

static int
parse_uint(const uint8_t *v, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t x = 0;
	size_t i;

	if (n == 0 || n > 20)
		return CAP_ERR_INVALID;
	for (i = 0; i < n; i++) {
		if (!isdigit(v[i]))
			return CAP_ERR_INVALID;
		x = x * 10 + (uint64_t)(v[i] - '0');
		if (x > max)
			return CAP_ERR_TOO_LARGE;
	}
	*out = x;
	return 0;
}

static int
body_append(struct http_response *r, const uint8_t *p, size_t n, size_t max)
{
	uint8_t *nb;

	if (n > max || r->body_len > max - n)
		return CAP_ERR_TOO_LARGE;
	if ((nb = realloc(r->body, r->body_len + n + 1)) == NULL)
		return CAP_ERR_NOMEM;
	r->body = nb;
	memcpy(r->body + r->body_len, p, n);
	r->body_len += n;
	r->body[r->body_len] = '\0';
	return 0;
}

static int
parse_chunked(struct http_response *r, const uint8_t *p, const uint8_t *end,
    size_t max)
{
	const uint8_t *eol;
	uint64_t sz;
	size_t i, n;
	int v, ret;

	for (;;) {
		if ((eol = find_crlf(p, end)) == NULL ||
		    (size_t)(eol - p) > CHUNK_LINE_MAX)
			return CAP_ERR_INVALID;
		n = (size_t)(eol - p);
		for (i = 0; i < n && isxdigit(p[i]); i++)
			;
		if (i == 0 || i > 15 || (i < n && p[i] != ';' &&
		    p[i] != ' ' && p[i] != '\t'))
			return CAP_ERR_INVALID;
		sz = 0;
		for (n = 0; n < i; n++) {
			v = isdigit(p[n]) ? p[n] - '0' :
			    tolower(p[n]) - 'a' + 10;
			sz = sz * 16 + (uint64_t)v;
		}
		p = eol + 2;
		if (sz == 0)
			break;
		if (sz > max || (size_t)(end - p) < sz + 2)
			return sz > max ? CAP_ERR_TOO_LARGE : CAP_ERR_INVALID;
		if ((ret = body_append(r, p, (size_t)sz, max)) != 0)
			return ret;
		p += sz;
		if (p[0] != '\r' || p[1] != '\n')
			return CAP_ERR_INVALID;
		p += 2;
	}
	/* Trailers are ignored; the stream ended with the connection. */
	return 0;
}

int
http_response_parse(const uint8_t *buf, size_t len, size_t max_body,
    struct http_response **out)
{
	struct http_response *r = NULL;
	const uint8_t *p, *end = buf + len, *eol, *hend, *colon, *v, *ve;
	uint64_t clen = 0, ra;
	int have_clen = 0, chunked = 0, nhdr = 0, ret = CAP_ERR_INVALID;
	size_t n;

	*out = NULL;
	if (max_body == 0)
		max_body = HTTP_BODY_MAX_DEFAULT;
	/* The end of the header section must come within HDR_MAX. */
	for (hend = NULL, p = buf; p + 3 < end && p < buf + HDR_MAX; p++)
		if (memcmp(p, "\r\n\r\n", 4) == 0) {
			hend = p;
			break;
		}
	if (hend == NULL)
		return len >= HDR_MAX ? CAP_ERR_TOO_LARGE : CAP_ERR_INVALID;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return CAP_ERR_NOMEM;
	/* Status line: HTTP/1.x SP 3DIGIT [SP reason] */
	eol = find_crlf(buf, hend + 2);
	if (eol == NULL || eol - buf < 12 || memcmp(buf, "HTTP/1.", 7) != 0 ||
	    (buf[7] != '0' && buf[7] != '1') || buf[8] != ' ' ||
	    !isdigit(buf[9]) || !isdigit(buf[10]) || !isdigit(buf[11]) ||
	    (eol - buf > 12 && buf[12] != ' '))
		goto out;
	r->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 +
	    (buf[11] - '0');
	if (r->status < 100 || r->status > 599)
		goto out;
	for (p = eol + 2; p < hend + 2; p = eol + 2) {
		eol = find_crlf(p, hend + 2);
		if (eol == NULL)
			goto out;
		if (++nhdr > HDR_COUNT_MAX) {
			ret = CAP_ERR_TOO_LARGE;
			goto out;
		}
		if ((colon = memchr(p, ':', (size_t)(eol - p))) == NULL ||
		    colon == p)
			goto out;
		n = (size_t)(colon - p);
		for (v = colon + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
			;
		for (ve = eol; ve > v && (ve[-1] == ' ' || ve[-1] == '\t');
		    ve--)
			;
		if (n == 14 && strncasecmp((const char *)p,
		    "content-length", n) == 0) {
			if ((ret = parse_uint(v, (size_t)(ve - v), max_body,
			    &clen)) != 0) {
				if (ret != CAP_ERR_TOO_LARGE)
					ret = CAP_ERR_INVALID;
				goto out;
			}
			ret = CAP_ERR_INVALID;
			have_clen = 1;
		} else if (n == 17 && strncasecmp((const char *)p,
		    "transfer-encoding", n) == 0) {
			if ((size_t)(ve - v) == 7 &&
			    strncasecmp((const char *)v, "chunked", 7) == 0)
				chunked = 1;
			else
				goto out;
		} else if (n == 12 && strncasecmp((const char *)p,
		    "content-type", n) == 0) {
			const uint8_t *semi = memchr(v, ';', (size_t)(ve - v));
			const uint8_t *ce = semi != NULL ? semi : ve;

			while (ce > v && (ce[-1] == ' ' || ce[-1] == '\t'))
				ce--;
			copy_lower(r->content_type, sizeof(r->content_type),
			    v, (size_t)(ce - v));
		} else if (n == 25 && strncasecmp((const char *)p,
		    "content-transfer-encoding", n) == 0) {
			copy_lower(r->cte, sizeof(r->cte), v,
			    (size_t)(ve - v));
		} else if (n == 11 && strncasecmp((const char *)p,
		    "retry-after", n) == 0) {
			/* Only the delta-seconds form; dates are ignored. */
			if (parse_uint(v, (size_t)(ve - v), 0xffffffffu,
			    &ra) == 0) {
				r->has_retry_after = 1;
				r->retry_after = (uint32_t)ra;
			}
		}
	}
	p = hend + 4;
	if ((r->body = malloc(1)) == NULL) {
		ret = CAP_ERR_NOMEM;
		goto out;
	}
	r->body[0] = '\0';
	if (chunked) {
		if ((ret = parse_chunked(r, p, end, max_body)) != 0)
			goto out;
	} else if (have_clen) {
		if ((size_t)(end - p) < clen)
			goto out;
		if ((ret = body_append(r, p, (size_t)clen, max_body)) != 0)
			goto out;
	} else if ((ret = body_append(r, p, (size_t)(end - p),
	    max_body)) != 0)
		goto out;
	*out = r;
	r = NULL;
	ret = 0;
 out:
	http_response_free(r);
	return ret;
}

/* ---- transport ---- */

static int
tcp_connect(const struct http_url *u, int timeout_ms, int *fdp)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct timeval tv;
	int fd = -1, e;

	*fdp = -1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((e = getaddrinfo(u->host, u->port, &hints, &res)) != 0) {
		log_warn("http: cannot resolve %s: %s", u->host,
		    gai_strerror(e));
		return CAP_ERR_UNAVAILABLE;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol)) < 0)
			continue;
		/* Linux applies SO_SNDTIMEO to connect(2) as well. */
		if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
		    sizeof(tv)) == 0 && setsockopt(fd, SOL_SOCKET,
		    SO_SNDTIMEO, &tv, sizeof(tv)) == 0 &&
		    connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		log_warn("http: cannot connect to %s:%s: %s", u->host,
		    u->port, strerror(errno));
		return CAP_ERR_UNAVAILABLE;
	}
	*fdp = fd;
	return 0;
}

static int
io_write(int fd, SSL *ssl, const uint8_t *p, size_t n)
{
	ssize_t w;
	size_t done;

	while (n > 0) {
		if (ssl != NULL) {
			if (SSL_write_ex(ssl, p, n, &done) != 1)
				return CAP_ERR_UNAVAILABLE;
			w = (ssize_t)done;
		} else if ((w = send(fd, p, n, MSG_NOSIGNAL)) < 0) {
			if (errno == EINTR)
				continue;
			return CAP_ERR_UNAVAILABLE;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads to EOF into a growing buffer bounded by limit. */
static int
io_read_all(int fd, SSL *ssl, size_t limit, uint8_t **bufp, size_t *lenp)
{
	uint8_t *buf = NULL, *nb;
	size_t len = 0, cap = 0, got;
	ssize_t n;
	int r = CAP_ERR_UNAVAILABLE, e;

	*bufp = NULL;
	*lenp = 0;
	for (;;) {
		if (cap - len < 4096) {
			if (cap >= limit) {
				r = CAP_ERR_TOO_LARGE;
				goto out;
			}
			cap = cap == 0 ? 16384 : cap * 2;
			if (cap > limit)
				cap = limit;
			if ((nb = realloc(buf, cap)) == NULL) {
				r = CAP_ERR_NOMEM;
				goto out;
			}
			buf = nb;
		}
		if (cap == len) {
			r = CAP_ERR_TOO_LARGE;
			goto out;
		}
		if (ssl != NULL) {
			if (SSL_read_ex(ssl, buf + len, cap - len, &got) != 1) {
				e = SSL_get_error(ssl, 0);
				/* Servers often close without close_notify. */
				if (e == SSL_ERROR_ZERO_RETURN ||
				    (e == SSL_ERROR_SYSCALL && len > 0) ||
				    (e == SSL_ERROR_SSL && len > 0))
					break;
				goto out;
			}
			n = (ssize_t)got;
		} else if ((n = recv(fd, buf + len, cap - len, 0)) < 0) {
			if (errno == EINTR)
				continue;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*bufp = buf;
	*lenp = len;
	buf = NULL;
	r = 0;
 out:
	free(buf);
	ERR_clear_error();
	return r;
}

/* Builds the request head; holds credentials, so it lives in locked memory. */
static int
build_head(const struct http_request *q, char **headp, size_t *lenp)
{
	char *head = NULL, *cred = NULL, *b64 = NULL;
	size_t credlen = 0, b64cap, off = 0;
	int n, r = CAP_ERR_INVALID;
	const char *path = q->path_query != NULL ? q->path_query :
	    q->url->path;

	*headp = NULL;
	*lenp = 0;
	if ((head = sodium_malloc(REQ_HDR_MAX)) == NULL)
		return CAP_ERR_NOMEM;
	n = snprintf(head, REQ_HDR_MAX, "%s %s HTTP/1.1\r\nHost: %s%s%s%s%s\r\n"
	    "Connection: close\r\nUser-Agent: capstone\r\nAccept: */*\r\n",
	    q->method, path, strchr(q->url->host, ':') ? "[" : "",
	    q->url->host, strchr(q->url->host, ':') ? "]" : "",
	    (strcmp(q->url->port, q->url->tls ? "443" : "80") == 0) ? "" : ":",
	    (strcmp(q->url->port, q->url->tls ? "443" : "80") == 0) ? "" :
	    q->url->port);
	if (n < 0 || n >= REQ_HDR_MAX)
		goto out;
	off = (size_t)n;
	if (q->auth_user != NULL && q->auth_pass != NULL) {
		credlen = strlen(q->auth_user) + 1 + strlen(q->auth_pass);
		if (strchr(q->auth_user, ':') != NULL || credlen > 1024)
			goto out;
		b64cap = (credlen + 2) / 3 * 4 + 1;
		if ((cred = sodium_malloc(credlen + 1)) == NULL ||
		    (b64 = sodium_malloc(b64cap)) == NULL) {
			r = CAP_ERR_NOMEM;
			goto out;
		}
		snprintf(cred, credlen + 1, "%s:%s", q->auth_user,
		    q->auth_pass);
		EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)cred,
		    (int)credlen);
		n = snprintf(head + off, REQ_HDR_MAX - off,
		    "Authorization: Basic %s\r\n", b64);
		if (n < 0 || (size_t)n >= REQ_HDR_MAX - off)
			goto out;
		off += (size_t)n;
	}
	if (q->extra_header != NULL) {
		n = snprintf(head + off, REQ_HDR_MAX - off, "%s\r\n",
		    q->extra_header);
		if (n < 0 || (size_t)n >= REQ_HDR_MAX - off)
			goto out;
		off += (size_t)n;
	}
	if (q->body != NULL || strcmp(q->method, "POST") == 0) {
		n = snprintf(head + off, REQ_HDR_MAX - off,
		    "Content-Type: %s\r\nContent-Length: %zu\r\n",
		    q->content_type != NULL ? q->content_type :
		    "application/octet-stream", q->body_len);
		if (n < 0 || (size_t)n >= REQ_HDR_MAX - off)
			goto out;
		off += (size_t)n;
	}
	if (off + 3 > REQ_HDR_MAX)
		goto out;
	memcpy(head + off, "\r\n", 3);
	off += 2;
	*headp = head;
	*lenp = off;
	head = NULL;
	r = 0;
 out:
	if (cred != NULL) {
		sodium_memzero(cred, credlen + 1);
		sodium_free(cred);
	}
	sodium_free(b64);	/* sodium_free wipes */
	sodium_free(head);
	return r;
}

static int
tls_open(const struct http_request *q, int fd, SSL **sslp)
{
	SSL *ssl = NULL;
	long vr;
	int r = CAP_ERR_CRYPTO;

	*sslp = NULL;
	if (q->tls == NULL) {
		log_error("http: https needs a TLS context");
		return CAP_ERR_INVALID;
	}
	if ((ssl = SSL_new(q->tls)) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	if (SSL_set_fd(ssl, fd) != 1 ||
	    SSL_set_tlsext_host_name(ssl, q->url->host) != 1 ||
	    SSL_set1_host(ssl, q->url->host) != 1)
		goto out;
	if (SSL_connect(ssl) != 1) {
		vr = SSL_get_verify_result(ssl);
		if (vr != X509_V_OK)
			log_warn("http: TLS to %s: server certificate: %s",
			    q->url->host, X509_verify_cert_error_string(vr));
		else {
			char buf[256];

			ERR_error_string_n(ERR_peek_last_error(), buf,
			    sizeof(buf));
			log_warn("http: TLS handshake with %s failed: %s",
			    q->url->host, buf);
		}
		goto out;
	}
	*sslp = ssl;
	ssl = NULL;
	r = 0;
 out:
	SSL_free(ssl);
	ERR_clear_error();
	return r;
}

int
http_request_do(const struct http_request *q, struct http_response **out)
{
	SSL *ssl = NULL;
	char *head = NULL;
	uint8_t *raw = NULL;
	size_t headlen = 0, rawlen = 0, max;
	int fd = -1, r;

	*out = NULL;
	max = q->max_body != 0 ? q->max_body : HTTP_BODY_MAX_DEFAULT;
	if ((r = build_head(q, &head, &headlen)) != 0)
		goto out;
	if ((r = tcp_connect(q->url, q->timeout_ms > 0 ? q->timeout_ms :
	    30000, &fd)) != 0)
		goto out;
	if (q->url->tls && (r = tls_open(q, fd, &ssl)) != 0)
		goto out;
	if ((r = io_write(fd, ssl, (const uint8_t *)head, headlen)) != 0 ||
	    (q->body_len > 0 && (r = io_write(fd, ssl, q->body,
	    q->body_len)) != 0)) {
		log_warn("http: sending to %s:%s failed", q->url->host,
		    q->url->port);
		goto out;
	}
	if ((r = io_read_all(fd, ssl, max + HDR_MAX + 64 * 1024, &raw,
	    &rawlen)) != 0) {
		log_warn("http: reading from %s:%s failed: %s", q->url->host,
		    q->url->port, cap_strerror(r));
		goto out;
	}
	if ((r = http_response_parse(raw, rawlen, max, out)) != 0) {
		log_warn("http: bad response from %s:%s: %s", q->url->host,
		    q->url->port, cap_strerror(r));
		if (r == CAP_ERR_INVALID)
			r = CAP_ERR_UNAVAILABLE;
		goto out;
	}
	r = 0;
 out:
	if (ssl != NULL) {
		SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	if (fd >= 0)
		close(fd);
	if (head != NULL) {
		sodium_memzero(head, headlen);
		sodium_free(head);
	}
	free(raw);
	ERR_clear_error();
	return r;
}

/* ---- certificate codecs shared by the connectors ---- */

#define CERTS_ONLY_MAX	64

int
ca_certs_only_parse(const uint8_t *der, size_t len, STACK_OF(X509) **out)
{
	const unsigned char *p = der;
	PKCS7 *p7 = NULL;
	STACK_OF(X509) *certs, *sk = NULL;
	X509 *x;
	int i, n, r = CAP_ERR_INVALID;

	*out = NULL;
	if (len == 0 || len > 4 * 1024 * 1024 || len > LONG_MAX)
		return CAP_ERR_TOO_LARGE;
	if ((p7 = d2i_PKCS7(NULL, &p, (long)len)) == NULL ||
	    p != der + len || !PKCS7_type_is_signed(p7) ||
	    p7->d.sign == NULL || (certs = p7->d.sign->cert) == NULL)
		goto out;
	if ((n = sk_X509_num(certs)) <= 0 || n > CERTS_ONLY_MAX)
		goto out;
	if ((sk = sk_X509_new_null()) == NULL) {
		r = CAP_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		x = sk_X509_value(certs, i);
		if (!X509_up_ref(x))
			goto out;
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			r = CAP_ERR_NOMEM;
			goto out;
		}
	}
	*out = sk;
	sk = NULL;
	r = 0;
 out:
	sk_X509_pop_free(sk, X509_free);
	PKCS7_free(p7);
	ERR_clear_error();
	return r;
}

int
ca_chain_build(X509 *leaf, STACK_OF(X509) *pool, STACK_OF(X509) **out)
{
	STACK_OF(X509) *chain = NULL;
	X509 *cur = leaf, *c, *found;
	int i, depth, r = CAP_ERR_NOMEM;

	*out = NULL;
	if ((chain = sk_X509_new_null()) == NULL)
		goto out;
	for (depth = 0; depth < 10; depth++) {
		/* A self-issued certificate ends the chain. */
		if (X509_check_issued(cur, cur) == X509_V_OK)
			break;
		found = NULL;
		for (i = 0; i < sk_X509_num(pool); i++) {
			c = sk_X509_value(pool, i);
			if (X509_cmp(c, cur) != 0 &&
			    X509_check_issued(c, cur) == X509_V_OK) {
				found = c;
				break;
			}
		}
		if (found == NULL)
			break;
		if (!X509_up_ref(found))
			goto out;
		if (!sk_X509_push(chain, found)) {
			X509_free(found);
			goto out;
		}
		cur = found;
	}
	*out = chain;
	chain = NULL;
	r = 0;
 out:
	sk_X509_pop_free(chain, X509_free);
	return r;
}
