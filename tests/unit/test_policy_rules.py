"""policy.py's rules one by one: every error, its line, and what a valid policy turns into (no database)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from azsqlctl.core.errors import ConfigError
from azsqlctl.core.grant.policy import PERMISSIONS, Lines, did_you_mean, load_policy, parse_policy, resolve_resources
from azsqlctl.core.identity import MAX_NAME, IdentitySpec

APP = "6e3f0a4e-1b2c-4d5e-8f90-123456789abc"
OBJ = "0b2c3d4e-5f60-4a1b-8c9d-0e1f2a3b4c5d"
TARGET = '[[targets]]\ndatabases = ["appdb"]\ngrants = { api = ["reader"] }\n'
IDENT = f'[identities.api]\nclient_id = "{APP}"\n'


def errors(text: str, allow_elevated: bool = False) -> list[tuple[int, str]]:
    return parse_policy(tomllib.loads(text), Lines(text), allow_elevated)[1]


def messages(text: str, allow_elevated: bool = False) -> list[str]:
    return [m for _, m in errors(text, allow_elevated)]


def test_a_valid_policy_has_no_errors_and_keeps_everything() -> None:
    text = (
        "version = 1\n"
        '[roles.app_rw]\ngrants = [{ permissions = ["select", "INSERT"], schema = "sales" }]\n'
        + IDENT
        + f'[identities.ops]\ntype = "group"\nobject_id = "{OBJ}"\nname = "Ops Team"\n'
        + '[[targets]]\nservers = ["srv1"]\ndatabases = ["appdb", "db*"]\ngrants = { api = ["reader", "app_rw"], ops = ["writer"] }\n'
    )
    policy, errs = parse_policy(tomllib.loads(text), Lines(text), False)
    assert errs == []
    assert policy.roles["app_rw"].grants[0].permissions == ("SELECT", "INSERT")
    assert policy.roles["app_rw"].grants[0].schema == "sales"
    assert policy.identities["api"] == IdentitySpec("api", "app", client_id=APP)
    assert policy.identities["ops"].name == "Ops Team" and policy.identities["ops"].kind == "group"
    assert (policy.identity_line("api"), policy.identity_line("ops"), policy.identity_line("nope")) == (4, 6, 0)
    (target,) = policy.targets
    assert (target.servers, target.databases, target.line) == (["srv1"], ["appdb", "db*"], 10)
    assert target.grants == {"api": ["reader", "app_rw"], "ops": ["writer"]}


@pytest.mark.parametrize("perm", ["SELEC", "GRANT", "ALTER", "CONTROL", "select;drop"])
def test_unknown_permissions_are_refused(perm: str) -> None:
    text = f'[roles.r1]\ngrants = [{{ permissions = ["SELECT", "{perm}"] }}]\n' + IDENT + TARGET
    assert errors(text) == [(2, f"role r1: unknown or missing permissions ['{perm.upper()}'] (allowed: {', '.join(PERMISSIONS)})")]


@pytest.mark.parametrize("perm", PERMISSIONS)
def test_every_known_permission_is_accepted(perm: str) -> None:
    assert errors(f'[roles.r1]\ngrants = [{{ permissions = ["{perm.lower()}"] }}]\n' + IDENT + TARGET) == []


def test_a_grant_without_permissions_is_refused() -> None:
    assert messages('[roles.r1]\ngrants = [{ schema = "s" }]\n' + IDENT + TARGET) == [
        f"role r1: unknown or missing permissions [] (allowed: {', '.join(PERMISSIONS)})"
    ]


def test_role_name_length_limit_at_its_boundary() -> None:
    ok, long = "r" * MAX_NAME, "r" * (MAX_NAME + 1)
    assert errors(f'[roles.{ok}]\ngrants = [{{ permissions = ["SELECT"] }}]\n' + IDENT + TARGET) == []
    assert errors(f'[roles.{long}]\ngrants = [{{ permissions = ["SELECT"] }}]\n' + IDENT + TARGET) == [
        (1, f"role {long}: the name is reserved or too long")
    ]


@pytest.mark.parametrize("name", ["reader", "Writer", "db_datareader", "db_owner"])
def test_reserved_role_names_are_refused(name: str) -> None:
    assert messages(f'[roles.{name}]\ngrants = [{{ permissions = ["SELECT"] }}]\n' + IDENT + TARGET) == [
        f"role {name}: the name is reserved or too long"
    ]


def test_identity_name_length_limit_at_its_boundary() -> None:
    ok, long = "n" * MAX_NAME, "n" * (MAX_NAME + 1)
    base = f'[identities.api]\nclient_id = "{APP}"\nname = "%s"\n' + TARGET
    assert errors(base % ok) == []
    assert errors(base % long) == [(3, f"identity api: the name is {MAX_NAME + 1} characters; a database user name has at most {MAX_NAME}")]


def test_unknown_keys_everywhere_with_their_lines() -> None:
    text = (
        "verison = 1\n"
        '[roles.r1]\ngrant = []\ngrants = [{ permissions = ["SELECT"], schemas = "x" }]\n'
        f'[identities.api]\nclient_id = "{APP}"\nclientid = "x"\n'
        '[[targets]]\ndatabases = ["appdb"]\ngrants = { api = ["reader"] }\nserver = ["s"]\n'
    )
    assert errors(text) == [
        (1, "unknown key verison (did you mean version?)"),
        (3, "role r1: unknown key grant (did you mean grants?)"),
        (4, "role r1 grants: unknown key schemas (did you mean schema?)"),
        (7, "identity api: unknown key clientid (did you mean client_id?)"),
        (11, "target 1: unknown key server (did you mean servers?)"),
    ]


def test_unknown_key_without_a_close_match_lists_the_known_ones() -> None:
    assert messages("zzz = 1\n" + IDENT + TARGET) == ["unknown key zzz (known keys: version, roles, identities, targets)"]


def test_version_and_shapes() -> None:
    assert errors("version = 2\n" + IDENT + TARGET) == [(1, "unsupported version 2 (this azsqlctl reads version 1)")]
    assert errors("version = 1\n" + IDENT + TARGET) == []
    assert messages('roles = 1\nidentities = "x"\ntargets = {}\n') == [
        "roles must be a table",
        "identities must be a table",
        "targets must be an array of tables",
        "no [[targets]]: nothing to apply",
    ]
    assert messages("[identities]\napi = 1\n" + TARGET) == ["identity api: expected a table", "target 1: unknown identity api"]


def test_targets_rules() -> None:
    assert messages(IDENT + '[[targets]]\ngrants = { api = ["reader"] }\n') == ["target 1: no databases"]
    long = "d" * 129
    assert messages(IDENT + f'[[targets]]\ndatabases = ["{"d" * 128}", "", "{long}"]\ngrants = {{ api = ["reader"] }}\n') == [
        "target 1: database name '' is empty or over 128 characters",
        f"target 1: database name {long[:40]!r} is empty or over 128 characters",
    ]
    assert errors(IDENT + '[[targets]]\ndatabases = ["a"]\ngrants = { who = ["reader"] }\n') == [(5, "target 1: unknown identity who")]
    assert messages(IDENT + '[[targets]]\ndatabases = ["a"]\ngrants = { api = ["raeder"] }\n') == [
        "target 1: unknown role raeder for api (did you mean reader?) (presets: reader, writer, executor, migrator; or define [roles.raeder])"
    ]
    assert messages(IDENT + TARGET + TARGET.replace("reader", "nope")) == [
        "target 2: unknown role nope for api (presets: reader, writer, executor, migrator; or define [roles.nope])"
    ]


def test_role_names_are_matched_case_insensitively_and_custom_roles_count() -> None:
    assert errors(IDENT + TARGET.replace('"reader"', '"READER", "db_datawriter", "app_executor"')) == []
    text = '[roles.app_rw]\ngrants = [{ permissions = ["SELECT"] }]\n' + IDENT + TARGET.replace('"reader"', '"app_rw"')
    assert errors(text) == []


@pytest.mark.parametrize("role", ["db_owner", "db_securityadmin", "db_accessadmin"])
def test_elevated_roles_need_allow_elevated(role: str) -> None:
    text = IDENT + TARGET.replace('"reader"', f'"{role}"')
    assert errors(text) == [(5, f"target 1: elevated role {role} for api needs --allow-elevated")]
    assert errors(text, allow_elevated=True) == []


def test_identity_problems_point_at_their_key() -> None:
    text = f'[identities.api]\ntype = "app"\nname = "db_owner"\nclient_id = "nope"\nobject_id = "{OBJ}x"\n' + TARGET
    assert errors(text) == [
        (3, "identity api: 'db_owner' is a database role, not an identity: name the identity that should be its member"),
        (4, "identity api: client id 'nope' is not a GUID"),
        (5, f"identity api: object id '{OBJ}x' is not a GUID"),
    ]
    assert errors('[identities.api]\ntype = "robot"\nname = "x"\n' + TARGET) == [
        (2, "identity api: type must be app, user or group, not 'robot'")
    ]


def test_an_identity_may_not_take_a_custom_role_name() -> None:
    text = (
        '[roles.app_rw]\ngrants = [{ permissions = ["SELECT"] }]\n' + f'[identities.api]\nclient_id = "{APP}"\nname = "APP_RW"\n' + TARGET
    )
    assert messages(text) == ["identity api: 'APP_RW' is a database role, not an identity: name the identity that should be its member"]


def test_client_id_implies_an_app_and_object_id_alone_says_nothing() -> None:
    policy, _ = parse_policy(tomllib.loads(IDENT + TARGET), Lines(IDENT + TARGET), False)
    assert policy.identities["api"].kind == "app"
    text = f'[identities.api]\nobject_id = "{OBJ}"\n' + TARGET
    assert [line for line, _ in errors(text)] == [1]  # no type key: the table's header


def test_duplicate_identities_by_sid_or_object_id() -> None:
    text = IDENT + f'[identities.api2]\nclient_id = "{APP.upper()}"\n' + TARGET
    assert errors(text) == [(3, f"identity api2: duplicate of identity api (same SID {APP.upper()})")]
    text = f'[identities.u1]\ntype = "user"\nobject_id = "{OBJ}"\n[identities.u2]\ntype = "group"\nobject_id = "{OBJ}"\n' + TARGET.replace(
        "api", "u1"
    )
    assert errors(text) == [(4, f"identity u2: duplicate of identity u1 (same SID {OBJ})")]


def test_resource_identities() -> None:
    rid = "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/api"
    ok = f'[identities.api]\nresource = "{rid}"\n' + TARGET
    policy, errs = parse_policy(tomllib.loads(ok), Lines(ok), False)
    assert errs == [] and policy.identities["api"].source == rid and policy.identities["api"].kind == "app"
    bad = f'[identities.api]\nresource = "/resourceGroups/g"\nclient_id = "{APP}"\nname = "dbo"\n' + TARGET
    assert errors(bad) == [
        (4, "identity api: 'dbo' is a principal every database has, not an identity"),
        (2, "identity api: resource names a managed identity: it replaces type, client_id and object_id"),
        (2, "identity api: resource '/resourceGroups/g' is not an ARM resource id (az identity show -n NAME -g GROUP --query id)"),
    ]
    no_providers = '[identities.api]\nresource = "/subscriptions/s/x"\n' + TARGET
    assert len(errors(no_providers)) == 1
    typed = f'[identities.api]\nresource = "{rid}"\ntype = "user"\n' + TARGET
    assert len(errors(typed)) == 1


def test_resolve_resources_fills_in_and_lists_failures() -> None:
    from azsqlctl.core.errors import NotFound

    rid = "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/"
    text = (
        f'[identities.a]\nresource = "{rid}a"\nsid_mode = true\n[identities.b]\nresource = "{rid}b"\n' + IDENT + TARGET.replace("api", "a")
    )
    policy, errs = parse_policy(tomllib.loads(text), Lines(text), False)
    assert errs == []
    policy.path = "p.toml"
    asked: list[str] = []

    def resolve(resource: str) -> IdentitySpec:
        asked.append(resource)
        if resource.endswith("b"):
            raise NotFound("no such identity", "check it")
        return IdentitySpec("ignored", "app", client_id=APP, object_id=OBJ, source=resource)

    with pytest.raises(ConfigError) as caught:
        resolve_resources(policy, resolve)
    assert asked == [f"{rid}a", f"{rid}b"]  # api has a client id: never asked
    assert caught.value.message == "p.toml has 1 error: line 4: identity b: no such identity"
    assert policy.identities["a"] == IdentitySpec("a", "app", client_id=APP, object_id=OBJ, sid_mode=True, source=f"{rid}a")


def test_load_policy_reports_every_error_with_lines(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text("zzz = 1\n" + IDENT + TARGET.replace("reader", "nope"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_policy(path, False)
    err = caught.value
    assert err.message.startswith("policy.toml has 2 errors: line 1: unknown key zzz")
    assert "; line 6: target 1: unknown role nope" in err.message
    assert err.code == "policy_invalid"
    assert err.details["errors"] == [
        {"line": 1, "message": "unknown key zzz (known keys: version, roles, identities, targets)"},
        {
            "line": 6,
            "message": "target 1: unknown role nope for api (presets: reader, writer, executor, migrator; or define [roles.nope])",
        },
    ]
    path.write_text(IDENT + TARGET, encoding="utf-8")
    assert load_policy(path, False).path == "policy.toml"
    path.write_text("x = [", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^policy\.toml: "):
        load_policy(path, False)
    with pytest.raises(ConfigError, match="cannot read policy"):
        load_policy(tmp_path / "missing.toml", False)


def test_did_you_mean() -> None:
    assert did_you_mean("READR", ("reader", "writer")) == " (did you mean reader?)"
    assert did_you_mean("zzzz", ("reader", "writer")) == ""


def test_lines_finds_headers_and_keys_inside_their_table() -> None:
    text = 'a = 1\n[t.x]\nk = 1\n  [t.y]  # c\nk = 2\ninline = { k = 3 }\n[[arr]]\n[[arr]]\n"q" = 1\n'
    lines = Lines(text)
    assert lines.header("t", "x") == 2 and lines.header("t", "y") == 4
    assert lines.header("arr", nth=0) == 7 and lines.header("arr", nth=1) == 8 and lines.header("arr", nth=2) == 0
    assert lines.header("nope") == 0
    assert lines.key(2, "k") == 3 and lines.key(4, "k") == 5 and lines.key(0, "a") == 1
    assert lines.key(4, "missing") == 4 and lines.key(8, "q") == 9
    assert lines.key(0, "k") == 0  # the top level ends at the first header
    assert len(lines.lines) == 9 and lines.lines[0] == "a = 1"


def test_lines_direct_search_and_index_agree() -> None:
    """A valid policy's few headers are found by a regex search, without the index: the same lines either way."""
    text = (
        "version = 1\r\n# a comment with \u2028 a separator\r\n[roles.app_rw]\r\ngrants = []\r\n"
        '  [ "roles" . "ops" ]  # indented, quoted\n[identities.api]\nclient_id = "x"\n'
        "[[targets]]\ndatabases = []\n[[ targets ]]\n[[targets]] # third\n[roles.app_rw.extra]\n"
    )
    wanted = [(("roles", "app_rw"), 0), (("roles", "ops"), 0), (("identities", "api"), 0), (("targets",), 0),
              (("targets",), 1), (("targets",), 2), (("targets",), 3), (("roles", "nope"), 0)]  # fmt: skip
    direct = Lines(text)
    found_direct = [direct.header(*parts, nth=nth) for parts, nth in wanted]
    assert direct._headers is None  # answered without indexing
    indexed = Lines(text)
    indexed.key(0, "version")  # a key lookup indexes every header
    assert [indexed.header(*parts, nth=nth) for parts, nth in wanted] == found_direct
    assert found_direct == [4, 6, 7, 9, 11, 12, 0, 0]  # U+2028 in the comment ends a line, as splitlines counts them


def test_lines_fall_back_to_the_index_after_a_few_searches() -> None:
    text = "".join(f"[roles.r{i}]\ngrants = []\n" for i in range(Lines.DIRECT_SEARCHES + 5))
    lines = Lines(text)
    assert [lines.header("roles", f"r{i}") for i in range(Lines.DIRECT_SEARCHES + 5)] == list(range(1, 2 * (Lines.DIRECT_SEARCHES + 5), 2))
    assert lines._headers is not None  # the searches stopped: one pass indexes the rest
    assert lines.scanned <= (Lines.DIRECT_SEARCHES + 1) * len(lines.lines)
