"""`python -m zswap_spec` is the `zswap-spec` command, and `main` its entry point.

Loading the command takes a few tenths of a second (click, rich, the model);
an interrupt then (Ctrl-C, SIGTERM, SIGHUP) ends it with one line and exit
130, as it does once the command runs, instead of a traceback or a silent
death by the signal.  The command's own handling takes over once it is
loaded (`zswap_spec.cli.main`).
"""

from __future__ import annotations

import os
import signal

__all__ = ["main"]


def _early(signum, frame) -> None:
    try:
        os.write(2, b"zswap-spec: interrupted\n")
    except OSError:
        pass
    os._exit(130)


def main():
    held = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    before = {s: signal.signal(s, _early) for s in held}
    from zswap_spec.cli import main as command

    for s, handler in before.items():
        signal.signal(s, handler)
    return command()


if __name__ == "__main__":  # worker processes import this module again: run nothing then
    main()
