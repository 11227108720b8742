/*
 * cmfdb_int.h - what cmfdb.c and cmfdb_ic.c share; not part of the
 * contract (store/cmfdb.h is).
 *
 * Every CMF record starts with a format byte, CMFDB_FMT unless its file
 * says otherwise; integers are big-endian, sN is an N-bit length then
 * that many bytes without control characters, and a record ends exactly
 * after its last field and has one encoding.  The formats themselves are
 * described at the top of each file.
 */
#ifndef CAP_STORE_CMFDB_INT_H
#define CAP_STORE_CMFDB_INT_H

#define CMFDB_FMT	1

#endif
