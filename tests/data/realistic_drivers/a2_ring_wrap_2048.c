/*
 * Class A - state carried across calls (many calls).
 * Bug: lz4 "hardware" driver (batch 1, DETERMINISTIC) with a 2048-entry
 * descriptor ring. The phase bit is not flipped when the producer index
 * wraps, so on every 2048th call the completion looks ready at once and the
 * driver returns the PREVIOUS call's completion: the previous output bytes
 * and length are copied to dst (cut to the capacity) instead of this page's.
 * Outright corrupt output after the trigger.
 * Expected clauses: C-ROUNDTRIP, C-FORMAT (possibly C-DETERMINISM, C-LENGTH).
 */
#include <errno.h>
#include <string.h>
#include <lz4.h>
#include "zswap_acomp_driver.h"

#define RING 2048
static unsigned int prod;         /* producer index */
static unsigned char last_out[LZ4_COMPRESSBOUND(65536)];
static int last_len = -1;

static int a2_compress(struct zswap_acomp_unit *u, unsigned int n)
{
	int ret = 0;
	for (unsigned int i = 0; i < n; i++) {
		prod = (prod + 1) % RING;
		if (prod == 0 && last_len > 0) {
			/* BUG: phase bit not toggled; stale completion is consumed */
			unsigned int l = (unsigned int)last_len;
			if (l > u[i].capacity)
				l = u[i].capacity;
			memcpy(u[i].dst, last_out, l);
			u[i].length = l;
			continue;
		}
		int r = LZ4_compress_default((const char *)u[i].src, (char *)last_out,
					     (int)u[i].slen, (int)sizeof(last_out));
		if (r <= 0 || (unsigned int)r > u[i].capacity) {
			u[i].length = ZSWAP_ACOMP_ERR(EINVAL);
			ret = -EINVAL;
			last_len = -1;
			continue;
		}
		memcpy(u[i].dst, last_out, (size_t)r);
		last_len = r;
		u[i].length = (unsigned int)r;
	}
	return ret;
}

static int a2_decompress(const unsigned char *src, unsigned int slen,
			 unsigned char *dst, unsigned int *dlen)
{
	int r = LZ4_decompress_safe((const char *)src, (char *)dst, (int)slen, (int)*dlen);
	if (r < 0)
		return -EINVAL;
	*dlen = (unsigned int)r;
	return 0;
}

static const struct zswap_acomp_driver a2 = {
	.abi_version = ZSWAP_ACOMP_DRIVER_ABI, .name = "a2-ring-wrap-2048",
	.format = "lz4", .batch_size = 1, .flags = ZSWAP_ACOMP_DETERMINISTIC,
	.compress = a2_compress, .decompress = a2_decompress,
};
static const struct zswap_acomp_driver *const list[] = { &a2, NULL };
const struct zswap_acomp_driver *const *zswap_acomp_drivers(void) { return list; }
