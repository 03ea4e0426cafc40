/* zswap-spec kcomp shim for the kernel's zstd (lib/zstd), called as
 * crypto/zstd.c calls it: zstd_get_params with the wrapper's arguments
 * (KC_ZSTD_LEVEL, KC_ZSTD_SRCSIZE from kc_params.h), one-shot context calls
 * in a workspace of the size the wrapper allocates. */
#include "kc_shim.h"
#include <linux/zstd.h>

/* The wrapper's view of a zstd call: the output length, or -EINVAL with
 * zstd's error code (negated) as the detail, -1 when the context could not
 * be set up in its workspace. */
static int kc_zstd_ret(int ready, size_t n, int *detail)
{
	if (!ready) {
		KC_DETAIL(-1);
		return -EINVAL;
	}
	if (zstd_is_error(n)) {
		KC_DETAIL(-(int)zstd_get_error_code(n));
		return -EINVAL;
	}
	KC_DETAIL(0);
	return (int)n;
}

KC_API int kc_zstd_compress(const void *src, unsigned int slen, void *dst, unsigned int cap, int *detail)
{
	zstd_parameters params = zstd_get_params(KC_ZSTD_LEVEL, KC_ZSTD_SRCSIZE);
	size_t a = zstd_cctx_workspace_bound(&params.cParams);
	size_t b = zstd_cstream_workspace_bound(&params.cParams);
	size_t size = a > b ? a : b;
	void *wksp = malloc(size);
	zstd_cctx *cctx;
	size_t n = 0;
	int ready;
	if (!wksp)
		return -ENOMEM;
	cctx = zstd_init_cctx(wksp, size);
	ready = cctx != NULL;
	if (ready)
		n = zstd_compress_cctx(cctx, dst, cap, src, slen, &params);
	free(wksp);
	return kc_zstd_ret(ready, n, detail);
}

KC_API int kc_zstd_decompress(const void *src, unsigned int slen, void *dst, unsigned int cap, int *detail)
{
	size_t size = zstd_dctx_workspace_bound();
	void *wksp = malloc(size);
	zstd_dctx *dctx;
	size_t n = 0;
	int ready;
	if (!wksp)
		return -ENOMEM;
	dctx = zstd_init_dctx(wksp, size);
	ready = dctx != NULL;
	if (ready)
		n = zstd_decompress_dctx(dctx, dst, cap, src, slen);
	free(wksp);
	return kc_zstd_ret(ready, n, detail);
}

KC_API int kc_zstd_level(void) { return KC_ZSTD_LEVEL; }
KC_API unsigned long long kc_zstd_srcsize(void) { return (unsigned long long)(KC_ZSTD_SRCSIZE); }
