"""`azsqlctl grant`: least-privilege roles for an Entra identity, as a reviewed plan.

One identity (`grant NAME --role ...`) is a one-target, one-identity policy: both
modes build a core ``Operation`` and run ``core.grant.execute``; this module only
turns flags into that operation, shows the plans, asks once, and renders.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ParamSpec, cast

import typer
from typer._click.core import Context as ClickContext
from typer.core import TyperCommand

from . import options as o

if TYPE_CHECKING:
    from azsqlctl.core.grant import GrantPorts, Mode, Operation, Outcome, TargetResult
    from azsqlctl.core.identity import IdentitySpec
    from azsqlctl.core.settings import ConnectionSettings, SettingsInput

    from .render import Result

MODE = "Mode"
FLEET = "Policy (many identities and databases)"
WHO = "Identity"
ADMIN = "Server (ARM)"


@o.with_target(o.GRANT_TARGET)
def grant_command(
    identity: Annotated[
        str | None,
        typer.Argument(
            metavar="IDENTITY",
            click_type=o.PLAIN,
            help="The database user: the identity's name as Azure shows it, or a UPN",
            show_default=False,
        ),
    ] = None,
    role: Annotated[
        list[str] | None,
        typer.Option(
            "--role",
            "-r",
            metavar="ROLE",
            help="reader, writer, executor, migrator or a role's name (repeatable)",
            rich_help_panel=WHO,
            show_default=False,
        ),
    ] = None,
    type_: Annotated[
        str | None,
        typer.Option(
            "--type",
            metavar="KIND",
            help="app (managed identity, service principal), user or group",
            rich_help_panel=WHO,
            show_default=False,
        ),
    ] = None,
    client_id: Annotated[
        str | None,
        typer.Option(
            "--client-id",
            metavar="GUID",
            help="An app's client id, its SID (implies --type app)",
            rich_help_panel=WHO,
            show_default=False,
        ),
    ] = None,
    object_id: Annotated[
        str | None,
        typer.Option(
            "--object-id",
            metavar="GUID",
            help="Object id: a user's/group's SID",
            rich_help_panel=WHO,
            show_default=False,
        ),
    ] = None,
    identity_resource: Annotated[
        str | None,
        typer.Option(
            "--identity-resource",
            metavar="ARM_ID",
            help="ARM id of a managed identity or of a resource with one",
            rich_help_panel=WHO,
            show_default=False,
        ),
    ] = None,
    sid_mode: Annotated[bool, typer.Option("--sid-mode", help="CREATE USER WITH SID: no lookup", rich_help_panel=WHO)] = False,
    apply: Annotated[bool, typer.Option("--apply", help="Apply the plan without asking", rich_help_panel=MODE)] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only print the plan", rich_help_panel=MODE)] = False,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 if the plan is not empty (drift; for CI)", rich_help_panel=MODE)] = False,
    revoke: Annotated[bool, typer.Option("--revoke", help="Remove the role memberships instead", rich_help_panel=MODE)] = False,
    drop_user: Annotated[bool, typer.Option("--drop-user", help="With --revoke: also drop the user", rich_help_panel=MODE)] = False,
    allow_elevated: Annotated[
        bool, typer.Option("--allow-elevated", help="Permit db_owner, db_securityadmin, db_accessadmin, CONTROL", rich_help_panel=MODE)
    ] = False,
    policy: Annotated[
        Path | None,
        typer.Option("--policy", metavar="FILE", help="TOML file: roles, identities, targets", rich_help_panel=FLEET, show_default=False),
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=64, metavar="N", help="Databases handled at once", rich_help_panel=FLEET)
    ] = 8,
    retries: Annotated[
        int,
        typer.Option(
            "--retries",
            metavar="N",
            min=0,
            max=8,
            help="Retries after 40613/40501/40197",
            rich_help_panel=FLEET,
        ),
    ] = 3,
    prune: Annotated[bool, typer.Option("--prune", help="Remove undeclared memberships and grants", rich_help_panel=FLEET)] = False,
    show_targets: Annotated[
        bool,
        typer.Option(
            "--show-targets",
            help="With --policy: list the databases it reaches and why; change nothing",
            rich_help_panel=MODE,
        ),
    ] = False,
    ensure_entra_admin: Annotated[
        str | None,
        typer.Option(
            "--ensure-entra-admin",
            metavar="NAME",
            help="Make it the server's Entra admin (needs -g, --subscription)",
            rich_help_panel=ADMIN,
            show_default=False,
        ),
    ] = None,
    entra_admin_id: Annotated[
        str | None,
        typer.Option(
            "--entra-admin-id",
            metavar="GUID",
            help="Its object id (apps: the client id)",
            rich_help_panel=ADMIN,
            show_default=False,
        ),
    ] = None,
    entra_admin_type: Annotated[
        str | None,
        typer.Option(
            "--entra-admin-type", metavar="TYPE", help="Group (default), User or Application", rich_help_panel=ADMIN, show_default=False
        ),
    ] = None,
    replace_admin: Annotated[
        bool, typer.Option("--replace-admin", help="Replace a different existing Entra admin", rich_help_panel=ADMIN)
    ] = False,
    *,
    target: SettingsInput,
    output: o.Output = None,
    debug: o.Debug = False,
) -> None:
    """Give an identity least-privilege database roles: plan, print, apply in one transaction, check for drift.

    azsqlctl grant orders-api --client-id GUID --role reader -S myserver -d appdb
    shows the plan and asks; --apply applies it, --check fails on drift (CI).
    A fleet: --policy FILE (write one from today's databases: grant export).
    """
    from .runner import run

    opts = GrantOptions(
        identity=identity, roles=tuple(role or ()), kind=type_, client_id=client_id, object_id=object_id,
        identity_resource=identity_resource, sid_mode=sid_mode, apply=apply, dry_run=dry_run, check=check, revoke=revoke,
        drop_user=drop_user, allow_elevated=allow_elevated, policy=policy, concurrency=concurrency, retries=retries, prune=prune,
        ensure_entra_admin=ensure_entra_admin, entra_admin_id=entra_admin_id, entra_admin_type=entra_admin_type,
        replace_admin=replace_admin, show_targets=show_targets,
    )  # fmt: skip
    # The shared settings' client id is *your* identity (--operator-client-id); grant's --client-id is the target's.
    given = target
    run("grant", output, debug, lambda fmt: _collector_paused(lambda: _action(fmt, opts, given)))


def _collector_paused(work: Callable[[], Result]) -> Result:
    """Run ``work`` with the cyclic garbage collector off (reference counting still frees everything).

    A policy's load and plans allocate hundreds of thousands of objects that all stay alive until the
    command ends; the collector rescans them generation after generation and frees nothing: over a
    third of the CPU of a 60,000-identity --dry-run (``python -m bench policy``). Restored afterwards.
    """
    import gc

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return work()
    finally:
        if was_enabled:
            gc.enable()


@dataclass(frozen=True)
class GrantOptions:
    """grant's own options, typed (the shared connection options travel as a ``SettingsInput``)."""

    identity: str | None = None
    roles: tuple[str, ...] = ()
    kind: str | None = None  # --type
    client_id: str | None = None  # the target identity's, not the operator's
    object_id: str | None = None
    identity_resource: str | None = None
    sid_mode: bool = False
    apply: bool = False
    dry_run: bool = False
    check: bool = False
    revoke: bool = False
    drop_user: bool = False
    allow_elevated: bool = False
    policy: Path | None = None
    concurrency: int = 8
    retries: int = 3
    prune: bool = False
    ensure_entra_admin: str | None = None
    entra_admin_id: str | None = None
    entra_admin_type: str | None = None
    replace_admin: bool = False
    show_targets: bool = False

    def flags(self, *names: str) -> list[str]:
        """The options among ``names`` (attribute names) that were given, spelled as on the command line."""
        spelled = {"kind": "--type", "roles": "--role", "identity": "IDENTITY"}
        return [spelled.get(n, "--" + n.replace("_", "-")) for n in names if getattr(self, n)]


def refuse_meaningless(opts: GrantOptions) -> None:
    """Combinations that would be silently ignored are usage errors (exit 2), before any connection."""
    from azsqlctl.core.errors import UsageError

    def refuse(given: list[str], why: str, hint: str) -> None:
        if given:
            raise UsageError(f"{', '.join(given)} {why}", hint, code="conflict")

    if not opts.revoke:
        refuse(opts.flags("drop_user"), "only applies with --revoke", "add --revoke to remove the memberships and drop the user")
    if opts.policy is not None:
        refuse(opts.flags("identity", "identity_resource", "client_id", "object_id", "kind", "roles", "sid_mode"),
               "would be ignored: --policy names its own identities, roles and SID modes",
               "drop them (or --policy); the policy file declares each identity and its roles")  # fmt: skip
        refuse(opts.flags("revoke"), "does not combine with --policy",
               "revoke one identity: azsqlctl grant NAME --role ROLE --revoke (or --prune with the policy)")  # fmt: skip
    if opts.revoke:
        refuse(opts.flags("prune", "sid_mode"), "would be ignored with --revoke (it removes memberships, it creates nothing)",
               "drop them (or --revoke)")  # fmt: skip
    if not opts.ensure_entra_admin:
        refuse(opts.flags("entra_admin_id", "entra_admin_type", "replace_admin"), "only applies with --ensure-entra-admin",
               "add --ensure-entra-admin NAME (or drop them)")  # fmt: skip
    if opts.show_targets:
        refuse([] if opts.policy else ["--show-targets"], "needs --policy", "azsqlctl grant --policy FILE --show-targets")
        refuse(opts.flags("apply", "dry_run", "check", "prune", "ensure_entra_admin"), "would be ignored with --show-targets (it changes "
               "nothing and reads no database)", "drop them (or --show-targets)")  # fmt: skip


def _mode(opts: GrantOptions, fmt: str) -> Mode:
    from azsqlctl.core.errors import UsageError
    from azsqlctl.core.grant import Mode

    modes = opts.flags("apply", "dry_run", "check")
    if len(modes) > 1:
        raise UsageError(f"choose one of --apply, --dry-run, --check (got {', '.join(modes)})", "pass exactly one of them", code="bad_mode")
    if not modes and not (sys.stdin.isatty() and fmt == "human"):
        raise UsageError(
            "no terminal to confirm the plan on", "pass --apply to apply it, or --dry-run to only print it", code="no_confirmation"
        )
    return Mode(modes[0].removeprefix("--")) if modes else Mode.ASK


def _single_identity(settings: ConnectionSettings, opts: GrantOptions) -> IdentitySpec:
    """The identity the options name, validated; nothing is guessed."""
    from azsqlctl.core.errors import UsageError
    from azsqlctl.core.identity import KIND_HELP, IdentitySpec, Kind, validate_identity

    if opts.identity_resource:
        clash = opts.flags("kind", "client_id", "object_id")
        if clash:
            names = ", ".join(clash)
            raise UsageError(f"--identity-resource names the identity; {names} would contradict it", f"drop {names}", code="bad_identity")
        from .grant_admin import resolve_identity_resource

        spec = resolve_identity_resource(settings, opts.identity_resource, opts.identity or "")
        spec = IdentitySpec(spec.name, spec.kind, spec.client_id, spec.object_id, opts.sid_mode, spec.source)
    else:
        # Only apps have a client id, so --client-id says --type app; an object id alone says nothing.
        kind = opts.kind or (Kind.APP.value if opts.client_id else "")
        spec = IdentitySpec(opts.identity or "", kind, opts.client_id or "", opts.object_id or "", opts.sid_mode)
    problems = validate_identity(spec)
    if problems:
        naming = any(p.startswith(("the name", "'")) for p in problems[:1])
        hint = (
            "name the identity as Azure shows it: az identity show -n NAME -g GROUP --query name, or --identity-resource ARM_ID"
            if naming
            else KIND_HELP + '. Find them: az identity show -n NAME -g GROUP --query "{clientId:clientId, principalId:principalId}"'
        )
        # every problem, not the first and a count
        numbered = "; ".join(f"({i}) {p}" for i, p in enumerate(problems, 1))
        raise UsageError(problems[0] if len(problems) == 1 else f"{len(problems)} problems: {numbered}", hint, code="bad_identity")
    return spec


def _operation(settings: ConnectionSettings, opts: GrantOptions, ports: Callable[[], GrantPorts]) -> Operation:
    from azsqlctl.core.config import env_name
    from azsqlctl.core.errors import UsageError
    from azsqlctl.core.grant import Assignment, Job, Operation, Request, expand_targets
    from azsqlctl.core.grant_plan import CI_ONLY, expand_roles, refuse_elevated

    from .render import warn

    default_server = settings.server.display if settings.server else ""
    if opts.policy is not None:
        from azsqlctl.core.policy import load_policy

        if settings.sources.get("database") == "--database":
            raise UsageError("--database would be ignored: the policy's targets name the databases", "drop --database (or --policy)",
                             code="conflict")  # fmt: skip
        pol = load_policy(opts.policy, opts.allow_elevated)  # everything validated before any connection
        if any(spec.source for spec in pol.identities.values()):
            from azsqlctl.core.policy import resolve_resources

            from .grant_admin import resolve_identity_resource

            resolve_resources(pol, lambda arm_id: resolve_identity_resource(settings, arm_id))
        if any(t.select is not None for t in pol.targets):
            from azsqlctl.azure import wiring
            from azsqlctl.core.fleet import resolve_select

            from .grant_fleet import warn_partial

            pol, fleet = resolve_select(pol, wiring.resource_graph(settings), settings.server)
            warn_partial(fleet)
        return expand_targets(pol, ports(), default_server, opts.prune)
    if not (opts.identity or opts.identity_resource):
        if opts.ensure_entra_admin:
            return Operation()
        raise UsageError(
            "no identity given",
            "azsqlctl grant IDENTITY --role reader --client-id GUID, --identity-resource ARM_ID, or --policy FILE",
            code="no_identity",
        )
    spec = _single_identity(settings, opts)
    if not opts.roles and not (opts.revoke and opts.drop_user):
        raise UsageError("no --role given", "use --role reader, writer, executor or migrator (or an existing role name)", code="no_role")
    roles = expand_roles(list(opts.roles))
    refuse_elevated([*opts.roles, *roles], opts.allow_elevated)
    if any(r.lower() in CI_ONLY for r in opts.roles):
        warn("migrator (db_ddladmin) is for the CI identity that runs schema migrations, not for an application")
    if "database" not in settings.sources:
        raise UsageError("no database given", f"pass --database (or set {env_name('database')})", code="no_database")
    req = Request([Assignment(spec, roles)], revoke=opts.revoke, drop_user=opts.drop_user, prune=opts.prune)
    return Operation([Job(default_server, settings.database, req)])


def _action(fmt: str, opts: GrantOptions, given: SettingsInput) -> Result:
    from azsqlctl.core.grant import Mode, execute
    from azsqlctl.core.grant import Progress as ApplyProgress
    from azsqlctl.core.settings import resolve_settings

    from .grant_admin import admin_port, admin_spec
    from .grant_render import confirm_plans, errors_of, human, interrupt_report
    from .render import Result
    from .runner import report_on_interrupt

    refuse_meaningless(opts)
    mode = _mode(opts, fmt) if not opts.show_targets else None
    settings = resolve_settings(given, os.environ, Path.cwd())
    cached: list[GrantPorts] = []

    def ports() -> GrantPorts:
        if not cached:
            from azsqlctl.azure import wiring

            cached.append(wiring.grant_ports(settings))
        return cached[0]

    if mode is None and opts.policy is not None:  # --show-targets
        from azsqlctl.core.fleet import resolve_select
        from azsqlctl.core.policy import load_policy

        from .grant_fleet import show_targets

        pol, fleet = load_policy(opts.policy, allow_elevated=True), None
        if any(t.select is not None for t in pol.targets):
            from azsqlctl.azure import wiring

            pol, fleet = resolve_select(pol, wiring.resource_graph(settings), settings.server)
        return show_targets(pol, fleet, ports(), settings.server.display if settings.server else "")
    assert mode is not None

    op = _operation(settings, opts, ports)
    admin = None
    if opts.ensure_entra_admin:
        op.admin = admin_spec(opts.ensure_entra_admin, opts.entra_admin_id, opts.entra_admin_type)
        op.replace_admin = opts.replace_admin
        admin = admin_port(settings)

    progress = ApplyProgress()  # interrupted: each database reported applied / rolled back / untouched
    if mode in (Mode.APPLY, Mode.ASK):  # --dry-run and --check never write: nothing to report
        report_on_interrupt(lambda: interrupt_report(progress, op.jobs))

    def run(on_done: Callable[[TargetResult], None] | None = None) -> Outcome:
        return execute(
            op, ports() if op.jobs else None, mode, admin_port=admin, confirm=confirm_plans if mode is Mode.ASK else None,
            concurrency=opts.concurrency, on_done=on_done, backoff=[float(2**i) for i in range(opts.retries)], progress=progress,
        )  # fmt: skip

    from .fleet_view import fleet_progress

    with fleet_progress(len(op.jobs), fmt) as on_done:  # a Rich display on a terminal, plain lines otherwise, none for JSON
        outcome = run(on_done)
    data = {**outcome.as_dict(), "plans_shown": mode is Mode.ASK}
    targets = cast("list[dict[str, object]]", data["targets"])  # each row's dict, built once (60,000 plans' steps in a policy)
    corrected = ""
    if opts.policy is None:
        if op.jobs:  # what the identity resolved to (from --identity-resource too): name, type, both ids, SID
            data["identity"] = op.jobs[0].request.assignments[0].identity.as_dict()
        for row, target in zip(outcome.results, targets, strict=True):
            if row.plan is not None and row.plan.correction:
                corrected = target["corrected_command"] = _corrected(row.plan.identity, row.plan.correction, opts, mode)

    def render(_: object) -> None:
        human(outcome, plans_shown=mode is Mode.ASK, corrected_command=corrected if len(outcome.results) == 1 else "")

    return Result("grant", data, outcome.exit_code, errors_of(outcome), human=render)


def _corrected(name: str, correction: dict[str, str], opts: GrantOptions, mode: Mode) -> str:
    """This command with the identity named as ``correction`` says, ready to paste."""
    import shlex

    args = ["azsqlctl", "grant", name, "--type", correction["type"]]
    for key in ("client_id", "object_id"):
        if correction.get(key):
            args += ["--" + key.replace("_", "-"), correction[key]]
    for r in opts.roles:
        args += ["--role", r]
    args += opts.flags("revoke", "drop_user", "prune", "allow_elevated", "sid_mode")
    if mode.value != "ask":
        args.append("--" + mode.value)
    return shlex.join(args)


P = ParamSpec("P")


class GrantCommand(TyperCommand):
    """``grant export ...`` is its own command (adopt databases into a policy); any other arguments are grant's."""

    def make_context(self, info_name: str | None, args: list[str], parent: ClickContext | None = None, **extra: object) -> ClickContext:
        if args[:1] == ["export"]:
            from .grant_export import export_command

            command = typer.main.get_command(_one(export_command))
            return command.make_context(f"{info_name or 'grant'} export", args[1:], parent=parent, **extra)
        return super().make_context(info_name, args, parent=parent, **extra)


def _one(command: Callable[P, None]) -> typer.Typer:
    app = typer.Typer(context_settings={"help_option_names": ["-h", "--help"]}, pretty_exceptions_enable=False, add_completion=False)
    app.command()(command)
    return app
