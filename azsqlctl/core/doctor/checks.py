"""doctor's checks: verify a token login end to end, check by check, and say exactly what to fix.

Each check is a module-level function over ``DoctorContext``. A check reads only facts that
finished checks handed on (the scheduler merges each check's ``Facts`` into the context before
any dependent starts) and returns an ``Outcome``. The graph (``CHECKS``) is validated when this
module is imported: a cycle is an import error, never a hang. Judgments live in ``judge``,
failure explanations in ``core.diagnosis``; this module wires them to the probes (``ports.DoctorProbes``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING

from ..config import env_name
from ..diagnosis import EntraFailure, LoginContext, explain_entra_failure, explain_login_failure
from ..effective_access import IDENTITY_SQL, MY_PERMISSIONS_SQL, effective_roles, least_privilege_warnings
from ..errors import AuthenticationError, AzsqlctlError, ConnectionFailed, DriverNotFound, ExitCode
from ..identity import TokenIdentity
from ..ports import AccessToken, QuerySession, ServerFacts
from ..settings import ConnectionSettings
from ..target import ServerAddress
from .judge import judge_dns, judge_server, judge_tls, judge_token
from .ports import DoctorProbes
from .schedule import Check, CheckResult, Outcome, Status, Stop, run_checks, validate

if TYPE_CHECKING:
    from ..logs.recent import AuditLookup

ENCRYPTION_NAMES = {0: "off", 1: "on", 2: "not supported", 3: "required"}


@dataclass(frozen=True)
class DoctorOptions:
    settings: ConnectionSettings
    client_ip: str = ""  # the client's public address when known (firewall coverage)
    inspect: bool = False  # an inspecting identity is configured (tells wrong-SID from no-user)


@dataclass(frozen=True)
class Facts:
    """What a finished check hands on; None fields leave the context as it is."""

    token: AccessToken | None = None
    identity: TokenIdentity | None = None
    identity_name: str | None = None
    addresses: tuple[str, ...] | None = None
    server_facts: ServerFacts | None = None
    server_error: AzsqlctlError | None = None
    session: QuerySession | None = None
    connect_error: AzsqlctlError | None = None
    user_name: str | None = None
    fatal: AzsqlctlError | None = None


@dataclass
class DoctorContext:
    """The run's inputs, plus the facts of finished checks (written only by the scheduler's merge)."""

    opts: DoctorOptions
    probes: DoctorProbes
    server: ServerAddress
    results: dict[str, CheckResult] = field(default_factory=dict)
    token: AccessToken | None = None
    identity: TokenIdentity | None = None
    identity_name: str = ""
    addresses: tuple[str, ...] = ()
    server_facts: ServerFacts | None = None
    server_error: AzsqlctlError | None = None
    session: QuerySession | None = None
    connect_error: AzsqlctlError | None = None
    user_name: str = ""
    fatal: AzsqlctlError | None = None

    @property
    def settings(self) -> ConnectionSettings:
        return self.opts.settings


def merge(ctx: DoctorContext, facts: Facts) -> None:
    for f in fields(Facts):
        value = getattr(facts, f.name)
        if value is not None:
            setattr(ctx, f.name, value)


@dataclass(frozen=True)
class Fix:
    check: str
    fix: str


@dataclass(frozen=True)
class DoctorReport:
    checks: tuple[CheckResult, ...]
    identity: TokenIdentity | None
    exit_code: ExitCode
    error: AzsqlctlError | None = None  # the fatal condition behind exit codes 3/5
    fixes: tuple[Fix, ...] = ()
    identity_name: str = ""  # the name the token does not carry (an app's), read from the server

    @property
    def name(self) -> str:
        """Whom the report is about: the token's name, else what the server called it."""
        return (self.identity.name or self.identity_name) if self.identity else ""

    def count(self, status: Status) -> int:
        return sum(1 for c in self.checks if c.status == status)

    def as_dict(self) -> dict[str, object]:
        identity = {**self.identity.as_dict(), "name": self.name} if self.identity else None
        fixes = [{"check": f.check, "fix": f.fix} for f in self.fixes]
        return {"checks": [c.as_dict() for c in self.checks], "identity": identity, "fixes": fixes}


# --- the checks ----------------------------------------------------------------------------------

Step = tuple[Outcome, Facts | None]


def check_driver(ctx: DoctorContext) -> Step:
    try:
        info = ctx.probes.driver()
    except DriverNotFound as exc:
        return Outcome(Status.FAIL, exc.message, fix=exc.hint, code="driver_not_found"), Facts(fatal=exc)
    evidence = {"driver": info.spec, "source": info.source, "version": info.version}
    major, minor = (int(x) for x in [*re.findall(r"\d+", info.version), "0", "0"][:2])
    if (major, minor) < (17, 3):
        fix = "install ODBC Driver 18 for SQL Server"
        return Outcome(Status.FAIL, f"{info.version}: access tokens need ODBC Driver 17.3 or later", evidence, fix), None
    if major == 17:
        finding = f"ODBC Driver {info.version} works; 18 is current (Encrypt=yes by default, TDS 8.0)"
        return Outcome(Status.WARN, finding, evidence, "install ODBC Driver 18 for SQL Server"), None
    return Outcome(Status.PASS, f"ODBC Driver {info.version} ({info.source})", evidence), None


def check_credential(ctx: DoctorContext) -> Step:
    s = ctx.settings
    try:
        token = ctx.probes.token(s.cloud.sql_scope)
    except (AuthenticationError, ConnectionFailed) as exc:  # refused, or the token endpoint could not be reached
        code = str(exc.details.get("aadsts", ""))
        entra = exc.details.get("entra")
        failure = EntraFailure(**{k: str(v) for k, v in entra.items()}) if isinstance(entra, dict) else None
        client_id, hint = s.client_id or str(exc.details.get("client_id", "")), str(exc.details.get("secret_hint", ""))
        explained = explain_entra_failure(failure, client_id, hint) if failure else None
        cause, fix = explained or ("", exc.hint)
        finding = exc.message + (f" - {cause}" if cause else "")
        return Outcome(Status.FAIL, finding, dict(exc.details), fix, code or exc.code), Facts(fatal=exc)
    evidence = {"credential": token.credential, "ms": round(token.elapsed_ms, 1), "auth": str(s.auth),
                "skipped": [f"{name}: {why}" for name, why in token.attempts]}  # fmt: skip
    return Outcome(Status.PASS, f"{token.credential} produced a token in {token.elapsed_ms:.0f} ms", evidence), Facts(token=token)


def check_token(ctx: DoctorContext) -> Step:
    assert ctx.token is not None
    outcome, ident = judge_token(ctx.token.token, ctx.settings.cloud, ctx.server.host)
    return outcome, Facts(identity=ident, identity_name=str(outcome.evidence.get("name", "")))


def _probe_failed(exc: AzsqlctlError, code: str) -> Stop:
    return Stop(Outcome(Status.FAIL, exc.message, fix=exc.hint, code=str(getattr(exc, "step", code)).upper()))


def check_dns(ctx: DoctorContext) -> Step:
    try:
        facts = ctx.probes.resolve(ctx.server.host)
    except AzsqlctlError as exc:
        raise _probe_failed(exc, "DNS") from None
    return judge_dns(facts), Facts(addresses=tuple(facts.addresses))


def check_tcp(ctx: DoctorContext) -> Step:
    address, port = ctx.addresses[0], ctx.server.port
    try:
        ms = ctx.probes.tcp(address, port)
    except AzsqlctlError as exc:
        raise _probe_failed(exc, "TCP") from None
    evidence = {"address": address, "port": port, "ms": round(ms, 1)}
    return Outcome(Status.PASS, f"connected to {address}:{port} in {ms:.0f} ms", evidence), None


def check_tls(ctx: DoctorContext) -> Step:
    try:
        pre, cert, ms = ctx.probes.tls(ctx.addresses[0], ctx.server.port, ctx.server.host)
    except AzsqlctlError as exc:
        raise _probe_failed(exc, "08001") from None
    judged = judge_tls(cert, ctx.server.host, ctx.settings.trust_server_certificate)
    enc = ENCRYPTION_NAMES.get(pre.encryption, hex(pre.encryption))
    evidence = {**judged.evidence, "server_version": pre.version, "encryption": enc, "fedauth_required": pre.fedauth_required,
                "ms": round(ms, 1)}  # fmt: skip
    finding = f"TDS server {pre.version}, encryption {enc}, FEDAUTHREQUIRED {'yes' if pre.fedauth_required else 'no'}; {judged.finding}"
    return replace(judged, finding=finding, evidence=evidence), None


def no_arm_scope(ctx: DoctorContext) -> str:
    s = ctx.settings
    if s.subscription and s.resource_group:
        return ""
    return f"skipped: no ARM scope; pass --subscription and --resource-group (or {env_name('subscription')} / {env_name('resource_group')})"


def read_arm(ctx: DoctorContext) -> Step:
    """Hidden step: the ARM read starts with the independent checks; the server check judges it later."""
    s = ctx.settings
    try:
        facts = ctx.probes.server_facts(s.resource_group, ctx.server.logical_name, ctx.server.host, s.database)
    except AzsqlctlError as exc:
        return Outcome(Status.PASS, "read"), Facts(server_error=exc)
    return Outcome(Status.PASS, "read"), Facts(server_facts=facts)


def check_server(ctx: DoctorContext) -> Step:
    if isinstance(ctx.server_error, AuthenticationError) or (
        ctx.server_error is not None and ctx.server_error.details.get("endpoint") == "token"
    ):
        return Outcome(Status.SKIP, "skipped: no credential for ARM either (see the credential check)"), None
    if ctx.server_error is not None:
        return Outcome(Status.FAIL, ctx.server_error.message, fix=ctx.server_error.hint, code=ctx.server_error.code), None
    assert ctx.server_facts is not None
    s = ctx.settings
    return judge_server(ctx.server_facts, ctx.identity, s.database, s.resource_group, ctx.opts.client_ip), None


def connect(ctx: DoctorContext) -> Step:
    """Hidden step: the token login, as soon as driver, token and TLS allow; the login check explains it."""
    assert ctx.token is not None
    try:
        session = ctx.probes.connect(ctx.settings.database, ctx.token)
    except AzsqlctlError as exc:
        return Outcome(Status.PASS, "tried"), Facts(connect_error=exc)
    return Outcome(Status.PASS, "connected"), Facts(session=session)


def check_login(ctx: DoctorContext) -> Step:
    if ctx.connect_error is not None:
        return _login_failure(ctx, ctx.connect_error), None
    assert ctx.session is not None
    row = ctx.session.query(IDENTITY_SQL)[0]
    version = str(row["version"]).splitlines()[0].strip()
    evidence = {"suser_sname": row["login_name"], "user_name": row["user_name"], "db_name": row["database_name"], "server_version": version}
    finding = f"logged in to {row['database_name']} as {row['login_name']} (user {row['user_name']})"
    return Outcome(Status.PASS, finding, evidence), Facts(user_name=str(row["user_name"]))


def _login_failure(ctx: DoctorContext, exc: AzsqlctlError) -> Outcome:
    s, facts = ctx.settings, ctx.server_facts
    number, sqlstate = exc.details.get("number"), str(exc.details.get("sqlstate", ""))
    message = str(exc.details.get("server_message", exc.message))
    token_check = ctx.results.get("token")
    principals = ctx.probes.inspect_principals(s.database) if ctx.opts.inspect and number == 18456 else None
    login_ctx = LoginContext(
        server=ctx.server.display, server_name=(facts.name if facts else ctx.server.logical_name), resource_group=s.resource_group,
        database=s.database, identity=ctx.identity, identity_name=ctx.identity_name,
        token_problem=token_check.finding if token_check and token_check.status == Status.FAIL else "",
        admin_tenant=facts.admin_tenant if facts else "", has_admin=bool(facts.admin_login) if facts else None,
        principals=principals, server_from_environment=s.from_environment,
    )  # fmt: skip
    cause, fix = explain_login_failure(number if isinstance(number, int) else None, sqlstate, message, login_ctx)
    evidence: dict[str, object] = {"sqlstate": sqlstate, "number": number, "server_message": message}
    finding = f"{message} ({number or sqlstate}): {cause}"
    audit = ctx.probes.audit_lookup() if number == 18456 else None
    if audit is not None:
        finding, fix = _audited(audit, ctx, finding, fix, evidence)
    return Outcome(Status.FAIL, finding, evidence, fix, str(number or sqlstate))


def _audited(audit: AuditLookup, ctx: DoctorContext, finding: str, fix: str, evidence: dict[str, object]) -> tuple[str, str]:
    """The real state from the audit log (the client only saw state 1), or how to turn the log on."""
    from ..logs.recent import describe
    from ..logs.setup import AuditingOff

    ident = ctx.identity
    principals = [ctx.identity_name, *((ident.name, ident.client_id, ident.object_id) if ident else ())]
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


def check_permissions(ctx: DoctorContext) -> Step:
    assert ctx.session is not None
    roles = effective_roles(ctx.session, ctx.user_name)
    perms = [str(r["permission_name"]) for r in ctx.session.query(MY_PERMISSIONS_SQL)]
    evidence = {"roles": roles, "permissions": perms}
    warnings = least_privilege_warnings(roles, perms)
    finding = f"roles: {', '.join(roles) or '(none)'}; permissions: {', '.join(perms)}"
    if warnings:
        fix = "grant least privilege instead: azsqlctl grant <identity> --role reader|writer|executor (and remove the elevated role)"
        return Outcome(Status.WARN, finding + " - " + "; ".join(warnings), evidence, fix), None
    return Outcome(Status.PASS, finding, evidence), None


DoctorCheck = Check[DoctorContext, Facts]
CHECKS: tuple[DoctorCheck, ...] = (
    Check("driver", "ODBC driver", check_driver),
    Check("credential", "Credential", check_credential),
    Check("token", "Token claims", check_token, needs=("credential",)),
    Check("dns", "DNS", check_dns),
    Check("tcp", "TCP", check_tcp, needs=("dns",)),
    Check("tls", "TDS PRELOGIN and TLS", check_tls, needs=("tcp",)),
    Check("arm", "(ARM read)", read_arm, skip_when=no_arm_scope, hidden=True),
    # The tenant comparison needs the token's tid: judged after both, timed as the ARM read.
    Check("server", "Server settings (ARM)", check_server, after=("token",), skip_when=no_arm_scope, includes=("arm",)),
    Check("connect", "(token login)", connect, needs=("driver", "credential", "tls"), after=("token",), hidden=True),
    # What ARM says helps explain a failed login: judged after it, timed as the connect.
    Check("login", "Token login", check_login, needs=("driver", "credential", "tls"), after=("token", "server"), includes=("connect",)),
    Check("permissions", "Effective permissions", check_permissions, needs=("login",)),
)
validate(CHECKS)  # an unknown dependency or a cycle fails at import (and in the unit tests), never at run time


def doctor(opts: DoctorOptions, probes: DoctorProbes) -> DoctorReport:
    ctx = DoctorContext(opts, probes, opts.settings.require_server())
    try:
        results = run_checks(CHECKS, ctx, merge, done=ctx.results)
    finally:
        if ctx.session is not None:
            ctx.session.close()
    return _report(results, ctx)


def _report(results: list[CheckResult], ctx: DoctorContext) -> DoctorReport:
    failed = [r for r in results if r.status == Status.FAIL]
    fixes = tuple(Fix(r.id, r.fix) for r in results if r.fix and r.status in (Status.FAIL, Status.WARN))
    exit_code = ExitCode.OK
    fatal = None
    if any(r.id == "driver" and r.code == "driver_not_found" for r in failed):
        exit_code, fatal = ExitCode.NOT_FOUND, ctx.fatal
    elif any(r.id == "credential" for r in failed):
        exit_code, fatal = ctx.fatal.exit_code if ctx.fatal else ExitCode.AUTHENTICATION, ctx.fatal
    elif failed:
        exit_code = ExitCode.CHECK_FAILED
    return DoctorReport(tuple(results), ctx.identity, exit_code, fatal, fixes, ctx.identity_name)
