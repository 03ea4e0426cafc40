"""One batch through a driver, checked against every clause of the contract
(spec/zswap-spec.md §11): the call itself, each unit's encoding and length,
the return code, the memory around the buffers, the sources, both
decompressors, the same batch again (determinism) and each unit alone
(independence).
"""

from __future__ import annotations

from zswap_spec.model.compressors import ALGORITHMS
from .abi import DriverInfo
from .clauses import UNWRITTEN, Violation, is_errno, plural, unit_value
from .inputs import Case
from .sandbox import DriverFailure, Sandbox

__all__ = ["Checker", "reference_decompress"]


def reference_decompress(fmt: str, data: bytes, capacity: int) -> tuple[int, bytes]:
    """The reference decompressor of a format (python-lz4, zstandard, zlib raw inflate)."""
    return ALGORITHMS[fmt].decompress(data, capacity)


# What a call that did not answer should have done, for the reports.
_ANSWERED = {"C-CRASH": "the call returns", "C-HANG": "an answer within the time limit",
             "C-OVERRUN": "no access outside the units' buffers"}


def _failure(checker, f: DriverFailure, case, caps, context: str = "") -> Violation:
    return checker._violation(f.clause, case, caps, context + f.description,
                              _ANSWERED.get(f.clause, ""), f.description)


def _errno_text(v: int) -> str:
    from zswap_spec.model.cint import errno_name

    return errno_name(v) if is_errno(v) else str(v)


class Checker:
    """Runs cases on one sandboxed driver and names the clauses each breaks."""

    def __init__(self, sandbox: Sandbox, info: DriverInfo, fmt: str):
        self.sb = sandbox
        self.info = info
        self.format = fmt
        self.cases = 0
        self.history_ref: tuple | None = None  # (log, mark) before the case being checked

    # -- helpers ----------------------------------------------------------

    def _violation(self, clause: str, case: Case, caps, description: str, expected: str = "",
                   actual: str = "", extra: dict | None = None) -> Violation:
        return Violation(clause, description,
                         {"case": case, "capacities": list(caps), "extra": extra or {}},
                         expected, actual, page_size=case.page_size, history_ref=self.history_ref)

    def _resolve(self, case: Case) -> list[int]:
        """Numbers for the capacities; ("exact", d) is the unit's own length alone, plus d."""
        caps = []
        for u in case.units:
            if isinstance(u.capacity, tuple):
                ans = self.sb.compress([u.page], [case.page_size], case.layout)
                v = unit_value(ans["lengths"][0]) if isinstance(ans["lengths"][0], int) else -1
                base = v if 0 < v <= case.page_size else case.page_size
                caps.append(max(1, base + u.capacity[1]))
            else:
                caps.append(u.capacity)
        return caps

    def mark_history(self) -> None:
        """The calls so far are the history of whatever is found next (none when the
        driver's process is not running: the next call starts a fresh one)."""
        self.history_ref = (self.sb.log, self.sb.log.mark()) if self.sb.proc is not None else None

    # -- the clauses ------------------------------------------------------

    def run_case(self, case: Case) -> list[Violation]:
        """Every clause this case breaks (at most one violation per clause)."""
        self.cases += 1
        self.mark_history()
        try:
            caps = self._resolve(case)
        except DriverFailure as f:
            return [_failure(self, f, case, [], "compressing one unit alone to learn its length: ")]
        pages = [u.page for u in case.units]
        try:
            ans = self.sb.compress(pages, caps, case.layout)
        except DriverFailure as f:
            return [_failure(self, f, case, caps)]
        found: dict[str, Violation] = {}

        def add(clause, *args, **kw):
            found.setdefault(clause, self._violation(clause, case, caps, *args, **kw))

        ok_units = self._answer(case, caps, pages, ans, add)
        self._determinism_and_independence(case, caps, pages, ans, ok_units, add)
        return list(found.values())

    def check_answer(self, case: Case, caps, ans: dict) -> list[Violation]:
        """The clauses one answer breaks by itself (everything but C-DETERMINISM and
        C-INDEPENDENT, which need more calls)."""
        found: dict[str, Violation] = {}

        def add(clause, *args, **kw):
            found.setdefault(clause, self._violation(clause, case, caps, *args, **kw))

        self._answer(case, caps, [u.page for u in case.units], ans, add)
        return list(found.values())

    def _answer(self, case, caps, pages, ans, add) -> list[int]:
        """Check one answer's units, return code, memory and outputs; the units that
        succeeded."""
        n = len(pages)
        ok_units: list[int] = []
        failed = False
        unwritten: list[int] = []
        for k in range(n):
            raw = ans["lengths"][k]
            cap = caps[k]
            if not isinstance(raw, int):
                add("C-ENCODING", f"unit {k} of {n}: length {raw} is not a 32-bit integer",
                    "a length or a negative errno", raw)
                failed = True
                continue
            v = unit_value(raw)
            if v < 0:
                failed = True
                if not is_errno(v):
                    what = "was never written" if raw == UNWRITTEN else "is neither a length nor an errno"
                    if raw == UNWRITTEN:
                        unwritten.append(k)
                    add("C-ENCODING", f"unit {k} of {n}: length {raw:#010x} (int {v}) {what}",
                        "a length in (0, capacity] or an errno in -4095..-1", f"{raw:#010x}")
                continue
            if not 0 < v <= cap:
                add("C-LENGTH", f"unit {k} of {n}: success with length {v}, outside (0, {cap}]",
                    f"a length in (0, {cap}]", str(v))
                continue
            ok_units.append(k)
        ret = ans["ret"]
        if not isinstance(ret, int):
            add("C-RET", f"the call returned {ret}, not an int", "0 or a negative errno", str(ret))
        elif failed and not is_errno(ret):
            if unwritten and ret == 0:
                which = ", ".join(str(k) for k in unwritten)
                add("C-RET", f"the call returned 0 (every unit succeeded) although the length "
                    f"of unit{'s' if len(unwritten) > 1 else ''} {which} of {n} was never "
                    f"written (the kit's {UNWRITTEN:#010x} is still there, see C-ENCODING): a "
                    f"caller trusting 0 reads that as a length", "a negative errno, or every "
                    "length written", "0")
            else:
                add("C-RET", f"the call returned {ret} while a unit failed", "a negative errno",
                    str(ret))
        elif not failed and ret != 0:
            add("C-RET", f"the call returned {_errno_text(ret)} while every unit succeeded",
                "0", str(ret))
        for k in range(n):
            before, after = ans["canary_before"][k], ans["canary_after"][k]
            if before:
                add("C-OVERRUN", f"unit {k} of {n}: wrote {plural(before[1], 'byte')} before its "
                    f"destination (first at offset {before[0]})", "the canary before the buffer intact",
                    f"changed at offset {before[0]}")
            if after:
                add("C-OVERRUN", f"unit {k} of {n}: wrote {plural(after[1], 'byte')} past its "
                    f"capacity {caps[k]} (first at offset {after[0]} past the end)",
                    "the canary after the buffer intact", f"changed at offset {after[0]} past the end")
            if ans["source_changed"][k]:
                add("C-SOURCE", f"unit {k} of {n}: the source page was modified",
                    "the source unchanged", "modified")
        outputs = {k: ans["outputs"][k][:unit_value(ans["lengths"][k])] for k in ok_units}
        self._roundtrip(case, caps, pages, outputs, add)
        return ok_units

    def _roundtrip(self, case, caps, pages, outputs, add) -> None:
        n = len(pages)
        page = "page" if case.page_size >= 4096 else "input"  # a self-test vector is no page
        if self.info.has_decompress and outputs:
            items = [(outputs[k], case.page_size) for k in outputs]
            try:
                results = self.sb.decompress(items)
            except DriverFailure as f:
                found_decomp = _failure(self, f, case, caps, "its own decompressor: ")
                add(f.clause, found_decomp.description, found_decomp.expected, found_decomp.actual)
                results = None
            for k, (rc, out) in zip(outputs, results or []):
                if rc != 0 or out != pages[k]:
                    why = (f"failed with {_errno_text(rc)}" if rc else
                           "overran its capacity" if out is None else
                           f"gave {plural(len(out), 'byte')} that "
                           f"{'differs' if len(out) == 1 else 'differ'} from the {page}")
                    add("C-ROUNDTRIP", f"unit {k} of {n}: the driver's decompressor {why} on the "
                        f"unit's {plural(len(outputs[k]), 'byte')} of output", f"the {page}", why,
                        extra={"unit": k, "output": outputs[k], "decompressed": out or b""})
                    break
        if self.format != "none":
            for k, data in outputs.items():
                rc, out = reference_decompress(self.format, data, case.page_size)
                if rc != 0 or out != pages[k]:
                    one = len(data) == 1
                    why = (f"{'does' if one else 'do'} not decompress as {self.format} into "
                           f"{case.page_size} bytes" if rc else
                           f"{'decompresses' if one else 'decompress'} as {self.format} to "
                           f"{plural(len(out), 'byte')} that "
                           f"{'differs' if len(out) == 1 else 'differ'} from the {page}")
                    add("C-FORMAT", f"unit {k} of {n}: its {plural(len(data), 'byte')} of output "
                        f"{why}", f"the {page}", why,
                        extra={"unit": k, "output": data, "decompressed": out})
                    break

    def _determinism_and_independence(self, case, caps, pages, ans, ok_units, add) -> None:
        n = len(pages)
        same = True
        if self.info.deterministic:
            try:
                again = self.sb.compress(pages, caps, case.layout)
            except DriverFailure as f:
                v = _failure(self, f, case, caps, "the same batch again: ")
                add(f.clause, v.description, v.expected, v.actual)
                return
            diff = _first_difference(ans, again, n)
            if diff is not None:
                same = False
                add("C-DETERMINISM", f"the same batch twice: unit {diff[0]} of {n} {diff[1]}",
                    diff[2], diff[3])
        if n == 1:
            return
        for k in range(n):
            try:
                alone = self.sb.compress([pages[k]], [caps[k]], case.layout)
            except DriverFailure as f:
                v = _failure(self, f, case, caps, f"unit {k} alone: ")
                add(f.clause, v.description, v.expected, v.actual)
                return
            batch_v = _value(ans["lengths"][k])
            alone_v = _value(alone["lengths"][0])
            if self.info.deterministic and same:
                differs = batch_v != alone_v or (k in ok_units and
                                                 alone["outputs"][0][:alone_v] != ans["outputs"][k][:batch_v])
            else:
                differs = (batch_v is not None and batch_v >= 0) != (alone_v is not None and alone_v >= 0)
            if differs:
                if batch_v == alone_v:  # same length, other bytes
                    a, b = alone["outputs"][0][:alone_v], ans["outputs"][k][:batch_v]
                    at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
                    add("C-INDEPENDENT", f"unit {k} of {n}: {_result_text(batch_v)} both in the "
                        f"batch and alone, but other bytes from byte {at} on",
                        f"{_result_text(alone_v)}, byte {at} = {a[at]:#04x}" if at < len(a) else
                        _result_text(alone_v),
                        f"{_result_text(batch_v)}, byte {at} = {b[at]:#04x}" if at < len(b) else
                        _result_text(batch_v), extra=_both_outputs(k, ans, alone))
                    return
                add("C-INDEPENDENT", f"unit {k} of {n}: {_result_text(batch_v)} in the batch, "
                    f"{_result_text(alone_v)} alone", _result_text(alone_v), _result_text(batch_v),
                    extra=_both_outputs(k, ans, alone))
                return


def _both_outputs(k: int, batch: dict, alone: dict) -> dict:
    """Unit k's output in the batch and alone, each as far as its length says (the
    whole destination when the length is not one), for the reproducer."""
    def cut(ans, i):
        v = _value(ans["lengths"][i])
        out = ans["outputs"][i]
        return out[:v] if v is not None and 0 < v <= len(out) else out
    return {"unit": k, "output-in-batch": cut(batch, k), "output-alone": cut(alone, 0)}


def _value(raw):
    return unit_value(raw) if isinstance(raw, int) else None


def _result_text(v) -> str:
    if v is None:
        return "no valid length"
    return f"length {v}" if v >= 0 else f"error {_errno_text(v)}"


def _first_difference(a: dict, b: dict, n: int):
    """(unit, what differs, first answer, second) between two answers to one batch."""
    if a["ret"] != b["ret"]:
        return 0, f"return code {a['ret']} then {b['ret']}", str(a["ret"]), str(b["ret"])
    for k in range(n):
        va, vb = _value(a["lengths"][k]), _value(b["lengths"][k])
        if va != vb:
            return k, f"{_result_text(va)} then {_result_text(vb)}", _result_text(va), _result_text(vb)
        if va is not None and va > 0 and a["outputs"][k][:va] != b["outputs"][k][:vb]:
            return k, f"the same length {va}, different bytes", "identical bytes", "different bytes"
    return None
