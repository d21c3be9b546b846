"""The logical server behind the TDS listener: who may log in, and what batches return.

Checks run in the order Azure's gateway and engine apply them: public network
access, firewall, then the token (signature, audience, lifetime, tenant), then
the database and the principal's mapping to a contained user by SID.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

from ..arm.resourcegraph import Inventory
from ..entra.tokens import Issuer, TokenRejected
from ..faults import Faults
from ..monitor.audit import LoginEvent, Origin
from ..state import DbUser, SandboxState
from ..store import StateStore
from .engine.errors import SqlError
from .engine.results import ErrorMessage, StatementResult, TransactionChange
from .engine.session import SqlSession
from .engine.storage import Storage
from .security import login_messages as ae
from .security.firewall import admits
from .session_context import SessionContext
from .sqltypes import Param
from .tds.handshake import Login7
from .tds.session import TM_BEGIN_XACT, TM_COMMIT_XACT, TM_ROLLBACK_XACT, LoginOutcome
from .tds.wire import ConnectionClosed

FEDAUTH_SPN = "https://database.windows.net/"
RECENT_STATEMENTS = 256
RECENT_STATEMENT_CHARS = 8192

ENTRA_ONLY_TEXT = "Login failed for user '{user}'. Reason: Azure Active Directory only authentication is enabled. Please contact your system administrator."


class _Refused(Exception):
    def __init__(
        self,
        reason: str,
        number: int,
        audit_state: int,
        errors: tuple[ErrorMessage, ...],
        text: str,
        principal: str = "",
        severity: int = 14,
    ) -> None:
        super().__init__(text)
        self.reason, self.number, self.audit_state, self.errors, self.text, self.principal = (
            reason, number, audit_state, errors, text, principal,
        )  # fmt: skip
        self.severity = severity  # for the audit row's "Err N, Level M, State S" text


def principal_label(claims: dict[str, Any], state: SandboxState) -> str:
    """SUSER_SNAME() for a token login: the UPN for users, display name@tenant for apps.

    A token with no claims at all (garbage) names nobody: Azure audits it with an empty principal."""
    if not claims:
        return ""
    if claims.get("idtyp") == "user" or claims.get("upn"):
        return str(claims.get("upn") or claims.get("unique_name") or claims.get("oid", ""))
    ident = state.identity_by_client_id(str(claims.get("appid", "")))
    name = ident.name if ident else str(claims.get("appid", ""))
    return f"{name}@{claims.get('tid', '')}"


class SqlEndpoint:
    """Implements the TDS session Backend against the shared state."""

    def __init__(
        self, store: StateStore, issuer: Issuer, faults: Faults, sql_audiences: tuple[str, ...], fleet: Inventory | None = None
    ) -> None:
        self.store = store
        self.fleet = fleet if fleet is not None else Inventory()  # the other logical servers this listener also serves
        self.issuer = issuer
        self.faults = faults
        self.audiences = sql_audiences
        self.server_name = store.read(lambda s: s.server.name)
        self._lock = threading.Lock()
        # What ran, for tests that assert on it: the last RECENT_STATEMENTS requests, each cut at
        # RECENT_STATEMENT_CHARS, so a long-lived sandbox fed big batches does not grow with them.
        self.statements: list[tuple[str, str]] = []
        self.logins_ok = 0
        self.logins_failed = 0
        self._tran_ids = iter(range(1, 1 << 62))
        # user tables and each database's security state: beside the state file, in memory without one
        self.storage = Storage(store.path, store)
        for name in store.read(lambda s: [d.name for d in s.server.databases]):
            self.storage.security(name)  # seeded now (an older state file's users move to the data file), not at a login
        # FEDAUTHINFO for clients in the MSAL workflow. Azure sends its authority for the server's
        # tenant (https://login.windows.net/<tenant>); serve.py points it at the sandbox's own token
        # endpoint. The SPN is the SQL resource: managed-identity clients ask their endpoint for it.
        self.fedauth_sts_url = f"https://login.windows.net/{store.read(lambda s: s.tenant_id)}"
        self.fedauth_spn = FEDAUTH_SPN

    # --- login -------------------------------------------------------------------------------

    def login(self, login: Login7, spid: int, client_ip: str, encrypted: bool) -> LoginOutcome:
        del encrypted  # the session refuses unencrypted clients before LOGIN7
        state_snapshot: dict[str, Any] = {}
        database = login.database or "master"
        # The logical server the login is for (Azure's gateway routes by the name connected to): its audit rows carry
        # that server's name and resource id. The login itself is decided by the sandbox server's rules (one engine).
        fleet_server = self.fleet.login_server(login.servername, database)
        origin = Origin(fleet_server.name, fleet_server.subscription_id, fleet_server.resource_group) if fleet_server else None
        try:
            # The database's users, read before the state's lock is taken (the storage may seed from the state).
            security = self.storage.security(database)
            users = security.users if security is not None else []
            ctx = self.store.read(lambda s: self._decide(s, login, spid, client_ip, state_snapshot, users))
        except _Refused as refused:
            with self._lock:
                self.logins_failed += 1
            # Queued for the audit store's writer: no file I/O under the lock logins take.
            self.store.audit.append(
                LoginEvent(
                    event_time=time.time(),
                    succeeded=False,
                    principal=refused.principal,
                    database=database,
                    client_ip=state_snapshot.get("ip", client_ip),
                    application=login.appname,
                    host=login.hostname,
                    session_id=spid,
                    error=refused.number,
                    severity=refused.severity,
                    state=refused.audit_state,
                    message=refused.text,
                    origin=origin,
                )
            )
            return LoginOutcome(None, refused.errors)
        with self._lock:
            self.logins_ok += 1
        self.store.audit.append(
            LoginEvent(
                event_time=time.time(),
                succeeded=True,
                principal=ctx.principal,
                database=ctx.database,
                client_ip=ctx.client_ip,
                application=login.appname,
                host=login.hostname,
                session_id=spid,
                origin=origin,
            )
        )
        return LoginOutcome(ctx)

    def _refuse(self, s: SandboxState, reason: str, user: str = ae.TOKEN_PRINCIPAL, database: str = "", principal: str = "") -> _Refused:
        number, audit_state, not_configured = ae.LOGIN_REJECTIONS[reason]
        del s
        out: tuple[ErrorMessage, ...] = ()
        if number == ae.CANNOT_OPEN_DATABASE.number:
            text = ae.CANNOT_OPEN_DATABASE.render(database=database)
            out += (ErrorMessage(number, ae.CLIENT_STATE, ae.CANNOT_OPEN_DATABASE.severity, text),)
        suffix = ae.NOT_CONFIGURED_SUFFIX if not_configured else ""
        login_text = ae.LOGIN_FAILED.render(user=user, suffix=suffix)
        out += (ErrorMessage(18456, ae.CLIENT_STATE, ae.LOGIN_FAILED.severity, login_text),)
        severity = ae.CANNOT_OPEN_DATABASE.severity if number != 18456 else ae.LOGIN_FAILED.severity
        return _Refused(reason, number, audit_state, out, text if number != 18456 else login_text, principal, severity)

    def _gateway_error(self, s: SandboxState, message: ae.ServerMessage, audit_state: int, **fields: str) -> _Refused:
        text = message.render(**fields)
        del s
        error = ErrorMessage(message.number, ae.CLIENT_STATE, message.severity, text)
        return _Refused(str(message.number), message.number, audit_state, (error,), text, severity=message.severity)

    def _decide(self, s: SandboxState, login: Login7, spid: int, peer_ip: str, snap: dict[str, Any], users: list[DbUser]) -> SessionContext:
        server = s.server
        ip = s.client_ip or peer_ip
        snap["ip"] = ip
        database = login.database or "master"
        if server.public_network_access.lower() == "disabled":
            raise self._gateway_error(s, ae.PUBLIC_ACCESS_DENIED, 1)
        if not any(admits(r.start_ip, r.end_ip, ip) for r in server.firewall_rules):
            raise self._gateway_error(s, ae.FIREWALL_DENIED, 1, server=server.name, ip=ip)
        token = login.fedauth_token
        if token is None:  # SQL authentication attempt
            user = login.username
            text = ENTRA_ONLY_TEXT.format(user=user) if server.entra_only else ae.LOGIN_FAILED.render(user=user, suffix="")
            raise _Refused("sql_auth", 18456, 8, (ErrorMessage(18456, ae.CLIENT_STATE, 14, text),), text, user)
        if token == "":
            raise self._refuse(s, "malformed", user="")
        if server.vnet_rule_missing:
            raise self._gateway_error(s, ae.CANNOT_OPEN_SERVER, 1, server=server.name)
        # Azure SQL accepts tokens from the tenant of its Entra admin.
        tenant = server.entra_admin.tenant_id if server.entra_admin and server.entra_admin.tenant_id else s.tenant_id
        try:
            claims = self.issuer.verify(token, self.audiences, tenant)
        except TokenRejected as rejected:
            # A token the server cannot even parse identifies nobody: Azure names the user ''.
            user = "" if rejected.reason == "malformed" else ae.TOKEN_PRINCIPAL
            raise self._refuse(s, rejected.reason, user=user, principal=principal_label(rejected.claims, s)) from rejected
        label = principal_label(claims, s)
        if server.entra_admin is None:
            raise self._refuse(s, "no_entra_admin", principal=label)
        if self.faults.take("tds", {"unavailable"}, database):
            raise self._gateway_error(s, ae.DATABASE_UNAVAILABLE, 1, database=database, server=server.name, trace=str(uuid.uuid4()).upper())
        if fault := self.faults.take("tds", {"login_error"}, database):
            message = ae.BY_NUMBER[fault.number]
            trace = str(uuid.uuid4()).upper()
            raise self._gateway_error(s, message, 1, database=database, server=server.name, trace=trace, incident=trace, code=str(0x4001))
        db = server.database(database)
        if database.lower() != "master" and db is None:
            raise self._refuse(s, "database_missing", database=database, principal=label)
        if db is not None and not db.available:
            raise self._gateway_error(s, ae.DATABASE_UNAVAILABLE, 1, database=database, server=server.name, trace=str(uuid.uuid4()).upper())
        candidates = {str(claims.get("appid" if claims.get("idtyp") == "app" else "oid", "")).lower()}
        candidates |= {str(g).lower() for g in claims.get("groups", [])}
        admin = server.entra_admin
        if admin.sid.lower() in candidates:
            user = "dbo"
        elif db is None:  # master: contained users cannot log in there
            raise self._refuse(s, "no_user", principal=label)
        else:
            match = next((u for u in users if u.sid.lower() in candidates and u.type in ("E", "X")), None)
            if match is None:
                raise self._refuse(s, "no_user", principal=label)
            user = match.name
        ctx = SessionContext(spid, ip, db.name if db else "master", principal=label)
        ctx.extra["user"] = user
        return ctx

    # --- requests ----------------------------------------------------------------------------

    def _session(self, ctx: SessionContext) -> SqlSession:
        """The session's SQL side, opened on its first request (one SQLite connection per TDS session)."""
        session = ctx.extra.get("sql")
        if not isinstance(session, SqlSession):
            session = SqlSession(self.store, self.storage, self.server_name, self._new_tran_id, ctx)
            ctx.extra["sql"] = session
        return session

    def _new_tran_id(self) -> bytes:
        with self._lock:
            return next(self._tran_ids).to_bytes(8, "little")

    def batch(self, ctx: SessionContext, sql: str) -> list[StatementResult]:
        self._request_faults()
        self._remember(ctx, sql)
        found, _ok = self._session(ctx).run(sql)
        return found

    def execute(self, ctx: SessionContext, sql: str, params: Sequence[Param]) -> tuple[list[StatementResult], bool]:
        """sp_executesql / sp_prepexec / sp_execute: parameters bound by name as values; statements end in DONEINPROC."""
        self._request_faults()
        self._remember(ctx, sql)
        return self._session(ctx).run(sql, params)

    def _remember(self, ctx: SessionContext, sql: str) -> None:
        with self._lock:
            self.statements.append((ctx.database, sql[:RECENT_STATEMENT_CHARS]))
            del self.statements[:-RECENT_STATEMENTS]

    def transaction(self, ctx: SessionContext, request: int, begin_new: bool) -> StatementResult:
        session = self._session(ctx)
        out: list[TransactionChange | None] = []
        if request == TM_BEGIN_XACT:
            out.append(session.begin())
        elif request in (TM_COMMIT_XACT, TM_ROLLBACK_XACT):
            if request == TM_COMMIT_XACT:
                # The driver's commit ends the transaction whatever its nesting, as SQL Server's TM commit does.
                session.trancount = min(session.trancount, 1) or 1
                try:
                    out.append(session.commit())
                except SqlError as exc:  # the commit failed and rolled the transaction back (40197): both, as for a batch
                    events = tuple(c for c in (session.take_failed_commit(),) if c is not None)
                    return StatementResult(events=events, error=ErrorMessage(exc.number, exc.state, exc.severity, exc.message))
            else:
                out.append(session.rollback())
            if begin_new:
                out.append(session.begin())
        return StatementResult(events=tuple(change for change in out if change is not None))

    def reset(self, ctx: SessionContext) -> None:
        """RESETCONNECTION (a pooled connection handed to its next user): roll back open work, reset session options.

        RESETCONNECTIONSKIPTRAN (``ctx.extra["reset_keeps_transaction"]``) keeps the open transaction."""
        session = ctx.extra.get("sql")
        if isinstance(session, SqlSession):
            session.reset(keep_transaction=bool(ctx.extra.get("reset_keeps_transaction")))

    def disconnected(self, ctx: SessionContext | None) -> None:
        # A lost connection discards the session, and with it any uncommitted work.
        session = ctx.extra.pop("sql", None) if ctx is not None else None
        if isinstance(session, SqlSession):
            session.close()

    def _request_faults(self) -> None:
        fault = self.faults.take("tds", {"delay", "drop_request"})
        # A dropped connection discards the session, and with it any uncommitted working copy.
        if fault is None:
            return
        if fault.kind == "delay":
            self.faults.sleep(fault.delay)
        else:
            raise ConnectionClosed("fault injection: connection dropped mid-request")

    def session_fault(self, point: str) -> None:
        """Hook the session calls at 'handshake' (before TLS) and 'login' (before LOGIN7 is answered)."""
        if point == "accept":
            fault = self.faults.take("tds", {"accept_delay"})
            if fault is not None:
                self.faults.sleep(fault.delay)  # network latency before the first byte is answered
        if point == "handshake" and self.faults.take("tds", {"drop_handshake"}):
            raise ConnectionClosed("fault injection: dropped during handshake")
        if point == "login":
            fault = self.faults.take("tds", {"stall", "delay"})
            if fault is not None:
                self.faults.sleep(fault.delay)
