"""A policy target's ``select`` table (servers found through Resource Graph), and the lists a policy may name."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from azsqlctl.core.errors import ConfigError
from azsqlctl.core.grant.policy import (
    PERMISSIONS,
    SELECT_KEYS,
    TARGET_KEYS,
    FleetSelector,
    Lines,
    Policy,
    Target,
    load_policy,
    parse_policy,
)

APP = "6e3f0a4e-1b2c-4d5e-8f90-123456789abc"
SUB = "11111111-2222-4333-8444-555555555555"
IDENT = f'[identities.api]\nclient_id = "{APP}"\n'


def parse(select: str, extra: str = "") -> tuple[list[tuple[int, str]], FleetSelector | None, list[str]]:
    text = IDENT + f'[[targets]]\n{extra}grants = {{ api = ["reader"] }}\nselect = {select}\n'
    policy, errors = parse_policy(tomllib.loads(text), Lines(text), False)
    (target,) = policy.targets
    return errors, target.select, target.databases


def test_the_lists_a_policy_may_name() -> None:
    assert PERMISSIONS == ("SELECT", "INSERT", "UPDATE", "DELETE", "EXECUTE", "REFERENCES", "VIEW DEFINITION")
    assert TARGET_KEYS == ("servers", "databases", "grants", "select")
    assert SELECT_KEYS == ("subscriptions", "management_group", "resource_groups", "tags", "locations", "servers")


def test_a_full_selector_is_kept_and_means_every_database() -> None:
    errors, select, databases = parse(
        f'{{ subscriptions = ["{SUB}"], resource_groups = ["rg-*"], tags = {{ env = "prod" }}, locations = "westeurope", servers = ["s1", "s2"] }}'
    )
    assert errors == []
    assert select == FleetSelector((SUB,), "", ("rg-*",), (("env", "prod"),), ("westeurope",), ("s1", "s2"))
    assert databases == ["*"]  # with select, no databases means every user database
    errors, select, databases = parse('{ management_group = "mg1" }', extra='databases = ["appdb"]\n')
    assert errors == [] and select == FleetSelector(management_group="mg1") and databases == ["appdb"]


def test_each_selector_refusal_with_the_line_of_select() -> None:
    cases = {
        '"prod"': 'target 1: select must be a table, e.g. select = { tags = { env = "prod" } }',
        "{}": "target 1: select is empty: name subscriptions, a management group, resource groups, tags, locations or servers",
        '{ subscriptions = ["not-a-guid"] }': "target 1: select.subscriptions: 'not-a-guid' is not a subscription id (a GUID)",
        "{ resource_groups = [1] }": "target 1: select.resource_groups must be a list of names",
        '{ locations = [" "] }': "target 1: select.locations must be a list of names",
        "{ servers = 3 }": "target 1: select.servers must be a list of names",
        "{ management_group = 5 }": "target 1: select.management_group must be a management group id",
        f'{{ subscriptions = ["{SUB}"], management_group = "mg" }}': (
            "target 1: select: subscriptions and management_group do not combine (Resource Graph takes one scope)"
        ),
        "{ tags = { env = 1 } }": 'target 1: select.tags must be a table of strings, e.g. tags = { env = "prod" }',
        '{ tags = "env" }': 'target 1: select.tags must be a table of strings, e.g. tags = { env = "prod" }',
    }
    for select, message in cases.items():
        errors, _, _ = parse(select)
        assert (5, message) in errors, (select, errors)
    errors, _, _ = parse('{ tag = { env = "prod" } }')
    assert (5, "target 1: select: unknown key tag (did you mean tags?)") in errors


def test_servers_and_select_do_not_combine() -> None:
    errors, _, _ = parse('{ servers = ["s*"] }', extra='servers = ["s1"]\n')
    assert errors == [(4, "target 1: servers and select do not combine (select.servers takes globs)")]


def test_no_select_keeps_the_databases_given() -> None:
    text = IDENT + '[[targets]]\ndatabases = ["appdb"]\ngrants = { api = ["reader"] }\n'
    policy, errors = parse_policy(tomllib.loads(text), Lines(text), False)
    assert errors == [] and policy.targets[0].select is None and policy.targets[0].databases == ["appdb"]


def test_what_a_user_reads_when_a_policy_fails(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("version = 3\n", encoding="utf-8")
    with pytest.raises(ConfigError) as invalid:
        load_policy(path, False)
    assert invalid.value.hint == "fix them all, then re-run; nothing was changed"
    assert invalid.value.details == {
        "errors": [
            {"line": 1, "message": "unsupported version 3 (this azsqlctl reads version 1)"},
            {"line": 0, "message": "no [[targets]]: nothing to apply"},
        ]
    }
    path.write_text("x = [", encoding="utf-8")
    with pytest.raises(ConfigError) as syntax:
        load_policy(path, False)
    assert (syntax.value.hint, syntax.value.code) == ("fix the TOML syntax", "policy_invalid")
    with pytest.raises(ConfigError) as missing:
        load_policy(tmp_path / "none.toml", False)
    assert missing.value.hint == "check the path"


def test_defaults_of_a_policy_and_a_target() -> None:
    assert Policy().path == "" and Policy().identity_line("api") == 0
    assert Target([], ["db"], {}).line == 0
    text = IDENT + '[[targets]]\ndatabases = ["d"]\ngrants = { api = ["reader"] }\n[roles.r]\ngrants = [{ permissions = ["SELECT"] }]\n'
    policy, errors = parse_policy(tomllib.loads(text), Lines(text), False)
    assert errors == [] and policy.roles["r"].grants[0].schema == ""  # no schema: the whole database
