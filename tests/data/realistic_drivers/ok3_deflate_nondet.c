/*
 * Class OK - correct but unusual: NOT deterministic (flags = 0). Raw deflate,
 * batch 8. Each unit picks level 1 or 9 at random (seeded from the clock and
 * pid), and if the output does not fit, retries with the other level, so
 * whether a unit succeeds depends only on the unit (fits at level 1 or 9),
 * while its bytes vary from call to call.
 * Clauses: conforms.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include "zswap_acomp_driver.h"

static unsigned int seed;

static int ok3_init(void)
{
	seed = (unsigned int)time(NULL) ^ (unsigned int)getpid();
	return 0;
}

static int try_level(struct zswap_acomp_unit *u, int level)
{
	z_stream s;
	memset(&s, 0, sizeof(s));
	if (deflateInit2(&s, level, Z_DEFLATED, -11, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	s.next_in = (Bytef *)u->src;
	s.avail_in = u->slen;
	s.next_out = u->dst;
	s.avail_out = u->capacity;
	int r = deflate(&s, Z_FINISH);
	unsigned int out = (unsigned int)s.total_out;
	deflateEnd(&s);
	if (r != Z_STREAM_END)
		return -ENOSPC;
	u->length = out;
	return 0;
}

static int ok3_compress(struct zswap_acomp_unit *u, unsigned int n)
{
	int ret = 0;
	for (unsigned int i = 0; i < n; i++) {
		int first = (rand_r(&seed) & 1) ? 9 : 1;
		int r = try_level(&u[i], first);
		if (r == -ENOSPC)
			r = try_level(&u[i], first == 9 ? 1 : 9);
		if (r) {
			u[i].length = ZSWAP_ACOMP_ERR(E2BIG);
			ret = -EINVAL;
		}
	}
	return ret;
}

static int ok3_decompress(const unsigned char *src, unsigned int slen,
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

static const struct zswap_acomp_driver ok3 = {
	.abi_version = ZSWAP_ACOMP_DRIVER_ABI, .name = "ok3-deflate-nondet",
	.format = "deflate", .batch_size = 8, .flags = 0,
	.init = ok3_init, .compress = ok3_compress, .decompress = ok3_decompress,
};
static const struct zswap_acomp_driver *const list[] = { &ok3, NULL };
const struct zswap_acomp_driver *const *zswap_acomp_drivers(void) { return list; }
