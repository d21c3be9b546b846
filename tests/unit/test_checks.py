"""The check runner: dependency order, skips with reasons, concurrency, ordering-only deps."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from azsqlctl.core.checks import Check, CheckResult, Outcome, Status, run_checks


def ok(_: dict[str, CheckResult]) -> tuple[Status, str, dict[str, Any], str]:
    return Status.PASS, "ok", {}, ""


def boom(_: dict[str, CheckResult]) -> tuple[Status, str, dict[str, Any], str]:
    raise Outcome(Status.FAIL, "broken", "mend it", code="E1")


def test_dependents_of_a_failure_are_skipped_with_the_reason() -> None:
    results = run_checks(
        [Check("a", "Alpha", boom), Check("b", "Beta", ok, ("a",)), Check("c", "Gamma", ok, ("b",)), Check("d", "Delta", ok)]
    )
    by_id = {r.id: r for r in results}
    assert [r.id for r in results] == ["a", "b", "c", "d"]
    assert (by_id["a"].status, by_id["a"].fix, by_id["a"].code) == (Status.FAIL, "mend it", "E1")
    assert (by_id["b"].status, by_id["b"].finding) == (Status.SKIP, "skipped: alpha failed")
    assert (by_id["c"].status, by_id["c"].finding) == (Status.SKIP, "skipped: beta was skipped")
    assert by_id["d"].status == Status.PASS


def test_after_waits_without_skipping() -> None:
    order: list[str] = []

    def record(name: str) -> Any:
        def body(done: dict[str, CheckResult]) -> tuple[Status, str, dict[str, Any], str]:
            order.append(name)
            return Status.PASS, ",".join(sorted(done)), {}, ""

        return body

    results = run_checks([Check("slow", "Slow", boom), Check("late", "Late", record("late"), after=("slow",))])
    assert results[1].status == Status.PASS and results[1].finding == "slow"


def test_independent_checks_run_concurrently() -> None:
    barrier = threading.Barrier(3, timeout=5)

    def meet(_: dict[str, CheckResult]) -> tuple[Status, str, dict[str, Any], str]:
        barrier.wait()  # only passes if all three run at the same time
        return Status.PASS, "", {}, ""

    start = time.perf_counter()
    results = run_checks([Check(n, n, meet) for n in "xyz"])
    assert all(r.status == Status.PASS for r in results)
    assert time.perf_counter() - start < 5


def test_static_skip_and_unknown_dependency() -> None:
    results = run_checks([Check("arm", "ARM", ok, skip_reason="skipped: no scope"), Check("after", "After", ok, ("arm",))])
    assert [(r.status, r.finding) for r in results] == [(Status.SKIP, "skipped: no scope"), (Status.SKIP, "skipped: arm was skipped")]
    with pytest.raises(ValueError, match="unknown"):
        run_checks([Check("a", "A", ok, ("nope",))])
