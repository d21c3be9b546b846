"""`azsqlctl whoami`: log in with a token and show who the server says you are."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from . import options as o


def whoami_command(
    server: o.Server = None,
    database: o.Database = None,
    cloud: o.Cloud = None,
    auth: o.Auth = None,
    client_id: o.ClientId = None,
    tenant_id: o.TenantId = None,
    driver: o.Driver = None,
    ca_bundle: o.CaBundle = None,
    trust_server_certificate: o.TrustServerCertificate = False,
    strict: o.Strict = False,
    timeout: o.Timeout = None,
    output: o.Output = None,
    debug: o.Debug = False,
) -> None:
    """Log in to the database with an Entra token; print the login, user, roles and permissions."""
    from .app import run

    flags = dict(locals())

    def action(fmt: str) -> Any:
        from azsqlctl.azure.credentials import CredentialTokens
        from azsqlctl.azure.sql import DriverConnector
        from azsqlctl.core.settings import resolve_settings
        from azsqlctl.core.whoami import whoami

        from .render import Result, progress, warn

        settings = resolve_settings(flags, os.environ, Path.cwd())
        if settings.trust_server_certificate:
            warn("--trust-server-certificate disables certificate validation: use it for local/dev targets only")
        connector = DriverConnector(settings)  # find the driver first: fail before any token request
        tokens = CredentialTokens(settings.auth, settings.client_id, settings.cloud, settings.tenant_id, settings.timeout)
        with progress("Logging in…", fmt):
            info = whoami(settings, tokens, connector)
        return Result("whoami", info.as_dict(), human=_human)

    run("whoami", output, debug, action)


def _human(data: dict[str, Any]) -> None:
    from rich.table import Table

    from .render import console

    con = console()
    ident = data["identity"]
    who = ident["name"] or ident["client_id"]
    con.print(
        f"[green]✓[/] Logged in to [bold]{data['database_name']}[/] on {data['server']} as [bold]{data['login_name']}[/] (user {data['user_name']})"
    )
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="dim")
    table.add_column()
    table.add_row("credential", f"{data['credential']} ({data['token_ms']:.0f} ms)")
    table.add_row("identity", f"{who} ({ident['type']}, tenant {ident['tenant_id']})")
    table.add_row("object id", ident["object_id"])
    table.add_row("SID", f"{ident['sid']} = {ident['sid_hex']}")
    table.add_row("server", data["server_version"])
    table.add_row("login", f"{data['login_ms']:.0f} ms")
    table.add_row("roles", ", ".join(data["roles"]) or "(none)")
    table.add_row("permissions", ", ".join(data["permissions"]))
    con.print(table)
    for w in data["warnings"]:
        con.print(f"[yellow]![/] {w}")
