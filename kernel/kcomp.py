"""A given kernel's own compressors for the model: the algorithm names and the
error shared by the modules that extract, plan, build and load them.

The model's software algorithms (`zswap_spec.model.compressors`) use the
user-space libraries.  They behave like the kernel's algorithms but do not
produce the same bytes: the kernel carries its own, older or patched copies of
LZ4, LZO, zstd and zlib, and compressed sizes differ by a few bytes per page.
To predict what one particular kernel stores for one particular page, the
model needs that kernel's compressor code.

The kernel check gets it at run time, from a kernel source the user supplies
(a tarball such as Debian's ``linux-source-7.3.tar.xz`` or an unpacked tree),
in four steps, one module each:

- `kcomp_extract` copies only the compression libraries (``lib/lz4``,
  ``lib/lzo``, ``lib/zstd``, ``lib/zlib_deflate``, ``lib/zlib_inflate``,
  ``lib/xxhash.c``), their public headers and the crypto wrappers
  (``crypto/*.c``, read for their parameters, never compiled) into a cache
  folder;
- `kcomp_plan` reads the crypto wrappers for the parameters each algorithm is
  called with, and lists the kernel files each component compiles;
- `kcomp_build` adds stand-in headers for the rest of the kernel environment
  and a small C shim (the C files of ``csrc/``), and compiles one shared
  library with gcc, cached per source;
- `kcomp_load` loads that library with ctypes and presents each algorithm
  with the interface of the model's `SoftwareAlgorithm`, reporting what the
  crypto wrapper reports.

Nothing from the kernel tree is part of this project: the stand-in headers
and the shim are written for it, and the kernel files live only in the user's
cache.

The shim calls each algorithm the way its crypto wrapper in that tree does
(LZ4 default, LZ4HC at the wrapper's level, the "safe" LZO variants when the
wrapper uses them, zstd with the wrapper's `zstd_get_params` arguments, raw
deflate with the wrapper's window bits and memory level), with the real
destination capacity.

Use::

    from zswap_spec.kernel.kcomp_load import kernel_algorithms
    algs = kernel_algorithms(Path("/usr/src/linux-source-7.3.tar.xz"))
    ret, dlen, out = algs["lz4"].compress(page, 4096)

The cache is ``$ZSWAP_SPEC_CACHE/kcomp`` (default ``~/.cache/zswap-spec``),
one folder per source (tarball name, size and mtime), with the build log.
"""

from __future__ import annotations

__all__ = ["ALGORITHM_NAMES", "KernelCompressorError"]

ALGORITHM_NAMES = ("lz4", "lz4hc", "lzo", "lzo-rle", "zstd", "deflate")


class KernelCompressorError(RuntimeError):
    """The kernel's compressors cannot be built or used; the message says why and what to do."""
