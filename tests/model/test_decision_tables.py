"""Every row of the spec's decision tables, for every variant, writeback on
and off, at 4K and 64K pages: the model does what the row says, and its
invariant checks flag exactly the rows that break an invariant.  Then v14's
submission path, which no row reaches."""

import os

import pytest

from outcomes import store_and_describe
from zswap_spec.model.acomp import AcompReq, ScatterEntry, compress_segmented
from zswap_spec.model.cint import E2BIG, EINVAL, EIO, s32, u32
from zswap_spec.model.compressors import algorithm
from zswap_spec.model.scripted import ScriptedBatching, ScriptedSoftware, marker_page
from zswap_spec.model.variants import VARIANTS
from zswap_spec.spec import TABLES, value

ROWS = [("software", r) for r in TABLES["software"]] + [("batching", r) for r in TABLES["batching"]]


def _alg(kind, row, page_size):
    if kind == "software":
        return ScriptedSoftware(value(row["ret"], page_size), value(row["dlen"], page_size))
    units = {1: value(row["entry0"], page_size), 2: value(row.get("entry1", "L"), page_size)}
    return ScriptedBatching(value(row["ret"], page_size), units, default=value("L", page_size))


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("kind,row", ROWS, ids=[r["id"] for _, r in ROWS])
@pytest.mark.parametrize("writeback", [True, False], ids=["wb-on", "wb-off"])
def test_variant_follows_the_decision_table(kind, row, variant, writeback, page_size):
    npages = 1 if kind == "software" else 2
    got, system = store_and_describe(variant, _alg(kind, row, page_size), npages, writeback, page_size)
    expected = row[variant][0 if writeback else 1]
    assert got == expected, f"{row['id']} {variant} writeback={writeback}: {got!r}, spec says {expected!r}"

    # The checker agrees with the words: corrupt <-> INV-RAW, an entry of
    # length P with writeback off <-> INV-WB, no counter or several <-> INV-COUNTERS.
    found = {v.invariant for v in system.violations}
    assert ("INV-RAW" in found) == ("corrupt" in got)
    length_p = {"raw", "corrupt"} & set(got.split("+"))
    assert ("INV-WB" in found) == (not writeback and bool(length_p))
    assert ("INV-COUNTERS" in found) == (got == "reject none" or " x" in got)
    length = value(row.get("dlen", row.get("entry0")), page_size)
    alloc_bad = ((got == "reject alloc_fail" and length == 0)
                 or (got == "reject compress_poor" and page_size < length < 2**31))
    assert ("INV-ALLOC" in found) == alloc_bad
    # Then every page must read back intact unless it was stored corrupt.
    for offset in range(npages):
        system.swap_in(offset)
    lost = {v.offset for v in system.violations if v.invariant == "INV-ROUNDTRIP"}
    corrupt = {i for i, w in enumerate(got.split("+")) if w == "corrupt"}
    assert lost == corrupt
    assert not system.check_global()


def test_mainline_table_is_the_software_rows_mainline_column():
    # M1..M4 summarise mainline's column of S1..S9; check each S row falls
    # under the M row its condition selects.
    m = {r["id"]: (r["writeback_on"], r["writeback_off"]) for r in TABLES["mainline"]}
    for row in TABLES["software"]:
        ret, dlen = value(row["ret"], 4096), value(row["dlen"], 4096) & 0xFFFF_FFFF
        if ret == 0 and 0 < dlen < 4096:
            rule = "M1"
        elif ret == -28:
            rule = "M2"
        elif ret != 0:
            rule = "M3"
        else:
            rule = "M4"
        assert tuple(row["mainline"]) == m[rule], row["id"]


def _length_reads_negative(row) -> bool:
    length = row.get("dlen", row.get("entry0"))
    return row["ret"] == "0" and s32(value(length, 4096)) < 0


def test_explicit_agrees_with_mainline_on_every_row():
    for _, row in ROWS:
        assert row["explicit"] == row["mainline"], row["id"]


def test_uniform_differs_from_mainline_only_on_lengths_that_read_as_errnos():
    differing = [row["id"] for _, row in ROWS if row["uniform"] != row["mainline"]]
    assert differing, "the tables no longer show uniform's encoding gap"
    for _, row in ROWS:
        if row["id"] in differing:
            assert _length_reads_negative(row), row["id"]


# v14's crypto layer hands zswap only the batching driver's submission status
# ("[PATCH v14 16/26]" iaa_comp_submit_acompress_batch and "[PATCH v14 18/26]"
# acomp_do_req_batch_parallel, 2026-01-24): -EINVAL when a unit could not be
# submitted, else 0; a unit failing at completion reaches only its entry and
# req->slen.  Every row of the batching table is a batch whose units were all
# submitted (the scripted driver's default); these pin the other path.

def _submitted(entries, submit_ret, ret=-EINVAL):
    return ScriptedBatching(ret, dict(enumerate(entries, start=1)), default=VALID, submit_ret=submit_ret)


VALID = value("L", 4096)


def _segmented(alg, pages):
    sgl = [ScatterEntry(bytearray(4096), 0) for _ in pages]
    req = AcompReq(b"".join(pages), sgl, dlen=len(pages) * 4096, unit_size=4096)
    return compress_segmented(alg, req), req


def test_v14_returns_the_submission_status_and_drops_the_completion_status():
    pages = [marker_page(1, 4096), marker_page(2, 4096)]
    ret, req = _segmented(_submitted([-E2BIG], submit_ret=0), pages)
    assert ret == 0 and s32(req.dst[0].length) == -E2BIG
    assert req.slen == u32(-EINVAL)  # batch_completed's report, unsigned: `slen < 0` never holds
    ret, req = _segmented(_submitted([-EIO], submit_ret=-EINVAL), pages)
    assert ret == -EINVAL and s32(req.dst[0].length) == -EIO
    # One unit takes the driver's synchronous path: its error is the return code.
    ret, req = _segmented(_submitted([-E2BIG], submit_ret=0), pages[:1])
    assert ret == -E2BIG


def test_iaa_fails_units_at_completion_only_so_v14_returns_0():
    pages = [os.urandom(4096), bytes(4096)]  # the first does not fit, the second does
    ret, req = _segmented(algorithm("deflate-iaa"), pages)
    assert (ret, req.submit_ret) == (0, 0)
    assert s32(req.dst[0].length) == -E2BIG and 0 < s32(req.dst[1].length) < 4096


@pytest.mark.parametrize("entries,submit_ret,on,off", [
    ([-E2BIG], 0, "raw+compressed", "raw+compressed"),  # at completion: row B2's v14 cells
    ([-EIO], -EINVAL, "raw+compressed", "reject compress_fail"),  # at submission (DMA mapping)
    ([-EIO, -EIO], -EINVAL, "raw+raw", "reject compress_fail x2"),
], ids=["completion", "submission", "submission-x2"])
@pytest.mark.parametrize("writeback", [True, False], ids=["wb-on", "wb-off"])
def test_v14_after_a_failed_submission_rejects_as_v13_does(entries, submit_ret, on, off, writeback,
                                                           page_size):
    alg = _submitted(entries, submit_ret)
    got, system = store_and_describe("v14", alg, 2, writeback, page_size)
    assert got == (on if writeback else off)
    if submit_ret:
        assert got == store_and_describe("v13", alg, 2, writeback, page_size)[0]
    found = {v.invariant for v in system.violations}
    assert ("INV-COUNTERS" in found) == got.endswith(" x2")
    assert ("INV-WB" in found) == (not writeback and "raw" in got)
