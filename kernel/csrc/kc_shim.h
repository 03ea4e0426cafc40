/* zswap-spec kcomp shim: entry points with a real destination capacity.
 * Written for zswap-spec.  Each function returns the output length on
 * success or the crypto wrapper's negative errno on failure; *detail gets
 * the library's own status (LZ4 return value, LZO_E_*, zstd error code,
 * zlib return code) when detail is not NULL.
 *
 * Included first by every kc_<library>.c shim.  kc_params.h is generated
 * into the build folder from the tree's crypto/ wrappers (levels, window
 * bits, which LZO variants, ...). */
#ifndef KC_SHIM_H
#define KC_SHIM_H

#include "kc_params.h"
#define KC_API __attribute__((__visibility__("default")))
#define KC_DETAIL(v) do { if (detail) *detail = (int)(v); } while (0)

#endif /* KC_SHIM_H */
