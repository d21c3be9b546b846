"""The sandbox's rules are its own data, and they agree with the client's (issue 14, item 7).

The sandbox plays Azure SQL; the client (azsqlctl.core) judges least privilege and explains Azure's errors.
Each side writes its table out from Microsoft's documentation; these tests compare them entry by entry, so
a wrong entry on either side fails here instead of being confirmed by every end-to-end test. A handful of
facts are written out a third time (from the same pages) so that both sides agreeing on a wrong value fails too.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from azsqlctl.core import azure_errors as core_errors
from azsqlctl.core import netaddr
from azsqlctl.core import roles as core_roles
from azsqlctl.sandbox.sql.security import firewall, login_messages
from azsqlctl.sandbox.sql.security import roles as sandbox_roles

SANDBOX = Path(__file__).resolve().parents[2] / "azsqlctl" / "sandbox"


def test_the_sandbox_imports_no_rule_from_the_client() -> None:
    """Only codecs (JWT, bounded JSON), exception classes for configuration errors and the cloud's name may come from core."""
    allowed = {
        "from azsqlctl.core import jwt",
        "from azsqlctl.core import jsonlimits",
        "from azsqlctl.core.errors import",
        "from azsqlctl.core.clouds import SANDBOX_CLOUD_NAME",
    }
    found = [
        f"{path.relative_to(SANDBOX)}: {line.strip()}"
        for path in sorted(SANDBOX.rglob("*.py"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if re.match(r"\s*(from azsqlctl\.core|import azsqlctl\.core)", line) and not line.strip().startswith(tuple(allowed))
    ]
    assert found == []


def test_fixed_roles_and_their_ids_agree() -> None:
    assert dict(sandbox_roles.FIXED_ROLE_IDS) == core_roles.FIXED_ROLE_IDS


def test_each_roles_permissions_agree() -> None:
    assert set(sandbox_roles.ROLE_PERMISSIONS) == set(core_roles.ROLE_PERMISSIONS)
    for role, perms in core_roles.ROLE_PERMISSIONS.items():
        assert set(perms) == set(sandbox_roles.ROLE_PERMISSIONS[role]), role


def test_written_out_facts_from_the_database_level_roles_page() -> None:
    assert sandbox_roles.FIXED_ROLE_IDS["db_owner"] == 16384 and sandbox_roles.FIXED_ROLE_IDS["db_datareader"] == 16390
    assert "CONTROL" in sandbox_roles.ROLE_PERMISSIONS["db_owner"]
    assert sandbox_roles.ROLE_PERMISSIONS["db_datawriter"] == {"INSERT", "UPDATE", "DELETE"}
    assert "ALTER ANY USER" in sandbox_roles.ROLE_PERMISSIONS["db_accessadmin"]
    assert "ALTER ANY ROLE" in sandbox_roles.ROLE_PERMISSIONS["db_securityadmin"]
    assert "CREATE TABLE" in sandbox_roles.ROLE_PERMISSIONS["db_ddladmin"]
    assert not sandbox_roles.ROLE_PERMISSIONS["db_denydatareader"] and sandbox_roles.ROLE_DENIES["db_denydatareader"] == ("SELECT",)


@given(
    roles=st.lists(st.sampled_from(sorted(core_roles.FIXED_ROLE_IDS)), max_size=4),
    explicit=st.lists(st.sampled_from(["SELECT", "execute", "CREATE TABLE", "VIEW DEFINITION", "CONTROL"]), max_size=3),
)
def test_what_a_member_holds_agrees(roles: list[str], explicit: list[str]) -> None:
    assert sandbox_roles.database_permissions(roles, explicit) == core_roles.effective_permissions(roles, explicit)


def test_login_messages_agree() -> None:
    assert set(login_messages.BY_NUMBER) == set(core_errors.BY_NUMBER)
    for number, message in core_errors.BY_NUMBER.items():
        mine = login_messages.BY_NUMBER[number]
        assert (mine.number, mine.severity, mine.template) == (message.number, message.severity, message.template), number
    assert dict(login_messages.LOGIN_REJECTIONS) == core_errors.LOGIN_REJECTIONS
    assert login_messages.SERVER_IDENTITY_MISSING == core_errors.SERVER_IDENTITY_MISSING
    assert (login_messages.TOKEN_PRINCIPAL, login_messages.NOT_CONFIGURED_SUFFIX, login_messages.CLIENT_STATE) == (
        core_errors.TOKEN_PRINCIPAL,
        core_errors.NOT_CONFIGURED_SUFFIX,
        core_errors.CLIENT_STATE,
    )


def test_written_out_facts_from_the_error_pages() -> None:
    assert login_messages.FIREWALL_DENIED.number == 40615
    assert login_messages.LOGIN_FAILED.render(user="u", suffix="") == "Login failed for user 'u'."
    assert login_messages.DATABASE_UNAVAILABLE.severity == 17


_IPV4 = st.ip_addresses(v=4).map(str)
_ANY = st.one_of(_IPV4, st.ip_addresses(v=6).map(str), st.sampled_from(["", "300.1.1.1", "localhost", "::1", "0.0.0.0"]))


@given(start=_ANY, end=_ANY, ip=_ANY)
def test_firewall_ranges_agree(start: str, end: str, ip: str) -> None:
    assert firewall.admits(start, end, ip) == netaddr.covers(start, end, ip)


@given(a=_IPV4, b=_IPV4)
def test_a_rule_admits_its_own_ends(a: str, b: str) -> None:
    low, high = sorted([a, b], key=ipaddress.ip_address)
    assert firewall.admits(low, high, low) and firewall.admits(low, high, high)
