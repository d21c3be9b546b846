"""The fleet progress view: counts, current rate and ETA; plain lines off a terminal; nothing for JSON."""

from __future__ import annotations

import io

from azsqlctl.cli.fleet_view import Tally, fleet_progress
from azsqlctl.core.grant.operation import Status, TargetResult


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def row(name: str, status: Status, error: str = "") -> TargetResult:
    return TargetResult("srv", name, status, error=error)


def test_rate_is_the_current_one_and_eta_follows_it() -> None:
    tally = Tally(100, 0.0)
    for t in range(10):  # 10 databases in the first 10 s
        tally.add("changed", float(t + 1))
    assert tally.rate(10.0) == 1.0 and tally.eta(10.0) == 90.0
    for t in range(40):  # then much faster: 40 in 4 s, and the 30 s window forgets the slow start
        tally.add("unchanged", 40.0 + t / 10)
    assert tally.rate(44.0) == 40 / 30 and tally.done == 50 and tally.changed == 10
    assert tally.line(44.0) == "50/100 databases: 10 changed, 0 failed, 1.3/s, ETA 0m37s"


def test_plain_lines_off_a_terminal_every_tenth_and_each_failure() -> None:
    out, clock = io.StringIO(), Clock()
    with fleet_progress(20, "human", out, clock) as on_done:
        assert on_done is not None
        for i in range(20):
            clock.now += 1
            on_done(row(f"db{i}", Status.FAILED if i == 3 else Status.CHANGED, "Login failed\x1b[31m"))
    lines = out.getvalue().splitlines()
    assert lines[0] == "2/20 databases: 2 changed, 0 failed, 1.0/s, ETA 0m18s"
    assert lines[1] == "failed: db3 on srv: Login failed\\x1b[31m"
    assert lines[-1] == "20/20 databases: 19 changed, 1 failed, 1.0/s, ETA 0m00s"
    assert len(lines) == 11  # ten progress lines and the failure


def test_json_and_single_databases_show_nothing() -> None:
    out = io.StringIO()
    with fleet_progress(50, "json", out) as on_done:
        assert on_done is None
    with fleet_progress(1, "human", out) as on_done:
        assert on_done is None
    with fleet_progress(9, "human", out) as on_done:  # off a terminal, a small run shows only its summary table
        assert on_done is None
    with fleet_progress(10, "human", out) as on_done:
        assert on_done is not None
    assert out.getvalue() == ""
