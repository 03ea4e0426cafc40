"""`zswap-spec kernel-build`: a kernel built from source, with patches, into the cache."""

from __future__ import annotations

import json
import sys

import click

from .errors import EXIT_UNCHECKED, InputError


@click.command("kernel-build")
@click.option("--source", default="debian:7.3", show_default=True,
              help="debian:SERIES (Debian's linux-source package, fetched and cached), a "
                   "kernel tarball or an unpacked kernel tree (never written to).")
@click.option("--patch", "patches", multiple=True, type=click.Path(),
              help="A patch file applied with `patch -p1 --fuzz=0`: a diff or an mbox of "
                   "a whole series, mail by mail (repeatable; applied in order).")
@click.option("--config", default="minimal", show_default=True,
              help="minimal (tinyconfig and kernel/minimal.config) or a full .config file.")
@click.option("--jobs", type=click.IntRange(1, 64), default=None,
              help="Parallel compile jobs (default: cores).")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"key", "image", "release", "seconds", "cached", ...} as JSON.')
def kernel_build(source, patches, config, jobs, as_json) -> None:
    """Build a Linux kernel with patches into the cache; boot it with
    `zswap-spec kernel-check --kernel built:KEY`."""
    from zswap_spec.kernel.build import KernelBuildError, build_kernel, duration_text

    with _progress() as say:
        try:
            built = build_kernel(source, patches=list(patches), config=config, jobs=jobs,
                                 progress=say)
        except KernelBuildError as e:
            if e.kind != "build":
                raise InputError(str(e)) from None
            click.echo(f"zswap-spec: error: {e}", err=True)
            sys.exit(EXIT_UNCHECKED)
    if as_json:
        click.echo(json.dumps(built.to_json(), indent=2))
        return
    what = built.source + "".join(f" + {p}" for p, _ in built.patches)
    took = "cached" if built.cached else f"built in {duration_text(built.seconds)}"
    click.echo(f"{what} ({built.config_name}): Linux {built.release}, {took}\n"
               f"key:   {built.key}\n"
               f"image: {built.image}\n"
               f"log:   {built.log}\n"
               f"use it: zswap-spec kernel-check --kernel {built.name}")


class _progress:
    """A status line on stderr at a terminal: the phase now under way, and a line
    kept for each phase that ended ("configured in 11 s").  Silent elsewhere."""

    def __enter__(self):
        self.status = None
        if sys.stderr.isatty():
            from rich.console import Console

            self.console = Console(stderr=True, highlight=False)
            self.status = self.console.status("starting")
            self.status.start()
        return self.say

    def say(self, msg: str) -> None:
        if self.status is None:
            return
        if msg.startswith("built "):
            return  # the summary below says it
        if " in " in msg and not msg.startswith(("compiling", "waiting")):
            self.console.print(msg)
        else:
            self.status.update(msg)

    def __exit__(self, *exc):
        if self.status is not None:
            self.status.stop()
        return False
