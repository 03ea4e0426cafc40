/*
 * Class C (loop bound of 4096).
 * Bug: zero-filled pages get a fast path (compress a static zero buffer of
 * the unit's length, cached per length), but the zero test compares only
 * PAGE_SIZE = 4096 bytes.  At 16/64 KiB a page whose first 4 KiB are zero
 * (e.g. a half-zero page, a sparse page) is stored as an all-zero page.
 * Expected clause(s): C-ROUNDTRIP, C-FORMAT (16K / 64K only).
 */
#include <errno.h>
#include <string.h>
#include <lz4.h>
#include "zswap_acomp_driver.h"

#define PAGE_SIZE 4096
static const unsigned char zero_page[65536];
static char zero_out[3][LZ4_COMPRESSBOUND(65536)];
static int zero_len[3];

static int zidx(unsigned int slen)
{
	return slen == 4096 ? 0 : slen == 16384 ? 1 : slen == 65536 ? 2 : -1;
}

static int drv_compress(struct zswap_acomp_unit *u, unsigned int n)
{
	int out, z;
	(void)n;
	z = zidx(u->slen);
	if (z >= 0 && !memcmp(u->src, zero_page, PAGE_SIZE)) {  /* BUG: only 4 KiB */
		if (!zero_len[z])
			zero_len[z] = LZ4_compress_default((const char *)zero_page, zero_out[z],
							   (int)u->slen, (int)sizeof(zero_out[z]));
		if ((unsigned int)zero_len[z] > u->capacity) {
			u->length = ZSWAP_ACOMP_ERR(EINVAL);
			return -EINVAL;
		}
		memcpy(u->dst, zero_out[z], zero_len[z]);
		u->length = zero_len[z];
		return 0;
	}
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
	int r = LZ4_decompress_safe((const char *)src, (char *)dst, (int)slen, (int)*dlen);
	if (r < 0) return -EINVAL;
	*dlen = r;
	return 0;
}

static const struct zswap_acomp_driver drv = {
	.abi_version = ZSWAP_ACOMP_DRIVER_ABI, .name = "c2-lz4-zero4k",
	.format = "lz4", .batch_size = 1, .flags = ZSWAP_ACOMP_DETERMINISTIC,
	.compress = drv_compress, .decompress = drv_decompress,
};
static const struct zswap_acomp_driver *const list[] = { &drv, NULL };
const struct zswap_acomp_driver *const *zswap_acomp_drivers(void) { return list; }
