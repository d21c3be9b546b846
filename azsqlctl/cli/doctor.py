"""`azsqlctl doctor`: verify a token login end to end and say exactly what to fix."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from . import options as o

INSPECT = "Inspection"


def doctor_command(
    server: o.Server = None,
    database: o.Database = None,
    subscription: o.Subscription = None,
    resource_group: o.ResourceGroup = None,
    cloud: o.Cloud = None,
    auth: o.Auth = None,
    client_id: o.ClientId = None,
    tenant_id: o.TenantId = None,
    driver: o.Driver = None,
    ca_bundle: o.CaBundle = None,
    trust_server_certificate: o.TrustServerCertificate = False,
    strict: o.Strict = False,
    timeout: o.Timeout = None,
    connection_string: Annotated[
        str | None,
        typer.Option(
            "--connection-string",
            help="The application's ODBC connection string, tested as it is (server/database taken from it unless given) [env AZSQLCTL_CONNECTION_STRING]",
            rich_help_panel=o.TARGET,
            show_default=False,
        ),
    ] = None,
    client_ip: Annotated[
        str | None,
        typer.Option(
            "--client-ip", help="This client's public address, to check firewall coverage", rich_help_panel=o.TARGET, show_default=False
        ),
    ] = None,
    admin_auth: Annotated[
        str | None,
        typer.Option(
            "--admin-auth",
            help="A second credential (e.g. the Entra admin's) that may read sys.database_principals, used only to explain a failed login",
            rich_help_panel=INSPECT,
            show_default=False,
        ),
    ] = None,
    admin_client_id: Annotated[
        str | None,
        typer.Option("--admin-client-id", help="Client id for --admin-auth managed-identity", rich_help_panel=INSPECT, show_default=False),
    ] = None,
    output: o.Output = None,
    debug: o.Debug = False,
) -> None:
    """Check driver, credential, token, DNS/TCP/TLS, server settings, login and permissions; print the fixes."""
    from .app import run

    flags = dict(locals())

    def action(fmt: str) -> Any:
        from azsqlctl.azure.doctor_probes import RealProbes
        from azsqlctl.core.connstr import split_target
        from azsqlctl.core.doctor import DoctorOptions, doctor
        from azsqlctl.core.settings import resolve_settings

        from .render import Result, progress, warn

        extra = ""
        conn = flags.get("connection_string") or os.environ.get("AZSQLCTL_CONNECTION_STRING", "")
        if conn:
            cs_server, cs_database, extra = split_target(conn)
            flags["server"] = flags.get("server") or (cs_server if not os.environ.get("AZSQLCTL_SERVER") else None)
            flags["database"] = flags.get("database") or (cs_database if not os.environ.get("AZSQLCTL_DATABASE") else None)
        settings = resolve_settings(flags, os.environ, Path.cwd())
        settings.require_server()
        if "database" not in settings.sources:
            from azsqlctl.core.errors import UsageError

            raise UsageError(
                "no database given: doctor tests the database your application uses, not master",
                "pass --database appdb (or set AZSQLCTL_DATABASE); --database master tests master on purpose",
                code="no_database",
            )
        if settings.trust_server_certificate:
            warn("--trust-server-certificate disables certificate validation: use it for local/dev targets only")
        probes = RealProbes(
            settings, extra=extra, admin_auth=flags.get("admin_auth") or "", admin_client_id=flags.get("admin_client_id") or ""
        )
        from .logs import audit_lookup

        options = DoctorOptions(settings, client_ip=flags.get("client_ip") or "", inspect=bool(flags.get("admin_auth")))
        options.audit = audit_lookup(settings)
        with progress("Running checks…", fmt):
            report = doctor(options, probes)
        errors = []
        if report.error is not None:
            from .render import error_entry

            errors.append(error_entry(report.error))
        return Result("doctor", report.as_dict(), report.exit_code, errors, human=_human)

    run("doctor", output, debug, action)


STYLE = {"pass": "green", "warn": "yellow", "fail": "red", "skip": "dim"}
SYMBOL = {"pass": "✓", "warn": "!", "fail": "✗", "skip": "–"}


def _human(data: dict[str, Any]) -> None:
    from rich.markup import escape

    from .render import console

    con = console()
    for check in data["checks"]:
        style = STYLE[check["status"]]
        ms = f" [dim]({check['duration_ms']:.0f} ms)[/]" if check["status"] != "skip" else ""
        con.print(f"[{style}]{SYMBOL[check['status']]}[/] [bold]{escape(check['title'])}[/]{ms}: {escape(check['finding'])}")
    ident = data.get("identity")
    if ident:
        con.print(
            f"\n[bold]Identity[/]: {escape(ident['name'] or ident['client_id'])} ({ident['type']}), tenant {ident['tenant_id']}, object id {ident['object_id']}, SID {ident['sid']} = {ident['sid_hex']}"
        )
    if data["fixes"]:
        con.print("\n[bold]Fix[/]")
        for i, fix in enumerate(data["fixes"], 1):
            con.print(f"  {i}. [dim]({fix['check']})[/] {escape(fix['fix'])}")
    failed = sum(1 for c in data["checks"] if c["status"] == "fail")
    warned = sum(1 for c in data["checks"] if c["status"] == "warn")
    verdict = "[red]failed[/]" if failed else "[green]passed[/]"
    con.print(f"\ndoctor {verdict}: {failed} failed, {warned} warning(s), {len(data['checks'])} checks")
