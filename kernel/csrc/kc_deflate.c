/* zswap-spec kcomp shim for the kernel's raw deflate (lib/zlib_deflate,
 * lib/zlib_inflate), called as crypto/deflate.c calls it: the wrapper's
 * level, window bits and memory level, and either its one-shot style or
 * (KC_DEFLATE_WALK, 7.x acomp wrappers) its walk over the buffers. */
#include "kc_shim.h"
#include <linux/zlib.h>

/* kc_params.h carries the wrapper's DEFLATE_DEF_* defines when it has them;
 * these are the fallbacks when crypto/deflate.c was not found. */
#ifndef DEFLATE_DEF_LEVEL
#define DEFLATE_DEF_LEVEL Z_DEFAULT_COMPRESSION
#endif
#ifndef DEFLATE_DEF_WINBITS
#define DEFLATE_DEF_WINBITS 11
#endif
#ifndef DEFLATE_DEF_MEMLEVEL
#define DEFLATE_DEF_MEMLEVEL MAX_MEM_LEVEL
#endif
#define KC_DEFLATE_LEVEL (DEFLATE_DEF_LEVEL)
#define KC_DEFLATE_WINBITS (DEFLATE_DEF_WINBITS)
#define KC_DEFLATE_MEMLEVEL (DEFLATE_DEF_MEMLEVEL)

/* A zeroed stream with a workspace large enough for either direction;
 * false when out of memory. */
static bool kc_zlib_start(struct z_stream_s *s)
{
	size_t a = (size_t)zlib_deflate_workspacesize(-KC_DEFLATE_WINBITS, KC_DEFLATE_MEMLEVEL);
	size_t b = (size_t)zlib_inflate_workspacesize();
	memset(s, 0, sizeof(*s));
	s->workspace = malloc(a > b ? a : b);
	return s->workspace != NULL;
}

/* End a call: free the workspace and report zlib's status `ret` as the
 * detail.  Returns `err` (a negative errno) when set, else the output
 * length if the stream ended, else -EINVAL. */
static int kc_zlib_end(struct z_stream_s *s, int ret, int err, int *detail)
{
	free(s->workspace);
	KC_DETAIL(ret);
	if (err)
		return err;
	if (ret != Z_STREAM_END)
		return -EINVAL;
	return (int)s->total_out;
}

KC_API int kc_deflate_compress(const void *src, unsigned int slen, void *dst, unsigned int cap, int *detail)
{
	struct z_stream_s s;
	int ret;
	if (!kc_zlib_start(&s))
		return -ENOMEM;
	ret = zlib_deflateInit2(&s, KC_DEFLATE_LEVEL, Z_DEFLATED, -KC_DEFLATE_WINBITS,
				KC_DEFLATE_MEMLEVEL, Z_DEFAULT_STRATEGY);
	if (ret != Z_OK)
		return kc_zlib_end(&s, ret, -EINVAL, detail);
	s.next_in = slen ? (const void *)src : NULL;
	s.avail_in = slen;
	s.next_out = dst;
	s.avail_out = cap;
#if KC_DEFLATE_WALK
	/* one source and one destination segment: the wrapper's walk reduces to
	 * Z_FINISH calls while they make progress; a full destination with the
	 * stream unfinished is "out of space". */
	if (!cap)
		return kc_zlib_end(&s, Z_BUF_ERROR, -ENOSPC, detail);
	do {
		ret = zlib_deflate(&s, Z_FINISH);
	} while (ret == Z_OK && s.avail_out);
	if (ret == Z_OK)
		return kc_zlib_end(&s, ret, -ENOSPC, detail);
#else
	ret = zlib_deflate(&s, Z_FINISH);
#endif
	return kc_zlib_end(&s, ret, 0, detail);
}

KC_API int kc_deflate_decompress(const void *src, unsigned int slen, void *dst, unsigned int cap, int *detail)
{
	struct z_stream_s s;
	int ret;
	if (!kc_zlib_start(&s))
		return -ENOMEM;
	ret = zlib_inflateInit2(&s, -KC_DEFLATE_WINBITS);
	if (ret != Z_OK)
		return kc_zlib_end(&s, ret, -EINVAL, detail);
	s.next_in = slen ? (const void *)src : NULL;
	s.avail_in = slen;
#if KC_DEFLATE_WALK
	{
		unsigned int done = 0;
		int pass = 0;
		do {
			if (pass++) {
				s.next_in = NULL;
				s.avail_in = 0;
			}
			do {
				unsigned int dcur = cap - done;
				unsigned long before = s.avail_in;
				s.next_out = (unsigned char *)dst + done;
				s.avail_out = dcur;
				ret = zlib_inflate(&s, Z_NO_FLUSH);
				if (!dcur && before == s.avail_in)
					return kc_zlib_end(&s, ret, -ENOSPC, detail);
				done += dcur - s.avail_out;
			} while (ret == Z_OK && s.avail_in);
		} while (ret == Z_OK && pass < 1000000);
	}
#else
	s.next_out = dst;
	s.avail_out = cap;
	ret = zlib_inflate(&s, Z_SYNC_FLUSH);
	if (ret == Z_OK && !s.avail_in && s.avail_out) {
		u8 zero = 0;
		s.next_in = &zero;
		s.avail_in = 1;
		ret = zlib_inflate(&s, Z_FINISH);
	}
#endif
	return kc_zlib_end(&s, ret, 0, detail);
}

KC_API int kc_deflate_level(void) { return KC_DEFLATE_LEVEL; }
KC_API int kc_deflate_winbits(void) { return KC_DEFLATE_WINBITS; }
KC_API int kc_deflate_memlevel(void) { return KC_DEFLATE_MEMLEVEL; }
