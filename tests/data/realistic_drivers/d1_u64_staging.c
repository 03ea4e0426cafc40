/*
 * Class D - kernel self-test vectors (short inputs).
 * Bug: lz4 driver (batch 1, DETERMINISTIC) first copies the source into an
 * aligned bounce buffer 8 bytes at a time ("pages are always a multiple of
 * 8"): the copy length is slen & ~7, and the driver compresses that many
 * bytes. A page is unaffected; a 70-byte self-test vector loses its last 6
 * bytes.
 * Expected clause: C-SELFTEST (and C-ROUNDTRIP/C-FORMAT on any input whose
 * length is not a multiple of 8, if the kit tries one).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <lz4.h>
#include "zswap_acomp_driver.h"

static uint64_t bounce[65536 / 8];

static int d1_compress(struct zswap_acomp_unit *u, unsigned int n)
{
	int ret = 0;
	for (unsigned int i = 0; i < n; i++) {
		unsigned int words = u[i].slen / 8; /* BUG: drops slen % 8 bytes */
		if (words > sizeof(bounce) / 8)
			words = sizeof(bounce) / 8;
		memcpy(bounce, u[i].src, (size_t)words * 8);
		int r = LZ4_compress_default((const char *)bounce, (char *)u[i].dst,
					     (int)(words * 8), (int)u[i].capacity);
		if (r <= 0) {
			u[i].length = ZSWAP_ACOMP_ERR(EINVAL);
			ret = -EINVAL;
		} else {
			u[i].length = (unsigned int)r;
		}
	}
	return ret;
}

static int d1_decompress(const unsigned char *src, unsigned int slen,
			 unsigned char *dst, unsigned int *dlen)
{
	int r = LZ4_decompress_safe((const char *)src, (char *)dst, (int)slen, (int)*dlen);
	if (r < 0)
		return -EINVAL;
	*dlen = (unsigned int)r;
	return 0;
}

static const struct zswap_acomp_driver d1 = {
	.abi_version = ZSWAP_ACOMP_DRIVER_ABI, .name = "d1-u64-staging",
	.format = "lz4", .batch_size = 1, .flags = ZSWAP_ACOMP_DETERMINISTIC,
	.compress = d1_compress, .decompress = d1_decompress,
};
static const struct zswap_acomp_driver *const list[] = { &d1, NULL };
const struct zswap_acomp_driver *const *zswap_acomp_drivers(void) { return list; }
