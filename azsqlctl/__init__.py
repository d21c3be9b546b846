"""azsqlctl: passwordless (Entra ID) access to Azure SQL Database."""

import os as _os
import signal as _signal
import sys as _sys

__version__ = "0.1.0"


def _leave(signum: int, _frame: object) -> None:
    """Before the command's own handling is in place: leave quietly, 128 + the signal, as a shell reports it."""
    try:
        # Imported only if a write may be under way (and maybe still importing: then it has nothing pending).
        abandon = getattr(_sys.modules.get("azsqlctl.atomic_file"), "abandon_pending", None)
        if abandon is not None:
            abandon()
    finally:
        _os._exit(128 + signum)


def exit_quietly_on_signals() -> None:
    """SIGINT/SIGTERM end the process with 130/143 and no KeyboardInterrupt traceback (the runner and the
    commands that handle signals themselves install their own handlers later)."""
    _signal.signal(_signal.SIGINT, _leave)
    _signal.signal(_signal.SIGTERM, _leave)


# Run as a program (`python -m azsqlctl`: argv[0] is "-m" while runpy imports this package; the console
# script: argv[0] is its path), the handlers go in here, before runpy finds __main__ and before any import.
# Imported as a library (tests, the pytest plugin, a user's app) nothing is touched.
if _sys.argv[:1] == ["-m"] or _os.path.basename(_sys.argv[0] if _sys.argv else "") == "azsqlctl":
    exit_quietly_on_signals()
