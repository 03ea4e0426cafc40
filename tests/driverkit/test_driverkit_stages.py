"""The driver kit's stages beyond single batches: call sequences (and the
history a finding keeps, re-run from a fresh process and by `--replay`),
inputs shaped like compressed data, page sizes, the kernel's own self-test
vectors, and the messages around them."""

from __future__ import annotations

import json
import lz4.block
import lz4.frame
import os
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import zstandard

from zswap_spec.driverkit import check_driver
from zswap_spec.driverkit.history import Call, CallLog
from zswap_spec.driverkit.inputs import header_pages, page_kinds

PYDRIVERS = str(Path(__file__).resolve().parents[1] / "data" / "driverkit_pydrivers.py")
# No search, short limits: the fixed stages only, at the sizes a test names.
FAST = dict(budget=0, call_timeout=2.0, load_timeout=5.0)


def _only(reports):
    (r,) = reports
    return r


def run(*args, cwd=None):
    env = dict(os.environ, COLUMNS="250")
    return subprocess.run([sys.executable, "-m", "zswap_spec", "check-driver", *args],
                          capture_output=True, text=True, env=env, timeout=300, cwd=cwd)


# -- sequences and history ---------------------------------------------------

@pytest.fixture(scope="module")
def mode_after_failure(tmp_path_factory):
    folder = tmp_path_factory.mktemp("repro")
    r = _only(check_driver("builtin:bug-mode-after-failure", reproducers=str(folder),
                           page_sizes=(4096,), kernel_source=None, **FAST))
    return r


def test_state_left_by_a_failure_is_found_by_the_sequence_stage(mode_after_failure):
    r = mode_after_failure
    assert r.clauses == ["C-DETERMINISM"], r.violations
    (v,) = r.violations
    assert v.found_by == "sequence" and "after other calls" in v.description
    # re-run from a fresh process: alone it does not break, after its history it does,
    # and the history is cut down to the batch itself and the failing call
    assert v.reproduces == "after its history"
    assert 2 <= len(v.history) <= 3 and v.baseline == 0, v.history
    assert v.history[0].pages == tuple(u.page for u in v.case["case"].units)
    doc = json.loads(Path(v.reproducer).read_text())
    assert doc["baseline"] == 0 and len(doc["history"]) == len(v.history)
    for call in doc["history"]:
        for name in call["pages"]:
            assert (Path(v.reproducer).parent / name).is_file()


def test_a_reproducer_is_replayed_with_its_history(mode_after_failure, tmp_path):
    (v,) = mode_after_failure.violations
    p = run("--replay", v.reproducer)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "C-DETERMINISM reproduces (after" in p.stdout and "on a fresh driver process" in p.stdout
    # the same case without the calls before it does not break the clause
    copy = tmp_path / "alone"
    shutil.copytree(Path(v.reproducer).parent, copy)
    doc = json.loads((copy / "case.json").read_text())
    doc["history"], doc["baseline"] = [], None
    (copy / "case.json").write_text(json.dumps(doc))
    p = run("--replay", str(copy), "--json")
    assert p.returncode == 0, p.stdout + p.stderr
    out = json.loads(p.stdout)["replay"]
    assert out["reproduces"] is False and out["clauses"] == [] and out["history_calls"] == 0


def test_a_change_after_many_calls_is_found_and_its_burst_shortened(tmp_path):
    r = _only(check_driver(f"{PYDRIVERS}:FasterAfterManyCalls", reproducers=str(tmp_path),
                           page_sizes=(4096,), kernel_source=None, **FAST))
    assert r.clauses == ["C-DETERMINISM"], r.violations
    (v,) = r.violations
    assert v.found_by == "sequence" and v.reproduces == "after its history"
    calls = sum(c.repeat for c in v.history)
    # the driver changes at its 1500th call: the history must hold about that many,
    # and the cut must not have left many more
    assert 1400 <= calls <= 6000, calls
    p = run("--replay", v.reproducer)
    assert p.returncode == 1, p.stdout + p.stderr


def test_the_call_log_is_bounded_and_says_what_it_dropped(monkeypatch):
    from zswap_spec.driverkit import history

    monkeypatch.setattr(history, "MAX_LOG_CALLS", 3)
    log = CallLog()
    calls = [Call("compress", (bytes([i]) * 8,), (8,)) for i in range(5)]
    for c in calls[:2]:
        log.add(c)
    mark = log.mark()
    assert log.between(0, mark) == calls[:2] and log.complete_since(0)
    for c in calls[2:]:
        log.add(c)
    assert len(log) == 3 and log.dropped == 2 and not log.complete_since(0)
    assert log.between(mark) == calls[2:] and log.index_of(mark) == 0
    assert log.index_of(0) is None  # the first call was dropped


# -- inputs shaped like compressed data ----------------------------------------

@pytest.mark.parametrize("size", [4096, 65536])
def test_header_pages_are_real_streams_of_every_format(size):
    pages = header_pages(size)
    text = page_kinds(size, "none")["text"]
    magic = {"lz4-frame": b"\x04\x22\x4d\x18", "lz4-legacy": b"\x02\x21\x4c\x18",
             "zstd-frame": b"\x28\xb5\x2f\xfd", "zstd-skippable": b"\x50\x2a\x4d\x18",
             "zstd-skippable-f": b"\x5f\x2a\x4d\x18", "gzip": b"\x1f\x8b",
             "zlib": b"\x78\x9c", "zlib-fast": b"\x78\x01", "zlib-best": b"\x78\xda",
             "xz": b"\xfd7zXZ\x00", "bzip2": b"BZh"}
    for name, head in magic.items():
        for shape in ("+zero", " repeated"):
            assert pages[name + shape].startswith(head), name
    assert all(len(p) == size for p in pages.values())
    # each stream decodes to the text page it was made from (where it fits whole)
    decoders = {
        "lz4-frame": lz4.frame.decompress,
        "zstd-frame": lambda b: zstandard.ZstdDecompressor().decompressobj().decompress(b),
        "zlib": lambda b: zlib.decompressobj().decompress(b),
        "gzip": lambda b: zlib.decompressobj(31).decompress(b),
        "deflate-raw": lambda b: zlib.decompressobj(-15).decompress(b),
    }
    for name, decode in decoders.items():
        assert decode(pages[name + "+zero"]).startswith(text[:1024]), name
    block = lz4.block.compress(text, store_size=False)  # a block has no end mark: compare
    assert pages["lz4-block+zero"] == block + bytes(size - len(block))



def test_a_driver_that_special_cases_compressed_looking_input_is_caught(tmp_path):
    r = _only(check_driver("builtin:bug-magic-passthrough", reproducers=str(tmp_path),
                           page_sizes=(4096,), kernel_source=None, **FAST))
    assert r.clauses == ["C-FORMAT"], r.violations
    (v,) = r.violations
    label = v.case["case"].units[0].label
    assert label in header_pages(4096) and label.split("+")[0].split(" ")[0] in (
        "lz4-frame", "zstd-frame", "gzip"), label


# -- page sizes ----------------------------------------------------------------------

def test_a_page_size_bug_shows_only_at_larger_pages():
    small = _only(check_driver("builtin:bug-4k-staging", page_sizes=(4096,), reproducers=None,
                               kernel_source=None, **FAST))
    assert small.conforms and small.page_sizes == [4096], small.violations
    big = _only(check_driver("builtin:bug-4k-staging", page_sizes=(16384,), reproducers=None,
                             kernel_source=None, **FAST))
    assert "C-ROUNDTRIP" in big.clauses and big.page_sizes == [16384]
    assert all(v.page_size == 16384 for v in big.violations)


def test_every_page_size_by_default_and_a_driver_declares_its_own():
    every = _only(check_driver(f"{PYDRIVERS}:Lz4Batch", reproducers=None, kernel_source=None,
                               **FAST))
    assert every.conforms and every.page_sizes == [4096, 16384, 65536]
    assert every.stages[0]["stage"] == "vectors" and every.stages[0]["page_sizes"] == \
        [4096, 16384, 65536]
    own = _only(check_driver(f"{PYDRIVERS}:FourKibOnly", reproducers=None, kernel_source=None,
                             **FAST))
    assert own.conforms and own.page_sizes == [4096] and own.info.page_sizes == (4096,)
    assert any("16 KiB, 64 KiB pages not checked" in n for n in own.notes), own.notes


def test_a_c_driver_declares_page_sizes_in_abi_2(tmp_path):
    from zswap_spec.driverkit.abi import header_path

    src = tmp_path / "d.c"
    src.write_text(r"""
#include <string.h>
#include "zswap_acomp_driver.h"
static int copy(struct zswap_acomp_unit *u, unsigned int n) {
    if (u->slen > u->capacity) { u->length = ZSWAP_ACOMP_ERR(28); return -28; }
    memcpy(u->dst, u->src, u->slen); u->length = u->slen; return 0;
}
static const struct zswap_acomp_driver d = {
    .abi_version = ZSWAP_ACOMP_DRIVER_ABI, .name = "copy64k", .format = "none", .batch_size = 1,
    .compress = copy, .page_sizes = ZSWAP_ACOMP_PAGE_64K,
};
static const struct zswap_acomp_driver *const all[] = {&d, 0};
const struct zswap_acomp_driver *const *zswap_acomp_drivers(void) { return all; }
""")
    so = tmp_path / "d.so"
    subprocess.run(["gcc", "-shared", "-fPIC", f"-I{header_path().parent}", str(src), "-o",
                    str(so)], check=True)
    r = _only(check_driver(str(so), reproducers=None, kernel_source=None, **FAST))
    assert r.conforms and r.page_sizes == [65536], (r.error, r.violations)
    p = run(str(so), "--page-size", "4K", "--budget", "0", "--kernel-source", "none")
    assert p.returncode == 3
    assert "supports 64 KiB pages" in p.stderr + p.stdout and "--page-size" in p.stderr + p.stdout


@pytest.mark.parametrize("given", ["3K", "8192", "big"])
def test_a_page_size_the_spec_does_not_cover_is_a_usage_error(given):
    p = run("builtin:lz4", "--page-size", given)
    assert p.returncode == 2 and "--page-size" in p.stderr and "4K, 16K or 64K" in p.stderr


# -- the kernel's self-test vectors ------------------------------------------------------

def test_the_kernels_self_test_vectors_are_a_stage_that_names_what_ran(tmp_path):
    r = _only(check_driver("builtin:bug-whole-pages-only", reproducers=str(tmp_path),
                           page_sizes=(4096,), **FAST))
    if r.selftest and not r.selftest.get("ran"):
        pytest.skip(f"the kernel's source is not available here: {r.selftest['reason']}")
    assert r.clauses == ["C-SELFTEST"], r.violations
    t = r.selftest
    assert t["ran"] and t["compression"] >= 1 and "lz4_comp_tv_template" in t["vectors"]
    assert t["failed"] and "crypto/testmgr.h" in t["source"]
    (v,) = r.violations
    assert v.found_by == "self-test" and "would refuse the driver" in v.description
    p = run("--replay", v.reproducer)
    assert p.returncode == 1 and "C-SELFTEST reproduces" in p.stdout, p.stdout + p.stderr
    # a correct driver passes every vector of its format, decompression ones included
    good = _only(check_driver("builtin:zstd", page_sizes=(4096,), reproducers=None, **FAST))
    assert good.conforms and good.selftest["compression"] >= 1 \
        and good.selftest["decompression"] >= 1 and not good.selftest["failed"]


def test_without_vectors_the_stage_says_why(tmp_path):
    (tmp_path / "crypto").mkdir()
    r = _only(check_driver("builtin:bug-whole-pages-only", reproducers=None, page_sizes=(4096,),
                           kernel_source=str(tmp_path), **FAST))
    assert r.conforms and r.selftest["ran"] is False and r.selftest["reason"]
    from zswap_spec.driverkit.report import stages_text

    assert "kernel self-test not run" in stages_text(r)
    p = run("builtin:lz4", "--kernel-source", str(tmp_path / "nowhere"))
    assert p.returncode == 2 and "--kernel-source" in p.stderr


# -- messages ------------------------------------------------------------------------------

def test_c_independent_saves_both_outputs(tmp_path):
    r = _only(check_driver(f"{PYDRIVERS}:TaggedByBatch", reproducers=str(tmp_path),
                           page_sizes=(4096,), kernel_source=None, **FAST))
    v = next(v for v in r.violations if v.clause == "C-INDEPENDENT")
    folder = Path(v.reproducer).parent
    batch = (folder / "output-in-batch.bin").read_bytes()
    alone = (folder / "output-alone.bin").read_bytes()
    assert len(batch) == len(alone) and batch[0] == 1 and alone[0] == 0 and batch[1:] == alone[1:]


def test_an_unwritten_length_is_explained_in_c_ret(tmp_path):
    r = _only(check_driver(f"{PYDRIVERS}:LeavesFailuresUnwritten", reproducers=None,
                           page_sizes=(4096,), kernel_source=None, **FAST))
    assert {"C-ENCODING", "C-RET"} <= set(r.clauses)
    v = next(v for v in r.violations if v.clause == "C-RET")
    assert "was never written" in v.description and "0xa5a5a5a5" in v.description


def test_with_variant_flags_runs_where_nothing_was_stored_compressed(tmp_path):
    p = run(f"{PYDRIVERS}:RefusesEverything", "--with-variant", "mainline", "--page-size", "4K",
            "--budget", "0", "--kernel-source", "none", "--reproducers", str(tmp_path))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "conforms, but zswap stored nothing compressed with it" in p.stdout
    assert "nothing stored compressed in 4 of 4 runs" in p.stdout
    p = run(f"{PYDRIVERS}:RefusesEverything", "--with-variant", "mainline", "--page-size", "4K",
            "--budget", "0", "--kernel-source", "none", "--json", "--reproducers", str(tmp_path))
    (d,) = json.loads(p.stdout)["drivers"]
    assert d["variant_runs_nothing_compressed"] == 4
    assert all(run["nothing_compressed"] for run in d["variants"])


# -- bad reproducers -------------------------------------------------------------------------

@pytest.mark.parametrize("damage,message", [
    (lambda d, f: (f / "case.json").write_text("{"), "not JSON"),
    (lambda d, f: (f / "unit-0.page").unlink(), "unit 0's page unit-0.page cannot be read"),
    (lambda d, f: _edit(f, clause="C-NOPE"), "clause 'C-NOPE' is not one of"),
    (lambda d, f: _edit(f, clause=["C-RET"]), "clause ['C-RET'] is not one of"),
    (lambda d, f: _edit(f, units=[{"page": "a\u0000b", "capacity": 1}]), "not a file name"),
    (lambda d, f: _edit(f, baseline=99), "baseline is 99"),
    (lambda d, f: _edit(f, location=None), "field 'location' is missing"),
    (lambda d, f: _edit(f, units=[{"page": "../../etc/passwd", "capacity": 1}]),
     "not a file in the reproducer's folder"),
])
def test_a_damaged_reproducer_is_a_usage_error_naming_it(mode_after_failure, tmp_path, damage,
                                                          message):
    (v,) = mode_after_failure.violations
    folder = tmp_path / "r"
    shutil.copytree(Path(v.reproducer).parent, folder)
    damage(None, folder)
    p = run("--replay", str(folder / "case.json"))
    assert p.returncode == 2, p.stdout + p.stderr
    assert message in p.stderr and str(folder / "case.json") in p.stderr, p.stderr
    assert p.stderr.count("\n") == 1  # one line


def _edit(folder: Path, **changes) -> None:
    doc = json.loads((folder / "case.json").read_text())
    doc.update(changes)
    (folder / "case.json").write_text(json.dumps(doc))


def test_replay_refuses_options_it_would_ignore(mode_after_failure):
    (v,) = mode_after_failure.violations
    p = run("--replay", v.reproducer, "--all-builtin")
    assert p.returncode == 2 and "--replay and --all-builtin do not go together" in p.stderr


# -- findings inside runs of calls, and their history --------------------------------

def test_a_crash_inside_a_run_of_calls_reproduces_after_it(tmp_path):
    r = _only(check_driver(f"{PYDRIVERS}:RaisesOnCall150", reproducers=str(tmp_path),
                           page_sizes=(4096,), kernel_source=None, **FAST))
    assert r.clauses == ["C-CRASH"], r.violations
    (v,) = r.violations
    assert v.reproduces == "after its history" and sum(c.repeat for c in v.history) >= 149
    p = run("--replay", v.reproducer)
    assert p.returncode == 1 and "C-CRASH reproduces" in p.stdout, p.stdout + p.stderr


def test_a_broken_answer_in_the_middle_of_a_run_is_seen_for_any_driver(tmp_path):
    r = _only(check_driver(f"{PYDRIVERS}:TouchesSourceOnCall500", reproducers=None,
                           page_sizes=(4096,), kernel_source=None, **FAST))
    assert r.clauses == ["C-SOURCE"], r.violations
    (v,) = r.violations
    assert v.found_by == "sequence" and v.reproduces == "after its history"


def test_a_finding_keeps_its_history_when_the_log_drops_calls_later(monkeypatch):
    from zswap_spec.driverkit import history
    from zswap_spec.driverkit.clauses import Findings, Violation

    monkeypatch.setattr(history, "MAX_LOG_CALLS", 4)
    log = CallLog()
    calls = [Call("compress", (bytes([i]) * 8,), (8,)) for i in range(10)]
    for c in calls[:3]:
        log.add(c)
    v = Violation("C-DETERMINISM", "x", {}, history_ref=(log, log.mark()), baseline_mark=1)
    found = Findings()
    found.setdefault(v.clause, v)
    for c in calls[3:]:  # the log goes on and drops what the finding needs
        log.add(c)
    assert v.history == calls[:3] and v.baseline == 1 and v.history_complete


def test_canaries_are_written_again_when_the_buffer_moves():
    from zswap_spec.driverkit.targets import parse_target
    from zswap_spec.driverkit.worker import Worker

    t = parse_target("builtin:lz4")
    w = Worker("c", t.location, t.name, 2 * 4096, None)
    page = page_kinds(4096, "lz4")["text"]
    n = len(lz4.block.compress(page, store_size=False))
    first = w.compress([page], [n + 64], "guard")
    assert first["canary_after"] == [None] and first["canary_before"] == [None]
    # same start of the buffer, 64 bytes shorter and 64 canary bytes after it: the
    # bytes the first call wrote there are not the driver's doing in this one
    second = w.compress([page], [n], "canary")
    assert second["canary_after"] == [None] and second["canary_before"] == [None]


def test_replay_on_a_driver_with_smaller_batches_says_so(tmp_path):
    r = _only(check_driver(f"{PYDRIVERS}:TaggedByBatch", reproducers=str(tmp_path),
                           page_sizes=(4096,), kernel_source=None, **FAST))
    v = next(v for v in r.violations if v.clause == "C-INDEPENDENT")
    p = run("--replay", v.reproducer, "builtin:lz4")
    assert p.returncode == 3 and "batches of" in p.stderr and "the driver takes 1" in p.stderr


def test_page_sizes_given_as_text_are_read_as_numbers():
    r = _only(check_driver(f"{PYDRIVERS}:PageSizesAsText", reproducers=None,
                           kernel_source=None, **FAST))
    assert r.error is None and r.conforms and r.page_sizes == [4096]
