"""core/doctor/checks.py: doctor's checks over in-memory probes (a DoctorProbes written here: no driver, no
network, no Azure) - what each check concludes, the facts it hands on, how a failed login is explained with what
the other checks learned (the audit log included), and the report's exit code and fixes."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pytest

from azsqlctl.core import jwt
from azsqlctl.core.config import FileConfig
from azsqlctl.core.doctor import checks as ck
from azsqlctl.core.doctor.checks import DoctorContext, DoctorOptions, DoctorReport, Facts, Fix
from azsqlctl.core.doctor.schedule import CheckResult, Outcome, Status, Stop
from azsqlctl.core.effective_access import IDENTITY_SQL, MY_PERMISSIONS_SQL, PRINCIPALS_SQL, ROLE_MEMBERS_SQL
from azsqlctl.core.errors import AuthenticationError, AzsqlctlError, ConnectionFailed, DriverNotFound, ExitCode
from azsqlctl.core.logs.audit_rows import AuditEvent, EventKind
from azsqlctl.core.logs.recent import AuditLookup
from azsqlctl.core.logs.setup import AuditingOff
from azsqlctl.core.ports import (
    AccessToken,
    CertificateFacts,
    DnsFacts,
    DriverInfo,
    FirewallRuleFacts,
    PreloginFacts,
    QuerySession,
    Row,
    ServerFacts,
)
from azsqlctl.core.settings import SettingsInput, resolve_settings

APP = "3df2c823-e175-47f3-b35a-63b70bc7f673"
SUB = "65221fc5-c868-5287-9e39-cdc31a7384e0"
OID = "8f0b4f1e-2a3c-4d5e-9f10-abcdef012345"
TID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
HOST = "srv.database.windows.net"
T = TypeVar("T")


def jwt_text(**claims: object) -> str:
    now = int(time.time())
    body = {"aud": "https://database.windows.net/", "tid": TID, "oid": OID, "appid": APP, "idtyp": "app", "exp": now + 3600,
            "nbf": now, **claims}  # fmt: skip
    return ".".join(jwt.b64url_encode(json.dumps(p).encode()) for p in ({"alg": "RS256"}, body)) + ".c2ln"


class Session:
    def __init__(self, roles: Sequence[str] = ("db_datareader",), permissions: Sequence[str] = ("CONNECT", "SELECT")) -> None:
        self.roles, self.permissions, self.closed = roles, permissions, False

    def query(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        if sql == IDENTITY_SQL:
            version = "Microsoft SQL Azure (RTM) - 12.0.2000.8 \n\tJul  3 2024 \n"
            return [{"login_name": APP, "user_name": "orders-api", "database_name": "appdb", "version": version}]
        if sql == PRINCIPALS_SQL:
            return [{"name": "orders-api", "principal_id": 5}, *({"name": r, "principal_id": 100 + i} for i, r in enumerate(self.roles))]
        if sql == ROLE_MEMBERS_SQL:
            return [{"role_principal_id": 100 + i, "member_principal_id": 5} for i in range(len(self.roles))]
        if sql == MY_PERMISSIONS_SQL:
            return [{"permission_name": p} for p in self.permissions]
        raise AssertionError(sql)

    def close(self) -> None:
        self.closed = True


HEALTHY_SERVER = ServerFacts(
    name="srv", fqdn=HOST, public_network_access="Enabled", minimal_tls_version="1.2", admin_login="sql-admins", admin_sid="x",
    admin_type="Group", admin_tenant=TID, entra_only=True, identity_type="SystemAssigned",
    firewall_rules=[FirewallRuleFacts("office", "203.0.113.0", "203.0.113.255")], database_exists=True,
)  # fmt: skip


def server_facts(admin_login: str = "sql-admins", admin_tenant: str = TID) -> ServerFacts:
    return replace(HEALTHY_SERVER, admin_login=admin_login, admin_tenant=admin_tenant)


class Audit(AuditLookup):
    """The audited failures doctor asks for, in memory (the Monitor ports are not involved)."""

    def __init__(self, answer: list[AuditEvent] | AzsqlctlError) -> None:  # no super().__init__: no Monitor config here
        self.answer = answer
        self.asked: list[list[str]] = []

    def recent_failures(self, principals: Sequence[str], now: datetime | None = None, limit: int = 50) -> list[AuditEvent]:
        self.asked.append(list(principals))
        if isinstance(self.answer, AzsqlctlError):
            raise self.answer
        return self.answer


class Probes:
    def __init__(self) -> None:
        self.driver_info: DriverInfo | AzsqlctlError = DriverInfo("ODBC Driver 18 for SQL Server", "pyodbc.drivers()", "18.6")
        self.token_result: AccessToken | AzsqlctlError = AccessToken(jwt_text(), 0, "ManagedIdentityCredential", 12.34)
        self.dns: DnsFacts | AzsqlctlError = DnsFacts(HOST, ["10.0.0.5"], [], 1.0, "system")
        self.tcp_ms: float | AzsqlctlError = 3.21
        self.prelogin = PreloginFacts("12.0.2000", 1, True)
        self.cert = CertificateFacts(f"CN={HOST}", [HOST], "CN=CA", 90, "TLSv1.3", "", True)
        self.tls_error: AzsqlctlError | None = None
        self.session: Session | AzsqlctlError = Session()
        self.server: ServerFacts | AzsqlctlError = server_facts()
        self.principals: list[Row] | None = [{"name": "orders-api", "sid": b"\x01"}]
        self.audit: Audit | None = None
        self.calls: list[tuple[str, ...]] = []

    @staticmethod
    def _give(value: T | AzsqlctlError) -> T:
        if isinstance(value, AzsqlctlError):
            raise value
        return value

    def driver(self) -> DriverInfo:
        return self._give(self.driver_info)

    def token(self, scope: str) -> AccessToken:
        self.calls.append(("token", scope))
        return self._give(self.token_result)

    def resolve(self, host: str) -> DnsFacts:
        return self._give(self.dns)

    def tcp(self, address: str, port: int) -> float:
        self.calls.append(("tcp", address, str(port)))
        return self._give(self.tcp_ms)

    def tls(self, address: str, port: int, host: str) -> tuple[PreloginFacts, CertificateFacts, float]:
        if self.tls_error is not None:
            raise self.tls_error
        return self.prelogin, self.cert, 4.56

    def connect(self, database: str, token: AccessToken) -> QuerySession:
        self.calls.append(("connect", database))
        return self._give(self.session)

    def server_facts(self, resource_group: str, server_name: str, host: str, database: str) -> ServerFacts:
        self.calls.append(("arm", resource_group, server_name, host, database))
        return self._give(self.server)

    def inspect_principals(self, database: str) -> list[Row] | None:
        self.calls.append(("inspect", database))
        return self.principals

    def audit_lookup(self) -> AuditLookup | None:
        self.calls.append(("audit",))
        return self.audit


def options(tmp_path: Path, arm: bool = True, inspect: bool = False, flags: dict[str, str] | None = None) -> DoctorOptions:
    given = {"server": "srv", "database": "appdb", **({"subscription": SUB, "resource_group": "rg"} if arm else {}), **(flags or {})}
    settings = resolve_settings(SettingsInput(**given), {}, tmp_path, FileConfig(None, {}))  # type: ignore[arg-type]
    return DoctorOptions(settings, client_ip="203.0.113.9", inspect=inspect)


def context(tmp_path: Path, probes: Probes, arm: bool = True, flags: dict[str, str] | None = None) -> DoctorContext:
    opts = options(tmp_path, arm, flags=flags)
    return DoctorContext(opts, probes, opts.settings.require_server())


def by_id(report: DoctorReport) -> dict[str, CheckResult]:
    return {c.id: c for c in report.checks}


# --- a healthy run -------------------------------------------------------------------------------


def test_a_healthy_run_passes_every_check_and_closes_the_session(tmp_path: Path) -> None:
    probes = Probes()
    report = ck.doctor(options(tmp_path), probes)
    checks = by_id(report)
    assert [c.status for c in report.checks] == [Status.PASS] * 9 and report.count(Status.PASS) == 9 and report.count(Status.FAIL) == 0
    assert (report.exit_code, report.error, report.fixes) == (ExitCode.OK, None, ())
    assert isinstance(probes.session, Session) and probes.session.closed
    assert ("token", "https://database.windows.net/.default") in probes.calls
    assert ("arm", "rg", "srv", HOST, "appdb") in probes.calls and ("connect", "appdb") in probes.calls
    assert ("audit",) not in probes.calls and ("inspect", "appdb") not in probes.calls  # only to explain a failed login
    assert checks["driver"].finding == "ODBC Driver 18.6 (pyodbc.drivers())"
    assert checks["driver"].evidence == {"driver": "ODBC Driver 18 for SQL Server", "source": "pyodbc.drivers()", "version": "18.6"}
    assert checks["credential"].finding == "ManagedIdentityCredential produced a token in 12 ms"
    assert checks["credential"].evidence == {"credential": "ManagedIdentityCredential", "ms": 12.3, "auth": "default", "skipped": []}
    assert checks["tcp"].finding == "connected to 10.0.0.5:1433 in 3 ms"
    assert checks["tcp"].evidence == {"address": "10.0.0.5", "port": 1433, "ms": 3.2}
    assert checks["tls"].finding.startswith("TDS server 12.0.2000, encryption on, FEDAUTHREQUIRED yes; TLSv1.3, certificate")
    assert {k: checks["tls"].evidence[k] for k in ("server_version", "encryption", "fedauth_required", "ms")} == {
        "server_version": "12.0.2000", "encryption": "on", "fedauth_required": True, "ms": 4.6,
    }  # fmt: skip
    assert checks["tls"].evidence["tls_version"] == "TLSv1.3"  # the judgment's evidence kept
    assert checks["login"].finding == f"logged in to appdb as {APP} (user orders-api)"
    assert checks["login"].evidence == {
        "suser_sname": APP, "user_name": "orders-api", "db_name": "appdb", "server_version": "Microsoft SQL Azure (RTM) - 12.0.2000.8",
    }  # fmt: skip
    assert checks["permissions"].finding == "roles: db_datareader; permissions: CONNECT, SELECT"
    assert checks["permissions"].evidence == {"roles": ["db_datareader"], "permissions": ["CONNECT", "SELECT"]}
    assert report.identity is not None and report.identity.client_id == APP
    assert report.name == "" and report.identity_name == ""
    assert report.as_dict() == {
        "checks": [c.as_dict() for c in report.checks], "identity": {**report.identity.as_dict(), "name": ""}, "fixes": [],
    }  # fmt: skip


def test_the_chain_links_tried_before_the_token_are_evidence(tmp_path: Path) -> None:
    probes = Probes()
    probes.token_result = AccessToken(jwt_text(), 0, "AzureCliCredential", 1.0, (("EnvironmentCredential", "not configured"),))
    outcome, facts = ck.check_credential(context(tmp_path, probes))
    assert outcome.evidence["skipped"] == ["EnvironmentCredential: not configured"]
    assert facts is not None and facts.token is probes.token_result


def test_the_token_check_hands_on_the_identity_and_its_name(tmp_path: Path) -> None:
    probes = Probes()
    ctx = context(tmp_path, probes)
    ctx.token = AccessToken(jwt_text(idtyp="user", upn="ann@contoso.com", oid="5f1d6a3e-0000-4000-8000-000000000001"), 0, "c", 1)
    outcome, facts = ck.check_token(ctx)
    assert outcome.status == Status.PASS
    assert facts is not None and facts.identity is not None and facts.identity.kind == "user"
    assert facts.identity_name == "ann@contoso.com"


# --- the driver ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "status", "finding", "fix"),
    [
        ("18", Status.PASS, "ODBC Driver 18 (pyodbc.drivers())", ""),
        ("17.3", Status.WARN, "ODBC Driver 17.3 works; 18 is current (Encrypt=yes by default, TDS 8.0)", "install ODBC Driver 18 for SQL Server"),
        ("17.10.5", Status.WARN, "ODBC Driver 17.10.5 works; 18 is current (Encrypt=yes by default, TDS 8.0)", "install ODBC Driver 18 for SQL Server"),
        ("17.2", Status.FAIL, "17.2: access tokens need ODBC Driver 17.3 or later", "install ODBC Driver 18 for SQL Server"),
        ("17", Status.FAIL, "17: access tokens need ODBC Driver 17.3 or later", "install ODBC Driver 18 for SQL Server"),
        ("13.1", Status.FAIL, "13.1: access tokens need ODBC Driver 17.3 or later", "install ODBC Driver 18 for SQL Server"),
        ("unknown", Status.FAIL, "unknown: access tokens need ODBC Driver 17.3 or later", "install ODBC Driver 18 for SQL Server"),
    ],
)  # fmt: skip
def test_driver_versions(tmp_path: Path, version: str, status: Status, finding: str, fix: str) -> None:
    probes = Probes()
    probes.driver_info = DriverInfo("d", "pyodbc.drivers()", version)
    outcome, facts = ck.check_driver(context(tmp_path, probes))
    assert (outcome.status, outcome.finding, outcome.fix, facts) == (status, finding, fix, None)
    assert outcome.evidence == {"driver": "d", "source": "pyodbc.drivers()", "version": version}


def test_no_driver_is_fatal_with_exit_5(tmp_path: Path) -> None:
    probes = Probes()
    missing = DriverNotFound("no ODBC driver for SQL Server", "install msodbcsql18")
    probes.driver_info = missing
    report = ck.doctor(options(tmp_path), probes)
    driver = by_id(report)["driver"]
    assert (driver.status, driver.finding, driver.fix, driver.code) == (
        Status.FAIL,
        "no ODBC driver for SQL Server",
        "install msodbcsql18",
        "driver_not_found",
    )
    assert (report.exit_code, report.error) == (ExitCode.NOT_FOUND, missing)
    assert by_id(report)["login"].finding == "skipped: odbc driver failed"
    assert report.fixes == (Fix("driver", "install msodbcsql18"),)


# --- the credential ------------------------------------------------------------------------------


def test_an_entra_refusal_is_explained_and_fatal(tmp_path: Path) -> None:
    probes = Probes()
    refusal = AuthenticationError(
        "EnvironmentCredential: AADSTS7000215: Invalid client secret provided.",
        "check AZURE_CLIENT_SECRET",
        details={"aadsts": "AADSTS7000215", "entra": {"code": "AADSTS7000215"}, "client_id": APP, "secret_hint": "abc"},
    )
    probes.token_result = refusal
    report = ck.doctor(options(tmp_path), probes)
    cred = by_id(report)["credential"]
    assert cred.status == Status.FAIL and cred.code == "AADSTS7000215"
    assert cred.finding == (
        "EnvironmentCredential: AADSTS7000215: Invalid client secret provided. - "
        f"the client secret sent for app {APP} is not one of its secrets (it starts 'abc')"
    )
    assert cred.fix.startswith("use the secret's value (not its id) in AZURE_CLIENT_SECRET")
    assert cred.evidence == refusal.details
    assert (report.exit_code, report.error) == (ExitCode.AUTHENTICATION, refusal)
    assert by_id(report)["token"].finding == "skipped: credential failed"
    assert by_id(report)["server"].status == Status.PASS  # ARM was read with its own credential


def test_the_configured_client_id_explains_when_entra_names_none(tmp_path: Path) -> None:
    probes = Probes()
    probes.token_result = AuthenticationError("refused", "h", details={"entra": {"code": "AADSTS700016"}, "client_id": "ignored"})
    ctx = context(tmp_path, probes)
    outcome, _ = ck.check_credential(ctx)
    assert outcome.finding == "refused - the application ignored is not registered in this tenant"
    ctx = DoctorContext(options(tmp_path, flags={"client_id": APP}), probes, ctx.server)
    outcome, _ = ck.check_credential(ctx)
    assert outcome.finding == f"refused - the application {APP} is not registered in this tenant"


def test_an_unexplained_refusal_keeps_the_errors_hint_and_code(tmp_path: Path) -> None:
    probes = Probes()
    unreachable = ConnectionFailed("the token endpoint did not answer", "check the network", code="token_endpoint")
    probes.token_result = unreachable
    outcome, facts = ck.check_credential(context(tmp_path, probes))
    assert (outcome.status, outcome.finding, outcome.fix, outcome.code, outcome.evidence) == (
        Status.FAIL, "the token endpoint did not answer", "check the network", "token_endpoint", {},
    )  # fmt: skip
    assert facts == Facts(fatal=unreachable)
    report = ck.doctor(options(tmp_path), probes)
    assert report.exit_code == ExitCode.CONNECTION  # the fatal error's own exit code
    unknown = AuthenticationError("refused", "h", details={"entra": {"code": "AADSTS1"}})
    probes.token_result = unknown
    outcome, _ = ck.check_credential(context(tmp_path, probes))
    assert (outcome.finding, outcome.fix) == ("refused", "h")
    probes.token_result = AuthenticationError("refused", "h", details={"entra": "not a dict"})
    assert ck.check_credential(context(tmp_path, probes))[0].finding == "refused"


# --- the network ---------------------------------------------------------------------------------


class StepError(ConnectionFailed):
    step = "tls"


def test_network_failures_stop_with_the_probes_step_or_the_checks_code(tmp_path: Path) -> None:
    probes = Probes()
    probes.dns = ConnectionFailed("srv does not resolve", "check the name")
    with pytest.raises(Stop) as dns:
        ck.check_dns(context(tmp_path, probes))
    assert dns.value.outcome == Outcome(Status.FAIL, "srv does not resolve", fix="check the name", code="DNS")
    ctx = context(tmp_path, probes)
    ctx.addresses = ("10.0.0.5",)
    probes.tcp_ms = ConnectionFailed("refused", "open 1433")
    with pytest.raises(Stop) as tcp:
        ck.check_tcp(ctx)
    assert tcp.value.outcome.code == "TCP" and tcp.value.outcome.fix == "open 1433"
    probes.tls_error = ConnectionFailed("handshake", "")
    with pytest.raises(Stop) as tls:
        ck.check_tls(ctx)
    assert tls.value.outcome.code == "08001"
    probes.tls_error = StepError("handshake", "")
    with pytest.raises(Stop) as step:
        ck.check_tls(ctx)
    assert step.value.outcome.code == "TLS"


def test_dns_hands_on_the_addresses_tcp_uses_the_first(tmp_path: Path) -> None:
    probes = Probes()
    probes.dns = DnsFacts(HOST, ["10.0.0.7", "10.0.0.8"], [], 1.0, "system")
    ctx = context(tmp_path, probes)
    outcome, facts = ck.check_dns(ctx)
    assert outcome.status == Status.PASS and facts == Facts(addresses=("10.0.0.7", "10.0.0.8"))
    ck.merge(ctx, facts)
    ck.check_tcp(ctx)
    assert probes.calls[-1] == ("tcp", "10.0.0.7", "1433")


@pytest.mark.parametrize(("byte", "name"), [(0, "off"), (1, "on"), (2, "not supported"), (3, "required"), (0x20, "0x20")])
def test_the_encryption_byte_in_words(tmp_path: Path, byte: int, name: str) -> None:
    probes = Probes()
    probes.prelogin = PreloginFacts("16.0", byte, False)
    ctx = context(tmp_path, probes)
    ctx.addresses = ("10.0.0.5",)
    outcome, facts = ck.check_tls(ctx)
    assert outcome.finding.startswith(f"TDS server 16.0, encryption {name}, FEDAUTHREQUIRED no; ") and facts is None
    assert outcome.evidence["encryption"] == name


# --- ARM -----------------------------------------------------------------------------------------


def test_no_arm_scope_skips_the_server_check(tmp_path: Path) -> None:
    reason = "skipped: no ARM scope; pass --subscription and --resource-group (or AZSQLCTL_SUBSCRIPTION / AZSQLCTL_RESOURCE_GROUP)"
    assert ck.no_arm_scope(context(tmp_path, Probes(), arm=False)) == reason
    assert ck.no_arm_scope(context(tmp_path, Probes(), arm=False, flags={"resource_group": "rg"})) == reason
    assert ck.no_arm_scope(context(tmp_path, Probes(), arm=False, flags={"subscription": SUB})) == reason
    assert ck.no_arm_scope(context(tmp_path, Probes())) == ""
    probes = Probes()
    report = ck.doctor(options(tmp_path, arm=False), probes)
    assert (by_id(report)["server"].status, by_id(report)["server"].finding) == (Status.SKIP, reason)
    assert not any(c[0] == "arm" for c in probes.calls) and report.exit_code == ExitCode.OK


def test_the_server_check_judges_what_arm_said(tmp_path: Path) -> None:
    probes = Probes()
    probes.server = server_facts(admin_login="")
    report = ck.doctor(options(tmp_path), probes)
    server = by_id(report)["server"]
    assert (server.status, server.finding) == (Status.FAIL, "the server has no Entra admin: it accepts no token at all")
    assert report.exit_code == ExitCode.CHECK_FAILED and report.error is None
    assert [f.check for f in report.fixes] == ["server"]
    # the client address is judged against the firewall rules
    probes = Probes()
    assert "no firewall rule covers the client address 203.0.113.9" not in by_id(ck.doctor(options(tmp_path), probes))["server"].finding


def test_an_arm_read_failure_is_the_server_checks_failure_or_a_skip(tmp_path: Path) -> None:
    probes = Probes()
    probes.server = AzsqlctlError("server srv not found in rg", "check --resource-group", code="arm_not_found")
    server = by_id(ck.doctor(options(tmp_path), probes))["server"]
    assert (server.status, server.finding, server.fix, server.code) == (
        Status.FAIL, "server srv not found in rg", "check --resource-group", "arm_not_found",
    )  # fmt: skip
    skipped = "skipped: no credential for ARM either (see the credential check)"
    probes.server = AuthenticationError("no credential")
    assert by_id(ck.doctor(options(tmp_path), probes))["server"].finding == skipped
    probes.server = ConnectionFailed("token endpoint down", details={"endpoint": "token"})
    assert by_id(ck.doctor(options(tmp_path), probes))["server"].finding == skipped
    probes.server = ConnectionFailed("ARM down", details={"endpoint": "arm"})
    assert by_id(ck.doctor(options(tmp_path), probes))["server"].status == Status.FAIL


def test_hidden_steps_say_what_they_did(tmp_path: Path) -> None:
    probes = Probes()
    ctx = context(tmp_path, probes)
    assert ck.read_arm(ctx) == (Outcome(Status.PASS, "read"), Facts(server_facts=HEALTHY_SERVER))
    failure = AzsqlctlError("x")
    probes.server = failure
    assert ck.read_arm(ctx) == (Outcome(Status.PASS, "read"), Facts(server_error=failure))
    ctx.token = AccessToken("t", 0, "c", 1)
    outcome, facts = ck.connect(ctx)
    assert outcome == Outcome(Status.PASS, "connected") and facts is not None and facts.session is probes.session
    refused = AzsqlctlError("login failed")
    probes.session = refused
    assert ck.connect(ctx) == (Outcome(Status.PASS, "tried"), Facts(connect_error=refused))


# --- a failed login ------------------------------------------------------------------------------


def login_refused(number: int | None = 18456, message: str = "Login failed for user '<token-identified principal>'.") -> AzsqlctlError:
    return AuthenticationError(
        "login failed", "h", details={"number": number, "sqlstate": "28000", "server_message": message} if number else {"sqlstate": "08001"}
    )


def test_a_refused_login_is_explained_with_the_servers_facts(tmp_path: Path) -> None:
    probes = Probes()
    probes.session = login_refused(
        message="Login failed for user '<token-identified principal>'. The server is not currently configured to accept this token."
    )
    probes.server = server_facts(admin_tenant="other-tenant")
    report = ck.doctor(options(tmp_path), probes)
    login = by_id(report)["login"]
    assert login.status == Status.FAIL and login.code == "18456"
    assert login.finding == (
        "Login failed for user '<token-identified principal>'. The server is not currently configured to accept this token. (18456): "
        f"the token is from tenant {TID}, the server's Entra admin from tenant other-tenant"
    )
    assert login.fix == "authenticate in tenant other-tenant (--tenant-id other-tenant)"
    assert login.evidence == {
        "sqlstate": "28000", "number": 18456,
        "server_message": "Login failed for user '<token-identified principal>'. The server is not currently configured to accept this token.",
    }  # fmt: skip
    assert by_id(report)["permissions"].finding == "skipped: token login failed"
    assert report.exit_code == ExitCode.CHECK_FAILED
    assert ("audit",) in probes.calls  # an 18456 asks the audit log for the real state
    probes.server = server_facts(admin_login="")
    login = by_id(ck.doctor(options(tmp_path), probes))["login"]
    assert login.finding.endswith("(18456): the server has no Entra admin, so it accepts no token")


def test_the_login_context_without_arm(tmp_path: Path) -> None:
    probes = Probes()
    probes.session = login_refused(
        message="Login failed for user '<token-identified principal>'. The server is not currently configured to accept this token."
    )
    login = by_id(ck.doctor(options(tmp_path, arm=False), probes))["login"]
    assert login.finding.endswith("(18456): the server does not accept tokens from this tenant or has no Entra admin")


def test_a_failed_token_check_is_the_reason_of_the_refusal(tmp_path: Path) -> None:
    probes = Probes()
    probes.token_result = AccessToken(jwt_text(aud="https://database.windows.net/", exp=int(time.time()) - 60), 0, "c", 1)
    probes.session = login_refused()
    login = by_id(ck.doctor(options(tmp_path), probes))["login"]
    assert "(18456): the token was refused: the token expired " in login.finding and login.fix == "fix the token problem above"


def test_inspection_reads_the_principals_only_for_18456(tmp_path: Path) -> None:
    probes = Probes()
    probes.session = login_refused()
    report = ck.doctor(options(tmp_path, inspect=True), probes)
    assert ("inspect", "appdb") in probes.calls
    assert "(checked sys.database_principals)" in by_id(report)["login"].finding
    probes = Probes()
    probes.session = login_refused()
    assert "(pass --admin-auth" in by_id(ck.doctor(options(tmp_path), probes))["login"].finding
    assert ("inspect", "appdb") not in probes.calls
    probes = Probes()
    probes.session = login_refused(4060, "Cannot open database")
    login = by_id(ck.doctor(options(tmp_path, inspect=True), probes))["login"]
    assert ("inspect", "appdb") not in probes.calls and ("audit",) not in probes.calls
    assert (login.finding, login.code) == ("Cannot open database (4060): the database does not exist or this login cannot open it", "4060")


def test_a_failure_without_a_number_is_named_by_its_sqlstate(tmp_path: Path) -> None:
    probes = Probes()
    probes.session = login_refused(None)
    login = by_id(ck.doctor(options(tmp_path), probes))["login"]
    assert login.finding == "login failed (08001): the driver could not establish a session (DNS, TCP or TLS)"
    assert login.code == "08001" and login.evidence == {"sqlstate": "08001", "number": None, "server_message": "login failed"}


def event(state: int, minute: int) -> AuditEvent:
    return AuditEvent(
        f"id{minute}", datetime(2026, 12, 6, 10, minute, tzinfo=UTC), None, EventKind.FAILED_LOGIN, "srv", "appdb", APP, "203.0.113.9",
        "app", 18456, state, "no user; more", "grant",
    )  # fmt: skip


def test_the_audit_log_tells_the_real_state(tmp_path: Path) -> None:
    probes = Probes()
    probes.session = login_refused()
    probes.audit = Audit([event(132, m) for m in range(7)])
    login = by_id(ck.doctor(options(tmp_path), probes))["login"]
    assert login.finding.endswith(" | audit log, last hour: 7 failure(s), latest 2026-12-06T10:00:00Z: 7 x error 18456 state 132 (no user)")
    audit = login.evidence["audit"]
    assert isinstance(audit, dict) and (audit["enabled"], audit["count"], len(audit["failures"])) == (True, 7, 5)
    assert probes.audit.asked == [["", "", APP, OID]]


def test_the_audit_log_when_empty_off_or_unreadable(tmp_path: Path) -> None:
    probes = Probes()
    probes.session = login_refused()
    probes.audit = Audit([])
    login = by_id(ck.doctor(options(tmp_path), probes))["login"]
    assert login.finding.endswith(" | no audited failure for this principal in the last hour yet (audit rows arrive minutes late)")
    assert login.evidence["audit"] == {"enabled": True, "failures": [], "count": 0}
    probes.audit = Audit(AuditingOff("auditing is off on srv", "azsqlctl logs --setup"))
    login = by_id(ck.doctor(options(tmp_path), probes))["login"]
    assert login.finding.endswith(" | the real state is only visible in the audit log, which is off")
    assert login.fix.endswith("; to see the real state: azsqlctl logs --setup")
    assert login.evidence["audit"] == {"enabled": False, "problem": "auditing is off on srv"}
    probes.audit = Audit(ConnectionFailed("Monitor unreachable"))
    plain = by_id(ck.doctor(options(tmp_path), probes))["login"]
    assert plain.evidence["audit"] == {"enabled": None, "error": "Monitor unreachable"}
    assert "|" not in plain.finding and "to see the real state" not in plain.fix


# --- permissions and the report ------------------------------------------------------------------


def test_elevated_roles_warn_with_the_least_privilege_fix(tmp_path: Path) -> None:
    probes = Probes()
    probes.session = Session(roles=("db_owner",), permissions=("CONTROL",))
    report = ck.doctor(options(tmp_path), probes)
    perms = by_id(report)["permissions"]
    assert perms.status == Status.WARN
    assert perms.finding == (
        "roles: db_owner; permissions: CONTROL - member of db_owner: more than an application needs (see azsqlctl grant)"
    )
    fix = "grant least privilege instead: azsqlctl grant <identity> --role reader|writer|executor (and remove the elevated role)"
    assert perms.fix == fix and report.fixes == (Fix("permissions", fix),)
    assert report.exit_code == ExitCode.OK  # a warning is not a failure
    assert report.as_dict()["fixes"] == [{"check": "permissions", "fix": fix}]
    probes = Probes()
    probes.session = Session(roles=(), permissions=())
    assert by_id(ck.doctor(options(tmp_path), probes))["permissions"].finding == "roles: (none); permissions: "


def test_merge_keeps_what_a_facts_record_leaves_out(tmp_path: Path) -> None:
    ctx = context(tmp_path, Probes())
    ctx.identity_name, ctx.addresses = "kept", ("10.0.0.1",)
    ck.merge(ctx, Facts(user_name="u"))
    assert (ctx.identity_name, ctx.addresses, ctx.user_name) == ("kept", ("10.0.0.1",), "u")
    ck.merge(ctx, Facts(identity_name="", addresses=()))  # empty is a value, None is "not learnt"
    assert (ctx.identity_name, len(ctx.addresses)) == ("", 0)
    assert ctx.settings is ctx.opts.settings


def test_the_report_names_its_subject(tmp_path: Path) -> None:
    probes = Probes()
    ctx = context(tmp_path, probes)
    ctx.token = probes.token_result  # type: ignore[assignment]
    _, facts = ck.check_token(ctx)
    assert facts is not None and facts.identity is not None
    app = facts.identity
    assert DoctorReport((), app, ExitCode.OK, identity_name="orders-api").name == "orders-api"
    assert DoctorReport((), None, ExitCode.OK, identity_name="orders-api").name == ""
    named = DoctorReport((), app.__class__(**{**app.__dict__, "name": "upn@x"}), ExitCode.OK, identity_name="orders-api")
    assert named.name == "upn@x"
    assert DoctorReport((), None, ExitCode.OK).as_dict() == {"checks": [], "identity": None, "fixes": []}
    passed = CheckResult("a", "A", Status.PASS, "", fix="not a fix")
    report = ck._report([passed, CheckResult("b", "B", Status.FAIL, "x")], ctx)
    assert (report.fixes, report.exit_code) == ((), ExitCode.CHECK_FAILED)  # a pass's fix text is no fix; a fail without one neither
    assert ck.ENCRYPTION_NAMES == {0: "off", 1: "on", 2: "not supported", 3: "required"}


def test_the_checks_as_the_report_titles_them() -> None:
    assert [(c.id, c.title, c.hidden) for c in ck.CHECKS] == [
        ("driver", "ODBC driver", False),
        ("credential", "Credential", False),
        ("token", "Token claims", False),
        ("dns", "DNS", False),
        ("tcp", "TCP", False),
        ("tls", "TDS PRELOGIN and TLS", False),
        ("arm", "(ARM read)", True),
        ("server", "Server settings (ARM)", False),
        ("connect", "(token login)", True),
        ("login", "Token login", False),
        ("permissions", "Effective permissions", False),
    ]


def test_a_new_context_knows_nothing_yet(tmp_path: Path) -> None:
    opts = options(tmp_path)
    plain = DoctorOptions(opts.settings)
    assert (plain.client_ip, plain.inspect) == ("", False)
    ctx = DoctorContext(plain, Probes(), opts.settings.require_server())
    assert (ctx.results, ctx.token, ctx.identity, ctx.identity_name, ctx.addresses) == ({}, None, None, "", ())
    assert (ctx.server_facts, ctx.server_error, ctx.session, ctx.connect_error, ctx.user_name, ctx.fatal) == (
        None,
        None,
        None,
        None,
        "",
        None,
    )
    assert DoctorReport((), None, ExitCode.OK).identity_name == ""


def test_nothing_known_of_the_app_or_its_secret(tmp_path: Path) -> None:
    probes = Probes()
    probes.token_result = AuthenticationError("refused", "h", details={"entra": {"code": "AADSTS700016"}})
    assert (
        ck.check_credential(context(tmp_path, probes))[0].finding
        == "refused - the application <client-id> is not registered in this tenant"
    )
    probes.token_result = AuthenticationError("refused", "h", details={"entra": {"code": "AADSTS7000215"}})
    cause = ck.check_credential(context(tmp_path, probes))[0].finding
    assert cause == "refused - the client secret sent for app <client-id> is not one of its secrets"


def test_a_refusal_with_a_number_and_no_sqlstate(tmp_path: Path) -> None:
    probes = Probes()
    probes.session = AuthenticationError("Cannot open database", details={"number": 4060})
    login = by_id(ck.doctor(options(tmp_path), probes))["login"]
    assert login.evidence == {"sqlstate": "", "number": 4060, "server_message": "Cannot open database"}


def test_several_roles_and_warnings_are_listed(tmp_path: Path) -> None:
    probes = Probes()
    probes.session = Session(roles=("db_ddladmin", "db_owner"), permissions=("CONNECT", "CONTROL"))
    perms = by_id(ck.doctor(options(tmp_path), probes))["permissions"]
    assert perms.finding == (
        "roles: db_ddladmin, db_owner; permissions: CONNECT, CONTROL - member of db_ddladmin: more than an application needs "
        "(see azsqlctl grant); member of db_owner: more than an application needs (see azsqlctl grant)"
    )


def test_an_old_driver_fails_the_check_not_the_run(tmp_path: Path) -> None:
    probes = Probes()
    probes.driver_info = DriverInfo("d", "--driver", "13.1")
    report = ck.doctor(options(tmp_path), probes)
    assert by_id(report)["driver"].status == Status.FAIL
    assert (report.exit_code, report.error) == (ExitCode.CHECK_FAILED, None)  # not "driver not found" (5): it was found
