"""core/doctor/schedule.py: the check scheduler's contract beyond ordering - result records, the errors a bad
graph raises, facts merged before dependents start, a check's own exception, skip reasons and timing."""

from __future__ import annotations

import graphlib
import itertools
import threading
import time

import pytest

from azsqlctl.core.doctor.schedule import Check, CheckResult, Outcome, Status, Stop, run_checks, validate

Ctx = dict[str, object]


def passes(_: Ctx) -> tuple[Outcome, None]:
    return Outcome(Status.PASS, "ok"), None


def test_statuses_and_records() -> None:
    assert [str(s) for s in Status] == ["pass", "warn", "fail", "skip"]
    outcome = Outcome(Status.WARN, "f")
    assert (outcome.evidence, outcome.fix, outcome.code) == ({}, "", "")
    result = CheckResult("tls", "TLS", Status.FAIL, "bad", {"ms": 1}, "fix it", "08001", 12.345)
    assert result.as_dict() == {
        "id": "tls", "title": "TLS", "status": "fail", "finding": "bad", "evidence": {"ms": 1}, "fix": "fix it",
        "duration_ms": 12.3, "code": "08001",
    }  # fmt: skip
    bare = CheckResult("a", "A", Status.PASS, "")
    assert (bare.evidence, bare.fix, bare.code, bare.duration_ms) == ({}, "", "", 0.0)
    stop = Stop(Outcome(Status.FAIL, "why"))
    assert str(stop) == "why" and stop.outcome.finding == "why"


def test_a_checks_dependencies_in_order() -> None:
    check: Check[Ctx, None] = Check("x", "X", passes, needs=("a",), after=("b",), includes=("c",))
    assert check.depends_on == ("a", "b", "c")
    plain: Check[Ctx, None] = Check("y", "Y", passes)
    assert (plain.needs, plain.after, plain.includes, plain.skip_when, plain.hidden) == ((), (), (), None, False)


def test_a_bad_graph_is_named() -> None:
    with pytest.raises(ValueError, match=r"^duplicate check ids: \['a'\]$"):
        validate([Check("a", "A", passes), Check("b", "B", passes), Check("a", "A2", passes)])
    with pytest.raises(ValueError, match=r"^checks need unknown checks: \['m', 'n'\]$"):
        validate([Check("a", "A", passes, needs=("n",), includes=("m",)), Check("b", "B", passes, after=("a",))])
    with pytest.raises(graphlib.CycleError):
        validate([Check("a", "A", passes, needs=("a",))])
    sorter = validate([Check("a", "A", passes), Check("b", "B", passes, needs=("a",))])
    assert sorter.get_ready() == ("a",)


def test_facts_are_merged_before_dependents_start_and_results_are_recorded() -> None:
    ctx: Ctx = {}
    seen: list[object] = []

    def learn(_: Ctx) -> tuple[Outcome, str]:
        return Outcome(Status.PASS, "learnt"), "fact"

    def use(c: Ctx) -> tuple[Outcome, None]:
        seen.append(c.get("fact"))
        return Outcome(Status.PASS, "used"), None

    def merge(c: Ctx, facts: str) -> None:
        c["fact"] = facts

    done: dict[str, CheckResult] = {}
    checks: list[Check[Ctx, str]] = [Check("use", "Use", use, needs=("learn",)), Check("learn", "Learn", learn)]
    results = run_checks(checks, ctx, merge, done=done)
    assert seen == ["fact"] and ctx == {"fact": "fact"}
    assert [r.id for r in results] == ["use", "learn"]  # declaration order
    assert set(done) == {"use", "learn"} and done["learn"].finding == "learnt"
    # without a merge function facts are dropped; without done the results still come back
    assert [r.status for r in run_checks(checks, {})] == [Status.PASS, Status.PASS]


def test_an_exception_in_a_check_reaches_the_caller() -> None:
    def broken(_: Ctx) -> tuple[Outcome, None]:
        raise KeyError("bug")

    with pytest.raises(KeyError, match="bug"):
        run_checks([Check("a", "A", broken), Check("b", "B", passes, needs=("a",))], {})


def test_skip_reasons() -> None:
    def warns(_: Ctx) -> tuple[Outcome, None]:
        return Outcome(Status.WARN, "meh"), None

    def fails(_: Ctx) -> tuple[Outcome, None]:
        return Outcome(Status.FAIL, "no"), None

    results = run_checks(
        [
            Check("w", "Warning Check", warns),
            Check("after_warn", "A", passes, needs=("w",)),  # a warning is no reason to skip
            Check("f", "Failing Check", fails),
            Check("after_fail", "B", passes, needs=("w", "f")),
            Check("quiet", "Q", passes, skip_when=lambda _: ""),  # an empty reason runs the check
            Check("hidden", "H", passes, hidden=True, skip_when=lambda _: "skipped: not now"),
            Check("after_hidden", "C", passes, needs=("hidden",)),
        ],
        {},
    )
    by_id = {r.id: r for r in results}
    assert "hidden" not in by_id
    assert by_id["after_warn"].status == Status.PASS
    assert (by_id["after_fail"].status, by_id["after_fail"].finding) == (Status.SKIP, "skipped: failing check failed")
    assert by_id["quiet"].status == Status.PASS
    assert (by_id["after_hidden"].status, by_id["after_hidden"].finding) == (Status.SKIP, "skipped: h was skipped")


def test_a_stopped_check_keeps_its_outcome_and_time_includes_hidden_steps() -> None:
    def stops(_: Ctx) -> tuple[Outcome, None]:
        raise Stop(Outcome(Status.FAIL, "stopped", {"k": 1}, "do this", "E9"))

    def slow(_: Ctx) -> tuple[Outcome, None]:
        time.sleep(0.02)
        return Outcome(Status.PASS, "read"), None

    done: dict[str, CheckResult] = {}
    checks: list[Check[Ctx, None]] = [
        Check("step", "(step)", slow, hidden=True),
        Check("judge", "Judge", stops, includes=("step",)),
    ]
    [judged] = run_checks(checks, {}, done=done)
    assert (judged.status, judged.finding, judged.evidence, judged.fix, judged.code) == (Status.FAIL, "stopped", {"k": 1}, "do this", "E9")
    assert done["step"].duration_ms >= 20 and judged.duration_ms >= done["step"].duration_ms  # timed with the step it judges


def test_checks_run_in_daemon_threads_named_for_the_check() -> None:
    seen: list[tuple[str, bool]] = []

    def where(_: Ctx) -> tuple[Outcome, None]:
        thread = threading.current_thread()
        seen.append((thread.name, thread.daemon))  # a Ctrl-C abandons them instead of waiting for a network step
        return Outcome(Status.PASS, ""), None

    run_checks([Check("tls", "TLS", where)], {})
    assert seen == [("check tls", True)]


def test_a_checks_time_is_its_bodys_in_milliseconds(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = itertools.count(start=10.0, step=0.25)  # each reading a quarter of a second after the last
    monkeypatch.setattr(time, "perf_counter", lambda: next(clock))
    [result] = run_checks([Check("a", "A", passes)], {})
    assert result.duration_ms == 250.0
