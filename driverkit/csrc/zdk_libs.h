/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * zdk_libs.h - the compression libraries the built-in drivers call, found
 * with dlopen() at run time (liblz4.so.1, libzstd.so.1, libz.so.1: every
 * Debian has them), so building needs no -dev package.  Only the few
 * functions the drivers use are declared, with their documented signatures.
 */
#ifndef ZDK_LIBS_H
#define ZDK_LIBS_H

#include <stddef.h>

/* Each returns 0 when the library and its functions were found, else -ENOENT. */
int zdk_libs_lz4(void);
int zdk_libs_zstd(void);
int zdk_libs_zlib(void);

/* lz4 block format. */
extern int (*zdk_LZ4_compress_default)(const char *src, char *dst, int slen, int capacity);
extern int (*zdk_LZ4_compress_fast)(const char *src, char *dst, int slen, int capacity,
				     int acceleration);
extern int (*zdk_LZ4_decompress_safe)(const char *src, char *dst, int slen, int capacity);

/* zstd frames. */
extern size_t (*zdk_ZSTD_compress)(void *dst, size_t capacity, const void *src, size_t slen,
				   int level);
extern size_t (*zdk_ZSTD_decompress)(void *dst, size_t capacity, const void *src, size_t slen);
extern unsigned (*zdk_ZSTD_isError)(size_t code);

/* Raw deflate through zlib, with the kernel's parameters (crypto/deflate.c:
 * default level, window bits -11, memLevel 8). */
#define ZDK_DEFLATE_LEVEL (-1)
#define ZDK_DEFLATE_WINBITS 11
#define ZDK_DEFLATE_MEMLEVEL 8

/*
 * One-shot raw deflate of slen bytes into capacity bytes: the output length,
 * or -1 when it does not fit (zlib writes nothing past capacity).
 */
int zdk_deflate(const unsigned char *src, unsigned int slen, unsigned char *dst,
		unsigned int capacity);
/* Raw inflate: the output length, or -1 when the input is not a complete
 * stream or the output does not fit. */
int zdk_inflate(const unsigned char *src, unsigned int slen, unsigned char *dst,
		unsigned int capacity);

#endif
