"""Fault injection shared by the sandbox's endpoints.

A fault is armed for a surface ("token", "tds", "arm", "dns") with a kind and a count;
each request that meets it consumes one. Faults are a test tool, not state:
tests and benchmarks arm them through the in-process Sandbox object. Which kinds a
surface accepts is declared by the surface itself (``surfaces.py``).

Injected delays sleep through :meth:`Faults.sleep`, which :meth:`Faults.release` cuts
short when the sandbox stops, so a stalled request never holds up shutdown.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field


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
    def __init__(self, kinds: Mapping[str, Collection[str]]) -> None:
        self.kinds = {surface: frozenset(k) for surface, k in kinds.items()}
        self._lock = threading.Lock()
        self._armed: list[Fault] = []
        self._released = threading.Event()

    def sleep(self, seconds: float) -> None:
        """An injected delay; returns early once the sandbox is stopping."""
        self._released.wait(seconds)

    def release(self) -> None:
        """Wake every injected delay now (the sandbox is stopping)."""
        self._released.set()

    def rearm(self) -> None:
        self._released.clear()

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
        if kind not in self.kinds.get(surface, frozenset()):
            raise ValueError(f"unknown fault {surface}/{kind}; known: {sorted(self.kinds.get(surface, frozenset()))}")
        fault = Fault(surface, kind, count, delay, retry_after, number, after, database=database)
        with self._lock:
            self._armed.append(fault)
        return fault

    def take(self, surface: str, kinds: set[str], database: str = "") -> Fault | None:
        """Consume one armed fault of ``surface`` whose kind is in ``kinds`` (and whose database, if any, is ``database``)."""
        if not self._armed:  # every request asks: no lock while nothing is armed (one armed meanwhile counts from the next)
            return None
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
