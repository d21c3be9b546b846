"""grant export's core, without sockets: database states in, policy text out, then grant's own plan over it.

The databases are the sandbox's in-memory model; the catalog rows come from the sandbox's catalog and the
DDL runs through the sandbox's DDL executor (its rules are its own, not azsqlctl.core's). Tables and their owners
live where the sandbox keeps them, in a SQLite database (here in memory) read by its sys.objects. No driver, no TDS.
"""

from __future__ import annotations

import copy
import functools
import re
import sqlite3
import tomllib
import uuid
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from azsqlctl.core.grant.export import Export, export_policy, literal_glob, read_snapshot
from azsqlctl.core.grant.operation import Mode, Outcome, Status, execute, expand_targets
from azsqlctl.core.grant.policy import Lines, Policy, parse_policy
from azsqlctl.core.ports import Row
from azsqlctl.sandbox.sql.catalog import schema_views
from azsqlctl.sandbox.sql.catalog import security_views as catalog
from azsqlctl.sandbox.sql.catalog.model import CatalogContext
from azsqlctl.sandbox.sql.engine import lexer, ownership, storage
from azsqlctl.sandbox.sql.engine import principal_ddl as ddl
from azsqlctl.sandbox.sql.sqltypes import SqlType, TypeSpec
from azsqlctl.sandbox.state import Database, DbUser, Permission, SandboxState, default_state
from tests.property_budget import examples

SERVER = "srv.database.windows.net"
PERMS = ("SELECT", "INSERT", "UPDATE", "DELETE", "EXECUTE", "REFERENCES", "VIEW DEFINITION")
FIXED = ("db_datareader", "db_datawriter", "db_ddladmin", "db_backupoperator", "db_denydatareader", "db_denydatawriter")


class MemSession:
    """One database of the sandbox's model, read through its catalog and changed through its DDL executor."""

    def __init__(self, state: SandboxState, name: str, objects: sqlite3.Connection | None = None) -> None:
        self.state, self.name, self.objects = state, name, objects
        self.work: Database | None = None

    def _db(self) -> Database:
        db = self.work or self.state.server.database(self.name)
        assert db is not None
        return db

    def query(self, sql: str, params: object = ()) -> list[Row]:
        m = re.fullmatch(r"SELECT (.+) FROM (sys\.\w+)( WHERE principal_id IS NOT NULL AND is_ms_shipped = 0)?", sql)
        assert m, sql
        columns = [c.strip() for c in m[1].split(",")]
        caller = catalog.Caller("dbo", "dbo", self.name, 51)
        if m[2] == "sys.objects":
            context = CatalogContext(caller, self._db(), [], self.objects) if self.objects is not None else None
            rows = schema_views.VIEWS[m[2]].rows(context) if context is not None else []
        else:
            rows = catalog.RELATIONS[m[2]][1](self._db(), caller)
        if m[3]:
            rows = [r for r in rows if r["principal_id"] is not None and not r["is_ms_shipped"]]
        return [{c: r[c] for c in columns} for r in rows]

    def execute(self, sql: str) -> None:
        if self.work is None:
            self.work = copy.deepcopy(self._db())
        work = self.work
        ddl.execute(lexer.tokenize(sql), lambda: work, self.state, "dbo")

    def commit(self) -> None:
        if self.work is not None:
            self.state.server.databases = [self.work if d.name == self.name else d for d in self.state.server.databases]
        self.work = None

    def rollback(self) -> None:
        self.work = None

    def applock(self, resource: str, timeout_ms: int) -> int:
        return 0  # granted: one session at a time in memory, nothing to serialise against

    def close(self) -> None:
        self.work = None


@dataclass
class MemPorts:
    state: SandboxState
    objects: dict[str, sqlite3.Connection] | None = None  # database -> its tables and their owners

    def session(self, server: str, database: str) -> MemSession:
        assert server == SERVER
        return MemSession(self.state, database, (self.objects or {}).get(database))

    def databases(self, server: str) -> list[str]:
        return ["master", *(d.name for d in self.state.server.databases)]


def export_of(state: SandboxState, names: list[str] | None = None, objects: dict[str, sqlite3.Connection] | None = None) -> Export:
    ports = MemPorts(state, objects)
    wanted = names or [d.name for d in state.server.databases]
    snaps = [read_snapshot(ports.session(SERVER, n), SERVER, n) for n in wanted]
    return export_policy(snaps, {SERVER: ports.databases(SERVER)}, default_server=SERVER)


def load(text: str) -> Policy:
    policy, errors = parse_policy(tomllib.loads(text), Lines(text), allow_elevated=False)
    assert errors == [], (errors, text)
    return policy


def run(state: SandboxState, policy: Policy, mode: Mode) -> Outcome:
    op = expand_targets(policy, MemPorts(state), SERVER)
    assert op.failed == []
    return execute(op, MemPorts(state), mode, concurrency=1)


def state_with(*dbs: Database) -> SandboxState:
    state = default_state()
    state.server.databases = list(dbs)
    return state


# --- generated database states -----------------------------------------------------------------

names = st.sampled_from(["orders-api", "billing worker", "Ops]Team", "ünïcode-app", "ana@contoso.com", "grp-readers"])
# The strategies that depend on nothing drawn, built once: a composite that builds them in each draw spends a good
# part of its time building and validating strategies.
_POOLS = st.lists(names, min_size=1, max_size=5, unique=True)
_ROLE_POOLS = st.lists(st.sampled_from(["app_rw", "reporting", "Team Role", "x]y"]), max_size=3, unique=True)
_DEFINITIONS = st.lists(st.tuples(st.sampled_from(PERMS), st.sampled_from(["", "app", "App", "sales"])), max_size=4, unique=True)
_DB_NAMES = st.lists(st.sampled_from(["appdb", "tenant_a", "tenant_b", "tenant_c", "x[1]"]), min_size=1, max_size=4, unique=True)
_TABLES = st.lists(st.tuples(st.sampled_from(["dbo", "app", "sales"]), st.sampled_from(["orders", "x]y", "Ledger"])), unique=True)
_UUIDS = st.uuids()
_BOOLEANS = st.booleans()


@functools.cache
def _one_of(choices: tuple[str, ...]) -> st.SearchStrategy[str]:
    """sampled_from over choices that depend on earlier draws: one strategy per distinct tuple, built and validated once."""
    return st.sampled_from(choices)


@functools.cache
def _some_of(choices: tuple[str, ...], min_size: int = 0, max_size: int | None = None) -> st.SearchStrategy[list[str]]:
    """A list of distinct choices (as st.lists(st.sampled_from(choices), unique=True, ...)), one strategy per argument set."""
    return st.lists(st.sampled_from(choices), min_size=min_size, max_size=max_size, unique=True)


@st.composite
def estates(draw: st.DrawFn) -> SandboxState:
    """A server with 1-4 databases whose access the policy format can express: Entra users and groups, fixed
    (non-elevated) and custom role memberships, custom roles with database- and schema-scoped GRANTs."""
    pool = draw(_POOLS)
    principals = {n: (str(draw(_UUIDS)), "X" if n.startswith("grp") else "E") for n in pool}
    role_pool = draw(_ROLE_POOLS)
    definitions = {r: draw(_DEFINITIONS) for r in role_pool}
    db_names = draw(_DB_NAMES)
    same = draw(_BOOLEANS)  # every database alike: the export should glob them
    dbs = []
    shared = None
    for name in db_names:
        if same and shared is not None:
            dbs.append(copy.deepcopy(shared))
            dbs[-1].name = name
            continue
        roles = draw(_some_of(tuple(role_pool))) if role_pool else []
        users = draw(_some_of(tuple(pool)))
        db = Database(name, schemas=["dbo", "app", "sales"])
        for i, u in enumerate(users):
            db.users.append(DbUser(u, principals[u][0], principals[u][1], 5 + i))
        db.roles = list(roles)
        for r in roles:
            for perm, schema in definitions[r]:
                if not any(p.grantee == r and p.permission == perm and p.target.lower() == schema.lower() for p in db.permissions):
                    db.permissions.append(Permission(r, perm, "SCHEMA" if schema else "DATABASE", schema.lower(), "G"))
        for u in users:
            for role in draw(_some_of((*FIXED, *roles), max_size=3)):
                db.members.setdefault(role, []).append(u)
        dbs.append(db)
        shared = db
    return state_with(*dbs)


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(estates())
def test_export_then_check_reports_no_changes(state: SandboxState) -> None:
    exported = export_of(state)
    assert exported.unexpressed == ()
    outcome = run(state, load(exported.text), Mode.CHECK)
    assert {(r.database, r.status) for r in outcome.results} == {(d.name, Status.UNCHANGED) for d in state.server.databases}, exported.text
    assert int(outcome.exit_code) == 0


def quotename(name: str) -> str:
    """QUOTENAME, written out here (not the code under test's)."""
    return "[" + name.replace("]", "]]") + "]"


Owned = set[tuple[str, str]]  # (database, the T-SQL export lists)
_ESTATES = estates()


def tables_with_owners(db: Database, owners: dict[tuple[str, str], str]) -> sqlite3.Connection:
    """The database's tables where the sandbox keeps them (SQLite), each given the owner ALTER AUTHORIZATION would."""
    conn = storage.Storage(None).connect(db.name, recover=lambda _conn: 0)
    for i, ((schema, name), owner) in enumerate(sorted(owners.items())):
        info = storage.TableInfo(schema, name, 245_575_856 + 16_003 * (i + 1), [storage.ColumnInfo("id", TypeSpec(SqlType.INT))])
        storage.register(conn, info)
        if owner:
            ownership.set_object_owner(conn, info.object_id, owner)
    return conn


@st.composite
def owned_estates(draw: st.DrawFn) -> tuple[SandboxState, Owned, dict[str, sqlite3.Connection]]:
    """Expressible states where some schemas, and some tables, are owned by one of the database's users or custom
    roles (a table's owner drawn from the same pool, its schema's owner or none: owned through its schema)."""
    state = draw(_ESTATES)
    owned: Owned = set()
    objects: dict[str, sqlite3.Connection] = {}
    for db in state.server.databases:
        candidates = [u.name for u in db.users] + db.roles
        for schema in ("app", "sales"):
            owner = draw(_one_of(("", *candidates)))
            if owner:
                db.schema_owners[schema] = owner
                owned.add((db.name, f"ALTER AUTHORIZATION ON SCHEMA::{quotename(schema)} TO {quotename(owner)};"))
        tables = draw(_TABLES)
        table_owners = {t: draw(_one_of(("", "dbo", *candidates))) for t in tables}
        for (schema, name), owner in table_owners.items():
            if owner and owner.lower() != db.schema_owners.get(schema, "dbo").lower():
                owned.add((db.name, f"ALTER AUTHORIZATION ON OBJECT::{quotename(schema)}.{quotename(name)} TO {quotename(owner)};"))
        objects[db.name] = tables_with_owners(db, table_owners)
    return state, owned, objects


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(owned_estates())
def test_ownership_is_listed_never_dropped(drawn: tuple[SandboxState, Owned, dict[str, sqlite3.Connection]]) -> None:
    state, owned, objects = drawn
    exported = export_of(state, objects=objects)
    assert {(u.database, u.tsql) for u in exported.unexpressed} == owned
    assert all(u.what.endswith("a policy cannot express ownership") for u in exported.unexpressed)
    if owned:
        assert f"# NOT EXPRESSED ({len(owned)})" in exported.text
    # Everything else still round-trips: ownership is listed beside the policy, not folded into it.
    outcome = run(state, load(exported.text), Mode.CHECK)
    assert {r.status for r in outcome.results} == {Status.UNCHANGED}, exported.text
    for conn in objects.values():
        conn.close()


_IDENTS = st.lists(names, min_size=1, max_size=4, unique=True)
_POLICY_ROLES = st.lists(st.sampled_from(["app_rw", "reporting"]), max_size=2, unique=True)
_PERMS = st.lists(st.sampled_from(PERMS), min_size=1, max_size=3, unique=True)
_SCHEMA = st.sampled_from(["", "app"])
_TARGET_DATABASES = st.lists(st.lists(st.sampled_from(["tenant_a", "tenant_b", "appdb"]), min_size=1, unique=True), min_size=1, max_size=2)


@st.composite
def policies(draw: st.DrawFn) -> str:
    """A policy (identities by SID, custom roles, fixed roles) to apply to empty databases."""
    idents = draw(_IDENTS)
    roles = draw(_POLICY_ROLES)
    out = ["version = 1"]
    for r in roles:
        perms = draw(_PERMS)
        schema = draw(_SCHEMA)
        where = f', schema = "{schema}"' if schema else ""
        out += [f"[roles.{r}]", f"grants = [{{ permissions = {perms!r}{where} }}]".replace("'", '"')]
    for n in idents:
        kind = "group" if n.startswith("grp") else "user" if "@" in n else "app"
        key = "client_id" if kind == "app" else "object_id"
        out += [f'[identities."{n}"]', f'type = "{kind}"', f'{key} = "{draw(_UUIDS)}"', "sid_mode = true"]
    for dbs in draw(_TARGET_DATABASES):
        grants = {n: draw(_some_of((*roles, "db_datareader", "db_datawriter"))) for n in idents}
        body = ", ".join(f'"{n}" = {sorted(g)!r}'.replace("'", '"') for n, g in grants.items())
        out += ["[[targets]]", f"databases = {sorted(dbs)!r}".replace("'", '"'), f"grants = {{ {body} }}"]
    return "\n".join(out) + "\n"


def meaning(state: SandboxState) -> dict[str, object]:
    """What a policy means in a database: users by SID with their roles, and each custom role's grants."""
    out: dict[str, object] = {}
    for db in state.server.databases:
        members = {u.sid: sorted(r.lower() for r, ms in db.members.items() if u.name in ms) for u in db.users}
        grants = {r.lower(): sorted((p.permission, p.target.lower()) for p in db.permissions if p.grantee == r) for r in db.roles}
        out[db.name] = (members, {r: g for r, g in grants.items() if any(r in ms for ms in members.values())})
    return out


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies())
def test_export_of_an_applied_policy_reproduces_it(text: str) -> None:
    state = state_with(*(Database(n, schemas=["dbo", "app"]) for n in ("appdb", "tenant_a", "tenant_b")))
    applied = run(state, load(text), Mode.APPLY)
    assert all(r.status in (Status.CHANGED, Status.UNCHANGED) for r in applied.results), [r.error for r in applied.results]
    before = meaning(state)
    exported = export_of(state)
    assert exported.unexpressed == ()
    # Apply the export to fresh databases: the same users (by SID), memberships and role grants.
    fresh = state_with(*(Database(n, schemas=["dbo", "app"]) for n in ("appdb", "tenant_a", "tenant_b")))
    again = load(exported.text.replace('type = "', 'sid_mode = true\ntype = "'))
    run(fresh, again, Mode.APPLY)
    assert meaning(fresh) == before
    assert run(state, load(exported.text), Mode.CHECK).exit_code == 0


# --- examples: what the format cannot say, globs, shared identities --------------------------------


def test_unexpressed_state_is_listed_with_its_tsql() -> None:
    sid, legacy = str(uuid.uuid4()), str(uuid.uuid4())
    db = Database(
        "appdb",
        users=[DbUser("orders-api", sid, "E", 5), DbUser("legacy", legacy, "S", 6)],
        roles=["app_rw", "ops"],
        members={"db_owner": ["orders-api"], "app_rw": ["orders-api", "ops"], "db_datareader": ["legacy"]},
        permissions=[
            Permission("app_rw", "SELECT", "SCHEMA", "app"),
            Permission("app_rw", "DELETE", "SCHEMA", "app", "D"),
            Permission("app_rw", "CONTROL", "DATABASE"),
            Permission("orders-api", "EXECUTE", "DATABASE"),
        ],
        schemas=["dbo", "app"],
    )
    exported = export_of(state_with(db))
    listed = [(u.what, u.tsql) for u in exported.unexpressed]
    assert listed == [
        ("SQL-authentication user legacy", "CREATE USER [legacy] FOR LOGIN <its server login>;"),
        ("orders-api is a member of the elevated role db_owner", "ALTER ROLE [db_owner] ADD MEMBER [orders-api];"),
        ("legacy (not exported) is a member of db_datareader", "ALTER ROLE [db_datareader] ADD MEMBER [legacy];"),
        ("role ops is a member of role app_rw (nested roles)", "ALTER ROLE [app_rw] ADD MEMBER [ops];"),
        ("app_rw has DENY DELETE on schema app: a policy cannot express DENY", "DENY DELETE ON SCHEMA::[app] TO [app_rw];"),
        ("app_rw has GRANT CONTROL on the database: a policy cannot express the permission CONTROL", "GRANT CONTROL TO [app_rw];"),
        (
            "orders-api has GRANT EXECUTE on the database: granted to a principal directly (a policy grants to roles)",
            "GRANT EXECUTE TO [orders-api];",
        ),
    ]
    text = exported.text
    assert "# NOT EXPRESSED (7): this policy format cannot say the following; it exists as this T-SQL." in text
    assert "#   orders-api is a member of the elevated role db_owner\n#     ALTER ROLE [db_owner] ADD MEMBER [orders-api];" in text
    policy = load(text)
    assert policy.targets[0].grants == {"orders-api": ["app_rw"]}
    # What the format can say is there; what it cannot is drift for --check, never silently dropped.
    outcome = run(state_with(db), policy, Mode.CHECK)
    assert outcome.results[0].plan is not None
    assert sorted(outcome.results[0].plan.drift) == [
        "orders-api is also a member of db_owner, which is not granted here (--prune removes it)",
        "role app_rw has CONTROL on the database, which is not granted here (--prune removes it)",
    ]


def test_identities_shared_by_databases_are_written_once_and_alike_databases_become_one_glob() -> None:
    sid = str(uuid.uuid4())
    tenants = [
        Database(n, users=[DbUser("orders-api", sid, "E", 5)], members={"db_datareader": ["orders-api"]}) for n in ("tenant_a", "tenant_b")
    ]
    other = Database("appdb", users=[DbUser("orders-api", sid, "E", 5)], members={"db_datawriter": ["orders-api"]})
    text = export_of(state_with(other, *tenants)).text
    assert text.count("[identities.orders-api]") == 1
    assert f'[identities.orders-api]\ntype = "app"\nclient_id = "{sid}"\n' in text
    assert '[[targets]]\ndatabases = ["tenant_*"]\ngrants = { orders-api = ["db_datareader"] }\n' in text
    assert '[[targets]]\ndatabases = ["appdb"]\ngrants = { orders-api = ["db_datawriter"] }\n' in text
    # Only two of three tenants alike: "tenant_*" would also match tenant_c, so the names are listed.
    third = Database("tenant_c", users=[DbUser("orders-api", sid, "E", 5)])
    text = export_of(state_with(other, *tenants, third)).text
    assert 'databases = ["tenant_a", "tenant_b"]' in text and "tenant_*" not in text


def test_names_are_quoted_as_toml_and_tsql_and_glob_characters_escaped() -> None:
    sid = str(uuid.uuid4())
    db = Database("x[1]", users=[DbUser('we"ird]\x1bname', sid, "S", 5)])
    exported = export_of(state_with(db))
    assert exported.unexpressed[0].what == 'SQL-authentication user we"ird]\\x1bname'
    assert exported.unexpressed[0].tsql == 'CREATE USER [we"ird]]\\x1bname] FOR LOGIN <its server login>;'
    assert "\x1b" not in exported.text
    assert literal_glob("x[1]") == "x[[]1]"
    assert 'databases = ["x[[]1]"]' in exported.text
    assert load(exported.text).targets[0].databases == ["x[[]1]"]


def test_the_sandbox_refuses_to_drop_a_schema_owner_as_azure_does() -> None:
    """The ownership the export lists is the sandbox's own state: its owner cannot be dropped out from under it."""
    db = Database(
        "appdb", users=[DbUser("orders-api", str(uuid.uuid4()), "E", 5)], schemas=["dbo", "app"], schema_owners={"app": "orders-api"}
    )
    state = state_with(db)
    with pytest.raises(ddl.DdlError) as info:
        ddl.execute(lexer.tokenize("DROP USER [orders-api]"), lambda: db, state, "dbo")
    assert (info.value.number, str(info.value)) == (15138, "The database principal owns a schema in the database, and cannot be dropped.")
    assert [r["principal_id"] for r in catalog.RELATIONS["sys.schemas"][1](db, catalog.Caller("dbo", "dbo", "appdb", 51))] == [1, 5]
