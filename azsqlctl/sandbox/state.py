"""The sandbox's world: a tenant, its identities, one logical server and its databases.

Every surface (token endpoint, TDS, ARM, Log Analytics) reads and writes
this one model. It is plain data so it round-trips through TOML or JSON, and the
file is the source of truth between runs: separate CLI invocations see each
other's changes.

One part of it is not kept in the file: a database's security state (``Database``'s
users, roles, members, permissions, schemas and schema owners) lives in that
database's own SQLite file, committed in the same SQLite transaction as its data
(``sql/engine/storage.py`` says why). A ``Database`` entry of the state file that
still carries those fields -- a file written before, the default state, a scenario,
a hand-written file -- seeds the SQLite file the first time the database is opened;
the fields are then dropped from the file (``without_security``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import tomllib
import types
import typing
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from azsqlctl.atomic_file import SECRET, write_atomic
from azsqlctl.core.errors import ConfigError

from .entra.apps_state import Apps, apps_from_dict
from .monitor.state import Monitor, default_monitor, monitor_from_dict

IdentityKind = Literal["managed_identity", "service_principal", "user", "group"]

# Deterministic ids: the docs' worked examples show the same GUIDs a fresh sandbox has.
_NS = uuid.UUID("6f1d1b1e-5a8e-4c43-9a52-5d2f1f0c0a11")


def stable_id(name: str) -> str:
    return str(uuid.uuid5(_NS, name))


@dataclass
class Identity:
    """An Entra principal in the sandbox tenant."""

    name: str
    kind: IdentityKind
    object_id: str
    client_id: str = ""  # apps and managed identities only
    system_assigned: bool = False
    upn: str = ""  # users only
    groups: list[str] = field(default_factory=list)  # object ids of groups it belongs to
    # ARM: a managed identity with no resource is a user-assigned identity (Microsoft.ManagedIdentity/
    # userAssignedIdentities/<name>); "Microsoft.Web/sites/shop-web" makes it that resource's system-assigned one.
    resource: str = ""

    @property
    def sid_guid(self) -> str:
        """The GUID Azure SQL stores as the database user's SID for this identity."""
        return self.client_id if self.kind in ("managed_identity", "service_principal") else self.object_id


@dataclass
class DbUser:
    """A contained database user (type E = external user/app, X = external group, S = SQL user)."""

    name: str
    sid: str  # GUID text; SID bytes are its little-endian form
    type: str = "E"
    principal_id: int = 0


@dataclass
class Permission:
    grantee: str
    permission: str  # e.g. SELECT, EXECUTE, CONTROL
    scope: str = "DATABASE"  # DATABASE or SCHEMA
    target: str = ""  # the schema name for SCHEMA scope
    state: str = "G"  # G grant, D deny


@dataclass
class Database:
    name: str
    users: list[DbUser] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)  # custom roles; fixed roles always exist
    members: dict[str, list[str]] = field(default_factory=dict)  # role -> member names
    permissions: list[Permission] = field(default_factory=list)
    schemas: list[str] = field(default_factory=lambda: ["dbo"])
    schema_owners: dict[str, str] = field(default_factory=dict)  # schema -> owning principal; absent: dbo (state files set it)
    available: bool = True  # False answers logins with 40613

    def user(self, name: str) -> DbUser | None:
        return next((u for u in self.users if u.name.lower() == name.lower()), None)


SECURITY_FIELDS = ("users", "roles", "members", "permissions", "schemas", "schema_owners")


def security_dict(db: Database) -> dict[str, Any]:
    """The database's security state as plain data (what its SQLite file stores)."""
    data = asdict(db)
    return {k: data[k] for k in SECURITY_FIELDS}


def with_security(db: Database, data: dict[str, Any]) -> Database:
    """``db`` (its name, availability) with the security state ``data`` (``security_dict``'s shape)."""
    return Database(
        db.name,
        users=[DbUser(**u) for u in data.get("users", [])],
        roles=list(data.get("roles", [])),
        members={k: list(v) for k, v in data.get("members", {}).items()},
        permissions=[Permission(**p) for p in data.get("permissions", [])],
        schemas=list(data.get("schemas", ["dbo"])),
        schema_owners=dict(data.get("schema_owners", {})),
        available=db.available,
    )


def carries_security(db: Database) -> bool:
    """Whether a state entry carries a security state to seed (anything but a new database's)."""
    return security_dict(db) != security_dict(Database(db.name))


def without_security(db: Database) -> None:
    """Drop the entry's security state (its SQLite file holds it): the state file keeps the name and availability."""
    fresh = Database(db.name)
    for name in SECURITY_FIELDS:
        setattr(db, name, getattr(fresh, name))


@dataclass
class FirewallRule:
    name: str
    start_ip: str
    end_ip: str


@dataclass
class EntraAdmin:
    login: str
    sid: str  # object id for users/groups, client id for applications
    principal_type: str = "Application"  # User, Group or Application
    tenant_id: str = ""


@dataclass
class Server:
    name: str
    subscription_id: str
    resource_group: str
    location: str = "westeurope"
    public_network_access: str = "Enabled"
    minimal_tls_version: str = "1.2"
    entra_only: bool = True
    entra_admin: EntraAdmin | None = None
    directory_readable: bool = True  # False: FROM EXTERNAL PROVIDER fails with 33134
    identity: str = "SystemAssigned"  # the server's own managed identity ("" = none: it cannot read Entra)
    vnet_rule_missing: bool = False  # client subnet has a Microsoft.Sql service endpoint but no VNet rule: 40532
    private_endpoint_ip: str = ""  # when set, DNS answers <name>.privatelink.<suffix> -> this address
    firewall_rules: list[FirewallRule] = field(default_factory=list)
    databases: list[Database] = field(default_factory=list)

    def database(self, name: str) -> Database | None:
        return next((d for d in self.databases if d.name.lower() == name.lower()), None)


@dataclass
class SandboxState:
    tenant_id: str
    server: Server
    identities: list[Identity] = field(default_factory=list)
    token_lifetime: int = 3600
    client_ip: str = ""  # the address the gateway reports; empty = the socket peer
    monitor: Monitor = field(default_factory=Monitor)  # workspace, auditing, diagnostic settings (monitor_state.py)
    apps: Apps = field(default_factory=Apps)  # app registrations and federated credentials (entra/apps_state.py)

    def identity_by_client_id(self, client_id: str) -> Identity | None:
        return next((i for i in self.identities if i.client_id.lower() == client_id.lower()), None)

    def identity_by_object_id(self, object_id: str) -> Identity | None:
        return next((i for i in self.identities if i.object_id.lower() == object_id.lower()), None)

    def system_identity(self) -> Identity | None:
        return next((i for i in self.identities if i.system_assigned), None)


def default_state() -> SandboxState:
    tenant = stable_id("tenant")
    sub = stable_id("subscription")
    operator = Identity(
        "sandbox-operator", "managed_identity", stable_id("operator/oid"), stable_id("operator/appid"), system_assigned=True
    )
    app = Identity("orders-api", "managed_identity", stable_id("orders-api/oid"), stable_id("orders-api/appid"))
    stranger = Identity("billing-worker", "managed_identity", stable_id("billing-worker/oid"), stable_id("billing-worker/appid"))
    appdb = Database(
        "appdb",
        users=[DbUser(app.name, app.sid_guid, "E", 5)],
        members={"db_datareader": [app.name]},
        schemas=["dbo", "app"],
    )
    server = Server(
        name="sandbox-sql",
        subscription_id=sub,
        resource_group="sandbox-rg",
        entra_admin=EntraAdmin(operator.name, operator.client_id, "Application", tenant),
        firewall_rules=[FirewallRule("AllowLocalhost", "127.0.0.1", "127.0.0.1")],
        databases=[appdb],
    )
    return SandboxState(
        tenant_id=tenant, server=server, identities=[operator, app, stranger], monitor=default_monitor(sub, server.resource_group)
    )


# --- (de)serialisation: dataclasses <-> plain dicts -------------------------------------------


def to_dict(state: SandboxState) -> dict[str, Any]:
    data: dict[str, Any] = _drop_none(asdict(state))
    for entry, db in zip(data["server"]["databases"], state.server.databases, strict=True):
        if not carries_security(db):  # seeded into its SQLite file (or nothing to seed): not written here
            for name in SECURITY_FIELDS:
                entry.pop(name)
    return data


def _drop_none(value: Any) -> Any:
    # TOML has no null: omit absent values instead.
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def from_dict(data: dict[str, Any]) -> SandboxState:
    s = dict(data["server"])
    server = Server(
        **{k: v for k, v in s.items() if k not in ("entra_admin", "firewall_rules", "databases")},
        entra_admin=EntraAdmin(**s["entra_admin"]) if s.get("entra_admin") else None,
        firewall_rules=[FirewallRule(**r) for r in s.get("firewall_rules", [])],
        databases=[
            Database(
                **{k: v for k, v in d.items() if k not in ("users", "permissions")},
                users=[DbUser(**u) for u in d.get("users", [])],
                permissions=[Permission(**p) for p in d.get("permissions", [])],
            )
            for d in s.get("databases", [])
        ],
    )
    return SandboxState(
        # "audit" was kept here before the audit store (audit.py); older files still carry it.
        **{k: v for k, v in data.items() if k not in ("server", "identities", "audit", "monitor", "apps")},
        server=server,
        monitor=monitor_from_dict(data.get("monitor"), server.subscription_id, server.resource_group),
        identities=[Identity(**i) for i in data.get("identities", [])],
        apps=apps_from_dict(data.get("apps")),
    )


SUFFIXES = (".json", ".toml")
_FIX_HINT = "fix the file, or move it away to start from a fresh sandbox"


def check_path(path: Path) -> None:
    """Refuse what can never be a state file before anything is started."""
    if path.is_dir():
        raise ConfigError(f"state file {path} is a directory", f"pass a file path, e.g. --state {path / 'state.json'}", code="state_path")
    if path.suffix.lower() not in SUFFIXES:
        raise ConfigError(
            f"state file {path} has an unsupported suffix {path.suffix or '(none)'!r}",
            "name it .json or .toml (the format follows the suffix)",
            code="state_suffix",
        )


def load(path: Path) -> SandboxState:
    """Read and check a state file; every problem is a ConfigError naming the file and what is wrong."""
    check_path(path)
    kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"state file {path} is not UTF-8 text (byte {exc.start})", _FIX_HINT, code="state_file") from None
    except OSError as exc:
        raise ConfigError(
            f"cannot read state file {path}: {exc.strerror or exc}", "check the path and its permissions", code="state_file"
        ) from None
    try:
        data = tomllib.loads(text) if kind == "TOML" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"state file {path} is not valid {kind}: {exc}", _FIX_HINT, code="state_file") from None
    if not isinstance(data, dict):
        raise ConfigError(f"state file {path} must hold a {kind} object/table at the top level", _FIX_HINT, code="state_file")
    try:
        state = from_dict(data)
    except KeyError as exc:
        raise ConfigError(f"state file {path} misses the key {exc.args[0]!r}", _FIX_HINT, code="state_file") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"state file {path}: {_explain(exc)}", _FIX_HINT, code="state_file") from None
    if problem := _problem(state, SandboxState, "state"):
        raise ConfigError(f"state file {path}: {problem}", _FIX_HINT, code="state_file")
    return state


def _explain(exc: Exception) -> str:
    """Dataclass constructor errors, in the file's terms."""
    text = str(exc)
    if m := re.match(r"(\w+)\.__init__\(\) missing \d+ required (?:positional |keyword-only )?arguments?: (.*)", text):
        return f"a {m[1].lower()} entry misses the key(s) {m[2].replace(' and ', ', ')}"
    if m := re.match(r"(\w+)\.__init__\(\) got an unexpected keyword argument (.*)", text):
        return f"a {m[1].lower()} entry has the unknown key {m[2]}"
    return f"a value has the wrong type ({text})"


def _problem(value: Any, hint: Any, where: str) -> str | None:
    """The first value whose type does not match the dataclass annotations, as 'where: expected X, got Y'."""
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if not isinstance(value, hint):
            return f"{where}: expected a table, got {type(value).__name__}"
        hints = _field_hints(hint)
        for f in dataclasses.fields(hint):
            if problem := _problem(getattr(value, f.name), hints[f.name], f"{where}.{f.name}"):
                return problem
        return None
    if origin in (typing.Union, types.UnionType):
        problems = [_problem(value, arm, where) for arm in typing.get_args(hint)]
        return None if any(p is None for p in problems) else problems[0]
    if origin is typing.Literal:
        allowed = typing.get_args(hint)
        return None if value in allowed else f"{where}: expected one of {', '.join(map(repr, allowed))}, got {value!r}"
    if origin is list:
        if not isinstance(value, list):
            return f"{where}: expected a list, got {type(value).__name__}"
        (item,) = typing.get_args(hint)
        return next((p for i, v in enumerate(value) if (p := _problem(v, item, f"{where}[{i}]"))), None)
    if origin is dict:
        if not isinstance(value, dict):
            return f"{where}: expected a table, got {type(value).__name__}"
        key_hint, value_hint = typing.get_args(hint)
        return next(
            (p for k, v in value.items() if (p := _problem(k, key_hint, where) or _problem(v, value_hint, f"{where}.{_shown(k)}"))), None
        )
    if hint is Any:
        return None
    if hint is type(None):
        return None if value is None else f"{where}: expected nothing, got {type(value).__name__}"
    expected: tuple[type, ...] = (int, float) if hint is float else (hint,)
    if (isinstance(value, bool) and hint is not bool) or not isinstance(value, expected):
        return f"{where}: expected {hint.__name__}, got {type(value).__name__} {value!r}"
    return None


@functools.cache
def _field_hints(cls: type) -> dict[str, Any]:
    """A state dataclass's resolved annotations: resolving them evaluates every annotation string (this module uses
    postponed annotations), over half of what loading a small state file cost; the classes never change, so once each."""
    return typing.get_type_hints(cls)


def _shown(key: object) -> str:
    """A key from the file as an error message names it: control characters escaped (one line, nothing hidden)."""
    text = str(key)
    return text if text.isprintable() else json.dumps(text)


def dump(state: SandboxState, path: Path) -> None:
    """Write atomically (temp file + rename) so a reader never sees half a file."""
    data = to_dict(state)
    if path.suffix.lower() == ".toml":
        import tomli_w

        text = tomli_w.dumps(data)
    else:
        text = json.dumps(data, indent=2) + "\n"
    write_atomic(path, text, SECRET)  # 0600 from creation (it holds the tenant's identities); a temp name of its own
