"""`azsqlctl logs` benchmarks (`python -m bench follow summary`), through the real azure-monitor-query client
against the sandbox's Log Analytics endpoint over HTTPS.

follow: --follow at 1,000 events/minute with late rows (10% of events happened up to a minute before they
were sent, and ingestion adds up to 30 s of jitter, so rows arrive out of order). Time is compressed
(--follow-speedup, default 60x: one simulated minute per real second) by scaling the interval, overlap,
late bound, ingestion delay and event rate together. Figures: rows downloaded per row printed (goal
<= 1.2 including the overlap) and queries per simulated minute, at the CLI defaults (interval 30s,
overlap 5s, late bound 15m).

summary: 100,000 audit rows; `--summary` (one summarize query in Kusto) vs the plain listing of the
same window: bytes downloaded (goal <= 1/100) and wall time.
"""

from __future__ import annotations

import os
import random
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

_STATES = [5, 8, 133, 102, 18, 38, 5, 8]


def _sandbox(tmp: Path) -> Any:
    from azsqlctl.sandbox.monitor.audit import Retention
    from azsqlctl.sandbox.serve import Sandbox

    return Sandbox(tmp / "state.json", material_dir=tmp / "material", audit_retention=Retention(rows=200_000, days=None))


def _client_env(sb: Any) -> None:
    for key in list(os.environ):
        if key.startswith(("AZURE_", "IDENTITY_", "MSI_", "IMDS_", "AZSQLCTL_")):
            del os.environ[key]
    os.environ.update(sb.env)


def _ports() -> tuple[Any, Any]:
    from azsqlctl.azure.credentials import get_credential
    from azsqlctl.azure.monitor import MonitorLogsQuery
    from azsqlctl.core.logs.ports import LogsTarget
    from azsqlctl.core.settings import SettingsInput, resolve_settings

    settings = resolve_settings(SettingsInput(), os.environ, Path.cwd())
    credential = get_credential(settings.auth, settings.client_id, settings.cloud, settings.tenant_id)
    return MonitorLogsQuery(credential, settings.cloud), LogsTarget(workspace_id=os.environ["AZSQLCTL_LOGS_WORKSPACE"])


def _event(when: float, i: int) -> Any:
    from azsqlctl.sandbox.monitor.audit import LoginEvent

    return LoginEvent(when, False, f"user{i % 50}", "appdb", f"203.0.113.{i % 200}", "bench", "host", error=18456, severity=14,
                      state=_STATES[i % len(_STATES)], message="Login failed.")  # fmt: skip


def bench_follow(minutes: float = 5.0, per_minute: int = 1000, speedup: float = 60.0) -> None:
    from azsqlctl.core.logs.follow import FollowSettings
    from azsqlctl.core.logs.kql import LogsRequest
    from azsqlctl.core.logs.runner import follow
    from azsqlctl.sandbox.surfaces import LogsSurface

    k = 1.0 / speedup  # real seconds per simulated second
    settings = FollowSettings(timedelta(seconds=30 * k), timedelta(seconds=5 * k), timedelta(minutes=15 * k))
    with tempfile.TemporaryDirectory() as tmp, _sandbox(Path(tmp)) as sb:
        _client_env(sb)
        service = sb.surface(LogsSurface).service
        service.ingestion.delay, service.ingestion.jitter = 10 * k, 30 * k  # Azure: minutes; compressed here
        port, target = _ports()
        stop = threading.Event()
        sent = [0]

        def produce() -> None:
            rng = random.Random(7)
            begin = time.time()
            end = begin + minutes * 60 * k
            i = 0
            while time.time() < end:
                due = int((time.time() - begin) / (60 * k) * per_minute)  # events owed by now, sent in small bursts
                while i < due:
                    late = rng.random() < 0.1
                    sb.store.audit.append(_event(time.time() - (rng.random() * 60 * k if late else 0.0), i))
                    i += 1
                time.sleep(0.01)
            sent[0] = i

        producer = threading.Thread(target=produce)
        printed = [0]
        start = datetime.now(UTC)
        producer.start()
        drain_until = [0.0]

        def should_stop() -> bool:
            if producer.is_alive():
                return False
            if not drain_until[0]:  # let the last rows be ingested and pass the watermark
                drain_until[0] = time.time() + (10 + 30) * k + settings.interval.total_seconds() * 2
            return time.time() > drain_until[0]

        before_rows = service.log.rows_returned
        report = follow(
            port, target, LogsRequest(since=start - timedelta(minutes=2)), settings,
            should_stop=should_stop, wait=stop.wait, on_event=lambda _e: printed.__setitem__(0, printed[0] + 1),
            on_retry=lambda *_a: None,
        )  # fmt: skip
        downloaded = service.log.rows_returned - before_rows
        simulated_minutes = (datetime.now(UTC) - start).total_seconds() / (60 * k)
        print(
            f"follow: {per_minute} events/min for {minutes:g} simulated min ({speedup:g}x), 10% late by up to 1 min, 30 s ingestion jitter"
        )
        print(f"  sent {sent[0]}, printed {printed[0]} (late-flagged {report.late}), downloaded {downloaded} rows in {report.polls} polls")
        print(f"  rows downloaded per row printed: {downloaded / max(printed[0], 1):.3f} (goal <= 1.2)")
        print(f"  queries per minute: {report.polls / simulated_minutes:.1f} (interval 30s -> 2.0)")
        assert printed[0] == sent[0], "every row once"


def bench_summary(rows: int = 100_000) -> None:
    from azsqlctl.core.logs.kql import DEFAULT_SUMMARY_KEYS, LogsRequest
    from azsqlctl.core.logs.runner import list_events, summarize
    from azsqlctl.sandbox.surfaces import LogsSurface

    with tempfile.TemporaryDirectory() as tmp, _sandbox(Path(tmp)) as sb:
        _client_env(sb)
        service = sb.surface(LogsSurface).service
        service.ingestion.delay = 0.0
        now = time.time()
        for i in range(rows):
            sb.store.audit.append(_event(now - 1800 + i * (1700 / rows), i))
        sb.store.audit.flush(timeout=120)
        port, target = _ports()
        request = LogsRequest(since=datetime.now(UTC) - timedelta(hours=1))

        b0, t0 = service.log.bytes_returned, time.perf_counter()
        listed = list_events(port, target, request)
        list_bytes, list_wall = service.log.bytes_returned - b0, time.perf_counter() - t0

        b0, r0, t0 = service.log.bytes_returned, service.log.rows_returned, time.perf_counter()
        summary = summarize(port, target, LogsRequest(since=request.since, summary_by=DEFAULT_SUMMARY_KEYS))
        sum_bytes, sum_rows, sum_wall = service.log.bytes_returned - b0, service.log.rows_returned - r0, time.perf_counter() - t0
        print(f"summary: {rows} audit rows in the window; the listing returned {len(listed.events)} events")
        print(f"  --summary: 1 query, {len(summary.groups)} groups ({sum_rows} rows downloaded), by principal, client_ip, error, state")
        print(
            f"  bytes downloaded: listing {list_bytes:,}, summary {sum_bytes:,} -> ratio 1/{list_bytes / max(sum_bytes, 1):,.0f} (goal <= 1/100)"
        )
        print(f"  wall: listing {list_wall:.2f} s, summary {sum_wall:.2f} s -> {sum_wall / list_wall:.2f}x")
