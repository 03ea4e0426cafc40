"""Counterexamples replayed on the executable model.

A counterexample from Z3 names a batch: the compressor's results for each
page, writeback, and which `zs_malloc` call fails.  Here the same batch runs
through the model's variant (`zswap_spec.model.variants`) with a scripted
compressor that reports exactly those results, and the outcome is described
in the proofs' words.  The two must agree, for the variant and for
mainline; otherwise the Z3 encoding and the model have drifted apart.
"""

from __future__ import annotations

from zswap_spec.model.cint import ENOMEM
from zswap_spec.model.memcg import MemCgroup
from zswap_spec.model.scripted import ScriptedBatching, ScriptedSoftware, marker_page
from zswap_spec.model.zswap import REJECT_COUNTERS, Folio, Zswap

__all__ = ["run_on_model", "replay_mismatches"]


def _compressor(cex: dict):
    units = cex["units"]
    if cex["compressor"] == "batching":
        return ScriptedBatching(cex["batch_ret"], {u["page"] + 1: u["entry_length"] for u in units},
                                default=100, submit_ret=cex.get("submit_ret", 0))
    return ScriptedSoftware(0, 100, per_tag={u["page"] + 1: (u["ret"], u["req_dlen"]) for u in units})


def run_on_model(cex: dict, variant: str, alone: bool = False) -> dict:
    """The model's outcome for the counterexample's batch, in the proofs' words."""
    page_size, n = cex["page_size"], cex["batch_size"]
    zs = Zswap(variant, _compressor(cex), page_size=page_size,
               max_batch_size=1 if alone else None)
    memcg = MemCgroup("/proof", zs.root, zswap_writeback=cex["writeback"])
    failing = [u["page"] for u in cex["units"] if u["zs_malloc_enomem"]]
    if failing:  # page k's allocation is the k-th call: every page before it allocated once
        zs.zpool.fail_next = [0] * failing[0] + [-ENOMEM]
    pages = tuple(marker_page(k + 1, page_size) for k in range(n))
    before = dict(zs.counters)
    ok = zs.zswap_store(Folio(pages, 0, memcg))
    words = []
    for k, page in enumerate(pages):
        entry = zs.tree.get(k)
        if entry is None:
            words.append("rejected")
        elif entry.length == page_size:
            words.append("raw" if zs.zpool.objects[entry.handle] == page else "corrupt")
        else:
            words.append(f"compressed({entry.length})")
    moved = {c: zs.counters[c] - before[c] for c in REJECT_COUNTERS
             if c != "reject_kmemcache_fail" and zs.counters[c] != before[c]}
    bad = any(size == 0 or size > page_size for size in zs.trace.malloc_sizes)
    return {"stored": ok, "pages": words, "counters": moved, "bad_zs_malloc": bad}


def replay_mismatches(result) -> list[str]:
    """Where the model and the proof disagree about a counterexample (none is right)."""
    cex = result.counterexample
    out = []
    checks = [("actual", result.variant, False), ("expected", "mainline", False)]
    if "alone" in cex:
        checks.append(("alone", result.variant, True))
    for key, variant, alone in checks:
        got = run_on_model(cex, variant, alone)
        if got != cex[key]:
            out.append(f"{key} ({variant}{', alone' if alone else ''}): proof says {cex[key]}, "
                       f"model says {got}")
    return out
