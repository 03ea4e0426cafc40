"""Kernels that cannot be used are refused with a message naming what is
missing; no qemu, no network."""

import subprocess
import sys
from pathlib import Path

import pytest

from zswap_spec.kernel.fetch import image_release, kernel_from_path, resolve_kernel
from zswap_spec.kernel.guest import needed_modules
from zswap_spec.kernel.tree import KernelError, KernelTree, read_config

SCRIPT = Path(sys.executable).with_name("zswap-spec")


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """What these tests write (depmod's output) goes to a cache of their own."""
    monkeypatch.setenv("ZSWAP_SPEC_CACHE", str(tmp_path / "cache"))


def fake_bzimage(path, version="7.9.0-test (me@host) #1 SMP"):
    data = bytearray(0x4000)
    data[0x202:0x206] = b"HdrS"
    off = 0x1000
    data[0x20E:0x210] = (off - 0x200).to_bytes(2, "little")
    data[off:off + len(version)] = version.encode()
    path.write_bytes(bytes(data))
    return path


def test_release_is_read_from_the_boot_header(tmp_path):
    assert image_release(fake_bzimage(tmp_path / "bzImage")) == "7.9.0-test"


def test_not_a_kernel(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("hello")
    with pytest.raises(KernelError, match="is not a Linux kernel image"):
        kernel_from_path(f)
    with pytest.raises(KernelError, match="no such kernel image"):
        kernel_from_path(tmp_path / "missing")


def test_config_is_read_and_a_kernel_without_zswap_is_refused(tmp_path):
    cfg = tmp_path / "config-7.9.0-test"
    cfg.write_text("CONFIG_DEBUG_FS=y\n# CONFIG_ZSWAP is not set\nCONFIG_MEMCG=y\n"
                   'CONFIG_ZSWAP_COMPRESSOR_DEFAULT="lzo"\n')
    assert read_config(cfg)["CONFIG_ZSWAP_COMPRESSOR_DEFAULT"] == "lzo"
    tree = kernel_from_path(fake_bzimage(tmp_path / "bzImage"))
    assert tree.release == "7.9.0-test" and tree.option("DEBUG_FS") == "y"
    with pytest.raises(KernelError, match="lacks zswap: CONFIG_ZSWAP is not set"):
        needed_modules(tree, "lz4")


def test_a_missing_compressor_or_module_is_named(tmp_path):
    config = {"CONFIG_ZSWAP": "y", "CONFIG_DEBUG_FS": "y", "CONFIG_MEMCG": "y",
              "CONFIG_BLK_DEV_RAM": "y", "CONFIG_CRYPTO_LZ4": "y"}
    tree = KernelTree("test", tmp_path / "bzImage", "7.9.0-test", None, dict(config))
    assert needed_modules(tree, "lz4") == []  # everything built in
    with pytest.raises(KernelError, match="lacks the zstd compressor: CONFIG_CRYPTO_ZSTD"):
        needed_modules(tree, "zstd")
    (tmp_path / "lib/modules/7.9.0-test/kernel/crypto").mkdir(parents=True)
    tree = KernelTree("test", tmp_path / "bzImage", "7.9.0-test", tmp_path,
                      dict(config, CONFIG_CRYPTO_ZSTD="m"))
    with pytest.raises(KernelError, match="no zstd.ko"):
        needed_modules(tree, "zstd")


def test_no_config_at_all_is_explained(tmp_path):
    tree = kernel_from_path(fake_bzimage(tmp_path / "bzImage"))
    with pytest.raises(KernelError, match="no configuration found"):
        needed_modules(tree, "lz4")


def test_bad_debian_version_spelling():
    with pytest.raises(KernelError, match="VERSION must look like"):
        resolve_kernel("debian:latest")


def test_modules_folder_must_exist(tmp_path):
    with pytest.raises(KernelError, match="not a folder"):
        kernel_from_path(fake_bzimage(tmp_path / "bzImage"), tmp_path / "nope")


def test_bad_kernel_path_is_a_one_line_error(tmp_path):
    junk = tmp_path / "vmlinuz"
    junk.write_bytes(b"\0" * 1024)
    p = subprocess.run([str(SCRIPT), "kernel-check", "--kernel", str(junk)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and "is not a Linux kernel image" in p.stderr
