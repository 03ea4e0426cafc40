"""The script guest (kernel/session.py and its agent, kernel/agent.c).

Unmarked tests run on the host alone: the protocol's records parsed, the
agent's page generator (compiled and run here) against script.py's
`page_bytes` for every content kind, its folio layout codes, the
initramfs's contents.  Tests marked `kernel` boot Debian's 7.3 kernel
(cached by the kernel checks; skipped without it or without qemu): a reset
leaves nothing behind, a root task's stores in the root's memory.stat, every
kind and mTHP size round-trips, a script's own lines run, a dead guest
raises GuestDied, and the speed of simple steps.
"""

from __future__ import annotations

import gzip
import random
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from zswap_spec.kernel.guest import GuestError
from zswap_spec.kernel.script import (KINDS, Corpus, Step, agent_line, page_bytes,
                                      parse_script)
from zswap_spec.kernel.session import (GuestDied, GuestSession, agent_program,
                                       build_session_initramfs, layout_sizes, parse_records)
from zswap_spec.kernel.tree import KernelError, KernelTree

PAGE = 4096
NO_GCC = pytest.mark.skipif(shutil.which("gcc") is None, reason="compiling the agent needs gcc")


def small_corpus(tmp_path: Path) -> tuple[Corpus, Path]:
    """Pages of every section a script can name (`fit` pages are not real fits
    here: only the bytes matter), and a file of 3 pages and a bit."""
    rnd = random.Random(5)

    def page(alphabet: bytes) -> bytes:
        return bytes(rnd.choice(alphabet) for _ in range(PAGE))

    text, code, noise = b"etaoin shrdlu", bytes(range(0, 256, 8)), bytes(range(256))
    corpus = Corpus({"text": [page(text) for _ in range(5)], "code": [page(code) for _ in range(3)],
                     "fit-1:lz4": [page(noise)], "fit:lz4": [page(noise)],
                     "fit+1:lz4": [page(noise)]})
    data = tmp_path / "data.bin"
    data.write_bytes(bytes(rnd.randrange(256) for _ in range(3 * PAGE + 100)))  # padded
    corpus.add_file(data)
    return corpus, data


def store_step(kind: str, seed: int, pages: int = 1, folio_pages: int = 1,
               region: str = "r") -> Step:
    args = {"region": region, "pages": pages, "folio_pages": folio_pages, "content": kind,
            "seed": seed}
    if kind.startswith("fit"):
        args["fit_for"] = "lz4"
    if kind == "file":
        args["file"] = "data.bin"
    return Step("store", args)


# ---- host only ------------------------------------------------------------------------

def test_records_of_every_kind_are_parsed():
    rec = parse_records([
        "counter stored_pages 16", "counter pool_total_size 90112", "vmstat zswpout 16",
        "memcg / zswap 0", "memcg /a/b zswpout 16",
        "region r pages=16 swapped=12 resident=4 bad=1 layout=3x4,4x1",
        "worker queued=3 ended=2", "ret -11", "error write 0 to /x: Device busy",
    ])
    assert rec == {
        "counter": {"stored_pages": 16, "pool_total_size": 90112},
        "vmstat": {"zswpout": 16},
        "memcg": {"/": {"zswap": 0}, "/a/b": {"zswpout": 16}},
        "regions": {"r": {"pages": 16, "swapped": 12, "resident": 4, "bad": 1,
                          "layout": "3x4,4x1"}},
        "worker": {"queued": 3, "ended": 2}, "ret": -11,
        "errors": ["write 0 to /x: Device busy"]}


def test_a_line_outside_the_protocol_is_reported_not_dropped():
    rec = parse_records(["counter stored_pages x", "region r pages=1", "hello", "ret"])
    assert len(rec["errors"]) == 4 and all("unparsed record" in e for e in rec["errors"])
    assert rec["counter"] == {} and rec["regions"] == {} and rec["ret"] == 0


def test_layout_codes_decode_to_folio_sizes():
    assert layout_sizes("16x4") == [4] * 16
    assert layout_sizes("3x4,4x1") == [4, 4, 4, 1, 1, 1, 1]
    assert layout_sizes("-") == []
    for bad in ("", "4", "3x4,...", "x4"):
        with pytest.raises(ValueError, match="COUNTxSIZE"):
            layout_sizes(bad)


@NO_GCC
def test_the_agents_layout_code_is_the_run_length_of_the_sizes():
    rnd = random.Random(3)
    cases = [[], [1], [512, 512], [4, 4, 4, 1, 1, 1, 1], [16, 1, 16, 16, 2]]
    cases += [[rnd.choice((1, 4, 16)) for _ in range(rnd.randrange(1, 40))] for _ in range(20)]
    for sizes in cases:
        out = subprocess.run([str(agent_program()), "--layout", *map(str, sizes)],
                             capture_output=True, text=True, check=True).stdout.strip()
        assert layout_sizes(out) == sizes, (sizes, out)
        assert "," not in out or all(a != b for a, b in zip(out.split(","), out.split(",")[1:]))


@NO_GCC
@pytest.mark.parametrize("kind", KINDS)
def test_the_agent_writes_the_bytes_of_page_bytes_for_every_kind(kind, tmp_path):
    corpus, data = small_corpus(tmp_path)
    (tmp_path / "corpus.bin").write_bytes(corpus.blob())
    (tmp_path / "corpus.idx").write_text(corpus.index())
    for seed in (0, 7, 2**32 - 1):
        step = store_step(kind, seed, pages=12)
        # The agent gets KIND SEED SECTION as agent_line writes them.
        words = agent_line(step, tmp_path).split()
        assert words[:4] == ["store", "r", "12", "1"]
        count = 11  # more pages than any section has: the index wraps
        got = subprocess.run([str(agent_program()), "--gen", *words[4:7], "3", str(tmp_path),
                              str(count)], capture_output=True, check=True).stdout
        want = b"".join(page_bytes(corpus, step, i, tmp_path) for i in range(3, 3 + count))
        assert len(got) == len(want) == count * PAGE
        assert got == want, (kind, seed)


@NO_GCC
def test_the_agent_refuses_a_section_the_corpus_lacks(tmp_path):
    corpus, _ = small_corpus(tmp_path)
    (tmp_path / "corpus.bin").write_bytes(corpus.blob())
    (tmp_path / "corpus.idx").write_text(corpus.index())
    p = subprocess.run([str(agent_program()), "--gen", "fit", "0", "fit:zstd", "0",
                        str(tmp_path)], capture_output=True, text=True)
    assert p.returncode == 1 and "no such corpus section" in p.stderr and not p.stdout


def _cpio_names(path: Path) -> dict[str, bytes]:
    raw, out, pos = gzip.decompress(path.read_bytes()), {}, 0
    while True:
        namesize, filesize = int(raw[pos + 94:pos + 102], 16), int(raw[pos + 54:pos + 62], 16)
        name = raw[pos + 110:pos + 110 + namesize - 1].decode()
        pos = (pos + 110 + namesize + 3) & ~3
        if name == "TRAILER!!!":
            return out
        out[name] = raw[pos:pos + filesize]
        pos = (pos + filesize + 3) & ~3


@NO_GCC
def test_the_initramfs_holds_the_agent_the_corpus_and_an_init_that_starts_it(tmp_path):
    if not Path("/bin/busybox").is_file():
        pytest.skip("needs busybox-static")
    built_in = {k: "y" for k in ("CONFIG_ZSWAP", "CONFIG_DEBUG_FS", "CONFIG_MEMCG",
                                 "CONFIG_BLK_DEV_RAM", "CONFIG_CRYPTO_LZ4", "CONFIG_CRYPTO_ZSTD")}
    tree = KernelTree("test", tmp_path / "bzImage", "7.9.0-test", None, built_in)
    corpus, _ = small_corpus(tmp_path)
    initrd, append = build_session_initramfs(tree, corpus=corpus, compressors=["zstd", "lz4"],
                                             workdir=tmp_path / "work")
    files = _cpio_names(initrd)
    assert files["corpus.bin"] == corpus.blob()
    assert files["corpus.idx"].decode() == corpus.index()
    assert files["bin/agent"] == agent_program().read_bytes()
    init = files["init"].decode()
    for needed in ("mount -t tracefs", "mount -t cgroup2", "mount -t debugfs",
                   "swapon /dev/ram0", "echo zstd > $P/compressor", "echo Y > $P/enabled",
                   "echo N > $P/shrinker_enabled", "exec /bin/agent /dev/ttyS1 /"):
        assert needed in init
    assert append == "brd.rd_nr=1 brd.rd_size=65536"  # built-in brd takes kernel arguments


def test_a_session_refuses_misuse_before_booting(tmp_path):
    tree = KernelTree("test", tmp_path / "bzImage", "7.9.0-test", None, {})
    s = GuestSession(tree, corpus=Corpus({}), compressors=["lz4"], workdir=tmp_path)
    with pytest.raises(ValueError, match="loaded only lz4"):
        s.reset("zstd")
    with pytest.raises(GuestError, match="no guest is running"):
        s.step("wait")
    with pytest.raises(ValueError, match="one non-empty line"):
        s.step("wait\nquit")
    s.close()  # closing a session that never started is harmless
    with pytest.raises(ValueError, match="memory_mib"):
        GuestSession(tree, corpus=Corpus({}), compressors=["lz4"], workdir=tmp_path,
                     memory_mib=64)


# ---- on a real kernel --------------------------------------------------------------------

def _tree() -> KernelTree:
    missing = [t for t in ("qemu-system-x86_64", "gcc", "depmod") if shutil.which(t) is None]
    if missing or not Path("/bin/busybox").is_file():
        pytest.skip(f"the script guest needs {', '.join(missing) or 'busybox-static'}")
    from zswap_spec.kernel.fetch import resolve_kernel

    try:
        return resolve_kernel("debian:7.3")
    except KernelError as e:
        pytest.skip(f"no Debian 7.3 kernel in the cache and none to fetch: {e}")


@pytest.fixture(scope="module")
def guest(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("guest")
    corpus, _ = small_corpus(tmp)
    with GuestSession(_tree(), corpus=corpus, compressors=["lz4", "zstd"],
                      workdir=tmp / "work") as session:
        session.test_base = tmp  # where the corpus's file section came from
        yield session


def run(session: GuestSession, lines: list[str]) -> dict:
    for line in lines:
        rec = session.step(line)
        assert rec["errors"] == [], (line, rec["errors"])
    return rec


@pytest.mark.kernel
def test_a_reset_leaves_no_region_cgroup_or_pool_behind(guest):
    assert guest.release.startswith("7.3") and guest.totalram_pages > 40000
    guest.reset("lz4")
    rec = run(guest, ["mkcg /a", "mkcg /a/b", "mkcg /a/c", "mkcg /a/b/d", "enter /a/b/d",
                      "store t 16 1 text 0 text", "store m 64 16 mostly-random 1 -",
                      "enter /a/c", "cgset /a/c memory.zswap.writeback 0",
                      "store r 8 1 random 2 -", "store h 32 4 halfzero 3 text", "flush"])
    assert rec["counter"]["stored_pages"] == 16 + 64 + 32 and rec["counter"]["pool_total_size"]
    assert rec["memcg"]["/a"]["zswpout"] == 112 and rec["memcg"]["/"]["zswap"] > 0
    assert set(rec["memcg"]) == {"/", "/a", "/a/b", "/a/c", "/a/b/d"}
    after = guest.reset("zstd")
    assert after["errors"] == [] and after["ret"] == 0
    assert after["counter"]["stored_pages"] == 0 and after["counter"]["pool_total_size"] == 0
    assert set(after["memcg"]) == {"/"} and after["memcg"]["/"]["zswap"] == 0
    assert after["memcg"]["/"]["zswapped"] == 0 and after["regions"] == {}
    assert after["worker"]["queued"] == after["worker"]["ended"]
    # The cgroups are really gone: making them again succeeds.
    assert guest.step("mkcg /a")["ret"] == 0 and guest.step("mkcg /a/b")["ret"] == 0
    # ... and a task cannot enter an inner cgroup (cgroup v2: no internal processes).
    assert guest.step("enter /a")["ret"] == -16  # EBUSY


@pytest.mark.kernel
def test_a_root_tasks_stores_count_as_root_events_but_charge_no_bytes(guest):
    # 7.3: the root objcg is never charged; its events count once kmem
    # accounting is on, which the guest's /init ensures at every boot.
    before = guest.reset("lz4")["memcg"]["/"]
    rec = run(guest, ["store a 16 1 text 0 text", "flush"])
    assert rec["counter"]["stored_pages"] == 16 and rec["memcg"]["/"]["zswap"] == 0
    assert rec["memcg"]["/"]["zswpout"] - before["zswpout"] == 16
    rec = run(guest, ["load a", "flush"])
    assert rec["memcg"]["/"]["zswpin"] - before["zswpin"] == 16


@pytest.mark.kernel
def test_every_kind_and_folio_size_goes_out_and_comes_back_intact(guest):
    guest.reset("lz4")
    run(guest, ["mkcg /w", "enter /w"])
    for n, kind in enumerate(KINDS):
        for fp in (1, 16, 512):
            name = f"k{n}f{fp}"
            rec = run(guest, [agent_line(store_step(kind, n, 1024, fp, name), guest.test_base)])
            region = rec["regions"][name]
            assert region["swapped"] == 1024 and region["resident"] == 0, (kind, fp, region)
            sizes = layout_sizes(region["layout"])
            assert sum(sizes) == 1024 and max(sizes) <= fp
            if fp < 512:  # a PMD folio can fall back when memory is fragmented
                assert sizes == [fp] * (1024 // fp), (kind, fp, region)
            region = run(guest, [f"load {name}"])["regions"][name]
            assert region["bad"] == 0 and region["resident"] == 1024, (kind, fp, region)
            run(guest, [f"free {name}"])


@pytest.mark.kernel
def test_a_scripts_own_lines_run_without_error(guest, tmp_path):
    script = parse_script("""
format = "zswap-spec-script/1"
[start]
compressor = "lz4"
[[step]]
op = "mkcg"
path = "a"
[[step]]
op = "cgset"
path = "a"
file = "memory.zswap.max"
value = 40000
[[step]]
op = "enter"
path = "a"
[[step]]
op = "param"
name = "max_pool_percent"
value = 5
[[step]]
op = "store"
region = "x"
pages = 64
folio_pages = 4
content = "text"
[[step]]
op = "redirty"
region = "x"
content = "code"
seed = 2
[[step]]
op = "store"
region = "x"
[[step]]
op = "reclaim"
path = "a"
bytes = 4096
[[step]]
op = "wait"
[[step]]
op = "load"
region = "x"
[[step]]
op = "settle"
""", "t.toml", base=tmp_path)
    guest.reset(script.compressor)
    for step in script.steps:
        rec = guest.step(agent_line(step, tmp_path))
        assert rec["errors"] == [], (step, rec["errors"])
    assert rec["regions"]["x"]["bad"] == 0 and rec["counter"]["written_back_pages"] > 0
    assert rec["memcg"]["/a"]["zswpwb"] == rec["counter"]["written_back_pages"]


@pytest.mark.kernel
def test_simple_steps_run_at_least_twenty_a_second(guest):
    guest.reset("lz4")
    run(guest, ["mkcg /s", "enter /s"])
    started, steps = time.monotonic(), 0
    for i in range(40):
        run(guest, [f"store s{i} 16 1 text {i} text", f"load s{i}"])
        steps += 2
    rate = steps / (time.monotonic() - started)
    print(f"\nboot {guest.last_boot_seconds:.1f} s; {rate:.0f} steps/s (store of 16 pages, load)")
    assert rate >= 20


@pytest.mark.kernel
def test_a_guest_that_hangs_or_dies_raises_guest_died_and_can_boot_again(tmp_path):
    corpus, _ = small_corpus(tmp_path)
    session = GuestSession(_tree(), corpus=corpus, compressors=["lz4"], workdir=tmp_path / "w",
                           command_timeout=1.0)
    try:
        session.start()
        session.reset("lz4")
        with pytest.raises(GuestDied, match=r"running `settle`: no answer within 1 s.*serial-1\.log"):
            session.step("settle")  # 2.1 s: longer than the timeout
        assert not session.running
        session.start()
        assert session.boots == 2 and session.boot_seconds > session.last_boot_seconds > 0
        session._proc.kill()  # the guest dies between commands
        with pytest.raises(GuestDied, match=r"running `wait`.*serial-2\.log"):
            session.step("wait")
        assert not session.running
    finally:
        session.close()
    assert session._proc is None
