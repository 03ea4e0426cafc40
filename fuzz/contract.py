"""The contract state machine: a compressor fed batches, its answers checked
clause by clause against the acomp batch contract (spec/zswap-spec.md §2), as
the uniform API presents it — every unit's result in its destination entry.

Clauses:
- C-ENCODING: each entry is a length or a negative errno (-4095..-1)
  wrapped in the unsigned field.
- C-LENGTH: a successful entry's length is in (0, capacity].
- C-RET: the call returns an error exactly when a unit failed.
- C-DLEN: `req->dlen` is the first entry's value.
- C-ROUNDTRIP: a successful unit decompresses to its page.
- C-INDEPENDENT: a unit's result is the one it gets when compressed alone.
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from zswap_spec.model.acomp import AcompReq, ScatterEntry, compress_uniform
from zswap_spec.model.cint import s32
from zswap_spec.model.compressors import algorithm
from zswap_spec.model.faults import FaultyCompressor
from .pages import KINDS, folio_pages, page_specs

__all__ = ["make_contract_machine", "ContractBroken", "CLAUSES"]

CLAUSES = ("C-ENCODING", "C-LENGTH", "C-RET", "C-DLEN", "C-ROUNDTRIP", "C-INDEPENDENT")


class ContractBroken(AssertionError):
    """A clause of the batch contract broke; the message starts with its ID."""


def _request(pages, page_size):
    sgl = [ScatterEntry(bytearray(page_size), page_size) for _ in pages]
    return AcompReq(b"".join(pages), sgl, dlen=len(pages) * page_size, unit_size=page_size)


def make_contract_machine(compressor: str, faults: tuple[str, ...] = (), page_size: int = 4096,
                          kinds=KINDS):
    fault_names = tuple(faults)

    class ContractMachine(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            real = algorithm(compressor)
            self.comp = FaultyCompressor(real) if fault_names else real
            self.reference = algorithm(compressor)

        @precondition(lambda self: bool(fault_names))
        @rule(fault=st.sampled_from(fault_names or ("none",)), calls=st.sampled_from([1, 3]))
        def misbehave(self, fault, calls):
            self.comp.arm(fault, calls)

        @rule(runs=page_specs(8, kinds))
        def batch(self, runs):
            pages = folio_pages(runs, 8, page_size)
            req = _request(pages, page_size)
            ret = compress_uniform(self.comp, req)
            failed = False
            for k, (page, sg) in enumerate(zip(pages, req.dst)):
                v = s32(sg.length)
                if v < 0:
                    if v < -4095:
                        raise ContractBroken(f"C-ENCODING unit {k}: entry {sg.length} is neither a "
                                             f"length nor an errno")
                    failed = True
                    continue
                if not 0 < v <= page_size:
                    raise ContractBroken(f"C-LENGTH unit {k}: success with length {v}, outside "
                                         f"(0, {page_size}]")
                rc, out = self.comp.decompress(bytes(sg.buf[:v]), page_size)
                if rc != 0 or out != page:
                    raise ContractBroken(f"C-ROUNDTRIP unit {k}: its {v} byte"
                                         f"{'' if v == 1 else 's'} do{'es' if v == 1 else ''} "
                                         f"not decompress to the page")
                alone = _request([page], page_size)
                compress_uniform(self.reference, alone)
                if s32(alone.dst[0].length) < 0 and not fault_names:
                    raise ContractBroken(f"C-INDEPENDENT unit {k}: succeeds in a batch, fails alone")
            if (ret != 0) != failed:
                raise ContractBroken(f"C-RET: the call returned {ret} while "
                                     f"{'a unit failed' if failed else 'every unit succeeded'}")
            if req.dlen != req.dst[0].length:
                raise ContractBroken(f"C-DLEN: req->dlen {req.dlen} is not the first entry "
                                     f"{req.dst[0].length}")

    ContractMachine.__name__ = ContractMachine.__qualname__ = "ContractMachine"
    return ContractMachine
