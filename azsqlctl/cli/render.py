"""Human output (rich, imported lazily) and the versioned JSON envelope.

stdout carries the result; stderr carries errors, warnings and progress. JSON
mode prints exactly one envelope (or NDJSON lines for streaming commands).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Generic

from typing_extensions import TypeVar  # TypeVar defaults (PEP 696) arrive in typing with Python 3.13

from azsqlctl.core.errors import AzsqlctlError, ExitCode
from azsqlctl.core.visible import visible, visible_keeping_layout

if TYPE_CHECKING:
    from rich.console import Console, HighlighterType, JustifyMethod, OverflowMethod
    from rich.style import Style
    from rich.text import Text

ENVELOPE_VERSION = 1


class EnvelopeStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"  # ran, and a check failed or drift was found (exit 1)
    ERROR = "error"  # could not do the job (exit 2-6, 70)
    INTERRUPTED = "interrupted"  # Ctrl-C (exit 130)


ErrorEntry = dict[str, object]  # the envelope's errors[]: code, message, hint (and details)
# What ``data`` is: a typed result's JSON form, or the JSON itself (a bare ``Result`` is a Result[object]).
D = TypeVar("D", default=object)


@dataclass
class Result(Generic[D]):
    command: str
    data: D  # the envelope's ``data``, as json.dumps takes it
    exit_code: ExitCode = ExitCode.OK
    errors: list[ErrorEntry] = field(default_factory=list)
    human: Callable[[D], None] | None = None  # renders the result for people (typed renderers close over it)
    # ``human`` already shows every error's message and hint (doctor's failed check and its fix): when stdout and
    # stderr are one terminal (or one file), the Error:/Hint: lines would show a reader the same text twice.
    errors_in_report: bool = False

    @property
    def status(self) -> EnvelopeStatus:
        if self.errors and self.exit_code not in (ExitCode.OK, ExitCode.CHECK_FAILED):
            return EnvelopeStatus.ERROR
        return EnvelopeStatus.OK if self.exit_code == ExitCode.OK else EnvelopeStatus.FAILED


def envelope(command: str, status: EnvelopeStatus, exit_code: int, data: object, errors: list[ErrorEntry]) -> dict[str, object]:
    return {
        "version": ENVELOPE_VERSION,
        "command": command,
        "status": str(status),
        "exit_code": int(exit_code),
        "data": data,
        "errors": errors,
    }


def error_entry(err: AzsqlctlError) -> ErrorEntry:
    entry: ErrorEntry = {"code": err.code, "message": err.message, "hint": err.hint}
    if err.details:
        entry["details"] = err.details
    return entry


def shown(text: object) -> str:
    """A field from outside (Azure, a server, the audit log, a token) for rich markup: controls visible, markup escaped.

    Every human renderer passes such fields through here; JSON output carries them exact.
    """
    from rich.markup import escape

    return escape(visible(str(text)))


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    class SafeConsole(Console):
        """The last line of defence: whatever reaches the terminal as text has no control character but LF/TAB.

        Fields are made visible (newlines too) by ``shown``; this catches an ESC in a field a renderer forgot.
        """

        def render_str(
            self,
            text: str,
            *,
            style: str | Style = "",
            justify: JustifyMethod | None = None,
            overflow: OverflowMethod | None = None,
            emoji: bool | None = None,
            markup: bool | None = None,
            highlight: bool | None = None,
            highlighter: HighlighterType | None = None,
        ) -> Text:
            return super().render_str(
                visible_keeping_layout(text), style=style, justify=justify, overflow=overflow, emoji=emoji, markup=markup,
                highlight=highlight, highlighter=highlighter,
            )  # fmt: skip

    # rich honours NO_COLOR itself; soft_wrap keeps commands copy-pasteable. Piped
    # output (CI logs, files) gets a wide page so GUIDs and commands never wrap.
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or os.environ.get("COLUMNS") else 200
    return SafeConsole(stderr=stderr, soft_wrap=True, highlight=False, width=width)


def emit(result: Result[D], output: str) -> None:
    if output == "json":
        print(json.dumps(envelope(result.command, result.status, result.exit_code, result.data, result.errors), default=str))
        return
    if result.human is not None:
        result.human(result.data)
        if result.errors_in_report and _one_destination():
            return  # already read above; stderr gets them alone only when it is read apart from stdout
    hints: set[str] = set()
    for err in result.errors:  # many databases failing alike: one hint, not one per database
        hint = str(err.get("hint", ""))
        emit_error_human(str(err["message"]), "" if hint in hints else hint)
        hints.add(hint)


def _one_destination() -> bool:
    """Whether stdout and stderr are the same terminal, file or pipe (``2>&1``, an interactive shell)."""
    try:
        sys.stdout.flush()
        out, err = os.fstat(sys.stdout.fileno()), os.fstat(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):  # replaced streams (a test runner's) have no descriptor
        return False
    return (out.st_dev, out.st_ino, out.st_rdev) == (err.st_dev, err.st_ino, err.st_rdev)


def emit_error(command: str, err: AzsqlctlError, output: str) -> None:
    if output == "json":
        print(json.dumps(envelope(command, EnvelopeStatus.ERROR, err.exit_code, None, [error_entry(err)]), default=str), flush=True)
    else:
        emit_error_human(err.message, err.hint)


INTERRUPTED_MESSAGE = "interrupted (Ctrl-C)"
SIGNAL_NAMES = {2: "Ctrl-C", 15: "SIGTERM", 1: "SIGHUP"}


@dataclass(frozen=True)
class InterruptReport:
    """What a command had done when it was interrupted: the envelope's ``data`` and lines for stderr."""

    data: dict[str, object]
    lines: list[str]


def emit_interrupted(command: str, output: str, signum: int = 2, report: InterruptReport | None = None) -> None:
    """One line on stderr (plus the command's report); under JSON the envelope on stdout, so a consumer never reads nothing."""
    why = SIGNAL_NAMES.get(signum, f"signal {signum}")
    if output == "json":
        entry: ErrorEntry = {"code": "interrupted", "message": INTERRUPTED_MESSAGE if signum == 2 else f"interrupted ({why})", "hint": ""}
        data = report.data if report else None
        print(json.dumps(envelope(command, EnvelopeStatus.INTERRUPTED, 128 + signum, data, [entry])), flush=True)
        return
    sys.stderr.write(f"Interrupted: {command} stopped ({why})\n")
    for line in report.lines if report else []:
        sys.stderr.write(line + "\n")
    sys.stderr.flush()


def emit_error_human(message: str, hint: str) -> None:
    con = console(stderr=True)
    con.print(f"[bold red]Error:[/] {shown(message)}")
    if hint:
        con.print(f"[bold]Hint:[/] {shown(hint)}")


def warn(message: str) -> None:
    console(stderr=True).print(f"[yellow]Warning:[/] {shown(message)}")


@contextmanager
def progress(message: str, output: str) -> Iterator[None]:
    """A spinner on stderr, only when stderr is a terminal and output is for humans."""
    if output == "json" or not sys.stderr.isatty() or os.environ.get("CI"):
        yield
        return
    with console(stderr=True).status(message):
        yield
