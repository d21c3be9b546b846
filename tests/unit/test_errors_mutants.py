"""core/errors.py: each error's exit code and machine-readable code (what scripts and JSON output rely on)."""

from __future__ import annotations

import typing

import pytest

from azsqlctl.core import errors
from azsqlctl.core.errors import ExitCode


def test_exit_codes_are_the_documented_numbers() -> None:
    assert {e.name: int(e) for e in ExitCode} == {
        "OK": 0, "CHECK_FAILED": 1, "USAGE": 2, "AUTHENTICATION": 3, "CONNECTION": 4,
        "NOT_FOUND": 5, "PERMISSION": 6, "INTERNAL": 70, "INTERRUPTED": 130,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("cls", "exit_code", "code"),
    [
        (errors.AzsqlctlError, 1, "error"),
        (errors.UsageError, 2, "usage"),
        (errors.ConfigError, 2, "config"),
        (errors.AuthenticationError, 3, "authentication"),
        (errors.ConnectionFailed, 4, "connection"),
        (errors.NotFound, 5, "not_found"),
        (errors.DriverNotFound, 5, "driver_not_found"),
        (errors.PermissionDenied, 6, "permission"),
        (errors.CheckFailed, 1, "check_failed"),
    ],
)
def test_each_error_class_carries_its_exit_code_and_code(cls: type[errors.AzsqlctlError], exit_code: int, code: str) -> None:
    error = cls("went wrong", "do this")
    assert (error.exit_code, error.code, error.message, error.hint, str(error), error.details) == (
        exit_code, code, "went wrong", "do this", "went wrong", {},
    )  # fmt: skip
    assert cls("m").hint == ""


def test_a_given_code_and_details_override_and_are_copied() -> None:
    details = {"a": 1}
    error = errors.NotFound("m", code="no_database", details=details)
    details["b"] = 2
    assert (error.code, error.details, error.exit_code) == ("no_database", {"a": 1}, ExitCode.NOT_FOUND)
    assert errors.NotFound("m").code == "not_found"  # the class default is not changed by an instance


def test_interrupted_and_probe_failed() -> None:
    stopped = errors.Interrupted()
    assert (stopped.message, stopped.hint, str(stopped), stopped.code, stopped.exit_code) == (
        "interrupted",
        "",
        "interrupted",
        "interrupted",
        130,
    )
    probe = errors.ProbeFailed("tls", "handshake failed")
    assert (probe.step, probe.code, probe.message, str(probe), probe.exit_code) == ("tls", "tls", "handshake failed", "handshake failed", 4)
    assert typing.get_args(errors.ProbeStep) == ("dns", "tcp", "prelogin", "tls")
