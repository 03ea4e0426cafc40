/*
 * The compression libraries as the optimized core calls them: loaded at run
 * time with dlopen(), declared here in our own words (only the handful of
 * functions the core needs), so no development package is required.
 *
 * The core loads the very copies the model's Python bindings use (the `lz4`
 * and `zstandard` packages' extension modules export the libraries' C API;
 * Python's zlib module uses the system libz.so.1), so that the model and the
 * core produce the same compressed bytes.  See README "Development".
 */
#ifndef ZSWAP_SPEC_COMPLIBS_H
#define ZSWAP_SPEC_COMPLIBS_H

#include <stddef.h>
#include <stdint.h>

/* Algorithms, with the kernel's parameters (crypto/lz4.c, lz4hc.c, zstd.c,
 * deflate.c; IAA: fixed Huffman codes, 4 KiB history). */
enum zc_alg {
	ZC_LZ4 = 0,
	ZC_LZ4HC = 1,
	ZC_ZSTD = 2,
	ZC_DEFLATE = 3,
	ZC_DEFLATE_IAA = 4,
	ZC_TRIVIAL = 5,	/* a fixed tiny output: times zswap's own work only */
	ZC_NR_ALGS = 6,
};

#define ZC_TRIVIAL_LEN 16

/* Load the libraries: NULL paths mean the system's run-time sonames.
 * Returns 0, or -1 with a message in err. */
int zc_open(const char *lz4_path, const char *zstd_path, const char *z_path,
	    char *err, size_t errlen);
const char *zc_version(int which);	/* 0 lz4, 1 zstd, 2 zlib */

/* Per-thread working state of every algorithm. */
typedef struct zc_ctx zc_ctx;
zc_ctx *zc_ctx_new(void);
void zc_ctx_free(zc_ctx *ctx);

/* Compress src into dst with a real capacity: the output length (> 0), or -1
 * when the library reports that the output does not fit (or fails). */
long zc_compress(zc_ctx *ctx, int alg, const uint8_t *src, size_t n,
		 uint8_t *dst, size_t cap);
/* Decompress: the output length, or -1 when the input is not a valid stream
 * that ends within cap bytes. */
long zc_decompress(zc_ctx *ctx, int alg, const uint8_t *src, size_t n,
		   uint8_t *dst, size_t cap);
/* A capacity large enough for any output of n input bytes. */
size_t zc_bound(size_t n);

/* Worker threads for the units of a batch: the caller runs units too and
 * returns when every unit is done.  fn(arg, unit, thread). */
typedef void (*zc_task_fn)(void *arg, int unit, int thread);
typedef struct zc_workers zc_workers;
zc_workers *zc_workers_new(int nthreads);
void zc_workers_run(zc_workers *w, int nunits, zc_task_fn fn, void *arg);
void zc_workers_free(zc_workers *w);
/* Start fn(arg, k, thread) for k < nunits on the worker threads only (the
 * caller goes on); zc_workers_wait() returns once they have all returned. */
/* How long an idle worker spins before it sleeps (pause loops; 20000 at first:
   about a millisecond, for batches that follow each other within microseconds). */
void zc_workers_spin(zc_workers *w, int spins);
void zc_workers_start(zc_workers *w, int nunits, zc_task_fn fn, void *arg);
/* After zc_workers_start: the caller takes the units no worker has claimed yet (as
   thread 0), then waits for the rest. */
void zc_workers_help(zc_workers *w, int nunits);
void zc_workers_wait(zc_workers *w, int nunits);

#endif
