"""State files: every bad file is a ConfigError (exit 2) naming what is wrong, never another
exception; a running store keeps the last good state while the file on disk is broken."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from azsqlctl.core.errors import ConfigError, ExitCode
from azsqlctl.sandbox import state as sst
from azsqlctl.sandbox.store import StateStore
from tests.property_budget import examples

GOOD = sst.to_dict(sst.default_state())
GOOD_TEXT = json.dumps(GOOD)  # replaced() copies by parsing this: one serialisation per example, not two
json_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
json_value = st.recursive(
    json_leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8
)


def paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into a JSON document."""
    out = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            out += paths(value, (*prefix, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            out += paths(value, (*prefix, i))
    return out


ALL_PATHS = [p for p in paths(GOOD) if p]


def replaced(data: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    copy = json.loads(GOOD_TEXT if data is GOOD else json.dumps(data))
    target = copy
    for key in path[:-1]:
        target = target[key]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return copy


@settings(max_examples=examples(300), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(ALL_PATHS), value=json_value, delete=st.booleans())
def test_any_damage_to_a_good_file_is_a_config_error_or_still_valid(
    tmp_path: Path, path: tuple[Any, ...], value: Any, delete: bool
) -> None:
    target = tmp_path / "state.json"
    target.write_text(json.dumps(replaced(GOOD, path, value, delete)))
    try:
        loaded = sst.load(target)
    except ConfigError as err:
        assert err.exit_code == ExitCode.USAGE
        assert str(target) in err.message and "\n" not in err.message
        return
    # Accepted: then it is a well-typed state that survives a round trip.
    assert sst.from_dict(sst.to_dict(loaded)) == loaded


@settings(max_examples=examples(200), suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=64), suffix=st.sampled_from([".json", ".toml"]))
def test_arbitrary_bytes_are_a_config_error_or_a_state(tmp_path: Path, raw: bytes, suffix: str) -> None:
    target = tmp_path / f"state{suffix}"
    target.write_bytes(raw)
    try:
        sst.load(target)
    except ConfigError as err:
        assert err.exit_code == ExitCode.USAGE


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"tenant_id": "t", "server": {"name": "s", "subscription_id": "a", "resource_group": "b", "firewall_rules": [{"name": 1, '
         '"start_ip": "x", "end_ip": "y"}]}}', "state.server.firewall_rules[0].name: expected str, got int 1"),
        ('{"tenant_id": "t", "server": {"name": "s", "subscription_id": "a", "resource_group": "b"}, "token_lifetime": "1h"}',
         "state.token_lifetime: expected int, got str '1h'"),
        ('{"tenant_id": "t", "server": {"name": "s", "subscription_id": "a", "resource_group": "b"}, "token_lifetime": true}',
         "state.token_lifetime: expected int, got bool True"),
        ('{"tenant_id": "t", "server": {"name": "s", "subscription_id": "a", "resource_group": "b"}, '
         '"identities": [{"name": "x", "kind": "robot", "object_id": "o"}]}', "state.identities[0].kind: expected one of"),
        ('{"tenant_id": "t"}', "misses the key 'server'"),
        ('{"tenant_id": "t", "server": {"name": "s", "subscription_id": "a", "resource_group": "b", "databases": [{"name": "d", '
         '"members": {"\\n": null}}]}}', 'state.server.databases[0].members."\\n": expected a list, got NoneType'),  # one line
    ],
)  # fmt: skip
def test_wrong_types_name_the_key(tmp_path: Path, content: str, message: str) -> None:
    target = tmp_path / "s.json"
    target.write_text(content)
    with pytest.raises(ConfigError) as info:
        sst.load(target)
    assert message in info.value.message


def test_a_file_broken_under_a_running_store(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    target = tmp_path / "s.json"
    store = StateStore(target)
    good = target.read_text()

    def touch(text: str) -> None:
        target.write_text(text)
        mtime = target.stat().st_mtime + 1  # mtime granularity: make each version distinct
        os.utime(target, (mtime, mtime))

    touch("{half a file")
    with caplog.at_level(logging.WARNING, logger="azsqlctl.sandbox.state"):
        assert store.read(lambda s: s.server.name) == "sandbox-sql"  # the last good state
        broken_now = store.broken
        assert broken_now
        with store.mutate() as s:  # a change meanwhile stays in memory ...
            s.token_lifetime = 99
        assert target.read_text() == "{half a file"  # ... and does not overwrite the user's file
        assert store.read(lambda s: s.token_lifetime) == 99
    assert len([r for r in caplog.records if "unusable" in r.getMessage()]) == 1  # one line, not one per request
    fixed = json.loads(good)
    fixed["token_lifetime"] = 1234
    touch(json.dumps(fixed))
    assert store.read(lambda s: s.token_lifetime) == 1234
    broken_after_fix = store.broken
    assert not broken_after_fix
    with store.mutate() as s:
        s.token_lifetime = 777
    assert json.loads(target.read_text())["token_lifetime"] == 777  # saving resumed


def test_an_unwritable_state_path_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError) as info:
        StateStore(blocker / "state.json")
    assert "cannot write state file" in info.value.message and info.value.exit_code == ExitCode.USAGE


def test_a_save_the_disk_refuses_keeps_the_change_in_memory(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import shutil

    home = tmp_path / "home"
    home.mkdir()
    store = StateStore(home / "s.json")
    shutil.rmtree(home)
    home.write_text("now a file where the state's directory was")
    with caplog.at_level(logging.WARNING, logger="azsqlctl.sandbox.state"), store.mutate() as s:
        s.token_lifetime = 42
    assert store.read(lambda s: s.token_lifetime) == 42
    assert any("not saved, the change is kept in memory" in r.getMessage() for r in caplog.records)
