"""ODBC driver discovery and token connections through pyodbc (imported lazily).

The connection string never carries UID, PWD, Authentication or
Trusted_Connection: the token goes in attrs_before, and the driver refuses the
combination anyway (FA005).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import ssl
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from azsqlctl.core.connstr import braced
from azsqlctl.core.errors import AzsqlctlError, ConnectionFailed
from azsqlctl.core.ports import AccessToken, Row
from azsqlctl.core.redact import redact
from azsqlctl.core.settings import ConnectionSettings
from azsqlctl.core.target import ServerAddress

from .driver import Driver, find_driver, import_pyodbc

SQL_COPT_SS_ACCESS_TOKEN = 1256
FORBIDDEN_KEYWORDS = ("uid", "pwd", "user id", "password", "authentication", "trusted_connection")
_env_lock = threading.Lock()
log = logging.getLogger("azsqlctl.sql")


def connection_string(
    driver: Driver,
    server: ServerAddress,
    database: str,
    *,
    strict: bool = False,
    trust_server_certificate: bool = False,
    app: str = "azsqlctl",
    extra: str = "",
) -> str:
    parts = [
        f"DRIVER={braced(driver.spec)}",
        f"SERVER={server.odbc_server}",
        f"DATABASE={braced(database)}",
        f"Encrypt={'strict' if strict else 'yes'}",
        f"TrustServerCertificate={'yes' if trust_server_certificate and not strict else 'no'}",
        f"APP={braced(app)}",
    ]
    if extra:
        parts.append(extra.strip(";"))  # an application's own keywords, tested as it uses them
    return ";".join(parts) + ";"


def check_connection_string(conn_str: str) -> None:
    """Refuse what the driver would refuse later with FA005, with a better message."""
    from azsqlctl.core.connstr import parse

    keys = {key.strip().lower() for key, _value in parse(conn_str)}  # the one parser: braced values may hold ";"
    clash = sorted(keys & set(FORBIDDEN_KEYWORDS))
    if clash:
        raise AzsqlctlError(
            f"connection string has {', '.join(clash)} alongside an access token",
            "remove UID/PWD/Authentication/Trusted_Connection: the token alone authenticates (the driver says FA005)",
            code="FA005",
        )


def trust_ca_for_driver(ca_bundle: str) -> None:
    """Make the driver's OpenSSL trust ``ca_bundle``.

    SSL_CERT_FILE replaces only OpenSSL's default CA *file*; the system roots stay
    reachable through its hashed certificate directory. A combined file would work
    too, but the driver re-reads it on every connection (~50 ms for 140 roots).
    """
    ca = Path(ca_bundle)
    if not ca.is_file():
        raise ConnectionFailed(f"CA bundle '{ca_bundle}' does not exist", "pass --ca-bundle with a PEM file")
    with _env_lock:
        os.environ["SSL_CERT_FILE"] = str(ca.resolve())  # read by the driver's OpenSSL at handshake time
        if not os.environ.get("SSL_CERT_DIR"):
            capath = ssl.get_default_verify_paths().capath or ssl.get_default_verify_paths().openssl_capath
            if capath and Path(capath).is_dir():
                os.environ["SSL_CERT_DIR"] = capath


class _Cursor(Protocol):
    """What SqlSession uses of a pyodbc cursor (pyodbc ships no types: its objects are Any until here)."""

    @property
    def description(self) -> Sequence[Sequence[object]] | None: ...
    def execute(self, sql: str, *params: object) -> object: ...
    def fetchall(self) -> Sequence[Sequence[object]]: ...
    def close(self) -> None: ...


class _Connection(Protocol):
    def cursor(self) -> _Cursor: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...


class SqlSession:
    """A pyodbc connection made with a token; rows come back as dicts."""

    def __init__(self, connection: _Connection) -> None:
        self._cnxn = connection

    def query(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        cursor = self._cnxn.cursor()
        try:
            cursor.execute(sql, *params)
            names = [str(c[0]) for c in cursor.description or []]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        except self._errors() as exc:
            raise sql_failure(exc) from None
        finally:
            with contextlib.suppress(Exception):
                cursor.close()

    def execute(self, sql: str) -> None:
        """One statement inside the open transaction (pyodbc runs with autocommit off)."""
        cursor = self._cnxn.cursor()
        try:
            cursor.execute(sql)
        except self._errors() as exc:
            raise sql_failure(exc) from None
        finally:
            with contextlib.suppress(Exception):
                cursor.close()

    def applock(self, resource: str, timeout_ms: int) -> int:
        """sp_getapplock inside the open transaction (pyodbc runs with autocommit off): released when it ends."""
        rows = self.query(
            "DECLARE @rc int; EXEC @rc = sys.sp_getapplock @Resource = ?, @LockMode = 'Exclusive', "
            "@LockOwner = 'Transaction', @LockTimeout = ?; SELECT @rc AS rc",
            (resource, timeout_ms),
        )
        rc = rows[0]["rc"]
        assert isinstance(rc, int), rc  # the batch's own SELECT of an int variable
        return rc

    def commit(self) -> None:
        try:
            self._cnxn.commit()
        except self._errors() as exc:
            raise sql_failure(exc) from None

    def rollback(self) -> None:
        try:
            self._cnxn.rollback()
        except self._errors() as exc:
            raise sql_failure(exc) from None

    @staticmethod
    def _errors() -> type[Exception]:
        return import_pyodbc().Error  # type: ignore[no-any-return]

    def close(self) -> None:
        # Closing a dead connection must not mask the error that killed it.
        with contextlib.suppress(Exception):
            self._cnxn.close()

    def __enter__(self) -> SqlSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(
    driver: Driver,
    server: ServerAddress,
    database: str,
    token: AccessToken,
    *,
    timeout: int = 15,
    strict: bool = False,
    trust_server_certificate: bool = False,
    ca_bundle: str = "",
    extra: str = "",
    precheck: bool = True,
) -> SqlSession:
    """``precheck=False`` lets the driver itself refuse a bad combination (doctor wants its words)."""
    pyodbc = import_pyodbc()
    conn_str = connection_string(driver, server, database, strict=strict, trust_server_certificate=trust_server_certificate, extra=extra)
    if precheck:
        check_connection_string(conn_str)
    if ca_bundle:
        trust_ca_for_driver(ca_bundle)
    # The token travels in attrs_before; an application's string (doctor --connection-string) may hold a password.
    log.debug("connecting: driver %s (%s), %s, login timeout %ss", driver.spec, driver.source, redact(conn_str), timeout)
    try:
        cnxn = pyodbc.connect(conn_str, attrs_before={SQL_COPT_SS_ACCESS_TOKEN: token.odbc_struct()}, timeout=max(1, timeout))
    except pyodbc.Error as exc:
        failure = sql_failure(exc)
        # the driver could not reach the server (DNS, TCP, TLS, login timeout; no server error number): name it
        if isinstance(failure, ConnectionFailed) and not failure.details.get("number"):
            failure.message += f" - SQL server {server.display}"
            failure.details["server"] = server.display
        raise failure from None
    return SqlSession(cnxn)


@dataclass(frozen=True)
class DriverMessage:
    sqlstate: str
    number: int | None
    text: str  # the server's (or driver's) message without the [Microsoft][ODBC ...] prefixes


def parse_driver_error(exc: BaseException) -> DriverMessage:
    args: tuple[object, ...] = tuple(getattr(exc, "args", ()))
    sqlstate = str(args[0]) if args else ""
    message = str(args[1]) if len(args) > 1 else str(exc)
    first = message.split("; [")[0]
    numbers = re.findall(r"\((-?\d+)\)", first)
    text = re.sub(r"^(\[[^\]]*\]\s*)+", "", first)
    text = re.sub(r"\s*\(-?\d+\)\s*(\(SQL\w+\))?\s*$", "", text).strip()
    return DriverMessage(sqlstate, int(numbers[0]) if numbers else None, text)


def sql_failure(exc: BaseException) -> AzsqlctlError:
    """Turn a pyodbc error into the hierarchy; doctor explains it further."""
    from azsqlctl.core.diagnosis import classify

    msg = parse_driver_error(exc)
    error_cls, hint = classify(msg.sqlstate, msg.number, msg.text)
    details = {"sqlstate": msg.sqlstate, "number": msg.number, "server_message": msg.text}
    text = f"[{msg.sqlstate}] {msg.text}" + (f" ({msg.number})" if msg.number else "")
    return error_cls(text, hint, code=str(msg.number or msg.sqlstate), details=details)


class DriverConnector:
    """Connector for core logic: the settings' server, driver and TLS options, one database per call."""

    def __init__(self, settings: ConnectionSettings, extra: str = "", precheck: bool = True) -> None:
        self.settings = settings
        self.driver = find_driver(settings.driver)
        self.extra = extra
        self.precheck = precheck

    def connect(self, database: str, token: AccessToken) -> SqlSession:
        s = self.settings
        return connect(
            self.driver, s.require_server(), database, token, timeout=s.timeout, strict=s.strict,
            trust_server_certificate=s.trust_server_certificate, ca_bundle=s.cloud.ca_bundle,
            extra=self.extra, precheck=self.precheck,
        )  # fmt: skip
