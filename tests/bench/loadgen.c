/*
 * loadgen.c - keep-alive HTTP/1.1 load generator over mutual TLS.
 *
 * Common HTTP load tools cannot present a client certificate, and every
 * Capstone call needs one, so the benchmark brings its own.  Each
 * connection performs one TLS handshake and then sends one request at a
 * time (no pipelining), parses the response (status line, Content-Length
 * or chunked body), records the latency and sends the next.  Threads each
 * run their own event base with an equal share of the connections.
 *
 * Latencies go into a log-bucket histogram (128 linear buckets below
 * 128 us, then 64 sub-buckets per power of two, under 1.6 % error), so
 * memory stays fixed however long the run.  Only loopback targets are
 * accepted: this is a benchmark tool, not a traffic generator.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define MAX_CONNECTIONS	10000
#define MAX_THREADS	64
#define MAX_DURATION	3600		/* seconds */
#define MAX_REQUESTS	1000000000ULL
#define MAX_BODY_FILE	(64UL * 1024 * 1024)
#define MAX_BODY_SIZE	(64UL * 1024 * 1024)
#define MAX_HEAD	(64 * 1024)	/* response status line and headers */
#define MAX_LINE	1024		/* chunk-size and trailer lines */
#define MAX_RESP_BODY	(1ULL << 30)
#define RETRY_MS	50		/* pause before reconnecting after an error */

/* Histogram: values in microseconds. */
#define H_LINEAR	128
#define H_SUB		64
#define H_MAXEXP	40
#define H_BUCKETS	(H_LINEAR + (H_MAXEXP - 7 + 1) * H_SUB)

struct hist {
	uint64_t	 counts[H_BUCKETS];
	uint64_t	 total;
	uint64_t	 max;
};

enum method { M_GET, M_PUT, M_POST };

struct opts {
	char		*host;		/* literal address, no brackets */
	unsigned	 port;
	char		*path;
	enum method	 method;
	const char	*body_file;
	long long	 body_size;	/* -1: none */
	int		 unique;
	const char	*cert;
	const char	*key;
	const char	*cacert;
	unsigned	 connections;
	double		 duration;
	int		 duration_set;
	unsigned long long requests;	/* 0: unbounded (duration only) */
	unsigned	 threads;
	double		 warmup;
	int		 json;
};

struct shared {
	const struct opts	*o;
	SSL_CTX			*ctx;
	struct sockaddr_storage	 sa;
	socklen_t		 salen;
	unsigned char		*body;
	size_t			 bodylen;
	char			 hostport[80];	/* Host header value */
	uint64_t		 t_measure;	/* ns, monotonic */
	uint64_t		 t_end;
};

enum cstate {
	ST_IDLE, ST_CONNECTING, ST_HEAD, ST_BODY_CL, ST_BODY_EOF,
	ST_CHUNK_SIZE, ST_CHUNK_DATA, ST_CHUNK_CRLF, ST_TRAILER, ST_RETRY
};

struct worker;

struct conn {
	struct worker		*w;
	unsigned		 index;		/* over all threads */
	struct bufferevent	*bev;
	struct event		*retry;
	char			*head;		/* request line and headers */
	size_t			 headlen;
	enum cstate		 state;
	uint64_t		 sent_ns;
	int			 status;
	uint64_t		 remaining;
	int			 close_after;
	unsigned		 trailers;
};

struct worker {
	pthread_t		 tid;
	const struct shared	*sh;
	struct event_base	*base;
	struct event		*stop_ev;
	struct conn		*conns;
	unsigned		 nconns;
	unsigned		 first;
	unsigned long long	 quota;		/* 0: none */
	int			 stopping;
	int			 failed;	/* set up failed */
	struct hist		 hist;
	uint64_t		 ok;
	uint64_t		 errors;
	uint64_t		 status_errors;
	uint64_t		 io_errors;
	uint64_t		 handshakes;
	uint64_t		 t_stop;
	int			 reported;	/* first I/O error message */
	char			 tls[96];
};

static void conn_start(struct conn *c);
static void conn_send(struct conn *c);

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void __attribute__((format(printf, 1, 2), noreturn))
die(const char *fmt, ...)
{
	va_list ap;

	fputs("loadgen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* --- histogram ------------------------------------------------------- */

static unsigned
hist_index(uint64_t v)
{
	unsigned m, shift;

	if (v < H_LINEAR)
		return (unsigned)v;
	if (v >= (1ULL << (H_MAXEXP + 1)))
		v = (1ULL << (H_MAXEXP + 1)) - 1;
	m = 63 - (unsigned)__builtin_clzll(v);	/* 7 .. H_MAXEXP */
	shift = m - 6;
	return H_LINEAR + (m - 7) * H_SUB + (unsigned)((v >> shift) - H_SUB);
}

/* Midpoint of the values that fall into bucket idx. */
static double
hist_value(unsigned idx)
{
	unsigned k, m, sub, shift;
	uint64_t lo, hi;

	if (idx < H_LINEAR)
		return (double)idx;
	k = idx - H_LINEAR;
	m = 7 + k / H_SUB;
	sub = H_SUB + k % H_SUB;
	shift = m - 6;
	lo = (uint64_t)sub << shift;
	hi = ((uint64_t)(sub + 1) << shift) - 1;
	return ((double)lo + (double)hi) / 2.0;
}

static void
hist_add(struct hist *h, uint64_t us)
{
	h->counts[hist_index(us)]++;
	h->total++;
	if (us > h->max)
		h->max = us;
}

static void
hist_merge(struct hist *dst, const struct hist *src)
{
	unsigned i;

	for (i = 0; i < H_BUCKETS; i++)
		dst->counts[i] += src->counts[i];
	dst->total += src->total;
	if (src->max > dst->max)
		dst->max = src->max;
}

/* Percentile p (0..100) in microseconds; the exact maximum caps it. */
static double
hist_percentile(const struct hist *h, double p)
{
	uint64_t want, seen = 0;
	unsigned i;
	double v;

	if (h->total == 0)
		return 0.0;
	want = (uint64_t)((p / 100.0) * (double)h->total + 0.999999);
	if (want == 0)
		want = 1;
	for (i = 0; i < H_BUCKETS; i++) {
		seen += h->counts[i];
		if (seen >= want) {
			v = hist_value(i);
			return v > (double)h->max ? (double)h->max : v;
		}
	}
	return (double)h->max;
}

/* --- connections ----------------------------------------------------- */

static int
in_window(const struct shared *sh, uint64_t sent, uint64_t done)
{
	return sent >= sh->t_measure && done <= sh->t_end;
}

static void
worker_check_quota(struct worker *w)
{
	if (w->quota != 0 && w->ok + w->errors >= w->quota && !w->stopping) {
		w->stopping = 1;
		w->t_stop = now_ns();
		event_base_loopbreak(w->base);
	}
}

static void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	if (!c->w->stopping)
		conn_start(c);
}

/*
 * conn_fail drops the connection; counted as an error when a request was
 * outstanding or the handshake failed, silently reconnected when an idle
 * keep-alive connection was closed by the server.
 */
static void
conn_fail(struct conn *c, const char *why, int count, int sockerr)
{
	struct worker *w = c->w;
	uint64_t t = now_ns();
	struct timeval tv = { 0, RETRY_MS * 1000 };
	unsigned long e;
	char ebuf[256];

	if (count && in_window(w->sh, c->state == ST_CONNECTING ? t : c->sent_ns, t)) {
		w->errors++;
		w->io_errors++;
	}
	if (count && !w->reported) {
		w->reported = 1;
		e = c->bev != NULL ? bufferevent_get_openssl_error(c->bev) : 0;
		if (e != 0 && ERR_GET_LIB(e) != 0) {
			ERR_error_string_n(e, ebuf, sizeof(ebuf));
			fprintf(stderr, "loadgen: connection %u: %s (%s)\n",
			    c->index, why, ebuf);
		} else if (sockerr != 0)
			fprintf(stderr, "loadgen: connection %u: %s (%s)\n",
			    c->index, why, evutil_socket_error_to_string(sockerr));
		else
			fprintf(stderr, "loadgen: connection %u: %s\n",
			    c->index, why);
	}
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	worker_check_quota(w);
	if (w->stopping)
		return;
	if (count) {
		c->state = ST_RETRY;
		evtimer_add(c->retry, &tv);
	} else
		conn_start(c);
}

static void
conn_done(struct conn *c)
{
	struct worker *w = c->w;
	uint64_t t = now_ns();

	if (in_window(w->sh, c->sent_ns, t)) {
		if (c->status >= 200 && c->status <= 299) {
			w->ok++;
			hist_add(&w->hist, (t - c->sent_ns) / 1000);
		} else {
			w->errors++;
			w->status_errors++;
		}
	}
	c->state = ST_IDLE;
	worker_check_quota(w);
	if (w->stopping)
		return;
	if (c->close_after) {
		if (c->bev != NULL) {
			bufferevent_free(c->bev);
			c->bev = NULL;
		}
		conn_start(c);
		return;
	}
	conn_send(c);
}

static int
header_is(const char *line, size_t len, const char *name, const char **val)
{
	size_t n = strlen(name);

	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return 0;
	*val = line + n + 1;
	while (**val == ' ' || **val == '\t')
		(*val)++;
	return 1;
}

static int
contains_token(const char *v, size_t len, const char *tok)
{
	size_t n = strlen(tok), i;

	for (i = 0; i + n <= len; i++)
		if (strncasecmp(v + i, tok, n) == 0)
			return 1;
	return 0;
}

/*
 * parse_head parses the status line and headers (len bytes, ending in an
 * empty line) and sets the body state.  Returns -1 on a malformed head.
 */
static int
parse_head(struct conn *c, char *h, size_t len)
{
	char *p = h, *end = h + len, *eol;
	const char *v;
	int have_cl = 0, chunked = 0, http10 = 0, ka = 0;
	uint64_t cl = 0;
	size_t ll, vl;

	if (len < 12 || strncmp(h, "HTTP/1.", 7) != 0)
		return -1;
	http10 = h[7] == '0';
	if (h[8] != ' ' || h[9] < '1' || h[9] > '5' || h[10] < '0' ||
	    h[10] > '9' || h[11] < '0' || h[11] > '9')
		return -1;
	c->status = (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');
	c->close_after = 0;
	if ((eol = memmem(p, (size_t)(end - p), "\r\n", 2)) == NULL)
		return -1;
	p = eol + 2;
	while (p < end) {
		if ((eol = memmem(p, (size_t)(end - p), "\r\n", 2)) == NULL)
			return -1;
		ll = (size_t)(eol - p);
		if (ll == 0)
			break;
		if (header_is(p, ll, "content-length", &v)) {
			vl = (size_t)(eol - v);
			if (vl == 0 || vl > 12 || have_cl)
				return -1;
			cl = 0;
			for (; v < eol && *v >= '0' && *v <= '9'; v++)
				cl = cl * 10 + (uint64_t)(*v - '0');
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			if (v != eol || cl > MAX_RESP_BODY)
				return -1;
			have_cl = 1;
		} else if (header_is(p, ll, "transfer-encoding", &v)) {
			if (contains_token(v, (size_t)(eol - v), "chunked"))
				chunked = 1;
		} else if (header_is(p, ll, "connection", &v)) {
			if (contains_token(v, (size_t)(eol - v), "close"))
				c->close_after = 1;
			if (contains_token(v, (size_t)(eol - v), "keep-alive"))
				ka = 1;
		}
		p = eol + 2;
	}
	if (http10 && !ka)
		c->close_after = 1;
	if (c->status < 200)
		return -1;		/* no Expect sent: 1xx is unexpected */
	if (c->status == 204 || c->status == 304) {
		c->remaining = 0;
		c->state = ST_BODY_CL;
	} else if (chunked) {
		c->state = ST_CHUNK_SIZE;
		c->trailers = 0;
	} else if (have_cl) {
		c->remaining = cl;
		c->state = ST_BODY_CL;
	} else {
		c->close_after = 1;
		c->state = ST_BODY_EOF;
	}
	return 0;
}

/* Reads one CRLF-terminated line into buf; 0: need more, -1: too long. */
static int
read_line(struct evbuffer *in, char *buf, size_t buflen, size_t *outlen)
{
	struct evbuffer_ptr pos;
	size_t n;

	pos = evbuffer_search(in, "\r\n", 2, NULL);
	if (pos.pos < 0)
		return evbuffer_get_length(in) >= buflen ? -1 : 0;
	n = (size_t)pos.pos;
	if (n >= buflen)
		return -1;
	evbuffer_remove(in, buf, n);
	buf[n] = '\0';
	evbuffer_drain(in, 2);
	*outlen = n;
	return 1;
}

static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr pos;
	char line[MAX_LINE], *head, *endp, crlf[2];
	size_t n, avail;
	unsigned long long sz;
	int r;

	for (;;) {
		avail = evbuffer_get_length(in);
		switch (c->state) {
		case ST_HEAD:
			pos = evbuffer_search(in, "\r\n\r\n", 4, NULL);
			if (pos.pos < 0) {
				if (avail > MAX_HEAD)
					goto bad;
				return;
			}
			n = (size_t)pos.pos + 4;
			if (n > MAX_HEAD)
				goto bad;
			if ((head = malloc(n + 1)) == NULL)
				goto bad;
			evbuffer_remove(in, head, n);
			head[n] = '\0';
			r = parse_head(c, head, n);
			free(head);
			if (r != 0)
				goto bad;
			break;
		case ST_BODY_CL:
			n = avail < c->remaining ? avail : (size_t)c->remaining;
			evbuffer_drain(in, n);
			c->remaining -= n;
			if (c->remaining != 0)
				return;
			conn_done(c);
			if (c->state != ST_HEAD || c->bev != bev)
				return;
			break;
		case ST_BODY_EOF:
			evbuffer_drain(in, avail);
			return;
		case ST_CHUNK_SIZE:
			if ((r = read_line(in, line, sizeof(line), &n)) < 0)
				goto bad;
			if (r == 0)
				return;
			errno = 0;
			sz = strtoull(line, &endp, 16);
			if (endp == line || errno != 0 || sz > MAX_RESP_BODY ||
			    (*endp != '\0' && *endp != ';' && *endp != ' '))
				goto bad;
			if (sz == 0)
				c->state = ST_TRAILER;
			else {
				c->remaining = sz;
				c->state = ST_CHUNK_DATA;
			}
			break;
		case ST_CHUNK_DATA:
			n = avail < c->remaining ? avail : (size_t)c->remaining;
			evbuffer_drain(in, n);
			c->remaining -= n;
			if (c->remaining != 0)
				return;
			c->state = ST_CHUNK_CRLF;
			break;
		case ST_CHUNK_CRLF:
			if (avail < 2)
				return;
			evbuffer_remove(in, crlf, 2);
			if (crlf[0] != '\r' || crlf[1] != '\n')
				goto bad;
			c->state = ST_CHUNK_SIZE;
			break;
		case ST_TRAILER:
			if ((r = read_line(in, line, sizeof(line), &n)) < 0)
				goto bad;
			if (r == 0)
				return;
			if (n != 0) {
				if (++c->trailers > 64)
					goto bad;
				break;
			}
			conn_done(c);
			if (c->state != ST_HEAD || c->bev != bev)
				return;
			break;
		default:
			if (avail == 0)
				return;
			goto bad;	/* bytes nobody asked for */
		}
	}
bad:
	conn_fail(c, "malformed or unexpected response", 1, 0);
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	struct worker *w = c->w;
	SSL *ssl;
	int fd, one = 1, err = EVUTIL_SOCKET_ERROR();

	if (what & BEV_EVENT_CONNECTED) {
		w->handshakes++;
		fd = bufferevent_getfd(bev);
		if (fd >= 0)
			(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
			    sizeof(one));
		if (w->tls[0] == '\0' &&
		    (ssl = bufferevent_openssl_get_ssl(bev)) != NULL)
			snprintf(w->tls, sizeof(w->tls), "%s/%s",
			    SSL_get_version(ssl), SSL_get_cipher_name(ssl));
		conn_send(c);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (c->state == ST_BODY_EOF && (what & BEV_EVENT_EOF)) {
			evbuffer_drain(bufferevent_get_input(bev),
			    evbuffer_get_length(bufferevent_get_input(bev)));
			conn_done(c);
			return;
		}
		if (c->state == ST_IDLE)
			conn_fail(c, "closed by the server", 0, 0);
		else if (c->state == ST_CONNECTING)
			conn_fail(c, "connect or TLS handshake failed", 1,
			    (what & BEV_EVENT_ERROR) ? err : 0);
		else
			conn_fail(c, "connection lost during a request", 1,
			    (what & BEV_EVENT_ERROR) ? err : 0);
	}
}

static void
conn_send(struct conn *c)
{
	const struct shared *sh = c->w->sh;
	struct evbuffer *out = bufferevent_get_output(c->bev);

	c->state = ST_HEAD;
	c->sent_ns = now_ns();
	if (evbuffer_add(out, c->head, c->headlen) != 0 ||
	    (sh->bodylen != 0 &&
	    evbuffer_add_reference(out, sh->body, sh->bodylen, NULL,
	    NULL) != 0))
		conn_fail(c, "cannot queue the request", 1, 0);
}

static void
conn_start(struct conn *c)
{
	struct worker *w = c->w;
	const struct shared *sh = w->sh;
	SSL *ssl = NULL;
	evutil_socket_t fd = -1;
	int err;

	c->state = ST_CONNECTING;
	if ((ssl = SSL_new(sh->ctx)) == NULL)
		goto fail;
	if ((fd = socket(sh->sa.ss_family, SOCK_STREAM, 0)) < 0)
		goto fail;
	if (evutil_make_socket_nonblocking(fd) != 0 ||
	    evutil_make_socket_closeonexec(fd) != 0)
		goto fail;
	c->bev = bufferevent_openssl_socket_new(w->base, fd, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		goto fail;
	ssl = NULL;		/* transferred */
	fd = -1;		/* transferred */
	bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	bufferevent_setcb(c->bev, read_cb, NULL, event_cb, c);
	if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) != 0)
		goto fail;
	if (bufferevent_socket_connect(c->bev, (const struct sockaddr *)&sh->sa,
	    (int)sh->salen) != 0)
		goto fail;
	return;
fail:
	err = errno;
	if (ssl != NULL)
		SSL_free(ssl);
	if (fd >= 0)
		evutil_closesocket(fd);
	conn_fail(c, "cannot open a connection", 1, err);
}

/*
 * build_head writes the request line and headers of connection idx; with
 * --unique the first "%d" in the path becomes the connection index.
 */
static int
build_head(struct conn *c, const struct shared *sh)
{
	const struct opts *o = sh->o;
	char path[2048], cl[64] = "";
	const char *pct;
	int n;

	if (o->unique && (pct = strstr(o->path, "%d")) != NULL)
		n = snprintf(path, sizeof(path), "%.*s%u%s",
		    (int)(pct - o->path), o->path, c->index, pct + 2);
	else
		n = snprintf(path, sizeof(path), "%s", o->path);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -1;
	if (o->method != M_GET)
		snprintf(cl, sizeof(cl),
		    "Content-Type: application/json\r\n"
		    "Content-Length: %zu\r\n", sh->bodylen);
	n = asprintf(&c->head,
	    "%s %s HTTP/1.1\r\n"
	    "Host: %s\r\n"
	    "User-Agent: capstone-loadgen\r\n"
	    "Accept: application/json\r\n"
	    "%s"
	    "\r\n",
	    o->method == M_PUT ? "PUT" : o->method == M_POST ? "POST" : "GET",
	    path, sh->hostport, cl);
	if (n < 0) {
		c->head = NULL;
		return -1;
	}
	c->headlen = (size_t)n;
	return 0;
}

static void
stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	if (!w->stopping) {
		w->stopping = 1;
		w->t_stop = now_ns();
	}
	event_base_loopbreak(w->base);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	const struct shared *sh = w->sh;
	struct timeval tv;
	uint64_t t;
	unsigned i;

	if ((w->base = event_base_new()) == NULL)
		goto fail;
	if ((w->conns = calloc(w->nconns, sizeof(*w->conns))) == NULL)
		goto fail;
	for (i = 0; i < w->nconns; i++) {
		w->conns[i].w = w;
		w->conns[i].index = w->first + i;
		w->conns[i].retry = evtimer_new(w->base, retry_cb,
		    &w->conns[i]);
		if (w->conns[i].retry == NULL ||
		    build_head(&w->conns[i], sh) != 0)
			goto fail;
	}
	t = now_ns();
	t = sh->t_end > t ? sh->t_end - t : 0;
	tv.tv_sec = (time_t)(t / 1000000000ULL);
	tv.tv_usec = (suseconds_t)((t % 1000000000ULL) / 1000);
	if ((w->stop_ev = evtimer_new(w->base, stop_cb, w)) == NULL ||
	    evtimer_add(w->stop_ev, &tv) != 0)
		goto fail;
	for (i = 0; i < w->nconns && !w->stopping; i++)
		conn_start(&w->conns[i]);
	if (!w->stopping)
		event_base_dispatch(w->base);
	if (w->t_stop == 0)
		w->t_stop = now_ns();
	goto out;
fail:
	w->failed = 1;
out:
	if (w->conns != NULL) {
		for (i = 0; i < w->nconns; i++) {
			if (w->conns[i].bev != NULL)
				bufferevent_free(w->conns[i].bev);
			if (w->conns[i].retry != NULL)
				event_free(w->conns[i].retry);
			free(w->conns[i].head);
		}
		free(w->conns);
		w->conns = NULL;
	}
	if (w->stop_ev != NULL)
		event_free(w->stop_ev);
	if (w->base != NULL)
		event_base_free(w->base);
	return NULL;
}

/* --- set-up ---------------------------------------------------------- */

static void
usage(void)
{
	fprintf(stderr,
"usage: loadgen --url https://127.0.0.1:PORT/PATH --cert F --key F --cacert F\n"
"               [--method GET|PUT|POST] [--body FILE | --body-size N] [--unique]\n"
"               [--connections C] [--duration S | --requests N] [--threads T]\n"
"               [--warmup S] [--json]\n"
"  --body-size N  PUT body {\"data\":{\"v\":\"<N random hex characters>\"}}\n"
"  --unique       replace %%d in the path with the connection index\n"
"Prints requests, errors, req/s and p50/p99/max latency in ms.\n"
"Only loopback targets (127.0.0.0/8, [::1]) are accepted.\n");
	exit(2);
}

static double
parse_seconds(const char *s, const char *what, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0' || errno != 0 || !(v >= 0) || v > max)
		die("%s: expected 0 to %.0f seconds, got '%s'", what, max, s);
	return v;
}

static unsigned long long
parse_count(const char *s, const char *what, unsigned long long min,
    unsigned long long max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (*s == '-')
		die("%s: expected %llu to %llu, got '%s'", what, min, max, s);
	v = strtoull(s, &end, 10);
	if (end == s || *end != '\0' || errno != 0 || v < min || v > max)
		die("%s: expected %llu to %llu, got '%s'", what, min, max, s);
	return v;
}

/* Splits https://HOST:PORT/PATH and refuses anything but loopback. */
static void
parse_url(struct opts *o, const char *url, struct shared *sh)
{
	const char *p, *hend, *pstart;
	char host[64];
	size_t hl;
	struct sockaddr_in *sin = (struct sockaddr_in *)&sh->sa;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&sh->sa;
	int v6 = 0;

	if (strncmp(url, "https://", 8) != 0)
		die("--url must start with https://");
	p = url + 8;
	if (*p == '[') {
		if ((hend = strchr(p, ']')) == NULL)
			die("--url: unterminated [ in '%s'", url);
		hl = (size_t)(hend - p - 1);
		if (hl >= sizeof(host))
			die("--url: host too long");
		memcpy(host, p + 1, hl);
		host[hl] = '\0';
		p = hend + 1;
		v6 = 1;
	} else {
		hl = strcspn(p, ":/");
		if (hl == 0 || hl >= sizeof(host))
			die("--url: missing or overlong host in '%s'", url);
		memcpy(host, p, hl);
		host[hl] = '\0';
		p += hl;
	}
	if (*p != ':')
		die("--url: a port is required, e.g. https://127.0.0.1:8443/");
	p++;
	pstart = p + strcspn(p, "/");
	{
		char port[8];
		size_t pl = (size_t)(pstart - p);

		if (pl == 0 || pl >= sizeof(port))
			die("--url: bad port");
		memcpy(port, p, pl);
		port[pl] = '\0';
		o->port = (unsigned)parse_count(port, "--url port", 1, 65535);
	}
	o->path = strdup(*pstart == '\0' ? "/" : pstart);
	if (o->path == NULL)
		die("out of memory");
	if (strlen(o->path) > 1024 || strpbrk(o->path, " \r\n\t") != NULL)
		die("--url: path too long or contains whitespace");

	memset(&sh->sa, 0, sizeof(sh->sa));
	if (!v6 && inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		if ((ntohl(sin->sin_addr.s_addr) >> 24) != 127)
			die("refusing non-loopback target '%s': only "
			    "127.0.0.0/8 and [::1] are allowed", host);
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)o->port);
		sh->salen = sizeof(*sin);
		snprintf(sh->hostport, sizeof(sh->hostport), "%s:%u", host,
		    o->port);
	} else if (v6 && inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		if (!IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
			die("refusing non-loopback target '%s': only "
			    "127.0.0.0/8 and [::1] are allowed", host);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)o->port);
		sh->salen = sizeof(*sin6);
		snprintf(sh->hostport, sizeof(sh->hostport), "[%s]:%u", host,
		    o->port);
	} else
		die("refusing target '%s': give a literal loopback address "
		    "(127.0.0.0/8 or [::1]), not a name", host);
	if ((o->host = strdup(host)) == NULL)
		die("out of memory");
}

static void
load_body(const struct opts *o, struct shared *sh)
{
	static const char hex[] = "0123456789abcdef";
	static const char pre[] = "{\"data\":{\"v\":\"", post[] = "\"}}";
	unsigned char rnd[256];
	struct stat st;
	size_t i, n, off;
	FILE *f;

	if (o->body_file != NULL) {
		if ((f = fopen(o->body_file, "rb")) == NULL)
			die("--body %s: %s", o->body_file, strerror(errno));
		if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) ||
		    (unsigned long long)st.st_size > MAX_BODY_FILE)
			die("--body %s: not a regular file of at most %lu bytes",
			    o->body_file, MAX_BODY_FILE);
		sh->bodylen = (size_t)st.st_size;
		if ((sh->body = malloc(sh->bodylen + 1)) == NULL)
			die("out of memory");
		if (fread(sh->body, 1, sh->bodylen, f) != sh->bodylen)
			die("--body %s: short read", o->body_file);
		fclose(f);
		return;
	}
	if (o->body_size < 0)
		return;
	n = (size_t)o->body_size;
	sh->bodylen = sizeof(pre) - 1 + n + sizeof(post) - 1;
	if ((sh->body = malloc(sh->bodylen)) == NULL)
		die("out of memory");
	memcpy(sh->body, pre, sizeof(pre) - 1);
	off = sizeof(pre) - 1;
	for (i = 0; i < n; i++) {
		if (i % (2 * sizeof(rnd)) == 0 &&
		    RAND_bytes(rnd, sizeof(rnd)) != 1)
			die("RAND_bytes failed");
		sh->body[off + i] = (unsigned char)hex[(rnd[(i / 2) %
		    sizeof(rnd)] >> ((i & 1) ? 0 : 4)) & 0xf];
	}
	memcpy(sh->body + off + n, post, sizeof(post) - 1);
}

static SSL_CTX *
make_ctx(const struct opts *o)
{
	SSL_CTX *ctx;
	X509_VERIFY_PARAM *param;
	char ebuf[256];

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		goto err;
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
		goto err;
	if (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1) {
		fprintf(stderr, "loadgen: --cert %s unusable\n", o->cert);
		goto err;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		fprintf(stderr, "loadgen: --key %s unusable or does not match "
		    "--cert\n", o->key);
		goto err;
	}
	if (SSL_CTX_load_verify_locations(ctx, o->cacert, NULL) != 1) {
		fprintf(stderr, "loadgen: --cacert %s unusable\n", o->cacert);
		goto err;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	param = SSL_CTX_get0_param(ctx);
	if (X509_VERIFY_PARAM_set1_ip_asc(param, o->host) != 1)
		goto err;
	return ctx;
err:
	ERR_error_string_n(ERR_get_error(), ebuf, sizeof(ebuf));
	SSL_CTX_free(ctx);
	die("TLS set-up failed: %s", ebuf);
}

int
main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "url",	 required_argument, NULL, 'u' },
		{ "method",	 required_argument, NULL, 'm' },
		{ "body",	 required_argument, NULL, 'b' },
		{ "body-size",	 required_argument, NULL, 's' },
		{ "unique",	 no_argument,	    NULL, 'U' },
		{ "cert",	 required_argument, NULL, 'E' },
		{ "key",	 required_argument, NULL, 'K' },
		{ "cacert",	 required_argument, NULL, 'A' },
		{ "connections", required_argument, NULL, 'c' },
		{ "duration",	 required_argument, NULL, 'd' },
		{ "requests",	 required_argument, NULL, 'n' },
		{ "threads",	 required_argument, NULL, 't' },
		{ "warmup",	 required_argument, NULL, 'w' },
		{ "json",	 no_argument,	    NULL, 'j' },
		{ "help",	 no_argument,	    NULL, 'h' },
		{ NULL,		 0,		    NULL, 0 }
	};
	struct opts o;
	struct shared sh;
	struct worker *ws;
	struct hist *total;
	const char *url = NULL, *tls = "";
	uint64_t ok = 0, errors = 0, st_err = 0, io_err = 0, hs = 0, t_stop = 0;
	unsigned i, per, extra, first = 0;
	unsigned long long q;
	double secs, rps, p50, p99, mx;
	int ch, failed = 0;

	memset(&o, 0, sizeof(o));
	memset(&sh, 0, sizeof(sh));
	o.method = M_GET;
	o.body_size = -1;
	o.connections = 1;
	o.duration = 10;
	o.threads = 1;
	while ((ch = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (ch) {
		case 'u': url = optarg; break;
		case 'm':
			if (strcmp(optarg, "GET") == 0)
				o.method = M_GET;
			else if (strcmp(optarg, "PUT") == 0)
				o.method = M_PUT;
			else if (strcmp(optarg, "POST") == 0)
				o.method = M_POST;
			else
				die("--method: GET, PUT or POST, got '%s'",
				    optarg);
			break;
		case 'b': o.body_file = optarg; break;
		case 's':
			o.body_size = (long long)parse_count(optarg,
			    "--body-size", 0, MAX_BODY_SIZE);
			break;
		case 'U': o.unique = 1; break;
		case 'E': o.cert = optarg; break;
		case 'K': o.key = optarg; break;
		case 'A': o.cacert = optarg; break;
		case 'c':
			o.connections = (unsigned)parse_count(optarg,
			    "--connections", 1, MAX_CONNECTIONS);
			break;
		case 'd':
			o.duration = parse_seconds(optarg, "--duration",
			    MAX_DURATION);
			o.duration_set = 1;
			break;
		case 'n':
			o.requests = parse_count(optarg, "--requests", 1,
			    MAX_REQUESTS);
			break;
		case 't':
			o.threads = (unsigned)parse_count(optarg, "--threads",
			    1, MAX_THREADS);
			break;
		case 'w':
			o.warmup = parse_seconds(optarg, "--warmup", 600);
			break;
		case 'j': o.json = 1; break;
		default: usage();
		}
	}
	if (optind != argc || url == NULL || o.cert == NULL || o.key == NULL ||
	    o.cacert == NULL)
		usage();
	if (o.body_file != NULL && o.body_size >= 0)
		die("--body and --body-size exclude each other");
	if (o.method == M_GET && (o.body_file != NULL || o.body_size >= 0))
		die("--body and --body-size go with --method PUT or POST");
	if (o.method != M_GET && o.body_file == NULL && o.body_size < 0)
		die("--method PUT or POST needs --body FILE or --body-size N");
	/* --requests alone still ends: at most 300 s unless told otherwise. */
	if (o.requests != 0 && !o.duration_set)
		o.duration = 300;
	if (o.duration <= 0)
		die("--duration must be above 0");
	if (o.threads > o.connections)
		o.threads = o.connections;
	parse_url(&o, url, &sh);
	if (o.unique && strstr(o.path, "%d") == NULL)
		die("--unique needs %%d in the path");

	sh.o = &o;
	load_body(&o, &sh);
	sh.ctx = make_ctx(&o);
	sh.t_measure = now_ns() + (uint64_t)(o.warmup * 1e9);
	sh.t_end = sh.t_measure + (uint64_t)(o.duration * 1e9);

	if ((ws = calloc(o.threads, sizeof(*ws))) == NULL ||
	    (total = calloc(1, sizeof(*total))) == NULL)
		die("out of memory");
	per = o.connections / o.threads;
	extra = o.connections % o.threads;
	for (i = 0; i < o.threads; i++) {
		ws[i].sh = &sh;
		ws[i].nconns = per + (i < extra ? 1 : 0);
		ws[i].first = first;
		first += ws[i].nconns;
		if (o.requests != 0) {
			q = o.requests / o.threads +
			    (i < o.requests % o.threads ? 1 : 0);
			ws[i].quota = q == 0 ? 1 : q;
		}
		if (pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]) != 0)
			die("cannot start thread %u", i);
	}
	for (i = 0; i < o.threads; i++) {
		pthread_join(ws[i].tid, NULL);
		failed |= ws[i].failed;
		ok += ws[i].ok;
		errors += ws[i].errors;
		st_err += ws[i].status_errors;
		io_err += ws[i].io_errors;
		hs += ws[i].handshakes;
		hist_merge(total, &ws[i].hist);
		if (ws[i].t_stop > t_stop)
			t_stop = ws[i].t_stop;
		if (*tls == '\0' && ws[i].tls[0] != '\0')
			tls = ws[i].tls;
	}
	if (failed)
		die("a worker thread could not set up");
	if (t_stop > sh.t_end)
		t_stop = sh.t_end;
	secs = t_stop > sh.t_measure ?
	    (double)(t_stop - sh.t_measure) / 1e9 : 0.0;
	rps = secs > 0 ? (double)ok / secs : 0.0;
	p50 = hist_percentile(total, 50.0) / 1000.0;
	p99 = hist_percentile(total, 99.0) / 1000.0;
	mx = (double)total->max / 1000.0;
	if (o.json)
		printf("{\"requests\":%" PRIu64 ",\"errors\":%" PRIu64
		    ",\"status_errors\":%" PRIu64 ",\"io_errors\":%" PRIu64
		    ",\"seconds\":%.3f,\"rps\":%.1f,\"p50_ms\":%.3f"
		    ",\"p99_ms\":%.3f,\"max_ms\":%.3f,\"connections\":%u"
		    ",\"threads\":%u,\"handshakes\":%" PRIu64
		    ",\"tls\":\"%s\"}\n",
		    ok, errors, st_err, io_err, secs, rps, p50, p99, mx,
		    o.connections, o.threads, hs, tls);
	else
		printf("requests=%" PRIu64 " errors=%" PRIu64 " rps=%.1f "
		    "p50_ms=%.3f p99_ms=%.3f max_ms=%.3f connections=%u "
		    "threads=%u handshakes=%" PRIu64 " tls=%s\n",
		    ok, errors, rps, p50, p99, mx, o.connections, o.threads,
		    hs, *tls != '\0' ? tls : "-");
	SSL_CTX_free(sh.ctx);
	free(sh.body);
	free(ws);
	free(total);
	free(o.path);
	free(o.host);
	return errors != 0 && ok == 0 ? 1 : 0;
}
