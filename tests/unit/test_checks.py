"""The check runner: dependency order, skips with reasons, concurrency, ordering-only deps, cycles."""

from __future__ import annotations

import graphlib
import threading
import time

import pytest

from azsqlctl.core.doctor.schedule import Check, CheckResult, Outcome, Status, Stop, run_checks, validate

Ctx = dict[str, CheckResult]


def ok(_: Ctx) -> tuple[Outcome, None]:
    return Outcome(Status.PASS, "ok"), None


def boom(_: Ctx) -> tuple[Outcome, None]:
    raise Stop(Outcome(Status.FAIL, "broken", fix="mend it", code="E1"))


def run(checks: list[Check[Ctx, None]]) -> list[CheckResult]:
    done: Ctx = {}
    return run_checks(checks, done, done=done)


def test_dependents_of_a_failure_are_skipped_with_the_reason() -> None:
    results = run([Check("a", "Alpha", boom), Check("b", "Beta", ok, ("a",)), Check("c", "Gamma", ok, ("b",)), Check("d", "Delta", ok)])
    by_id = {r.id: r for r in results}
    assert [r.id for r in results] == ["a", "b", "c", "d"]
    assert (by_id["a"].status, by_id["a"].fix, by_id["a"].code) == (Status.FAIL, "mend it", "E1")
    assert (by_id["b"].status, by_id["b"].finding) == (Status.SKIP, "skipped: alpha failed")
    assert (by_id["c"].status, by_id["c"].finding) == (Status.SKIP, "skipped: beta was skipped")
    assert by_id["d"].status == Status.PASS


def test_after_waits_without_skipping_and_sees_finished_results() -> None:
    def late(done: Ctx) -> tuple[Outcome, None]:
        return Outcome(Status.PASS, ",".join(sorted(done))), None

    results = run([Check("slow", "Slow", boom), Check("late", "Late", late, after=("slow",))])
    assert results[1].status == Status.PASS and results[1].finding == "slow"


def test_independent_checks_run_concurrently() -> None:
    barrier = threading.Barrier(3, timeout=5)

    def meet(_: Ctx) -> tuple[Outcome, None]:
        barrier.wait()  # only passes if all three run at the same time
        return Outcome(Status.PASS, ""), None

    start = time.perf_counter()
    results = run([Check(n, n, meet) for n in "xyz"])
    assert all(r.status == Status.PASS for r in results)
    assert time.perf_counter() - start < 5


def test_skip_when_hidden_steps_and_includes() -> None:
    def slow(_: Ctx) -> tuple[Outcome, None]:
        time.sleep(0.05)
        return Outcome(Status.PASS, "read"), None

    results = run(
        [
            Check("arm", "ARM", ok, skip_when=lambda _ctx: "skipped: no scope"),
            Check("after", "After", ok, ("arm",)),
            Check("read", "(read)", slow, hidden=True),
            Check("judge", "Judge", ok, includes=("read",)),
        ]
    )
    assert [(r.id, r.status, r.finding) for r in results[:2]] == [
        ("arm", Status.SKIP, "skipped: no scope"),
        ("after", Status.SKIP, "skipped: arm was skipped"),
    ]
    assert [r.id for r in results] == ["arm", "after", "judge"]  # hidden steps are not reported
    assert results[2].duration_ms >= 50  # timed with the hidden step it judges


def test_unknown_dependency_and_cycles_fail_before_running() -> None:
    with pytest.raises(ValueError, match="unknown"):
        validate([Check("a", "A", ok, ("nope",))])
    with pytest.raises(graphlib.CycleError):
        validate([Check("a", "A", ok, ("b",)), Check("b", "B", ok, after=("a",))])


def test_doctor_graph_is_valid_at_import() -> None:
    from azsqlctl.core.doctor.checks import CHECKS

    validate(CHECKS)
    reported = [c.id for c in CHECKS if not c.hidden]
    assert reported == ["driver", "credential", "token", "dns", "tcp", "tls", "server", "login", "permissions"]
