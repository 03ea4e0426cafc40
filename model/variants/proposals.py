"""The review's proposals, as variants of the batched store path.

`Explicit` is Yosry Ahmed's proposal in the v13 review (Re: [PATCH v13 22/22],
2025-11-14, and 2025-12-09): no `errp`; take the software compressor's
result from `err` and `req->dlen` and a batching compressor's from each
destination entry; apply mainline's test (`comp_ret || !dlen || dlen >=
PAGE_SIZE`) to every page; look writeback up again before storing a page
as-is; one batch per `__zswap_compress()` call, the first failing page ending
the folio with one counter as mainline does.

`Uniform` is the uniform API asked for by Herbert Xu (2025-11-26,
2025-12-08/09) and Yosry Ahmed (2025-11-14): the crypto layer reports every
unit's length or errno in its destination entry for every compressor and
splits batches for non-batching ones, so zswap reads entries only, in one
code path, with mainline's per-page test.

No code was posted for either; each transcribes the proposal's text, and
spec/zswap-spec.md states the reading.  Both were made in review of the
series, so they sit on its base tree, as v13 and v14 do (`base_tree`,
inherited from `BatchedStore`: "mm-late-2025").
"""

from __future__ import annotations

from zswap_spec.model.acomp import AcompReq, crypto_acomp_compress
from zswap_spec.model.cint import EINVAL, s32, u32
from .batched import BatchedStore
from .common import count_compress_result, store_bytes


class _PerPageTest(BatchedStore):
    """`zswap_compress()` looping over batches of a `__zswap_compress()`."""

    def unit_result(self, zs, err: int, req: AcompReq, k: int) -> tuple[int, int]:
        """(comp_ret, dlen) of unit k: the variant's reading of the channels."""
        raise NotImplementedError

    def zswap_compress(self, zs, folio, start, nr_pages, entries, memcg, wb_enabled) -> bool:
        nr_comps = min(nr_pages, zs.compr_batch_size)
        for i in range(0, nr_pages, nr_comps):
            n = min(nr_comps, nr_pages - i)
            if not self.__zswap_compress(zs, folio, start + i, n, entries[i:i + n], memcg):
                return False
        return True

    def __zswap_compress(self, zs, folio, start, nr_comps, entries, memcg) -> bool:
        page_size = zs.page_size
        sgl = zs.sg_outputs
        for sg in sgl[:nr_comps]:
            sg.length = u32(page_size)
        src = b"".join(folio.pages[start:start + nr_comps])
        req = AcompReq(src, sgl[:nr_comps], dlen=nr_comps * page_size, unit_size=page_size)
        err = crypto_acomp_compress(self.crypto_layer, zs.alg, req)
        for k in range(nr_comps):
            comp_ret, dlen = self.unit_result(zs, err, req, k)
            page = folio.pages[start + k]
            dst = zs.buffers[k]
            alloc_ret = 0
            if comp_ret or not dlen or dlen >= page_size:
                if not zs.writeback_enabled(memcg):  # looked up again, per page
                    comp_ret = comp_ret if comp_ret else -EINVAL
                    return count_compress_result(zs, comp_ret, alloc_ret)
                comp_ret = 0
                dlen = page_size
                dst = page
            handle = store_bytes(zs, entries[k], dlen, dst)
            if handle < 0:
                alloc_ret = handle
            if not count_compress_result(zs, comp_ret, alloc_ret):
                return False
        return True


def _from_entry(sg_length: int) -> tuple[int, int]:
    """An entry's `length`: a negative `int` reading is an errno, else a length."""
    value = s32(sg_length)
    if value < 0:
        return value, 0
    return 0, u32(sg_length)


class Explicit(_PerPageTest):
    name = "explicit"
    title = "review proposal: explicit err / entry checks, mainline's test, writeback re-checked"
    source = "Yosry Ahmed, Re: [PATCH v13 22/22], 2025-11-14 and 2025-12-09"
    crypto_layer = "legacy"

    def unit_result(self, zs, err, req, k):
        if zs.compr_batch_size == 1:
            return err, req.dlen  # software: the return code and req->dlen
        return _from_entry(req.dst[k].length)


class Uniform(_PerPageTest):
    name = "uniform"
    title = "uniform API: per-unit results in the entries for every compressor"
    source = "Herbert Xu, 2025-11-26 and 2025-12-08/09; Yosry Ahmed, 2025-11-14"
    crypto_layer = "uniform"
    batch_everyone = True

    def unit_result(self, zs, err, req, k):
        return _from_entry(req.dst[k].length)
