"""The shared command runner: the one place where errors, usage errors and Ctrl-C become messages and exit codes.

Every command body is an ``action(fmt)`` returning a ``Result`` (or an exit code).
``run`` executes it in a daemon worker thread while the main thread waits, so a
Ctrl-C is acted on within a fraction of a second whatever the worker is blocked
in (a DNS lookup, the ODBC driver's login); the worker is abandoned, never joined.

Exit codes are ``core.errors.ExitCode``; 70 is left for real bugs.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, NoReturn

import typer

# typer vendors click (pinned in constraints.txt); its exceptions carry what usage errors need (possibilities).
from typer._click import exceptions as click_exceptions
from typer.core import TyperGroup

from azsqlctl.core.config import FileConfig, Setting, load_file_config, resolve
from azsqlctl.core.errors import (
    AzsqlctlError,
    ConfigError,
    ConnectionFailed,
    ExitCode,
    Interrupted,
    NotFound,
    PermissionDenied,
    UsageError,
)
from azsqlctl.core.redact import redact
from azsqlctl.core.visible import visible_keeping_layout

from .options import OutputFormat

if TYPE_CHECKING:
    from .render import InterruptReport

PROG = "azsqlctl"
# Commands that install their own SIGINT/SIGTERM handlers (only the main thread may): they run in it.
OWN_SIGNALS = frozenset({"sandbox serve", "sandbox run", "logs"})  # logs: --follow prints its summary on Ctrl-C

INTERRUPTED = threading.Event()  # set by the SIGINT/SIGTERM handler; errors raised after it mean "interrupted"
_process = {"hard_exit": False, "signal": int(signal.SIGINT)}  # os._exit may abandon worker threads; which signal came
# A command may say what it had done when interrupted (grant: applied / rolled back / untouched per database).
_interrupt_reports: list[Callable[[], InterruptReport]] = []


def report_on_interrupt(report: Callable[[], InterruptReport]) -> None:
    """``report()`` is called once, on the main thread, if the command is interrupted; its result is printed."""
    _interrupt_reports[:] = [report]


def enable_hard_exit() -> None:
    _process["hard_exit"] = True


# --- output format: flag > environment > file, validated -----------------------------------------


def resolve_output(flag: OutputFormat | None, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> OutputFormat:
    """flag > environment > the config file's ``output``, by the one precedence rule; garbage is refused."""
    try:
        file = load_file_config(cwd or Path.cwd())
    except ConfigError:
        file = FileConfig(None, {})  # reported by the command's own settings resolution, in the format decided here
    return _output_value(resolve("output", flag.value if flag else None, os.environ if env is None else env, file))


def _output_value(setting: Setting) -> OutputFormat:
    value = setting.value.strip().lower() or OutputFormat.human.value
    try:
        return OutputFormat(value)
    except ValueError:
        raise UsageError(f"{setting.source} is '{setting.value}', not an output format", "use human or json", code="bad_output") from None


def _guess_output(argv: Sequence[str]) -> OutputFormat:
    """The format for errors found before parsing finished (usage errors): a best effort over argv and env."""
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        value = None
        if arg in ("-o", "--output") and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--output="):
            value = arg.split("=", 1)[1]
        elif arg.startswith("-o") and len(arg) > 2 and not arg.startswith("--"):
            value = arg[2:]
        if value is not None and value.strip().lower() == "json":
            return OutputFormat.json
    try:
        return resolve_output(None)
    except AzsqlctlError:
        return OutputFormat.human


# --- debug logging ---------------------------------------------------------------------------


_DEBUG_LOGGERS = ("azsqlctl", "azure", "msal", "urllib3")


def enable_debug_logging() -> Callable[[], None]:
    """Log everything to stderr, redacted; returns the undo (a command must not leave handlers behind)."""
    import logging

    class RedactingFilter(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            record.msg = visible_keeping_layout(redact(record.getMessage()))  # SDK logs quote servers' answers
            record.args = None
            return True

    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    previous = {}
    for name in _DEBUG_LOGGERS:
        logger = logging.getLogger(name)
        previous[name] = logger.level
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)

    def undo() -> None:
        for name in _DEBUG_LOGGERS:
            logger = logging.getLogger(name)
            logger.removeHandler(handler)
            logger.setLevel(previous[name])

    return undo


# --- failures that are not AzsqlctlError yet -------------------------------------------------


def as_error(exc: BaseException) -> AzsqlctlError | None:
    """Map an ordinary failure of the OS, a file or an input to the hierarchy; None means a bug (exit 70)."""
    if isinstance(exc, AzsqlctlError):
        return exc
    if INTERRUPTED.is_set():
        return Interrupted()
    if isinstance(exc, typer.Abort):
        return UsageError("no answer to the prompt (end of input)", "pass --apply or --dry-run instead of answering", code="no_answer")
    if isinstance(exc, UnicodeDecodeError):
        return UsageError(f"input is not UTF-8 text: {exc.reason} at byte {exc.start}", "save the file as UTF-8", code="not_utf8")
    if isinstance(exc, OSError):
        what = f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
        if exc.errno == errno.ENOENT:
            return NotFound(what, "check the path", code="not_found")
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return PermissionDenied(what, "check the file's permissions", code="permission")
        if exc.errno == errno.EADDRINUSE:
            return UsageError(what, "pick another port, or 0 for a free one", code="port_in_use")
        if exc.errno in (errno.ECONNREFUSED, errno.ECONNRESET, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT):
            return ConnectionFailed(what, "check the server name, port and network path", code="connection")
        return UsageError(what, "check the path and its permissions", code="os_error")
    return None


# --- running a command -----------------------------------------------------------------------


def _on_sigint(signum: int, _frame: FrameType | None) -> None:
    _process["signal"] = signum
    INTERRUPTED.set()
    raise KeyboardInterrupt


def _call_in_worker(action: Callable[[str], object], fmt: str, name: str) -> object:
    box: list[tuple[bool, object]] = []
    done = threading.Event()

    def work() -> None:
        try:
            box.append((True, action(fmt)))
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which classifies it
            box.append((False, exc))
        finally:
            done.set()

    worker = threading.Thread(target=work, name=f"azsqlctl {name}", daemon=True)
    worker.start()
    while not done.wait(0.05):  # an Event wait with a timeout lets the SIGINT handler run promptly
        pass
    ok, value = box[0]
    if not ok:
        assert isinstance(value, BaseException)
        raise value
    return value


def run(command: str, output: OutputFormat | None, debug: bool, action: Callable[[str], object]) -> NoReturn:
    """Run ``action(format)`` - which returns a Result or an exit code - and exit with the right code."""
    from .render import Result, emit, emit_error, emit_interrupted

    try:
        fmt = resolve_output(output)
    except AzsqlctlError as err:
        emit_error(command, err, output.value if output else OutputFormat.human.value)
        raise typer.Exit(int(err.exit_code)) from None
    INTERRUPTED.clear()
    _process["signal"] = int(signal.SIGINT)
    _interrupt_reports.clear()
    main_thread = threading.current_thread() is threading.main_thread()
    in_worker = main_thread and command not in OWN_SIGNALS
    # SIGTERM (a supervisor, `timeout`, docker stop) is an interruption too: the same report, exit 143. Commands
    # that handle signals themselves (OWN_SIGNALS) replace these while they wait, and get them back after.
    previous = {sig: signal.signal(sig, _on_sigint) for sig in (signal.SIGINT, signal.SIGTERM)} if main_thread else {}
    undo_logging = enable_debug_logging() if debug else (lambda: None)
    code: int
    try:
        try:
            result = _call_in_worker(action, fmt, command) if in_worker else action(fmt)
            if INTERRUPTED.is_set():
                raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise
        except (typer.Exit, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - the last line of defence: no raw traceback without --debug
            code = _report_failure(command, exc, fmt, debug)
        else:
            if isinstance(result, Result):
                emit(result, fmt)
                code = int(result.exit_code)
            else:
                code = int(result) if isinstance(result, int) else 0
    except KeyboardInterrupt:
        signum = _process["signal"]
        report = None
        for make_report in _interrupt_reports:
            with contextlib.suppress(Exception):  # a report must never hide the interruption itself
                report = make_report()
        emit_interrupted(command, fmt, signum, report)
        code = 128 + signum
        if _process["hard_exit"]:
            _hard_exit(code)  # worker threads may sit in C code (driver, resolver): do not wait for them
    finally:
        undo_logging()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if in_worker and _process["hard_exit"]:
        # The result is out: tearing the interpreter down (freeing every module, the driver's environment)
        # costs 50-90 ms that nobody waits for, and abandoned probe threads must not hold the exit either.
        _hard_exit(code)
    raise typer.Exit(code)


def _report_failure(command: str, exc: BaseException, fmt: str, debug: bool) -> int:
    from .render import emit_error

    mapped = as_error(exc)
    if isinstance(mapped, Interrupted):
        raise KeyboardInterrupt from None
    if debug:
        import traceback

        sys.stderr.write(visible_keeping_layout(redact("".join(traceback.format_exception(exc)))))
    err = mapped or AzsqlctlError(
        redact(f"unexpected {type(exc).__name__}: {exc}"), "rerun with --debug and report the traceback", code="internal"
    )
    if mapped is None:
        err.exit_code = ExitCode.INTERNAL
    err.message, err.hint = redact(err.message), redact(err.hint)
    emit_error(command, err, fmt)
    return int(err.exit_code)


def _hard_exit(code: int) -> NoReturn:
    from azsqlctl.atomic_file import abandon_pending

    abandon_pending()  # a worker thread mid-write (scaffold) leaves no temp file behind
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


# --- usage errors in the house style -----------------------------------------------------------


def _command_path(group: TyperGroup, argv: Sequence[str]) -> str:
    path: list[str] = []
    current: object = group
    for arg in argv:
        commands = getattr(current, "commands", None)  # a group (the vendored click's Group)
        if arg.startswith("-") or not isinstance(commands, dict):
            break
        sub = commands.get(arg)
        if sub is None:
            break
        path.append(arg)
        current = sub
    return " ".join(path) or PROG


def usage_error(exc: click_exceptions.ClickException, command: str, fmt: OutputFormat) -> int:
    """One ``Error:``/``Hint:`` pair (or the JSON envelope) for a usage error Click found."""
    from .render import emit_error

    help_cmd = f"{PROG} {command} --help" if command != PROG else f"{PROG} --help"
    message = exc.format_message() if not isinstance(exc, click_exceptions.NoSuchOption) else exc.message
    hint = f"see {help_cmd}"
    if isinstance(exc, click_exceptions.NoSuchOption) and exc.possibilities:
        hint = f"did you mean {' or '.join(sorted(exc.possibilities))}? " + hint
    elif "Did you mean" in message:
        message, _, suggestion = message.partition(" Did you mean ")
        hint = f"did you mean {suggestion.rstrip('?')}? " + hint
    message = message.replace("Value error, ", "").rstrip(".")
    err = UsageError(message[:1].lower() + message[1:], hint, code="usage")
    emit_error(command, err, fmt.value)
    return int(ExitCode.USAGE)


class HouseGroup(TyperGroup):
    """The root group: parses in non-standalone mode so usage errors come out in the house style."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: object,
    ) -> object:
        argv = list(sys.argv[1:] if args is None else args)
        try:
            rv = super().main(argv, prog_name or PROG, complete_var, False, windows_expand_args, **extra)
        except click_exceptions.NoArgsIsHelpError as exc:
            print(exc.format_message(), file=sys.stderr)
            code = int(ExitCode.USAGE)
        except click_exceptions.ClickException as exc:
            code = usage_error(exc, _command_path(self, argv), _guess_output(argv))
        except typer.Abort:
            code = int(ExitCode.INTERRUPTED)
        else:
            code = rv if isinstance(rv, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code
