/*
 * Class A (after N calls, N = 2049).
 * Bug: a debug trace ring of 2048 {slen, olen} records sits just before the
 * static bounce buffer; the wrap test is `> TRACE_RING` instead of `>=`, so
 * every 2049th call writes record [2048] -- the first 8 bytes of the bounce
 * buffer, after compression and before the copy to dst.  That output starts
 * with slen/olen instead of the lz4 token and literals.
 * Expected clause(s): C-ROUNDTRIP, C-FORMAT (only after 2048 earlier calls).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <lz4.h>
#include "zswap_acomp_driver.h"

#define TRACE_RING 2048
struct trace { uint32_t slen, olen; };
static struct {
	struct trace ring[TRACE_RING];
	char bounce[LZ4_COMPRESSBOUND(65536)];
} g;
static volatile unsigned int ring_pos;

static int drv_compress(struct zswap_acomp_unit *u, unsigned int n)
{
	int out;
	unsigned int pos;
	(void)n;
	out = LZ4_compress_default((const char *)u->src, g.bounce, (int)u->slen,
				   (int)sizeof(g.bounce));
	pos = ring_pos;
	((volatile struct trace *)g.ring)[pos].slen = u->slen;
	((volatile struct trace *)g.ring)[pos].olen = (uint32_t)out;
	if (++pos > TRACE_RING)          /* BUG: should be >= */
		pos = 0;
	ring_pos = pos;
	if (out <= 0 || (unsigned int)out > u->capacity) {
		u->length = ZSWAP_ACOMP_ERR(EINVAL);
		return -EINVAL;
	}
	memcpy(u->dst, g.bounce, out);
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
	.abi_version = ZSWAP_ACOMP_DRIVER_ABI, .name = "a3-lz4-tracering",
	.format = "lz4", .batch_size = 1, .flags = ZSWAP_ACOMP_DETERMINISTIC,
	.compress = drv_compress, .decompress = drv_decompress,
};
static const struct zswap_acomp_driver *const list[] = { &drv, NULL };
const struct zswap_acomp_driver *const *zswap_acomp_drivers(void) { return list; }
