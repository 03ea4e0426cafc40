"""The pool state machine over the pool API (`zswap_spec.pool.Pool`), for
either implementation or both at once.

With one implementation (``fuzz --impl core``) it checks the spec's
invariants with the one checker (`zswap_spec.model.invariants.check`) over
the pool: INV-ROUNDTRIP (and INV-ATOMIC: nothing zswap did not store) on
every load and writeback, INV-ALLOC, INV-ATOMIC, INV-LEN, INV-RAW and INV-WB
after every store, the whole pool's INV-COUNTERS, INV-NOLEAK and INV-LEN
after every step, each an `InvariantBroken` carrying the `Violation`.  With two (the default
test run: model and core) it is also a differential machine: every
operation, injected compressor fault and allocation failure goes to both,
and the results, counters, cgroup stats and stored bytes must agree after
every step.

The model-only parts of the pool machine (``fuzz.machine``: memory.zswap.max
and the shrinker's LRU walk) are not here: the core does not implement them.
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from zswap_spec.pool import CORE_FAULTS, make_pool
from zswap_spec.model.invariants import StoredRun, read_back, zswap_source
from .machine import SLOT_GROUPS, InvariantBroken
from .pages import KINDS, folio_pages, page_specs

__all__ = ["make_impl_machine", "ImplsDiverged"]

# What the machine checks after a store and after a read (the whole pool: every check).
STORE_IDS = ("INV-ALLOC", "INV-ATOMIC", "INV-LEN", "INV-RAW", "INV-WB")
READ_IDS = ("INV-ATOMIC", "INV-ROUNDTRIP")


class ImplsDiverged(AssertionError):
    """The model and the core answered one step differently."""


def make_impl_machine(variant: str, compressor: str, faults: tuple[str, ...] = (),
                      page_size: int = 4096, max_folio: int = 64, kinds: tuple[str, ...] = KINDS,
                      impls: tuple[str, ...] = ("model", "core"), threads: int = 1,
                      check_spec: bool | None = None):
    """A RuleBasedStateMachine class named `ImplMachine` for one configuration.

    `impls` names implementations ("model", "core") or gives factories
    `f(variant, compressor, page_size, faults=..., total_ram_pages=...)`
    returning a pool (the tests plant wrong pools this way).

    `check_spec` (default: with one implementation only) fails a step that
    breaks an invariant; the differential machine leaves that to the
    variants' own campaigns and fails only when the implementations differ."""
    if check_spec is None:
        check_spec = len(impls) == 1
    fault_names = tuple(faults)
    for f in fault_names:
        if f not in CORE_FAULTS:
            raise ValueError(f"the core does not implement the fault {f!r}; "
                             f"choose from: {', '.join(CORE_FAULTS)}")

    class ImplMachine(RuleBasedStateMachine):
        """The same operations on every pool of `impls`; the first is checked."""

        def __init__(self):
            super().__init__()
            self.pools = [
                i(variant, compressor, page_size, faults=bool(fault_names), total_ram_pages=1 << 14)
                if callable(i) else
                make_pool(variant, compressor, page_size, impl=i, faults=bool(fault_names),
                          threads=threads if i == "core" else 1, total_ram_pages=1 << 14)
                for i in impls]
            self.cg = [p.add_cgroup(True) for p in self.pools][0]
            self.wb = True
            self.expected: dict[int, bytes] = {}  # slot -> page
            self.in_zswap: set[int] = set()
            self.steps = 0

        @property
        def pool(self):
            return self.pools[0]

        def _same(self, what: str, answers) -> None:
            first = answers[0]
            for impl, other in zip(impls[1:], answers[1:]):
                if other != first:
                    raise ImplsDiverged(f"LOCKSTEP {what}: {_name(impls[0])} answered {_brief(first)}, "
                                        f"{_name(impl)} answered {_brief(other)}")

        def _slot(self, pick: int) -> int:
            slots = sorted(self.expected)
            return slots[pick % len(slots)]

        def _swapped_out(self, offset, pages) -> range:
            """The slots now expect these pages; zswap holds none of them yet."""
            offsets = range(offset, offset + len(pages))
            for o, page in zip(offsets, pages):
                self.expected[o] = page
                self.in_zswap.discard(o)
            return offsets

        # -- operations --------------------------------------------------------

        @rule(group=st.integers(0, SLOT_GROUPS - 1), runs=page_specs(max_folio, kinds))
        def store(self, group, runs):
            pages = folio_pages(runs, max_folio, page_size)
            offset = group * 512
            offsets = self._swapped_out(offset, pages)
            if all(not any(p) for p in pages):  # the swap core keeps zero folios itself
                for p in self.pools:
                    for o in offsets:
                        p.invalidate(o)
                return
            bad_before = len(self.pool.bad_alloc_sizes)
            data = b"".join(pages)
            oks = [p.store(offset, data, self.cg) for p in self.pools]
            self._same(f"store of {_pages(len(pages))} at slot {offset}", oks)
            ok = oks[0]
            if ok:
                self.in_zswap.update(offsets)
            if check_spec:
                self._check_store(offset, data, len(pages), ok, bad_before)

        @rule(group=st.integers(0, SLOT_GROUPS - 1), runs=page_specs(max_folio, kinds),
              folio=st.sampled_from([1, 2, 4, 8]))
        def store_run(self, group, runs, folio):
            """Several folios in one call: the core's bulk path (and compress-ahead)."""
            pages = folio_pages(runs, max_folio, page_size)
            offset = group * 512
            self._swapped_out(offset, pages)
            outs = [p.store_run(b"".join(pages), offset, folio, self.cg) for p in self.pools]
            self._same(f"store_run of {_pages(len(pages))} in folios of {_pages(folio)} at slot "
                       f"{offset}", outs)
            for i, code in enumerate(outs[0]):
                if code in b"cr":
                    self.in_zswap.add(offset + i)

        def _check_store(self, offset, data, npages, ok, bad_before) -> None:
            """INV-ALLOC, INV-ATOMIC, INV-LEN, INV-RAW and INV-WB over the folio just stored
            (the same checks replay runs on the core)."""
            run = StoredRun(offset, (b"c" if ok else b"x") * npages, data, self.wb,
                            malloc_sizes=self.pool.bad_alloc_sizes[bad_before:])
            self._raise(self.pool.check(run, STORE_IDS))

        def _raise(self, found) -> None:
            if found:
                raise InvariantBroken(found[0])

        @precondition(lambda self: self.expected)
        @rule(pick=st.integers(0, 1 << 16))
        def load(self, pick):
            o = self._slot(pick)
            answers = [p.load(o) for p in self.pools]
            self._same(f"load of slot {o}", answers)
            rc, got = answers[0]
            if check_spec:
                read = read_back(o, self.expected[o], got if rc == 0 else None, zswap_source(rc),
                                 stored=o in self.in_zswap, rc=rc)
                self._raise(self.pool.check([read], READ_IDS))
            self.in_zswap.discard(o)
            del self.expected[o]

        @precondition(lambda self: self.expected)
        @rule(pick=st.integers(0, 1 << 16))
        def invalidate(self, pick):
            o = self._slot(pick)
            for p in self.pools:
                p.invalidate(o)
            self.in_zswap.discard(o)
            del self.expected[o]

        @precondition(lambda self: self.in_zswap)
        @rule(pick=st.integers(0, 1 << 16))
        def writeback(self, pick):
            slots = sorted(self.in_zswap)
            o = slots[pick % len(slots)]
            answers = [p.writeback(o) for p in self.pools]
            self._same(f"writeback of slot {o}", answers)
            rc, got = answers[0]
            if rc == 0:
                if check_spec:
                    read = read_back(o, self.expected[o], got, "writeback", stored=True)
                    self._raise(self.pool.check([read], READ_IDS))
                self.in_zswap.discard(o)

        @rule(enabled=st.booleans())
        def set_writeback(self, enabled):
            self.wb = enabled
            for p in self.pools:
                p.set_writeback(self.cg, enabled)

        @rule(percent=st.sampled_from([1, 5, 20]))
        def set_max_pool_percent(self, percent):
            for p in self.pools:
                p.set_max_pool_percent(percent)

        @rule(kind=st.sampled_from(["zs_malloc", "entry", "tree"]), after=st.integers(0, 3))
        def inject_allocation_failure(self, kind, after):
            for p in self.pools:
                if kind == "zs_malloc":
                    p.fail_malloc([0] * after + [-12])
                elif kind == "entry":
                    p.fail_entry_alloc(1)
                else:
                    p.fail_xa_store(1)

        @precondition(lambda self: bool(fault_names))
        @rule(fault=st.sampled_from(fault_names or ("none",)), calls=st.sampled_from([1, 2, 8]))
        def misbehave(self, fault, calls):
            for p in self.pools:
                p.arm(fault, calls)

        # -- the spec, and agreement -----------------------------------------------

        total_steps = 0

        @invariant()
        def spec_holds(self):
            self.steps += 1
            type(self).total_steps += 1
            if len(self.pools) > 1:
                self._same("state after the step", [p.snapshot() for p in self.pools])
            if check_spec:
                self._raise(self.pool.check())

    ImplMachine.__name__ = ImplMachine.__qualname__ = "ImplMachine"
    ImplMachine.configuration = {"variant": variant, "compressor": compressor,
                                 "faults": list(fault_names), "page_size": page_size,
                                 "max_folio": max_folio, "kinds": list(kinds), "impls": [_name(i) for i in impls],
                                 "threads": threads, "check_spec": check_spec}
    return ImplMachine


def _name(impl) -> str:
    return impl if isinstance(impl, str) else getattr(impl, "__name__", repr(impl))


def _brief(value) -> str:
    text = repr(value)
    return text if len(text) < 300 else text[:300] + "..."


def _pages(n: int) -> str:
    return f"{n} page{'' if n == 1 else 's'}"
