"""The root command: registers the commands; ``runner`` turns errors into messages and exit codes."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from azsqlctl import __version__

from .runner import PROG, HouseGroup, enable_hard_exit

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


# The root's help lists every command by its one-line summary. Building the real commands for that imports
# every command module (~75 ms of `azsqlctl --help`, bench/startup.py), so the listing is built from these
# summaries instead; tests/unit/test_root_listing.py keeps them equal to the commands' own help, text and order.
SUMMARIES = {
    "whoami": "Log in to the database with an Entra token; print the login, user, roles and permissions.",
    "doctor": "Check driver, credential, token, DNS/TCP/TLS, server settings, login and permissions; print the fixes.",
    "grant": "Give an identity least-privilege database roles: plan, print, apply in one transaction, check for drift.",
    "scaffold": "Generate the FastAPI <-> Azure SQL connection module, its tests and a CI workflow.",
    "logs": "Failed logins (18456 and friends) from Azure Monitor, with the real state, cause and fix.",
    "sandbox": "A local Azure SQL + Entra ID stand-in driven by the real SDKs and ODBC driver.",
}  # in the order the root's help lists them: Typer puts plain commands before groups (logs, sandbox)


def _listed(name: str) -> None:
    """Never run: a name on the command line builds the real command (``main``)."""


def build_app(only: str | None = None, listing: bool = False) -> typer.Typer:
    """The root command with every command, or with ``only`` that one (its siblings' modules are not imported);
    ``listing``: every command as its name and summary only, for the root's help, --version and typos."""
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
    if listing:
        for name, summary in SUMMARIES.items():
            app.command(name, help=summary, add_help_option=False)(_listed)
        return app
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
    # parameter building cost ~70 ms of every run). The root's --help, --version and typos need only the
    # names and summaries; shell completion walks every command's options, so it gets them all.
    first = sys.argv[1] if len(sys.argv) > 1 else ""
    if first in COMMANDS:
        build_app(first)()
    elif os.environ.get(f"_{PROG}_COMPLETE".replace("-", "_").upper()):  # Click's completion variable, named as Click names it
        build_app()()
    else:
        build_app(listing=True)()
