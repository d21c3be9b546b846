"""Progress of a fleet run on stderr: a Rich display on a terminal, plain lines otherwise, nothing under -o json.

On a terminal: databases done of total, how many changed and failed, the current rate and the ETA,
redrawn in place and gone when the run ends (the summary table follows on stdout). Not a terminal
(CI logs, a pipe): for a fleet of PLAIN_FROM databases or more, one line per failed database as it fails
and a progress line every tenth of the fleet (at most one per second), so a log shows the run moving
without one line per database; a smaller run is over in moments and its summary table says it all.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from azsqlctl.core.grant.operation import TargetResult

RATE_WINDOW = 30.0  # seconds of completions the rate is measured over (the current rate, not the average)


@dataclass
class Tally:
    total: int
    started: float
    done: int = 0
    changed: int = 0
    failed: int = 0
    stamps: list[float] = field(default_factory=list)

    def add(self, status: str, now: float) -> None:
        self.done += 1
        self.changed += status == "changed"
        self.failed += status == "failed"
        self.stamps.append(now)
        while self.stamps and now - self.stamps[0] > RATE_WINDOW:
            self.stamps.pop(0)

    def rate(self, now: float) -> float:
        """Databases per second over the last RATE_WINDOW seconds (since the start, early on)."""
        span = min(now - self.started, RATE_WINDOW)
        return len(self.stamps) / span if span > 0 else 0.0

    def eta(self, now: float) -> float | None:
        rate = self.rate(now)
        return (self.total - self.done) / rate if rate > 0 else None

    def line(self, now: float) -> str:
        eta = self.eta(now)
        left = "-" if eta is None else f"{int(eta) // 60}m{int(eta) % 60:02d}s"
        return f"{self.done}/{self.total} databases: {self.changed} changed, {self.failed} failed, {self.rate(now):.1f}/s, ETA {left}"


PLAIN_FROM = 10  # databases: off a terminal, smaller runs print only their summary


@contextmanager
def fleet_progress(
    total: int, fmt: str, stream: IO[str] | None = None, clock: Callable[[], float] = time.monotonic
) -> Iterator[Callable[[TargetResult], None] | None]:
    """The ``on_done`` callback for ``core.grant.execute`` (None when nothing should be shown)."""
    out = stream or sys.stderr
    if fmt != "human" or total < 2:
        yield None
        return
    tally = Tally(total, clock())
    lock = threading.Lock()
    if out.isatty():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        from .render import console

        columns = (TextColumn("Databases"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[counts]}"),
                   TimeRemainingColumn())  # fmt: skip
        with Progress(*columns, console=console(stderr=True), transient=True) as bar:
            task = bar.add_task("databases", total=total, counts="")

            def on_tty(row: TargetResult) -> None:
                with lock:
                    now = clock()
                    tally.add(row.status.value, now)
                    counts = f"{tally.changed} changed, {tally.failed} failed, {tally.rate(now):.1f}/s"
                    bar.update(task, advance=1, counts=counts)

            yield on_tty
        return
    if total < PLAIN_FROM:
        yield None
        return
    step = max(1, total // 10)
    last = [tally.started]

    def on_line(row: TargetResult) -> None:
        with lock:
            now = clock()
            tally.add(row.status.value, now)
            if row.status.value == "failed":
                out.write(f"failed: {_plain(row.database)} on {_plain(row.server)}: {_plain(row.error)}\n")
            if tally.done == total or (tally.done % step == 0 and now - last[0] >= 1.0):
                last[0] = now
                out.write(tally.line(now) + "\n")
            out.flush()

    yield on_line


def _plain(text: object) -> str:
    """Names and messages from outside, one line, control characters visible."""
    from azsqlctl.core.visible import visible

    return visible(str(text))
