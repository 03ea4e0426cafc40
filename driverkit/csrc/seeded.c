/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * seeded.c - drivers with one seeded bug each: the conformance kit must
 * reject every one of them with the clause the bug breaks (the catalogue
 * with the expected clauses is spec/expected-drivers.toml).  Each is lz4
 * (or zstd, for the wrong format) with one thing done wrong, the kind of
 * mistake a driver writer makes: a wrong encoding, an overrun, a lie about
 * a length, state shared across units, and so on.
 */
#include <errno.h>
#include <string.h>

#include "zdk_algs.h"
#include "zdk_libs.h"

#define SERIAL_BATCH 8
/* LZ4_COMPRESSBOUND for a page: the largest output lz4 can produce. */
#define LZ4_BOUND(n) ((n) + (n) / 255 + 16)

static int all_zero(const unsigned char *p, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

/* A batch-of-one driver around a per-unit function (result: length or -errno). */
#define ONE_UNIT_DRIVER(fn, unit_fn)                                               \
	static int fn(struct zswap_acomp_unit *units, unsigned int nr_units)        \
	{                                                                           \
		int r;                                                              \
		if (nr_units != 1)                                                  \
			return -EINVAL;                                             \
		r = unit_fn(&units[0]);                                             \
		return r < 0 ? r : 0;                                               \
	}

/* bug-zero-length: a zero-filled page "needs no bytes": success, length 0. */
static int zero_length_unit(struct zswap_acomp_unit *u)
{
	int r = all_zero(u->src, u->slen) ? 0 : zdk_lz4_unit(u->src, u->slen, u->dst, u->capacity);

	zdk_set_result(u, r);
	return r;
}
ONE_UNIT_DRIVER(zero_length_compress, zero_length_unit)

/* bug-length-over-capacity: compresses into a scratch buffer, copies what
 * fits and reports the full length as a success. */
static int over_capacity_unit(struct zswap_acomp_unit *u)
{
	static __thread unsigned char scratch[LZ4_BOUND(65536)];
	int n;

	if (u->slen > 65536)
		return zdk_set_result(u, -EINVAL), -EINVAL;
	n = zdk_LZ4_compress_default((const char *)u->src, (char *)scratch, (int)u->slen,
				     (int)sizeof(scratch));
	memcpy(u->dst, scratch, (unsigned int)n < u->capacity ? (unsigned int)n : u->capacity);
	zdk_set_result(u, n);
	return n;
}
ONE_UNIT_DRIVER(over_capacity_compress, over_capacity_unit)

/* bug-overrun: trusts the output to fit, compresses with lz4's worst-case
 * bound as the capacity, then notices it did not fit. */
static int overrun_unit(struct zswap_acomp_unit *u)
{
	int n = zdk_LZ4_compress_default((const char *)u->src, (char *)u->dst, (int)u->slen,
					 (int)LZ4_BOUND(u->slen));
	int r = (unsigned int)n > u->capacity ? -E2BIG : n;

	zdk_set_result(u, r);
	return r;
}
ONE_UNIT_DRIVER(overrun_compress, overrun_unit)

/* bug-exact-fit-terminator: ends the output with a zero byte at dst[length],
 * one past the buffer when the output fills it exactly. */
static int terminator_unit(struct zswap_acomp_unit *u)
{
	int r = zdk_lz4_unit(u->src, u->slen, u->dst, u->capacity);

	if (r > 0)
		u->dst[r] = 0;
	zdk_set_result(u, r);
	return r;
}
ONE_UNIT_DRIVER(terminator_compress, terminator_unit)

/* bug-header-underrun: tags the output with a byte just before it. */
static int underrun_unit(struct zswap_acomp_unit *u)
{
	int r = zdk_lz4_unit(u->src, u->slen, u->dst, u->capacity);

	u->dst[-1] = 0x5a;
	zdk_set_result(u, r);
	return r;
}
ONE_UNIT_DRIVER(underrun_compress, underrun_unit)

/* bug-errno-shifted: a failure's errno shifted into the high bits. */
static int shifted_unit(struct zswap_acomp_unit *u)
{
	int r = zdk_lz4_unit(u->src, u->slen, u->dst, u->capacity);

	u->length = r < 0 ? (unsigned int)(-r) << 16 | 0x80000000u : (unsigned int)r;
	return r;
}
ONE_UNIT_DRIVER(shifted_compress, shifted_unit)

/* bug-unwritten-failure: a failed unit's length is never written. */
static int unwritten_unit(struct zswap_acomp_unit *u)
{
	int r = zdk_lz4_unit(u->src, u->slen, u->dst, u->capacity);

	if (r >= 0)
		zdk_set_result(u, r);
	return r;
}
ONE_UNIT_DRIVER(unwritten_compress, unwritten_unit)

/* bug-short-length: reports one byte less than it wrote. */
static int short_unit(struct zswap_acomp_unit *u)
{
	int r = zdk_lz4_unit(u->src, u->slen, u->dst, u->capacity);

	zdk_set_result(u, r > 1 ? r - 1 : r);
	return r;
}
ONE_UNIT_DRIVER(short_compress, short_unit)

/* bug-wrong-format: says lz4, writes zstd frames (and reads them back). */
static int zstd_unit(struct zswap_acomp_unit *u)
{
	int r = zdk_zstd_unit(u->src, u->slen, u->dst, u->capacity);

	zdk_set_result(u, r);
	return r;
}
ONE_UNIT_DRIVER(wrong_format_compress, zstd_unit)

/* bug-source-scratch: keeps the output length in the source's first bytes. */
static int scratch_unit(struct zswap_acomp_unit *u)
{
	int r = zdk_lz4_unit(u->src, u->slen, u->dst, u->capacity);

	memcpy((unsigned char *)u->src, &r, sizeof(r));
	zdk_set_result(u, r);
	return r;
}
ONE_UNIT_DRIVER(scratch_compress, scratch_unit)

/* bug-nondeterministic: claims determinism, alternates lz4's acceleration. */
static int nondet_unit(struct zswap_acomp_unit *u)
{
	static unsigned int calls;
	int accel = (__atomic_fetch_add(&calls, 1, __ATOMIC_RELAXED) & 1) ? 16 : 1;
	int n = zdk_LZ4_compress_fast((const char *)u->src, (char *)u->dst, (int)u->slen,
				      (int)u->capacity, accel);
	int r = n > 0 ? n : -EINVAL;

	zdk_set_result(u, r);
	return r;
}
ONE_UNIT_DRIVER(nondet_compress, nondet_unit)

/* bug-crash-on-zero: a special case for zero pages that dereferences NULL. */
static int crash_unit(struct zswap_acomp_unit *u)
{
	volatile unsigned char *special = NULL;

	if (all_zero(u->src, u->slen))
		special[u->slen] = 1;
	return zdk_set_result(u, zdk_lz4_unit(u->src, u->slen, u->dst, u->capacity)),
	       (int)u->length;
}
ONE_UNIT_DRIVER(crash_compress, crash_unit)

/* bug-hang-on-incompressible: retries until the output fits. */
static int hang_unit(struct zswap_acomp_unit *u)
{
	int r;

	do
		r = zdk_lz4_unit(u->src, u->slen, u->dst, u->capacity);
	while (r < 0);
	zdk_set_result(u, r);
	return r;
}
ONE_UNIT_DRIVER(hang_compress, hang_unit)

/* bug-read-past-source: compresses a little more than the unit. */
static int read_past_unit(struct zswap_acomp_unit *u)
{
	int r = zdk_lz4_unit(u->src, u->slen + 256, u->dst, u->capacity);

	zdk_set_result(u, r);
	return r;
}
ONE_UNIT_DRIVER(read_past_compress, read_past_unit)

/* bug-own-decompressor: compression is right, decompression flips the last byte. */
static int plain_unit(struct zswap_acomp_unit *u)
{
	int r = zdk_lz4_unit(u->src, u->slen, u->dst, u->capacity);

	zdk_set_result(u, r);
	return r;
}
ONE_UNIT_DRIVER(plain_compress, plain_unit)

static int flipping_decompress(const unsigned char *src, unsigned int slen, unsigned char *dst,
			       unsigned int *dlen)
{
	int r = zdk_lz4_decompress(src, slen, dst, dlen);

	if (r == 0 && *dlen)
		dst[*dlen - 1] ^= 1;
	return r;
}

static int lz4_unit_e2big(struct zswap_acomp_unit *u, unsigned int capacity)
{
	int r = zdk_lz4_unit(u->src, u->slen, u->dst, capacity);

	if (r < 0)
		r = -E2BIG;
	zdk_set_result(u, r);
	return r;
}

/* Batching drivers: 8 units compressed in turn, -E2BIG for a unit that does
 * not fit.  Each bug is in how the batch is reported or shared. */

/* bug-ret-ok-on-failure: returns 0 even when a unit failed. */
static int ret_ok_compress(struct zswap_acomp_unit *units, unsigned int nr_units)
{
	unsigned int k;

	for (k = 0; k < nr_units; k++)
		lz4_unit_e2big(&units[k], units[k].capacity);
	return 0;
}

/* bug-ret-count: returns how many units succeeded, as a positive number. */
static int ret_count_compress(struct zswap_acomp_unit *units, unsigned int nr_units)
{
	unsigned int k;
	int ok = 0;

	for (k = 0; k < nr_units; k++)
		ok += lz4_unit_e2big(&units[k], units[k].capacity) > 0;
	return ok;
}

/* bug-shared-budget: the batch's units share 12 KiB of output space, so a
 * unit fails or not depending on the units before it. */
static int budget_compress(struct zswap_acomp_unit *units, unsigned int nr_units)
{
	unsigned int k, left = 3 * 4096;
	int failed = 0, r;

	for (k = 0; k < nr_units; k++) {
		r = lz4_unit_e2big(&units[k], units[k].capacity < left ? units[k].capacity : left);
		if (r < 0)
			failed = 1;
		else
			left -= (unsigned int)r;
	}
	return failed ? -EINVAL : 0;
}

/* bug-mode-after-failure: after the first unit that does not fit, switches to
 * a "fast mode" (lz4 acceleration 8) and never switches back: valid lz4, but
 * the same page gets other bytes than before the failure. */
static int mode_unit(struct zswap_acomp_unit *u)
{
	static int fast_mode;
	int n = zdk_LZ4_compress_fast((const char *)u->src, (char *)u->dst, (int)u->slen,
				      (int)u->capacity, fast_mode ? 8 : 1);
	int r = n > 0 ? n : -EINVAL;

	if (r < 0)
		fast_mode = 1;
	zdk_set_result(u, r);
	return r;
}
ONE_UNIT_DRIVER(mode_compress, mode_unit)

/* bug-magic-passthrough: a page that starts like a compressed stream (zstd or
 * lz4 frame magic, gzip) is "already compressed" and copied as it is; its own
 * decompressor copies such an input back, so only the format gives it away. */
static int looks_compressed(const unsigned char *p, unsigned int n)
{
	static const unsigned char zstd[4] = {0x28, 0xb5, 0x2f, 0xfd};
	static const unsigned char lz4f[4] = {0x04, 0x22, 0x4d, 0x18};

	return n >= 4 && (!memcmp(p, zstd, 4) || !memcmp(p, lz4f, 4) ||
			  (p[0] == 0x1f && p[1] == 0x8b));
}

static int passthrough_unit(struct zswap_acomp_unit *u)
{
	int r;

	if (!looks_compressed(u->src, u->slen))
		r = zdk_lz4_unit(u->src, u->slen, u->dst, u->capacity);
	else if (u->slen > u->capacity)
		r = -EINVAL;
	else {
		memcpy(u->dst, u->src, u->slen);
		r = (int)u->slen;
	}
	zdk_set_result(u, r);
	return r;
}
ONE_UNIT_DRIVER(passthrough_compress, passthrough_unit)

static int passthrough_decompress(const unsigned char *src, unsigned int slen,
				  unsigned char *dst, unsigned int *dlen)
{
	if (looks_compressed(src, slen) && slen <= *dlen) {
		memcpy(dst, src, slen);
		*dlen = slen;
		return 0;
	}
	return zdk_lz4_decompress(src, slen, dst, dlen);
}

/* bug-4k-staging: stages the source in a 4 KiB buffer (sized for x86-64's
 * pages) and compresses what fits there: a larger page loses its tail. */
static int staging_unit(struct zswap_acomp_unit *u)
{
	static __thread unsigned char staging[4096];
	unsigned int n = u->slen < sizeof(staging) ? u->slen : (unsigned int)sizeof(staging);
	int r;

	memcpy(staging, u->src, n);
	r = zdk_lz4_unit(staging, n, u->dst, u->capacity);
	zdk_set_result(u, r);
	return r;
}
ONE_UNIT_DRIVER(staging_compress, staging_unit)

/* bug-whole-pages-only: refuses an input that is not a whole number of 4 KiB
 * pages (-EINVAL), which zswap never sends but the kernel's self-test does. */
static int whole_pages_unit(struct zswap_acomp_unit *u)
{
	int r = (u->slen % 4096) ? -EINVAL : zdk_lz4_unit(u->src, u->slen, u->dst, u->capacity);

	zdk_set_result(u, r);
	return r;
}
ONE_UNIT_DRIVER(whole_pages_compress, whole_pages_unit)

#define SEEDED(var, drv_name, fmt, batch, fl, init_fn, comp, decomp)                \
	static const struct zswap_acomp_driver var = {                              \
		.abi_version = ZSWAP_ACOMP_DRIVER_ABI, .name = drv_name, .format = fmt, \
		.batch_size = batch, .flags = fl, .init = init_fn, .compress = comp,    \
		.decompress = decomp,                                               \
	}

#define DET ZSWAP_ACOMP_DETERMINISTIC
SEEDED(d_zero, "bug-zero-length", "lz4", 1, DET, zdk_init_lz4, zero_length_compress, zdk_lz4_decompress);
SEEDED(d_over, "bug-length-over-capacity", "lz4", 1, DET, zdk_init_lz4, over_capacity_compress, zdk_lz4_decompress);
SEEDED(d_overrun, "bug-overrun", "lz4", 1, DET, zdk_init_lz4, overrun_compress, zdk_lz4_decompress);
SEEDED(d_term, "bug-exact-fit-terminator", "lz4", 1, DET, zdk_init_lz4, terminator_compress, zdk_lz4_decompress);
SEEDED(d_under, "bug-header-underrun", "lz4", 1, DET, zdk_init_lz4, underrun_compress, zdk_lz4_decompress);
SEEDED(d_read, "bug-read-past-source", "lz4", 1, DET, zdk_init_lz4, read_past_compress, zdk_lz4_decompress);
SEEDED(d_shift, "bug-errno-shifted", "lz4", 1, DET, zdk_init_lz4, shifted_compress, zdk_lz4_decompress);
SEEDED(d_unwr, "bug-unwritten-failure", "lz4", 1, DET, zdk_init_lz4, unwritten_compress, zdk_lz4_decompress);
SEEDED(d_retok, "bug-ret-ok-on-failure", "lz4", SERIAL_BATCH, DET, zdk_init_lz4, ret_ok_compress, zdk_lz4_decompress);
SEEDED(d_retcnt, "bug-ret-count", "lz4", SERIAL_BATCH, DET, zdk_init_lz4, ret_count_compress, zdk_lz4_decompress);
SEEDED(d_short, "bug-short-length", "lz4", 1, DET, zdk_init_lz4, short_compress, zdk_lz4_decompress);
SEEDED(d_own, "bug-own-decompressor", "lz4", 1, DET, zdk_init_lz4, plain_compress, flipping_decompress);
SEEDED(d_fmt, "bug-wrong-format", "lz4", 1, DET, zdk_init_zstd, wrong_format_compress, zdk_zstd_decompress);
SEEDED(d_src, "bug-source-scratch", "lz4", 1, DET, zdk_init_lz4, scratch_compress, zdk_lz4_decompress);
SEEDED(d_budget, "bug-shared-budget", "lz4", SERIAL_BATCH, DET, zdk_init_lz4, budget_compress, zdk_lz4_decompress);
SEEDED(d_nondet, "bug-nondeterministic", "lz4", 1, DET, zdk_init_lz4, nondet_compress, zdk_lz4_decompress);
SEEDED(d_crash, "bug-crash-on-zero", "lz4", 1, DET, zdk_init_lz4, crash_compress, zdk_lz4_decompress);
SEEDED(d_hang, "bug-hang-on-incompressible", "lz4", 1, DET, zdk_init_lz4, hang_compress, zdk_lz4_decompress);
SEEDED(d_mode, "bug-mode-after-failure", "lz4", 1, DET, zdk_init_lz4, mode_compress, zdk_lz4_decompress);
SEEDED(d_magic, "bug-magic-passthrough", "lz4", 1, DET, zdk_init_lz4, passthrough_compress, passthrough_decompress);
SEEDED(d_stage, "bug-4k-staging", "lz4", 1, DET, zdk_init_lz4, staging_compress, zdk_lz4_decompress);
SEEDED(d_whole, "bug-whole-pages-only", "lz4", 1, DET, zdk_init_lz4, whole_pages_compress, zdk_lz4_decompress);

static const struct zswap_acomp_driver *const drivers[] = {
	&d_zero, &d_over, &d_overrun, &d_term, &d_under, &d_read, &d_shift, &d_unwr,
	&d_retok, &d_retcnt, &d_short, &d_own, &d_fmt, &d_src, &d_budget, &d_nondet,
	&d_crash, &d_hang, &d_mode, &d_magic, &d_stage, &d_whole, NULL,
};

__attribute__((visibility("default")))
const struct zswap_acomp_driver *const *zswap_acomp_drivers(void)
{
	return drivers;
}
