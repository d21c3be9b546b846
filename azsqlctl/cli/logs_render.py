"""How `azsqlctl logs` prints: event and group lines, NDJSON, warnings, the --follow loop's stderr, enable/status.

Events stream to stdout as they are decoded (one line, or one NDJSON object, each); warnings,
retries and the Ctrl-C summary go to stderr.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from typing import TYPE_CHECKING

from azsqlctl.core.visible import visible

if TYPE_CHECKING:
    from azsqlctl.core.logs.audit_rows import AuditEvent
    from azsqlctl.core.logs.follow import FollowSettings
    from azsqlctl.core.logs.kql import LogsRequest
    from azsqlctl.core.logs.partial import PartialWarning
    from azsqlctl.core.logs.ports import LogsQuery, LogsTarget
    from azsqlctl.core.logs.setup import AuditStatus, EnablePlan
    from azsqlctl.core.logs.summary import SummaryGroup


def out(line: str) -> None:
    """One line of text on stdout. Its fields come from the audit log and ARM: control characters made visible,
    so a database or application name chosen by a failed login's client can neither forge a line nor drive
    the terminal."""
    sys.stdout.write(visible(line) + "\n")
    sys.stdout.flush()


def out_json(obj: object) -> None:
    """One NDJSON line on stdout: exact values (the encoder escapes what must be)."""
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def err(line: str) -> None:
    """One line of text on stderr, control characters made visible (messages quote servers and endpoints)."""
    sys.stderr.write(visible(line) + "\n")
    sys.stderr.flush()


def event_line(event: AuditEvent, late: bool = False) -> str:
    from azsqlctl.core.logs.audit_rows import as_iso

    where = f"{event.server}/{event.database}" if event.database else event.server
    who = event.principal or "(no principal)"
    src = event.client_ip or "-"
    app_name = f" ({event.application})" if event.application else ""
    flag = " [late]" if late else ""
    if not event.failed:
        return f"{as_iso(event.event_time)}  {where}  {who} from {src}{app_name}  login succeeded{flag}"
    code = f"{event.error if event.error is not None else '?'} state {event.state if event.state is not None else '?'}"
    fix = f"  fix: {event.fix}" if event.fix else ""
    hashed = f"  query {event.statement_hash}" if event.statement_hash else ""
    return f"{as_iso(event.event_time)}  {where}  {who} from {src}{app_name}  {code}: {event.cause}.{fix}{hashed}{flag}"


def _emit_event(event: AuditEvent, fmt: str, salt: bytes | None, late: bool = False) -> None:
    if salt is not None:
        event = event.redacted(salt)
    if fmt == "json":
        out_json({**event.as_json(), **({"late": True} if late else {})})
    else:
        out(event_line(event, late))


def _partial(warning: PartialWarning, fmt: str) -> None:
    if fmt == "json":
        out_json(warning.as_json())
    err(f"Warning: {warning.message}")


def run_list(port: LogsQuery, target: LogsTarget, request: LogsRequest, server_timeout: int | None, fmt: str, salt: bytes | None) -> int:
    from azsqlctl.core.logs.runner import list_events

    result = list_events(port, target, request, server_timeout)
    if result.partial is not None:
        _partial(result.partial, fmt)
    for event in result.events:
        _emit_event(event, fmt, salt)
    if not result.events and fmt != "json":
        what = "logins" if request.all_events else "failed logins"
        err(f"No {what} since {request.since.isoformat(timespec='seconds')} in {target.display}.")
    return 0


def group_line(group: SummaryGroup) -> str:
    from azsqlctl.core.logs.audit_rows import as_iso

    keys = "  ".join(f"{c}={v}" for c, v in group.keys if v not in (None, ""))
    fix = f"  fix: {group.fix}" if group.fix else ""
    hint = f"  hint: {group.hint}" if group.hint else ""
    span = f"{as_iso(group.first_seen)} .. {as_iso(group.last_seen)}"
    return f"{group.events:>6}  {keys}  ({span})  {group.cause}.{fix}{hint}"


def run_summary(port: LogsQuery, target: LogsTarget, request: LogsRequest, server_timeout: int | None, fmt: str, salt: bytes | None) -> int:
    from azsqlctl.core.logs.runner import summarize

    result = summarize(port, target, request, server_timeout)
    if result.partial is not None:
        _partial(result.partial, fmt)
    for group in result.groups:
        shown = group.redacted(salt) if salt is not None else group
        if fmt == "json":
            out_json(shown.as_json())
        else:
            out(group_line(shown))
    if not result.groups and fmt != "json":
        err(f"No failed logins since {request.since.isoformat(timespec='seconds')} in {target.display}.")
    return 0


def run_follow(
    port: LogsQuery,
    target: LogsTarget,
    request: LogsRequest,
    settings: FollowSettings,
    server_timeout: int | None,
    fmt: str,
    salt: bytes | None,
) -> int:
    from azsqlctl.core.errors import ExitCode
    from azsqlctl.core.logs.runner import follow

    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        stop.set()

    # Ctrl-C and SIGTERM (a supervisor, `timeout`, docker stop) both end with the summary: exit 130 or 143.
    main_thread = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)} if main_thread else {}
    try:
        report = follow(
            port,
            target,
            request,
            settings,
            should_stop=stop.is_set,
            wait=stop.wait,
            on_event=lambda item: _emit_event(item.row, fmt, salt, item.late),
            on_retry=lambda failure, delay, attempt: err(
                f"Warning: {failure.message}; retrying in {delay.total_seconds():.1f}s (attempt {attempt})"
            ),
            on_partial=lambda warning: _partial(warning, fmt),
            server_timeout=server_timeout,
        )
    except KeyboardInterrupt:
        stop.set()
        return int(ExitCode.INTERRUPTED)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if fmt == "json":
        out_json(report.as_json())
    err(f"Stopped: {report.line()}")
    return 128 + received[0] if received else int(ExitCode.INTERRUPTED)


def enabled_human(plan: EnablePlan) -> None:
    server = plan.server.name
    out(f"Enabled: {server} now sends failed logins to {plan.workspace.arm_id} (workspace id {plan.workspace.customer_id}).")
    for change in plan.changes:
        out(f"  - {change}")
    out("Rows appear after Azure's ingestion delay (minutes); then: azsqlctl logs --server " + server)


def status_human(status: AuditStatus) -> None:
    a, server = status.auditing, status.server.name
    out(f"Server {server}")
    target = "Azure Monitor" if a.azure_monitor else "no Azure Monitor target"
    out(f"  auditing: {a.state}, {target}; action groups: {', '.join(a.action_groups) or '(none)'}")
    if not status.settings:
        out("  diagnostic settings on master: (none)")
    for s in status.settings:
        dest = s.workspace_id or "(no workspace)"
        out(f"  diagnostic setting '{s.name}': {', '.join(s.categories) or '(no logs)'} -> {dest}")
    for w in status.workspaces:
        out(f"  rows go to workspace {w.customer_id} (retention {w.retention_days} days): azsqlctl logs --workspace {w.customer_id}")
    if status.ready:
        out("Failed logins are recorded: azsqlctl logs --server " + server)
    else:
        for problem in status.problems:
            out(f"  ! {problem}")
        out(
            f"Failed logins are NOT recorded in Log Analytics. Fix: azsqlctl logs enable --server {server} --workspace-resource <workspace ARM id>"
        )
