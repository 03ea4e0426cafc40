/* zswap-spec kcomp stand-in: everything lives in kc_kernel.h.
 * Copied as each kernel header (linux/..., asm/..., crypto/...) that the
 * extracted libraries include but the build does not take from the tree. */
#include <kc_kernel.h>
