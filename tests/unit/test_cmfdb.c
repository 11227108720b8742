/*
 * test_cmfdb.c - the CMF's records and the CMF itself: codec round trips
 * and strict rejection, the parent and certificate indexes, the atomic
 * claim and expiry of initial credentials, the LCM log; then, against a
 * SoftHSM token and a local CA, CSR and delegated issuance, subject
 * rules, P2 key sharing, lookup, bootstrap token claims and entity
 * removal.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "ca/certsvc.h"
#include "ca/conns.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "crypto/envelope.h"
#include "crypto/keys.h"
#include "crypto/vault.h"
#include "hsm/hsm.h"
#include "nfv/cmf.h"
#include "store/cmfdb.h"
#include "store/keydb.h"
#include "store/store.h"
#include "tests/unit/harness.h"
#include "tests/unit/th_nfv.h"

static void
mk_entity(struct cmf_entity *e, const char *id, const char *parent)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", id);
	snprintf(e->parent, sizeof(e->parent), "%s", parent);
	e->type = parent[0] == '\0' ? CMF_VNF_INSTANCE : CMF_VNFC;
	snprintf(e->vnfc_id, sizeof(e->vnfc_id), "vdu1");
	snprintf(e->fqdns[0], sizeof(e->fqdns[0]), "%s.example", id);
	e->nfqdns = 1;
	snprintf(e->ips[0], sizeof(e->ips[0]), "10.0.0.1");
	e->nips = 1;
	snprintf(e->types[0].name, sizeof(e->types[0].name), "VNFCI_CERT");
	snprintf(e->types[0].ca, sizeof(e->types[0].ca), "op");
	e->types[0].binding = CMF_P1;
	e->ntypes = 1;
	e->binding = CMF_P1;
	e->created = 1700000000;
}

static void
test_codecs(void)
{
	struct cmf_entity e, d;
	struct cmfdb_initcred ic, icd;
	struct cmfdb_lcm l, ld;
	uint8_t *buf = NULL;
	size_t len = 0, i;
	int r, bad = 0;

	mk_entity(&e, "vnf-1", "");
	snprintf(e.certs[0].cert_id, sizeof(e.certs[0].cert_id),
	    "0123456789abcdef0123456789abcdef");
	snprintf(e.certs[0].certtype, sizeof(e.certs[0].certtype),
	    "VNFCI_CERT");
	e.certs[0].shared = 1;
	e.ncerts = 1;
	r = cmfdb_entity_encode(&e, &buf, &len);
	TH_EQ_INT(r, 0, "cmfdb: entity encodes");
	r = cmfdb_entity_decode(buf, len, &d);
	th_check(r == 0 && memcmp(&e, &d, sizeof(e)) == 0,
	    "cmfdb: entity round trip", "got %d", r);
	for (i = 0; i < len; i++)
		if (cmfdb_entity_decode(buf, i, &d) == 0)
			bad++;
	TH_EQ_INT(bad, 0, "cmfdb: every truncated entity record is refused");
	buf[0] = 2;
	TH_EQ_INT(cmfdb_entity_decode(buf, len, &d), CAP_ERR_CORRUPT,
	    "cmfdb: unknown entity format is refused");
	free(buf);
	e.type = 9;
	TH_EQ_INT(cmfdb_entity_encode(&e, &buf, &len), CAP_ERR_INVALID,
	    "cmfdb: an unknown entity type does not encode");
	e.type = CMF_VNFC;
	snprintf(e.id, sizeof(e.id), "bad id");
	TH_EQ_INT(cmfdb_entity_encode(&e, &buf, &len), CAP_ERR_INVALID,
	    "cmfdb: an id with a space does not encode");

	memset(&ic, 0, sizeof(ic));
	snprintf(ic.ic.ref, sizeof(ic.ic.ref),
	    "00112233445566778899aabbccddeeff");
	ic.ic.kind = CMF_IC_CERT;
	snprintf(ic.ic.entity, sizeof(ic.ic.entity), "vnfc-1");
	snprintf(ic.ic.certtype, sizeof(ic.ic.certtype), "VNFCI_CERT");
	ic.ic.expires = 1700003600;
	ic.created = 1700000000;
	memset(ic.cert_hash, 0xab, sizeof(ic.cert_hash));
	r = cmfdb_ic_encode(&ic, &buf, &len);
	TH_EQ_INT(r, 0, "cmfdb: initial credential encodes");
	r = cmfdb_ic_decode(buf, len, &icd);
	th_check(r == 0 && memcmp(&ic, &icd, sizeof(ic)) == 0,
	    "cmfdb: initial credential round trip", "got %d", r);
	TH_EQ_INT(cmfdb_ic_decode(buf, len - 1, &icd), CAP_ERR_CORRUPT,
	    "cmfdb: a truncated initial credential is refused");
	free(buf);
	ic.claimed_at = 5;
	TH_EQ_INT(cmfdb_ic_encode(&ic, &buf, &len), CAP_ERR_INVALID,
	    "cmfdb: a claim time without a claim does not encode");

	memset(&l, 0, sizeof(l));
	snprintf(l.id, sizeof(l.id), "notif-1");
	l.time = 1700000000;
	snprintf(l.vnf_instance_id, sizeof(l.vnf_instance_id), "vnf-1");
	snprintf(l.operation, sizeof(l.operation), "INSTANTIATE");
	l.summary = strdup("{\"issued\":[],\n\"revoked\":[]}");
	l.summarylen = strlen(l.summary);
	r = cmfdb_lcm_encode(&l, &buf, &len);
	TH_EQ_INT(r, 0, "cmfdb: LCM record encodes");
	r = cmfdb_lcm_decode(buf, len, &ld);
	th_check(r == 0 && ld.summarylen == l.summarylen &&
	    memcmp(ld.summary, l.summary, l.summarylen) == 0 &&
	    strcmp(ld.operation, "INSTANTIATE") == 0,
	    "cmfdb: LCM record round trip", "got %d", r);
	cmfdb_lcm_clear(&ld);
	free(buf);
	free(l.summary);
}

static int
pend_eq(const struct cmfdb_pend *a, const struct cmfdb_pend *b)
{
	return strcmp(a->entity, b->entity) == 0 &&
	    strcmp(a->certtype, b->certtype) == 0 &&
	    strcmp(a->cert_id, b->cert_id) == 0 &&
	    memcmp(a->auth, b->auth, sizeof(a->auth)) == 0 &&
	    a->created == b->created;
}

static void
test_store(store *s)
{
	struct cmf_entity e, d;
	struct cmfdb_initcred ic, got, first, second, *v = NULL;
	struct cmfdb_certref ref, rg;
	uint8_t zero[CMF_CLAIM_TOKEN_LEN], *rec = NULL;
	size_t reclen = 0;
	struct cmfdb_lcm l, lg;
	uint8_t hash[CMFDB_HASH_LEN];
	char **ids = NULL, key[CERTDB_ID_LEN + 1];
	size_t n = 0;
	int r;

	mk_entity(&e, "vnf-1", "");
	TH_EQ_INT(cmfdb_entity_put(s, &e, 1), 0, "cmfdb: entity stored");
	TH_EQ_INT(cmfdb_entity_put(s, &e, 1), CAP_ERR_EXISTS,
	    "cmfdb: an exclusive put of a taken id is refused");
	mk_entity(&e, "vnfc-a", "vnf-1");
	TH_EQ_INT(cmfdb_entity_put(s, &e, 1), 0, "cmfdb: child a stored");
	mk_entity(&e, "vnfc-b", "vnf-1");
	TH_EQ_INT(cmfdb_entity_put(s, &e, 1), 0, "cmfdb: child b stored");
	r = cmfdb_entity_list(s, "vnf-1", &ids, &n);
	th_check(r == 0 && n == 2 && strcmp(ids[0], "vnfc-a") == 0 &&
	    strcmp(ids[1], "vnfc-b") == 0, "cmfdb: children by parent",
	    "got %d, %zu", r, n);
	store_names_free(ids, n);
	r = cmfdb_entity_list(s, "", &ids, &n);
	th_check(r == 0 && n == 1 && strcmp(ids[0], "vnf-1") == 0,
	    "cmfdb: top-level entities", "got %d, %zu", r, n);
	store_names_free(ids, n);
	r = cmfdb_entity_list(s, NULL, &ids, &n);
	th_check(r == 0 && n == 3, "cmfdb: every entity", "got %zu", n);
	store_names_free(ids, n);
	TH_EQ_INT(cmfdb_entity_delete(s, "vnfc-a", NULL), 0, "cmfdb: child deleted");
	r = cmfdb_entity_list(s, "vnf-1", &ids, &n);
	th_check(r == 0 && n == 1 && strcmp(ids[0], "vnfc-b") == 0,
	    "cmfdb: a deleted child leaves the parent index", "got %zu", n);
	store_names_free(ids, n);
	TH_EQ_INT(cmfdb_entity_get(s, "vnfc-a", &d), CAP_ERR_NOT_FOUND,
	    "cmfdb: a deleted entity is gone");

	/* initial credentials: claim once, expiry, release, stale claims */
	memset(&ic, 0, sizeof(ic));
	snprintf(ic.ic.ref, sizeof(ic.ic.ref),
	    "00112233445566778899aabbccddeeff");
	ic.ic.kind = CMF_IC_CERT;
	snprintf(ic.ic.entity, sizeof(ic.ic.entity), "vnfc-b");
	snprintf(ic.ic.certtype, sizeof(ic.ic.certtype), "VNFCI_CERT");
	ic.ic.expires = 2000;
	memset(ic.cert_hash, 0x42, sizeof(ic.cert_hash));
	TH_EQ_INT(cmfdb_ic_put(s, &ic, 1), 0, "cmfdb: credential stored");
	r = cmfdb_ic_find_cert(s, ic.cert_hash, &got);
	th_check(r == 0 && strcmp(got.ic.ref, ic.ic.ref) == 0,
	    "cmfdb: credential found by its certificate hash", "got %d", r);
	/* a record of format 1 (no claim token) still decodes */
	if (TH_EQ_INT(cmfdb_ic_encode(&ic, &rec, &reclen), 0,
	    "cmfdb: credential encoded")) {
		rec[0] = 1;
		r = cmfdb_ic_decode(rec, reclen - CMF_CLAIM_TOKEN_LEN, &got);
		th_check(r == 0 && strcmp(got.ic.ref, ic.ic.ref) == 0 &&
		    sodium_is_zero(got.ic.claim_token, CMF_CLAIM_TOKEN_LEN),
		    "cmfdb: a format 1 credential record decodes", "got %d",
		    r);
		TH_EQ_INT(cmfdb_ic_decode(rec, reclen, &got), CAP_ERR_CORRUPT,
		    "cmfdb: format 1 with a token's bytes is refused");
		free(rec);
	}
	TH_EQ_INT(cmfdb_ic_claim(s, ic.ic.ref, 1000, 60, &got), 0,
	    "cmfdb: first claim wins");
	th_check(got.ic.claimed == 1 && got.claimed_at == 1000,
	    "cmfdb: the claim is recorded", "claimed %d at %llu",
	    got.ic.claimed, (unsigned long long)got.claimed_at);
	th_check(!sodium_is_zero(got.ic.claim_token, CMF_CLAIM_TOKEN_LEN),
	    "cmfdb: the claim gives its holder a token", "all zero");
	first = got;
	TH_EQ_INT(cmfdb_ic_claim(s, ic.ic.ref, 1001, 60, NULL),
	    CAP_ERR_CONFLICT, "cmfdb: a second claim is refused");
	/* the first holder is slow: its claim goes stale and is taken over */
	TH_EQ_INT(cmfdb_ic_claim(s, ic.ic.ref, 1061, 60, &second), 0,
	    "cmfdb: an abandoned claim is taken over");
	th_check(sodium_memcmp(first.ic.claim_token, second.ic.claim_token,
	    CMF_CLAIM_TOKEN_LEN) != 0, "cmfdb: a claim taken over has a new "
	    "token", "the first holder's token still holds it");
	TH_EQ_INT(cmfdb_ic_release(s, ic.ic.ref, first.ic.claim_token),
	    CAP_ERR_CONFLICT, "cmfdb: the first holder's release does not "
	    "free the claim taken over");
	TH_EQ_INT(cmfdb_ic_claim(s, ic.ic.ref, 1062, 60, NULL),
	    CAP_ERR_CONFLICT, "cmfdb: the second holder keeps its claim");
	TH_EQ_INT(cmfdb_ic_delete_claimed(s, ic.ic.ref, first.ic.claim_token),
	    CAP_ERR_CONFLICT, "cmfdb: the first holder's final delete does "
	    "nothing");
	TH_EQ_INT(cmfdb_ic_get(s, ic.ic.ref, &got), 0,
	    "cmfdb: the credential is still there");
	memset(zero, 0, sizeof(zero));
	TH_EQ_INT(cmfdb_ic_release(s, ic.ic.ref, zero), CAP_ERR_CONFLICT,
	    "cmfdb: a zero token releases nothing");
	TH_EQ_INT(cmfdb_ic_release(s, ic.ic.ref, second.ic.claim_token), 0,
	    "cmfdb: claim released by its holder");
	TH_EQ_INT(cmfdb_ic_get(s, ic.ic.ref, &got), 0, "cmfdb: read back");
	th_check(!got.ic.claimed &&
	    sodium_is_zero(got.ic.claim_token, CMF_CLAIM_TOKEN_LEN),
	    "cmfdb: a released credential keeps no token", "claimed %d",
	    got.ic.claimed);
	TH_EQ_INT(cmfdb_ic_release(s, ic.ic.ref, second.ic.claim_token),
	    CAP_ERR_CONFLICT, "cmfdb: a claim is released once");
	TH_EQ_INT(cmfdb_ic_claim(s, ic.ic.ref, 1100, 60, &got), 0,
	    "cmfdb: a released credential can be claimed again");
	TH_EQ_INT(cmfdb_ic_release(s, ic.ic.ref, got.ic.claim_token), 0,
	    "cmfdb: released again");
	TH_EQ_INT(cmfdb_ic_claim(s, ic.ic.ref, 2000, 60, NULL), CAP_ERR_GONE,
	    "cmfdb: an expired credential cannot be claimed");
	r = cmfdb_ic_list(s, "vnfc-b", &v, &n);
	th_check(r == 0 && n == 1, "cmfdb: credentials of an entity",
	    "got %d, %zu", r, n);
	free(v);
	r = cmfdb_ic_list(s, "vnf-1", &v, &n);
	th_check(r == 0 && n == 0, "cmfdb: no credentials of another entity",
	    "got %zu", n);
	free(v);
	TH_EQ_INT(cmfdb_ic_delete(s, ic.ic.ref), 0, "cmfdb: credential deleted");
	TH_EQ_INT(cmfdb_ic_find_cert(s, ic.cert_hash, &got), CAP_ERR_NOT_FOUND,
	    "cmfdb: deleting a credential drops its certificate index");
	TH_EQ_INT(cmfdb_ic_claim(s, ic.ic.ref, 1000, 60, NULL),
	    CAP_ERR_NOT_FOUND, "cmfdb: a deleted credential cannot be claimed");

	/* certificate index and shared keys */
	memset(hash, 7, sizeof(hash));
	memset(&ref, 0, sizeof(ref));
	snprintf(ref.entity, sizeof(ref.entity), "vnfc-b");
	snprintf(ref.cert_id, sizeof(ref.cert_id),
	    "0123456789abcdef0123456789abcdef");
	snprintf(ref.certtype, sizeof(ref.certtype), "VNF_OM_CERT");
	TH_EQ_INT(cmfdb_cert_put(s, hash, &ref), 0, "cmfdb: certificate indexed");
	r = cmfdb_cert_get(s, hash, &rg);
	th_check(r == 0 && memcmp(&ref, &rg, sizeof(ref)) == 0,
	    "cmfdb: certificate index round trip", "got %d", r);
	TH_EQ_INT(cmfdb_cert_delete(s, hash), 0, "cmfdb: certificate unindexed");

	/* pending requests: keyed by entity and request hash */
	{
		struct cmfdb_pend p, ex, pg, *pv = NULL;
		uint8_t h2[CMFDB_HASH_LEN], h3[CMFDB_HASH_LEN], *buf = NULL;
		size_t pn = 0, blen = 0;

		memset(h2, 8, sizeof(h2));
		memset(h3, 9, sizeof(h3));
		memset(&p, 0, sizeof(p));
		snprintf(p.entity, sizeof(p.entity), "vnfc-b");
		snprintf(p.certtype, sizeof(p.certtype), "VNFCI_CERT");
		memset(p.auth, 0x11, sizeof(p.auth));
		p.created = 1000;
		TH_EQ_INT(cmfdb_pend_reserve(s, hash, &p, &ex, NULL), 0,
		    "cmfdb: a request reserved");
		r = cmfdb_pend_reserve(s, hash, &p, &ex, NULL);
		th_check(r == CAP_ERR_EXISTS && ex.cert_id[0] == '\0' &&
		    ex.created == 1000, "cmfdb: the same request again finds "
		    "the reservation", "got %d", r);
		r = cmfdb_pend_reserve(s, h2, &p, &ex, NULL);
		th_check(r == CAP_ERR_CONFLICT && ex.created == 1000,
		    "cmfdb: one client, one pending request per entity",
		    "got %d", r);
		snprintf(p.entity, sizeof(p.entity), "no-such-entity");
		TH_EQ_INT(cmfdb_pend_reserve(s, h3, &p, &ex, NULL), CAP_ERR_NOT_FOUND,
		    "cmfdb: no request reserved for an unknown entity");
		snprintf(p.entity, sizeof(p.entity), "vnfc-b");
		snprintf(p.cert_id, sizeof(p.cert_id),
		    "0123456789abcdef0123456789abcdef");
		p.created = 999;
		TH_EQ_INT(cmfdb_pend_fill(s, hash, &p), CAP_ERR_CONFLICT,
		    "cmfdb: only the reservation's own request fills it");
		p.created = 1000;
		TH_EQ_INT(cmfdb_pend_fill(s, hash, &p), 0,
		    "cmfdb: the reservation filled in");
		TH_EQ_INT(cmfdb_pend_fill(s, hash, &p), CAP_ERR_CONFLICT,
		    "cmfdb: a filled record is not filled again");
		r = cmfdb_pend_get(s, "vnfc-b", hash, &pg);
		th_check(r == 0 && pend_eq(&pg, &p),
		    "cmfdb: pending request round trip", "got %d", r);
		{
			struct cmfdb_pend m = p;
			uint8_t oh[CMFDB_HASH_LEN];

			m.cert_id[0] = '\0';
			TH_EQ_INT(cmfdb_pend_delete(s, "vnfc-b", hash, &m, NULL),
			    CAP_ERR_CONFLICT, "cmfdb: a delete for another "
			    "record than the one there is refused");
			r = cmfdb_pend_reserve(s, h2, &p, &ex, oh);
			th_check(r == CAP_ERR_CONFLICT &&
			    memcmp(oh, hash, sizeof(oh)) == 0,
			    "cmfdb: a conflict names the client's other "
			    "request", "got %d", r);
		}
		TH_EQ_INT(cmfdb_pend_get(s, "vnfc-a2", hash, &pg),
		    CAP_ERR_NOT_FOUND, "cmfdb: another entity's request "
		    "hash finds nothing");
		/* an administrator's requests are not limited */
		memset(&ex, 0, sizeof(ex));
		memset(p.auth, 0, sizeof(p.auth));
		p.cert_id[0] = '\0';
		TH_EQ_INT(cmfdb_pend_reserve(s, h2, &p, &ex, NULL), 0,
		    "cmfdb: an administrator's request reserved");
		TH_EQ_INT(cmfdb_pend_reserve(s, h3, &p, &ex, NULL), 0,
		    "cmfdb: and a second one");
		TH_EQ_INT(cmfdb_pend_delete(s, "vnfc-b", h3, NULL, NULL), 0,
		    "cmfdb: pending request deleted");
		TH_EQ_INT(cmfdb_pend_delete(s, "vnfc-b", h3, NULL, NULL),
		    CAP_ERR_NOT_FOUND, "cmfdb: a deleted pending request is "
		    "gone (one collects)");
		r = cmfdb_pend_take_all(s, "vnfc-b", &pv, &pn);
		th_check(r == 0 && pn == 2 && strcmp(pv[0].entity, "vnfc-b") ==
		    0 && strcmp(pv[1].entity, "vnfc-b") == 0,
		    "cmfdb: take_all gives the entity's requests",
		    "got %d, %zu", r, pn);
		free(pv);
		TH_EQ_INT(cmfdb_pend_get(s, "vnfc-b", hash, &pg),
		    CAP_ERR_NOT_FOUND, "cmfdb: take_all removed them");
		memset(p.auth, 0x11, sizeof(p.auth));
		TH_EQ_INT(cmfdb_pend_reserve(s, h2, &p, &ex, NULL), 0,
		    "cmfdb: take_all freed the client's slot");
		TH_EQ_INT(cmfdb_pend_delete(s, "vnfc-b", h2, NULL, NULL), 0,
		    "cmfdb: and its reservation goes");
		snprintf(p.entity, sizeof(p.entity), "bad/id");
		TH_EQ_INT(cmfdb_pend_reserve(s, hash, &p, &ex, NULL), CAP_ERR_INVALID,
		    "cmfdb: a malformed pending record is refused");
		snprintf(p.entity, sizeof(p.entity), "vnfc-b");
		{
			struct cmfdb_orphan *ov = NULL;
			size_t on = 0;

			TH_EQ_INT(cmfdb_orphan_put(s,
			    "0123456789abcdef0123456789abcdef", "vnfc-b"), 0,
			    "cmfdb: orphan noted");
			TH_EQ_INT(cmfdb_orphan_put(s, "not-an-id", "vnfc-b"),
			    CAP_ERR_INVALID, "cmfdb: a malformed orphan id is "
			    "refused");
			r = cmfdb_orphan_list(s, &ov, &on);
			th_check(r == 0 && on == 1 && strcmp(ov[0].entity,
			    "vnfc-b") == 0, "cmfdb: orphans listed", "got %d "
			    "%zu", r, on);
			free(ov);
			TH_EQ_INT(cmfdb_orphan_delete(s,
			    "0123456789abcdef0123456789abcdef"), 0,
			    "cmfdb: orphan dropped");
			r = cmfdb_orphan_list(s, &ov, &on);
			th_check(r == 0 && on == 0, "cmfdb: no orphan left",
			    "got %d %zu", r, on);
			free(ov);
		}
		r = cmfdb_pend_encode(&p, &buf, &blen);
		th_check(r == 0 && cmfdb_pend_decode(buf, blen, &pg) == 0 &&
		    pend_eq(&pg, &p) &&
		    cmfdb_pend_decode(buf, blen - 1, &pg) != 0,
		    "cmfdb: pending record codec", "got %d", r);
		free(buf);
	}
	TH_EQ_INT(cmfdb_shared_put(s, "vnfc-b", "VNFCI_CERT",
	    "0123456789abcdef0123456789abcdef"), 0, "cmfdb: shared key stored");
	TH_EQ_INT(cmfdb_shared_put(s, "vnfc-b", "VNFCI_CERT",
	    "fedcba9876543210fedcba9876543210"), CAP_ERR_EXISTS,
	    "cmfdb: a second shared key for one VNFC and type is refused");
	r = cmfdb_shared_get(s, "vnfc-b", "VNFCI_CERT", key);
	th_check(r == 0 && strcmp(key, "0123456789abcdef0123456789abcdef") == 0,
	    "cmfdb: shared key read back", "got %d", r);

	/* LCM log: first put wins */
	memset(&l, 0, sizeof(l));
	snprintf(l.id, sizeof(l.id), "occ-1");
	snprintf(l.operation, sizeof(l.operation), "TERMINATE");
	TH_EQ_INT(cmfdb_lcm_put(s, &l), 0, "cmfdb: LCM occurrence recorded");
	TH_EQ_INT(cmfdb_lcm_put(s, &l), CAP_ERR_EXISTS,
	    "cmfdb: a replayed notification id is refused");
	r = cmfdb_lcm_get(s, "occ-1", &lg);
	th_check(r == 0 && strcmp(lg.operation, "TERMINATE") == 0 &&
	    lg.summary == NULL, "cmfdb: LCM occurrence read back", "got %d", r);
	cmfdb_lcm_clear(&lg);
}

/* ---- the CMF over a real token and a local CA ---- */

static EVP_PKEY *
mk_key(void)
{
	return EVP_EC_gen("P-256");
}

static int
mk_csr(EVP_PKEY *k, const char *cn, const char *san, uint8_t **der,
    size_t *len)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *nm = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_EXTENSION *ex = NULL;
	int n, r = -1;

	*der = NULL;
	if (req == NULL || nm == NULL || exts == NULL ||
	    X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    X509_REQ_set_subject_name(req, nm) != 1 ||
	    X509_REQ_set_pubkey(req, k) != 1)
		goto out;
	if (san != NULL) {
		if ((ex = X509V3_EXT_conf_nid(NULL, NULL,
		    NID_subject_alt_name, san)) == NULL ||
		    !sk_X509_EXTENSION_push(exts, ex) ||
		    X509_REQ_add_extensions(req, exts) != 1)
			goto out;
	}
	if (X509_REQ_sign(req, k, EVP_sha256()) <= 0 ||
	    (n = i2d_X509_REQ(req, der)) <= 0)
		goto out;
	*len = (size_t)n;
	r = 0;
 out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(nm);
	X509_REQ_free(req);
	return r;
}

/* A CSR whose CN is a BMPString of the bytes of cn (not its characters). */
static int
mk_csr_bmp(EVP_PKEY *k, const char *cn, uint8_t **der, size_t *len)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *nm = X509_NAME_new();
	int n, r = -1;

	*der = NULL;
	if (req == NULL || nm == NULL ||
	    X509_NAME_add_entry_by_NID(nm, NID_commonName, V_ASN1_BMPSTRING,
	    (const unsigned char *)cn, (int)strlen(cn), -1, 0) != 1 ||
	    X509_REQ_set_subject_name(req, nm) != 1 ||
	    X509_REQ_set_pubkey(req, k) != 1 ||
	    X509_REQ_sign(req, k, EVP_sha256()) <= 0 ||
	    (n = i2d_X509_REQ(req, der)) <= 0)
		goto out;
	*len = (size_t)n;
	r = 0;
 out:
	X509_NAME_free(nm);
	X509_REQ_free(req);
	return r;
}

/*
 * A CSR for CN=cn whose extension request holds what the caller built:
 * two subjectAltName extensions (san, then san2), or, with iplen, one
 * subjectAltName of an iPAddress of iplen bytes.
 */
static int
mk_csr_odd(EVP_PKEY *k, const char *cn, const char *san, const char *san2,
    int iplen, uint8_t **der, size_t *len)
{
	static const unsigned char ipb[16] = { 10, 0, 0, 1 };
	X509_REQ *req = X509_REQ_new();
	X509_NAME *nm = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	GENERAL_NAMES *gens = NULL;
	GENERAL_NAME *g = NULL;
	ASN1_OCTET_STRING *os = NULL;
	X509_EXTENSION *ex = NULL;
	int n, r = -1;

	*der = NULL;
	if (req == NULL || nm == NULL || exts == NULL ||
	    X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    X509_REQ_set_subject_name(req, nm) != 1 ||
	    X509_REQ_set_pubkey(req, k) != 1)
		goto out;
	if (iplen > 0) {
		if ((gens = GENERAL_NAMES_new()) == NULL ||
		    (g = GENERAL_NAME_new()) == NULL ||
		    (os = ASN1_OCTET_STRING_new()) == NULL ||
		    ASN1_OCTET_STRING_set(os, ipb, iplen) != 1)
			goto out;
		GENERAL_NAME_set0_value(g, GEN_IPADD, os);
		os = NULL;
		if (!sk_GENERAL_NAME_push(gens, g))
			goto out;
		g = NULL;
		if ((ex = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens)) ==
		    NULL || !sk_X509_EXTENSION_push(exts, ex))
			goto out;
		ex = NULL;
	} else {
		if ((ex = X509V3_EXT_conf_nid(NULL, NULL,
		    NID_subject_alt_name, san)) == NULL ||
		    !sk_X509_EXTENSION_push(exts, ex))
			goto out;
		if ((ex = X509V3_EXT_conf_nid(NULL, NULL,
		    NID_subject_alt_name, san2)) == NULL ||
		    !sk_X509_EXTENSION_push(exts, ex))
			goto out;
		ex = NULL;
	}
	if (X509_REQ_add_extensions(req, exts) != 1 ||
	    X509_REQ_sign(req, k, EVP_sha256()) <= 0 ||
	    (n = i2d_X509_REQ(req, der)) <= 0)
		goto out;
	*len = (size_t)n;
	r = 0;
 out:
	ASN1_OCTET_STRING_free(os);
	GENERAL_NAME_free(g);
	GENERAL_NAMES_free(gens);
	X509_EXTENSION_free(ex);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(nm);
	X509_REQ_free(req);
	return r;
}

static int
cert_der(X509 *x, uint8_t **der, size_t *len)
{
	int n;

	*der = NULL;
	if ((n = i2d_X509(x, der)) <= 0)
		return -1;
	*len = (size_t)n;
	return 0;
}

struct race {
	cmf		*c;
	const char	*ref;
	const char	*secret;
	int		 wins;
	struct cmf_initcred won;
	pthread_mutex_t	 m;
};

static void *
race_one(void *arg)
{
	struct race *a = arg;

	struct cmf_initcred got;

	if (cmf_initcred_claim_secret(a->c, a->ref, a->secret,
	    strlen(a->secret), &got) == 0) {
		pthread_mutex_lock(&a->m);
		a->won = got;
		a->wins++;
		pthread_mutex_unlock(&a->m);
	}
	return NULL;
}

static void
test_cmf(cmf *c, hsm *h, store *s)
{
	struct cmf_entity *e = calloc(1, sizeof(*e)), *list = NULL;
	struct cmf_issued is, is2, is3;
	struct cmf_initcred cred, got, *creds = NULL;
	struct key_info ki;
	char err[256], secret[CMF_INITCRED_SECRET_LEN + 1];
	char ent[CMF_ID_MAX + 1], cid[CERTDB_ID_LEN + 1];
	char ct[CMF_CERTTYPE_MAX + 1];
	uint8_t *csr = NULL, *der = NULL, *sec = NULL;
	size_t csrlen = 0, derlen = 0, n = 0, seclen = 0;
	EVP_PKEY *k = mk_key();
	struct race ra;
	pthread_t th[4];
	int r, i;

	memset(&is, 0, sizeof(is));
	memset(&is2, 0, sizeof(is2));
	memset(&is3, 0, sizeof(is3));
	if (e == NULL || k == NULL) {
		th_check(0, "cmf: set-up", "out of memory");
		goto out;
	}
	mk_entity(e, "vnf-x", "");
	e->ntypes = 0;
	e->nips = 0;
	r = cmf_entity_create(c, e, err, sizeof(err));
	th_check(r == 0, "cmf: VNF instance created", "got %d %s", r, err);
	mk_entity(e, "vnfc-p2", "vnf-x");
	e->binding = CMF_P2;
	e->types[0].binding = 0;
	r = cmf_entity_create(c, e, err, sizeof(err));
	th_check(r == 0, "cmf: P2 VNFC created", "got %d %s", r, err);
	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "vnfc-p2-0");
	snprintf(e->parent, sizeof(e->parent), "vnfc-p2");
	e->type = CMF_VNFC_INSTANCE;
	r = cmf_entity_create(c, e, err, sizeof(err));
	th_check(r == 0 && e->ntypes == 1 && e->binding == CMF_P2 &&
	    strcmp(e->vnf_instance_id, "vnf-x") == 0 &&
	    strcmp(e->vnfc_id, "vdu1") == 0,
	    "cmf: a VNFC instance inherits types, policy and ids",
	    "got %d %s", r, err);
	snprintf(e->id, sizeof(e->id), "vnfc-p2-1");
	e->ntypes = 0;
	e->binding = 0;
	r = cmf_entity_create(c, e, err, sizeof(err));
	TH_EQ_INT(r, 0, "cmf: a second instance created");
	mk_entity(e, "orphan", "nobody");
	TH_EQ_INT(cmf_entity_create(c, e, err, sizeof(err)), CAP_ERR_NOT_FOUND,
	    "cmf: an unknown parent is refused");
	/* ids route over REST: the rule of cap_name_valid */
	th_check(cmfdb_id_valid("vnf-1.a_b") && !cmfdb_id_valid("vnf:1") &&
	    !cmfdb_id_valid("-vnf") && !cmfdb_id_valid(".vnf") &&
	    !cmfdb_id_valid("a/b") && !cmfdb_id_valid(""),
	    "cmf: entity ids are names cap_name_valid takes",
	    "unexpected verdict");
	mk_entity(e, "vnf:1", "");
	r = cmf_entity_create(c, e, err, sizeof(err));
	th_check(r == CAP_ERR_INVALID && strstr(err, "[A-Za-z0-9._-]") != NULL,
	    "cmf: an id with a colon is refused with the rule",
	    "got %d '%s'", r, err);
	mk_entity(e, "vnf-c", "");
	snprintf(e->vnf_instance_id, sizeof(e->vnf_instance_id), "a:b");
	r = cmf_entity_create(c, e, err, sizeof(err));
	th_check(r == CAP_ERR_INVALID && strstr(err, "vnfInstanceId") != NULL,
	    "cmf: a vnfInstanceId with a colon is refused",
	    "got %d '%s'", r, err);
	mk_entity(e, "badca", "");
	snprintf(e->types[0].ca, sizeof(e->types[0].ca), "nosuch");
	TH_EQ_INT(cmf_entity_create(c, e, err, sizeof(err)), CAP_ERR_NOT_FOUND,
	    "cmf: an unknown CA is refused");
	r = cmf_entity_list(c, "vnfc-p2", &list, &n);
	th_check(r == 0 && n == 2, "cmf: instances listed under their VNFC",
	    "got %d, %zu", r, n);
	free(list);

	/* delegated P2: one key for both instances */
	r = cmf_issue_delegated(c, "vnfc-p2-0", "VNFCI_CERT", &is, err,
	    sizeof(err));
	th_check(r == 0 && is.cert != NULL && is.key_id[0] != '\0' &&
	    sk_X509_num(is.chain) >= 1, "cmf: delegated P2 certificate issued",
	    "got %d %s", r, err);
	r = cmf_issue_delegated(c, "vnfc-p2-1", "VNFCI_CERT", &is2, err,
	    sizeof(err));
	th_check(r == 0 && strcmp(is.key_id, is2.key_id) == 0,
	    "cmf: P2 instances share one key", "got %d %s / %s", r, is.key_id,
	    is2.key_id);
	th_check(keys_get(h, s, is.key_id, &ki, NULL, NULL) == 0,
	    "cmf: the shared key is in the token", "not found");

	/* lookup and revocation */
	if (cert_der(is2.cert, &der, &derlen) == 0) {
		r = cmf_cert_lookup(c, der, derlen, ent, cid, ct);
		th_check(r == 0 && strcmp(ent, "vnfc-p2-1") == 0 &&
		    strcmp(cid, is2.cert_id) == 0 &&
		    strcmp(ct, "VNFCI_CERT") == 0,
		    "cmf: an issued certificate is found", "got %d %s", r, ent);
		r = cmf_revoke_cert(c, der, derlen, 4, err, sizeof(err));
		th_check(r == 0, "cmf: revoke a certificate it issued",
		    "got %d %s", r, err);
		TH_EQ_INT(cmf_cert_lookup(c, der, derlen, ent, cid, ct),
		    CAP_ERR_NOT_FOUND, "cmf: a revoked certificate is not found");
		OPENSSL_free(der);
		der = NULL;
	}

	/* CSR mode: subject rules (is is reused for refused requests) */
	cmf_issued_clear(&is);
	mk_entity(e, "vnfc-p1", "vnf-x");
	r = cmf_entity_create(c, e, err, sizeof(err));
	TH_EQ_INT(r, 0, "cmf: P1 VNFC created");
	if (mk_csr(k, "vnfc-p1.example", "DNS:vnfc-p1.example,IP:10.0.0.1",
	    &csr, &csrlen) == 0) {
		r = cmf_issue_csr(c, "vnfc-p1", "VNFCI_CERT", csr, csrlen, 0,
		    NULL, &is3, err, sizeof(err));
		th_check(r == 0 && is3.cert != NULL && is3.key_id[0] == '\0',
		    "cmf: certificate issued from a CSR", "got %d %s", r, err);
		r = cmf_issue_csr(c, "vnfc-p1", "NO_SUCH", csr, csrlen, 0,
		    NULL, &is, err, sizeof(err));
		TH_EQ_INT(r, CAP_ERR_INVALID, "cmf: an unknown type is refused");
		csr[csrlen - 1] ^= 1;
		r = cmf_issue_csr(c, "vnfc-p1", "VNFCI_CERT", csr, csrlen, 0,
		    NULL, &is, err, sizeof(err));
		TH_EQ_INT(r, CAP_ERR_INVALID,
		    "cmf: a CSR whose signature fails is refused");
		r = cmf_issue_csr(c, "vnfc-p1", "VNFCI_CERT", csr, csrlen / 2,
		    0, NULL, &is, err, sizeof(err));
		TH_EQ_INT(r, CAP_ERR_INVALID, "cmf: a truncated CSR is refused");
		OPENSSL_free(csr);
		csr = NULL;
	}
	/* renewal: the renewed certificate is superseded, once */
	if (is3.cert != NULL && cert_der(is3.cert, &der, &derlen) == 0) {
		struct cmf_issued ren;
		uint8_t *der2 = NULL;
		size_t der2len = 0;

		memset(&ren, 0, sizeof(ren));
		if (mk_csr(k, "vnfc-p1.example", "DNS:evil.example", &csr,
		    &csrlen) == 0) {
			r = cmf_renew_csr(c, der, derlen, csr, csrlen, 0, &ren,
			    err, sizeof(err));
			TH_EQ_INT(r, CAP_ERR_DENIED,
			    "cmf: a renewal for a foreign name is denied");
			OPENSSL_free(csr);
			csr = NULL;
		}
		TH_EQ_INT(cmf_cert_lookup(c, der, derlen, ent, cid, ct), 0,
		    "cmf: a refused renewal leaves the certificate current");
		if (mk_csr(k, "vnfc-p1.example", "DNS:vnfc-p1.example", &csr,
		    &csrlen) == 0) {
			r = cmf_renew_csr(c, der, derlen, csr, csrlen, 0, &ren,
			    err, sizeof(err));
			th_check(r == 0 && ren.cert != NULL,
			    "cmf: a certificate renews", "got %d %s", r, err);
			TH_EQ_INT(cmf_cert_lookup(c, der, derlen, ent, cid,
			    ct), CAP_ERR_NOT_FOUND,
			    "cmf: a renewed certificate is no longer current");
			if (ren.cert != NULL &&
			    cert_der(ren.cert, &der2, &der2len) == 0) {
				TH_EQ_INT(cmf_cert_lookup(c, der2, der2len,
				    ent, cid, ct), 0,
				    "cmf: its successor is current");
				OPENSSL_free(der2);
			}
			cmf_issued_clear(&ren);
			r = cmf_renew_csr(c, der, derlen, csr, csrlen, 0, &ren,
			    err, sizeof(err));
			th_check(r == CAP_ERR_NOT_FOUND && ren.cert == NULL,
			    "cmf: a renewed certificate cannot renew again",
			    "got %d %s", r, err);
			cmf_issued_clear(&ren);
			OPENSSL_free(csr);
			csr = NULL;
		}
		OPENSSL_free(der);
		der = NULL;
	}
	if (mk_csr(k, "vnfc-p1.example", "DNS:evil.example", &csr,
	    &csrlen) == 0) {
		r = cmf_issue_csr(c, "vnfc-p1", "VNFCI_CERT", csr, csrlen, 0,
		    NULL, &is, err, sizeof(err));
		th_check(r == CAP_ERR_DENIED && strstr(err, "evil.example"),
		    "cmf: a foreign DNS name is denied and named",
		    "got %d %s", r, err);
		OPENSSL_free(csr);
		csr = NULL;
	}
	/* the local CA issues the first of two SANs: both must be checked */
	if (mk_csr_odd(k, "vnfc-p1.example", "DNS:evil.example",
	    "DNS:vnfc-p1.example", 0, &csr, &csrlen) == 0) {
		r = cmf_issue_csr(c, "vnfc-p1", "VNFCI_CERT", csr, csrlen, 0,
		    NULL, &is, err, sizeof(err));
		th_check(r == CAP_ERR_DENIED && is.cert == NULL,
		    "cmf: a CSR with two subjectAltName extensions is denied",
		    "got %d %s", r, err);
		cmf_issued_clear(&is);
		OPENSSL_free(csr);
		csr = NULL;
	}
	if (mk_csr_odd(k, "vnfc-p1.example", NULL, NULL, 5, &csr,
	    &csrlen) == 0) {
		r = cmf_issue_csr(c, "vnfc-p1", "VNFCI_CERT", csr, csrlen, 0,
		    NULL, &is, err, sizeof(err));
		th_check(r == CAP_ERR_DENIED && strstr(err, "IP:?") != NULL,
		    "cmf: an iPAddress of 5 bytes is denied, not printed",
		    "got %d %s", r, err);
		OPENSSL_free(csr);
		csr = NULL;
	}
	if (mk_csr(k, "other", NULL, &csr, &csrlen) == 0) {
		r = cmf_issue_csr(c, "vnfc-p1", "VNFCI_CERT", csr, csrlen, 0,
		    NULL, &is, err, sizeof(err));
		th_check(r == CAP_ERR_DENIED && strstr(err, "CN=other"),
		    "cmf: a foreign CN is denied and named", "got %d %s", r,
		    err);
		OPENSSL_free(csr);
		csr = NULL;
	}

	/* bootstrap token: one use */
	r = cmf_initcred_create(c, "vnfc-p1", "VNFCI_CERT", 3600, NULL, 0,
	    &cred, secret, NULL, err, sizeof(err));
	th_check(r == 0 && strlen(secret) == CMF_INITCRED_SECRET_LEN &&
	    strlen(cred.ref) == CMF_INITCRED_REF_LEN,
	    "cmf: bootstrap token created", "got %d %s", r, err);
	r = cmf_initcred_list(c, "vnfc-p1", &creds, &n);
	th_check(r == 0 && n == 1 && strcmp(creds[0].ref, cred.ref) == 0,
	    "cmf: bootstrap token listed", "got %d, %zu", r, n);
	free(creds);
	r = cmf_initcred_secret(c, cred.ref, &sec, &seclen, NULL);
	th_check(r == 0 && seclen == CMF_INITCRED_SECRET_LEN &&
	    sodium_memcmp(sec, secret, seclen) == 0,
	    "cmf: the secret comes back for a MAC check", "got %d", r);
	if (sec != NULL)
		sodium_free(sec);
	TH_EQ_INT(cmf_initcred_claim_secret(c, cred.ref, "wrong", 5, NULL),
	    CAP_ERR_UNAUTH, "cmf: a wrong secret is refused");
	memset(&ra, 0, sizeof(ra));
	ra.c = c;
	ra.ref = cred.ref;
	ra.secret = secret;
	pthread_mutex_init(&ra.m, NULL);
	for (i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, race_one, &ra);
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&ra.m);
	TH_EQ_INT(ra.wins, 1, "cmf: of four concurrent claims one wins");
	cmf_initcred_release(c, cred.ref, ra.won.claim_token);
	r = cmf_initcred_claim_secret(c, cred.ref, secret, strlen(secret),
	    &got);
	th_check(r == 0 && strcmp(got.entity, "vnfc-p1") == 0,
	    "cmf: a released token can be claimed", "got %d", r);
	if (mk_csr(k, "vnfc-p1.example", NULL, &csr, &csrlen) == 0) {
		cmf_issued_clear(&is);
		r = cmf_issue_csr(c, "vnfc-p1", "VNFCI_CERT", csr, csrlen, 0,
		    cred.ref, &is, err, sizeof(err));
		th_check(r == CAP_ERR_UNAUTH && is.cert == NULL,
		    "cmf: a reference without its claim token does not enroll",
		    "got %d %s", r, err);
		cmf_issued_clear(&is);
		r = cmf_issue_csr_claimed(c, "vnfc-p1", "VNFCI_CERT", csr,
		    csrlen, 0, &got, NULL, 0, &is, err, sizeof(err));
		th_check(r == 0, "cmf: enrollment with a claimed token",
		    "got %d %s", r, err);
		OPENSSL_free(csr);
		csr = NULL;
	}
	TH_EQ_INT(cmf_initcred_claim_secret(c, cred.ref, secret,
	    strlen(secret), NULL), CAP_ERR_UNAUTH,
	    "cmf: a used token cannot be used again");
	r = cmf_initcred_list(c, "vnfc-p1", &creds, &n);
	th_check(r == 0 && n == 0, "cmf: a used token is gone", "got %zu", n);
	free(creds);
	r = cmf_initcred_create(c, "vnfc-p1", "VNFCI_CERT", 1, NULL, 0,
	    &cred, secret, NULL, err, sizeof(err));
	TH_EQ_INT(r, 0, "cmf: short-lived token created");
	{
		uint64_t until = cap_now() + 3;

		while (cap_now() < until &&
		    cmf_initcred_claim(c, cred.ref, &got) != CAP_ERR_UNAUTH)
			cmf_initcred_release(c, cred.ref, got.claim_token);
	}
	TH_EQ_INT(cmf_initcred_claim_secret(c, cred.ref, secret,
	    strlen(secret), NULL), CAP_ERR_UNAUTH,
	    "cmf: an expired token is refused");
	sodium_memzero(secret, sizeof(secret));

	/* removal: keys destroyed, the shared one with its last holder */
	cmf_issued_clear(&is);
	TH_EQ_INT(cmf_entity_delete(c, "vnfc-p2-0"), 0,
	    "cmf: one P2 instance removed");
	th_check(keys_get(h, s, is2.key_id, &ki, NULL, NULL) == 0,
	    "cmf: the shared key stays while an instance holds it", "gone");
	TH_EQ_INT(cmf_entity_delete(c, "vnf-x"), 0,
	    "cmf: the VNF and its descendants removed");
	TH_EQ_INT(keys_get(h, s, is2.key_id, &ki, NULL, NULL),
	    CAP_ERR_NOT_FOUND, "cmf: the shared key goes with its last holder");
	TH_EQ_INT(cmf_entity_get(c, "vnfc-p1", e), CAP_ERR_NOT_FOUND,
	    "cmf: descendants are gone");
 out:
	cmf_issued_clear(&is);
	cmf_issued_clear(&is2);
	cmf_issued_clear(&is3);
	EVP_PKEY_free(k);
	free(e);
}

/*
 * An initial certificate is held by its entity (marked initial, not
 * indexed as a formal one) and revoked when the entity is removed.
 */
static void
test_initcert(const struct th_nfv *f)
{
	struct cmf_entity *e = NULL;
	struct cmf_initcred cred;
	struct cmf_issued is;
	ASN1_INTEGER *serial = NULL;
	EVP_PKEY *k = mk_key();
	uint8_t *csr = NULL, *der = NULL;
	size_t csrlen = 0, bmplen = 0;
	char err[256] = "", ent[CMF_ID_MAX + 1], cid[CERTDB_ID_LEN + 1];
	int r, n;

	memset(&is, 0, sizeof(is));
	if ((e = malloc(sizeof(*e))) == NULL || k == NULL ||
	    mk_csr(k, "vnf-ic.example", "DNS:vnf-ic.example", &csr,
	    &csrlen) != 0) {
		th_check(0, "cmf initcert: set-up", "failed");
		goto out;
	}
	mk_entity(e, "vnf-ic", "");
	if (!TH_EQ_INT(cmf_entity_create(f->c, e, err, sizeof(err)), 0,
	    "cmf initcert: entity created"))
		goto out;
	/* the bytes "vnf-ic.example" as a BMPString: other text, refused */
	if (th_check(mk_csr_bmp(k, "vnf-ic.example", &der, &bmplen) == 0,
	    "cmf: a CSR with a BMPString CN is made", "failed")) {
		r = cmf_issue_csr(f->c, "vnf-ic", "VNFCI_CERT", der, bmplen,
		    0, NULL, &is, err, sizeof(err));
		th_check(r == CAP_ERR_DENIED && is.cert == NULL &&
		    strstr(err, "BMPSTRING") != NULL,
		    "cmf: a CN that is a BMPString is denied, its type named",
		    "got %d %s", r, err);
		cmf_issued_clear(&is);
	}
	OPENSSL_free(der);
	der = NULL;
	r = cmf_initcred_create(f->c, "vnf-ic", "VNFCI_CERT", 3600, csr,
	    csrlen, &cred, NULL, &is, err, sizeof(err));
	if (!th_check(r == 0 && is.cert != NULL && cred.kind == CMF_IC_CERT,
	    "cmf initcert: an initial certificate issued from a CSR",
	    "got %d %s", r, err))
		goto out;
	r = cmf_entity_get(f->c, "vnf-ic", e);
	th_check(r == 0 && e->ncerts == 1 && e->certs[0].initial &&
	    !e->certs[0].delegated &&
	    strcmp(e->certs[0].cert_id, is.cert_id) == 0 &&
	    strcmp(e->certs[0].certtype, "VNFCI_CERT") == 0,
	    "cmf initcert: held by the entity, marked initial",
	    "got %d, %zu held", r, e->ncerts);
	n = i2d_X509(is.cert, &der);
	TH_EQ_INT(n > 0 ? cmf_cert_lookup(f->c, der, (size_t)n, ent, cid,
	    NULL) : -1, CAP_ERR_NOT_FOUND,
	    "cmf initcert: not a formal certificate for renewal");
	serial = ASN1_INTEGER_dup(X509_get0_serialNumber(is.cert));
	th_check(serial != NULL && !th_nfv_on_crl(f, serial),
	    "cmf initcert: not on the CRL while the entity lives", "listed");
	{
		/* a second one, revoked by the operator: refused */
		struct cmf_initcred got, cred2;
		struct cmf_issued is2;
		uint8_t *der2 = NULL;
		int n2 = 0;

		memset(&is2, 0, sizeof(is2));
		r = cmf_initcred_create(f->c, "vnf-ic", "VNFCI_CERT", 3600,
		    csr, csrlen, &cred2, NULL, &is2, err, sizeof(err));
		if (r == 0 && (n2 = i2d_X509(is2.cert, &der2)) > 0) {
			TH_EQ_INT(cmf_initcred_claim_cert(f->c, der2,
			    (size_t)n2, &got), 0,
			    "cmf initcert: it authenticates while valid");
			cmf_initcred_release(f->c, got.ref, got.claim_token);
			TH_EQ_INT(certsvc_revoke(f->svc, is2.cert_id, 1, err,
			    sizeof(err)), 0,
			    "cmf initcert: revoked by the operator");
			TH_EQ_INT(cmf_initcred_claim_cert(f->c, der2,
			    (size_t)n2, &got), CAP_ERR_UNAUTH,
			    "cmf initcert: a revoked initial certificate is "
			    "refused");
		} else
			th_check(0, "cmf initcert: a second one", "got %d %s",
			    r, err);
		OPENSSL_free(der2);
		cmf_issued_clear(&is2);
	}
	TH_EQ_INT(cmf_entity_delete(f->c, "vnf-ic"), 0,
	    "cmf initcert: entity removed");
	th_check(serial != NULL && th_nfv_on_crl(f, serial),
	    "cmf initcert: its serial is on the CRL after the removal",
	    "not listed");
 out:
	ASN1_INTEGER_free(serial);
	OPENSSL_free(der);
	OPENSSL_free(csr);
	cmf_issued_clear(&is);
	EVP_PKEY_free(k);
	free(e);
}

/* A job that takes a while; done is set when it ends. */
static atomic_int slow_done;

/* A full list of held certificates: those no longer valid make room. */
static int
fill_held(struct cmf_entity *e, void *arg)
{
	size_t i;

	(void)arg;
	for (i = e->ncerts; i < CMF_CERTS_MAX; i++) {
		memset(&e->certs[i], 0, sizeof(e->certs[i]));
		/* ids of no inventory record: nothing left to revoke */
		snprintf(e->certs[i].cert_id, sizeof(e->certs[i].cert_id),
		    "%032zx", i + 1);
		snprintf(e->certs[i].certtype, sizeof(e->certs[i].certtype),
		    "VNFCI_CERT");
	}
	e->ncerts = CMF_CERTS_MAX;
	return 0;
}

static void
test_held_full(const struct th_nfv *f)
{
	struct cmf_entity *e = NULL;
	struct cmf_issued is;
	char err[256] = "";
	int r;

	memset(&is, 0, sizeof(is));
	if ((e = malloc(sizeof(*e))) == NULL) {
		th_check(0, "cmf held: set-up", "failed");
		return;
	}
	mk_entity(e, "vnf-full", "");
	if (!TH_EQ_INT(cmf_entity_create(f->c, e, err, sizeof(err)), 0,
	    "cmf held: entity created") ||
	    !TH_EQ_INT(cmfdb_entity_update(f->s, "vnf-full", fill_held, NULL),
	    0, "cmf held: its list filled with certificates gone"))
		goto out;
	r = cmf_issue_delegated(f->c, "vnf-full", "VNFCI_CERT", &is, err,
	    sizeof(err));
	TH_EQ_INT(r, 0, "cmf held: a full list still takes a new certificate");
	r = cmf_entity_get(f->c, "vnf-full", e);
	th_check(r == 0 && e->ncerts == 1 &&
	    strcmp(e->certs[0].cert_id, is.cert_id) == 0,
	    "cmf held: the certificates no longer valid were dropped",
	    "got %d, %zu held", r, e->ncerts);
	TH_EQ_INT(cmf_entity_delete(f->c, "vnf-full"), 0,
	    "cmf held: entity removed");
 out:
	cmf_issued_clear(&is);
	free(e);
}

static void
slow_job(void *arg)
{
	struct timespec ts = { 0, 300 * 1000 * 1000 };

	(void)arg;
	nanosleep(&ts, NULL);
	atomic_store(&slow_done, 1);
}

/* cmf_free waits for a job in flight (a REST request at shutdown). */
/*
 * The fixture's CMF has enrol_wait 0: every CMF_MAY_PEND request goes
 * pending.  A client's one place is taken by its request until that is
 * collected, or dead (here: its certificate revoked meanwhile).
 */
static void
test_pend_place(const struct th_nfv *f)
{
	struct cmf_entity *e = NULL;
	struct cmf_initcred cred, claim;
	struct cmf_issued is;
	char err[256] = "", secret[CMF_INITCRED_SECRET_LEN + 1];
	uint8_t *csr1 = NULL, *csr2 = NULL;
	size_t len1 = 0, len2 = 0;
	EVP_PKEY *k1 = mk_key(), *k2 = mk_key();
	char first[CERTDB_ID_LEN + 1] = "";
	struct certdb_cert *cc = NULL;
	char **ids = NULL;
	size_t n = 0, i;
	int r, tries;

	memset(&is, 0, sizeof(is));
	if ((e = malloc(sizeof(*e))) == NULL || k1 == NULL || k2 == NULL ||
	    mk_csr(k1, "vnf-pend.example", NULL, &csr1, &len1) != 0 ||
	    mk_csr(k2, "vnf-pend.example", NULL, &csr2, &len2) != 0) {
		th_check(0, "cmf pend: set-up", "failed");
		goto out;
	}
	mk_entity(e, "vnf-pend", "");
	if (!TH_EQ_INT(cmf_entity_create(f->c, e, err, sizeof(err)), 0,
	    "cmf pend: entity created") ||
	    !TH_EQ_INT(cmf_initcred_create(f->c, "vnf-pend", "VNFCI_CERT",
	    3600, NULL, 0, &cred, secret, NULL, err, sizeof(err)), 0,
	    "cmf pend: initial credential created"))
		goto out;
#define CLAIM() cmf_initcred_claim_secret(f->c, cred.ref, secret, \
	    strlen(secret), &claim)
	r = CLAIM();
	if (r == 0)
		r = cmf_issue_csr_claimed(f->c, "vnf-pend", "VNFCI_CERT", csr1,
		    len1, CMF_MAY_PEND, &claim, NULL, 0, &is, err, sizeof(err));
	TH_EQ_INT(r, CAP_ERR_PENDING, "cmf pend: the first request pends");
	r = CLAIM();
	if (r == 0)
		r = cmf_issue_csr_claimed(f->c, "vnf-pend", "VNFCI_CERT", csr2,
		    len2, CMF_MAY_PEND, &claim, NULL, 0, &is, err, sizeof(err));
	TH_EQ_INT(r, CAP_ERR_CONFLICT, "cmf pend: another CSR of the same "
	    "credential meanwhile is refused");
	r = cmf_issue_csr(f->c, "vnf-pend", "VNFCI_CERT", csr1, len1,
	    CMF_MAY_PEND, NULL, &is, err, sizeof(err));
	TH_EQ_INT(r, CAP_ERR_CONFLICT, "cmf pend: an administrator cannot "
	    "collect the credential's request");
	/* the first request's certificate, once issued, revoked meanwhile */
	for (tries = 0; tries < 100 && first[0] == '\0'; tries++) {
		if (certdb_list(f->s, NULL, &ids, &n) != 0)
			n = 0;
		for (i = 0; i < n && first[0] == '\0'; i++) {
			if (certdb_get(f->s, ids[i], &cc) == 0 &&
			    cc->status == CERTDB_ISSUED &&
			    strcmp(cc->subject, "CN=vnf-pend.example") == 0)
				snprintf(first, sizeof(first), "%s", cc->id);
			certdb_cert_free(cc);
			cc = NULL;
		}
		store_names_free(ids, n);
		ids = NULL;
		if (first[0] == '\0') {
			struct timespec ts = { 0, 50 * 1000 * 1000 };

			nanosleep(&ts, NULL);
		}
	}
	if (!th_check(first[0] != '\0', "cmf pend: the CA issued the first "
	    "request", "not found") ||
	    !TH_EQ_INT(certsvc_revoke(f->svc, first, 1, err, sizeof(err)), 0,
	    "cmf pend: its certificate revoked"))
		goto out;
	r = CLAIM();
	if (r == 0)
		r = cmf_issue_csr_claimed(f->c, "vnf-pend", "VNFCI_CERT", csr2,
		    len2, CMF_MAY_PEND, &claim, NULL, 0, &is, err, sizeof(err));
	TH_EQ_INT(r, CAP_ERR_PENDING, "cmf pend: a dead request frees its "
	    "client's place for a new one");
	for (tries = 0; tries < 100; tries++) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };

		if ((r = CLAIM()) == 0)
			r = cmf_issue_csr_claimed(f->c, "vnf-pend",
			    "VNFCI_CERT", csr2, len2, CMF_MAY_PEND, &claim,
			    NULL, 0, &is, err, sizeof(err));
		if (r != CAP_ERR_PENDING)
			break;
		nanosleep(&ts, NULL);
	}
	th_check(r == 0 && is.cert != NULL &&
	    EVP_PKEY_eq(X509_get0_pubkey(is.cert), k2) == 1,
	    "cmf pend: the repeat collects the new request's certificate",
	    "got %d %s", r, err);
	TH_EQ_INT(CLAIM(), CAP_ERR_UNAUTH, "cmf pend: the credential is spent");
#undef CLAIM
	TH_EQ_INT(cmf_entity_delete(f->c, "vnf-pend"), 0,
	    "cmf pend: entity removed");
 out:
	sodium_memzero(secret, sizeof(secret));
	cmf_issued_clear(&is);
	OPENSSL_free(csr1);
	OPENSSL_free(csr2);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
	free(e);
}

/* cmf_sweep drops pending records past keeping, and only those. */
static void
test_pend_sweep(const struct th_nfv *f)
{
	struct cmf_entity *e = NULL;
	struct cmfdb_pend p, ex;
	uint8_t h1[CMFDB_HASH_LEN], h2[CMFDB_HASH_LEN], h3[CMFDB_HASH_LEN];
	char err[256] = "";
	uint64_t now = cap_now();

	memset(h1, 1, sizeof(h1));
	memset(h2, 2, sizeof(h2));
	memset(h3, 3, sizeof(h3));
	if ((e = malloc(sizeof(*e))) == NULL)
		return;
	mk_entity(e, "vnf-sweep", "");
	if (!TH_EQ_INT(cmf_entity_create(f->c, e, err, sizeof(err)), 0,
	    "cmf sweep: entity created"))
		goto out;
	memset(&p, 0, sizeof(p));
	snprintf(p.entity, sizeof(p.entity), "vnf-sweep");
	snprintf(p.certtype, sizeof(p.certtype), "VNFCI_CERT");
	/* administrator records: no client index in the way */
	p.created = now - 120;
	TH_EQ_INT(cmfdb_pend_reserve(f->s, h1, &p, &ex, NULL), 0,
	    "cmf sweep: an abandoned reservation");
	p.created = now;
	TH_EQ_INT(cmfdb_pend_reserve(f->s, h2, &p, &ex, NULL), 0,
	    "cmf sweep: a fresh reservation");
	p.created = now - 2 * 86400;
	TH_EQ_INT(cmfdb_pend_reserve(f->s, h3, &p, &ex, NULL), 0,
	    "cmf sweep: an old request reserved");
	snprintf(p.cert_id, sizeof(p.cert_id),
	    "00000000000000000000000000000000");
	TH_EQ_INT(cmfdb_pend_fill(f->s, h3, &p), 0,
	    "cmf sweep: ... whose certificate is gone");
	cmf_sweep(f->c);
	TH_EQ_INT(cmfdb_pend_get(f->s, "vnf-sweep", h1, &ex),
	    CAP_ERR_NOT_FOUND, "cmf sweep: the abandoned reservation dropped");
	TH_EQ_INT(cmfdb_pend_get(f->s, "vnf-sweep", h2, &ex), 0,
	    "cmf sweep: the fresh one kept");
	TH_EQ_INT(cmfdb_pend_get(f->s, "vnf-sweep", h3, &ex),
	    CAP_ERR_NOT_FOUND, "cmf sweep: the old answered one dropped");
	TH_EQ_INT(cmf_entity_delete(f->c, "vnf-sweep"), 0,
	    "cmf sweep: entity removed");
	TH_EQ_INT(cmfdb_pend_get(f->s, "vnf-sweep", h2, &ex),
	    CAP_ERR_NOT_FOUND, "cmf sweep: removal drops the rest");
 out:
	free(e);
}

static void
test_drain(const struct th_nfv *f)
{
	struct cmf_env ce;
	cmf *c = NULL;

	memset(&ce, 0, sizeof(ce));
	ce.h = f->h;
	ce.s = f->s;
	ce.certs = f->svc;
	if (!TH_EQ_INT(cmf_new(&ce, &c), 0, "cmf drain: a second CMF"))
		return;
	atomic_store(&slow_done, 0);
	if (!TH_EQ_INT(cmf_job_spawn(c, slow_job, NULL), 0,
	    "cmf drain: a job starts")) {
		cmf_free(c);
		return;
	}
	cmf_free(c);
	th_check(atomic_load(&slow_done) == 1,
	    "cmf drain: cmf_free waits for the job in flight",
	    "expected the job done, it was still running");
}

int
main(void)
{
	struct th_nfv f;
	char path[512];
	const char *dir;
	store *s2 = NULL;

	log_init("test_cmfdb", 0, LOG_LVL_ERROR);
	if (sodium_init() < 0)
		return 1;
	test_codecs();
	dir = th_tmpdir();
	snprintf(path, sizeof(path), "%s/plain", dir);
	if (store_open(path, 0, 1, &s2) == 0) {
		test_store(s2);
		store_free(s2);
	} else
		th_check(0, "cmfdb: store opens", "failed");
	if (th_nfv_open(&f, "cmf", "CMF Test Root") == 0) {
		test_cmf(f.c, f.h, f.s);
		test_initcert(&f);
		test_held_full(&f);
		test_pend_place(&f);
		test_pend_sweep(&f);
		test_drain(&f);
	}
	th_nfv_close(&f);
	return th_done();
}
