/* SPDX-License-Identifier: GPL-2.0-only */
/* zdk_algs.c - one unit of each algorithm, kernel conventions (zdk_algs.h). */
#include <errno.h>

#include "zdk_algs.h"
#include "zdk_libs.h"

int zdk_init_lz4(void) { return zdk_libs_lz4(); }
int zdk_init_zstd(void) { return zdk_libs_zstd(); }
int zdk_init_zlib(void) { return zdk_libs_zlib(); }

int zdk_lz4_unit(const unsigned char *src, unsigned int slen, unsigned char *dst,
		 unsigned int capacity)
{
	/* LZ4_compress_default with the real capacity: 0 when it does not fit. */
	int n = zdk_LZ4_compress_default((const char *)src, (char *)dst, (int)slen,
					 (int)capacity);

	return n > 0 ? n : -EINVAL;
}

int zdk_zstd_unit(const unsigned char *src, unsigned int slen, unsigned char *dst,
		  unsigned int capacity)
{
	size_t n = zdk_ZSTD_compress(dst, capacity, src, slen, ZDK_ZSTD_LEVEL);

	return zdk_ZSTD_isError(n) ? -EINVAL : (int)n;
}

int zdk_deflate_unit(const unsigned char *src, unsigned int slen, unsigned char *dst,
		     unsigned int capacity)
{
	int n = zdk_deflate(src, slen, dst, capacity);

	return n >= 0 ? n : -ENOSPC;
}

int zdk_lz4_decompress(const unsigned char *src, unsigned int slen, unsigned char *dst,
		       unsigned int *dlen)
{
	int n = zdk_LZ4_decompress_safe((const char *)src, (char *)dst, (int)slen, (int)*dlen);

	if (n < 0)
		return -EINVAL;
	*dlen = (unsigned int)n;
	return 0;
}

int zdk_zstd_decompress(const unsigned char *src, unsigned int slen, unsigned char *dst,
			unsigned int *dlen)
{
	size_t n = zdk_ZSTD_decompress(dst, *dlen, src, slen);

	if (zdk_ZSTD_isError(n))
		return -EINVAL;
	*dlen = (unsigned int)n;
	return 0;
}

int zdk_deflate_decompress(const unsigned char *src, unsigned int slen, unsigned char *dst,
			   unsigned int *dlen)
{
	int n = zdk_inflate(src, slen, dst, *dlen);

	if (n < 0)
		return -EINVAL;
	*dlen = (unsigned int)n;
	return 0;
}
