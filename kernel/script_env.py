"""Everything a script run needs besides the script: the kernel, the model's
compressors, the page corpus, and how to boot a guest session.  A plain
value (`ScriptEnv`), so a campaign can be handed to another process and set
up there."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ScriptEnv", "prepare", "fit_algorithms"]

# The compressors whose exact-fit pages every corpus holds, whichever a run
# loads: the corpus (and its digest, kept with every recorded trace) is then
# the same for every run on one host.
FIT_COMPRESSORS = ("lz4", "lz4hc", "zstd", "deflate")


def fit_algorithms(algs: dict) -> dict:
    return {c: algs[c] for c in FIT_COMPRESSORS if c in algs}


@dataclass(frozen=True)
class ScriptEnv:
    kernel: str  # debian:VERSION or an image path
    compressors: tuple[str, ...]  # every compressor the guest loads
    workdir: Path
    modules: str | None = None
    model_compressor: str = "auto"  # auto | kernel | library
    kernel_source: str | None = None
    variant: str = "mainline"
    memory_mib: int = 256
    timeout: float = 60.0  # seconds one command may take before the guest counts as hung
    files: tuple[Path, ...] = field(default=())  # pages from files (content = "file")


def prepare(env: ScriptEnv, note=lambda msg: None):
    """(start_session, make_model, exact_sizes, corpus) for `env`.

    `start_session()` boots a fresh guest and returns the started session;
    `make_model(script, start_cursor)` a fresh model run for that guest."""
    from .fetch import resolve_kernel
    from .guest import needed_modules
    from .run import model_algorithms
    from .script import Corpus
    from .script_model import ScriptModel
    from .session import GuestSession

    tree = resolve_kernel(env.kernel, env.modules, progress=note)
    for c in env.compressors:
        needed_modules(tree, c)  # a kernel that lacks one fails here, before booting
    algs, exact = model_algorithms(tree, env.model_compressor,
                                   Path(env.kernel_source) if env.kernel_source else None, note)
    corpus = Corpus.build(fit_algorithms(algs), files=list(env.files))
    state = {"boots": 0, "totalram": None}

    def start_session():
        state["boots"] += 1
        workdir = env.workdir / f"boot-{state['boots']}"
        session = GuestSession(tree, corpus=corpus, compressors=list(env.compressors),
                               workdir=workdir, memory_mib=env.memory_mib,
                               command_timeout=env.timeout)
        session.start()
        state["totalram"] = session.totalram_pages
        return session

    def make_model(script, cursor):
        return ScriptModel(compressor=script.compressor, algorithms=algs,
                           total_ram_pages=state["totalram"], corpus=corpus, base=script.base,
                           variant=env.variant, start_cursor=cursor)

    return start_session, make_model, exact, corpus
