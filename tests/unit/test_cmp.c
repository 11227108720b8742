/*
 * test_cmp.c - the CMP connector (ca/cmp.c) against `openssl cmp` running
 * as a mock CA on loopback, with every client key in a fresh SoftHSM
 * token: ir under MAC and under signature protection, cr, p10cr, kur and
 * its fall back to cr, rr, genm, polling, an injected rejection, a
 * certificate for another key refused in certConf, an unreachable CA.
 *
 * The mock always answers with its fixed -rsp_cert, so the test mints that
 * certificate first from the token key with a software test CA.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "ca/ca.h"
#include "common/err.h"
#include "common/util.h"
#include "hsm/hsm.h"
#include "tests/unit/harness.h"

#define MODULE	"/usr/lib/softhsm/libsofthsm2.so"
#define REF	"capstone-ref"
#define SECRET	"mock-pbm-secret-7f3a"

extern char **environ;
extern const struct ca_ops ca_cmp_ops;

const char *__lsan_default_suppressions(void);
const char *__asan_default_options(void);

const char *
__lsan_default_suppressions(void)
{
	/* SoftHSM and the libp11 engine keep a few bytes to process exit. */
	return "leak:libsofthsm2.so\nleak:libp11.so\nleak:pkcs11.so\n";
}

const char *
__asan_default_options(void)
{
	return "fast_unwind_on_malloc=0";
}

struct tkey {
	char	 *uri;
	char	  hexid[33];
	EVP_PKEY *pub;		/* software copy of the public half */
};

static hsm *h;
static const char *pin;
static const char *dir;
static EVP_PKEY *ca_key, *srv_key, *other_key;
static X509 *ca_cert, *srv_cert;

/* ---- test PKI ---- */

static EVP_PKEY *
sw_key(void)
{
	return EVP_EC_gen("P-256");
}

static int
add_ext(X509 *x, X509 *issuer, int nid, const char *val)
{
	X509V3_CTX v3;
	X509_EXTENSION *e;
	int ok;

	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	if ((e = X509V3_EXT_conf_nid(NULL, &v3, nid, val)) == NULL)
		return 0;
	ok = X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok;
}

/* mint issues a certificate; issuer NULL = self-signed. */
static X509 *
mint(const char *cn, EVP_PKEY *pub, X509 *issuer, EVP_PKEY *ikey,
    long from_days, long to_days, int is_ca)
{
	X509 *x;
	X509_NAME *n;
	static long serial = 100;

	if ((x = X509_new()) == NULL || (n = X509_NAME_new()) == NULL)
		return NULL;
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
	X509_NAME_free(n);
	X509_time_adj_ex(X509_getm_notBefore(x), (int)from_days, 0, NULL);
	X509_time_adj_ex(X509_getm_notAfter(x), (int)to_days, 0, NULL);
	X509_set_pubkey(x, pub);
	add_ext(x, issuer ? issuer : x, NID_subject_key_identifier, "hash");
	add_ext(x, issuer ? issuer : x, NID_authority_key_identifier,
	    "keyid:always");
	if (is_ca) {
		add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	}
	if (X509_sign(x, ikey, EVP_sha256()) == 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static const char *
write_pem(const char *name, X509 *x, EVP_PKEY *k)
{
	static char paths[16][256];
	static int n;
	char *p = paths[n++ % 16];
	FILE *f;

	snprintf(p, 256, "%s/%s", dir, name);
	if ((f = fopen(p, "w")) == NULL)
		return NULL;
	if (x != NULL)
		PEM_write_X509(f, x);
	if (k != NULL)
		PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	return p;
}

static char *
pem_string(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *s = NULL;
	long len;

	if (b != NULL && PEM_write_bio_X509(b, x) &&
	    (len = BIO_get_mem_data(b, &data)) > 0 &&
	    (s = malloc((size_t)len + 1)) != NULL) {
		memcpy(s, data, (size_t)len);
		s[len] = '\0';
	}
	BIO_free(b);
	return s;
}

static int
token_key(const char *label, struct tkey *k)
{
	uint8_t id[16], *der = NULL;
	const unsigned char *p;
	size_t derlen = 0;
	hsm_obj priv = 0, pub = 0;

	memset(k, 0, sizeof(*k));
	randombytes_buf(id, sizeof(id));
	sodium_bin2hex(k->hexid, sizeof(k->hexid), id, sizeof(id));
	if (hsm_key_generate(h, HSM_KEY_EC_P256, label, id, sizeof(id), 1,
	    &priv, &pub) != 0 || hsm_key_uri(h, priv, &k->uri) != 0 ||
	    hsm_key_public_der(h, pub, &der, &derlen) != 0)
		return -1;
	p = der;
	k->pub = d2i_PUBKEY(NULL, &p, (long)derlen);
	free(der);
	return k->pub == NULL ? -1 : 0;
}

/* csr_for makes a PKCS#10 request signed by the token key. */
static X509_REQ *
csr_for(const struct tkey *k, const char *cn)
{
	X509_REQ *req = NULL;
	X509_NAME *n;
	EVP_PKEY *pk = NULL;

	if (hsm_evp_pkey_load(k->uri, MODULE, pin, &pk) != 0)
		return NULL;
	if ((req = X509_REQ_new()) == NULL ||
	    (n = X509_REQ_get_subject_name(req)) == NULL ||
	    !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0) ||
	    !X509_REQ_set_pubkey(req, k->pub) ||
	    !X509_REQ_sign(req, pk, EVP_sha256())) {
		X509_REQ_free(req);
		req = NULL;
	}
	EVP_PKEY_free(pk);
	return req;
}

/* ---- the mock CA ---- */

struct mock {
	pid_t	pid;
	int	port;
	char	log[256];
};

static int
free_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd, port = -1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static int
log_has(const struct mock *m, const char *needle)
{
	char buf[65536];
	FILE *f;
	size_t n;

	if ((f = fopen(m->log, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

static void
mock_stop(struct mock *m)
{
	if (m->pid > 0) {
		kill(m->pid, SIGTERM);
		waitpid(m->pid, NULL, 0);
	}
	m->pid = 0;
}

/*
 * mock_start runs `openssl cmp` as a mock server.  mac: answers under PBM
 * with REF/SECRET; otherwise signed with the server key.  extra: more
 * arguments, NULL-terminated.
 */
static int
mock_start(struct mock *m, const char *tag, int mac, const char *rsp_cert,
    const char *const *extra)
{
	const char *argv[48];
	char port[16];
	posix_spawn_file_actions_t fa;
	uint64_t deadline;
	size_t n = 0;
	int status;

	memset(m, 0, sizeof(*m));
	if ((m->port = free_port()) < 0)
		return -1;
	snprintf(port, sizeof(port), "%d", m->port);
	snprintf(m->log, sizeof(m->log), "%s/mock-%s.log", dir, tag);
	argv[n++] = "openssl";
	argv[n++] = "cmp";
	argv[n++] = "-config";
	argv[n++] = "";
	argv[n++] = "-port";
	argv[n++] = port;
	argv[n++] = "-srv_cert";
	argv[n++] = write_pem("srv.pem", srv_cert, NULL);
	argv[n++] = "-srv_trusted";
	argv[n++] = write_pem("ca.pem", ca_cert, NULL);
	if (mac) {
		argv[n++] = "-srv_ref";
		argv[n++] = REF;
		argv[n++] = "-srv_secret";
		argv[n++] = "pass:" SECRET;
	} else {
		argv[n++] = "-srv_key";
		argv[n++] = write_pem("srv.key", NULL, srv_key);
	}
	argv[n++] = "-rsp_cert";
	argv[n++] = rsp_cert;
	argv[n++] = "-rsp_capubs";
	argv[n++] = write_pem("ca.pem", ca_cert, NULL);
	argv[n++] = "-verbosity";	/* logs each message type received */
	argv[n++] = "7";
	while (extra != NULL && *extra != NULL && n < 46)
		argv[n++] = *extra++;
	argv[n] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, m->log,
	    O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	if (posix_spawnp(&m->pid, "openssl", &fa, NULL, (char **)argv,
	    environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	deadline = cap_now_ms() + 5000;
	/*
	 * The mock prints ACCEPT once it listens.  A probe connection would
	 * hold up the single-threaded mock for a second, so the log is read.
	 */
	while (!log_has(m, "ACCEPT")) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		if (cap_now_ms() > deadline ||
		    waitpid(m->pid, &status, WNOHANG) == m->pid) {
			fprintf(stderr, "mock %s did not start\n", tag);
			m->pid = 0;
			return -1;
		}
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* ---- connectors ---- */

static void *
conn_mac(int port, const char *extra_json)
{
	char json[8192], err[256] = "", *ca = pem_string(ca_cert);
	json_t *s, *more;
	struct ca_env env = { .h = h, .token_module = MODULE, .token_pin = pin };
	void *st = NULL;
	int r;

	snprintf(json, sizeof(json), "{\"url\":\"http://127.0.0.1:%d/pkix/\","
	    "\"recipient\":\"CN=Test CA\",\"expected_sender\":\"CN=CMP Server\","
	    "\"timeout\":\"10s\",\"auth\":{\"mode\":\"mac\",\"reference\":\""
	    REF "\",\"secret\":\"" SECRET "\",\"owf\":\"sha256\","
	    "\"mac\":\"hmac-sha256\"}}", port);
	s = json_loads(json, 0, NULL);
	json_object_set_new(s, "trusted", json_string(ca));
	if (extra_json != NULL && (more = json_loads(extra_json, 0, NULL))) {
		json_object_update(s, more);
		json_decref(more);
	}
	r = ca_cmp_ops.create("mock-mac", s, &env, &st, err, sizeof(err));
	if (r != 0)
		fprintf(stderr, "create: %s\n", err);
	json_decref(s);
	free(ca);
	return st;
}

static void *
conn_sig(int port, const struct tkey *prot, X509 *prot_cert,
    const char *extra_json)
{
	char json[4096], err[256] = "", *ca = pem_string(ca_cert),
	    *pc = pem_string(prot_cert);
	json_t *s, *more;
	struct ca_env env = { .h = h, .token_module = MODULE, .token_pin = pin };
	void *st = NULL;

	snprintf(json, sizeof(json), "{\"url\":\"http://127.0.0.1:%d/pkix/\","
	    "\"recipient\":\"CN=Test CA\",\"expected_sender\":\"CN=CMP Server\","
	    "\"timeout\":\"10s\",\"auth\":{\"mode\":\"signature\","
	    "\"key_id\":\"%s\"}}", port, prot->hexid);
	s = json_loads(json, 0, NULL);
	json_object_set_new(s, "trusted", json_string(ca));
	json_object_set_new(json_object_get(s, "auth"), "certificate",
	    json_string(pc));
	if (extra_json != NULL && (more = json_loads(extra_json, 0, NULL))) {
		json_object_update(s, more);
		json_decref(more);
	}
	if (ca_cmp_ops.create("mock-sig", s, &env, &st, err, sizeof(err)) != 0)
		fprintf(stderr, "create: %s\n", err);
	json_decref(s);
	free(ca);
	free(pc);
	return st;
}

static int
issued_for(const struct ca_result *res, X509 *want, const struct tkey *k)
{
	return res->status == CA_ISSUED && res->cert != NULL &&
	    X509_cmp(res->cert, want) == 0 &&
	    EVP_PKEY_eq(X509_get0_pubkey(res->cert), k->pub) == 1;
}

static int
chain_is_ca(const struct ca_result *res)
{
	return res->chain != NULL && sk_X509_num(res->chain) >= 1 &&
	    X509_cmp(sk_X509_value(res->chain, 0), ca_cert) == 0;
}

/* ---- tests ---- */

static void
test_settings(void)
{
	struct ca_env env = { .h = h, .token_module = MODULE, .token_pin = pin };
	const char *bad[] = {
		"{}",
		"{\"url\":\"http://127.0.0.1:1/\"}",
		/* TLS trust without https, and https trusting nothing */
		"{\"url\":\"http://127.0.0.1:1/\",\"tls_trusted\":\"x\","
		    "\"auth\":{\"mode\":\"mac\",\"reference\":\"r\","
		    "\"secret\":\"s\"}}",
		"{\"url\":\"https://127.0.0.1:1/\",\"tls_trusted\":\"x\","
		    "\"auth\":{\"mode\":\"mac\",\"reference\":\"r\","
		    "\"secret\":\"s\"}}",
		"{\"url\":\"http://127.0.0.1:1/\",\"auth\":{\"mode\":\"mac\","
		    "\"reference\":\"r\"}}",
		"{\"url\":\"http://127.0.0.1:1/\",\"dialect\":\"acme\","
		    "\"auth\":{\"mode\":\"mac\",\"reference\":\"r\","
		    "\"secret\":\"s\"}}",
		"{\"url\":\"http://127.0.0.1:1/\",\"auth\":{\"mode\":\"mac\","
		    "\"reference\":\"r\",\"secret\":\"s\",\"mac\":\"md5\"}}",
		"{\"url\":\"http://127.0.0.1:1/\",\"recipient\":\"nodn\","
		    "\"auth\":{\"mode\":\"mac\",\"reference\":\"r\","
		    "\"secret\":\"s\"}}",
		"{\"url\":\"http://127.0.0.1:1/\",\"auth\":{\"mode\":"
		    "\"signature\",\"key_id\":\"00112233445566778899aabbccddeeff\","
		    "\"certificate\":\"x\"}}",
	};
	char err[256];
	void *st;
	size_t i;
	int ok = 1;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *s = json_loads(bad[i], 0, NULL);

		err[0] = '\0';
		st = NULL;
		if (ca_cmp_ops.create("bad", s, &env, &st, err,
		    sizeof(err)) != CAP_ERR_INVALID || st != NULL ||
		    err[0] == '\0') {
			fprintf(stderr, "accepted or unexplained: %s\n", bad[i]);
			ok = 0;
		}
		ca_cmp_ops.destroy(st);
		json_decref(s);
	}
	th_check(ok, "cmp: bad settings are refused with a reason",
	    "a bad setting was accepted");
	th_check(ca_ops_find("cmp") == &ca_cmp_ops,
	    "cmp: the registry finds the cmp connector", "not registered");
}

static void
test_mac(X509 *e1, const struct tkey *k1, X509_REQ *csr1)
{
	struct mock m;
	struct ca_request req = { .csr = csr1, .key_uri = k1->uri };
	struct ca_result res;
	STACK_OF(X509) *cas = NULL;
	void *st = NULL, *st2 = NULL;
	json_t *d;
	char *dump, err[256] = "", url[256];
	int r;

	memset(&res, 0, sizeof(res));
	if (mock_start(&m, "mac", 1, write_pem("e1.pem", e1, NULL), NULL)
	    != 0 || (st = conn_mac(m.port, NULL)) == NULL) {
		th_check(0, "cmp mac: mock and connector", "did not start");
		goto out;
	}
	r = ca_cmp_ops.enroll(st, &req, &res);
	TH_EQ_INT(r, 0, "cmp mac: ir with PBM protection succeeds");
	th_check(issued_for(&res, e1, k1), "cmp mac: the certificate returned "
	    "is the CA's and carries the token key", "status %d", res.status);
	th_check(chain_is_ca(&res), "cmp mac: chain from caPubs, issuer first",
	    "%d certificates", res.chain ? sk_X509_num(res.chain) : -1);
	ca_result_clear(&res);

	r = ca_cmp_ops.chain(st, &cas);
	TH_EQ_INT(r, 0, "cmp mac: genm for the CA certificates");
	th_check(cas != NULL && sk_X509_num(cas) >= 1 &&
	    X509_cmp(sk_X509_value(cas, 0), ca_cert) == 0,
	    "cmp mac: chain() gives the CA certificate", "missing");
	th_check(log_has(&m, "received GENM"), "cmp mac: the mock saw a genm",
	    "no genm in the mock's log");
	sk_X509_pop_free(cas, X509_free);

	r = ca_cmp_ops.revoke(st, e1, 1, err, sizeof(err));
	TH_EQ_INT(r, 0, "cmp mac: rr revokes the certificate");
	th_check(log_has(&m, "received RR"), "cmp mac: the mock saw an rr",
	    "no rr in the mock's log");

	d = json_object();
	TH_EQ_INT(ca_cmp_ops.describe(st, d), 0, "cmp mac: describe");
	dump = json_dumps(d, 0);
	th_check(dump != NULL && strstr(dump, SECRET) == NULL &&
	    strstr(dump, "hmac-sha256") != NULL,
	    "cmp mac: describe shows the MAC but never the secret", "%s",
	    dump ? "secret shown or MAC missing" : "no output");
	free(dump);
	json_decref(d);

	if ((st2 = conn_mac(m.port, "{\"enroll_command\":\"cr\"}")) != NULL) {
		r = ca_cmp_ops.enroll(st2, &req, &res);
		th_check(r == 0 && issued_for(&res, e1, k1) &&
		    log_has(&m, "received CR"), "cmp mac: enroll_command cr",
		    "r=%d", r);
		ca_result_clear(&res);
		ca_cmp_ops.destroy(st2);
	}
	if ((st2 = conn_mac(m.port, "{\"enroll_command\":\"p10cr\"}")) !=
	    NULL) {
		r = ca_cmp_ops.enroll(st2, &req, &res);
		th_check(r == 0 && issued_for(&res, e1, k1) &&
		    log_has(&m, "received P10CR"), "cmp mac: enroll_command p10cr",
		    "r=%d", r);
		ca_result_clear(&res);
		ca_cmp_ops.destroy(st2);
	}
	if ((st2 = conn_mac(m.port, "{\"implicit_confirm\":true}")) != NULL) {
		r = ca_cmp_ops.enroll(st2, &req, &res);
		th_check(r == 0 && issued_for(&res, e1, k1),
		    "cmp mac: ir with implicit confirm requested", "r=%d", r);
		ca_result_clear(&res);
		ca_cmp_ops.destroy(st2);
	}
	/* the mock serves only /pkix/, so the profile is that segment */
	snprintf(url, sizeof(url), "{\"url\":\"http://127.0.0.1:%d/"
	    "{profile}/\",\"profile\":\"pkix\",\"dialect\":\"ejbca\"}",
	    m.port);
	if ((st2 = conn_mac(m.port, url)) != NULL) {
		r = ca_cmp_ops.enroll(st2, &req, &res);
		th_check(r == 0 && issued_for(&res, e1, k1) &&
		    log_has(&m, "POST /pkix/ HTTP"), "cmp mac: {profile} "
		    "in the URL path becomes the profile (ejbca dialect)",
		    "r=%d", r);
		ca_result_clear(&res);
		ca_cmp_ops.destroy(st2);
	}
	/* a wrong PBM secret: the CA refuses or its answer fails the MAC */
	if ((st2 = conn_mac(m.port, "{\"auth\":{\"mode\":\"mac\","
	    "\"reference\":\"" REF "\",\"secret\":\"wrong-secret\"}}")) !=
	    NULL) {
		r = ca_cmp_ops.enroll(st2, &req, &res);
		th_check(r == CAP_ERR_CRYPTO || r == CAP_ERR_DENIED,
		    "cmp mac: a wrong PBM secret fails, nothing issued",
		    "r=%d", r);
		th_check(res.cert == NULL && strstr(res.reason,
		    "wrong-secret") == NULL, "cmp mac: no certificate and no "
		    "secret in the reason", "cert or secret leaked");
		ca_result_clear(&res);
		ca_cmp_ops.destroy(st2);
	}
 out:
	ca_cmp_ops.destroy(st);
	mock_stop(&m);
}

static void
test_sig(X509 *e1, const struct tkey *k1, X509_REQ *csr1,
    const struct tkey *p, X509 *pcert, X509 *pexpired)
{
	struct mock m;
	struct ca_request req = { .csr = csr1, .key_uri = k1->uri };
	struct ca_result res;
	void *st = NULL, *st2 = NULL;
	int r;

	memset(&res, 0, sizeof(res));
	if (mock_start(&m, "sig", 0, write_pem("e1.pem", e1, NULL), NULL)
	    != 0 || (st = conn_sig(m.port, p, pcert, NULL)) == NULL) {
		th_check(0, "cmp sig: mock and connector", "did not start");
		goto out;
	}
	r = ca_cmp_ops.enroll(st, &req, &res);
	TH_EQ_INT(r, 0, "cmp sig: ir signed by the protection key in the "
	    "token succeeds");
	th_check(issued_for(&res, e1, k1) && chain_is_ca(&res),
	    "cmp sig: certificate for the token key, chain to the CA",
	    "status %d", res.status);
	ca_result_clear(&res);

	/*
	 * The mock accepts a kur only for the certificate it issues, so the
	 * renewal replaces e1 and keeps its key.
	 */
	req.old_cert = e1;
	req.old_key_uri = k1->uri;
	r = ca_cmp_ops.renew(st, &req, &res);
	TH_EQ_INT(r, 0, "cmp sig: kur protected by the old key succeeds");
	th_check(issued_for(&res, e1, k1) && log_has(&m, "received KUR"),
	    "cmp sig: kur gives the certificate for the new key", "status %d",
	    res.status);
	ca_result_clear(&res);

	req.old_cert = pexpired;
	req.old_key_uri = p->uri;
	r = ca_cmp_ops.renew(st, &req, &res);
	th_check(r != 0 && res.cert == NULL, "cmp sig: an expired old "
	    "certificate is not renewed without kur_fallback_cr", "r=%d", r);
	ca_result_clear(&res);
	if ((st2 = conn_sig(m.port, p, pcert, "{\"kur_fallback_cr\":true}"))
	    != NULL) {
		r = ca_cmp_ops.renew(st2, &req, &res);
		TH_EQ_INT(r, 0, "cmp sig: expired old certificate: kur falls "
		    "back to cr");
		th_check(issued_for(&res, e1, k1) && log_has(&m, "received CR"),
		    "cmp sig: the cr fallback gives the new certificate",
		    "status %d", res.status);
		ca_result_clear(&res);
		ca_cmp_ops.destroy(st2);
	}
 out:
	ca_cmp_ops.destroy(st);
	mock_stop(&m);
}

static void
test_poll(X509 *e1, const struct tkey *k1, X509_REQ *csr1)
{
	const char *extra[] = { "-poll_count", "2", "-check_after", "1", NULL };
	struct mock m;
	struct ca_request req = { .csr = csr1, .key_uri = k1->uri };
	struct ca_result res;
	uint64_t t0;
	void *st = NULL;
	int r;

	memset(&res, 0, sizeof(res));
	if (mock_start(&m, "poll", 1, write_pem("e1.pem", e1, NULL), extra)
	    != 0 || (st = conn_mac(m.port, NULL)) == NULL) {
		th_check(0, "cmp poll: mock and connector", "did not start");
		goto out;
	}
	t0 = cap_now_ms();
	r = ca_cmp_ops.enroll(st, &req, &res);
	TH_EQ_INT(r, 0, "cmp poll: ir answered 'waiting' twice, then issued");
	th_check(issued_for(&res, e1, k1) && cap_now_ms() - t0 >= 1000 &&
	    log_has(&m, "received POLLREQ"), "cmp poll: the client polled (pollReq, "
	    "checkAfter honoured)", "%llu ms",
	    (unsigned long long)(cap_now_ms() - t0));
	ca_result_clear(&res);
 out:
	ca_cmp_ops.destroy(st);
	mock_stop(&m);
}

static void
test_reject(X509 *e1, const struct tkey *k1, X509_REQ *csr1)
{
	const char *extra[] = { "-pkistatus", "2", "-failure", "9", NULL };
	struct mock m;
	struct ca_request req = { .csr = csr1, .key_uri = k1->uri };
	struct ca_result res;
	void *st = NULL;
	int r;

	memset(&res, 0, sizeof(res));
	if (mock_start(&m, "reject", 1, write_pem("e1.pem", e1, NULL), extra)
	    != 0 || (st = conn_mac(m.port, NULL)) == NULL) {
		th_check(0, "cmp reject: mock and connector", "did not start");
		goto out;
	}
	r = ca_cmp_ops.enroll(st, &req, &res);
	TH_EQ_INT(r, CAP_ERR_DENIED, "cmp reject: PKIStatus rejection gives "
	    "CAP_ERR_DENIED");
	th_check(res.status == CA_REJECTED && res.cert == NULL &&
	    strstr(res.reason, "rejection") != NULL &&
	    strstr(res.reason, "badPOP") != NULL,
	    "cmp reject: the reason names the status and failInfo",
	    "got \"%s\"", res.reason);
	ca_result_clear(&res);
 out:
	ca_cmp_ops.destroy(st);
	mock_stop(&m);
}

static void
test_other_key(X509 *eother, const struct tkey *k1, X509_REQ *csr1)
{
	struct mock m;
	struct ca_request req = { .csr = csr1, .key_uri = k1->uri };
	struct ca_result res;
	void *st = NULL;
	int r;

	memset(&res, 0, sizeof(res));
	if (mock_start(&m, "other", 1, write_pem("eother.pem", eother, NULL),
	    NULL) != 0 || (st = conn_mac(m.port, NULL)) == NULL) {
		th_check(0, "cmp other key: mock and connector",
		    "did not start");
		goto out;
	}
	r = ca_cmp_ops.enroll(st, &req, &res);
	TH_EQ_INT(r, CAP_ERR_CRYPTO, "cmp other key: a certificate for "
	    "another key is refused with CAP_ERR_CRYPTO");
	th_check(res.cert == NULL && strstr(res.reason, "another public key")
	    != NULL, "cmp other key: nothing returned, the reason says why",
	    "got \"%s\"", res.reason);
	th_check(log_has(&m, "received CERTCONF") &&
	    log_has(&m, "certificate rejected by client"),
	    "cmp other key: certConf told the CA it was rejected",
	    "see %s", m.log);
	ca_result_clear(&res);
 out:
	ca_cmp_ops.destroy(st);
	mock_stop(&m);
}

static void
test_unreachable(const struct tkey *k1, X509_REQ *csr1)
{
	struct ca_request req = { .csr = csr1, .key_uri = k1->uri };
	struct ca_result res;
	char err[256] = "";
	void *st;
	int port = free_port(), r;

	memset(&res, 0, sizeof(res));
	if ((st = conn_mac(port, "{\"timeout\":\"1s\"}")) == NULL) {
		th_check(0, "cmp unreachable: connector", "not created");
		return;
	}
	r = ca_cmp_ops.enroll(st, &req, &res);
	TH_EQ_INT(r, CAP_ERR_UNAVAILABLE, "cmp unreachable: enroll gives "
	    "CAP_ERR_UNAVAILABLE");
	ca_result_clear(&res);
	r = ca_cmp_ops.revoke(st, ca_cert, 0, err, sizeof(err));
	TH_EQ_INT(r, CAP_ERR_UNAVAILABLE, "cmp unreachable: revoke gives "
	    "CAP_ERR_UNAVAILABLE");
	ca_cmp_ops.destroy(st);
}

int
main(void)
{
	const char *uri;
	struct tkey k1, p;
	X509_REQ *csr1 = NULL;
	X509 *e1 = NULL, *eother = NULL, *pcert = NULL, *pexp = NULL;

	signal(SIGPIPE, SIG_IGN);
	memset(&k1, 0, sizeof(k1));
	memset(&p, 0, sizeof(p));
	if (sodium_init() < 0 || th_softhsm_token(&uri, &pin) != 0 ||
	    (dir = th_tmpdir()) == NULL) {
		th_check(0, "cmp: test token", "not created");
		return th_done();
	}
	if (!TH_EQ_INT(hsm_open(uri, MODULE, pin, 4, &h), 0,
	    "cmp: open the test token"))
		return th_done();
	if (token_key("cmp-new", &k1) != 0 || token_key("cmp-prot", &p) != 0) {
		th_check(0, "cmp: token keys", "not generated");
		goto out;
	}
	ca_key = sw_key();
	srv_key = sw_key();
	other_key = sw_key();
	ca_cert = mint("Test CA", ca_key, NULL, ca_key, 0, 30, 1);
	srv_cert = mint("CMP Server", srv_key, ca_cert, ca_key, 0, 30, 0);
	e1 = mint("workload", k1.pub, ca_cert, ca_key, 0, 30, 0);
	eother = mint("workload", other_key, ca_cert, ca_key, 0, 30, 0);
	pcert = mint("capstone", p.pub, ca_cert, ca_key, 0, 30, 0);
	pexp = mint("capstone", p.pub, ca_cert, ca_key, -30, -1, 0);
	csr1 = csr_for(&k1, "workload");
	if (!th_check(ca_cert && srv_cert && e1 && eother && pcert && pexp &&
	    csr1, "cmp: test PKI and a CSR signed in the token", "failed"))
		goto out;

	test_settings();
	test_mac(e1, &k1, csr1);
	test_sig(e1, &k1, csr1, &p, pcert, pexp);
	test_poll(e1, &k1, csr1);
	test_reject(e1, &k1, csr1);
	test_other_key(eother, &k1, csr1);
	test_unreachable(&k1, csr1);
 out:
	X509_REQ_free(csr1);
	X509_free(e1);
	X509_free(eother);
	X509_free(pcert);
	X509_free(pexp);
	X509_free(ca_cert);
	X509_free(srv_cert);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(srv_key);
	EVP_PKEY_free(other_key);
	EVP_PKEY_free(k1.pub);
	EVP_PKEY_free(p.pub);
	free(k1.uri);
	free(p.uri);
	hsm_free(h);
	return th_done();
}
