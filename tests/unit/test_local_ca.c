/*
 * test_local_ca.c - the local CA against a fresh SoftHSM token, through
 * the connector registry: a root and an intermediate under it, each
 * profile issued from a CSR, SAN and CSR-signature rules, revocation
 * listed in the CRL and answered "revoked" by OCSP, `openssl verify`
 * accepting the chain, chain_validate accepting the issued certificate,
 * a restart that reloads both CAs from the store, and connector records
 * refusing literal secrets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "ca/ca.h"
#include "ca/conns.h"
#include "common/err.h"
#include "crypto/chain.h"
#include "hsm/hsm.h"
#include "store/cadb.h"
#include "store/store.h"
#include "tests/unit/harness.h"

static X509_REQ *
make_csr(EVP_PKEY *k, const char *cn, const char *sans, int corrupt)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_EXTENSION *e;

	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_REQ_set_subject_name(req, n);
	X509_NAME_free(n);
	X509_REQ_set_pubkey(req, k);
	if (sans != NULL) {
		e = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name,
		    sans);
		sk_X509_EXTENSION_push(exts, e);
		if (corrupt == 2) {
			/* a second subjectAltName extension */
			e = X509V3_EXT_conf_nid(NULL, NULL,
			    NID_subject_alt_name, "DNS:evil.example");
			sk_X509_EXTENSION_push(exts, e);
		}
		X509_REQ_add_extensions(req, exts);
	}
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_sign(req, k, EVP_sha256());
	if (corrupt == 1) {
		/* a different subject after signing breaks the signature */
		n = X509_NAME_new();
		X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
		    (const unsigned char *)"mallory", -1, -1, 0);
		X509_REQ_set_subject_name(req, n);
		X509_NAME_free(n);
	}
	return req;
}

static int
write_pem(const char *path, X509 *c)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (f == NULL)
		return 0;
	ok = PEM_write_X509(f, c);
	fclose(f);
	return ok;
}

static int
has_eku(X509 *c, int nid)
{
	EXTENDED_KEY_USAGE *eku;
	int i, found = 0;

	if ((eku = X509_get_ext_d2i(c, NID_ext_key_usage, NULL, NULL)) == NULL)
		return 0;
	for (i = 0; i < sk_ASN1_OBJECT_num(eku); i++)
		if (OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i)) == nid)
			found = 1;
	EXTENDED_KEY_USAGE_free(eku);
	return found;
}

static int
ocsp_says(const struct ca_ops *ops, void *st, X509 *cert, X509 *issuer,
    X509 *root)
{
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	OCSP_CERTID *id = OCSP_cert_to_id(NULL, cert, issuer);
	OCSP_RESPONSE *resp = NULL;
	OCSP_BASICRESP *bs = NULL;
	X509_STORE *xs = X509_STORE_new();
	STACK_OF(X509) *certs = sk_X509_new_null();
	unsigned char *der = NULL;
	uint8_t *out = NULL;
	const uint8_t *p;
	size_t outlen = 0;
	int dl, status = -2, reason, r;

	OCSP_request_add0_id(req, OCSP_CERTID_dup(id));
	OCSP_request_add1_nonce(req, NULL, -1);
	dl = i2d_OCSP_REQUEST(req, &der);
	r = ops->ocsp(st, der, (size_t)dl, &out, &outlen);
	if (r != 0)
		goto out;
	p = out;
	if ((resp = d2i_OCSP_RESPONSE(NULL, &p, (long)outlen)) == NULL ||
	    OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL ||
	    (bs = OCSP_response_get1_basic(resp)) == NULL)
		goto out;
	X509_STORE_add_cert(xs, root);
	sk_X509_push(certs, issuer);
	if (OCSP_basic_verify(bs, certs, xs, 0) != 1 ||
	    OCSP_check_nonce(req, bs) != 1)
		goto out;
	if (OCSP_resp_find_status(bs, id, &status, &reason, NULL, NULL,
	    NULL) != 1)
		status = -3;
 out:
	OPENSSL_free(der);
	free(out);
	OCSP_CERTID_free(id);
	OCSP_REQUEST_free(req);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	X509_STORE_free(xs);
	sk_X509_free(certs);
	return status;
}

int
main(void)
{
	const char *uri, *pin, *dir;
	char path[512], cmd[2048], err[256], reason[256];
	struct ca_env env;
	struct ca_request req;
	struct ca_result res, res2;
	struct ca_conn_entry *list = NULL;
	ca_conns *cs = NULL;
	ca_conn *root = NULL, *inter = NULL;
	const struct ca_ops *ops;
	hsm *h = NULL;
	store *s = NULL;
	json_t *set, *lim;
	EVP_PKEY *wk = NULL, *rk = NULL;
	X509_REQ *csr;
	X509_CRL *crl = NULL;
	STACK_OF(X509) *roots = NULL, *ch = NULL;
	STACK_OF(X509_REVOKED) *revs;
	uint8_t *der = NULL, *spki = NULL;
	const uint8_t *p;
	size_t len = 0, spkilen = 0, n = 0;
	struct cadb_conn rec;
	int r;

	memset(&res, 0, sizeof(res));
	memset(&res2, 0, sizeof(res2));
	if (sodium_init() < 0 || th_softhsm_token(&uri, &pin) != 0) {
		th_check(0, "local CA: SoftHSM test token", "not created");
		return th_done();
	}
	dir = th_tmpdir();
	snprintf(path, sizeof(path), "%s/store", dir);
	if (hsm_open(uri, NULL, pin, 2, &h) != 0 ||
	    store_open(path, 0, 1, &s) != 0) {
		th_check(0, "local CA: token and store open", "failed");
		return th_done();
	}
	memset(&env, 0, sizeof(env));
	env.h = h;
	env.s = s;
	env.token_pin = pin;
	env.public_url = "https://ca.example:8443";
	r = ca_conns_new(&env, &cs);
	TH_EQ_INT(r, 0, "local CA: empty registry builds");

	/* root and intermediate */
	set = json_pack("{s:s, s:{s:s}, s:s}", "subject", "CN=Test Root,O=Capstone",
	    "key", "type", "ec-p256", "validity", "3650d");
	r = ca_conns_add(cs, "root", "local", set, NULL, err, sizeof(err));
	th_check(r == 0, "local CA: root created", "got %d %s", r, err);
	json_decref(set);
	set = json_pack("{s:s, s:{s:s}, s:s}", "subject", "CN=Test Inter",
	    "key", "type", "ec-p384", "parent", "root");
	lim = json_pack("{s:i, s:i}", "rate", 5, "max_in_flight", 2);
	r = ca_conns_add(cs, "inter", "local", set, lim, err, sizeof(err));
	json_decref(lim);
	th_check(r == 0, "local CA: intermediate created under the root",
	    "got %d %s", r, err);
	r = ca_conns_add(cs, "inter", "local", set, NULL, err, sizeof(err));
	TH_EQ_INT(r, CAP_ERR_EXISTS, "local CA: a taken name is refused");
	json_decref(set);
	set = json_pack("{s:s, s:s}", "subject", "CN=x", "parent", "nosuch");
	r = ca_conns_add(cs, "orphan", "local", set, NULL, err, sizeof(err));
	TH_EQ_INT(r, CAP_ERR_INVALID, "local CA: unknown parent is refused");
	json_decref(set);
	set = json_pack("{s:s, s:s}", "url", "http://x", "pbm_secret", "hunter2");
	r = ca_conns_add(cs, "leaky", "local", set, NULL, err, sizeof(err));
	th_check(r == CAP_ERR_INVALID && strstr(err, "hunter2") == NULL,
	    "local CA: settings with a literal secret are refused",
	    "got %d %s", r, err);
	json_decref(set);

	if (ca_conns_get(cs, "root", &root) != 0 ||
	    ca_conns_get(cs, "inter", &inter) != 0) {
		th_check(0, "local CA: lookup", "root or inter missing");
		goto out;
	}
	TH_EQ_INT((long long)(ca_conn_limits(inter)->rate * 10), 50,
	    "local CA: limits parsed");
	TH_EQ_INT(ca_conn_limits(inter)->max_in_flight, 2,
	    "local CA: max_in_flight parsed");
	ops = ca_conn_ops(inter);
	r = ops->chain(ca_conn_state(inter), &ch);
	th_check(r == 0 && sk_X509_num(ch) == 2,
	    "local CA: intermediate chain is itself then the root",
	    "got %d, %d certificates", r, ch ? sk_X509_num(ch) : -1);
	roots = sk_X509_new_null();
	sk_X509_push(roots, sk_X509_value(ch, 1));
	X509_up_ref(sk_X509_value(ch, 1));
	snprintf(path, sizeof(path), "%s/root.pem", dir);
	write_pem(path, sk_X509_value(ch, 1));
	snprintf(path, sizeof(path), "%s/inter.pem", dir);
	write_pem(path, sk_X509_value(ch, 0));

	/* each profile */
	wk = EVP_EC_gen("P-256");
	rk = EVP_RSA_gen(2048);
	{
		static const struct { const char *prof; int nid; } pr[] = {
			{ NULL, NID_server_auth }, { "tls", NID_client_auth },
			{ "tls-server", NID_server_auth },
			{ "tls-client", NID_client_auth },
			{ "code-signing", NID_code_sign },
		};
		size_t i;
		char tn[128];

		for (i = 0; i < sizeof(pr) / sizeof(pr[0]); i++) {
			int code = pr[i].nid == NID_code_sign;

			csr = make_csr(i == 2 ? rk : wk, "svc.example", code ?
			    NULL : "DNS:svc.example,IP:10.0.0.1", 0);
			memset(&req, 0, sizeof(req));
			req.csr = csr;
			req.profile = pr[i].prof;
			r = ops->enroll(ca_conn_state(inter), &req, &res);
			snprintf(tn, sizeof(tn), "local CA: profile %s issues "
			    "with its EKU", pr[i].prof ? pr[i].prof : "(default)");
			th_check(r == 0 && res.status == CA_ISSUED &&
			    has_eku(res.cert, pr[i].nid), tn, "got %d %s", r,
			    res.reason);
			if (r == 0 && i == 0) {
				int ca_flag = X509_check_ca(res.cert);

				th_check(ca_flag == 0 && X509_get_ext_by_NID(
				    res.cert, NID_subject_alt_name, -1) >= 0 &&
				    X509_get_ext_by_NID(res.cert,
				    NID_crl_distribution_points, -1) >= 0 &&
				    X509_get_ext_by_NID(res.cert, NID_info_access,
				    -1) >= 0 && ASN1_STRING_length(
				    X509_get0_serialNumber(res.cert)) == 16,
				    "local CA: leaf is CA:FALSE with SANs, CRL DP, "
				    "AIA and a 128-bit serial", "missing");
				if (chain_spki_der(res.cert, &spki, &spkilen) != 0)
					spki = NULL;
				r = chain_validate(res.cert, res.chain, roots,
				    spki, spkilen, time(NULL), reason,
				    sizeof(reason));
				th_check(r == 0, "local CA: issued chain passes "
				    "chain_validate", "got %d %s", r, reason);
				free(spki);
				spki = NULL;
				snprintf(path, sizeof(path), "%s/leaf.pem", dir);
				write_pem(path, res.cert);
				snprintf(cmd, sizeof(cmd), "openssl verify "
				    "-CAfile %s/root.pem -untrusted %s/inter.pem "
				    "%s/leaf.pem >/dev/null 2>&1", dir, dir, dir);
				th_check(system(cmd) == 0, "local CA: openssl "
				    "verify accepts root, intermediate, leaf",
				    "exit non-zero");
				res2 = res;
				memset(&res, 0, sizeof(res));
			}
			X509_REQ_free(csr);
			ca_result_clear(&res);
		}
	}

	/* refusals */
	csr = make_csr(wk, "svc", "DNS:svc.example", 1);
	memset(&req, 0, sizeof(req));
	req.csr = csr;
	r = ops->enroll(ca_conn_state(inter), &req, &res);
	th_check(r == CAP_ERR_DENIED && res.status == CA_REJECTED,
	    "local CA: a CSR whose signature fails is refused", "got %d", r);
	ca_result_clear(&res);
	X509_REQ_free(csr);
	csr = make_csr(wk, "svc", "DNS:svc.example", 0);
	req.csr = csr;
	req.profile = "code-signing";
	r = ops->enroll(ca_conn_state(inter), &req, &res);
	TH_EQ_INT(r, CAP_ERR_DENIED, "local CA: code-signing takes no SANs");
	ca_result_clear(&res);
	req.profile = "nosuch";
	r = ops->enroll(ca_conn_state(inter), &req, &res);
	TH_EQ_INT(r, CAP_ERR_DENIED, "local CA: unknown profile is refused");
	ca_result_clear(&res);
	X509_REQ_free(csr);
	csr = make_csr(wk, "svc", "DNS:svc.example", 2);
	req.csr = csr;
	req.profile = NULL;
	r = ops->enroll(ca_conn_state(inter), &req, &res);
	th_check(r == CAP_ERR_DENIED && res.cert == NULL,
	    "local CA: a CSR with two subjectAltName extensions is refused",
	    "got %d", r);
	ca_result_clear(&res);
	X509_REQ_free(csr);

	/* revoke, CRL, OCSP */
	if (res2.cert != NULL) {
		r = ocsp_says(ops, ca_conn_state(inter), res2.cert,
		    sk_X509_value(ch, 0), sk_X509_value(ch, 1));
		TH_EQ_INT(r, V_OCSP_CERTSTATUS_GOOD,
		    "local CA: OCSP says good before revocation");
		r = ops->revoke(ca_conn_state(inter), res2.cert,
		    1, err, sizeof(err));
		th_check(r == 0, "local CA: revoke", "got %d %s", r, err);
		r = ops->revoke(ca_conn_state(inter), res2.cert, 1, err,
		    sizeof(err));
		TH_EQ_INT(r, CAP_ERR_CONFLICT,
		    "local CA: revoking twice is a conflict");
		r = ops->crl(ca_conn_state(inter), &der, &len);
		p = der;
		if (r == 0)
			crl = d2i_X509_CRL(NULL, &p, (long)len);
		revs = crl ? X509_CRL_get_REVOKED(crl) : NULL;
		th_check(crl != NULL && sk_X509_REVOKED_num(revs) == 1 &&
		    ASN1_INTEGER_cmp(X509_REVOKED_get0_serialNumber(
		    sk_X509_REVOKED_value(revs, 0)),
		    X509_get0_serialNumber(res2.cert)) == 0 &&
		    X509_CRL_verify(crl, X509_get0_pubkey(sk_X509_value(ch,
		    0))) == 1, "local CA: the CRL lists the serial and "
		    "verifies under the CA key", "got %d", r);
		X509_CRL_free(crl);
		free(der);
		r = ocsp_says(ops, ca_conn_state(inter), res2.cert,
		    sk_X509_value(ch, 0), sk_X509_value(ch, 1));
		TH_EQ_INT(r, V_OCSP_CERTSTATUS_REVOKED,
		    "local CA: OCSP says revoked");
	}
	ca_result_clear(&res2);

	/* restart: both CAs come back from the store */
	ca_conn_release(root);
	ca_conn_release(inter);
	root = inter = NULL;
	ca_conns_free(cs);
	cs = NULL;
	r = ca_conns_new(&env, &cs);
	if (r == 0)
		r = ca_conns_list(cs, &list, &n);
	th_check(r == 0 && n == 2 && strcmp(list[0].name, "inter") == 0 &&
	    strcmp(list[1].protocol, "local") == 0,
	    "local CA: root and intermediate reload after a restart",
	    "got %d, %zu connectors", r, n);
	free(list);
	if (ca_conns_get(cs, "inter", &inter) == 0) {
		csr = make_csr(wk, "again", NULL, 0);
		memset(&req, 0, sizeof(req));
		req.csr = csr;
		r = ops->enroll(ca_conn_state(inter), &req, &res);
		TH_EQ_INT(r, 0, "local CA: reloaded intermediate issues");
		ca_result_clear(&res);
		X509_REQ_free(csr);
	}
	r = ca_conns_remove(cs, "inter");
	TH_EQ_INT(r, 0, "local CA: remove while referenced");
	TH_EQ_INT(ca_conns_get(cs, "inter", &root), CAP_ERR_NOT_FOUND,
	    "local CA: removed connector is gone");
	ca_conn_release(inter);
	inter = NULL;
	r = cadb_conn_get(s, "inter", &(struct cadb_conn *){ NULL });
	TH_EQ_INT(r, CAP_ERR_NOT_FOUND, "local CA: removed from the store");

	/* connector records refuse literal secrets */
	memset(&rec, 0, sizeof(rec));
	strcpy(rec.name, "cmp1");
	strcpy(rec.protocol, "cmp");
	rec.settings = "{\"url\":\"http://x\",\"pbm_secret\":\"s3cret\"}";
	TH_EQ_INT(cadb_conn_put(s, &rec, 1), CAP_ERR_INVALID,
	    "cadb: a literal secret is not stored");
	rec.settings = "{\"url\":\"http://x\",\"pbm_secret\":\"vault:_ca/cmp1#pbm\"}";
	TH_EQ_INT(cadb_conn_put(s, &rec, 1), 0,
	    "cadb: a vault reference is stored");
 out:
	sk_X509_pop_free(roots, X509_free);
	sk_X509_pop_free(ch, X509_free);
	EVP_PKEY_free(wk);
	EVP_PKEY_free(rk);
	ca_conn_release(root);
	ca_conn_release(inter);
	ca_conns_free(cs);
	store_free(s);
	hsm_free(h);
	return th_done();
}
