"""`zswap-spec kernel-check --script`: given scripts on one guest and on the
model, every step compared (see script_run for what and how)."""

from __future__ import annotations

from pathlib import Path

from .script import Script, load_script, parse_script
from .script_env import ScriptEnv, prepare
from .script_run import ScriptResult, ScriptRunner, save_reproducer

__all__ = ["load_scripts", "compressors_of", "check_scripts", "PARK_AT_ROOT"]

# Leaves the shrink worker's cursor at the root cgroup on a guest where it is
# at NULL (a fresh boot): the pool is filled from the root cgroup alone, so the
# worker's walk starts at the root (NULL's successor), writes back from the
# root's LRU until the pool is under the threshold, and stops there.  The
# model checks that it does (`next_cursor`).  Used before a reproducer whose
# [start] says shrink_cursor = "root".
PARK_AT_ROOT = """
format = "zswap-spec-script/1"
description = "leave the pool shrink worker's cursor at the root cgroup"
[[step]]
op = "param"
name = "max_pool_percent"
value = 1
[[step]]
op = "store"
region = "fill"
pages = 768
content = "mostly-random"
seed = 1
[[step]]
op = "free"
region = "fill"
"""


def load_scripts(paths: list[Path]) -> list[Script]:
    """Every script checked before anything boots (ScriptError names the problem)."""
    return [load_script(Path(p)) for p in paths]


def compressors_of(scripts: list[Script]) -> list[str]:
    """The compressors the guest must load for these scripts."""
    out = []
    for s in scripts:
        out.append(s.compressor)
        for step in s.steps:
            if step.op == "param" and step.args["name"] == "compressor":
                out.append(step.args["value"])
            if "fit_for" in step.args:
                out.append(step.args["fit_for"])
    return list(dict.fromkeys(out))


def check_scripts(scripts: list[Script], env: ScriptEnv, note=lambda m: None) -> list[ScriptResult]:
    """Run `scripts` in order on one guest, and on the model; one result each.

    A guest that dies is rebooted for the next script; the script it was
    running gets the error as `not_compared`.  Each script's run is kept in
    `env.workdir/NN-NAME/` (the script as it ran, both traces, the
    disagreements, the serial log)."""
    from .session import GuestDied

    start_session, make_model, exact, corpus = prepare(env, note)
    digest = corpus.digest()
    results: list[ScriptResult] = []
    session = runner = None
    try:
        for script in scripts:
            if session is not None and runner.needs_fresh_guest:
                session.close()
                session = None
            if session is None:
                session = start_session()
                runner = ScriptRunner(session, make_model, exact_sizes=exact)
            try:
                if script.start_cursor == "root" and runner.cursor != "root":
                    park = parse_script(PARK_AT_ROOT, "park-at-root")
                    park.compressor = script.compressor
                    pre = runner.run(park)
                    if runner.cursor != "root" or not pre.agree:
                        note("could not leave the shrink cursor at the root cgroup first; "
                             "the script runs from where it is")
                res = runner.run(script)
                results.append(res)
                save_reproducer(env.workdir / f"{len(results):02d}-{script.name}", res,
                                kernel=env.kernel, corpus_digest=digest,
                                serial_log=session.log_path)
            except GuestDied as e:
                res = ScriptResult(script)
                res.not_compared = str(e)
                results.append(res)
                session.close()
                session = None
    finally:
        if session is not None:
            session.close()
    return results

