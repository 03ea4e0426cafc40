/*
 * Class A - state carried across calls (many calls).
 * Bug: zstd driver (batch 1, DETERMINISTIC) configured at level 1. Every
 * 40000 calls it "recycles" its compression context with
 * ZSTD_CCtx_reset(ZSTD_reset_session_and_parameters) to bound memory, but
 * forgets to set the level again, so from then on it compresses at zstd's
 * default level 3: the same page gets other bytes than before.
 * Output stays valid zstd.
 * Expected clause: C-DETERMINISM.
 */
#include <errno.h>
#include <string.h>
#include <zstd.h>
#include "zswap_acomp_driver.h"

static ZSTD_CCtx *cctx;
static ZSTD_DCtx *dctx;
static unsigned long calls;

static int a3_init(void)
{
	cctx = ZSTD_createCCtx();
	dctx = ZSTD_createDCtx();
	if (!cctx || !dctx)
		return -ENOMEM;
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 1);
	return 0;
}

static int a3_compress(struct zswap_acomp_unit *u, unsigned int n)
{
	int ret = 0;
	for (unsigned int i = 0; i < n; i++) {
		if (++calls % 40000 == 0)
			ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters); /* BUG: level lost */
		size_t r = ZSTD_compress2(cctx, u[i].dst, u[i].capacity, u[i].src, u[i].slen);
		if (ZSTD_isError(r)) {
			ZSTD_CCtx_reset(cctx, ZSTD_reset_session_only);
			u[i].length = ZSWAP_ACOMP_ERR(EINVAL);
			ret = -EINVAL;
		} else {
			u[i].length = (unsigned int)r;
		}
	}
	return ret;
}

static int a3_decompress(const unsigned char *src, unsigned int slen,
			 unsigned char *dst, unsigned int *dlen)
{
	size_t r = ZSTD_decompressDCtx(dctx, dst, *dlen, src, slen);
	if (ZSTD_isError(r))
		return -EINVAL;
	*dlen = (unsigned int)r;
	return 0;
}

static const struct zswap_acomp_driver a3 = {
	.abi_version = ZSWAP_ACOMP_DRIVER_ABI, .name = "a3-periodic-reset-40000",
	.format = "zstd", .batch_size = 1, .flags = ZSWAP_ACOMP_DETERMINISTIC,
	.init = a3_init, .compress = a3_compress, .decompress = a3_decompress,
};
static const struct zswap_acomp_driver *const list[] = { &a3, NULL };
const struct zswap_acomp_driver *const *zswap_acomp_drivers(void) { return list; }
