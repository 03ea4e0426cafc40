"""check-driver against hostile drivers (issue 13): a driver that forks,
signals its process group or its parent, floods stderr, leaks memory,
declares an unknown format or aborts; the kit killed or interrupted
mid-run; two drivers of one name; unusable options and output paths.  The
kit must report each driver, keep every other driver's results and leave no
process behind."""

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from zswap_spec.driverkit import check_driver
from zswap_spec.driverkit.abi import header_path

HEAD = r"""
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "zswap_acomp_driver.h"
static int copy_all(struct zswap_acomp_unit *u, unsigned int n) {
    for (unsigned int k = 0; k < n; k++) {
        if (u[k].slen > u[k].capacity) { u[k].length = ZSWAP_ACOMP_ERR(7); return -7; }
        memcpy(u[k].dst, u[k].src, u[k].slen); u[k].length = u[k].slen;
    }
    return 0;
}
#define DRIVER(NAME, FMT, FN) \
static const struct zswap_acomp_driver d = {ZSWAP_ACOMP_DRIVER_ABI, NAME, FMT, 1, 0, 0, FN, 0}; \
static const struct zswap_acomp_driver *const all[] = {&d, 0}; \
const struct zswap_acomp_driver *const *zswap_acomp_drivers(void) { return all; }
"""

SOURCES = {
    # fork() in compress: both copies return into the kit's worker
    "forks": "static int f(struct zswap_acomp_unit *u, unsigned int n) { fork(); return copy_all(u, n); }\n"
             'DRIVER("forks", "none", f)',
    # a child that would outlive everything
    "forks_sleeper": "static int f(struct zswap_acomp_unit *u, unsigned int n) {\n"
                     "  if (fork() == 0) { sleep(1000); _exit(0); } return copy_all(u, n); }\n"
                     'DRIVER("forks-sleeper", "none", f)',
    "kill0": "static int f(struct zswap_acomp_unit *u, unsigned int n) { kill(0, SIGKILL); return copy_all(u, n); }\n"
             'DRIVER("kill0", "none", f)',
    "killpg": "static int f(struct zswap_acomp_unit *u, unsigned int n) {\n"
              "  kill(-getpgrp(), SIGTERM); return copy_all(u, n); }\n"
              'DRIVER("killpg", "none", f)',
    "killppid": "static int f(struct zswap_acomp_unit *u, unsigned int n) {\n"
                "  kill(getppid(), SIGTERM); kill(getppid(), SIGINT); return copy_all(u, n); }\n"
                'DRIVER("killppid", "none", f)',
    "spew": "static int f(struct zswap_acomp_unit *u, unsigned int n) {\n"
            "  static char buf[1 << 20]; memset(buf, 'x', sizeof buf); buf[sizeof buf - 1] = '\\n';\n"
            "  for (int i = 0; i < 64; i++) fwrite(buf, 1, sizeof buf, stderr);\n"
            '  fprintf(stderr, "LAST-WORDS before the end\\n"); fflush(stderr); abort(); }\n'
            'DRIVER("spew", "none", f)',
    "leak": "static void *volatile kept;\n"
            "static int f(struct zswap_acomp_unit *u, unsigned int n) {\n"
            "  char *p = malloc(32 << 20); memset(p, 1, 32 << 20); *(void **)p = kept; kept = p;\n"
            "  return copy_all(u, n); }\n"
            'DRIVER("leak", "none", f)',
    "lzo": 'DRIVER("lzo-driver", "lzo", copy_all)',
    "aborts": "static int f(struct zswap_acomp_unit *u, unsigned int n) { abort(); }\n"
              'DRIVER("aborts", "none", f)',
    "before1": "static int f(struct zswap_acomp_unit *u, unsigned int n) {\n"
               "  int r = copy_all(u, n); ((unsigned char *)u[0].dst)[-1] ^= 0xff; return r; }\n"
               'DRIVER("before1", "none", f)',
    "hangs": "static int f(struct zswap_acomp_unit *u, unsigned int n) { for (;;) pause(); }\n"
             'DRIVER("hangs", "none", f)',
    # SIGKILL to the process above its supervisor (the job checking it, with --jobs 2)
    "kills_job": "static int f(struct zswap_acomp_unit *u, unsigned int n) {\n"
                 "  char path[64], buf[512]; int ppid = 0; FILE *fp;\n"
                 "  snprintf(path, sizeof path, \"/proc/%d/stat\", (int)getppid());\n"
                 "  fp = fopen(path, \"r\"); if (fp) { size_t k = fread(buf, 1, sizeof buf - 1, fp);\n"
                 "  buf[k] = 0; fclose(fp); sscanf(strrchr(buf, ')') + 2, \"%*c %d\", &ppid); }\n"
                 "  if (ppid > 1) kill(ppid, SIGKILL); sleep(2); return copy_all(u, n); }\n"
                 'DRIVER("kills-job", "none", f)',
    # two drivers of one name, in two objects, breaking different clauses
    "same_a": "static int f(struct zswap_acomp_unit *u, unsigned int n) { copy_all(u, n); return 5; }\n"
              'DRIVER("same", "none", f)',
    "same_b": "static int f(struct zswap_acomp_unit *u, unsigned int n) {\n"
              "  int r = copy_all(u, n); u[0].length = 0; return r; }\n"
              'DRIVER("same", "none", f)',
}

QUICK = ["--budget", "0", "--call-timeout", "2"]


@pytest.fixture(scope="module")
def so(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    built = {}
    for name, body in SOURCES.items():
        src = folder / f"{name}.c"
        src.write_text(HEAD + body + "\n")
        out = folder / f"{name}.so"
        subprocess.run(["gcc", "-O1", "-fPIC", "-shared", f"-I{header_path().parent}", str(src),
                        "-o", str(out)], check=True, capture_output=True)
        built[name] = str(out)
    return built


@pytest.fixture(autouse=True)
def _in_a_scratch_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def _env(mark):
    return dict(os.environ, COLUMNS="200", ZDK_TEST_MARK=mark)


def _marked(mark: str) -> list[int]:
    """Every live process carrying `mark` in its environment (all descendants of a run)."""
    found = []
    needle = f"ZDK_TEST_MARK={mark}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read()
            with open(f"/proc/{entry}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in env.split(b"\0") and state not in (b"Z", b"X"):
            found.append(int(entry))
    return found


def _none_left(mark: str, within: float = 5.0) -> list[int]:
    deadline = time.monotonic() + within
    while (left := _marked(mark)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def run(*args, mark=None, timeout=300):
    mark = mark or uuid.uuid4().hex
    p = subprocess.run([sys.executable, "-m", "zswap_spec", "check-driver", *args],
                       capture_output=True, text=True, env=_env(mark), timeout=timeout)
    assert _none_left(mark) == [], "processes outlived the command"
    return p


def _start(*args, mark):
    return subprocess.Popen([sys.executable, "-m", "zswap_spec", "check-driver", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(mark))


def _wait_for_worker(mark: str, location: str, within: float = 60.0,
                     lived: float = 0.0) -> None:
    """Until a driver process of `location` runs (and has run for `lived` seconds:
    a process that only lists the drivers of a file ends at once; one checking a
    driver that hangs stays)."""
    deadline = time.monotonic() + within
    seen: dict[int, float] = {}
    while time.monotonic() < deadline:
        for pid in _marked(mark):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if location.encode() in cmd and b"zswap_spec.driverkit.worker" in cmd:
                first = seen.setdefault(pid, time.monotonic())
                if time.monotonic() - first >= lived:
                    return
        time.sleep(0.1)
    raise AssertionError(f"no driver process for {location}")


# -- 1: a driver that forks ---------------------------------------------------

@pytest.mark.parametrize("which", ["forks", "forks_sleeper"])
def test_a_driver_that_forks_is_reported_and_the_others_kept(so, tmp_path, which):
    junit = tmp_path / "out.xml"
    p = run(so[which], "builtin:lz4", "--json", "--junit", str(junit), *QUICK,
            "--reproducers", str(tmp_path / "r"))
    assert p.returncode == 3, (p.returncode, p.stderr)
    forks, lz4 = json.loads(p.stdout)["drivers"]
    assert "started a process" in forks["error"] and so[which] in forks["error"], forks
    assert lz4["conforms"] is True
    assert {s.get("name") for s in ET.parse(junit).getroot()} == {so[which], "builtin:lz4"}
    assert "Traceback" not in p.stderr


# -- 2: two drivers of one name ----------------------------------------------

def test_two_drivers_of_one_name_keep_their_own_reproducers(so, tmp_path):
    root = tmp_path / "r"
    (a,) = check_driver(so["same_a"], budget=0, call_timeout=2, reproducers=str(root))
    (b,) = check_driver(so["same_b"], budget=0, call_timeout=2, reproducers=str(root))
    assert a.name == b.name == "same" and a.clauses == ["C-RET"] and "C-LENGTH" in b.clauses
    ra, rb = Path(a.violations[0].reproducer), Path(b.violations[0].reproducer)
    assert ra.parent.parent != rb.parent.parent
    assert json.loads(ra.read_text())["clause"] == "C-RET"
    assert json.loads(ra.read_text())["target"] == so["same_a"]
    assert json.loads(rb.read_text())["target"] == so["same_b"]
    # again: the same folder, rewritten whole (no temporary left behind)
    (a2,) = check_driver(so["same_a"], budget=0, call_timeout=2, reproducers=str(root))
    assert a2.violations[0].reproducer == str(ra)
    assert not [q for q in root.rglob("*") if q.name.startswith(".tmp")]


# -- 3: outputs checked before any driver ------------------------------------

@pytest.mark.parametrize("args,needle", [
    (["--junit", "/no/such/folder/out.xml"], "--junit /no/such/folder/out.xml: the folder"),
    (["--reproducers", "/proc/version"], "--reproducers /proc/version: is a file"),
])
def test_unwritable_outputs_are_refused_before_any_check(so, args, needle):
    started = time.monotonic()
    p = run(so["hangs"], "--call-timeout", "30", *args)
    assert p.returncode == 2 and time.monotonic() - started < 20, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], p.stderr


# -- 4: limits: stderr and memory ---------------------------------------------

def test_a_driver_flooding_stderr_is_kept_to_its_head_and_tail(so):
    from zswap_spec.driverkit.sandbox import DriverFailure, Sandbox

    sb = Sandbox("c", so["spew"], None, "spew", call_timeout=30)
    try:
        sb.start()
        with pytest.raises(DriverFailure) as e:
            sb.compress([bytes(4096)], [4096])
        text = sb.stderr_text()
    finally:
        sb.close()
    assert "LAST-WORDS before the end" in e.value.description
    assert len(text) < 200_000 and "bytes cut" in text and text.rstrip().endswith("end")


def test_a_driver_that_leaks_memory_meets_the_limit(so):
    (r,) = check_driver(so["leak"], budget=0, call_timeout=5, memory_limit=256 << 20,
                        reproducers=None)
    assert r.clauses == ["C-CRASH"], r
    assert "memory limit of 256 MiB" in r.violations[0].description


# -- 5: signals from the driver; the kit killed --------------------------------

def test_drivers_that_signal_their_group_or_parent_hit_only_their_own_processes(so, tmp_path):
    p = run(so["kill0"], so["killpg"], so["killppid"], "builtin:lz4", "--json", *QUICK,
            "--reproducers", str(tmp_path / "r"))
    assert p.returncode == 1, (p.returncode, p.stderr)
    kill0, killpg, killppid, lz4 = json.loads(p.stdout)["drivers"]
    assert kill0["clauses"] == ["C-CRASH"] and "SIGKILL" in kill0["violations"][0]["description"]
    assert killpg["clauses"] == ["C-CRASH"] and "SIGTERM" in killpg["violations"][0]["description"]
    assert killppid["error"] is None and lz4["conforms"]


def test_a_driver_that_kills_the_process_checking_it_costs_only_its_report(so, tmp_path):
    p = run(so["kills_job"], "builtin:lz4", "builtin:bug-ret-count", "--jobs", "2", "--json",
            *QUICK, "--reproducers", str(tmp_path / "r"))
    assert p.returncode == 3, (p.returncode, p.stderr)
    lost, lz4, bug = json.loads(p.stdout)["drivers"]
    assert "ended without a report (killed by SIGKILL)" in lost["error"]
    assert lz4["conforms"] and bug["as_expected"]


def test_a_bug_of_the_kit_in_one_check_keeps_the_others_and_exits_4(so, tmp_path, monkeypatch,
                                                                    capsys):
    from zswap_spec.cli import main
    from zswap_spec.driverkit import jobs

    real = jobs.check_target

    def buggy(target, options):
        if target.label == so["lzo"]:
            raise KeyError("results")
        return real(target, options)

    monkeypatch.setattr(jobs, "check_target", buggy)
    monkeypatch.setenv("ZSWAP_SPEC_CACHE", str(tmp_path / "cache"))
    junit = tmp_path / "j.xml"
    sigterm = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SystemExit) as e:
            main(["check-driver", so["lzo"], "builtin:lz4", "--json", "--jobs", "1", "--junit",
                  str(junit), *QUICK, "--reproducers", str(tmp_path / "r")])
    finally:
        signal.signal(signal.SIGTERM, sigterm)
    assert e.value.code == 4
    out, err = capsys.readouterr()
    bad, lz4 = json.loads(out)["drivers"]
    assert "the kit failed while checking it (KeyError: 'results')" in bad["error"]
    assert lz4["conforms"] and len(list(ET.parse(junit).getroot())) == 2
    crash = re.search(r"the traceback is in (\S+)", err).group(1)
    assert "in buggy" in Path(crash).read_text()


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_no_process_outlives_a_killed_kit(so, jobs):
    mark = uuid.uuid4().hex
    proc = _start(so["hangs"], so["forks_sleeper"], "--call-timeout", "60", "--jobs", jobs,
                  mark=mark)
    try:
        _wait_for_worker(mark, so["hangs"])
        time.sleep(0.5)
    finally:
        proc.kill()
        proc.communicate()
    assert _none_left(mark) == []


# -- 6: numbers ----------------------------------------------------------------

@pytest.mark.parametrize("args,needle", [
    (["--call-timeout", "inf"], "--call-timeout inf"),
    (["--call-timeout", "nan"], "--call-timeout nan"),
    (["--call-timeout", "1e9"], "at most 3600"),
    (["--budget", "inf"], "--budget inf"),
    (["--budget", "1e12"], "--budget"),
    (["--jobs", "0"], "--jobs 0"),
    (["--jobs", "100000"], "--jobs 100000"),
    (["--memory-limit", "1"], "--memory-limit 1"),
])
def test_absurd_numbers_are_refused_in_one_line(args, needle):
    p = run("builtin:lz4", *args)
    assert p.returncode == 2, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in p.stderr, p.stderr


# -- 7: unknown format ---------------------------------------------------------

def test_an_unknown_format_is_not_checked(so):
    p = run(so["lzo"], *QUICK, "--reproducers", "r")
    assert p.returncode == 3, (p.returncode, p.stdout, p.stderr)
    assert "format 'lzo'" in p.stdout and "lz4, zstd, deflate, none" in p.stdout


# -- 8: Python drivers next to their modules -----------------------------------

def test_a_python_driver_file_imports_its_neighbours(tmp_path):
    pkg = tmp_path / "elsewhere"
    pkg.mkdir()
    (pkg / "neighbour_names_xyz.py").write_text('NAME = "py-neighbour"\n')
    (pkg / "drv.py").write_text(
        "import neighbour_names_xyz\n"
        "from zswap_spec.driverkit import PythonDriver\n"
        "class D(PythonDriver):\n"
        "    name = neighbour_names_xyz.NAME\n"
        "    def compress(self, units):\n"
        "        for u in units:\n"
        "            u.dst[:u.slen] = u.src if u.slen <= u.capacity else b''\n"
        "            u.length = u.slen if u.slen <= u.capacity else -7\n"
        "        return 0 if all(u.slen <= u.capacity for u in units) else -7\n")
    (r,) = check_driver(f"{pkg}/drv.py:D", budget=0, call_timeout=2, reproducers=None)
    assert r.error is None and r.name == "py-neighbour", r.error


@pytest.mark.parametrize("which", ["file", "module"])
def test_the_hint_for_a_python_driver_that_does_not_import_is_a_valid_command(tmp_path, which):
    (tmp_path / "broken_drv_xyz.py").write_text('raise RuntimeError("needs a device")\n')
    target = (f"{tmp_path}/broken_drv_xyz.py:D" if which == "file" else "broken_drv_xyz:D")
    (r,) = check_driver(target, budget=0, call_timeout=2, reproducers=None)
    hint = re.search(r"with '(.+)'$", r.error)
    assert hint, r.error
    argv = shlex.split(hint.group(1))
    assert argv[0] == "python"
    p = subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True,
                       cwd=tmp_path)
    assert "RuntimeError: needs a device" in p.stderr, p.stderr


# -- 9: signals reported as what they are; grammar -----------------------------

def test_an_abort_is_reported_as_an_abort(so):
    (r,) = check_driver(so["aborts"], budget=0, call_timeout=2, reproducers=None)
    (v,) = r.violations
    assert v.clause == "C-CRASH" and "aborted (SIGABRT)" in v.description
    assert "address" not in v.description


def test_one_byte_is_one_byte(so):
    (r,) = check_driver(so["before1"], budget=0, call_timeout=2, reproducers=None)
    (v,) = r.violations
    assert "wrote 1 byte before its destination" in v.description, v.description


# -- 10: interrupted -----------------------------------------------------------

@pytest.mark.parametrize("jobs", ["1", "2"])
def test_sigterm_writes_what_was_checked_and_exits_130(so, tmp_path, jobs):
    mark = uuid.uuid4().hex
    junit = tmp_path / "j.xml"
    proc = _start("builtin:lz4", so["hangs"], "--budget", "0", "--call-timeout", "60",
                  "--json", "--junit", str(junit), "--jobs", jobs, "--reproducers",
                  str(tmp_path / "r"), mark=mark)
    try:
        # The hanging driver's check has run for 2 s: one at a time, builtin:lz4 (checked
        # first) is done; two at a time, its vectors alone take well under the 2 s + 3 s.
        _wait_for_worker(mark, so["hangs"], lived=2.0)
        time.sleep(0 if jobs == "1" else 3.0)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        proc.kill()
    assert proc.returncode == 130, (proc.returncode, err)
    assert took < 2.5, took
    lz4, hangs = json.loads(out)["drivers"]
    assert lz4["conforms"] is True
    assert "interrupted" in hangs["error"]
    assert len(list(ET.parse(junit).getroot())) == 2
    assert _none_left(mark) == []
