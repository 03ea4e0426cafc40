/* Stand-in kernel environment for compiling a kernel's compression
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
