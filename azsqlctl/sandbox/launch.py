"""What `azsqlctl sandbox serve` and `sandbox run` start: one frozen request, one call that builds the sandbox.

The rules are the sandbox's own (its default state file, the audit retention defaults, a scenario's fresh
state, the Log Analytics port and ingestion delay), so they live in the sandbox package and not in core:
core never imports the sandbox, and no other command needs them. The CLI maps its options to a
``SandboxRequest`` and calls ``prepared`` once.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from azsqlctl.core.errors import UsageError

from .scenarios import Scenario, load_scenario
from .serve import Sandbox, default_state_path


@dataclass(frozen=True)
class SandboxRequest:
    state: Path | None = None  # None: the sandbox's own state file (a temporary one for a scenario)
    scenario: Scenario | None = None  # a fresh state set up for a docs example
    tds_port: int = 0  # 0: a free port
    identity_port: int = 0
    arm_port: int = 0
    logs_port: int | None = None  # None: the surface's default (a free port)
    token_lifetime: int | None = None  # None: the state's
    audit_rows: int | None = None  # None: DEFAULT_RETENTION_ROWS
    audit_days: float | None = None  # None: DEFAULT_RETENTION_DAYS
    ingestion_delay: float | None = None  # seconds before an audit row is queryable; None: the surface's default


@contextmanager
def prepared(request: SandboxRequest) -> Iterator[Sandbox]:
    """The sandbox ``request`` describes, not yet started; a scenario's temporary state is removed afterwards."""
    if request.scenario is None or request.state is not None:
        yield _build(request, None)
        return
    with tempfile.TemporaryDirectory(prefix="azsqlctl-scenario-") as tmp:
        yield _build(request, Path(tmp))


def _build(request: SandboxRequest, scratch: Path | None) -> Sandbox:
    from .monitor.audit import DEFAULT_RETENTION_DAYS, DEFAULT_RETENTION_ROWS, Retention
    from .surfaces import LogsSurface

    retention = Retention(
        rows=request.audit_rows if request.audit_rows is not None else DEFAULT_RETENTION_ROWS,
        days=request.audit_days if request.audit_days is not None else DEFAULT_RETENTION_DAYS,
    )
    path = request.state or default_state_path()
    if request.scenario is not None:
        path = _scenario_state(request.state, scratch)
    sandbox = Sandbox(
        path,
        tds_port=request.tds_port,
        identity_port=request.identity_port,
        arm_port=request.arm_port,
        token_lifetime=request.token_lifetime,
        audit_retention=retention,
    )
    if request.scenario is not None:
        load_scenario(sandbox, request.scenario)
    if request.logs_port is not None:
        sandbox.parts.ports[LogsSurface.name] = request.logs_port
    if request.ingestion_delay is not None:
        sandbox.surface(LogsSurface).service.ingestion.delay = request.ingestion_delay
    return sandbox


def _scenario_state(state: Path | None, scratch: Path | None) -> Path:
    """A scenario starts from a fresh state: a new --state file, or one in a temporary directory."""
    if state is None:
        assert scratch is not None
        return scratch / "state.json"
    if state.exists():
        raise UsageError(
            f"--scenario starts from a fresh state, and {state} exists",
            "leave out --state (a temporary one is used), or name a file that does not exist yet",
            code="scenario_state_exists",
        )
    return state
