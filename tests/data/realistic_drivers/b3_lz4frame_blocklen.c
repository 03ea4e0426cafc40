/*
 * Class B - inputs shaped like compressed data (header parser).
 * Bug: lz4 block driver (batch 1, DETERMINISTIC). A page starting with the
 * lz4 FRAME magic 04 22 4D 18 is taken for an lz4 frame: the driver parses
 * the first block's size (32-bit LE at offset 7, the high "uncompressed"
 * bit masked off, without a content checksum/dictionary check) and, if it
 * fits the capacity, copies that many bytes of block data from offset 11
 * out "as the already-compressed payload". The length is trusted: it reads
 * past the end of the source when it claims more than the page holds, and
 * the output is never a valid lz4 block of the page.
 * Expected clauses: C-OVERRUN (read past source) and/or C-FORMAT, C-ROUNDTRIP.
 */
#include <errno.h>
#include <string.h>
#include <lz4.h>
#include "zswap_acomp_driver.h"

static int b3_compress(struct zswap_acomp_unit *u, unsigned int n)
{
	int ret = 0;
	for (unsigned int i = 0; i < n; i++) {
		const unsigned char *s = u[i].src;
		if (u[i].slen >= 11 && s[0] == 0x04 && s[1] == 0x22 && s[2] == 0x4D && s[3] == 0x18) {
			unsigned int blen = (unsigned int)s[7] | ((unsigned int)s[8] << 8) |
					    ((unsigned int)s[9] << 16) | ((unsigned int)(s[10] & 0x7F) << 24);
			if (blen > 0 && blen <= u[i].capacity) {
				memcpy(u[i].dst, s + 11, blen); /* BUG: trusts the header */
				u[i].length = blen;
				continue;
			}
		}
		int r = LZ4_compress_default((const char *)s, (char *)u[i].dst,
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

static int b3_decompress(const unsigned char *src, unsigned int slen,
			 unsigned char *dst, unsigned int *dlen)
{
	int r = LZ4_decompress_safe((const char *)src, (char *)dst, (int)slen, (int)*dlen);
	if (r < 0)
		return -EINVAL;
	*dlen = (unsigned int)r;
	return 0;
}

static const struct zswap_acomp_driver b3 = {
	.abi_version = ZSWAP_ACOMP_DRIVER_ABI, .name = "b3-lz4frame-blocklen",
	.format = "lz4", .batch_size = 1, .flags = ZSWAP_ACOMP_DETERMINISTIC,
	.compress = b3_compress, .decompress = b3_decompress,
};
static const struct zswap_acomp_driver *const list[] = { &b3, NULL };
const struct zswap_acomp_driver *const *zswap_acomp_drivers(void) { return list; }
