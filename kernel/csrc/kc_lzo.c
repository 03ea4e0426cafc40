/* zswap-spec kcomp shim for the kernel's LZO1X and LZO-RLE (lib/lzo), called
 * as crypto/lzo.c and crypto/lzo-rle.c call them: the "safe" compressors
 * when the wrapper uses them (KC_LZO_FN / KC_LZORLE_FN from kc_params.h). */
#include "kc_shim.h"
#include <linux/lzo.h>

/* The wrapper's view of an LZO status: the output length, or -EINVAL. */
static int kc_lzo_ret(int err, size_t len, int *detail)
{
	KC_DETAIL(err);
	if (err != LZO_E_OK)
		return -EINVAL;
	return (int)len;
}

static int kc_lzo_run(int rle, const void *src, unsigned int slen, void *dst, unsigned int cap, int *detail)
{
	size_t len = cap;
	void *wrk = malloc(LZO1X_1_MEM_COMPRESS);
	int err;
	if (!wrk)
		return -ENOMEM;
	(void)rle;
#if KC_LZO_HAVE_RLE
	if (rle)
		err = KC_LZORLE_FN(src, slen, dst, &len, wrk);
	else
#endif
		err = KC_LZO_FN(src, slen, dst, &len, wrk);
	free(wrk);
	return kc_lzo_ret(err, len, detail);
}

KC_API int kc_lzo_compress(const void *src, unsigned int slen, void *dst, unsigned int cap, int *detail)
{ return kc_lzo_run(0, src, slen, dst, cap, detail); }

#if KC_LZO_HAVE_RLE
KC_API int kc_lzorle_compress(const void *src, unsigned int slen, void *dst, unsigned int cap, int *detail)
{ return kc_lzo_run(1, src, slen, dst, cap, detail); }
#endif

KC_API int kc_lzo_decompress(const void *src, unsigned int slen, void *dst, unsigned int cap, int *detail)
{
	size_t len = cap;
	int err = lzo1x_decompress_safe(src, slen, dst, &len);
	return kc_lzo_ret(err, len, detail);
}

/* 1 when compression respects the capacity (the _safe variants). */
KC_API int kc_lzo_safe(void) { return KC_LZO_SAFE; }
KC_API unsigned int kc_lzo_worst(unsigned int slen) { return (unsigned int)lzo1x_worst_compress(slen); }
