"""`azsqlctl grant`: least-privilege roles for an Entra identity, as a reviewed plan.

One identity (`grant NAME --role ...`) is a one-target, one-identity policy: both
map their flags to one ``GrantRequest`` (core/grant/request.py holds every rule that
turns it into an ``Operation``) and run ``core.grant.execute``; this module only maps
the flags, shows the plans, asks once (then ``apply_confirmed``), and renders.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ParamSpec, cast

import typer
from typer._click.core import Context as ClickContext
from typer.core import TyperCommand

from . import options as o

if TYPE_CHECKING:
    from azsqlctl.core.grant.fleet import GraphPort
    from azsqlctl.core.grant.operation import GrantPorts, Mode
    from azsqlctl.core.grant.request import GrantRequest
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
    from azsqlctl.core.grant.request import GrantRequest

    from .runner import run

    req = GrantRequest(
        identity=identity, roles=tuple(role or ()), kind=type_, client_id=client_id, object_id=object_id,
        identity_resource=identity_resource, sid_mode=sid_mode, apply=apply, dry_run=dry_run, check=check, revoke=revoke,
        drop_user=drop_user, allow_elevated=allow_elevated, policy=policy, concurrency=concurrency, retries=retries, prune=prune,
        ensure_entra_admin=ensure_entra_admin, entra_admin_id=entra_admin_id, entra_admin_type=entra_admin_type,
        replace_admin=replace_admin, show_targets=show_targets,
    )  # fmt: skip
    # The shared settings' client id is *your* identity (--operator-client-id); grant's --client-id is the target's.
    given = target
    run("grant", output, debug, lambda fmt: _collector_paused(lambda: _action(fmt, req, given)))


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


class _BuildPorts:
    """What building grant's operation may ask of Azure, each built by the composition root on first use."""

    def __init__(self, settings: ConnectionSettings) -> None:
        self.settings = settings
        self._grant: GrantPorts | None = None

    def grant_ports(self) -> GrantPorts:
        if self._grant is None:
            from azsqlctl.azure import wiring

            self._grant = wiring.grant_ports(self.settings)
        return self._grant

    def identity_resource(self, arm_id: str, name: str) -> IdentitySpec:
        from .grant_admin import resolve_identity_resource

        return resolve_identity_resource(self.settings, arm_id, name)

    def resource_graph(self) -> GraphPort:
        from azsqlctl.azure import wiring

        return wiring.resource_graph(self.settings)


def _action(fmt: str, req: GrantRequest, given: SettingsInput) -> Result:
    from dataclasses import replace

    from azsqlctl.core.grant.operation import Mode, apply_confirmed, execute, pending
    from azsqlctl.core.grant.operation import Progress as ApplyProgress
    from azsqlctl.core.grant.request import build, mode_of, policy_targets, refuse_meaningless
    from azsqlctl.core.settings import resolve_settings

    from .grant_render import confirm_plans, errors_of, human, interrupt_report
    from .render import Result, warn
    from .runner import report_on_interrupt

    req = replace(req, interactive=sys.stdin.isatty() and fmt == "human")
    refuse_meaningless(req)
    mode = mode_of(req) if not req.show_targets else None
    settings = resolve_settings(given, os.environ, Path.cwd())
    ports = _BuildPorts(settings)
    if mode is None:  # --show-targets
        from .grant_fleet import show_targets

        pol, fleet = policy_targets(req, settings, ports)
        return show_targets(pol, fleet, ports.grant_ports(), settings.server.display if settings.server else "")
    built = build(req, settings, ports)
    for line in built.warnings:
        warn(line)
    op = built.operation
    admin = None
    if op.admin is not None:
        from .grant_admin import admin_port

        admin = admin_port(settings)

    progress = ApplyProgress()  # interrupted: each database reported applied / rolled back / untouched
    if mode in (Mode.APPLY, Mode.ASK):  # --dry-run and --check never write: nothing to report
        report_on_interrupt(lambda: interrupt_report(progress, op.jobs))
    db_ports = ports.grant_ports() if op.jobs else None
    backoff = [float(2**i) for i in range(req.retries)]

    from .fleet_view import fleet_progress

    with fleet_progress(len(op.jobs), fmt) as on_done:  # a Rich display on a terminal, plain lines otherwise, none for JSON
        outcome = execute(op, db_ports, mode, admin_port=admin, concurrency=req.concurrency, on_done=on_done, backoff=backoff,
                          progress=progress)  # fmt: skip
    if mode is Mode.ASK and pending(outcome) and confirm_plans(outcome):  # asked after the plans are made, before any write
        with fleet_progress(len(op.jobs), fmt) as on_done:
            outcome = apply_confirmed(op, outcome, db_ports, admin_port=admin, concurrency=req.concurrency, on_done=on_done,
                                      backoff=backoff, progress=progress)  # fmt: skip
    data = {**outcome.as_dict(), "plans_shown": mode is Mode.ASK}
    targets = cast("list[dict[str, object]]", data["targets"])  # each row's dict, built once (60,000 plans' steps in a policy)
    corrected = ""
    if req.policy is None:
        if op.jobs:  # what the identity resolved to (from --identity-resource too): name, type, both ids, SID
            data["identity"] = op.jobs[0].request.assignments[0].identity.as_dict()
        for row, target in zip(outcome.results, targets, strict=True):
            if row.plan is not None and row.plan.correction:
                corrected = target["corrected_command"] = _corrected(row.plan.identity, row.plan.correction, req, mode)

    def render(_: object) -> None:
        human(outcome, plans_shown=mode is Mode.ASK, corrected_command=corrected if len(outcome.results) == 1 else "")

    return Result("grant", data, outcome.exit_code, errors_of(outcome), human=render)


def _corrected(name: str, correction: dict[str, str], opts: GrantRequest, mode: Mode) -> str:
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
