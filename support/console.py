"""The console every report prints on."""

from __future__ import annotations

import sys

from rich.console import Console

__all__ = ["console"]

# Piped output is not wrapped to 80 columns: a table must stay one row a run.
console = Console(highlight=False, width=None if sys.stdout is not None and sys.stdout.isatty()
                  else 200)
