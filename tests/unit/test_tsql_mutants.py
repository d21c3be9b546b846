"""core/tsql.py: the one place names and literals become T-SQL text (QUOTENAME semantics, exact refusals)."""

from __future__ import annotations

import pytest

from azsqlctl.core.identity import IdentitySpec
from azsqlctl.core.tsql import BadIdentifier, create_user, guid_literal, quote_name, quote_string, sid_literal

GUID = "6F1A2B3C-4D5E-4F60-8172-839495A6B7C8"


def test_quote_name_brackets_and_doubles_closing_brackets_only() -> None:
    assert quote_name("app") == "[app]"
    assert quote_name("a]b[c") == "[a]]b[c]"
    assert quote_name("]") == "[]]]"


def test_quote_name_length_is_one_to_128_characters() -> None:
    assert quote_name("x" * 128) == "[" + "x" * 128 + "]"
    with pytest.raises(BadIdentifier, match=r"^identifier must be 1-128 characters, got 129$"):
        quote_name("x" * 129)
    with pytest.raises(BadIdentifier, match=r"^identifier must be 1-128 characters, got 0$"):
        quote_name("")


def test_nul_is_refused_in_names_and_strings() -> None:
    with pytest.raises(BadIdentifier, match=r"^identifier contains a NUL character$"):
        quote_name("a\x00b")
    with pytest.raises(BadIdentifier, match=r"^string contains a NUL character$"):
        quote_string("a\x00b")


def test_quote_string_is_n_prefixed_with_quotes_doubled() -> None:
    assert quote_string("") == "N''"
    assert quote_string("O'Brien's") == "N'O''Brien''s'"


def test_guid_literal_is_the_canonical_lower_case_guid_or_a_refusal() -> None:
    assert guid_literal(f"  {GUID} ") == f"N'{GUID.lower()}'"
    with pytest.raises(BadIdentifier, match=r"^'not-a-guid' is not a GUID$"):
        guid_literal("not-a-guid")


def test_sid_literal_is_the_little_endian_varbinary() -> None:
    assert sid_literal("00112233-4455-6677-8899-aabbccddeeff") == "0x33221100554477668899AABBCCDDEEFF"


def test_create_user_in_each_of_its_three_forms() -> None:
    oid = GUID.lower()
    cid = "00112233-4455-6677-8899-aabbccddeeff"
    assert create_user(IdentitySpec("web]app", "app", cid, oid, sid_mode=True)) == (
        "CREATE USER [web]]app] WITH SID = 0x33221100554477668899AABBCCDDEEFF, TYPE = E"
    )
    assert create_user(IdentitySpec("ops", "group", "", oid, sid_mode=True)).endswith(", TYPE = X")
    assert create_user(IdentitySpec("web", "app", cid, oid)) == f"CREATE USER [web] FROM EXTERNAL PROVIDER WITH OBJECT_ID = N'{oid}'"
    assert create_user(IdentitySpec("web", "app", cid, "")) == "CREATE USER [web] FROM EXTERNAL PROVIDER"
