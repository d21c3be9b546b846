"""`azsqlctl doctor`: verify a token login end to end and say exactly what to fix."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from azsqlctl.core.config import env_help, env_name

from . import options as o
from .runner import run

if TYPE_CHECKING:
    from azsqlctl.core.logs.recent import AuditLookup

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
            help="The application's ODBC connection string, tested as it is (server/database taken from it unless given) "
            + env_help("connection_string"),
            metavar="ODBC",
            rich_help_panel=o.TARGET,
            show_default=False,
        ),
    ] = None,
    client_ip: Annotated[
        str | None,
        typer.Option(
            "--client-ip",
            metavar="IP",
            help="This client's public address, to check firewall coverage",
            rich_help_panel=o.TARGET,
            show_default=False,
        ),
    ] = None,
    admin_auth: Annotated[
        str | None,
        typer.Option(
            "--admin-auth",
            metavar="KIND",
            help="A second credential (e.g. the Entra admin's) that may read sys.database_principals, used only to explain a failed login",
            rich_help_panel=INSPECT,
            show_default=False,
        ),
    ] = None,
    admin_client_id: Annotated[
        str | None,
        typer.Option(
            "--admin-client-id",
            metavar="GUID",
            help="Client id for --admin-auth managed-identity",
            rich_help_panel=INSPECT,
            show_default=False,
        ),
    ] = None,
    output: o.Output = None,
    debug: o.Debug = False,
) -> None:
    """Check driver, credential, token, DNS/TCP/TLS, server settings, login and permissions; print the fixes."""
    conn = connection_string if connection_string is not None else os.environ.get(env_name("connection_string"), "")

    def action(fmt: str) -> object:
        from azsqlctl.azure.doctor_probes import RealProbes
        from azsqlctl.core.connstr import split_target
        from azsqlctl.core.doctor import DoctorOptions, doctor
        from azsqlctl.core.errors import UsageError
        from azsqlctl.core.netaddr import is_ip
        from azsqlctl.core.settings import AUTH_KINDS, SettingsInput, parse_guid, resolve_settings

        from .render import Result, error_entry, progress, warn

        if client_ip is not None and not is_ip(client_ip):
            raise UsageError(
                f"--client-ip '{client_ip}' is not an IP address", "pass this client's public IPv4 or IPv6 address", code="bad_ip"
            )
        if admin_auth is not None and admin_auth not in AUTH_KINDS:
            raise UsageError(f"unknown --admin-auth '{admin_auth}'", f"use one of: {', '.join(AUTH_KINDS)}", code="bad_auth")
        if admin_client_id is not None and admin_auth is None:
            raise UsageError("--admin-client-id without --admin-auth", "pass --admin-auth managed-identity too", code="conflict")
        admin_cid = parse_guid(admin_client_id, "--admin-client-id") if admin_client_id else ""
        # The connection string ranks below the environment and above the config file (the one precedence rule, core.config).
        cs_server, cs_database, extra = split_target(conn) if conn else ("", "", "")
        given = SettingsInput(
            server=server, database=database, subscription=subscription, resource_group=resource_group, cloud=cloud, auth=auth,
            client_id=client_id, tenant_id=tenant_id, driver=driver, ca_bundle=ca_bundle, timeout=timeout,
            trust_server_certificate=trust_server_certificate, strict=strict,
            server_from_connection_string=cs_server, database_from_connection_string=cs_database,
        )  # fmt: skip
        settings = resolve_settings(given, os.environ, Path.cwd())
        settings.require_server()
        if "database" not in settings.sources:
            raise UsageError(
                "no database given: doctor tests the database your application uses, not master",
                f"pass --database appdb (or set {env_name('database')}); --database master tests master on purpose",
                code="no_database",
            )
        if settings.trust_server_certificate:
            warn("--trust-server-certificate disables certificate validation: use it for local/dev targets only")
        probes = RealProbes(settings, extra=extra, admin_auth=admin_auth or "", admin_client_id=admin_cid)

        def audit() -> AuditLookup | None:
            from .logs import audit_lookup  # the Monitor SDKs: only when a refused login needs the audit log

            lookup: AuditLookup | None = audit_lookup(settings)
            return lookup

        options = DoctorOptions(settings, client_ip=client_ip or "", inspect=bool(admin_auth), audit=audit)
        with progress("Running checks…", fmt):
            report = doctor(options, probes)
        errors = [error_entry(report.error)] if report.error is not None else []
        data = report.as_dict()
        return Result("doctor", data, report.exit_code, errors, human=_human, errors_in_report=_shown_in(data, errors))

    run("doctor", output, debug, action)


def _shown_in(data: dict[str, Any], errors: list[dict[str, Any]]) -> bool:
    """Whether the report itself shows each error: its message in a failed check, its hint among the fixes."""
    findings = [str(c["finding"]) for c in data["checks"] if c["status"] == "fail"]
    fixes = [str(f["fix"]) for f in data["fixes"]]
    return all(
        any(str(e["message"]) in f for f in findings) and (not e.get("hint") or any(str(e["hint"]) in f for f in fixes)) for e in errors
    )


STYLE = {"pass": "green", "warn": "yellow", "fail": "red", "skip": "dim"}
SYMBOL = {"pass": "✓", "warn": "!", "fail": "✗", "skip": "–"}


def _human(data: dict[str, Any]) -> None:
    from .render import console, shown

    con = console()
    for check in data["checks"]:
        style = STYLE[check["status"]]
        ms = f" [dim]({check['duration_ms']:.0f} ms)[/]" if check["status"] != "skip" else ""
        con.print(f"[{style}]{SYMBOL[check['status']]}[/] [bold]{shown(check['title'])}[/]{ms}: {shown(check['finding'])}")
    ident = data.get("identity")
    if ident:
        con.print(
            f"\n[bold]Identity[/]: {shown(ident['name'] or ident['client_id'])} ({shown(ident['type'])}), tenant {shown(ident['tenant_id'])}, object id {shown(ident['object_id'])}, SID {ident['sid']} = {ident['sid_hex']}"
        )
    if data["fixes"]:
        con.print("\n[bold]Fix[/]")
        for i, fix in enumerate(data["fixes"], 1):
            con.print(f"  {i}. [dim]({shown(fix['check'])})[/] {shown(fix['fix'])}")
    failed = sum(1 for c in data["checks"] if c["status"] == "fail")
    warned = sum(1 for c in data["checks"] if c["status"] == "warn")
    verdict = "[red]failed[/]" if failed else "[green]passed[/]"
    con.print(f"\ndoctor {verdict}: {failed} failed, {warned} warning(s), {len(data['checks'])} checks")
