"""A given kernel's own compressors, built from its source tree, for the model.

The model's software algorithms (`zswap_spec.model.compressors`) use the
user-space libraries.  They behave like the kernel's algorithms but do not
produce the same bytes: the kernel carries its own, older or patched copies of
LZ4, LZO, zstd and zlib, and compressed sizes differ by a few bytes per page.
To predict what one particular kernel stores for one particular page, the
model needs that kernel's compressor code.

This module gets it at run time, from a kernel source the user supplies (a
tarball such as Debian's ``linux-source-7.3.tar.xz`` or an unpacked tree).  It
copies only the compression libraries (``lib/lz4``, ``lib/lzo``, ``lib/zstd``,
``lib/zlib_deflate``, ``lib/zlib_inflate``, ``lib/xxhash.c``), their public
headers and the crypto wrappers (``crypto/*.c``, read for their parameters,
never compiled) into a cache folder, adds stand-in headers for the rest of the
kernel environment and a small C shim, and compiles one shared library with
gcc.  Nothing from the kernel tree is part of this project: the stand-in
headers and the shim below are written for it, and the kernel files live only
in the user's cache.

The shim calls each algorithm the way its crypto wrapper in that tree does
(LZ4 default, LZ4HC at the wrapper's level, the "safe" LZO variants when the
wrapper uses them, zstd with the wrapper's `zstd_get_params` arguments, raw
deflate with the wrapper's window bits and memory level), with the real
destination capacity.  The Python classes present the same interface as the
model's `SoftwareAlgorithm` and report what the crypto wrapper reports.

Use::

    from zswap_spec.kernel.kcomp import kernel_algorithms
    algs = kernel_algorithms(Path("/usr/src/linux-source-7.3.tar.xz"))
    ret, dlen, out = algs["lz4"].compress(page, 4096)

The cache is ``$ZSWAP_SPEC_CACHE/kcomp`` (default ``~/.cache/zswap-spec``),
one folder per source (tarball name, size and mtime), with the build log.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..model.cint import EINVAL, u32

__all__ = [
    "KernelCompressorError",
    "KernelAlgorithm",
    "build_kernel_compressors",
    "build_info",
    "kernel_algorithms",
    "kernel_algorithm",
    "default_cache_dir",
    "ALGORITHM_NAMES",
]

ALGORITHM_NAMES = ("lz4", "lz4hc", "lzo", "lzo-rle", "zstd", "deflate")
LIBRARY_NAME = "libkcomp.so"


class KernelCompressorError(RuntimeError):
    """The kernel's compressors cannot be built or used; the message says why and what to do."""


# ---------------------------------------------------------------------------
# What to take from the kernel tree.

_WANTED_DIRS = ("lib/lz4/", "lib/lzo/", "lib/zstd/", "lib/zlib_deflate/", "lib/zlib_inflate/")
_WANTED_FILES = frozenset(
    {
        "Makefile",
        "lib/xxhash.c",
        "include/linux/lz4.h",
        "include/linux/lzo.h",
        "include/linux/zstd.h",
        "include/linux/zstd_lib.h",
        "include/linux/zstd_errors.h",
        "include/linux/zlib.h",
        "include/linux/zconf.h",
        "include/linux/zutil.h",
        "include/linux/xxhash.h",
        "crypto/lz4.c",
        "crypto/lz4hc.c",
        "crypto/lzo.c",
        "crypto/lzo-rle.c",
        "crypto/zstd.c",
        "crypto/deflate.c",
    }
)
# First path components of a kernel tree that can hold a wanted file: a
# tarball member starting with anything else has a top folder to strip.
_TREE_TOP = frozenset({"lib", "include", "crypto", "Makefile"})


def _wanted(rel: str) -> bool:
    if rel in _WANTED_FILES:
        return True
    if rel.startswith(_WANTED_DIRS):
        name = rel.rsplit("/", 1)[-1]
        return name.endswith((".c", ".h")) or name == "Makefile"
    return False


def _member_rel(name: str) -> str:
    name = name.lstrip("/")
    while name.startswith("./"):
        name = name[2:]
    first, _, rest = name.partition("/")
    if first in _TREE_TOP:
        return name
    return rest


# ---------------------------------------------------------------------------
# Stand-in kernel environment (written for this project).

_KC_KERNEL_H = r"""/* Stand-in kernel environment for compiling a kernel's compression
 * libraries as ordinary user-space C.  Written for zswap-spec: only what
 * those libraries use, with user-space meanings (malloc for the kernel
 * allocators, no-ops for module metadata, memcpy-like unaligned access).
 * Force-included before every file of the build. */
#ifndef KC_KERNEL_H
#define KC_KERNEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdarg.h>
#include <string.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__ || !defined(__LP64__)
#error "zswap-spec kcomp: only 64-bit little-endian hosts are supported"
#endif
/* The kernel defines only the host's byte-order name; glibc defines both. */
#undef __BIG_ENDIAN
#ifndef __LITTLE_ENDIAN
#define __LITTLE_ENDIAN 1234
#endif
#ifndef __LITTLE_ENDIAN_BITFIELD
#define __LITTLE_ENDIAN_BITFIELD
#endif

void *malloc(size_t size);
void *calloc(size_t nmemb, size_t size);
void free(void *ptr);
void abort(void);

/* ---- types ---- */
typedef uint8_t u8;   typedef int8_t s8;
typedef uint16_t u16; typedef int16_t s16;
typedef uint32_t u32; typedef int32_t s32;
typedef uint64_t u64; typedef int64_t s64;
typedef uint8_t __u8;   typedef int8_t __s8;
typedef uint16_t __u16; typedef int16_t __s16;
typedef uint32_t __u32; typedef int32_t __s32;
typedef uint64_t __u64; typedef int64_t __s64;
typedef u16 __le16; typedef u32 __le32; typedef u64 __le64;
typedef u16 __be16; typedef u32 __be32; typedef u64 __be64;
typedef unsigned int gfp_t;
typedef unsigned long ulong;
typedef unsigned int uint;
typedef unsigned char uchar;
#ifndef __ssize_t_defined
typedef long ssize_t;
#define __ssize_t_defined
#endif

/* ---- limits ---- */
#define U8_MAX  ((u8)~0U)
#define S8_MAX  ((s8)(U8_MAX >> 1))
#define S8_MIN  ((s8)(-S8_MAX - 1))
#define U16_MAX ((u16)~0U)
#define S16_MAX ((s16)(U16_MAX >> 1))
#define S16_MIN ((s16)(-S16_MAX - 1))
#define U32_MAX ((u32)~0U)
#define S32_MAX ((s32)(U32_MAX >> 1))
#define S32_MIN ((s32)(-S32_MAX - 1))
#define U64_MAX ((u64)~0ULL)
#define S64_MAX ((s64)(U64_MAX >> 1))
#define S64_MIN ((s64)(-S64_MAX - 1))
#ifndef INT_MAX
#define INT_MAX __INT_MAX__
#define INT_MIN (-INT_MAX - 1)
#define UINT_MAX (INT_MAX * 2U + 1U)
#define LONG_MAX __LONG_MAX__
#define LONG_MIN (-LONG_MAX - 1L)
#define ULONG_MAX (LONG_MAX * 2UL + 1UL)
#define SHRT_MAX __SHRT_MAX__
#define USHRT_MAX 0xffff
#define CHAR_BIT __CHAR_BIT__
#endif
#define BITS_PER_BYTE 8
#define BITS_PER_LONG 64
#define BITS_PER_LONG_LONG 64

#define PAGE_SHIFT 12
#define PAGE_SIZE (1UL << PAGE_SHIFT)
#define PAGE_MASK (~(PAGE_SIZE - 1))

/* ---- errno ---- */
#define EPERM 1
#define ENOENT 2
#define EIO 5
#define E2BIG 7
#define EAGAIN 11
#define ENOMEM 12
#define EFAULT 14
#define EBUSY 16
#define EEXIST 17
#define EINVAL 22
#define ENOSPC 28
#define ERANGE 34
#define ENOSYS 38
#define ENODATA 61
#define EOVERFLOW 75
#define EBADMSG 74
#define EOPNOTSUPP 95
#define MAX_ERRNO 4095
#define IS_ERR_VALUE(x) ((unsigned long)(void *)(x) >= (unsigned long)-MAX_ERRNO)
static inline void *ERR_PTR(long error) { return (void *)error; }
static inline long PTR_ERR(const void *ptr) { return (long)ptr; }
static inline bool IS_ERR(const void *ptr) { return IS_ERR_VALUE((unsigned long)ptr); }
static inline bool IS_ERR_OR_NULL(const void *ptr) { return !ptr || IS_ERR(ptr); }

/* ---- compiler ---- */
#ifndef __always_inline
#define __always_inline inline __attribute__((__always_inline__))
#endif
#define noinline __attribute__((__noinline__))
#define __noinline __attribute__((__noinline__))
#ifndef __attribute_const__
#define __attribute_const__ __attribute__((__const__))
#endif
#define __pure __attribute__((__pure__))
#define __cold __attribute__((__cold__))
#define __hot __attribute__((__hot__))
#define __maybe_unused __attribute__((__unused__))
#define __always_unused __attribute__((__unused__))
#define __used __attribute__((__used__))
#define __aligned(x) __attribute__((__aligned__(x)))
#define __packed __attribute__((__packed__))
#define __must_check __attribute__((__warn_unused_result__))
#define __weak __attribute__((__weak__))
#define __printf(a, b) __attribute__((__format__(printf, a, b)))
#define __section(s) __attribute__((__section__(s)))
#define __malloc __attribute__((__malloc__))
#define __force
#define __user
#define __kernel
#define __iomem
#define __rcu
#define __percpu
#define __init
#define __exit
#define __initdata
#define __initconst
#define __exitdata
#define __read_mostly
#define __ro_after_init
#define __visible
#define __nonstring
#define __counted_by(m)
#define __counted_by_le(m)
#define __counted_by_be(m)
#define __no_sanitize_address
#define __no_kcsan
#define notrace
#define asmlinkage
#define __cacheline_aligned __attribute__((__aligned__(64)))
#define ____cacheline_aligned __attribute__((__aligned__(64)))
#define SMP_CACHE_BYTES 64
#define L1_CACHE_BYTES 64
#define fallthrough __attribute__((__fallthrough__))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define unreachable() __builtin_unreachable()
#define barrier() __asm__ __volatile__("" : : : "memory")
#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) do { *(volatile __typeof__(x) *)&(x) = (v); } while (0)
#define __stringify_1(x...) #x
#define __stringify(x...) __stringify_1(x)
#define __same_type(a, b) __builtin_types_compatible_p(__typeof__(a), __typeof__(b))
#define BUILD_BUG_ON(cond) ((void)sizeof(char[1 - 2 * !!(cond)]))
#define BUILD_BUG_ON_MSG(cond, msg) BUILD_BUG_ON(cond)
#define BUILD_BUG_ON_ZERO(e) ((int)(sizeof(struct { int : (-!!(e)); })))
#define BUILD_BUG() do { } while (0)
#ifndef static_assert
#define static_assert(expr, ...) __kc_static_assert(expr, ##__VA_ARGS__, #expr)
#define __kc_static_assert(expr, msg, ...) _Static_assert(expr, msg)
#endif

/* IS_ENABLED(CONFIG_X): 1 when CONFIG_X is defined to 1 on the command line. */
#define __KC_ARG_PLACEHOLDER_1 0,
#define __kc_second_arg(ignored, val, ...) val
#define __kc_is_defined(x) ___kc_is_defined(x)
#define ___kc_is_defined(val) ____kc_is_defined(__KC_ARG_PLACEHOLDER_##val)
#define ____kc_is_defined(arg1_or_junk) __kc_second_arg(arg1_or_junk 1, 0)
#define IS_ENABLED(option) __kc_is_defined(option)
#define IS_BUILTIN(option) __kc_is_defined(option)
#define IS_REACHABLE(option) __kc_is_defined(option)

/* ---- module metadata: nothing to record in user space ---- */
#define __KC_NOTHING extern int __kc_nothing
#define EXPORT_SYMBOL(sym) __KC_NOTHING
#define EXPORT_SYMBOL_GPL(sym) __KC_NOTHING
#define EXPORT_SYMBOL_NS(sym, ns) __KC_NOTHING
#define EXPORT_SYMBOL_NS_GPL(sym, ns) __KC_NOTHING
#define EXPORT_SYMBOL_FOR_MODULES(sym, mods) __KC_NOTHING
#define EXPORT_SYMBOL_GPL_FOR_MODULES(sym, mods) __KC_NOTHING
#define MODULE_LICENSE(x) __KC_NOTHING
#define MODULE_DESCRIPTION(x) __KC_NOTHING
#define MODULE_AUTHOR(x) __KC_NOTHING
#define MODULE_VERSION(x) __KC_NOTHING
#define MODULE_ALIAS(x) __KC_NOTHING
#define MODULE_SOFTDEP(x) __KC_NOTHING
#define MODULE_IMPORT_NS(x) __KC_NOTHING
#define module_init(fn) __KC_NOTHING
#define module_exit(fn) __KC_NOTHING
#define subsys_initcall(fn) __KC_NOTHING
#define late_initcall(fn) __KC_NOTHING
#define THIS_MODULE ((void *)0)

/* ---- diagnostics ---- */
static inline __attribute__((__format__(printf, 1, 2))) int printk(const char *fmt, ...)
{ (void)fmt; return 0; }
#define KERN_EMERG ""
#define KERN_ALERT ""
#define KERN_CRIT ""
#define KERN_ERR ""
#define KERN_WARNING ""
#define KERN_NOTICE ""
#define KERN_INFO ""
#define KERN_DEBUG ""
#define KERN_CONT ""
#define pr_fmt(fmt) fmt
#define pr_emerg(fmt, ...) printk(fmt, ##__VA_ARGS__)
#define pr_alert(fmt, ...) printk(fmt, ##__VA_ARGS__)
#define pr_crit(fmt, ...) printk(fmt, ##__VA_ARGS__)
#define pr_err(fmt, ...) printk(fmt, ##__VA_ARGS__)
#define pr_warn(fmt, ...) printk(fmt, ##__VA_ARGS__)
#define pr_warn_once(fmt, ...) printk(fmt, ##__VA_ARGS__)
#define pr_notice(fmt, ...) printk(fmt, ##__VA_ARGS__)
#define pr_info(fmt, ...) printk(fmt, ##__VA_ARGS__)
#define pr_cont(fmt, ...) printk(fmt, ##__VA_ARGS__)
#define pr_debug(fmt, ...) printk(fmt, ##__VA_ARGS__)
#define pr_devel(fmt, ...) printk(fmt, ##__VA_ARGS__)
#define WARN_ON(cond) ({ int __kc_w = !!(cond); __kc_w; })
#define WARN_ON_ONCE(cond) WARN_ON(cond)
#define WARN(cond, fmt...) WARN_ON(cond)
#define WARN_ONCE(cond, fmt...) WARN_ON(cond)
#define BUG() abort()
#define BUG_ON(cond) do { if (cond) abort(); } while (0)
#define might_sleep() do { } while (0)
#define cond_resched() do { } while (0)

/* ---- arithmetic helpers ---- */
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define BIT(n) (1UL << (n))
#define BIT_ULL(n) (1ULL << (n))
#define GENMASK(h, l) (((~0UL) - (1UL << (l)) + 1) & (~0UL >> (BITS_PER_LONG - 1 - (h))))
#define DIV_ROUND_UP(n, d) (((n) + (d) - 1) / (d))
#define __KC_ALIGN_MASK(x, mask) (((x) + (mask)) & ~(mask))
#define ALIGN(x, a) __KC_ALIGN_MASK(x, (__typeof__(x))(a) - 1)
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a) - 1))
#define PTR_ALIGN(p, a) ((__typeof__(p))ALIGN((unsigned long)(p), (a)))
#define IS_ALIGNED(x, a) (((x) & ((__typeof__(x))(a) - 1)) == 0)
#define min(x, y) ({ __typeof__(x) __kc_x = (x); __typeof__(y) __kc_y = (y); \
                     __kc_x < __kc_y ? __kc_x : __kc_y; })
#define max(x, y) ({ __typeof__(x) __kc_x = (x); __typeof__(y) __kc_y = (y); \
                     __kc_x > __kc_y ? __kc_x : __kc_y; })
#define min_t(t, x, y) ({ t __kc_x = (x); t __kc_y = (y); __kc_x < __kc_y ? __kc_x : __kc_y; })
#define max_t(t, x, y) ({ t __kc_x = (x); t __kc_y = (y); __kc_x > __kc_y ? __kc_x : __kc_y; })
#define min3(x, y, z) min(min(x, y), z)
#define max3(x, y, z) max(max(x, y), z)
#define umin(x, y) min((unsigned long long)(x), (unsigned long long)(y))
#define umax(x, y) max((unsigned long long)(x), (unsigned long long)(y))
#define clamp(v, lo, hi) min(max(v, lo), hi)
#define clamp_t(t, v, lo, hi) min_t(t, max_t(t, v, lo), hi)
#define swap(a, b) do { __typeof__(a) __kc_t = (a); (a) = (b); (b) = __kc_t; } while (0)
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#define sizeof_field(t, m) sizeof(((t *)0)->m)
#define struct_size(p, member, n) (sizeof(*(p)) + (n) * sizeof(*(p)->member))
#define array_size(a, b) ((size_t)(a) * (size_t)(b))
#define size_add(a, b) ((size_t)(a) + (size_t)(b))
#define size_mul(a, b) ((size_t)(a) * (size_t)(b))
#define check_add_overflow(a, b, d) __builtin_add_overflow(a, b, d)
#define check_mul_overflow(a, b, d) __builtin_mul_overflow(a, b, d)
#define check_sub_overflow(a, b, d) __builtin_sub_overflow(a, b, d)
#define lower_32_bits(n) ((u32)((n) & 0xffffffff))
#define upper_32_bits(n) ((u32)(((n) >> 16) >> 16))

static inline u64 div_u64(u64 dividend, u32 divisor) { return dividend / divisor; }
static inline u64 div64_u64(u64 dividend, u64 divisor) { return dividend / divisor; }
static inline s64 div_s64(s64 dividend, s32 divisor) { return dividend / divisor; }
static inline u64 div_u64_rem(u64 dividend, u32 divisor, u32 *rem)
{ *rem = dividend % divisor; return dividend / divisor; }
#define do_div(n, base) ({ u32 __kc_b = (base); u32 __kc_r = (u32)((n) % __kc_b); \
                           (n) = (n) / __kc_b; __kc_r; })

/* ---- bit operations ---- */
static inline unsigned long __ffs(unsigned long w) { return (unsigned long)__builtin_ctzl(w); }
static inline unsigned long __fls(unsigned long w) { return 63UL - (unsigned long)__builtin_clzl(w); }
static inline unsigned long __ffs64(u64 w) { return (unsigned long)__builtin_ctzll(w); }
static inline int fls(unsigned int x) { return x ? 32 - __builtin_clz(x) : 0; }
static inline int fls64(u64 x) { return x ? 64 - __builtin_clzll(x) : 0; }
static inline int fls_long(unsigned long x) { return fls64(x); }
#define ffs(x) __builtin_ffs(x)
#define ffz(x) __ffs(~(unsigned long)(x))
#define ilog2(n) ((int)(sizeof(n) <= 4 ? fls((u32)(n)) - 1 : fls64((u64)(n)) - 1))
#define is_power_of_2(n) ((n) != 0 && (((n) & ((n) - 1)) == 0))
#define hweight32(w) __builtin_popcount(w)
#define hweight64(w) __builtin_popcountll(w)
static inline u32 rol32(u32 w, unsigned int s) { return (w << (s & 31)) | (w >> ((-s) & 31)); }
static inline u32 ror32(u32 w, unsigned int s) { return (w >> (s & 31)) | (w << ((-s) & 31)); }
static inline u64 rol64(u64 w, unsigned int s) { return (w << (s & 63)) | (w >> ((-s) & 63)); }
static inline u64 ror64(u64 w, unsigned int s) { return (w >> (s & 63)) | (w << ((-s) & 63)); }

static inline u8 bitrev8(u8 b)
{
	b = (u8)(((b & 0xF0) >> 4) | ((b & 0x0F) << 4));
	b = (u8)(((b & 0xCC) >> 2) | ((b & 0x33) << 2));
	return (u8)(((b & 0xAA) >> 1) | ((b & 0x55) << 1));
}
static inline u16 bitrev16(u16 x) { return (u16)((bitrev8(x & 0xff) << 8) | bitrev8(x >> 8)); }
static inline u32 bitrev32(u32 x) { return ((u32)bitrev16(x & 0xffff) << 16) | bitrev16(x >> 16); }

/* ---- byte order (little-endian host) ---- */
#define swab16(x) __builtin_bswap16(x)
#define swab32(x) __builtin_bswap32(x)
#define swab64(x) __builtin_bswap64(x)
#define __swab16(x) __builtin_bswap16(x)
#define __swab32(x) __builtin_bswap32(x)
#define __swab64(x) __builtin_bswap64(x)
#define cpu_to_le16(x) ((u16)(x))
#define cpu_to_le32(x) ((u32)(x))
#define cpu_to_le64(x) ((u64)(x))
#define le16_to_cpu(x) ((u16)(x))
#define le32_to_cpu(x) ((u32)(x))
#define le64_to_cpu(x) ((u64)(x))
#define cpu_to_be16(x) __builtin_bswap16(x)
#define cpu_to_be32(x) __builtin_bswap32(x)
#define cpu_to_be64(x) __builtin_bswap64(x)
#define be16_to_cpu(x) __builtin_bswap16(x)
#define be32_to_cpu(x) __builtin_bswap32(x)
#define be64_to_cpu(x) __builtin_bswap64(x)
#define __cpu_to_le16(x) cpu_to_le16(x)
#define __cpu_to_le32(x) cpu_to_le32(x)
#define __cpu_to_le64(x) cpu_to_le64(x)
#define __le16_to_cpu(x) le16_to_cpu(x)
#define __le32_to_cpu(x) le32_to_cpu(x)
#define __le64_to_cpu(x) le64_to_cpu(x)

/* ---- unaligned access through a packed one-member struct ---- */
#define __kc_get_unaligned_t(type, ptr) \
	({ const struct { type x; } __attribute__((__packed__)) *__kc_p = (const void *)(ptr); __kc_p->x; })
#define __kc_put_unaligned_t(type, val, ptr) \
	({ struct { type x; } __attribute__((__packed__)) *__kc_q = (void *)(ptr); __kc_q->x = (val); (void)0; })
#define get_unaligned(ptr) __kc_get_unaligned_t(__typeof__(*(ptr)), (ptr))
#define put_unaligned(val, ptr) __kc_put_unaligned_t(__typeof__(*(ptr)), (val), (ptr))
#define get_unaligned_le16(p) __kc_get_unaligned_t(u16, (p))
#define get_unaligned_le32(p) __kc_get_unaligned_t(u32, (p))
#define get_unaligned_le64(p) __kc_get_unaligned_t(u64, (p))
#define get_unaligned_be16(p) __builtin_bswap16(__kc_get_unaligned_t(u16, (p)))
#define get_unaligned_be32(p) __builtin_bswap32(__kc_get_unaligned_t(u32, (p)))
#define get_unaligned_be64(p) __builtin_bswap64(__kc_get_unaligned_t(u64, (p)))
#define put_unaligned_le16(v, p) __kc_put_unaligned_t(u16, (u16)(v), (p))
#define put_unaligned_le32(v, p) __kc_put_unaligned_t(u32, (u32)(v), (p))
#define put_unaligned_le64(v, p) __kc_put_unaligned_t(u64, (u64)(v), (p))
#define put_unaligned_be16(v, p) __kc_put_unaligned_t(u16, __builtin_bswap16((u16)(v)), (p))
#define put_unaligned_be32(v, p) __kc_put_unaligned_t(u32, __builtin_bswap32((u32)(v)), (p))
#define put_unaligned_be64(v, p) __kc_put_unaligned_t(u64, __builtin_bswap64((u64)(v)), (p))

/* ---- memory ---- */
#define GFP_KERNEL 0U
#define GFP_ATOMIC 0U
#define GFP_NOFS 0U
#define __GFP_NOWARN 0U
#define __GFP_ZERO 0U
#define kmalloc(size, flags) malloc(size)
#define kzalloc(size, flags) calloc(1, (size))
#define kcalloc(n, size, flags) calloc((n), (size))
#define kmalloc_array(n, size, flags) malloc((n) * (size))
#define kfree(p) free((void *)(p))
#define kvmalloc(size, flags) malloc(size)
#define kvzalloc(size, flags) calloc(1, (size))
#define kvfree(p) free((void *)(p))
#define vmalloc(size) malloc(size)
#define vzalloc(size) calloc(1, (size))
#define vfree(p) free((void *)(p))
/* typed allocation helpers of newer kernels: the first argument is a type or an object */
#define kmalloc_obj(v, ...) ((__typeof__(v) *)malloc(sizeof(v)))
#define kzalloc_obj(v, ...) ((__typeof__(v) *)calloc(1, sizeof(v)))
#define kvmalloc_obj(v, ...) kmalloc_obj(v)
#define kvzalloc_obj(v, ...) kzalloc_obj(v)
#define kmalloc_objs(v, n, ...) ((__typeof__(v) *)malloc(sizeof(v) * (n)))
#define kzalloc_objs(v, n, ...) ((__typeof__(v) *)calloc((n), sizeof(v)))
#define __kc_flex_size(v, m, n) (sizeof(v) + (size_t)(n) * sizeof(((__typeof__(v) *)0)->m[0]))
#define kmalloc_flex(v, m, n, ...) ((__typeof__(v) *)malloc(__kc_flex_size(v, m, n)))
#define kzalloc_flex(v, m, n, ...) ((__typeof__(v) *)calloc(1, __kc_flex_size(v, m, n)))
#define kvmalloc_flex(v, m, n, ...) kmalloc_flex(v, m, n)
#define kvzalloc_flex(v, m, n, ...) kzalloc_flex(v, m, n)

#endif /* KC_KERNEL_H */
"""

_SHIM_COMMON = r"""/* zswap-spec kcomp shim: entry points with a real destination capacity.
 * Written for zswap-spec.  Each function returns the output length on
 * success or the crypto wrapper's negative errno on failure; *detail gets
 * the library's own status (LZ4 return value, LZO_E_*, zstd error code,
 * zlib return code) when detail is not NULL. */
#include "kc_params.h"
#define KC_API __attribute__((__visibility__("default")))
#define KC_DETAIL(v) do { if (detail) *detail = (int)(v); } while (0)
"""

_SHIM_LZ4 = _SHIM_COMMON + r"""
#include <linux/lz4.h>

KC_API int kc_lz4_compress(const void *src, unsigned int slen, void *dst, unsigned int cap, int *detail)
{
	void *wrk = malloc(LZ4_MEM_COMPRESS);
	int n;
	if (!wrk)
		return -ENOMEM;
	n = LZ4_compress_default(src, dst, (int)slen, (int)cap, wrk);
	free(wrk);
	KC_DETAIL(n);
	return n > 0 ? n : -EINVAL;
}

KC_API int kc_lz4hc_compress(const void *src, unsigned int slen, void *dst, unsigned int cap, int *detail)
{
	void *wrk = malloc(LZ4HC_MEM_COMPRESS);
	int n;
	if (!wrk)
		return -ENOMEM;
	n = LZ4_compress_HC(src, dst, (int)slen, (int)cap, KC_LZ4HC_LEVEL, wrk);
	free(wrk);
	KC_DETAIL(n);
	return n > 0 ? n : -EINVAL;
}

KC_API int kc_lz4_decompress(const void *src, unsigned int slen, void *dst, unsigned int cap, int *detail)
{
	int n = LZ4_decompress_safe(src, dst, (int)slen, (int)cap);
	KC_DETAIL(n);
	return n < 0 ? -EINVAL : n;
}

KC_API int kc_lz4hc_level(void) { return KC_LZ4HC_LEVEL; }
"""

_SHIM_LZO = _SHIM_COMMON + r"""
#include <linux/lzo.h>

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
	KC_DETAIL(err);
	if (err != LZO_E_OK)
		return -EINVAL;
	return (int)len;
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
	KC_DETAIL(err);
	if (err != LZO_E_OK)
		return -EINVAL;
	return (int)len;
}

/* 1 when compression respects the capacity (the _safe variants). */
KC_API int kc_lzo_safe(void) { return KC_LZO_SAFE; }
KC_API unsigned int kc_lzo_worst(unsigned int slen) { return (unsigned int)lzo1x_worst_compress(slen); }
"""

_SHIM_ZSTD = _SHIM_COMMON + r"""
#include <linux/zstd.h>

KC_API int kc_zstd_compress(const void *src, unsigned int slen, void *dst, unsigned int cap, int *detail)
{
	zstd_parameters params = zstd_get_params(KC_ZSTD_LEVEL, KC_ZSTD_SRCSIZE);
	size_t a = zstd_cctx_workspace_bound(&params.cParams);
	size_t b = zstd_cstream_workspace_bound(&params.cParams);
	size_t size = a > b ? a : b;
	void *wksp = malloc(size);
	zstd_cctx *cctx;
	size_t n;
	if (!wksp)
		return -ENOMEM;
	cctx = zstd_init_cctx(wksp, size);
	if (!cctx) {
		free(wksp);
		KC_DETAIL(-1);
		return -EINVAL;
	}
	n = zstd_compress_cctx(cctx, dst, cap, src, slen, &params);
	free(wksp);
	if (zstd_is_error(n)) {
		KC_DETAIL(-(int)zstd_get_error_code(n));
		return -EINVAL;
	}
	KC_DETAIL(0);
	return (int)n;
}

KC_API int kc_zstd_decompress(const void *src, unsigned int slen, void *dst, unsigned int cap, int *detail)
{
	size_t size = zstd_dctx_workspace_bound();
	void *wksp = malloc(size);
	zstd_dctx *dctx;
	size_t n;
	if (!wksp)
		return -ENOMEM;
	dctx = zstd_init_dctx(wksp, size);
	if (!dctx) {
		free(wksp);
		KC_DETAIL(-1);
		return -EINVAL;
	}
	n = zstd_decompress_dctx(dctx, dst, cap, src, slen);
	free(wksp);
	if (zstd_is_error(n)) {
		KC_DETAIL(-(int)zstd_get_error_code(n));
		return -EINVAL;
	}
	KC_DETAIL(0);
	return (int)n;
}

KC_API int kc_zstd_level(void) { return KC_ZSTD_LEVEL; }
KC_API unsigned long long kc_zstd_srcsize(void) { return (unsigned long long)(KC_ZSTD_SRCSIZE); }
"""

_SHIM_DEFLATE = _SHIM_COMMON + r"""
#include <linux/zlib.h>

static void *kc_zlib_workspace(void)
{
	size_t a = (size_t)zlib_deflate_workspacesize(-KC_DEFLATE_WINBITS, KC_DEFLATE_MEMLEVEL);
	size_t b = (size_t)zlib_inflate_workspacesize();
	return malloc(a > b ? a : b);
}

KC_API int kc_deflate_compress(const void *src, unsigned int slen, void *dst, unsigned int cap, int *detail)
{
	struct z_stream_s s;
	int ret;
	memset(&s, 0, sizeof(s));
	s.workspace = kc_zlib_workspace();
	if (!s.workspace)
		return -ENOMEM;
	ret = zlib_deflateInit2(&s, KC_DEFLATE_LEVEL, Z_DEFLATED, -KC_DEFLATE_WINBITS,
				KC_DEFLATE_MEMLEVEL, Z_DEFAULT_STRATEGY);
	if (ret != Z_OK) {
		free(s.workspace);
		KC_DETAIL(ret);
		return -EINVAL;
	}
	s.next_in = slen ? (const void *)src : NULL;
	s.avail_in = slen;
	s.next_out = dst;
	s.avail_out = cap;
#if KC_DEFLATE_WALK
	/* one source and one destination segment: the wrapper's walk reduces to
	 * Z_FINISH calls while they make progress; a full destination with the
	 * stream unfinished is "out of space". */
	if (!cap) {
		free(s.workspace);
		KC_DETAIL(Z_BUF_ERROR);
		return -ENOSPC;
	}
	do {
		ret = zlib_deflate(&s, Z_FINISH);
	} while (ret == Z_OK && s.avail_out);
	if (ret == Z_OK) {
		free(s.workspace);
		KC_DETAIL(ret);
		return -ENOSPC;
	}
#else
	ret = zlib_deflate(&s, Z_FINISH);
#endif
	free(s.workspace);
	KC_DETAIL(ret);
	if (ret != Z_STREAM_END)
		return -EINVAL;
	return (int)s.total_out;
}

KC_API int kc_deflate_decompress(const void *src, unsigned int slen, void *dst, unsigned int cap, int *detail)
{
	struct z_stream_s s;
	int ret;
	memset(&s, 0, sizeof(s));
	s.workspace = kc_zlib_workspace();
	if (!s.workspace)
		return -ENOMEM;
	ret = zlib_inflateInit2(&s, -KC_DEFLATE_WINBITS);
	if (ret != Z_OK) {
		free(s.workspace);
		KC_DETAIL(ret);
		return -EINVAL;
	}
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
				if (!dcur && before == s.avail_in) {
					free(s.workspace);
					KC_DETAIL(ret);
					return -ENOSPC;
				}
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
	free(s.workspace);
	KC_DETAIL(ret);
	if (ret != Z_STREAM_END)
		return -EINVAL;
	return (int)s.total_out;
}

KC_API int kc_deflate_level(void) { return KC_DEFLATE_LEVEL; }
KC_API int kc_deflate_winbits(void) { return KC_DEFLATE_WINBITS; }
KC_API int kc_deflate_memlevel(void) { return KC_DEFLATE_MEMLEVEL; }
"""

# Bump when the stand-ins, the shim or the build recipe change: part of the cache key.
_RECIPE = hashlib.sha256(
    (_KC_KERNEL_H + _SHIM_LZ4 + _SHIM_LZO + _SHIM_ZSTD + _SHIM_DEFLATE + "recipe-1").encode()
).hexdigest()[:10]

_ARCH_DEFINES = [
    "-DCONFIG_64BIT=1",
    "-DCONFIG_X86=1",
    "-DCONFIG_X86_64=1",
    "-DCONFIG_HAVE_EFFICIENT_UNALIGNED_ACCESS=1",
]
_CFLAGS = [
    "-O2", "-fPIC", "-std=gnu11", "-fvisibility=hidden",
    "-fno-strict-aliasing", "-fno-strict-overflow", "-fno-delete-null-pointer-checks",
    "-fno-common", "-Wno-unused-function", "-Wno-unused-variable",
    # a missing stand-in must stop the build, not become an int-returning guess
    "-Werror=implicit-function-declaration", "-Werror=int-conversion", "-Werror=implicit-int",
]


# ---------------------------------------------------------------------------
# Cache and extraction.

def default_cache_dir() -> Path:
    """``$ZSWAP_SPEC_CACHE`` or ``~/.cache/zswap-spec``."""
    env = os.environ.get("ZSWAP_SPEC_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "zswap-spec"


def _safe_name(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]", "_", s)[:80]


def _tree_files(root: Path) -> list[str]:
    out = []
    for rel in _WANTED_FILES:
        if (root / rel).is_file():
            out.append(rel)
    for d in _WANTED_DIRS:
        base = root / d
        if base.is_dir():
            for p in base.rglob("*"):
                rel = p.relative_to(root).as_posix()
                if p.is_file() and _wanted(rel):
                    out.append(rel)
    return sorted(out)


def _cache_key(source: Path) -> str:
    if source.is_dir():
        h = hashlib.sha256(str(source.resolve()).encode())
        for rel in _tree_files(source):
            st = (source / rel).stat()
            h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
        return f"tree-{_safe_name(source.resolve().name)}-{h.hexdigest()[:12]}-{_RECIPE}"
    st = source.stat()
    return f"{_safe_name(source.name)}-{st.st_size}-{int(st.st_mtime)}-{_RECIPE}"


def _extract(source: Path, dest: Path) -> int:
    """Copy the wanted files of `source` (tarball or tree) under `dest`; returns how many."""
    count = 0
    if source.is_dir():
        for rel in _tree_files(source):
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / rel, target)
            count += 1
        return count
    try:
        with tarfile.open(source, mode="r|*") as tf:
            for member in tf:
                if not member.isfile():
                    continue
                rel = _member_rel(member.name)
                if not rel or ".." in rel.split("/") or not _wanted(rel):
                    continue
                fobj = tf.extractfile(member)
                if fobj is None:
                    continue
                target = dest / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "wb") as out:
                    shutil.copyfileobj(fobj, out)
                count += 1
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise KernelCompressorError(
            f"cannot read the kernel source tarball {source}: {exc}. "
            "Pass a Linux source tarball (.tar, .tar.gz, .tar.bz2, .tar.xz) or an unpacked tree."
        ) from exc
    return count


# ---------------------------------------------------------------------------
# Reading the crypto wrappers for their parameters.

def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _defines(text: str, prefix: str) -> list[str]:
    """`#define NAME value` lines of `text` whose NAME starts with `prefix` (one line each)."""
    out = []
    for m in re.finditer(r"^[ \t]*#[ \t]*define[ \t]+(" + prefix + r"\w*)[ \t]+([^\n]*?)\s*$", text, re.M):
        value = re.sub(r"/\*.*?\*/", "", m.group(2)).strip()
        if value and not value.endswith("\\"):
            out.append(f"#define {m.group(1)} {value}")
    return out


def _call_args(text: str, fn: str) -> list[str] | None:
    m = re.search(re.escape(fn) + r"\s*\(", text)
    if not m:
        return None
    depth, i, start, args = 1, m.end(), m.end(), []
    while i < len(text) and depth:
        c = text[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                args.append(text[start:i].strip())
        elif c == "," and depth == 1:
            args.append(text[start:i].strip())
            start = i + 1
        i += 1
    return args


_TOKEN = re.compile(r"^[A-Za-z_0-9() <>+*-]+$")


@dataclass
class _Plan:
    params_h: list[str] = field(default_factory=list)
    params: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)
    unavailable: dict = field(default_factory=dict)  # component -> reason before compiling


def _plan(src: Path) -> _Plan:
    p = _Plan()
    h = p.params_h
    inc = src / "include" / "linux"
    crypto = src / "crypto"

    # lz4hc: the level the wrapper passes to LZ4_compress_HC.
    args = _call_args(_read(crypto / "lz4hc.c"), "LZ4_compress_HC")
    level = args[4] if args and len(args) == 6 and _TOKEN.match(args[4]) else "LZ4HC_DEFAULT_CLEVEL"
    if not args:
        p.notes["lz4hc"] = "crypto/lz4hc.c not found or not understood: level LZ4HC_DEFAULT_CLEVEL"
    h.append(f"#define KC_LZ4HC_LEVEL ({level})")
    p.params["lz4hc_level_expr"] = level

    # lzo: safe variants when the wrapper uses them.
    lzo_h = _read(inc / "lzo.h")
    lzo_c = _read(crypto / "lzo.c")
    rle_c = _read(crypto / "lzo-rle.c")
    have_rle = "lzorle1x_1_compress" in lzo_h
    safe = "lzo1x_1_compress_safe" in lzo_h and (
        "lzo1x_1_compress_safe" in lzo_c or not lzo_c
    )
    rle_safe = "lzorle1x_1_compress_safe" in lzo_h and ("lzorle1x_1_compress_safe" in rle_c or not rle_c)
    if safe != rle_safe and have_rle:
        rle_safe = safe
    h.append(f"#define KC_LZO_SAFE {int(safe)}")
    h.append(f"#define KC_LZO_HAVE_RLE {int(have_rle)}")
    h.append(f"#define KC_LZO_FN {'lzo1x_1_compress_safe' if safe else 'lzo1x_1_compress'}")
    h.append(f"#define KC_LZORLE_FN {'lzorle1x_1_compress_safe' if rle_safe else 'lzorle1x_1_compress'}")
    p.params["lzo_safe"] = safe
    if not have_rle:
        p.unavailable["lzo-rle"] = "this kernel's lib/lzo has no LZO-RLE (added in Linux 5.1)"

    # zstd: the wrapper's zstd_get_params(level, size) and how it reports failure.
    zstd_c = _read(crypto / "zstd.c")
    zstd_h = _read(inc / "zstd.h")
    if "zstd_get_params" not in zstd_h or "zstd_compress_cctx" not in zstd_h:
        p.unavailable["zstd"] = (
            "this kernel's include/linux/zstd.h predates the zstd_* interface (Linux 5.16)"
        )
    args = _call_args(zstd_c, "zstd_get_params")
    if args and len(args) == 2 and all(_TOKEN.match(a) for a in args):
        h.extend(_defines(zstd_c, "ZSTD_"))
        zlevel, zsize = args
    else:
        zlevel, zsize = "3", "0"
        p.notes["zstd"] = "crypto/zstd.c not found or not understood: zstd_get_params(3, 0)"
    h.append(f"#define KC_ZSTD_LEVEL ({zlevel})")
    h.append(f"#define KC_ZSTD_SRCSIZE ({zsize})")
    p.params["zstd_get_params"] = f"{zlevel}, {zsize}"
    # acomp-style wrappers (7.x) clear req->dlen on failure; scomp ones leave the capacity.
    p.params["zstd_fail_dlen"] = "zero" if re.search(r"req->dlen\s*=\s*0\s*;", zstd_c) or not zstd_c else "capacity"

    # deflate: the wrapper's level, window bits and memory level, and its style.
    defl_c = _read(crypto / "deflate.c")
    for line in _defines(defl_c, "DEFLATE_DEF_"):
        h.append(line)
    if not defl_c:
        p.notes["deflate"] = "crypto/deflate.c not found: level Z_DEFAULT_COMPRESSION, window bits 11, MAX_MEM_LEVEL"
    h += [
        "#ifndef DEFLATE_DEF_LEVEL", "#define DEFLATE_DEF_LEVEL Z_DEFAULT_COMPRESSION", "#endif",
        "#ifndef DEFLATE_DEF_WINBITS", "#define DEFLATE_DEF_WINBITS 11", "#endif",
        "#ifndef DEFLATE_DEF_MEMLEVEL", "#define DEFLATE_DEF_MEMLEVEL MAX_MEM_LEVEL", "#endif",
        "#define KC_DEFLATE_LEVEL (DEFLATE_DEF_LEVEL)",
        "#define KC_DEFLATE_WINBITS (DEFLATE_DEF_WINBITS)",
        "#define KC_DEFLATE_MEMLEVEL (DEFLATE_DEF_MEMLEVEL)",
    ]
    walk = "acomp_walk" in defl_c or not defl_c
    h.append(f"#define KC_DEFLATE_WALK {int(walk)}")
    p.params["deflate_style"] = "walk" if walk else "oneshot"
    p.params["deflate_nospace_ret"] = "-ENOSPC" if walk else "-EINVAL"
    return p


def _kernel_version(src: Path) -> str | None:
    text = _read(src / "Makefile")
    vals = {}
    for key in ("VERSION", "PATCHLEVEL", "SUBLEVEL", "EXTRAVERSION"):
        m = re.search(rf"^{key}\s*=\s*(\S*)\s*$", text, re.M)
        vals[key] = m.group(1) if m else ""
    if not vals["VERSION"]:
        return None
    v = f"{vals['VERSION']}.{vals['PATCHLEVEL']}"
    if vals["SUBLEVEL"]:
        v += f".{vals['SUBLEVEL']}"
    return v + vals["EXTRAVERSION"]


def _makefile_objects(makefile: Path) -> list[str]:
    """The `.o` files of the `name-y :=` / `name-objs :=` lists of a kbuild Makefile."""
    text = _read(makefile).replace("\\\n", " ")
    objs: list[str] = []
    for line in text.splitlines():
        m = re.match(r"^\s*[\w-]+-(?:y|objs)\s*[:+]?=\s*(.*)$", line)
        if m:
            for tok in m.group(1).split():
                if tok.endswith(".o") and tok not in objs:
                    objs.append(tok)
    return objs


# ---------------------------------------------------------------------------
# Building.

@dataclass
class _Component:
    name: str
    algorithms: tuple[str, ...]
    sources: list[str]
    shim: str
    required: bool = False


def _components(src: Path, plan: _Plan) -> list[_Component]:
    comps = []
    lz4 = ["lib/lz4/lz4_compress.c", "lib/lz4/lz4hc_compress.c", "lib/lz4/lz4_decompress.c"]
    comps.append(_Component("lz4", ("lz4", "lz4hc"), lz4, _SHIM_LZ4, required=True))
    lzo = [f"lib/lzo/{n}" for n in ("lzo1x_compress.c", "lzo1x_compress_safe.c", "lzo1x_decompress_safe.c")]
    lzo = [s for s in lzo if (src / s).is_file()]
    algs = ("lzo", "lzo-rle") if "lzo-rle" not in plan.unavailable else ("lzo",)
    comps.append(_Component("lzo", algs, lzo, _SHIM_LZO))
    zstd = [f"lib/zstd/{o[:-2]}.c" for o in _makefile_objects(src / "lib/zstd/Makefile")]
    zstd = [s for s in zstd if (src / s).is_file()]
    if (src / "lib/xxhash.c").is_file():
        zstd.append("lib/xxhash.c")
    comps.append(_Component("zstd", ("zstd",), zstd, _SHIM_ZSTD))
    defl = [f"lib/zlib_deflate/{n}" for n in ("deflate.c", "deftree.c")] + [
        f"lib/zlib_inflate/{n}" for n in ("inffast.c", "inflate.c", "infutil.c", "inftrees.c")
    ]
    comps.append(_Component("deflate", ("deflate",), defl, _SHIM_DEFLATE))
    return comps


_INCLUDE_RE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*<((?:linux|asm|asm-generic|crypto|vdso|uapi)/[^>]+)>', re.M)


def _write_stubs(build: Path, src: Path) -> Path:
    """Stand-in headers for every kernel header the extracted libraries include but we do not take."""
    stub = build / "stub"
    stub.mkdir(parents=True, exist_ok=True)
    (stub / "kc_kernel.h").write_text(_KC_KERNEL_H)
    needed: set[str] = set()
    for d in ("lib", "include"):
        for p in (src / d).rglob("*"):
            if p.suffix in (".c", ".h") and p.is_file():
                needed.update(_INCLUDE_RE.findall(_read(p)))
    for name in sorted(needed):
        if (src / "include" / name).is_file():
            continue
        target = stub / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(
            "/* zswap-spec kcomp stand-in: everything lives in kc_kernel.h */\n"
            "#include <kc_kernel.h>\n"
        )
    return stub


class _Log:
    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._fh = open(path, "a", encoding="utf-8", errors="replace")

    def write(self, text: str) -> None:
        with self._lock:
            self._fh.write(text if text.endswith("\n") else text + "\n")
            self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def _run(cmd: list[str], log: _Log, cwd: Path) -> bool:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, errors="replace")
    out = "$ " + " ".join(cmd) + "\n" + proc.stdout + proc.stderr
    if proc.returncode:
        out += f"[exit status {proc.returncode}]\n"
    log.write(out)
    return proc.returncode == 0


def _gcc() -> str:
    cc = os.environ.get("CC", "gcc")
    if shutil.which(cc) is None:
        raise KernelCompressorError(
            f"the C compiler {cc!r} is not installed; install gcc (apt-get install gcc) "
            "or point $CC at a C compiler"
        )
    return cc


def _build(source: Path, build: Path, log: _Log) -> dict:
    cc = _gcc()
    t0 = time.monotonic()
    src = build / "src"
    n = _extract(source, src)
    log.write(f"extracted {n} files from {source} in {time.monotonic() - t0:.1f} s")
    if not (src / "lib/lz4/lz4_compress.c").is_file() or not (src / "include/linux/lz4.h").is_file():
        raise KernelCompressorError(
            f"{source} has no lib/lz4/lz4_compress.c or include/linux/lz4.h: it is not a Linux "
            "kernel source tree (or tarball) with the LZ4 library. Pass the kernel's source, "
            "e.g. Debian's /usr/src/linux-source-X.Y.tar.xz (package linux-source-X.Y)."
        )
    plan = _plan(src)
    (build / "kc_params.h").write_text(
        "/* generated by zswap-spec kcomp from this tree's crypto/ wrappers */\n"
        "#ifndef KC_PARAMS_H\n#define KC_PARAMS_H\n" + "\n".join(plan.params_h) + "\n#endif\n"
    )
    stub = _write_stubs(build, src)
    comps = _components(src, plan)
    obj = build / "obj"
    common = [cc, *_CFLAGS, *_ARCH_DEFINES, "-include", str(stub / "kc_kernel.h"),
              "-I", str(build), "-I", str(stub), "-I", str(src / "include")]

    jobs = []  # (component, source path, object path)
    for comp in comps:
        if comp.name in plan.unavailable and comp.algorithms == (comp.name,):
            continue
        shim = build / "shim" / f"kc_{comp.name}.c"
        shim.parent.mkdir(parents=True, exist_ok=True)
        shim.write_text(comp.shim)
        for s in [*comp.sources, str(shim)]:
            path = Path(s) if os.path.isabs(s) else src / s
            rel = path.relative_to(build).as_posix().replace("/", "__")
            jobs.append((comp, path, obj / comp.name / (rel[:-2] + ".o")))

    def compile_one(job):
        comp, path, o = job
        o.parent.mkdir(parents=True, exist_ok=True)
        return comp.name, _run([*common, "-I", str(path.parent), "-c", str(path), "-o", str(o)], log, build)

    failed: dict[str, list[str]] = {}
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as ex:
        for (comp, path, _o), (name, ok) in zip(jobs, ex.map(compile_one, jobs)):
            if not ok:
                failed.setdefault(name, []).append(path.relative_to(build).as_posix())

    built: list[_Component] = []
    skipped: dict[str, str] = dict(plan.unavailable)
    for comp in comps:
        if comp.name in plan.unavailable and comp.algorithms == (comp.name,):
            continue
        if comp.name in failed:
            reason = f"compiling {', '.join(failed[comp.name])} failed (see {log.path})"
        else:
            objs = sorted(str(p) for p in (obj / comp.name).glob("*.o"))
            test_so = build / f"test-{comp.name}.so"
            ok = _run([cc, "-shared", "-fPIC", "-Wl,--no-undefined", "-o", str(test_so), *objs], log, build)
            test_so.unlink(missing_ok=True)
            if ok:
                built.append(comp)
                continue
            reason = f"linking failed (see {log.path})"
        if comp.required:
            raise KernelCompressorError(
                f"cannot build the kernel's LZ4 from {source}: {reason}. The tree may use kernel "
                "facilities the stand-in headers of zswap_spec.kernel.kcomp lack; the build log "
                "names the missing definitions."
            )
        for alg in comp.algorithms:
            skipped[alg] = reason

    lib = build / LIBRARY_NAME
    objs = [str(p) for comp in built for p in sorted((obj / comp.name).glob("*.o"))]
    if not _run([cc, "-shared", "-fPIC", "-Wl,-Bsymbolic", "-Wl,--no-undefined", "-o", str(lib), *objs], log, build):
        raise KernelCompressorError(f"linking {lib} from {source} failed; see the build log {log.path}")
    algorithms = [a for c in built for a in c.algorithms if a not in skipped]
    return {
        "source": str(source),
        "kernel_version": _kernel_version(src),
        "recipe": _RECIPE,
        "compiler": subprocess.run([cc, "-dumpfullversion"], capture_output=True, text=True).stdout.strip(),
        "algorithms": algorithms,
        "skipped": skipped,
        "params": plan.params,
        "notes": plan.notes,
        "build_seconds": round(time.monotonic() - t0, 2),
    }


_BUILD_LOCK = threading.Lock()


def build_kernel_compressors(source: Path, cache: Path | None = None) -> Path:
    """Build (or find in the cache) the shared library of `source`'s compressors; returns its path.

    `source` is a kernel source tarball or an unpacked tree.  The build folder
    ``<cache>/kcomp/<key>/`` holds the extracted files, the stand-ins, the
    library, ``build.log`` and ``manifest.json`` (algorithms built, skipped and
    why, the parameters read from the crypto wrappers).
    """
    source = Path(source).expanduser()
    if not source.exists():
        raise KernelCompressorError(
            f"kernel source {source} does not exist: pass a kernel source tarball (e.g. Debian's "
            "/usr/src/linux-source-X.Y.tar.xz from package linux-source-X.Y) or an unpacked tree"
        )
    if not source.is_dir() and not source.is_file():
        raise KernelCompressorError(f"kernel source {source} is neither a tarball nor a folder")
    root = Path(cache).expanduser() if cache is not None else default_cache_dir()
    base = root / "kcomp"
    final = base / _cache_key(source)
    lib = final / LIBRARY_NAME
    if (final / "manifest.json").is_file() and lib.is_file():
        return lib
    with _BUILD_LOCK:
        if (final / "manifest.json").is_file() and lib.is_file():
            return lib
        base.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".build-{final.name[:40]}-", dir=base))
        log = _Log(tmp / "build.log")
        try:
            manifest = _build(source, tmp, log)
        except BaseException as exc:
            log.close()
            failed = base / (final.name + ".failed")
            shutil.rmtree(failed, ignore_errors=True)
            try:
                tmp.rename(failed)
                kept = failed / "build.log"
            except OSError:
                kept = tmp / "build.log"
            if isinstance(exc, KernelCompressorError):
                msg = str(exc).replace(str(tmp), str(failed))
                raise KernelCompressorError(f"{msg} [build log: {kept}]") from None
            if isinstance(exc, Exception):
                raise KernelCompressorError(
                    f"building the kernel's compressors from {source} failed: {exc!r} [build log: {kept}]"
                ) from exc
            raise
        log.close()
        manifest = json.loads(json.dumps(manifest).replace(str(tmp), str(final)))
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        shutil.rmtree(tmp / "obj", ignore_errors=True)
        try:
            tmp.rename(final)
        except OSError:
            # Another process finished the same build first: use its result.
            shutil.rmtree(tmp, ignore_errors=True)
            if not lib.is_file():
                raise KernelCompressorError(f"cannot install the build into {final}") from None
        return lib


def build_info(source: Path, cache: Path | None = None) -> dict:
    """The manifest of `source`'s build (building it if needed)."""
    lib = build_kernel_compressors(source, cache)
    return json.loads((lib.parent / "manifest.json").read_text())


# ---------------------------------------------------------------------------
# Calling the library.

_LIBS: dict[str, ctypes.CDLL] = {}
_ENTRY = {
    # name: (compress symbol, decompress symbol, format)
    "lz4": ("kc_lz4_compress", "kc_lz4_decompress", "lz4"),
    "lz4hc": ("kc_lz4hc_compress", "kc_lz4_decompress", "lz4"),
    "lzo": ("kc_lzo_compress", "kc_lzo_decompress", "lzo"),
    "lzo-rle": ("kc_lzorle_compress", "kc_lzo_decompress", "lzo"),
    "zstd": ("kc_zstd_compress", "kc_zstd_decompress", "zstd"),
    "deflate": ("kc_deflate_compress", "kc_deflate_decompress", "deflate"),
}
_SIG = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_void_p, ctypes.c_uint, ctypes.POINTER(ctypes.c_int)]


def _load(lib: Path) -> ctypes.CDLL:
    key = str(lib)
    if key not in _LIBS:
        try:
            handle = ctypes.CDLL(key)
        except OSError as exc:
            raise KernelCompressorError(
                f"cannot load {lib}: {exc}. Delete {lib.parent} to rebuild it."
            ) from exc
        for fn in ("kc_lz4hc_level", "kc_lzo_safe", "kc_zstd_level", "kc_deflate_level",
                   "kc_deflate_winbits", "kc_deflate_memlevel"):
            if hasattr(handle, fn):
                getattr(handle, fn).restype = ctypes.c_int
                getattr(handle, fn).argtypes = []
        if hasattr(handle, "kc_zstd_srcsize"):
            handle.kc_zstd_srcsize.restype = ctypes.c_ulonglong
            handle.kc_zstd_srcsize.argtypes = []
        if hasattr(handle, "kc_lzo_worst"):
            handle.kc_lzo_worst.restype = ctypes.c_uint
            handle.kc_lzo_worst.argtypes = [ctypes.c_uint]
        _LIBS[key] = handle
    return _LIBS[key]


class KernelAlgorithm:
    """One of a kernel's compressors, with the interface of the model's `SoftwareAlgorithm`.

    The capacity is real: it is the destination size given to the kernel's
    code.  Results follow the crypto wrapper of that kernel: ``compress``
    returns ``(ret, req->dlen afterwards, bytes written)``; ``decompress``
    returns ``(ret, output)`` and never raises.  ``last_detail`` holds the
    library's own status of the last call (e.g. zstd's error code 70,
    "destination too small"); ``last_overrun`` is True when the last
    ``compress`` wrote past its capacity (LZO without the safe variants, or
    LZO-RLE's safe variant given a capacity below 2 bytes), which the kernel
    reports as a success.
    """

    batching = False
    batch_size = 1

    def __init__(self, name: str, lib: Path, manifest: dict):
        if name not in _ENTRY:
            raise KernelCompressorError(f"unknown kernel compressor {name!r}; known: {', '.join(_ENTRY)}")
        self.name = name
        self.library = lib
        self.kernel_version = manifest.get("kernel_version")
        self.source = manifest.get("source")
        csym, dsym, self.format = _ENTRY[name]
        handle = _load(lib)
        self._c = getattr(handle, csym)
        self._d = getattr(handle, dsym)
        for f in (self._c, self._d):
            f.restype = ctypes.c_int
            f.argtypes = _SIG
        params = manifest.get("params", {})
        self.params: dict = {}
        if name == "lz4hc":
            self.params["level"] = handle.kc_lz4hc_level()
        elif name in ("lzo", "lzo-rle"):
            self.params["safe"] = bool(handle.kc_lzo_safe())
        elif name == "zstd":
            self.params["level"] = handle.kc_zstd_level()
            self.params["src_size_hint"] = int(handle.kc_zstd_srcsize())
        elif name == "deflate":
            self.params.update(level=handle.kc_deflate_level(), window_bits=handle.kc_deflate_winbits(),
                               mem_level=handle.kc_deflate_memlevel(), style=params.get("deflate_style"))
        self._lzo_unsafe = name in ("lzo", "lzo-rle") and not self.params["safe"]
        self._worst = handle.kc_lzo_worst if self._lzo_unsafe else None
        self._fail_dlen_zero = name == "zstd" and params.get("zstd_fail_dlen") == "zero"
        self.last_detail: int | None = None
        self.last_overrun = False  # the last compress wrote past its capacity

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} linux-{self.kernel_version}>"

    def _call(self, fn, src: bytes, capacity: int) -> tuple[int, bytes]:
        buf_len = capacity
        if fn is self._c:
            # The buffer always has room for the worst case, past the capacity
            # the C code is told: the non-safe LZO compressors ignore the
            # capacity (the kernel relied on a large enough buffer), and the
            # "safe" LZO-RLE writes its 2-byte header unchecked, so with a
            # capacity below 2 it overruns without limit.  Such an overrun is
            # reported as the kernel would see it: success, dlen > capacity.
            buf_len = max(capacity, 2 * len(src) + 128)
            if self._worst is not None:
                buf_len = max(buf_len, int(self._worst(len(src))))
        dst = ctypes.create_string_buffer(max(buf_len, 1))
        detail = ctypes.c_int(0)
        n = fn(src, len(src), dst, capacity, ctypes.byref(detail))
        self.last_detail = detail.value
        return n, (dst.raw[:n] if n >= 0 else b"")

    def raw_compress(self, src: bytes) -> bytes:
        """The algorithm's output with no practical capacity limit (2 * len + 128)."""
        src = bytes(src)
        n, out = self._call(self._c, src, 2 * len(src) + 128)
        if n < 0:
            raise KernelCompressorError(f"kernel {self.name} failed ({n}, detail {self.last_detail}) with no capacity limit")
        return out

    def compress(self, src: bytes, capacity: int) -> tuple[int, int, bytes]:
        """Compress into `capacity` bytes: (ret, req->dlen afterwards, bytes written)."""
        src = bytes(src)
        if capacity < 0 or capacity > 0xFFFF_FFFF:
            raise ValueError(f"capacity {capacity} is not an unsigned int")
        # A capacity beyond any possible output behaves as unlimited; keep the buffer small.
        eff = min(capacity, 2 * len(src) + 128, 0x7FFF_FFFF)
        n, out = self._call(self._c, src, eff)
        self.last_overrun = n > eff
        if n >= 0:
            return 0, n, out
        if self._fail_dlen_zero:
            return n, 0, b""
        return n, u32(capacity), b""

    def decompress(self, src: bytes, capacity: int) -> tuple[int, bytes]:
        """Decompress into `capacity` bytes: (ret, output).  Never raises."""
        try:
            src = bytes(src)
            if capacity < 0 or capacity > 0x7FFF_FFFF:
                return -EINVAL, b""
            n, out = self._call(self._d, src, capacity)
        except Exception:  # noqa: BLE001 - the interface promises no exceptions
            return -EINVAL, b""
        if n < 0:
            return n, b""
        return 0, out


def kernel_algorithms(source: Path, cache: Path | None = None) -> dict[str, KernelAlgorithm]:
    """The compressors built from `source`, by name ("lz4", "lz4hc", "lzo", "lzo-rle", "zstd", "deflate")."""
    lib = build_kernel_compressors(source, cache)
    manifest = json.loads((lib.parent / "manifest.json").read_text())
    return {name: KernelAlgorithm(name, lib, manifest) for name in manifest["algorithms"]}


def kernel_algorithm(source: Path, name: str, cache: Path | None = None) -> KernelAlgorithm:
    """One compressor built from `source`; a clear error when it could not be built."""
    lib = build_kernel_compressors(source, cache)
    manifest = json.loads((lib.parent / "manifest.json").read_text())
    if name in manifest["algorithms"]:
        return KernelAlgorithm(name, lib, manifest)
    reason = manifest.get("skipped", {}).get(name)
    if reason:
        raise KernelCompressorError(f"the kernel compressor {name!r} of {source} is not available: {reason}")
    raise KernelCompressorError(
        f"unknown kernel compressor {name!r}; {source} provides: {', '.join(manifest['algorithms'])}"
    )
