"""Parameterised queries through the real ODBC Driver 18: RPC decoding, TYPE_INFO and values both ways.

``SELECT ?, ...`` runs through the SQL front end with the parameters bound as values, so a
round trip shows that each value was decoded, bound and re-encoded intact.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hst

from azsqlctl.sandbox.serve import Sandbox
from tests.conftest import raw_connect
from tests.e2e.test_tds_login import mi_token
from tests.property_budget import examples

values = hst.one_of(
    hst.none(),
    hst.text(alphabet=hst.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\x00"), max_size=50),
    hst.text(alphabet=hst.sampled_from("a😀𠀋é"), min_size=1, max_size=30),
    hst.binary(min_size=1, max_size=100),
    hst.booleans(),
    hst.integers(-(2**63), 2**63 - 1),
    hst.decimals(min_value=-(10**20), max_value=10**20, places=4),
    hst.floats(allow_nan=False, allow_infinity=False),
    hst.uuids(),
    hst.dates(min_value=dt.date(1, 1, 1)),
    hst.datetimes(min_value=dt.datetime(1753, 1, 1)).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)),
)


def expected(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value).upper()  # pyodbc returns uniqueidentifier as text unless native_uuid is set
    return value


def test_parameters_of_every_kind_round_trip(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    cnxn = raw_connect(sandbox, mi_token())
    cur = cnxn.cursor()

    @settings(max_examples=examples(80), deadline=None, suppress_health_check=list(HealthCheck))
    @given(hst.lists(values, min_size=1, max_size=4))
    def check(params: list[Any]) -> None:
        sql = "SELECT " + ", ".join("?" for _ in params)
        row = cur.execute(sql, *params).fetchone()
        assert list(row) == [expected(v) for v in params]

    try:
        check()
    finally:
        cnxn.close()


def test_max_values_over_a_megabyte_and_non_bmp_text(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    cnxn = raw_connect(sandbox, mi_token())
    cur = cnxn.cursor()
    big_text = "😀 ünïcødé " * 110_000  # 1.1 M characters, 2.6 MB of UTF-16
    big_blob = bytes(range(256)) * 5_000  # 1.28 MB
    row = cur.execute("SELECT ?, ?, ?", big_text, big_blob, "x" * 4001).fetchone()
    assert row[0] == big_text and row[1] == big_blob and row[2] == "x" * 4001
    assert tuple(cur.execute("SELECT N'😀', N'𠀋 and 😀'").fetchone()) == ("😀", "𠀋 and 😀")  # literals in a SQL batch
    assert cur.execute("SELECT ?", None).fetchone()[0] is None
    assert tuple(cur.execute("SELECT ?, ?", decimal.Decimal("-12.345"), dt.date(2024, 2, 29)).fetchone()) == (
        decimal.Decimal("-12.345"),
        dt.date(2024, 2, 29),
    )
    cnxn.close()


def test_prepared_statement_is_reused_and_undeclared_variables_are_refused(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    import pyodbc

    cnxn = raw_connect(sandbox, mi_token())
    cur = cnxn.cursor()
    for i in range(3):  # the driver prepares once (sp_prepexec), then runs the handle (sp_execute)
        assert cur.execute("SELECT ?", i).fetchone()[0] == i
    cur.fast_executemany = False
    assert cur.execute("SELECT name FROM sys.database_principals WHERE name = ?", "dbo").fetchone()[0] == "dbo"
    with pytest.raises(pyodbc.Error, match=r'Must declare the scalar variable "@nope"'):
        cur.execute("SELECT @nope, ?", 1)
    cnxn.close()


def test_type_catalog_for_the_driver(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    import pyodbc

    cnxn = raw_connect(sandbox, mi_token())
    rows = cnxn.cursor().getTypeInfo(pyodbc.SQL_WVARCHAR).fetchall()  # the driver asks sp_datatype_info_100
    assert [(r.type_name, r.data_type, r.column_size) for r in rows] == [("nvarchar", -9, 4000)]
    everything = {r.type_name for r in cnxn.cursor().getTypeInfo().fetchall()}
    assert {"int", "decimal", "datetime2", "datetimeoffset", "uniqueidentifier", "varbinary"} <= everything
    cnxn.close()
