/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * zswap_acomp_driver.h - the C interface between a compression driver and
 * the driver conformance kit of zswap-spec (`zswap-spec check-driver`).
 *
 * A driver is a shared object that exports one function,
 * zswap_acomp_drivers(), returning a NULL-terminated array of driver
 * descriptions.  The kit loads the object in a separate process, hands the
 * driver batches of units and checks every answer against the acomp batch
 * contract, clause by clause (spec/zswap-spec.md, section 11, where every
 * field below is explained and every clause ID is defined).
 *
 * Build a driver with:
 *     gcc -O2 -fPIC -shared -I"$(zswap-spec check-driver --header-dir)" \
 *         mydriver.c -o mydriver.so
 * and check it with:
 *     zswap-spec check-driver ./mydriver.so
 */
#ifndef ZSWAP_ACOMP_DRIVER_H
#define ZSWAP_ACOMP_DRIVER_H

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The ABI this header describes; a driver puts it in abi_version.  Version 2
 * added page_sizes at the end; the kit still reads version-1 drivers (which
 * then support every page size).
 */
#define ZSWAP_ACOMP_DRIVER_ABI 2

/* The name of the one symbol the kit looks up. */
#define ZSWAP_ACOMP_DRIVERS_SYMBOL "zswap_acomp_drivers"

/* Largest errno a unit may report, as in the kernel's MAX_ERRNO. */
#define ZSWAP_ACOMP_MAX_ERRNO 4095

/* flags: the same batch always gets the same answer, byte for byte. */
#define ZSWAP_ACOMP_DETERMINISTIC 0x1u

/*
 * page_sizes: the page sizes a driver supports, bit n for 2^n bytes; 0 means
 * every size the spec covers (4, 16 and 64 KiB).
 */
#define ZSWAP_ACOMP_PAGE_4K  (1u << 12)
#define ZSWAP_ACOMP_PAGE_16K (1u << 14)
#define ZSWAP_ACOMP_PAGE_64K (1u << 16)

/*
 * A unit's result in `length`, as a destination scatterlist entry carries it
 * in the batch contract: a compressed length in (0, capacity], or a negative
 * errno (-4095..-1) converted to unsigned int.
 */
#define ZSWAP_ACOMP_ERR(errno_value) ((unsigned int)-(int)(errno_value))
#define ZSWAP_ACOMP_IS_ERR(length) \
	((unsigned int)(length) >= (unsigned int)-ZSWAP_ACOMP_MAX_ERRNO)

/* One unit of a batch: one page to compress into its own destination. */
struct zswap_acomp_unit {
	const unsigned char *src;  /* the unit's input; must not be written */
	unsigned int slen;         /* its length: the page size under zswap;
	                            * the kernel's self-test vectors
	                            * (crypto/testmgr.h) are shorter */
	unsigned char *dst;        /* its destination buffer */
	unsigned int capacity;     /* bytes available at dst, nothing beyond */
	unsigned int length;       /* out: compressed length or ZSWAP_ACOMP_ERR(e);
	                            * holds garbage on entry: always write it */
};

struct zswap_acomp_driver {
	unsigned int abi_version;  /* ZSWAP_ACOMP_DRIVER_ABI */
	const char *name;          /* unique within the shared object */
	const char *format;        /* "lz4" (block), "zstd" (frame), "deflate"
	                            * (raw), or "none" (a format of its own) */
	unsigned int batch_size;   /* units per call, 1 to 64; zswap uses up to 8 */
	unsigned int flags;        /* ZSWAP_ACOMP_DETERMINISTIC or 0 */

	/* Optional (may be NULL): called once after loading; 0 or -errno. */
	int (*init)(void);

	/*
	 * Compress nr_units units (1 <= nr_units <= batch_size), each into its
	 * own destination, writing every unit's length.  Returns 0 when every
	 * unit succeeded, a negative errno when at least one failed.
	 */
	int (*compress)(struct zswap_acomp_unit *units, unsigned int nr_units);

	/*
	 * Optional (may be NULL): decompress slen bytes at src into dst, whose
	 * capacity is *dlen on entry; on success set *dlen to the output length
	 * and return 0, else return a negative errno.
	 */
	int (*decompress)(const unsigned char *src, unsigned int slen,
			  unsigned char *dst, unsigned int *dlen);

	/* ZSWAP_ACOMP_PAGE_* bits of the page sizes it supports; 0: all. */
	unsigned int page_sizes;
};

/* The entry point: a NULL-terminated array of the object's drivers. */
const struct zswap_acomp_driver *const *zswap_acomp_drivers(void);

#ifdef __cplusplus
}
#endif

#endif /* ZSWAP_ACOMP_DRIVER_H */
