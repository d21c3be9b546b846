"""grant's request: the command's options as one frozen value, and every rule that turns it into an ``Operation``.

The CLI maps its flags to a ``GrantRequest`` and calls ``build``; what needs Azure on the way (an identity named
by its ARM resource, a policy's Resource Graph selections, the databases a glob may match) comes through
``BuildPorts``, built by the composition root. Warnings come back in ``Built``; nothing here prints or asks.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..config import env_name
from ..errors import UsageError
from ..identity import KIND_HELP, IdentitySpec, Kind, canonical_guid, validate_identity
from .entra_admin import ADMIN_TYPES, AdminSpec
from .fleet import Fleet, GraphPort, resolve_select
from .operation import Assignment, GrantPorts, Job, Mode, Operation, Request, expand_targets
from .plan import CI_ONLY, expand_roles, refuse_elevated
from .policy import Policy, load_policy, resolve_resources

if TYPE_CHECKING:
    from ..settings import ConnectionSettings

MIGRATOR_WARNING = "migrator (db_ddladmin) is for the CI identity that runs schema migrations, not for an application"


@dataclass(frozen=True)
class GrantRequest:
    """grant's own options, typed (the shared connection options travel as ``ConnectionSettings``)."""

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
    interactive: bool = False  # a terminal to confirm a plan on (the CLI knows: stdin is a TTY and the output is for humans)

    def flags(self, *names: str) -> list[str]:
        """The options among ``names`` (attribute names) that were given, spelled as on the command line."""
        spelled = {"kind": "--type", "roles": "--role", "identity": "IDENTITY"}
        known = {f.name for f in fields(self)}
        return [spelled.get(n, "--" + n.replace("_", "-")) for n in names if n in known and getattr(self, n)]


class BuildPorts(Protocol):
    """What building an operation may need from Azure; each is asked only when the request needs it."""

    def grant_ports(self) -> GrantPorts: ...
    def identity_resource(self, arm_id: str, name: str) -> IdentitySpec: ...
    def resource_graph(self) -> GraphPort: ...


@dataclass(frozen=True)
class Built:
    operation: Operation
    warnings: tuple[str, ...] = ()


def refuse_meaningless(req: GrantRequest) -> None:
    """Combinations that would be silently ignored are usage errors (exit 2), before any connection."""

    def refuse(given: list[str], why: str, hint: str) -> None:
        if given:
            raise UsageError(f"{', '.join(given)} {why}", hint, code="conflict")

    if not req.revoke:
        refuse(req.flags("drop_user"), "only applies with --revoke", "add --revoke to remove the memberships and drop the user")
    if req.policy is not None:
        refuse(req.flags("identity", "identity_resource", "client_id", "object_id", "kind", "roles", "sid_mode"),
               "would be ignored: --policy names its own identities, roles and SID modes",
               "drop them (or --policy); the policy file declares each identity and its roles")  # fmt: skip
        refuse(req.flags("revoke"), "does not combine with --policy",
               "revoke one identity: azsqlctl grant NAME --role ROLE --revoke (or --prune with the policy)")  # fmt: skip
    if req.revoke:
        refuse(req.flags("prune", "sid_mode"), "would be ignored with --revoke (it removes memberships, it creates nothing)",
               "drop them (or --revoke)")  # fmt: skip
    if not req.ensure_entra_admin:
        refuse(req.flags("entra_admin_id", "entra_admin_type", "replace_admin"), "only applies with --ensure-entra-admin",
               "add --ensure-entra-admin NAME (or drop them)")  # fmt: skip
    if req.show_targets:
        refuse([] if req.policy else ["--show-targets"], "needs --policy", "azsqlctl grant --policy FILE --show-targets")
        refuse(req.flags("apply", "dry_run", "check", "prune", "ensure_entra_admin"), "would be ignored with --show-targets (it changes "
               "nothing and reads no database)", "drop them (or --show-targets)")  # fmt: skip


def mode_of(req: GrantRequest) -> Mode:
    """--apply, --dry-run or --check; none of them: ask, which needs a terminal."""
    modes = req.flags("apply", "dry_run", "check")
    if len(modes) > 1:
        raise UsageError(f"choose one of --apply, --dry-run, --check (got {', '.join(modes)})", "pass exactly one of them", code="bad_mode")
    if not modes and not req.interactive:
        raise UsageError(
            "no terminal to confirm the plan on", "pass --apply to apply it, or --dry-run to only print it", code="no_confirmation"
        )
    return Mode(modes[0].removeprefix("--")) if modes else Mode.ASK


def admin_spec(name: str, admin_id: str | None, kind: str | None) -> AdminSpec:
    """--ensure-entra-admin NAME --entra-admin-id GUID --entra-admin-type TYPE, validated.

    No type: "" (the current admin's type for the same SID, else Group; see entra_admin.resolve_wanted)."""
    if kind is not None and kind not in ADMIN_TYPES:
        raise UsageError(f"--entra-admin-type must be Group, User or Application, not {kind}", "pass one of them", code="bad_identity")
    sid = canonical_guid(admin_id or "")
    if sid is None:
        which = "client id (az ad sp show --id APP --query appId)" if kind == "Application" else "object id"
        raise UsageError(
            f"--ensure-entra-admin needs --entra-admin-id GUID (the {(kind or 'Group').lower()}'s {which})",
            "az ad group show --group NAME --query id  (a user: az ad user show --id UPN --query id)",
            code="bad_identity",
        )
    return AdminSpec(name, sid, kind or "")


def single_identity(req: GrantRequest, ports: BuildPorts) -> IdentitySpec:
    """The identity the options name, validated; nothing is guessed."""
    if req.identity_resource:
        clash = req.flags("kind", "client_id", "object_id")
        if clash:
            names = ", ".join(clash)
            raise UsageError(f"--identity-resource names the identity; {names} would contradict it", f"drop {names}", code="bad_identity")
        found = ports.identity_resource(req.identity_resource, req.identity or "")
        spec = IdentitySpec(found.name, found.kind, found.client_id, found.object_id, req.sid_mode, found.source)
    else:
        # Only apps have a client id, so --client-id says --type app; an object id alone says nothing.
        kind = req.kind or (Kind.APP.value if req.client_id else "")
        spec = IdentitySpec(req.identity or "", kind, req.client_id or "", req.object_id or "", req.sid_mode)
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


def build(req: GrantRequest, settings: ConnectionSettings, ports: BuildPorts) -> Built:
    """The operation the request asks for: every database to plan, the identities and roles for each, the admin step."""
    built = _databases(req, settings, ports)
    op = built.operation
    admin = admin_spec(req.ensure_entra_admin, req.entra_admin_id, req.entra_admin_type) if req.ensure_entra_admin else None
    return Built(Operation(op.jobs, op.failed, admin, req.replace_admin if admin else False), built.warnings)


def policy_targets(req: GrantRequest, settings: ConnectionSettings, ports: BuildPorts) -> tuple[Policy, Fleet | None]:
    """--show-targets: the policy (elevated roles allowed: nothing is applied) with its selections resolved."""
    assert req.policy is not None  # refuse_meaningless: --show-targets needs --policy
    pol, fleet = load_policy(req.policy, allow_elevated=True), None
    if any(t.select is not None for t in pol.targets):
        pol, fleet = resolve_select(pol, ports.resource_graph(), settings.server)
    return pol, fleet


def _databases(req: GrantRequest, settings: ConnectionSettings, ports: BuildPorts) -> Built:
    default_server = settings.server.display if settings.server else ""
    if req.policy is not None:
        if settings.sources.get("database") == "--database":
            raise UsageError("--database would be ignored: the policy's targets name the databases", "drop --database (or --policy)",
                             code="conflict")  # fmt: skip
        pol = load_policy(req.policy, req.allow_elevated)  # everything validated before any connection
        if any(spec.source for spec in pol.identities.values()):
            resolve_resources(pol, lambda arm_id: ports.identity_resource(arm_id, ""))
        warnings: tuple[str, ...] = ()
        if any(t.select is not None for t in pol.targets):
            pol, fleet = resolve_select(pol, ports.resource_graph(), settings.server)
            warnings = tuple(fleet.partial)
        return Built(expand_targets(pol, ports.grant_ports(), default_server, req.prune), warnings)
    if not (req.identity or req.identity_resource):
        if req.ensure_entra_admin:
            return Built(Operation())
        raise UsageError(
            "no identity given",
            "azsqlctl grant IDENTITY --role reader --client-id GUID, --identity-resource ARM_ID, or --policy FILE",
            code="no_identity",
        )
    spec = single_identity(req, ports)
    if not req.roles and not (req.revoke and req.drop_user):
        raise UsageError("no --role given", "use --role reader, writer, executor or migrator (or an existing role name)", code="no_role")
    roles = expand_roles(list(req.roles))
    refuse_elevated([*req.roles, *roles], req.allow_elevated)
    warnings = (MIGRATOR_WARNING,) if any(r.lower() in CI_ONLY for r in req.roles) else ()
    if "database" not in settings.sources:
        raise UsageError("no database given", f"pass --database (or set {env_name('database')})", code="no_database")
    assignment = Request([Assignment(spec, roles)], revoke=req.revoke, drop_user=req.drop_user, prune=req.prune)
    return Built(Operation([Job(default_server, settings.database, assignment)]), warnings)
