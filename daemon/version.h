/*
 * version.h - the release of Capstone, shown by `capstoned -V` and in logs.
 */
#ifndef CAP_VERSION_H
#define CAP_VERSION_H

#define CAPSTONE_VERSION	"0.1.0"

#endif
