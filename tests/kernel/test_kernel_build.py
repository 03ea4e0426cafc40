"""`kernel-build`: a kernel built from source with patches into the cache.

Without a marker, on a small fake source tree whose Makefile stands in for
the kernel's (it writes a .config, prints kbuild's quiet lines, makes a
"bzImage"): the patch paths (a failing hunk named by file, hunk and mail, an
mbox series applied in order and mail by mail, no fuzz, the pristine tree
never written, unreadable and diff-less patches), the cache entry and its
key (a patch applied as hashed, a folder's every file in its identity, a
killed unpack cleaned up), `built:KEY`, a failed build naming its log, and
an interrupt that leaves no entry and no process; the README's and the
fragment's words where they state what the code does.
With the `kernel` marker: one real build of debian:7.3's minimal config
(shared by the tests of this file), booted by `kernel-check`, and a real
build interrupted while it compiles.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from proctree import cmdline, descendants, wait_gone
from zswap_spec.kernel.build import (FRAGMENT, KernelBuildError, build_kernel, fragment_options,
                                     list_builds, resolve_built)
from zswap_spec.kernel.build_source import apply_patches, resolve_source, working_copy
from zswap_spec.kernel.tree import KernelError

SCRIPT = Path(sys.executable).with_name("zswap-spec")
README = Path(__file__).resolve().parents[2] / "README.md"

ZSWAP_C = "".join(f"line {i}\n" for i in range(1, 61))

_MAKEFILE = """\
.PHONY: tinyconfig olddefconfig bzImage modules kernelrelease modules_install
tinyconfig:
\t@echo CONFIG_64BIT=y > $(O)/.config
olddefconfig:
{olddefconfig}\t@true
bzImage:
\t@mkdir -p $(O)/arch/x86/boot
\t@echo "  CC      mm/zswap.o"
\t@echo "  CC      mm/zsmalloc.o"
{bzimage}\t@printf 'not really a kernel' > $(O)/arch/x86/boot/bzImage
modules:
\t@echo "  CC [M]  drivers/block/brd.o"
kernelrelease:
\t@echo 0.0.1-fake
modules_install:
\t@mkdir -p $(INSTALL_MOD_PATH)/lib/modules/0.0.1-fake/kernel
\t@ln -s /nowhere $(INSTALL_MOD_PATH)/lib/modules/0.0.1-fake/build
"""


def fake_tree(folder: Path, bzimage: str = "", olddefconfig: str = "") -> Path:
    """A tree that passes for a kernel source: a Makefile, arch/x86, mm/zswap.c."""
    (folder / "arch" / "x86").mkdir(parents=True)
    (folder / "mm").mkdir()
    (folder / "mm" / "zswap.c").write_text(ZSWAP_C)
    (folder / "Makefile").write_text(_MAKEFILE.format(bzimage=bzimage, olddefconfig=olddefconfig))
    return folder


def diff(path: str, old: str, new: str) -> str:
    """A unified diff of `path` from `old` to `new` (whole-file texts)."""
    import difflib

    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                        f"a/{path}", f"b/{path}"))


def mail(subject: str, body: str) -> str:
    return (f"From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n"
            f"From: A Developer <dev@example.org>\nSubject: {subject}\n\n"
            f"Why the change is made.\n---\n{body}-- \n2.47.0\n\n")


FULL_CONFIG = "CONFIG_64BIT=y\nCONFIG_ZSWAP=y\n# CONFIG_MODULES is not set\n"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ZSWAP_SPEC_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def src(tmp_path):
    return fake_tree(tmp_path / "linux")


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "fake.config"
    path.write_text(FULL_CONFIG)
    return path


def quiet(msg):
    pass


# ---- patches ------------------------------------------------------------------------------

def test_a_hunk_that_does_not_apply_is_named_by_file_hunk_and_mail(tmp_path, src):
    changed = ZSWAP_C.replace("line 5\n", "line five\n").replace("line 40\n", "line forty\n")
    text = diff("mm/zswap.c", ZSWAP_C, changed)
    text = text.replace("-line 40\n", "-line 40 as it was elsewhere\n")  # the second hunk's base
    patch = tmp_path / "fix.patch"
    patch.write_text(mail("[PATCH] mm: zswap: a fix", text))
    copy = working_copy(resolve_source(str(src)), tmp_path / "work", quiet)
    with pytest.raises(KernelBuildError) as e:
        apply_patches(copy, [patch], "debian:7.3", quiet)
    assert e.value.kind == "input"
    msg = str(e.value)
    assert msg.startswith("fix.patch: hunk #2 of mm/zswap.c does not apply (at line ")
    assert '"[PATCH] mm: zswap: a fix"' in msg and msg.endswith("rebase it on debian:7.3")


def test_an_mbox_series_applies_every_mail_in_order(tmp_path, src):
    """The second mail changes a line the first one added: a dry run of the
    whole series against the unpatched tree would refuse it."""
    one = ZSWAP_C.replace("line 20\n", "twenty\n")
    two = one.replace("twenty\n", "TWENTY\n")
    series = tmp_path / "series.mbx"
    series.write_text(mail("[PATCH 1/2] first", diff("mm/zswap.c", ZSWAP_C, one))
                      + mail("[PATCH 2/2] second", diff("mm/zswap.c", one, two)))
    copy = working_copy(resolve_source(str(src)), tmp_path / "work", quiet)
    said = []
    apply_patches(copy, [series], "the tree", said.append)
    assert (copy / "mm" / "zswap.c").read_text() == two
    assert said == ["patched: series.mbx (2 files)"]


def git_diff(text: str) -> str:
    """`diff`'s output with the header `git diff` puts before it."""
    m = re.match(r"--- (?:\S+?/)?(\S+)\n\+\+\+ (?:\S+?/)?(\S+)\n", text)
    return f"diff --git a/{m.group(1)} b/{m.group(2)}\nindex 1234567..89abcde 100644\n{text}"


def three_mail_series(tree: Path, second: str) -> str:
    """A `git format-patch` series on `tree`: mail 1 renames mm/old.c (a git
    diff with no ---/+++ lines), mail 2 is `second`, mail 3 changes mm/b.c."""
    for name in ("old.c", "a.c", "b.c"):
        (tree / "mm" / name).write_text(ZSWAP_C)
    rename = ("diff --git a/mm/old.c b/mm/new.c\nsimilarity index 100%\n"
              "rename from mm/old.c\nrename to mm/new.c\n")
    return (mail("[PATCH 1/3] mm: rename old.c", rename)
            + mail("[PATCH 2/3] mm: change a.c", git_diff(second))
            + mail("[PATCH 3/3] mm: change b.c",
                   git_diff(diff("mm/b.c", ZSWAP_C, ZSWAP_C.replace("line 9\n", "nine\n")))))


def test_the_failing_mail_is_named_after_a_diff_without_a_plus_plus_plus_line(tmp_path, src):
    """A rename has no '+++' line, yet patch says 'patching file' for it: the
    mail is known because each mail is applied on its own."""
    bad = diff("mm/a.c", ZSWAP_C, ZSWAP_C.replace("line 30\n", "thirty\n"))
    series = tmp_path / "series.mbx"
    series.write_text(three_mail_series(src, bad.replace("-line 30\n", "-line 30 elsewhere\n")))
    copy = working_copy(resolve_source(str(src)), tmp_path / "work", quiet)
    with pytest.raises(KernelBuildError) as e:
        apply_patches(copy, [series], "the tree", quiet)
    msg = str(e.value)
    assert msg.startswith("series.mbx: hunk #1 of mm/a.c does not apply"), msg
    assert '"[PATCH 2/3] mm: change a.c"' in msg and "3/3" not in msg
    # And the same series with a good second mail applies whole, the rename included.
    good = tmp_path / "good.mbx"
    good.write_text(three_mail_series(src, bad))
    fresh = working_copy(resolve_source(str(src)), tmp_path / "fresh", quiet)
    said = []
    apply_patches(fresh, [good], "the tree", said.append)
    assert (fresh / "mm" / "new.c").is_file() and not (fresh / "mm" / "old.c").exists()
    assert "thirty\n" in (fresh / "mm" / "a.c").read_text()
    assert "nine\n" in (fresh / "mm" / "b.c").read_text()
    assert said == ["patched: good.mbx (3 files)"]


def test_a_missing_file_or_a_malformed_diff_names_the_mail(tmp_path, src):
    """Headers without a b/ prefix (quilt's linux.orig/ and linux/) still give the
    file as -p1 takes it; a malformed diff's line is the line in the file."""
    missing = (diff("mm/nothere.c", ZSWAP_C, ZSWAP_C.replace("line 2\n", "two\n"))
               .replace("--- a/", "--- linux.orig/").replace("+++ b/", "+++ linux/"))
    series = tmp_path / "missing.mbx"
    series.write_text(three_mail_series(src, missing))
    copy = working_copy(resolve_source(str(src)), tmp_path / "work", quiet)
    with pytest.raises(KernelBuildError) as e:
        apply_patches(copy, [series], "the tree", quiet)
    msg = str(e.value)
    assert msg.startswith("missing.mbx: mm/nothere.c is not in the tree"), msg
    assert '"[PATCH 2/3] mm: change a.c"' in msg
    plain = tmp_path / "quilt.diff"  # no mail, no git header
    plain.write_text(missing)
    with pytest.raises(KernelBuildError) as e:
        apply_patches(copy, [plain], "the tree", quiet)
    assert str(e.value).startswith("quilt.diff: mm/nothere.c is not in the tree; "), str(e.value)
    malformed = diff("mm/a.c", ZSWAP_C, ZSWAP_C.replace("line 30\n", "thirty\n"))
    malformed = malformed.replace(" line 28\n", "?line 28\n")  # neither context, - nor +
    text = three_mail_series(src, malformed)
    series = tmp_path / "malformed.mbx"
    series.write_text(text)
    copy = working_copy(resolve_source(str(src)), tmp_path / "work2", quiet)
    with pytest.raises(KernelBuildError) as e:
        apply_patches(copy, [series], "the tree", quiet)
    msg = str(e.value)
    line = text.splitlines().index("?line 28") + 1
    assert msg.startswith(f"malformed.mbx: malformed patch at line {line}: "), msg
    assert '"[PATCH 2/3] mm: change a.c"' in msg


def test_a_hunk_applies_shifted_but_not_with_fuzz(tmp_path, src):
    """As `git am`: a hunk may land some lines away from where it says, but its
    context must match; GNU patch's default would apply it ignoring a line."""
    text = diff("mm/zswap.c", ZSWAP_C, ZSWAP_C.replace("line 30\n", "thirty\n"))
    shifted = tmp_path / "shifted.diff"
    shifted.write_text(text.replace("@@ -27,7 +27,7 @@", "@@ -21,7 +21,7 @@"))
    fuzzy = tmp_path / "fuzzy.diff"
    fuzzy.write_text(text.replace(" line 27\n", " line 27 as it was elsewhere\n"))
    assert shifted.read_text() != text and fuzzy.read_text() != text
    copy = working_copy(resolve_source(str(src)), tmp_path / "work", quiet)
    apply_patches(copy, [shifted], "the tree", quiet)
    assert (copy / "mm" / "zswap.c").read_text() == ZSWAP_C.replace("line 30\n", "thirty\n")
    copy = working_copy(resolve_source(str(src)), tmp_path / "work2", quiet)
    with pytest.raises(KernelBuildError) as e:
        apply_patches(copy, [fuzzy], "the tree", quiet)
    msg = str(e.value)
    assert msg.startswith("fuzzy.diff: hunk #1 of mm/zswap.c does not apply"), msg
    assert "context must match" in msg
    assert (copy / "mm" / "zswap.c").read_text() == ZSWAP_C


def test_patching_the_copy_never_writes_the_pristine_tree(tmp_path, cache, src):
    """Both kinds of source: a tarball unpacked into the cache, and a user's folder.
    The copy shares every inode until patch writes a file anew."""
    tarball = tmp_path / "linux.tar.gz"
    subprocess.run(["tar", "-czf", str(tarball), "-C", str(tmp_path), "linux"], check=True)
    new = ZSWAP_C.replace("line 7\n", "seven\n")
    patch = tmp_path / "p.diff"
    patch.write_text(diff("mm/zswap.c", ZSWAP_C, new))
    for n, spec in enumerate([str(tarball), str(src)]):
        source = resolve_source(spec)
        copy = working_copy(source, tmp_path / f"work{n}", quiet)
        pristine = (cache / "build-src" / source.identity.split()[-1][:16]
                    if source.is_tarball else src)
        original = pristine / "mm" / "zswap.c"
        assert (copy / "Makefile").stat().st_ino == (pristine / "Makefile").stat().st_ino
        assert (copy / "mm" / "zswap.c").stat().st_ino == original.stat().st_ino
        apply_patches(copy, [patch], spec, quiet)
        assert (copy / "mm" / "zswap.c").read_text() == new
        assert original.read_text() == ZSWAP_C and original.stat().st_nlink == 1
        assert not list(pristine.rglob("*.orig")) and not list(pristine.rglob("*.rej"))


@pytest.mark.parametrize("case", ["missing", "folder", "no diff", "unreadable"])
def test_a_patch_that_cannot_be_used_is_an_input_error(case, tmp_path, cache, src,
                                                       config_file):
    patch = tmp_path / "p.patch"
    if case == "folder":
        patch.mkdir()
    elif case == "no diff":
        patch.write_text(mail("[PATCH] words only", "no change at all\n"))
    elif case == "unreadable":
        if os.geteuid() == 0:
            patch = Path("/proc/self/mem")  # exists, and reading it from offset 0 fails
        else:
            patch.write_text("x")
            patch.chmod(0)
    with pytest.raises(KernelBuildError) as e:
        build_kernel(str(src), patches=[patch], config=str(config_file), progress=quiet)
    assert e.value.kind == "input" and str(e.value).startswith(f"--patch {patch}: ")
    assert {"missing": "no such file", "folder": "is a folder", "no diff": "holds no diff",
            "unreadable": "cannot be read"}[case] in str(e.value)
    assert not (cache / "builds").exists() or not list((cache / "builds").glob("[0-9a-f]*"))


# ---- the cache entry ----------------------------------------------------------------------

def test_a_build_lands_in_the_cache_once_and_boots_as_built_key(tmp_path, cache, src,
                                                                config_file):
    patch = tmp_path / "p.diff"
    patch.write_text(diff("mm/zswap.c", ZSWAP_C, ZSWAP_C.replace("line 3\n", "three\n")))
    said = []
    built = build_kernel(str(src), patches=[patch], config=str(config_file),
                         progress=said.append)
    assert not built.cached and built.release == "0.0.1-fake"
    assert built.folder == cache / "builds" / built.key and re.fullmatch(r"[0-9a-f]{12}", built.key)
    assert built.image.read_bytes() == b"not really a kernel"
    assert built.config.read_text() == FULL_CONFIG  # the fake olddefconfig keeps it
    meta = json.loads((built.folder / "build.json").read_text())
    assert meta["patches"][0]["file"] == str(patch) and meta["objects"] == 2
    assert meta["source_identity"].startswith("dir ") and meta["release"] == "0.0.1-fake"
    assert "$ make" in built.log.read_text()
    assert any(s.startswith("compiled 2 objects in") for s in said)
    # Nothing but the entry (and the lock) is left: no working copy, no object folder.
    assert sorted(p.name for p in (cache / "builds").iterdir()) == [f".lock-{built.key}", built.key]
    again = build_kernel(str(src), patches=[patch], config=str(config_file), progress=quiet)
    assert again.cached and again.key == built.key
    tree = resolve_built(f"built:{built.key[:5]}")
    assert tree.name == f"built:{built.key}" and tree.image == built.image
    assert tree.source == src and tree.built_in("CONFIG_ZSWAP") and tree.root is None
    from zswap_spec.kernel.fetch import resolve_kernel

    assert resolve_kernel(f"built:{built.key}").image == built.image


def test_the_key_follows_every_input(tmp_path, cache, src, config_file):
    one = tmp_path / "1.diff"
    two = tmp_path / "2.diff"
    one.write_text(diff("mm/zswap.c", ZSWAP_C, ZSWAP_C.replace("line 3\n", "three\n")))
    two.write_text(diff("mm/zswap.c", ZSWAP_C, ZSWAP_C.replace("line 30\n", "thirty\n")))
    keys = {build_kernel(str(src), patches=p, config=str(config_file), progress=quiet).key
            for p in ([], [one], [two], [one, two], [two, one])}
    assert len(keys) == 5
    config_file.write_text(FULL_CONFIG + "CONFIG_SWAP=y\n")
    assert build_kernel(str(src), config=str(config_file), progress=quiet).key not in keys
    (src / "mm" / "new.c").write_text("int x;\n")  # the tree itself changed
    assert build_kernel(str(src), config=str(config_file), progress=quiet).key not in keys


def test_a_patch_edited_during_the_build_is_applied_as_it_was_hashed(tmp_path, cache,
                                                                     config_file):
    """The fake kernel's image is its patched mm/zswap.c: what was applied."""
    src = fake_tree(tmp_path / "linux")
    makefile = src / "Makefile"
    makefile.write_text(makefile.read_text().replace("printf 'not really a kernel'",
                                                     "cat mm/zswap.c"))
    hashed = ZSWAP_C.replace("line 3\n", "three\n")
    patch = tmp_path / "p.diff"
    patch.write_text(diff("mm/zswap.c", ZSWAP_C, hashed))
    from zswap_spec.kernel import build

    real = build.working_copy

    def edit_then_copy(*args, **kwargs):  # the patch is edited after it was hashed
        patch.write_text(diff("mm/zswap.c", ZSWAP_C, ZSWAP_C.replace("line 4\n", "four\n")))
        return real(*args, **kwargs)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(build, "working_copy", edit_then_copy)
        built = build_kernel(str(src), patches=[patch], config=str(config_file), progress=quiet)
    assert built.image.read_text() == hashed
    assert built.patches[0][1] == hashlib.sha256(diff("mm/zswap.c", ZSWAP_C, hashed)
                                                 .encode()).hexdigest()


def test_a_folder_source_changes_key_when_a_file_changes_with_an_older_time(src):
    """Same size, same number of files, and its time set back below the newest."""
    before = resolve_source(str(src)).identity
    zswap = src / "mm" / "zswap.c"
    old = zswap.stat().st_mtime_ns - 3600 * 10**9
    zswap.write_text(ZSWAP_C.replace("line 7\n", "LINE 7\n"))
    os.utime(zswap, ns=(old, old))
    assert resolve_source(str(src)).identity != before
    after = resolve_source(str(src)).identity
    assert resolve_source(str(src)).identity == after  # nothing changed: the same


def test_an_unpack_killed_outright_is_cleaned_up(tmp_path, cache, src):
    """A `.tmp-DIGEST-*` folder left in build-src/ goes at the next use of the
    tarball, whether or not another unpack finished meanwhile."""
    tarball = tmp_path / "linux.tar.gz"
    subprocess.run(["tar", "-czf", str(tarball), "-C", str(tmp_path), "linux"], check=True)
    source = resolve_source(str(tarball))
    digest = source.identity.split()[-1][:16]
    base = cache / "build-src"
    for n in range(2):
        stale = base / f".tmp-{digest}-killed{n}"
        (stale / "linux" / "mm").mkdir(parents=True)
        (stale / "linux" / "mm" / "zswap.c").write_text("half\n")
        other = base / ".tmp-0123456789abcdef-other"  # another source's: not this lock's
        other.mkdir(exist_ok=True)
        working_copy(source, tmp_path / f"work{n}", quiet)
        assert not stale.exists() and other.is_dir() and (base / digest / "Makefile").is_file()


def test_modules_are_installed_under_root(tmp_path, cache, src, config_file):
    config_file.write_text("CONFIG_64BIT=y\nCONFIG_MODULES=y\n")
    built = build_kernel(str(src), config=str(config_file), progress=quiet)
    release_dir = built.folder / "root" / "lib" / "modules" / "0.0.1-fake"
    assert (release_dir / "kernel").is_dir()
    assert not (release_dir / "build").is_symlink()  # it pointed into the working copy
    assert built.tree().modules_dir == release_dir


def test_an_unknown_or_ambiguous_key_lists_the_builds(cache, src, config_file, tmp_path):
    with pytest.raises(KernelError, match="there is none yet: make one with zswap-spec kernel-build"):
        resolve_built("built:abc")
    built = build_kernel(str(src), config=str(config_file), progress=quiet)
    with pytest.raises(KernelError) as e:
        resolve_built("built:ffffffffffff" if not built.key.startswith("f") else "built:000000")
    assert "matches no build" in str(e.value) and built.key in str(e.value)
    other = tmp_path / "other.config"
    other.write_text(FULL_CONFIG + "CONFIG_SWAP=y\n")
    build_kernel(str(src), config=str(other), progress=quiet)
    shared = os.path.commonprefix([b.key for b in list_builds()])
    with pytest.raises(KernelError, match="matches several builds|give the KEY"):
        resolve_built(f"built:{shared}")
    assert len(list_builds()) == 2


def test_a_failed_build_names_its_log_and_first_error(cache, tmp_path, config_file):
    src = fake_tree(tmp_path / "broken", bzimage="\t@echo 'mm/zswap.c:12:3: error: "
                                                 "expected ; before }'\n\t@exit 2\n")
    with pytest.raises(KernelBuildError) as e:
        build_kernel(str(src), config=str(config_file), progress=quiet)
    assert e.value.kind == "build"
    msg = str(e.value)
    assert "mm/zswap.c:12:3: error: expected ; before }" in msg
    log = Path(re.search(r"the log: (\S+)\)", msg).group(1))
    assert log.parent.name.startswith("failed-") and "error: expected" in log.read_text()
    assert not [p for p in (cache / "builds").iterdir() if re.fullmatch(r"[0-9a-f]{12}", p.name)
                or p.name.startswith(".tmp-")]


def test_the_minimal_fragment_is_checked_option_by_option(cache, tmp_path):
    """This olddefconfig keeps only CONFIG_64BIT, as kconfig drops an option whose
    dependencies are unmet: every other option of the fragment is named."""
    src = fake_tree(tmp_path / "tiny", olddefconfig="\t@grep '^CONFIG_64BIT=' $(O)/.config > "
                                                    "$(O)/kept; mv $(O)/kept $(O)/.config\n")
    with pytest.raises(KernelBuildError) as e:
        build_kernel(str(src), progress=quiet)
    msg = str(e.value)
    assert e.value.kind == "input" and msg.startswith("the minimal config did not take")
    assert "CONFIG_ZSWAP=y (it is unset)" in msg and "CONFIG_64BIT" not in msg
    options = fragment_options(FRAGMENT.read_text())
    assert options["CONFIG_SLUB_TINY"] is None and options["CONFIG_BLK_DEV_RAM_SIZE"] == "131072"


# ---- the command --------------------------------------------------------------------------

def run(*args, env=None, timeout=120):
    return subprocess.run([str(SCRIPT), "kernel-build", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def test_the_command_prints_the_key_and_how_to_boot_it(cache, src, config_file):
    env = {"ZSWAP_SPEC_CACHE": str(cache)}
    p = run("--source", str(src), "--config", str(config_file), env=env)
    assert p.returncode == 0, p.stderr
    key = re.search(r"^key:\s+([0-9a-f]{12})$", p.stdout, re.M).group(1)
    assert f"zswap-spec kernel-check --kernel built:{key}" in p.stdout
    assert "Linux 0.0.1-fake, built in " in p.stdout
    p = run("--source", str(src), "--config", str(config_file), "--json", env=env)
    out = json.loads(p.stdout)
    assert out["key"] == key and out["cached"] is True and out["release"] == "0.0.1-fake"
    assert set(out) == {"key", "image", "release", "seconds", "cached", "source", "patches",
                        "config", "log", "patched_files", "compressor_source"}
    assert out["patched_files"] == [] and out["compressor_source"] == str(src)


@pytest.mark.parametrize("args,words", [
    (["--patch", "/nonexistent.patch"], "--patch /nonexistent.patch: no such file"),
    (["--config", "/nonexistent.config"], "--config /nonexistent.config: no such file"),
    (["--source", "/nonexistent"], "--source /nonexistent: no such file or folder"),
    (["--source", "debian:seven"], "--source debian:seven: SERIES must look like 7.3"),
    (["--source", "/etc/hostname"], "not a tarball"),
    (["--source", "/etc"], "not a kernel source tree"),
    (["--jobs", "0"], "--jobs"),
])
def test_bad_input_is_one_line_and_exit_2(args, words, cache, src):
    source = [] if "--source" in args else ["--source", str(src)]
    p = run(*source, *args, env={"ZSWAP_SPEC_CACHE": str(cache)})
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1 and words in lines[0], p.stderr


def test_a_failed_build_exits_3_naming_the_log(cache, tmp_path, config_file):
    src = fake_tree(tmp_path / "broken", bzimage="\t@echo 'ld: undefined reference to x'\n"
                                                 "\t@exit 2\n")
    p = run("--source", str(src), "--config", str(config_file),
            env={"ZSWAP_SPEC_CACHE": str(cache)})
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 3 and len(lines) == 1, p.stderr
    assert "undefined reference to x" in lines[0] and "build.log" in lines[0]


def interrupt_when(p: subprocess.Popen, ready, limit: float, settle: float = 0) -> set[int]:
    """Wait until `ready(descendants)` holds and `settle` seconds more, then
    SIGINT the command: the processes below it up to that moment."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and p.poll() is None:
        kids = descendants(p.pid)
        if ready(kids):
            time.sleep(settle)
            kids |= descendants(p.pid)
            p.send_signal(signal.SIGINT)
            return kids
        time.sleep(0.2)
    p.kill()
    pytest.fail(f"never ready within {limit} s: {p.communicate()}")


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def entries(cache: Path) -> set[str]:
    """The cache's builds and builds under way (not the locks)."""
    builds = cache / "builds"
    return {x.name for x in builds.iterdir() if not x.name.startswith(".lock-")} \
        if builds.is_dir() else set()


def assert_interrupted_cleanly(p, kids, cache, before=frozenset()):
    t0 = time.monotonic()
    _, err = p.communicate(timeout=60)
    took = time.monotonic() - t0
    assert p.returncode == 130, err
    assert err.strip().splitlines() == ["zswap-spec: interrupted"], err
    assert not wait_gone(kids, 5), [comm(k) for k in kids]
    assert entries(cache) <= set(before)
    return took


def test_an_interrupt_leaves_no_entry_and_no_process(cache, tmp_path, config_file):
    src = fake_tree(tmp_path / "slow", bzimage="\t@sleep 300\n")
    p = subprocess.Popen([str(SCRIPT), "kernel-build", "--source", str(src), "--config",
                          str(config_file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env={**os.environ, "ZSWAP_SPEC_CACHE": str(cache)})
    kids = interrupt_when(p, lambda kids: any(comm(k) == "sleep" for k in kids), 60)
    assert assert_interrupted_cleanly(p, kids, cache) < 3


def test_the_readme_gives_the_interrupt_its_true_bound():
    """make's group is waited for after each signal of `_KILL_WAITS`; the README
    says so with their sum, and no shorter figure."""
    from zswap_spec.kernel.build import _KILL_WAITS

    section = README.read_text().split("### Building a kernel", 1)[1].split("\n### ", 1)[0]
    words = " ".join(section.split())
    assert f"at most {sum(wait for _, wait in _KILL_WAITS)} s" in words, words
    assert "about a second" not in words


# ---- the guest of a built kernel ------------------------------------------------------------

def test_the_guest_reboots_when_poweroff_cannot_power_off():
    """A tinyconfig kernel has no ACPI and halts when asked to power off: it
    reboots, which ends qemu (-no-reboot).  Debian's kernels have ACPI and
    power off as before (the reboot is never reached)."""
    from zswap_spec.kernel.guest import _init_script

    init = _init_script(modules=[], brd_kib=None, compressor="lz4", zpool=None, writeback=True,
                        zswap_max=None, page_size=4096, settle_ms=0)
    assert init.splitlines()[-2:] == ["[ -d /sys/firmware/acpi ] && poweroff -f", "reboot -f"]


def test_a_built_in_ram_disk_must_be_big_enough(tmp_path):
    from zswap_spec.kernel.guest import build_initramfs
    from zswap_spec.kernel.tree import KernelTree

    options = fragment_options(FRAGMENT.read_text())
    config = {k: v for k, v in options.items() if v is not None}
    tree = KernelTree("built:test", tmp_path / "bzImage", "7.3.4", None,
                      dict(config, CONFIG_BLK_DEV_RAM_SIZE="4096"))
    with pytest.raises(KernelError, match=r"1 RAM disk\(s\) of 4096 KiB.*CONFIG_BLK_DEV_RAM_SIZE="):
        build_initramfs(tree, compressor="lz4", pages=bytes(4096 * 1024), groups=[("g", 0, 1)],
                        writeback=True, zswap_max=None, page_size=4096, workdir=tmp_path)


def test_the_fragment_says_which_guest_gives_brd_its_size():
    """kernel-check's guest gives a built-in brd no arguments (the options size
    its disk); only the script session puts brd.rd_nr/rd_size on the command line."""
    from zswap_spec.kernel import guest, session

    init = guest._init_script(modules=[], brd_kib=None, compressor="lz4", zpool=None,
                              writeback=True, zswap_max=None, page_size=4096, settle_ms=0)
    assert "rd_nr" not in init and "rd_size" not in init
    assert "brd.rd_nr=" in Path(session.__file__).read_text()
    assert "brd.rd_nr=" not in Path(guest.__file__).read_text()
    text = FRAGMENT.read_text()
    block = " ".join(line.lstrip("# ") for line in
                     text.split("# -- the swap device", 1)[1].split("CONFIG_BLK_DEV=y")[0]
                     .splitlines())
    assert "kernel/session.py" in block and "kernel/guest.py" in block, block
    assert "The guest also gives" not in block


def test_the_readme_takes_a_series_with_b4_not_a_whole_thread():
    """A thread's mbox.gz holds the replies too, and a reply's fix-up diff would
    be applied with the series."""
    section = README.read_text().split("### Checking a posted series", 1)[1].split("\n### ")[0]
    words = " ".join(section.split())
    assert "b4 am" in words
    assert "mbox.gz" not in words or "whole thread" in words, words


# ---- a real kernel (kernel marker) -----------------------------------------------------------

REAL_SOURCE = "debian:7.3"
# The kernel `kernel-check --seeded` boots: its patch changes nothing until a boot
# parameter names a seeded bug (tests/kernel/test_kernel_seeded.py's control boot shows
# it), so one build serves both files.
from zswap_spec.kernel.seeded import SEEDED_PATCH  # noqa: E402

REAL_PATCHES = [SEEDED_PATCH]


@pytest.fixture(scope="module")
def real_build():
    """debian:7.3's minimal kernel with the seeded bugs' patch, built once into the
    real cache (a few minutes the first time; later runs find it there)."""
    for tool in ("make", "gcc", "flex", "bison", "bc", "perl", "qemu-system-x86_64"):
        if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode:
            pytest.skip(f"building and booting a kernel needs {tool} (./dev.sh test installs it)")
    return build_kernel(REAL_SOURCE, patches=REAL_PATCHES, progress=quiet)


@pytest.mark.kernel
def test_the_minimal_kernel_has_every_fragment_option_and_is_cached(real_build):
    from zswap_spec.kernel.tree import read_config

    b = real_build
    assert b.image.is_file() and b.image.stat().st_size > 500_000
    assert b.release.startswith("7.3") and b.config_name == "minimal"
    final = read_config(b.config)
    for name, want in fragment_options(FRAGMENT.read_text()).items():
        assert final.get(name) == want, name
    meta = json.loads((b.folder / "build.json").read_text())
    assert meta["source"] == REAL_SOURCE and meta["release"] == b.release and meta["seconds"] > 0
    assert "  CC      mm/zswap.o" in b.log.read_text()
    assert [Path(f).name for f, _ in b.patches] == [SEEDED_PATCH.name]
    # The tarball's tree in the cache was never written: every file keeps the time it
    # had in the tarball, older than the unpacking.
    pristine = Path(meta["source_path"])
    tree = next((b.folder.parent.parent / "build-src").glob("*/mm/zswap.c")).parent.parent
    unpacked = tree.stat().st_mtime  # the folder was renamed into place once unpacked
    assert not [f for f in (tree / "mm").iterdir() if f.stat().st_mtime > unpacked]
    assert pristine.is_file()
    t0 = time.monotonic()
    again = build_kernel(REAL_SOURCE, patches=REAL_PATCHES, progress=quiet)
    assert again.cached and again.key == b.key and time.monotonic() - t0 < 10


@pytest.mark.kernel
def test_kernel_check_boots_the_built_kernel_and_it_powers_off(real_build):
    p = subprocess.run([str(SCRIPT), "kernel-check", "--kernel", f"built:{real_build.key}",
                        "--json"], capture_output=True, text=True, timeout=900)
    assert p.stdout, p.stderr
    runs = json.loads(p.stdout)["runs"]
    assert p.returncode == 0, [(r["error"], r["disagreements"][:3]) for r in runs]
    (run,) = runs
    assert run["kernel"] == f"built:{real_build.key}" and run["release"] == real_build.release
    assert run["agree"] and run["model_compressor"] == "kernel lz4"
    assert run["boot_seconds"] < 120, "the guest did not end by itself (timeout 180 s)"
    log = Path(run["log"]).read_text(errors="replace")
    assert "Kernel panic" not in log


@pytest.mark.kernel
def test_a_real_build_interrupted_while_compiling(real_build, tmp_path):
    """A config file (the minimal build's own, plus a comment) makes a key of its own."""
    config = tmp_path / "interrupted.config"
    config.write_text(real_build.config.read_text() + "# interrupted on purpose\n")
    from zswap_spec.support.cache import cache_dir

    before = entries(cache_dir())
    p = subprocess.Popen([str(SCRIPT), "kernel-build", "--source", REAL_SOURCE, "--config",
                          str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Compiling the kernel itself (-nostdinc), not kconfig's host programs.
    kids = interrupt_when(p, lambda kids: any(comm(k) == "cc1" and b"-nostdinc" in cmdline(k)
                                              for k in kids), 300, settle=3)
    # The working copy and the objects so far are removed before the command ends.
    assert assert_interrupted_cleanly(p, kids, cache_dir(), before) < 20


def test_patches_to_the_compressors_give_the_model_the_patched_code(tmp_path, cache, src,
                                                                     config_file):
    """The model compresses with a built kernel's own compressor code: when a series
    changes it, the entry keeps the patched files and the kernel's tree points there;
    a series that leaves it alone keeps the source (nothing copied)."""
    lz4 = "int LZ4_compress_default(void) { return 1; }\n"
    (src / "lib" / "lz4").mkdir(parents=True)
    (src / "lib" / "lz4" / "lz4_compress.c").write_text(lz4)
    to_lz4 = tmp_path / "lz4.patch"
    to_lz4.write_text(mail("[PATCH 1/2] lib/lz4: a change",
                           diff("lib/lz4/lz4_compress.c", lz4, lz4.replace("1;", "2;")))
                      + mail("[PATCH 2/2] mm: zswap: a change",
                             diff("mm/zswap.c", ZSWAP_C, ZSWAP_C.replace("line 3\n", "three\n"))))
    built = build_kernel(str(src), patches=[to_lz4], config=str(config_file), progress=quiet)
    assert set(built.patched_files) == {"lib/lz4/lz4_compress.c", "mm/zswap.c"}
    kept = built.folder / "compressor-src"
    assert built.tree().source == kept == built.compressor_source
    assert (kept / "lib/lz4/lz4_compress.c").read_text() == lz4.replace("1;", "2;")
    assert (src / "lib/lz4/lz4_compress.c").read_text() == lz4  # the user's tree as it was
    assert json.loads((built.folder / "build.json").read_text())["patched_files"] == list(
        built.patched_files)
    only_zswap = tmp_path / "zswap.patch"
    only_zswap.write_text(diff("mm/zswap.c", ZSWAP_C, ZSWAP_C.replace("line 3\n", "three\n")))
    other = build_kernel(str(src), patches=[only_zswap], config=str(config_file), progress=quiet)
    assert other.patched_files == ("mm/zswap.c",)
    assert not (other.folder / "compressor-src").exists()
    assert other.tree().source == src.resolve() or other.tree().source == src
