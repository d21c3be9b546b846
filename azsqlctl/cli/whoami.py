"""`azsqlctl whoami`: log in with a token and show who the server says you are."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from . import options as o
from .runner import run


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
    from azsqlctl.core.settings import SettingsInput

    given = SettingsInput(
        server=server, database=database, cloud=cloud, auth=auth, client_id=client_id, tenant_id=tenant_id, driver=driver,
        ca_bundle=ca_bundle, timeout=timeout, trust_server_certificate=trust_server_certificate, strict=strict,
    )  # fmt: skip

    def action(fmt: str) -> object:
        from azsqlctl.azure.credentials import CredentialTokens
        from azsqlctl.azure.doctor_probes import DiagnosingConnector
        from azsqlctl.azure.sql import DriverConnector
        from azsqlctl.core.settings import resolve_settings
        from azsqlctl.core.whoami import whoami

        from .render import Result, progress, warn

        settings = resolve_settings(given, os.environ, Path.cwd())
        if settings.trust_server_certificate:
            warn("--trust-server-certificate disables certificate validation: use it for local/dev targets only")
        connector = DiagnosingConnector(DriverConnector(settings), settings)  # finds the driver first: before any token request
        tokens = CredentialTokens(settings.auth, settings.client_id, settings.cloud, settings.tenant_id, settings.timeout)
        with progress("Logging in…", fmt):
            info = whoami(settings, tokens, connector)
        return Result("whoami", info.as_dict(), human=_human)

    run("whoami", output, debug, action)


def _human(data: dict[str, Any]) -> None:
    from .render import console, shown

    con = console()
    ident = data["identity"]
    who = ident["name"] or ident["client_id"]
    con.print(
        f"[green]✓[/] Logged in to [bold]{shown(data['database_name'])}[/] on {shown(data['server'])} "
        f"as [bold]{shown(data['login_name'])}[/] (user {shown(data['user_name'])})"
    )
    rows = [
        ("credential", f"{data['credential']} ({data['token_ms']:.0f} ms)"),  # every value is shown() below
        ("identity", f"{who} ({ident['type']}, tenant {ident['tenant_id']})"),
        ("object id", ident["object_id"]),
        ("SID", f"{ident['sid']} = {ident['sid_hex']}"),
        ("server", data["server_version"]),
        ("login", f"{data['login_ms']:.0f} ms"),
        ("roles", ", ".join(data["roles"]) or "(none)"),
        ("permissions", ", ".join(data["permissions"])),
    ]
    for key, value in rows:
        con.print(f"  [dim]{key:<12}[/] {shown(value)}")
    for w in data["warnings"]:
        con.print(f"[yellow]![/] {shown(w)}")
