"""Each variant's store path as Z3 terms, produced by running its transcription.

There is no second encoding of the variants: `encode(variant, inp)` runs
the variant's own `store_pages` (``zswap_spec.model.variants``, the code
every command runs) under the symbolic executor `proofs.symexec`, against a
zswap state and compressors whose reports are the theorem's free inputs.
What comes out — stored or not, each page's path and length, the reject
counters, bad `zs_malloc` sizes — is a term over those inputs, on every
path at once.

The inputs are one folio of `n` pages (1 to 8) in one batch: for a software
compressor each page's `ret` (`int`) and `req->dlen` (`unsigned int`); for a
batching one the batch return code, the status its submission step returns
(what v14's crypto layer passes on), and each unit's destination entry
`length`; whether writeback is enabled; and whether `zs_malloc` fails with
-ENOMEM for a page.  The folio's size and the kind of compressor decide the
code's loops, so the transcription is run once for each (n from 1 to 8,
software and batching) and the outcomes are joined on `n` and `batching`.

Where the executor meets the rest of zswap it meets `_SymZswap` below: the
parts of `Zswap` a store path calls (the list is the registry's), each doing
what the model's does within the theorems' domain, which a test checks
against the model (`tests/proofs/test_derivation.py`):

- `zs_malloc(size)`: -EINVAL for 0, -ENOSPC above PAGE_SIZE (both recorded
  as a bad size, INV-ALLOC), else -ENOMEM if the input says that page's
  allocation fails (the k-th allocation of a valid size is page k's, as
  `proofs.replay` injects it), else a fresh handle;
- the entry cache and the tree never fail; charging and the LRU are not
  part of the outcome;
- a buffer or a page is tracked as *which object* a stored object came
  from, not its bytes: a page is stored as-is when its own page, whole,
  was written (`raw`); the scripted compressors of the replay never write a
  page's bytes into a buffer, so that is what the replay compares.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field, replace

from zswap_spec.model.acomp import ScatterEntry
from zswap_spec.model.cint import EINVAL, ENOMEM, ENOSPC
from zswap_spec.model.zswap import DEBUGFS_COUNTERS, Folio

from . import symexec as sx
from .cexpr import BV, bv, ite, sym, z3

__all__ = ["MAX_UNITS", "Inputs", "Outcome", "make_inputs", "at_size", "sizes", "encode", "COUNTERS"]

MAX_UNITS = 8  # ZSWAP_MAX_BATCH_SIZE
COUNTERS = ("reject_compress_poor", "reject_compress_fail", "reject_alloc_fail")


@dataclass
class Inputs:
    n: BV  # pages in the folio, one batch (a bit-vector: the queries stay QF_BV)
    batching: z3.BoolRef  # the compressor batches (IAA) or not (lz4, zstd, ...)
    ret: list[BV]  # software: each page's return code
    dlen: list[BV]  # software: each page's req->dlen after the call
    bret: BV  # batching: the batch path's return code
    sret: BV  # batching: its submission step's return code (v14: the one that reaches zswap)
    entry: list[BV]  # batching: each unit's entry length
    wb: z3.BoolRef
    nomem: list[z3.BoolRef]  # zs_malloc for page k fails with -ENOMEM
    page_size: int
    # The folio's number of pages the outcomes are for: one (1 to 8), or None for
    # every one, joined on `n`.  A query for each size alone is smaller.
    size: int | None = None
    # (variant, alone) -> Outcome: each derived once per set of inputs
    derived: dict = field(default_factory=dict, repr=False, compare=False)


def make_inputs(page_size: int, prefix: str = "", size: int | None = None) -> Inputs:
    k = range(MAX_UNITS)
    return Inputs(
        n=z3.BitVec(f"{prefix}n", 32),
        batching=z3.Bool(f"{prefix}batching"),
        ret=[sym(f"{prefix}ret{i}") for i in k],
        dlen=[sym(f"{prefix}dlen{i}") for i in k],
        bret=sym(f"{prefix}bret"),
        sret=sym(f"{prefix}sret"),
        entry=[sym(f"{prefix}entry{i}") for i in k],
        wb=z3.Bool(f"{prefix}wb"),
        nomem=[z3.Bool(f"{prefix}nomem{i}") for i in k],
        page_size=page_size,
        size=size,
    )


def at_size(inp: Inputs, n: int) -> Inputs:
    """The same inputs (the same Z3 constants), for a folio of `n` pages only."""
    return replace(inp, n=bv(n), size=n, derived={})


@dataclass
class Outcome:
    ok: z3.BoolRef  # zswap_store() returned true
    raw: list[z3.BoolRef]  # page k was stored as-is: its own bytes, whole
    length: list[BV]  # page k's entry length
    counters: dict[str, BV]  # reject counters moved
    bad_alloc: z3.BoolRef  # zs_malloc(0) or zs_malloc(> PAGE_SIZE) happened


# -- the environment: what a store path calls --------------------------------------------

def _tag(src) -> int:
    """The page a (concrete) source unit is: marker pages carry their index + 1."""
    return src[0] - 1


class _Out:
    """A compressor's output bytes: never looked at by zswap's decision."""

    def sym_len(self):
        return 0

    def sym_truth(self):
        return True


class _SymSoftware:
    """A software compressor reporting the inputs' `ret` and `req->dlen` for each page."""

    batching = False
    batch_size = 1
    name = "symbolic"

    def __init__(self, inp: Inputs):
        self.inp = inp

    def compress(self, src, capacity):
        k = _tag(src)
        return (sx.sym_int(self.inp.ret[k], True), sx.sym_int(self.inp.dlen[k], False), _Out())


class _SymBatching:
    """A batching driver: each unit's entry from the inputs, the batch path's and the
    submission's return codes (as `ScriptedBatching` reports them)."""

    batching = True
    batch_size = MAX_UNITS
    name = "symbolic-batching"

    def __init__(self, inp: Inputs):
        self.inp = inp

    def compress_unit(self, src, capacity):
        return sx.sym_int(self.inp.entry[_tag(src)], True), _Out()

    def compress_batch(self, req):
        g = sx.current_guard()
        unit = req.unit_size
        for k in range(req.slen // unit):
            sg = req.dst[k]
            v = sx.sym_int(self.inp.entry[_tag(req.src[k * unit:(k + 1) * unit])], True)
            sg.length = sx.merge(g, sx.u32(v), sg.length)
        req.dlen = sx.merge(g, req.dst[0].length, req.dlen)
        req.submit_ret = sx.merge(g, sx.sym_int(self.inp.sret, True), req.submit_ret)
        return sx.sym_int(self.inp.bret, True)


class _SymBuffer:
    """A per-CPU destination buffer of PAGE_SIZE bytes."""

    def __init__(self, index: int, page_size: int):
        self.index = index
        self.page_size = page_size

    def __len__(self):
        return self.page_size

    def __repr__(self):
        return f"buffers[{self.index}]"

    def sym_getitem(self, key):
        if not isinstance(key, slice):
            raise sx.SymExecError("a buffer read byte by byte")
        return sx.SymSlice(self, key.start, key.stop)

    def sym_setitem(self, key, value, guard):
        pass  # the bytes a compressor writes are not part of the decision


class _Entry:
    __slots__ = ("offset", "handle", "length", "memcg", "referenced", "pool")

    def __init__(self, offset):
        self.offset = offset
        self.handle = 0
        self.length = 0
        self.memcg = None
        self.referenced = True
        self.pool = None


class _SymZpool:
    def __init__(self, zs):
        self.zs = zs

    def zs_obj_write(self, handle, data):
        self.zs.writes.append((sx.current_guard(), handle, data))

    def zs_free(self, handle):
        pass  # a freed object leaves the folio rejected: no outcome field reads it


class _SymZswap:
    """The zswap state a store path sees (`Zswap`'s members of the registry's list)."""

    def __init__(self, variant, alg, inp: Inputs, max_batch_size):
        self.inp = inp
        self.page_size = inp.page_size
        self.alg = alg
        self.compr_batch_size = variant.compr_batch_size(alg, max_batch_size)
        self.store_batch_size = variant.store_batch_size(alg, self.compr_batch_size)
        self.buffers = [_SymBuffer(k, self.page_size) for k in range(self.compr_batch_size)]
        self.sg_outputs = [ScatterEntry(b, self.page_size) for b in self.buffers]
        self.counters = dict.fromkeys(DEBUGFS_COUNTERS, 0)
        self.zpool = _SymZpool(self)
        self.entries: dict[int, _Entry] = {}
        self.writes: list = []
        self.bad_alloc = False
        self.valid_allocs = [True] + [False] * MAX_UNITS  # none made so far
        self.next_handle = 1

    def entry_cache_alloc(self, offset):
        if offset in self.entries:
            raise sx.SymExecError(f"a second entry allocated for slot {offset}")
        e = self.entries[offset] = sx.born(_Entry(offset))
        return e

    def xa_store(self, entry):
        return True, None

    def zswap_entry_free(self, entry):
        raise sx.SymExecError("an entry freed: the proofs' folio replaces none")

    def charge_and_count(self, entry, memcg):
        pass

    def writeback_enabled(self, memcg):
        return self.inp.wb

    def zs_malloc(self, size):
        g = sx.current_guard()
        P = self.page_size
        zero = sx.compare(_EQ, size, 0)
        too_big = sx.compare(_GT, size, P)
        bad = sx.OR(zero, too_big)
        # Which allocation of a valid size this is, one Boolean per count (`made[k]`: k
        # were made before): page k's allocation is the k-th, the one `nomem[k]` fails.
        made = self.valid_allocs
        nomem = False
        for k in range(MAX_UNITS):
            nomem = sx.OR(nomem, sx.AND(made[k], self.inp.nomem[k]))
        handle = self.next_handle
        self.next_handle += 1
        self.bad_alloc = sx.OR(self.bad_alloc, sx.AND(g, bad))
        counted = sx.AND(g, sx.NOT(bad))
        self.valid_allocs = [sx.merge(counted, made[k - 1] if k else False, made[k])
                             for k in range(MAX_UNITS + 1)]
        return sx.merge(zero, -EINVAL, sx.merge(too_big, -ENOSPC, sx.merge(nomem, -ENOMEM, handle)))


_EQ, _GT = ast.Eq(), ast.Gt()


# -- running a variant and reading its outcome -------------------------------------------

def _marker(k: int, page_size: int) -> bytes:
    return bytes([k + 1]) * page_size


def _is_page(data, page: bytes, page_size: int):
    """Is `data` (a written object) this page's bytes, whole?"""
    if isinstance(data, sx.Choice):
        return sx.merge(data.cond, _is_page(data.a, page, page_size), _is_page(data.b, page, page_size))
    if isinstance(data, sx.SymSlice):
        if not (isinstance(data.origin, (bytes, bytearray)) and data.origin == page):
            return False
        if data.start not in (None, 0):
            return False
        return True if data.stop is None else sx.compare(_EQ, data.stop, page_size)
    if isinstance(data, (bytes, bytearray)):
        return bytes(data) == page
    return False


def _run(variant, inp: Inputs, n: int, batching: bool, alone: bool) -> Outcome:
    P = inp.page_size
    alg = _SymBatching(inp) if batching else _SymSoftware(inp)
    zs = _SymZswap(variant, alg, inp, 1 if alone else None)
    pages = tuple(_marker(k, P) for k in range(n))
    ok = sx.run(variant.store_pages, zs, Folio(pages, 0), None, inp.wb)
    raw, length = [], []
    for k in range(MAX_UNITS):
        e = zs.entries.get(k) if k < n else None
        if e is None:
            raw.append(z3.BoolVal(False))
            length.append(bv(0))
            continue
        stored = False
        for g, handle, data in zs.writes:
            stored = sx.OR(stored, sx.AND(sx.AND(g, sx.compare(_EQ, handle, e.handle)),
                                          _is_page(data, pages[k], P)))
        raw.append(sx._zbool(stored))
        length.append(sx.as_bv32(e.length))
    return Outcome(sx._zbool(sx.truthy(ok)), raw, length,
                   {c: sx.as_bv32(zs.counters[c]) for c in COUNTERS}, sx._zbool(zs.bad_alloc))


def _run_shared(variant, inp: Inputs, batching: bool, alone: bool) -> Outcome:
    """`_run`, once for both settings of `alone` where they configure the same zswap (the
    batch sizes a compressor of this kind gets do not depend on it): the same code on the
    same state, so the same outcome."""
    alg = _SymBatching(inp) if batching else _SymSoftware(inp)
    same = all(f(alg, 1) == f(alg, None) for f in (
        variant.compr_batch_size,
        lambda a, o: variant.store_batch_size(a, variant.compr_batch_size(a, o))))
    key = ("run", batching, False if same else alone)
    if key not in inp.derived:
        inp.derived[key] = {}
    runs = inp.derived[key]
    if variant.name not in runs:
        runs[variant.name] = _run(variant, inp, inp.size, batching, alone)
    return runs[variant.name]


def _join(cond, a: Outcome, b: Outcome) -> Outcome:
    return Outcome(
        ite(cond, a.ok, b.ok),
        [ite(cond, x, y) for x, y in zip(a.raw, b.raw)],
        [ite(cond, x, y) for x, y in zip(a.length, b.length)],
        {c: ite(cond, a.counters[c], b.counters[c]) for c in COUNTERS},
        ite(cond, a.bad_alloc, b.bad_alloc),
    )


def sizes(inp: Inputs) -> dict[int, Inputs]:
    """The inputs for each folio size (1 to 8), made once per set of inputs: their
    outcomes are derived once and shared by every query."""
    if inp.size is not None:
        raise ValueError("these inputs are already for one folio size")
    if "sizes" not in inp.derived:
        inp.derived["sizes"] = {n: at_size(inp, n) for n in range(1, MAX_UNITS + 1)}
    return inp.derived["sizes"]


def encode(variant, inp: Inputs, alone: bool = False) -> Outcome:
    """The outcome of `variant`'s store path (a name or a variant of the registry) on the
    inputs' folio; `alone`: with every unit compressed alone (the batch size forced to 1,
    what INV-BATCH compares with)."""
    from zswap_spec.model.variants import get_variant

    v = get_variant(variant) if isinstance(variant, str) else variant
    key = (v.name, alone)
    # Within a process, outcomes are shared between inputs of the same constants (Z3
    # names a constant by its name): every variant's proofs compare with mainline's.
    shared = (v.name, alone, inp.page_size, inp.size, str(inp.n)) if v is _registered(v.name) else None
    if key not in inp.derived and shared in _SHARED:
        inp.derived[key] = _SHARED[shared]
    if key not in inp.derived:
        if inp.size is None:  # every size: the outcomes of each, joined on `n`
            out = encode(v, sizes(inp)[MAX_UNITS], alone)
            for n in range(MAX_UNITS - 1, 0, -1):
                out = _join(inp.n == bv(n), encode(v, sizes(inp)[n], alone), out)
        else:
            out = _join(inp.batching, _run_shared(v, inp, True, alone),
                        _run_shared(v, inp, False, alone))
        inp.derived[key] = out
        if shared is not None:
            _SHARED[shared] = out
    return inp.derived[key]


_SHARED: dict = {}


def _registered(name: str):
    from zswap_spec.model.variants import VARIANTS

    return VARIANTS.get(name)


