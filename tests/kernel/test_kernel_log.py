"""The guest's serial log and the comparison with the model, on a recorded
log of Linux 7.3.4 (tests/data/guest-7.3.4-lz4.*): no qemu needed."""

import json
from pathlib import Path

import pytest

from zswap_spec.kernel.compare import compare, predict
from zswap_spec.kernel.logparse import LogError, parse_log
from zswap_spec.kernel.streams import Stream, builtin_stream
from zswap_spec.model.compressors import ALGORITHMS

DATA = Path(__file__).parents[1] / "data"


@pytest.fixture(scope="module")
def recorded():
    meta = json.loads((DATA / "guest-7.3.4-lz4.json").read_text())
    raw = (DATA / "guest-7.3.4-lz4.pages").read_bytes()
    pages = [raw[i:i + 4096] for i in range(0, len(raw), 4096)]
    stream = Stream(pages, [tuple(g) for g in meta["groups"]])
    return meta, stream, (DATA / "guest-7.3.4-lz4.log").read_text()


def test_parse_the_recorded_log(recorded):
    meta, stream, text = recorded
    log = parse_log(text)
    assert log.release == meta["release"] and log.ended and not log.errors and not log.malformed
    assert log.params["compressor"] == "lz4" and log.cgroup["memory.zswap.writeback"] == "1"
    assert list(log.stages) == ["setup"] + [f"after-{g[0]}" for g in meta["groups"]] + ["after-readback"]
    assert log.stages["after-text"].counters["stored_pages"] == 16
    assert log.stages["after-random"].counters["stored_incompressible_pages"] == 8
    assert log.stages["after-text"].memcg["zswapped"] == 16 * 4096  # printed in bytes
    assert all(v == {"ok": c, "bad": 0} for v, (_, _, c) in zip(log.verify.values(), meta["groups"]))


def test_model_predicts_every_decision_counter_of_the_recorded_run(recorded):
    _, stream, text = recorded
    prediction = predict(stream, ALGORITHMS["lz4"], writeback=True)
    found, skipped = compare(parse_log(text), prediction, stream, exact_sizes=False)
    assert found == []
    assert any("pool_total_size" in s for s in skipped)


def test_library_lz4_sizes_are_not_the_kernels(recorded):
    # With user-space lz4 the size-dependent counters differ: compared
    # anyway, they are reported, stage by stage, with their pages.
    _, stream, text = recorded
    prediction = predict(stream, ALGORITHMS["lz4"], writeback=True)
    found, _ = compare(parse_log(text), prediction, stream, exact_sizes=True)
    assert {(d.source, d.name) for d in found} == {("counter", "pool_total_size"), ("memcg", "zswap")}
    assert any(d.stage == "after-text" and d.pages == "text: pages 0-15" for d in found)


def test_a_planted_disagreement_is_reported_with_its_group(recorded):
    _, stream, text = recorded
    lines = text.splitlines()
    stage = None
    for i, line in enumerate(lines):
        if "ZSS stage " in line:
            stage = line.split()[-1]
        if stage == "after-random" and line.endswith("ZSS counter stored_incompressible_pages 8"):
            lines[i] = "ZSS counter stored_incompressible_pages 7"
    planted = "\n".join(lines)
    prediction = predict(stream, ALGORITHMS["lz4"], writeback=True)
    found, _ = compare(parse_log(planted), prediction, stream, exact_sizes=False)
    assert [(d.stage, d.name, d.kernel, d.model) for d in found] == [
        ("after-random", "stored_incompressible_pages", 7, 8)]
    assert found[0].pages == "random: pages 16-23"


def test_a_bad_page_in_the_kernel_is_an_integrity_disagreement(recorded):
    _, stream, text = recorded
    text = text.replace("ZSS verify text ok=16 bad=0", "ZSS verify text ok=15 bad=1\nZSS badpage 3")
    found, _ = compare(parse_log(text), predict(stream, ALGORITHMS["lz4"]), stream, exact_sizes=False)
    assert [(d.source, d.name, d.kernel, d.model) for d in found] == [("integrity", "text", [3], [])]


def test_a_hung_guest_keeps_what_it_printed(recorded):
    _, stream, text = recorded
    cut = text[: text.index("ZSS stage after-halfzero")]
    log = parse_log(cut)
    assert not log.ended and list(log.stages) == ["setup", "after-text", "after-random"]
    found, _ = compare(log, predict(stream, ALGORITHMS["lz4"]), stream, exact_sizes=False)
    assert {d.stage for d in found if d.source == "stage"} == {"after-halfzero", "after-zero",
                                                                "after-readback"}


def test_a_panic_is_kept_and_noise_is_ignored():
    log = parse_log("junk\nZSS begin 7.3\nZSS stage setup\nZSS counter stored_pages 0\n"
                    "Kernel panic - not syncing: boom\nCall Trace:\nZSS bogus 1 2\n")
    assert log.panic[:2] == ["Kernel panic - not syncing: boom", "Call Trace:"]
    assert log.malformed == ["ZSS bogus 1 2"]


def test_a_log_without_records_is_an_error():
    with pytest.raises(LogError, match="no ZSS record"):
        parse_log("SeaBIOS\nBooting from ROM...\n")


def test_builtin_stream_has_every_group_and_exact_fits():
    s = builtin_stream(ALGORITHMS["lz4"])
    names = [g[0] for g in s.groups]
    assert names == ["text", "code", "random", "halfzero", "zero", "exact-fit", "mixed"]
    first, count = dict((g[0], g[1:]) for g in s.groups)["exact-fit"]
    sizes = sorted(len(ALGORITHMS["lz4"].raw_compress(p)) for p in s.pages[first:first + count])
    assert sizes == [4095, 4096, 4097]
    assert sum(g[2] for g in s.groups) == len(s.pages)
