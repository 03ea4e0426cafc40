"""The kit's reports: a human summary, `{"drivers": [...]}` as JSON, and JUnit
XML (one test case per driver and clause) for CI systems."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from rich import box
from rich.markup import escape
from rich.table import Table

from zswap_spec.support.console import console
from zswap_spec.support.files import atomic_write
from .clauses import CLAUSES
from .conformance import DriverReport
from .targets import catalogue

__all__ = ["print_reports", "reports_json", "write_junit", "print_catalogue", "verdict"]


def _say(*args) -> None:
    # Targets such as "mod:attr:" must not turn into emoji.
    console.print(*args, emoji=False)


def verdict(r: DriverReport) -> str:
    if r.error:
        return "not checked"
    if r.seeded_bug:
        if r.as_expected is None:
            return "not judged"
        return "rejected as expected" if r.as_expected else "NOT rejected as expected"
    if r.as_expected is False:
        return "BREAKS THE CONTRACT"
    if r.conforms and r.variants and all(v.nothing_compressed for v in r.variants):
        return "conforms, but zswap stored nothing compressed with it"
    return "conforms" if r.conforms else "breaks the contract"


def _describe(r: DriverReport) -> str:
    if r.info is None:
        return ""
    i = r.info
    return (f"{i.language}, format {i.format}, batch {i.batch_size}"
            f"{', deterministic' if i.deterministic else ''}"
            f"{'' if i.has_decompress else ', no decompressor'}")


def print_reports(reports: list[DriverReport]) -> None:
    for r in reports:
        head = f"[bold]{escape(r.target)}[/]"
        if r.info is not None:
            head += f" ({escape(_describe(r))})"
        color = "green" if (r.conforms and not r.seeded_bug) or r.as_expected else "red"
        if r.error:
            _say(f"[red]not checked[/]: {escape(r.error)}")
            continue
        found = ", ".join(r.clauses) or "no clause broken"
        extra = f"; expected {', '.join(r.expected)}" if r.seeded_bug else ""
        _say(f"{head}: [{color}]{verdict(r)}[/] — {found}{extra} "
                      f"({r.cases} cases, {r.search_cases} by search; {r.calls} calls; "
                      f"{r.seconds:.1f} s)")
        for v in r.violations:
            where = f" — reproducer {v.reproducer}" if v.reproducer else ""
            size = f" ({v.page_size // 1024} KiB pages)" if v.page_size and v.page_size >= 4096 else ""
            _say(f"    {v.clause}: {escape(v.description)}{size}{escape(where)}")
            how = _reproduction_text(v)
            if how:
                _say(f"      [dim]{escape(how)}[/]")
        _say(f"    [dim]{escape(stages_text(r))}[/]")
        for note in r.notes:
            _say(f"    [dim]note: {escape(note)}[/]")
        if r.variants:
            _print_variants(r)
    _print_totals(reports)


def _reproduction_text(v) -> str:
    from .history import history_text

    if v.reproduces == "alone":
        return ""
    if v.reproduces == "after its history":
        return f"reproduces only {history_text(v.history, v.baseline)}; the reproducer keeps those calls"
    if v.reproduces == "no":
        return ("did not reproduce on a fresh driver process, alone or after the calls before "
                "it: the driver depends on something the kit does not control (time, "
                "randomness, other processes)" + ("" if v.history_complete else
                                                    "; or on calls older than the kit keeps"))
    return "not re-run (a hang costs the whole time limit)" if v.clause == "C-HANG" else ""


def stages_text(r: DriverReport) -> str:
    """'stages: vectors 130 cases at 4, 16, 64 KiB; kernel self-test: ...; ...'."""
    parts = []
    for st in r.stages:
        name = st["stage"]
        if name == "vectors":
            sizes = ", ".join(str(p // 1024) for p in st.get("page_sizes", r.page_sizes))
            parts.append(f"vectors {st['cases']} cases at {sizes} KiB")
        elif name == "self-test":
            t = r.selftest or {}
            if t.get("ran"):
                failed = f", failed {', '.join(t['failed'])}" if t.get("failed") else ""
                parts.append(f"kernel self-test {t['vectors']}{failed}")
            else:
                parts.append(f"kernel self-test not run ({t.get('reason', 'no vectors')})")
        elif name == "sequence":
            parts.append(f"sequence {st['calls']:,} calls")
        elif name == "search":
            parts.append(f"search {st['cases']} cases")
        elif name == "re-run" and st["cases"]:
            parts.append(f"findings re-run on a fresh process in {st['seconds']:.1f} s")
    return "stages: " + "; ".join(parts) if parts else "stages: none ran"


def _print_variants(r: DriverReport) -> None:
    table = Table(title=f"{r.name} under zswap (built-in sample)", box=box.SIMPLE_HEAD,
                  pad_edge=False)
    for col in ("variant", "page", "wb", "folio", "pages", "zero", "compr.", "raw", "rej.",
                "lost", "broken"):
        table.add_column(col, no_wrap=True)
    for v in r.variants:
        page = f"{v.page_size // 1024}K"
        if v.error:
            table.add_row(v.variant, page, "on" if v.writeback else "off", str(v.folio_pages),
                          "", "", "", "", "", "", f"[red]{escape(v.error)}[/]")
            continue
        broken = ", ".join(f"{k} x{n}" for k, n in v.violations.items()) or "none"
        compressed = (f"[red]{v.stored_compressed}![/]" if v.nothing_compressed
                      else str(v.stored_compressed))
        table.add_row(v.variant, page, "on" if v.writeback else "off", str(v.folio_pages),
                      str(v.pages), str(v.zero_filled), compressed, str(v.stored_raw),
                      str(v.rejected), str(v.corrupt), broken)
    _say(table)
    empty = [v for v in r.variants if v.nothing_compressed]
    if empty:
        _say(f"    [red]nothing stored compressed[/] in {len(empty)} of {len(r.variants)} runs "
             f"(marked !): every page that was not zero-filled was stored as-is or rejected, so "
             f"zswap would gain nothing with this driver there; the verdict above is about the "
             f"contract only")
    for v in r.variants:
        for e in v.examples[:1]:
            _say(f"    {v.variant} wb={'on' if v.writeback else 'off'} "
                          f"folio={v.folio_pages}: {escape(e)}")


def _print_totals(reports: list[DriverReport]) -> None:
    drivers = [r for r in reports if not r.seeded_bug and r.error is None]
    seeded = [r for r in reports if r.seeded_bug and r.error is None]
    errors = [r for r in reports if r.error]
    parts = [f"{sum(r.conforms for r in drivers)} of {len(drivers)} drivers conform"] if drivers \
        or not seeded else []
    if seeded:
        parts.append(f"{sum(bool(r.as_expected) for r in seeded)} of {len(seeded)} seeded-bug "
                     f"drivers rejected with their clause")
    if errors:
        parts.append(f"{len(errors)} target{'s' if len(errors) > 1 else ''} could not be checked")
    _say("; ".join(parts))


def reports_json(reports: list[DriverReport]) -> dict:
    return {"drivers": [r.to_json() for r in reports]}


def write_junit(reports: list[DriverReport], path: str) -> None:
    """One <testsuite> per driver; one <testcase> per clause (a seeded-bug driver's
    test cases pass when the kit found exactly what the catalogue expects)."""
    suites = ET.Element("testsuites", name="zswap-spec check-driver")
    for r in reports:
        suite = ET.SubElement(suites, "testsuite", name=r.target, time=f"{r.seconds:.3f}")
        cases = failures = errors = skipped = 0
        if r.error:
            tc = ET.SubElement(suite, "testcase", classname=r.target, name="load")
            ET.SubElement(tc, "error", message=r.error).text = r.error
            cases, errors = 1, 1
        else:
            by_clause = {v.clause: v for v in r.violations}
            for clause in CLAUSES:
                cases += 1
                tc = ET.SubElement(suite, "testcase", classname=r.target, name=clause)
                v = by_clause.get(clause)
                unchecked = next((n for n in r.notes if n.startswith(clause + " not checked")), None)
                if r.seeded_bug:
                    missed = v is None and clause == r.expected[0]
                    if missed or (v is not None and clause not in r.expected):
                        failures += 1
                        msg = (f"expected the kit to find {clause}" if v is None else
                               f"unexpected {clause}: {v.description}")
                        ET.SubElement(tc, "failure", message=msg).text = msg
                elif v is not None:
                    failures += 1
                    text = f"{v.description}\nexpected: {v.expected}\nactual: {v.actual}\n" \
                           f"reproducer: {v.reproducer}"
                    ET.SubElement(tc, "failure", message=f"{clause}: {v.description}").text = text
                elif unchecked:
                    skipped += 1
                    ET.SubElement(tc, "skipped", message=unchecked)
        suite.set("tests", str(cases))
        suite.set("failures", str(failures))
        suite.set("errors", str(errors))
        suite.set("skipped", str(skipped))
    ET.indent(suites)
    atomic_write(path, ET.tostring(suites, encoding="utf-8", xml_declaration=True))


def print_catalogue() -> None:
    table = Table(title="built-in drivers (builtin:NAME)", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("name", "kind", "the kit must find", "what it does"):
        table.add_column(col)
    for e in catalogue().values():
        must = ", ".join([e.clause, *e.also]) if e.seeded_bug else "nothing (conforms)"
        table.add_row(e.name, "seeded bug" if e.seeded_bug else "driver", must, e.description)
    _say(table)
    _say("clauses: " + ", ".join(CLAUSES) + " (spec/zswap-spec.md §11)")
