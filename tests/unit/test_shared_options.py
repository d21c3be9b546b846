"""The shared connection options: declared once (cli/options.py), parsed by Typer into one SettingsInput."""

from __future__ import annotations

import inspect

import pytest
import typer
from typer.testing import CliRunner

from azsqlctl.cli import options as o
from azsqlctl.core.settings import SettingsInput


def _app(names: tuple[str, ...], seen: list[SettingsInput], connection_before: str = "") -> typer.Typer:
    app = typer.Typer()

    @app.command()
    @o.with_target(names, connection_before=connection_before)
    def command(target: SettingsInput, verbose: bool = False, output: o.Output = None) -> None:
        seen.append(target)

    return app


def test_options_become_one_settings_input() -> None:
    seen: list[SettingsInput] = []
    args = ["-S", "myserver", "-d", "appdb", "--auth", "cli", "--client-id", "g", "--trust-server-certificate", "--timeout", "30"]
    result = CliRunner().invoke(_app(o.SQL_TARGET, seen), args)
    assert result.exit_code == 0, result.output
    assert seen == [
        SettingsInput(server="myserver", database="appdb", auth="cli", client_id="g", timeout="30", trust_server_certificate=True)
    ]


def test_an_option_not_taken_is_refused() -> None:
    result = CliRunner().invoke(_app(o.SQL_TARGET, []), ["--subscription", "s"])
    assert result.exit_code == 2 and "--subscription" in result.output


def test_grant_spells_the_operator_identity_apart() -> None:
    seen: list[SettingsInput] = []
    result = CliRunner().invoke(_app(o.GRANT_TARGET, seen), ["--operator-client-id", "g"])
    assert result.exit_code == 0, result.output
    assert seen[0].client_id == "g" and seen[0].client_id_flag == "--operator-client-id"
    assert CliRunner().invoke(_app(o.GRANT_TARGET, []), ["--client-id", "g"]).exit_code == 2


def test_signature_order_and_connection_placement() -> None:
    seen: list[SettingsInput] = []
    names = list(inspect.signature(_app(o.ARM_TARGET, seen, "output").registered_commands[0].callback).parameters)  # type: ignore[arg-type]
    assert names == ["server", "subscription", "resource_group", "verbose", "cloud", "auth", "client_id", "tenant_id", "ca_bundle",
                     "timeout", "output"]  # fmt: skip
    names = list(inspect.signature(_app(o.ARM_TARGET, seen).registered_commands[0].callback).parameters)  # type: ignore[arg-type]
    assert names == [*o.ARM_TARGET, "verbose", "output"]


def test_unknown_names_and_missing_target_are_errors() -> None:
    with pytest.raises(ValueError, match="not a shared connection option"):
        o.with_target(("server", "password"))

    def no_target(output: o.Output = None) -> None: ...

    with pytest.raises(TypeError):
        o.with_target(o.SQL_TARGET)(no_target)
