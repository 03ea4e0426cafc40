"""An unpacked kernel: its image, its modules, its configuration."""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["KernelTree", "KernelError", "read_config"]


class KernelError(RuntimeError):
    """A kernel that cannot be used: the message names it and what is missing."""


def read_config(path: Path) -> dict[str, str]:
    """`CONFIG_X=value` lines as a dict (values unquoted); `# ... is not set` omitted."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    out: dict[str, str] = {}
    for line in raw.decode(errors="replace").splitlines():
        m = re.match(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$", line)
        if m:
            out[m.group(1)] = m.group(2).strip('"')
    return out


@dataclass
class KernelTree:
    """A kernel ready to boot: `image`; `root` holds lib/modules/`release`."""

    name: str  # what the user asked for: "debian:7.3.4" or a path
    image: Path
    release: str  # `uname -r`
    root: Path | None = None  # a folder with lib/modules/<release>/ (or usr/lib/modules)
    config: dict[str, str] = field(default_factory=dict)
    # The source tarball or tree the kernel was built from (`kernel-build`),
    # from which the model builds the kernel's own compressors.
    source: Path | None = None

    @property
    def modules_dir(self) -> Path | None:
        if self.root is None:
            return None
        for sub in ("lib/modules", "usr/lib/modules"):
            d = self.root / sub / self.release
            if d.is_dir():
                return d
        return None

    def option(self, name: str) -> str | None:
        """'y', 'm', a value, or None when unset."""
        return self.config.get(name if name.startswith("CONFIG_") else f"CONFIG_{name}")

    def built_in(self, name: str) -> bool:
        return self.option(name) == "y"

    def available(self, name: str) -> bool:
        return self.option(name) in ("y", "m")
