/*
 * Class OK - correct but unusual: declares 4 KiB pages only
 * (ABI 2, page_sizes = ZSWAP_ACOMP_PAGE_4K). Plain lz4 block, batch 4,
 * DETERMINISTIC; it refuses (with -EINVAL for the unit) anything longer than
 * 4096 bytes, which it never should be asked to compress.
 * Clauses: conforms.
 */
#include <errno.h>
#include <string.h>
#include <lz4.h>
#include "zswap_acomp_driver.h"

static int ok1_compress(struct zswap_acomp_unit *u, unsigned int n)
{
	int ret = 0;
	for (unsigned int i = 0; i < n; i++) {
		int r = u[i].slen > 4096 ? 0 :
			LZ4_compress_default((const char *)u[i].src, (char *)u[i].dst,
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

static int ok1_decompress(const unsigned char *src, unsigned int slen,
			  unsigned char *dst, unsigned int *dlen)
{
	int r = LZ4_decompress_safe((const char *)src, (char *)dst, (int)slen, (int)*dlen);
	if (r < 0)
		return -EINVAL;
	*dlen = (unsigned int)r;
	return 0;
}

static const struct zswap_acomp_driver ok1 = {
	.abi_version = ZSWAP_ACOMP_DRIVER_ABI, .name = "ok1-lz4-4k-only",
	.format = "lz4", .batch_size = 4, .flags = ZSWAP_ACOMP_DETERMINISTIC,
	.compress = ok1_compress, .decompress = ok1_decompress,
	.page_sizes = ZSWAP_ACOMP_PAGE_4K,
};
static const struct zswap_acomp_driver *const list[] = { &ok1, NULL };
const struct zswap_acomp_driver *const *zswap_acomp_drivers(void) { return list; }
