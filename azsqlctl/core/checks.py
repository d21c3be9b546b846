"""Checks with dependencies, run concurrently: a check starts when the checks it needs are done.

A check whose dependency failed (or was skipped) is skipped with the reason, so
the report never shows a second, confusing failure caused by the first.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PASS = "pass"  # noqa: S105 - a status, not a password
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclass
class CheckResult:
    id: str
    title: str
    status: Status
    finding: str
    evidence: dict[str, Any] = field(default_factory=dict)
    fix: str = ""
    duration_ms: float = 0.0
    code: str = ""  # the error number / SQLSTATE / AADSTS code behind a failure, when there is one

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "title": self.title, "status": str(self.status), "finding": self.finding,
            "evidence": self.evidence, "fix": self.fix, "duration_ms": round(self.duration_ms, 1), "code": self.code,
        }  # fmt: skip


class Outcome(Exception):
    """Raised by a check body to end with a given result (fail/warn) from deep inside."""

    def __init__(self, status: Status, finding: str, fix: str = "", evidence: dict[str, Any] | None = None, code: str = "") -> None:
        super().__init__(finding)
        self.status, self.finding, self.fix, self.evidence, self.code = status, finding, fix, evidence or {}, code


@dataclass
class Check:
    id: str
    title: str
    body: Callable[[dict[str, CheckResult]], tuple[Status, str, dict[str, Any], str]]
    needs: tuple[str, ...] = ()  # must finish and pass (or warn); otherwise this check is skipped
    after: tuple[str, ...] = ()  # must finish first, whatever the outcome (its facts help explain failures)
    skip_reason: str = ""  # a static reason to skip (e.g. no ARM scope given), decided before running


def _run_one(check: Check, done: dict[str, CheckResult]) -> CheckResult:
    start = time.perf_counter()
    code = ""
    try:
        status, finding, evidence, fix = check.body(done)
    except Outcome as out:
        status, finding, evidence, fix, code = out.status, out.finding, out.evidence, out.fix, out.code
    return CheckResult(check.id, check.title, status, finding, evidence, fix, (time.perf_counter() - start) * 1000, code)


def run_checks(checks: list[Check], workers: int = 8) -> list[CheckResult]:
    """Run every check once its ``needs`` are finished; results come back in declaration order."""
    by_id = {c.id: c for c in checks}
    unknown = sorted({n for c in checks for n in (*c.needs, *c.after)} - set(by_id))
    if unknown:
        raise ValueError(f"checks need unknown checks: {unknown}")
    done: dict[str, CheckResult] = {}
    pending = dict(by_id)
    running: dict[concurrent.futures.Future[CheckResult], str] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        while pending or running:
            for cid, check in list(pending.items()):
                if check.skip_reason:
                    done[cid] = CheckResult(cid, check.title, Status.SKIP, check.skip_reason)
                    del pending[cid]
                    continue
                blockers = [n for n in check.needs if n in done and done[n].status in (Status.FAIL, Status.SKIP)]
                if blockers:
                    first = done[blockers[0]]
                    reason = f"skipped: {first.title.lower()} {'failed' if first.status == Status.FAIL else 'was skipped'}"
                    done[cid] = CheckResult(cid, check.title, Status.SKIP, reason)
                    del pending[cid]
                elif all(n in done for n in (*check.needs, *check.after)):
                    running[pool.submit(_run_one, check, dict(done))] = cid
                    del pending[cid]
            if not running:
                continue
            finished, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in finished:
                cid = running.pop(future)
                done[cid] = future.result()
    return [done[c.id] for c in checks]
