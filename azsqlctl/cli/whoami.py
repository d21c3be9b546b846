"""`azsqlctl whoami`: log in with a token and show who the server says you are.

Options -> ``WhoamiRequest`` -> settings -> ports from the composition root -> ``core.whoami.whoami`` -> ``WhoAmI`` rendered.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from . import options as o
from .runner import run

if TYPE_CHECKING:
    from azsqlctl.core.settings import SettingsInput
    from azsqlctl.core.whoami import WhoAmI, WhoamiRequest

    from .render import Result


@o.with_target(o.SQL_TARGET)
def whoami_command(target: SettingsInput, output: o.Output = None, debug: o.Debug = False) -> None:
    """Log in to the database with an Entra token; print the login, user, roles and permissions."""
    from azsqlctl.core.whoami import WhoamiRequest

    request = WhoamiRequest(target)
    run("whoami", output, debug, lambda fmt: _run(request, fmt))


def _run(request: WhoamiRequest, fmt: str) -> Result:
    from azsqlctl.azure import wiring
    from azsqlctl.core.whoami import settings_for, whoami

    from .render import Result, progress, warn

    settings = settings_for(request, os.environ, Path.cwd())
    for warning in settings.warnings:
        warn(warning)
    connector = wiring.sql_connector(settings)  # finds the driver first: before any token request
    with progress("Logging in…", fmt):
        info = whoami(settings, wiring.tokens(settings), connector)
    return Result("whoami", info.as_dict(), human=lambda _: _human(info))


def _human(info: WhoAmI) -> None:
    from .render import console, shown

    con = console()
    ident = info.identity
    who = ident.name or ident.client_id
    con.print(
        f"[green]✓[/] Logged in to [bold]{shown(info.database_name)}[/] on {shown(info.server)} "
        f"as [bold]{shown(info.login_name)}[/] (user {shown(info.user_name)})"
    )
    rows = [
        ("credential", f"{info.credential} ({round(info.token_ms, 1):.0f} ms)"),  # every value is shown() below
        ("identity", f"{who} ({ident.kind}, tenant {ident.tenant_id})"),
        ("object id", ident.object_id),
        ("SID", f"{ident.sid} = {ident.sid_hex}"),
        ("server", info.server_version),
        ("login", f"{round(info.login_ms, 1):.0f} ms"),
        ("roles", ", ".join(info.roles) or "(none)"),
        ("permissions", ", ".join(info.permissions)),
    ]
    for key, value in rows:
        con.print(f"  [dim]{key:<12}[/] {shown(value)}")
    for w in info.warnings:
        con.print(f"[yellow]![/] {shown(w)}")
