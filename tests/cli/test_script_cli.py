"""`zswap-spec script FILE`: a workload script on the model, run as a user runs it."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).with_name("zswap-spec")
ROOT = Path(__file__).resolve().parents[2]

GOOD = """format = "zswap-spec-script/1"
[[step]]
op = "mkcg"
path = "a"
[[step]]
op = "enter"
path = "a"
[[step]]
op = "store"
region = "r1"
pages = 8
content = "text"
[[step]]
op = "load"
region = "r1"
"""


def run(*args, timeout=300):
    cmd = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "zswap_spec"]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout)


def test_json_gives_every_record_from_the_start(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(GOOD)
    p = run("script", str(path), "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["script"] == str(path)
    assert [(s["step"], s["op"]) for s in doc["steps"]] == [(0, "start"), (1, "mkcg"),
                                                            (2, "enter"), (3, "store"),
                                                            (4, "load")]
    rec = doc["steps"][3]["record"]
    assert set(rec) == {"counter", "vmstat", "memcg", "regions", "worker"}
    assert rec["vmstat"]["zswpout"] == 8 and rec["memcg"]["/a"]["zswpout"] == 8
    assert doc["steps"][4]["record"]["regions"]["r1"] == {"pages": 8, "swapped": 0,
                                                          "resident": 8}


def test_the_table_shows_what_changed_per_step(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(GOOD)
    p = run("script", str(path))
    assert p.returncode == 0, p.stderr
    assert "stored_pages 8 (+8)" in p.stdout and "vm.zswpin 8 (+8)" in p.stdout
    assert "r1 8/8 swapped" in p.stdout and "4 steps" in p.stdout


def test_the_pool_limit_script_runs(tmp_path):
    p = run("script", str(ROOT / "tests" / "kernel" / "scripts" / "pool-limit.toml"), "--json")
    assert p.returncode == 0, p.stderr
    last = json.loads(p.stdout)["steps"][-2]["record"]
    assert last["counter"]["pool_limit_hit"] > 0 and last["counter"]["written_back_pages"] > 0


@pytest.mark.parametrize("text,needle", [
    (GOOD.replace("pages = 8", "pages = 9000"), "step 3: field pages: 9000 is out of range"),
    (GOOD.replace('op = "load"', 'op = "read"'), "step 4: field op: 'read' is not an operation"),
    (GOOD.replace('path = "a"\n[[step]]\nop = "store"', 'path = "b"\n[[step]]\nop = "store"'),
     "step 2: field path: cgroup 'b' does not exist"),
    ('format = "x"\n', "field format"),
])
def test_a_malformed_script_is_an_input_error_naming_file_step_and_field(tmp_path, text, needle):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    p = run("script", str(path))
    assert p.returncode == 2, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"zswap-spec: error: {path}: "), p.stderr
    assert needle in lines[0] and p.stdout == ""


def test_a_step_the_model_cannot_predict_stops_the_trace_with_exit_2(tmp_path):
    path = tmp_path / "partial.toml"
    path.write_text(GOOD + '[[step]]\nop = "reclaim"\npath = "a"\nbytes = 4096\n')
    p = run("script", str(path), "--json")
    assert p.returncode == 2
    assert "step 5 (reclaim): not modelled" in p.stderr
    assert [s["op"] for s in json.loads(p.stdout)["steps"]][-1] == "load"


def test_a_compressor_the_library_lacks_is_named_with_the_fix(tmp_path):
    path = tmp_path / "lzo.toml"
    path.write_text(GOOD.replace('format = "zswap-spec-script/1"',
                                 'format = "zswap-spec-script/1"\n[start]\ncompressor = "lzo"'))
    p = run("script", str(path))
    assert p.returncode == 2
    assert "the model has no compressor lzo (try --compressor-source kernel)" in p.stderr
