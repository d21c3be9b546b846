"""grant export: what databases hold (principals, memberships, grants) in, a policy file out.

The core is pure: ``export_policy`` takes database snapshots and returns the policy text that
``grant --check --policy`` reports as "No changes" on the same databases. ``read_snapshot`` reads
one snapshot through the ``QuerySession`` port (the CLI hands it real sessions).

What the policy format cannot say is never rounded up or down: SQL-authentication users, grants
made to users directly, object-level grants, DENY, WITH GRANT OPTION, permissions the format has
no word for (CONTROL, ALTER, CREATE TABLE ...), schemas owned by anyone but dbo, objects owned by anyone but their
schema's owner, nested roles and the elevated fixed roles are listed in a commented section, each with the T-SQL that
produced it. The caller decides whether
that is acceptable (``grant export`` exits 1 unless ``--allow-unexpressed``).

The database does not record whether an Entra user (type E) is a person or an app; both are
matched by SID, so the choice only changes how a missing user would be created. A name with
``@`` is a user principal name (a person); anything else is written as an app (client id = SID).
"""

from __future__ import annotations

import concurrent.futures
import fnmatch
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..errors import AzsqlctlError
from ..identity import BUILTIN_PRINCIPALS, MAX_NAME, IdentitySpec, Kind, sid_guid, sid_label, validate_identity
from ..ports import QuerySession, row_bytes, row_int
from ..roles import ELEVATED_ROLES, FIXED_ROLE_IDS
from ..visible import visible
from .entra_admin import AdminSpec
from .plan import PRESETS
from .policy import PERMISSIONS

# Granted to public in every Azure SQL database: not the operator's doing, not exported.
DEFAULT_PUBLIC = frozenset({"VIEW ANY COLUMN ENCRYPTION KEY DEFINITION", "VIEW ANY COLUMN MASTER KEY DEFINITION"})
EXPORT_QUERIES = {
    "principals": "SELECT name, principal_id, type, sid, authentication_type_desc FROM sys.database_principals",
    "members": "SELECT role_principal_id, member_principal_id FROM sys.database_role_members",
    "permissions": "SELECT class_desc, major_id, grantee_principal_id, permission_name, state_desc FROM sys.database_permissions",
    "schemas": "SELECT name, schema_id, principal_id FROM sys.schemas",
    # An object's own owner, when it has one (ALTER AUTHORIZATION ON OBJECT): sys.objects.principal_id is NULL for an
    # object its schema's owner owns (https://learn.microsoft.com/en-us/sql/relational-databases/system-catalog-views/sys-objects-transact-sql).
    "objects": "SELECT name, schema_id, principal_id FROM sys.objects WHERE principal_id IS NOT NULL AND is_ms_shipped = 0",
}
DBO_ID = 1  # sys.database_principals.principal_id of dbo, every schema's default owner
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_INLINE_MAX = 100  # a target's grants longer than this go in their own [targets.grants] table


@dataclass(frozen=True)
class Principal:
    name: str
    principal_id: int
    type: str  # E external user/app, X external group, R role, S SQL user, A application role ...
    sid: bytes | None = None
    authentication: str = ""  # authentication_type_desc: EXTERNAL, INSTANCE, DATABASE, NONE


@dataclass(frozen=True)
class PermissionRow:
    class_desc: str  # DATABASE, SCHEMA, OBJECT_OR_COLUMN ...
    major_id: int
    grantee_id: int
    permission: str
    state: str  # GRANT, DENY, GRANT_WITH_GRANT_OPTION


@dataclass(frozen=True)
class DatabaseSnapshot:
    server: str
    database: str
    principals: tuple[Principal, ...]
    members: tuple[tuple[int, int], ...]  # (role principal id, member principal id)
    permissions: tuple[PermissionRow, ...]
    schemas: Mapping[int, str]
    owners: Mapping[int, int] = field(default_factory=dict)  # schema id -> owning principal id (sys.schemas.principal_id)
    objects: tuple[OwnedObject, ...] = ()  # objects with an owner of their own


@dataclass(frozen=True)
class OwnedObject:
    """A table, view, procedure ... whose sys.objects.principal_id names an owner of its own."""

    name: str
    schema_id: int
    principal_id: int


@dataclass(frozen=True)
class Unexpressed:
    server: str
    database: str
    what: str  # one line, for people
    tsql: str  # the statement that made it so (or would, for a user)

    def as_dict(self) -> dict[str, str]:
        return {"server": self.server, "database": self.database, "what": self.what, "tsql": self.tsql}


@dataclass(frozen=True)
class Export:
    text: str
    unexpressed: tuple[Unexpressed, ...]
    databases: tuple[tuple[str, str], ...]  # (server, database), in order
    identities: int
    roles: int
    targets: int

    def as_dict(self) -> dict[str, object]:
        return {
            "policy": self.text, "unexpressed": [u.as_dict() for u in self.unexpressed],
            "databases": [{"server": s, "database": d} for s, d in self.databases],
            "counts": {"identities": self.identities, "roles": self.roles, "targets": self.targets, "unexpressed": len(self.unexpressed)},
        }  # fmt: skip


def read_snapshot(session: QuerySession, server: str, database: str) -> DatabaseSnapshot:
    """The catalog rows export needs, as a snapshot (four reads, no writes)."""
    principals = tuple(
        Principal(
            str(r["name"]),
            row_int(r["principal_id"]),
            str(r["type"]).strip(),
            row_bytes(r.get("sid")),
            str(r.get("authentication_type_desc") or ""),
        )
        for r in session.query(EXPORT_QUERIES["principals"])
    )
    members = tuple((row_int(r["role_principal_id"]), row_int(r["member_principal_id"])) for r in session.query(EXPORT_QUERIES["members"]))
    perms = tuple(
        PermissionRow(
            str(r["class_desc"]),
            row_int(r["major_id"]),
            row_int(r["grantee_principal_id"]),
            str(r["permission_name"]).upper(),
            str(r["state_desc"]).upper(),
        )
        for r in session.query(EXPORT_QUERIES["permissions"])
    )
    schema_rows = session.query(EXPORT_QUERIES["schemas"])
    schemas = {row_int(r["schema_id"]): str(r["name"]) for r in schema_rows}
    owners = {row_int(r["schema_id"]): row_int(r["principal_id"]) for r in schema_rows}
    objects = tuple(
        OwnedObject(str(r["name"]), row_int(r["schema_id"]), row_int(r["principal_id"]))
        for r in session.query(EXPORT_QUERIES["objects"])
        if r.get("principal_id") is not None
    )
    return DatabaseSnapshot(server, database, principals, members, perms, schemas, owners, objects)


def bracket(name: str) -> str:
    """QUOTENAME for display in comments (never executed): ] doubled, control characters visible."""
    return "[" + visible(name).replace("]", "]]") + "]"


def toml_string(value: str) -> str:
    out = []
    for ch in value:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif unicodedata.category(ch) in ("Cc", "Cs") or ch == "\x7f":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else toml_string(key)


def _toml_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(toml_string(v) for v in values) + "]"


def literal_glob(name: str) -> str:
    """A database name as a pattern that matches exactly it (glob characters bracketed, as fnmatch reads them)."""
    return re.sub(r"([*?\[])", r"[\1]", name)


@dataclass
class _Db:
    snap: DatabaseSnapshot
    assignments: dict[str, list[str]] = field(default_factory=dict)  # sid -> role names (as the database spells them)
    roles: dict[str, dict[str, set[str]]] = field(default_factory=dict)  # role (lower) -> schema -> permissions
    role_names: dict[str, str] = field(default_factory=dict)  # role (lower) -> its spelling


def _on(row: PermissionRow, schemas: Mapping[int, str]) -> tuple[str, str]:
    """(T-SQL ON clause, words) for a permission row."""
    if row.class_desc == "DATABASE":
        return "", "the database"
    if row.class_desc == "SCHEMA":
        name = schemas.get(row.major_id, f"schema_id {row.major_id}")
        return f" ON SCHEMA::{bracket(name)}", f"schema {visible(name)}"
    return f" ON OBJECT::<{row.class_desc.lower()} {row.major_id}>", f"{row.class_desc.lower()} {row.major_id}"


# How a principal the policy cannot hold was created, for the NOT EXPRESSED listing (shown, never run;
# Entra users that grant creates are rendered by tsql.create_user).
_CREATED = {
    ("S", "INSTANCE"): ("USER", "FOR LOGIN <its server login>"),
    ("S", "DATABASE"): ("USER", "WITH PASSWORD = <not readable>"),
    ("S", ""): ("USER", "WITHOUT LOGIN"),
    ("A", ""): ("APPLICATION ROLE", "WITH PASSWORD = <not readable>"),
    ("E", ""): ("USER", "FROM EXTERNAL PROVIDER"),
    ("X", ""): ("USER", "FROM EXTERNAL PROVIDER"),
    ("R", ""): ("ROLE", ""),
}


def _created(p: Principal) -> str:
    what, tail = _CREATED.get((p.type, p.authentication), _CREATED.get((p.type, ""), ("", "")))
    if not what:
        return f"-- a principal of type {visible(p.type)} ({visible(p.authentication or 'no authentication')})"
    return f"CREATE {what} {bracket(p.name)}{' ' + tail if tail else ''};"


_TYPE_WORDS = {
    "S": "SQL-authentication user", "A": "application role", "C": "certificate-mapped user", "K": "asymmetric-key-mapped user",
    "U": "Windows user", "G": "Windows group", "E": "Entra principal without a 16-byte SID", "X": "Entra group without a 16-byte SID",
}  # fmt: skip


def _kind(p: Principal) -> str:
    if p.type == "X":
        return Kind.GROUP.value
    return Kind.USER.value if "@" in p.name else Kind.APP.value


def _spec(key_name: str, p: Principal, sid: str) -> IdentitySpec:
    kind = _kind(p)
    ids = {"client_id": "", "object_id": "", _sid_key(kind): sid}
    return IdentitySpec(key_name, kind, client_id=ids["client_id"], object_id=ids["object_id"])


def _sid_key(kind: str) -> str:
    """The policy key that holds this kind's SID: client_id or object_id (identity.sid_label is the rule)."""
    return sid_label(kind).replace(" ", "_")


def _read_db(snap: DatabaseSnapshot, out: list[Unexpressed], specs: dict[str, IdentitySpec]) -> _Db:
    """One database: its identities' memberships and its custom roles' grants; the rest to ``out``."""
    db = _Db(snap)
    by_id = {p.principal_id: p for p in snap.principals}
    fixed = {r.lower() for r in FIXED_ROLE_IDS}
    builtin = {b.lower() for b in BUILTIN_PRINCIPALS}

    def note(what: str, tsql: str) -> None:
        out.append(Unexpressed(snap.server, snap.database, what, tsql))

    identities: dict[int, str] = {}  # principal id -> sid
    custom: dict[int, str] = {}  # principal id -> role name
    for p in sorted(snap.principals, key=lambda x: x.principal_id):
        low = p.name.lower()
        if low in builtin or (p.type == "R" and low in fixed):
            continue
        if p.type == "R":
            if low in PRESETS or len(p.name) > MAX_NAME:
                note(f"role {visible(p.name)}: its name is a preset's, which a policy cannot define", _created(p))
                continue
            custom[p.principal_id] = p.name
            db.roles[low] = {}
            db.role_names[low] = p.name
            continue
        sid = sid_guid(p.sid) if p.type in ("E", "X") else ""
        if not sid:
            note(f"{_TYPE_WORDS.get(p.type, 'principal')} {visible(p.name)}", _created(p))
            continue
        spec = _spec(p.name, p, sid)
        problems = validate_identity(spec)
        if problems:
            note(f"Entra principal {visible(p.name)}: {visible(problems[0])}", _created(p))
            continue
        identities[p.principal_id] = sid.lower()
        specs.setdefault(sid.lower(), spec)
        db.assignments[sid.lower()] = []
    for role_id, member_id in sorted(snap.members):
        role, member = by_id.get(role_id), by_id.get(member_id)
        if role is None or member is None or member.name.lower() in builtin:
            continue
        sql = f"ALTER ROLE {bracket(role.name)} ADD MEMBER {bracket(member.name)};"
        if member_id not in identities:
            if member_id in custom:
                note(f"role {visible(member.name)} is a member of role {visible(role.name)} (nested roles)", sql)
            elif member.type != "R":
                note(f"{visible(member.name)} (not exported) is a member of {visible(role.name)}", sql)
            continue
        if role.name.lower() in ELEVATED_ROLES:
            note(f"{visible(member.name)} is a member of the elevated role {role.name}", sql)
        elif role_id in custom or role.name.lower() in fixed:
            if role.name.lower() != "public":
                db.assignments[identities[member_id]].append(role.name)
        else:
            note(f"{visible(member.name)} is a member of {visible(role.name)}, which is not exported", sql)
    for row in snap.permissions:
        grantee = by_id.get(row.grantee_id)
        if grantee is None:
            continue
        on, where = _on(row, snap.schemas)
        verb = "GRANT" if row.state.startswith("GRANT") else row.state
        option = " WITH GRANT OPTION" if row.state == "GRANT_WITH_GRANT_OPTION" else ""
        sql = f"{verb} {row.permission}{on} TO {bracket(grantee.name)}{option};"
        if row.permission == "CONNECT" and row.class_desc == "DATABASE" and row.state == "GRANT":
            continue  # CREATE USER grants it; every user has it
        if grantee.name.lower() == "public" and (row.major_id < 0 or row.permission in DEFAULT_PUBLIC):
            continue  # Azure's own defaults: system objects and the Always Encrypted key metadata
        words = f"{visible(grantee.name)} has {row.state} {row.permission} on {where}"
        if row.grantee_id not in custom:
            if row.grantee_id in identities or grantee.type not in ("R",) or grantee.name.lower() in fixed:
                note(f"{words}: granted to a principal directly (a policy grants to roles)", sql)
            continue
        expressible = row.class_desc in ("DATABASE", "SCHEMA") and row.state == "GRANT" and row.permission in PERMISSIONS
        if not expressible:
            why = (
                "object-level grants" if row.class_desc not in ("DATABASE", "SCHEMA")
                else f"{row.state}" if row.state != "GRANT" else f"the permission {row.permission}"
            )  # fmt: skip
            note(f"{words}: a policy cannot express {why}", sql)
            continue
        schema = snap.schemas.get(row.major_id, "") if row.class_desc == "SCHEMA" else ""
        if row.class_desc == "SCHEMA" and not schema:
            note(f"{words}: the schema is not in sys.schemas", sql)
            continue
        db.roles[grantee.name.lower()].setdefault(schema, set()).add(row.permission)
    for schema_id, owner_id in sorted(snap.owners.items()):
        schema, owner = snap.schemas.get(schema_id, f"schema_id {schema_id}"), by_id.get(owner_id)
        if owner_id == DBO_ID:
            continue
        name = owner.name if owner is not None else f"<principal_id {owner_id}>"
        if name.lower() == schema.lower() and (name.lower() in builtin or name.lower() in fixed):
            continue  # every database's own: sys, INFORMATION_SCHEMA, guest and the fixed roles' schemas
        # The owner holds CONTROL on the schema without any GRANT row; the format has no word for ownership.
        note(
            f"schema {visible(schema)} is owned by {visible(name)}: a policy cannot express ownership",
            f"ALTER AUTHORIZATION ON SCHEMA::{bracket(schema)} TO {bracket(name)};",
        )
    for obj in sorted(snap.objects, key=lambda o: (snap.schemas.get(o.schema_id, "").lower(), o.name.lower())):
        if obj.principal_id == snap.owners.get(obj.schema_id, DBO_ID):
            continue  # its own owner is its schema's: nobody holds anything the schema's owner does not
        schema, owner = snap.schemas.get(obj.schema_id, f"schema_id {obj.schema_id}"), by_id.get(obj.principal_id)
        name = owner.name if owner is not None else f"<principal_id {obj.principal_id}>"
        # The owner holds CONTROL on the object (and breaks ownership chains through it) without any GRANT row.
        note(
            f"object {visible(schema)}.{visible(obj.name)} is owned by {visible(name)}, not by its schema's owner: "
            "a policy cannot express ownership",
            f"ALTER AUTHORIZATION ON OBJECT::{bracket(schema)}.{bracket(obj.name)} TO {bracket(name)};",
        )
    return db


def _role_key(grants: Mapping[str, set[str]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """A role's grants, comparable across databases (schemas compare case-insensitively, as the plan does)."""
    return tuple(sorted((s.lower(), tuple(p for p in PERMISSIONS if p in perms)) for s, perms in grants.items() if perms))


def _pattern(dbs: Sequence[str], servers: Sequence[str], listed: Mapping[str, Sequence[str]]) -> list[str]:
    """One glob when it matches exactly these databases on every one of these servers (today); else the names."""
    names = sorted(dbs, key=str.lower)
    if len(names) > 1 and all(s in listed for s in servers):
        lowered = [n.lower() for n in names]
        prefix = lowered[0]
        for n in lowered[1:]:
            while not n.startswith(prefix):
                prefix = prefix[:-1]
        candidates = ["*"] + ([names[0][: len(prefix)] + "*"] if prefix and not re.search(r"[*?\[\]]", prefix) else [])
        for glob in candidates:
            if all(
                sorted((d for d in listed[s] if d.lower() != "master" and fnmatch.fnmatchcase(d.lower(), glob.lower())), key=str.lower)
                == names
                for s in servers
            ):
                return [glob]
    return [literal_glob(n) for n in names]


def export_policy(
    snapshots: Sequence[DatabaseSnapshot],
    listed: Mapping[str, Sequence[str]] | None = None,
    default_server: str = "",
    admins: Mapping[str, AdminSpec | None] | None = None,
) -> Export:
    """The policy for these databases. ``listed``: every database on each server (for exact globs);
    ``default_server``: targets on it leave ``servers`` out (the policy then follows --server)."""
    unexpressed: list[Unexpressed] = []
    specs: dict[str, IdentitySpec] = {}
    dbs = [_read_db(s, unexpressed, specs) for s in snapshots]
    # Roles: one definition per name; a database that defines it differently is reported, not merged.
    definitions: dict[str, Counter[tuple[tuple[str, tuple[str, ...]], ...]]] = {}
    spelled: dict[str, str] = {}
    for db in dbs:
        for low, grants in db.roles.items():
            definitions.setdefault(low, Counter())[_role_key(grants)] += 1
            spelled.setdefault(low, db.role_names[low])
    chosen = {low: counts.most_common(1)[0][0] for low, counts in definitions.items()}
    for db in dbs:
        for low, grants in db.roles.items():
            if _role_key(grants) != chosen[low]:
                listing = "; ".join(
                    f"GRANT {', '.join(perms)}{f' ON SCHEMA::{bracket(s)}' if s else ''} TO {bracket(db.role_names[low])}"
                    for s, perms in _role_key(grants)
                )
                unexpressed.append(Unexpressed(db.snap.server, db.snap.database,
                                               f"role {visible(db.role_names[low])} has other grants here than in the other databases",
                                               (listing or f"-- {bracket(db.role_names[low])} has no grants") + ";"))  # fmt: skip
    # Identities: one per SID, keyed by the first database's user name; the same name with another SID gets a suffix.
    keys: dict[str, str] = {}  # sid -> key
    taken: set[str] = {r.lower() for r in chosen}
    for sid, spec in specs.items():
        key, n = spec.name, 2
        while key.lower() in taken:
            key, n = f"{spec.name}-{n}", n + 1
        taken.add(key.lower())
        keys[sid] = key
    # Targets: databases with the same assignments, grouped; servers with the same databases, grouped.
    groups: dict[tuple[tuple[str, tuple[str, ...]], ...], dict[str, list[str]]] = {}
    for db in dbs:
        mapping = tuple(sorted((keys[sid], tuple(sorted(roles, key=str.lower))) for sid, roles in db.assignments.items()))
        groups.setdefault(mapping, {}).setdefault(db.snap.server, []).append(db.snap.database)
    targets: list[tuple[list[str], list[str], tuple[tuple[str, tuple[str, ...]], ...]]] = []
    for mapping, by_server in groups.items():
        by_dbs: dict[tuple[str, ...], list[str]] = {}
        for server, names in by_server.items():
            by_dbs.setdefault(tuple(sorted(names, key=str.lower)), []).append(server)
        for db_names, servers in by_dbs.items():
            targets.append((servers, _pattern(db_names, servers, listed or {}), mapping))
    text = _render(
        dbs, specs, keys, {spelled[low]: chosen[low] for low in sorted(chosen)}, targets, unexpressed, default_server, admins or {}
    )
    return Export(text, tuple(unexpressed), tuple((d.snap.server, d.snap.database) for d in dbs), len(specs), len(chosen), len(targets))


def _render(
    dbs: Sequence[_Db],
    specs: Mapping[str, IdentitySpec],
    keys: Mapping[str, str],
    roles: Mapping[str, tuple[tuple[str, tuple[str, ...]], ...]],
    targets: Sequence[tuple[list[str], list[str], tuple[tuple[str, tuple[str, ...]], ...]]],
    unexpressed: Sequence[Unexpressed],
    default_server: str,
    admins: Mapping[str, AdminSpec | None],
) -> str:
    servers = sorted({d.snap.server for d in dbs})
    lines = [
        f"# Exported by azsqlctl grant export from {len(dbs)} database(s) on {len(servers)} server(s).",
        "# grant --check --policy THIS_FILE reports no changes on them" + (" (except what is listed at the end)." if unexpressed else "."),
        "version = 1",
    ]
    schema_case = {s.lower(): s for d in dbs for s in d.snap.schemas.values()}
    for name, grants in roles.items():
        lines += ["", f"[roles.{toml_key(name)}]"]
        items = [f"{{ permissions = {_toml_list(perms)}" + (f", schema = {toml_string(schema_case.get(s, s))} }}" if s else " }")
                 for s, perms in grants]  # fmt: skip
        lines.append(f"grants = [{', '.join(items)}]")
    for sid in sorted(specs, key=lambda s: keys[s].lower()):
        spec, key = specs[sid], keys[sid]
        lines += ["", f"[identities.{toml_key(key)}]"]
        if key != spec.name:
            lines.append(f"name = {toml_string(spec.name)}")
        lines.append(f"type = {toml_string(spec.kind)}")
        lines.append(f"{_sid_key(spec.kind)} = {toml_string(spec.sid)}")
    for target_servers, databases, mapping in targets:
        lines += ["", "[[targets]]"]
        if target_servers != [default_server]:
            lines.append(f"servers = {_toml_list(target_servers)}")
        lines.append(f"databases = {_toml_list(databases)}")
        entries = [f"{toml_key(key)} = {_toml_list(list(r))}" for key, r in mapping]
        inline = "grants = { " + ", ".join(entries) + " }" if entries else "grants = {}"
        if len(inline) <= _INLINE_MAX:
            lines.append(inline)
        else:
            lines += ["[targets.grants]", *entries]
    for server in sorted(s for s in admins if admins[s] is not None):
        admin = admins[server]
        assert admin is not None
        lines += [
            "",
            f"# Entra admin of {visible(server)}: {visible(admin.login)} ({visible(admin.principal_type)}, {visible(admin.sid)}); "
            "a server setting, kept with:",
            f"#   azsqlctl grant --ensure-entra-admin {visible(admin.login)} --entra-admin-id {visible(admin.sid)} "
            f"--entra-admin-type {visible(admin.principal_type)}",
        ]
    if unexpressed:
        lines += ["", f"# NOT EXPRESSED ({len(unexpressed)}): this policy format cannot say the following; it exists as this T-SQL."]
        lines.append("# grant never creates or removes it; where it touches a declared role or identity, --check reports it as drift.")
        where = ""
        for u in unexpressed:
            here = f"{visible(u.database)} on {visible(u.server)}"
            if here != where:
                lines.append(f"# {here}:")
                where = here
            lines.append(f"#   {u.what}")
            lines.append(f"#     {u.tsql}")
    return "\n".join(lines) + "\n"


class ExportPorts(Protocol):
    def session(self, server: str, database: str) -> QuerySession: ...
    def databases(self, server: str) -> list[str]: ...


def export_databases(
    ports: ExportPorts,
    targets: Sequence[tuple[str, str]],
    default_server: str = "",
    admins: Mapping[str, AdminSpec | None] | None = None,
    concurrency: int = 8,
) -> Export:
    """Read every (server, database), ``concurrency`` at a time, and export them together.

    Any database that cannot be read fails the export (a policy missing a database would be wrong
    by omission); the error names the database."""
    seen: dict[tuple[str, str], tuple[str, str]] = {}
    for server, database in targets:
        seen.setdefault((server.lower(), database.lower()), (server, database))
    wanted = list(seen.values())

    def read(target: tuple[str, str]) -> DatabaseSnapshot:
        session = ports.session(*target)
        try:
            return read_snapshot(session, *target)
        except AzsqlctlError as exc:
            raise type(exc)(f"{target[1]} on {target[0]}: {exc.message}", exc.hint, code=exc.code, details=exc.details) from None
        finally:
            session.close()

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        snapshots = list(pool.map(read, wanted))
        servers = sorted({s for s, _d in wanted})
        listed = dict(zip(servers, pool.map(ports.databases, servers), strict=True)) if len(wanted) > 1 else {}
    return export_policy(snapshots, listed, default_server, admins)
