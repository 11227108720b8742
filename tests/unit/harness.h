/*
 * harness.h - a tiny unit-test harness.
 *
 * Each check prints "ok - NAME" or "not ok - NAME: MESSAGE" on stdout;
 * tests/run.sh counts those lines.  th_done() prints a summary and returns
 * the exit status for main().
 */
#ifndef CAP_TEST_HARNESS_H
#define CAP_TEST_HARNESS_H

#include <stddef.h>

/* th_check records one named check; fmt explains a failure (expected/got). */
int th_check(int ok, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* th_eq_int checks got == want; each argument is evaluated once. */
int th_eq_int(long long got, long long want, const char *name);
#define TH_EQ_INT(got, want, name) \
	th_eq_int((long long)(got), (long long)(want), (name))

/*
 * th_softhsm_token creates a fresh SoftHSM token in a temporary directory
 * (label "test", user PIN in a 0600 file), points SOFTHSM2_CONF at it and
 * returns its pkcs11: URI and a "file:" PIN source (static storage).  The
 * directory is removed at exit.  Returns 0, or -1 after printing why.
 */
int th_softhsm_token(const char **uri, const char **pin_source);

/* th_tmpdir makes a temporary directory removed at exit. */
const char *th_tmpdir(void);

int th_done(void);

#endif
