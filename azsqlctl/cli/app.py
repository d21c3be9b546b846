"""The root command: registers the commands; ``runner`` turns errors into messages and exit codes."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from azsqlctl import __version__

from .runner import HouseGroup, enable_hard_exit

__all__ = ["COMMANDS", "build_app", "main"]  # and ``app`` (every command), built on first use


def _version(value: bool) -> None:
    if value:
        print(f"azsqlctl {__version__}")
        raise typer.Exit(0)


def root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit")] = False,
) -> None:
    """Passwordless (Entra ID) access to Azure SQL Database, and a local sandbox to test it against."""


COMMANDS = ("whoami", "doctor", "grant", "logs", "sandbox", "scaffold")
START_HERE = (
    "Start here: azsqlctl doctor --server myserver --database appdb (checks everything between this machine and "
    "the database, and prints the fixes). No Azure at hand: azsqlctl sandbox run -- azsqlctl whoami"
)


def build_app(only: str | None = None) -> typer.Typer:
    """The root command with every command, or with ``only`` that one (its siblings' modules are not imported)."""
    app = typer.Typer(
        name="azsqlctl",
        cls=HouseGroup,
        # Only what is registered below is listed (Typer builds the command list): no advertising of future commands.
        help="Passwordless (Entra ID) access to Azure SQL Database, and a local sandbox to test it against.",
        epilog=START_HERE,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=True,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(root)
    for name in COMMANDS if only is None else (only,):
        if name == "whoami":
            from . import whoami

            app.command(name)(whoami.whoami_command)
        elif name == "doctor":
            from . import doctor

            app.command(name)(doctor.doctor_command)
        elif name == "grant":
            from . import grant

            app.command(name, cls=grant.GrantCommand)(grant.grant_command)
        elif name == "logs":
            from . import logs

            app.add_typer(logs.app, name=name)
        elif name == "sandbox":
            from . import sandbox

            app.add_typer(sandbox.app, name=name)
        else:
            from . import scaffold

            app.command(name)(scaffold.scaffold_command)
    return app


def __getattr__(name: str) -> typer.Typer:
    """``app``: every command, built on first use (tests, the SDK); ``main`` builds only what the command line needs."""
    if name == "app":
        full = build_app()
        globals()["app"] = full
        return full
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    enable_hard_exit()
    # A run names its command first: only that command is registered (the others' modules and Typer's
    # parameter building cost ~70 ms of every run). --help, --version, completion and typos get them all.
    first = sys.argv[1] if len(sys.argv) > 1 else ""
    build_app(first if first in COMMANDS else None)()
