/*
 * Class B (header parser that trusts a length field).
 * Bug: pages that already hold a zstd frame (compressed file pages) are
 * fingerprinted so the stats can count the same blob being swapped again.
 * The parser reads Frame_Content_Size from the frame header and hashes that
 * many bytes after the header -- the *decompressed* size, trusted as if it
 * were the payload length.  A frame of a whole page has FCS = page size, so
 * the hash reads (header size) bytes past the end of the source page.  The
 * compression itself is normal and fits.
 * Expected clause(s): C-OVERRUN (read past the source).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <zstd.h>
#include "zswap_acomp_driver.h"

static ZSTD_CCtx *cctx;
static volatile uint64_t blob_seen[256];

static int drv_init(void)
{
	cctx = ZSTD_createCCtx();
	if (!cctx) return -ENOMEM;
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 3);
	return 0;
}

/* Returns the header size and sets *fcs, or 0 if not a zstd frame with FCS. */
static unsigned int zstd_frame_fcs(const unsigned char *p, unsigned int n, uint64_t *fcs)
{
	unsigned int fhd, fcs_flag, single, did, pos, fcs_size;
	static const unsigned int did_size[4] = {0, 1, 2, 4};
	if (n < 6 || p[0] != 0x28 || p[1] != 0xB5 || p[2] != 0x2F || p[3] != 0xFD)
		return 0;
	fhd = p[4];
	fcs_flag = fhd >> 6; single = (fhd >> 5) & 1; did = fhd & 3;
	pos = 5 + (single ? 0 : 1) + did_size[did];
	fcs_size = fcs_flag == 0 ? (single ? 1 : 0) : (1u << fcs_flag);
	if (!fcs_size || pos + fcs_size > n) return 0;
	switch (fcs_size) {
	case 1: *fcs = p[pos]; break;
	case 2: *fcs = (uint64_t)(p[pos] | (p[pos + 1] << 8)) + 256; break;
	case 4: *fcs = (uint64_t)p[pos] | ((uint64_t)p[pos+1] << 8) | ((uint64_t)p[pos+2] << 16) | ((uint64_t)p[pos+3] << 24); break;
	default: memcpy(fcs, p + pos, 8); break;
	}
	return pos + fcs_size;
}

static void note_embedded_frame(const unsigned char *src, unsigned int slen)
{
	uint64_t fcs, h = 1469598103934665603ull, i;
	unsigned int hdr = zstd_frame_fcs(src, slen, &fcs);
	if (!hdr || fcs > 65536)      /* sanity: a frame inside one page */
		return;
	for (i = 0; i < fcs; i++)     /* BUG: fcs is the decompressed size */
		h = (h ^ src[hdr + i]) * 1099511628211ull;
	blob_seen[h & 255]++;
}

static int drv_compress(struct zswap_acomp_unit *u, unsigned int n)
{
	size_t r;
	(void)n;
	note_embedded_frame(u->src, u->slen);
	r = ZSTD_compress2(cctx, u->dst, u->capacity, u->src, u->slen);
	if (ZSTD_isError(r) || r == 0) {
		u->length = ZSWAP_ACOMP_ERR(EINVAL);
		return -EINVAL;
	}
	u->length = (unsigned int)r;
	return 0;
}

static int drv_decompress(const unsigned char *src, unsigned int slen,
			  unsigned char *dst, unsigned int *dlen)
{
	size_t r = ZSTD_decompress(dst, *dlen, src, slen);
	if (ZSTD_isError(r)) return -EINVAL;
	*dlen = (unsigned int)r;
	return 0;
}

static const struct zswap_acomp_driver drv = {
	.abi_version = ZSWAP_ACOMP_DRIVER_ABI, .name = "b2-zstd-fcsprobe",
	.format = "zstd", .batch_size = 1, .flags = ZSWAP_ACOMP_DETERMINISTIC,
	.init = drv_init, .compress = drv_compress, .decompress = drv_decompress,
};
static const struct zswap_acomp_driver *const list[] = { &drv, NULL };
const struct zswap_acomp_driver *const *zswap_acomp_drivers(void) { return list; }
