"""doctor: verify a token login end to end, check by check, and say exactly what to fix.

The checks form a graph (driver, credential, dns run at once; token after the
credential; tcp after dns; ...). Judgments live in ``judge``, failure
explanations in ``diagnosis``; this module wires them to the probes.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

from .checks import Check, CheckResult, Outcome, Status, run_checks
from .diagnosis import LoginContext, explain_login_failure
from .errors import AuthenticationError, AzsqlctlError, DriverNotFound, ExitCode
from .identity import TokenIdentity
from .judge import judge_dns, judge_server, judge_tls, judge_token
from .ports import AccessToken, DoctorProbes, QuerySession, ServerFacts
from .settings import ConnectionSettings
from .whoami import IDENTITY_SQL, MY_PERMISSIONS_SQL, effective_roles, least_privilege_warnings

AADSTS_EXPLAINED = {
    "AADSTS500011": (
        "the resource (token scope) does not exist in the tenant",
        "check --cloud and the SQL resource (AZSQLCTL_SQL_RESOURCE)",
    ),
    "AADSTS700016": (
        "the application is not registered in this tenant",
        "check --client-id and --tenant-id: the app must exist in the tenant you authenticate against",
    ),
    "AADSTS7000215": (
        "the client secret is wrong",
        "use the secret's value (not its id), or better a managed identity / workload identity federation",
    ),
    "AADSTS7000222": ("the client secret has expired", "create a new secret, or move to a managed identity"),
}


@dataclass
class DoctorOptions:
    settings: ConnectionSettings
    client_ip: str = ""  # the client's public address when known (firewall coverage)
    inspect: bool = False  # an inspecting identity is configured (tells wrong-SID from no-user)
    audit: Any = None  # logs.recent.AuditLookup: audited failures explain a refused login (None: not configured)


@dataclass
class DoctorReport:
    checks: list[CheckResult]
    identity: dict[str, Any] | None
    exit_code: ExitCode
    error: AzsqlctlError | None = None  # the fatal condition behind exit codes 3/5
    fixes: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"checks": [c.as_dict() for c in self.checks], "identity": self.identity, "fixes": self.fixes}


class _State:
    """What checks hand each other (tokens, the session, facts), guarded by a lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.token: AccessToken | None = None
        self.identity: TokenIdentity | None = None
        self.identity_name = ""
        self.addresses: list[str] = []
        self.server: ServerFacts | None = None
        self.session: QuerySession | None = None
        self.user_name = ""
        self.fatal: AzsqlctlError | None = None
        # Checks that start early wait on these only for the facts they need at the end.
        self.identity_ready = threading.Event()
        self.server_ready = threading.Event()


def doctor(opts: DoctorOptions, probes: DoctorProbes) -> DoctorReport:
    s = opts.settings
    server = s.require_server()
    st = _State()
    arm_skip = (
        ""
        if s.subscription and s.resource_group
        else "skipped: no ARM scope; pass --subscription and --resource-group (or AZSQLCTL_SUBSCRIPTION / AZSQLCTL_RESOURCE_GROUP)"
    )

    def driver(_: dict[str, CheckResult]) -> tuple[Status, str, dict[str, Any], str]:
        try:
            info = probes.driver()
        except DriverNotFound as exc:
            st.fatal = exc
            raise Outcome(Status.FAIL, exc.message, exc.hint, code="driver_not_found") from None
        evidence = {"driver": info.spec, "source": info.source, "version": info.version}
        major, minor = (int(x) for x in [*re.findall(r"\d+", info.version), "0", "0"][:2])
        if (major, minor) < (17, 3):
            return (
                Status.FAIL,
                f"{info.version}: access tokens need ODBC Driver 17.3 or later",
                evidence,
                "install ODBC Driver 18 for SQL Server",
            )
        if major == 17:
            return (
                Status.WARN,
                f"ODBC Driver {info.version} works; 18 is current (Encrypt=yes by default, TDS 8.0)",
                evidence,
                "install ODBC Driver 18 for SQL Server",
            )
        return Status.PASS, f"ODBC Driver {info.version} ({info.source})", evidence, ""

    def credential(_: dict[str, CheckResult]) -> tuple[Status, str, dict[str, Any], str]:
        try:
            token = probes.token(s.cloud.sql_scope)
        except AuthenticationError as exc:
            st.fatal = exc
            st.identity_ready.set()
            code = str(exc.details.get("aadsts", ""))
            cause, fix = AADSTS_EXPLAINED.get(code, ("", exc.hint))
            raise Outcome(
                Status.FAIL, exc.message + (f" - {cause}" if cause else ""), fix, dict(exc.details), code or "no_credential"
            ) from None
        st.token = token
        evidence = {"credential": token.credential, "ms": round(token.elapsed_ms, 1), "auth": s.auth,
                    "skipped": [f"{name}: {why}" for name, why in token.attempts]}  # fmt: skip
        return Status.PASS, f"{token.credential} produced a token in {token.elapsed_ms:.0f} ms", evidence, ""

    def token(_: dict[str, CheckResult]) -> tuple[Status, str, dict[str, Any], str]:
        assert st.token is not None
        try:
            judgment, ident = judge_token(st.token.token, s.cloud, server.host)
            st.identity = ident
            st.identity_name = str(judgment[2].get("name", ""))
            return judgment
        finally:
            st.identity_ready.set()

    def dns(_: dict[str, CheckResult]) -> tuple[Status, str, dict[str, Any], str]:
        facts = _probe(lambda: probes.resolve(server.host), "DNS")
        st.addresses = facts.addresses
        return judge_dns(facts)

    def tcp(_: dict[str, CheckResult]) -> tuple[Status, str, dict[str, Any], str]:
        ms = _probe(lambda: probes.tcp(st.addresses[0], server.port), "TCP")
        return (
            Status.PASS,
            f"connected to {st.addresses[0]}:{server.port} in {ms:.0f} ms",
            {"address": st.addresses[0], "port": server.port, "ms": round(ms, 1)},
            "",
        )

    def tls(_: dict[str, CheckResult]) -> tuple[Status, str, dict[str, Any], str]:
        pre, cert, ms = _probe(lambda: probes.tls(st.addresses[0], server.port, server.host), "08001")
        status, finding, evidence, fix = judge_tls(cert, server.host, s.trust_server_certificate)
        enc = {0: "off", 1: "on", 2: "not supported", 3: "required"}.get(pre.encryption, hex(pre.encryption))
        evidence.update(server_version=pre.version, encryption=enc, fedauth_required=pre.fedauth_required, ms=round(ms, 1))
        finding = f"TDS server {pre.version}, encryption {enc}, FEDAUTHREQUIRED {'yes' if pre.fedauth_required else 'no'}; {finding}"
        return status, finding, evidence, fix

    def server_check(_: dict[str, CheckResult]) -> tuple[Status, str, dict[str, Any], str]:
        # Starts with the other independent checks; ARM needs its own token anyway.
        try:
            st.server = probes.server_facts(s.resource_group, server.logical_name, server.host, s.database)
        except AuthenticationError:
            raise Outcome(Status.SKIP, "skipped: no credential for ARM either (see the credential check)") from None
        except AzsqlctlError as exc:
            raise Outcome(Status.FAIL, exc.message, exc.hint, code=exc.code) from None
        finally:
            st.server_ready.set()
        st.identity_ready.wait(timeout=s.timeout * 4)  # the tenant comparison needs the token's tid
        return judge_server(st.server, st.identity, s.database, s.resource_group, opts.client_ip)

    def login(done: dict[str, CheckResult]) -> tuple[Status, str, dict[str, Any], str]:
        assert st.token is not None
        try:
            session = probes.connect(s.database, st.token)
        except AzsqlctlError as exc:
            raise _login_outcome(exc, done) from None
        st.session = session
        row = session.query(IDENTITY_SQL)[0]
        st.user_name = str(row["user_name"])
        version = str(row["version"]).splitlines()[0].strip()
        evidence = {
            "suser_sname": row["login_name"],
            "user_name": row["user_name"],
            "db_name": row["database_name"],
            "server_version": version,
        }
        return Status.PASS, f"logged in to {row['database_name']} as {row['login_name']} (user {row['user_name']})", evidence, ""

    def _login_outcome(exc: AzsqlctlError, done: dict[str, CheckResult]) -> Outcome:
        if not arm_skip:
            st.server_ready.wait(timeout=s.timeout * 4)  # what ARM says helps explain the failure
        number, sqlstate = exc.details.get("number"), str(exc.details.get("sqlstate", ""))
        message = str(exc.details.get("server_message", exc.message))
        token_check = done.get("token")
        principals = probes.inspect_principals(s.database) if opts.inspect and number == 18456 else None
        ctx = LoginContext(
            server=server.display, server_name=(st.server.name if st.server else server.logical_name), resource_group=s.resource_group,
            database=s.database, identity=st.identity, identity_name=st.identity_name,
            token_problem=token_check.finding if token_check and token_check.status == Status.FAIL else "",
            admin_tenant=st.server.admin_tenant if st.server else "", has_admin=bool(st.server.admin_login) if st.server else None,
            principals=principals,
        )  # fmt: skip
        cause, fix = explain_login_failure(number if isinstance(number, int) else None, sqlstate, message, ctx)
        evidence: dict[str, Any] = {"sqlstate": sqlstate, "number": number, "server_message": message}
        finding = f"{message} ({number or sqlstate}): {cause}"
        if number == 18456 and opts.audit is not None:
            finding, fix = _audited(opts.audit, st, finding, fix, evidence)
        return Outcome(Status.FAIL, finding, fix, evidence, str(number or sqlstate))

    def permissions(_: dict[str, CheckResult]) -> tuple[Status, str, dict[str, Any], str]:
        assert st.session is not None
        try:
            roles = effective_roles(st.session, st.user_name)
            perms = [str(r["permission_name"]) for r in st.session.query(MY_PERMISSIONS_SQL)]
        finally:
            st.session.close()
        evidence = {"roles": roles, "permissions": perms}
        warnings = least_privilege_warnings(roles, perms)
        finding = f"roles: {', '.join(roles) or '(none)'}; permissions: {', '.join(perms)}"
        if warnings:
            fix = "grant least privilege instead: azsqlctl grant <identity> --role reader|writer|executor (and remove the elevated role)"
            return Status.WARN, finding + " - " + "; ".join(warnings), evidence, fix
        return Status.PASS, finding, evidence, ""

    checks = [
        Check("driver", "ODBC driver", driver),
        Check("credential", "Credential", credential),
        Check("token", "Token claims", token, ("credential",)),
        Check("dns", "DNS", dns),
        Check("tcp", "TCP", tcp, ("dns",)),
        Check("tls", "TDS PRELOGIN and TLS", tls, ("tcp",)),
        Check("server", "Server settings (ARM)", server_check, skip_reason=arm_skip),
        Check("login", "Token login", login, ("driver", "credential", "tls"), after=("token",)),
        Check("permissions", "Effective permissions", permissions, ("login",)),
    ]
    results = run_checks(checks)
    if st.session is not None:  # the permissions check was skipped or failed before closing it
        st.session.close()
    return _report(results, st)


def _audited(audit: Any, st: _State, finding: str, fix: str, evidence: dict[str, Any]) -> tuple[str, str]:
    """The real state from the audit log (the client only saw state 1), or how to turn the log on."""
    from .logs.recent import describe
    from .logs.setup import AuditingOff

    ident = st.identity
    principals = [st.identity_name, *((ident.name, ident.client_id, ident.object_id) if ident else ())]
    try:
        events = audit.recent_failures(principals)
    except AuditingOff as off:
        evidence["audit"] = {"enabled": False, "problem": off.message}
        return f"{finding} | the real state is only visible in the audit log, which is off", f"{fix}; to see the real state: {off.hint}"
    except AzsqlctlError as exc:
        evidence["audit"] = {"enabled": None, "error": exc.message}
        return finding, fix
    evidence["audit"] = {"enabled": True, "failures": [e.as_json() for e in events[:5]], "count": len(events)}
    if not events:
        return f"{finding} | no audited failure for this principal in the last hour yet (audit rows arrive minutes late)", fix
    return f"{finding} | audit log, last hour: {describe(events)}", fix


def _probe(call: Any, code: str) -> Any:
    try:
        return call()
    except AzsqlctlError as exc:
        raise Outcome(Status.FAIL, exc.message, exc.hint, code=getattr(exc, "step", code).upper()) from None


def _report(results: list[CheckResult], st: _State) -> DoctorReport:
    failed = [r for r in results if r.status == Status.FAIL]
    fixes = [{"check": r.id, "fix": r.fix} for r in results if r.fix and r.status in (Status.FAIL, Status.WARN)]
    identity = None
    if st.identity is not None:
        identity = {**st.identity.as_dict(), "name": st.identity.name or st.identity_name}
    exit_code = ExitCode.OK
    fatal = None
    if any(r.id == "driver" and r.code == "driver_not_found" for r in failed):
        exit_code, fatal = ExitCode.NOT_FOUND, st.fatal
    elif any(r.id == "credential" for r in failed):
        exit_code, fatal = ExitCode.AUTHENTICATION, st.fatal
    elif failed:
        exit_code = ExitCode.CHECK_FAILED
    return DoctorReport(results, identity, exit_code, fatal, fixes)
