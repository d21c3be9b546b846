"""The one exception hierarchy and the named exit codes.

Every failure the user can act on is an ``AzsqlctlError`` carrying what went
wrong, what to do, and which exit code it means. The CLI renders them once,
at the entry point.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from typing import Literal

ProbeStep = Literal["dns", "tcp", "prelogin", "tls"]


class ExitCode(IntEnum):
    OK = 0
    CHECK_FAILED = 1  # a check failed, or drift was found
    USAGE = 2  # bad option, bad config, malformed input
    AUTHENTICATION = 3  # no credential, token refused
    CONNECTION = 4  # DNS, TCP, TLS, firewall, driver cannot connect
    NOT_FOUND = 5  # server, database, principal or driver not found
    PERMISSION = 6  # authenticated but not allowed
    INTERNAL = 70  # a bug in azsqlctl (EX_SOFTWARE); rerun with --debug and report it
    INTERRUPTED = 130  # Ctrl-C (SIGINT): 128 + 2, as shells report it


class AzsqlctlError(Exception):
    exit_code: ExitCode = ExitCode.CHECK_FAILED
    code: str = "error"

    def __init__(self, message: str, hint: str = "", *, code: str | None = None, details: Mapping[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details: dict[str, object] = dict(details or {})
        if code is not None:
            self.code = code


class UsageError(AzsqlctlError):
    exit_code = ExitCode.USAGE
    code = "usage"


class ConfigError(UsageError):
    code = "config"


class AuthenticationError(AzsqlctlError):
    exit_code = ExitCode.AUTHENTICATION
    code = "authentication"


class ConnectionFailed(AzsqlctlError):
    exit_code = ExitCode.CONNECTION
    code = "connection"


class NotFound(AzsqlctlError):
    exit_code = ExitCode.NOT_FOUND
    code = "not_found"


class DriverNotFound(NotFound):
    code = "driver_not_found"


class PermissionDenied(AzsqlctlError):
    exit_code = ExitCode.PERMISSION
    code = "permission"


class CheckFailed(AzsqlctlError):
    exit_code = ExitCode.CHECK_FAILED
    code = "check_failed"


class Interrupted(AzsqlctlError):
    """Ctrl-C (SIGINT): what a failure raised after the interrupt really means."""

    exit_code = ExitCode.INTERRUPTED
    code = "interrupted"

    def __init__(self) -> None:
        super().__init__("interrupted", "")


class ProbeFailed(ConnectionFailed):
    """A network probe step failed."""

    def __init__(self, step: ProbeStep, message: str) -> None:
        super().__init__(message, code=step)
        self.step: ProbeStep = step
