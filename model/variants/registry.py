"""Citations of transcribed functions, and the record each variant module ends with.

What a transcribed function may use
===================================

Every function decorated with `@transcribes` (labels and the helpers they
call included) keeps to this list, so that the proofs' symbolic executor
(`zswap_spec.proofs.symexec`) can run it over symbolic integers
(`tests/model/test_transcriptions.py` checks the list):

- statements: assignment (tuple unpacking included), augmented assignment,
  `if`/`elif`/`else`, `for` over `range(...)`, `enumerate(...)`, `zip(...)`,
  a list or a slice (bounds never depend on a compressor's result),
  `return`, `break`, `continue`, a call as a statement;
- expressions: calls (no `*args`), attribute and subscript reads and writes,
  slices, `+ - * // % | &`, unary `-` and `not`, comparisons (`is None`
  and `is not None` included), `and`/`or`, conditional expressions,
  names, string/number/bytes/None/tuple constants; `min`, `max`, `len` on
  plain values; `cint.s32`, `cint.u32`;
- added for the transcriptions (beyond the first list):
  * list displays, for C arrays: `[None] * ZSWAP_MAX_BATCH_SIZE` (a local
    `struct zswap_entry *entries[ZSWAP_MAX_BATCH_SIZE]`) and `[output]`
    (a request's destination scatterlist of one entry);
  * `b"".join(folio.pages[a:b])`: the folio's pages a..b-1 as one request
    source (`acomp_request_set_src_folio`);
  * `bytes(dst[:dlen])`: the `dlen` bytes `zs_obj_write` copies from `dst`;
  * `folio.memcg` (`folio_memcg(folio)`), read by the review's proposals,
    which look writeback up again before storing a page as-is;
- the zswap state `zs` (standing for the pool and its per-CPU acomp_ctx:
  one CPU, no locks) only through `ZS_ATTRIBUTES`, `ZS_METHODS`,
  `zs.counters[NAME] += 1`, `zs.zpool.zs_obj_write(handle, data)` and
  `zs.zpool.zs_free(handle)`;
- the crypto layer only through `crypto_acomp_compress(layer, alg, req)`
  with `AcompReq(...)` and `ScatterEntry(...)` (model/acomp.py);
- entries through `entry.handle`, `entry.length`, `entry.offset`; folios
  through `FOLIO_ATTRIBUTES`.

Not allowed: `while`, `try`/`except`/`raise`, comprehensions, generator
expressions, `lambda`, `with`, `del`, `global`/`nonlocal`, `*args` calls,
`:=`, f-strings, `assert`, `isinstance`, nested function or class
definitions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from zswap_spec.model.acomp import CRYPTO_LAYERS
from .base_trees import BASE_TREES

__all__ = ["Transcription", "transcribes", "transcription_of", "Variant", "VariantError",
           "ZS_ATTRIBUTES", "ZS_METHODS", "ZPOOL_METHODS", "FOLIO_ATTRIBUTES", "ENTRY_ATTRIBUTES"]

# The zswap state as the transcriptions may touch it (see the list above).
ZS_ATTRIBUTES = ("page_size", "compr_batch_size", "store_batch_size", "alg", "buffers",
                 "sg_outputs", "counters")
ZS_METHODS = ("entry_cache_alloc", "xa_store", "zswap_entry_free", "charge_and_count",
              "writeback_enabled", "zs_malloc")
ZPOOL_METHODS = ("zs_obj_write", "zs_free")
FOLIO_ATTRIBUTES = ("pages", "offset", "nr_pages", "memcg")
ENTRY_ATTRIBUTES = ("handle", "length", "offset")


class VariantError(ValueError):
    """A variant's record or a transcription's citation is malformed."""


@dataclass(frozen=True)
class Transcription:
    """Where a Python function's text comes from.

    `function` is the C function transcribed; `name` the Python function's
    own name, which differs for a label of that function (`compress_error`
    of `zswap_compress`) and for a C function the model keeps in part
    (said in the function's docstring)."""

    function: str
    source: str
    name: str

    @property
    def label(self) -> str | None:
        """The C label this function stands for, or None for a whole function."""
        return None if self.name == self.function else self.name

    def describe(self) -> str:
        what = f"{self.function}()" if self.label is None else f"{self.function}(), label {self.label}:"
        return f"{what} -- {self.source}"


def transcribes(source: str, function: str | None = None):
    """Record that the decorated function transcribes C `function` (by
    default its own name) of `source` (a mail's subject, author and date,
    or a kernel path and tree).  The function is returned unchanged, with
    the citation in its `transcription` attribute."""
    if not isinstance(source, str) or not source.strip():
        raise VariantError("transcribes(): the source must be a non-empty string")
    if function is not None and (not isinstance(function, str) or not function.strip()):
        raise VariantError("transcribes(): the C function's name must be a non-empty string")

    def mark(fn):
        fn.transcription = Transcription(function=function or fn.__name__, source=source,
                                         name=fn.__name__)
        return fn

    return mark


def transcription_of(fn) -> Transcription | None:
    return getattr(fn, "transcription", None)


@dataclass(frozen=True)
class Variant:
    """One variant of zswap's store path: the record its module ends with.

    `store_pages(zs, folio, memcg, wb_enabled)` is what `Zswap.zswap_store`
    calls between its prologue (enabled, limits) and its epilogue (events,
    the cleanup of a failed folio); `compr_batch_size(alg, override)` and
    `store_batch_size(alg, compr_batch_size)` size a pool
    (`zswap_spec.model.pools`); `functions` lists every transcribed function
    the variant runs, in C's order, each with its citation (`citations`).
    `order` places the variant in `VARIANTS`."""

    name: str
    title: str
    source: str
    crypto_layer: str
    base_tree: str
    order: int
    store_pages: Callable
    compr_batch_size: Callable
    store_batch_size: Callable
    functions: tuple

    def __post_init__(self):
        for field in ("name", "title", "source"):
            value = getattr(self, field)
            if not isinstance(value, str) or not value.strip():
                raise VariantError(f"Variant.{field} must be a non-empty string, not {value!r}")
        if self.crypto_layer not in CRYPTO_LAYERS:
            raise VariantError(f"variant {self.name!r}: crypto_layer {self.crypto_layer!r} is not "
                               f"one of {', '.join(CRYPTO_LAYERS)}")
        if self.base_tree not in BASE_TREES:
            raise VariantError(f"variant {self.name!r}: base_tree {self.base_tree!r} is not one "
                               f"of {', '.join(BASE_TREES)}")
        if not isinstance(self.order, int) or isinstance(self.order, bool):
            raise VariantError(f"variant {self.name!r}: order must be an int, not {self.order!r}")
        for field in ("store_pages", "compr_batch_size", "store_batch_size"):
            if not callable(getattr(self, field)):
                raise VariantError(f"variant {self.name!r}: {field} must be callable")
        if not isinstance(self.functions, tuple) or not self.functions:
            raise VariantError(f"variant {self.name!r}: functions must be a non-empty tuple")
        for fn in self.functions:
            if transcription_of(fn) is None:
                raise VariantError(f"variant {self.name!r}: {getattr(fn, '__name__', fn)!r} in "
                                   f"functions has no @transcribes citation")
        if transcription_of(self.store_pages) is None or self.store_pages not in self.functions:
            raise VariantError(f"variant {self.name!r}: store_pages must be one of its "
                               f"transcribed functions")

    @property
    def citations(self) -> tuple[tuple[str, str], ...]:
        """(`module.function`, citation) for every transcribed function, in order."""
        return tuple((f"{fn.__module__.rsplit('.', 1)[-1]}.{fn.__name__}",
                      transcription_of(fn).describe()) for fn in self.functions)
