/*
 * Class C - page sizes.
 * Bug: raw-deflate driver (batch 1, DETERMINISTIC) copies the request into
 * its own request struct whose source length is an `unsigned short`
 * (written when pages were 4 KiB). A 64 KiB page becomes a 0-byte input:
 * the driver emits an empty deflate stream and reports success.
 * Expected clauses: C-FORMAT, C-ROUNDTRIP (at 64 KiB only).
 */
#include <errno.h>
#include <string.h>
#include <zlib.h>
#include "zswap_acomp_driver.h"

struct my_req { const unsigned char *src; unsigned short slen; unsigned char *dst; unsigned int cap; };

static int do_deflate(struct my_req *rq, unsigned int *out)
{
	z_stream s;
	memset(&s, 0, sizeof(s));
	if (deflateInit2(&s, 6, Z_DEFLATED, -11, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	s.next_in = (Bytef *)rq->src;
	s.avail_in = rq->slen;
	s.next_out = rq->dst;
	s.avail_out = rq->cap;
	int r = deflate(&s, Z_FINISH);
	*out = (unsigned int)s.total_out;
	deflateEnd(&s);
	return r == Z_STREAM_END ? 0 : -ENOSPC;
}

static int c2_compress(struct zswap_acomp_unit *u, unsigned int n)
{
	int ret = 0;
	for (unsigned int i = 0; i < n; i++) {
		struct my_req rq = { u[i].src, (unsigned short)u[i].slen, u[i].dst, u[i].capacity }; /* BUG */
		unsigned int out;
		int r = do_deflate(&rq, &out);
		if (r) {
			u[i].length = ZSWAP_ACOMP_ERR(-r);
			ret = r;
		} else {
			u[i].length = out;
		}
	}
	return ret;
}

static int c2_decompress(const unsigned char *src, unsigned int slen,
			 unsigned char *dst, unsigned int *dlen)
{
	z_stream s;
	memset(&s, 0, sizeof(s));
	if (inflateInit2(&s, -15) != Z_OK)
		return -ENOMEM;
	s.next_in = (Bytef *)src;
	s.avail_in = slen;
	s.next_out = dst;
	s.avail_out = *dlen;
	int r = inflate(&s, Z_FINISH);
	unsigned int out = (unsigned int)s.total_out;
	inflateEnd(&s);
	if (r != Z_STREAM_END)
		return -EINVAL;
	*dlen = out;
	return 0;
}

static const struct zswap_acomp_driver c2 = {
	.abi_version = ZSWAP_ACOMP_DRIVER_ABI, .name = "c2-ushort-slen",
	.format = "deflate", .batch_size = 1, .flags = ZSWAP_ACOMP_DETERMINISTIC,
	.compress = c2_compress, .decompress = c2_decompress,
};
static const struct zswap_acomp_driver *const list[] = { &c2, NULL };
const struct zswap_acomp_driver *const *zswap_acomp_drivers(void) { return list; }
