"""Write a file atomically: a temp file of our own in the same directory, then rename over the target.

A reader never sees half a file, and two writers racing on the same path (two sandboxes sharing a
state file, a scaffold run interrupted) never share a temp name. The mode is the caller's choice:
``keep`` keeps an existing file's mode (else 0644); a secret passes 0o600, which the temp file is
created with (``O_CREAT | O_EXCL``, whatever the umask), so the content is never readable by others
even for a moment - no chmod afterwards.

Temp files are named ``.NAME.azsqlctl-tmp.PID.RANDOM``: recognisably ours, and with the writer's
pid, so a later run can tell a stale one (its writer is gone) from a live one. Every exit path
removes them: an exception (Ctrl-C included) unlinks its own, and a process that leaves with
``os._exit`` while a worker thread is mid-write calls ``abandon_pending()`` first.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from pathlib import Path

KEEP = -1  # mode: keep the existing file's mode (0644 for a new file)
SECRET = 0o600  # keys, tokens, the sandbox's state and audit trail
PRIVATE_DIR = 0o700
TEMP_MARK = ".azsqlctl-tmp."

# Re-entrant: the quiet-exit signal handler (azsqlctl.__init__._leave) calls abandon_pending() in the main
# thread, possibly while that same thread is inside one of these `with _lock:` blocks (`_hard_exit` after a
# command, a write in the main thread); a plain Lock would deadlock the process there, on its way out.
_lock = threading.RLock()
_pending: set[str] = set()  # temp files being written by this process
_closed = {"flag": False}  # set by abandon_pending: the process is leaving, nothing new is created


def temp_name(path: Path) -> Path:
    return path.parent / f".{path.name}{TEMP_MARK}{os.getpid()}.{secrets.token_hex(4)}"


def _write_temp(path: Path, data: bytes, mode: int, fsync: bool) -> str:
    """A complete temp file beside ``path`` (registered as pending until the caller unregisters it)."""
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = str(temp_name(path))
    with _lock:
        if _closed["flag"]:
            raise KeyboardInterrupt  # the process is leaving: write nothing half-way
        # Never readable by others: created 0600 (the umask can only narrow it), widened below only if asked.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), SECRET)
        _pending.add(tmp)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            if fsync:
                out.flush()
                os.fsync(out.fileno())
            if mode != SECRET:
                os.fchmod(out.fileno(), mode)
    except BaseException:
        _drop(tmp)
        raise
    return tmp


def _drop(tmp: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(tmp)
    with _lock:
        _pending.discard(tmp)


def write_atomic(path: Path, content: str | bytes, mode: int = KEEP, *, fsync: bool = False) -> None:
    if mode == KEEP:
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    tmp = _write_temp(path, content.encode("utf-8") if isinstance(content, str) else content, mode, fsync)
    try:
        os.replace(tmp, path)
    finally:
        _drop(tmp)  # gone after the rename; still there if the rename failed or was interrupted


def create_secret(path: Path, content: bytes) -> bool:
    """Create ``path`` 0600 with ``content`` unless it exists (then False): for keys two processes may race to create.

    The content is complete before the file gets its name (a hard link of the temp file, which fails
    if the name exists), so a reader never sees an empty or half-written key.
    """
    tmp = _write_temp(path, content, SECRET, fsync=False)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        _drop(tmp)
    return True


def private_dir(path: Path, *, tighten: bool) -> None:
    """Make ``path`` a directory only its owner can enter: created 0700; an existing one narrowed with ``tighten``."""
    if not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, PRIVATE_DIR)
        os.chmod(path, PRIVATE_DIR)  # mkdir's mode is narrowed by the umask, never widened: exact 0700 either way
    elif tighten and path.stat().st_mode & 0o077:
        os.chmod(path, path.stat().st_mode & 0o700)


def abandon_pending() -> list[str]:
    """Remove the temp files this process is writing and refuse new ones (called just before ``os._exit``)."""
    with _lock:
        _closed["flag"] = True
        leftovers = sorted(_pending)
        _pending.clear()
    for tmp in leftovers:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return leftovers


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: not ours to judge
    return True


def stale_temp_files(path: Path) -> list[Path]:
    """Temp files of earlier writes to ``path`` whose writer is gone (interrupted, killed): safe to remove."""
    prefix = f".{path.name}{TEMP_MARK}"
    try:
        names = os.listdir(path.parent)
    except OSError:
        return []
    out = []
    for name in sorted(names):
        if not name.startswith(prefix):
            continue
        pid_text = name[len(prefix) :].split(".", 1)[0]
        if pid_text.isdigit() and not _pid_alive(int(pid_text)):
            out.append(path.parent / name)
    return out


def remove_stale_temp_files(paths: list[Path]) -> list[Path]:
    """Remove the stale temp files of these targets; returns those removed."""
    removed = []
    for path in paths:
        for stale in stale_temp_files(path):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
                removed.append(stale)
    return removed
