"""One compact log line for a bug in the sandbox, never a traceback on the user's stderr.

The sandbox runs in users' CI beside the code under test: a client can send it anything, and what
it cannot handle is answered as Azure answers its own failures (TDS 40197, HTTP 500) and logged
once here, with the session or request it happened in and where, so a report can name it.
"""

from __future__ import annotations

import logging
import os
import traceback
import zlib


def log_internal(log: logging.Logger, where: str, exc: BaseException) -> int:
    """Log ``exc`` once at ERROR as one line; return a short code (also in the line) to put in the answer."""
    frames = traceback.extract_tb(exc.__traceback__)
    at = f"{os.path.basename(frames[-1].filename)}:{frames[-1].lineno} in {frames[-1].name}" if frames else "?"
    kind = type(exc).__name__
    code = zlib.crc32(f"{kind}@{at}".encode()) % 100_000  # the same bug gets the same code
    # Not the message: it may quote the client's SQL or token, which are never logged.
    log.error("%s: internal error %d: %s at %s", where, code, kind, at)
    return code
