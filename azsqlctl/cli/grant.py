"""`azsqlctl grant`: least-privilege roles for an Entra identity, as a reviewed plan.

One identity (`grant NAME --role ...`) is a one-target, one-identity policy: both
modes build a core ``Operation`` and run ``core.grant.execute``; this module only
turns flags into that operation, shows the plans, asks once, and renders.
"""

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
            help="The database user name: the identity's name as Azure shows it (managed identity / app / group) or UPN",
            show_default=False,
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
        typer.Option(
            "--type",
            help="app (service principal / managed identity), user or group; never guessed from an object id",
            rich_help_panel=WHO,
            show_default=False,
        ),
    ] = None,
    client_id: Annotated[
        str | None,
        typer.Option(
            "--client-id",
            help="The identity's client (application) id: its SID for apps and managed identities (implies --type app)",
            rich_help_panel=WHO,
            show_default=False,
        ),
    ] = None,
    object_id: Annotated[
        str | None,
        typer.Option(
            "--object-id",
            help="The identity's object (principal) id: its SID for users and groups; selects FROM EXTERNAL PROVIDER WITH OBJECT_ID",
            rich_help_panel=WHO,
            show_default=False,
        ),
    ] = None,
    identity_resource: Annotated[
        str | None,
        typer.Option(
            "--identity-resource",
            help="An ARM id: a user-assigned identity, or a web app / function app / container app / VM with a system-assigned identity",
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
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=64, help="Databases handled at once", rich_help_panel=MODE)] = 8,
    retries: Annotated[
        int,
        typer.Option(
            "--retries",
            min=0,
            max=8,
            help="Retries per database after a transient error (40613, 40501, 40197); backoff 1, 2, 4 ... s",
            rich_help_panel=MODE,
        ),
    ] = 3,
    prune: Annotated[
        bool, typer.Option("--prune", help="Remove memberships and grants that are not declared", rich_help_panel=MODE)
    ] = False,
    ensure_entra_admin: Annotated[
        str | None,
        typer.Option(
            "--ensure-entra-admin",
            help="Make this group/user/app the server's Entra admin (ARM; needs --subscription, --resource-group)",
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
    from .runner import run

    flags = dict(locals())
    # The shared settings' client_id is *your* identity; grant's --client-id is the target's.
    settings_flags = {**flags, "client_id": operator_client_id}
    run("grant", output, debug, lambda fmt: _action(fmt, flags, settings_flags))


def _mode(flags: dict[str, Any], fmt: str) -> Any:
    from azsqlctl.core.errors import UsageError
    from azsqlctl.core.grant import Mode

    modes = [m for m in ("apply", "dry_run", "check") if flags[m]]
    if len(modes) > 1:
        raise UsageError(
            f"choose one of --apply, --dry-run, --check (got {', '.join('--' + m.replace('_', '-') for m in modes)})",
            "pass exactly one of them",
            code="bad_mode",
        )
    if not modes and not (sys.stdin.isatty() and fmt == "human"):
        raise UsageError(
            "no terminal to confirm the plan on", "pass --apply to apply it, or --dry-run to only print it", code="no_confirmation"
        )
    return Mode(modes[0].replace("_", "-")) if modes else Mode.ASK


def _single_identity(settings: Any, flags: dict[str, Any]) -> Any:
    """The identity the flags name, validated; nothing is guessed."""
    from azsqlctl.core.errors import UsageError
    from azsqlctl.core.identity import KIND_HELP, IdentitySpec, Kind, validate_identity

    if flags["identity_resource"]:
        clash = [f for f in ("type_", "client_id", "object_id") if flags[f]]
        if clash:
            names = ", ".join("--" + f.strip("_").replace("_", "-") for f in clash)
            raise UsageError(f"--identity-resource names the identity; {names} would contradict it", f"drop {names}", code="bad_identity")
        from .grant_admin import resolve_identity_resource

        spec = resolve_identity_resource(settings, flags["identity_resource"], flags["identity"] or "")
        spec = IdentitySpec(spec.name, spec.kind, spec.client_id, spec.object_id, flags["sid_mode"], spec.source)
    else:
        # Only apps have a client id, so --client-id says --type app; an object id alone says nothing.
        kind = flags["type_"] or (Kind.APP.value if flags["client_id"] else "")
        spec = IdentitySpec(flags["identity"], kind, flags["client_id"] or "", flags["object_id"] or "", flags["sid_mode"])
    problems = validate_identity(spec)
    if problems:
        naming = any(p.startswith(("the name", "'")) for p in problems[:1])
        hint = (
            "name the identity as Azure shows it: az identity show -n NAME -g GROUP --query name, or --identity-resource ARM_ID"
            if naming
            else KIND_HELP + '. Find them: az identity show -n NAME -g GROUP --query "{clientId:clientId, principalId:principalId}"'
        )
        raise UsageError(problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""), hint, code="bad_identity")
    return spec


def _operation(settings: Any, flags: dict[str, Any], ports: Any) -> Any:
    from azsqlctl.core.errors import UsageError
    from azsqlctl.core.grant import Assignment, Job, Operation, Request, expand_targets
    from azsqlctl.core.grant_plan import CI_ONLY, expand_roles, refuse_elevated

    from .render import warn

    default_server = settings.server.display if settings.server else ""
    if flags["policy"] is not None:
        from azsqlctl.core.policy import load_policy

        if flags["identity"] or flags["identity_resource"]:
            raise UsageError("--policy names its own identities", "drop the IDENTITY argument (or --policy)", code="bad_mode")
        pol = load_policy(flags["policy"], flags["allow_elevated"])  # everything validated before any connection
        if any(spec.source for spec in pol.identities.values()):
            from azsqlctl.core.policy import resolve_resources

            from .grant_admin import resolve_identity_resource

            resolve_resources(pol, lambda arm_id: resolve_identity_resource(settings, arm_id))
        return expand_targets(pol, ports(), default_server, flags["prune"])
    if not (flags["identity"] or flags["identity_resource"]):
        if flags["ensure_entra_admin"]:
            return Operation()
        raise UsageError(
            "no identity given",
            "azsqlctl grant IDENTITY --role reader --client-id GUID, --identity-resource ARM_ID, or --policy FILE",
            code="no_identity",
        )
    spec = _single_identity(settings, flags)
    roles_in = flags["role"] or []
    if not roles_in and not (flags["revoke"] and flags["drop_user"]):
        raise UsageError("no --role given", "use --role reader, writer, executor or migrator (or an existing role name)", code="no_role")
    roles = expand_roles(roles_in)
    refuse_elevated([*roles_in, *roles], flags["allow_elevated"])
    if any(r.lower() in CI_ONLY for r in roles_in):
        warn("migrator (db_ddladmin) is for the CI identity that runs schema migrations, not for an application")
    if "database" not in settings.sources:
        raise UsageError("no database given", "pass --database (or set AZSQLCTL_DATABASE)", code="no_database")
    req = Request([Assignment(spec, roles)], revoke=flags["revoke"], drop_user=flags["drop_user"], prune=flags["prune"])
    return Operation([Job(default_server, settings.database, req)])


def _action(fmt: str, flags: dict[str, Any], settings_flags: dict[str, Any]) -> Any:
    from azsqlctl.core.grant import Mode, execute
    from azsqlctl.core.settings import resolve_settings

    from .grant_admin import admin_port, admin_spec
    from .grant_render import confirm_plans, errors_of, human
    from .render import Result, console

    mode = _mode(flags, fmt)
    settings = resolve_settings(settings_flags, os.environ, Path.cwd())
    cached: list[Any] = []

    def ports() -> Any:
        if not cached:
            from azsqlctl.azure.grant_ports import RealGrantPorts

            cached.append(RealGrantPorts(settings))
        return cached[0]

    op = _operation(settings, flags, ports)
    admin = None
    if flags["ensure_entra_admin"]:
        op.admin, op.replace_admin = admin_spec(flags), flags["replace_admin"]
        admin = admin_port(settings)

    def run(on_done: Any = None) -> Any:
        return execute(
            op, ports() if op.jobs else None, mode, admin_port=admin, confirm=confirm_plans if mode is Mode.ASK else None,
            concurrency=flags["concurrency"], on_done=on_done, backoff=[float(2**i) for i in range(flags["retries"])],
        )  # fmt: skip

    if fmt == "human" and sys.stderr.isatty() and len(op.jobs) > 1:
        from rich.progress import Progress

        with Progress(console=console(stderr=True), transient=True) as bar:
            task = bar.add_task("Databases", total=len(op.jobs))
            outcome = run(lambda _r: bar.advance(task))
    else:
        outcome = run()
    data = outcome.as_dict()
    data["plans_shown"] = mode is Mode.ASK
    if flags["policy"] is None:
        if op.jobs:  # what the identity resolved to (from --identity-resource too): name, type, both ids, SID
            data["identity"] = op.jobs[0].request.assignments[0].identity.as_dict()
        for target in data["targets"]:
            correction = (target["plan"] or {}).get("correction")
            if correction:
                target["corrected_command"] = _corrected(target["plan"]["identity"], correction, flags, mode)
    return Result("grant", data, outcome.exit_code, errors_of(outcome), human=human)


def _corrected(name: str, correction: dict[str, str], flags: dict[str, Any], mode: Any) -> str:
    """This command with the identity named as ``correction`` says, ready to paste."""
    import shlex

    args = ["azsqlctl", "grant", name, "--type", correction["type"]]
    for key in ("client_id", "object_id"):
        if correction.get(key):
            args += ["--" + key.replace("_", "-"), correction[key]]
    for r in flags["role"] or []:
        args += ["--role", r]
    for flag in ("revoke", "drop_user", "prune", "allow_elevated", "sid_mode"):
        if flags[flag]:
            args.append("--" + flag.replace("_", "-"))
    if mode.value != "ask":
        args.append("--" + mode.value)
    return shlex.join(args)
