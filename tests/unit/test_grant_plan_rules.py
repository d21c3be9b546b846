"""grant's planner without a database: what it reads (grant_state) and the plan it makes (grant_plan).

The database is an in-memory QuerySession answering the four catalog queries with rows as the driver
returns them; each test states one rule a user relies on (which user is "the identity", what is never
dropped, what --prune / --exclusive change, which drift blocks a plan).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest

from azsqlctl.core.errors import UsageError
from azsqlctl.core.grant.plan import (
    BUILTIN_CUSTOM,
    CI_ONLY,
    ELEVATED,
    PRESETS,
    Plan,
    RoleSpec,
    SchemaGrant,
    Step,
    expand_roles,
    plan_identity,
    plan_role,
    refuse_elevated,
)
from azsqlctl.core.grant.state import DbState, read_state
from azsqlctl.core.identity import IdentitySpec, sid_bytes, sid_hex
from azsqlctl.core.ports import Row

APP = "6e3f0a4e-1b2c-4d5e-8f90-123456789abc"  # an app's client id: its SID
OBJ = "0b2c3d4e-5f60-4a1b-8c9d-0e1f2a3b4c5d"  # the same app's object id
OTHER = "11111111-2222-4333-8444-555555555555"


class Catalog:
    """A database's catalog views in memory: answers ``SELECT col, ... FROM sys.view`` with those columns only.

    A query for another view, or for a column the view has not, fails: read_state must ask for what it reads.
    """

    def __init__(self, **views: list[Row]) -> None:
        self.views = {f"sys.{name}": rows for name, rows in views.items()}
        self.asked: list[str] = []

    def query(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        m = re.fullmatch(r"SELECT ((?:\w+, )*\w+) FROM (sys\.\w+)", sql)
        assert m is not None and m[2] in self.views, f"not a catalog query: {sql}"
        self.asked.append(m[2])
        columns = m[1].split(", ")
        return [{c: row[c] for c in columns} for row in self.views[m[2]]]

    def close(self) -> None:  # the port's other method; read_state never closes what it did not open
        raise AssertionError("read_state closed the session")


def principal(name: str, pid: int, kind: str = "E", guid: str | None = None) -> Row:
    return {"name": name, "principal_id": pid, "type": kind, "sid": sid_bytes(guid) if guid else None}


def state(
    principals: Sequence[Row] = (),
    members: Sequence[tuple[str, str]] = (),
    permissions: Sequence[tuple[str, str, str]] = (),
    schemas: Sequence[str] = ("dbo", "app"),
) -> DbState:
    return DbState(list(principals), set(members), set(permissions), list(schemas))


def app(name: str = "orders-api", **kw: object) -> IdentitySpec:
    return IdentitySpec(name, "app", client_id=str(kw.get("client_id", APP)), object_id=str(kw.get("object_id", "")))


def ops(plan: Plan) -> list[tuple[str, str]]:
    return [(s.op, s.sql) for s in plan.steps]


# --- grant_state: the catalog read ----------------------------------------------------------------


def test_read_state_names_members_and_grants_by_principal_name_in_lower_case() -> None:
    catalog = Catalog(
        database_principals=[principal("Orders-API", 5, "E", APP), principal("App_RW", 6, "R"), principal("db_datareader", 16390, "R")],
        database_role_members=[
            {"role_principal_id": 6, "member_principal_id": 5},
            {"role_principal_id": 16390, "member_principal_id": 5},
            {"role_principal_id": 16390, "member_principal_id": 99},  # a member the principals query did not return
            {"role_principal_id": 98, "member_principal_id": 5},  # a role it did not return
        ],
        schemas=[{"name": "dbo", "schema_id": 1}, {"name": "Sales", "schema_id": 7}],
        database_permissions=[
            {"class_desc": "SCHEMA", "major_id": 7, "grantee_principal_id": 6, "permission_name": "select", "state_desc": "GRANT"},
            {"class_desc": "DATABASE", "major_id": 0, "grantee_principal_id": 6, "permission_name": "EXECUTE", "state_desc": "GRANT"},
            {"class_desc": "DATABASE", "major_id": 0, "grantee_principal_id": 6, "permission_name": "DELETE", "state_desc": "DENY"},
            {
                "class_desc": "OBJECT_OR_COLUMN",
                "major_id": 7,
                "grantee_principal_id": 6,
                "permission_name": "UPDATE",
                "state_desc": "GRANT",
            },
            {"class_desc": "DATABASE", "major_id": 0, "grantee_principal_id": 77, "permission_name": "INSERT", "state_desc": "GRANT"},
            {"class_desc": "SCHEMA", "major_id": 42, "grantee_principal_id": 6, "permission_name": "ALTER", "state_desc": "GRANT"},
        ],
    )
    db = read_state(catalog)
    assert sorted(catalog.asked) == ["sys.database_permissions", "sys.database_principals", "sys.database_role_members", "sys.schemas"]
    assert db.members == {("app_rw", "orders-api"), ("db_datareader", "orders-api")}
    # Denied, object-level and unknown grantees' rows are not a role's grants; a schema id not found reads as "".
    assert db.permissions == {("app_rw", "SELECT", "sales"), ("app_rw", "EXECUTE", ""), ("app_rw", "ALTER", "")}
    assert db.schemas == ["dbo", "Sales"]
    assert [p["name"] for p in db.principals] == ["Orders-API", "App_RW", "db_datareader"]
    assert db.roles_of("ORDERS-API") == {"app_rw", "db_datareader"}
    assert db.roles_of("nobody") == frozenset()


def test_principals_are_found_by_name_case_insensitively_and_by_sid() -> None:
    first, second = principal("Orders-API", 5, "E", APP), principal("orders-api", 9, "E", OTHER)
    db = state(
        [
            first,
            second,
            principal("public", 0, "R"),
            {"name": "legacy", "principal_id": 11, "type": "S", "sid": bytearray(sid_bytes(OTHER))},
        ]
    )
    assert db.principal("ORDERS-API") is first  # the first of two names, as a scan in order finds it
    assert db.principal("missing") is None
    assert db.by_sid(APP) is first
    assert db.by_sid(OTHER) is second  # a bytearray SID is the same SID, and again the first one wins
    assert db.by_sid("") is None
    assert db.by_sid(OBJ) is None
    # The indexes are derived: a state shows (and compares by) what was read, once.
    assert "_by_" not in repr(db) and "_roles_of" not in repr(db)
    assert db == state(list(db.principals))


# --- presets and the elevated rule ----------------------------------------------------------------


def test_presets_expand_in_order_without_duplicates() -> None:
    assert PRESETS["reader"] == ("db_datareader",)
    assert PRESETS["writer"] == ("db_datareader", "db_datawriter")
    assert PRESETS["executor"] == ("app_executor",)
    assert PRESETS["migrator"] == ("db_ddladmin", "db_datareader", "db_datawriter")
    assert expand_roles(["Writer", "reader", "DB_DATAREADER", "app_rw"]) == ["db_datareader", "db_datawriter", "app_rw"]
    assert expand_roles(["migrator"]) == ["db_ddladmin", "db_datareader", "db_datawriter"]
    assert expand_roles([]) == []


def test_elevated_roles_are_refused_unless_allowed() -> None:
    assert ELEVATED == ("db_accessadmin", "db_owner", "db_securityadmin", "CONTROL")
    assert CI_ONLY == ("migrator", "db_ddladmin")
    refuse_elevated(["db_datareader", "app_rw"], allow=False)
    refuse_elevated(["db_owner", "control"], allow=True)
    with pytest.raises(UsageError) as one:
        refuse_elevated(["db_datareader", "DB_OWNER", "DB_OWNER"], allow=False)
    assert one.value.message == "refusing elevated role DB_OWNER"
    assert one.value.code == "elevated_role" and "--allow-elevated" in one.value.hint
    with pytest.raises(UsageError) as two:
        refuse_elevated(["control", "db_securityadmin"], allow=False)
    assert two.value.message == "refusing elevated roles control, db_securityadmin"


# --- plan_role: a custom role and its grants ---------------------------------------------------------


RW = RoleSpec("app_rw", (SchemaGrant(("SELECT", "insert"), "App"), SchemaGrant(("EXECUTE",))))


def test_a_new_role_is_created_and_granted_what_it_lists() -> None:
    plan = Plan("srv", "appdb")
    plan_role(state(), RW, plan, prune=False)
    assert ops(plan) == [
        ("create_role", "CREATE ROLE [app_rw]"),
        ("grant", "GRANT SELECT, INSERT ON SCHEMA::[App] TO [app_rw]"),
        ("grant", "GRANT EXECUTE TO [app_rw]"),
    ]
    assert [s.summary for s in plan.steps] == [
        "create role app_rw",
        "grant SELECT, INSERT on schema App to app_rw",
        "grant EXECUTE on the database to app_rw",
    ]
    assert {s.sign for s in plan.steps} == {"+"}
    assert plan.unchanged == [] and plan.drift == [] and not plan.blocked


def test_an_existing_role_with_its_grants_is_unchanged_and_connect_is_not_drift() -> None:
    db = state(
        [principal("APP_RW", 6, "R")],
        permissions=[("app_rw", "SELECT", "app"), ("app_rw", "INSERT", "app"), ("app_rw", "EXECUTE", ""), ("app_rw", "CONNECT", "")],
    )
    plan = Plan("srv", "appdb")
    plan_role(db, RW, plan, prune=True)
    assert plan.steps == [] and plan.drift == []
    assert plan.unchanged == ["role app_rw and its grants"]
    assert plan.empty


def test_only_the_missing_grants_are_added() -> None:
    db = state([principal("app_rw", 6, "R")], permissions=[("app_rw", "SELECT", "app")])
    plan = Plan("srv", "appdb")
    plan_role(db, RW, plan, prune=False)
    assert ops(plan) == [("grant", "GRANT INSERT ON SCHEMA::[App] TO [app_rw]"), ("grant", "GRANT EXECUTE TO [app_rw]")]
    assert plan.unchanged == []  # something was missing: not "unchanged"


def test_extra_grants_are_drift_or_revoked_with_prune() -> None:
    extra = [
        ("app_rw", "SELECT", "app"),
        ("app_rw", "INSERT", "app"),
        ("app_rw", "EXECUTE", ""),
        ("app_rw", "DELETE", "app"),
        ("app_rw", "UPDATE", ""),
    ]
    db = state([principal("app_rw", 6, "R")], permissions=extra)
    kept = Plan("srv", "appdb")
    plan_role(db, RW, kept, prune=False)
    assert kept.steps == []
    assert kept.drift == [
        "role app_rw has DELETE on schema app, which is not granted here (--prune removes it)",
        "role app_rw has UPDATE on the database, which is not granted here (--prune removes it)",
    ]
    assert not kept.blocked and not kept.empty
    pruned = Plan("srv", "appdb")
    plan_role(db, RW, pruned, prune=True)
    assert ops(pruned) == [("revoke", "REVOKE DELETE ON SCHEMA::[app] FROM [app_rw]"), ("revoke", "REVOKE UPDATE FROM [app_rw]")]
    assert [s.sign for s in pruned.steps] == ["-", "-"]
    assert pruned.steps[1].summary == "revoke UPDATE on the database from app_rw"
    assert pruned.drift == []


def test_a_grant_on_a_missing_schema_blocks_the_plan() -> None:
    spec = RoleSpec("r", (SchemaGrant(("SELECT",), "sales"), SchemaGrant(("SELECT",), "Billing"), SchemaGrant(("SELECT",), "APP")))
    plan = Plan("srv", "appdb")
    plan_role(state(schemas=["dbo", "app"]), spec, plan, prune=False)
    assert plan.blocked == "schema Billing, sales does not exist in appdb: create it (a migration) before granting on it"
    assert plan.drift == [plan.blocked] and plan.steps == []


def test_a_name_held_by_something_that_is_not_a_role_blocks() -> None:
    plan = Plan("srv", "appdb")
    plan_role(state([principal("app_rw", 5, "E", APP)]), RW, plan, prune=False)
    assert plan.blocked == "[app_rw] exists and is not a role"
    assert plan.steps == []


# --- plan_identity: the user and its memberships -------------------------------------------------------


def test_a_new_identity_gets_a_user_and_its_roles() -> None:
    plan = Plan("srv", "appdb")
    plan_identity(state(), app(), ["db_datareader", "app_rw"], plan)
    assert plan.identity == "orders-api"
    assert ops(plan) == [
        ("create_user", "CREATE USER [orders-api] FROM EXTERNAL PROVIDER"),
        ("add_member", "ALTER ROLE [db_datareader] ADD MEMBER [orders-api]"),
        ("add_member", "ALTER ROLE [app_rw] ADD MEMBER [orders-api]"),
    ]
    assert plan.steps[0].summary == f"create user orders-api (app, SID {sid_hex(APP)})"
    assert plan.steps[1].summary == "add orders-api to db_datareader"
    assert plan.unchanged == [] and plan.drift == []


def test_an_app_named_by_object_id_only_says_the_server_stores_its_client_id() -> None:
    plan = Plan("srv", "appdb")
    plan_identity(state(), IdentitySpec("web", "app", object_id=OBJ), [], plan)
    assert plan.steps[0].summary == f"create user web (app, object id {OBJ}; the server stores its client id as SID)"
    assert plan.steps[0].sql == f"CREATE USER [web] FROM EXTERNAL PROVIDER WITH OBJECT_ID = N'{OBJ}'"


def test_the_sid_decides_which_user_is_the_identity_and_memberships_are_kept() -> None:
    db = state([principal("Orders_Old", 5, "E", APP)], members=[("db_datareader", "orders_old"), ("app_rw", "orders_old")])
    plan = Plan("srv", "appdb")
    plan_identity(db, app(), ["db_datareader", "db_datawriter"], plan)
    assert ops(plan) == [("add_member", "ALTER ROLE [db_datawriter] ADD MEMBER [Orders_Old]")]
    assert plan.unchanged == [
        f"user Orders_Old (SID {sid_hex(APP)}): orders-api's SID under another name (the SID decides)",
        "Orders_Old is a member of db_datareader",
        "Orders_Old is also a member of app_rw (not managed here)",
    ]
    same_name = Plan("srv", "appdb")
    plan_identity(state([principal("ORDERS-API", 5, "E", APP)]), app(), [], same_name)
    assert same_name.unchanged == [f"user ORDERS-API (SID {sid_hex(APP)})"]
    assert same_name.steps == []


def test_exclusive_reports_other_memberships_and_prune_removes_them() -> None:
    db = state(
        [principal("orders-api", 5, "E", APP)],
        members=[("db_datareader", "orders-api"), ("db_ddladmin", "orders-api"), ("app_rw", "orders-api")],
    )
    drift = Plan("srv", "appdb")
    plan_identity(db, app(), ["DB_DATAREADER"], drift, exclusive=True)
    assert drift.steps == []
    assert drift.drift == [
        "orders-api is also a member of app_rw, which is not granted here (--prune removes it)",
        "orders-api is also a member of db_ddladmin, which is not granted here (--prune removes it)",
    ]
    pruned = Plan("srv", "appdb")
    plan_identity(db, app(), ["db_datareader"], pruned, exclusive=True, prune=True)
    assert ops(pruned) == [
        ("drop_member", "ALTER ROLE [app_rw] DROP MEMBER [orders-api]"),
        ("drop_member", "ALTER ROLE [db_ddladmin] DROP MEMBER [orders-api]"),
    ]
    assert pruned.steps[0].summary == "remove orders-api from app_rw" and pruned.steps[0].sign == "-"
    assert pruned.drift == []
    prune_alone = Plan("srv", "appdb")  # --prune without --exclusive never touches memberships it was not asked about
    plan_identity(db, app(), ["db_datareader"], prune_alone, prune=True)
    assert prune_alone.steps == [] and len(prune_alone.unchanged) == 4


def test_revoke_removes_only_held_roles_and_drops_a_user_only_when_asked_and_found_by_sid() -> None:
    db = state([principal("orders-api", 5, "E", APP)], members=[("db_datareader", "orders-api")])
    plan = Plan("srv", "appdb")
    plan_identity(db, app(), ["db_datareader", "db_datawriter"], plan, revoke=True)
    assert ops(plan) == [("drop_member", "ALTER ROLE [db_datareader] DROP MEMBER [orders-api]")]
    dropped = Plan("srv", "appdb")
    plan_identity(db, app(), ["db_datareader"], dropped, revoke=True, drop_user=True)
    assert ops(dropped)[-1] == ("drop_user", "DROP USER [orders-api]")
    assert dropped.steps[-1].summary == "drop user orders-api" and dropped.steps[-1].sign == "-"
    absent = Plan("srv", "appdb")
    plan_identity(state(), app(), ["db_datareader"], absent, revoke=True, drop_user=True)
    assert absent.steps == [] and absent.empty
    # An app known by object id only is matched by name (its SID cannot be compared): the plan says so beside the drop.
    by_name = Plan("srv", "appdb")
    plan_identity(
        state([principal("web", 5, "E", OTHER)]), IdentitySpec("web", "app", object_id=OBJ), [], by_name, revoke=True, drop_user=True
    )
    assert ops(by_name) == [("drop_user", "DROP USER [web]")]
    assert "cannot be compared" in by_name.unchanged[0]


@pytest.mark.parametrize(("kind", "what"), [("R", "a database role"), ("S", "a built-in principal")])
def test_a_name_that_is_a_role_or_builtin_principal_is_refused(kind: str, what: str) -> None:
    db = state([{"name": "Reporting", "principal_id": 7, "type": kind, "sid": None}])
    with pytest.raises(UsageError) as refused:
        plan_identity(db, app("reporting"), ["db_datareader"], Plan("srv", "appdb"))
    assert refused.value.message == f"[Reporting] is {what} in appdb, not a user for an Entra identity"
    assert refused.value.code == "not_an_identity"


def test_a_role_with_a_sid_is_still_a_role() -> None:
    db = state([principal("reporting", 7, "R", OTHER)])
    with pytest.raises(UsageError, match="is a database role"):
        plan_identity(db, app("reporting"), [], Plan("srv", "appdb"))


def test_two_users_for_one_identity_block() -> None:
    db = state([principal("orders-api", 5, "E", OTHER), principal("orders_v1", 6, "E", APP)])
    plan = Plan("srv", "appdb")
    plan_identity(db, app(), ["db_datareader"], plan)
    assert plan.steps == []
    assert plan.blocked.startswith(f"orders-api's SID {sid_hex(APP)} (client id {APP}) belongs to user [orders_v1], and [orders-api]")
    assert plan.blocked.endswith("name the identity [orders_v1] or rename one of them")
    assert plan.drift == [plan.blocked] and plan.correction == {}


def test_swapped_ids_block_with_the_corrected_request() -> None:
    # The user was created with what the request calls the object id: the ids are swapped, or the user can never log in.
    db = state([principal("orders-api", 5, "E", OBJ)])
    plan = Plan("srv", "appdb")
    plan_identity(db, app(client_id=APP, object_id=OBJ), ["db_datareader"], plan)
    assert plan.steps == []
    assert plan.blocked.startswith(f"user [orders-api] exists with SID {sid_hex(OBJ)}, which is the object id {OBJ} given for orders-api")
    assert plan.blocked.endswith(f"the corrected request is: type app, client id {OBJ}, object id {APP}")
    assert plan.correction == {"type": "app", "client_id": OBJ, "object_id": APP}
    assert plan.drift == [plan.blocked]


def test_an_app_known_by_object_id_only_is_matched_by_name_and_its_sid_left_unverified() -> None:
    db = state([principal("web", 5, "E", OTHER)], members=[("db_datareader", "web")])
    plan = Plan("srv", "appdb")
    plan_identity(db, IdentitySpec("web", "app", object_id=OBJ), ["db_datareader"], plan)
    assert plan.steps == [] and not plan.blocked
    assert plan.unchanged[0] == (
        f"user web exists with SID {sid_hex(OTHER)}; only web's object id was given, so that SID "
        "(its client id) cannot be compared: pass the client id too to verify it"
    )
    assert plan.unchanged[1:] == ["web is a member of db_datareader"]


def test_a_stale_sid_blocks_and_suggests_the_existing_sid_as_a_client_id() -> None:
    db = state([principal("orders-api", 5, "E", OTHER)])
    plan = Plan("srv", "appdb")
    plan_identity(db, app(), ["db_datareader"], plan)
    assert plan.steps == []
    assert plan.blocked.startswith(
        f"user [orders-api] exists with SID {sid_hex(OTHER)} but orders-api's SID is {sid_hex(APP)} (client id {APP}): a stale SID"
    )
    assert f"the corrected request is: type app, client id {OTHER}." in plan.blocked
    assert plan.blocked.endswith("Nothing was changed; grant never drops a user.")
    assert plan.correction == {"type": "app", "client_id": OTHER}


def test_a_user_whose_sid_is_not_a_guid_blocks_without_a_suggestion() -> None:
    db = state([{"name": "alice", "principal_id": 5, "type": "E", "sid": b"\x01\x05"}])
    plan = Plan("srv", "appdb")
    plan_identity(db, IdentitySpec("alice", "user", object_id=OBJ), [], plan)
    assert plan.blocked == (
        f"user [alice] exists with SID none but alice's SID is {sid_hex(OBJ)} (object id {OBJ}): a stale SID, or another "
        "principal with this name. Nothing was changed; grant never drops a user."
    )
    assert plan.correction == {}


def test_the_plan_is_data() -> None:
    plan = Plan("srv", "appdb", "api", [Step("grant", "+", "grant X", "GRANT X")], ["u"], ["d"], "b", {"type": "app"})
    assert plan.as_dict() == {
        "server": "srv", "database": "appdb", "identity": "api",
        "steps": [{"op": "grant", "sign": "+", "summary": "grant X", "sql": "GRANT X"}],
        "unchanged": ["u"], "drift": ["d"], "blocked": "b", "correction": {"type": "app"},
    }  # fmt: skip
    assert not plan.empty
    assert Plan("s", "d").empty
    assert not Plan("s", "d", drift=["x"]).empty
    assert not Plan("s", "d", blocked="x").empty
    assert not Plan("s", "d", steps=[Step("a", "+", "", "")]).empty
    assert Plan("s", "d", unchanged=["x"]).empty


def test_a_user_created_with_the_object_id_as_sid_is_flagged_even_without_a_client_id() -> None:
    db = state([principal("web", 5, "E", OBJ)])
    plan = Plan("srv", "appdb")
    plan_identity(db, IdentitySpec("web", "app", object_id=OBJ), [], plan)
    assert plan.blocked.endswith(f"the corrected request is: type app, client id {OBJ}")  # no client id was given to swap in
    assert plan.correction == {"type": "app", "client_id": OBJ}


def test_signs_and_hints() -> None:
    db = state([principal("orders-api", 5, "E", APP)], members=[("db_datareader", "orders-api")])
    revoked = Plan("srv", "appdb")
    plan_identity(db, app(), ["db_datareader"], revoked, revoke=True)
    granted = Plan("srv", "appdb")
    plan_identity(state(), app(), ["db_datareader"], granted)
    assert [s.sign for s in revoked.steps] == ["-"] and [s.sign for s in granted.steps] == ["+", "+"]
    assert Plan("srv", "appdb").identity == ""
    with pytest.raises(UsageError) as elevated:
        refuse_elevated(["db_owner"], allow=False)
    assert elevated.value.hint == "least privilege: use reader, writer or executor; pass --allow-elevated if you really mean it"
    with pytest.raises(UsageError) as role:
        plan_identity(state([principal("reporting", 7, "R")]), app("reporting"), [], Plan("srv", "appdb"))
    assert role.value.hint == (
        "grant names an identity as Azure shows it (az identity show -n NAME -g GROUP --query name); "
        "it never changes roles or built-in principals"
    )


def test_app_executor_is_a_built_in_custom_role_granted_execute_on_the_database() -> None:
    assert {"app_executor": RoleSpec("app_executor", (SchemaGrant(("EXECUTE",)),))} == BUILTIN_CUSTOM
    plan = Plan("srv", "appdb")
    plan_role(state(), BUILTIN_CUSTOM["app_executor"], plan, prune=False)
    assert ops(plan) == [("create_role", "CREATE ROLE [app_executor]"), ("grant", "GRANT EXECUTE TO [app_executor]")]
