"""One home per rule, checked by behaviour: every place that applies a rule answers as its one home does.

(test_one_home.py checks definitions by their text; these tests call each user of a rule and compare.)
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import pytest

import azsqlctl.azure
import azsqlctl.cli
import azsqlctl.core
from azsqlctl.core import queryhash, roles
from azsqlctl.core.errors import UsageError
from azsqlctl.core.grant import plan as grant_plan
from azsqlctl.core.grant.entra_admin import ADMIN_TYPES
from azsqlctl.core.grant.request import admin_spec
from azsqlctl.core.identity import IdentitySpec, canonical_guid, validate_identity
from azsqlctl.core.logs.request import check_workspace_guid
from azsqlctl.core.settings import parse_guid
from azsqlctl.core.tsql import BadIdentifier, guid_literal

GUID = "6E3F0A4E-1B2C-4D5E-8F90-123456789ABC"
GUID_INPUTS = [
    GUID,
    GUID.lower(),
    f"  {GUID}\n",
    "{" + GUID + "}",
    "urn:uuid:" + GUID,
    GUID.replace("-", ""),
    GUID[:-1],
    GUID + "0",
    GUID.replace("E", "G", 1),
    "",
    "not-a-guid",
]


def _modules(package: ModuleType) -> list[ModuleType]:
    return [importlib.import_module(info.name) for info in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]


@pytest.mark.parametrize("text", GUID_INPUTS)
def test_canonical_guid_accepts_only_the_hyphenated_form(text: str) -> None:
    expected = GUID.lower() if text.strip().upper() == GUID else None
    assert canonical_guid(text) == expected


def _accepts(call: object) -> bool:
    try:
        assert callable(call)
        call()
    except (UsageError, BadIdentifier):
        return False
    return True


@pytest.mark.parametrize("text", GUID_INPUTS)
def test_every_guid_check_answers_as_the_one_parser(text: str) -> None:
    valid = canonical_guid(text) is not None
    assert _accepts(lambda: parse_guid(text, "--client-id")) is valid
    assert _accepts(lambda: guid_literal(text)) is valid
    assert _accepts(lambda: admin_spec("admins", text, "Group")) is valid
    assert _accepts(lambda: check_workspace_guid(text)) is valid
    complaints = validate_identity(IdentitySpec("app1", "app", client_id=text))
    assert any("is not a GUID" in c for c in complaints) is (bool(text) and not valid)
    if valid:
        assert parse_guid(text, "--client-id") == GUID.lower()
        assert admin_spec("admins", text, "Group").sid == GUID.lower()


def test_guid_literal_is_the_canonical_form() -> None:
    assert guid_literal(GUID) == f"N'{GUID.lower()}'"


def test_one_query_hash_everywhere() -> None:
    """No module of core, cli or azure has a query_hash other than queryhash's (two disagreed before)."""
    others = [
        m.__name__
        for package in (azsqlctl.core, azsqlctl.cli, azsqlctl.azure)
        for m in _modules(package)
        if getattr(m, "query_hash", queryhash.query_hash) is not queryhash.query_hash
    ]
    assert others == []


def test_one_fixed_role_list() -> None:
    """grant, policy and the permission table all answer from roles.py: same roles, same order."""
    assert grant_plan.FIXED_ROLES is roles.FIXED_ROLES
    assert set(roles.FIXED_ROLES) | {"public"} == set(roles.FIXED_ROLE_IDS) == set(roles.ROLE_PERMISSIONS)
    assert "public" not in roles.FIXED_ROLES
    assert set(roles.FIXED_ROLES) >= roles.ELEVATED_ROLES


@pytest.mark.parametrize("kind", ["Group", "User", "Application", "group", "ServicePrincipal", ""])
def test_one_entra_admin_type_list(kind: str) -> None:
    """The CLI accepts exactly the types core's entra_admin plans with."""
    assert _accepts(lambda: admin_spec("admins", GUID, kind)) is (kind in ADMIN_TYPES)
