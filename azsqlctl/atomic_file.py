"""Write a file atomically: a temp file of our own in the same directory, then rename over the target.

A reader never sees half a file, and two writers racing on the same path (two sandboxes sharing a
state file, a scaffold run interrupted) never share a temp name. The mode is the caller's choice:
``keep`` keeps an existing file's mode (else 0644); a secret passes 0o600, which the temp file has
from creation, so the content is never readable by others even for a moment.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

KEEP = -1  # mode: keep the existing file's mode (0644 for a new file)


def write_atomic(path: Path, content: str | bytes, mode: int = KEEP, *, fsync: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == KEEP:
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    data = content.encode("utf-8") if isinstance(content, str) else content
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # created 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            if fsync:
                out.flush()
                os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
