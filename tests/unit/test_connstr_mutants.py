"""core/connstr.py: ODBC connection strings read as the driver reads them; secret keys; exact refusals."""

from __future__ import annotations

import pytest

from azsqlctl.core.connstr import (
    DATABASE_KEYS,
    SERVER_KEYS,
    Pair,
    braced,
    is_secret_key,
    normal_key,
    pairs,
    parse,
    read_value,
    split_target,
)
from azsqlctl.core.errors import UsageError


def test_key_sets_and_normal_form() -> None:
    assert SERVER_KEYS == ("server", "data source", "address", "addr")
    assert DATABASE_KEYS == ("database", "initial catalog")
    assert normal_key(" Access_Token-X\t") == "accesstokenx"


@pytest.mark.parametrize(
    "key",
    ["PWD", "passwd", "Pass", "sig", "Password", "Client Secret", "access_token", "AccountKey", "SharedAccessKey", "x-api-key",
     "SharedAccessSignature", "Credential", "AccessKey"],
)  # fmt: skip
def test_secret_keys(key: str) -> None:
    assert is_secret_key(key) is True


@pytest.mark.parametrize("key", ["UID", "Server", "Key", "Passage", "signal", "Encrypt", "tokens"])
def test_not_secret_keys(key: str) -> None:
    assert is_secret_key(key) is False


def test_read_value_plain_braced_escaped_and_unclosed() -> None:
    assert read_value("a=b c ;d", 2) == ("b c", 6, True)
    assert read_value("a=xyz", 2) == ("xyz", 5, True)
    assert read_value("a=x;y\nz", 2, stop=";\n") == ("x", 3, True)
    assert read_value("a=x\ny;z", 2, stop=";\n") == ("x", 3, True)
    assert read_value("a={p;w}}d=};b", 2) == ("p;w}d=", 11, True)
    assert read_value("a={abc", 2) == ("abc", 6, False)
    assert read_value("a={}}", 2) == ("}", 5, False)
    assert read_value("a=", 2) == ("", 2, True)


def test_pairs_with_positions_skipping_keywords_without_values() -> None:
    assert pairs(" ;Server=s; lone ;Database = d;\tPWD={x;y}") == [
        Pair("Server", "s", 2, 10),
        Pair("Database", "d", 18, 30),
        Pair("PWD", "x;y", 32, 41),
    ]
    assert pairs("a=1;tail") == [Pair("a", "1", 0, 3)]
    assert pairs("PWD={open") == [Pair("PWD", "open", 0, 9, False)]
    assert pairs("") == pairs(";;  ") == []


def test_parse_refuses_with_positions_never_the_text() -> None:
    assert parse("Server=s;Database=d;") == [("Server", "s"), ("Database", "d")]
    with pytest.raises(UsageError) as info:
        parse("Server=s;secretword;Database=d")
    assert (info.value.message, info.value.hint, info.value.code) == (
        "connection string has a keyword without a value at character 9",
        "use KEY=value;KEY=value, and brace values that hold ';' as KEY={value}",
        "bad_connection_string",
    )
    with pytest.raises(UsageError, match=r"^connection string has a keyword without a value at character 9$"):
        parse("Server=s;trailing")
    with pytest.raises(UsageError) as info:
        parse("Server=s;PWD={abc")
    assert (info.value.message, info.value.hint) == (
        "connection string has an unclosed '{'",
        "close braced values with '}' (a '}' inside is written '}}')",
    )


def test_braced_doubles_closing_braces() -> None:
    assert braced("a}b") == "{a}}b}"


def test_split_target_takes_server_and_database_drops_driver_and_braces_what_needs_it() -> None:
    assert split_target("Driver={ODBC Driver 18 for SQL Server};Data Source=tcp:s,1433;Initial Catalog=db;PWD={a;b};UID=u") == (
        "tcp:s,1433",
        "db",
        "PWD={a;b};UID=u",
    )
    assert split_target("Addr=s;X={a}}b};Y={c{d}") == ("s", "", "X={a}}b};Y={c{d}")
    assert split_target("Address=s;Database=d") == ("s", "d", "")


def test_edges_of_the_grammar() -> None:
    assert read_value("a=XY;b", 2) == ("XY", 4, True)  # only ';' stops a plain value by default
    assert read_value(";rest", 0) == ("", 0, True)  # a value that is empty right at the start
    assert pairs("=x") == [Pair("", "x", 0, 2)]
    assert pairs("PWD= {a;b}") == [Pair("PWD", "a;b", 0, 10)]  # blanks before a brace are skipped
    assert pairs("PWD=X") == [Pair("PWD", "X", 0, 5)]
    assert split_target("Server=s;App=X") == ("s", "", "App=X")
    for text, at in (("X;Server=s", 1), ("Server=s;X", 9)):
        with pytest.raises(UsageError, match=rf"^connection string has a keyword without a value at character {at}$"):
            parse(text)
    with pytest.raises(UsageError) as info:
        parse("PWD={abc")
    assert info.value.code == "bad_connection_string"
