/*
 * test_scep.c - the SCEP connector against Debian's scepserver (micromdm)
 * with request keys in a fresh SoftHSM token: enrollment with a
 * challenge, the CA fingerprint pin, renewal signed by the old pair, a
 * wrong challenge refused with a clear reason, non-RSA keys refused, an
 * unreachable CA; and the CertRep parser on hostile input.
 *
 * The live part is skipped (with an "ok - ... skipped" line) when
 * scepserver is not installed.
 */
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ca/ca.h"
#include "common/err.h"
#include "hsm/hsm.h"
#include "tests/unit/harness.h"

#define MODULE	"/usr/lib/softhsm/libsofthsm2.so"
#define SCEPSERVER "/usr/bin/scepserver"

extern const struct ca_ops ca_scep_ops;

int scep_certrep_parse(const uint8_t *der, size_t len,
    STACK_OF(X509) *ca_certs, const char *tid, const uint8_t nonce[16],
    int *status, char *reason, size_t reasonlen, uint8_t **env,
    size_t *envlen);

static const char *turi, *tpin;
static hsm *h;
static struct ca_env env;
static pid_t server_pid = -1;

static int
free_port(void)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd, port = -1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static int
port_open(int port)
{
	struct sockaddr_in sa;
	int fd, ok;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

static int
run(const char *const argv[], const char *logpath)
{
	pid_t pid;
	int st;

	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		if (logpath != NULL && (freopen(logpath, "a", stdout) ==
		    NULL || freopen(logpath, "a", stderr) == NULL))
			_exit(126);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
stop_server(void)
{
	int st;

	if (server_pid > 0) {
		kill(server_pid, SIGTERM);
		waitpid(server_pid, &st, 0);
		server_pid = -1;
	}
}

/* Starts scepserver on a free port; returns the port or -1. */
static int
start_server(const char *dir, const char *challenge)
{
	char depot[512], logp[512], portstr[16];
	const char *init[] = { SCEPSERVER, "ca", "-init", "-depot", depot,
	    "-keySize", "2048", NULL };
	int port, i;

	snprintf(depot, sizeof(depot), "%s/depot", dir);
	snprintf(logp, sizeof(logp), "%s/scepserver.log", dir);
	if (access(depot, F_OK) != 0 && run(init, logp) != 0)
		return -1;
	if ((port = free_port()) < 0)
		return -1;
	snprintf(portstr, sizeof(portstr), "%d", port);
	if ((server_pid = fork()) < 0)
		return -1;
	if (server_pid == 0) {
		if (freopen(logp, "a", stdout) == NULL ||
		    freopen(logp, "a", stderr) == NULL)
			_exit(126);
		execl(SCEPSERVER, SCEPSERVER, "-depot", depot, "-port",
		    portstr, "-challenge", challenge, "-allowrenew", "0",
		    (char *)NULL);
		_exit(127);
	}
	/* Poll the port with a 10 s deadline. */
	for (i = 0; i < 200; i++) {
		if (port_open(port))
			return port;
		usleep(50000);
	}
	stop_server();
	return -1;
}

/* A token key and a CSR signed by it through the engine. */
static int
token_key(hsm_key_type type, const char *cn, char **kuri, X509_REQ **csrp)
{
	uint8_t id[16];
	hsm_obj priv = 0, pub = 0;
	EVP_PKEY *pk = NULL;
	X509_REQ *csr = NULL;
	X509_NAME *nm;
	int r = -1;

	*kuri = NULL;
	*csrp = NULL;
	if (hsm_random(h, id, sizeof(id)) != 0 ||
	    hsm_key_generate(h, type, cn, id, sizeof(id), 1, &priv, &pub) != 0 ||
	    hsm_key_uri(h, priv, kuri) != 0 ||
	    hsm_evp_pkey_load(*kuri, MODULE, tpin, &pk) != 0)
		goto out;
	if ((csr = X509_REQ_new()) == NULL ||
	    (nm = X509_REQ_get_subject_name(csr)) == NULL ||
	    !X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0) ||
	    !X509_REQ_set_pubkey(csr, pk) ||
	    X509_REQ_sign(csr, pk, EVP_sha256()) <= 0)
		goto out;
	*csrp = csr;
	csr = NULL;
	r = 0;
 out:
	EVP_PKEY_free(pk);
	X509_REQ_free(csr);
	return r;
}

static void *
make(const char *url, const char *challenge, const char *fp, int want,
    const char *name)
{
	json_t *j;
	void *st = NULL;
	char err[256] = "";
	int r;

	j = json_pack("{s:s}", "url", url);
	if (challenge != NULL)
		json_object_set_new(j, "challenge", json_string(challenge));
	if (fp != NULL)
		json_object_set_new(j, "ca_fingerprint", json_string(fp));
	r = ca_scep_ops.create("scep-test", j, &env, &st, err, sizeof(err));
	json_decref(j);
	TH_EQ_INT(r, want, name);
	return st;
}

static void
test_offline(void)
{
	void *st;
	json_t *d;
	char *s;
	int status;
	uint8_t nonce[16] = { 0 }, *e = NULL, junk[64];
	size_t el;
	char reason[256];

	st = make("ftp://x/", "a", NULL, CAP_ERR_INVALID,
	    "create: a non-HTTP URL is refused");
	ca_scep_ops.destroy(st);
	st = make("http://127.0.0.1:1/scep", "a", "00ff", CAP_ERR_INVALID,
	    "create: a short ca_fingerprint is refused");
	ca_scep_ops.destroy(st);
	st = make("http://127.0.0.1:1/scep", "hunter2-challenge", NULL, 0,
	    "create: url and challenge accepted");
	if (st != NULL) {
		d = json_object();
		TH_EQ_INT(ca_scep_ops.describe(st, d), 0, "describe works");
		s = json_dumps(d, 0);
		th_check(s != NULL && strstr(s, "hunter2") == NULL &&
		    strstr(s, "\"challenge_set\": true") != NULL,
		    "describe says a challenge is set without showing it",
		    "got %s", s != NULL ? s : "(null)");
		free(s);
		json_decref(d);
		ca_scep_ops.destroy(st);
	}
	memset(junk, 0x30, sizeof(junk));
	TH_EQ_INT(scep_certrep_parse(junk, sizeof(junk), NULL, "x", nonce,
	    &status, reason, sizeof(reason), &e, &el), CAP_ERR_CRYPTO,
	    "certrep: garbage is refused");
	th_check(e == NULL, "certrep: nothing returned on failure", "got");
}

static int
same_key(X509 *c, X509_REQ *q)
{
	return c != NULL && EVP_PKEY_eq(X509_get0_pubkey(c),
	    X509_REQ_get0_pubkey(q)) == 1;
}

static void
test_live(const char *dir)
{
	char url[128], fp[65], capath[512], *k1 = NULL, *k2 = NULL,
	    *k3 = NULL;
	X509_REQ *q1 = NULL, *q2 = NULL, *q3 = NULL;
	X509 *cacert = NULL, *old = NULL;
	STACK_OF(X509) *chain = NULL;
	struct ca_result res;
	struct ca_request req;
	uint8_t md[32];
	unsigned mdlen, i;
	FILE *f;
	void *st = NULL;
	int port, r;

	memset(&res, 0, sizeof(res));
	if ((port = start_server(dir, "s3cret-challenge")) < 0) {
		th_check(0, "scepserver starts", "it did not listen within "
		    "10 s; see %s/scepserver.log", dir);
		return;
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/scep", port);
	snprintf(capath, sizeof(capath), "%s/depot/ca.pem", dir);
	if ((f = fopen(capath, "r")) != NULL) {
		cacert = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (!th_check(cacert != NULL, "scepserver CA certificate readable",
	    "cannot read %s", capath))
		goto out;
	X509_digest(cacert, EVP_sha256(), md, &mdlen);
	for (i = 0; i < 32; i++)
		snprintf(fp + 2 * i, 3, "%02x", md[i]);

	if (!th_check(token_key(HSM_KEY_RSA_2048, "scep-one", &k1, &q1) == 0,
	    "RSA request key in the token and a CSR", "failed"))
		goto out;
	st = make(url, "s3cret-challenge", fp, 0, "create with a pinned CA");
	if (st == NULL)
		goto out;

	TH_EQ_INT(ca_scep_ops.chain(st, &chain), 0, "GetCACert: chain");
	th_check(sk_X509_num(chain) == 1 &&
	    X509_cmp(sk_X509_value(chain, 0), cacert) == 0,
	    "GetCACert gives the scepserver CA", "got %d certificates",
	    sk_X509_num(chain));

	memset(&req, 0, sizeof(req));
	req.csr = q1;
	req.key_uri = k1;
	r = ca_scep_ops.enroll(st, &req, &res);
	TH_EQ_INT(r, 0, "PKCSReq with the challenge succeeds");
	if (r != 0)
		printf("# reason: %s\n", res.reason);
	th_check(res.status == CA_ISSUED && same_key(res.cert, q1),
	    "PKCSReq: the certificate is for the token key",
	    "status %d", (int)res.status);
	th_check(res.cert != NULL && X509_verify(res.cert,
	    X509_get0_pubkey(cacert)) == 1, "PKCSReq: the certificate is "
	    "signed by the SCEP CA", "it is not");
	th_check(sk_X509_num(res.chain) == 1 &&
	    X509_cmp(sk_X509_value(res.chain, 0), cacert) == 0,
	    "PKCSReq: the chain is the CA", "got %d certificates",
	    sk_X509_num(res.chain));
	old = res.cert;
	res.cert = NULL;
	ca_result_clear(&res);

	/* Renewal with a new key, signed by the old certificate's pair. */
	if (old != NULL && token_key(HSM_KEY_RSA_2048, "scep-one", &k2,
	    &q2) == 0) {
		memset(&req, 0, sizeof(req));
		req.csr = q2;
		req.key_uri = k2;
		req.old_cert = old;
		req.old_key_uri = k1;
		r = ca_scep_ops.renew(st, &req, &res);
		TH_EQ_INT(r, 0, "renewal (RenewalReq) succeeds");
		if (r != 0)
			printf("# reason: %s\n", res.reason);
		th_check(res.status == CA_ISSUED && same_key(res.cert, q2) &&
		    X509_cmp(res.cert, old) != 0,
		    "renewal: a new certificate for the new key", "no");
		ca_result_clear(&res);
	}

	/* An EC key cannot open the CA's envelope. */
	if (token_key(HSM_KEY_EC_P256, "scep-ec", &k3, &q3) == 0) {
		memset(&req, 0, sizeof(req));
		req.csr = q3;
		req.key_uri = k3;
		TH_EQ_INT(ca_scep_ops.enroll(st, &req, &res), CAP_ERR_INVALID,
		    "an EC request key is refused");
		th_check(strstr(res.reason, "RSA") != NULL,
		    "the refusal says SCEP needs RSA", "got '%s'",
		    res.reason);
		ca_result_clear(&res);
	}
	ca_scep_ops.destroy(st);

	/* Wrong challenge: the CA refuses; the reason says why. */
	st = make(url, "not-the-challenge", NULL, 0, "create with a wrong "
	    "challenge");
	if (st != NULL) {
		memset(&req, 0, sizeof(req));
		req.csr = q1;
		req.key_uri = k1;
		TH_EQ_INT(ca_scep_ops.enroll(st, &req, &res), CAP_ERR_DENIED,
		    "a wrong challenge gives CAP_ERR_DENIED");
		th_check(res.status == CA_REJECTED && res.cert == NULL &&
		    strstr(res.reason, "badRequest") != NULL &&
		    strstr(res.reason, "not-the-challenge") == NULL,
		    "wrong challenge: rejected with failInfo badRequest",
		    "status %d reason '%s'", (int)res.status, res.reason);
		ca_result_clear(&res);
		ca_scep_ops.destroy(st);
	}

	/* A pin that matches nothing: refused before any request. */
	st = make(url, "s3cret-challenge", "00112233445566778899aabbccddeeff"
	    "00112233445566778899aabbccddeeff", 0, "create with a wrong pin");
	if (st != NULL) {
		memset(&req, 0, sizeof(req));
		req.csr = q1;
		req.key_uri = k1;
		TH_EQ_INT(ca_scep_ops.enroll(st, &req, &res), CAP_ERR_CRYPTO,
		    "a CA that does not match ca_fingerprint is refused");
		ca_result_clear(&res);
		ca_scep_ops.destroy(st);
	}
	stop_server();

	/* The CA gone: unavailable, so the caller may retry. */
	st = make(url, "s3cret-challenge", NULL, 0, "create for a stopped "
	    "CA");
	if (st != NULL) {
		memset(&req, 0, sizeof(req));
		req.csr = q1;
		req.key_uri = k1;
		TH_EQ_INT(ca_scep_ops.enroll(st, &req, &res),
		    CAP_ERR_UNAVAILABLE, "a stopped CA gives "
		    "CAP_ERR_UNAVAILABLE");
		ca_result_clear(&res);
		ca_scep_ops.destroy(st);
	}
	st = NULL;
 out:
	stop_server();
	sk_X509_pop_free(chain, X509_free);
	X509_free(cacert);
	X509_free(old);
	X509_REQ_free(q1);
	X509_REQ_free(q2);
	X509_REQ_free(q3);
	free(k1);
	free(k2);
	free(k3);
}

int
main(void)
{
	const char *dir;

	test_offline();
	if (access(SCEPSERVER, X_OK) != 0) {
		th_check(1, "scepserver not installed: live SCEP skipped", " ");
		return th_done();
	}
	if (th_softhsm_token(&turi, &tpin) != 0 ||
	    hsm_open(turi, MODULE, tpin, 2, &h) != 0) {
		th_check(0, "SoftHSM token", "cannot open a test token");
		return th_done();
	}
	env.h = h;
	env.token_module = MODULE;
	env.token_pin = tpin;
	dir = th_tmpdir();
	test_live(dir);
	hsm_free(h);
	return th_done();
}
