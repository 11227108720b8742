/* err.c - names of the CAP_ERR_* codes. */
#include "common/err.h"

const char *
cap_strerror(int err)
{
	switch (err) {
	case CAP_OK:			return "success";
	case CAP_ERR_INTERNAL:		return "internal error";
	case CAP_ERR_NOMEM:		return "out of memory";
	case CAP_ERR_INVALID:		return "invalid input";
	case CAP_ERR_NOT_FOUND:		return "not found";
	case CAP_ERR_EXISTS:		return "already exists";
	case CAP_ERR_CONFLICT:		return "conflict";
	case CAP_ERR_TOO_LARGE:		return "too large";
	case CAP_ERR_TOKEN:		return "token failure";
	case CAP_ERR_CRYPTO:		return "cryptographic check failed";
	case CAP_ERR_STORE:		return "store failure";
	case CAP_ERR_IO:		return "I/O error";
	case CAP_ERR_CONFIG:		return "invalid configuration";
	case CAP_ERR_UNSUPPORTED:	return "not supported by the token";
	case CAP_ERR_DENIED:		return "permission denied";
	case CAP_ERR_UNAUTH:		return "not authenticated";
	case CAP_ERR_PIN:		return "PIN unavailable or incorrect";
	case CAP_ERR_GONE:		return "gone";
	case CAP_ERR_RATE:		return "rate limited";
	case CAP_ERR_UNAVAILABLE:	return "temporarily unavailable";
	case CAP_ERR_NO_MASTER_KEY:	return "no master key in the token";
	case CAP_ERR_CORRUPT:		return "corrupt record";
	case CAP_ERR_PENDING:		return "pending at the CA";
	default:			return "unknown error";
	}
}
