"""`azsqlctl logs --follow` as a real process against the sandbox: late and out-of-order arrival, a duplicated
page, a 429 and a 500 mid-run -> every row exactly once, in event-time order, and a summary on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

from azsqlctl.sandbox.monitor.audit import LoginEvent
from azsqlctl.sandbox.serve import Sandbox
from azsqlctl.sandbox.surfaces import LogsSurface


def test_follow_every_row_once_in_event_time_order(sandbox: Sandbox, client_env: dict[str, str]) -> None:
    service = sandbox.surface(LogsSurface).service
    # Ingestion: 0.2 s plus up to 0.5 s more per row -> rows become visible out of event-time order.
    service.ingestion.delay, service.ingestion.jitter = 0.2, 0.5
    sandbox.faults.inject("logs", "duplicate", count=2)  # the first two pages that have rows are delivered twice
    sandbox.faults.inject("logs", "throttle429", retry_after=1, after=3)
    error500 = sandbox.faults.inject("logs", "error500", after=2)  # counts once the 429 has fired

    cmd = [sys.executable, "-c", "from azsqlctl.cli.app import main; main()", "logs", "--follow", "-o", "json",
           "--since", "5m", "--interval", "200ms", "--overlap", "500ms", "--late-bound", "2s"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **client_env})
    states = [5, 8, 133, 102, 18, 38]
    try:

        def feed() -> None:
            for i in range(30):
                late = i % 5 == 4  # every fifth row happened half a second before the ones already sent
                when = time.time() - (0.5 if late else 0.0)
                sandbox.store.audit.append(
                    LoginEvent(when, False, f"user{i % 3}", "appdb", "203.0.113.7", "app", "host", error=18456, severity=14,
                               state=states[i % len(states)], message="Login failed.")
                )  # fmt: skip
                time.sleep(0.06)

        feeder = threading.Thread(target=feed)
        feeder.start()
        feeder.join()
        sandbox.store.audit.flush()
        time.sleep(0.8)  # every row is past its ingestion time (0.2 + 0.5 s)
        deadline = time.time() + 15
        while not error500.hits and time.time() < deadline:
            time.sleep(0.05)
        polls = len(service.log.queries)
        while len(service.log.queries) < polls + 2 and time.time() < deadline:  # two more polls saw every row
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    lines = [json.loads(line) for line in out.splitlines()]
    events = [e for e in lines if e["type"] == "event"]
    stored = sandbox.store.audit.rows()
    assert sorted(e["item_id"] for e in events) == sorted(r["_ItemId"] for r in stored)  # every row exactly once
    assert len({e["item_id"] for e in events}) == len(events) == 30
    keys = [(e["event_time"], e["item_id"]) for e in events]
    assert keys == sorted(keys)  # event-time order despite out-of-order arrival
    assert not any(e.get("late") for e in events)
    stopped = lines[-1]
    assert stopped["type"] == "stopped" and stopped["events"] == 30 and stopped["duplicates"] > 0
    assert sum(stopped["by_cause"].values()) == 30
    assert "Log Analytics answered 429" in err and "retrying in 1.0s" in err  # Retry-After honoured
    assert "Log Analytics answered 500" in err
    assert "Stopped: 30 event(s)" in err
    assert service.log.queries and all("ingestion_time() >=" in q for q in service.log.queries)
