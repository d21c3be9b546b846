"""`azsqlctl doctor`: verify a token login end to end and say exactly what to fix."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from azsqlctl.core.config import env_help

from . import options as o
from .runner import run

if TYPE_CHECKING:
    from azsqlctl.core.doctor import DoctorReport, DoctorRequest
    from azsqlctl.core.settings import SettingsInput

    from .render import Result

INSPECT = "Inspection"


@o.with_target(o.SQL_AND_ARM_TARGET)
def doctor_command(
    target: SettingsInput,
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
    from azsqlctl.core.doctor import DoctorRequest

    request = DoctorRequest(target, connection_string, client_ip, admin_auth, admin_client_id)
    run("doctor", output, debug, lambda fmt: _run(request, fmt))


def _run(request: DoctorRequest, fmt: str) -> Result:
    from azsqlctl.azure import wiring
    from azsqlctl.core.doctor import doctor, prepare

    from .render import Result, error_entry, progress, warn

    prepared = prepare(request, os.environ, Path.cwd())
    for warning in prepared.settings.warnings:
        warn(warning)
    probes = wiring.doctor_probes(
        prepared.settings, extra=prepared.extra, admin_auth=prepared.admin_auth, admin_client_id=prepared.admin_client_id
    )
    with progress("Running checks…", fmt):
        report = doctor(prepared.options, probes)
    errors = [error_entry(report.error)] if report.error is not None else []
    return Result("doctor", report.as_dict(), report.exit_code, errors, human=lambda _: _human(report), errors_in_report=_shown_in(report))


def _shown_in(report: DoctorReport) -> bool:
    """Whether the report itself shows its error: its message in a failed check, its hint among the fixes."""
    from azsqlctl.core.doctor.schedule import Status

    if report.error is None:
        return True
    err = report.error
    findings = [c.finding for c in report.checks if c.status == Status.FAIL]
    fixes = [f.fix for f in report.fixes]
    return any(err.message in f for f in findings) and (not err.hint or any(err.hint in f for f in fixes))


# By ``Status`` value (a StrEnum): the table needs no import of core's doctor at --help.
STYLE = {"pass": "green", "warn": "yellow", "fail": "red", "skip": "dim"}
SYMBOL = {"pass": "✓", "warn": "!", "fail": "✗", "skip": "–"}


def _human(report: DoctorReport) -> None:
    from azsqlctl.core.doctor.schedule import Status

    from .render import console, shown

    con = console()
    for check in report.checks:
        style = STYLE[check.status]
        ms = f" [dim]({round(check.duration_ms, 1):.0f} ms)[/]" if check.status != Status.SKIP else ""
        con.print(f"[{style}]{SYMBOL[check.status]}[/] [bold]{shown(check.title)}[/]{ms}: {shown(check.finding)}")
    ident = report.identity
    if ident:
        con.print(
            f"\n[bold]Identity[/]: {shown(report.name or ident.client_id)} ({shown(ident.kind)}), tenant {shown(ident.tenant_id)}, object id {shown(ident.object_id)}, SID {ident.sid} = {ident.sid_hex}"
        )
    if report.fixes:
        con.print("\n[bold]Fix[/]")
        for i, fix in enumerate(report.fixes, 1):
            con.print(f"  {i}. [dim]({shown(fix.check)})[/] {shown(fix.fix)}")
    failed, warned = report.count(Status.FAIL), report.count(Status.WARN)
    verdict = "[red]failed[/]" if failed else "[green]passed[/]"
    con.print(f"\ndoctor {verdict}: {failed} failed, {warned} warning(s), {len(report.checks)} checks")
