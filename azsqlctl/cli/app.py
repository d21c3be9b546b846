"""The root command: registers the commands; ``runner`` turns errors into messages and exit codes."""

from __future__ import annotations

from typing import Annotated

import typer
from typer.core import TyperOption

from azsqlctl import __version__

from .runner import HouseGroup, enable_hard_exit

__all__ = ["app", "main"]

app = typer.Typer(
    name="azsqlctl",
    cls=HouseGroup,
    # Only what is registered below is listed (Typer builds the command list): no advertising of future commands.
    help="Passwordless (Entra ID) access to Azure SQL Database, and a local sandbox to test it against.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


_typer_display_type_rich = getattr(TyperOption, "display_type_rich", None)  # typer >= 0.29 shows <type> for every option


def _display_type_rich(self: TyperOption, ctx: object) -> str | None:
    """Flags take no value: show none (Typer 0.29 prints ``<bool>``); an explicit metavar wins over ``<str>``."""
    if self.is_flag:
        return None
    if self.metavar:
        return self.metavar
    assert _typer_display_type_rich is not None
    result: str | None = _typer_display_type_rich(self, ctx)
    return result


if _typer_display_type_rich is not None:
    TyperOption.display_type_rich = _display_type_rich  # type: ignore[attr-defined]


def _version(value: bool) -> None:
    if value:
        print(f"azsqlctl {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit")] = False,
) -> None:
    """Passwordless (Entra ID) access to Azure SQL Database, and a local sandbox to test it against."""


def _register() -> None:
    from . import doctor, grant, logs, sandbox, whoami

    app.command("whoami")(whoami.whoami_command)
    app.command("doctor")(doctor.doctor_command)
    app.command("grant")(grant.grant_command)
    app.add_typer(logs.app, name="logs")
    app.add_typer(sandbox.app, name="sandbox")


_register()


def main() -> None:
    enable_hard_exit()
    app()
