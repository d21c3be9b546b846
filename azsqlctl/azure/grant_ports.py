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
        self._reached: set[str] = set()  # servers a login has succeeded on: their DNS and port are known good

    def session(self, server: str, database: str) -> SqlSession:
        s = self.settings
        address = parse_server(server, s.cloud.sql_dns_suffix) if server else s.require_server()
        with self._lock:  # one token request even when many databases start at once
            token = self.tokens.token(s.cloud.sql_scope)

        def login() -> SqlSession:
            return connect(
                self.driver, address, database, token, timeout=s.timeout, strict=s.strict,
                trust_server_certificate=s.trust_server_certificate, ca_bundle=s.cloud.ca_bundle,
            )  # fmt: skip

        key = address.display.lower()
        if key in self._reached:  # a fleet of 20 databases a server probes each server once, not 20 times
            return login()
        # A refused port or an unknown name is diagnosed at once, as whoami and doctor say it (not HYT00 after the timeout).
        session = diagnosed(s, login, SqlSession.close, server=address)
        self._reached.add(key)
        return session

    def databases(self, server: str) -> list[str]:
        session = self.session(server, "master")
        try:
            return [str(r["name"]) for r in session.query("SELECT name FROM sys.databases")]
        finally:
            session.close()
