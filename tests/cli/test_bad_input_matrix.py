"""The bad-input matrix: each class of bad input, fault and interruption against
every command it applies to, with the documented answer (cli/errors.py):
one line on stderr, exit 2 for input errors, 4 for an internal error, 130 for an
interrupt, and no work started before the input is known good.

Cases that need a real run (interrupts, closed or full standard output) run the
command in a subprocess as a user would; the rest call its entry point in this
process with the commands' work functions replaced by a guard that fails the
test if work starts before the input was checked.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest

from proctree import descendants, wait_gone
from zswap_spec.cli import cli, main

SCRIPT = Path(sys.executable).with_name("zswap-spec")
COMMANDS = sorted(cli.commands)

# The smallest command line of each command that would start real work.
MINIMAL = {
    "bench": ["bench", "--pages", "8"],
    "check": ["check"],
    "check-driver": ["check-driver", "builtin:lz4"],
    "fuzz": ["fuzz", "--budget", "1"],
    "kernel-build": ["kernel-build"],
    "kernel-check": ["kernel-check"],
    "kernel-fuzz": ["kernel-fuzz", "--budget", "10"],
    "prove": ["prove", "--variant", "mainline"],
    "replay": ["replay", "/etc/hostname"],
    "script": ["script", "tests/kernel/scripts/pool-limit.toml"],
    "variants": ["variants"],
}

# Where each command's work begins; the guard replaces these.
WORK = [
    ("zswap_spec.replay", "replay_pages"),
    ("zswap_spec.replay.stream", "replay_source"),
    ("zswap_spec.fuzz.run", "run_fuzz"),
    ("zswap_spec.fuzz.units", "run_unit_property"),
    ("zswap_spec.driverkit.jobs", "check_targets"),
    ("zswap_spec.proofs.run", "run_prove"),
    ("zswap_spec.cli.check", "run_check"),
    ("zswap_spec.pool.bench", "run_bench"),
    ("zswap_spec.kernel.build", "build_kernel"),
    ("zswap_spec.kernel.fetch", "resolve_kernel"),
    ("zswap_spec.cli.kernel_check", "resolve_kernel"),
    ("zswap_spec.kernel.script_env", "prepare"),
    ("zswap_spec.kernel.script_env", "ScriptEnv"),
    ("zswap_spec.cli.kernel_script", "run_script_check"),
]


class WorkStarted(Exception):
    pass


@pytest.fixture
def guarded(monkeypatch):
    """Every command's work replaced by a guard that raises WorkStarted."""
    import importlib

    def guard(*a, **k):
        raise WorkStarted("work started before the input was checked")

    for module, name in WORK:
        mod = importlib.import_module(module)
        if hasattr(mod, name):
            monkeypatch.setattr(mod, name, guard)
    old = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, old)


def call(argv, capsys):
    """Run the command in this process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as e:
        main(argv)
    out, err = capsys.readouterr()
    return e.value.code, out, err


def one_line(err: str) -> str:
    """The one line an error gives (notes the command said first, such as which
    implementation serves, aside)."""
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("zswap-spec: note: ")]
    assert len(lines) == 1, f"want one line on stderr, got:\n{err}"
    assert "Traceback" not in err
    return lines[0]


def run(args, *, env=None, timeout=120, **kw):
    cmd = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "zswap_spec"]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, **kw)


# --- exit codes: an internal error is never 1 -----------------------------------------

def _bug():
    raise RuntimeError("a bug")


def test_an_internal_error_exits_4_naming_the_saved_traceback(monkeypatch, capsys, tmp_path,
                                                              guarded):
    monkeypatch.setenv("ZSWAP_SPEC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("zswap_spec.cli.variants.print_variants", _bug)
    code, _, err = call(["variants"], capsys)
    assert code == 4
    line = one_line(err)
    assert "internal error" in line and "--debug" in line
    saved = Path(line.split("the traceback is in ", 1)[1].split(" ", 1)[0])
    assert saved.is_file() and saved.parent == tmp_path / "cache" / "crashes"
    assert "Traceback" in saved.read_text() and "argv:" in saved.read_text()


def test_debug_prints_the_traceback(monkeypatch, capsys, guarded):
    monkeypatch.setattr("zswap_spec.cli.variants.print_variants", _bug)
    code, _, err = call(["--debug", "variants"], capsys)
    assert code == 4
    assert "Traceback (most recent call last)" in err and "internal error" in err


def test_an_internal_error_in_a_work_function_is_4_not_1(capsys, guarded, tmp_path):
    """The guard's exception stands for any bug in a command's work: exit 4."""
    page = tmp_path / "page"
    page.write_bytes(bytes(4096))
    code, _, err = call(["replay", str(page)], capsys)
    assert code == 4 and "WorkStarted" in one_line(err)


# --- environment variables, the same for every command --------------------------------

@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("env", ["cache-is-file", "cache-empty", "cache-name-too-long",
                                 "impl-bogus"])
def test_every_command_checks_the_environment_first(command, env, monkeypatch, capsys, guarded,
                                                    tmp_path):
    if env == "cache-is-file":
        f = tmp_path / "f"
        f.write_text("x")
        monkeypatch.setenv("ZSWAP_SPEC_CACHE", str(f))
    elif env == "cache-empty":
        monkeypatch.setenv("ZSWAP_SPEC_CACHE", "")
    elif env == "cache-name-too-long":
        monkeypatch.setenv("ZSWAP_SPEC_CACHE", str(tmp_path / ("c" * 300)))
    else:
        monkeypatch.setenv("ZSWAP_SPEC_IMPL", "bogus")
    code, _, err = call(MINIMAL[command], capsys)
    line = one_line(err)
    assert code == 2, line
    assert ("ZSWAP_SPEC_CACHE" if env.startswith("cache") else "ZSWAP_SPEC_IMPL") in line


def test_a_home_folder_that_cannot_hold_the_cache_is_an_input_error(monkeypatch, capsys,
                                                                    guarded):
    monkeypatch.delenv("ZSWAP_SPEC_CACHE", raising=False)
    monkeypatch.setenv("HOME", "/etc/passwd")  # a file: no .cache folder below it
    code, _, err = call(["fuzz", "--budget", "1"], capsys)
    assert code == 2 and "ZSWAP_SPEC_CACHE" in one_line(err)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_works_whatever_the_environment(command, monkeypatch, capsys, guarded):
    monkeypatch.setenv("ZSWAP_SPEC_IMPL", "bogus")
    code, out, _ = call([command, "--help"], capsys)
    assert code == 0 and "Usage:" in out


# --- an option given twice, conflicting flags ------------------------------------------

@pytest.mark.parametrize("argv", [
    ["check", "--page-size", "4096", "--page-size", "16384"],
    ["script", "tests/kernel/scripts/pool-limit.toml", "--variant", "mainline", "--variant=v13"],
    ["kernel-fuzz", "--findings", "/etc/passwd", "--findings", "x"],
    ["fuzz", "--budget", "1", "--budget", "2"],
], ids=lambda a: a[0])
def test_an_option_that_takes_one_value_given_twice_is_refused(argv, capsys, guarded):
    code, _, err = call(argv, capsys)
    assert code == 2 and "more than once" in one_line(err)


@pytest.mark.parametrize("argv", [
    ["prove", "--json", "--long"],
    ["kernel-check", "--script", "tests/kernel/scripts/pool-limit.toml", "--zswap-max", "0"],
    ["kernel-check", "--script", "tests/kernel/scripts/pool-limit.toml", "--writeback", "both"],
    ["kernel-check", "--modules", "/tmp"],
    ["kernel-check", "--keep", ""],
    ["kernel-fuzz", "--findings", ""],
], ids=lambda a: " ".join(a[:3]))
def test_conflicting_or_empty_options_are_refused(argv, capsys, guarded):
    code, _, err = call(argv, capsys)
    assert code == 2, one_line(err)
    one_line(err)


# --- numbers: finite and in range, refused before any work ----------------------------

HUGE_OK = {"zswap_max", "total_ram_pages"}


def _numeric_cases():
    cases = []
    for name in COMMANDS:
        for p in cli.commands[name].params:
            if not isinstance(p, click.Option) or p.is_flag or p.name == "seed":
                continue
            base = getattr(p.type, "name", "")
            if "float" in base:
                bad = ["nan", "inf", "-inf", "1e300", "-1"]
            elif "integer" in base:
                # memory.zswap.max and a machine's pages take any size a kernel does
                bad = ["-1"] + ([] if p.name in HUGE_OK else [str(10 ** 12)])
            else:
                continue
            for value in bad:
                cases.append(pytest.param(name, p.opts[0], value, id=f"{name} {p.opts[0]} {value}"))
    return cases


NUMERIC = _numeric_cases()


def test_the_number_matrix_covers_every_numeric_option():
    names = {(c.values[0], c.values[1]) for c in NUMERIC}
    assert ("fuzz", "--budget") in names and ("check-driver", "--call-timeout") in names
    assert ("kernel-check", "--timeout") in names and ("prove", "--jobs") in names
    assert len(names) >= 20, sorted(names)


@pytest.mark.parametrize("command,option,value", NUMERIC)
def test_a_number_out_of_range_is_refused_before_work(command, option, value, capsys, guarded):
    code, _, err = call(MINIMAL[command] + [option, value], capsys)
    line = one_line(err)
    assert code == 2, line
    assert option in line or value in line, line


# --- output paths: checked before the work whose results they hold --------------------

def _outputs(tmp_path):
    afile = tmp_path / "a-file"
    afile.write_text("x")
    adir = tmp_path / "a-dir"
    adir.mkdir()
    missing_parent = tmp_path / "no" / "such" / "folder" / "out.xml"
    index_is_a_folder = tmp_path / "findings"
    (index_is_a_folder / "campaigns.json").mkdir(parents=True)
    return [
        (["fuzz", "--budget", "1", "--findings", str(afile)], "--findings"),
        (["kernel-fuzz", "--budget", "10", "--findings", str(afile)], "--findings"),
        (["kernel-check", "--keep", str(afile)], "--keep"),
        (["check-driver", "builtin:lz4", "--junit", str(adir)], "--junit"),
        (["check-driver", "builtin:lz4", "--junit", str(missing_parent)], "--junit"),
        (["check-driver", "builtin:lz4", "--reproducers", str(afile)], "--reproducers"),
        (["fuzz", "--budget", "1", "--findings", str(index_is_a_folder)], "--findings"),
    ]


def test_every_output_path_is_checked_before_work(tmp_path, capsys, guarded):
    for argv, option in _outputs(tmp_path):
        code, _, err = call(argv, capsys)
        line = one_line(err)
        assert code == 2 and option in line, (argv, line)


def test_prove_refuses_an_unwritable_manifest_before_proving(tmp_path, capsys, guarded,
                                                            monkeypatch):
    monkeypatch.setattr("zswap_spec.proofs.manifest.MANIFEST", tmp_path / "a-dir")
    (tmp_path / "a-dir").mkdir()
    code, _, err = call(["prove", "--update-manifest"], capsys)
    assert code == 2 and "--update-manifest" in one_line(err)
    monkeypatch.setattr("zswap_spec.proofs.catalogue.SPEC_PATH", tmp_path / "spec.md")
    (tmp_path / "spec.md").write_text("# a spec without its generated section\n")
    code, _, err = call(["prove", "--update-spec"], capsys)
    assert code == 2 and "generated proofs section" in one_line(err)


def test_prove_refuses_a_partial_spec_update(capsys, guarded):
    code, _, err = call(["prove", "--variant", "mainline", "--assume", "strict", "--update-spec"],
                        capsys)
    assert code == 2 and "--update-spec needs every variant" in one_line(err)


def test_check_refuses_to_replace_a_malformed_manifest(tmp_path, capsys, guarded, monkeypatch):
    """A manifest that does not load holds other page sizes' entries: never replaced."""
    bad = tmp_path / "expected-check.toml"
    bad.write_text("this is [not toml\n")
    monkeypatch.setattr("zswap_spec.cli.check.MANIFEST_PATH", bad)
    code, _, err = call(["check", "--update-manifest"], capsys)
    assert code == 2 and "not replaced" in one_line(err)
    assert bad.read_text() == "this is [not toml\n"


def test_a_folder_given_as_kernel_image_is_named_a_folder(tmp_path):
    from zswap_spec.kernel import fetch

    with pytest.raises(fetch.KernelError, match="is a folder"):
        fetch.kernel_from_path(tmp_path)


# --- standard output: closed, full, not UTF-8 -----------------------------------------

STDOUT_COMMANDS = [["variants"], ["replay", "tests/data/guest-7.3.4-lz4.pages", "--variant", "mainline"],
                   ["script", "tests/kernel/scripts/pool-limit.toml"]]


@pytest.mark.parametrize("argv", STDOUT_COMMANDS, ids=lambda a: a[0])
def test_a_full_standard_output_is_one_line_and_exit_2(argv):
    repo = Path(__file__).resolve().parents[2]
    with open("/dev/full", "w") as full:
        p = subprocess.run([str(SCRIPT)] + argv, stdout=full, stderr=subprocess.PIPE, text=True,
                           timeout=120, cwd=repo)
    assert p.returncode == 2, p.stderr
    assert "cannot write to standard output" in one_line(p.stderr)


@pytest.mark.parametrize("argv", STDOUT_COMMANDS, ids=lambda a: a[0])
def test_a_closed_standard_output_is_one_line_and_exit_2(argv):
    repo = Path(__file__).resolve().parents[2]
    p = subprocess.run([str(SCRIPT)] + argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       text=True, timeout=120, cwd=repo,
                       preexec_fn=lambda: os.close(1))
    assert p.returncode == 2, p.stderr
    assert "standard output is closed" in one_line(p.stderr)


def test_a_reader_that_closes_the_pipe_is_one_line_and_exit_2():
    p = subprocess.Popen([str(SCRIPT), "variants"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    p.stdout.close()  # the reader is gone before anything was written
    err = p.stderr.read()
    assert p.wait(timeout=60) == 2, err
    assert "cannot write to standard output" in one_line(err)


def test_an_ascii_terminal_gets_escapes_not_an_error():
    repo = Path(__file__).resolve().parents[2]
    p = run(["script", "tests/kernel/scripts/pool-limit.toml"], cwd=repo,
            env={"PYTHONIOENCODING": "ascii", "LANG": "C", "LC_ALL": "C"})
    assert p.returncode in (0, 1), p.stderr
    assert "Traceback" not in p.stderr


# --- interrupts: one line, exit 130, no process left ----------------------------------

@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_prove_stops_within_2_s_of_an_interrupt_and_leaves_no_process(sig):
    cmd = [str(SCRIPT), "prove", "--jobs", "2"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while len(descendants(p.pid)) < 3 and time.monotonic() < deadline:  # fork server + 2
        time.sleep(0.2)
    time.sleep(1)  # the workers are proving
    kids = descendants(p.pid)
    assert len(kids) >= 3, "prove started no worker processes"
    p.send_signal(sig)
    t0 = time.monotonic()
    out, err = p.communicate(timeout=30)
    took = time.monotonic() - t0
    assert p.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert took < 2.5, f"stopped {took:.1f} s after the signal"
    assert not wait_gone(kids), "worker processes outlived the command"


def test_the_readme_lists_every_exit_code():
    from zswap_spec.cli import errors

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("### Exit codes", 1)[1].split("\n\n## ", 1)[0]
    listed = {int(line.split("|")[1]) for line in table.splitlines()
              if line.startswith("| ") and line.split("|")[1].strip().isdigit()}
    codes = {v for k, v in vars(errors).items() if k.startswith("EXIT_")}
    assert listed == codes, (listed, codes)


@pytest.mark.parametrize("delay", [1.0, 1.5, 2.0])
def test_ctrl_c_at_a_terminal_reaches_every_process_and_prints_one_line(delay):
    """A terminal sends Ctrl-C to the whole process group, the fork server and the
    workers starting included: still one line, exit 130."""
    p = subprocess.Popen([str(SCRIPT), "prove"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    time.sleep(delay)
    os.killpg(p.pid, signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert one_line(err) == "zswap-spec: interrupted"


@pytest.mark.parametrize("argv", [["prove", "--jobs", "2"],
                                  ["check-driver", "builtin:lz4", "builtin:zstd", "--jobs", "2"]],
                         ids=lambda a: a[0])
def test_no_process_outlives_a_command_killed_with_sigkill(argv):
    """SIGKILL gives the command no chance to stop anything: its workers (children of
    the fork server, which waits for them) must notice on their own."""
    p = subprocess.Popen([str(SCRIPT), *argv], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while len(descendants(p.pid)) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)
    kids = descendants(p.pid)
    assert len(kids) >= 3, "no workers started"
    p.kill()
    p.wait()
    left = wait_gone(kids, 10)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"{len(left)} of {len(kids)} processes outlived the command"


@pytest.mark.parametrize("argv", [["replay", "/dev/zero", "--variant", "mainline", "--json"],
                                  ["fuzz", "--workers", "2", "--budget", "60", "--json"]],
                         ids=lambda a: a[0])
def test_a_second_interrupt_does_not_cut_the_results_short(argv, tmp_path):
    import json

    p = subprocess.Popen([str(SCRIPT), *argv, *(["--findings", str(tmp_path)] if argv[0] == "fuzz"
                                                 else [])],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(6)
    for _ in range(3):
        p.send_signal(signal.SIGINT)
        time.sleep(0.02)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines[-1].startswith("zswap-spec: interrupted") and "Traceback" not in err, err
    assert len(lines) <= 2  # a note on the implementation may come first
    assert json.loads(out)["interrupted"] is True


@pytest.mark.parametrize("argv, words", [
    (["check-driver", "builtin:lz4", "--header-dir"], "--header-dir and"),
    (["check-driver", "--list", "--json"], "--list and --json"),
    (["replay", "-"], "/dev/stdin"),
    (["replay", "/dev/zero", "/dev/zero"], "given twice"),
], ids=lambda a: " ".join(a) if isinstance(a, list) else "")
def test_modes_and_inputs_that_cannot_be_combined(argv, words, capsys, guarded):
    code, _, err = call(argv, capsys)
    assert code == 2 and words in one_line(err)


def test_control_characters_in_a_name_are_shown_escaped(capsys, guarded):
    code, _, err = call(["replay", "no\nsuch\x1b[31mRED.bin"], capsys)
    assert code == 2
    assert "\x1b" not in err and "\\x1b[31m" in one_line(err)


@pytest.fixture
def small_disk(tmp_path):
    """A 64 KiB file system, one 4 KiB page of it free (a tmpfs: needs root)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        (mnt / "fill").write_bytes(bytes(15 * 4096))
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_a_full_disk_is_refused_before_work_and_one_filling_up_loses_no_finding(small_disk):
    (small_disk / "fill2").write_bytes(bytes(4096))  # now full
    p = run(["check-driver", "builtin:lz4", "--junit", str(small_disk / "j.xml")])
    assert p.returncode == 2 and "No space left" in one_line(p.stderr)
    (small_disk / "fill2").unlink()  # one page free: room for one finding, not the rest
    p = run(["fuzz", "--faults", "all", "--variant", "v14", "--budget", "12", "--json",
             "--findings", str(small_disk / "f")])
    assert p.returncode == 1, p.stderr
    assert "Traceback" not in p.stderr and "campaigns.json: not written" in p.stderr
    import json

    findings = [f for r in json.loads(p.stdout)["runs"] for f in r["findings"]]
    saved = [f for f in findings if f["reproducer"].endswith(".py")]
    assert findings and len(findings) > len(saved), "the disk was not filled"
    for f in saved:
        assert Path(f["reproducer"]).stat().st_size > 0
    assert all(f["reproducer"].startswith("not saved") for f in findings if f not in saved)
