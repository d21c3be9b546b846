"""The root's help, --version and typos are answered from cli/app.SUMMARIES, without importing the commands:
the answers must be exactly what the full app gives."""

from __future__ import annotations

import functools

import pytest
import typer
from typer.testing import CliRunner

from azsqlctl.cli.app import COMMANDS, SUMMARIES, build_app


@functools.cache
def _full_app() -> typer.Typer:
    """The reference: every command loaded. Built once (its Click command too, which tests/conftest.py caches per
    app): invoking it changes nothing in it. The listing app is built anew for each case: what it loads is the test."""
    return build_app()


@pytest.mark.parametrize("argv", [["--help"], ["-h"], [], ["--version"], ["whoamy"], ["logz", "--help"], ["--bogus"]])
@pytest.mark.parametrize("columns", ["80", "132"])
def test_the_listing_answers_as_the_full_app(argv: list[str], columns: str) -> None:
    runner = CliRunner()
    env = {"COLUMNS": columns, "TERM": "dumb"}
    listed = runner.invoke(build_app(listing=True), argv, env=env)
    full = runner.invoke(_full_app(), argv, env=env)
    assert (listed.exit_code, listed.output) == (full.exit_code, full.output)
    assert listed.output.strip()


def test_every_command_is_listed_once() -> None:
    assert sorted(SUMMARIES) == sorted(COMMANDS)
