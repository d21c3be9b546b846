"""atomic_file's pending-temp registry, as the signal handlers use it on the way out."""

from __future__ import annotations

import threading
from pathlib import Path

from azsqlctl import atomic_file


def test_abandon_pending_from_inside_the_lock_does_not_deadlock(tmp_path: Path) -> None:
    """A SIGTERM landing while the main thread is inside abandon_pending()/a write runs the quiet-exit handler,
    which calls abandon_pending() again in that thread: it must return (the CI hang this guards was a process
    that never exited after its signal)."""
    finished = threading.Event()

    def handler_inside_critical_section() -> None:
        with atomic_file._lock:  # where the main thread is when the signal lands
            atomic_file.abandon_pending()  # what the handler then does, in the same thread
        finished.set()

    try:
        worker = threading.Thread(target=handler_inside_critical_section, daemon=True)
        worker.start()
        assert finished.wait(5), "abandon_pending() blocked on a lock its own thread holds"
    finally:
        atomic_file._closed["flag"] = False  # this process goes on (the test run): reopen the registry


def test_abandon_pending_removes_registered_temp_files_and_refuses_new_ones(tmp_path: Path) -> None:
    leftover = tmp_path / ".x.azsqlctl-tmp.1.ab"
    leftover.write_bytes(b"half")
    with atomic_file._lock:
        atomic_file._pending.add(str(leftover))
    try:
        assert atomic_file.abandon_pending() == [str(leftover)]
        assert not leftover.exists()
        try:
            atomic_file._write_temp(tmp_path / "new.txt", b"data", atomic_file.SECRET, fsync=False)
        except KeyboardInterrupt:
            pass
        else:
            raise AssertionError("a write was started after the process began leaving")
        assert list(tmp_path.iterdir()) == []
    finally:
        atomic_file._closed["flag"] = False
