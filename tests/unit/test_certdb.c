/*
 * test_certdb.c - the certificate inventory: codec round trip and strict
 * rejection, put/get/update/delete, listing by expiry, CA and status,
 * history bounds and durability across reopen.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "store/certdb.h"
#include "store/store.h"
#include "tests/unit/harness.h"

static const uint8_t der1[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
static const uint8_t der2[] = { 0x30, 0x03, 0x02, 0x01, 0x02 };

static struct certdb_cert *
mk(const char *ca, uint64_t not_after, int status)
{
	struct certdb_cert *c = certdb_cert_new();

	if (c == NULL)
		return NULL;
	certdb_id_new(c->id);
	snprintf(c->ca, sizeof(c->ca), "%s", ca);
	snprintf(c->subject, sizeof(c->subject), "CN=vnf1,O=Example");
	snprintf(c->sans[0], sizeof(c->sans[0]), "DNS:vnf1.example");
	snprintf(c->sans[1], sizeof(c->sans[1]), "IP:10.0.0.1");
	c->nsans = 2;
	certdb_id_new(c->key_id);
	snprintf(c->key_type, sizeof(c->key_type), "ec-p256");
	snprintf(c->serial, sizeof(c->serial), "0a1b2c");
	c->status = (uint8_t)status;
	c->not_before = not_after > 100 ? not_after - 100 : 0;
	c->not_after = not_after;
	c->created = 1700000000;
	c->auto_renew = 1;
	if (status != CERTDB_PENDING) {
		if (certdb_set_der(c, der1, sizeof(der1)) != 0 ||
		    certdb_chain_push(c, der2, sizeof(der2)) != 0) {
			certdb_cert_free(c);
			return NULL;
		}
	} else {
		c->serial[0] = '\0';
		c->not_after = c->not_before = 0;
		if (certdb_pending_set(c, CERTDB_OP_ENROLL, der2,
		    sizeof(der2), c->key_id) != 0) {
			certdb_cert_free(c);
			return NULL;
		}
	}
	certdb_history_add(c, CERTDB_EV_ISSUED, 1700000000, 0, c->serial,
	    c->key_id);
	return c;
}

static void
test_codec(void)
{
	struct certdb_cert *c = mk("dev", 1800000000, CERTDB_ISSUED), d;
	uint8_t *buf = NULL, *buf2 = NULL, *mut = NULL;
	size_t len = 0, len2 = 0, i, rejected = 0;

	if (!th_check(c != NULL, "codec: record built", "allocation"))
		return;
	TH_EQ_INT(certdb_record_encode(c, &buf, &len), 0, "codec: encode");
	TH_EQ_INT(certdb_record_decode(buf, len, &d), 0, "codec: decode");
	TH_EQ_INT(certdb_record_encode(&d, &buf2, &len2), 0, "codec: re-encode");
	th_check(len == len2 && memcmp(buf, buf2, len) == 0,
	    "codec: one encoding", "lengths %zu vs %zu", len, len2);
	th_check(strcmp(d.subject, c->subject) == 0 && d.nsans == 2 &&
	    d.nchain == 1 && d.derlen == sizeof(der1) && d.nhistory == 1,
	    "codec: fields survive", "subject %s nsans %zu", d.subject,
	    d.nsans);
	certdb_cert_clear(&d);
	/* Every truncation is refused. */
	for (i = 0; i < len; i++)
		if (certdb_record_decode(buf, i, &d) == CAP_ERR_CORRUPT)
			rejected++;
	TH_EQ_INT(rejected, len, "codec: every truncation refused");
	/* A trailing byte is refused. */
	mut = malloc(len + 1);
	memcpy(mut, buf, len);
	mut[len] = 0;
	TH_EQ_INT(certdb_record_decode(mut, len + 1, &d), CAP_ERR_CORRUPT,
	    "codec: trailing byte refused");
	mut[0] = 2;
	TH_EQ_INT(certdb_record_decode(mut, len, &d), CAP_ERR_CORRUPT,
	    "codec: unknown format refused");
	mut[0] = 1;
	mut[1] = 'G';
	TH_EQ_INT(certdb_record_decode(mut, len, &d), CAP_ERR_CORRUPT,
	    "codec: non-hex id refused");
	th_check(d.der == NULL && d.nchain == 0, "codec: refused leaves nothing",
	    "der %p", (void *)d.der);
	/* Invalid records are not encoded. */
	c->status = 9;
	free(buf2);
	buf2 = NULL;
	TH_EQ_INT(certdb_record_encode(c, &buf2, &len2), CAP_ERR_INVALID,
	    "codec: bad status not encoded");
	free(mut);
	free(buf);
	free(buf2);
	certdb_cert_free(c);
}

static int
bump(struct certdb_cert *c, void *arg)
{
	(void)arg;
	certdb_history_add(c, CERTDB_EV_SUPERSEDED, 1700000100, 0, c->serial,
	    c->key_id);
	snprintf(c->serial, sizeof(c->serial), "ff");
	c->not_after += 1000;
	return 0;
}

static int
refuse(struct certdb_cert *c, void *arg)
{
	(void)arg;
	c->not_after = 1;
	return CAP_ERR_CONFLICT;
}

static void
test_store(void)
{
	const char *dir = th_tmpdir();
	char path[512];
	struct certdb_cert *a, *b, *p, *g = NULL;
	struct certdb_filter f;
	char **ids = NULL;
	size_t n = 0, i;
	store *s = NULL;

	snprintf(path, sizeof(path), "%s/db", dir);
	if (store_open(path, 0, 1, &s) != 0) {
		th_check(0, "store: open", "failed");
		return;
	}
	a = mk("dev", 2000000000, CERTDB_ISSUED);
	b = mk("other", 1900000000, CERTDB_ISSUED);
	p = mk("dev", 0, CERTDB_PENDING);
	TH_EQ_INT(certdb_put(s, a, 1), 0, "store: put a");
	TH_EQ_INT(certdb_put(s, b, 1), 0, "store: put b");
	TH_EQ_INT(certdb_put(s, p, 1), 0, "store: put pending");
	TH_EQ_INT(certdb_put(s, a, 1), CAP_ERR_EXISTS, "store: excl put refused");
	TH_EQ_INT(certdb_get(s, a->id, &g), 0, "store: get a");
	th_check(g != NULL && strcmp(g->serial, a->serial) == 0,
	    "store: get returns the record", "serial");
	certdb_cert_free(g);
	g = NULL;

	TH_EQ_INT(certdb_list(s, NULL, &ids, &n), 0, "list: all");
	th_check(n == 3 && strcmp(ids[0], p->id) == 0 &&
	    strcmp(ids[1], b->id) == 0 && strcmp(ids[2], a->id) == 0,
	    "list: ordered by not_after, pending first", "n=%zu", n);
	store_names_free(ids, n);

	memset(&f, 0, sizeof(f));
	f.not_after_max = 1950000000;
	TH_EQ_INT(certdb_list(s, &f, &ids, &n), 0, "list: expiring");
	th_check(n == 1 && strcmp(ids[0], b->id) == 0,
	    "list: expiring_within keeps only the one due", "n=%zu", n);
	store_names_free(ids, n);

	memset(&f, 0, sizeof(f));
	f.ca = "dev";
	TH_EQ_INT(certdb_list(s, &f, &ids, &n), 0, "list: by ca");
	TH_EQ_INT(n, 2, "list: two certificates of ca dev");
	store_names_free(ids, n);
	f.status = CERTDB_PENDING;
	TH_EQ_INT(certdb_list(s, &f, &ids, &n), 0, "list: by status");
	th_check(n == 1 && strcmp(ids[0], p->id) == 0,
	    "list: pending of ca dev", "n=%zu", n);
	store_names_free(ids, n);

	TH_EQ_INT(certdb_update(s, b->id, bump, NULL), 0, "update: applied");
	TH_EQ_INT(certdb_update(s, b->id, refuse, NULL), CAP_ERR_CONFLICT,
	    "update: fn refusal returned");
	TH_EQ_INT(certdb_get(s, b->id, &g), 0, "update: get");
	th_check(g != NULL && strcmp(g->serial, "ff") == 0 &&
	    g->not_after == 1900001000 && g->nhistory == 2 &&
	    g->history[1].kind == CERTDB_EV_SUPERSEDED,
	    "update: new serial, history kept, refused change not written",
	    "serial %s", g != NULL ? g->serial : "-");
	certdb_cert_free(g);
	g = NULL;
	memset(&f, 0, sizeof(f));
	f.not_after_max = 1900000500;
	TH_EQ_INT(certdb_list(s, &f, &ids, &n), 0, "update: list");
	TH_EQ_INT(n, 0, "update: expiry index moved with the record");
	store_names_free(ids, n);

	for (i = 0; i < CERTDB_HISTORY_MAX + 5; i++)
		certdb_history_add(a, CERTDB_EV_ALERT, 1700000000 + i, i, NULL,
		    NULL);
	TH_EQ_INT(a->nhistory, CERTDB_HISTORY_MAX, "history: bounded");
	TH_EQ_INT(a->history[CERTDB_HISTORY_MAX - 1].detail,
	    CERTDB_HISTORY_MAX + 4, "history: newest last");
	TH_EQ_INT(certdb_put(s, a, 0), 0, "history: stored");

	TH_EQ_INT(certdb_delete(s, p->id), 0, "delete: pending");
	TH_EQ_INT(certdb_get(s, p->id, &g), CAP_ERR_NOT_FOUND,
	    "delete: gone");
	store_free(s);
	s = NULL;
	TH_EQ_INT(store_open(path, 0, 1, &s), 0, "reopen");
	TH_EQ_INT(certdb_list(s, NULL, &ids, &n), 0, "reopen: list");
	TH_EQ_INT(n, 2, "reopen: both records kept");
	store_names_free(ids, n);
	store_free(s);
	certdb_cert_free(a);
	certdb_cert_free(b);
	certdb_cert_free(p);
}

int
main(void)
{
	test_codec();
	test_store();
	return th_done();
}
