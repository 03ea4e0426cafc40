"""`zswap-spec kernel-check`: boot a kernel once per configuration, run the
page stream, predict the same run with the model, compare.

Configurations (compressor x writeback x zswap.max) boot in parallel, up to
the number of cores.  Every serial log is kept in the run folder, so a
panic or a hang leaves what the guest printed, and the parsed records are
reported with the error.

A run with a global pool limit (`max_pool_percent`) boots a smaller guest
(POOL_LIMIT_MEMORY_MIB) so a modest `poolfill` group fills the pool past
its limit, pages out one folio per call, and lets the pool shrink worker
finish after each (see probe.c).  The model is given the guest's own
totalram_pages(), read from the log, so it is run after the boot.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from zswap_spec.model.compressors import ALGORITHMS
from .compare import compare, predict
from zswap_spec.support.cache import cache_dir
from .guest import boot, build_initramfs, needed_modules
from .logparse import LogError, parse_log
from .streams import POOL_FILL_MAX_PAGES, Stream, add_pool_fill, builtin_stream, file_groups, \
    pool_fill_pages
from .tree import KernelError, KernelTree

__all__ = ["RunSpec", "RunReport", "run_checks", "model_algorithms", "DEFAULT_MEMORY_MIB",
           "POOL_LIMIT_MEMORY_MIB"]

DEFAULT_MEMORY_MIB = 1024
# A pool-limit run's guest: small, so 1 % of its memory is a few hundred pages.
POOL_LIMIT_MEMORY_MIB = 256


@dataclass(frozen=True)
class RunSpec:
    compressor: str
    writeback: bool
    zswap_max: int | None = None
    max_pool_percent: int | None = None  # zswap's module parameter; None: the kernel's 20
    accept_threshold: int | None = None  # accept_threshold_percent; None: the kernel's 90
    # A seeded bug switched on (zswap.seeded_bug=NAME on the command line of a kernel built
    # with kernel/patches/seeded-bugs-7.3.patch); its run is also compared with the model
    # variant making the same change (seeded-NAME).  "" : that kernel with none switched on.
    seeded: str | None = None

    @property
    def pool_limit(self) -> bool:
        """A run that fills the pool past its global limit."""
        return self.max_pool_percent is not None

    @property
    def memory_mib(self) -> int:
        return POOL_LIMIT_MEMORY_MIB if self.pool_limit else DEFAULT_MEMORY_MIB

    @property
    def tag(self) -> str:
        return (f"{self.compressor}-wb{'on' if self.writeback else 'off'}"
                + (f"-max{self.zswap_max}" if self.zswap_max is not None else "")
                + (f"-pool{self.max_pool_percent}" if self.max_pool_percent is not None else "")
                + (f"-thr{self.accept_threshold}" if self.accept_threshold is not None else "")
                + (f"-seeded-{self.seeded or 'none'}" if self.seeded is not None else ""))


@dataclass
class RunReport:
    spec: RunSpec
    kernel: str
    release: str
    pages: int = 0
    boot_seconds: float = 0.0
    log_path: str = ""
    integrity_violations: int = 0
    kernel_stages: dict = field(default_factory=dict)
    model_stages: dict = field(default_factory=dict)
    disagreements: list = field(default_factory=list)
    not_compared: list = field(default_factory=list)
    error: str | None = None
    model_compressor: str = ""
    totalram_pages: int | None = None  # the guest kernel's, as it printed it
    # A seeded run: the same boot compared with the seeded bug's own variant (seeded-NAME).
    variant_disagreements: list = field(default_factory=list)

    @property
    def agree(self) -> bool:
        return self.error is None and not self.disagreements and self.integrity_violations == 0

    def to_json(self) -> dict:
        return {
            "kernel": self.kernel, "release": self.release,
            "compressor": self.spec.compressor, "writeback": self.spec.writeback,
            "zswap_max": self.spec.zswap_max, "pages": self.pages,
            "max_pool_percent": self.spec.max_pool_percent,
            "accept_threshold": self.spec.accept_threshold,
            "memory_mib": self.spec.memory_mib, "totalram_pages": self.totalram_pages,
            "model_compressor": self.model_compressor,
            "integrity_violations": self.integrity_violations,
            "kernel_counters": self.kernel_stages, "model_counters": self.model_stages,
            "agree": self.agree,
            "disagreements": [d.to_json() for d in self.disagreements],
            "not_compared": self.not_compared, "error": self.error,
            "boot_seconds": round(self.boot_seconds, 2), "log": self.log_path,
            **({"seeded": self.spec.seeded, "variant_disagreements":
                [d.to_json() for d in self.variant_disagreements]}
               if self.spec.seeded is not None else {}),
        }


def _stage_json(stages) -> dict:
    return {name: s.to_json() for name, s in stages.items()}


def model_algorithms(tree: KernelTree, choice: str, source: Path | None, note) -> tuple[dict, bool]:
    """The compressors the model uses: (by name, are they the kernel's own?)."""
    if choice == "library":
        return dict(ALGORITHMS), False
    try:
        from .kcomp_load import kernel_algorithms
        from .fetch import fetch_debian_source

        if source is None and tree.source is not None:
            source = tree.source  # a kernel built here: its own source
        if source is None:
            if not tree.name.startswith("debian:"):
                raise KernelError("no kernel source given (--kernel-source PATH)")
            series = ".".join(tree.release.split(".")[:2])
            note(f"fetching Debian's linux-source-{series} for the kernel's own compressors")
            source = fetch_debian_source(series)
        algs = kernel_algorithms(source)
        merged = dict(ALGORITHMS)
        merged.update(algs)
        return merged, True
    except Exception as e:  # any failure: fall back, and say so
        if choice == "kernel":
            raise KernelError(f"cannot build the kernel's compressors: {e}") from None
        note(f"using the library compressors ({e}); pool_total_size and memcg zswap "
             f"are not compared")
        return dict(ALGORITHMS), False


def _param_problems(spec: RunSpec, log) -> list[str]:
    """The module parameters the guest printed that are not what was asked."""
    out = []
    if spec.seeded is not None:
        if "seeded_bug" not in log.params:
            out.append("this kernel has no zswap seeded_bug parameter: boot one built with "
                       "kernel/patches/seeded-bugs-7.3.patch (kernel-check --seeded builds one)")
        elif log.params["seeded_bug"] != spec.seeded:
            out.append(f"zswap seeded_bug is {log.params['seeded_bug']!r}, not {spec.seeded!r}")
    for name, want in (("max_pool_percent", spec.max_pool_percent),
                       ("accept_threshold_percent", spec.accept_threshold)):
        if want is not None and log.params.get(name) != str(want):
            out.append(f"zswap {name} is {log.params.get(name)!r}, not {want}")
    return out


def _totalram(log) -> tuple[int | None, str | None]:
    """The guest's totalram_pages() and, if it cannot be used, why."""
    seen = {s.totalram_pages for s in log.stages.values() if s.totalram_pages is not None}
    if not seen:
        return None, "the guest did not print its totalram_pages"
    if len(seen) > 1:
        return None, f"the guest's totalram_pages changed during the run: {sorted(seen)}"
    return seen.pop(), None


def _one(tree: KernelTree, spec: RunSpec, stream: Stream, alg, exact: bool, variant: str,
         page_size: int, timeout: float, folder: Path, append: str = "") -> RunReport:
    report = RunReport(spec, tree.name, tree.release, pages=len(stream.pages),
                       model_compressor=("kernel " if exact else "library ") + spec.compressor)
    work = folder / spec.tag
    work.mkdir(parents=True, exist_ok=True)
    log_path = work / "serial.log"
    report.log_path = str(log_path)
    try:
        initrd = build_initramfs(tree, compressor=spec.compressor, pages=stream.data(),
                                 groups=stream.groups, writeback=spec.writeback,
                                 zswap_max=spec.zswap_max, page_size=page_size, workdir=work,
                                 max_pool_percent=spec.max_pool_percent,
                                 accept_threshold=spec.accept_threshold,
                                 per_folio=spec.pool_limit)
        if spec.seeded:
            append = f"{append} zswap.seeded_bug={spec.seeded}".strip()
        result = boot(tree, initrd, timeout=timeout, log_path=log_path, append=append,
                      memory_mib=spec.memory_mib)
    except KernelError as e:
        report.error = str(e)
        return report
    report.boot_seconds = result.seconds
    try:
        log = parse_log(result.log)
    except LogError as e:
        report.error = f"{e}; serial log kept at {log_path}"
        return report
    (work / "parsed.json").write_text(json.dumps(log.to_json(), indent=1))
    report.kernel_stages = _stage_json(log.stages)
    report.integrity_violations = len(log.bad_pages)
    problems = _param_problems(spec, log)
    totalram, why = _totalram(log)
    report.totalram_pages = totalram
    if why is not None:
        problems.append(why)
        # Still predict, so the other counters are compared: with the
        # largest RAM the guest could have, which only matters near the limit.
        totalram = (spec.memory_mib << 20) // page_size
    def predicted(by: str):
        return predict(stream, alg, variant=by, writeback=spec.writeback,
                       zswap_max=spec.zswap_max, page_size=page_size, total_ram_pages=totalram,
                       max_pool_percent=spec.max_pool_percent,
                       accept_threshold=spec.accept_threshold)

    prediction = predicted(variant)
    report.model_stages = _stage_json(prediction.stages)
    if spec.seeded:
        # The same boot against the variant that makes the seeded bug's change.
        report.variant_disagreements, _ = compare(log, predicted(f"seeded-{spec.seeded}"),
                                                  stream, exact_sizes=exact)
    if result.timed_out:
        problems.append(f"the guest hung: no power-off within {timeout:.0f} s")
    if result.panicked or log.panic:
        problems.append("the kernel panicked: " + " / ".join(log.panic[:3]))
    if log.errors:
        problems.append("the guest reported: " + "; ".join(log.errors[:3]))
    if not log.ended and not problems:
        problems.append("the guest stopped before its last record")
    if problems:
        seen = ", ".join(log.stages) or "none"
        report.error = (f"{'; '.join(problems)} (stages collected: {seen}; "
                        f"serial log kept at {log_path})")
    report.disagreements, report.not_compared = compare(log, prediction, stream, exact_sizes=exact)
    return report


def run_checks(tree: KernelTree, specs: list[RunSpec], *, variant: str, page_size: int,
               files: list[Path], timeout: float, jobs: int, model_compressor: str,
               kernel_source: Path | None, folder: Path | None, note,
               append: str = "") -> list[RunReport]:
    for spec in specs:
        needed_modules(tree, spec.compressor)  # fail early on a kernel that lacks something
    algs, exact = model_algorithms(tree, model_compressor, kernel_source, note)
    missing = sorted({s.compressor for s in specs} - set(algs))
    if missing:
        raise KernelError(f"the model has no compressor {', '.join(missing)}; "
                          f"choose from {', '.join(sorted(algs))}")
    folder = folder or cache_dir() / "runs" / time.strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    streams: dict[tuple[str, int | None], Stream] = {}
    for key in sorted({(s.compressor, s.max_pool_percent) for s in specs},
                      key=lambda k: (k[0], k[1] or 0)):
        c, percent = key
        stream = builtin_stream(algs[c], page_size)
        file_groups(stream, files, page_size)
        if percent is not None:
            count = pool_fill_pages(percent, POOL_LIMIT_MEMORY_MIB, page_size)
            if count == POOL_FILL_MAX_PAGES:
                note(f"max_pool_percent {percent}: the {count}-page poolfill group may not "
                     f"reach the limit of a {POOL_LIMIT_MEMORY_MIB} MiB guest")
            add_pool_fill(stream, count, page_size)
        streams[key] = stream
    note(f"{len(specs)} boots of {tree.release}, up to {jobs} at a time; logs in {folder}")
    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    futures = [pool.submit(_one, tree, s, streams[s.compressor, s.max_pool_percent],
                           algs[s.compressor], exact, variant, page_size, timeout, folder,
                           append) for s in specs]
    try:
        reports = [f.result() for f in futures]
    except KeyboardInterrupt:
        # The guests are killed at once; the boots that had ended are what was done.
        from zswap_spec.support.interrupts import Interrupted

        from .guest import kill_guests

        ended = [f.done() and not f.cancelled() and f.exception() is None for f in futures]
        pool.shutdown(wait=False, cancel_futures=True)
        kill_guests()
        raise Interrupted([f.result() for f, e in zip(futures, ended) if e],
                          [f"{s.compressor} writeback {'on' if s.writeback else 'off'}"
                           + (f" seeded {s.seeded or 'none'}" if s.seeded is not None else "")
                           for s, e in zip(specs, ended) if not e]) from None
    pool.shutdown(wait=True)
    return reports


def default_jobs() -> int:
    return max(1, min(os.cpu_count() or 1, 4))
