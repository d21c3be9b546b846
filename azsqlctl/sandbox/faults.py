"""Fault injection shared by the sandbox's endpoints.

A fault is armed for a surface ("token", "tds", "arm") with a kind and a count;
each request that meets it consumes one. Faults are a test tool, not state:
tests and benchmarks arm them through the in-process Sandbox object.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

KINDS = {
    "token": {"error500", "throttle429", "delay", "opaque", "expired"},
    "tds": {"drop_handshake", "stall", "unavailable", "delay", "drop_request", "login_error", "accept_delay"},
    "arm": {"delay", "error500"},
    "dns": {"delay", "nxdomain", "servfail"},
}


@dataclass
class Fault:
    surface: str
    kind: str
    remaining: int | None = 1  # None = until cleared
    delay: float = 0.0  # seconds, for delay/stall
    retry_after: int = 1  # for throttle429
    number: int = 0  # for tds/login_error: 40613, 40197 or 40501
    after: int = 0  # let this many matching requests through before the fault fires
    hits: int = field(default=0)
    database: str = ""  # tds login faults: only logins to this database ("" = any)


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[Fault] = []

    def inject(
        self,
        surface: str,
        kind: str,
        count: int | None = 1,
        *,
        delay: float = 0.0,
        retry_after: int = 1,
        number: int = 0,
        after: int = 0,
        database: str = "",
    ) -> Fault:
        if kind not in KINDS.get(surface, set()):
            raise ValueError(f"unknown fault {surface}/{kind}; known: {sorted(KINDS.get(surface, set()))}")
        fault = Fault(surface, kind, count, delay, retry_after, number, after, database=database)
        with self._lock:
            self._armed.append(fault)
        return fault

    def take(self, surface: str, kinds: set[str], database: str = "") -> Fault | None:
        """Consume one armed fault of ``surface`` whose kind is in ``kinds`` (and whose database, if any, is ``database``)."""
        with self._lock:
            for fault in self._armed:
                if fault.database and fault.database.lower() != database.lower():
                    continue
                if fault.surface == surface and fault.kind in kinds:
                    if fault.after > 0:
                        fault.after -= 1
                        return None
                    fault.hits += 1
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            self._armed.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()
