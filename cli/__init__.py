"""The `zswap-spec` command: the users' jobs, one subcommand each, one module
per subcommand in this package.  Exit codes: `errors`.

Every way a command can end is turned into one line and a documented exit
code here: an input error (2), an interrupt (130), an output that cannot be
written (2), and any other exception, which is a bug of ours (4, with the
traceback saved to a file, or printed under ``--debug``).  A run never ends
in 1, the code for findings, because it crashed.
"""

from __future__ import annotations

import importlib
import io
import os
import signal
import sys

import click

from zswap_spec.support.cache import CacheError

from .errors import EXIT_CLEAN, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE, InputError
from .streams import StdoutError, guard_stdout, silence_stdout

__all__ = ["cli", "main"]

_state = {"debug": False}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="zswap-spec")
@click.option("--debug", is_flag=True, help="On an internal error, print the traceback.")
def cli(debug: bool) -> None:
    """Executable specification of Linux zswap's (batched) compression path."""
    from .options import check_environment

    _state["debug"] = debug
    if not _state.get("help"):
        check_environment()  # every command, before it does anything (help aside)


# Each subcommand's module defines a click command of the module's name.  A module is
# imported when its command is asked for, so that a command loads only what it uses.
_MODULES = ("bench", "check", "check_driver", "fuzz", "kernel_build", "kernel_check",
            "kernel_fuzz", "prove", "replay", "script", "variants")


class _Commands(dict):
    """The subcommands by name, each module imported on first use."""

    def _load(self, name) -> None:
        module = str(name).replace("-", "_")
        if module in _MODULES and not dict.__contains__(self, name):
            loaded = importlib.import_module(f"{__name__}.{module}")
            dict.__setitem__(self, name, getattr(loaded, module))

    def _all(self) -> None:
        for module in _MODULES:
            self._load(module.replace("_", "-"))

    def get(self, name, default=None):
        self._load(name)
        return dict.get(self, name, default)

    def __getitem__(self, name):
        self._load(name)
        return dict.__getitem__(self, name)

    def __contains__(self, name) -> bool:
        return str(name).replace("-", "_") in _MODULES

    def __iter__(self):
        return iter(sorted(m.replace("_", "-") for m in _MODULES))

    def __len__(self) -> int:
        return len(_MODULES)

    def keys(self):
        self._all()
        return dict.keys(self)

    def values(self):
        self._all()
        return dict.values(self)

    def items(self):
        self._all()
        return dict.items(self)


cli.commands = _Commands()


def _say(line: str, fresh_line: bool = False) -> None:
    """One line on stderr (after a terminal's ^C echo, on a line of its own)."""
    try:
        if fresh_line and sys.stderr.isatty():
            sys.stderr.write("\n")
        click.echo(f"zswap-spec: {_printable(line)}", err=True)
    except (OSError, ValueError):
        pass  # stderr itself is gone: the exit code is all that is left


def _printable(text: str) -> str:
    """`text` on one line, its control characters (a newline or an escape sequence in a
    file name) shown as escapes rather than acted on."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


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


def _on_signal(signum, frame):
    """Ctrl-C, SIGTERM and SIGHUP stop the command as KeyboardInterrupt, once: a
    second one while the command writes what it found is held off (after 10 s it
    counts again).  One that lands in a destructor (z3's, say) would be printed as
    "Exception ignored" and lost, and the run would go on to exit 0: it is sent
    again 50 ms later instead."""
    import time

    now = time.monotonic()
    if _state.get("signalled") and now - _state["signalled_at"] < 10:
        return
    f = frame
    while f is not None:
        if f.f_code.co_name == "__del__":
            import threading

            t = threading.Timer(0.05, os.kill, (os.getpid(), signum))
            t.daemon = True
            t.start()
            return
        f = f.f_back
    _state["signalled"], _state["signalled_at"] = True, now
    raise KeyboardInterrupt


def main(argv=None) -> None:
    """Entry point: every ending becomes one line and a documented exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if isinstance(sys.stderr, io.TextIOWrapper):
        try:  # a terminal that cannot encode a character gets an escape, not an error
            sys.stderr.reconfigure(errors="backslashreplace")
        except (ValueError, OSError):
            pass
    if sys.stdout is None or sys.stdout.closed:
        _detach_stdout()  # holds descriptor 1, so no file we open takes its place
        _say("error: standard output is closed; give it a file or pipe (or /dev/null)")
        sys.exit(EXIT_USAGE)
    guard_stdout()
    _state["signalled"] = False
    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    try:
        before = {s: signal.getsignal(s) for s in handled}
    except ValueError:
        before = {}
    try:
        signal.signal(signal.SIGTERM, _on_signal)  # stopped like Ctrl-C: write, then exit
        signal.signal(signal.SIGHUP, _on_signal)  # the terminal closed: the same
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not if ignored
            signal.signal(signal.SIGINT, _on_signal)
    except ValueError:
        pass  # not the main thread (an embedding caller): keep its handlers
    _state["help"] = any(a in ("-h", "--help", "--version") for a in args)
    code = EXIT_CLEAN
    try:
        _refuse_repeated(args)
        # Not click's own main: it exits 1 on a broken pipe and prints a blank line
        # before an interrupt.
        with cli.make_context("zswap-spec", args) as ctx:
            cli.invoke(ctx)
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
        _say("interrupted", fresh_line=True)
        code = EXIT_INTERRUPTED
    except click.ClickException as e:
        msg = e.format_message()
        if isinstance(e, click.UsageError) and e.ctx is not None:
            msg += f" (see '{e.ctx.command_path} --help')"
        _say(f"error: {msg}")
        code = EXIT_USAGE
    except StdoutError as e:
        code = _stdout_error(e.strerror)
    except CacheError as e:
        _say(f"error: {e.filename + ': ' if e.filename else ''}{e.strerror}")
        code = EXIT_USAGE
    except MemoryError:
        _say("error: out of memory; give the run less to hold (fewer or smaller inputs) or "
             "more memory")
        code = EXIT_USAGE
    except OSError as e:
        if _stdout_failed(e):
            code = _stdout_error(e.strerror or str(e))
        elif e.errno in _USER_ERRNOS or (e.filename and e.errno in _PATH_ERRNOS):
            # The machine's state (a full disk) or a path the system refuses (too long,
            # no permission, not a folder): the path is the input to change.
            if _state["debug"]:
                import traceback

                traceback.print_exception(e, file=sys.stderr)
            where = f"{e.filename}: " if e.filename else ""
            _say(f"error: {where}{e.strerror}; "
                 + ("free space or choose another place" if e.errno in _USER_ERRNOS
                    else "check the path and its permissions, or choose another"))
            code = EXIT_USAGE
        else:
            code = _internal_error(e)
    except Exception as e:  # noqa: BLE001 - the one place that turns a bug into a line
        if _state.get("signalled"):
            # The interrupt surfaced wrapped by a library (ctypes turns it into an
            # ArgumentError inside z3, say): it is still the interrupt.
            _say("interrupted", fresh_line=True)
            code = EXIT_INTERRUPTED
        else:
            code = _internal_error(e)
    try:
        sys.stdout.flush()
    except StdoutError as e:
        code = _stdout_error(e.strerror) if code == EXIT_CLEAN else code
    except (OSError, ValueError) as e:
        code = (_stdout_error(getattr(e, "strerror", None) or str(e)) if code == EXIT_CLEAN
                else code)
    # The command has ended.  Run as the program (no `argv`), the process ends too: a
    # signal from now on cannot stop anything, and one that came while the interpreter
    # shuts down (its handlers back to the default) would kill the process and turn the
    # exit code into a signal, so they are ignored.  Called by other code, the
    # caller's handlers are put back.
    for sig, old in before.items():
        try:
            signal.signal(sig, signal.SIG_IGN if argv is None else old)
        except (ValueError, TypeError):
            break
    sys.exit(code)


def _stdout_error(why: str) -> int:
    silence_stdout()
    _detach_stdout()
    _say(f"error: cannot write to standard output ({why}); give it a file or pipe that "
         "takes the output")
    return EXIT_USAGE


def _refuse_repeated(args: list[str]) -> None:
    """An option that takes one value, given twice: click would keep the last one
    silently; the user meant one of them."""
    names = [a for a in args if not a.startswith("-")]
    command = cli.commands.get(names[0]) if names else None
    if command is None:
        return
    seen: dict[str, int] = {}
    single = {}
    for p in command.params:
        if isinstance(p, click.Option) and not p.multiple and not p.is_flag and not p.count:
            for opt in p.opts + p.secondary_opts:
                single[opt] = p.opts[0]
    for a in args[args.index(names[0]) + 1:]:
        if a == "--":
            break
        opt = single.get(a.split("=", 1)[0] if a.startswith("--") else a)
        if opt:
            seen[opt] = seen.get(opt, 0) + 1
            if seen[opt] == 2:
                raise InputError(f"{opt} is given more than once; give it once")


import errno as _errno  # noqa: E402

# Errors of the machine's state, not of the program: a full disk, a quota.
_USER_ERRNOS = {_errno.ENOSPC, _errno.EDQUOT, _errno.EROFS}
# A path the system refuses to look at or to use as asked.
_PATH_ERRNOS = {_errno.ENAMETOOLONG, _errno.EACCES, _errno.EPERM, _errno.ENOENT, _errno.ENOTDIR,
                _errno.ELOOP, _errno.EISDIR, _errno.ENXIO, _errno.EEXIST}
