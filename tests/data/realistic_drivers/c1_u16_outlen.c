/*
 * Class C - page sizes.
 * Bug: lz4 driver (batch 1, DETERMINISTIC) modelled on a DMA engine whose
 * completion descriptor has a 16-bit output-length field. The driver reads
 * the length back from the descriptor, so an output of 65536 bytes or more
 * (an incompressible 64 KiB page with a roomy destination) is reported
 * modulo 65536 (e.g. 65793 -> 257).
 * Expected clauses: C-ROUNDTRIP, C-FORMAT (only at 64 KiB with capacity
 * >= 65536).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <lz4.h>
#include "zswap_acomp_driver.h"

struct hw_completion { uint16_t out_len; uint8_t status; uint8_t pad; };

static int c1_compress(struct zswap_acomp_unit *u, unsigned int n)
{
	int ret = 0;
	for (unsigned int i = 0; i < n; i++) {
		struct hw_completion cpl;
		int r = LZ4_compress_default((const char *)u[i].src, (char *)u[i].dst,
					     (int)u[i].slen, (int)u[i].capacity);
		cpl.status = r > 0 ? 0 : 1;
		cpl.out_len = (uint16_t)r; /* BUG: 16-bit field */
		if (cpl.status || cpl.out_len == 0) {
			u[i].length = ZSWAP_ACOMP_ERR(EINVAL);
			ret = -EINVAL;
		} else {
			u[i].length = cpl.out_len;
		}
	}
	return ret;
}

static int c1_decompress(const unsigned char *src, unsigned int slen,
			 unsigned char *dst, unsigned int *dlen)
{
	int r = LZ4_decompress_safe((const char *)src, (char *)dst, (int)slen, (int)*dlen);
	if (r < 0)
		return -EINVAL;
	*dlen = (unsigned int)r;
	return 0;
}

static const struct zswap_acomp_driver c1 = {
	.abi_version = ZSWAP_ACOMP_DRIVER_ABI, .name = "c1-u16-outlen",
	.format = "lz4", .batch_size = 1, .flags = ZSWAP_ACOMP_DETERMINISTIC,
	.compress = c1_compress, .decompress = c1_decompress,
};
static const struct zswap_acomp_driver *const list[] = { &c1, NULL };
const struct zswap_acomp_driver *const *zswap_acomp_drivers(void) { return list; }
