"""The `zswap-spec` command: the users' jobs, one subcommand each, one module
per subcommand in this package.  Exit codes: `errors`.

Every way a command can end is turned into one line and a documented exit
code here: an input error (2), an interrupt (130), an output that cannot be
written (2), and any other exception, which is a bug of ours (4, with the
traceback saved to a file, or printed under ``--debug``).  A run never ends
in 1, the code for findings, because it crashed.
"""

from __future__ import annotations

import io
import os
import signal
import sys

import click

from . import (bench, check, check_driver, fuzz, kernel_check, kernel_fuzz, prove, replay, script,
               variants)
from .errors import EXIT_CLEAN, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE, InputError

__all__ = ["cli", "main"]

_state = {"debug": False}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="zswap-spec")
@click.option("--debug", is_flag=True, help="On an internal error, print the traceback.")
def cli(debug: bool) -> None:
    """Executable specification of Linux zswap's (batched) compression path."""
    from .options import check_environment

    _state["debug"] = debug
    check_environment()  # every command, before it does anything


# Each subcommand's module defines a click command of the module's name.
for _module in (bench, check, check_driver, fuzz, kernel_check, kernel_fuzz, prove, replay,
                script, variants):
    cli.add_command(getattr(_module, _module.__name__.rsplit(".", 1)[1]))


def _say(line: str) -> None:
    try:
        click.echo(f"zswap-spec: {line}", err=True)
    except (OSError, ValueError):
        pass  # stderr itself is gone: the exit code is all that is left


def _stdout_failed(e: OSError) -> bool:
    """Was `e` raised writing to standard output (closed, full, a broken pipe)?  The
    write that failed had a stream on file descriptor 1 in hand: click's echo, a rich
    console, or a print."""
    if isinstance(e, BrokenPipeError):
        return True
    tb = e.__traceback__
    while tb is not None:
        for value in list(tb.tb_frame.f_locals.values()):
            for stream in (value, getattr(value, "file", None)):
                try:
                    if callable(getattr(stream, "fileno", None)) and stream.fileno() == 1:
                        return True
                except (OSError, ValueError, AttributeError, TypeError):
                    pass
        tb = tb.tb_next
    return False


def _detach_stdout() -> None:
    """Point file descriptor 1 at /dev/null so the interpreter's own flush at exit
    cannot fail again (and print a traceback of its own)."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.close(fd)
    except OSError:
        pass
    sys.stdout = open(os.devnull, "w")


def _internal_error(e: BaseException) -> int:
    import traceback

    text = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    if _state["debug"]:
        _say(f"internal error: {type(e).__name__}: {e}")
        sys.stderr.write(text)
        return EXIT_INTERNAL
    where = _save_traceback(text)
    first = str(e).splitlines()[0] if str(e) else ""
    _say(f"internal error (a bug in zswap-spec): {type(e).__name__}"
         f"{': ' + first[:200] if first else ''}; the traceback is in {where} "
         "(zswap-spec --debug ... prints it); please report it")
    return EXIT_INTERNAL


def _save_traceback(text: str) -> str:
    """Save `text` under the cache's `crashes/` folder, else the temporary folder."""
    import tempfile
    import time

    from zswap_spec.support.files import atomic_write

    name = f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
    argv = "argv: " + " ".join(sys.argv) + "\n\n"
    for folder in (_crash_dir(), tempfile.gettempdir()):
        if folder is None:
            continue
        try:
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, name)
            atomic_write(path, argv + text)
            return path
        except OSError:
            continue
    return "(nowhere: no writable folder; run again with --debug)"


def _crash_dir() -> str | None:
    try:
        from zswap_spec.support.cache import cache_dir

        return str(cache_dir() / "crashes")
    except Exception:  # an unusable cache is reported by the command that needs it
        return None


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> None:
    """Entry point: every ending becomes one line and a documented exit code."""
    for stream in (sys.stdout, sys.stderr):
        # A terminal or pipe that cannot encode a character (PYTHONIOENCODING=ascii,
        # LANG=C) gets an escape, not an error.
        if isinstance(stream, io.TextIOWrapper):
            try:
                stream.reconfigure(errors="backslashreplace")
            except (ValueError, OSError):
                pass
    if sys.stdout is None or sys.stdout.closed:
        _detach_stdout()  # holds descriptor 1, so no file we open takes its place
        _say("error: standard output is closed; give it a file or pipe (or /dev/null)")
        sys.exit(EXIT_USAGE)
    try:
        signal.signal(signal.SIGTERM, _on_sigterm)  # stopped like Ctrl-C: write, then exit
    except ValueError:
        pass  # not the main thread (an embedding caller): keep its handler
    code = EXIT_CLEAN
    try:
        cli.main(args=argv, prog_name="zswap-spec", standalone_mode=False)
        sys.stdout.flush()
    except click.exceptions.Exit as e:
        code = e.exit_code
    except SystemExit as e:
        # An int is the command's own exit code; a text is an error already worded
        # (a manifest that does not load, say): one line, exit 2.
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else EXIT_USAGE)
        if not isinstance(e.code, (int, type(None))):
            text = str(e.code).replace("\n", " ")
            _say(text.removeprefix("zswap-spec: ") if text.startswith("zswap-spec: error:")
                 else f"error: {text}")
    except (click.exceptions.Abort, KeyboardInterrupt):
        _say("interrupted")
        code = EXIT_INTERRUPTED
    except click.ClickException as e:
        msg = e.format_message().replace("\n", " ")
        if isinstance(e, click.UsageError) and e.ctx is not None:
            msg += f" (see '{e.ctx.command_path} --help')"
        _say(f"error: {msg}")
        code = EXIT_USAGE
    except MemoryError:
        _say("error: out of memory; give the run less to hold (fewer or smaller inputs) or "
             "more memory")
        code = EXIT_USAGE
    except OSError as e:
        if _stdout_failed(e):
            _detach_stdout()
            _say(f"error: cannot write to standard output ({e.strerror or e}); "
                 "give it a file or pipe that takes the output")
            code = EXIT_USAGE
        elif getattr(e, "errno", None) is not None and e.errno in _USER_ERRNOS:
            _say(f"error: {e.filename + ': ' if e.filename else ''}{e.strerror}; "
                 "free space or choose another place")
            code = EXIT_USAGE
        else:
            code = _internal_error(e)
    except Exception as e:  # noqa: BLE001 - the one place that turns a bug into a line
        code = _internal_error(e)
    try:
        sys.stdout.flush()
    except (OSError, ValueError) as e:
        _detach_stdout()
        _say(f"error: cannot write to standard output ({getattr(e, 'strerror', None) or e}); "
             "give it a file or pipe that takes the output")
        code = code if code not in (EXIT_CLEAN,) else EXIT_USAGE
    sys.exit(code)


import errno as _errno  # noqa: E402

# Errors of the machine's state, not of the program: a full disk, a quota.
_USER_ERRNOS = {_errno.ENOSPC, _errno.EDQUOT, _errno.EROFS}
