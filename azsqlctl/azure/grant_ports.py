"""GrantPorts over the real driver: operator sessions per server and database, connection failures diagnosed."""

from __future__ import annotations

import threading

from azsqlctl.core.ports import TokenSource
from azsqlctl.core.settings import ConnectionSettings
from azsqlctl.core.target import parse_server

from .doctor_probes import diagnosed
from .driver import find_driver
from .sql import SqlSession, connect


class RealGrantPorts:
    def __init__(self, settings: ConnectionSettings, tokens: TokenSource | None = None) -> None:
        from . import wiring  # the composition root builds the credential (its tokens, unless given)

        self.settings = settings
        self.driver = find_driver(settings.driver)
        self.tokens = tokens or wiring.tokens(settings)
        self._lock = threading.Lock()

    def session(self, server: str, database: str) -> SqlSession:
        s = self.settings
        address = parse_server(server, s.cloud.sql_dns_suffix) if server else s.require_server()
        with self._lock:  # one token request even when many databases start at once
            token = self.tokens.token(s.cloud.sql_scope)
        # A refused port or an unknown name is diagnosed at once, as whoami and doctor say it (not HYT00 after the timeout).
        return diagnosed(
            s,
            lambda: connect(
                self.driver, address, database, token, timeout=s.timeout, strict=s.strict,
                trust_server_certificate=s.trust_server_certificate, ca_bundle=s.cloud.ca_bundle,
            ),
            SqlSession.close,
            server=address,
        )  # fmt: skip

    def databases(self, server: str) -> list[str]:
        session = self.session(server, "master")
        try:
            return [str(r["name"]) for r in session.query("SELECT name FROM sys.databases")]
        finally:
            session.close()
