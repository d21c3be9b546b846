from __future__ import annotations

import pytest

from azsqlctl.azure.sql import check_connection_string, parse_driver_error
from azsqlctl.core.diagnosis import TABLE, classify
from azsqlctl.core.errors import AuthenticationError, AzsqlctlError, ConnectionFailed, NotFound


class FakePyodbcError(Exception):
    """pyodbc errors are plain exceptions whose args are (sqlstate, message)."""


@pytest.mark.parametrize(
    ("args", "sqlstate", "number", "text"),
    [
        (("28000", "[28000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Login failed for user '<token-identified principal>'. (18456) (SQLDriverConnect)"),
         "28000", 18456, "Login failed for user '<token-identified principal>'."),
        (("HYT00", "[HYT00] [Microsoft][ODBC Driver 18 for SQL Server]Login timeout expired (0) (SQLDriverConnect)"), "HYT00", 0, "Login timeout expired"),
        (("08001", "[08001] [Microsoft][ODBC Driver 18 for SQL Server]SSL Provider: [error:0A000086:SSL routines::certificate verify failed:self-signed certificate] (-1) (SQLDriverConnect)"),
         "08001", -1, "SSL Provider: [error:0A000086:SSL routines::certificate verify failed:self-signed certificate]"),
    ],
)  # fmt: skip
def test_parse_driver_error(args: tuple[str, str], sqlstate: str, number: int, text: str) -> None:
    msg = parse_driver_error(FakePyodbcError(*args))
    assert (msg.sqlstate, msg.number, msg.text) == (sqlstate, number, text)


def test_classify_by_number_then_sqlstate() -> None:
    kind, hint = classify(
        "42000", 40615, "Cannot open server 'x' requested by the login. Client with IP address '203.0.113.7' is not allowed"
    )
    assert kind is ConnectionFailed
    assert "--start-ip-address 203.0.113.7 --end-ip-address 203.0.113.7" in hint and "allow-203-0-113-7" in hint
    assert classify("28000", 18456, "")[0] is AuthenticationError
    assert classify("42000", 4060, "")[0] is NotFound
    assert classify("HYT00", 0, "")[0] is ConnectionFailed
    assert classify("XX000", 99999, "")[0] is AzsqlctlError


def test_table_entries_are_complete() -> None:
    for key, diag in TABLE.items():
        assert diag.key == key and diag.cause and diag.fix


@pytest.mark.parametrize(
    "conn", ["DRIVER={x};UID=a;", "Driver={x}; Trusted_Connection=yes", "PWD=x;Server=y", "Authentication=ActiveDirectoryMsi;"]
)
def test_token_and_credentials_in_the_string_are_refused(conn: str) -> None:
    with pytest.raises(AzsqlctlError) as info:
        check_connection_string(conn)
    assert info.value.code == "FA005"
