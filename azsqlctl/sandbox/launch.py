"""What `azsqlctl sandbox serve` and `sandbox run` start: one frozen request, one call that builds the sandbox.

The rules are the sandbox's own (its default state file, the audit retention defaults, a scenario's fresh
state, the Log Analytics port and ingestion delay), so they live in the sandbox package and not in core:
core never imports the sandbox, and no other command needs them. The CLI maps its options to a
``SandboxRequest`` and calls ``prepared`` once.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from azsqlctl.core.errors import UsageError

from .scenarios import Scenario, load_scenario
from .serve import IdentityRow, Sandbox
from .store import default_state_path


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


@dataclass(frozen=True)
class Ready:
    """What a started sandbox announces: the environment clients need, its identities, where its state lives."""

    env: Mapping[str, str]
    identities: tuple[IdentityRow, ...]
    state: Path | None
    env_file: Path | None  # where `serve --env-file` wrote the environment

    def as_json(self) -> dict[str, object]:
        return {
            "env": dict(self.env),
            "identities": [row.as_json() for row in self.identities],
            "state": str(self.state),
            "env_file": str(self.env_file) if self.env_file else None,
        }


def ready(sandbox: Sandbox, env_file: Path | None) -> Ready:
    return Ready(sandbox.env, sandbox.identities(), sandbox.state_path, env_file)


@dataclass(frozen=True)
class ResetResult:
    state: Path  # rewritten with the default state
    removed: tuple[Path, ...]  # the table data and audit files that were beside it


def reset(path: Path) -> ResetResult:
    """`sandbox reset`: rewrite ``path`` with the default state; remove the user-table data and audit files beside it."""
    from azsqlctl.atomic_file import private_dir

    from . import state as st
    from .monitor.audit import audit_path
    from .sql.engine.storage import data_directory

    st.check_path(path)
    private_dir(path.parent, tighten=path.parent == default_state_path().parent)  # 0700 when created here, as serve does
    st.dump(st.default_state(), path)
    audit = audit_path(path)
    removed: list[Path] = []
    for extra in (audit, audit.with_name(audit.name + "-wal"), audit.with_name(audit.name + "-shm"), data_directory(path)):
        if extra.is_dir():
            shutil.rmtree(extra)
        elif extra.exists():
            extra.unlink()
        else:
            continue
        removed.append(extra)
    return ResetResult(path, tuple(removed))
