"""`zswap-spec kernel-check --script`: workload scripts on a kernel and on the
model (the part of the `kernel-check` command that runs scripts)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from .errors import EXIT_CLEAN, EXIT_FINDINGS, InputError

__all__ = ["run_script_check"]


def run_script_check(paths, *, kernel_spec, modules, variant, model_compressor, kernel_source,
                     timeout, keep, as_json) -> None:
    from zswap_spec.kernel.script import ScriptError
    from zswap_spec.kernel.script_check import check_scripts, compressors_of, load_scripts
    from zswap_spec.kernel.script_env import ScriptEnv
    from zswap_spec.kernel.tree import KernelError
    from zswap_spec.support.cache import cache_dir

    try:
        scripts = load_scripts([Path(p) for p in paths])  # all checked before any boot
    except ScriptError as e:
        raise InputError(str(e)) from None
    files = tuple(sorted({f for s in scripts for f in s.files()}))
    work = Path(keep) if keep else cache_dir() / "runs" / time.strftime("%Y%m%d-%H%M%S")
    env = ScriptEnv(kernel=kernel_spec, compressors=tuple(compressors_of(scripts)),
                    workdir=work, modules=modules, model_compressor=model_compressor,
                    kernel_source=kernel_source, variant=variant,
                    timeout=min(timeout, 600.0), files=files)
    note = lambda msg: click.echo(f"note: {msg}", err=True)  # noqa: E731
    try:
        results = check_scripts(scripts, env, note)
    except (KernelError, ScriptError) as e:
        raise InputError(str(e)) from None
    rows = []
    for path, res in zip(paths, results):
        rows.append({"script": str(path), **res.to_json(), "agree": res.agree
                     and res.not_compared is None})
    if as_json:
        click.echo(json.dumps({"kernel": kernel_spec, "scripts": rows, "log_folder": str(work)},
                              indent=2))
    else:
        from zswap_spec.support.console import console

        for row in rows:
            verdict = "agree" if row["agree"] else (
                "NOT COMPARED" if not row["disagreements"] else "DISAGREE")
            console.print(f"{row['script']}: {verdict} ({row['steps']} steps, "
                          f"{row['seconds']} s)")
            for d in row["disagreements"]:
                console.print(f"  step {d['step']} {d['op']}: {d['field']}"
                              f"{' ' + d['cgroup'] if d['cgroup'] else ''}: kernel {d['kernel']}, "
                              f"model {d['model']}")
            if row["not_compared"]:
                console.print(f"  not compared: {row['not_compared']}")
        console.print(f"traces and serial logs in {work}")
    sys.exit(EXIT_CLEAN if all(r["agree"] for r in rows) else EXIT_FINDINGS)
