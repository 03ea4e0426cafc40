"""Reading the guest's serial log.

The guest prints one record per line, each starting with `ZSS ` (possibly
after terminal escape codes): `begin RELEASE`, `param NAME VALUE`,
`cgroup FILE VALUE`, `stage NAME`, then the counters of that stage
(`counter`, `memcg`, `vmstat`, `worker`: the pool shrink worker's runs) and
`totalram PAGES` (the kernel's totalram_pages()), `group NAME FIRST COUNT swapped=N`,
`verify NAME ok=N bad=M`, `badpage INDEX`, `error MESSAGE` and `end`.  Kernel
lines in between are kept aside so a panic can be shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["Stage", "GuestLog", "parse_log", "LogError"]

_PANIC = re.compile(r"Kernel panic|\bOops\b|\bBUG: |general protection fault")


class LogError(ValueError):
    """A log that holds no guest record at all."""


@dataclass
class Stage:
    counters: dict[str, int] = field(default_factory=dict)  # debugfs
    memcg: dict[str, int] = field(default_factory=dict)  # memory.stat, as printed
    vmstat: dict[str, int] = field(default_factory=dict)
    # shrink_worker_queued / shrink_worker_runs: the pool shrink worker's
    # queued and finished runs so far (the probe's trace of its workqueue).
    worker: dict[str, int] = field(default_factory=dict)
    totalram_pages: int | None = None  # totalram_pages() when the stage was read

    def to_json(self) -> dict:
        out = {"counters": self.counters, "memcg": self.memcg, "vmstat": self.vmstat}
        if self.worker:
            out["worker"] = self.worker
        if self.totalram_pages is not None:
            out["totalram_pages"] = self.totalram_pages
        return out


@dataclass
class GuestLog:
    release: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    cgroup: dict[str, str] = field(default_factory=dict)
    stages: dict[str, Stage] = field(default_factory=dict)  # in the order printed
    groups: dict[str, dict[str, int]] = field(default_factory=dict)
    verify: dict[str, dict[str, int]] = field(default_factory=dict)
    bad_pages: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    ended: bool = False
    panic: list[str] = field(default_factory=list)  # kernel lines of a panic or oops
    malformed: list[str] = field(default_factory=list)

    @property
    def totalram_pages(self) -> int | None:
        """The kernel's totalram_pages() as the first stage printed it."""
        return next((s.totalram_pages for s in self.stages.values()
                     if s.totalram_pages is not None), None)

    def to_json(self) -> dict:
        return {
            "release": self.release, "params": self.params, "cgroup": self.cgroup,
            "stages": {k: s.to_json() for k, s in self.stages.items()},
            "groups": self.groups, "verify": self.verify, "bad_pages": self.bad_pages,
            "errors": self.errors, "ended": self.ended, "panic": self.panic,
        }


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def parse_log(text: str) -> GuestLog:
    """Every record of the log; what cannot be read goes to `malformed`."""
    log = GuestLog()
    stage: Stage | None = None
    seen_any = False
    for raw in text.splitlines():
        at = raw.find("ZSS ")
        if at < 0:
            if _PANIC.search(raw) or log.panic:
                log.panic.append(raw.strip())
            continue
        seen_any = True
        parts = raw[at + 4:].strip().split()
        if not parts:
            log.malformed.append(raw)
            continue
        kind, args = parts[0], parts[1:]
        if kind == "begin" and args:
            log.release = args[0]
        elif kind == "param" and args:  # a parameter may be empty (a charp with no value)
            log.params[args[0]] = " ".join(args[1:])
        elif kind == "cgroup" and len(args) >= 2:
            log.cgroup[args[0]] = args[1]
        elif kind == "stage" and len(args) == 1:
            stage = log.stages.setdefault(args[0], Stage())
        elif kind in ("counter", "memcg", "vmstat", "worker") and len(args) == 2 \
                and _int(args[1]) is not None:
            if stage is None:
                log.malformed.append(raw)
                continue
            target = {"counter": stage.counters, "memcg": stage.memcg, "vmstat": stage.vmstat,
                      "worker": stage.worker}[kind]
            target[args[0]] = int(args[1])
        elif kind == "totalram" and len(args) == 1 and _int(args[0]) is not None:
            if stage is None:
                log.malformed.append(raw)
                continue
            stage.totalram_pages = int(args[0])
        elif kind == "group" and len(args) == 4 and args[3].startswith("swapped="):
            log.groups[args[0]] = {"first": int(args[1]), "count": int(args[2]),
                                   "swapped": int(args[3].split("=", 1)[1])}
        elif kind == "verify" and len(args) == 3:
            kv = dict(a.split("=", 1) for a in args[1:] if "=" in a)
            log.verify[args[0]] = {"ok": int(kv.get("ok", 0)), "bad": int(kv.get("bad", 0))}
        elif kind == "badpage" and len(args) == 1 and _int(args[0]) is not None:
            log.bad_pages.append(int(args[0]))
        elif kind == "error":
            log.errors.append(" ".join(args))
        elif kind == "hanging":
            log.errors.append("the guest was told to hang (zss.hang)")
        elif kind == "end":
            log.ended = True
        else:
            log.malformed.append(raw)
    if not seen_any:
        raise LogError("the serial log holds no ZSS record: the guest's init never ran "
                       "(is this a kernel that boots with an initramfs?)")
    return log
