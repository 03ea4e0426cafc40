/*
 * Class D - kernel self-test vectors (short outputs on decompression).
 * Bug: lz4 driver (batch 1, DETERMINISTIC). Compression is right; its
 * decompressor insists the output fills the destination exactly ("a page
 * always decompresses to a whole page", the check zswap itself makes) and
 * returns -EIO otherwise. crypto/testmgr decompresses its vectors into a
 * 512-byte buffer with outputs of ~70 bytes, so every self-test vector fails.
 * Expected clause: C-SELFTEST (C-ROUNDTRIP only if the kit ever gives the
 * decompressor more room than the input).
 */
#include <errno.h>
#include <string.h>
#include <lz4.h>
#include "zswap_acomp_driver.h"

static int d4_compress(struct zswap_acomp_unit *u, unsigned int n)
{
	int ret = 0;
	for (unsigned int i = 0; i < n; i++) {
		int r = LZ4_compress_default((const char *)u[i].src, (char *)u[i].dst,
					     (int)u[i].slen, (int)u[i].capacity);
		if (r <= 0) {
			u[i].length = ZSWAP_ACOMP_ERR(EINVAL);
			ret = -EINVAL;
		} else {
			u[i].length = (unsigned int)r;
		}
	}
	return ret;
}

static int d4_decompress(const unsigned char *src, unsigned int slen,
			 unsigned char *dst, unsigned int *dlen)
{
	int r = LZ4_decompress_safe((const char *)src, (char *)dst, (int)slen, (int)*dlen);
	if (r < 0 || (unsigned int)r != *dlen) /* BUG: must fill the buffer */
		return -EIO;
	*dlen = (unsigned int)r;
	return 0;
}

static const struct zswap_acomp_driver d4 = {
	.abi_version = ZSWAP_ACOMP_DRIVER_ABI, .name = "d4-decomp-full-page",
	.format = "lz4", .batch_size = 1, .flags = ZSWAP_ACOMP_DETERMINISTIC,
	.compress = d4_compress, .decompress = d4_decompress,
};
static const struct zswap_acomp_driver *const list[] = { &d4, NULL };
const struct zswap_acomp_driver *const *zswap_acomp_drivers(void) { return list; }
