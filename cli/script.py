"""`zswap-spec script`: A workload script on the model alone, step by step."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .errors import InputError

PAGE_SIZE = 4096  # the only page size scripts have (kernel/script.py)
# A 256 MiB guest (the script guest's size) shows about this many pages in
# totalram_pages(); the pool limit is max_pool_percent of it.
DEFAULT_TOTAL_RAM_PAGES = 60000


@click.command()
@click.argument("file", type=click.Path())
@click.option("--json", "as_json", is_flag=True,
              help='Print {"script": FILE, "steps": [{"step", "op", "record"}]} as JSON.')
@click.option("--compressor-source", type=click.Choice(["library", "kernel"]),
              default="library", show_default=True,
              help="The model's compressors: the user-space libraries, or Linux 7.3's own code "
                   "built from its source (exact sizes; lzo and lzo-rle too).")
@click.option("--kernel-source", type=click.Path(),
              help="With --compressor-source kernel: a kernel source tarball or tree "
                   "(default: Debian's linux-source-7.3, downloaded once into the cache).")
@click.option("--total-ram-pages", type=click.IntRange(1, 1 << 40),
              default=DEFAULT_TOTAL_RAM_PAGES, show_default=True,
              help="totalram_pages() of the machine modelled (about 60000 in a 256 MiB guest); "
                   "the pool limit is max_pool_percent of it.")
@click.option("--variant", default="mainline", show_default=True,
              help="The model variant whose store path runs.")
def script(file, as_json, compressor_source, kernel_source, total_ram_pages, variant) -> None:
    """Run the workload script FILE (spec/script-format.md) on the model; print each step."""
    from zswap_spec.kernel.script import Corpus, ScriptError, load_script
    from zswap_spec.kernel.script_model import NotModelled, ScriptModel
    from zswap_spec.model.variants import VARIANTS
    from zswap_spec.support.interrupts import reported_on_interrupt

    from .options import check_names

    check_names("variant", [variant], VARIANTS)
    try:
        parsed = load_script(Path(file))
    except ScriptError as e:
        raise InputError(str(e)) from None
    algorithms = _algorithms(compressor_source, kernel_source, parsed, file)
    try:
        corpus = Corpus.build(algorithms, files=parsed.files())
        model = ScriptModel(compressor=parsed.compressor, algorithms=algorithms,
                            total_ram_pages=total_ram_pages, corpus=corpus, base=parsed.base,
                            variant=variant, start_cursor=parsed.start_cursor)
        steps = [{"step": 0, "op": "start", "record": model.start_record()}]
        stopped = None
        # An interrupt prints the steps done, as a step the model cannot run does.
        with reported_on_interrupt(lambda e: _output(file, steps, model, as_json,
                                                      interrupted=len(parsed.steps))):
            for n, step in enumerate(parsed.steps, 1):
                try:
                    steps.append({"step": n, "op": step.op, "record": model.step(step)})
                except NotModelled as e:
                    stopped = e
                    break
    except NotModelled as e:
        raise InputError(f"{file}: {e}") from None
    except ScriptError as e:  # a content kind whose pages the corpus lacks
        raise InputError(str(e)) from None
    _output(file, steps, model, as_json)
    if stopped is not None:
        raise InputError(f"{file}: {stopped}; the steps before it are printed")
    if model.violations:
        from .errors import EXIT_FINDINGS

        click.echo(f"the model broke its own invariants: {model.violations[0].message}", err=True)
        raise SystemExit(EXIT_FINDINGS)


def _algorithms(source: str, kernel_source, parsed, file: str) -> dict:
    """The compressors by name: the library's, or the kernel's over them."""
    from zswap_spec.model.compressors import ALGORITHMS

    algorithms = dict(ALGORITHMS)
    if source == "kernel":
        from zswap_spec.kernel.kcomp import KernelCompressorError
        from zswap_spec.kernel.tree import KernelError

        try:
            from zswap_spec.kernel.kcomp_load import kernel_algorithms

            if kernel_source is None:
                from zswap_spec.kernel.fetch import fetch_debian_source

                click.echo("note: using Debian's linux-source-7.3 for the kernel's compressors",
                           err=True)
                src = fetch_debian_source("7.3")
            else:
                src = Path(kernel_source)
            algorithms.update(kernel_algorithms(src))
        except (KernelCompressorError, KernelError, OSError) as e:
            raise InputError(f"--compressor-source kernel: {e}") from None
    elif kernel_source is not None:
        raise InputError("--kernel-source: only with --compressor-source kernel")
    named = [parsed.compressor] + [s.args["value"] for s in parsed.steps
                                   if s.op == "param" and s.args["name"] == "compressor"]
    named += [s.args["fit_for"] for s in parsed.steps if "fit_for" in s.args]
    missing = [c for c in dict.fromkeys(named) if c not in algorithms]
    if missing:
        hint = "" if source == "kernel" else " (try --compressor-source kernel)"
        raise InputError(f"{file}: the model has no compressor {', '.join(missing)}{hint}; "
                         f"it has {', '.join(sorted(algorithms))}")
    return algorithms


def _changes(prev: dict, rec: dict) -> str:
    """The debugfs counters and vmstat events that moved, with their new values."""
    out = []
    for source in ("counter", "vmstat", "worker"):
        for name, value in rec[source].items():
            old = prev[source].get(name, 0)
            if value != old:
                label = {"vmstat": f"vm.{name}", "worker": "worker_runs"}.get(source, name)
                out.append(f"{label} {value} ({value - old:+d})")
    return ", ".join(out) or "-"


def _cgroups(rec: dict) -> str:
    """Each cgroup's zswap figures: stored bytes, pages (zswapped), events."""
    out = []
    for path, m in rec["memcg"].items():
        if any(m.values()):
            out.append(f"{path}: {m['zswap']}B/{m['zswapped'] // PAGE_SIZE}p "
                       f"out {m['zswpout']} in {m['zswpin']} wb {m['zswpwb']}")
    return "; ".join(out) or "-"


def _regions(rec: dict) -> str:
    return "; ".join(f"{name} {r['swapped']}/{r['pages']} swapped"
                     for name, r in rec["regions"].items()) or "-"


def _output(file: str, steps: list[dict], model, as_json: bool, interrupted: int = 0) -> None:
    """The steps run: JSON, or the trace.  `interrupted`: the script's number of steps,
    when an interrupt stopped the run before them all."""
    if as_json:
        doc = {"script": file, "steps": steps}
        if interrupted:
            doc["interrupted"] = True
        click.echo(json.dumps(doc, indent=1))
        return
    _print_trace(file, steps, model)
    if interrupted:
        from zswap_spec.support.console import console

        console.print(f"interrupted after step {len(steps) - 1} of {interrupted}; "
                      f"the steps before it are printed", soft_wrap=True)


COLUMNS = ("step", "op", "changed", "cgroups", "regions")
# rich lays a table out at about 2 ms a row; a longer trace prints as plain columns
# (a trace printed after an interrupt must not take seconds).
RICH_ROWS = 300


def _print_trace(file: str, steps: list[dict], model) -> None:
    from rich import box
    from rich.table import Table

    from zswap_spec.support.console import console

    title = (f"{file} on the model (counters that changed, new value and change; "
             f"per cgroup: zswap bytes / pages, zswpout, zswpin, zswpwb)")
    rows, prev = [], steps[0]["record"]
    for s in steps[1:]:
        rec = s["record"]
        rows.append((str(s["step"]), s["op"], _changes(prev, rec), _cgroups(rec), _regions(rec)))
        prev = rec
    if len(rows) > RICH_ROWS:
        click.echo("\n".join(_plain_table(title, rows, console.width)))
    else:
        table = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False)
        for col in COLUMNS:
            table.add_column(col, justify="right" if col == "step" else "left",
                             overflow="fold")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    last = steps[-1]["record"]["counter"]
    console.print(f"{len(steps) - 1} steps; pool {last['pool_total_size']} bytes, "
                  f"{last['stored_pages']} pages stored; --json gives every record")


def _plain_table(title: str, rows: list[tuple[str, ...]], width: int) -> list[str]:
    """The trace's columns as lines of at most `width` characters: the widest columns
    narrowed first, a cell longer than its column folded onto the next lines."""
    import textwrap

    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(COLUMNS)]
    excess = sum(widths) + len(widths) - 1 - width
    while excess > 0:
        i = max(range(len(widths)), key=widths.__getitem__)
        others = max(w for j, w in enumerate(widths) if j != i)
        cut = min(excess, widths[i] - max(len(COLUMNS[i]), 12), max(1, widths[i] - others))
        if cut <= 0:
            break
        widths[i] -= cut
        excess -= cut

    def line(cells) -> str:
        return " ".join(c.rjust(w) if i == 0 else c.ljust(w)
                        for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    out = [textwrap.fill(title, width), line(COLUMNS), " ".join("-" * w for w in widths)]
    for row in rows:
        parts = [textwrap.wrap(c, w, break_on_hyphens=False) or [""]
                 for c, w in zip(row, widths)]
        for k in range(max(map(len, parts))):
            out.append(line([p[k] if k < len(p) else "" for p in parts]))
    return out
