/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * zdk_libs.c - dlopen() loader for the compression libraries of the built-in
 * drivers (see zdk_libs.h).  zlib's z_stream is declared here with the
 * layout of zlib 1.2/1.3 on LP64 (the same as tests/clibs.py); deflateInit2_
 * checks it against the library through its stream_size argument.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "zdk_libs.h"

int (*zdk_LZ4_compress_default)(const char *, char *, int, int);
int (*zdk_LZ4_compress_fast)(const char *, char *, int, int, int);
int (*zdk_LZ4_decompress_safe)(const char *, char *, int, int);
size_t (*zdk_ZSTD_compress)(void *, size_t, const void *, size_t, int);
size_t (*zdk_ZSTD_decompress)(void *, size_t, const void *, size_t);
unsigned (*zdk_ZSTD_isError)(size_t);

struct zdk_z_stream {
	const unsigned char *next_in;
	unsigned int avail_in;
	unsigned long total_in;
	unsigned char *next_out;
	unsigned int avail_out;
	unsigned long total_out;
	const char *msg;
	void *state;
	void *zalloc;
	void *zfree;
	void *opaque;
	int data_type;
	unsigned long adler;
	unsigned long reserved;
};

#define ZDK_Z_FINISH 4
#define ZDK_Z_STREAM_END 1
#define ZDK_Z_DEFLATED 8
#define ZDK_Z_DEFAULT_STRATEGY 0

static const char *(*z_zlibVersion)(void);
static int (*z_deflateInit2_)(struct zdk_z_stream *, int, int, int, int, int, const char *, int);
static int (*z_deflate)(struct zdk_z_stream *, int);
static int (*z_deflateEnd)(struct zdk_z_stream *);
static int (*z_inflateInit2_)(struct zdk_z_stream *, int, const char *, int);
static int (*z_inflate)(struct zdk_z_stream *, int);
static int (*z_inflateEnd)(struct zdk_z_stream *);

static pthread_once_t once_lz4 = PTHREAD_ONCE_INIT;
static pthread_once_t once_zstd = PTHREAD_ONCE_INIT;
static pthread_once_t once_zlib = PTHREAD_ONCE_INIT;
static int ok_lz4, ok_zstd, ok_zlib;

#define FIND(handle, var, name) (*(void **)&(var) = dlsym(handle, name))

static void load_lz4(void)
{
	void *h = dlopen("liblz4.so.1", RTLD_NOW | RTLD_LOCAL);

	ok_lz4 = h && FIND(h, zdk_LZ4_compress_default, "LZ4_compress_default") &&
		 FIND(h, zdk_LZ4_compress_fast, "LZ4_compress_fast") &&
		 FIND(h, zdk_LZ4_decompress_safe, "LZ4_decompress_safe");
}

static void load_zstd(void)
{
	void *h = dlopen("libzstd.so.1", RTLD_NOW | RTLD_LOCAL);

	ok_zstd = h && FIND(h, zdk_ZSTD_compress, "ZSTD_compress") &&
		  FIND(h, zdk_ZSTD_decompress, "ZSTD_decompress") &&
		  FIND(h, zdk_ZSTD_isError, "ZSTD_isError");
}

static void load_zlib(void)
{
	void *h = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);

	ok_zlib = h && FIND(h, z_zlibVersion, "zlibVersion") &&
		  FIND(h, z_deflateInit2_, "deflateInit2_") && FIND(h, z_deflate, "deflate") &&
		  FIND(h, z_deflateEnd, "deflateEnd") &&
		  FIND(h, z_inflateInit2_, "inflateInit2_") && FIND(h, z_inflate, "inflate") &&
		  FIND(h, z_inflateEnd, "inflateEnd");
}

int zdk_libs_lz4(void)
{
	pthread_once(&once_lz4, load_lz4);
	return ok_lz4 ? 0 : -ENOENT;
}

int zdk_libs_zstd(void)
{
	pthread_once(&once_zstd, load_zstd);
	return ok_zstd ? 0 : -ENOENT;
}

int zdk_libs_zlib(void)
{
	pthread_once(&once_zlib, load_zlib);
	return ok_zlib ? 0 : -ENOENT;
}

int zdk_deflate(const unsigned char *src, unsigned int slen, unsigned char *dst,
		unsigned int capacity)
{
	struct zdk_z_stream s;
	int rc, n;

	memset(&s, 0, sizeof(s));
	if (z_deflateInit2_(&s, ZDK_DEFLATE_LEVEL, ZDK_Z_DEFLATED, -ZDK_DEFLATE_WINBITS,
			    ZDK_DEFLATE_MEMLEVEL, ZDK_Z_DEFAULT_STRATEGY, z_zlibVersion(),
			    (int)sizeof(s)) != 0)
		return -1;
	s.next_in = src;
	s.avail_in = slen;
	s.next_out = dst;
	s.avail_out = capacity;
	rc = z_deflate(&s, ZDK_Z_FINISH);
	n = (int)s.total_out;
	z_deflateEnd(&s);
	return rc == ZDK_Z_STREAM_END ? n : -1;
}

int zdk_inflate(const unsigned char *src, unsigned int slen, unsigned char *dst,
		unsigned int capacity)
{
	struct zdk_z_stream s;
	int rc, n;

	memset(&s, 0, sizeof(s));
	if (z_inflateInit2_(&s, -15, z_zlibVersion(), (int)sizeof(s)) != 0)
		return -1;
	s.next_in = src;
	s.avail_in = slen;
	s.next_out = dst;
	s.avail_out = capacity;
	rc = z_inflate(&s, ZDK_Z_FINISH);
	n = (int)s.total_out;
	z_inflateEnd(&s);
	return rc == ZDK_Z_STREAM_END ? n : -1;
}
