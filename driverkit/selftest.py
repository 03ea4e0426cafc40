"""The self-test stage: the kernel's own compression test vectors for the
driver's format (crypto/testmgr.h, read from the kernel source at run time),
run as the kernel runs them when an algorithm registers (crypto/testmgr.c,
test_acomp()): each compression vector's input is compressed alone into a
buffer of COMP_BUF_SIZE (512) bytes and must succeed and decompress back to
itself; each decompression vector must decompress, with the driver's own
decompressor, to exactly its output.  A driver failing them would not
register in the kernel (C-SELFTEST); the answers are checked against every
other clause too.
"""

from __future__ import annotations

from .clauses import Violation, is_errno, plural, unit_value
from .harness import Checker, _errno_text, _failure
from .inputs import Case, UnitSpec
from .sandbox import DriverFailure

__all__ = ["selftest_stage", "check_vector"]


def _say(message: str) -> None:
    import sys

    print(f"zswap-spec: note: {message}", file=sys.stderr, flush=True)


def check_vector(checker: Checker, kind: str, label: str, data: bytes, output: bytes,
                 buffer_size: int) -> list[Violation]:
    """One vector as test_acomp() runs it: `kind` "compression" (compress `data`,
    decompress it back) or "decompression" (decompress `data`, expect `output`).
    The clauses it breaks; each finding carries the vector, to be re-run."""
    sb, B = checker.sb, buffer_size
    case = Case((UnitSpec(label, data, B),), "guard", B)
    caps = [B]
    checker.cases += 1
    checker.mark_history()
    found: list[Violation] = []

    def selftest(what: str, expected: str, actual: str) -> None:
        found.append(checker._violation(
            "C-SELFTEST", case, caps, f"{label} ({plural(len(data), 'byte')}): {what}; the "
            f"kernel's self-test would refuse the driver when it registers", expected, actual))

    def own_decompressor(src: bytes, want: bytes, what: str, expected: str) -> None:
        try:
            ((rc, out),) = sb.decompress([(src, B)])
        except DriverFailure as f:
            found.append(_failure(checker, f, case, caps, "its own decompressor: "))
            return
        if rc != 0 or out != want:
            got = (f"failed with {_errno_text(rc)}" if rc else "overran its capacity"
                   if out is None else f"gave {plural(len(out), 'byte')} other than the "
                   f"{len(want)} expected")
            selftest(f"its own decompressor {got}{what}", expected, got)

    if kind == "decompression":
        if checker.info.has_decompress:
            own_decompressor(data, output, "", "the vector's output")
    else:
        try:
            ans = sb.compress([data], caps, "guard")
        except DriverFailure as f:
            found.append(_failure(checker, f, case, caps))
        else:
            found.extend(checker.check_answer(case, caps, ans))
            raw = ans["lengths"][0]
            value = unit_value(raw) if isinstance(raw, int) else None
            if value is None or not 0 < value <= B:
                why = (f"failed with {_errno_text(value)}" if value is not None and is_errno(value)
                       else f"reported length {raw!r}")
                selftest(f"compressing it into {B} bytes {why}", f"a length in (0, {B}]", why)
            elif checker.info.has_decompress:
                own_decompressor(ans["outputs"][0][:value], data, " on its output", "the input")
    for v in found:
        v.found_by = "self-test"
        v.page_size = None  # a vector, not a page: its buffer size is in the case
        v.case["selftest"] = {"kind": kind, "label": label, "input": data, "output": output,
                              "buffer_size": B}
    return found


def selftest_stage(checker: Checker, found: dict[str, Violation], fmt: str, source: str | None,
                   give_up=lambda: False) -> dict:
    """Run the vectors; what ran (for the report), or why none did."""
    from .testmgr import VectorsUnavailable, kernel_vectors

    try:
        vs = kernel_vectors(fmt, source, note=_say)
    except VectorsUnavailable as e:
        return {"ran": False, "reason": str(e)}
    failed: list[str] = []  # vectors the kernel's self-test itself would fail
    other: list[str] = []  # vectors that break other clauses only
    ran = {"compression": 0, "decompression": 0}
    for kind, vectors in (("compression", vs.comp), ("decompression", vs.decomp)):
        if kind == "decompression" and not checker.info.has_decompress:
            break
        for vec in vectors:
            if give_up():
                break
            label = f"{vec.template} test {vec.number}"
            ran[kind] += 1
            broken = check_vector(checker, kind, label, vec.input, vec.output, vs.buffer_size)
            if any(v.clause == "C-SELFTEST" for v in broken):
                failed.append(label)
            elif broken:
                other.append(label)
            for v in broken:
                found.setdefault(v.clause, v)
    import dataclasses

    ran_set = dataclasses.replace(vs, comp=vs.comp[:ran["compression"]],
                                  decomp=vs.decomp[:ran["decompression"]])
    described = ran_set.describe() if ran_set.decomp else ran_set.describe().replace(
        f" and {vs.fmt}_decomp_tv_template (no entries)", "")
    summary = {"ran": True, "source": vs.source, "buffer_size": vs.buffer_size, **ran,
               "vectors": described, "failed": failed, "other_clauses_broken": other}
    if not checker.info.has_decompress and vs.decomp:
        summary["note"] = (f"{len(vs.decomp)} decompression vectors not run: the driver has no "
                           f"decompressor")
    return summary
