/* zswap-spec kcomp shim for the kernel's LZ4 and LZ4HC (lib/lz4), called as
 * crypto/lz4.c and crypto/lz4hc.c call them (LZ4HC at the wrapper's level). */
#include "kc_shim.h"
#include <linux/lz4.h>

/* The wrapper's view of an LZ4 compression result: 0 means "did not fit". */
static int kc_lz4_ret(int n, int *detail)
{
	KC_DETAIL(n);
	return n > 0 ? n : -EINVAL;
}

KC_API int kc_lz4_compress(const void *src, unsigned int slen, void *dst, unsigned int cap, int *detail)
{
	void *wrk = malloc(LZ4_MEM_COMPRESS);
	int n;
	if (!wrk)
		return -ENOMEM;
	n = LZ4_compress_default(src, dst, (int)slen, (int)cap, wrk);
	free(wrk);
	return kc_lz4_ret(n, detail);
}

KC_API int kc_lz4hc_compress(const void *src, unsigned int slen, void *dst, unsigned int cap, int *detail)
{
	void *wrk = malloc(LZ4HC_MEM_COMPRESS);
	int n;
	if (!wrk)
		return -ENOMEM;
	n = LZ4_compress_HC(src, dst, (int)slen, (int)cap, KC_LZ4HC_LEVEL, wrk);
	free(wrk);
	return kc_lz4_ret(n, detail);
}

KC_API int kc_lz4_decompress(const void *src, unsigned int slen, void *dst, unsigned int cap, int *detail)
{
	int n = LZ4_decompress_safe(src, dst, (int)slen, (int)cap);
	KC_DETAIL(n);
	return n < 0 ? -EINVAL : n;
}

KC_API int kc_lz4hc_level(void) { return KC_LZ4HC_LEVEL; }
