"""Thread-safe access to the sandbox state, persisted to its file after every change.

Every endpoint thread goes through one store. A change made by another process
(a second `sandbox serve`, or a test editing the file) is picked up on the next
read because the store reloads when the file's mtime moves.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from . import state as st

T = TypeVar("T")
AUDIT_LIMIT = 10_000  # keep the file bounded; old rows age out as Log Analytics retention would


class StateStore:
    def __init__(self, path: Path | None, initial: st.SandboxState | None = None) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._mtime = 0.0
        if path is not None and path.exists():
            self._state = st.load(path)
            self._mtime = path.stat().st_mtime
        else:
            self._state = initial or st.default_state()
            self._save()

    def _save(self) -> None:
        if self.path is not None:
            st.dump(self._state, self.path)
            self._mtime = self.path.stat().st_mtime

    def _refresh(self) -> None:
        if self.path is not None and self.path.exists():
            mtime = self.path.stat().st_mtime
            if mtime != self._mtime:
                self._state = st.load(self.path)
                self._mtime = mtime

    def read(self, fn: Callable[[st.SandboxState], T]) -> T:
        """Run ``fn`` on a consistent view; do not keep references beyond the call."""
        with self._lock:
            self._refresh()
            return fn(self._state)

    @contextmanager
    def mutate(self) -> Iterator[st.SandboxState]:
        """Change the state in place; it is saved when the block exits without error."""
        with self._lock:
            self._refresh()
            yield self._state
            self._save()

    def record_failure(self, failure: st.LoginFailure) -> None:
        with self.mutate() as state:
            state.audit.append(failure)
            del state.audit[:-AUDIT_LIMIT]
