"""SQLAlchemy engines wired the way SQLAlchemy's documentation says to connect to Azure SQL with an access token."""

from __future__ import annotations

from typing import Any

from sqlalchemy import URL, Engine, create_engine, event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.conftest import driver_path

from .support import SQL_COPT_SS_ACCESS_TOKEN, Clients, token_struct

TOKEN_URL = "https://database.windows.net/"


def url(clients: Clients, drivername: str) -> URL:
    query = {"driver": driver_path(), "Encrypt": "yes", "TrustServerCertificate": "no"}
    return URL.create(drivername, host=clients.host, port=clients.port, database="appdb", query=query)


def inject_token(engine: Engine, clients: Clients, identity: str) -> None:
    """The do_connect listener from "Connecting to databases with access tokens" (SQLAlchemy mssql dialect docs)."""
    from azure.identity import ManagedIdentityCredential

    azure_credentials = ManagedIdentityCredential(client_id=clients.client_id(identity))

    @event.listens_for(engine, "do_connect")
    def provide_token(dialect: Any, conn_rec: Any, cargs: list[Any], cparams: dict[str, Any]) -> None:
        del dialect, conn_rec  # the documented listener's signature
        # remove the "Trusted_Connection" parameter that SQLAlchemy adds
        # (mssql+pyodbc passes the connection string as cargs[0]; mssql+aioodbc as cparams["dsn"])
        if cargs:
            cargs[0] = cargs[0].replace(";Trusted_Connection=Yes", "")
        else:
            cparams["dsn"] = cparams["dsn"].replace(";Trusted_Connection=Yes", "")
        raw_token = azure_credentials.get_token(TOKEN_URL).token
        cparams["attrs_before"] = {SQL_COPT_SS_ACCESS_TOKEN: token_struct(raw_token)}


def sync_engine(clients: Clients, identity: str) -> Engine:
    import pyodbc

    pyodbc.pooling = False  # SQLAlchemy pools; ODBC-level pooling would hide logins from the counters
    engine = create_engine(url(clients, "mssql+pyodbc"), pool_pre_ping=True)
    inject_token(engine, clients, identity)
    return engine


def async_engine(clients: Clients, identity: str) -> AsyncEngine:
    import pyodbc

    pyodbc.pooling = False
    engine = create_async_engine(url(clients, "mssql+aioodbc"), pool_pre_ping=True)
    inject_token(engine.sync_engine, clients, identity)
    return engine
