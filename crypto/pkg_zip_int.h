/*
 * pkg_zip_int.h - what pkg_zip.c and pkg_zip_layout.c share: the layout
 * check of a zip over any reader (pkg_zip_layout_check in pkg.h is the
 * same over memory).
 */
#ifndef CAP_CRYPTO_PKG_ZIP_INT_H
#define CAP_CRYPTO_PKG_ZIP_INT_H

#include <stddef.h>
#include <stdint.h>

/* reads exactly len bytes at off (inside the size): 0 or CAP_ERR_IO */
typedef int (*zl_read_fn)(void *arg, uint64_t off, void *buf, size_t len);

/* What the layout check found, compared with what libzip then reads. */
struct zl_info {
	uint64_t	entries;
	uint64_t	comment_len;
};

/*
 * zl_check_reader checks the layout of the size bytes read through read:
 * 0, or CAP_ERR_INVALID with a reason starting "zip layout:", CAP_ERR_IO,
 * CAP_ERR_NOMEM.
 */
int zl_check_reader(zl_read_fn read, void *arg, uint64_t size,
    struct zl_info *info, char *reason, size_t reasonlen)
    __attribute__((warn_unused_result));

#endif
