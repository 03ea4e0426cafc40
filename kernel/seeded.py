"""`kernel-check --seeded`: the kernel check shown kernels that are wrong.

One kernel is built from Debian's linux-source-7.3 with zswap-spec's own
patch (patches/seeded-bugs-7.3.patch), which puts six mistakes into
`zswap_compress()`, each switched on by the boot parameter
`zswap.seeded_bug=NAME` (their list and the matching model changes:
model/variants/seeded.py).  For each bug asked for, that kernel is booted
with the bug on, under the settings that show it (`SeededBug.compressor`,
`.writeback`), and the built-in plan is run.  The same boot is compared with
two models:

- mainline: the check must disagree with the kernel (`caught`), naming the
  stage and counter, or the pages read back wrong;
- the variant making the same change (`seeded-NAME`): the model must agree
  again (`agrees_with_variant`), so what caught the kernel was the bug and
  not the plan or the harness.

With `all`, one more boot runs the same kernel with no bug switched on, which
must agree with mainline: the patch itself changes nothing (`control`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from zswap_spec.model.variants.seeded import SEEDED_BUGS, SeededBug

from .run import RunReport, RunSpec
from .tree import KernelError

__all__ = ["SEEDED_PATCH", "SEEDED_SOURCE", "SeededResult", "seeded_specs", "judge",
           "check_kernel_spec", "seeded_kernel", "resolve_names", "passed", "SEEDED_BUGS"]

SEEDED_PATCH = Path(__file__).with_name("patches") / "seeded-bugs-7.3.patch"
SEEDED_SOURCE = "debian:7.3"


def resolve_names(names) -> list[SeededBug]:
    """The bugs named (`all`: every one), in the catalogue's order; KernelError
    naming an unknown one."""
    names = list(names)
    if "all" in names:
        return list(SEEDED_BUGS.values())
    unknown = [n for n in names if n not in SEEDED_BUGS]
    if unknown:
        raise KernelError(f"--seeded {unknown[0]}: no such seeded bug; choose all or one of "
                          f"{', '.join(SEEDED_BUGS)}")
    return [SEEDED_BUGS[n] for n in dict.fromkeys(names)]


def seeded_specs(bugs: list[SeededBug], control: bool) -> list[RunSpec]:
    """One boot per bug under the settings that show it; with `control`, one with none."""
    specs = [RunSpec(b.compressor, b.writeback, seeded=b.name) for b in bugs]
    if control:
        specs.append(RunSpec("lz4", True, seeded=""))
    return specs


def seeded_kernel(progress=None, jobs: int | None = None):
    """The kernel with the seeded bugs: built once (minimal config), then taken from
    the cache."""
    from .build import build_kernel

    built = build_kernel(source=SEEDED_SOURCE, patches=[SEEDED_PATCH], config="minimal",
                         jobs=jobs, progress=progress)
    return built.tree(), built


def check_kernel_spec(spec: str) -> None:
    """Refuse, before any boot, a `--kernel` that cannot have the seeded bugs: Debian's
    kernels, and a build made without the seeded patch.  (A bzImage path is taken on
    trust; its boots say so if it lacks them.)"""
    if spec.startswith("debian:"):
        raise KernelError(f"--kernel {spec}: Debian's kernels have no seeded bugs; leave "
                          f"--kernel out (the seeded kernel is built), or give built:KEY of a "
                          f"build with {SEEDED_PATCH.name}")
    if spec.startswith("built:"):
        import hashlib

        from .built import find_built

        built = find_built(spec)
        want = hashlib.sha256(SEEDED_PATCH.read_bytes()).hexdigest()
        if want not in {digest for _, digest in built.patches}:
            raise KernelError(f"--kernel {spec}: was built without this version of "
                              f"{SEEDED_PATCH.name}; leave --kernel out (the seeded kernel is "
                              f"built), or build one with --patch {SEEDED_PATCH}")


@dataclass
class SeededResult:
    """What the check made of one seeded kernel (or of the control boot)."""

    name: str
    report: RunReport

    @property
    def caught(self) -> bool:
        """The check, with mainline's model, disagreed with this kernel."""
        r = self.report
        return r.error is None and bool(r.disagreements)

    @property
    def agrees_with_variant(self) -> bool:
        """The same boot, predicted with the variant making the same change, agrees."""
        r = self.report
        return r.error is None and not r.variant_disagreements

    def to_json(self) -> dict:
        r = self.report
        return {"name": self.name, "caught": self.caught,
                "disagreements": [d.to_json() for d in r.disagreements],
                "agrees_with_variant": self.agrees_with_variant,
                "variant": f"seeded-{self.name}",
                "variant_disagreements": [d.to_json() for d in r.variant_disagreements],
                "compressor": r.spec.compressor, "writeback": r.spec.writeback,
                "lost_pages": r.integrity_violations, "error": r.error,
                "boot_seconds": round(r.boot_seconds, 2), "log": r.log_path}


def judge(reports: list[RunReport]) -> tuple[list[SeededResult], RunReport | None]:
    """The seeded boots' results, and the control boot (None when not run)."""
    results = [SeededResult(r.spec.seeded, r) for r in reports if r.spec.seeded]
    control = next((r for r in reports if r.spec.seeded == ""), None)
    return results, control


def passed(results: list[SeededResult], control: RunReport | None) -> bool:
    """Every seeded kernel caught and agreeing with its variant; the control agreeing."""
    return (all(s.caught and s.agrees_with_variant for s in results)
            and (control is None or control.agree))
