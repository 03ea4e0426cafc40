/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * zdk_algs.h - one unit of lz4, zstd or raw deflate with the conventions of
 * the kernel's crypto wrappers (crypto/lz4.c, crypto/zstd.c,
 * crypto/deflate.c; spec/zswap-spec.md section 2): a unit's result is its
 * compressed length, or -EINVAL (lz4, zstd) / -ENOSPC (deflate) when the
 * output does not fit.  Shared by the built-in and the seeded-bug drivers.
 */
#ifndef ZDK_ALGS_H
#define ZDK_ALGS_H

#include "zswap_acomp_driver.h"

#define ZDK_ZSTD_LEVEL 3 /* crypto/zstd.c: ZSTD_DEF_LEVEL */

int zdk_lz4_unit(const unsigned char *src, unsigned int slen, unsigned char *dst,
		 unsigned int capacity);
int zdk_zstd_unit(const unsigned char *src, unsigned int slen, unsigned char *dst,
		  unsigned int capacity);
int zdk_deflate_unit(const unsigned char *src, unsigned int slen, unsigned char *dst,
		     unsigned int capacity);

int zdk_lz4_decompress(const unsigned char *src, unsigned int slen, unsigned char *dst,
		       unsigned int *dlen);
int zdk_zstd_decompress(const unsigned char *src, unsigned int slen, unsigned char *dst,
			unsigned int *dlen);
int zdk_deflate_decompress(const unsigned char *src, unsigned int slen, unsigned char *dst,
			   unsigned int *dlen);

int zdk_init_lz4(void);
int zdk_init_zstd(void);
int zdk_init_zlib(void);

/* Store a unit's result (a length or a negative errno) in the contract's encoding. */
static inline void zdk_set_result(struct zswap_acomp_unit *u, int result)
{
	u->length = (unsigned int)result;
}

#endif
