"""The root command, and the one place where errors become messages and exit codes."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Callable
from typing import Annotated, NoReturn

import typer

from azsqlctl import __version__
from azsqlctl.core.errors import AzsqlctlError, ExitCode
from azsqlctl.core.redact import redact

from .options import OutputFormat

app = typer.Typer(
    name="azsqlctl",
    help="Passwordless (Entra ID) access to Azure SQL Database: grant, doctor, logs, scaffold - and a local sandbox.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"azsqlctl {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit")] = False,
) -> None:
    """Passwordless (Entra ID) access to Azure SQL Database."""


def resolve_output(flag: OutputFormat | None) -> str:
    if flag is not None:
        return flag.value
    env = os.environ.get("AZSQLCTL_OUTPUT", "human").strip().lower()
    return env if env in ("human", "json") else "human"


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


_DEBUG_LOGGERS = ("azsqlctl", "azure", "msal", "urllib3")


def enable_debug_logging() -> Callable[[], None]:
    """Log everything to stderr, redacted; returns the undo (a command must not leave handlers behind)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RedactingFilter())
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


def run(command: str, output: OutputFormat | None, debug: bool, action: Callable[[str], object]) -> NoReturn:
    """Run ``action(format)`` - which renders its own Result - and exit with the right code."""
    from .render import Result, emit, emit_error

    fmt = resolve_output(output)
    undo_logging = enable_debug_logging() if debug else (lambda: None)
    try:
        result = action(fmt)
    except AzsqlctlError as err:
        if debug:
            sys.stderr.write(redact(traceback.format_exc()))
        err.message, err.hint = redact(err.message), redact(err.hint)
        emit_error(command, err, fmt)
        raise typer.Exit(int(err.exit_code)) from None
    except KeyboardInterrupt:
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no raw traceback without --debug
        if debug:
            sys.stderr.write(redact(traceback.format_exc()))
        internal = AzsqlctlError(
            redact(f"unexpected {type(exc).__name__}: {exc}"), "rerun with --debug and report the traceback", code="internal"
        )
        internal.exit_code = ExitCode.INTERNAL
        emit_error(command, internal, fmt)
        raise typer.Exit(int(ExitCode.INTERNAL)) from None
    finally:
        undo_logging()
    if isinstance(result, Result):
        emit(result, fmt)
        raise typer.Exit(int(result.exit_code))
    raise typer.Exit(int(result) if isinstance(result, int) else 0)


def _register() -> None:
    from . import doctor, grant, logs, sandbox, whoami

    app.command("doctor")(doctor.doctor_command)
    app.command("grant")(grant.grant_command)
    app.add_typer(logs.app, name="logs")
    app.add_typer(sandbox.app, name="sandbox")
    app.command("whoami")(whoami.whoami_command)


_register()


def main() -> None:
    app()
