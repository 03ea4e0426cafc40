/*
 * Class D (kernel self-test vectors).
 * Bug: the decompressor uses LZ4_decompress_fast() with *dlen (the capacity)
 * as the exact decompressed size -- "a page always decompresses to a whole
 * page".  Under zswap the capacity is the page size, so pages round-trip; the
 * self-test vectors decompress into 512 bytes although their output is
 * shorter, so _fast runs past the real end of the block.
 * Expected clause(s): C-SELFTEST (possibly C-OVERRUN, reading past src).
 */
#include <errno.h>
#include <string.h>
#include <lz4.h>
#include "zswap_acomp_driver.h"

static int drv_compress(struct zswap_acomp_unit *u, unsigned int n)
{
	int out;
	(void)n;
	out = LZ4_compress_default((const char *)u->src, (char *)u->dst,
				   (int)u->slen, (int)u->capacity);
	if (out <= 0) {
		u->length = ZSWAP_ACOMP_ERR(EINVAL);
		return -EINVAL;
	}
	u->length = out;
	return 0;
}

static int drv_decompress(const unsigned char *src, unsigned int slen,
			  unsigned char *dst, unsigned int *dlen)
{
	int r;
	(void)slen;
	r = LZ4_decompress_fast((const char *)src, (char *)dst, (int)*dlen); /* BUG */
	if (r < 0) return -EINVAL;
	return 0;                       /* *dlen left as the whole page */
}

static const struct zswap_acomp_driver drv = {
	.abi_version = ZSWAP_ACOMP_DRIVER_ABI, .name = "d1-lz4-decfast",
	.format = "lz4", .batch_size = 1, .flags = ZSWAP_ACOMP_DETERMINISTIC,
	.compress = drv_compress, .decompress = drv_decompress,
};
static const struct zswap_acomp_driver *const list[] = { &drv, NULL };
const struct zswap_acomp_driver *const *zswap_acomp_drivers(void) { return list; }
