"""Replay streams its input (issue 13): files in passes, a chunk at a time, the
same results as pages in memory; streams (pipes, FIFOs, /dev/zero) in windows,
in constant memory; an interrupt prints what was done; bad inputs are one line,
exit 2; a cut-short core is refused before it is loaded."""

import errno
import json
import os
import random
import shutil
import signal
import stat
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from zswap_spec.pool import core_available
from zswap_spec.replay import RunConfig, replay_pages
from zswap_spec.replay import source as source_mod
from zswap_spec.replay import stream as stream_mod
from zswap_spec.replay.sample import boundary_page
from zswap_spec.replay.source import SourceError, open_source

SCRIPT = Path(sys.executable).with_name("zswap-spec")
CMD = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "zswap_spec"]
HAS_CORE = core_available()[0]
IMPLS = ["model"] + (["core"] if HAS_CORE else [])
needs_core = pytest.mark.skipif(not HAS_CORE, reason="the optimized core is not built")

# Peak RSS of a command, from a parent that runs nothing else.
RSS = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:]); "
       "sys.stderr.write(f'\\nRSS {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss} "
       "RC {p.returncode}\\n')")


def run(*args, timeout=300, **kw):
    return subprocess.run(CMD + list(args), capture_output=True, text=True, timeout=timeout, **kw)


def peak_rss(args, timeout=600) -> tuple[int, int, str]:
    """(peak RSS in bytes, exit code, stdout) of `zswap-spec args`."""
    p = subprocess.run([sys.executable, "-c", RSS] + CMD + list(args), capture_output=True,
                       text=True, timeout=timeout)
    last = p.stderr.strip().splitlines()[-1].split()
    return int(last[1]) * 1024, int(last[3]), p.stdout


def mixed_pages(n: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    text = Path(os.__file__).read_bytes()
    exact = boundary_page("lz4", 4096)
    out = []
    for i in range(n):
        k = i % 5
        if k == 0:
            out.append(bytes(4096))
        elif k == 1:
            out.append(rng.randbytes(4096))
        elif k == 2:
            at = (i * 977) % (len(text) - 4096)
            out.append(text[at:at + 4096])
        elif k == 3:
            out.append(text[:2048] + rng.randbytes(2048))
        else:
            out.append(exact)
    return out


def same(a, b):
    ja, jb = a.to_json(examples=10 ** 6), b.to_json(examples=10 ** 6)
    ja.pop("seconds"), jb.pop("seconds")
    assert ja == jb


# -- 1. files in passes: the results of the pages in memory ---------------------------------

@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("variant,writeback,folio", [("mainline", True, 1), ("v13", True, 8),
                                                     ("v14", False, 4)])
def test_a_file_read_in_small_chunks_gives_the_results_of_its_pages_in_memory(
        tmp_path, monkeypatch, impl, variant, writeback, folio):
    pages = mixed_pages(203)
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"".join(pages[:100]) + b"x")  # padded: a page of its own
    b.write_bytes(b"".join(pages[100:]))
    whole = pages[:100] + [b"x" + bytes(4095)] + pages[100:]
    cfg = RunConfig(variant, "lz4", writeback, folio)
    monkeypatch.setattr(source_mod, "CHUNK_BYTES", 3 * 4096)  # a folio or three pages a chunk
    notes = []
    src = open_source([a, b], 4096, notes.append)
    assert src.seekable and src.nr_pages == 204 and "zero-padded" in notes[0]
    streamed = replay_pages(src, cfg, impl=impl)
    in_memory = replay_pages(whole, cfg, impl=impl)
    same(streamed, in_memory)
    assert streamed.pages == 204 and (streamed.violations or variant == "mainline")


@pytest.mark.skipif(not core_available(), reason="the optimized core maps chunks")
@pytest.mark.parametrize("page_size", [4096, 512])
def test_mapped_chunks_are_the_bytes_a_copy_reads(tmp_path, monkeypatch, page_size):
    """Whole chunks inside a regular file are mapped (read-only views), the rest copied:
    files whose ends are not page-aligned, chunks that span two files, mapping offsets
    that are not the system page's; every pass gives the concatenation, padded."""
    rng = random.Random(page_size)
    sizes = [7 * page_size + 100, 12 * page_size, 3 * page_size - 1, 40 * page_size + 7]
    paths, whole = [], b""
    for i, size in enumerate(sizes):
        data = rng.randbytes(size)
        (tmp_path / f"{i}.bin").write_bytes(data)
        paths.append(tmp_path / f"{i}.bin")
        whole += data + bytes(-size % page_size)
    src = open_source(paths, page_size)
    for step, buffers in ((4, 1), (5, 2), (1, 1)):
        got, mapped = [], 0
        for first, chunk in src.chunks(step, buffers):
            assert first * page_size == sum(len(c) for c in got)
            mapped += chunk.readonly
            got.append(bytes(chunk))
        assert b"".join(got) == whole
        assert mapped > 0
    monkeypatch.setattr(source_mod, "_mapper", lambda: None)  # no core: every chunk copied
    copied = list(src.chunks(5, 2))
    assert not any(c.readonly for _, c in copied)

    def full(*args):  # the process's mappings used up (EMFILE): copies from there on
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(source_mod, "_mapper", lambda: full)
    got = [(first, bytes(c), c.readonly) for first, c in src.chunks(4, 1)]
    assert b"".join(c for _, c, _ in got) == whole and not any(r for _, _, r in got)


@pytest.mark.skipif(not core_available(), reason="the optimized core maps chunks")
def test_a_file_cut_short_while_mapped_reads_zeros_and_ends_the_pass(tmp_path):
    """Reading a mapping past the file's new end raises SIGBUS; the core's handler maps
    zeros there and the pass ends with the input error.  In a process of its own: were
    the handler missing, the process would die of the signal (checked below)."""
    f = tmp_path / "cut.bin"
    f.write_bytes(random.Random(3).randbytes(64 * 4096))
    script = f"""
import os, sys
from zswap_spec.replay.source import open_source, SourceError
src = open_source([{str(f)!r}], 4096)
chunks = src.chunks(16)
first, chunk = next(chunks)
assert chunk.readonly, "the chunk was copied, not mapped"
os.truncate({str(f)!r}, 5 * 4096)
data = bytes(chunk)  # pages 5 to 15 are past the end now
print(data[5 * 4096:].count(0) == 11 * 4096, data[:5 * 4096] == open({str(f)!r}, "rb").read())
try:
    next(chunks)
except SourceError as e:
    print(e)
"""
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, (p.returncode, p.stderr)
    lines = p.stdout.splitlines()
    assert lines[0] == "True True"
    assert lines[1] == f"{f}: has 20480 bytes, 262144 when replay began; replay a copy that " \
                       "does not change"


@pytest.mark.skipif(not core_available(), reason="the optimized core maps chunks")
def test_a_file_cut_short_under_a_chunk_read_ahead_ends_the_pass(tmp_path):
    """With two threads a pass's last chunks are used after the source's own last look:
    the pass's end looks again (`check_pass`), and `_compressed` does so itself."""
    from zswap_spec.pool.core_backend import SharedCompression

    f = tmp_path / "cut.bin"
    for compressed in (False, True):
        f.write_bytes(random.Random(5).randbytes(8 * 4096))
        src = open_source([f], 4096)
        chunks = (stream_mod._compressed(src, 4, [{"lz4": SharedCompression("lz4", 4096, 2)},
                                                  {"lz4": SharedCompression("lz4", 4096, 2)}])
                  if compressed else
                  ((first, chunk, None) for first, chunk in stream_mod._read_ahead(src, 4, True)))
        seen = []
        with pytest.raises(SourceError, match="shorter than when replay began|has 4096 bytes"):
            for first, chunk, _ in chunks:
                if first == 4:  # the last chunk, the source's generator already ended
                    os.truncate(f, 4096)
                seen.append(bytes(chunk))
            if not compressed:  # (`_compressed` looks at its end by itself)
                src.check_pass()
        assert seen and seen[-1].count(0) == len(seen[-1])  # what was read: zeros, no SIGBUS


def test_a_file_that_shrinks_between_passes_is_an_input_error(tmp_path):
    f = tmp_path / "f.bin"
    f.write_bytes(bytes(4096) * 4)
    src = open_source([f], 4096)
    assert sum(len(c) for _, c in src.chunks(2)) == 4 * 4096
    f.write_bytes(bytes(4096))
    with pytest.raises(SourceError, match="has 4096 bytes, 16384 when replay began; replay a copy"):
        list(src.chunks(2))


@needs_core
def test_peak_memory_is_the_pool_and_a_chunk_not_the_input(tmp_path):
    """Before: the pages as a list, then joined: twice the input on top of the pool."""
    small, big = tmp_path / "small.bin", tmp_path / "big.bin"
    small.write_bytes(b"a" * 4096)
    text = Path(os.__file__).read_bytes()[:4000]
    with open(big, "wb") as f:  # 128 MiB of text pages that compress well
        for i in range(128 * 256):
            f.write(b"%08d" % i + text + bytes(88))
    base, rc, _ = peak_rss(["replay", str(small), "--variant", "mainline", "--impl", "core"])
    assert rc == 0
    peak, rc, out = peak_rss(["replay", str(big), "--variant", "mainline", "--impl", "core",
                              "--json"])
    assert rc == 0
    pool = json.loads(out)["runs"][0]["pool_bytes"]
    assert peak - base <= pool + 64 * 2 ** 20, (peak, base, pool)


# -- 2. streams: windows, constant memory, an interrupt prints what was done -------------

def _pipe_source(data: bytes, page_size=4096):
    r, w = os.pipe()

    def write():
        with open(w, "wb") as f:
            f.write(data)

    threading.Thread(target=write, daemon=True).start()
    return open_source([f"/proc/self/fd/{r}"], page_size), r


@pytest.mark.parametrize("impl", IMPLS)
def test_a_pipe_is_replayed_in_windows_with_the_counts_of_the_file(tmp_path, monkeypatch, impl):
    pages = mixed_pages(250)
    data = b"".join(pages)
    f = tmp_path / "f.bin"
    f.write_bytes(data)
    configs = [RunConfig(v, "lz4", True, 2) for v in ("mainline", "v13")]
    files = stream_mod.replay_source(open_source([f], 4096), configs, impl)
    monkeypatch.setattr(stream_mod, "WINDOW_BYTES", 64 * 4096)  # 4 windows
    src, fd = _pipe_source(data)
    try:
        assert not src.seekable and src.nr_pages is None
        streams = stream_mod.replay_source(src, configs, impl)
    finally:
        os.close(fd)
    for s, f_ in zip(streams, files):
        js, jf = s.to_json(mainline=streams[0]), f_.to_json(mainline=files[0])
        for key in ("pages", "zero_filled", "stored_compressed", "stored_raw", "rejected",
                    "integrity_violations", "violations", "vm_events",
                    "differs_from_mainline"):
            assert js.get(key) == jf.get(key), key
        assert js["counters"]["stored_pages"] == jf["counters"]["stored_pages"]
        assert js["memory_stat"]["zswapped"] == jf["memory_stat"]["zswapped"]
        assert js["counters_after_load"]["stored_pages"] == 0 and s.outcomes == ""
    assert streams[1].integrity_violations == 50  # the exact-fit pages, every window


def _stop_after(args, seconds: float, sig=signal.SIGINT):
    p = subprocess.Popen([sys.executable, "-c", RSS] + CMD + list(args), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(seconds)
    # The parent waits; the command is its only child.
    child = int(subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True,
                               text=True).stdout.split()[0])
    os.kill(child, sig)
    out, err = p.communicate(timeout=120)
    last = err.strip().splitlines()[-1].split()
    return int(last[1]) * 1024, int(last[3]), out, err


@needs_core
def test_dev_zero_runs_in_constant_memory_and_an_interrupt_prints_what_was_done():
    """Before: /dev/zero was read into memory whole, growing without end."""
    rss, rc, out, err = _stop_after(["replay", "/dev/zero", "--variant", "mainline", "--impl",
                                     "core", "--json"], 6)
    assert rc == 130, err
    assert "interrupted" in err
    doc = json.loads(out)
    run_ = doc["runs"][0]
    assert doc["interrupted"] is True and "whole windows" in run_["stopped"]
    assert run_["pages"] > 16384 and run_["zero_filled"] == run_["pages"]
    assert rss < 400 * 2 ** 20, rss


@needs_core
def test_a_sparse_100_gb_file_streams_and_sigterm_prints_the_run_so_far(tmp_path):
    """Before: a MemoryError traceback (the file was read whole)."""
    f = tmp_path / "sparse.img"
    with open(f, "wb") as fh:
        fh.truncate(100 * 2 ** 30)
    rss, rc, out, err = _stop_after(["replay", str(f), "--variant", "mainline"], 6,
                                    signal.SIGTERM)
    assert rc == 130, err
    assert "stopped during the swap-out after" in out and "mainline" in out
    assert rss < 400 * 2 ** 20, rss


def test_an_interrupt_in_a_file_run_keeps_the_runs_done(tmp_path, monkeypatch):
    f = tmp_path / "f.bin"
    f.write_bytes(b"".join(mixed_pages(40)))
    configs = [RunConfig(v, "lz4") for v in ("mainline", "v13", "v14")]
    from zswap_spec.replay import on_model

    calls = []
    real = on_model.ModelRun.load

    def load(self, first, chunk):
        if self.config.variant == "v13":
            calls.append(first)
            if len(calls) == 2:
                raise KeyboardInterrupt
        return real(self, first, chunk)

    monkeypatch.setattr(source_mod, "CHUNK_BYTES", 8 * 4096)
    monkeypatch.setattr(on_model.ModelRun, "load", load)
    with pytest.raises(stream_mod.Stopped) as e:
        stream_mod.replay_source(open_source([f], 4096), configs, "model")
    done = e.value.results
    assert [r.config.variant for r in done] == ["mainline", "v13"]
    assert done[0].stopped is None and done[0].pages == 40
    assert done[1].stopped == "stopped during the read-back after 8 of 40 pages"
    assert isinstance(e.value, KeyboardInterrupt)


# -- 4. inputs that cannot serve: one line, exit 2, no hang ----------------------------

def test_a_300_character_name_is_an_input_error_naming_it(tmp_path):
    name = str(tmp_path / ("n" * 300))
    p = run("replay", name)
    assert p.returncode == 2, p.stderr
    assert p.stderr.startswith(f"zswap-spec: error: {name}: the name is too long")
    assert "give a shorter path" in p.stderr and len(p.stderr.splitlines()) == 1


@pytest.mark.skipif(shutil.which("setpriv") is None and os.geteuid() == 0,
                    reason="root reads everything; setpriv drops that")
def test_unreadable_files_and_folders_are_input_errors(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "f.bin").write_bytes(bytes(4096))
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"x" * 4096)
    os.chmod(secret, 0)
    os.chmod(locked, 0)
    # Root without the capabilities that skip permission checks: as a user.
    drop = (["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--inh-caps",
             "-dac_override,-dac_read_search", "--"] if os.geteuid() == 0 else [])
    try:
        for path, words in [(locked / "f.bin", "cannot be read (Permission denied)"),
                            (secret, "cannot be read (Permission denied)"),
                            (locked, "is a directory")]:
            p = subprocess.run(drop + CMD + ["replay", str(path)], capture_output=True,
                               text=True, timeout=300)
            assert p.returncode == 2, p.stderr
            assert p.stderr.startswith(f"zswap-spec: error: {path}: {words}"), p.stderr
            assert "check its permissions" in p.stderr or words == "is a directory"
    finally:
        os.chmod(locked, 0o755)


def test_a_fifo_without_a_writer_is_refused_after_a_wait(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from zswap_spec.cli.replay import replay

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    monkeypatch.setattr(source_mod, "FIFO_WAIT_SECONDS", 0.3)
    started = time.monotonic()
    r = CliRunner().invoke(replay, [str(fifo), "--variant", "mainline", "--impl", "model"])
    assert time.monotonic() - started < 5
    assert r.exit_code == 2
    assert f"{fifo}: a FIFO or pipe with no writer, or empty (nothing in 0.3 s); start the program" in r.output


def test_a_fifo_whose_writer_comes_late_is_replayed(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    data = b"".join(mixed_pages(10))

    def write():
        time.sleep(0.5)
        with open(fifo, "wb") as f:
            f.write(data)

    threading.Thread(target=write, daemon=True).start()
    (r,) = stream_mod.replay_source(open_source([fifo], 4096), [RunConfig("mainline", "lz4")],
                                    "model")
    assert r.pages == 10 and r.count("zero") == 2 and not r.violations


def test_an_empty_stream_is_an_input_error(monkeypatch):
    src = open_source(["/dev/null"], 4096)
    with pytest.raises(SourceError, match="^/dev/null: gave no bytes; give a stream with at least one"):
        stream_mod.replay_source(src, [RunConfig("mainline", "lz4")], "model")
    r, w = os.pipe()
    os.close(w)  # a pipe closed empty looks like one with no writer yet
    monkeypatch.setattr(source_mod, "FIFO_WAIT_SECONDS", 0.2)
    try:
        src = open_source([f"/proc/self/fd/{r}"], 4096)
        with pytest.raises(SourceError, match="a FIFO or pipe with no writer, or empty"):
            stream_mod.replay_source(src, [RunConfig("mainline", "lz4")], "model")
    finally:
        os.close(r)


# -- 5. a cut-short core: refused before it is loaded --------------------------------------

def _load_end(data: bytes) -> int:
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    ends = []
    for i in range(phnum):
        p_type, _, off, _, _, filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        if p_type == 1:
            ends.append(off + filesz)
    return max(ends)


def _extension() -> Path:
    import zswap_spec.optimized_core as oc

    return Path(oc.__file__).parent.joinpath(
        next(p for p in os.listdir(Path(oc.__file__).parent) if p.startswith("_core") and p.endswith(".so")))


@needs_core
def test_elf_damage_finds_a_cut_short_shared_object(tmp_path):
    from zswap_spec.optimized_core import elf_damage

    real = _extension()
    data = real.read_bytes()
    assert elf_damage(str(real)) is None
    for size, words in [(len(data) // 2, "section headers end"),
                        (_load_end(data) - 4096, "a loaded segment ends at byte")]:
        cut = tmp_path / f"cut{size}.so"
        cut.write_bytes(data[:size])
        assert words in elf_damage(str(cut))
    (tmp_path / "text.so").write_bytes(b"not elf")
    assert "not an ELF shared object" in elf_damage(str(tmp_path / "text.so"))


@needs_core
@pytest.mark.parametrize("impl", ["core", "auto"])
def test_a_cut_short_core_is_a_clean_error_or_the_model(tmp_path, impl):
    """Before: SIGBUS (exit -7) on the first touch of a page past the file's end."""
    data = _extension().read_bytes()
    cut = tmp_path / "_core.so"
    cut.write_bytes(data[:_load_end(data) - 4096 * 8])
    pages = tmp_path / "p.bin"
    pages.write_bytes(b"".join(mixed_pages(12)))
    code = ("import sys, zswap_spec.optimized_core as oc; oc._EXTENSION_PATH = sys.argv[1]; "
            "from zswap_spec.cli import main; main(sys.argv[2:])")
    p = subprocess.run([sys.executable, "-c", code, str(cut), "replay", str(pages), "--variant",
                        "mainline", "--impl", impl], capture_output=True, text=True, timeout=300)
    if impl == "core":
        assert p.returncode == 2, p.stderr
        assert p.stderr.startswith(f"zswap-spec: error: the optimized core is not available: "
                                   f"{cut}: is damaged (")
        assert "rebuild it with `pip install -e .`" in p.stderr
    else:
        assert p.returncode == 0, p.stderr
        assert f"note: the optimized core is not available ({cut}: is damaged" in p.stderr
        assert "the model serves" in p.stderr and "no invariant broken" in p.stdout
