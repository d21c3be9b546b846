"""`azsqlctl grant export`: adopt existing databases into a policy file.

Typed options -> the (server, database) pairs (--database, or every database a policy's targets
resolve to) -> ``core.grant_export.export_databases`` -> the policy text (stdout or --out) and a summary.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from . import options as o

if TYPE_CHECKING:
    from azsqlctl.core.grant.export import Export
    from azsqlctl.core.settings import SettingsInput

    from .render import Result

EXPORT = "Export"


def export_command(
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            metavar="FILE",
            help="Export every database this policy's targets resolve to (else the one --database)",
            rich_help_panel=EXPORT,
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", metavar="FILE", help="Write the policy here (default: stdout)", rich_help_panel=EXPORT, show_default=False),
    ] = None,
    allow_unexpressed: Annotated[
        bool,
        typer.Option(
            "--allow-unexpressed",
            help="Exit 0 even when some access cannot be expressed in a policy (it is listed, commented, at the end)",
            rich_help_panel=EXPORT,
        ),
    ] = False,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=64, metavar="N", help="Databases read at once", rich_help_panel=EXPORT)
    ] = 8,
    subscription: o.Subscription = None,
    resource_group: o.ResourceGroup = None,
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
    """Write a policy file from what databases hold: Entra users and groups, role memberships, custom roles and their grants."""
    from azsqlctl.core.settings import SettingsInput

    from .runner import run

    given = SettingsInput(
        server=server, database=database, subscription=subscription, resource_group=resource_group, cloud=cloud, auth=auth,
        client_id=client_id, tenant_id=tenant_id, driver=driver, ca_bundle=ca_bundle, timeout=timeout,
        trust_server_certificate=trust_server_certificate, strict=strict,
    )  # fmt: skip
    run("grant export", output, debug, lambda fmt: _action(fmt, given, policy, out, allow_unexpressed, concurrency))


def _action(fmt: str, given: SettingsInput, policy: Path | None, out: Path | None, allow: bool, concurrency: int) -> Result:
    from azsqlctl.atomic_file import write_atomic
    from azsqlctl.azure import wiring
    from azsqlctl.core.config import env_name
    from azsqlctl.core.errors import ExitCode, UsageError
    from azsqlctl.core.grant.export import export_databases
    from azsqlctl.core.settings import resolve_settings

    from .render import Result, progress

    settings = resolve_settings(given, os.environ, Path.cwd())
    default_server = settings.server.display if settings.server else ""
    ports = wiring.grant_ports(settings)
    errors: list[dict[str, object]] = []
    if policy is not None:
        from azsqlctl.core.grant.operation import expand_targets
        from azsqlctl.core.grant.policy import load_policy

        if settings.sources.get("database") == "--database":
            raise UsageError("--database would be ignored: the policy's targets name the databases", "drop --database (or --policy)",
                             code="conflict")  # fmt: skip
        pol = load_policy(policy, allow_elevated=True)
        if any(t.select is not None for t in pol.targets):  # servers found through Resource Graph
            from azsqlctl.core.grant.fleet import resolve_select

            from .grant_fleet import warn_partial

            pol, fleet = resolve_select(pol, wiring.resource_graph(settings), settings.server)
            warn_partial(fleet)
        op = expand_targets(pol, ports, default_server)
        for row in op.failed:
            errors.append({"code": row.error_code, "message": row.error, "hint": row.hint})
        targets = [(job.server, job.database) for job in op.jobs]
    else:
        if "database" not in settings.sources:
            raise UsageError("no database given", f"pass --database (or set {env_name('database')}), or --policy FILE", code="no_database")
        targets = [(default_server, settings.database)]
    admins = None
    if settings.subscription and settings.resource_group and settings.server is not None:
        from .grant_admin import admin_port

        admins = {default_server: admin_port(settings).current()}
    with progress(f"Reading {len(targets)} database(s)", fmt):
        exported = export_databases(ports, targets, default_server, admins, concurrency)
    if out is not None:
        write_atomic(out, exported.text)
    code = ExitCode.OK
    if exported.unexpressed and not allow:
        code = ExitCode.CHECK_FAILED
        errors.append({
            "code": "unexpressed",
            "message": f"{len(exported.unexpressed)} thing(s) in these databases cannot be expressed in a policy "
            "(listed, with their T-SQL, in the NOT EXPRESSED section at the end of the file)",
            "hint": "review them; pass --allow-unexpressed to accept a policy that leaves them as they are",
        })  # fmt: skip
    elif errors:
        code = ExitCode.NOT_FOUND
    data = {**exported.as_dict(), "out": str(out) if out else None}
    return Result("grant export", data, code, errors, human=lambda d: _human(exported, out))


def _human(exported: Export, out: Path | None) -> None:
    summary = (
        f"Exported {exported.identities} identit{'y' if exported.identities == 1 else 'ies'}, {exported.roles} role(s) and "
        f"{exported.targets} target(s) from {len(exported.databases)} database(s)"
        + (f"; {len(exported.unexpressed)} not expressed (listed at the end)" if exported.unexpressed else "")
        + (f": {out}" if out else "")
    )
    if out is None:
        sys.stdout.write(exported.text)
        sys.stdout.flush()
        sys.stderr.write(summary + "\n")
    else:
        print(summary)
