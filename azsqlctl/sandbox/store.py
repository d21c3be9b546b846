"""Thread-safe access to the sandbox state, persisted to its file after every change.

Every endpoint thread goes through one store. A change made by another process
(a second `sandbox serve`, or a test editing the file) is picked up on the next
read because the store reloads when the file's mtime moves. A file broken on disk
(half-edited, wrong type, missing key) does not take the sandbox down: it keeps
serving the last good state, logs one line per broken version, and reloads once
the file is fixed. Changes made meanwhile stay in memory; the broken file is not
overwritten, so the user's edit is not lost.

The audit trail is not part of the state: it lives in the append-only audit store
(:mod:`.audit`) beside the state file, reachable as ``store.audit``. Nor are the databases'
security states (users, roles, permissions, schemas): each lives in its database's SQLite
file (``sql/engine/storage.py``), which this store seeds once from the state's entry
(``security_seed``/``security_seeded``: old state files, the default state, scenarios).
"""

from __future__ import annotations

import copy
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from azsqlctl.core.errors import ConfigError

from . import state as st
from .monitor.audit import AuditStore, Origin, Retention, audit_path

T = TypeVar("T")
log = logging.getLogger("azsqlctl.sandbox.state")


def default_state_path() -> Path:
    """The sandbox's own state file when no --state names one (``$XDG_DATA_HOME``, else ~/.local/share)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "azsqlctl" / "sandbox" / "state.json"


def _origin(state: st.SandboxState) -> Origin:
    return Origin(state.server.name, state.server.subscription_id, state.server.resource_group)


class StateStore:
    def __init__(self, path: Path | None, initial: st.SandboxState | None = None, audit_retention: Retention | None = None) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._mtime = 0.0
        self._broken_mtime: float | None = None  # the on-disk version we could not load (logged once)
        if path is not None:
            st.check_path(path)
        if path is not None and path.exists():
            self._state = st.load(path)
            self._mtime = path.stat().st_mtime
        else:
            self._state = initial or st.default_state()
            try:
                self._save()
            except OSError as exc:
                raise ConfigError(
                    f"cannot write state file {path}: {exc.strerror or exc}",
                    "pass a --state path in a writable directory",
                    code="state_file",
                ) from None
        self.audit = AuditStore(audit_path(path) if path else None, _origin(self._state), audit_retention)

    def _save(self) -> None:
        if self.path is not None and self._broken_mtime is None:
            st.dump(self._state, self.path)
            self._mtime = self.path.stat().st_mtime

    def _refresh(self) -> None:
        if self.path is None:
            return
        try:
            mtime = self.path.stat().st_mtime
        except OSError:
            return  # removed: keep serving what we have; the next save recreates it
        if mtime == self._mtime or mtime == self._broken_mtime:
            return
        try:
            self._state = st.load(self.path)
        except ConfigError as err:
            self._broken_mtime = mtime
            log.warning("state file unusable, still serving the last good state: %s", err.message)
            return
        if self._broken_mtime is not None:
            log.warning("state file %s is valid again: reloaded", self.path)
        self._broken_mtime = None
        self._mtime = mtime

    @property
    def broken(self) -> bool:
        """True while the file on disk cannot be loaded (the last good state is served)."""
        with self._lock:
            self._refresh()
            return self._broken_mtime is not None

    def read(self, fn: Callable[[st.SandboxState], T]) -> T:
        """Run ``fn`` on a consistent view; do not keep references beyond the call."""
        with self._lock:
            self._refresh()
            return fn(self._state)

    @contextmanager
    def mutate(self) -> Iterator[st.SandboxState]:
        """Change the state in place; it is saved when the block exits without error.

        A save the disk refuses (full, read-only, directory removed) keeps the change in memory
        and logs one line; the endpoints keep answering."""
        with self._lock:
            self._refresh()
            yield self._state
            try:
                self._save()
            except OSError as exc:
                log.warning("state file %s not saved, the change is kept in memory: %s", self.path, exc.strerror or exc)

    def security_seed(self, database: str) -> st.Database | None:
        """The state's entry for ``database`` (a copy), whose security fields seed its SQLite file; None: no such database."""
        with self._lock:
            self._refresh()
            return copy.deepcopy(self._state.server.database(database))

    def security_seeded(self, database: str) -> None:
        """``database``'s SQLite file holds its security state now: the entry no longer carries it (nor the file)."""
        with self._lock:
            self._refresh()
            db = self._state.server.database(database)
            if db is None or not st.carries_security(db):
                return
            st.without_security(db)
            try:
                self._save()
            except OSError as exc:
                log.warning("state file %s not saved: %s", self.path, exc.strerror or exc)
