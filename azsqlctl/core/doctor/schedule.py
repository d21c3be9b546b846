"""Checks with dependencies, run concurrently: a check starts when the checks it needs are done.

The order comes from ``graphlib.TopologicalSorter``: a cycle is a ``CycleError`` when the
checks are declared (``validate``), never a hang. A check whose dependency failed (or was
skipped) is skipped with the reason, so the report never shows a second, confusing failure
caused by the first. Each check is a function over a typed context; what it learns comes back
as facts, merged into the context by the scheduler before any dependent starts.

Checks run in daemon threads: a Ctrl-C abandons them instead of waiting for a network step.
"""

from __future__ import annotations

import graphlib
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, TypeVar


class Status(StrEnum):
    PASS = "pass"  # noqa: S105 - a status, not a password
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


Evidence = Mapping[str, object]


@dataclass(frozen=True)
class Outcome:
    """A judgment: what a check concluded, the evidence, and the fix (fields in the order of ``CheckResult``)."""

    status: Status
    finding: str
    evidence: Evidence = field(default_factory=dict)
    fix: str = ""
    code: str = ""  # the error number / SQLSTATE / AADSTS code behind a failure, when there is one


class Stop(Exception):
    """Raised from deep inside a check body to end it with ``outcome``."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.finding)
        self.outcome = outcome


@dataclass(frozen=True)
class CheckResult:
    id: str
    title: str
    status: Status
    finding: str
    evidence: Evidence = field(default_factory=dict)
    fix: str = ""
    code: str = ""
    duration_ms: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id, "title": self.title, "status": str(self.status), "finding": self.finding,
            "evidence": dict(self.evidence), "fix": self.fix, "duration_ms": round(self.duration_ms, 1), "code": self.code,
        }  # fmt: skip


C = TypeVar("C")  # the context checks read
F = TypeVar("F")  # the facts a check hands on


@dataclass(frozen=True)
class Check(Generic[C, F]):
    id: str
    title: str
    body: Callable[[C], tuple[Outcome, F | None]]
    needs: tuple[str, ...] = ()  # must finish and pass (or warn); otherwise this check is skipped
    after: tuple[str, ...] = ()  # must finish first, whatever the outcome (its facts help explain failures)
    skip_when: Callable[[C], str] | None = None  # a reason to skip decided from the context (e.g. no ARM scope)
    hidden: bool = False  # a step that feeds others (e.g. the ARM read) and is not reported on its own
    includes: tuple[str, ...] = ()  # hidden steps whose time is this check's time

    @property
    def depends_on(self) -> tuple[str, ...]:
        return (*self.needs, *self.after, *self.includes)


def validate(checks: Sequence[Check[C, F]]) -> graphlib.TopologicalSorter[str]:
    """A prepared sorter; raises ValueError for unknown dependencies and graphlib.CycleError for a cycle."""
    ids = [c.id for c in checks]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate check ids: {sorted({i for i in ids if ids.count(i) > 1})}")
    unknown = sorted({n for c in checks for n in c.depends_on} - set(ids))
    if unknown:
        raise ValueError(f"checks need unknown checks: {unknown}")
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter({c.id: set(c.depends_on) for c in checks})
    sorter.prepare()
    return sorter


def _run_one(check: Check[C, F], ctx: C) -> tuple[CheckResult, F | None]:
    start = time.perf_counter()
    facts: F | None = None
    try:
        outcome, facts = check.body(ctx)
    except Stop as stop:
        outcome = stop.outcome
    ms = (time.perf_counter() - start) * 1000
    return CheckResult(check.id, check.title, outcome.status, outcome.finding, outcome.evidence, outcome.fix, outcome.code, ms), facts


def run_checks(
    checks: Sequence[Check[C, F]],
    ctx: C,
    merge: Callable[[C, F], None] | None = None,
    done: dict[str, CheckResult] | None = None,
) -> list[CheckResult]:
    """Run every check once its dependencies are finished; reported results come back in declaration order.

    ``done`` (when given) receives each result as it finishes, so checks can read their dependencies' results.
    """
    by_id = {c.id: c for c in checks}
    sorter = validate(checks)
    done = {} if done is None else done
    finished: queue.Queue[tuple[str, CheckResult | None, F | None, BaseException | None]] = queue.Queue()
    running = 0

    def work(check: Check[C, F]) -> None:
        try:
            ran = _run_one(check, ctx)
            finished.put((check.id, ran[0], ran[1], None))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the scheduler's thread
            finished.put((check.id, None, None, exc))

    while sorter.is_active():
        for cid in sorter.get_ready():
            check = by_id[cid]
            reason = _skip_reason(check, done, ctx)
            if reason:
                done[cid] = CheckResult(cid, check.title, Status.SKIP, reason)
                sorter.done(cid)
                continue
            threading.Thread(target=work, args=(check,), name=f"check {cid}", daemon=True).start()
            running += 1
        if running == 0:
            continue
        cid, result, facts, error = finished.get()
        running -= 1
        if error is not None:
            raise error
        assert result is not None
        if facts is not None and merge is not None:
            merge(ctx, facts)  # before any dependent is released: checks see only finished facts
        extra = sum(done[i].duration_ms for i in by_id[cid].includes if i in done)
        done[cid] = CheckResult(**{**result.__dict__, "duration_ms": result.duration_ms + extra})
        sorter.done(cid)
    return [done[c.id] for c in checks if not c.hidden]


def _skip_reason(check: Check[C, F], done: Mapping[str, CheckResult], ctx: C) -> str:
    if check.skip_when is not None:
        reason = check.skip_when(ctx)
        if reason:
            return reason
    for need in check.needs:
        first = done[need]
        if first.status in (Status.FAIL, Status.SKIP):
            return f"skipped: {first.title.lower()} {'failed' if first.status == Status.FAIL else 'was skipped'}"
    return ""
