"""SQLAlchemy 2, mssql+pyodbc with the documented do_connect token injection and pool_pre_ping."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Column, Engine, Identity, Integer, MetaData, String, Table, Unicode, delete, exc, insert, select, text, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from .sqla_support import sync_engine
from .support import ADMIN, REFUSED_TEXT, STRANGER, Clients


@pytest.fixture(scope="module")
def engine(clients: Clients) -> Iterator[Engine]:
    eng = sync_engine(clients, ADMIN)
    yield eng
    eng.dispose()


def test_connect_records_azure_sql_capabilities(engine: Engine, clients: Clients) -> None:
    with engine.connect() as conn:
        row = conn.execute(text("SELECT SUSER_SNAME(), USER_NAME(), DB_NAME()")).one()
    assert tuple(row) == (f"{ADMIN}@{clients.env['AZSQLCTL_TENANT_ID']}", "dbo", "appdb")
    dialect = engine.dialect
    assert dialect.server_version_info is not None
    assert dialect.server_version_info[:2] == (12, 0)
    assert dialect.default_schema_name == "dbo"
    assert dialect._supports_nvarchar_max is True  # type: ignore[attr-defined]
    assert dialect.supports_comments is True
    assert dialect.default_isolation_level == "READ COMMITTED"


def test_pre_ping_reuses_the_pooled_connection(engine: Engine, clients: Clients) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1")).scalar_one()
    ok_before, _ = clients.logins()
    for _ in range(3):
        with engine.connect() as conn:
            assert conn.execute(text("SELECT USER_NAME()")).scalar_one() == "dbo"
    assert clients.logins()[0] == ok_before  # each checkout pinged the pooled connection; none logged in again


def test_without_the_sandbox_ca_the_certificate_is_refused(clients: Clients, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")
    eng = sync_engine(clients, ADMIN)
    try:
        with pytest.raises(exc.OperationalError, match="certificate verify failed"):
            eng.connect()
    finally:
        eng.dispose()


def test_parameterised_query(engine: Engine) -> None:
    with engine.connect() as conn:
        row = conn.execute(text("SELECT :n AS n, :s AS s, :missing AS missing"), {"n": 42, "s": "grüße 🙂", "missing": None}).one()
        assert tuple(row) == (42, "grüße 🙂", None)
        assert conn.execute(text("SELECT USER_NAME() WHERE :v = 1"), {"v": 2}).all() == []


def test_transaction_commit_and_rollback(engine: Engine) -> None:
    md = MetaData()
    t = Table("sqla_tx", md, Column("id", Integer, primary_key=True, autoincrement=False), Column("name", String(50)), schema="dbo")
    md.create_all(engine)
    with engine.connect() as conn:
        with conn.begin() as tx:
            conn.execute(insert(t), {"id": 1, "name": "rolled back"})
            assert conn.execute(select(t.c.id)).scalars().all() == [1]
            tx.rollback()
        assert conn.execute(select(t.c.id)).scalars().all() == []
    with engine.begin() as conn:
        conn.execute(insert(t), {"id": 2, "name": "kept"})
    with engine.connect() as conn:
        assert [tuple(r) for r in conn.execute(select(t))] == [(2, "kept")]


def test_refused_login_has_azures_number_and_text(clients: Clients) -> None:
    eng = sync_engine(clients, STRANGER)
    try:
        with pytest.raises(exc.DBAPIError) as raised:
            eng.connect()
    finally:
        eng.dispose()
    assert raised.value.orig is not None
    sqlstate, message = raised.value.orig.args
    assert sqlstate == "28000"
    assert f"[SQL Server]{REFUSED_TEXT} (18456)" in message


def test_core_round_trip(engine: Engine) -> None:
    md = MetaData()
    widgets = Table(
        "core_widgets",
        md,
        Column("id", Integer, Identity(), primary_key=True),
        Column("name", Unicode(100), nullable=False),  # NVARCHAR: String would be VARCHAR (code page 1252)
        Column("qty", Integer, nullable=True),
        schema="dbo",
    )
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(widgets), [{"name": "bolt", "qty": 10}, {"name": "nut", "qty": 20}, {"name": "gear ⚙🙂", "qty": None}])
        new_id = conn.execute(insert(widgets).values(name="spring", qty=5).returning(widgets.c.id)).scalar_one()
    with engine.begin() as conn:
        rows = conn.execute(select(widgets.c.name, widgets.c.qty).where(widgets.c.qty >= 10).order_by(widgets.c.name)).all()
        assert [tuple(r) for r in rows] == [("bolt", 10), ("nut", 20)]
        assert conn.execute(update(widgets).where(widgets.c.name == "bolt").values(qty=widgets.c.qty + 1)).rowcount == 1
        assert conn.execute(delete(widgets).where(widgets.c.id == new_id)).rowcount == 1
    with engine.connect() as conn:
        rows = conn.execute(select(widgets.c.name, widgets.c.qty).order_by(widgets.c.id)).all()
    assert [tuple(r) for r in rows] == [("bolt", 11), ("nut", 20), ("gear ⚙🙂", None)]


class Base(DeclarativeBase):
    pass


class Customer(Base):
    __tablename__ = "orm_customers"
    __table_args__ = {"schema": "dbo"}  # noqa: RUF012 - SQLAlchemy's declarative form
    id: Mapped[int] = mapped_column(Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(200))


def test_orm_round_trip(engine: Engine) -> None:
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([Customer(name="Ada", email="ada@example.com"), Customer(name="Linus", email=None)])
        session.commit()
        ada = session.scalars(select(Customer).where(Customer.name == "Ada")).one()
        assert ada.id is not None
        ada.email = "ada@contoso.example"
        session.commit()
        linus = session.scalars(select(Customer).where(Customer.email.is_(None))).one()
        session.delete(linus)
        session.commit()
    with Session(engine) as session:
        remaining = [(c.name, c.email) for c in session.scalars(select(Customer).order_by(Customer.id))]
    assert remaining == [("Ada", "ada@contoso.example")]
