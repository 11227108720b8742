/*
 * hsm_int.h - what the files of hsm/ share and nothing else sees.
 *
 * Only the files of hsm/ include this header (and with it pkcs11.h).
 */
#ifndef CAP_HSM_INT_H
#define CAP_HSM_INT_H

#include <pthread.h>

#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>

#include "hsm/hsm.h"

#define HSM_PIN_MAX	256	/* longest PIN accepted from any source */
#define HSM_SESS_MAX	256	/* largest session pool */

struct hsm {
	CK_FUNCTION_LIST	*fl;
	CK_SLOT_ID		 slot;
	CK_TOKEN_INFO		 tinfo;		/* raw, for URIs */
	hsm_token_info		 info;
	hsm_caps		 caps;

	/* Pool of logged-in sessions lent to one thread at a time. */
	pthread_mutex_t		 pool_mtx;
	pthread_cond_t		 pool_cv;
	CK_SESSION_HANDLE	*pool;		/* free sessions, a stack */
	unsigned		 npool;		/* sessions opened */
	unsigned		 nfree;		/* of those, free now */

	/*
	 * Object creation and destruction are serialised on this lock and
	 * done on the owner session, which stays open for the life of the
	 * hsm so that session objects (unwrapped domain keys) survive until
	 * hsm_free or hsm_obj_destroy.
	 */
	pthread_mutex_t		 obj_mtx;
	CK_SESSION_HANDLE	 owner;
	int			 owner_open;
	int			 logged_in;
};

/* hsm.c */
const char *hsm_ckr_name(CK_RV rv);
int hsm_ckr_err(const char *what, CK_RV rv);
int hsm_sess_get(hsm *h, CK_SESSION_HANDLE *s);
void hsm_sess_put(hsm *h, CK_SESSION_HANDLE s);
void hsm_sess_put_bad(hsm *h, CK_SESSION_HANDLE s);
void hsm_sess_done(hsm *h, CK_SESSION_HANDLE s, CK_RV rv);
int hsm_pin_read(const char *source, const char *uri_value, char **pin,
    size_t *len);
void hsm_pin_free(char *pin, size_t len);
int hsm_uri_module(P11KitUri *u, const char *module, char *out, size_t outlen);

/* hsm_keys.c */
int hsm_find_one(hsm *h, CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl,
    CK_ULONG n, CK_OBJECT_HANDLE *obj);

/* hsm_asym.c */
struct evp_pkey_st;
int hsm_pub_evp(hsm *h, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE pub,
    struct evp_pkey_st **out);

/* Longest value hsm_tmp_take reads: a P-521 ECDH secret. */
#define HSM_TMP_VALUE_MAX	66

int hsm_tmp_take(hsm *h, CK_OBJECT_HANDLE tmp, uint8_t *out, size_t len,
    int bad_len, const char *what) __attribute__((warn_unused_result));

#endif
