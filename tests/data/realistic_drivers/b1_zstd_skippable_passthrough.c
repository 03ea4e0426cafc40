/*
 * Class B - inputs shaped like compressed data.
 * Bug: zstd driver (batch 1, DETERMINISTIC) treats a page that starts with a
 * zstd SKIPPABLE frame magic (0x184D2A50..0x184D2A5F, little endian
 * 5? 2A 4D 18) as "already zstd data" and stores it as it is (length = slen)
 * when it fits the capacity. The reference zstd decoder then skips the frame
 * and returns something else (or fails).
 * Expected clauses: C-FORMAT, C-ROUNDTRIP.
 */
#include <errno.h>
#include <string.h>
#include <zstd.h>
#include "zswap_acomp_driver.h"

static int b1_compress(struct zswap_acomp_unit *u, unsigned int n)
{
	int ret = 0;
	for (unsigned int i = 0; i < n; i++) {
		const unsigned char *s = u[i].src;
		if (u[i].slen >= 8 && (s[0] & 0xF0) == 0x50 && s[1] == 0x2A &&
		    s[2] == 0x4D && s[3] == 0x18 && u[i].slen <= u[i].capacity) {
			memcpy(u[i].dst, s, u[i].slen); /* BUG: "already compressed" */
			u[i].length = u[i].slen;
			continue;
		}
		size_t r = ZSTD_compress(u[i].dst, u[i].capacity, s, u[i].slen, 3);
		if (ZSTD_isError(r)) {
			u[i].length = ZSWAP_ACOMP_ERR(EINVAL);
			ret = -EINVAL;
		} else {
			u[i].length = (unsigned int)r;
		}
	}
	return ret;
}

static int b1_decompress(const unsigned char *src, unsigned int slen,
			 unsigned char *dst, unsigned int *dlen)
{
	size_t r = ZSTD_decompress(dst, *dlen, src, slen);
	if (ZSTD_isError(r))
		return -EINVAL;
	*dlen = (unsigned int)r;
	return 0;
}

static const struct zswap_acomp_driver b1 = {
	.abi_version = ZSWAP_ACOMP_DRIVER_ABI, .name = "b1-zstd-skippable-passthrough",
	.format = "zstd", .batch_size = 1, .flags = ZSWAP_ACOMP_DETERMINISTIC,
	.compress = b1_compress, .decompress = b1_decompress,
};
static const struct zswap_acomp_driver *const list[] = { &b1, NULL };
const struct zswap_acomp_driver *const *zswap_acomp_drivers(void) { return list; }
