/*
 * test_hsm_tpm.c - the hsm/ layer on a TPM 2.0 token: swtpm started here
 * on a free port, tpm2-pkcs11 over it, the token created with C_InitToken
 * through the module (pkcs11-tool).  Checks that the token gets an RSA
 * master key and that domain keys round-trip through RSA-OAEP.
 *
 * swtpm without a resource manager keeps three transient objects, and
 * tpm2-pkcs11 leaves what it loads in place: after login there is room
 * for one more key per swtpm instance, so this test creates exactly one
 * (the master key).  `tpm2_ptool init` is not run: the module builds its
 * store on C_InitToken, and the primary key ptool leaves loaded would
 * exhaust the TPM's object slots before the token exists.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "common/err.h"
#include "hsm/hsm.h"
#include "tests/unit/harness.h"

#define TPM_MODULE	"/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so"

static char swtpm_pidfile[256];

static void
stop_swtpm(void)
{
	FILE *f;
	long pid = 0;

	if (swtpm_pidfile[0] == '\0' || (f = fopen(swtpm_pidfile, "r")) == NULL)
		return;
	if (fscanf(f, "%ld", &pid) == 1 && pid > 1)
		kill((pid_t)pid, SIGTERM);
	fclose(f);
}

static int
port_free(int port)
{
	struct sockaddr_in sa;
	int fd, ok;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/* A port P such that P and P+1 are both free on loopback. */
static int
pick_ports(void)
{
	int i, p;

	for (i = 0; i < 200; i++) {
		p = 20000 + (int)(randombytes_uniform(20000) & ~1U);
		if (port_free(p) && port_free(p + 1))
			return p;
	}
	return -1;
}

static int
wait_file(const char *path, int ms)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	struct stat st;
	int waited;

	for (waited = 0; waited < ms; waited += 20) {
		if (stat(path, &st) == 0 && st.st_size > 0)
			return 0;
		nanosleep(&ts, NULL);
	}
	return -1;
}

static int
run(const char *cmd)
{
	int r = system(cmd);

	if (r != 0)
		fprintf(stderr, "test_hsm_tpm: `%s` exited with %d\n", cmd, r);
	return r;
}

static int
setup_token(char *uri, size_t urilen, char *pinsrc, size_t pinlen)
{
	char cmd[1024], state[200], store[200], tcti[96], pinfile[200];
	const char *d;
	FILE *f;
	int port;

	if ((d = th_tmpdir()) == NULL)
		return -1;
	snprintf(state, sizeof(state), "%s/state", d);
	snprintf(store, sizeof(store), "%s/store", d);
	snprintf(pinfile, sizeof(pinfile), "%s/pin", d);
	snprintf(swtpm_pidfile, sizeof(swtpm_pidfile), "%s/swtpm.pid", d);
	if (mkdir(state, 0700) != 0 || mkdir(store, 0700) != 0)
		return -1;
	if ((port = pick_ports()) < 0)
		return -1;
	atexit(stop_swtpm);
	snprintf(cmd, sizeof(cmd), "swtpm socket --tpm2 "
	    "--server type=tcp,port=%d,bindaddr=127.0.0.1 "
	    "--ctrl type=tcp,port=%d,bindaddr=127.0.0.1 "
	    "--flags not-need-init,startup-clear --tpmstate dir=%s "
	    "--pid file=%s --daemon", port, port + 1, state, swtpm_pidfile);
	if (run(cmd) != 0 || wait_file(swtpm_pidfile, 5000) != 0)
		return -1;

	snprintf(tcti, sizeof(tcti), "swtpm:host=127.0.0.1,port=%d", port);
	setenv("TPM2_PKCS11_TCTI", tcti, 1);
	setenv("TPM2_PKCS11_STORE", store, 1);
	setenv("TPM2TOOLS_TCTI", tcti, 1);
	snprintf(cmd, sizeof(cmd), "pkcs11-tool --module %s --init-token "
	    "--label tpmtest --so-pin 5678 >/dev/null", TPM_MODULE);
	if (run(cmd) != 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "pkcs11-tool --module %s --token-label "
	    "tpmtest --login --login-type so --so-pin 5678 --init-pin "
	    "--pin 1234 >/dev/null", TPM_MODULE);
	if (run(cmd) != 0)
		return -1;

	if ((f = fopen(pinfile, "w")) == NULL)
		return -1;
	chmod(pinfile, 0600);
	fprintf(f, "1234\n");
	fclose(f);
	snprintf(uri, urilen, "pkcs11:token=tpmtest?module-path=%s",
	    TPM_MODULE);
	snprintf(pinsrc, pinlen, "file:%s", pinfile);
	return 0;
}

int
main(void)
{
	char uri[256], pin[256];
	hsm *h = NULL;
	const hsm_caps *c;
	hsm_mk_kind kind = HSM_MK_NONE;
	hsm_mk_info mi;
	hsm_token_info ti;
	uint8_t *w = NULL, k1[HSM_DK_LEN], k2[HSM_DK_LEN], rnd[32];
	uint8_t zero[HSM_DK_LEN] = { 0 };
	size_t wl = 0;
	int mech = 0;
	hsm_obj obj = 0;

	if (sodium_init() < 0)
		return 1;
	if (access("/usr/bin/swtpm", X_OK) != 0) {
		printf("ok - tpm skipped: swtpm is not installed\n");
		return th_done();
	}
	if (access(TPM_MODULE, R_OK) != 0) {
		printf("ok - tpm skipped: %s is not installed\n", TPM_MODULE);
		return th_done();
	}
	/* The module and the TSS log every TPM warning; keep them quiet. */
	setenv("TPM2_PKCS11_LOG_LEVEL", "0", 1);
	setenv("TSS2_LOG", "all+NONE", 1);
	if (!th_check(setup_token(uri, sizeof(uri), pin, sizeof(pin)) == 0,
	    "swtpm started and a tpm2-pkcs11 token created",
	    "setup failed (see stderr)"))
		return th_done();

	if (!TH_EQ_INT(hsm_open(uri, NULL, pin, 2, &h), 0,
	    "hsm_open of the TPM token"))
		return th_done();
	c = hsm_get_caps(h);
	TH_EQ_INT(c->aes_gcm, 0, "tpm2-pkcs11 has no AES-GCM");
	TH_EQ_INT(c->aes_key_wrap_pad, 0, "tpm2-pkcs11 has no AES key wrap");
	TH_EQ_INT(c->rsa_keygen && c->rsa_oaep, 1,
	    "tpm2-pkcs11 has RSA key pairs and RSA-OAEP");
	TH_EQ_INT(c->ec_keygen && c->ecdsa, 1, "tpm2-pkcs11 has EC and ECDSA");
	hsm_get_token_info(h, &ti);
	th_check(strcmp(ti.label, "tpmtest") == 0, "token label is tpmtest",
	    "got \"%s\"", ti.label);
	TH_EQ_INT(hsm_random(h, rnd, sizeof(rnd)), 0,
	    "hsm_random from the TPM");

	TH_EQ_INT(hsm_mk_init(h, &kind), 0, "hsm_mk_init on the TPM");
	TH_EQ_INT(kind, HSM_MK_RSA, "the TPM gets an RSA master key");
	TH_EQ_INT(hsm_mk_init(h, &kind), CAP_ERR_EXISTS,
	    "a second hsm_mk_init gives CAP_ERR_EXISTS");
	TH_EQ_INT(hsm_mk_info_get(h, &mi), 0, "hsm_mk_info_get");
	TH_EQ_INT(mi.kind, HSM_MK_RSA, "master key kind is RSA");
	TH_EQ_INT(mi.token && mi.sensitive && !mi.extractable, 1,
	    "the RSA master key is a sensitive, unextractable token object");

	TH_EQ_INT(hsm_dk_generate(h, &w, &wl, &mech), 0,
	    "hsm_dk_generate under the RSA master key");
	TH_EQ_INT(mech, HSM_WRAP_RSA_OAEP, "domain key wrapped with RSA-OAEP");
	TH_EQ_INT(wl, 384, "wrapped domain key is one RSA-3072 block");
	TH_EQ_INT(hsm_dk_unwrap_raw(h, w, wl, mech, k1), 0,
	    "hsm_dk_unwrap_raw in the TPM");
	TH_EQ_INT(hsm_dk_unwrap_raw(h, w, wl, mech, k2), 0,
	    "hsm_dk_unwrap_raw again");
	th_check(sodium_memcmp(k1, k2, HSM_DK_LEN) == 0 &&
	    sodium_memcmp(k1, zero, HSM_DK_LEN) != 0,
	    "unwrapping twice gives the same non-zero 32 bytes",
	    "keys differ or are zero");
	TH_EQ_INT(hsm_dk_unwrap_obj(h, w, wl, mech, &obj),
	    CAP_ERR_UNSUPPORTED, "seal = token is refused on the TPM");
	if (w != NULL && wl > 10) {
		w[10] ^= 0x01;
		TH_EQ_INT(hsm_dk_unwrap_raw(h, w, wl, mech, k2),
		    CAP_ERR_CRYPTO, "a corrupted blob gives CAP_ERR_CRYPTO");
		w[10] ^= 0x01;
		TH_EQ_INT(hsm_dk_unwrap_raw(h, w, wl, mech, k2), 0,
		    "the intact blob still unwraps after a failed one");
	}
	sodium_memzero(k1, sizeof(k1));
	sodium_memzero(k2, sizeof(k2));
	free(w);
	hsm_free(h);
	return th_done();
}
