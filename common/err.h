/*
 * err.h - the one error space of Capstone.
 *
 * 0 is success; every failure is a negative CAP_ERR_* value.  Codes from
 * PKCS#11 (CKR_*), LMDB (MDB_*), OpenSSL and the TSS are translated at the
 * boundary of the module that calls those libraries, and logged there with
 * detail; callers only ever see CAP_ERR_*.  Never renumber a code: values are
 * stable across releases and appear in logs.
 */
#ifndef CAP_ERR_H
#define CAP_ERR_H

#define CAP_OK                    0
#define CAP_ERR_INTERNAL         -1  /* a bug or an unexpected library failure */
#define CAP_ERR_NOMEM            -2  /* allocation failed */
#define CAP_ERR_INVALID          -3  /* malformed or out-of-range input */
#define CAP_ERR_NOT_FOUND        -4  /* no such object */
#define CAP_ERR_EXISTS           -5  /* object already exists */
#define CAP_ERR_CONFLICT         -6  /* check-and-set or state mismatch */
#define CAP_ERR_TOO_LARGE        -7  /* input over its size limit */
#define CAP_ERR_TOKEN            -8  /* the PKCS#11 token failed or is absent */
#define CAP_ERR_CRYPTO           -9  /* authentication/decryption/verify failed */
#define CAP_ERR_STORE           -10  /* the store failed (I/O, corruption) */
#define CAP_ERR_IO              -11  /* file or socket I/O failed */
#define CAP_ERR_CONFIG          -12  /* invalid configuration */
#define CAP_ERR_UNSUPPORTED     -13  /* the token lacks a needed mechanism */
#define CAP_ERR_DENIED          -14  /* identity lacks permission */
#define CAP_ERR_UNAUTH          -15  /* no or invalid identity */
#define CAP_ERR_PIN             -16  /* PIN missing, unreadable or wrong */
#define CAP_ERR_GONE            -17  /* existed once, now used up or expired */
#define CAP_ERR_RATE            -18  /* rate limit reached */
#define CAP_ERR_UNAVAILABLE     -19  /* a dependency is temporarily down */
#define CAP_ERR_NO_MASTER_KEY   -20  /* the token holds no master key yet */
#define CAP_ERR_CORRUPT         -21  /* a stored record failed to parse */
#define CAP_ERR_PENDING         -22  /* accepted; the CA has not answered yet */

/* cap_strerror returns a static, human-readable name for a CAP_ERR_* code. */
const char *cap_strerror(int err);

#endif
