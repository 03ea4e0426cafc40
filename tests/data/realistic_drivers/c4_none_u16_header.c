/*
 * Class C - page sizes.
 * Bug: driver with a format of its own ("none", with its own decompressor;
 * batch 1, DETERMINISTIC). Output = 3-byte header {u16 original length LE,
 * u8 mode} + payload (mode 0: stored, 1: all-zero page, 2: lz4 block). The
 * original length is a 16-bit field, so a 64 KiB page is recorded as 0 and
 * the decompressor, which trusts the header, gives back 0 bytes (or fails).
 * Expected clause: C-ROUNDTRIP (at 64 KiB only; C-FORMAT is not checkable).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <lz4.h>
#include "zswap_acomp_driver.h"

static int c4_compress(struct zswap_acomp_unit *u, unsigned int n)
{
	int ret = 0;
	for (unsigned int i = 0; i < n; i++) {
		const unsigned char *s = u[i].src;
		unsigned int slen = u[i].slen, cap = u[i].capacity;
		uint16_t hdr_len = (uint16_t)slen; /* BUG */
		if (cap < 3) {
			u[i].length = ZSWAP_ACOMP_ERR(ENOSPC);
			ret = -ENOSPC;
			continue;
		}
		unsigned char *d = u[i].dst;
		d[0] = hdr_len & 0xFF;
		d[1] = hdr_len >> 8;
		unsigned int z = 1;
		for (unsigned int k = 0; k < slen; k++)
			if (s[k]) { z = 0; break; }
		if (z) {
			d[2] = 1;
			u[i].length = 3;
			continue;
		}
		int r = LZ4_compress_default((const char *)s, (char *)d + 3, (int)slen, (int)(cap - 3));
		if (r > 0) {
			d[2] = 2;
			u[i].length = (unsigned int)r + 3;
		} else if (slen + 3 <= cap) {
			d[2] = 0;
			memcpy(d + 3, s, slen);
			u[i].length = slen + 3;
		} else {
			u[i].length = ZSWAP_ACOMP_ERR(ENOSPC);
			ret = -ENOSPC;
		}
	}
	return ret;
}

static int c4_decompress(const unsigned char *src, unsigned int slen,
			 unsigned char *dst, unsigned int *dlen)
{
	if (slen < 3)
		return -EINVAL;
	unsigned int olen = (unsigned int)src[0] | ((unsigned int)src[1] << 8);
	if (olen > *dlen)
		return -ENOSPC;
	switch (src[2]) {
	case 0:
		if (slen - 3 < olen)
			return -EINVAL;
		memcpy(dst, src + 3, olen);
		break;
	case 1:
		memset(dst, 0, olen);
		break;
	case 2: {
		int r = LZ4_decompress_safe((const char *)src + 3, (char *)dst, (int)(slen - 3), (int)olen);
		if (r < 0 || (unsigned int)r != olen)
			return -EINVAL;
		break;
	}
	default:
		return -EINVAL;
	}
	*dlen = olen;
	return 0;
}

static const struct zswap_acomp_driver c4 = {
	.abi_version = ZSWAP_ACOMP_DRIVER_ABI, .name = "c4-none-u16-header",
	.format = "none", .batch_size = 1, .flags = ZSWAP_ACOMP_DETERMINISTIC,
	.compress = c4_compress, .decompress = c4_decompress,
};
static const struct zswap_acomp_driver *const list[] = { &c4, NULL };
const struct zswap_acomp_driver *const *zswap_acomp_drivers(void) { return list; }
