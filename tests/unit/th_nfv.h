/*
 * th_nfv.h - the fixture of the CMF's unit tests: a SoftHSM token with a
 * master key, a store, a vault, a local CA connector "op", certsvc and a
 * CMF over them.  The functions are static here, not in a .c of
 * tests/unit: every such file is linked into every unit test, and this
 * one would pull the CA's HTTP client into test_cli_client, which builds
 * its own.  Include it in one file per test.
 */
#ifndef CAP_TEST_TH_NFV_H
#define CAP_TEST_TH_NFV_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "ca/certsvc.h"
#include "ca/conns.h"
#include "crypto/envelope.h"
#include "crypto/vault.h"
#include "hsm/hsm.h"
#include "nfv/cmf.h"
#include "store/store.h"
#include "tests/unit/harness.h"

struct th_nfv {
	hsm		*h;
	store		*s;
	envelope	*env;
	vault		*v;
	ca_conns	*cs;
	certsvc		*svc;
	cmf		*c;
};

/* One check named "<tag>: <what>"; 0 when ok, else -1. */
static int
th_nfv_step(int ok, const char *tag, const char *what, const char *why)
{
	char name[128];

	snprintf(name, sizeof(name), "%s: %s", tag, what);
	return th_check(ok, name, "%s", why) ? 0 : -1;
}

/*
 * th_nfv_open sets f up, the store in th_tmpdir()/<tag> and the CA's
 * subject "CN=<cn>"; each step is a check named "<tag>: ...".  Returns 0,
 * or -1 after a failed check (th_nfv_close still releases what was made).
 */
static int
th_nfv_open(struct th_nfv *f, const char *tag, const char *cn)
{
	const char *uri = NULL, *pin = NULL;
	char path[512], subject[128], err[256] = "", why[300];
	hsm_mk_kind kind = HSM_MK_NONE;
	struct ca_env cae;
	struct cmf_env ce;
	json_t *set;
	int r;

	memset(f, 0, sizeof(*f));
	if (th_nfv_step(th_softhsm_token(&uri, &pin) == 0, tag, "SoftHSM token",
	    "could not create a token") != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/%s", th_tmpdir(), tag);
	if (hsm_open(uri, NULL, pin, 4, &f->h) != 0 ||
	    hsm_mk_init(f->h, &kind) != 0 ||
	    store_open(path, 0, 1, &f->s) != 0 ||
	    envelope_new(f->h, SEAL_MEMORY, &f->env) != 0 ||
	    vault_new(f->env, f->s, &f->v) != 0)
		return th_nfv_step(0, tag, "token, store and vault", "failed");
	memset(&cae, 0, sizeof(cae));
	cae.h = f->h;
	cae.s = f->s;
	cae.v = f->v;
	cae.token_pin = pin;
	if (ca_conns_new(&cae, &f->cs) != 0)
		return th_nfv_step(0, tag, "CA registry", "failed");
	snprintf(subject, sizeof(subject), "CN=%s", cn);
	set = json_pack("{s:s, s:{s:s}, s:s}", "subject", subject,
	    "key", "type", "ec-p256", "validity", "3650d");
	r = ca_conns_add(f->cs, "op", "local", set, NULL, err, sizeof(err));
	json_decref(set);
	snprintf(why, sizeof(why), "got %d %s", r, err);
	if (th_nfv_step(r == 0, tag, "local CA op", why) != 0)
		return -1;
	if (certsvc_new(f->h, f->s, certsvc_conns_lookup, f->cs,
	    &f->svc) != 0)
		return th_nfv_step(0, tag, "certsvc", "failed");
	memset(&ce, 0, sizeof(ce));
	ce.h = f->h;
	ce.s = f->s;
	ce.v = f->v;
	ce.certs = f->svc;
	ce.conns = f->cs;
	r = cmf_new(&ce, &f->c);
	snprintf(why, sizeof(why), "got %d", r);
	return th_nfv_step(r == 0, tag, "CMF created", why);
}

/* th_nfv_close frees what f holds, the CMF first. */
static void
th_nfv_close(struct th_nfv *f)
{
	cmf_free(f->c);
	certsvc_free(f->svc);
	ca_conns_free(f->cs);
	vault_free(f->v);
	envelope_free(f->env);
	store_free(f->s);
	hsm_free(f->h);
	memset(f, 0, sizeof(*f));
}

/* 1 when the CRL of CA connector "op" lists serial. */
static __attribute__((unused)) int
th_nfv_on_crl(const struct th_nfv *f, const ASN1_INTEGER *serial)
{
	struct certsvc_ca ca;
	X509_CRL *crl = NULL;
	X509_REVOKED *rev;
	const unsigned char *p;
	uint8_t *der = NULL;
	size_t len = 0;
	int found = 0;

	memset(&ca, 0, sizeof(ca));
	if (certsvc_conns_lookup(f->cs, "op", &ca) != 0)
		return 0;
	if (ca.ops->crl != NULL && ca.ops->crl(ca.state, &der, &len) == 0) {
		p = der;
		if ((crl = d2i_X509_CRL(NULL, &p, (long)len)) != NULL)
			found = X509_CRL_get0_by_serial(crl, &rev,
			    (ASN1_INTEGER *)serial) == 1;
	}
	X509_CRL_free(crl);
	free(der);
	if (ca.release != NULL)
		ca.release(ca.ref);
	return found;
}

#endif
