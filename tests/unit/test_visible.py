"""Text from outside reaches a terminal with its control characters made visible (issue 15, point 1).

The first tests pin the one sanitiser (core/visible.py) against unicodedata; the property test feeds
hostile strings into every field of every human renderer and reads what a terminal would get.
"""

from __future__ import annotations

import contextlib
import functools
import io
import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from azsqlctl.cli import doctor as doctor_cli
from azsqlctl.cli import grant_render, logs_render, render, whoami
from azsqlctl.cli import sandbox as sandbox_cli
from azsqlctl.core.doctor import DoctorReport, Fix
from azsqlctl.core.doctor.schedule import CheckResult, Status
from azsqlctl.core.errors import ExitCode
from azsqlctl.core.grant.entra_admin import AdminSpec
from azsqlctl.core.grant.operation import AdminResult, Mode, Outcome, TargetResult
from azsqlctl.core.grant.operation import Status as GrantStatus
from azsqlctl.core.grant.plan import Plan, Step
from azsqlctl.core.identity import TokenIdentity
from azsqlctl.core.logs.audit_rows import AuditEvent, EventKind
from azsqlctl.core.logs.partial import partial_warning
from azsqlctl.core.logs.ports import AuditingPolicy, DiagnosticSetting, PartialFailure, PartialReason, ServerRef, Workspace
from azsqlctl.core.logs.setup import AuditStatus, EnablePlan
from azsqlctl.core.logs.summary import SummaryGroup
from azsqlctl.core.visible import has_control, visible
from azsqlctl.core.whoami import WhoAmI
from tests.property_budget import examples

UNSAFE_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs"}
# Unassigned in Python's Unicode 14, format controls in later versions (a terminal may know a newer Unicode).
NEWER_FORMAT = {0x2065, *range(0x13439, 0x13440)}


def test_every_control_format_and_separator_character_is_made_visible() -> None:
    for cp in range(0x110000):
        ch = chr(cp)
        unsafe = unicodedata.category(ch) in UNSAFE_CATEGORIES
        assert has_control(ch) == (unsafe or cp in NEWER_FORMAT), hex(cp)
        if unsafe:
            shown = visible(ch)
            assert shown.startswith("\\") and not has_control(shown), hex(cp)


def test_escapes_read_like_python_and_printable_text_is_untouched() -> None:
    assert visible("a\nb\r\tc\x1b[31m\x07\x7f\x85") == "a\\nb\\r\\tc\\x1b[31m\\x07\\x7f\\x85"
    assert visible("\u202eevil\u2066x\u2069\ufeff") == "\\u202eevil\\u2066x\\u2069\\ufeff"
    assert visible("\U000e0041") == "\\U000e0041"
    text = "sandbox-sql/appdb  admin@corp.example from 10.0.0.1 (ssms) Ünïcode 名前 🙂 \\ [bold]"
    assert visible(text) == text


# --- every human renderer, every outside field -------------------------------------------------------------------

PAYLOADS = [
    "nope\n2026-12-06T07:00:00.000000Z  sandbox-sql/appdb  admin@corp from 10.0.0.1 (ssms)  18456 state 8: FORGED LINE\x1b[31mRED",
    "evil\x1b]0;pwned\x07app",
    "a\r\nFORGED\u2028FORGED\u202egnp.exe\u2066x\u2069",
    "\x9b31m\x85FORGED\x00\x7f",
]
hostile = st.one_of(
    st.sampled_from(PAYLOADS),
    st.text(st.characters(codec="utf-8", categories=["Cc", "Cf", "Zl", "Zp", "L", "N", "P"]), min_size=1, max_size=12).map(
        lambda s: s + "\nFORGED"
    ),
)


def _capture(render_fn: Callable[[], None]) -> str:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        render_fn()
    return out.getvalue() + err.getvalue()


GUID = "27c1c882-4791-57cf-8622-933abbac9865"


def _identity(s: str) -> TokenIdentity:
    # The SID is the client id (a GUID: its hex form is computed); every other field is hostile.
    return TokenIdentity(tenant_id=s, object_id=s, client_id=GUID, kind="app", name=s, audience=s, expires_on=0)


def _doctor(s: str) -> Callable[[], None]:
    checks = tuple(CheckResult(s, s, status, s, duration_ms=3.0) for status in Status)
    report = DoctorReport(checks, _identity(s), ExitCode.CHECK_FAILED, fixes=(Fix(s, s),))
    return lambda: doctor_cli._human(report)


def _whoami(s: str) -> Callable[[], None]:
    info = WhoAmI(
        server=s, database=s, credential=s, token_ms=1.0, login_ms=2.0, identity=_identity(s), login_name=s, user_name=s,
        database_name=s, server_version=s, roles=(s, s), permissions=(s,), warnings=(s,),
    )  # fmt: skip
    return lambda: whoami._human(info)


def _plan(s: str) -> Plan:
    return Plan(s, s, s, [Step("add", "+", s, s)], [s], [s])


def _target(s: str, status: GrantStatus) -> TargetResult:
    return TargetResult(s, s, status, _plan(s), error=s, error_code="x", hint=s, retries=[s])


def _grant_one(s: str) -> Callable[[], None]:
    admin = AdminResult("set", GrantStatus.PLANNED, s, None, AdminSpec(s, s, s))
    outcome = Outcome(Mode.DRY_RUN, [_target(s, GrantStatus.DRIFT)], admin)
    return lambda: grant_render.human(outcome, plans_shown=False, corrected_command=s)


def _grant_many(s: str) -> Callable[[], None]:
    outcome = Outcome(Mode.APPLY, [_target(s, GrantStatus.CHANGED), _target(s, GrantStatus.FAILED)])
    return lambda: grant_render.human(outcome, plans_shown=False)


T0 = datetime(2026, 12, 6, 7, 0, tzinfo=UTC)


def _logs(s: str) -> Callable[[], None]:
    event = AuditEvent("id", T0, None, EventKind.FAILED_LOGIN, s, s, s, s, s, 18456, 8, s, s, s)
    ok = AuditEvent("id", T0, None, EventKind.LOGIN, s, s, s, s, s, None, None, s, s)
    group = SummaryGroup((("database", s), ("application", s), ("error", 18456)), 3, T0, T0, s, s, s)

    def draw() -> None:
        logs_render.out(logs_render.event_line(event))
        logs_render.out(logs_render.event_line(ok, late=True))
        logs_render.out(logs_render.group_line(group))
        for reason in PartialReason:  # the workspace id and the service's words are both from outside
            warning = partial_warning([PartialFailure(s, reason, s)])
            assert warning is not None
            logs_render._partial(warning, "human")

    return draw


def _logs_status(s: str) -> Callable[[], None]:
    # Every field that comes from Azure is hostile; the problems and changes are built from them.
    server = ServerRef(s, s, s)
    policy = AuditingPolicy(s, True, (s,))
    setting = DiagnosticSetting(s, s, (s,))
    workspace = Workspace(s, s, s, 30)
    status = AuditStatus(server, policy, (setting,), (workspace,))
    enabled = EnablePlan(server, workspace, policy, AuditingPolicy("Enabled", True, (s, "FAILED")), None, setting)

    def draw() -> None:
        logs_render.status_human(status)
        logs_render.enabled_human(enabled)

    return draw


def _errors(s: str) -> Callable[[], None]:
    def draw() -> None:
        render.emit_error_human(s, s)
        render.warn(s)

    return draw


def _sandbox(s: str) -> Callable[[], None]:
    from azsqlctl.sandbox.launch import Ready
    from azsqlctl.sandbox.serve import IdentityRow

    row = IdentityRow(name=s, kind=s, system_assigned=True, client_id=s, object_id=s, entra_admin=False, database_user_in=(s,))
    ready = Ready({"AZSQLCTL_SERVER": "127.0.0.1,1433"}, (row,), Path("/tmp") / "state.json", None)
    return lambda: sandbox_cli._announce(ready, "human")


RENDERERS: dict[str, Callable[[str], Callable[[], None]]] = {
    "doctor": _doctor,
    "whoami": _whoami,
    "grant (one database)": _grant_one,
    "grant (table)": _grant_many,
    "logs listing/summary/follow lines": _logs,
    "logs status/enable": _logs_status,
    "Error/Hint/Warning": _errors,
    "sandbox serve banner": _sandbox,
}
TABLES = {"grant (table)", "sandbox serve banner"}  # rich wraps long cells: lines are not comparable


@settings(max_examples=examples(60), deadline=None)
@given(s=hostile)
def test_no_renderer_lets_a_control_character_or_a_forged_line_through(s: str) -> None:
    for name, make in RENDERERS.items():
        text = _capture(make(s))
        assert not has_control(text.replace("\n", "")), (name, text)
        assert not re.search(r"^\s*FORGED", text, re.MULTILINE), (name, text)
        if name not in TABLES:
            assert text.count("\n") == _benign_lines(name), (name, text)


@functools.cache
def _benign_lines(name: str) -> int:
    """How many lines the renderer writes for a harmless value: the same in every example, so rendered once."""
    return _capture(RENDERERS[name]("x")).count("\n")
