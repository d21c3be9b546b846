"""Async clients: SQLAlchemy 2 mssql+aioodbc (token injected on engine.sync_engine) and aioodbc on its own."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aioodbc  # in the test extra: a missing client is a broken install, not a skip
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, exc, insert, select, text

from tests.conftest import driver_path

from .sqla_support import async_engine
from .support import ADMIN, REFUSED_TEXT, SQL_COPT_SS_ACCESS_TOKEN, STRANGER, Clients, token_struct

T = TypeVar("T")


def run(make: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(asyncio.wait_for(make(), 30))


# --- SQLAlchemy mssql+aioodbc ------------------------------------------------------------------------


def test_sqlalchemy_async_login_and_dialect(clients: Clients) -> None:
    async def go() -> tuple[Any, ...]:
        engine = async_engine(clients, ADMIN)
        try:
            async with engine.connect() as conn:
                row = (await conn.execute(text("SELECT SUSER_SNAME(), USER_NAME(), DB_NAME()"))).one()
            d: Any = engine.dialect
            return tuple(row), d.server_version_info, d.default_schema_name, d._supports_nvarchar_max, d.default_isolation_level
        finally:
            await engine.dispose()

    row, version, schema, nvarchar_max, isolation = run(go)
    assert row == (f"{ADMIN}@{clients.env['AZSQLCTL_TENANT_ID']}", "dbo", "appdb")
    assert version[:2] == (12, 0)
    assert (schema, nvarchar_max, isolation) == ("dbo", True, "READ COMMITTED")


def test_sqlalchemy_async_params_and_transaction(clients: Clients) -> None:
    md = MetaData()
    t = Table("aio_sqla_tx", md, Column("id", Integer, primary_key=True, autoincrement=False), Column("name", String(50)), schema="dbo")

    async def go() -> tuple[Any, list[Any], list[Any]]:
        engine = async_engine(clients, ADMIN)
        try:
            async with engine.begin() as conn:
                echoed = tuple((await conn.execute(text("SELECT :n AS n, :s AS s"), {"n": 7, "s": "ünï 🙂"})).one())
                await conn.run_sync(md.create_all)
            async with engine.connect() as conn:
                tx = await conn.begin()
                await conn.execute(insert(t), {"id": 1, "name": "rolled back"})
                await tx.rollback()
            async with engine.connect() as conn:
                after_rollback = list((await conn.execute(select(t.c.id))).scalars())
            async with engine.begin() as conn:
                await conn.execute(insert(t), {"id": 2, "name": "kept"})
            async with engine.connect() as conn:
                after_commit = [tuple(r) for r in await conn.execute(select(t))]
            return echoed, after_rollback, after_commit
        finally:
            await engine.dispose()

    echoed, after_rollback, after_commit = run(go)
    assert echoed == (7, "ünï 🙂")
    assert after_rollback == []
    assert after_commit == [(2, "kept")]


def test_sqlalchemy_async_refused_login(clients: Clients) -> None:
    async def go() -> None:
        engine = async_engine(clients, STRANGER)
        try:
            async with engine.connect():
                pass
        finally:
            await engine.dispose()

    with pytest.raises(exc.DBAPIError) as raised:
        run(go)
    assert raised.value.orig is not None
    assert raised.value.orig.args[0] == "28000"
    assert f"[SQL Server]{REFUSED_TEXT} (18456)" in raised.value.orig.args[1]


# --- aioodbc directly --------------------------------------------------------------------------------


async def aioodbc_connect(clients: Clients, identity: str = ADMIN, autocommit: bool = False) -> Any:
    dsn = f"DRIVER={{{driver_path()}}};SERVER=tcp:{clients.host},{clients.port};DATABASE=appdb;Encrypt=yes;TrustServerCertificate=no"
    return await aioodbc.connect(
        dsn=dsn, autocommit=autocommit, attrs_before={SQL_COPT_SS_ACCESS_TOKEN: token_struct(clients.token(identity))}
    )


def test_aioodbc_login_and_parameterised_query(clients: Clients) -> None:
    async def go() -> tuple[Any, Any]:
        conn = await aioodbc_connect(clients, autocommit=True)
        try:
            async with conn.cursor() as cur:
                await cur.execute("SELECT SUSER_SNAME(), USER_NAME(), DB_NAME()")
                who = tuple(await cur.fetchone())
                await cur.execute("SELECT ? AS n, ? AS s, ? AS missing", 42, "grüße 🙂", None)
                return who, tuple(await cur.fetchone())
        finally:
            await conn.close()

    who, echoed = run(go)
    assert who == (f"{ADMIN}@{clients.env['AZSQLCTL_TENANT_ID']}", "dbo", "appdb")
    assert echoed == (42, "grüße 🙂", None)


def test_aioodbc_transaction(clients: Clients) -> None:
    async def go() -> tuple[int, int, list[Any]]:
        conn = await aioodbc_connect(clients)
        try:
            async with conn.cursor() as cur:
                await cur.execute("CREATE TABLE dbo.aioodbc_tx (id INT NOT NULL PRIMARY KEY, name NVARCHAR(50) NOT NULL)")
                await conn.commit()
                await cur.execute("INSERT INTO dbo.aioodbc_tx (id, name) VALUES (?, ?)", 1, "rolled back")
                await cur.execute("SELECT COUNT(*) FROM dbo.aioodbc_tx")
                inside = (await cur.fetchone())[0]
                await conn.rollback()
                await cur.execute("SELECT COUNT(*) FROM dbo.aioodbc_tx")
                after_rollback = (await cur.fetchone())[0]
                await cur.execute("INSERT INTO dbo.aioodbc_tx (id, name) VALUES (?, ?)", 2, "kept")
                await conn.commit()
        finally:
            await conn.close()
        other = await aioodbc_connect(clients, autocommit=True)
        try:
            async with other.cursor() as cur:
                await cur.execute("SELECT id, name FROM dbo.aioodbc_tx")
                return inside, after_rollback, [tuple(r) for r in await cur.fetchall()]
        finally:
            await other.close()

    assert run(go) == (1, 0, [(2, "kept")])


def test_aioodbc_refused_login(clients: Clients) -> None:
    import pyodbc

    with pytest.raises(pyodbc.Error) as raised:
        run(lambda: aioodbc_connect(clients, STRANGER))
    assert raised.value.args[0] == "28000"
    assert f"[SQL Server]{REFUSED_TEXT} (18456)" in raised.value.args[1]
