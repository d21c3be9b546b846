"""grant/export.py to the letter, from hand-built catalog snapshots (no sandbox): the whole policy text for a
database that holds every kind of thing the format can and cannot say, a fleet's grouping, globs and key
suffixes, the helpers' quoting, and reading snapshots through an in-memory session."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest

from azsqlctl.core.errors import AzsqlctlError, NotFound
from azsqlctl.core.grant.entra_admin import AdminSpec
from azsqlctl.core.grant.export import (
    DBO_ID,
    DEFAULT_PUBLIC,
    EXPORT_QUERIES,
    DatabaseSnapshot,
    Export,
    OwnedObject,
    PermissionRow,
    Principal,
    Unexpressed,
    bracket,
    export_databases,
    export_policy,
    literal_glob,
    read_snapshot,
    toml_key,
    toml_string,
)
from azsqlctl.core.ports import Row

SERVER = "srv.database.windows.net"
OTHER_SERVER = "eu.database.windows.net"
APP = "4e0a3f6e-2c1b-4e4d-8f90-123456789abc"
USER = "0f6b3e2a-9c8d-4e7f-a1b2-c3d4e5f60718"
GROUP = "11111111-2222-4333-8444-555555555555"
CLASH = "22222222-3333-4444-8555-666666666666"


def sid(guid: str) -> bytes:
    return uuid.UUID(guid).bytes_le


def base() -> list[Principal]:
    return [
        Principal("dbo", 1, "S", b"\x01", "INSTANCE"),
        Principal("guest", 2, "S", None, "NONE"),
        Principal("INFORMATION_SCHEMA", 3, "S", None, "NONE"),
        Principal("sys", 4, "S", None, "NONE"),
        Principal("public", 0, "R", None, "NONE"),
        Principal("db_owner", 16384, "R", None, "NONE"),
        Principal("db_datareader", 16390, "R", None, "NONE"),
        Principal("db_datawriter", 16391, "R", None, "NONE"),
    ]


def rich(database: str = "appdb", server: str = SERVER) -> DatabaseSnapshot:
    principals = [
        *base(),
        Principal("orders-api", 5, "E", sid(APP), "EXTERNAL"),
        Principal("ana@contoso.com", 6, "E", sid(USER), "EXTERNAL"),
        Principal("readers", 7, "X", sid(GROUP), "EXTERNAL"),
        Principal("legacy", 8, "S", b"\x02" * 16, "INSTANCE"),
        Principal("pwuser", 9, "S", b"\x03" * 16, "DATABASE"),
        Principal("nologin", 10, "S", None, "NONE"),
        Principal("approle", 11, "A", None, "NONE"),
        Principal("winuser", 12, "U", b"\x04" * 28, "WINDOWS"),
        Principal("app_rw", 13, "R", None, "NONE"),
        Principal("reader", 14, "R", None, "NONE"),  # a preset's name
        Principal("nested", 15, "R", None, "NONE"),
        Principal("short-sid", 16, "E", b"\x05" * 4, "EXTERNAL"),
        Principal("Team Role", 17, "R", None, "NONE"),
        Principal("bad\x07name", 18, "E", sid(CLASH), "EXTERNAL"),
        Principal("cert", 19, "C", b"\x06" * 16, "NONE"),
    ]
    members = (
        (16390, 5),
        (13, 5),
        (16391, 6),
        (16384, 7),
        (13, 15),
        (16390, 8),
        (13, 1),
        (14, 5),
        (17, 6),
        (0, 5),
        (16390, 999),  # a member id that no principal has
    )
    perms = (
        PermissionRow("DATABASE", 0, 5, "CONNECT", "GRANT"),
        PermissionRow("DATABASE", 0, 13, "SELECT", "GRANT"),
        PermissionRow("SCHEMA", 5, 13, "EXECUTE", "GRANT"),
        PermissionRow("SCHEMA", 5, 13, "INSERT", "GRANT"),
        PermissionRow("SCHEMA", 99, 13, "DELETE", "GRANT"),  # a schema not in sys.schemas
        PermissionRow("DATABASE", 0, 13, "ALTER", "GRANT"),
        PermissionRow("DATABASE", 0, 13, "UPDATE", "DENY"),
        PermissionRow("DATABASE", 0, 13, "REFERENCES", "GRANT_WITH_GRANT_OPTION"),
        PermissionRow("OBJECT_OR_COLUMN", 245575913, 13, "SELECT", "GRANT"),
        PermissionRow("DATABASE", 0, 5, "SELECT", "GRANT"),  # to a user directly
        PermissionRow("DATABASE", 0, 16390, "VIEW DEFINITION", "GRANT"),  # to a fixed role
        PermissionRow("DATABASE", 0, 0, "VIEW ANY COLUMN ENCRYPTION KEY DEFINITION", "GRANT"),
        PermissionRow("OBJECT_OR_COLUMN", -100, 0, "SELECT", "GRANT"),
        PermissionRow("DATABASE", 0, 0, "SHOWPLAN", "GRANT"),  # public, not a default
        PermissionRow("DATABASE", 0, 12345, "SELECT", "GRANT"),  # a grantee no principal has
        PermissionRow("DATABASE", 0, 17, "SELECT", "GRANT"),
    )
    schemas = {1: "dbo", 3: "INFORMATION_SCHEMA", 4: "sys", 5: "Sales", 6: "audit", 7: "db_owner", 8: "nested", 16390: "db_datareader"}
    owners = {1: 1, 3: 3, 4: 4, 5: 1, 6: 13, 7: 16384, 8: 15, 16390: 16390, 9: 77}
    objects = (
        OwnedObject("Orders", 5, 13),
        OwnedObject("ok", 6, 13),  # owned by its schema's owner
        OwnedObject("Gone", 42, 78),
    )
    return DatabaseSnapshot(server, database, tuple(principals), members, perms, schemas, owners, objects)


def small(database: str, server: str = SERVER, app_sid: str = APP, role_perm: str = "SELECT") -> DatabaseSnapshot:
    """orders-api in the custom role app_rw, which may do ``role_perm`` on schema sales."""
    principals = (*base(), Principal("orders-api", 5, "E", sid(app_sid), "EXTERNAL"), Principal("app_rw", 13, "R", None, "NONE"))
    perms = (PermissionRow("SCHEMA", 5, 13, role_perm, "GRANT"),)
    return DatabaseSnapshot(server, database, principals, ((13, 5),), perms, {1: "dbo", 5: "sales"}, {1: 1, 5: 1})


RICH_TEXT = (
    "# Exported by azsqlctl grant export from 1 database(s) on 1 server(s).\n"
    "# grant --check --policy THIS_FILE reports no changes on them (except what is listed at the end).\n"
    "version = 1\n"
    "\n"
    "[roles.app_rw]\n"
    'grants = [{ permissions = ["SELECT"] }, { permissions = ["INSERT", "EXECUTE"], schema = "Sales" }]\n'
    "\n"
    "[roles.nested]\n"
    "grants = []\n"
    "\n"
    '[roles."Team Role"]\n'
    'grants = [{ permissions = ["SELECT"] }]\n'
    "\n"
    '[identities."ana@contoso.com"]\n'
    'type = "user"\n'
    'object_id = "0f6b3e2a-9c8d-4e7f-a1b2-c3d4e5f60718"\n'
    "\n"
    "[identities.orders-api]\n"
    'type = "app"\n'
    'client_id = "4e0a3f6e-2c1b-4e4d-8f90-123456789abc"\n'
    "\n"
    "[identities.readers]\n"
    'type = "group"\n'
    'object_id = "11111111-2222-4333-8444-555555555555"\n'
    "\n"
    "[[targets]]\n"
    'databases = ["appdb"]\n'
    "[targets.grants]\n"
    '"ana@contoso.com" = ["db_datawriter", "Team Role"]\n'
    'orders-api = ["app_rw", "db_datareader"]\n'
    "readers = []\n"
    "\n"
    "# Entra admin of srv.database.windows.net: dba (Group, 11111111-2222-4333-8444-555555555555); a server setting, kept with:\n"
    "#   azsqlctl grant --ensure-entra-admin dba --entra-admin-id 11111111-2222-4333-8444-555555555555 --entra-admin-type Group\n"
    "\n"
    "# NOT EXPRESSED (26): this policy format cannot say the following; it exists as this T-SQL.\n"
    "# grant never creates or removes it; where it touches a declared role or identity, --check reports it as drift.\n"
    "# appdb on srv.database.windows.net:\n"
    "#   SQL-authentication user legacy\n"
    "#     CREATE USER [legacy] FOR LOGIN <its server login>;\n"
    "#   SQL-authentication user pwuser\n"
    "#     CREATE USER [pwuser] WITH PASSWORD = <not readable>;\n"
    "#   SQL-authentication user nologin\n"
    "#     CREATE USER [nologin] WITHOUT LOGIN;\n"
    "#   application role approle\n"
    "#     CREATE APPLICATION ROLE [approle] WITH PASSWORD = <not readable>;\n"
    "#   Windows user winuser\n"
    "#     -- a principal of type U (WINDOWS)\n"
    "#   role reader: its name is a preset's, which a policy cannot define\n"
    "#     CREATE ROLE [reader];\n"
    "#   Entra principal without a 16-byte SID short-sid\n"
    "#     CREATE USER [short-sid] FROM EXTERNAL PROVIDER;\n"
    "#   Entra principal bad\\x07name: the name contains control characters\n"
    "#     CREATE USER [bad\\x07name] FROM EXTERNAL PROVIDER;\n"
    "#   certificate-mapped user cert\n"
    "#     -- a principal of type C (NONE)\n"
    "#   role nested is a member of role app_rw (nested roles)\n"
    "#     ALTER ROLE [app_rw] ADD MEMBER [nested];\n"
    "#   orders-api is a member of reader, which is not exported\n"
    "#     ALTER ROLE [reader] ADD MEMBER [orders-api];\n"
    "#   readers is a member of the elevated role db_owner\n"
    "#     ALTER ROLE [db_owner] ADD MEMBER [readers];\n"
    "#   legacy (not exported) is a member of db_datareader\n"
    "#     ALTER ROLE [db_datareader] ADD MEMBER [legacy];\n"
    "#   app_rw has GRANT DELETE on schema schema_id 99: the schema is not in sys.schemas\n"
    "#     GRANT DELETE ON SCHEMA::[schema_id 99] TO [app_rw];\n"
    "#   app_rw has GRANT ALTER on the database: a policy cannot express the permission ALTER\n"
    "#     GRANT ALTER TO [app_rw];\n"
    "#   app_rw has DENY UPDATE on the database: a policy cannot express DENY\n"
    "#     DENY UPDATE TO [app_rw];\n"
    "#   app_rw has GRANT_WITH_GRANT_OPTION REFERENCES on the database: a policy cannot express GRANT_WITH_GRANT_OPTION\n"
    "#     GRANT REFERENCES TO [app_rw] WITH GRANT OPTION;\n"
    "#   app_rw has GRANT SELECT on object_or_column 245575913: a policy cannot express object-level grants\n"
    "#     GRANT SELECT ON OBJECT::<object_or_column 245575913> TO [app_rw];\n"
    "#   orders-api has GRANT SELECT on the database: granted to a principal directly (a policy grants to roles)\n"
    "#     GRANT SELECT TO [orders-api];\n"
    "#   db_datareader has GRANT VIEW DEFINITION on the database: granted to a principal directly (a policy grants to roles)\n"
    "#     GRANT VIEW DEFINITION TO [db_datareader];\n"
    "#   public has GRANT SHOWPLAN on the database: granted to a principal directly (a policy grants to roles)\n"
    "#     GRANT SHOWPLAN TO [public];\n"
    "#   schema audit is owned by app_rw: a policy cannot express ownership\n"
    "#     ALTER AUTHORIZATION ON SCHEMA::[audit] TO [app_rw];\n"
    "#   schema nested is owned by nested: a policy cannot express ownership\n"
    "#     ALTER AUTHORIZATION ON SCHEMA::[nested] TO [nested];\n"
    "#   schema schema_id 9 is owned by <principal_id 77>: a policy cannot express ownership\n"
    "#     ALTER AUTHORIZATION ON SCHEMA::[schema_id 9] TO [<principal_id 77>];\n"
    "#   object schema_id 42.Gone is owned by <principal_id 78>, not by its schema's owner: a policy cannot express ownership\n"
    "#     ALTER AUTHORIZATION ON OBJECT::[schema_id 42].[Gone] TO [<principal_id 78>];\n"
    "#   object Sales.Orders is owned by app_rw, not by its schema's owner: a policy cannot express ownership\n"
    "#     ALTER AUTHORIZATION ON OBJECT::[Sales].[Orders] TO [app_rw];\n"
)


def test_the_whole_policy_for_a_database_holding_everything() -> None:
    export = export_policy(
        [rich()],
        {SERVER: ["master", "appdb"]},
        default_server=SERVER,
        admins={SERVER: AdminSpec("dba", GROUP, "Group"), OTHER_SERVER: None},
    )
    assert export.text == RICH_TEXT
    assert (export.identities, export.roles, export.targets, len(export.unexpressed)) == (3, 3, 1, 26)
    assert export.databases == ((SERVER, "appdb"),)
    first = export.unexpressed[0]
    assert first == Unexpressed(SERVER, "appdb", "SQL-authentication user legacy", "CREATE USER [legacy] FOR LOGIN <its server login>;")
    assert first.as_dict() == {"server": SERVER, "database": "appdb", "what": first.what, "tsql": first.tsql}


def test_the_export_as_data() -> None:
    export = export_policy([small("appdb")], default_server=SERVER)
    assert export.as_dict() == {
        "policy": export.text,
        "unexpressed": [],
        "databases": [{"server": SERVER, "database": "appdb"}],
        "counts": {"identities": 1, "roles": 1, "targets": 1, "unexpressed": 0},
    }
    assert export.text.splitlines()[1] == "# grant --check --policy THIS_FILE reports no changes on them."
    assert "NOT EXPRESSED" not in export.text
    assert export.text.endswith('grants = { orders-api = ["app_rw"] }\n')


def test_a_fleet_groups_databases_suffixes_keys_and_reports_a_role_defined_otherwise() -> None:
    snaps = [small("tenant_a"), small("Tenant_B"), small("x[1]", OTHER_SERVER, app_sid=USER), small("solo", role_perm="UPDATE")]
    listed = {SERVER: ["master", "tenant_a", "Tenant_B", "other", "solo"], OTHER_SERVER: ["master", "x[1]"]}
    export = export_policy(snaps, listed, default_server=SERVER)
    assert export.text == (
        "# Exported by azsqlctl grant export from 4 database(s) on 2 server(s).\n"
        "# grant --check --policy THIS_FILE reports no changes on them (except what is listed at the end).\n"
        "version = 1\n"
        "\n"
        "[roles.app_rw]\n"
        'grants = [{ permissions = ["SELECT"], schema = "sales" }]\n'
        "\n"
        "[identities.orders-api]\n"
        'type = "app"\n'
        f'client_id = "{APP}"\n'
        "\n"
        "[identities.orders-api-2]\n"
        'name = "orders-api"\n'
        'type = "app"\n'
        f'client_id = "{USER}"\n'
        "\n"
        "[[targets]]\n"
        'databases = ["solo", "tenant_a", "Tenant_B"]\n'
        'grants = { orders-api = ["app_rw"] }\n'
        "\n"
        "[[targets]]\n"
        'servers = ["eu.database.windows.net"]\n'
        'databases = ["x[[]1]"]\n'
        'grants = { orders-api-2 = ["app_rw"] }\n'
        "\n"
        "# NOT EXPRESSED (1): this policy format cannot say the following; it exists as this T-SQL.\n"
        "# grant never creates or removes it; where it touches a declared role or identity, --check reports it as drift.\n"
        "# solo on srv.database.windows.net:\n"
        "#   role app_rw has other grants here than in the other databases\n"
        "#     GRANT UPDATE ON SCHEMA::[sales] TO [app_rw];\n"
    )
    assert (export.identities, export.roles, export.targets) == (2, 1, 2)


def test_a_role_with_no_grants_in_one_database_is_reported_so() -> None:
    bare = small("b")
    bare = DatabaseSnapshot(bare.server, "b", bare.principals, bare.members, (), bare.schemas, bare.owners)
    export = export_policy([small("a"), small("c"), bare], default_server=SERVER)
    (u,) = export.unexpressed
    assert (u.database, u.what, u.tsql) == (
        "b",
        "role app_rw has other grants here than in the other databases",
        "-- [app_rw] has no grants;",
    )


@pytest.mark.parametrize(
    ("names", "listed", "expected"),
    [
        (["tenant_a", "Tenant_B"], ["master", "tenant_a", "Tenant_B", "other"], ["tenant_*"]),
        (["a", "b"], ["MASTER", "a", "b"], ["*"]),
        (["a", "b"], ["master", "a", "b", "c"], ["a", "b"]),
        (["t*1", "t*2"], ["master", "t*1", "t*2"], ["*"]),  # a prefix with a glob character is never a glob's
        (["t*1", "t*2"], ["master", "t*1", "t*2", "u"], ["t[*]1", "t[*]2"]),
        (["only"], ["master", "only"], ["only"]),  # one database: its name
    ],
)
def test_database_patterns(names: list[str], listed: list[str], expected: list[str]) -> None:
    export = export_policy([small(n) for n in names], {SERVER: listed}, default_server=SERVER)
    line = next(line for line in export.text.splitlines() if line.startswith("databases = "))
    assert line == "databases = [" + ", ".join(f'"{e}"' for e in expected) + "]"


def test_a_pattern_needs_every_servers_listing() -> None:
    snaps = [small("a"), small("b"), small("a", OTHER_SERVER), small("b", OTHER_SERVER)]
    both = export_policy(snaps, {SERVER: ["a", "b"], OTHER_SERVER: ["a", "b"]})
    assert 'databases = ["*"]' in both.text and 'servers = ["srv.database.windows.net", "eu.database.windows.net"]' in both.text
    one = export_policy(snaps, {SERVER: ["a", "b"]})
    assert 'databases = ["a", "b"]' in one.text
    differs = export_policy(snaps, {SERVER: ["a", "b"], OTHER_SERVER: ["a", "b", "c"]})
    assert 'databases = ["a", "b"]' in differs.text


def test_a_key_taken_by_a_role_gets_a_suffix_and_long_grants_get_their_own_table() -> None:
    principals = (
        *base(),
        Principal("team", 5, "E", sid(APP), "EXTERNAL"),
        Principal("Team", 13, "R", None, "NONE"),
        Principal("a-very-long-identity-name-that-is-written-out-in-full", 6, "E", sid(USER), "EXTERNAL"),
    )
    snap = DatabaseSnapshot(SERVER, "d", principals, ((13, 5), (16390, 6), (16391, 6)), (), {1: "dbo"})
    text = export_policy([snap], default_server=SERVER).text
    assert '[identities.team-2]\nname = "team"\ntype = "app"\n' in text
    assert (
        '[targets.grants]\na-very-long-identity-name-that-is-written-out-in-full = ["db_datareader", "db_datawriter"]\nteam-2 = ["Team"]\n'
    ) in text


def test_no_identities_writes_empty_grants() -> None:
    snap = DatabaseSnapshot(SERVER, "d", tuple(base()), (), (), {1: "dbo"})
    export = export_policy([snap], default_server=SERVER)
    assert export.text.endswith('[[targets]]\ndatabases = ["d"]\ngrants = {}\n')
    assert export.text.count("\n") == 7


def test_an_identity_named_with_a_long_name_or_a_long_role_name() -> None:
    long_role = "r" * 129
    principals = (*base(), Principal(long_role, 13, "R", None, "NONE"))
    export = export_policy([DatabaseSnapshot(SERVER, "d", principals, (), (), {1: "dbo"})])
    (u,) = export.unexpressed
    assert u.what == f"role {long_role}: its name is a preset's, which a policy cannot define"
    assert u.tsql == f"CREATE ROLE [{long_role}];"


def test_helpers() -> None:
    assert bracket("a]b") == "[a]]b]"
    assert bracket("x\x07") == "[x\\x07]"
    assert toml_string('a"b\\c') == '"a\\"b\\\\c"'
    assert toml_string("t\tn\x7f") == '"t\\u0009n\\u007f"'
    assert toml_string("é") == '"é"'
    assert toml_key("orders-api_1") == "orders-api_1"
    assert toml_key("a b") == '"a b"' and toml_key("a.b") == '"a.b"' and toml_key("") == '""'
    assert literal_glob("a*b?c[d]") == "a[*]b[?]c[[]d]"
    assert DBO_ID == 1
    assert {"VIEW ANY COLUMN ENCRYPTION KEY DEFINITION", "VIEW ANY COLUMN MASTER KEY DEFINITION"} == DEFAULT_PUBLIC


# --- reading snapshots through a session -------------------------------------------------------------------------


@dataclass
class Catalog:
    """One database's catalog rows, answered by the query text export sends."""

    rows: dict[str, list[Row]]
    closed: int = 0
    fail: AzsqlctlError | None = None
    asked: list[str] = field(default_factory=list)

    def query(self, sql: str, params: object = ()) -> list[Row]:
        self.asked.append(sql)
        if self.fail is not None:
            raise self.fail
        return [dict(r) for r in self.rows[next(k for k, q in EXPORT_QUERIES.items() if q == sql)]]

    def close(self) -> None:
        self.closed += 1


def catalog(app_sid: str = APP) -> Catalog:
    return Catalog({
        "principals": [
            {"name": "dbo", "principal_id": 1, "type": "S ", "sid": b"\x01", "authentication_type_desc": "INSTANCE"},
            {"name": "orders-api", "principal_id": 5, "type": "E", "sid": sid(app_sid), "authentication_type_desc": None},
            {"name": "app_rw", "principal_id": 13, "type": "R", "sid": None},
        ],
        "members": [{"role_principal_id": 13, "member_principal_id": 5}],
        "permissions": [{"class_desc": "SCHEMA", "major_id": "5", "grantee_principal_id": 13, "permission_name": "select", "state_desc": "grant"}],
        "schemas": [{"name": "dbo", "schema_id": 1, "principal_id": 1}, {"name": "sales", "schema_id": 5, "principal_id": 1}],
        "objects": [{"name": "T", "schema_id": 5, "principal_id": 13}, {"name": "U", "schema_id": 5, "principal_id": None}],
    })  # fmt: skip


def test_read_snapshot() -> None:
    session = catalog()
    snap = read_snapshot(session, SERVER, "appdb")
    assert snap == DatabaseSnapshot(
        SERVER, "appdb",
        (Principal("dbo", 1, "S", b"\x01", "INSTANCE"), Principal("orders-api", 5, "E", sid(APP), ""), Principal("app_rw", 13, "R", None, "")),
        ((13, 5),),
        (PermissionRow("SCHEMA", 5, 13, "SELECT", "GRANT"),),
        {1: "dbo", 5: "sales"},
        {1: 1, 5: 1},
        (OwnedObject("T", 5, 13),),
    )  # fmt: skip
    assert session.asked == [EXPORT_QUERIES[k] for k in ("principals", "members", "permissions", "schemas", "objects")]
    assert EXPORT_QUERIES["objects"].endswith("WHERE principal_id IS NOT NULL AND is_ms_shipped = 0")


@dataclass
class Ports:
    dbs: dict[tuple[str, str], Catalog]
    listed_calls: list[str] = field(default_factory=list)

    def session(self, server: str, database: str) -> Catalog:
        return self.dbs[(server, database)]

    def databases(self, server: str) -> list[str]:
        self.listed_calls.append(server)
        return ["master", *(d for s, d in self.dbs if s == server)]


def test_export_databases_reads_each_once_and_lists_servers_for_globs() -> None:
    a, b = catalog(), catalog()
    ports = Ports({(SERVER, "a"): a, (SERVER, "b"): b})
    export = export_databases(ports, [(SERVER, "a"), (SERVER.upper(), "A"), (SERVER, "b")], default_server=SERVER, concurrency=0)
    assert export.databases == ((SERVER, "a"), (SERVER, "b"))
    assert 'databases = ["*"]' in export.text
    assert (a.closed, b.closed) == (1, 1) and ports.listed_calls == [SERVER]
    single = Ports({(SERVER, "a"): catalog()})
    one = export_databases(single, [(SERVER, "a")], default_server=SERVER, admins={SERVER: AdminSpec("dba", GROUP, "Group")})
    assert single.listed_calls == [] and 'databases = ["a"]' in one.text and "# Entra admin of srv.database.windows.net: dba" in one.text


def test_export_databases_names_the_database_that_failed() -> None:
    bad = catalog()
    bad.fail = NotFound("cannot open", "check the name", code="4060", details={"n": 1})
    with pytest.raises(NotFound) as info:
        export_databases(Ports({(SERVER, "a"): catalog(), (SERVER, "gone"): bad}), [(SERVER, "a"), (SERVER, "gone")])
    assert (info.value.message, info.value.hint, info.value.code, info.value.details) == (
        f"gone on {SERVER}: cannot open", "check the name", "4060", {"n": 1},
    )  # fmt: skip
    assert bad.closed == 1


def test_an_export_is_a_value() -> None:
    assert Export("t", (), (), 0, 0, 0).as_dict()["counts"] == {"identities": 0, "roles": 0, "targets": 0, "unexpressed": 0}


# --- edges the whole-text tests do not reach ----------------------------------------------------------------------


def _one(
    *extra: Principal, members: tuple[tuple[int, int], ...] = (), perms: tuple[PermissionRow, ...] = (), server: str = SERVER
) -> Export:
    snap = DatabaseSnapshot(server, "d", (*base(), *extra), members, perms, {1: "dbo"})
    return export_policy([snap])


def test_the_words_and_statements_for_principals_the_format_cannot_hold() -> None:
    export = _one(
        Principal("grp", 20, "X", b"\x01" * 4, "EXTERNAL"),
        Principal("keyed", 21, "K", b"\x02" * 16, "NONE"),
        Principal("wingroup", 22, "G", b"\x03" * 28, "WINDOWS"),
        Principal("odd", 23, "Z"),
        Principal("approle", 24, "A"),
        Principal("loose", 25, "S"),
    )
    assert [(u.what, u.tsql) for u in export.unexpressed] == [
        ("Entra group without a 16-byte SID grp", "CREATE USER [grp] FROM EXTERNAL PROVIDER;"),
        ("asymmetric-key-mapped user keyed", "-- a principal of type K (NONE)"),
        ("Windows group wingroup", "-- a principal of type G (WINDOWS)"),
        ("principal odd", "-- a principal of type Z (no authentication)"),
        ("application role approle", "CREATE APPLICATION ROLE [approle] WITH PASSWORD = <not readable>;"),
        ("SQL-authentication user loose", "CREATE USER [loose] WITHOUT LOGIN;"),
    ]


def test_roles_that_are_not_exported_stay_silent_as_members_and_grantees() -> None:
    export = _one(
        Principal("app_rw", 13, "R"),
        Principal("reader", 14, "R"),  # a preset's name: listed once as a role, then nothing more about it
        members=((13, 14),),
        perms=(PermissionRow("DATABASE", 0, 14, "SELECT", "GRANT"),),
    )
    assert [u.what for u in export.unexpressed] == ["role reader: its name is a preset's, which a policy cannot define"]


def test_grants_at_exactly_the_inline_limit_stay_inline() -> None:
    def grants_line(name_length: int) -> str:
        export = _one(Principal("a" * name_length, 20, "E", sid(APP), "EXTERNAL"), members=((16390, 20),))
        return export.text.split('databases = ["d"]\n', 1)[1].splitlines()[0]

    assert grants_line(67) == "grants = { " + "a" * 67 + ' = ["db_datareader"] }'  # 100 characters
    assert len(grants_line(67)) == 100
    assert grants_line(68) == "[targets.grants]"


def test_a_server_named_empty_is_the_default_server() -> None:
    assert "servers = " not in _one(server="").text
    assert 'servers = ["srv.database.windows.net"]' in _one().text  # no default server given: every target names its servers


def test_three_users_of_one_name_get_numbered_keys() -> None:
    sids = (APP, USER, CLASH)
    snaps = [
        DatabaseSnapshot(SERVER, f"d{i}", (*base(), Principal("svc", 20, "E", sid(s), "EXTERNAL")), ((16390, 20),), (), {1: "dbo"})
        for i, s in enumerate(sids)
    ]
    text = export_policy(snaps, default_server=SERVER).text
    assert "[identities.svc]\n" in text and "[identities.svc-2]\n" in text and "[identities.svc-3]\n" in text


def test_a_role_defined_otherwise_lists_every_grant_it_has_there() -> None:
    def snap(name: str, perms: tuple[PermissionRow, ...]) -> DatabaseSnapshot:
        return DatabaseSnapshot(SERVER, name, (*base(), Principal("app_rw", 13, "R")), (), perms, {1: "dbo", 5: "sales"})

    usual = (PermissionRow("DATABASE", 0, 13, "SELECT", "GRANT"),)
    other = (
        PermissionRow("DATABASE", 0, 13, "DELETE", "GRANT"),
        PermissionRow("DATABASE", 0, 13, "INSERT", "GRANT"),
        PermissionRow("SCHEMA", 5, 13, "UPDATE", "GRANT"),
    )
    export = export_policy([snap("a", usual), snap("b", usual), snap("c", other)], default_server=SERVER)
    (u,) = export.unexpressed
    assert u.tsql == "GRANT INSERT, DELETE TO [app_rw]; GRANT UPDATE ON SCHEMA::[sales] TO [app_rw];"


def test_surrogates_are_escaped_in_toml() -> None:
    assert toml_string("a\ud800b") == '"a\\ud800b"'


def test_export_databases_on_a_server_named_empty_writes_no_servers() -> None:
    ports = Ports({("", "a"): catalog()})
    assert "servers = " not in export_databases(ports, [("", "a")]).text
