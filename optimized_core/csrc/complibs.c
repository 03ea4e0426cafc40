/*
 * Run-time binding of lz4, zstd and zlib for the optimized core, and the
 * worker threads that compress the units of a batch in parallel.
 *
 * Prototypes are declared from the libraries' public, stable ABIs (lz4.h,
 * lz4hc.h, zstd.h, zlib.h document them); nothing is copied from them.
 */
#define _GNU_SOURCE
#include "complibs.h"

#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- lz4 ---------------------------------------------------------------- */
/* The model's lz4 binding compresses a block through the streaming API on a
 * freshly reset stream (python-lz4 lz4/block/_block.c), which chooses other
 * hash tables than LZ4_compress_default and so other bytes; the core calls it
 * the same way so that both store the same bytes. */
static void *(*p_LZ4_createStream)(void);
static int (*p_LZ4_freeStream)(void *);
static void (*p_LZ4_resetStream)(void *);
static int (*p_LZ4_compress_fast_continue)(void *, const char *, char *, int, int, int);
static void *(*p_LZ4_createStreamHC)(void);
static int (*p_LZ4_freeStreamHC)(void *);
static void (*p_LZ4_resetStreamHC)(void *, int);
static int (*p_LZ4_compress_HC_continue)(void *, const char *, char *, int, int);
static int (*p_LZ4_decompress_safe)(const char *, char *, int, int);
static const char *(*p_LZ4_versionString)(void);

/* ---- zstd --------------------------------------------------------------- */
static void *(*p_ZSTD_createCCtx)(void);
static size_t (*p_ZSTD_freeCCtx)(void *);
static size_t (*p_ZSTD_compressCCtx)(void *, void *, size_t, const void *, size_t, int);
static void *(*p_ZSTD_createDCtx)(void);
static size_t (*p_ZSTD_freeDCtx)(void *);
static size_t (*p_ZSTD_decompressDCtx)(void *, void *, size_t, const void *, size_t);
static unsigned (*p_ZSTD_isError)(size_t);
static const char *(*p_ZSTD_versionString)(void);

/* ---- zlib: z_stream as zlib.h lays it out on LP64 ------------------------- */
struct zs_stream {
	const uint8_t *next_in;
	unsigned avail_in;
	unsigned long total_in;
	uint8_t *next_out;
	unsigned avail_out;
	unsigned long total_out;
	const char *msg;
	void *state;
	void *zalloc, *zfree, *opaque;
	int data_type;
	unsigned long adler;
	unsigned long reserved;
};
#define ZS_FINISH 4
#define ZS_STREAM_END 1
#define ZS_DEFLATED 8
#define ZS_FIXED 4
static const char *(*p_zlibVersion)(void);
static int (*p_deflateInit2_)(struct zs_stream *, int, int, int, int, int, const char *, int);
static int (*p_deflate)(struct zs_stream *, int);
static int (*p_deflateReset)(struct zs_stream *);
static int (*p_deflateEnd)(struct zs_stream *);
static int (*p_inflateInit2_)(struct zs_stream *, int, const char *, int);
static int (*p_inflate)(struct zs_stream *, int);
static int (*p_inflateReset)(struct zs_stream *);
static int (*p_inflateEnd)(struct zs_stream *);

/* The kernel's parameters: crypto/lz4hc.c LZ4HC_DEFAULT_CLEVEL, crypto/zstd.c
 * ZSTD_DEF_LEVEL, crypto/deflate.c window bits 11 and MAX_MEM_LEVEL 8. */
#define LZ4HC_LEVEL 9
#define ZSTD_LEVEL 3
#define DEFLATE_WBITS 11
#define DEFLATE_MEMLEVEL 8
#define IAA_WBITS 12

static int opened;

static int bind(void *lib, const char *what, const char *name, void **slot, char *err, size_t errlen)
{
	*slot = dlsym(lib, name);
	if (!*slot) {
		snprintf(err, errlen, "%s has no symbol %s", what, name);
		return -1;
	}
	return 0;
}

#define BIND(lib, what, fn) \
	if (bind(lib, what, #fn, (void **)&p_##fn, err, errlen)) return -1

static void *load(const char *path, const char *fallback, char *err, size_t errlen)
{
	const char *p = path ? path : fallback;
	void *lib = dlopen(p, RTLD_NOW | RTLD_LOCAL);
	if (!lib)
		snprintf(err, errlen, "cannot load %s: %s", p, dlerror());
	return lib;
}

int zc_open(const char *lz4_path, const char *zstd_path, const char *z_path, char *err, size_t errlen)
{
	void *l, *z, *zl;

	if (opened)
		return 0;
	if (!(l = load(lz4_path, "liblz4.so.1", err, errlen)))
		return -1;
	BIND(l, "the lz4 library", LZ4_createStream);
	BIND(l, "the lz4 library", LZ4_freeStream);
	BIND(l, "the lz4 library", LZ4_resetStream);
	BIND(l, "the lz4 library", LZ4_compress_fast_continue);
	BIND(l, "the lz4 library", LZ4_createStreamHC);
	BIND(l, "the lz4 library", LZ4_freeStreamHC);
	BIND(l, "the lz4 library", LZ4_resetStreamHC);
	BIND(l, "the lz4 library", LZ4_compress_HC_continue);
	BIND(l, "the lz4 library", LZ4_decompress_safe);
	BIND(l, "the lz4 library", LZ4_versionString);
	if (!(z = load(zstd_path, "libzstd.so.1", err, errlen)))
		return -1;
	BIND(z, "the zstd library", ZSTD_createCCtx);
	BIND(z, "the zstd library", ZSTD_freeCCtx);
	BIND(z, "the zstd library", ZSTD_compressCCtx);
	BIND(z, "the zstd library", ZSTD_createDCtx);
	BIND(z, "the zstd library", ZSTD_freeDCtx);
	BIND(z, "the zstd library", ZSTD_decompressDCtx);
	BIND(z, "the zstd library", ZSTD_isError);
	BIND(z, "the zstd library", ZSTD_versionString);
	if (!(zl = load(z_path, "libz.so.1", err, errlen)))
		return -1;
	BIND(zl, "zlib", zlibVersion);
	BIND(zl, "zlib", deflateInit2_);
	BIND(zl, "zlib", deflate);
	BIND(zl, "zlib", deflateReset);
	BIND(zl, "zlib", deflateEnd);
	BIND(zl, "zlib", inflateInit2_);
	BIND(zl, "zlib", inflate);
	BIND(zl, "zlib", inflateReset);
	BIND(zl, "zlib", inflateEnd);
	opened = 1;
	return 0;
}

const char *zc_version(int which)
{
	if (!opened)
		return "";
	switch (which) {
	case 0: return p_LZ4_versionString();
	case 1: return p_ZSTD_versionString();
	default: return p_zlibVersion();
	}
}

struct zc_ctx {
	void *lz4, *lz4hc;
	void *cctx, *dctx;
	struct zs_stream def, iaa, inf;
	int def_ok, iaa_ok, inf_ok;
};

zc_ctx *zc_ctx_new(void)
{
	zc_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->lz4 = p_LZ4_createStream();
	c->lz4hc = p_LZ4_createStreamHC();
	c->cctx = p_ZSTD_createCCtx();
	c->dctx = p_ZSTD_createDCtx();
	c->def_ok = p_deflateInit2_(&c->def, -1, ZS_DEFLATED, -DEFLATE_WBITS, DEFLATE_MEMLEVEL, 0,
				    p_zlibVersion(), (int)sizeof(struct zs_stream)) == 0;
	c->iaa_ok = p_deflateInit2_(&c->iaa, -1, ZS_DEFLATED, -IAA_WBITS, DEFLATE_MEMLEVEL, ZS_FIXED,
				    p_zlibVersion(), (int)sizeof(struct zs_stream)) == 0;
	c->inf_ok = p_inflateInit2_(&c->inf, -15, p_zlibVersion(), (int)sizeof(struct zs_stream)) == 0;
	if (!c->lz4 || !c->lz4hc || !c->cctx || !c->dctx || !c->def_ok || !c->iaa_ok || !c->inf_ok) {
		zc_ctx_free(c);
		return NULL;
	}
	return c;
}

void zc_ctx_free(zc_ctx *c)
{
	if (!c)
		return;
	if (c->lz4) p_LZ4_freeStream(c->lz4);
	if (c->lz4hc) p_LZ4_freeStreamHC(c->lz4hc);
	if (c->cctx) p_ZSTD_freeCCtx(c->cctx);
	if (c->dctx) p_ZSTD_freeDCtx(c->dctx);
	if (c->def_ok) p_deflateEnd(&c->def);
	if (c->iaa_ok) p_deflateEnd(&c->iaa);
	if (c->inf_ok) p_inflateEnd(&c->inf);
	free(c);
}

size_t zc_bound(size_t n)
{
	return 2 * n + 1024;
}

static long deflate_once(struct zs_stream *s, const uint8_t *src, size_t n, uint8_t *dst, size_t cap)
{
	int rc;

	p_deflateReset(s);
	s->next_in = src;
	s->avail_in = (unsigned)n;
	s->next_out = dst;
	s->avail_out = (unsigned)cap;
	rc = p_deflate(s, ZS_FINISH);
	return rc == ZS_STREAM_END ? (long)s->total_out : -1;
}

long zc_compress(zc_ctx *c, int alg, const uint8_t *src, size_t n, uint8_t *dst, size_t cap)
{
	long r;
	size_t z;

	switch (alg) {
	case ZC_LZ4:
		p_LZ4_resetStream(c->lz4);
		r = p_LZ4_compress_fast_continue(c->lz4, (const char *)src, (char *)dst, (int)n, (int)cap, 1);
		return r > 0 ? r : -1;
	case ZC_LZ4HC:
		p_LZ4_resetStreamHC(c->lz4hc, LZ4HC_LEVEL);
		r = p_LZ4_compress_HC_continue(c->lz4hc, (const char *)src, (char *)dst, (int)n, (int)cap);
		return r > 0 ? r : -1;
	case ZC_ZSTD:
		z = p_ZSTD_compressCCtx(c->cctx, dst, cap, src, n, ZSTD_LEVEL);
		return p_ZSTD_isError(z) ? -1 : (long)z;
	case ZC_DEFLATE:
		return deflate_once(&c->def, src, n, dst, cap);
	case ZC_DEFLATE_IAA:
		return deflate_once(&c->iaa, src, n, dst, cap);
	case ZC_TRIVIAL:
		if (cap < ZC_TRIVIAL_LEN)
			return -1;
		memset(dst, 0x5a, ZC_TRIVIAL_LEN);
		return ZC_TRIVIAL_LEN;
	}
	return -1;
}

long zc_decompress(zc_ctx *c, int alg, const uint8_t *src, size_t n, uint8_t *dst, size_t cap)
{
	long r;
	size_t z;
	int rc;

	switch (alg) {
	case ZC_LZ4:
	case ZC_LZ4HC:
		r = p_LZ4_decompress_safe((const char *)src, (char *)dst, (int)n, (int)cap);
		return r >= 0 ? r : -1;
	case ZC_ZSTD:
		z = p_ZSTD_decompressDCtx(c->dctx, dst, cap, src, n);
		return p_ZSTD_isError(z) ? -1 : (long)z;
	case ZC_DEFLATE:
	case ZC_DEFLATE_IAA:
		p_inflateReset(&c->inf);
		c->inf.next_in = src;
		c->inf.avail_in = (unsigned)n;
		c->inf.next_out = dst;
		c->inf.avail_out = (unsigned)cap;
		rc = p_inflate(&c->inf, ZS_FINISH);
		return rc == ZS_STREAM_END ? (long)c->inf.total_out : -1;
	}
	return -1;
}

/* ---- worker threads ------------------------------------------------------
 * The batch's units are claimed one at a time from a 64-bit word holding
 * (generation << 32 | next unit); a claim is a compare-and-swap that fails
 * once the caller has moved on to another batch.  Idle workers spin briefly
 * (a batch follows the last one within microseconds in a store loop), then
 * sleep on a condition variable.
 */
struct zc_workers {
	int nthreads;
	pthread_t *tids;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	uint64_t state;		/* generation << 32 | next unit */
	int nunits;
	zc_task_fn fn;
	void *arg;
	int done;
	int sleepers;
	int stop;
	int spin;		/* pause loops an idle worker spins before it sleeps */
};

struct worker_arg {
	zc_workers *w;
	int index;
};

static void claim_units(zc_workers *w, uint32_t gen, int thread)
{
	for (;;) {
		uint64_t s = __atomic_load_n(&w->state, __ATOMIC_ACQUIRE);
		uint32_t next = (uint32_t)s;
		if ((uint32_t)(s >> 32) != gen || next >= (uint32_t)__atomic_load_n(&w->nunits, __ATOMIC_ACQUIRE))
			return;
		if (!__atomic_compare_exchange_n(&w->state, &s, s + 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			continue;
		w->fn(w->arg, (int)next, thread);
		__atomic_add_fetch(&w->done, 1, __ATOMIC_ACQ_REL);
	}
}

static void *worker_main(void *p)
{
	struct worker_arg *a = p;
	zc_workers *w = a->w;
	int index = a->index;
	uint32_t seen = 0;

	free(a);
	for (;;) {
		uint32_t gen;
		int spins = 0;

		while ((gen = (uint32_t)(__atomic_load_n(&w->state, __ATOMIC_ACQUIRE) >> 32)) == seen &&
		       !__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
			if (++spins < __atomic_load_n(&w->spin, __ATOMIC_RELAXED)) {
				__builtin_ia32_pause();
				if (spins % 256 == 0)
					sched_yield();
				continue;
			}
			pthread_mutex_lock(&w->lock);
			__atomic_add_fetch(&w->sleepers, 1, __ATOMIC_SEQ_CST);
			while ((uint32_t)(__atomic_load_n(&w->state, __ATOMIC_SEQ_CST) >> 32) == seen && !w->stop)
				pthread_cond_wait(&w->wake, &w->lock);
			__atomic_sub_fetch(&w->sleepers, 1, __ATOMIC_SEQ_CST);
			pthread_mutex_unlock(&w->lock);
		}
		if (__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE))
			return NULL;
		seen = gen;
		claim_units(w, gen, index);
	}
}

zc_workers *zc_workers_new(int nthreads)
{
	zc_workers *w = calloc(1, sizeof(*w));
	int i;

	if (!w)
		return NULL;
	w->nthreads = nthreads < 1 ? 1 : nthreads;
	w->spin = 20000;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	w->tids = calloc((size_t)w->nthreads, sizeof(pthread_t));
	for (i = 1; i < w->nthreads; i++) {
		struct worker_arg *a = malloc(sizeof(*a));
		a->w = w;
		a->index = i;
		if (pthread_create(&w->tids[i], NULL, worker_main, a) != 0) {
			free(a);
			w->nthreads = i;
			break;
		}
	}
	return w;
}

/* Wait for the workers: spin briefly, then yield, so that a worker sharing
 * this CPU (a busy machine) gets to finish. */
static void backoff_until_done(zc_workers *w, int nunits)
{
	int spins = 0;

	while (__atomic_load_n(&w->done, __ATOMIC_ACQUIRE) < nunits) {
		if (++spins < 200) {
			__builtin_ia32_pause();
		} else {
			spins = 0;
			sched_yield();
		}
	}
}

/* Hand the workers a new batch of nunits calls of fn: its generation. */
static uint32_t publish(zc_workers *w, int nunits, zc_task_fn fn, void *arg)
{
	uint32_t gen;

	w->fn = fn;
	w->arg = arg;
	__atomic_store_n(&w->done, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&w->nunits, nunits, __ATOMIC_RELEASE);
	gen = (uint32_t)(__atomic_load_n(&w->state, __ATOMIC_ACQUIRE) >> 32) + 1;
	__atomic_store_n(&w->state, (uint64_t)gen << 32, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&w->sleepers, __ATOMIC_SEQ_CST)) {
		pthread_mutex_lock(&w->lock);
		pthread_cond_broadcast(&w->wake);
		pthread_mutex_unlock(&w->lock);
	}
	return gen;
}

void zc_workers_run(zc_workers *w, int nunits, zc_task_fn fn, void *arg)
{
	int i;

	if (w->nthreads == 1 || nunits <= 1) {
		for (i = 0; i < nunits; i++)
			fn(arg, i, 0);
		return;
	}
	claim_units(w, publish(w, nunits, fn, arg), 0);
	backoff_until_done(w, nunits);
}

void zc_workers_spin(zc_workers *w, int spins)
{
	__atomic_store_n(&w->spin, spins, __ATOMIC_RELAXED);
}

void zc_workers_start(zc_workers *w, int nunits, zc_task_fn fn, void *arg)
{
	publish(w, nunits, fn, arg);
}

void zc_workers_help(zc_workers *w, int nunits)
{
	claim_units(w, (uint32_t)(__atomic_load_n(&w->state, __ATOMIC_ACQUIRE) >> 32), 0);
	backoff_until_done(w, nunits);
}

void zc_workers_wait(zc_workers *w, int nunits)
{
	backoff_until_done(w, nunits);
}

void zc_workers_free(zc_workers *w)
{
	int i;

	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	__atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&w->wake);
	pthread_mutex_unlock(&w->lock);
	for (i = 1; i < w->nthreads; i++)
		pthread_join(w->tids[i], NULL);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
	free(w->tids);
	free(w);
}
