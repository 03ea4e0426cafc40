/*
 * Class D - kernel self-test vectors (short inputs).
 * Bug: raw-deflate driver (batch 1, DETERMINISTIC) refuses inputs shorter
 * than 128 bytes with -EINVAL ("not worth the DMA setup"). Under zswap every
 * input is a page so it never matters, but crypto/testmgr's deflate
 * compression vectors (70 and 191 bytes) include one under 128 bytes.
 * Expected clause: C-SELFTEST.
 */
#include <errno.h>
#include <string.h>
#include <zlib.h>
#include "zswap_acomp_driver.h"

static int d2_compress(struct zswap_acomp_unit *u, unsigned int n)
{
	int ret = 0;
	for (unsigned int i = 0; i < n; i++) {
		if (u[i].slen < 128) { /* BUG */
			u[i].length = ZSWAP_ACOMP_ERR(EINVAL);
			ret = -EINVAL;
			continue;
		}
		z_stream s;
		memset(&s, 0, sizeof(s));
		if (deflateInit2(&s, 6, Z_DEFLATED, -11, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
			u[i].length = ZSWAP_ACOMP_ERR(ENOMEM);
			ret = -ENOMEM;
			continue;
		}
		s.next_in = (Bytef *)u[i].src;
		s.avail_in = u[i].slen;
		s.next_out = u[i].dst;
		s.avail_out = u[i].capacity;
		int r = deflate(&s, Z_FINISH);
		unsigned int out = (unsigned int)s.total_out;
		deflateEnd(&s);
		if (r != Z_STREAM_END) {
			u[i].length = ZSWAP_ACOMP_ERR(ENOSPC);
			ret = -ENOSPC;
		} else {
			u[i].length = out;
		}
	}
	return ret;
}

static int d2_decompress(const unsigned char *src, unsigned int slen,
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

static const struct zswap_acomp_driver d2 = {
	.abi_version = ZSWAP_ACOMP_DRIVER_ABI, .name = "d2-reject-short",
	.format = "deflate", .batch_size = 1, .flags = ZSWAP_ACOMP_DETERMINISTIC,
	.compress = d2_compress, .decompress = d2_decompress,
};
static const struct zswap_acomp_driver *const list[] = { &d2, NULL };
const struct zswap_acomp_driver *const *zswap_acomp_drivers(void) { return list; }
