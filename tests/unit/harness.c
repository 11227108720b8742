/* harness.c - a tiny unit-test harness; see harness.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/harness.h"

#define TH_MAX_DIRS 16

static int th_pass, th_fail;
static char th_dirs[TH_MAX_DIRS][64];
static int th_ndirs;

int
th_check(int ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		th_pass++;
		printf("ok - %s\n", name);
	} else {
		th_fail++;
		printf("not ok - %s: ", name);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
	}
	fflush(stdout);
	return ok;
}

int
th_eq_int(long long got, long long want, const char *name)
{
	return th_check(got == want, name, "expected %lld, got %lld", want,
	    got);
}

static void
th_cleanup(void)
{
	char cmd[sizeof(th_dirs[0]) + 16];
	int i;

	if (getenv("TH_KEEP") != NULL)		/* keep for post-mortem */
		return;
	for (i = 0; i < th_ndirs; i++) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%.63s'", th_dirs[i]);
		if (system(cmd) != 0)
			fprintf(stderr, "harness: could not remove %s\n",
			    th_dirs[i]);
	}
}

const char *
th_tmpdir(void)
{
	char *d;

	if (th_ndirs == TH_MAX_DIRS)
		return NULL;
	snprintf(th_dirs[th_ndirs], sizeof(th_dirs[0]), "/tmp/capstone-ut.XXXXXX");
	if ((d = mkdtemp(th_dirs[th_ndirs])) == NULL)
		return NULL;
	if (th_ndirs++ == 0)
		atexit(th_cleanup);
	return d;
}

int
th_softhsm_token(const char **uri, const char **pin_source)
{
	static char uribuf[256], pinbuf[256];
	char path[128], cmd[512];
	const char *d;
	FILE *f;

	if ((d = th_tmpdir()) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/tokens", d);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/softhsm2.conf", d);
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	fprintf(f, "directories.tokendir = %s/tokens\nobjectstore.backend = file\n"
	    "log.level = ERROR\nslots.removable = false\n", d);
	fclose(f);
	setenv("SOFTHSM2_CONF", path, 1);
	snprintf(path, sizeof(path), "%s/pin", d);
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	chmod(path, 0600);
	fprintf(f, "1234\n");
	fclose(f);
	snprintf(cmd, sizeof(cmd), "softhsm2-util --init-token --free "
	    "--label test --so-pin 5678 --pin 1234 >/dev/null");
	if (system(cmd) != 0) {
		fprintf(stderr, "harness: softhsm2-util --init-token failed\n");
		return -1;
	}
	snprintf(uribuf, sizeof(uribuf),
	    "pkcs11:token=test?module-path=/usr/lib/softhsm/libsofthsm2.so");
	snprintf(pinbuf, sizeof(pinbuf), "file:%s", path);
	*uri = uribuf;
	*pin_source = pinbuf;
	return 0;
}

int
th_done(void)
{
	printf("# %d passed, %d failed\n", th_pass, th_fail);
	return th_fail == 0 ? 0 : 1;
}
