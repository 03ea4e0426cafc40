/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * builtin.c - the built-in drivers of the conformance kit: lz4, zstd and
 * deflate one unit per call, as the kernel's software compressors are, and
 * deflate-batch, a batching driver that compresses up to 8 units at once,
 * each on its own thread, and reports as the batch contract asks: every
 * unit's length or -E2BIG in its entry, -EINVAL when any unit failed.
 */
#include <errno.h>
#include <pthread.h>

#include "zdk_algs.h"

static int one_unit(struct zswap_acomp_unit *units, unsigned int nr_units,
		    int (*unit)(const unsigned char *, unsigned int, unsigned char *, unsigned int))
{
	int r;

	if (nr_units != 1)
		return -EINVAL;
	r = unit(units[0].src, units[0].slen, units[0].dst, units[0].capacity);
	zdk_set_result(&units[0], r);
	return r < 0 ? r : 0;
}

static int lz4_compress(struct zswap_acomp_unit *units, unsigned int nr_units)
{
	return one_unit(units, nr_units, zdk_lz4_unit);
}

static int zstd_compress(struct zswap_acomp_unit *units, unsigned int nr_units)
{
	return one_unit(units, nr_units, zdk_zstd_unit);
}

static int deflate_compress(struct zswap_acomp_unit *units, unsigned int nr_units)
{
	return one_unit(units, nr_units, zdk_deflate_unit);
}

#define BATCH_UNITS 8

static void *batch_worker(void *arg)
{
	struct zswap_acomp_unit *u = arg;
	int r = zdk_deflate_unit(u->src, u->slen, u->dst, u->capacity);

	/* An accelerator's convention: a unit that does not fit is -E2BIG. */
	zdk_set_result(u, r < 0 ? -E2BIG : r);
	return NULL;
}

static int batch_compress(struct zswap_acomp_unit *units, unsigned int nr_units)
{
	pthread_t threads[BATCH_UNITS];
	int started[BATCH_UNITS];
	unsigned int k;
	int failed = 0;

	if (nr_units < 1 || nr_units > BATCH_UNITS)
		return -EINVAL;
	for (k = 0; k < nr_units; k++) {
		started[k] = pthread_create(&threads[k], NULL, batch_worker, &units[k]) == 0;
		if (!started[k])
			batch_worker(&units[k]);
	}
	for (k = 0; k < nr_units; k++) {
		if (started[k])
			pthread_join(threads[k], NULL);
		if (ZSWAP_ACOMP_IS_ERR(units[k].length))
			failed = 1;
	}
	return failed ? -EINVAL : 0;
}

static const struct zswap_acomp_driver drv_lz4 = {
	.abi_version = ZSWAP_ACOMP_DRIVER_ABI, .name = "lz4", .format = "lz4",
	.batch_size = 1, .flags = ZSWAP_ACOMP_DETERMINISTIC, .init = zdk_init_lz4,
	.compress = lz4_compress, .decompress = zdk_lz4_decompress,
};

static const struct zswap_acomp_driver drv_zstd = {
	.abi_version = ZSWAP_ACOMP_DRIVER_ABI, .name = "zstd", .format = "zstd",
	.batch_size = 1, .flags = ZSWAP_ACOMP_DETERMINISTIC, .init = zdk_init_zstd,
	.compress = zstd_compress, .decompress = zdk_zstd_decompress,
};

static const struct zswap_acomp_driver drv_deflate = {
	.abi_version = ZSWAP_ACOMP_DRIVER_ABI, .name = "deflate", .format = "deflate",
	.batch_size = 1, .flags = ZSWAP_ACOMP_DETERMINISTIC, .init = zdk_init_zlib,
	.compress = deflate_compress, .decompress = zdk_deflate_decompress,
};

static const struct zswap_acomp_driver drv_batch = {
	.abi_version = ZSWAP_ACOMP_DRIVER_ABI, .name = "deflate-batch", .format = "deflate",
	.batch_size = BATCH_UNITS, .flags = ZSWAP_ACOMP_DETERMINISTIC, .init = zdk_init_zlib,
	.compress = batch_compress, .decompress = zdk_deflate_decompress,
};

static const struct zswap_acomp_driver *const drivers[] = {
	&drv_lz4, &drv_zstd, &drv_deflate, &drv_batch, NULL,
};

__attribute__((visibility("default")))
const struct zswap_acomp_driver *const *zswap_acomp_drivers(void)
{
	return drivers;
}
