"""The pool state machine: folios stored, loaded, invalidated and written
back through one variant with one compressor, while writeback, zswap.max,
the pool limit, allocation failures and the compressor's misbehaviour change
under it.  After every step every invariant of the spec is checked by the
one checker (`zswap_spec.model.invariants.check`, one check per ID), which
the model's `SwapSystem` calls after every store and read and over the
whole pool; a broken one fails the step with an `InvariantBroken` carrying
its `Violation`.
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis import target
from hypothesis.control import currently_in_test_context
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from zswap_spec.model.compressors import algorithm
from zswap_spec.model.faults import FaultyCompressor
from zswap_spec.model.invariants import Violation
from zswap_spec.model.memcg import MemCgroup
from zswap_spec.model.swap import SwapSystem
from zswap_spec.model.zswap import Folio, Zswap
from .pages import KINDS, folio_pages, page_specs

__all__ = ["make_pool_machine", "InvariantBroken"]

SLOT_GROUPS = 16  # folios go to slots group * 512 + ...


class InvariantBroken(AssertionError):
    """A step broke an invariant: `violation` is the `Violation` the checker
    reported (`invariant`, `offset`, `detail`, the spec's `statement`).  The
    message is the violation's (``INV-X at slot N: detail``), then the
    spec's statement of the invariant on a line of its own."""

    def __init__(self, violation: Violation):
        if not isinstance(violation, Violation):
            raise TypeError(f"InvariantBroken takes a Violation, not {type(violation).__name__}")
        super().__init__(violation)
        self.violation = violation

    @property
    def invariant(self) -> str:
        return self.violation.invariant

    def __str__(self) -> str:
        v = self.violation
        return f"{v.message}\n{v.invariant}: {v.statement}"


def make_pool_machine(variant: str, compressor: str, faults: tuple[str, ...] = (),
                      page_size: int = 4096, max_folio: int = 512, kinds: tuple[str, ...] = KINDS):
    """A RuleBasedStateMachine class for one configuration, named `PoolMachine`.

    `kinds` limits the page contents (only compressible kinds: the real
    compressor never fails, so what breaks is the fault's doing)."""
    fault_names = tuple(faults)

    class PoolMachine(RuleBasedStateMachine):
        """One zswap pool driven by random operations."""

        def __init__(self):
            super().__init__()
            real = algorithm(compressor)
            self.comp = FaultyCompressor(real) if fault_names else real
            self.zs = Zswap(variant, self.comp, page_size=page_size, total_ram_pages=1 << 14)
            self.memcg = MemCgroup("/fuzz", self.zs.root)
            self.system = SwapSystem(self.zs)
            self.steps = 0
            self.closest = -page_size

        def teardown(self):
            if currently_in_test_context():  # not when a saved finding is replayed
                target(self.closest, label="distance of a real output to PAGE_SIZE")

        # -- operations ------------------------------------------------------

        @rule(group=st.integers(0, SLOT_GROUPS - 1), runs=page_specs(max_folio, kinds))
        def store(self, group, runs):
            pages = folio_pages(runs, max_folio, page_size)
            if runs[0][0] == "boundary":
                # Steer toward exact fits: a real output close to PAGE_SIZE.
                real = self.comp.real if fault_names else self.comp
                self.closest = max(self.closest, -abs(len(real.raw_compress(pages[0])) - page_size))
            self.system.swap_out(Folio(tuple(pages), group * 512, self.memcg))

        def _slot(self, pick: int) -> int:
            slots = sorted(self.system.expected)
            return slots[pick % len(slots)]

        @precondition(lambda self: self.system.expected)
        @rule(pick=st.integers(0, 1 << 16))
        def load(self, pick):
            self.system.swap_in(self._slot(pick))

        @precondition(lambda self: self.system.expected)
        @rule(pick=st.integers(0, 1 << 16))
        def invalidate(self, pick):
            self.system.swap_free(self._slot(pick))

        @rule()
        def writeback(self):
            self.zs.shrink_memcg(self.memcg)

        @rule(enabled=st.booleans())
        def set_writeback(self, enabled):
            self.memcg.zswap_writeback = enabled

        @rule(pages=st.sampled_from([None, 0, 1, 4, 64]))
        def set_zswap_max(self, pages):
            self.memcg.zswap_max = None if pages is None else pages * page_size

        @rule(percent=st.sampled_from([1, 5, 20]))
        def set_max_pool_percent(self, percent):
            self.zs.max_pool_percent = percent

        @rule(kind=st.sampled_from(["zs_malloc", "entry", "tree"]), after=st.integers(0, 3))
        def inject_allocation_failure(self, kind, after):
            if kind == "zs_malloc":
                self.zs.zpool.fail_next = [0] * after + [-12]
            elif kind == "entry":
                self.zs.kmemcache_fail_next = 1
            else:
                self.zs.xa_store_fail_next = 1

        @precondition(lambda self: bool(fault_names))
        @rule(fault=st.sampled_from(fault_names or ("none",)), calls=st.sampled_from([1, 2, 8]))
        def misbehave(self, fault, calls):
            self.comp.arm(fault, calls)

        # -- the spec ----------------------------------------------------------

        total_steps = 0  # over every example: the campaign's step count

        @invariant()
        def spec_holds(self):
            self.steps += 1
            type(self).total_steps += 1
            self.system.check_global()
            if self.system.violations:
                raise InvariantBroken(self.system.violations[0])

    PoolMachine.__name__ = PoolMachine.__qualname__ = "PoolMachine"
    PoolMachine.configuration = {"variant": variant, "compressor": compressor,
                                 "faults": list(fault_names), "page_size": page_size,
                                 "max_folio": max_folio, "kinds": list(kinds)}
    return PoolMachine
