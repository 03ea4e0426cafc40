"""The driver kit's parts: the C interface against its header, targets and
the bad ones (not a shared object, no symbol, a wrong ABI, a module that
does not import, a driver that crashes or hangs while loading), Python
drivers, the sandbox's findings, reproducers, JSON and JUnit reports, and
the spec's clause and driver tables against the code."""

import ctypes
import json
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from zswap_spec.driverkit import CLAUSES, check_driver
from zswap_spec.driverkit.abi import (ABI_VERSION, PAGE_SIZES, DriverStruct, DriverStructV1,
                                     TargetError, Unit, header_path, page_size_mask,
                                     sizes_from_mask)
from zswap_spec.driverkit.conformance import DriverReport
from zswap_spec.driverkit.report import reports_json, write_junit
from zswap_spec.driverkit.targets import catalogue, parse_target
from zswap_spec.spec import SPEC_TEXT, TABLES, parse

ROOT = Path(__file__).resolve().parents[2]
PYDRIVERS = ROOT / "tests" / "data" / "driverkit_pydrivers.py"
FAST = dict(budget=0, call_timeout=1.0, load_timeout=3.0)

# C drivers that the kit must refuse to check, or check and reject.
_GOOD_BODY = r"""
#include <string.h>
#include <stdio.h>
#include "zswap_acomp_driver.h"
static int copy(struct zswap_acomp_unit *u, unsigned int n) {
    printf("a driver that talks on stdout\n");
    if (u[0].slen > u[0].capacity) { u[0].length = ZSWAP_ACOMP_ERR(7); return -7; }
    memcpy(u[0].dst, u[0].src, u[0].slen); u[0].length = u[0].slen; return 0;
}
static int uncopy(const unsigned char *s, unsigned int n, unsigned char *d, unsigned int *dl) {
    if (n > *dl) return -22; memcpy(d, s, n); *dl = n; return 0;
}
"""
C_SOURCES = {
    "no_symbol": "int zswap_something_else(void) { return 0; }\n",
    "two": _GOOD_BODY + r"""
static int aborts(struct zswap_acomp_unit *u, unsigned int n) { abort(); }
#include <stdlib.h>
static const struct zswap_acomp_driver a = {ABI, "copy", "none", 1, ZSWAP_ACOMP_DETERMINISTIC, 0, copy, uncopy};
static const struct zswap_acomp_driver b = {ABI, "aborts", "none", 1, 0, 0, aborts, 0};
static const struct zswap_acomp_driver *const all[] = {&a, &b, 0};
const struct zswap_acomp_driver *const *zswap_acomp_drivers(void) { return all; }
""".replace("ABI", "ZSWAP_ACOMP_DRIVER_ABI").replace("#include <stdlib.h>\n", "")
      .replace('#include "zswap_acomp_driver.h"', '#include <stdlib.h>\n#include "zswap_acomp_driver.h"'),
    "abi3": _GOOD_BODY + r"""
static const struct zswap_acomp_driver a = {3, "copy", "none", 1, 0, 0, copy, uncopy};
static const struct zswap_acomp_driver *const all[] = {&a, 0};
const struct zswap_acomp_driver *const *zswap_acomp_drivers(void) { return all; }
""",
    "ctor_crash": _GOOD_BODY + r"""
__attribute__((constructor)) static void boom(void) { volatile int *volatile p = 0; *p = 1; }
static const struct zswap_acomp_driver a = {ZSWAP_ACOMP_DRIVER_ABI, "copy", "none", 1, 0, 0, copy, uncopy};
static const struct zswap_acomp_driver *const all[] = {&a, 0};
const struct zswap_acomp_driver *const *zswap_acomp_drivers(void) { return all; }
""",
    "init_hang": _GOOD_BODY + r"""
static int forever(void) { for (;;) ; return 0; }
static const struct zswap_acomp_driver a = {ZSWAP_ACOMP_DRIVER_ABI, "copy", "none", 1, 0, forever, copy, uncopy};
static const struct zswap_acomp_driver *const all[] = {&a, 0};
const struct zswap_acomp_driver *const *zswap_acomp_drivers(void) { return all; }
""",
}


@pytest.fixture(autouse=True)
def _in_a_scratch_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # default reproducer folders land here, not in the tree


@pytest.fixture(scope="session")
def c_drivers(tmp_path_factory):
    folder = tmp_path_factory.mktemp("c_drivers")
    built = {}
    for name, text in C_SOURCES.items():
        src = folder / f"{name}.c"
        src.write_text(text)
        out = folder / f"{name}.so"
        subprocess.run(["gcc", "-O1", "-fPIC", "-shared", f"-I{header_path().parent}", str(src),
                        "-o", str(out)], check=True, capture_output=True)
        built[name] = out
    return built


def _layout_from_c(tmp_path) -> dict[str, int]:
    src = tmp_path / "layout.c"
    src.write_text(r"""
#include <stddef.h>
#include <stdio.h>
#include "zswap_acomp_driver.h"
#define F(t, f) printf(#t "." #f " %zu\n", offsetof(struct t, f))
int main(void) {
    printf("unit %zu\ndriver %zu\nabi %d\nflag %u\n", sizeof(struct zswap_acomp_unit),
           sizeof(struct zswap_acomp_driver), ZSWAP_ACOMP_DRIVER_ABI, ZSWAP_ACOMP_DETERMINISTIC);
    F(zswap_acomp_unit, src); F(zswap_acomp_unit, slen); F(zswap_acomp_unit, dst);
    F(zswap_acomp_unit, capacity); F(zswap_acomp_unit, length);
    F(zswap_acomp_driver, abi_version); F(zswap_acomp_driver, name); F(zswap_acomp_driver, format);
    F(zswap_acomp_driver, batch_size); F(zswap_acomp_driver, flags); F(zswap_acomp_driver, init);
    F(zswap_acomp_driver, compress); F(zswap_acomp_driver, decompress);
    F(zswap_acomp_driver, page_sizes);
    printf("p4 %u\np16 %u\np64 %u\n", ZSWAP_ACOMP_PAGE_4K, ZSWAP_ACOMP_PAGE_16K, ZSWAP_ACOMP_PAGE_64K);
    printf("err %u\n", ZSWAP_ACOMP_ERR(22));
    printf("iserr %d %d %d\n", ZSWAP_ACOMP_IS_ERR(ZSWAP_ACOMP_ERR(4095)),
           ZSWAP_ACOMP_IS_ERR(ZSWAP_ACOMP_ERR(4096)), ZSWAP_ACOMP_IS_ERR(4096u));
    return 0;
}
""")
    exe = tmp_path / "layout"
    subprocess.run(["gcc", f"-I{header_path().parent}", str(src), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    return {k: v for k, v in (line.split(" ", 1) for line in out.splitlines())}


def test_ctypes_mirror_matches_the_header(tmp_path):
    c = _layout_from_c(tmp_path)
    assert int(c["unit"]) == ctypes.sizeof(Unit) and int(c["driver"]) == ctypes.sizeof(DriverStruct)
    for struct, cls in (("zswap_acomp_unit", Unit), ("zswap_acomp_driver", DriverStruct)):
        for name, _ in cls._fields_:
            assert int(c[f"{struct}.{name}"]) == getattr(cls, name).offset, (struct, name)
    assert int(c["abi"]) == ABI_VERSION
    # the page-size bits are what the kit decodes, and a version-1 struct is the prefix
    assert sizes_from_mask(int(c["p4"]) | int(c["p16"]) | int(c["p64"])) == PAGE_SIZES
    assert page_size_mask(PAGE_SIZES) == int(c["p4"]) | int(c["p16"]) | int(c["p64"])
    assert ctypes.sizeof(DriverStructV1) == int(c["zswap_acomp_driver.page_sizes"])
    assert int(c["err"]) == (-22) & 0xFFFFFFFF  # the contract's encoding of an errno
    assert c["iserr"] == "1 0 0"


def test_the_spec_clause_table_is_the_code():
    # The kit's clauses are the spec's table's rows checked by "kit", in order,
    # and the contract state machine checks exactly those marked "machine".
    rows = TABLES["clause"]
    assert CLAUSES == {r["id"]: r["statement"] for r in rows if "kit" in r["checked_by"].split(", ")}
    from zswap_spec.fuzz.contract import CLAUSES as MACHINE

    assert set(MACHINE) == {r["id"] for r in rows if "machine" in r["checked_by"].split(", ")}
    assert "C-DLEN" in MACHINE and "C-DLEN" not in CLAUSES  # the crypto layer's duty, not a driver's
    # The clause table as written in the document, read with the spec's parser.
    assert parse(SPEC_TEXT)["clause"] == rows


def test_every_clause_id_is_used_in_spec_code_and_tests():
    # A clause is used by the code that checks it: the kit (driverkit/) or the
    # contract state machine (fuzz/contract.py), as its "checked by" cell says.
    code = {"kit": "\n".join(p.read_text() for p in (ROOT / "driverkit").rglob("*.py")),
            "machine": (ROOT / "fuzz" / "contract.py").read_text()}
    tests = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    ids = {r["id"] for r in TABLES["clause"]}
    used = set(re.findall(r"\bC-[A-Z]+(?:-[A-Z]+)?\b", code["kit"])) - {"C-IDS"}
    assert used <= ids, used - ids
    for r in TABLES["clause"]:
        cid = r["id"]
        assert cid in SPEC_TEXT and cid in tests, cid
        for checker in r["checked_by"].split(", "):
            assert cid in code[checker], (cid, checker)


def test_the_spec_driver_table_is_the_catalogue():
    # §11's table and the kit's manifest (spec/expected-drivers.toml) list the
    # same drivers, in the same order, with the same expected findings.
    spec = [(r["name"], r["description"], r["clause"], tuple(r["also"])) for r in TABLES["driver"]]
    kit = [(e.name, e.description, e.clause, e.also) for e in catalogue().values()]
    assert spec == kit
    assert all(bool(e.clause) == e.seeded_bug for e in catalogue().values())


def test_the_catalogue_covers_every_clause_with_a_seeded_bug():
    seeded = [e for e in catalogue().values() if e.seeded_bug]
    assert len(seeded) >= 12
    assert {e.clause for e in seeded} == set(CLAUSES)
    assert all(set(e.also) <= set(CLAUSES) for e in seeded)


@pytest.mark.parametrize("text,needle", [
    ("/no/such/driver.so", "no such file"),
    ("nonsense", "not a shared object path, module:attr or builtin:NAME"),
    ("builtin:no-such", "no built-in driver 'no-such'"),
    (".", "is a directory"),
])
def test_a_target_that_names_nothing_is_refused(text, needle):
    with pytest.raises(TargetError, match=re.escape(needle)):
        parse_target(text)


def _only(reports) -> DriverReport:
    assert len(reports) == 1, reports
    return reports[0]


@pytest.mark.parametrize("which,needle", [
    ("no_symbol", "no symbol zswap_acomp_drivers; export"),
    ("abi3", "ABI version 3, the kit reads versions 1 and 2; rebuild"),
    ("ctor_crash", "died while loading (SIGSEGV at address 0x0"),
    ("init_hang", "loading did not finish within 3 s"),
])
def test_a_c_driver_that_cannot_be_checked_says_why(c_drivers, which, needle):
    r = _only(check_driver(str(c_drivers[which]), **FAST))
    assert r.error and needle in r.error and str(c_drivers[which]) in r.error
    assert not r.conforms and r.violations == []


def test_a_file_that_is_not_a_shared_object_says_so(tmp_path):
    bogus = tmp_path / "driver.so"
    bogus.write_text("not an ELF file\n")
    r = _only(check_driver(str(bogus), **FAST))
    assert "not a loadable shared object" in r.error and str(bogus) in r.error


@pytest.mark.parametrize("target,needle", [
    (f"{ROOT}/tests/data/driverkit_broken_import.py:DRIVER",
     "importing", ),
    (f"{PYDRIVERS}:NoSuchDriver", "has no attribute NoSuchDriver"),
    (f"{PYDRIVERS}:WrongAbi", "ABI version 3"),
    ("zswap_spec_no_such_module:DRIVER", "No module named 'zswap_spec_no_such_module'"),
])
def test_a_python_driver_that_cannot_be_checked_says_why(target, needle):
    r = _only(check_driver(target, **FAST))
    assert r.error and needle in r.error, r.error
    assert target.split(":")[0] in r.error


def test_a_shared_object_with_two_drivers_checks_both(c_drivers, tmp_path):
    reports = check_driver(str(c_drivers["two"]), reproducers=str(tmp_path), **FAST)
    by_name = {r.name: r for r in reports}
    assert set(by_name) == {"copy", "aborts"}
    assert by_name["copy"].conforms, by_name["copy"].violations  # despite its printf on stdout
    assert "C-FORMAT not checked: format 'none' has no reference decompressor" in by_name["copy"].notes
    crash = by_name["aborts"].violations
    assert [v.clause for v in crash] == ["C-CRASH"] and "SIGABRT" in crash[0].description
    (one,) = check_driver(f"{c_drivers['two']}@aborts", **FAST)
    assert one.name == "aborts" and one.clauses == ["C-CRASH"]


def test_python_drivers_are_checked_like_c_ones(tmp_path):
    good = _only(check_driver(f"{PYDRIVERS}:Lz4Batch", budget=0.5, reproducers=str(tmp_path)))
    assert good.conforms and good.info.language == "Python" and good.info.batch_size == 4
    assert good.search_cases > 0
    bad = {}
    for cls in ("ForgetsFailures", "RaisesOnZeroPage", "StringLength"):
        bad[cls] = _only(check_driver(f"{PYDRIVERS}:{cls}", reproducers=str(tmp_path), **FAST))
    assert bad["ForgetsFailures"].clauses == ["C-RET"]
    assert bad["RaisesOnZeroPage"].clauses == ["C-CRASH"]
    assert "ZeroDivisionError: no bytes to compress" in bad["RaisesOnZeroPage"].violations[0].description
    assert "C-ENCODING" in bad["StringLength"].clauses


def test_a_driver_without_decompressor_or_format_is_checked_for_the_rest():
    r = _only(check_driver(f"{PYDRIVERS}:Stored", **FAST))
    assert r.conforms
    assert any(n.startswith("C-ROUNDTRIP not checked") for n in r.notes)
    assert any(n.startswith("C-FORMAT not checked") for n in r.notes)
    forced = _only(check_driver(f"{PYDRIVERS}:Stored", format="lz4", **FAST))
    assert forced.clauses == ["C-FORMAT"]  # its bytes are no lz4 block


def test_a_reproducer_holds_the_pages_and_what_went_wrong(tmp_path):
    r = _only(check_driver("builtin:bug-own-decompressor", reproducers=str(tmp_path), **FAST))
    v = next(v for v in r.violations if v.clause == "C-ROUNDTRIP")
    doc = json.loads(Path(v.reproducer).read_text())
    assert doc["clause"] == "C-ROUNDTRIP" and doc["driver"] == "bug-own-decompressor"
    folder = Path(v.reproducer).parent
    case = v.case["case"]
    for k, unit in enumerate(doc["units"]):
        assert (folder / unit["page"]).read_bytes() == case.units[k].page
        assert unit["capacity"] == v.case["capacities"][k]
    decompressed = (folder / "decompressed.bin").read_bytes()
    page = case.units[0].page
    # the seeded bug: the last byte flipped, nothing else
    assert decompressed[:-1] == page[:-1] and decompressed[-1] == page[-1] ^ 1


def test_json_and_junit_reports(tmp_path):
    reports = check_driver("builtin:lz4", reproducers=str(tmp_path), **FAST)
    reports += check_driver("builtin:bug-ret-count", reproducers=str(tmp_path), **FAST)
    reports += check_driver(str(tmp_path / "missing.so"), **FAST)
    doc = reports_json(reports)
    lz4, bug, missing = doc["drivers"]
    assert (lz4["name"], lz4["seeded_bug"], lz4["conforms"], lz4["violations"]) == \
        ("lz4", False, True, [])
    assert bug["seeded_bug"] and not bug["conforms"] and bug["as_expected"]
    assert {"clause", "description", "reproducer"} <= set(bug["violations"][0])
    assert missing["error"] and not missing["conforms"]
    path = tmp_path / "junit.xml"
    write_junit(reports, str(path))
    suites = ET.parse(path).getroot()
    counts = {s.get("name"): (int(s.get("tests")), int(s.get("failures")), int(s.get("errors")))
              for s in suites}
    assert counts["builtin:lz4"] == (len(CLAUSES), 0, 0)
    assert counts["builtin:bug-ret-count"] == (len(CLAUSES), 0, 0)  # rejected as expected
    assert counts[str(tmp_path / "missing.so")] == (1, 0, 1)


def test_without_the_built_c_parts_the_kit_names_the_fix(monkeypatch, tmp_path):
    from zswap_spec.driverkit import abi

    monkeypatch.setattr(abi, "_HERE", tmp_path)  # a source tree where nothing was built
    with pytest.raises(TargetError, match=r"_builtin is not built .*'pip install -e \.'"):
        parse_target("builtin:lz4")


def test_a_driver_built_without_its_library_is_told_to_link_it(tmp_path):
    """An object that calls a function nothing defines (its compression library left off
    the link line) is named with the function and told to link the library, not to build
    a shared object it already is."""
    src = tmp_path / "unlinked.c"
    src.write_text('#include "zswap_acomp_driver.h"\n'
                   "int zz_unlinked_compress(const char *src, char *dst, int n, int cap);\n"
                   "int zz_use(void) { return zz_unlinked_compress(0, 0, 0, 0); }\n")
    out = tmp_path / "unlinked.so"
    subprocess.run(["gcc", "-O1", "-fPIC", "-shared", f"-I{header_path().parent}", str(src),
                    "-o", str(out)], check=True, capture_output=True)
    r = _only(check_driver(str(out), **FAST))
    assert r.error and str(out) in r.error, r.error
    assert "zz_unlinked_compress" in r.error and "link the library" in r.error, r.error
    assert "not a loadable shared object" not in r.error


def test_units_of_one_length_but_other_bytes_in_a_batch_say_so():
    """C-INDEPENDENT where only the bytes differ names the first byte that differs, not
    two equal lengths."""
    r = _only(check_driver(f"{PYDRIVERS}:TaggedByBatch", **FAST))
    found = [v for v in r.violations if v.clause == "C-INDEPENDENT"]
    assert found and not r.conforms, r.violations
    v = found[0]
    assert "both in the batch and alone, but other bytes from byte 0 on" in v.description, v.description
    assert "byte 0 = 0x00" in v.expected and "byte 0 = 0x01" in v.actual, (v.expected, v.actual)
