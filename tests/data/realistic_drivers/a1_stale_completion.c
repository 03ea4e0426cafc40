/*
 * Class A - state carried across calls.
 * Bug: a batching lz4 "hardware" driver (batch 8, declares DETERMINISTIC)
 * keeps one completion record per ring slot. When a unit fails (output does
 * not fit), the slot's record keeps its error status. The next call polls the
 * slot, sees the stale error, reports it for the NEW unit in that slot (without
 * compressing it), and only then acknowledges (clears) it. So a unit that fits
 * fails once, right after a failure in the same slot.
 * Expected clauses: C-DETERMINISM (same batch, other answer depending on
 * history); possibly C-INDEPENDENT.
 */
#include <errno.h>
#include <string.h>
#include <lz4.h>
#include "zswap_acomp_driver.h"

struct comp_rec { int status; unsigned int len; };
static struct comp_rec recs[8];

static int a1_compress(struct zswap_acomp_unit *u, unsigned int n)
{
	int ret = 0;
	for (unsigned int i = 0; i < n; i++) {
		struct comp_rec *cr = &recs[i];
		if (cr->status) {
			/* BUG: stale completion from the previous call */
			u[i].length = ZSWAP_ACOMP_ERR(-cr->status);
			cr->status = 0;
			ret = -EINVAL;
			continue;
		}
		int r = LZ4_compress_default((const char *)u[i].src, (char *)u[i].dst,
					     (int)u[i].slen, (int)u[i].capacity);
		if (r <= 0) {
			cr->status = -ENOSPC;
			u[i].length = ZSWAP_ACOMP_ERR(ENOSPC);
			ret = -EINVAL;
		} else {
			cr->len = (unsigned int)r;
			u[i].length = (unsigned int)r;
		}
	}
	return ret;
}

static int a1_decompress(const unsigned char *src, unsigned int slen,
			 unsigned char *dst, unsigned int *dlen)
{
	int r = LZ4_decompress_safe((const char *)src, (char *)dst, (int)slen, (int)*dlen);
	if (r < 0)
		return -EINVAL;
	*dlen = (unsigned int)r;
	return 0;
}

static const struct zswap_acomp_driver a1 = {
	.abi_version = ZSWAP_ACOMP_DRIVER_ABI, .name = "a1-stale-completion",
	.format = "lz4", .batch_size = 8, .flags = ZSWAP_ACOMP_DETERMINISTIC,
	.compress = a1_compress, .decompress = a1_decompress, .page_sizes = 0,
};
static const struct zswap_acomp_driver *const list[] = { &a1, NULL };
const struct zswap_acomp_driver *const *zswap_acomp_drivers(void) { return list; }
