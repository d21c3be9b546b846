"""The plan cache's rules at the engine (engine/plans.py): what is cached, under which key, and how it is bounded.
What each change does to a cached plan through the real driver: tests/e2e/test_sql_plan_cache.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from azsqlctl.sandbox.sql.engine import plans
from azsqlctl.sandbox.sql.engine.session import SqlSession
from azsqlctl.sandbox.sql.engine.storage import Storage
from azsqlctl.sandbox.sql.session_context import SessionContext
from azsqlctl.sandbox.sql.sqltypes import Param, SqlType, TypeSpec
from azsqlctl.sandbox.store import StateStore


@pytest.fixture
def session() -> Iterator[SqlSession]:
    store = StateStore(None)
    storage = Storage(None, store)  # the security state seeds from the store's default state
    ctx = SessionContext(61, "127.0.0.1", "appdb", principal="sandbox-operator@tenant")
    ctx.extra["user"] = "dbo"
    ids = iter(range(1, 100))
    s = SqlSession(store, storage, "sandbox-sql", lambda: next(ids).to_bytes(8, "little"), ctx)
    found, ok = s.run("CREATE TABLE dbo.t (id INT PRIMARY KEY, name NVARCHAR(20)) INSERT INTO dbo.t VALUES (1, N'one'), (2, N'two')")
    assert ok, found
    yield s
    s.close()
    storage.close()


def run(session: SqlSession, sql: str, *params: Param) -> list[tuple[object, ...]]:
    found, ok = session.run(sql, params)
    assert ok, found
    result = found[-1].result
    assert result is not None
    return [tuple(r) for r in result.rows]


def p(name: str, sql_type: SqlType, value: object, length: int | None = None) -> Param:
    return Param(name, TypeSpec(sql_type, length), value)  # type: ignore[arg-type]


def test_a_parameterised_select_is_cached_once_and_run_with_each_calls_values(session: SqlSession) -> None:
    sql = "SELECT name FROM dbo.t WHERE id = @k"
    assert run(session, sql, p("@k", SqlType.INT, 1)) == [("one",)]
    assert len(session.plans) == 1
    assert run(session, sql, p("@k", SqlType.INT, 2)) == [("two",)]
    assert run(session, sql, p("@k", SqlType.INT, 3)) == []
    assert len(session.plans) == 1


def test_the_parameters_declared_types_are_part_of_the_key(session: SqlSession) -> None:
    """A parameter's type decides the type of a column that returns it: each typing gets its own plan."""
    sql = "SELECT @v AS v FROM dbo.t WHERE id = 1"
    found, _ok = session.run(sql, [p("@v", SqlType.INT, 7)])
    assert found[0].result is not None and found[0].result.columns[0].spec.type == SqlType.INT
    found, _ok = session.run(sql, [p("@v", SqlType.NVARCHAR, "seven", 10)])
    assert found[0].result is not None and found[0].result.columns[0].spec.type == SqlType.NVARCHAR
    assert [tuple(r) for r in found[0].result.rows] == [("seven",)]
    assert len(session.plans) == 2


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT name, USER_NAME() FROM dbo.t WHERE id = @k",  # a session value
        "SELECT name FROM sys.tables WHERE object_id = @k",  # a catalog view: its rows depend on the caller
        "SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_NAME = N't' AND @k = 1",
        "SELECT @@SPID + @k FROM dbo.t",
    ],
)
def test_what_depends_on_more_than_the_tables_is_translated_each_time(session: SqlSession, sql: str) -> None:
    run(session, sql, p("@k", SqlType.INT, 1))
    run(session, sql, p("@k", SqlType.INT, 1))
    assert len(session.plans) == 0


def test_views_and_missing_tables_are_not_cached(session: SqlSession) -> None:
    assert session.run("CREATE VIEW dbo.v AS SELECT id, name FROM dbo.t")[1]
    assert run(session, "SELECT name FROM dbo.v WHERE id = @k", p("@k", SqlType.INT, 2)) == [("two",)]
    found, ok = session.run("SELECT name FROM dbo.nothing WHERE id = @k", [p("@k", SqlType.INT, 2)])
    assert not ok and found[-1].error is not None and found[-1].error.number == 208
    assert len(session.plans) == 0


def test_long_texts_are_not_cached() -> None:
    params = {"k": p("@k", SqlType.INT, 1)}
    assert plans.key("SELECT 1", params) is not None
    assert plans.key("SELECT 1" + " " * plans.CACHED_TEXT, params) is None


def test_the_cache_keeps_its_newest_plans_up_to_its_size(session: SqlSession) -> None:
    cache = plans.PlanCache(size=2)
    sql = "SELECT name FROM dbo.t WHERE id = @k"
    run(session, sql, p("@k", SqlType.INT, 1))
    plan = session.plans.get(("SELECT name FROM dbo.t WHERE id = @k", (("k", TypeSpec(SqlType.INT)),)))
    assert plan is not None and '"dbo.t"' in plan.sql and plan.binds == ("p_k",)
    for key in ("a", "b", "a", "c"):  # "a" used again: put moves it to the newest
        cache.put((key, ()), plan)
    assert cache.get(("b", ())) is None
    assert cache.get(("a", ())) is plan and cache.get(("c", ())) is plan
    assert len(cache) == 2
