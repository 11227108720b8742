/*
 * http_parse.c - the address and HTTP/1.1 response parsers of the CLI.
 *
 * No I/O here: the transport feeds whatever it has received so far and is
 * told whether a complete response is there.  Every length is bounded
 * (header section, header count, chunk-size line, body) so a hostile or
 * broken server cannot make the client allocate without limit.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "common/err.h"
#include "common/util.h"
#include "tools/capstone/client.h"

#define CHUNK_LINE_MAX	1024	/* chunk size plus extensions */

/* ---- address ---- */

static int
parse_port(const char *p, size_t n, char out[6])
{
	unsigned long v = 0;
	size_t i;

	if (n == 0 || n > 5)
		return CAP_ERR_INVALID;
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)p[i]))
			return CAP_ERR_INVALID;
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	if (v == 0 || v > 65535)
		return CAP_ERR_INVALID;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

/* A DNS name or IPv4 literal: letters, digits, '.', '-', '_'. */
static int
host_chars_ok(const char *h, size_t n, int *all_numeric)
{
	size_t i;

	*all_numeric = 1;
	if (n == 0 || n > 253 || h[0] == '.' || h[0] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)h[i];

		if (isalpha(ch) || ch == '-' || ch == '_')
			*all_numeric = 0;
		else if (!isdigit(ch) && ch != '.')
			return 0;
	}
	return 1;
}

int
cap_url_parse(const char *s, struct cap_url *u)
{
	static const char scheme[] = "https://";
	const char *p, *h, *end;
	unsigned char addr[16];
	size_t hn;
	int numeric;

	if (s == NULL || u == NULL)
		return CAP_ERR_INVALID;
	memset(u, 0, sizeof(*u));
	if (strncasecmp(s, scheme, sizeof(scheme) - 1) != 0)
		return CAP_ERR_INVALID;
	p = s + sizeof(scheme) - 1;

	if (*p == '[') {
		h = p + 1;
		if ((end = strchr(h, ']')) == NULL)
			return CAP_ERR_INVALID;
		hn = (size_t)(end - h);
		if (hn == 0 || hn >= INET6_ADDRSTRLEN)
			return CAP_ERR_INVALID;
		memcpy(u->host, h, hn);
		u->host[hn] = '\0';
		if (inet_pton(AF_INET6, u->host, addr) != 1)
			return CAP_ERR_INVALID;
		u->is_ip = u->is_ipv6 = 1;
		p = end + 1;
	} else {
		h = p;
		hn = strcspn(h, ":/");
		if (!host_chars_ok(h, hn, &numeric))
			return CAP_ERR_INVALID;
		memcpy(u->host, h, hn);
		u->host[hn] = '\0';
		if (inet_pton(AF_INET, u->host, addr) == 1)
			u->is_ip = 1;
		else if (numeric)
			return CAP_ERR_INVALID;	/* "10.1" and friends */
		p = h + hn;
	}

	if (*p == ':') {
		p++;
		hn = strcspn(p, "/");
		if (parse_port(p, hn, u->port) != 0)
			return CAP_ERR_INVALID;
		p += hn;
	} else
		memcpy(u->port, "443", 4);

	if (*p == '/')
		p++;
	if (*p != '\0')
		return CAP_ERR_INVALID;
	return 0;
}

/* ---- response ---- */

/*
 * Finds the line starting at off: *eol is where its text ends (before CR
 * LF or LF), *next where the following line starts.  0 if no LF yet.
 */
static int
next_line(const uint8_t *buf, size_t len, size_t off, size_t *eol,
    size_t *next)
{
	const uint8_t *lf;

	if (off >= len)
		return 0;
	if ((lf = memchr(buf + off, '\n', len - off)) == NULL)
		return 0;
	*next = (size_t)(lf - buf) + 1;
	*eol = *next - 1;
	if (*eol > off && buf[*eol - 1] == '\r')
		(*eol)--;
	return 1;
}

static int
is_tchar(uint8_t c)
{
	return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

static void
free_headers(struct http_response *r)
{
	size_t i;

	for (i = 0; i < r->nheaders; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->headers);
	r->headers = NULL;
	r->nheaders = 0;
}

void
http_response_free(struct http_response *r)
{
	if (r == NULL)
		return;
	free_headers(r);
	if (r->body != NULL) {
		sodium_memzero(r->body, r->body_len);
		free(r->body);
	}
	free(r);
}

const char *
http_response_header(const struct http_response *r, const char *name)
{
	size_t i;

	if (r == NULL || name == NULL)
		return NULL;
	for (i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

static int
parse_status_line(const uint8_t *l, size_t n, int *status)
{
	size_t i;
	int v = 0;

	/* "HTTP/1.x SSS" then end or " reason" */
	if (n < 12 || memcmp(l, "HTTP/1.", 7) != 0 || !isdigit(l[7]) ||
	    l[8] != ' ')
		return CAP_ERR_INVALID;
	for (i = 9; i < 12; i++) {
		if (!isdigit(l[i]))
			return CAP_ERR_INVALID;
		v = v * 10 + (l[i] - '0');
	}
	if (v < 100 || v > 599)
		return CAP_ERR_INVALID;
	if (n > 12 && l[12] != ' ')
		return CAP_ERR_INVALID;
	for (i = 12; i < n; i++)
		if ((l[i] < 0x20 && l[i] != '\t') || l[i] == 0x7f)
			return CAP_ERR_INVALID;
	*status = v;
	return 0;
}


static int
add_header(struct http_response *r, const uint8_t *l, size_t n)
{
	struct http_header *nh;
	size_t i, colon, vs, ve;

	for (colon = 0; colon < n && is_tchar(l[colon]); colon++)
		;
	if (colon == 0 || colon >= n || l[colon] != ':')
		return CAP_ERR_INVALID;	/* also rejects obsolete folding */
	for (i = colon + 1; i < n; i++)
		if ((l[i] < 0x20 && l[i] != '\t') || l[i] == 0x7f)
			return CAP_ERR_INVALID;
	for (vs = colon + 1; vs < n && (l[vs] == ' ' || l[vs] == '\t'); vs++)
		;
	for (ve = n; ve > vs && (l[ve - 1] == ' ' || l[ve - 1] == '\t'); ve--)
		;
	if (r->nheaders >= HTTP_MAX_HEADERS)
		return CAP_ERR_TOO_LARGE;
	nh = reallocarray(r->headers, r->nheaders + 1, sizeof(*nh));
	if (nh == NULL)
		return CAP_ERR_NOMEM;
	r->headers = nh;
	nh = &r->headers[r->nheaders];
	nh->name = cap_bytes_str(l, colon);
	nh->value = cap_bytes_str(l + vs, ve - vs);
	if (nh->name == NULL || nh->value == NULL) {
		free(nh->name);
		free(nh->value);
		return CAP_ERR_NOMEM;
	}
	r->nheaders++;
	return 0;
}

/* Status line and headers from start; *body_off is where the body begins. */
static int
parse_head(const uint8_t *buf, size_t len, size_t start, int eof,
    struct http_response *r, size_t *body_off)
{
	size_t off = start, eol, next;
	int r_, first = 1;

	for (;;) {
		if (!next_line(buf, len, off, &eol, &next)) {
			if (len - start > HTTP_MAX_HEADER_BYTES)
				return CAP_ERR_TOO_LARGE;
			return eof ? CAP_ERR_INVALID : HTTP_PARSE_MORE;
		}
		if (next - start > HTTP_MAX_HEADER_BYTES)
			return CAP_ERR_TOO_LARGE;
		if (first) {
			if ((r_ = parse_status_line(buf + off, eol - off,
			    &r->status)) != 0)
				return r_;
			first = 0;
		} else if (eol == off) {
			*body_off = next;
			return 0;
		} else if ((r_ = add_header(r, buf + off, eol - off)) != 0)
			return r_;
		off = next;
	}
}

/*
 * Walks a chunked body from off.  With dst NULL it checks framing and
 * measures the decoded size into *total; with dst it copies the data.
 */
static int
walk_chunks(const uint8_t *buf, size_t len, size_t off, int eof,
    size_t max_body, uint8_t *dst, size_t *total)
{
	size_t eol, next, i, size, sum = 0, tstart;

	for (;;) {
		if (!next_line(buf, len, off, &eol, &next)) {
			if (len - off > CHUNK_LINE_MAX)
				return CAP_ERR_INVALID;
			return eof ? CAP_ERR_INVALID : HTTP_PARSE_MORE;
		}
		if (next - off > CHUNK_LINE_MAX)
			return CAP_ERR_INVALID;
		size = 0;
		for (i = off; i < eol && isxdigit(buf[i]); i++) {
			size_t d = (size_t)(isdigit(buf[i]) ? buf[i] - '0' :
			    (tolower(buf[i]) - 'a' + 10));

			if (d > max_body || size > (max_body - d) / 16)
				return CAP_ERR_TOO_LARGE;
			size = size * 16 + d;
		}
		if (i == off)
			return CAP_ERR_INVALID;
		while (i < eol && (buf[i] == ' ' || buf[i] == '\t'))
			i++;
		if (i < eol && buf[i] != ';')
			return CAP_ERR_INVALID;
		for (; i < eol; i++)
			if ((buf[i] < 0x20 && buf[i] != '\t') || buf[i] == 0x7f)
				return CAP_ERR_INVALID;
		off = next;

		if (size == 0) {
			/* trailer fields, ignored, then the empty line */
			tstart = off;
			for (;;) {
				if (!next_line(buf, len, off, &eol, &next)) {
					if (len - tstart > HTTP_MAX_HEADER_BYTES)
						return CAP_ERR_TOO_LARGE;
					return eof ? CAP_ERR_INVALID :
					    HTTP_PARSE_MORE;
				}
				if (next - tstart > HTTP_MAX_HEADER_BYTES)
					return CAP_ERR_TOO_LARGE;
				if (eol == off)
					break;
				off = next;
			}
			*total = sum;
			return 0;
		}

		if (size > max_body - sum)
			return CAP_ERR_TOO_LARGE;
		if (len - off < size)
			return eof ? CAP_ERR_INVALID : HTTP_PARSE_MORE;
		if (dst != NULL)
			memcpy(dst + sum, buf + off, size);
		sum += size;
		off += size;
		/* CRLF (or a bare LF) after the data */
		if (off >= len)
			return eof ? CAP_ERR_INVALID : HTTP_PARSE_MORE;
		if (buf[off] == '\r') {
			if (off + 1 >= len)
				return eof ? CAP_ERR_INVALID : HTTP_PARSE_MORE;
			if (buf[off + 1] != '\n')
				return CAP_ERR_INVALID;
			off += 2;
		} else if (buf[off] == '\n')
			off++;
		else
			return CAP_ERR_INVALID;
	}
}

/* Content-Length: every copy must agree; digits only. */
static int
content_length(const struct http_response *r, int *present, size_t max_body,
    size_t *cl)
{
	size_t i, v, d;
	const char *p;
	int first = 1;

	*present = 0;
	*cl = 0;
	for (i = 0; i < r->nheaders; i++) {
		if (strcasecmp(r->headers[i].name, "Content-Length") != 0)
			continue;
		p = r->headers[i].value;
		if (*p == '\0')
			return CAP_ERR_INVALID;
		for (v = 0; *p != '\0'; p++) {
			if (!isdigit((unsigned char)*p))
				return CAP_ERR_INVALID;
			d = (size_t)(*p - '0');
			if (d > max_body || v > (max_body - d) / 10)
				return CAP_ERR_TOO_LARGE;
			v = v * 10 + d;
		}
		if (!first && v != *cl)
			return CAP_ERR_INVALID;
		*cl = v;
		first = 0;
		*present = 1;
	}
	return 0;
}

static int
transfer_chunked(const struct http_response *r, int *chunked)
{
	size_t i;
	int seen = 0;

	*chunked = 0;
	for (i = 0; i < r->nheaders; i++) {
		if (strcasecmp(r->headers[i].name, "Transfer-Encoding") != 0)
			continue;
		/* only a lone "chunked" is understood */
		if (seen || strcasecmp(r->headers[i].value, "chunked") != 0)
			return CAP_ERR_INVALID;
		seen = 1;
	}
	*chunked = seen;
	return 0;
}

int
http_response_parse(const uint8_t *buf, size_t len, int eof, size_t max_body,
    struct http_response **out)
{
	struct http_response *r = NULL;
	size_t start = 0, body_off = 0, cl = 0, blen = 0;
	int ret, chunked = 0, has_cl = 0;

	if (out == NULL || (buf == NULL && len != 0))
		return CAP_ERR_INVALID;
	*out = NULL;
	if (max_body == 0)
		max_body = HTTP_MAX_RESPONSE;

	for (;;) {
		if ((r = calloc(1, sizeof(*r))) == NULL)
			return CAP_ERR_NOMEM;
		if ((ret = parse_head(buf, len, start, eof, r, &body_off)) != 0)
			goto out;
		if (r->status >= 200)
			break;
		if (r->status == 101) {
			ret = CAP_ERR_INVALID;
			goto out;
		}
		/* an interim response: skip it and read the final one */
		http_response_free(r);
		r = NULL;
		start = body_off;
	}

	if (r->status == 204 || r->status == 304) {
		blen = 0;
	} else {
		if ((ret = transfer_chunked(r, &chunked)) != 0 ||
		    (ret = content_length(r, &has_cl, max_body, &cl)) != 0)
			goto out;
		if (chunked) {
			if ((ret = walk_chunks(buf, len, body_off, eof,
			    max_body, NULL, &blen)) != 0)
				goto out;
		} else if (has_cl) {
			if (len - body_off < cl) {
				ret = eof ? CAP_ERR_INVALID : HTTP_PARSE_MORE;
				goto out;
			}
			blen = cl;
		} else {
			blen = len - body_off;
			if (blen > max_body) {
				ret = CAP_ERR_TOO_LARGE;
				goto out;
			}
			if (!eof) {
				ret = HTTP_PARSE_MORE;
				goto out;
			}
		}
	}

	if ((r->body = malloc(blen + 1)) == NULL) {
		ret = CAP_ERR_NOMEM;
		goto out;
	}
	r->body_len = blen;
	if (chunked) {
		if ((ret = walk_chunks(buf, len, body_off, eof, max_body,
		    r->body, &blen)) != 0)
			goto out;
	} else if (blen > 0)
		memcpy(r->body, buf + body_off, blen);
	r->body[blen] = '\0';

	*out = r;	/* transferred */
	r = NULL;
	ret = 0;
 out:
	http_response_free(r);
	return ret;
}
