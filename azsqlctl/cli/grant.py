"""`azsqlctl grant`: least-privilege roles for an Entra identity, as a reviewed plan."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from . import options as o

MODE = "Mode"
WHO = "Identity"
ADMIN = "Server (ARM)"


def grant_command(
    identity: Annotated[
        str | None,
        typer.Argument(
            help="The database user name: the identity's display name (managed identity / app / group) or UPN", show_default=False
        ),
    ] = None,
    role: Annotated[
        list[str] | None,
        typer.Option(
            "--role",
            "-r",
            help="reader, writer, executor, migrator, or an existing role name (repeatable)",
            rich_help_panel=WHO,
            show_default=False,
        ),
    ] = None,
    type_: Annotated[
        str | None,
        typer.Option("--type", help="app (service principal / managed identity), user or group", rich_help_panel=WHO, show_default=False),
    ] = None,
    client_id: Annotated[
        str | None,
        typer.Option(
            "--client-id",
            help="The identity's client (application) id: its SID for apps and managed identities",
            rich_help_panel=WHO,
            show_default=False,
        ),
    ] = None,
    object_id: Annotated[
        str | None,
        typer.Option(
            "--object-id",
            help="The identity's object id: its SID for users and groups; selects FROM EXTERNAL PROVIDER WITH OBJECT_ID",
            rich_help_panel=WHO,
            show_default=False,
        ),
    ] = None,
    sid_mode: Annotated[
        bool, typer.Option("--sid-mode", help="CREATE USER ... WITH SID (no directory lookup by the server)", rich_help_panel=WHO)
    ] = False,
    apply: Annotated[bool, typer.Option("--apply", help="Apply the plan without asking", rich_help_panel=MODE)] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only print the plan", rich_help_panel=MODE)] = False,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 when the plan is not empty (drift), for CI", rich_help_panel=MODE)] = False,
    revoke: Annotated[bool, typer.Option("--revoke", help="Remove the role memberships instead", rich_help_panel=MODE)] = False,
    drop_user: Annotated[bool, typer.Option("--drop-user", help="With --revoke: also drop the user", rich_help_panel=MODE)] = False,
    allow_elevated: Annotated[
        bool, typer.Option("--allow-elevated", help="Permit db_owner, db_securityadmin, db_accessadmin, CONTROL", rich_help_panel=MODE)
    ] = False,
    policy: Annotated[
        Path | None,
        typer.Option("--policy", help="A policy file (TOML): roles, identities, targets", rich_help_panel=MODE, show_default=False),
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=64, help="Databases handled at once (policy mode)", rich_help_panel=MODE)
    ] = 8,
    prune: Annotated[
        bool, typer.Option("--prune", help="Remove memberships and grants the policy does not declare", rich_help_panel=MODE)
    ] = False,
    ensure_entra_admin: Annotated[
        str | None,
        typer.Option(
            "--ensure-entra-admin",
            help="Make this group/user the server's Entra admin (ARM; needs --subscription, --resource-group)",
            rich_help_panel=ADMIN,
            show_default=False,
        ),
    ] = None,
    entra_admin_id: Annotated[
        str | None,
        typer.Option("--entra-admin-id", help="Its object id (client id for an application)", rich_help_panel=ADMIN, show_default=False),
    ] = None,
    entra_admin_type: Annotated[
        str, typer.Option("--entra-admin-type", help="Group, User or Application", rich_help_panel=ADMIN)
    ] = "Group",
    replace_admin: Annotated[
        bool, typer.Option("--replace-admin", help="Replace a different existing Entra admin", rich_help_panel=ADMIN)
    ] = False,
    subscription: o.Subscription = None,
    resource_group: o.ResourceGroup = None,
    server: o.Server = None,
    database: o.Database = None,
    cloud: o.Cloud = None,
    auth: o.Auth = None,
    operator_client_id: Annotated[
        str | None,
        typer.Option(
            "--operator-client-id",
            help="Your own user-assigned identity, if you are one [env AZSQLCTL_CLIENT_ID]",
            rich_help_panel=o.AUTH,
            show_default=False,
        ),
    ] = None,
    tenant_id: o.TenantId = None,
    driver: o.Driver = None,
    ca_bundle: o.CaBundle = None,
    trust_server_certificate: o.TrustServerCertificate = False,
    strict: o.Strict = False,
    timeout: o.Timeout = None,
    output: o.Output = None,
    debug: o.Debug = False,
) -> None:
    """Give an identity least-privilege database roles: plan, print, apply in one transaction, check for drift."""
    from .app import run

    flags = dict(locals())
    # The shared settings' client_id is *your* identity; grant's --client-id is the target's.
    settings_flags = {**flags, "client_id": operator_client_id}

    def action(fmt: str) -> Any:
        from azsqlctl.core.errors import UsageError
        from azsqlctl.core.settings import resolve_settings

        modes = [m for m in ("apply", "dry_run", "check") if flags[m]]
        if len(modes) > 1:
            raise UsageError(
                f"choose one of --apply, --dry-run, --check (got {', '.join('--' + m.replace('_', '-') for m in modes)})",
                "pass exactly one of them",
                code="bad_mode",
            )
        mode = modes[0] if modes else ""
        if not mode and not (sys.stdin.isatty() and fmt == "human"):
            raise UsageError(
                "no terminal to confirm the plan on", "pass --apply to apply it, or --dry-run to only print it", code="no_confirmation"
            )
        settings = resolve_settings(settings_flags, os.environ, Path.cwd())
        from .grant_admin import ensure_admin

        admin = ensure_admin(settings, flags, mode, fmt) if flags["ensure_entra_admin"] else None
        result = _policy(settings, policy, mode, fmt, flags) if policy is not None else _single(settings, mode, fmt, flags)
        if admin is not None:
            result.data["entra_admin"] = admin
        return result

    run("grant", output, debug, action)


def _single(settings: Any, mode: str, fmt: str, flags: dict[str, Any]) -> Any:
    from azsqlctl.azure.grant_ports import RealGrantPorts
    from azsqlctl.core.errors import ExitCode, UsageError
    from azsqlctl.core.grant import ApplyFailed, Assignment, Request, apply_plan, build_plan
    from azsqlctl.core.grant_plan import CI_ONLY, IdentitySpec, expand_roles, refuse_elevated, validate_identity

    from .grant_render import data as _data
    from .grant_render import human as _human
    from .grant_render import render_plan as _render_plan
    from .render import Result, progress, warn

    name, roles_in = flags["identity"], flags["role"] or []
    if not name:
        raise UsageError(
            "no identity given", "azsqlctl grant IDENTITY --role reader --client-id GUID, or --policy FILE", code="no_identity"
        )
    if not roles_in and not (flags["revoke"] and flags["drop_user"]):
        raise UsageError("no --role given", "use --role reader, writer, executor or migrator (or an existing role name)", code="no_role")
    kind = flags["type_"] or ("app" if flags["client_id"] else "")
    if not kind:
        if flags["sid_mode"]:
            warn("cannot tell whether this is an app (matched by client id) or a user/group (object id): assuming a user; pass --type")
        kind = "user"
    spec = IdentitySpec(name, kind, flags["client_id"] or "", flags["object_id"] or "", flags["sid_mode"])
    problems = validate_identity(spec)
    if problems:
        raise UsageError(
            problems[0], "apps and managed identities: --client-id GUID; users and groups: --object-id GUID", code="bad_identity"
        )
    roles = expand_roles(roles_in)
    refuse_elevated([*roles_in, *roles], flags["allow_elevated"])
    if any(r.lower() in CI_ONLY for r in roles_in):
        warn("migrator (db_ddladmin) is for the CI identity that runs schema migrations, not for an application")
    if "database" not in settings.sources:
        raise UsageError("no database given", "pass --database (or set AZSQLCTL_DATABASE)", code="no_database")
    ports = RealGrantPorts(settings)
    server = settings.require_server().display
    req = Request([Assignment(spec, roles)], revoke=flags["revoke"], drop_user=flags["drop_user"])
    session = ports.session("", settings.database)
    try:
        with progress("Reading current state…", fmt):
            plan = build_plan(session, server, settings.database, req)
        status = "drift" if plan.blocked else ("unchanged" if not plan.steps else "planned")
        if plan.steps and not plan.blocked and not mode:
            _render_plan(plan.as_dict())
            if not typer.confirm(f"Apply {len(plan.steps)} statement(s) to {settings.database}?", default=False):
                return Result(
                    "grant",
                    _data(
                        "apply",
                        [{"server": server, "database": settings.database, "status": "planned", "plan": plan.as_dict(), "error": ""}],
                    ),
                    ExitCode.OK,
                )
            mode = "apply"
        if mode == "apply" and plan.steps and not plan.blocked:
            try:
                apply_plan(session, plan)
            except ApplyFailed:
                if fmt == "human":
                    _render_plan(plan.as_dict())  # show what was attempted before the error
                raise
            status = "changed"
    finally:
        session.close()
    target = {
        "server": server,
        "database": settings.database,
        "status": status,
        "plan": plan.as_dict(),
        "error": plan.blocked,
        "error_code": "drift" if plan.blocked else "",
    }
    code = ExitCode.OK
    if plan.blocked or (mode == "check" and not plan.empty):
        code = ExitCode.CHECK_FAILED
    return Result("grant", _data(mode or "apply", [target]), code, human=_human)


def _policy(settings: Any, path: Path, mode: str, fmt: str, flags: dict[str, Any]) -> Any:
    from azsqlctl.azure.grant_ports import RealGrantPorts
    from azsqlctl.core.errors import ExitCode
    from azsqlctl.core.grant import expand_targets, run_many
    from azsqlctl.core.policy import load_policy

    from .grant_render import data as _data
    from .grant_render import human as _human
    from .render import Result, console

    pol = load_policy(path, flags["allow_elevated"])  # everything validated before any connection
    ports = RealGrantPorts(settings)
    default_server = settings.server.display if settings.server else ""
    jobs = expand_targets(pol, ports, default_server)
    for _s, _d, req in jobs:
        req.prune = flags["prune"]
    run_mode = "apply" if mode == "apply" else "plan"
    if not mode:
        mode = "apply" if typer.confirm(f"Plan and apply the policy to {len(jobs)} database(s)?", default=False) else "dry_run"
        run_mode = "apply" if mode == "apply" else "plan"
    if fmt == "human" and sys.stderr.isatty():
        from rich.progress import Progress

        with Progress(console=console(stderr=True), transient=True) as bar:
            task = bar.add_task("Databases", total=len(jobs))
            results = run_many(jobs, ports, run_mode, flags["concurrency"], lambda _r: bar.advance(task))
    else:
        results = run_many(jobs, ports, run_mode, flags["concurrency"])
    failed = [r for r in results if r.status in ("failed", "drift")]  # drift status = blocked, nothing applied
    pending = [r for r in results if r.status == "planned" or (r.plan and r.plan.drift)]
    code = ExitCode.OK
    if failed or (mode == "check" and pending):  # apply reports unpruned drift; --check fails on it
        code = ExitCode.CHECK_FAILED
    return Result("grant", _data(mode, [r.as_dict() for r in results]), code, human=_human)
